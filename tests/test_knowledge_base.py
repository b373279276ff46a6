"""Knowledge base loader, validation messages, the packaged policies and the labelled retrieval set.

    pytest tests/test_knowledge_base.py
"""
from __future__ import annotations

import json
import logging
import re
from collections import Counter
from pathlib import Path

import pytest

from knowledge_base.intents import CATEGORIES, INTENTS
from knowledge_base.loader import (KnowledgeBase, KnowledgeBaseError, count_sentences, default_kb_dir,
                                   default_retrieval_set_path, load_knowledge_base, load_retrieval_set, main,
                                   snippet_hash)

GOOD = """\
- id: refund-window
  intents: [check_refund_policy, get_refund]
  title: Return window
  text: You can return items within 30 days of delivery.
  tags: [returns]

- id: refund-how
  intents: get_refund
  title: How to get a refund
  text: >-
    Go to Account > Orders and choose Return or refund.
    We email a prepaid label.
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path, **kwargs) -> str:
    with pytest.raises(KnowledgeBaseError) as info:
        load_knowledge_base(path, **kwargs)
    return str(info.value)


# ---------------------------------------------------------------- loading a tiny knowledge base
def test_tiny_knowledge_base_loads_with_sources_and_single_string_intents(tmp_path):
    write(tmp_path, "refunds.yaml", GOOD)
    kb = load_knowledge_base(tmp_path)
    assert [s.id for s in kb.snippets] == ["refund-window", "refund-how"]
    assert kb.snippets[1].intents == ["get_refund"]
    assert kb.snippets[1].text == "Go to Account > Orders and choose Return or refund. We email a prepaid label."
    assert kb.snippets[0].tags == ["returns"] and kb.snippets[1].tags == []
    assert [s.source for s in kb.snippets] == ["refunds.yaml:1", "refunds.yaml:7"]
    assert kb.files == ["refunds.yaml"] and kb.root == tmp_path and len(kb) == 2


def test_by_intent_lists_main_intent_snippets_first(tmp_path):
    write(tmp_path, "refunds.yaml", GOOD)
    by_intent = load_knowledge_base(tmp_path).by_intent()
    # refund-window lists get_refund second, so refund-how (main intent get_refund) comes first.
    assert [s.id for s in by_intent["get_refund"]] == ["refund-how", "refund-window"]
    assert [s.id for s in by_intent["check_refund_policy"]] == ["refund-window"]


def test_get_and_missing_intents(tmp_path):
    write(tmp_path, "refunds.yaml", GOOD)
    kb = load_knowledge_base(tmp_path)
    assert kb.get("refund-how").title == "How to get a refund"
    with pytest.raises(KeyError, match="Did you mean 'refund-how'"):
        kb.get("refund-hwo")
    assert kb.missing_intents(["get_refund", "track_refund", "review"]) == ["track_refund", "review"]


def test_intent_without_snippet_is_a_warning(tmp_path, caplog):
    write(tmp_path, "refunds.yaml", GOOD)
    with caplog.at_level(logging.WARNING, logger="knowledge_base.loader"):
        load_knowledge_base(tmp_path, known_intents=["get_refund", "check_refund_policy", "track_refund"])
    assert [r.getMessage() for r in caplog.records] == [
        f"{tmp_path}: no snippet for the intent(s) track_refund; retrieval for them falls back to unfiltered search."]


def test_any_intent_accepted_without_known_intents(tmp_path, caplog):
    write(tmp_path, "kb.yaml", "- id: a\n  intents: [open_door]\n  title: Doors\n  text: Push the door.\n")
    with caplog.at_level(logging.WARNING):
        kb = load_knowledge_base(tmp_path, known_intents=None)
    assert kb.snippets[0].intents == ["open_door"] and caplog.records == []


def test_single_file_path_loads(tmp_path):
    path = write(tmp_path, "refunds.yaml", GOOD)
    kb = load_knowledge_base(path)
    assert len(kb.snippets) == 2 and kb.snippets[0].source == "refunds.yaml:1"


# ---------------------------------------------------------------- bad input: one exact message each
def test_missing_folder(tmp_path):
    missing = tmp_path / "nope"
    assert error_of(missing).startswith(f"{missing}: the knowledge base folder does not exist. Pass a folder")


def test_folder_without_yaml_files(tmp_path):
    write(tmp_path, "notes.txt", "hello")
    assert error_of(tmp_path) == (f"{tmp_path}: the knowledge base folder has no .yaml files. Add policy files "
                                  f"(format in knowledge_base/README.md) or pass another folder.")


def test_empty_file(tmp_path):
    path = write(tmp_path, "empty.yaml", "# nothing yet\n")
    assert error_of(tmp_path) == (f"{path}:1: the file is empty. Write a list of snippets ('- id: ...'), "
                                  f"or delete the file.")


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path, "bad.yaml", "- id: a\n  intents: [get_refund]\n  title: T\n  text: [unclosed\n- id: b\n")
    assert error_of(tmp_path) == (f"{path}:5: YAML syntax error: expected ',' or ']', but got ':' (while parsing a "
                                  f"flow sequence that starts at line 4). Fix the YAML syntax and reload.")


def test_unquoted_colon_gets_a_hint(tmp_path):
    write(tmp_path, "good.yaml", GOOD)
    path = write(tmp_path, "kb.yaml", "- id: a\n  intents: [review]\n  title: Reviews: how\n  text: Hi.\n")
    assert error_of(tmp_path) == (f"{path}:3: YAML syntax error: mapping values are not allowed here. "
                                  f"Quote a value that contains ': ', or write it on the next lines after '>-'.")


def test_top_level_mapping(tmp_path):
    path = write(tmp_path, "kb.yaml", "id: a\ntext: b\n")
    assert error_of(tmp_path) == (f"{path}:1: expected a list of snippets at the top level ('- ...' items). "
                                  f"Got a mapping.")


def test_snippet_not_a_mapping(tmp_path):
    path = write(tmp_path, "kb.yaml", GOOD + "\n- just a sentence\n")
    assert error_of(tmp_path) == (f"{path}:14: snippet #3 is not a mapping (got a scalar). Write it as "
                                  f"'- id: ...' with the keys id, intents, tags, text, title.")


def test_missing_id(tmp_path):
    path = write(tmp_path, "kb.yaml", "- intents: [review]\n  title: T\n  text: Reviews are moderated.\n")
    assert error_of(tmp_path) == f"{path}:1: snippet #1 has no 'id'. Required keys: id, intents, title, text."


def test_missing_intents(tmp_path):
    path = write(tmp_path, "kb.yaml", GOOD + "\n- id: c\n  title: T\n  text: Something.\n")
    assert error_of(tmp_path) == f"{path}:14: snippet 'c' has no 'intents'. Required keys: id, intents, title, text."


def test_empty_text(tmp_path):
    path = write(tmp_path, "kb.yaml", "- id: a\n  intents: [review]\n  title: T\n  text: '  '\n")
    assert error_of(tmp_path) == f"{path}:4: snippet 'a' has an empty 'text'. Give it a value."


def test_empty_intents_list(tmp_path):
    path = write(tmp_path, "kb.yaml", "- id: a\n  intents: []\n  title: T\n  text: Hi.\n")
    assert error_of(tmp_path) == f"{path}:2: snippet 'a' has an empty 'intents'. Name at least one."


def test_unknown_key(tmp_path):
    path = write(tmp_path, "kb.yaml", "- id: a\n  intents: [review]\n  titel: T\n  text: Hi.\n")
    assert error_of(tmp_path) == (f"{path}:3: unknown key 'titel' in snippet 'a' (did you mean 'title'?). "
                                  f"Valid keys: id, intents, tags, text, title.")


def test_unknown_intent(tmp_path):
    path = write(tmp_path, "kb.yaml", "- id: a\n  intents:\n    - review\n    - cancel_ordr\n  title: T\n  text: Hi.\n")
    assert error_of(tmp_path, known_intents=INTENTS) == (f"{path}:4: unknown intent 'cancel_ordr' in snippet 'a' (did you mean "
                                  f"'cancel_order'?). Valid intents are the 27 names in INTENTS, "
                                  f"knowledge_base/intents.py.")


def test_duplicate_id_names_both_locations(tmp_path):
    first = write(tmp_path, "a.yaml", GOOD)
    second = write(tmp_path, "b.yaml", "# other file\n- id: refund-how\n  intents: [get_refund]\n  title: T\n  text: Hi.\n")
    assert error_of(tmp_path) == (f"{second}:2: duplicate snippet id 'refund-how'; first defined at {first}:7. "
                                  f"Snippet ids must be unique across the knowledge base.")


def test_non_string_id(tmp_path):
    path = write(tmp_path, "kb.yaml", "- id: 42\n  intents: [review]\n  title: T\n  text: Hi.\n")
    assert error_of(tmp_path) == f"{path}:1: 'id' of snippet #1 must be a string. Got a scalar 42; quote it."


def test_all_problems_are_collected(tmp_path):
    write(tmp_path, "kb.yaml", "- id: a\n  intents: [nope]\n  title: T\n  text: Hi.\n- id: b\n  title: T\n  text: Hi.\n")
    with pytest.raises(KnowledgeBaseError) as info:
        load_knowledge_base(tmp_path, known_intents=INTENTS)
    assert len(info.value.errors) == 2
    assert str(info.value).endswith("(and 1 more problem)")
    assert info.value.errors[1].endswith(":5: snippet 'b' has no 'intents'. Required keys: id, intents, title, text.")


def test_long_text_is_a_warning(tmp_path, caplog):
    path = write(tmp_path, "kb.yaml", "- id: a\n  intents: [review]\n  title: T\n  text: One. Two. Three. Four. Five.\n")
    with caplog.at_level(logging.WARNING, logger="knowledge_base.loader"):
        kb = load_knowledge_base(tmp_path, known_intents=["review"])
    assert len(kb.snippets) == 1
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}:4: snippet 'a' has 5 sentences; keep snippet texts to at most 4."]


def test_count_sentences_ignores_abbreviations_and_prices():
    assert count_sentences("Open from 8 a.m. daily. Standard costs $4.99, e.g. for books.") == 2
    assert count_sentences("No full stop at the end") == 1
    assert count_sentences("Really? Yes! Done.") == 3


# ---------------------------------------------------------------- hashes
def test_content_hash_is_stable_and_tracks_edits(tmp_path):
    path = write(tmp_path, "refunds.yaml", GOOD)
    first, again = load_knowledge_base(tmp_path), load_knowledge_base(tmp_path)
    assert first.content_hash() == again.content_hash()
    assert len(first.content_hash()) == 64

    path.write_text(GOOD.replace("within 30 days", "within 31 days"), encoding="utf-8")
    edited = load_knowledge_base(tmp_path)
    assert edited.content_hash() != first.content_hash()
    before = {s.id: snippet_hash(s) for s in first.snippets}
    after = {s.id: snippet_hash(s) for s in edited.snippets}
    assert [i for i in before if before[i] != after[i]] == ["refund-window"]


def test_content_hash_ignores_order_and_location(tmp_path):
    one, two = GOOD.split("\n\n")
    write(tmp_path / "a", "kb.yaml", GOOD)
    write(tmp_path / "b", "x.yaml", "# moved\n\n" + two + "\n")
    write(tmp_path / "b", "y.yaml", one + "\n")
    a, b = load_knowledge_base(tmp_path / "a"), load_knowledge_base(tmp_path / "b")
    assert [s.source for s in b.snippets] == ["x.yaml:3", "y.yaml:1"]
    assert a.content_hash() == b.content_hash()


# ---------------------------------------------------------------- retrieval set validation
SET_OK = """\
- message: how long do I have to return stuff
  intents: [check_refund_policy]
  snippet_ids: [refund-window]
