"""The journal's nameko service: its dependencies (the kernel's service base
gives the database, outbox, dead letters, metrics and ``health``), its
settings, identity, and the hourly purge of old Idempotency-Key answers. The RPCs and event handlers are
the entrypoint groups of :mod:`journal.entrypoints`, one per aggregate; each
decodes, calls the rules (:mod:`journal.domain`) and the queries
(:mod:`journal.store`) and encodes. Every write commits its data and its
events together (outbox)."""
from __future__ import annotations

import datetime as dt
import logging

from nameko.extensions import DependencyProvider
from nameko.timer import timer

from journal import settings as journal_settings
from journal import store
from journal.entrypoints.attendance import Attendance
from journal.entrypoints.base import Base
from journal.entrypoints.finals import FinalsAndForecasts
from journal.entrypoints.imports import Imports
from journal.entrypoints.jobs import Jobs
from journal.entrypoints.lessons import LessonsAndMarks
from journal.entrypoints.movements import MovementsAndTimetable
from journal.entrypoints.people import People
from journal.entrypoints.reads import Reads
from journal.entrypoints.structure import Structure
from kernel import idempotency
from kernel.events import utcnow
from kernel.nameko import Outbox, RpcProxy
from kernel.service_base import service_base

log = logging.getLogger(__name__)

SERVICE_NAME = "journal"

# how often old Idempotency-Key answers are deleted (the retention is a setting)
IDEMPOTENCY_PURGE_SECONDS = 3600
# an import job's initial passwords nobody came for are erased after this long
CREDENTIALS_KEEP = dt.timedelta(hours=1)
OUTBOX_GATHER = 0.01


class Settings(DependencyProvider):
    """The journal's settings (:mod:`journal.settings`), read once at start."""

    def setup(self):
        self.value = journal_settings.load(self.container.config)

    def get_dependency(self, worker_ctx):
        return self.value


class Service(Structure, People, LessonsAndMarks, Attendance, MovementsAndTimetable, Imports, Jobs,
              FinalsAndForecasts, Reads, Base, service_base(store.tables)):
    name = SERVICE_NAME

    settings = Settings()
    # A write's events are relayed up to OUTBOX_GATHER seconds after it, with
    # those of the writes that end meanwhile: a relay pass (a transaction and
    # a wait for the broker's confirms) per few classes' marks, not per class.
    outbox = Outbox(store.tables, gather=OUTBOX_GATHER)
    # requests to identity expire with the journal's own wait for them
    identity = RpcProxy("identity", timeout=lambda config: journal_settings.load(config).identity_timeout)

    @timer(interval=IDEMPOTENCY_PURGE_SECONDS)
    def purge_idempotency_keys(self):
        """Delete Idempotency-Key answers older than the school's retention
        (``EJOURNAL_IDEMPOTENCY_KEEP_DAYS``, 7 days by default); the number
        deleted. A retry later than that runs the write again. Jobs that
        ended before the same cutoff go too, and a done import's initial
        passwords nobody came for are erased after ``CREDENTIALS_KEEP``."""
        cutoff = utcnow() - dt.timedelta(days=self.settings.idempotency_keep_days)
        with self.db.transaction() as s:
            deleted = idempotency.purge(s, store.idempotency_keys, older_than=cutoff)
            store.jobs.purge(s, older_than=cutoff)
            store.jobs.forget_credentials(s, older_than=utcnow() - CREDENTIALS_KEEP)
        if deleted:
            log.info("deleted %d idempotency keys older than %s", deleted, cutoff.isoformat())
        return deleted
