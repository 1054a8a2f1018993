"""Unit tests of identity.domain with plain values (R-A1..R-A5, contracts
"Access decisions")."""
from __future__ import annotations

import datetime as dt

import pytest

from kernel.context import CallContext
from kernel.errors import InvalidContext

from identity import decisions, domain
from identity.decisions import Decision, Facts, Resource, Subject
from identity.errors import Forbidden, ValidationError

TODAY = dt.date(2026, 10, 1)
A, B = "school-a", "school-b"


# --- roles (R-A1) -------------------------------------------------------------

def test_r_a1_all_ten_roles_are_known():
    assert domain.validate_roles(list(domain.ROLES)) == domain.ROLES


def test_r_a1_roles_need_at_least_one():
    with pytest.raises(ValidationError) as err:
        domain.validate_roles([])
    assert err.value.code == "VALIDATION_ERROR" and err.value.details["field"] == "roles"


def test_r_a1_unknown_role_is_refused_and_named():
    with pytest.raises(ValidationError) as err:
        domain.validate_roles(["teacher", "superuser"])
    assert err.value.details["unknown"] == ["superuser"]


@pytest.mark.parametrize("roles", ["teacher", None, [1], {"teacher": True}])
def test_r_a1_roles_must_be_a_list_of_strings(roles):
    with pytest.raises(ValidationError):
        domain.validate_roles(roles)


def test_r_a1_duplicate_roles_are_dropped_keeping_order():
    assert domain.validate_roles(["teacher", "class_teacher", "teacher"]) == ("teacher", "class_teacher")


# --- who may create whom (R-A2, R-A5) ------------------------------------------

@pytest.mark.parametrize("roles", [[r] for r in domain.ROLES] + [list(domain.ROLES)])
def test_r_a2_admin_may_create_any_roles(roles):
    assert domain.may_create({"admin"}, roles)


@pytest.mark.parametrize("roles,allowed", [
    (["student"], True), (["parent"], True), (["student", "parent"], True),
    (["teacher"], False), (["admin"], False), (["parent", "class_teacher"], False),
])
def test_r_a2_class_teacher_may_create_only_students_and_parents(roles, allowed):
    assert domain.may_create({"class_teacher", "teacher"}, roles) is allowed


@pytest.mark.parametrize("actor", sorted(set(domain.ROLES) - {"admin", "class_teacher"}))
def test_r_a5_other_roles_may_create_nobody(actor):
    assert not domain.may_create({actor}, ["student"])
    with pytest.raises(Forbidden) as err:
        domain.check_may_create({actor}, ["student"])
    assert err.value.code == "FORBIDDEN"


def test_r_a2_family_managers_are_admin_and_class_teacher():
    assert domain.may_manage_family({"admin"}) and domain.may_manage_family({"class_teacher"})
    assert not domain.may_manage_family({"teacher", "director", "parent"})


def test_r_a4_consent_gates_parents_but_not_staff_who_are_parents():
    assert domain.needs_consent(("parent",))
    assert not domain.needs_consent(("parent", "teacher"))
    assert not domain.needs_consent(("student",))


# --- logins ---------------------------------------------------------------------

@pytest.mark.parametrize("login", ["ivanov", "Ivanov.A", "a_b-c", "abc", "x" * 64, "7b.petrov"])
def test_login_format_accepts(login):
    assert domain.validate_login(f"  {login} ") == login


@pytest.mark.parametrize("login", ["ab", "x" * 65, "иванов", ".ivanov", "iv anov", "ivanov@school", "-a1"])
def test_login_format_refuses(login):
    with pytest.raises(ValidationError) as err:
        domain.validate_login(login)
    assert err.value.details["field"] == "login"


@pytest.mark.parametrize("login", [None, "", 42])
def test_login_is_required_and_a_string(login):
    with pytest.raises(ValidationError):
        domain.validate_login(login)


def test_login_key_is_case_insensitive():
    assert domain.login_key("Ivanov") == domain.login_key("IVANOV ") == "ivanov"


# --- passwords --------------------------------------------------------------------

