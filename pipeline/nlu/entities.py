"""Deterministic pattern extraction of the values a support reply may need.

Finds order numbers, invoice numbers, email addresses, phone numbers, money
amounts and dates in a customer message, each as an :class:`~pipeline.types.Entity`
with the exact character span (``message[start:end] == entity.text``) and
``source="pattern"``. No model, no I/O: the same message always gives the same
entities.

    >>> [(e.type, e.text) for e in extract_entities("Refund order #12345 to jo@x.com")]
    [('order_number', '12345'), ('email', 'jo@x.com')]

Entity types: ``order_number``, ``invoice_number``, ``email``, ``phone_number``,
``amount``, ``date``. When two patterns claim overlapping text the earlier type
in that priority order wins (email before phone, invoice before order, ...).
"""
from __future__ import annotations

import re
from typing import Iterable

from pipeline.types import Entity

ENTITY_TYPES = ("email", "invoice_number", "order_number", "amount", "date", "phone_number")
"""Extraction priority: on overlapping spans the type listed first wins."""

_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_WEEKDAYS = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_CURRENCY_WORDS = r"(?:dollars?|usd|euros?|eur|pounds?|gbp|bucks)"

# Each pattern's group "v" is the value span; the rest is context that must be present.
_PATTERNS: dict[str, list[re.Pattern[str]]] = {
    "email": [re.compile(r"(?P<v>\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b)", re.I)],
    "invoice_number": [
        re.compile(
            r"\b(?:invoice|invoicw|bill|receipt)s?\s*(?:number|no\.?|num\.?|id)?\s*[:#]?\s*"
            r"#?(?P<v>(?:[a-z]{1,4}-)?\d[\d-]{2,}\d)\b",
            re.I,
        ),
        re.compile(r"(?P<v>\bINV-?\d{3,}(?:-\d+)*\b)", re.I),
    ],
    "order_number": [
        re.compile(
            r"\b(?:order|purchase|ord|package|parcel|shipment|tracking)s?\s*"
            r"(?:number|no\.?|num\.?|id|code)?\s*(?:is\s+)?[:#]?\s*#?(?P<v>(?:[a-z]{1,4}-)?\d[\d-]{2,}\d)\b",
            re.I,
        ),
        re.compile(r"(?<!agent )(?<!agent)(?<!rep )(?<!ticket )(?<!case )(?<!room )(?<!suite )(?<!apt )(?:^|(?<=\s))#(?P<v>\d{4,})\b", re.I),
        re.compile(r"(?<![\w-])(?P<v>(?!INV)[A-Z]{2,4}-\d{6,})\b"),  # a store reference without a cue word: NW-48213377
    ],
    "amount": [
        re.compile(r"(?P<v>(?:[$€£]\s?|\b(?:usd|eur|gbp)\s?)(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,2})?(?!\d|,\d))", re.I),
        re.compile(rf"(?P<v>\b(?:\d{{1,3}}(?:,\d{{3}})+|\d+)(?:\.\d{{1,2}})?\s?{_CURRENCY_WORDS}\b)", re.I),
        re.compile(r"(?P<v>\d+(?:\.\d{1,2})?\s?[€£])"),
    ],
    "date": [
        re.compile(r"(?P<v>\b\d{4}-\d{1,2}-\d{1,2}\b)"),
        re.compile(r"(?P<v>\b\d{1,2}[/.]\d{1,2}[/.](?:\d{4}|\d{2})\b)"),
        re.compile(rf"(?P<v>\b{_MONTHS}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?\b)", re.I),
        re.compile(rf"(?P<v>\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTHS}\.?(?:,?\s+\d{{4}})?\b)", re.I),
        re.compile(rf"(?P<v>\b(?:yesterday|today|tomorrow|(?:last|next|this)\s+(?:week|month|{_WEEKDAYS})|{_WEEKDAYS})\b)", re.I),
    ],
    "phone_number": [
        re.compile(r"(?P<v>(?<![\w#])\+\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{2,4}){1,4}\b)"),
        re.compile(r"(?P<v>(?<![\w#+])\(\d{3}\)\s?\d{3}[\s.-]?\d{4}\b)"),
        re.compile(r"(?P<v>(?<![\w#+-])\d{3}[.-]\d{3}[.-]\d{4}\b)"),
        re.compile(r"(?P<v>(?<![\w#+.-])\d{3}[.-]\d{4}\b(?![.-]\d))"),  # a 7-digit local number: 555-0199
        re.compile(r"\b(?:phone|call|mobile|cell|tel\.?|number is)\D{0,12}?(?P<v>(?<![\w#])\d{7,15}\b)", re.I),
    ],
}


def _candidates(message: str) -> Iterable[tuple[int, int, str, str]]:
    for rank, kind in enumerate(ENTITY_TYPES):
        for pattern in _PATTERNS[kind]:
            for match in pattern.finditer(message):
                start, end = match.span("v")
                if end > start:
                    yield rank, start, end, kind


def extract_entities(message: str) -> list[Entity]:
    """All pattern entities in ``message``, in order of position, without overlaps."""
    if not message:
        return []
    chosen: list[tuple[int, int, str]] = []
    for _, start, end, kind in sorted(_candidates(message), key=lambda c: (c[0], c[1], -(c[2] - c[1]))):
        if any(start < e and s < end for s, e, _ in chosen):
            continue
        chosen.append((start, end, kind))
    chosen.sort()
    return [Entity(type=kind, text=message[s:e], start=s, end=e, confidence=1.0, source="pattern") for s, e, kind in chosen]


def normalise_value(entity: Entity) -> str:
    """The value to mention in a reply (spans already exclude a leading '#')."""
    return entity.text.strip()


def first_of(entities: Iterable[Entity], kind: str) -> str | None:
    """The normalised value of the first entity of type ``kind``, or None."""
    for entity in entities:
        if entity.type == kind:
            return normalise_value(entity)
    return None


class EntityExtractor:
    """Component wrapper: ``run(messages) -> {"entities": list[list[Entity]]}``."""

    name = "patterns"

    def warm_up(self) -> None:
        """Nothing to load; present for the component interface."""

    def run(self, messages: list[str]) -> dict[str, list[list[Entity]]]:
        return {"entities": [extract_entities(m) for m in messages]}


def reference(entities: Iterable[Entity], prefer: str = "order") -> str | None:
    """"order 12345" or "invoice INV-1": the number a reply may restate, as a reference (``prefer`` comes first)."""
    entities = list(entities)
    order, invoice = first_of(entities, "order_number"), first_of(entities, "invoice_number")
    found = [("order", order), ("invoice", invoice)]
    found.sort(key=lambda kv: kv[0] != prefer)
    return next((f"{kind} {value}" for kind, value in found if value), None)
