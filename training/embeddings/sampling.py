"""Subsampling of frequent words and the negative-sampling distribution.

Subsampling (Mikolov et al. 2013) drops each occurrence of a word of corpus
frequency ``f = count / total`` with some probability, fresh at every epoch.
Two rules exist and both are offered:

- ``"paper"`` (the default, the rule named in the word2vec paper): discard with
  probability ``1 - sqrt(t / f)``, i.e. keep with ``min(1, sqrt(t / f))``.
- ``"word2vec"`` (word2vec.c and gensim): keep with
  ``min(1, sqrt(t / f) + t / f)``, which keeps a little more (on wiki8 at
  ``t = 1e-4``: 55% of the tokens against 49%).

Words with ``f <= t`` are always kept under both rules. ``sample = 0`` turns
subsampling off.

Negative samples are drawn from the unigram distribution raised to
``ns_exponent`` (0.75), through a cumulative table scaled to ``2**31 - 1``
(gensim's ``cum_table``): a uniform draw ``r`` in that range picks the first
word whose cumulative value exceeds ``r``. The compiled kernel does the same
search, so both training paths sample from the same table.
"""
from __future__ import annotations

import numpy as np

from pipeline.errors import check_param
from training.embeddings.corpus import EncodedCorpus

SAMPLE_RULES = ("paper", "word2vec")
CUM_TABLE_DOMAIN = 2**31 - 1


def keep_probabilities(counts: np.ndarray, sample: float, rule: str = "paper") -> np.ndarray:
    """Probability of keeping each occurrence of each word (float64, in ``(0, 1]``)."""
    check_param("keep_probabilities", "rule", rule, rule in SAMPLE_RULES, f"one of {SAMPLE_RULES}")
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0 or counts.sum() == 0:
        return np.ones(len(counts))
    ratio = sample * counts.sum() / np.maximum(counts, 1.0)  # t / f
    keep = np.sqrt(ratio) if rule == "paper" else np.sqrt(ratio) + ratio
    return np.minimum(keep, 1.0)


def keep_thresholds(keep: np.ndarray) -> np.ndarray:
    """Keep probabilities as uint32 thresholds: keep when ``random_u32 < threshold``
    (a threshold of ``2**32 - 1`` is treated as "always keep" by the kernel)."""
    scaled = np.floor(np.asarray(keep, dtype=np.float64) * 2.0**32)
    return np.minimum(scaled, 2**32 - 1).astype(np.uint32)


def subsample_mask(ids: np.ndarray, keep: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of the tokens kept this epoch."""
    return rng.random(len(ids)) < keep[ids]


def subsample_corpus(corpus: EncodedCorpus, sample: float, rule: str, rng: np.random.Generator) -> EncodedCorpus:
    """One subsampled copy of an encoded corpus (sentences keep their boundaries; the vocabulary is unchanged).

    Count-based models (GloVe) draw it once, before counting co-occurrences, so
    that windows reach past the dropped frequent words as word2vec's do.
    """
    keep = subsample_mask(corpus.ids, keep_probabilities(corpus.counts, sample, rule), rng)
    kept_before = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])
    return EncodedCorpus(ids=np.ascontiguousarray(corpus.ids[keep], dtype=np.int32),
                         sentence_ends=kept_before[corpus.sentence_ends].astype(np.int64), words=corpus.words,
                         counts=corpus.counts, raw_tokens=corpus.raw_tokens, source=corpus.source)


def negative_cum_table(counts: np.ndarray, ns_exponent: float = 0.75) -> np.ndarray:
    """Cumulative table (int64, last value ``2**31 - 1``) of ``count ** ns_exponent``."""
    weights = np.asarray(counts, dtype=np.float64) ** ns_exponent
    if weights.sum() <= 0:
        weights = np.ones(len(weights))
    cum = np.cumsum(weights) / weights.sum()
    table = np.round(cum * CUM_TABLE_DOMAIN).astype(np.int64)
    table[-1] = CUM_TABLE_DOMAIN
    return table


def negative_probabilities(cum_table: np.ndarray) -> np.ndarray:
    """The distribution a cumulative table samples from (for checks)."""
    return np.diff(np.concatenate([[0], cum_table])) / float(CUM_TABLE_DOMAIN)


def draw_negatives(cum_table: np.ndarray, size: int | tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Draw word ids from the table (int64 array of shape ``size``)."""
    r = rng.integers(0, CUM_TABLE_DOMAIN, size=size, dtype=np.int64)
    return np.searchsorted(cum_table, r, side="right")
