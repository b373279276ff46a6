"""The scripted conversation set: conversations with the expected intent, hand-off and entities per turn.

    python -c "from knowledge_base.conversation_set import load_conversation_set as l; print(len(l()))"

Format (``knowledge_base/conversations.yaml`` documents every key): a list of conversations, each with ``id``,
``part`` (dev or test), ``kinds`` and ``turns``; a turn has ``user`` and optionally ``vague``, ``pending``,
``intent``, ``entities``, ``absent``, ``idle_minutes``, ``follow_up``, ``handoff`` and ``status``. Every problem
is a :class:`~pipeline.errors.DataError` naming the conversation and turn.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import DataError

KINDS = ("clarification", "carry_over", "follow_up", "topic_switch", "handoff", "near_miss", "idle_expiry")
TURN_KEYS = ("user", "vague", "pending", "intent", "entities", "absent", "idle_minutes", "follow_up", "handoff", "status")
CONVERSATION_KEYS = ("id", "part", "kinds", "note", "turns")


def default_conversation_set() -> Path:
    return Path(__file__).resolve().parent / "conversations.yaml"


@dataclass
class ScriptedTurn:
    user: str
    intent: str | None = None
    vague: bool = False
    pending: list[str] = field(default_factory=list)
    entities: dict[str, str] = field(default_factory=dict)
    absent: list[str] = field(default_factory=list)
    idle_minutes: float | None = None
    follow_up: bool = False
    handoff: bool | None = None  # True: must hand off; False: a near miss that must not; None: not a hand-off turn
    status: str | None = None  # "handed_off": the conversation is with a person before this turn


@dataclass
class ScriptedConversation:
    id: str
    part: str
    kinds: list[str]
    turns: list[ScriptedTurn]
    note: str = ""


def _turn(raw: Any, where: str, known: set[str] | None) -> ScriptedTurn:
    if not isinstance(raw, dict):
        raise DataError(f"{where} must be a mapping with a 'user' message. Got {type(raw).__name__}.")
    unknown = sorted(set(raw) - set(TURN_KEYS))
    if unknown:
        raise DataError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}. Valid keys: {', '.join(TURN_KEYS)}.")
    if not isinstance(raw.get("user"), str) or not raw["user"].strip():
        raise DataError(f"{where} has no 'user' message.")
    turn = ScriptedTurn(user=raw["user"], intent=raw.get("intent"), vague=bool(raw.get("vague", False)),
                        pending=list(raw.get("pending") or []), entities=dict(raw.get("entities") or {}),
                        absent=[str(v) for v in raw.get("absent") or []], idle_minutes=raw.get("idle_minutes"),
                        follow_up=bool(raw.get("follow_up", False)), handoff=raw.get("handoff"), status=raw.get("status"))
    names = [n for n in [turn.intent, *turn.pending] if n is not None]
    if known is not None and any(n not in known for n in names):
        bad = next(n for n in names if n not in known)
        raise DataError(f"{where}: unknown intent {bad!r}. Use one of the knowledge base's intents.")
    if turn.pending and len(turn.pending) != 2:
        raise DataError(f"{where}: 'pending' must list the two offered intents. Got {turn.pending!r}.")
    if turn.status not in (None, "handed_off"):
        raise DataError(f"{where}: 'status' can only be 'handed_off'. Got {turn.status!r}.")
    return turn


def load_conversation_set(path: str | Path | None = None, known_intents: set[str] | None = None) -> list[ScriptedConversation]:
    """Read and check a conversation set (``known_intents``: the intent names allowed, None for any)."""
    path = Path(path) if path else default_conversation_set()
    if not path.is_file():
        raise DataError(f"The conversation set {str(path)!r} does not exist. Pass a YAML file (format in knowledge_base/conversations.yaml).")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise DataError(f"YAML syntax error in {path}{f':{mark.line + 1}' if mark else ''}. Fix the file and retry.") from None
    if not isinstance(data, list) or not data:
        raise DataError(f"{path} must hold a non-empty list of conversations.")
    out, seen = [], set()
    for i, raw in enumerate(data):
        where = f"{path}: conversation {i + 1}"
        if not isinstance(raw, dict) or not isinstance(raw.get("turns"), list) or not raw["turns"]:
            raise DataError(f"{where} must be a mapping with a non-empty 'turns' list.")
        unknown = sorted(set(raw) - set(CONVERSATION_KEYS))
        if unknown:
            raise DataError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}. Valid keys: {', '.join(CONVERSATION_KEYS)}.")
        cid = str(raw.get("id") or f"conv-{i + 1}")
        if cid in seen:
            raise DataError(f"{where}: the id {cid!r} is used twice.")
        seen.add(cid)
        if raw.get("part", "test") not in ("dev", "test"):
            raise DataError(f"{where} ({cid}): 'part' must be dev or test. Got {raw.get('part')!r}.")
        bad = [k for k in raw.get("kinds") or [] if k not in KINDS]
        if bad:
            raise DataError(f"{where} ({cid}): unknown kind(s) {bad}. Valid kinds: {', '.join(KINDS)}.")
        turns = [_turn(t, f"{where} ({cid}) turn {j + 1}", known_intents) for j, t in enumerate(raw["turns"])]
        out.append(ScriptedConversation(cid, raw.get("part", "test"), list(raw.get("kinds") or []), turns, raw.get("note") or ""))
    return out
