"""Slot (entity) data: BIO-tagged words from ATIS-style folders or character spans from CSV/JSONL.

    python -c "from training.slot_data import load_slot_data as l; print(l('atis').describe())"

Every example becomes words with their character offsets in ``text`` and one
BIO tag per word, so one model and one metric serve both kinds of input:

* **BIO folders** (ATIS in ``../shared/data/atis``): ``seq.in`` (space-separated
  words), ``seq.out`` (one tag per word), optional ``label`` (intent); a folder
  with ``train``/``valid``/``test`` sub-folders gives the splits.
* **Character spans**: a CSV with ``text`` (or ``instruction``/``utterance``),
  ``entity_type``, ``entity_value``, ``start_offset``, ``end_offset`` and an
  optional ``intent`` column (one entity per row, as in Bitext's 4.5k file; an
  empty ``entity_type`` means no entity), or JSON Lines with
  ``{"text": ..., "entities": [{"type", "start", "end", "value"?}], "intent"?}``.
  Words come from :func:`tokenize_words`; a word overlapping a span gets its tag.

Checks, each one line naming the file and row: offsets outside the text or
reversed, a span whose text does not match ``entity_value``, a word/tag count
mismatch, an invalid BIO sequence (``I-x`` after ``O`` or after another type).
``value_match="lenient"`` (used for Bitext, whose export mangled some values:
``00004587345`` stored as ``4587345``, ``1200`` as ``12``) trims spaces and
punctuation at the span's ends, accepts a value that differs only in case,
in leading zeros, or is a truncated prefix of the span's digits, and clips an
end offset past the text when the text up to its end equals the value.
"""
from __future__ import annotations

import json
import logging
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from pipeline.errors import DataError, check_param, first_line
from pipeline.nlu.words import WORD_RE, tokenize_words  # noqa: F401  (re-exported for the data layer)
from training.data import normalise, shared_data_dir
from training.data_readers import canonical_split

logger = logging.getLogger(__name__)


TEXT_COLUMNS = ("text", "instruction", "utterance", "message", "sentence")
SPAN_COLUMNS = ("entity_type", "entity_value", "start_offset", "end_offset")
VALUE_MATCHES = ("exact", "lenient")


@dataclass
class SlotExample:
    """Words of ``text`` (with character offsets), one BIO tag per word, and the intent if known."""

    text: str
    words: list[str]
    offsets: list[tuple[int, int]]
    tags: list[str]
    intent: str | None = None

    def __post_init__(self) -> None:
        if not (len(self.words) == len(self.offsets) == len(self.tags)):
            raise ValueError(f"SlotExample needs one offset and one tag per word. Got {len(self.words)} words, "
                             f"{len(self.offsets)} offsets, {len(self.tags)} tags.")

    def char_spans(self) -> list[tuple[str, int, int]]:
        """Gold entities as ``(type, start, end)`` character spans of ``text``."""
        from pipeline.nlu.words import bio_spans

        return [(kind, self.offsets[s][0], self.offsets[e - 1][1]) for kind, s, e in bio_spans(self.tags)]


@dataclass
class SlotData:
    """Train/validation/test examples, the tag set (``O`` first) and the intents (may be empty)."""

    name: str
    train: list[SlotExample]
    validation: list[SlotExample]
    test: list[SlotExample]
    tags: list[str]
    intents: list[str]
    meta: dict = field(default_factory=dict)

    def entity_types(self) -> list[str]:
        return sorted({t[2:] for t in self.tags if t != "O"})

    def describe(self) -> str:
        counts = Counter(k for ex in self.train for k, _, _ in ex.char_spans())
        return (f"{self.name}: {len(self.train)} train / {len(self.validation)} validation / {len(self.test)} test, "
                f"{len(self.entity_types())} entity types, {len(self.intents)} intents; train entities: "
                + ", ".join(f"{k} {n}" for k, n in counts.most_common()))


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------

