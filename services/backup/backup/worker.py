"""The backup worker: ``python -m backup.worker``, a plain process (no
eventlet; it is a gRPC client, see ARCHITECTURE.md "Runtime notes").

It polls the catalogue for queued backups, claims one atomically, pulls
every source's Export stream into spooled table files, writes the encrypted
archive to the target, reads it back to verify it, writes the public
manifest beside it and marks the row done (or failed, with the reason) in
the same transaction as the ``backup_finished`` outbox row. The nameko
service's outbox relay publishes that event.

A claim is a lease renewed by heartbeats: a worker that dies leaves a row
whose heartbeat goes stale, and another worker takes it over (at most
``max_attempts`` times, then it is failed). On SIGTERM the current run is
abandoned cleanly: files removed, claim handed back.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.orm import sessionmaker

from kernel import correlation
from kernel.db import transaction
from kernel.events import envelope, record, utcnow

from backup import domain, errors, events, store
from backup.archive import (
    ArchiveError, ServiceSpool, build_manifest, manifest_totals, sidecar, verify_archive, write_archive,
)
from backup.crypto import key_id
from backup.sources import SourceError
from backup.targets import LocalDirTarget

log = logging.getLogger("backup.worker")

RUNS = Counter("backup_runs", "Backup runs by outcome", ["status"])
BYTES = Counter("backup_bytes", "Bytes of encrypted archives written and verified")
TARGET_COPIES = Counter("backup_target_copies", "Copies to a target, by outcome", ["target", "outcome"])
TARGET_FAILING = Gauge("backup_target_failing",
                       "1 while a target's last copy failed after every retry (alert on it)", ["target"])
CHUNK_BYTES = Counter("backup_chunk_bytes", "Table bytes of copies to off-site targets: sent, or "
                      "already there and not sent again", ["target", "kind"])
PRUNED = Counter("backup_pruned", "Copies removed by retention, by target", ["target"])
SECONDS = Histogram("backup_seconds", "Duration of backup runs",
                    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, float("inf")))

SERVICE = "backup"


class Stopped(Exception):
    """The worker is stopping: hand the run back, unfinished."""


class LostClaim(Exception):
    """Another worker took this run over (our lease lapsed)."""


class BackupFailed(Exception):
    """A run failed for a reason worth showing the administrator (Russian text)."""


@dataclass
class Outcome:
    """A finished archive: its public manifest and totals."""
    manifest: dict
    size: int
    sha256: str
    tables: int
    rows: int


def _short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[:limit] + "..."


def _open(source, backup_id: str, correlation_id: str | None):
    """Sources are objects with ``export``, factories, or plain iterables."""
    if hasattr(source, "export"):
        return source.export(backup_id, correlation_id)
    if callable(source):
        return source()
    return iter(source)


def collect(service: str, source, *, backup_id: str, correlation_id: str | None = None,
            check: Callable[[], None] = lambda: None, retries: int = 1, retry_delay: float = 1.0,
            sleep: Callable[[float], None] = time.sleep, spool_dir: str | None = None) -> ServiceSpool:
    """Pull one service's export into a :class:`ServiceSpool`.

    A failed stream is retried from the start ``retries`` times (a partial
    copy is never kept); then :class:`BackupFailed`.
    """
    last: BaseException | None = None
    for attempt in range(retries + 1):
        spool = ServiceSpool(service, spool_dir)
        try:
            stream = _open(source, backup_id, correlation_id)
            try:
                for chunk in stream:
                    check()
                    try:
                        table, rows, revision = chunk
                    except (TypeError, ValueError):
                        raise SourceError("export chunk is not (table, rows, revision)") from None
                    spool.add_chunk(table, rows, revision)
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
            if not spool.tables:
                raise SourceError("export sent no tables")
            return spool
        except (Stopped, LostClaim):
            spool.close()
            raise
        except Exception as exc:  # any source failure: retry, then fail the run
            spool.close()
            last = exc
            log.warning("export of %s failed (attempt %d of %d): %s", service, attempt + 1, retries + 1, exc)
            if attempt < retries:
                sleep(retry_delay)
    raise BackupFailed(errors.text("source_failed", service=service, detail=_short(last)))


def run_backup(*, backup_id: str, sources: Mapping[str, object], target: LocalDirTarget, key: bytes,
               created_at: dt.datetime | None = None, correlation_id: str | None = None,
               check: Callable[[], None] = lambda: None, retries: int = 1, retry_delay: float = 1.0,
               sleep: Callable[[float], None] = time.sleep) -> Outcome:
    """Copy every source into one encrypted archive on ``target`` and verify it.

    Nothing is written to the target until every source has been read, and
    on any failure whatever was written is removed again.
    """
    if not sources:
        raise BackupFailed(errors.text("no_sources"))
    created_at = domain.as_utc(created_at or utcnow())
    spools: dict[str, ServiceSpool] = {}
    wrote = False
    try:
        target.ensure()
        for service in sources:
            spools[service] = collect(service, sources[service], backup_id=backup_id,
                                      correlation_id=correlation_id, check=check, retries=retries,
                                      retry_delay=retry_delay, sleep=sleep, spool_dir=str(target.root))
        manifest = build_manifest(backup_id=backup_id, created_at=created_at.isoformat(), services=spools)
        check()
        wrote = True
        try:
            with target.open_archive(backup_id) as out:
                written = write_archive(out, key, manifest, spools, mtime=created_at.timestamp())
        except OSError as exc:
            raise BackupFailed(errors.text("archive_failed", detail=_short(exc))) from exc
        for spool in spools.values():  # free the spool files before reading back
            spool.close()
        check()
        path = target.archive_path(backup_id)
        try:
            verify_archive(path, key, manifest=manifest, sha256=written["sha256"])
        except (ArchiveError, OSError) as exc:
            raise BackupFailed(errors.text("verify_failed", detail=_short(exc))) from exc
        doc = sidecar(manifest, file_name=path.name, size=written["size"], sha256=written["sha256"], key=key)
        target.write_manifest(backup_id, doc)
        totals = manifest_totals(manifest)
        return Outcome(manifest=doc, size=written["size"], sha256=written["sha256"],
                       tables=totals["tables"], rows=totals["rows"])
    except LostClaim:
        # The files now belong to the worker that took over: leave them.
        raise
    except BaseException:
        if wrote:
            target.discard(backup_id)
        raise
    finally:
        for spool in spools.values():
            spool.close()


class Lease:
    """The ``check`` callback of a run: raises :class:`Stopped` when the
    worker is stopping and renews the claim every ``every`` seconds."""

    def __init__(self, factory: sessionmaker, *, backup_id: str, worker: str, stop: threading.Event,
                 every: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.factory = factory
        self.backup_id = backup_id
        self.worker = worker
        self.stop = stop
        self.every = every
        self.clock = clock
        self.last = clock()

    def __call__(self) -> None:
        if self.stop.is_set():
            raise Stopped()
        now = self.clock()
        if domain.heartbeat_due(self.last, now, self.every):
            with transaction(self.factory) as session:
                if not store.heartbeat(session, backup_id=self.backup_id, worker=self.worker, now=utcnow()):
                    raise LostClaim()
            self.last = now


@dataclass
class WorkerConfig:
    """The worker's settings (environment, read once at start)."""
    backup_dir: Path
    sources: list = field(default_factory=lambda: list(domain.DEFAULT_SOURCES))
    poll_seconds: float = 1.0
    lease_seconds: float = 600.0
    heartbeat_seconds: float = 10.0
    max_attempts: int = 3
    export_timeout: float = 600.0
    retries: int = 1
    retry_delay: float = 2.0
    # Drill every backup, not only the scheduled ones (EJOURNAL_BACKUP_DRILL=all).
    drill_every: bool = False
    # A copy to an off-site target: tries, and the pause before the second
    # (doubled before each further one).
    target_attempts: int = 3
    target_retry_delay: float = 5.0
    # Retention (domain.retention): rotation counts and the classes' years.
    keep: dict = field(default_factory=lambda: dict(domain.DEFAULT_KEEP))

    @classmethod
    def from_env(cls, data_dir: Path, environ: Mapping[str, str] | None = None) -> "WorkerConfig":
        env = os.environ if environ is None else environ

        def num(name, default, kind=float):
            value = env.get(name)
            if value in (None, ""):
                return default
            try:
                parsed = kind(value)
            except ValueError:
                raise ValueError(f"{name} must be a number, got {value!r}") from None
            if parsed < 0:
                raise ValueError(f"{name} must not be negative")
            return parsed

        return cls(
            backup_dir=Path(env.get("EJOURNAL_BACKUP_DIR") or Path(data_dir) / "backups"),
            sources=domain.parse_sources(env.get("EJOURNAL_BACKUP_SOURCES")),
            poll_seconds=num("EJOURNAL_BACKUP_POLL_SECONDS", 1.0),
            lease_seconds=num("EJOURNAL_BACKUP_LEASE_SECONDS", 600.0),
            max_attempts=max(1, num("EJOURNAL_BACKUP_MAX_ATTEMPTS", 3, int)),
            export_timeout=num("EJOURNAL_BACKUP_EXPORT_TIMEOUT", 600.0),
            retry_delay=num("EJOURNAL_BACKUP_RETRY_DELAY", 2.0),
            drill_every=(env.get("EJOURNAL_BACKUP_DRILL") or "scheduled") == "all",
            target_attempts=max(1, num("EJOURNAL_BACKUP_TARGET_ATTEMPTS", 3, int)),
            target_retry_delay=num("EJOURNAL_BACKUP_TARGET_RETRY_DELAY", 5.0),
            keep=domain.parse_keep(env),
        )


