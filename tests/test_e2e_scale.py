"""Competing consumers: two instances each of messaging and of reports on the
same broker vhost and the same databases, started as `make run` starts them
(deploy/localrun), while a teacher posts marks through the gateway.

Every mark is notified to its student's parent exactly once, the reports
projection counts per class and subject what the journal holds, nothing is
dead-lettered, and each of the four instances handled some of the marks
(read from its own /metrics): the deployments in deploy/k8s run these
services with several replicas. The vhost makes every durable queue a quorum
queue, as compose and Kubernetes configure the broker: the services'
declarations (events, RPC, replies, dead letters) work unchanged on them."""
from __future__ import annotations

import base64
import datetime as dt
import json
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from localrun.client import Api
from localrun.launcher import ensure_vhost, throwaway_platform

from e2e_support import eventually

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"
STUDENTS = 8
LESSONS = 16
MARK_CONSUMERS = {"messaging": "messaging.on_mark_posted", "reports": "reports.on_mark_posted"}


def metrics_of(port: int) -> dict:
    """``{(name, labels...): value}`` of one process's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        body = resp.read().decode()
    found = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def handled(port: int, consumer: str, result: str) -> float:
    key = ("ejournal_events_handled_total", (("consumer", consumer), ("result", result)))
    return metrics_of(port).get(key, 0.0)


def dead_letters(port: int) -> float:
    return sum(v for (name, _), v in metrics_of(port).items() if name == "ejournal_dead_letters_total")


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as resp:
            return resp.status == 200
    except OSError:
        return False


def queues(amqp_uri: str) -> list[dict]:
    """The queues of the URI's vhost, from the management API."""
    parsed = urlsplit(amqp_uri)
    vhost = parsed.path.lstrip("/")
    req = urllib.request.Request(f"http://{parsed.hostname}:15672/api/queues/{vhost}")
    token = base64.b64encode(f"{parsed.username}:{parsed.password}".encode()).decode()
    req.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.fixture(scope="module")
def doubled(tmp_path_factory):
    """A platform on PostgreSQL with a second messaging and a second reports
    instance, on a vhost whose default queue type is quorum, as deployed
    (deploy/rabbitmq, deploy/k8s); ``instances[service]`` lists each
    instance's metrics port."""
    amqp_uri = f"amqp://guest:guest@127.0.0.1:5672/ejt-scale-{uuid.uuid4().hex[:8]}"
    ensure_vhost(amqp_uri, default_queue_type="quorum")
    with throwaway_platform(tmp_path_factory.mktemp("scale"), "scale", timeout=150,
                            extra_env={"EJOURNAL_AMQP_URI": amqp_uri}) as plat:
        instances = {}
        for name in MARK_CONSUMERS:
            extra = plat.add_instance(name)
            instances[name] = [plat.settings.port(f"{name}.metrics"),
                               int(extra.env[f"EJOURNAL_{name.upper()}_METRICS_PORT"])]
        for ports in instances.values():
            for port in ports:
                eventually(lambda: healthy(port), timeout=60)
        plat.check_alive()
        engines = {name: create_engine(plat.env[f"EJOURNAL_{name.upper()}_DATABASE_URL"])
                   for name in ("journal", "messaging", "reports")}
        yield plat, instances, engines
        for engine in engines.values():
            engine.dispose()


