"""One fastText training job (a run of sentences), compiled or in torch.

``FastTextState`` is word2vec's ``TrainState`` (``sgd.py``) whose ``syn0`` is
the input matrix of fastText, ``n_words + n_ngram_rows`` rows, plus the CSR
arrays of ``ngrams.SubwordIndex`` (which rows make up each word).

- ``run_job_compiled`` calls the C++ kernel (``fasttext_kernel.py``):
  sequential SGD, one update per (centre, context) pair as in fastText.
- ``run_job_torch`` is the fallback without a compiler: the same pairs
  (word2vec's ``_job_tokens`` and ``_context``: subsampling, shrunk windows,
  sentence limits), the centre word as input, in mini-batches of
  ``PAIR_BATCH`` pairs: the input is ``embedding_bag`` (mean) of the centre's
  rows, the output step is word2vec's, and the input gradient is added whole
  to every row of the bag with ``index_add_``. A row that occurs in several
  bags of one mini-batch gets the *mean* of their gradients, not the sum:
  frequent n-grams (``ing>``, ``<th``) sit in dozens of bags of a batch, and
  summing their full gradients at once diverges at fastText's learning rate
  (sequential SGD sees each after the previous update).

Both return ``(loss_sum, loss_terms, raw_tokens, trained_tokens)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from training.embeddings.sgd import TrainState, _context, _job_tokens, _output_step

PAIR_BATCH = 256


@dataclass
class FastTextState(TrainState):
    sub_offsets: np.ndarray  # int64 (n_words + 1)
    sub_rows: np.ndarray  # int32 rows of syn0, per word its own row then its n-gram rows

    def __post_init__(self) -> None:
        super().__post_init__()
        self._offsets_t = torch.from_numpy(self.sub_offsets)
        self._rows_t = torch.from_numpy(self.sub_rows.astype(np.int64))


def run_job_compiled(kernel: Any, st: FastTextState, s_begin: int, s_end: int, alpha_begin: float,
                     alpha_end: float, seed: int, compute_loss: bool = True) -> tuple[float, float, float, float]:
    loss, terms, raw, trained = kernel.train_job(
        st.syn0.data_ptr(), st.syn1.data_ptr(), st.syn0.shape[1],
        st.ids.ctypes.data, st.sentence_ends.ctypes.data, s_begin, s_end,
        st.keep_u32.ctypes.data, st.cum_table.ctypes.data, len(st.cum_table),
        st.sub_offsets.ctypes.data, st.sub_rows.ctypes.data,
        st.window, st.negative, alpha_begin, alpha_end, seed & (2**64 - 1), compute_loss)
    return loss, terms, raw, trained


def bags(st: FastTextState, words: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The flat input rows of ``words`` and the bag start of each (for ``embedding_bag``)."""
    starts, ends = st._offsets_t[words], st._offsets_t[words + 1]
    lengths = ends - starts
    bag_starts = torch.cumsum(lengths, 0) - lengths
    flat = torch.repeat_interleave(starts - bag_starts, lengths) + torch.arange(int(lengths.sum()))
    return st._rows_t[flat], bag_starts


def run_job_torch(st: FastTextState, s_begin: int, s_end: int, alpha_begin: float, alpha_end: float,
                  seed: int) -> tuple[float, float, float, float]:
    rng = np.random.default_rng(seed)
    tokens, sentence, position, raw = _job_tokens(st, s_begin, s_end, rng)
    n = len(tokens)
    if n == 0:
        return 0.0, 0.0, float(raw), 0.0
    pos, valid = _context(n, sentence, st.window, rng)
    alpha_at = alpha_begin + (alpha_end - alpha_begin) * position / max(raw, 1)
    centre, slot = np.nonzero(valid)  # row-major: pairs in corpus order
    inputs, outputs = tokens[centre], tokens[pos[centre, slot]]
    loss_sum, terms = 0.0, 0
    for start in range(0, len(centre), PAIR_BATCH):
        sl = slice(start, start + PAIR_BATCH)
        rows, bag_starts = bags(st, torch.from_numpy(inputs[sl]))
        h = torch.nn.functional.embedding_bag(rows, st.syn0, bag_starts, mode="mean")
        grad, loss, k = _output_step(st, h, torch.from_numpy(outputs[sl]),
                                     torch.from_numpy(alpha_at[centre[sl]]).float(), rng)
        lengths = torch.diff(torch.cat([bag_starts, torch.tensor([len(rows)])]))
        _, where, times = torch.unique(rows, return_inverse=True, return_counts=True)
        share = (1.0 / times.float())[where]  # a row in k bags of the batch gets the mean of their gradients
        st.syn0.index_add_(0, rows, torch.repeat_interleave(grad, lengths, dim=0) * share[:, None])
        loss_sum, terms = loss_sum + loss, terms + k
    return loss_sum, float(terms), float(raw), float(n)
