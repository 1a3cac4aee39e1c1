"""`scalelab tts curves` output and `scalelab tts run` user errors (exit 2, one line)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2]))
from fake_engine import FakeArithEngine, StepOracle  # noqa: E402

from evaluators.accounting import ModelShape  # noqa: E402
from orchestrator.cli import main  # noqa: E402
from orchestrator.runs.tts import ModelEntry, run_trial  # noqa: E402
from orchestrator.spec.tts import TTSSpec  # noqa: E402


@pytest.fixture
def run_dir(tmp_path):
    spec = TTSSpec.from_dict({"name": "cl", "storage": str(tmp_path), "models": [str(tmp_path)],
                      "task": {"name": "arith", "options": {"n_problems": 6}},
                      "strategies": ["majority", "best_of_n"],
                      "budgets": {"parallel": [1, 4]}})

    def make():
        e = FakeArithEngine(0.4)
        e.shape = ModelShape(1000, 2, 64, 2, 2, 32, 20)
        return e

    run_trial(spec, ModelEntry("tiny", "/x", 1000), 0, engine_factory=make,
              reward_factory=lambda name, eng, task, mode, opts: StepOracle(task))
    return spec.location


def test_curves_prints_accuracy_and_resampled_curves(run_dir, capsys):
    assert main(["tts", "curves", str(run_dir), "--resamples", "20"]) == 0
    out = capsys.readouterr().out
    assert "accuracy per method and budget" in out and "best_of_n" in out
    assert "pass@n" in out and "maj@n" in out and "bon@n" in out


@pytest.mark.parametrize("argv,needle", [
    (["tts", "curves", "/nonexistent/dir"], "does not exist"),
    (["tts", "run", "/nonexistent/spec.yaml"], "does not exist"),
])
def test_user_errors_exit_2_with_one_line(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err


def test_bad_spec_field_exits_2(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text("name: x\nmodels: [a]\nstrategies: [majority]\nbudgets: {parallel: [0]}\n")
    assert main(["tts", "run", str(spec)]) == 2
    assert "budgets.parallel" in capsys.readouterr().err


def test_example_spec_parses():
    spec = TTSSpec.from_yaml(Path(__file__).parents[3] / "examples" / "tts_quickstart.yaml")
    assert spec.name == "tts-quickstart" and len(spec.strategies) == 6
