"""The gateway's identity routes (refresh, logout, password, users, roles,
audit) with fake clients, and the bounded cache of access decisions."""
from __future__ import annotations

import grpc

from ejournal.identity.v1 import identity_pb2

from gateway.guard import DecisionCache
from gateway_doc import assert_documented
from gateway_fakes import grpc_error, remote_error

P = "/api/v1"
PAIR = identity_pb2.TokenPair(access_token="a", refresh_token="r2", expires_in=900, user_id="u1",
                              roles=["teacher"], school_id="school-1")


def test_refresh_is_public_and_answers_a_new_pair(client, fake):
    fake.identity.answers["Refresh"] = PAIR
    r = client.post(f"{P}/auth/refresh", json={"refresh_token": "r1"})
    assert r.status_code == 200 and r.json["refresh_token"] == "r2" and r.json["token_type"] == "Bearer"
    assert fake.identity.called("Refresh")[0].refresh_token == "r1"


def test_refresh_reuse_answers_401_invalid_token(client, fake):
    fake.identity.answers["Refresh"] = grpc_error(grpc.StatusCode.UNAUTHENTICATED, "INVALID_TOKEN", "нет")
    r = client.post(f"{P}/auth/refresh", json={"refresh_token": "spent"})
    assert r.status_code == 401 and r.json["error"] == "INVALID_TOKEN"


def test_refresh_rejects_unknown_fields(client, fake):
    r = client.post(f"{P}/auth/refresh", json={"refresh_token": "r1", "user_id": "admin"})
    assert r.status_code == 400 and r.json["error"] == "VALIDATION_ERROR"
    assert not fake.identity.calls


def test_logout_needs_a_token_and_passes_the_caller(client, fake, auth):
    assert client.post(f"{P}/auth/logout", json={"refresh_token": "r1"}).status_code == 401
    fake.identity.answers["Logout"] = identity_pb2.LogoutReply(revoked=True)
    r = client.post(f"{P}/auth/logout", json={"refresh_token": "r1"}, headers=auth(sub="u7"))
    assert r.status_code == 204
    assert fake.identity.called("Logout")[0].user_id == "u7"


def test_change_password(client, fake, auth):
    fake.rpc_answers[("identity", "change_password")] = None
    r = client.put(f"{P}/me/password", json={"old_password": "old-one-123", "new_password": "new-one-4567"},
                   headers=auth())
    assert r.status_code == 204
    assert fake.last_rpc()["args"][1:] == ("old-one-123", "new-one-4567")


def test_get_user_asks_the_decision_first(client, fake, auth):
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=False, denial="not_found")
    r = client.get(f"{P}/users/u9", headers=auth())
    assert r.status_code == 404 and not fake.rpc_calls
    (req,) = fake.identity.called("Authorize")
    assert (req.action, req.resource_type, req.resource_id) == ("user.read", "user", "u9")


def test_set_roles_maps_forbidden(client, fake, auth):
    fake.rpc_answers[("identity", "set_roles")] = remote_error("forbidden", "FORBIDDEN")
    r = client.put(f"{P}/users/u9/roles", json={"roles": ["admin"]}, headers=auth(roles=["teacher"]))
    assert r.status_code == 403
    r = client.put(f"{P}/users/u9/roles", json={"roles": ["root"]}, headers=auth(roles=["admin"]))
    assert r.status_code == 400


def test_password_reset_answers_the_new_password_once_for_the_admin_only(client, fake, auth):
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=True, reason="policy")
    fake.rpc_answers[("identity", "reset_password")] = {"id": "u9", "login": "ivanov",
                                                       "initial_password": "Kx7pQm2Rt9Wz4a"}
    r = client.post(f"{P}/users/u9/password-reset", headers=auth(roles=["admin"]))
    assert r.status_code == 200 and r.json == {"id": "u9", "login": "ivanov", "initial_password": "Kx7pQm2Rt9Wz4a"}
    assert r.headers["Cache-Control"].startswith("no-store")
    assert_documented(r, f"{P}/users/{{id}}/password-reset", "POST")
    assert fake.last_rpc()["method"] == "reset_password" and fake.last_rpc()["args"][1:] == ("u9",)
    calls = len(fake.rpc_calls)
    # identity's rule for user.password_reset refuses every role but the admin's (role first)
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=False, denial="forbidden")
    for roles in (["teacher", "class_teacher"], ["director"], ["parent"]):
        r = client.post(f"{P}/users/u9/password-reset", headers=auth(roles=roles))
        assert r.status_code == 403 and r.json["error"] == "FORBIDDEN"
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=False, denial="not_found")
    r = client.post(f"{P}/users/other-school/password-reset", headers=auth(roles=["admin"]))
    assert r.status_code == 404 and r.json["error"] == "NOT_FOUND"
    assert len(fake.rpc_calls) == calls  # identity was never asked to reset


def test_password_reset_of_ones_own_password_is_refused(client, fake, auth):
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=True, reason="policy")
    fake.rpc_answers[("identity", "reset_password")] = remote_error("forbidden", "FORBIDDEN")
    r = client.post(f"{P}/users/u1/password-reset", headers=auth(sub="u1", roles=["admin"]))
    assert r.status_code == 403


def test_audit_query(client, fake, auth):
    fake.rpc_answers[("identity", "list_audit")] = {"items": [], "next_cursor": None}
    r = client.get(f"{P}/audit?action=roles_changed&limit=5", headers=auth(roles=["admin"]))
    assert r.status_code == 200
    assert fake.last_rpc()["args"][1:] == (None, "roles_changed", 5)
    assert fake.last_rpc()["kwargs"] == {"from_date": None, "to_date": None}
    r = client.get(f"{P}/audit?from=2026-12-01&to=2026-12-07", headers=auth(roles=["admin"]))
    assert r.status_code == 200
    assert fake.last_rpc()["kwargs"] == {"from_date": "2026-12-01", "to_date": "2026-12-07"}
    r = client.get(f"{P}/audit?from=7.12.2026", headers=auth(roles=["admin"]))
    assert r.status_code == 400


def test_decisions_are_cached_briefly(client, fake, auth, app):
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=False, denial="not_found")
    headers = auth(sub="u5")
    for _ in range(3):
        assert client.get(f"{P}/users/u9", headers=headers).status_code == 404
    assert len(fake.identity.called("Authorize")) == 1


def test_decision_cache_is_bounded_in_time_and_size():
    now = [0.0]
    cache = DecisionCache(size=2, max_age=2.0, clock=lambda: now[0])
    cache.put("a", (True, ""))
    assert cache.get("a") == (True, "")
    now[0] = 2.0
    assert cache.get("a") is None
    for key in "bcd":
        cache.put(key, (False, "not_found"))
    assert cache.get("b") is None and cache.get("d") == (False, "not_found")
