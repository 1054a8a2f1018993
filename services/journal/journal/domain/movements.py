"""Rules of the school year over time: student movement (R-S3), year close
and promotion (R-S4), the timetable and its conflicts (R-S6) and the
calendar-thematic plan with its coverage (R-J8). Pure functions of plain
values (the caller supplies "today" and the rows), and the flows that read
the session they are given (:func:`not_enrolled`, :func:`promote`)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, Sequence

from sqlalchemy.orm import Session

from journal import errors, events, store
from journal.domain.structure import ClassSpec, EnrolmentSpec
from journal.domain.common import MAX_GRADE, _invalid, ident, integer, parse_date, require_mapping, text


LEFT_TRANSFERRED = "transferred"   # to another class of the same year
LEFT_DEPARTED = "left"             # left the school
LEFT_PROMOTED = "promoted"         # year close: moved on to the next grade
LEFT_GRADUATED = "graduated"       # year close: finished the last grade
LEFT_HELD_BACK = "held_back"       # year close: repeats the grade next year
MAX_WEEKDAY = 6                    # a 6-day week at most (R-S1 regime)
MAX_LESSON_NUMBER = 10
MAX_SLOTS = 100
MAX_PLAN_TOPICS = 400


@dataclass(frozen=True)
class TransferSpec:
    to_class_id: str
    order_no: str
    on: dt.date


def validate_transfer(data) -> TransferSpec:
    """Decode ``transfer_student`` data: the target class, the order, its date."""
    data = require_mapping(data, "data")
    return TransferSpec(to_class_id=ident(data.get("to_class_id"), "to_class_id"),
                        order_no=text(data.get("order_no"), "order_no", max_len=64),
                        on=parse_date(data.get("on"), "on"))


@dataclass(frozen=True)
class DepartureSpec:
    order_no: str
    on: dt.date
    reason: str | None


def validate_departure(data) -> DepartureSpec:
    """Decode ``record_departure`` data; ``on`` is the first day out."""
    data = require_mapping(data, "data")
    return DepartureSpec(order_no=text(data.get("order_no"), "order_no", max_len=64),
                         on=parse_date(data.get("on"), "on"),
                         reason=text(data.get("reason"), "reason", required=False, max_len=300))


def check_movement_date(on: dt.date, *, enrolled_on: dt.date, year_starts_on: dt.date,
                        year_ends_on: dt.date) -> None:
    """A movement happens inside the year and after the stay it ends began:
    a stay of zero days would leave no trace of the class in the history."""
    if not year_starts_on <= on <= year_ends_on:
        raise errors.DateOutsideYear(details={"field": "on", "starts_on": year_starts_on.isoformat(),
                                              "ends_on": year_ends_on.isoformat()})
    if on <= enrolled_on:
        raise errors.MovementBeforeAdmission(details={"field": "on", "enrolled_on": enrolled_on.isoformat()})


def check_transfer_target(*, from_class_id: str, to_class_id: str, from_year_id: str, to_year_id: str) -> None:
    """A transfer moves within one year to another class; across years it
    is the year close's promotion."""
    if from_class_id == to_class_id:
        raise errors.SameClass()
    if from_year_id != to_year_id:
        raise errors.OtherYear()


@dataclass(frozen=True)
class CloseSpec:
    order_no: str
    promote: bool
    next_year_id: str | None
    held_back: frozenset
    early: bool = False


def validate_close(data) -> CloseSpec:
    """Decode ``close_year`` data. ``held_back`` lists students who repeat
    the grade (the pedagogical council's decision, named in the order);
    ``early`` says the year is closed before its last day on purpose."""
    data = require_mapping(data, "data")
    flags = {}
    for name, default in (("promote", True), ("early", False)):
        flags[name] = data.get(name, default)
        if not isinstance(flags[name], bool):
            raise _invalid(name, errors.text("field_not_boolean", name=name))
    held = data.get("held_back") or []
    if not isinstance(held, list):
        raise _invalid("held_back", errors.text("held_back_not_list"))
    return CloseSpec(order_no=text(data.get("order_no"), "order_no", max_len=64), promote=flags["promote"],
                     next_year_id=ident(data.get("next_year_id"), "next_year_id", required=False),
                     held_back=frozenset(ident(s, f"held_back[{i}]") for i, s in enumerate(held)),
                     early=flags["early"])


