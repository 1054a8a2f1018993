"""The projections every report kind reads (lessons, attendance and its
corrections, movements, plans, parents, access per user and day), built from
the producers' events on the real RabbitMQ and PostgreSQL: idempotent, and a
malformed payload is dead-lettered instead of half-applied."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import create_engine, select

from kernel.db import new_id
from reports import store


def rows(db_url, model, **where):
    engine = create_engine(db_url)
    try:
        query = select(model.__table__)
        for column, value in where.items():
            query = query.where(model.__table__.c[column] == value)
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]
    finally:
        engine.dispose()


def lesson_payload(class_id, subject_id, **overrides):
    payload = {"lesson_id": new_id(), "class_id": class_id, "subject_id": subject_id, "subject_name": "Математика",
               "teacher_id": new_id(), "date": "2026-09-14", "topic": "Дроби", "lesson_type": "урок",
               "work_type": "контрольная работа", "homework": "№ 12", "subgroup_id": None,
               "substitute_for": None, "late": True, "overdue": False, "imported": False, "recorded_on": None}
    payload.update(overrides)
    return payload


def test_lessons_projected_with_type_homework_deadline_and_import(school, db_url):
    class_id, subject_id = new_id(), new_id()
    first = lesson_payload(class_id, subject_id)
    env = school.journal("lesson_recorded", first)
    school.publish.send(env)  # redelivered: still one row
    school.journal("lesson_recorded", lesson_payload(class_id, subject_id, homework="  ", late=False,
                                                     imported=True, recorded_on="2026-09-20"))
    lessons = sorted(rows(db_url, store.Lesson, class_id=class_id), key=lambda r: r["imported"])
    assert [(r["has_homework"], r["late"], r["imported"], r["work_type"]) for r in lessons] == [
        (True, True, False, "контрольная работа"), (False, False, True, "контрольная работа")]
    assert lessons[1]["recorded_on"] == dt.date(2026, 9, 20)


def test_attendance_newest_status_wins_and_corrections_are_kept(school, db_url):
    class_id, lesson_id, student = new_id(), new_id(), new_id()
    base = {"lesson_id": lesson_id, "class_id": class_id, "subject_id": new_id(), "subject_name": "История",
            "date": "2026-09-14", "reason": None}
    first = school.publish.envelope("journal", "attendance_recorded",
                                    {**base, "entries": [{"student_id": student, "status": "absent",
                                                          "previous": None}]}, school.school_id,
                                    occurred_at="2026-09-14T09:00:00+00:00")
    second = school.publish.envelope("journal", "attendance_recorded",
                                     {**base, "reason": "справка", "entries": [
                                         {"student_id": student, "status": "ill", "previous": "absent"}]},
                                     school.school_id, occurred_at="2026-09-16T09:00:00+00:00")
    school.publish.send(second)
    school.publish.send(first)  # older, arriving late: changes nothing
    school.publish.send(second)  # redelivered: one correction
    [entry] = rows(db_url, store.Attendance, lesson_id=lesson_id)
    assert entry["status"] == "ill"
    [correction] = rows(db_url, store.AttendanceCorrection, lesson_id=lesson_id)
    assert (correction["previous"], correction["status"], correction["reason"]) == ("absent", "ill", "справка")


def test_movements_close_the_enrolment_of_the_class_left(school, db_url):
    from_class, to_class, student = new_id(), new_id(), new_id()
    school.journal("student_enrolled", {"student_id": student, "class_id": from_class, "order_no": "1-у",
                                        "on": "2026-09-01"})
    school.journal("student_transferred", {"student_id": student, "from_class_id": from_class,
                                           "to_class_id": to_class, "order_no": "15-у", "on": "2026-10-01"})
    school.journal("student_enrolled", {"student_id": student, "class_id": to_class, "order_no": "15-у",
                                        "on": "2026-10-01"})
    school.journal("student_left", {"student_id": student, "class_id": to_class, "order_no": "20-у",
                                    "on": "2026-12-01", "reason": "left", "comment": "переезд"})
    left = {r["class_id"]: (r["left_on"], r["left_order_no"], r["left_reason"])
            for r in rows(db_url, store.Enrolment, student_id=student)}
    assert left == {from_class: (dt.date(2026, 10, 1), "15-у", "transferred"),
                    to_class: (dt.date(2026, 12, 1), "20-у", "left")}
    assert sorted((m["kind"], m["order_no"]) for m in rows(db_url, store.Movement, student_id=student)) == [
        ("left", "20-у"), ("transferred", "15-у")]


def test_plans_parents_and_emphasis(school, db_url):
    class_id, plan_id = new_id(), new_id()
    school.journal("plan_created", {"plan_id": plan_id, "class_id": class_id, "subject_id": new_id(),
                                    "period_id": new_id(), "teacher_id": new_id(), "hours": 36,
                                    "topics": [{"number": 1, "title": "Дроби", "hours": 2}]})
    [plan] = rows(db_url, store.Plan, id=plan_id)
    assert (plan["hours"], plan["topics"]) == (36, 1)
    student, parent = new_id(), new_id()
    school.identity("parent_linked", {"student_id": student, "parent_id": parent, "relation": "мать"})
    assert rows(db_url, store.ParentLink, student_id=student)[0]["parent_id"] == parent
    subject_id = new_id()
    school.journal("subject_created", {"subject_id": subject_id, "name": "Физика", "emphasis": True})
    assert rows(db_url, store.Subject, id=subject_id)[0]["emphasis"] is True


def access_env(school, user_id, at, route="/api/v1/lessons", method="GET", status=200):
    return school.publish.envelope("gateway", "access_recorded", {
        "user_id": user_id, "roles": ["parent"], "method": method, "route": route, "resource_id": None,
        "status": status, "address": "127.0.0.1"}, school.school_id, occurred_at=at)


def test_access_counted_per_user_and_day_once_per_event(school, db_url):
    user = new_id()
    login = access_env(school, user, "2026-10-05T07:00:00+00:00", route="/api/v1/auth/login", method="POST")
    read = access_env(school, user, "2026-10-05T07:01:00+00:00")
    refused = access_env(school, user, "2026-10-06T07:00:00+00:00", route="/api/v1/auth/login", method="POST",
                         status=401)
    malformed = access_env(school, user, "2026-10-06T08:00:00+00:00")
    malformed["payload"]["status"] = "ok"
    other = new_id()
    school.publish.send(access_env(school, other, "2026-10-05T06:00:00+00:00"))
    batch = school.publish.envelope("gateway", "access_recorded_batch", {"events": [
        login, read, refused, malformed, access_env(school, other, "2026-10-05T07:30:00+00:00")]}, None)
    school.publish.send(batch)  # one statement adds two users' days and adds to one counted before
    school.publish.send(batch)  # redelivered: nothing counted twice
    school.publish.send(access_env(school, user, "2026-10-06T09:00:00+00:00"))
    days = {r["day"]: (r["actions"], r["logins"]) for r in rows(db_url, store.AccessDay, user_id=user)}
    assert days == {dt.date(2026, 10, 5): (2, 1), dt.date(2026, 10, 6): (2, 0)}
    assert [(r["day"], r["actions"]) for r in rows(db_url, store.AccessDay, user_id=other)] == [
        (dt.date(2026, 10, 5), 2)]
    dead = rows(db_url, _DeadLetter, consumer="reports.on_access_recorded")
    assert len(dead) >= 1


def test_access_counted_on_the_schools_day_not_utcs(school, db_url):
    """R-A6: a parent's Monday 01:30 in Moscow (Sunday 22:30 UTC) is Monday's
    visit, so the weekly activity page counts it in Monday's week."""
    user = new_id()
    school.publish.send(access_env(school, user, "2026-10-04T22:30:00+00:00"))
    school.publish.send(access_env(school, user, "2026-10-04T20:30:00+00:00"))
    days = {r["day"]: r["actions"] for r in rows(db_url, store.AccessDay, user_id=user)}
    assert days == {dt.date(2026, 10, 5): 1, dt.date(2026, 10, 4): 1}


class _DeadLetter:
    __table__ = store.tables["dead_letters"]


def test_malformed_lesson_and_attendance_are_dead_lettered(school, db_url):
    school.journal("lesson_recorded", lesson_payload(new_id(), new_id(), date="14.09.2026"))
    school.journal("attendance_recorded", {"lesson_id": new_id(), "class_id": new_id(), "subject_id": new_id(),
                                           "date": "2026-09-14", "entries": [{"student_id": new_id(),
                                                                              "status": "away"}]})
    consumers = {r["consumer"] for r in rows(db_url, _DeadLetter)}
    assert {"reports.on_lesson_recorded", "reports.on_attendance_recorded"} <= consumers
