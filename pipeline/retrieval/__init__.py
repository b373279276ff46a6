"""Retrieval stage: policy snippets by predicted intent plus embedding cosine similarity (and BM25).

- :mod:`pipeline.retrieval.retriever`: :class:`Retriever` and :class:`RetrieverConfig`
- :mod:`pipeline.retrieval.embedding`: the sentence encoder and the on-disk embedding cache
- :mod:`pipeline.retrieval.lexical`: BM25 and the TF-IDF tokeniser
- :mod:`pipeline.retrieval.vector_index`: exact and FAISS indexes
"""
from pipeline.retrieval.retriever import Retriever, RetrieverConfig  # noqa: F401  (the documented import path)
