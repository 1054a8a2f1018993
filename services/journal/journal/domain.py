"""The journal's rules, pure Python: no database, no broker, no clock.

Every function takes plain values (the caller supplies "today" and the
settings), returns plain values or raises an error from :mod:`journal.errors`.
Requirement ids (REQUIREMENTS.md) are cited where a rule comes from.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from kernel import limits

from journal import errors
from kernel import access_rules

# --- constants ---------------------------------------------------------------

MARK_KINDS = ("oral", "test", "control", "homework", "lab", "practical", "written")
DEFAULT_MARK_KIND = "oral"
DEFAULT_WEIGHT = 1
MIN_WEIGHT, MAX_WEIGHT = 1, 5
MAX_MARK = 5
PERIOD_KINDS = ("quarter", "trimester", "half_year")
MIN_GRADE, MAX_GRADE = 1, 11
ENTRY_GRACE_DAYS = access_rules.ENTRY_GRACE_DAYS  # R-J5: filled on the day, or within 3 days
MAX_DIARY_DAYS = 92            # one quarter: bounds the cost of one diary read
MAX_MARKS_PER_REQUEST = limits.MARKS_PER_REQUEST
MAX_YEAR_DAYS = 366

ADMIN = "admin"
DEPUTY = "deputy"
STUDENT = "student"
TEACHING_ROLES = frozenset({"teacher", "class_teacher"})

GENESIS_HASH = "0" * 64        # prev_hash of a mark's first version

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# "осв", "осв.", "освобождён(а)" as a whole word; "освоил тему" is a real comment.
_EXEMPT_RE = re.compile(r"^осв(?:\.|обожд[а-яё]*\.?)?(?=$|[\s.,;:!?()])")


# --- the caller --------------------------------------------------------------

@dataclass(frozen=True)
class Actor:
    """Who calls, from the gateway's ``ctx`` (docs/contracts.md "The call context")."""
    actor_id: str
    school_id: str
    roles: frozenset
    correlation_id: str | None = None

    def has(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)


def actor_from_ctx(ctx) -> Actor:
    """Decode ``ctx``; a call without an actor or a school is refused (401)."""
    if not isinstance(ctx, dict):
        raise errors.InvalidContext(details={"field": "ctx"})
    actor_id, school_id, roles = ctx.get("actor_id"), ctx.get("school_id"), ctx.get("roles", [])
    if not isinstance(actor_id, str) or not actor_id.strip():
        raise errors.InvalidContext(details={"field": "ctx.actor_id"})
    if not isinstance(school_id, str) or not school_id.strip():
        raise errors.InvalidContext(details={"field": "ctx.school_id"})
    if not isinstance(roles, (list, tuple)) or not all(isinstance(r, str) for r in roles):
        raise errors.InvalidContext(details={"field": "ctx.roles"})
    cid = ctx.get("correlation_id")
    return Actor(actor_id, school_id, frozenset(roles), cid if isinstance(cid, str) else None)


# --- primitive validators ----------------------------------------------------

def _invalid(field: str, message: str) -> errors.ValidationError:
    return errors.ValidationError(message, details={"field": field})


def require_mapping(value, field: str) -> dict:
    """``value`` must be a JSON object."""
    if not isinstance(value, dict):
        raise _invalid(field, f"Поле «{field}» должно быть объектом")
    return value


def parse_date(value, field: str, *, required: bool = True) -> dt.date | None:
    """A strict ``YYYY-MM-DD`` date (API.md conventions)."""
    if value is None or value == "":
        if required:
            raise _invalid(field, f"Не указана дата «{field}»")
        return None
    if not isinstance(value, str) or not _DATE_RE.match(value):
        raise _invalid(field, f"Дата «{field}» должна быть в формате ГГГГ-ММ-ДД")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _invalid(field, f"Дата «{field}» не существует") from None


def text(value, field: str, *, required: bool = True, max_len: int = 200) -> str | None:
    """A trimmed string; blank counts as absent."""
    if value is None:
        cleaned = ""
    elif isinstance(value, str):
        cleaned = value.strip()
    else:
        raise _invalid(field, f"Поле «{field}» должно быть строкой")
    if not cleaned:
        if required:
            raise _invalid(field, f"Не заполнено поле «{field}»")
        return None
    if len(cleaned) > max_len:
        raise _invalid(field, f"Поле «{field}» длиннее {max_len} символов")
    return cleaned


