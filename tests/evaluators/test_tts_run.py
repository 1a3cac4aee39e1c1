"""tts spec validation, the atomic row store, and the trial loop's resume/restart bookkeeping
(fake engine). The real Ray Tune + vLLM path is in test_tts_resume.py."""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fake_engine import FakeArithEngine, StepOracle  # noqa: E402

from evaluators.accounting import ModelShape  # noqa: E402
from evaluators.tts_run import ModelEntry, resolve_models, run_trial  # noqa: E402
from evaluators.tts_spec import TTSSpecError, load_spec  # noqa: E402
from evaluators.tts_store import KEY, TTSStore  # noqa: E402

SHAPE = ModelShape(n_params=1000, n_layers=2, d_model=64, n_heads=2, n_kv_heads=2,
                   head_dim=32, vocab=20)


def spec_dict(tmp_path, **over):
    d = {"name": "t", "storage": str(tmp_path), "models": [str(tmp_path)],
         "task": {"name": "arith", "options": {"n_problems": 10}},
         "strategies": ["majority", "best_of_n", "particle_filtering",
                        {"name": "beam_search", "options": {"beam_width": 2}}],
         "budgets": {"parallel": [2, 4], "sequential": [16], "n": 2}, "chunk_size": 4}
    d.update(over)
    return d


def fake_factory(log, fail_at=None):
    def make():
        eng = FakeArithEngine(0.3)
        eng.shape = SHAPE
        orig = eng.generate

        def generate(prompts, sampling):
            log.append(1)
            if fail_at is not None and len(log) == fail_at:
                raise RuntimeError("engine process died")
            return orig(prompts, sampling)

        eng.generate = generate
        return eng
    return make


def oracle(name, engine, task, mode, options):
    return StepOracle(task)


@pytest.mark.parametrize("over,needle", [
    ({"bogus": 1}, "bogus"),
    ({"budgets": {"parallel": [0]}}, "budgets.parallel"),
    ({"strategies": [{"name": "beam_search", "options": {"beam_width": 0}}]}, "beam_width"),
    ({"strategies": ["majority", "majority"]}, "label"),
    ({"strategies": ["nope"]}, "unknown strategy"),
    ({"models": [{"path": "x", "sweep": "y"}]}, "models.0"),
    ({"name": "a b"}, "name"),
])
def test_spec_errors_are_one_line_and_name_the_field(tmp_path, over, needle):
    with pytest.raises(TTSSpecError) as ei:
        load_spec(spec_dict(tmp_path, **over))
    msg = str(ei.value)
    assert needle in msg and "\n" not in msg and ei.value.exit_code == 2


def test_budget_points_and_models_from_a_sweep(tmp_path):
    spec = load_spec(spec_dict(tmp_path, budgets={"parallel": [1, 4], "sequential": [16, 64],
                                                  "n": 4, "max_tokens": 64}))
    assert spec.budgets.points() == [("parallel", 1, 64), ("parallel", 4, 64),
                                     ("sequential", 4, 16)]          # (4, 64) only once
    sweep = tmp_path / "sw"
    (sweep / "ck").mkdir(parents=True)
    (sweep / "ck" / "config.json").write_text("{}")
    pd.DataFrame({"run_id": ["a", "b"], "status": ["done", "failed"], "N": [123, 456],
                  "checkpoint": ["ck", ""]}).to_parquet(sweep / "runs.parquet")
    models = resolve_models(load_spec(spec_dict(tmp_path, models=[{"sweep": str(sweep)}])))
    assert models == [ModelEntry("a", str(sweep / "ck"), 123)]


def test_store_appends_atomically_and_dedupes(tmp_path):
    store = TTSStore(tmp_path)
    row = {k: 1 for k in KEY} | {"correct": True}
    store.append([row])
    store.append([row | {"correct": False}, row | {"problem_id": 2}])
    (tmp_path / "tts" / ".tmp-part-x.parquet").write_bytes(b"half-written")  # ignored
    df = store.read()
    assert len(df) == 2 and bool(df.loc[df.problem_id == 1, "correct"].item()) is True
    assert len(store.compact()) == 2 and not list((tmp_path / "tts").glob("part-*"))
    assert len(TTSStore(tmp_path).read()) == 2


def test_trial_writes_rows_then_resumes_without_duplicates(tmp_path):
    spec = load_spec(spec_dict(tmp_path))
    model, log = ModelEntry("m", "/x", 1000), []
    n = run_trial(spec, model, 0, engine_factory=fake_factory(log), reward_factory=oracle)
    # 4 methods x 3 budget points (parallel 2, 4; sequential 16 at n=2) x 10 problems
    assert n == 4 * 3 * 10
    calls = len(log)
    assert run_trial(spec, model, 0, engine_factory=fake_factory(log), reward_factory=oracle) == 0
    assert len(log) == calls                                  # nothing regenerated
    df = TTSStore(spec.run_dir).read()
    assert not df.duplicated(list(KEY)).any() and len(df) == n
    assert (df["policy_flops"] > 0).all() and (df["completion_tokens"] > 0).all()
    assert set(df["budget_axis"]) == {"parallel", "sequential"}
    assert (df.loc[df.method == "majority", "reward_model"] == "").all()


def test_dead_engine_is_rebuilt_and_rows_match_an_uninterrupted_run(tmp_path):
    ref = load_spec(spec_dict(tmp_path / "a"))
    run_trial(ref, ModelEntry("m", "/x", 1000), 0, engine_factory=fake_factory([]),
              reward_factory=oracle)
    spec = load_spec(spec_dict(tmp_path / "b"))
    built = []

    def counting(log=[]):  # noqa: B006 — one call log across rebuilt engines
        built.append(1)
        return fake_factory(log, fail_at=7)()

    run_trial(spec, ModelEntry("m", "/x", 1000), 0, engine_factory=counting,
              reward_factory=oracle)
    assert len(built) == 2                                    # rebuilt once after the failure
    cols = list(KEY) + ["correct", "answer", "completion_tokens"]
    a = TTSStore(ref.run_dir).read()[cols].sort_values(list(KEY)).reset_index(drop=True)
    b = TTSStore(spec.run_dir).read()[cols].sort_values(list(KEY)).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
