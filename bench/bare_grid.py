"""The floor for the grid benchmark: a bare one-process Flask+SQLAlchemy
endpoint building the class journal grid's JSON (API.md ``GET
/classes/{id}/journal``) from the same (journal) database, with no
authentication, no access decision, no gRPC hop and no gateway. The students
at risk come from the journal's own pure rule (``subject_risks``), so both
sides compute the same thing."""
from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo

from flask import Flask, jsonify, request
from sqlalchemy import create_engine, text

from journal.domain.finals import subject_risks

CLASS = text("SELECT id, year_id, name FROM classes WHERE id = :class_id")
PERIOD = text("""
SELECT p.id, p.kind, p.starts_on, p.ends_on, y.id, y.name FROM periods p JOIN years y ON y.id = p.year_id
WHERE y.id = :year_id AND p.starts_on <= :today AND p.ends_on >= :today
ORDER BY y.archived, p.starts_on DESC LIMIT 1""")
PERIODS = text("SELECT id, name, kind, starts_on, ends_on FROM periods WHERE year_id = :year_id ORDER BY starts_on")
STUDENTS = text("""
SELECT DISTINCT ON (pe.full_name, e.student_id) e.student_id, coalesce(pe.full_name, '')
FROM enrolments e LEFT JOIN people pe ON pe.user_id = e.student_id
WHERE e.class_id = :class_id AND e.enrolled_on <= :end AND (e.left_on IS NULL OR e.left_on > :start)
ORDER BY pe.full_name, e.student_id""")
LESSONS = text("""
SELECT l.id, l.date, l.topic, l.lesson_type, l.work_type, l.homework, l.teacher_id, t.full_name,
       l.substitute_for, r.full_name, l.subgroup_id, l.late, l.overdue
FROM lessons l LEFT JOIN people t ON t.user_id = l.teacher_id LEFT JOIN people r ON r.user_id = l.substitute_for
WHERE l.class_id = :class_id AND l.subject_id = :subject_id AND l.date BETWEEN :start AND :end
ORDER BY l.date, l.entered_at, l.id""")
MARKS = text("""
SELECT m.id, m.lesson_id, m.student_id, m.value, m.kind, m.weight, m.comment, m.version
FROM marks m JOIN lessons l ON l.id = m.lesson_id
WHERE l.class_id = :class_id AND l.subject_id = :subject_id AND l.date BETWEEN :start AND :end
  AND m.removed = false ORDER BY l.date, m.created_at, m.id""")
ATTENDANCE = text("""
SELECT a.lesson_id, a.student_id, a.status, a.version FROM attendance a JOIN lessons l ON l.id = a.lesson_id
WHERE l.class_id = :class_id AND l.subject_id = :subject_id AND l.date BETWEEN :start AND :end
ORDER BY l.date, a.student_id""")
FINALS = text("""
SELECT id, student_id, period_id, period_kind, value, late FROM final_marks
WHERE class_id = :class_id AND subject_id = :subject_id AND period_id = :period_id AND NOT superseded
ORDER BY entered_at""")
SUBJECT = text("""
SELECT s.name, s.emphasis, (SELECT max(hours_per_week) FROM assignments a
                            WHERE a.class_id = :class_id AND a.subject_id = s.id)
FROM subjects s WHERE s.id = :subject_id""")


def create_app():
    app = Flask(__name__)
    engine = create_engine(os.environ["EJOURNAL_BENCH_DB"], pool_size=8, max_overflow=8)

    @app.get("/grid/<class_id>")
    def grid(class_id):
        subject_id = request.args["subject_id"]
        today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date()
        with engine.connect() as conn:
            klass = conn.execute(CLASS, {"class_id": class_id}).one()
            period_id, kind, start, end, year_id, year_name = conn.execute(
                PERIOD, {"year_id": klass.year_id, "today": today}).one()
            where = {"class_id": class_id, "subject_id": subject_id, "start": start, "end": end}
            periods = conn.execute(PERIODS, {"year_id": year_id}).all()
            students = conn.execute(STUDENTS, where).all()
            lessons = conn.execute(LESSONS, where).all()
            marks = conn.execute(MARKS, where).all()
            attendance = conn.execute(ATTENDANCE, where).all()
            finals = conn.execute(FINALS, {**where, "period_id": period_id}).all()
            subject_name, emphasis, hours = conn.execute(SUBJECT, where).one()
        by_student: dict = {}
        for m in marks:
            by_student.setdefault(m[2], []).append((m[3], m[5], m[4]))
        risks = subject_risks(by_student, [s[0] for s in students],
                              hours_per_week=None if hours is None else float(hours), emphasis=bool(emphasis),
                              low=3, high=5, min_written=1)
        return jsonify({
            "class_id": class_id, "subject_id": subject_id, "period_id": period_id,
            "starts_on": start.isoformat(), "ends_on": end.isoformat(), "class_name": klass.name,
            "subject_name": subject_name,
            "year": {"id": year_id, "name": year_name, "periods": [
                {"id": p[0], "name": p[1], "kind": p[2], "starts_on": p[3].isoformat(), "ends_on": p[4].isoformat()}
                for p in periods]},
            "students": [{"id": s[0], "full_name": s[1]} for s in students],
            "lessons": [{"id": l[0], "date": l[1].isoformat(), "topic": l[2], "lesson_type": l[3],
                         "work_type": l[4], "homework": l[5], "teacher_id": l[6],
                         "teacher": {"id": l[6], "full_name": l[7]},
                         "substitute_for": {"id": l[8], "full_name": l[9]} if l[8] else None,
                         "subgroup_id": l[10], "late": l[11], "overdue": l[12]} for l in lessons],
            "marks": [{"id": m[0], "lesson_id": m[1], "student_id": m[2], "value": m[3], "kind": m[4],
                       "weight": m[5], "comment": m[6], "version": m[7]} for m in marks],
            "attendance": [{"lesson_id": a[0], "student_id": a[1], "status": a[2], "version": a[3]}
                           for a in attendance],
            "finals": [{"id": f[0], "student_id": f[1], "period_id": f[2], "period_kind": f[3], "value": f[4],
                        "late": f[5]} for f in finals],
            "at_risk": [{"student_id": sid, "reasons": list(r["reasons"]), "predicted": r["predicted"] or None,
                         "marks_count": r["marks_count"], "required": r["required"],
                         "written_works": r["written_works"], "written_required": r["written_required"]}
                        for sid, r in risks.items()],
        })

    return app
