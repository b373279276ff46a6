"""The answer-time code stands alone: pipeline/ imports nothing from training/ or evaluation/, has no import
cycle, and keeps its functions short. Imports inside functions count as much as those at the top."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in a file, resolving relative imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]  # "from pkg import module"
    return sorted(found, key=lambda item: item[0])


PIPELINE = sorted((ROOT / "pipeline").rglob("*.py"))


def test_imports_of_reads_function_level_and_relative_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "pipeline" / "sub"
    pkg.mkdir(parents=True)
    (pkg / "mod.py").write_text("import os\ndef f():\n    from training.loop import x\nfrom . import other\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert imports_of(pkg / "mod.py") == [(1, "os"), (3, "training.loop"), (3, "training.loop.x"), (4, "pipeline.sub"),
                                           (4, "pipeline.sub.other")]


@pytest.mark.parametrize("path", PIPELINE, ids=lambda p: str(p.relative_to(ROOT)))
def test_pipeline_never_imports_training_or_evaluation(path):
    bad = [f"line {line}: {mod}" for line, mod in imports_of(path) if mod.split(".")[0] in ("training", "evaluation")]
    assert bad == []


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (module -> modules it imports), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def import_graph(files: list[Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports; a package's __init__ is not an edge target of its own modules."""
    modules = {module_name(p) for p in files}
    graph: dict[str, set[str]] = {}
    for path in files:
        name = module_name(path)
        targets = {mod for _, mod in imports_of(path) if mod in modules and mod != name}
        # importing pipeline.nlu.words runs pipeline/nlu/__init__ first: that edge is what Python does too
        graph[name] = targets
    return graph


def test_pipeline_has_no_import_cycle():
    assert find_cycle(import_graph(PIPELINE)) is None


@pytest.mark.parametrize("package", ["evaluation", "training"])
def test_evaluation_and_training_have_no_import_cycle(package):
    assert find_cycle(import_graph(sorted((ROOT / package).rglob("*.py")))) is None


@pytest.mark.parametrize("path", PIPELINE, ids=lambda p: str(p.relative_to(ROOT)))
def test_pipeline_functions_are_short(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)" for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == []
