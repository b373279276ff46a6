"""Test sets for :mod:`evaluation.run`: messages with gold intents, and references or gold snippets where known.

    python -c "from evaluation.run_data import load_examples; print(len(load_examples('bitext', model='artifacts/intent-bitext')))"

Sources (the ``data`` key of an evaluation config):

* a preset (``bitext``, ``banking77``, ``atis``) or a CSV/TSV/JSON file or folder read by
  :func:`training.data.load_intent_data`; the split is carved with the seed and sizes of the
  model's ``resolved_config.json`` (as :mod:`evaluation.nlu` does), so it is the held-out one;
* ``retrieval-set`` (or a ``.yaml`` file): the labelled set of :mod:`knowledge_base.loader`, with
  gold snippet ids (first listed intent is the gold intent);
* a ``.jsonl`` file of ready examples, one object a line: ``message``, ``intent`` and optionally
  ``reference``, ``snippet_ids`` and gold ``entities`` (``[{"type", "start", "end"}]``); used whole (no split);
* ``slots:<spec>`` (``slots:bitext``, ``slots:atis``, a span file or BIO folder): the split of
  :func:`training.slot_data.load_slot_data`, with gold entity spans and intents, to score entities.

``references: bitext-4.5k`` attaches the ``response`` column of the Bitext 4.5k file to every
message that file also holds (matched after :func:`training.data.normalise`).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

REFERENCE_SOURCES = ("none", "bitext-4.5k")
RETRIEVAL_SET = "retrieval-set"


@dataclass
class EvalExample:
    """One test message: gold intent(s), and optionally a raw reference reply and gold snippet ids."""

    message: str
    intent: str
    intents: list[str] = field(default_factory=list)  # all gold intents (retrieval set); [intent] otherwise
    reference: str | None = None  # raw reference reply (placeholders filled at scoring time)
    snippet_ids: list[str] = field(default_factory=list)
    entities: list[tuple[str, int, int]] | None = None  # gold (type, start, end) character spans; None: not annotated

    def __post_init__(self) -> None:
        if not self.intents:
            self.intents = [self.intent]


def _read_jsonl(path: Path) -> list[EvalExample]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text (byte {exc.start}). Pass a JSON Lines file of "
                        "{'message': ..., 'intent': ...} objects.") from None
    out = []
    for number, line in enumerate(text.split("\n"), start=1):  # not splitlines: JSON strings may hold U+2028
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            ents = row.get("entities")
            out.append(EvalExample(message=str(row["message"]), intent=str(row["intent"]),
                                   reference=row.get("reference"), snippet_ids=list(row.get("snippet_ids") or []),
                                   entities=None if ents is None else [(str(e["type"]), int(e["start"]), int(e["end"]))
                                                                     for e in ents]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # AttributeError: a row that is not an object
            raise DataError(f"{path}:{number}: an example must be a JSON object with 'message' and 'intent'. "
                            f"Got {line.strip()[:80]!r} ({exc}).") from None
    return out


def _read_retrieval_set(spec: str) -> list[EvalExample]:
    from knowledge_base.loader import load_retrieval_set

    examples = load_retrieval_set(None if spec == RETRIEVAL_SET else spec)
    return [EvalExample(message=e.message, intent=e.intents[0], intents=list(e.intents), snippet_ids=list(e.snippet_ids))
            for e in examples]


def _read_intent_split(spec: str, split: str, model: str | None, seed: int | None) -> tuple[list[EvalExample], dict]:
    from evaluation.nlu import SPLIT_SETTINGS
    from pipeline.artifacts import training_config
    from training.data import load_intent_data

    trained = training_config(model) if model else {}
    settings = {key: trained.get(key, default) for key, default in SPLIT_SETTINGS.items()}
    if seed is not None and "seed" not in trained:
        settings["seed"] = seed
    if trained.get("data") not in (None, spec):
        logger.warning("The model was trained on %r; evaluating on %r.", trained["data"], spec)
    data = load_intent_data(spec, seed=settings["seed"], validation_size=settings["validation_size"],
                            test_size=settings["test_size"], max_per_label=settings["max_per_label"])
    part = getattr(data, split)
    examples = [EvalExample(message=t, intent=lbl) for t, lbl in zip(part.texts, part.labels)]
    return examples, {"split_settings": settings, "split_sizes": data.meta.get("split_sizes")}


def _read_slot_split(spec: str, split: str, seed: int | None) -> tuple[list[EvalExample], dict]:
    from training.slot_data import load_slot_data

    data = load_slot_data(spec, seed=42 if seed is None else seed)
    part = getattr(data, split)
    examples = [EvalExample(message=ex.text, intent=ex.intent or "unknown", entities=ex.char_spans()) for ex in part]
    return examples, {"split_sizes": data.meta["split_sizes"], "entity_types": data.entity_types()}


def attach_references(examples: list[EvalExample], source: str) -> int:
    """Fill ``reference`` from ``source`` (see :data:`REFERENCE_SOURCES`); returns how many got one."""
    if source == "none":
        return sum(e.reference is not None for e in examples)
    from training.data import normalise
    from training.generator_data import read_bitext_rows

    table = {normalise(r["message"]): r["response"] for r in read_bitext_rows()}
    for e in examples:
        if e.reference is None:
            e.reference = table.get(normalise(e.message))
    return sum(e.reference is not None for e in examples)


def load_examples(data: str, *, split: str = "test", model: str | None = None, seed: int | None = 42,
                  references: str = "none", limit: int | None = None) -> tuple[list[EvalExample], dict]:
    """The examples of ``data`` (see the module docstring), a seeded subset of ``limit``, and a description."""
    if references not in REFERENCE_SOURCES:
        raise ConfigError(f"The 'references' parameter of EvalRunConfig must be one of "
                          f"{', '.join(map(repr, REFERENCE_SOURCES))}. Got {references!r}.")
    meta: dict = {"data": data, "split": split}
    if data.endswith(".jsonl"):
        path = Path(data)
        if not path.is_file():
            raise DataError(f"The test set {data!r} does not exist. Pass a JSONL file of examples or a preset.")
        examples, meta["split"] = _read_jsonl(path), "all"
    elif data.startswith("slots:"):
        examples, extra = _read_slot_split(data.removeprefix("slots:"), split, seed)
        meta.update(extra)
    elif data == RETRIEVAL_SET or data.endswith((".yaml", ".yml")):
        examples, meta["split"] = _read_retrieval_set(data), "all"
    else:
        examples, extra = _read_intent_split(data, split, model, seed)
        meta.update(extra)
    if not examples:
        raise DataError(f"The test set {data!r} ({meta['split']}) is empty. Choose another data set or split.")
    if limit is not None and limit < len(examples):
        keep = np.sort(np.random.default_rng(seed if seed is not None else 42).permutation(len(examples))[:limit])
        examples = [examples[i] for i in keep]
    meta["n"] = len(examples)
    meta["n_with_reference"] = attach_references(examples, references)
    meta["n_with_gold_snippets"] = sum(bool(e.snippet_ids) for e in examples)
    meta["n_with_gold_entities"] = sum(e.entities is not None for e in examples)
    return examples, meta
