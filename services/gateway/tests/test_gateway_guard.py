"""Authorization before validation (gateway.guard), over every API route of
the gateway (Flask's URL map): a caller who may not use a route hears
401, 403 or 404, whatever is wrong with the query or body, and never a
400 or 422 that would tell them the route exists and what it wants; the
owning service is never called. R-A3, R-A5, R-D5 (API.md: 404 for "not
yours", so that ids cannot be probed)."""
from __future__ import annotations

import json

import grpc
import pytest
from ejournal.identity.v1 import identity_pb2

from kernel import config as kernel_config

from gateway import guard, openapi
from gateway.app import create_app

from gateway_fakes import grpc_error, remote_error

P = openapi.API_PREFIX
ALL_ROLES = tuple(openapi.ROLES)


def rules():
    """``(key, method, url, route)`` for every API route of the app."""
    app = create_app({"TESTING": True, "SETTINGS": kernel_config.load()}, clients=object())
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            key = guard.route_key(rule.rule, method)
            if key:
                url = rule.rule.replace("<id>", "x1").replace("<kind>", "progress").replace("<attachment_id>", "a1")
                found.append((key, method, url, guard.ROUTES[key]))
    return sorted(found)


RULES = rules()
PRIVATE = [r for r in RULES if not r[3].public]
GATED = [(key, method, url, route, role) for key, method, url, route in PRIVATE if route.roles is not None
         for role in ALL_ROLES if role not in route.roles]
ASKED = [r for r in PRIVATE if r[3].action]


def deep(levels: int) -> str:
    return '{"a": ' * levels + "1" + "}" * levels


def with_id(route, value="c1"):
    """Body and query carrying the route's resource id (where it is not in the path)."""
    body, query = {}, ""
    if route.id is not None and route.id.place == "body":
        body[route.id.name] = [value] if route.id.name == "to" else value
    if route.id is not None and route.id.place == "query":
        query = f"{route.id.name}={value}&"
    return body, query


def bad_requests(route):
    """What a probing client sends, as ``(query, data, content_type,
    carries_id)``: nothing, an empty object, broken JSON, JSON nested too
    deep, unknown fields and broken text, a form, a bad query. The
    resource's id (when it is not in the path) is well-formed where it is
    sent (``carries_id``), so that identity is asked about it."""
    body, query = with_id(route)
    in_body = route.id is not None and route.id.place == "body"
    garbage = "limit=abc&from=2026-13-01&format=doc&month=13"
    return [
        (f"?{query}{garbage}", None, None, not in_body),
        (f"?{query}", "{}", "application/json", not in_body),
        (f"?{query}", "{", "application/json", not in_body),
        # too deep to be read at all: its id does not count either
        (f"?{query}", json.dumps(body)[:-1] + (", " if body else "") + '"x": ' + deep(70) + "}",
         "application/json", not in_body),
        (f"?{query}q=%00", json.dumps({**body, "unknown": "a\u0000b", "n\ud800": 1}), "application/json", True),
        (f"?{query}", "name=x", "application/x-www-form-urlencoded", not in_body),
    ]


BROKEN_TEXT = 4  # the index of the request with a NUL and a lone surrogate: malformed on every route


class OwnersRefuse(dict):
    """Every RPC of a fake service answers 403 NOT_ASSIGNED (the owner's own check)."""

    def __contains__(self, key):
        return True

    def __getitem__(self, key):
        return remote_error("forbidden", "NOT_ASSIGNED")


def send(client, method, url, query, data, content_type, headers):
    kwargs = {"headers": headers}
    if data is not None:
        kwargs.update(data=data, content_type=content_type)
    return client.open(P + url[len(P):] + query, method=method, **kwargs)


def assert_no_owner_called(fake):
    assert fake.rpc_calls == [] and fake.journal.calls == []
    assert {name for name, *_ in fake.identity.calls} <= {"Authorize"}


