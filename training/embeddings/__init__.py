"""Classical word embeddings trained in the package: word2vec, fastText, GloVe, PPMI and LSA.

    from training.embeddings import Word2Vec, WordVectors
    model = Word2Vec(arch="skipgram", loss="ns").fit("../shared/data/corpus/wiki8_text8style_100M.txt.gz")

Modules: ``corpus`` (streaming reader, vocabulary, int32 ids), ``sampling``
(subsampling, unigram**0.75 table), ``huffman`` (hierarchical-softmax tree),
``base`` (``WordVectors``: similarity, analogies, save/load, word2vec format),
``kernel`` + ``sgd`` (training jobs, compiled or torch), ``word2vec``
(the estimator), ``config`` (the CLI/YAML settings). Count models:
``cooccurrence`` (sparse windowed counts, in chunks), ``glove`` +
``glove_kernel`` (GloVe), ``ppmi`` (PPMI + SVD), ``count`` (bag of words, LSA).
"""
from __future__ import annotations

import importlib
from typing import Any

# Lazy re-exports: ``evaluation.wordvec`` needs only ``base`` and should not pay for importing torch.
_EXPORTS = {"Word2Vec": "word2vec", "FastText": "fasttext", "WordVectors": "base", "VocabularyError": "base",
            "EncodedCorpus": "corpus", "encode_corpus": "corpus",
            "GloVe": "glove", "PPMI": "ppmi", "LSA": "count", "cooccurrence_matrix": "cooccurrence"}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"training.embeddings.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'training.embeddings' has no attribute {name!r}")
