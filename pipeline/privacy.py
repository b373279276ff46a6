"""Mask personal data (emails, phone numbers, card-like numbers) before text reaches logs or written files.

    >>> mask_pii("write to ana@example.com or call +1 415 555 0100")
    'write to [EMAIL] or call [PHONE]'
    >>> mask_pii("card 4111 1111 1111 1111, order 12345")
    'card [CARD], order 12345'

Emails and phone numbers use the pattern extractor's own expressions
(:mod:`pipeline.nlu.entities`), so what the pipeline calls a phone number is what is
masked. A card-like number is 13 to 19 digits, optionally grouped by spaces or
dashes, that passes the Luhn check (payment card numbers do; an order number
does so only by chance, one time in ten, and one the pattern extractor reads
as an order or invoice number, "order 113542617735902", is left alone). Masking is on by default wherever the
package writes a message to a log or a predictions file; ``--keep-pii`` turns
it off for a run whose outputs stay private.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

from pipeline.types import Entity

PLACEHOLDERS = {"email": "[EMAIL]", "phone_number": "[PHONE]", "card_number": "[CARD]"}

_CARD = re.compile(r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\w-])")


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a digit string (payment card numbers pass it)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def find_pii(text: str) -> list[tuple[int, int, str]]:
    """Non-overlapping ``(start, end, type)`` spans of emails, phone numbers and card-like numbers."""
    from pipeline.nlu.entities import _PATTERNS

    found: list[tuple[int, int, str]] = []

    def add(start: int, end: int, kind: str) -> None:
        if end > start and not any(start < e and s < end for s, e, _ in found):
            found.append((start, end, kind))

    for pattern in _PATTERNS["email"]:
        for m in pattern.finditer(text):
            add(*m.span("v"), "email")
    from pipeline.nlu.entities import extract_entities

    labelled = [(e.start, e.end) for e in extract_entities(text) if e.type in ("order_number", "invoice_number")]
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        named = any(m.start() < e and s < m.end() for s, e in labelled)  # "order 1135...": an order number
        if 13 <= len(digits) <= 19 and luhn_ok(digits) and not named:
            add(m.start(), m.end(), "card_number")
    for pattern in _PATTERNS["phone_number"]:
        for m in pattern.finditer(text):
            add(*m.span("v"), "phone_number")
    return sorted(found)


def mask_pii(text: str | None) -> str | None:
    """``text`` with each email, phone number and card-like number replaced by a placeholder."""
    if not text:
        return text
    out, last = [], 0
    for start, end, kind in find_pii(text):
        out.append(text[last:start])
        out.append(PLACEHOLDERS[kind])
        last = end
    out.append(text[last:])
    return "".join(out)


def mask_entities(entities: Iterable[Entity | dict]) -> list[dict]:
    """Entities as dicts, with the text of personal-data types (and card-like values of any type) masked."""
    from pipeline.types import to_dict

    out = []
    for ent in entities:
        d = dict(to_dict(ent)) if not isinstance(ent, dict) else dict(ent)
        if d.get("type") in PLACEHOLDERS:
            d["text"] = PLACEHOLDERS[d["type"]]
        elif isinstance(d.get("text"), str):
            d["text"] = mask_pii(d["text"])
        out.append(d)
    return out


def mask_trace(trace: Any) -> Any:
    """A turn's JSON trace with the personal data the customer typed masked wherever it appears.

    The values are those :func:`find_pii` finds in the customer's text (this message, and the earlier turns'
    text carried in its context) plus the personal-data entities; snippet text (the store's own phone number)
    is left as it is unless it repeats such a value.
    """
    if not isinstance(trace, dict):
        return trace
    context = trace.get("context") or {}
    sources = [trace.get("message"), trace.get("text"), context.get("previous_text"), context.get("pending_text")]
    values: dict[str, str] = {}
    for text in filter(None, sources):
        for start, end, kind in find_pii(text):
            values[text[start:end]] = PLACEHOLDERS[kind]
    for ent in [*(trace.get("entities") or []), *(context.get("entities") or [])]:
        if ent.get("type") in PLACEHOLDERS and ent.get("text"):
            values[ent["text"]] = PLACEHOLDERS[ent["type"]]
    ordered = [(re.compile(rf"(?<![\w-]){re.escape(v)}(?![\w-])"), placeholder)  # whole values: not inside 1-800-555-0199
               for v, placeholder in sorted(values.items(), key=lambda kv: -len(kv[0]))]

    def walk(obj: Any) -> Any:
        if isinstance(obj, str):
            for pattern, placeholder in ordered:
                obj = pattern.sub(placeholder, obj)
            return obj
        if isinstance(obj, dict):
            return {k: walk(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        return obj

    return walk(trace) if ordered else trace
