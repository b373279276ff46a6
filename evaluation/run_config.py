"""The settings of a batch run (``python -m evaluation.run``): :class:`EvalRunConfig` and how flags resolve it.

Its own module so that the run's helpers (sharding, Ray workers, merging) read it without importing the CLI.
"""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation.run_data import REFERENCE_SOURCES
from pipeline.config import StageConfig
from pipeline.errors import check_param

SECTION_KEYS = ("nlu", "retrieval", "nlg")
ENGINES = ("local", "ray")
DATA_KEYS = ("data", "split", "references", "limit", "seed")


@dataclass
class EvalRunConfig(StageConfig):
    """Settings of one evaluation run."""

    name: str = field(default="", metadata={"help": "Run name used in the folder name (default: the config file's stem)."})
    data: str = field(default="bitext", metadata={"help": "Preset, data file/folder, 'retrieval-set' or a JSONL of examples."})
    split: str = field(default="test", metadata={"help": "Split of a preset or data file: test, validation or train."})
    references: str = field(default="none", metadata={"help": "Reference replies for ROUGE-L: none | bitext-4.5k."})
    respond: str | None = field(default=None, metadata={"help": "Pipeline config YAML (configs/respond/...); None: defaults."})
    nlu: dict = field(default_factory=dict, metadata={"help": "Inline NLU settings over the respond config (e.g. model)."})
    retrieval: dict = field(default_factory=dict, metadata={"help": "Inline retrieval settings over the respond config."})
    nlg: dict = field(default_factory=dict, metadata={"help": "Inline NLG settings over the respond config."})
    nlu_only: bool = field(default=False, metadata={"help": "Run only the intent classifier (intents not in the knowledge base)."})
    batch_size: int = field(default=128, metadata={"help": "Messages per pipeline call (and per predictions.jsonl flush)."})
    seed: int = field(default=42, metadata={"help": "Seed of the --limit subset and of random, numpy and torch."})
    limit: int | None = field(default=None, metadata={"help": "Evaluate a seeded random subset of N messages."})
    n_bins: int = field(default=15, metadata={"help": "Confidence bins for ECE and the reliability diagram."})
    progress: bool | None = field(default=None, metadata={"help": "Show a progress bar (default: when stderr is a terminal)."})

    def validate(self) -> None:
        name = "EvalRunConfig"
        check_param(name, "data", self.data, bool(self.data), "a preset, a file or 'retrieval-set'")
        check_param(name, "split", self.split, self.split in ("test", "validation", "train"), "one of test, validation, train")
        check_param(name, "references", self.references, self.references in REFERENCE_SOURCES,
                    f"one of {', '.join(REFERENCE_SOURCES)}")
        check_param(name, "batch_size", self.batch_size, self.batch_size >= 1, "an int >= 1")
        check_param(name, "limit", self.limit, self.limit is None or self.limit >= 1, "an int >= 1 or unset")
        check_param(name, "n_bins", self.n_bins, 1 <= self.n_bins <= 100, "an int in [1, 100]")
        check_param(name, "name", self.name, not self.name or re.fullmatch(r"[\w.+-]+", self.name) is not None
                    and self.name.strip(".") != "", "letters, digits, '.', '+', '-' or '_' (it names the run folder)")
        for section in SECTION_KEYS:
            value = getattr(self, section)
            check_param(name, section, value, isinstance(value, dict), f"a mapping of {section} settings")

    def respond_config(self) -> Any:
        from pipeline.assistant import load_respond_config

        return load_respond_config(self.respond, {s: getattr(self, s) for s in SECTION_KEYS})


def resolve_config(path: str | None, args: argparse.Namespace | dict | None = None) -> EvalRunConfig:
    """Defaults < YAML < flags; ``--intent-model`` sets ``nlu.model``, ``--slot-model`` ``nlu.slot_model``,
    ``--keep-pii`` ``nlu.keep_pii``; the name defaults to the file stem."""
    given = dict(vars(args) if isinstance(args, argparse.Namespace) else (args or {}))
    config = EvalRunConfig.resolve(path, given)
    if given.get("intent_model"):
        config.nlu = {**config.nlu, "model": given["intent_model"]}
    if given.get("slot_model"):
        config.nlu = {**config.nlu, "slot_model": given["slot_model"]}
    if given.get("kb"):
        config.retrieval = {**config.retrieval, "kb_path": given["kb"]}
    if given.get("keep_pii"):
        config.nlu = {**config.nlu, "keep_pii": True}
    if not config.name:
        config.name = Path(path).stem if path else Path(config.data).stem if config.data else "eval"
    config.respond_config()  # unknown section keys fail now, before any work
    return config
