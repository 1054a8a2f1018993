"""Cross-service fixtures: the whole platform started as local processes,
exactly as `make run` starts it, but on fresh PostgreSQL databases, a fresh
RabbitMQ vhost, free ports and a temporary data dir."""
from __future__ import annotations

import pytest

from kernel.testing import PgDatabases, admin_url


@pytest.fixture(scope="session")
def platform(tmp_path_factory):
    from localrun.launcher import Platform, delete_vhost, platform_env

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