def test_password_policy_staff_needs_12():
    with pytest.raises(ValidationError) as err:
        domain.validate_password("elevenchars", roles=("teacher",))
    assert err.value.details["min"] == 12
    assert domain.validate_password("twelve-chars", roles=("teacher",)) == "twelve-chars"


def test_password_policy_family_needs_8():
    with pytest.raises(ValidationError):
        domain.validate_password("seven77", roles=("student",))
    assert domain.validate_password("eight888", roles=("parent",))


def test_password_policy_staff_minimum_wins_for_mixed_roles():
    with pytest.raises(ValidationError):
        domain.validate_password("ninechars", roles=("parent", "teacher"))


def test_password_policy_refuses_login_blank_and_too_long():
    with pytest.raises(ValidationError):
        domain.validate_password("Petrov.Ivan1", roles=("teacher",), login="petrov.ivan1")
    with pytest.raises(ValidationError):
        domain.validate_password(" " * 12, roles=("teacher",))
    with pytest.raises(ValidationError):
        domain.validate_password("x" * 129, roles=("teacher",))
    with pytest.raises(ValidationError):
        domain.validate_password(123456789012, roles=("teacher",))


def test_generated_password_is_14_unambiguous_characters_and_random():
    passwords = {domain.generate_password() for _ in range(50)}
    assert len(passwords) == 50
    for password in passwords:
        assert len(password) == 14
        assert not set(password) & set("0O1lIo")
        assert set(password) <= set(domain.PASSWORD_ALPHABET)
        domain.validate_password(password, roles=("admin",))


# --- create_user payload -----------------------------------------------------------

def test_new_user_is_cleaned():
    new = domain.validate_new_user({
        "login": " Petrova ", "full_name": " Петрова Анна ", "roles": ["student"], "email": "a@b.ru",
        "birth_date": "2015-03-08", "sex": "ж"}, today=TODAY)
    assert new == domain.NewUser("Petrova", "Петрова Анна", ("student",), "a@b.ru", dt.date(2015, 3, 8),
                                 "female", None)


@pytest.mark.parametrize("data,field", [
    ({"full_name": "А", "roles": ["student"]}, "login"),
    ({"login": "abc", "roles": ["student"]}, "full_name"),
    ({"login": "abc", "full_name": "А"}, "roles"),
    ({"login": "abc", "full_name": "А", "roles": ["student"], "birth_date": "08.03.2015"}, "birth_date"),
    ({"login": "abc", "full_name": "А", "roles": ["student"], "birth_date": "2015-02-30"}, "birth_date"),
    ({"login": "abc", "full_name": "А", "roles": ["student"], "birth_date": "2030-01-01"}, "birth_date"),
    ({"login": "abc", "full_name": "А", "roles": ["student"], "email": "not-an-email"}, "email"),
    ({"login": "abc", "full_name": "А", "roles": ["student"], "sex": "x"}, "sex"),
    ({"login": "abc", "full_name": "А", "roles": ["student"], "password": "short"}, "password"),
    ({"login": "abc", "full_name": "А", "roles": ["student"], "is_admin": True}, "is_admin"),
])
def test_new_user_invalid_fields_are_named(data, field):
    with pytest.raises(ValidationError) as err:
        domain.validate_new_user(data, today=TODAY)
    assert err.value.details["field"] == field


@pytest.mark.parametrize("given,stored", [("М", "male"), ("ж", "female"), ("Женский", "female"), ("male", "male")])
def test_r_s2_sex_is_normalized(given, stored):
    assert domain.validate_sex(given) == stored


def test_new_user_data_must_be_an_object():
    with pytest.raises(ValidationError):
        domain.validate_new_user(["login"], today=TODAY)


def test_dates_and_bools_are_strict():
    assert domain.parse_date("2026-09-01", "signed_on", today=TODAY) == dt.date(2026, 9, 1)
    assert domain.parse_date("2026-10-02", "signed_on", today=TODAY)  # one day of slack for time zones
    for bad in ("2026-9-1", "2026-10-03", 20260901, None, "1899-12-31"):
        with pytest.raises(ValidationError):
            domain.parse_date(bad, "signed_on", today=TODAY)
    assert domain.require_bool(False, "given") is False
    for bad in ("false", 0, None):
        with pytest.raises(ValidationError):
            domain.require_bool(bad, "given")


