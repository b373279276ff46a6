"""Ranking metrics: hit@k and reciprocal rank per example, and their means (primary metric: MRR).

    >>> first_relevant_rank(["a", "b", "c"], {"c", "x"})
    3
    >>> evaluator = RankingEvaluator(ks=(1, 3))
    >>> evaluator.evaluate([["a", "b"], ["b", "a"]], [["a"], ["a", "c"]]).aggregate
    {'hit@1': 0.5, 'hit@3': 1.0, 'mrr': 0.75, 'n': 2}

An example counts as a hit at k when *any* relevant id is among the first k;
its reciprocal rank is 1 / (rank of the first relevant id), 0 when no relevant
id was ranked at all (e.g. filtered out).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence


def first_relevant_rank(ranked: Sequence[str], relevant: Iterable[str]) -> int | None:
    """1-based rank of the first relevant id in ``ranked``; None when none is there."""
    wanted = set(relevant)
    if not wanted:
        raise ValueError("An example needs at least one relevant id to be scored. Got none.")
    for position, item in enumerate(ranked, start=1):
        if item in wanted:
            return position
    return None


def hit_at_k(rank: int | None, k: int) -> float:
    """1.0 when the first relevant item is within the top ``k``."""
    if k < 1:
        raise ValueError(f"The 'k' parameter of hit_at_k must be an int >= 1. Got {k!r}.")
    return 1.0 if rank is not None and rank <= k else 0.0


def reciprocal_rank(rank: int | None) -> float:
    return 0.0 if rank is None else 1.0 / rank


@dataclass
class RankingResult:
    """Per-example ranks and scores, plus the aggregate means."""

    per_example: list[dict[str, Any]]
    aggregate: dict[str, float]
    primary_metric: str = "mrr"
    ks: tuple[int, ...] = field(default=(1, 3))

    @property
    def primary(self) -> float:
        return self.aggregate[self.primary_metric]

    def subset(self, keep: Sequence[bool]) -> "RankingResult":
        """The same metrics over the examples where ``keep`` is true (e.g. one example kind)."""
        rows = [r for r, k in zip(self.per_example, keep) if k]
        return RankingResult(rows, _aggregate(rows, self.ks), self.primary_metric, self.ks)


def _aggregate(rows: list[dict[str, Any]], ks: tuple[int, ...]) -> dict[str, float]:
    n = len(rows)
    agg: dict[str, float] = {}
    for k in ks:
        agg[f"hit@{k}"] = round(sum(r[f"hit@{k}"] for r in rows) / n, 4) if n else 0.0
    agg["mrr"] = round(sum(r["rr"] for r in rows) / n, 4) if n else 0.0
    agg["n"] = n
    return agg


class RankingEvaluator:
    """Scores rankings (lists of ids, best first) against sets of relevant ids."""

    primary_metric = "mrr"

    def __init__(self, ks: Sequence[int] = (1, 3)) -> None:
        if not ks or any(not isinstance(k, int) or k < 1 for k in ks):
            raise ValueError(f"The 'ks' parameter of RankingEvaluator must be a non-empty list of ints >= 1. Got {ks!r}.")
        self.ks = tuple(ks)

    def evaluate(self, rankings: Sequence[Sequence[str]], relevant: Sequence[Iterable[str]]) -> RankingResult:
        if len(rankings) != len(relevant):
            raise ValueError(f"rankings and relevant must have the same length. Got {len(rankings)} and {len(relevant)}.")
        rows = []
        for ranked, gold in zip(rankings, relevant):
            rank = first_relevant_rank(ranked, gold)
            row: dict[str, Any] = {"rank": rank}
            for k in self.ks:
                row[f"hit@{k}"] = hit_at_k(rank, k)
            row["rr"] = reciprocal_rank(rank)
            rows.append(row)
        return RankingResult(rows, _aggregate(rows, self.ks), self.primary_metric, self.ks)
