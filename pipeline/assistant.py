"""The assistant: a loop over its stages, the builder of the default ones, and the respond config.

    >>> assistant = build_assistant(load_respond_config())                       # doctest: +SKIP
    >>> assistant.answer(["I want a refund for order 12345"])[0].reply.text     # doctest: +SKIP
    >>> conv = Conversation(); assistant.respond(conv, "where is my order 4471-22?")  # doctest: +SKIP

:class:`SupportAssistant` runs each stage's ``run(turns) -> turns`` in order over one
:class:`~pipeline.types.Turn` per message, timing each. :func:`build_assistant` makes the default stages
(NLU, policy, retrieval, reply) from a :class:`RespondConfig`; ``pipeline.respond``, ``pipeline.chat``,
``pipeline.serve`` and ``evaluation.run`` all build it this way. Configuration is one YAML file with a
section per stage (``nlu``, ``policy``, ``retrieval``, ``nlg``, ``conversation``, ``serve``), each validated by that
stage's config dataclass, plus top-level ``max_chars``; see ``configs/respond/default.yaml``.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence

from pipeline.config import StageConfig, read_yaml
from pipeline.conversation import Conversation, ConversationConfig
from pipeline.errors import ConfigError, DataError, check_param
from pipeline.nlu.stage import NLUConfig, NLUStage
from pipeline.policy import PolicyConfig, PolicyStage
from pipeline.reply.generators import GeneratorConfig
from pipeline.reply.stage import ReplyStage
from pipeline.retrieval.retriever import RetrieverConfig
from pipeline.retrieval.stage import RetrievalStage
from pipeline.serve.config import ServeConfig
from pipeline.types import Turn, TurnContext

logger = logging.getLogger(__name__)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")


SECTIONS: dict[str, type[StageConfig]] = {"nlu": NLUConfig, "policy": PolicyConfig, "retrieval": RetrieverConfig,
                                          "nlg": GeneratorConfig, "conversation": ConversationConfig, "serve": ServeConfig}


@dataclass
class RespondConfig:
    nlu: NLUConfig = field(default_factory=NLUConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    retrieval: RetrieverConfig = field(default_factory=RetrieverConfig)
    nlg: GeneratorConfig = field(default_factory=GeneratorConfig)
    conversation: ConversationConfig = field(default_factory=ConversationConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    max_chars: int = 5000

    def __post_init__(self) -> None:
        check_param("RespondConfig", "max_chars", self.max_chars, isinstance(self.max_chars, int) and self.max_chars >= 16, "an int >= 16")

    def to_dict(self) -> dict[str, Any]:
        return {**{name: getattr(self, name).to_dict() for name in SECTIONS}, "max_chars": self.max_chars}


def load_respond_config(path: str | Path | None = None, overrides: dict[str, dict[str, Any]] | None = None) -> RespondConfig:
    """Read the sectioned YAML (unknown sections/keys are errors) and apply per-section overrides."""
    raw: dict[str, Any] = read_yaml(path) if path else {}
    source = str(path) if path else "defaults"
    valid = [*SECTIONS, "max_chars"]
    unknown = sorted(set(raw) - set(valid), key=str)
    if unknown:
        raise ConfigError(f"Unknown key(s) {', '.join(map(repr, unknown))} in {source}. Valid keys: {', '.join(valid)}.")
    sections = {}
    for name, cls in SECTIONS.items():
        data = raw.get(name) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"The {name!r} section of {source} must be a mapping of keys to values. Got {data!r}.")
        data = {**data, **{k: v for k, v in (overrides or {}).get(name, {}).items() if v is not None}}
        sections[name] = cls.from_dict(data, source=f"{source} [{name}]")
    return RespondConfig(**sections, max_chars=raw.get("max_chars", 5000))


def clean_message(message: str, max_chars: int) -> tuple[str, list[str]]:
    """Replace undecodable bytes and control characters, collapse spaces, truncate; empty -> DataError."""
    notes: list[str] = []
    text = str(message)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # bytes that were not UTF-8 (kept by Python as lone surrogates), e.g. from stdin
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        text = text.encode("utf-8", "replace").decode("utf-8")  # any surrogate still left
        notes.append("bytes that are not UTF-8 replaced by U+FFFD")
    cleaned = _CONTROL.sub(" ", text)
    if cleaned != text:
        notes.append("control characters replaced by spaces")
    text = cleaned
    text = " ".join(text.split())
    if not text:
        raise DataError('The message is empty or only whitespace. Pass a customer message, e.g. "Where is my order?".')
    if len(text) > max_chars:
        notes.append(f"message truncated from {len(text)} to {max_chars} characters for the models")
        text = text[:max_chars]
    return text, notes


class Stage(Protocol):
    name: str

    def warm_up(self) -> None: ...

    def run(self, turns: list[Turn]) -> list[Turn]: ...


class SupportAssistant:
    """Answer messages: a loop over ``stages``, each ``run(turns) -> turns``, built by :func:`build_assistant`."""

    def __init__(self, stages: Sequence[Stage], *, max_chars: int = 5000,
                 conversation: ConversationConfig | None = None) -> None:
        self.stages = list(stages)
        self.max_chars = max_chars
        self.conversation = conversation or ConversationConfig()
        self._warm = False

    def stage(self, name: str) -> Any:
        """The stage called ``name`` (nlu, policy, retrieval, nlg)."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(f"No stage {name!r}. Stages: {', '.join(s.name for s in self.stages)}.")

    def warm_up(self) -> None:
        if not self._warm:
            for stage in self.stages:
                stage.warm_up()
            self._warm = True

    def run(self, turns: list[Turn]) -> list[Turn]:
        """Every stage over ``turns``, in order; ``timings_ms`` gets each stage's time per message."""
        self.warm_up()
        n = max(len(turns), 1)
        for stage in self.stages:
            start = time.perf_counter()
            turns = stage.run(turns)
            per_message = round((time.perf_counter() - start) * 1000.0 / n, 3)
            for turn in turns:
                turn.timings_ms[stage.name] = per_message
        return turns

    def turn(self, message: str, context: TurnContext | None = None) -> Turn:
        """A new turn for ``message``, cleaned (an empty message is a DataError)."""
        text, notes = clean_message(message, self.max_chars)
        return Turn(message=str(message), text=text, notes=notes, context=context or TurnContext())

    def answer(self, messages: Sequence[str]) -> list[Turn]:
        """Single messages, no conversation: one turn each."""
        return self.run([self.turn(m) for m in messages])

    def respond(self, conversation: Conversation, message: str, now: float | None = None) -> Turn:
        """The next turn of ``conversation`` (which takes the state back; the caller stores it)."""
        return self.respond_many([(conversation, message)], now)[0]

    def respond_many(self, items: Sequence[tuple[Conversation, str]], now: float | None = None) -> list[Turn]:
        """One pipeline call over messages of different conversations (one message per conversation)."""
        ids = [conv.id for conv, _ in items]
        if len(set(ids)) != len(ids):
            raise DataError("respond_many got two messages of one conversation; answer them one after the other.")
        now = time.time() if now is None else now
        turns = self.run([self.turn(m, conv.context(now, self.conversation)) for conv, m in items])
        for (conv, _), turn in zip(items, turns):
            conv.absorb(turn, now, self.conversation)
        return turns


def build_assistant(config: RespondConfig | None = None, *, progress: bool = False) -> SupportAssistant:
    """The default stages from ``config``: NLU, policy, retrieval and reply (models load in ``warm_up``)."""
    config = config or RespondConfig()
    nlu, retrieval = NLUStage(config.nlu, progress=progress), RetrievalStage(config.retrieval)

    def answerable() -> list[str]:  # the knowledge base must share intents with the model (one error if not)
        retrieval.kb.check_model(nlu.labels, f"the intent model {config.nlu.model!r}")
        return retrieval.kb.intents()

    stages = [nlu, PolicyStage(config.policy, answerable=answerable), retrieval,
              ReplyStage(config.nlg, kb=lambda: retrieval.kb, progress=progress)]
    return SupportAssistant(stages, max_chars=config.max_chars, conversation=config.conversation)