def check_year_ended(ends_on: dt.date, today: dt.date, *, early: bool) -> None:
    """R-S4: a year is closed after its last day (the school's date), or
    before it only when the order says so (``early``): 422 YEAR_NOT_ENDED."""
    if today < ends_on and not early:
        raise errors.YearNotEnded(details={"field": "early", "ends_on": ends_on.isoformat()})


def pick_next_year(closing_ends_on: dt.date, years: Iterable[tuple[str, dt.date, bool]]) -> str | None:
    """The year promotion goes to: the earliest open year starting after
    the closing one ends. ``years`` = ``(id, starts_on, archived)``."""
    later = sorted((starts, yid) for yid, starts, archived in years if not archived and starts > closing_ends_on)
    return later[0][1] if later else None


@dataclass(frozen=True)
class Move:
    """Where one student of a closing year goes."""
    student_id: str
    from_class_id: str
    outcome: str                   # LEFT_PROMOTED, LEFT_GRADUATED or LEFT_HELD_BACK
    to_grade: int | None
    letter: str


def plan_promotion(stays: Iterable[tuple[str, str, int, str]], held_back: Iterable[str],
                   *, last_grade: int = MAX_GRADE) -> list[Move]:
    """Every open stay ``(student_id, class_id, grade, letter)`` of the
    closing year: promoted one grade up (same letter), graduated from the
    last grade, or held back in the same grade."""
    held = set(held_back)
    moves = []
    for student_id, class_id, grade, letter in sorted(stays):
        if student_id in held:
            moves.append(Move(student_id, class_id, LEFT_HELD_BACK, grade, letter))
        elif grade >= last_grade:
            moves.append(Move(student_id, class_id, LEFT_GRADUATED, None, letter))
        else:
            moves.append(Move(student_id, class_id, LEFT_PROMOTED, grade + 1, letter))
    return moves


def check_held_back_known(held_back: Iterable[str], students: Iterable[str]) -> None:
    """Every student named as held back studies in the closing year."""
    unknown = sorted(set(held_back) - set(students))
    if unknown:
        raise errors.StudentNotInClass(errors.text("held_back_unknown"),
                                       details={"field": "held_back", "student_ids": unknown})


@dataclass(frozen=True)
class SlotSpec:
    weekday: int
    number: int
    subject_id: str
    teacher_id: str
    room: str | None
    subgroup_id: str | None


@dataclass(frozen=True)
class TimetableSpec:
    period_id: str
    slots: tuple


def validate_timetable(data) -> TimetableSpec:
    """Decode ``set_timetable`` data; an empty ``slots`` clears the period."""
    data = require_mapping(data, "data")
    raw = data.get("slots")
    if not isinstance(raw, list):
        raise _invalid("slots", errors.text("slots_not_list"))
    if len(raw) > MAX_SLOTS:
        raise _invalid("slots", errors.text("slots_too_many", max_slots=MAX_SLOTS))
    slots = []
    for i, item in enumerate(raw):
        where = f"slots[{i}]"
        item = require_mapping(item, where)
        room = text(item.get("room"), f"{where}.room", required=False, max_len=30)
        slots.append(SlotSpec(
            weekday=integer(item.get("weekday"), f"{where}.weekday", low=1, high=MAX_WEEKDAY),
            number=integer(item.get("number"), f"{where}.number", low=1, high=MAX_LESSON_NUMBER),
            subject_id=ident(item.get("subject_id"), f"{where}.subject_id"),
            teacher_id=ident(item.get("teacher_id"), f"{where}.teacher_id"),
            room=room,
            subgroup_id=ident(item.get("subgroup_id"), f"{where}.subgroup_id", required=False)))
    return TimetableSpec(period_id=ident(data.get("period_id"), "period_id"), slots=tuple(slots))


@dataclass(frozen=True)
class BusySlot:
    """A slot already taken elsewhere: another class's timetable."""
    class_id: str
    class_name: str
    weekday: int
    number: int
    teacher_id: str
    room: str | None


