"""The ONNX answer path: encoder graphs run by ONNX Runtime, texts tokenised by ``tokenizers``; no torch, no transformers.

A model folder exported by ``python -m pipeline.export`` holds ``onnx/``::

    onnx/model.onnx          fp32 graph: input_ids, attention_mask -> embedding (pooled, normalised) [, logits]
    onnx/model_int8.onnx     the same, weights dynamically quantised to int8
    onnx/tokenizer.json      the model's tokenizer (the ``tokenizers`` library reads it directly)
    onnx/export.json         what was exported, pad id, and the parity of each graph against the torch model

Runtimes (``nlu.runtime``, ``retrieval.runtime``): ``onnx-int8``, ``onnx``, ``torch``, or ``auto``: int8 when its
parity check passed at export, else fp32, when the files exist and ``onnxruntime`` is installed; otherwise torch,
with one log line saying why (:func:`choose_runtime`). Texts are tokenised with the same truncation as the torch
path (``max_length`` tokens with the special tokens), batched by length and right-padded to the longest of the
batch. Threads follow ``SUPPORT_NUM_THREADS`` (:func:`pipeline.utils.num_threads`).
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pipeline.artifacts import read_json
from pipeline.batching import length_sorted_batches, pad_ids
from pipeline.errors import ConfigError, ModelLoadError, check_param

logger = logging.getLogger(__name__)

ONNX_DIR = "onnx"
GRAPHS = {"onnx": "model.onnx", "onnx-int8": "model_int8.onnx"}
REPORT = "export.json"
TOKENIZER = "tokenizer.json"
RUNTIMES = ("auto", "onnx-int8", "onnx", "torch")


def onnxruntime_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def export_available() -> bool:
    """Whether this environment can export (``onnx`` to write graphs, ``onnxruntime`` to check and quantise them)."""
    return onnxruntime_available() and importlib.util.find_spec("onnx") is not None


def read_report(onnx_dir: Path) -> dict[str, Any] | None:
    """``export.json`` of an exported folder, or None when the export is missing or incomplete."""
    path = onnx_dir / REPORT
    if not (path.is_file() and (onnx_dir / TOKENIZER).is_file() and (onnx_dir / GRAPHS["onnx"]).is_file()):
        return None
    try:
        return read_json(path)
    except ValueError:
        return None


def choose_runtime(requested: str, onnx_dir: Path | None, what: str, export_command: str | None = None,
                   weights: str | None = None) -> str:
    """The runtime to use for ``requested`` (see the module docstring); an explicit ONNX runtime that cannot run fails.

    ``weights`` (:func:`weights_stamp` of the model folder): an export made from other weights is stale, skipped by
    ``auto`` and refused by an explicit ONNX runtime.
    """
    check_param(what, "runtime", requested, requested in RUNTIMES, "one of " + ", ".join(repr(r) for r in RUNTIMES))
    if requested == "torch":
        return "torch"
    report = read_report(onnx_dir) if onnx_dir is not None else None
    export_command = export_command or f"python -m pipeline.export --model {onnx_dir.parent if onnx_dir else 'DIR'}"
    if report is not None and weights is not None and report.get("weights") not in (None, weights):
        if requested == "auto":
            logger.info("%s: torch runtime (the ONNX export in %s is older than the weights; run %s).", what, onnx_dir,
                        export_command)
            return "torch"
        raise ModelLoadError(f"The ONNX export in {onnx_dir} was made from other weights. Run '{export_command}' again, "
                             "or set the runtime to 'torch'.")
    if requested == "auto":
        if not onnxruntime_available():
            logger.info("%s: torch runtime (onnxruntime is not installed; pip install onnxruntime for the faster path).", what)
            return "torch"
        if report is None:
            logger.info("%s: torch runtime (no ONNX export in %s; run %s).", what, onnx_dir, export_command)
            return "torch"
        int8 = report.get("int8_ok") and (onnx_dir / GRAPHS["onnx-int8"]).is_file()
        return "onnx-int8" if int8 else "onnx"
    if not onnxruntime_available():
        raise ConfigError(f"runtime {requested!r} for the {what} needs onnxruntime. Install it (pip install onnxruntime) "
                          "or set the runtime to 'torch'.")
    if report is None or not (onnx_dir / GRAPHS[requested]).is_file():
        raise ModelLoadError(f"The {what} has no {GRAPHS[requested]} export in {onnx_dir}. Run '{export_command}' "
                             "or set the runtime to 'torch'.")
    return requested


def weights_stamp(folder: Path) -> str:
    """Size and mtime of a folder's weight files: an export made from other weights is stale."""
    files = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin"))
    return ";".join(f"{f.name}:{f.stat().st_size}:{int(f.stat().st_mtime)}" for f in files) or "no-weights"


