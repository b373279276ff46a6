"""The model-free ``grounded`` reply realizer, and the clarification / hand-off replies.

A grounded reply has three parts, all deterministic:

1. an intent-aware opening that acknowledges the concern (with an apology for
   complaints and payment or sign-up problems) and names the order number,
   invoice number, email address or amount taken from the message;
2. the policy content of the top retrieved snippets, lightly rephrased into
   second person and joined with connective sentences;
3. a closing with a next step.

The replies that are not policy answers (clarification, out of scope, hand-off) are in
:mod:`pipeline.reply.fallbacks`.

Every number it states comes from the message or the snippets, and its fixed
phrases make no promise, so its replies pass :mod:`pipeline.reply.guardrails` by
construction; it is also the fallback when a generated reply fails them.

    >>> from pipeline.types import Snippet
    >>> s = Snippet(id="r", intents=["get_refund"], title="Refunds", text="Refunds reach your card within 5 business days.")
    >>> reply = GroundedGenerator().run(["refund for order 12345"], [IntentPrediction("get_refund", 0.9)], [[s]])["replies"][0]
    >>> reply.split(".")[0]
    "I understand you'd like to get a refund for order 12345, and I'm here to help"
"""
from __future__ import annotations

import re
from typing import Sequence

from pipeline.nlu.entities import extract_entities, first_of
from pipeline.errors import check_param
from pipeline.types import Entity, IntentPrediction, Snippet

INTENT_PHRASES: dict[str, str] = {
    "cancel_order": "cancelling an order",
    "change_order": "changing an order",
    "change_shipping_address": "changing a shipping address",
    "check_cancellation_fee": "cancellation fees",
    "check_invoice": "checking an invoice",
    "check_payment_methods": "the payment methods we accept",
    "check_refund_policy": "our refund policy",
    "complaint": "making a complaint",
    "contact_customer_service": "contacting customer service",
    "contact_human_agent": "talking to a person on our team",
    "create_account": "creating an account",
    "delete_account": "closing an account",
    "delivery_options": "delivery options",
    "delivery_period": "delivery times",
    "edit_account": "updating your account details",
    "get_invoice": "getting a copy of an invoice",
    "get_refund": "getting a refund",
    "newsletter_subscription": "the newsletter",
    "payment_issue": "a problem with a payment",
    "place_order": "placing an order",
    "recover_password": "recovering your password",
    "registration_problems": "problems signing up",
    "review": "leaving feedback or a review",
    "set_up_shipping_address": "setting up a shipping address",
    "switch_account": "switching accounts",
    "track_order": "tracking an order",
    "track_refund": "the status of a refund",
}
"""Plain-words description of each intent, for clarification questions."""

