"""Fine-tune any Hugging Face encoder as an intent classifier.

    python -m training.finetune_intent --data bitext --output-dir artifacts/intent-bitext
    python -m training.finetune_intent --data banking77 --output-dir artifacts/intent-banking77 --epochs 6
    python -m training.finetune_intent --data my_intents.csv --text-column utterance --label-column intent \\
        --base-model distilbert-base-uncased --output-dir artifacts/my-intents
    python -m training.finetune_intent --config configs/intent/banking77.yaml --resume   # after an interruption

Recipe: AdamW with linear warm-up/decay, dynamic padding over length-sorted
batches, evaluation on the validation split after every epoch, the best epoch
by validation macro-F1 kept, early stopping after ``patience`` epochs without
improvement. Then a temperature is fitted on the validation logits (confidence
calibration, ECE reported before and after) and the out-of-scope threshold is
chosen there. The model folder is written to a temporary folder and renamed.
A checkpoint folder ``<output-dir>.checkpoint`` is saved every
``checkpoint_every`` steps and at each epoch end; ``--resume`` continues from
it (dropout noise after a resume differs from an uninterrupted run). The epoch loop,
optimizer and checkpoints are :mod:`training.loop`, shared with the slot and generator trainers.
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

import numpy as np

from pipeline.artifacts import atomic_dir, library_versions, write_json, write_model_card, write_resolved_config
from pipeline.batching import pad_batch
from pipeline.config import StageConfig
from pipeline.errors import DataError, check_param, cli_main
from pipeline.hub import check_max_length, load_pretrained, resolve_model
from pipeline.nlu.intent_model import build_intent_model
from pipeline.nlu.classifier import CALIBRATION_FILE, batched_logits, embed_and_logits, embed_texts, softmax
from pipeline.nlu.oos import save_index
from pipeline.utils import progress_enabled, set_seed, set_torch_threads
from training.calibration import calibrate
from training.cli import run_training, training_parser
from training.data import IntentData, load_intent_data
from training.loop import EpochInfo, FineTuneLoop, LoopSettings, check_loop_params

logger = logging.getLogger(__name__)


@dataclass
class IntentTrainingConfig(StageConfig):
    data: str = field(default="bitext", metadata={"help": "Preset (bitext, banking77, atis), a CSV/JSON/JSONL file, a saved datasets folder or a Hub dataset name."})
    text_column: str | None = field(default=None, metadata={"help": "Column holding the message (auto-detected when unset)."})
    label_column: str | None = field(default=None, metadata={"help": "Column holding the intent label (auto-detected when unset)."})
    validation_size: float = field(default=0.1, metadata={"help": "Fraction held out for validation when the data has no validation split."})
    test_size: float = field(default=0.1, metadata={"help": "Fraction held out for test when the data has no test split."})
    max_per_label: int | None = field(default=None, metadata={"help": "Keep at most this many training examples per intent (fast bootstrap recipe)."})
    extra_train: str | None = field(default=None, metadata={"help": "Extra examples for the training split only (YAML examples: [{intent, messages}] or an intent file), e.g. knowledge_base/intent_examples.yaml."})
    extra_train_repeat: int = field(default=1, metadata={"help": "Repeat the extra_train examples N times (up-weights a small in-domain set)."})
    base_model: str = field(default="default", metadata={"help": "Encoder to fine-tune: Hub id (distilbert-base-uncased), local folder, or 'default' (packaged all-MiniLM-L6-v2)."})
    pooling: str = field(default="mean", metadata={"help": "Sentence representation fed to the head: mean (of token vectors, as sentence encoders are trained) or cls."})
    head_init: str = field(default="probe", metadata={"help": "Head initialisation: probe (logistic regression on the frozen encoder's embeddings, then fine-tune all: LP-FT) or random."})
    probe_c: float = field(default=10.0, metadata={"help": "Inverse L2 strength of the linear probe (head_init: probe)."})
    dropout: float = field(default=0.1, metadata={"help": "Dropout on the pooled embedding before the head."})
    output_dir: str = field(default="artifacts/intent", metadata={"help": "Model folder to write."})
    epochs: int = field(default=5, metadata={"help": "Maximum number of epochs."})
    lr: float = field(default=1e-4, metadata={"help": "Peak learning rate of AdamW."})
    batch_size: int = field(default=32, metadata={"help": "Training batch size."})
    eval_batch_size: int = field(default=128, metadata={"help": "Batch size for validation and test."})
    max_length: int = field(default=64, metadata={"help": "Maximum tokens per message (longer ones are truncated)."})
    warmup_ratio: float = field(default=0.06, metadata={"help": "Fraction of steps with linear learning-rate warm-up."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    label_smoothing: float = field(default=0.0, metadata={"help": "Label smoothing of the cross-entropy loss."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm."})
    patience: int = field(default=2, metadata={"help": "Early stopping: epochs without validation macro-F1 improvement."})
    checkpoint_every: int = field(default=200, metadata={"help": "Save a resumable checkpoint every N optimizer steps (and at each epoch end)."})
    oos_rejection: float = field(default=0.9, metadata={"help": "Out-of-scope threshold: the confidence that rejects this fraction of simulated out-of-scope validation messages (each scored as if its intent did not exist)."})
    oos_k: int = field(default=1, metadata={"help": "Nearest-neighbour out-of-scope score: mean cosine of the k nearest training messages."})
    oos_keep: float = field(default=0.95, metadata={"help": "Nearest-neighbour out-of-scope threshold: keep this fraction of known messages (held-out-intents estimate)."})
    seed: int = field(default=42, metadata={"help": "Seed for data splits, batch order and initialisation."})
    num_threads: int | None = field(default=None, metadata={"help": "Torch CPU threads (default: all cores)."})
    export: bool = field(default=True, metadata={"help": "Also write onnx/ (python -m pipeline.export: fp32 and int8, parity-checked) when onnx and onnxruntime are installed."})

    def validate(self) -> None:
        check_loop_params("IntentTrainingConfig", self)
        owner = "IntentTrainingConfig"
        for name in ("epochs", "batch_size", "eval_batch_size", "checkpoint_every"):
            value = getattr(self, name)
            check_param(owner, name, value, value >= 1, "an int >= 1")
        check_param(owner, "pooling", self.pooling, self.pooling in ("mean", "cls"), "one of 'mean', 'cls'")
        check_param(owner, "head_init", self.head_init, self.head_init in ("probe", "random"), "one of 'probe', 'random'")
        check_param(owner, "probe_c", self.probe_c, self.probe_c > 0, "a float > 0")
        check_param(owner, "dropout", self.dropout, 0 <= self.dropout < 1, "a float in [0, 1)")
        check_param(owner, "max_length", self.max_length, self.max_length >= 8, "an int >= 8")
        check_param(owner, "lr", self.lr, 0 < self.lr < 1, "a float in (0, 1)")
        check_param(owner, "patience", self.patience, self.patience >= 1, "an int >= 1")
        check_param(owner, "oos_rejection", self.oos_rejection, 0 <= self.oos_rejection < 1, "a float in [0, 1)")
        check_param(owner, "oos_k", self.oos_k, self.oos_k >= 1, "an int >= 1")
        check_param(owner, "oos_keep", self.oos_keep, 0 < self.oos_keep <= 1, "a float in (0, 1]")
        check_param(owner, "warmup_ratio", self.warmup_ratio, 0 <= self.warmup_ratio < 1, "a float in [0, 1)")
        check_param(owner, "label_smoothing", self.label_smoothing, 0 <= self.label_smoothing < 1, "a float in [0, 1)")
        check_param(owner, "extra_train_repeat", self.extra_train_repeat, self.extra_train_repeat >= 1, "an int >= 1")
        if self.max_per_label is not None:
            check_param(owner, "max_per_label", self.max_per_label, self.max_per_label >= 2, "an int >= 2 or unset")


def _label_ids(labels: list[str], label2id: dict[str, int]) -> np.ndarray:
    """Map labels to ids; labels the model never saw get -1 (always counted wrong)."""
    return np.array([label2id.get(lbl, -1) for lbl in labels], dtype=np.int64)


def _scores(logits: np.ndarray, gold: np.ndarray, temperature: float = 1.0) -> dict[str, float]:
    from evaluation.metrics import expected_calibration_error, macro_f1

    probs = softmax(logits, temperature)
    pred = probs.argmax(-1)
    return {
        "accuracy": float((pred == gold).mean()),
        "macro_f1": float(macro_f1(gold.tolist(), pred.tolist())),
        "ece": float(expected_calibration_error(probs.max(-1), pred == gold)),
        "n": int(len(gold)),
    }


def warn_about_knowledge_base(labels: list[str], output_dir: str) -> None:
    """Labels the packaged demo store has no snippet for: say how to check the knowledge base meant for them."""
    from knowledge_base.intents import INTENTS

    unknown = [lbl for lbl in labels if lbl not in INTENTS]
    if not unknown:
        return
    some = ", ".join(map(repr, unknown[:5])) + (" ..." if len(unknown) > 5 else "")
    if len(unknown) == len(labels):
        logger.warning("None of the %d labels (%s) is an intent of the packaged demo knowledge base: answer with your "
                       "own (--kb DIR, format in knowledge_base/README.md) and check it with python -m "
                       "knowledge_base.loader DIR --model %s.", len(labels), some, output_dir)
    else:
        logger.warning("%d label(s) have no snippet in the packaged demo knowledge base (%s): their messages will get "
                       "a reply that points to a person. Add snippets for them, or check your own knowledge base with "
                       "python -m knowledge_base.loader DIR --model %s.", len(unknown), some, output_dir)


class IntentTrainer:
    """Runs one fine-tuning job described by an :class:`IntentTrainingConfig`."""

    def __init__(self, config: IntentTrainingConfig, *, progress: bool | None = None, resume: bool = False) -> None:
        self.config = config
        self.progress = progress_enabled(progress)
        self.resume = resume
        self.output_dir = Path(config.output_dir)
        self.checkpoint_dir = self.output_dir.with_name(self.output_dir.name + ".checkpoint")

    def _load(self, data: IntentData):
        from transformers import AutoModel, AutoTokenizer

        ref = resolve_model(self.config.base_model, what="base model")
        tokenizer = load_pretrained(AutoTokenizer.from_pretrained, ref, what="base model tokenizer")
        encoder = load_pretrained(AutoModel.from_pretrained, ref, what="base model")
        check_max_length(encoder, self.config.max_length, ref.name)
        model = build_intent_model(encoder, data.labels, pooling=self.config.pooling, dropout=self.config.dropout)
        return ref, tokenizer, model

    def _probe_init(self, model: Any, tokenizer: Any, data: IntentData, train_y: np.ndarray) -> dict[str, float]:
        """LP-FT: fit a logistic regression on frozen embeddings and start the head from it."""
        import torch
        from sklearn.linear_model import LogisticRegression

        cfg = self.config
        model.eval()
        started = time.perf_counter()
        train_x = embed_texts(model, tokenizer, data.train.texts, cfg.eval_batch_size, cfg.max_length)
        probe = LogisticRegression(C=cfg.probe_c, max_iter=2000).fit(train_x, train_y)
        weight = np.zeros((len(data.labels), train_x.shape[1]), dtype=np.float32)
        bias = np.full(len(data.labels), -10.0, dtype=np.float32)  # labels absent from train stay unlikely
        if len(probe.classes_) == 2:  # binary sklearn model: one row for class 1
            coef = np.vstack([-probe.coef_[0] / 2, probe.coef_[0] / 2])
            icpt = np.array([-probe.intercept_[0] / 2, probe.intercept_[0] / 2])
        else:
            coef, icpt = probe.coef_, probe.intercept_
        weight[probe.classes_] = coef
        bias[probe.classes_] = icpt
        with torch.no_grad():
            model.classifier.weight.copy_(torch.from_numpy(weight))
            model.classifier.bias.copy_(torch.from_numpy(bias))
        val_x = embed_texts(model, tokenizer, data.validation.texts, cfg.eval_batch_size, cfg.max_length)
        val_gold = _label_ids(data.validation.labels, {lbl: i for i, lbl in enumerate(data.labels)})
        acc = float(((val_x @ weight.T + bias).argmax(-1) == val_gold).mean())
        logger.info("Linear probe on frozen embeddings: validation accuracy %.4f (%.0f s)", acc, time.perf_counter() - started)
        return {"probe_validation_accuracy": acc, "probe_seconds": round(time.perf_counter() - started, 1)}

    def train(self) -> dict[str, Any]:
        import torch

        cfg = self.config
        job_started = time.perf_counter()
        set_seed(cfg.seed)
        set_torch_threads(cfg.num_threads)
        data = load_intent_data(
            cfg.data, text_column=cfg.text_column, label_column=cfg.label_column, validation_size=cfg.validation_size,
            test_size=cfg.test_size, seed=cfg.seed, max_per_label=cfg.max_per_label,
            extra_train=cfg.extra_train, extra_train_repeat=cfg.extra_train_repeat,
        )
        if len(data.validation) == 0:
            raise DataError(f"The data set {cfg.data!r} has an empty validation split; set --validation-size > 0 or provide a validation file.")
        ref, tokenizer, model = self._load(data)
        label2id = {lbl: i for i, lbl in enumerate(data.labels)}
        warn_about_knowledge_base(data.labels, cfg.output_dir)
        train_ids = tokenizer(data.train.texts, truncation=True, max_length=cfg.max_length)["input_ids"]
        train_y = torch.as_tensor(_label_ids(data.train.labels, label2id))
        val_gold = _label_ids(data.validation.labels, label2id)
        pad_id = tokenizer.pad_token_id or 0
        loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        loop = FineTuneLoop(model, LoopSettings.from_config(cfg), n_train=len(train_ids),
                            checkpoint_dir=self.checkpoint_dir, config=cfg.to_dict(), progress=self.progress, resume=self.resume)
        if not loop.resume_or_start() and cfg.head_init == "probe":
            loop.state["probe"] = self._probe_init(model, tokenizer, data, train_y.numpy())

        def batch_loss(idx: list[int]) -> Any:
            input_ids, mask = pad_batch([train_ids[i] for i in idx], pad_id)
            return loss_fn(model(input_ids=input_ids, attention_mask=mask).logits, train_y[idx])

        def validate(info: EpochInfo) -> tuple[dict[str, Any], float]:
            val = _scores(batched_logits(model, tokenizer, data.validation.texts, cfg.eval_batch_size, cfg.max_length), val_gold)
            logger.info("epoch %d: validation accuracy %.4f macro-F1 %.4f (loss %.4f, %.0f s)",
                        info.epoch, val["accuracy"], val["macro_f1"], info.train_loss, info.seconds)
            return val, val["macro_f1"]

        logger.info("Fine-tuning %s on %s: %d train / %d validation / %d test messages, %d intents, %d steps",
                    ref.name, data.name, len(data.train), len(data.validation), len(data.test), len(data.labels), loop.total_steps)
        train_seconds = loop.fit([len(x) for x in train_ids], batch_loss, validate)
        state = loop.state
        metrics = self._calibrate_and_score(model, tokenizer, data, label2id)
        metrics.update(state.get("probe", {}))
        metrics.update(train_seconds=round(train_seconds, 1), best_epoch=state["best_epoch"], epochs_run=state["epoch"],
                       history=state["history"])
        metrics["total_seconds"] = round(time.perf_counter() - job_started, 1)  # data, probe, training, calibration, test
        self._write(model, tokenizer, data, metrics, ref.name)
        shutil.rmtree(self.checkpoint_dir, ignore_errors=True)
        return metrics

    def _calibrate_and_score(self, model: Any, tokenizer: Any, data: IntentData, label2id: dict[str, int]) -> dict[str, Any]:
        from pipeline.nlu.oos import MAX_INDEX

        cfg = self.config
        val_emb, val_logits = embed_and_logits(model, tokenizer, data.validation.texts, cfg.eval_batch_size, cfg.max_length)
        val_gold = _label_ids(data.validation.labels, label2id)
        rows = np.arange(len(data.train))
        if len(rows) > MAX_INDEX:
            rows = np.sort(np.random.default_rng(cfg.seed).permutation(len(rows))[:MAX_INDEX])
        self.oos_index = (embed_texts(model, tokenizer, [data.train.texts[i] for i in rows], cfg.eval_batch_size, cfg.max_length),
                          _label_ids([data.train.labels[i] for i in rows], label2id))
        calibration = calibrate(val_logits, val_gold, len(data.labels), oos_rejection=cfg.oos_rejection, val_emb=val_emb,
                                train_emb=self.oos_index[0], train_gold=self.oos_index[1], oos_k=cfg.oos_k, oos_keep=cfg.oos_keep)
        temperature, threshold = calibration["temperature"], calibration["threshold"]
        self.calibration = {
            **calibration,
            "validation_ece_before": _scores(val_logits, val_gold)["ece"],
            "validation_ece_after": _scores(val_logits, val_gold, temperature)["ece"],
        }
        metrics: dict[str, Any] = {
            "validation": _scores(val_logits, val_gold, temperature),
            "temperature": temperature,
            "threshold": threshold,
            "oos_threshold": (calibration.get("oos") or {}).get("threshold"),
            "validation_ece_before_calibration": self.calibration["validation_ece_before"],
        }
        if len(data.test):
            test_logits = batched_logits(model, tokenizer, data.test.texts, cfg.eval_batch_size, cfg.max_length)
            test_gold = _label_ids(data.test.labels, label2id)
            metrics["test"] = _scores(test_logits, test_gold, temperature)
            metrics["test_ece_before_calibration"] = _scores(test_logits, test_gold)["ece"]
            logger.info("test accuracy %.4f macro-F1 %.4f ECE %.4f (T=%.3f)", metrics["test"]["accuracy"],
                        metrics["test"]["macro_f1"], metrics["test"]["ece"], temperature)
        return metrics

    def _write(self, model: Any, tokenizer: Any, data: IntentData, metrics: dict[str, Any], base_name: str) -> None:
        cfg = self.config
        with atomic_dir(self.output_dir) as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            write_json(tmp / CALIBRATION_FILE, self.calibration)
            save_index(tmp, *self.oos_index)
            write_resolved_config(tmp, cfg.to_dict())
            write_json(tmp / "metrics.json", metrics)
            flat = {f"{split}_{k}": v for split in ("validation", "test") for k, v in metrics.get(split, {}).items()}
            flat.update({k: metrics[k] for k in ("temperature", "threshold", "probe_validation_accuracy", "train_seconds",
                                                 "total_seconds", "best_epoch") if metrics.get(k) is not None})
            write_model_card(
                tmp,
                title=f"Intent classifier: {base_name} fine-tuned on {data.name}",
                summary=(f"Sequence classifier over {len(data.labels)} intents, fine-tuned from `{base_name}` with "
                         "`python -m training.finetune_intent`. Confidences are temperature-calibrated on the validation split "
                         f"(`{CALIBRATION_FILE}`); predictions under the stored threshold go to the clarification path."),
                data={"data": data.name, "train": len(data.train), "validation": len(data.validation), "test": len(data.test),
                      "intents": len(data.labels), "max_per_label": cfg.max_per_label,
                      **{k: v for k, v in data.meta.items() if isinstance(v, (int, float, str))}},
                metrics=flat,
                config=cfg.to_dict(),
                usage=f"```python\nfrom pipeline.nlu.classifier import IntentClassifier\nclf = IntentClassifier('{cfg.output_dir}')\n"
                      "print(clf.run(['I want a refund'])['predictions'][0])\n```",
                notes=f"Library versions at training time: {library_versions()}.",
            )
            if cfg.export:
                from pipeline.export import PARITY_LIMIT, try_export_intent_model

                try_export_intent_model(tmp, str(self.output_dir), data.validation.texts[:PARITY_LIMIT])
        logger.info("Saved intent model to %s", self.output_dir)


def build_parser() -> argparse.ArgumentParser:
    return training_parser("python -m training.finetune_intent",
                           "Fine-tune a Hugging Face encoder (default: packaged all-MiniLM-L6-v2) as an intent classifier.",
                           IntentTrainingConfig)


@cli_main
def main(argv: list[str] | None = None) -> int:
    args, out, metrics = run_training(build_parser(), argv, IntentTrainingConfig, IntentTrainer)
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        for split in ("validation", "test"):
            if split in metrics:
                m = metrics[split]
                print(f"{split}: accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}  ECE {m['ece']:.4f}  (n={m['n']})")
        print(f"temperature {metrics['temperature']:.3f}  threshold {metrics['threshold']}  "
              f"time {metrics['total_seconds']:.0f} s (fine-tuning {metrics['train_seconds']:.0f} s)  -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
