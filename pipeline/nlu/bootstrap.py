"""The default intent model: found in the user cache, or trained once on first use.

``nlu.model: auto`` (the default) means ``$SUPPORT_CACHE_DIR/intent-bitext-kb-bootstrap-<key>``
(else ``~/.cache/support-assistant/intent-bitext-kb-bootstrap-<key>``), where ``<key>``
hashes the recipe and the content of the in-domain examples file, so that editing
either trains a fresh model instead of reusing a stale one. When that folder
does not exist, the first ``python -m pipeline.respond`` call trains it with the
bootstrap recipe below, in a subprocess (runtime code never imports
``training``), showing the training progress bar, then later calls load it.

The bootstrap recipe is chosen to finish in about 3 minutes on a 2-core CPU: a
per-intent sample of the Bitext training split and short messages, plus the
hand-written in-domain examples of ``knowledge_base/intent_examples.yaml``
(twice), which teach the store's long-tail topics that Bitext's templates lack.
The full recipe stays a documented command::

    python -m training.finetune_intent --config configs/intent/bitext.yaml
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

from pipeline.errors import ModelLoadError
from pipeline.utils import cache_root

logger = logging.getLogger(__name__)

BOOTSTRAP_NAME = "intent-bitext-kb-bootstrap"  # the cache folder is this name plus recipe_key()
INTENT_EXAMPLES = Path(__file__).resolve().parents[2] / "knowledge_base" / "intent_examples.yaml"
BOOTSTRAP_RECIPE: dict[str, str] = {
    "--data": "bitext",
    "--base-model": "default",
    "--max-per-label": "60",
    "--extra-train": str(INTENT_EXAMPLES),
    "--extra-train-repeat": "2",
    "--epochs": "2",
    "--lr": "2e-4",
    "--batch-size": "16",
    "--max-length": "32",
    "--patience": "2",
    "--seed": "42",
    "--oos-k": "1",  # the nearest-neighbour out-of-scope rule (pipeline.nlu.oos): a model cached without it is retrained
    # keep 99% of known messages: at 0.95 the rule sent 4.3% of the Bitext test to a clarification (0.8% without it),
    # while the confidence threshold alone already rejects 90% of simulated out-of-scope validation messages
    "--oos-keep": "0.99",
}
FULL_RECIPE = "python -m training.finetune_intent --config configs/intent/bitext.yaml"


def recipe_key() -> str:
    """10 hex digits of a hash of the recipe and of the examples file's bytes (a missing file hashes as empty)."""
    examples = INTENT_EXAMPLES.read_bytes() if INTENT_EXAMPLES.is_file() else b""
    recipe = {k: v for k, v in BOOTSTRAP_RECIPE.items() if k != "--extra-train"}
    payload = json.dumps(recipe, sort_keys=True).encode() + hashlib.sha256(examples).digest()
    return hashlib.sha256(payload).hexdigest()[:10]


def default_intent_model_dir() -> Path:
    return cache_root() / f"{BOOTSTRAP_NAME}-{recipe_key()}"


def ensure_default_intent_model(progress: bool = False) -> Path:
    """Return the cached default intent model, training it first if it is missing."""
    target = default_intent_model_dir()
    if (target / "config.json").is_file():
        _ensure_export(target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second process waits for the first one's model
        if (target / "config.json").is_file():
            return target
        recipe = " ".join(f"{k} {v}" for k, v in BOOTSTRAP_RECIPE.items())
        print(
            f"No trained intent model yet: training the default one on the Bitext data, once (~3 minutes on 2 cores; "
            f"bootstrap recipe: {recipe}). It is cached in {target}. Full recipe: {FULL_RECIPE}",
            file=sys.stderr, flush=True,
        )
        checkpoint = target.with_name(target.name + ".checkpoint")
        resume = ["--resume"] if checkpoint.is_dir() and any(checkpoint.iterdir()) else []  # an interrupted first run
        cmd = [sys.executable, "-m", "training.finetune_intent", *[a for kv in BOOTSTRAP_RECIPE.items() for a in kv],
               "--output-dir", str(target), *resume, "--quiet"]
        cmd.append("--progress" if progress else "--no-progress")
        last_line = _run_relaying_stderr(cmd)
        if last_line is not None:
            raise ModelLoadError(
                f"Could not train the default intent model ({last_line.removeprefix('error: ')}). "
                "Pass a trained model folder with --intent-model DIR, or fix the problem and retry."
            )
    return target


def _ensure_export(target: Path) -> None:
    """A model cached before the ONNX runtime existed is exported once (training exports new ones itself)."""
    from pipeline.onnx_runtime import ONNX_DIR, export_available

    if (target / ONNX_DIR).is_dir() or not export_available():
        return
    from pipeline.export import try_export_intent_model

    logger.info("Exporting the default intent model to ONNX, once (%s)", target / ONNX_DIR)
    try_export_intent_model(target, str(target))


def _run_relaying_stderr(cmd: list[str]) -> str | None:
    """Run ``cmd``, copying its stderr (progress bar) through; on failure return its last line."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    tail = b""
    echo = ErrorLineFilter()
    while chunk := proc.stderr.read1(4096):
        tail = (tail + chunk)[-4096:]
        _write_stderr(echo.feed(chunk))
    _write_stderr(echo.flush())
    if proc.wait() == 0:
        return None
    lines = [ln for ln in tail.decode("utf-8", "replace").replace("\r", "\n").splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit status {proc.returncode}"


def _write_stderr(data: bytes) -> None:
    if data:
        sys.stderr.buffer.write(data)
        sys.stderr.flush()


_LINE_END = re.compile(rb"[\r\n]")


class ErrorLineFilter:
    """Pass a child's stderr through, minus its ``error: ...`` lines (the caller folds the last one into its own error).

    Lines end at ``\n`` or at ``\r`` (a progress bar redraws itself after ``\r``). The stream arrives in chunks
    that can end anywhere, even inside ``error: ``, so an unfinished line that could still become an error line is
    held back until enough of it has arrived to tell.
    """

    MARK = b"error: "

    def __init__(self) -> None:
        self._held = b""
        self._line_start = True
        self._dropping = False

    def feed(self, chunk: bytes) -> bytes:
        data, self._held = self._held + chunk, b""
        out = bytearray()
        i = 0
        while i < len(data):
            if self._line_start:
                head = data[i:i + len(self.MARK)]
                if len(head) < len(self.MARK) and self.MARK.startswith(head):
                    self._held = data[i:]  # "err" might be the start of "error: ": wait for more
                    break
                self._dropping = head == self.MARK
            end = _LINE_END.search(data, i)
            stop = end.end() if end else len(data)
            if not self._dropping:
                out += data[i:stop]
            self._line_start = end is not None
            i = stop
        return bytes(out)

    def flush(self) -> bytes:
        """What is still held at the end of the stream (a short line that never became ``error: ``)."""
        held, self._held = self._held, b""
        return held