class Worker:
    """Claims queued backups and runs them, one at a time."""

    def __init__(self, factory: sessionmaker, *, sources: Mapping[str, object], target: LocalDirTarget,
                 key: bytes, config: WorkerConfig, worker_id: str | None = None,
                 stop: threading.Event | None = None, sleep: Callable[[float], None] = time.sleep,
                 remotes: list | None = None):
        self.factory = factory
        self.sources = sources
        self.target = target
        # [(TargetConfig, target)]: off-site copies of each finished archive
        self.remotes = list(remotes or [])
        self.key = key
        self.config = config
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stop = stop or threading.Event()
        self.sleep = sleep

    # -- claiming ----------------------------------------------------------

    def _stale_before(self) -> dt.datetime:
        return domain.stale_before(utcnow(), self.config.lease_seconds)

    def fail_abandoned(self) -> int:
        """Fail runs whose workers kept dying; the number failed."""
        failed = 0
        with transaction(self.factory) as session:
            for backup in store.abandoned(session, stale_before=self._stale_before(),
                                          max_attempts=self.config.max_attempts):
                message = errors.text("abandoned")
                if store.mark_failed(session, backup_id=backup.id, finished_at=utcnow(), error=message):
                    self._finished_event(session, store.as_dict(backup), status=domain.FAILED,
                                         finished_at=utcnow(), error=message)
                    self.target.discard(backup.id)
                    RUNS.labels(domain.FAILED).inc()
                    failed += 1
        return failed

    def claim_next(self) -> str | None:
        """Claim the oldest queued backup; its id, or None when there is none."""
        with transaction(self.factory) as session:
            candidates = store.claimable_ids(session, stale_before=self._stale_before(),
                                             max_attempts=self.config.max_attempts)
        for backup_id in candidates:
            with transaction(self.factory) as session:
                if store.claim_backup(session, backup_id=backup_id, worker=self.worker_id, now=utcnow(),
                                      stale_before=self._stale_before(), max_attempts=self.config.max_attempts):
                    return backup_id
        return None

    # -- running -------------------------------------------------------------

    def execute(self, backup_id: str) -> str:
        """Run a claimed backup to its end; the resulting status
        (``done``/``failed``, or ``released``/``lost`` when not finished)."""
        with transaction(self.factory) as session:
            backup = store.get_backup(session, backup_id=backup_id)
            row = store.as_dict(backup)
        correlation.set(row.get("correlation_id"))
        log.info("backup %s started (%s, attempt %s)", backup_id, row["trigger"], row["attempts"])
        lease = Lease(self.factory, backup_id=backup_id, worker=self.worker_id, stop=self.stop,
                      every=self.config.heartbeat_seconds)
        began = time.perf_counter()
        outcome, error = None, None
        try:
            outcome = run_backup(
                backup_id=backup_id, sources=self.sources, target=self.target, key=self.key,
                created_at=row["started_at"], correlation_id=row.get("correlation_id"), check=lease,
                retries=self.config.retries, retry_delay=self.config.retry_delay, sleep=self.sleep)
        except Stopped:
            with transaction(self.factory) as session:
                store.release(session, backup_id=backup_id, worker=self.worker_id)
            log.info("backup %s handed back: the worker is stopping", backup_id)
            return "released"
        except LostClaim:
            log.warning("backup %s was taken over by another worker", backup_id)
            return "lost"
        except BackupFailed as exc:
            error = str(exc)
        except Exception as exc:  # a bug or a broken disk: fail this run, keep the worker
            log.exception("backup %s failed", backup_id)
            error = errors.text("internal", detail=_short(exc))
        copied, failed = [self.target.name], []
        if outcome is not None:
            try:
                copied_more, failed = self.copy_offsite(backup_id, row, outcome, lease)
                copied += copied_more
            except Stopped:
                with transaction(self.factory) as session:
                    store.release(session, backup_id=backup_id, worker=self.worker_id)
                log.info("backup %s handed back: the worker is stopping", backup_id)
                return "released"
            except LostClaim:
                log.warning("backup %s was taken over by another worker", backup_id)
                return "lost"
        elapsed = time.perf_counter() - began
        finished = utcnow()
        with transaction(self.factory) as session:
            if outcome is not None:
                ok = store.mark_done(session, backup_id=backup_id, worker=self.worker_id, finished_at=finished,
                                     size=outcome.size, targets=copied, sha256=outcome.sha256,
                                     key_id=key_id(self.key).hex(), manifest=outcome.manifest,
                                     failed_targets=failed)
                status = domain.DONE
            else:
                ok = store.mark_failed(session, backup_id=backup_id, worker=self.worker_id,
                                       finished_at=finished, error=error)
                status = domain.FAILED
            if not ok:
                log.warning("backup %s was taken over before it finished; result dropped", backup_id)
                return "lost"
            self._finished_event(session, row, status=status, finished_at=finished, error=error, outcome=outcome,
                                 targets=copied)
        RUNS.labels(status).inc()
        SECONDS.observe(elapsed)
        if outcome is not None:
            BYTES.inc(outcome.size)
            log.info("backup %s done: %d bytes, %d rows in %d tables, %.1fs",
                     backup_id, outcome.size, outcome.rows, outcome.tables, elapsed)
            if row["trigger"] == domain.SCHEDULED or self.config.drill_every:
                self.drill(backup_id, sha256=outcome.sha256, row=row)
            self.prune()
        else:
            log.error("backup %s failed: %s", backup_id, error)
        return status

    def drill(self, backup_id: str, *, sha256: str | None, row: dict) -> dict:
        """Restore the new archive into scratch databases and compare
        (backup.restore.drill); the outcome goes on its row, and a failure
        is a metric and a ``backup_drill_failed`` event for the administrators."""
        from backup import drill as drills
        from backup.restore import drill_file

        began = time.perf_counter()
        result = drill_file(self.target.archive_path(backup_id), self.key, backup_id=backup_id,
                            expected_sha256=sha256)
        drills.count(result)
        with transaction(self.factory) as session:
            store.record_drill(session, backup_id=backup_id, at=utcnow(), result=result)
            if not result["ok"]:
                record(session, store.tables["outbox"], envelope(
                    type=events.BACKUP_DRILL_FAILED, producer=SERVICE,
                    payload=drills.outcome_event(backup_id=backup_id, result=result),
                    school_id=row.get("school_id"), actor_id=row.get("requested_by"),
                    correlation_id=row.get("correlation_id")))
        if result["ok"]:
            log.info("backup %s drilled: %d rows restored and compared, %.1fs", backup_id,
                     result["checked_rows"], time.perf_counter() - began)
        else:
            log.error("restore drill of backup %s FAILED: %s", backup_id, drills.describe(result))
        return result

    def prune(self) -> dict:
        """Remove, target by target, the copies that no retention class keeps
        (domain.retention), never the newest good copy of a target;
        ``{target name: [ids removed]}``."""
        now = utcnow()
        with transaction(self.factory) as session:
            good = store.good_backups(session)
        removed: dict = {}
        for label, name, target in [(self.target.label, self.target.name, self.target)] + [
                (c.label, c.name, t) for c, t in self.remotes]:
            here = [(b, started) for b, started, targets in good if name in (targets or [])]
            for backup_id in domain.prunable(here, now=now, keep=self.config.keep):
                try:
                    target.delete(backup_id)
                except Exception as exc:  # an unreachable target: try again after the next backup
                    log.warning("pruning backup %s from %s failed: %s", backup_id, name, _short(exc))
                    continue
                with transaction(self.factory) as session:
                    store.drop_target(session, backup_id=backup_id, target=name, now=now)
                PRUNED.labels(label).inc()
                removed.setdefault(name, []).append(backup_id)
                log.info("backup %s pruned from %s (no retention class keeps it)", backup_id, name)
            if removed.get(name) and hasattr(target, "collect_garbage"):
                with transaction(self.factory) as session:
                    keep = store.manifests_on(session, target=name)
                try:
                    chunks_removed = target.collect_garbage(keep)
                    log.info("%s: %d chunks no backup refers to removed", name, chunks_removed)
                except Exception as exc:  # next time
                    log.warning("removing unused chunks from %s failed: %s", name, _short(exc))
        return removed

    def due_remotes(self, row: dict) -> list:
        """The off-site targets this backup goes to: every one for a
        requested backup, the ones whose interval has passed for a scheduled one."""
        if row["trigger"] != domain.SCHEDULED:
            return list(self.remotes)
        with transaction(self.factory) as session:
            last = store.last_copies(session)
        due = set(domain.due_targets(now=utcnow(), targets=[(c.name, c.every_hours) for c, _ in self.remotes],
                                     last_copies=last))
        return [(c, t) for c, t in self.remotes if c.name in due]

    def copy_offsite(self, backup_id: str, row: dict, outcome: Outcome, check: Callable[[], None]):
        """Copy the verified archive to every due off-site target, each tried
        ``target_attempts`` times with a doubling pause; a target that still
        fails is counted (``backup_target_failing``) and the others still get
        their copy. ``(names copied, names failed)``."""
        copied, failed = [], []
        archive = self.target.archive_path(backup_id)
        for config, remote in self.due_remotes(row):
            delay = self.config.target_retry_delay
            for attempt in range(1, self.config.target_attempts + 1):
                check()
                try:
                    stats = remote.put(backup_id, archive, outcome.manifest)
                except Exception as exc:  # a network, auth or storage failure: retry, then give up on it
                    log.warning("copy of backup %s to %s failed (attempt %d of %d): %s", backup_id, config.name,
                                attempt, self.config.target_attempts, _short(exc))
                    TARGET_COPIES.labels(config.label, "retried" if attempt < self.config.target_attempts
                                         else "failed").inc()
                    if attempt < self.config.target_attempts:
                        self.sleep(delay)
                        delay *= 2
                    continue
                TARGET_COPIES.labels(config.label, "copied").inc()
                TARGET_FAILING.labels(config.label).set(0)
                copied.append(config.name)
                if stats is not None:
                    log.info("backup %s copied to %s: %d of %d table chunks uploaded (%d bytes), %d bytes "
                             "unchanged and not sent again", backup_id, config.name, stats.uploaded, stats.chunks,
                             stats.bytes_uploaded, stats.bytes_skipped)
                    CHUNK_BYTES.labels(config.label, "uploaded").inc(stats.bytes_uploaded)
                    CHUNK_BYTES.labels(config.label, "unchanged").inc(stats.bytes_skipped)
                else:
                    log.info("backup %s copied to %s", backup_id, config.name)
                break
            else:
                TARGET_FAILING.labels(config.label).set(1)
                failed.append(config.name)
                log.error("backup %s: target %s failed %d times; the other targets have their copy",
                          backup_id, config.name, self.config.target_attempts)
        return copied, failed

    def _finished_event(self, session, row: dict, *, status: str, finished_at: dt.datetime,
                        error: str | None, outcome: Outcome | None = None, targets: list | None = None) -> None:
        payload = events.backup_finished(
            backup_id=row["id"], trigger=row["trigger"], status=status,
            started_at=domain.iso(row["started_at"]), finished_at=domain.iso(finished_at),
            size=outcome.size if outcome else None,
            targets=(targets or [self.target.name]) if outcome else [], verified=outcome is not None,
            sha256=outcome.sha256 if outcome else None,
            tables=outcome.tables if outcome else 0, rows=outcome.rows if outcome else 0, error=error)
        record(session, store.tables["outbox"], envelope(
            type=events.BACKUP_FINISHED, producer=SERVICE, payload=payload, school_id=row.get("school_id"),
            actor_id=row.get("requested_by"), correlation_id=row.get("correlation_id")))

    # -- the loop ------------------------------------------------------------

    def work_once(self) -> str | None:
        """Fail abandoned runs, then claim and run one backup; its status or None."""
        self.fail_abandoned()
        backup_id = self.claim_next()
        if backup_id is None:
            return None
        try:
            return self.execute(backup_id)
        finally:
            correlation.set(None)

    def run_forever(self) -> None:
        """Until :attr:`stop` is set; database outages are waited out."""
        log.info("backup worker %s polling every %.1fs (target %s, sources %s)", self.worker_id,
                 self.config.poll_seconds, self.target.name, ", ".join(self.sources))
        while not self.stop.is_set():
            pause = max(self.config.poll_seconds, 0.05)
            try:
                status = self.work_once()
            except Exception:  # database down or not migrated yet: keep trying, calmly
                log.exception("backup worker loop failed; retrying")
                status, pause = None, max(pause, 5.0)
            if status is None:
                self.stop.wait(pause)


