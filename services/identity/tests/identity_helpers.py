"""Test helpers of the identity tests (a uniquely named module, so that it
never collides with another service's helpers in one pytest run)."""
from __future__ import annotations

import datetime as dt
import json

from kernel.db import new_id, transaction

from identity import credentials, domain, store


class Factories:
    """Builds test data straight through the store (no RPC), with fresh logins."""

    def __init__(self, factory):
        self.factory = factory
        self.counter = 0

    def school(self, name="Школа №1") -> str:
        with transaction(self.factory) as s:
            return store.add_school(s, name=name).id

    def user(self, school_id, roles, *, login=None, password="correct-horse-42", full_name=None,
             active=True):
        self.counter += 1
        login = login or f"user{self.counter}"
        new = domain.NewUser(login=login, full_name=full_name or f"Пользователь {self.counter}",
                             roles=tuple(roles), email=None, birth_date=None, sex=None, password=password)
        with transaction(self.factory) as s:
            user = store.add_user(s, school_id=school_id, new=new,
                                  password_hash=credentials.hash_password(password), created_by=None)
            user.active = active
            return user

    def link(self, school_id, student_id, parent_id, relation="мать"):
        with transaction(self.factory) as s:
            return store.add_parent_link(s, school_id=school_id, student_id=student_id, parent_id=parent_id,
                                         relation=relation, created_by=None)

    def consent(self, school_id, parent_id, given=True, signed_on=dt.date(2026, 9, 1)):
        with transaction(self.factory) as s:
            return store.add_consent(s, school_id=school_id, parent_id=parent_id, given=given,
                                     signed_on=signed_on, recorded_by="test")

    def klass(self, school_id, class_id, teacher_id=None, name="5А"):
        with transaction(self.factory) as s:
            store.upsert_class(s, class_id=class_id, school_id=school_id, teacher_id=teacher_id,
                               name=name, year_id=None)

    def enroll(self, school_id, student_id, class_id, since=dt.date(2026, 9, 1)):
        with transaction(self.factory) as s:
            store.upsert_student_class(s, student_id=student_id, school_id=school_id, class_id=class_id,
                                       since=since)

    def assign(self, school_id, teacher_id, class_id, subject_id="math"):
        with transaction(self.factory) as s:
            store.upsert_assignment(s, assignment_id=new_id(), school_id=school_id, teacher_id=teacher_id,
                                    class_id=class_id, subject_id=subject_id, subgroup_id=None)


class Aborted(Exception):
    pass


class StubContext:
    """Stands in for grpc.ServicerContext: abort records and raises, like grpcio."""

    def __init__(self):
        self.code = None
        self.details = None

    def abort(self, code, details):
        self.code, self.details = code, details
        raise Aborted(details)

    @property
    def error(self) -> dict:
        return json.loads(self.details)


def ctx_of(user, correlation_id="test-cid") -> dict:
    """The gateway's call context for ``user``."""
    return {"actor_id": user.id, "school_id": user.school_id, "roles": list(user.roles),
            "correlation_id": correlation_id}
