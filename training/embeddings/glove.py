"""GloVe (Pennington et al. 2014), in the package: weighted least squares on log co-occurrences.

    from training.embeddings.glove import GloVe
    model = GloVe(vector_size=100, window=10, epochs=25).fit("../shared/data/corpus/wiki8_text8style_100M.txt.gz")
    model.most_similar("france")

What ``fit`` does: read the corpus into int32 ids (``corpus.py``), optionally
drop frequent words once (``sample > 0``: word2vec's subsampling, drawn with
``seed``; not in glove.c, off by default; on the 17M-token wiki8 corpus it
raises WS-353 by about 0.03, see ``configs/embeddings/glove.yaml``), count
co-occurrences over a symmetric ``window`` weighted by ``1/distance``
(``cooccurrence.py``: sparse, in chunks), then minimise

    J = sum_{ij: X_ij > 0} f(X_ij) (w_i . c_j + b_i + b~_j - log X_ij)^2,
    f(x) = min(1, (x / x_max) ** alpha)

with AdaGrad over the non-zeros, shuffled at every epoch, ``epochs`` times.
The update is glove.c's: the gradient is scaled by ``eta`` first, every
parameter has its own accumulator starting at 1 (``p -= g / sqrt(G); G +=
g^2``), vectors and biases start uniform in ``[-0.5, 0.5] / vector_size``.
The word vectors are ``w_i + c_i`` (the paper's "W + W~").

``init="pmi"`` starts AdaGrad from the spectral solution of the same loss
instead (not in glove.c). With ``X_i = sum_j X_ij`` and ``N = sum_i X_i``,
``log X_ij = PMI(i, j) + b_i + b_j`` exactly for ``b_i = log X_i - log(N) / 2``;
the biases start there, and the vectors at the rank-``vector_size``
truncated SVD ``U S V^T`` of the PMI of the counted pairs (uncounted pairs
0), ``w = U S^(1/2)``, ``c = V S^(1/2)``. Training then minimises ``J`` as
above. On the 17M-token wiki8 corpus (shipped config, four runs each) it ends
at a lower loss than any random start, with WS-353 0.617-0.635 (mean 0.629)
against 0.581-0.619 (mean 0.600) and analogies about a point lower; the SVD
takes about 4 minutes there (see ``configs/embeddings/glove.yaml``).

Backends (``backend="auto"`` picks the first that works):

- ``"compiled"``: the C++ kernel of ``glove_kernel.py``; ``workers`` threads
  each take a fixed share of the entries (dealt at random once), shuffle it
  at the start of every epoch and update the shared matrices without locks
  (Hogwild, as glove.c's pthreads).
- ``"torch"``: one thread, mini-batches of ``batch_entries`` entries: the
  gradients of rows that occur several times in a batch are summed before
  the AdaGrad step (the sequential update to first order).

With ``workers > 1`` results vary slightly between runs (Hogwild races); with
``workers=1`` and a fixed ``seed`` they are reproducible.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from pipeline.errors import ConfigError, DataError, check_param
from pipeline.utils import progress_enabled
from training.embeddings.base import WordVectors, is_int, is_number
from training.embeddings.cooccurrence import CHUNK_TOKENS, cooccurrence_matrix
from training.embeddings.corpus import EncodedCorpus, encode_corpus
from training.embeddings.glove_kernel import load_glove_kernel
from training.embeddings.kernel import kernel_for_backend
from training.embeddings.sampling import SAMPLE_RULES, subsample_corpus
from training.embeddings.svd import truncated_svd

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "compiled", "torch")
INITS = ("random", "pmi")
ENTRY = np.dtype([("row", "<i4"), ("col", "<i4"), ("logx", "<f4"), ("fx", "<f4")])
JOB_ENTRIES = 1 << 20  # entries per kernel call (progress granularity)


def glove_entries(cooc: sp.spmatrix, x_max: float, alpha: float, block: int = 1 << 22) -> np.ndarray:
    """The non-zeros of ``cooc`` as ``ENTRY`` records: row, col, log x and the weight f(x) (row-major order).

    Built in blocks from the CSR arrays, so the only large temporaries are the
    16-byte records themselves (81M non-zeros: 1.3 GB beside the 0.65 GB matrix).
    """
    csr = sp.csr_matrix(cooc)
    if csr.nnz and (csr.data == 0).any():  # stored zeros are not co-occurrences
        csr = csr.copy()
        csr.eliminate_zeros()
    entries = np.empty(csr.nnz, dtype=ENTRY)
    entries["row"] = np.repeat(np.arange(csr.shape[0], dtype=np.int32), np.diff(csr.indptr))
    entries["col"] = csr.indices
    for s in range(0, csr.nnz, block):
        x = csr.data[s:s + block].astype(np.float64)
        if x.min() <= 0:
            raise DataError(f"GloVe needs co-occurrence counts >= 0. Got {x.min()}.")
        entries["logx"][s:s + block] = np.log(x)
        entries["fx"][s:s + block] = np.minimum(1.0, (x / x_max) ** alpha)
    return entries


def pmi_start(entries: np.ndarray, w: np.ndarray, c: np.ndarray, n_iter: int,
              seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The spectral start of ``init="pmi"`` (module docstring): ``(w, c, bias)``.

    ``w`` and ``c`` are the random starts (not modified), returned as copies
    whose first ``rank = min(columns, words)`` columns are ``U S^(1/2)`` and
    ``V S^(1/2)``; the bias ``log X_i - log(N) / 2`` is for both tables. Words
    without a pair keep their random vectors and get a zero bias.
    """
    n_words = w.shape[0]
    rows, cols = entries["row"], entries["col"]
    logx = entries["logx"].astype(np.float64)
    totals = np.bincount(rows, weights=np.exp(logx), minlength=n_words)
    seen = totals > 0
    log_totals = np.log(np.where(seen, totals, 1.0))
    half_log_n = 0.5 * np.log(totals.sum())
    pmi = sp.csr_matrix((logx - log_totals[rows] - log_totals[cols] + 2 * half_log_n, (rows, cols)),
                        shape=(n_words, n_words))
    rank = min(w.shape[1], n_words)
    u, s, vt = truncated_svd(pmi, rank, n_iter, seed)
    del pmi
    w, c = w.copy(), c.copy()
    root = np.sqrt(s)
    w[seen, :rank], c[seen, :rank] = (u * root)[seen], (vt.T * root)[seen]
    return w, c, np.where(seen, log_totals - half_log_n, 0.0).astype(np.float32)


