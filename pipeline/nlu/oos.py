"""Out-of-scope scores on the intent model's own sentence embedding: distance to the messages it was trained on.

    >>> import numpy as np
    >>> index = np.array([[1.0, 0.0], [0.0, 1.0]]); labels = np.array([0, 1])
    >>> knn_score(np.array([[0.8, 0.6]]), index, k=1).round(2).tolist()
    [0.8]
    >>> knn_score(np.array([[0.8, 0.6]]), index, k=1, index_labels=labels, exclude=np.array([0])).round(2).tolist()
    [0.6]

The score of a message is the mean cosine of its ``k`` nearest training messages (embeddings are L2-normalised).
A message about nothing the model knows sits far from all of them. Unlike the softmax confidence, the score
needs no calibration, and its threshold can be estimated from the training data alone by the *held-out intents*
rule: score every message against the index without its own intent (what an unknown intent looks like) and
against the full index without itself (what a known one looks like), and keep ``keep`` of the known ones. So
it holds on a 40-row data set as on BANKING77. The index is ``oos_index.safetensors`` in the model folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

OOS_FILE = "oos_index.safetensors"
MAX_INDEX = 20_000  # training messages kept in the index (a seeded sample above that)


def knn_score(queries: np.ndarray, index: np.ndarray, k: int = 1, *, index_labels: np.ndarray | None = None,
              exclude: np.ndarray | None = None, exclude_rows: np.ndarray | None = None, chunk: int = 2048) -> np.ndarray:
    """Mean cosine of each query's ``k`` nearest index rows, leaving out rows of the label ``exclude[i]`` and the
    row ``exclude_rows[i]`` (the query itself, when the queries are the index)."""
    queries = np.asarray(queries, dtype=np.float32)
    index = np.asarray(index, dtype=np.float32)
    out = np.zeros(len(queries), dtype=np.float32)
    k = max(1, min(k, len(index) - 1 if exclude_rows is not None else len(index)))
    for start in range(0, len(queries), chunk):
        sims = queries[start:start + chunk] @ index.T
        rows = np.arange(start, min(start + chunk, len(queries)))
        if exclude is not None and index_labels is not None:
            sims[index_labels[None, :] == exclude[rows][:, None]] = -np.inf
        if exclude_rows is not None:
            sims[np.arange(len(rows)), exclude_rows[rows]] = -np.inf
        top = -np.partition(-sims, k - 1, axis=1)[:, :k]
        top[~np.isfinite(top)] = -1.0
        out[rows] = top.mean(axis=1)
    return out


def held_out_intent_scores(emb: np.ndarray, labels: np.ndarray, index: np.ndarray, index_labels: np.ndarray,
                           k: int, same: bool) -> tuple[np.ndarray, np.ndarray]:
    """(known, unknown) scores of ``emb``: against the index (without each row itself when ``same``), and against
    the index without each message's own intent."""
    rows = np.arange(len(emb)) if same else None
    known = knn_score(emb, index, k, exclude_rows=rows)
    unknown = knn_score(emb, index, k, index_labels=index_labels, exclude=labels)
    return known, unknown


def choose_knn_threshold(known: np.ndarray, unknown: np.ndarray, keep: float = 0.95) -> dict[str, float]:
    """The score that keeps ``keep`` of the known messages, and how many simulated unknown ones it rejects."""
    threshold = float(np.quantile(known, 1.0 - keep))
    return {"threshold": threshold, "known_kept": float((known >= threshold).mean()),
            "unknown_rejected": float((unknown < threshold).mean())}


def save_index(folder: str | Path, emb: np.ndarray, labels: np.ndarray) -> None:
    from safetensors.numpy import save_file

    save_file({"embeddings": np.asarray(emb, dtype=np.float16), "labels": np.asarray(labels, dtype=np.int32)},
              str(Path(folder) / OOS_FILE))


def load_index(folder: str | Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The stored index (float32 embeddings, labels), or None when the folder has none."""
    path = Path(folder) / OOS_FILE
    if not path.is_file():
        return None
    from pipeline.artifacts import load_safetensors

    tensors: dict[str, Any] = load_safetensors(path, "Retrain the model (python -m training.finetune_intent) to rebuild it.")
    return tensors["embeddings"].astype(np.float32), tensors["labels"].astype(np.int64)
