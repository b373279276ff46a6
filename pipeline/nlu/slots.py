"""The learned entity extractor: a fine-tuned slot model turned into character-span entities.

    tagger = SlotTagger("artifacts/slots-bitext")
    tagger.run(["cancel order 3707955617 for Anna Freeman"])["entities"][0]
    # [Entity(type='order_number', text='3707955617', start=13, end=23, confidence=0.99, source='model'), ...]

Messages are split into words with :func:`pipeline.nlu.words.tokenize_words`
(the split the model was trained on), each word is tagged from its first
piece, BIO chunks become character spans, and an entity's confidence is the
mean probability of its words' tags. :func:`merge_entities` combines these
with the pattern extractor (:mod:`pipeline.nlu.entities`).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pipeline.batching import length_sorted_batches, pad_batch
from pipeline.errors import check_param
from pipeline.nlu.words import bio_spans, tokenize_words
from pipeline.types import Entity

logger = logging.getLogger(__name__)


def predict_words(model: Any, tokenizer: Any, batch_words: Sequence[Sequence[str]], batch_size: int = 64,
                  max_length: int = 128) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Per example, word-level tag probabilities ``[n_words, n_tags]``; plus intent logits ``[n, n_intents]`` or None.

    Words cut off by ``max_length`` get probability 1 for tag 0 (``O``).
    """
    import torch

    from pipeline.nlu.slot_model import encode_words

    n_tags = len(model.tags)
    out: list[np.ndarray] = [np.zeros((0, n_tags), dtype=np.float32)] * len(batch_words)
    intent_rows: list[np.ndarray] = []
    pad_id = tokenizer.pad_token_id or 0
    with torch.inference_mode():
        for idx in length_sorted_batches([len(w) for w in batch_words], batch_size, shuffle=False):
            idx = [int(i) for i in idx]
            ids, firsts = encode_words(tokenizer, [batch_words[i] or ["."] for i in idx], max_length)
            input_ids, mask = pad_batch(ids, pad_id)
            result = model(input_ids=input_ids, attention_mask=mask)
            probs = torch.softmax(result.tag_logits.float(), dim=-1).numpy()
            for row, i in enumerate(idx):
                words = batch_words[i]
                p = np.zeros((len(words), n_tags), dtype=np.float32)
                p[:, 0] = 1.0
                for w, pos in enumerate(firsts[row][:len(words)]):
                    if pos >= 0:
                        p[w] = probs[row, pos]
                out[i] = p
            if result.intent_logits is not None:
                intent_rows.append((idx, result.intent_logits.float().numpy()))
    if not intent_rows:
        return out, None
    intents = np.zeros((len(batch_words), intent_rows[0][1].shape[1]), dtype=np.float32)
    for idx, logits in intent_rows:
        intents[idx] = logits
    return out, intents


def probs_to_entities(text: str, offsets: Sequence[tuple[int, int]], probs: np.ndarray, tags: Sequence[str],
                      min_confidence: float = 0.0) -> list[Entity]:
    """Argmax tags -> BIO chunks -> character-span entities with mean tag probability as confidence."""
    if len(offsets) == 0:
        return []
    best = probs.argmax(axis=1)
    word_tags = [tags[t] for t in best]
    entities = []
    for kind, s, e in bio_spans(word_tags):
        start, end = offsets[s][0], offsets[e - 1][1]
        confidence = float(np.clip(probs[np.arange(s, e), best[s:e]].mean(), 0.0, 1.0))
        if confidence >= min_confidence:
            entities.append(Entity(type=kind, text=text[start:end], start=start, end=end, confidence=confidence, source="model"))
    return entities


def merge_entities(pattern: Sequence[Entity], learned: Sequence[Entity]) -> list[Entity]:
    """Pattern entities win on overlap (exact formats: order/invoice numbers, emails, phones, amounts, dates).

    A learned entity is kept only where it overlaps no pattern entity; the result is sorted by position.
    """
    merged = list(pattern)
    for ent in learned:
        if not any(ent.start < p.end and p.start < ent.end for p in pattern):
            merged.append(ent)
    return sorted(merged, key=lambda e: (e.start, e.end))


class SlotTagger:
    """Component: ``run(messages) -> {"entities": list[list[Entity]]}`` from a fine-tuned slot model folder."""

    name = "model"

    def __init__(self, model: str | Path, *, batch_size: int = 64, max_length: int = 128, min_confidence: float = 0.5) -> None:
        check_param("SlotTagger", "batch_size", batch_size, batch_size >= 1, "an int >= 1")
        check_param("SlotTagger", "min_confidence", min_confidence, 0.0 <= min_confidence <= 1.0, "a float in [0, 1]")
        self.model_ref = str(model)
        self.batch_size = batch_size
        self.max_length = max_length
        self.min_confidence = min_confidence
        self.model: Any = None
        self.tokenizer: Any = None

    def warm_up(self) -> None:
        if self.model is not None:
            return
        from transformers import AutoTokenizer

        from pipeline.hub import load_pretrained, resolve_model
        from pipeline.nlu.slot_model import load_slot_model

        hint = "Train one with: python -m training.finetune_slots --data bitext --output-dir artifacts/slots-bitext"
        ref = resolve_model(self.model_ref, what="slot model")
        self.tokenizer = load_pretrained(AutoTokenizer.from_pretrained, ref, what="slot model tokenizer", hint=hint)
        self.model = load_slot_model(ref, load_pretrained)
        logger.info("Loaded slot model %s (%d tags)", ref.name, len(self.model.tags))

    @property
    def tags(self) -> list[str]:
        self.warm_up()
        return list(self.model.tags)

    def run(self, messages: Sequence[str]) -> dict[str, list[list[Entity]]]:
        self.warm_up()
        split = [tokenize_words(m) for m in messages]
        probs, _ = predict_words(self.model, self.tokenizer, [[w for w, _, _ in ws] for ws in split],
                                 self.batch_size, self.max_length)
        return {"entities": [
            probs_to_entities(m, [(s, e) for _, s, e in ws], p, self.model.tags, self.min_confidence)
            for m, ws, p in zip(messages, split, probs)
        ]}
