"""The test-time spec: one-line errors in the sweep spec's format, budgets, registry checks."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2]))
from fake_engine import tts_spec_dict  # noqa: E402

from orchestrator.errors import SpecError  # noqa: E402
from orchestrator.spec.tts import TTSSpec  # noqa: E402


@pytest.mark.parametrize("over,needle", [
    ({"bogus": 1}, "bogus"),
    ({"budgets": {"parallel": [0]}}, "budgets.parallel"),
    ({"strategies": [{"name": "beam_search", "options": {"beam_width": 0}}]}, "beam_width"),
    ({"strategies": ["majority", "majority"]}, "label"),
    ({"strategies": ["nope"]}, "unknown strategy"),
    ({"models": [{"path": "x", "sweep": "y"}]}, "spec.models[0]: give exactly one"),
    ({"name": "a b"}, "spec.name:"),
    ({"seeds": [-1]}, "spec.seeds[0]: must be >= 0"),
    ({"seeds": [1, 1]}, "spec.seeds: has duplicate"),
    ({"storage": "ftp://x"}, "spec.storage: unsupported URI scheme"),
])
def test_spec_errors_are_one_line_and_name_the_field(tmp_path, over, needle):
    with pytest.raises(SpecError) as ei:
        TTSSpec.from_dict(tts_spec_dict(tmp_path, **over))
    msg = str(ei.value)
    assert needle in msg and "\n" not in msg and ei.value.exit_code == 2


def test_budget_points_are_parallel_then_sequential_without_repeats(tmp_path):
    spec = TTSSpec.from_dict(tts_spec_dict(tmp_path, budgets={"parallel": [1, 4], "sequential": [16, 64],
                                                          "n": 4, "max_tokens": 64}))
    assert spec.budgets.points() == [("parallel", 1, 64), ("parallel", 4, 64),
                                     ("sequential", 4, 16)]          # (4, 64) only once


def test_from_yaml_overrides_storage_and_round_trips(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(TTSSpec.from_dict(tts_spec_dict(tmp_path)).to_yaml())
    spec = TTSSpec.from_yaml(path, storage=str(tmp_path / "elsewhere"))
    assert spec.location == str((tmp_path / "elsewhere" / "t").resolve())
    assert TTSSpec.from_yaml(path).strategies[3].options == {"beam_width": 2}


def test_non_utf8_and_non_mapping_files_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"name: \xff\xfe")
    with pytest.raises(SpecError, match="not UTF-8"):
        TTSSpec.from_yaml(bad)
    bad.write_text("- a\n- b\n")
    with pytest.raises(SpecError, match="must be a mapping"):
        TTSSpec.from_yaml(bad)
