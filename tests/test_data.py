"""Intent data layer: formats, column mapping, splits, deduplication, errors, presets."""
from __future__ import annotations

import argparse
import json
import logging
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from pipeline.errors import ConfigError, DataError
from training.data import (IntentData, add_data_arguments, data_from_args, load_intent_data, normalise,
                           shared_data_dir)
from training.presets import fill_text, placeholder_kind


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def csv_rows(rows: list[tuple[str, str]], header: str = "text,label") -> str:
    return header + "\n" + "".join(f"{t},{lab}\n" for t, lab in rows)


def rows_for(labels: tuple[str, ...], n: int) -> list[tuple[str, str]]:
    """n distinct messages per label: 'card message 0', 'card message 1', ..."""
    return [(f"{lab} message {i}", lab) for lab in labels for i in range(n)]


def keys(texts: list[str]) -> set[str]:
    return {normalise(t) for t in texts}


# --------------------------------------------------------------------------- splits

def test_single_csv_gets_a_stratified_seeded_80_10_10_split(tmp_path):
    path = write(tmp_path / "d.csv", csv_rows(rows_for(("card", "order", "refund"), 10)))
    data = load_intent_data(str(path), seed=42)
    assert isinstance(data, IntentData)
    assert (len(data.train), len(data.validation), len(data.test)) == (24, 3, 3)
    assert Counter(data.test.labels) == {"card": 1, "order": 1, "refund": 1}
    assert Counter(data.validation.labels) == {"card": 1, "order": 1, "refund": 1}
    assert Counter(data.train.labels) == {"card": 8, "order": 8, "refund": 8}
    assert data.labels == ["card", "order", "refund"]
    assert keys(data.train.texts).isdisjoint(keys(data.test.texts) | keys(data.validation.texts))
    assert data.meta["split_origin"]["test"] == "split from the data"
    again = load_intent_data(str(path), seed=42)
    assert again.test.texts == data.test.texts and again.train.texts == data.train.texts
    assert load_intent_data(str(path), seed=7).test.texts != data.test.texts


def test_pool_drops_duplicates_and_conflicting_labels_before_splitting(tmp_path):
    rows = rows_for(("card", "order", "refund"), 9) + [
        ("Where is my card?", "card"),
        ("  where is   my CARD? ", "card"),  # duplicate after normalising
        ("cancel my order", "order"),
        ("Cancel my order", "refund"),  # conflicting label: both dropped
    ]
    data = load_intent_data(str(write(tmp_path / "d.csv", csv_rows(rows))))
    assert data.meta["rows_read"] == 31
    assert data.meta["duplicates_dropped"] == {"pool": 1}
    assert data.meta["conflicting_dropped"] == {"pool": 2}
    assert data.meta["split_sizes"] == {"train": 22, "validation": 3, "test": 3}
    everything = data.train.texts + data.validation.texts + data.test.texts
    assert sum(normalise(t) == "where is my card?" for t in everything) == 1
    assert not any(normalise(t) == "cancel my order" for t in everything)


def test_train_and_test_files_keep_test_intact_and_carve_validation_from_train(tmp_path):
    train = rows_for(("a", "b", "c"), 10) + [("a message 0", "a"), ("the test message", "b")]
    test = [("the test message", "b"), ("THE TEST MESSAGE", "b"), ("fresh a", "a"), ("fresh c", "c")]
    write(tmp_path / "ds" / "train.csv", csv_rows(train))
    write(tmp_path / "ds" / "test.csv", csv_rows(test))
    data = load_intent_data(str(tmp_path / "ds"))
    assert data.test.texts == [t for t, _ in test]  # kept exactly, duplicate included
    assert data.meta["test_duplicates_kept"] == 1
    assert data.meta["overlap_dropped"] == {"train": 1}
    assert data.meta["duplicates_dropped"] == {"train": 1}
    assert data.meta["split_sizes"] == {"train": 27, "validation": 3, "test": 4}
    assert Counter(data.validation.labels) == {"a": 1, "b": 1, "c": 1}
    assert data.meta["split_origin"] == {"train": "file", "test": "file", "validation": "carved from train"}


