"""Fixtures of the journal's tests: one migrated PostgreSQL database per run
(emptied before every test), the real service in a nameko container on a
fresh RabbitMQ vhost with only identity's RPC proxy mocked, and small
factories that write test data straight into the journal's tables."""
from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from nameko.testing.services import entrypoint_hook, replace_dependencies
from sqlalchemy import select, text, update
from sqlalchemy.pool import NullPool

from journal import domain, store
from journal.service import Service
from kernel.db import make_engine, new_id, session_factory
from kernel.events import unpack, utcnow
from kernel.testing import migrated_database

TZ = ZoneInfo("Europe/Moscow")


def school_today() -> dt.date:
    return dt.datetime.now(TZ).date()


@pytest.fixture(scope="session")
def journal_db_url(pg_databases):
    url = migrated_database(pg_databases, "journal")
    # A throwaway database: commits need not wait for the WAL flush (keeps the suite fast).
    engine = make_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{engine.url.database}" SET synchronous_commit = off'))
        conn.commit()
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def journal_engine(journal_db_url):
    engine = make_engine(journal_db_url, pool_size=2, max_overflow=2)
    yield engine
    engine.dispose()


@pytest.fixture
def db_url(journal_db_url, journal_engine):
    """The database, emptied. DELETE is ~20x faster than TRUNCATE on these
    few rows (kernel.testing.truncate_all costs ~0.4 s a test)."""
    with journal_engine.begin() as conn:
        for table in reversed(store.Base.metadata.sorted_tables):
            conn.execute(table.delete())
    return journal_db_url


@pytest.fixture
def sessions(db_url, journal_engine):
    return session_factory(journal_engine)