def warn_about_keys(target: LocalDirTarget, others: list, data_dir) -> list:
    """Warn (and return them) when a key sits beside the archives: whoever
    takes the backup media would hold both (R-D5)."""
    found = []
    key_file = (Path(data_dir) / "keys" / "backup.key").resolve()
    for local in [target, *others]:
        found += local.keys_inside()
        if local.root == key_file.parent or local.root in key_file.parents:
            found.append(key_file)
    for path in dict.fromkeys(found):
        log.warning("a key file is kept inside a backup target: %s; keep the keys away from the archives "
                    "(EJOURNAL_BACKUP_KEY, or a data dir apart from EJOURNAL_BACKUP_DIR)", path)
    return list(dict.fromkeys(found))


DOWNLOADS = Counter("backup_downloads", "Archive downloads served, by outcome", ["outcome"])
STREAM_BYTES = 1024 * 1024


def open_archive_anywhere(backup_id: str, target: LocalDirTarget, remotes=()):
    """``(binary file, file name)`` of ``backup_id``'s archive: the local
    target's file, else the first off-site target that holds it (its
    one-file archive reassembled from its chunks into an unnamed temporary
    file); None when no target has it. The caller closes the file."""
    path = target.archive_path(backup_id)
    try:
        return open(path, "rb"), path.name
    except FileNotFoundError:
        pass
    for remote in remotes:
        try:
            if backup_id not in remote.list_ids():
                continue
            return remote.open(backup_id), path.name
        except Exception as exc:  # an unreachable target: try the next one
            log.warning("backup target %s: cannot read %s: %s", getattr(remote, "name", remote), backup_id,
                        _short(exc))
    return None