def check_bio(tags: list[str], where: str) -> None:
    """Raise :class:`DataError` for a tag that is not O/B-x/I-x or an ``I-x`` that does not continue an ``x``."""
    previous = "O"
    for i, tag in enumerate(tags):
        if tag != "O" and not re.fullmatch(r"[BI]-\S+", tag):
            raise DataError(f"{where}: tag {i + 1} {tag!r} is not 'O', 'B-<type>' or 'I-<type>'. Fix the tag.")
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            raise DataError(f"{where}: invalid BIO sequence: tag {i + 1} {tag!r} follows {previous!r}; an I- tag must "
                            f"continue a B-/I- tag of the same type. Use 'B-{tag[2:]}' to start the entity.")
        previous = tag


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and not (text[start].isalnum() or text[start] in "#$€£+"):
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    return start, end


def match_span(text: str, start: int, end: int, value: str | None, mode: str, where: str) -> tuple[int, int]:
    """Check one character span against the text and its stated value; return the (trimmed) span."""
    if mode == "lenient" and 0 <= start < len(text) < end and value and text[start:] == value:
        end = len(text)  # the export truncated the number in the text and the value alike, not the offsets
    if not (0 <= start < end <= len(text)):
        raise DataError(f"{where}: the span [{start}, {end}) is outside the text (length {len(text)}) or empty. "
                        "Offsets are 0-based character positions with the end exclusive.")
    if value is None or value == "":
        return start, end
    if text[start:end] == value:
        return start, end
    if mode == "exact":
        raise DataError(f"{where}: the span [{start}, {end}) is {text[start:end]!r} but entity_value is {value!r}. "
                        "Fix the offsets or the value (or use value_match='lenient' for exports that mangled values).")
    s, e = _trim(text, start, end)
    span = text[s:e]
    digits, vdigits = re.sub(r"\D", "", span), re.sub(r"\D", "", value)
    if s < e and (span.casefold() == value.strip().casefold()
                  or (digits and vdigits and digits.lstrip("0") == vdigits.lstrip("0"))
                  or (span.isdigit() and value.isdigit() and span.startswith(value))):
        return s, e
    raise DataError(f"{where}: the span [{start}, {end}) is {text[start:end]!r}, which does not match entity_value {value!r} "
                    "even leniently. Fix the offsets or the value.")


def spans_to_tags(text: str, spans: Iterable[tuple[str, int, int]], where: str) -> SlotExample:
    """Words of ``text`` tagged from character spans; a word overlapping a span gets its tag."""
    words = tokenize_words(text)
    tags = ["O"] * len(words)
    for kind, start, end in sorted(spans, key=lambda s: s[1]):
        hit = [i for i, (_, ws, we) in enumerate(words) if ws < end and start < we]
        if not hit:
            raise DataError(f"{where}: the span [{start}, {end}) covers no word of the text. Fix the offsets.")
        if any(tags[i] != "O" for i in hit):
            raise DataError(f"{where}: the span [{start}, {end}) ({kind}) overlaps another entity. Entities must not overlap.")
        tags[hit[0]] = f"B-{kind}"
        for i in hit[1:]:
            tags[i] = f"I-{kind}"
    return SlotExample(text, [w for w, _, _ in words], [(s, e) for _, s, e in words], tags)


# ---------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------

def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def read_bio_folder(folder: Path) -> list[SlotExample]:
    """``seq.in`` + ``seq.out`` (+ optional ``label``) in ``folder``."""
    seq_in, seq_out, label = folder / "seq.in", folder / "seq.out", folder / "label"
    for need in (seq_in, seq_out):
        if not need.is_file():
            raise DataError(f"{folder} has no {need.name}. A BIO folder needs seq.in (words) and seq.out (one tag per word).")
    words_lines, tag_lines = _lines(seq_in), _lines(seq_out)
    intents = _lines(label) if label.is_file() else None
    if len(words_lines) != len(tag_lines) or (intents is not None and len(intents) != len(words_lines)):
        raise DataError(f"{folder}: seq.in has {len(words_lines)} lines, seq.out {len(tag_lines)}"
                        + (f", label {len(intents)}" if intents is not None else "") + "; they must have one line per example.")
    examples = []
    for i, (wline, tline) in enumerate(zip(words_lines, tag_lines)):
        words, tags = wline.split(), tline.split()
        where = f"{seq_out}:{i + 1}"
        if len(words) != len(tags):
            raise DataError(f"{where}: {len(words)} words in seq.in but {len(tags)} tags in seq.out. Give one tag per word.")
        if not words:
            continue
        check_bio(tags, where)
        offsets, pos = [], 0
        for w in words:
            offsets.append((pos, pos + len(w)))
            pos += len(w) + 1
        examples.append(SlotExample(" ".join(words), words, offsets, tags, intents[i].strip() if intents else None))
    return examples


