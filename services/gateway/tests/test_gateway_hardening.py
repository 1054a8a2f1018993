"""Hardening, across every route of the gateway: closed JSON
schemas on every body, security headers on every answer (errors too), no
CORS, and secrets never logged."""
from __future__ import annotations

import logging

import pytest

from kernel.redact import SecretsFilter, redact

from gateway import openapi

P = "/api/v1"


def body_routes(app):
    for rule in app.url_map.iter_rules():
        path = openapi.path_of_rule(rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            op = openapi.PATHS.get(path, {}).get(method.lower())
            # JSON bodies only: an upload (the student import) has no fields to smuggle
            if op and "application/json" in op.get("requestBody", {}).get("content", {}):
                yield method, rule.rule.replace("<id>", "x1").replace("<kind>", "progress")


def test_every_body_rejects_unknown_fields_before_any_service_call(app, client, fake, auth):
    routes = list(body_routes(app))
    assert len(routes) >= 15
    for method, url in routes:
        response = client.open(url, method=method, json={"unexpected_field_1": 1},
                               headers=auth(roles=openapi.ROLES))  # every role: past every gate
        assert response.status_code == 400, (method, url, response.status_code)
        problems = response.get_json()["details"]["problems"]
        assert {"field": "unexpected_field_1", "message": problems[0]["message"]} in problems or \
            any(p["field"] == "unexpected_field_1" for p in problems), (method, url)
        assert "Strict-Transport-Security" in response.headers and "Access-Control-Allow-Origin" not in response.headers
    # identity's access decision comes first; no owning service hears of a bad body
    assert fake.rpc_calls == [] and {name for name, *_ in fake.identity.calls} <= {"Authorize"}


@pytest.mark.parametrize("status_route", [("GET", f"{P}/me"), ("DELETE", f"{P}/me"), ("GET", "/nowhere")])
def test_error_answers_carry_the_security_headers(client, status_route):
    method, url = status_route
    response = client.open(url, method=method, headers={"Origin": "https://evil.example"})
    assert response.status_code in (401, 404, 405)
    for name in ("X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy", "Referrer-Policy",
                 "Strict-Transport-Security", "Permissions-Policy"):
        assert name in response.headers, name
    assert not any(k.lower().startswith("access-control-") for k in response.headers.keys())


def test_an_unexpected_error_shows_no_trace_and_logs_no_secret(client, fake, auth, caplog):
    fake.rpc_answers[("identity", "change_password")] = RuntimeError(
        "boom with password='hunter2-secret-value' and Bearer eyJabc.def.ghi")
    caplog.handler.addFilter(SecretsFilter())
    with caplog.at_level(logging.INFO):
        response = client.put(f"{P}/me/password", json={"old_password": "hunter2-secret-value",
                                                         "new_password": "another-secret-777"}, headers=auth())
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "boom" not in text and "Traceback" not in text and "hunter2" not in text
    logged = caplog.text
    assert "boom" in logged  # the incident itself is logged...
    assert "hunter2-secret-value" not in logged and "eyJabc" not in logged  # ...its secrets are not


def test_the_json_log_lines_of_a_failing_request_hold_no_secret(client, fake, auth):
    """The same incident through the handler every process uses
    (kernel.correlation.setup_logging): JSON lines, the request's line and
    the error's, with the correlation and actor ids, and no secret, neither
    from the body, the token nor the exception."""
    import io
    import json

    from kernel import correlation

    fake.rpc_answers[("identity", "change_password")] = RuntimeError(
        "boom with password='hunter2-secret-value' and Bearer eyJabc.def.ghi")
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    correlation.setup_logging("gateway")
    stream = root.handlers[0].stream = io.StringIO()
    headers = {**auth(sub="u-42"), "X-Correlation-Id": "redaction-test-1"}
    try:
        response = client.put(f"{P}/me/password", json={"old_password": "hunter2-secret-value",
                                                         "new_password": "another-secret-777"}, headers=headers)
    finally:
        root.handlers[:], root.level = saved
    assert response.status_code == 500
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    request = next(line for line in lines if line.get("event") == "http")
    assert (request["route"], request["status"], request["actor_id"], request["correlation_id"]) == \
        ("/api/v1/me/password", 500, "u-42", "redaction-test-1")
    assert any("boom" in line.get("exception", "") + line["message"] for line in lines)
    text = stream.getvalue()
    for secret in ("hunter2-secret-value", "another-secret-777", "eyJabc", headers["Authorization"][7:]):
        assert secret not in text


def test_redact_masks_the_usual_suspects():
    line = ('{"login": "ivanov", "password": "p@ss word", "refresh_token": "abc"} Authorization: Bearer x.y.z '
            "hash $argon2id$v=19$m=19456,t=2,p=1$abc$def totp_code=123456")
    cleaned = redact(line)
    assert "ivanov" in cleaned
    for secret in ("p@ss word", '"abc"', "x.y.z", "$argon2id$", "123456"):
        assert secret not in cleaned, secret
