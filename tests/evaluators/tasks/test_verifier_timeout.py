"""User verifiers run in the subprocess pool with a hard timeout: a hanging one is bounded by the
timeout (and its worker really was killed for timing out, not crashed), a crashing one is told
apart, and the pool answers again afterwards. Real processes, no mocks."""
from __future__ import annotations

import os
import sys
import textwrap
import time

import pytest

from evaluators.errors import EvaluatorError
from evaluators.tasks import verifiers
from evaluators.tasks.verifiers import PooledVerifier, get_verifier

MODULE = textwrap.dedent('''
    import os, time
    from pathlib import Path

    def hang(pred, ref):
        Path(os.environ["HANG_MARK"]).write_text(str(os.getpid()))
        time.sleep(120)
        return True

    def crash(pred, ref):
        os._exit(3)

    def same(pred, ref):
        return pred.strip() == ref.strip()

    def boom(pred, ref):
        raise ValueError("bad verifier")
''')


@pytest.fixture
def usermod(tmp_path, monkeypatch):
    (tmp_path / "slverify_user.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("HANG_MARK", str(tmp_path / "hang.pid"))
    verifiers._kill_pool()             # a fresh worker sees this sys.path and environment
    yield tmp_path
    verifiers._kill_pool()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:          # a zombie has exited
        return fh.read().split()[2] != "Z"


def test_hanging_user_verifier_is_bounded_by_its_timeout(usermod):
    v = get_verifier("slverify_user:hang", timeout=1.5)
    assert isinstance(v, PooledVerifier)
    t0 = time.monotonic()
    out = v.run("1", "1")
    elapsed = time.monotonic() - t0
    assert out.status == "timeout" and out.elapsed_s >= 1.5 and elapsed >= 1.5
    assert elapsed < 30                                  # not the 120 s the function sleeps
    pid = int((usermod / "hang.pid").read_text())        # the call really started in the worker
    assert pid != os.getpid()
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), "the stuck worker was not killed"
    assert v("1", "1") is False                          # as a verifier: a timeout is incorrect
    assert get_verifier("slverify_user:same")(" 7", "7") is True   # a fresh pool answers


def test_crash_and_exception_are_not_timeouts(usermod):
    t0 = time.monotonic()
    out = get_verifier("slverify_user:crash", timeout=20).run("1", "1")
    assert out.status == "crashed" and time.monotonic() - t0 < 20
    out = get_verifier("slverify_user:boom", timeout=20).run("1", "1")
    assert out.status == "error" and "bad verifier" in out.value
    assert get_verifier("slverify_user:same")("a", "a")


def test_module_level_functions_go_to_the_pool_and_bad_names_fail_at_once(usermod):
    import slverify_user

    assert isinstance(get_verifier(slverify_user.same), PooledVerifier)
    assert not isinstance(get_verifier(lambda p, r: True), PooledVerifier)   # cannot be imported
    with pytest.raises(EvaluatorError, match="cannot load 'slverify_user:nothing'"):
        get_verifier("slverify_user:nothing")
    assert "slverify_user" in sys.modules
