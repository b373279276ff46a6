"""Knowledge-base retrieval with any sentence featuriser: cosine between message and snippet features.

    from evaluation.baseline_retrieval import FeatureRetriever, score_retrieval
    from training.wordvec_features import WordVectorFeaturizer
    r = FeatureRetriever(featurizer=WordVectorFeaturizer(vectors="artifacts/embeddings/w2v-sgns")).fit(kb.snippets)
    r.rank(["where is my parcel"])[0][:3]                       # snippet ids, best first
    score_retrieval(WordVectorFeaturizer(vectors=...), kb, examples)   # {"hit@1", "hit@3", "mrr", "n"}

The featuriser is fitted on the snippets' full text
(:func:`pipeline.retrieval.document_text`: title, policy text, tags), so a
TF-IDF weighting takes its idf from the knowledge base; messages are scored by
cosine with every snippet and ranked (ties keep knowledge-base order). No
intent is used: these rows compare with ``evaluation.retrieval``'s "TF-IDF
cosine", "BM25" and "dense only, full text (plain)". A message with no known
word scores 0 everywhere and gets the knowledge-base order.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from scipy import sparse

from evaluation.ranking import RankingEvaluator
from pipeline.errors import NotFittedError


def _unit_rows(x: Any) -> Any:
    if sparse.issparse(x):
        x = sparse.csr_matrix(x, dtype=np.float64)
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1))).ravel()
        return sparse.diags(1.0 / np.maximum(norms, 1e-12)) @ x
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class FeatureRetriever:
    """Ranks knowledge-base snippets by the cosine of featuriser vectors (an estimator: ``fit(snippets)``)."""

    def __init__(self, *, featurizer: Any = None) -> None:
        self.featurizer = featurizer

    def fit(self, snippets: Sequence[Any]) -> "FeatureRetriever":
        from pipeline.retrieval.retriever import document_text

        texts = [document_text(s) for s in snippets]
        self.ids_ = [s.id for s in snippets]
        self.doc_vectors_ = _unit_rows(self.featurizer.fit(texts).transform(texts))
        return self

    def score(self, messages: Sequence[str]) -> np.ndarray:
        """Cosine similarities, ``(len(messages), n_snippets)``."""
        if getattr(self, "doc_vectors_", None) is None:
            raise NotFittedError("This FeatureRetriever instance is not fitted yet. Call 'fit' first.")
        q = _unit_rows(self.featurizer.transform(list(messages)))
        out = q @ self.doc_vectors_.T
        return np.asarray(out.todense() if sparse.issparse(out) else out, dtype=np.float64)

    def rank(self, messages: Sequence[str]) -> list[list[str]]:
        """Every snippet id per message, best first (ties in knowledge-base order)."""
        return [[self.ids_[j] for j in np.argsort(-row, kind="stable")] for row in self.score(messages)]


def score_retrieval(featurizer: Any, kb: Any, examples: Sequence[Any], ks: Sequence[int] = (1, 3)) -> dict[str, float]:
    """hit@k and MRR of :class:`FeatureRetriever` over labelled examples (``.message``, ``.snippet_ids``)."""
    retriever = FeatureRetriever(featurizer=featurizer).fit(kb.snippets)
    rankings = retriever.rank([ex.message for ex in examples])
    return RankingEvaluator(ks=tuple(ks)).evaluate(rankings, [list(ex.snippet_ids) for ex in examples]).aggregate


class EncoderFeatures:
    """A sentence encoder (``encode(texts) -> (n, d)``) as a featuriser: nothing to fit."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder

    def fit(self, texts: Sequence[str]) -> "EncoderFeatures":
        return self

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.encoder.encode(list(texts)), dtype=np.float64)


def score_dense(encoder: Any, kb: Any, examples: Sequence[Any], ks: Sequence[int] = (1, 3)) -> dict[str, float]:
    """The same protocol with a sentence encoder: plain cosine, no intent."""
    return score_retrieval(EncoderFeatures(encoder), kb, examples, ks)
