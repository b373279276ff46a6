"""The whole answer-time pipeline as one component: NLU -> retrieval -> reply -> guardrails.

    >>> assistant = SupportAssistant(load_respond_config())     # doctest: +SKIP
    >>> assistant.run(["I want a refund for order 12345"])["replies"][0].text  # doctest: +SKIP

Configuration is one YAML file with a section per stage (``nlu``,
``retrieval``, ``nlg``), each validated by that stage's config dataclass, plus
top-level ``max_chars``; see ``configs/respond/default.yaml``.
"""
from __future__ import annotations

import dataclasses
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config import StageConfig, read_yaml
from pipeline.entities import EntityExtractor
from pipeline.errors import ConfigError, DataError, check_param
from pipeline.guardrails import apply_guardrails
from pipeline.nlg import GeneratorConfig, GroundedGenerator, build_generator, build_guardrails, clarification_reply, handoff_reply
from pipeline.nlu import IntentClassifier
from pipeline.retrieval import Retriever, RetrieverConfig
from pipeline.types import IntentPrediction, Reply, Snippet

logger = logging.getLogger(__name__)
request_logger = logging.getLogger("pipeline.requests")  # one line per message; shown with -v (see setup_logging)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")


@dataclass
class NLUConfig(StageConfig):
    model: str = field(default="auto", metadata={"help": "Intent model folder or Hub id; 'auto' = the cached default model, trained on first use."})
    top_k: int = field(default=3, metadata={"help": "Intents kept in the ranking."})
    batch_size: int = field(default=64, metadata={"help": "Messages per forward pass."})
    max_length: int = field(default=128, metadata={"help": "Tokens per message seen by the classifier."})
    threshold: float | None = field(default=None, metadata={"help": "Out-of-scope confidence threshold; unset = the one stored with the model."})
    clarify_mass: float = field(default=0.5, metadata={"help": "Under the threshold: ask to clarify when the top-2 intents hold this much probability, else hand off."})
    slot_model: str | None = field(default=None, metadata={"help": "Learned entity (slot) model folder from training.finetune_slots, merged with the patterns; unset = patterns only."})
    entity_min_confidence: float = field(default=0.5, metadata={"help": "Learned entities under this confidence are dropped."})
    keep_pii: bool = field(default=False, metadata={"help": "Log messages as they are; by default emails, phone and card numbers are masked in logs."})

    def validate(self) -> None:
        check_param("NLUConfig", "top_k", self.top_k, self.top_k >= 1, "an int >= 1")
        check_param("NLUConfig", "batch_size", self.batch_size, self.batch_size >= 1, "an int >= 1")
        if self.threshold is not None:
            check_param("NLUConfig", "threshold", self.threshold, 0.0 <= self.threshold <= 1.0, "a float in [0, 1] or unset")
        check_param("NLUConfig", "clarify_mass", self.clarify_mass, 0.0 <= self.clarify_mass <= 1.0, "a float in [0, 1]")
        check_param("NLUConfig", "entity_min_confidence", self.entity_min_confidence,
                    0.0 <= self.entity_min_confidence <= 1.0, "a float in [0, 1]")


SECTIONS: dict[str, type[StageConfig]] = {"nlu": NLUConfig, "retrieval": RetrieverConfig, "nlg": GeneratorConfig}


@dataclass
class RespondConfig:
    nlu: NLUConfig = field(default_factory=NLUConfig)
    retrieval: RetrieverConfig = field(default_factory=RetrieverConfig)
    nlg: GeneratorConfig = field(default_factory=GeneratorConfig)
    max_chars: int = 5000

    def __post_init__(self) -> None:
        check_param("RespondConfig", "max_chars", self.max_chars, isinstance(self.max_chars, int) and self.max_chars >= 16, "an int >= 16")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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


