"""One error path for every command: bad input is ONE line naming the field or file, exit code 2,
no traceback, and NOTHING new on disk (the whole tree under the test's directory is compared
before and after). Cases run in-process through ``orchestrator.cli.main`` (fast); none may
start Ray: ``RAY_ADDRESS`` points where nothing listens, so a case that slipped past the checks
would fail with that address's message instead of its own needle.

Kinds covered: sweep spec fields (numbers, booleans, inf/nan, shapes, budgets, schedule, search,
resources, names, storage), data files (text: encoding, emptiness, length; bin: sizes, ids vs
vocab, shards), spec files, stale tokenizers, corrupt or wrong-schema Parquet in every reader
(sweep status/runs, tts curves, report, tts models from a sweep), test-time spec fields (task,
verifier, reward models, engine options, models, budgets, sampling), fit and report options,
demo options and argument parsing.
"""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from orchestrator.cli import main
from orchestrator.runs.ledger import Ledger
from orchestrator.spec.run import RunSpec

DEL = object()

SWEEP = {
    "name": "bad", "model": {"shapes": [[32, 1]], "head_dim": 32, "seq_len": 32},
    "tokens": {"D": [4096]}, "lr": {"values": [0.003]}, "batch_tokens": [1024],
    "schedule": {"kind": "cosine"}, "max_concurrent": 1,
    "data": {"source": "arith", "options": {"level": 1, "pool_docs": 100, "val_docs": 20}},
    "train": {"eval_every": 2, "eval_tokens": 1024, "log_every": 1},
}


def _set(d: dict, path: str, value) -> dict:
    d = copy.deepcopy(d)
    *heads, last = path.split(".")
    node = d
    for h in heads:
        node = node.setdefault(h, {})
    if value is DEL:
        node.pop(last, None)
    else:
        node[last] = value
    return d


