"""Reply phrasing as knowledge-base data: ``intents.yaml`` (contact details, and per intent a topic and lines).

    python -c "from knowledge_base.phrasing import load_phrasing; p = load_phrasing('knowledge_base/intents.yaml'); print(p.topic('get_refund'))"

Format (every key optional but ``intents``)::

    closing: "Anything else I can help with?"        # the short closing of an answer-first reply
    apology: "I'm sorry about the trouble."         # how a reply to an upset customer opens
    contact:
      phone: "1-800-555-0199"
      chat: "live chat from the Help button on the website or in the app"
      email: "support@northwindgoods.com"
      hours: "Monday-Friday 8 am-8 pm ET"
    intents:
      get_refund:
        topic: getting a refund                     # completes "Is your question about ___?"
        opening: "I understand you'd like to get a refund, and I'm here to help."
        opening_with_reference: "I understand you'd like to get a refund for {ref}, and I'm here to help."
        closing: "If you have any other questions about this, just reply here."
        reference: invoice                          # which number the opening names first: order (default) or invoice

An intent without an entry gets generic lines built from its name. Unknown keys and intents are errors naming
the file and line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import yaml

from knowledge_base.yaml_nodes import KnowledgeBaseError, YamlDoc

CONTACT_KEYS = ("phone", "chat", "email", "hours")
INTENT_KEYS = ("topic", "opening", "opening_with_reference", "closing", "reference")
REFERENCES = ("order", "invoice")
FILE_NAME = "intents.yaml"
GENERIC_CLOSING = "If you have any other questions, just reply here."
GENERIC_SHORT_CLOSING = "Is there anything else I can help with?"
GENERIC_APOLOGY = "I'm sorry about the trouble."


@dataclass
class IntentLines:
    topic: str
    opening: str | None = None
    opening_with_reference: str | None = None
    closing: str | None = None
    reference: str = "order"


@dataclass
class Phrasing:
    """Contact details and per-intent lines of one knowledge base (empty: generic lines everywhere)."""

    contact: dict[str, str] = field(default_factory=dict)
    intents: dict[str, IntentLines] = field(default_factory=dict)
    source: str = ""
    closing_line: str | None = None  # the short closing of an answer-first reply (the file's top-level 'closing')
    apology_line: str | None = None  # how a reply to an upset customer opens (the file's top-level 'apology')

    def lines(self, intent: str) -> IntentLines:
        return self.intents.get(intent) or IntentLines(topic=intent.replace("_", " "))

    def topic(self, intent: str) -> str:
        return self.lines(intent).topic

    def opening(self, intent: str, ref: str | None) -> str:
        lines = self.lines(intent)
        if ref and lines.opening_with_reference:
            return lines.opening_with_reference.format(ref=ref)
        if lines.opening:
            return lines.opening
        return f"Here is what I can tell you about {lines.topic} for {ref}." if ref else \
            f"Here is what I can tell you about {lines.topic}."

    def closing(self, intent: str) -> str:
        return self.lines(intent).closing or GENERIC_CLOSING

    def short_closing(self) -> str:
        return self.closing_line or GENERIC_SHORT_CLOSING

    def apology(self) -> str:
        return self.apology_line or GENERIC_APOLOGY

    def channel_sentence(self) -> str | None:
        """"You can also reach our customer service team by phone at ..., by ..., or by email at ..." (None: no contact)."""
        c = self.contact
        ways = [f"by phone at {c['phone']}" if c.get("phone") else "", f"by {c['chat']}" if c.get("chat") else "",
                f"by email at {c['email']}" if c.get("email") else ""]
        ways = [w for w in ways if w]
        if not ways:
            return None
        said = ways[0] if len(ways) == 1 else ", ".join(ways[:-1]) + ", or " + ways[-1]
        return f"You can also reach our customer service team {said}."


def _mapping(doc: YamlDoc, node: yaml.Node, what: str, allowed: Iterable[str]) -> dict[str, tuple[yaml.Node, object]]:
    if not isinstance(node, yaml.MappingNode):
        raise KnowledgeBaseError(f"{doc.at(node)}: {what} must be a mapping of keys to values.")
    out = {}
    for key_node, value_node in node.value:
        key = doc.value(key_node)
        if allowed and key not in allowed:
            raise KnowledgeBaseError(f"{doc.at(key_node)}: unknown key {key!r} in {what}. Valid keys: {', '.join(allowed)}.")
        out[str(key)] = (value_node, doc.value(value_node))
    return out


def _text(doc: YamlDoc, node: yaml.Node, value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise KnowledgeBaseError(f"{doc.at(node)}: {what} must be a non-empty text.")
    return " ".join(value.split())


def _intent_lines(doc: YamlDoc, name: str, node: yaml.Node) -> IntentLines:
    fields = _mapping(doc, node, f"intent {name!r}", INTENT_KEYS)
    values = {k: _text(doc, n, v, f"{k!r} of intent {name!r}") for k, (n, v) in fields.items()}
    if values.get("reference", "order") not in REFERENCES:
        raise KnowledgeBaseError(f"{doc.at(fields['reference'][0])}: 'reference' of intent {name!r} must be order or invoice.")
    ref_line = values.get("opening_with_reference")
    if ref_line is not None and "{ref}" not in ref_line:
        raise KnowledgeBaseError(f"{doc.at(fields['opening_with_reference'][0])}: 'opening_with_reference' of intent "
                                 f"{name!r} must contain {{ref}} (where the order or invoice number goes).")
    return IntentLines(topic=values.get("topic", name.replace("_", " ")), opening=values.get("opening"),
                       opening_with_reference=ref_line, closing=values.get("closing"), reference=values.get("reference", "order"))


def load_phrasing(path: str | Path, known_intents: Iterable[str] | None = None) -> Phrasing:
    """Read an ``intents.yaml``; ``known_intents`` (e.g. the knowledge base's) is what its intents must be among."""
    path = Path(path)
    doc = YamlDoc(path, "intents", ())
    if doc.root is None:
        return Phrasing(source=str(path))
    top = _mapping(doc, doc.root, "the intents file", ("contact", "closing", "apology", "intents"))
    contact: dict[str, str] = {}
    if "contact" in top:
        for key, (node, value) in _mapping(doc, top["contact"][0], "contact", CONTACT_KEYS).items():
            contact[key] = _text(doc, node, value, f"contact {key!r}")
    intents: dict[str, IntentLines] = {}
    if "intents" in top:
        known = set(known_intents) if known_intents is not None else None
        node = top["intents"][0]
        if not isinstance(node, yaml.MappingNode):
            raise KnowledgeBaseError(f"{doc.at(node)}: 'intents' must map each intent name to its lines.")
        for key_node, value_node in node.value:
            name = str(doc.value(key_node))
            if known is not None and name not in known:
                raise KnowledgeBaseError(f"{doc.at(key_node)}: intent {name!r} has no snippet in the knowledge base. "
                                         "Remove its entry, fix the name, or add a snippet for it.")
            intents[name] = _intent_lines(doc, name, value_node)
    closing = _text(doc, top["closing"][0], top["closing"][1], "'closing'") if "closing" in top else None
    apology = _text(doc, top["apology"][0], top["apology"][1], "'apology'") if "apology" in top else None
    return Phrasing(contact=contact, intents=intents, source=str(path), closing_line=closing, apology_line=apology)


def find_phrasing_file(kb_root: Path) -> Path | None:
    """``intents.yaml`` in the knowledge-base folder, else in its parent (policies/ beside intents.yaml)."""
    folder = kb_root if kb_root.is_dir() else kb_root.parent
    for candidate in (folder / FILE_NAME, folder.parent / FILE_NAME):
        if candidate.is_file():
            return candidate
    return None
