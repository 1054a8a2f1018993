"""What every aggregate's rules share: the caller (``CallContext`` from the call
context), the primitive validators of request values, the roles, the open
year and the school's date. Plain values in, plain values (or an error of
:mod:`journal.errors`) out."""
from __future__ import annotations

import datetime as dt
import re
from typing import Iterable

from kernel.context import CallContext

from journal import errors


MIN_GRADE, MAX_GRADE = 1, 11
ADMIN = "admin"
DEPUTY = "deputy"
STUDENT = "student"
TEACHING_ROLES = frozenset({"teacher", "class_teacher"})
SCHEDULER = "scheduler"
ADMINISTRATION = ("admin", "director", "deputy")
# who reads the school's structure (movement history): staff, not families
STRUCTURE_READERS = ADMINISTRATION + ("secretary", "class_teacher", "teacher")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _invalid(field: str, message: str) -> errors.ValidationError:
    return errors.ValidationError(message, details={"field": field})


def require_mapping(value, field: str) -> dict:
    """``value`` must be a JSON object."""
    if not isinstance(value, dict):
        raise _invalid(field, errors.text("field_not_object", field=field))
    return value


def parse_date(value, field: str, *, required: bool = True) -> dt.date | None:
    """A strict ``YYYY-MM-DD`` date (API.md conventions)."""
    if value is None or value == "":
        if required:
            raise _invalid(field, errors.text("date_required", field=field))
        return None
    if not isinstance(value, str) or not _DATE_RE.match(value):
        raise _invalid(field, errors.text("date_format", field=field))
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _invalid(field, errors.text("date_invalid", field=field)) from None


def text(value, field: str, *, required: bool = True, max_len: int = 200) -> str | None:
    """A trimmed string; blank counts as absent."""
    if value is None:
        cleaned = ""
    elif isinstance(value, str):
        cleaned = value.strip()
    else:
        raise _invalid(field, errors.text("field_not_string", field=field))
    if not cleaned:
        if required:
            raise _invalid(field, errors.text("field_required", field=field))
        return None
    if len(cleaned) > max_len:
        raise _invalid(field, errors.text("field_too_long", field=field, max_len=max_len))
    return cleaned


def ident(value, field: str, *, required: bool = True) -> str | None:
    """An opaque id: a non-empty string without spaces."""
    if value is None or value == "":
        if required:
            raise _invalid(field, errors.text("id_required", field=field))
        return None
    if not isinstance(value, str) or len(value) > 64 or _HAS_SPACE.search(value):
        raise _invalid(field, errors.text("id_invalid", field=field))
    return value


# \s matches exactly what str.isspace() calls a space: one regex search,
# not a generator over every character (ids are the most validated field).
_HAS_SPACE = re.compile(r"\s")


def integer(value, field: str, *, low: int, high: int, default: int | None = None) -> int:
    """An integer in ``low..high`` (booleans are not integers here)."""
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(field, errors.text("field_not_integer", field=field))
    if not low <= value <= high:
        raise _invalid(field, errors.text("field_out_of_range", field=field, low=low, high=high))
    return value


def require_roles(actor: CallContext, *roles: str) -> None:
    """Administrative writes: one of ``roles`` (403 FORBIDDEN)."""
    if not actor.has(*roles):
        raise errors.NotAllowed(details={"required": list(roles)})


def require_role(roles: Iterable[str], allowed: Iterable[str], *, field: str) -> None:
    """The person named by ``field`` must hold one of ``allowed`` (422 ROLE_MISMATCH)."""
    allowed = frozenset(allowed)
    if not allowed.intersection(roles or ()):
        raise errors.RoleMismatch(
            errors.text("role_missing", roles=", ".join(sorted(allowed))),
            details={"field": field, "required": sorted(allowed)})


def is_class_teacher(actor: CallContext, class_teacher_id: str | None) -> bool:
    """The actor is the class teacher of the class whose ``class_teacher_id`` this is."""
    return class_teacher_id is not None and class_teacher_id == actor.actor_id


def check_year_open(archived: bool) -> None:
    """Nothing is written into an archived year (R-S4)."""
    if archived:
        raise errors.YearClosed()


def check_date_in_year(day: dt.date, starts_on: dt.date, ends_on: dt.date, field: str) -> None:
    """An admission is ordered before or during the year, never after it ends."""
    if day > ends_on:
        raise errors.DateOutsideYear(details={"field": field, "ends_on": ends_on.isoformat()})


def school_today(now: dt.datetime, tz: dt.tzinfo) -> dt.date:
    """The school's local date at the instant ``now`` (aware)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(tz).date()


def hours_value(hours) -> int | float:
    """Whole hours as an int, half hours as a float (JSON-friendly)."""
    hours = float(hours)
    return int(hours) if hours.is_integer() else hours

