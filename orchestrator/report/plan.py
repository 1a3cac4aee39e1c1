"""Joint training + test-time plan for the report (``laws.plan`` on the stored rows)."""
from __future__ import annotations

import numpy as np
import pandas as pd

import laws


def plan_inputs(data, an) -> pd.DataFrame:
    """Aggregated test-time table with each evaluated model's final loss joined on run_id.

    ``model_id`` in ``tts.parquet`` is matched to ``run_id`` in ``runs.parquet`` (the demo
    evaluates checkpoints under their run id); models without a run row are dropped.
    """
    table = an.tts.table.copy()
    runs = data.runs
    if runs.empty or "run_id" not in runs.columns:
        return table.iloc[0:0]
    losses = dict(zip(runs["run_id"].astype(str), runs["final_val_loss"]))
    table["loss"] = table["model_id"].astype(str).map(losses)
    return table[np.isfinite(pd.to_numeric(table["loss"], errors="coerce"))].reset_index(drop=True)


def run_plan(data, an, queries: float, target: float | None) -> None:
    """Fill ``an.plan`` (a laws ``Plan``) or leave a note saying why there is none.

    Without an explicit ``target`` the plan asks for the cheapest way to reach 90 % of the best
    accuracy measured in this sweep (derived from stored rows; the fitted loss→accuracy maps
    approach 100 % only asymptotically, so the best measured value itself may be unreachable).
    """
    from orchestrator.report.analysis import law_data, write_json

    if an.law is None or an.tts is None:
        an.note("plan", "A joint plan needs both a training law and test-time results; "
                        "this sweep lacks " + ("the training law" if an.law is None else "test-time rows") + ".")
        return
    table = plan_inputs(data, an)
    if table.empty or table["model_id"].nunique() < 2:
        an.note("plan", "A joint plan needs test-time results for at least 2 trained models of "
                        "this sweep (tts model_id = runs run_id); found "
                        f"{0 if table.empty else table['model_id'].nunique()}.")
        return
    if target is None:
        best = float(table["accuracy"].max())
        target = round(0.9 * best, 3)
        an.note("plan", f"Target accuracy = 90% of the best accuracy measured in this sweep "
                        f"(0.9 × {best:.3g} = {target:.3g}).")
    if target <= 0:
        an.note("plan", "No test-time method solved any problem, so there is nothing to plan for.")
        return
    try:
        an.plan = laws.plan(an.law, table, queries=queries, target_accuracy=target,
                            train_data=law_data(data)[["N", "D"]])
    except Exception as exc:  # noqa: BLE001 - reported, never raised
        an.note("plan", f"The joint planner could not make a plan: {exc}")
        return
    an.notes.setdefault("plan", []).extend(an.plan.notes)
    write_json(data.path / "fits" / "report-plan.json", an.plan.to_dict())
