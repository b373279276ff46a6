"""Request and response bodies of the HTTP API, as dataclasses (FastAPI derives the pydantic models from them).

A message's answer (:class:`MessageOut`) is a view of the :class:`~pipeline.types.Turn`; ``?trace=true`` returns
the Turn itself, and ``GET /v1/conversations/{id}`` the :class:`~pipeline.conversation.Conversation`, so the records
are declared once, in :mod:`pipeline.types` and :mod:`pipeline.conversation`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.types import Entity, Turn


@dataclass
class MessageIn:
    text: str


@dataclass
class RespondIn:
    messages: list[str]


@dataclass
class ConversationCreated:
    conversation_id: str


@dataclass
class SnippetRef:
    id: str
    title: str


@dataclass
class MessageOut:
    conversation_id: str | None
    turn: int
    reply: str
    intent: str | None
    confidence: float | None
    entities: list[Entity] = field(default_factory=list)
    snippets: list[SnippetRef] = field(default_factory=list)
    fallback: str | None = None
    route: str = "answer"
    status: str = "active"

    @classmethod
    def of(cls, turn: Turn) -> "MessageOut":
        pred = turn.intent
        return cls(conversation_id=turn.context.conversation_id, turn=turn.context.number,
                   reply=turn.reply.text if turn.reply else "", intent=pred.label if pred else None,
                   confidence=round(pred.confidence, 4) if pred else None, entities=list(turn.entities),
                   snippets=[SnippetRef(s.id, s.title) for s in turn.snippets],
                   fallback=turn.reply.fallback if turn.reply else None, route=turn.route, status=turn.status)


@dataclass
class RespondOut:
    replies: list[MessageOut]


@dataclass
class StatusOut:
    conversation_id: str
    status: str


@dataclass
class ErrorBody:
    code: str
    message: str


@dataclass
class ErrorOut:
    error: ErrorBody
