"""Unit tests of messaging.domain: pure rules with plain values."""
from __future__ import annotations

import base64
import datetime as dt

import pytest

from kernel.context import CallContext
from kernel.errors import InvalidContext
from messaging import domain, events
from messaging.errors import ValidationError
from messaging_testkit import new_id

UTC = dt.timezone.utc


def a_mark(**over):
    values = dict(mark_id=new_id(), lesson_id=new_id(), student_id=new_id(), subject_id=new_id(),
                  subject_name="Математика", date=dt.date(2026, 10, 12), value=5)
    values.update(over)
    return events.MarkPosted(**values)


# -- texts (R-M2: parents are told about new marks, in Russian) ---------------

def test_mark_body_matches_the_agreed_wording():
    body = domain.mark_body(student_name="Иванов Пётр", value=5, subject_name="Математика",
                            date=dt.date(2026, 10, 12))
    assert body == "Иванов Пётр: оценка 5 по предмету «Математика» за 12.10.2026"


def test_format_date_pads_day_and_month():
    assert domain.format_date(dt.date(2027, 1, 3)) == "03.01.2027"


@pytest.mark.parametrize("value, shown", [(2, "2"), ("4+", "4+"), (" 3 ", "3")])
def test_mark_value_is_shown_as_given(value, shown):
    assert domain.format_mark_value(value) == shown


def test_unknown_student_and_subject_have_russian_fallbacks():
    body = domain.mark_body(student_name=None, value=4, subject_name="  ", date=dt.date(2026, 9, 1))
    assert body == "Ваш ребёнок: оценка 4 по предмету «без названия» за 01.09.2026"


def test_braces_in_names_are_not_template_fields():
    body = domain.mark_body(student_name="{student}", value=5, subject_name="{date}", date=dt.date(2026, 9, 1))
    assert body == "{student}: оценка 5 по предмету «{date}» за 01.09.2026"


# -- who is notified of a mark (R-A3: a parent sees only their own child) ------

def test_one_mark_notification_per_linked_parent():
    mark = a_mark()
    mum, dad = new_id(), new_id()
    drafts = domain.mark_notifications(mark, [mum, dad], student_name="Иванов Пётр", subject_name=None)
    assert [d.recipient_id for d in drafts] == [mum, dad]
    d = drafts[0]
    assert (d.kind, d.title) == ("mark", "Новая оценка")
    assert d.body == "Иванов Пётр: оценка 5 по предмету «Математика» за 12.10.2026"
    assert d.data == {"mark_id": mark.mark_id, "lesson_id": mark.lesson_id, "student_id": mark.student_id,
                      "subject_id": mark.subject_id, "value": 5, "date": "2026-10-12"}


def test_mark_notifications_dedupe_parents_and_never_address_the_student():
    mark = a_mark()
    mum = new_id()
    drafts = domain.mark_notifications(mark, [mum, mum, mark.student_id, ""], student_name="X", subject_name=None)
    assert [d.recipient_id for d in drafts] == [mum]


def test_no_parents_no_notifications():
    assert domain.mark_notifications(a_mark(), [], student_name="X", subject_name=None) == []


def test_explicit_subject_name_overrides_the_payload():
    drafts = domain.mark_notifications(a_mark(subject_name=None), [new_id()], student_name="Иванов Пётр",
                                       subject_name="Физика")
    assert "«Физика»" in drafts[0].body


def test_each_draft_has_its_own_data_dict():
    drafts = domain.mark_notifications(a_mark(), [new_id(), new_id()], student_name="X", subject_name=None)
    drafts[0].data["value"] = 2
    assert drafts[1].data["value"] == 5


# -- projections: the newest fact wins, not the latest delivery ----------------

def test_is_newer_orders_by_occurrence():
    t = dt.datetime(2026, 10, 12, 8, 0, tzinfo=UTC)
    assert domain.is_newer(t, None)
    assert domain.is_newer(t + dt.timedelta(seconds=1), t)
    assert domain.is_newer(t, t)  # a tie goes to the later delivery
    assert not domain.is_newer(t - dt.timedelta(microseconds=1), t)


