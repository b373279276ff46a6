"""ROUGE-L evaluation of reply generators on a toy Bitext-style file and a one-file knowledge base."""
from __future__ import annotations

import csv
import json
import shutil

import pytest

from evaluation.generation import RetrievalBaseline, main, rouge_l, score_replies
from pipeline.nlu.entities import extract_entities
from pipeline.reply.guardrails import Guardrails
from pipeline.types import Snippet
from training.generator_data import GenerationExample

KB_YAML = """
- id: refund-window
  intents: [get_refund]
  title: Refund window
  text: Refunds are issued within 5-7 business days of the return arriving.
- id: track-order
  intents: [track_order]
  title: Tracking
  text: Track an order under Account > Orders with the tracking link.
"""


def test_rouge_l_exact_values():
    scores = rouge_l(["the refund takes five days", "hello"], ["the refund takes five days", "refunds take days"])
    assert scores[0] == {"p": 1.0, "r": 1.0, "f": 1.0}
    assert scores[1] == {"p": 0.0, "r": 0.0, "f": 0.0}
    # stemming: "refunds take" matches "refund taking"
    assert rouge_l(["refund taking days"], ["refunds take days"])[0]["f"] == pytest.approx(1.0)


def test_retrieval_baseline_answers_with_the_nearest_training_reply_refilled():
    base = RetrievalBaseline().fit(["where is my order", "i want a refund"], ["Track order {{Order Number}} online.", "Refunds take a week."])
    out = base.run(["where is my order 55555 now", "refund please"], [extract_entities("where is my order 55555 now"), []])
    assert out["replies"] == ["Track order 55555 online.", "Refunds take a week."]
    assert out["neighbours"] == [0, 1]


def test_score_replies_aggregates_rouge_and_guardrails():
    snip = Snippet(id="r", intents=["get_refund"], title="Refunds", text="Refunds take 5 days.")
    examples = [GenerationExample(message="refund?", intent="get_refund", reference="Refunds take 5 days to arrive.", snippets=[snip])] * 2
    result = score_replies(examples, ["Refunds take 5 days to arrive.", "Refunds take 9 days to arrive."], Guardrails(min_words=1))
    agg = result["aggregate"]
    assert agg["n"] == 2 and agg["guardrail_pass_rate"] == 0.5 and agg["checks_fired"] == {"numbers": 1}
    assert agg["rougeL_f"] == pytest.approx((1.0 + 5 / 6) / 2)
    assert result["per_example"][1]["fired"] == ["numbers"]


