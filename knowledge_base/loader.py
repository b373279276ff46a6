"""Load and validate the policy knowledge base (YAML snippets) and the labelled retrieval set.

Every problem names the file and line (``orders.yaml:12: unknown key 'titel' ...``)::

    python -m knowledge_base.loader                                   # the packaged knowledge base
    python -m knowledge_base.loader path/to/policies --retrieval-set  # another folder (or one file), plus the set

A knowledge base is a folder of ``*.yaml`` files, each a list of snippets with
``id``, ``intents``, ``title``, ``text`` and optional ``tags`` (see
knowledge_base/README.md for the format and the fact sheet the texts follow), and
optionally an ``intents.yaml`` beside them (or in the parent folder): the reply
phrasing, :mod:`knowledge_base.phrasing`. Its intents are whatever its snippets
name; ``--model M`` compares them with an intent model's labels::

    python -m knowledge_base.loader knowledge_base/domains/banking/policies --model artifacts/intent-banking77
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
from knowledge_base.phrasing import FILE_NAME as PHRASING_FILE, Phrasing, find_phrasing_file, load_phrasing
from knowledge_base.yaml_nodes import KnowledgeBaseError, YamlDoc, intent_checker
from pipeline.errors import CliParser, cli_main
from pipeline.types import Snippet

__all__ = ["KnowledgeBase", "KnowledgeBaseError", "RetrievalExample", "default_kb_dir", "default_retrieval_set_path",
           "load_knowledge_base", "load_retrieval_set", "snippet_hash"]

logger = logging.getLogger(__name__)

REQUIRED_KEYS = ("id", "intents", "title", "text")
SNIPPET_KEYS = frozenset(REQUIRED_KEYS + ("tags",))
EXAMPLE_REQUIRED = ("message", "intents", "snippet_ids")
EXAMPLE_KEYS = frozenset(EXAMPLE_REQUIRED + ("kind", "note", "part"))
PARTS = ("dev", "test")
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
    phrasing: Phrasing = field(default_factory=Phrasing)  # intents.yaml: topics, openings, closings, contact
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

    def intents(self) -> list[str]:
        """Every intent some snippet carries, sorted."""
        return sorted(self.by_intent())

    def missing_intents(self, intents: Iterable[str] = INTENTS) -> list[str]:
        """The given intents that no snippet carries."""
        covered = self.by_intent()
        return [intent for intent in intents if intent not in covered]

    def coverage(self, model_labels: Iterable[str]) -> dict[str, list[str]]:
        """Which of a model's intents have no snippet, and which snippet intents the model never predicts."""
        labels, carried = set(model_labels), set(self.by_intent())
        return {"model_intents_without_snippets": sorted(labels - carried),
                "snippet_intents_no_model_predicts": sorted(carried - labels)}

    def check_model(self, model_labels: Iterable[str], model: str = "the intent model") -> None:
        """A model that shares no intent with the knowledge base is an error naming both sets; gaps are warnings."""
        labels = sorted(set(model_labels))
        gaps = self.coverage(labels)
        if not set(labels) & set(self.by_intent()):
            raise KnowledgeBaseError(f"The knowledge base at {self.root} and {model} share no intent: its snippets are "
                                     f"about {', '.join(self.intents()[:8])}{' ...' if len(self.intents()) > 8 else ''}; "
                                     f"the model predicts {', '.join(labels[:8])}{' ...' if len(labels) > 8 else ''}. "
                                     "Pass the knowledge base written for this model (retrieval.kb_path), or the model "
                                     "trained for this knowledge base (nlu.model).")
        if gaps["model_intents_without_snippets"]:
            logger.warning("%d intent(s) of %s have no snippet in %s: %s. Their messages get a reply that points to a "
                           "person instead of an answer.", len(gaps["model_intents_without_snippets"]), model, self.root,
                           ", ".join(gaps["model_intents_without_snippets"]))


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


_DEMO = object()


