"""The compose deployment describes the same platform as the code.

docker-compose.yml, deploy/prometheus.yml, deploy/postgres-init.sh and
deploy/Dockerfile are checked against kernel.config (services, ports, the
environment it reads) and against the launcher's process table
(localrun.launcher.processes, what `make run` and the end-to-end tests start),
so that a process, port, database or setting added in one place and not the
other fails here instead of in a container at 3 a.m.

Each check is a ``*_problems`` function returning a list of readable
problems; the tests assert it is empty for the real files, and a few tests
feed deliberately broken copies to show that the checks can fail.
"""
from __future__ import annotations

import copy
import fnmatch
import os
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from kernel import config
from localrun import launcher

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
PROMETHEUS_FILE = ROOT / "deploy" / "prometheus.yml"
PG_INIT_FILE = ROOT / "deploy" / "postgres-init.sh"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
MAKEFILE = ROOT / "Makefile"

PORT_BASE = 8100          # EJOURNAL_PORT_BASE in docker-compose.yml
GATEWAY_PORT = 8080       # EJOURNAL_GATEWAY_PORT in docker-compose.yml
ONE_SHOT = {"migrate"}
INFRA = {"rabbitmq", "postgres"}
# Only these may be reached from the host (docs/architecture.md "Compose").
PUBLISHED = {"gateway": {GATEWAY_PORT}, "prometheus": {9090}, "rabbitmq": {15672}, "grafana": {3000}}


# --- reading the files --------------------------------------------------------

def load_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def load_prometheus() -> dict:
    return yaml.safe_load(PROMETHEUS_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


@pytest.fixture(scope="module")
def prometheus() -> dict:
    return load_prometheus()


_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$\$")


def interpolate(value, env: dict | None = None):
    """Resolve compose's ``${VAR:-default}`` the way compose does with an
    empty shell environment (defaults win unless ``env`` sets the name)."""
    if not isinstance(value, str):
        return value
    env = env or {}

    def sub(match):
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1)) or (match.group(2) or "")

    return _INTERPOLATION.sub(sub, value)


def environment(service: dict) -> dict:
    """A compose service's environment as a dict of resolved strings."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: str(interpolate(v)) for k, v in env.items()}


def command(service: dict) -> list:
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else list(cmd)


def depends_on(service: dict) -> dict:
    """``{target: condition}`` for both compose syntaxes."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def is_platform(service: dict) -> bool:
    """A container running the eJournal image (not infrastructure)."""
    return str(service.get("image", "")).startswith("ejournal:")


def platform_services(compose: dict) -> dict:
    return {name: svc for name, svc in compose["services"].items() if is_platform(svc)}


def long_running(compose: dict) -> dict:
    return {name: svc for name, svc in compose["services"].items() if name not in ONE_SHOT}


def settings_for(service: dict, monkeypatch) -> tuple[config.Settings, str]:
    """What kernel.config makes of a container's environment: the settings
    of load() and the address bind_host() gives every server."""
    for name in [n for n in os.environ if n.startswith("EJOURNAL_")]:
        monkeypatch.delenv(name)
    for name, value in environment(service).items():
        monkeypatch.setenv(name, value)
    return config.load(), config.bind_host()


def metrics_process(key: str) -> str:
    """The compose service of a ``*.metrics`` key of PORT_OFFSETS:
    ``journal.metrics`` -> journal, ``journal.grpc.metrics`` -> journal-grpc,
    ``backup.worker.metrics`` -> backup-worker."""
    return key[: -len(".metrics")].replace(".", "-")


def metrics_port(key: str) -> int:
    # The gateway serves /metrics on its own HTTP port (gunicorn workers share
    # it through prometheus_client's multiprocess mode), not on the
    # gateway.metrics offset, which nothing serves (docs/architecture.md "Ports").
    if key == "gateway.metrics":
        return GATEWAY_PORT
    return PORT_BASE + config.PORT_OFFSETS[key]


def healthz_port(service_name: str) -> int:
    return GATEWAY_PORT if service_name == "gateway" else metrics_port(
        next(k for k in config.PORT_OFFSETS if k.endswith(".metrics") and metrics_process(k) == service_name))


# --- the checks -----------------------------------------------------------------

