"""Streaming corpus reader and vocabulary: text in, int32 word ids out.

The corpus is read once, in blocks of bytes (plain or ``.gz``), split on ASCII
whitespace and mapped to provisional ids through one dict; only one block's
tokens exist as Python objects at a time. After the pass, words under
``min_count`` (and beyond ``max_vocab_size``) are dropped and the ids are
renumbered by descending count, so id 0 is the most frequent word. What stays
in memory is the id array (4 bytes a token: the 16.9M-token wiki8 corpus is
68 MB) and the sentence ends.

Sentences are the lines of the file, cut every ``max_sentence_length`` raw
tokens (10,000, as in word2vec.c and gensim's ``Text8Corpus``): a text8-style
file is one line, so it becomes 10,000-word sentences. Context windows never
cross a sentence end. Dropped (rare) words are removed before windowing, so a
window reaches over them, as in word2vec.c and gensim.

Shared by every embedding method in ``training.embeddings``::

    corpus = encode_corpus("../shared/data/corpus/wiki8_text8style_100M.txt.gz", min_count=5)
    corpus.ids[:10], corpus.words[:5], corpus.counts[:5]
"""
from __future__ import annotations

import gzip
import logging
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence, Union

import numpy as np

from pipeline.errors import DataError

logger = logging.getLogger(__name__)

MAX_SENTENCE_LENGTH = 10_000
BLOCK_BYTES = 8 << 20
_WHITESPACE = (b" ", b"\n", b"\t", b"\r", b"\x0b", b"\x0c")

Corpus = Union[str, os.PathLike, Iterable[Sequence[str]]]


@dataclass
class EncodedCorpus:
    """A corpus as word ids.

    ``ids`` (int32) holds the kept tokens in order; sentence ``k`` is
    ``ids[sentence_ends[k-1]:sentence_ends[k]]`` (``sentence_ends`` is int64,
    last entry ``len(ids)``). ``words`` and ``counts`` (int64) are the
    vocabulary sorted by descending count; ``raw_tokens`` counts every token
    read, rare words included.
    """

    ids: np.ndarray
    sentence_ends: np.ndarray
    words: list[str]
    counts: np.ndarray
    raw_tokens: int
    source: str

    def __post_init__(self) -> None:
        if self.ids.dtype != np.int32 or self.sentence_ends.dtype != np.int64:
            raise TypeError("EncodedCorpus needs int32 ids and int64 sentence_ends.")
        if len(self.words) != len(self.counts):
            raise ValueError("EncodedCorpus: words and counts differ in length.")
        if len(self.sentence_ends) and int(self.sentence_ends[-1]) != len(self.ids):
            raise ValueError("EncodedCorpus: the last sentence end must equal len(ids).")

    @property
    def n_tokens(self) -> int:
        return int(len(self.ids))


