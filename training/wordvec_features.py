"""Sentence features from word vectors: mean or TF-IDF-weighted word vectors of a text.

    from training.wordvec_features import WordVectorFeaturizer, load_word_vectors
    f = WordVectorFeaturizer(vectors="artifacts/embeddings/w2v-sgns", weighting="tfidf").fit(train_texts)
    X = f.transform(test_texts)                     # float32 (n, dim), rows L2-normalised

Texts are tokenised with :func:`training.text_features.text8_tokens`, the
normalisation of the training corpora (lowercase a-z, digits spelled out), so
the words match the vocabulary. ``mean`` averages the vectors of the known
words; ``tfidf`` weights each occurrence by the word's idf on the fitted texts
(scikit-learn's smooth idf; a word unseen there gets the largest idf). A word
outside the vocabulary is skipped unless the model composes vectors for
unknown words (fastText-style ``get_vector`` answering for them; asked once per
word); a text with no known word is a zero row, never an error.

``load_word_vectors`` reads any :class:`WordVectors` artifact with the class
named in its ``config.json`` when ``training.embeddings`` has it (so subword
models keep their n-gram vectors), else as plain ``WordVectors``.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy import sparse

from pipeline.errors import ConfigError, ModelLoadError, NotFittedError, check_param
from training.text_features import _check_texts, _l2_rows, text8_tokens

logger = logging.getLogger(__name__)

WEIGHTINGS = ("mean", "tfidf")


_LOADED: dict[tuple[str, float], Any] = {}
_CACHE_SIZE = 4


def load_word_vectors(path: str | Path, *, cache: bool = True):
    """A :class:`WordVectors` artifact folder, or a word2vec-format file (binary when it ends in ``.bin``).

    A folder is loaded with the class named in its ``config.json`` when
    ``training.embeddings`` has it (so a subword model keeps its n-gram
    vectors), else as plain ``WordVectors``. With ``cache`` the last few
    artifacts stay loaded (keyed by path and modification time), so the mean
    and TF-IDF featurisers and the retriever of one artifact share one copy;
    treat the returned object as read-only.
    """
    from training.embeddings.base import WordVectors

    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"Word vectors {str(path)!r} do not exist. Pass a folder written by "
                             "training.train_embeddings (or a word2vec-format file).")
    key = (str(path.resolve()), path.stat().st_mtime)
    if cache and key in _LOADED:
        return _LOADED[key]
    if path.is_file():
        vectors = WordVectors.load_word2vec_format(path)
    else:
        cls = WordVectors
        config = path / "config.json"
        if config.is_file():
            from pipeline.artifacts import read_json

            try:
                name = read_json(config).get("class")
            except (ValueError, AttributeError):
                raise ModelLoadError(f"{str(config)!r} is not valid JSON: {str(path)!r} is not a word-vector "
                                     "folder written by training.train_embeddings.") from None
            cls = _vectors_class(name) or WordVectors
            if cls is WordVectors and name not in (None, "WordVectors"):
                logger.warning("No class %r in training.embeddings: %s is read as plain WordVectors.", name, path)
        vectors = cls.load(path)
    if cache:
        while len(_LOADED) >= _CACHE_SIZE:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = vectors
    return vectors


def _vectors_class(name: Any) -> type | None:
    """The ``training.embeddings`` class called ``name`` (a WordVectors subclass), else None.

    Looks at the package's exports, then imports its modules (those whose name
    resembles the class first) until one defines the class.
    """
    import importlib
    import pkgutil

    import training.embeddings as package
    from training.embeddings.base import WordVectors

    if not isinstance(name, str) or not name.isidentifier():
        return None
    found = None
    try:
        found = getattr(package, name)
    except Exception:  # noqa: BLE001 - a lazy export failing to import is "not found" here
        found = None
    if found is None:
        key = name.lower()
        modules = sorted((info.name for info in pkgutil.iter_modules(package.__path__)),
                         key=lambda m: not (m.replace("_", "") in key or key in m.replace("_", "")))
        for module in modules:
            try:
                found = getattr(importlib.import_module(f"{package.__name__}.{module}"), name, None)
            except Exception:  # noqa: BLE001 - another estimator's module that does not import
                continue
            if found is not None:
                break
    return found if isinstance(found, type) and issubclass(found, WordVectors) else None


class WordVectorFeaturizer:
    """Mean (``weighting="mean"``) or TF-IDF-weighted (``"tfidf"``) word vectors of a text, L2-normalised.

    ``vectors`` is a :class:`WordVectors` instance or the path of an artifact
    (folder or word2vec file); only a path can be saved with the model.
    """

    def __init__(self, *, vectors: Any = None, weighting: str = "mean", norm: bool = True) -> None:
        self.vectors = vectors
        self.weighting = weighting
        self.norm = norm

    def get_params(self) -> dict[str, Any]:
        vectors = self.vectors
        if isinstance(vectors, Path):
            vectors = str(vectors)
        elif not isinstance(vectors, (str, type(None))):
            vectors = f"<{type(vectors).__name__}>"  # in memory: recorded, not reloadable
        return {"vectors": vectors, "weighting": self.weighting, "norm": self.norm}

    def _load(self):
        from training.embeddings.base import WordVectors

        check_param("WordVectorFeaturizer", "weighting", self.weighting, self.weighting in WEIGHTINGS,
                    f"one of {', '.join(WEIGHTINGS)}")
        if isinstance(self.vectors, WordVectors):
            self.vectors._check_fitted()
            return self.vectors
        check_param("WordVectorFeaturizer", "vectors", self.vectors, isinstance(self.vectors, (str, Path)),
                    "a WordVectors instance or the path of a word-vector artifact")
        return load_word_vectors(self.vectors)

    def fit(self, texts: Sequence[str]) -> "WordVectorFeaturizer":
        texts = _check_texts("WordVectorFeaturizer.fit", texts)
        self.wv_ = self._load()
        self._oov: dict[str, np.ndarray | None] = {}
        df: dict[str, int] = {}
        for text in texts:
            for token in set(text8_tokens(text)):
                df[token] = df.get(token, 0) + 1
        n = len(texts)
        self.idf_ = {t: math.log((1 + n) / (1 + d)) + 1.0 for t, d in df.items()}  # scikit-learn's smooth idf
        self.default_idf_ = math.log(1 + n) + 1.0
        return self

    def _check_fitted(self) -> None:
        if getattr(self, "wv_", None) is None:
            raise NotFittedError("This WordVectorFeaturizer instance is not fitted yet. Call 'fit' first.")

    def _oov_vector(self, token: str) -> np.ndarray | None:
        """A vector the model composes for an unknown word (fastText), else None; asked once per word."""
        if token not in self._oov:
            try:
                vec = np.asarray(self.wv_.get_vector(token), dtype=np.float32).reshape(-1)
                self._oov[token] = vec if vec.shape[0] == self.wv_.vectors_.shape[1] and np.any(vec) else None
            except (KeyError, LookupError, ValueError):
                self._oov[token] = None
        return self._oov[token]

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text (``float32``, ``(n, dim)``); zero for a text with no known word."""
        self._check_fitted()
        texts = _check_texts("WordVectorFeaturizer.transform", texts)
        index = self.wv_.index_
        extra: dict[str, int] = {}
        extra_rows: list[np.ndarray] = []
        rows, cols, vals = [], [], []
        tfidf = self.weighting == "tfidf"
        for i, text in enumerate(texts):
            for token in text8_tokens(text):
                j = index.get(token)
                if j is None:
                    j = extra.get(token)
                    if j is None:
                        vec = self._oov_vector(token)
                        if vec is None:
                            continue
                        j = extra[token] = len(index) + len(extra_rows)
                        extra_rows.append(vec)
                rows.append(i)
                cols.append(j)
                vals.append(self.idf_.get(token, self.default_idf_) if tfidf else 1.0)
        weights = sparse.csr_matrix((np.asarray(vals, dtype=np.float32), (rows, cols)),
                                    shape=(len(texts), len(index) + len(extra_rows)))  # duplicates summed: tf
        table = self.wv_.vectors_ if not extra_rows else np.vstack([self.wv_.vectors_, np.stack(extra_rows)])
        out = np.asarray(weights @ table, dtype=np.float32)
        if self.norm:
            return _l2_rows(out)
        total = np.asarray(weights.sum(axis=1)).reshape(-1, 1)
        return (out / np.maximum(total, 1e-12)).astype(np.float32)

    def coverage(self, texts: Sequence[str]) -> float:
        """Share of the texts' tokens that get a vector (for reports)."""
        self._check_fitted()
        tokens = [t for text in _check_texts("WordVectorFeaturizer.coverage", texts) for t in text8_tokens(text)]
        known = sum(t in self.wv_.index_ or self._oov_vector(t) is not None for t in tokens)
        return known / len(tokens) if tokens else 0.0

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        if not isinstance(self.vectors, (str, Path)):
            raise ConfigError("A WordVectorFeaturizer built on an in-memory WordVectors cannot be saved. "
                              "Pass vectors as the path of a saved artifact.")
        words = sorted(self.idf_)
        state = {"idf_words": words, "default_idf": self.default_idf_, "vocab_size": len(self.wv_.vocab_),
                 "vector_size": int(self.wv_.vectors_.shape[1])}
        return state, {"idf": np.asarray([self.idf_[w] for w in words], dtype=np.float64)}

    @classmethod
    def from_state(cls, params: dict[str, Any], state: dict[str, Any],
                   arrays: dict[str, np.ndarray]) -> "WordVectorFeaturizer":
        model = cls(**params)
        wv = model._load()
        shape = (len(wv.vocab_), int(wv.vectors_.shape[1]))
        if shape != (state["vocab_size"], state["vector_size"]):
            raise ModelLoadError(f"The word vectors at {model.vectors!r} hold {shape[0]} words x {shape[1]} "
                                 f"dimensions; the classifier was trained on {state['vocab_size']} x "
                                 f"{state['vector_size']}. Pass the vectors it was trained with.")
        model.wv_, model._oov = wv, {}
        model.idf_ = dict(zip(state["idf_words"], arrays["idf"].tolist()))
        model.default_idf_ = float(state["default_idf"])
        return model
