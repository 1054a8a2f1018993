"""record_lesson and post_marks on real RabbitMQ + PostgreSQL: who may write
(R-A3), the journal's rules (R-J1, R-J3, R-J4, R-J5, R-J6, R-J9), the version
chain (R-J7), all-or-nothing writes and the events they publish."""
from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import eventlet
import pytest
from kombu import Connection, Exchange, Queue
from sqlalchemy import or_, select, update

from journal import domain, errors, store
from kernel.db import new_id


def school_today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Europe/Moscow")).date()


def raises(code, fn, *args):
    with pytest.raises(errors.ServiceError) as exc:
        fn(*args)
    assert exc.value.code == code, exc.value.to_dict()
    return exc.value


def days_ago(n: int) -> dt.date:
    return school_today() - dt.timedelta(days=n)


@pytest.fixture
def school(make):
    """A grade-5 class with a class teacher, a maths teacher, two students."""
    year = make.year()
    class_teacher, teacher = make.person("class_teacher", "teacher"), make.person("teacher")
    klass = make.klass(year, grade=5, letter="А", class_teacher_id=class_teacher)
    maths = make.subject("Математика")
    make.assign(teacher, klass, maths)
    students = [make.person("student"), make.person("student")]
    for student in students:
        make.enrol(student, klass)
    return SimpleNamespace(year=year, klass=klass, maths=maths, teacher=teacher, class_teacher=class_teacher,
                           students=students)


def lesson_data(school, **over):
    data = {"class_id": school.klass.id, "subject_id": school.maths.id, "date": school_today().isoformat(),
            "topic": "Сложение дробей", "lesson_type": "урок", "homework": "№ 245, 246"}
    data.update(over)
    return data


# --- record_lesson ------------------------------------------------------------

def test_assigned_teacher_records_a_lesson_and_lesson_recorded_is_published(journal, make, school):
    ctx = make.ctx(school.teacher, "teacher")
    result = journal.call("record_lesson", ctx, lesson_data(school, work_type="самостоятельная работа"))
    assert result["late"] is False and result["overdue"] is False
    assert result["teacher_id"] == school.teacher and result["subject_name"] == "Математика"
    [lesson] = make.rows(store.Lesson, id=result["id"])
    assert lesson.school_id == make.school_id and lesson.topic == "Сложение дробей"
    [event] = make.events("lesson_recorded")
    assert event["actor_id"] == school.teacher and event["school_id"] == make.school_id
    assert event["payload"] == {
        "lesson_id": result["id"], "class_id": school.klass.id, "subject_id": school.maths.id,
        "subject_name": "Математика", "teacher_id": school.teacher, "date": school_today().isoformat(),
        "topic": "Сложение дробей", "lesson_type": "урок", "work_type": "самостоятельная работа",
        "homework": "№ 245, 246", "subgroup_id": None, "substitute_for": None, "late": False, "overdue": False,
        "imported": False, "recorded_on": None}


@pytest.mark.parametrize("lag,late,overdue", [(1, True, False), (3, True, False), (4, True, True)])
def test_late_and_overdue_entries_are_flagged_r_j5(journal, make, school, lag, late, overdue):
    result = journal.call("record_lesson", make.ctx(school.teacher, "teacher"),
                          lesson_data(school, date=days_ago(lag).isoformat()))
    assert (result["late"], result["overdue"]) == (late, overdue)
    payload = make.events("lesson_recorded")[0]["payload"]
    assert (payload["late"], payload["overdue"]) == (late, overdue)


def test_unassigned_teacher_may_not_record_r_a3(journal, make, school):
    stranger = make.person("teacher")
    err = raises("NOT_ASSIGNED", journal.call, "record_lesson", make.ctx(stranger, "teacher"), lesson_data(school))
    assert err.kind == "forbidden"
    other_subject = make.subject("Физика")
    raises("NOT_ASSIGNED", journal.call, "record_lesson", make.ctx(school.teacher, "teacher"),
           lesson_data(school, subject_id=other_subject.id))
    assert make.rows(store.Lesson) == [] and make.events() == []


