"""The server as a real process: turns survive ``kill -9``, and the chat page works in headless Chromium.

Marked ``integration`` (tens of seconds each): the local default run skips them, ``.ci/run`` runs them
(it installs Debian's chromium and chromium-driver first). The screenshot goes to ``runs/browser/chat.png``.
"""
from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

import pytest

from pipeline.serve.launch import free_port, serve_process, start_server
from tests.tiny_models import make_tiny_intent_model

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]
INTENTS = ["get_refund", "track_order", "recover_password", "contact_human_agent"]


def call(url: str, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def server_args(tmp_path_factory) -> list[str]:
    model = make_tiny_intent_model(tmp_path_factory.mktemp("intent") / "tiny", INTENTS)
    return ["--intent-model", str(model)]


def test_turns_survive_kill_9_and_the_conversation_continues(server_args, tmp_path):
    db, port = tmp_path / "conv.sqlite3", free_port()
    server = start_server([*server_args, "--db", str(db)], port, log_path=tmp_path / "server.log")
    try:
        cid = call(server.url + "/v1/conversations", "POST")["conversation_id"]
        answered = [call(f"{server.url}/v1/conversations/{cid}/messages", "POST", {"text": text})["turn"]
                    for text in ("I want a refund for order 4471-22", "where is my parcel", "reset my password")]
    finally:
        server.kill()
    assert answered == [1, 2, 3]
    with serve_process([*server_args, "--db", str(db)], port, log_path=tmp_path / "server.log") as again:
        state = call(f"{again.url}/v1/conversations/{cid}")
        assert [t["context"]["number"] for t in state["turns"]] == [1, 2, 3] and state["turn_count"] == 3
        assert call(f"{again.url}/v1/conversations/{cid}/messages", "POST", {"text": "and the refund?"})["turn"] == 4


@pytest.fixture(scope="module")
def browser():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=900,900"):
        options.add_argument(flag)
    session = webdriver.Chrome(service=Service(driver), options=options)
    yield session
    session.quit()


def test_chat_page_in_chromium(server_args, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    def send(text: str, bubbles: int) -> None:
        box = browser.find_element(By.ID, "text")
        box.send_keys(text)
        browser.find_element(By.ID, "send").click()
        WebDriverWait(browser, 30).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".msg.bot")) >= bubbles)

    with serve_process([*server_args, "--db", str(tmp_path / "conv.sqlite3")], log_path=tmp_path / "server.log") as server:
        browser.get(server.url + "/")
        WebDriverWait(browser, 30).until(ready.presence_of_element_located((By.ID, "text")))
        send("I want a refund for order 4471-22", 1)
        reply = browser.find_elements(By.CSS_SELECTOR, ".msg.bot")[0]
        assert len(reply.text) > 20
        reply.find_element(By.CSS_SELECTOR, ".why-toggle").click()
        assert reply.find_element(By.CSS_SELECTOR, ".why").text.startswith("intent: ")
        hostile = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\">"
        send(hostile, 2)
        assert browser.execute_script("return window.__pwned === undefined")
        assert hostile in [m.text for m in browser.find_elements(By.CSS_SELECTOR, ".msg.me")]
        browser.refresh()  # the conversation id is in localStorage: the history comes back from the server
        WebDriverWait(browser, 30).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".msg.me")) == 2)
        assert [m.text for m in browser.find_elements(By.CSS_SELECTOR, ".msg.me")] == ["I want a refund for order 4471-22", hostile]
        assert browser.execute_script("return window.__pwned === undefined")
        shots = ROOT / "runs" / "browser"
        shots.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(shots / "chat.png"))
