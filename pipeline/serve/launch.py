"""Start ``python -m pipeline.serve`` as a child process and wait until it is ready (for tests and benchmarks).

    with serve_process(["--db", "runs/c.sqlite3"], port=free_port()) as server:
        requests go to server.url

The child's output goes to ``log_path`` (or is discarded); leaving the block stops it (SIGTERM, then SIGKILL).
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from pipeline.errors import PipelineError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    url: str

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        self.process.kill()
        self.process.wait(timeout=30)


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PipelineError(f"The server exited with status {process.returncode} before it was ready; its log says why.")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
                if json.load(response).get("status") == "ready":
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            pass
        time.sleep(0.2)
    raise PipelineError(f"The server at {url} was not ready after {timeout:.0f} s; its log says why.")


def start_server(args: Sequence[str], port: int, log_path: str | Path | None = None, env: dict | None = None,
                 timeout: float = 120.0) -> Server:
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    process = subprocess.Popen([sys.executable, "-m", "pipeline.serve", "--port", str(port), *args],
                               stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, timeout)
    except BaseException:
        process.kill()
        raise
    return Server(process, url)


@contextlib.contextmanager
def serve_process(args: Sequence[str], port: int | None = None, **kwargs) -> Iterator[Server]:
    server = start_server(args, port or free_port(), **kwargs)
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.process.terminate()
            try:
                server.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
