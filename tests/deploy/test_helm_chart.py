"""The Helm chart (deploy/helm/oculi) renders and every object validates against the Kubernetes schemas.

Rendering is Helm's own engine (Helm v4's Go SDK through ``helm-python-sdk``; no
``helm`` binary, no cluster), validation is ``kubernetes-validate``'s strict JSON
schemas of the oldest and newest Kubernetes versions it ships that the chart
supports. No cluster runs here: what a real API server adds (admission, storage
classes, the GPU device plugin) is not checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from helm_python import chart as helm_chart

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "oculi"
KUBE_VERSIONS = ("1.29.0", "1.37.0")  # Chart.yaml: kubeVersion >=1.29
BASE_VALUES: dict[str, Any] = {"apiKeys": ["sk-one", "sk-two"], "postgresql": {"password": "pa:ss@word"}}


def render(values: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """The chart's objects for ``values``, by (kind, name)."""
    manifests = helm_chart.Chart.load(CHART).render(values, name="demo", namespace="ai", is_install=True)
    objects = [doc for text in manifests.values() for doc in yaml.safe_load_all(text) if doc]
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def gpu_values() -> dict[str, Any]:
    return {**BASE_VALUES, **yaml.safe_load((CHART / "values-gpu.yaml").read_text())}


VALUE_SETS = {
    "default": BASE_VALUES,
    "gpu": gpu_values(),
    "external-store": {
        "apiKeys": ["k"],
        "postgresql": {"enabled": False},
        "store": {"existingSecret": "my-store"},
        "modelCache": {"enabled": False},
        "existingKeysSecret": "my-keys",
    },
}


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_object_validates_against_the_kubernetes_schema(name: str, kube_version: str) -> None:
    objects = render(VALUE_SETS[name])
    assert ("Deployment", "demo-oculi") in objects and ("Service", "demo-oculi") in objects
    for obj in objects.values():
        kubernetes_validate.validate(obj, kube_version, strict=True)


def test_helm_lint_finds_no_error() -> None:
    report = helm_chart.lint(CHART, BASE_VALUES, strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_replicas_share_one_postgresql_and_read_keys_from_a_secret() -> None:
    objects = render({**BASE_VALUES, "replicaCount": 3})
    deployment = objects[("Deployment", "demo-oculi")]
    assert deployment["spec"]["replicas"] == 3
    assert objects[("StatefulSet", "demo-oculi-postgresql")]["spec"]["replicas"] == 1
    store = objects[("Secret", "demo-oculi-store")]["stringData"]["store-url"]
    assert store == "postgresql://oculi:pa%3Ass%40word@demo-oculi-postgresql:5432/oculi"
    keys = objects[("Secret", "demo-oculi-keys")]["stringData"]["api-keys"]
    assert keys.split() == ["sk-one", "sk-two"]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["OCULI_API_KEYS_FILE"]["value"] == "/etc/oculi/keys/api-keys"
    assert env["OCULI_STORE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "demo-oculi-store", "key": "store-url"}
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    assert {v["name"]: v for v in pod["volumes"]}["models"]["persistentVolumeClaim"]["claimName"] == "demo-oculi-models"
    assert container["resources"]["requests"]["cpu"] == "2"
    # The API Service selects the API pods, not PostgreSQL's.
    selector = objects[("Service", "demo-oculi")]["spec"]["selector"]
    api_labels = deployment["spec"]["template"]["metadata"]["labels"]
    pg_labels = objects[("StatefulSet", "demo-oculi-postgresql")]["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= api_labels.items() and not selector.items() <= pg_labels.items()


def test_probes_use_readiness_for_traffic_and_liveness_for_restarts() -> None:
    container = render(BASE_VALUES)[("Deployment", "demo-oculi")]["spec"]["template"]["spec"]["containers"][0]
    assert container["startupProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"


def test_gpu_values_run_vllm_on_one_gpu_per_replica() -> None:
    container = render(gpu_values())[("Deployment", "demo-oculi")]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["OCULI_ENGINE"] == "vllm" and env["OCULI_MODELS"] == "OpenGVLab/InternVL3-2B-hf"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["image"].endswith(":gpu")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"postgresql": {"password": "x"}}, "needs API keys"),
        ({"apiKeys": ["k"]}, "postgresql.password is required"),
        ({"apiKeys": ["k"], "postgresql": {"enabled": False}}, "one shared store"),
    ],
)
def test_a_release_that_could_not_serve_is_refused_at_render(values: dict[str, Any], message: str) -> None:
    with pytest.raises(Exception, match=message):
        render(values)
