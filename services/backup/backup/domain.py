"""The backup service's rules, pure Python (no I/O): who may use backups,
how the catalogue is shown and paged, when a scheduled backup is due and
what the worker does with an abandoned run."""
from __future__ import annotations

import base64
import datetime as dt
import json
import math
import re

from kernel.context import CallContext

from backup import errors

ADMIN_ROLE = "admin"

# Catalogue states. "running" is the API's word for both "waiting for a
# worker" and "being written"; the worker column tells them apart.
RUNNING = "running"
DONE = "done"
FAILED = "failed"
STATUSES = (RUNNING, DONE, FAILED)

MANUAL = "manual"
SCHEDULED = "scheduled"

DEFAULT_LIMIT = 100
MAX_LIMIT = 200

# Default data sources: every data-owning service with an Export stream.
DEFAULT_SOURCES = ("identity", "journal", "messaging", "reports")

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


# -- the caller --------------------------------------------------------------

def ensure_admin(who: CallContext) -> None:
    """Backups hold every school's data: only the administrator (R-D2, R-D5)."""
    if not who.has(ADMIN_ROLE):
        raise errors.Forbidden()


def check_id(value) -> str:
    """A backup id from the caller: a short string, else a validation error."""
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        raise errors.ValidationError(errors.text("field_type", field="id"), details={"field": "id"})
    return value


# -- listing -----------------------------------------------------------------

def parse_limit(limit) -> int:
    """Page size: ``None`` means the default; otherwise an int in 1..MAX_LIMIT."""
    if limit is None:
        return DEFAULT_LIMIT
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise errors.ValidationError(errors.text("limit_range", max=MAX_LIMIT), details={"field": "limit"})
    return limit


