"""The NLU stage: intent (with the one in-scope decision) and entities for every turn, read in context.

    stage = NLUStage(NLUConfig(model="artifacts/intent-bitext"))
    turns = stage.run([Turn("I want a refund for order 12345")])
    turns[0].intent.label, turns[0].entities[0].text      # ('get_refund', '12345')

For each turn: the pattern entities (merged with a learned slot tagger's when ``slot_model`` is set), then
the intent. With conversation context (:class:`~pipeline.types.TurnContext`):

- after a clarification question, the message is first read as its answer: an ordinal ("the second one"),
  the offered topic's own words ("tracking", "cancel it"), or the classifier putting an offered intent first.
  The original question is then what retrieval and the reply answer (``turn.query``). Anything else is a new
  message;
- a short follow-up with little content of its own ("and how long does that take?") is also classified
  together with the previous turn, and the two readings are averaged (so a message that is clear on its own
  keeps its intent, and one that is not takes it from the context); the trace says so.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from pipeline.config import StageConfig
from pipeline.errors import check_param
from pipeline.onnx_runtime import RUNTIMES
from pipeline.nlu.context import answer_by_words, concern_segments, looks_like_follow_up, words
from pipeline.nlu.entities import extract_entities
from pipeline.types import Concern, IntentPrediction, Offer, Turn

logger = logging.getLogger(__name__)
request_logger = logging.getLogger("pipeline.requests")  # one line per message; shown with -v (see setup_logging)
FOLLOW_UP_RANKING = 10  # intents kept per reading of a follow-up before they are averaged


@dataclass
class NLUConfig(StageConfig):
    model: str = field(default="auto", metadata={"help": "Intent model folder or Hub id; 'auto' = the cached default model, trained on first use."})
    top_k: int = field(default=3, metadata={"help": "Intents kept in the ranking."})
    batch_size: int = field(default=16, metadata={"help": "Messages per forward pass (small length-sorted batches are fastest on CPU)."})
    max_length: int = field(default=128, metadata={"help": "Tokens per message seen by the classifier."})
    threshold: float | None = field(default=None, metadata={"help": "Out-of-scope confidence threshold; unset = the one stored with the model."})
    oos_confident: float | None = field(default=0.9, metadata={"help": "A confidence at least this high skips the nearest-neighbour out-of-scope test (chosen on dev with experiments/oos_rule.py); unset = both tests always."})
    slot_model: str | None = field(default=None, metadata={"help": "Learned entity (slot) model folder from training.finetune_slots, merged with the patterns; unset = patterns only."})
    entity_min_confidence: float = field(default=0.5, metadata={"help": "Learned entities under this confidence are dropped."})
    runtime: str = field(default="auto", metadata={"help": "auto | onnx-int8 | onnx | torch (pipeline.onnx_runtime). auto: the fastest ONNX export of the model that passed its parity check, else torch."})
    keep_pii: bool = field(default=False, metadata={"help": "Log messages as they are; by default emails, phone and card numbers are masked in logs."})
    tone: bool = field(default=True, metadata={"help": "Read the customer's sentiment and urgency (pipeline.nlu.tone)."})
    sentiment_model: str | None = field(default=None, metadata={"help": "Classifier folder (training.finetune_intent --label-column sentiment) that replaces the lexicon's sentiment."})
    urgency_model: str | None = field(default=None, metadata={"help": "Classifier folder (--label-column urgency) that replaces the lexicon's urgency."})
    concerns: bool = field(default=True, metadata={"help": "Classify each sentence or 'and how ...' part of a message too, and answer a second concern as well."})
    concern_min_confidence: float = field(default=0.97, metadata={"help": "A part's intent counts as a second concern from this confidence (and in scope); chosen on retrieval_dev.yaml."})

    def validate(self) -> None:
        check_param("NLUConfig", "top_k", self.top_k, self.top_k >= 1, "an int >= 1")
        check_param("NLUConfig", "batch_size", self.batch_size, self.batch_size >= 1, "an int >= 1")
        check_param("NLUConfig", "runtime", self.runtime, self.runtime in RUNTIMES, "one of " + ", ".join(RUNTIMES))
        for name in ("threshold", "oos_confident"):
            if getattr(self, name) is not None:
                check_param("NLUConfig", name, getattr(self, name), 0.0 <= getattr(self, name) <= 1.0, "a float in [0, 1] or unset")
        for name in ("entity_min_confidence", "concern_min_confidence"):
            value = getattr(self, name)
            check_param("NLUConfig", name, value, 0.0 <= value <= 1.0, "a float in [0, 1]")


def answer_by_ranking(text: str, prediction: IntentPrediction, offered: list[Offer]) -> str | None:
    """The offered intent the classifier reads in a clarification answer: its first choice, or for a short
    answer ("where it is") an offered intent in its top 3 when its first choice is out of scope."""
    names = [o.intent for o in offered]
    if prediction.label in names:
        return prediction.label
    if len(words(text)) <= 4 and not prediction.in_scope:
        return next((label for label, _ in prediction.ranking[:3] if label in names), None)
    return None


class NLUStage:
    """Component: ``run(turns) -> turns`` fills ``intent``, ``entities``, ``query`` and ``resolution``."""

    name = "nlu"

    def __init__(self, config: NLUConfig | None = None, *, classifier: Any = None, slots: Any = None,
                 progress: bool = False) -> None:
        self.config = config or NLUConfig()
        self.classifier = classifier  # an IntentClassifier (or anything with .run(texts, top_k, threshold=...))
        self.slots = slots
        self.progress = progress
        self.tone: Any = None

    def warm_up(self) -> None:
        cfg = self.config
        if self.classifier is None:
            from pipeline.nlu.classifier import IntentClassifier

            model = cfg.model
            if model == "auto":
                from pipeline.nlu.bootstrap import ensure_default_intent_model

                model = str(ensure_default_intent_model(progress=self.progress))
            self.classifier = IntentClassifier(model, top_k=max(cfg.top_k, 3), batch_size=cfg.batch_size, max_length=cfg.max_length,
                                               runtime=cfg.runtime, oos_confident=cfg.oos_confident)
        if hasattr(self.classifier, "warm_up"):
            self.classifier.warm_up()
        if self.slots is None and cfg.slot_model:
            from pipeline.nlu.slots import SlotTagger

            self.slots = SlotTagger(cfg.slot_model, batch_size=cfg.batch_size, min_confidence=cfg.entity_min_confidence)
        if self.slots is not None:
            self.slots.warm_up()
        if cfg.tone and self.tone is None:
            from pipeline.nlu.tone import LearnedTone, ToneReader

            learned = cfg.sentiment_model or cfg.urgency_model
            self.tone = LearnedTone(cfg.sentiment_model, cfg.urgency_model, cfg.batch_size, cfg.runtime) if learned else ToneReader()
            if learned:
                self.tone.warm_up()

    @property
    def labels(self) -> list[str]:
        self.warm_up()
        return list(self.classifier.labels)

    def classify(self, texts: list[str]) -> list[IntentPrediction]:
        """Predictions with the top 10 intents (cut to ``top_k`` at the end of :meth:`run`)."""
        if not texts:
            return []
        return self.classifier.run(texts, top_k=max(self.config.top_k, FOLLOW_UP_RANKING), threshold=self.config.threshold)["predictions"]

    def mix(self, alone: IntentPrediction, joined: IntentPrediction) -> IntentPrediction:
        """The average of two readings of a follow-up (ranked probabilities; the in-scope decision on the mean)."""
        probs: dict[str, float] = {}
        for pred in (alone, joined):
            for label, p in pred.ranking:
                probs[label] = probs.get(label, 0.0) + p / 2.0
        ranking = sorted(probs.items(), key=lambda kv: -kv[1])
        label, confidence = ranking[0]
        near = max((p.oos_score for p in (alone, joined) if p.oos_score is not None), default=None)
        if hasattr(self.classifier, "decide"):
            in_scope = self.classifier.decide(confidence, near, self.config.threshold)
        else:  # a stand-in classifier without an out-of-scope index
            cut = self.config.threshold if self.config.threshold is not None else getattr(self.classifier, "threshold", None)
            in_scope = cut is None or confidence >= cut
        return IntentPrediction(label, min(confidence, 1.0), ranking, in_scope, oos_score=near)

    def entities(self, texts: list[str]) -> list[list]:
        found = [extract_entities(t) for t in texts]
        if self.slots is None:
            return found
        from pipeline.nlu.slots import merge_entities

        learned = self.slots.run(texts)["entities"]
        return [merge_entities(p, m) for p, m in zip(found, learned)]

    def run(self, turns: list[Turn]) -> list[Turn]:
        self.warm_up()
        texts = [t.text for t in turns]
        follow = [i for i, t in enumerate(turns) if self._may_follow(t)]
        parts = [(i, text) for i, t in enumerate(turns) if self.config.concerns
                 for segments in [concern_segments(t.text)] if len(segments) > 1 for text in segments]
        joined_texts = [f"{turns[i].context.previous_text} {texts[i]}" for i in follow]
        readings = self.classify(texts + joined_texts + [text for _, text in parts])  # one encoder call for all readings
        alone, joined = readings[: len(texts)], dict(zip(follow, readings[len(texts): len(texts) + len(follow)]))
        part_readings = readings[len(texts) + len(follow):]
        for i, (turn, ents) in enumerate(zip(turns, self.entities(texts))):
            turn.entities, turn.intent = ents, alone[i]
            if turn.context.pending and self._read_as_answer(turn):
                pass
            elif i in joined:
                turn.intent, turn.resolution = self.mix(alone[i], joined[i]), "follow_up"
                turn.query = f"{turn.context.previous_text} {turn.text}"
                turn.notes.append(f"follow-up: read alone ({alone[i].label} {alone[i].confidence:.2f}) and with the previous "
                                  f"turn ({joined[i].label} {joined[i].confidence:.2f}), averaged")
            turn.intent.ranking = turn.intent.ranking[: self.config.top_k]
        if self.config.concerns:
            self._find_concerns(turns, [(turns[i], text) for i, text in parts], part_readings)
        if self.tone is not None:
            start = time.perf_counter()
            tones = self.tone.run(texts)
            per_message = (time.perf_counter() - start) * 1000.0 / max(len(turns), 1)
            for turn, tone in zip(turns, tones):
                turn.tone = tone
                turn.timings_ms["nlu.tone"] = round(per_message, 3)  # part of "nlu"
        if request_logger.isEnabledFor(logging.INFO):
            self._log_requests(turns)
        return turns

    def _find_concerns(self, turns: list[Turn], parts: list[tuple[Turn, str]], readings: list[IntentPrediction]) -> None:
        """A part of a message (read by the classifier, not as a follow-up or an answer) whose own intent differs from
        the message's becomes a second concern."""
        cfg = self.config
        for (turn, text), pred in zip(parts, readings):
            if turn.resolution != "classifier":
                continue
            known = {turn.intent.label, *(c.intent.label for c in turn.concerns)}
            if pred.in_scope and pred.label not in known and pred.confidence >= cfg.concern_min_confidence:
                pred.ranking = pred.ranking[: cfg.top_k]
                turn.concerns.append(Concern(text=text, intent=pred))
        for turn in turns:
            if turn.concerns:
                turn.notes.append("second concern(s): " + ", ".join(c.intent.label for c in turn.concerns))

    def _may_follow(self, turn: Turn) -> bool:
        ctx = turn.context
        return bool(ctx.previous_text) and not ctx.pending and looks_like_follow_up(turn.text)

    def _read_as_answer(self, turn: Turn) -> bool:
        """Resolve a pending clarification question from this message; False when it is a new message."""
        offered = turn.context.pending
        how = "its words"
        chosen = answer_by_words(turn.text, offered)
        if chosen is None:
            chosen, how = answer_by_ranking(turn.text, turn.intent, offered), "the classifier"
        if chosen is None:
            turn.notes.append("not an answer to the clarification question: read as a new message")
            return False
        others = [(o.intent, 0.0) for o in offered if o.intent != chosen]
        turn.intent = dataclasses.replace(turn.intent, label=chosen, confidence=1.0, ranking=[(chosen, 1.0), *others], in_scope=True)
        turn.resolution = "clarification"
        turn.query = f"{turn.context.pending_text or ''} {turn.text}".strip()
        turn.notes.append(f"answer to the clarification question: {chosen} (by {how})")
        return True

    def _log_requests(self, turns: list[Turn]) -> None:
        """One INFO line per message: the message (personal data masked unless keep_pii), intent, entities."""
        from pipeline.privacy import mask_entities, mask_pii

        keep = self.config.keep_pii
        for turn in turns:
            pred = turn.intent
            ents = [f"{e.type}={e.text if keep else d['text']!s}@{e.start}:{e.end}({e.source})"
                    for e, d in zip(turn.entities, mask_entities(turn.entities))]
            request_logger.info("request %r -> %s (%.2f%s); entities: %s", turn.text if keep else mask_pii(turn.text),
                                pred.label, pred.confidence, "" if pred.in_scope else ", under threshold", ", ".join(ents) or "none")
