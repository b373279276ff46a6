"""Reading a message with its conversation: answers to a clarification question, and short follow-ups.

    >>> offered = [Offer("cancel_order", "cancelling an order"), Offer("track_order", "tracking an order")]
    >>> answer_by_words("the second one", offered), answer_by_words("tracking", offered), answer_by_words("cancel it", offered)
    ('track_order', 'track_order', 'cancel_order')
    >>> answer_by_words("how do I reset my password", offered) is None
    True
    >>> looks_like_follow_up("and how long does that take?"), looks_like_follow_up("I want to reset my password")
    (True, False)

    >>> concern_segments("Can I change the address for order 55120, and how long does shipping to Canada take?")
    ['Can I change the address for order 55120', 'how long does shipping to Canada take?']

All are plain functions of the text; the NLU stage (:mod:`pipeline.nlu.stage`) combines them with the
classifier's ranking.
"""
from __future__ import annotations

import re
from typing import Sequence

from pipeline.types import Offer

STOPWORDS = frozenset(
    "a an the and or but if so to of in on at for from by with about as is are was were be been am do does did done "
    "i me my mine we us our you your it its this that these those there here what which who whom when where why how "
    "can could would should will shall may might must have has had having not no yes ok okay please thanks thank hi "
    "hello hey just then than too also any some one ones really want wanted need like get got let know tell see "
    "im i'm it's that's what's whats isnt isn't dont don't cant can't wont won't".split()
)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_ORDINALS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"\b(?:first|1st|former|top|number\s*(?:one|1)|option\s*(?:one|1)|#\s*1)\b|^\W*(?:one|1)\W*$"), 0),
    (re.compile(r"\b(?:second|2nd|latter|last|other|bottom|number\s*(?:two|2)|option\s*(?:two|2)|#\s*2)\b"
                r"|^\W*(?:two|2)\W*$"), 1),
)
_FOLLOW_UP_OPENERS = re.compile(
    r"^\W*(?:and|also|so|but|ok(?:ay)?\s+and|what\s+about|how\s+about|what\s+if|and\s+if|then|plus)\b", re.I)
_ANAPHORA = re.compile(r"\b(?:it|that|this|those|them|they|there|one)\b", re.I)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def content_words(text: str) -> list[str]:
    """The words of ``text`` that are not function words."""
    return [w for w in words(text) if w not in STOPWORDS]


def _same_word(a: str, b: str) -> bool:
    """Equal, or sharing a prefix of at least 5 letters ("tracking" ~ "track", "cancellation" ~ "cancel")."""
    if a == b:
        return True
    n = min(len(a), len(b))
    return n >= 5 and a[:5] == b[:5] and (a.startswith(b[: n - 1]) or b.startswith(a[: n - 1]))


def answer_by_words(text: str, offered: Sequence[Offer]) -> str | None:
    """The offered intent a clarification answer names by position or by its own words, else None."""
    if not offered:
        return None
    lowered = " ".join(text.lower().split())
    for pattern, position in _ORDINALS:
        if position < len(offered) and pattern.search(lowered):
            return offered[position].intent
    own = [set(content_words(o.topic.replace("_", " ")) + content_words(o.intent.replace("_", " "))) for o in offered]
    shared = set.intersection(*own) if len(own) > 1 else set()
    said = content_words(lowered)
    hits = [sum(any(_same_word(w, t) for t in topic - shared) for w in said) for topic in own]
    best = max(hits)
    if best and hits.count(best) == 1:
        return offered[hits.index(best)].intent
    return None


def looks_like_follow_up(text: str, max_words: int = 8) -> bool:
    """A short message with little content of its own: "and how long does that take?", "what about the fee?"."""
    all_words = words(text)
    if not all_words or len(all_words) > max_words:
        return False
    content = [w for w in content_words(text) if len(w) > 2 and not any(c.isdigit() for c in w)]  # ids add no topic
    if _FOLLOW_UP_OPENERS.search(text):
        return len(content) <= 3
    return len(content) <= 1 or (bool(_ANAPHORA.search(text)) and len(content) <= 2)


_CONCERN_SPLIT = re.compile(
    r"(?<=[.?!;])\s+(?=\S)"
    r"|\s*,?\s+(?:and|also|plus|but)\s+(?:also\s+)?(?=(?:how|what|when|where|why|which|can|could|do|does|is|are|will|would|"
    r"should|i|i'm|i'd|my|please|is there|you)\b)"
    r"|\s*,\s*(?:also|plus)\s+", re.I)


def concern_segments(text: str, min_words: int = 3) -> list[str]:
    """The message cut at sentence ends and at conjunctions that open another question; short pieces merge back."""
    pieces = [p.strip(" ,;") for p in _CONCERN_SPLIT.split(text) if p and p.strip(" ,;")]
    out: list[str] = []
    for piece in pieces:
        if out and len(words(piece)) < min_words:
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    if len(out) > 1 and len(words(out[0])) < min_words:
        out[1] = f"{out[0]} {out[1]}"
        out = out[1:]
    return out