def load_knowledge_base(path: str | Path | None = None, *, known_intents: Iterable[str] | None | object = _DEMO) -> KnowledgeBase:
    """Load every ``*.yaml``/``*.yml`` file under ``path`` (a folder, or one file) but ``intents.yaml``; default the
    packaged one.

    ``known_intents`` is what a snippet's intents must belong to (``None`` accepts any name); by default the 27
    Bitext intents for the packaged demo store and any name for another knowledge base, whose intents come from
    its model (:meth:`KnowledgeBase.check_model`). Raises :class:`KnowledgeBaseError` naming file and line.
    """
    root = Path(path) if path is not None else default_kb_dir()
    if known_intents is _DEMO:
        known_intents = INTENTS if root.resolve() == default_kb_dir() else None
    if root.is_file():
        files, base = [root], root.parent
    elif root.is_dir():
        files, base = sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()
                             and p.name != PHRASING_FILE), root
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
    carried = {intent for snippet in snippets for intent in snippet.intents}
    phrasing_file = find_phrasing_file(root)
    phrasing = load_phrasing(phrasing_file, carried) if phrasing_file else Phrasing()
    kb = KnowledgeBase(snippets=snippets, root=root, files=[f.relative_to(base).as_posix() for f in files], phrasing=phrasing)
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
    part: str = "test"  # "dev" | "test": a set may keep its development part in the same file


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
    part = fields.get("part", (node, "test"))[1]
    if part not in PARTS:
        raise KnowledgeBaseError(f"{doc.at(fields['part'][0])}: 'part' of {name} must be dev or test. Got {part!r}.")
    return RetrievalExample(message=message, intents=intents, snippet_ids=snippet_ids, kind=kind,
                            source=f"{doc.path.name}:{node.start_mark.line + 1}", part=part)


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
def model_labels(model: str | Path) -> list[str]:
    """An intent model folder's labels, from its config.json (``id2label``), without loading the model."""
    config = Path(model) / "config.json"
    if not config.is_file():
        raise KnowledgeBaseError(f"{model}: no config.json; pass an intent model folder (python -m training.finetune_intent "
                                 "writes one).")
    id2label = json.loads(config.read_text(encoding="utf-8")).get("id2label") or {}
    labels = [str(v) for _, v in sorted(id2label.items(), key=lambda kv: int(kv[0]))]
    if not labels or all(label.startswith("LABEL_") for label in labels):
        raise KnowledgeBaseError(f"{config}: no intent names (id2label). Train the model with python -m "
                                 "training.finetune_intent, which stores them.")
    return labels


def model_coverage(kb: KnowledgeBase, model: str | Path) -> dict[str, Any]:
    labels = model_labels(model)
    return {"path": str(model), "labels": len(labels), **kb.coverage(labels)}



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
    parser.add_argument("--any-intent", action="store_true", help="Accept intents outside the 27 Bitext ones (the packaged demo store only).")
    parser.add_argument("--model", default=None, help="An intent model folder: print which of its intents have no snippet, and which snippet intents it never predicts.")
    parser.add_argument("--json", action="store_true", help="Print the summary as one JSON object.")
    args = parser.parse_args(argv)
    setup_logging(0, quiet=True)  # warnings (long texts, intents without snippets) and errors only
    kb = load_knowledge_base(args.path, **({"known_intents": None} if args.any_intent else {}))
    demo = kb.root.resolve() == default_kb_dir() and not args.any_intent
    known = list(INTENTS) if demo else kb.intents()
    missing = kb.missing_intents(known)
    report: dict[str, Any] = {"root": str(kb.root), "files": len(kb.files), "snippets": len(kb.snippets),
                              "intents": len(known), "intents_covered": len(known) - len(missing),
                              "missing_intents": missing, "content_hash": kb.content_hash()}
    if kb.phrasing.source:
        report["phrasing"] = {"path": kb.phrasing.source, "intents": len(kb.phrasing.intents), "contact": sorted(kb.phrasing.contact)}
    if not args.json:
        print(summary(kb, known))
    if args.model:
        report["model"] = model_coverage(kb, args.model)
        if not args.json:
            cov = report["model"]
            print(f"{args.model}: {cov['labels']} intents; without a snippet: {', '.join(cov['model_intents_without_snippets']) or 'none'}; "
                  f"snippet intents it never predicts: {', '.join(cov['snippet_intents_no_model_predicts']) or 'none'}")
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
