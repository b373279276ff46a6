"""The HTTP API through FastAPI's TestClient (a fake classifier, the packaged knowledge base), and the SQLite store."""
from __future__ import annotations

import sqlite3

import pytest
from fastapi.testclient import TestClient

from pipeline.assistant import load_respond_config
from pipeline.conversation import Conversation, ConversationNotFound, InMemoryStore
from pipeline.errors import DataError
from pipeline.serve.app import create_app
from pipeline.serve.store import SQLiteStore
from tests.test_respond import fake_assistant

TABLE = {"refund": ("get_refund", 0.97), "password": ("recover_password", 0.95), "parcel": ("track_order", 0.45)}


def make_client(packaged_retrieval, store=None, **serve) -> TestClient:
    config = load_respond_config(None, {"nlu": {"model": "unused"}, "serve": serve})
    app = create_app(config, assistant=fake_assistant(TABLE, config, packaged_retrieval), store=store or InMemoryStore())
    return TestClient(app)


@pytest.fixture()
def client(packaged_retrieval):
    with make_client(packaged_retrieval) as c:
        yield c


def test_a_conversation_over_http(client):
    assert client.get("/healthz").json() == {"status": "ok"} and client.get("/readyz").status_code == 200
    created = client.post("/v1/conversations")
    assert created.status_code == 201
    cid = created.json()["conversation_id"]
    first = client.post(f"/v1/conversations/{cid}/messages", json={"text": "I want a refund for order 4471-22"}).json()
    assert (first["turn"], first["intent"], first["route"], first["status"], first["fallback"]) == (1, "get_refund", "answer", "active", None)
    assert "4471-22" in first["reply"] and first["entities"][0]["text"] == "4471-22"
    assert all(set(s) == {"id", "title"} for s in first["snippets"]) and first["snippets"]
    trace = client.post(f"/v1/conversations/{cid}/messages?trace=true", json={"text": "refund please"}).json()
    assert trace["context"]["number"] == 2 and trace["context"]["entities"][0]["text"] == "4471-22"
    handoff = client.post(f"/v1/conversations/{cid}/messages", json={"text": "let me talk to a human"}).json()
    assert (handoff["route"], handoff["status"]) == ("handoff", "handed_off")
    after = client.post(f"/v1/conversations/{cid}/messages", json={"text": "refund me"}).json()
    assert (after["route"], after["status"]) == ("handed_off", "handed_off")  # not an error: the handed-off reply
    assert client.post(f"/v1/conversations/{cid}/reopen").json() == {"conversation_id": cid, "status": "active"}
    state = client.get(f"/v1/conversations/{cid}").json()
    assert state["status"] == "active" and [t["message"] for t in state["turns"]] == [
        "I want a refund for order 4471-22", "refund please", "let me talk to a human", "refund me"]
    assert client.post(f"/v1/conversations/{cid}/handoff").json()["status"] == "handed_off"


def test_stateless_batch(client):
    out = client.post("/v1/respond", json={"messages": ["I want a refund", "reset my password"]}).json()
    assert [r["intent"] for r in out["replies"]] == ["get_refund", "recover_password"]
    assert [r["conversation_id"] for r in out["replies"]] == [None, None]
    assert client.post("/v1/respond", json={"messages": []}).json()["error"]["message"] == "Send 1 to 256 messages. Got 0."


@pytest.mark.parametrize("body, status, code", [
    ({"text": "   "}, 422, "empty_message"),
    ({"text": "a" * 5001}, 422, "message_too_long"),
    ({"txt": "hi"}, 422, "invalid_request"),
    ("not json", 422, "invalid_json"),
])
def test_bad_messages_get_one_clear_json_error(client, body, status, code):
    cid = client.post("/v1/conversations").json()["conversation_id"]
    kwargs = {"content": body, "headers": {"content-type": "application/json"}} if isinstance(body, str) else {"json": body}
    response = client.post(f"/v1/conversations/{cid}/messages", **kwargs)
    assert response.status_code == status and response.json()["error"]["code"] == code
    assert "Traceback" not in response.text


