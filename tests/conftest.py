"""Cross-service fixtures: the whole platform started as local processes,
exactly as `make run` starts it, but on a fresh RabbitMQ vhost, free ports
and a temporary data dir.

The database backend is ``EJOURNAL_E2E_BACKEND``: ``postgresql`` (the
default: fresh PostgreSQL databases) or ``sqlite`` (no database setting at
all, so every service keeps its SQLite file in the data dir, as `make run`
does). `make test` runs the end-to-end slice, the access attacks and the
access matrix a second time on ``sqlite`` (`make test-sqlite`)."""
from __future__ import annotations

import os

import pytest


def e2e_backend() -> str:
    from localrun.launcher import BACKENDS

    backend = os.environ.get("EJOURNAL_E2E_BACKEND") or "postgresql"
    if backend not in BACKENDS:
        raise pytest.UsageError(f"EJOURNAL_E2E_BACKEND must be one of {BACKENDS}, not {backend!r}")
    return backend


def pytest_report_header(config):
    return f"end-to-end platform backend: {e2e_backend()}"


@pytest.fixture(scope="session")
def platform(tmp_path_factory):
    from localrun.launcher import throwaway_platform

    backend = e2e_backend()
    with throwaway_platform(tmp_path_factory.mktemp(f"platform-{backend}"), "e2e", timeout=120,
                            backend=backend) as plat:
        plat.backend = backend
        yield plat
