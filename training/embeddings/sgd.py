"""One word2vec training job (a run of sentences), compiled or in torch.

``TrainState`` holds the matrices and tables that every job reads: ``syn0``
(input vectors, the result), ``syn1`` (output layer: one row per word for
negative sampling, one per Huffman inner node for hierarchical softmax), the
corpus ids, the subsampling thresholds, the negative-sampling table and the
Huffman paths.

- ``run_job_compiled`` calls the C++ kernel (``kernel.py``): sequential SGD,
  one update per (input, output) pair as in word2vec.c.
- ``run_job_torch`` is the fallback when no compiler is present. It builds
  the same pairs with NumPy (same subsampling rule, reduced windows, sentence
  limits), then takes vectorised mini-batch SGD steps of ``PAIR_BATCH``
  pairs: gathers rows, computes the gradients by hand and scatters them back
  with ``index_add_``. Rows that occur several times in one mini-batch get the
  sum of their updates (what sequential SGD would do to first order). It
  takes about 6x more CPU per word than the kernel: per-op overheads dominate
  at word2vec's tiny per-pair work. It learns as well (1 epoch on 20 MB of
  wiki8: WS-353 0.18 against the kernel's 0.20 and gensim's 0.20).

Both return ``(loss_sum, loss_terms, raw_tokens, trained_tokens)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from training.embeddings.huffman import HuffmanTree
from training.embeddings.sampling import draw_negatives

PAIR_BATCH = 256


@dataclass
class TrainState:
    syn0: torch.Tensor
    syn1: torch.Tensor
    ids: np.ndarray
    sentence_ends: np.ndarray
    keep: np.ndarray  # float64 keep probability per word
    keep_u32: np.ndarray  # the same as uint32 thresholds, for the kernel
    cum_table: np.ndarray
    tree: HuffmanTree | None
    cbow: bool
    hs: bool
    window: int
    negative: int

    def __post_init__(self) -> None:
        if self.tree is None:  # the kernel wants valid pointers even when unused
            self.tree = HuffmanTree(np.zeros((1, 1), np.uint8), np.zeros((1, 1), np.int32), np.zeros(1, np.int32))
        self._tree_t = (torch.from_numpy(self.tree.codes.astype(np.float32)),
                        torch.from_numpy(self.tree.points.astype(np.int64)),
                        torch.from_numpy(self.tree.lengths.astype(np.int64)))


def run_job_compiled(kernel: Any, st: TrainState, s_begin: int, s_end: int, alpha_begin: float,
                     alpha_end: float, seed: int, compute_loss: bool = True) -> tuple[float, float, float, float]:
    tree = st.tree
    loss, terms, raw, trained = kernel.train_job(
        st.syn0.data_ptr(), st.syn1.data_ptr(), st.syn0.shape[1],
        st.ids.ctypes.data, st.sentence_ends.ctypes.data, s_begin, s_end,
        st.keep_u32.ctypes.data, st.cum_table.ctypes.data, len(st.cum_table),
        tree.codes.ctypes.data, tree.points.ctypes.data, tree.lengths.ctypes.data, tree.codes.shape[1],
        st.cbow, st.hs, st.window, st.negative, alpha_begin, alpha_end, seed & (2**64 - 1), compute_loss)
    return loss, terms, raw, trained


def _job_tokens(st: TrainState, s_begin: int, s_end: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Kept tokens of the job, their sentence number and relative position in the job (for alpha)."""
    first = int(st.sentence_ends[s_begin - 1]) if s_begin > 0 else 0
    ends = st.sentence_ends[s_begin:s_end]
    tokens = st.ids[first:int(ends[-1])]
    sentence = np.repeat(np.arange(len(ends)), np.diff(np.concatenate([[first], ends])))
    position = np.arange(len(tokens))
    kept = rng.random(len(tokens)) < st.keep[tokens]
    return tokens[kept].astype(np.int64), sentence[kept], position[kept], len(tokens)