def ident(value, field: str, *, required: bool = True) -> str | None:
    """An opaque id: a non-empty string without spaces."""
    if value is None or value == "":
        if required:
            raise _invalid(field, f"Не указан идентификатор «{field}»")
        return None
    if not isinstance(value, str) or len(value) > 64 or _HAS_SPACE.search(value):
        raise _invalid(field, f"Некорректный идентификатор «{field}»")
    return value


# \s matches exactly what str.isspace() calls a space: one regex search,
# not a generator over every character (ids are the most validated field).
_HAS_SPACE = re.compile(r"\s")


def integer(value, field: str, *, low: int, high: int, default: int | None = None) -> int:
    """An integer in ``low..high`` (booleans are not integers here)."""
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(field, f"Поле «{field}» должно быть целым числом")
    if not low <= value <= high:
        raise _invalid(field, f"Поле «{field}» должно быть от {low} до {high}")
    return value


# --- years and periods (R-S1) ------------------------------------------------

@dataclass(frozen=True)
class PeriodSpec:
    name: str
    kind: str
    starts_on: dt.date
    ends_on: dt.date


@dataclass(frozen=True)
class YearSpec:
    name: str
    starts_on: dt.date
    ends_on: dt.date
    periods: tuple


def validate_year(data) -> YearSpec:
    """Decode ``open_year`` data and check its periods (R-S1)."""
    data = require_mapping(data, "data")
    name = text(data.get("name"), "name", max_len=40)
    starts_on = parse_date(data.get("starts_on"), "starts_on")
    ends_on = parse_date(data.get("ends_on"), "ends_on")
    if ends_on <= starts_on:
        raise _invalid("ends_on", "Учебный год должен заканчиваться позже, чем начинается")
    if (ends_on - starts_on).days >= MAX_YEAR_DAYS:
        raise _invalid("ends_on", "Учебный год не может длиться дольше календарного года")
    raw = data.get("periods")
    if not isinstance(raw, list) or not raw:
        raise _invalid("periods", "Укажите учебные периоды (четверти, триместры или полугодия)")
    periods = []
    for i, item in enumerate(raw):
        item = require_mapping(item, f"periods[{i}]")
        kind = item.get("kind")
        if kind not in PERIOD_KINDS:
            raise _invalid(f"periods[{i}].kind", "Вид периода: quarter, trimester или half_year")
        periods.append(PeriodSpec(
            name=text(item.get("name"), f"periods[{i}].name", max_len=60), kind=kind,
            starts_on=parse_date(item.get("starts_on"), f"periods[{i}].starts_on"),
            ends_on=parse_date(item.get("ends_on"), f"periods[{i}].ends_on"),
        ))
    check_periods(starts_on, ends_on, periods)
    return YearSpec(name, starts_on, ends_on, tuple(periods))


def check_periods(starts_on: dt.date, ends_on: dt.date, periods: Sequence[PeriodSpec]) -> None:
    """Periods lie inside the year, each starts before it ends, none overlap
    and names are unique (422 INVALID_PERIODS)."""
    names = set()
    for i, p in enumerate(periods):
        if p.ends_on < p.starts_on:
            raise errors.InvalidPeriods("Период заканчивается раньше, чем начинается",
                                        details={"index": i, "name": p.name})
        if p.starts_on < starts_on or p.ends_on > ends_on:
            raise errors.InvalidPeriods("Период выходит за границы учебного года",
                                        details={"index": i, "name": p.name})
        if p.name.lower() in names:
            raise errors.InvalidPeriods("Названия периодов повторяются", details={"index": i, "name": p.name})
        names.add(p.name.lower())
    ordered = sorted(enumerate(periods), key=lambda ip: ip[1].starts_on)
    for (_, prev), (i, cur) in zip(ordered, ordered[1:]):
        if cur.starts_on <= prev.ends_on:
            raise errors.InvalidPeriods("Периоды пересекаются",
                                        details={"index": i, "name": cur.name, "overlaps": prev.name})


