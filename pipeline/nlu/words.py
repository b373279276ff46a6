"""Word splitting and BIO chunking for the slot tagger: one home for answer time and training.

    >>> tokenize_words("order 4471-22, ana@example.com")
    [('order', 0, 5), ('4471-22', 6, 13), (',', 13, 14), ('ana@example.com', 15, 30)]
    >>> bio_spans(["B-city", "I-city", "O", "I-date"])
    [('city', 0, 2), ('date', 3, 4)]

The chunking follows conlleval and seqeval's default mode: a chunk starts at ``B-X``, or at ``I-X`` when
the previous tag is ``O`` or of another type, and runs over the following ``I-X`` tags.
:mod:`training.slot_data` and :mod:`evaluation.spans` import these from here.
"""
from __future__ import annotations

import re
from typing import Sequence

WORD_RE = re.compile(r"\w+(?:[-'.@/+]\w+)*|[^\w\s]")
"""Words: runs of word characters joined by - ' . @ / + (so 4471-22 and ana@example.com stay one word), or one symbol."""


def tokenize_words(text: str) -> list[tuple[str, int, int]]:
    """``[(word, start, end), ...]`` with ``text[start:end] == word``."""
    return [(m.group(), m.start(), m.end()) for m in WORD_RE.finditer(text)]


def split_tag(tag: str) -> tuple[str, str]:
    """``"B-city" -> ("B", "city")``; ``"O" -> ("O", "")``; ``"city"`` (no prefix) counts as ``("I", "city")``."""
    if tag == "O" or not tag:
        return "O", ""
    if len(tag) > 2 and tag[1] == "-" and tag[0] in "BIES":
        return tag[0], tag[2:]
    return "I", tag


def bio_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """Chunks of a tag sequence as ``(type, start, end)`` with ``end`` exclusive (conlleval rules).

    ``E-``/``S-`` prefixes (BIOES) are read as ``I-``/``B-`` plus an end of chunk.
    """
    spans: list[tuple[str, int, int]] = []
    kind, start = "", -1
    for i, tag in enumerate(tags):
        prefix, label = split_tag(tag)
        begins = prefix in ("B", "S") or (prefix in ("I", "E") and label != kind)
        if kind and (prefix == "O" or begins):
            spans.append((kind, start, i))
            kind = ""
        if prefix != "O" and begins:
            kind, start = label, i
        if prefix in ("E", "S") and kind:
            spans.append((kind, start, i + 1))
            kind = ""
    if kind:
        spans.append((kind, start, len(tags)))
    return spans