def archives_app(factory: sessionmaker, target: LocalDirTarget, remotes=()):
    """``GET /archives/<id>?ticket=<token>``: the archive file as it is
    stored (encrypted), to a request carrying a ticket the service issued
    (store.issue_ticket; one use, short-lived). Streamed, never read whole:
    from the local target, or, when the local copy is gone, from the first
    off-site target in ``remotes`` that holds it."""
    from urllib.parse import parse_qs

    from backup.archive import valid_name

    def answer(start_response, status, text):
        body = text.encode()
        start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
        return [body]

    def app(environ, start_response):
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return answer(start_response, "405 Method Not Allowed", "GET only")
        backup_id = environ.get("PATH_INFO", "")[len("/archives/"):]
        ticket = (parse_qs(environ.get("QUERY_STRING", "")).get("ticket") or [""])[0]
        if not valid_name(backup_id):
            return answer(start_response, "404 Not Found", "no such archive")
        with transaction(factory) as session:
            allowed = store.redeem_ticket(session, token=ticket, backup_id=backup_id, now=utcnow())
        if not allowed:
            DOWNLOADS.labels("refused").inc()
            return answer(start_response, "403 Forbidden", "no valid ticket")
        found = open_archive_anywhere(backup_id, target, remotes)
        if found is None:
            DOWNLOADS.labels("missing").inc()
            return answer(start_response, "404 Not Found", "no such archive")
        handle, file_name = found
        size = handle.seek(0, os.SEEK_END)
        handle.seek(0)
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size)),
                                  ("Content-Disposition", f'attachment; filename="{file_name}"')])
        DOWNLOADS.labels("served").inc()
        wrapper = environ.get("wsgi.file_wrapper")
        if wrapper is not None:
            return wrapper(handle, STREAM_BYTES)
        return _Blocks(handle)

    return app


