"""The verdict of an audit — ``sound``, ``weak`` or ``unidentifiable`` — and its reasons in words.

**unidentifiable** (the runs cannot determine the law; its numbers are not an answer) when any of:

- U1: fewer than 3 model sizes or 3 token budgets — a law with an offset and a power law in
  each input needs three values of each to tell the terms apart;
- U2: a parameter of the chosen fit sits at (within 1 % of) a bound of its search box — the box
  stopped the optimiser, not the data — or the fitted curve does not feel it (changing it by a
  unit, e.g. E by a factor e, moves no fitted log loss by 1e-3, the Huber delta);
- U3: a parameter's 95 % interval reaches a bound (>= 2.5 % of replicates there, the interval's
  tail) — the data allow it to run away;
- U4: several different parameter sets fit equally well (their objectives within its sampling
  error) — several basins, so the estimate is one of many;
- U5: the answer is not located: N* at the target sits on the searched range's edge, more than
  half of the replicates have no answer, or its 95 % interval spans more than a factor 10 — the
  runs do not give even its order of magnitude.

**weak** (determined, but not to be trusted for a decision without more runs) when none of the
above and any of:

- W1: no backtest could be run — the law was never checked on runs it did not see;
- W2: refitted without the held-out runs, the chosen form misses them by more than 3 % on
  average — about half the loss change one doubling of N makes for typical exponents
  (alpha ~ 0.3 with the N term a fifth to a third of the loss), so the law cannot rank the next
  size; or at least 2 held-out runs and more than a third of them fall outside their 95 %
  prediction intervals (5 % expected) — the intervals are too narrow;
- W3: the answer is loose: N* known only within more than a factor 2 (IsoFLOP curves are flat,
  so a factor-2 error in N costs little loss; beyond it the choice of N matters more than the law
  can say), or the predicted loss's 95 % half-width above 3 % (the backtest tolerance);
- W4: refitting with the Huber delta x10 or /10 moves the answer by more than its interval's
  half-width — a modelling choice, not the data, decides it;
- W5: the approaches disagree on the N*(C) exponent: the law's own frontier and the envelope or
  IsoFLOP fits differ by more than 0.1 with disjoint intervals (0.1 in the exponent is a factor
  2 in N* over three decades of compute — W3's tolerance);
- W6: more than 5 % of the bootstrap replicates failed — as much as a 95 % interval's tails, so
  the interval from the survivors cannot be trusted;
- W7: another form backtests as well (a tie, see :func:`laws.audit.backtest.choose`) but its
  interval for the answer and the chosen form's do not overlap — the form, not the data,
  decides it.

**sound** otherwise; its reasons then say what was checked.  "The answer's interval" is the
chosen form's bootstrap interval widened to cover the intervals of every form that backtests
as well (a tie): the runs cannot tell those laws apart, so the answer cannot be surer than
their union.  The thresholds are fixed by the
arguments above, not tuned to any table; tests check each rule on synthetic ground truth.

Not a rule, said under any verdict (last among the reasons): the sizes whose runs all sit on one
side of the law (diagnostic ``size_offsets``, :mod:`laws.audit.diagnostics`). The law may still
predict well on average; the sentence says what it leaves out, so that a reader does not take a
size's loss for the law's.
"""
from __future__ import annotations

from typing import Any

import numpy as np

BACKTEST_TOL = 0.03
FACTOR_WEAK, FACTOR_UNIDENTIFIABLE = 2.0, 10.0
LOSS_HALFWIDTH_WEAK = 0.03
A_TOL = 0.1
FAILED_WEAK = 0.05

_NAMES = {"alpha": "α", "beta": "β", "eta": "η", "gamma": "γ"}
_WHY_LOW = {"E": "these runs do not show where the loss flattens"}


def _p(name: str) -> str:
    return _NAMES.get(name, name)


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _answer_text(a: dict) -> str:
    if a["quantity"] == "N*":
        return f"N* at C = {a['C']:.3g} FLOPs"
    return f"the predicted loss of the largest run (N = {a['N']:.3g}, D = {a['D']:.3g})"


