"""Scores of a slot (entity) model on a slot data split: span P/R/F1 per type, intent accuracy, errors.

    python -m evaluation.nlu --slot-model artifacts/slots-atis --slot-data atis --output-dir runs/slots-atis
    python -m evaluation.nlu --model artifacts/intent-bitext --data bitext \\
        --slot-model artifacts/slots-bitext --output-dir runs/nlu-bitext      # intents and entities together

Spans are scored exactly (type, first and last word must all match; :mod:`evaluation.spans`).
The errors list (messages whose predicted spans differ from the gold ones) masks emails,
phone and card numbers unless ``keep_pii`` (:mod:`pipeline.privacy`).
"""
from __future__ import annotations

import logging
import time
from typing import Any, Sequence

import numpy as np

logger = logging.getLogger(__name__)


def evaluate_slots(model: Any, tokenizer: Any, examples: Sequence[Any], batch_size: int, max_length: int,
                   return_predictions: bool = False) -> dict[str, Any]:
    """Span P/R/F1 (exact span and type), per type, and intent accuracy when the model has an intent head."""
    from evaluation.spans import span_scores
    from pipeline.nlu.slots import predict_words

    model.eval()
    probs, intent_logits = predict_words(model, tokenizer, [ex.words for ex in examples], batch_size, max_length)
    pred_tags = [[model.tags[t] for t in p.argmax(axis=1)] for p in probs]
    scores = span_scores([ex.tags for ex in examples], pred_tags)
    scores["n"] = len(examples)
    scores["sentence_accuracy"] = float(np.mean([p == ex.tags for p, ex in zip(pred_tags, examples)])) if examples else 0.0
    pred_intents = None
    if intent_logits is not None and model.intents:
        pred_intents = [model.intents[i] for i in intent_logits.argmax(axis=1)]
        scores["intent_accuracy"] = float(np.mean([p == ex.intent for p, ex in zip(pred_intents, examples)]))
        scores["joint_accuracy"] = float(np.mean([p == ex.intent and t == ex.tags
                                                  for p, t, ex in zip(pred_intents, pred_tags, examples)]))
    if return_predictions:
        scores["_predictions"] = (pred_tags, pred_intents)
    return scores


def slot_errors(examples: Sequence[Any], pred_tags: Sequence[Sequence[str]], keep_pii: bool = False) -> list[dict[str, Any]]:
    """Examples whose predicted spans differ from the gold ones, with both span lists as (type, text)."""
    from evaluation.spans import bio_spans
    from pipeline.privacy import mask_pii

    out = []
    for ex, tags in zip(examples, pred_tags):
        gold, pred = bio_spans(ex.tags), bio_spans(list(tags))
        if set(gold) == set(pred):
            continue
        show = (lambda t: t) if keep_pii else mask_pii  # noqa: E731
        words = lambda spans: [[k, show(" ".join(ex.words[s:e]))] for k, s, e in spans]  # noqa: E731
        out.append({"message": show(ex.text), "gold": words(gold), "pred": words(pred),
                    "missed": words(sorted(set(gold) - set(pred))), "spurious": words(sorted(set(pred) - set(gold)))})
    return out


def evaluate_slot_model(model_dir: str, data: str | None, split: str = "test", *, batch_size: int = 64,
                        limit: int | None = None, seed: int | None = None, keep_pii: bool = False) -> tuple[dict, list]:
    """Load ``model_dir`` (SlotTagger) and score it on ``split`` of ``data`` (default: the data it was trained on)."""
    from pipeline.artifacts import training_config
    from pipeline.errors import ConfigError
    from pipeline.nlu.slots import SlotTagger
    from training.slot_data import load_slot_data

    trained = training_config(model_dir)
    data = data or trained.get("data")
    if not data:
        raise ConfigError("No slot data to evaluate on: pass --slot-data (atis, bitext or a path); the model folder "
                          "does not name the data it was trained on.")
    seed = trained.get("seed", 42) if seed is None else seed
    start = time.perf_counter()
    tagger = SlotTagger(model_dir, batch_size=batch_size)
    tagger.warm_up()
    loaded = load_slot_data(data, seed=seed, validation_size=trained.get("validation_size", 0.1),
                            test_size=trained.get("test_size", 0.1), value_match=trained.get("value_match"))
    examples = list(getattr(loaded, split))
    if limit is not None and limit < len(examples):
        keep = np.sort(np.random.default_rng(seed).permutation(len(examples))[:limit])
        examples = [examples[i] for i in keep]
    if not examples:
        raise ConfigError(f"The {split} split of the slot data {data!r} is empty. Choose another --split.")
    load_ms = (time.perf_counter() - start) * 1000.0
    start = time.perf_counter()
    scores = evaluate_slots(tagger.model, tagger.tokenizer, examples, batch_size, trained.get("max_length", 128),
                            return_predictions=True)
    predict_ms = (time.perf_counter() - start) * 1000.0
    pred_tags, _ = scores.pop("_predictions")
    unseen = sorted({t for ex in examples for t in ex.tags} - set(tagger.model.tags))
    scores.update(slot_model=str(model_dir), slot_data=data, split=split, seed=seed, unseen_gold_tags=unseen,
                  timings={"load_ms": round(load_ms, 1), "predict_ms": round(predict_ms, 1),
                           "messages_per_s": round(len(examples) / max(predict_ms / 1000.0, 1e-9), 1)})
    return scores, slot_errors(examples, pred_tags, keep_pii)
