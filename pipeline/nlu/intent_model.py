"""The intent model: any Hugging Face encoder, a pooling step and a linear head.

Saved as a folder that stays a normal Hugging Face encoder folder
(``config.json`` with ``id2label``/``label2id``, ``model.safetensors``,
tokenizer files: ``AutoModel.from_pretrained(folder)`` loads the fine-tuned
encoder) plus the head: ``intent_head.json`` (pooling, labels) and
``intent_head.safetensors`` (weight, bias).

Why not ``AutoModelForSequenceClassification``? Sentence encoders such as
all-MiniLM-L6-v2 were trained with *mean* pooling; their CLS pooler is
untrained, and a classifier on it starts far behind a linear probe on the mean
embedding. Mean pooling + a head initialised from a linear probe ("LP-FT")
starts where the probe ends. ``pooling: cls`` is available for encoders
trained with CLS pooling. Folders written by ``AutoModelForSequenceClassification``
(e.g. a fine-tuned checkpoint from the Hub) load too: see :func:`load_intent_model`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from pipeline.batching import mean_pool
from pipeline.errors import ModelLoadError, check_param, first_line

HEAD_CONFIG = "intent_head.json"
HEAD_WEIGHTS = "intent_head.safetensors"
POOLINGS = ("mean", "cls")


class IntentModel(torch.nn.Module):
    """``logits = head(dropout(normalize?(pool(encoder(x)))))``."""

    def __init__(self, encoder: Any, num_labels: int, *, pooling: str = "mean", normalize: bool = True, dropout: float = 0.1) -> None:
        super().__init__()
        check_param("IntentModel", "pooling", pooling, pooling in POOLINGS, "one of 'mean', 'cls'")
        self.encoder = encoder
        self.pooling = pooling
        self.normalize = normalize
        self.dropout = torch.nn.Dropout(dropout)
        self.classifier = torch.nn.Linear(encoder.config.hidden_size, num_labels)
        self.config = encoder.config  # id2label / label2id / num_labels live here

    def embed(self, input_ids: Any, attention_mask: Any) -> Any:
        """Pooled (and, by default, L2-normalised) sentence embedding."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        pooled = hidden[:, 0] if self.pooling == "cls" else mean_pool(hidden, attention_mask)
        return torch.nn.functional.normalize(pooled, dim=-1) if self.normalize else pooled

    def forward(self, input_ids: Any, attention_mask: Any) -> Any:
        from types import SimpleNamespace

        return SimpleNamespace(logits=self.classifier(self.dropout(self.embed(input_ids, attention_mask))))

    def save_pretrained(self, folder: str | Path) -> None:
        from safetensors.torch import save_file

        folder = Path(folder)
        self.encoder.save_pretrained(folder)
        save_file({"weight": self.classifier.weight.detach().contiguous(), "bias": self.classifier.bias.detach().contiguous()},
                  str(folder / HEAD_WEIGHTS))
        head = {"pooling": self.pooling, "normalize": self.normalize, "num_labels": self.classifier.out_features,
                "id2label": {str(k): v for k, v in self.config.id2label.items()}}
        (folder / HEAD_CONFIG).write_text(json.dumps(head, indent=2) + "\n", encoding="utf-8")


def build_intent_model(encoder: Any, labels: list[str], *, pooling: str = "mean", normalize: bool = True, dropout: float = 0.1) -> IntentModel:
    """Wrap a loaded ``AutoModel`` encoder with a fresh head for ``labels``."""
    encoder.config.id2label = dict(enumerate(labels))
    encoder.config.label2id = {lbl: i for i, lbl in enumerate(labels)}
    encoder.config.num_labels = len(labels)
    return IntentModel(encoder, len(labels), pooling=pooling, normalize=normalize, dropout=dropout)


def load_intent_model(ref: Any, loader: Any) -> Any:
    """Load an intent model folder or Hub id; ``loader`` is :func:`pipeline.hub.load_pretrained`.

    A folder with ``intent_head.json`` -> :class:`IntentModel`; anything else is
    read as an ``AutoModelForSequenceClassification`` checkpoint.
    """
    from transformers import AutoModel, AutoModelForSequenceClassification

    head_config = Path(ref.source) / HEAD_CONFIG
    if not (ref.local and head_config.is_file()):
        return loader(AutoModelForSequenceClassification.from_pretrained, ref, what="intent model")
    try:
        from safetensors.torch import load_file

        head = json.loads(head_config.read_text(encoding="utf-8"))
        weights = load_file(str(Path(ref.source) / HEAD_WEIGHTS))
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(
            f"The intent head in {ref.source!r} is missing or corrupt ({type(exc).__name__}: {first_line(exc)}). "
            "Retrain the model with 'python -m training.finetune_intent'."
        ) from None
    encoder = loader(AutoModel.from_pretrained, ref, what="intent model encoder")
    model = IntentModel(encoder, int(head["num_labels"]), pooling=head.get("pooling", "mean"), normalize=bool(head.get("normalize", True)))
    model.classifier.load_state_dict(weights)
    return model
