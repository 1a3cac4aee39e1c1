"""Safe defaults of the deploy/kuberay manifests, checked field by field: non-root and
unprivileged pods, requests and limits everywhere, a cluster-internal dashboard, shared
sweep storage, GPU workers with autoscaling bounds, and a RayJob that cleans up after itself.
"""

from __future__ import annotations

import re

import pytest
import yaml

CLUSTER, JOB, RESULTS = "raycluster.yaml", "rayjob.yaml", "results-pod.yaml"
POD_MANIFESTS = [CLUSTER, JOB, RESULTS]
SWEEPS_CLAIM, SWEEPS_MOUNT = "scalelab-sweeps", "/mnt/sweeps"
SECRETISH = re.compile(r"(^|_)(SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIALS?|ACCESS_KEY|API_KEY)(_|$)", re.I)
# Volume types the Pod Security Standard "restricted" profile allows.
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                      "persistentVolumeClaim", "projected", "secret"}
UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9}


def to_bytes(quantity) -> int:
    """A Kubernetes memory quantity (``16Gi``, ``512Mi``, ``2147483648``) in bytes."""
    match = re.fullmatch(r"(\d+)([A-Za-z]*)", str(quantity))
    assert match, f"unsupported quantity {quantity!r}"
    return int(match[1]) * (UNITS[match[2]] if match[2] else 1)


def cluster_specs(doc: dict) -> list[dict]:
    """The RayCluster specs in a manifest (a RayCluster's spec or a RayJob's rayClusterSpec)."""
    if doc["kind"] == "RayCluster":
        return [doc["spec"]]
    if doc["kind"] == "RayJob":
        return [doc["spec"]["rayClusterSpec"]]
    return []


