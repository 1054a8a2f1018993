"""`make test-fuzz`: a bounded schemathesis run against the platform's own
OpenAPI document (`/api/v1/openapi.json`), on a platform started the way
tests/ start it, with a real token of every role and a small school (so
that some generated requests name ids that exist). Every answer must be no
5xx, a status the operation documents, and a body of its documented
schema and content type.

Not collected by `make test` (the name is no test_*.py): run it with
`make test-fuzz`. Bounded: ``EJOURNAL_FUZZ_EXAMPLES`` examples per
operation (default 20), derandomized, so a green run stays green; set
``EJOURNAL_FUZZ_SEED`` to explore other inputs."""
from __future__ import annotations

import datetime as dt
import json
import os
import zlib
from zoneinfo import ZoneInfo

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

from gateway import openapi
from localrun.client import Api

PASSWORD = "fuzz-Password-2026"
EXAMPLES = int(os.environ.get("EJOURNAL_FUZZ_EXAMPLES", "20"))
SEED = os.environ.get("EJOURNAL_FUZZ_SEED")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Every role, each a user of its own (class_teacher also teaches)
ROLES = {"admin": None, "director": ["director"], "deputy": ["deputy"], "class_teacher": ["teacher", "class_teacher"],
         "teacher": ["teacher"], "secretary": ["secretary"], "news_editor": ["news_editor"],
         "scheduler": ["scheduler"], "parent": ["parent"], "student": ["student"]}
# Routes that would end the run's own sessions: a fuzzed logout revokes the token it is sent with.
SKIPPED = {("POST", "/api/v1/auth/logout")}


@pytest.fixture(scope="session")
def school(platform):
    """A year, a subject, a class with its class teacher and a teacher, a
    student with a consenting parent, a lesson with a mark, a letter: and a
    token of every role."""
    env, base = platform.env, platform.url
    admin = Api(base).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date()
    start, end = today - dt.timedelta(days=60), today + dt.timedelta(days=200)
    year = admin.post("/years", {"name": "Год проверки", "starts_on": start.isoformat(), "ends_on": end.isoformat(),
                                 "periods": [{"name": "1 полугодие", "kind": "half_year", "starts_on": start.isoformat(),
                                              "ends_on": (today + dt.timedelta(days=60)).isoformat()}]})
    maths = admin.post("/subjects", {"name": "Математика"})
    users = {}
    for role, roles in ROLES.items():
        if roles and role not in ("parent", "student"):
            users[role] = admin.post("/users", {"login": f"fuzz.{role}", "full_name": f"Проверка {role}",
                                                "roles": roles, "password": PASSWORD})
    klass = admin.post("/classes", {"year_id": year["id"], "grade": 5, "letter": "Б",
                                    "class_teacher_id": users["class_teacher"]["id"]})
    admin.post("/assignments", {"teacher_id": users["teacher"]["id"], "class_id": klass["id"],
                                "subject_id": maths["id"], "hours_per_week": 5})
    ct = Api(base).login("fuzz.class_teacher", PASSWORD)
    users["student"] = ct.post("/users", {"login": "fuzz.student", "full_name": "Ученик Проверочный",
                                          "roles": ["student"], "password": PASSWORD})
    users["parent"] = ct.post("/users", {"login": "fuzz.parent", "full_name": "Родитель Проверочный",
                                         "roles": ["parent"], "password": PASSWORD, "email": "parent@example.org"})
    ct.post(f"/students/{users['student']['id']}/parents", {"parent_id": users["parent"]["id"], "relation": "мать"},
            expect=201)
    ct.put(f"/parents/{users['parent']['id']}/consent", {"given": True, "signed_on": today.isoformat()}, expect=200)
    ct.post(f"/classes/{klass['id']}/students", {"student_id": users["student"]["id"], "order_no": "1-у",
                                                 "on": start.isoformat()}, expect=201)
    teacher = Api(base).login("fuzz.teacher", PASSWORD)
    lesson = teacher.post("/lessons", {"class_id": klass["id"], "subject_id": maths["id"], "date": today.isoformat(),
                                       "topic": "Дроби", "lesson_type": "урок"}, expect=201)
    marks = teacher.put(f"/lessons/{lesson['id']}/marks",
                        {"marks": [{"student_id": users["student"]["id"], "value": 5}]}, expect=200)["marks"]
    letter = teacher.post("/messages", {"to": [users["parent"]["id"]], "subject": "Тема", "body": "Текст"})
    logins = {role: f"fuzz.{role}" for role in ROLES}
    logins["admin"], passwords = env["EJOURNAL_ADMIN_LOGIN"], {"admin": env["EJOURNAL_ADMIN_PASSWORD"]}
    tokens = {role: Api(base).login(logins[role], passwords.get(role, PASSWORD)).token for role in ROLES}

    def renew(role: str) -> bool:
        """A new token for ``role`` once a fuzzed request ended its sessions
        (its roles changed, its consent withdrawn); False if it cannot log in."""
        answer = requests.post(base + "/api/v1/auth/login", timeout=30,
                               json={"login": logins[role], "password": passwords.get(role, PASSWORD)})
        if answer.status_code != 200:
            return False
        tokens[role] = answer.json()["access_token"]
        return True
    ids = [year["id"], year["periods"][0]["id"], maths["id"], klass["id"], lesson["id"], marks[0]["id"],
           letter["id"], *(u["id"] for u in users.values())]
    return {"base": base, "tokens": tokens, "renew": renew, "ids": ids}


