"""Fine-tune any Hugging Face encoder as a slot (entity) tagger, with an optional joint intent head.

    python -m training.finetune_slots --data atis --output-dir artifacts/slots-atis
    python -m training.finetune_slots --data bitext --output-dir artifacts/slots-bitext
    python -m training.finetune_slots --data my_spans.jsonl --base-model distilbert-base-uncased --output-dir artifacts/my-slots
    python -m training.finetune_slots --config configs/slots/atis.yaml --resume    # after an interruption

Token classification over words: each word's BIO tag is predicted from its
first word piece and the other pieces are ignored in the loss. When the data
has intents (ATIS, Bitext) an intent head on the mean-pooled encoder output is
trained jointly (``intent_loss_weight``; 0 turns it off). AdamW with linear
warm-up/decay, length-sorted batches, span F1 on the validation split after
every epoch, the best epoch kept (intent accuracy breaks ties), early stopping after ``patience`` epochs.
Test span precision/recall/F1 (exact span and type) per entity type and the
intent accuracy go to ``metrics.json`` and the model card. The folder is
written to a temporary folder and renamed; ``--resume`` continues from
``<output-dir>.checkpoint``.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.artifacts import atomic_dir, library_versions, write_json, write_model_card, write_resolved_config
from pipeline.batching import pad_batch
from pipeline.config import StageConfig
from pipeline.errors import ConfigError, DataError, check_param, cli_main
from pipeline.hub import check_max_length, load_pretrained, resolve_model
from pipeline.utils import progress_enabled, set_seed, set_torch_threads
from training.cli import run_training, training_parser
from evaluation.slot_eval import evaluate_slots
from training.loop import EpochInfo, FineTuneLoop, LoopSettings, check_loop_params
from training.slot_data import SlotData, SlotExample, load_slot_data

logger = logging.getLogger(__name__)


@dataclass
class SlotTrainingConfig(StageConfig):
    data: str = field(default="atis", metadata={"help": "Preset (atis, bitext), a BIO folder (seq.in/seq.out), or a span CSV/JSONL file."})
    validation_size: float = field(default=0.1, metadata={"help": "Fraction held out for validation when the data has no validation split."})
    test_size: float = field(default=0.1, metadata={"help": "Fraction held out for test when the data has no test split."})
    value_match: str | None = field(default=None, metadata={"help": "Span files: exact (entity_value must equal the span) or lenient; default: the preset's, else exact."})
    base_model: str = field(default="default", metadata={"help": "Encoder to fine-tune: Hub id, local folder, or 'default' (packaged all-MiniLM-L6-v2)."})
    output_dir: str = field(default="artifacts/slots", metadata={"help": "Model folder to write."})
    epochs: int = field(default=20, metadata={"help": "Maximum number of epochs."})
    lr: float = field(default=1e-4, metadata={"help": "Peak learning rate of AdamW."})
    batch_size: int = field(default=32, metadata={"help": "Training batch size (examples)."})
    eval_batch_size: int = field(default=128, metadata={"help": "Batch size for validation and test."})
    max_length: int = field(default=128, metadata={"help": "Maximum word pieces per example (words past it are tagged O)."})
    warmup_ratio: float = field(default=0.1, metadata={"help": "Fraction of steps with linear learning-rate warm-up."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    dropout: float = field(default=0.1, metadata={"help": "Dropout before the heads."})
    intent_loss_weight: float = field(default=1.0, metadata={"help": "Weight of the joint intent loss (0: no intent head)."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm."})
    patience: int = field(default=5, metadata={"help": "Early stopping: epochs without validation span-F1 improvement."})
    checkpoint_every: int = field(default=200, metadata={"help": "Save a resumable checkpoint every N optimizer steps (and at each epoch end)."})
    seed: int = field(default=42, metadata={"help": "Seed for data splits, batch order and initialisation."})
    num_threads: int | None = field(default=None, metadata={"help": "Torch CPU threads (default: all cores)."})

    def validate(self) -> None:
        check_loop_params("SlotTrainingConfig", self)
        owner = "SlotTrainingConfig"
        for name in ("epochs", "batch_size", "eval_batch_size", "checkpoint_every", "patience"):
            value = getattr(self, name)
            check_param(owner, name, value, value >= 1, "an int >= 1")
        check_param(owner, "max_length", self.max_length, self.max_length >= 8, "an int >= 8")
        check_param(owner, "lr", self.lr, 0 < self.lr < 1, "a float in (0, 1)")
        check_param(owner, "dropout", self.dropout, 0 <= self.dropout < 1, "a float in [0, 1)")
        check_param(owner, "warmup_ratio", self.warmup_ratio, 0 <= self.warmup_ratio < 1, "a float in [0, 1)")
        check_param(owner, "intent_loss_weight", self.intent_loss_weight, self.intent_loss_weight >= 0, "a float >= 0")
        check_param(owner, "value_match", self.value_match, self.value_match in (None, "exact", "lenient"), "exact, lenient or unset")


class SlotTrainer:
    """Runs one fine-tuning job described by a :class:`SlotTrainingConfig`."""

    def __init__(self, config: SlotTrainingConfig, *, progress: bool | None = None, resume: bool = False) -> None:
        self.config = config
        self.progress = progress_enabled(progress)
        self.resume = resume
        self.output_dir = Path(config.output_dir)
        self.checkpoint_dir = self.output_dir.with_name(self.output_dir.name + ".checkpoint")

    def _load(self, data: SlotData):
        from transformers import AutoModel, AutoTokenizer

        from pipeline.nlu.slot_model import SlotModel

        ref = resolve_model(self.config.base_model, what="base model")
        tokenizer = load_pretrained(AutoTokenizer.from_pretrained, ref, what="base model tokenizer")
        if not getattr(tokenizer, "is_fast", False):
            raise ConfigError(f"The tokenizer of {ref.name!r} is not a fast tokenizer; word alignment needs one. "
                              "Use a model folder with tokenizer.json.")
        encoder = load_pretrained(AutoModel.from_pretrained, ref, what="base model")
        check_max_length(encoder, self.config.max_length, ref.name)
        intents = data.intents if self.config.intent_loss_weight > 0 else []
        return ref, tokenizer, SlotModel(encoder, data.tags, intents, dropout=self.config.dropout)

    def _encode(self, tokenizer: Any, model: Any, examples: list[SlotExample]) -> tuple[list[list[int]], list[list[int]], list[int]]:
        from pipeline.nlu.slot_model import encode_words, piece_labels

        tag2id = {t: i for i, t in enumerate(model.tags)}
        intent2id = {t: i for i, t in enumerate(model.intents)}
        ids, firsts = encode_words(tokenizer, [ex.words for ex in examples], self.config.max_length)
        labels = [piece_labels(first, [tag2id.get(t, 0) for t in ex.tags], len(piece_ids))
                  for first, ex, piece_ids in zip(firsts, examples, ids)]
        intents = [intent2id.get(ex.intent or "", -100) for ex in examples]
        return ids, labels, intents

    def train(self) -> dict[str, Any]:
        import torch

        cfg = self.config
        job_started = time.perf_counter()
        set_seed(cfg.seed)
        set_torch_threads(cfg.num_threads)
        data = load_slot_data(cfg.data, validation_size=cfg.validation_size, test_size=cfg.test_size, seed=cfg.seed,
                              value_match=cfg.value_match)
        if not data.validation:
            raise DataError(f"The slot data {cfg.data!r} has an empty validation split; set --validation-size > 0.")
        ref, tokenizer, model = self._load(data)
        train_ids, train_labels, train_intents = self._encode(tokenizer, model, data.train)
        pad_id = tokenizer.pad_token_id or 0
        loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-100)
        loop = FineTuneLoop(model, LoopSettings.from_config(cfg), n_train=len(train_ids),
                            checkpoint_dir=self.checkpoint_dir, config=cfg.to_dict(), progress=self.progress, resume=self.resume)
        loop.resume_or_start()

        def batch_loss(idx: list[int]) -> Any:
            input_ids, mask = pad_batch([train_ids[i] for i in idx], pad_id)
            labels, _ = pad_batch([train_labels[i] for i in idx], -100)
            out = model(input_ids=input_ids, attention_mask=mask)
            loss = loss_fn(out.tag_logits.reshape(-1, out.tag_logits.shape[-1]), labels.reshape(-1))
            if out.intent_logits is not None:
                loss = loss + cfg.intent_loss_weight * loss_fn(out.intent_logits, torch.as_tensor([train_intents[i] for i in idx]))
            return loss

        def validate(info: EpochInfo) -> tuple[dict[str, Any], list[float]]:
            val = evaluate_slots(model, tokenizer, data.validation, cfg.eval_batch_size, cfg.max_length)
            logger.info("epoch %d: validation span F1 %.4f%s (loss %.4f, %.0f s)", info.epoch, val["f1"],
                        f", intent accuracy {val['intent_accuracy']:.4f}" if "intent_accuracy" in val else "",
                        info.train_loss, info.seconds)
            record = {k: val[k] for k in ("precision", "recall", "f1", "intent_accuracy") if k in val}
            return record, [val["f1"], val.get("intent_accuracy", 0.0)]  # span F1 first; intent accuracy breaks ties

        logger.info("Fine-tuning %s on %s: %d train / %d validation / %d test, %d tags, %d intents, %d steps",
                    ref.name, data.name, len(data.train), len(data.validation), len(data.test), len(data.tags),
                    len(model.intents), loop.total_steps)
        train_seconds = loop.fit([len(x) for x in train_ids], batch_loss, validate)
        state = loop.state
        metrics: dict[str, Any] = {
            "validation": evaluate_slots(model, tokenizer, data.validation, cfg.eval_batch_size, cfg.max_length),
        }
        if data.test:
            metrics["test"] = evaluate_slots(model, tokenizer, data.test, cfg.eval_batch_size, cfg.max_length)
            t = metrics["test"]
            logger.info("test span F1 %.4f (P %.4f R %.4f)%s", t["f1"], t["precision"], t["recall"],
                        f", intent accuracy {t['intent_accuracy']:.4f}" if "intent_accuracy" in t else "")
        metrics.update(train_seconds=round(train_seconds, 1), best_epoch=state["best_epoch"], epochs_run=state["epoch"],
                       history=state["history"], total_seconds=round(time.perf_counter() - job_started, 1))
        self._write(model, tokenizer, data, metrics, ref.name)
        shutil.rmtree(self.checkpoint_dir, ignore_errors=True)
        return metrics

    def _write(self, model: Any, tokenizer: Any, data: SlotData, metrics: dict[str, Any], base_name: str) -> None:
        cfg = self.config
        with atomic_dir(self.output_dir) as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            write_resolved_config(tmp, cfg.to_dict())
            write_json(tmp / "metrics.json", metrics)
            flat: dict[str, Any] = {}
            for split in ("validation", "test"):
                for k in ("precision", "recall", "f1", "intent_accuracy", "n"):
                    if k in metrics.get(split, {}):
                        flat[f"{split}_{k}"] = metrics[split][k]
            flat.update({k: metrics[k] for k in ("train_seconds", "total_seconds", "best_epoch")})
            per_type = metrics.get("test", {}).get("per_type", {})
            write_model_card(
                tmp,
                title=f"Slot tagger: {base_name} fine-tuned on {data.name}",
                summary=(f"Token classifier over {len(data.entity_types())} entity types (BIO, {len(model.tags)} tags)"
                         + (f" with a joint intent head over {len(model.intents)} intents" if model.intents else "")
                         + f", fine-tuned from `{base_name}` with `python -m training.finetune_slots`. Each word is tagged "
                         "from its first word piece; scores are span-level (exact span and type)."),
                data={"data": data.name, "train": len(data.train), "validation": len(data.validation), "test": len(data.test),
                      "entity_types": len(data.entity_types()), "intents": len(data.intents),
                      "description": data.meta.get("description", "")},
                metrics={**flat, **{f"test_f1_{k}": v["f1"] for k, v in per_type.items() if v["support"] >= 20}},
                config=cfg.to_dict(),
                usage=f"```python\nfrom pipeline.nlu.slots import SlotTagger\ntagger = SlotTagger('{cfg.output_dir}')\n"
                      "print(tagger.run(['cancel order 12345'])['entities'][0])\n```",
                notes=f"Library versions at training time: {library_versions()}.",
            )
        logger.info("Saved slot model to %s", self.output_dir)


def build_parser() -> argparse.ArgumentParser:
    return training_parser("python -m training.finetune_slots",
                           "Fine-tune a Hugging Face encoder (default: packaged all-MiniLM-L6-v2) as a slot/entity tagger.",
                           SlotTrainingConfig)


@cli_main
def main(argv: list[str] | None = None) -> int:
    args, out, metrics = run_training(build_parser(), argv, SlotTrainingConfig, SlotTrainer)
    if args.json:
        print(json.dumps(metrics, indent=2))
        return 0
    from evaluation.spans import format_span_report

    for split in ("validation", "test"):
        if split in metrics:
            m = metrics[split]
            extra = f"  intent accuracy {m['intent_accuracy']:.4f}" if "intent_accuracy" in m else ""
            print(f"{split}: span P {m['precision']:.4f}  R {m['recall']:.4f}  F1 {m['f1']:.4f}{extra}  (n={m['n']})")
    if "test" in metrics:
        print(format_span_report(metrics["test"]))
    print(f"time {metrics['total_seconds']:.0f} s (fine-tuning {metrics['train_seconds']:.0f} s)  -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