def test_every_api_route_has_a_guard_row_and_asks_for_a_token_first(client, fake):
    """Every API route is in gateway.guard.ROUTES (and no stale row is);
    every route that is not public answers 401 without a token, whatever
    the request carries."""
    app = create_app({"TESTING": True, "SETTINGS": kernel_config.load()}, clients=object())
    assert guard.api_routes(app) == set(guard.ROUTES)
    assert len(RULES) >= 55 and GATED and ASKED
    for key, method, url, route in PRIVATE:
        for query, data, content_type, _ in bad_requests(route):
            response = send(client, method, url, query, data, content_type, {})
            assert response.status_code == 401, (key, query, data, response.get_json())
            assert response.get_json()["error"] == "INVALID_TOKEN"
    assert fake.rpc_calls == [] and fake.identity.calls == [] and fake.journal.calls == []


def test_an_app_with_a_route_the_guard_does_not_know_is_not_built(monkeypatch):
    monkeypatch.delitem(guard.ROUTES, "POST /years")
    with pytest.raises(LookupError, match="POST /years"):
        create_app({"TESTING": True, "SETTINGS": kernel_config.load()}, clients=object())


@pytest.mark.parametrize("key,method,url,route,role", GATED, ids=[f"{r[0]} as {r[4]}" for r in GATED])
def test_a_role_that_may_never_use_a_route_hears_403_or_404_never_400(client, fake, auth, key, method, url, route,
                                                                      role):
    """Identity answers "deferred" here (it has not heard of the resource):
    the case where the gateway alone stands between the caller and a 400."""
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=True, reason="deferred")
    fake.rpc_answers = OwnersRefuse()  # a well-formed request goes on to its owner, who refuses
    for name in ("GetDiary", "GetClassJournal"):
        fake.journal.answers[name] = grpc_error(grpc.StatusCode.PERMISSION_DENIED, "NOT_ASSIGNED")
    fake.reports.answers["Document"] = grpc_error(grpc.StatusCode.PERMISSION_DENIED, "NOT_ASSIGNED")
    for n, (query, data, content_type, _) in enumerate(bad_requests(route)):
        before = len(fake.rpc_calls) + len(fake.journal.calls) + len(fake.reports.calls)
        response = send(client, method, url, query, data, content_type, auth(roles=[role]))
        assert response.status_code in (403, 404), (key, role, query, data, response.get_json())
        reached_owner = len(fake.rpc_calls) + len(fake.journal.calls) + len(fake.reports.calls) > before
        expected = ("NOT_ASSIGNED",) if reached_owner else ("FORBIDDEN", "NOT_FOUND")
        assert response.get_json()["error"] in expected
        assert not (reached_owner and n == BROKEN_TEXT), "broken text reached a service"


@pytest.mark.parametrize("key,method,url,route", ASKED, ids=[r[0] for r in ASKED])
@pytest.mark.parametrize("denial,status", [("not_found", 404), ("forbidden", 403)])
def test_identitys_refusal_comes_before_any_check_of_the_request(client, fake, auth, key, method, url, route,
                                                                  denial, status):
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=False, denial=denial, reason="x")
    roles = sorted(route.roles) if route.roles is not None else list(ALL_ROLES)
    for query, data, content_type, carries_id in bad_requests(route):
        if carries_id:
            response = send(client, method, url, query, data, content_type, auth(roles=roles))
            assert response.status_code == status, (key, query, data, response.get_json())
    assert_no_owner_called(fake)
    asked = fake.identity.called("Authorize")
    assert asked and {(r.action, r.resource_type) for r in asked} == {(route.action, route.resource)}


