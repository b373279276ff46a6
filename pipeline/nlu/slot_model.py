"""The slot (entity) model: any Hugging Face encoder, a token-tagging head and an optional intent head.

Saved, like the intent model, as a normal Hugging Face encoder folder plus the heads:
``slot_head.json`` (tags, intents, settings) and ``slot_head.safetensors``. Folders
written by ``AutoModelForTokenClassification`` (e.g. a NER checkpoint) load too
(their ``id2label`` are the tags; no intent head).

Words are tagged, not word pieces: each word's tag is predicted from its first
piece, and in training the other pieces are ignored in the loss (label -100)::

    ids, first = encode_words(tokenizer, [["show", "flights", "to", "boston"]], max_length=64)
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Sequence

import torch

from pipeline.batching import mean_pool, tokenize
from pipeline.errors import ModelLoadError, first_line

HEAD_CONFIG = "slot_head.json"
HEAD_WEIGHTS = "slot_head.safetensors"
IGNORE = -100


class SlotModel(torch.nn.Module):
    """``tag_logits = tagger(dropout(encoder(x)))`` per piece; ``intent_logits = intent(dropout(mean_pool(...)))``."""

    def __init__(self, encoder: Any, tags: Sequence[str], intents: Sequence[str] = (), *, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.tags = list(tags)
        self.intents = list(intents)
        self.dropout_p = dropout
        self.dropout = torch.nn.Dropout(dropout)
        hidden = encoder.config.hidden_size
        self.tagger = torch.nn.Linear(hidden, len(self.tags))
        self.intent = torch.nn.Linear(hidden, len(self.intents)) if self.intents else None

    def forward(self, input_ids: Any, attention_mask: Any) -> SimpleNamespace:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        tag_logits = self.tagger(self.dropout(hidden))
        intent_logits = self.intent(self.dropout(mean_pool(hidden, attention_mask))) if self.intent is not None else None
        return SimpleNamespace(tag_logits=tag_logits, intent_logits=intent_logits)

    def save_pretrained(self, folder: str | Path) -> None:
        from safetensors.torch import save_file

        folder = Path(folder)
        self.encoder.config.id2label = dict(enumerate(self.tags))
        self.encoder.config.label2id = {t: i for i, t in enumerate(self.tags)}
        self.encoder.save_pretrained(folder)
        weights = {"tagger.weight": self.tagger.weight, "tagger.bias": self.tagger.bias}
        if self.intent is not None:
            weights.update({"intent.weight": self.intent.weight, "intent.bias": self.intent.bias})
        save_file({k: v.detach().contiguous() for k, v in weights.items()}, str(folder / HEAD_WEIGHTS))
        head = {"tags": self.tags, "intents": self.intents, "dropout": self.dropout_p}
        (folder / HEAD_CONFIG).write_text(json.dumps(head, indent=2) + "\n", encoding="utf-8")


class _TokenClassifierAdapter(torch.nn.Module):
    """An ``AutoModelForTokenClassification`` behind the :class:`SlotModel` interface (tags only)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model
        self.tags = [model.config.id2label[i] for i in range(model.config.num_labels)]
        self.intents: list[str] = []

    def forward(self, input_ids: Any, attention_mask: Any) -> SimpleNamespace:
        return SimpleNamespace(tag_logits=self.model(input_ids=input_ids, attention_mask=attention_mask).logits,
                               intent_logits=None)


def load_slot_model(ref: Any, loader: Any) -> torch.nn.Module:
    """A folder with ``slot_head.json`` -> :class:`SlotModel`; otherwise a token-classification model."""
    from transformers import AutoModel, AutoModelForTokenClassification

    folder = Path(ref.source)
    if ref.local and (folder / HEAD_CONFIG).is_file():
        from safetensors.torch import load_file

        try:
            head = json.loads((folder / HEAD_CONFIG).read_text(encoding="utf-8"))
            encoder = loader(AutoModel.from_pretrained, ref, what="slot model")
            model = SlotModel(encoder, head["tags"], head.get("intents") or [], dropout=head.get("dropout", 0.1))
            missing, unexpected = model.load_state_dict(load_file(str(folder / HEAD_WEIGHTS)), strict=False)
        except ModelLoadError:
            raise
        except Exception as exc:  # noqa: BLE001 - safetensors, json, torch: any failure means a bad folder
            raise ModelLoadError(f"The slot model folder {str(folder)!r} is incomplete or corrupt ({first_line(exc)}). "
                                 "Retrain it with python -m training.finetune_slots.") from None
        heads = [k for k in missing if not k.startswith("encoder.")]
        if heads or unexpected:
            raise ModelLoadError(f"The slot head in {str(folder)!r} does not match slot_head.json (missing {heads}, "
                                 f"unexpected {unexpected}). Retrain it with python -m training.finetune_slots.")
        return model.eval()
    model = loader(AutoModelForTokenClassification.from_pretrained, ref, what="slot model")
    return _TokenClassifierAdapter(model).eval()


def encode_words(tokenizer: Any, batch_words: Sequence[Sequence[str]], max_length: int) -> tuple[list[list[int]], list[list[int]]]:
    """Piece ids per example and, per word, the index of its first piece (-1: cut by ``max_length``)."""
    enc = tokenize(tokenizer, [list(w) for w in batch_words], is_split_into_words=True, truncation=True, max_length=max_length)
    ids, firsts = [], []
    for i, words in enumerate(batch_words):
        word_ids = enc.word_ids(i)
        first = [-1] * len(words)
        for pos, w in enumerate(word_ids):
            if w is not None and first[w] < 0:
                first[w] = pos
        ids.append(enc["input_ids"][i])
        firsts.append(first)
    return ids, firsts


def piece_labels(first: Sequence[int], tag_ids: Sequence[int], n_pieces: int) -> list[int]:
    """Loss labels per piece: the word's tag on its first piece, -100 elsewhere."""
    labels = [IGNORE] * n_pieces
    for pos, tag in zip(first, tag_ids):
        if pos >= 0:
            labels[pos] = tag
    return labels
