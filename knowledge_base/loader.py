"""Load and validate the policy knowledge base (YAML snippets) and the labelled retrieval set.

Every problem names the file and line (``orders.yaml:12: unknown key 'titel' ...``)::

    python -m knowledge_base.loader                                   # the packaged knowledge base
    python -m knowledge_base.loader path/to/policies --retrieval-set  # another folder (or one file), plus the set

A knowledge base is a folder of ``*.yaml`` files, each a list of snippets with
``id``, ``intents``, ``title``, ``text`` and optional ``tags`` (see
knowledge_base/README.md for the format and the fact sheet the texts follow).
"""
from __future__ import annotations

import difflib
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

from knowledge_base.intents import INTENTS
from knowledge_base.yaml_nodes import KnowledgeBaseError, YamlDoc, intent_checker
from pipeline.errors import CliParser, cli_main
from pipeline.types import Snippet

__all__ = ["KnowledgeBase", "KnowledgeBaseError", "RetrievalExample", "default_kb_dir", "default_retrieval_set_path",
           "load_knowledge_base", "load_retrieval_set", "snippet_hash"]

logger = logging.getLogger(__name__)

REQUIRED_KEYS = ("id", "intents", "title", "text")
SNIPPET_KEYS = frozenset(REQUIRED_KEYS + ("tags",))
EXAMPLE_REQUIRED = ("message", "intents", "snippet_ids")
EXAMPLE_KEYS = frozenset(EXAMPLE_REQUIRED + ("kind", "note"))
KINDS = ("single", "two_concerns", "ambiguous")
MAX_SENTENCES = 4
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
# A sentence ends at . ! ? followed by a space or the end, unless the mark ends a
# single letter or a number ("a.m.", "e.g.", "step 2.").
_SENTENCE_END = re.compile(r"(?<![0-9])(?<!\b[A-Za-z])[.!?]+(?=\s|$)")


def default_kb_dir() -> Path:
    """The packaged knowledge base: ``knowledge_base/policies``."""
    return Path(__file__).resolve().parent / "policies"


def default_retrieval_set_path() -> Path:
    """The packaged labelled retrieval set: ``knowledge_base/retrieval_set.yaml``."""
    return Path(__file__).resolve().parent / "retrieval_set.yaml"


def count_sentences(text: str) -> int:
    """Sentences in a snippet text (a text without a final full stop counts as one)."""
    text = text.strip()
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    return len(ends) + (1 if text and (not ends or ends[-1] != len(text)) else 0)


def snippet_hash(snippet: Snippet) -> str:
    """SHA-256 of what a snippet says (id, intents, title, text, tags); not of where it sits."""
    payload = [snippet.id, list(snippet.intents), snippet.title, snippet.text, list(snippet.tags)]
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


@dataclass
class KnowledgeBase:
    """The loaded snippets (in file order, files sorted by name) and the folder they came from."""

    snippets: list[Snippet]
    root: Path
    files: list[str] = field(default_factory=list)  # paths relative to root, sorted
    _index: dict[str, Snippet] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.snippets)

    def by_intent(self) -> dict[str, list[Snippet]]:
        """Intent -> its snippets: those listing it first (their main intent) in load order, then the others.

        So ``by_intent()[intent][0]`` is the intent's main answer (the first
        snippet of its topic file), which is what an intent-only lookup returns.
        """
        out: dict[str, list[Snippet]] = {}
        for main in (True, False):
            for snippet in self.snippets:
                for intent in snippet.intents[:1] if main else snippet.intents[1:]:
                    out.setdefault(intent, []).append(snippet)
        return out

    def get(self, snippet_id: str) -> Snippet:
        """The snippet with this id; ``KeyError`` (with the closest id) when there is none."""
        if len(self._index) != len(self.snippets):
            self._index = {snippet.id: snippet for snippet in self.snippets}
        if snippet_id in self._index:
            return self._index[snippet_id]
        close = difflib.get_close_matches(snippet_id, [s.id for s in self.snippets], n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"No snippet with id {snippet_id!r} in the knowledge base at {self.root}.{hint}")

    def content_hash(self) -> str:
        """SHA-256 over the sorted snippets' contents: changes when any snippet is added, removed or edited."""
        digest = hashlib.sha256()
        for snippet in sorted(self.snippets, key=lambda s: s.id):
            digest.update(snippet_hash(snippet).encode())
        return digest.hexdigest()

    def missing_intents(self, intents: Iterable[str] = INTENTS) -> list[str]:
        """The given intents that no snippet carries."""
        covered = self.by_intent()
        return [intent for intent in intents if intent not in covered]


