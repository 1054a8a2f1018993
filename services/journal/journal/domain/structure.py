"""Rules of the school's structure: years and periods (R-S1), subjects,
classes, enrolment (R-S2), teacher assignments, subgroups (R-S5) and the
people projection fed by identity's events. Pure functions of plain values,
and :func:`check_subgroup`, which reads the session it is given."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, Sequence

from kernel import access_rules, payloads
from kernel.context import CallContext

from journal import errors, store
from journal.domain.common import (
    MAX_GRADE, MIN_GRADE, _invalid, hours_value, ident, integer, is_class_teacher, parse_date,
    require_mapping, text,
)


PERIOD_KINDS = ("quarter", "trimester", "half_year")
MAX_YEAR_DAYS = 366


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
        raise _invalid("ends_on", errors.text("year_ends_before_start"))
    if (ends_on - starts_on).days >= MAX_YEAR_DAYS:
        raise _invalid("ends_on", errors.text("year_too_long"))
    raw = data.get("periods")
    if not isinstance(raw, list) or not raw:
        raise _invalid("periods", errors.text("periods_empty"))
    periods = []
    for i, item in enumerate(raw):
        item = require_mapping(item, f"periods[{i}]")
        kind = item.get("kind")
        if kind not in PERIOD_KINDS:
            raise _invalid(f"periods[{i}].kind", errors.text("period_kind"))
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
            raise errors.InvalidPeriods(errors.text("period_ends_before_start"),
                                        details={"index": i, "name": p.name})
        if p.starts_on < starts_on or p.ends_on > ends_on:
            raise errors.InvalidPeriods(errors.text("period_outside_year"),
                                        details={"index": i, "name": p.name})
        if p.name.lower() in names:
            raise errors.InvalidPeriods(errors.text("period_names_twice"), details={"index": i, "name": p.name})
        names.add(p.name.lower())
    ordered = sorted(enumerate(periods), key=lambda ip: ip[1].starts_on)
    for (_, prev), (i, cur) in zip(ordered, ordered[1:]):
        if cur.starts_on <= prev.ends_on:
            raise errors.InvalidPeriods(errors.text("periods_overlap"),
                                        details={"index": i, "name": cur.name, "overlaps": prev.name})


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
        raise _invalid("letter", errors.text("class_letter"))
    return ClassSpec(
        year_id=ident(data.get("year_id"), "year_id"),
        grade=integer(data.get("grade"), "grade", low=MIN_GRADE, high=MAX_GRADE),
        letter=letter.upper(),
        class_teacher_id=ident(data.get("class_teacher_id"), "class_teacher_id"),
    )


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
        raise _invalid("hours_per_week", errors.text("hours_range"))
    if round(hours * 2) != hours * 2:
        raise _invalid("hours_per_week", errors.text("hours_step"))
    return AssignmentSpec(
        teacher_id=ident(data.get("teacher_id"), "teacher_id"),
        class_id=ident(data.get("class_id"), "class_id"),
        subject_id=ident(data.get("subject_id"), "subject_id"),
        hours_per_week=hours_value(hours),
        subgroup_id=ident(data.get("subgroup_id"), "subgroup_id", required=False),
    )


def may_enrol(actor: CallContext, class_teacher_id: str | None) -> bool:
    """Admin or the class's own class teacher (R-S2):
    :func:`kernel.access_rules.enrols`."""
    return access_rules.enrols(actor.roles, class_teacher=is_class_teacher(actor, class_teacher_id)) is None


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
    """Decode identity's ``user_created`` / ``roles_changed`` with the
    kernel's payload readers. None for a user outside any school (nothing to
    keep); :class:`kernel.payloads.InvalidPayload` (a ValueError) when
    malformed (the handler dead-letters it)."""
    if not env.get("school_id"):
        return None
    data = payloads.payload(env)
    roles = payloads.roles(data) if data.get("roles") is not None else None
    full_name = payloads.text(data, "full_name", required=False) if env.get("type") == "user_created" else None
    return PersonFacts(payloads.text(data, "user_id"), payloads.school_id(env), payloads.occurred_at(env),
                       full_name, roles)


MAX_SUBGROUP_STUDENTS = 60


@dataclass(frozen=True)
class SubgroupSpec:
    subject_id: str
    name: str
    student_ids: tuple


def validate_subgroup(data) -> SubgroupSpec:
    """Decode ``create_subgroup`` data: a subject, a name, its students."""
    data = require_mapping(data, "data")
    raw = data.get("student_ids")
    if not isinstance(raw, list) or not raw:
        raise _invalid("student_ids", errors.text("subgroup_students_empty"))
    if len(raw) > MAX_SUBGROUP_STUDENTS:
        raise _invalid("student_ids", errors.text("subgroup_students_too_many",
                                                  max_subgroup_students=MAX_SUBGROUP_STUDENTS))
    ids = [ident(s, f"student_ids[{i}]") for i, s in enumerate(raw)]
    if len(set(ids)) != len(ids):
        raise _invalid("student_ids", errors.text("students_twice"))
    return SubgroupSpec(subject_id=ident(data.get("subject_id"), "subject_id"),
                        name=" ".join(text(data.get("name"), "name", max_len=60).split()),
                        student_ids=tuple(ids))


def check_subgroup_members(student_ids: Iterable[str], *, in_class: Iterable[str],
                           already_grouped: dict[str, str]) -> None:
    """Members study in the class now, and a class is split, not overlapped:
    a student is in at most one subgroup per subject (R-S5).
    ``already_grouped`` = ``{student_id: subgroup name}`` for the subject."""
    in_class = set(in_class)
    missing = sorted(s for s in student_ids if s not in in_class)
    if missing:
        raise errors.StudentNotInClass(details={"field": "student_ids", "student_ids": missing})
    taken = sorted(s for s in student_ids if s in already_grouped)
    if taken:
        raise errors.AlreadyInSubgroup(details={"student_ids": taken,
                                                "subgroups": sorted({already_grouped[s] for s in taken})})


def check_subgroup(s, class_id: str, subject_id: str, subgroup_id: str | None, field: str = "subgroup_id"):
    """A subgroup a write names is one of the class's for that subject (R-S5): 404 otherwise."""
    if subgroup_id is not None and store.structure.subgroups_of_class(s,
                                                                      class_id=class_id).get(subgroup_id) != subject_id:
        raise errors.NotFound(errors.text("subgroup_not_found"), details={"field": field})
