"""The pure helpers of the views, with plain values."""
from __future__ import annotations

import datetime as dt

from ejournal.identity.v1 import identity_pb2

from gateway.convert import diary_range, profile, token_pair, week_of

D = dt.date


def test_week_of_is_monday_to_sunday():
    assert week_of(D(2026, 10, 14)) == (D(2026, 10, 12), D(2026, 10, 18))  # a Wednesday
    assert week_of(D(2026, 10, 12)) == (D(2026, 10, 12), D(2026, 10, 18))  # a Monday
    assert week_of(D(2026, 10, 18)) == (D(2026, 10, 12), D(2026, 10, 18))  # a Sunday
    assert week_of(D(2027, 1, 1)) == (D(2026, 12, 28), D(2027, 1, 3))     # across a year


def test_diary_range_defaults():
    today = D(2026, 10, 14)
    assert diary_range(None, None, today) == (D(2026, 10, 12), D(2026, 10, 18))
    assert diary_range("2026-10-01", None, today) == (D(2026, 10, 1), D(2026, 10, 7))
    assert diary_range(None, "2026-10-07", today) == (D(2026, 10, 1), D(2026, 10, 7))
    assert diary_range("2026-10-05", "2026-10-05", today) == (D(2026, 10, 5), D(2026, 10, 5))


def test_diary_range_refusals():
    today = D(2026, 10, 14)
    assert diary_range("2026-10-08", "2026-10-07", today) == "problem.date_order"
    assert diary_range("2026-09-01", "2026-12-02", today) == "problem.date_range"  # 93 days
    assert diary_range("2026-09-01", "2026-12-01", today) == (D(2026, 9, 1), D(2026, 12, 1))  # 92 days
    # the refusal and the published contract say the same limit
    from gateway import openapi
    from gateway.convert import MAX_DIARY_DAYS
    from gateway.messages import text
    assert f"не больше {MAX_DIARY_DAYS} дней" in text("problem.date_range")
    to = next(p for p in openapi.document()["paths"]["/api/v1/students/{id}/diary"]["get"]["parameters"]
              if p["name"] == "to")
    assert f"at most {MAX_DIARY_DAYS} days" in to["description"]


def test_token_pair_and_profile_shapes():
    pair = token_pair(identity_pb2.TokenPair(access_token="a", refresh_token="r", expires_in=60, user_id="u",
                                             roles=["admin", "teacher"]))
    assert pair == {"access_token": "a", "refresh_token": "r", "token_type": "Bearer", "expires_in": 60,
                    "user": {"id": "u", "roles": ["admin", "teacher"]}}
    empty = profile(identity_pb2.Profile(id="u"))
    assert empty == {"id": "u", "login": "", "full_name": "", "roles": [], "children": [], "classes": []}
