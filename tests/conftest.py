"""Cross-service fixtures: the whole platform started as local processes,
exactly as `make run` starts it, but on fresh PostgreSQL databases, a fresh
RabbitMQ vhost, free ports and a temporary data dir."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def platform(tmp_path_factory):
    from localrun.launcher import throwaway_platform

    with throwaway_platform(tmp_path_factory.mktemp("platform"), "e2e", timeout=120) as plat:
        yield plat
