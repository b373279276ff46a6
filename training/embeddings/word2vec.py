"""word2vec (skip-gram and CBOW; negative sampling or hierarchical softmax), in the package.

    from training.embeddings import Word2Vec
    model = Word2Vec(arch="skipgram", loss="ns", epochs=5).fit("../shared/data/corpus/wiki8_text8style_100M.txt.gz")
    model.most_similar("france"); model.analogy("man", "king", "woman")

What ``fit`` does: read the corpus once into int32 ids (``corpus.py``), build
the subsampling thresholds, the unigram**0.75 table and (for ``loss="hs"``)
the Huffman tree, then run ``epochs`` passes of SGD over jobs of about
``batch_words`` tokens, with the learning rate decaying linearly from
``alpha`` to ``min_alpha`` over all epochs (the rate of a job follows its
position in the whole run, so it does not depend on thread timing).

Two backends (``backend="auto"`` picks the first that works):

- ``"compiled"``: the C++ kernel of ``kernel.py`` (built once with
  ``torch.utils.cpp_extension``), run by ``workers`` Python threads that
  release the GIL: Hogwild SGD exactly like word2vec.c and gensim.
- ``"torch"``: vectorised mini-batch SGD in torch (``sgd.py``), for machines
  without a compiler; same pairs and schedule, one thread, about 6x more CPU
  per word than the kernel (so ~12x slower than two kernel threads).

Speed (100M-byte wiki8, 5 epochs, 2 threads, see
``benchmarks/word2vec_vs_gensim.py``): skip-gram-NS runs at gensim 4.4's speed
(1.03x its words/s, 0.99x per CPU-second), CBOW-NS at 1.7x (1.5x per
CPU-second: gensim pays a BLAS call per context word). What limits it is
memory, not arithmetic. One output update (a dot and an axpy over 100 floats,
plus drawing the negative) costs 95 ns of CPU when the matrices fit in cache
(a 500-word vocabulary, one thread), 193 ns with the real vocabulary (29k
words on 20 MB of wiki8: negatives pick random rows of an 11 MB matrix, so
most miss the cache) and 271 ns with two threads (Hogwild: both threads write
the rows of the frequent words, so cache lines bounce between the cores; with
the 500-word vocabulary two threads cost 225 ns), so two threads finish
only ~1.4x sooner than one, although both cores are kept busy. Python costs
one call per ~10,000 words. Drawing a negative is a ~16-step binary search
(an alias table would make it O(1); not tried). Going much faster needs a
different algorithm (negatives shared across a window, so that the pairs
become small matrix products, as in Intel's pWord2Vec), not a faster loop.
With ``workers > 1`` results vary slightly between runs (Hogwild races);
with ``workers=1`` and a fixed ``seed`` they are reproducible.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Sequence

import numpy as np
import torch

from pipeline.errors import check_param
from training.embeddings.base import WordVectors, is_int, is_number
from training.embeddings.corpus import EncodedCorpus, encode_corpus
from training.embeddings.huffman import build_huffman
from training.embeddings.jobs import run_jobs
from training.embeddings.kernel import kernel_for_backend, load_kernel
from training.embeddings.sampling import SAMPLE_RULES, keep_probabilities, keep_thresholds, negative_cum_table
from training.embeddings.sgd import TrainState, run_job_compiled, run_job_torch

logger = logging.getLogger(__name__)

ARCHS = ("skipgram", "cbow")
LOSSES = ("ns", "hs")
BACKENDS = ("auto", "compiled", "torch")


def job_bounds(sentence_ends: np.ndarray, batch_words: int) -> np.ndarray:
    """Sentence indices where jobs start (plus the end): runs of whole sentences of about ``batch_words`` tokens."""
    block = (np.concatenate([[0], sentence_ends[:-1]]) // batch_words)
    starts = np.flatnonzero(np.diff(np.concatenate([[-1], block])) != 0)
    return np.concatenate([starts, [len(sentence_ends)]]).astype(np.int64)


class Word2Vec(WordVectors):
    """word2vec estimator (see the module docstring).

    Settings (keyword-only, stored unchanged, checked in ``fit``): ``vector_size``;
    ``window`` (largest; each centre word draws its own from 1..window);
    ``arch`` skipgram|cbow (cbow: mean of the context vectors); ``loss`` ns|hs;
    ``negative`` samples per pair and ``ns_exponent`` of the unigram
    distribution; ``sample`` threshold t and ``sample_rule`` (``paper``: keep
    ``sqrt(t/f)``; ``word2vec``: keep ``sqrt(t/f) + t/f`` like gensim);
    ``min_count``; ``max_vocab_size`` (keep the most frequent words after
    min_count); ``epochs``; ``alpha`` (None: 0.025 skipgram, 0.05 cbow) decaying
    linearly to ``min_alpha``; ``batch_words`` (tokens per job); ``workers``
    threads; ``seed``; ``backend`` auto|compiled|torch; ``progress`` (None: on a TTY).

    Learned: ``vectors_``, ``vocab_``, ``counts_``, ``index_`` and ``training_``
    (corpus, token counts, backend, seconds, words/s, mean loss per epoch).
    """

    def __init__(self, *, vector_size: int = 100, window: int = 5, arch: str = "skipgram", loss: str = "ns",
                 negative: int = 5, ns_exponent: float = 0.75, sample: float = 1e-4, sample_rule: str = "paper",
                 min_count: int = 5, max_vocab_size: int | None = None, epochs: int = 5, alpha: float | None = None,
                 min_alpha: float = 1e-4, batch_words: int = 10000, workers: int = 2, seed: int = 42,
                 backend: str = "auto", progress: bool | None = None) -> None:
        self.vector_size = vector_size
        self.window = window
        self.arch = arch
        self.loss = loss
        self.negative = negative
        self.ns_exponent = ns_exponent
        self.sample = sample
        self.sample_rule = sample_rule
        self.min_count = min_count
        self.max_vocab_size = max_vocab_size
        self.epochs = epochs
        self.alpha = alpha
        self.min_alpha = min_alpha
        self.batch_words = batch_words
        self.workers = workers
        self.seed = seed
        self.backend = backend
        self.progress = progress

    # ----- settings ---------------------------------------------------------------------
    def _validate(self) -> None:
        name = type(self).__name__
        check_param(name, "vector_size", self.vector_size, is_int(self.vector_size, 1), "an int >= 1")
        check_param(name, "window", self.window, is_int(self.window, 1), "an int >= 1")
        check_param(name, "arch", self.arch, self.arch in ARCHS, f"one of {', '.join(ARCHS)}")
        check_param(name, "loss", self.loss, self.loss in LOSSES, f"one of {', '.join(LOSSES)}")
        check_param(name, "negative", self.negative, is_int(self.negative, 1 if self.loss == "ns" else 0),
                    "an int >= 1 with loss='ns'")
        check_param(name, "ns_exponent", self.ns_exponent, is_number(self.ns_exponent), "a number (0.75 in word2vec)")
        check_param(name, "sample", self.sample, is_number(self.sample) and 0 <= self.sample < 1, "a float in [0, 1)")
        check_param(name, "sample_rule", self.sample_rule, self.sample_rule in SAMPLE_RULES, f"one of {', '.join(SAMPLE_RULES)}")
        check_param(name, "min_count", self.min_count, is_int(self.min_count, 1), "an int >= 1")
        check_param(name, "max_vocab_size", self.max_vocab_size,
                    self.max_vocab_size is None or is_int(self.max_vocab_size, 1), "None or an int >= 1")
        check_param(name, "epochs", self.epochs, is_int(self.epochs, 1), "an int >= 1")
        check_param(name, "alpha", self.alpha, self.alpha is None or (is_number(self.alpha) and self.alpha > 0),
                    "None (0.025 for skipgram, 0.05 for cbow) or a float > 0")
        check_param(name, "min_alpha", self.min_alpha, is_number(self.min_alpha) and self.min_alpha >= 0, "a float >= 0")
        check_param(name, "batch_words", self.batch_words, is_int(self.batch_words, 1), "an int >= 1")
        check_param(name, "workers", self.workers, is_int(self.workers, 1), "an int >= 1")
        check_param(name, "seed", self.seed, is_int(self.seed, 0), "an int >= 0")
        check_param(name, "backend", self.backend, self.backend in BACKENDS, f"one of {', '.join(BACKENDS)}")

    @property
    def alpha_start(self) -> float:
        return float(self.alpha) if self.alpha is not None else (0.05 if self.arch == "cbow" else 0.025)

    def _kernel(self) -> Any | None:
        return kernel_for_backend(load_kernel, self.backend, "Word2Vec")

    # ----- training ---------------------------------------------------------------------
    def fit(self, corpus: Any) -> "Word2Vec":
        """Train on a text file (plain or .gz), an iterable of token lists, or an ``EncodedCorpus``."""
        self._validate()
        kernel = self._kernel()
        started = time.perf_counter()
        enc = corpus if isinstance(corpus, EncodedCorpus) else encode_corpus(
            corpus, min_count=self.min_count, max_vocab_size=self.max_vocab_size)
        read_s = time.perf_counter() - started
        rng = np.random.default_rng(self.seed)
        n_words, dim = len(enc.words), self.vector_size
        syn0 = torch.from_numpy(((rng.random((n_words, dim), dtype=np.float32) - 0.5) / dim).astype(np.float32))
        hs = self.loss == "hs"
        syn1 = torch.zeros((max(n_words - 1, 1), dim) if hs else (n_words, dim), dtype=torch.float32)
        keep = keep_probabilities(enc.counts, self.sample, self.sample_rule)
        state = TrainState(syn0=syn0, syn1=syn1, ids=np.ascontiguousarray(enc.ids, dtype=np.int32),
                           sentence_ends=np.ascontiguousarray(enc.sentence_ends, dtype=np.int64), keep=keep,
                           keep_u32=keep_thresholds(keep), cum_table=negative_cum_table(enc.counts, self.ns_exponent),
                           tree=build_huffman(enc.counts) if hs else None, cbow=self.arch == "cbow", hs=hs,
                           window=self.window, negative=self.negative)
        bounds = job_bounds(state.sentence_ends, self.batch_words)
        epoch_loss = self._run(state, bounds, kernel)
        train_s = time.perf_counter() - started - read_s
        self._set_vectors(syn0.numpy(), enc.words, enc.counts)
        total = self.epochs * enc.n_tokens
        self.training_ = {
            "corpus": enc.source, "raw_tokens": enc.raw_tokens, "tokens": enc.n_tokens,
            "backend": "compiled" if kernel is not None else "torch", "alpha": self.alpha_start,
            "read_seconds": round(read_s, 3), "train_seconds": round(train_s, 3),
            "words_per_second": round(total / max(train_s, 1e-9)), "epoch_loss": epoch_loss,
        }
        logger.info("Trained %s-%s on %d tokens x %d epochs in %.1f s (%.0f words/s, %s backend).",
                    self.arch, self.loss, enc.n_tokens, self.epochs, train_s, total / max(train_s, 1e-9),
                    self.training_["backend"])
        return self

    def _run(self, st: TrainState, bounds: np.ndarray, kernel: Any | None) -> list[float]:
        def job(b: int, e: int, alpha_begin: float, alpha_end: float, seed: int) -> Sequence[float]:
            args = (b, e, alpha_begin, alpha_end, seed)
            return run_job_compiled(kernel, st, *args) if kernel is not None else run_job_torch(st, *args)

        # The torch fallback runs one thread: its mini-batch ops are too small for intra-op threads (they only
        # add barriers, 12x slower on a busy machine) and a second Python thread loses more to the GIL than it gains.
        return run_jobs(job, st.sentence_ends, bounds, epochs=self.epochs, alpha=self.alpha_start,
                        min_alpha=float(self.min_alpha), seed=self.seed, workers=self.workers,
                        desc=f"word2vec {self.arch}-{self.loss}", progress=self.progress, torch_job=kernel is None)