def process_problems(compose: dict) -> list[str]:
    """Every process of the launcher's table runs as its own compose service
    with the same command (the launcher passes sys.executable; compose ``python``)."""
    problems = []
    services = compose["services"]
    for proc in launcher.processes(python="python"):
        svc = services.get(proc.name)
        if svc is None:
            problems.append(f"{proc.name}: missing from docker-compose.yml")
        elif command(svc) != proc.argv:
            problems.append(f"{proc.name}: command {command(svc)} != {proc.argv}")
        elif not is_platform(svc):
            problems.append(f"{proc.name}: does not run the ejournal image")
    return problems


def migrate_problems(compose: dict) -> list[str]:
    problems = []
    svc = compose["services"].get("migrate")
    if svc is None:
        return ["migrate: missing"]
    text = " ".join(command(svc))
    # `python -m kernel.migrate` with no argument migrates every service.
    if not re.search(r"python -m kernel\.migrate(?! \w)", text):
        problems.append(f"migrate: does not run `python -m kernel.migrate` for all services: {text!r}")
    if "python -m identity.bootstrap" not in text:
        problems.append("migrate: does not run `python -m identity.bootstrap`")
    if "python -m kernel.migrate && python -m kernel.topology && python -m identity.bootstrap" not in text:
        problems.append("migrate: migrations, then the event queues (kernel.topology), then the bootstrap, "
                        "each only if the one before succeeded")
    if svc.get("restart") not in ("no", None):
        problems.append("migrate: a one-shot must not restart")
    env = environment(svc)
    for name in config.SERVICES:
        if f"EJOURNAL_{name.upper()}_DATABASE_URL" not in env:
            problems.append(f"migrate: EJOURNAL_{name.upper()}_DATABASE_URL not set")
    for name in ("EJOURNAL_ADMIN_LOGIN", "EJOURNAL_ADMIN_PASSWORD", "EJOURNAL_SCHOOL_NAME"):
        if not env.get(name):
            problems.append(f"migrate: {name} not set (identity.bootstrap)")
    return problems


def dependency_problems(compose: dict) -> list[str]:
    """depends_on targets exist, conditions are ones the target can meet,
    and there is no cycle."""
    problems = []
    services = compose["services"]
    valid = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, svc in services.items():
        for target, condition in depends_on(svc).items():
            if target not in services:
                problems.append(f"{name}: depends on unknown service {target}")
                continue
            if condition not in valid:
                problems.append(f"{name}: unknown condition {condition} on {target}")
            if condition == "service_healthy" and not services[target].get("healthcheck"):
                problems.append(f"{name}: waits for {target} to be healthy, but it has no healthcheck")
            if condition == "service_completed_successfully" and target not in ONE_SHOT:
                problems.append(f"{name}: waits for long-running {target} to complete")
            if target in ONE_SHOT and condition != "service_completed_successfully":
                problems.append(f"{name}: must wait for {target} with service_completed_successfully")
    # cycles: a depth-first walk
    state: dict[str, int] = {}

    def visit(node, path):
        if state.get(node) == 1:
            problems.append("dependency cycle: " + " -> ".join(path + [node]))
            return
        if state.get(node) == 2 or node not in services:
            return
        state[node] = 1
        for target in depends_on(services[node]):
            visit(target, path + [node])
        state[node] = 2

    for name in services:
        visit(name, [])
    return problems


def start_order_problems(compose: dict) -> list[str]:
    """Platform processes wait for migrations and a healthy broker/database."""
    problems = []
    nameko = set(config.SERVICES)
    for name, svc in platform_services(compose).items():
        if name in ONE_SHOT:
            continue
        deps = depends_on(svc)
        if name != "gateway" and deps.get("migrate") != "service_completed_successfully":
            problems.append(f"{name}: must start after migrate completed successfully")
        if name in nameko or name == "gateway":
            if deps.get("rabbitmq") != "service_healthy":
                problems.append(f"{name}: must wait for a healthy rabbitmq")
        if any(k.endswith("_DATABASE_URL") for k in environment(svc)) and deps.get("postgres") != "service_healthy":
            problems.append(f"{name}: uses PostgreSQL but does not wait for a healthy postgres")
    if depends_on(compose["services"]["migrate"]).get("postgres") != "service_healthy":
        problems.append("migrate: must wait for a healthy postgres")
    return problems


