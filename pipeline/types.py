"""Typed records passed between stages: one :class:`Turn` per customer message.

    customer text -> Turn -> [NLU] -> [policy] -> [retrieval] -> [reply] -> Turn (serialised = the --json trace)

- NLU fills ``turn.intent`` (:class:`IntentPrediction`: ranking and the one in-scope decision) and
  ``turn.entities`` (:class:`Entity`), and ``turn.query``/``turn.resolution`` when the conversation gives
  context (a follow-up, an answer to a clarification question).
- The policy stage sets ``turn.route``: what the turn gets (an answer, a clarification question, ...).
- Retrieval fills ``turn.snippets`` (:class:`Snippet`); the reply stage ``turn.reply`` (:class:`Reply`).
- The conversation (:mod:`pipeline.conversation`) puts :class:`TurnContext` into the turn before the stages
  run and reads the turn back after them.

``to_dict(turn)`` is the JSON trace; ``from_dict(Turn, data)`` reads it back (stored conversations).
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any

ROUTES = ("answer", "clarify", "out_of_scope", "no_policy", "handoff", "handed_off", "smalltalk")
"""What a turn gets: a policy answer, a clarification question, the out-of-scope reply (pointing to a person),
the no-policy reply (an intent the knowledge base has no snippet for: pointing to a person, inventing nothing),
the hand-off reply (the conversation goes to a person now), the reply of a conversation already handed off, or a
reply in kind to a greeting, thanks or goodbye."""
STATUSES = ("active", "handed_off", "closed")


def _check_prob(owner: str, name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and not math.isnan(value) and 0.0 <= value <= 1.0 + 1e-6):
        raise ValueError(f"The {name!r} field of {owner} must be a probability in [0, 1]. Got {value!r}.")


def _check_choice(owner: str, name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"The {name!r} field of {owner} must be one of {', '.join(allowed)}. Got {value!r}.")


@dataclass
class Entity:
    """A value found in a message: ``text`` at ``message[start:end]``; ``turn`` is the turn it came from (None: this one)."""

    type: str
    text: str
    start: int
    end: int
    confidence: float = 1.0
    source: str = "pattern"  # "pattern" or "model"
    turn: int | None = None

    def __post_init__(self) -> None:
        if not (0 <= self.start < self.end):
            raise ValueError(f"Entity span must satisfy 0 <= start < end. Got start={self.start}, end={self.end}.")
        _check_prob("Entity", "confidence", self.confidence)


@dataclass
class IntentPrediction:
    """The intent of one message.

    ``confidence`` is the calibrated probability of ``label``; ``ranking`` the top-k ``(label, probability)``
    pairs, best first. ``in_scope`` is false when the confidence, or the ``oos_score``, is under its threshold.
    """

    label: str
    confidence: float
    ranking: list[tuple[str, float]] = field(default_factory=list)
    in_scope: bool = True
    oos_score: float | None = None  # similarity to the nearest training messages (pipeline.nlu.oos), when the model has an index

    def __post_init__(self) -> None:
        if not self.label:
            raise ValueError("IntentPrediction.label must be a non-empty string.")
        _check_prob("IntentPrediction", "confidence", self.confidence)
        self.ranking = [(str(lbl), float(p)) for lbl, p in self.ranking]


@dataclass
class Snippet:
    """A knowledge-base policy snippet, with its retrieval score and why it was picked."""

    id: str
    intents: list[str]
    title: str
    text: str
    tags: list[str] = field(default_factory=list)
    score: float | None = None
    reason: str = ""
    source: str = ""  # "file:line" it was loaded from
    sentence_scores: list[float] = field(default_factory=list)  # cosine of the message with each sentence (retrieval)

    def __post_init__(self) -> None:
        if not self.id or not str(self.id).strip():
            raise ValueError("Snippet.id must be a non-empty string.")
        if not self.intents:
            raise ValueError(f"Snippet {self.id!r} must name at least one intent.")
        if not self.text or not self.text.strip():
            raise ValueError(f"Snippet {self.id!r} has an empty text.")


@dataclass
class Offer:
    """A topic a clarification question offered: the intent and the words the customer saw."""

    intent: str
    topic: str


@dataclass
class Reply:
    """The answer to one message: its text, what made it, the guardrail checks that fired and any fallback.

    ``generator``: grounded | seq2seq | clarification | out_of_scope | handoff | handed_off.
    ``fallback``: why the reply is not a generated policy answer (low_confidence, out_of_scope, guardrails,
    handoff_request, handed_off), else None. ``offered``: the topics a clarification question offered.
    """

    text: str
    generator: str = "grounded"
    checks: list[str] = field(default_factory=list)
    fallback: str | None = None
    notes: list[str] = field(default_factory=list)
    offered: list[Offer] = field(default_factory=list)


@dataclass
class Tone:
    """The customer's tone (pipeline.nlu.tone): sentiment and urgency, with the urgency cues that fired."""

    sentiment: str = "neutral"  # negative | neutral | positive
    sentiment_score: float = 0.0  # VADER's compound (-1..1), or the learned model's confidence
    urgency: str = "normal"  # high | normal
    cues: list[str] = field(default_factory=list)  # money, security, repeat, deadline, threat, shouting
    source: str = "lexicon"  # lexicon | model


