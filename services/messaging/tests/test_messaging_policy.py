"""The pure rules of messaging/policy.py: who may write to whom (R-M1 after
R-A3) and which news a user sees (R-M4), without broker or database."""
from __future__ import annotations

import pytest

from messaging import policy

TEACHERS_OF_MY_CHILD = {"t-child", "ct-child"}


@pytest.mark.parametrize("sender_roles,recipient,recipient_roles,allowed", [
    (["parent"], "t-child", ["teacher"], True),
    (["parent"], "ct-child", ["teacher", "class_teacher"], True),
    (["parent"], "dir", ["director"], True),
    (["parent"], "sec", ["secretary"], True),
    (["parent"], "t-other", ["teacher"], False),
    (["parent"], "p-other", ["parent"], False),
    (["parent"], "s-other", ["student"], False),
    (["parent"], "ghost", None, False),             # unknown or another school
    (["student"], "t-child", ["teacher"], True),
    (["student"], "dir", ["director"], False),
    (["student"], "s-other", ["student"], False),
    (["teacher"], "p-other", ["parent"], True),
    (["news_editor"], "s-other", ["student"], True),
    (["teacher"], "ghost", None, False),
    ([], "t-child", ["teacher"], False),             # no role, no mail
])
def test_may_write_R_M1(sender_roles, recipient, recipient_roles, allowed):
    assert policy.may_write(sender_id="me", sender_roles=sender_roles, recipient_id=recipient,
                            recipient_roles=recipient_roles, related_teachers=TEACHERS_OF_MY_CHILD) is allowed


def test_a_reply_reaches_the_author_only_and_nobody_writes_to_themselves():
    assert policy.may_write(sender_id="me", sender_roles=["parent"], recipient_id="t-other",
                            recipient_roles=["teacher"], related_teachers=set(), reply_to_sender="t-other")
    assert not policy.may_write(sender_id="me", sender_roles=["parent"], recipient_id="p-other",
                                recipient_roles=["parent"], related_teachers=set(), reply_to_sender="t-other")
    assert not policy.may_write(sender_id="me", sender_roles=["director"], recipient_id="me",
                                recipient_roles=["director"], related_teachers=set())


@pytest.mark.parametrize("roles,audience,mine,children,taught,seen", [
    (["student"], "school", set(), set(), set(), True),
    (["student"], "staff", set(), set(), set(), False),
    (["teacher"], "staff", set(), set(), set(), True),
    (["student"], "class", {"c"}, set(), set(), True),
    (["student"], "class", {"x"}, set(), set(), False),
    (["student"], "parents", {"c"}, set(), set(), False),
    (["parent"], "parents", set(), {"c"}, set(), True),
    (["parent"], "class", set(), {"c"}, set(), True),
    (["parent"], "parents", set(), {"x"}, set(), False),
    (["teacher"], "parents", set(), set(), {"c"}, True),
    (["teacher"], "class", set(), set(), {"x"}, False),
    (["deputy"], "parents", set(), set(), set(), True),
    (["secretary"], "class", set(), set(), set(), False),
])
def test_news_visible_R_M4(roles, audience, mine, children, taught, seen):
    assert policy.news_visible(user_id="me", roles=roles, audience=audience, class_id="c", author_id="someone",
                               my_classes=mine, my_children_classes=children, taught_classes=taught) is seen


def test_who_may_post_R_M4():
    assert policy.may_post("news", ["news_editor"]) and not policy.may_post("announcement", ["news_editor"])
    assert policy.may_post("announcement", ["secretary"]) and not policy.may_post("news", ["secretary"])
    assert not policy.may_post("news", ["teacher", "parent"])
    assert policy.default_kind(["news_editor"]) == "news" and policy.default_kind(["director"]) == "announcement"