def test_relation_is_required_and_short():
    assert domain.validate_relation(" отец ") == "отец"
    for bad in ("", None, "x" * 41, 5):
        with pytest.raises(ValidationError):
            domain.validate_relation(bad)


@pytest.mark.parametrize("ctx", [None, {}, {"actor_id": "u", "school_id": "s"},
                                 {"actor_id": "u", "school_id": "", "roles": []},
                                 {"actor_id": "u", "school_id": "s", "roles": "admin"}])
def test_ctx_is_validated(ctx):
    with pytest.raises(InvalidContext) as err:
        CallContext.from_rpc(ctx)
    assert (err.value.kind, err.value.code) == ("unauthenticated", "INVALID_TOKEN")


def test_ctx_parsed():
    actor = CallContext.from_rpc({"actor_id": "u", "school_id": "s", "roles": ["admin"], "correlation_id": "c"})
    assert actor == CallContext("u", "s", frozenset({"admin"}), "c")


# --- access decisions (contracts "Access decisions", R-A3) ---------------------------

def subject(roles, user_id="me", school=A):
    return Subject(user_id, school, frozenset(roles))


STUDENT = Resource("student", "stud")
STUDENT_FACTS = Facts(exists=True, school_id=A, roles=frozenset({"student"}), class_ids=frozenset({"5a"}))


def diary(subj, facts=STUDENT_FACTS, resource=STUDENT) -> Decision:
    return decisions.decide(subj, "diary.read", resource, facts)


def test_diary_the_student_themself():
    assert diary(subject(["student"], user_id="stud")) == Decision(True, "", "self")


def test_diary_linked_parent_with_consent():
    facts = Facts(**{**STUDENT_FACTS.__dict__, "parent_of": True, "consent_given": True})
    assert diary(subject(["parent"]), facts).allowed


def test_diary_linked_parent_without_consent_is_not_found():
    facts = Facts(**{**STUDENT_FACTS.__dict__, "parent_of": True, "consent_given": False})
    assert diary(subject(["parent"]), facts) == Decision(False, "not_found", "no_consent")


def test_diary_parent_of_another_child_is_not_found():
    assert diary(subject(["parent"])) == Decision(False, "not_found", "not_related")


def test_diary_another_student_is_not_found():
    assert diary(subject(["student"])).denial == "not_found"


@pytest.mark.parametrize("role", sorted(domain.STAFF_ROLES))
def test_diary_any_staff_of_the_school(role):
    assert diary(subject([role])).allowed


@pytest.mark.parametrize("roles", [["admin"], ["parent"], ["student"]])
def test_diary_other_school_is_always_not_found(roles):
    facts = Facts(**{**STUDENT_FACTS.__dict__, "parent_of": True, "consent_given": True})
    assert diary(subject(roles, school=B), facts) == Decision(False, "not_found", "other_school")


def test_diary_of_a_non_student_or_unknown_user_is_not_found():
    teacher = Facts(exists=True, school_id=A, roles=frozenset({"teacher"}))
    assert diary(subject(["admin"]), teacher).denial == "not_found"
    assert diary(subject(["admin"]), Facts()) == Decision(False, "not_found", "no_such_resource")


KLASS = Resource("class", "5a")
CLASS_FACTS = Facts(exists=True, school_id=A, class_ids=frozenset({"5a"}))


def report(subj, facts=CLASS_FACTS) -> Decision:
    return decisions.decide(subj, "report.read", KLASS, facts)


@pytest.mark.parametrize("role", ["admin", "director", "deputy"])
def test_report_administration_of_the_school(role):
    assert report(subject([role])) == Decision(True, "", "administration")


def test_report_the_class_teacher_of_the_class():
    facts = Facts(**{**CLASS_FACTS.__dict__, "class_teacher_of": frozenset({"5a"})})
    assert report(subject(["class_teacher"]), facts).allowed


def test_report_a_teacher_assigned_to_the_class():
    facts = Facts(**{**CLASS_FACTS.__dict__, "teaches": frozenset({"5a"})})
    assert report(subject(["teacher"]), facts) == Decision(True, "", "assigned_teacher")


