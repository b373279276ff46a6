"""Sentiment, urgency and escalation on the held-out tone set, one row per method.

    python -m evaluation.tone                                  # all four rows on the test part; trains the transformer rows
    python -m evaluation.tone --no-transformer                 # the three fast rows (seconds)
    python -m evaluation.tone --sentiment-model DIR --urgency-model DIR   # score folders you trained yourself

Methods, each scored on ``--part`` (default ``test``) of ``knowledge_base/tone_set.yaml``:

- ``vader``: VADER as is (compound >= 0.05 positive, <= -0.05 negative); VADER has no urgency, so urgency is the
  default's cues (:mod:`pipeline.nlu.tone`);
- ``default``: the adjusted lexicon reader :class:`pipeline.nlu.tone.ToneReader`, the offline default;
- ``tfidf_lr``: TF-IDF (word 1-2 grams) + logistic regression (:mod:`training.baselines`), fitted on the dev part,
  C chosen on a stratified fifth of it;
- ``transformer``: two classifiers fine-tuned on the dev part by ``python -m training.finetune_intent
  --label-column sentiment`` / ``--label-column urgency`` (the packaged encoder; validation: a stratified 15% of
  dev), plugged in as ``nlu.sentiment_model`` / ``nlu.urgency_model`` (:class:`pipeline.nlu.tone.LearnedTone`).

Columns: sentiment macro-F1 (three classes), urgency F1 (class ``high``), and escalation precision and recall.
Escalation is the policy's rule (:class:`pipeline.policy.PolicyStage`): the customer asks for a person (explicitly,
or the intent model reads ``contact_human_agent`` and a person is named, as in the assistant; ``--no-intent``: the
explicit requests only), or the sentiment is negative and the urgency high (with an escalating cue, for the lexicon
rows). Gold escalation is
``wants_person`` or gold negative-and-high. The run folder holds ``metrics.json``, ``report.md`` and
``predictions.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import logging
import random
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Sequence

import yaml

from pipeline.artifacts import atomic_dir, check_output_dir, write_json
from pipeline.errors import CliParser, DataError, cli_main
from pipeline.utils import setup_logging

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SET = REPO_ROOT / "knowledge_base" / "tone_set.yaml"
KEYS = {"message": str, "sentiment": ("negative", "neutral", "positive"), "urgency": ("high", "normal"),
        "wants_person": bool, "part": str}
METHODS = ("vader", "default", "tfidf_lr", "transformer")


def load_tone_set(path: str | Path | None = None) -> list[dict[str, Any]]:
    """The labelled items of a tone set (format in ``knowledge_base/tone_set.yaml``), checked key by key."""
    path = Path(path or DEFAULT_SET)
    if not path.is_file():
        raise DataError(f"The tone set {str(path)!r} does not exist. Pass a YAML list of labelled messages "
                        "(format in knowledge_base/tone_set.yaml).")
    try:
        items = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DataError(f"{path} is not valid YAML ({str(exc).splitlines()[0]}). Fix the file.") from None
    if not isinstance(items, list) or not items:
        raise DataError(f"{path} must be a non-empty YAML list of items with {', '.join(KEYS)}.")
    for n, item in enumerate(items, 1):
        for key, kind in KEYS.items():
            value = item.get(key) if isinstance(item, dict) else None
            ok = value in kind if isinstance(kind, tuple) else isinstance(value, kind)
            if not ok:
                want = " or ".join(kind) if isinstance(kind, tuple) else kind.__name__
                raise DataError(f"Item {n} of {path} has {key}={value!r}; it must be {want}. Fix the item.")
    return items


def gold_escalation(item: dict[str, Any]) -> bool:
    return bool(item["wants_person"]) or (item["sentiment"] == "negative" and item["urgency"] == "high")


def escalations(texts: Sequence[str], tones: Sequence[Any], intents: Sequence[Any] | None = None) -> list[bool]:
    """The policy's hand-off decision for each message, its tone and (when given) its intent prediction; with no
    intents only explicit requests for a person count, as the intent-based reading needs the classifier."""
    from pipeline.policy import PolicyConfig, PolicyStage
    from pipeline.types import Turn

    policy = PolicyStage(PolicyConfig())
    preds = intents if intents is not None else [None] * len(texts)
    turns = (Turn(message=x, text=x, tone=tone, intent=pred) for x, tone, pred in zip(texts, tones, preds))
    return [policy.wants_person(t) or policy.escalates(t) for t in turns]


def predict_intents(texts: Sequence[str], model: str) -> list[Any]:
    """The assistant's intent predictions (``nlu.model``, e.g. ``auto``: the cached bootstrap model)."""
    from pipeline.nlu.stage import NLUConfig, NLUStage

    nlu = NLUStage(NLUConfig(model=model, tone=False, concerns=False))
    nlu.warm_up()
    return nlu.classify(list(texts))


