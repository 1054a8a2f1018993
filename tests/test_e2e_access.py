"""Attacks on identity and access through the gateway, on the real
platform: brute force, refresh-token reuse, consent withdrawal,
role escalation, token tampering (alg none, HS256 confusion, wrong key,
expired, another school's token). R-A2, R-A4, R-A5, ASVS V2/V3/V4."""
from __future__ import annotations

import base64
import datetime as dt
import json
import time
import uuid
from zoneinfo import ZoneInfo

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from localrun.client import Api

pytestmark = pytest.mark.e2e

PASSWORD = "attack-pass-2026"
P = "/api/v1"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def site(platform):
    u = uuid.uuid4().hex[:8]
    base, env = platform.url, platform.env
    admin = Api(base).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date()

    def user(api, stem, roles):
        return api.post("/users", {"login": f"{stem}.{u}", "full_name": f"Атака {stem}", "roles": roles,
                                   "password": PASSWORD}, expect=201)

    ct = user(admin, "ct", ["teacher", "class_teacher"])
    teacher = user(admin, "t", ["teacher"])
    ct_api = Api(base).login(ct["login"], PASSWORD)
    student = user(ct_api, "s", ["student"])
    parent = user(ct_api, "p", ["parent"])
    ct_api.post(f"/students/{student['id']}/parents", {"parent_id": parent["id"], "relation": "мать"}, expect=201)
    ct_api.put(f"/parents/{parent['id']}/consent", {"given": True, "signed_on": today.isoformat()}, expect=200)
    return {"base": base, "env": env, "settings": platform.settings, "u": u, "admin": admin, "ct": ct,
            "ct_api": ct_api, "teacher": teacher,
            "student": student, "parent": parent, "today": today}


