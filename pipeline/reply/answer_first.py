"""The answer-first grounded reply: the sentences that answer the message, the direct answer first, a short close.

    >>> from pipeline.types import Snippet
    >>> s = Snippet("pay", ["check_payment_methods"], "Payment methods",
    ...             "You can pay with Visa, Mastercard and American Express. Cash on delivery is not available.",
    ...             score=0.8, sentence_scores=[0.7, 0.2])
    >>> answer_first_reply("do you take american express?", [s], [])[0]
    'Yes, you can pay with Visa, Mastercard and American Express. Is there anything else I can help with?'

1. The sentences chosen by :func:`pipeline.reply.selection.select_sentences` (best first, in second person).
2. A yes/no question gets "Yes," or "No," first when the first sentence settles it
   (:func:`pipeline.reply.selection.yes_no`), else no yes/no; an order or invoice number the customer gave is
   acknowledged ("About order 12345: ..."). No intent-phrase opening, so a wrong intent cannot make the reply
   open on the wrong topic.
3. A second concern: "As for <topic>: " and its own best sentence.
4. A short closing (the knowledge base's ``closing``, else a generic one).

Every sentence comes from a snippet, so the guardrails pass as for the full grounded reply.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from knowledge_base.phrasing import Phrasing
from pipeline.nlu.entities import reference as find_reference
from pipeline.reply.selection import KEEP_MARGIN, SECOND_THRESHOLD, select_sentences, yes_no
from pipeline.sentences import second_person
from pipeline.types import Entity, Snippet

NO_POLICY = ("I don't have the policy details for this at hand, so the best next step is to ask our customer service "
             "team, who can look into it for you.")


@dataclass
class SelectionSettings:
    max_snippets: int = 2
    max_sentences: int = 3
    keep_margin: float = KEEP_MARGIN
    second_threshold: float = SECOND_THRESHOLD
    max_words: int = 90


def _lower(sentence: str) -> str:
    word = sentence.split(" ", 1)[0]
    return sentence if word.isupper() and len(word) > 1 or word in ("I",) else sentence[:1].lower() + sentence[1:]


def answer_first_reply(message: str, snippets: Sequence[Snippet], entities: Sequence[Entity], *,
                       phrasing: Phrasing | None = None, settings: SelectionSettings | None = None,
                       concerns: Sequence[tuple[str, Sequence[Snippet], str]] = (), reference: str | None = None) -> tuple[str, list[str]]:
    """The reply text and its notes (which sentences were selected, and why)."""
    phrasing, cfg = phrasing or Phrasing(), settings or SelectionSettings()
    chosen = select_sentences(message, snippets[: cfg.max_snippets], max_sentences=cfg.max_sentences,
                              keep_margin=cfg.keep_margin, second_threshold=cfg.second_threshold, max_words=cfg.max_words)
    notes = [f"selected {s.snippet_id}#{s.index}: {s.score:.2f} ({s.why})" for s in chosen]
    body = [second_person(s.text) for s in chosen] or [NO_POLICY]
    answer = yes_no(message, chosen[0].text) if chosen else None
    if answer:
        body[0] = f"{answer}, {_lower(body[0])}"
        notes.append(f"{answer}: settled by {chosen[0].snippet_id}#{chosen[0].index}")
    ref = reference if reference is not None else find_reference(entities)
    if ref:
        body[0] = f"About {ref}: {body[0] if answer else body[0]}"
    for intent, concern_snippets, text in concerns:
        extra = select_sentences(text, concern_snippets[:1], max_sentences=1, max_words=40)
        if extra:
            body.append(f"As for {phrasing.topic(intent)}: {_lower(second_person(extra[0].text))}")
            notes.append(f"second concern {intent}: {extra[0].snippet_id}#{extra[0].index}")
    return " ".join([*body, phrasing.short_closing()]), notes
