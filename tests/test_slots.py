"""Entity/slot extraction: BIO span metrics, slot data readers and checks, the slot model on a tiny
random DistilBERT (the distilbert-base-uncased code path), merging with patterns, and PII masking."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from evaluation.spans import bio_spans, entity_scores, span_scores
from pipeline.errors import ConfigError, DataError
from pipeline.privacy import luhn_ok, mask_entities, mask_pii
from pipeline.nlu.slots import merge_entities, probs_to_entities
from pipeline.types import Entity
from training.slot_data import (check_bio, load_slot_data, match_span, read_bio_folder, read_span_file, spans_to_tags,
                                tokenize_words)
from tests.tiny_models import make_tiny_distilbert

# ---------------------------------------------------------------------------
# Span metrics
# ---------------------------------------------------------------------------


def test_bio_spans_follow_conlleval_chunking():
    assert bio_spans(["B-city", "I-city", "O", "I-date"]) == [("city", 0, 2), ("date", 3, 4)]
    assert bio_spans(["B-a", "B-a", "I-b", "I-b"]) == [("a", 0, 1), ("a", 1, 2), ("b", 2, 4)]
    assert bio_spans(["O", "B-x"]) == [("x", 1, 2)]
    assert bio_spans(["S-x", "B-y", "E-y", "O"]) == [("x", 0, 1), ("y", 1, 3)]
    assert bio_spans([]) == []


def test_span_scores_exact_span_and_type():
    gold = [["B-city", "I-city", "O", "B-date"], ["B-city", "O"]]
    pred = [["B-city", "I-city", "O", "B-city"], ["B-city", "O"]]
    s = span_scores(gold, pred)
    # gold: city(0,0-2), date(0,3-4), city(1,0-1); pred: city(0,0-2), city(0,3-4), city(1,0-1)
    assert (s["correct"], s["predicted"], s["support"]) == (2, 3, 3)
    assert s["precision"] == pytest.approx(2 / 3) and s["recall"] == pytest.approx(2 / 3)
    assert s["per_type"]["city"] == {"precision": pytest.approx(2 / 3), "recall": 1.0, "f1": pytest.approx(0.8),
                                     "support": 2, "predicted": 3, "correct": 2}
    assert s["per_type"]["date"]["f1"] == 0.0 and s["per_type"]["date"]["support"] == 1
    # a span cut short is wrong, not half right
    assert span_scores([["B-a", "I-a"]], [["B-a", "O"]])["f1"] == 0.0
    with pytest.raises(ValueError):
        span_scores([["O"]], [["O", "O"]])


def test_entity_scores_on_character_spans():
    s = entity_scores([[("email", 5, 10), ("order_number", 0, 3)]], [[("email", 5, 10), ("order_number", 0, 4)]])
    assert (s["correct"], s["precision"], s["recall"]) == (1, 0.5, 0.5)


# ---------------------------------------------------------------------------
# Slot data
# ---------------------------------------------------------------------------


def test_tokenize_words_keeps_ids_and_emails_whole():
    text = "order 4471-22, mail ana@example.com!"
    words = tokenize_words(text)
    assert [w for w, _, _ in words] == ["order", "4471-22", ",", "mail", "ana@example.com", "!"]
    assert all(text[s:e] == w for w, s, e in words)


def test_spans_to_tags_and_char_spans_round_trip():
    text = "cancel order 12345 for Anna Freeman"
    ex = spans_to_tags(text, [("order_number", 13, 18), ("person_name", 23, 35)], "t")
    assert ex.tags == ["O", "O", "B-order_number", "O", "B-person_name", "I-person_name"]
    assert ex.char_spans() == [("order_number", 13, 18), ("person_name", 23, 35)]
    with pytest.raises(DataError, match="overlaps another entity"):
        spans_to_tags(text, [("a", 13, 18), ("b", 15, 18)], "t")


def test_match_span_checks_offsets_and_values():
    text = "cancel purchase 00004587345?"
    assert match_span(text, 16, 27, "00004587345", "exact", "w") == (16, 27)
    with pytest.raises(DataError, match="outside the text"):
        match_span(text, 20, 40, None, "exact", "row 3")
    with pytest.raises(DataError, match="but entity_value is"):
        match_span(text, 16, 27, "4587345", "exact", "row 3")
    assert match_span(text, 16, 27, "4587345", "lenient", "w") == (16, 27)      # leading zeros
    assert match_span("edit order 3707955617, ok", 11, 23, "3707955617", "lenient", "w") == (11, 21)  # trailing ", "
    assert match_span("cancel order 3707955617", 13, 25, "3707955617", "lenient", "w") == (13, 23)   # end past the text
    assert match_span("reimburse 1200 dollars", 10, 14, "12", "lenient", "w") == (10, 14)           # truncated digits
    with pytest.raises(DataError, match="even leniently"):
        match_span("reimburse 1200 dollars", 10, 14, "77", "lenient", "w")


def test_check_bio_rejects_invalid_sequences():
    check_bio(["B-a", "I-a", "O", "B-b"], "w")
    with pytest.raises(DataError, match="tag 2 'I-b' follows 'B-a'"):
        check_bio(["B-a", "I-b"], "f:3")
    with pytest.raises(DataError, match="tag 1 'I-a' follows 'O'"):
        check_bio(["I-a"], "f:3")
    with pytest.raises(DataError, match="not 'O', 'B-<type>'"):
        check_bio(["X-a"], "f:3")


def _bio_folder(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "seq.in").write_text("".join(r[0] + "\n" for r in rows))
    (path / "seq.out").write_text("".join(r[1] + "\n" for r in rows))
    (path / "label").write_text("".join(r[2] + "\n" for r in rows))
    return path


def test_read_bio_folder_and_errors(tmp_path):
    folder = _bio_folder(tmp_path / "ok", [("fly to boston", "O O B-to", "flight"), ("from new york", "O B-from I-from", "flight")])
    ex = read_bio_folder(folder)
    assert [e.tags for e in ex] == [["O", "O", "B-to"], ["O", "B-from", "I-from"]]
    assert ex[1].char_spans() == [("from", 5, 13)] and ex[1].text[5:13] == "new york" and ex[0].intent == "flight"
    bad = _bio_folder(tmp_path / "bad", [("fly to boston", "O B-to", "flight")])
    with pytest.raises(DataError, match=r"seq.out:1: 3 words in seq.in but 2 tags"):
        read_bio_folder(bad)
    invalid = _bio_folder(tmp_path / "invalid", [("fly to boston", "O O I-to", "flight")])
    with pytest.raises(DataError, match=r"seq.out:1: invalid BIO sequence"):
        read_bio_folder(invalid)


def test_span_files_csv_and_jsonl(tmp_path):
    csv = tmp_path / "spans.csv"
    csv.write_text("text,entity_type,entity_value,start_offset,end_offset,intent\n"
                   "cancel order 123,order_id,123,13,16,cancel_order\n"
                   "hello there,,,,,greeting\n"
                   "cancel order 123,order_id,123,13,16,cancel_order\n")
    ex = read_span_file(csv, type_map={"order_id": "order_number"})
    assert len(ex) == 2  # the repeated row is dropped
    assert ex[0].tags == ["O", "O", "B-order_number"] and ex[0].intent == "cancel_order" and ex[1].tags == ["O", "O"]
    jl = tmp_path / "spans.jsonl"
    jl.write_text(json.dumps({"text": "mail a@b.io", "entities": [{"type": "email", "start": 5, "end": 11}]}) + "\n")
    assert read_span_file(jl)[0].tags == ["O", "B-email"]
    jl.write_text(json.dumps({"text": "mail a@b.io", "entities": [{"type": "email", "start": 5}]}) + "\n")
    with pytest.raises(DataError, match=r"line 1: each entity needs"):
        read_span_file(jl)
    csv.write_text("text,entity_type\nx,y\n")
    with pytest.raises(DataError, match="lacks the span column"):
        read_span_file(csv)


def test_load_slot_data_splits_and_one_type_minimum(tmp_path):
    rows = [{"text": f"order {i}00 please", "entities": [{"type": "order_number", "start": 6, "end": 9}]} for i in range(1, 10)]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = load_slot_data(str(path), validation_size=0.2, test_size=0.2, seed=0)
    assert (len(data.train), len(data.validation), len(data.test)) == (5, 2, 2)
    assert data.tags == ["O", "B-order_number"] and data.entity_types() == ["order_number"]
    path.write_text(json.dumps({"text": "hello", "entities": []}) + "\n")
    with pytest.raises(DataError, match="no entities in its training split"):
        load_slot_data(str(path))
    with pytest.raises(DataError, match="not found"):
        load_slot_data(str(tmp_path / "missing.jsonl"))


def test_atis_and_bitext_presets(shared_data):
    atis = load_slot_data("atis")
    assert (len(atis.train), len(atis.validation), len(atis.test)) == (4478, 500, 893)
    assert atis.train[0].tags[-2:] == ["B-round_trip", "I-round_trip"] and atis.train[0].intent == "atis_flight"
    bitext = load_slot_data("bitext")
    assert (len(bitext.train), len(bitext.validation), len(bitext.test)) == (3558, 445, 445)
    assert {"order_number", "invoice_number", "amount", "person_name"} <= set(bitext.entity_types())


# ---------------------------------------------------------------------------
# Model, tagger, merge
# ---------------------------------------------------------------------------

TRAIN_ROWS = [
    ("cancel order 4471 now", [("order_number", 13, 17)]),
    ("where is order 9913", [("order_number", 15, 19)]),
    ("refund order 5520 please", [("order_number", 13, 17)]),
    ("order 3301 is late", [("order_number", 6, 10)]),
    ("hello there", []),
    ("i need help", []),
]


@pytest.fixture(scope="module")
def slot_model(tmp_path_factory) -> Path:
    from training.finetune_slots import SlotTrainer, SlotTrainingConfig

    root = tmp_path_factory.mktemp("slots")
    base = make_tiny_distilbert(root / "base", [t for t, _ in TRAIN_ROWS])
    data = root / "data"
    data.mkdir()
    for split in ("train", "valid", "test"):
        (data / f"{split}.jsonl").write_text("".join(
            json.dumps({"text": t, "intent": "order" if s else "other",
                        "entities": [{"type": k, "start": a, "end": b} for k, a, b in s]}) + "\n" for t, s in TRAIN_ROWS))
    cfg = SlotTrainingConfig(data=str(data), base_model=str(base), output_dir=str(root / "model"), epochs=40, lr=3e-3,
                             batch_size=6, patience=40, warmup_ratio=0.0, dropout=0.0, seed=0)
    SlotTrainer(cfg, progress=False).train()
    return root / "model"


def test_finetune_writes_artifact_and_learns_tiny_data(slot_model):
    names = {p.name for p in slot_model.iterdir()}
    assert {"slot_head.json", "slot_head.safetensors", "model.safetensors", "config.json", "metrics.json",
            "resolved_config.json", "README.md"} <= names and "labels.json" not in names  # slot_head.json holds the labels
    metrics = json.loads((slot_model / "metrics.json").read_text())
    assert metrics["test"]["f1"] == 1.0 and metrics["test"]["intent_accuracy"] == 1.0
    head = json.loads((slot_model / "slot_head.json").read_text())
    assert (head["tags"], head["intents"]) == (["O", "B-order_number"], ["order", "other"])


def test_slot_tagger_gives_character_spans(slot_model):
    from pipeline.nlu.slots import SlotTagger

    tagger = SlotTagger(slot_model)
    ents = tagger.run(["cancel order 4471 now", "hello there", ""])["entities"]
    assert [(e.type, e.text, e.start, e.end, e.source) for e in ents[0]] == [("order_number", "4471", 13, 17, "model")]
    assert 0.5 <= ents[0][0].confidence <= 1.0
    assert ents[1] == [] and ents[2] == []


def test_slot_model_missing_or_corrupt(tmp_path, slot_model):
    import shutil

    from pipeline.errors import ModelLoadError
    from pipeline.nlu.slots import SlotTagger

    with pytest.raises(ModelLoadError):
        SlotTagger(tmp_path / "nope").warm_up()
    broken = tmp_path / "broken"
    shutil.copytree(slot_model, broken)
    (broken / "slot_head.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelLoadError, match="incomplete or corrupt"):
        SlotTagger(broken).warm_up()


def test_probs_to_entities_confidence_is_mean_tag_probability():
    import numpy as np

    text = "to new york"
    offsets = [(0, 2), (3, 6), (7, 11)]
    probs = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]], dtype=np.float32)
    (ent,) = probs_to_entities(text, offsets, probs, ["O", "B-city", "I-city"])
    assert (ent.type, ent.text, ent.start, ent.end) == ("city", "new york", 3, 11)
    assert ent.confidence == pytest.approx(0.75)
    assert probs_to_entities(text, offsets, probs, ["O", "B-city", "I-city"], min_confidence=0.8) == []


def test_merge_prefers_patterns_on_overlap():
    pattern = [Entity("order_number", "4471-22", 9, 16), Entity("email", "a@b.io", 30, 36)]
    learned = [Entity("order_number", "4471", 9, 13, 0.9, "model"), Entity("person_name", "Ana", 20, 23, 0.8, "model")]
    merged = merge_entities(pattern, learned)
    assert [(e.type, e.text, e.source) for e in merged] == [
        ("order_number", "4471-22", "pattern"), ("person_name", "Ana", "model"), ("email", "a@b.io", "pattern")]


def test_finetune_cli_bad_input(tmp_path, capsys):
    from training.finetune_slots import main

    code = main(["--data", str(tmp_path / "missing.jsonl"), "--output-dir", str(tmp_path / "m"), "--no-progress", "-q"])
    err = capsys.readouterr().err
    assert code != 0 and "not found" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    with pytest.raises(ConfigError):
        from training.finetune_slots import SlotTrainingConfig

        SlotTrainingConfig(value_match="fuzzy")


# ---------------------------------------------------------------------------
# Privacy
# ---------------------------------------------------------------------------


def test_mask_pii():
    assert mask_pii("write to ana@example.com or call +1 415 555 0100") == "write to [EMAIL] or call [PHONE]"
    assert mask_pii("card 4111 1111 1111 1111, order 12345") == "card [CARD], order 12345"
    assert mask_pii("card 4111 1111 1111 1112") == "card 4111 1111 1111 1112"  # fails Luhn: not card-like
    assert mask_pii("order 113542617735902 is late") == "order 113542617735902 is late"  # named as an order number
    assert mask_pii("") == "" and mask_pii(None) is None
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")
    masked = mask_entities([Entity("email", "a@b.io", 0, 6), Entity("order_number", "123", 10, 13)])
    assert [e["text"] for e in masked] == ["[EMAIL]", "123"]


def test_mask_pii_covers_seven_digit_and_international_phones():
    assert mask_pii("call 555-0199 or +44 20 7946 0958 or (503) 555-0147; order 4471-22") == (
        "call [PHONE] or [PHONE] or [PHONE]; order 4471-22")


def test_mask_trace_masks_what_the_customer_typed_everywhere():
    from pipeline.privacy import mask_trace

    trace = {"message": "mail ana@example.com, tel 555-0199", "text": "mail ana@example.com, tel 555-0199",
             "query": "mail ana@example.com, tel 555-0199", "entities": [{"type": "email", "text": "ana@example.com"}],
             "context": {"previous_text": "card 4111 1111 1111 1111"},
             "reply": {"text": "We will write to ana@example.com. Call us on 1-800-555-0199."}}
    masked = mask_trace(trace)
    assert masked["message"] == masked["query"] == "mail [EMAIL], tel [PHONE]"
    assert masked["entities"][0]["text"] == "[EMAIL]" and masked["context"]["previous_text"] == "card [CARD]"
    assert masked["reply"]["text"] == "We will write to [EMAIL]. Call us on 1-800-555-0199."  # the store's own number stays


def test_request_log_line_masks_email(caplog, packaged_retrieval):
    from tests.test_respond import fake_assistant

    a = fake_assistant({"order": ("track_order", 0.3)}, retrieval=packaged_retrieval)  # every message is under the threshold: no retrieval
    message = "my order 4471-22 never arrived, write to me at ana@example.com"
    with caplog.at_level(logging.INFO, logger="pipeline.requests"):
        turn = a.answer([message])[0]
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("request"))
    assert "ana@example.com" not in line and "[EMAIL]" in line and "order_number=4471-22@9:16(pattern)" in line
    assert "4471-22" in turn.reply.text  # the clarification acknowledges the order number
    assert [(e.type, e.text, e.start, e.end) for e in turn.entities] == [
        ("order_number", "4471-22", 9, 16), ("email", "ana@example.com", 47, 62)]
    a.stage("nlu").config.keep_pii = True
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pipeline.requests"):
        a.answer([message])
    assert any("ana@example.com" in r.getMessage() for r in caplog.records)


def test_evaluation_nlu_scores_a_slot_model(slot_model, tmp_path, capsys):
    from evaluation.nlu import main

    out = tmp_path / "eval"
    assert main(["--slot-model", str(slot_model), "--output-dir", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    assert "span P 1.0000  R 1.0000  F1 1.0000  intent accuracy 1.0000  n=6" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["entities"]["per_type"]["order_number"]["support"] == 4
    assert json.loads((out / "entity_errors.json").read_text()) == []
    assert main(["--output-dir", str(tmp_path / "none"), "-q"]) != 0  # neither --model nor --slot-model