def post(site, path, body, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{site['base']}{P}{path}", json=body, headers=headers, timeout=30)


def get(site, path, token):
    return requests.get(f"{site['base']}{P}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)


# --- V2: brute force ---------------------------------------------------------------------------

def test_brute_force_is_throttled_with_the_same_answer_for_unknown_logins(site):
    for login in (site["teacher"]["login"], f"nobody.{site['u']}"):
        codes = [post(site, "/auth/login", {"login": login, "password": f"guess-{i}-xxxxx"}).status_code
                 for i in range(6)]
        assert codes[:5] == [401] * 5 and codes[5] == 429, codes
        right = post(site, "/auth/login", {"login": login, "password": PASSWORD})
        assert right.status_code == 429 and right.json()["error"] == "TOO_MANY_ATTEMPTS"
        assert right.json()["details"]["retry_after"] >= 1
    locked = site["admin"].get(f"/audit?action=login_locked&target_id={site['teacher']['id']}")
    assert len(locked["items"]) == 1
    # the admin unlocks the teacher at once (audited); the unknown login stays throttled
    assert site["admin"].post(f"/users/{site['teacher']['id']}/unlock")["cleared"] == 5
    assert post(site, "/auth/login", {"login": site["teacher"]["login"], "password": PASSWORD}).status_code == 200
    unlocked = site["admin"].get(f"/audit?action=login_unlocked&target_id={site['teacher']['id']}")["items"]
    assert unlocked[0]["actor_id"] == site["admin"].user["id"]


# --- V3: refresh-token reuse, logout ---------------------------------------------------------------

def test_refresh_token_reuse_revokes_the_family(site):
    first = post(site, "/auth/login", {"login": site["ct"]["login"], "password": PASSWORD}).json()
    second = post(site, "/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    stolen = post(site, "/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert stolen.status_code == 401 and stolen.json()["error"] == "INVALID_TOKEN"
    # the legitimate holder's newer token died with the family
    assert post(site, "/auth/refresh", {"refresh_token": second["refresh_token"]}).status_code == 401
    assert site["admin"].get(f"/audit?action=refresh_reuse&target_id={site['ct']['id']}")["items"]


def test_logout_ends_the_session(site):
    pair = post(site, "/auth/login", {"login": site["ct"]["login"], "password": PASSWORD}).json()
    assert post(site, "/auth/logout", {"refresh_token": pair["refresh_token"]}, pair["access_token"]).status_code == 204
    assert post(site, "/auth/refresh", {"refresh_token": pair["refresh_token"]}).status_code == 401


def refused_soon(site, token, path="/me", within=5.0):
    """The access token is refused (401) within ``within`` seconds."""
    deadline = time.monotonic() + within
    while get(site, path, token).status_code != 401:
        assert time.monotonic() < deadline, "the ended session's access token still works"
        time.sleep(0.2)


# --- an ended session's access token stops working at once ------------------------

def test_logout_ends_the_access_token_too_other_sessions_go_on(site):
    login = {"login": site["teacher"]["login"], "password": PASSWORD}
    pair, other = post(site, "/auth/login", login).json(), post(site, "/auth/login", login).json()
    assert get(site, "/me", pair["access_token"]).status_code == 200
    assert post(site, "/auth/logout", {"refresh_token": pair["refresh_token"]}, pair["access_token"]).status_code == 204
    refused_soon(site, pair["access_token"])
    assert get(site, "/me", other["access_token"]).status_code == 200  # another device stays logged in
    again = post(site, "/auth/login", login).json()  # a new login is a new session, not caught by the old end
    assert get(site, "/me", again["access_token"]).status_code == 200


def test_a_password_change_ends_the_other_sessions_access_tokens(site):
    u = site["u"]
    user = site["admin"].post("/users", {"login": f"pwd.{u}", "full_name": "Смена Пароля", "roles": ["teacher"],
                                         "password": PASSWORD}, expect=201)
    login = {"login": user["login"], "password": PASSWORD}
    here, there = post(site, "/auth/login", login).json(), post(site, "/auth/login", login).json()
    changed = requests.put(f"{site['base']}{P}/me/password", json={"old_password": PASSWORD,
                                                                   "new_password": "another-pass-2026"},
                           headers={"Authorization": f"Bearer {here['access_token']}"}, timeout=30)
    assert changed.status_code == 204
    refused_soon(site, there["access_token"])
    assert get(site, "/me", here["access_token"]).status_code == 200  # the session it was changed in goes on


def test_a_role_change_ends_the_access_token_at_once(site):
    u = site["u"]
    user = site["admin"].post("/users", {"login": f"role.{u}", "full_name": "Смена Ролей", "roles": ["teacher"],
                                         "password": PASSWORD}, expect=201)
    pair = post(site, "/auth/login", {"login": user["login"], "password": PASSWORD}).json()
    assert get(site, "/me", pair["access_token"]).status_code == 200
    site["admin"].put(f"/users/{user['id']}/roles", {"roles": ["secretary"]}, expect=200)
    refused_soon(site, pair["access_token"])
    again = post(site, "/auth/login", {"login": user["login"], "password": PASSWORD}).json()
    me = get(site, "/me", again["access_token"])
    assert me.status_code == 200 and me.json()["roles"] == ["secretary"]


def test_a_replayed_refresh_token_ends_the_access_token_of_its_session(site):
    pair = post(site, "/auth/login", {"login": site["teacher"]["login"], "password": PASSWORD}).json()
    fresh = post(site, "/auth/refresh", {"refresh_token": pair["refresh_token"]}).json()
    assert post(site, "/auth/refresh", {"refresh_token": pair["refresh_token"]}).status_code == 401  # stolen
    refused_soon(site, fresh["access_token"])
    refused_soon(site, pair["access_token"])


# --- R-A4: consent withdrawal ------------------------------------------------------------------------

def test_r_a4_consent_withdrawal_ends_the_parents_sessions(site, platform):
    u = site["u"]
    ct_api = site["ct_api"]
    parent = ct_api.post("/users", {"login": f"pw.{u}", "full_name": "Родитель Отзыв", "roles": ["parent"],
                                    "password": PASSWORD}, expect=201)
    ct_api.post(f"/students/{site['student']['id']}/parents", {"parent_id": parent["id"], "relation": "отец"},
                expect=201)
    ct_api.put(f"/parents/{parent['id']}/consent", {"given": True, "signed_on": site["today"].isoformat()}, expect=200)
    pair = post(site, "/auth/login", {"login": parent["login"], "password": PASSWORD}).json()
    diary = f"/students/{site['student']['id']}/diary"
    assert get(site, diary, pair["access_token"]).status_code == 200
    ct_api.put(f"/parents/{parent['id']}/consent", {"given": False, "signed_on": site["today"].isoformat()},
               expect=200)
    assert post(site, "/auth/refresh", {"refresh_token": pair["refresh_token"]}).status_code == 401
    again = post(site, "/auth/login", {"login": parent["login"], "password": PASSWORD})
    assert again.status_code == 403 and again.json()["error"] == "NO_CONSENT"
    # the still-unexpired access token is dead too: the gateway heard consent_recorded
    deadline = time.monotonic() + 10
    while get(site, "/me", pair["access_token"]).status_code != 401:
        assert time.monotonic() < deadline, "the session outlived the withdrawn consent"
        time.sleep(0.3)
    assert get(site, diary, pair["access_token"]).status_code == 401


# --- R-A5: role escalation -----------------------------------------------------------------------------

def test_r_a5_no_escalation_by_any_route(site):
    ct_api = site["ct_api"]
    me = ct_api.user["id"]
    u = site["u"]
    # own roles, someone else's roles
    assert ct_api.request("PUT", f"/users/{me}/roles", json={"roles": ["admin"]}).status_code == 403
    assert ct_api.request("PUT", f"/users/{site['student']['id']}/roles",
                          json={"roles": ["admin"]}).status_code == 403
    # a class teacher issuing a staff or admin login
    for roles in (["admin"], ["teacher"], ["student", "admin"]):
        r = ct_api.request("POST", "/users", json={"login": f"esc{len(roles)}{roles[-1]}.{u}", "full_name": "Х",
                                                   "roles": roles, "password": PASSWORD})
        assert r.status_code == 403, roles
    # smuggled fields are refused, not ignored
    for body in ({"login": f"sm1.{u}", "full_name": "Х", "roles": ["student"], "school_id": "other"},
                 {"login": f"sm2.{u}", "full_name": "Х", "roles": ["student"], "created_by": me}):
        r = ct_api.request("POST", "/users", json=body)
        assert r.status_code == 400 and r.json()["error"] == "VALIDATION_ERROR"
    # the admin cannot change their own roles either (audited grants only to others)
    admin = site["admin"]
    assert admin.request("PUT", f"/users/{admin.user['id']}/roles", json={"roles": ["teacher"]}).status_code == 403
    # a real grant is audited with before and after
    t = site["teacher"]
    admin.put(f"/users/{t['id']}/roles", {"roles": ["teacher", "scheduler"]}, expect=200)
    (record,) = admin.get(f"/audit?action=roles_changed&target_id={t['id']}")["items"]
    assert record["before"] == {"roles": ["teacher"]} and record["after"] == {"roles": ["teacher", "scheduler"]}
    assert record["actor_id"] == admin.user["id"] and record["at"]


# --- V3/V4: token tampering ----------------------------------------------------------------------------

def _identity_key(site):
    """identity's real signing key, read from its database and opened with
    the platform's key-encryption key (to forge the claims an attacker
    cannot: only the test holds both)."""
    from sqlalchemy import create_engine, text
    from identity import sealing
    engine = create_engine(site["settings"].database_url("identity"))
    try:
        with engine.connect() as conn:
            kid, sealed = conn.execute(text(
                "SELECT kid, private_key_sealed FROM signing_keys WHERE active ORDER BY created_at DESC LIMIT 1")).one()
    finally:
        engine.dispose()
    box = sealing.SecretBox(sealing.load_key(site["env"]["EJOURNAL_DATA_DIR"], environ={}))
    pem = box.open(sealed, context=sealing.signing_key_context(kid))
    return kid, serialization.load_pem_private_key(pem.encode(), password=None)


def test_tampered_tokens_are_refused(site):
    good = post(site, "/auth/login", {"login": site["ct"]["login"], "password": PASSWORD}).json()["access_token"]
    header, payload, signature = good.split(".")
    kid = json.loads(base64.urlsafe_b64decode(header + "=="))["kid"]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    widened = b64(json.dumps({**claims, "roles": ["admin"]}).encode())
    forged = {
        "alg none": f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT', 'kid': kid}).encode())}.{widened}.",
        "roles widened, old signature": f"{header}.{widened}.{signature}",
        "wrong key, right kid": jwt.encode({**claims, "roles": ["admin"]}, Ed25519PrivateKey.generate(),
                                           algorithm="EdDSA", headers={"kid": kid}),
        "HS256 with the public key": jwt.encode(
            {**claims, "roles": ["admin"]}, b"any-secret-an-attacker-knows-0123456789",
            algorithm="HS256", headers={"kid": kid}),
        "garbage": "abc.def.ghi",
    }
    for name, token in forged.items():
        r = get(site, "/audit", token)
        assert r.status_code == 401 and r.json()["error"] == "INVALID_TOKEN", name
    assert get(site, "/me", good).status_code == 200


def test_expired_and_foreign_tokens(site):
    kid, key = _identity_key(site)
    me = site["ct_api"].get("/me")
    now = int(time.time())
    base_claims = {"iss": "ejournal-identity", "aud": "ejournal", "sub": me["id"], "roles": me["roles"],
                   "login": me["login"], "typ": "access", "jti": uuid.uuid4().hex}
    expired = jwt.encode({**base_claims, "school_id": "x", "iat": now - 3600, "exp": now - 600}, key,
                         algorithm="EdDSA", headers={"kid": kid})
    assert get(site, "/me", expired).status_code == 401
    refresh_as_access = jwt.encode({**base_claims, "typ": "refresh", "school_id": "x", "iat": now, "exp": now + 600},
                                   key, algorithm="EdDSA", headers={"kid": kid})
    assert get(site, "/me", refresh_as_access).status_code == 401
    # a genuine token of another school's admin sees nothing of this school
    other = jwt.encode({**base_claims, "sub": str(uuid.uuid4()), "roles": ["admin", "director"],
                        "school_id": str(uuid.uuid4()), "iat": now, "exp": now + 600}, key,
                       algorithm="EdDSA", headers={"kid": kid})
    for path in (f"/students/{site['student']['id']}/diary", f"/users/{site['student']['id']}"):
        r = get(site, path, other)
        assert r.status_code == 404, path


# --- item 4: the second factor -------------------------------------------------------------------

def test_totp_second_factor_through_the_gateway(site):
    import pyotp
    admin = site["admin"]
    staff = admin.post("/users", {"login": f"twofa.{site['u']}", "full_name": "Сотрудник 2FA",
                                  "roles": ["secretary"], "password": PASSWORD}, expect=201)
    api = Api(site["base"]).login(staff["login"], PASSWORD)
    secret = api.post("/me/totp", expect=201)["secret"]
    codes = api.post("/me/totp/confirm", {"code": pyotp.TOTP(secret).now()}, expect=200)["recovery_codes"]
    bare = post(site, "/auth/login", {"login": staff["login"], "password": PASSWORD})
    assert bare.status_code == 401 and bare.json()["error"] == "TOTP_REQUIRED"
    assert post(site, "/auth/login", {"login": staff["login"], "password": PASSWORD,
                                      "totp_code": codes[0]}).status_code == 200
    assert post(site, "/auth/login", {"login": staff["login"], "password": PASSWORD,
                                      "totp_code": codes[0]}).status_code == 401


# --- item 7: access events over RabbitMQ, kept by identity --------------------------------------

def test_r_a6_every_personal_data_request_reaches_the_access_log(site):
    parent = Api(site["base"]).login(site["parent"]["login"], PASSWORD)
    cid = f"access-{uuid.uuid4().hex[:12]}"
    diary = parent.request("GET", f"/students/{site['student']['id']}/diary", headers={"X-Correlation-Id": cid})
    assert diary.status_code == 200
    admin = site["admin"]
    deadline = time.monotonic() + 20
    while True:
        items = admin.get(f"/access-log?user_id={site['parent']['id']}")["items"]
        hit = [i for i in items if i["correlation_id"] == cid]
        if hit:
            break
        assert time.monotonic() < deadline, items
        time.sleep(0.3)
    (record,) = hit
    assert record["route"] == "/api/v1/students/<id>/diary" and record["status"] == 200
    assert record["resource_id"] == site["student"]["id"] and record["method"] == "GET"
    # the login itself was recorded too, and the month's counts include the parent
    assert any(i["route"] == "/api/v1/auth/login" for i in items)
    month = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m")
    counts = admin.get(f"/activity?month={month}")
    assert any(r["user_id"] == site["parent"]["id"] and r["requests"] >= 2 for r in counts["by_user"])
    assert any(r["role"] == "parent" for r in counts["by_role"])
