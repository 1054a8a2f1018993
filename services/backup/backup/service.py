"""The backup service's nameko entrypoints: decode, call the domain and the
store, encode. The archives themselves are written by ``backup.worker``."""
from __future__ import annotations

import logging
import os

from nameko.extensions import DependencyProvider
from nameko.timer import timer

from kernel.db import Database, new_id
from kernel.events import utcnow
from kernel.nameko_ext import DeadLetters, EntrypointMetrics, Outbox, service_rpc

from backup import domain, events, store
from backup.store import tables

log = logging.getLogger(__name__)

# How often the schedule looks at the catalogue; the interval between
# backups itself is EJOURNAL_BACKUP_EVERY_HOURS.
SCHEDULE_TICK_SECONDS = 60


class Schedule(DependencyProvider):
    """The backup schedule's settings, read when the container starts:
    config key or environment ``EJOURNAL_BACKUP_EVERY_HOURS`` (0 = off)."""

    def setup(self):
        key = "EJOURNAL_BACKUP_EVERY_HOURS"
        raw = self.container.config.get(key, os.environ.get(key))
        self.every_hours = domain.parse_every_hours(raw)

    def get_dependency(self, worker_ctx):
        return self


class Service:
    """The catalogue of backups and the schedule."""
    name = "backup"

    db = Database()
    outbox = Outbox(tables)
    dead_letters = DeadLetters(tables)
    metrics = EntrypointMetrics()
    schedule = Schedule()

    @service_rpc
    def health(self):
        """Liveness: ``{"status": "ok", "service": "backup"}``."""
        return {"status": "ok", "service": self.name}

    @service_rpc
    def request_backup(self, ctx):
        """Queue a backup of every service's data (admin only).

        Returns ``{id, status: "running"}``; if a backup this administrator
        can see is already queued or running, that one is returned instead of
        starting a second copy of the same data.
        """
        ctx = domain.check_ctx(ctx)
        domain.ensure_admin(ctx)
        with self.db.transaction() as session:
            store.lock_requests(session)
            running = store.find_running(session, school_id=ctx["school_id"])
            if running is not None:
                return domain.requested_view(running.id)
            backup = self._enqueue(session, ctx, trigger=domain.MANUAL)
        return domain.requested_view(backup.id)

    @service_rpc
    def list_backups(self, ctx, limit=None, cursor=None):
        """The catalogue, newest first (admin only):
        ``{items: [{id, started_at, finished_at, status, size, targets, verified, trigger, error?}], next_cursor}``."""
        ctx = domain.check_ctx(ctx)
        domain.ensure_admin(ctx)
        limit = domain.parse_limit(limit)
        after = domain.decode_cursor(cursor)
        rows = store.list_backups(self.db.session, school_id=ctx["school_id"], limit=limit + 1, after=after)
        more = len(rows) > limit
        rows = rows[:limit]
        items = [domain.backup_view(store.as_dict(b)) for b in rows]
        next_cursor = domain.encode_cursor(rows[-1].started_at, rows[-1].id) if more else None
        return {"items": items, "next_cursor": next_cursor}

    @timer(interval=SCHEDULE_TICK_SECONDS)
    def enqueue_scheduled(self):
        """Queue a scheduled backup when one is due (R-D1); the id or None."""
        if self.schedule.every_hours <= 0:
            return None
        with self.db.transaction() as session:
            store.lock_requests(session)
            state = store.schedule_state(session)
            if not domain.scheduled_backup_due(now=utcnow(), every_hours=self.schedule.every_hours, **state):
                return None
            backup = self._enqueue(session, {}, trigger=domain.SCHEDULED)
        log.info("scheduled backup %s queued", backup.id)
        return backup.id

    def _enqueue(self, session, ctx: dict, *, trigger: str):
        now = utcnow()
        backup = store.create_backup(
            session, backup_id=new_id(), trigger=trigger, started_at=now,
            school_id=ctx.get("school_id"), requested_by=ctx.get("actor_id"),
            correlation_id=ctx.get("correlation_id"))
        self.outbox.add(session, events.BACKUP_REQUESTED, events.backup_requested(
            backup_id=backup.id, trigger=trigger, requested_by=ctx.get("actor_id"),
            requested_at=domain.iso(now)), ctx)
        return backup