def test_unknown_conversation_big_body_and_unknown_route(client):
    response = client.post("/v1/conversations/nope/messages", json={"text": "hi"})
    assert response.status_code == 404 and response.json() == {"error": {"code": "conversation_not_found", "message":
                                                               "No conversation 'nope'. Start one with POST /v1/conversations (or store.create())."}}
    assert client.get("/v1/conversations/nope").status_code == 404
    big = client.post("/v1/conversations/x/messages", content=b'{"text": "' + b"a" * 70000 + b'"}',
                      headers={"content-type": "application/json"})
    assert big.status_code == 413 and big.json()["error"]["code"] == "body_too_large"
    assert client.get("/v2/nothing").json()["error"]["code"] == "not_found"


def test_bearer_token(packaged_retrieval):
    with make_client(packaged_retrieval, token="s3cret") as c:
        assert c.post("/v1/conversations").status_code == 401
        assert c.post("/v1/conversations", headers={"Authorization": "Bearer wrong"}).json()["error"]["code"] == "unauthorized"
        assert c.post("/v1/conversations", headers={"Authorization": "Bearer s3cret"}).status_code == 201
        assert c.get("/healthz").status_code == 200  # only /v1 needs the token


def test_cors_is_off_unless_origins_are_named(packaged_retrieval, client):
    preflight = {"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in client.options("/v1/conversations", headers=preflight).headers
    with make_client(packaged_retrieval, cors_origins=["https://shop.example"]) as c:
        assert c.options("/v1/conversations", headers=preflight).headers["access-control-allow-origin"] == "https://shop.example"


def test_metrics_count_requests_fallbacks_and_handoffs(client):
    cid = client.post("/v1/conversations").json()["conversation_id"]
    client.post(f"/v1/conversations/{cid}/messages", json={"text": "where is my parcel"})
    client.post(f"/v1/conversations/{cid}/messages", json={"text": "let me talk to a human"})
    text = client.get("/metrics").text
    assert 'support_requests_total{method="POST",path="/v1/conversations/{conversation_id}/messages",status="200"} 2.0' in text
    assert 'support_fallbacks_total{reason="low_confidence"} 1.0' in text and "support_handoffs_total 1.0" in text
    assert "support_batch_messages_count 2.0" in text


def test_chat_page_and_openapi(client):
    page = client.get("/")
    assert page.status_code == 200 and "textContent" in page.text and "innerHTML" not in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing loaded from the internet
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) == {"/v1/conversations", "/v1/conversations/{conversation_id}/messages", "/v1/conversations/{conversation_id}",
                          "/v1/conversations/{conversation_id}/handoff", "/v1/conversations/{conversation_id}/reopen", "/v1/respond"}


def test_sqlite_store_round_trip_and_appends_turns(tmp_path, packaged_retrieval):
    store = SQLiteStore(tmp_path / "conv.sqlite3")
    assistant = fake_assistant(TABLE, retrieval=packaged_retrieval)
    conv = store.create()
    for text in ("I want a refund for order 4471-22", "refund please"):
        assistant.respond(conv, text)
        store.save(conv)
    again = SQLiteStore(tmp_path / "conv.sqlite3").get(conv.id)  # a second connection: what a restart would read
    assert again.to_dict() == conv.to_dict() and store.count() == (1, 2)
    assert sqlite3.connect(tmp_path / "conv.sqlite3").execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(ConversationNotFound):
        store.get("missing")


def test_sqlite_store_refuses_other_schemas_and_files(tmp_path):
    db = tmp_path / "conv.sqlite3"
    SQLiteStore(db)
    sqlite3.connect(db).execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'").connection.commit()
    with pytest.raises(DataError, match="schema version 7; this version reads 1. Upgrade support-assistant"):
        SQLiteStore(db)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DataError, match="is not a readable SQLite store"):
        SQLiteStore(junk)


def test_sqlite_store_keeps_the_last_turns(tmp_path, packaged_retrieval):
    store = SQLiteStore(tmp_path / "conv.sqlite3", max_turns=2)
    conv = Conversation()
    assistant = fake_assistant(TABLE, retrieval=packaged_retrieval)
    for text in ("refund one", "refund two", "refund three"):
        assistant.respond(conv, text)
        store.save(conv)
    got = SQLiteStore(tmp_path / "conv.sqlite3", max_turns=2).get(conv.id)  # read from disk, not the memory copy
    assert store.get(conv.id) is conv and got.turn_count == 3 and [t.message for t in got.turns] == ["refund two", "refund three"]
    assert sqlite3.connect(tmp_path / "conv.sqlite3").execute("SELECT COUNT(*) FROM turns").fetchone()[0] == 3
