"""The central access decision in the gateway: every resource route asks identity's one
access decision (action, resource type and id from the path or the body)
before it calls the owning service; a denial answers 404 or 403 and the
service is never called; a "deferred" answer is not cached. A
session revoked by identity is refused at once (the ``sid`` deny-list),
also when it was revoked before the worker started (ListRevocations)."""
from __future__ import annotations

import json

import pytest
from ejournal.identity.v1 import identity_pb2

P = "/api/v1"
CSV = "text/csv"

# (method, url, body, roles, action, resource type, resource id, context)
ROUTES = [
    ("POST", "/students/st1/parents", {"parent_id": "p1", "relation": "мать"}, ["admin"],
     "student.link_parent", "student", "st1", {}),
    ("PUT", "/parents/p1/consent", {"given": True, "signed_on": "2026-09-01"}, ["class_teacher"],
     "parent.consent", "user", "p1", {}),
    ("PUT", "/users/u2/roles", {"roles": ["teacher"]}, ["admin"], "user.roles", "user", "u2", {}),
    ("POST", "/users/u2/unlock", None, ["admin"], "user.unlock", "user", "u2", {}),
    ("POST", "/users/u2/password-reset", None, ["admin"], "user.password_reset", "user", "u2", {}),
    ("GET", "/users/u2", None, ["secretary"], "user.read", "user", "u2", {}),
    ("POST", "/classes/c1/students", {"student_id": "st1", "order_no": "12-у", "on": "2026-09-01"},
     ["class_teacher"], "class.enrol", "class", "c1", {}),
    ("POST", "/assignments", {"teacher_id": "t1", "class_id": "c1", "subject_id": "s1", "hours_per_week": 4},
     ["deputy"], "class.assign", "class", "c1", {}),
    ("POST", "/lessons", {"class_id": "c1", "subject_id": "s1", "date": "2026-10-12", "topic": "Дроби",
                          "lesson_type": "урок"}, ["teacher"], "lesson.write", "class", "c1", {"subject_id": "s1"}),
    ("POST", "/lessons", {"class_id": "c1", "subject_id": "s1", "date": "2026-10-12", "topic": "Дроби",
                          "lesson_type": "урок", "substitute_for": "t2"}, ["teacher"], "lesson.write", "class", "c1",
     {"subject_id": "s1", "substitute_for": "t2"}),
    ("PUT", "/lessons/l1/marks", {"marks": [{"student_id": "st1", "value": 5}]}, ["teacher"],
     "lesson.marks", "lesson", "l1", {}),
    ("PUT", "/lessons/l1/attendance", {"entries": [{"student_id": "st1", "status": "ill"}]}, ["teacher"],
     "lesson.attendance", "lesson", "l1", {}),
    ("PATCH", "/marks/m1", {"value": 5, "reason": "Ошибка"}, ["teacher"], "mark.correct", "mark", "m1", {}),
    ("DELETE", "/marks/m1", {"reason": "Ошибка"}, ["teacher"], "mark.remove", "mark", "m1", {}),
    ("GET", "/marks/m1/history", None, ["deputy"], "mark.history", "mark", "m1", {}),
    ("PUT", "/final-marks", {"student_id": "st1", "subject_id": "s1", "period_id": "p1", "value": 5}, ["teacher"],
     "final.write", "student", "st1", {"subject_id": "s1"}),
    ("GET", "/students/st1/diary", None, ["parent"], "diary.read", "student", "st1", {}),
    ("GET", "/students/st1/forecast", None, ["parent"], "diary.read", "student", "st1", {}),
    ("GET", "/classes/c1/at-risk", None, ["teacher"], "report.read", "class", "c1", {}),
    ("GET", "/reports/progress?class_id=c1&period_id=p1", None, ["teacher"], "report.read", "class", "c1", {}),
    ("GET", "/classes/c1/journal?subject_id=s1", None, ["teacher"], "class.journal.read", "class", "c1",
     {"subject_id": "s1"}),
    ("GET", "/classes/c1/parents-activity?week=2026-10-07", None, ["parent"], "class.journal.read", "class", "c1",
     {}),
    ("GET", "/classes/c1/timetable?period_id=p1", None, ["student"], "timetable.read", "class", "c1", {}),
    ("PUT", "/classes/c1/timetable", {"period_id": "p1", "slots": []}, ["scheduler"], "timetable.write", "class",
     "c1", {}),
    ("POST", "/classes/c1/subgroups", {"subject_id": "s1", "name": "1 группа", "student_ids": ["st1"]},
     ["class_teacher"], "class.subgroups", "class", "c1", {}),
    ("POST", "/plans", {"class_id": "c1", "subject_id": "s1", "period_id": "p1",
                        "topics": [{"number": 1, "title": "Дроби", "hours": 4}]}, ["teacher"],
     "class.plan", "class", "c1", {"subject_id": "s1"}),
    ("GET", "/plans/coverage?period_id=p1&class_id=c1", None, ["deputy"], "plan.coverage", "class", "c1", {}),
    ("POST", "/imports/students?class_id=c1&order_no=1&on=2026-09-01", b"x;y\n", ["class_teacher"],
     "class.import", "class", "c1", {}),
    ("GET", "/students/st1/movements", None, ["deputy"], "student.movements", "student", "st1", {}),
    ("POST", "/students/st1/transfer", {"to_class_id": "c2", "order_no": "№ 5", "on": "2026-10-01"}, ["admin"],
     "student.move", "student", "st1", {}),
    ("POST", "/students/st1/departure", {"order_no": "№ 6", "on": "2026-10-01"}, ["admin"],
     "student.move", "student", "st1", {}),
    ("POST", "/years/y1/close", {"order_no": "№ 120", "promote": True}, ["admin"], "year.close", "year", "y1", {}),
    ("GET", "/years/y1/close-preview", None, ["admin"], "year.close", "year", "y1", {}),
    ("POST", "/messages", {"to": ["u9"], "subject": "Вопрос", "body": "Текст"}, ["parent"],
     "message.send", "user", "u9", {}),
    ("GET", "/messages/msg1", None, ["parent"], "message.read", "message", "msg1", {}),
    ("GET", "/messages/msg1/attachments/a1", None, ["student"], "message.read", "message", "msg1", {}),
]


