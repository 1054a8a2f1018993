"""``class_families``: the parents and consent of a class list's students
(GET /classes/{id}/students) for the class teacher and the administration
only (R-A2, R-A4)."""
from __future__ import annotations

import datetime as dt

import pytest
from nameko.testing.services import entrypoint_hook

from identity_helpers import ctx_of
from identity.errors import Forbidden, ValidationError


def call(container, method, *args):
    with entrypoint_hook(container, method) as hook:
        return hook(*args)


@pytest.fixture
def family(make, school):
    ct = make.user(school, ["teacher", "class_teacher"], login="kl.ruk")
    make.klass(school, "class-5a", teacher_id=ct.id)
    kid = make.user(school, ["student"], login="kid", full_name="Ученик Первый")
    make.enroll(school, kid.id, "class-5a")
    mother = make.user(school, ["parent"], login="mother", full_name="Мама Первая")
    father = make.user(school, ["parent"], login="father", full_name="Папа Первый")
    make.link(school, kid.id, mother.id)
    make.link(school, kid.id, father.id, relation="отец")
    make.consent(school, mother.id, given=True)
    make.consent(school, father.id, given=True, signed_on=dt.date(2026, 9, 1))
    make.consent(school, father.id, given=False, signed_on=dt.date(2026, 10, 5))  # withdrawn later: the latest wins
    grandma = make.user(school, ["parent"], login="grandma", full_name="Яковлева Бабушка")
    make.link(school, kid.id, grandma.id, relation="бабушка")  # no decision recorded yet
    return dict(ct=ct, kid=kid, mother=mother, father=father)


def test_class_teacher_sees_parents_and_consent(container, make, school, family):
    got = call(container, "class_families", ctx_of(family["ct"]), "class-5a", [family["kid"].id])
    parents = got[family["kid"].id]["parents"]
    assert parents[:2] == [
        {"id": family["mother"].id, "full_name": "Мама Первая", "consent": True, "consent_signed_on": "2026-09-01"},
        {"id": family["father"].id, "full_name": "Папа Первый", "consent": False, "consent_signed_on": "2026-10-05"}]
    assert parents[2]["full_name"] == "Яковлева Бабушка" and parents[2]["consent"] is False
    assert parents[2]["consent_signed_on"] is None


def test_administration_sees_any_student_of_the_school_only(container, make, school, family):
    director = make.user(school, ["director"], login="dir")
    other_school = make.school("Школа №2")
    stranger = make.user(other_school, ["student"], login="far")
    got = call(container, "class_families", ctx_of(director), "any-class", [family["kid"].id, stranger.id])
    assert list(got) == [family["kid"].id]


def test_others_are_refused_and_a_class_teacher_sees_only_their_class(container, make, school, family):
    teacher = make.user(school, ["teacher"], login="t1")
    with pytest.raises(Forbidden):
        call(container, "class_families", ctx_of(teacher), "class-5a", [family["kid"].id])
    with pytest.raises(Forbidden):
        call(container, "class_families", ctx_of(family["ct"]), "class-5b", [family["kid"].id])
    other_kid = make.user(school, ["student"], login="kid2")
    assert call(container, "class_families", ctx_of(family["ct"]), "class-5a", [other_kid.id]) == {}
    with pytest.raises(ValidationError):
        call(container, "class_families", ctx_of(family["ct"]), "class-5a", "not a list")
