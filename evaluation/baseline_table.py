"""The baselines table: columns per data set, plain-text and Markdown rendering, the notes under it.

    from evaluation.baseline_table import format_table
    print(format_table(metrics["rows"], ["banking77", "bitext"], retrieval=True, markdown=True))

A row is a dict with ``method``, ``corpus`` (of its word vectors), ``results``
(data set -> ``accuracy``, ``macro_f1``, ``fit_seconds``) and ``retrieval``
(``hit@1``, ``mrr``) or None; a missing number shows as ``n/a``.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

DATA_TITLES = {"banking77": "BANKING77", "bitext": "Bitext", "atis": "ATIS"}



def table_columns(datasets: Sequence[str], retrieval: bool) -> list[tuple[str, Callable[[dict], str]]]:
    def num(value: Any, digits: int) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}"

    cols: list[tuple[str, Callable[[dict], str]]] = [("method", lambda r: r["method"]), ("vectors", lambda r: r["corpus"])]
    for d in datasets:
        title = DATA_TITLES.get(d, d)
        if d == "banking77":
            cols.append((f"{title} acc", lambda r, d=d: num(r["results"].get(d, {}).get("accuracy"), 4)))
        cols.append((f"{title} macro-F1", lambda r, d=d: num(r["results"].get(d, {}).get("macro_f1"), 4)))
    if retrieval:
        cols += [("hit@1", lambda r: num((r["retrieval"] or {}).get("hit@1"), 3)),
                 ("MRR", lambda r: num((r["retrieval"] or {}).get("mrr"), 3))]
    first = datasets[0]
    cols.append((f"fit s ({DATA_TITLES.get(first, first)})",
                 lambda r: num(r["results"].get(first, {}).get("fit_seconds"), 1)))
    return cols


def format_table(rows: list[dict], datasets: Sequence[str], retrieval: bool, markdown: bool) -> str:
    cols = table_columns(datasets, retrieval)
    head = [c[0] for c in cols]
    body = [[fn(r) for _, fn in cols] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" if i < 2 else "---:" for i in range(len(head))) + "|"]
        return "\n".join(lines + ["| " + " | ".join(b) + " |" for b in body]) + "\n"
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(b) for b in body]) + "\n"


def notes(config: Any, metrics: dict) -> str:
    """The protocol under the table (``config``: the run's BaselinesConfig)."""
    extra = [f"- The transformer's {d} model ({v['model']}) was trained with extra examples from {v['extra_train']}; "
             "the baselines were not." for r in metrics["rows"] if r["family"] == "transformer"
             for d, v in r["results"].items() if v.get("extra_train")]
    mismatch = [f"- The transformer's {d} model ({v['model']}) was trained on other splits ({v['split_settings']})."
                for r in metrics["rows"] if r["family"] == "transformer"
                for d, v in r["results"].items() if not v.get("same_splits")]
    return "\n".join(extra + mismatch + [
        f"- C of logistic regression chosen per row and data set from {config.grid} by validation macro-F1 "
        f"(validation split only); the model fitted on train at that C is scored once on test; seed {config.seed}. "
        "Dense features (LSA, word vectors) are standardised with the training mean and deviation.",
        "- Word vectors: text8-normalised tokens (lowercase a-z, digits spelled out), sentence vectors L2-normalised; "
        "'vectors' = the corpus they were trained on (wiki8 100M = general text, support = in-domain training texts).",
        "- Retrieval: cosine between the message and each snippet's full text with the row's featuriser (fitted on "
        f"the {metrics.get('snippets')} snippets), no intent, {metrics.get('retrieval_examples')} labelled messages. "
        "The transformer row's retrieval uses the pipeline's pretrained sentence encoder "
        f"({config.encoder}), not the fine-tuned classifier.",
        "- fit s: featuriser fit + logistic regression at the chosen C on the training split (word-vector training "
        "not included; see metrics.json); the transformer's is its fine-tuning time from its metrics.json. "
        "Timings on a shared 2-core machine.",
    ]) + "\n"
