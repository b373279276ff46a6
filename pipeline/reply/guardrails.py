"""Post-generation checks run on every generated reply.

Five checks, each named in ``GuardrailResult.fired`` when it fails:

- ``length``: the reply has between ``min_words`` and ``max_words`` words.
- ``numbers``: every number, amount, duration and percentage in the reply
  appears in the retrieved snippets or is one of the reference numbers the
  customer gave (an order or invoice number, passed as ``allowed``): an amount,
  a phone number or a date the customer typed is never stated back as fact. ``5-7`` and
  ``5–7``, ``$10`` and ``10 dollars``, ``five`` and ``5``, ``1,499`` and
  ``1499`` count as the same numbers; numbered-list markers ("1. Sign in" at
  the start of a line, or an in-line run "1. Sign in 2. Open Orders") are not
  claims and are skipped.
- ``values``: every email address, web address and domain in the reply appears
  in the snippets (a customer's "send it to attacker@evil.example" is not echoed).
- ``placeholders``: no unfilled template slot (``{{Order Number}}``,
  ``{order_id}``, ``[Customer Name]``, ``<name>``, ``<unk>``).
- ``promises``: no commitment the policy does not make (refund approved or
  issued, fee waived, compensation, guaranteed delivery date, an action the
  assistant claims to have done) unless a snippet says the same.

The caller keeps a generated reply only when every check passes and otherwise
falls back to the ``grounded`` reply, recording which checks fired; use
:func:`apply_guardrails` for exactly that::

    guards = Guardrails(min_words=8, max_words=250)
    out = apply_guardrails(generated, grounded, allowed, snippets, guards)   # allowed[i]: e.g. "12345 INV-20931877"
    out["replies"], out["results"], out["fallback"]
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipeline.errors import check_param
from typing import Iterable

from pipeline.types import REFERENCE_TYPES, Entity, Snippet

CHECKS = ("length", "numbers", "values", "placeholders", "promises")
_ADDRESSES = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\bhttps?://[^\s<>\"']+|\bwww\.[^\s<>\"']+"
                        r"|\b[\w-]+(?:\.[\w-]+)*\.(?:com|net|org|io|co|uk|de|fr|info|biz|example|test|xyz|ru|cn)\b(?:/[^\s<>\"']*)?", re.I)

_UNITS = {
    "zero": 0, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
    "dozen": 12,
}
_WORD_NUM = re.compile(
    r"\b(?:(?P<tens>twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)[\s-](?P<unit>one|two|three|four|five|six|seven|eight|nine)"
    r"|(?P<word>" + "|".join(sorted(_UNITS, key=len, reverse=True)) + r"|one(?=[\s-]+(?:business|working|calendar|full)?[\s-]*"
    r"(?:day|week|month|year|hour|minute|percent|dollar|euro|pound)s?\b)))\b",
    re.I,
)
_WORD_NUM_SOURCE = re.compile(r"\b(?:one|single)\b", re.I)
_DIGITS = re.compile(r"(?<![A-Za-z\d.,])(\d+(?:,\d{3})*(?:\.\d+)?)")
_LIST_MARKER = re.compile(r"(?m)^\s*(?:step\s+)?\d{1,2}[.)]\s", re.I)
# A marker inside a line ("steps: 1. Sign in 2. Open Orders"), as generators that drop line breaks write lists.
_INLINE_MARKER = re.compile(r"(?<![\w.,:/$£€-])(?:step\s+)?(\d{1,2})[.)](?=\s+[A-Za-z*\"'(])", re.I)
_TIME_ZERO_MINUTES = re.compile(r"(\d{1,2}):00\b")

_PLACEHOLDERS = [
    re.compile(r"\{\{[^{}]*\}\}"),
    re.compile(r"\{[^{}\s][^{}]{0,60}\}"),
    re.compile(r"\[[A-Za-z][^\[\]]{0,60}\]"),
    re.compile(r"</?[A-Za-z_][^<>]{0,40}>"),
]

# (name, pattern in the reply, pattern a snippet must contain for the reply to be allowed)
_PROMISES: list[tuple[str, re.Pattern[str], re.Pattern[str]]] = [
    ("refund approved", re.compile(
        r"\b(?:your|the|this) refund\b[^.!?]{0,30}\b(?:has been|have been|was|is now|is already)\s+"
        r"(?:approved|issued|processed|granted|initiated|sent|completed)\b"
        r"|\b(?:i|we)(?:'ve| have)?\s+(?:already\s+)?(?:approved|issued|processed|granted|initiated)\b[^.!?]{0,30}\brefund", re.I),
     re.compile(r"\b(?:your|the|this) refund\b[^.!?]{0,30}\b(?:has been|was|is now)\s+(?:approved|issued)", re.I)),
    ("full refund", re.compile(r"\b(?:full|complete|100%)\s+refund|refund\w*\s+(?:you\s+)?in full\b", re.I),
     re.compile(r"\b(?:full|complete)\s+refund|refund\w*\s+(?:\w+\s+)?in full\b", re.I)),
    ("fee waived", re.compile(r"\bwaiv(?:e|ed|es|ing)\b", re.I), re.compile(r"\bwaiv", re.I)),
    ("no fee", re.compile(
        r"\bno\s+(?:\w+\s+)?(?:fees?|charges?)\s+(?:will|would|is|are)\b|\bfree of charge\b"
        r"|\b(?:won't|will not) be charged\b", re.I),
     re.compile(r"\bno\s+(?:\w+\s+)?(?:fee|charge)|\bfree\b|\bnot (?:be )?charged\b|\bwithout (?:a |any )?(?:\w+ )?fee", re.I)),
    ("compensation", re.compile(
        r"\bcompensat\w*|\bvouchers?\b|\bcoupons?\b|\bdiscount code|\bgift cards?\b|\bstore credit\b|\bgoodwill\b"
        r"|\bcredit\b[^.!?]{0,20}\bto your account\b|\bfree (?:gift|item|upgrade|product)", re.I),
     re.compile(r"\bcompensat|\bvoucher|\bcoupon|\bdiscount|\bgift card|\bstore credit|\bgoodwill|\bcredit|\bfree (?:gift|item|upgrade|product)", re.I)),
    ("guaranteed delivery", re.compile(
        r"\bguarantee\w*|\bpromise\w*|\b(?:will|'ll)\s+(?:definitely\s+|certainly\s+|surely\s+)?"
        r"(?:arrive|be delivered|reach you|get to you)\s+(?:by|on|tomorrow|today)\b", re.I),
     re.compile(r"\bguarantee|\bpromise", re.I)),
    ("action claimed", re.compile(
        r"\b(?:i|we)(?:'ve| have)\s+(?:already\s+|now\s+|just\s+)?(?:cancel+ed|deleted|changed|updated|refunded|reset|"
        r"unsubscribed|closed|escalated|credited|reversed|shipped)\b", re.I),
     re.compile(r"\b(?:i|we)(?:'ve| have)\s+(?:already\s+)?(?:cancel+ed|deleted|changed|updated|refunded|credited)\b", re.I)),
]


def _canon(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(round(float(value), 4))


def _strip_inline_markers(text: str) -> str:
    """Blank out in-line list markers: only a run counting 1, 2, 3... with two or more
    markers is a list ("takes 2. Then" or a lone "1." stays a number)."""
    run: list[re.Match[str]] = []
    for match in _INLINE_MARKER.finditer(text):
        if int(match.group(1)) == len(run) + 1:
            run.append(match)
    if len(run) < 2:
        return text
    for match in reversed(run):
        text = text[:match.start()] + " " + text[match.end():]
    return text


def numbers_in(text: str, *, source: bool = False) -> set[str]:
    """The set of canonical numbers a text states (``source=True`` also counts 'one')."""
    text = _TIME_ZERO_MINUTES.sub(r"\1", text)
    if not source:
        text = _strip_inline_markers(_LIST_MARKER.sub(" ", text))
    found: set[str] = set()
    for match in _DIGITS.finditer(text):
        try:
            found.add(_canon(float(match.group(1).replace(",", ""))))
        except ValueError:
            continue
    for match in _WORD_NUM.finditer(text):
        if match.group("tens"):
            found.add(_canon(_UNITS[match.group("tens").lower()] + _UNITS[match.group("unit").lower()]))
        else:
            word = match.group("word").lower()
            found.add(_canon(1 if word == "one" else _UNITS[word]))
    if source and _WORD_NUM_SOURCE.search(text):
        found.add("1")
    return found


@dataclass
class GuardrailResult:
    """The outcome for one reply: ``passed`` is true when no check fired."""

    passed: bool
    fired: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)


class Guardrails:
    """Component running the checks on a batch of replies.

    ``run(replies, messages, snippets) -> {"results": list[GuardrailResult]}``;
    ``snippets[i]`` are the snippets retrieved for ``messages[i]``.
    """

    name = "guardrails"

    def __init__(self, *, min_words: int = 8, max_words: int = 250, checks: list[str] | tuple[str, ...] = CHECKS) -> None:
        check_param("Guardrails", "min_words", min_words, isinstance(min_words, int) and min_words >= 0, "an int >= 0")
        check_param("Guardrails", "max_words", max_words, isinstance(max_words, int) and max_words >= max(1, min_words),
                    f"an int >= min_words ({min_words}) and >= 1")
        bad = [c for c in checks if c not in CHECKS]
        check_param("Guardrails", "checks", list(checks), not bad, f"a list drawn from {', '.join(CHECKS)}")
        self.min_words = min_words
        self.max_words = max_words
        self.checks = tuple(checks)

    def warm_up(self) -> None:
        """Nothing to load; present for the component interface."""

    def check(self, reply: str, allowed: str, snippets: list[Snippet]) -> GuardrailResult:
        """``allowed``: the reference numbers the customer gave (order, invoice), which a reply may name."""
        fired: list[str] = []
        details: list[str] = []
        snippet_text = "\n".join(f"{s.title}\n{s.text}" for s in snippets)
        source_text = "\n".join([allowed, snippet_text])
        if "length" in self.checks:
            words = len(reply.split())
            if not self.min_words <= words <= self.max_words:
                fired.append("length")
                details.append(f"length: {words} words, allowed {self.min_words}-{self.max_words}")
        if "numbers" in self.checks:
            missing = sorted(numbers_in(reply) - numbers_in(source_text, source=True), key=lambda v: float(v))
            if missing:
                fired.append("numbers")
                details.append(f"numbers: {', '.join(missing)} not in the snippets or the customer's reference numbers")
        if "values" in self.checks:
            lowered = snippet_text.lower()
            echoed = [m.group(0).rstrip(".,;:!?)") for m in _ADDRESSES.finditer(reply)]
            echoed = [v for v in echoed if v.lower() not in lowered]
            if echoed:
                fired.append("values")
                details.append(f"values: {', '.join(dict.fromkeys(echoed))} not in the snippets")
        if "placeholders" in self.checks:
            spans: list[tuple[int, int]] = []
            slots: list[str] = []
            for pattern in _PLACEHOLDERS:
                for m in pattern.finditer(reply):
                    if not any(m.start() < e and s < m.end() for s, e in spans):
                        spans.append(m.span())
                        slots.append(m.group(0))
            if slots:
                ordered = [text for _, text in sorted(zip(spans, slots))]
                fired.append("placeholders")
                details.append(f"placeholders: {', '.join(dict.fromkeys(ordered))}")
        if "promises" in self.checks:
            broken = [name for name, said, allowed in _PROMISES
                      if said.search(reply) and not (allowed.search(snippet_text) or said.search(snippet_text))]
            if broken:
                fired.append("promises")
                details.append(f"promises: {', '.join(broken)} not stated in the snippets")
        return GuardrailResult(passed=not fired, fired=fired, details=details)

    def run(self, replies: list[str], allowed: list[str], snippets: list[list[Snippet]]) -> dict[str, list[GuardrailResult]]:
        if not len(replies) == len(allowed) == len(snippets):
            raise ValueError(
                f"Guardrails.run needs one allowed-values text and one snippet list per reply. "
                f"Got {len(replies)} replies, {len(allowed)} allowed texts, {len(snippets)} snippet lists."
            )
        return {"results": [self.check(r, a, s) for r, a, s in zip(replies, allowed, snippets)]}


def allowed_values(entities: Iterable[Entity]) -> str:
    """The text of the reference entities (order and invoice numbers) a reply may state: ``allowed`` for a check."""
    return " ".join(e.text for e in entities if e.type in REFERENCE_TYPES)


def apply_guardrails(
    generated: list[str],
    fallback_replies: list[str],
    allowed: list[str],
    snippets: list[list[Snippet]],
    guardrails: Guardrails,
) -> dict[str, list]:
    """Keep each generated reply that passes; otherwise use the fallback (grounded) reply.

    Returns ``{"replies": list[str], "results": list[GuardrailResult], "fallback": list[bool]}``
    where ``results[i]`` is the verdict on ``generated[i]`` (what fired) and
    ``fallback[i]`` says the fallback reply was used.
    """
    if len(fallback_replies) != len(generated):
        raise ValueError(f"apply_guardrails needs one fallback per reply. Got {len(fallback_replies)} for {len(generated)}.")
    results = guardrails.run(generated, allowed, snippets)["results"]
    replies = [g if r.passed else f for g, f, r in zip(generated, fallback_replies, results)]
    return {"replies": replies, "results": results, "fallback": [not r.passed for r in results]}
