"""reports.store on the real PostgreSQL: the migration matches the models,
projections are idempotent and order-tolerant, queries stay within a school."""
from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, func, select

from kernel.db import new_id, session_factory, transaction
from reports import store
from reports.store import Base, Mark, Person

T0 = dt.datetime(2026, 9, 1, 8, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def factory(db_url):
    engine = create_engine(db_url)
    yield session_factory(engine)
    engine.dispose()


def test_migration_matches_models(db_url):
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    engine.dispose()


def _mark(class_id, student_id, subject_id, day, value=4, **extra):
    return {"id": new_id(), "lesson_id": None, "student_id": student_id, "class_id": class_id,
            "subject_id": subject_id, "date": day, "value": value, "kind": None, "weight": 1,
            "teacher_id": None, **extra}


def test_mark_projection_is_idempotent_on_mark_id(factory):
    school, klass, student, subject = new_id(), new_id(), new_id(), new_id()
    mark = _mark(klass, student, subject, dt.date(2026, 9, 2), value=5)
    with transaction(factory) as s:
        store.save_mark(s, school_id=school, mark=mark, posted_at=T0)
    with transaction(factory) as s:  # the same mark again, even with another value: no change
        store.save_mark(s, school_id=school, mark={**mark, "value": 2}, posted_at=T0)
    with transaction(factory) as s:
        assert s.execute(select(func.count()).select_from(Mark)).scalar_one() == 1
        assert s.get(Mark, mark["id"]).value == 5


def test_people_roles_keep_the_latest_change_whatever_the_order_R_A5(factory):
    school, user = new_id(), new_id()
    later = T0 + dt.timedelta(minutes=5)
    with transaction(factory) as s:  # roles_changed overtook user_created
        store.save_roles(s, school_id=school, user_id=user, roles=["deputy"], at=later)
    with transaction(factory) as s:
        store.save_user(s, school_id=school, user={"id": user, "login": "petrova", "full_name": "Петрова Анна",
                                                   "roles": ["teacher"]}, at=T0)
    with transaction(factory) as s:
        store.save_roles(s, school_id=school, user_id=user, roles=["admin"], at=T0 - dt.timedelta(days=1))
    with transaction(factory) as s:
        person = s.get(Person, user)
        assert (person.full_name, person.login, person.roles) == ("Петрова Анна", "petrova", ["deputy"])


def test_queries_stay_within_the_school_and_dates(factory):
    school, other = new_id(), new_id()
    klass, year, period, student, math = new_id(), new_id(), new_id(), new_id(), new_id()
    with transaction(factory) as s:
        store.save_year(s, school_id=school, year={"id": year, "name": "2026/2027", "starts_on": dt.date(2026, 9, 1),
                                                   "ends_on": dt.date(2027, 5, 31)},
                        periods=[{"id": period, "name": "1 четверть", "kind": "quarter",
                                  "starts_on": dt.date(2026, 9, 1), "ends_on": dt.date(2026, 10, 26)}])
        store.save_class(s, school_id=school, school_class={"id": klass, "year_id": year, "grade": 5, "letter": "А",
                                                            "name": "5А", "class_teacher_id": None})
        store.save_subject(s, school_id=school, subject={"id": math, "name": "Математика"})
        store.save_enrolment(s, school_id=school, enrolment={"student_id": student, "class_id": klass,
                                                             "order_no": "1", "enrolled_on": dt.date(2026, 9, 1)})
        store.save_user(s, school_id=school, user={"id": student, "login": None, "full_name": "Ученик Один",
                                                   "roles": ["student"]}, at=T0)
        store.save_mark(s, school_id=school, mark=_mark(klass, student, math, dt.date(2026, 9, 2)), posted_at=T0)
        store.save_mark(s, school_id=school, mark=_mark(klass, student, math, dt.date(2026, 11, 9)), posted_at=T0)
    with transaction(factory) as s:
        assert store.get_class(s, school_id=other, class_id=klass) is None
        assert store.get_period(s, school_id=other, period_id=period) is None
        assert store.get_class(s, school_id=school, class_id=klass)["name"] == "5А"
        assert store.get_period(s, school_id=school, period_id=period)["year_id"] == year
        whole_year = store.get_period(s, school_id=school, period_id=year)
        assert (whole_year["kind"], whole_year["ends_on"]) == ("year", dt.date(2027, 5, 31))
        span = {"starts_on": dt.date(2026, 9, 1), "ends_on": dt.date(2026, 10, 26)}
        assert [m["date"] for m in store.class_marks(s, school_id=school, class_id=klass, **span)] == [
            dt.date(2026, 9, 2)]
        assert store.class_marks(s, school_id=other, class_id=klass, **span) == []
        assert store.class_students(s, school_id=school, class_id=klass) == [
            {"id": student, "full_name": "Ученик Один", "enrolled_on": dt.date(2026, 9, 1), "left_on": None}]
        assert store.class_subjects(s, school_id=school, class_id=klass, **span) == [
            {"id": math, "name": "Математика", "assigned": False}]
        assert store.class_subjects(s, school_id=school, class_id=klass, starts_on=dt.date(2027, 1, 1),
                                    ends_on=dt.date(2027, 3, 1)) == []


def _final(student, subject, period, klass, value, version, **extra):
    return {"final_mark_id": new_id(), "student_id": student, "subject_id": subject, "period_id": period,
            "class_id": klass, "period_kind": "quarter", "value": value, "version": version, **extra}


def _save_finals(factory, school, *finals):
    for final in finals:  # each in its own transaction, as the handler does
        with transaction(factory) as s:
            store.save_final_mark(s, school_id=school, final=final)


def test_final_marks_keep_the_newest_version_whatever_the_order_R_F1(factory):
    """A repost supersedes the previous final mark; the superseded one arriving
    late, or either arriving twice, changes nothing."""
    school, klass, period, student, math, rus = (new_id() for _ in range(6))
    first, repost = _final(student, math, period, klass, 3, 1), _final(student, math, period, klass, 2, 2)
    _save_finals(factory, school, repost, first, repost, _final(student, rus, period, klass, 5, 1))
    with transaction(factory) as s:
        finals = store.class_final_marks(s, school_id=school, class_id=klass, period_id=period)
        assert {(f["student_id"], f["subject_id"]): f["value"] for f in finals} == {
            (student, math): 2, (student, rus): 5}
        assert s.execute(select(func.count()).select_from(store.FinalMark)).scalar_one() == 2
    _save_finals(factory, school, _final(student, math, period, klass, 4, 3))
    with transaction(factory) as s:
        row = s.get(store.FinalMark, (student, math, period))
        assert (row.value, row.version) == (4, 3)


def test_final_marks_are_read_per_school_class_and_period(factory):
    school, klass, other_class, period, year, student, math = (new_id() for _ in range(7))
    _save_finals(factory, school, _final(student, math, period, klass, 5, 1),
                 _final(student, math, year, klass, 4, 1, period_kind="year"),
                 _final(new_id(), math, period, other_class, 2, 1))
    with transaction(factory) as s:
        assert store.class_final_marks(s, school_id=school, class_id=klass, period_id=period) == [
            {"student_id": student, "subject_id": math, "value": 5}]
        assert store.class_final_marks(s, school_id=school, class_id=klass, period_id=year) == [
            {"student_id": student, "subject_id": math, "value": 4}]
        assert store.class_final_marks(s, school_id=new_id(), class_id=klass, period_id=period) == []
        # a subject with a final mark of the period is one of the class's subjects for it
        span = {"starts_on": dt.date(2026, 9, 1), "ends_on": dt.date(2026, 10, 26)}
        assert store.class_subjects(s, school_id=school, class_id=klass, period_id=period, **span) == [
            {"id": math, "name": None, "assigned": False}]
        assert store.class_subjects(s, school_id=school, class_id=klass, period_id=new_id(), **span) == []


def test_migrations_and_the_final_marks_projection_on_sqlite(tmp_path):
    """The embedded default (`make run`): the same history and the same upsert."""
    from kernel.db import make_engine
    from kernel.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'reports.db'}"
    upgrade("reports", url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        factory = session_factory(engine)
        school, klass, period, student, math = (new_id() for _ in range(5))
        _save_finals(factory, school, _final(student, math, period, klass, 2, 2),
                     _final(student, math, period, klass, 3, 1))
        with transaction(factory) as s:
            assert store.class_final_marks(s, school_id=school, class_id=klass, period_id=period) == [
                {"student_id": student, "subject_id": math, "value": 2}]
    finally:
        engine.dispose()
