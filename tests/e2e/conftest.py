"""Shared helpers of the end-to-end tests: a synthetic sweep directory and an HTML table reader.

The synthetic sweep follows the ARCHITECTURE.md metric schemas exactly (run rows, step rows,
test-time rows) with losses drawn from a known Chinchilla law, so the report can be tested
without training anything. The HTML reader is independent of the report code (stdlib parser).
"""
from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

TRUE = {"E": 1.2, "A": 40.0, "B": 250.0, "alpha": 0.34, "beta": 0.38}
SIZES = (2e4, 5e4, 1.2e5, 3e5)
BUDGETS = (2e5, 5e5, 1.2e6)


class TableReader(HTMLParser):
    """Collect every <table id=...>: its data-source, header keys and rows of (text, data-value)."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, dict] = {}
        self.images: list[str] = []
        self.section_ids: list[str] = []
        self._t = self._row = self._cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.section_ids.append(a.get("id"))
        elif tag == "img":
            self.images.append(a.get("src", ""))
        elif tag == "table":
            self._t = {"source": a.get("data-source"), "keys": [], "rows": []}
            self.tables[a.get("id")] = self._t
        elif tag == "th" and self._t is not None:
            self._t["keys"].append(a.get("data-key"))
        elif tag == "tr" and self._t is not None:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = {"text": "", "value": a.get("data-value")}

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:
                self._t["rows"].append(dict(zip(self._t["keys"], self._row)))
            self._row = None
        elif tag == "table":
            self._t = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data


def read_report(path: Path) -> TableReader:
    """Parse report.html into tables, images and section ids."""
    r = TableReader()
    r.feed(Path(path).read_text())
    return r


@pytest.fixture(scope="session")
def report_reader():
    """The HTML reader as a fixture (tests/e2e files cannot import each other)."""
    return read_report


@pytest.fixture(scope="session")
def sweep_factory():
    """:func:`make_sweep` as a fixture, for module-scoped sweeps."""
    return make_sweep


def _loss(N, D):
    return TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"]


def make_sweep(root: Path, *, tts: bool = True, seed: int = 0) -> Path:
    """Write a synthetic sweep directory (spec, runs, metrics, optional tts) and return it."""
    rng = np.random.default_rng(seed)
    d = root / "synth"
    d.mkdir(parents=True)
    (d / "spec.yaml").write_text(yaml.safe_dump({"name": "synth", "data": {"source": "arith", "level": 2}}))
    runs, steps = [], []
    for i, N in enumerate(SIZES):
        for j, D in enumerate(BUDGETS):
            rid = f"r{i}{j}"
            final = float(_loss(N, D) * np.exp(rng.normal(0, 0.01)))
            runs.append(dict(sweep="synth", run_id=rid, parent_run_id=None if j == 0 else f"r{i}0",
                             status="done", reason="", N=int(N), N_total=int(N * 1.1), D=int(D),
                             C=float(6 * N * D), width=64 * (i + 1), depth=2, lr=3e-3, batch=4096,
                             schedule="wsd", seed=0, final_val_loss=final, checkpoint=f"checkpoints/{rid}"))
            for k, t in enumerate(np.linspace(D / 10, D, 8)):
                steps.append(dict(sweep="synth", run_id=rid, parent_run_id=None, step=k * 10, tokens=int(t),
                                  flops=float(6 * N * t), lr=3e-3, train_loss=float(_loss(N, t) + 0.02),
                                  val_loss=float(_loss(N, t)) if k < 7 else final, tokens_per_s=1e4,
                                  wall_s=float(k)))
    runs.append(dict(sweep="synth", run_id="bad1", parent_run_id=None, status="diverged",
                     reason="loss is NaN at step 30", N=int(SIZES[-1]), N_total=0, D=int(BUDGETS[-1]),
                     C=0.0, width=512, depth=2, lr=1.0, batch=4096, schedule="wsd", seed=1,
                     final_val_loss=float("nan"), checkpoint=None))
    runs.append(dict(sweep="synth", run_id="bad2", parent_run_id=None, status="failed",
                     reason="worker died", N=int(SIZES[0]), N_total=0, D=int(BUDGETS[0]), C=0.0,
                     width=64, depth=2, lr=3e-3, batch=4096, schedule="wsd", seed=2,
                     final_val_loss=float("nan"), checkpoint=None))
    pd.DataFrame(runs).to_parquet(d / "runs.parquet")
    pd.DataFrame(steps).to_parquet(d / "metrics.parquet")
    if tts:
        rows = []
        for i, N in enumerate(SIZES):
            rid, loss = f"r{i}2", _loss(N, BUDGETS[-1])
            base = 1 / (1 + np.exp(-(3.0 - 1.5 * loss) * 2))
            for method, rm in (("sample", ""), ("majority", ""), ("best_of_n", "exact")):
                for n in (1, 2, 4, 8):
                    p = min(0.97, base * (1 + 0.15 * np.log2(n) * (method != "sample")))
                    for prob in range(12):
                        ct = int(rng.integers(40, 80)) * n
                        rows.append(dict(sweep="synth", model_id=rid, N=int(N), task="arith",
                                         problem_id=f"p{prob}", method=method, budget=n, seed=0,
                                         reward_model=rm, correct=bool(rng.random() < p), answer="7",
                                         prompt_tokens=30, completion_tokens=ct,
                                         reward_tokens=ct if rm else 0,
                                         policy_flops=float(2 * N * (30 + ct)),
                                         reward_flops=0.0, kv_bytes=float(ct * 1024)))
        pd.DataFrame(rows).to_parquet(d / "tts.parquet")
    return d


# ----------------------------------------------------------------------------- table checks
def _v(cell) -> float:
    return float(cell["value"])


def _close(a: float, b: float, rel: float = 1e-9) -> bool:
    import math

    if math.isnan(b):
        return math.isnan(a)
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def tts_label(t: pd.DataFrame) -> pd.Series:
    """The report's method label, rebuilt here: method[reward_model] (+ ' @<mt> tok' if sequential)."""
    rm = t["reward_model"].fillna("").astype(str) if "reward_model" in t.columns else ""
    label = np.where(rm != "", t["method"].astype(str) + "[" + rm + "]", t["method"].astype(str))
    if "budget_axis" in t.columns:
        seq = (t["budget_axis"] == "sequential").to_numpy()
        label = np.where(seq, pd.Series(label) + " @" + t["max_tokens"].astype(int).astype(str) + " tok", label)
    return pd.Series(label, index=t.index)


