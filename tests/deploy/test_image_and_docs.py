"""deploy/Dockerfile (parsed, since it cannot be built here), its ignore file,
deploy/runtime_env.yaml (checked with Ray's own packaging code) and deploy/README.md."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SECRETISH = re.compile(r"(^|_)(SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIALS?|ACCESS_KEY|API_KEY)(_|$)", re.I)


def instructions(path: Path) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of a Dockerfile, continuation lines joined, comments dropped."""
    out, pending = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending = f"{pending} {line}" if pending else line
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        word, _, rest = pending.partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    assert not pending, "Dockerfile ends inside a continued line"
    return out


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    """The parsed deploy/Dockerfile."""
    return instructions(DEPLOY / "Dockerfile")


def args_of(dockerfile, word: str) -> list[str]:
    """Arguments of every ``word`` instruction, in order."""
    return [rest for w, rest in dockerfile if w == word]


def build_args(dockerfile) -> dict[str, str]:
    """``ARG NAME=default`` values."""
    return dict(a.split("=", 1) for a in args_of(dockerfile, "ARG") if "=" in a)


def load(path: Path) -> dict:
    """One YAML document."""
    return yaml.safe_load(path.read_text())


def test_base_image_is_a_pinned_ray_gpu_image_matching_the_manifests(dockerfile):
    froms = args_of(dockerfile, "FROM")
    assert froms, "no FROM"
    for image in froms:
        ref = image.split()[0]
        name, _, tag = ref.rpartition(":")
        assert "@sha256:" in ref or (name and tag not in ("", "latest") and "/" not in tag), ref
    match = re.fullmatch(r"rayproject/ray:(\d+\.\d+\.\d+)-py3\d+-gpu", froms[-1].split()[0])
    assert match, f"final stage should be a pinned rayproject/ray GPU image: {froms[-1]}"
    ray_version = match[1]
    assert build_args(dockerfile).get("RAY_VERSION") == ray_version
    cluster = load(DEPLOY / "kuberay" / "raycluster.yaml")
    job = load(DEPLOY / "kuberay" / "rayjob.yaml")
    assert cluster["spec"]["rayVersion"] == ray_version
    assert job["spec"]["rayClusterSpec"]["rayVersion"] == ray_version


def test_dockerfile_parses_with_buildkit_parser(dockerfile):
    """The official (Go, BuildKit) Dockerfile parser reads the same instructions."""
    parser = pytest.importorskip("dockerfile", reason="`dockerfile` (BuildKit parser) not installed")
    parsed = parser.parse_file(str(DEPLOY / "Dockerfile"))
    assert [c.cmd.upper() for c in parsed] == [word for word, _ in dockerfile]


def test_image_runs_as_non_root(dockerfile):
    users = args_of(dockerfile, "USER")
    assert users, "no USER: the image would run as whatever the base sets"
    assert users[-1].split(":")[0] not in ("root", "0"), users[-1]
    for word, rest in dockerfile:
        assert not (word == "RUN" and re.search(r"\bsudo\b", rest)), rest


def test_vllm_and_ray_are_pinned(dockerfile):
    args = build_args(dockerfile)
    assert re.fullmatch(r"\d+\.\d+\.\d+", args.get("VLLM_VERSION", "")), args
    runs = " ".join(args_of(dockerfile, "RUN"))
    assert '"vllm==${VLLM_VERSION}"' in runs
    assert 'ray==${RAY_VERSION}' in runs and "-c /tmp/constraints.txt" in runs


def test_image_copies_existing_sources_and_ships_the_rayjob_spec(dockerfile):
    sources = []
    for rest in args_of(dockerfile, "COPY"):
        parts = [p for p in rest.split() if not p.startswith("--")]
        sources += parts[:-1]
    for src in sources:
        assert (REPO / src).exists(), f"COPY source {src} missing from the repository"
    for pkg in ("orchestrator", "evaluators", "laws", "pyproject.toml"):
        assert any(s.rstrip("/") == pkg for s in sources), pkg
    workdir = args_of(dockerfile, "WORKDIR")[-1]
    entrypoint = load(DEPLOY / "kuberay" / "rayjob.yaml")["spec"]["entrypoint"].split()
    spec_path = entrypoint[3]
    assert spec_path.startswith(workdir + "/"), f"{spec_path} is not under WORKDIR {workdir}"
    rel = spec_path[len(workdir) + 1:]
    assert any(rel.startswith(s.rstrip("/") + "/") for s in sources), f"{rel} is not copied"
    assert (REPO / rel).is_file(), f"the RayJob runs {rel}, which the repository lacks"


def test_image_bakes_in_no_secrets(dockerfile):
    for word, rest in dockerfile:
        if word in ("ENV", "ARG"):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", rest) or [rest.split()[0]]
            assert not [n for n in names if SECRETISH.search(n)], rest
        assert not (word == "ADD" and "://" in rest), f"ADD of a URL: {rest}"


def test_dockerignore_keeps_the_context_small():
    patterns = {
        line.strip()
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for needed in (".git", ".venv", "**/*.parquet", "**/checkpoints", "runs"):
        assert needed in patterns, needed


def test_runtime_env_is_valid_and_excludes_heavy_paths(tmp_path):
    from ray._private.runtime_env.packaging import create_package
    from ray.runtime_env import RuntimeEnv

    env = load(DEPLOY / "runtime_env.yaml")
    RuntimeEnv(**env)  # Ray's own field validation
    assert env["working_dir"] == "."
    kept = ["orchestrator/runs/store.py", "examples/quickstart.yaml", "deploy/runtime_env.yaml"]
    dropped = [
        ".git/objects/pack", ".venv/lib/torch.so", "runs/q/metrics.parquet", "scalelab_runs/x",
        "sub/checkpoints/step_10/model.safetensors", "data/train.bin", "tts.parquet",
        "orchestrator/__pycache__/store.cpython-311.pyc", "bench/results/b.json",
    ]
    for rel in kept + dropped:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    package = tmp_path.parent / f"{tmp_path.name}.zip"
    # The function `ray job submit --working-dir` uses to build the uploaded zip.
    create_package(str(tmp_path), package, include_gitignore=True, excludes=env["excludes"])
    with zipfile.ZipFile(package) as zf:
        files = sorted(n for n in zf.namelist() if not n.endswith("/"))
    assert files == sorted(kept)


def test_readme_names_every_deploy_file_and_every_path_it_names_exists():
    readme = (DEPLOY / "README.md").read_text()
    files = [p for p in DEPLOY.rglob("*") if p.is_file() and p.name != "README.md"]
    assert len(files) >= 7
    for path in files:
        rel = path.relative_to(REPO).as_posix()
        assert rel in readme, f"deploy/README.md does not mention {rel}"
    for rel in set(re.findall(r"(?<![\w/])deploy/[\w./-]+\w", readme)):
        if "*" not in rel:
            assert (REPO / rel).exists(), f"deploy/README.md names {rel}, which does not exist"


def test_readme_covers_the_cluster_walkthrough():
    readme = (DEPLOY / "README.md").read_text()
    for needle in (
        "helm install kuberay-operator", "--version 1.7.0", "docker build -f deploy/Dockerfile",
        "kubectl port-forward svc/scalelab-head-svc 8265:8265", "ray job submit --address",
        "--runtime-env deploy/runtime_env.yaml", "kubectl get rayjob", "kubectl cp",
        "s3://", "100 MiB", "never", "ClusterIP",
    ):
        assert needle in readme, needle
    head_service = load(DEPLOY / "kuberay" / "raycluster.yaml")["metadata"]["name"] + "-head-svc"
    assert f"svc/{head_service}" in readme
