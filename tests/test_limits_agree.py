"""The gateway's published limits are the journal's (kernel.limits): the
OpenAPI document lets through exactly what the journal takes, so a client
reading the document never meets a second, different limit (R-J1, R-J3, R-J7).

The journal's side is asserted by behaviour (its validators accept the
document's maximum and refuse one more), so a constant the journal stops
reading from kernel.limits fails here too."""
from __future__ import annotations

import pytest

from journal import domain, errors

from gateway import openapi
from gateway.validation import problems

LESSON = {"class_id": "c1", "subject_id": "s1", "date": "2026-10-12", "topic": "Дроби", "lesson_type": "урок"}


def schema(name: str) -> dict:
    return openapi.document()["components"]["schemas"][name]


def inner(prop: dict) -> dict:
    """The schema of a nullable optional field."""
    return next((s for s in prop.get("anyOf", []) if s.get("type") != "null"), prop)


def mark(**extra) -> dict:
    return {"student_id": "s1", "value": 5, **extra}


def test_marks_per_request_and_comment_length_agree():
    most = schema("PostMarksRequest")["properties"]["marks"]["maxItems"]
    longest = inner(schema("MarkInput")["properties"]["comment"])["maxLength"]
    assert most >= 30 and longest >= 100  # a class, a sentence
    assert problems("PostMarksRequest", {"marks": [mark()] * most}) == []
    assert problems("PostMarksRequest", {"marks": [mark()] * (most + 1)}) != []
    assert len(domain.lessons.validate_marks([mark()] * most, allow_mark_1=False)) == most
    with pytest.raises(errors.ValidationError):
        domain.lessons.validate_marks([mark()] * (most + 1), allow_mark_1=False)
    assert problems("PostMarksRequest", {"marks": [mark(comment="щ" * longest)]}) == []
    assert problems("PostMarksRequest", {"marks": [mark(comment="щ" * (longest + 1))]}) != []
    assert domain.lessons.validate_marks([mark(comment="щ" * longest)], allow_mark_1=False)[0].comment == "щ" * longest
    with pytest.raises(errors.ValidationError):
        domain.lessons.validate_marks([mark(comment="щ" * (longest + 1))], allow_mark_1=False)


def test_correction_comment_and_reason_agree():
    props = schema("CorrectMarkRequest")["properties"]
    longest, reason = inner(props["comment"])["maxLength"], props["reason"]["maxLength"]
    assert schema("RemoveMarkRequest")["properties"]["reason"]["maxLength"] == reason
    assert domain.lessons.validate_correction({"comment": "щ" * longest, "reason": "р" * reason}, allow_mark_1=False)
    for data in ({"comment": "щ" * (longest + 1), "reason": "р"}, {"comment": "щ", "reason": "р" * (reason + 1)}):
        assert problems("CorrectMarkRequest", data) != []
        with pytest.raises(errors.ValidationError):
            domain.lessons.validate_correction(data, allow_mark_1=False)


def test_attendance_entries_and_reason_agree():
    props = schema("AttendanceRequest")["properties"]
    most, reason = props["entries"]["maxItems"], inner(props["reason"])["maxLength"]
    entries = [{"student_id": f"s{n}", "status": "present"} for n in range(most + 1)]
    assert problems("AttendanceRequest", {"entries": entries[:most], "reason": "р" * reason}) == []
    assert len(domain.attendance.validate_attendance({"entries": entries[:most], "reason": "р" * reason}).entries) == most
    for data in ({"entries": entries}, {"entries": entries[:1], "reason": "р" * (reason + 1)}):
        assert problems("AttendanceRequest", data) != []
        with pytest.raises(errors.ValidationError):
            domain.attendance.validate_attendance(data)


@pytest.mark.parametrize("field", ["topic", "lesson_type", "work_type", "homework"])
def test_lesson_text_lengths_agree(field):
    longest = inner(schema("RecordLessonRequest")["properties"][field])["maxLength"]
    ok, too_long = {**LESSON, field: "щ" * longest}, {**LESSON, field: "щ" * (longest + 1)}
    assert problems("RecordLessonRequest", ok) == []
    assert getattr(domain.lessons.validate_lesson(ok, actor_id="t1"), field) == "щ" * longest
    assert [p["field"] for p in problems("RecordLessonRequest", too_long)] == [field]
    with pytest.raises(errors.ValidationError):
        domain.lessons.validate_lesson(too_long, actor_id="t1")