# ---------------------------------------------------------------- knowledge base
def _parse_snippet(doc: YamlDoc, node: yaml.Node, index: int, rel: str, known: set[str] | None) -> Snippet:
    fields, name = doc.fields(node, index, "snippet", SNIPPET_KEYS, "id", "id")
    snippet_id = doc.require_text(node, fields, "id", name)
    if not _ID_RE.match(snippet_id):
        raise KnowledgeBaseError(f"{doc.at(fields['id'][0])}: snippet id {snippet_id!r} must be one word of "
                                 f"letters, digits and - _ . : (like 'refund-window').")
    intents = doc.require_names(node, fields, "intents", name, check=intent_checker(doc, name, known))
    title = doc.require_text(node, fields, "title", name)
    text = " ".join(doc.require_text(node, fields, "text", name).split())
    tags = doc.require_names(node, fields, "tags", name, optional=True)
    sentences = count_sentences(text)
    if sentences > MAX_SENTENCES:
        logger.warning("%s: %s has %d sentences; keep snippet texts to at most %d.",
                       doc.at(fields["text"][0]), name, sentences, MAX_SENTENCES)
    line = node.start_mark.line + 1
    return Snippet(id=snippet_id, intents=intents, title=title, text=text, tags=tags, source=f"{rel}:{line}")


def load_knowledge_base(path: str | Path | None = None, *,
                        known_intents: Iterable[str] | None = INTENTS) -> KnowledgeBase:
    """Load every ``*.yaml``/``*.yml`` file under ``path`` (a folder, or one file); default the packaged one.

    ``known_intents`` (default: the 27 Bitext intents) is what a snippet's intents
    must belong to (``None`` accepts any name); those without a snippet are logged
    as a warning. Raises :class:`KnowledgeBaseError` naming file and line.
    """
    root = Path(path) if path is not None else default_kb_dir()
    if root.is_file():
        files, base = [root], root.parent
    elif root.is_dir():
        files, base = sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()), root
        if not files:
            raise KnowledgeBaseError(f"{root}: the knowledge base folder has no .yaml files. Add policy files "
                                     f"(format in knowledge_base/README.md) or pass another folder.")
    else:
        raise KnowledgeBaseError(f"{root}: the knowledge base folder does not exist. Pass a folder of policy "
                                 f"YAML files (default: {default_kb_dir()}).")
    known = set(known_intents) if known_intents is not None else None
    snippets: list[Snippet] = []
    first_seen: dict[str, str] = {}
    errors: list[str] = []
    for file in files:
        rel = file.relative_to(base).as_posix()
        try:
            doc = YamlDoc(file, "knowledge base", REQUIRED_KEYS)
            items = doc.items("snippet")
        except KnowledgeBaseError as exc:
            errors.append(str(exc))
            continue
        for index, node in enumerate(items, start=1):
            try:
                snippet = _parse_snippet(doc, node, index, rel, known)
            except KnowledgeBaseError as exc:
                errors.append(str(exc))
                continue
            where = doc.at(node)
            if snippet.id in first_seen:
                errors.append(f"{where}: duplicate snippet id {snippet.id!r}; first defined at "
                              f"{first_seen[snippet.id]}. Snippet ids must be unique across the knowledge base.")
                continue
            first_seen[snippet.id] = where
            snippets.append(snippet)
    if errors:
        raise KnowledgeBaseError(errors[0], errors)
    kb = KnowledgeBase(snippets=snippets, root=root, files=[f.relative_to(base).as_posix() for f in files])
    missing = kb.missing_intents(sorted(known)) if known is not None else []
    if missing:
        logger.warning("%s: no snippet for the intent(s) %s; retrieval for them falls back to unfiltered search.",
                       root, ", ".join(missing))
    return kb


# ---------------------------------------------------------------- retrieval set
@dataclass
class RetrievalExample:
    """A customer message with the gold intent(s) and the id(s) of the snippet(s) that answer it."""

    message: str
    intents: list[str]
    snippet_ids: list[str]
    kind: str = "single"  # "single" | "two_concerns" | "ambiguous"
    source: str = ""  # "retrieval_set.yaml:LINE"