def all_containers(template: dict) -> list[dict]:
    """Containers and init containers of a PodTemplateSpec."""
    spec = template["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def assert_hardened(where: str, ctx: dict) -> None:
    """A container securityContext that cannot gain privileges."""
    assert ctx.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation"
    assert ctx.get("privileged") is not True, f"{where}: privileged"
    assert "ALL" in ctx.get("capabilities", {}).get("drop", []), f"{where}: capabilities.drop ALL"
    assert not ctx.get("capabilities", {}).get("add"), f"{where}: capabilities.add"
    assert ctx.get("runAsUser", 1000) != 0, f"{where}: runAsUser 0"


def assert_requests_and_limits(where: str, resources: dict) -> None:
    """cpu and memory requested and limited, requests not above limits."""
    requests, limits = resources.get("requests", {}), resources.get("limits", {})
    for key in ("cpu", "memory"):
        assert key in requests and key in limits, f"{where}: resources.requests/limits.{key}"
    assert to_bytes(requests["memory"]) <= to_bytes(limits["memory"]), f"{where}: memory"


@pytest.mark.parametrize("name", POD_MANIFESTS)
def test_every_pod_is_non_root_and_unprivileged(name, manifests, pod_templates):
    """The checks of the Pod Security Standard "restricted" profile that a manifest decides."""
    for where, _role, template in pod_templates(manifests[name]):
        spec = template["spec"]
        pod_ctx = spec.get("securityContext", {})
        assert pod_ctx.get("runAsNonRoot") is True, f"{where}: runAsNonRoot"
        assert pod_ctx.get("runAsUser") == 1000, f"{where}: runAsUser (the image's ray user)"
        assert pod_ctx.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            assert spec.get(host) is not True, f"{where}: {host}"
        for volume in spec.get("volumes", []):
            kinds = set(volume) - {"name"}
            assert kinds <= RESTRICTED_VOLUMES, f"{where}: volume {volume['name']} is {kinds}"
        for container in all_containers(template):
            cwhere = f"{where}/{container['name']}"
            ctx = container.get("securityContext", {})
            assert_hardened(cwhere, ctx)
            assert ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")) is True, cwhere
            assert not [p for p in container.get("ports", []) if "hostPort" in p], cwhere


@pytest.mark.parametrize("name", POD_MANIFESTS)
def test_every_container_has_requests_and_limits(name, manifests, pod_templates):
    for where, _role, template in pod_templates(manifests[name]):
        for container in all_containers(template):
            assert_requests_and_limits(f"{where}/{container['name']}", container.get("resources", {}))


@pytest.mark.parametrize("name", POD_MANIFESTS)
def test_images_are_pinned_and_consistent(name, manifests, pod_templates):
    images = {c["image"] for _w, _r, t in pod_templates(manifests[name]) for c in all_containers(t)}
    assert len(images) == 1, f"one image for head, workers and submitter: {images}"
    image = images.pop()
    repo, _, tag = image.rpartition(":")
    assert repo and "/" not in tag and tag not in ("", "latest"), f"unpinned image {image}"


@pytest.mark.parametrize("name", [CLUSTER, JOB])
def test_autoscaler_sidecar_is_hardened_and_bounded(name, manifests):
    for spec in cluster_specs(manifests[name]):
        assert spec["enableInTreeAutoscaling"] is True
        options = spec["autoscalerOptions"]
        assert_hardened("autoscaler", options["securityContext"])
        assert options["securityContext"].get("runAsNonRoot") is True
        assert_requests_and_limits("autoscaler", options["resources"])


@pytest.mark.parametrize("name", [CLUSTER, JOB])
def test_dashboard_stays_inside_the_cluster(name, manifests):
    for spec in cluster_specs(manifests[name]):
        head = spec["headGroupSpec"]
        assert head["serviceType"] == "ClusterIP", "reach the dashboard with kubectl port-forward"
        assert head.get("enableIngress") is not True
        assert spec.get("authOptions", {}).get("mode") == "token", "Ray token auth on"


@pytest.mark.parametrize("name", [CLUSTER, JOB])
def test_gpu_workers_with_autoscaling_bounds(name, manifests):
    for spec in cluster_specs(manifests[name]):
        head_params = spec["headGroupSpec"]["rayStartParams"]
        assert head_params.get("num-gpus") == "0", "keep GPU work off the head"
        assert spec["workerGroupSpecs"], "no worker group"
        for group in spec["workerGroupSpecs"]:
            assert 0 <= group["minReplicas"] <= group.get("replicas", 0) <= group["maxReplicas"]
            assert group["maxReplicas"] >= 1
            resources = group["template"]["spec"]["containers"][0]["resources"]
            gpus = int(resources["limits"]["nvidia.com/gpu"])
            assert gpus >= 1, group["groupName"]
            assert int(resources["requests"].get("nvidia.com/gpu", gpus)) == gpus
            tolerated = {t.get("key") for t in group["template"]["spec"].get("tolerations", [])}
            assert "nvidia.com/gpu" in tolerated, "GPU nodes are usually tainted nvidia.com/gpu"


@pytest.mark.parametrize("name", [CLUSTER, JOB])
def test_ray_pods_mount_sweeps_volume_and_memory_shm(name, manifests, pod_templates):
    for where, role, template in pod_templates(manifests[name]):
        if role not in ("head", "worker"):
            continue
        spec = template["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in spec["containers"][0]["volumeMounts"]}
        sweeps = volumes[mounts[SWEEPS_MOUNT]]
        assert sweeps["persistentVolumeClaim"]["claimName"] == SWEEPS_CLAIM, where
        shm = volumes[mounts["/dev/shm"]]["emptyDir"]
        assert shm["medium"] == "Memory", where


@pytest.mark.parametrize("name", [CLUSTER, JOB])
def test_object_store_fits_in_shm(name, manifests):
    for spec in cluster_specs(manifests[name]):
        for group in [spec["headGroupSpec"], *spec["workerGroupSpecs"]]:
            store = to_bytes(group["rayStartParams"]["object-store-memory"])
            tspec = group["template"]["spec"]
            shm_name = next(
                m["name"] for m in tspec["containers"][0]["volumeMounts"] if m["mountPath"] == "/dev/shm"
            )
            shm = next(v for v in tspec["volumes"] if v["name"] == shm_name)["emptyDir"]
            assert store < to_bytes(shm["sizeLimit"])
            limit = tspec["containers"][0]["resources"]["limits"]["memory"]
            assert to_bytes(shm["sizeLimit"]) < to_bytes(limit), "shm counts against the memory limit"


TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def test_no_pod_automounts_a_service_account_token(manifests, pod_templates):
    for name in POD_MANIFESTS:
        for where, _role, template in pod_templates(manifests[name]):
            assert template["spec"].get("automountServiceAccountToken") is False, where


@pytest.mark.parametrize("name", [CLUSTER, JOB])
def test_only_the_autoscaler_sidecar_gets_a_token(name, manifests, pod_templates):
    """The head's autoscaler (which scales the GPU workers through the Kubernetes API) mounts a
    projected token; the ray-head container, which runs the driver and job code, does not."""
    for spec in cluster_specs(manifests[name]):
        mounts = spec["autoscalerOptions"]["volumeMounts"]
        token = [m for m in mounts if m["mountPath"] == TOKEN_DIR]
        assert len(token) == 1 and token[0]["readOnly"] is True
        head = spec["headGroupSpec"]["template"]["spec"]
        volume = {v["name"]: v for v in head["volumes"]}[token[0]["name"]]
        sources = volume["projected"]["sources"]
        assert [next(iter(s)) for s in sources] == ["serviceAccountToken", "configMap", "downwardAPI"]
        assert sources[0]["serviceAccountToken"]["expirationSeconds"] <= 3600
        for container in all_containers(spec["headGroupSpec"]["template"]):
            assert all(m["name"] != token[0]["name"] for m in container.get("volumeMounts", [])), container["name"]


@pytest.mark.parametrize("name", POD_MANIFESTS)
def test_no_inline_secrets(name, manifests, pod_templates):
    for where, _role, template in pod_templates(manifests[name]):
        for container in all_containers(template):
            for env in container.get("env", []):
                if SECRETISH.search(env["name"]):
                    assert "value" not in env, f"{where}: {env['name']} must come from a Secret"


def test_rayjob_runs_the_sweep_and_cleans_up(manifests):
    spec = manifests[JOB]["spec"]
    assert spec["shutdownAfterJobFinishes"] is True
    assert spec["ttlSecondsAfterFinished"] > 0
    assert spec.get("activeDeadlineSeconds", 1) > 0
    words = spec["entrypoint"].split()
    assert words[:3] == ["scalelab", "sweep", "run"], spec["entrypoint"]
    assert words[words.index("--storage") + 1] == SWEEPS_MOUNT
    submitter = spec["submitterPodTemplate"]["spec"]
    assert submitter["restartPolicy"] == "Never"
    assert not submitter["containers"][0].get("command"), "KubeRay fills in `ray job submit`"


def test_rayjob_runtime_env_is_a_valid_ray_runtime_env(manifests):
    from ray.runtime_env import RuntimeEnv

    env = yaml.safe_load(manifests[JOB]["spec"]["runtimeEnvYAML"])
    assert isinstance(env, dict)
    RuntimeEnv(**env)  # Ray's own validation of the fields
    assert "working_dir" not in env, "a local working_dir cannot be uploaded by the submitter pod"


def test_rayjob_cluster_is_the_raycluster(manifests):
    """rayjob.yaml embeds the same cluster as raycluster.yaml, so the two cannot drift."""
    assert manifests[JOB]["spec"]["rayClusterSpec"] == manifests[CLUSTER]["spec"]


def test_rayjob_submitter_hardened_like_the_cluster(manifests):
    submitter = manifests[JOB]["spec"]["submitterPodTemplate"]["spec"]
    head = manifests[CLUSTER]["spec"]["headGroupSpec"]["template"]["spec"]
    assert submitter["containers"][0]["image"] == head["containers"][0]["image"]
    assert submitter["containers"][0]["securityContext"] == head["containers"][0]["securityContext"]
