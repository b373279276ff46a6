"""Answer-first replies: sentence selection, the direct yes/no, the composed reply, and its evaluation."""
from __future__ import annotations

import pytest

from pipeline.reply.answer_first import SelectionSettings, answer_first_reply
from pipeline.reply.selection import is_yes_no, score_sentences, select_sentences, yes_no
from pipeline.types import Entity, Snippet

PAY = Snippet("pay", ["check_payment_methods"], "Payment methods",
              "You can pay with Visa, Mastercard and American Express. Cash on delivery is not available. "
              "All prices are charged in US dollars.", score=0.8, sentence_scores=[0.7, 0.3, 0.2])
SHIP = Snippet("ship", ["delivery_period"], "Delivery times", "Standard delivery takes 3-5 business days.",
               score=0.5, sentence_scores=[0.6])


def test_scores_combine_cosine_overlap_and_what_is_asked():
    ranked = score_sentences("how long does standard delivery take", [PAY, SHIP])
    assert ranked[0].snippet_id == "ship" and ranked[0].why == "cosine 0.60 + overlap 0.50 + how long"  # standard, delivery
    assert ranked[0].score == round(0.6 + 0.3 * 0.5 + 0.15, 4)


def test_selection_keeps_close_sentences_in_order_and_another_snippet_only_when_it_scores():
    chosen = select_sentences("do you take american express or cash", [PAY, SHIP], keep_margin=0.5, second_threshold=0.9)
    assert [(s.snippet_id, s.index) for s in chosen] == [("pay", 0), ("pay", 1)]  # 0.85, then 0.375; 0.2 is too far
    chosen = select_sentences("do you take american express", [PAY, SHIP], keep_margin=0.05, second_threshold=0.55)
    assert [(s.snippet_id, s.index) for s in chosen] == [("pay", 0), ("ship", 0)]
    assert select_sentences("anything", []) == []


@pytest.mark.parametrize("message, sentence, answer", [
    ("do u take amex", "You can pay with Visa, Mastercard, American Express and Discover.", "Yes"),
    ("i placed it last night, can i still add my coupon?", "Codes cannot be added to an order after it has been placed.", "No"),
    ("will I lose my order history if I switch?", "Your order history and membership stay the same.", "No"),
    ("Can I cancel it without paying anything?", "Personalised items can be cancelled free of charge within 24 hours.", "Yes"),
    ("im 16, am i allowed to make an account?", "You must be at least 18 years old to open an account.", "No"),
    ("the reset link you sent yesterday, will it still work?", "A reset link is valid for 60 minutes.", "No"),
    ("Can I download an invoice from 3 years ago?", "Invoices of the last 24 months can be downloaded this way.", "No"),
    ("Can I leave a review for a product I didn't buy?", "Only customers who bought the product can review it.", "No"),
    ("how long does delivery take?", "Standard delivery takes 3-5 business days.", None),
    ("do you sell garden furniture?", "Our stores open at 9 am.", None),
])
def test_yes_no(message, sentence, answer):
    assert yes_no(message, sentence) == answer


def test_is_yes_no_reads_a_question_after_a_clause():
    assert is_yes_no("if I unsubscribe will I still get my shipping emails?") and is_yes_no("im 16, am i allowed?")
    assert not is_yes_no("where is my order?") and not is_yes_no("I want a refund")


def test_the_composed_reply():
    text, notes = answer_first_reply("do you take american express?", [PAY, SHIP], [],
                                     settings=SelectionSettings(second_threshold=0.9, keep_margin=0.1))
    assert text == "Yes, you can pay with Visa, Mastercard and American Express. Is there anything else I can help with?"
    assert notes[0].startswith("selected pay#0: ") and notes[-1] == "Yes: settled by pay#0"
    order = [Entity("order_number", "4471-22", 6, 13)]
    text, _ = answer_first_reply("order 4471-22: how long does standard delivery take", [SHIP], order)
    assert text == "About order 4471-22: Standard delivery takes 3-5 business days. Is there anything else I can help with?"
    text, _ = answer_first_reply("what do you do", [], [])
    assert text.startswith("I don't have the policy details for this at hand")


def test_quoted_sentences_and_direct_answer():
    from evaluation.answers import direct_answer, score_turn
    from pipeline.types import IntentPrediction, Reply, Turn

    turn = Turn("do you take amex", intent=IntentPrediction("check_payment_methods", 0.9), snippets=[PAY, SHIP],
                reply=Reply("Yes, you can pay with Visa, Mastercard and American Express. Standard delivery takes 3-5 "
                            "business days. Anything else?"))
    assert score_turn(turn, ["pay"]) == {"precision": 0.5, "recall": True, "first": True, "words": 18, "passed": True, "quoted": 2}
    assert direct_answer("About order 1: No, codes cannot be added.") == "No" and direct_answer("You can pay.") is None
    assert direct_answer("I'm sorry. Yes, it is covered.", "I'm sorry.") == "Yes" and direct_answer("I'm sorry. Yes, it is.") is None
