"""Load an intent data set as train/validation/test splits of (message, intent).

``spec`` is a preset (``bitext``, ``banking77``, ``atis``; see training/presets.py),
a CSV/TSV/JSON/JSONL file, a folder saved with ``datasets.save_to_disk``, a folder
of ``train``/``validation``/``test`` files, or a Hugging Face Hub data set name::

    python -m training.data --data banking77          # prints the split sizes and cleaning counts
    python -m training.data --data my_intents.csv --text-column utterance --label-column intent

In code: ``load_intent_data("bitext", seed=42)`` returns an :class:`IntentData`.

Rules (``IntentData.meta`` records what each one did):

* Splits come from the files where present. One file or split is deduplicated,
  then split stratified and seeded (``test_size``, ``validation_size`` of the whole);
  a missing validation (or test) split is carved, stratified, from train.
* Messages are compared casefolded with whitespace collapsed. Within train and
  validation (or the single pool before splitting) duplicates are dropped and a
  message given conflicting labels is dropped altogether. Across splits the
  evaluation split wins: a train message also in validation or test is dropped
  from train, a validation message also in test from validation.
* A test split given by a file is kept exactly as published (BANKING77 keeps its
  3,080 rows, so scores compare with the literature); its own duplicates are
  only counted.
* Labels seen in validation/test but not in train are logged as a warning and
  recorded, not an error (ATIS has a few).
* Placeholders such as ``{{Order Number}}`` are filled with seeded values after
  splitting (see training/presets.py); train and validation are then deduplicated
  once more against the later splits, since two templates can become equal.
* ``max_per_label`` caps the training split only (seeded sample per label).
* ``extra_train`` adds examples to the training split only, after the cap and
  the filling, each repeated ``extra_train_repeat`` times: in-domain messages
  such as knowledge_base/intent_examples.yaml (``examples: [{intent, messages}]``)
  or any intent file. Extra messages equal to a validation or test message are
  dropped, and so are their labels not in the data set (reported in ``meta``).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import CliParser, DataError, check_param
from training.data_readers import (FILE_SUFFIXES, LABEL_COLUMNS, TEXT_COLUMNS, Table, canonical_split, extract,
                                   read_file, read_folder, read_hub, read_seq_folder)
from training.presets import PRESETS, Preset
from training.presets import fill_placeholders as _fill_placeholders

logger = logging.getLogger(__name__)

__all__ = ["IntentSplit", "IntentData", "PRESETS", "shared_data_dir", "load_intent_data",
           "add_data_arguments", "data_from_args", "normalise"]

SPLITS = ("train", "validation", "test")
Pair = tuple[list[str], list[str]]  # (texts, labels)


@dataclass
class IntentSplit:
    """Parallel lists of messages and their intent labels."""

    texts: list[str]
    labels: list[str]

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise DataError(f"An IntentSplit needs as many labels as texts. Got {len(self.texts)} texts "
                            f"and {len(self.labels)} labels.")

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class IntentData:
    """Three splits, the sorted training labels and a record of how they were built."""

    name: str
    train: IntentSplit
    validation: IntentSplit
    test: IntentSplit
    labels: list[str]
    meta: dict = field(default_factory=dict)


def shared_data_dir() -> Path:
    """``$SUPPORT_DATA_DIR``, else ``<repo root>/../shared/data`` (repo root = parent of training/)."""
    env = os.environ.get("SUPPORT_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def normalise(text: str) -> str:
    """Key used to compare messages: casefolded, stripped, whitespace collapsed."""
    return " ".join(text.casefold().split())


# ---------------------------------------------------------------------------
# spec -> {split: [Table]}   ("all" = one pool to deduplicate and split)
# ---------------------------------------------------------------------------

def _preset_tables(preset: Preset) -> dict[str, list[Table]]:
    root = shared_data_dir()
    tables: dict[str, list[Table]] = {}
    for split, rel_paths in preset.files.items():
        for rel in rel_paths:
            path = root / rel
            if not path.exists():
                raise DataError(
                    f"The {preset.name!r} preset needs {path}, which does not exist. Set SUPPORT_DATA_DIR to the "
                    f"folder holding bitext/, banking77/ and atis/ (now {root}), or pass a data file instead.")
            table = read_seq_folder(path) if path.is_dir() else read_file(path)[None]
            tables.setdefault(split, []).append(table)
    return tables


def _looks_like_path(spec: str) -> bool:
    return (spec.startswith((".", "/", "~")) or Path(spec).suffix.lower() in FILE_SUFFIXES
            or not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", spec))


def _read_spec(spec: str) -> tuple[dict[str, list[Table]], Preset | None]:
    if spec in PRESETS:
        return _preset_tables(PRESETS[spec]), PRESETS[spec]
    path = Path(spec).expanduser()
    if path.exists():
        found = read_folder(path) if path.is_dir() else read_file(path)
    elif _looks_like_path(spec):
        raise DataError(f"Data file or folder {spec!r} does not exist. Pass an existing CSV/TSV/JSON/JSONL file or "
                        f"folder, or a preset ({', '.join(PRESETS)}).")
    else:
        found = read_hub(spec)
    return _assign_splits(found, spec), None


def _assign_splits(found: dict[str | None, Table], spec: str) -> dict[str, list[Table]]:
    """Map split names (train/valid/dev/test...) to canonical ones; one split of any name is a pool."""
    if len(found) == 1:
        return {"all": list(found.values())}
    tables: dict[str, list[Table]] = {}
    for name, table in found.items():
        canon = canonical_split(name or "")
        if canon is None:
            logger.warning("Ignoring split %r of %s: not one of train, validation (valid, dev, val), test.", name, spec)
            continue
        tables.setdefault(canon, []).append(table)
    if "train" not in tables:
        raise DataError(f"{spec!r} has splits {sorted(str(k) for k in found)} but no train split. Name one split "
                        "'train' (or pass a single file to split it automatically).")
    if set(tables) == {"train"}:
        return {"all": tables["train"]}
    return tables


# ---------------------------------------------------------------------------
# Cleaning and splitting
# ---------------------------------------------------------------------------

def _dedup(texts: list[str], labels: list[str], banned: set[str] = frozenset()) -> tuple[list[str], list[str], dict]:
    """Drop messages in ``banned`` (an evaluation split's keys), duplicates and conflicting labels."""
    keys = [normalise(t) for t in texts]
    label_sets: dict[str, set[str]] = {}
    for k, lab in zip(keys, labels):
        if k not in banned:
            label_sets.setdefault(k, set()).add(lab)
    seen: set[str] = set()
    out_t, out_l = [], []
    stats = {"overlap": 0, "duplicates": 0, "conflicting": 0}
    for k, t, lab in zip(keys, texts, labels):
        if k in banned:
            stats["overlap"] += 1
        elif len(label_sets[k]) > 1:
            stats["conflicting"] += 1
        elif k in seen:
            stats["duplicates"] += 1
        else:
            seen.add(k)
            out_t.append(t)
            out_l.append(lab)
    return out_t, out_l, stats


def _check_labels(labels: list[str], what: str) -> None:
    distinct = sorted(set(labels))
    if len(distinct) < 2:
        raise DataError(f"The {what} has {len(distinct)} distinct label(s) {distinct}; an intent classifier needs at "
                        "least 2. Check --label-column, or add examples of other intents.")


def _count(fraction: float, total: int) -> int:
    """Rows for ``fraction`` of ``total``, rounded up as scikit-learn does (0.1 * 30 is 3, not 4)."""
    return math.ceil(round(fraction * total, 6))


def _carve(texts: list[str], labels: list[str], n_carved: int, seed: int, carved: str, source: str,
           need: int = 2) -> tuple[Pair, Pair]:
    """Stratified, seeded split of ``n_carved`` rows off ``source`` into ``carved``."""
    from sklearn.model_selection import train_test_split

    counts = Counter(labels)
    rare = sorted((c, lab) for lab, c in counts.items() if c < need)
    if rare:
        count, label = rare[0]
        others = f" ({len(rare) - 1} other label(s) too)" if len(rare) > 1 else ""
        raise DataError(
            f"Label {label!r} has only {count} example(s) in {source}, too few for a stratified split into "
            f"{'train/validation/test' if need == 3 else 'train and ' + carved} (needs at least {need}){others}. "
            "Drop the label, add examples, or give explicit train/validation/test files.")
    if min(n_carved, len(texts) - n_carved) < len(counts):
        raise DataError(
            f"Taking {n_carved} of {len(texts)} rows of {source} for {carved} leaves fewer rows than the "
            f"{len(counts)} labels on one side; a stratified split needs at least one row per label on each side. "
            "Change --validation-size/--test-size, add data, or give explicit train/validation/test files.")
    t_rest, t_cut, l_rest, l_cut = train_test_split(texts, labels, test_size=n_carved, random_state=seed,
                                                    stratify=labels)
    return (list(t_rest), list(l_rest)), (list(t_cut), list(l_cut))


def _cap(texts: list[str], labels: list[str], n: int, seed: int) -> tuple[list[str], list[str]]:
    by_label: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        by_label.setdefault(lab, []).append(i)
    rng = random.Random(seed)
    keep = sorted(i for lab in sorted(by_label) for i in (
        by_label[lab] if len(by_label[lab]) <= n else rng.sample(by_label[lab], n)))
    return [texts[i] for i in keep], [labels[i] for i in keep]


def _split_pool(pool: Pair, validation_size: float, test_size: float, seed: int, meta: dict) -> dict[str, Pair]:
    """One file or split: deduplicate, then stratified test and validation splits (fractions of the whole)."""
    texts, labels, meta["dropped"]["pool"] = _dedup(*pool)
    _check_labels(labels, "data set")
    n_test, n_validation = _count(test_size, len(texts)), _count(validation_size, len(texts))
    rest, test = _carve(texts, labels, n_test, seed, "test", "the data set", need=3)
    train, validation = _carve(*rest, n_validation, seed, "validation", "the data left after the test split")
    meta["split_origin"] = dict.fromkeys(SPLITS, "split from the data")
    return {"train": train, "validation": validation, "test": test}


def _use_file_splits(raw: dict[str, Pair], validation_size: float, test_size: float, seed: int,
                     meta: dict) -> dict[str, Pair]:
    """Given splits: test kept as is, validation/train deduplicated against later splits, missing ones carved."""
    origin = meta["split_origin"] = dict.fromkeys(raw, "file")
    banned: set[str] = set()
    out: dict[str, Pair] = {}
    if "test" in raw:
        out["test"] = raw["test"]
        keys = [normalise(t) for t in raw["test"][0]]
        labels_of: dict[str, set[str]] = {}
        for k, lab in zip(keys, raw["test"][1]):
            labels_of.setdefault(k, set()).add(lab)
        meta["test_duplicates_kept"] = len(keys) - len(labels_of)
        meta["test_conflicting_kept"] = sum(len(v) > 1 for v in labels_of.values())
        banned = set(keys)
    if "validation" in raw:
        *out["validation"], meta["dropped"]["validation"] = _dedup(*raw["validation"], banned=banned)
        banned = banned | {normalise(t) for t in out["validation"][0]}
    *train, meta["dropped"]["train"] = _dedup(*raw["train"], banned=banned)
    _check_labels(train[1], "training split")
    for split, size in (("validation", validation_size), ("test", test_size)):
        if split not in out:
            train, out[split] = _carve(*train, _count(size, len(train[0])), seed, split, "the training split")
            origin[split] = "carved from train"
    out["train"] = tuple(train)
    return out


def load_intent_data(spec: str, *, text_column: str | None = None, label_column: str | None = None,
                     validation_size: float = 0.1, test_size: float = 0.1, seed: int = 42,
                     max_per_label: int | None = None, fill_placeholders: bool = True,
                     extra_train: str | None = None, extra_train_repeat: int = 1) -> IntentData:
    """Load ``spec`` (preset, file, folder or Hub name) into deduplicated, stratified splits."""
    spec = str(spec).strip()
    check_param("load_intent_data", "spec", spec, bool(spec), "a preset, a file or folder, or a Hub data set name")
    for name, value in (("validation_size", validation_size), ("test_size", test_size)):
        check_param("load_intent_data", name, value, isinstance(value, (int, float)) and 0 < value < 1,
                    "a float between 0 and 1 (exclusive)")
    check_param("load_intent_data", "test_size", test_size, validation_size + test_size < 1,
                f"less than 1 - validation_size ({1 - validation_size:.3g})")
    check_param("load_intent_data", "max_per_label", max_per_label,
                max_per_label is None or (isinstance(max_per_label, int) and max_per_label >= 1), "None or an int >= 1")

    tables, preset = _read_spec(spec)
    text_column = text_column or (preset.text_column if preset else None)
    label_column = label_column or (preset.label_column if preset else None)
    meta: dict[str, Any] = {"spec": spec, "preset": preset.name if preset else None, "seed": seed,
                            "validation_size": validation_size, "test_size": test_size, "sources": [], "dropped": {}}
    raw: dict[str, Pair] = {}
    for split, split_tables in tables.items():
        texts: list[str] = []
        labels: list[str] = []
        for table in split_tables:
            t, lab, tcol, lcol = extract(table, text_column, label_column)
            texts += t
            labels += lab
            meta["sources"].append({"path": table.source, "split": split, "rows": len(t),
                                    "text_column": tcol, "label_column": lcol})
        raw[split] = (texts, labels)
    meta["rows_read"] = sum(s["rows"] for s in meta["sources"])
    if "all" in raw:
        splits = _split_pool(raw["all"], validation_size, test_size, seed, meta)
    else:
        splits = _use_file_splits(raw, validation_size, test_size, seed, meta)
    splits = {s: (list(splits[s][0]), list(splits[s][1])) for s in SPLITS}

    meta["max_per_label"] = max_per_label
    if max_per_label is not None:
        meta["train_rows_before_cap"] = len(splits["train"][0])
        splits["train"] = _cap(*splits["train"], max_per_label, seed)
    meta["fill_placeholders"] = fill_placeholders
    meta["placeholders"] = {}
    if fill_placeholders:
        total = Counter()
        for s in SPLITS:  # one generator per split: test texts do not depend on the train size
            filled, counts = _fill_placeholders(splits[s][0], random.Random(f"{seed}-{s}"))
            splits[s] = (filled, splits[s][1])
            total += counts
        meta["placeholders"] = dict(sorted(total.items()))
        if total:  # filled values can make two templates equal: deduplicate again, test still intact
            banned = {normalise(t) for t in splits["test"][0]}
            for s in ("validation", "train"):
                *splits[s], stats = _dedup(*splits[s], banned=banned)
                banned |= {normalise(t) for t in splits[s][0]}
                meta.setdefault("dropped_after_fill", {})[s] = sum(stats.values())

    if extra_train:
        check_param("load_intent_data", "extra_train_repeat", extra_train_repeat,
                    isinstance(extra_train_repeat, int) and extra_train_repeat >= 1, "an int >= 1")
        splits["train"] = _add_extra(splits, extra_train, extra_train_repeat, text_column, label_column, meta)

    train_labels = sorted(set(splits["train"][1]))
    meta["unseen_labels"] = {}
    for s in ("validation", "test"):
        unseen = Counter(lab for lab in splits[s][1] if lab not in set(train_labels))
        if unseen:
            logger.warning("%d %s row(s) of %s have %d label(s) never seen in train (they will count as errors): %s",
                           sum(unseen.values()), s, spec, len(unseen), ", ".join(sorted(unseen)))
            meta["unseen_labels"][s] = dict(sorted(unseen.items()))
    dropped = meta.pop("dropped")
    meta.update(duplicates_dropped={k: v["duplicates"] for k, v in dropped.items()},
                conflicting_dropped={k: v["conflicting"] for k, v in dropped.items()},
                overlap_dropped={k: v["overlap"] for k, v in dropped.items() if k != "pool"},
                split_sizes={s: len(splits[s][0]) for s in SPLITS}, num_labels=len(train_labels))
    return IntentData(name=spec, train=IntentSplit(*splits["train"]), validation=IntentSplit(*splits["validation"]),
                      test=IntentSplit(*splits["test"]), labels=train_labels, meta=meta)


def read_extra_examples(path: str | Path, text_column: str | None = None, label_column: str | None = None) -> Pair:
    """(messages, intents) from a YAML ``examples: [{intent, messages: [...]}]`` file or any intent file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"The extra training file {str(path)!r} does not exist. Pass a YAML (examples: [{{intent, messages}}]) "
                        "or CSV/JSON/JSONL intent file.")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise DataError(f"Malformed YAML in {path}{where}: {getattr(exc, 'problem', None) or exc}.") from None
        groups = doc.get("examples") if isinstance(doc, dict) else None
        if not isinstance(groups, list):
            raise DataError(f"{path} must hold 'examples:', a list of {{intent: ..., messages: [...]}}.")
        texts, labels = [], []
        for i, group in enumerate(groups):
            if not (isinstance(group, dict) and isinstance(group.get("intent"), str) and isinstance(group.get("messages"), list)):
                raise DataError(f"{path}: entry {i + 1} of 'examples' needs 'intent' (a string) and 'messages' (a list).")
            for msg in group["messages"]:
                if isinstance(msg, str) and msg.strip():
                    texts.append(msg.strip())
                    labels.append(group["intent"])
        return texts, labels
    tables = read_file(path)
    texts, labels = [], []
    for table in tables.values():
        t, lab, _, _ = extract(table, text_column, label_column)
        texts += t
        labels += lab
    return texts, labels


def _add_extra(splits: dict[str, Pair], path: str, repeat: int, text_column: str | None, label_column: str | None,
               meta: dict) -> Pair:
    texts, labels = read_extra_examples(path, text_column, label_column)
    known = set(splits["train"][1])
    banned = {normalise(t) for s in ("validation", "test") for t in splits[s][0]}
    keep = [(t, lab) for t, lab in zip(texts, labels) if lab in known and normalise(t) not in banned]
    unknown = sorted({lab for lab in labels if lab not in known})
    if unknown:
        logger.warning("%s: %d label(s) not in the data set dropped: %s", path, len(unknown), ", ".join(unknown))
    meta["extra_train"] = {"path": str(path), "rows": len(texts), "added": len(keep), "repeat": repeat,
                           "dropped_overlap": sum(normalise(t) in banned for t in texts), "dropped_labels": unknown}
    train_t, train_l = list(splits["train"][0]), list(splits["train"][1])
    for _ in range(repeat):
        train_t += [t for t, _ in keep]
        train_l += [lab for _, lab in keep]
    return train_t, train_l


# ---------------------------------------------------------------------------
# Command-line flags shared by finetune_intent and evaluation.nlu
# ---------------------------------------------------------------------------

def add_data_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """Add ``--data``, ``--text-column``, ``--label-column``, split sizes, ``--max-per-label``."""
    group = parser.add_argument_group("data")
    group.add_argument("--data", required=required, metavar="PRESET_OR_PATH",
                       help=f"Preset ({', '.join(PRESETS)}), CSV/TSV/JSON/JSONL file, folder (datasets.save_to_disk "
                       "or train/validation/test files) or Hub data set name.")
    group.add_argument("--text-column", default=None, help="Column with the message (default: auto-detect "
                       f"{', '.join(TEXT_COLUMNS)}).")
    group.add_argument("--label-column", default=None, help="Column with the intent (default: auto-detect "
                       f"{', '.join(LABEL_COLUMNS)}).")
    group.add_argument("--validation-size", type=float, default=0.1,
                       help="Fraction held out for validation when the data has no validation split (default: 0.1).")
    group.add_argument("--test-size", type=float, default=0.1,
                       help="Fraction held out for test when the data has no test split (default: 0.1).")
    group.add_argument("--max-per-label", type=int, default=None,
                       help="Keep at most N training examples per intent (seeded sample; for quick runs).")
    group.add_argument("--extra-train", default=None, metavar="PATH",
                       help="Add these examples to the training split only (YAML examples: [{intent, messages}] or an "
                       "intent file), e.g. knowledge_base/intent_examples.yaml.")
    group.add_argument("--extra-train-repeat", type=int, default=1,
                       help="Repeat the --extra-train examples N times (up-weights a small in-domain set).")
    group.add_argument("--keep-placeholders", action="store_true",
                       help="Keep Bitext placeholders such as {{Order Number}} instead of filling in seeded values.")


def data_from_args(args: argparse.Namespace, seed: int) -> IntentData:
    """Call :func:`load_intent_data` with the flags of :func:`add_data_arguments`."""
    return load_intent_data(args.data, text_column=getattr(args, "text_column", None),
                            label_column=getattr(args, "label_column", None),
                            validation_size=getattr(args, "validation_size", 0.1),
                            test_size=getattr(args, "test_size", 0.1), seed=seed,
                            max_per_label=getattr(args, "max_per_label", None),
                            fill_placeholders=not getattr(args, "keep_placeholders", False),
                            extra_train=getattr(args, "extra_train", None),
                            extra_train_repeat=getattr(args, "extra_train_repeat", 1))


def describe(data: IntentData) -> str:
    """One line summarising the splits, for logs and model cards."""
    sizes = data.meta.get("split_sizes", {})
    return (f"{data.name}: {len(data.labels)} intents, train {sizes.get('train')}, validation "
            f"{sizes.get('validation')}, test {sizes.get('test')}")


if __name__ == "__main__":  # pragma: no cover - a quick look at a data set
    import sys

    from pipeline.errors import cli_main
    from pipeline.utils import setup_logging

    @cli_main
    def _main() -> None:
        setup_logging()
        p = CliParser(description="Print split sizes and cleaning counts of an intent data set.")
        add_data_arguments(p)
        p.add_argument("--seed", type=int, default=42)
        p.add_argument("--json", action="store_true", help="Print only the JSON record of the splits.")
        a = p.parse_args()
        d = data_from_args(a, a.seed)
        if not a.json:
            print(describe(d))
        print(json.dumps({k: v for k, v in d.meta.items() if k != "sources"}, indent=1))

    sys.exit(_main())
