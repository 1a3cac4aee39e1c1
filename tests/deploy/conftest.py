"""Fixtures for the deploy/ tests: strict validators built from the KubeRay v1.7.0 CRDs
(in ``../shared/kuberay-crds``, or ``$SCALELAB_KUBERAY_CRDS``) and core/v1 validation with
``kubernetes-validate``.

Kubernetes validates a custom resource against the CRD's ``openAPIV3Schema`` and, with
``kubectl apply`` (server-side field validation ``Strict``), rejects unknown fields. JSON
Schema allows unknown fields by default, so the conversion below closes every object that
lists its ``properties`` (``additionalProperties: false``) unless the CRD says it keeps
unknown fields, and maps the two Kubernetes extensions that change types
(``x-kubernetes-int-or-string``, ``nullable``). ``metadata`` is typed as a plain object in
the CRD; the API server validates it as ObjectMeta, taken here from kubernetes-validate's
own core/v1 definitions. CEL rules (``x-kubernetes-validations``) cannot be evaluated here;
``crd_cel_paths`` lists where they are so a test can check the manifests stay clear of them.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Callable

import jsonschema
import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KUBERAY = DEPLOY / "kuberay"
K8S_VERSION = "1.33"  # core/v1 schema version for pod templates and the PVC
CRD_FILES = {"RayCluster": "ray.io_rayclusters.yaml", "RayJob": "ray.io_rayjobs.yaml"}
INT_OR_STRING = [{"type": "integer"}, {"type": "string"}]
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def crd_dir() -> Path:
    """Folder holding the KubeRay CRDs: ``$SCALELAB_KUBERAY_CRDS`` or ``../shared/kuberay-crds``."""
    env = os.environ.get("SCALELAB_KUBERAY_CRDS")
    return Path(env) if env else REPO.parent / "shared" / "kuberay-crds"


def load_docs(path: Path) -> list[dict]:
    """All non-empty YAML documents of ``path``."""
    with open(path) as fh:
        return [d for d in yaml.load_all(fh, Loader=_Loader) if d]


def strictify(node: Any) -> Any:
    """Return a JSON Schema copy of an OpenAPI v3 CRD schema node that rejects unknown fields."""
    if isinstance(node, list):
        return [strictify(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: v for k, v in node.items() if not k.startswith("x-kubernetes-")}
    for key in ("properties", "patternProperties"):
        if key in out:
            out[key] = {name: strictify(sub) for name, sub in out[key].items()}
    for key in ("items", "additionalProperties", "not"):
        if isinstance(out.get(key), (dict, list)):
            out[key] = strictify(out[key])
    for key in ("anyOf", "allOf", "oneOf"):
        if key in out:
            out[key] = strictify(out[key])
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = copy.deepcopy(INT_OR_STRING)
    if node.get("nullable"):
        out.pop("nullable")
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*types, "null"]
    keeps_unknown = node.get("x-kubernetes-preserve-unknown-fields") is True
    if "properties" in out and "additionalProperties" not in out and not keeps_unknown:
        out["additionalProperties"] = False
    return out


def inline_refs(node: Any, defs: dict, depth: int = 0) -> Any:
    """Replace ``$ref``s into kubernetes-validate's ``_definitions.json`` by the definitions."""
    if depth > 20:
        raise RecursionError("definition nesting deeper than 20 levels")
    if isinstance(node, list):
        return [inline_refs(n, defs, depth) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**{k: v for k, v in node.items() if k != "$ref"}, **target}
        return inline_refs(merged, defs, depth + 1)
    return {k: inline_refs(v, defs, depth) for k, v in node.items()}


def object_meta_schema() -> dict:
    """Strict ObjectMeta schema (core/v1, ``K8S_VERSION``) from kubernetes-validate's data."""
    import importlib.resources as resources

    base = resources.files("kubernetes_validate") / "kubernetes-json-schema"
    versions = sorted(
        (p.name for p in base.iterdir() if p.name.endswith("-local-strict")),
        key=lambda n: tuple(int(x) for x in n[1:].split("-")[0].split(".")),
    )
    wanted = [v for v in versions if v.startswith(f"v{K8S_VERSION}.")] or versions[-1:]
    defs = yaml.load((base / wanted[0] / "_definitions.json").read_text(), Loader=_Loader)["$defs"]
    return inline_refs(defs["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"], defs)


