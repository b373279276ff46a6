"""Sentence featurisers for the classical baselines: bag of words and LSA, plus the text8 tokeniser.

    from training.text_features import BowFeaturizer, LsaFeaturizer
    X = BowFeaturizer(kind="tfidf").fit(train_texts).transform(test_texts)      # sparse (n, terms)
    X = LsaFeaturizer(n_components=300).fit(train_texts).transform(test_texts)  # dense (n, 300), unit rows

Every featuriser is an estimator: keyword-only settings stored unchanged,
``fit(texts) -> self``, ``transform(texts)``, learned state in
trailing-underscore attributes, ``get_state()`` / ``from_state()`` (JSON +
arrays) for :class:`training.baselines.BaselineClassifier` to save.

- ``BowFeaturizer``: scikit-learn word n-grams (default token pattern, lowercase,
  no stop-word list), ``kind`` = ``binary`` (0/1), ``count`` or ``tfidf``
  (sublinear tf, smooth idf, L2 rows).
- ``LsaFeaturizer``: that TF-IDF matrix reduced by truncated SVD (latent
  semantic analysis), rows L2-normalised.
- Word vectors (mean / TF-IDF-weighted): :mod:`training.wordvec_features`.

:func:`text8_tokens` is the normalisation of the word-vector corpora (the
100M-byte wiki8 file and the support corpus of :mod:`training.support_corpus`),
so that support texts are looked up with the tokens the vectors were trained on.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Sequence

import numpy as np
from scipy import sparse

from pipeline.errors import ConfigError, NotFittedError, check_param

logger = logging.getLogger(__name__)

_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_DIGIT_RE = re.compile(r"[0-9]")
_NON_ALPHA = re.compile(r"[^a-z]+")


def text8_tokens(text: str) -> list[str]:
    """Lowercase a-z words, digits spelled out one by one, everything else a space (the text8 normalisation).

    >>> text8_tokens("I'm owed $25 for order #A7!")
    ['i', 'm', 'owed', 'two', 'five', 'for', 'order', 'a', 'seven']
    """
    text = _DIGIT_RE.sub(lambda m: f" {_DIGITS[int(m.group())]} ", text.lower())
    return _NON_ALPHA.sub(" ", text).split()


def _check_texts(owner: str, texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError(f"{owner} expects a list of strings, not a single string. Wrap it: [text].")
    return ["" if t is None else str(t) for t in texts]


def _l2_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Bag of words and LSA
# ----------------------------------------------------------------------------------------------

BOW_KINDS = ("binary", "count", "tfidf")


class BowFeaturizer:
    """Word n-gram counts (``binary``, ``count``) or TF-IDF (``tfidf``) from scikit-learn."""

    def __init__(self, *, kind: str = "tfidf", ngram_range: tuple[int, int] = (1, 2), min_df: int = 1,
                 sublinear_tf: bool = True) -> None:
        self.kind = kind
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.sublinear_tf = sublinear_tf

    def get_params(self) -> dict[str, Any]:
        return {"kind": self.kind, "ngram_range": list(self.ngram_range), "min_df": self.min_df,
                "sublinear_tf": self.sublinear_tf}

    def _validate(self) -> tuple[int, int]:
        name = type(self).__name__
        check_param(name, "kind", self.kind, self.kind in BOW_KINDS, f"one of {', '.join(BOW_KINDS)}")
        lo, hi = tuple(self.ngram_range)
        check_param(name, "ngram_range", self.ngram_range, 1 <= lo <= hi, "a pair (lo, hi) with 1 <= lo <= hi")
        check_param(name, "min_df", self.min_df, isinstance(self.min_df, int) and self.min_df >= 1, "an int >= 1")
        return int(lo), int(hi)

    def _vectorizer(self, vocabulary: dict[str, int] | None = None):
        from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

        ngrams = self._validate()
        if self.kind == "tfidf":
            return TfidfVectorizer(ngram_range=ngrams, min_df=self.min_df, sublinear_tf=self.sublinear_tf,
                                   vocabulary=vocabulary, dtype=np.float32)
        return CountVectorizer(ngram_range=ngrams, min_df=self.min_df, binary=self.kind == "binary",
                               vocabulary=vocabulary, dtype=np.float32)

    def fit(self, texts: Sequence[str]) -> "BowFeaturizer":
        texts = _check_texts(f"{type(self).__name__}.fit", texts)
        vectorizer = self._vectorizer()
        try:
            vectorizer.fit(texts)
        except ValueError:
            raise ConfigError(f"{type(self).__name__}.fit found no words in {len(texts)} text(s) "
                              f"(empty, or no term in at least min_df={self.min_df} texts).") from None
        self.vectorizer_ = vectorizer
        return self

    def _check_fitted(self) -> None:
        if getattr(self, "vectorizer_", None) is None:
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' first.")

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        self._check_fitted()
        return self.vectorizer_.transform(_check_texts(f"{type(self).__name__}.transform", texts)).tocsr()

    @property
    def n_features_(self) -> int:
        self._check_fitted()
        return len(self.vectorizer_.vocabulary_)

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        vocab = sorted(self.vectorizer_.vocabulary_, key=self.vectorizer_.vocabulary_.__getitem__)
        arrays = {"idf": np.asarray(self.vectorizer_.idf_, dtype=np.float32)} if self.kind == "tfidf" else {}
        return {"terms": vocab}, arrays

    @classmethod
    def from_state(cls, params: dict[str, Any], state: dict[str, Any], arrays: dict[str, np.ndarray]) -> "BowFeaturizer":
        model = cls(**{**params, "ngram_range": tuple(params.get("ngram_range", (1, 2)))})
        model._restore(state, arrays)
        return model

    def _restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        vectorizer = self._vectorizer({term: i for i, term in enumerate(state["terms"])})
        if self.kind == "tfidf":
            vectorizer.idf_ = arrays["idf"].astype(np.float64)
        else:
            vectorizer._validate_vocabulary()
        self.vectorizer_ = vectorizer


class LsaFeaturizer(BowFeaturizer):
    """TF-IDF reduced to ``n_components`` dimensions by truncated SVD (latent semantic analysis), rows L2-normalised."""

    def __init__(self, *, n_components: int = 300, ngram_range: tuple[int, int] = (1, 2), min_df: int = 1,
                 sublinear_tf: bool = True, seed: int = 42) -> None:
        super().__init__(kind="tfidf", ngram_range=ngram_range, min_df=min_df, sublinear_tf=sublinear_tf)
        self.n_components = n_components
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        params = super().get_params()
        del params["kind"]
        return {**params, "n_components": self.n_components, "seed": self.seed}

    def fit(self, texts: Sequence[str]) -> "LsaFeaturizer":
        from sklearn.decomposition import TruncatedSVD

        check_param("LsaFeaturizer", "n_components", self.n_components,
                    isinstance(self.n_components, int) and self.n_components >= 1, "an int >= 1")
        texts = _check_texts("LsaFeaturizer.fit", texts)
        tfidf = super().fit(texts).vectorizer_.transform(texts)
        k = min(self.n_components, min(tfidf.shape) - 1)
        if k < 1:
            raise ConfigError(f"LsaFeaturizer needs at least 2 texts and 2 terms. Got a {tfidf.shape} TF-IDF matrix.")
        self.components_ = TruncatedSVD(n_components=k, random_state=self.seed).fit(tfidf).components_.astype(np.float32)
        return self

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        tfidf = super().transform(texts)
        if getattr(self, "components_", None) is None:
            raise NotFittedError("This LsaFeaturizer instance is not fitted yet. Call 'fit' first.")
        return _l2_rows(np.asarray(tfidf @ self.components_.T))

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state, arrays = super().get_state()
        return state, {**arrays, "components": self.components_}

    def _restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        super()._restore(state, arrays)
        self.components_ = arrays["components"]
