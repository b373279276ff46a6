"""The SQLite conversation store: one file, WAL mode, a versioned schema, a commit before every answer.

    store = SQLiteStore("~/.cache/support-assistant/conversations.sqlite3")
    conv = store.create(); ...; store.save_many([conv])     # one transaction for a batch of answered turns

Tables: ``meta`` (the schema version), ``conversations`` (one row per conversation: its state without the
turns, as JSON) and ``turns`` (one row per turn, as JSON). A save writes the conversation row and the turns
not stored yet, in one transaction, so a turn is on disk before its reply is returned; ``kill -9`` loses at
most the turns whose replies were not yet sent. The server is the store's only writer, so the last
``cache_size`` conversations are also kept in memory and not read back from disk for each message. Another store (Postgres, Redis) implements the same three
methods of :class:`~pipeline.conversation.ConversationStore` plus ``save_many``.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Iterable

from pipeline.conversation import Conversation, ConversationNotFound
from pipeline.errors import DataError
from pipeline.types import to_dict

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS conversations (id TEXT PRIMARY KEY, status TEXT NOT NULL, updated REAL, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS turns (conversation_id TEXT NOT NULL, number INTEGER NOT NULL, turn TEXT NOT NULL,
                                  PRIMARY KEY (conversation_id, number));
"""


class SQLiteStore:
    """:class:`~pipeline.conversation.ConversationStore` in one SQLite file (safe across threads of one process)."""

    def __init__(self, path: str | Path, *, max_turns: int = 500, cache_size: int = 10_000) -> None:
        self.path = Path(path).expanduser()
        self.max_turns = max_turns
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Conversation] = OrderedDict()
        self._lock = threading.Lock()
        if self.path.exists() and not self.path.is_file():
            raise DataError(f"The --db path {str(self.path)!r} is not a file. Pass a file path for the SQLite store.")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across process crashes, fast commits
            self._db.executescript(_SCHEMA)
            self._check_version()
        except sqlite3.DatabaseError as exc:
            raise DataError(f"{str(self.path)!r} is not a readable SQLite store ({exc}). Pass another --db path "
                            "or move the file away.") from None

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) != SCHEMA_VERSION:
            newer = int(row[0]) > SCHEMA_VERSION
            raise DataError(f"The store {str(self.path)!r} has schema version {row[0]}; this version reads {SCHEMA_VERSION}. "
                            + ("Upgrade support-assistant to read it." if newer else "Pass another --db path."))

    def create(self) -> Conversation:
        conv = Conversation()
        self.save(conv)
        return conv

    def get(self, conversation_id: str) -> Conversation:
        with self._lock:
            if conversation_id in self._cache:
                self._cache.move_to_end(conversation_id)
                return self._cache[conversation_id]
            row = self._db.execute("SELECT state FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            turns = self._db.execute("SELECT turn FROM (SELECT number, turn FROM turns WHERE conversation_id = ? "
                                     "ORDER BY number DESC LIMIT ?) ORDER BY number", (conversation_id, self.max_turns)).fetchall()
        if row is None:
            raise ConversationNotFound(f"No conversation {conversation_id!r}. Start one with POST /v1/conversations.")
        source = f"conversation {conversation_id!r} in {self.path}"
        try:
            state = json.loads(row[0])
            state["turns"] = [json.loads(t) for (t,) in turns]
        except json.JSONDecodeError as exc:
            raise DataError(f"{source} is corrupt ({exc}).") from None
        conv = Conversation.from_dict(state, source)
        self._remember(conv)
        return conv

    def _remember(self, conv: Conversation) -> None:
        with self._lock:
            self._cache[conv.id] = conv
            self._cache.move_to_end(conv.id)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def save(self, conversation: Conversation) -> None:
        self.save_many([conversation])

    def save_many(self, conversations: Iterable[Conversation]) -> None:
        """Store each conversation's state and its new turns, all in one transaction."""
        conversations = list(conversations)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for conv in conversations:
                    self._write(conv)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                for conv in conversations:  # the memory copies are ahead of the disk now: read them back next time
                    self._cache.pop(conv.id, None)
                raise
        for conv in conversations:
            self._remember(conv)

    def _write(self, conv: Conversation) -> None:
        self._db.execute("INSERT INTO conversations VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET status = excluded.status, "
                         "updated = excluded.updated, state = excluded.state",
                         (conv.id, conv.status, conv.last_activity, json.dumps(conv.state_dict(), ensure_ascii=False)))
        (stored,) = self._db.execute("SELECT COALESCE(MAX(number), 0) FROM turns WHERE conversation_id = ?", (conv.id,)).fetchone()
        first = conv.turn_count - len(conv.turns) + 1  # the number of conv.turns[0]
        new = [(conv.id, first + i, json.dumps(to_dict(t), ensure_ascii=False)) for i, t in enumerate(conv.turns) if first + i > stored]
        self._db.executemany("INSERT INTO turns VALUES (?, ?, ?)", new)

    def count(self) -> tuple[int, int]:
        """(conversations, turns) stored."""
        with self._lock:
            return (self._db.execute("SELECT COUNT(*) FROM conversations").fetchone()[0],
                    self._db.execute("SELECT COUNT(*) FROM turns").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
