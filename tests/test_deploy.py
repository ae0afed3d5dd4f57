"""The deployment files, checked offline (no container or cluster runs on these machines): every Kubernetes
manifest against the Kubernetes schemas kubernetes-validate bundles, and the shape an operator relies on."""
from __future__ import annotations

import glob
import os

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KUBE = os.path.join(ROOT, "deploy", "kubernetes")
NOT_IN_KUBERNETES_SCHEMAS = {"Kustomization", "ScaledObject"}  # kustomize's and KEDA's own kinds


def manifests() -> dict[tuple[str, str], dict]:
    docs = {}
    for path in sorted(glob.glob(os.path.join(KUBE, "*.yaml"))):
        for doc in yaml.safe_load_all(open(path)):
            if doc:
                docs[(doc["kind"], doc.get("metadata", {}).get("name", ""))] = doc
    return docs


DOCS = manifests()


@pytest.mark.parametrize("key", [k for k in DOCS if k[0] not in NOT_IN_KUBERNETES_SCHEMAS], ids=lambda k: "/".join(k))
def test_every_manifest_is_valid_kubernetes(key):
    kubernetes_validate.validate(DOCS[key], latest_version(), strict=True)  # raises with the field at fault


def test_the_validator_finds_a_wrong_field():
    broken = yaml.safe_load(yaml.safe_dump(DOCS[("Deployment", "web")]))
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, latest_version(), strict=True)


def test_kustomize_lists_every_manifest():
    listed = set(DOCS[("Kustomization", "")]["resources"])
    assert listed == {os.path.basename(p) for p in glob.glob(os.path.join(KUBE, "*.yaml"))} - {"kustomization.yaml"}


def container(kind_name):
    return DOCS[kind_name]["spec"]["template"]["spec"]["containers"][0]


def test_each_worker_asks_for_one_gpu_and_has_time_to_hand_its_job_back():
    worker = container(("Deployment", "worker"))
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert worker["command"][-2:] == ["--device", "cuda:0"]  # the device plugin shows a pod only its own GPU
    assert DOCS[("Deployment", "worker")]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 30
    assert worker["livenessProbe"]["exec"]["command"][-1] == "--check"


def test_the_web_has_its_probes_and_its_secret_from_a_secret():
    web = container(("Deployment", "web"))
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    secret = next(e for e in web["env"] if e["name"] == "STUDIO_SECRET_KEY")
    assert secret["valueFrom"]["secretKeyRef"]["key"] == "STUDIO_SECRET_KEY"
    assert "app:create_app()" in web["command"]


def test_redis_keeps_its_data_and_keda_scales_workers_on_the_demand():
    redis = DOCS[("StatefulSet", "redis")]
    assert "--appendonly" in container(("StatefulSet", "redis"))["args"]
    assert redis["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    scaled = DOCS[("ScaledObject", "worker")]
    assert DOCS[("ScaledObject", "worker")]["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"]["name"] == "worker" and scaled["spec"]["minReplicaCount"] == 0
    trigger = scaled["spec"]["triggers"][0]
    from styletransfer.jobs.redis_store import DEMAND

    assert trigger["type"] == "redis" and trigger["metadata"]["listName"] == DEMAND
    assert {("PodDisruptionBudget", "web"), ("PodDisruptionBudget", "worker")} <= set(DOCS)


def test_compose_puts_every_gpu_of_a_host_in_one_supervised_worker_and_has_a_cpu_profile():
    compose = yaml.safe_load(open(os.path.join(ROOT, "docker-compose.yml")))
    services = compose["services"]
    gpu = services["worker"]
    assert gpu["command"][-2:] == ["--devices", "all"] and gpu["profiles"] == ["gpu"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["count"] == "all"
    cpu = services["worker-cpu"]
    assert cpu["profiles"] == ["cpu"] and "deploy" not in cpu and cpu["command"][-2] == "--devices"
    for name in ("web", "worker", "worker-cpu", "redis"):
        assert "healthcheck" in services[name], name
    assert services["worker"]["healthcheck"]["test"][-1] == "--check"
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    for name in ("web", "worker", "worker-cpu"):
        assert services[name]["stop_grace_period"], name