class GloVe(WordVectors):
    """GloVe estimator (see the module docstring).

    Settings (keyword-only, stored unchanged, checked in ``fit``): ``vector_size``;
    ``window`` (symmetric, 1/distance weights; 10 as in the paper);
    ``x_max`` and ``alpha`` of the weighting function (100 and 0.75);
    ``eta`` the AdaGrad learning rate (0.05); ``epochs``; ``min_count``;
    ``sample`` (subsampling threshold t applied once before counting, 0 = off)
    and ``sample_rule`` (paper | word2vec, see ``sampling.py``);
    ``init`` random|pmi (the starting point, see the module docstring) and
    ``svd_iter`` (power iterations of its randomized SVD; not used where
    ``vector_size`` is over half the vocabulary and the SVD is the exact one);
    ``max_vocab_size``; ``chunk_tokens`` (tokens per counting chunk);
    ``batch_entries`` (torch backend mini-batch); ``workers``; ``seed``;
    ``backend`` auto|compiled|torch; ``progress`` (None: on a TTY).

    Learned: ``vectors_`` (word + context vectors), ``vocab_``, ``counts_``,
    ``index_``, ``training_`` (corpus, non-zeros, seconds, loss per epoch).
    """

    def __init__(self, *, vector_size: int = 100, window: int = 10, x_max: float = 100.0, alpha: float = 0.75,
                 eta: float = 0.05, epochs: int = 25, min_count: int = 5, max_vocab_size: int | None = None,
                 sample: float = 0.0, sample_rule: str = "paper", init: str = "random", svd_iter: int = 5,
                 chunk_tokens: int = CHUNK_TOKENS, batch_entries: int = 4096, workers: int = 2, seed: int = 42,
                 backend: str = "auto", progress: bool | None = None) -> None:
        self.vector_size = vector_size
        self.window = window
        self.x_max = x_max
        self.alpha = alpha
        self.eta = eta
        self.epochs = epochs
        self.min_count = min_count
        self.max_vocab_size = max_vocab_size
        self.sample = sample
        self.sample_rule = sample_rule
        self.init = init
        self.svd_iter = svd_iter
        self.chunk_tokens = chunk_tokens
        self.batch_entries = batch_entries
        self.workers = workers
        self.seed = seed
        self.backend = backend
        self.progress = progress

    def _validate(self) -> None:
        name = type(self).__name__
        check_param(name, "vector_size", self.vector_size, is_int(self.vector_size, 1), "an int >= 1")
        check_param(name, "window", self.window, is_int(self.window, 1), "an int >= 1")
        check_param(name, "x_max", self.x_max, is_number(self.x_max) and self.x_max > 0, "a number > 0 (100 in the paper)")
        check_param(name, "alpha", self.alpha, is_number(self.alpha) and self.alpha > 0, "a number > 0 (0.75 in the paper)")
        check_param(name, "eta", self.eta, is_number(self.eta) and self.eta > 0, "a number > 0 (0.05 in the paper)")
        check_param(name, "epochs", self.epochs, is_int(self.epochs, 1), "an int >= 1")
        check_param(name, "min_count", self.min_count, is_int(self.min_count, 1), "an int >= 1")
        check_param(name, "max_vocab_size", self.max_vocab_size,
                    self.max_vocab_size is None or is_int(self.max_vocab_size, 1), "None or an int >= 1")
        check_param(name, "sample", self.sample, is_number(self.sample) and 0 <= self.sample < 1, "a number in [0, 1) (0 = off)")
        check_param(name, "sample_rule", self.sample_rule, self.sample_rule in SAMPLE_RULES, f"one of {', '.join(SAMPLE_RULES)}")
        check_param(name, "init", self.init, self.init in INITS, f"one of {', '.join(INITS)}")
        check_param(name, "svd_iter", self.svd_iter, is_int(self.svd_iter, 0), "an int >= 0")
        check_param(name, "chunk_tokens", self.chunk_tokens, is_int(self.chunk_tokens, 1), "an int >= 1")
        check_param(name, "batch_entries", self.batch_entries, is_int(self.batch_entries, 1), "an int >= 1")
        check_param(name, "workers", self.workers, is_int(self.workers, 1), "an int >= 1")
        check_param(name, "seed", self.seed, is_int(self.seed, 0), "an int >= 0")
        check_param(name, "backend", self.backend, self.backend in BACKENDS, f"one of {', '.join(BACKENDS)}")

    def _kernel(self) -> Any | None:
        return kernel_for_backend(load_glove_kernel, self.backend, "GloVe")

    # ----- training ---------------------------------------------------------------------
    def fit(self, corpus: Any) -> "GloVe":
        """Train on a text file (plain or .gz), an iterable of token lists, or an ``EncodedCorpus``."""
        self._validate()
        started = time.perf_counter()
        enc = corpus if isinstance(corpus, EncodedCorpus) else encode_corpus(
            corpus, min_count=self.min_count, max_vocab_size=self.max_vocab_size)
        read_s = time.perf_counter() - started
        n_tokens = enc.n_tokens
        if self.sample > 0:
            enc = subsample_corpus(enc, float(self.sample), self.sample_rule, np.random.default_rng(self.seed))
            logger.info("GloVe: subsampling (t=%g) kept %d of %d tokens.", self.sample, enc.n_tokens, n_tokens)
        cooc = cooccurrence_matrix(enc, window=self.window, weighting="harmonic", chunk_tokens=self.chunk_tokens,
                                   progress=progress_enabled(self.progress))
        cooc_s = time.perf_counter() - started - read_s
        entries = glove_entries(cooc, float(self.x_max), float(self.alpha))
        del cooc  # the entries hold everything training needs
        self._fit_entries(entries, enc.words, enc.counts)
        self.training_.update(corpus=enc.source, raw_tokens=enc.raw_tokens, tokens=n_tokens, tokens_counted=enc.n_tokens,
                              read_seconds=round(read_s, 3), cooccurrence_seconds=round(cooc_s, 3),
                              total_seconds=round(time.perf_counter() - started, 3))
        return self

    def fit_cooccurrence(self, cooc: sp.spmatrix, words: Sequence[str], counts: np.ndarray | None = None) -> "GloVe":
        """Train on a ready ``(V, V)`` co-occurrence matrix whose rows and columns are ``words``."""
        self._validate()
        n_words = len(words)
        if cooc.shape != (n_words, n_words):
            raise DataError(f"The co-occurrence matrix has shape {cooc.shape}; {n_words} words need ({n_words}, {n_words}).")
        return self._fit_entries(glove_entries(cooc, float(self.x_max), float(self.alpha)), words, counts)

    def _fit_entries(self, entries: np.ndarray, words: Sequence[str], counts: np.ndarray | None) -> "GloVe":
        kernel = self._kernel()
        n_words, dim = len(words), self.vector_size
        if len(entries) == 0:
            raise DataError("The co-occurrence matrix is empty: no two words share a window. Pass a larger corpus.")
        started = time.perf_counter()
        rng = np.random.default_rng(self.seed)
        # Word and context tables: dim vector columns plus the bias; AdaGrad accumulators start at 1 (glove.c).
        w = ((rng.random((n_words, dim + 1), dtype=np.float32) - 0.5) / dim).astype(np.float32)
        c = ((rng.random((n_words, dim + 1), dtype=np.float32) - 0.5) / dim).astype(np.float32)
        if self.init == "pmi":
            w[:, :dim], c[:, :dim], bias = pmi_start(entries, w[:, :dim], c[:, :dim], self.svd_iter, self.seed)
            w[:, dim] = c[:, dim] = bias
            logger.info("GloVe: PMI start (rank %d) in %.1f s.", min(dim, n_words), time.perf_counter() - started)
        init_s = time.perf_counter() - started
        gw, gc = np.ones_like(w), np.ones_like(c)
        bar = tqdm(total=self.epochs * len(entries), unit="pair", unit_scale=True, desc="GloVe",
                   disable=not progress_enabled(self.progress), smoothing=0.1)
        try:
            if kernel is not None:
                losses = self._run_compiled(kernel, entries, w, c, gw, gc, bar)
            else:
                losses = self._run_torch(entries, w, c, gw, gc, bar)
        finally:
            bar.close()
        train_s = time.perf_counter() - started
        self._set_vectors(w[:, :dim] + c[:, :dim], words, counts)
        self.bias_ = (w[:, dim] + c[:, dim]).copy()
        self.training_ = {
            "corpus": "<co-occurrence matrix>", "nonzeros": int(len(entries)),
            "backend": "compiled" if kernel is not None else "torch", "init": self.init,
            "init_seconds": round(init_s, 3), "train_seconds": round(train_s, 3),  # the start included
            "entries_per_second": round(self.epochs * len(entries) / max(train_s - init_s, 1e-9)), "epoch_loss": losses,
        }
        logger.info("GloVe: %d words, %d non-zeros x %d epochs in %.1f s (%s backend); loss %s -> %s.",
                    n_words, len(entries), self.epochs, train_s, self.training_["backend"], losses[0], losses[-1])
        return self

    def _run_compiled(self, kernel: Any, entries: np.ndarray, w: np.ndarray, c: np.ndarray, gw: np.ndarray,
                      gc: np.ndarray, bar: tqdm) -> list[float]:
        n = len(entries)
        kernel.shuffle(entries.ctypes.data, 0, n, self.seed * 1_000_003 + 17)  # deal the entries at random once
        bounds = np.linspace(0, n, self.workers + 1).astype(np.int64)
        ptrs = (entries.ctypes.data, w.ctypes.data, c.ctypes.data, gw.ctypes.data, gc.ctypes.data)
        lock = threading.Lock()
        losses: list[float] = []
        errors: list[BaseException] = []
        for epoch in range(self.epochs):
            cost = [0.0] * self.workers

            def work(t: int) -> None:
                b, e = int(bounds[t]), int(bounds[t + 1])
                try:
                    kernel.shuffle(ptrs[0], b, e, self.seed * 1_000_003 + epoch * 7919 + t + 1)
                    for s in range(b, e, JOB_ENTRIES):
                        stop = min(e, s + JOB_ENTRIES)
                        cost[t] += kernel.train(ptrs[0], s, stop, *ptrs[1:], self.vector_size, float(self.eta))
                        with lock:
                            bar.update(stop - s)
                except BaseException as exc:  # surface worker errors in the caller
                    errors.append(exc)

            threads = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(self.workers)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            if errors:
                raise errors[0]
            losses.append(self._end_epoch(epoch, sum(cost) / n, bar, w, c))
        return losses

    def _run_torch(self, entries: np.ndarray, w: np.ndarray, c: np.ndarray, gw: np.ndarray, gc: np.ndarray,
                   bar: tqdm) -> list[float]:
        n, dim, eta = len(entries), self.vector_size, float(self.eta)
        rows = torch.from_numpy(entries["row"].astype(np.int64))
        cols = torch.from_numpy(entries["col"].astype(np.int64))
        logx = torch.from_numpy(np.ascontiguousarray(entries["logx"]))
        fx = torch.from_numpy(np.ascontiguousarray(entries["fx"]))
        tables = [torch.from_numpy(a) for a in (w, c, gw, gc)]  # share memory with the numpy arrays
        gen = torch.Generator().manual_seed(self.seed)
        losses: list[float] = []
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for epoch in range(self.epochs):
                order = torch.randperm(n, generator=gen)
                cost = 0.0
                for s in range(0, n, self.batch_entries):
                    idx = order[s:s + self.batch_entries]
                    cost += _torch_step(rows[idx], cols[idx], logx[idx], fx[idx], *tables, dim, eta)
                    bar.update(len(idx))
                losses.append(self._end_epoch(epoch, cost / n, bar, w, c))
        finally:
            torch.set_num_threads(threads)
        return losses

    def _end_epoch(self, epoch: int, loss: float, bar: tqdm, w: np.ndarray, c: np.ndarray) -> float:
        # The loss per entry starts below ~0.5 log(x)^2 (< 100); a huge or non-finite one, or a non-finite
        # parameter (the kernel skips entries whose diff is not finite), means the step size was too large.
        if not (np.isfinite(loss) and loss < 1e4 and np.isfinite(w).all() and np.isfinite(c).all()):
            raise ConfigError(f"GloVe diverged in epoch {epoch + 1} (mean loss {loss:.4g}): the 'eta' parameter "
                              f"{self.eta!r} is too large. Lower it (0.05 in the paper).")
        bar.set_postfix(loss=f"{loss:.4f}", epoch=epoch + 1, refresh=False)
        logger.info("GloVe epoch %d/%d: loss %.5f", epoch + 1, self.epochs, loss)
        return round(float(loss), 6)


def _torch_step(r: torch.Tensor, k: torch.Tensor, logx: torch.Tensor, fx: torch.Tensor, w: torch.Tensor,
                c: torch.Tensor, gw: torch.Tensor, gc: torch.Tensor, dim: int, eta: float) -> float:
    """One mini-batch of glove.c's AdaGrad update; gradients of repeated rows are summed. Returns the batch loss."""
    wi, ck = w[r], c[k]
    diff = (wi[:, :dim] * ck[:, :dim]).sum(1) + wi[:, dim] + ck[:, dim] - logx
    fdiff = fx * diff
    cost = float(0.5 * (fdiff * diff).sum())
    g = (eta * fdiff).unsqueeze(1)
    ones = torch.ones_like(g)
    for table, acc, idx, other in ((w, gw, r, ck), (c, gc, k, wi)):
        grad = g * torch.cat([other[:, :dim], ones], dim=1)  # d/dw = g c, d/db = g
        uniq, inv = torch.unique(idx, return_inverse=True)
        summed = torch.zeros((len(uniq), dim + 1), dtype=grad.dtype).index_add_(0, inv, grad)
        table[uniq] -= summed / acc[uniq].sqrt()
        acc[uniq] += summed * summed
    return cost
