"""The catalogue of backups (SQLAlchemy models and queries).

Queries are functions with keyword-only arguments that take the session,
shared by the nameko service and the plain worker process.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON, BigInteger, Boolean, case, delete, Index, Integer, String, Text, and_, func, or_, select, text,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from kernel.db import UtcDateTime
from kernel.events import kernel_tables

from backup import domain

# Arbitrary constant: the PostgreSQL advisory lock that serialises "is a
# backup already queued? if not, queue one" across service instances.
_REQUEST_LOCK = 0x6A_62_61_6B  # "jbak"


class Base(DeclarativeBase):
    pass


tables = kernel_tables(Base.metadata)


class Backup(Base):
    """One backup: requested, claimed by a worker, then done or failed."""
    __tablename__ = "backups"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # The school whose administrator asked (None: the schedule). The data
    # itself is the whole deployment's, as the services export it.
    school_id: Mapped[str | None] = mapped_column(String(36), index=True)
    requested_by: Mapped[str | None] = mapped_column(String(36))
    trigger: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), nullable=False)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    worker: Mapped[str | None] = mapped_column(String(120))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    size: Mapped[int | None] = mapped_column(BigInteger)
    targets: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    verified: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    sha256: Mapped[str | None] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(16))
    manifest: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    # The last restore drill: when, its outcome, the rows it compared and
    # (when it failed) what differed.
    drilled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    drill_ok: Mapped[bool | None] = mapped_column(Boolean)
    drill_checked_rows: Mapped[int | None] = mapped_column(BigInteger)
    drill_mismatches: Mapped[list | None] = mapped_column(JSON)
    # Targets that should have had a copy and did not (retried at the next run).
    failed_targets: Mapped[list | None] = mapped_column(JSON)
    # When retention removed its last copy (the row stays, for the record).
    pruned_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_backups_started_at_id", "started_at", "id"),)


class Ticket(Base):
    """A one-time, short-lived permission to download one archive: issued by
    the service to an administrator's request, redeemed by the worker that
    serves the file. Only the token's SHA-256 is kept."""
    __tablename__ = "backup_tickets"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    backup_id: Mapped[str] = mapped_column(String(36), nullable=False)
    issued_to: Mapped[str | None] = mapped_column(String(36))
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), nullable=False, index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


def as_dict(backup: Backup) -> dict:
    """The row's columns as a plain dict (for the domain's views)."""
    return {c.key: getattr(backup, c.key) for c in Backup.__table__.columns}


def _visible_to(school_id: str | None):
    # An administrator sees their school's requests and the schedule's.
    return or_(Backup.school_id == school_id, Backup.school_id.is_(None))


# -- the service side ----------------------------------------------------------

def lock_requests(session: Session) -> None:
    """Serialise backup requests until the transaction ends (PostgreSQL;
    SQLite already runs one writer at a time)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _REQUEST_LOCK})


def create_backup(session: Session, *, backup_id: str, trigger: str, started_at: dt.datetime,
                  school_id: str | None = None, requested_by: str | None = None,
                  correlation_id: str | None = None) -> Backup:
    """Queue a backup: a "running" row that no worker has claimed yet."""
    backup = Backup(id=backup_id, trigger=trigger, status=domain.RUNNING, started_at=started_at,
                    school_id=school_id, requested_by=requested_by, correlation_id=correlation_id,
                    attempts=0, targets=[], verified=False)
    session.add(backup)
    session.flush()
    return backup


def find_running(session: Session, *, school_id: str | None) -> Backup | None:
    """The oldest unfinished backup this school's administrator can see."""
    return session.scalars(
        select(Backup).where(Backup.status == domain.RUNNING, _visible_to(school_id))
        .order_by(Backup.started_at, Backup.id).limit(1)
    ).first()


def list_backups(session: Session, *, school_id: str | None, limit: int,
                 after: tuple[dt.datetime, str] | None = None) -> list[Backup]:
    """Newest first; up to ``limit`` rows after the cursor position ``after``."""
    query = select(Backup).where(_visible_to(school_id))
    if after is not None:
        started, backup_id = after
        query = query.where(or_(Backup.started_at < started,
                                and_(Backup.started_at == started, Backup.id < backup_id)))
    return list(session.scalars(query.order_by(Backup.started_at.desc(), Backup.id.desc()).limit(limit)))


def get_backup(session: Session, *, backup_id: str) -> Backup | None:
    return session.get(Backup, backup_id)


def get_visible(session: Session, *, backup_id: str, school_id: str | None) -> Backup | None:
    """``backup_id`` if this school's administrator may see it."""
    return session.scalars(select(Backup).where(Backup.id == backup_id, _visible_to(school_id))).first()


