"""The year-end archive of class journals (R-D4): when the journal closes a
school year, every class of that year is printed from reports' projections
as the paper journal is filed (``render.archive``: PDF and the same data as
XLSX) and both files are stored in ``journal_archives``; the administration
lists and downloads them."""
from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from reports import store
from reports.build import school_timezone
from reports.render.archive import archive_from_rows, render_journal_archive
from kernel.db import dialect_insert
from reports.store import (Assignment, Attendance, Enrolment, FinalMark, JournalArchive, Lesson, Mark, Person,
                           SchoolClass, _dicts)

FORMATS = ("pdf", "xlsx")
CONTENT_TYPES = {"pdf": "application/pdf",
                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def class_archive(session: Session, *, school_id: str, year: dict, periods: list[dict], school_class: dict,
                  school: str, closed_order: str | None, now: dt.datetime) -> dict:
    """The journal archive of one class of ``year`` from the projections."""
    class_id = school_class["id"]
    first, last = year["starts_on"], year["ends_on"]
    enrolments = _dicts(session, select(Enrolment.student_id, Enrolment.left_on).where(
        Enrolment.school_id == school_id, Enrolment.class_id == class_id))
    lessons = _dicts(session, select(Lesson.id, Lesson.subject_id, Lesson.teacher_id, Lesson.date, Lesson.topic,
                                     Lesson.has_homework)
                     .where(Lesson.school_id == school_id, Lesson.class_id == class_id,
                            Lesson.date >= first, Lesson.date <= last).order_by(Lesson.date, Lesson.id))
    marks = _dicts(session, select(Mark.lesson_id, Mark.student_id, Mark.subject_id, Mark.value, Mark.removed)
                   .where(Mark.school_id == school_id, Mark.class_id == class_id,
                          Mark.date >= first, Mark.date <= last).order_by(Mark.date, Mark.posted_at, Mark.id))
    attendance = _dicts(session, select(Attendance.lesson_id, Attendance.student_id, Attendance.subject_id,
                                        Attendance.status)
                        .where(Attendance.school_id == school_id, Attendance.class_id == class_id,
                               Attendance.date >= first, Attendance.date <= last))
    period_ids = [p["id"] for p in periods] + [year["id"]]
    finals = _dicts(session, select(FinalMark.student_id, FinalMark.subject_id, FinalMark.period_id,
                                    FinalMark.value)
                    .where(FinalMark.school_id == school_id, FinalMark.class_id == class_id,
                           FinalMark.period_id.in_(period_ids)))
    assignments = _dicts(session, select(Assignment.subject_id, Assignment.teacher_id).where(
        Assignment.school_id == school_id, Assignment.class_id == class_id).order_by(Assignment.id))
    people_ids = {e["student_id"] for e in enrolments} | {a["teacher_id"] for a in assignments}
    if school_class.get("class_teacher_id"):
        people_ids.add(school_class["class_teacher_id"])
    names = {r["id"]: r["full_name"] for r in _dicts(session, select(Person.id, Person.full_name).where(
        Person.school_id == school_id, Person.id.in_(sorted(people_ids))))} if people_ids else {}
    teachers: dict = {}
    for a in assignments:
        teachers.setdefault(a["subject_id"], names.get(a["teacher_id"]))
    subjects = [{"id": k, "name": v["name"]} for k, v in store.subjects_of(session, school_id=school_id).items()]
    return archive_from_rows(
        school=school, year={"id": year["id"], "name": year["name"]},
        periods=[{"id": p["id"], "name": p["name"], "starts_on": p["starts_on"]} for p in periods],
        school_class={"id": class_id, "name": school_class["name"]},
        class_teacher=names.get(school_class.get("class_teacher_id")),
        roster=[{"student_id": e["student_id"], "full_name": names.get(e["student_id"]), "left_on": e["left_on"]}
                for e in enrolments],
        subjects=subjects, lessons=lessons, marks=marks, attendance=attendance, finals=finals, teachers=teachers,
        closed_order=closed_order, printed_at=now.astimezone(school_timezone()).isoformat())


def archive_year(session: Session, *, school_id: str, year_id: str, order_no: str | None, school: str,
                 now: dt.datetime) -> list[str]:
    """Print and store the journal of every class of the closed year that
    has none yet; the new archives' ids. A year reports never heard of
    (its ``year_opened`` not projected) archives nothing."""
    year = store.get_year(session, school_id=school_id, year_id=year_id)
    if year is None:
        return []
    periods = sorted(store.year_periods(session, school_id=school_id, year_ids=[year_id]).values(),
                     key=lambda p: (p["starts_on"], p["id"]))
    done = set(session.execute(select(JournalArchive.class_id).where(JournalArchive.year_id == year_id)).scalars())
    classes = sorted(session.execute(select(SchoolClass).where(
        SchoolClass.school_id == school_id, SchoolClass.year_id == year_id)).scalars(), key=lambda c: c.name)
    made = []
    for c in classes:
        if c.id in done:
            continue
        archive = class_archive(session, school_id=school_id, year=year, periods=periods, school=school,
                                school_class={"id": c.id, "name": c.name, "class_teacher_id": c.class_teacher_id},
                                closed_order=order_no, now=now)
        pdf, xlsx = (render_journal_archive(archive, fmt) for fmt in FORMATS)
        row = {"id": str(uuid.uuid4()), "school_id": school_id, "year_id": year_id, "year_name": year["name"],
               "class_id": c.id, "class_name": c.name, "order_no": order_no, "pdf": pdf, "xlsx": xlsx,
               "pdf_size": len(pdf), "xlsx_size": len(xlsx), "created_at": now}
        # a concurrent redelivery may have stored it meanwhile: one row per year and class
        session.execute(dialect_insert(session, JournalArchive).values(**row).on_conflict_do_nothing(
            index_elements=["year_id", "class_id"]))
        made.append(row["id"])
    return made


def _listed(row) -> dict:
    return {"id": row.id, "year": {"id": row.year_id, "name": row.year_name},
            "class": {"id": row.class_id, "name": row.class_name}, "order_no": row.order_no,
            "files": [{"format": "pdf", "content_type": CONTENT_TYPES["pdf"], "size": row.pdf_size},
                      {"format": "xlsx", "content_type": CONTENT_TYPES["xlsx"], "size": row.xlsx_size}],
            "created_at": row.created_at.isoformat()}


def list_archives(session: Session, *, school_id: str, year_id: str | None) -> list[dict]:
    """The school's archives (of ``year_id`` when given), by year then class."""
    query = select(JournalArchive.id, JournalArchive.year_id, JournalArchive.year_name, JournalArchive.class_id,
                   JournalArchive.class_name, JournalArchive.order_no, JournalArchive.pdf_size,
                   JournalArchive.xlsx_size, JournalArchive.created_at).where(JournalArchive.school_id == school_id)
    if year_id:
        query = query.where(JournalArchive.year_id == year_id)
    rows = session.execute(query).all()
    return [_listed(r) for r in sorted(rows, key=lambda r: (r.year_name or "", r.class_name or "", r.id))]


def archive_file(session: Session, *, school_id: str, archive_id: str, fmt: str) -> dict | None:
    """``{data, content_type, filename, filename_ascii}`` or None when unknown."""
    column = JournalArchive.pdf if fmt == "pdf" else JournalArchive.xlsx
    row = session.execute(select(column, JournalArchive.class_name, JournalArchive.year_name).where(
        JournalArchive.id == archive_id, JournalArchive.school_id == school_id)).one_or_none()
    if row is None:
        return None
    year = (row.year_name or "").replace("/", "-")
    return {"data": bytes(row[0]), "content_type": CONTENT_TYPES[fmt],
            "filename": f"Журнал {row.class_name} {year}.{fmt}",
            "filename_ascii": f"journal-archive-{archive_id[:8]}.{fmt}"}