@dataclass
class Concern:
    """A second question inside one message ("..., and how long does shipping to Canada take?"), answered too."""

    text: str
    intent: IntentPrediction
    snippets: list[Snippet] = field(default_factory=list)


@dataclass
class TurnContext:
    """What the conversation knows before this turn (all empty for a single message)."""

    conversation_id: str | None = None
    number: int = 1  # 1-based turn number in the conversation
    status: str = "active"  # the conversation's status before this turn
    entities: list[Entity] = field(default_factory=list)  # remembered from earlier turns, each with its turn
    pending: list[Offer] = field(default_factory=list)  # a clarification question waiting for its answer
    pending_text: str | None = None  # the message that question was about
    previous_intent: str | None = None
    previous_text: str | None = None
    expired: bool = False  # idle past the limit: remembered entities and the pending question were dropped

    def __post_init__(self) -> None:
        _check_choice("TurnContext", "status", self.status, STATUSES)


@dataclass
class Turn:
    """One customer message and everything the stages found for it."""

    message: str  # as received
    text: str = ""  # cleaned (control characters, spaces, length): what the models read
    notes: list[str] = field(default_factory=list)
    context: TurnContext = field(default_factory=TurnContext)
    intent: IntentPrediction | None = None
    entities: list[Entity] = field(default_factory=list)  # found in this message
    query: str = ""  # what retrieval and the reply read: the text, or the text with its context
    resolution: str = "classifier"  # how the intent was decided: classifier | follow_up | clarification
    concerns: list[Concern] = field(default_factory=list)  # further questions of the message, each with its intent
    tone: Tone | None = None
    route: str = "answer"
    snippets: list[Snippet] = field(default_factory=list)
    reply: Reply | None = None
    status: str = "active"  # the conversation's status after this turn
    timings_ms: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.text = self.text or self.message
        self.query = self.query or self.text
        _check_choice("Turn", "route", self.route, ROUTES)
        _check_choice("Turn", "status", self.status, STATUSES)

    def reply_entities(self) -> list[Entity]:
        """This message's entities, then the remembered order and invoice numbers of types it does not give anew.

        Only reference numbers are carried into a reply; remembered emails, amounts and phones stay in the state.
        """
        given = {e.type for e in self.entities}
        carried = [e for e in self.context.entities if e.type in REFERENCE_TYPES and e.type not in given]
        return [*self.entities, *carried]


REFERENCE_TYPES = ("order_number", "invoice_number")
"""Entity types a reply may restate, as references ("order 12345")."""


def to_dict(obj: Any) -> Any:
    """Serialise any of these records (or lists of them) to plain JSON-able data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, (list, tuple)):
        return [to_dict(o) for o in obj]
    return obj


def from_dict(cls: Any, data: Any) -> Any:
    """Rebuild a record of type ``cls`` from :func:`to_dict` output (nested records, lists and optionals)."""
    if data is None:
        return None
    origin, args = typing.get_origin(cls), typing.get_args(cls)
    if origin is typing.Union or type(cls).__name__ == "UnionType":
        inner = [a for a in args if a is not type(None)]
        return from_dict(inner[0], data) if len(inner) == 1 else data
    if origin is list:
        return [from_dict(args[0], item) for item in data] if args else list(data)
    if origin is tuple:
        return tuple(data)
    if dataclasses.is_dataclass(cls):
        if not isinstance(data, dict):
            raise ValueError(f"{cls.__name__} must be read from a mapping. Got {type(data).__name__}.")
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"Unknown field(s) {', '.join(map(repr, unknown))} for {cls.__name__}.")
        return cls(**{k: from_dict(hints[k], v) for k, v in data.items()})
    return data
