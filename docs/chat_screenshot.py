"""Make docs/chat.png: the chat page of a real server with the cached bootstrap model, in headless Chromium.

    python docs/chat_screenshot.py            # needs Debian's chromium and chromium-driver (and selenium)

Starts ``python -m pipeline.serve`` on a free port with a throw-away conversation store, holds a short
conversation through the page (a question with an order number, a follow-up, a request for a person) and saves
the window as ``docs/chat.png``.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MESSAGES = ("Where is my order 4471-22? It was due on Monday.", "and how long does a refund take?",
            "can I talk to a person please")


def main() -> int:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from pipeline.serve.launch import serve_process

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        print("error: install Debian's chromium and chromium-driver first (apt-get install chromium chromium-driver)", file=sys.stderr)
        return 2
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=760,860"):
        options.add_argument(flag)
    with tempfile.TemporaryDirectory() as tmp, serve_process(["--db", str(Path(tmp) / "conv.sqlite3")],
                                                               log_path=Path(tmp) / "server.log") as server:
        browser = webdriver.Chrome(service=Service(driver), options=options)
        try:
            browser.get(server.url + "/")
            WebDriverWait(browser, 60).until(lambda b: b.find_elements(By.ID, "text"))
            for n, text in enumerate(MESSAGES, 1):
                browser.find_element(By.ID, "text").send_keys(text)
                browser.find_element(By.ID, "send").click()
                WebDriverWait(browser, 60).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".msg.bot")) >= n)
            browser.save_screenshot(str(ROOT / "docs" / "chat.png"))
        finally:
            browser.quit()
    print(f"wrote {ROOT / 'docs' / 'chat.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
