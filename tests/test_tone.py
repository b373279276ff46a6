"""Tone in NLU (pipeline.nlu.tone), escalation in the policy, the apology in replies, and python -m evaluation.tone."""
from __future__ import annotations

import doctest
import json

import pytest

import pipeline.nlu.tone as tone_module
from evaluation import tone as tone_eval
from pipeline.errors import DataError, ModelLoadError
from pipeline.nlu.tone import LearnedTone, ToneReader
from pipeline.policy import PolicyConfig, PolicyStage
from pipeline.types import Tone, Turn
from tests.test_respond import fake_assistant
from tests.tiny_models import make_tiny_intent_model


@pytest.fixture(scope="module")
def reader():
    return ToneReader()


def test_doctests():
    assert doctest.testmod(tone_module).failed == 0


@pytest.mark.parametrize("message, sentiment, urgency, cues", [
    ("I still haven't received my refund", "negative", "normal", []),  # no negative word
    ("thanks for nothing", "negative", "normal", []),  # sarcasm is not praise
    ("how long do refunds take?", "neutral", "normal", []),
    ("you guys rock, thanks!", "positive", "normal", []),
    ("I was charged twice for one order", "negative", "high", ["money"]),
    ("There is an unauthorised payment on my card", "neutral", "high", ["money"]),
    ("this is the third time I ask about my parcel", "negative", "high", ["repeat"]),
    ("I need it by Friday, it's a birthday present", "neutral", "high", ["deadline"]),
    ("refund me or I'm calling my lawyer", "neutral", "high", ["threat"]),
    ("WHY IS THE FONT SO SMALL!!!", "negative", "normal", ["shouting"]),  # angry but trivial: not urgent
    ("do you guys ship to PO boxes", "neutral", "normal", []),  # VADER reads "po" as "pissed off"
    ("if I unsubscribe will I still get my shipping emails?", "neutral", "normal", []),  # a question, not a complaint
    ("I unsubscribed and still get your emails", "negative", "normal", []),
])
def test_reader(reader, message, sentiment, urgency, cues):
    t = reader.read(message)
    assert (t.sentiment, t.urgency, t.cues, t.source) == (sentiment, urgency, cues, "lexicon")
    assert -1.0 <= t.sentiment_score <= 1.0


def turn(text: str, tone: Tone) -> Turn:
    return Turn(message=text, text=text, tone=tone)


def test_escalation_rule_is_config():
    upset_money = Tone("negative", -0.6, "high", ["money"])
    policy = PolicyStage(PolicyConfig())
    assert policy.escalates(turn("charged twice!", upset_money))
    assert not policy.escalates(turn("charged twice", Tone("neutral", 0.0, "high", ["money"])))  # calm: answered
    assert not policy.escalates(turn("SO SMALL", Tone("negative", -0.5, "normal", ["shouting"])))
    assert not PolicyStage(PolicyConfig(escalate=False)).escalates(turn("charged twice!", upset_money))
    assert not PolicyStage(PolicyConfig(escalate_cues=["deadline"])).escalates(turn("charged twice!", upset_money))
    # a learned model has no cues: its reading alone decides
    assert PolicyStage(PolicyConfig(escalate_cues=["deadline"])).escalates(turn("x", Tone("negative", 0.9, "high", [], "model")))
    assert PolicyStage(PolicyConfig(escalate_sentiment=["negative", "neutral"])).escalates(
        turn("charged twice", Tone("neutral", 0.0, "high", ["money"])))


@pytest.fixture(scope="module")
def assistant(packaged_retrieval):
    return fake_assistant({"refund": ("get_refund", 0.97), "charged": ("get_refund", 0.96)}, retrieval=packaged_retrieval)


def test_upset_urgent_customer_is_handed_off_with_the_facts(assistant):
    t = assistant.answer(["I was charged twice for order 12345 and this is the third time I ask!!!"])[0]
    assert t.tone.urgency == "high" and t.tone.sentiment == "negative" and t.route == "handoff"
    assert t.reply.generator == "handoff" and t.reply.text.startswith("I'm sorry about the trouble with this. ")
    assert "12345" in t.reply.text and "refund" in t.reply.text.lower()
    # the hand-off also quotes what answers the message in the meantime, from the retrieved snippets
    said = t.reply.text.split(" In the meantime: ", 1)[1]
    assert t.snippets and any(said.startswith(s.text.split(". ")[0][:30]) for s in t.snippets)
    assert t.reply.notes and t.reply.notes[0].startswith("in the meantime ")
    assistant.stage("nlg").config.handoff_answer = False
    try:
        plain = assistant.answer(["I was charged twice for order 12345 and this is the third time I ask!!!"])[0]
    finally:
        assistant.stage("nlg").config.handoff_answer = True
    assert plain.reply.text == t.reply.text.split(" In the meantime: ", 1)[0] and plain.reply.notes == []


def test_negative_message_opens_with_an_acknowledgement(assistant):
    calm, upset = assistant.answer(["I want a refund for order 12345", "I still haven't received my refund for order 12345"])
    assert calm.route == upset.route == "answer" and upset.tone.sentiment == "negative" and upset.tone.urgency == "normal"
    assert not calm.reply.text.startswith("I'm sorry")
    assert upset.reply.text.startswith("I'm sorry about the trouble with this. ") and "12345" in upset.reply.text
    assert upset.reply.checks == [] and upset.reply.generator == "grounded"


