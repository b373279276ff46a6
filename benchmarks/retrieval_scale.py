"""Top-5 inner-product search over large synthetic knowledge bases: exact NumPy/torch vs FAISS.

    python benchmarks/retrieval_scale.py --sizes 10000 100000          # quick
    python benchmarks/retrieval_scale.py                               # 10k, 100k and 1M (minutes, ~2 GB RAM)
    python benchmarks/retrieval_scale.py --sizes 1000000 --approx ivf  # skip the slow HNSW build at 1M
    python benchmarks/retrieval_scale.py --sizes 100000 --clusters 0   # structureless vectors: worst-case recall

The vectors are 384-d float32, L2-normalised like all-MiniLM-L6-v2 sentence
embeddings, drawn around random cluster centres (uniform random points on the
sphere have no near neighbours, which real embeddings do, and would make every
approximate index look worse than it is). Queries are fresh draws from the same
clusters (new messages on known topics). Every contender is the class the retriever uses
(``pipeline.retrieval.vector_index``): exact NumPy (matmul + argpartition), exact torch
(matmul + topk), FAISS ``IndexFlatIP`` (exact) and approximate FAISS indexes
(HNSW, IVF-Flat). Printed per size: build time, median latency of one query,
time per batch of 32 queries and per query within it, the speed-up over exact
NumPy, and recall@5 against the exact top 5.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.errors import CliParser, ConfigError, cli_main  # noqa: E402
from pipeline.retrieval.vector_index import ExactIndex, FaissIndex, VectorIndex, faiss_available  # noqa: E402


def synthetic(n: int, dim: int, seed: int, clusters: int = 1000, spread: float = 0.6,
              centres_seed: int | None = None) -> np.ndarray:
    """``n`` normalised vectors around ``clusters`` random centres (float32, built in chunks).

    The centres depend on ``centres_seed`` (default ``seed``) only, so queries drawn
    with another ``seed`` come from the same clusters as the stored vectors.
    """
    centres_rng = np.random.default_rng(seed if centres_seed is None else centres_seed)
    centres = centres_rng.standard_normal((max(clusters, 1), dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    rng = np.random.default_rng([seed, n])
    out = np.empty((n, dim), dtype=np.float32)
    step = 100_000
    for start in range(0, n, step):
        m = min(step, n - start)
        noise = rng.standard_normal((m, dim), dtype=np.float32)
        # clusters == 0: uniform on the sphere (no structure: the worst case for approximate indexes)
        chunk = noise if clusters == 0 else centres[rng.integers(0, clusters, m)] + noise * (spread / np.sqrt(dim))
        out[start:start + m] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return out


def latency(index: VectorIndex, queries: np.ndarray, k: int, batch: int, repeats: int) -> float:
    """Median seconds per call of ``search`` on batches of ``batch`` queries (one warm-up call first)."""
    index.search(queries[:batch], k)
    times = []
    for r in range(repeats):
        start = (r * batch) % max(1, len(queries) - batch + 1)
        q = queries[start:start + batch]
        t = time.perf_counter()
        index.search(q, k)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found, exact)]))


def contenders(approx: list[str], hnsw_max: int, n: int) -> list[tuple[str, Callable[[np.ndarray], VectorIndex]]]:
    out: list[tuple[str, Callable[[np.ndarray], VectorIndex]]] = [
        ("exact numpy", lambda v: ExactIndex(v, backend="numpy")),
        ("exact torch", lambda v: ExactIndex(v, backend="torch")),
    ]
    if not faiss_available():
        print("faiss is not installed (pip install faiss-cpu): FAISS rows skipped", file=sys.stderr)
        return out
    out.append(("faiss flat", lambda v: FaissIndex(v, kind="flat")))
    if "hnsw" in approx and n <= hnsw_max:
        out.append(("faiss hnsw32", lambda v: FaissIndex(v, kind="hnsw", hnsw_m=32, ef_search=64, ef_construction=80)))
    elif "hnsw" in approx:
        print(f"  (faiss hnsw skipped at n={n:,} > --hnsw-max {hnsw_max:,}: its build takes minutes on a few cores)",
              file=sys.stderr)
    if "ivf" in approx:
        out.append(("faiss ivf", lambda v: FaissIndex(v, kind="ivf", nprobe=16)))
    return out


def check_args(args: argparse.Namespace) -> None:
    """One ConfigError line for a value the benchmark cannot run with."""
    for flag, value, low in (("--dim", args.dim, 1), ("--k", args.k, 1), ("--queries", args.queries, 1),
                             ("--repeats", args.repeats, 1), ("--hnsw-max", args.hnsw_max, 0),
                             ("--threads", args.threads or 0, 0), ("--clusters", args.clusters, 0),
                             ("--sizes", min(args.sizes), 1)):
        if value < low:
            raise ConfigError(f"The '{flag}' option must be an int >= {low}. Got {value}.")
    if args.k > min(args.sizes):
        raise ConfigError(f"The '--k' option ({args.k}) must not exceed the smallest of --sizes ({min(args.sizes)}).")
    unknown = sorted({a.strip() for a in args.approx.split(",") if a.strip()} - {"hnsw", "ivf"})
    if unknown:
        raise ConfigError(f"The '--approx' option takes a comma list of hnsw, ivf. Got {', '.join(unknown)}.")


@cli_main
def main(argv: list[str] | None = None) -> int:
    p = CliParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000], help="Knowledge-base sizes.")
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--queries", type=int, default=256, help="Distinct queries (recall is measured on all of them).")
    p.add_argument("--repeats", type=int, default=30, help="Timed calls per setting (median reported).")
    p.add_argument("--approx", default="hnsw,ivf", help="Approximate FAISS indexes: comma list of hnsw, ivf.")
    p.add_argument("--hnsw-max", type=int, default=200_000, help="Skip the HNSW build above this size.")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for BLAS, torch and FAISS (default or 0: all).")
    p.add_argument("--clusters", type=int, default=1000,
                   help="Topic clusters of the synthetic vectors; 0 = uniform on the sphere (worst case for ANN recall).")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--json", action="store_true", help="Print the settings and one record per row as JSON.")
    args = p.parse_args(argv)
    check_args(args)

    threads = args.threads or os.cpu_count() or 1
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    if faiss_available():
        import faiss

        faiss.omp_set_num_threads(threads)
    approx = [a.strip() for a in args.approx.split(",") if a.strip()]
    data = "uniform on the sphere" if args.clusters == 0 else f"{args.clusters} clusters"
    settings = {"k": args.k, "dim": args.dim, "data": data, "threads": threads, "repeats": args.repeats,
                "queries": args.queries, "seed": args.seed}
    rows: list[dict] = []
    say = (lambda *a: None) if args.json else print
    say(f"top-{args.k} inner product, dim {args.dim}, {data}, {threads} threads, median of {args.repeats} calls")
    header = (f"{'n':>9}  {'method':<13} {'build s':>8} {'1 query ms':>11} {'x numpy':>8} "
              f"{'32 batch ms':>12} {'per query':>10} {'x numpy':>8} {'recall@5':>9}")
    with threadpool_limits(limits=threads):
        for n in args.sizes:
            vectors = synthetic(n, args.dim, args.seed, clusters=args.clusters)
            queries = synthetic(args.queries, args.dim, args.seed + 1, clusters=args.clusters, centres_seed=args.seed)
            say(header)
            exact_ids = None
            base1 = base32 = None
            for name, build in contenders(approx, args.hnsw_max, n):
                t = time.perf_counter()
                index = build(vectors)
                build_s = time.perf_counter() - t
                one = latency(index, queries, args.k, 1, args.repeats)
                b32 = latency(index, queries, args.k, 32, max(5, args.repeats // 4))
                found = np.vstack([index.search(queries[i:i + 32], args.k)[1] for i in range(0, len(queries), 32)])
                if exact_ids is None:
                    exact_ids, base1, base32 = found, one, b32
                row = {"n": n, "method": name, "build_s": build_s, "query_ms": one * 1e3, "speedup": base1 / one,
                       "batch32_ms": b32 * 1e3, "batch32_per_query_ms": b32 * 1e3 / 32, "batch32_speedup": base32 / b32,
                       "recall_at_k": recall(found, exact_ids)}
                rows.append(row)
                say(f"{n:>9,}  {name:<13} {build_s:>8.2f} {row['query_ms']:>11.3f} {row['speedup']:>7.1f}x "
                    f"{row['batch32_ms']:>12.2f} {row['batch32_per_query_ms']:>10.3f} {row['batch32_speedup']:>7.1f}x "
                    f"{row['recall_at_k']:>9.3f}")
                del index
            say()
    if args.json:
        print(json.dumps({"settings": settings, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
