"""NLU evaluation: report folder written from a fake classifier, CLI behaviour, plots."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from evaluation import nlu, plots
from evaluation.nlu import OUTPUT_FILES, evaluate_model
from pipeline.errors import ConfigError
from pipeline.types import IntentPrediction


@pytest.fixture(autouse=True)
def _no_logging_setup(monkeypatch):
    """main() configures the root logger (and imports transformers to quiet it); not wanted inside pytest."""
    monkeypatch.setattr("pipeline.utils.setup_logging", lambda *a, **k: None)

LABELS = ["cancel_order", "get_refund", "track_order"]

# message -> calibrated probabilities over LABELS
ROWS = {
    "cancel my order": [0.90, 0.05, 0.05],
    "i want my money back": [0.10, 0.80, 0.10],
    "where is my parcel": [0.05, 0.15, 0.80],
    "refund the order i cancelled": [0.60, 0.30, 0.10],  # gold get_refund: wrong
    "has it shipped": [0.20, 0.20, 0.60],
    "change my address": [0.10, 0.30, 0.60],  # gold change_address: unknown to the model
}
GOLD = ["cancel_order", "get_refund", "track_order", "get_refund", "track_order", "change_address"]


class FakeClassifier:
    """Looks messages up in ROWS; records the batches it was given."""

    labels = LABELS
    temperature = 1.5
    threshold = 0.5

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def run(self, messages, top_k=None, return_probs=False):
        self.batches.append(list(messages))
        probs = np.array([ROWS[m] for m in messages])
        preds = []
        for row in probs:
            order = np.argsort(-row, kind="stable")[: top_k or 3]
            conf = float(row[order[0]])
            preds.append(IntentPrediction(LABELS[order[0]], conf, [(LABELS[j], float(row[j])) for j in order],
                                          in_scope=conf >= self.threshold))
        out = {"predictions": preds}
        if return_probs:
            out["probabilities"] = probs
        return out


def _split():
    return SimpleNamespace(texts=list(ROWS), labels=list(GOLD))


def test_evaluate_model_writes_the_report_folder(tmp_path):
    out = tmp_path / "eval"
    clf = FakeClassifier()
    ev, metrics = evaluate_model(clf, _split(), out, batch_size=2, n_bins=10, progress=False,
                                 meta={"model": "fake", "seed": 7}, config={"split": "test"})
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
    assert [len(b) for b in clf.batches] == [6]  # one chunk of 8 * batch_size
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["accuracy"] == pytest.approx(4 / 6)
    assert saved["n"] == 6 and saved["n_errors"] == 2
    assert saved["unknown_labels"] == {"change_address": 1}
    assert saved["temperature"] == 1.5 and saved["threshold"] == 0.5
    assert saved["model"] == "fake" and saved["seed"] == 7
    assert saved["primary_metric"] == "macro_f1"
    assert set(saved["timings"]) >= {"predict_ms", "ms_per_message", "messages_per_s"}
    # cancel_order: P=1/2 R=1 -> 2/3; get_refund: P=1 R=1/2 -> 2/3; track_order: P=2/3 R=1 -> 4/5;
    # change_address: 0 -> macro (2/3 + 2/3 + 4/5 + 0) / 4 = 8/15
    assert saved["macro_f1"] == pytest.approx(8 / 15)
    errors = json.loads((out / "errors.json").read_text())
    assert [(e["message"], e["gold"], e["pred"]) for e in errors] == [
        ("refund the order i cancelled", "get_refund", "cancel_order"),
        ("change my address", "change_address", "track_order"),
    ]
    assert errors[0]["top"] == [{"label": "cancel_order", "probability": 0.6},
                                {"label": "get_refund", "probability": 0.3},
                                {"label": "track_order", "probability": 0.1}]
    report = json.loads((out / "intent_report.json").read_text())
    assert report["get_refund"]["confused_with"] == [{"label": "cancel_order", "count": 1}]
    assert report["change_address"]["support"] == 1
    assert json.loads((out / "resolved_config.json").read_text()) == {"split": "test"}
    assert (out / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_model_refuses_a_non_empty_folder_unless_overwrite(tmp_path):
    out = tmp_path / "eval"
    out.mkdir()
    (out / "old.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="is not empty. Pass --overwrite"):
        evaluate_model(FakeClassifier(), _split(), out, progress=False)
    assert (out / "old.txt").read_text() == "keep me"
    evaluate_model(FakeClassifier(), _split(), out, overwrite=True, progress=False)
    assert not (out / "old.txt").exists() and (out / "metrics.json").is_file()


def test_a_failed_run_leaves_no_partial_folder(tmp_path):
    class Broken(FakeClassifier):
        def run(self, messages, top_k=None, return_probs=False):
            out = super().run(messages, top_k, return_probs)
            out["probabilities"] = out["probabilities"][:, :2]  # wrong shape -> evaluation error
            return out

    with pytest.raises(ValueError, match="probabilities must have shape"):
        evaluate_model(Broken(), _split(), tmp_path / "eval", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_subsample_is_seeded_and_keeps_order():
    texts, labels = [f"m{i}" for i in range(10)], [f"l{i}" for i in range(10)]
    t1, l1 = nlu.subsample(texts, labels, 4, seed=1)
    assert t1 == nlu.subsample(texts, labels, 4, seed=1)[0]
    assert len(t1) == 4 and t1 == sorted(t1, key=lambda m: int(m[1:]))
    assert [int(m[1:]) for m in t1] == [int(lab[1:]) for lab in l1]
    assert nlu.subsample(texts, labels, None, seed=1) == (texts, labels)


def test_cli_with_injected_classifier_and_data(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(nlu, "load_classifier", lambda config: FakeClassifier())
    fake_data = SimpleNamespace(name="toy", test=_split())
    monkeypatch.setattr(nlu, "load_split", lambda args, config: (fake_data, getattr(fake_data, config.split)))
    out = tmp_path / "eval"
    rc = nlu.main(["--model", "fake-model", "--data", "toy", "--output-dir", str(out), "--seed", "3",
                   "--no-progress"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert printed.startswith("test: accuracy 0.6667  macro-F1 0.5333  ECE ")
    assert "(1 with labels unknown to the model)" in printed
    config = json.loads((out / "resolved_config.json").read_text())
    assert config["seed"] == 3 and config["split"] == "test" and config["data_args"]["data"] == "toy"
    # a second run into the same folder is refused with one line, exit 2
    rc = nlu.main(["--model", "fake-model", "--data", "toy", "--output-dir", str(out), "--json"])
    assert rc == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
    rc = nlu.main(["--model", "fake-model", "--data", "toy", "--output-dir", str(out), "--json", "--overwrite",
                   "--limit", "3", "--no-progress"])
    assert rc == 0
    assert json.loads(capsys.readouterr().out)["n"] == 3
    saved = {p.name: p.read_bytes() for p in out.iterdir()}
    again = ["--model", "fake-model", "--data", "toy", "--output-dir", str(out), "--overwrite", "--no-progress"]
    # a slot model that is missing, or fails once loaded, leaves the earlier report whole
    assert nlu.main([*again, "--slot-model", str(tmp_path / "no-slots")]) == 2
    assert "slot model folder" in capsys.readouterr().err
    slots = tmp_path / "slots"
    slots.mkdir()
    (slots / "config.json").write_text("{}")
    monkeypatch.setattr(nlu, "_slot_report", lambda config: (_ for _ in ()).throw(ConfigError("bad slot data")))
    assert nlu.main([*again, "--slot-model", str(slots)]) == 2
    assert capsys.readouterr().err == "error: bad slot data\n"
    assert {p.name: p.read_bytes() for p in out.iterdir()} == saved
    scores = {"f1": 0.5, "per_type": {"order_number": {"f1": 0.5}}}
    monkeypatch.setattr(nlu, "_slot_report", lambda config: (scores, {"entity_report.json": scores["per_type"],
                                                                      "entity_errors.json": [{"text": "x"}]}))
    assert nlu.main([*again, "--slot-model", str(slots), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["entities"] == scores
    assert json.loads((out / "metrics.json").read_text())["entities"] == scores
    assert json.loads((out / "entity_errors.json").read_text()) == [{"text": "x"}]


def test_cli_missing_model_folder_is_one_line(tmp_path, capsys):
    pytest.importorskip("pipeline.nlu.classifier")
    rc = nlu.main(["--model", str(tmp_path / "no-such-model"), "--data", "bitext",
                   "--output-dir", str(tmp_path / "eval")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: ") and "does not exist" in err and err.count("\n") == 1
    assert not (tmp_path / "eval").exists()


def test_cli_checks_the_data_before_loading_the_model(tmp_path, monkeypatch, capsys):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    data = tmp_path / "d.csv"
    data.write_text("text,label\nhello there,a\nbye now,b\n")
    monkeypatch.setattr(nlu, "load_classifier", lambda config: pytest.fail("the model was loaded before the data"))
    rc = nlu.main(["--model", str(model), "--data", str(data), "--text-column", "msg",
                   "--output-dir", str(tmp_path / "eval"), "-q"])
    assert rc == 2
    assert capsys.readouterr().err == (f"error: Column 'msg' (--text-column) is not in {data}. "
                                       "Available columns: 'text', 'label'.\n")
    assert not (tmp_path / "eval").exists()


def test_cli_rejects_a_bad_split(tmp_path, capsys):
    rc = nlu.main(["--model", "m", "--data", "toy", "--output-dir", str(tmp_path / "e"), "--split", "dev"])
    assert rc == 2
    assert "The 'split' parameter of NLUEvalConfig must be one of test, validation, train. Got 'dev'." in \
        capsys.readouterr().err


@pytest.mark.parametrize("name", ["resolved_config.json", "training_config.json"])  # the name older model folders use
def test_split_settings_come_from_the_model_unless_given(tmp_path, name):
    import argparse

    (tmp_path / name).write_text(
        json.dumps({"seed": 11, "test_size": 0.2, "max_per_label": 20, "data": "bitext"}))
    args = argparse.Namespace(data="bitext", validation_size=None, test_size=None, max_per_label=None)
    config = nlu.NLUEvalConfig(model=str(tmp_path), output_dir="out")
    assert nlu.fill_split_settings(args, config) == {"seed": 11, "test_size": 0.2, "max_per_label": 20}
    assert (config.seed, args.test_size, args.validation_size, args.max_per_label) == (11, 0.2, 0.1, 20)
    args = argparse.Namespace(data="bitext", validation_size=0.05, test_size=None, max_per_label=5)
    config = nlu.NLUEvalConfig(model=str(tmp_path), output_dir="out", seed=5)
    assert nlu.fill_split_settings(args, config) == {"test_size": 0.2}
    assert (config.seed, args.test_size, args.validation_size, args.max_per_label) == (5, 0.2, 0.05, 5)
    config = nlu.NLUEvalConfig(model=str(tmp_path / "missing"), output_dir="out")
    args = argparse.Namespace(data="bitext", validation_size=None, test_size=None)
    assert nlu.fill_split_settings(args, config) == {}
    assert (config.seed, args.test_size) == (42, 0.1)


@pytest.mark.parametrize("n", [3, pytest.param(85, marks=pytest.mark.slow)])
def test_confusion_matrix_plot_sizes_with_labels(tmp_path, n):
    from matplotlib.image import imread

    labels = [f"intent_{i:02d}" for i in range(n)]
    matrix = np.eye(n, dtype=int) * 10
    matrix[0, 1] = 3
    path = plots.plot_confusion_matrix(labels, matrix, tmp_path / "cm.png", max_labels=80)
    height, width = imread(path).shape[:2]
    assert (height > 1500) == (n > 40)  # the figure grows with the label count
    with pytest.raises(ValueError, match="matrix must be 3x3"):
        plots.plot_confusion_matrix(["a", "b", "c"], np.eye(2), tmp_path / "bad.png")


def test_keeps_labels_with_most_errors_when_over_the_limit():
    matrix = np.diag([5, 5, 5, 5])
    matrix[3, 2] = 4
    matrix[1, 0] = 1
    assert plots._select_labels(["a", "b", "c", "d"], matrix, 2) == [2, 3]


def _tiny_intent_model(folder: Path, texts: list[str]) -> Path:
    """A random 2-layer DistilBERT classifier over LABELS, with a stored temperature and threshold."""
    from transformers import AutoModelForSequenceClassification

    from tests.tiny_models import make_tiny_distilbert

    base = make_tiny_distilbert(folder / "base", texts)
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
        label2id={lbl: i for i, lbl in enumerate(LABELS)})
    out = folder / "intent"
    model.save_pretrained(out)
    for name in base.iterdir():
        if "token" in name.name or name.name == "vocab.txt":
            (out / name.name).write_bytes(name.read_bytes())
    (out / "calibration.json").write_text(json.dumps({"temperature": 2.0, "threshold": 0.4}))
    return out


@pytest.mark.slow
def test_cli_end_to_end_with_a_tiny_real_model(tmp_path, capsys):
    pytest.importorskip("transformers")
    texts = list(ROWS)
    model = _tiny_intent_model(tmp_path, texts)
    data = tmp_path / "data"
    data.mkdir()
    rows = {"train": [("cancel the order", "cancel_order"), ("refund me", "get_refund"), ("track it", "track_order"),
                      ("stop my order", "cancel_order"), ("money back", "get_refund"), ("where is it", "track_order")],
            "validation": [("cancel it", "cancel_order"), ("refund it", "get_refund"), ("locate it", "track_order")],
            "test": list(zip(texts, GOLD))}
    for split, pairs in rows.items():
        (data / f"{split}.csv").write_text("text,label\n" + "".join(f'"{t}",{lbl}\n' for t, lbl in pairs))
    out = tmp_path / "eval"
    rc = nlu.main(["--model", str(model), "--data", str(data), "--output-dir", str(out), "--json", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n"] == 6 and metrics["temperature"] == 2.0 and metrics["threshold"] == 0.4
    assert metrics["unknown_labels"] == {"change_address": 1}
    errors = json.loads((out / "errors.json").read_text())
    assert len(errors) == metrics["n_errors"] == round(6 * (1 - metrics["accuracy"]))
    assert all(len(e["top"]) == 3 for e in errors)
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
