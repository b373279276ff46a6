"""Training targets a faithful generator can learn: Bitext reference replies cut down to what the guardrails pass.

    from training.faithful_targets import faithful_targets
    kept, counts = faithful_targets(examples)      # counts: {"unchanged": ..., "repaired": ..., "dropped": ...}
    python -m training.faithful_targets            # the counts on the Bitext splits

Bitext's replies state phone numbers, opening hours, addresses and promises that the knowledge-base snippets do
not make (the response-retrieval baseline, which answers with them, fails the guardrails on 57% of held-out
messages), and a model trained on them learns to make those claims. Each reference is checked against its own
snippets and the customer's reference numbers, with the answer-time checks (:class:`pipeline.reply.guardrails.Guardrails`):

- it passes: kept as it is (``unchanged``);
- it fails: its sentences are checked one at a time (all checks but length) and the failing ones dropped; when
  what is left passes the whole check, it is kept (``repaired``);
- otherwise the pair is dropped (``dropped``).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from pipeline.reply.guardrails import Guardrails, allowed_values
from pipeline.sentences import split_sentences
from training.generator_data import GenerationExample


def faithful_targets(examples: Sequence[GenerationExample], guardrails: Guardrails | None = None
                     ) -> tuple[list[GenerationExample], dict[str, int]]:
    """The examples whose reference passes (or, cut to its passing sentences, passes) the guardrails, and the counts."""
    whole = guardrails or Guardrails()
    per_sentence = Guardrails(min_words=0, max_words=whole.max_words, checks=[c for c in whole.checks if c != "length"])
    counts = {"unchanged": 0, "repaired": 0, "dropped": 0}
    kept: list[GenerationExample] = []
    for ex in examples:
        allowed = allowed_values(ex.entities)
        if whole.check(ex.reference, allowed, ex.snippets).passed:
            counts["unchanged"] += 1
            kept.append(ex)
            continue
        sentences = [s for s in split_sentences(ex.reference) if per_sentence.check(s, allowed, ex.snippets).passed]
        repaired = " ".join(sentences)
        if sentences and whole.check(repaired, allowed, ex.snippets).passed:
            counts["repaired"] += 1
            kept.append(replace(ex, reference=repaired))
        else:
            counts["dropped"] += 1
    return kept, counts



if __name__ == "__main__":  # python -m training.faithful_targets: the counts on the Bitext 4.5k splits
    from knowledge_base.loader import load_knowledge_base
    from training.generator_data import load_generation_splits

    for split, pairs in load_generation_splits(splits=("train", "validation"), kb=load_knowledge_base(None)).items():
        print(split, len(pairs), faithful_targets(pairs)[1])