class Factory:
    """Test data, written directly (not through the service under test)."""

    def __init__(self, sessions):
        self.sessions = sessions
        self.school_id = new_id()
        self._n = 0

    def _save(self, *rows):
        with self.sessions.begin() as s:
            s.add_all(rows)
        return rows[0]

    def _next(self) -> int:
        self._n += 1
        return self._n

    def ctx(self, actor_id, *roles, school_id=None) -> dict:
        return {"actor_id": actor_id, "school_id": school_id or self.school_id, "roles": list(roles),
                "correlation_id": new_id().replace("-", "")}

    def person(self, *roles, full_name=None, school_id=None) -> str:
        user_id = new_id()
        now = utcnow()
        self._save(store.Person(user_id=user_id, school_id=school_id or self.school_id,
                                full_name=full_name or f"Человек {self._next()}", roles=list(roles),
                                source_at=now, roles_at=now))
        return user_id

    def year(self, *, starts_on=None, ends_on=None, periods=None, archived=False, school_id=None):
        """By default a year around today with a holiday gap (today-99..today-90)."""
        today = school_today()
        starts_on = starts_on or today - dt.timedelta(days=200)
        ends_on = ends_on or today + dt.timedelta(days=150)
        if periods is None:
            periods = [(starts_on, today - dt.timedelta(days=100)), (today - dt.timedelta(days=89), ends_on)]
        school_id = school_id or self.school_id
        year = store.Year(id=new_id(), school_id=school_id, name=f"{self._next()}/год",
                          starts_on=starts_on, ends_on=ends_on, archived=archived)
        self._save(year)
        rows = [store.Period(id=new_id(), school_id=school_id, year_id=year.id, name=f"{i + 1} полугодие",
                                      kind="half_year", starts_on=a, ends_on=b) for i, (a, b) in enumerate(periods)]
        if rows:
            self._save(*rows)
        return year

    def subject(self, name=None, school_id=None):
        return self._save(store.Subject(id=new_id(), school_id=school_id or self.school_id,
                                        name=name or f"Предмет {self._next()}"))

    def klass(self, year, *, grade=5, letter=None, class_teacher_id=None):
        letter = letter or "АБВГДЕЖЗИКЛМНОПРСТУФ"[self._next() % 20]
        return self._save(store.SchoolClass(
            id=new_id(), school_id=year.school_id, year_id=year.id, grade=grade, letter=letter,
            name=domain.structure.class_name(grade, letter), class_teacher_id=class_teacher_id))

    def enrol(self, student_id, klass, *, on=None, left_on=None):
        return self._save(store.Enrolment(
            id=new_id(), school_id=klass.school_id, student_id=student_id, class_id=klass.id,
            order_no=f"№ {self._next()}-у", enrolled_on=on or school_today() - dt.timedelta(days=200),
            left_on=left_on))

    def assign(self, teacher_id, klass, subject, *, subgroup_id=None):
        return self._save(store.Assignment(
            id=new_id(), school_id=klass.school_id, teacher_id=teacher_id, class_id=klass.id,
            subject_id=subject.id, hours_per_week=2, subgroup_id=subgroup_id))

    def subgroup(self, klass, subject, *, name=None, student_ids=()):
        subgroup = self._save(store.Subgroup(id=new_id(), school_id=klass.school_id, class_id=klass.id,
                                             subject_id=subject.id, name=name or f"{self._next()} группа"))
        if student_ids:
            self._save(*[store.SubgroupMember(subgroup_id=subgroup.id, student_id=s) for s in student_ids])
        return subgroup

    def lesson(self, klass, subject, teacher_id, date, *, topic=None, homework=None, subgroup_id=None,
               substitute_for=None):
        return self._save(store.Lesson(
            id=new_id(), school_id=klass.school_id, class_id=klass.id, subject_id=subject.id,
            teacher_id=teacher_id, date=date, topic=topic or f"Тема {self._next()}", lesson_type="урок",
            homework=homework, subgroup_id=subgroup_id, substitute_for=substitute_for, entered_at=utcnow(),
            late=False, overdue=False))

    def mark(self, lesson, student_id, value, *, removed=False, kind="oral", weight=1, comment=None):
        spec = domain.lessons.MarkSpec(student_id, value, kind, weight, comment)
        with self.sessions.begin() as s:
            [mark] = store.lessons.new_marks(school_id=lesson.school_id, lesson_id=lesson.id, specs=[spec],
                                             author_id=lesson.teacher_id, at=utcnow())
            store.lessons.insert_marks(s, [mark])
            if removed:
                s.execute(update(store.Mark).where(store.Mark.id == mark.id).values(removed=True))
                mark.removed = True
        return mark

    # --- reading back ---

    def rows(self, model, **where):
        with self.sessions() as s:
            query = select(model)
            for key, value in where.items():
                query = query.where(getattr(model, key) == value)
            return list(s.scalars(query))

    def rows_of_table(self, name):
        with self.sessions() as s:
            return list(s.execute(select(store.tables[name])))

    def events(self, type=None) -> list[dict]:
        """Envelopes in the outbox, oldest first."""
        outbox = store.tables["outbox"]
        with self.sessions() as s:
            query = select(outbox.c.body).order_by(outbox.c.seq)
            if type:
                query = query.where(outbox.c.event_type == type)
            return [env for b in s.scalars(query) for env in unpack(json.loads(b))]


@pytest.fixture
def make(sessions):
    return Factory(sessions)


@pytest.fixture
def service_config(rabbit_config, db_url):
    return {**rabbit_config, "DATABASE_URL": db_url, "EJOURNAL_TIMEZONE": "Europe/Moscow",
            "EJOURNAL_ALLOW_MARK_1": "0", "EJOURNAL_IDENTITY_TIMEOUT": "2"}


def start_service(container_factory, config):
    container = container_factory(Service, config)
    identity = replace_dependencies(container, "identity")
    container.start()

    def call(method, *args):
        with entrypoint_hook(container, method) as hook:
            return hook(*args)

    return SimpleNamespace(container=container, identity=identity, call=call)


@pytest.fixture
def journal(container_factory, service_config):
    """The running service: ``journal.call("open_year", ctx, data)``;
    ``journal.identity`` is the mocked identity RPC proxy."""
    return start_service(container_factory, service_config)


@pytest.fixture
def journal_with(container_factory, service_config):
    """Start the service with some config overridden: ``journal_with(KEY="value")``.
    (A fixture, because test modules must not import conftest: several
    services' conftest modules share that name in one run.)"""
    def start(**overrides):
        return start_service(container_factory, {**service_config, **overrides})
    return start
