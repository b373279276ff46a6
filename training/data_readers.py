"""Read intent data files and folders into column tables (one per split), and pick the columns.

Used by training/data.py; formats: CSV, TSV, JSON (a list of objects, ``{"data": [...]}``,
``{"train": [...], "test": [...]}`` or columns), JSON Lines, a folder saved with
``datasets.save_to_disk``, a folder of ``train``/``validation``/``test`` files, ATIS-style
``seq.in`` + ``label`` folders, and Hub data sets (only when the Hub is reachable)::

    python -c "from pathlib import Path; from training.data_readers import read_folder as r; print(list(r(Path('../shared/data/banking77'))))"
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import DataError, first_line
from training.presets import PRESETS

logger = logging.getLogger(__name__)


TEXT_COLUMNS = ("text", "instruction", "utterance", "sentence", "message")
LABEL_COLUMNS = ("label", "intent", "category")
FILE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json")
SPLIT_ALIASES = {"train": ("train", "training"), "validation": ("validation", "valid", "dev", "val"),
                 "test": ("test", "testing")}


@dataclass
class Table:
    """The columns of one file or split as read, and where they came from (for messages)."""

    source: str
    columns: dict[str, list]


def canonical_split(name: str) -> str | None:
    key = name.casefold()
    return next((canon for canon, aliases in SPLIT_ALIASES.items() if key in aliases), None)


def _rows_table(rows: list, source: str) -> Table:
    """Rows (dicts) -> columns; a row that is not an object is an error naming its position."""
    columns: dict[str, list] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise DataError(f"Row {i + 1} of {source} is a {type(row).__name__}, not a JSON object. "
                            'Write one object per row, e.g. {"text": "...", "label": "..."}.')
        for key in row:
            columns.setdefault(key, [None] * i)
        for key, values in columns.items():
            values.append(row.get(key))
    return Table(source, columns)


def _read_csv(path: Path, sep: str) -> Table:
    import pandas as pd

    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty. Pass a file with a header row and at least two intents.") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"Malformed {path.suffix.lstrip('.').upper()} file {path}: {first_line(exc)}. "
                        "Fix the quoting or the number of fields on that line.") from None
    _check_swallowed_lines(path, frame, sep)
    return Table(str(path), {str(c): frame[c].tolist() for c in frame.columns})


def _check_swallowed_lines(path: Path, frame, sep: str) -> None:
    """A quote opened and not closed on its line makes the following lines part of one field: say which line."""
    multi = [(c, i) for c in frame.columns for i, v in enumerate(frame[c].tolist()) if isinstance(v, str) and "\n" in v]
    if not multi:
        return
    n_fields = len(frame.columns)

    def looks_like_row(line: str) -> bool:  # "message 3,leave": the fields of a row, the last one a single token
        parts = line.split(sep)
        return len(parts) == n_fields and bool(parts[-1].strip()) and " " not in parts[-1].strip()

    swallowed = [(c, i) for c, i in multi if sum(map(looks_like_row, frame[c].iloc[i].split("\n")[1:])) >= 2]
    if not swallowed:
        return  # messages that really span lines, quoted properly
    column, row = swallowed[0]
    cell = frame[column].iloc[row]
    lines = path.read_text(encoding="utf-8").splitlines()
    culprit = next((n for n, line in enumerate(lines, start=1) if line.count('"') % 2), None)
    where = f"line {culprit}" if culprit else f"row {row + 2}"
    raise DataError(f"{path} {where} opens a quote that is not closed on that line, so the lines after it were read "
                    f"as part of one {column!r} value ({cell.count(chr(10))} lines swallowed). Close the quote, or "
                    'quote the whole field and double any quote inside it ("like ""this"" ").')


def _read_jsonl(path: Path) -> Table:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"Malformed JSON in {path} at line {lineno}, column {exc.colno}: {exc.msg}. "
                                "Each line of a JSONL file must be one JSON object.") from None
            if not isinstance(row, dict):
                raise DataError(f"Line {lineno} of {path} is a {type(row).__name__}, not a JSON object. "
                                'Write one object per line, e.g. {"text": "...", "label": "..."}.')
            rows.append(row)
    return _rows_table(rows, str(path))


def _read_json(path: Path) -> dict[str | None, Table]:
    """A list of objects, {"data": [...]}, {"train": [...], "test": [...]} or columns {"text": [...]}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # JSON Lines saved as .json
            return {None: _read_jsonl(path)}
        raise DataError(f"Malformed JSON in {path} at line {exc.lineno}, column {exc.colno}: {exc.msg}.") from None
    if isinstance(data, dict) and list(data) == ["data"]:
        data = data["data"]
    if isinstance(data, list):
        return {None: _rows_table(data, str(path))}
    if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        if all(canonical_split(str(k)) for k in data):
            return {str(k): _rows_table(v, f"{path}[{k}]") for k, v in data.items()}
        if len({len(v) for v in data.values()}) == 1:
            return {None: Table(str(path), {str(k): v for k, v in data.items()})}
    raise DataError(f"{path} must hold a list of objects, splits such as {{\"train\": [...], \"test\": [...]}} or "
                    f"columns of equal length such as {{\"text\": [...], \"label\": [...]}}. Got {type(data).__name__} "
                    "with another layout.")


def read_file(path: Path) -> dict[str | None, Table]:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return {None: _read_csv(path, "\t" if suffix == ".tsv" else ",")}
    if suffix == ".jsonl":
        return {None: _read_jsonl(path)}
    if suffix == ".json":
        return _read_json(path)
    raise DataError(f"Cannot read {path}: the suffix {suffix or '(none)'!r} is not one of {', '.join(FILE_SUFFIXES)}. "
                    "Convert the file, or pass a folder saved with datasets.save_to_disk.")


