"""The layering of the house (ARCHITECTURE.md), read from the source and checked at run time.

* ``laws`` imports nothing of ours and no torch/ray/vllm; matplotlib only lazily;
* ``evaluators`` imports ``laws`` at most — never ``orchestrator``, never Ray Tune or Ray Train;
* no import cycles among the project's modules (imports inside functions count too).
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAWS = REPO / "laws"
PACKAGES = ("laws", "evaluators", "orchestrator")
FORBIDDEN = ("orchestrator", "evaluators", "torch", "ray", "vllm", "transformers")
ALLOWED_TOP = {"numpy", "scipy", "pandas", "matplotlib", "laws", "__future__"}


def test_import_laws_pulls_in_nothing_forbidden():
    code = ("import json, sys, laws; laws.forms(); "
            "import numpy as np; laws.fit('power_law', {'x': np.arange(1., 9.), 'y': 1 + 1 / np.arange(1., 9.)}); "
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=LAWS.parent)
    mods = json.loads(out.stdout.strip().splitlines()[-1])
    bad = [m for m in mods if m.split(".")[0] in FORBIDDEN]
    assert not bad, bad
    assert "matplotlib" not in mods, "matplotlib must be imported lazily (laws.plots only)"


def test_laws_source_imports_only_numpy_scipy_pandas_matplotlib_stdlib():
    stdlib = set(sys.stdlib_module_names)
    for path in sorted(LAWS.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in ALLOWED_TOP or top in stdlib, f"{path.name} imports {name}"


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def _imports(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """Every module of ours or outside that ``name`` imports, anywhere in the file."""
    is_pkg = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".") if is_pkg else name.split(".")[:-1]
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            subs = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in mods}
            found.update(subs)
            if len(subs) < len(node.names):      # names taken from the module itself
                found.add(base)
    return found


def _ours(target: str, mods: dict[str, Path]) -> str | None:
    while target and target not in mods:
        target = target.rpartition(".")[0]
    return target or None


def test_evaluators_never_import_orchestrator_or_tune_or_train():
    mods = _modules()
    for name, path in mods.items():
        if not name.startswith("evaluators"):
            continue
        for imp in _imports(name, path, mods):
            assert not imp.startswith("orchestrator"), f"{name} imports {imp}"
            assert not imp.startswith(("ray.tune", "ray.train")), f"{name} imports {imp}"


def test_no_import_cycles():
    mods = _modules()
    graph = {m: {o for i in _imports(m, p, mods) if (o := _ours(i, mods)) and o != m}
             for m, p in mods.items()}
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycle = stack[stack.index(n):] + [n]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_the_cycle_check_sees_function_level_imports(tmp_path):
    """The checker itself: a cycle made only by an import inside a function is found."""
    a = tmp_path / "a.py"
    a.write_text("def f():\n    from orchestrator.report import plan\n")
    mods = {"orchestrator.report.analysis": a, "orchestrator.report.plan": a}
    assert "orchestrator.report.plan" in _imports("orchestrator.report.analysis", a, mods)


def test_import_evaluators_pulls_in_no_orchestrator_or_tune():
    code = ("import json, sys, evaluators, evaluators.strategies, evaluators.curves, evaluators.rows; "
            "evaluators.strategies.get_strategy('majority'); print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO)
    mods = json.loads(out.stdout.strip().splitlines()[-1])
    bad = [m for m in mods if m.startswith(("orchestrator", "ray.tune", "ray.train", "vllm", "torch"))]
    assert not bad, bad
