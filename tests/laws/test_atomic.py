"""The one atomic-write helper: whole files or nothing, directories swapped whole."""
from __future__ import annotations

import os

import pytest

from laws.atomic import atomic_path, atomic_write, publish_dir


def test_atomic_write_creates_parents_and_replaces(tmp_path):
    p = tmp_path / "a" / "b.json"
    atomic_write(p, "one")
    atomic_write(p, b"two")
    assert p.read_text() == "two"
    assert [f.name for f in p.parent.iterdir()] == ["b.json"]     # no temporary left behind


def test_a_failed_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    p = tmp_path / "x.txt"
    atomic_write(p, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(p) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert p.read_text() == "old" and os.listdir(tmp_path) == ["x.txt"]


def test_atomic_path_keeps_the_suffix_for_format_sniffing_writers(tmp_path):
    with atomic_path(tmp_path / "fig.png") as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path and tmp.name.startswith(".")
        tmp.write_bytes(b"png")
    assert (tmp_path / "fig.png").read_bytes() == b"png"


def test_publish_dir_swaps_a_whole_directory(tmp_path):
    target = tmp_path / "final"
    for content in ("v1", "v2"):
        tmp = tmp_path / f".tmp-{content}"
        tmp.mkdir()
        (tmp / "weights").write_text(content)
        publish_dir(tmp, target)
        assert (target / "weights").read_text() == content
    assert sorted(os.listdir(tmp_path)) == ["final"]             # old copy and temp gone
