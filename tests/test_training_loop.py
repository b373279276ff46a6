"""The shared fine-tuning loop (training/loop.py) on a two-weight linear model with scripted validation scores."""
from __future__ import annotations

import pytest
import torch

from pipeline.errors import ConfigError, ModelLoadError
from training.loop import EpochInfo, FineTuneLoop, LoopSettings

X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 1.0], [1.0, 2.0], [0.5, 0.5], [3.0, 0.0], [0.0, 3.0]])
Y = torch.tensor([1.0, -1.0, 0.0, 1.0, -1.0, 0.0, 3.0, -3.0])
CONFIG = {"lr": 0.05, "output_dir": "out", "num_threads": 1}


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Linear(2, 1, bias=False)


def _loop(model, tmp_path, config=CONFIG, resume=False, **settings) -> FineTuneLoop:
    values = dict(epochs=5, batch_size=2, lr=0.05, checkpoint_every=100, seed=1)
    values.update(settings)
    return FineTuneLoop(model, LoopSettings(**values), n_train=len(X), checkpoint_dir=tmp_path / "ckpt",
                        config=config, progress=False, resume=resume)


def _fit(loop: FineTuneLoop, model, scores):
    """Run the loop; validation returns the scripted scores and records the weights of each epoch."""
    weights = {}

    def validate(info: EpochInfo):
        weights[info.epoch] = model.weight.detach().clone()
        assert not model.training
        return {"score": scores[info.epoch - 1]}, scores[info.epoch - 1]

    loop.fit([1] * len(X), lambda idx: (model(X[idx]).squeeze(-1) - Y[idx]).pow(2).mean(), validate)
    return weights


def test_best_epoch_is_kept_and_training_stops_after_patience(tmp_path):
    model = _model()
    loop = _loop(model, tmp_path, patience=2)
    weights = _fit(loop, model, [0.5, 0.7, 0.6, 0.65, 0.9])
    state = loop.state
    assert [h["epoch"] for h in state["history"]] == [1, 2, 3, 4]  # epochs 3 and 4 do not beat epoch 2: stop
    assert [h["steps"] for h in state["history"]] == [4, 8, 12, 16]
    assert (state["best_epoch"], state["best_score"], state["bad_epochs"]) == (2, [0.7], 2)
    assert loop.best_record()["score"] == 0.7
    assert torch.equal(model.weight, weights[2]) and not torch.equal(weights[2], weights[4])
    assert not model.training


def test_without_patience_every_epoch_runs(tmp_path):
    model = _model()
    loop = _loop(model, tmp_path, epochs=3)
    _fit(loop, model, [0.9, 0.1, 0.2])
    assert (len(loop.state["history"]), loop.state["best_epoch"]) == (3, 1)


def test_tuple_scores_break_ties_and_max_steps_caps_training(tmp_path):
    model = _model()
    loop = _loop(model, tmp_path, epochs=3, max_steps=5)
    assert loop.total_steps == 5
    _fit(loop, model, [(0.5, 0.9), (0.5, 0.95), (0.5, 0.99)])
    assert [h["steps"] for h in loop.state["history"]] == [4, 5]  # epoch 2 stops after one step, epoch 3 never starts
    assert (loop.state["best_epoch"], loop.state["best_score"]) == (2, [0.5, 0.95])


