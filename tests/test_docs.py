"""The README and the examples must not drift from the code."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def _cli_commands() -> list[list[str]]:
    """`scalelab a b …` commands listed in the README's CLI table (words before options)."""
    cmds = []
    for m in re.finditer(r"^\| `scalelab ([^`]+)`", README, flags=re.M):
        words = [w for w in m.group(1).split() if re.fullmatch(r"[a-z]+", w)]
        cmds.append(words)
    return cmds


def test_readme_starts_with_the_two_commands():
    first_screen = "\n".join(README.splitlines()[:20])
    assert "make demo" in first_screen and "make test" in first_screen
    assert "make test" in (REPO / ".ci" / "run").read_text()


@pytest.mark.parametrize("words", _cli_commands(), ids=" ".join)
def test_every_readme_cli_command_exists(words):
    r = subprocess.run([sys.executable, "-m", "orchestrator.cli", *words, "--help"],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "usage: scalelab " + " ".join(words) in r.stdout


def test_readme_cli_table_is_not_empty():
    assert len(_cli_commands()) >= 8


@pytest.mark.parametrize("path", sorted((REPO / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_spec_validates(path):
    data = yaml.safe_load(path.read_text())
    if "strategies" in data:  # a test-time spec
        from orchestrator import TTSSpec

        spec = TTSSpec.from_yaml(path)
        assert spec.name == data["name"]
    else:
        from orchestrator import SweepSpec

        spec = SweepSpec.from_yaml(path)
        assert spec.name == data["name"]


def test_every_path_the_readme_names_exists():
    for rel in set(re.findall(r"`((?:examples|deploy|bench|tests)/[\w./-]+)`", README)):
        rel = rel.split()[0].rstrip(".")
        assert (REPO / rel).exists(), rel
