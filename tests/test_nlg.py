"""Reply generators: the grounded realizer, clarification/hand-off, prompt truncation, seq2seq on a tiny T5."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge_base.intents import INTENTS
from pipeline.errors import ConfigError, ModelLoadError, NotFittedError
from pipeline.reply.guardrails import Guardrails
from pipeline.reply.fallbacks import clarification_reply, out_of_scope_reply
from pipeline.reply.generators import GeneratorConfig, GroundedGenerator, Seq2SeqGenerator, build_generator
from knowledge_base.phrasing import load_phrasing
from pipeline.reply.prompts import DEFAULT_PROMPT_TEMPLATE, check_template, fit_prompt, format_slots, render_prompt
from pipeline.nlu.entities import extract_entities
from pipeline.types import IntentPrediction, Snippet
from tests.tiny_models import make_tiny_t5

REFUND = Snippet(
    id="refund-window", intents=["get_refund"], title="Refund window",
    text="Returns are accepted within 30 days of delivery. Customers can request a refund under Account > Orders; "
         "their refund is issued within 5-7 business days.",
)
METHOD = Snippet(id="refund-method", intents=["get_refund"], title="Refund method",
                 text="Refunds go back to the original payment method. Gift cards are refunded as store credit.")
CONTACT = Snippet(id="contact", intents=["contact_customer_service"], title="Contact",
                  text="You can reach customer service by phone at 1-800-555-0199 or by live chat. Letters go to our office.")


DEMO = load_phrasing(Path(__file__).resolve().parents[1] / "knowledge_base" / "intents.yaml")


def pred(label: str, conf: float = 0.9, ranking=None) -> IntentPrediction:
    return IntentPrediction(label=label, confidence=conf, ranking=ranking or [(label, conf)])


def test_grounded_reply_is_exact_mentions_order_and_policy_number():
    reply = GroundedGenerator(phrasing=DEMO).run(["I want a refund for order 12345"], [pred("get_refund")], [[REFUND, METHOD]])["replies"][0]
    assert reply == (
        "I understand you'd like to get a refund for order 12345, and I'm here to help. "
        "Returns are accepted within 30 days of delivery. "
        "You can request a refund under Account > Orders; your refund is issued within 5-7 business days. "
        "It also helps to know that refunds go back to the original payment method. Gift cards are refunded as store credit. "
        "If you have any other questions about this, please don't hesitate to reply here or reach out to our "
        "customer service team through the live chat on our website."
    )
    assert "order 12345" in reply and "30 days" in reply


def test_grounded_names_order_and_invoice_numbers_but_never_emails_or_amounts():
    gen = GroundedGenerator(max_snippets=1, phrasing=DEMO)
    replies = gen.run(
        ["where is invoice #00108 of order 5555?", "close my account jo@x.com", "refund my $160 please", "my order never came"],
        [pred("get_invoice"), pred("delete_account"), pred("get_refund"), pred("complaint")],
        [[REFUND]] * 4,
    )["replies"]
    assert replies[0].startswith("I understand you'd like to get a copy of invoice 00108, and I'm here to help.")  # invoice first
    assert replies[1].startswith("I understand you'd like to close your account, and I'm here to help.") and "jo@x.com" not in replies[1]
    assert replies[2].startswith("I understand you'd like to get a refund, and I'm here to help.") and "$160" not in replies[2]
    assert replies[3].startswith("I'm sorry about your experience, and thank you for telling us.")


def test_an_intent_without_phrasing_gets_generic_lines():
    reply = GroundedGenerator(phrasing=DEMO).run(["freeze order 4471-22"], [pred("freeze_account")], [[REFUND]])["replies"][0]
    assert reply == ("Here is what I can tell you about freeze account for order 4471-22. Returns are accepted within 30 days "
                     "of delivery. You can request a refund under Account > Orders; your refund is issued within 5-7 "
                     "business days. If you have any other questions, just reply here.")


def test_grounded_replies_pass_guardrails_for_every_intent():
    guards = Guardrails()
    gen = GroundedGenerator(phrasing=DEMO)
    messages = [f"question about order 55555 and jo@x.com ({intent})" for intent in INTENTS]
    replies = gen.run(messages, [pred(i) for i in INTENTS], [[REFUND, METHOD]] * len(INTENTS))["replies"]
    results = guards.run(replies, messages, [[REFUND, METHOD]] * len(INTENTS))["results"]
    assert [r.fired for r in results] == [[] for _ in INTENTS]
    assert set(DEMO.intents) == set(INTENTS)


def test_grounded_without_snippets_still_replies_and_is_deterministic():
    gen = GroundedGenerator(phrasing=DEMO)
    a = gen.run(["my payment failed"], [pred("payment_issue")], [[]])["replies"][0]
    assert a.startswith("I'm sorry you're having trouble with your payment; let's get it sorted out. I don't have the policy details")
    assert gen.run(["my payment failed"], [pred("payment_issue")], [[]])["replies"][0] == a
    with pytest.raises(ValueError, match="one intent and one snippet list per message"):
        gen.run(["a", "b"], [pred("payment_issue")], [[]])


def test_clarification_offers_top_two_topics():
    p = pred("get_refund", 0.3, [("get_refund", 0.3), ("track_refund", 0.2), ("cancel_order", 0.1)])
    assert clarification_reply(p, DEMO) == (
        "I want to make sure I help you with the right thing. Is your question about getting a refund or about the "
        "status of a refund? A few more words about what you need will help me answer."
    )
    assert "Is your question about tracking an order?" in clarification_reply(IntentPrediction("track_order", 0.2), DEMO)
    assert "Is your question about track order?" in clarification_reply(IntentPrediction("track_order", 0.2))  # no phrasing


def test_out_of_scope_reply_names_the_support_channel():
    assert out_of_scope_reply([CONTACT]) == (
        "I'm sorry, I'm not sure I understood your request, and I'd rather not guess. The best way forward is to talk to "
        "a member of our customer service team, who can help you directly. "
        "You can reach customer service by phone at 1-800-555-0199 or by live chat."
    )
    assert out_of_scope_reply(None, DEMO).endswith("You can also reach our customer service team by phone at 1-800-555-0199, "
                                                   "by live chat from the Help button on the website or in the app, or by "
                                                   "email at support@northwindgoods.com.")
    assert out_of_scope_reply().endswith("You can also reach our customer service team directly.")


def test_unknown_generator_is_a_config_error():
    msg = r"The 'generator' parameter of GeneratorConfig must be one of 'grounded', 'seq2seq'. Got 'gpt4'."
    with pytest.raises(ConfigError, match=msg):
        GeneratorConfig(generator="gpt4")
    cfg = GeneratorConfig()
    cfg.generator = "gpt4"
    with pytest.raises(ConfigError, match=msg):
        build_generator(cfg)
    with pytest.raises(ConfigError, match=r"Unknown key\(s\) 'beams'"):
        GeneratorConfig.from_dict({"beams": 2})
    assert isinstance(build_generator(GeneratorConfig()), GroundedGenerator)


def test_prompt_template_is_checked():
    with pytest.raises(ConfigError, match=r"unknown field\(s\) \['name'\]"):
        check_template("Hi {name}: {message}")
    with pytest.raises(ConfigError, match=r"must include \{message\}"):
        GeneratorConfig(prompt_template="Policy: {snippets}")


def test_render_prompt_and_slots():
    ents = extract_entities("refund order 12345 to jo@x.com")
    assert format_slots(ents) == "order number: 12345"  # an email is not handed to the generator
    assert format_slots([]) == "none"
    prompt = render_prompt("{intent} | {slots} | {snippets} | {message}", " hi ", "get_refund", [METHOD], ents)
    assert prompt == ("get refund | order number: 12345 | Refund method: Refunds go back to the original "
                      "payment method. Gift cards are refunded as store credit. | hi")


def words(text: str) -> int:
    return len(text.split())


TEMPLATE = "P: {snippets} M: {message}"


def test_fit_prompt_truncates_message_first():
    msg = " ".join(f"w{i}" for i in range(100))
    prompt, notes = fit_prompt(TEMPLATE, msg, "get_refund", [METHOD], None, 80, words, min_message_words=10)
    assert words(prompt) == 80
    assert prompt.startswith("P: Refund method: Refunds go back")
    assert prompt.endswith("w58 w59 ...")
    assert notes == ["message truncated to 60 of 100 words to fit 80 tokens"]


def test_fit_prompt_then_drops_trailing_snippets_then_cuts_first_at_a_sentence():
    msg = " ".join(f"w{i}" for i in range(30))
    prompt, notes = fit_prompt(TEMPLATE, msg, "get_refund", [REFUND, METHOD], None, 60, words, min_message_words=10)
    assert "Refund method" in prompt and notes == ["message truncated to 13 of 30 words to fit 60 tokens"]
    prompt, notes = fit_prompt(TEMPLATE, msg, "get_refund", [REFUND, METHOD], None, 40, words, min_message_words=10)
    assert "Refund method" not in prompt and prompt.endswith("5-7 business days. M: w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 ...")
    assert notes == ["message truncated to 10 of 30 words to fit 40 tokens", "dropped 1 trailing snippet(s) to fit 40 tokens"]
    prompt, notes = fit_prompt(TEMPLATE, msg, "get_refund", [REFUND, METHOD], None, 25, words, min_message_words=5)
    assert prompt == "P: Refund window: Returns are accepted within 30 days of delivery. M: w0 w1 w2 w3 w4 ..."
    assert notes[-1] == "first snippet cut to 1 of 2 sentence(s) to fit 25 tokens"
    prompt, notes = fit_prompt(TEMPLATE, msg, "get_refund", [REFUND, METHOD], None, 14, words, min_message_words=5)
    assert prompt == "P: Refund window: Returns are accepted within M: w0 w1 w2 w3 w4 ..."
    assert notes[-1] == "first snippet cut mid-sentence to 4 words to fit 14 tokens"


def test_fit_prompt_last_resorts_say_what_does_not_fit():
    msg = " ".join(f"w{i}" for i in range(30))
    prompt, notes = fit_prompt(TEMPLATE, msg, "get_refund", [REFUND], None, 16, words, min_message_words=12)
    assert prompt == "P: Refund window: Returns are accepted within 30 days of delivery. M: w0 w1 w2 ..."
    assert notes == ["message truncated to 12 of 30 words to fit 16 tokens", "first snippet cut to 8 words",
                     "message truncated further to 3 words to fit 16 tokens"]
    prompt, notes = fit_prompt(TEMPLATE, msg, "get_refund", [REFUND], None, 10, words, min_message_words=5)
    assert prompt == "P: Refund window: Returns are accepted within 30 days of delivery. M: ..."
    assert notes[-1] == ("prompt template with the first snippet's title and first 8 words exceeds 10 tokens; "
                         "the tokenizer truncates it")
    prompt, notes = fit_prompt("Answer the customer politely and briefly. {snippets} M: {message}", msg, "get_refund", [],
                               None, 5, words, min_message_words=5)
    assert prompt == "Answer the customer politely and briefly. none M: ..."
    assert notes == ["message truncated to 5 of 30 words to fit 5 tokens",
                     "prompt template alone exceeds 5 tokens; the tokenizer truncates it"]


def test_seq2seq_offline_uncached_hub_id_fails_with_how_to(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    gen = build_generator(GeneratorConfig(generator="seq2seq", model="acme/never-cached-flan-t5"))
    with pytest.raises(ModelLoadError) as err:
        gen.warm_up()
    text = str(err.value)
    assert text.startswith("The seq2seq generator tokenizer 'acme/never-cached-flan-t5' is ")
    assert "HF_HUB_OFFLINE is set" in text and "offline default ('default')" not in text
    assert "local folder" in text and "'generator: grounded'" in text and "\n" not in text


def test_seq2seq_missing_folder_fails():
    with pytest.raises(ModelLoadError, match=r"folder './no/such/model' does not exist.*generator: grounded"):
        Seq2SeqGenerator(GeneratorConfig(generator="seq2seq", model="./no/such/model")).warm_up()


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory) -> Path:
    texts = [REFUND.text, METHOD.text, "I want a refund for order 12345", DEFAULT_PROMPT_TEMPLATE]
    return make_tiny_t5(tmp_path_factory.mktemp("t5") / "tiny-t5", texts)


def test_seq2seq_generates_in_batches_on_tiny_t5(tiny_t5):
    cfg = GeneratorConfig(generator="seq2seq", model=str(tiny_t5), max_new_tokens=6, batch_size=2, max_input_tokens=300)
    gen = build_generator(cfg)
    with pytest.raises(NotFittedError):
        gen.prompts(["x"], [pred("get_refund")], [[REFUND]])
    gen.warm_up()
    out = gen.run(["I want a refund for order 12345", "refund please", "where is my refund " * 40],
                  [pred("get_refund")] * 3, [[REFUND, METHOD]] * 3)
    assert len(out["replies"]) == 3 and all(isinstance(r, str) for r in out["replies"])
    assert out["notes"][0] == []
    assert out["notes"][1] == [] and out["notes"][2] == ["message truncated to 60 of 160 words to fit 300 tokens"]
    prompts, _ = gen.prompts(["refund for order 12345"], [pred("get_refund")], [[REFUND]])
    assert prompts[0].startswith("Answer the customer politely using only the policy.\nPolicy: Refund window: Returns are accepted")
    assert "Details: order number: 12345" in prompts[0]


def test_seq2seq_progress_bar_counts_every_reply(tiny_t5, capsys):
    cfg = GeneratorConfig(generator="seq2seq", model=str(tiny_t5), max_new_tokens=2, batch_size=2)
    gen = Seq2SeqGenerator(cfg, progress=True)
    assert len(gen.generate(["a", "b c", "d"])) == 3
    err = capsys.readouterr().err
    assert "generating" in err and "3/3" in err
    assert len(Seq2SeqGenerator(cfg).generate(["a"])) == 1 and "generating" not in capsys.readouterr().err


def test_seq2seq_uses_the_prompt_stored_with_the_model(tiny_t5, tmp_path):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_t5, folder)
    # an older model folder: the template in training_config.json
    (folder / "training_config.json").write_text(json.dumps({"prompt_template": "Q: {message} P: {snippets}"}))
    gen = Seq2SeqGenerator(GeneratorConfig(generator="seq2seq", model=str(folder), max_new_tokens=2))
    gen.warm_up()
    assert gen.prompts(["hi"], [pred("get_refund")], [[METHOD]])[0][0].startswith("Q: hi P: Refund method")
    # resolved_config.json, as training.finetune_generator writes it now, wins over the old name
    (folder / "resolved_config.json").write_text(json.dumps({"prompt_template": "Ask: {message} Policy: {snippets}"}))
    gen = Seq2SeqGenerator(GeneratorConfig(generator="seq2seq", model=str(folder), max_new_tokens=2))
    gen.warm_up()
    assert gen.prompts(["hi"], [pred("get_refund")], [[METHOD]])[0][0].startswith("Ask: hi Policy: Refund method")


def test_uncased_decoder_output_is_cased_and_spaced_from_the_prompt():
    from pipeline.reply.surface import is_uncased, restore_spacing, restore_surface

    prompt = "Customer: Where is order 4471-22? Policy: Track it under Account > Orders on northwindgoods.com, open Mon–Fri."
    decoded = "you can track order 4471 - 22 under account > orders on northwindgoods. com, mon – fri. i ' ll help ."
    assert restore_surface(decoded, prompt) == ("You can track order 4471-22 under Account > Orders on northwindgoods.com, "
                                                "Mon–Fri. I'll help.")
    assert restore_spacing("costs $ 5. 99 ( tax incl . ) , e - mail us") == "costs $5.99 (tax incl.), e-mail us"
    assert restore_surface("unknown words stay. second sentence", "") == "Unknown words stay. Second sentence"

    class Uncased:
        do_lower_case = True
        init_kwargs: dict = {}

    class Cased:
        init_kwargs = {"do_lower_case": False}

    assert is_uncased(Uncased()) and not is_uncased(Cased())
