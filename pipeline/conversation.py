"""Conversation state across turns, the store interface, and the in-memory store.

    store = InMemoryStore()
    conv = store.create()
    turn = assistant.respond(conv, "my order is 4471-22")      # puts context in, runs the stages, takes state back
    store.save(conv)

A :class:`Conversation` holds its id, its turns, the entities it remembers (each with the turn it came from),
a pending clarification question (the topics it offered), a status (``active``, ``handed_off``, ``closed``)
and its last activity time. The rules, applied by :meth:`Conversation.context` before a turn and
:meth:`Conversation.absorb` after it:

- an entity fills later replies until the customer gives a new one of that type (only order and invoice
  numbers are restated in replies; emails, amounts and phones are remembered but never restated);
- after a clarification question the next message is first read as its answer (by the NLU stage);
- the previous turn is the context of a short follow-up;
- a hand-off sets ``handed_off`` until :meth:`reopen`;
- idle longer than ``idle_minutes``: the remembered entities and the pending question are dropped.

It serialises to versioned JSON (:meth:`to_json` / :meth:`from_json`); a store keeps conversations by id.
"""
from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline.config import StageConfig
from pipeline.errors import DataError, PipelineError, check_param
from pipeline.types import STATUSES, Entity, Offer, Turn, TurnContext, from_dict, to_dict

FORMAT_VERSION = 1


class ConversationNotFound(PipelineError, KeyError):
    """No conversation with that id (a 404 in the HTTP API)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass
class ConversationConfig(StageConfig):
    idle_minutes: float = field(default=30.0, metadata={"help": "A conversation idle this long starts afresh (entities and a pending question dropped)."})
    max_stored_turns: int = field(default=500, metadata={"help": "Turns kept in a stored conversation (older ones are dropped)."})

    def validate(self) -> None:
        check_param("ConversationConfig", "idle_minutes", self.idle_minutes, self.idle_minutes > 0, "a float > 0")
        check_param("ConversationConfig", "max_stored_turns", self.max_stored_turns, self.max_stored_turns >= 1, "an int >= 1")


def new_id() -> str:
    return uuid.uuid4().hex


CONTEXT_WORDS = 60


def _tail(text: str, words: int = CONTEXT_WORDS) -> str:
    """The last ``words`` words: the context a follow-up is read with does not grow turn after turn."""
    parts = text.split()
    return text if len(parts) <= words else " ".join(parts[-words:])


@dataclass
class Conversation:
    id: str = field(default_factory=new_id)
    turns: list[Turn] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    pending: list[Offer] = field(default_factory=list)
    pending_text: str | None = None
    status: str = "active"
    created: float = field(default_factory=time.time)
    last_activity: float | None = None
    turn_count: int = 0  # turns ever answered (turns may be trimmed to max_stored_turns)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise DataError(f"Conversation status must be one of {', '.join(STATUSES)}. Got {self.status!r}.")

    def idle(self, now: float, config: ConversationConfig) -> bool:
        return self.last_activity is not None and now - self.last_activity > config.idle_minutes * 60.0

    def context(self, now: float | None = None, config: ConversationConfig | None = None) -> TurnContext:
        """What the next turn starts from (state dropped when the conversation has been idle too long)."""
        now, config = time.time() if now is None else now, config or ConversationConfig()
        expired = self.idle(now, config)
        # the last turn that was about something: "thanks" between a question and its follow-up changes no topic
        last = None if expired else next((t for t in reversed(self.turns) if t.route != "smalltalk"), None)
        return TurnContext(
            conversation_id=self.id, number=self.turn_count + 1, status=self.status,
            entities=[] if expired else [dataclasses.replace(e) for e in self.entities],
            pending=[] if expired else list(self.pending), pending_text=None if expired else self.pending_text,
            previous_intent=last.intent.label if last is not None and last.intent is not None else None,
            previous_text=_tail(last.query) if last is not None else None, expired=expired)

    def absorb(self, turn: Turn, now: float | None = None, config: ConversationConfig | None = None) -> None:
        """Take the state back from an answered turn (its context came from :meth:`context`)."""
        now, config = time.time() if now is None else now, config or ConversationConfig()
        if turn.context.expired:
            self.entities, self.pending, self.pending_text = [], [], None
            turn.notes.append("the conversation was idle too long: remembered entities and any pending question were dropped")
        self.turn_count += 1
        for ent in turn.entities:
            self.entities = [e for e in self.entities if e.type != ent.type] + [dataclasses.replace(ent, turn=self.turn_count)]
        offered = turn.reply.offered if turn.reply is not None else []
        self.pending, self.pending_text = (list(offered), turn.query) if offered else ([], None)
        self.status = turn.status
        self.last_activity = now
        self.turns = [*self.turns, turn][-config.max_stored_turns:]

    def handoff(self) -> None:
        self.status = "handed_off"
        self.pending, self.pending_text = [], None

    def reopen(self) -> None:
        self.status = "active"

    def to_dict(self) -> dict[str, Any]:
        return {"version": FORMAT_VERSION, **to_dict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the turns (a store may keep those apart, one row each)."""
        return {k: v for k, v in self.to_dict().items() if k != "turns"}

    @classmethod
    def from_dict(cls, data: Any, source: str = "conversation") -> "Conversation":
        if not isinstance(data, dict):
            raise DataError(f"{source} is not a stored conversation (a JSON object). Delete it or restore a backup.")
        version = data.get("version")
        if version != FORMAT_VERSION:
            newer = isinstance(version, int) and version > FORMAT_VERSION
            raise DataError(f"{source} has format version {version!r}; this version reads {FORMAT_VERSION}. "
                            + ("Upgrade support-assistant to read it." if newer else "Delete it or restore a backup."))
        try:
            return from_dict(cls, {k: v for k, v in data.items() if k != "version"})
        except (TypeError, ValueError, KeyError) as exc:
            raise DataError(f"{source} is corrupt ({exc}). Delete it or restore a backup.") from None

    @classmethod
    def from_json(cls, text: str, source: str = "conversation") -> "Conversation":
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, TypeError) as exc:
            raise DataError(f"{source} is not valid JSON ({exc}). Delete it or restore a backup.") from None
        return cls.from_dict(data, source)


class ConversationStore(Protocol):
    """Where conversations live between turns. ``save`` returns only once the conversation is stored.

    Four methods, so that another store (Postgres, Redis) is one small class: see :mod:`pipeline.serve.store`.
    """

    def create(self) -> Conversation: ...

    def get(self, conversation_id: str) -> Conversation: ...  # ConversationNotFound when unknown

    def save(self, conversation: Conversation) -> None: ...

    def save_many(self, conversations: list[Conversation]) -> None: ...  # one transaction where the store has them


class InMemoryStore:
    """A store in a dict (tests, the chat shell); conversations are copied in and out like a real store."""

    def __init__(self) -> None:
        self._data: dict[str, str] = {}
        self._lock = threading.Lock()

    def create(self) -> Conversation:
        conv = Conversation()
        self.save(conv)
        return conv

    def get(self, conversation_id: str) -> Conversation:
        with self._lock:
            text = self._data.get(conversation_id)
        if text is None:
            raise ConversationNotFound(f"No conversation {conversation_id!r}. Start one with POST /v1/conversations "
                                       "(or store.create()).")
        return Conversation.from_json(text, f"conversation {conversation_id!r}")

    def save(self, conversation: Conversation) -> None:
        with self._lock:
            self._data[conversation.id] = conversation.to_json()

    def save_many(self, conversations: list[Conversation]) -> None:
        for conv in conversations:
            self.save(conv)

    def __len__(self) -> int:
        return len(self._data)