def test_class_teacher_and_admin_may_record(journal, make, school):
    journal.call("record_lesson", make.ctx(school.class_teacher, "class_teacher"), lesson_data(school))
    journal.call("record_lesson", make.ctx(make.person("admin"), "admin"), lesson_data(school))
    assert len(make.rows(store.Lesson)) == 2


def test_subgroup_teacher_records_only_their_subgroup_r_s5(journal, make, school):
    english = make.subject("Английский язык")
    g1, g2 = make.subgroup(school.klass, english), make.subgroup(school.klass, english)
    group_teacher = make.person("teacher")
    make.assign(group_teacher, school.klass, english, subgroup_id=g1.id)
    ctx = make.ctx(group_teacher, "teacher")
    journal.call("record_lesson", ctx, lesson_data(school, subject_id=english.id, subgroup_id=g1.id))
    raises("NOT_ASSIGNED", journal.call, "record_lesson", ctx, lesson_data(school, subject_id=english.id,
                                                                        subgroup_id=g2.id))
    assert make.events("lesson_recorded")[0]["payload"]["subgroup_id"] == g1.id


def test_topic_is_required_r_j1(journal, make, school):
    err = raises("VALIDATION_ERROR", journal.call, "record_lesson", make.ctx(school.teacher, "teacher"),
                 lesson_data(school, topic="  "))
    assert err.kind == "bad_request" and err.details == {"field": "topic"}


def test_no_homework_in_grade_1_r_j4(journal, make, school):
    first = make.klass(school.year, grade=1, letter="А", class_teacher_id=school.class_teacher)
    ctx = make.ctx(school.class_teacher, "class_teacher")
    raises("NO_HOMEWORK_IN_GRADE_1", journal.call, "record_lesson", ctx, lesson_data(school, class_id=first.id))
    journal.call("record_lesson", ctx, lesson_data(school, class_id=first.id, homework=None))
    assert [l.class_id for l in make.rows(store.Lesson)] == [first.id]


def test_lesson_date_must_lie_in_a_period_of_an_open_year(journal, make, school):
    ctx = make.ctx(school.teacher, "teacher")
    raises("LESSON_OUTSIDE_PERIOD", journal.call, "record_lesson", ctx, lesson_data(school, date=days_ago(95).isoformat()))
    raises("LESSON_OUTSIDE_PERIOD", journal.call, "record_lesson", ctx, lesson_data(school, date=days_ago(365).isoformat()))
    old_year = make.year(archived=True)
    old_class = make.klass(old_year, class_teacher_id=school.teacher)
    raises("YEAR_CLOSED", journal.call, "record_lesson", ctx, lesson_data(school, class_id=old_class.id))
    raises("VALIDATION_ERROR", journal.call, "record_lesson", ctx, lesson_data(school, date="вчера"))
    assert make.rows(store.Lesson) == []


def test_unknown_or_foreign_class_is_not_found(journal, make, school):
    ctx = make.ctx(school.teacher, "teacher")
    raises("NOT_FOUND", journal.call, "record_lesson", ctx, lesson_data(school, class_id="nope"))
    foreign = make.klass(make.year(school_id="school-2"))
    raises("NOT_FOUND", journal.call, "record_lesson", ctx, lesson_data(school, class_id=foreign.id))
    raises("NOT_FOUND", journal.call, "record_lesson", ctx, lesson_data(school, subject_id="nope"))


def test_substitution_is_recorded_r_j6(journal, make, school):
    result = journal.call("record_lesson", make.ctx(school.class_teacher, "class_teacher"),
                          lesson_data(school, substitute_for=school.teacher))
    assert result["substitute_for"] == school.teacher and result["teacher_id"] == school.class_teacher
    raises("SUBSTITUTE_NOT_ASSIGNED", journal.call, "record_lesson", make.ctx(school.class_teacher, "class_teacher"),
           lesson_data(school, substitute_for=make.person("teacher")))


