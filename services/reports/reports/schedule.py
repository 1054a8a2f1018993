"""When the service produces a report by itself: the journal-keeping
monitoring (R-R7) of a month, on the first school day of the next month
(the school's order: the deputy director checks the journal monthly), for
the deputy directors' and directors' internal inboxes.

A school day: Monday to Friday within one of the school's years (the
projections know no holidays; a school that starts a month on a holiday
gets the report that day all the same). Pure functions of plain values."""
from __future__ import annotations

import datetime as dt

KIND = "journal-monitoring"
RECIPIENT_ROLES = ("deputy", "director")


def in_year(day: dt.date, years: list[dict]) -> bool:
    return any(y["starts_on"] <= day <= y["ends_on"] for y in years)


def first_school_day(first_of_month: dt.date, years: list[dict]) -> dt.date | None:
    """The first weekday of the month within a school year; None if none."""
    day = first_of_month
    while day.month == first_of_month.month:
        if day.weekday() < 5 and in_year(day, years):
            return day
        day += dt.timedelta(days=1)
    return None


def previous_month(day: dt.date) -> str:
    last = day.replace(day=1) - dt.timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


def due_month(today: dt.date, years: list[dict]) -> str | None:
    """The month whose report is due ``today`` or was due earlier this month
    (a tick missed on the day itself catches up): the previous month, when
    it had school days, from the first school day of this month on (the
    first weekday when this month has none: the month after the year's last)."""
    month = previous_month(today)
    if first_school_day(dt.date.fromisoformat(month + "-01"), years) is None:
        return None
    first = first_school_day(today.replace(day=1), years) or first_school_day(today.replace(day=1), ALWAYS)
    return month if today >= first else None


# every day is in this "year": the first weekday of any month
ALWAYS = [{"starts_on": dt.date.min, "ends_on": dt.date.max}]