- message: what's your return window and how do I start?
  intents: [check_refund_policy, get_refund]
  snippet_ids: [refund-window, refund-how]
  kind: two_concerns
"""


def test_retrieval_set_loads_and_validates_against_kb(tmp_path):
    write(tmp_path / "kb", "refunds.yaml", GOOD)
    kb = load_knowledge_base(tmp_path / "kb")
    examples = load_retrieval_set(write(tmp_path, "set.yaml", SET_OK), kb=kb)
    assert [(e.intents, e.snippet_ids, e.kind) for e in examples] == [
        (["check_refund_policy"], ["refund-window"], "single"),
        (["check_refund_policy", "get_refund"], ["refund-window", "refund-how"], "two_concerns")]
    assert examples[1].source == "set.yaml:4"


@pytest.mark.parametrize("text, message", [
    ("- message: hi\n  intents: [get_refund]\n  snippet_ids: [refund-hwo]\n",
     "{p}:3: unknown snippet id 'refund-hwo' in example #1 (did you mean 'refund-how'?). "
     "Use an id from the knowledge base at {kb}."),
    ("- message: hi\n  intents: [get_refund]\n  snippet_ids: [refund-how]\n  kind: double\n",
     "{p}:4: 'kind' of example #1 must be one of single, two_concerns, ambiguous. Got 'double'."),
    ("- message: hi\n  intents: [check_refund_policy]\n  snippet_ids: [refund-how]\n",
     "{p}:1: gold snippet 'refund-how' of example #1 carries none of its intents ['check_refund_policy']. "
     "Fix the label or the snippet's intents."),
    ("- message: hi\n  intents: [get_refund]\n  snippet_ids: [refund-how]\n"
     "- message: '  HI '\n  intents: [get_refund]\n  snippet_ids: [refund-how]\n",
     "{p}:4: example #2 repeats the message of the example at {p}:1. Remove one."),
    ("- message: ''\n  intents: [get_refund]\n  snippet_ids: [refund-how]\n",
     "{p}:1: example #1 has an empty 'message'. Give it a value."),
])
def test_retrieval_set_errors(tmp_path, text, message):
    write(tmp_path / "kb", "refunds.yaml", GOOD)
    kb = load_knowledge_base(tmp_path / "kb")
    path = write(tmp_path, "set.yaml", text)
    with pytest.raises(KnowledgeBaseError) as info:
        load_retrieval_set(path, kb=kb)
    assert str(info.value) == message.format(p=path, kb=kb.root)


# ---------------------------------------------------------------- CLI
def test_cli_summary_and_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("pipeline.utils.setup_logging", lambda *args, **kwargs: None)  # keep pytest's logging
    write(tmp_path, "refunds.yaml", GOOD)
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out.strip()
    kb = load_knowledge_base(tmp_path, known_intents=None)
    assert out == f"{tmp_path}: 1 files, 2 snippets, 2/2 intents covered, content hash {kb.content_hash()[:16]}"
    assert main([str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["files"], report["snippets"], report["intents"], report["intents_covered"]) == (1, 2, 2, 2)
    assert report["missing_intents"] == [] and report["content_hash"] == kb.content_hash()
    assert main([str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'missing'}: the knowledge base folder does not")


# ---------------------------------------------------------------- the packaged knowledge base
@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge_base()


def test_intents_list():
    assert len(INTENTS) == 27 and list(INTENTS) == sorted(INTENTS) and set(CATEGORIES) == set(INTENTS)
    assert CATEGORIES["check_cancellation_fee"] == "CANCELLATION_FEE"


def test_real_kb_size_and_coverage(kb):
    assert kb.root == default_kb_dir()
    assert len(kb.snippets) >= 100
    per_intent = {intent: len(snippets) for intent, snippets in kb.by_intent().items()}
    assert {i: n for i, n in per_intent.items() if n < 3} == {}
    assert kb.missing_intents() == []
    assert len({s.id for s in kb.snippets}) == len(kb.snippets)


def test_real_kb_loads_without_warnings(caplog):
    with caplog.at_level(logging.WARNING):
        load_knowledge_base()
    assert caplog.records == []


def test_real_kb_texts_are_short_policy_statements(kb):
    assert [s.id for s in kb.snippets if not 1 <= count_sentences(s.text) <= 4] == []
    assert [s.id for s in kb.snippets if not s.title or not s.tags] == []


def test_main_snippet_of_each_intent_comes_from_its_topic_file(kb):
    main_of = {intent: snippets[0] for intent, snippets in kb.by_intent().items()}
    assert all(s.intents[0] == intent for intent, s in main_of.items())
    assert main_of["get_refund"].id == "refund-how-to-request"
    assert main_of["track_order"].id == "track-order-how"


# Key facts: (what, pattern with one group per alternative, the one value allowed, least number of statements).
FACTS = [
    ("return window", r"(\d+) days of delivery", "30", 4),
    ("order edit window", r"(\d+) minutes (?:of|after) placing|first (\d+) minutes|After (\d+) minutes|(\d+)-minute edit",
     "60", 5),
    ("free standard shipping threshold", r"(?<!costs \$19\.99, )free (?:on|from) (?:US )?orders of (\$\d+)", "$50", 3),
    ("standard shipping fee", r"Standard delivery \([^)]*?(\$[\d.]+)|(\$[\d.]+) standard shipping fee|the US: (\$[\d.]+)",
     "$4.99", 3),
    ("opening hours on weekdays", r"Monday–Friday (\d+ am–\d+ pm) ET", "8 am–8 pm", 2),
    ("opening hours at weekends", r"Saturday–Sunday (\d+ am–\d+ pm) ET", "9 am–5 pm", 2),
    ("main phone number", r"(1-800-555-\d{4})(?!\S*, answered by agents)", "1-800-555-0199", 5),
    ("email reply time", r"(?:reply|answered) within (\d+ hours)", "24 hours", 3),
    ("return label deduction", r"(\$[\d.]+) (?:for the prepaid label|return label)", "$6.95", 2),
    ("restocking fee", r"(\d+)% restocking fee", "15", 2),
    ("early termination fee", r"(\$\d+) (?:early termination )?fee after that|(\$\d+) early termination fee", "$20", 3),
    ("membership cooling-off", r"within (\d+) days of purchase or renewal|first (\d+) days|full refund within (\d+) days",
     "14", 3),
    ("personalised cancellation fee", r"(\d+)% of the item price", "25", 2),
    ("scheduled-delivery fee", r"(\$\d+) scheduled-delivery fee", "$39", 3),
    ("scheduled-delivery notice", r"(\d+) hours before (?:the|its) (?:delivery )?slot", "48", 3),
    ("account deletion grace period", r"(\d+)-day grace period|during those (\d+) days|After (\d+) days the account",
     "30", 3),
    ("password length", r"at least (\d+) characters|shorter than (\d+) characters", "10", 4),
    ("online invoice history", r"(\d+) months", "24", 2),
    ("record retention", r"for (\d+) years", "7", 2),
    ("authorisation hold release", r"releases? (?:the pending hold|it) within (\d+–\d+ business days)",
     "3–5 business days", 2),
    ("refund processing time", r"issue the refund within (\d+–\d+ business days)", "5–7 business days", 1),
]


@pytest.mark.parametrize("what, pattern, value, least", FACTS, ids=[f[0] for f in FACTS])
def test_key_facts_are_stated_identically(kb, what, pattern, value, least):
    found = [(s.id, next(g for g in m.groups() if g)) for s in kb.snippets for m in re.finditer(pattern, s.text)]
    assert len(found) >= least, f"{what}: only {found}"
    assert [f for f in found if f[1] != value] == [], f"{what} must be {value} everywhere"


def test_every_amount_contact_and_day_range_is_on_the_fact_sheet(kb):
    readme = (default_kb_dir().parent / "README.md").read_text(encoding="utf-8")
    sheet = readme[readme.index("## Fact sheet"):]
    token = re.compile(r"\$[\d,]*\d(?:\.\d\d)?|1-800-555-\d{4}|[\w.]+@northwindgoods\.com|\d+–\d+ business days")
    missing = {(s.id, t) for s in kb.snippets for t in token.findall(s.text) if t not in sheet and t != "$0"}
    assert missing == set()
    assert "$0" in readme


# ---------------------------------------------------------------- the packaged retrieval sets (test and dev)
@pytest.fixture(scope="module", params=["retrieval_set.yaml", "retrieval_dev.yaml"])
def examples(kb, request):
    return load_retrieval_set(default_retrieval_set_path().with_name(request.param), kb=kb)


def test_development_and_test_sets_share_no_message(kb):
    def key(message: str) -> str:
        return " ".join(message.split()).casefold()

    test = {key(e.message) for e in load_retrieval_set(default_retrieval_set_path(), kb=kb)}
    dev = [e.message for e in load_retrieval_set(default_retrieval_set_path().with_name("retrieval_dev.yaml"), kb=kb)]
    assert len(test) >= 150 and len(dev) >= 150
    assert [m for m in dev if key(m) in test] == []


def test_retrieval_set_size_and_kinds(examples):
    assert len(examples) >= 150
    kinds = Counter(e.kind for e in examples)
    assert kinds["single"] >= 100 and kinds["two_concerns"] >= 15 and kinds["ambiguous"] >= 15


def test_retrieval_set_covers_every_intent(examples):
    singles = Counter(e.intents[0] for e in examples if e.kind == "single")
    assert {i: singles[i] for i in INTENTS if singles[i] < 3} == {}


def test_retrieval_set_gold_snippets_exist_and_carry_the_gold_intent(kb, examples):
    for e in examples:
        snippets = [kb.get(i) for i in e.snippet_ids]
        if e.kind == "single":
            assert all(e.intents[0] in s.intents for s in snippets), e.message
        else:
            assert all(any(i in s.intents for s in snippets) for i in e.intents), e.message


def test_two_concern_examples_have_two_intents_and_ambiguous_ones_need_the_wording(kb, examples):
    by_intent = kb.by_intent()
    assert all(len(e.intents) >= 2 for e in examples if e.kind == "two_concerns")
    # For an ambiguous message the intent alone is not enough: its intent has several snippets.
    assert all(len(by_intent[e.intents[0]]) >= 3 for e in examples if e.kind == "ambiguous")
    not_main = [e for e in examples if e.kind == "ambiguous" and by_intent[e.intents[0]][0].id not in e.snippet_ids]
    assert len(not_main) >= 15


def test_retrieval_messages_are_not_copied_from_bitext(examples, shared_data):
    import csv

    path = shared_data / "bitext" / "bitext_customer_support_4.5k.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    with path.open(encoding="utf-8") as handle:
        bitext = {row["instruction"].strip().casefold() for row in csv.DictReader(handle)}
    assert [e.message for e in examples if e.message.casefold() in bitext] == []


# ---------------------------------------------------------------- another domain: intents from the model, phrasing as data
def test_another_domain_accepts_its_own_intents_and_checks_them_against_a_model(tmp_path, capsys):
    write(tmp_path, "kb.yaml", "- id: f\n  intents: [freeze_account]\n  title: Freeze\n  text: Freeze it in the app.\n"
                               "- id: b\n  intents: [balance]\n  title: Balance\n  text: See Home.\n")
    kb = load_knowledge_base(tmp_path)
    assert kb.intents() == ["balance", "freeze_account"]
    assert kb.coverage(["freeze_account", "report_fraud"]) == {"model_intents_without_snippets": ["report_fraud"],
                                                               "snippet_intents_no_model_predicts": ["balance"]}
    with pytest.raises(KnowledgeBaseError, match=r"share no intent: its snippets are about balance, freeze_account; "
                                                 r"the model predicts get_refund, track_order"):
        kb.check_model(["track_order", "get_refund"])
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"id2label": {"0": "freeze_account", "1": "report_fraud"}}))
    assert main([str(tmp_path), "--model", str(model), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == {"path": str(model), "labels": 2, "model_intents_without_snippets": ["report_fraud"],
                               "snippet_intents_no_model_predicts": ["balance"]}
    (model / "config.json").write_text(json.dumps({"id2label": {"0": "LABEL_0"}}))
    assert main([str(tmp_path), "--model", str(model)]) == 2
    assert "no intent names (id2label)" in capsys.readouterr().err


def test_phrasing_file_is_read_and_checked(tmp_path):
    write(tmp_path, "kb.yaml", "- id: f\n  intents: [freeze_account]\n  title: Freeze\n  text: Freeze it in the app.\n")
    phrasing = tmp_path / "intents.yaml"
    phrasing.write_text("contact:\n  phone: '0800 1'\nintents:\n  freeze_account:\n    topic: freezing your account\n"
                        "    opening_with_reference: 'About {ref}:'\n")
    kb = load_knowledge_base(tmp_path)
    assert kb.files == ["kb.yaml"] and kb.phrasing.topic("freeze_account") == "freezing your account"
    assert kb.phrasing.opening("freeze_account", "order 1") == "About order 1:"
    assert kb.phrasing.channel_sentence() == "You can also reach our customer service team by phone at 0800 1."
    phrasing.write_text("intents:\n  freeze_account:\n    topik: x\n")
    assert error_of(tmp_path) == (f"{phrasing}:3: unknown key 'topik' in intent 'freeze_account'. Valid keys: topic, "
                                  "opening, opening_with_reference, closing, reference.")
    phrasing.write_text("intents:\n  report_fraud:\n    topic: fraud\n")
    assert error_of(tmp_path) == (f"{phrasing}:2: intent 'report_fraud' has no snippet in the knowledge base. Remove its "
                                  "entry, fix the name, or add a snippet for it.")


def test_packaged_phrasing_covers_every_intent(kb):
    assert set(kb.phrasing.intents) == set(INTENTS) and kb.phrasing.contact["phone"] == "1-800-555-0199"