def check_year_open(archived: bool) -> None:
    """Nothing is written into an archived year (R-S4)."""
    if archived:
        raise errors.YearClosed()


def check_lesson_date(day: dt.date, periods: Iterable[tuple]) -> None:
    """A lesson date lies inside one of the year's periods ``(starts_on, ends_on)``."""
    if not any(start <= day <= end for start, end in periods):
        raise errors.LessonOutsidePeriod(details={"date": day.isoformat()})


def check_date_in_year(day: dt.date, starts_on: dt.date, ends_on: dt.date, field: str) -> None:
    """An admission is ordered before or during the year, never after it ends."""
    if day > ends_on:
        raise errors.DateOutsideYear(details={"field": field, "ends_on": ends_on.isoformat()})


# --- subjects and classes ----------------------------------------------------

def validate_subject(data) -> str:
    """The subject's name (unique per school, checked by the store)."""
    data = require_mapping(data, "data")
    return " ".join(text(data.get("name"), "name", max_len=100).split())


@dataclass(frozen=True)
class ClassSpec:
    year_id: str
    grade: int
    letter: str
    class_teacher_id: str

    @property
    def name(self) -> str:
        return class_name(self.grade, self.letter)


def class_name(grade: int, letter: str) -> str:
    """"5" + "А" -> "5А"."""
    return f"{grade}{letter}"


def validate_class(data) -> ClassSpec:
    """Decode ``create_class`` data: grade 1..11, a letter, a class teacher."""
    data = require_mapping(data, "data")
    letter = text(data.get("letter"), "letter", max_len=3)
    if not letter.isalpha():
        raise _invalid("letter", "Литера класса должна состоять из букв")
    return ClassSpec(
        year_id=ident(data.get("year_id"), "year_id"),
        grade=integer(data.get("grade"), "grade", low=MIN_GRADE, high=MAX_GRADE),
        letter=letter.upper(),
        class_teacher_id=ident(data.get("class_teacher_id"), "class_teacher_id"),
    )


def require_role(roles: Iterable[str], allowed: Iterable[str], *, field: str) -> None:
    """The person named by ``field`` must hold one of ``allowed`` (422 ROLE_MISMATCH)."""
    allowed = frozenset(allowed)
    if not allowed.intersection(roles or ()):
        raise errors.RoleMismatch(
            "У пользователя нет роли: " + ", ".join(sorted(allowed)),
            details={"field": field, "required": sorted(allowed)})


# --- enrolment (R-S2, R-S3) --------------------------------------------------

@dataclass(frozen=True)
class EnrolmentSpec:
    student_id: str
    order_no: str
    on: dt.date


def validate_enrolment(data) -> EnrolmentSpec:
    """Decode ``enroll_student`` data: the student, the order's number and date."""
    data = require_mapping(data, "data")
    return EnrolmentSpec(
        student_id=ident(data.get("student_id"), "student_id"),
        order_no=text(data.get("order_no"), "order_no", max_len=64),
        on=parse_date(data.get("on"), "on"),
    )


def enrolled_on(day: dt.date, enrolled_from: dt.date, left_on: dt.date | None) -> bool:
    """Whether an enrolment covers ``day``; ``left_on`` is the first day out."""
    return enrolled_from <= day and (left_on is None or day < left_on)


# --- assignments -------------------------------------------------------------

@dataclass(frozen=True)
class AssignmentSpec:
    teacher_id: str
    class_id: str
    subject_id: str
    hours_per_week: float
    subgroup_id: str | None


def validate_assignment(data) -> AssignmentSpec:
    """Decode ``assign_teacher`` data; hours may be fractional (0.5 a week)."""
    data = require_mapping(data, "data")
    hours = data.get("hours_per_week")
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not 0 < hours <= 40:
        raise _invalid("hours_per_week", "Часов в неделю: число больше 0 и не больше 40")
    if round(hours * 2) != hours * 2:
        raise _invalid("hours_per_week", "Часов в неделю: целое число или половина часа")
    return AssignmentSpec(
        teacher_id=ident(data.get("teacher_id"), "teacher_id"),
        class_id=ident(data.get("class_id"), "class_id"),
        subject_id=ident(data.get("subject_id"), "subject_id"),
        hours_per_week=hours_value(hours),
        subgroup_id=ident(data.get("subgroup_id"), "subgroup_id", required=False),
    )