def law_points(runs: pd.DataFrame) -> pd.DataFrame:
    """Done runs with a finite loss, minus WSD trunks (constant-LR runs others branch from)."""
    parents = set(runs["parent_run_id"].dropna().astype(str)) if "parent_run_id" in runs else set()
    trunk = runs["run_id"].astype(str).isin(parents) & (runs.get("schedule", "") == "constant")
    ok = (runs["status"] == "done") & np.isfinite(runs["final_val_loss"].astype(float)) & ~trunk
    return runs[ok]


def check_tables(sweep: Path, rep: TableReader) -> dict:
    """Assert every number of the report's tables against the stored rows and fit files.

    Returns a dict of what was checked (table -> number of cells), so callers can assert that
    the tables they expect were there.
    """
    import json

    import laws

    checked: dict[str, int] = {}
    # no placeholders: every numeric cell parses, no text cell says TODO/placeholder
    for tid, t in rep.tables.items():
        for row in t["rows"]:
            for cell in row.values():
                if cell["value"] is not None:
                    float(cell["value"])
                assert not any(w in cell["text"].lower() for w in ("todo", "placeholder", "xxx", "lorem"))
    runs = pd.read_parquet(sweep / "runs.parquet")
    counts = {r["status"]["text"]: _v(r["runs"]) for r in rep.tables["status-counts"]["rows"]}
    assert counts["total"] == len(runs)
    for status, n in runs["status"].value_counts().items():
        assert counts[status] == n
    rows = {r["run_id"]["text"]: r for r in rep.tables["runs"]["rows"]}
    assert set(rows) == set(runs["run_id"])
    for r in runs.itertuples():
        got = rows[r.run_id]
        assert _v(got["N"]) == r.N and _v(got["D"]) == r.D and got["status"]["text"] == r.status
        assert _close(_v(got["final_val_loss"]), float(r.final_val_loss))
    checked["runs"] = len(rows)
    pts = law_points(runs)
    if "law-params" in rep.tables:
        stored = json.loads((sweep / "fits" / "report-law.json").read_text())
        p = stored["params"]
        ref = laws.fit("chinchilla", pd.DataFrame({"N": pts["N"].astype(float), "D": pts["D"].astype(float),
                                                    "loss": pts["final_val_loss"].astype(float)}))
        assert stored["n_points"] == len(pts)
        table = {r["parameter"]["text"]: r for r in rep.tables["law-params"]["rows"]}
        for k, v in ref.params.items():
            assert _close(_v(table[k]["estimate"]), v, rel=1e-6)
            assert _close(_v(table[k]["estimate"]), p[k])
            if stored["ci"]:
                assert _close(_v(table[k]["ci_lo"]), stored["ci"][k][0])
                assert _close(_v(table[k]["ci_hi"]), stored["ci"][k][1])
        for r in pts.itertuples():
            pred = p["E"] + p["A"] / r.N ** p["alpha"] + p["B"] / r.D ** p["beta"]
            assert _close(_v(rows[r.run_id]["predicted_loss"]), pred, rel=1e-7)
        checked["law-params"] = len(table)
        a = p["beta"] / (p["alpha"] + p["beta"])
        G = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1 / (p["alpha"] + p["beta"]))
        fr = rep.tables["frontier"]["rows"]
        assert _close(_v(fr[1]["C"]), float((6 * pts["N"].astype(float) * pts["D"].astype(float)).max()))
        for r in fr:
            assert _close(_v(r["N"]), G * (_v(r["C"]) / 6) ** a, rel=1e-6)
            assert _close(6 * _v(r["N"]) * _v(r["D"]), _v(r["C"]), rel=1e-6)
        checked["frontier"] = len(fr)
    if "law-live" in rep.tables:
        hist = [h for h in json.loads((sweep / "fits" / "chinchilla_history.json").read_text()) if h.get("params")]
        live = rep.tables["law-live"]["rows"]
        assert len(live) == len(hist)
        for got, h in zip(live, hist):
            assert _v(got["n_points"]) == h["n_points"]
            for k, v in h["params"].items():
                assert _close(_v(got[k]), float(v))
        checked["law-live"] = len(live)
    if (sweep / "tts.parquet").exists() and "tts" in rep.tables:
        t = pd.read_parquet(sweep / "tts.parquet")
        t["label"] = tts_label(t)
        t["fl"] = t["policy_flops"] + t["reward_flops"]
        g = t.groupby(["model_id", "label", "budget"])
        acc, fl, cnt = g["correct"].mean(), g["fl"].mean(), g.size()
        trows = rep.tables["tts"]["rows"]
        assert len(trows) == len(acc)
        for r in trows:
            key = (r["model_id"]["text"], r["method"]["text"], int(_v(r["budget"])))
            assert _close(_v(r["accuracy"]), float(acc[key]))
            assert _close(_v(r["flops"]), float(fl[key]), rel=1e-9)
            assert _v(r["n_problems"]) == cnt[key]
        checked["tts"] = len(trows)
        f = [(_v(r["flops"]), _v(r["accuracy"])) for r in rep.tables["tts-frontier"]["rows"]]
        assert f == sorted(f) and all(b[1] > a[1] for a, b in zip(f, f[1:]))
        assert set(f) <= {(_v(r["flops"]), _v(r["accuracy"])) for r in trows}
    if "plan" in rep.tables:
        stored = json.loads((sweep / "fits" / "report-plan.json").read_text())
        prow = rep.tables["plan"]["rows"]
        assert len(prow) == len(stored["table"]) > 0
        for got, want in zip(prow, stored["table"]):
            for k in ("N", "D", "loss", "accuracy", "total_flops"):
                assert _close(_v(got[k]), float(want[k]))
            assert got["method"]["text"] == want["method"]
        checked["plan"] = len(prow)
    return checked


@pytest.fixture(scope="session")
def report_checks():
    """:func:`check_tables` as a fixture."""
    return check_tables
