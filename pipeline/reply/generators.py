"""Reply generation: the ``grounded`` realizer (offline default) or any Hugging Face seq2seq model.

    python -c "from pipeline.reply.generators import *; from pipeline.types import *; g = build_generator(GeneratorConfig()); \\
        print(g.run(['refund for order 12345'], [IntentPrediction('get_refund', 0.9)], \\
        [[Snippet('s', ['get_refund'], 'Refunds', 'Refunds take 5 days.')]])['replies'][0])"

``build_generator(config)`` returns a component with ``warm_up()`` and
``run(messages, intents, snippets, entities=None) -> {"replies", "notes"}``:

- :class:`~pipeline.reply.grounded.GroundedGenerator` (``generator: grounded``)
  composes the reply from an intent-aware opening, the retrieved snippets and
  the values found in the message; no model, deterministic.
- :class:`Seq2SeqGenerator` (``generator: seq2seq``) renders
  ``prompt_template`` (fields ``{message} {intent} {snippets} {slots}``), cuts it
  to ``max_input_tokens`` keeping the policy text (:mod:`pipeline.reply.prompts`) and
  decodes greedily (``num_beams: 1``) or with beam search. The checkpoint is a
  Hub id or a local folder, loaded offline-first: when it is not available,
  ``warm_up`` fails at once with one line naming how to supply it.

Generated replies are then checked by :mod:`pipeline.reply.guardrails`; a reply that
fails falls back to the grounded reply (see ``apply_guardrails``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline.batching import length_sorted_batches, tokenize
from pipeline.config import StageConfig
from pipeline.errors import ConfigError, ModelLoadError, NotFittedError, check_param
from pipeline.reply.grounded import GroundedGenerator
from pipeline.reply.guardrails import CHECKS, Guardrails
from pipeline.hub import load_pretrained, resolve_model
from pipeline.reply.prompts import DEFAULT_PROMPT_TEMPLATE, check_template, fit_prompt
from pipeline.reply.selection import KEEP_MARGIN, SECOND_THRESHOLD
from pipeline.types import Entity, IntentPrediction, Snippet

logger = logging.getLogger(__name__)

__all__ = ["GENERATORS", "GeneratorConfig", "Generator", "build_generator", "build_guardrails", "GroundedGenerator", "Seq2SeqGenerator"]

GENERATORS = ("grounded", "seq2seq")


@dataclass
class GeneratorConfig(StageConfig):
    generator: str = field(default="grounded", metadata={"help": "Reply generator: grounded (no model, offline default) or seq2seq."})
    model: str = field(default="google/flan-t5-base", metadata={"help": "Seq2seq checkpoint: Hub id or local folder (e.g. one written by training.finetune_generator)."})
    prompt_template: str = field(default=DEFAULT_PROMPT_TEMPLATE, metadata={"help": "Seq2seq prompt with the fields {message} {intent} {snippets} {slots}."})
    num_beams: int = field(default=1, metadata={"help": "1 = greedy decoding, more = beam search."})
    max_new_tokens: int = field(default=160, metadata={"help": "Most tokens a seq2seq reply may have."})
    max_input_tokens: int = field(default=512, metadata={"help": "Prompt budget; longer prompts are cut keeping the policy text."})
    no_repeat_ngram_size: int = field(default=3, metadata={"help": "Block repeated n-grams in seq2seq output (0 = off)."})
    batch_size: int = field(default=8, metadata={"help": "Messages per seq2seq generate() call."})
    device: str = field(default="auto", metadata={"help": "Torch device for seq2seq: auto, cpu or cuda."})
    max_snippets: int = field(default=2, metadata={"help": "Top snippets used in a reply or prompt."})
    max_sentences: int = field(default=6, metadata={"help": "Most policy sentences in a full grounded reply."})
    style: str = field(default="answer_first", metadata={"help": "Grounded reply: answer_first (the sentences that answer, the direct answer first) or full (the top snippets whole)."})
    reply_sentences: int = field(default=3, metadata={"help": "answer_first: most sentences of the best snippet."})
    reply_words: int = field(default=90, metadata={"help": "answer_first: most words of policy text (before the closing)."})
    keep_margin: float = field(default=KEEP_MARGIN, metadata={"help": "answer_first: a sentence of the best snippet joins when it scores within this of the best."})
    second_threshold: float = field(default=SECOND_THRESHOLD, metadata={"help": "answer_first: a sentence of another snippet joins above this score (chosen on retrieval_dev.yaml)."})
    handoff_answer: bool = field(default=True, metadata={"help": "A hand-off reply also quotes the policy sentences that answer the message (in the meantime)."})
    min_words: int = field(default=8, metadata={"help": "Guardrails: fewest words in a reply."})
    max_words: int = field(default=250, metadata={"help": "Guardrails: most words in a reply."})
    guardrail_checks: list[str] = field(default_factory=lambda: list(CHECKS), metadata={"help": "Guardrail checks to run (length, numbers, values, placeholders, promises)."})

    def validate(self) -> None:
        owner = "GeneratorConfig"
        check_param(owner, "generator", self.generator, self.generator in GENERATORS, "one of " + ", ".join(map(repr, GENERATORS)))
        for name, low in (("num_beams", 1), ("max_new_tokens", 1), ("max_input_tokens", 16), ("batch_size", 1),
                          ("max_snippets", 1), ("max_sentences", 1), ("no_repeat_ngram_size", 0), ("min_words", 0)):
            value = getattr(self, name)
            check_param(owner, name, value, value >= low, f"an int >= {low}")
        check_param(owner, "max_words", self.max_words, self.max_words >= max(1, self.min_words), f"an int >= min_words ({self.min_words})")
        check_param(owner, "style", self.style, self.style in ("answer_first", "full"), "one of 'answer_first', 'full'")
        for name in ("reply_sentences", "reply_words"):
            check_param(owner, name, getattr(self, name), getattr(self, name) >= 1, "an int >= 1")
        check_param(owner, "device", self.device, self.device in ("auto", "cpu") or self.device.startswith("cuda"), "'auto', 'cpu' or 'cuda[:N]'")
        bad = [c for c in self.guardrail_checks if c not in CHECKS]
        check_param(owner, "guardrail_checks", self.guardrail_checks, not bad, "a list drawn from " + ", ".join(CHECKS))
        check_template(self.prompt_template, owner)


class Generator(Protocol):
    name: str

    def warm_up(self) -> None: ...

    def run(self, messages: list[str], intents: list[IntentPrediction], snippets: list[list[Snippet]],
            entities: list[list[Entity]] | None = None) -> dict[str, Any]: ...


def build_generator(config: GeneratorConfig) -> Generator:
    """The generator named by ``config.generator`` (not yet warmed up)."""
    if config.generator == "grounded":
        return grounded_generator(config)
    if config.generator == "seq2seq":
        return Seq2SeqGenerator(config)
    raise ConfigError(f"The 'generator' parameter of GeneratorConfig must be one of {', '.join(map(repr, GENERATORS))}. "
                      f"Got {config.generator!r}.")


def grounded_generator(config: GeneratorConfig) -> GroundedGenerator:
    """The grounded realizer with the config's style and selection settings (also the fallback of seq2seq)."""
    from pipeline.reply.answer_first import SelectionSettings

    selection = SelectionSettings(max_snippets=config.max_snippets, max_sentences=config.reply_sentences,
                                  keep_margin=config.keep_margin, second_threshold=config.second_threshold,
                                  max_words=config.reply_words)
    return GroundedGenerator(max_snippets=config.max_snippets, max_sentences=config.max_sentences, style=config.style,
                             selection=selection)


