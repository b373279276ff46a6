"""Top-k inner-product search over normalised vectors: exact (NumPy/torch) or FAISS.

The retriever and ``benchmarks/retrieval_scale.py`` share this code path:

    index = make_index(vectors, faiss_threshold=50_000)   # exact below, FAISS above
    scores, rows = index.search(queries, k=5)             # (m, k) each, best first

With normalised vectors the inner product is the cosine similarity. FAISS is an
optional extra (``pip install faiss-cpu``); without it the index stays exact
and says so once in the log.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.artifacts import atomic_write
from pipeline.errors import check_param

logger = logging.getLogger(__name__)

FAISS_KINDS = ("flat", "hnsw", "ivf")
_warned_no_faiss = False


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _as_queries(queries: np.ndarray, dim: int) -> np.ndarray:
    q = np.asarray(queries, dtype=np.float32)
    if q.ndim == 1:
        q = q[None, :]
    if q.ndim != 2 or q.shape[1] != dim:
        raise ValueError(f"Queries must have shape (m, {dim}). Got {tuple(q.shape)}.")
    return np.ascontiguousarray(q)


class VectorIndex:
    """Base class: ``search(queries, k) -> (scores, rows)`` and exact ``scores_for(queries, rows)``."""

    kind = "base"

    def __init__(self, vectors: np.ndarray) -> None:
        v = np.asarray(vectors, dtype=np.float32)
        if v.ndim != 2:
            raise ValueError(f"Index vectors must be a 2-D array (n, dim). Got shape {tuple(v.shape)}.")
        self.vectors = np.ascontiguousarray(v)

    def __len__(self) -> int:
        return self.vectors.shape[0]

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def scores_for(self, queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Exact inner products of each query with the given rows: ``(m, len(rows))``."""
        q = _as_queries(queries, self.dim)
        return q @ self.vectors[np.asarray(rows, dtype=np.int64)].T


class ExactIndex(VectorIndex):
    """Brute force: one matrix product, then ``argpartition`` (NumPy) or ``topk`` (torch)."""

    def __init__(self, vectors: np.ndarray, backend: str = "numpy") -> None:
        check_param("ExactIndex", "backend", backend, backend in ("numpy", "torch"), "'numpy' or 'torch'")
        super().__init__(vectors)
        self.backend = backend
        self.kind = f"exact-{backend}"
        self._tensor: Any = None
        if backend == "torch":
            import torch

            self._tensor = torch.from_numpy(self.vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = _as_queries(queries, self.dim)
        k = min(int(k), len(self))
        if k <= 0:
            return np.zeros((q.shape[0], 0), np.float32), np.zeros((q.shape[0], 0), np.int64)
        if self.backend == "torch":
            import torch

            with torch.inference_mode():
                sims = torch.from_numpy(q) @ self._tensor.T
                top = torch.topk(sims, k, dim=1)
            return top.values.numpy(), top.indices.numpy().astype(np.int64)
        sims = q @ self.vectors.T
        if k < sims.shape[1]:
            part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        else:
            part = np.tile(np.arange(sims.shape[1]), (sims.shape[0], 1))
        part_scores = np.take_along_axis(sims, part, axis=1)
        order = np.argsort(-part_scores, axis=1, kind="stable")
        rows = np.take_along_axis(part, order, axis=1).astype(np.int64)
        return np.take_along_axis(part_scores, order, axis=1), rows


class FaissIndex(VectorIndex):
    """FAISS inner-product index: ``flat`` (exact), ``hnsw`` or ``ivf`` (approximate)."""

    def __init__(self, vectors: np.ndarray, kind: str = "hnsw", *, hnsw_m: int = 32, ef_search: int = 64,
                 ef_construction: int = 80, nlist: int | None = None, nprobe: int = 16) -> None:
        check_param("FaissIndex", "kind", kind, kind in FAISS_KINDS, f"one of {', '.join(FAISS_KINDS)}")
        import faiss

        super().__init__(vectors)
        self.kind = f"faiss-{kind}"
        d = self.dim
        if kind == "flat":
            index = faiss.IndexFlatIP(d)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(d, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = ef_construction
            index.hnsw.efSearch = ef_search
        else:
            nlist = nlist or max(1, min(int(4 * np.sqrt(len(self))), len(self) // 39))  # FAISS wants >= 39 points per list
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
            sample = self.vectors
            if len(sample) > 64 * nlist:
                pick = np.random.default_rng(0).choice(len(sample), 64 * nlist, replace=False)
                sample = sample[np.sort(pick)]
            index.train(sample)
            index.nprobe = min(nprobe, nlist)
        index.add(self.vectors)
        self.index = index

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = _as_queries(queries, self.dim)
        k = min(int(k), len(self))
        scores, rows = self.index.search(q, k)
        return scores, rows.astype(np.int64)  # rows may hold -1 where an approximate index found fewer than k

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the FAISS index (FAISS's own binary format) atomically."""
        import faiss

        atomic_write(path, lambda tmp: faiss.write_index(self.index, tmp))

    @classmethod
    def load(cls, path: str | os.PathLike[str], vectors: np.ndarray, kind: str) -> "FaissIndex":
        """Read an index written by :meth:`save`; it must hold exactly ``vectors``' count and dim."""
        import faiss

        obj = cls.__new__(cls)
        VectorIndex.__init__(obj, vectors)
        obj.index = faiss.read_index(str(path))
        obj.kind = f"faiss-{kind}"
        if obj.index.ntotal != len(obj) or obj.index.d != obj.dim:
            raise ValueError(f"index holds {obj.index.ntotal}x{obj.index.d} vectors, expected {len(obj)}x{obj.dim}")
        return obj


def make_index(vectors: np.ndarray, *, faiss_threshold: int = 50_000, faiss_kind: str = "ivf",
               backend: str = "numpy", cache_path: str | os.PathLike[str] | None = None) -> VectorIndex:
    """Exact index up to ``faiss_threshold`` vectors, FAISS above it (exact if FAISS is missing).

    With ``cache_path`` a FAISS index is read from there when present and written there after a build.
    """
    global _warned_no_faiss
    n = int(np.asarray(vectors).shape[0])
    if n > faiss_threshold:
        if faiss_available():
            if cache_path is not None and Path(cache_path).is_file():
                try:
                    index = FaissIndex.load(cache_path, vectors, faiss_kind)
                    logger.info("Loaded the FAISS %s index of %d vectors from %s", faiss_kind, n, cache_path)
                    return index
                except Exception as exc:  # damaged file: rebuild
                    logger.warning("FAISS index cache %s is unreadable (%s); rebuilding it.", cache_path, exc)
            logger.info("Knowledge base has %d snippets (> faiss_threshold=%d): building a FAISS %s index",
                        n, faiss_threshold, faiss_kind)
            index = FaissIndex(vectors, kind=faiss_kind)
            if cache_path is not None:
                try:
                    index.save(cache_path)
                except OSError as exc:
                    logger.warning("Could not write the FAISS index cache %s (%s).", cache_path, exc)
            return index
        if not _warned_no_faiss:
            logger.warning("Knowledge base has %d snippets (> faiss_threshold=%d) but faiss is not installed; "
                           "staying with exact search (pip install faiss-cpu for a faster index).", n, faiss_threshold)
            _warned_no_faiss = True
    return ExactIndex(vectors, backend=backend)