def crd_schema(crd: dict, version: str = "v1") -> dict:
    """The strict JSON Schema of one served version of a CRD, with kind/apiVersion pinned."""
    served = [v for v in crd["spec"]["versions"] if v["name"] == version and v.get("served")]
    assert served, f"{crd['metadata']['name']}: version {version} is not served"
    schema = strictify(served[0]["schema"]["openAPIV3Schema"])
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    schema["properties"]["apiVersion"] = {"const": f"{group}/{version}"}
    schema["properties"]["kind"] = {"const": kind}
    schema["properties"]["metadata"] = object_meta_schema()
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return schema


def cel_paths(node: dict, path: str = "") -> list[str]:
    """Dotted paths (``[]`` for list items) of every schema node carrying CEL rules."""
    found = [path] if node.get("x-kubernetes-validations") else []
    for name, sub in node.get("properties", {}).items():
        found += cel_paths(sub, f"{path}.{name}" if path else name)
    if isinstance(node.get("items"), dict):
        found += cel_paths(node["items"], f"{path}[]")
    return found


@pytest.fixture(scope="session")
def crds() -> dict[str, dict]:
    """The raw KubeRay CRDs by kind; skips the module when the CRD folder is absent."""
    folder = crd_dir()
    missing = [f for f in CRD_FILES.values() if not (folder / f).is_file()]
    if missing:
        pytest.skip(
            f"KubeRay v1.7.0 CRDs not found in {folder} (missing {missing}); "
            "set SCALELAB_KUBERAY_CRDS or place them in ../shared/kuberay-crds"
        )
    return {kind: load_docs(folder / name)[0] for kind, name in CRD_FILES.items()}


@pytest.fixture(scope="session")
def crd_validators(crds) -> dict[str, Any]:
    """A Draft 7 validator per kind (RayCluster, RayJob) built from the strict CRD schemas."""
    out = {}
    for kind, crd in crds.items():
        assert crd["spec"]["names"]["kind"] == kind
        schema = crd_schema(crd)
        jsonschema.Draft7Validator.check_schema(schema)
        out[kind] = jsonschema.Draft7Validator(schema)
    return out


@pytest.fixture(scope="session")
def crd_cel_paths(crds) -> dict[str, list[str]]:
    """Per kind, the schema paths whose CEL rules these tests cannot evaluate."""
    out = {}
    for kind, crd in crds.items():
        v1 = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
        out[kind] = cel_paths(v1["schema"]["openAPIV3Schema"])
    return out


@pytest.fixture(scope="session")
def validate_core() -> Callable[[dict], str]:
    """Validate a full core/v1 object strictly (unknown fields rejected) with kubernetes-validate."""

    def _validate(obj: dict) -> str:
        return kubernetes_validate.validate(obj, K8S_VERSION, strict=True)

    return _validate


@pytest.fixture(scope="session")
def manifests() -> dict[str, dict]:
    """Every manifest in deploy/kuberay by file name (one document per file)."""
    out = {}
    for path in sorted(KUBERAY.glob("*.yaml")):
        docs = load_docs(path)
        assert len(docs) == 1, f"{path.name}: expected one YAML document, found {len(docs)}"
        out[path.name] = docs[0]
    return out


def iter_pod_templates(doc: dict) -> list[tuple[str, str, dict]]:
    """``(where, role, PodTemplateSpec)`` for every pod a manifest makes (role: head, worker,
    submitter or pod); a bare Pod is returned as the template it would be."""
    out = []
    if doc["kind"] == "RayCluster":
        specs = [("spec", doc["spec"])]
    elif doc["kind"] == "RayJob":
        specs = [("spec.rayClusterSpec", doc["spec"]["rayClusterSpec"])]
    else:
        specs = []
    for where, spec in specs:
        out.append((f"{where}.headGroupSpec.template", "head", spec["headGroupSpec"]["template"]))
        for i, group in enumerate(spec.get("workerGroupSpecs", [])):
            out.append((f"{where}.workerGroupSpecs[{i}].template", "worker", group["template"]))
    if doc["kind"] == "RayJob" and "submitterPodTemplate" in doc["spec"]:
        out.append(("spec.submitterPodTemplate", "submitter", doc["spec"]["submitterPodTemplate"]))
    if doc["kind"] == "Pod":
        out.append(("(pod)", "pod", {"metadata": doc["metadata"], "spec": doc["spec"]}))
    return out


@pytest.fixture(scope="session")
def pod_templates() -> Callable[[dict], list[tuple[str, str, dict]]]:
    """The :func:`iter_pod_templates` helper, as a fixture (test modules cannot import conftest)."""
    return iter_pod_templates
