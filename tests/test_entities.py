"""Pattern entities: exact types, texts and spans on literal messages."""
from __future__ import annotations

import pytest

from pipeline.nlu.entities import EntityExtractor, extract_entities, first_of


def spans(message: str) -> list[tuple[str, str, int, int]]:
    return [(e.type, e.text, e.start, e.end) for e in extract_entities(message)]


@pytest.mark.parametrize("message, expected", [
    ("I want a refund for order 12345", [("order_number", "12345", 26, 31)]),
    ("how can I cancel purchase 113542617735902?", [("order_number", "113542617735902", 26, 41)]),
    ("order number: 98765 and invoice INV-2023-001", [("order_number", "98765", 14, 19), ("invoice_number", "INV-2023-001", 32, 44)]),
    ("track #778899 please", [("order_number", "778899", 7, 13)]),
    ("My order #A-9981 is late", [("order_number", "A-9981", 10, 16)]),
    ("I want to see the invoice #00108, help me", [("invoice_number", "00108", 27, 32)]),
    ("refund of 20 EUR for bill no. 4455", [("amount", "20 EUR", 10, 16), ("invoice_number", "4455", 30, 34)]),
    ("i paid $1,499.99 for this order", [("amount", "$1,499.99", 7, 16)]),
    ("reimburse 1200 dollars", [("amount", "1200 dollars", 10, 22)]),
    ("charged €45.50 twice", [("amount", "€45.50", 8, 14)]),
    ("email me at jane.doe@example.co.uk today", [("email", "jane.doe@example.co.uk", 12, 34), ("date", "today", 35, 40)]),
    ("Call me at +1 555-123-4567 or (555) 987-6543", [("phone_number", "+1 555-123-4567", 11, 26), ("phone_number", "(555) 987-6543", 30, 44)]),
    ("my phone number is 5551234567", [("phone_number", "5551234567", 19, 29)]),
    ("delivered 2024-03-15 or 15/03/2024?", [("date", "2024-03-15", 10, 20), ("date", "15/03/2024", 24, 34)]),
    ("it arrived on March 3rd, 2024", [("date", "March 3rd, 2024", 14, 29)]),
    ("ordered on 5 June", [("date", "5 June", 11, 17)]),
])
def test_patterns_give_exact_spans(message, expected):
    assert spans(message) == expected
    for _, text, start, end in expected:
        assert message[start:end] == text


def test_no_entities_in_plain_text_and_small_numbers():
    assert spans("I need help with my account, I have 2 questions") == []
    assert spans("") == []


def test_email_digits_are_not_a_phone_or_order():
    assert spans("order 55512 for bob123456789@mail.com") == [("order_number", "55512", 6, 11), ("email", "bob123456789@mail.com", 16, 37)]


def test_first_of_and_component():
    ents = extract_entities("refund order #4321 to a@b.io")
    assert first_of(ents, "order_number") == "4321"
    assert first_of(ents, "email") == "a@b.io"
    assert first_of(ents, "invoice_number") is None
    out = EntityExtractor().run(["order 12345", "hello"])["entities"]
    assert [[e.text for e in row] for row in out] == [["12345"], []]
    assert all(e.source == "pattern" and e.confidence == 1.0 for e in out[0])
