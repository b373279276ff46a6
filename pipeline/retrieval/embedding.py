"""Sentence embeddings: a transformer encoder with mean pooling, and an on-disk cache.

:class:`SentenceEncoder` turns texts into L2-normalised float32 vectors with any
Hugging Face encoder given by name or folder (``default`` is the packaged
all-MiniLM-L6-v2), the way sentence-transformers does for that model: mean
pooling over the attention mask, then L2 normalisation.

:class:`EmbeddingCache` stores the vectors of a knowledge base as
``<key>.safetensors`` (vectors) + ``<key>.json`` (ids, per-text hashes, encoder,
knowledge-base hash). A lookup with the same knowledge-base hash and encoder is
a cache hit; otherwise the newest entry for the same encoder lends every vector
whose text is unchanged, and only new or edited texts are encoded.

    python -c "from pipeline.retrieval.embedding import SentenceEncoder; print(SentenceEncoder().encode(['Where is my refund?']).shape)"
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pipeline.artifacts import atomic_write
from pipeline.batching import length_sorted_batches, mean_pool, tokenize
from pipeline.config import StageConfig
from pipeline.errors import check_param, first_line
from pipeline.hub import ModelRef, load_pretrained, resolve_model

logger = logging.getLogger(__name__)


@dataclass
class EncoderConfig(StageConfig):
    """Settings of the sentence encoder."""

    model: str = field(default="default",
        metadata={"help": "Encoder: 'default' (packaged all-MiniLM-L6-v2), a Hub id or a folder."})
    batch_size: int = field(default=64, metadata={"help": "Texts per forward pass."})
    max_length: int = field(default=128, metadata={"help": "Tokens kept per text (longer texts are truncated)."})
    normalize: bool = field(default=True, metadata={"help": "L2-normalise the vectors (cosine = dot product)."})
    num_threads: int | None = field(default=None,
        metadata={"help": "CPU threads (None: $SUPPORT_NUM_THREADS, else all cores)."})
    runtime: str = field(default="torch", metadata={"help": "torch | onnx | onnx-int8 | auto (pipeline.onnx_runtime); auto exports the encoder to ONNX once, into the user cache. The retrieval stage's default is auto."})

    def validate(self) -> None:
        check_param("EncoderConfig", "batch_size", self.batch_size, self.batch_size >= 1, "an int >= 1")
        check_param("EncoderConfig", "max_length", self.max_length, 8 <= self.max_length <= 8192, "an int in [8, 8192]")
        check_param("EncoderConfig", "num_threads", self.num_threads,
                    self.num_threads is None or self.num_threads >= 1, "None or an int >= 1")


class SentenceEncoder:
    """Texts -> (n, dim) float32 embeddings; the model is loaded in :meth:`warm_up` (or on first use)."""

    def __init__(self, model: str = "default", *, batch_size: int = 64, max_length: int = 128,
                 normalize: bool = True, num_threads: int | None = None, runtime: str = "torch") -> None:
        self.config = EncoderConfig(model=model, batch_size=batch_size, max_length=max_length,
                                    normalize=normalize, num_threads=num_threads, runtime=runtime)
        self._ref: ModelRef | None = None
        self._tokenizer: Any = None
        self._model: Any = None
        self._runtime: str | None = None
        self._torch_name: str | None = None

    @property
    def ref(self) -> ModelRef:
        if self._ref is None:
            self._ref = resolve_model(self.config.model, what="sentence encoder")
        return self._ref

    @property
    def torch_name(self) -> str:
        """Model name plus the settings that change the vectors, on the torch runtime."""
        if self._torch_name is None:  # stats the weight files: once
            from pipeline.onnx_runtime import encoder_name

            self._torch_name = encoder_name(self.ref, self.config.max_length, self.config.normalize)
        return self._torch_name

    @property
    def name(self) -> str:
        """:attr:`torch_name`, plus the runtime when it is an ONNX one (its vectors differ slightly): the cache key."""
        runtime = self.runtime
        return self.torch_name if runtime == "torch" else f"{self.torch_name}|runtime={runtime}"

    @property
    def runtime(self) -> str:
        """The runtime in use: ``config.runtime`` resolved (``auto`` exports the encoder to ONNX once, when it can)."""
        if self._runtime is None:
            self._runtime = self._resolve_runtime()
        return self._runtime

    def _onnx_dir(self) -> Path:
        from pipeline.onnx_runtime import ONNX_DIR, encoder_export_dir

        return encoder_export_dir(self.torch_name) / ONNX_DIR

    def _resolve_runtime(self) -> str:
        from pipeline.onnx_runtime import choose_runtime, export_available, onnxruntime_available

        requested = self.config.runtime
        if requested == "torch":
            return "torch"
        onnx_dir = self._onnx_dir()
        if onnxruntime_available() and not onnx_dir.is_dir():  # export once, into the cache
            if not export_available():
                logger.info("Sentence encoder: torch runtime (the onnx package, needed once to export it, is not installed).")
                return "torch"
            logger.info("Exporting the sentence encoder %s to ONNX, once (into %s)", self.ref.name, onnx_dir.parent)
            try:
                from pipeline.export import export_encoder

                export_encoder(self.config.model, max_length=self.config.max_length, normalize=self.config.normalize)
            except Exception as exc:  # any failure: the torch path still answers
                logger.warning("Sentence encoder: torch runtime (the ONNX export failed: %s).", first_line(exc)[:200])
                return "torch"
        return choose_runtime(requested, onnx_dir, "sentence encoder", f"python -m pipeline.export --encoder {self.config.model}")

    @property
    def dim(self) -> int:
        self.warm_up()
        if self.runtime != "torch":
            return int(self._model.report["outputs"]["embedding"])
        return int(self._model.config.hidden_size)

    def warm_up(self) -> None:
        """Load the tokenizer and model once (offline-first, one clear error if unavailable)."""
        if self._model is not None:
            return
        ref = self.ref  # a bad name or folder fails here, before the slow imports
        if self.runtime != "torch":
            from pipeline.onnx_runtime import OnnxEncoder

            start = time.perf_counter()
            c = self.config
            onnx = OnnxEncoder(self._onnx_dir(), self.runtime, max_length=c.max_length, batch_size=c.batch_size,
                               num_threads=c.num_threads)
            onnx.warm_up()
            self._model = onnx
            logger.info("Loaded sentence encoder %s (%s) in %.2f s", ref.name, self.runtime, time.perf_counter() - start)
            return
        from transformers import AutoModel, AutoTokenizer

        from pipeline.utils import set_torch_threads

        set_torch_threads(self.config.num_threads)  # None: $SUPPORT_NUM_THREADS, else all cores (as the other stages)
        start = time.perf_counter()
        self._tokenizer = load_pretrained(AutoTokenizer.from_pretrained, ref, "sentence encoder tokenizer")
        model = load_pretrained(AutoModel.from_pretrained, ref, "sentence encoder")
        self._model = model.eval()
        logger.info("Loaded sentence encoder %s in %.2f s", ref.name, time.perf_counter() - start)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` in batches of similar length; returns float32 ``(len(texts), dim)``."""
        if isinstance(texts, str):
            raise TypeError("SentenceEncoder.encode expects a list of strings, not a single string. Wrap it: [text].")
        self.warm_up()
        texts = [str(t) for t in texts]
        if self.runtime != "torch":
            return self._model.run(texts)["embedding"] if texts else np.zeros((0, self.dim), dtype=np.float32)
        import torch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        with torch.inference_mode():
            for idx in length_sorted_batches([len(t) for t in texts], self.config.batch_size, shuffle=False):
                batch = tokenize(self._tokenizer, [texts[i] for i in idx], padding=True, truncation=True,
                                        max_length=self.config.max_length, return_tensors="pt")
                pooled = mean_pool(self._model(**batch).last_hidden_state, batch["attention_mask"])
                if self.config.normalize:
                    pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[idx] = pooled.float().numpy()
        return out

    def run(self, texts: list[str]) -> dict[str, np.ndarray]:
        return {"embeddings": self.encode(texts)}


