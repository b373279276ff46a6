"""The reply stage: the generator, the guardrails and the fallback, and the replies that are not answers.

    stage = ReplyStage(GeneratorConfig(), kb=load_knowledge_base())
    turns = stage.run(turns)          # turn.reply for every turn, by its route

Turns routed to ``answer`` get a generated reply (``grounded`` or ``seq2seq``) checked by the guardrails;
a seq2seq reply that fails them is replaced by the grounded one, and the checks that fired are kept.
The others get a clarification question (recording the topics it offered), the out-of-scope reply, a reply in
kind to small talk, the
hand-off reply (with the policy sentences that answer the message "in the meantime", ``nlg.handoff_answer``) or
the handed-off reply (:mod:`pipeline.reply.fallbacks`).
"""
from __future__ import annotations

from typing import Any

from knowledge_base.phrasing import Phrasing
from pipeline.reply.fallbacks import (
    clarification_reply,
    handed_off_reply,
    handoff_reply,
    no_policy_reply,
    offered_topics,
    out_of_scope_reply,
    smalltalk_reply,
)
from pipeline.reply.generators import GeneratorConfig, build_generator, build_guardrails, grounded_generator
from pipeline.reply.guardrails import allowed_values, apply_guardrails
from pipeline.types import Reply, Snippet, Turn


class ReplyStage:
    """Component: ``run(turns) -> turns`` fills ``turn.reply``."""

    name = "nlg"

    def __init__(self, config: GeneratorConfig | None = None, *, kb: Any = None, generator: Any = None,
                 progress: bool = False) -> None:
        self.config = config or GeneratorConfig()
        self.kb = kb  # a KnowledgeBase (or a callable returning one): the contact snippet of the fallback replies
        self.generator = generator
        self.progress = progress
        self.grounded = grounded_generator(self.config)
        self.guardrails = build_guardrails(self.config)
        self.contact: list[Snippet] | None = None
        self.phrasing = Phrasing()

    def warm_up(self) -> None:
        if self.generator is None:
            self.generator = build_generator(self.config)
            if hasattr(self.generator, "progress"):
                self.generator.progress = self.progress
        self.generator.warm_up()
        if self.contact is None:
            kb = self.kb() if callable(self.kb) else self.kb
            by_intent = kb.by_intent() if kb is not None else {}
            self.contact = (by_intent.get("contact_human_agent") or by_intent.get("contact_customer_service") or [])[:1]
            self.phrasing = kb.phrasing if kb is not None else Phrasing()
            for generator in (self.generator, self.grounded):
                if hasattr(generator, "phrasing"):
                    generator.phrasing = self.phrasing

    def run(self, turns: list[Turn]) -> list[Turn]:
        self.warm_up()
        self._answer([t for t in turns if t.route == "answer"])
        for turn in turns:
            if turn.route != "answer":
                turn.reply = self.fallback_reply(turn)
        return turns

    def fallback_reply(self, turn: Turn) -> Reply:
        """The reply of a turn that is not answered from the policy."""
        pred, entities = turn.intent, turn.reply_entities()
        words = self.phrasing
        if turn.route == "clarify":
            note = f"intent confidence {pred.confidence:.2f} is under the out-of-scope threshold"
            return Reply(clarification_reply(pred, words, entities), "clarification", fallback="low_confidence", notes=[note],
                         offered=offered_topics(pred, words))
        if turn.route == "out_of_scope":
            note = f"intent confidence {pred.confidence:.2f} is under the out-of-scope threshold" if pred else "no intent"
            return Reply(out_of_scope_reply(self.contact, words), "out_of_scope", fallback="out_of_scope", notes=[note])
        if turn.route == "smalltalk":
            from pipeline.nlu.smalltalk import social_kind

            kind = social_kind(turn.text) or "ack"
            return Reply(smalltalk_reply(kind, words), "smalltalk", fallback="smalltalk", notes=[f"small talk: {kind}"])
        if turn.route == "no_policy":
            note = f"the knowledge base has no snippet for the intent {pred.label!r}"
            return Reply(no_policy_reply(pred.label, self.contact, words), "no_policy", fallback="no_policy", notes=[note])
        if turn.route == "handoff":
            own = pred is not None and pred.in_scope and pred.label != "contact_human_agent"
            topic = pred.label if own else turn.context.previous_intent
            upset = turn.tone is not None and turn.tone.sentiment == "negative"
            text = (words.apology() + " " if upset else "") + handoff_reply(topic, words, entities)
            meanwhile, notes = self._meanwhile(turn, entities) if self.config.handoff_answer else ("", [])
            return Reply(text + meanwhile, "handoff", fallback="handoff_request", notes=notes)
        return Reply(handed_off_reply(), "handed_off", fallback="handed_off")

    def _meanwhile(self, turn: Turn, entities: list) -> tuple[str, list[str]]:
        """The hand-off's 'In the meantime: <the policy sentences that answer the message>', when they pass the guardrails."""
        from pipeline.reply.selection import select_sentences
        from pipeline.sentences import second_person

        cfg = self.config
        chosen = select_sentences(turn.query, turn.snippets[: cfg.max_snippets], max_sentences=2,
                                  keep_margin=cfg.keep_margin, second_threshold=cfg.second_threshold, max_words=50)
        if not chosen:
            return "", []
        text = " In the meantime: " + " ".join(second_person(s.text) for s in chosen)
        result = self.guardrails.check(text, allowed_values(entities), turn.snippets)
        if not result.passed:
            return "", [f"policy sentences left out of the hand-off: {'; '.join(result.details)}"]
        return text, [f"in the meantime {s.snippet_id}#{s.index}: {s.score:.2f} ({s.why})" for s in chosen]

    def _answer(self, turns: list[Turn]) -> None:
        if not turns:
            return
        messages = [t.query for t in turns]
        intents = [t.intent for t in turns]
        snippets = [t.snippets for t in turns]
        entities = [t.reply_entities() for t in turns]
        concerns = [[(c.intent.label, c.snippets, c.text) for c in t.concerns] for t in turns]
        own = self.generator.name == "grounded"
        generated = self.generator.run(messages, intents, snippets, entities, concerns) if own else \
            self.generator.run(messages, intents, snippets, entities)
        grounded = generated if own else self.grounded.run(messages, intents, snippets, entities, concerns)
        snippets = [[*t.snippets, *(s for c in t.concerns for s in c.snippets[:1])] for t in turns]  # what the reply may quote
        # a reply may state the snippets' numbers and the reference numbers the customer gave (now or earlier)
        allowed = [allowed_values(ents) for ents in entities]
        checked = apply_guardrails(generated["replies"], grounded["replies"], allowed, snippets, self.guardrails)
        for j, turn in enumerate(turns):
            if turn.tone is not None and turn.tone.sentiment == "negative" and self.config.style == "answer_first":
                checked["replies"][j] = f"{self.phrasing.apology()} {checked['replies'][j]}"  # acknowledge the problem first
            fell_back = checked["fallback"][j] and not own
            turn.reply = Reply(checked["replies"][j], "grounded" if fell_back else self.generator.name,
                               checks=list(checked["results"][j].fired), fallback="guardrails" if fell_back else None,
                               notes=list(generated.get("notes", [[]] * len(turns))[j]))