def test_tone_can_be_switched_off(packaged_retrieval):
    from pipeline.assistant import load_respond_config

    config = load_respond_config(None, {"nlu": {"model": "unused", "tone": False}})
    t = fake_assistant({"charged": ("get_refund", 0.96)}, config=config, retrieval=packaged_retrieval).answer(
        ["I was charged twice and this is the third time I ask!!!"])[0]
    assert t.tone is None and t.route == "answer"


def test_learned_tone_replaces_the_lexicon_and_checks_labels(tmp_path):
    model = make_tiny_intent_model(tmp_path / "sentiment", ["negative", "neutral", "positive"])
    learned = LearnedTone(str(model))
    learned.warm_up()
    tones = learned.run(["thanks for nothing", "I was charged twice"])
    assert [t.source for t in tones] == ["model", "model"]
    assert all(t.sentiment in {"negative", "neutral", "positive"} and 0 < t.sentiment_score <= 1 for t in tones)
    assert tones[1].cues == ["money"] and tones[1].urgency == "high"  # urgency still from the lexicon
    wrong = make_tiny_intent_model(tmp_path / "intents", ["get_refund", "track_order"])
    with pytest.raises(ModelLoadError, match=r"The urgency model .* predicts \['get_refund', 'track_order'\]; an? urgency "
                                             r"model must predict high, normal. Train it with --label-column urgency."):
        LearnedTone(None, str(wrong)).warm_up()


ITEMS = [
    {"message": "charged twice, furious", "sentiment": "negative", "urgency": "high", "wants_person": False, "part": "test"},
    {"message": "can I talk to a person", "sentiment": "neutral", "urgency": "normal", "wants_person": True, "part": "test"},
    {"message": "how long does shipping take", "sentiment": "neutral", "urgency": "normal", "wants_person": False, "part": "test"},
    {"message": "love it", "sentiment": "positive", "urgency": "normal", "wants_person": False, "part": "test"},
]


def test_score_counts_escalation_by_the_policy_rule():
    tones = [Tone("negative", -0.5, "high", ["money"]), Tone(), Tone("negative", -0.5, "high", ["money"]), Tone("neutral")]
    r = tone_eval.score(ITEMS, tones)
    # escalated: 1 (rule), 2 ("talk to a person"), 3 (rule, wrongly); gold: 1 and 2
    assert r == {"sentiment_macro_f1": round((2 / 3 + 1 / 2 + 0) / 3, 3), "urgency_f1": round(2 / 3, 3),
                 "escalation_precision": round(2 / 3, 3), "escalation_recall": 1.0, "n": 4, "n_escalation": 2}


def test_load_tone_set_names_the_bad_item(tmp_path):
    bad = tmp_path / "tone.yaml"
    bad.write_text("- {message: hi, sentiment: angry, urgency: high, wants_person: false, part: dev}\n")
    with pytest.raises(DataError, match=r"Item 1 of .*tone.yaml has sentiment='angry'; it must be negative or neutral or positive"):
        tone_eval.load_tone_set(bad)
    with pytest.raises(DataError, match="does not exist"):
        tone_eval.load_tone_set(tmp_path / "missing.yaml")


def test_cli_writes_the_table(tmp_path, capsys):
    import yaml

    data = tmp_path / "tone.yaml"
    data.write_text(yaml.safe_dump(ITEMS))
    out = tmp_path / "run"
    model = make_tiny_intent_model(tmp_path / "intent", ["contact_human_agent", "track_order"])
    assert tone_eval.main(["--data", str(data), "--methods", "vader", "default", "--output-dir", str(out), "--json",
                           "--intent-model", str(model)]) == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads((out / "metrics.json").read_text())
    assert set(printed) == {"vader", "default"} and saved["methods"] == printed and printed["default"]["n"] == 4
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 4
    assert tone_eval.main(["--data", str(data), "--output-dir", str(tmp_path / "r3"), "--methods", "default", "--no-intent",
                           "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"default"}
    assert tone_eval.main(["--data", str(data), "--output-dir", str(tmp_path / "r2"), "--methods", "tfidf_lr"]) == 2
    assert "The learned rows train on the 'dev' part" in capsys.readouterr().err


def test_vader_row_is_vader_as_is(reader):
    # the evaluation's "VADER as is" row keeps VADER's own lexicon; the default reader adjusts it
    assert tone_eval.vader_as_is(["do you guys ship to PO boxes"])[0].sentiment == "negative"
    assert reader.read("do you guys ship to PO boxes").sentiment == "neutral"


def test_escalation_reads_the_intent_as_the_assistant_does():
    from pipeline.types import IntentPrediction

    calm = [Tone("neutral", 0.0, "normal", [])]
    text = ["could I have a word with someone about my order"]  # names a person, no explicit request pattern
    person = [IntentPrediction("contact_human_agent", 0.97)]
    assert tone_eval.escalations(text, calm) == [False]  # explicit requests only
    assert tone_eval.escalations(text, calm, person) == [True]
    assert tone_eval.escalations(text, calm, [IntentPrediction("track_order", 0.97)]) == [False]