def _open(client, auth, method, url, body, roles):
    headers = auth(roles=roles)
    if isinstance(body, bytes):
        return client.open(P + url, method=method, data=body, headers={**headers, "Content-Type": CSV})
    return client.open(P + url, method=method, json=body, headers=headers)


@pytest.mark.parametrize("method,url,body,roles,action,rtype,rid,context", ROUTES,
                         ids=[f"{r[0]} {r[1]}" for r in ROUTES])
@pytest.mark.parametrize("denial,status", [("not_found", 404), ("forbidden", 403)])
def test_every_resource_route_asks_the_central_decision_first(client, fake, auth, method, url, body, roles, action,
                                                              rtype, rid, context, denial, status):
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=False, denial=denial, reason="x")
    response = _open(client, auth, method, url, body, roles)
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"] == ("NOT_FOUND" if status == 404 else "FORBIDDEN")
    assert fake.rpc_calls == [] and fake.journal.calls == []  # the owner never heard of it
    (request,) = fake.identity.called("Authorize")
    assert (request.action, request.resource_type, request.resource_id) == (action, rtype, rid)
    assert dict(request.context) == context
    assert list(request.roles) == roles


def test_a_deferred_answer_is_left_to_the_owner_and_not_cached(client, fake, auth):
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=True, reason="deferred")
    fake.rpc_answers[("journal", "list_movements")] = {"student_id": "st1", "items": []}
    headers = auth(sub="33333333-3333-4333-8333-333333333333", roles=["deputy"])
    for _ in range(2):
        assert client.get(f"{P}/students/st1/movements", headers=headers).status_code == 200
    assert len(fake.identity.called("Authorize")) == 2
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=True, reason="policy")
    for _ in range(2):
        assert client.get(f"{P}/students/st1/movements", headers=headers).status_code == 200
    assert len(fake.identity.called("Authorize")) == 3  # a real decision is cached


def test_a_letter_to_several_people_asks_for_each_and_stops_at_a_foreign_one(client, fake, auth):
    def answer(request):
        return identity_pb2.AuthorizeReply(allowed=request.resource_id != "x2",
                                           denial="forbidden" if request.resource_id == "x2" else "")
    fake.identity.answers["Authorize"] = answer
    response = client.post(f"{P}/messages", json={"to": ["u1", "x2"], "subject": "Тема", "body": "Текст"},
                           headers=auth(roles=["teacher"]))
    assert response.status_code == 403 and fake.rpc_calls == []
    assert [r.resource_id for r in fake.identity.called("Authorize")] == ["u1", "x2"]


