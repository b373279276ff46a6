"""``python -m evaluation.run``: run folder contents, metrics per stage, streaming and resume, bad input."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from evaluation import run as evalrun
from evaluation.run import EvalRunConfig, resolve_config, run_evaluation
from evaluation.run_score import iter_records
from pipeline.errors import ConfigError, DataError
from pipeline.types import IntentPrediction, Reply, Snippet, Turn
from tests.tiny_models import make_tiny_intent_model

INTENTS = ["get_refund", "track_order", "recover_password"]
EXAMPLES = [
    {"message": "I want a refund for order 12345", "intent": "get_refund", "reference": "Your refund is on its way.",
     "snippet_ids": ["refund-window"]},
    {"message": "where is my parcel", "intent": "track_order", "snippet_ids": ["tracking"]},
    {"message": "reset my password please", "intent": "recover_password"},
    {"message": "my password and refund", "intent": "get_refund"},  # predicted recover_password: NLU at fault
    {"message": "what is the weather", "intent": "oos"},  # out of scope, predicted under the threshold
]
SNIPPETS = {
    "get_refund": Snippet("refund-window", ["get_refund"], "Refunds", "Your refund is issued in 5 days."),
    "track_order": Snippet("refund-window", ["get_refund"], "Refunds", "Your refund is issued in 5 days."),  # wrong one
    "recover_password": Snippet("pw-reset", ["recover_password"], "Passwords", "Use the reset link."),
}


class FakeRunner:
    """Stands in for the pipeline: keyword -> (intent, confidence), one snippet per intent, a fixed reply."""

    labels = INTENTS

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, messages):
        self.calls.append(list(messages))
        out = []
        for m in messages:
            label, conf = next(((lbl, c) for key, lbl, c in (("password", "recover_password", 0.9), ("refund", "get_refund", 0.95),
                                                              ("parcel", "track_order", 0.8)) if key in m), ("track_order", 0.3))
            pred = IntentPrediction(label, conf, [(label, conf)], in_scope=conf >= 0.5)
            snippets = [SNIPPETS[label]] if pred.in_scope else []
            checks = ["unsupported_numbers"] if "reset" in m else []
            text = "Your refund is issued in 5 days." if pred.in_scope else "Let me connect you with a person."
            reply = Reply(text=text, checks=checks, fallback=None if pred.in_scope else "out_of_scope")
            out.append(Turn(message=m, intent=pred, snippets=snippets, reply=reply,
                            route="answer" if pred.in_scope else "out_of_scope"))
        return out


@pytest.fixture()
def data_file(tmp_path) -> Path:
    path = tmp_path / "eval.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in EXAMPLES))
    return path


def test_run_folder_and_metrics(tmp_path, data_file):
    config = EvalRunConfig(name="tiny", data=str(data_file), batch_size=2)
    metrics = run_evaluation(config, tmp_path / "run", runner=FakeRunner())
    files = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert files == ["confidence_histogram.png", "confusion_matrix.png", "metrics.json", "per_intent_f1.png",
                     "predictions.jsonl", "reliability_diagram.png", "report.md", "resolved_config.json"]
    records = list(iter_records(tmp_path / "run" / "predictions.jsonl"))
    assert [r["index"] for r in records] == [0, 1, 2, 3, 4]
    assert [r["stage"] for r in records] == ["ok", "retrieval", "nlg", "nlu", "ok"]
    assert [r["fault_reason"] for r in records] == ["", "no_gold_snippet", "guardrail:unsupported_numbers", "wrong_intent", ""]
    assert records[0]["snippets"] == [{"id": "refund-window", "score": None, "intents": ["get_refund"]}]
    assert records[0]["reference"] == "Your refund is on its way." and records[0]["rougeL_f"] > 0
    assert records[1]["gold_snippet_rank"] is None and records[0]["gold_snippet_rank"] == 1

    nlu = metrics["nlu"]
    assert nlu["accuracy"] == pytest.approx(3 / 5)  # refund, parcel, password right; mixed one and oos wrong
    assert nlu["unknown_labels"] == {} and nlu["oos"]["n_oos"] == 1
    assert nlu["oos"]["oos_recall"] == 1.0 and nlu["oos"]["oos_precision"] == 1.0 and nlu["oos"]["auroc"] == 1.0
    assert nlu["oos"]["in_scope_accuracy"] == pytest.approx(3 / 4)
    assert metrics["retrieval"]["intent_consistency"] == 0.5  # 4 answered; parcel's and the mixed one's snippets are off
    assert metrics["retrieval"]["hit@1"] == 0.5 and metrics["retrieval"]["mrr"] == 0.5
    assert metrics["nlg"]["guardrail_pass_rate"] == 0.75 and metrics["nlg"]["fallback_rate"] == 0.2
    assert metrics["nlg"]["n_with_reference"] == 1 and metrics["nlg"]["checks_fired"] == {"unsupported_numbers": 1}
    assert metrics["end_to_end"]["stage_at_fault"] == {"nlu": 1, "retrieval": 1, "nlg": 1, "ok": 2}
    assert metrics["complete"] is True and metrics["throughput"]["messages"] == 5
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["end_to_end"] == metrics["end_to_end"]
    report = (tmp_path / "run" / "report.md").read_text()
    assert "![confusion matrix](confusion_matrix.png)" in report and "| retrieval | 1 | 0.200 |" in report


def test_unknown_gold_label_is_reported_not_a_crash(tmp_path):
    data = tmp_path / "eval.jsonl"
    data.write_text(json.dumps({"message": "where is my parcel", "intent": "lost_parcel"}) + "\n"
                    + json.dumps({"message": "refund please", "intent": "get_refund"}) + "\n")
    metrics = run_evaluation(EvalRunConfig(name="u", data=str(data)), tmp_path / "run", runner=FakeRunner())
    assert metrics["nlu"]["unknown_labels"] == {"lost_parcel": 1} and metrics["nlu"]["accuracy"] == 0.5
    data.write_text(json.dumps({"message": "hi", "intent": "x"}) + "\n[1, 2]\n")  # a row that is not an object
    with pytest.raises(DataError, match=r"eval.jsonl:2: an example must be a JSON object"):
        run_evaluation(EvalRunConfig(name="u", data=str(data)), tmp_path / "run2", runner=FakeRunner())
    data.write_bytes(b'{"message": "caf\xe9", "intent": "x"}\n')  # Latin-1, not UTF-8
    with pytest.raises(DataError, match=r"eval.jsonl is not UTF-8 text \(byte 16\)"):
        run_evaluation(EvalRunConfig(name="u", data=str(data)), tmp_path / "run3", runner=FakeRunner())


def test_interrupted_run_resumes_without_duplicates(tmp_path, data_file):
    config = EvalRunConfig(name="tiny", data=str(data_file), batch_size=2)
    first = run_evaluation(config, tmp_path / "run", runner=FakeRunner(), stop_after=1)
    assert first["n"] == 2 and first["complete"] is False
    with (tmp_path / "run" / "predictions.jsonl").open("a") as handle:
        handle.write('{"index": 2, "mess')  # a write cut off by the interruption
    with pytest.raises(ConfigError, match="already exists. Pass --resume"):
        run_evaluation(config, tmp_path / "run", runner=FakeRunner())
    runner = FakeRunner()
    final = run_evaluation(config, tmp_path / "run", runner=runner, resume=True)
    assert runner.calls == [["reset my password please", "my password and refund"], ["what is the weather"]]
    assert final["n"] == 5 and final["complete"] is True and final["resumed_after"] == 2
    lines = (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(line)["index"] for line in lines] == [0, 1, 2, 3, 4]
    assert final["throughput"]["messages"] == 3
    runner = FakeRunner()
    again = run_evaluation(config, tmp_path / "run", runner=runner, resume=True)  # nothing left to do
    assert runner.calls == [] and again["n"] == 5 and again["throughput"] == final["throughput"]
    other = EvalRunConfig(name="tiny", data=str(data_file), batch_size=3)
    with pytest.raises(ConfigError, match="config differs in batch_size"):
        run_evaluation(other, tmp_path / "run", runner=FakeRunner(), resume=True)


def test_run_folder_of_an_older_version_resumes_from_its_resolved_config_yaml(tmp_path, data_file):
    """A run folder that holds resolved_config.yaml (the name before resolved_config.json) still resumes."""
    config = EvalRunConfig(name="tiny", data=str(data_file), batch_size=2)
    run_evaluation(config, tmp_path / "run", runner=FakeRunner(), stop_after=1)
    (tmp_path / "run" / "resolved_config.json").unlink()  # what an older version wrote instead:
    (tmp_path / "run" / "resolved_config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    other = EvalRunConfig(name="tiny", data=str(data_file), batch_size=3)
    with pytest.raises(ConfigError, match=r"config differs in batch_size\. Pass the same config"):
        run_evaluation(other, tmp_path / "run", runner=FakeRunner(), resume=True)
    final = run_evaluation(config, tmp_path / "run", runner=FakeRunner(), resume=True)
    assert final["n"] == 5 and final["complete"] is True and final["resumed_after"] == 2
    assert json.loads((tmp_path / "run" / "resolved_config.json").read_text()) == config.to_dict()


class CtrlCRunner(FakeRunner):
    """Answers one batch, then the user presses Ctrl-C."""

    def __call__(self, messages):
        if self.calls:
            raise KeyboardInterrupt
        return super().__call__(messages)


def test_ctrl_c_keeps_the_answered_batches_and_says_how_to_resume(tmp_path, data_file, caplog):
    config = EvalRunConfig(name="tiny", data=str(data_file), batch_size=2)
    with pytest.raises(KeyboardInterrupt):
        run_evaluation(config, tmp_path / "run", runner=CtrlCRunner())
    assert f"Interrupted after 2 of 5 examples, which are kept in {tmp_path / 'run' / 'predictions.jsonl'}" in caplog.text
    assert f"rerun the same command with --resume --run-dir {tmp_path / 'run'}." in caplog.text
    assert run_evaluation(config, tmp_path / "run", runner=FakeRunner(), resume=True)["resumed_after"] == 2


def test_config_errors(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: bitext\nnlu_onyl: true\n")
    assert evalrun.main(["--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "Unknown key(s) 'nlu_onyl'" in err and "Valid keys: name, data" in err
    bad.write_text("nlu:\n  modle: x\n")
    with pytest.raises(ConfigError, match=r"Unknown key\(s\) 'modle'"):
        resolve_config(str(bad))
    assert resolve_config("configs/eval/banking77.yaml").nlu_only is True
    assert resolve_config("configs/eval/bitext.yaml", {"limit": "7"}).limit == 7
    with pytest.raises(ConfigError, match=r"The 'name' parameter of EvalRunConfig must be letters, digits"):
        resolve_config("configs/eval/bitext.yaml", {"name": "../../elsewhere"})  # it names the run folder
    assert evalrun.main(["--compare", "configs/eval/bitext.yaml"]) == 2
    assert "--compare needs two or more config files" in capsys.readouterr().err
    assert evalrun.main(["--compare", "configs/eval/bitext.yaml", "configs/eval/banking77.yaml",
                         "--run-dir", str(tmp_path / "r")]) == 2
    assert "drop --config, --run-dir and --resume" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert evalrun.main(["--config", "configs/eval/bitext.yaml", "--output-dir", str(tmp_path / "file")]) == 2
    assert "which is a file. Choose a path under a folder." in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_intent_model(tmp_path_factory) -> Path:
    return make_tiny_intent_model(tmp_path_factory.mktemp("intent") / "tiny", INTENTS)


def test_cli_nlu_only_refuses_existing_folder_and_compares(tmp_path, capsys, data_file, tiny_intent_model):
    config = tmp_path / "tiny.yaml"
    config.write_text(f"data: {data_file}\nnlu_only: true\nbatch_size: 2\nnlu:\n  model: {tiny_intent_model}\n")
    run_dir = tmp_path / "runs" / "one"
    assert evalrun.main(["--config", str(config), "--run-dir", str(run_dir), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n"] == 5 and metrics["stages"] == ["nlu"] and "retrieval" not in metrics
    assert metrics["nlu"]["oos"]["n_oos"] == 1 and sum(metrics["end_to_end"]["stage_at_fault"].values()) == 5
    record = next(iter_records(run_dir / "predictions.jsonl"))
    assert "reply" not in record and len(record["ranking"]) == 3
    assert evalrun.main(["--config", str(config), "--run-dir", str(run_dir)]) == 2
    assert "already exists" in capsys.readouterr().err
    saved = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    # --overwrite replaces the run only once the model and data have loaded: a bad one leaves it as it was
    assert evalrun.main(["--config", str(config), "--run-dir", str(run_dir), "--overwrite",
                         "--intent-model", str(tmp_path / "no-model")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert evalrun.main(["--config", str(config), "--run-dir", str(run_dir), "--overwrite",
                         "--data", str(tmp_path / "no-data.jsonl")]) == 2
    capsys.readouterr()
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == saved
    assert evalrun.main(["--config", str(config), "--run-dir", str(tmp_path / "runs" / "two"),
                         "--data", str(tmp_path / "no-data.jsonl")]) == 2
    assert not (tmp_path / "runs" / "two").exists()  # no stub folder to block the retry
    capsys.readouterr()
    assert evalrun.main(["--config", str(config), "--run-dir", str(run_dir), "--overwrite", "--limit", "3"]) == 0
    assert len((run_dir / "predictions.jsonl").read_text().splitlines()) == 3
    capsys.readouterr()

    other = tmp_path / "other.yaml"
    other.write_text(config.read_text().replace("batch_size: 2", "batch_size: 4"))
    assert evalrun.main(["--compare", str(config), str(other), "--output-dir", str(tmp_path / "cmp"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["same_test_set"] is True and list(summary["runs"]) == ["tiny", "other"]
    assert summary["runs"]["tiny"]["nlu.accuracy"] == summary["runs"]["other"]["nlu.accuracy"]
    folder = next((tmp_path / "cmp").iterdir())
    assert sorted(p.name for p in folder.iterdir()) == ["compare.json", "compare.md", "other", "tiny"]
    assert "| tiny | 5 |" in (folder / "compare.md").read_text()


class EntityRunner(FakeRunner):
    """FakeRunner whose turns carry pattern entities, as the assistant's do."""

    def __call__(self, messages):
        from pipeline.nlu.entities import extract_entities

        out = super().__call__(messages)
        for turn, m in zip(out, messages):
            turn.entities = extract_entities(m)
        return out