def _open_binary(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def iter_text_blocks(path: str | os.PathLike[str], block_bytes: int = BLOCK_BYTES) -> Iterator[bytes]:
    """Yield blocks of the file that each end on whitespace (the last one at EOF)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Corpus file {str(path)!r} does not exist. Pass a plain or .gz text file.")
    leftover = b""
    with _open_binary(path) as fh:
        while True:
            try:
                block = fh.read(block_bytes)
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:  # a truncated or damaged .gz
                raise DataError(f"Corpus file {str(path)!r} is a damaged gzip file ({type(exc).__name__}: {exc}). "
                                "Copy or compress it again.") from None
            if not block:
                break
            buf = leftover + block
            cut = max(buf.rfind(ws) for ws in _WHITESPACE)
            if cut < 0:  # one token longer than a block: keep reading
                leftover = buf
                continue
            leftover = buf[cut:]
            yield buf[:cut]
    if leftover:
        yield leftover


def iter_sentence_blocks(corpus: Corpus, block_bytes: int = BLOCK_BYTES) -> Iterator[tuple[list, list[int]]]:
    """Yield ``(tokens, breaks)`` per block: the block's tokens and the positions
    (in the block's token list) where a new line starts. Tokens are ``bytes``
    for a file and ``str`` for an iterable of token lists (each list is a line)."""
    if isinstance(corpus, (str, os.PathLike)):
        for block in iter_text_blocks(corpus, block_bytes):
            tokens: list[bytes] = []
            breaks: list[int] = []
            for k, line in enumerate(block.split(b"\n")):
                if k:
                    breaks.append(len(tokens))
                tokens.extend(line.split())
            yield tokens, breaks
        return
    if isinstance(corpus, (bytes, bytearray)):
        raise DataError("A corpus must be a file path or an iterable of token lists. Got bytes.")
    tokens_s: list[str] = []
    breaks_s: list[int] = []
    for sentence in corpus:
        if isinstance(sentence, str):
            raise DataError(
                "A corpus iterable must yield lists of tokens, not strings. "
                f"Got {sentence[:40]!r}; split each sentence first (e.g. line.split())."
            )
        breaks_s.append(len(tokens_s))
        tokens_s.extend(sentence)
        if len(tokens_s) >= 1_000_000:
            yield tokens_s, breaks_s
            tokens_s, breaks_s = [], []
    if tokens_s or breaks_s:
        yield tokens_s, breaks_s


def _sentence_cuts(n_raw: int, line_starts: np.ndarray, max_len: int) -> np.ndarray:
    """Raw-token positions where a sentence starts: line starts plus every ``max_len`` tokens."""
    starts = np.unique(np.concatenate([[0], line_starts, [n_raw]])).astype(np.int64)
    lengths = np.diff(starts)
    extra = [np.arange(a + max_len, b, max_len, dtype=np.int64)
             for a, b in zip(starts[:-1][lengths > max_len], starts[1:][lengths > max_len])]
    return np.unique(np.concatenate([starts, *extra]))


def select_vocabulary(counts: np.ndarray, min_count: int, max_vocab_size: int | None) -> np.ndarray:
    """Provisional ids of the kept words, by descending count (ties: first seen first)."""
    order = np.argsort(-counts, kind="stable")
    order = order[counts[order] >= min_count]
    if max_vocab_size is not None:
        order = order[:max_vocab_size]
    return order


def encode_corpus(
    corpus: Corpus,
    *,
    min_count: int = 5,
    max_vocab_size: int | None = None,
    max_sentence_length: int = MAX_SENTENCE_LENGTH,
    block_bytes: int = BLOCK_BYTES,
) -> EncodedCorpus:
    """Read ``corpus`` once and return it as word ids with its vocabulary.

    ``corpus`` is a path to a plain or gzip text file (read in blocks), or an
    iterable of token lists (one list per sentence). ``max_vocab_size`` keeps
    the most frequent words after ``min_count`` (gensim's ``max_final_vocab``).
    """
    index: dict = {}
    keys: list = []
    chunks: list[np.ndarray] = []
    line_starts: list[np.ndarray] = []
    n_raw = 0
    for tokens, breaks in iter_sentence_blocks(corpus, block_bytes):
        # First-seen order: iterating a set would order words of equal count by PYTHONHASHSEED.
        new = [tok for tok in dict.fromkeys(tokens) if tok not in index]
        for tok in new:
            index[tok] = len(keys)
            keys.append(tok)
        chunks.append(np.fromiter(map(index.__getitem__, tokens), dtype=np.int32, count=len(tokens)))
        if breaks:
            line_starts.append(np.asarray(breaks, dtype=np.int64) + n_raw)
        n_raw += len(tokens)
    source = str(corpus) if isinstance(corpus, (str, os.PathLike)) else f"<{type(corpus).__name__} of token lists>"
    if n_raw == 0:
        raise DataError(f"Corpus {source!r} holds no tokens. Pass a non-empty text file or token lists.")
    raw = np.concatenate(chunks)
    del chunks
    counts_all = np.bincount(raw, minlength=len(keys)).astype(np.int64)
    kept = select_vocabulary(counts_all, min_count, max_vocab_size)
    if len(kept) == 0:
        raise DataError(
            f"No word of corpus {source!r} occurs at least min_count={min_count} times "
            f"({n_raw} tokens, {len(keys)} types). Lower min_count or pass a larger corpus."
        )
    remap = np.full(len(keys), -1, dtype=np.int32)
    remap[kept] = np.arange(len(kept), dtype=np.int32)
    raw = remap[raw]
    mask = raw >= 0
    ids = raw[mask]
    cuts = _sentence_cuts(n_raw, np.concatenate(line_starts) if line_starts else np.zeros(0, np.int64), max_sentence_length)
    kept_before = np.concatenate([[0], np.cumsum(mask, dtype=np.int64)])
    ends = np.unique(kept_before[cuts[1:]])
    ends = ends[ends > 0]
    del raw, mask, kept_before
    words = [k.decode("utf-8", errors="replace") if isinstance(k, bytes) else str(k) for k in (keys[i] for i in kept)]
    logger.info("Read %d tokens, %d types; kept %d words (%d tokens) with min_count=%d.",
                n_raw, len(keys), len(words), len(ids), min_count)
    return EncodedCorpus(ids=ids, sentence_ends=ends.astype(np.int64), words=words,
                         counts=counts_all[kept], raw_tokens=n_raw, source=source)