def test_is_newer_compares_naive_utc_with_aware():
    aware = dt.datetime(2026, 10, 12, 8, 0, tzinfo=UTC)
    naive_later = dt.datetime(2026, 10, 12, 8, 1)
    moscow_earlier = dt.datetime(2026, 10, 12, 10, 59, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    assert domain.is_newer(naive_later, aware)
    assert not domain.is_newer(moscow_earlier, aware)


# -- RPC arguments ---------------------------------------------------------------

def test_ctx_gives_actor_and_school():
    actor, school = new_id(), new_id()
    who = CallContext.from_rpc({"actor_id": actor, "school_id": school, "roles": []})
    assert (who.actor_id, who.school_id) == (actor, school)


@pytest.mark.parametrize("ctx", [None, [], {}, {"actor_id": "a"}, {"actor_id": "", "school_id": "s"},
                                 {"actor_id": 5, "school_id": "s"}, {"actor_id": "a", "school_id": None}])
def test_bad_ctx_is_401_invalid_token(ctx):
    with pytest.raises(InvalidContext) as err:
        CallContext.from_rpc(ctx)
    assert err.value.code == "INVALID_TOKEN" and err.value.kind == "unauthenticated"


@pytest.mark.parametrize("limit, expected", [(1, 1), (100, 100), (50, 50), ("20", 20)])
def test_limit_in_range(limit, expected):
    assert domain.check_limit(limit) == expected


@pytest.mark.parametrize("limit", [0, 101, -1, None, True, 2.5, "abc", "", [5]])
def test_limit_out_of_range_is_a_validation_error(limit):
    with pytest.raises(ValidationError) as err:
        domain.check_limit(limit)
    assert err.value.details == {"field": "limit"}


def test_cursor_round_trip_keeps_microseconds_and_id():
    at = dt.datetime(2026, 10, 12, 8, 31, 2, 123456, tzinfo=UTC)
    nid = new_id()
    assert domain.decode_cursor(domain.encode_cursor(at, nid)) == (at, nid)


def test_cursor_of_naive_utc_time_decodes_as_utc():
    at = dt.datetime(2026, 10, 12, 8, 31, 2)
    decoded, _ = domain.decode_cursor(domain.encode_cursor(at, "x"))
    assert decoded == at.replace(tzinfo=UTC)


@pytest.mark.parametrize("cursor", [None, ""])
def test_no_cursor_is_the_first_page(cursor):
    assert domain.decode_cursor(cursor) is None


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "not base64 at all!", 42, ["x"], _b64("{}"), _b64('["2026-10-12T08:00:00+00:00"]'),
    _b64('["yesterday", "id"]'), _b64('["2026-10-12T08:00:00", "id"]'), _b64('["2026-10-12T08:00:00+00:00", ""]'),
    _b64('["2026-10-12T08:00:00+00:00", 7]'), "A" * 300, "%%%", "\u0436\u0436",
])
def test_bad_cursor_is_a_validation_error(cursor):
    with pytest.raises(ValidationError) as err:
        domain.decode_cursor(cursor)
    assert err.value.details == {"field": "cursor"}


def test_ids_are_deduplicated_in_order():
    a, b = new_id(), new_id()
    assert domain.check_ids([a, b, a]) == [a, b]
    assert domain.check_ids([]) == []


@pytest.mark.parametrize("ids", [None, "abc", [1], [""], ["x" * 65], [new_id()] * 501, {"a": 1}])
def test_bad_ids_are_a_validation_error(ids):
    with pytest.raises(ValidationError):
        domain.check_ids(ids)


# -- views and pages -----------------------------------------------------------------

def test_notification_view_is_json_ready():
    at = dt.datetime(2026, 10, 12, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    view = domain.notification_view(id="n", kind="mark", title="t", body="b", data=None, created_at=at,
                                    read_at=None)
    assert view == {"id": "n", "kind": "mark", "title": "t", "body": "b", "data": {},
                    "created_at": "2026-10-12T08:00:00+00:00", "read": False}
    assert domain.notification_view(id="n", kind="k", title="t", body="b", data={}, created_at=at,
                                    read_at=at)["read"] is True


class Row:
    def __init__(self, i):
        self.id = f"id{i}"
        self.created_at = dt.datetime(2026, 10, 12, tzinfo=UTC) - dt.timedelta(minutes=i)


def test_page_with_an_extra_row_has_a_cursor_after_the_last_shown():
    rows = [Row(i) for i in range(3)]
    shown, cursor = domain.page(rows, 2)
    assert shown == rows[:2]
    assert domain.decode_cursor(cursor) == (rows[1].created_at, rows[1].id)


def test_last_page_has_no_cursor():
    rows = [Row(i) for i in range(2)]
    assert domain.page(rows, 2) == (rows, None)