@pytest.mark.parametrize("key,method,url,route", PRIVATE, ids=[r[0] for r in PRIVATE])
def test_a_caller_who_may_use_a_route_is_told_what_is_wrong(client, fake, auth, key, method, url, route):
    """The other side: the same bad requests from someone who may use the
    route are 400 (the guard refuses nothing it should let through)."""
    roles = sorted(route.roles) if route.roles is not None else list(ALL_ROLES)
    query, data, content_type, _ = bad_requests(route)[BROKEN_TEXT]
    response = send(client, method, url, query, data, content_type, auth(roles=roles))
    assert response.status_code == 400, (key, response.get_json())
    fields = {p["field"] for p in response.get_json()["details"]["problems"]}
    assert "q" in fields, fields
    if openapi.request_schema_name(openapi.operation(P + key.split(" ", 1)[1], method)):
        assert {"unknown", "n\ufffd"} <= fields, fields
    assert_no_owner_called(fake)


def test_a_report_without_a_period_tells_a_parent_nothing(client, fake, auth):
    """The parent hears 403 (identity: families
    know reports exist), with or without a class; a teacher of the class is
    told by reports what is missing."""
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=False, denial="forbidden", reason="family")
    for query in ("class_id=c1", "", "period_id=p1", "class_id=c1&format=doc"):
        response = client.get(f"{P}/reports/progress?{query}", headers=auth(roles=["parent"]))
        assert response.status_code == 403, (query, response.get_json())
    for query in ("", "period_id=p1"):  # no class to ask about: the role decides
        response = client.get(f"{P}/reports/progress?{query}", headers=auth(roles=["secretary"]))
        assert response.status_code == 403
    assert fake.reports.calls == []
    # which parameters a kind needs is the reports service's to say
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=True, reason="assigned_teacher")
    fake.reports.answers["Document"] = grpc_error(grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION_ERROR", "нет периода")
    response = client.get(f"{P}/reports/progress?class_id=c1", headers=auth(roles=["teacher"]))
    assert response.status_code == 400
    assert response.get_json()["error"] == "VALIDATION_ERROR"
    assert [r.kind for r in fake.reports.called("Document")] == ["progress"]


def test_a_deferred_resource_is_still_its_owners_to_decide_for_a_good_request(client, fake, auth):
    """When the request is well-formed the owner answers, exactly as before:
    the gateway conceals only what a malformed request would reveal."""
    from gateway_fakes import remote_error
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=True, reason="deferred")
    fake.rpc_answers[("journal", "post_marks")] = remote_error("forbidden", "NOT_ASSIGNED")
    body = {"marks": [{"student_id": "st1", "value": 5}]}
    response = client.put(f"{P}/lessons/l1/marks", json=body, headers=auth(roles=["director"]))
    assert response.status_code == 403 and response.get_json()["error"] == "NOT_ASSIGNED"
    response = client.put(f"{P}/lessons/l1/marks", json={"marks": []}, headers=auth(roles=["director"]))
    assert response.status_code == 404
    response = client.put(f"{P}/lessons/l1/marks", json={"marks": []}, headers=auth(roles=["teacher"]))
    assert response.status_code == 400  # a teacher may post marks: told what is wrong


def test_the_document_lists_what_the_guard_may_answer():
    doc = openapi.document()
    missing = []
    for key, method, _, route in RULES:
        responses = doc["paths"][P + key.split(" ", 1)[1]][method.lower()]["responses"]
        expected = {"400"} | ({"401"} if not route.public else set()) | ({"403"} if route.roles else set()) \
            | ({"404"} if route.action else set())
        if not expected <= set(responses):
            missing.append((key, sorted(expected - set(responses))))
    assert missing == []


def test_head_is_guarded_and_validated_as_its_get(client, fake, auth):
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=False, denial="forbidden", reason="family")
    assert client.head(f"{P}/reports/progress?class_id=c1", headers=auth(roles=["parent"])).status_code == 403
    assert client.head(f"{P}/notifications?limit=abc", headers=auth(roles=["parent"])).status_code == 400
    assert client.head(f"{P}/notifications", headers={}).status_code == 401
    assert fake.rpc_calls == []