_HEALTHZ = re.compile(r"http://127\.0\.0\.1:(\d+)/healthz")


def healthcheck_problems(compose: dict) -> list[str]:
    """Every long-running service has a healthcheck; a platform process's
    check GETs /healthz on the port that process serves it on."""
    problems = []
    for name, svc in long_running(compose).items():
        check = (svc.get("healthcheck") or {}).get("test")
        if not check or svc["healthcheck"].get("disable"):
            problems.append(f"{name}: no healthcheck")
            continue
        if not is_platform(svc):
            continue
        text = " ".join(check) if isinstance(check, list) else check
        if not (isinstance(check, list) and check[:2] == ["CMD", "python"]):
            problems.append(f"{name}: healthcheck should be a python one-liner in exec form")
        ports = [int(p) for p in _HEALTHZ.findall(text)]
        try:
            want = healthz_port(name)
        except StopIteration:
            problems.append(f"{name}: no metrics port in kernel.config.PORT_OFFSETS")
            continue
        if ports != [want]:
            problems.append(f"{name}: healthcheck GETs {ports}, expected /healthz on {want}")
    return problems


def prometheus_targets(prometheus: dict) -> set[str]:
    targets = set()
    for job in prometheus.get("scrape_configs") or []:
        if job.get("metrics_path", "/metrics") != "/metrics":
            continue
        for static in job.get("static_configs") or []:
            targets.update(static.get("targets") or [])
    return targets


def prometheus_problems(compose: dict, prometheus: dict) -> list[str]:
    """Every metrics port of PORT_OFFSETS is scraped at its compose service,
    and every target names a service that exists."""
    problems = []
    targets = prometheus_targets(prometheus)
    services = compose["services"]
    for key in config.PORT_OFFSETS:
        if not key.endswith(".metrics"):
            continue
        process = metrics_process(key)
        target = f"{process}:{metrics_port(key)}"
        if process not in services:
            problems.append(f"{key}: no compose service {process}")
        if target not in targets:
            problems.append(f"{key}: prometheus does not scrape {target}")
    for target in targets:
        host = target.rsplit(":", 1)[0]
        if host not in services and host not in ("127.0.0.1", "localhost"):
            problems.append(f"prometheus target {target}: no such compose service")
    prom = services.get("prometheus") or {}
    mounts = [str(v) for v in prom.get("volumes") or []]
    if not any(m.startswith("./deploy/prometheus.yml:") for m in mounts):
        problems.append("prometheus: deploy/prometheus.yml is not mounted")
    return problems


def published_port_problems(compose: dict) -> list[str]:
    problems = []
    for name, svc in compose["services"].items():
        for spec in svc.get("ports") or []:
            if isinstance(spec, dict):
                host_ip, published = spec.get("host_ip", ""), int(spec["published"])
            else:
                parts = str(spec).split(":")
                host_ip = parts[0] if len(parts) == 3 else ""
                published = int(parts[-2])
            if published not in PUBLISHED.get(name, set()):
                problems.append(f"{name}: publishes {published} to the host")
            # Prometheus and the management UI have no or weak auth: loopback only.
            if name != "gateway" and host_ip != "127.0.0.1":
                problems.append(f"{name}: {published} should be published on 127.0.0.1 only")
    for name in PUBLISHED:
        if not compose["services"].get(name, {}).get("ports"):
            problems.append(f"{name}: must publish {sorted(PUBLISHED[name])}")
    return problems


def init_script_databases(text: str) -> list[str]:
    return re.findall(r"^create_service_db\s+(\w+)\s*$", text, flags=re.M)


