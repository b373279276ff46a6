"""The replies that are not policy answers: a clarification question, the out-of-scope reply, hand-off, small talk.

    >>> from knowledge_base.phrasing import load_phrasing
    >>> from pipeline.types import IntentPrediction
    >>> words = load_phrasing("knowledge_base/intents.yaml")
    >>> p = IntentPrediction("cancel_order", 0.3, [("cancel_order", 0.3), ("track_order", 0.25)])
    >>> [o.topic for o in offered_topics(p, words)]
    ['cancelling an order', 'tracking an order']
    >>> clarification_reply(p, words).split("? ")[0].split(". ")[-1]
    'Is your question about cancelling an order or about tracking an order'

Each is fixed text around facts the customer gave (an order or invoice number) and the topics in plain
words (the knowledge base's ``intents.yaml``); none states a policy, so none needs the guardrails.
"""
from __future__ import annotations

from typing import Sequence

from pipeline.nlu.entities import first_of
from knowledge_base.phrasing import Phrasing
from pipeline.reply.grounded import second_person, split_sentences
from pipeline.types import Entity, IntentPrediction, Offer, Snippet

GENERIC_CHANNEL = "You can also reach our customer service team directly."
"""Channel sentence when the knowledge base has neither a contact snippet nor contact details."""


def offered_topics(prediction: IntentPrediction, phrasing: Phrasing | None = None, n: int = 2) -> list[Offer]:
    """The top ``n`` intents of a prediction as the topics a clarification question offers, best first."""
    phrasing = phrasing or Phrasing()
    labels: list[str] = []
    for label, _ in prediction.ranking or [(prediction.label, prediction.confidence)]:
        if label not in labels:
            labels.append(label)
    if prediction.label not in labels:
        labels.insert(0, prediction.label)
    return [Offer(label, phrasing.topic(label)) for label in labels[:n]]


def _noted(entities: Sequence[Entity]) -> str:
    order, invoice = first_of(entities, "order_number"), first_of(entities, "invoice_number")
    return f"I have noted order {order}. " if order else f"I have noted invoice {invoice}. " if invoice else ""


def clarification_reply(prediction: IntentPrediction, phrasing: Phrasing | None = None, entities: Sequence[Entity] = ()) -> str:
    """Low confidence: ask the customer to clarify, offering the top two topics in plain words.

    An order (or invoice) number the customer gave is acknowledged, so they need not repeat it.
    """
    topics = [o.topic for o in offered_topics(prediction, phrasing)]
    question = f"Is your question about {topics[0]} or about {topics[1]}?" if len(topics) > 1 else f"Is your question about {topics[0]}?"
    return ("I want to make sure I help you with the right thing. " + _noted(entities) + question
            + " A few more words about what you need will help me answer.")


def channel_sentence(contact_snippets: Sequence[Snippet] | None = None, phrasing: Phrasing | None = None) -> str:
    """The first sentence of ``contact_snippets[0]`` (in second person), else one built from the knowledge base's
    contact details, else :data:`GENERIC_CHANNEL`."""
    if contact_snippets:
        sentences = [second_person(s) for s in split_sentences(contact_snippets[0].text)]
        if sentences:
            return sentences[0]
    return (phrasing.channel_sentence() if phrasing is not None else None) or GENERIC_CHANNEL


def out_of_scope_reply(contact_snippets: Sequence[Snippet] | None = None, phrasing: Phrasing | None = None) -> str:
    """Out of scope or unreadable: point the customer to a person, with the support channel."""
    return ("I'm sorry, I'm not sure I understood your request, and I'd rather not guess. "
            "The best way forward is to talk to a member of our customer service team, who can help you directly. "
            + channel_sentence(contact_snippets, phrasing))


def no_policy_reply(topic_intent: str, contact_snippets: Sequence[Snippet] | None = None,
                    phrasing: Phrasing | None = None) -> str:
    """An intent the knowledge base has no snippet for: say so, point to a person, invent nothing."""
    topic = (phrasing or Phrasing()).topic(topic_intent)
    return (f"I understand your question is about {topic}, but I don't have our policy on that at hand, and I'd rather "
            "not guess. A member of our customer service team can help you directly. " + channel_sentence(contact_snippets, phrasing))


def handoff_reply(topic_intent: str | None, phrasing: Phrasing | None = None, entities: Sequence[Entity] = ()) -> str:
    """The customer asked for a person: say one will take over, keeping what is known (topic, order number)."""
    about = f" I've noted that it's about {(phrasing or Phrasing()).topic(topic_intent)}." if topic_intent else ""
    return ("I'm passing this conversation to a member of our customer service team, who will reply here as soon as "
            "they can." + about + (" " + _noted(entities).strip() if _noted(entities) else ""))


def handed_off_reply() -> str:
    """A message to a conversation a person has taken over."""
    return ("A member of our customer service team has this conversation and will reply here; "
            "I've added your message for them.")


def smalltalk_reply(kind: str, phrasing: Phrasing | None = None) -> str:
    """A greeting, thanks, goodbye or acknowledgement answered in kind (``kind`` from
    :func:`pipeline.nlu.smalltalk.social_kind`); the short closing is the knowledge base's."""
    closing = (phrasing or Phrasing()).short_closing()
    return {"greeting": "Hello! What can I help you with today?",
            "thanks": "You're welcome. " + closing,
            "goodbye": "Thank you for getting in touch. Goodbye!",
            }.get(kind, closing)
