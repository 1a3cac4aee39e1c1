"""Joint training + test-time plan for the report (``laws.plan`` on the stored rows): the audited
law (its verdict on every row), the exact training FLOPs, KV bytes and verifier ceilings from
the raw test-time rows."""
from __future__ import annotations

import numpy as np
import pandas as pd

import laws


def plan_inputs(data, an) -> pd.DataFrame:
    """Aggregated test-time table with each evaluated model's final loss joined on run_id.

    ``model_id`` in ``tts.parquet`` is matched to ``run_id`` in ``runs.parquet`` (the demo
    evaluates checkpoints under their run id); models without a run row are dropped.
    """
    from laws.planner.costs import kv_per_key

    table = an.tts.table.copy()
    runs = data.runs
    if runs.empty or "run_id" not in runs.columns:
        return table.iloc[0:0]
    losses = dict(zip(runs["run_id"].astype(str), runs["final_val_loss"]))
    table["loss"] = table["model_id"].astype(str).map(losses)
    kv = kv_per_key(_task_rows(data, an))
    if kv is not None and "kv_bytes" not in table.columns:
        table = table.merge(kv, on=["model_id", "method", "budget"], how="left")
    return table[np.isfinite(pd.to_numeric(table["loss"], errors="coerce"))].reset_index(drop=True)


def _task_rows(data, an) -> pd.DataFrame:
    """The raw test-time rows of the task the report shows."""
    t = data.tts
    if an.tts_task is not None and "task" in t.columns:
        t = t[t["task"] == an.tts_task]
    return t


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
        from laws.planner.maps import verifier_ceilings

        pts = law_data(data)
        an.plan = laws.plan(an.audit if an.audit is not None else an.law, table, queries=queries,
                            target_accuracy=target, train_data=pts[[c for c in ("N", "D", "C") if c in pts]],
                            compute=an.compute, ceilings=verifier_ceilings(_task_rows(data, an)))
    except Exception as exc:  # noqa: BLE001 - reported, never raised
        an.note("plan", f"The joint planner could not make a plan: {exc}")
        return
    an.notes.setdefault("plan", []).extend(an.plan.notes)
    write_json(data.path / "fits" / "report-plan.json", an.plan.to_dict())
