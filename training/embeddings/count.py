"""Count models over documents: bag of words (binary, counts, TF-IDF) and LSA word and document vectors.

    from training.embeddings.count import LSA
    model = LSA(vector_size=100, doc_tokens=1000).fit("../shared/data/corpus/wiki8_text8style_100M.txt.gz")
    model.most_similar("france")                      # term side: word vectors
    model.transform([["the", "french", "army"]])      # document side: (1, 100) vectors
    model.bag_of_words([["the", "french", "army"]])   # the weighted sparse (1, V) rows the SVD sees

- Documents: a text8-style corpus is one long line, so the corpus (after
  ``encode_corpus``: rare words dropped) is cut into consecutive documents
  of ``doc_tokens`` tokens (1,000 by default; the last one shorter), across
  sentence ends. ``document_term_counts`` builds the ``(documents, V)``
  count matrix.
- Bag of words (``weighting``): ``binary`` (1 if the word occurs), ``counts``
  or ``tfidf`` (scikit-learn's ``TfidfTransformer``: smooth idf
  ``ln((1 + n) / (1 + df)) + 1``; ``sublinear_tf`` replaces a count ``c`` by
  ``1 + ln c``), rows L2-normalised. Bag-of-words features of short texts
  (intent messages) are ``training.text_features.BowFeaturizer``; this module
  is the corpus-scale version over word ids, the input of LSA.
- LSA: the truncated SVD (``svd.py``: scikit-learn's randomized SVD with
  ``svd_iter`` power iterations, seeded; the exact one when ``vector_size`` is
  over half the matrix's smaller side) of the weighted document-term matrix
  ``A ~ U S V^T``.
  Word vectors are the term side ``V S^eig``: ``eig=0.5`` by default, as for
  PPMI (on the 100M corpus, 1,000-token documents: WS-353 0.629 against
  0.552 for the classic ``V S``, ``eig=1``; analogies 26.3% against 26.8%).
  Document vectors are ``A V`` (= ``U S`` for the training documents), also
  for new documents.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Iterable, Sequence

import numpy as np
import scipy.sparse as sp

from pipeline.errors import DataError, check_param
from training.embeddings.base import WordVectors, is_int
from training.embeddings.corpus import EncodedCorpus, encode_corpus
from training.embeddings.svd import truncated_svd

logger = logging.getLogger(__name__)

WEIGHTINGS = ("binary", "counts", "tfidf")


def document_term_counts(ids: np.ndarray, n_words: int, doc_tokens: int) -> sp.csr_matrix:
    """``(ceil(len(ids) / doc_tokens), n_words)`` counts: row ``k`` counts ``ids[k*doc_tokens:(k+1)*doc_tokens]``."""
    ids = np.asarray(ids)
    n_docs = -(-len(ids) // doc_tokens)
    rows = np.arange(len(ids), dtype=np.int64) // doc_tokens
    counts = sp.coo_matrix((np.ones(len(ids), dtype=np.float64), (rows, ids.astype(np.int64))),
                           shape=(n_docs, n_words)).tocsr()  # sums repeated (document, word) pairs
    counts.sort_indices()
    return counts


def weight_counts(counts: sp.spmatrix, weighting: str, sublinear_tf: bool = True,
                  idf: np.ndarray | None = None) -> tuple[sp.csr_matrix, np.ndarray | None]:
    """The bag-of-words rows of a count matrix and the idf used (fitted here when ``idf`` is None)."""
    from sklearn.feature_extraction.text import TfidfTransformer

    check_param("weight_counts", "weighting", weighting, weighting in WEIGHTINGS, f"one of {', '.join(WEIGHTINGS)}")
    x = sp.csr_matrix(counts, dtype=np.float64)
    if weighting == "binary":
        x = x.sign()
    tf = TfidfTransformer(norm="l2", use_idf=weighting == "tfidf", smooth_idf=True,
                          sublinear_tf=sublinear_tf and weighting != "binary")
    if weighting == "tfidf" and idf is not None:
        tf.fit(sp.csr_matrix((1, x.shape[1])))  # sets the fitted state, then the stored idf replaces it
        tf.idf_ = np.asarray(idf, dtype=np.float64)
        return tf.transform(x).tocsr(), tf.idf_
    out = tf.fit_transform(x).tocsr()
    return out, (tf.idf_ if weighting == "tfidf" else None)


class LSA(WordVectors):
    """Latent semantic analysis (see the module docstring).

    Settings (keyword-only, stored unchanged, checked in ``fit``): ``vector_size``
    (SVD rank; capped below the smaller side of the document-term matrix, the
    columns above the cap stay zero, with a warning); ``doc_tokens`` (tokens per document); ``weighting``
    binary|counts|tfidf; ``sublinear_tf``; ``eig`` (power of the singular
    values in the word vectors, 0.5; 1 = ``V S``); ``min_count``;
    ``max_vocab_size``; ``svd_iter``; ``seed``; ``progress`` (unused, for a
    uniform CLI).

    Learned: ``vectors_`` (term vectors), ``vocab_``, ``counts_``, ``index_``,
    ``components_`` ``(k, V)``, ``singular_values_``, ``idf_`` (tfidf only),
    ``document_vectors_`` (the training documents) and ``training_``.
    """

    def __init__(self, *, vector_size: int = 100, doc_tokens: int = 1000, weighting: str = "tfidf",
                 sublinear_tf: bool = True, eig: float = 0.5, min_count: int = 5, max_vocab_size: int | None = None,
                 svd_iter: int = 5, seed: int = 42, progress: bool | None = None) -> None:
        self.vector_size = vector_size
        self.doc_tokens = doc_tokens
        self.weighting = weighting
        self.sublinear_tf = sublinear_tf
        self.eig = eig
        self.min_count = min_count
        self.max_vocab_size = max_vocab_size
        self.svd_iter = svd_iter
        self.seed = seed
        self.progress = progress

    def _validate(self) -> None:
        name = type(self).__name__
        check_param(name, "vector_size", self.vector_size, is_int(self.vector_size, 1), "an int >= 1")
        check_param(name, "doc_tokens", self.doc_tokens, is_int(self.doc_tokens, 1), "an int >= 1")
        check_param(name, "weighting", self.weighting, self.weighting in WEIGHTINGS, f"one of {', '.join(WEIGHTINGS)}")
        check_param(name, "sublinear_tf", self.sublinear_tf, isinstance(self.sublinear_tf, bool), "True or False")
        check_param(name, "eig", self.eig, isinstance(self.eig, (int, float)) and not isinstance(self.eig, bool)
                    and self.eig >= 0, "a number >= 0 (1 = V S, 0.5 = V S^0.5)")
        check_param(name, "min_count", self.min_count, is_int(self.min_count, 1), "an int >= 1")
        check_param(name, "max_vocab_size", self.max_vocab_size,
                    self.max_vocab_size is None or is_int(self.max_vocab_size, 1), "None or an int >= 1")
        check_param(name, "svd_iter", self.svd_iter, is_int(self.svd_iter, 0), "an int >= 0")
        check_param(name, "seed", self.seed, is_int(self.seed, 0), "an int >= 0")

    def fit(self, corpus: Any) -> "LSA":
        """Fit on a text file (plain or .gz), an iterable of token lists, or an ``EncodedCorpus``."""
        self._validate()
        started = time.perf_counter()
        enc = corpus if isinstance(corpus, EncodedCorpus) else encode_corpus(
            corpus, min_count=self.min_count, max_vocab_size=self.max_vocab_size)
        read_s = time.perf_counter() - started
        n_words = len(enc.words)
        counts = document_term_counts(enc.ids, n_words, self.doc_tokens)
        matrix, idf = weight_counts(counts, self.weighting, self.sublinear_tf)
        k = min(self.vector_size, min(matrix.shape) - 1)
        if k < 1:
            raise DataError(f"LSA needs at least 2 documents and 2 words; the corpus gives {matrix.shape[0]} documents "
                            f"of {self.doc_tokens} tokens and {n_words} words. Lower doc_tokens or pass a larger corpus.")
        if k < self.vector_size:
            logger.warning("LSA: the %d x %d document-term matrix allows %d SVD dimensions; the other %d of "
                           "vector_size=%d stay zero.", matrix.shape[0], n_words, k, self.vector_size - k, self.vector_size)
        u, s, vt = truncated_svd(matrix, k, self.svd_iter, self.seed)
        docs = u * s
        components = np.zeros((self.vector_size, n_words), dtype=np.float32)
        components[:k] = vt
        singular = np.zeros(self.vector_size, dtype=np.float32)
        singular[:k] = s
        self.components_, self.singular_values_ = components, singular
        self.idf_ = idf
        self.document_vectors_ = np.zeros((matrix.shape[0], self.vector_size), dtype=np.float32)
        self.document_vectors_[:, :k] = docs
        self._set_vectors(components.T * singular ** float(self.eig), enc.words, enc.counts)
        total = time.perf_counter() - started
        self.training_ = {"corpus": enc.source, "raw_tokens": enc.raw_tokens, "tokens": enc.n_tokens,
                          "documents": int(matrix.shape[0]), "nonzeros": int(matrix.nnz), "read_seconds": round(read_s, 3),
                          "train_seconds": round(total - read_s, 3), "total_seconds": round(total, 3)}
        logger.info("LSA: %d documents x %d words (%d non-zeros), SVD to %d dims in %.1f s.", matrix.shape[0], n_words,
                    matrix.nnz, k, total - read_s)
        return self

    # ----- documents --------------------------------------------------------------------
    def document_counts(self, docs: Iterable[Sequence[str] | str]) -> sp.csr_matrix:
        """``(n, V)`` counts of the known words of each document (token lists, or strings split on whitespace)."""
        self._check_fitted()
        if isinstance(docs, (str, bytes)):
            raise DataError("LSA documents must be a list of texts or token lists, not one string. Wrap it: [text].")
        rows: list[int] = []
        cols: list[int] = []
        n = 0
        for doc in docs:
            tokens = doc.split() if isinstance(doc, str) else doc
            ids = [i for i in map(self.index_.get, tokens) if i is not None]
            rows.extend([n] * len(ids))
            cols.extend(ids)
            n += 1
        return sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, len(self.vocab_))).tocsr()

    def bag_of_words(self, docs: Iterable[Sequence[str] | str]) -> sp.csr_matrix:
        """The weighted, L2-normalised bag-of-words rows (the fitted idf for tfidf)."""
        matrix, _ = weight_counts(self.document_counts(docs), self.weighting, self.sublinear_tf,
                                  self.idf_)
        return matrix

    def transform(self, docs: Iterable[Sequence[str] | str]) -> np.ndarray:
        """Document vectors ``A V`` (float32, ``(n, vector_size)``); a document with no known word maps to zeros."""
        return np.asarray(self.bag_of_words(docs) @ self.components_.T.astype(np.float64), dtype=np.float32)

    # ----- persistence ------------------------------------------------------------------
    def _extra_tensors(self) -> dict[str, np.ndarray]:
        extra = {"components": self.components_, "singular_values": self.singular_values_,
                 "document_vectors": self.document_vectors_}
        if self.idf_ is not None:
            extra["idf"] = self.idf_
        return extra

    def _set_extra_tensors(self, tensors: dict[str, np.ndarray]) -> None:
        self.components_ = tensors["components"]
        self.singular_values_ = tensors["singular_values"]
        self.document_vectors_ = tensors["document_vectors"]
        self.idf_ = tensors.get("idf")