def timetable_conflicts(class_id: str, slots: Sequence[SlotSpec], busy: Iterable[BusySlot]) -> list[dict]:
    """Every clash of the new week of ``class_id`` (R-S6): a teacher or a
    room in two places at once (with another class or within the week
    itself), or the class itself twice at once unless both lessons are of
    different subgroups (the class split, R-S5). Empty = no conflict."""
    found = []
    seen_teacher: dict[tuple, int] = {}
    seen_room: dict[tuple, int] = {}
    seen_class: dict[tuple, list[int]] = {}
    for i, slot in enumerate(slots):
        when = (slot.weekday, slot.number)
        key = when + (slot.teacher_id,)
        if key in seen_teacher:
            found.append({"slot": i, "kind": "teacher", "teacher_id": slot.teacher_id,
                          "with_slot": seen_teacher[key], "weekday": slot.weekday, "number": slot.number})
        seen_teacher.setdefault(key, i)
        if slot.room:
            rkey = when + (_room_key(slot.room),)
            if rkey in seen_room:
                found.append({"slot": i, "kind": "room", "room": slot.room, "with_slot": seen_room[rkey],
                              "weekday": slot.weekday, "number": slot.number})
            seen_room.setdefault(rkey, i)
        for j in seen_class.get(when, []):
            other = slots[j]
            if slot.subgroup_id is None or other.subgroup_id is None or slot.subgroup_id == other.subgroup_id:
                found.append({"slot": i, "kind": "class", "with_slot": j,
                              "weekday": slot.weekday, "number": slot.number})
                break
        seen_class.setdefault(when, []).append(i)
    for b in busy:
        if b.class_id == class_id:
            continue
        for i, slot in enumerate(slots):
            if (slot.weekday, slot.number) != (b.weekday, b.number):
                continue
            if slot.teacher_id == b.teacher_id:
                found.append({"slot": i, "kind": "teacher", "teacher_id": slot.teacher_id,
                              "class_id": b.class_id, "class_name": b.class_name,
                              "weekday": slot.weekday, "number": slot.number})
            if slot.room and b.room and _room_key(slot.room) == _room_key(b.room):
                found.append({"slot": i, "kind": "room", "room": slot.room, "class_id": b.class_id,
                              "class_name": b.class_name, "weekday": slot.weekday, "number": slot.number})
    return found


def _room_key(room: str) -> str:
    """"21А", "21а" and "21 А" are one room."""
    return "".join(room.split()).casefold()


def check_timetable(class_id: str, slots: Sequence[SlotSpec], busy: Iterable[BusySlot]) -> None:
    """:func:`timetable_conflicts` or 409 TIMETABLE_CONFLICT listing them all."""
    found = timetable_conflicts(class_id, slots, busy)
    if found:
        raise errors.TimetableConflict(details={"conflicts": found})


def check_slot_subgroups(slots: Sequence[SlotSpec], subgroups: dict[str, str]) -> None:
    """A slot's subgroup belongs to the class and to the slot's subject.
    ``subgroups`` = ``{subgroup_id: subject_id}`` of the class."""
    for i, slot in enumerate(slots):
        if slot.subgroup_id is not None and subgroups.get(slot.subgroup_id) != slot.subject_id:
            raise errors.NotFound(errors.text("subgroup_not_found"),
                                  details={"field": f"slots[{i}].subgroup_id"})


@dataclass(frozen=True)
class TopicSpec:
    number: int
    title: str
    hours: int


@dataclass(frozen=True)
class PlanSpec:
    class_id: str
    subject_id: str
    period_id: str
    topics: tuple

    @property
    def hours(self) -> int:
        return sum(t.hours for t in self.topics)


def validate_plan(data) -> PlanSpec:
    """Decode ``create_plan`` data: numbered topics with whole hours."""
    data = require_mapping(data, "data")
    raw = data.get("topics")
    if not isinstance(raw, list) or not raw:
        raise _invalid("topics", errors.text("plan_topics_empty"))
    if len(raw) > MAX_PLAN_TOPICS:
        raise _invalid("topics", errors.text("plan_topics_too_many", max_plan_topics=MAX_PLAN_TOPICS))
    topics, numbers = [], set()
    for i, item in enumerate(raw):
        where = f"topics[{i}]"
        item = require_mapping(item, where)
        number = integer(item.get("number"), f"{where}.number", low=1, high=1000)
        if number in numbers:
            raise _invalid(f"{where}.number", errors.text("plan_topic_numbers_twice"))
        numbers.add(number)
        topics.append(TopicSpec(number=number, title=text(item.get("title"), f"{where}.title", max_len=500),
                                hours=integer(item.get("hours"), f"{where}.hours", low=1, high=200)))
    return PlanSpec(class_id=ident(data.get("class_id"), "class_id"),
                    subject_id=ident(data.get("subject_id"), "subject_id"),
                    period_id=ident(data.get("period_id"), "period_id"),
                    topics=tuple(sorted(topics, key=lambda t: t.number)))