# --- post_marks ---------------------------------------------------------------

def post(journal, ctx, lesson, marks):
    return journal.call("post_marks", ctx, lesson.id, marks)


def test_post_marks_writes_version_1_and_publishes_mark_posted(journal, make, school):
    lesson = make.lesson(school.klass, school.maths, school.teacher, days_ago(1))
    a, b = school.students
    result = post(journal, make.ctx(school.teacher, "teacher"), lesson, [
        {"student_id": a, "value": 5},
        {"student_id": b, "value": 3, "kind": "test", "weight": 2, "comment": "ошибка в задаче 3"},
        {"student_id": a, "value": 4, "kind": "homework"},  # several marks per lesson (R-J3)
    ])
    marks = result["marks"]
    assert [(m["student_id"], m["value"], m["kind"], m["weight"], m["comment"]) for m in marks] == [
        (a, 5, "oral", 1, None), (b, 3, "test", 2, "ошибка в задаче 3"), (a, 4, "homework", 1, None)]
    assert all(set(m) == {"id", "student_id", "value", "kind", "weight", "comment"} for m in marks)
    events = make.events("mark_posted")
    assert [e["payload"] for e in events] == [{
        "mark_id": m["id"], "lesson_id": lesson.id, "student_id": m["student_id"], "class_id": school.klass.id,
        "subject_id": school.maths.id, "subject_name": "Математика", "date": days_ago(1).isoformat(),
        "value": m["value"], "kind": m["kind"], "weight": m["weight"], "comment": m["comment"],
        "teacher_id": school.teacher} for m in marks]
    with make.sessions() as s:
        for m in marks:
            chain = store.lessons.mark_chain(s, mark_id=m["id"])
            assert len(chain) == 1 and chain[0][0]["value"] == m["value"] and chain[0][1] == domain.chain.GENESIS_HASH
            assert domain.chain.verify_chain(chain)
    [row] = make.rows(store.Mark, id=marks[0]["id"])
    assert row.author_id == school.teacher and row.version == 1 and not row.removed


def test_a_class_of_30_marks_is_one_write_round_trip_and_a_bounded_number_of_statements(journal, make, school):
    """P2: the marks, their first versions, their one packed outbox row and
    the Idempotency-Key go to PostgreSQL as ONE round trip (in that order),
    and the whole request costs the same number of statements for 1 mark as
    for 30; the 30 events are one outbox row."""
    import uuid

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    lesson = make.lesson(school.klass, school.maths, school.teacher, days_ago(1))
    pupils = [make.person("student") for _ in range(30)]
    for pupil in pupils:
        make.enrol(pupil, school.klass)
    ctx = make.ctx(school.teacher, "teacher")

    def statements_of(marks):
        seen = []

        def listener(conn, cursor, statement, *args):
            if "outbox" not in statement or "INSERT" in statement:  # not the relay's polling
                seen.append(statement)

        event.listen(Engine, "before_cursor_execute", listener)
        try:
            journal.call("post_marks", ctx, lesson.id, marks, str(uuid.uuid4()))
        finally:
            event.remove(Engine, "before_cursor_execute", listener)
        return seen

    one = statements_of([{"student_id": pupils[0], "value": 5}])
    thirty = statements_of([{"student_id": p, "value": 2 + i % 4} for i, p in enumerate(pupils)])
    [write] = [s for s in thirty if "INSERT" in s]
    heads = [line.split(" (")[0] for line in write.split(";\n")]
    assert heads == ["INSERT INTO marks", "INSERT INTO mark_versions", "INSERT INTO outbox",
                     "INSERT INTO idempotency_keys"], heads
    assert len(thirty) == len(one), thirty
    assert len(make.rows(store.Mark)) == 31 and len(make.rows(store.MarkVersion)) == 31
    assert len(make.rows_of_table("outbox")) == 2  # one packed row per request
    assert len(make.events("mark_posted")) == 31


