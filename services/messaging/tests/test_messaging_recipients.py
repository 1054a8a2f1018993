"""``recipients`` (GET /messages/recipients, R-M1 after R-A3): the people
the caller may write to, exactly those ``send_message`` accepts, by name, a
page at a time, with role and class; nobody of another school."""
from __future__ import annotations

import pytest
from nameko.testing.services import entrypoint_hook

from kernel import limits
from kernel.errors import ServiceError, ValidationError

from messaging_school import PEOPLE, ctx, seed_school


@pytest.fixture
def school(session_maker):
    return seed_school(session_maker)


def call(container, ids, who, **kwargs):
    with entrypoint_hook(container, "recipients") as hook:
        return hook(ctx(ids, who), **kwargs)


def walk(container, ids, who, **kwargs) -> list[dict]:
    items, cursor = [], None
    while True:
        page = call(container, ids, who, cursor=cursor, **kwargs)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def names(ids, items) -> set:
    by_id = {v: k for k, v in ids.items()}
    return {by_id[i["id"]] for i in items}


EVERYONE = set(PEOPLE)
EXPECTED = {
    # staff write to anyone of their school
    **{who: EVERYONE - {who} for who in ("director", "deputy", "secretary", "editor", "teacher_a", "head_a",
                                         "teacher_b")},
    # a parent: their child's teachers and class teacher, and the administration
    "parent_a": {"teacher_a", "head_a", "director", "deputy", "secretary"},
    "parent_b": {"teacher_b", "director", "deputy", "secretary"},
    # a student: their teachers and class teacher
    "student_a": {"teacher_a", "head_a"},
    "student_b": {"teacher_b"},
}


@pytest.mark.parametrize("who", sorted(PEOPLE))
def test_r_m1_each_user_lists_exactly_whom_they_may_write_to(container, school, who):
    items = walk(container, school, who)
    assert names(school, items) == EXPECTED[who]
    assert [i["full_name"] for i in items] == sorted(i["full_name"] for i in items)


def test_r_m1_the_list_and_send_message_apply_the_same_rule(container, school):
    listed = {i["id"] for i in walk(container, school, "parent_a")}
    for name in PEOPLE:
        if name == "parent_a":
            continue
        with entrypoint_hook(container, "send_message") as send:
            try:
                send(ctx(school, "parent_a"), {"to": [school[name]], "subject": "Вопрос", "body": "Текст"})
                sent = True
            except ServiceError as exc:
                assert exc.code == "RECIPIENT_NOT_ALLOWED"
                sent = False
        assert sent == (school[name] in listed), name


def test_items_carry_role_and_class(container, school):
    items = {i["id"]: i for i in walk(container, school, "director")}
    assert items[school["student_a"]] == {"id": school["student_a"], "full_name": "Иванов Пётр", "role": "student",
                                          "class": {"id": school["class_a"], "name": "5А"}}
    assert items[school["parent_b"]]["class"] == {"id": school["class_b"], "name": "6Б"}
    assert items[school["head_a"]]["role"] == "class_teacher"
    assert items[school["head_a"]]["class"] == {"id": school["class_a"], "name": "5А"}
    assert items[school["teacher_a"]] == {"id": school["teacher_a"], "full_name": "Кузнецов Иван", "role": "teacher"}
    assert items[school["editor"]]["role"] == "teacher"


def test_nobody_of_another_school_appears(container, school):
    for who in ("director", "parent_a"):
        assert school["outsider"] not in {i["id"] for i in walk(container, school, who, q="чужой")}


@pytest.mark.parametrize("q, expected", [
    ("ИВАН", {"parent_a", "student_a", "teacher_a"}), ("пётр", {"student_a"}), ("ПЕТР", {"student_a"}),
    ("ольга", {"secretary"}),
    ("федоров", {"deputy"}), ("", EVERYONE - {"director"}), ("нет-такого", set()),
])
def test_q_matches_the_full_name_case_insensitively(container, school, q, expected):
    assert names(school, walk(container, school, "director", q=q)) == expected


def test_pages_are_stable_and_complete(container, school):
    whole = call(container, school, "director", limit=limits.LIST_LIMIT_MAX)
    assert whole["next_cursor"] is None and len(whole["items"]) == 10
    assert walk(container, school, "director", limit=1) == whole["items"]
    assert walk(container, school, "director", limit=3) == whole["items"]
    exact = call(container, school, "director", limit=10)
    assert exact == whole
    few = call(container, school, "parent_a", limit=4)
    assert len(few["items"]) == 4 and few["next_cursor"]
    rest = call(container, school, "parent_a", limit=4, cursor=few["next_cursor"])
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None


@pytest.mark.parametrize("kwargs, field", [
    ({"limit": 0}, "limit"), ({"limit": limits.LIST_LIMIT_MAX + 1}, "limit"), ({"limit": "много"}, "limit"),
    ({"cursor": "***"}, "cursor"), ({"cursor": "WyJhIl0"}, "cursor"), ({"cursor": ""}, "cursor"),
    ({"q": "я" * (limits.LIST_QUERY + 1)}, "q"),
])
def test_bad_arguments_are_validation_errors(container, school, kwargs, field):
    with pytest.raises(ValidationError) as caught:
        call(container, school, "director", **kwargs)
    assert caught.value.details["field"] == field