def _pick(columns: Iterable[str], candidates: tuple[str, ...], source: str, what: str) -> str:
    for c in candidates:
        if c in columns:
            return c
    raise DataError(f"{source} has no {what} column (looked for {', '.join(candidates)}; found {', '.join(columns)}). "
                    "Rename the column.")


def _span_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a span CSV/TSV or JSONL as dicts with text, entities [(type, start, end, value)], intent."""
    if path.suffix.lower() in (".csv", ".tsv"):
        import pandas as pd

        try:
            frame = pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",", dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise DataError(f"Malformed or empty file {path}: {first_line(exc)}. "
                            "Fix the quoting or the number of fields.") from None
        text_col = _pick(frame.columns, TEXT_COLUMNS, str(path), "text")
        missing = [c for c in SPAN_COLUMNS if c not in frame.columns]
        if missing:
            raise DataError(f"{path} lacks the span column(s) {', '.join(missing)} (found {', '.join(frame.columns)}). "
                            "A span CSV needs entity_type, entity_value, start_offset, end_offset (empty for no entity).")
        intent_col = next((c for c in ("intent", "label") if c in frame.columns), None)
        rows = []
        for i, r in enumerate(frame.to_dict("records")):
            where = f"{path}, row {i + 2}"
            ents = []
            if r["entity_type"].strip():
                try:
                    start, end = int(r["start_offset"]), int(r["end_offset"])
                except ValueError:
                    raise DataError(f"{where}: start_offset/end_offset {r['start_offset']!r}/{r['end_offset']!r} are not "
                                    "integers. Give 0-based character offsets.") from None
                ents.append((r["entity_type"].strip(), start, end, r["entity_value"]))
            rows.append({"text": r[text_col], "entities": ents, "intent": r[intent_col] if intent_col else None, "where": where})
        return rows
    if path.suffix.lower() == ".jsonl":
        rows = []
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path}, line {lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{where}: malformed JSON ({exc.msg}). Write one object per line.") from None
            if not isinstance(obj, dict) or "text" not in obj:
                raise DataError(f'{where}: expected an object with "text" and "entities", e.g. '
                                '{"text": "order 123", "entities": [{"type": "order_number", "start": 6, "end": 9}]}.')
            ents = []
            for ent in obj.get("entities") or []:
                try:
                    ents.append((str(ent["type"]), int(ent["start"]), int(ent["end"]), ent.get("value")))
                except (KeyError, TypeError, ValueError):
                    raise DataError(f'{where}: each entity needs "type", "start" and "end" (integers). Got {ent!r}.') from None
            rows.append({"text": str(obj["text"]), "entities": ents, "intent": obj.get("intent"), "where": where})
        return rows
    raise DataError(f"Cannot read slot data from {path}: use a BIO folder (seq.in + seq.out), a span CSV/TSV or a JSONL file.")


def read_span_file(path: Path, value_match: str = "exact", type_map: dict[str, str] | None = None) -> list[SlotExample]:
    """Examples from a span CSV/JSONL; rows with the same text (case/space-insensitive) keep the first."""
    examples, seen = [], set()
    type_map = type_map or {}
    for row in _span_rows(path):
        key = normalise(row["text"])
        if not key or key in seen:
            continue
        seen.add(key)
        spans = []
        for kind, start, end, value in row["entities"]:
            s, e = match_span(row["text"], start, end, value, value_match, row["where"])
            spans.append((type_map.get(kind, kind), s, e))
        example = spans_to_tags(row["text"], spans, row["where"])
        example.intent = row["intent"] or None
        examples.append(example)
    return examples


# ---------------------------------------------------------------------------
# Specs and splits
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SlotPreset:
    name: str
    path: str  # relative to the shared data folder
    description: str
    value_match: str = "exact"
    type_map: tuple[tuple[str, str], ...] = ()


SLOT_PRESETS = {
    "atis": SlotPreset("atis", "atis", "ATIS flight queries: BIO slots (120 types) + intents, published train/valid/test"),
    "bitext": SlotPreset(
        "bitext", "bitext/bitext_customer_support_4.5k.csv",
        "Bitext 4.5k customer support messages with one character span each (or none); seeded 80/10/10 split; "
        "order_id, invoice_id and refund_amount renamed to the pipeline's order_number, invoice_number, amount",
        value_match="lenient",
        type_map=(("order_id", "order_number"), ("invoice_id", "invoice_number"), ("refund_amount", "amount")),
    ),
}


def _split(examples: list[SlotExample], validation_size: float, test_size: float, seed: int) -> tuple[list, list, list]:
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_test, n_val = round(test_size * len(order)), round(validation_size * len(order))
    pick = lambda idx: [examples[i] for i in sorted(idx)]  # noqa: E731 - keep file order inside a split
    return pick(order[n_test + n_val:]), pick(order[n_test:n_test + n_val]), pick(order[:n_test])


def _read_path(path: Path, value_match: str, type_map: dict[str, str]) -> dict[str, list[SlotExample]]:
    if path.is_dir():
        if (path / "seq.in").is_file():
            return {"all": read_bio_folder(path)}
        splits = {}
        for child in sorted(path.iterdir()):
            canon = canonical_split(child.name if child.is_dir() else child.stem)
            if canon and child.is_dir():
                splits[canon] = read_bio_folder(child)
            elif canon and child.suffix.lower() in (".csv", ".tsv", ".jsonl"):
                splits[canon] = read_span_file(child, value_match, type_map)
        if not splits:
            raise DataError(f"{path} holds no seq.in/seq.out and no train/valid/test sub-folders or files. "
                            "Point --data at a BIO folder, a span CSV/JSONL, or a folder of split folders.")
        return splits
    if not path.exists():
        raise DataError(f"Slot data {str(path)!r} not found. Use a preset ({', '.join(SLOT_PRESETS)}), a BIO folder or a span CSV/JSONL file.")
    return {"all": read_span_file(path, value_match, type_map)}


def load_slot_data(spec: str, *, validation_size: float = 0.1, test_size: float = 0.1, seed: int = 42,
                   value_match: str | None = None) -> SlotData:
    """A preset name (``atis``, ``bitext``) or a path, read, checked and split (seeded) where the data has no splits."""
    check_param("load_slot_data", "value_match", value_match, value_match in (None, *VALUE_MATCHES), "exact or lenient")
    preset = SLOT_PRESETS.get(spec)
    if preset is not None:
        path = shared_data_dir() / preset.path
        if not path.exists():
            raise DataError(f"The {spec} data is missing at {path}. Set SUPPORT_DATA_DIR to the folder holding {preset.path}.")
        parts = _read_path(path, value_match or preset.value_match, dict(preset.type_map))
    else:
        parts = _read_path(Path(spec).expanduser(), value_match or "exact", {})
    if "all" in parts:
        train, validation, test = _split(parts["all"], validation_size, test_size, seed)
    else:
        train = parts.get("train", [])
        validation, test = parts.get("validation"), parts.get("test", [])
        if validation is None:
            train, validation, _ = _split(train, validation_size, 0.0, seed)
    if not train:
        raise DataError(f"The slot data {spec!r} has no training examples.")
    seen_tags = {t for ex in train for t in ex.tags} - {"O"}
    if not seen_tags:
        raise DataError(f"The slot data {spec!r} has no entities in its training split; a tagger needs at least one entity type.")
    tags = ["O"] + sorted(seen_tags, key=lambda t: (t[2:], t[0]))
    intents = sorted({ex.intent for ex in train if ex.intent})
    unseen = sorted({t for ex in validation + test for t in ex.tags} - set(tags))
    if unseen:
        logger.warning("%d tag(s) of the validation/test splits never occur in training (scored as misses): %s",
                       len(unseen), ", ".join(unseen[:10]) + (" ..." if len(unseen) > 10 else ""))
    meta = {"spec": spec, "description": preset.description if preset else str(spec), "unseen_eval_tags": unseen,
            "split_sizes": {"train": len(train), "validation": len(validation), "test": len(test)}}
    return SlotData(spec if preset else Path(spec).name, train, validation, test, tags, intents, meta)