def database_problems(compose: dict, init_text: str) -> list[str]:
    """Each process gets its own service's PostgreSQL URL (and no other
    service's); each database is created by the init script."""
    problems = []
    created = init_script_databases(init_text)
    if sorted(created) != sorted(config.SERVICES):
        problems.append(f"postgres-init.sh creates {created}, expected {list(config.SERVICES)}")
    pg = compose["services"].get("postgres", {})
    mounts = [str(v) for v in pg.get("volumes") or []]
    if not any(m.startswith("./deploy/postgres-init.sh:/docker-entrypoint-initdb.d/") for m in mounts):
        problems.append("postgres: deploy/postgres-init.sh is not mounted in /docker-entrypoint-initdb.d")
    if "EJOURNAL_DB_PASSWORD" not in environment(pg):
        problems.append("postgres: EJOURNAL_DB_PASSWORD (the service roles' password) not set")
    for name, svc in platform_services(compose).items():
        env = environment(svc)
        owner = name.split("-")[0]
        urls = {k: v for k, v in env.items() if k.endswith("_DATABASE_URL")}
        wanted = set(config.SERVICES) if name in ONE_SHOT else ({owner} if owner in config.SERVICES else set())
        for svc_name in wanted:
            key = f"EJOURNAL_{svc_name.upper()}_DATABASE_URL"
            url = urls.pop(key, None)
            if url is None:
                problems.append(f"{name}: {key} not set")
                continue
            parts = urlsplit(url)
            if parts.scheme != "postgresql+psycopg2":
                problems.append(f"{name}: {key} should use postgresql+psycopg2, not {parts.scheme}")
            if parts.hostname != "postgres" or (parts.port or 5432) != 5432:
                problems.append(f"{name}: {key} should point at postgres:5432")
            if parts.path.lstrip("/") != svc_name or parts.username != svc_name:
                problems.append(f"{name}: {key} should use database and role {svc_name!r}")
            if parts.password != environment(pg).get("EJOURNAL_DB_PASSWORD"):
                problems.append(f"{name}: {key} password differs from the postgres init password")
        for key in urls:
            problems.append(f"{name}: must not get another service's database ({key})")
    return problems


def env_name_problems(compose: dict) -> list[str]:
    """Every EJOURNAL_* name set in compose is one the code reads."""
    known = set()
    for name in config.SERVICES:
        known |= {f"EJOURNAL_{name.upper()}_DATABASE_URL", f"EJOURNAL_{name.upper()}_GRPC_TARGET"}
    known |= {"EJOURNAL_" + key.upper().replace(".", "_") + "_PORT" for key in config.PORT_OFFSETS}
    sources = list((ROOT / "libs").rglob("*.py")) + list((ROOT / "deploy").rglob("*.py"))
    sources += [p for p in (ROOT / "services").rglob("*.py") if "tests" not in p.parts]
    for path in sources:
        known |= set(re.findall(r"EJOURNAL_[A-Z0-9_]+", path.read_text(encoding="utf-8", errors="replace")))
    problems = []
    for name, svc in platform_services(compose).items():
        for key in environment(svc):
            if key.startswith("EJOURNAL_") and key not in known:
                problems.append(f"{name}: {key} is read by no code")
    return problems


def settings_problems(compose: dict, load_settings) -> list[str]:
    """What kernel.config makes of each container's environment
    (``load_settings(service) -> (Settings, bind_host)``)."""
    problems = []
    services = compose["services"]
    rabbit = environment(services.get("rabbitmq", {}))
    for name, svc in platform_services(compose).items():
        settings, bind_host = load_settings(svc)
        if settings.port_base != PORT_BASE:
            problems.append(f"{name}: EJOURNAL_PORT_BASE is {settings.port_base}, not {PORT_BASE}")
        if settings.gateway_port != GATEWAY_PORT:
            problems.append(f"{name}: EJOURNAL_GATEWAY_PORT is {settings.gateway_port}")
        if bind_host != "0.0.0.0":
            problems.append(f"{name}: EJOURNAL_BIND_HOST must be 0.0.0.0 in a container")
        amqp = urlsplit(settings.amqp_uri)
        if (amqp.hostname, amqp.path.lstrip("/")) != ("rabbitmq", rabbit.get("RABBITMQ_DEFAULT_VHOST")):
            problems.append(f"{name}: AMQP URI {settings.amqp_uri} is not rabbitmq's default vhost")
        if (amqp.username, amqp.password) != (rabbit.get("RABBITMQ_DEFAULT_USER"), rabbit.get("RABBITMQ_DEFAULT_PASS")):
            problems.append(f"{name}: AMQP credentials differ from rabbitmq's default user")
        for target_svc in launcher.GRPC_SERVICES:
            target = settings.grpc_target(target_svc)
            want = f"{target_svc}-grpc:{PORT_BASE + config.PORT_OFFSETS[target_svc + '.grpc']}"
            if target != want:
                problems.append(f"{name}: gRPC target of {target_svc} is {target}, expected {want}")
        if name == "gateway" and settings.gateway_host != "0.0.0.0":
            problems.append("gateway: EJOURNAL_GATEWAY_HOST must be 0.0.0.0 in a container")
    return problems


