"""A model fine-tuned on 40 rows (4 intents): does it still reject messages about something else?

    python experiments/small_data_oos/run.py            # trains artifacts/small-data-oos (~1 min), then scores

The message lists were written and committed before any model was trained (README.md here). Trains with the
default recipe of ``training.finetune_intent`` (the packaged MiniLM, the default calibration), then answers each
line of ``in_domain.txt`` (40 messages it did not train on, 10 per intent, in the order of the intents) and
``out_of_domain.txt`` (20) through the intent classifier's one in-scope decision. Reports how many out-of-domain
messages are rejected, how many in-domain ones are kept (and kept with the right intent), and the calibration the
training stored. Writes ``runs/small-data-oos/result.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
INTENTS = ["check_data_balance", "report_outage", "change_plan", "pay_bill"]  # in_domain.txt's order, 10 each


def lines(name: str) -> list[str]:
    return [line.strip() for line in (HERE / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    from pipeline.artifacts import read_json
    from pipeline.nlu.classifier import IntentClassifier
    from training.finetune_intent import main as finetune

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(ROOT / "artifacts" / "small-data-oos"))
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--retrain", action="store_true", help="Train again even if the model folder exists.")
    args = p.parse_args(argv)
    model = Path(args.model)
    if args.retrain or not (model / "calibration.json").is_file():
        code = finetune(["--data", str(HERE / "train.csv"), "--text-column", "text", "--label-column", "intent",
                         "--output-dir", str(model), "--seed", str(args.seed), "--overwrite", "-q"])
        if code:
            return code
    clf = IntentClassifier(model)
    inside, outside = lines("in_domain.txt"), lines("out_of_domain.txt")
    gold = [INTENTS[i // 10] for i in range(len(inside))]
    pin, pout = clf.run(inside)["predictions"], clf.run(outside)["predictions"]
    result = {
        "out_of_domain_rejected": sum(not p.in_scope for p in pout), "out_of_domain": len(pout),
        "in_domain_kept": sum(p.in_scope for p in pin), "in_domain_kept_right": sum(p.in_scope and p.label == g for p, g in zip(pin, gold)),
        "in_domain": len(pin), "calibration": read_json(model / "calibration.json"),
        "out_of_domain_answered": [m for m, p in zip(outside, pout) if p.in_scope],
        "in_domain_rejected": [m for m, p in zip(inside, pin) if not p.in_scope],
    }
    out = ROOT / "runs" / "small-data-oos"
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(result, indent=2))
    print(f"out of domain rejected {result['out_of_domain_rejected']}/{result['out_of_domain']}; in domain kept "
          f"{result['in_domain_kept']}/{result['in_domain']} ({result['in_domain_kept_right']} with the right intent)")
    print(f"temperature {result['calibration']['temperature']}, confidence threshold {result['calibration']['threshold']}, "
          f"kNN threshold {result['calibration'].get('oos', {}).get('threshold')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
