"""Fitted word vectors: lookup, similarity, analogies, save/load, word2vec format.

``WordVectors`` is the base of every embedding estimator in
``training.embeddings`` (gensim's ``KeyedVectors`` role). Its fitted state is
``vectors_`` (float32, one row per word, rows by descending frequency),
``vocab_`` (the words), ``counts_`` (int64 corpus counts, or ``None`` for
vectors read from a word2vec file) and ``index_`` (word -> row).

A saved model is a folder::

    vectors.safetensors   {"vectors": float32 (V, d)}
    vocab.json            {"words": [...], "counts": [...] | null}
    config.json           {"class": ..., "params": {...}, "vocab_size": V, "vector_size": d, "training": {...}}
    resolved_config.json  the resolved training configuration
    metrics.json          intrinsic metrics, when given
    README.md             model card (corpus, settings, seed, metrics, library versions)
"""
from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pipeline.artifacts import (atomic_dir, atomic_write, load_safetensors, read_json, write_json, write_model_card,
                                write_resolved_config)
from pipeline.errors import ConfigError, ModelLoadError, NotFittedError, PipelineError, check_param

FORMAT_VERSION = 1


def is_int(v: Any, low: int) -> bool:
    """``v`` is an int (not a bool) and at least ``low``: the check behind the estimators' int parameters."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low


def is_number(v: Any) -> bool:
    """``v`` is a finite int or float (not a bool, NaN or inf): the check behind the estimators' float parameters."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.number)):
        return False
    return isinstance(v, (int, np.integer)) or bool(np.isfinite(v))