def test_folder_of_jsonl_splits_warns_about_labels_unseen_in_train(tmp_path, caplog):
    jl = lambda rows: "".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in rows)  # noqa: E731
    write(tmp_path / "ds" / "train.jsonl", jl([("hi", "a"), ("hello", "a"), ("hey", "a"),
                                                ("bye", "b"), ("ciao", "b"), ("later", "b")]))
    write(tmp_path / "ds" / "valid.jsonl", jl([("good day", "a"), ("see you", "b"), ("farewell", "b")]))
    write(tmp_path / "ds" / "test.jsonl", jl([("farewell", "b"), ("howdy", "a"), ("what time is it", "time")]))
    with caplog.at_level(logging.WARNING, logger="training.data"):
        data = load_intent_data(str(tmp_path / "ds"))
    assert data.meta["split_sizes"] == {"train": 6, "validation": 2, "test": 3}
    assert data.meta["overlap_dropped"] == {"validation": 1, "train": 0}
    assert data.labels == ["a", "b"]
    assert data.meta["unseen_labels"] == {"test": {"time": 1}}
    assert any("never seen in train" in r.message and "time" in r.message for r in caplog.records)


def test_max_per_label_caps_train_only_with_a_seeded_sample(tmp_path):
    path = str(write(tmp_path / "d.csv", csv_rows(rows_for(("a", "b"), 20))))
    full = load_intent_data(path)
    capped = load_intent_data(path, max_per_label=5)
    assert Counter(capped.train.labels) == {"a": 5, "b": 5}
    assert set(capped.train.texts) < set(full.train.texts)
    assert capped.test.texts == full.test.texts and capped.validation.texts == full.validation.texts
    assert capped.meta["train_rows_before_cap"] == 32
    assert load_intent_data(path, max_per_label=5).train.texts == capped.train.texts


def test_extra_train_examples_go_to_train_only_repeated(tmp_path):
    path = str(write(tmp_path / "d.csv", csv_rows(rows_for(("a", "b"), 20))))
    base = load_intent_data(path, max_per_label=5)
    test_message = base.test.texts[0]
    extra = write(tmp_path / "extra.yaml", "examples:\n"
                  "  - intent: a\n    messages: ['brand new a', '" + test_message.upper() + "']\n"
                  "  - intent: zzz\n    messages: ['unknown label']\n")
    data = load_intent_data(path, max_per_label=5, extra_train=str(extra), extra_train_repeat=3)
    assert data.train.texts == base.train.texts + ["brand new a"] * 3
    assert data.test.texts == base.test.texts and data.validation.texts == base.validation.texts
    assert data.labels == ["a", "b"]
    assert data.meta["extra_train"] == {"path": str(extra), "rows": 3, "added": 1, "repeat": 3,
                                        "dropped_overlap": 1, "dropped_labels": ["zzz"]}
    write(tmp_path / "bad.yaml", "examples: [intent: a\n")
    with pytest.raises(DataError, match="Malformed YAML"):
        load_intent_data(path, extra_train=str(tmp_path / "bad.yaml"))
    with pytest.raises(DataError, match="does not exist"):
        load_intent_data(path, extra_train=str(tmp_path / "none.yaml"))


def test_shipped_intent_examples_cover_every_intent(shared_data):
    from knowledge_base.intents import INTENTS

    data = load_intent_data("bitext", max_per_label=2, extra_train=str(Path(__file__).resolve().parents[1] / "knowledge_base" / "intent_examples.yaml"))
    assert data.meta["extra_train"]["dropped_labels"] == [] and data.meta["extra_train"]["added"] >= 10 * len(INTENTS)


# --------------------------------------------------------------------------- formats and columns

def test_columns_are_detected_with_intent_preferred_over_category(tmp_path):
    rows = "".join(f"msg {i},{'x' if i % 2 else 'y'},grp\n" for i in range(20))
    data = load_intent_data(str(write(tmp_path / "d.csv", "utterance,intent,category\n" + rows)))
    source = data.meta["sources"][0]
    assert (source["text_column"], source["label_column"]) == ("utterance", "intent")
    assert data.labels == ["x", "y"]


def test_explicit_columns_are_matched_case_insensitively(tmp_path):
    path = write(tmp_path / "d.csv", csv_rows(rows_for(("a", "b"), 10), header="Msg,Tag"))
    data = load_intent_data(str(path), text_column="msg", label_column="TAG")
    assert data.meta["sources"][0]["text_column"] == "Msg"
    assert data.meta["split_sizes"] == {"train": 16, "validation": 2, "test": 2}


@pytest.mark.parametrize("layout", ["list", "data", "columns"])
def test_json_layouts_give_the_same_rows(tmp_path, layout):
    rows = rows_for(("a", "b"), 10)
    payload = {
        "list": [{"text": t, "label": lab} for t, lab in rows],
        "data": {"data": [{"text": t, "label": lab} for t, lab in rows]},
        "columns": {"text": [t for t, _ in rows], "label": [lab for _, lab in rows]},
    }[layout]
    data = load_intent_data(str(write(tmp_path / "d.json", json.dumps(payload))))
    assert data.meta["rows_read"] == 20
    assert sorted(data.train.texts + data.validation.texts + data.test.texts) == sorted(t for t, _ in rows)