def decide(*, n_sizes: int, n_budgets: int, diag: dict | None, answer: dict | None,
           score: dict | None, holdout_note: str, approaches: dict, ties: list[tuple[str, dict]],
           chosen: str | None) -> tuple[str, list[str]]:
    """Apply the rules of the module doc; returns ``(verdict, reasons)``."""
    unid: list[str] = []
    weak: list[str] = []
    if n_sizes < 3:
        unid.append(f"Only {n_sizes} model size(s): the N term of the law cannot be separated from "
                    "the offset (3 sizes at least).")
    if n_budgets < 3:
        unid.append(f"Only {n_budgets} token budget(s): the D term cannot be separated from the "
                    "offset (3 budgets at least).")
    if chosen is None or diag is None or answer is None:
        unid.append("No law form could be fitted to these runs.")
        return "unidentifiable", unid
    for b in diag["bounds"]:
        why = _WHY_LOW.get(b["param"]) if b["side"] == "lower" else None
        unid.append(f"{_p(b['param'])} sits at its {b['side']} bound ({b['value']:.3g}): "
                    + (why or "the runs do not determine it") + ".")
    for b in diag.get("negligible", []):
        why = _WHY_LOW.get(b["param"]) or "the runs do not determine it"
        unid.append(f"{_p(b['param'])} is negligible ({b['value']:.3g}: changing it e-fold moves the fitted "
                    f"loss by at most {100 * b['effect']:.2g} %): {why}.")
    hit = {b["param"] for b in diag["bounds"]} | {b["param"] for b in diag.get("negligible", [])}
    for c in diag["ci_at_bound"]:
        if c["param"] not in hit:
            unid.append(f"{_p(c['param'])}'s 95 % interval runs to a bound of its range "
                        f"({100 * c['share']:.0f} % of the bootstrap replicates sit there).")
    if diag["basins"] > 1 and not set(diag["basin_params"]) <= hit:     # not already said above
        unid.append(f"{diag['basins']} different parameter sets fit these runs equally well (they "
                    f"differ in {', '.join(map(_p, diag['basin_params']))}): the law is not determined.")
    what = _answer_text(answer)
    key = "N" if answer["quantity"] == "N*" else "loss"
    if answer.get("edge"):
        unid.append(f"At C = {answer['C']:.3g} the law keeps improving towards the edge of the "
                    "searched sizes: it has no optimum N* there.")
    elif answer.get("replicates_failed", 0) > 0.5:
        unid.append(f"{100 * answer['replicates_failed']:.0f} % of the bootstrap replicates give no "
                    f"value for {what}.")
    elif key == "N" and answer.get("factor") and answer["factor"] > FACTOR_UNIDENTIFIABLE:
        unid.append(f"{what} is known only within a factor {answer['factor']:.3g} (95 % interval "
                    f"{answer['N_lo']:.3g}–{answer['N_hi']:.3g}): the runs do not give its order of magnitude.")
    if not score or (score.get("holdout_error") is None and score.get("loso_error") is None):
        weak.append(f"No backtest was possible ({holdout_note}): the law was never checked on "
                    "runs it did not see.")
    if score and score.get("holdout_error") is not None:
        k = holdout_note
        if score["holdout_error"] > BACKTEST_TOL:
            weak.append(f"{_cap(k)}: the law misses the held-out runs by up to "
                        f"{100 * score['holdout_max_error']:.2g} % ({100 * score['holdout_error']:.2g} % on average).")
        if score["holdout_n"] >= 2 and score["holdout_outside"] >= 2 and \
                score["holdout_outside"] > score["holdout_n"] / 3:
            weak.append(f"{score['holdout_outside']} of {score['holdout_n']} held-out runs fall outside "
                        "their 95 % prediction intervals: the intervals are too narrow.")
    if key == "N" and answer.get("factor") and FACTOR_WEAK < answer["factor"] <= FACTOR_UNIDENTIFIABLE:
        weak.append(f"{what} is known only within a factor {answer['factor']:.3g} (95 % interval "
                    f"{answer['N_lo']:.3g}–{answer['N_hi']:.3g}).")
    if answer.get("loss_lo") is not None and answer.get("loss"):
        hw = (answer["loss_hi"] - answer["loss_lo"]) / (2 * answer["loss"])
        if hw > LOSS_HALFWIDTH_WEAK:
            weak.append(f"The predicted loss ({answer['loss']:.4g}) is uncertain by ±{100 * hw:.2g} % "
                        f"(95 % interval {answer['loss_lo']:.4g}–{answer['loss_hi']:.4g}).")
    if diag.get("huber_sensitive"):
        weak.append(f"Refitting with the Huber δ ×10 or ÷10 moves {what} by "
                    f"{100 * (np.exp(diag['huber_shift']) - 1):.2g} %, more than its interval allows.")
    a3 = diag.get("a", {})
    for name, ap in approaches.items():
        if a3.get("a") is None or ap.get("a") is None:
            continue
        d = abs(a3["a"] - ap["a"])
        ci1, ci2 = a3.get("ci"), ap.get("ci")
        disjoint = not (ci1 and ci2) or ci1[1] < ci2[0] or ci2[1] < ci1[0]
        if d > A_TOL and disjoint:
            weak.append(f"The approaches disagree on N* ∝ C^a: the law's frontier gives a = {a3['a']:.3g}, "
                        f"the {name} a = {ap['a']:.3g}.")
    if diag["failed"] > FAILED_WEAK:
        weak.append(f"{100 * diag['failed']:.0f} % of the bootstrap replicates failed.")
    lo, hi = answer.get(f"{key}_lo"), answer.get(f"{key}_hi")
    for form, other in ties:
        olo, ohi = other.get(f"{key}_lo"), other.get(f"{key}_hi")
        if None not in (lo, hi, olo, ohi) and (ohi < lo or olo > hi):
            weak.append(f"{form} backtests as well as {chosen} but puts {what} at {other[key]:.3g} "
                        f"({olo:.3g}–{ohi:.3g}), apart from {chosen}'s {lo:.3g}–{hi:.3g}: the choice "
                        "of law decides the answer.")
    off = _offsets(diag)
    if unid:
        return "unidentifiable", unid + weak + off
    if weak:
        return "weak", weak + off
    return "sound", _sound(diag, answer, score, holdout_note, what, key) + off