def seed_and_post(plat, engines) -> dict:
    """A class with STUDENTS students, a parent each (linked before any mark),
    then LESSONS lessons with a mark for every student, four PUTs at a time."""
    env, base, sfx = plat.env, plat.url, uuid.uuid4().hex[:6]
    admin = Api(base).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date()
    start = today - dt.timedelta(days=60)
    year = admin.post("/years", {"name": f"Год {sfx}", "starts_on": start.isoformat(),
                                 "ends_on": (today + dt.timedelta(days=150)).isoformat(),
                                 "periods": [{"name": "1 полугодие", "kind": "half_year", "starts_on": start.isoformat(),
                                              "ends_on": (today + dt.timedelta(days=150)).isoformat()}]})
    subject = admin.post("/subjects", {"name": f"Физика {sfx}"})

    def user(key, name, roles):
        return admin.post("/users", {"login": f"{key}.{sfx}", "full_name": name, "roles": roles,
                                     "password": PASSWORD})

    teacher = user("t", "Кузнецова Ирина", ["teacher", "class_teacher"])
    klass = admin.post("/classes", {"year_id": year["id"], "grade": 9, "letter": "Б", "class_teacher_id": teacher["id"]})
    admin.post("/assignments", {"teacher_id": teacher["id"], "class_id": klass["id"], "subject_id": subject["id"],
                                "hours_per_week": 3})
    t = Api(base).login(f"t.{sfx}", PASSWORD)
    parent_of = {}
    for n in range(STUDENTS):
        student = user(f"s{n}", f"Ученик {n}", ["student"])
        parent = user(f"p{n}", f"Родитель {n}", ["parent"])
        admin.post(f"/students/{student['id']}/parents", {"parent_id": parent["id"], "relation": "мать"})
        admin.post(f"/classes/{klass['id']}/students", {"student_id": student["id"], "order_no": "1",
                                                    "on": start.isoformat()})
        parent_of[student["id"]] = parent["id"]
    # a mark is notified to the parents messaging knows when it handles the mark
    with engines["messaging"].connect() as conn:
        eventually(lambda: conn.execute(text("SELECT count(*) FROM parent_links WHERE student_id = ANY(:s)"),
                                        {"s": list(parent_of)}).scalar() == STUDENTS, timeout=60)

    def post(n):
        lesson = t.post("/lessons", {"class_id": klass["id"], "subject_id": subject["id"],
                                     "date": (today - dt.timedelta(days=1 + n)).isoformat(),
                                     "topic": f"Тема {n}", "lesson_type": "урок"}, expect=201)
        t.put(f"/lessons/{lesson['id']}/marks", {"marks": [
            {"student_id": s, "value": 2 + (i + n) % 4} for i, s in enumerate(parent_of)]},
            headers={"Idempotency-Key": str(uuid.uuid4())})

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(post, range(LESSONS)))
    return {"parent_of": parent_of, "class_id": klass["id"]}


def test_two_instances_of_each_consumer_share_the_marks_without_doubling(doubled):
    plat, instances, engines = doubled
    before = {name: [handled(p, MARK_CONSUMERS[name], "ok") for p in ports] for name, ports in instances.items()}
    school = seed_and_post(plat, engines)
    parent_of = school["parent_of"]

    with engines["journal"].connect() as conn:
        marks = conn.execute(text("SELECT m.id, m.student_id, l.class_id, l.subject_id FROM marks m "
                                  "JOIN lessons l ON l.id = m.lesson_id WHERE l.class_id = :c"),
                             {"c": school["class_id"]}).all()
    assert len(marks) == STUDENTS * LESSONS

    def notified():
        with engines["messaging"].connect() as conn:
            return conn.execute(text("SELECT recipient_id, data::jsonb ->> 'mark_id' FROM notifications "
                                     "WHERE kind = 'mark' AND recipient_id = ANY(:p)"),
                                {"p": list(parent_of.values())}).all()

    rows = eventually(lambda: (lambda r: r if len(r) >= len(marks) else None)(notified()), timeout=60)
    # exactly once: one notification per mark, to that student's parent, none doubled
    assert sorted(rows) == sorted((parent_of[m.student_id], m.id) for m in marks)

    def projected():
        with engines["reports"].connect() as conn:
            return {(r[0], r[1]): r[2] for r in conn.execute(
                text("SELECT class_id, subject_id, count(*) FROM marks WHERE class_id = :c AND NOT removed "
                     "GROUP BY 1, 2"), {"c": school["class_id"]})}

    journal_counts = {}
    for m in marks:
        journal_counts[(m.class_id, m.subject_id)] = journal_counts.get((m.class_id, m.subject_id), 0) + 1
    eventually(lambda: projected() == journal_counts, timeout=60)

    # every instance took part, and together they handled each packed delivery once
    for name, ports in instances.items():
        consumer = MARK_CONSUMERS[name]
        shares = [handled(p, consumer, "ok") - b for p, b in zip(ports, before[name])]
        assert all(share > 0 for share in shares), f"{name}: marks handled per instance {shares}"
        assert sum(shares) == len(marks), f"{name}: {shares} handled for {len(marks)} marks"
        assert [dead_letters(p) for p in ports] == [0, 0]
    plat.check_alive()  # no instance died on the way


def test_every_durable_queue_is_a_quorum_queue(doubled):
    """The services declare no queue type: the vhost's default makes their
    durable queues quorum queues (exclusive ones stay classic)."""
    plat = doubled[0]
    found = queues(plat.env["EJOURNAL_AMQP_URI"])
    durable = {q["name"]: q.get("type") for q in found if q["durable"] and not q["exclusive"]}
    assert any(name.startswith("evt-") for name in durable) and any(name.startswith("rpc-") for name in durable)
    assert {name: kind for name, kind in durable.items() if kind != "quorum"} == {}
