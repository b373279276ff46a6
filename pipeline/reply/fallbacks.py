"""The replies that are not policy answers: a clarification question, the out-of-scope reply, and hand-off.

    >>> from pipeline.types import IntentPrediction
    >>> p = IntentPrediction("cancel_order", 0.3, [("cancel_order", 0.3), ("track_order", 0.25)])
    >>> [o.intent for o in offered_topics(p)]
    ['cancel_order', 'track_order']
    >>> clarification_reply(p).split("? ")[0].split(". ")[-1]
    'Is your question about cancelling an order or about tracking an order'

Each is fixed text around facts the customer gave (an order or invoice number) and the topics in plain
words; none states a policy, so none needs the guardrails.
"""
from __future__ import annotations

from typing import Sequence

from pipeline.nlu.entities import first_of
from pipeline.reply.grounded import intent_phrase, second_person, split_sentences
from pipeline.types import Entity, IntentPrediction, Offer, Snippet

DEFAULT_SUPPORT_CHANNEL = (
    "You can also reach our customer service team by phone at 1-800-555-0199, by live chat from the Help button "
    "on the website or in the app, or by email at support@northwindgoods.com."
)
"""Channel sentence when no contact snippet is passed (mirrors the fact sheet in knowledge_base/README.md)."""


def offered_topics(prediction: IntentPrediction, n: int = 2) -> list[Offer]:
    """The top ``n`` intents of a prediction as the topics a clarification question offers, best first."""
    labels: list[str] = []
    for label, _ in prediction.ranking or [(prediction.label, prediction.confidence)]:
        if label not in labels:
            labels.append(label)
    if prediction.label not in labels:
        labels.insert(0, prediction.label)
    return [Offer(label, intent_phrase(label)) for label in labels[:n]]


def _noted(entities: Sequence[Entity]) -> str:
    order, invoice = first_of(entities, "order_number"), first_of(entities, "invoice_number")
    return f"I have noted order {order}. " if order else f"I have noted invoice {invoice}. " if invoice else ""


def clarification_reply(prediction: IntentPrediction, entities: Sequence[Entity] = ()) -> str:
    """Low confidence: ask the customer to clarify, offering the top two topics in plain words.

    An order (or invoice) number the customer gave is acknowledged, so they need not repeat it.
    """
    topics = [o.topic for o in offered_topics(prediction)]
    question = f"Is your question about {topics[0]} or about {topics[1]}?" if len(topics) > 1 else f"Is your question about {topics[0]}?"
    noted = _noted(entities)
    ask = " A few more words about what you need will help me answer." if noted else \
        " A few more words about what you need, such as your order number, will help me answer."
    return "I want to make sure I help you with the right thing. " + noted + question + ask


def channel_sentence(contact_snippets: Sequence[Snippet] | None = None) -> str:
    """The first sentence of ``contact_snippets[0]`` (in second person), else :data:`DEFAULT_SUPPORT_CHANNEL`."""
    if contact_snippets:
        sentences = [second_person(s) for s in split_sentences(contact_snippets[0].text)]
        if sentences:
            return sentences[0]
    return DEFAULT_SUPPORT_CHANNEL


def out_of_scope_reply(contact_snippets: Sequence[Snippet] | None = None) -> str:
    """Out of scope or unreadable: point the customer to a person, with the support channel."""
    return ("I'm sorry, I'm not sure I understood your request, and I'd rather not guess. "
            "The best way forward is to talk to a member of our customer service team, who can help you directly. "
            + channel_sentence(contact_snippets))


def handoff_reply(topic_intent: str | None, entities: Sequence[Entity] = ()) -> str:
    """The customer asked for a person: say one will take over, keeping what is known (topic, order number)."""
    about = f" I've noted that it's about {intent_phrase(topic_intent)}." if topic_intent else ""
    return ("I'm passing this conversation to a member of our customer service team, who will reply here as soon as "
            "they can." + about + (" " + _noted(entities).strip() if _noted(entities) else ""))


def handed_off_reply() -> str:
    """A message to a conversation a person has taken over."""
    return ("A member of our customer service team has this conversation and will reply here; "
            "I've added your message for them.")
