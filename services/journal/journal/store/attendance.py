"""Queries of attendance: a lesson's entries, their versions and chains."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from kernel.db import new_id
from journal.domain.chain import GENESIS_HASH, attendance_content, chain_hash
from journal.store.models import AttendanceEntry, AttendanceVersion
from journal.store.lessons import _join_chains


def attendance_of_lesson(session: Session, *, lesson_id: str, lock: bool = False) -> dict[str, AttendanceEntry]:
    query = select(AttendanceEntry).where(AttendanceEntry.lesson_id == lesson_id)
    if lock:
        query = query.with_for_update()
    return {a.student_id: a for a in session.scalars(query)}


def save_attendance(session: Session, *, school_id: str, lesson_id: str, changes, current: dict, by: str,
                    at: dt.datetime, reason: str | None) -> list[AttendanceEntry]:
    """Apply ``changes`` ``[(student_id, status, previous)]``: a new entry
    or a new version of an existing one."""
    saved, changed = [], []
    for student_id, status, previous in changes:
        entry = current.get(student_id)
        if entry is None:
            entry = AttendanceEntry(id=new_id(), school_id=school_id, lesson_id=lesson_id, student_id=student_id,
                                    status=status, version=1, updated_by=by, updated_at=at)
            session.add(entry)
        else:
            entry.status, entry.version, entry.updated_by, entry.updated_at = status, entry.version + 1, by, at
            changed.append(entry.id)
        saved.append((entry, previous))
    session.flush()
    # the previous links of the corrected entries, in one query
    prev_hashes = dict(session.execute(
        select(AttendanceVersion.attendance_id, AttendanceVersion.hash)
        .join(AttendanceEntry, and_(AttendanceEntry.id == AttendanceVersion.attendance_id,
                                    AttendanceVersion.version == AttendanceEntry.version - 1))
        .where(AttendanceVersion.attendance_id.in_(changed))).all()) if changed else {}
    for entry, previous in saved:
        prev = prev_hashes.get(entry.id, GENESIS_HASH)
        content = attendance_content(
            attendance_id=entry.id, version=entry.version, lesson_id=entry.lesson_id, student_id=entry.student_id,
            status=entry.status, previous=previous, by=by, at=at, reason=reason)
        session.add(AttendanceVersion(attendance_id=entry.id, version=entry.version, school_id=school_id,
                                      status=entry.status, previous=previous, by=by, at=at, reason=reason,
                                      prev_hash=prev, hash=chain_hash(content, prev)))
    session.flush()
    return [entry for entry, _ in saved]


def attendance_state(entry: AttendanceEntry) -> dict:
    return {"status": entry.status, "version": entry.version, "lesson_id": entry.lesson_id,
            "student_id": entry.student_id}


def attendance_chains(session: Session, *, school_id: str | None = None, batch: int = 2000):
    """Every attendance entry with its chain, as ``(state, [(content,
    prev_hash, hash)])``, streamed in id order like :func:`journal.store.lessons.chains`. The
    content takes the lesson and the student from the entry's row, so
    moving an entry to another lesson or student breaks its chain."""
    entries_q = select(AttendanceEntry).order_by(AttendanceEntry.id)
    versions_q = select(AttendanceVersion).order_by(AttendanceVersion.attendance_id, AttendanceVersion.version)
    if school_id is not None:
        entries_q = entries_q.where(AttendanceEntry.school_id == school_id)
        versions_q = versions_q.where(AttendanceVersion.school_id == school_id)

    def content(entry, v):
        return attendance_content(
            attendance_id=v.attendance_id, version=v.version, lesson_id=entry.lesson_id,
            student_id=entry.student_id, status=v.status, previous=v.previous, by=v.by, at=v.at,
            reason=v.reason)

    for entry, chain in _join_chains(session.scalars(entries_q.execution_options(yield_per=batch)),
                                     session.scalars(versions_q.execution_options(yield_per=batch)),
                                     lambda v: v.attendance_id, content):
        yield attendance_state(entry) | {"attendance_id": entry.id, "school_id": entry.school_id}, chain