class _Blocks:
    """A WSGI body reading ``handle`` block by block; closed by the server."""

    def __init__(self, handle):
        self.handle = handle

    def __iter__(self):
        return iter(lambda: self.handle.read(STREAM_BYTES), b"")

    def close(self):
        self.handle.close()


def main(argv=None) -> int:
    """Entry point of ``python -m backup.worker``."""
    from kernel import config, metrics
    from kernel.db import make_engine, session_factory

    from kernel.export import export_lines

    from backup.crypto import load_key
    from backup.sources import GrpcSource

    settings = config.load()
    correlation.setup_logging("backup.worker")
    try:
        cfg = WorkerConfig.from_env(settings.data_dir)
        key = load_key(settings.data_dir)
    except ValueError as exc:
        log.error("bad configuration: %s", exc)
        return 2
    target = LocalDirTarget(cfg.backup_dir)
    try:
        target.ensure()
    except OSError as exc:
        log.error("backup directory %s is not usable: %s", target.root, exc)
        return 2
    from backup.targets import open_target, parse_targets
    try:
        configs = parse_targets(os.environ, settings.data_dir)
        remotes = [(c, open_target(c, key)) for c in configs[1:]]
    except ValueError as exc:
        log.error("bad backup target configuration: %s", exc)
        return 2
    warn_about_keys(target, [t for _, t in remotes if isinstance(t, LocalDirTarget)], settings.data_dir)
    engine = make_engine(settings.database_url(SERVICE))
    factory = session_factory(engine)
    sources = {name: GrpcSource(settings.grpc_target(name), timeout=cfg.export_timeout) for name in cfg.sources}
    # The catalogue itself (and this service's outbox) comes back with a
    # restore too: the worker reads its own database, as every service's
    # Export reads its own.
    sources.setdefault(SERVICE, lambda: export_lines(engine, store.Base.metadata))
    stop = threading.Event()
    worker = Worker(factory, sources=sources, target=target, key=key, config=cfg, stop=stop, remotes=remotes)
    db_ok = metrics.db_health(engine)

    def health() -> dict:
        db_ok()
        if not target.writable():
            return {"status": "error", "error": "target not writable"}
        return {"status": "ok", "service": "backup.worker", "target": target.name}

    def _stop(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    port = settings.port("backup.worker.metrics")
    server = metrics.serve(port, health, routes={"/archives/": archives_app(
        factory, target, [t for _, t in remotes])})
    log.info("backup worker metrics on %s", port)
    try:
        worker.run_forever()
    finally:
        server.shutdown()
        engine.dispose()
    log.info("backup worker stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
