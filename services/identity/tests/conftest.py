"""Fixtures of the identity tests: one migrated PostgreSQL database per run,
emptied before every test, small factories for schools, users, links and
consents, and a stub gRPC context (no grpcio server or client in this
monkey-patched process)."""
from __future__ import annotations

import base64
import os

import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from kernel.db import make_engine, session_factory
from kernel.testing import migrated_database

from identity import sealing
from identity.store import Base
from identity_helpers import Factories, StubContext


@pytest.fixture(scope="session", autouse=True)
def identity_secret_key():
    """The key-encryption key of this test run (identity.sealing): set
    explicitly, so that no test writes a key file."""
    key = sealing.generate_key()
    sealing.use_key(key)
    # Subprocesses (the gRPC server, the bootstrap CLI) seal with the same key.
    before = os.environ.get(sealing.KEY_ENV)
    os.environ[sealing.KEY_ENV] = base64.b64encode(key).decode()
    yield key
    sealing.use_key(None)
    if before is None:
        os.environ.pop(sealing.KEY_ENV, None)
    else:
        os.environ[sealing.KEY_ENV] = before


@pytest.fixture(scope="session")
def identity_database(pg_databases):
    url = migrated_database(pg_databases, "identity")
    engine = create_engine(url, poolclass=NullPool)
    yield url, engine
    engine.dispose()


@pytest.fixture
def db_url(identity_database):
    url, engine = identity_database
    # DELETE in dependency order: ~10 ms on these tiny tables, where
    # kernel.testing.truncate_all (TRUNCATE ... CASCADE, new engine) takes ~250 ms.
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    return url


@pytest.fixture
def factory(db_url):
    engine = make_engine(db_url, poolclass=NullPool)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def config(rabbit_config, db_url):
    return {**rabbit_config, "DATABASE_URL": db_url}


@pytest.fixture
def make(factory):
    return Factories(factory)


@pytest.fixture
def stub_context():
    return StubContext


# --- the service and the gRPC servicer, as most tests use them -------------

@pytest.fixture
def container(container_factory, config):
    """The identity nameko service, started on the real broker."""
    from identity.service import Service

    container = container_factory(Service, config)
    container.start()
    return container


@pytest.fixture
def servicer(factory):
    """The gRPC servicer on the test database (access tokens live 15 minutes)."""
    from identity.grpc_server import IdentityServicer

    return IdentityServicer(factory, access_ttl=900)


@pytest.fixture
def school(make):
    return make.school()