def test_entities_scored_and_personal_data_masked_in_predictions(tmp_path):
    message = "refund order 4471 to ana@example.com"
    data = tmp_path / "ents.jsonl"
    data.write_text(json.dumps({"message": message, "intent": "get_refund",
                                "entities": [{"type": "order_number", "start": 13, "end": 17},
                                             {"type": "email", "start": 21, "end": 36}]}) + "\n"
                    + json.dumps({"message": "where is the thing I bought, ref AB", "intent": "track_order",
                                  "entities": [{"type": "order_number", "start": 33, "end": 35}]}) + "\n")
    metrics = run_evaluation(EvalRunConfig(name="e", data=str(data)), tmp_path / "run", runner=EntityRunner())
    ents = metrics["entities"]
    assert (ents["correct"], ents["predicted"], ents["support"]) == (2, 2, 3)  # "AB" is no order number pattern
    assert ents["per_type"]["order_number"]["recall"] == 0.5 and ents["per_type"]["email"]["f1"] == 1.0
    (first, _) = list(iter_records(tmp_path / "run" / "predictions.jsonl"))
    assert first["message"] == "refund order 4471 to [EMAIL]"
    assert [(e["type"], e["text"], e["start"]) for e in first["entities"]] == [("order_number", "4471", 13), ("email", "[EMAIL]", 21)]
    assert first["gold_entities"] == [["order_number", 13, 17], ["email", 21, 36]]
    assert "## Entities (exact span and type)" in (tmp_path / "run" / "report.md").read_text()
    runner = EntityRunner()
    runner.keep_pii = True
    run_evaluation(EvalRunConfig(name="e", data=str(data)), tmp_path / "keep", runner=runner)
    assert next(iter_records(tmp_path / "keep" / "predictions.jsonl"))["message"] == message


