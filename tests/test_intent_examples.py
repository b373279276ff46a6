"""The hand-written in-domain intent examples (knowledge_base/intent_examples.yaml) load and are clean.

    pytest tests/test_intent_examples.py
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from knowledge_base.intents import INTENTS
from knowledge_base.loader import default_retrieval_set_path, load_retrieval_set

EXAMPLES_PATH = Path(__file__).resolve().parents[1] / "knowledge_base" / "intent_examples.yaml"
MIN_PER_INTENT = 10


def normalise(message: str) -> str:
    """Case- and whitespace-insensitive key: 'Where is  my Order?' and 'where is my order?' collide."""
    return " ".join(message.split()).casefold()


@pytest.fixture(scope="module")
def examples() -> dict[str, list[str]]:
    data = yaml.safe_load(EXAMPLES_PATH.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and list(data) == ["examples"], "top level must be a mapping with one key 'examples'"
    by_intent: dict[str, list[str]] = {}
    for entry in data["examples"]:
        assert isinstance(entry, dict) and set(entry) == {"intent", "messages"}, f"bad entry: {entry!r}"
        assert entry["intent"] not in by_intent, f"intent {entry['intent']!r} listed twice"
        assert isinstance(entry["messages"], list), f"{entry['intent']}: messages must be a list"
        by_intent[entry["intent"]] = entry["messages"]
    return by_intent


def test_normalise_ignores_case_and_whitespace():
    assert normalise("  Where is\tmy  ORDER? ") == normalise("where is my order?") == "where is my order?"
    assert normalise("where is my order") != normalise("where is my order?")


def test_every_intent_is_present_with_enough_messages_and_no_other(examples):
    assert sorted(examples) == sorted(INTENTS)
    too_few = {intent: len(messages) for intent, messages in examples.items() if len(messages) < MIN_PER_INTENT}
    assert too_few == {}


def test_messages_are_non_empty_strings(examples):
    bad = [(intent, m) for intent, messages in examples.items() for m in messages
           if not isinstance(m, str) or not m.strip()]
    assert bad == []


def test_no_duplicate_messages(examples):
    seen: dict[str, str] = {}
    duplicates = []
    for intent, messages in examples.items():
        for message in messages:
            key = normalise(message)
            if key in seen:
                duplicates.append((seen[key], intent, message))
            seen.setdefault(key, intent)
    assert duplicates == []


@pytest.mark.parametrize("name", ["retrieval_set.yaml", "retrieval_dev.yaml"])
def test_no_message_is_in_a_held_out_retrieval_set(examples, name):
    path = default_retrieval_set_path().with_name(name)
    if not path.is_file():
        pytest.skip(f"knowledge_base/{name} is absent")
    held_out = {normalise(example.message) for example in load_retrieval_set(path)}
    assert len(held_out) > 0
    overlap = [(intent, m) for intent, messages in examples.items() for m in messages if normalise(m) in held_out]
    assert overlap == []


def test_bootstrap_recipe_trains_on_these_examples():
    from pipeline.nlu.bootstrap import BOOTSTRAP_RECIPE, INTENT_EXAMPLES

    assert INTENT_EXAMPLES == EXAMPLES_PATH and INTENT_EXAMPLES.is_file()
    assert BOOTSTRAP_RECIPE["--extra-train"] == str(INTENT_EXAMPLES) and int(BOOTSTRAP_RECIPE["--extra-train-repeat"]) >= 1


def test_bootstrap_cache_folder_changes_with_the_examples_and_the_recipe(monkeypatch, tmp_path):
    import pipeline.nlu.bootstrap as bootstrap

    monkeypatch.setenv("SUPPORT_CACHE_DIR", str(tmp_path))
    first = bootstrap.default_intent_model_dir()
    assert first.parent == tmp_path and first.name.startswith(bootstrap.BOOTSTRAP_NAME + "-")
    assert bootstrap.default_intent_model_dir() == first  # stable
    edited = tmp_path / "examples.yaml"
    edited.write_bytes(EXAMPLES_PATH.read_bytes() + b"\n# an edit\n")
    monkeypatch.setattr(bootstrap, "INTENT_EXAMPLES", edited)
    second = bootstrap.default_intent_model_dir()
    assert second != first
    monkeypatch.setitem(bootstrap.BOOTSTRAP_RECIPE, "--epochs", "3")
    assert bootstrap.default_intent_model_dir() not in (first, second)
