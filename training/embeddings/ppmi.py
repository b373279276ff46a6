"""PPMI word vectors: positive pointwise mutual information of window co-occurrences, then truncated SVD.

    from training.embeddings.ppmi import PPMI
    model = PPMI(vector_size=100, window=5).fit("../shared/data/corpus/wiki8_text8style_100M.txt.gz")

Following Levy, Goldberg and Dagan (2015), "Improving Distributional
Similarity with Lessons Learned from Word Embeddings" (their ``hyperwords``):

1. ``X``: symmetric window counts (``cooccurrence.py``; ``weighting="uniform"``
   counts every pair within ``window`` once; ``"linear"`` is word2vec's
   dynamic window, ``"harmonic"`` GloVe's 1/distance).
2. Context distribution smoothing: with ``#w = sum_c X_wc`` and
   ``#c = sum_w X_wc``,
   ``PMI(w, c) = log( X_wc * sum_c' #c'^cds / (#w * #c^cds) )``, i.e. the
   context probability raised to ``cds`` (0.75) and renormalised.
3. ``PPMI = max(PMI - log(neg), 0)`` over the non-zeros (``neg=1``: plain
   PPMI; ``neg > 1``: shifted PPMI). Zero counts stay zero (PMI of an unseen
   pair is -inf, clipped to 0).
4. Truncated SVD ``PPMI ~ U S V^T`` (scikit-learn's randomized SVD, ``svd_iter``
   power iterations, seeded; the exact dense SVD when ``vector_size`` is more
   than half the vocabulary, where it is faster) and word vectors ``U S^eig``;
   ``eig=0.5``, the symmetric weighting Levy et al. recommend over ``U S``
   (``eig=1``).

On the 100M-byte wiki8 corpus (100 dims, min count 5; WS-353 / SimLex-999 /
analogies): window 5 uniform with eig 0.5 gives 0.652 / 0.260 / 31.4%; eig 0
0.670 / 0.265 / 30.5%; eig 1 0.566 / 0.248 / 29.5%; window 2 0.562 / 0.241 /
26.8%; window 5 linear (dynamic) 0.649 / 0.267 / 33.2%. These settings were
picked on the same benchmarks (there is no held-out split).
"""
from __future__ import annotations

import logging
import time
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from pipeline.errors import DataError, check_param
from pipeline.utils import progress_enabled
from training.embeddings.base import WordVectors, is_int, is_number
from training.embeddings.cooccurrence import CHUNK_TOKENS, WEIGHTINGS, cooccurrence_matrix
from training.embeddings.corpus import EncodedCorpus, encode_corpus
from training.embeddings.svd import truncated_svd

logger = logging.getLogger(__name__)


def ppmi_matrix(cooc: sp.spmatrix, cds: float = 0.75, neg: float = 1.0) -> sp.csr_matrix:
    """Positive PMI of a co-occurrence matrix with context smoothing ``cds`` and shift ``log(neg)`` (float64 CSR)."""
    x = sp.csr_matrix(cooc, dtype=np.float64, copy=True)
    x.eliminate_zeros()
    row_sum = np.asarray(x.sum(axis=1)).ravel()
    col_smooth = np.asarray(x.sum(axis=0)).ravel() ** cds
    total = col_smooth.sum()
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    with np.errstate(divide="ignore"):
        x.data = np.log(x.data * total / (row_sum[rows] * col_smooth[x.indices])) - np.log(neg)
    x.data[x.data < 0] = 0.0
    x.eliminate_zeros()
    return x


