"""YAML files as node trees, so every value knows its ``path:line`` (used by knowledge_base.loader).

Errors are :class:`KnowledgeBaseError` with messages that start with ``path:line: ``::

    python -m knowledge_base.loader broken_policies/   # error: broken_policies/orders.yaml:12: unknown key 'titel' ...
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

from knowledge_base.intents import INTENTS
from pipeline.errors import DataError


class KnowledgeBaseError(DataError):
    """A malformed knowledge base or retrieval set; the message starts with ``path:line: ``.

    ``errors`` holds every problem found, the first of which is the message.
    """

    def __init__(self, message: str, errors: Sequence[str] = ()) -> None:
        self.errors = list(errors) or [message]
        more = len(self.errors) - 1
        super().__init__(message + (f" (and {more} more problem{'s' * (more > 1)})" if more else ""))


class YamlDoc:
    """One YAML file as a node tree: values built on demand, locations as ``path:line``."""

    def __init__(self, path: Path, what: str, required: tuple[str, ...]) -> None:
        self.path, self.required = path, required
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise KnowledgeBaseError(f"{path}:1: {what} file is not UTF-8 text ({exc.reason}). Save it as UTF-8.")
        self._loader = yaml.SafeLoader(text)
        try:
            self.root = self._loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else 1
            context = ""
            if exc.context and exc.problem:
                start = exc.context_mark.line + 1 if exc.context_mark is not None else line
                context = f" ({exc.context}{f' that starts at line {start}' if start != line else ''})"
            fix = "Fix the YAML syntax and reload."
            if "mapping values are not allowed" in str(exc.problem):
                fix = "Quote a value that contains ': ', or write it on the next lines after '>-'."
            raise KnowledgeBaseError(f"{path}:{line}: YAML syntax error: {exc.problem or exc.context}{context}. "
                                     f"{fix}") from None

    def at(self, node: yaml.Node) -> str:
        return f"{self.path}:{node.start_mark.line + 1}"

    def value(self, node: yaml.Node) -> Any:
        return self._loader.construct_object(node, deep=True)

    def items(self, what: str) -> list[yaml.Node]:
        """The top-level list; an empty file or another shape is an error."""
        if self.root is None or (isinstance(self.root, yaml.ScalarNode) and self.value(self.root) is None):
            raise KnowledgeBaseError(f"{self.path}:1: the file is empty. Write a list of {what}s "
                                     f"('- id: ...'), or delete the file.")
        if not isinstance(self.root, yaml.SequenceNode):
            raise KnowledgeBaseError(f"{self.at(self.root)}: expected a list of {what}s at the top level "
                                     f"('- ...' items). Got {_kind(self.root)}.")
        return list(self.root.value)

    def fields(self, node: yaml.Node, index: int, what: str, allowed: frozenset[str],
               first_key: str, name_key: str | None) -> tuple[dict[str, tuple[yaml.Node, Any]], str]:
        """A mapping item's ``key -> (value node, value)`` and its display name; unknown or repeated keys raise."""
        if not isinstance(node, yaml.MappingNode):
            raise KnowledgeBaseError(f"{self.at(node)}: {what} #{index} is not a mapping (got {_kind(node)}). "
                                     f"Write it as '- {first_key}: ...' with the keys {', '.join(sorted(allowed))}.")
        name = f"{what} #{index}"
        for key_node, value_node in node.value:
            if name_key is not None and self.value(key_node) == name_key:
                raw = self.value(value_node)
                if isinstance(raw, str) and raw.strip():
                    name = f"{what} {raw.strip()!r}"
                break
        out: dict[str, tuple[yaml.Node, Any]] = {}
        for key_node, value_node in node.value:
            key = str(self.value(key_node))
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise KnowledgeBaseError(f"{self.at(key_node)}: unknown key {key!r} in {name}{hint}. "
                                         f"Valid keys: {', '.join(sorted(allowed))}.")
            if key in out:
                raise KnowledgeBaseError(f"{self.at(key_node)}: key {key!r} appears twice in {name}; "
                                         f"first at line {out[key][0].start_mark.line + 1}. Keep one.")
            out[key] = (value_node, self.value(value_node))
        return out, name

    def require_text(self, node: yaml.Node, fields: dict, key: str, name: str) -> str:
        """A required non-empty string field."""
        if key not in fields:
            raise KnowledgeBaseError(f"{self.at(node)}: {name} has no {key!r}. "
                                     f"Required keys: {', '.join(self.required)}.")
        value_node, value = fields[key]
        if value is None or (isinstance(value, str) and not value.strip()):
            raise KnowledgeBaseError(f"{self.at(value_node)}: {name} has an empty {key!r}. Give it a value.")
        if not isinstance(value, str):
            raise KnowledgeBaseError(f"{self.at(value_node)}: {key!r} of {name} must be a string. "
                                     f"Got {_kind(value_node)} {value!r}; quote it.")
        return value.strip()

    def require_names(self, node: yaml.Node, fields: dict, key: str, name: str, optional: bool = False,
                      check: Callable[[str, yaml.Node], None] | None = None) -> list[str]:
        """A non-empty list of names (a single string counts as a list of one); duplicates are dropped."""
        if key not in fields:
            if optional:
                return []
            raise KnowledgeBaseError(f"{self.at(node)}: {name} has no {key!r}. "
                                     f"Required keys: {', '.join(self.required)}.")
        value_node, value = fields[key]
        items = [(value_node, value)] if isinstance(value, str) else None
        if isinstance(value_node, yaml.SequenceNode):
            items = [(n, self.value(n)) for n in value_node.value]
        if items is None or any(not isinstance(v, str) or not v.strip() for _, v in items):
            raise KnowledgeBaseError(f"{self.at(value_node)}: {key!r} of {name} must be a non-empty string "
                                     f"or a list of them. Got {value!r}.")
        if not items and not optional:
            raise KnowledgeBaseError(f"{self.at(value_node)}: {name} has an empty {key!r}. Name at least one.")
        names: list[str] = []
        for item_node, item in items:
            item = item.strip()
            if check is not None:
                check(item, item_node)
            if item not in names:
                names.append(item)
        return names


def _kind(node: yaml.Node) -> str:
    return {yaml.MappingNode: "a mapping", yaml.SequenceNode: "a list"}.get(type(node), "a scalar")


def intent_checker(doc: YamlDoc, name: str, known: set[str] | None) -> Callable[[str, yaml.Node], None] | None:
    """A check for ``require_names`` that rejects intents outside ``known`` (``None``: accept any)."""
    if known is None:
        return None

    def check(intent: str, node: yaml.Node) -> None:
        if intent not in known:
            close = difflib.get_close_matches(intent, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            where = ("the 27 names in INTENTS, knowledge_base/intents.py" if known == set(INTENTS)
                     else f"the known_intents passed to the loader: {', '.join(sorted(known))}")
            raise KnowledgeBaseError(f"{doc.at(node)}: unknown intent {intent!r} in {name}{hint}. "
                                     f"Valid intents are {where}.")

    return check