# (id, dotted field, value, needle) — each applied to SWEEP, run with `scalelab sweep run`
SPEC_FIELDS = [
    ("lr-negative", "lr.values", [-0.1], "spec.lr.values[0]: must be > 0"),
    ("lr-bool", "lr.values", [True], "spec.lr.values[0]: must be a number"),
    ("lr-nan", "lr.values", [float("nan")], "spec.lr.values[0]: must be a finite number"),
    ("lr-inf", "lr.values", [float("inf")], "spec.lr.values[0]: must be a finite number"),
    ("lr-huge", "lr.values", [1e4], "implausibly large"),
    ("lr-dup", "lr.values", [0.01, 0.01], "duplicate"),
    ("lr-text", "lr.values", ["fast"], "spec.lr.values[0]: must be a number"),
    ("lr-empty", "lr.values", [], "spec.lr.values: must not be empty"),
    ("lr-scalar", "lr", 0.01, "spec.lr: must be a mapping"),
    ("lr-min-max", "lr", {"min": 0.1, "max": 0.01}, "spec.lr.max"),
    ("lr-min-zero", "lr", {"values": [0.01], "min": 0}, "spec.lr.min: must be > 0"),
    ("lr-unknown", "lr.step", 3, "spec.lr.step: unknown field"),
    ("tokens-inf", "tokens", {"per_param": [float("inf")]}, "spec.tokens.per_param[0]: must be a finite"),
    ("tokens-zero", "tokens.D", [0], "spec.tokens.D[0]: must be > 0"),
    ("tokens-small", "tokens.D", [100], "spec.tokens.D[0]: must be at least 2 batches"),
    ("tokens-both", "tokens", {"D": [4096], "per_param": [5]}, "give exactly one of D"),
    ("tokens-none", "tokens", {}, "give exactly one of D"),
    ("tokens-huge", "tokens.D", [1e16], "more than 1e+15"),
    ("tokens-bool", "tokens.D", [True], "spec.tokens.D[0]: must be a number"),
    ("tokens-negative-pp", "tokens", {"per_param": [-1]}, "spec.tokens.per_param[0]: must be > 0"),
    ("tokens-pp-huge", "tokens", {"per_param": [1e13]}, "more than 1e+15"),
    ("tokens-fraction", "tokens.D", [4096.5], "spec.tokens.D[0]: must be an integer"),
    ("model-widths-only", "model", {"widths": [32], "head_dim": 32}, "spec.model.depths: required"),
    ("model-width-multiple", "model", {"widths": [33], "depths": [1]}, "spec.model.widths[0]: must be a multiple"),
    ("model-head-dim", "model.head_dim", 16, "spec.model.head_dim: must be one of"),
    ("model-seq-len", "model.seq_len", 4, "spec.model.seq_len: must be >= 8"),
    ("model-depth-zero", "model.shapes", [[32, 0]], "spec.model.shapes[0]"),
    ("model-shape-bool", "model.shapes", [[32, True]], "spec.model.shapes[0][1]: must be a number"),
    ("model-target-huge", "model", {"target_N": [1e30]}, "spec.model.target_N[0]: 1e+30 is outside"),
    ("model-target-tiny", "model", {"target_N": [10]}, "spec.model.target_N[0]: 10 is outside"),
    ("model-target-inf", "model", {"target_N": [float("inf")]}, "spec.model.target_N[0]: must be a finite"),
    ("model-none", "model", {}, "spec.model.widths: give exactly one"),
    ("model-aspect", "model.aspect_ratio", 0, "spec.model.aspect_ratio: must be > 0"),
    ("model-shapes-empty", "model.shapes", [], "spec.model.shapes"),
    ("batch-not-multiple", "batch_tokens", [1000], "spec.batch_tokens[0]: must be a positive multiple"),
    ("batch-zero", "batch_tokens", [0], "spec.batch_tokens[0]"),
    ("batch-bool", "batch_tokens", [True], "spec.batch_tokens[0]: must be a number"),
    ("batch-dup", "batch_tokens", [1024, 1024], "spec.batch_tokens: has duplicate"),
    ("batch-empty", "batch_tokens", [], "spec.batch_tokens: must not be empty"),
    ("schedule-kind", "schedule.kind", "linear", "spec.schedule.kind"),
    ("schedule-warmup", "schedule.warmup_frac", 1.5, "spec.schedule.warmup_frac: must be < 1"),
    ("schedule-wsd-sum", "schedule", {"kind": "wsd", "warmup_frac": 0.5, "cooldown_frac": 0.6},
     "spec.schedule.cooldown_frac"),
    ("schedule-cooldown-zero", "schedule.cooldown_frac", 0, "spec.schedule.cooldown_frac: must be > 0"),
    ("schedule-min-lr", "schedule.min_lr_frac", 2, "spec.schedule.min_lr_frac: must be <= 1"),
    ("seeds-negative", "seeds", [-1], "spec.seeds[0]: must be >= 0"),
    ("seeds-dup", "seeds", [1, 1], "spec.seeds: has duplicate"),
    ("seeds-bool", "seeds", [True], "spec.seeds[0]: must be a number"),
    ("seeds-text", "seeds", "a", "spec.seeds: must be a list"),
    ("data-source", "data.source", "nope", "spec.data.source: unknown data source 'nope'"),
    ("data-level", "data.options.level", 9, "spec.data.options.level"),
    ("data-option", "data.options.bogus", 1, "spec.data.options.bogus"),
    ("data-pool-bool", "data.options.pool_docs", True, "spec.data.options.pool_docs"),
    ("data-no-source", "data", {"options": {}}, "spec.data.source: required"),
    ("resources-cpus", "resources", {"cpus": 0}, "spec.resources.cpus: must be > 0"),
    ("resources-workers", "resources", {"workers": 0}, "spec.resources.workers: must be >= 1"),
    ("resources-gpus", "resources", {"gpus": -1}, "spec.resources.gpus: must be >= 0"),
    ("resources-workers-bool", "resources", {"workers": True}, "spec.resources.workers: must be a number"),
    ("resources-ddp-cpus", "resources", {"workers": 2, "cpus": 0.5}, "spec.resources.cpus"),
    ("max-concurrent", "max_concurrent", 0, "spec.max_concurrent: must be >= 1"),
    ("max-failures", "max_failures", -1, "spec.max_failures: must be >= 0"),
    ("optuna-no-trials", "search", {"kind": "optuna"}, "spec.search.n_trials: required"),
    ("grid-trials", "search", {"kind": "grid", "n_trials": 3}, "spec.search.n_trials: only used"),
    ("optuna-no-range", "search", {"kind": "optuna", "n_trials": 3}, "spec.lr.min"),
    ("asha-grid", "scheduler", {"kind": "asha"}, "spec.scheduler.kind: asha"),
    ("scheduler-kind", "scheduler.kind", "pbt", "spec.scheduler.kind"),
    ("eval-every", "train.eval_every", 0, "spec.train.eval_every: must be >= 1"),
    ("compile-int", "train.compile", 1, "spec.train.compile: must be true or false"),
    ("beta1", "train.beta1", 1.0, "spec.train.beta1: must be < 1"),
    ("weight-decay", "train.weight_decay", -1, "spec.train.weight_decay: must be >= 0"),
    ("train-unknown", "train.bogus", 1, "spec.train.bogus: unknown field"),
    ("diverge", "train.diverge_factor", 1, "spec.train.diverge_factor: must be > 1"),
    ("grad-clip-nan", "train.grad_clip", float("nan"), "spec.train.grad_clip: must be a finite"),
    ("name-space", "name", "a b", "spec.name:"),
    ("name-empty", "name", "", "spec.name:"),
    ("name-missing", "name", DEL, "spec.name: required"),
    ("storage-scheme", "storage", "ftp://host/x", "spec.storage: unsupported URI scheme"),
    ("storage-blank", "storage", "  ", "spec.storage:"),
    ("unknown-field", "colour", "blue", "spec.colour: unknown field"),
]


def _snapshot(root: Path) -> dict:
    """Every path below ``root``: files with size and mtime, directories by presence (the
    writability probe creates and removes one temporary file, which touches its directory's
    mtime but leaves nothing)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs:
            out[str((Path(dirpath) / name).relative_to(root))] = "dir"
        for name in files:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(autouse=True)
def _no_ray(monkeypatch):
    """A case that reaches Ray fails fast with this address's message, not its needle."""
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")


