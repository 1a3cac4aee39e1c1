"""deploy/kuberay manifests against the KubeRay v1.7.0 CRDs (strict: unknown fields
rejected) and core/v1 (kubernetes-validate, strict), plus broken copies that must fail.

Nothing here talks to a cluster: this is schema validation only (see deploy/README.md).
"""

from __future__ import annotations

import copy
import re

import kubernetes_validate
import pytest
import yaml

CLUSTER, JOB, PVC, RESULTS = "raycluster.yaml", "rayjob.yaml", "pvc.yaml", "results-pod.yaml"
EXPECTED_KINDS = {CLUSTER: "RayCluster", JOB: "RayJob", PVC: "PersistentVolumeClaim", RESULTS: "Pod"}


def crd_errors(validator, doc: dict) -> list[str]:
    """Every schema violation of ``doc`` as ``"path: message"``."""
    return [
        f"{'.'.join(str(p) for p in err.absolute_path)}: {err.message}"
        for err in validator.iter_errors(doc)
    ]


def as_pod_template(template: dict, name: str) -> dict:
    """Wrap a PodTemplateSpec in a core/v1 PodTemplate object, as kubernetes-validate wants."""
    return {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": name}, "template": template}


def present(doc, path: str) -> bool:
    """Whether the dotted schema ``path`` (``name[]`` walks a list) is set in ``doc``."""
    nodes = [doc]
    for part in path.split("."):
        name, is_list = (part[:-2], True) if part.endswith("[]") else (part, False)
        found = []
        for node in nodes:
            if isinstance(node, dict) and name in node:
                value = node[name]
                found += value if is_list and isinstance(value, list) else [value]
        nodes = found
    return bool(nodes)


def test_deploy_folder_holds_exactly_the_known_manifests(manifests):
    """A new manifest must be added here too, so that it gets validated."""
    assert set(manifests) == set(EXPECTED_KINDS)
    for name, doc in manifests.items():
        assert doc["kind"] == EXPECTED_KINDS[name], name


@pytest.mark.parametrize("name", [CLUSTER, JOB])
def test_ray_manifest_validates_against_kuberay_crd(name, manifests, crd_validators):
    doc = manifests[name]
    assert doc["apiVersion"] == "ray.io/v1"
    assert crd_errors(crd_validators[doc["kind"]], doc) == []


@pytest.mark.parametrize("name", [CLUSTER, JOB, RESULTS])
def test_pod_templates_validate_against_core_v1(name, manifests, pod_templates, validate_core):
    doc = manifests[name]
    templates = pod_templates(doc)
    assert templates, f"{name}: no pod templates found"
    for where, _role, template in templates:
        assert validate_core(as_pod_template(template, "check")) == "1.33", where
    if doc["kind"] == "Pod":
        validate_core(doc)


def test_pvc_validates_against_core_v1(manifests, validate_core):
    pvc = manifests[PVC]
    validate_core(pvc)
    assert pvc["metadata"]["name"] == "scalelab-sweeps"
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"], "head and workers write from many nodes"
    assert pvc["spec"]["resources"]["requests"]["storage"]


@pytest.mark.parametrize("name", [CLUSTER, JOB])
def test_manifests_stay_clear_of_cel_rules(name, manifests, crd_cel_paths):
    """CEL rules (x-kubernetes-validations) are not evaluated by these tests, so the
    manifests must not set any field that carries one."""
    doc = manifests[name]
    paths = crd_cel_paths[doc["kind"]]
    assert paths, "expected the v1.7.0 CRDs to carry some CEL rules (managedBy, ...)"
    assert [p for p in paths if present(doc, p)] == []


def test_the_strict_conversion_rejects_what_the_raw_crd_allows(crds, manifests, crd_validators):
    """The raw openAPIV3Schema read as plain JSON Schema lets unknown fields through; the
    converted one must not (so the broken cases below fail for the right reason)."""
    import jsonschema

    raw = next(v for v in crds["RayCluster"]["spec"]["versions"] if v["name"] == "v1")
    doc = copy.deepcopy(manifests[CLUSTER])
    doc["spec"]["headGroupSpec"]["notAField"] = 1
    assert list(jsonschema.Draft7Validator(raw["schema"]["openAPIV3Schema"]).iter_errors(doc)) == []
    assert any("notAField" in e for e in crd_errors(crd_validators["RayCluster"], doc))


# Checks the KubeRay operator makes when it reconciles (ray-operator/controllers/ray/utils/
# validation.go), beyond the CRD schema: name rules, replica bounds, auth needs Ray >= 2.52,
# no resources in both rayStartParams and the group's `resources`, positive deadlines.
MAX_NAME = {"RayCluster": 53, "RayJob": 47}
RAY_START_RESOURCES = ("num-cpus", "num-gpus", "memory", "resources")


def operator_errors(doc: dict) -> list[str]:
    """What KubeRay's reconcile-time validation would reject in a RayCluster or RayJob."""
    errors, name = [], doc["metadata"]["name"]
    if not re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name) or len(name) > MAX_NAME[doc["kind"]]:
        errors.append(f"name {name!r}: DNS-1035 label of at most {MAX_NAME[doc['kind']]} characters")
    spec = doc["spec"]["rayClusterSpec"] if doc["kind"] == "RayJob" else doc["spec"]
    groups = [("head", spec["headGroupSpec"])] + [(g["groupName"], g) for g in spec["workerGroupSpecs"]]
    for group_name, group in groups:
        params = group.get("rayStartParams", {})
        if group.get("resources") and any(params.get(k) for k in RAY_START_RESOURCES):
            errors.append(f"{group_name}: resources in both rayStartParams and resources")
        if not group["template"]["spec"].get("containers"):
            errors.append(f"{group_name}: no container")
    for group in spec["workerGroupSpecs"]:
        if not 0 <= group["minReplicas"] <= group["maxReplicas"]:
            errors.append(f"{group['groupName']}: minReplicas/maxReplicas")
    if spec.get("authOptions", {}).get("mode") == "token":
        version = tuple(int(x) for x in spec.get("rayVersion", "0").split(".")[:3])
        if version < (2, 52, 0):
            errors.append("authOptions.mode token needs rayVersion >= 2.52.0")
    if doc["kind"] == "RayJob":
        job = doc["spec"]
        if job.get("ttlSecondsAfterFinished", 0) < 0 or job.get("activeDeadlineSeconds", 1) <= 0:
            errors.append("ttlSecondsAfterFinished < 0 or activeDeadlineSeconds <= 0")
        if not isinstance(yaml.safe_load(job.get("runtimeEnvYAML", "") or "{}"), dict):
            errors.append("runtimeEnvYAML is not a YAML mapping")
    return errors