def read_seq_folder(path: Path) -> Table:
    """ATIS layout: ``seq.in`` (space-separated tokens) and ``label`` (one intent per line)."""
    texts = (path / "seq.in").read_text(encoding="utf-8").splitlines()
    labels = (path / "label").read_text(encoding="utf-8").splitlines()
    if len(texts) != len(labels):
        raise DataError(f"{path} has {len(texts)} lines in seq.in but {len(labels)} in label; "
                        "they must pair line by line.")
    return Table(str(path), {"text": texts, "label": labels})


def _datasets_tables(obj: Any, source: str) -> dict[str | None, Table]:
    """A datasets Dataset or DatasetDict -> Tables; ClassLabel columns become label names."""
    import datasets

    parts = dict(obj) if isinstance(obj, datasets.DatasetDict) else {None: obj}
    tables: dict[str | None, Table] = {}
    for name, ds in parts.items():
        columns = ds.to_dict()
        for col, feature in ds.features.items():
            if isinstance(feature, datasets.ClassLabel):
                columns[col] = [None if v is None else feature.int2str(v) for v in columns[col]]
        tables[name] = Table(source if name is None else f"{source}[{name}]", columns)
    return tables


def read_folder(path: Path) -> dict[str | None, Table]:
    if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        import datasets

        try:
            return _datasets_tables(datasets.load_from_disk(str(path)), str(path))
        except (OSError, ValueError) as exc:
            raise DataError(f"Could not read the saved data set {path}: {first_line(exc)}. Save it again with "
                            "datasets.save_to_disk.") from None
    if (path / "seq.in").is_file() and (path / "label").is_file():
        return {None: read_seq_folder(path)}
    found: dict[str | None, Table] = {}
    chosen: dict[str, Path] = {}
    for child in sorted(path.iterdir()):
        is_file = child.is_file() and child.suffix.lower() in FILE_SUFFIXES
        is_seq = child.is_dir() and (child / "seq.in").is_file() and (child / "label").is_file()
        canon = canonical_split(child.stem if is_file else child.name)
        if not (is_file or is_seq) or canon is None:
            continue
        if canon in chosen:
            raise DataError(f"Folder {path} has two {canon} splits: {chosen[canon].name} and {child.name}. Keep one.")
        chosen[canon] = child
        found[canon] = read_seq_folder(child) if is_seq else read_file(child)[None]
    if not found:
        names = ", ".join(sorted(p.name for p in path.iterdir())[:10]) or "nothing"
        raise DataError(f"Folder {path} holds no data set (found: {names}). Expected a folder saved with "
                        "datasets.save_to_disk, train/validation/test files (.csv, .tsv, .jsonl, .json), or "
                        "train/valid/test subfolders with seq.in and label.")
    return found


def read_hub(name: str) -> dict[str | None, Table]:
    """Load a Hub data set, failing fast (one line) when offline or unreachable."""
    from pipeline.hub import hub_offline, hub_reachable

    if not hub_reachable():
        why = "HF_HUB_OFFLINE is set" if hub_offline() else "the Hugging Face Hub cannot be reached"
        raise DataError(f"{name!r} is not a preset ({', '.join(PRESETS)}) or an existing file or folder, and {why}, so "
                        "it cannot be loaded as a Hub data set. Pass a local CSV/JSON/JSONL file or a folder saved "
                        "with datasets.save_to_disk.")
    import datasets

    try:
        logger.info("Loading the Hub data set %s", name)
        return _datasets_tables(datasets.load_dataset(name), f"hub:{name}")
    except Exception as exc:  # noqa: BLE001 - datasets raises many types; report one line
        raise DataError(f"Could not load the Hub data set {name!r}: {first_line(exc)}. Check the name, or pass a "
                        "local CSV/JSON/JSONL file or a folder saved with datasets.save_to_disk.") from None


def _as_str(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _pick_column(table: Table, wanted: str | None, candidates: tuple[str, ...], kind: str) -> str:
    names = list(table.columns)
    available = ", ".join(map(repr, names)) or "none"
    if wanted is not None:
        matches = [n for n in names if n == wanted] or [n for n in names if n.casefold() == wanted.casefold()]
        if len(matches) == 1:
            return matches[0]
        raise DataError(f"Column {wanted!r} (--{kind}-column) is not in {table.source}. "
                        f"Available columns: {available}.")
    for cand in candidates:
        for n in names:
            if n.casefold() == cand:
                return n
    raise DataError(f"Found no {kind} column in {table.source} (looked for {', '.join(candidates)}). "
                    f"Available columns: {available}. Pass --{kind}-column.")


def extract(table: Table, text_column: str | None, label_column: str | None) -> tuple[list[str], list[str], str, str]:
    """Texts and labels of ``table``; empty values are an error naming the count and the first row."""
    tcol = _pick_column(table, text_column, TEXT_COLUMNS, "text")
    lcol = _pick_column(table, label_column, LABEL_COLUMNS, "label")
    if tcol == lcol:
        raise DataError(f"The text and label columns of {table.source} are both {tcol!r}. Pass different "
                        "--text-column and --label-column.")
    out = []
    for col, kind in ((tcol, "text"), (lcol, "label")):
        values = [_as_str(v) for v in table.columns[col]]
        empty = [i for i, v in enumerate(values) if not v]
        if empty:
            raise DataError(f"{len(empty)} empty or whitespace-only {kind}(s) in column {col!r} of {table.source} "
                            f"(first at row {empty[0] + 1}, counting data rows from 1). Remove those rows or pass "
                            f"another --{kind}-column.")
        out.append(values)
    return out[0], out[1], tcol, lcol
