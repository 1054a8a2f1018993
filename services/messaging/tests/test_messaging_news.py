"""News and announcements (R-M4) on the running service: who may post what,
who sees which audience, and the "new news item" notifications."""
from __future__ import annotations

import pytest
from nameko.testing.services import entrypoint_hook

from kernel.errors import ServiceError

from messaging import store
from messaging_school import PEOPLE, ctx, seed_school


@pytest.fixture
def school(session_maker):
    return seed_school(session_maker)


def post(container, ids, who, audience, **extra):
    body = {"title": f"Заголовок {who}", "body": "Текст", "audience": audience, **extra}
    with entrypoint_hook(container, "post_news") as call:
        return call(ctx(ids, who), body)


def titles_seen(container, ids, who):
    with entrypoint_hook(container, "list_news") as call:
        return {item["id"] for item in call(ctx(ids, who))["items"]}


def test_each_user_sees_exactly_what_is_addressed_to_them_R_M4(container, school, rows):
    school_news = post(container, school, "editor", {"school": True})
    staff_only = post(container, school, "director", {"staff": True}, kind="announcement")
    class_a = post(container, school, "secretary", {"class_id": school["class_a"]},
                   links=[{"title": "Приказ № 12", "url": "https://school.test/orders/12.pdf"}])
    parents_b = post(container, school, "deputy", {"parents_of_class": school["class_b"]}, kind="announcement")
    everything = {school_news["id"], staff_only["id"], class_a["id"], parents_b["id"]}
    expected = {
        "director": everything, "deputy": everything,
        "secretary": {school_news["id"], staff_only["id"], class_a["id"]},  # author of class_a
        "editor": {school_news["id"], staff_only["id"]},
        "teacher_a": {school_news["id"], staff_only["id"], class_a["id"]},
        "head_a": {school_news["id"], staff_only["id"], class_a["id"]},
        "teacher_b": {school_news["id"], staff_only["id"], parents_b["id"]},  # class teacher of B
        "parent_a": {school_news["id"], class_a["id"]},
        "parent_b": {school_news["id"], parents_b["id"]},
        "student_a": {school_news["id"], class_a["id"]},
        "student_b": {school_news["id"]},  # the parents' announcement is not the student's
    }
    assert set(expected) == set(PEOPLE)
    for who, ids in expected.items():
        assert titles_seen(container, school, who) == ids, who
    assert class_a["links"] == [{"title": "Приказ № 12", "url": "https://school.test/orders/12.pdf"}]
    # "new news item" notifications reach the audience, never the author
    parents_b_notes = {n.recipient_id for n in rows(store.Notification) if n.data.get("news_id") == parents_b["id"]}
    assert parents_b_notes == {school["parent_b"]}
    class_a_notes = {n.recipient_id for n in rows(store.Notification) if n.data.get("news_id") == class_a["id"]}
    assert class_a_notes == {school["parent_a"], school["student_a"]}
    school_notes = {n.recipient_id for n in rows(store.Notification) if n.data.get("news_id") == school_news["id"]}
    assert school_notes == {school[p] for p in PEOPLE} - {school["editor"]}


@pytest.mark.parametrize("who,kind,allowed", [
    ("editor", "news", True), ("director", "news", True), ("deputy", "news", True),
    ("secretary", "announcement", True), ("director", "announcement", True), ("deputy", "announcement", True),
    ("secretary", "news", False), ("editor", "announcement", False),
    ("teacher_a", "news", False), ("teacher_a", "announcement", False),
    ("parent_a", "announcement", False), ("student_a", "news", False),
])
def test_who_may_post_news_and_announcements_R_M4(container, school, rows, who, kind, allowed):
    if allowed:
        assert post(container, school, who, {"school": True}, kind=kind)["kind"] == kind
        assert len(rows(store.NewsItem)) == 1
    else:
        with pytest.raises(ServiceError) as err:
            post(container, school, who, {"school": True}, kind=kind)
        assert err.value.code == "FORBIDDEN"
        assert rows(store.NewsItem) == [] and rows(store.Notification) == []


@pytest.mark.parametrize("audience,extra,code", [
    ({"school": False}, {}, "VALIDATION_ERROR"),
    ({"school": True, "staff": True}, {}, "VALIDATION_ERROR"),
    ({"class_id": ""}, {}, "VALIDATION_ERROR"),
    ({"school": True}, {"links": [{"title": "x", "url": "javascript:alert(1)"}]}, "VALIDATION_ERROR"),
    ({"school": True}, {"kind": "gossip"}, "VALIDATION_ERROR"),
    ({"class_id": "no-such-class"}, {}, "NOT_FOUND"),
])
def test_bad_news_is_refused_and_nothing_is_written(container, school, rows, audience, extra, code):
    with pytest.raises(ServiceError) as err:
        post(container, school, "director", audience, **extra)
    assert err.value.code == code
    assert rows(store.NewsItem) == []
