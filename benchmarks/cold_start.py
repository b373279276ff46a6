"""Cold wall time of one ``python -m pipeline.respond "where is my order"`` per runtime, against a bare torch import.

    python benchmarks/cold_start.py                          # 5 runs each: torch, onnx, onnx-int8, auto, bare import
    python benchmarks/cold_start.py --runs 3 --runtime auto torch --json

Each run is a fresh process with the models already cached (the first, untimed run of each runtime makes sure of
it: a training or an export on first use is not start-up). ``SUPPORT_NUM_THREADS`` is passed through. The
reference is ``python -c "import torch, transformers"``, the floor of any answer path that needs them. Printed:
min / median / max wall seconds per command and each median's ratio to the bare import's.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.errors import CliParser, ConfigError, cli_main  # noqa: E402
from pipeline.onnx_runtime import RUNTIMES  # noqa: E402

MESSAGE = "where is my order"
ROOT = Path(__file__).resolve().parent.parent


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise ConfigError(f"{' '.join(cmd)} failed: {(proc.stderr.strip().splitlines() or ['no output'])[-1]}")
    return seconds


@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = CliParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="Timed runs per command.")
    parser.add_argument("--runtime", nargs="+", choices=RUNTIMES,
                        default=["torch", "onnx", "onnx-int8", "auto"], help="Runtimes to time (pipeline.respond --runtime).")
    parser.add_argument("--intent-model", default=None, help="Intent model folder (default: the cached bootstrap model).")
    parser.add_argument("--json", action="store_true", help="Print the results as JSON.")
    args = parser.parse_args(argv)
    if args.runs < 1:
        raise ConfigError(f"The '--runs' option must be an int >= 1. Got {args.runs}.")
    commands = {"import torch, transformers": [sys.executable, "-c", "import torch, transformers"]}
    extra = ["--intent-model", args.intent_model] if args.intent_model else []
    for runtime in args.runtime:
        commands[f"respond --runtime {runtime}"] = [sys.executable, "-m", "pipeline.respond", "--runtime", runtime, *extra, MESSAGE]
    for cmd in commands.values():
        wall(cmd)  # untimed: caches, first-use training or export, the OS page cache
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):  # interleaved, so a noisy moment hits every command alike
        for name, cmd in commands.items():
            times[name].append(round(wall(cmd), 3))
    base = statistics.median(times["import torch, transformers"])
    rows = {name: {"min": min(t), "median": round(statistics.median(t), 3), "max": max(t),
                   "ratio_to_bare_import": round(statistics.median(t) / base, 2), "runs": t} for name, t in times.items()}
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"cold wall seconds over {args.runs} runs (message: {MESSAGE!r})")
    for name, row in rows.items():
        print(f"{name:<32} min {row['min']:.2f}  median {row['median']:.2f}  max {row['max']:.2f}   "
              f"{row['ratio_to_bare_import']}x the bare import")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
