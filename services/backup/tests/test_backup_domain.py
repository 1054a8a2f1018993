"""Unit tests of backup.domain: every rule with plain values."""
from __future__ import annotations

import datetime as dt

import pytest

from kernel.context import CallContext
from kernel.errors import InvalidContext

from backup import domain, errors

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 10, 12, 8, 0, tzinfo=UTC)


def hours(n):
    return dt.timedelta(hours=n)


# -- the caller -----------------------------------------------------------------

def who(*roles):
    return CallContext.from_rpc({"actor_id": "a", "school_id": "s", "roles": list(roles), "correlation_id": "c"})


@pytest.mark.parametrize("ctx", [None, "admin", [], {"roles": "admin"}, {"roles": [1]},
                                 {"roles": ["admin"], "school_id": 5}, {"roles": ["admin"], "actor_id": ["x"]}])
def test_malformed_ctx_is_401_invalid_token(ctx):
    with pytest.raises(InvalidContext) as info:
        CallContext.from_rpc(ctx)
    assert info.value.kind == "unauthenticated" and info.value.code == "INVALID_TOKEN"


def test_r_d5_only_admin_may_use_backups():
    domain.ensure_admin(who("teacher", "admin"))
    for roles in ([], ["director"], ["deputy", "teacher"], ["parent"]):
        with pytest.raises(errors.Forbidden) as info:
            domain.ensure_admin(who(*roles))
        assert info.value.code == "FORBIDDEN" and info.value.kind == "forbidden"
        assert "администратор" in info.value.message


# -- listing -----------------------------------------------------------------------

def test_parse_limit_defaults_and_bounds():
    assert domain.parse_limit(None) == domain.DEFAULT_LIMIT
    assert domain.parse_limit(1) == 1 and domain.parse_limit(domain.MAX_LIMIT) == domain.MAX_LIMIT
    for bad in (0, -1, domain.MAX_LIMIT + 1, "10", 2.5, True):
        with pytest.raises(errors.ValidationError):
            domain.parse_limit(bad)


def test_cursor_round_trip_and_garbage_is_rejected():
    when = dt.datetime(2026, 9, 1, 10, 30, 15, 123456, tzinfo=UTC)
    cursor = domain.encode_cursor(when, "id-1")
    assert domain.decode_cursor(cursor) == (when, "id-1")
    assert domain.decode_cursor(None) is None and domain.decode_cursor("") is None
    for bad in ("!!!", "eyJ4IjoxfQ", 5, "x" * 300, domain.encode_cursor(when, "id")[:-3]):
        with pytest.raises(errors.ValidationError):
            domain.decode_cursor(bad)


def test_backup_view_has_the_api_fields_in_utc():
    row = {"id": "b", "started_at": dt.datetime(2026, 9, 1, 10, 0), "finished_at": None, "status": "running",
           "size": None, "targets": [], "verified": False, "trigger": "manual", "error": None}
    view = domain.backup_view(row)
    assert view == {"id": "b", "started_at": "2026-09-01T10:00:00+00:00", "finished_at": None,
                    "status": "running", "size": None, "targets": [], "verified": False, "trigger": "manual",
                    "drilled_at": None, "drill_ok": None, "failed_targets": [], "retention": None,
                    "expires_at": None}
    failed = domain.backup_view({**row, "status": "failed", "error": "Не удалось"})
    assert failed["error"] == "Не удалось"


def test_requested_view_is_the_202_body():
    assert domain.requested_view("x") == {"id": "x", "status": "running"}


# -- schedule (R-D1) ------------------------------------------------------------------

def test_parse_every_hours():
    assert domain.parse_every_hours(None) == 0 and domain.parse_every_hours("") == 0
    assert domain.parse_every_hours("336") == 336.0 and domain.parse_every_hours(0.5) == 0.5
    for bad in ("-1", "often", "nan", "inf"):
        with pytest.raises(ValueError):
            domain.parse_every_hours(bad)


def due(**kw):
    args = {"now": NOW, "every_hours": 24.0, "running": False, "last_attempt_at": None, "last_ok_at": None}
    args.update(kw)
    return domain.scheduled_backup_due(**args)


def test_r_d1_schedule_off_when_zero_hours():
    assert not due(every_hours=0)


def test_r_d1_first_backup_is_due_at_once():
    assert due()


