"""Typed records passed between stages (and serialised as the CLI's ``--json``).

NLU -> :class:`IntentPrediction` (with :class:`Entity` list)
Retrieval -> list of :class:`Snippet`
NLG -> :class:`Reply` (with the trace of every stage)
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any


def _check_prob(owner: str, name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and not math.isnan(value) and 0.0 <= value <= 1.0 + 1e-6):
        raise ValueError(f"The {name!r} field of {owner} must be a probability in [0, 1]. Got {value!r}.")


@dataclass
class Entity:
    """A value found in the message: ``text`` at ``message[start:end]``."""

    type: str
    text: str
    start: int
    end: int
    confidence: float = 1.0
    source: str = "pattern"  # "pattern" or "model"

    def __post_init__(self) -> None:
        if not (0 <= self.start < self.end):
            raise ValueError(f"Entity span must satisfy 0 <= start < end. Got start={self.start}, end={self.end}.")
        _check_prob("Entity", "confidence", self.confidence)


@dataclass
class IntentPrediction:
    """The NLU result for one message.

    ``confidence`` is the calibrated probability of ``label``; ``ranking`` the
    top-k ``(label, probability)`` pairs, best first. ``in_scope`` is false when
    the confidence is under the model's stored threshold.
    """

    label: str
    confidence: float
    ranking: list[tuple[str, float]] = field(default_factory=list)
    in_scope: bool = True
    entities: list[Entity] = field(default_factory=list)

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

    def __post_init__(self) -> None:
        if not self.id or not str(self.id).strip():
            raise ValueError("Snippet.id must be a non-empty string.")
        if not self.intents:
            raise ValueError(f"Snippet {self.id!r} must name at least one intent.")
        if not self.text or not self.text.strip():
            raise ValueError(f"Snippet {self.id!r} has an empty text.")


@dataclass
class Reply:
    """The answer to one message and the trace of how it was produced."""

    text: str
    intent: IntentPrediction | None
    snippets: list[Snippet] = field(default_factory=list)
    generator: str = "grounded"
    checks: list[str] = field(default_factory=list)  # names of guardrail checks that fired
    fallback: str | None = None  # why the reply is a fallback ("low_confidence", "guardrails", ...), else None
    timings_ms: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def to_dict(obj: Any) -> Any:
    """Serialise any of these records (or lists of them) to plain JSON-able data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, (list, tuple)):
        return [to_dict(o) for o in obj]
    return obj