def hours_value(hours) -> int | float:
    """Whole hours as an int, half hours as a float (JSON-friendly)."""
    hours = float(hours)
    return int(hours) if hours.is_integer() else hours


# --- who may do what (R-A3) --------------------------------------------------

def require_roles(actor: Actor, *roles: str) -> None:
    """Administrative writes: one of ``roles`` (403 FORBIDDEN)."""
    if not actor.has(*roles):
        raise errors.NotAllowed(details={"required": list(roles)})


def may_enrol(actor: Actor, class_teacher_id: str | None) -> bool:
    """Admin or the class's own class teacher (R-S2):
    :func:`kernel.access_rules.enrols`."""
    return access_rules.enrols(actor.roles, class_teacher=is_class_teacher(actor, class_teacher_id)) is None


def require_journal_access(actor: Actor, *, class_teacher_id: str | None, assigned_subgroups: Iterable[str | None],
                           subgroup_id: str | None, lesson_teacher_id: str | None = None,
                           replaced_subgroups: Iterable[str | None] | None = None) -> None:
    """Lessons, marks, attendance (R-A3, R-S5, R-J6): the rule is
    :func:`kernel.access_rules.keeps_journal`, the one identity's central
    decision applies too; 403 NOT_ASSIGNED when it refuses.
    ``assigned_subgroups``: the subgroup of each of the actor's assignments
    for the class and subject (None = the whole class);
    ``lesson_teacher_id``: who gave the lesson written to;
    ``replaced_subgroups``: for a new lesson naming ``substitute_for``, the
    replaced teacher's assignments there."""
    refusal = access_rules.keeps_journal(
        actor.roles, class_teacher=is_class_teacher(actor, class_teacher_id), assigned=assigned_subgroups,
        subgroup_id=subgroup_id, gave_lesson=lesson_teacher_id is not None and lesson_teacher_id == actor.actor_id,
        replaced=replaced_subgroups)
    if refusal is not None:
        raise errors.NotAssigned()


def is_class_teacher(actor: Actor, class_teacher_id: str | None) -> bool:
    """The actor is the class teacher of the class whose ``class_teacher_id`` this is."""
    return class_teacher_id is not None and class_teacher_id == actor.actor_id


# --- lessons (R-J1, R-J4, R-J5, R-J6) ----------------------------------------

@dataclass(frozen=True)
class LessonSpec:
    class_id: str
    subject_id: str
    date: dt.date
    topic: str
    lesson_type: str
    work_type: str | None
    homework: str | None
    subgroup_id: str | None
    substitute_for: str | None


def validate_lesson(data, *, actor_id: str) -> LessonSpec:
    """Decode ``record_lesson`` data; the topic is required (R-J1)."""
    data = require_mapping(data, "data")
    spec = LessonSpec(
        class_id=ident(data.get("class_id"), "class_id"),
        subject_id=ident(data.get("subject_id"), "subject_id"),
        date=parse_date(data.get("date"), "date"),
        topic=text(data.get("topic"), "topic", max_len=limits.LESSON_TOPIC),
        lesson_type=text(data.get("lesson_type"), "lesson_type", max_len=limits.LESSON_TYPE),
        work_type=text(data.get("work_type"), "work_type", required=False, max_len=limits.LESSON_WORK_TYPE),
        homework=text(data.get("homework"), "homework", required=False, max_len=limits.LESSON_HOMEWORK),
        subgroup_id=ident(data.get("subgroup_id"), "subgroup_id", required=False),
        substitute_for=ident(data.get("substitute_for"), "substitute_for", required=False),
    )
    if spec.substitute_for is not None and spec.substitute_for == actor_id:
        raise _invalid("substitute_for", "Нельзя заменять самого себя")
    return spec


def check_substitute(assigned_subgroups: Iterable[str | None], subgroup_id: str | None) -> None:
    """R-J6: the teacher being replaced must be the one who teaches that lesson."""
    if not access_rules.covers(assigned_subgroups, subgroup_id):
        raise errors.SubstituteNotAssigned(details={"field": "substitute_for"})


