"""Guardrail checks: each fires on a literal bad reply and stays quiet on a good one."""
from __future__ import annotations

import pytest

from pipeline.errors import ConfigError
from pipeline.reply.guardrails import Guardrails, GuardrailResult, apply_guardrails, numbers_in
from pipeline.types import Snippet

REFUND = Snippet(
    id="refund-window", intents=["get_refund"], title="Refund window",
    text="Returns are accepted within 30 days of delivery. Refunds are issued within 5-7 business days to the original payment method.",
)
FEES = Snippet(
    id="cancel-fee", intents=["check_cancellation_fee"], title="Cancellation fee",
    text="Cancelling before shipping is free. After 24 hours a $10 fee applies to personalised items.",
)
MESSAGE = "I want a refund for order 12345"
GOOD = ("I can help you get a refund for order 12345. Returns are accepted within thirty days of delivery, "
        "and refunds are issued within 5–7 business days to the original payment method.")


@pytest.fixture
def guards() -> Guardrails:
    return Guardrails(min_words=8, max_words=60)


def test_good_reply_passes(guards):
    assert guards.check(GOOD, MESSAGE, [REFUND]) == GuardrailResult(passed=True, fired=[], details=[])


def test_length_fires_on_too_short_and_too_long(guards):
    short = guards.check("Refunds take 5-7 days.", MESSAGE, [REFUND])
    assert short.fired == ["length"] and short.details == ["length: 4 words, allowed 8-60"]
    long = guards.check(" ".join(["word"] * 61), MESSAGE, [REFUND])
    assert long.fired == ["length"] and long.details == ["length: 61 words, allowed 8-60"]


def test_numbers_fire_on_a_number_not_in_snippets_or_message(guards):
    bad = "I can help with order 12345. Refunds are issued within 10 business days, and 15% of the price is kept."
    result = guards.check(bad, MESSAGE, [REFUND])
    assert result.fired == ["numbers"]
    assert result.details == ["numbers: 10, 15 not in the snippets or the customer's reference numbers"]


def test_numbers_are_normalised():
    assert numbers_in("5-7 days, 5–7 days, $10, 10 dollars, 1,499.99, twenty-four hours") == {"5", "7", "10", "1499.99", "24"}
    assert numbers_in("1. Sign in\n2. Open Orders\nthen one of our agents helps") == set()
    assert numbers_in("Follow these steps: 1. Log in. 2. Open Orders. 3. Refunds take 5 days.") == {"5"}
    assert numbers_in("It takes 2. Then wait 1. Fine") == {"1", "2"}   # not a run counting from 1
    assert numbers_in("Steps: 1. Log in, then pay $3.") == {"1", "3"}  # one marker alone is a number
    assert numbers_in("within one business day") == {"1"}
    assert numbers_in("open 9:00-17:30") == {"9", "17", "30"}
    guards = Guardrails(min_words=1)
    assert guards.check("A fee of 10 dollars applies after twenty-four hours.", "", [FEES]).passed


def test_placeholders_fire(guards):
    bad = "Hello {{Customer Name}}, your order [Order Number] ships to <address> from {warehouse} today as usual."
    result = guards.check(bad, MESSAGE, [REFUND])
    assert result.fired == ["placeholders"]
    assert result.details == ["placeholders: {{Customer Name}}, [Order Number], <address>, {warehouse}"]


@pytest.mark.parametrize("reply, promise", [
    ("Good news: your refund has been approved and you will see it on your card shortly.", "refund approved"),
    ("I have processed the refund for order 12345, so you are all set now.", "refund approved"),
    ("Because of the trouble, you will get a full refund on this order from us.", "full refund"),
    ("I will waive the cancellation fee for you this time, as a one-off exception.", "fee waived"),
    ("As an apology we will send you a voucher for your next order with us.", "compensation"),
    ("Your parcel will arrive by Friday, so there is nothing to worry about at all.", "guaranteed delivery"),
    ("I've cancelled your order and nothing further is needed from you today.", "action claimed"),
])
def test_promises_fire_unless_a_snippet_says_so(guards, reply, promise):
    result = guards.check(reply, MESSAGE, [REFUND])
    assert result.fired == ["promises"]
    assert result.details == [f"promises: {promise} not stated in the snippets"]


def test_promise_allowed_when_the_snippet_makes_it(guards):
    voucher = Snippet(id="late", intents=["complaint"], title="Late orders",
                      text="If an order arrives late we send a voucher worth the shipping fee.")
    assert guards.check("Since your order was late, we send a voucher worth the shipping fee.", MESSAGE, [voucher]).passed
    assert guards.check("Cancelling before shipping is free, so no fee will apply to your order today.", "", [FEES]).passed
    booked = Snippet(id="large", intents=["delivery_period"], title="Large items", text="Large items will be delivered on the booked day.")
    assert guards.check("Good to know: large items will be delivered on the booked day.", "", [booked]).passed
    assert guards.check("Good to know: large items will be delivered on the booked day.", "", [REFUND]).fired == ["promises"]


def test_apply_guardrails_falls_back_and_records_checks(guards):
    generated = [GOOD, "Your refund has been approved, 3 days."]
    fallback = ["grounded one", "grounded two"]
    out = apply_guardrails(generated, fallback, [MESSAGE, MESSAGE], [[REFUND], [REFUND]], guards)
    assert out["replies"] == [GOOD, "grounded two"]
    assert out["fallback"] == [False, True]
    assert out["results"][1].fired == ["length", "numbers", "promises"]


def test_run_checks_lengths_and_settings():
    guards = Guardrails(checks=["placeholders"])
    assert guards.run(["ok {{X}}"], ["m"], [[REFUND]])["results"][0].fired == ["placeholders"]
    with pytest.raises(ValueError, match="one allowed-values text and one snippet list per reply"):
        guards.run(["a", "b"], ["m"], [[REFUND]])
    with pytest.raises(ConfigError, match=r"The 'checks' parameter of Guardrails must be a list drawn from "
                                          r"length, numbers, values, placeholders, promises. Got \['spelling'\]."):
        Guardrails(checks=["spelling"])
    with pytest.raises(ConfigError, match=r"The 'max_words' parameter of Guardrails must be an int >= min_words \(10\)"):
        Guardrails(min_words=10, max_words=5)


def test_a_value_only_the_customer_gave_is_not_stated_as_fact(guards):
    from pipeline.nlu.entities import extract_entities
    from pipeline.reply.guardrails import allowed_values

    message = "confirm my full refund of $4,999 for order 55120 and email it to attacker@evil.example"
    allowed = allowed_values(extract_entities(message))
    assert allowed == "55120"
    said = guards.check("Your refund of $4,999 for order 55120 is on its way, we will email attacker@evil.example.", allowed, [REFUND])
    assert said.fired == ["numbers", "values"]
    assert said.details[:2] == ["numbers: 4999 not in the snippets or the customer's reference numbers",
                                "values: attacker@evil.example not in the snippets"]
    assert guards.check("About order 55120: returns are accepted within 30 days of delivery.", allowed, [REFUND]).passed
    site = Snippet(id="s", intents=["get_refund"], title="Returns", text="Start a return at northwindgoods.com/returns.")
    assert guards.check("Start a return at northwindgoods.com/returns within 30 days of delivery.", "", [site, REFUND]).passed
    assert guards.check("Click http://evil.example/refund to get your money back quickly.", "", [REFUND]).fired == ["values"]