def test_r_d1_due_when_the_last_good_backup_is_older_than_the_interval():
    assert not due(last_ok_at=NOW - hours(23), last_attempt_at=NOW - hours(23))
    assert due(last_ok_at=NOW - hours(24), last_attempt_at=NOW - hours(24))


def test_r_d1_nothing_queued_while_one_runs():
    assert not due(running=True, last_ok_at=NOW - hours(100))


def test_r_d1_failed_backups_are_retried_hourly_not_in_a_storm():
    # Last good backup is overdue but the last attempt (a failure) was 10 minutes ago.
    assert not due(last_ok_at=NOW - hours(48), last_attempt_at=NOW - dt.timedelta(minutes=10))
    assert due(last_ok_at=NOW - hours(48), last_attempt_at=NOW - hours(1))
    # With an interval shorter than the back-off, the interval wins.
    assert due(every_hours=0.25, last_attempt_at=NOW - dt.timedelta(minutes=15))


def test_r_d1_naive_times_from_sqlite_are_treated_as_utc():
    naive = (NOW - hours(2)).replace(tzinfo=None)
    assert not due(last_ok_at=naive, last_attempt_at=naive)


# -- the worker ----------------------------------------------------------------------

def test_parse_sources_default_dedup_and_validation():
    assert domain.parse_sources(None) == ["identity", "journal", "messaging", "reports"]
    assert domain.parse_sources(" journal, identity ,journal,") == ["journal", "identity"]
    for bad in ("Journal", "../etc", "a b"):
        with pytest.raises(ValueError):
            domain.parse_sources(bad)


def test_stale_before_is_now_minus_the_lease():
    assert domain.stale_before(NOW, 600) == NOW - dt.timedelta(minutes=10)


def test_heartbeat_due():
    assert domain.heartbeat_due(None, 5.0, 10.0)
    assert not domain.heartbeat_due(0.0, 9.9, 10.0) and domain.heartbeat_due(0.0, 10.0, 10.0)


def test_r_d3_retention_classes_and_rotation():
    now = dt.datetime(2026, 12, 7, 12, tzinfo=UTC)
    day = dt.timedelta(days=1)
    backups = [(f"d{i}", now - i * day) for i in range(10)]                  # the last ten days
    backups += [("y2024", dt.datetime(2025, 8, 20, tzinfo=UTC)),             # newest of school year 2024/25
                ("y2024-older", dt.datetime(2025, 8, 18, tzinfo=UTC)),       # same week, older: nothing keeps it
                ("m2022", dt.datetime(2022, 3, 15, tzinfo=UTC)),             # newest of 2021/22 (finished): year end
                ("y1998", dt.datetime(1999, 5, 1, tzinfo=UTC))]              # its 25 years are over
    kept = domain.retention(backups, now=now)
    assert kept["y2024"]["class"] == "year_end"
    assert kept["y2024"]["expires_at"] == dt.datetime(2050, 9, 1, tzinfo=UTC)
    assert kept["m2022"]["class"] == "year_end"
    assert kept["y2024-older"]["class"] is None and kept["y1998"]["class"] is None
    # this month's newest is the month's journal archive (5 years), the other days rotate
    assert kept["d0"]["class"] == "journal" and kept["d0"]["expires_at"] == dt.datetime(2032, 1, 1, tzinfo=UTC)
    assert {kept[f"d{i}"]["class"] for i in range(1, 7)} == {"rotation"}
    assert kept["d9"]["class"] in ("rotation", None)  # only if it is its week's newest
    assert domain.prunable(backups, now=now) == [b for b in ("d7", "d8", "d9", "y2024-older", "y1998")
                                                 if kept[b]["class"] is None]
    # the newest good backup of a target is never pruned, however old
    assert domain.prunable([("only", dt.datetime(1990, 1, 1, tzinfo=UTC))], now=now) == []
    assert domain.prunable([], now=now) == []


def test_retention_settings():
    assert domain.parse_keep({}) == domain.DEFAULT_KEEP
    assert domain.parse_keep({"EJOURNAL_BACKUP_KEEP_DAILY": "3"})["daily"] == 3
    for bad in ("x", "-1"):
        with pytest.raises(ValueError):
            domain.parse_keep({"EJOURNAL_BACKUP_KEEP_WEEKLY": bad})
