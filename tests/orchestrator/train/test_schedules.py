"""LR schedules against hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pytest

from orchestrator.train.schedules import ScheduleError, lr_at


def test_constant_with_warmup():
    # T=10, warmup 0.2 -> W=2: steps 0,1 -> 0.5, 1.0 (x peak 2.0)
    assert lr_at(0, 10, 2.0, "constant", 0.2) == pytest.approx(1.0)
    assert lr_at(1, 10, 2.0, "constant", 0.2) == pytest.approx(2.0)
    assert lr_at(9, 10, 2.0, "constant", 0.2) == pytest.approx(2.0)


def test_cosine_hand_values():
    # T=10, no warmup, min 0.1·peak: p = s/10
    peak, lo = 1.0, 0.1
    assert lr_at(0, 10, peak, "cosine", 0.0, min_lr_frac=lo) == pytest.approx(1.0)
    assert lr_at(5, 10, peak, "cosine", 0.0, min_lr_frac=lo) == pytest.approx(0.55)
    assert lr_at(10, 10, peak, "cosine", 0.0, min_lr_frac=lo) == pytest.approx(0.1)
    # with warmup W=2: p = (s-2)/8; step 4 -> p=0.25
    want = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.25))
    assert lr_at(4, 10, peak, "cosine", 0.2, min_lr_frac=lo) == pytest.approx(want)
    assert lr_at(0, 10, peak, "cosine", 0.2) == pytest.approx(0.5)


def test_wsd_hand_values():
    # T=10, W=1, K=4: stable on steps 1..5, decay p=(s-6)/4 on 6..9 to 0 at 10
    lrs = lr_at(np.arange(11), 10, 1.0, "wsd", 0.1, 0.4, 0.0)
    assert lrs.tolist() == pytest.approx([1.0, 1, 1, 1, 1, 1, 1.0, 0.75, 0.5, 0.25, 0.0])
    # min_lr_frac 0.2: step 8 -> 1 - 0.8*0.5 = 0.6
    assert lr_at(8, 10, 1.0, "wsd", 0.0, 0.4, 0.2) == pytest.approx(0.6)
    # warmup longer than stable: warmup ramp then decay applies min of the two
    assert lr_at(0, 10, 1.0, "wsd", 0.5, 0.5) == pytest.approx(0.2)


def test_vectorised_matches_scalar():
    steps = np.arange(0, 50)
    for sched in ("cosine", "wsd", "constant"):
        vec = lr_at(steps, 50, 3e-3, sched, 0.1, 0.3, 0.05)
        assert vec.shape == (50,)
        assert vec == pytest.approx([lr_at(int(s), 50, 3e-3, sched, 0.1, 0.3, 0.05) for s in steps])


@pytest.mark.parametrize("kw,field", [
    (dict(schedule="linear"), "schedule"), (dict(total_steps=0), "total_steps"),
    (dict(warmup_frac=1.5), "warmup_frac"), (dict(min_lr_frac=-0.1), "min_lr_frac"),
])
def test_errors(kw, field):
    args = dict(step=0, total_steps=10, peak_lr=1.0) | kw
    with pytest.raises(ScheduleError, match=field):
        lr_at(**args)