def test_post_marks_reaches_the_broker(journal, make, school, service_config):
    """The outbox relay publishes mark_posted to the journal.events exchange."""
    lesson = make.lesson(school.klass, school.maths, school.teacher, days_ago(1))
    exchange = Exchange("journal.events", type="topic", durable=True)
    queue = Queue("test-mark-posted", exchange=exchange, routing_key="mark_posted", auto_delete=True)
    with Connection(service_config["AMQP_URI"]) as conn:
        queue(conn.channel()).declare()
        post(journal, make.ctx(school.teacher, "teacher"), lesson, [{"student_id": school.students[0], "value": 4}])
        bound = queue(conn.channel())
        message = None
        for _ in range(50):
            message = bound.get(no_ack=True)
            if message:
                break
            eventlet.sleep(0.1)
        assert message is not None, "mark_posted never reached the broker"
        body = message.payload if isinstance(message.payload, dict) else json.loads(message.body)
        assert body["type"] == "mark_posted" and body["payload"]["value"] == 4
        assert message.properties.get("delivery_mode") == 2


def test_unassigned_teacher_may_not_post_marks_r_a3(journal, make, school):
    lesson = make.lesson(school.klass, school.maths, school.teacher, days_ago(1))
    raises("NOT_ASSIGNED", post, journal, make.ctx(make.person("teacher"), "teacher"), lesson,
           [{"student_id": school.students[0], "value": 5}])
    post(journal, make.ctx(school.class_teacher, "class_teacher"), lesson, [{"student_id": school.students[0], "value": 5}])
    assert len(make.rows(store.Mark)) == 1


def test_failed_post_marks_leaves_no_marks_and_no_event(journal, make, school):
    """All or nothing: one student from another class spoils the whole request."""
    lesson = make.lesson(school.klass, school.maths, school.teacher, days_ago(1))
    outsider = make.person("student")
    make.enrol(outsider, make.klass(school.year, grade=5, letter="Б"))
    err = raises("STUDENT_NOT_IN_CLASS", post, journal, make.ctx(school.teacher, "teacher"), lesson,
                 [{"student_id": school.students[0], "value": 5}, {"student_id": outsider, "value": 4}])
    assert err.kind == "rule" and err.details == {"field": "marks", "student_ids": [outsider]}
    assert make.rows(store.Mark) == [] and make.rows(store.MarkVersion) == [] and make.events() == []


def test_student_who_left_before_the_lesson_is_not_in_class(journal, make, school):
    lesson = make.lesson(school.klass, school.maths, school.teacher, days_ago(5))
    gone, joined_later = make.person("student"), make.person("student")
    make.enrol(gone, school.klass, on=days_ago(60), left_on=days_ago(5))
    make.enrol(joined_later, school.klass, on=days_ago(2))
    for student in (gone, joined_later):
        raises("STUDENT_NOT_IN_CLASS", post, journal, make.ctx(school.teacher, "teacher"), lesson,
               [{"student_id": student, "value": 4}])
    assert make.rows(store.Mark) == []


def test_no_marks_in_grade_1_r_j4(journal, make, school):
    first = make.klass(school.year, grade=1, letter="В", class_teacher_id=school.class_teacher)
    pupil = make.person("student")
    make.enrol(pupil, first)
    lesson = make.lesson(first, school.maths, school.class_teacher, days_ago(1))
    raises("NO_MARKS_IN_GRADE_1", post, journal, make.ctx(school.class_teacher, "class_teacher"), lesson,
           [{"student_id": pupil, "value": 5}])
    assert make.rows(store.Mark) == [] and make.events() == []