@pytest.mark.parametrize("name", [CLUSTER, JOB])
def test_operator_side_rules_hold(name, manifests):
    assert operator_errors(manifests[name]) == []


@pytest.mark.parametrize(
    "name,mutate",
    [
        (CLUSTER, lambda d: d["metadata"].update(name="1-scalelab")),
        (JOB, lambda d: d["metadata"].update(name="q" * 48)),
        (CLUSTER, lambda d: d["spec"].update(rayVersion="2.51.0")),
        (JOB, lambda d: d["spec"]["rayClusterSpec"]["workerGroupSpecs"][0].update(minReplicas=5)),
        (CLUSTER, lambda d: d["spec"]["headGroupSpec"].update(resources={"CPU": "4"})),
    ],
    ids=["name-starts-with-digit", "rayjob-name-too-long", "auth-on-old-ray", "min-above-max",
         "resources-twice"],
)
def test_operator_side_rules_catch_breakage(name, mutate, manifests):
    doc = copy.deepcopy(manifests[name])
    mutate(doc)
    assert operator_errors(doc)


@pytest.mark.parametrize("name", [PVC, RESULTS])
def test_core_object_names_are_dns_labels(name, manifests):
    value = manifests[name]["metadata"]["name"]
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", value) and len(value) <= 63, value


# --- deliberately broken manifests -------------------------------------------------------


def _worker(doc: dict) -> dict:
    spec = doc["spec"]["rayClusterSpec"] if doc["kind"] == "RayJob" else doc["spec"]
    return spec["workerGroupSpecs"][0]


def _container(template: dict) -> dict:
    return template["spec"]["containers"][0]


def _set(path_fn, key, value):
    def mutate(doc):
        path_fn(doc)[key] = value

    return mutate


def _delete(path_fn, key):
    def mutate(doc):
        del path_fn(doc)[key]

    return mutate


