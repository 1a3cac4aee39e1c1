"""``laws.audit``: fit every candidate L(N, D) form, backtest each, choose one, diagnose it, say
how sure the answer is and which runs would make it surer.  The verdict rules are in
:mod:`laws.audit.verdict`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from laws.audit import backtest as bt
from laws.audit import parallel as par
from laws.audit.answer import replicates, summarise
from laws.audit.diagnostics import diagnose
from laws.audit.proposals import propose
from laws.audit.verdict import decide, summary_of
from laws.errors import LawFitError
from laws.frontier.compute import ComputeModel, as_compute
from laws.validate import as_frame

VERDICTS = ("sound", "weak", "unidentifiable")


@dataclass
class Audit:
    """What :func:`audit` found (see its docstring); :meth:`to_dict` is JSON-ready."""

    fits: dict
    backtest: pd.DataFrame
    chosen: str | None
    diagnostics: dict
    verdict: str
    reasons: list[str]
    next_runs: pd.DataFrame
    answer: dict | None
    scores: dict = field(default_factory=dict)
    choice: str = ""
    skipped: dict = field(default_factory=dict)
    approaches: dict = field(default_factory=dict)
    answers: dict = field(default_factory=dict)     # form -> its own answer (for comparison)
    compute: ComputeModel = field(default_factory=ComputeModel)
    notes: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)

    @property
    def fit(self) -> Any:
        """The chosen form's :class:`~laws.fit.LawFit` (None when nothing could be fitted)."""
        return self.fits.get(self.chosen) if self.chosen else None

    def summary(self) -> str:
        """One paragraph: verdict, answer with its interval, main reasons, the next run."""
        return summary_of(self)

    def to_dict(self) -> dict:
        """JSON-safe dict (fits without their replicates; tables as lists of records)."""
        return _clean({
            "verdict": self.verdict, "reasons": list(self.reasons), "chosen": self.chosen,
            "choice": self.choice, "answer": self.answer, "answers": self.answers,
            "next_runs": self.next_runs.to_dict(orient="records"),
            "backtest": self.backtest.to_dict(orient="records"), "scores": self.scores,
            "diagnostics": self.diagnostics, "approaches": self.approaches,
            "fits": {k: f.to_dict() for k, f in self.fits.items()}, "skipped": self.skipped,
            "compute": self.compute.to_dict(), "notes": list(self.notes),
            "settings": self.settings, "data": self.data, "summary": self.summary()})


def _clean(o: Any) -> Any:
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, (np.bool_, bool)):
        return bool(o)
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (float, np.floating)):
        return float(o) if np.isfinite(o) else None
    if isinstance(o, np.ndarray):
        return _clean(o.tolist())
    return o


def default_forms() -> list[str]:
    """Every registered form whose inputs are exactly N and D and whose target is the loss."""
    import laws

    return [n for n, f in laws.forms().items() if tuple(f.inputs) == ("N", "D") and f.target == "loss"]


def _approaches(df: pd.DataFrame, bootstrap: int, seed: int, cm: ComputeModel, level: float) -> dict:
    """Approaches 1 and 2 on the runs (exact FLOPs), where the data allow: the envelope needs 3
    sizes (exact N) with 2 or more token budgets each, the IsoFLOP parabolas 2 FLOP levels."""
    import laws

    out: dict[str, dict] = {}
    per_size = df.groupby("N")["D"].nunique()      # the envelope's curves: runs of one exact N
    if (per_size >= 2).sum() >= 3:
        try:
            f = laws.frontier_envelope(df[["N", "D", "C", "loss"]], bootstrap=bootstrap, seed=seed, level=level)
            out["envelope"] = {"a": f.a, "ci": list(f.ci.get("a", ())) or None}
        except LawFitError as exc:
            out["envelope"] = {"a": None, "ci": None, "error": str(exc)}
    else:
        out["envelope"] = {"a": None, "ci": None,
                           "error": "fewer than 3 sizes with 2 or more token budgets"}
    try:
        f = laws.frontier_isoflop(df[["N", "D", "C", "loss"]], bootstrap=bootstrap, seed=seed,
                                  level=level, compute=cm)
        out["isoflop"] = {"a": f.a, "ci": list(f.ci.get("a", ())) or None}
    except LawFitError as exc:
        out["isoflop"] = {"a": None, "ci": None, "error": str(exc)}
    return out