def check_homework_allowed(grade: int, homework: str | None) -> None:
    """R-J4: no homework in grade 1."""
    if grade == 1 and homework:
        raise errors.NoHomeworkInGrade1()


def entry_flags(lesson_date: dt.date, entry_date: dt.date) -> tuple[bool, bool]:
    """R-J5: ``(late, overdue)``: entered after the lesson's day; more than
    3 days after it. Both dates are the school's local dates."""
    lag = (entry_date - lesson_date).days
    return lag > 0, lag > ENTRY_GRACE_DAYS


def school_today(now: dt.datetime, tz: dt.tzinfo) -> dt.date:
    """The school's local date at the instant ``now`` (aware)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(tz).date()


# --- marks (R-J3, R-J4, R-J9) ------------------------------------------------

@dataclass(frozen=True)
class MarkSpec:
    student_id: str
    value: int
    kind: str
    weight: int
    comment: str | None


def is_exempt_entry(value) -> bool:
    """R-J9: "осв." (exempt) in any spelling."""
    return isinstance(value, str) and bool(_EXEMPT_RE.match(value.strip().lower()))


def mark_value(value, *, allow_mark_1: bool) -> int:
    """An integer mark 2..5 (1..5 when the school allows 1), R-J3."""
    if is_exempt_entry(value):
        raise errors.ExemptNotAllowed(details={"value": value})
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    low = 1 if allow_mark_1 else 2
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_MARK:
        raise errors.InvalidMark(
            f"Недопустимая отметка: разрешены целые числа от {low} до {MAX_MARK}",
            details={"value": value if isinstance(value, (int, float, str)) else None, "min": low, "max": MAX_MARK})
    return value


def validate_mark(item, index: int, *, allow_mark_1: bool) -> MarkSpec:
    """One entry of a ``post_marks`` request."""
    where = f"marks[{index}]"
    item = require_mapping(item, where)
    student_id = ident(item.get("student_id"), f"{where}.student_id")
    value = mark_value(item.get("value"), allow_mark_1=allow_mark_1)
    kind = item.get("kind") or DEFAULT_MARK_KIND
    if kind not in MARK_KINDS:
        raise _invalid(f"{where}.kind", "Вид работы: " + ", ".join(MARK_KINDS))
    weight = integer(item.get("weight"), f"{where}.weight", low=MIN_WEIGHT, high=MAX_WEIGHT,
                     default=DEFAULT_WEIGHT)
    comment = text(item.get("comment"), f"{where}.comment", required=False, max_len=limits.MARK_COMMENT)
    if is_exempt_entry(comment):
        raise errors.ExemptNotAllowed(details={"field": f"{where}.comment"})
    return MarkSpec(student_id, value, kind, weight, comment)


def validate_marks(items, *, allow_mark_1: bool) -> list[MarkSpec]:
    """Every entry of a ``post_marks`` request, or the first error (all or nothing)."""
    if not isinstance(items, list) or not items:
        raise _invalid("marks", "Передайте непустой список отметок")
    if len(items) > MAX_MARKS_PER_REQUEST:
        raise _invalid("marks", f"Не больше {MAX_MARKS_PER_REQUEST} отметок за один запрос")
    return [validate_mark(item, i, allow_mark_1=allow_mark_1) for i, item in enumerate(items)]


def check_marks_allowed(grade: int) -> None:
    """R-J4: no marks in grade 1."""
    if grade == 1:
        raise errors.NoMarksInGrade1()


def check_lesson_happened(lesson_date: dt.date, today: dt.date) -> None:
    """A mark is for work done: not for a lesson that is still to come."""
    if lesson_date > today:
        raise errors.LessonInFuture(details={"date": lesson_date.isoformat()})


def check_students_in_class(student_ids: Iterable[str], enrolled: Iterable[str], *, field: str = "marks") -> None:
    """Every student must be enrolled in the lesson's class on its date
    (422 STUDENT_NOT_IN_CLASS naming the list ``field`` and the students)."""
    enrolled = set(enrolled)
    missing = sorted({s for s in student_ids if s not in enrolled})
    if missing:
        raise errors.StudentNotInClass(details={"field": field, "student_ids": missing})


# --- mark versions: a hash chain (R-J7) --------------------------------------

def utc_iso(at: dt.datetime) -> str:
    """A stable text form of an instant (naive values are UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone.utc)
    return at.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def version_content(*, mark_id: str, version: int, lesson_id: str, student_id: str, value: int,
                    kind: str, weight: int, comment: str | None, removed: bool, by: str,
                    at: dt.datetime, reason: str | None) -> dict:
    """What one version of a mark says: what the hash covers."""
    return {
        "mark_id": mark_id, "version": version, "lesson_id": lesson_id, "student_id": student_id,
        "value": value, "kind": kind, "weight": weight, "comment": comment, "removed": removed,
        "by": by, "at": utc_iso(at), "reason": reason,
    }


