"""Prompt rendering for the seq2seq generator, with truncation that keeps the policy text.

The template names four fields: ``{message}``, ``{intent}``, ``{snippets}`` and
``{slots}`` (values taken from the message, e.g. ``order number: 12345``). When
the rendered prompt is longer than the model's input budget it is shortened in
this order, so that the policy survives:

1. the customer message is cut to ``min_message_words`` words (marked with "..."),
2. trailing snippets are dropped, one at a time, never the first,
3. the first snippet is cut at the last sentence end that fits,
4. only if no full sentence fits is it cut mid-sentence, then the message further;
   what still does not fit is left to the tokenizer's own truncation.

Every step taken is returned as a note for the trace. The same functions build
the fine-tuning inputs (``training.generator_data``) so that training and
inference see identical prompts.
"""
from __future__ import annotations

import re
import string
from typing import Callable, Sequence

from pipeline.errors import ConfigError
from pipeline.types import REFERENCE_TYPES, Entity, Snippet

DEFAULT_PROMPT_TEMPLATE = (
    "Answer the customer politely using only the policy.\n"
    "Policy: {snippets}\n"
    "Topic: {intent}\n"
    "Details: {slots}\n"
    "Customer: {message}\n"
    "Reply:"
)
TEMPLATE_FIELDS = ("message", "intent", "snippets", "slots")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_SLOT_NAMES = {
    "order_number": "order number", "invoice_number": "invoice number", "email": "email",
    "phone_number": "phone number", "amount": "amount", "date": "date",
}


def check_template(template: str, owner: str = "GeneratorConfig") -> None:
    """Raise ConfigError when the template names an unknown field or lacks ``{message}``."""
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise ConfigError(f"The 'prompt_template' parameter of {owner} is not a valid format string ({exc}). "
                          "Escape literal braces as '{{' and '}}'.") from None
    unknown = sorted(names - set(TEMPLATE_FIELDS))
    if unknown or "message" not in names:
        raise ConfigError(
            f"The 'prompt_template' parameter of {owner} must use only the fields {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)} "
            f"and include {{message}}. Got unknown field(s) {unknown} in {template!r}." if unknown else
            f"The 'prompt_template' parameter of {owner} must include {{message}}. Got {template!r}."
        )


def format_snippets(snippets: Sequence[Snippet]) -> str:
    """Snippets as prompt text: ``title: text`` joined with spaces, best first."""
    return " ".join(f"{s.title.rstrip('.:')}: {s.text.strip()}" if s.title else s.text.strip() for s in snippets) or "none"


def format_slots(entities: Sequence[Entity] | None) -> str:
    """The reference entities a reply may name, as ``order number: 12345; invoice number: INV-1`` (``none`` when
    empty). Emails, amounts, phones and dates are left out: a generator should not be handed values to restate."""
    seen: dict[str, str] = {}
    for e in (e for e in entities or () if e.type in REFERENCE_TYPES):
        seen.setdefault(_SLOT_NAMES.get(e.type, e.type.replace("_", " ")), e.text)
    return "; ".join(f"{k}: {v}" for k, v in seen.items()) or "none"


def render_prompt(template: str, message: str, intent: str, snippets: Sequence[Snippet], entities: Sequence[Entity] | None = None) -> str:
    return template.format(message=message.strip(), intent=intent.replace("_", " "),
                           snippets=format_snippets(snippets), slots=format_slots(entities))


def _largest_fitting(n: int, fits: Callable[[int], bool], low: int = 0) -> int | None:
    """Largest k in [low, n] with fits(k) true, assuming fits is monotone; None if none."""
    if not fits(low):
        return None
    lo, hi = low, n
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _cut_first_snippet(first: Snippet, fits: Callable[[list[Snippet]], bool], max_tokens: int,
                       notes: list[str]) -> tuple[bool, list[Snippet]]:
    """The first snippet alone, cut by sentences, then by words, to fit: ``(fits, [cut snippet])``.

    When nothing fits, the snippet's first 8 words are kept (and ``fits`` is False).
    """
    def with_text(text: str) -> list[Snippet]:
        return [Snippet(id=first.id, intents=first.intents, title=first.title, text=text or "...")]

    sentences = _SENTENCE_END.split(first.text.strip())
    j = _largest_fitting(len(sentences), lambda n: fits(with_text(" ".join(sentences[:n]))), low=1)
    if j is not None:
        notes.append(f"first snippet cut to {j} of {len(sentences)} sentence(s) to fit {max_tokens} tokens")
        return True, with_text(" ".join(sentences[:j]))
    tokens = first.text.split()
    j = _largest_fitting(len(tokens), lambda n: fits(with_text(" ".join(tokens[:n]))), low=1)
    if j is not None:
        notes.append(f"first snippet cut mid-sentence to {j} words to fit {max_tokens} tokens")
        return True, with_text(" ".join(tokens[:j]))
    notes.append("first snippet cut to 8 words")
    return False, with_text(" ".join(tokens[:8]))


def fit_prompt(
    template: str,
    message: str,
    intent: str,
    snippets: Sequence[Snippet],
    entities: Sequence[Entity] | None,
    max_tokens: int,
    count_tokens: Callable[[str], int],
    *,
    min_message_words: int = 48,
) -> tuple[str, list[str]]:
    """Render a prompt that fits in ``max_tokens`` (as counted by ``count_tokens``); return it and the notes."""
    notes: list[str] = []
    words = message.split()
    snippets = list(snippets)

    def build(n_words: int, snips: Sequence[Snippet]) -> str:
        text = " ".join(words[:n_words]) + (" ..." if n_words < len(words) else "")
        return render_prompt(template, text, intent, snips, entities)

    def ok(prompt: str) -> bool:
        return count_tokens(prompt) <= max_tokens

    prompt = build(len(words), snippets)
    if ok(prompt):
        return prompt, notes
    floor = min(len(words), min_message_words)
    k = _largest_fitting(len(words), lambda n: ok(build(n, snippets)), low=floor)
    n_words = k if k is not None else floor
    if n_words < len(words):
        notes.append(f"message truncated to {n_words} of {len(words)} words to fit {max_tokens} tokens")
    if k is not None:
        return build(n_words, snippets), notes
    if len(snippets) > 1:
        kept = _largest_fitting(len(snippets), lambda n: ok(build(n_words, snippets[:n])), low=1)
        keep = kept if kept is not None else 1
        notes.append(f"dropped {len(snippets) - keep} trailing snippet(s) to fit {max_tokens} tokens")
        snippets = snippets[:keep]
        if kept is not None:
            return build(n_words, snippets), notes
    if snippets:
        prompt, snippets = _cut_first_snippet(snippets[0], lambda snips: ok(build(n_words, snips)), max_tokens, notes)
        if prompt:
            return build(n_words, snippets), notes
    m = _largest_fitting(n_words, lambda n: ok(build(n, snippets)), low=0)
    if m is not None:
        notes.append(f"message truncated further to {m} words to fit {max_tokens} tokens")
        return build(m, snippets), notes
    what = "prompt template with the first snippet's title and first 8 words" if snippets else "prompt template alone"
    notes.append(f"{what} exceeds {max_tokens} tokens; the tokenizer truncates it")
    return build(0, snippets), notes