def test_json_with_named_splits_uses_them(tmp_path):
    payload = {"train": [{"text": t, "label": lab} for t, lab in rows_for(("a", "b"), 10)],
               "test": [{"text": "new a", "label": "a"}, {"text": "new b", "label": "b"}]}
    data = load_intent_data(str(write(tmp_path / "d.json", json.dumps(payload))))
    assert data.meta["split_sizes"] == {"train": 18, "validation": 2, "test": 2}
    assert data.test.texts == ["new a", "new b"]


def test_saved_datasets_folder_maps_class_labels_to_names(tmp_path):
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["greet", "leave"])})
    train = datasets.Dataset.from_dict({"sentence": [t for t, _ in rows_for(("a", "b"), 10)],
                                        "label": [0] * 10 + [1] * 10}, features=features)
    test = datasets.Dataset.from_dict({"sentence": ["hello you", "bye you"], "label": [0, 1]}, features=features)
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(str(tmp_path / "dd"))
    data = load_intent_data(str(tmp_path / "dd"))
    assert data.labels == ["greet", "leave"]
    assert data.test.labels == ["greet", "leave"]
    assert data.meta["split_sizes"] == {"train": 18, "validation": 2, "test": 2}
    train.save_to_disk(str(tmp_path / "single"))
    assert load_intent_data(str(tmp_path / "single")).meta["split_sizes"] == {"train": 16, "validation": 2, "test": 2}


def test_seq_in_label_folders_are_read_like_atis(tmp_path):
    for split, lines in (("train", [("fly to boston", "flight")] * 1 + [(f"fare {i}", "fare") for i in range(3)]),
                         ("valid", [("fly to denver", "flight")]), ("test", [("fare to paris", "fare")])):
        write(tmp_path / "atis" / split / "seq.in", "".join(t + "\n" for t, _ in lines))
        write(tmp_path / "atis" / split / "label", "".join(lab + "\n" for _, lab in lines))
    data = load_intent_data(str(tmp_path / "atis"))
    assert data.meta["split_sizes"] == {"train": 4, "validation": 1, "test": 1}
    assert data.labels == ["fare", "flight"]


# --------------------------------------------------------------------------- placeholders

def test_placeholders_are_filled_with_typed_seeded_values():
    rng = random.Random(0)
    assert re.fullmatch(r"cancel order #?\d{6,12}", fill_text("cancel order {{Order Number}}", rng))
    money = fill_text("refund of {{Currency Symbol}}{{Refund Amount}}", rng)
    assert re.fullmatch(r"refund of [$€£]\d+(\.\d\d)?", money)
    assert re.fullmatch(r"refund \$\d+(\.\d\d)?", fill_text("refund {{Refund Amount}}", rng))
    assert re.fullmatch(r"rebating \d+(\.\d\d)? dollars", fill_text("rebating {{Refund Amount}} dollars", rng))
    assert re.fullmatch(r"my bill (#|INV-)?\d+", fill_text("my bill{{Invoice Number}}", rng))
    assert fill_text("visit {{Website Name}}", rng) == "visit website name"
    assert placeholder_kind("Person Name") == "name" and placeholder_kind("Tracking Number") == "order"
    assert fill_text("{{Person Name}} {{Account Type}}", random.Random(3)) == fill_text(
        "{{Person Name}} {{Account Type}}", random.Random(3))


def test_loading_fills_placeholders_unless_asked_not_to(tmp_path):
    rows = [(f"cancel order {{{{Order Number}}}} now {i}", "cancel") for i in range(10)] + \
           [(f"open a {{{{Account Type}}}} account {i}", "open") for i in range(10)]
    path = str(write(tmp_path / "d.csv", csv_rows(rows)))
    filled = load_intent_data(path)
    assert filled.meta["placeholders"] == {"Account Type": 10, "Order Number": 10}
    assert not any("{{" in t for t in filled.train.texts + filled.validation.texts + filled.test.texts)
    raw = load_intent_data(path, fill_placeholders=False)
    assert raw.meta["placeholders"] == {}
    assert all("{{" in t for t in raw.train.texts)


# --------------------------------------------------------------------------- errors

def test_unknown_column_names_it_and_lists_the_available_ones(tmp_path):
    path = write(tmp_path / "d.csv", csv_rows(rows_for(("a", "b"), 5), header="msg,tag"))
    with pytest.raises(DataError, match=r"Column 'body' \(--text-column\) is not in .*d.csv\. Available columns: "
                                        r"'msg', 'tag'\."):
        load_intent_data(str(path), text_column="body", label_column="tag")
    with pytest.raises(DataError, match=r"Found no text column .*Available columns: 'msg', 'tag'\. Pass --text-column"):
        load_intent_data(str(path))


