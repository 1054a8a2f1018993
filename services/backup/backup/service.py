"""The backup service's nameko entrypoints: decode, call the domain and the
store, encode. The archives themselves are written by ``backup.worker``."""
from __future__ import annotations

import logging
import os

from nameko.extensions import DependencyProvider
from nameko.timer import timer

from kernel.context import CallContext
from kernel.db import new_id
from kernel.events import utcnow
from kernel.nameko import service_rpc
from kernel.service_base import service_base

from backup import domain, drill, errors, events, store
from backup.store import tables

log = logging.getLogger(__name__)

# How often the schedule looks at the catalogue; the interval between
# backups itself is EJOURNAL_BACKUP_EVERY_HOURS.
SCHEDULE_TICK_SECONDS = 60
# How long an administrator's download ticket may wait for its request.
DOWNLOAD_TICKET_SECONDS = 60


def backup_settings(config: dict) -> dict:
    """The environment with the container config's ``EJOURNAL_BACKUP_*`` keys over it."""
    return {**os.environ, **{k: str(v) for k, v in config.items() if k.startswith("EJOURNAL_BACKUP")}}



def _done_backup(session, who, backup_id):
    """The caller's school's finished backup (404 unknown, 409 not done)."""
    row = store.get_visible(session, backup_id=backup_id, school_id=who.school_id)
    if row is None:
        raise errors.NotFound()
    if row.status != domain.DONE:
        raise errors.Conflict()
    return row

class Schedule(DependencyProvider):
    """The targets and their schedules, read when the container starts
    (backup.targets.parse_targets): the local directory every
    ``EJOURNAL_BACKUP_EVERY_HOURS`` (336 by default, 0 = off) and each
    off-site target on its own interval."""

    def setup(self):
        from backup.targets import parse_targets

        config = self.container.config
        self.targets = parse_targets(backup_settings(config),
                                     config.get("DATA_DIR") or os.environ.get("EJOURNAL_DATA_DIR") or "var")
        self.every_hours = self.targets[0].every_hours
        self.settings = backup_settings(config)  # what a drill process is given
        self.keep = domain.parse_keep(backup_settings(config))

    def plan(self) -> list:
        """``(name, every_hours)`` of every target."""
        return [(t.name, t.every_hours) for t in self.targets]

    def get_dependency(self, worker_ctx):
        return self


class Archives(DependencyProvider):
    """Where the service finds the archives it lists (the local target,
    ``EJOURNAL_BACKUP_DIR`` or ``<data dir>/backups``)."""

    def setup(self):
        from pathlib import Path

        from backup.targets import LocalDirTarget

        config = self.container.config
        settings = backup_settings(config)
        root = settings.get("EJOURNAL_BACKUP_DIR") or (
            Path(config.get("DATA_DIR") or os.environ.get("EJOURNAL_DATA_DIR") or "var") / "backups")
        self.local = LocalDirTarget(root)

    def get_dependency(self, worker_ctx):
        return self