@pytest.mark.parametrize("entry,code", [
    ({"value": 1}, "INVALID_MARK"),
    ({"value": 6}, "INVALID_MARK"),
    ({"value": "5+"}, "INVALID_MARK"),
    ({"value": "осв."}, "EXEMPT_NOT_ALLOWED"),
    ({"value": 5, "comment": "осв"}, "EXEMPT_NOT_ALLOWED"),
    ({"value": 5, "kind": "exam"}, "VALIDATION_ERROR"),
    ({"value": 5, "weight": 9}, "VALIDATION_ERROR"),
])
def test_mark_rules_r_j3_r_j9(journal, make, school, entry, code):
    lesson = make.lesson(school.klass, school.maths, school.teacher, days_ago(1))
    raises(code, post, journal, make.ctx(school.teacher, "teacher"), lesson,
           [{"student_id": school.students[1], "value": 4}, {"student_id": school.students[0], **entry}])
    assert make.rows(store.Mark) == [] and make.events() == []


def test_mark_1_when_the_school_allows_it(journal_with, make, school):
    journal = journal_with(EJOURNAL_ALLOW_MARK_1="1")
    lesson = make.lesson(school.klass, school.maths, school.teacher, days_ago(1))
    result = post(journal, make.ctx(school.teacher, "teacher"), lesson, [{"student_id": school.students[0], "value": 1}])
    assert result["marks"][0]["value"] == 1


def test_post_marks_bad_requests(journal, make, school):
    ctx = make.ctx(school.teacher, "teacher")
    lesson = make.lesson(school.klass, school.maths, school.teacher, days_ago(1))
    raises("VALIDATION_ERROR", post, journal, ctx, lesson, [])
    raises("VALIDATION_ERROR", journal.call, "post_marks", ctx, None, [{"student_id": "x", "value": 5}])
    raises("NOT_FOUND", journal.call, "post_marks", ctx, "no-such-lesson", [{"student_id": "x", "value": 5}])
    foreign_ctx = make.ctx(school.teacher, "teacher", school_id="school-2")
    raises("NOT_FOUND", post, journal, foreign_ctx, lesson, [{"student_id": school.students[0], "value": 5}])


def test_no_marks_for_a_future_lesson(journal, make, school):
    lesson = make.lesson(school.klass, school.maths, school.teacher, school_today() + dt.timedelta(days=2))
    raises("LESSON_IN_FUTURE", post, journal, make.ctx(school.teacher, "teacher"), lesson,
           [{"student_id": school.students[0], "value": 5}])


def students_enrolled_on(session, *, class_id: str, student_ids, day: dt.date) -> set[str]:
    """The oracle: which of ``student_ids`` are in the class on ``day``,
    asked of the enrolments directly."""
    enrolment = store.Enrolment
    return set(session.scalars(select(enrolment.student_id).where(
        enrolment.class_id == class_id, enrolment.student_id.in_(set(student_ids)), enrolment.enrolled_on <= day,
        or_(enrolment.left_on.is_(None), enrolment.left_on > day))))


