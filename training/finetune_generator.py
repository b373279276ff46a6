"""Fine-tune any Hugging Face seq2seq checkpoint as the reply generator.

    python -m training.finetune_generator --model google/flan-t5-base --output-dir artifacts/generator
    python -m training.finetune_generator --model ./my-t5 --output-dir artifacts/gen --epochs 2 --max-train-examples 500
    python -m training.finetune_generator --model google/flan-t5-base --output-dir artifacts/generator --resume

Pairs: (message, intent, knowledge-base snippets) -> Bitext reference reply,
from the 4.5k file (:mod:`training.generator_data`: deduplicated, stratified
80/10/10 split with ``--seed``; placeholders filled consistently on both
sides). The source is the prompt of :mod:`pipeline.reply.prompts` (the same template
and truncation as :class:`pipeline.reply.generators.Seq2SeqGenerator` at answer time);
``--snippets intent`` (default) needs no embeddings, ``--snippets retriever``
uses the dense retriever filtered by the gold intent.

Recipe: AdamW with linear warm-up/decay, dynamic padding over length-sorted
batches, validation loss after every epoch, the best epoch kept, then ROUGE-L
of greedy replies on ``--eval-generate`` validation examples. The model folder
(safetensors weights, tokenizer, config, ``resolved_config.json`` with the
prompt template, ``metrics.json``, ``README.md``) is written to a temporary
folder and renamed into place. A checkpoint ``<output-dir>.checkpoint`` is
saved every ``--checkpoint-every`` steps and at each epoch end; ``--resume``
continues from it (dropout noise after a resume differs from an uninterrupted run).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.artifacts import atomic_dir, write_json, write_model_card, write_resolved_config
from pipeline.batching import length_sorted_batches, pad_batch
from pipeline.config import StageConfig
from pipeline.errors import DataError, ModelLoadError, check_param, cli_main
from pipeline.hub import load_pretrained, resolve_model
from pipeline.reply.prompts import DEFAULT_PROMPT_TEMPLATE, check_template, fit_prompt
from pipeline.utils import progress_enabled, set_seed, set_torch_threads
from training.cli import run_training, training_parser
from training.generator_data import SNIPPET_SOURCES, GenerationExample, load_generation_splits
from training.loop import EpochInfo, FineTuneLoop, LoopSettings, check_loop_params

logger = logging.getLogger(__name__)


@dataclass
class GeneratorTrainingConfig(StageConfig):
    model: str = field(default="google/flan-t5-base", metadata={"help": "Seq2seq checkpoint to fine-tune (Hub id or folder), or an encoder to warm-start both halves of an encoder-decoder from ('default': the packaged all-MiniLM-L6-v2)."})
    faithful_targets: bool = field(default=True, metadata={"help": "Train on references cut to the sentences the guardrails pass (training.faithful_targets); pairs that cannot be repaired are dropped."})
    output_dir: str = field(default="artifacts/generator", metadata={"help": "Model folder to write."})
    data: str | None = field(default=None, metadata={"help": "Bitext 4.5k CSV (default: the shared data folder)."})
    kb_path: str | None = field(default=None, metadata={"help": "Knowledge-base folder (default: the packaged knowledge_base/policies)."})
    snippets: str = field(default="intent", metadata={"help": "Snippet source: intent (KB snippets of the gold intent) or retriever."})
    top_k: int = field(default=2, metadata={"help": "Snippets per prompt."})
    prompt_template: str = field(default=DEFAULT_PROMPT_TEMPLATE, metadata={"help": "Prompt with {message} {intent} {snippets} {slots}."})
    epochs: int = field(default=3, metadata={"help": "Number of epochs."})
    lr: float = field(default=3e-4, metadata={"help": "Peak learning rate of AdamW."})
    cross_attention_lr_scale: float = field(default=1.0, metadata={"help": "Learning-rate multiple for the decoder's cross-attention, which a warm start initialises from scratch."})
    encoder_lr_scale: float = field(default=1.0, metadata={"help": "Learning-rate multiple for the encoder (0 keeps it as pretrained)."})
    batch_size: int = field(default=8, metadata={"help": "Training batch size."})
    eval_batch_size: int = field(default=16, metadata={"help": "Batch size for validation loss and generation."})
    max_source_length: int = field(default=512, metadata={"help": "Prompt tokens (cut keeping the policy text)."})
    max_target_length: int = field(default=192, metadata={"help": "Reference tokens kept as the training target; also the generation limit."})
    warmup_ratio: float = field(default=0.06, metadata={"help": "Fraction of steps with linear learning-rate warm-up."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm."})
    max_train_examples: int | None = field(default=None, metadata={"help": "Use at most this many training pairs (seeded sample)."})
    max_eval_examples: int | None = field(default=None, metadata={"help": "Use at most this many validation pairs for the loss."})
    eval_generate: int = field(default=64, metadata={"help": "Validation pairs decoded for ROUGE-L after training (0 = skip)."})
    max_steps: int | None = field(default=None, metadata={"help": "Stop after this many optimizer steps (smoke runs)."})
    checkpoint_every: int = field(default=200, metadata={"help": "Save a resumable checkpoint every N optimizer steps (and at each epoch end)."})
    validation_size: float = field(default=0.1, metadata={"help": "Fraction of messages held out for validation."})
    test_size: float = field(default=0.1, metadata={"help": "Fraction held out as the test split (used by evaluation.generation)."})
    seed: int = field(default=42, metadata={"help": "Seed for the split, sampling, batch order and initialisation."})
    num_threads: int | None = field(default=None, metadata={"help": "Torch CPU threads (default: all cores)."})

    def validate(self) -> None:
        check_loop_params("GeneratorTrainingConfig", self)
        owner = "GeneratorTrainingConfig"
        for name in ("epochs", "batch_size", "eval_batch_size", "checkpoint_every", "top_k"):
            check_param(owner, name, getattr(self, name), getattr(self, name) >= 1, "an int >= 1")
        check_param(owner, "max_source_length", self.max_source_length, self.max_source_length >= 16, "an int >= 16")
        check_param(owner, "max_target_length", self.max_target_length, self.max_target_length >= 4, "an int >= 4")
        check_param(owner, "lr", self.lr, 0 < self.lr < 1, "a float in (0, 1)")
        check_param(owner, "cross_attention_lr_scale", self.cross_attention_lr_scale, 0 < self.cross_attention_lr_scale <= 100, "a float in (0, 100]")
        check_param(owner, "encoder_lr_scale", self.encoder_lr_scale, 0 <= self.encoder_lr_scale <= 100, "a float in [0, 100]")
        check_param(owner, "warmup_ratio", self.warmup_ratio, 0 <= self.warmup_ratio < 1, "a float in [0, 1)")
        check_param(owner, "eval_generate", self.eval_generate, self.eval_generate >= 0, "an int >= 0")
        check_param(owner, "snippets", self.snippets, self.snippets in SNIPPET_SOURCES, "one of " + ", ".join(SNIPPET_SOURCES))
        for name in ("max_train_examples", "max_eval_examples", "max_steps"):
            value = getattr(self, name)
            if value is not None:
                check_param(owner, name, value, value >= 1, "an int >= 1 or unset")
        check_template(self.prompt_template, owner)


def _sample(examples: list[GenerationExample], n: int | None, seed: int) -> list[GenerationExample]:
    if n is None or n >= len(examples):
        return examples
    import numpy as np

    keep = sorted(np.random.default_rng(seed).choice(len(examples), size=n, replace=False).tolist())
    return [examples[i] for i in keep]


class GeneratorTrainer:
    """Runs one fine-tuning job described by a :class:`GeneratorTrainingConfig`."""

    def __init__(self, config: GeneratorTrainingConfig, *, progress: bool | None = None, resume: bool = False) -> None:
        self.config = config
        self.progress = progress_enabled(progress)
        self.resume = resume
        self.output_dir = Path(config.output_dir)
        self.checkpoint_dir = self.output_dir.with_name(self.output_dir.name + ".checkpoint")

    def _load(self) -> tuple[Any, Any, Any]:
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        from training.warm_start import is_seq2seq, warm_start

        try:
            ref = resolve_model(self.config.model, what="seq2seq model")
            tokenizer = load_pretrained(AutoTokenizer.from_pretrained, ref, what="seq2seq model tokenizer")
            if is_seq2seq(ref):
                model = load_pretrained(AutoModelForSeq2SeqLM.from_pretrained, ref, what="seq2seq model")
            else:  # an encoder ('default': the packaged MiniLM): both halves of an encoder-decoder start from it
                model = warm_start(ref, tokenizer)
        except ModelLoadError as exc:
            raise ModelLoadError(f"{str(exc).split(' Supply it as')[0].rstrip('.')}. Pass --model as a local folder "
                                 "or pre-download the checkpoint into the Hugging Face cache.") from None
        return ref, tokenizer, model

    def loop_settings(self) -> LoopSettings:
        """The shared loop's settings, with this trainer's learning-rate multiples (encoder, fresh cross-attention)."""
        cfg = self.config
        scales = {"crossattention": cfg.cross_attention_lr_scale, r"^encoder\.": cfg.encoder_lr_scale}
        return dataclasses.replace(LoopSettings.from_config(cfg), lr_scales={k: float(v) for k, v in scales.items() if v != 1.0})

    def encode(self, tokenizer: Any, examples: list[GenerationExample],
               start_id: int | None = None) -> tuple[list[str], list[list[int]], list[list[int]]]:
        """Prompts (as at answer time), their token ids and the target token ids.

        A target that starts with the decoder's start token (BERT's ``[CLS]`` in a warm start) loses it: the model
        shifts the labels right behind that token itself, so keeping it would teach a first step of predicting it."""
        cfg = self.config

        def count(text: str) -> int:
            return len(tokenizer(text, add_special_tokens=True)["input_ids"])

        prompts = [fit_prompt(cfg.prompt_template, ex.message, ex.intent, ex.snippets, ex.entities, cfg.max_source_length, count)[0]
                   for ex in examples]
        sources = tokenizer(prompts, truncation=True, max_length=cfg.max_source_length)["input_ids"]
        targets = tokenizer(text_target=[ex.reference for ex in examples], truncation=True, max_length=cfg.max_target_length)["input_ids"]
        if start_id is not None:
            targets = [t[1:] if t and t[0] == start_id else t for t in targets]
        return prompts, sources, targets

    @staticmethod
    def _batch(sources: list[list[int]], targets: list[list[int]], idx: Any, pad_id: int) -> dict[str, Any]:
        input_ids, mask = pad_batch([sources[i] for i in idx], pad_id)
        labels, lmask = pad_batch([targets[i] for i in idx], pad_id)
        return {"input_ids": input_ids, "attention_mask": mask, "labels": labels.masked_fill(lmask == 0, -100)}

    def validation_loss(self, model: Any, sources: list[list[int]], targets: list[list[int]], pad_id: int) -> float:
        """Mean per-token cross-entropy over the validation pairs."""
        import torch

        total, tokens = 0.0, 0
        model.eval()
        with torch.inference_mode():
            for idx in length_sorted_batches([len(s) for s in sources], self.config.eval_batch_size, shuffle=False):
                batch = self._batch(sources, targets, idx, pad_id)
                n = int((batch["labels"] != -100).sum())
                total += float(model(**batch).loss) * n
                tokens += n
        return total / max(tokens, 1)

    def train(self) -> dict[str, Any]:
        cfg = self.config
        set_seed(cfg.seed)
        set_torch_threads(cfg.num_threads)
        from knowledge_base.loader import load_knowledge_base

        splits = load_generation_splits(cfg.data, seed=cfg.seed, validation_size=cfg.validation_size, test_size=cfg.test_size,
                                        snippets=cfg.snippets, top_k=cfg.top_k, kb=load_knowledge_base(cfg.kb_path),
                                        splits=("train", "validation"))
        train = _sample(splits["train"], cfg.max_train_examples, cfg.seed)
        val = _sample(splits["validation"], cfg.max_eval_examples, cfg.seed)
        target_counts: dict[str, dict[str, int]] = {}
        if cfg.faithful_targets:
            from training.faithful_targets import faithful_targets

            (train, target_counts["train"]), (val, target_counts["validation"]) = faithful_targets(train), faithful_targets(val)
            logger.info("Faithful targets: %s", target_counts)
        if not train or not val:
            raise DataError(f"Generator fine-tuning needs training and validation pairs. Got {len(train)} and {len(val)}.")
        ref, tokenizer, model = self._load()
        start_id = getattr(model.config, "decoder_start_token_id", None)
        _, train_src, train_tgt = self.encode(tokenizer, train, start_id)
        val_prompts, val_src, val_tgt = self.encode(tokenizer, val, start_id)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        loop = FineTuneLoop(model, self.loop_settings(), n_train=len(train_src),
                            checkpoint_dir=self.checkpoint_dir, config=cfg.to_dict(), progress=self.progress, resume=self.resume)
        loop.resume_or_start()

        def validate(info: EpochInfo) -> tuple[dict[str, Any], float]:
            val_loss = self.validation_loss(model, val_src, val_tgt, pad_id)
            logger.info("epoch %d: validation loss %.4f (train loss %.4f, %.0f s)", info.epoch, val_loss, info.train_loss, info.seconds)
            return {"validation_loss": val_loss}, -val_loss

        logger.info("Fine-tuning %s: %d train / %d validation pairs, %d steps", ref.name, len(train), len(val), loop.total_steps)
        train_seconds = loop.fit([len(s) for s in train_src], lambda idx: model(**self._batch(train_src, train_tgt, idx, pad_id)).loss,
                                 validate)
        state = loop.state
        metrics: dict[str, Any] = {"validation_loss": loop.best_record().get("validation_loss"), "best_epoch": state["best_epoch"],
                                   "faithful_targets": target_counts,
                                   "steps": state["global_step"], "train_seconds": round(train_seconds, 1),
                                   "train_pairs": len(train), "validation_pairs": len(val), "history": state["history"]}
        metrics.update(self._rouge(model, tokenizer, val_prompts, val))
        self._write(model, tokenizer, metrics, ref.name, len(train), len(val))
        shutil.rmtree(self.checkpoint_dir, ignore_errors=True)
        return metrics

    def _rouge(self, model: Any, tokenizer: Any, prompts: list[str], examples: list[GenerationExample]) -> dict[str, Any]:
        cfg = self.config
        n = min(cfg.eval_generate, len(prompts))
        if n == 0:
            return {}
        from evaluation.generation import rouge_l
        from pipeline.reply.generators import GeneratorConfig, Seq2SeqGenerator

        gen = Seq2SeqGenerator(GeneratorConfig(generator="seq2seq", model=cfg.model, prompt_template=cfg.prompt_template,
                                               max_new_tokens=cfg.max_target_length, max_input_tokens=cfg.max_source_length,
                                               batch_size=cfg.eval_batch_size, device="cpu"))
        gen.model, gen.tokenizer = model, tokenizer
        replies = gen.generate(prompts[:n])
        scores = rouge_l(replies, [ex.reference for ex in examples[:n]])
        value = sum(s["f"] for s in scores) / n
        logger.info("validation ROUGE-L F1 %.4f on %d generated replies", value, n)
        return {"validation_rougeL_f": value, "rouge_examples": n, "sample_reply": replies[0]}

    def _write(self, model: Any, tokenizer: Any, metrics: dict[str, Any], base_name: str, n_train: int, n_val: int) -> None:
        cfg = self.config
        with atomic_dir(self.output_dir) as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            write_resolved_config(tmp, cfg.to_dict())
            write_json(tmp / "metrics.json", metrics)
            flat = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and v is not None}
            write_model_card(
                tmp,
                title=f"Reply generator: {base_name} fine-tuned on Bitext customer support",
                summary=(f"Seq2seq reply generator fine-tuned from `{base_name}` with `python -m training.finetune_generator` "
                         "on (message, intent, knowledge-base snippets) -> Bitext reference reply pairs. The prompt template "
                         "is stored in `resolved_config.json` and used by `pipeline.reply.generators.Seq2SeqGenerator` when loading this folder."),
                data={"data": cfg.data or "bitext_customer_support_4.5k.csv (shared data)", "train_pairs": n_train,
                      "validation_pairs": n_val, "snippets": f"{cfg.snippets} (top {cfg.top_k})", "split_seed": cfg.seed},
                metrics=flat,
                config=cfg.to_dict(),
                usage=("```yaml\n# generator config\ngenerator: seq2seq\nmodel: " + str(cfg.output_dir) + "\n```\n"
                       "Replies that fail the guardrails fall back to the grounded reply."),
            )
        logger.info("Saved generator to %s", self.output_dir)


def build_parser() -> argparse.ArgumentParser:
    return training_parser("python -m training.finetune_generator",
                           "Fine-tune a Hugging Face seq2seq checkpoint as the reply generator.", GeneratorTrainingConfig)


@cli_main
def main(argv: list[str] | None = None) -> int:
    args, out, metrics = run_training(build_parser(), argv, GeneratorTrainingConfig, GeneratorTrainer)
    if args.json:
        print(json.dumps(metrics, indent=2))
        return 0
    rouge = metrics.get("validation_rougeL_f")
    print(f"validation loss {metrics['validation_loss']:.4f}" + (f", ROUGE-L F1 {rouge:.4f}" if rouge is not None else "")
          + f" -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
