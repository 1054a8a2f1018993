"""Cross-service fixtures: the whole platform started as local processes,
exactly as `make run` starts it, but on fresh PostgreSQL databases, a fresh
RabbitMQ vhost, free ports and a temporary data dir."""
from __future__ import annotations

import socket
import uuid

import pytest

from kernel import config
from kernel.testing import PgDatabases, admin_url


def _free_base(span: int = 40) -> int:
    """A port base with ``span`` free ports after it (and a free gateway port)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + span >= 65000:
            continue
        ok = True
        for port in range(base, base + span + 1):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port range")


def platform_env(tmp_path, pg: PgDatabases, label: str) -> dict:
    base = _free_base()
    env = {
        "EJOURNAL_DATA_DIR": str(tmp_path / "data"),
        "EJOURNAL_PORT_BASE": str(base),
        "EJOURNAL_GATEWAY_PORT": str(base + 39),
        "EJOURNAL_AMQP_URI": f"amqp://guest:guest@127.0.0.1:5672/ejt-{label}-{uuid.uuid4().hex[:8]}",
        "EJOURNAL_ADMIN_LOGIN": "root.admin",
        "EJOURNAL_ADMIN_PASSWORD": "root-admin-password-1",
        "EJOURNAL_GATEWAY_WORKERS": "2",
    }
    for name in config.SERVICES:
        env[f"EJOURNAL_{name.upper()}_DATABASE_URL"] = pg.create(f"{label}_{name}")
    return env


@pytest.fixture(scope="session")
def platform(tmp_path_factory):
    from localrun.launcher import Platform, delete_vhost

    pg = PgDatabases(admin_url())
    env = platform_env(tmp_path_factory.mktemp("platform"), pg, "e2e")
    plat = Platform(env, quiet=True)
    try:
        plat.start(timeout=120)
        yield plat
    finally:
        plat.stop()
        delete_vhost(env["EJOURNAL_AMQP_URI"])
        pg.drop_all()
