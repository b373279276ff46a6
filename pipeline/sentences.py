"""Sentences of policy text: the one splitter that retrieval (sentence scores) and the replies use, and the
light rephrasing into second person.

    >>> split_sentences("Refunds take 5 days. Customers can track them under Account > Orders.")
    ['Refunds take 5 days.', 'Customers can track them under Account > Orders.']
    >>> second_person("Customers can track their refund.")
    'You can track your refund.'
"""
from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_THIRD_PERSON = [
    (re.compile(r"\b([Cc])ustomers (can|must|should|need to|will|may|have to|are|receive|get|pay)\b"),
     lambda m: ("Y" if m.group(1) == "C" else "y") + "ou " + m.group(2)),
    (re.compile(r"\bthe customer's\b"), lambda m: "your"),
    (re.compile(r"\b[Tt]he customer (can|must|should|needs to|will|may)\b"),
     lambda m: "you " + m.group(1).replace("needs", "need")),
]


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(" ".join(text.split())) if s.strip()]


def second_person(sentence: str) -> str:
    """Light rephrasing: "Customers can ..." -> "You can ..."; their -> your in such sentences."""
    out = sentence
    for pattern, repl in _THIRD_PERSON:
        out = pattern.sub(repl, out)
    if out != sentence:
        out = re.sub(r"\btheir\b", "your", out)
        out = re.sub(r"\bthey\b", "you", out)
    return out