def text_hash(text: str) -> str:
    """Hash of the exact text that is embedded (an unchanged text reuses its vector)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _key(kb_hash: str, encoder_name: str, ids: list[str]) -> str:
    """Cache file name: knowledge-base hash + encoder (+ which texts of it are embedded)."""
    joined = "\n".join([kb_hash, encoder_name, *ids])
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:20]


@dataclass
class CacheResult:
    """Vectors for the requested texts and how they were obtained."""

    vectors: np.ndarray
    hit: bool
    encoded: int
    reused: int
    seconds: float
    path: Path | None = None


class EmbeddingCache:
    """Vectors of a knowledge base on disk, keyed by its content hash and the encoder."""

    def __init__(self, cache_dir: str | os.PathLike[str], keep: int = 4) -> None:
        self.cache_dir = Path(cache_dir).expanduser()
        self.keep = keep

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.cache_dir / f"{key}.safetensors", self.cache_dir / f"{key}.json"

    def _read(self, key: str) -> tuple[dict[str, Any], np.ndarray] | None:
        from safetensors.numpy import load_file

        vec_path, meta_path = self._paths(key)
        if not (vec_path.is_file() and meta_path.is_file()):
            return None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            vectors = load_file(str(vec_path))["vectors"]
            if vectors.dtype != np.float32 or vectors.ndim != 2 or len(meta["ids"]) != vectors.shape[0] \
                    or len(meta["hashes"]) != vectors.shape[0]:
                raise ValueError("shape or dtype mismatch")
        except Exception as exc:  # any damage: rebuild, never crash
            logger.warning("Embedding cache %s is unreadable (%s); rebuilding it.", vec_path, first_line(exc)[:120])
            return None
        return meta, vectors

    def _donor(self, encoder_name: str, exclude: str) -> tuple[dict[str, Any], np.ndarray] | None:
        """The newest readable entry for the same encoder (source of reusable vectors)."""
        metas = sorted(self.cache_dir.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for meta_path in metas:
            if meta_path.stem == exclude:
                continue
            try:
                if json.loads(meta_path.read_text(encoding="utf-8")).get("encoder") != encoder_name:
                    continue
            except (OSError, ValueError):
                continue
            found = self._read(meta_path.stem)
            if found is not None:
                return found
        return None

    def get_or_build(self, encoder: Any, ids: list[str], texts: list[str], kb_hash: str) -> CacheResult:
        """Return vectors for ``texts`` (row i for ``ids[i]``), reading, patching or writing the cache."""
        start = time.perf_counter()
        name = str(encoder.name)
        key = _key(kb_hash, name, ids)
        hashes = [text_hash(t) for t in texts]
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        found = self._read(key)
        if found is not None and found[0].get("ids") == ids and found[0].get("hashes") == hashes:
            return CacheResult(found[1], True, 0, len(ids), time.perf_counter() - start, self._paths(key)[0])
        donor = self._donor(name, exclude=key)
        known: dict[str, np.ndarray] = {}
        if donor is not None:
            known = {h: donor[1][i] for i, h in enumerate(donor[0]["hashes"])}
        todo = [i for i, h in enumerate(hashes) if h not in known]
        fresh = encoder.encode([texts[i] for i in todo]) if todo else None
        dim = fresh.shape[1] if fresh is not None else (next(iter(known.values())).shape[0] if known else 0)
        vectors = np.zeros((len(texts), dim), dtype=np.float32)
        for i, h in enumerate(hashes):
            if h in known:
                vectors[i] = known[h]
        if fresh is not None:
            vectors[todo] = fresh
        self._write(key, vectors, {"ids": ids, "hashes": hashes, "encoder": name, "kb_hash": kb_hash,
                                   "dim": int(dim), "created": time.time()})
        return CacheResult(vectors, False, len(todo), len(ids) - len(todo), time.perf_counter() - start,
                           self._paths(key)[0])

    def _write(self, key: str, vectors: np.ndarray, meta: dict[str, Any]) -> None:
        from safetensors.numpy import save_file

        vec_path, meta_path = self._paths(key)
        try:
            atomic_write(vec_path, lambda tmp: save_file({"vectors": np.ascontiguousarray(vectors)}, tmp))
            atomic_write(meta_path, lambda tmp: Path(tmp).write_text(json.dumps(meta), encoding="utf-8"))
        except OSError as exc:  # a read-only cache folder must not stop retrieval
            logger.warning("Could not write the embedding cache to %s (%s); continuing without it.", self.cache_dir, exc)
            return
        self._prune(meta["encoder"])

    def _prune(self, encoder_name: str) -> None:
        """Keep the ``keep`` newest entries per encoder."""
        same = []
        for meta_path in self.cache_dir.glob("*.json"):
            try:
                if json.loads(meta_path.read_text(encoding="utf-8")).get("encoder") == encoder_name:
                    same.append(meta_path)
            except (OSError, ValueError):
                continue
        for old in sorted(same, key=lambda p: p.stat().st_mtime, reverse=True)[self.keep:]:
            for p in self.cache_dir.glob(f"{old.stem}.*"):  # vectors, metadata and any index built on them
                p.unlink(missing_ok=True)