def test_lesson_write_context_reads_what_the_separate_checks_read(make, school):
    """P2's one-statement read for posting marks (store.lessons.lesson_write_context)
    answers what lesson_context, assigned_subgroups and
    students_enrolled_on answer, for a whole-class and a subgroup
    assignment, no assignment, students who left or came later, another
    school and an unknown lesson (R-A3, R-S5, R-J9)."""
    day = days_ago(10)
    group_teacher, stranger = make.person("teacher"), make.person("teacher")
    make.assign(group_teacher, school.klass, school.maths, subgroup_id="group-1")
    make.assign(group_teacher, school.klass, school.maths, subgroup_id="group-2")
    left, late = make.person("student"), make.person("student")
    make.enrol(left, school.klass, left_on=day)                         # gone on the lesson's day
    make.enrol(late, school.klass, on=day + dt.timedelta(days=1))       # not yet there
    lessons = [make.lesson(school.klass, school.maths, school.teacher, day),
               make.lesson(school.klass, school.maths, group_teacher, day, subgroup_id="group-1")]
    with make.sessions() as s:
        for lesson in lessons:
            for teacher in (school.teacher, group_teacher, stranger, school.class_teacher):
                got = store.lessons.lesson_write_context(s, school_id=make.school_id, lesson_id=lesson.id, teacher_id=teacher)
                found_lesson, klass, subject, year = store.lessons.lesson_context(s, school_id=make.school_id,
                                                                         lesson_id=lesson.id)
                assert (got.id, got.class_id, got.subject_id, got.date, got.subgroup_id) == (
                    found_lesson.id, klass.id, subject.id, found_lesson.date, found_lesson.subgroup_id)
                assert (got.grade, got.class_teacher_id, got.subject_name, got.archived) == (
                    klass.grade, klass.class_teacher_id, subject.name, year.archived)
                assert sorted(got.assigned_subgroups, key=str) == sorted(store.structure.assigned_subgroups(
                    s, teacher_id=teacher, class_id=klass.id, subject_id=subject.id), key=str)
                everyone = list(school.students) + [left, late]
                assert got.enrolled == students_enrolled_on(s, class_id=klass.id, student_ids=everyone,
                                                            day=found_lesson.date)
        first = store.lessons.lesson_write_context(s, school_id=make.school_id, lesson_id=lessons[0].id,
                                         teacher_id=group_teacher)
        assert sorted(first.assigned_subgroups) == ["group-1", "group-2"]
        assert left not in first.enrolled and late not in first.enrolled
        assert store.lessons.lesson_write_context(s, school_id=new_id(), lesson_id=lessons[0].id,
                                        teacher_id=school.teacher) is None
        assert store.lessons.lesson_write_context(s, school_id=make.school_id, lesson_id=new_id(),
                                        teacher_id=school.teacher) is None


@pytest.mark.parametrize("table, column", [("outbox", "body"), ("idempotency_keys", "result")])
def test_the_large_text_of_a_marks_post_is_lz4_compressed_on_postgresql(make, table, column):
    """Migration 0006_lz4: a class's packed outbox row (about 20 kB) and
    its stored first result (about 3 kB) are compressed with lz4, not pglz,
    where the server has it."""
    from sqlalchemy import text

    with make.sessions() as s:
        available = s.execute(text(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")).scalar()
        method = s.execute(text("SELECT attcompression FROM pg_attribute "
                                "WHERE attrelid = CAST(:t AS regclass) AND attname = :c"),
                           {"t": table, "c": column}).scalar()
    assert method == ("l" if available else "")


def test_a_marks_key_is_looked_up_with_the_lesson_and_still_wins_over_its_checks(journal, make, school):
    """post_marks reads its Idempotency-Key in the rules' own statement: a
    retry returns the first result even when the checks would now refuse it
    (the student left since), a key reused for another request is 409, also
    for a lesson that does not exist (the key is read without the lesson)."""
    lesson = make.lesson(school.klass, school.maths, school.teacher, days_ago(1))
    ctx = make.ctx(school.teacher, "teacher")
    student = make.person("student")
    make.enrol(student, school.klass)
    body = [{"student_id": student, "value": 4}]
    first = journal.call("post_marks", ctx, lesson.id, body, "key-marks-0001")
    with make.sessions.begin() as s:
        s.execute(update(store.Enrolment).where(store.Enrolment.student_id == student)
                  .values(left_on=days_ago(5)))
    assert journal.call("post_marks", ctx, lesson.id, body, "key-marks-0001") == first
    assert len(make.rows(store.Mark, student_id=student)) == 1
    raises("STUDENT_NOT_IN_CLASS", journal.call, "post_marks", ctx, lesson.id, body, "key-marks-0002")
    raises("IDEMPOTENCY_KEY_REUSED", journal.call, "post_marks", ctx, lesson.id,
           [{"student_id": school.students[0], "value": 5}], "key-marks-0001")
    raises("IDEMPOTENCY_KEY_REUSED", journal.call, "post_marks", ctx, new_id(), body, "key-marks-0001")
    raises("NOT_FOUND", journal.call, "post_marks", ctx, new_id(), body, "key-marks-0003")