def schedule_state(session: Session) -> dict:
    """What the schedule needs: is anything running, when was the last
    attempt and the last good backup (any trigger)."""
    running = session.scalar(select(func.count()).select_from(Backup).where(Backup.status == domain.RUNNING))
    last_attempt = session.scalar(select(func.max(Backup.started_at)))
    last_ok = session.scalar(select(func.max(Backup.started_at)).where(Backup.status == domain.DONE))
    return {"running": bool(running), "last_attempt_at": last_attempt, "last_ok_at": last_ok}


def last_copies(session: Session) -> dict:
    """``{target name: started_at of the newest done backup copied there}``."""
    newest: dict = {}
    for started_at, targets in session.execute(
            select(Backup.started_at, Backup.targets).where(Backup.status == domain.DONE)):
        for name in targets or []:
            if name not in newest or domain.as_utc(started_at) > newest[name]:
                newest[name] = domain.as_utc(started_at)
    return newest


def failing_targets(session: Session) -> list:
    """Targets the newest finished backup failed to copy to."""
    row = session.scalars(select(Backup).where(Backup.status == domain.DONE)
                          .order_by(Backup.started_at.desc()).limit(1)).first()
    return list(row.failed_targets or []) if row is not None else []


# -- the worker side ---------------------------------------------------------

def _claimable(stale_before: dt.datetime, max_attempts: int):
    return and_(Backup.status == domain.RUNNING, Backup.attempts < max_attempts,
                or_(Backup.worker.is_(None), Backup.heartbeat_at < stale_before))


def claimable_ids(session: Session, *, stale_before: dt.datetime, max_attempts: int, limit: int = 10) -> list[str]:
    """Ids of queued (or abandoned) backups, oldest first."""
    return list(session.scalars(
        select(Backup.id).where(_claimable(stale_before, max_attempts))
        .order_by(Backup.started_at, Backup.id).limit(limit)))


