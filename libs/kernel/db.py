"""Database engines and sessions, for nameko workers and plain processes.

nameko-sqlalchemy's fixtures are broken on SQLAlchemy 2, so this is a small
DependencyProvider: one engine per service container, one session per worker,
closed at worker teardown.
"""
from __future__ import annotations

import uuid
from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool


def new_id() -> str:
    """An opaque, non-guessable id (API.md: never sequential integers)."""
    return str(uuid.uuid4())


def make_engine(url: str, **kwargs) -> Engine:
    """An engine with the settings every service needs.

    SQLite (the embedded default) is shared between a service's nameko
    process and its gRPC process, so it runs in WAL mode with a busy timeout.
    """
    if url.startswith("sqlite"):
        connect_args = {"check_same_thread": False, "timeout": 30}
        if ":memory:" in url or url in ("sqlite://", "sqlite:///"):
            kwargs.setdefault("poolclass", StaticPool)
        engine = create_engine(url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
    return create_engine(url, **kwargs)


def session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False, future=True)


@contextmanager
def transaction(factory: sessionmaker):
    """A session whose work is committed on success and rolled back on error."""
    session: Session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


try:  # nameko is only present in service processes
    from nameko.extensions import DependencyProvider
except ImportError:  # pragma: no cover
    DependencyProvider = object


class Database(DependencyProvider):
    """Hands each worker a :class:`WorkerDb` bound to the service's engine.

    The URL comes from the container config key ``DATABASE_URL``.
    """

    def setup(self):
        url = self.container.config["DATABASE_URL"]
        self.engine = make_engine(url)
        self.factory = session_factory(self.engine)

    def stop(self):
        self.engine.dispose()

    def kill(self):
        self.engine.dispose()

    def get_dependency(self, worker_ctx):
        return WorkerDb(self.factory)

    def worker_teardown(self, worker_ctx):
        dep = worker_ctx.service.__dict__.get(self.attr_name) if hasattr(worker_ctx, "service") else None
        if isinstance(dep, WorkerDb):
            dep.close()


class WorkerDb:
    """A worker's view of the database: a lazily opened session and a
    ``transaction()`` helper for writes."""

    def __init__(self, factory: sessionmaker):
        self.factory = factory
        self._session = None

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = self.factory()
        return self._session

    def transaction(self):
        return transaction(self.factory)

    def close(self):
        if self._session is not None:
            self._session.close()
            self._session = None