def served_document(base: str) -> dict:
    return requests.get(base + "/api/v1/openapi.json", timeout=10).json()


def test_the_fuzzed_document_is_the_served_one(school):
    """The operations below are generated (at collection, before any
    platform runs) from the gateway's document; the platform serves exactly it."""
    assert served_document(school["base"]) == json.loads(json.dumps(openapi.document()))


schema = schemathesis.openapi.from_dict(openapi.document()).include(path_regex=r"^/api/v1/").exclude(
    func=lambda ctx: (ctx.operation.method.upper(), ctx.operation.path) in SKIPPED)
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=SEED is None,
                         phases=[Phase.generate], suppress_health_check=list(HealthCheck))


def pick(case, choices: list, salt: str):
    """One of ``choices`` drawn from the generated case itself (stable for a
    case, spread over the cases of an operation)."""
    seen = repr((salt, case.path_parameters, case.query, case.body)).encode()
    return choices[zlib.crc32(seen) % len(choices)]


@schema.parametrize()
@FUZZ_SETTINGS
def test_the_api_answers_as_documented(case, school):
    role = pick(case, sorted(ROLES), "role")
    if case.path_parameters and pick(case, [True, False], "known"):
        # half the time, ids of the school instead of random ones
        case.path_parameters = {name: pick(case, school["ids"], name) for name in case.path_parameters}
    public = case.operation.definition.raw.get("security") == []
    response = call(case, school, None if public else role)
    if response.status_code == 401 and not public and school["renew"](role):
        response = call(case, school, role)  # an earlier case ended the role's sessions: once more, signed in
    case.validate_response(response, checks=CHECKS)


def call(case, school, role):
    headers = {"Authorization": f"Bearer {school['tokens'][role]}"} if role else {}
    return case.call(base_url=school["base"], headers=headers, timeout=30)


def test_after_the_run_no_write_half_happened(platform, school):
    """Runs last: whatever the fuzzed writes did, each did all of it: the
    journal's chains and current rows agree (GET /journal/verify), every
    service's outbox drains (each write's events left with it) and no
    consumer dead-lettered an event (each effect downstream took place)."""
    from prometheus_client.parser import text_string_to_metric_families

    from e2e_support import eventually

    verified = requests.get(school["base"] + "/api/v1/journal/verify", timeout=60,
                            headers={"Authorization": f"Bearer {school['tokens']['admin']}"})
    if verified.status_code == 401 and school["renew"]("admin"):
        verified = requests.get(school["base"] + "/api/v1/journal/verify", timeout=60,
                                headers={"Authorization": f"Bearer {school['tokens']['admin']}"})
    assert verified.status_code == 200 and verified.json()["ok"] is True, verified.text

    def samples(service: str) -> dict:
        port = platform.settings.port(f"{service}.metrics")
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}

    def drained() -> bool:
        return all(value == 0 for service in ("identity", "journal", "messaging", "reports", "backup")
                   for (name, _), value in samples(service).items() if name == "ejournal_outbox_oldest_unsent_seconds")

    eventually(drained, timeout=30)
    dead = {labels: value for service in ("identity", "journal", "messaging", "reports", "backup")
            for (name, labels), value in samples(service).items() if name == "ejournal_dead_letters_total" and value}
    assert dead == {}
