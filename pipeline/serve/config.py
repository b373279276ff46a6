"""Settings of ``python -m pipeline.serve`` (the ``serve`` section of a respond config; flags override them)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import StageConfig
from pipeline.errors import check_param


@dataclass
class ServeConfig(StageConfig):
    host: str = field(default="127.0.0.1", metadata={"help": "Interface to listen on (0.0.0.0 for every interface)."})
    port: int = field(default=8000, metadata={"help": "TCP port."})
    db: str | None = field(default=None, metadata={"help": "SQLite conversation store (None: conversations.sqlite3 in the user cache)."})
    token: str | None = field(default=None, metadata={"help": "Bearer token every /v1 route requires (None: $SUPPORT_API_TOKEN, else none); never written out."})
    workers: int = field(default=2, metadata={"help": "Pipeline threads answering batches side by side (torch threads each: cores / workers)."})
    max_batch: int = field(default=32, metadata={"help": "Most messages answered in one pipeline call (1 = one at a time)."})
    max_wait_ms: float = field(default=20.0, metadata={"help": "How long the first waiting message waits for others to join its batch."})
    max_body_bytes: int = field(default=65536, metadata={"help": "Request bodies over this size get 413."})
    max_batch_messages: int = field(default=256, metadata={"help": "Most messages in one POST /v1/respond."})
    cors_origins: list[str] = field(default_factory=list, metadata={"help": "Origins allowed by CORS (empty: CORS off)."})

    def bearer_token(self) -> str | None:
        return self.token or os.environ.get("SUPPORT_API_TOKEN") or None

    def to_dict(self) -> dict:
        data = super().to_dict()
        data["token"] = "(set)" if self.token else None  # a secret never goes into a resolved config file
        return data

    def validate(self) -> None:
        check_param("ServeConfig", "port", self.port, 0 <= self.port <= 65535, "an int in [0, 65535]")
        for name in ("workers", "max_batch", "max_body_bytes", "max_batch_messages"):
            check_param("ServeConfig", name, getattr(self, name), getattr(self, name) >= 1, "an int >= 1")
        check_param("ServeConfig", "max_wait_ms", self.max_wait_ms, 0 <= self.max_wait_ms <= 1000, "a float in [0, 1000]")

    def db_path(self) -> Path:
        from pipeline.utils import cache_root

        return Path(self.db).expanduser() if self.db else cache_root() / "conversations.sqlite3"