# (id, manifest, mutation, text that must appear in some error)
CRD_BREAKS = [
    ("unknown-field-in-spec", CLUSTER, _set(lambda d: d["spec"], "enableAutoscaling", True),
     "enableAutoscaling"),
    ("unknown-field-in-headGroupSpec", CLUSTER,
     _set(lambda d: d["spec"]["headGroupSpec"], "serviceTyp", "ClusterIP"), "serviceTyp"),
    ("replicas-wrong-type", CLUSTER, _set(_worker, "replicas", "two"), "'two' is not of type 'integer'"),
    ("maxReplicas-wrong-type", JOB, _set(_worker, "maxReplicas", 4.5), "not of type 'integer'"),
    ("missing-required-groupName", CLUSTER, _delete(_worker, "groupName"), "'groupName' is a required"),
    ("missing-required-headGroupSpec", CLUSTER, _delete(lambda d: d["spec"], "headGroupSpec"),
     "'headGroupSpec' is a required"),
    ("missing-required-template", JOB, _delete(_worker, "template"), "'template' is a required"),
    ("shutdown-flag-as-string", JOB, _set(lambda d: d["spec"], "shutdownAfterJobFinishes", "yes"),
     "not of type 'boolean'"),
    ("typo-in-rayjob-spec", JOB, _set(lambda d: d["spec"], "ttlSecondsAfterFinish", 60),
     "ttlSecondsAfterFinish"),
    ("unknown-metadata-field", CLUSTER, _set(lambda d: d["metadata"], "lables", {"a": "b"}), "lables"),
    ("wrong-kind", CLUSTER, _set(lambda d: d, "kind", "RayClusters"), "RayCluster"),
    ("wrong-apiVersion", JOB, _set(lambda d: d, "apiVersion", "ray.io/v2"), "ray.io/v1"),
    ("cpu-limit-neither-int-nor-string", CLUSTER,
     _set(lambda d: _container(_worker(d)["template"])["resources"]["limits"], "cpu", ["8"]),
     "limits.cpu"),
    ("unknown-field-in-container", CLUSTER,
     _set(lambda d: _container(_worker(d)["template"]), "securityContxt", {}), "securityContxt"),
    ("enum-violation-auth-mode", CLUSTER, _set(lambda d: d["spec"]["authOptions"], "mode", "none"),
     "'none' is not one of"),
]


@pytest.mark.parametrize("case", CRD_BREAKS, ids=[c[0] for c in CRD_BREAKS])
def test_broken_manifest_fails_crd_validation(case, manifests, crd_validators):
    _id, name, mutate, needle = case
    doc = copy.deepcopy(manifests[name])
    validator = crd_validators[doc["kind"]]
    assert crd_errors(validator, doc) == []
    mutate(doc)
    errors = crd_errors(validator, doc)
    assert errors, f"{_id}: the broken manifest validated"
    assert any(needle in e for e in errors), errors


def _head_template(doc: dict) -> dict:
    return doc["spec"]["headGroupSpec"]["template"]


# (id, mutation of a PodTemplateSpec or of the PVC, text in the error message or path)
CORE_BREAKS = [
    ("unknown-field-in-container", CLUSTER,
     lambda d: _container(_head_template(d)).update(imagePullPolicyy="Always"), "imagePullPolicyy"),
    ("unknown-field-in-securityContext", CLUSTER,
     lambda d: _container(_head_template(d))["securityContext"].update(runAsNonroot=True),
     "runAsNonroot"),
    ("container-missing-name", CLUSTER, lambda d: _container(_head_template(d)).pop("name"),
     "'name' is a required"),
    ("pod-without-containers", CLUSTER, lambda d: _head_template(d)["spec"].pop("containers"),
     "'containers' is a required"),
    ("submitter-port-as-word", JOB,
     lambda d: _container(d["spec"]["submitterPodTemplate"]).update(ports=[{"containerPort": "http"}]),
     "'http' is not of type"),
    ("pvc-accessModes-not-a-list", PVC, lambda d: d["spec"].update(accessModes="ReadWriteMany"),
     "is not of type 'array'"),
    ("pvc-unknown-spec-field", PVC, lambda d: d["spec"].update(storageClass="nfs"), "storageClass"),
]


@pytest.mark.parametrize("case", CORE_BREAKS, ids=[c[0] for c in CORE_BREAKS])
def test_broken_manifest_fails_core_v1_validation(case, manifests, validate_core):
    _id, name, mutate, needle = case
    doc = copy.deepcopy(manifests[name])
    mutate(doc)
    if doc["kind"] == "PersistentVolumeClaim":
        target = doc
    else:
        template = doc["spec"]["submitterPodTemplate"] if "submitter" in _id else _head_template(doc)
        target = as_pod_template(template, "broken")
    with pytest.raises(kubernetes_validate.ValidationError) as info:
        validate_core(target)
    err = info.value
    where = ".".join(str(p) for p in err.absolute_path)
    assert needle in err.message or needle in where, (err.message, where)
