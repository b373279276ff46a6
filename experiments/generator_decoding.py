"""Choose the learned generator's decoding settings on the Bitext validation split (never the test split).

    python experiments/generator_decoding.py --model artifacts/bert2bert-full            # 100 validation messages
    python experiments/generator_decoding.py --model DIR --limit 50 --settings greedy beam4

Each setting is one ``python -m evaluation.generation --split validation --generators seq2seq`` run with a
``GeneratorConfig`` YAML (beam size, no-repeat n-gram size, token limit) into ``runs/generator-decoding/<name>``.
The rule: the highest ROUGE-L F1 among the settings whose guardrail pass rate (before fallback) is at least 0.70;
when none reaches it, the highest pass rate. The chosen setting is printed with the YAML keys to put in
``configs/respond/learned.yaml``.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SETTINGS = {
    "greedy": {"num_beams": 1, "no_repeat_ngram_size": 3, "max_new_tokens": 128},
    "greedy-nr4": {"num_beams": 1, "no_repeat_ngram_size": 4, "max_new_tokens": 128},
    "beam2": {"num_beams": 2, "no_repeat_ngram_size": 3, "max_new_tokens": 128},
    "beam4": {"num_beams": 4, "no_repeat_ngram_size": 3, "max_new_tokens": 128},
}
PASS_TARGET = 0.70


def choose(rows: dict[str, dict]) -> str:
    ok = {k: r for k, r in rows.items() if r["guardrail_pass_rate"] >= PASS_TARGET}
    if ok:
        return max(ok, key=lambda k: ok[k]["rougeL_f"])
    return max(rows, key=lambda k: rows[k]["guardrail_pass_rate"])


def main() -> int:
    from evaluation.generation import main as generation

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="Seq2seq model folder (python -m training.finetune_generator).")
    p.add_argument("--limit", type=int, default=100, help="Validation messages per setting.")
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--output-dir", default=str(ROOT / "runs" / "generator-decoding"))
    args = p.parse_args()
    rows = {}
    for name in args.settings:
        out = Path(args.output_dir) / name
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
            yaml.safe_dump(SETTINGS[name], fh)
        code = generation(["--generators", "seq2seq", "--model", args.model, "--split", "validation", "--limit",
                           str(args.limit), "--config", fh.name, "--output-dir", str(out), "--overwrite", "--no-progress"])
        Path(fh.name).unlink()
        if code:
            return code
        rows[name] = json.loads((out / "metrics.json").read_text())["generators"]["seq2seq"]
    print(f"\n{'setting':<12} {'ROUGE-L F1':>10} {'pass':>6} {'words':>6} {'ms/reply':>9}  settings")
    for name, r in rows.items():
        print(f"{name:<12} {r['rougeL_f']:>10.4f} {r['guardrail_pass_rate']:>6.1%} {r['mean_words']:>6.1f} {r['ms_per_reply']:>9.1f}  {SETTINGS[name]}")
    best = choose(rows)
    print(f"\nchosen: {best} -> nlg: {SETTINGS[best]}")
    (Path(args.output_dir) / "choice.json").write_text(json.dumps({"chosen": best, "settings": SETTINGS[best], "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
