"""HTTP hygiene: security headers, no CORS, size limit, Flask's own errors in
the API's error shape, correlation ids, metrics."""
from __future__ import annotations

import re

import pytest

from gateway_doc import assert_documented

P = "/api/v1"


def assert_secure(response, csp_default="default-src 'none'"):
    h = response.headers
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["X-Frame-Options"] == "DENY"
    assert h["Referrer-Policy"] == "no-referrer"
    assert csp_default in h["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
    assert "unsafe-inline" not in h["Content-Security-Policy"]
    assert "Access-Control-Allow-Origin" not in h


@pytest.mark.parametrize("url", [f"{P}/openapi.json", "/healthz", f"{P}/me", "/no-such-page", f"{P}/nope"])
def test_json_answers_are_locked_down(client, url):
    response = client.get(url, headers={"Origin": "https://evil.example"})
    assert_secure(response)
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert response.headers["Cache-Control"] == "no-store"


def test_portal_page_csp_allows_only_own_assets(client):
    response = client.get("/")
    assert response.status_code == 200
    assert_secure(response, "script-src 'self'")
    assert "<script>" not in response.get_data(as_text=True)  # nothing inline: the CSP would block it
    html = response.get_data(as_text=True)
    assert 'lang="ru"' in html and "Вход" in html and "Электронный дневник" in html  # signed out: the login form
    assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', html)
    assert len(assets) == 2  # the style sheet and the script
    for asset in assets:
        assert client.get(asset).status_code == 200


def test_favicon_is_an_icon(client):
    """/favicon.ico answered 404 (JSON) to every browser."""
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype == "image/vnd.microsoft.icon"
    body = response.get_data()
    assert body[:4] == b"\x00\x00\x01\x00" and b"PNG" in body[:40]  # an ICO holding one PNG image
    assert "no-store" not in response.headers.get("Cache-Control", "")
    assert_documented(response, "/favicon.ico", "GET")
    assert 'href="/favicon.ico"' in client.get("/").get_data(as_text=True)


def test_no_cors_preflight(client):
    response = client.options(f"{P}/users", headers={"Origin": "https://evil.example",
                                                     "Access-Control-Request-Method": "POST"})
    assert not any(k.lower().startswith("access-control-") for k in response.headers.keys())


def test_body_over_one_mib_is_413(client, fake, auth):
    big = '{"name": "' + "я" * (600 * 1024) + '"}'
    response = client.post(f"{P}/subjects", data=big.encode(), content_type="application/json",
                           headers=auth(roles=["admin"]))
    assert response.status_code == 413
    assert response.get_json()["error"] == "PAYLOAD_TOO_LARGE"
    assert fake.rpc_calls == []


def test_flask_404_and_405_use_the_error_shape(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json() == {"error": "NOT_FOUND", "message": "Не найдено", "details": {}}
    response = client.delete(f"{P}/users")
    assert response.status_code == 405
    assert response.get_json()["error"] == "METHOD_NOT_ALLOWED"
    assert "POST" in response.headers["Allow"]


def test_correlation_id_is_adopted_if_sane_else_replaced(client, fake, auth):
    fake.rpc_answers[("journal", "create_subject")] = {"id": "s1", "name": "Химия"}
    sane = "abc123-def456"
    response = client.post(f"{P}/subjects", json={"name": "Химия"},
                           headers={**auth(roles=["admin"]), "X-Correlation-Id": sane})
    assert response.headers["X-Correlation-Id"] == sane
    assert fake.last_rpc()["args"][0]["correlation_id"] == sane
    for bad in ["short", "a" * 65, "semi;colon injection", "спецсимволы-12345"]:
        response = client.get("/healthz", headers={"X-Correlation-Id": bad.encode("utf-8").decode("latin-1")})
        cid = response.headers["X-Correlation-Id"]
        assert cid != bad and re.fullmatch(r"[0-9a-f]{32}", cid)


def test_metrics_count_requests_by_route_template(client):
    client.get("/healthz")
    client.get(f"{P}/students/abc/diary")  # 401, by template, not by the student's id
    text = client.get("/metrics").get_data(as_text=True)
    assert re.search(r'gateway_requests_total\{method="GET",route="/healthz",status="200"\} [1-9]', text)
    assert 'route="/api/v1/students/<id>/diary",status="401"' in text
    assert "abc" not in text
    assert "gateway_request_seconds_bucket" in text
