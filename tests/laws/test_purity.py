"""laws imports nothing of ours and no torch/ray/vllm; matplotlib only lazily."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

LAWS = Path(__file__).resolve().parents[2] / "laws"
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
