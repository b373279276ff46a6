"""The ONNX answer path on tiny random models: export, parity with torch, runtime choice, bad files, and no torch at answer time."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pipeline import export
from pipeline.errors import ConfigError, ModelLoadError
from pipeline.nlu.classifier import IntentClassifier
from pipeline.onnx_runtime import GRAPHS, ONNX_DIR, REPORT, TOKENIZER, OnnxEncoder, choose_runtime, read_report
from pipeline.retrieval.embedding import SentenceEncoder
from tests.tiny_models import make_tiny_distilbert, make_tiny_intent_model

LABELS = ["cancel_order", "get_refund", "track_order"]
MESSAGES = ["where is my order", "I want a refund for order 12345", "cancel it", "hi",
            "my parcel arrived damaged and I want my money back, what now?"]


@pytest.fixture(scope="module")
def head_model(tmp_path_factory) -> Path:
    """A tiny mean-pooling intent model (the training script's kind): its graph outputs embedding and logits."""
    from transformers import AutoModel, AutoTokenizer

    from pipeline.nlu.intent_model import build_intent_model

    base = make_tiny_distilbert(tmp_path_factory.mktemp("base") / "tiny", MESSAGES)
    folder = tmp_path_factory.mktemp("intent") / "head"
    model = build_intent_model(AutoModel.from_pretrained(base), LABELS)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(base).save_pretrained(folder)
    export.export_intent_model(folder, MESSAGES, max_length=32)
    return folder


@pytest.fixture(scope="module")
def seq_model(tmp_path_factory) -> Path:
    """A tiny ``AutoModelForSequenceClassification`` folder: its graph outputs logits only."""
    return make_tiny_intent_model(tmp_path_factory.mktemp("seq") / "tiny", LABELS, MESSAGES)


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SUPPORT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_export_writes_both_graphs_and_a_report(head_model):
    onnx_dir = head_model / ONNX_DIR
    assert {p.name for p in onnx_dir.iterdir()} == {GRAPHS["onnx"], GRAPHS["onnx-int8"], TOKENIZER, REPORT}
    report = read_report(onnx_dir)
    assert report["kind"] == "intent" and report["outputs"] == {"embedding": 32, "logits": 3}
    assert report["max_length"] == 32 and report["parity_messages"] == len(MESSAGES) and report["opset"] == export.OPSET
    assert report["parity"]["onnx"]["intent_agreement"] == 1.0
    assert report["parity"]["onnx"]["logits_max_abs_diff"] <= export.FP32_TOLERANCE
    assert isinstance(report["int8_ok"], bool) and "weights" in report
    assert not any(p.name.startswith(".") for p in head_model.iterdir())  # the temporary folder was renamed away


@pytest.mark.parametrize("runtime", ["onnx", "onnx-int8"])
def test_onnx_classifier_matches_torch(head_model, runtime):
    torch_clf = IntentClassifier(head_model, max_length=32, runtime="torch")
    onnx_clf = IntentClassifier(head_model, max_length=32, runtime=runtime, batch_size=2)
    ref, got = torch_clf.logits(MESSAGES), onnx_clf.logits(MESSAGES)
    assert onnx_clf.runtime_used == runtime and torch_clf.runtime_used == "torch"
    assert got.shape == (5, 3) and onnx_clf.labels == LABELS
    np.testing.assert_allclose(got, ref, atol=1e-4 if runtime == "onnx" else 0.2)
    if runtime == "onnx":
        assert [p.label for p in onnx_clf.run(MESSAGES)["predictions"]] == [p.label for p in torch_clf.run(MESSAGES)["predictions"]]
    assert onnx_clf.logits([]).shape == (0, 3)


def test_sequence_classification_model_exports_logits_only(seq_model):
    report = export.export_intent_model(seq_model, MESSAGES)
    assert report["outputs"] == {"logits": 3} and report["max_length"] == 128
    np.testing.assert_allclose(IntentClassifier(seq_model, runtime="onnx").logits(MESSAGES),
                               IntentClassifier(seq_model, runtime="torch").logits(MESSAGES), atol=1e-4)


def test_auto_picks_int8_only_when_its_parity_passed(head_model, tmp_path, caplog):
    onnx_dir = head_model / ONNX_DIR
    report = read_report(onnx_dir)
    assert choose_runtime("auto", onnx_dir, "intent model") == ("onnx-int8" if report["int8_ok"] else "onnx")
    copy = tmp_path / ONNX_DIR
    copy.mkdir()
    for name in (GRAPHS["onnx"], TOKENIZER):
        (copy / name).write_bytes((onnx_dir / name).read_bytes())
    (copy / REPORT).write_text(json.dumps({**report, "int8_ok": False}))
    assert choose_runtime("auto", copy, "intent model") == "onnx"
    (copy / REPORT).write_text(json.dumps({**report, "int8_ok": True}))  # usable, but the int8 file is missing
    assert choose_runtime("auto", copy, "intent model") == "onnx"
    with caplog.at_level(logging.INFO, logger="pipeline.onnx_runtime"):
        assert choose_runtime("auto", tmp_path / "none", "intent model") == "torch"
    assert "intent model: torch runtime (no ONNX export in" in caplog.text
    with pytest.raises(ModelLoadError, match=r"has no model_int8.onnx export in .*Run 'python -m pipeline.export"):
        choose_runtime("onnx-int8", copy, "intent model")
    with pytest.raises(ConfigError, match="runtime"):
        choose_runtime("tensorrt", copy, "intent model")


def test_without_onnxruntime_auto_is_torch_and_explicit_onnx_fails(head_model, monkeypatch, caplog):
    monkeypatch.setattr("pipeline.onnx_runtime.onnxruntime_available", lambda: False)
    with caplog.at_level(logging.INFO, logger="pipeline.onnx_runtime"):
        assert choose_runtime("auto", head_model / ONNX_DIR, "intent model") == "torch"
    assert caplog.text.count("onnxruntime is not installed") == 1
    with pytest.raises(ConfigError, match=r"needs onnxruntime. Install it \(pip install onnxruntime\) or set the runtime to 'torch'"):
        choose_runtime("onnx", head_model / ONNX_DIR, "intent model")


def test_stale_export_is_refused_or_skipped(head_model, tmp_path, caplog):
    import shutil

    folder = tmp_path / "retrained"
    shutil.copytree(head_model, folder)
    weights = folder / "model.safetensors"
    os.utime(weights, (time.time() + 100, time.time() + 100))  # retrained after the export
    with pytest.raises(ModelLoadError, match="was made from other weights. Run 'python -m pipeline.export --model"):
        IntentClassifier(folder, runtime="onnx").warm_up()
    with caplog.at_level(logging.INFO, logger="pipeline.onnx_runtime"):
        clf = IntentClassifier(folder, runtime="auto")
        clf.warm_up()
    assert clf.runtime_used == "torch" and "older than the weights" in caplog.text


def test_corrupt_graph_is_one_clear_error(head_model, tmp_path):
    import shutil

    folder = tmp_path / "corrupt"
    shutil.copytree(head_model, folder)
    (folder / ONNX_DIR / GRAPHS["onnx"]).write_bytes(b"not a graph")
    with pytest.raises(ModelLoadError, match=r"^Cannot load .*model.onnx .*Run 'python -m pipeline.export --model"):
        OnnxEncoder(folder / ONNX_DIR, "onnx").warm_up()
    (folder / ONNX_DIR / REPORT).unlink()
    with pytest.raises(ModelLoadError, match="is not a complete ONNX export"):
        OnnxEncoder(folder / ONNX_DIR, "onnx").warm_up()


def test_failed_parity_keeps_the_old_export(head_model, tmp_path, monkeypatch):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(head_model, folder)
    before = (folder / ONNX_DIR / GRAPHS["onnx"]).read_bytes()
    monkeypatch.setattr(export, "FP32_TOLERANCE", -1.0)  # no export can pass
    with pytest.raises(ModelLoadError, match="does not match the torch model .*nothing was written"):
        export.export_intent_model(folder, MESSAGES, max_length=32)
    assert (folder / ONNX_DIR / GRAPHS["onnx"]).read_bytes() == before
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []
    assert export.try_export_intent_model(folder, "model") is False  # the training path logs and carries on


def test_encoder_export_once_into_the_cache(cache, tmp_path):
    base = make_tiny_distilbert(tmp_path / "enc", MESSAGES)
    torch_enc = SentenceEncoder(str(base), runtime="torch")
    onnx_enc = SentenceEncoder(str(base), runtime="auto", batch_size=2)
    assert onnx_enc.runtime == "onnx" or onnx_enc.runtime == "onnx-int8"
    exported = list((cache / "onnx").iterdir())
    assert len(exported) == 1 and read_report(exported[0] / ONNX_DIR)["outputs"] == {"embedding": 32}
    stamp = (exported[0] / ONNX_DIR / GRAPHS["onnx"]).stat().st_mtime_ns
    fp32 = SentenceEncoder(str(base), runtime="onnx")
    np.testing.assert_allclose(fp32.encode(MESSAGES), torch_enc.encode(MESSAGES), atol=1e-5)
    assert fp32.dim == 32 and fp32.encode([]).shape == (0, 32)
    assert fp32.name == torch_enc.name + "|runtime=onnx"  # ONNX vectors get their own embedding-cache entries
    assert export.export_encoder(str(base)) == exported[0] / ONNX_DIR  # already there: not exported again
    assert (exported[0] / ONNX_DIR / GRAPHS["onnx"]).stat().st_mtime_ns == stamp


def test_cli(head_model, tmp_path, capsys):
    messages = tmp_path / "messages.txt"
    messages.write_text("where is my order\n\nrefund please\n")
    assert export.main(["--model", str(head_model), "--messages", str(messages), "--json", "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["folder"] == str(head_model / ONNX_DIR) and report["parity_messages"] == 2
    assert export.main(["--model", str(tmp_path / "missing"), "-q"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert export.main(["--model", str(head_model), "--messages", str(tmp_path / "none.txt"), "-q"]) == 2
    assert capsys.readouterr().err.startswith("error: The messages file")


def test_respond_on_onnx_imports_neither_torch_nor_transformers(head_model, cache, tmp_path):
    """The answer path with ONNX runtimes: a subprocess answers, then its ``sys.modules`` is checked."""
    encoder = make_tiny_distilbert(tmp_path / "enc", MESSAGES)
    export.export_encoder(str(encoder))
    config = tmp_path / "respond.yaml"
    config.write_text(f"nlu:\n  model: {head_model}\n  runtime: onnx\nretrieval:\n  encoder: {encoder}\n  runtime: onnx\n")
    script = ("import sys, json\nfrom pipeline import respond\n"
              f"rc = respond.main(['--config', {str(config)!r}, '--json', 'where is my order 12345'])\n"
              "print(json.dumps({'rc': rc, 'loaded': sorted(m for m in ('torch', 'transformers') if m in sys.modules)}))\n")
    env = {**os.environ, "SUPPORT_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr[-2000:]
    *trace, last = proc.stdout.strip().splitlines()
    assert json.loads(last) == {"rc": 0, "loaded": []}
    assert json.loads("\n".join(trace))["intent"]["label"] in LABELS
