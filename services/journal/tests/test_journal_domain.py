"""Unit tests of journal.domain: every rule with plain values."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from kernel.context import CallContext

from journal import domain, errors, settings

D = dt.date


def actor(*roles, actor_id="u1", school_id="s1"):
    return CallContext(actor_id, school_id, frozenset(roles))


def year_data(**over):
    data = {"name": "2026/2027", "starts_on": "2026-09-01", "ends_on": "2027-05-31", "periods": [
        {"name": "1 полугодие", "kind": "half_year", "starts_on": "2026-09-01", "ends_on": "2026-12-28"},
        {"name": "2 полугодие", "kind": "half_year", "starts_on": "2027-01-09", "ends_on": "2027-05-31"},
    ]}
    data.update(over)
    return data


# --- context -------------------------------------------------------------------

def test_call_context_decodes_roles():
    a = CallContext.from_rpc({"actor_id": "u", "school_id": "s", "roles": ["teacher"], "correlation_id": "c"})
    assert a == CallContext("u", "s", frozenset({"teacher"}), "c")
    assert a.has("admin", "teacher") and not a.has("admin")


@pytest.mark.parametrize("ctx", [None, "x", {}, {"actor_id": "u"}, {"school_id": "s"},
                                 {"actor_id": " ", "school_id": "s"},
                                 {"actor_id": "u", "school_id": "s", "roles": "admin"}])
def test_call_context_refuses_incomplete_context(ctx):
    with pytest.raises(errors.InvalidContext) as exc:
        CallContext.from_rpc(ctx)
    assert exc.value.kind == "unauthenticated"


# --- primitives ------------------------------------------------------------------

@pytest.mark.parametrize("value", ["2026-13-01", "2026-02-30", "01.09.2026", "20260901", 20260901, "2026-9-1"])
def test_parse_date_is_strict_yyyy_mm_dd(value):
    with pytest.raises(errors.ValidationError) as exc:
        domain.common.parse_date(value, "on")
    assert exc.value.code == "VALIDATION_ERROR" and exc.value.details["field"] == "on"


def test_parse_date_accepts_iso_and_optional_blank():
    assert domain.common.parse_date("2026-09-01", "on") == D(2026, 9, 1)
    assert domain.common.parse_date("", "on", required=False) is None
    with pytest.raises(errors.ValidationError):
        domain.common.parse_date(None, "on")


def test_text_trims_and_limits():
    assert domain.common.text("  Алгебра ", "name") == "Алгебра"
    assert domain.common.text("   ", "name", required=False) is None
    with pytest.raises(errors.ValidationError):
        domain.common.text("", "name")
    with pytest.raises(errors.ValidationError):
        domain.common.text(5, "name")
    with pytest.raises(errors.ValidationError):
        domain.common.text("x" * 11, "name", max_len=10)


@pytest.mark.parametrize("value", [5, "a b", "x" * 65, "   "])
def test_ident_rejects_non_ids(value):
    with pytest.raises(errors.ValidationError):
        domain.common.ident(value, "class_id")


# --- years and periods (R-S1) ------------------------------------------------

def test_validate_year_accepts_two_half_years():
    spec = domain.structure.validate_year(year_data())
    assert spec.name == "2026/2027" and spec.starts_on == D(2026, 9, 1)
    assert [p.kind for p in spec.periods] == ["half_year", "half_year"]


def test_year_must_end_after_it_starts_and_last_at_most_a_year():
    with pytest.raises(errors.ValidationError):
        domain.structure.validate_year(year_data(ends_on="2026-08-01"))
    with pytest.raises(errors.ValidationError):
        domain.structure.validate_year(year_data(ends_on="2027-12-31"))


def test_year_needs_periods():
    with pytest.raises(errors.ValidationError) as exc:
        domain.structure.validate_year(year_data(periods=[]))
    assert exc.value.details["field"] == "periods"


def test_period_kind_must_be_known():
    data = year_data()
    data["periods"][0]["kind"] = "semester"
    with pytest.raises(errors.ValidationError) as exc:
        domain.structure.validate_year(data)
    assert exc.value.details["field"] == "periods[0].kind"


def test_period_outside_the_year_is_refused():
    data = year_data()
    data["periods"][1]["ends_on"] = "2027-06-30"
    with pytest.raises(errors.InvalidPeriods) as exc:
        domain.structure.validate_year(data)
    assert exc.value.kind == "rule" and exc.value.details["index"] == 1


def test_overlapping_periods_are_refused():
    data = year_data()
    data["periods"][1]["starts_on"] = "2026-12-20"
    with pytest.raises(errors.InvalidPeriods) as exc:
        domain.structure.validate_year(data)
    assert exc.value.code == "INVALID_PERIODS" and exc.value.details["overlaps"] == "1 полугодие"


def test_period_ending_before_it_starts_is_refused():
    data = year_data()
    data["periods"][0]["ends_on"] = "2026-08-31"
    with pytest.raises(errors.InvalidPeriods):
        domain.structure.validate_year(data)


def test_period_names_are_unique():
    data = year_data()
    data["periods"][1]["name"] = "1 ПОЛУГОДИЕ"
    with pytest.raises(errors.InvalidPeriods):
        domain.structure.validate_year(data)


def test_archived_year_takes_no_writes():
    domain.common.check_year_open(False)
    with pytest.raises(errors.YearClosed):
        domain.common.check_year_open(True)


def test_lesson_date_must_lie_in_a_period():
    periods = [(D(2026, 9, 1), D(2026, 10, 25)), (D(2026, 11, 5), D(2026, 12, 28))]
    domain.lessons.check_lesson_date(D(2026, 9, 1), periods)
    domain.lessons.check_lesson_date(D(2026, 12, 28), periods)
    with pytest.raises(errors.LessonOutsidePeriod) as exc:
        domain.lessons.check_lesson_date(D(2026, 11, 1), periods)  # autumn holidays
    assert exc.value.kind == "rule"


def test_admission_date_not_after_the_year():
    domain.common.check_date_in_year(D(2026, 8, 25), D(2026, 9, 1), D(2027, 5, 31), "on")
    with pytest.raises(errors.DateOutsideYear):
        domain.common.check_date_in_year(D(2027, 6, 1), D(2026, 9, 1), D(2027, 5, 31), "on")


# --- subjects, classes, roles ------------------------------------------------

def test_subject_name_is_normalised_and_required():
    assert domain.structure.validate_subject({"name": "  Русский   язык "}) == "Русский язык"
    with pytest.raises(errors.ValidationError):
        domain.structure.validate_subject({"name": ""})
    with pytest.raises(errors.ValidationError):
        domain.structure.validate_subject(["Алгебра"])


def test_validate_class_builds_the_name():
    spec = domain.structure.validate_class({"year_id": "y", "grade": 5, "letter": "а", "class_teacher_id": "t"})
    assert (spec.grade, spec.letter, spec.name) == (5, "А", "5А")


@pytest.mark.parametrize("grade", [0, 12, "5", True, None])
def test_grade_is_an_integer_1_to_11(grade):
    with pytest.raises(errors.ValidationError) as exc:
        domain.structure.validate_class({"year_id": "y", "grade": grade, "letter": "А", "class_teacher_id": "t"})
    assert exc.value.details["field"] == "grade"


@pytest.mark.parametrize("letter", ["", "5", "А-1", "АБВГ"])
def test_class_letter_is_letters(letter):
    with pytest.raises(errors.ValidationError):
        domain.structure.validate_class({"year_id": "y", "grade": 5, "letter": letter, "class_teacher_id": "t"})


def test_class_teacher_is_required():
    with pytest.raises(errors.ValidationError) as exc:
        domain.structure.validate_class({"year_id": "y", "grade": 5, "letter": "А"})
    assert exc.value.details["field"] == "class_teacher_id"


def test_require_role_accepts_teacher_or_class_teacher():
    domain.common.require_role(["teacher"], domain.common.TEACHING_ROLES, field="class_teacher_id")
    domain.common.require_role(["parent", "class_teacher"], domain.common.TEACHING_ROLES, field="class_teacher_id")
    with pytest.raises(errors.RoleMismatch) as exc:
        domain.common.require_role(["student"], domain.common.TEACHING_ROLES, field="class_teacher_id")
    assert exc.value.code == "ROLE_MISMATCH" and exc.value.kind == "rule"


# --- enrolment -----------------------------------------------------------------

def test_validate_enrolment():
    spec = domain.structure.validate_enrolment({"student_id": "s", "order_no": "№ 12-у", "on": "2026-09-01"})
    assert spec == domain.structure.EnrolmentSpec("s", "№ 12-у", D(2026, 9, 1))
    with pytest.raises(errors.ValidationError):
        domain.structure.validate_enrolment({"student_id": "s", "on": "2026-09-01"})


def test_enrolment_interval_left_on_is_the_first_day_out():
    assert domain.structure.enrolled_on(D(2026, 9, 1), D(2026, 9, 1), None)
    assert not domain.structure.enrolled_on(D(2026, 8, 31), D(2026, 9, 1), None)
    assert domain.structure.enrolled_on(D(2026, 10, 14), D(2026, 9, 1), D(2026, 10, 15))
    assert not domain.structure.enrolled_on(D(2026, 10, 15), D(2026, 9, 1), D(2026, 10, 15))


# --- assignments ---------------------------------------------------------------

def test_validate_assignment_allows_half_hours():
    spec = domain.structure.validate_assignment({"teacher_id": "t", "class_id": "c", "subject_id": "s", "hours_per_week": 0.5})
    assert spec.hours_per_week == 0.5 and spec.subgroup_id is None
    spec = domain.structure.validate_assignment({"teacher_id": "t", "class_id": "c", "subject_id": "s", "hours_per_week": 3.0,
                                                 "subgroup_id": "g1"})
    assert spec.hours_per_week == 3 and isinstance(spec.hours_per_week, int) and spec.subgroup_id == "g1"


@pytest.mark.parametrize("hours", [0, -1, 41, 1.3, "2", True, None])
def test_assignment_hours_must_be_sane(hours):
    with pytest.raises(errors.ValidationError):
        domain.structure.validate_assignment({"teacher_id": "t", "class_id": "c", "subject_id": "s", "hours_per_week": hours})


# --- who may write (R-A3) ------------------------------------------------------

def test_admin_roles_required_for_structure():
    domain.common.require_roles(actor("admin"), "admin")
    domain.common.require_roles(actor("deputy"), "admin", "deputy")
    with pytest.raises(errors.NotAllowed) as exc:
        domain.common.require_roles(actor("teacher", "class_teacher"), "admin")
    assert exc.value.kind == "forbidden" and exc.value.code == "FORBIDDEN"


def test_may_enrol_admin_or_own_class_teacher():
    assert domain.structure.may_enrol(actor("admin"), "t1")
    assert domain.structure.may_enrol(actor("class_teacher", actor_id="t1"), "t1")
    assert not domain.structure.may_enrol(actor("class_teacher", actor_id="t2"), "t1")
    assert not domain.structure.may_enrol(actor("deputy"), None)


def allowed(actor_, **kw) -> bool:
    try:
        domain.lessons.require_journal_access(actor_, **kw)
    except errors.NotAssigned:
        return False
    return True


def test_journal_access_for_assigned_teacher_class_teacher_and_admin():
    kw = dict(class_teacher_id="ct", subgroup_id=None)
    assert allowed(actor("teacher"), assigned_subgroups=[None], **kw)
    assert allowed(actor("class_teacher", actor_id="ct"), assigned_subgroups=[], **kw)
    assert allowed(actor("admin"), assigned_subgroups=[], **kw)
    assert not allowed(actor("teacher", "deputy"), assigned_subgroups=[], **kw)
    assert not allowed(actor("deputy"), assigned_subgroups=[None], **kw)  # not a role that keeps a journal
    with pytest.raises(errors.NotAssigned) as exc:
        domain.lessons.require_journal_access(actor("teacher"), assigned_subgroups=[], **kw)
    assert exc.value.code == "NOT_ASSIGNED" and exc.value.kind == "forbidden"


def test_subgroup_assignment_covers_only_its_subgroup():
    """R-S5: each teacher keeps the journal of their own subgroup."""
    t = actor("teacher")
    assert allowed(t, class_teacher_id=None, assigned_subgroups=["g1"], subgroup_id="g1")
    assert not allowed(t, class_teacher_id=None, assigned_subgroups=["g1"], subgroup_id="g2")
    assert not allowed(t, class_teacher_id=None, assigned_subgroups=["g1"], subgroup_id=None)
    assert allowed(t, class_teacher_id=None, assigned_subgroups=[None], subgroup_id="g2")


def test_a_substitute_keeps_the_lesson_they_replace_r_j6():
    """The teacher who gave the lesson keeps it; a new lesson naming the
    replaced teacher is theirs when the replaced one teaches it."""
    t = actor("teacher", actor_id="sub")
    kw = dict(class_teacher_id="ct", assigned_subgroups=[], subgroup_id=None)
    assert allowed(t, lesson_teacher_id="sub", **kw) and not allowed(t, lesson_teacher_id="other", **kw)
    assert allowed(t, replaced_subgroups=[None], **kw)
    assert not allowed(t, replaced_subgroups=[], **kw)
    assert not allowed(actor("student", actor_id="sub"), replaced_subgroups=[None], **kw)


def test_substitute_for_must_teach_that_lesson():
    """R-J6: the replaced teacher is the one assigned to the lesson."""
    domain.lessons.check_substitute([None], None)
    domain.lessons.check_substitute(["g1"], "g1")
    with pytest.raises(errors.SubstituteNotAssigned):
        domain.lessons.check_substitute([], None)


# --- lessons (R-J1, R-J4, R-J5) ------------------------------------------------

def lesson_data(**over):
    data = {"class_id": "c", "subject_id": "s", "date": "2026-10-12", "topic": "Дроби", "lesson_type": "урок"}
    data.update(over)
    return data


def test_validate_lesson_optional_fields():
    spec = domain.lessons.validate_lesson(lesson_data(homework="  ", work_type="практическая"), actor_id="t")
    assert spec.topic == "Дроби" and spec.homework is None and spec.work_type == "практическая"
    assert spec.date == D(2026, 10, 12)


@pytest.mark.parametrize("topic", [None, "", "   "])
def test_topic_is_required_r_j1(topic):
    with pytest.raises(errors.ValidationError) as exc:
        domain.lessons.validate_lesson(lesson_data(topic=topic), actor_id="t")
    assert exc.value.code == "VALIDATION_ERROR" and exc.value.details["field"] == "topic"


def test_lesson_type_and_date_are_required():
    with pytest.raises(errors.ValidationError):
        domain.lessons.validate_lesson(lesson_data(lesson_type=None), actor_id="t")
    with pytest.raises(errors.ValidationError):
        domain.lessons.validate_lesson(lesson_data(date="12.10.2026"), actor_id="t")


def test_nobody_substitutes_for_themselves():
    with pytest.raises(errors.ValidationError):
        domain.lessons.validate_lesson(lesson_data(substitute_for="t"), actor_id="t")


def test_no_homework_in_grade_1_r_j4():
    domain.lessons.check_homework_allowed(1, None)
    domain.lessons.check_homework_allowed(2, "§ 5")
    with pytest.raises(errors.NoHomeworkInGrade1) as exc:
        domain.lessons.check_homework_allowed(1, "§ 5")
    assert exc.value.code == "NO_HOMEWORK_IN_GRADE_1" and exc.value.kind == "rule"


@pytest.mark.parametrize("lag,late,overdue", [(-1, False, False), (0, False, False), (1, True, False),
                                              (3, True, False), (4, True, True), (30, True, True)])
def test_entry_flags_r_j5(lag, late, overdue):
    lesson_day = D(2026, 10, 12)
    assert domain.lessons.entry_flags(lesson_day, lesson_day + dt.timedelta(days=lag)) == (late, overdue)


def test_school_today_uses_the_school_time_zone():
    # 22:30 UTC on 12 Oct is already 13 Oct in Moscow (UTC+3).
    now = dt.datetime(2026, 10, 12, 22, 30, tzinfo=dt.timezone.utc)
    assert domain.common.school_today(now, ZoneInfo("Europe/Moscow")) == D(2026, 10, 13)
    assert domain.common.school_today(now, ZoneInfo("UTC")) == D(2026, 10, 12)
    with pytest.raises(ValueError):
        domain.common.school_today(dt.datetime(2026, 10, 12), ZoneInfo("UTC"))


# --- marks (R-J3, R-J4, R-J9) -------------------------------------------------

@pytest.mark.parametrize("value", [2, 3, 4, 5, 5.0])
def test_marks_2_to_5_are_valid_r_j3(value):
    assert domain.lessons.mark_value(value, allow_mark_1=False) == int(value)


@pytest.mark.parametrize("value", [1, 0, 6, -3, 4.5, "5", "пять", None, True, [5]])
def test_other_values_are_invalid_marks(value):
    with pytest.raises(errors.InvalidMark) as exc:
        domain.lessons.mark_value(value, allow_mark_1=False)
    assert exc.value.code == "INVALID_MARK" and exc.value.kind == "rule"


def test_mark_1_only_when_the_school_allows_it():
    assert domain.lessons.mark_value(1, allow_mark_1=True) == 1
    with pytest.raises(errors.InvalidMark):
        domain.lessons.mark_value(0, allow_mark_1=True)


@pytest.mark.parametrize("value", ["осв", "осв.", "Осв.", " ОСВ ", "освобождён", "освобождена.", "осв. по справке"])
def test_exempt_entries_are_refused_r_j9(value):
    with pytest.raises(errors.ExemptNotAllowed) as exc:
        domain.lessons.mark_value(value, allow_mark_1=True)
    assert exc.value.code == "EXEMPT_NOT_ALLOWED" and exc.value.kind == "rule"
    with pytest.raises(errors.ExemptNotAllowed):
        domain.lessons.validate_mark({"student_id": "s", "value": 5, "comment": value}, 0, allow_mark_1=False)


def test_ordinary_comments_starting_like_osv_are_fine():
    spec = domain.lessons.validate_mark({"student_id": "s", "value": 5, "comment": "освоил тему"}, 0, allow_mark_1=False)
    assert spec.comment == "освоил тему"


def test_mark_defaults_oral_weight_1():
    spec = domain.lessons.validate_mark({"student_id": "s", "value": 4}, 0, allow_mark_1=False)
    assert spec == domain.lessons.MarkSpec("s", 4, "oral", 1, None)


@pytest.mark.parametrize("kind", domain.lessons.MARK_KINDS)
def test_known_mark_kinds(kind):
    assert domain.lessons.validate_mark({"student_id": "s", "value": 4, "kind": kind}, 0, allow_mark_1=False).kind == kind


@pytest.mark.parametrize("item,field", [
    ({"student_id": "s", "value": 4, "kind": "exam"}, "marks[2].kind"),
    ({"student_id": "s", "value": 4, "weight": 0}, "marks[2].weight"),
    ({"student_id": "s", "value": 4, "weight": 6}, "marks[2].weight"),
    ({"student_id": "s", "value": 4, "weight": "2"}, "marks[2].weight"),
    ({"value": 4}, "marks[2].student_id"),
    ("5", "marks[2]"),
])
def test_malformed_mark_entries(item, field):
    with pytest.raises(errors.ValidationError) as exc:
        domain.lessons.validate_mark(item, 2, allow_mark_1=False)
    assert exc.value.details["field"] == field


def test_validate_marks_needs_a_non_empty_list():
    for marks in (None, [], {"student_id": "s"}, [{"student_id": "s", "value": 4}] * 501):
        with pytest.raises(errors.ValidationError):
            domain.lessons.validate_marks(marks, allow_mark_1=False)
    specs = domain.lessons.validate_marks([{"student_id": "a", "value": 5}, {"student_id": "a", "value": 3, "kind": "test"}],
                                          allow_mark_1=False)
    assert [(m.student_id, m.value, m.kind) for m in specs] == [("a", 5, "oral"), ("a", 3, "test")]


def test_no_marks_in_grade_1_r_j4():
    domain.lessons.check_marks_allowed(2)
    with pytest.raises(errors.NoMarksInGrade1) as exc:
        domain.lessons.check_marks_allowed(1)
    assert exc.value.code == "NO_MARKS_IN_GRADE_1"


def test_no_marks_for_a_lesson_still_to_come():
    domain.lessons.check_lesson_happened(D(2026, 10, 12), D(2026, 10, 12))
    with pytest.raises(errors.LessonInFuture):
        domain.lessons.check_lesson_happened(D(2026, 10, 13), D(2026, 10, 12))


def test_every_student_must_be_in_the_class():
    domain.lessons.check_students_in_class(["a", "b", "a"], {"a", "b", "c"})
    with pytest.raises(errors.StudentNotInClass) as exc:
        domain.lessons.check_students_in_class(["a", "x", "y", "x"], {"a"})
    assert exc.value.code == "STUDENT_NOT_IN_CLASS" and exc.value.details["student_ids"] == ["x", "y"]


# --- version chain (R-J7) -----------------------------------------------------

def content(version=1, value=5, at=dt.datetime(2026, 10, 12, 8, 30, tzinfo=dt.timezone.utc), **over):
    base = dict(mark_id="m1", version=version, lesson_id="l1", student_id="s1", value=value, kind="oral",
                weight=1, comment=None, removed=False, by="t1", at=at, reason=None)
    base.update(over)
    return domain.chain.version_content(**base)


def test_canonical_json_is_order_independent_and_compact():
    assert domain.chain.canonical_json({"b": 1, "a": "я"}) == '{"a":"я","b":1}'


def test_hash_covers_content_and_previous_hash():
    h1 = domain.chain.chain_hash(content(), domain.chain.GENESIS_HASH)
    assert len(h1) == 64
    assert domain.chain.chain_hash(content(), domain.chain.GENESIS_HASH) == h1
    assert domain.chain.chain_hash(content(value=4), domain.chain.GENESIS_HASH) != h1
    assert domain.chain.chain_hash(content(), "1" * 64) != h1


def test_time_in_hash_is_utc_whatever_the_offset():
    moscow = dt.datetime(2026, 10, 12, 11, 30, tzinfo=ZoneInfo("Europe/Moscow"))
    assert content(at=moscow)["at"] == "2026-10-12T08:30:00.000000+00:00"
    assert content(at=dt.datetime(2026, 10, 12, 8, 30))["at"] == content()["at"]  # naive = UTC


def test_verify_chain_detects_tampering():
    c1 = content()
    h1 = domain.chain.chain_hash(c1, domain.chain.GENESIS_HASH)
    c2 = content(version=2, value=4, reason="исправление")
    h2 = domain.chain.chain_hash(c2, h1)
    chain = [(c1, domain.chain.GENESIS_HASH, h1), (c2, h1, h2)]
    assert domain.chain.verify_chain(chain)
    assert not domain.chain.verify_chain([(content(value=3), domain.chain.GENESIS_HASH, h1), (c2, h1, h2)])  # rewritten value
    assert not domain.chain.verify_chain([(c2, h1, h2)])                                                  # lost version 1
    assert not domain.chain.verify_chain([(c1, "f" * 64, h1)])                                            # wrong genesis


# --- people from identity's events --------------------------------------------

def env(type="user_created", school_id="s1", **payload):
    body = {"user_id": "u1", "full_name": "Иванов Иван", "roles": ["student"]}
    body.update(payload)
    return {"id": "e1", "type": type, "occurred_at": "2026-10-12T08:31:02+00:00", "producer": "identity",
            "school_id": school_id, "actor_id": "a", "payload": body, "version": 1}


def test_person_from_user_created():
    facts = domain.structure.person_from_event(env())
    assert facts == domain.structure.PersonFacts("u1", "s1", dt.datetime(2026, 10, 12, 8, 31, 2, tzinfo=dt.timezone.utc),
                                                 "Иванов Иван", ("student",))


def test_roles_changed_says_nothing_about_the_name():
    facts = domain.structure.person_from_event(env(type="roles_changed", roles=["teacher"], before=["student"]))
    assert facts.full_name is None and facts.roles == ("teacher",)


def test_person_event_without_school_is_ignored_and_malformed_raises():
    assert domain.structure.person_from_event(env(school_id=None)) is None
    with pytest.raises(ValueError):
        domain.structure.person_from_event(env(user_id=None))
    with pytest.raises(ValueError):
        domain.structure.person_from_event(env(roles="student"))
    bad = env()
    bad["occurred_at"] = "вчера"
    with pytest.raises(ValueError):
        domain.structure.person_from_event(bad)


# --- diary range ----------------------------------------------------------------

def test_diary_defaults_to_the_current_week():
    assert domain.lessons.week_bounds(D(2026, 10, 15)) == (D(2026, 10, 12), D(2026, 10, 18))
    assert domain.lessons.diary_range("", "", D(2026, 10, 18)) == (D(2026, 10, 12), D(2026, 10, 18))
    assert domain.lessons.diary_range("2026-10-01", "", D(2026, 10, 18)) == (D(2026, 10, 1), D(2026, 10, 7))
    assert domain.lessons.diary_range("", "2026-10-07", D(2026, 10, 18)) == (D(2026, 10, 1), D(2026, 10, 7))


def test_diary_range_at_most_92_days():
    assert domain.lessons.diary_range("2026-09-01", "2026-12-01", D(2026, 10, 1)) == (D(2026, 9, 1), D(2026, 12, 1))
    with pytest.raises(errors.ValidationError):
        domain.lessons.diary_range("2026-09-01", "2026-12-02", D(2026, 10, 1))
    with pytest.raises(errors.ValidationError):
        domain.lessons.diary_range("2026-10-10", "2026-10-01", D(2026, 10, 1))
    with pytest.raises(errors.ValidationError):
        domain.lessons.diary_range("10.10.2026", "", D(2026, 10, 1))


# --- settings -----------------------------------------------------------------

def test_settings_default_off_and_moscow(monkeypatch):
    monkeypatch.delenv("EJOURNAL_ALLOW_MARK_1", raising=False)
    monkeypatch.delenv("EJOURNAL_TIMEZONE", raising=False)
    s = settings.load()
    assert s.allow_mark_1 is False and s.timezone == ZoneInfo("Europe/Moscow")


def test_settings_from_env_and_config(monkeypatch):
    monkeypatch.setenv("EJOURNAL_ALLOW_MARK_1", "1")
    monkeypatch.setenv("EJOURNAL_TIMEZONE", "Asia/Yekaterinburg")
    s = settings.load()
    assert s.allow_mark_1 is True and str(s.timezone) == "Asia/Yekaterinburg"
    assert settings.load({"EJOURNAL_ALLOW_MARK_1": "0"}).allow_mark_1 is False
    with pytest.raises(SystemExit):
        settings.load({"EJOURNAL_TIMEZONE": "Mars/Olympus"})
