"""``list_users`` (GET /users, R-A2, R-A3): the admin lists the school's
users, a class teacher the families of their classes, nobody else; a page
at a time with an opaque cursor; searched by login or full name,
case-insensitive, Cyrillic included."""
from __future__ import annotations

import datetime as dt

import pytest
from nameko.testing.services import entrypoint_hook

from kernel import limits
from kernel.db import transaction
from kernel.errors import ValidationError

from identity import domain, store
from identity.errors import Forbidden
from identity_helpers import ctx_of


def call(container, *args, **kwargs):
    with entrypoint_hook(container, "list_users") as hook:
        return hook(*args, **kwargs)


def walk(container, ctx, **kwargs) -> list[dict]:
    """Every item, page by page."""
    items, cursor = [], None
    while True:
        page = call(container, ctx, cursor=cursor, **kwargs)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


@pytest.fixture
def people(make, school):
    """School 1: admin, class teacher of 5А with a student and her parent,
    a student and parent of 5Б, a teacher; school 2: its admin and a student."""
    p = {"admin": make.user(school, ["admin"], login="admin", full_name="Админов Админ")}
    p["ct"] = make.user(school, ["teacher", "class_teacher"], login="kl.ruk", full_name="Классова Клара")
    p["teacher"] = make.user(school, ["teacher"], login="uchitel", full_name="Учителев Иван")
    p["sa"] = make.user(school, ["student"], login="ivanova.a", full_name="Иванова Алёна")
    p["pa"] = make.user(school, ["parent"], login="ivanova.m", full_name="Иванова Мария")
    p["sb"] = make.user(school, ["student"], login="petrov.b", full_name="Петров Борис")
    p["pb"] = make.user(school, ["parent"], login="petrov.p", full_name="Петров Пётр")
    make.link(school, p["sa"].id, p["pa"].id)
    make.link(school, p["sb"].id, p["pb"].id)
    make.klass(school, "class-a", teacher_id=p["ct"].id, name="5А")
    make.klass(school, "class-b", teacher_id=None, name="5Б")
    make.enroll(school, p["sa"].id, "class-a")
    make.enroll(school, p["sb"].id, "class-b")
    other = make.school("Школа №2")
    p["admin2"] = make.user(other, ["admin"], login="admin2", full_name="Иванов Другой")
    p["s2"] = make.user(other, ["student"], login="ivanov.s2", full_name="Иванов Ученик")
    return p


def test_r_a2_the_admin_lists_every_user_of_the_school_and_none_of_another(container, people):
    items = walk(container, ctx_of(people["admin"]))
    names = [i["full_name"] for i in items]
    assert names == sorted(names)
    assert {i["id"] for i in items} == {people[k].id for k in ("admin", "ct", "teacher", "sa", "pa", "sb", "pb")}
    first = next(i for i in items if i["id"] == people["sa"].id)
    assert first == {"id": people["sa"].id, "login": "ivanova.a", "full_name": "Иванова Алёна",
                     "roles": ["student"], "locked": False}


def test_r_a3_a_class_teacher_lists_the_families_of_their_class_only(container, people):
    items = walk(container, ctx_of(people["ct"]))
    assert {i["id"] for i in items} == {people["sa"].id, people["pa"].id}


@pytest.mark.parametrize("who", ["teacher", "pa", "sa"])
def test_r_a3_no_one_else_lists_users(container, people, who):
    with pytest.raises(Forbidden):
        call(container, ctx_of(people[who]))


def test_pages_walk_every_user_once_in_a_stable_order(container, people):
    ctx = ctx_of(people["admin"])
    whole = call(container, ctx, limit=limits.LIST_LIMIT_MAX)
    assert whole["next_cursor"] is None and len(whole["items"]) == 7
    exact = call(container, ctx, limit=7)
    assert exact["next_cursor"] is None and exact["items"] == whole["items"]
    one_by_one = walk(container, ctx, limit=1)
    assert one_by_one == whole["items"]
    first = call(container, ctx, limit=6)
    assert len(first["items"]) == 6 and first["next_cursor"]
    last = call(container, ctx, limit=6, cursor=first["next_cursor"])
    assert last == {"items": whole["items"][6:], "next_cursor": None}


@pytest.mark.parametrize("limit", [0, -1, limits.LIST_LIMIT_MAX + 1, "x", 2.5, True])
def test_a_bad_limit_is_a_validation_error(container, people, limit):
    with pytest.raises(ValidationError) as caught:
        call(container, ctx_of(people["admin"]), limit=limit)
    assert caught.value.details["field"] == "limit"


@pytest.mark.parametrize("cursor", ["", "%%%", "bm90IGpzb24", "WyJhIl0", "x" * (limits.LIST_CURSOR + 1), 7])
def test_a_bad_cursor_is_a_validation_error(container, people, cursor):
    with pytest.raises(ValidationError) as caught:
        call(container, ctx_of(people["admin"]), cursor=cursor)
    assert caught.value.details["field"] == "cursor"


@pytest.mark.parametrize("q, expected", [
    ("ИВАНОВА", {"sa", "pa"}), ("иванова", {"sa", "pa"}), ("алена", {"sa"}), ("АЛЁНА", {"sa"}),
    ("PETROV.", {"sb", "pb"}), ("  ", {"admin", "ct", "teacher", "sa", "pa", "sb", "pb"}), ("нет-такого", set()),
])
def test_q_matches_login_or_full_name_case_insensitively(container, people, q, expected):
    items = walk(container, ctx_of(people["admin"]), q=q)
    assert {i["id"] for i in items} == {people[k].id for k in expected}


def test_the_search_never_reaches_another_school(container, people):
    items = walk(container, ctx_of(people["admin"]), q="иванов")
    assert people["s2"].id not in {i["id"] for i in items} and people["admin2"].id not in {i["id"] for i in items}


def test_role_keeps_those_who_hold_it_and_an_unknown_role_is_refused(container, people):
    items = walk(container, ctx_of(people["admin"]), role="teacher")
    assert {i["id"] for i in items} == {people["ct"].id, people["teacher"].id}
    with pytest.raises(ValidationError) as caught:
        call(container, ctx_of(people["admin"]), role="wizard")
    assert caught.value.details["field"] == "role"


def test_q_and_role_filter_across_pages(container, people, make, school):
    for n in range(5):
        make.user(school, ["parent"], login=f"sidorova{n}", full_name=f"Сидорова Анна {n}")
    items = walk(container, ctx_of(people["admin"]), q="СИДОРОВА", role="parent", limit=2)
    assert [i["full_name"] for i in items] == [f"Сидорова Анна {n}" for n in range(5)]


def test_locked_says_whose_login_is_held_back(container, people, make, school, factory):
    make.user(school, ["teacher"], login="inactive", full_name="Неактивный Учитель", active=False)
    with transaction(factory) as s:
        store.add_login_failures(s, keys=["login:" + domain.login_key("Petrov.B")] * domain.FREE_FAILURES,
                                 at=dt.datetime.now(dt.timezone.utc))
    items = {i["login"]: i["locked"] for i in walk(container, ctx_of(people["admin"]))}
    assert items["petrov.b"] is True and items["inactive"] is True and items["petrov.p"] is False
