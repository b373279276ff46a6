"""The fine-tuning loop shared by ``finetune_intent``, ``finetune_slots`` and ``finetune_generator``.

What every trainer does the same way lives here: AdamW (no weight decay on biases and norm weights),
a linear warm-up then decay, gradient clipping, shuffled length-sorted batches, a progress bar,
resumable checkpoints (every ``checkpoint_every`` steps and after each epoch), validation after each
epoch, the best epoch's weights kept, and early stopping after ``patience`` epochs without improvement.
What differs stays with the trainer, as two callables: the loss of one batch and the validation of
one epoch::

    loop = FineTuneLoop(model, LoopSettings(epochs=3, batch_size=16, lr=5e-5), n_train=len(train_ids),
                        checkpoint_dir=Path("out.checkpoint"), config=cfg.to_dict(), resume=True)
    loop.resume_or_start()                   # True when the state came from the checkpoint
    loop.fit(lengths, batch_loss=lambda idx: ..., validate=lambda epoch: (record, score))
    loop.state["best_epoch"], loop.best_record()

``validate`` returns the epoch's metrics (kept in ``state["history"]``) and a score, higher is better
(a number or a tuple compared left to right).
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from pipeline.errors import ConfigError, check_param
from training.checkpoint import load_checkpoint, save_checkpoint
from pipeline.batching import length_sorted_batches

logger = logging.getLogger(__name__)

# Parameters whose names end like this get no weight decay.
NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
# Settings that may differ between an interrupted run and its resumption.
RESUMABLE_CHANGES = ("output_dir", "num_threads")


@dataclass
class LoopSettings:
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    max_grad_norm: float = 1.0
    checkpoint_every: int = 500
    seed: int = 42
    patience: int | None = None  # None: never stop early
    max_steps: int | None = None  # None: every batch of every epoch
    lr_scales: dict[str, float] = field(default_factory=dict)  # parameter-name pattern (re.search) -> learning-rate multiplier

    @classmethod
    def from_config(cls, cfg: Any) -> "LoopSettings":
        """The loop settings read from a trainer config's fields of the same names (``patience`` and
        ``max_steps`` where the config has them)."""
        names = ("epochs", "batch_size", "lr", "weight_decay", "warmup_ratio", "max_grad_norm", "checkpoint_every", "seed")
        values = {name: getattr(cfg, name) for name in names}
        values.update({name: getattr(cfg, name) for name in ("patience", "max_steps") if hasattr(cfg, name)})
        return cls(**values)


def check_loop_params(owner: str, cfg: Any) -> None:
    """Range checks for the settings every fine-tuning config shares (NaN fails every one of them)."""
    check_param(owner, "seed", cfg.seed, 0 <= cfg.seed < 2**32, "an int in [0, 2**32 - 1]")
    check_param(owner, "num_threads", cfg.num_threads, cfg.num_threads is None or cfg.num_threads >= 0,
                "an int >= 1, or 0 or unset for all cores")
    check_param(owner, "weight_decay", cfg.weight_decay, 0 <= cfg.weight_decay < 1, "a float in [0, 1)")
    check_param(owner, "max_grad_norm", cfg.max_grad_norm, cfg.max_grad_norm > 0, "a float > 0")


@dataclass
class EpochInfo:
    epoch: int  # 1-based
    train_loss: float  # mean over the epoch's batches
    steps: int  # optimizer steps so far
    seconds: float  # training time so far


def _score(value: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in value) if isinstance(value, (list, tuple)) else (float(value),)


def param_groups(model: Any, settings: LoopSettings) -> list[dict[str, Any]]:
    """AdamW groups: no weight decay on biases and norm weights; a parameter whose name matches a pattern of
    ``settings.lr_scales`` (``re.search``) gets that multiple of the learning rate (e.g. fresh cross-attention in a
    warm start; 0 keeps a part fixed)."""
    groups: dict[tuple[bool, float], list[Any]] = {}
    for name, param in model.named_parameters():
        scale = next((v for k, v in settings.lr_scales.items() if re.search(k, name)), 1.0)
        groups.setdefault((name.endswith(NO_DECAY), scale), []).append(param)
    return [{"params": params, "weight_decay": 0.0 if no_decay else settings.weight_decay, "lr": settings.lr * scale}
            for (no_decay, scale), params in sorted(groups.items())]


class FineTuneLoop:
    """Optimizer, schedule, checkpoints and the epoch loop of one fine-tuning run; ``state`` is JSON."""

    def __init__(self, model: Any, settings: LoopSettings, *, n_train: int, checkpoint_dir: Path,
                 config: dict[str, Any], progress: bool | None = None, resume: bool = False) -> None:
        import torch
        from transformers import get_linear_schedule_with_warmup

        self.model, self.settings, self.checkpoint_dir = model, settings, Path(checkpoint_dir)
        self.config, self.progress, self.resume = config, progress, resume
        steps_per_epoch = (n_train + settings.batch_size - 1) // settings.batch_size
        self.total_steps = min(steps_per_epoch * settings.epochs, settings.max_steps or 10**12)
        self.optimizer = torch.optim.AdamW(param_groups(model, settings), lr=settings.lr)
        self.scheduler = get_linear_schedule_with_warmup(self.optimizer, int(settings.warmup_ratio * self.total_steps),
                                                         self.total_steps)
        self.state: dict[str, Any] = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "best_score": None,
                                      "best_epoch": -1, "bad_epochs": 0, "history": [], "train_seconds": 0.0,
                                      "config": config}
        self.best_state: dict | None = None
        self.saved_step: int | None = None  # global step of the checkpoint this run wrote or resumed from

    def resume_or_start(self) -> bool:
        """Restore model, optimizer and state from the checkpoint when resuming and one exists."""
        if not (self.resume and (self.checkpoint_dir / "state.json").is_file()):
            if self.resume:
                logger.info("No checkpoint at %s: starting from scratch", self.checkpoint_dir)
            return False
        state, self.best_state = load_checkpoint(self.checkpoint_dir, self.model, self.optimizer, self.scheduler)
        changed = [k for k in self.config if k not in RESUMABLE_CHANGES and state["config"].get(k) != self.config[k]]
        if changed:
            raise ConfigError(f"The checkpoint in {self.checkpoint_dir} was made with different settings ({', '.join(changed)}). "
                              "Rerun with the same settings, or without --resume to start over.")
        self.state = state
        self.saved_step = state["global_step"]
        return True

    def best_record(self) -> dict[str, Any]:
        """The validation record of the best epoch (empty before the first epoch)."""
        best = self.state["best_epoch"]
        return self.state["history"][best - 1] if best >= 1 else {}

    def _save(self) -> None:
        save_checkpoint(self.checkpoint_dir, self.model, self.optimizer, self.scheduler, self.state, self.best_state)
        self.saved_step = self.state["global_step"]

    def fit(self, lengths: Sequence[int], batch_loss: Callable[[list[int]], Any],
            validate: Callable[[EpochInfo], tuple[dict[str, Any], Any]]) -> float:
        """Train; leave the best epoch's weights in the model (eval mode). Returns the training seconds.

        On Ctrl-C, logs whether a checkpoint of this run is there to ``--resume`` from."""
        try:
            return self._fit(lengths, batch_loss, validate)
        except KeyboardInterrupt:
            if self.saved_step is not None:
                logger.warning("Interrupted at step %d. The checkpoint of step %d is kept in %s: rerun the same "
                               "command with --resume to continue from it.", self.state["global_step"],
                               self.saved_step, self.checkpoint_dir)
            else:
                logger.warning("Interrupted at step %d, before this run's first checkpoint (every %d steps and at "
                               "each epoch end): there is nothing to resume.", self.state["global_step"],
                               self.settings.checkpoint_every)
            raise

    def _fit(self, lengths: Sequence[int], batch_loss: Callable[[list[int]], Any],
             validate: Callable[[EpochInfo], tuple[dict[str, Any], Any]]) -> float:
        import torch

        from pipeline.utils import progress_bar

        s, state, model = self.settings, self.state, self.model
        started = time.perf_counter() - state["train_seconds"]
        for epoch in range(state["epoch"], s.epochs):
            if state["global_step"] >= self.total_steps:
                break
            model.train()
            batches = length_sorted_batches(lengths, s.batch_size, shuffle=True, seed=s.seed, epoch=epoch)
            bar = progress_bar(len(batches), f"epoch {epoch + 1}/{s.epochs}", self.progress, initial=state["step_in_epoch"],
                               unit="batch")
            running, seen = 0.0, 0
            for step in range(state["step_in_epoch"], len(batches)):
                if state["global_step"] >= self.total_steps:
                    break
                loss = batch_loss(batches[step])
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), s.max_grad_norm)
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                running, seen = running + loss.detach().item(), seen + 1
                state["global_step"] += 1
                state["step_in_epoch"] = step + 1
                bar.update(1)
                bar.set_postfix(loss=f"{running / seen:.4f}", lr=f"{self.scheduler.get_last_lr()[0]:.2e}")
                if state["global_step"] % s.checkpoint_every == 0 and step + 1 < len(batches):
                    state["train_seconds"] = time.perf_counter() - started
                    self._save()
            bar.close()
            model.eval()
            info = EpochInfo(epoch=epoch + 1, train_loss=running / max(seen, 1), steps=state["global_step"],
                             seconds=round(time.perf_counter() - started, 1))
            record, score = validate(info)
            state["history"].append({**record, "epoch": info.epoch, "train_loss": info.train_loss,
                                     "steps": info.steps, "seconds": info.seconds})
            stop = False
            if state["best_score"] is None or _score(score) > _score(state["best_score"]):
                state.update(best_score=list(_score(score)), best_epoch=epoch + 1, bad_epochs=0)
                self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                state["bad_epochs"] += 1
                stop = s.patience is not None and state["bad_epochs"] >= s.patience
            state.update(epoch=epoch + 1, step_in_epoch=0, train_seconds=time.perf_counter() - started)
            self._save()
            if stop:
                logger.info("Early stopping: no improvement for %d epochs", s.patience)
                break
        train_seconds = time.perf_counter() - started
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        model.eval()
        return train_seconds