@pytest.mark.parametrize("url,method,answer", [
    ("/messages/msg1", "get_message", {"id": "msg1", "subject": "Тема", "body": "Текст"}),
    ("/messages/msg1/attachments/a1", "get_attachment",
     {"name": "a.txt", "content_type": "text/plain", "content_base64": "eA=="}),
])
def test_a_letter_is_read_after_the_central_decision_and_deferred_ones_are_asked_again(client, fake, auth, url,
                                                                                      method, answer):
    fake.rpc_answers[("messaging", method)] = answer
    headers = auth(sub="44444444-4444-4444-8444-444444444444", roles=["parent"])
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=True, reason="deferred")
    for _ in range(2):  # identity has not seen the letter yet: messaging decides, every time
        assert client.get(P + url, headers=headers).status_code == 200
    assert len(fake.identity.called("Authorize")) == 2
    assert [(c["service"], c["method"]) for c in fake.rpc_calls] == [("messaging", method)] * 2
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=True, reason="policy")
    for _ in range(2):
        assert client.get(P + url, headers=headers).status_code == 200
    assert len(fake.identity.called("Authorize")) == 3  # a real decision is cached
    assert len(fake.rpc_calls) == 4  # messaging still checks every request itself


# --- revoked sessions --------------------------------------------------------------------------

def test_revocations_by_session_last_until_the_tokens_expire():
    from gateway.auth import Revocations
    from kernel.auth import Principal

    now = [1000.0]
    rev = Revocations(size=2, max_age=60, clock=lambda: now[0])
    rev.revoke("u1", 990, ("sid-1",), 1100)
    ended = Principal("u1", "s", ("teacher",), issued_at=999, session_id="sid-1")
    later_login = Principal("u1", "s", ("teacher",), issued_at=999, session_id="sid-2")
    legacy = Principal("u1", "s", ("teacher",), issued_at=989)  # a token without a session id
    assert rev.revoked(ended) and not rev.revoked(later_login) and rev.revoked(legacy)
    now[0] = 1099.0
    assert rev.revoked(ended)
    now[0] = 1100.0
    assert not rev.revoked(ended)  # every token of that session has expired by now
    for n in range(3):  # bounded: the oldest session is dropped first
        rev.revoke("u1", 0, (f"x{n}",), 5000)
    assert not rev.revoked(Principal("u1", "s", (), session_id="x0"))
    assert rev.revoked(Principal("u1", "s", (), session_id="x2"))


def test_sessions_revoked_event_becomes_revoke_arguments():
    from gateway.invalidation import session_revocation

    def body(payload):
        return json.dumps({"occurred_at": "2026-11-29T10:00:00+00:00", "payload": payload}).encode()

    good = {"user_id": "u1", "session_ids": ["a", "b"], "before": 100, "until": 200, "reason": "logout"}
    assert session_revocation("sessions_revoked", body(good)) == ("u1", 100, ("a", "b"), 200)
    assert session_revocation("sessions_revoked", body({**good, "session_ids": [3]})) is None
    assert session_revocation("sessions_revoked", body({**good, "until": "soon"})) is None
    assert session_revocation("sessions_revoked", json.dumps({"occurred_at": "2026-11-29T10:00:00+00:00",
                                                               "payload": ["x"]}).encode()) is None


def test_a_worker_loads_earlier_revocations_before_trusting_a_token(signing_key):
    from kernel import config as kernel_config
    from gateway.app import create_app
    from gateway.auth import REVOCATIONS
    from gateway_fakes import FakeClients, jwks_of

    fake = FakeClients(jwks_of(signing_key))
    app = create_app({"TESTING": True, "SETTINGS": kernel_config.load(), "DECISION_INVALIDATION": True,
                      "ACCESS_LOG": False}, clients=fake)
    app.extensions["ejournal.gateway.decisions"].invalidator = None  # no broker here: only the load
    revocations = app.extensions[REVOCATIONS]
    import time
    fake.identity.answers["ListRevocations"] = identity_pb2.Revocations(items=[
        identity_pb2.Revocation(user_id="p1", session_id="gone", before=1, until=int(time.time()) + 600,
                                reason="logout")])
    fake.identity.answers["GetProfile"] = identity_pb2.Profile(id="p1", login="x", full_name="X", roles=["parent"])
    client = app.test_client()
    gone = signing_key.token(sub="p1", roles=["parent"], sid="gone")
    alive = signing_key.token(sub="p1", roles=["parent"], sid="alive")
    assert client.get(f"{P}/me", headers={"Authorization": f"Bearer {gone}"}).status_code == 401
    assert client.get(f"{P}/me", headers={"Authorization": f"Bearer {alive}"}).status_code == 200
    assert len(fake.identity.called("ListRevocations")) == 1  # once per worker
    revocations.mark_stale()  # the event stream reconnected: load again
    assert client.get(f"{P}/me", headers={"Authorization": f"Bearer {alive}"}).status_code == 200
    assert len(fake.identity.called("ListRevocations")) == 2