def canonical_json(content: dict) -> str:
    """Sorted keys, no spaces, UTF-8 text: one byte string per content."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(content: dict, prev_hash: str) -> str:
    """sha256 over the canonical content followed by the previous hash."""
    return hashlib.sha256((canonical_json(content) + prev_hash).encode("utf-8")).hexdigest()


def verify_chain(versions: Sequence[tuple[dict, str, str]]) -> bool:
    """``versions`` = ``[(content, prev_hash, hash), ...]`` in version order:
    True when the chain is unbroken from :data:`GENESIS_HASH`."""
    prev = GENESIS_HASH
    for expected_version, (content, prev_hash, digest) in enumerate(versions, start=1):
        if content.get("version") != expected_version or prev_hash != prev:
            return False
        if chain_hash(content, prev_hash) != digest:
            return False
        prev = digest
    return True


# --- people: the projection of identity's users -----------------------------

@dataclass(frozen=True)
class PersonFacts:
    """What an identity event says about a person, true at ``at``.
    ``None`` = the event says nothing about that field."""
    user_id: str
    school_id: str
    at: dt.datetime
    full_name: str | None
    roles: tuple | None


def person_from_event(env: dict) -> PersonFacts | None:
    """Decode identity's ``user_created`` / ``roles_changed``. None for a
    user outside any school (nothing to keep); ValueError when malformed
    (the handler dead-letters it)."""
    school_id = env.get("school_id")
    if not school_id:
        return None
    payload = env["payload"]
    user_id = payload.get("user_id")
    if not isinstance(user_id, str) or not user_id:
        raise ValueError("payload.user_id is missing")
    try:
        at = dt.datetime.fromisoformat(env["occurred_at"])
    except (TypeError, ValueError):
        raise ValueError("occurred_at is not an ISO-8601 time") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone.utc)
    roles = payload.get("roles")
    if roles is not None and (not isinstance(roles, list) or not all(isinstance(r, str) for r in roles)):
        raise ValueError("payload.roles is not a list of strings")
    full_name = payload.get("full_name") if env.get("type") == "user_created" else None
    if full_name is not None and not isinstance(full_name, str):
        raise ValueError("payload.full_name is not a string")
    return PersonFacts(user_id, school_id, at, full_name, tuple(roles) if roles is not None else None)


# --- diary -------------------------------------------------------------------

def week_bounds(day: dt.date) -> tuple[dt.date, dt.date]:
    """Monday..Sunday of the week containing ``day``."""
    monday = day - dt.timedelta(days=day.weekday())
    return monday, monday + dt.timedelta(days=6)


def diary_range(from_text: str | None, to_text: str | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """The diary's inclusive range: the current week by default, one end
    given = that week-long window, at most :data:`MAX_DIARY_DAYS` days."""
    start = parse_date(from_text, "from_date", required=False)
    end = parse_date(to_text, "to_date", required=False)
    if start is None and end is None:
        start, end = week_bounds(today)
    elif end is None:
        end = start + dt.timedelta(days=6)
    elif start is None:
        start = end - dt.timedelta(days=6)
    if end < start:
        raise _invalid("to_date", "Конец периода раньше начала")
    if (end - start).days + 1 > MAX_DIARY_DAYS:
        raise _invalid("to_date", f"Дневник можно запросить не больше чем за {MAX_DIARY_DAYS} дня")
    return start, end