def volume_problems(compose: dict) -> list[str]:
    """backup and backup-worker share the backups volume at EJOURNAL_BACKUP_DIR;
    the key lives on another volume."""
    problems = []
    declared = set((compose.get("volumes") or {}).keys())
    mounts = {}
    for name in ("backup", "backup-worker"):
        svc = compose["services"].get(name, {})
        directory = environment(svc).get("EJOURNAL_BACKUP_DIR")
        found = [str(v).split(":")[0] for v in svc.get("volumes") or [] if str(v).split(":")[1:2] == [directory]]
        if not directory or not found:
            problems.append(f"{name}: no volume mounted at EJOURNAL_BACKUP_DIR ({directory})")
        mounts[name] = found[0] if found else None
    if mounts.get("backup") != mounts.get("backup-worker"):
        problems.append(f"backup and backup-worker use different backup volumes: {mounts}")
    for name, svc in compose["services"].items():
        for spec in svc.get("volumes") or []:
            source = str(spec).split(":")[0]
            if not source.startswith((".", "/")) and source not in declared:
                problems.append(f"{name}: volume {source} is not declared")
    worker = environment(compose["services"].get("backup-worker", {}))
    keys = [str(v) for v in compose["services"].get("backup-worker", {}).get("volumes") or []
            if str(v).split(":")[1:2] == [worker.get("EJOURNAL_DATA_DIR", "") + "/keys"]]
    if not keys or keys[0].split(":")[0] == mounts.get("backup-worker"):
        problems.append("backup-worker: the backup key needs its own volume, apart from the archives")
    return problems


def infrastructure_problems(compose: dict) -> list[str]:
    """The broker, the database, the mail catcher and Prometheus are there,
    with the images and health checks the platform expects."""
    problems = []
    services = compose["services"]
    expect = {
        "rabbitmq": (r"^rabbitmq:3[.\d]*-management$", ["rabbitmq-diagnostics", "-q", "ping"]),
        "postgres": (r"^postgres:16\b", ["pg_isready"]),
        "mailpit": (r"^axllent/mailpit:", None),
        "prometheus": (r"^prom/prometheus:", None),
    }
    for name, (image, check) in expect.items():
        svc = services.get(name)
        if svc is None:
            problems.append(f"{name}: missing")
            continue
        if not re.match(image, str(svc.get("image", ""))):
            problems.append(f"{name}: image {svc.get('image')} does not match {image}")
        test = (svc.get("healthcheck") or {}).get("test") or []
        if check and test[1:1 + len(check)] != check:
            problems.append(f"{name}: healthcheck {test} should run {check}")
    return problems


# --- the tests: real files -------------------------------------------------------

def test_every_process_of_the_platform_is_a_compose_service(compose):
    """ARCHITECTURE: per service a nameko process, gRPC processes, the backup worker, the gateway."""
    names = {p.name for p in launcher.processes()}
    assert {"identity", "journal", "messaging", "reports", "backup", "identity-grpc", "journal-grpc",
            "messaging-grpc", "reports-grpc", "backup-worker", "gateway"} <= names
    assert process_problems(compose) == []


def test_infrastructure_services_are_present(compose):
    assert infrastructure_problems(compose) == []


def test_migrate_is_a_one_shot_running_all_migrations_and_bootstrap(compose):
    assert migrate_problems(compose) == []


def test_depends_on_targets_exist_with_meetable_conditions(compose):
    assert dependency_problems(compose) == []


def test_processes_wait_for_migrations_broker_and_database(compose):
    assert start_order_problems(compose) == []


def test_every_long_running_service_has_a_healthcheck(compose):
    assert healthcheck_problems(compose) == []


def test_prometheus_scrapes_every_metrics_port(compose, prometheus):
    assert prometheus_problems(compose, prometheus) == []


