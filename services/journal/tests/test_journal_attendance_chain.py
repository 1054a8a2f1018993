"""Attendance history is tamper-evident like marks (R-J7): every version of
an entry is chained by sha256 over its content and the previous hash; the
tamper check (RPC and ``python -m journal.verify``) covers attendance; the
0004 migration chains the versions written before it, deterministically.
Real RabbitMQ and PostgreSQL (and SQLite for the migration, as ``make run``)."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select, text

from journal import domain, errors, store
from journal import verify as verify_cli
from kernel.db import session_factory
from kernel.migrate import upgrade

STATUSES = st.sampled_from(["present", "absent", "excused", "ill", "late"])


def school_today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Europe/Moscow")).date()


@pytest.fixture
def school(make):
    year = make.year()
    class_teacher, teacher = make.person("class_teacher", "teacher"), make.person("teacher")
    klass = make.klass(year, grade=6, letter="Г", class_teacher_id=class_teacher)
    subject = make.subject("География")
    make.assign(teacher, klass, subject)
    students = [make.person("student"), make.person("student")]
    for student in students:
        make.enrol(student, klass)
    lesson = make.lesson(klass, subject, teacher, school_today() - dt.timedelta(days=1))
    return SimpleNamespace(klass=klass, teacher=teacher, class_teacher=class_teacher, students=students,
                           lesson=lesson, admin=make.person("admin"))


def record(journal, ctx, lesson, entries, reason=None):
    data = {"entries": [{"student_id": s, "status": st_} for s, st_ in entries]}
    if reason:
        data["reason"] = reason
    return journal.call("record_attendance", ctx, lesson.id, data)


def test_each_attendance_version_is_chained_to_the_previous_r_j7(journal, make, school):
    teacher = make.ctx(school.teacher, "teacher")
    s0, s1 = school.students
    record(journal, teacher, school.lesson, [(s0, "absent"), (s1, "present")])
    record(journal, teacher, school.lesson, [(s0, "ill")], "Справка")
    record(journal, make.ctx(school.class_teacher, "class_teacher"), school.lesson, [(s0, "excused")], "Заявление")
    with make.sessions() as s:
        entry = s.scalar(select(store.AttendanceEntry).where(store.AttendanceEntry.student_id == s0))
        versions = list(s.scalars(select(store.AttendanceVersion).where(
            store.AttendanceVersion.attendance_id == entry.id).order_by(store.AttendanceVersion.version)))
        chains = {state["attendance_id"]: (state, chain) for state, chain in store.attendance.attendance_chains(
            s, school_id=make.school_id)}
    assert [v.version for v in versions] == [1, 2, 3]
    assert versions[0].prev_hash == domain.chain.GENESIS_HASH
    assert [v.prev_hash for v in versions[1:]] == [v.hash for v in versions[:-1]]
    assert len({v.hash for v in versions}) == 3
    state, chain = chains[entry.id]
    assert domain.chain.verify_chain(chain) and domain.attendance.verify_attendance(state, chain) == []
    assert chain[-1][0]["status"] == "excused" and chain[-1][0]["previous"] == "ill"
    assert len(chains) == 2


def test_verify_detects_attendance_edited_behind_the_service_r_j7(journal, make, school, sessions, db_url):
    teacher, admin = make.ctx(school.teacher, "teacher"), make.ctx(school.admin, "admin")
    s0, s1 = school.students
    record(journal, teacher, school.lesson, [(s0, "absent"), (s1, "absent")])
    record(journal, teacher, school.lesson, [(s1, "ill")], "Справка")
    clean = journal.call("verify_journal", admin)
    assert clean["ok"] is True and clean["attendance"] == {"checked": 2, "broken_count": 0, "broken": []}
    assert verify_cli.main(["--database-url", db_url, "--school", make.school_id]) == 0
    with sessions.begin() as s:
        a0 = s.scalar(select(store.AttendanceEntry.id).where(store.AttendanceEntry.student_id == s0))
        a1 = s.scalar(select(store.AttendanceEntry.id).where(store.AttendanceEntry.student_id == s1))
        # an absence quietly becomes presence; a correction's reason is rewritten
        s.execute(text("UPDATE attendance SET status = 'present' WHERE id = :id"), {"id": a0})
        s.execute(text("UPDATE attendance_versions SET reason = 'по просьбе' WHERE attendance_id = :id "
                       "AND version = 2"), {"id": a1})
    found = journal.call("verify_journal", admin)
    assert found["ok"] is False and found["broken_count"] == 0  # the marks are fine
    assert sorted((b["attendance_id"], tuple(b["problems"])) for b in found["attendance"]["broken"]) == sorted(
        [(a0, ("status",)), (a1, ("chain",))])
    assert {b["student_id"] for b in found["attendance"]["broken"]} == {s0, s1}
    assert verify_cli.main(["--database-url", db_url, "--school", make.school_id]) == 1
    cli = verify_cli.verify(sessions, school_id=make.school_id)
    assert cli["attendance"]["broken_count"] == 2 and all(b["school_id"] == make.school_id
                                                          for b in cli["attendance"]["broken"])


def test_rehashing_a_forged_attendance_version_still_breaks_the_next_link(journal, make, school, sessions):
    teacher = make.ctx(school.teacher, "teacher")
    s0 = school.students[0]
    record(journal, teacher, school.lesson, [(s0, "absent")])
    record(journal, teacher, school.lesson, [(s0, "ill")], "a")
    record(journal, teacher, school.lesson, [(s0, "excused")], "b")
    with sessions.begin() as s:
        [(state, chain)] = list(store.attendance.attendance_chains(s, school_id=make.school_id))
        content, prev, _ = chain[0]
        content["status"] = "present"
        s.execute(text("UPDATE attendance_versions SET status = 'present', hash = :h "
                       "WHERE attendance_id = :id AND version = 1"),
                  {"h": domain.chain.chain_hash(content, prev), "id": state["attendance_id"]})
    result = verify_cli.verify(sessions, school_id=make.school_id)
    assert result["attendance"]["broken"] == [{
        "attendance_id": state["attendance_id"], "lesson_id": school.lesson.id, "student_id": s0,
        "school_id": make.school_id, "problems": ["chain"]}]


def test_any_sequence_of_attendance_changes_leaves_a_verifiable_history_r_j7(journal, make, school):
    """Property (hypothesis): whatever statuses are recorded and corrected,
    by whom, each entry's chain verifies and its row equals its last version."""
    who = [make.ctx(school.teacher, "teacher"), make.ctx(school.class_teacher, "class_teacher"),
           make.ctx(school.admin, "admin")]
    step = st.tuples(st.integers(0, 2), st.lists(st.tuples(st.integers(0, 1), STATUSES), min_size=1, max_size=2,
                                                 unique_by=lambda e: e[0]))

    @settings(max_examples=15, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(steps=st.lists(step, min_size=1, max_size=6))
    def run(steps):
        lesson = make.lesson(school.klass, store_subject(make, school), school.teacher,
                             school_today() - dt.timedelta(days=1))
        model: dict[str, list[str]] = {}
        for n, (actor, entries) in enumerate(steps):
            pairs = [(school.students[i], status) for i, status in entries]
            try:
                record(journal, who[actor], lesson, pairs, f"исправление {n}")
            except errors.ServiceError as exc:  # nothing here may be refused
                raise AssertionError(exc.to_dict()) from None
            for student, status in pairs:
                history = model.setdefault(student, [])
                if not history or history[-1] != status:
                    history.append(status)
        with make.sessions() as s:
            got = {state["student_id"]: (state, chain) for state, chain in store.attendance.attendance_chains(s)
                   if state["lesson_id"] == lesson.id}
        assert set(got) == set(model)
        for student, statuses in model.items():
            state, chain = got[student]
            assert domain.attendance.verify_attendance(state, chain) == []
            assert [c["status"] for c, _, _ in chain] == statuses
            assert [c["previous"] for c, _, _ in chain] == [None] + statuses[:-1]
            assert state["version"] == len(chain)

    run()


def store_subject(make, school):
    with make.sessions() as s:
        return s.get(store.Subject, school.lesson.subject_id)


# --- the 0004 migration: existing rows chained and subjects emphasised ---

ROWS = [  # (attendance id, student, [(version, status, previous, reason, at)])
    ("a-1", "st-1", [(1, "absent", None, None, "2026-10-05 08:00:00+00"),
                     (2, "ill", "absent", "Справка", "2026-10-06 09:15:30.123456+00")]),
    ("a-2", "st-2", [(1, "late", None, None, "2026-10-05 08:00:01+00")]),
]


def _seed_before_0004(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text("INSERT INTO years (id, school_id, name, starts_on, ends_on, archived, created_at) VALUES "
                       "('y', 'sch', '2026/2027', '2026-09-01', '2027-05-31', false, '2026-09-01 00:00:00+00')"))
        c.execute(text("INSERT INTO classes (id, school_id, year_id, grade, letter, name, class_teacher_id) "
                       "VALUES ('c', 'sch', 'y', 7, 'А', '7А', NULL)"))
        for sid, name in (("sub-1", "Алгебра"), ("sub-2", "Литературное чтение"), ("sub-3", "Химия"),
                          ("sub-4", "История")):
            c.execute(text("INSERT INTO subjects (id, school_id, name) VALUES (:i, 'sch', :n)"), {"i": sid, "n": name})
        c.execute(text("INSERT INTO lessons (id, school_id, class_id, subject_id, teacher_id, date, topic, "
                       "lesson_type, entered_at, late, overdue) VALUES ('l', 'sch', 'c', 'sub-1', 't', '2026-10-05', "
                       "'Дроби', 'урок', '2026-10-05 08:00:00+00', false, false)"))
        for aid, student, versions in ROWS:
            last = versions[-1]
            c.execute(text("INSERT INTO attendance (id, school_id, lesson_id, student_id, status, version, "
                           "updated_by, updated_at) VALUES (:a, 'sch', 'l', :s, :st, :v, 't', :at)"),
                      {"a": aid, "s": student, "st": last[1], "v": last[0], "at": last[4]})
            for version, status, previous, reason, at in versions:
                c.execute(text('INSERT INTO attendance_versions (attendance_id, version, school_id, status, previous, '
                               '"by", at, reason) VALUES (:a, :v, \'sch\', :st, :p, \'t\', :at, :r)'),
                          {"a": aid, "v": version, "st": status, "p": previous, "at": at, "r": reason})
    engine.dispose()


def _after_0004(url: str) -> tuple[dict, dict]:
    engine = create_engine(url)
    try:
        with session_factory(engine)() as s:
            hashes = {(v.attendance_id, v.version): v.hash for v in s.scalars(select(store.AttendanceVersion))}
            for state, chain in store.attendance.attendance_chains(s):
                assert domain.attendance.verify_attendance(state, chain) == [], state
            emphasis = dict(s.execute(select(store.Subject.name, store.Subject.emphasis)).all())
        return hashes, emphasis
    finally:
        engine.dispose()


def test_migration_chains_existing_attendance_deterministically(pg_databases, tmp_path):
    results = []
    for url in (pg_databases.create("journal_0004"), pg_databases.create("journal_0004"),
                f"sqlite:///{tmp_path / 'journal.db'}"):
        upgrade("journal", url, "0003_merge")
        _seed_before_0004(url)
        upgrade("journal", url)
        results.append(_after_0004(url))
    (hashes, emphasis), *others = results
    assert len(hashes) == 3 and all(len(h) == 64 for h in hashes.values())
    assert all(other == (hashes, emphasis) for other in others)  # the same rows, the same chain, on any database
    assert emphasis == {"Алгебра": True, "Литературное чтение": False, "Химия": True, "История": False}
