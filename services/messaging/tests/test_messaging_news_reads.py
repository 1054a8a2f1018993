"""``get_news`` (GET /news/{id}, R-M4): one item for its audience only,
NOT_FOUND for anyone else, another school's included; items of the list
and the item carry body, links, published_at and author."""
from __future__ import annotations

import pytest
from nameko.testing.services import entrypoint_hook

from kernel.errors import NotFound

from messaging_school import PEOPLE, ctx, seed_school


@pytest.fixture
def school(session_maker):
    return seed_school(session_maker)


def post(container, ids, who, audience, **extra):
    body = {"title": f"Заголовок {who}", "body": "Текст новости", "audience": audience, **extra}
    with entrypoint_hook(container, "post_news") as call:
        return call(ctx(ids, who), body)


def read(container, ids, who, news_id):
    with entrypoint_hook(container, "get_news") as call:
        return call(ctx(ids, who), news_id)


def test_r_m4_an_item_is_read_by_its_audience_only_the_same_as_the_list(container, school):
    items = [post(container, school, "editor", {"school": True}),
             post(container, school, "director", {"staff": True}, kind="announcement"),
             post(container, school, "secretary", {"class_id": school["class_a"]}),
             post(container, school, "deputy", {"parents_of_class": school["class_b"]}, kind="announcement")]
    for who in PEOPLE:
        with entrypoint_hook(container, "list_news") as call:
            listed = {i["id"] for i in call(ctx(school, who))["items"]}
        for item in items:
            if item["id"] in listed:
                assert read(container, school, who, item["id"])["id"] == item["id"]
            else:
                with pytest.raises(NotFound):
                    read(container, school, who, item["id"])


def test_the_item_carries_body_links_audience_published_at_and_author(container, school):
    link = {"title": "Приказ № 12", "url": "https://school.test/orders/12.pdf"}
    posted = post(container, school, "secretary", {"class_id": school["class_a"]}, links=[link])
    item = read(container, school, "parent_a", posted["id"])
    assert item["title"] == "Заголовок secretary" and item["body"] == "Текст новости" and item["links"] == [link]
    assert item["audience"] == {"class_id": school["class_a"]}
    assert item["published_at"] == posted["created_at"]
    assert item["author"] == {"id": school["secretary"], "full_name": PEOPLE["secretary"][0]}
    with entrypoint_hook(container, "list_news") as call:
        listed = call(ctx(school, "parent_a"))["items"]
    assert listed == [item]


def test_another_schools_item_and_an_unknown_id_are_not_found(container, school, session_maker):
    other = seed_school(session_maker)
    posted = post(container, other, "editor", {"school": True})
    for news_id in (posted["id"], "no-such-news", "x" * 65, None):
        with pytest.raises(NotFound):
            read(container, school, "director", news_id)