@pytest.mark.parametrize("role", ["parent", "student"])
def test_report_families_are_forbidden(role):
    assert report(subject([role])) == Decision(False, "forbidden", "family")


@pytest.mark.parametrize("role", ["teacher", "class_teacher", "secretary", "news_editor", "scheduler"])
def test_report_other_staff_is_not_found(role):
    facts = Facts(**{**CLASS_FACTS.__dict__, "class_teacher_of": frozenset({"5b"}), "teaches": frozenset({"6a"})})
    assert report(subject([role]), facts) == Decision(False, "not_found", "not_related")


def test_report_staff_who_is_also_a_parent_counts_as_staff():
    assert report(subject(["teacher", "parent"])).denial == "not_found"


@pytest.mark.parametrize("roles", [["admin"], ["parent"], ["teacher"]])
def test_report_other_school_is_always_not_found(roles):
    facts = Facts(**{**CLASS_FACTS.__dict__, "teaches": frozenset({"5a"})})
    assert report(subject(roles, school=B), facts) == Decision(False, "not_found", "other_school")


def test_report_unknown_class_is_not_found():
    assert report(subject(["admin"]), Facts()).denial == "not_found"


USER = Resource("user", "target")
USER_FACTS = Facts(exists=True, school_id=A, roles=frozenset({"student"}), class_ids=frozenset({"5a"}))


def user_read(subj, facts=USER_FACTS) -> Decision:
    return decisions.decide(subj, "user.read", USER, facts)


def test_user_read_self():
    assert user_read(subject(["parent"], user_id="target")) == Decision(True, "", "self")


@pytest.mark.parametrize("role", ["admin", "director", "deputy", "secretary"])
def test_user_read_administration_and_secretary(role):
    assert user_read(subject([role])).allowed


def test_user_read_class_teacher_of_the_users_class():
    facts = Facts(**{**USER_FACTS.__dict__, "class_teacher_of": frozenset({"5a", "6b"})})
    assert user_read(subject(["class_teacher"]), facts) == Decision(True, "", "class_teacher")


def test_user_read_class_teacher_of_the_parents_child_class():
    # store.access_facts puts the children's classes of a parent into class_ids
    parent = Facts(exists=True, school_id=A, roles=frozenset({"parent"}), class_ids=frozenset({"5a"}),
                   class_teacher_of=frozenset({"5a"}))
    assert user_read(subject(["class_teacher"]), parent).allowed


def test_user_read_the_staff_member_who_issued_the_login():
    """R-A2: a class teacher creates a student before enrolling them and must
    be able to read that card; a family member who somehow created one may not."""
    issued = Facts(**{**USER_FACTS.__dict__, "created_by_subject": True})
    assert user_read(subject(["class_teacher"]), issued) == Decision(True, "", "issuer")
    assert not user_read(subject(["parent"]), issued).allowed


@pytest.mark.parametrize("roles", [["teacher"], ["class_teacher"], ["parent"], ["student"], ["news_editor"],
                                   ["scheduler"]])
def test_user_read_anyone_else_is_not_found(roles):
    facts = Facts(**{**USER_FACTS.__dict__, "class_teacher_of": frozenset({"5b"}), "teaches": frozenset({"5a"})})
    assert user_read(subject(roles), facts) == Decision(False, "not_found", "not_related")


def test_user_read_other_school_is_always_not_found():
    assert user_read(subject(["admin"], school=B)) == Decision(False, "not_found", "other_school")
    assert user_read(subject(["admin"]), Facts()).denial == "not_found"


def test_unknown_action_and_wrong_resource_type_are_forbidden():
    assert decisions.decide(subject(["admin"]), "marks.delete", STUDENT, STUDENT_FACTS) == \
        Decision(False, "forbidden", "unknown_action")
    assert decisions.decide(subject(["admin"]), "diary.read", KLASS, CLASS_FACTS) == \
        Decision(False, "forbidden", "wrong_resource_type")


def test_subject_without_school_is_not_found():
    assert diary(subject(["admin"], school="")).denial == "not_found"