def test_resume_restores_the_checkpoint_and_refuses_other_settings(tmp_path):
    model = _model()
    first = _loop(model, tmp_path, epochs=2)
    _fit(first, model, [(0.5, 0.9), (0.4, 1.0)])  # the checkpoint is written after each epoch

    resumed_model = _model()
    resumed = _loop(resumed_model, tmp_path, config={**CONFIG, "output_dir": "elsewhere", "num_threads": 2},
                    resume=True, epochs=3)
    assert resumed.resume_or_start() is True
    assert (resumed.state["epoch"], resumed.state["best_epoch"], resumed.state["best_score"]) == (2, 1, [0.5, 0.9])
    _fit(resumed, resumed_model, [None, None, (0.5, 0.8)])  # the JSON list score compares with a new tuple
    assert [h["epoch"] for h in resumed.state["history"]] == [1, 2, 3] and resumed.state["best_epoch"] == 1

    fresh = _loop(_model(), tmp_path, config=CONFIG, resume=False)
    assert fresh.resume_or_start() is False and fresh.state["epoch"] == 0
    with pytest.raises(ConfigError, match=r"different settings \(lr\)\. Rerun with the same settings"):
        _loop(_model(), tmp_path, config={**CONFIG, "lr": 0.01}, resume=True).resume_or_start()

    checkpoint = first.checkpoint_dir
    for name, damage in (("optimizer.pt", b"not a pickle"), ("state.json", b'{"epoch": 1}'),
                         ("model.safetensors", (checkpoint / "model.safetensors").read_bytes()[:40])):
        saved = (checkpoint / name).read_bytes()
        (checkpoint / name).write_bytes(damage)
        with pytest.raises(ModelLoadError, match=r"checkpoint .* is damaged|unreadable") as info:
            _loop(_model(), tmp_path, config=CONFIG, resume=True).resume_or_start()
        assert "Run again without --resume" in str(info.value)
        (checkpoint / name).write_bytes(saved)


def test_ctrl_c_says_whether_there_is_a_checkpoint_to_resume(tmp_path, caplog):
    for scores, message in (([0.5, KeyboardInterrupt], "Interrupted at step 8. The checkpoint of step 4 is kept in"),
                            ([KeyboardInterrupt], "Interrupted at step 4, before this run's first checkpoint")):
        model = _model()
        loop = _loop(model, tmp_path / str(len(scores)), epochs=2)

        def validate(info: EpochInfo):
            if scores[info.epoch - 1] is KeyboardInterrupt:
                raise KeyboardInterrupt
            return {"score": scores[info.epoch - 1]}, scores[info.epoch - 1]

        caplog.clear()
        with pytest.raises(KeyboardInterrupt):
            loop.fit([1] * len(X), lambda idx: (model(X[idx]).squeeze(-1) - Y[idx]).pow(2).mean(), validate)
        assert message in caplog.text


def test_param_groups_scale_the_named_parameters_and_skip_decay_on_norms():
    from training.loop import param_groups

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = torch.nn.Linear(2, 2)
            self.crossattention = torch.nn.Linear(2, 2)
            self.LayerNorm = torch.nn.LayerNorm(2)

    settings = LoopSettings(epochs=1, batch_size=1, lr=0.1, weight_decay=0.01, lr_scales={"crossattention": 10.0})
    groups = param_groups(Net(), settings)
    summary = sorted((len(g["params"]), g["weight_decay"], round(g["lr"], 6)) for g in groups)
    # decayed weights at lr 0.1 (dense) and 1.0 (cross-attention); biases and norm weights without decay
    assert summary == [(1, 0.0, 1.0), (1, 0.01, 0.1), (1, 0.01, 1.0), (3, 0.0, 0.1)]
    plain = param_groups(Net(), LoopSettings(epochs=1, batch_size=1, lr=0.1, weight_decay=0.01))
    assert sorted((len(g["params"]), g["lr"]) for g in plain) == [(2, 0.1), (4, 0.1)]


def test_lr_scale_patterns_match_from_the_start_of_a_name():
    from training.loop import param_groups

    class Half(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = torch.nn.Linear(2, 2, bias=False)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = torch.nn.Linear(2, 2, bias=False)  # "encoder.weight"
            self.decoder = Half()  # "decoder.encoder.weight": the decoder's own stack, not the encoder

    groups = param_groups(Net(), LoopSettings(epochs=1, batch_size=1, lr=0.1, lr_scales={r"^encoder\.": 0.0}))
    assert sorted((len(g["params"]), g["lr"]) for g in groups) == [(1, 0.0), (1, 0.1)]