class SupportAssistant:
    """Answer customer messages: ``run(messages) -> {"replies": [Reply]}``."""

    def __init__(self, config: RespondConfig | None = None, *, progress: bool = False) -> None:
        self.config = config or RespondConfig()
        self.progress = progress
        self.entities = EntityExtractor()
        self.slots: Any = None
        if self.config.nlu.slot_model:
            from pipeline.slots import SlotTagger

            self.slots = SlotTagger(self.config.nlu.slot_model, batch_size=self.config.nlu.batch_size,
                                    min_confidence=self.config.nlu.entity_min_confidence)
        self.classifier: IntentClassifier | None = None
        self.retriever: Retriever | None = None
        self.generator: Any = None
        self.grounded = GroundedGenerator(max_snippets=self.config.nlg.max_snippets, max_sentences=self.config.nlg.max_sentences)
        self.guardrails = build_guardrails(self.config.nlg)
        self._contact: list[Snippet] = []

    def warm_up(self) -> None:
        if self.classifier is not None:
            return
        cfg = self.config
        model = cfg.nlu.model
        if model == "auto":
            from pipeline.bootstrap import ensure_default_intent_model

            model = str(ensure_default_intent_model(progress=self.progress))
        classifier = IntentClassifier(model, top_k=max(cfg.nlu.top_k, 2), batch_size=cfg.nlu.batch_size, max_length=cfg.nlu.max_length)
        classifier.warm_up()
        if self.slots is not None:
            self.slots.warm_up()
        generator = build_generator(cfg.nlg)
        generator.warm_up()
        retriever = Retriever(config=cfg.retrieval)
        retriever.warm_up()
        by_intent = retriever.kb.by_intent()
        self._contact = (by_intent.get("contact_human_agent") or by_intent.get("contact_customer_service") or [])[:1]
        self.classifier, self.generator, self.retriever = classifier, generator, retriever

    def _threshold(self) -> float | None:
        assert self.classifier is not None
        return self.config.nlu.threshold if self.config.nlu.threshold is not None else self.classifier.threshold

    def _low_confidence_reply(self, message: str, pred: IntentPrediction) -> tuple[str, str, str]:
        """(text, generator, fallback) for a prediction under the threshold."""
        mass = sum(p for _, p in pred.ranking[:2])
        if re.search(r"[^\W\d_]{2,}", message) and mass >= self.config.nlu.clarify_mass:
            return clarification_reply(message, pred, pred.entities), "clarification", "low_confidence"
        return handoff_reply(message, self._contact), "handoff", "out_of_scope"

    def _log_requests(self, texts: list[str], predictions: list[IntentPrediction]) -> None:
        """One INFO line per message: the message (personal data masked unless nlu.keep_pii), intent, entities."""
        from pipeline.privacy import mask_entities, mask_pii

        keep = self.config.nlu.keep_pii
        for text, pred in zip(texts, predictions):
            ents = [f"{e.type}={e.text if keep else d['text']!s}@{e.start}:{e.end}({e.source})"
                    for e, d in zip(pred.entities, mask_entities(pred.entities))]
            request_logger.info("request %r -> %s (%.2f%s); entities: %s", text if keep else mask_pii(text), pred.label,
                        pred.confidence, "" if pred.in_scope else ", under threshold", ", ".join(ents) or "none")

    def run(self, messages: list[str]) -> dict[str, list[Reply]]:
        cleaned = [clean_message(m, self.config.max_chars) for m in messages]  # an empty message: DataError
        return self.run_cleaned([text for text, _ in cleaned], [notes for _, notes in cleaned])

    def run_cleaned(self, texts: list[str], notes: list[list[str]]) -> dict[str, list[Reply]]:
        """:meth:`run` on messages already passed through :func:`clean_message`, with its notes."""
        self.warm_up()
        assert self.classifier is not None and self.retriever is not None
        cfg = self.config
        n = max(len(texts), 1)
        texts, notes = list(texts), [list(x) for x in notes]
        timings: dict[str, float] = {}

        start = time.perf_counter()
        entities = self.entities.run(texts)["entities"]
        if self.slots is not None:
            from pipeline.slots import merge_entities

            learned = self.slots.run(texts)["entities"]
            entities = [merge_entities(p, m) for p, m in zip(entities, learned)]
        predictions = self.classifier.run(texts, top_k=max(cfg.nlu.top_k, 2))["predictions"]
        threshold = self._threshold()
        for pred, ents in zip(predictions, entities):
            pred.entities = ents
            pred.in_scope = threshold is None or pred.confidence >= threshold
            pred.ranking = pred.ranking[: cfg.nlu.top_k]
        timings["nlu"] = time.perf_counter() - start
        if request_logger.isEnabledFor(logging.INFO):
            self._log_requests(texts, predictions)

        answer = [i for i, p in enumerate(predictions) if p.in_scope]
        start = time.perf_counter()
        snippets: list[list[Snippet]] = [[] for _ in texts]
        if answer:
            found = self.retriever.run([texts[i] for i in answer], intents=[predictions[i] for i in answer])
            for j, i in enumerate(answer):
                snippets[i] = found["snippets"][j]
                notes[i].extend(found["notes"][j])
        timings["retrieval"] = time.perf_counter() - start

        start = time.perf_counter()
        replies = [""] * len(texts)
        generator_used = [self.generator.name] * len(texts)
        fallback: list[str | None] = [None] * len(texts)
        checks: list[list[str]] = [[] for _ in texts]
        if answer:
            sub = ([texts[i] for i in answer], [predictions[i] for i in answer], [snippets[i] for i in answer], [entities[i] for i in answer])
            generated = self.generator.run(*sub)["replies"]
            grounded = generated if self.generator.name == "grounded" else self.grounded.run(*sub)["replies"]
            checked = apply_guardrails(generated, grounded, sub[0], sub[2], self.guardrails)
            for j, i in enumerate(answer):
                replies[i] = checked["replies"][j]
                checks[i] = list(checked["results"][j].fired)
                if checked["fallback"][j] and self.generator.name != "grounded":
                    fallback[i], generator_used[i] = "guardrails", "grounded"
        for i, pred in enumerate(predictions):
            if not pred.in_scope:
                replies[i], generator_used[i], fallback[i] = self._low_confidence_reply(texts[i], pred)
                notes[i].append(f"intent confidence {pred.confidence:.2f} is under the threshold {threshold:.2f}")
        timings["nlg"] = time.perf_counter() - start

        per_message = {k: round(v * 1000.0 / n, 3) for k, v in timings.items()}
        out = [
            Reply(text=replies[i], intent=predictions[i], snippets=snippets[i], generator=generator_used[i], checks=checks[i],
                  fallback=fallback[i], timings_ms=dict(per_message), notes=notes[i], message=texts[i])
            for i in range(len(texts))
        ]
        return {"replies": out}