class VocabularyError(PipelineError, KeyError):
    """A word that is not in the vocabulary."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class WordVectors:
    """Word vectors with no training of their own (what ``load_word2vec_format`` returns)."""

    def __init__(self) -> None:
        pass

    # ----- estimator plumbing -------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """The constructor settings, as given (scikit-learn style)."""
        sig = inspect.signature(type(self).__init__)
        return {name: getattr(self, name) for name in sig.parameters if name != "self"}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    def _set_vectors(self, vectors: np.ndarray, words: Sequence[str], counts: np.ndarray | None) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise ValueError(f"vectors of shape {vectors.shape} do not match {len(words)} words.")
        self.vectors_ = vectors
        self.vocab_ = list(words)
        self.counts_ = None if counts is None else np.asarray(counts, dtype=np.int64)
        self.index_ = {w: i for i, w in enumerate(self.vocab_)}
        if len(self.index_) != len(self.vocab_):
            raise ValueError("The vocabulary holds duplicate words.")
        self._unit = None

    def _check_fitted(self) -> None:
        if getattr(self, "vectors_", None) is None:
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' first.")

    # ----- lookup -----------------------------------------------------------------------
    def __contains__(self, word: str) -> bool:
        self._check_fitted()
        return word in self.index_

    def __len__(self) -> int:
        self._check_fitted()
        return len(self.vocab_)

    def word_id(self, word: str) -> int:
        self._check_fitted()
        try:
            return self.index_[word]
        except KeyError:
            raise VocabularyError(
                f"Word {word!r} is not in the vocabulary ({len(self.vocab_)} words). "
                "Check the spelling and case, or lower min_count."
            ) from None

    def get_vector(self, word: str, norm: bool = False) -> np.ndarray:
        """The word's vector (a copy; unit length when ``norm``)."""
        i = self.word_id(word)
        return (self.unit_vectors() if norm else self.vectors_)[i].copy()

    def __getitem__(self, word: str) -> np.ndarray:
        return self.get_vector(word)

    def unit_vectors(self) -> np.ndarray:
        """Rows scaled to unit length (cached; zero rows stay zero)."""
        self._check_fitted()
        if getattr(self, "_unit", None) is None:
            norms = np.linalg.norm(self.vectors_, axis=1, keepdims=True)
            self._unit = (self.vectors_ / np.maximum(norms, 1e-12)).astype(np.float32)
        return self._unit

    # ----- similarity -------------------------------------------------------------------
    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        unit = self.unit_vectors()
        return float(unit[self.word_id(a)] @ unit[self.word_id(b)])

    def _nearest(self, query: np.ndarray, topn: int, restrict_vocab: int | None, exclude: set[int]) -> list[tuple[str, float]]:
        check_param(type(self).__name__, "topn", topn, isinstance(topn, int) and topn >= 1, "an int >= 1")
        check_param(type(self).__name__, "restrict_vocab", restrict_vocab,
                    restrict_vocab is None or (isinstance(restrict_vocab, int) and restrict_vocab >= 1),
                    "None or an int >= 1")
        unit = self.unit_vectors()[:restrict_vocab]
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        if q.shape[0] != unit.shape[1]:
            raise ConfigError(f"A query vector must have {unit.shape[1]} values. Got {q.shape[0]}.")
        q = q / max(float(np.linalg.norm(q)), 1e-12)
        scores = unit @ q
        k = min(len(scores), topn + len(exclude))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.vocab_[i], float(scores[i])) for i in top if i not in exclude][:topn]

    def most_similar(self, word_or_vector: str | np.ndarray, topn: int = 10,
                     restrict_vocab: int | None = None) -> list[tuple[str, float]]:
        """The ``topn`` nearest words by cosine (the query word itself excluded),
        among the ``restrict_vocab`` most frequent words when given."""
        if isinstance(word_or_vector, str):
            i = self.word_id(word_or_vector)
            return self._nearest(self.unit_vectors()[i], topn, restrict_vocab, {i})
        return self._nearest(word_or_vector, topn, restrict_vocab, set())

    def analogy(self, a: str, b: str, c: str, topn: int = 1,
                restrict_vocab: int | None = 30000) -> list[tuple[str, float]]:
        """3CosAdd: the words ``d`` with ``a : b :: c : d``, i.e. nearest to
        ``unit(b) - unit(a) + unit(c)``, excluding ``a``, ``b`` and ``c``."""
        unit = self.unit_vectors()
        ia, ib, ic = self.word_id(a), self.word_id(b), self.word_id(c)
        return self._nearest(unit[ib] - unit[ia] + unit[ic], topn, restrict_vocab, {ia, ib, ic})

    # ----- persistence ------------------------------------------------------------------
    def training_info(self) -> dict[str, Any]:
        """What config.json records about training: ``training_`` after ``fit``, else what a loaded folder said."""
        return dict(getattr(self, "training_", None) or getattr(self, "_loaded_info", {}))

    def _extra_tensors(self) -> dict[str, np.ndarray]:
        """Arrays saved beside ``vectors`` in vectors.safetensors (estimators with more state override)."""
        return {}

    def _set_extra_tensors(self, tensors: dict[str, np.ndarray]) -> None:
        """Restore what ``_extra_tensors`` saved (called by ``load``; plain word vectors ignore it)."""

    def save(self, path: str | os.PathLike[str], *, metrics: dict[str, Any] | None = None,
             training_config: dict[str, Any] | None = None, data: dict[str, Any] | None = None) -> Path:
        """Write the model folder atomically (see the module docstring); returns its path."""
        from safetensors.numpy import save_file

        self._check_fitted()
        params = self.get_params()
        info = self.training_info()
        with atomic_dir(path) as tmp:
            save_file({"vectors": self.vectors_, **self._extra_tensors()}, str(tmp / "vectors.safetensors"))
            write_json(tmp / "vocab.json", {"words": self.vocab_,
                                            "counts": None if self.counts_ is None else self.counts_.tolist()})
            write_json(tmp / "config.json", {"class": type(self).__name__, "format_version": FORMAT_VERSION,
                                             "vocab_size": len(self.vocab_), "vector_size": int(self.vectors_.shape[1]),
                                             "params": params, "training": info})
            write_resolved_config(tmp, training_config or params)
            if metrics:
                write_json(tmp / "metrics.json", metrics)
            card_data = {"corpus": info.get("corpus", "n/a"), "vocabulary": len(self.vocab_),
                         "dimensions": int(self.vectors_.shape[1])}
            card_data.update({k: v for k, v in info.items() if k != "corpus" and isinstance(v, (int, float, str))})
            card_data.update(data or {})
            write_model_card(
                tmp, title=f"{type(self).__name__} word vectors",
                summary=f"{type(self).__name__} trained with `training.embeddings` ({len(self.vocab_)} words, "
                        f"{self.vectors_.shape[1]} dimensions).",
                data=card_data, metrics=metrics or {}, config=training_config or params,
                usage=f"```python\nfrom training.embeddings import {type(self).__name__}\n"
                      f"model = {type(self).__name__}.load({str(Path(path))!r})\nmodel.most_similar('france')\n```",
            )
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "WordVectors":
        """Read a folder written by ``save``."""
        folder = Path(path)
        needed = ("vectors.safetensors", "vocab.json", "config.json")
        missing = [n for n in needed if not (folder / n).is_file()]
        if missing:
            raise ModelLoadError(f"{str(folder)!r} is not a saved word-vector folder (missing {', '.join(missing)}). "
                                 "Pass a folder written by save() or train one with training.train_embeddings.")
        config = read_json(folder / "config.json")
        vocab = read_json(folder / "vocab.json")
        sig = inspect.signature(cls.__init__)
        params = {k: v for k, v in config.get("params", {}).items() if k in sig.parameters}
        model = cls(**params)
        counts = vocab.get("counts")
        tensors = load_safetensors(folder / "vectors.safetensors", fix="The folder may be truncated or corrupt: "
                                   "train it again with python -m training.train_embeddings.")
        model._set_vectors(tensors["vectors"], vocab["words"], None if counts is None else np.asarray(counts, dtype=np.int64))
        model._set_extra_tensors(tensors)
        model._loaded_info = config.get("training", {})
        return model

    def save_word2vec_format(self, path: str | os.PathLike[str], binary: bool = False) -> None:
        """Write the standard word2vec format (header ``V d``; text rows, or ``word `` + float32 bytes)."""
        self._check_fitted()
        n, d = self.vectors_.shape
        bad = [w for w in self.vocab_ if not w or any(ch.isspace() for ch in w)]
        if bad:
            raise ConfigError(f"Words with whitespace cannot be written in word2vec format. Got {bad[0]!r}.")

        def write(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                fh.write(f"{n} {d}\n".encode())
                for word, row in zip(self.vocab_, self.vectors_):
                    if binary:
                        fh.write(word.encode("utf-8") + b" " + row.astype("<f4").tobytes() + b"\n")
                    else:
                        fh.write((word + " " + " ".join(f"{x:.9g}" for x in row.tolist()) + "\n").encode("utf-8"))

        atomic_write(path, write)

    @classmethod
    def load_word2vec_format(cls, path: str | os.PathLike[str], binary: bool | None = None) -> "WordVectors":
        """Read the word2vec format (``binary=None``: binary when the name ends in ``.bin``)."""
        path = Path(path)
        if not path.is_file():
            raise ModelLoadError(f"Word2vec file {str(path)!r} does not exist. Pass a file written in word2vec format.")
        binary = path.suffix == ".bin" if binary is None else binary
        with open(path, "rb") as fh:
            header = fh.readline().split()
            if len(header) != 2 or not all(h.isdigit() for h in header):
                raise ModelLoadError(f"{str(path)!r} does not start with a 'count dimensions' header: not word2vec format.")
            n, d = int(header[0]), int(header[1])
            words: list[str] = []
            vectors = np.empty((n, d), dtype=np.float32)
            for i in range(n):
                if binary:
                    word = bytearray()
                    while (ch := fh.read(1)) != b" ":
                        if not ch:
                            raise ModelLoadError(f"{str(path)!r} ends after {i} of {n} vectors.")
                        if ch != b"\n":
                            word += ch
                    vectors[i] = np.frombuffer(fh.read(4 * d), dtype="<f4")
                    words.append(word.decode("utf-8", errors="replace"))
                else:
                    parts = fh.readline().split()
                    if len(parts) != d + 1:
                        raise ModelLoadError(f"Line {i + 2} of {str(path)!r} has {len(parts) - 1} values; the header says {d}.")
                    words.append(parts[0].decode("utf-8", errors="replace"))
                    try:
                        vectors[i] = np.array(parts[1:], dtype=np.float32)
                    except ValueError:
                        raise ModelLoadError(f"Line {i + 2} of {str(path)!r} has a value that is not a number. "
                                             "Pass a file written in word2vec format.") from None
        model = cls()
        model._set_vectors(vectors, words, None)
        return model
