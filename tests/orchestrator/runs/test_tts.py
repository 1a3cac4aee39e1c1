"""The test-time runner's trial loop: resume and engine-restart bookkeeping (fake engine),
models resolved from a sweep directory. The real Ray Tune + vLLM path is in test_tts_resume.py."""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parents[2]))
from fake_engine import FakeArithEngine, StepOracle, tts_spec_dict  # noqa: E402

from evaluators.accounting import ModelShape  # noqa: E402
from evaluators.rows import KEY  # noqa: E402
from orchestrator.runs.sweepdir import SweepDir  # noqa: E402
from orchestrator.runs.tts import ModelEntry, resolve_models, run_trial  # noqa: E402
from orchestrator.spec.tts import TTSSpec  # noqa: E402

SHAPE = ModelShape(n_params=1000, n_layers=2, d_model=64, n_heads=2, n_kv_heads=2,
                   head_dim=32, vocab=20)


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


def test_models_from_a_sweep_are_its_done_runs_with_checkpoints(tmp_path):
    sweep = tmp_path / "sw"
    (sweep / "ck").mkdir(parents=True)
    (sweep / "ck" / "config.json").write_text("{}")
    pd.DataFrame({"run_id": ["a", "b"], "status": ["done", "failed"], "N": [123, 456],
                  "checkpoint": ["ck", ""]}).to_parquet(sweep / "runs.parquet")
    models = resolve_models(TTSSpec.from_dict(tts_spec_dict(tmp_path, models=[{"sweep": str(sweep)}])))
    assert models == [ModelEntry("a", str(sweep / "ck"), 123)]


def test_trial_writes_rows_then_resumes_without_duplicates(tmp_path):
    spec = TTSSpec.from_dict(tts_spec_dict(tmp_path))
    model, log = ModelEntry("m", "/x", 1000), []
    n = run_trial(spec, model, 0, engine_factory=fake_factory(log), reward_factory=oracle)
    # 4 methods x 3 budget points (parallel 2, 4; sequential 16 at n=2) x 10 problems
    assert n == 4 * 3 * 10
    calls = len(log)
    assert run_trial(spec, model, 0, engine_factory=fake_factory(log), reward_factory=oracle) == 0
    assert len(log) == calls                                  # nothing regenerated
    df = SweepDir(spec.location).tts()
    assert not df.duplicated(list(KEY)).any() and len(df) == n
    assert (df["policy_flops"] > 0).all() and (df["completion_tokens"] > 0).all()
    assert set(df["budget_axis"]) == {"parallel", "sequential"}
    assert (df.loc[df.method == "majority", "reward_model"] == "").all()


def test_dead_engine_is_rebuilt_and_rows_match_an_uninterrupted_run(tmp_path):
    ref = TTSSpec.from_dict(tts_spec_dict(tmp_path / "a"))
    run_trial(ref, ModelEntry("m", "/x", 1000), 0, engine_factory=fake_factory([]),
              reward_factory=oracle)
    spec = TTSSpec.from_dict(tts_spec_dict(tmp_path / "b"))
    built = []

    def counting(log=[]):  # noqa: B006 — one call log across rebuilt engines
        built.append(1)
        return fake_factory(log, fail_at=7)()

    run_trial(spec, ModelEntry("m", "/x", 1000), 0, engine_factory=counting,
              reward_factory=oracle)
    assert len(built) == 2                                    # rebuilt once after the failure
    cols = list(KEY) + ["correct", "answer", "completion_tokens"]
    a = SweepDir(ref.location).tts()[cols].sort_values(list(KEY)).reset_index(drop=True)
    b = SweepDir(spec.location).tts()[cols].sort_values(list(KEY)).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_trial_rows_go_through_the_one_store_to_a_non_local_filesystem(tmp_path):
    """pyarrow's in-memory mock filesystem stands in for an object store (s3://…)."""
    import pyarrow.fs as pafs

    from orchestrator.runs.store import Store

    store = Store("bucket/runs/t", filesystem=pafs._MockFileSystem())
    assert not store.local
    spec = TTSSpec.from_dict(tts_spec_dict(tmp_path, strategies=["majority"]))
    model = ModelEntry("m", "/x", 1000)
    n = run_trial(spec, model, 0, engine_factory=fake_factory([]), reward_factory=oracle, store=store)
    assert n == 3 * 10 and store.listdir("tts")             # parts landed on the mock filesystem
    assert not (tmp_path / "t").exists()                    # nothing went to the local disk
    again = run_trial(spec, model, 0, engine_factory=fake_factory([]), reward_factory=oracle,
                      store=store)
    df = SweepDir(store).tts_table().compact()
    assert again == 0 and len(df) == n and not df.duplicated(list(KEY)).any()
    assert store.exists("tts.parquet") and not store.listdir("tts")
