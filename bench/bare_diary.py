"""The floor for the diary benchmark: a bare one-process Flask+SQLAlchemy
endpoint reading the same rows from the same (journal) database, with no
authentication, no access decision, no gRPC hop and no gateway."""
from __future__ import annotations

import os

from flask import Flask, jsonify, request
from sqlalchemy import create_engine, text

LESSONS = text("""
SELECT l.id, l.date, l.subject_id, s.name AS subject, l.topic, l.homework, l.lesson_type
FROM lessons l
JOIN enrolments e ON e.class_id = l.class_id AND e.student_id = :student
JOIN subjects s ON s.id = l.subject_id
WHERE l.date BETWEEN :start AND :end AND e.enrolled_on <= l.date
  AND (e.left_on IS NULL OR e.left_on > l.date)
ORDER BY l.date, s.name, l.entered_at, l.id
""")
MARKS = text("""
SELECT m.id, m.lesson_id, m.value, m.kind, m.weight, m.comment
FROM marks m JOIN lessons l ON l.id = m.lesson_id
WHERE m.student_id = :student AND m.removed = false AND l.date BETWEEN :start AND :end
ORDER BY m.created_at, m.id
""")


def create_app():
    app = Flask(__name__)
    engine = create_engine(os.environ["EJOURNAL_BENCH_DB"], pool_size=8, max_overflow=8)

    @app.get("/diary/<student_id>")
    def diary(student_id):
        args = {"student": student_id, "start": request.args["from"], "end": request.args["to"]}
        with engine.connect() as conn:
            lessons = conn.execute(LESSONS, args).mappings().all()
            marks = conn.execute(MARKS, args).mappings().all()
        by_lesson = {}
        for m in marks:
            by_lesson.setdefault(m["lesson_id"], []).append(
                {"id": m["id"], "value": m["value"], "kind": m["kind"], "weight": m["weight"], "comment": m["comment"]})
        days = []
        for l in lessons:
            date = l["date"].isoformat()
            if not days or days[-1]["date"] != date:
                days.append({"date": date, "lessons": []})
            days[-1]["lessons"].append({
                "lesson_id": l["id"], "subject_id": l["subject_id"], "subject": l["subject"], "topic": l["topic"],
                "homework": l["homework"], "lesson_type": l["lesson_type"], "marks": by_lesson.get(l["id"], []),
                "attendance": None})
        return jsonify({"student_id": student_id, "days": days})

    return app
