"""The policy stage: what each turn gets, and the one place where the hand-off rule lives.

    python -c "from pipeline.nlu.person import asks_for_person as a; print(a('let me talk to a human'), a('is this a bot?'))"

Routes (``turn.route``), first that applies:

- ``handed_off``: the conversation is with a person already; only contact-channel questions
  (``handed_off_answers``) are still answered from the policy;
- ``handoff``: the customer asks for a person (:func:`~pipeline.nlu.person.asks_for_person`, or the classifier reads one of
  ``handoff_intents`` with at least ``handoff_min_confidence`` in a message that names a person), or the tone
  calls for one (``escalate``: sentiment ``escalate_sentiment`` and urgency ``escalate_urgency``, with one of the
  ``escalate_cues`` when the lexicon read it); the conversation's status becomes ``handed_off``;
- ``smalltalk``: the message is only a greeting, thanks, a goodbye or an acknowledgement
  (:func:`~pipeline.nlu.smalltalk.social_kind`; ``smalltalk``), answered in kind;
- ``no_policy``: the intent is in scope but the knowledge base has no snippet for it (the reply points to a
  person and invents nothing);
- ``answer``: the intent is in scope;
- ``clarify``: under the threshold, but the top two intents hold ``clarify_mass`` of the probability;
- ``out_of_scope``: anything else (the reply points to a person without handing the conversation off).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pipeline.config import StageConfig
from pipeline.errors import check_param
from pipeline.nlu.person import asks_for_person, names_person
from pipeline.nlu.smalltalk import social_kind
from pipeline.types import Turn

@dataclass
class PolicyConfig(StageConfig):
    clarify_mass: float = field(default=0.5, metadata={"help": "Under the threshold: ask to clarify when the top-2 intents hold this much probability, else the out-of-scope reply."})
    handoff_intents: list[str] = field(default_factory=lambda: ["contact_human_agent"],
        metadata={"help": "Intents that hand the conversation to a person when confident and the message names a person."})
    handoff_min_confidence: float = field(default=0.5, metadata={"help": "Confidence a handoff intent needs to hand off without an explicit request pattern."})
    handed_off_answers: list[str] = field(default_factory=lambda: ["contact_customer_service"],
        metadata={"help": "Intents still answered from the policy once a person has the conversation (contact channels)."})
    smalltalk: bool = field(default=True, metadata={"help": "Answer a message that is only a greeting, thanks or goodbye in kind (not from the policy)."})
    escalate: bool = field(default=True, metadata={"help": "Hand off an upset customer with an urgent matter (sentiment and urgency below)."})
    escalate_sentiment: list[str] = field(default_factory=lambda: ["negative"], metadata={"help": "Sentiments that escalate (with the urgency)."})
    escalate_urgency: list[str] = field(default_factory=lambda: ["high"], metadata={"help": "Urgencies that escalate (with the sentiment)."})
    escalate_cues: list[str] = field(default_factory=lambda: ["money", "security", "repeat", "deadline", "threat"],
        metadata={"help": "Urgency cues that escalate, when the lexicon read the tone (money, security, repeat, deadline, threat)."})

    def validate(self) -> None:
        for name in ("clarify_mass", "handoff_min_confidence"):
            value = getattr(self, name)
            check_param("PolicyConfig", name, value, 0.0 <= value <= 1.0, "a float in [0, 1]")


class PolicyStage:
    """Component: ``run(turns) -> turns`` sets ``turn.route`` and, on a hand-off, ``turn.status``."""

    name = "policy"

    def __init__(self, config: PolicyConfig | None = None, *, answerable: Any = None) -> None:
        self.config = config or PolicyConfig()
        self.answerable = answerable  # the intents with snippets (or a callable giving them); None: all
        self._answerable: set[str] | None = None

    def warm_up(self) -> None:
        if self.answerable is not None and self._answerable is None:
            self._answerable = set(self.answerable() if callable(self.answerable) else self.answerable)

    def escalates(self, turn: Turn) -> bool:
        """The tone calls for a person now: e.g. an upset customer charged twice."""
        tone, cfg = turn.tone, self.config
        if not cfg.escalate or tone is None:
            return False
        if tone.sentiment not in cfg.escalate_sentiment or tone.urgency not in cfg.escalate_urgency:
            return False
        return tone.source == "model" or any(cue in cfg.escalate_cues for cue in tone.cues)

    def wants_person(self, turn: Turn) -> bool:
        if asks_for_person(turn.text):
            return True
        pred, cfg = turn.intent, self.config
        return (pred is not None and pred.in_scope and pred.label in cfg.handoff_intents and pred.confidence >= cfg.handoff_min_confidence
                and names_person(turn.text))

    def route(self, turn: Turn) -> str:
        pred, cfg = turn.intent, self.config
        if turn.context.status == "handed_off":
            answerable = pred is not None and pred.in_scope and pred.label in cfg.handed_off_answers
            return "answer" if answerable and not self.wants_person(turn) else "handed_off"
        if self.wants_person(turn) or self.escalates(turn):
            return "handoff"
        if cfg.smalltalk and social_kind(turn.text):
            return "smalltalk"
        if pred is not None and pred.in_scope:
            return "no_policy" if self._answerable is not None and pred.label not in self._answerable else "answer"
        mass = sum(p for _, p in pred.ranking[:2]) if pred is not None else 0.0
        if re.search(r"[^\W\d_]{2,}", turn.text) and mass >= cfg.clarify_mass:
            return "clarify"
        return "out_of_scope"

    def run(self, turns: list[Turn]) -> list[Turn]:
        for turn in turns:
            turn.route = self.route(turn)
            turn.status = "handed_off" if turn.route in ("handoff", "handed_off") else turn.context.status
        return turns
