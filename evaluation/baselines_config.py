"""Settings of the baselines table (``python -m evaluation.baselines``), shared by the CLI and its rows."""
from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.config import StageConfig
from pipeline.errors import ConfigError, check_param

METHODS = ("bow-binary", "bow-count", "tfidf", "lsa", "wordvec", "transformer")
WEIGHTINGS = ("mean", "tfidf")


@dataclass
class BaselinesConfig(StageConfig):
    """Settings of one baselines table."""

    datasets: list[str] = field(default_factory=lambda: ["banking77", "bitext"],
                                metadata={"help": "Intent data sets (presets), comma-separated."})
    vectors: list[str] = field(default_factory=list, metadata={"help": "Word-vector artifacts as NAME=PATH (or PATH)."})
    vectors_dir: str = field(default="artifacts/embeddings", metadata={"help": "Folder whose artifacts are added as rows."})
    discover: bool = field(default=True, metadata={"help": "Add every word-vector artifact found in --vectors-dir."})
    methods: list[str] = field(default_factory=lambda: list(METHODS), metadata={"help": f"Rows: {', '.join(METHODS)}."})
    weightings: list[str] = field(default_factory=lambda: list(WEIGHTINGS),
                                  metadata={"help": "Word-vector sentence features: mean, tfidf."})
    transformer: list[str] = field(default_factory=lambda: ["banking77=artifacts/intent-banking77",
                                                            "bitext=artifacts/intent-bitext"],
                                   metadata={"help": "Fine-tuned intent models as DATA=MODEL_DIR."})
    encoder: str = field(default="default", metadata={"help": "Sentence encoder of the transformer row's retrieval."})
    retrieval: bool = field(default=True, metadata={"help": "Score knowledge-base retrieval (hit@1, MRR)."})
    c_grid: list[str] = field(default_factory=lambda: ["0.01", "0.1", "1", "10", "100"],
                              metadata={"help": "Values of logistic regression's C tried on validation."})
    ngram_max: int = field(default=2, metadata={"help": "Longest word n-gram of the bag-of-words rows."})
    lsa_components: int = field(default=300, metadata={"help": "SVD dimensions of the LSA row."})
    max_iter: int = field(default=2000, metadata={"help": "Logistic-regression iterations (lbfgs)."})
    max_per_label: int | None = field(default=None, metadata={"help": "Cap training examples per intent (quick runs; not comparable)."})
    seed: int = field(default=42, metadata={"help": "Seed of the data splits, the SVD and logistic regression."})
    output_dir: str | None = field(default=None, metadata={"help": "Result folder (default runs/baselines/<timestamp>)."})
    overwrite: bool = field(default=False, metadata={"help": "Replace a non-empty output folder."})
    save_models: bool = field(default=False, metadata={"help": "Save every fitted classifier under models/."})
    reuse: str | None = field(default=None, metadata={"help": "A previous output folder: rows with the same method, "
                              "vectors file and settings are copied from its metrics.json instead of refitted."})

    def validate(self) -> None:
        from training.data import PRESETS

        name = "BaselinesConfig"
        for key, values, allowed in (("datasets", self.datasets, list(PRESETS)), ("methods", self.methods, METHODS),
                                     ("weightings", self.weightings, WEIGHTINGS)):
            bad = [v for v in values if v not in allowed]
            check_param(name, key, ",".join(values), bool(values) and not bad,
                        f"a comma-separated list of {', '.join(allowed)}" + (f" ({bad[0]!r} is not one)" if bad else ""))
        try:
            grid = [float(c) for c in self.c_grid]
        except (TypeError, ValueError):
            grid = []
        check_param(name, "c_grid", ",".join(map(str, self.c_grid)), bool(grid) and all(c > 0 for c in grid),
                    "a comma-separated list of numbers > 0")
        check_param(name, "ngram_max", self.ngram_max, self.ngram_max >= 1, "an int >= 1")
        check_param(name, "lsa_components", self.lsa_components, self.lsa_components >= 1, "an int >= 1")
        check_param(name, "max_per_label", self.max_per_label, self.max_per_label is None or self.max_per_label >= 1,
                    "an int >= 1 or unset")

        self.transformer_models()

    @property
    def grid(self) -> list[float]:
        return [float(c) for c in self.c_grid]

    def transformer_models(self) -> dict[str, str]:
        """``--transformer DATA=MODEL_DIR`` as {data: folder}."""
        from training.data import PRESETS

        models: dict[str, str] = {}
        for spec in self.transformer:
            data, sep, path = (part.strip() for part in str(spec).partition("="))
            if not sep or not path or data not in PRESETS:
                raise ConfigError(f"--transformer takes DATA=MODEL_DIR with DATA one of {', '.join(PRESETS)}. "
                                  f"Got {spec!r}.")
            models[data] = path
        return models