TOY_SPLIT = {label: [f"{label.replace('_', ' ')} message number {i}" for i in range(10)] for label in INTENTS}


@pytest.mark.parametrize("name", ["resolved_config.json", "training_config.json"])  # the name older model folders use
def test_load_examples_carves_the_models_held_out_split(tmp_path, caplog, name):
    """A CSV source is split with the seed and sizes of the model's resolved config, as at training time."""
    from evaluation.run_data import load_examples
    from training.data import load_intent_data

    csv_path = tmp_path / "toy.csv"
    csv_path.write_text("text,label\n" + "".join(f"{t},{lbl}\n" for lbl, ts in TOY_SPLIT.items() for t in ts))
    model = tmp_path / "model"
    model.mkdir()
    (model / name).write_text(json.dumps({"data": "bitext", "seed": 7, "validation_size": 0.2, "test_size": 0.3}))
    examples, meta = load_examples(str(csv_path), model=str(model))
    test = load_intent_data(str(csv_path), seed=7, validation_size=0.2, test_size=0.3).test
    assert [(e.message, e.intent, e.intents) for e in examples] == [(t, lbl, [lbl]) for t, lbl in zip(test.texts, test.labels)]
    assert meta["n"] == 9 and meta["split"] == "test" and meta["split_settings"]["seed"] == 7
    assert "The model was trained on 'bitext'" in caplog.text
    subset, meta = load_examples(str(csv_path), model=str(model), limit=4)
    assert meta["n"] == 4 and len(subset) == 4
    positions = [examples.index(e) for e in subset]
    assert positions == sorted(positions)  # a seeded subset, in the split's order
    assert load_examples(str(csv_path), model=str(model), limit=4)[0] == subset


