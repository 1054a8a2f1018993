"""The messaging routes of the gateway (API.md "Messaging and news"): each
calls the right RPC with the verified caller, validates against the OpenAPI
document, and maps messaging's refusals to the error table."""
from __future__ import annotations

import base64

import pytest

from gateway_doc import assert_documented
from gateway_fakes import remote_error

P = "/api/v1"
USER = "22222222-2222-4222-8222-222222222222"

LETTER = {"to": ["t1"], "subject": "Вопрос", "body": "Добрый день"}
NEWS = {"title": "Собрание", "body": "В пятницу", "audience": {"parents_of_class": "c1"}}

ROUTES = [
    ("POST", "/messages", "/messages", LETTER, "send_message", lambda b: (b,),
     {"id": "m1", "thread_id": "m1", "recipients": ["t1"]}, 201),
    ("GET", "/messages?folder=sent&limit=5", "/messages", None, "list_messages", lambda b: ("sent", 5, None),
     {"items": [], "next_cursor": None}, 200),
    ("GET", "/messages", "/messages", None, "list_messages", lambda b: ("inbox", 50, None),
     {"items": [], "next_cursor": None}, 200),
    ("GET", "/messages/m1", "/messages/{id}", None, "get_message", lambda b: ("m1",),
     {"id": "m1", "thread_id": "m1", "reply_to": None, "sender_id": "t1", "sender_name": "Иванов",
      "subject": "Вопрос", "created_at": "2026-10-12T08:00:00+00:00", "read": True, "body": "Текст",
      "recipients": [{"id": USER, "name": None}], "attachments": [], "thread": []}, 200),
    ("GET", "/me/notification-settings", "/me/notification-settings", None, "get_notification_settings",
     lambda b: (), {"email": "instant", "digest_time": "18:00"}, 200),
    ("PUT", "/me/notification-settings", "/me/notification-settings", {"email": "daily", "digest_time": "07:30"},
     "set_notification_settings", lambda b: (b,), {"email": "daily", "digest_time": "07:30"}, 200),
    ("POST", "/news", "/news", NEWS, "post_news", lambda b: (b,),
     {"id": "n1", "kind": "announcement", "title": "Собрание", "body": "В пятницу", "links": [],
      "audience": {"parents_of_class": "c1"}, "author_id": USER, "created_at": "2026-10-12T08:00:00+00:00",
      "published_at": "2026-10-12T08:00:00+00:00", "author": {"id": USER, "full_name": "Смирнова Ольга"}}, 201),
    ("GET", "/news?limit=2", "/news", None, "list_news", lambda b: (2, None), {"items": [], "next_cursor": None}, 200),
]


@pytest.mark.parametrize("method,url,path,body,rpc,args,answer,status", ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES])
def test_messaging_route_calls_messaging_with_ctx(client, fake, auth, method, url, path, body, rpc, args, answer,
                                                  status):
    """R-M1/R-M2/R-M4 through the gateway: the answer is the service's."""
    fake.rpc_answers[("messaging", rpc)] = answer
    roles = ["secretary"] if rpc == "post_news" else ["parent"]  # R-M4: who may post at all
    response = client.open(P + url, method=method, json=body, headers=auth(sub=USER, roles=roles))
    assert response.status_code == status, response.get_json()
    assert response.get_json() == answer
    call = fake.last_rpc()
    assert (call["service"], call["method"]) == ("messaging", rpc)
    assert call["args"][0]["actor_id"] == USER and call["args"][1:] == args(body)
    assert_documented(response, P + path, method)


def test_a_refused_recipient_is_403_recipient_not_allowed_R_M1(client, fake, auth):
    fake.rpc_answers[("messaging", "send_message")] = remote_error(
        "forbidden", "RECIPIENT_NOT_ALLOWED", "Вы не можете писать этим адресатам", {"refused": ["p2"]})
    response = client.post(f"{P}/messages", json={**LETTER, "to": ["p2"]}, headers=auth(roles=["parent"]))
    assert response.status_code == 403
    assert response.get_json() == {"error": "RECIPIENT_NOT_ALLOWED", "message": "Вы не можете писать этим адресатам",
                                   "details": {"refused": ["p2"]}}
    assert_documented(response, f"{P}/messages", "POST")


@pytest.mark.parametrize("url,body,field", [
    ("/messages", {"to": ["t1"], "body": "x"}, "subject"),
    ("/messages", {**LETTER, "cc": ["x"]}, "cc"),
    ("/messages", {**LETTER, "attachments": [{"name": "a"}]}, "attachments[0].content_base64"),
    ("/news", {**NEWS, "audience": {"class_id": "c1", "school": True}}, "audience"),
    ("/news", {**NEWS, "links": [{"title": "x", "url": "javascript:alert(1)"}]}, "links[0].url"),
])
def test_bad_bodies_never_reach_messaging(client, fake, auth, url, body, field):
    response = client.post(P + url, json=body, headers=auth(roles=["director"]))
    assert response.status_code == 400
    assert field in [p["field"] for p in response.get_json()["details"]["problems"]]
    assert fake.rpc_calls == []


@pytest.mark.parametrize("body", [{"email": "weekly"}, {"email": "daily", "digest_time": "24:00"}, {}])
def test_bad_settings_are_400(client, fake, auth, body):
    response = client.put(f"{P}/me/notification-settings", json=body, headers=auth())
    assert response.status_code == 400
    assert fake.rpc_calls == []


def test_attachment_is_served_as_a_download(client, fake, auth):
    fake.rpc_answers[("messaging", "get_attachment")] = {
        "name": "план урока.html", "content_type": "text/html",
        "content_base64": base64.b64encode(b"<script>alert(1)</script>").decode()}
    response = client.get(f"{P}/messages/m1/attachments/a1", headers=auth())
    assert response.status_code == 200
    assert response.data == b"<script>alert(1)</script>"
    assert response.mimetype == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment; filename*=UTF-8''")
    assert fake.last_rpc()["args"][1:] == ("m1", "a1")


def test_messaging_routes_need_a_token(client, fake):
    for method, url in (("GET", "/messages"), ("POST", "/messages"), ("GET", "/news"),
                        ("PUT", "/me/notification-settings")):
        assert client.open(P + url, method=method, json={}).status_code == 401
    assert fake.rpc_calls == []
