"""The people reads through the gateway: ``GET /users`` (identity),
``GET /messages/recipients`` and ``GET /news/{id}`` (messaging) call their
RPC with the verified caller and the validated query, answer what the
OpenAPI document promises, refuse a bad limit or cursor with 400, and who
may ever list users is decided before the query is read (R-A2, R-A3, R-M1,
R-M4)."""
from __future__ import annotations

import pytest

from kernel import limits

from gateway_doc import assert_documented
from gateway_fakes import remote_error

P = "/api/v1"
USER = "22222222-2222-4222-8222-222222222222"
USERS = {"items": [{"id": "u1", "login": "ivanova.m", "full_name": "Иванова Мария", "roles": ["parent"],
                    "locked": False}], "next_cursor": "WyJhIiwiYiJd"}
RECIPIENTS = {"items": [{"id": "t1", "full_name": "Кузнецов Иван", "role": "teacher"},
                        {"id": "s1", "full_name": "Иванов Пётр", "role": "student",
                         "class": {"id": "c1", "name": "5А"}}], "next_cursor": None}
NEWS = {"id": "n1", "kind": "news", "title": "Собрание", "body": "В пятницу",
        "links": [{"title": "Приказ", "url": "https://school.test/1.pdf"}], "audience": {"school": True},
        "author_id": "e1", "created_at": "2026-10-12T08:00:00+00:00", "published_at": "2026-10-12T08:00:00+00:00",
        "author": {"id": "e1", "full_name": "Орлова Нина"}}

ROUTES = [
    ("/users?q=%D0%98%D0%B2%D0%B0%D0%BD&role=parent&limit=10&cursor=abc", "/users", ["admin"], "identity",
     "list_users", ("Иван", "parent", 10, "abc"), USERS),
    ("/users", "/users", ["class_teacher"], "identity", "list_users", (None, None, limits.LIST_LIMIT, None), USERS),
    ("/messages/recipients?q=%D0%BF%D1%91%D1%82%D1%80", "/messages/recipients", ["parent"], "messaging",
     "recipients", ("пётр", limits.LIST_LIMIT, None), RECIPIENTS),
    ("/messages/recipients?limit=1&cursor=xyz", "/messages/recipients", ["student"], "messaging", "recipients",
     (None, 1, "xyz"), RECIPIENTS),
    ("/news/n1", "/news/{id}", ["parent"], "messaging", "get_news", ("n1",), NEWS),
]


@pytest.mark.parametrize("url,path,roles,service,rpc,args,answer", ROUTES, ids=[r[0][:40] for r in ROUTES])
def test_a_read_calls_its_service_with_the_caller_and_the_query(client, fake, auth, url, path, roles, service, rpc,
                                                                args, answer):
    fake.rpc_answers[(service, rpc)] = answer
    response = client.get(P + url, headers=auth(sub=USER, roles=roles))
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == answer
    call = fake.last_rpc()
    assert (call["service"], call["method"]) == (service, rpc)
    assert call["args"][0]["actor_id"] == USER and tuple(call["args"][1:]) == args
    assert_documented(response, P + path, "GET")


@pytest.mark.parametrize("role", ["director", "deputy", "teacher", "secretary", "news_editor", "scheduler",
                                  "student", "parent"])
def test_r_a3_only_the_admin_and_class_teachers_list_users_403_before_the_query_is_read(client, fake, auth, role):
    response = client.get(f"{P}/users?limit=0", headers=auth(roles=[role]))
    assert response.status_code == 403 and response.get_json()["error"] == "FORBIDDEN"
    assert fake.rpc_calls == []
    assert_documented(response, f"{P}/users", "GET")


@pytest.mark.parametrize("url,path", [("/users", "/users"), ("/messages/recipients", "/messages/recipients")])
@pytest.mark.parametrize("query,field", [
    ("limit=0", "limit"), (f"limit={limits.LIST_LIMIT_MAX + 1}", "limit"), ("limit=x", "limit"),
    ("cursor=" + "c" * (limits.LIST_CURSOR + 1), "cursor"), ("q=" + "я" * (limits.LIST_QUERY + 1), "q"),
])
def test_a_bad_page_or_search_is_400_naming_the_field(client, auth, url, path, query, field):
    response = client.get(f"{P}{url}?{query}", headers=auth(roles=["admin"]))
    assert response.status_code == 400
    assert [p["field"] for p in response.get_json()["details"]["problems"]] == [field]
    assert_documented(response, P + path, "GET")


def test_an_unknown_role_is_400(client, auth):
    response = client.get(f"{P}/users?role=wizard", headers=auth(roles=["admin"]))
    assert response.status_code == 400 and response.get_json()["details"]["problems"][0]["field"] == "role"


@pytest.mark.parametrize("url,path,service,rpc", [("/users?cursor=zzz", "/users", "identity", "list_users"),
                                                  ("/messages/recipients?cursor=zzz", "/messages/recipients",
                                                   "messaging", "recipients")])
def test_a_cursor_the_service_cannot_read_is_400(client, fake, auth, url, path, service, rpc):
    fake.rpc_answers[(service, rpc)] = remote_error("bad_request", "VALIDATION_ERROR", "Некорректная позиция",
                                                    {"field": "cursor"})
    response = client.get(P + url, headers=auth(roles=["admin"]))
    assert response.status_code == 400 and response.get_json()["error"] == "VALIDATION_ERROR"
    assert_documented(response, P + path, "GET")


def test_r_m4_a_news_item_outside_the_callers_audience_is_404(client, fake, auth):
    fake.rpc_answers[("messaging", "get_news")] = remote_error("not_found", "NOT_FOUND", "Не найдено",
                                                               {"news_id": "n2"})
    response = client.get(f"{P}/news/n2", headers=auth(roles=["parent"]))
    assert response.status_code == 404
    assert_documented(response, f"{P}/news/{{id}}", "GET")


def test_the_reads_are_published_in_the_openapi_document(client):
    doc = client.get(f"{P}/openapi.json").get_json()
    for path, op_id in (("/users", "list_users"), ("/messages/recipients", "list_recipients"),
                        ("/news/{id}", "get_news")):
        assert doc["paths"][P + path]["get"]["operationId"] == op_id
    assert doc["paths"][P + "/users"]["post"]["operationId"] == "create_user"
    limit = next(p for p in doc["paths"][P + "/users"]["get"]["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, limits.LIST_LIMIT_MAX)
