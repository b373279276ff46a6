"""Load on the HTTP server: N messages at concurrency C, one-at-a-time against micro-batched serving, side by side.

    python benchmarks/serve_load.py                                   # 2,000 requests, concurrency 32, both modes
    python benchmarks/serve_load.py --requests 10000 --concurrency 32 --json
    python benchmarks/serve_load.py --requests 4000 --kill-at 2000    # kill -9 mid-run, restart, check nothing is lost

For each mode it starts ``python -m pipeline.serve`` on loopback with a fresh SQLite store (``--max-batch 1``, then
``--max-batch 32``), opens ``requests / turns`` conversations and has C client workers post their messages (the
customer messages of the labelled retrieval set, each conversation's in order). Every loop is bounded by the
request count. It reports throughput, p50/p99 latency, errors, and the CPU seconds of the client and the server
(they share the machine's cores), and the micro-batched / one-at-a-time throughput ratio.

``--kill-at K``: in the micro-batched run, the server gets SIGKILL after K answered requests; it is restarted on the
same store, every turn the client logged as answered is looked up there (the count of lost ones is reported), and
the interrupted conversations continue.
"""
from __future__ import annotations

import asyncio
import json
import os
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knowledge_base.loader import load_retrieval_set  # noqa: E402
from pipeline.errors import CliParser, ConfigError, cli_main  # noqa: E402
from pipeline.serve.launch import free_port, start_server  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(url: str, conversations: list[list[str]], concurrency: int, kill_at: int | None = None,
                kill=None) -> dict:
    """Post every conversation's messages in order, C conversations at a time; log each answered turn.

    With ``kill_at``, ``kill()`` is called (SIGKILL to the server) as soon as that many turns are answered, while the
    other workers' requests are in flight; those fail, and the workers stop."""
    import httpx

    latencies: list[float] = []
    answered: list[tuple[str, int]] = []
    errors: dict[str, int] = {}
    queue = list(range(len(conversations)))
    progress: dict[int, tuple[str, int]] = {}  # conversation index -> (id, messages answered)
    stop = asyncio.Event()

    async def worker(client: "httpx.AsyncClient") -> None:
        while queue and not stop.is_set():
            index = queue.pop()
            try:
                cid = (await client.post(f"{url}/v1/conversations")).json()["conversation_id"]
            except Exception as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            progress[index] = (cid, 0)
            for text in conversations[index]:
                if stop.is_set():
                    return
                start = time.perf_counter()
                try:
                    response = await client.post(f"{url}/v1/conversations/{cid}/messages", json={"text": text})
                    if response.status_code != 200:
                        errors[str(response.status_code)] = errors.get(str(response.status_code), 0) + 1
                        continue
                    latencies.append(time.perf_counter() - start)
                    answered.append((cid, response.json()["turn"]))
                    progress[index] = (cid, progress[index][1] + 1)
                except Exception as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    if kill_at is not None:
                        return
                if kill_at is not None and len(answered) >= kill_at and not stop.is_set():
                    stop.set()
                    kill()

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    begin = time.perf_counter()
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    wall = time.perf_counter() - begin
    return {"wall_s": wall, "latencies": latencies, "answered": answered, "errors": errors, "progress": progress}


def mean_batch(url: str) -> float | None:
    """Messages per pipeline call, from the server's /metrics."""
    import urllib.request

    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
              if line.startswith(("support_batch_messages_sum", "support_batch_messages_count"))}
    count = values.get("support_batch_messages_count", 0)
    return round(values["support_batch_messages_sum"] / count, 2) if count else None


def summary(run: dict, client_cpu: float, server_cpu: float) -> dict:
    lat = np.asarray(run["latencies"]) * 1000.0 if run["latencies"] else np.zeros(1)
    n = len(run["answered"])
    return {"answered": n, "errors": sum(run["errors"].values()), "error_kinds": run["errors"],
            "throughput_rps": round(n / run["wall_s"], 1), "p50_ms": round(float(np.percentile(lat, 50)), 1),
            "p99_ms": round(float(np.percentile(lat, 99)), 1), "wall_s": round(run["wall_s"], 1),
            "client_cpu_s": round(client_cpu, 1), "server_cpu_s": round(server_cpu, 1),
            "client_cpu_share": round(client_cpu / max(client_cpu + server_cpu, 1e-9), 3), "mean_batch": run.get("mean_batch")}