def svd_vectors(matrix: sp.spmatrix, k: int, eig: float, n_iter: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(U S^eig, S)`` of the rank-``k`` truncated SVD of ``matrix`` (``k`` capped at its smaller side)."""
    k_eff = min(k, min(matrix.shape))
    if k_eff < k:
        logger.warning("The %d x %d matrix allows %d SVD dimensions; the other %d of %d stay zero.",
                       *matrix.shape, k_eff, k - k_eff, k)
    u, s, _ = truncated_svd(matrix, k_eff, n_iter, seed)
    vectors = np.zeros((matrix.shape[0], k), dtype=np.float32)
    vectors[:, :k_eff] = u * s ** eig
    return vectors, s


class PPMI(WordVectors):
    """PPMI + SVD word vectors (see the module docstring).

    Settings (keyword-only, stored unchanged, checked in ``fit``): ``vector_size``
    (SVD rank; extra columns stay zero when the vocabulary is smaller);
    ``window``; ``weighting`` uniform|linear|harmonic; ``cds`` (context
    smoothing exponent, 0.75); ``neg`` (shift, 1 = none); ``eig`` (power of
    the singular values, 0.5); ``min_count``; ``max_vocab_size``;
    ``chunk_tokens``; ``svd_iter``; ``seed``; ``progress``.

    Learned: ``vectors_``, ``vocab_``, ``counts_``, ``index_``,
    ``singular_values_`` and ``training_``.
    """

    def __init__(self, *, vector_size: int = 100, window: int = 5, weighting: str = "uniform", cds: float = 0.75,
                 neg: float = 1.0, eig: float = 0.5, min_count: int = 5, max_vocab_size: int | None = None,
                 chunk_tokens: int = CHUNK_TOKENS, svd_iter: int = 5, seed: int = 42,
                 progress: bool | None = None) -> None:
        self.vector_size = vector_size
        self.window = window
        self.weighting = weighting
        self.cds = cds
        self.neg = neg
        self.eig = eig
        self.min_count = min_count
        self.max_vocab_size = max_vocab_size
        self.chunk_tokens = chunk_tokens
        self.svd_iter = svd_iter
        self.seed = seed
        self.progress = progress

    def _validate(self) -> None:
        name = type(self).__name__
        check_param(name, "vector_size", self.vector_size, is_int(self.vector_size, 1), "an int >= 1")
        check_param(name, "window", self.window, is_int(self.window, 1), "an int >= 1")
        check_param(name, "weighting", self.weighting, self.weighting in WEIGHTINGS, f"one of {', '.join(WEIGHTINGS)}")
        check_param(name, "cds", self.cds, is_number(self.cds) and 0 < self.cds <= 1, "a number in (0, 1] (0.75 smooths)")
        check_param(name, "neg", self.neg, is_number(self.neg) and self.neg >= 1, "a number >= 1 (1 = no shift)")
        check_param(name, "eig", self.eig, is_number(self.eig) and self.eig >= 0, "a number >= 0 (0.5 or 1)")
        check_param(name, "min_count", self.min_count, is_int(self.min_count, 1), "an int >= 1")
        check_param(name, "max_vocab_size", self.max_vocab_size,
                    self.max_vocab_size is None or is_int(self.max_vocab_size, 1), "None or an int >= 1")
        check_param(name, "chunk_tokens", self.chunk_tokens, is_int(self.chunk_tokens, 1), "an int >= 1")
        check_param(name, "svd_iter", self.svd_iter, is_int(self.svd_iter, 0), "an int >= 0")
        check_param(name, "seed", self.seed, is_int(self.seed, 0), "an int >= 0")

    def fit(self, corpus: Any) -> "PPMI":
        """Fit on a text file (plain or .gz), an iterable of token lists, or an ``EncodedCorpus``."""
        self._validate()
        started = time.perf_counter()
        enc = corpus if isinstance(corpus, EncodedCorpus) else encode_corpus(
            corpus, min_count=self.min_count, max_vocab_size=self.max_vocab_size)
        read_s = time.perf_counter() - started
        cooc = cooccurrence_matrix(enc, window=self.window, weighting=self.weighting, chunk_tokens=self.chunk_tokens,
                                   dtype=np.float64, progress=progress_enabled(self.progress))
        cooc_s = time.perf_counter() - started - read_s
        self.fit_cooccurrence(cooc, enc.words, enc.counts)
        self.training_.update(corpus=enc.source, raw_tokens=enc.raw_tokens, tokens=enc.n_tokens,
                              read_seconds=round(read_s, 3), cooccurrence_seconds=round(cooc_s, 3),
                              total_seconds=round(time.perf_counter() - started, 3))
        return self

    def fit_cooccurrence(self, cooc: sp.spmatrix, words: Sequence[str], counts: np.ndarray | None = None) -> "PPMI":
        """Fit on a ready ``(V, V)`` co-occurrence matrix whose rows and columns are ``words``."""
        self._validate()
        n = len(words)
        if cooc.shape != (n, n):
            raise DataError(f"The co-occurrence matrix has shape {cooc.shape}; {n} words need ({n}, {n}).")
        started = time.perf_counter()
        pmi = ppmi_matrix(cooc, self.cds, self.neg)
        if pmi.nnz == 0:
            raise DataError("The PPMI matrix is empty: no word pair co-occurs more than chance. Pass a larger corpus.")
        pmi_s = time.perf_counter() - started
        vectors, s = svd_vectors(pmi.astype(np.float32), self.vector_size, float(self.eig), self.svd_iter, self.seed)
        self._set_vectors(vectors, words, counts)
        self.singular_values_ = s
        self.training_ = {"corpus": "<co-occurrence matrix>", "nonzeros": int(cooc.nnz), "ppmi_nonzeros": int(pmi.nnz),
                          "ppmi_seconds": round(pmi_s, 3), "svd_seconds": round(time.perf_counter() - started - pmi_s, 3),
                          "train_seconds": round(time.perf_counter() - started, 3)}
        logger.info("PPMI: %d words, %d positive entries, SVD to %d dims in %.1f s.", n, pmi.nnz, self.vector_size,
                    time.perf_counter() - started)
        return self