def check(root: Path, argv: list[str], needle: str, capsys) -> None:
    """``scalelab argv``: exit 2, one line on stderr containing ``needle``, nothing written."""
    capsys.readouterr()
    before = _snapshot(root)
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert needle in err, err
    assert _snapshot(root) == before, "the command wrote files"


def write_spec(tmp: Path, spec: dict, name: str = "spec.yaml") -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.parametrize("case,field,value,needle", SPEC_FIELDS, ids=[c[0] for c in SPEC_FIELDS])
def test_sweep_spec_fields(tmp_path, capsys, case, field, value, needle):
    spec = write_spec(tmp_path, _set({**SWEEP, "storage": str(tmp_path / "store")}, field, value))
    check(tmp_path, ["sweep", "run", spec], needle, capsys)


# ---------------------------------------------------------------------------- data files
def _text(tmp: Path, files: dict[str, bytes], **opts) -> dict:
    d = tmp / "corpus"
    d.mkdir(exist_ok=True)
    for name, blob in files.items():
        (d / name).write_bytes(blob)
    return {"source": "text", "options": {"path": str(d), **opts}}


def _bin(tmp: Path, shards: dict[str, np.ndarray | bytes], **opts) -> dict:
    d = tmp / "shards"
    d.mkdir(exist_ok=True)
    for name, arr in shards.items():
        (d / name).write_bytes(arr if isinstance(arr, bytes) else arr.tobytes())
    return {"source": "bin", "options": {"path": str(d), "vocab_size": 100, **opts}}


GOOD_TEXT = ("The quick brown fox jumps over the lazy dog. " * 40).encode()
GOOD_IDS = (np.arange(2000) % 90).astype(np.uint16)
DATA_CASES = [
    ("text-missing", lambda t: {"source": "text", "options": {"path": str(t / "nowhere")}}, "no .txt file"),
    ("text-not-utf8", lambda t: _text(t, {"a.txt": GOOD_TEXT, "b.txt": b"caf\xe9 " * 50}), "is not UTF-8"),
    ("text-empty", lambda t: _text(t, {"a.txt": GOOD_TEXT, "b.txt": b""}), "b.txt is empty"),
    ("text-blank", lambda t: _text(t, {"a.txt": b" \n\n \t"}), "a.txt is empty"),
    ("text-short", lambda t: _text(t, {"a.txt": b"tiny text"}, tokenizer="char"), "no stretch longer than"),
    ("text-tokenizer", lambda t: _text(t, {"a.txt": GOOD_TEXT}, tokenizer="wordpiece"), "spec.data.options.tokenizer"),
    ("text-vocab", lambda t: _text(t, {"a.txt": GOOD_TEXT}, vocab_size=100), "vocab_size"),
    ("text-val", lambda t: _text(t, {"a.txt": GOOD_TEXT}, val_fraction=1.5), "val_fraction"),
    ("text-no-path", lambda t: {"source": "text", "options": {}}, "path is required for source 'text'"),
    ("bin-odd-bytes", lambda t: _bin(t, {"train.bin": GOOD_IDS.tobytes() + b"x", "val.bin": GOOD_IDS}),
     "not a whole number of uint16"),
    ("bin-ids", lambda t: _bin(t, {"train.bin": GOOD_IDS + 50, "val.bin": GOOD_IDS}), "holds token id 139"),
    ("bin-empty", lambda t: _bin(t, {"train.bin": b"", "val.bin": GOOD_IDS}), "is empty"),
    ("bin-no-val", lambda t: _bin(t, {"train.bin": GOOD_IDS}), "no val*.bin shard"),
    ("bin-short", lambda t: _bin(t, {"train.bin": GOOD_IDS, "val.bin": GOOD_IDS[:10]}), "longer than"),
    ("bin-no-vocab", lambda t: {"source": "bin", "options": {"path": str(t)}}, "vocab_size is required"),
    ("bin-dtype", lambda t: _bin(t, {"train.bin": GOOD_IDS, "val.bin": GOOD_IDS}, dtype="float32"), "spec.data.options.dtype"),
    ("bin-not-dir", lambda t: {"source": "bin", "options": {"path": str(t / "x.bin"), "vocab_size": 9}},
     "is not a directory"),
    ("bin-uint32-ids", lambda t: _bin(t, {"train.bin": GOOD_IDS.astype(np.uint32) * 1000,
                                          "val.bin": GOOD_IDS.astype(np.uint32)}, dtype="uint32"), "token id"),
]


