"""muP with the option on: per-group LR, weight decay, init and the output multiplier follow the
documented rules (orchestrator/train/mup.py) exactly, for two widths, in the real trainer; the
saved checkpoint gives HF the logits the trainer computed."""
from __future__ import annotations

import math

import pytest
import torch

import orchestrator.train.loop as train_mod
from orchestrator.spec.base import SpecError
from orchestrator.spec.sweep import SweepSpec
from orchestrator.train.model import build_model

ETA, LAMBDA, SIGMA = 4e-3, 0.1, 0.02
HIDDEN = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _spec(**lr):
    return SweepSpec.from_dict({
        "name": "mup", "model": {"shapes": [[32, 1], [128, 1]], "head_dim": 32, "seq_len": 32},
        "tokens": {"D": [1024]}, "lr": {"values": [ETA], **lr}, "batch_tokens": [256],
        "schedule": {"kind": "constant", "warmup_frac": 0.0},
        "data": {"source": "arith", "options": {"level": 1, "pool_docs": 500, "val_docs": 50}},
        "train": {"weight_decay": LAMBDA, "eval_every": 2, "eval_tokens": 256, "log_every": 1}})


def _expected(width: int, name: str, mup: bool = True) -> dict:
    """The documented table, written out by hand: base width 32, m = width / 32 (muP off: the
    standard parametrization, m = 1 for every rule)."""
    m = width / 32 if mup else 1.0
    if name.startswith("lm_head"):
        return {"lr": ETA, "wd": LAMBDA, "std": SIGMA}
    if "embed_tokens" in name:
        return {"lr": ETA, "wd": 0.0, "std": SIGMA}
    if any(h in name for h in HIDDEN):
        return {"lr": ETA / m, "wd": LAMBDA * m, "std": SIGMA / math.sqrt(m)}
    return {"lr": ETA, "wd": 0.0, "std": None}                # RMSNorm gains (init 1)


def test_spec_turns_mup_on_by_default_with_the_smallest_width_as_base():
    runs = _spec().expand(22)
    assert {r.width: r.mup_base_width for r in runs} == {32: 32, 128: 32}
    assert {r.mup_base_width for r in _spec(mup_base_width=64).expand(22)} == {64}
    assert {r.mup_base_width for r in _spec(mup=False).expand(22)} == {None}
    with pytest.raises(SpecError, match=r"^spec\.lr\.mup_base_width: only used with mup: true"):
        _spec(mup=False, mup_base_width=32)


@pytest.mark.parametrize("width,mup", [(32, True), (128, True), (128, False)])
def test_trainer_uses_the_documented_lr_decay_and_init(tmp_path, monkeypatch, width, mup):
    made, models = [], []

    class Recording(torch.optim.AdamW):
        def __init__(self, groups, **kw):
            super().__init__(groups, **kw)
            made.append(self)

    def recording_build(*a, **kw):
        models.append(build_model(*a, **kw))
        init = {n: p.detach().clone() for n, p in models[-1].named_parameters()}
        models.append(init)
        return models[-2]

    monkeypatch.setattr(train_mod.torch.optim, "AdamW", Recording)
    monkeypatch.setattr(train_mod, "build_model", recording_build)
    cfg = next(r for r in _spec(mup=mup).expand(22) if r.width == width)
    res = train_mod.train_run(cfg, tmp_path)
    assert res.status == "done" and res.steps == 4
    model, init = models
    assert getattr(model, "mup_output_mult", None) == (None if not mup or width == 32 else 32 / width)
    group_of = {id(p): g for g in made[0].param_groups for p in g["params"]}
    assert len(group_of) == len(list(model.parameters()))
    for name, p in model.named_parameters():
        want, g = _expected(width, name, mup), group_of[id(p)]
        assert g["lr"] == pytest.approx(want["lr"], rel=1e-12), name     # after the last step
        assert g["weight_decay"] == pytest.approx(want["wd"], rel=1e-12), name
        if mup and any(h in name for h in HIDDEN):    # eta * lambda is width-invariant
            assert g["lr"] * g["weight_decay"] == pytest.approx(ETA * LAMBDA, rel=1e-12)
        if want["std"] is not None:
            assert float(init[name].std()) == pytest.approx(want["std"], rel=0.06), name
        else:
            assert torch.equal(init[name], torch.ones_like(init[name])), name


def test_init_is_sp_scaled_exactly_and_equal_to_sp_at_the_base_width():
    sp = build_model(128, 1, 32, 22, 32, seed=3)
    mu = build_model(128, 1, 32, 22, 32, seed=3, mup_base_width=32)
    for (n, a), (_, b) in zip(sp.named_parameters(), mu.named_parameters()):
        scale = 0.5 if any(h in n for h in HIDDEN) else 1.0      # 1/sqrt(128/32)
        assert torch.equal(b.detach(), a.detach() * scale), n
    base = build_model(32, 1, 32, 22, 32, seed=3, mup_base_width=32)
    plain = build_model(32, 1, 32, 22, 32, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(base.state_dict().values(), plain.state_dict().values()))
    x = torch.randint(0, 22, (2, 16))
    assert torch.equal(base(input_ids=x).logits, plain(input_ids=x).logits)


def test_output_multiplier_divides_the_logits_by_m():
    mu = build_model(128, 1, 32, 22, 32, seed=1, mup_base_width=32)
    x = torch.randint(0, 22, (2, 16))
    with torch.no_grad():
        h = mu.model(input_ids=x).last_hidden_state
        want = torch.nn.functional.linear(h, mu.lm_head.weight) / 4
        assert torch.allclose(mu(input_ids=x).logits, want, rtol=1e-6, atol=1e-7)


def test_saved_checkpoint_folds_the_multiplier_for_hf(tmp_path):
    from transformers import AutoModelForCausalLM

    cfg = next(r for r in _spec().expand(22) if r.width == 128)
    res = train_mod.train_run(cfg, tmp_path)
    state = train_mod.load_state(tmp_path / "resume" / "state.pt")
    trained = build_model(128, 1, 32, 22, 32, cfg.seed, cfg.mup_base_width)
    trained.load_state_dict(state["model"])
    hf = AutoModelForCausalLM.from_pretrained(res.checkpoint)
    x = torch.randint(0, 22, (2, 16))
    with torch.no_grad():
        a, b = trained(input_ids=x).logits, hf(input_ids=x).logits
    assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(hf.lm_head.weight, trained.lm_head.weight)   # folded: W / 4