def _offsets(diag: dict) -> list[str]:
    """One sentence naming the sizes the law misses on one side (``size_offsets``), or none."""
    so = diag.get("size_offsets") or {}
    if not so.get("sizes"):
        return []
    each = "; ".join(f"N = {s['N']:,.0f}: all {s['runs']} runs {'above' if s['offset'] > 0 else 'below'} it, "
                     f"{100 * s['offset']:+.1f} % on average" for s in so["sizes"])
    return [f"Some sizes sit off the law on one side ({each}; the sizes differ from the law by more than "
            f"their runs scatter, ANOVA p = {so['p']:.2g}): something besides N and D — the model's "
            "shape, its LR, its data — sets their loss, and the law's N term averages over it."]


def _sound(diag: dict, answer: dict, score: dict | None, note: str, what: str, key: str) -> list[str]:
    out = []
    if score and score.get("holdout_error") is not None:
        out.append(f"{_cap(note)}: the law predicts the held-out runs within "
                   f"{100 * score['holdout_max_error']:.2g} % ({score['holdout_n'] - score['holdout_outside']} "
                   f"of {score['holdout_n']} inside their 95 % intervals).")
    elif score and score.get("loso_error") is not None:
        out.append(f"Leaving each size out in turn, the law predicts it within "
                   f"{100 * score['loso_error']:.2g} % on average.")
    out.append("Every parameter lies inside its search range, with intervals clear of the bounds, "
               "and one basin fits best.")
    lo, hi = answer.get(f"{key}_lo"), answer.get(f"{key}_hi")
    if lo is not None:
        forms = answer.get("forms") or []
        cover = (f"; the interval covers {', '.join(forms)}, which backtest equally well" if len(forms) > 1 else "")
        out.append(f"{what[0].upper() + what[1:]} is {answer[key]:.4g} (95 % interval {lo:.4g}–{hi:.4g}{cover}).")
    return out


def summary_of(a: Any) -> str:
    """One paragraph: the verdict, the answer with its interval and the first reasons."""
    parts = [f"Verdict: {a.verdict}."]
    ans = a.answer or {}
    if ans:
        key = "N" if ans["quantity"] == "N*" else "loss"
        band = (f" (95 % {ans[key + '_lo']:.3g}–{ans[key + '_hi']:.3g})" if ans.get(key + "_lo") is not None else "")
        if ans["quantity"] == "N*":
            parts.append(f"At C = {ans['C']:.3g} FLOPs ({ans['beyond']:.3g}× the largest run) the "
                         f"{a.chosen} law puts N* at {ans['N']:.3g}{band}, D* at {ans['D']:.3g} and the "
                         f"loss at {ans['loss']:.4g}.")
        else:
            parts.append(f"The {a.chosen} law predicts the largest run's loss as {ans['loss']:.4g}{band}.")
    parts.extend(a.reasons[:4])
    if a.next_runs is not None and len(a.next_runs):
        r = a.next_runs.iloc[0]
        parts.append(f"Next run to make: N = {r['N']:.3g}, D = {r['D']:.3g} ({r['C']:.3g} FLOPs), "
                     f"expected to narrow the answer's interval by {100 * r['gain']:.0f} %.")
    return " ".join(parts)
