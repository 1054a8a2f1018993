"""Ended sessions and the central access decision in identity, on the real RabbitMQ and PostgreSQL:
the one access decision for every resource route (identity.decisions.POLICY)
over the relationships identity keeps from journal events (teacher ->
class + subject + subgroup, substitute -> lesson, marks, years, a student's
class following transfers and departures); sessions named in access tokens
and ended with a ``sessions_revoked`` event (logout, password, a replayed
refresh token) that the gateway also loads through ListRevocations."""
from __future__ import annotations

import datetime as dt
import json

import jwt
import pytest
from ejournal.identity.v1 import identity_pb2
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_hook, entrypoint_waiter
from sqlalchemy import select

from kernel.db import new_id, transaction
from kernel.events import envelope

from identity import decisions, store
from identity_helpers import StubContext, ctx_of

PASSWORD = "correct-horse-42"


def deliver(container, config, handler, type_, payload, school_id):
    env = envelope(type=type_, producer="journal", payload=payload, school_id=school_id, actor_id=None)
    with entrypoint_waiter(container, handler, timeout=10):
        event_dispatcher(config)("journal", type_, env)


def ask(servicer, user, action, rtype, rid, **context):
    reply = servicer.Authorize(identity_pb2.AuthorizeRequest(
        subject_id=user.id, school_id=user.school_id, roles=list(user.roles), action=action, resource_type=rtype,
        resource_id=rid, context=context), StubContext())
    return reply.denial or ("deferred" if reply.reason == "deferred" else "allowed")


def outbox_events(factory, type_):
    with transaction(factory) as s:
        outbox = store.tables["outbox"]
        bodies = s.execute(select(outbox.c.body).where(outbox.c.event_type == type_)).scalars()
        return [json.loads(body)["payload"] for body in bodies]


# --- the policy as a pure function ------------------------------------------------------------

S = "school-1"


def subject(*roles, user_id="me"):
    return decisions.Subject(user_id, S, frozenset(roles))


def facts(**kw):
    return decisions.Facts(exists=True, school_id=kw.pop("school_id", S), **kw)


