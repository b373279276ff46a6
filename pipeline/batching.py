"""Length-sorted batching, dynamic padding and mean pooling: the one home for every encoder pass (inference and training).

Sorting by length inside shuffled chunks keeps padding small while the batch
order stays random; the order of epoch ``e`` depends only on ``(seed, e)``, so
a resumed run can skip exactly the batches it already did.
"""
from __future__ import annotations

import threading
from typing import Any, Sequence

import numpy as np

_TOKENIZER_LOCK = threading.Lock()


def tokenize(tokenizer: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a Hugging Face tokenizer under one lock: a fast tokenizer's padding and truncation settings are state
    on the Rust object, and two threads changing them at once fail ("Already borrowed"). The server answers on
    more than one pipeline thread; the forward passes themselves run unlocked."""
    with _TOKENIZER_LOCK:
        return tokenizer(*args, **kwargs)


def length_sorted_batches(
    lengths: Sequence[int], batch_size: int, *, shuffle: bool, seed: int = 0, epoch: int = 0, chunk_batches: int = 50
) -> list[np.ndarray]:
    """Indices grouped into batches of similar length.

    With ``shuffle``: permute, sort by length within chunks of ``chunk_batches``
    batches, then shuffle the batch order. Without: globally sorted (inference).
    """
    lengths = np.asarray(lengths)
    if not shuffle:
        order = np.argsort(lengths, kind="stable")
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng = np.random.default_rng([seed, epoch])
    perm = rng.permutation(len(lengths))
    chunk = batch_size * chunk_batches
    batches: list[np.ndarray] = []
    for start in range(0, len(perm), chunk):
        part = perm[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def pad_ids(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad token id lists to the longest one: ``(input_ids, attention_mask)`` int64 arrays."""
    longest = max(len(s) for s in sequences)
    input_ids = np.full((len(sequences), longest), pad_id, dtype=np.int64)
    mask = np.zeros((len(sequences), longest), dtype=np.int64)
    for row, seq in enumerate(sequences):
        input_ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    return input_ids, mask


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int):
    """:func:`pad_ids` as long tensors (the torch path)."""
    import torch

    input_ids, mask = pad_ids(sequences, pad_id)
    return torch.from_numpy(input_ids), torch.from_numpy(mask)


def mean_pool(hidden, attention_mask):
    """Mean of the token vectors under the attention mask (sentence-transformers pooling)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
