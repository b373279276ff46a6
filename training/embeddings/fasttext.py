"""fastText (skip-gram, negative sampling, character n-grams), in the package.

    from training.embeddings import FastText
    model = FastText(epochs=5).fit("../shared/data/corpus/wiki8_text8style_100M.txt.gz")
    model.most_similar("refund"); model.most_similar("refnud")   # the misspelling is out of vocabulary
    model.get_vector("refnud")                                   # mean of its n-gram vectors

Bojanowski et al. (2017): a word is represented by its own vector and the
vectors of its character n-grams (``ngrams.py``: n = ``min_n``..``max_n`` of
``<word>``, hashed with fastText's FNV-1a into ``bucket`` buckets). Training
is word2vec's skip-gram with negative sampling (same corpus encoding,
subsampling, unigram**0.75 negatives, shrunk windows, linear learning-rate
decay over all epochs, ``jobs.py``) in which the input of every (centre,
context) pair is the *mean* of the centre word's vector and its n-gram
vectors, and the gradient goes, whole, to each of them (fastText's rule).

After ``fit``:

- ``vectors_`` holds every vocabulary word's full vector (mean of its vector
  and its n-gram vectors): ``get_vector``, ``most_similar``, ``analogy`` and
  the evaluation use these, as gensim's ``FastTextKeyedVectors.vectors``.
- a word outside the vocabulary gets the mean of its n-gram vectors
  (``get_vector``, ``most_similar``, ``similarity`` accept it); an n-gram in
  a bucket that no vocabulary word uses counts as a zero vector (it was never
  trained; gensim would add that bucket's random initial values). A word none
  of whose n-grams is known raises ``VocabularyError``.
- ``ngram_vectors_`` (float32) and ``ngram_buckets_`` (int64, the bucket of
  each row): only the buckets that vocabulary words use are stored, so the
  default 2,000,000 buckets (fastText's and gensim's) cost what is used (on
  the 100M wiki8 corpus 293,809 rows for 67,903 words, 118 MB at 100
  dimensions) instead of 800 MB. ``save``/``load`` keep them (in
  ``vectors.safetensors``), so OOV vectors work after loading;
  ``WordVectors.load`` of the folder reads the in-vocabulary vectors only.

The learning rate defaults to fastText's for skip-gram, 0.05. gensim's
FastText defaults to 0.025, which on the 10M-byte wiki8 prefix (5 epochs)
costs ~19 analogy points on both sides; on the 100M-byte corpus it leaves the
analogies as they are (ours 55.8% at both rates) and costs WS-353 0.02
(``benchmarks/fasttext_vs_gensim.py``). gensim also differs in one detail:
its training input divides the sum of the word and n-gram vectors by the
number of n-grams, not n-grams + 1 (fastText's mean), a larger step for short
words. That helps it while the learning rate is too low (10M prefix at 0.025:
gensim 1.6-2.2 analogy points ahead) and not otherwise (10M at 0.05: ours 1.5
ahead; 100M: ours 0.4 ahead at 0.05, 1.0 at 0.025).

Backends: ``"compiled"`` (``fasttext_kernel.py``, ``workers`` Hogwild
threads, like fastText and gensim) or the slower ``"torch"`` fallback
(``fasttext_sgd.py``); ``"auto"`` picks the first that works. With
``workers > 1`` runs vary slightly (Hogwild races); with ``workers=1`` and a
fixed ``seed`` they are reproducible.
"""
from __future__ import annotations

import functools
import logging
import time
from typing import Any

import numpy as np
import torch

from pipeline.errors import ModelLoadError, check_param
from training.embeddings.base import VocabularyError, WordVectors, is_int, is_number
from training.embeddings.corpus import EncodedCorpus, encode_corpus
from training.embeddings.fasttext_kernel import load_fasttext_kernel
from training.embeddings.kernel import kernel_for_backend
from training.embeddings.fasttext_sgd import FastTextState, run_job_compiled, run_job_torch
from training.embeddings.jobs import run_jobs
from training.embeddings.ngrams import build_subword_index, char_ngrams, fnv1a_32_many
from training.embeddings.sampling import SAMPLE_RULES, keep_probabilities, keep_thresholds, negative_cum_table
from training.embeddings.word2vec import BACKENDS, job_bounds

logger = logging.getLogger(__name__)