@pytest.mark.parametrize("who,action,rtype,fact,context,expected", [
    # role first: a role that never may hears 403 even about another school's resource
    (subject("director"), "user.roles", "user", facts(school_id="other"), {}, "forbidden"),
    (subject("admin"), "user.roles", "user", facts(school_id="other"), {}, "not_found"),
    (subject("admin"), "user.roles", "user", facts(), {}, ""),
    # resource first: another school's class is 404 to every role
    (subject("director"), "lesson.write", "class", facts(school_id="other"), {}, "not_found"),
    (subject("director"), "lesson.write", "class", facts(class_ids=frozenset({"c1"})), {}, "forbidden"),
    # teacher -> class + subject (+ subgroup)
    (subject("teacher"), "lesson.write", "class",
     facts(class_ids=frozenset({"c1"}), assignments=frozenset({("maths", None)})), {"subject_id": "maths"}, ""),
    (subject("teacher"), "lesson.write", "class",
     facts(class_ids=frozenset({"c1"}), assignments=frozenset({("maths", None)})), {"subject_id": "music"},
     "forbidden"),
    (subject("teacher"), "lesson.marks", "lesson",
     facts(class_ids=frozenset({"c1"}), assignments=frozenset({("maths", "g1")}), item_subject_id="maths",
           item_subgroup_id="g2"), {}, "forbidden"),
    (subject("teacher"), "lesson.marks", "lesson",
     facts(class_ids=frozenset({"c1"}), assignments=frozenset({("maths", "g1")}), item_subject_id="maths",
           item_subgroup_id="g1"), {}, ""),
    # substitute -> lesson: the teacher who gave the lesson keeps it
    (subject("teacher"), "lesson.attendance", "lesson",
     facts(class_ids=frozenset({"c1"}), item_subject_id="maths", lesson_teacher_id="me"), {}, ""),
    # R-J6: a new lesson recorded as a substitution for the teacher of that class and subject
    (subject("teacher"), "lesson.write", "class",
     facts(class_ids=frozenset({"c1"}), replaced_assignments=frozenset({("maths", None)})),
     {"subject_id": "maths", "substitute_for": "t1"}, ""),
    (subject("teacher"), "lesson.write", "class",
     facts(class_ids=frozenset({"c1"}), replaced_assignments=frozenset({("music", None)})),
     {"subject_id": "maths", "substitute_for": "t1"}, "forbidden"),
    # class teacher -> class
    (subject("class_teacher"), "class.enrol", "class",
     facts(class_ids=frozenset({"c1"}), class_teacher_of=frozenset({"c1"})), {}, ""),
    (subject("class_teacher"), "class.enrol", "class",
     facts(class_ids=frozenset({"c2"}), class_teacher_of=frozenset({"c1"})), {}, "forbidden"),
    # a mark (R-J7): the teacher of the class and subject, the lesson's substitute, the administration
    (subject("teacher"), "mark.correct", "mark", facts(class_ids=frozenset({"c2"}), item_subject_id="maths",
                                                      assignments=frozenset({("maths", None)})), {}, ""),
    (subject("teacher"), "mark.correct", "mark",
     facts(class_ids=frozenset({"c2"}), item_subject_id="maths", lesson_teacher_id="me", lesson_substitute_for="t1"),
     {}, ""),
    (subject("teacher"), "mark.correct", "mark",
     facts(class_ids=frozenset({"c2"}), item_subject_id="maths", lesson_teacher_id="me"), {}, "forbidden"),
    (subject("teacher"), "mark.correct", "mark", facts(class_ids=frozenset({"c2"}), item_subject_id="maths"), {},
     "forbidden"),
    (subject("director"), "mark.remove", "mark", facts(class_ids=frozenset({"c2"}), item_subject_id="maths"), {},
     ""),
    (subject("class_teacher"), "mark.correct", "mark",
     facts(class_ids=frozenset({"c2"}), class_teacher_of=frozenset({"c2"}), item_subject_id="maths"), {},
     "forbidden"),
    (subject("student"), "mark.history", "mark", facts(school_id="other"), {}, "forbidden"),
    # R-A3 timetable: own class for a student, children's for a parent, 404 otherwise
    (subject("student"), "timetable.read", "class",
     facts(class_ids=frozenset({"c1"}), family_classes=frozenset({"c1"})), {}, ""),
    (subject("parent"), "timetable.read", "class",
     facts(class_ids=frozenset({"c2"}), family_classes=frozenset({"c1"})), {}, "not_found"),
    (subject("news_editor"), "timetable.read", "class", facts(class_ids=frozenset({"c1"})), {}, "forbidden"),
    # the class journal page tells an unrelated role nothing
    (subject("secretary"), "class.journal.read", "class", facts(class_ids=frozenset({"c1"})), {}, "not_found"),
    # a letter to another school's user is refused as messaging refuses it (403)
    (subject("teacher"), "message.send", "user", facts(school_id="other"), {}, "forbidden"),
    (subject("teacher"), "final.write", "student", facts(roles=frozenset({"teacher"})), {}, "not_found"),
    (subject("admin"), "no.such.action", "class", facts(), {}, "forbidden"),
    (subject("admin"), "lesson.marks", "class", facts(), {}, "forbidden"),  # wrong resource type
])
def test_policy_decisions(who, action, rtype, fact, context, expected):
    decision = decisions.decide(who, action, decisions.Resource(rtype, "r1"), fact, context)
    assert decision.denial == expected and decision.allowed == (expected == "")


def test_a_journal_resource_identity_has_not_heard_of_is_deferred_but_roles_still_count():
    unknown = decisions.Facts(known=False)
    assert decisions.decide(subject("admin"), "mark.correct", decisions.Resource("mark", "m"), unknown).reason == "deferred"
    assert decisions.decide(subject("student"), "mark.history", decisions.Resource("mark", "m"), unknown).denial == \
        "forbidden"
    # a user (identity's own data) is never deferred
    assert decisions.decide(subject("admin"), "student.move", decisions.Resource("student", "s"),
                         decisions.Facts()).denial == "not_found"


# --- relationships from journal events ---------------------------------------------------------