def test_load_examples_from_the_retrieval_set():
    from evaluation.run_data import load_examples
    from knowledge_base.loader import default_retrieval_set_path, load_retrieval_set

    labelled = load_retrieval_set(default_retrieval_set_path())
    examples, meta = load_examples("retrieval-set")
    assert meta["split"] == "all" and meta["n"] == len(labelled) == meta["n_with_gold_snippets"]
    assert [(e.message, e.intent, e.intents, e.snippet_ids) for e in examples] == [
        (x.message, x.intents[0], list(x.intents), list(x.snippet_ids)) for x in labelled]
    dev, meta = load_examples(str(default_retrieval_set_path().with_name("retrieval_dev.yaml")))
    assert meta["n"] == len(dev) == 150


def test_references_come_from_the_bitext_file(tmp_path, shared_data):
    from evaluation.run_data import load_examples
    from training.generator_data import read_bitext_rows

    row = read_bitext_rows()[0]
    path = tmp_path / "refs.jsonl"
    path.write_text(json.dumps({"message": "  " + row["message"].upper() + " ", "intent": row["intent"]}) + "\n"
                    + json.dumps({"message": "a message Bitext does not hold", "intent": "get_refund"}) + "\n")
    examples, meta = load_examples(str(path), references="bitext-4.5k")
    assert meta["n_with_reference"] == 1 and [e.reference for e in examples] == [row["response"], None]
    with pytest.raises(ConfigError, match="'references' parameter of EvalRunConfig must be one of 'none', 'bitext-4.5k'"):
        load_examples(str(path), references="bitext")
