"""The model-free ``grounded`` reply realizer, and the clarification / hand-off replies.

A grounded reply has three parts, all deterministic:

1. an intent-aware opening that acknowledges the concern and names the order or
   invoice number the customer gave (never an email, an amount or a phone number);
2. the policy content of the top retrieved snippets, lightly rephrased into
   second person and joined with connective sentences;
3. a closing with a next step.

The openings, closings and topic phrases are knowledge-base data (``intents.yaml``,
:class:`knowledge_base.phrasing.Phrasing`); an intent without an entry gets generic ones.

The replies that are not policy answers (clarification, out of scope, hand-off) are in
:mod:`pipeline.reply.fallbacks`.

Every number it states comes from the message or the snippets, and its fixed
phrases make no promise, so its replies pass :mod:`pipeline.reply.guardrails` by
construction; it is also the fallback when a generated reply fails them.

    >>> from knowledge_base.phrasing import load_phrasing
    >>> from pipeline.types import Snippet
    >>> s = Snippet(id="r", intents=["get_refund"], title="Refunds", text="Refunds reach your card within 5 business days.")
    >>> g = GroundedGenerator(phrasing=load_phrasing("knowledge_base/intents.yaml"))
    >>> g.run(["refund for order 12345"], [IntentPrediction("get_refund", 0.9)], [[s]])["replies"][0].split(".")[0]
    "I understand you'd like to get a refund for order 12345, and I'm here to help"
"""
from __future__ import annotations

import re
from typing import Any, Sequence

from pipeline.nlu.entities import extract_entities, first_of, reference  # noqa: F401  (re-exported)
from knowledge_base.phrasing import Phrasing
from pipeline.errors import check_param
from pipeline.sentences import second_person, split_sentences  # noqa: F401  (used here and re-exported)
from pipeline.types import Entity, IntentPrediction, Snippet

_CONNECTIVES = ("It also helps to know that {s}", "Also worth knowing: {s}")
# Sentence openers that read well after "It also helps to know that" (not imperatives such as "To ...", "Go ...").
_SUBJECT_WORDS = frozenset(
    "you we your our the a an all any every each most some orders order refunds refund items invoices invoice returns "
    "payments delivery deliveries shipping parcels accounts passwords reviews complaints members gift cards "
    "customers standard express international monthly annual".split()
)

def _lower_first(sentence: str, context: str) -> str | None:
    """The sentence with its first word lower-cased, or None when that word looks like a name."""
    word = sentence.split(" ", 1)[0]
    core = word.strip("\"'(),:;")
    if not core.isalpha() or core == "I" or core.isupper() and len(core) > 1:
        return None
    if re.search(rf"(?<=[a-z,;:] ){re.escape(core)}\b", context):  # capitalised mid-sentence: a name
        return None
    return sentence[0].lower() + sentence[1:]


def _body(snippets: Sequence[Snippet], max_snippets: int, max_sentences: int) -> list[str]:
    parts: list[str] = []
    seen: set[str] = set()
    used = 0
    for snippet in snippets[:max_snippets]:
        sentences = [second_person(s) for s in split_sentences(snippet.text)]
        sentences = [s for s in sentences if s.casefold() not in seen]
        room = max_sentences - used
        if not sentences or room <= 0:
            continue
        sentences = sentences[:room]
        seen.update(s.casefold() for s in sentences)
        if parts:  # join later snippets with a connective sentence
            first_word = sentences[0].split(" ", 1)[0].lower()
            lowered = _lower_first(sentences[0], snippet.text) if first_word in _SUBJECT_WORDS else None
            template = _CONNECTIVES[0] if lowered else _CONNECTIVES[1]
            sentences[0] = template.format(s=lowered or sentences[0])
        parts.extend(sentences)
        used += len(sentences)
    return parts