def _with_model_spread(answer: dict | None, ties: list, chosen: str | None) -> dict | None:
    """The chosen form's answer with its intervals widened to cover the intervals of every form
    that backtests as well (the data cannot tell those laws apart, so neither can the answer)."""
    if answer is None:
        return None
    out = dict(answer)
    out["forms"] = [chosen] + [f for f, _ in ties]
    for k in ("N", "D", "loss"):
        los = [a.get(f"{k}_lo") for a in [answer] + [t for _, t in ties]]
        his = [a.get(f"{k}_hi") for a in [answer] + [t for _, t in ties]]
        if all(v is not None for v in los + his):
            out[f"{k}_lo"], out[f"{k}_hi"] = min(los), max(his)
    key = "N" if out["quantity"] == "N*" else "loss"
    lo, hi, est = out[f"{key}_lo"], out[f"{key}_hi"], out[key]
    if lo and hi and est:
        out["factor"], out["rel_halfwidth"] = hi / lo, (hi - lo) / (2 * est)
    return out


def audit(data: Any, forms: Any = None, holdout: str | None = "largest_N", bootstrap: int = 200,
          seed: int = 0, target_C: float | None = None, *, compute: Any = None,
          loss: str = "huber", delta: float = 1e-3, level: float = 0.95,
          workers: int | None = None) -> Audit:
    """Audit the L(N, D) laws of a table of runs: fits, backtest, chosen form, diagnostics,
    verdict with reasons, and the next runs to make.

    ``data``: columns ``N, D, loss`` and, when known, ``C`` (exact training FLOPs; 6·N·D
    otherwise) and ``run_id``.  ``forms``: names to compare (default: every registered form with
    inputs N, D and target loss).  ``holdout``: ``"largest_N"`` (the largest size group is
    predicted by the others), ``"largest_C"`` (the top FLOP level) or None.  ``bootstrap``
    replicates give every interval; ``target_C``: the training FLOPs the answer is asked for
    (N*, D*, loss there); without it the answer is the largest run's predicted loss.
    ``compute``: a :class:`~laws.frontier.compute.ComputeModel` (default: fitted to ``C``).
    ``workers``: processes for the fits (default: 2 on machines with 2+ cores for big tables).

    Steps: every form is fitted with ``bootstrap`` replicates; the backtest refits each without
    the held-out runs (and leaves each size out when there are >= 5); the form with the lowest
    backtest error is chosen (ties go to fewer parameters); its diagnostics, its answer and the
    approaches 1/2 frontiers give the verdict (rules: :mod:`laws.audit.verdict`); the
    proposals rank candidate runs by the share of the answer's variance they would remove per
    FLOP (:mod:`laws.audit.proposals`).  Bad input raises :class:`laws.LawFitError`.
    """
    import laws

    df = as_frame(data, ("N", "D", "loss"), "audit", positive=("N", "D", "loss"))
    had_c = "C" in df.columns
    if had_c:
        df["C"] = pd.to_numeric(df["C"], errors="coerce")
        if not (np.isfinite(df["C"]).all() and (df["C"] > 0).all()):
            raise LawFitError("audit: column 'C' (exact training FLOPs) must be positive and finite")
    cm = as_compute(compute) if compute is not None else \
        ComputeModel.fit(df["N"], df["D"], df["C"] if had_c else None)
    if not had_c:
        df["C"] = cm.flops(df["N"], df["D"])
    df["C_6nd"] = 6.0 * df["N"] * df["D"]
    if target_C is not None and not (np.isfinite(target_C) and target_C > 0):
        raise LawFitError(f"audit: target_C must be a positive number of FLOPs, got {target_C!r}")
    names = default_forms() if forms is None else [laws.get_form(f).name for f in
                                                   ([forms] if isinstance(forms, str) else forms)]
    settings = {"loss": loss, "delta": delta}
    frame = df[["N", "D", "loss"]]
    full = [(name, frame, bootstrap, seed, settings) for name in names]
    folds, bt_notes = bt.plan(df, holdout)
    back = bt.jobs(df, names, folds, bootstrap, seed, settings)
    hub = [(name, frame, 0, seed, {"loss": loss, "delta": d}) for name in names for d in (delta * 10, delta / 10)]
    all_jobs = full + back + hub
    if workers is None:
        workers = par.default_workers(len(df), len(all_jobs))
    res = par.pmap(par.fit_job, all_jobs, workers, cost=[par.fit_cost(j) for j in all_jobs])
    fits = {n: r for n, r in zip(names, res[:len(names)]) if not isinstance(r, str)}
    skipped = {n: r for n, r in zip(names, res[:len(names)]) if isinstance(r, str)}
    ok_forms = [f for f in names if f in fits]
    table = bt.assemble(df, names, folds, res[len(names):len(names) + len(back)], level, bt_notes)
    table = table[table["form"].isin(ok_forms)].reset_index(drop=True)
    hub_res = res[len(names) + len(back):]
    hubs = {n: hub_res[2 * i:2 * i + 2] for i, n in enumerate(names)}
    sc = bt.scores(table)
    n_params = {f: len(laws.get_form(f).params) for f in ok_forms}
    chosen, choice = bt.choose(ok_forms, sc, n_params)
    c_max = float(df["C"].max())
    answers, reps = {}, {}
    for f in ok_forms:
        reps[f] = replicates(fits[f], df, target_C, cm)
        answers[f] = summarise(reps[f], level, c_max)
    diags = {f: diagnose(fits[f], df, target_C, cm, answers[f], hubs[f], level) for f in ok_forms}
    with np.errstate(all="ignore"):
        approaches = _approaches(df, bootstrap, seed, cm, level)
    n_sizes = int(bt.groups(df["N"].to_numpy(), max_groups=10**9).max() + 1)
    n_budgets = int(bt.groups(df["D"].to_numpy(), max_groups=10**9).max() + 1)
    errs = {f: sc[f]["score"] for f in ok_forms if sc.get(f, {}).get("score") is not None}
    ties = [(f, answers[f]) for f in (bt.ties(errs, chosen) if chosen in errs else []) if f != chosen]
    answer = _with_model_spread(answers.get(chosen), ties, chosen)
    verdict, reasons = decide(n_sizes=n_sizes, n_budgets=n_budgets, diag=diags.get(chosen),
                              answer=answer, score=sc.get(chosen),
                              holdout_note=bt_notes.get("holdout", ""), approaches=approaches,
                              ties=ties, chosen=chosen)
    notes = [f"{k}: {v}" for k, v in bt_notes.items() if k not in ("holdout",)]
    notes += [f"{k} not fitted: {v}" for k, v in skipped.items()]
    if chosen is not None:
        fit = fits[chosen]
        nxt, note = propose(fit, reps[chosen], df, cm, bt.noise_of(fit, df), target_C=target_C,
                            level=level, seed=seed, workers=workers)
        notes.append(f"next runs: {note}")
    else:
        nxt = pd.DataFrame(columns=["N", "D", "C", "C_6nd", "gain", "gain_per_flop", "loss", "loss_lo", "loss_hi"])
    data_info = {"n_points": int(len(df)), "n_sizes": n_sizes, "n_budgets": n_budgets,
                 "N": [float(df["N"].min()), float(df["N"].max())],
                 "D": [float(df["D"].min()), float(df["D"].max())],
                 "C": [float(df["C"].min()), c_max], "C_6nd_max": float(df["C_6nd"].max())}
    return Audit(fits=fits, backtest=table, chosen=chosen, diagnostics=diags, verdict=verdict,
                 reasons=reasons, next_runs=nxt, answer=answer, scores=sc, choice=choice,
                 skipped=skipped, approaches=approaches, answers=answers, compute=cm, notes=notes,
                 settings={"forms": names, "holdout": holdout, "bootstrap": int(bootstrap),
                           "seed": int(seed), "target_C": target_C, "loss": loss, "delta": delta,
                           "level": level},
                 data=data_info)