def test_only_gateway_prometheus_and_management_ui_are_published(compose):
    """R-D5: nothing but the public entry (and loopback-only ops UIs) is reachable from outside."""
    assert published_port_problems(compose) == []


def test_every_service_database_is_created_and_used_by_its_owner_only(compose):
    """ARCHITECTURE: one database per service; no service reads another's."""
    assert database_problems(compose, PG_INIT_FILE.read_text(encoding="utf-8")) == []


def test_compose_env_names_are_read_by_the_code(compose):
    assert env_name_problems(compose) == []


def test_kernel_config_reads_each_container_environment_as_intended(compose, monkeypatch):
    def load(svc):
        with monkeypatch.context() as m:
            return settings_for(svc, m)

    assert settings_problems(compose, load) == []


def test_backups_volume_is_shared_and_key_kept_apart(compose):
    """R-D1/R-D5: the worker writes archives the backup service lists; the key is not beside them."""
    assert volume_problems(compose) == []


def test_identity_processes_share_one_key_encryption_key(compose):
    """Identity's nameko service seals TOTP secrets that its gRPC process opens
    at login, and migrate seals existing ones: all three must see the same
    <data dir>/keys/identity.key (services/identity/README.md), kept apart from
    the backup key and the archives."""
    sources = {}
    for name in ("migrate", "identity", "identity-grpc"):
        svc = compose["services"][name]
        keys_dir = environment(svc).get("EJOURNAL_DATA_DIR", "") + "/keys"
        sources[name] = [str(v).split(":")[0] for v in svc.get("volumes") or [] if str(v).split(":")[1:2] == [keys_dir]]
    assert all(len(found) == 1 for found in sources.values()), sources
    assert len({found[0] for found in sources.values()}) == 1, sources
    shared = sources["identity"][0]
    assert shared in (compose.get("volumes") or {})
    assert shared not in {str(v).split(":")[0] for v in compose["services"]["backup-worker"].get("volumes") or []}


def test_compose_file_interpolates_without_unset_variables():
    """Every ${VAR} has a default, so `docker compose up` works with no .env file."""
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    bare = [m.group(0) for m in _INTERPOLATION.finditer(text) if m.group(0) != "$$" and m.group(2) is None]
    assert bare == []


def test_dockerfile_builds_the_same_python_path_as_the_makefile():
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\b", text, flags=re.M)
    assert "setuptools<82" in text
    assert re.search(r"pip install -r requirements\.txt", text)
    # the .pth written by `make venv`: libs, build/gen, deploy, then services in Makefile order + gateway
    services = re.search(r"^SERVICES := (.+)$", MAKEFILE.read_text(), flags=re.M).group(1).split()
    expected = ["/app/libs", "/app/build/gen", "/app/deploy"] + [f"/app/services/{s}" for s in services + ["gateway"]]
    pythonpath = re.search(r"PYTHONPATH=(\S+)", text).group(1).split(":")
    assert pythonpath == expected
    # the stubs are generated in the image from every proto of the repo
    glob = re.search(r"grpc_tools\.protoc .*?(proto/\S+\.proto)", text, flags=re.S).group(1)
    assert "--grpc_python_out=build/gen" in text
    protos = [p.relative_to(ROOT).as_posix() for p in (ROOT / "proto").rglob("*.proto")]
    assert protos and all(fnmatch.fnmatch(p, glob) for p in protos)
    # a non-root user runs the processes
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert users and users[-1] not in ("root", "0")


# --- the checks can fail ---------------------------------------------------------

def test_checks_report_a_missing_process_and_a_wrong_command(compose):
    broken = copy.deepcopy(compose)
    del broken["services"]["reports-grpc"]
    broken["services"]["journal"]["command"] = ["python", "-m", "kernel.runner", "journa"]
    problems = process_problems(broken)
    assert any(p.startswith("reports-grpc: missing") for p in problems)
    assert any(p.startswith("journal: command") for p in problems)


def test_checks_report_an_unscraped_metrics_port(compose, prometheus):
    broken = copy.deepcopy(prometheus)
    for job in broken["scrape_configs"]:
        for static in job.get("static_configs", []):
            static["targets"] = [t for t in static["targets"] if t != "backup-worker:8125"]
    problems = prometheus_problems(compose, broken)
    assert problems == ["backup.worker.metrics: prometheus does not scrape backup-worker:8125"]


