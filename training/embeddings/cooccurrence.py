"""Word-word co-occurrence counts over a symmetric window, sparse and built in chunks.

    from training.embeddings.corpus import encode_corpus
    from training.embeddings.cooccurrence import cooccurrence_matrix
    enc = encode_corpus("../shared/data/corpus/wiki8_text8style_100M.txt.gz", min_count=5)
    X = cooccurrence_matrix(enc, window=10, weighting="harmonic")   # GloVe's 1/distance counts, scipy CSR (V, V)

``X[a, b]`` sums, over every pair of tokens ``a`` and ``b`` at distance
``1 <= d <= window`` inside one sentence, the weight of ``d``:

- ``harmonic``: ``1/d`` (GloVe; ``cooccur.c`` with ``distance_weighting=1``);
- ``uniform``: ``1`` (plain window counts, the PPMI default);
- ``linear``: ``(window - d + 1) / window``, the expected weight of
  word2vec's dynamic window (Levy et al. 2015, "dynamic context window").

The matrix is symmetric (each pair is counted in both directions, so a word
next to itself adds ``2 w`` to the diagonal, as in GloVe's symmetric mode).
Windows never cross a sentence end; dropped rare words were already removed
by ``encode_corpus``, so a window reaches over them (word2vec.c, gensim and
GloVe's ``cooccur`` do the same).

Memory: the corpus is cut into chunks of ``chunk_tokens`` left positions.
Each chunk's forward pairs (left word ``i``, right word ``i + d``) become a
COO matrix of about ``chunk_tokens x window`` entries, folded onto the upper
triangle ``(min, max)`` and summed into a CSR matrix by scipy; the chunk
matrices are merged into the running total. Only the upper triangle is kept
while counting (half the non-zeros); ``X = U + U.T`` at the end (the
diagonal doubles, which is the two directions of a self pair). A pair that
straddles two chunks belongs to the chunk of its left token, so the result
does not depend on ``chunk_tokens``. Peak memory is about the final matrix
(12 bytes a non-zero while counting, 8 bytes a non-zero in the float32
result) plus one chunk (16 bytes an entry, 160 MB at the defaults).
"""
from __future__ import annotations

import logging
import time

import numpy as np
import scipy.sparse as sp

from pipeline.errors import check_param
from training.embeddings.corpus import EncodedCorpus

logger = logging.getLogger(__name__)

WEIGHTINGS = ("harmonic", "uniform", "linear")
CHUNK_TOKENS = 1_000_000


def distance_weights(window: int, weighting: str) -> np.ndarray:
    """Weight of a pair at distance ``d = 1..window`` (index ``d - 1``)."""
    check_param("cooccurrence_matrix", "window", window,
                isinstance(window, (int, np.integer)) and not isinstance(window, bool) and window >= 1, "an int >= 1")
    check_param("cooccurrence_matrix", "weighting", weighting, weighting in WEIGHTINGS, f"one of {', '.join(WEIGHTINGS)}")
    d = np.arange(1, window + 1, dtype=np.float64)
    if weighting == "harmonic":
        return 1.0 / d
    if weighting == "linear":
        return (window - d + 1) / window
    return np.ones(window)


def _chunk_upper(ids: np.ndarray, sent_end: np.ndarray, start: int, stop: int, weights: np.ndarray,
                 n_words: int) -> sp.csr_matrix:
    """Upper-triangle counts of the forward pairs whose left token lies in ``[start, stop)``
    (``sent_end[k]``: where the sentence of token ``start + k`` ends)."""
    rows, cols, vals = [], [], []
    n = len(ids)
    for d, w in enumerate(weights, start=1):
        hi = min(stop, n - d)
        if hi <= start:
            break
        ok = np.arange(start + d, hi + d, dtype=np.int64) < sent_end[:hi - start]
        if not ok.any():
            continue
        a, b = ids[start:hi][ok], ids[start + d:hi + d][ok]
        rows.append(np.minimum(a, b))
        cols.append(np.maximum(a, b))
        vals.append(np.full(len(a), w))
    if not rows:
        return sp.csr_matrix((n_words, n_words), dtype=np.float64)
    coo = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                        shape=(n_words, n_words))
    return coo.tocsr()  # sums duplicate (row, col) entries


def cooccurrence_matrix(corpus: EncodedCorpus, *, window: int, weighting: str = "harmonic",
                        chunk_tokens: int = CHUNK_TOKENS, dtype: type = np.float32,
                        progress: bool = False) -> sp.csr_matrix:
    """The symmetric ``(V, V)`` co-occurrence matrix of ``corpus`` (see the module docstring).

    Counting is in float64; the result is cast to ``dtype`` (float32 by default:
    7 significant digits, ample for counts that GloVe takes the log of).
    """
    weights = distance_weights(window, weighting)
    check_param("cooccurrence_matrix", "chunk_tokens", chunk_tokens,
                isinstance(chunk_tokens, (int, np.integer)) and not isinstance(chunk_tokens, bool) and chunk_tokens >= 1,
                "an int >= 1")
    ids = np.ascontiguousarray(corpus.ids, dtype=np.int32)
    n, n_words = len(ids), len(corpus.words)
    ends = np.asarray(corpus.sentence_ends, dtype=np.int64)
    started = time.perf_counter()
    total = sp.csr_matrix((n_words, n_words), dtype=np.float64)
    chunks = range(0, n, chunk_tokens)
    if progress:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, unit="chunk", desc=f"co-occurrences ({weighting}, window {window})")
    for start in chunks:
        stop = min(n, start + chunk_tokens)
        # End of each token's sentence, for the left tokens of this chunk.
        sent_end = ends[np.searchsorted(ends, np.arange(start, stop), side="right")]
        part = _chunk_upper(ids, sent_end, start, stop, weights, n_words)
        total = total + part
        del part
    upper = total.tocsr()
    del total
    full = (upper + upper.T).tocsr().astype(dtype)
    full.sum_duplicates()
    full.sort_indices()
    logger.info("Co-occurrences (%s, window %d) of %d tokens: %d non-zeros in %.1f s.",
                weighting, window, n, full.nnz, time.perf_counter() - started)
    return full