def encoder_name(ref: Any, max_length: int, normalize: bool) -> str:
    """A sentence encoder's name plus what changes its vectors (settings, weights): its cache and export key."""
    stamp = weights_stamp(Path(ref.source)) if ref.local else "hub"  # a retrained folder invalidates caches
    return f"{ref.name}|max_length={max_length}|normalize={normalize}|{stamp}"


def encoder_export_dir(encoder_name: str) -> Path:
    """Where the ONNX export of a sentence encoder (its :attr:`SentenceEncoder.name`, weights included) lives in the cache."""
    from pipeline.utils import cache_root

    key = hashlib.sha256(encoder_name.encode("utf-8")).hexdigest()[:12]
    slug = encoder_name.split("|", 1)[0].replace("/", "--")[-60:]
    return cache_root() / "onnx" / f"{slug}-{key}"


def _session_options(ort: Any, threads: int) -> Any:
    """Options for one session: ``threads`` intra-op threads that do not spin.

    The answer path runs two graphs one after the other (intent model, then encoder) with Python work between.
    Threads that spin after a run take the cores that work needs: on the respond benchmark (2 threads, 200
    messages, same machine, runs alternated), p50 12.6-14.4 ms without spinning against 19.9-21.2 ms with
    spinning stopped at the end of each run and 23.8 ms with ONNX Runtime's default spinning; one process-wide
    pool (it spins) was slower still. ``SUPPORT_ORT_SPIN=1`` turns spinning back on, for a process that runs
    one graph only.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if os.environ.get("SUPPORT_ORT_SPIN", "0") != "1":
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class OnnxEncoder:
    """One exported graph and its tokenizer: ``run(texts) -> {"embedding": (n, dim)[, "logits": (n, labels)]}``."""

    def __init__(self, onnx_dir: str | Path, runtime: str = "onnx", *, max_length: int = 128, batch_size: int = 64,
                 num_threads: int | None = None) -> None:
        self.onnx_dir = Path(onnx_dir)
        self.runtime = runtime
        self.max_length = max_length
        self.batch_size = batch_size
        self.num_threads = num_threads
        self._session: Any = None
        self.report: dict[str, Any] = {}

    def warm_up(self) -> None:
        if self._session is not None:
            return
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from pipeline.utils import num_threads

        report = read_report(self.onnx_dir)
        if report is None:
            raise ModelLoadError(f"{self.onnx_dir} is not a complete ONNX export (model.onnx, tokenizer.json, export.json). "
                                 f"Run 'python -m pipeline.export --model {self.onnx_dir.parent}' again.")
        self.report = report
        options = _session_options(ort, num_threads(self.num_threads))
        path = self.onnx_dir / GRAPHS[self.runtime]
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            tokenizer = Tokenizer.from_file(str(self.onnx_dir / TOKENIZER))
        except Exception as exc:  # a truncated or foreign file: one line naming it
            raise ModelLoadError(f"Cannot load {path} ({str(exc).splitlines()[0][:160]}). Run 'python -m pipeline.export "
                                 f"--model {self.onnx_dir.parent}' again, or set the runtime to 'torch'.") from None
        tokenizer.no_padding()  # padding is per batch, to its longest text (as the torch path)
        tokenizer.enable_truncation(max_length=self.max_length)
        self._tokenizer = tokenizer
        self.pad_id = int(report.get("pad_token_id") or 0)
        self.outputs = [o.name for o in self._session.get_outputs()]

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        # no lock (unlike pipeline.batching.tokenize): truncation and padding are set once, in warm_up, never per call
        return [e.ids for e in self._tokenizer.encode_batch([str(t) for t in texts])]

    def run(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        self.warm_up()
        ids = self.tokenize(texts)
        out: dict[str, np.ndarray] = {}
        for idx in length_sorted_batches([len(i) for i in ids], self.batch_size, shuffle=False) if ids else []:
            input_ids, mask = pad_ids([ids[i] for i in idx], self.pad_id)
            for name, value in zip(self.outputs, self._session.run(None, {"input_ids": input_ids, "attention_mask": mask})):
                if name not in out:
                    out[name] = np.zeros((len(ids), value.shape[1]), dtype=np.float32)
                out[name][idx] = value
        if not ids:
            dims = self.report.get("outputs", {})
            out = {name: np.zeros((0, int(dims.get(name, 0))), dtype=np.float32) for name in self.outputs}
        return out