def test_checks_report_bad_dependencies(compose):
    typo = copy.deepcopy(compose)
    typo["services"]["journal"]["depends_on"] = {"rabbitmg": {"condition": "service_healthy"}}
    problems = dependency_problems(typo) + start_order_problems(typo)
    assert "journal: depends on unknown service rabbitmg" in problems
    assert "journal: must start after migrate completed successfully" in problems
    assert "journal: must wait for a healthy rabbitmq" in problems

    cycle = copy.deepcopy(compose)  # journal already waits for rabbitmq
    cycle["services"]["rabbitmq"]["depends_on"] = {"journal": {"condition": "service_started"},
                                                   "migrate": {"condition": "service_started"}}
    problems = dependency_problems(cycle)
    assert any(p.startswith("dependency cycle") and "rabbitmq" in p and "journal" in p for p in problems)
    assert "rabbitmq: must wait for migrate with service_completed_successfully" in problems


def test_checks_report_missing_databases_and_foreign_urls(compose):
    broken = copy.deepcopy(compose)
    env = broken["services"]["journal-grpc"]["environment"]
    env["EJOURNAL_IDENTITY_DATABASE_URL"] = env.pop("EJOURNAL_JOURNAL_DATABASE_URL")
    text = PG_INIT_FILE.read_text(encoding="utf-8").replace("create_service_db reports\n", "")
    problems = database_problems(broken, text)
    assert "journal-grpc: EJOURNAL_JOURNAL_DATABASE_URL not set" in problems
    assert "journal-grpc: must not get another service's database (EJOURNAL_IDENTITY_DATABASE_URL)" in problems
    assert any(p.startswith("postgres-init.sh creates") for p in problems)


def test_checks_report_wrong_healthcheck_port_and_unknown_env(compose):
    broken = copy.deepcopy(compose)
    broken["services"]["messaging-grpc"]["healthcheck"]["test"] = [
        "CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8113/healthz')"]
    del broken["services"]["mailpit"]["healthcheck"]
    broken["services"]["gateway"]["environment"]["EJOURNAL_GATEWAY_WORKRES"] = "2"
    problems = healthcheck_problems(broken)
    assert "messaging-grpc: healthcheck GETs [8113], expected /healthz on 8123" in problems
    assert "mailpit: no healthcheck" in problems
    assert "gateway: EJOURNAL_GATEWAY_WORKRES is read by no code" in env_name_problems(broken)


def test_checks_report_a_published_internal_port(compose):
    broken = copy.deepcopy(compose)
    broken["services"]["journal-grpc"]["ports"] = ["8102:8102"]
    broken["services"]["prometheus"]["ports"] = ["9090:9090"]
    problems = published_port_problems(broken)
    assert "journal-grpc: publishes 8102 to the host" in problems
    assert "prometheus: 9090 should be published on 127.0.0.1 only" in problems


def test_checks_report_wrong_settings(compose, monkeypatch):
    broken = copy.deepcopy(compose)
    env = broken["services"]["gateway"]["environment"]
    env["EJOURNAL_JOURNAL_GRPC_TARGET"] = "journal:8102"
    env["EJOURNAL_AMQP_URI"] = "amqp://guest:guest@rabbitmq:5672/"
    del env["EJOURNAL_PORT_BASE"]
    env["EJOURNAL_PORT_BASE"] = "9100"

    def load(svc):
        with monkeypatch.context() as m:
            return settings_for(svc, m)

    problems = [p for p in settings_problems(broken, load) if p.startswith("gateway:")]
    assert "gateway: EJOURNAL_PORT_BASE is 9100, not 8100" in problems
    assert "gateway: gRPC target of journal is journal:8102, expected journal-grpc:8102" in problems
    assert any("not rabbitmq's default vhost" in p for p in problems)
    assert any("credentials differ" in p for p in problems)


def test_interpolate_uses_defaults_and_the_given_environment():
    assert interpolate("a${X:-1}b${Y-2}c$$d") == "a1b2c$d"
    assert interpolate("${X:-1}", {"X": "9"}) == "9"
    assert interpolate(5) == 5