def coverage(*, planned_hours: int, taught: int, period_start: dt.date, period_end: dt.date,
             today: dt.date) -> dict:
    """Programme coverage of one class and subject (R-J8, R-R7): lessons
    taught vs hours planned (one lesson = one hour), and how far behind the
    plan the class is today, pro rata over the period's days."""
    total_days = (period_end - period_start).days + 1
    elapsed = min(max((today - period_start).days + 1, 0), total_days)
    expected = round(planned_hours * elapsed / total_days) if total_days > 0 else planned_hours
    return {
        "planned_hours": planned_hours,
        "taught_hours": taught,
        "percent": round(100 * taught / planned_hours, 1) if planned_hours else None,
        "expected_by_today": expected,
        "behind": taught < expected,
    }


def not_enrolled(s, actor, student_id: str):
    """A movement of a student with no open stay: 422 NOT_ENROLLED for a
    student this school has had; 404 for an id it never had (a student of
    another school is "not yours", API.md)."""
    if not store.movements.movements(s, school_id=actor.school_id, student_id=student_id):
        raise errors.NotFound(errors.text("student_not_found"), details={"field": "student_id"})
    raise errors.NotEnrolled(details={"student_id": student_id})


def promote(s: Session, *, school_id: str, year, spec: CloseSpec, stays,
            progress=None) -> tuple[dict, list[tuple[str, dict]]]:
    """The promotion part of closing ``year`` (R-S4), in the caller's
    transaction: every open stay (``stays``: ``(enrolment, class)``) closed
    the day after the year ends, each student one grade up into the next
    open year (classes created as needed), graduates out, the held back
    repeating the grade. Returns the summary's promotion fields and the
    events to publish, in order. ``progress("promoting", done, total)`` is
    told after each student."""
    published = []
    next_id = spec.next_year_id or pick_next_year(
        year.ends_on, store.movements.school_years(s, school_id=school_id))
    next_year = store.structure.get_year(s, school_id=school_id, year_id=next_id) if next_id else None
    if next_year is None or next_year.archived or next_year.starts_on <= year.ends_on:
        raise errors.NoNextYear(details={"field": "next_year_id"})
    by_student = {(e.student_id, c.id): (e, c) for e, c in stays}
    moves = plan_promotion([(e.student_id, c.id, c.grade, c.letter) for e, c in stays], spec.held_back)
    targets = store.movements.classes_of_year(s, year_id=next_year.id)
    already = store.movements.students_with_open_stay(s, year_id=next_year.id)
    first_day_out = year.ends_on + dt.timedelta(days=1)
    counts = {LEFT_PROMOTED: 0, LEFT_GRADUATED: 0, LEFT_HELD_BACK: 0}
    created, per_class, skipped = [], {}, 0
    for n, move in enumerate(moves):
        if progress is not None:
            progress("promoting", n, len(moves))
        stay, klass = by_student[(move.student_id, move.from_class_id)]
        store.movements.close_enrolment(stay, on=first_day_out, order_no=spec.order_no, reason=move.outcome)
        counts[move.outcome] += 1
        if move.outcome == LEFT_GRADUATED:
            published.append((events.STUDENT_LEFT, events.student_left(stay)))
            continue
        if move.student_id in already:
            skipped += 1  # admitted to next year by hand already: that order stands
            continue
        target = targets.get((move.to_grade, move.letter))
        if target is None:
            # the class teacher follows a promoted class; a class made only for the held back has none yet
            teacher = klass.class_teacher_id if move.outcome == LEFT_PROMOTED else None
            target = store.structure.add_class(s, school_id=school_id, spec=ClassSpec(
                year_id=next_year.id, grade=move.to_grade, letter=move.letter, class_teacher_id=teacher))
            targets[(move.to_grade, move.letter)] = target
            created.append({"id": target.id, "name": target.name})
            published.append((events.CLASS_CREATED, events.class_created(target)))
        new = store.structure.add_enrolment(s, school_id=school_id, class_id=target.id, spec=EnrolmentSpec(
            student_id=move.student_id, order_no=spec.order_no, on=next_year.starts_on))
        published.append((events.STUDENT_ENROLLED, events.student_enrolled(new)))
        row = per_class.setdefault((klass.id, target.id), {
            "from_class_id": klass.id, "from": klass.name, "to_class_id": target.id, "to": target.name,
            "students": 0})
        row["students"] += 1
    return {"next_year_id": next_year.id, "promoted": counts[LEFT_PROMOTED],
            "graduated": counts[LEFT_GRADUATED], "held_back": counts[LEFT_HELD_BACK],
            "already_enrolled": skipped, "created_classes": created, "classes": list(per_class.values())}, published