# intent -> (opening with a reference such as "order 12345", opening without one)
_OPENINGS: dict[str, tuple[str, str]] = {
    "cancel_order": ("I understand you'd like to cancel {ref}, and I'm here to help.", "I understand you'd like to cancel your order, and I'm here to help."),
    "change_order": ("I understand you'd like to make changes to {ref}, and I'm here to help.", "I understand you'd like to make changes to your order, and I'm here to help."),
    "change_shipping_address": ("I understand you'd like to change the shipping address for {ref}, and I'm here to help.", "I understand you'd like to change your shipping address, and I'm here to help."),
    "check_cancellation_fee": ("Here is how cancellation fees work for {ref}.", "Here is how our cancellation fees work."),
    "check_invoice": ("I understand you'd like to check {ref}, and I'm here to help.", "I understand you'd like to check your invoice, and I'm here to help."),
    "check_payment_methods": ("Here are the ways you can pay for {ref}.", "Here are the ways you can pay with us."),
    "check_refund_policy": ("Here is how our refund policy applies to {ref}.", "Here is how our refund policy works."),
    "complaint": ("I'm sorry about your experience with {ref}, and thank you for telling us.",
                  "I'm sorry about your experience, and thank you for telling us."),
    "contact_customer_service": ("I'm here to help with {ref}, and here is how to reach our customer service team.",
                                 "I'm here to help, and here is how to reach our customer service team."),
    "contact_human_agent": ("I understand you'd like to talk to a person about {ref}.", "I understand you'd like to talk to a person."),
    "create_account": ("I understand you'd like to create an account with {ref}, and I'm here to help.", "I understand you'd like to create an account, and I'm here to help."),
    "delete_account": ("I understand you'd like to close the account registered to {ref}, and I'm here to help.", "I understand you'd like to close your account, and I'm here to help."),
    "delivery_options": ("Here are the delivery options for {ref}.", "Here are the delivery options we offer."),
    "delivery_period": ("Here is what to expect about delivery times for {ref}.", "Here is what to expect about delivery times."),
    "edit_account": ("I understand you'd like to update the details of the account registered to {ref}, and I'm here to help.", "I understand you'd like to update your account details, and I'm here to help."),
    "get_invoice": ("I understand you'd like to get a copy of {ref}, and I'm here to help.", "I understand you'd like to get a copy of your invoice, and I'm here to help."),
    "get_refund": ("I understand you'd like to get a refund for {ref}, and I'm here to help.", "I understand you'd like to get a refund, and I'm here to help."),
    "newsletter_subscription": ("I understand you have a question about the newsletter subscription for {ref}, and I'm here to help.",
                                "I understand you have a question about your newsletter subscription, and I'm here to help."),
    "payment_issue": ("I'm sorry you're having trouble with the payment for {ref}; let's get it sorted out.",
                      "I'm sorry you're having trouble with your payment; let's get it sorted out."),
    "place_order": ("I understand you'd like to place an order, and I'm here to help.", "I understand you'd like to place an order, and I'm here to help."),
    "recover_password": ("I understand you'd like to get back into the account registered to {ref}, and I'm here to help.", "I understand you'd like to get back into your account, and I'm here to help."),
    "registration_problems": ("I'm sorry you're having trouble signing up with {ref}; let's fix that.",
                              "I'm sorry you're having trouble signing up; let's fix that."),
    "review": ("Thank you for taking the time to share your feedback about {ref}.", "Thank you for taking the time to share your feedback."),
    "set_up_shipping_address": ("I understand you'd like to set up the shipping address for {ref}, and I'm here to help.", "I understand you'd like to set up a shipping address, and I'm here to help."),
    "switch_account": ("I understand you'd like to switch the account registered to {ref}, and I'm here to help.", "I understand you'd like to switch your account, and I'm here to help."),
    "track_order": ("I understand you'd like to find out where {ref} is, and I'm here to help.", "I understand you'd like to find out where your order is, and I'm here to help."),
    "track_refund": ("I understand you'd like to check the status of the refund for {ref}, and I'm here to help.", "I understand you'd like to check the status of your refund, and I'm here to help."),
}
_DEFAULT_OPENING = ("I understand you have a question about {ref}, and I'm here to help.", "Thank you for reaching out; I'm here to help.")

_ACCOUNT_INTENTS = {"create_account", "delete_account", "edit_account", "recover_password", "registration_problems",
                    "switch_account", "newsletter_subscription"}
_INVOICE_INTENTS = {"check_invoice", "get_invoice"}
_MONEY_INTENTS = {"get_refund", "track_refund", "check_refund_policy", "payment_issue", "check_payment_methods"}

_CLOSINGS: dict[str, str] = {
    "complaint": "If you would like a member of our team to look into this personally, just reply here and I will pass it on.",
    "review": "Your comments help us improve, so please let us know if there is anything else you'd like to share.",
    "contact_human_agent": "If there is anything I can answer for you in the meantime, just reply here.",
    "contact_customer_service": "If there is anything I can answer for you in the meantime, just reply here.",
}
_CATEGORY_CLOSINGS: dict[str, str] = {
    "order": "If you run into any difficulties or need further assistance, please don't hesitate to reply here or "
             "reach out to our customer service team through the live chat on our website.",
    "money": "If you have any other questions about this, please don't hesitate to reply here or reach out to our "
             "customer service team through the live chat on our website.",
    "account": "If you get stuck at any step, let me know where and I'll walk you through it, or reach out to our "
               "customer service team through the live chat on our website.",
}
_DEFAULT_CLOSING = _CATEGORY_CLOSINGS["order"]
_CONNECTIVES = ("It also helps to know that {s}", "Also worth knowing: {s}")
# Sentence openers that read well after "It also helps to know that" (not imperatives such as "To ...", "Go ...").
_SUBJECT_WORDS = frozenset(
    "you we your our the a an all any every each most some orders order refunds refund items invoices invoice returns "
    "payments delivery deliveries shipping parcels accounts passwords reviews complaints members gift cards "
    "customers standard express international monthly annual".split()
)

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_THIRD_PERSON = [
    (re.compile(r"\b([Cc])ustomers (can|must|should|need to|will|may|have to|are|receive|get|pay)\b"),
     lambda m: ("Y" if m.group(1) == "C" else "y") + "ou " + m.group(2)),
    (re.compile(r"\bthe customer's\b"), lambda m: "your"),
    (re.compile(r"\b[Tt]he customer (can|must|should|needs to|will|may)\b"),
     lambda m: "you " + m.group(1).replace("needs", "need")),
]


