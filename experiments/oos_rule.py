"""Which out-of-scope rule keeps the demo store's own in-scope messages and still rejects out-of-scope ones?

    python experiments/oos_rule.py                  # bootstrap intent model; dev parts, then test parts
    python experiments/oos_rule.py --model DIR

The shipped rule (``IntentClassifier.decide``) keeps a message when its calibrated confidence reaches the stored
threshold **and** its nearest-neighbour cosine to the training messages reaches the stored kNN threshold. Both
thresholds come from the training data's validation split (Bitext: templated messages, very alike), so hand-written
messages, which sit further from every training message, are rejected more often than the 1% the calibration
expects ("do u take amex" at confidence 0.93 gets a clarification).

The chosen rule is the one that keeps the most in-scope dev messages while rejecting no fewer written
out-of-scope dev messages than the shipped rule and at most 3 points fewer of all out-of-scope dev messages:
``confident 0.9``, the default ``nlu.oos_confident``.

Candidates, each scored by the share of in-scope messages kept and of out-of-scope messages rejected:

- ``shipped``: confidence >= threshold and kNN >= kNN threshold;
- ``confident C``: as shipped, but a confidence of at least C skips the kNN test;
- ``knn T``: the kNN threshold lowered to T.

In-scope messages: ``retrieval_dev.yaml`` / ``retrieval_set.yaml``, the yes/no set and the tone set (their dev / test
parts). Out-of-scope: ``knowledge_base/out_of_scope.yaml`` (written before this experiment, dev / test parts) and
ATIS flight-booking questions (``../shared/data/atis``: ``valid`` for dev, ``test`` for test). Settings are chosen on
dev; test is printed for the chosen rule. Writes ``runs/oos-rule/results.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def atis(split: str, n: int) -> list[str]:
    path = ROOT.parent / "shared" / "data" / "atis" / split / "seq.in"
    if not path.exists():
        return []
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return lines[:n]


def messages(part: str) -> tuple[list[str], list[str], int]:
    from evaluation.tone import load_tone_set
    from knowledge_base.loader import load_retrieval_set

    kb = ROOT / "knowledge_base"
    retrieval = load_retrieval_set(kb / ("retrieval_dev.yaml" if part == "dev" else "retrieval_set.yaml"))
    yes_no = [i["message"] for i in yaml.safe_load((kb / "yes_no_set.yaml").read_text()) if i.get("part") == part]
    tone = [i["message"] for i in load_tone_set() if i.get("part") == part]
    inside = [ex.message for ex in retrieval] + yes_no + tone
    outside = [i["message"] for i in yaml.safe_load((kb / "out_of_scope.yaml").read_text()) if i["part"] == part]
    return inside, outside + atis("valid" if part == "dev" else "test", 200), len(outside)


def rules(knn_cut: float) -> dict[str, tuple[float, float | None]]:
    """name -> (kNN threshold, confidence that skips the kNN test)."""
    out: dict[str, tuple[float, float | None]] = {"shipped": (knn_cut, None)}
    for c in (0.8, 0.85, 0.9, 0.95, 0.98):
        out[f"confident {c:g}"] = (knn_cut, c)
    for t in (0.6, 0.55, 0.5, 0.45, 0.4):
        out[f"knn {t:g}"] = (t, None)
    return out


def kept(clf, conf: np.ndarray, knn: np.ndarray, rule: tuple[float, float | None]) -> np.ndarray:
    """The classifier's own in-scope decision (``IntentClassifier.decide``) under ``rule``."""
    clf.oos_threshold, clf.oos_confident = rule
    return np.array([clf.decide(float(c), float(k)) for c, k in zip(conf, knn)])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="Intent model folder (default: the bootstrap model).")
    p.add_argument("--output-dir", default=str(ROOT / "runs" / "oos-rule"))
    args = p.parse_args()
    from pipeline.assistant import build_assistant, load_respond_config

    nlu = build_assistant(load_respond_config(None, {"nlu": {"model": args.model}})).stage("nlu")
    nlu.warm_up()
    clf = nlu.classifier
    knn_cut = clf.oos_threshold
    results = {}
    for part in ("dev", "test"):
        inside, outside, written = messages(part)
        clf.oos_confident = None
        preds = clf.run(inside + outside, top_k=1)["predictions"]
        conf = np.array([q.confidence for q in preds])
        knn = np.array([q.oos_score for q in preds])
        is_in = np.array([True] * len(inside) + [False] * len(outside))
        results[part] = {"in_scope": len(inside), "out_of_scope": len(outside), "rules": {}}
        for name, rule in rules(knn_cut).items():
            k = kept(clf, conf, knn, rule)
            results[part]["rules"][name] = {"in_scope_kept": round(float(k[is_in].mean()), 4),
                                            "out_of_scope_rejected": round(float((~k[~is_in]).mean()), 4),
                                            "written_oos_rejected": round(float((~k[len(inside):len(inside) + written]).mean()), 4)}
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"confidence threshold {clf.threshold:.3f}, kNN threshold {knn_cut:.3f}")
    for part, r in results.items():
        print(f"\n{part}: {r['in_scope']} in scope, {r['out_of_scope']} out of scope")
        print(f"{'rule':<16} {'in-scope kept':>14} {'OOS rejected':>13} {'written OOS rejected':>21}")
        for name, m in r["rules"].items():
            print(f"{name:<16} {m['in_scope_kept']:>14.3f} {m['out_of_scope_rejected']:>13.3f} {m['written_oos_rejected']:>21.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