def test_cli_writes_metrics_table_and_predictions(tmp_path, capsys):
    data = tmp_path / "pairs.csv"
    with data.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["instruction", "intent", "response"])
        for i in range(10):
            writer.writerow([f"I want a refund for order {20000 + i}", "get_refund", "I can help with order {{Order Number}}."])
            writer.writerow([f"where is my package {i} please", "track_order", "Check {{Order History}} to track it."])
    (tmp_path / "kb.yaml").write_text(KB_YAML)
    out = tmp_path / "run"
    assert main(["--data", str(data), "--kb", str(tmp_path / "kb.yaml"), "--output-dir", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["primary_metric"] == "rougeL_f" and metrics["split"]["n"] == 2 and metrics["intents"] == "gold"
    assert set(metrics["generators"]) == {"grounded", "retrieval"}
    assert metrics["data"] == str(data) and metrics["kb"]["root"] == str(tmp_path / "kb.yaml")
    assert len(metrics["kb"]["content_hash"]) == 64 and metrics["split"]["limit"] is None
    assert metrics["generators"]["grounded"]["guardrail_pass_rate"] == 1.0
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and set(rows[0]["replies"]) == {"grounded", "retrieval"}
    refund = next(r for r in rows if r["intent"] == "get_refund")
    order = refund["message"].split()[-1]
    assert refund["reference"] == f"I can help with order {order}." and refund["replies"]["retrieval"]["text"] == refund["reference"]
    assert f"order {order}" in refund["replies"]["grounded"]["text"]
    assert "| grounded | 2 |" in (out / "table.md").read_text()
    assert "| retrieval | 2 | 1.0000 |" in capsys.readouterr().out
    saved = (out / "metrics.json").read_text()
    # a second run into the same folder is refused before any work (the data path is not even read)
    assert main(["--data", str(tmp_path / "missing.csv"), "--output-dir", str(out)]) == 2
    assert f"The output folder {str(out)!r} is not empty. Pass --overwrite" in capsys.readouterr().err
    assert (out / "metrics.json").read_text() == saved
    (out / "stale.txt").write_text("from an older run")
    capsys.readouterr()
    assert main(["--data", str(data), "--kb", str(tmp_path / "kb.yaml"), "--output-dir", str(out), "--overwrite",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads((out / "metrics.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "predictions.jsonl", "samples.md", "table.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kb.yaml", "pairs.csv", "run"]  # no temporary folder left
    samples = (out / "samples.md").read_text()
    assert samples.count("\n## ") == 2 and samples.count("**grounded.**") == 2 and samples.count("**retrieval.**") == 2
    assert metrics["generators"]["grounded"]["ms_per_reply"] >= 0
    assert main(["--data", str(data), "--kb", str(tmp_path / "kb.yaml"), "--output-dir", str(tmp_path / "val"),
                 "--split", "validation", "--json"]) == 0
    val = json.loads(capsys.readouterr().out)
    assert val["split"]["name"] == "validation" and val["split"]["n"] == 2
    val_rows = [json.loads(line)["message"] for line in (tmp_path / "val" / "predictions.jsonl").read_text().splitlines()]
    assert not set(val_rows) & {r["message"] for r in rows}  # another split's messages
    shutil.rmtree(tmp_path / "val")
    assert main(["--generators", "grounded,gpt"]) == 2
    assert "The '--generators' option must list names from grounded, retrieval, seq2seq" in capsys.readouterr().err
    (tmp_path / "broken.csv").write_text('instruction,intent,response\n"an unclosed quote,x,y\n')
    assert main(["--data", str(tmp_path / "broken.csv"), "--output-dir", str(tmp_path / "run2")]) == 2
    assert "is not a readable CSV (Error tokenizing data" in capsys.readouterr().err
    assert not (tmp_path / "run2").exists()


@pytest.mark.slow
def test_grounded_passes_guardrails_on_the_bitext_held_out_split():
    from training.data import shared_data_dir
    from training.generator_data import BITEXT_GENERATION_FILE, load_generation_splits
    from pipeline.reply.generators import GroundedGenerator
    from pipeline.types import IntentPrediction

    if not (shared_data_dir() / BITEXT_GENERATION_FILE).is_file():
        pytest.skip(f"{BITEXT_GENERATION_FILE} not found under {shared_data_dir()}")
    test = load_generation_splits(splits=("test",))["test"]
    replies = GroundedGenerator().run([ex.message for ex in test], [IntentPrediction(ex.intent, 1.0) for ex in test],
                                      [ex.snippets for ex in test], [ex.entities for ex in test])["replies"]
    agg = score_replies(test, replies, Guardrails())["aggregate"]
    assert agg["n"] == 445 and agg["guardrail_pass_rate"] == 1.0 and agg["checks_fired"] == {}


def test_shipped_evaluate_modules_match_the_direct_scorers():
    """``evaluate.load`` of the modules in evaluation/hf_metrics works offline and gives rouge-score's and sklearn's numbers."""
    import evaluate
    from rouge_score import rouge_scorer
    from sklearn.metrics import f1_score

    from evaluation.hf_metrics import metric_path

    preds, refs = ["the refund takes five days", "hello there", "refunds arrive"], ["refunds take five days", "hello", "no match"]
    direct = [rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True).score(r, p)["rougeL"] for p, r in zip(preds, refs)]
    per_example = evaluate.load(metric_path("rouge_l")).compute(predictions=preds, references=refs, use_aggregator=False)
    assert per_example["rougeL_f"] == [s.fmeasure for s in direct] and per_example["rougeL_p"] == [s.precision for s in direct]
    assert [r["f"] for r in rouge_l(preds, refs)] == [s.fmeasure for s in direct]
    mean = evaluate.load(metric_path("rouge_l")).compute(predictions=preds, references=refs)["rougeL_f"]
    assert mean == pytest.approx(sum(s.fmeasure for s in direct) / 3)
    intents = evaluate.load(metric_path("intent_classification")).compute(predictions=["a", "b", "b"], references=["a", "a", "b"])
    assert intents == {"accuracy": 2 / 3, "macro_f1": f1_score(["a", "a", "b"], ["a", "b", "b"], average="macro")}