def build_guardrails(config: GeneratorConfig) -> Guardrails:
    return Guardrails(min_words=config.min_words, max_words=config.max_words, checks=config.guardrail_checks)


class Seq2SeqGenerator:
    """Any Hugging Face encoder-decoder (FLAN-T5, T5, BART, ...) as a reply generator."""

    name = "seq2seq"

    def __init__(self, config: GeneratorConfig | None = None, *, progress: bool = False) -> None:
        self.config = config or GeneratorConfig(generator="seq2seq")
        self.progress = progress  # a bar over the replies of generate() (long batch runs)
        self.template = self.config.prompt_template
        self.model: Any = None
        self.tokenizer: Any = None
        self.device = "cpu"

    def _hint(self) -> str:
        return (f"Supply the seq2seq generator as a local folder (model: PATH, e.g. one written by "
                f"python -m training.finetune_generator), pre-download {self.config.model!r} into the Hugging Face cache on "
                "a machine with internet, or set 'generator: grounded' to reply without a model.")

    def warm_up(self) -> None:
        if self.model is not None:
            return
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        from pipeline.utils import set_torch_threads

        try:
            ref = resolve_model(self.config.model, what="seq2seq generator")
        except ModelLoadError as exc:
            raise ModelLoadError(f"{str(exc).rstrip('.')}. {self._hint()}") from None
        tokenizer = load_pretrained(AutoTokenizer.from_pretrained, ref, what="seq2seq generator tokenizer", hint=self._hint())
        model = load_pretrained(AutoModelForSeq2SeqLM.from_pretrained, ref, what="seq2seq generator", hint=self._hint())
        if self.config.device == "auto":
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        else:
            self.device = self.config.device
        if self.device == "cpu":
            set_torch_threads()
        self.template = self._trained_template(ref.source if ref.local else None)
        self.tokenizer, self.model = tokenizer, model.to(self.device).eval()
        logger.info("Loaded seq2seq generator %s on %s", ref.name, self.device)

    def _trained_template(self, folder: str | None) -> str:
        """A model folder's own prompt (its resolved config, see :func:`pipeline.artifacts.read_resolved_config`)
        wins over the unchanged default."""
        if folder is None or self.config.prompt_template != DEFAULT_PROMPT_TEMPLATE:
            return self.config.prompt_template
        from pipeline.artifacts import read_resolved_config, resolved_config_path

        template = read_resolved_config(folder).get("prompt_template")
        if isinstance(template, str) and template != self.config.prompt_template:
            check_template(template, f"{resolved_config_path(folder).name} in {folder}")
            logger.info("Using the prompt template stored with the model in %s", folder)
            return template
        return self.config.prompt_template

    def _count_tokens(self, text: str) -> int:
        return len(tokenize(self.tokenizer, text, add_special_tokens=True)["input_ids"])

    def prompts(self, messages: list[str], intents: list[IntentPrediction], snippets: list[list[Snippet]],
                entities: list[list[Entity]] | None = None) -> tuple[list[str], list[list[str]]]:
        """The fitted prompt and truncation notes of every message."""
        if self.tokenizer is None:
            raise NotFittedError("Seq2SeqGenerator is not warmed up: call warm_up() before run().")
        from pipeline.nlu.entities import extract_entities

        prompts, notes = [], []
        for i, (message, pred, snips) in enumerate(zip(messages, intents, snippets)):
            ents = entities[i] if entities is not None else extract_entities(message)
            prompt, note = fit_prompt(self.template, message, pred.label, snips[: self.config.max_snippets], ents,
                                      self.config.max_input_tokens, self._count_tokens)
            prompts.append(prompt)
            notes.append(note)
        return prompts, notes

    def run(self, messages: list[str], intents: list[IntentPrediction], snippets: list[list[Snippet]],
            entities: list[list[Entity]] | None = None) -> dict[str, list]:
        if not len(messages) == len(intents) == len(snippets):
            raise ValueError(f"Seq2SeqGenerator.run needs one intent and one snippet list per message. "
                             f"Got {len(messages)} messages, {len(intents)} intents, {len(snippets)} snippet lists.")
        self.warm_up()
        prompts, notes = self.prompts(messages, intents, snippets, entities)
        return {"replies": self.generate(prompts), "notes": notes}

    def generate(self, prompts: list[str]) -> list[str]:
        """Decode a reply for each already-rendered prompt, in batches, longest first."""
        import torch
        from tqdm.auto import tqdm

        from pipeline.reply.surface import is_uncased, restore_surface

        self.warm_up()
        cfg = self.config
        out: list[str] = [""] * len(prompts)
        bar = tqdm(total=len(prompts), desc="generating", unit="reply", disable=not self.progress, dynamic_ncols=True)
        uncased = is_uncased(self.tokenizer)
        for idx in length_sorted_batches([len(p) for p in prompts], cfg.batch_size, shuffle=False):
            idx = [int(i) for i in idx]
            enc = tokenize(self.tokenizer, [prompts[i] for i in idx], return_tensors="pt", padding=True, truncation=True,
                                 max_length=cfg.max_input_tokens).to(self.device)
            kwargs: dict[str, Any] = {"num_beams": cfg.num_beams, "max_new_tokens": cfg.max_new_tokens, "do_sample": False}
            if cfg.no_repeat_ngram_size:
                kwargs["no_repeat_ngram_size"] = cfg.no_repeat_ngram_size
            if cfg.num_beams > 1:
                kwargs["early_stopping"] = True
            with torch.inference_mode():
                ids = self.model.generate(**enc, **kwargs)
            for i, text in zip(idx, self.tokenizer.batch_decode(ids, skip_special_tokens=True)):
                # an uncased decoder (warm-started from MiniLM/BERT) writes "call 1 - 800 ...": cased and spaced from the prompt
                out[i] = restore_surface(text, prompts[i]) if uncased else " ".join(text.split())
            bar.update(len(idx))
        bar.close()
        return out
