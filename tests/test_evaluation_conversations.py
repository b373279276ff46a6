"""``python -m evaluation.conversations``: replay with injected state, exact metrics, faults, the set loader."""
from __future__ import annotations

import json

import pytest

from evaluation.conversations import compute_metrics, main, replay
from knowledge_base.conversation_set import load_conversation_set
from pipeline.errors import DataError
from tests.test_respond import fake_assistant

TABLE = {"refund": ("get_refund", 0.97), "password": ("recover_password", 0.95), "parcel": ("track_order", 0.45)}
SET = """
- id: c1
  part: test
  kinds: [clarification, carry_over]
  turns:
    - user: "where is my parcel 4471-22"
      vague: true
    - user: "the second one"
      pending: [track_order, get_refund]
      intent: get_refund
      entities: {order_number: "4471-22"}
- id: c2
  part: test
  kinds: [handoff, near_miss]
  turns:
    - user: "is this a bot? I want a refund"
      intent: get_refund
      handoff: false
    - user: "let me talk to a human"
      intent: contact_human_agent
      handoff: true
    - user: "refund me"
      status: handed_off
- id: c3
  part: dev
  kinds: [idle_expiry]
  turns:
    - user: "refund for order 5520-18"
      intent: get_refund
    - user: "my password"
      idle_minutes: 90
      intent: recover_password
      absent: ["5520-18"]
"""


@pytest.fixture()
def conversations(tmp_path):
    path = tmp_path / "set.yaml"
    path.write_text(SET)
    return load_conversation_set(path, known_intents={"get_refund", "track_order", "recover_password", "contact_human_agent"})


def test_replay_scores_every_turn(conversations, packaged_retrieval):
    assistant = fake_assistant(TABLE, retrieval=packaged_retrieval)
    records = [r for c in conversations for r in replay(assistant, c)]
    assert [(r["conversation"], r["turn"], r["route"], r["fault"]) for r in records] == [
        ("c1", 1, "clarify", ""), ("c1", 2, "answer", ""),
        ("c2", 1, "answer", ""), ("c2", 2, "handoff", ""), ("c2", 3, "handed_off", ""),
        ("c3", 1, "answer", ""), ("c3", 2, "answer", "")]
    metrics = compute_metrics(records)
    assert {k: metrics[k] for k in ("turn_intent_accuracy", "clarification_resolution_rate", "entity_carry_over_accuracy",
                                    "handoff_precision", "handoff_recall", "handed_off_behaviour", "turns_ok")} == {
        "turn_intent_accuracy": 1.0, "clarification_resolution_rate": 1.0, "entity_carry_over_accuracy": 1.0,
        "handoff_precision": 1.0, "handoff_recall": 1.0, "handed_off_behaviour": 1.0, "turns_ok": 1.0}
    assert (metrics["n_intent_turns"], metrics["n_clarification_answers"], metrics["n_entity_turns"]) == (5, 1, 2)


def test_faults_name_the_stage(conversations, packaged_retrieval):
    # a classifier that reads "the second one" as recover_password and knows no refunds: wrong stages show up
    assistant = fake_assistant({"second": ("recover_password", 0.99), "parcel": ("track_order", 0.45),
                                "human": ("get_refund", 0.99)}, retrieval=packaged_retrieval)
    records = {(r["conversation"], r["turn"]): r for c in conversations for r in replay(assistant, c)}
    assert records[("c1", 2)]["resolution"] == "clarification"  # its words win over the classifier
    assert records[("c2", 1)]["fault"] == "nlu: intent"
    assert records[("c2", 2)]["fault"] == ""  # the explicit request hands off whatever the intent


def test_set_loader_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- id: a\n  turns:\n    - user: hi\n      intnet: get_refund\n")
    with pytest.raises(DataError, match=r"conversation 1 \(a\) turn 1: unknown key\(s\) 'intnet'"):
        load_conversation_set(bad)
    bad.write_text("- id: a\n  turns:\n    - user: hi\n      intent: fly\n")
    with pytest.raises(DataError, match="unknown intent 'fly'"):
        load_conversation_set(bad, known_intents={"get_refund"})
    bad.write_text("- id: a\n  turns:\n    - user: hi\n      pending: [get_refund]\n")
    with pytest.raises(DataError, match="'pending' must list the two offered intents"):
        load_conversation_set(bad)


def test_packaged_set_loads_with_the_knowledge_base_intents():
    from knowledge_base.intents import INTENTS

    sets = load_conversation_set(known_intents=set(INTENTS))
    assert len(sets) >= 60 and sum(c.part == "dev" for c in sets) >= 15
    assert all(2 <= len(c.turns) <= 6 for c in sets)


def test_cli_writes_the_run_folder(tmp_path, monkeypatch, capsys, conversations, packaged_retrieval):
    assistant = fake_assistant(TABLE, retrieval=packaged_retrieval)
    monkeypatch.setattr("pipeline.assistant.build_assistant", lambda *a, **k: assistant)
    path = tmp_path / "set.yaml"
    path.write_text(SET)
    out = tmp_path / "run"
    assert main(["--set", str(path), "--part", "all", "--output-dir", str(out), "--json", "-q"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["turns"] == 7 and metrics["part"] == "all"
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "report.md", "resolved_config.json", "turns.jsonl"]
    assert main(["--set", str(path), "--output-dir", str(out)]) == 2  # not empty, no --overwrite
    assert "is not empty" in capsys.readouterr().err
