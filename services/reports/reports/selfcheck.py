"""The self-check: the marks projection against the journal's own counts
per class and period (the journal's ``mark_counts`` RPC). A difference that
lasts longer than events take to arrive means a lost or dead-lettered event
or a damaged database: ``python -m reports.rebuild`` recovers it. The last
result is the ``reports_selfcheck_differences`` gauge and part of
``health()`` (the gateway's ``/readyz`` detail)."""
from __future__ import annotations

import datetime as dt

from prometheus_client import Gauge

DIFFERENCES = Gauge("reports_selfcheck_differences",
                    "Classes and periods whose marks in reports differ from the journal's count (last check)")
CHECKED = Gauge("reports_selfcheck_checked_timestamp_seconds", "When the last self-check ran (Unix time)")
SHOWN = 20  # differences listed in the detail

_last: dict | None = None


def compare(journal_counts, own_counts) -> dict:
    """``{compared, differences, items}``: every (school, class, period) whose
    counts differ, the journal's and the projection's, first :data:`SHOWN`."""
    theirs = {tuple(r[:3]): int(r[3]) for r in journal_counts}
    ours = {tuple(r[:3]): int(r[3]) for r in own_counts}
    keys = sorted(set(theirs) | set(ours))
    diffs = [{"school_id": k[0], "class_id": k[1], "period_id": k[2], "journal": theirs.get(k, 0),
              "reports": ours.get(k, 0)} for k in keys if theirs.get(k, 0) != ours.get(k, 0)]
    return {"compared": len(keys), "differences": len(diffs), "items": diffs[:SHOWN]}


def record(result: dict, at: dt.datetime) -> dict:
    """Keep ``result`` as the last check and publish it as metrics."""
    global _last
    _last = {**result, "checked_at": at.isoformat()}
    DIFFERENCES.set(result["differences"])
    CHECKED.set(at.timestamp())
    return _last


def last() -> dict | None:
    """The last check (None before the first)."""
    return _last
