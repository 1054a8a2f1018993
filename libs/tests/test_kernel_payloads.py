"""kernel.payloads: the event payload readers every consumer uses."""
from __future__ import annotations

import datetime as dt

import pytest

from kernel import payloads
from kernel.payloads import InvalidPayload


def test_text_treats_empty_as_absent():
    assert payloads.text({"a": "x"}, "a") == "x"
    assert payloads.text({"a": ""}, "a", required=False) is None
    assert payloads.texts({"a": "1", "b": "2"}, "b", "a") == ["2", "1"]
    for data in ({}, {"a": ""}, {"a": None}):
        with pytest.raises(InvalidPayload, match="payload.a is required"):
            payloads.text(data, "a")
    with pytest.raises(InvalidPayload, match="must be a string"):
        payloads.text({"a": 5}, "a", required=False)
    assert issubclass(InvalidPayload, ValueError)
    assert payloads.text({"id": "x" * 36}, "id", max_len=36) == "x" * 36
    with pytest.raises(InvalidPayload, match="longer than 36"):
        payloads.texts({"a": "1", "id": "x" * 37}, "a", "id", max_len=36)


def test_dates_are_strict():
    assert payloads.date({"on": "2026-10-12"}, "on") == dt.date(2026, 10, 12)
    assert payloads.date({}, "on", required=False) is None
    for bad in ("20261012", "2026-10-12T10:00:00", "2026-02-30", "12.10.2026"):
        with pytest.raises(InvalidPayload, match="YYYY-MM-DD"):
            payloads.date({"on": bad}, "on")


def test_integers_flags_and_lists():
    assert payloads.integer({"v": 5}, "v", low=1, high=5) == 5
    assert payloads.integer({}, "w", default=1) == 1
    for bad in ({"v": True}, {"v": "5"}, {"v": 6}, {}):
        with pytest.raises(InvalidPayload):
            payloads.integer(bad, "v", low=1, high=5)
    assert payloads.flag({}, "late") is False and payloads.flag({"late": True}, "late") is True
    with pytest.raises(InvalidPayload):
        payloads.flag({"late": "yes"}, "late")
    assert payloads.strings({"ids": ["b", "a", "b"]}, "ids") == ("b", "a")
    assert payloads.strings({}, "ids", required=False) == ()
    for bad in ({"ids": "a"}, {"ids": ["a", ""]}, {"ids": [1]}, {}):
        with pytest.raises(InvalidPayload):
            payloads.strings(bad, "ids")
    with pytest.raises(InvalidPayload):
        payloads.strings({"ids": []}, "ids", non_empty=True)
    with pytest.raises(InvalidPayload):
        payloads.strings({"ids": ["x" * 37]}, "ids", max_len=36)


def test_roles_keep_the_producers_order_without_repeats():
    assert payloads.roles({"roles": ["teacher", "class_teacher", "teacher"]}) == ("teacher", "class_teacher")
    assert payloads.roles({}, required=False) == ()
    with pytest.raises(InvalidPayload):
        payloads.roles({})


def test_envelope_fields():
    env = {"school_id": "s", "occurred_at": "2026-10-12T10:00:00", "payload": {"a": 1}}
    assert payloads.school_id(env) == "s" and payloads.payload(env) == {"a": 1}
    assert payloads.occurred_at(env) == dt.datetime(2026, 10, 12, 10, tzinfo=dt.timezone.utc)
    moscow = {"occurred_at": "2026-10-12T13:00:00+03:00"}
    assert payloads.occurred_at(moscow).tzinfo == dt.timezone.utc and payloads.occurred_at(moscow).hour == 10
    for bad in ({}, {"occurred_at": "yesterday"}):
        with pytest.raises(InvalidPayload):
            payloads.occurred_at(bad)
    for bad in ({}, {"payload": []}, None):
        with pytest.raises(InvalidPayload):
            payloads.payload(bad)
