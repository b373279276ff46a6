"""Built-in intent data sets (read from the shared data folder) and Bitext placeholder filling.

A preset only says which files to read and which columns hold the message and
the intent; :func:`training.data.load_intent_data` does the reading, the
deduplication and the splitting::

    python -c "from training.data import load_intent_data; print(load_intent_data('bitext').meta['split_sizes'])"

Bitext's 27k file keeps template placeholders such as ``{{Order Number}}``.
:func:`fill_placeholders` replaces each with a seeded, realistic value of its
type (digits for an order number, a name for a person, ``$49.99`` for an
amount) so that a classifier trained on it sees text like a real message.
"""
from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """Files (relative to the shared data folder) per split, and the columns to use.

    ``files`` maps a split (``all``, ``train``, ``validation`` or ``test``) to
    files or folders; ``all`` means "one pool to deduplicate and split".
    A folder holds ``seq.in`` (one message per line) and ``label`` (one intent per line).
    """

    name: str
    description: str
    files: dict[str, tuple[str, ...]]
    text_column: str
    label_column: str


PRESETS: dict[str, Preset] = {
    "bitext": Preset(
        name="bitext",
        description="Bitext customer support: 27k intents file + 4.5k file, 27 intents, "
        "deduplicated across files, then a stratified 80/10/10 split",
        files={"all": ("bitext/bitext_27k_intents.csv", "bitext/bitext_customer_support_4.5k.csv")},
        text_column="instruction",
        label_column="intent",
    ),
    "banking77": Preset(
        name="banking77",
        description="BANKING77: 77 fine-grained banking intents; validation carved from train, "
        "the published 3,080-row test split kept intact",
        files={"train": ("banking77/train.csv",), "test": ("banking77/test.csv",)},
        text_column="text",
        label_column="category",
    ),
    "atis": Preset(
        name="atis",
        description="ATIS intents (slots ignored); multi-intent labels such as "
        "atis_flight#atis_airfare kept as their own labels",
        files={"train": ("atis/train",), "validation": ("atis/valid",), "test": ("atis/test",)},
        text_column="text",
        label_column="label",
    ),
}

# ---------------------------------------------------------------------------
# Placeholder filling
# ---------------------------------------------------------------------------

PLACEHOLDER_RE = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")

_NAMES = ("Maria Garcia", "James Smith", "Li Wei", "Aisha Khan", "John Miller", "Sofia Rossi",
          "David Brown", "Emma Wilson", "Carlos Lopez", "Yuki Tanaka", "Olivia Johnson",
          "Ahmed Hassan", "Anna Novak", "Lucas Martin", "Priya Patel", "Michael Davis")
_ACCOUNT_TYPES = ("premium", "standard", "gold", "platinum", "business", "basic", "pro",
                  "freemium", "family", "student")
_CITIES = ("London", "New York", "Madrid", "Berlin", "Toronto", "Sydney", "Paris", "Chicago",
           "Dublin", "Lisbon", "Mexico City", "Mumbai", "Tokyo", "Boston", "Rome")
_COUNTRIES = ("Spain", "Canada", "Germany", "Australia", "France", "Mexico", "Japan", "Italy",
              "Ireland", "Brazil", "India", "the United Kingdom", "the United States", "Portugal")
_CURRENCIES = ("$", "$", "€", "£")

# Every placeholder in bitext_27k_intents.csv (counts in its 26,872 messages):
# Order Number 2907, Account Type 1011, Person Name 887, Account Category 822,
# Refund Amount 624, Currency Symbol 372 (always right before Refund Amount),
# Delivery City 234, Delivery Country 177, Invoice Number 8.
PLACEHOLDER_KINDS: dict[str, str] = {
    "order number": "order",
    "invoice number": "invoice",
    "account type": "account",
    "account category": "account",
    "person name": "name",
    "refund amount": "amount",
    "currency symbol": "currency",
    "delivery city": "city",
    "delivery country": "country",
}


def placeholder_kind(name: str) -> str:
    """Kind of value for a placeholder name; unknown names are guessed from keywords."""
    key = " ".join(name.casefold().split())
    if key in PLACEHOLDER_KINDS:
        return PLACEHOLDER_KINDS[key]
    for word, kind in (("phone", "phone"), ("email", "email"), ("url", "url"), ("amount", "amount"),
                       ("price", "amount"), ("fee", "amount"), ("number", "order"), ("id", "order"),
                       ("city", "city"), ("country", "country")):
        if word in key.split():
            return kind
    return "generic"


_CURRENCY_WORD = re.compile(r"\s*(dollars?|euros?|pounds?|bucks|usd|eur|gbp)\b", re.IGNORECASE)


def _value(kind: str, name: str, rng: random.Random, bare_amount: bool) -> str:
    if kind == "order":
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(6, 12)))
        return rng.choice(("", "", "#")) + digits
    if kind == "invoice":
        return rng.choice(("#", "INV-", "")) + str(rng.randint(10000, 9999999))
    if kind == "account":
        return rng.choice(_ACCOUNT_TYPES)
    if kind == "name":
        return rng.choice(_NAMES)
    if kind == "amount":
        amount = str(rng.randint(5, 900)) if rng.random() < 0.5 else f"{rng.randint(5, 900)}.{rng.randint(0, 99):02d}"
        return amount if bare_amount else "$" + amount
    if kind == "currency":
        return rng.choice(_CURRENCIES)
    if kind == "city":
        return rng.choice(_CITIES)
    if kind == "country":
        return rng.choice(_COUNTRIES)
    if kind == "phone":
        return f"1-800-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}"
    if kind == "email":
        return "support@example.com"
    if kind == "url":
        return "www.example.com"
    return " ".join(name.casefold().split())  # neutral: the placeholder's own words ("website name")


def fill_text(text: str, rng: random.Random, counts: Counter | None = None) -> str:
    """Replace every ``{{Name}}`` in ``text`` with a value drawn from ``rng``."""
    out: list[str] = []
    pos = 0
    for match in PLACEHOLDER_RE.finditer(text):
        out.append(text[pos:match.start()])
        prev = out[-1][-1:] if out[-1] else (out[-2][-1:] if len(out) > 1 else "")
        name = match.group(1)
        if counts is not None:
            counts[name] += 1
        bare = prev in set(_CURRENCIES) or bool(_CURRENCY_WORD.match(text, match.end()))  # "$12", "12 dollars"
        value = _value(placeholder_kind(name), name, rng, bare_amount=bare)
        if prev.isalnum() and value[:1].isalnum() or (prev.isalpha() and value[:1] in "#$€£"):
            value = " " + value  # "bill{{Invoice Number}}" -> "bill #12345"
        out.append(value)
        pos = match.end()
    out.append(text[pos:])
    return "".join(out)


def fill_placeholders(texts: list[str], rng: random.Random) -> tuple[list[str], Counter]:
    """Fill the placeholders of every text in order; returns the texts and the placeholder counts."""
    counts: Counter = Counter()
    filled = [fill_text(t, rng, counts) if "{{" in t else t for t in texts]
    return filled, counts
