"""The database dependency: one engine per service container (shared with
the outbox relay and dead letters, kernel.db.shared_engine), one lazily
opened session per worker, closed at worker teardown."""
from __future__ import annotations

from nameko.extensions import DependencyProvider
from sqlalchemy.orm import Session, sessionmaker

from kernel.db import session_factory, shared_engine, transaction


class Database(DependencyProvider):
    """Hands each worker a :class:`WorkerDb` bound to the service's engine.

    The URL comes from the container config key ``DATABASE_URL``.
    """

    def setup(self):
        url = self.container.config["DATABASE_URL"]
        self.engine = shared_engine(url)
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

    @property
    def engine(self):
        """The engine (a write with no ORM object may run on a Core
        connection of it: ``with worker_db.engine.begin() as connection``)."""
        return self.factory.kw["bind"]

    def close(self):
        if self._session is not None:
            self._session.close()
            self._session = None