def score(items: Sequence[dict[str, Any]], tones: Sequence[Any], intents: Sequence[Any] | None = None) -> dict[str, Any]:
    from sklearn.metrics import f1_score, precision_score, recall_score

    texts = [i["message"] for i in items]
    gold_e, pred_e = [gold_escalation(i) for i in items], escalations(texts, tones, intents)
    return {
        "sentiment_macro_f1": round(float(f1_score([i["sentiment"] for i in items], [t.sentiment for t in tones],
                                                   average="macro", labels=list(KEYS["sentiment"]), zero_division=0)), 3),
        "urgency_f1": round(float(f1_score([i["urgency"] for i in items], [t.urgency for t in tones], pos_label="high",
                                           zero_division=0)), 3),
        "escalation_precision": round(float(precision_score(gold_e, pred_e, zero_division=0)), 3),
        "escalation_recall": round(float(recall_score(gold_e, pred_e, zero_division=0)), 3),
        "n": len(items), "n_escalation": sum(gold_e),
    }


def vader_as_is(texts: Sequence[str]) -> list[Any]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from pipeline.nlu.tone import ToneReader

    tones = ToneReader().run(texts)
    vader = SentimentIntensityAnalyzer()  # its own lexicon, without the reader's adjustments
    for tone, text in zip(tones, texts):
        compound = float(vader.polarity_scores(text)["compound"])
        tone.sentiment = "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"
        tone.sentiment_score = round(compound, 4)
    return tones


def _stratified_split(items: list[dict[str, Any]], label: str, share: float, seed: int) -> tuple[list, list]:
    by: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by.setdefault(item[label], []).append(item)
    rng, train, held = random.Random(seed), [], []
    for group in by.values():
        group = group[:]
        rng.shuffle(group)
        cut = max(1, round(len(group) * share))
        held += group[:cut]
        train += group[cut:]
    return train, held


def tfidf_lr(dev: list[dict[str, Any]], texts: Sequence[str], seed: int) -> tuple[list[Any], dict[str, float]]:
    """TF-IDF + logistic regression per label (C on a fifth of dev), refitted on all of dev."""
    from pipeline.types import Tone
    from training.baselines import BaselineClassifier, select_c
    from training.text_features import BowFeaturizer

    def data(rows: list[dict[str, Any]], label: str) -> SimpleNamespace:
        return SimpleNamespace(texts=[r["message"] for r in rows], labels=[r[label] for r in rows])

    tones = [Tone(source="model") for _ in texts]
    chosen = {}
    for label in ("sentiment", "urgency"):
        train, held = _stratified_split(dev, label, 0.2, seed)
        _, report = select_c(BowFeaturizer(kind="tfidf"), data(train, label), data(held, label), seed=seed)
        chosen[label] = report.best_c
        clf = BaselineClassifier(featurizer=BowFeaturizer(kind="tfidf"), C=report.best_c, seed=seed).fit(*vars(data(dev, label)).values())
        for tone, pred, proba in zip(tones, clf.predict(texts), clf.predict_proba(texts).max(axis=1)):
            setattr(tone, label, pred)
            if label == "sentiment":
                tone.sentiment_score = round(float(proba), 4)
    return tones, chosen


def train_transformers(dev: list[dict[str, Any]], test: list[dict[str, Any]], folder: Path, *, seed: int,
                       epochs: int) -> dict[str, Path]:
    """Fine-tune a sentiment and an urgency classifier on ``dev`` with training.finetune_intent (test: its own file)."""
    from training import finetune_intent

    models = {}
    for label in ("sentiment", "urgency"):
        data = folder / f"data-{label}"
        data.mkdir(parents=True, exist_ok=True)
        train, validation = _stratified_split(dev, label, 0.15, seed)
        for split, rows in (("train", train), ("validation", validation), ("test", test)):
            with (data / f"{split}.jsonl").open("w", encoding="utf-8") as fh:
                for r in rows:
                    fh.write(json.dumps({"message": r["message"], label: r[label]}) + "\n")
        out = folder / f"{label}-model"
        logger.info("Fine-tuning the %s classifier on %d dev messages -> %s", label, len(train), out)
        code = finetune_intent.main(["--data", str(data), "--text-column", "message", "--label-column", label,
                                     "--epochs", str(epochs), "--patience", "3", "--max-length", "64", "--seed", str(seed),
                                     "--output-dir", str(out), "--overwrite", "--no-progress", "-q"])
        if code != 0:
            raise DataError(f"Fine-tuning the {label} classifier failed (exit {code}); see the lines above.")
        models[label] = out
    return models


