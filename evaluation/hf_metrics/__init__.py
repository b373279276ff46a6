"""Metric modules for Hugging Face ``evaluate`` that ship with the package: ``evaluate.load(metric_path(name))``.

``rouge_l`` (ROUGE-L P/R/F1, rouge-score) and ``intent_classification`` (accuracy, macro-F1). ``evaluate.load``
of a local folder reads the module from disk, so it works offline.
"""
from __future__ import annotations

from pathlib import Path

METRICS = ("rouge_l", "intent_classification")


def metric_path(name: str) -> str:
    """The folder of the shipped metric module ``name``, for ``evaluate.load``."""
    if name not in METRICS:
        from pipeline.errors import ConfigError

        raise ConfigError(f"No shipped metric {name!r}. Choose one of {', '.join(METRICS)}.")
    return str(Path(__file__).resolve().parent / name)
