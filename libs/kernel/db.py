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


def dialect_insert(session: Session, model):
    """The database's own INSERT for ``model`` (a mapped class or a Table),
    which knows ``ON CONFLICT``: PostgreSQL and SQLite, the two databases
    the services run on."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the two supported databases
        raise NotImplementedError(f"INSERT ... ON CONFLICT on {name}")
    return insert(model)


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


_shared: dict = {}


def shared_engine(url: str) -> Engine:
    """One engine (one pool) per URL per process: a service's providers
    (database, outbox relay, dead letters) share it instead of each holding
    a pool of its own."""
    engine = _shared.get(url)
    if engine is None:
        engine = _shared[url] = make_engine(url)
    return engine


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


def __getattr__(name):
    # The nameko provider lives in kernel.nameko_ext so that plain processes
    # (gRPC servers, workers, the gateway) never import nameko or eventlet.
    if name in ("Database", "WorkerDb"):
        from kernel import nameko_ext
        return getattr(nameko_ext, name)
    raise AttributeError(name)