def encode_cursor(started_at: dt.datetime, backup_id: str) -> str:
    """An opaque cursor pointing just after the given catalogue row."""
    raw = json.dumps([as_utc(started_at).isoformat(), backup_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor) -> tuple[dt.datetime, str] | None:
    """``(started_at, id)`` of a cursor from :func:`encode_cursor`; None for no cursor."""
    if cursor is None or cursor == "":
        return None
    bad = errors.ValidationError(errors.text("cursor_invalid"), details={"field": "cursor"})
    if not isinstance(cursor, str) or len(cursor) > 200:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        when, backup_id = json.loads(raw)
        started = dt.datetime.fromisoformat(when)
    except (ValueError, TypeError):
        raise bad from None
    if not isinstance(backup_id, str) or started.tzinfo is None:
        raise bad
    return started, backup_id


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """Aware UTC (SQLite hands back naive datetimes that were stored as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def parse_time(value) -> dt.datetime | None:
    """An ISO instant (a manifest's ``created_at``) as aware UTC; None when absent or malformed."""
    if not isinstance(value, str):
        return None
    try:
        return as_utc(dt.datetime.fromisoformat(value))
    except ValueError:
        return None


def iso(value: dt.datetime | None) -> str | None:
    value = as_utc(value)
    return value.isoformat() if value is not None else None


def backup_view(row: dict) -> dict:
    """One catalogue row as the API shows it (API.md "Backups")."""
    view = {
        "id": row["id"],
        "started_at": iso(row.get("started_at")),
        "finished_at": iso(row.get("finished_at")),
        "status": row["status"],
        "size": row.get("size"),
        "targets": list(row.get("targets") or []),
        "verified": bool(row.get("verified")),
        "trigger": row.get("trigger"),
        "drilled_at": iso(row.get("drilled_at")),
        "drill_ok": row.get("drill_ok"),
        "failed_targets": list(row.get("failed_targets") or []),
        "retention": row.get("retention"),
        "expires_at": iso(row.get("expires_at")),
    }
    if row.get("status") == FAILED:
        view["error"] = row.get("error")
    return view


def requested_view(backup_id: str) -> dict:
    """The answer to a backup request (the API's 202 body)."""
    return {"id": backup_id, "status": RUNNING}


# -- schedule (R-D1) ---------------------------------------------------------

def parse_every_hours(value) -> float:
    """``EJOURNAL_BACKUP_EVERY_HOURS``: hours between scheduled backups, 0 = off."""
    if value is None or value == "":
        return 0.0
    try:
        hours = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"EJOURNAL_BACKUP_EVERY_HOURS must be a number of hours, got {value!r}") from None
    if hours < 0 or not math.isfinite(hours):
        raise ValueError("EJOURNAL_BACKUP_EVERY_HOURS must be 0 (off) or a positive number of hours")
    return hours


def scheduled_backup_due(*, now: dt.datetime, every_hours: float, running: bool,
                         last_attempt_at: dt.datetime | None, last_ok_at: dt.datetime | None,
                         retry_hours: float = 1.0) -> bool:
    """Whether the schedule should enqueue a backup now.

    Due when the newest good backup is ``every_hours`` old (or there is none).
    While one is running nothing more is queued, and after a failure the next
    try waits ``retry_hours`` (capped by the interval), so a broken source
    yields a failure per hour rather than a storm of them.
    """
    if every_hours <= 0 or running:
        return False
    interval = dt.timedelta(hours=every_hours)
    now = as_utc(now)
    if last_ok_at is not None and now - as_utc(last_ok_at) < interval:
        return False
    if last_attempt_at is not None:
        backoff = min(interval, dt.timedelta(hours=retry_hours))
        if now - as_utc(last_attempt_at) < backoff:
            return False
    return True


def due_targets(*, now: dt.datetime, targets, last_copies: dict) -> list[str]:
    """Names of the ``targets`` (``(name, every_hours)``) whose newest copy
    is ``every_hours`` old or that have none (0 hours: never scheduled)."""
    now = as_utc(now)
    due = []
    for name, every in targets:
        if every <= 0:
            continue
        last = last_copies.get(name)
        if last is None or now - as_utc(last) >= dt.timedelta(hours=every):
            due.append(name)
    return due


def schedule_due(*, now: dt.datetime, targets, last_copies: dict, running: bool,
                 last_attempt_at: dt.datetime | None, retry_hours: float = 1.0) -> list[str]:
    """The targets a scheduled backup should copy to now (empty: none is due).

    Each target has its own interval; a missed run (the machine was off) is
    simply due at the next look. While a backup runs nothing more is queued,
    and after an attempt the next waits ``retry_hours`` (capped by the
    shortest interval due), so a failing source or target is retried hourly
    rather than in a storm."""
    if running:
        return []
    due = due_targets(now=now, targets=targets, last_copies=last_copies)
    if not due:
        return []
    if last_attempt_at is not None:
        shortest = min(every for name, every in targets if name in due)
        backoff = min(dt.timedelta(hours=shortest), dt.timedelta(hours=retry_hours))
        if as_utc(now) - as_utc(last_attempt_at) < backoff:
            return []
    return due


def next_run(*, now: dt.datetime, every_hours: float, last_copy_at: dt.datetime | None) -> dt.datetime | None:
    """When the target's next scheduled copy is due (now, if overdue); None when off."""
    if every_hours <= 0:
        return None
    if last_copy_at is None:
        return as_utc(now)
    return max(as_utc(now), as_utc(last_copy_at) + dt.timedelta(hours=every_hours))


# -- retention (R-D3) -----------------------------------------------------------

YEAR_END = "year_end"
JOURNAL = "journal"
ROTATION = "rotation"


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def school_year_of(day: dt.date) -> int:
    """The school year (by its first calendar year) a date belongs to: September to August."""
    return day.year if day.month >= 9 else day.year - 1


def parse_keep(environ) -> dict:
    """The rotation and the classes' years from the settings."""
    def count(name, default):
        raw = environ.get(name)
        if raw in (None, ""):
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
        if value < 0:
            raise ValueError(f"{name} must not be negative")
        return value
    return {"daily": count("EJOURNAL_BACKUP_KEEP_DAILY", 7), "weekly": count("EJOURNAL_BACKUP_KEEP_WEEKLY", 8),
            "monthly": count("EJOURNAL_BACKUP_KEEP_MONTHLY", 24),
            "journal_years": count("EJOURNAL_BACKUP_KEEP_JOURNAL_YEARS", 5),
            "year_end_years": count("EJOURNAL_BACKUP_KEEP_YEAR_END_YEARS", 25)}


DEFAULT_KEEP = {"daily": 7, "weekly": 8, "monthly": 24, "journal_years": 5, "year_end_years": 25}


def retention(backups, *, now: dt.datetime, keep: dict | None = None) -> dict:
    """Why each good backup is kept and until when: ``{id: {"class", "expires_at"}}``
    (class None: nothing keeps it any more, it may be pruned).

    ``backups``: ``(id, started_at)`` of the done, verified backups. Kept:
    - ``year_end``: the newest backup of each finished school year (it holds
      that year's journals, summary sheets and the reports' year-end data),
      ``year_end_years`` (25) after the year ended (R-D3, summary sheets);
    - ``journal``: the newest backup of each month, ``journal_years`` (5)
      after that month (R-D3, journals);
    - ``rotation``: the newest of each of the last ``daily`` (7) calendar
      days, ``weekly`` (8) ISO weeks and ``monthly`` (24) months, until the
      window passes it by.
    The strongest reason gives the class, the latest expiry the date."""
    keep = {**DEFAULT_KEEP, **(keep or {})}
    now = as_utc(now)
    rows = sorted(((b, as_utc(t)) for b, t in backups), key=lambda r: r[1], reverse=True)
    reasons: dict = {b: [] for b, _ in rows}

    def newest_per(bucket_of):
        seen = {}
        for b, t in rows:
            seen.setdefault(bucket_of(t), b)
        return seen  # bucket -> newest backup id, buckets newest first

    utc = dt.timezone.utc
    for bucket, b in newest_per(lambda t: school_year_of(t.date())).items():
        ends = dt.datetime(bucket + 1, 9, 1, tzinfo=utc)
        expires = ends.replace(year=ends.year + keep["year_end_years"])
        if ends <= now < expires:
            reasons[b].append((YEAR_END, expires))
    for (year, month), b in newest_per(lambda t: (t.year, t.month)).items():
        y, m = _add_months(year, month, 1 + 12 * keep["journal_years"])
        expires = dt.datetime(y, m, 1, tzinfo=utc)
        if expires > now:
            reasons[b].append((JOURNAL, expires))
    windows = (
        (lambda t: t.date(), keep["daily"],
         lambda d, n: dt.datetime.combine(d + dt.timedelta(days=n), dt.time(), utc)),
        (lambda t: tuple(t.isocalendar())[:2], keep["weekly"],
         lambda w, n: dt.datetime.combine(dt.date.fromisocalendar(w[0], w[1], 1) + dt.timedelta(weeks=n), dt.time(), utc)),
        (lambda t: (t.year, t.month), keep["monthly"],
         lambda ym, n: dt.datetime(*_add_months(ym[0], ym[1], n), 1, tzinfo=utc)),
    )
    for bucket_of, count, until in windows:
        for bucket, b in newest_per(bucket_of).items():
            expires = until(bucket, count)
            if expires > now:
                reasons[b].append((ROTATION, expires))
    order = {YEAR_END: 0, JOURNAL: 1, ROTATION: 2}
    result = {}
    for b, why in reasons.items():
        if not why:
            result[b] = {"class": None, "expires_at": None}
            continue
        result[b] = {"class": min(why, key=lambda r: order[r[0]])[0], "expires_at": max(e for _, e in why)}
    return result


def prunable(backups, *, now: dt.datetime, keep: dict | None = None) -> list[str]:
    """Ids that no retention reason keeps, never the newest one given.
    ``backups``: ``(id, started_at)`` of the good backups on one target."""
    if not backups:
        return []
    kept = retention(backups, now=now, keep=keep)
    newest = max(backups, key=lambda r: as_utc(r[1]))[0]
    return [b for b, _ in backups if kept[b]["class"] is None and b != newest]


# -- the worker --------------------------------------------------------------

def parse_sources(text: str | None) -> list[str]:
    """``EJOURNAL_BACKUP_SOURCES`` (comma-separated service names) or the default."""
    if text is None or not text.strip():
        return list(DEFAULT_SOURCES)
    names = []
    for part in text.split(","):
        name = part.strip()
        if not name:
            continue
        if not _NAME.match(name):
            raise ValueError(f"bad backup source name {name!r}")
        if name not in names:
            names.append(name)
    return names


def stale_before(now: dt.datetime, lease_seconds: float) -> dt.datetime:
    """Claims whose last heartbeat is older than this belong to a dead worker."""
    return as_utc(now) - dt.timedelta(seconds=lease_seconds)


def heartbeat_due(last: float | None, now: float, every_seconds: float) -> bool:
    return last is None or now - last >= every_seconds