def intent_phrase(label: str) -> str:
    """Plain words for an intent label (``get_refund`` -> ``getting a refund``)."""
    return INTENT_PHRASES.get(label, label.replace("_", " "))


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


def _lower_first(sentence: str, context: str) -> str | None:
    """The sentence with its first word lower-cased, or None when that word looks like a name."""
    word = sentence.split(" ", 1)[0]
    core = word.strip("\"'(),:;")
    if not core.isalpha() or core == "I" or core.isupper() and len(core) > 1:
        return None
    if re.search(rf"(?<=[a-z,;:] ){re.escape(core)}\b", context):  # capitalised mid-sentence: a name
        return None
    return sentence[0].lower() + sentence[1:]


def _reference(intent: str, entities: Sequence[Entity]) -> str | None:
    invoice = first_of(entities, "invoice_number")
    order = first_of(entities, "order_number")
    email = first_of(entities, "email")
    amount = first_of(entities, "amount")
    if intent in _ACCOUNT_INTENTS:
        return email
    if intent in _INVOICE_INTENTS and invoice:
        return f"invoice {invoice}"
    if order:
        return f"order {order}"
    if invoice:
        return f"invoice {invoice}"
    if amount and intent in _MONEY_INTENTS:
        return f"your payment of {amount}"
    return None


def _opening(intent: str, entities: Sequence[Entity]) -> str:
    with_ref, without = _OPENINGS.get(intent, _DEFAULT_OPENING)
    ref = _reference(intent, entities)
    return with_ref.format(ref=ref) if ref else without


def _closing(intent: str) -> str:
    if intent in _CLOSINGS:
        return _CLOSINGS[intent]
    if intent in _MONEY_INTENTS or intent in _INVOICE_INTENTS or intent == "check_cancellation_fee":
        return _CATEGORY_CLOSINGS["money"]
    if intent in _ACCOUNT_INTENTS:
        return _CATEGORY_CLOSINGS["account"]
    return _DEFAULT_CLOSING


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
                 *, max_snippets: int = 2, max_sentences: int = 6) -> str:
    """Compose one grounded reply (see the module docstring)."""
    entities = extract_entities(message) if entities is None else entities
    body = _body(snippets, max_snippets, max_sentences)
    if not body:
        body = ["I don't have the policy details for this at hand, so the best next step is to ask our customer service team, who can look into it for you."]
    return " ".join([_opening(intent, entities), *body, _closing(intent)])


class GroundedGenerator:
    """Model-free generator: ``run(messages, intents, snippets, entities) -> {"replies": list[str]}``."""

    name = "grounded"

    def __init__(self, *, max_snippets: int = 2, max_sentences: int = 6) -> None:
        check_param("GroundedGenerator", "max_snippets", max_snippets, isinstance(max_snippets, int) and max_snippets >= 1, "an int >= 1")
        check_param("GroundedGenerator", "max_sentences", max_sentences, isinstance(max_sentences, int) and max_sentences >= 1, "an int >= 1")
        self.max_snippets = max_snippets
        self.max_sentences = max_sentences

    def warm_up(self) -> None:
        """Nothing to load."""

    def run(self, messages: list[str], intents: list[IntentPrediction], snippets: list[list[Snippet]],
            entities: list[list[Entity]] | None = None) -> dict[str, list]:
        if not len(messages) == len(intents) == len(snippets):
            raise ValueError(f"GroundedGenerator.run needs one intent and one snippet list per message. "
                             f"Got {len(messages)} messages, {len(intents)} intents, {len(snippets)} snippet lists.")
        ents = entities if entities is not None else [None] * len(messages)
        replies = [ground_reply(m, p.label, s, e, max_snippets=self.max_snippets, max_sentences=self.max_sentences)
                   for m, p, s, e in zip(messages, intents, snippets, ents)]
        return {"replies": replies, "notes": [[] for _ in replies]}