def _context(n: int, sentence: np.ndarray, window: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """For every centre, the positions of its context (n, 2*window) and which are valid,
    with the window shrunk to ``window - b``, ``b`` uniform in [0, window)."""
    effective = window - rng.integers(0, window, size=n)
    offsets = np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)])
    centre = np.arange(n)[:, None]
    pos = centre + offsets[None, :]
    valid = (pos >= 0) & (pos < n) & (np.abs(offsets)[None, :] <= effective[:, None])
    pos = np.clip(pos, 0, max(n - 1, 0))
    valid &= sentence[pos] == sentence[centre]
    return pos, valid


def _output_step(st: TrainState, h: torch.Tensor, target: torch.Tensor, alpha: torch.Tensor,
                 gen: np.random.Generator) -> tuple[torch.Tensor, float, int]:
    """SGD on the output layer for inputs ``h`` (B, d) and targets (B,); returns the
    gradient for the inputs (B, d), the loss sum and the number of loss terms."""
    if st.hs:
        codes, points, lengths = (t[target] for t in st._tree_t)
        mask = (torch.arange(points.shape[1])[None, :] < lengths[:, None]).float()
        rows = points
        label = 1.0 - codes
    else:
        neg = torch.from_numpy(draw_negatives(st.cum_table, (len(target), st.negative), gen))
        rows = torch.cat([target[:, None], neg], dim=1)
        label = torch.zeros(rows.shape, dtype=torch.float32)
        label[:, 0] = 1.0
        mask = torch.ones(rows.shape, dtype=torch.float32)
        mask[:, 1:] = (neg != target[:, None]).float()
    w = st.syn1[rows]  # (B, k, d)
    f = torch.bmm(w, h[:, :, None]).squeeze(2)
    g = (label - torch.sigmoid(f)) * mask * alpha[:, None]
    loss = (torch.nn.functional.softplus(torch.where(label > 0, -f, f)) * mask).sum().item()
    grad_h = torch.bmm(g[:, None, :], w).squeeze(1)
    st.syn1.index_add_(0, rows.reshape(-1), (g[:, :, None] * h[:, None, :]).reshape(-1, h.shape[1]))
    return grad_h, loss, int(mask.sum().item())


def run_job_torch(st: TrainState, s_begin: int, s_end: int, alpha_begin: float, alpha_end: float,
                  seed: int) -> tuple[float, float, float, float]:
    rng = np.random.default_rng(seed)
    tokens, sentence, position, raw = _job_tokens(st, s_begin, s_end, rng)
    n = len(tokens)
    if n == 0:
        return 0.0, 0.0, float(raw), 0.0
    pos, valid = _context(n, sentence, st.window, rng)
    alpha_at = alpha_begin + (alpha_end - alpha_begin) * position / max(raw, 1)
    loss_sum, terms = 0.0, 0
    if st.cbow:
        centres = np.flatnonzero(valid.any(axis=1))
        step = max(1, PAIR_BATCH // (2 * st.window))
        for start in range(0, len(centres), step):
            c = centres[start:start + step]
            ctx = torch.from_numpy(tokens[pos[c]])
            m = torch.from_numpy(valid[c]).float()
            count = m.sum(1, keepdim=True)
            h = (st.syn0[ctx] * m[:, :, None]).sum(1) / count
            grad, loss, k = _output_step(st, h, torch.from_numpy(tokens[c]),
                                         torch.from_numpy(alpha_at[c]).float(), rng)
            sel = m.reshape(-1) > 0
            st.syn0.index_add_(0, ctx.reshape(-1)[sel], grad[:, None, :].expand(-1, ctx.shape[1], -1).reshape(-1, h.shape[1])[sel])
            loss_sum, terms = loss_sum + loss, terms + k
    else:
        centre, slot = np.nonzero(valid)  # row-major: pairs in corpus order
        inputs, outputs = tokens[pos[centre, slot]], tokens[centre]
        for start in range(0, len(centre), PAIR_BATCH):
            sl = slice(start, start + PAIR_BATCH)
            inp = torch.from_numpy(inputs[sl])
            grad, loss, k = _output_step(st, st.syn0[inp], torch.from_numpy(outputs[sl]),
                                         torch.from_numpy(alpha_at[centre[sl]]).float(), rng)
            st.syn0.index_add_(0, inp, grad)
            loss_sum, terms = loss_sum + loss, terms + k
    return loss_sum, float(terms), float(raw), float(n)
