"""The human-readable side of an evaluation run: plots and ``report.md`` with the metrics as tables.

    python -m evaluation.run --config configs/eval/bitext.yaml   # writes report.md into the run folder

:func:`write_report` draws the four plots of :mod:`evaluation.plots` (confusion matrix, per-intent
F1, confidence histogram for right vs wrong, reliability diagram) beside ``report.md``, which links
them relatively so the folder renders anywhere; :func:`compare_table` is the side-by-side
Markdown table of ``--compare``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from evaluation.metrics import confusion_counts

PLOTS = ("confusion_matrix.png", "per_intent_f1.png", "confidence_histogram.png", "reliability_diagram.png")


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _table(rows: dict[str, Any]) -> list[str]:
    lines = ["| metric | value |", "| --- | --- |"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in rows.items() if not isinstance(v, (dict, list))]
    return lines + [""]


def draw_plots(folder: Path, metrics: dict[str, Any], cols: Any, labels: list[str]) -> list[str]:
    """Write the PNGs of :data:`PLOTS` into ``folder``; returns their file names."""
    from evaluation import plots  # matplotlib: imported only when figures are drawn

    nlu = metrics["nlu"]
    extra = sorted((set(cols.gold) | set(cols.pred)) - set(labels))
    cm_labels = list(labels) + extra
    plots.plot_confusion_matrix(cm_labels, confusion_counts(cols.gold, cols.pred, cm_labels), folder / PLOTS[0])
    plots.plot_per_label_f1(nlu["per_intent"], folder / PLOTS[1])
    plots.plot_confidence_histogram(cols.confidence, cols.correct, folder / PLOTS[2])
    plots.plot_reliability_diagram(nlu["reliability_bins"], folder / PLOTS[3], ece=nlu["ece"])
    return list(PLOTS)


def render(metrics: dict[str, Any], name: str, figures: list[str]) -> str:
    """``report.md`` text: one table per stage, the worst intents, the stage at fault, the plots."""
    nlu = metrics["nlu"]
    lines = [f"# Evaluation run: {name}", "",
             f"Data: `{metrics.get('data', {}).get('data')}` ({metrics.get('data', {}).get('split')}), "
             f"{metrics['n']} messages, {metrics.get('throughput', {}).get('messages_per_s')} messages/s "
             f"(this session: {metrics.get('throughput', {}).get('messages')} messages).", "",
             "## NLU", ""]
    lines += _table({k: v for k, v in nlu.items() if k not in {"reliability_bins", "per_intent"}})
    if nlu.get("unknown_labels"):
        lines += ["Gold labels unknown to the model: " + ", ".join(f"`{k}` ({v})" for k, v in nlu["unknown_labels"].items()), ""]
    if "oos" in nlu:
        lines += ["### Out of scope", ""] + _table(nlu["oos"])
    worst = sorted(nlu["per_intent"].items(), key=lambda kv: (kv[1]["f1"], kv[0]))[:10]
    lines += ["### Weakest intents", "", "| intent | precision | recall | F1 | support | confused with |",
              "| --- | --- | --- | --- | --- | --- |"]
    for label, r in worst:
        conf = ", ".join(f"{c['label']} ({c['count']})" for c in r["confused_with"]) or "–"
        lines.append(f"| {label} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['support']} | {conf} |")
    lines.append("")
    if metrics.get("entities"):
        ents = metrics["entities"]
        lines += ["## Entities (exact span and type)", "", "| type | precision | recall | F1 | support |",
                  "| --- | --- | --- | --- | --- |"]
        for kind, r in ents["per_type"].items():
            lines.append(f"| {kind} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['support']} |")
        lines += [f"| **all** | {ents['precision']:.3f} | {ents['recall']:.3f} | {ents['f1']:.3f} | {ents['support']} |", ""]
        if ents.get("other_types"):
            lines += ["Predicted types the gold data does not annotate (not scored): "
                      + ", ".join(f"{k} {v}" for k, v in ents["other_types"].items()), ""]
    for stage in ("retrieval", "nlg"):
        if stage in metrics:
            lines += [f"## {'Retrieval' if stage == 'retrieval' else 'NLG'}", ""] + _table(metrics[stage])
    if metrics.get("nlg", {}).get("checks_fired"):
        lines += ["Guardrail checks fired: " + ", ".join(f"`{k}` {v}" for k, v in metrics["nlg"]["checks_fired"].items()), ""]
    if "tone" in metrics:
        tone = metrics["tone"]
        lines += ["## Tone", "", "How the messages read (sentiment, urgency and its cues); `handed_off_for_tone` counts the rows "
                  "handed off for their tone whose gold intent is not a request for a person.", ""]
        lines += _table({k: v for k, v in tone.items() if k != "cues"})
        lines += ["Urgency cues: " + (", ".join(f"`{k}` {v}" for k, v in tone["cues"].items()) or "none"), ""]
    if "handoff" in metrics:
        lines += ["## Hand-off rows", "", "Requests for a person (gold `contact_human_agent`) are handed off by design, so "
                  "their replies are reported apart from the rest.", ""] + _table(metrics["handoff"])
    e2e = metrics["end_to_end"]
    lines += ["## End to end: first stage at fault", "", "| stage | messages | share |", "| --- | --- | --- |"]
    lines += [f"| {s} | {c} | {c / max(metrics['n'], 1):.3f} |" for s, c in e2e["stage_at_fault"].items()]
    lines += ["", "Reasons: " + (", ".join(f"{k} {v}" for k, v in e2e["fault_reasons"].items()) or "none"), ""]
    lines += ["## Plots", ""] + [f"![{f[:-4].replace('_', ' ')}]({f})" for f in figures]
    lines += ["", "Per-example traces: [predictions.jsonl](predictions.jsonl); settings: "
              "[resolved_config.json](resolved_config.json).", ""]
    return "\n".join(lines)


def write_report(folder: str | Path, metrics: dict[str, Any], cols: Any, labels: list[str], name: str) -> Path:
    """Draw the plots and write ``report.md`` into ``folder``."""
    folder = Path(folder)
    figures = draw_plots(folder, metrics, cols, labels) if metrics["n"] else []
    path = folder / "report.md"
    path.write_text(render(metrics, name, figures), encoding="utf-8")
    return path


COMPARE_COLUMNS = (("nlu", "accuracy"), ("nlu", "macro_f1"), ("nlu", "ece"), ("retrieval", "intent_consistency"),
                   ("retrieval", "mrr"), ("nlg", "rougeL_f"), ("nlg", "guardrail_pass_rate"), ("nlg", "fallback_rate"),
                   ("end_to_end", "ok_rate"), ("throughput", "messages_per_s"))


def compare_rows(runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{config name: {"nlu.accuracy": ..., ...}}`` for the columns of :data:`COMPARE_COLUMNS`."""
    return {name: {f"{s}.{k}": m.get(s, {}).get(k) for s, k in COMPARE_COLUMNS} for name, m in runs.items()}


def compare_table(runs: dict[str, dict[str, Any]]) -> str:
    rows = compare_rows(runs)
    keys = [f"{s}.{k}" for s, k in COMPARE_COLUMNS]
    lines = ["| config | n | " + " | ".join(keys) + " |", "| --- | --- |" + " --- |" * len(keys)]
    for name, row in rows.items():
        lines.append(f"| {name} | {runs[name]['n']} | " + " | ".join(_fmt(row[k]) for k in keys) + " |")
    return "\n".join(lines) + "\n"
