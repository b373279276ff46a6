"""Okapi BM25 over a small corpus (a scikit-learn style estimator), mixed into retrieval by ``lexical_weight``.

    from pipeline.retrieval.lexical import BM25
    bm25 = BM25().fit(["Refunds take 5 days.", "Reset your password from the login page."])
    bm25.score(["how long does a refund take"])   # (1, 2) array, higher is better

Its analyzer: lowercase word tokens, English stop words removed and a light
suffix stripper ("refunds", "refunded" -> "refund"), so that plural forms match.
The TF-IDF retrieval baseline is :class:`evaluation.baseline_retrieval.FeatureRetriever`
over :class:`training.text_features.BowFeaturizer` (one TF-IDF retriever for
``evaluation.retrieval`` and ``evaluation.baselines``).
"""
from __future__ import annotations

import re
from typing import Callable, Sequence

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from pipeline.errors import NotFittedError, check_param

_TOKEN = re.compile(r"[a-z0-9]+")


def stem(token: str) -> str:
    """Porter's plural rules plus '-ing'/'-ed' stripping on longer words (cheap, deterministic).

    >>> [stem(t) for t in ["refunds", "addresses", "deliveries", "charged", "shipping", "address"]]
    ['refund', 'address', 'delivery', 'charg', 'shipp', 'address']
    """
    if token.endswith("sses"):
        token = token[:-2]
    elif token.endswith("ies") and len(token) > 4:
        token = token[:-3] + "y"
    elif token.endswith("s") and not token.endswith(("ss", "us", "is")) and len(token) > 3:
        token = token[:-1]
    for suf in ("ing", "ed"):
        if token.endswith(suf) and len(token) - len(suf) >= 4:
            return token[: -len(suf)]
    return token


def analyze(text: str, stop_words: bool = True, stemming: bool = True) -> list[str]:
    tokens = _TOKEN.findall(text.lower())
    if stop_words:
        tokens = [t for t in tokens if t not in ENGLISH_STOP_WORDS]
    return [stem(t) for t in tokens] if stemming else tokens


def _analyzer(stop_words: bool, stemming: bool) -> Callable[[str], list[str]]:
    return lambda text: analyze(text, stop_words=stop_words, stemming=stemming)


def _check_texts(owner: str, texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError(f"{owner} expects a list of strings, not a single string. Wrap it: [text].")
    return [str(t) for t in texts]


class BM25:
    """Okapi BM25: ``score(q, d) = sum_t idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * |d| / avgdl))``.

    ``idf(t) = log(1 + (N - df + 0.5) / (df + 0.5))`` (always positive). The
    per-document weights are precomputed as a sparse matrix, so scoring a batch
    of queries is one sparse product.
    """

    def __init__(self, *, k1: float = 1.5, b: float = 0.75, stop_words: bool = True, stemming: bool = True) -> None:
        self.k1 = k1
        self.b = b
        self.stop_words = stop_words
        self.stemming = stemming

    def fit(self, corpus: Sequence[str]) -> "BM25":
        check_param("BM25", "k1", self.k1, self.k1 >= 0, "a float >= 0")
        check_param("BM25", "b", self.b, 0 <= self.b <= 1, "a float in [0, 1]")
        corpus = _check_texts("BM25.fit", corpus)
        if not corpus:
            raise ValueError("BM25.fit needs at least one document. Got an empty corpus.")
        self.vectorizer_ = CountVectorizer(analyzer=_analyzer(self.stop_words, self.stemming))
        try:
            tf = self.vectorizer_.fit_transform(corpus).tocsr().astype(np.float64)
        except ValueError:  # every document is only stop words
            raise ValueError("BM25.fit found no words in the corpus (empty or only stop words).") from None
        n_docs = tf.shape[0]
        df = np.bincount(tf.indices, minlength=tf.shape[1])
        self.idf_ = np.log1p((n_docs - df + 0.5) / (df + 0.5))
        self.doc_len_ = np.asarray(tf.sum(axis=1)).ravel()
        self.avgdl_ = float(self.doc_len_.mean()) or 1.0
        norm = self.k1 * (1 - self.b + self.b * self.doc_len_ / self.avgdl_)
        weights = tf.copy()
        row_norm = np.repeat(norm, np.diff(tf.indptr))
        weights.data = self.idf_[tf.indices] * tf.data * (self.k1 + 1) / (tf.data + row_norm)
        self.weights_ = weights.tocsr()
        self.vocab_ = self.vectorizer_.vocabulary_
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "weights_"):
            raise NotFittedError("This BM25 instance is not fitted yet. Call fit(corpus) first.")

    def score(self, queries: Sequence[str]) -> np.ndarray:
        """BM25 scores, shape ``(len(queries), n_docs)``; each query term counts once."""
        self._check_fitted()
        q = self.vectorizer_.transform(_check_texts("BM25.score", queries))
        q.data[:] = 1.0
        return np.asarray((q @ self.weights_.T).todense(), dtype=np.float64)
