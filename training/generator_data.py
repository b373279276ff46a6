"""(message, intent, snippets) -> reference reply pairs from the Bitext 4.5k file, for the generator.

    python -m training.generator_data            # prints the split sizes and one filled example

The 4,514 rows are deduplicated by message (casefolded), then split 80/10/10
stratified by intent with ``seed`` (default 42): ``train`` for fine-tuning,
``validation`` for its loss and ROUGE-L, ``test`` (the held-out split) for
:mod:`evaluation.generation`.

Bitext references keep placeholders such as ``{{Order Number}}`` (a few ``[Live Chat]``) while the
messages hold real values (``order 732201349959``). :func:`fill_reference`
replaces them consistently: an order or invoice placeholder takes the value the
entity patterns find in the message (the same string on both sides), a contact
placeholder takes the retailer's value from the knowledge-base fact sheet
(phone, email, website, opening hours), and any other placeholder (a button or
page name such as ``{{Order History}}``) becomes its own words.

Snippets come from the knowledge base: ``snippets="intent"`` takes the first
``top_k`` snippets of the gold intent (no embeddings needed), ``"retriever"``
ranks them with :class:`pipeline.retrieval.Retriever` filtered by the gold intent.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from pipeline.nlu.entities import extract_entities, first_of
from pipeline.errors import ConfigError, DataError, first_line
from pipeline.types import Entity, Snippet
from training.data import normalise, shared_data_dir

BITEXT_GENERATION_FILE = "bitext/bitext_customer_support_4.5k.csv"
SNIPPET_SOURCES = ("intent", "retriever")
PLACEHOLDER_RE = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
BRACKET_RE = re.compile(r"\[\s*([A-Za-z][^\[\]]{0,50}?)\s*\]")  # a few references use [Customer Support Phone Number]

# Contact facts of the fictional retailer (knowledge_base/README.md), used for Bitext's contact placeholders.
FACTS: dict[str, str] = {
    "phone": "1-800-555-0199",
    "email": "support@northwindgoods.com",
    "website": "northwindgoods.com",
    "hours": "Monday–Friday 8 am–8 pm ET and Saturday–Sunday 9 am–5 pm ET",
    "company": "Northwind Goods",
    "chat": "live chat",
}


@dataclass
class GenerationExample:
    """One training/evaluation pair; ``reference`` has its placeholders filled."""

    message: str
    intent: str
    reference: str
    entities: list[Entity] = field(default_factory=list)
    snippets: list[Snippet] = field(default_factory=list)


def bitext_generation_path() -> Path:
    path = shared_data_dir() / BITEXT_GENERATION_FILE
    if not path.is_file():
        raise DataError(f"The Bitext 4.5k file is missing: {path}. Set SUPPORT_DATA_DIR to the folder that holds "
                        f"{BITEXT_GENERATION_FILE}, or pass --data PATH.")
    return path


def _fact_for(name: str) -> str | None:
    key = " ".join(name.casefold().split())
    words = set(key.split())
    if "phone" in words:
        return FACTS["phone"]
    if "email" in words:
        return FACTS["email"]
    if words & {"availability", "hours"}:
        return FACTS["hours"]
    if key in {"website name", "website", "website url", "website or app", "company website", "online store"}:
        return FACTS["website"]
    if key in {"company name", "company"}:
        return FACTS["company"]
    if key == "live chat":
        return FACTS["chat"]
    return None


def fill_reference(reference: str, entities: Sequence[Entity]) -> str:
    """Replace every ``{{...}}`` in a Bitext reference (see the module docstring)."""
    order = first_of(entities, "order_number")
    invoice = first_of(entities, "invoice_number")

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        key = name.casefold()
        if re.fullmatch(r"[\d#-]+", name.strip()):
            return name.strip().lstrip("#")
        if ("invoice" in key or "bill" in key) and ("number" in key or "id" in key):
            return invoice or order or "your invoice"
        if ("order" in key or "purchase" in key) and ("number" in key or " id" in key):
            return order or invoice or "your order"
        fact = _fact_for(name)
        return fact if fact is not None else " ".join(name.split())

    return BRACKET_RE.sub(value, PLACEHOLDER_RE.sub(value, reference))


def read_bitext_rows(path: str | Path | None = None) -> list[dict[str, str]]:
    """``instruction``, ``intent`` and ``response`` of the 4.5k file, first of each message kept."""
    import pandas as pd

    path = Path(path) if path else bitext_generation_path()
    if not path.is_file():
        raise DataError(f"The generation data file {str(path)!r} does not exist. Pass the Bitext 4.5k CSV.")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"The generation data file {str(path)!r} is not a readable CSV ({first_line(exc)}). Pass a UTF-8 CSV "
                        "with the columns instruction, intent and response.") from None
    missing = [c for c in ("instruction", "intent", "response") if c not in frame.columns]
    if missing:
        raise DataError(f"The file {str(path)!r} lacks the column(s) {missing}. Columns found: {list(frame.columns)}.")
    rows, seen = [], set()
    for message, intent, response in zip(frame["instruction"], frame["intent"], frame["response"]):
        if not isinstance(message, str) or not message.strip() or not isinstance(response, str) or not response.strip():
            continue
        key = normalise(message)
        if key in seen:
            continue
        seen.add(key)
        rows.append({"message": message.strip(), "intent": str(intent), "response": response.strip()})
    if not rows:
        raise DataError(f"The file {str(path)!r} has no usable rows.")
    return rows


def split_rows(rows: list[dict[str, str]], *, seed: int = 42, validation_size: float = 0.1,
               test_size: float = 0.1) -> dict[str, list[dict[str, str]]]:
    """Stratified, seeded train/validation/test split of deduplicated rows."""
    from sklearn.model_selection import train_test_split

    for name, size in (("validation_size", validation_size), ("test_size", test_size)):
        if not 0 < size < 0.5:
            raise ConfigError(f"The {name!r} parameter of split_rows must be a float in (0, 0.5). Got {size!r}.")
    idx = list(range(len(rows)))
    labels = [r["intent"] for r in rows]
    rest, test = train_test_split(idx, test_size=test_size, random_state=seed, stratify=labels)
    train, val = train_test_split(rest, test_size=validation_size / (1 - test_size), random_state=seed,
                                  stratify=[labels[i] for i in rest])
    return {name: [rows[i] for i in sorted(part)] for name, part in (("train", train), ("validation", val), ("test", test))}


def attach_snippets(examples: list[GenerationExample], source: str = "intent", top_k: int = 2,
                    kb: Any = None, retriever: Any = None) -> None:
    """Fill ``example.snippets`` in place from the knowledge base (see the module docstring)."""
    if source not in SNIPPET_SOURCES:
        raise ConfigError(f"The 'snippets' parameter must be one of {', '.join(map(repr, SNIPPET_SOURCES))}. Got {source!r}.")
    if source == "intent":
        if kb is None:
            from knowledge_base.loader import load_knowledge_base

            kb = load_knowledge_base()
        by_intent = kb.by_intent()
        for ex in examples:
            ex.snippets = list(by_intent.get(ex.intent, []))[:top_k]
        return
    if retriever is None:
        from pipeline.retrieval.retriever import Retriever

        retriever = Retriever(kb=kb, top_k=top_k)
    ranked = retriever.run([ex.message for ex in examples], intents=[ex.intent for ex in examples], top_k=top_k)["snippets"]
    for ex, snips in zip(examples, ranked):
        ex.snippets = list(snips)


def to_examples(rows: list[dict[str, str]]) -> list[GenerationExample]:
    out = []
    for row in rows:
        entities = extract_entities(row["message"])
        out.append(GenerationExample(message=row["message"], intent=row["intent"],
                                     reference=fill_reference(row["response"], entities), entities=entities))
    return out


def load_generation_splits(path: str | Path | None = None, *, seed: int = 42, validation_size: float = 0.1,
                           test_size: float = 0.1, snippets: str = "intent", top_k: int = 2, kb: Any = None,
                           splits: Sequence[str] = ("train", "validation", "test")) -> dict[str, list[GenerationExample]]:
    """The requested splits as :class:`GenerationExample` lists, snippets attached."""
    parts = split_rows(read_bitext_rows(path), seed=seed, validation_size=validation_size, test_size=test_size)
    out = {name: to_examples(parts[name]) for name in splits}
    retriever = None
    if snippets == "retriever":
        from pipeline.retrieval.retriever import Retriever

        retriever = Retriever(kb=kb, top_k=top_k)
    for name in splits:
        attach_snippets(out[name], snippets, top_k, kb=kb, retriever=retriever)
    return out


if __name__ == "__main__":
    data = load_generation_splits()
    print({k: len(v) for k, v in data.items()})
    ex = next(e for e in data["test"] if e.entities)
    print(ex.message, "|", ex.intent, "|", [s.id for s in ex.snippets])
    print(ex.reference)