def test_lessons_marks_and_substitutes_from_journal_events(container, config, servicer, make, school):
    teacher = make.user(school, ["teacher"], login="maths-t")
    substitute = make.user(school, ["teacher"], login="subst-t")
    stranger = make.user(school, ["teacher"], login="other-t")
    other_admin = make.user(make.school("Школа №2"), ["admin"], login="admin-x")
    class_id, maths, lesson_id, sub_lesson, mark_id = new_id(), new_id(), new_id(), new_id(), new_id()
    make.klass(school, class_id)
    make.assign(school, teacher.id, class_id, subject_id=maths)
    base = {"class_id": class_id, "subject_id": maths, "subject_name": "Математика", "date": "2026-10-12",
            "topic": "Дроби", "lesson_type": "урок", "subgroup_id": None, "late": False, "overdue": False}
    assert ask(servicer, teacher, "lesson.marks", "lesson", lesson_id) == "deferred"  # not heard of yet
    deliver(container, config, "on_lesson_recorded", "lesson_recorded",
            {**base, "lesson_id": lesson_id, "teacher_id": teacher.id, "substitute_for": None}, school)
    deliver(container, config, "on_lesson_recorded", "lesson_recorded",
            {**base, "lesson_id": sub_lesson, "teacher_id": substitute.id, "substitute_for": teacher.id}, school)
    assert ask(servicer, teacher, "lesson.marks", "lesson", lesson_id) == "allowed"
    assert ask(servicer, stranger, "lesson.marks", "lesson", lesson_id) == "forbidden"
    assert ask(servicer, substitute, "lesson.attendance", "lesson", sub_lesson) == "allowed"  # substitute -> lesson
    assert ask(servicer, substitute, "lesson.attendance", "lesson", lesson_id) == "forbidden"
    assert ask(servicer, other_admin, "lesson.marks", "lesson", lesson_id) == "not_found"  # closed to other schools
    deliver(container, config, "on_mark_posted", "mark_posted",
            {"mark_id": mark_id, "lesson_id": lesson_id, "student_id": new_id(), "class_id": class_id,
             "subject_id": maths, "value": 5, "teacher_id": teacher.id}, school)
    assert ask(servicer, teacher, "mark.correct", "mark", mark_id) == "allowed"
    assert ask(servicer, stranger, "mark.remove", "mark", mark_id) == "forbidden"
    # R-J6/R-J7: the substitute records for the teacher they replace and corrects the marks of that lesson
    assert ask(servicer, substitute, "lesson.write", "class", class_id, subject_id=maths,
               substitute_for=teacher.id) == "allowed"
    assert ask(servicer, substitute, "lesson.write", "class", class_id, subject_id=maths,
               substitute_for=stranger.id) == "forbidden"
    sub_mark, orphan = new_id(), new_id()
    deliver(container, config, "on_mark_posted", "mark_posted",
            {"mark_id": sub_mark, "lesson_id": sub_lesson, "student_id": new_id(), "class_id": class_id,
             "subject_id": maths, "value": 4, "teacher_id": substitute.id}, school)
    assert ask(servicer, substitute, "mark.correct", "mark", sub_mark) == "allowed"
    assert ask(servicer, substitute, "mark.correct", "mark", mark_id) == "forbidden"
    # a mark whose lesson identity has not heard of yet: who gave the lesson is unknown, the journal decides
    deliver(container, config, "on_mark_posted", "mark_posted",
            {"mark_id": orphan, "lesson_id": new_id(), "student_id": new_id(), "class_id": class_id,
             "subject_id": maths, "value": 4, "teacher_id": substitute.id}, school)
    assert ask(servicer, substitute, "mark.correct", "mark", orphan) == "deferred"
    assert ask(servicer, other_admin, "mark.history", "mark", mark_id) == "not_found"
    year_id = new_id()
    deliver(container, config, "on_year_opened", "year_opened", {"year_id": year_id, "name": "2026/2027"}, school)
    assert ask(servicer, other_admin, "year.close", "year", year_id) == "not_found"


def test_the_class_follows_transfers_and_departures(container, config, servicer, make, school):
    ct_a = make.user(school, ["class_teacher"], login="ct-a")
    ct_b = make.user(school, ["class_teacher"], login="ct-b")
    student = make.user(school, ["student"], login="mover")
    class_a, class_b = new_id(), new_id()
    make.klass(school, class_a, ct_a.id)
    make.klass(school, class_b, ct_b.id, name="5Б")
    make.enroll(school, student.id, class_a)
    assert ask(servicer, ct_a, "user.read", "user", student.id) == "allowed"
    deliver(container, config, "on_student_transferred", "student_transferred",
            {"student_id": student.id, "from_class_id": class_a, "to_class_id": class_b, "order_no": "4-у",
             "on": "2026-10-01"}, school)
    assert ask(servicer, ct_a, "user.read", "user", student.id) == "not_found"
    assert ask(servicer, ct_b, "user.read", "user", student.id) == "allowed"
    assert ask(servicer, student, "timetable.read", "class", class_b) == "allowed"
    assert ask(servicer, student, "timetable.read", "class", class_a) == "not_found"
    deliver(container, config, "on_student_left", "student_left",
            {"student_id": student.id, "class_id": class_b, "order_no": "5-в", "on": "2026-11-01",
             "reason": "left", "comment": None}, school)
    assert ask(servicer, ct_b, "user.read", "user", student.id) == "not_found"
    assert ask(servicer, student, "timetable.read", "class", class_b) == "not_found"