class FastText(WordVectors):
    """fastText skip-gram estimator (see the module docstring).

    Settings (keyword-only, stored unchanged, checked in ``fit``): as
    ``Word2Vec`` for ``vector_size``, ``window``, ``negative``,
    ``ns_exponent``, ``sample``, ``sample_rule``, ``min_count``,
    ``max_vocab_size``, ``epochs``, ``alpha`` (0.05, fastText's default for
    skip-gram; gensim's is 0.025, see above) down to ``min_alpha``, ``batch_words``, ``workers``, ``seed``,
    ``backend`` and ``progress``; plus ``min_n``/``max_n`` (n-gram lengths,
    3..6) and ``bucket`` (hash buckets, 2,000,000).

    Learned: ``vectors_``, ``vocab_``, ``counts_``, ``index_``,
    ``ngram_vectors_``, ``ngram_buckets_`` and ``training_``.
    """

    def __init__(self, *, vector_size: int = 100, window: int = 5, negative: int = 5, ns_exponent: float = 0.75,
                 sample: float = 1e-4, sample_rule: str = "paper", min_count: int = 5,
                 max_vocab_size: int | None = None, min_n: int = 3, max_n: int = 6, bucket: int = 2_000_000,
                 epochs: int = 5, alpha: float = 0.05, min_alpha: float = 1e-4, batch_words: int = 10000,
                 workers: int = 2, seed: int = 42, backend: str = "auto", progress: bool | None = None) -> None:
        self.vector_size = vector_size
        self.window = window
        self.negative = negative
        self.ns_exponent = ns_exponent
        self.sample = sample
        self.sample_rule = sample_rule
        self.min_count = min_count
        self.max_vocab_size = max_vocab_size
        self.min_n = min_n
        self.max_n = max_n
        self.bucket = bucket
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
        for key in ("vector_size", "window", "negative", "min_count", "epochs", "batch_words", "workers"):
            check_param(name, key, getattr(self, key), is_int(getattr(self, key), 1), "an int >= 1")
        check_param(name, "ns_exponent", self.ns_exponent, is_number(self.ns_exponent), "a number (0.75 in word2vec)")
        check_param(name, "sample", self.sample, is_number(self.sample) and 0 <= self.sample < 1, "a float in [0, 1)")
        check_param(name, "sample_rule", self.sample_rule, self.sample_rule in SAMPLE_RULES,
                    f"one of {', '.join(SAMPLE_RULES)}")
        check_param(name, "max_vocab_size", self.max_vocab_size,
                    self.max_vocab_size is None or is_int(self.max_vocab_size, 1), "None or an int >= 1")
        check_param(name, "min_n", self.min_n, is_int(self.min_n, 1), "an int >= 1")
        check_param(name, "max_n", self.max_n, is_int(self.max_n, 1) and self.max_n >= self.min_n,
                    f"an int >= min_n ({self.min_n})")
        check_param(name, "bucket", self.bucket, is_int(self.bucket, 1) and self.bucket <= 2**32,
                    "an int in [1, 2**32] (fastText uses 2000000)")
        check_param(name, "alpha", self.alpha, is_number(self.alpha) and self.alpha > 0, "a float > 0")
        check_param(name, "min_alpha", self.min_alpha, is_number(self.min_alpha) and self.min_alpha >= 0, "a float >= 0")
        check_param(name, "seed", self.seed, is_int(self.seed, 0), "an int >= 0")
        check_param(name, "backend", self.backend, self.backend in BACKENDS, f"one of {', '.join(BACKENDS)}")

    def _kernel(self) -> Any | None:
        return kernel_for_backend(load_fasttext_kernel, self.backend, "FastText")

    # ----- training ---------------------------------------------------------------------
    def fit(self, corpus: Any) -> "FastText":
        """Train on a text file (plain or .gz), an iterable of token lists, or an ``EncodedCorpus``."""
        self._validate()
        kernel = self._kernel()
        started = time.perf_counter()
        enc = corpus if isinstance(corpus, EncodedCorpus) else encode_corpus(
            corpus, min_count=self.min_count, max_vocab_size=self.max_vocab_size)
        sub = build_subword_index(enc.words, self.min_n, self.max_n, self.bucket)
        read_s = time.perf_counter() - started
        rng = np.random.default_rng(self.seed)
        n_words, dim = len(enc.words), self.vector_size
        n_rows = n_words + sub.n_rows
        logger.info("%d words use %d of %d n-gram buckets (%.0f n-grams a word): input matrix %d x %d.", n_words,
                    sub.n_rows, self.bucket, (len(sub.rows) - n_words) / n_words, n_rows, dim)
        syn0 = torch.from_numpy((rng.random((n_rows, dim), dtype=np.float32) * 2 - 1) / dim)  # U(-1/d, 1/d) as fastText
        keep = keep_probabilities(enc.counts, self.sample, self.sample_rule)
        state = FastTextState(syn0=syn0, syn1=torch.zeros((n_words, dim), dtype=torch.float32),
                              ids=np.ascontiguousarray(enc.ids, dtype=np.int32),
                              sentence_ends=np.ascontiguousarray(enc.sentence_ends, dtype=np.int64), keep=keep,
                              keep_u32=keep_thresholds(keep), cum_table=negative_cum_table(enc.counts, self.ns_exponent),
                              tree=None, cbow=False, hs=False, window=self.window, negative=self.negative,
                              sub_offsets=sub.offsets, sub_rows=sub.rows)
        job = (functools.partial(run_job_compiled, kernel, state) if kernel is not None
               else functools.partial(run_job_torch, state))
        epoch_loss = run_jobs(job, state.sentence_ends, job_bounds(state.sentence_ends, self.batch_words),
                              epochs=self.epochs, alpha=float(self.alpha), min_alpha=float(self.min_alpha),
                              seed=self.seed, workers=self.workers, desc="fastText skipgram-ns",
                              progress=self.progress, torch_job=kernel is None)
        train_s = time.perf_counter() - started - read_s
        words = torch.nn.functional.embedding_bag(torch.from_numpy(sub.rows.astype(np.int64)), syn0,
                                                  torch.from_numpy(sub.offsets[:-1]), mode="mean")
        self._set_vectors(words.numpy(), enc.words, enc.counts)
        self._set_ngrams(syn0[n_words:].numpy().copy(), sub.buckets)
        total = self.epochs * enc.n_tokens
        self.training_ = {
            "corpus": enc.source, "raw_tokens": enc.raw_tokens, "tokens": enc.n_tokens,
            "backend": "compiled" if kernel is not None else "torch", "alpha": float(self.alpha),
            "ngram_rows": sub.n_rows, "read_seconds": round(read_s, 3), "train_seconds": round(train_s, 3),
            "words_per_second": round(total / max(train_s, 1e-9)), "epoch_loss": epoch_loss,
        }
        logger.info("Trained fastText skipgram-ns on %d tokens x %d epochs in %.1f s (%.0f words/s, %s backend).",
                    enc.n_tokens, self.epochs, train_s, total / max(train_s, 1e-9), self.training_["backend"])
        return self

    # ----- n-grams and out-of-vocabulary words ------------------------------------------
    def _set_ngrams(self, vectors: np.ndarray, buckets: np.ndarray) -> None:
        if vectors.shape != (len(buckets), self.vectors_.shape[1]):
            raise ValueError(f"n-gram vectors of shape {vectors.shape} do not match {len(buckets)} buckets.")
        self.ngram_vectors_ = np.ascontiguousarray(vectors, dtype=np.float32)
        self.ngram_buckets_ = np.asarray(buckets, dtype=np.int64)
        self._bucket_order = np.argsort(self.ngram_buckets_, kind="stable")
        self._sorted_buckets = self.ngram_buckets_[self._bucket_order]

    def _extra_tensors(self) -> dict[str, np.ndarray]:
        return {"ngram_vectors": self.ngram_vectors_, "ngram_buckets": self.ngram_buckets_}

    def _set_extra_tensors(self, tensors: dict[str, np.ndarray]) -> None:
        if "ngram_vectors" not in tensors or "ngram_buckets" not in tensors:
            raise ModelLoadError("This folder holds no n-gram vectors, so it is not a saved FastText model. "
                                 "Load it with WordVectors.load instead.")
        self._set_ngrams(tensors["ngram_vectors"], tensors["ngram_buckets"])

    def ngrams(self, word: str) -> list[str]:
        """The character n-grams of ``word`` that make up its vector."""
        return char_ngrams(word, self.min_n, self.max_n)

    def ngram_rows(self, word: str) -> np.ndarray:
        """Row in ``ngram_vectors_`` of each n-gram of ``word`` (-1: a bucket no vocabulary word uses)."""
        self._check_fitted()
        buckets = fnv1a_32_many([g.encode("utf-8") for g in self.ngrams(word)]).astype(np.int64) % self.bucket
        at = np.minimum(np.searchsorted(self._sorted_buckets, buckets), len(self._sorted_buckets) - 1)
        found = self._sorted_buckets[at] == buckets
        return np.where(found, self._bucket_order[at], -1)

    def oov_vector(self, word: str) -> np.ndarray:
        """Mean of the n-gram vectors of ``word`` (unused buckets count as zero vectors)."""
        rows = self.ngram_rows(word)
        if not (rows >= 0).any():
            raise VocabularyError(f"Word {word!r} is not in the vocabulary ({len(self.vocab_)} words) and none of "
                                  f"its {len(rows)} character n-grams was seen in training: it has no vector.")
        return self.ngram_vectors_[rows[rows >= 0]].sum(axis=0) / len(rows)

    def get_vector(self, word: str, norm: bool = False) -> np.ndarray:
        """The word's vector: the trained full vector in the vocabulary, else ``oov_vector``."""
        self._check_fitted()
        if word in self.index_:
            return super().get_vector(word, norm)
        v = self.oov_vector(word).astype(np.float32)
        return v / max(float(np.linalg.norm(v)), 1e-12) if norm else v

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words (either may be out of the vocabulary)."""
        va, vb = self.get_vector(a, norm=True), self.get_vector(b, norm=True)
        return float(va @ vb)

    def most_similar(self, word_or_vector: str | np.ndarray, topn: int = 10,
                     restrict_vocab: int | None = None) -> list[tuple[str, float]]:
        """As ``WordVectors.most_similar``; a word outside the vocabulary is looked up by its n-grams."""
        self._check_fitted()
        if isinstance(word_or_vector, str) and word_or_vector not in self.index_:
            return self._nearest(self.oov_vector(word_or_vector), topn, restrict_vocab, set())
        return super().most_similar(word_or_vector, topn, restrict_vocab)