@pytest.mark.parametrize("case,make,needle", DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_data_contents_are_checked_before_anything_is_written(tmp_path, capsys, case, make, needle):
    data = make(tmp_path)
    spec = write_spec(tmp_path, {**SWEEP, "storage": str(tmp_path / "store"), "data": data})
    check(tmp_path, ["sweep", "run", spec], needle, capsys)


# ---------------------------------------------------------------------------- spec files, storage
def _spec_file(tmp: Path, kind: str) -> Path:
    p = tmp / "spec.yaml"
    if kind == "missing":
        return tmp / "nope.yaml"
    if kind == "dir":
        p.mkdir()
        return p
    p.write_bytes({"latin1": "name: caf\xe9\n".encode("latin-1"), "yaml": b"name: [unclosed\n",
                   "list": b"- a\n- b\n", "empty": b"", "scalar": b"42\n"}[kind])
    return p


FILE_CASES = [("missing", "does not exist"), ("dir", "cannot read spec file"), ("latin1", "not UTF-8"),
              ("yaml", "not valid YAML"), ("list", "must be a mapping"), ("empty", "must be a mapping"),
              ("scalar", "must be a mapping")]


@pytest.mark.parametrize("command", ["sweep", "tts"])
@pytest.mark.parametrize("kind,needle", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_spec_files(tmp_path, capsys, command, kind, needle):
    check(tmp_path, [command, "run", _spec_file(tmp_path, kind)], needle, capsys)


def _storage(tmp: Path, kind: str) -> str:
    f = tmp / "afile"
    f.write_text("x")
    return {"file": str(f), "under-file": str(f / "sub"), "proc": "/proc/scalelab-x",
            "uri": "s3://bucket/x?no_such_option=1", "dangling": str(_dangling(tmp))}[kind]


def _dangling(tmp: Path) -> Path:
    link = tmp / "link"
    link.symlink_to(tmp / "gone")
    return link / "sub"


STORAGE_CASES = [("file", "is a file, not a directory"), ("under-file", "is a file, not a directory"),
                 ("proc", "cannot write in /proc"), ("uri", "not a usable URI"), ("dangling", "dangling symlink")]


@pytest.mark.parametrize("kind,needle", STORAGE_CASES, ids=[c[0] for c in STORAGE_CASES])
@pytest.mark.parametrize("how", ["spec", "flag"])
def test_unusable_storage(tmp_path, capsys, kind, needle, how):
    where = _storage(tmp_path, kind)
    if how == "spec":
        spec = write_spec(tmp_path, {**SWEEP, "storage": where})
        argv = ["sweep", "run", spec]
    else:
        spec = write_spec(tmp_path, {**SWEEP, "storage": str(tmp_path / "store")})
        argv = ["sweep", "run", spec, "--storage", where]
    check(tmp_path, argv, needle, capsys)


def test_tokenizer_of_other_data_is_not_reused(tmp_path, capsys):
    """A sweep whose runs were trained with a tokenizer built from other data is refused."""
    from orchestrator.train.tokenizer import char_tokenizer

    sweep = tmp_path / "store" / "bad"
    char_tokenizer("abc").save_pretrained(str(sweep / "tokenizer"))
    _ledger(sweep)
    spec = write_spec(tmp_path, {**SWEEP, "storage": str(tmp_path / "store")})
    check(tmp_path, ["sweep", "run", spec], "holds a tokenizer built from other data", capsys)


def test_corrupt_ledger_stops_a_resubmission(tmp_path, capsys):
    sweep = tmp_path / "store" / "bad"
    sweep.mkdir(parents=True)
    (sweep / "runs.parquet").write_bytes(b"PAR1 garbage")
    spec = write_spec(tmp_path, {**SWEEP, "storage": str(tmp_path / "store")})
    check(tmp_path, ["sweep", "run", spec], "runs.parquet: not a readable Parquet file", capsys)


# ---------------------------------------------------------------------------- readers
def _cfg(seed: int = 0) -> RunSpec:
    return RunSpec(sweep="s", width=32, depth=1, head_dim=32, vocab_size=20, seq_len=64,
                   data={"source": "arith"}, lr=3e-3, batch_tokens=2048, tokens=8192, seed=seed)


def _ledger(d: Path) -> Path:
    led = Ledger(d)
    led.add_pending([_cfg(0), _cfg(1)])
    led.record(_cfg(0), "done", final_val_loss=1.5, D=8192, N=1000)
    led.flush()
    return d


def _tts_rows(n: int = 4) -> pd.DataFrame:
    from evaluators.rows import KEY

    rows = []
    for i in range(n):
        r = {k: "x" for k in KEY}
        r.update(model_id="m", task="arith", problem_id=f"p{i}", method="majority", budget=2,
                 max_tokens=16, seed=0, reward_model="", correct=bool(i % 2), N=1000,
                 prompt_tokens=5, completion_tokens=7, policy_flops=1e6, reward_flops=0.0)
        rows.append(r)
    return pd.DataFrame(rows)


def _reader_dir(tmp: Path, kind: str) -> Path:
    d = tmp / "sw"
    d.mkdir()
    if kind == "empty":
        return d
    if kind == "missing":
        return tmp / "nowhere"
    if kind == "file":
        f = tmp / "afile"
        f.write_text("x")
        return f
    if kind == "corrupt-runs":
        (d / "runs.parquet").write_bytes(b"not parquet at all")
    elif kind == "truncated-runs":
        pd.DataFrame({"run_id": ["a"], "status": ["done"]}).to_parquet(d / "runs.parquet")
        blob = (d / "runs.parquet").read_bytes()
        (d / "runs.parquet").write_bytes(blob[: len(blob) // 2])
    elif kind == "schema-runs":
        pd.DataFrame({"id": ["a"], "state": ["done"]}).to_parquet(d / "runs.parquet")
    elif kind == "types-runs":
        pd.DataFrame({"run_id": ["a"], "status": ["done"], "final_val_loss": ["low"]}).to_parquet(d / "runs.parquet")
    elif kind == "corrupt-event":
        _ledger(d)
        (d / "runs" / "00000000000000000000-0000000-00000000-ev.parquet").write_bytes(b"junk")
    elif kind == "schema-event":
        (d / "runs").mkdir()
        pd.DataFrame({"x": [1]}).to_parquet(d / "runs" / "00000000000000000001-0000001-00000001-ev.parquet")
    elif kind == "corrupt-metrics":
        _ledger(d)
        (d / "metrics.parquet").write_bytes(b"junk")
    elif kind == "schema-metrics":
        _ledger(d)
        pd.DataFrame({"run_id": ["a"], "tokens": [1]}).to_parquet(d / "metrics.parquet")
    elif kind == "types-metrics":
        _ledger(d)
        pd.DataFrame({"run_id": ["a"], "step": ["one"]}).to_parquet(d / "metrics.parquet")
    elif kind == "corrupt-tts":
        (d / "tts.parquet").write_bytes(b"junk")
    elif kind == "schema-tts":
        pd.DataFrame({"model_id": ["m"], "correct": [True]}).to_parquet(d / "tts.parquet")
    elif kind == "types-tts":
        _tts_rows().assign(budget="two").to_parquet(d / "tts.parquet")
    elif kind == "corrupt-tts-part":
        _tts_rows().to_parquet(d / "tts.parquet")
        (d / "tts").mkdir()
        (d / "tts" / "00000000000000000001-0000001-00000001-part.parquet").write_bytes(b"junk")
    elif kind == "spec-yaml":
        _ledger(d)
        (d / "spec.yaml").write_bytes(b"name: [broken\n")
    return d


RUNS_READS = [("empty", "not a sweep directory"), ("missing", "does not exist"),
              ("file", "is a file, not a sweep directory"),
              ("corrupt-runs", "runs.parquet: not a readable Parquet file"),
              ("truncated-runs", "runs.parquet: not a readable Parquet file"),
              ("schema-runs", "runs.parquet: not a runs table of this version (no column 'run_id')"),
              ("types-runs", "column 'final_val_loss' must hold numbers"),
              ("corrupt-event", "-ev.parquet: not a readable Parquet file"),
              ("schema-event", "ledger events lack column")]


@pytest.mark.parametrize("kind,needle", RUNS_READS, ids=[c[0] for c in RUNS_READS])
@pytest.mark.parametrize("argv", [["sweep", "status"], ["sweep", "runs"], ["sweep", "runs", "--format", "json"]],
                         ids=["status", "runs-csv", "runs-json"])
def test_sweep_readers(tmp_path, capsys, kind, needle, argv):
    d = _reader_dir(tmp_path, kind)
    check(tmp_path, [*argv, d], needle, capsys)


REPORT_READS = [("empty", "has neither runs.parquet nor tts.parquet"), ("missing", "does not exist"),
                ("corrupt-runs", "not a readable Parquet file"), ("schema-runs", "not a runs table"),
                ("types-runs", "must hold numbers"), ("corrupt-event", "not a readable Parquet file"),
                ("corrupt-metrics", "metrics.parquet: not a readable Parquet file"),
                ("schema-metrics", "not a metrics table"), ("types-metrics", "column 'step' must hold numbers"),
                ("corrupt-tts", "tts.parquet: not a readable Parquet file"), ("schema-tts", "not a tts table"),
                ("types-tts", "column 'budget' must hold numbers"),
                ("corrupt-tts-part", "-part.parquet: not a readable Parquet file"),
                ("spec-yaml", "spec.yaml: not a readable YAML spec")]


@pytest.mark.parametrize("kind,needle", REPORT_READS, ids=[c[0] for c in REPORT_READS])
def test_report_reader(tmp_path, capsys, kind, needle):
    d = _reader_dir(tmp_path, kind)
    check(tmp_path, ["report", d, "--bootstrap", "0"], needle, capsys)


CURVES_READS = [("missing", "does not exist"), ("empty", "no test-time rows"),
                ("corrupt-tts", "not a readable Parquet file"), ("schema-tts", "not a tts table"),
                ("types-tts", "must hold numbers"), ("corrupt-tts-part", "not a readable Parquet file")]


CURVES_FILE_READS = CURVES_READS[2:5]     # a tts.parquet file named directly


@pytest.mark.parametrize("kind,needle", CURVES_READS, ids=[c[0] for c in CURVES_READS])
def test_tts_curves_reader(tmp_path, capsys, kind, needle):
    check(tmp_path, ["tts", "curves", _reader_dir(tmp_path, kind)], needle, capsys)


@pytest.mark.parametrize("kind,needle", CURVES_FILE_READS, ids=[c[0] for c in CURVES_FILE_READS])
def test_tts_curves_file_reader(tmp_path, capsys, kind, needle):
    check(tmp_path, ["tts", "curves", _reader_dir(tmp_path, kind) / "tts.parquet"], needle, capsys)


# ---------------------------------------------------------------------------- test-time specs
def _model_dir(tmp: Path) -> Path:
    m = tmp / "model"
    m.mkdir(exist_ok=True)
    (m / "config.json").write_text("{}")
    return m


def _jsonl(tmp: Path, text: str) -> str:
    p = tmp / "probs.jsonl"
    p.write_text(text)
    return str(p)


def _tts(tmp: Path, **over) -> dict:
    d = {"name": "t", "storage": str(tmp / "store"), "models": [str(_model_dir(tmp))],
         "task": {"name": "arith", "options": {"n_problems": 4}}, "strategies": ["majority"],
         "budgets": {"parallel": [1, 2], "max_tokens": 16}}
    d.update(over)
    return d


GOOD_JSONL = '{"id": 1, "prompt": "1+1?", "answer": "2"}\n'
TTS_CASES = [
    ("task-name", lambda t: _tts(t, task={"name": "nope"}), "spec.task.name: unknown task 'nope'"),
    ("task-option", lambda t: _tts(t, task={"name": "arith", "options": {"bogus": 1}}), "spec.task.options"),
    ("task-n-zero", lambda t: _tts(t, task={"name": "arith", "options": {"n_problems": 0}}),
     "n_problems must be a positive integer"),
    ("task-level", lambda t: _tts(t, task={"name": "arith", "options": {"level": 9}}), "spec.task.options"),
    ("task-n-bool", lambda t: _tts(t, task={"name": "arith", "options": {"n_problems": True}}), "n_problems"),
    ("jsonl-missing", lambda t: _tts(t, task={"name": "jsonl", "options": {"path": str(t / "no.jsonl")}}),
     "file not found"),
    ("jsonl-bad-json", lambda t: _tts(t, task={"name": "jsonl", "options": {"path": _jsonl(t, "{oops\n")}}),
     "not valid JSON"),
    ("jsonl-no-answer", lambda t: _tts(t, task={"name": "jsonl", "options": {
        "path": _jsonl(t, '{"id": 1, "prompt": "q"}\n')}}), "missing field 'answer'"),
    ("jsonl-empty", lambda t: _tts(t, task={"name": "jsonl", "options": {"path": _jsonl(t, "\n")}}),
     "no problems"),
    ("verifier-name", lambda t: _tts(t, task={"name": "jsonl", "options": {
        "path": _jsonl(t, GOOD_JSONL), "verifier": "fuzzy"}}), "unknown verifier 'fuzzy'"),
    ("verifier-module", lambda t: _tts(t, task={"name": "jsonl", "options": {
        "path": _jsonl(t, GOOD_JSONL), "verifier": "nope_mod:f"}}), "cannot load 'nope_mod:f'"),
    ("verifier-function", lambda t: _tts(t, task={"name": "jsonl", "options": {
        "path": _jsonl(t, GOOD_JSONL), "verifier": "json:no_such_fn"}}), "cannot load 'json:no_such_fn'"),
    ("reward-name", lambda t: _tts(t, strategies=["best_of_n"], reward_models=["nope"]),
     "unknown reward model 'nope'"),
    ("reward-empty", lambda t: _tts(t, strategies=["best_of_n"], reward_models=[]), "needs a reward model"),
    ("reward-option", lambda t: _tts(t, strategies=["best_of_n"], reward_options={"oracle": {"x": 1}}),
     "spec.reward_options.oracle"),
    ("reward-unused", lambda t: _tts(t, reward_options={"oracle": {}}), "no strategy of this spec uses"),
    ("reward-classifier-dir", lambda t: _tts(t, strategies=["best_of_n"], reward_models=["classifier"],
                                             reward_options={"classifier": {"model": str(t / "none")}}),
     "spec.reward_options.classifier.model"),
    ("reward-classifier-option", lambda t: _tts(t, strategies=["best_of_n"], reward_models=["classifier"],
                                                reward_options={"classifier": {"model": "m", "temp": 1}}),
     "spec.reward_options.classifier"),
    ("reward-classifier-no-model", lambda t: _tts(t, strategies=["best_of_n"], reward_models=["classifier"]),
     "spec.reward_options.classifier"),
    ("reward-prm-jsonl", lambda t: _tts(t, strategies=["particle_filtering"], task={
        "name": "jsonl", "options": {"path": _jsonl(t, GOOD_JSONL)}}), "no step checker"),
    ("reward-on-majority", lambda t: _tts(t, strategies=[{"name": "majority", "reward_models": ["oracle"]}]),
     "uses no reward model"),
    ("strategy-reward-name", lambda t: _tts(t, strategies=[{"name": "best_of_n", "reward_models": ["x"]}]),
     "spec.strategies[0].reward_models[0]: unknown reward model 'x'"),
    ("strategy-pipeline-option", lambda t: _tts(t, strategies=[
        {"name": "particle_filtering", "options": {"pipeline": "yes"}}]),
     "option 'pipeline' must be true or false, got 'yes'"),
    ("engine-name", lambda t: _tts(t, engine={"name": "nope"}), "spec.engine.name: unknown engine 'nope'"),
    ("engine-option", lambda t: _tts(t, engine={"options": {"bogus": 1}}), "spec.engine.options.bogus"),
    ("engine-bool-option", lambda t: _tts(t, engine={"options": {"enable_prefix_caching": 1}}),
     "must be true or false"),
    ("engine-number-option", lambda t: _tts(t, engine={"options": {"gpu_memory_utilization": "most"}}),
     "must be a number"),
    ("engine-model", lambda t: _tts(t, engine={"options": {"model": "x"}}), "is set from spec.models"),
    ("engine-cpus", lambda t: _tts(t, engine={"cpus": 0}), "spec.engine.cpus: must be > 0"),
    ("engine-gpus", lambda t: _tts(t, engine={"gpus": -1}), "spec.engine.gpus"),
    ("engine-tp", lambda t: _tts(t, engine={"tensor_parallel_size": 0}), "spec.engine.tensor_parallel_size"),
    ("models-empty", lambda t: _tts(t, models=[]), "spec.models"),
    ("models-missing", lambda t: _tts(t, models=[str(t / "gone")]), "spec.models[0].path"),
    ("models-no-config", lambda t: _tts(t, models=[str(t)]), "no config.json"),
    ("models-both", lambda t: _tts(t, models=[{"path": "a", "sweep": "b"}]), "give exactly one"),
    ("models-dup", lambda t: _tts(t, models=[str(_model_dir(t)), str(_model_dir(t))]), "repeats"),
    ("models-sweep-empty", lambda t: _tts(t, models=[{"sweep": str(_reader_dir(t, "empty"))}]),
     "no runs.parquet"),
    ("models-sweep-corrupt", lambda t: _tts(t, models=[{"sweep": str(_reader_dir(t, "corrupt-runs"))}]),
     "not a readable Parquet file"),
    ("models-sweep-schema", lambda t: _tts(t, models=[{"sweep": str(_reader_dir(t, "schema-runs"))}]),
     "not a runs table"),
    ("models-sweep-none-done", lambda t: _tts(t, models=[{"sweep": str(_reader_dir(t, "types-runs"))}]),
     "must hold numbers"),
    ("strategy-name", lambda t: _tts(t, strategies=["nope"]), "unknown strategy"),
    ("strategy-option", lambda t: _tts(t, strategies=[{"name": "beam_search", "options": {"beam_width": 0}}]),
     "beam_width"),
    ("strategy-labels", lambda t: _tts(t, strategies=["majority", "majority"]), "label"),
    ("budget-zero", lambda t: _tts(t, budgets={"parallel": [0]}), "spec.budgets.parallel"),
    ("budget-bool", lambda t: _tts(t, budgets={"parallel": [True]}), "spec.budgets.parallel[0]: must be a number"),
    ("budget-max-tokens", lambda t: _tts(t, budgets={"max_tokens": 0}), "spec.budgets.max_tokens"),
    ("budget-n-bool", lambda t: _tts(t, budgets={"n": True}), "spec.budgets.n: must be a number"),
    ("temperature", lambda t: _tts(t, sampling={"temperature": -1}), "spec.sampling.temperature"),
    ("temperature-nan", lambda t: _tts(t, sampling={"temperature": float("nan")}), "must be a finite"),
    ("top-p", lambda t: _tts(t, sampling={"top_p": 0}), "spec.sampling.top_p"),
    ("seeds", lambda t: _tts(t, seeds=[-1]), "spec.seeds[0]: must be >= 0"),
    ("chunk", lambda t: _tts(t, chunk_size=0), "spec.chunk_size"),
    ("tts-max-failures", lambda t: _tts(t, max_failures=-1), "spec.max_failures"),
    ("name", lambda t: _tts(t, name="a/b"), "spec.name"),
    ("tts-storage-scheme", lambda t: _tts(t, storage="ftp://x"), "unsupported URI scheme"),
    ("unknown", lambda t: _tts(t, colour=1), "spec.colour: unknown field"),
]


@pytest.mark.parametrize("case,make,needle", TTS_CASES, ids=[c[0] for c in TTS_CASES])
def test_tts_spec(tmp_path, capsys, case, make, needle):
    spec = write_spec(tmp_path, make(tmp_path))
    check(tmp_path, ["tts", "run", spec], needle, capsys)


@pytest.mark.parametrize("kind,needle", STORAGE_CASES[:4], ids=[c[0] for c in STORAGE_CASES[:4]])
def test_tts_storage(tmp_path, capsys, kind, needle):
    spec = write_spec(tmp_path, _tts(tmp_path, storage=_storage(tmp_path, kind)))
    check(tmp_path, ["tts", "run", spec], needle, capsys)


# ---------------------------------------------------------------------------- options of commands
def _table(tmp: Path) -> Path:
    p = tmp / "t.csv"
    n = np.array([1e6, 2e6, 4e6, 8e6] * 3)
    d = np.repeat([1e8, 2e8, 4e8], 4)
    pd.DataFrame({"N": n, "D": d, "loss": 2 + 400 / n ** 0.3 + 400 / d ** 0.3}).to_csv(p, index=False)
    return p


OPTION_CASES = [
    ("fit-form", lambda t: ["fit", "nope", _table(t)], "unknown law form"),
    ("fit-file", lambda t: ["fit", "chinchilla", t / "none.csv"], "no such file"),
    ("fit-ext", lambda t: ["fit", "chinchilla", (t / "x.txt").write_text("a") and t / "x.txt"], "unsupported type"),
    ("fit-corrupt-parquet", lambda t: ["fit", "chinchilla", (t / "x.parquet").write_bytes(b"junk") and
                                       t / "x.parquet"], "cannot read"),
    ("fit-col", lambda t: ["fit", "chinchilla", _table(t), "--col", "N"], "expected NAME=VALUE"),
    ("fit-col-missing", lambda t: ["fit", "chinchilla", _table(t), "--col", "N=Size"], "column 'Size'"),
    ("fit-bootstrap", lambda t: ["fit", "chinchilla", _table(t), "--bootstrap", "-1"], "--bootstrap"),
    ("fit-bootstrap-text", lambda t: ["fit", "chinchilla", _table(t), "--bootstrap", "many"], "invalid int"),
    ("fit-seed", lambda t: ["fit", "chinchilla", _table(t), "--seed", "-1"], "--seed"),
    ("fit-loss", lambda t: ["fit", "chinchilla", _table(t), "--loss", "l1"], "invalid choice"),
    ("fit-json-dir", lambda t: ["fit", "chinchilla", _table(t), "--json", t / "no" / "dir" / "f.json"], "--json"),
    ("fit-plot-ext", lambda t: ["fit", "chinchilla", _table(t), "--plot", t / "f.xyz"], "--plot"),
    ("fit-plot-dir", lambda t: ["fit", "chinchilla", _table(t), "--plot", t / "no" / "f.png"], "--plot"),
    ("fit-missing-arg", lambda t: ["fit", "chinchilla"], "required"),
    ("report-bootstrap", lambda t: ["report", _ledger(t / "sw"), "--bootstrap", "-1"], "--bootstrap"),
    ("report-queries", lambda t: ["report", _ledger(t / "sw"), "--queries", "0"], "--queries"),
    ("report-queries-nan", lambda t: ["report", _ledger(t / "sw"), "--queries", "nan"], "--queries"),
    ("report-accuracy", lambda t: ["report", _ledger(t / "sw"), "--target-accuracy", "2"], "--target-accuracy"),
    ("report-file", lambda t: ["report", _table(t)], "is a file"),
    ("curves-resamples", lambda t: ["tts", "curves", t, "--resamples", "0"], "--resamples"),
    ("curves-resamples-text", lambda t: ["tts", "curves", t, "--resamples", "x"], "invalid int"),
    ("demo-bootstrap", lambda t: ["demo", "--bootstrap", "-1", "--storage", t / "store"], "--bootstrap"),
    ("demo-spec", lambda t: ["demo", "--spec", t / "none.yaml", "--storage", t / "store"], "--spec"),
    ("demo-bad-spec", lambda t: ["demo", "--spec", write_spec(t, _set(SWEEP, "lr.values", [-1])),
                                 "--storage", t / "store"], "spec.lr.values[0]"),
    ("demo-storage", lambda t: ["demo", "--storage", _storage(t, "file")], "is a file, not a directory"),
    ("command", lambda t: ["train"], "invalid choice"),
    ("sweep-sub", lambda t: ["sweep", "launch"], "invalid choice"),
    ("sweep-status-arg", lambda t: ["sweep", "status"], "required"),
    ("sweep-runs-format", lambda t: ["sweep", "runs", t, "--format", "xml"], "invalid choice"),
    ("tts-sub", lambda t: ["tts", "go"], "invalid choice"),
    ("unknown-flag", lambda t: ["report", t, "--colour"], "unrecognized arguments"),
]


@pytest.mark.parametrize("case,make,needle", OPTION_CASES, ids=[c[0] for c in OPTION_CASES])
def test_command_options(tmp_path, capsys, case, make, needle):
    argv = make(tmp_path)
    check(tmp_path, argv, needle, capsys)


def test_there_are_at_least_150_cases():
    n = (len(SPEC_FIELDS) + len(DATA_CASES) + 2 * len(FILE_CASES) + 2 * len(STORAGE_CASES) + 2
         + 3 * len(RUNS_READS) + len(REPORT_READS) + len(CURVES_READS) + len(CURVES_FILE_READS) + len(TTS_CASES) + 4
         + len(OPTION_CASES))
    assert n >= 150, n


def test_resources_no_cluster_can_hold_wait_forever_is_refused(tmp_path, capsys, monkeypatch, ray_local):
    """``gpus: 1`` on a Ray cluster without GPUs: one line before anything is written."""
    monkeypatch.delenv("RAY_ADDRESS")
    spec = write_spec(tmp_path, {**SWEEP, "storage": str(tmp_path / "store"), "resources": {"gpus": 1}})
    check(tmp_path, ["sweep", "run", spec], "spec.resources.gpus: a trial needs 1 GPU", capsys)
    spec = write_spec(tmp_path, {**SWEEP, "storage": str(tmp_path / "store"), "resources": {"cpus": 64}})
    check(tmp_path, ["sweep", "run", spec], "spec.resources.cpus: a trial needs 64 CPU", capsys)
    tts = write_spec(tmp_path, _tts(tmp_path, engine={"gpus": 2}), "tts.yaml")
    check(tmp_path, ["tts", "run", tts], "spec.engine.gpus: a trial needs 2 GPU", capsys)


def test_case_ids_are_unique():
    """Every case id names one input, so a failure points at it."""
    ids = [c[0] for c in SPEC_FIELDS + DATA_CASES + TTS_CASES + OPTION_CASES]
    assert len(ids) == len(set(ids)), json.dumps([i for i in ids if ids.count(i) > 1])
