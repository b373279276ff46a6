"""Intent fine-tuning and the IntentClassifier on a tiny random DistilBERT (the distilbert-base-uncased code path)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.nlu import bootstrap
from pipeline.errors import ConfigError, DataError, ModelLoadError
from pipeline.nlu.classifier import IntentClassifier
from tests.tiny_models import make_tiny_distilbert
from training import loop
from training.calibration import choose_threshold, simulated_oos_confidence
from training.finetune_intent import IntentTrainer, IntentTrainingConfig, main

TOY = {
    "get_refund": ["i want my money back", "refund my order please", "how do i get a refund", "give me a refund now",
                   "refund for the broken item", "money back for order", "i need a refund today", "request a refund",
                   "can i be refunded", "refund the payment"],
    "track_order": ["where is my package", "track my order", "when will my parcel arrive", "order status please",
                    "has my order shipped", "tracking number for my order", "where is my delivery", "package location",
                    "is my order on the way", "track the parcel"],
    "recover_password": ["i forgot my password", "reset my password", "cannot log in password lost", "password recovery",
                         "new password please", "help me reset the password", "lost my password", "password reset link",
                         "change forgotten password", "recover my password"],
}


def _write_toy(path: Path, data: dict[str, list[str]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["utterance", "intent"])
        for label, texts in data.items():
            writer.writerows([t, label] for t in texts)
    return path


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    texts = [t for ts in TOY.values() for t in ts]
    return make_tiny_distilbert(tmp_path_factory.mktemp("base") / "tiny-distilbert", texts)


def _config(tmp_path: Path, base: Path, **kw) -> IntentTrainingConfig:
    values = dict(data=str(_write_toy(tmp_path / "toy.csv", TOY)), text_column="utterance", label_column="intent",
                  validation_size=0.2, test_size=0.2, base_model=str(base), output_dir=str(tmp_path / "model"),
                  epochs=2, batch_size=4, lr=1e-3, max_length=16, seed=7, checkpoint_every=2)
    values.update(kw)
    return IntentTrainingConfig(**values)


def test_finetune_save_load_predict(tmp_path, tiny_base):
    cfg = _config(tmp_path, tiny_base)
    metrics = IntentTrainer(cfg, progress=False).train()
    out = Path(cfg.output_dir)
    assert {"config.json", "model.safetensors", "tokenizer.json", "calibration.json", "resolved_config.json",
            "metrics.json", "README.md", "intent_head.json", "intent_head.safetensors"} <= {p.name for p in out.iterdir()}
    assert not (out / "labels.json").exists()  # config.json's id2label holds the labels
    assert not any(p.suffix in {".bin", ".pkl", ".pt"} for p in out.iterdir())
    export = json.loads((out / "onnx" / "export.json").read_text())  # exported at the end of training, on the validation split
    assert export["parity_messages"] == json.loads((out / "metrics.json").read_text())["validation"]["n"]
    assert export["parity"]["onnx"]["intent_agreement"] == 1.0
    assert not Path(str(out) + ".checkpoint").exists()
    config = json.loads((out / "config.json").read_text())
    assert config["label2id"] == {"get_refund": 0, "recover_password": 1, "track_order": 2}
    assert json.loads((out / "resolved_config.json").read_text())["seed"] == 7
    assert metrics["epochs_run"] == 2 and len(metrics["history"]) == 2
    assert metrics["temperature"] > 0
    card = (out / "README.md").read_text()
    assert "transformers" in card and "Seed: 7" in card

    clf = IntentClassifier(out, top_k=2, batch_size=3)
    result = clf.run(["refund my order please", "where is my package", "reset my password"], return_probs=True)
    preds = result["predictions"]
    assert clf.labels == ["get_refund", "recover_password", "track_order"]
    assert len(preds) == 3 and all(len(p.ranking) == 2 for p in preds)
    assert all(p.label == p.ranking[0][0] and p.confidence == pytest.approx(p.ranking[0][1]) for p in preds)
    np.testing.assert_allclose(result["probabilities"].sum(axis=1), 1.0, rtol=1e-5)
    assert clf.temperature == pytest.approx(metrics["temperature"])
    # save/load is symmetric: the loaded model reproduces the accuracy measured in memory at training time
    data = json.loads((out / "metrics.json").read_text())
    from training.data import load_intent_data

    split = load_intent_data(cfg.data, text_column="utterance", label_column="intent", validation_size=0.2,
                             test_size=0.2, seed=7).test
    acc = float(np.mean([p.label == g for p, g in zip(clf.run(split.texts)["predictions"], split.labels)]))
    assert acc == pytest.approx(data["test"]["accuracy"])


def test_resume_after_interruption(tmp_path, tiny_base, monkeypatch):
    cfg = _config(tmp_path, tiny_base, epochs=2)
    real_save = loop.save_checkpoint
    calls = {"n": 0}

    def save_then_die(*args, **kwargs):
        real_save(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        IntentTrainer(cfg, progress=False).train()
    ckpt = Path(cfg.output_dir + ".checkpoint")
    saved = json.loads((ckpt / "state.json").read_text())
    assert not Path(cfg.output_dir).exists()
    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    metrics = IntentTrainer(cfg, progress=False, resume=True).train()
    assert saved["global_step"] > 0
    assert metrics["epochs_run"] == 2
    assert Path(cfg.output_dir, "model.safetensors").is_file() and not ckpt.exists()


def test_resume_with_other_settings_is_refused(tmp_path, tiny_base, monkeypatch):
    cfg = _config(tmp_path, tiny_base, epochs=1)

    def die(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt

    real = loop.save_checkpoint
    monkeypatch.setattr(loop, "save_checkpoint", die)
    with pytest.raises(KeyboardInterrupt):
        IntentTrainer(cfg, progress=False).train()
    monkeypatch.setattr(loop, "save_checkpoint", real)
    with pytest.raises(ConfigError, match=r"different settings \(lr\)"):
        IntentTrainer(_config(tmp_path, tiny_base, epochs=1, lr=5e-4), progress=False, resume=True).train()


def test_threshold_from_simulated_out_of_scope_messages():
    probs = np.array([[0.90, 0.08, 0.02], [0.60, 0.30, 0.10], [0.10, 0.70, 0.20], [0.50, 0.25, 0.25]])
    gold = np.array([0, 0, 1, 2])
    # gold removed and renormalised: [.8, .2] -> .8 ; [.75, .25] -> .75 ; [1/3, 2/3] -> 2/3 ; [2/3, 1/3] -> 2/3
    np.testing.assert_allclose(simulated_oos_confidence(probs, gold), [0.8, 0.75, 2 / 3, 2 / 3])
    chosen = choose_threshold(probs, gold, 0.5)
    assert chosen["threshold"] == pytest.approx((0.75 + 2 / 3) / 2)
    assert chosen["simulated_oos_rejected"] == 0.5
    assert chosen["in_scope_kept"] == pytest.approx(1 / 3)  # correct: rows 0 (0.9) 1 (0.6) 2 (0.7); only 0.9 >= 0.708
    assert choose_threshold(probs, gold, 0.0)["threshold"] is None


def test_config_errors():
    with pytest.raises(ConfigError, match=r"The 'epochs' parameter of IntentTrainingConfig must be an int >= 1. Got 0."):
        IntentTrainingConfig(epochs=0)
    with pytest.raises(ConfigError, match=r"Unknown key\(s\) 'epoch' in config for IntentTrainingConfig"):
        IntentTrainingConfig.from_dict({"epoch": 3})
    with pytest.raises(ConfigError, match=r"Unknown key\(s\) 1, 'epoch' in config"):  # YAML allows int keys
        IntentTrainingConfig.from_dict({1: "a", "epoch": 3})
    for name, value, allowed in (("seed", -1, "an int in \\[0, 2\\*\\*32 - 1\\]"), ("seed", 2**32, "an int in"),
                                 ("num_threads", -1, "an int >= 1, or 0 or unset"),
                                 ("weight_decay", float("nan"), "a float in \\[0, 1\\)"),
                                 ("max_grad_norm", -1.0, "a float > 0")):
        with pytest.raises(ConfigError, match=f"The '{name}' parameter of IntentTrainingConfig must be {allowed}"):
            IntentTrainingConfig(**{name: value})


def test_cli_bad_inputs(tmp_path, tiny_base, capsys):
    one_label = _write_toy(tmp_path / "one.csv", {"get_refund": TOY["get_refund"]})
    code = main(["--data", str(one_label), "--base-model", str(tiny_base), "--output-dir", str(tmp_path / "m"), "--no-progress", "-q"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "label" in err and "Traceback" not in err
    (tmp_path / "exists").mkdir()  # an empty folder is filled: the data is what fails here
    code = main(["--data", str(one_label), "--output-dir", str(tmp_path / "exists"), "-q"])
    assert code == 2 and "label" in capsys.readouterr().err
    (tmp_path / "exists" / "metrics.json").write_text("{}")
    code = main(["--data", str(one_label), "--output-dir", str(tmp_path / "exists"), "-q"])
    assert code == 2 and "already exists" in capsys.readouterr().err
    code = main(["--data", str(one_label), "--output-dir", str(tmp_path / "exists"), "--resume", "-q"])
    assert code == 2 and "--resume found no checkpoint to continue in" in capsys.readouterr().err  # nothing to resume: not replaced
    code = main(["--data", str(one_label), "--output-dir", str(tmp_path / "fresh"), "--resume", "-q"])
    assert code == 2 and "Run without --resume to train from the start." in capsys.readouterr().err  # refused, not trained
    assert (tmp_path / "exists" / "metrics.json").read_text() == "{}"
    code = main(["--data", str(_write_toy(tmp_path / "ok.csv", TOY)), "--base-model", str(tmp_path / "nope"),
                 "--output-dir", str(tmp_path / "m2"), "--no-progress", "-q"])
    assert code == 2 and "does not exist" in capsys.readouterr().err
    code = main(["--data", str(tmp_path / "ok.csv"), "--base-model", str(tiny_base), "--max-length", "200",
                 "--output-dir", str(tmp_path / "m3"), "--no-progress", "-q"])
    assert code == 2 and "reads at most 128 tokens; --max-length 200 is longer" in capsys.readouterr().err
    assert not (tmp_path / "m3").exists()


def test_classifier_missing_or_corrupt_folder(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        IntentClassifier(tmp_path / "missing").warm_up()
    bad = tmp_path / "corrupt"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="corrupt"):
        IntentClassifier(bad).warm_up()
    from tests.tiny_models import make_tiny_intent_model

    truncated = make_tiny_intent_model(tmp_path / "truncated", ["a", "b"])
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # an interrupted copy: safetensors' own error, not an OSError
    with pytest.raises(ModelLoadError, match="truncated.*may be incomplete or corrupt"):
        IntentClassifier(truncated).warm_up()


def test_data_errors_are_data_errors(tmp_path):
    with pytest.raises(DataError):
        IntentTrainer(_config(tmp_path, tmp_path, data=str(tmp_path / "absent.csv")), progress=False).train()


def test_packaged_minilm_on_a_few_hundred_bitext_rows(tmp_path, shared_data):
    """The offline default end to end: 10 messages per intent (270 rows), one epoch, save, load, predict."""
    import pandas as pd

    rows = pd.read_csv(shared_data / "bitext" / "bitext_customer_support_4.5k.csv")
    rows = rows.groupby("intent").sample(10, random_state=0)
    rows[["instruction", "intent"]].to_csv(tmp_path / "bitext270.csv", index=False)
    cfg = IntentTrainingConfig(data=str(tmp_path / "bitext270.csv"), base_model="default", output_dir=str(tmp_path / "m"),
                               epochs=1, batch_size=16, max_length=32, seed=0)
    metrics = IntentTrainer(cfg, progress=False).train()
    assert metrics["test"]["n"] == 27 and metrics["validation"]["n"] == 27
    assert metrics["probe_validation_accuracy"] >= 0.5 and metrics["test"]["accuracy"] >= 0.5  # chance is 1/27
    clf = IntentClassifier(cfg.output_dir)
    pred = clf.run(["I want to cancel my order 12345"])["predictions"][0]
    assert len(clf.labels) == 27 and pred.label == "cancel_order"


def _tiny_recipe(base: Path, data: Path) -> dict[str, str]:
    return {"--data": str(data), "--text-column": "utterance", "--label-column": "intent", "--base-model": str(base),
            "--validation-size": "0.2", "--test-size": "0.2", "--epochs": "1", "--batch-size": "4",
            "--max-length": "16", "--seed": "7", "--num-threads": "1"}


def test_first_call_trains_the_default_model_once_in_a_subprocess(tmp_path, tiny_base, monkeypatch, capfd):
    """``nlu.model: auto`` with an empty cache: the bootstrap recipe runs as ``python -m training.finetune_intent``
    (here on the tiny model), the folder appears whole, and the next call reuses it without training."""
    monkeypatch.setenv("SUPPORT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(bootstrap, "BOOTSTRAP_RECIPE", _tiny_recipe(tiny_base, _write_toy(tmp_path / "toy.csv", TOY)))
    target = bootstrap.ensure_default_intent_model()
    assert target == bootstrap.default_intent_model_dir() and target.parent == tmp_path / "cache"
    assert "No trained intent model yet: training the default one" in capfd.readouterr().err
    assert json.loads((target / "resolved_config.json").read_text())["max_length"] == 16
    assert not Path(str(target) + ".checkpoint").exists()
    classifier = IntentClassifier(target)
    classifier.warm_up()
    assert set(classifier.labels) == set(TOY)

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(bootstrap.subprocess, "Popen", no_training)
    assert bootstrap.ensure_default_intent_model() == target


@pytest.mark.parametrize("size", [1, 3, 7, 4096])
def test_the_bootstrap_echo_drops_error_lines_wherever_the_chunks_split(size):
    """The child's stderr arrives in chunks that can split a bar refresh or ``error: `` itself."""
    stream = (b"Training:  10%|#  |\rTraining:  20%|## |\nwarning: slow\nerror: no such file: 'a.csv'. Fix it.\n"
              b"erratum\nerr")
    wanted = b"Training:  10%|#  |\rTraining:  20%|## |\nwarning: slow\nerratum\nerr"
    echo, out, i = bootstrap.ErrorLineFilter(), b"", 0
    while i < len(stream):
        out += echo.feed(stream[i:i + size])
        i += size
    assert out + echo.flush() == wanted


def test_failed_bootstrap_training_is_one_error_and_leaves_no_folder(tmp_path, tiny_base, monkeypatch, capfd):
    monkeypatch.setenv("SUPPORT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(bootstrap, "BOOTSTRAP_RECIPE", _tiny_recipe(tiny_base, tmp_path / "absent.csv"))
    with pytest.raises(ModelLoadError) as info:
        bootstrap.ensure_default_intent_model()
    message = str(info.value)
    assert message.startswith("Could not train the default intent model (") and "absent.csv" in message
    assert message.endswith("Pass a trained model folder with --intent-model DIR, or fix the problem and retry.")
    assert "error: " not in capfd.readouterr().err  # the child's error line is folded into the message, not echoed
    assert not bootstrap.default_intent_model_dir().exists()
