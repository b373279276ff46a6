"""The answer-time pipeline and ``python -m pipeline.respond`` (real KB and packaged MiniLM, tiny intent model)."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from pipeline import respond
from pipeline.assistant import RespondConfig, SupportAssistant, clean_message, load_respond_config
from pipeline.nlu.stage import NLUStage
from pipeline.policy import PolicyStage
from pipeline.reply.grounded import second_person, split_sentences
from pipeline.reply.stage import ReplyStage
from pipeline.retrieval.stage import RetrievalStage
from pipeline.errors import ConfigError, DataError
from pipeline.types import IntentPrediction
from tests.tiny_models import make_tiny_intent_model

INTENTS = ["get_refund", "track_order", "recover_password"]


class FakeClassifier:
    """Stands in for IntentClassifier: a fixed prediction per message keyword."""

    threshold = 0.5
    labels = INTENTS

    def __init__(self, table: dict[str, tuple[str, float]]):
        self.table = table

    def run(self, messages, top_k=3, threshold=None):
        cut = self.threshold if threshold is None else threshold
        preds = []
        for m in messages:
            label, conf = next((v for k, v in self.table.items() if k in m.lower()), ("track_order", 0.2))
            others = [x for x in INTENTS if x != label]
            rest = (1 - conf) / 2
            preds.append(IntentPrediction(label, conf, [(label, conf), (others[0], rest), (others[1], rest)], conf >= cut))
        return {"predictions": preds}


def fake_assistant(table: dict[str, tuple[str, float]], config=None, retrieval=None) -> SupportAssistant:
    """The default stages around a FakeClassifier (no model to load), built as build_assistant builds them."""
    config = config or load_respond_config(None, {"nlu": {"model": "unused"}})
    retrieval = retrieval or RetrievalStage(config.retrieval)
    stages = [NLUStage(config.nlu, classifier=FakeClassifier(table)), PolicyStage(config.policy), retrieval,
              ReplyStage(config.nlg, kb=lambda: retrieval.kb)]
    return SupportAssistant(stages, conversation=config.conversation)


@pytest.fixture(scope="module")
def assistant(packaged_retrieval):
    return fake_assistant({"refund": ("get_refund", 0.97), "password": ("recover_password", 0.95),
                           "parcel": ("track_order", 0.45)}, retrieval=packaged_retrieval)


def test_refund_reply_is_grounded_and_uses_order_number(assistant):
    turn = assistant.answer(["I want a refund for order 12345"])[0]
    reply = turn.reply
    assert turn.intent.label == "get_refund" and turn.intent.in_scope and turn.route == "answer"
    assert "12345" in reply.text
    assert turn.snippets and all("get_refund" in s.intents for s in turn.snippets)
    assert all(s.score is not None for s in turn.snippets)
    assert reply.fallback is None and reply.checks == [] and reply.generator == "grounded"
    assert [e.text for e in turn.entities] == ["12345"]
    assert set(turn.timings_ms) == {"nlu", "nlu.tone", "policy", "retrieval", "nlg"}
    # the reply quotes the top snippet's first sentence, in second person
    first = split_sentences(turn.snippets[0].text)[0]
    assert second_person(first) in reply.text


def test_low_confidence_asks_to_clarify_and_gibberish_is_out_of_scope(assistant):
    low, gibberish = assistant.answer(["where is my parcel", "?!?! 1234 ..."])
    assert low.reply.fallback == "low_confidence" and low.reply.generator == "clarification" and low.snippets == []
    assert "Is your question about" in low.reply.text and low.route == "clarify"
    assert [o.intent for o in low.reply.offered] == ["track_order", "get_refund"]
    assert gibberish.reply.fallback == "out_of_scope" and gibberish.reply.generator == "out_of_scope"
    assert any("under the out-of-scope threshold" in n for n in low.reply.notes)


def test_clean_message():
    assert clean_message("  hi\x00there\n\tyou ", 100) == ("hi there you", ["control characters replaced by spaces"])
    # Latin-1 "café" read from stdin as UTF-8 with surrogateescape: the tokenizer would raise a TypeError on it
    latin1 = b"caf\xe9 refund".decode("utf-8", "surrogateescape")
    assert clean_message(latin1, 100) == ("caf\ufffd refund", ["bytes that are not UTF-8 replaced by U+FFFD"])
    text, notes = clean_message("a" * 6000, 5000)
    assert len(text) == 5000 and notes == ["message truncated from 6000 to 5000 characters for the models"]
    with pytest.raises(DataError, match="empty or only whitespace"):
        clean_message(" \n\t ", 100)


def test_config_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("nlg:\n  generator: gpt5\n")
    with pytest.raises(ConfigError, match=r"The 'generator' parameter of GeneratorConfig must be one of 'grounded', 'seq2seq'. Got 'gpt5'."):
        load_respond_config(bad)
    bad.write_text("nlu:\n  modle: x\n")
    with pytest.raises(ConfigError, match=r"Unknown key\(s\) 'modle' in .*bad.yaml \[nlu\] for NLUConfig"):
        load_respond_config(bad)
    bad.write_text("retreival: {}\n")
    with pytest.raises(ConfigError, match=r"Unknown key\(s\) 'retreival'"):
        load_respond_config(bad)
    assert isinstance(load_respond_config(Path("configs/respond/default.yaml")), RespondConfig)


@pytest.fixture(scope="module")
def tiny_intent_model(tmp_path_factory) -> Path:
    return make_tiny_intent_model(tmp_path_factory.mktemp("intent") / "tiny", INTENTS)


def test_cli_json_trace_and_stdin_batch(monkeypatch, capsys, caplog, tiny_intent_model):
    assert respond.main(["--intent-model", str(tiny_intent_model), "--json", "I want a refund for order 12345"]) == 0
    trace = json.loads(capsys.readouterr().out)
    assert set(trace) == {"message", "text", "notes", "context", "intent", "entities", "query", "resolution", "concerns", "tone", "route",
                          "snippets", "reply", "status", "timings_ms"}
    assert len(trace["intent"]["ranking"]) == 3 and trace["entities"][0]["text"] == "12345"
    assert trace["reply"]["generator"] == "grounded" and len(trace["snippets"]) == 3

    # one output line per input line: a blank line, or one of control characters only, gets an error record
    stdin = "cancel my order\n\nreset my password please\r\n\x00\x07\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    assert respond.main(["--intent-model", str(tiny_intent_model), "--json", "--batch-size", "3"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r.get("message") for r in records] == ["cancel my order", None, "reset my password please", None]
    assert records[1] == {"line": 2, "error": "empty message"} and records[3] == {"line": 4, "error": "empty message"}
    assert caplog.text.count("has nothing to answer") == 2

    monkeypatch.setattr("sys.stdin", io.StringIO("\n\ncancel my order\n"))
    assert respond.main(["--intent-model", str(tiny_intent_model), "--batch-size", "2"]) == 0
    lines = capsys.readouterr().out.split("\n")
    assert lines[:2] == ["", ""] and lines[2] and lines[3:] == [""]


def test_cli_bad_input(tmp_path, capsys, tiny_intent_model):
    assert respond.main(["--intent-model", str(tiny_intent_model), "   "]) == 2
    assert capsys.readouterr().err.startswith("error: The message is empty")
    assert respond.main(["--intent-model", str(tiny_intent_model), "--generator", "gpt5", "hi"]) == 2
    assert "Got 'gpt5'" in capsys.readouterr().err
    assert respond.main(["--intent-model", str(tmp_path / "missing"), "hello"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err
    assert respond.main(["--batch-size", "0"]) == 2
    assert capsys.readouterr().err == "error: The '--batch-size' option must be an int >= 1. Got 0.\n"
    with pytest.raises(SystemExit) as exc:  # argparse's own errors: one line too, not the usage block
        respond.main(["--top-k", "abc", "hi"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == ("error: argument --top-k: invalid int value: 'abc'. "
                                       "Run 'python -m pipeline.respond --help' for the options.\n")


def test_the_respond_modules_import_no_training_code_and_no_scikit_learn():
    """Start-up cost of ``python -m pipeline.respond``: the default path (no BM25 mixed in) needs neither
    ``training`` nor scikit-learn (about a second of imports)."""
    import subprocess
    import sys

    code = ("import sys, pipeline.respond, pipeline.assistant, pipeline.retrieval.retriever; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'training', 'sklearn', 'evaluation'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == "[]\n"
