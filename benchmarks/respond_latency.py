"""Warm latency of one message through NLU, policy, retrieval and the grounded reply; per conversation turn; batched throughput.

    python benchmarks/respond_latency.py                                  # cached default intent model, 200 messages
    python benchmarks/respond_latency.py --intent-model artifacts/intent-bitext --n 200 --json
    python benchmarks/respond_latency.py --runtime torch onnx onnx-int8   # the runtimes side by side, p50 ratios to torch

Messages come from the labelled retrieval set (written for this project, not
Bitext). After a warm-up call, each message is answered alone (batch of one)
and timed end to end, and, interleaved with it, as the next turn of a
conversation (``assistant.respond``: context in, stages, state back; a new
conversation every 4 turns). The same messages are then answered in batches of
32. Prints p50/p90/p99 per message and per stage, the per-turn vs single-message
p50 ratio, and the batch-of-one vs batched throughput ratio.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knowledge_base.loader import load_retrieval_set  # noqa: E402
from pipeline.assistant import build_assistant, load_respond_config  # noqa: E402
from pipeline.conversation import Conversation  # noqa: E402
from pipeline.errors import CliParser, ConfigError, cli_main  # noqa: E402
from pipeline.onnx_runtime import RUNTIMES  # noqa: E402


@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = CliParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intent-model", default=None, help="Intent model folder (default: the cached bootstrap model).")
    parser.add_argument("--config", default=None, help="Respond YAML config.")
    parser.add_argument("--runtime", nargs="+", choices=RUNTIMES, default=["auto"],
                        help="Runtimes of the intent model and the encoder, each timed in turn in this run (e.g. --runtime torch onnx onnx-int8).")
    parser.add_argument("--n", type=int, default=200, help="Messages to time.")
    parser.add_argument("--batch-size", type=int, default=32, help="Batch size of the throughput run.")
    parser.add_argument("--json", action="store_true", help="Print the results as JSON.")
    args = parser.parse_args(argv)
    for flag, value in (("--n", args.n), ("--batch-size", args.batch_size)):
        if value < 1:
            raise ConfigError(f"The '{flag}' option must be an int >= 1. Got {value}.")

    results = [measure(args, runtime) for runtime in args.runtime]
    torch_row = next((r for r in results if r["runtimes_used"]["nlu"] == "torch"), None)
    if torch_row is not None:
        for r in results:
            r["p50_vs_torch"] = round(torch_row["latency_ms"]["p50"] / r["latency_ms"]["p50"], 2)
    if args.json:
        print(json.dumps(results if len(results) > 1 else results[0], indent=2))
        return 0
    for result in results:
        print(f"== runtime {result['runtime']} (intent model: {result['runtimes_used']['nlu']}, encoder: {result['runtimes_used']['retrieval']})")
        lat = result["latency_ms"]
        print(f"warm-up {result['warm_up_s']} s; {result['messages']} messages, one at a time")
        print(f"latency ms: p50 {lat['p50']}  p90 {lat['p90']}  p99 {lat['p99']}  mean {lat['mean']}"
              + (f"  (p50 {result['p50_vs_torch']}x lower than torch)" if "p50_vs_torch" in result else ""))
        turn = result["conversation_turn_ms"]
        print(f"conversation turn ms: p50 {turn['p50']}  p90 {turn['p90']}  p99 {turn['p99']}  "
              f"(p50 ratio to a single message {result['turn_vs_single_p50_ratio']}x)")
        for key, value in result["stage_ms"].items():
            print(f"  {key:<10} p50 {value['p50']:>8}  p90 {value['p90']:>8}  p99 {value['p99']:>8}")
        tp = result["throughput_msgs_per_s"]
        print("throughput msgs/s: " + "  ".join(f"{k} {v}" for k, v in tp.items()) + f"  (ratio {result['batched_vs_single_ratio']}x)")
    return 0


def measure(args, runtime: str) -> dict:
    """One runtime: warm-up, single messages and conversation turns interleaved, then batches."""
    config = load_respond_config(args.config, {"nlu": {"model": args.intent_model, "runtime": runtime},
                                               "retrieval": {"runtime": runtime}})
    assistant = build_assistant(config)
    start = time.perf_counter()
    assistant.warm_up()
    warm_up_s = time.perf_counter() - start
    pool = [ex.message for ex in load_retrieval_set()]
    messages = [pool[i % len(pool)] for i in range(args.n)]
    first = assistant.answer(messages[:1])[0]  # first call: lazy allocations
    # each stage, and the parts a stage times itself ("nlu.tone": the customer's tone, inside "nlu")
    totals, turns_ms, stages = [], [], {name: [] for name in first.timings_ms}
    conversation = Conversation()
    for i, message in enumerate(messages):
        t0 = time.perf_counter()
        turn = assistant.answer([message])[0]
        totals.append((time.perf_counter() - t0) * 1000.0)
        for key in stages:
            stages[key].append(turn.timings_ms[key])
        if i % 4 == 0:
            conversation = Conversation()
        t0 = time.perf_counter()
        assistant.respond(conversation, message)
        turns_ms.append((time.perf_counter() - t0) * 1000.0)
    t0 = time.perf_counter()
    for i in range(0, len(messages), args.batch_size):
        assistant.answer(messages[i : i + args.batch_size])
    batched_s = time.perf_counter() - t0

    def pct(values: list[float]) -> dict[str, float]:
        arr = np.asarray(values)
        return {"p50": round(float(np.percentile(arr, 50)), 2), "p90": round(float(np.percentile(arr, 90)), 2),
                "p99": round(float(np.percentile(arr, 99)), 2), "mean": round(float(arr.mean()), 2)}

    single_rate = len(messages) / (sum(totals) / 1000.0)
    nlu, retrieval = assistant.stage("nlu"), assistant.stage("retrieval")
    return {
        "runtime": runtime,
        "runtimes_used": {"nlu": getattr(nlu.classifier, "runtime_used", None),
                          "retrieval": getattr(retrieval.retriever.encoder, "runtime", None)},
        "messages": len(messages),
        "threads": int(os.environ.get("SUPPORT_NUM_THREADS", "0") or os.cpu_count() or 1),
        "warm_up_s": round(warm_up_s, 2),
        "latency_ms": pct(totals),
        "conversation_turn_ms": pct(turns_ms),
        "turn_vs_single_p50_ratio": round(float(np.percentile(turns_ms, 50) / np.percentile(totals, 50)), 3),
        "stage_ms": {k: pct(v) for k, v in stages.items()},
        "throughput_msgs_per_s": {"batch_of_1": round(single_rate, 1),
                                  f"batch_of_{args.batch_size}": round(len(messages) / batched_s, 1)},
        "batched_vs_single_ratio": round((len(messages) / batched_s) / single_rate, 2),
    }


if __name__ == "__main__":
    raise SystemExit(main())
