"""The retrieval stage: policy snippets for every turn the policy stage routes to an answer, or hands off with an
in-scope intent (the hand-off reply quotes what answers the message in the meantime).

    stage = RetrievalStage(RetrieverConfig())
    turns = stage.run(turns)        # turn.snippets, ranked by intent + cosine (see pipeline.retrieval.retriever)

It reads ``turn.query`` (the message, or the message with its context) and ``turn.intent``, and ranks the
snippets of each second concern (``turn.concerns``) by its own text and intent, in the same call.
"""
from __future__ import annotations

from typing import Any

from pipeline.retrieval.retriever import Retriever, RetrieverConfig
from pipeline.types import Turn


class RetrievalStage:
    """Component: ``run(turns) -> turns`` fills ``turn.snippets`` (and notes on fallbacks)."""

    name = "retrieval"

    def __init__(self, config: RetrieverConfig | None = None, *, kb: Any = None, retriever: Retriever | None = None) -> None:
        self.config = config or RetrieverConfig()
        self.retriever = retriever or Retriever(kb=kb, config=self.config)

    @property
    def kb(self) -> Any:
        self.retriever.warm_up()
        return self.retriever.kb

    def warm_up(self) -> None:
        self.retriever.warm_up()

    def run(self, turns: list[Turn]) -> list[Turn]:
        todo = [t for t in turns if t.route == "answer" or (t.route == "handoff" and t.intent is not None and t.intent.in_scope)]
        concerns = [c for t in todo for c in t.concerns]
        if not todo:
            return turns
        found = self.retriever.run([t.query for t in todo] + [c.text for c in concerns],
                                   intents=[t.intent for t in todo] + [c.intent for c in concerns])
        for turn, snippets, notes in zip(todo, found["snippets"], found["notes"]):
            turn.snippets = snippets
            turn.notes.extend(notes)
        for concern, snippets in zip(concerns, found["snippets"][len(todo):]):
            concern.snippets = snippets
        return turns