def _parse_example(doc: YamlDoc, node: yaml.Node, index: int, kb: KnowledgeBase | None,
                   known: set[str] | None, ids: set[str] | None) -> RetrievalExample:
    fields, name = doc.fields(node, index, "example", EXAMPLE_KEYS, "message", None)
    message = " ".join(doc.require_text(node, fields, "message", name).split())
    intents = doc.require_names(node, fields, "intents", name, check=intent_checker(doc, name, known))

    def check_id(snippet_id: str, id_node: yaml.Node) -> None:
        if ids is not None and snippet_id not in ids:
            close = difflib.get_close_matches(snippet_id, sorted(ids), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise KnowledgeBaseError(f"{doc.at(id_node)}: unknown snippet id {snippet_id!r} in {name}{hint}. "
                                     f"Use an id from the knowledge base at {kb.root}.")

    snippet_ids = doc.require_names(node, fields, "snippet_ids", name, check=check_id)
    kind = fields.get("kind", (node, "single"))[1]
    at = doc.at(fields.get("kind", (node,))[0])
    if kind not in KINDS:
        raise KnowledgeBaseError(f"{at}: 'kind' of {name} must be one of {', '.join(KINDS)}. Got {kind!r}.")
    if (kind == "single" and len(intents) != 1) or (kind == "two_concerns" and len(intents) < 2):
        need = "exactly one intent" if kind == "single" else "two or more intents"
        raise KnowledgeBaseError(f"{at}: a {kind!r} {name} needs {need}. Got {intents}.")
    if kb is not None:
        for snippet_id in snippet_ids:
            if not set(kb.get(snippet_id).intents) & set(intents):
                raise KnowledgeBaseError(f"{doc.at(node)}: gold snippet {snippet_id!r} of {name} carries none of "
                                         f"its intents {intents}. Fix the label or the snippet's intents.")
        for intent in intents:
            if not any(intent in kb.get(s).intents for s in snippet_ids):
                raise KnowledgeBaseError(f"{doc.at(node)}: no gold snippet of {name} carries its intent "
                                         f"{intent!r}. Add one that answers that part of the message.")
    return RetrievalExample(message=message, intents=intents, snippet_ids=snippet_ids, kind=kind,
                            source=f"{doc.path.name}:{node.start_mark.line + 1}")


def load_retrieval_set(path: str | Path | None = None, kb: KnowledgeBase | None = None) -> list[RetrievalExample]:
    """Load the labelled retrieval set; with ``kb``, gold ids and intents are checked against it."""
    path = Path(path) if path is not None else default_retrieval_set_path()
    if not path.is_file():
        raise KnowledgeBaseError(f"{path}: the retrieval set file does not exist. Pass a YAML file of examples "
                                 f"(default: {default_retrieval_set_path()}).")
    doc = YamlDoc(path, "retrieval set", EXAMPLE_REQUIRED)
    known = None if kb is None else set(kb.by_intent())
    ids = None if kb is None else {s.id for s in kb.snippets}
    examples: list[RetrievalExample] = []
    seen: dict[str, str] = {}
    errors: list[str] = []
    for index, node in enumerate(doc.items("example"), start=1):
        try:
            example = _parse_example(doc, node, index, kb, known, ids)
        except KnowledgeBaseError as exc:
            errors.append(str(exc))
            continue
        key = example.message.casefold()
        if key in seen:
            errors.append(f"{doc.at(node)}: example #{index} repeats the message of the example at {seen[key]}. "
                          f"Remove one.")
            continue
        seen[key] = doc.at(node)
        examples.append(example)
    if errors:
        raise KnowledgeBaseError(errors[0], errors)
    return examples


# ---------------------------------------------------------------- CLI
def summary(kb: KnowledgeBase, known_intents: Iterable[str] = INTENTS) -> str:
    """One line: files, snippets, intents covered, content hash."""
    known = list(known_intents)
    covered = len(known) - len(kb.missing_intents(known))
    return (f"{kb.root}: {len(kb.files)} files, {len(kb.snippets)} snippets, {covered}/{len(known)} intents "
            f"covered, content hash {kb.content_hash()[:16]}")


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    from pipeline.utils import setup_logging

    parser = CliParser(description="Validate a knowledge base folder and print a one-line summary.")
    parser.add_argument("path", nargs="?", default=None, help=f"Folder or YAML file (default: {default_kb_dir()}).")
    parser.add_argument("--retrieval-set", nargs="?", const=str(default_retrieval_set_path()), default=None,
                        metavar="FILE", help="Also validate a labelled retrieval set against it (default file "
                                             "when no FILE is given).")
    parser.add_argument("--any-intent", action="store_true", help="Accept intents outside the 27 Bitext ones.")
    parser.add_argument("--json", action="store_true", help="Print the summary as one JSON object.")
    args = parser.parse_args(argv)
    setup_logging(0, quiet=True)  # warnings (long texts, intents without snippets) and errors only
    kb = load_knowledge_base(args.path, known_intents=None if args.any_intent else INTENTS)
    known = sorted(set(kb.by_intent())) if args.any_intent else list(INTENTS)
    missing = kb.missing_intents(known)
    report: dict[str, Any] = {"root": str(kb.root), "files": len(kb.files), "snippets": len(kb.snippets),
                              "intents": len(known), "intents_covered": len(known) - len(missing),
                              "missing_intents": missing, "content_hash": kb.content_hash()}
    if not args.json:
        print(summary(kb, known))
    if args.retrieval_set:
        examples = load_retrieval_set(args.retrieval_set, kb)
        kinds = {k: sum(e.kind == k for e in examples) for k in KINDS}
        report["retrieval_set"] = {"path": args.retrieval_set, "examples": len(examples), "kinds": kinds,
                                   "intents": len({i for e in examples for i in e.intents})}
        if not args.json:
            print(f"{args.retrieval_set}: {len(examples)} examples ("
                  + ", ".join(f"{n} {k}" for k, n in kinds.items())
                  + f"), {report['retrieval_set']['intents']} intents")
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