class Service(service_base(tables)):
    """The catalogue of backups and the schedule."""
    name = "backup"

    schedule = Schedule()
    archives = Archives()

    @service_rpc
    def request_backup(self, ctx):
        """Queue a backup of every service's data (admin only).

        Returns ``{id, status: "running"}``; if a backup this administrator
        can see is already queued or running, that one is returned instead of
        starting a second copy of the same data.
        """
        who = CallContext.from_rpc(ctx)
        domain.ensure_admin(who)
        with self.db.transaction() as session:
            store.lock_requests(session)
            running = store.find_running(session, school_id=who.school_id)
            if running is not None:
                return domain.requested_view(running.id)
            backup = self._enqueue(session, who, trigger=domain.MANUAL)
        return domain.requested_view(backup.id)

    @service_rpc
    def list_backups(self, ctx, limit=None, cursor=None):
        """The catalogue, newest first (admin only):
        ``{items: [{id, started_at, finished_at, status, size, targets, verified, trigger, drilled_at,
        drill_ok, failed_targets, retention, expires_at, error?}], next_cursor}``; ``retention`` is
        the class that keeps a good backup (``year_end``, ``journal``, ``rotation``; None: due for
        pruning), ``expires_at`` until when."""
        who = CallContext.from_rpc(ctx)
        domain.ensure_admin(who)
        limit = domain.parse_limit(limit)
        after = domain.decode_cursor(cursor)
        rows = store.list_backups(self.db.session, school_id=who.school_id, limit=limit + 1, after=after)
        more = len(rows) > limit
        rows = rows[:limit]
        kept = domain.retention([(b, t) for b, t, _ in store.good_backups(self.db.session)], now=utcnow(),
                                keep=self.schedule.keep)
        items = []
        for backup in rows:
            row = store.as_dict(backup)
            why = kept.get(backup.id) or {}
            items.append(domain.backup_view({**row, "retention": why.get("class"), "expires_at": why.get("expires_at")}))
        next_cursor = domain.encode_cursor(rows[-1].started_at, rows[-1].id) if more else None
        return {"items": items, "next_cursor": next_cursor}

    @service_rpc
    def restore_drill(self, ctx, backup_id):
        """Restore the archive into scratch databases and compare every table
        with it (admin only): ``{ok, checked_rows, mismatches}``. The outcome
        is kept on the backup's row (``drilled_at``, ``drill_ok``); a failed
        drill also clears ``verified`` and publishes ``backup_drill_failed``."""
        who = CallContext.from_rpc(ctx)
        domain.ensure_admin(who)
        backup_id = domain.check_id(backup_id)
        with self.db.transaction() as session:
            sha256 = _done_backup(session, who, backup_id).sha256
        path = self.archives.local.archive_path(backup_id)
        remote = len(self.schedule.targets) > 1
        if not path.is_file() and not remote:
            raise errors.Conflict(errors.text("archive_missing"))
        # no local copy: the drill looks the id up on the off-site targets
        result = drill.run_subprocess(path if path.is_file() else backup_id, backup_id=backup_id, sha256=sha256,
                                      env={**self.schedule.settings,
                                           "EJOURNAL_BACKUP_DIR": str(self.archives.local.root)})
        if drill.missing(result):
            raise errors.Conflict(errors.text("archive_missing"))
        drill.count(result)
        with self.db.transaction() as session:
            store.record_drill(session, backup_id=backup_id, at=utcnow(), result=result)
            if not result["ok"]:
                self.outbox.add(session, events.BACKUP_DRILL_FAILED,
                                drill.outcome_event(backup_id=backup_id, result=result), who.as_dict())
        if not result["ok"]:
            log.error("restore drill of backup %s failed: %s", backup_id, drill.describe(result))
        return {"ok": bool(result["ok"]), "checked_rows": int(result.get("checked_rows") or 0),
                "mismatches": list(result.get("mismatches") or [])}

    @service_rpc
    def archive_ticket(self, ctx, backup_id):
        """Let an administrator download a done backup's archive (still
        encrypted): ``{ticket, backup_id, file_name, size, sha256}`` (size and
        sha256 null when only an off-site target holds it). The
        worker serves the file to one request carrying the ticket within
        DOWNLOAD_TICKET_SECONDS (backup.worker ``/archives/<id>``)."""
        who = CallContext.from_rpc(ctx)
        domain.ensure_admin(who)
        backup_id = domain.check_id(backup_id)
        with self.db.transaction() as session:
            row = _done_backup(session, who, backup_id)
            token = store.issue_ticket(session, backup_id=backup_id, issued_to=who.actor_id, now=utcnow(),
                                       seconds=DOWNLOAD_TICKET_SECONDS)
            info = (row.manifest or {}).get("archive") or {}
            # Without the local copy the worker serves one reassembled from an
            # off-site target: the same tables encrypted anew, so other bytes.
            local = self.archives.local.archive_path(backup_id).is_file()
            return {"ticket": token, "backup_id": backup_id, "file_name": info.get("file") or f"{backup_id}.ejbak",
                    "size": row.size if local else None, "sha256": row.sha256 if local else None}

    @service_rpc
    def backup_schedule(self, ctx):
        """Every target and when it next gets a copy (admin only):
        ``{targets: [{target, kind, location, every_hours, last_copy_at, next_run_at, failing}], next_run_at}``."""
        who = CallContext.from_rpc(ctx)
        domain.ensure_admin(who)
        now = utcnow()
        session = self.db.session
        last = store.last_copies(session)
        failing = set(store.failing_targets(session))
        items = []
        for config in self.schedule.targets:
            when = domain.next_run(now=now, every_hours=config.every_hours, last_copy_at=last.get(config.name))
            items.append({"target": config.label, "kind": config.kind, "location": config.name,
                          "every_hours": config.every_hours, "last_copy_at": domain.iso(last.get(config.name)),
                          "next_run_at": domain.iso(when), "failing": config.name in failing})
        upcoming = [i["next_run_at"] for i in items if i["next_run_at"]]
        return {"targets": items, "next_run_at": min(upcoming) if upcoming else None}

    @timer(interval=SCHEDULE_TICK_SECONDS, eager=True)
    def enqueue_scheduled(self):
        """Queue a scheduled backup when a target is due (R-D1); the id or
        None. Eager: a run missed while the machine was off runs at start."""
        with self.db.transaction() as session:
            store.lock_requests(session)
            state = store.schedule_state(session)
            due = domain.schedule_due(now=utcnow(), targets=self.schedule.plan(),
                                      last_copies=store.last_copies(session), running=state["running"],
                                      last_attempt_at=state["last_attempt_at"])
            if not due:
                return None
            backup = self._enqueue(session, None, trigger=domain.SCHEDULED)
        log.info("scheduled backup %s queued (due: %s)", backup.id, ", ".join(due))
        return backup.id

    def _enqueue(self, session, who: CallContext | None, *, trigger: str):
        """Queue a backup; ``who`` is None for a scheduled one."""
        now = utcnow()
        ctx = who.as_dict() if who else {}
        backup = store.create_backup(
            session, backup_id=new_id(), trigger=trigger, started_at=now,
            school_id=ctx.get("school_id"), requested_by=ctx.get("actor_id"),
            correlation_id=ctx.get("correlation_id"))
        self.outbox.add(session, events.BACKUP_REQUESTED, events.backup_requested(
            backup_id=backup.id, trigger=trigger, requested_by=ctx.get("actor_id"),
            requested_at=domain.iso(now)), ctx)
        return backup