def one_mode(args, conversations: list[list[str]], max_batch: int, workdir: Path, kill_at: int | None) -> dict:
    db = workdir / f"conv-batch{max_batch}.sqlite3"
    port = free_port()
    server_args = ["--db", str(db), "--max-batch", str(max_batch), "--max-wait-ms", str(args.max_wait_ms),
                   *(["--intent-model", args.intent_model] if args.intent_model else [])]
    server = start_server(server_args, port, log_path=workdir / f"server-batch{max_batch}.log")
    client_start = resource.getrusage(resource.RUSAGE_SELF)
    server_start = cpu_seconds(server.process.pid)
    try:
        server_cpu = [0.0]

        def kill() -> None:
            server_cpu[0] = cpu_seconds(server.process.pid) - server_start
            server.process.kill()  # kill -9, mid-run

        run = asyncio.run(drive(server.url, conversations, args.concurrency, kill_at=kill_at, kill=kill))
        if not kill_at:
            server_cpu[0] = cpu_seconds(server.process.pid) - server_start
            run["mean_batch"] = mean_batch(server.url)
    finally:
        if server.process.poll() is None:
            server.process.terminate()
        server.process.wait(timeout=30)
    used = resource.getrusage(resource.RUSAGE_SELF)
    client_cpu = (used.ru_utime - client_start.ru_utime) + (used.ru_stime - client_start.ru_stime)
    out = summary(run, client_cpu, server_cpu[0])
    if kill_at:
        out["after_kill"] = check_after_kill(args, server_args, port, db, run, conversations, workdir)
    return out


def check_after_kill(args, server_args, port, db, run, conversations, workdir: Path) -> dict:
    """Every turn the client logged as answered is in the store; the interrupted conversations continue."""
    stored = set(sqlite3.connect(db).execute("SELECT conversation_id, number FROM turns").fetchall())
    lost = [t for t in run["answered"] if t not in stored]
    server = start_server(server_args, port, log_path=workdir / "server-restarted.log")
    try:
        rest = [(cid, conversations[i][done:]) for i, (cid, done) in run["progress"].items() if done < len(conversations[i])]
        continued = asyncio.run(continue_conversations(server.url, rest[:50]))
    finally:
        server.process.terminate()
        server.process.wait(timeout=30)
    return {"answered_before_kill": len(run["answered"]), "lost_turns": len(lost), "stored_turns": len(stored),
            "conversations_continued": continued["ok"], "continue_errors": continued["errors"]}


async def continue_conversations(url: str, rest: list[tuple[str, list[str]]]) -> dict:
    import httpx

    ok, errors = 0, 0
    async with httpx.AsyncClient(timeout=120) as client:
        for cid, texts in rest:
            before = (await client.get(f"{url}/v1/conversations/{cid}")).json()["turn_count"]
            response = await client.post(f"{url}/v1/conversations/{cid}/messages", json={"text": texts[0]})
            good = response.status_code == 200 and response.json()["turn"] == before + 1
            ok, errors = ok + good, errors + (not good)
    return {"ok": ok, "errors": errors}


@cli_main
def main(argv: list[str] | None = None) -> int:
    parser = CliParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="Messages posted per mode (default: %(default)s).")
    parser.add_argument("--concurrency", type=int, default=32, help="Client workers, each one conversation at a time.")
    parser.add_argument("--turns", type=int, default=5, help="Messages per conversation.")
    parser.add_argument("--max-batch", type=int, default=32, help="The micro-batched mode's --max-batch.")
    parser.add_argument("--max-wait-ms", type=float, default=20.0, help="The server's --max-wait-ms (both modes).")
    parser.add_argument("--kill-at", type=int, default=None, help="Kill the micro-batched server after this many answers.")
    parser.add_argument("--intent-model", default=None, help="Intent model folder (default: the cached bootstrap model).")
    parser.add_argument("--json", action="store_true", help="Print the results as JSON.")
    args = parser.parse_args(argv)
    for flag in ("requests", "concurrency", "turns", "max_batch"):
        if getattr(args, flag) < 1:
            raise ConfigError(f"The '--{flag.replace('_', '-')}' option must be an int >= 1. Got {getattr(args, flag)}.")
    pool = [ex.message for ex in load_retrieval_set()]
    n_conv = max(1, args.requests // args.turns)
    conversations = [[pool[(c * args.turns + t) % len(pool)] for t in range(args.turns)] for c in range(n_conv)]
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        results = {"requests": n_conv * args.turns, "concurrency": args.concurrency, "cpus": os.cpu_count(),
                   "one_at_a_time": one_mode(args, conversations, 1, Path(tmp), None),
                   "micro_batched": one_mode(args, conversations, args.max_batch, Path(tmp), args.kill_at)}
    single, batched = results["one_at_a_time"], results["micro_batched"]
    results["throughput_ratio"] = round(batched["throughput_rps"] / max(single["throughput_rps"], 1e-9), 2)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{results['requests']} requests per mode, concurrency {args.concurrency}, {results['cpus']} CPUs (client and server share them)")
    for name in ("one_at_a_time", "micro_batched"):
        r = results[name]
        print(f"  {name:<14} {r['throughput_rps']:>7} req/s  p50 {r['p50_ms']:>7} ms  p99 {r['p99_ms']:>7} ms  errors {r['errors']}  "
              f"CPU s client {r['client_cpu_s']} / server {r['server_cpu_s']} (client share {r['client_cpu_share']})  "
              f"mean batch {r['mean_batch']}")
    print(f"  micro-batched / one-at-a-time throughput: {results['throughput_ratio']}x")
    if "after_kill" in batched:
        k = batched["after_kill"]
        print(f"  kill -9 after {k['answered_before_kill']} answers: {k['lost_turns']} answered turns missing from the store "
              f"({k['stored_turns']} stored); {k['conversations_continued']} conversations continued, {k['continue_errors']} errors")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
