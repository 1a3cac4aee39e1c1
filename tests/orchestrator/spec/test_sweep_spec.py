"""Sweep spec: ≥ 15 distinct bad specs each name their field; expansion of ladders and WSD."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from orchestrator.spec.sweep import SpecError, SweepSpec

REPO = Path(__file__).resolve().parents[3]

GOOD = {
    "name": "t",
    "model": {"widths": [32, 64], "depths": [1, 2], "head_dim": 32, "seq_len": 64},
    "tokens": {"per_param": [5, 10]},
    "lr": {"values": [0.003]},
    "batch_tokens": [2048],
    "schedule": {"kind": "wsd", "warmup_frac": 0.05, "cooldown_frac": 0.2},
    "data": {"source": "arith", "options": {"level": 1}},
}


def _with(path: str, value):
    spec = copy.deepcopy(GOOD)
    *parents, leaf = path.split(".")
    node = spec
    for p in parents:
        node = node.setdefault(p, {})
    if value is _DROP:
        node.pop(leaf)
    else:
        node[leaf] = value
    return spec


_DROP = object()

# (description, spec, expected field path, expected words in the problem)
BAD = [
    ("negative lr", _with("lr.values", [0.001, -0.1]), "spec.lr.values[1]", "must be > 0"),
    ("duplicate lr", _with("lr.values", [0.001, 0.001]), "spec.lr.values", "duplicate"),
    ("head_dim 16", _with("model.head_dim", 16), "spec.model.head_dim", "must be one of"),
    ("width not multiple of head_dim", _with("model.widths", [48]), "spec.model.widths[0]", "multiple of head_dim"),
    ("widths without depths", _with("model.depths", _DROP), "spec.model.depths", "required"),
    ("both widths and target_N", _with("model.target_N", [1e5]), "spec.model.widths", "exactly one"),
    ("seq_len too small", _with("model.seq_len", 4), "spec.model.seq_len", ">= 8"),
    ("unknown top-level field", _with("epochs", 3), "spec.epochs", "unknown field"),
    ("unknown nested field", _with("schedule.decay", 0.1), "spec.schedule.decay", "unknown field"),
    ("bad schedule kind", _with("schedule.kind", "linear"), "spec.schedule.kind", "cosine"),
    ("warmup+cooldown >= 1", _with("schedule.cooldown_frac", 0.96), "spec.schedule.cooldown_frac", "< 1"),
    ("both D and per_param", _with("tokens.D", [100000]), "spec.tokens.D", "exactly one"),
    ("negative per_param", _with("tokens.per_param", [5, -1]), "spec.tokens.per_param[1]", "must be > 0"),
    ("batch not multiple of seq_len", _with("batch_tokens", [1000]), "spec.batch_tokens[0]", "multiple of model.seq_len"),
    ("duplicate seeds", _with("seeds", [0, 0]), "spec.seeds", "duplicate"),
    ("negative seed", _with("seeds", [-1]), "spec.seeds[0]", ">= 0"),
    ("unknown data source", _with("data.source", "wikipedia"), "spec.data.source", "unknown data source"),
    ("bad data option", _with("data.options", {"level": 9}), "spec.data.options.level", "must be one of"),
    ("zero cpus", _with("resources.cpus", 0), "spec.resources.cpus", "> 0"),
    ("zero workers", _with("resources.workers", 0), "spec.resources.workers", ">= 1"),
    ("max_concurrent 0", _with("max_concurrent", 0), "spec.max_concurrent", ">= 1"),
    ("optuna without n_trials", _with("search", {"kind": "optuna"}), "spec.search.n_trials", "required"),
    ("asha on an N x D grid", _with("scheduler", {"kind": "asha"}), "spec.scheduler.kind", "final loss of a shorter run"),
    ("storage scheme", _with("storage", "ftp://host/dir"), "spec.storage", "unsupported URI scheme"),
    ("bad name", _with("name", "my sweep/1"), "spec.name", "directory name"),
    ("lr not a number", _with("lr.values", ["fast"]), "spec.lr.values[0]", "must be a number"),
    ("absolute D below two batches", {**_with("tokens.per_param", _DROP), "tokens": {"D": [2048]}}, "spec.tokens.D[0]", "2 batches"),
    ("mup base width 0", _with("lr.mup_base_width", 0), "spec.lr.mup_base_width", "> 0"),
]


@pytest.mark.parametrize("desc,spec,field,words", BAD, ids=[b[0] for b in BAD])
def test_bad_spec_names_field(desc, spec, field, words):
    with pytest.raises(SpecError) as exc:
        SweepSpec.from_dict(spec)
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(field + ":"), msg
    assert words in msg, msg
    assert exc.value.exit_code == 2


def test_at_least_15_distinct_fields():
    assert len({b[2] for b in BAD}) >= 15


def test_asha_allowed_for_hyperparameter_subsweep():
    spec = _with("scheduler", {"kind": "asha"})
    spec.update(model={"widths": [32], "depths": [1]}, tokens={"D": [16384]},
                lr={"values": [1e-3, 3e-3, 1e-2]}, schedule={"kind": "cosine"})
    assert SweepSpec.from_dict(spec).scheduler.kind == "asha"


def test_bad_yaml_is_one_line(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        SweepSpec.from_yaml(p)


def test_wsd_expansion_trunks_then_branches():
    spec = SweepSpec.from_dict(GOOD)
    runs = spec.expand(vocab_size=20)
    trunks = [r for r in runs if r.parent_run_id is None]
    branches = [r for r in runs if r.parent_run_id is not None]
    assert runs[: len(trunks)] == trunks                   # trunks first
    assert len(trunks) == 4 and len(branches) == 8          # 4 sizes x 2 budgets
    by_id = {t.run_id: t for t in trunks}
    for b in branches:
        trunk = by_id[b.parent_run_id]
        assert b.schedule == "wsd" and trunk.schedule == "constant"
        assert b.tokens % b.batch_tokens == 0 and b.branch_from_tokens % b.batch_tokens == 0
        assert b.branch_from_tokens in trunk.save_at_tokens
        assert trunk.tokens == max(trunk.save_at_tokens)
        # the cooldown is ~20 % of the branch's own D (rounded to whole batches)
        assert abs((b.tokens - b.branch_from_tokens) / b.tokens - 0.2) < b.batch_tokens / b.tokens
    assert len({r.run_id for r in runs}) == len(runs)


def test_per_param_budgets_follow_N():
    from orchestrator.train.model import param_counts

    spec = SweepSpec.from_dict({**GOOD, "schedule": {"kind": "cosine"}})
    for r in spec.expand(vocab_size=20):
        n, _ = param_counts(r.width, r.depth, r.head_dim, r.vocab_size)
        assert min(abs(r.tokens - m * n) for m in (5, 10)) <= r.batch_tokens / 2


def test_target_n_uses_aspect_ratio():
    spec = SweepSpec.from_dict({**GOOD, "model": {"target_N": [2e4, 2e5], "aspect_ratio": 32}})
    shapes = {(r.width, r.depth) for r in spec.expand(20)}
    assert len(shapes) == 2 and all(w % 32 == 0 for w, _ in shapes)


def test_adding_a_value_keeps_existing_run_ids():
    a = {r.run_id for r in SweepSpec.from_dict(GOOD).expand(20)}
    b = {r.run_id for r in SweepSpec.from_dict(_with("lr.values", [0.003, 0.01])).expand(20)}
    assert a < b and len(b) == 2 * len(a)


def test_quickstart_example_is_valid():
    spec = SweepSpec.from_yaml(REPO / "examples" / "quickstart.yaml")
    runs = spec.expand(20)
    sizes = {(r.width, r.depth) for r in runs}
    budgets = {r.tokens for r in runs if r.parent_run_id}
    assert len(sizes) >= 5 and spec.schedule.kind == "wsd" and spec.data.source == "mix"
    # issue 10: shipped text for the law, the verifiable task for test time, in one mixture
    assert {m["source"] for m in spec.data.options["mix"]} == {"python", "arith"}
    assert all(sum(1 for r in runs if r.parent_run_id and (r.width, r.depth) == s) >= 3 for s in sizes)
    assert len(budgets) >= 3
    assert SweepSpec.from_dict(__import__("yaml").safe_load(spec.to_yaml())) == spec


def test_long_ladder_example_is_what_its_comments_say():
    """examples/ladder_long.yaml: one depth for every size (the shape effect it avoids), >= 5
    sizes over >= 16x in N, >= 3 budgets each, 4x the quickstart's largest budget, same data."""
    from orchestrator.train.model import param_counts

    spec = SweepSpec.from_yaml(REPO / "examples" / "ladder_long.yaml")
    quick = SweepSpec.from_yaml(REPO / "examples" / "quickstart.yaml")
    runs = spec.expand(20)
    sizes = {(r.width, r.depth) for r in runs}
    assert {d for _, d in sizes} == {1} and len(sizes) == 5
    ns = sorted(param_counts(w, d, spec.model.head_dim, 1024)[0] for w, d in sizes)
    assert ns[0] == 13408 and ns[-1] == 317920          # 23.7x, as the comments say
    assert all(sum(1 for r in runs if r.parent_run_id and (r.width, r.depth) == s) >= 3 for s in sizes)
    assert max(spec.tokens.D) == 4 * max(quick.tokens.D)
    assert spec.data == quick.data and spec.lr == quick.lr and spec.schedule == quick.schedule
