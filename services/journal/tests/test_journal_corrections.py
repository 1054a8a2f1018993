"""Corrections and removals of marks with their hash-chained history (R-J7),
the tamper check (service RPC and ``python -m journal.verify``), idempotent
writes (API.md Idempotency-Key) and the 0002 migration, on real RabbitMQ and
PostgreSQL."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from journal import errors, store
from journal import verify as verify_cli


def school_today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Europe/Moscow")).date()


def raises(code, fn, *args, **kwargs):
    with pytest.raises(errors.ServiceError) as exc:
        fn(*args, **kwargs)
    assert exc.value.code == code, exc.value.to_dict()
    return exc.value


@pytest.fixture
def school(make):
    year = make.year()
    class_teacher, teacher = make.person("class_teacher", "teacher"), make.person("teacher")
    klass = make.klass(year, grade=5, letter="А", class_teacher_id=class_teacher)
    maths = make.subject("Математика")
    make.assign(teacher, klass, maths)
    students = [make.person("student"), make.person("student")]
    for student in students:
        make.enrol(student, klass)
    lesson = make.lesson(klass, maths, teacher, school_today() - dt.timedelta(days=1))
    return SimpleNamespace(year=year, klass=klass, maths=maths, teacher=teacher, class_teacher=class_teacher,
                           students=students, lesson=lesson)


def post(journal, make, school, value=4, *key):
    result = journal.call("post_marks", make.ctx(school.teacher, "teacher"), school.lesson.id,
                          [{"student_id": school.students[0], "value": value}], *key)
    return result["marks"][0]["id"]


def test_correction_keeps_old_value_and_chains_version_2_r_j7(journal, make, school):
    mark_id = post(journal, make, school, 3)
    ctx = make.ctx(school.teacher, "teacher")
    result = journal.call("correct_mark", ctx, mark_id, {"value": 5, "reason": "Ошибка при вводе"})
    assert (result["value"], result["version"], result["old"]["value"]) == (5, 2, 3)
    [mark] = make.rows(store.Mark, id=mark_id)
    assert (mark.value, mark.version) == (5, 2)
    history = journal.call("mark_history", make.ctx(make.person("deputy"), "deputy"), mark_id)
    assert history["verified"] is True and history["problems"] == []
    assert [(v["version"], v["value"], v["reason"], v["by"]) for v in history["items"]] == [
        (1, 3, None, school.teacher), (2, 5, "Ошибка при вводе", school.teacher)]
    [v1, v2] = make.rows(store.MarkVersion, mark_id=mark_id)
    assert v2.prev_hash == v1.hash != v2.hash
    [event] = make.events("mark_corrected")
    assert event["payload"] == {
        "mark_id": mark_id, "lesson_id": school.lesson.id, "student_id": school.students[0],
        "class_id": school.klass.id, "subject_id": school.maths.id, "subject_name": "Математика",
        "date": school.lesson.date.isoformat(), "version": 2, "value": 5, "kind": "oral", "weight": 1,
        "comment": None, "old": {"value": 3, "kind": "oral", "weight": 1, "comment": None},
        "reason": "Ошибка при вводе", "corrected_by": school.teacher}


def test_reason_is_required_and_nothing_half_written_r_j7(journal, make, school):
    mark_id = post(journal, make, school)
    ctx = make.ctx(school.teacher, "teacher")
    err = raises("VALIDATION_ERROR", journal.call, "correct_mark", ctx, mark_id, {"value": 5})
    assert err.details == {"field": "reason"}
    raises("VALIDATION_ERROR", journal.call, "remove_mark", ctx, mark_id, {"reason": "  "})
    raises("INVALID_MARK", journal.call, "correct_mark", ctx, mark_id, {"value": 7, "reason": "x"})
    raises("EXEMPT_NOT_ALLOWED", journal.call, "correct_mark", ctx, mark_id, {"value": "осв.", "reason": "x"})
    raises("NOTHING_CHANGED", journal.call, "correct_mark", ctx, mark_id, {"value": 4, "reason": "x"})
    assert len(make.rows(store.MarkVersion, mark_id=mark_id)) == 1
    assert make.events("mark_corrected") == [] and make.events("mark_removed") == []


def test_only_the_author_a_deputy_or_the_admin_corrects(journal, make, school):
    mark_id = post(journal, make, school)
    other = make.person("teacher")
    err = raises("FORBIDDEN", journal.call, "correct_mark", make.ctx(other, "teacher"), mark_id,
                 {"value": 5, "reason": "x"})
    assert err.kind == "forbidden"
    journal.call("correct_mark", make.ctx(make.person("deputy"), "deputy"), mark_id, {"value": 5, "reason": "Апелляция"})
    raises("NOT_FOUND", journal.call, "correct_mark", make.ctx(school.teacher, "teacher", school_id="other"),
           mark_id, {"value": 3, "reason": "x"})


def test_removal_is_a_tombstone_and_the_diary_stops_showing_it_r_j7(journal, make, school):
    mark_id = post(journal, make, school, 2)
    ctx = make.ctx(school.teacher, "teacher")
    journal.call("remove_mark", ctx, mark_id, {"reason": "Поставлена не тому ученику"})
    [mark] = make.rows(store.Mark, id=mark_id)
    assert mark.removed is True and mark.value == 2 and mark.version == 2
    with make.sessions() as s:
        assert store.reads.diary_marks(s, school_id=make.school_id, student_id=school.students[0],
                                       start=school.lesson.date, end=school.lesson.date) == {}
    raises("MARK_REMOVED", journal.call, "correct_mark", ctx, mark_id, {"value": 5, "reason": "x"})
    raises("MARK_REMOVED", journal.call, "remove_mark", ctx, mark_id, {"reason": "ещё раз"})
    [event] = make.events("mark_removed")
    assert event["payload"]["old_value"] == 2 and event["payload"]["reason"] == "Поставлена не тому ученику"
    assert event["payload"]["removed_by"] == school.teacher and event["payload"]["version"] == 2


def test_history_is_for_staff_only(journal, make, school):
    mark_id = post(journal, make, school)
    raises("FORBIDDEN", journal.call, "mark_history", make.ctx(school.students[0], "student"), mark_id)
    raises("NOT_FOUND", journal.call, "mark_history", make.ctx(school.teacher, "teacher"), "nope")


def test_verify_detects_a_row_edited_behind_the_service_r_j7(journal, make, school, sessions, db_url):
    admin = make.ctx(make.person("admin"), "admin")
    first, second = post(journal, make, school, 3), post(journal, make, school, 4)
    journal.call("correct_mark", make.ctx(school.teacher, "teacher"), second, {"value": 5, "reason": "Пересдача"})
    clean = journal.call("verify_journal", admin)
    assert clean == {"ok": True, "checked": 2, "broken": [], "broken_count": 0,
                     "attendance": {"checked": 0, "broken": [], "broken_count": 0}}
    assert verify_cli.verify(sessions, school_id=make.school_id)["ok"] is True
    with sessions.begin() as s:  # someone with database access "improves" a mark
        s.execute(text("UPDATE marks SET value = 5 WHERE id = :id"), {"id": first})
        s.execute(text("UPDATE mark_versions SET reason = 'по просьбе' WHERE mark_id = :id AND version = 2"),
                  {"id": second})
    found = journal.call("verify_journal", admin)
    assert found["ok"] is False and found["checked"] == 2
    assert sorted((b["mark_id"], tuple(b["problems"])) for b in found["broken"]) == sorted(
        [(first, ("value",)), (second, ("chain",))])
    assert verify_cli.main(["--database-url", db_url, "--school", make.school_id]) == 1
    raises("FORBIDDEN", journal.call, "verify_journal", make.ctx(school.teacher, "teacher"))
    history = journal.call("mark_history", admin, first)
    assert history["verified"] is False and history["problems"] == ["value"]


def test_rehashing_a_forged_version_still_breaks_the_next_link(journal, make, school, sessions):
    """Recomputing the edited version's own hash is not enough: version 3
    chains to the old hash of version 2."""
    from journal.domain.chain import chain_hash
    mark_id = post(journal, make, school, 3)
    ctx = make.ctx(school.teacher, "teacher")
    journal.call("correct_mark", ctx, mark_id, {"value": 4, "reason": "a"})
    journal.call("correct_mark", ctx, mark_id, {"value": 5, "reason": "b"})
    with sessions.begin() as s:
        chain = store.lessons.mark_chain(s, mark_id=mark_id)
        content, prev, _ = chain[1]
        content["reason"] = "подделка"
        s.execute(text("UPDATE mark_versions SET reason = 'подделка', hash = :h WHERE mark_id = :id AND version = 2"),
                  {"h": chain_hash(content, prev), "id": mark_id})
    result = verify_cli.verify(sessions, school_id=make.school_id)
    assert result["broken"] == [{"mark_id": mark_id, "school_id": make.school_id, "problems": ["chain"]}]


def test_a_double_click_never_makes_two_marks(journal, make, school):
    key = "a3c1f0e2-0000-4000-8000-000000000001"
    first = journal.call("post_marks", make.ctx(school.teacher, "teacher"), school.lesson.id,
                         [{"student_id": school.students[0], "value": 5}], key)
    again = journal.call("post_marks", make.ctx(school.teacher, "teacher"), school.lesson.id,
                         [{"student_id": school.students[0], "value": 5}], key)
    assert again == first
    assert len(make.rows(store.Mark)) == 1 and len(make.events("mark_posted")) == 1
    err = raises("IDEMPOTENCY_KEY_REUSED", journal.call, "post_marks", make.ctx(school.teacher, "teacher"),
                 school.lesson.id, [{"student_id": school.students[0], "value": 3}], key)
    assert err.kind == "conflict"
    raises("VALIDATION_ERROR", journal.call, "post_marks", make.ctx(school.teacher, "teacher"),
           school.lesson.id, [{"student_id": school.students[0], "value": 3}], "bad key!")
    # the same key of another teacher is another key
    journal.call("post_marks", make.ctx(school.class_teacher, "class_teacher"), school.lesson.id,
                 [{"student_id": school.students[1], "value": 4}], key)
    assert len(make.rows(store.Mark)) == 2


def test_a_failed_write_stores_no_key_so_the_fixed_retry_works(journal, make, school):
    key = "retry-key-0001"
    ctx = make.ctx(school.teacher, "teacher")
    raises("INVALID_MARK", journal.call, "post_marks", ctx, school.lesson.id,
           [{"student_id": school.students[0], "value": 9}], key)
    with make.sessions() as s:
        assert list(s.execute(store.idempotency_keys.select())) == []
    mark_id = post(journal, make, school, 4, "retry-key-0002")
    once = journal.call("correct_mark", ctx, mark_id, {"value": 5, "reason": "x"}, key)
    twice = journal.call("correct_mark", ctx, mark_id, {"value": 5, "reason": "x"}, key)
    assert once == twice and len(make.rows(store.MarkVersion, mark_id=mark_id)) == 2


def test_lesson_recording_is_idempotent(journal, make, school):
    ctx = make.ctx(school.teacher, "teacher")
    data = {"class_id": school.klass.id, "subject_id": school.maths.id, "date": school_today().isoformat(),
            "topic": "Дроби", "lesson_type": "урок"}
    first = journal.call("record_lesson", ctx, data, "lesson-key-1")
    assert journal.call("record_lesson", ctx, data, "lesson-key-1") == first
    assert len(make.rows(store.Lesson)) == 2  # the fixture's lesson and this one


def test_migrations_match_the_models(journal_engine, db_url):
    with journal_engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), store.Base.metadata) == []
