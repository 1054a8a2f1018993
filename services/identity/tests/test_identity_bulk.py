"""identity's read-only ``resolve_users`` (identity.entrypoints.bulk) on the real broker
and PostgreSQL: what create_user would do for each item, nothing written
(the journal's all-or-nothing student import, R-S2)."""
from __future__ import annotations

import pytest
from nameko.testing.services import entrypoint_hook
from sqlalchemy import func, select

from identity import store
from identity.errors import Forbidden

from identity_helpers import ctx_of


def call(container, method, *args):
    with entrypoint_hook(container, method) as hook:
        return hook(*args)


def test_r_s2_resolve_users_says_new_existing_invalid_taken_without_writing(container, make, factory):
    school, other = make.school(), make.school("Школа №2")
    teacher = make.user(school, ["teacher", "class_teacher"], login="kl.ruk")
    kid = make.user(school, ["student"], login="ivanov.i", full_name="Иванов Иван")
    mum = make.user(school, ["parent"], login="ivanova.m")
    make.link(school, kid.id, mum.id)
    make.user(other, ["parent"], login="chuzhoy")
    with factory() as s:
        before = s.scalar(select(func.count()).select_from(store.User))
    answers = call(container, "resolve_users", ctx_of(teacher), [
        {"login": "Ivanov.I", "full_name": "Иванов Иван", "roles": ["student"], "birth_date": "2015-03-01", "sex": "м"},
        {"login": "novy", "full_name": "Новый Ученик", "roles": ["student"]},
        {"login": "chuzhoy", "full_name": "Чужой", "roles": ["parent"], "email": "x@example.ru"},
        {"login": "плохой логин", "full_name": "Кто-то", "roles": ["parent"]},
        {"login": "mama2", "full_name": "Мама", "roles": ["parent"], "email": "не-почта"},
    ])
    assert answers[0] == {"status": "existing", "id": kid.id, "full_name": "Иванов Иван", "roles": ["student"],
                          "parent_ids": [mum.id]}
    assert answers[1] == {"status": "new"}
    assert answers[2]["status"] == "taken" and "chuzhoy" in answers[2]["message"] and "id" not in answers[2]
    assert answers[3]["status"] == "invalid" and answers[3]["field"] == "login"
    assert answers[4]["status"] == "invalid" and answers[4]["field"] == "email"
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(store.User)) == before


def test_r_s2_resolve_users_refuses_who_may_not_create_them(container, make):
    school = make.school()
    teacher = make.user(school, ["teacher"], login="uchitel")
    with pytest.raises(Forbidden):
        call(container, "resolve_users", ctx_of(teacher), [{"login": "novy", "full_name": "Н", "roles": ["student"]}])
