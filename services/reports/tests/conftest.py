"""Fixtures of the reports tests: one migrated PostgreSQL database per run,
emptied before each test that uses it, and a running reports container on a
fresh RabbitMQ vhost with a helper that publishes producer events to it."""
from __future__ import annotations

import datetime as dt

import pytest
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_waiter

from kernel.db import new_id
from kernel.events import envelope
from kernel.testing import migrated_database, truncate_all
from reports.store import Base


@pytest.fixture(scope="session")
def reports_db(pg_databases):
    """A PostgreSQL database with the reports migrations applied (once a run)."""
    return migrated_database(pg_databases, "reports")


@pytest.fixture
def db_url(reports_db):
    """The reports database, emptied for this test."""
    truncate_all(reports_db, Base.metadata)
    return reports_db


@pytest.fixture
def container(container_factory, rabbit_config, db_url):
    from reports.service import Service

    c = container_factory(Service, {**rabbit_config, "DATABASE_URL": db_url})
    c.start()
    return c


class Publisher:
    """Publishes producer events as the producer's outbox relay would (same
    exchange, routing key and envelope) and waits until reports handled them."""

    def __init__(self, container, config):
        self.container = container
        self.dispatch = event_dispatcher(config)

    def envelope(self, producer: str, type: str, payload: dict, school_id: str, **extra) -> dict:
        env = envelope(type=type, producer=producer, payload=payload, school_id=school_id, actor_id=new_id())
        env.update(extra)
        return env

    def send(self, env: dict) -> dict:
        with entrypoint_waiter(self.container, "on_" + env["type"], timeout=10):
            self.dispatch(env["producer"], env["type"], env)
        return env

    def __call__(self, producer: str, type: str, payload: dict, school_id: str, **extra) -> dict:
        return self.send(self.envelope(producer, type, payload, school_id, **extra))


@pytest.fixture
def publish(container, rabbit_config):
    return Publisher(container, rabbit_config)


class SchoolFactory:
    """Builds a small school through events: a year with two quarters, a class,
    subjects, students, marks. Ids are fresh per call; names are given."""

    Q1 = (dt.date(2026, 9, 1), dt.date(2026, 10, 26))
    Q2 = (dt.date(2026, 11, 5), dt.date(2026, 12, 28))

    def __init__(self, publish: Publisher, school_id: str | None = None):
        self.publish = publish
        self.school_id = school_id or new_id()

    def journal(self, type: str, payload: dict, **extra) -> dict:
        return self.publish("journal", type, payload, self.school_id, **extra)

    def identity(self, type: str, payload: dict, **extra) -> dict:
        return self.publish("identity", type, payload, self.school_id, **extra)

    def year(self) -> dict:
        year = {"year_id": new_id(), "name": "2026/2027", "starts_on": "2026-09-01", "ends_on": "2027-05-31",
                "periods": [
                    {"id": new_id(), "name": "1 четверть", "kind": "quarter",
                     "starts_on": self.Q1[0].isoformat(), "ends_on": self.Q1[1].isoformat()},
                    {"id": new_id(), "name": "2 четверть", "kind": "quarter",
                     "starts_on": self.Q2[0].isoformat(), "ends_on": self.Q2[1].isoformat()},
                ]}
        self.journal("year_opened", year)
        return year

    def subject(self, name: str) -> str:
        subject_id = new_id()
        self.journal("subject_created", {"subject_id": subject_id, "name": name})
        return subject_id

    def school_class(self, year_id: str, grade: int = 5, letter: str = "А") -> str:
        class_id = new_id()
        self.journal("class_created", {"class_id": class_id, "year_id": year_id, "grade": grade,
                                       "letter": letter, "name": f"{grade}{letter}",
                                       "class_teacher_id": new_id()})
        return class_id

    def assign(self, class_id: str, subject_id: str) -> str:
        assignment_id = new_id()
        self.journal("teacher_assigned", {"assignment_id": assignment_id, "teacher_id": new_id(),
                                          "class_id": class_id, "subject_id": subject_id,
                                          "hours_per_week": 4, "subgroup_id": None})
        return assignment_id

    def student(self, class_id: str, full_name: str, on: str = "2026-09-01") -> str:
        student_id = new_id()
        self.identity("user_created", {"user_id": student_id, "login": "u" + student_id[:8],
                                       "full_name": full_name, "roles": ["student"], "email": None,
                                       "birth_date": None, "sex": None})
        self.journal("student_enrolled", {"student_id": student_id, "class_id": class_id,
                                          "order_no": "12-у", "on": on})
        return student_id

    def mark_payload(self, class_id: str, student_id: str, subject_id: str, date: str, value: int,
                     weight: int | None = 1, kind: str = "oral") -> dict:
        return {"mark_id": new_id(), "lesson_id": new_id(), "student_id": student_id, "class_id": class_id,
                "subject_id": subject_id, "subject_name": "", "date": date, "value": value, "kind": kind,
                "weight": weight, "comment": None, "teacher_id": new_id()}

    def mark(self, *args, **kwargs) -> dict:
        return self.journal("mark_posted", self.mark_payload(*args, **kwargs))

    def final_payload(self, class_id: str, student_id: str, subject_id: str, period_id: str, value: int,
                      version: int = 1, period_kind: str = "quarter") -> dict:
        """A ``final_mark_posted`` payload as journal's events.final_mark_posted builds it."""
        return {"final_mark_id": new_id(), "student_id": student_id, "subject_id": subject_id,
                "class_id": class_id, "period_id": period_id, "period_kind": period_kind, "value": value,
                "version": version, "late": False,
                "evidence": {"marks_count": 3, "required": 3, "average": None, "weighted_average": None,
                             "written_works": 0, "emphasis": False, "written_required": 0},
                "warnings": [], "teacher_id": new_id()}

    def final(self, *args, **kwargs) -> dict:
        return self.journal("final_mark_posted", self.final_payload(*args, **kwargs))


@pytest.fixture
def school(publish):
    return SchoolFactory(publish)


def staff_ctx(school_id: str, *roles: str) -> dict:
    return {"actor_id": new_id(), "school_id": school_id, "roles": list(roles or ("deputy",)),
            "correlation_id": "test"}


@pytest.fixture
def ctx_for():
    """``ctx_for(school_id, *roles)``: a gateway call context (deputy by default)."""
    return staff_ctx
