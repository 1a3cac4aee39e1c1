"""Shared helpers of the end-to-end tests: a synthetic sweep directory and an HTML table reader.

The synthetic sweep follows the ARCHITECTURE.md metric schemas exactly (run rows, step rows,
test-time rows) with losses drawn from a known Chinchilla law and exact training FLOPs above
6·N·D (as a real ladder's are), so the report can be tested without training anything. The HTML reader is independent of the report code (stdlib parser).
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
        self.verdict: str | None = None
        self.reasons: list[str] = []
        self._t = self._row = self._cell = None
        self._ul = self._li = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.section_ids.append(a.get("id"))
        elif tag == "p" and a.get("id") == "verdict":
            self.verdict = a.get("data-verdict")
        elif tag == "ul" and a.get("id") == "reasons":
            self._ul = True
        elif tag == "li" and self._ul:
            self._li = ""
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
        if tag == "li" and self._li is not None:
            self.reasons.append(self._li)
            self._li = None
        elif tag == "ul":
            self._ul = None
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
        if self._li is not None:
            self._li += data
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


def exact_flops(N, D):
    """Exact training FLOPs of the synthetic runs: 6·N·D plus an output layer and attention
    share that shrinks with N (about +40 % at 2e4 parameters, +15 % at 3e5)."""
    return 6 * N * D * (1 + 0.4 * (N / 2e4) ** -0.36)


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
                             C=float(exact_flops(N, D)), C_6nd=float(6 * N * D), width=64 * (i + 1), depth=2, lr=3e-3, batch=4096,
                             schedule="wsd", seed=0, final_val_loss=final, checkpoint=f"checkpoints/{rid}"))
            for k, t in enumerate(np.linspace(D / 10, D, 8)):
                steps.append(dict(sweep="synth", run_id=rid, parent_run_id=None, step=k * 10, tokens=int(t),
                                  flops=float(6 * N * t), lr=3e-3, train_loss=float(_loss(N, t) + 0.02),
                                  val_loss=float(_loss(N, t)) if k < 7 else final, tokens_per_s=1e4,
                                  wall_s=float(k)))
    runs.append(dict(sweep="synth", run_id="bad1", parent_run_id=None, status="diverged",
                     reason="loss is NaN at step 30", N=int(SIZES[-1]), N_total=0, D=int(BUDGETS[-1]),
                     C=0.0, C_6nd=0.0, width=512, depth=2, lr=1.0, batch=4096, schedule="wsd", seed=1,
                     final_val_loss=float("nan"), checkpoint=None))
    runs.append(dict(sweep="synth", run_id="bad2", parent_run_id=None, status="failed",
                     reason="worker died", N=int(SIZES[0]), N_total=0, D=int(BUDGETS[0]), C=0.0,
                     C_6nd=0.0, width=64, depth=2, lr=3e-3, batch=4096, schedule="wsd", seed=2,
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
def law_loss(form: str, p: dict, N, D):
    """The candidate L(N, D) laws written out here, independently of laws.forms."""
    import numpy as np

    if form == "chinchilla":
        return p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]
    if form == "kaplan":
        return ((p["Nc"] / N) ** (p["alphaN"] / p["alphaD"]) + p["Dc"] / D) ** p["alphaD"]
    if form == "overtrain":
        M, C = D / N, 6 * N * D
        return p["E"] + (p["a"] * M ** p["eta"] + p["b"] * M ** -p["eta"]) * C ** -p["eta"]
    if form == "farseer":
        n = N                                            # the report fits with N0 = 1
        phi = np.exp(p["a1"] * n ** p["alpha"] + p["b1"])
        return np.exp(p["a3"] * n ** p["gamma"] + p["b3"]) + np.exp(p["a2"] * n ** p["beta"] + p["b2"]) * D ** -phi
    raise AssertionError(f"no reference formula for form {form!r}")


def per_token(cm: dict, N):
    """Exact FLOPs per token of the stored compute model: k·N·(1 + rho·(N/N0)^-s)."""
    return cm["k"] * N * (1 + cm["rho"] * (N / cm["N0"]) ** (-cm["s"]))


def brute_optimum(form: str, p: dict, cm: dict, C: float) -> float:
    """N minimising the law along per_token(N)·D = C: a fine log grid, then a bounded 1-D search."""
    import numpy as np
    from scipy.optimize import minimize_scalar

    f = lambda x: float(np.log(law_loss(form, p, np.exp(x), C / per_token(cm, np.exp(x)))))  # noqa: E731
    xs = np.linspace(0.5 * np.log(C / 6e6), 0.5 * np.log(C / 6e-2), 4001)
    i = int(np.argmin([f(x) for x in xs]))
    r = minimize_scalar(f, bounds=(xs[max(i - 1, 0)], xs[min(i + 1, len(xs) - 1)]), method="bounded",
                        options={"xatol": 1e-10})
    return float(np.exp(r.x))


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
        audit = json.loads((sweep / "fits" / "report-audit.json").read_text())
        p, form = stored["params"], stored["form"]
        assert form == audit["chosen"] and stored["verdict"] == audit["verdict"]
        assert stored["n_points"] == len(pts)
        table = {r["parameter"]["text"]: r for r in rep.tables["law-params"]["rows"]}
        assert set(table) == set(p)
        for k, v in p.items():
            assert _close(_v(table[k]["estimate"]), v)
            if stored["ci"]:
                assert _close(_v(table[k]["ci_lo"]), stored["ci"][k][0])
                assert _close(_v(table[k]["ci_hi"]), stored["ci"][k][1])
        for r in pts.itertuples():
            assert _close(_v(rows[r.run_id]["predicted_loss"]), float(law_loss(form, p, r.N, r.D)), rel=1e-7)
        checked["law-params"] = len(table)
        cm = audit["compute"]
        fr = rep.tables["frontier"]["rows"]
        c_runs = pts["C"].astype(float) if "C" in pts.columns and (pts["C"] > 0).all() else \
            per_token(cm, pts["N"].astype(float)) * pts["D"].astype(float)
        assert _close(_v(fr[1]["C"]), float(c_runs.max()))
        for r in fr:
            if r["caveat"]["text"].startswith("no optimum"):
                continue
            C = _v(r["C"])
            want = brute_optimum(form, p, cm, C)
            assert _close(_v(r["N"]), want, rel=1e-3), (C, _v(r["N"]), want)
            assert _close(per_token(cm, _v(r["N"])) * _v(r["D"]), C, rel=1e-6)
            assert _close(_v(r["C_6nd"]), 6 * _v(r["N"]) * _v(r["D"]), rel=1e-9)
            beyond = _v(r["beyond"]) > 1 + 1e-9
            assert (audit["verdict"] in r["caveat"]["text"]) == (beyond and audit["verdict"] != "sound")
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
            for k in ("N", "D", "loss", "accuracy", "train_flops", "train_flops_6nd", "total_flops"):
                assert _close(_v(got[k]), float(want[k]))
            assert _close(float(want["train_flops_6nd"]), 6 * float(want["N"]) * float(want["D"]))
            assert got["method"]["text"] == want["method"] and got["law_verdict"]["text"] == want["law_verdict"]
        checked["plan"] = len(prow)
    if "answer" in rep.tables:
        checked["answer"] = check_answer(sweep, rep)
    return checked


def check_answer(sweep: Path, rep: TableReader) -> int:
    """The first section against fits/report-audit.json: answer numbers, verdict, reasons, next runs."""
    import json

    audit = json.loads((sweep / "fits" / "report-audit.json").read_text())
    assert rep.section_ids[0] == "answer"
    assert rep.verdict == audit["verdict"]
    assert rep.reasons == audit["reasons"] and len(audit["reasons"]) > 0
    ans = audit["answer"]
    got = {r["quantity"]["text"]: r for r in rep.tables["answer"]["rows"]}
    assert _close(_v(got["training FLOPs C (exact)"]["estimate"]), ans["C"])
    assert _close(_v(got["the same as 6·N*·D*"]["estimate"]), 6 * ans["N"] * ans["D"], rel=1e-9)
    want = {"compute-optimal parameters N*": "N", "compute-optimal tokens D*": "D", "predicted final loss": "loss"}
    for q, k in want.items():
        assert _close(_v(got[q]["estimate"]), ans[k])
        assert _close(_v(got[q]["lo"]), ans[k + "_lo"]) and _close(_v(got[q]["hi"]), ans[k + "_hi"])
    nr = rep.tables["next-runs"]["rows"]
    assert len(nr) == len(audit["next_runs"]) > 0
    for g, w in zip(nr, audit["next_runs"]):
        for k in ("N", "D", "C", "C_6nd", "gain"):
            assert _close(_v(g[k]), float(w[k]))
    return len(got) + len(nr)


@pytest.fixture(scope="session")
def report_checks():
    """:func:`check_tables` as a fixture."""
    return check_tables
