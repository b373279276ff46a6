"""Out-of-scope detection on BANKING77 by the standard protocol: 25% of the intents held out as unknown.

    python experiments/oos_banking77.py                          # 3 seeds, ~7 min of training each on 2 cores
    python experiments/oos_banking77.py --seeds 42 --epochs 1    # a quick look

For each seed, a random 25% of the 77 intents (19) are unknown: the intent model is fine-tuned
(``configs/intent/banking77.yaml``'s recipe) on the training messages of the other 58, and scored on the whole
BANKING77 test set, whose messages of unknown intents must be rejected. Methods (a higher score = more in scope):
max softmax (the calibrated confidence), energy (T·logsumexp(logits/T)), Mahalanobis distance to the class means
of the training embeddings (shared covariance), and the k-nearest-neighbour cosine to the training messages
(k = 1, 5, 10; :mod:`pipeline.nlu.oos`). Reported: AUROC, and in-scope accuracy (known-intent messages classified
right and kept) and out-of-scope recall at the threshold each method stores: for the confidence and the kNN rule,
the ones ``training.finetune_intent`` writes to ``calibration.json``; for the others, the score that keeps 95% of
the known validation messages. The thresholds come from validation data only, never from the test set.
Writes ``runs/oos-banking77/results.json`` and ``table.md``.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def split_intents(categories: list[str], seed: int) -> tuple[list[str], list[str]]:
    order = np.random.default_rng(seed).permutation(len(categories))
    unknown = sorted(categories[i] for i in order[: round(0.25 * len(categories))])
    return sorted(set(categories) - set(unknown)), unknown


def write_known_data(folder: Path, data_dir: Path, known: set[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        with open(data_dir / f"{split}.csv", newline="") as src, open(folder / f"{split}.csv", "w", newline="") as dst:
            reader, writer = csv.DictReader(src), csv.writer(dst)
            writer.writerow(["text", "category"])
            writer.writerows([row["text"], row["category"]] for row in reader if row["category"] in known)


def read_test(data_dir: Path) -> tuple[list[str], list[str]]:
    with open(data_dir / "test.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def mahalanobis_scores(train_emb: np.ndarray, train_y: np.ndarray, emb: np.ndarray) -> np.ndarray:
    classes = np.unique(train_y)
    means = np.stack([train_emb[train_y == c].mean(axis=0) for c in classes])
    centred = train_emb - means[np.searchsorted(classes, train_y)]
    precision = np.linalg.pinv(np.cov(centred, rowvar=False) + 1e-6 * np.eye(train_emb.shape[1]))
    dists = np.stack([np.einsum("nd,dk,nk->n", emb - m, precision, emb - m) for m in means], axis=1)
    return -dists.min(axis=1)


def score_model(model_dir: Path, data_folder: Path, test_texts: list[str], test_labels: list[str], seed: int) -> dict:
    from sklearn.metrics import roc_auc_score

    from pipeline.artifacts import read_json
    from pipeline.nlu.classifier import IntentClassifier, embed_and_logits, softmax
    from pipeline.nlu.oos import knn_score, load_index
    from training.data import load_intent_data

    clf = IntentClassifier(model_dir, batch_size=64, max_length=64)
    clf.warm_up()
    labels, calibration = clf.labels, read_json(model_dir / "calibration.json")
    temperature = float(calibration["temperature"])
    index_emb, index_y = load_index(model_dir)
    data = load_intent_data(str(data_folder), seed=seed)  # the same validation split the model was calibrated on
    val_emb, val_logits = embed_and_logits(clf._model, clf._tokenizer, data.validation.texts, 64, 64)
    emb, logits = embed_and_logits(clf._model, clf._tokenizer, test_texts, 64, 64)
    known = np.array([lbl in labels for lbl in test_labels])
    gold = np.array([labels.index(lbl) if lbl in labels else -1 for lbl in test_labels])
    probs = softmax(logits, temperature)
    correct = probs.argmax(axis=1) == gold

    def energy(x: np.ndarray) -> np.ndarray:
        z = x / temperature
        return temperature * (z.max(axis=1) + np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1)))

    scores = {
        "max softmax": (probs.max(axis=1), softmax(val_logits, temperature).max(axis=1), calibration.get("threshold")),
        "energy": (energy(logits), energy(val_logits), None),
        "Mahalanobis": (mahalanobis_scores(index_emb, index_y, emb), mahalanobis_scores(index_emb, index_y, val_emb), None),
    }
    stored_k = int((calibration.get("oos") or {}).get("k", 1))
    for k in (1, 5, 10):
        stored = calibration["oos"]["threshold"] if k == stored_k else None
        scores[f"kNN (k={k})"] = (knn_score(emb, index_emb, k), knn_score(val_emb, index_emb, k), stored)
    rows = {}
    for name, (test_score, val_score, stored) in scores.items():
        threshold = stored if stored is not None else float(np.quantile(val_score, 0.05))
        kept = test_score >= threshold
        rows[name] = {"auroc": float(roc_auc_score(known, test_score)), "threshold": threshold,
                      "threshold_from": "calibration.json" if stored is not None else "keep 95% of validation",
                      "in_scope_accuracy": float((correct & kept)[known].mean()), "oos_recall": float((~kept)[~known].mean())}
    knn_stored = scores[f"kNN (k={stored_k})"][0]
    for name, confident in (("confidence and kNN (the rule before nlu.oos_confident)", None),
                            ("confidence and kNN, 0.9 skips kNN (the shipped rule)", 0.9)):
        clf.oos_confident = confident  # IntentClassifier.decide is the one in-scope rule
        kept = np.array([clf.decide(float(c), float(k)) for c, k in zip(probs.max(axis=1), knn_stored)])
        rows[name] = {"auroc": None, "threshold": None, "threshold_from": "calibration.json",
                      "in_scope_accuracy": float((correct & kept)[known].mean()), "oos_recall": float((~kept)[~known].mean())}
    return {"rows": rows, "known_test": int(known.sum()), "unknown_test": int((~known).sum()),
            "closed_accuracy": float(correct[known].mean())}


def table(per_seed: dict[int, dict]) -> str:
    names = list(next(iter(per_seed.values()))["rows"])
    lines = ["| method | AUROC | in-scope accuracy | OOS recall | threshold from |", "| --- | ---: | ---: | ---: | --- |"]
    for name in names:
        rows = [r["rows"][name] for r in per_seed.values()]
        auroc = [r["auroc"] for r in rows if r["auroc"] is not None]
        cell = f"{np.mean(auroc):.3f}" if auroc else "-"
        lines.append(f"| {name} | {cell} | {np.mean([r['in_scope_accuracy'] for r in rows]):.3f} | "
                     f"{np.mean([r['oos_recall'] for r in rows]):.3f} | {rows[0]['threshold_from']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from training.data import shared_data_dir
    from training.finetune_intent import main as finetune

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--out", default=str(ROOT / "runs" / "oos-banking77"))
    args = p.parse_args(argv)
    data_dir, out = shared_data_dir() / "banking77", Path(args.out)
    categories = json.loads((data_dir / "categories.json").read_text())
    test_texts, test_labels = read_test(data_dir)
    per_seed = {}
    for seed in args.seeds:
        known, unknown = split_intents(categories, seed)
        folder, model = out / f"data-s{seed}", out / f"model-s{seed}"
        write_known_data(folder, data_dir, set(known))
        if not (model / "calibration.json").is_file():
            code = finetune(["--config", str(ROOT / "configs/intent/banking77.yaml"), "--data", str(folder),
                             "--output-dir", str(model), "--seed", str(seed), "--epochs", str(args.epochs), "--overwrite", "-q"])
            if code:
                return code
        per_seed[seed] = {"unknown_intents": unknown, **score_model(model, folder, test_texts, test_labels, seed)}
        print(f"seed {seed}: " + ", ".join(f"{n} {r['auroc']:.3f}" for n, r in per_seed[seed]["rows"].items() if r["auroc"]), flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(per_seed, indent=2))
    (out / "table.md").write_text(table(per_seed))
    print(table(per_seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
