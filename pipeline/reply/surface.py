"""Casing and spacing for the output of an uncased WordPiece decoder (a model warm-started from MiniLM or BERT).

    >>> restore_surface("call 1 - 800 - 555 - 0199 or write to help @ example. com, it ' s $ 5 ( mon – fri ).",
    ...                 "Call 1-800-555-0199, open Mon–Fri. Email help@example.com.")
    "Call 1-800-555-0199 or write to help@example.com, it's $5 (Mon–Fri)."

Spacing: the decoder puts spaces around every punctuation mark; they are taken out where written text has none
(before ``.,;:!?%)``, after ``($``, inside numbers such as ``1-800`` or ``5.99``, around ``@``, ``'s``, hyphens and
ranges such as ``Mon–Fri``, and in web addresses such as ``example. com``). Casing: each word takes the form it has most often in ``source`` (the prompt:
the customer's message and the policy snippets) away from the start of a sentence; a word the source does not have
stays as decoded; then every sentence starts with a capital and "i" is "I".
"""
from __future__ import annotations

import re
from collections import Counter

_SPACING = (
    (re.compile(r"\s+([.,;:!?%)\]])"), r"\1"),
    (re.compile(r"([(\[$£€#])\s+"), r"\1"),
    (re.compile(r"(\d)\s*([-.,:/])\s*(?=\d)"), r"\1\2"),
    (re.compile(r"\s*@\s*"), "@"),
    (re.compile(r"(\w)\s*'\s*(s|t|re|ve|ll|d|m)\b"), r"\1'\2"),
    (re.compile(r"(\w)\.\s+(com|org|net|io|co|uk|example)\b"), r"\1.\2"),
    (re.compile(r"(\w)\s+-\s+(\w)"), r"\1-\2"),
    (re.compile(r"(\w)\s*–\s*(\w)"), r"\1–\2"),
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_SENTENCE_START = re.compile(r"(^|[.!?]\s+)([a-z])")


def restore_spacing(text: str) -> str:
    for pattern, repl in _SPACING:
        text = pattern.sub(repl, text)
    return " ".join(text.split())


def _cased_forms(source: str) -> dict[str, str]:
    counts: dict[str, Counter] = {}
    for m in _WORD.finditer(source):
        before = source[: m.start()].rstrip()
        if not before or before[-1] in ".!?:\n":  # a capital there says nothing about the word
            continue
        counts.setdefault(m.group().lower(), Counter())[m.group()] += 1
    return {key: forms.most_common(1)[0][0] for key, forms in counts.items()}


def restore_surface(text: str, source: str) -> str:
    """``text`` as written: spacing fixed, casing taken from ``source``, sentence starts capitalised."""
    forms = _cased_forms(source)
    text = restore_spacing(text)
    text = _WORD.sub(lambda m: forms.get(m.group().lower(), m.group()), text)
    text = re.sub(r"\bi\b", "I", text)
    return _SENTENCE_START.sub(lambda m: m.group(1) + m.group(2).upper(), text)


def is_uncased(tokenizer: object) -> bool:
    """Whether the tokenizer lower-cases its input (its decoded output is then all lower case)."""
    return bool(getattr(tokenizer, "do_lower_case", False) or getattr(tokenizer, "init_kwargs", {}).get("do_lower_case"))