def ground_reply(message: str, intent: str, snippets: Sequence[Snippet], entities: Sequence[Entity] | None = None,
                 *, phrasing: Phrasing | None = None, max_snippets: int = 2, max_sentences: int = 6,
                 concerns: Sequence[tuple[str, Sequence[Snippet]]] = ()) -> str:
    """Compose one grounded reply (see the module docstring); each second concern ``(intent, snippets)`` gets
    "As for <topic>: ..." from its own top snippet, after the main answer (which then uses one snippet)."""
    phrasing = phrasing or Phrasing()
    entities = extract_entities(message) if entities is None else entities
    answered = [(i, s) for i, s in concerns if s]
    body = _body(snippets, 1 if answered else max_snippets, max_sentences)
    for concern_intent, concern_snippets in answered:
        sentences = [second_person(x) for x in split_sentences(concern_snippets[0].text)][:2]
        lowered = _lower_first(sentences[0], concern_snippets[0].text) or sentences[0]
        body += [f"As for {phrasing.topic(concern_intent)}: {lowered}", *sentences[1:]]
    if not body:
        body = ["I don't have the policy details for this at hand, so the best next step is to ask our customer service team, who can look into it for you."]
    ref = reference(entities, phrasing.lines(intent).reference)
    return " ".join([phrasing.opening(intent, ref), *body, phrasing.closing(intent)])


STYLES = ("answer_first", "full")
"""answer_first: the sentences that answer, the direct answer first, a short close (pipeline.reply.answer_first);
full: an intent opening, the top snippets whole, a closing (the realizer before answer-first replies)."""


class GroundedGenerator:
    """Model-free generator: ``run(messages, intents, snippets, entities) -> {"replies": list[str]}``."""

    name = "grounded"

    def __init__(self, *, max_snippets: int = 2, max_sentences: int = 6, phrasing: Phrasing | None = None,
                 style: str = "full", selection: Any = None) -> None:
        check_param("GroundedGenerator", "max_snippets", max_snippets, isinstance(max_snippets, int) and max_snippets >= 1, "an int >= 1")
        check_param("GroundedGenerator", "max_sentences", max_sentences, isinstance(max_sentences, int) and max_sentences >= 1, "an int >= 1")
        check_param("GroundedGenerator", "style", style, style in STYLES, "one of " + ", ".join(map(repr, STYLES)))
        self.max_snippets = max_snippets
        self.max_sentences = max_sentences
        self.phrasing = phrasing or Phrasing()  # the knowledge base's intents.yaml (set by the reply stage)
        self.style = style
        self.selection = selection  # answer_first: a pipeline.reply.answer_first.SelectionSettings

    def warm_up(self) -> None:
        """Nothing to load."""

    def run(self, messages: list[str], intents: list[IntentPrediction], snippets: list[list[Snippet]],
            entities: list[list[Entity]] | None = None,
            concerns: list[list[tuple[str, list[Snippet], str]]] | None = None) -> dict[str, list]:
        if not len(messages) == len(intents) == len(snippets):
            raise ValueError(f"GroundedGenerator.run needs one intent and one snippet list per message. "
                             f"Got {len(messages)} messages, {len(intents)} intents, {len(snippets)} snippet lists.")
        ents = entities if entities is not None else [extract_entities(m) for m in messages]
        extra = concerns if concerns is not None else [()] * len(messages)
        if self.style == "answer_first":
            from pipeline.reply.answer_first import answer_first_reply

            out = [answer_first_reply(m, s, e, phrasing=self.phrasing, settings=self.selection, concerns=c,
                                      reference=reference(e, self.phrasing.lines(p.label).reference))
                   for m, p, s, e, c in zip(messages, intents, snippets, ents, extra)]
            return {"replies": [text for text, _ in out], "notes": [notes for _, notes in out]}
        replies = [ground_reply(m, p.label, s, e, phrasing=self.phrasing, max_snippets=self.max_snippets,
                                max_sentences=self.max_sentences, concerns=[(i, x) for i, x, *_ in c])
                   for m, p, s, e, c in zip(messages, intents, snippets, ents, extra)]
        return {"replies": replies, "notes": [[] for _ in replies]}
