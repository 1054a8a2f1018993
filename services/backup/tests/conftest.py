"""Fixtures of the backup service's tests: one migrated PostgreSQL database
per run (emptied before each test), a session factory, a key and a target."""
from __future__ import annotations

import datetime as dt

import pytest

from kernel.db import make_engine, new_id, session_factory, transaction
from kernel.testing import migrated_database, truncate_all

from backup import domain, store
from backup.crypto import generate_key
from backup.targets import LocalDirTarget


@pytest.fixture(scope="session")
def backup_db_url(pg_databases):
    return migrated_database(pg_databases, "backup")


@pytest.fixture
def db_url(backup_db_url):
    truncate_all(backup_db_url, store.Base.metadata)
    return backup_db_url


@pytest.fixture
def factory(db_url):
    engine = make_engine(db_url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def key():
    return generate_key()


@pytest.fixture
def target(tmp_path):
    return LocalDirTarget(tmp_path / "backups")


@pytest.fixture
def queue(factory):
    """Queue a backup row the way the service does; returns its id."""
    def make(*, school_id=None, started_at=None, trigger=domain.MANUAL, actor_id=None):
        backup_id = new_id()
        with transaction(factory) as session:
            store.create_backup(session, backup_id=backup_id, trigger=trigger, school_id=school_id,
                                requested_by=actor_id,
                                started_at=started_at or dt.datetime.now(dt.timezone.utc))
        return backup_id
    return make


@pytest.fixture
def fetch(factory):
    """The catalogue row of a backup id, as a dict."""
    def get(backup_id) -> dict:
        with transaction(factory) as session:
            return store.as_dict(store.get_backup(session, backup_id=backup_id))
    return get
