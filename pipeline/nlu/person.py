"""Requests for a person: "let me talk to a human", "agent please", not "my travel agent booked it".

    >>> asks_for_person("let me talk to a human"), asks_for_person("is this a bot?"), asks_for_person("I don't need an agent")
    (True, False, False)
    >>> names_person("I have got to speak with a eprson")
    True

:func:`asks_for_person` is an explicit request (a verb of contact and a person, "agent please", Spanish and
French forms), not a mention of one (a travel agent, "your agent told me", "is this a bot?", past tense) and not
negated ("no need for an agent"). :func:`names_person` is weaker: some person is named (typos allowed), for a
message the classifier already reads as a request for one. The policy stage (:mod:`pipeline.policy`) uses both.
"""
from __future__ import annotations

import re

_PERSON = (r"(?:human(?:\s+being)?|person|people|agent|assistant|representative|rep|someone|somebody|some\s*one|operator|"
           r"manager|supervisor|advisor|adviser|associate|staff|team\s+member|team\s+lead(?:er)?|member\s+of\s+(?:staff|the\s+team)|employee|"
           r"live\s+(?:chat|support)|real\s+(?:person|human|one))")
_VERB = r"(?:talk|speak|chat|discuss|contact|reach|connect|transfer|put|get|give|pass|escalate|forward|switch|route|hand)(?:s|ing|ting|ring)?"
_REQUEST = re.compile(
    r"\b" + _VERB + r"\b[^.?!]{0,40}?\b" + _PERSON + r"s?\b"
    r"|\b(?:want|need|like|prefer|request|demand|let\s+me\s+have)\w*\b[^.?!]{0,20}?\b(?:a|an|to\s+\w+\s+(?:to|with)\s+(?:a|an)?)?\s*"
    + _PERSON + r"s?\b"
    r"|^\W*(?:a\s+|an\s+|the\s+)?" + _PERSON + r"s?\b[\w\s,]{0,20}(?:please|pls|plz|now|asap|!|\.|$)"
    r"|\b(?:human|agent|person|representative|operator|someone\s+real)s?\s*(?:please|pls|plz|now|asap)\b"
    r"|\b(?:is|are)\s+there\s+(?:a|an|any)\s+" + _PERSON + r"s?\b[^.?!]{0,25}\b(?:talk|speak|chat|help)"
    r"|\b(?:transfer|put|pass)\s+me\s+(?:through|over|on)\b|\bjust\s+transfer\s+me\b"
    r"|\b(?:some|any)\s*(?:one|body)\s+real\b"
    r"|\b(?:some|any)\s*(?:one|body)\s+(?:from|on|in)\s+(?:the|your)\s+(?:\w+\s+)?team\b[^.?!]{0,30}\b(?:call|ring|phone|contact|email|help)\b"
    r"|\b(?:hablar|habla)\s+con\s+(?:(?:un|una|el|la)?\s*(?:agente|persona|humano|representante|operador|asesor)|alguien)"
    r"|\bparler\s+(?:à|a|avec)\s+(?:un|une|quelqu'un)?\s*(?:agent|conseiller|conseillère|humain|personne)?",
    re.I,
)
_NEGATED = re.compile(
    r"\b(?:(?:don't|dont|do\s+not|doesn't|not|never|no)\s+(?:really\s+)?(?:need|want|require|looking|ask(?:ed)?)|no\s+need|without|"
    r"(?:can't|cant|cannot)\s+do)\b[^.?!]{0,25}$|\b(?:don't|dont|do\s+not|doesn't|not|never|no)\s+(?:really\s+)?$", re.I)
_TYPO_PERSONS = ("agent", "person", "human", "assistant", "representative", "operator", "someone", "somebody")


def _near(word: str, target: str) -> bool:
    """Equal up to one edit or one swap of neighbouring letters ("agnet", "eprson", "ahent")."""
    if abs(len(word) - len(target)) > 1 or word == target:
        return word == target
    if len(word) == len(target):
        diff = [i for i, (a, b) in enumerate(zip(word, target)) if a != b]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and word[diff[0]] == target[diff[1]]
                                  and word[diff[1]] == target[diff[0]])
    short, long = sorted((word, target), key=len)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def names_person(text: str) -> bool:
    """A person is named (typos allowed), other than in a mention such as "my travel agent", and not negated."""
    if _unnegated(_NAMES_PERSON, text):
        return True
    cleaned = _NOT_A_REQUEST.sub(" ", text).lower()
    return any(len(m.group()) >= 5 and any(_near(m.group(), t) for t in _TYPO_PERSONS) and not _NEGATED.search(cleaned[: m.start()])
               for m in re.finditer(r"[a-z]+", cleaned))
_NOT_A_REQUEST = re.compile(
    r"\b(?:travel|delivery|estate|insurance|booking|ticket)\s+(?:agent|person|people|rep)s?\b"
    r"|\bhuman\s+error\b|\bdelivery\s+(?:guy|man|driver)\b"
    r"|\b(?:your|the|an|one\s+of\s+your)\s+(?:(?:live\s+)?chat\s+)?(?:agent|rep|representative|advisor|colleague|person|guy|lady)s?\b"
    r"[^.?!]{0,40}?\b(?:told|said|was|were|has|had|promised|helped|mentioned)\b"
    r"|\b(?:told|said|promised|informed|advised)\s+(?:me\s+|us\s+)?by\s+(?:a|an|the|your|one\s+of\s+your)?\s*(?:(?:live\s+)?chat\s+)?"
    r"(?:agent|rep|representative|person|advisor|colleague|manager)s?\b"
    r"|\b(?:are\s+you|is\s+this|am\s+i\s+(?:talking|chatting|speaking)\s+(?:to|with))\s+(?:a\s+|an\s+)?(?:real\s+)?"
    r"(?:bot|robot|machine|ai|human|person|computer)\b(?![^.?!]*\b(?:talk|speak|transfer|connect|put)\b)",
    re.I,
)
_NAMES_PERSON = re.compile(r"\b" + _PERSON + r"s?\b", re.I)


def asks_for_person(text: str) -> bool:
    """An explicit request to talk to a person ("let me talk to a human", "agent please"), not a mention of
    one ("my travel agent booked it", "is this a bot?", "your agent told me...")."""
    return _unnegated(_REQUEST, text)


def _unnegated(pattern: re.Pattern[str], text: str) -> bool:
    """``pattern`` matches somewhere in ``text`` (mentions of a person taken out) without a negation just before."""
    cleaned = _NOT_A_REQUEST.sub(" ", text)
    return any(not _NEGATED.search(cleaned[: m.start()]) for m in pattern.finditer(cleaned))