def render(results: dict[str, dict[str, Any]], part: str, path: str, notes: dict[str, str]) -> str:
    cols = ("sentiment_macro_f1", "urgency_f1", "escalation_precision", "escalation_recall")
    lines = [f"# Tone: `{path}`, part `{part}`", "", "| method | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(f"{r[c]:.3f}" for c in cols) + " |" for name, r in results.items()]
    n = next(iter(results.values()))
    lines += ["", f"{n['n']} messages, {n['n_escalation']} that should go to a person.", ""]
    lines += [f"- `{name}`: {note}" for name, note in notes.items()] + [""]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = CliParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DEFAULT_SET), help="Labelled tone set (default: knowledge_base/tone_set.yaml).")
    p.add_argument("--part", default="test", help="Part to score (default: test); the learned rows train on 'dev'.")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS), help="Rows to compute.")
    p.add_argument("--no-transformer", action="store_true", help="Skip the fine-tuned transformer row.")
    p.add_argument("--sentiment-model", default=None, help="A trained sentiment classifier folder for the transformer row.")
    p.add_argument("--urgency-model", default=None, help="A trained urgency classifier folder for the transformer row.")
    p.add_argument("--intent-model", default="auto", help="Intent model whose predictions the hand-off rule also reads, "
                   "as in the assistant (default: auto, the cached bootstrap model).")
    p.add_argument("--no-intent", action="store_true", help="Score escalation from explicit requests and tone only (no intent model).")
    p.add_argument("--epochs", type=int, default=10, help="Fine-tuning epochs of the transformer rows (early stopping on validation).")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--output-dir", default=None, help="Run folder (default: runs/tone/<timestamp>).")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--json", action="store_true", help="Print the metrics as JSON.")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p.parse_args(argv)


@cli_main
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose, quiet=args.verbose == 0)
    out = Path(args.output_dir or REPO_ROOT / "runs" / "tone" / datetime.now().strftime("%Y%m%d-%H%M%S"))
    check_output_dir(out, args.overwrite)
    items = load_tone_set(args.data)
    dev = [i for i in items if i["part"] == "dev"]
    part = [i for i in items if i["part"] == args.part]
    if not part:
        raise DataError(f"{args.data} has no item with part {args.part!r}; its parts are {sorted({i['part'] for i in items})}.")
    methods = [m for m in args.methods if not (m == "transformer" and args.no_transformer)]
    if {"tfidf_lr", "transformer"} & set(methods) and (not dev or args.part == "dev"):
        raise DataError("The learned rows train on the 'dev' part: the set needs one, and --part must be another part "
                        "(or pass --methods vader default).")
    from pipeline.nlu.tone import LearnedTone, ToneReader

    texts = [i["message"] for i in part]
    intents = None if args.no_intent else predict_intents(texts, args.intent_model)
    results, notes, predictions = {}, {}, {}
    with atomic_dir(out) as tmp:
        for method in methods:
            if method == "vader":
                tones, notes[method] = vader_as_is(texts), "VADER as is (compound ±0.05); urgency from the default's cues"
            elif method == "default":
                tones, notes[method] = ToneReader().run(texts), "pipeline.nlu.tone.ToneReader (VADER adjusted on the dev part)"
            elif method == "tfidf_lr":
                tones, chosen = tfidf_lr(dev, texts, args.seed)
                notes[method] = f"fitted on {len(dev)} dev messages; C sentiment {chosen['sentiment']:g}, urgency {chosen['urgency']:g}"
            else:
                given = {"sentiment": args.sentiment_model, "urgency": args.urgency_model}
                if not all(given.values()):
                    trained = train_transformers(dev, part, tmp / "models", seed=args.seed, epochs=args.epochs)
                    given = {k: v or str(trained[k]) for k, v in given.items()}
                learned = LearnedTone(given["sentiment"], given["urgency"])
                learned.warm_up()
                tones = learned.run(texts)
                shown = {k: str(out / Path(v).relative_to(tmp)) if Path(v).is_relative_to(tmp) else v for k, v in given.items()}
                notes[method] = f"fine-tuned on the dev part: {shown['sentiment']}, {shown['urgency']}"
            results[method] = score(part, tones, intents)
            predictions[method] = tones
            logger.info("%s: %s", method, results[method])
        with (tmp / "predictions.jsonl").open("w", encoding="utf-8") as fh:
            for j, item in enumerate(part):
                row = {"message": item["message"], "gold": {k: item[k] for k in ("sentiment", "urgency", "wants_person")}}
                row.update({m: {"sentiment": t[j].sentiment, "urgency": t[j].urgency, "cues": t[j].cues} for m, t in predictions.items()})
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        write_json(tmp / "metrics.json", {"data": args.data, "part": args.part, "methods": results, "notes": notes})
        (tmp / "report.md").write_text(render(results, args.part, args.data, notes), encoding="utf-8")
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(render(results, args.part, args.data, notes).split("\n\n", 1)[1].rstrip())
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