def test_empty_texts_are_counted_with_the_first_row(tmp_path):
    path = write(tmp_path / "d.csv", 'text,label\nhi,a\nbye,b\n"",a\nok,b\n"   ",a\n')
    with pytest.raises(DataError, match=r"^2 empty or whitespace-only text\(s\) in column 'text' of .*d\.csv "
                                        r"\(first at row 3, counting data rows from 1\)"):
        load_intent_data(str(path))


def test_empty_labels_are_an_error(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\nhi,a\nbye,\n")
    with pytest.raises(DataError, match=r"^1 empty or whitespace-only label\(s\) in column 'label' .*first at row 2"):
        load_intent_data(str(path))


def test_a_single_label_is_rejected(tmp_path):
    path = write(tmp_path / "d.csv", csv_rows(rows_for(("a",), 10)))
    with pytest.raises(DataError, match=r"The data set has 1 distinct label\(s\) \['a'\]; .*needs at least 2"):
        load_intent_data(str(path))


def test_a_label_too_rare_to_split_is_named_with_its_count(tmp_path):
    rare = [("rare one", "rare"), ("rare two", "rare")]
    path = write(tmp_path / "d.csv", csv_rows(rows_for(("a", "b"), 10) + rare))
    with pytest.raises(DataError, match=r"Label 'rare' has only 2 example\(s\) in the data set, too few for a "
                                        r"stratified split into train/validation/test \(needs at least 3\)\. Drop the "
                                        r"label, add examples, or give explicit train/validation/test files\."):
        load_intent_data(str(path))
    write(tmp_path / "ds" / "train.csv", csv_rows(rows_for(("a", "b"), 10) + [("rare one", "rare")]))
    write(tmp_path / "ds" / "test.csv", csv_rows([("x", "a"), ("y", "b")]))
    with pytest.raises(DataError, match=r"Label 'rare' has only 1 example\(s\) in the training split"):
        load_intent_data(str(tmp_path / "ds"))


def test_split_sizes_too_small_for_the_labels(tmp_path):
    path = write(tmp_path / "d.csv", csv_rows(rows_for(("a", "b", "c"), 3)))
    with pytest.raises(DataError, match=r"Taking 1 of 9 rows of the data set for test leaves fewer "
                                        r"rows than the 3 labels"):
        load_intent_data(str(path))


def test_malformed_csv_names_the_file_and_line(tmp_path):
    path = write(tmp_path / "bad.csv", "text,label\nhi,a\nbye,b,extra\n")
    with pytest.raises(DataError, match=r"Malformed CSV file .*bad\.csv: .*line 3"):
        load_intent_data(str(path))


def test_malformed_jsonl_and_json_name_the_line(tmp_path):
    jsonl = write(tmp_path / "bad.jsonl", '{"text": "hi", "label": "a"}\n{"text": "bye", "label": \n')
    with pytest.raises(DataError, match=r"Malformed JSON in .*bad\.jsonl at line 2"):
        load_intent_data(str(jsonl))
    js = write(tmp_path / "bad.json", '[{"text": "hi", "label": "a"},\n {"text": }]')
    with pytest.raises(DataError, match=r"Malformed JSON in .*bad\.json at line 2, column"):
        load_intent_data(str(js))
    wrong = write(tmp_path / "rows.jsonl", '["hi", "a"]\n')
    with pytest.raises(DataError, match=r"Line 1 of .*rows\.jsonl is a list, not a JSON object"):
        load_intent_data(str(wrong))


def test_missing_paths_and_unreadable_inputs(tmp_path):
    with pytest.raises(DataError, match=r"Data file or folder 'data/missing\.csv' does not exist"):
        load_intent_data("data/missing.csv")
    with pytest.raises(DataError, match=r"the suffix '\.txt' is not one of \.csv, \.tsv, \.jsonl, \.json"):
        load_intent_data(str(write(tmp_path / "notes.txt", "hello")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"Folder .*empty holds no data set \(found: nothing\)"):
        load_intent_data(str(tmp_path / "empty"))


def test_hub_name_fails_fast_when_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match=r"^'someone/intents' is not a preset \(bitext, banking77, atis\) or an existing "
                                        r"file or folder, and HF_HUB_OFFLINE is set.*Pass a local CSV/JSON/JSONL file"):
        load_intent_data("someone/intents")


def test_missing_preset_data_names_the_path_and_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPPORT_DATA_DIR", str(tmp_path))
    assert shared_data_dir() == tmp_path
    with pytest.raises(DataError, match=r"The 'banking77' preset needs .*banking77/train\.csv, which does not exist\. "
                                        r"Set SUPPORT_DATA_DIR"):
        load_intent_data("banking77")


@pytest.mark.parametrize("kwargs, match", [
    ({"validation_size": 0}, r"The 'validation_size' parameter of load_intent_data must be a float between 0 and 1"),
    ({"test_size": 1.5}, r"The 'test_size' parameter of load_intent_data must be a float between 0 and 1"),
    ({"validation_size": 0.5, "test_size": 0.5}, r"'test_size' .* must be less than 1 - validation_size \(0\.5\)"),
    ({"max_per_label": 0}, r"The 'max_per_label' parameter of load_intent_data must be None or an int >= 1\. Got 0\."),
])
def test_bad_settings_are_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        load_intent_data("bitext", **kwargs)


# --------------------------------------------------------------------------- CLI flags and paths

def test_cli_flags_reach_the_loader(tmp_path):
    path = write(tmp_path / "d.csv", csv_rows(rows_for(("a", "b"), 20), header="msg,tag"))
    parser = argparse.ArgumentParser()
    add_data_arguments(parser)
    args = parser.parse_args(["--data", str(path), "--text-column", "msg", "--label-column", "tag",
                              "--validation-size", "0.2", "--test-size", "0.25", "--max-per-label", "7"])
    data = data_from_args(args, seed=3)
    assert data.meta["split_sizes"] == {"train": 14, "validation": 8, "test": 10}
    assert data.meta["seed"] == 3


def test_shared_data_dir_defaults_to_the_sibling_shared_folder(monkeypatch):
    monkeypatch.delenv("SUPPORT_DATA_DIR", raising=False)
    repo_root = Path(__file__).resolve().parent.parent
    assert shared_data_dir() == repo_root.parent / "shared" / "data"


# --------------------------------------------------------------------------- presets on the real data

def test_bitext_preset_merges_both_files_without_leaks(shared_data):
    data = load_intent_data("bitext", seed=42)
    assert data.meta["rows_read"] == 26872 + 4514
    assert data.meta["duplicates_dropped"] == {"pool": 3272}
    assert len(data.labels) == 27
    assert data.meta["split_sizes"] == {"train": 22283, "validation": 2801, "test": 2812}
    assert keys(data.train.texts).isdisjoint(keys(data.test.texts) | keys(data.validation.texts))
    assert not any("{{" in t for t in data.train.texts + data.test.texts)
    assert set(data.meta["placeholders"]) == {"Account Category", "Account Type", "Currency Symbol", "Delivery City",
                                              "Delivery Country", "Invoice Number", "Order Number", "Person Name",
                                              "Refund Amount"}


def test_bitext_test_split_does_not_depend_on_the_train_cap(shared_data):
    full = load_intent_data("bitext", seed=42)
    capped = load_intent_data("bitext", seed=42, max_per_label=20)
    assert capped.test.texts == full.test.texts
    assert len(capped.train) == 27 * 20 - capped.meta["dropped_after_fill"]["train"] == 535


def test_banking77_preset_keeps_the_published_test_split(shared_data):
    data = load_intent_data("banking77", seed=42)
    assert len(data.test) == 3080 and len(data.labels) == 77
    assert data.meta["split_sizes"] == {"train": 8992, "validation": 1000, "test": 3080}
    assert data.meta["split_origin"]["validation"] == "carved from train"


def test_atis_preset_keeps_multi_intent_labels_and_records_unseen_ones(shared_data):
    data = load_intent_data("atis", seed=42)
    assert data.meta["split_sizes"] == {"train": 4133, "validation": 490, "test": 893}
    assert "atis_flight#atis_airfare" in data.labels
    assert data.meta["unseen_labels"]["test"] == {"atis_airfare#atis_flight": 1, "atis_day_name": 2,
                                                  "atis_flight#atis_airline": 1, "atis_flight_no#atis_airline": 1}


def test_an_unclosed_quote_that_swallows_lines_names_the_line(tmp_path):
    from pipeline.errors import DataError
    from training.data import load_intent_data

    rows = ["text,intent", "hello there,greet", '"unbalanced quote here,greet'] + [f"message {i},leave" for i in range(12)]
    rows += ['the "end" here,greet', "one more,leave", "last,greet"]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"bad.csv line 3 opens a quote that is not closed on that line, so the lines after "
                                        r"it were read as part of one 'text' value \(13 lines swallowed\)"):
        load_intent_data(str(path))