def claim_backup(session: Session, *, backup_id: str, worker: str, now: dt.datetime,
                 stale_before: dt.datetime, max_attempts: int) -> bool:
    """Take ``backup_id`` for ``worker``. One conditional UPDATE, so of two
    concurrent claims exactly one matches (PostgreSQL re-checks the condition
    after the row lock; SQLite has one writer)."""
    result = session.execute(
        update(Backup).where(Backup.id == backup_id, _claimable(stale_before, max_attempts))
        .values(worker=worker, claimed_at=now, heartbeat_at=now, attempts=Backup.attempts + 1)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def _mine(backup_id: str, worker: str):
    return and_(Backup.id == backup_id, Backup.worker == worker, Backup.status == domain.RUNNING)


def heartbeat(session: Session, *, backup_id: str, worker: str, now: dt.datetime) -> bool:
    """Prove ``worker`` is alive; False if the claim was lost meanwhile."""
    result = session.execute(update(Backup).where(_mine(backup_id, worker)).values(heartbeat_at=now)
                             .execution_options(synchronize_session=False))
    return result.rowcount == 1


def release(session: Session, *, backup_id: str, worker: str) -> bool:
    """Hand an unfinished claim back (the worker is stopping)."""
    result = session.execute(update(Backup).where(_mine(backup_id, worker))
                             # a clean stop is not a failed attempt
                             .values(worker=None, heartbeat_at=None,
                                     attempts=case((Backup.attempts > 0, Backup.attempts - 1), else_=0))
                             .execution_options(synchronize_session=False))
    return result.rowcount == 1


def mark_done(session: Session, *, backup_id: str, worker: str, finished_at: dt.datetime, size: int,
              targets: list, sha256: str, key_id: str, manifest: dict, failed_targets: list | None = None) -> bool:
    """Record a written and verified archive."""
    result = session.execute(update(Backup).where(_mine(backup_id, worker)).values(
        status=domain.DONE, finished_at=finished_at, size=size, targets=list(targets), verified=True,
        sha256=sha256, key_id=key_id, manifest=manifest, error=None, failed_targets=list(failed_targets or []),
    ).execution_options(synchronize_session=False))
    return result.rowcount == 1


def mark_failed(session: Session, *, backup_id: str, finished_at: dt.datetime, error: str,
                worker: str | None = None) -> bool:
    """Record a failed run (``worker=None``: whoever held it, for abandoned runs)."""
    cond = _mine(backup_id, worker) if worker is not None else and_(
        Backup.id == backup_id, Backup.status == domain.RUNNING)
    result = session.execute(update(Backup).where(cond).values(
        status=domain.FAILED, finished_at=finished_at, verified=False, error=error[:4000],
    ).execution_options(synchronize_session=False))
    return result.rowcount == 1


def abandoned(session: Session, *, stale_before: dt.datetime, max_attempts: int) -> list[Backup]:
    """Running backups whose workers died ``max_attempts`` times."""
    return list(session.scalars(select(Backup).where(
        Backup.status == domain.RUNNING, Backup.attempts >= max_attempts,
        or_(Backup.worker.is_(None), Backup.heartbeat_at < stale_before))))


# -- drills and restores ---------------------------------------------------------

def record_drill(session: Session, *, backup_id: str, at: dt.datetime, result: dict) -> bool:
    """Store a drill's outcome on the backup's row; a failed drill also
    marks the archive as not verified."""
    values = dict(drilled_at=at, drill_ok=bool(result.get("ok")),
                  drill_checked_rows=int(result.get("checked_rows") or 0),
                  drill_mismatches=list(result.get("mismatches") or [])[:50])
    if not result.get("ok"):
        values["verified"] = False
    outcome = session.execute(update(Backup).where(Backup.id == backup_id, Backup.status == domain.DONE)
                              .values(**values).execution_options(synchronize_session=False))
    return outcome.rowcount == 1


def record_restored(session: Session, *, backup_id: str, created_at: dt.datetime, size: int, sha256: str,
                    manifest: dict, targets: list, now: dt.datetime, error: str) -> None:
    """After a restore from ``backup_id``'s archive: that backup is listed as
    done and verified (the catalogue in the archive was copied while it was
    still running); any other run the archive caught unfinished is failed."""
    backup = session.get(Backup, backup_id)
    if backup is None:
        backup = Backup(id=backup_id, trigger=domain.MANUAL, started_at=created_at, attempts=1)
        session.add(backup)
    backup.status = domain.DONE
    backup.finished_at = backup.finished_at or now
    backup.worker = None
    backup.heartbeat_at = None
    backup.size = size
    backup.sha256 = sha256
    backup.key_id = (manifest.get("archive") or {}).get("key_id")
    backup.manifest = manifest
    backup.targets = list(targets)
    backup.verified = True
    backup.error = None
    session.flush()
    session.execute(update(Backup).where(Backup.status == domain.RUNNING, Backup.id != backup_id)
                    .values(status=domain.FAILED, finished_at=now, worker=None, error=error)
                    .execution_options(synchronize_session=False))


# -- download tickets --------------------------------------------------------------

def _token_hash(token: str) -> str:
    import hashlib
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_ticket(session: Session, *, backup_id: str, issued_to: str | None, now: dt.datetime,
                 seconds: float) -> str:
    """A new download ticket for ``backup_id``, valid ``seconds``; the token.
    Expired tickets are swept on the way."""
    import secrets
    session.execute(delete(Ticket).where(Ticket.expires_at < now))
    token = secrets.token_urlsafe(32)
    session.add(Ticket(token_sha256=_token_hash(token), backup_id=backup_id, issued_to=issued_to,
                       expires_at=now + dt.timedelta(seconds=seconds)))
    session.flush()
    return token


def redeem_ticket(session: Session, *, token: str, backup_id: str, now: dt.datetime) -> bool:
    """Use a ticket once: True if it is for ``backup_id``, unexpired and unused."""
    if not isinstance(token, str) or not 10 <= len(token) <= 100:
        return False
    result = session.execute(update(Ticket).where(
        Ticket.token_sha256 == _token_hash(token), Ticket.backup_id == backup_id,
        Ticket.expires_at >= now, Ticket.used_at.is_(None)).values(used_at=now)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


# -- retention ------------------------------------------------------------------------

def good_backups(session: Session) -> list[tuple]:
    """``(id, started_at, targets)`` of the done, verified backups with a copy
    somewhere (a failed drill makes a backup not good)."""
    return [tuple(r) for r in session.execute(
        select(Backup.id, Backup.started_at, Backup.targets).where(
            Backup.status == domain.DONE, Backup.verified.is_(True), Backup.pruned_at.is_(None),
            or_(Backup.drill_ok.is_(None), Backup.drill_ok.is_(True))))]


def drop_target(session: Session, *, backup_id: str, target: str, now: dt.datetime) -> None:
    """``backup_id`` has no copy on ``target`` any more; with no copy left, it is pruned."""
    backup = session.get(Backup, backup_id)
    if backup is None:
        return
    left = [t for t in (backup.targets or []) if t != target]
    backup.targets = left
    if not left:
        backup.pruned_at = now


def manifests_on(session: Session, *, target: str) -> list[dict]:
    """The manifests of the backups that still have a copy on ``target``
    (and of every unfinished one: its chunks may be on their way)."""
    rows = session.execute(select(Backup.status, Backup.targets, Backup.manifest).where(
        Backup.pruned_at.is_(None), Backup.manifest.is_not(None)))
    return [manifest for status, targets, manifest in rows if target in (targets or []) or status == domain.RUNNING]
