"""Logs that follow a request, on the whole platform started as `make run`
starts it: one PUT of a class's marks with its own X-Correlation-Id, and
that id is found in the JSON lines of the gateway (the request, its actor),
identity's gRPC server (the access decision), the journal (the nameko RPC,
then the outbox relay publishing mark_posted) and each consumer of
mark_posted (messaging, reports, identity). Every line of every process
log that names the id is JSON with the common fields, and no log line of the
run holds a password, a token or the e-mail address used."""
from __future__ import annotations

import datetime as dt
import json
import uuid
from zoneinfo import ZoneInfo

import pytest
import requests

from e2e_support import eventually
from localrun.client import Api

pytestmark = pytest.mark.e2e

PASSWORD = "trace-Password-2026"
EMAIL = "trace.parent@example.org"
FIELDS = {"time", "level", "service", "correlation_id", "actor_id", "logger", "message"}


def log_lines(platform) -> list[tuple[str, str]]:
    """``(file name, line)`` of every process log of the platform."""
    return [(path.name, line) for path in sorted(platform.log_dir.glob("*.log"))
            for line in path.read_text(errors="replace").splitlines()]


@pytest.fixture(scope="module")
def traced(platform):
    env, base = platform.env, platform.url
    admin = Api(base).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date()
    start = today - dt.timedelta(days=30)
    year = admin.post("/years", {"name": "Год трассировки", "starts_on": start.isoformat(),
                                 "ends_on": (today + dt.timedelta(days=200)).isoformat(),
                                 "periods": [{"name": "1 полугодие", "kind": "half_year", "starts_on": start.isoformat(),
                                              "ends_on": (today + dt.timedelta(days=90)).isoformat()}]})
    subject = admin.post("/subjects", {"name": "Физика"})
    teacher = admin.post("/users", {"login": "trace.teacher", "full_name": "Трассировкина Анна", "roles": ["teacher", "class_teacher"],
                                    "password": PASSWORD})
    klass = admin.post("/classes", {"year_id": year["id"], "grade": 7, "letter": "Т", "class_teacher_id": teacher["id"]})
    admin.post("/assignments", {"teacher_id": teacher["id"], "class_id": klass["id"], "subject_id": subject["id"],
                                "hours_per_week": 2})
    t = Api(base).login("trace.teacher", PASSWORD)
    student = t.post("/users", {"login": "trace.student", "full_name": "Следов Пётр", "roles": ["student"],
                                "password": PASSWORD})
    parent = t.post("/users", {"login": "trace.parent", "full_name": "Следова Мария", "roles": ["parent"],
                               "password": PASSWORD, "email": EMAIL})
    t.post(f"/students/{student['id']}/parents", {"parent_id": parent["id"], "relation": "мать"}, expect=201)
    t.post(f"/classes/{klass['id']}/students", {"student_id": student["id"], "order_no": "7-т",
                                                "on": start.isoformat()}, expect=201)
    lesson = t.post("/lessons", {"class_id": klass["id"], "subject_id": subject["id"], "date": today.isoformat(),
                                 "topic": "Сила трения", "lesson_type": "урок"}, expect=201)
    cid = "trace-" + uuid.uuid4().hex
    answer = requests.put(f"{base}/api/v1/lessons/{lesson['id']}/marks", timeout=30,
                          json={"marks": [{"student_id": student["id"], "value": 5}]},
                          headers={"Authorization": f"Bearer {t.token}", "X-Correlation-Id": cid})
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Correlation-Id"] == cid
    return {"cid": cid, "teacher": teacher, "token": t.token}


def lines_of(platform, cid: str) -> list[dict]:
    found = []
    for name, line in log_lines(platform):
        if cid in line:
            record = json.loads(line)  # a line naming the id is JSON (it fails here otherwise)
            record["file"] = name
            found.append(record)
    return found


def hops(records: list[dict]) -> set[tuple]:
    return {(r["service"], r.get("rpc") or r.get("consumer") or r.get("event")) for r in records}


def test_one_correlation_id_through_every_process_of_the_write(platform, traced):
    cid = traced["cid"]
    want = {("gateway", "http"), ("identity.grpc", "identity.Authorize"), ("journal", "journal.post_marks"),
            ("journal", "published"), ("messaging", "messaging.on_mark_posted"),
            ("reports", "reports.on_mark_posted"), ("identity", "identity.mark_posted")}
    try:
        eventually(lambda: want <= hops(lines_of(platform, cid)), timeout=30)
    except AssertionError:
        pass  # said below, with what was found
    records = lines_of(platform, cid)
    assert want <= hops(records), (sorted(want - hops(records)), sorted(hops(records)))
    for record in records:
        assert FIELDS <= set(record) and record["correlation_id"] == cid, record
    by_hop = {(r["service"], r.get("rpc") or r.get("consumer") or r.get("event")): r for r in records}
    http = by_hop[("gateway", "http")]
    assert (http["route"], http["status"], http["actor_id"]) == ("/api/v1/lessons/<id>/marks", 200,
                                                                 traced["teacher"]["id"])
    assert by_hop[("journal", "journal.post_marks")]["actor_id"] == traced["teacher"]["id"]
    assert by_hop[("journal", "published")]["type"] == "mark_posted"
    for consumer in ("messaging.on_mark_posted", "reports.on_mark_posted", "identity.mark_posted"):
        hop = next(r for r in records if r.get("consumer") == consumer)
        assert hop["event"] == "journal.mark_posted" and "error" not in hop and hop["duration_ms"] >= 0
    assert all(isinstance(r["duration_ms"], (int, float)) for r in records if r.get("rpc") or r.get("consumer"))


def test_no_log_line_holds_a_secret_or_the_e_mail_address(platform, traced):
    everything = "\n".join(line for _, line in log_lines(platform))
    for secret in (PASSWORD, EMAIL, traced["token"], platform.env["EJOURNAL_ADMIN_PASSWORD"]):
        assert secret not in everything
