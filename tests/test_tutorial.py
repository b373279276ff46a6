"""The README's "Your own support desk" path on the worked example (examples/bike_rental), end to end.

The four commands run as the README writes them, with one change: the base model is a tiny random DistilBERT
built here instead of the packaged MiniLM, so the test takes seconds (the README's own run: docs/results.md).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.tiny_models import make_tiny_distilbert

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "bike_rental"


def readme_tutorial_commands() -> list[list[str]]:
    """The shell commands of the README's "Your own support desk" section, split into arguments."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Your own support desk", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    lines = [re.sub(r"\s+#.*$", "", line).strip() for line in block.replace("\\\n", " ").splitlines()]
    return [line.split()[1:] for line in lines if line.startswith("python -m")]


def test_readme_tutorial_runs_end_to_end(tmp_path, capsys, monkeypatch):
    from evaluation import run as evaluation_run
    from knowledge_base import loader
    from pipeline import respond
    from training import finetune_intent

    commands = readme_tutorial_commands()
    assert [c[1] for c in commands] == ["training.finetune_intent", "knowledge_base.loader", "pipeline.respond", "evaluation.run"]
    monkeypatch.chdir(ROOT)
    texts = [line.split(",")[0] for line in (EXAMPLE / "train.csv").read_text().splitlines()[1:]]
    tiny = make_tiny_distilbert(tmp_path / "tiny", texts)
    model = tmp_path / "model"

    def args_of(command: list[str]) -> list[str]:
        out = " ".join(command[2:]).replace("artifacts/bike-intents", str(model)).replace("runs/bike", str(tmp_path / "runs"))
        return out.replace("--base-model default", f"--base-model {tiny} --epochs 2 --batch-size 8").split()

    mains = [finetune_intent.main, loader.main, respond.main, evaluation_run.main]
    for command, main in zip(commands, mains):
        assert main(args_of(command)) == 0, command
    out = capsys.readouterr().out
    assert json.loads((model / "config.json").read_text())["id2label"] == {"0": "book_rental", "1": "cancel_booking", "2": "opening_hours"}
    assert "3/3 intents covered" in out and "without a snippet: none" in out
    assert any(p.name == "metrics.json" for p in (tmp_path / "runs").rglob("metrics.json"))


def test_example_domain_files_are_consistent():
    from knowledge_base.loader import load_knowledge_base

    kb = load_knowledge_base(EXAMPLE / "kb")
    assert kb.intents() == ["book_rental", "cancel_booking", "opening_hours"] and len(kb.snippets) == 3
    assert set(kb.phrasing.intents) == set(kb.intents()) and kb.phrasing.contact
    labels = {line.rsplit(",", 1)[1] for line in (EXAMPLE / "train.csv").read_text().splitlines()[1:]}
    assert labels == set(kb.intents())


@pytest.mark.parametrize("domain", ["knowledge_base/domains/banking/policies"])
def test_banking_domain_loads_with_its_retrieval_set(domain):
    from knowledge_base.loader import load_knowledge_base, load_retrieval_set

    kb = load_knowledge_base(ROOT / domain)
    examples = load_retrieval_set(ROOT / "knowledge_base/domains/banking/retrieval_set.yaml", kb=kb)
    categories = json.loads((Path(loader_data()) / "banking77" / "categories.json").read_text()) if loader_data() else None
    assert len(kb.intents()) == 77 and len(examples) >= 150 and len(kb.phrasing.intents) == 77
    if categories is not None:
        assert set(kb.intents()) == set(categories)
    many = [i for i, snips in kb.by_intent().items() if len(snips) >= 2]
    assert len(many) >= 30


def loader_data() -> str | None:
    from training.data import shared_data_dir

    path = shared_data_dir()
    return str(path) if (path / "banking77").is_dir() else None


def readme_modules() -> list[str]:
    """Every ``python -m MODULE`` and ``python SCRIPT.py`` the README's shell blocks run."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = "\n".join(b.split("```", 1)[0] for b in text.split("```bash")[1:])
    modules = re.findall(r"python -m ([\w.]+)", blocks) + re.findall(r"python ((?:benchmarks|experiments|docs)/[\w/]+\.py)", blocks)
    return sorted(set(modules) - {"pytest", "venv"})


def test_every_readme_command_exists_and_answers_help():
    """One subprocess runs each README command with --help: each exists, parses its flags and exits 0."""
    import subprocess
    import sys

    modules = readme_modules()
    assert {"pipeline.respond", "pipeline.serve", "training.finetune_intent", "evaluation.run"} <= set(modules)
    script = ("import runpy, sys, io, contextlib\nbad = []\n"
              f"for m in {modules!r}:\n"
              "    sys.argv = [m, '--help']\n"
              "    try:\n"
              "        with contextlib.redirect_stdout(io.StringIO()):\n"
              "            (runpy.run_path(m, run_name='__main__') if m.endswith('.py') else runpy.run_module(m, run_name='__main__', alter_sys=True))\n"
              "        bad.append((m, 'no exit'))\n"
              "    except SystemExit as e:\n"
              "        if e.code not in (0, None): bad.append((m, e.code))\n"
              "print(bad)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