def test_a_parent_sees_the_childs_timetable_through_the_rpc_too(container, make, school):
    parent = make.user(school, ["parent"], login="tt-parent")
    child = make.user(school, ["student"], login="tt-child")
    class_a, class_b = new_id(), new_id()
    make.klass(school, class_a)
    make.klass(school, class_b, name="5Б")
    make.enroll(school, child.id, class_a)
    make.link(school, child.id, parent.id)
    make.consent(school, parent.id)
    with entrypoint_hook(container, "authorize") as authorize:
        assert authorize(ctx_of(parent), "timetable.read", "class", class_a)["allowed"] is True
        assert authorize(ctx_of(parent), "timetable.read", "class", class_b)["denial"] == "not_found"


# --- sessions end at once ----------------------------------------------------------------------

def sid_of(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["sid"]


def test_logout_names_the_session_and_publishes_its_end(servicer, make, school, factory):
    user = make.user(school, ["teacher"], login="leaver")
    first = servicer.Login(identity_pb2.LoginRequest(login="leaver", password=PASSWORD), StubContext())
    second = servicer.Login(identity_pb2.LoginRequest(login="leaver", password=PASSWORD), StubContext())
    assert sid_of(first.access_token) != sid_of(second.access_token)
    refreshed = servicer.Refresh(identity_pb2.RefreshRequest(refresh_token=first.refresh_token), StubContext())
    assert sid_of(refreshed.access_token) == sid_of(first.access_token)  # the same session goes on
    reply = servicer.Logout(identity_pb2.LogoutRequest(refresh_token=refreshed.refresh_token, user_id=user.id),
                            StubContext())
    assert reply.revoked
    (event,) = outbox_events(factory, "sessions_revoked")
    assert (event["user_id"], event["session_ids"], event["reason"]) == (
        user.id, [sid_of(first.access_token)], "logout")
    assert event["until"] > dt.datetime.now(dt.timezone.utc).timestamp() + 900
    listed = servicer.ListRevocations(identity_pb2.ListRevocationsRequest(), StubContext()).items
    assert {(r.user_id, r.session_id) for r in listed} >= {(user.id, sid_of(first.access_token))}
    assert sid_of(second.access_token) not in {r.session_id for r in listed}  # the other device goes on
    # someone else's refresh token changes nothing (and publishes nothing)
    other = make.user(school, ["teacher"], login="other-leaver")
    assert not servicer.Logout(identity_pb2.LogoutRequest(refresh_token=second.refresh_token, user_id=other.id),
                               StubContext()).revoked
    assert len(outbox_events(factory, "sessions_revoked")) == 1


def test_a_replayed_refresh_token_ends_the_access_tokens_of_its_session(servicer, make, school, factory):
    make.user(school, ["teacher"], login="victim")
    pair = servicer.Login(identity_pb2.LoginRequest(login="victim", password=PASSWORD), StubContext())
    servicer.Refresh(identity_pb2.RefreshRequest(refresh_token=pair.refresh_token), StubContext())
    context = StubContext()
    with pytest.raises(Exception):
        servicer.Refresh(identity_pb2.RefreshRequest(refresh_token=pair.refresh_token), context)
    (event,) = outbox_events(factory, "sessions_revoked")
    assert event["session_ids"] == [sid_of(pair.access_token)] and event["reason"] == "refresh_reuse"


def test_a_password_change_ends_every_other_session(container, servicer, make, school, factory):
    user = make.user(school, ["teacher"], login="changer2")
    here = servicer.Login(identity_pb2.LoginRequest(login="changer2", password=PASSWORD), StubContext())
    there = servicer.Login(identity_pb2.LoginRequest(login="changer2", password=PASSWORD), StubContext())
    with entrypoint_hook(container, "change_password") as change:
        change(ctx_of(user), PASSWORD, "brand-new-pass-77", keep_session=sid_of(here.access_token))
    (event,) = outbox_events(factory, "sessions_revoked")
    assert event["session_ids"] == [sid_of(there.access_token)] and event["reason"] == "password_changed"
    # the session the password was changed in goes on
    assert servicer.Refresh(identity_pb2.RefreshRequest(refresh_token=here.refresh_token), StubContext())
