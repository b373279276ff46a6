"""Character n-grams of words and fastText's hashing of them into buckets.

fastText (Bojanowski et al. 2017) represents a word by itself plus the
character n-grams of ``"<" + word + ">"`` for ``min_n <= n <= max_n``
(3..6): ``where`` with n = 3 gives ``<wh whe her ere re>``. The whole
bracketed word is one of them when it is short enough (``<the>``). A
"character" is a Unicode code point (fastText counts UTF-8 lead bytes), and
the one-character n-grams ``<`` and ``>`` are never used (they only occur
with ``min_n = 1``). N-grams come in fastText's order (by start, then by
length) and repeats are kept: ``aaaa`` holds ``aaa`` twice and uses its vector
twice, as fastText and gensim do.

Each n-gram is hashed with 32-bit FNV-1a over its UTF-8 bytes, exactly as
fastText's ``Dictionary::hash`` (bytes are sign-extended before the XOR,
which only matters for non-ASCII bytes; gensim's ``ft_hash_bytes`` does the
same), and lands in bucket ``hash % bucket``. Different n-grams may share a
bucket; that is the hashing trick.

``build_subword_index`` turns a vocabulary into CSR arrays (per word: its own
row, then the rows of its n-gram buckets) over one input matrix of
``len(words) + n_rows`` rows. Only buckets that some vocabulary word uses get
a row (``buckets[r]`` is the bucket of n-gram row ``r``), numbered in order of
first use by the vocabulary sorted by frequency, so the rows of frequent words
sit together in memory. With fastText's 2,000,000 buckets the 67,903-word
vocabulary of the 100M wiki8 corpus (24 n-grams a word) uses 293,809 of them;
the unused ones could only ever hold their random initial values.

    char_ngrams("where", 3, 3)  # ['<wh', 'whe', 'her', 'ere', 're>']
    fnv1a_32(b"a")              # 3826002220 (0xe40c292c)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

FNV_OFFSET = 2166136261
FNV_PRIME = 16777619


def char_ngrams(word: str, min_n: int, max_n: int) -> list[str]:
    """The character n-grams of ``<word>``, fastText's order (by start, then length)."""
    s = f"<{word}>"
    out = []
    for i in range(len(s)):
        for n in range(min_n, min(max_n, len(s) - i) + 1):
            if n == 1 and (i == 0 or i == len(s) - 1):
                continue
            out.append(s[i:i + n])
    return out


def fnv1a_32(data: bytes) -> int:
    """fastText's FNV-1a hash of a byte string (bytes sign-extended, as ``int8_t``)."""
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ (b | 0xFFFFFF00 if b >= 0x80 else b)) * FNV_PRIME) & 0xFFFFFFFF
    return h


def fnv1a_32_many(items: Sequence[bytes]) -> np.ndarray:
    """``fnv1a_32`` of many byte strings at once (uint32), vectorised over their bytes."""
    lengths = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
    h = np.full(len(items), FNV_OFFSET, dtype=np.uint32)
    if not len(items):
        return h
    width = int(lengths.max())
    flat = np.frombuffer(b"".join(items), dtype=np.int8)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    prime = np.uint32(FNV_PRIME)
    for k in range(width):
        live = np.flatnonzero(lengths > k)
        byte = flat[starts[live] + k].astype(np.int32).astype(np.uint32)  # sign extension, then mod 2**32
        h[live] = (h[live] ^ byte) * prime  # uint32 arithmetic wraps
    return h


def ngram_buckets(word: str, min_n: int, max_n: int, bucket: int) -> np.ndarray:
    """The bucket of every n-gram of ``word`` (int64, in ``char_ngrams`` order)."""
    grams = [g.encode("utf-8") for g in char_ngrams(word, min_n, max_n)]
    return fnv1a_32_many(grams).astype(np.int64) % bucket


@dataclass
class SubwordIndex:
    """Which rows of the input matrix make up each vocabulary word.

    Word ``w`` uses rows ``rows[offsets[w]:offsets[w + 1]]`` (int32): first
    ``w`` itself, then ``n_words + r`` for each of its n-grams' rows ``r``.
    ``buckets`` (int64) is the bucket of each of the ``n_rows`` n-gram rows.
    """

    offsets: np.ndarray
    rows: np.ndarray
    buckets: np.ndarray
    n_words: int

    @property
    def n_rows(self) -> int:
        return int(len(self.buckets))

    def ngram_rows(self, word_id: int) -> np.ndarray:
        """The n-gram rows (0-based in the n-gram matrix) of a vocabulary word."""
        return self.rows[self.offsets[word_id] + 1:self.offsets[word_id + 1]].astype(np.int64) - self.n_words


def build_subword_index(words: Sequence[str], min_n: int, max_n: int, bucket: int) -> SubwordIndex:
    """CSR rows of every word (see ``SubwordIndex``); only buckets in use get a row."""
    grams: list[bytes] = []
    counts = np.empty(len(words), dtype=np.int64)
    for i, word in enumerate(words):
        g = char_ngrams(word, min_n, max_n)
        counts[i] = len(g)
        grams.extend(x.encode("utf-8") for x in g)
    hashes = fnv1a_32_many(grams).astype(np.int64) % bucket
    used, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # rows numbered by first use (frequent words first)
    rank = np.empty(len(used), dtype=np.int64)
    rank[order] = np.arange(len(used))
    gram_rows = rank[inverse.reshape(-1)] + len(words)
    offsets = np.concatenate([[0], np.cumsum(counts + 1)]).astype(np.int64)
    rows = np.empty(int(offsets[-1]), dtype=np.int32)
    rows[offsets[:-1]] = np.arange(len(words), dtype=np.int32)
    is_gram = np.ones(len(rows), dtype=bool)
    is_gram[offsets[:-1]] = False
    rows[is_gram] = gram_rows
    return SubwordIndex(offsets=offsets, rows=rows, buckets=used[order].astype(np.int64), n_words=len(words))
