"""Resumable training checkpoints without pickle.

A checkpoint folder holds ``model.safetensors`` (current weights),
``best.safetensors`` (weights of the best epoch so far), ``optimizer.pt``
(optimizer and scheduler state dicts: tensors and plain numbers only, read back
with ``torch.load(weights_only=True)``) and ``state.json`` (epoch, step, best
metric, history). Each save goes to a temporary folder renamed into place, so
an interruption during a save leaves the previous checkpoint intact.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pipeline.artifacts import atomic_dir, load_safetensors, read_json, write_json
from pipeline.errors import ModelLoadError, first_line

logger = logging.getLogger(__name__)


def save_checkpoint(folder: Path, model: Any, optimizer: Any, scheduler: Any, state: dict[str, Any], best_state: dict | None) -> None:
    import torch
    from safetensors.torch import save_file

    def _contiguous(sd: dict) -> dict:
        return {k: v.detach().contiguous().clone() for k, v in sd.items()}

    with atomic_dir(folder) as tmp:
        save_file(_contiguous(model.state_dict()), str(tmp / "model.safetensors"))
        if best_state is not None:
            save_file(_contiguous(best_state), str(tmp / "best.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, tmp / "optimizer.pt")
        write_json(tmp / "state.json", state)


def load_checkpoint(folder: Path, model: Any, optimizer: Any, scheduler: Any) -> tuple[dict[str, Any], dict | None]:
    """Restore model/optimizer/scheduler in place; return ``(state, best_state_dict)``.

    A checkpoint that cannot be read (an interrupted copy, a full disk) raises one :class:`ModelLoadError`.
    """
    import torch

    fix = f"Run again without --resume to train from the start (and delete {str(folder)!r})."
    try:
        state = read_json(folder / "state.json")
        int(state["epoch"]), int(state["step_in_epoch"]), dict(state["config"])
        model.load_state_dict(load_safetensors(folder / "model.safetensors", fix=fix, framework="torch"))
        opt = torch.load(folder / "optimizer.pt", weights_only=True)
        optimizer.load_state_dict(opt["optimizer"])
        scheduler.load_state_dict(opt["scheduler"])
    except ModelLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - JSON, pickle, torch, missing keys: any failure means a damaged checkpoint
        raise ModelLoadError(f"The checkpoint {str(folder)!r} is damaged ({type(exc).__name__}: {first_line(exc)[:200]}). "
                             f"{fix}") from None
    best_path = folder / "best.safetensors"
    best = load_safetensors(best_path, fix=fix, framework="torch") if best_path.is_file() else None
    logger.info("Resumed from %s at epoch %d step %d", folder, state["epoch"], state["step_in_epoch"])
    return state, best
