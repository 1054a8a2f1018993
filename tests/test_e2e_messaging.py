"""Messaging end to end, through the gateway on the whole platform
(real RabbitMQ, PostgreSQL, and a real SMTP server started here on the port
the platform's messaging is configured with).

A teacher posts a mark and an absence; the parent sees both notifications
and receives one instant e-mail each; a digest parent receives one digest;
the same event published twice changes nothing; a poison message lands in
the dead-letter queue while the next good one is processed; who may write
to whom (R-M1/R-A3) through the API; news audiences (R-M4).

The journal's `attendance_recorded` event (docs/events.md) is published
here onto the journal's exchange exactly as the journal's outbox would,
until the journal's attendance route lands (another branch)."""
from __future__ import annotations

import base64
import datetime as dt
import email
import json
import subprocess
import sys
import time
import uuid
from email import policy as email_policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from kombu import Connection, Exchange, Queue

from kernel.events import envelope
from localrun.client import Api, ApiError

from e2e_support import eventually

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"
SINK = Path(__file__).resolve().parents[1] / "services" / "messaging" / "tests" / "messaging_smtp_sink.py"



@pytest.fixture(scope="module")
def mailbox(platform, tmp_path_factory):
    """The SMTP server the platform's messaging sends to; ``mails(address)``."""
    directory = tmp_path_factory.mktemp("smtp")
    proc = subprocess.Popen([sys.executable, str(SINK), "--port", platform.env["EJOURNAL_SMTP_PORT"],
                             "--dir", str(directory)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().decode().strip() == "ready", proc.stderr.read().decode()[-2000:]

    def mails(address):
        found = [email.message_from_bytes(p.read_bytes(), policy=email_policy.default)
                 for p in sorted(directory.glob("*.eml"))]
        return [m for m in found if m["To"] == address]

    yield mails
    proc.terminate()
    proc.wait(timeout=10)


def school_of(api: Api) -> str:
    part = api.token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))["school_id"]


@pytest.fixture(scope="module")
def school(platform, mailbox):
    env, base = platform.env, platform.url
    sfx = uuid.uuid4().hex[:6]
    admin = Api(base).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date()
    year = admin.post("/years", {
        "name": f"Год почты {sfx}", "starts_on": (today - dt.timedelta(days=60)).isoformat(),
        "ends_on": (today + dt.timedelta(days=200)).isoformat(),
        "periods": [{"name": "1 полугодие", "kind": "half_year",
                     "starts_on": (today - dt.timedelta(days=60)).isoformat(),
                     "ends_on": (today + dt.timedelta(days=60)).isoformat()}]})
    maths = admin.post("/subjects", {"name": f"Алгебра {sfx}"})

    def user(api, key, name, roles, **extra):
        created = api.post("/users", {"login": f"{key}.{sfx}", "full_name": name, "roles": roles,
                                      "password": PASSWORD, **extra})
        return {**created, "login": f"{key}.{sfx}", "email": extra.get("email")}

    ct = user(admin, "ct", "Смирнова Ольга", ["teacher", "class_teacher"])
    other_t = user(admin, "t2", "Соколов Павел", ["teacher"])
    director = user(admin, "dir", "Петрова Мария", ["director"])
    klass = admin.post("/classes", {"year_id": year["id"], "grade": 7, "letter": "М", "class_teacher_id": ct["id"]})
    admin.post("/assignments", {"teacher_id": ct["id"], "class_id": klass["id"], "subject_id": maths["id"],
                                "hours_per_week": 5})
    teacher = Api(base).login(ct["login"], PASSWORD)
    s1 = user(teacher, "s1", "Иванов Пётр", ["student"])
    s2 = user(teacher, "s2", "Сидорова Вера", ["student"])
    pa = user(teacher, "pa", "Иванова Анна", ["parent"], email=f"anna.{sfx}@example.test")
    pd = user(teacher, "pd", "Сидоров Олег", ["parent"], email=f"oleg.{sfx}@example.test")
    for student, parent in ((s1, pa), (s2, pd)):
        teacher.post(f"/students/{student['id']}/parents", {"parent_id": parent["id"], "relation": "мать"})
        teacher.put(f"/parents/{parent['id']}/consent", {"given": True, "signed_on": today.isoformat()})
        teacher.post(f"/classes/{klass['id']}/students", {"student_id": student["id"], "order_no": "1-у",
                                                         "on": year["periods"][0]["starts_on"]})
    apis = {k: Api(base).login(u["login"], PASSWORD) for k, u in
            (("pa", pa), ("pd", pd), ("s1", s1), ("director", director), ("other_t", other_t))}
    # The digest parent wants no instant e-mail (digest settings: see the digest test).
    assert apis["pd"].put("/me/notification-settings", {"email": "off"}) == {"email": "off", "digest_time": "18:00"}
    return {"teacher": teacher, "admin": admin, "klass": klass, "maths": maths, "today": today, "ct": ct,
            "other_t": other_t, "director": director, "s1": s1, "s2": s2, "pa": pa, "pd": pd, "apis": apis,
            "school_id": school_of(teacher), "env": env}


def publish_journal_event(env, body):
    """What the journal's outbox relay does: the envelope onto journal.events."""
    exchange = Exchange("journal.events", type="topic", durable=True)
    with Connection(env["EJOURNAL_AMQP_URI"]) as conn:
        conn.Producer().publish(body, exchange=exchange, routing_key=body.get("type", "attendance_recorded"),
                                serializer="json", delivery_mode=2, declare=[exchange])


def attendance(school, lesson_id, entries):
    return envelope(type="attendance_recorded", producer="journal", school_id=school["school_id"],
                    actor_id=school["ct"]["id"], payload={
                        "lesson_id": lesson_id, "class_id": school["klass"]["id"],
                        "subject_id": school["maths"]["id"], "subject_name": school["maths"]["name"],
                        "date": school["today"].isoformat(), "entries": entries})


def kinds(api):
    return sorted(i["kind"] for i in api.get("/notifications")["items"])


@pytest.fixture(scope="module")
def posted(school):
    """A lesson today; marks for both students; both absent (attendance event)."""
    t = school["teacher"]
    lesson = t.post("/lessons", {"class_id": school["klass"]["id"], "subject_id": school["maths"]["id"],
                                 "date": school["today"].isoformat(), "topic": "Уравнения",
                                 "lesson_type": "комбинированный"})
    t.put(f"/lessons/{lesson['id']}/marks", {"marks": [{"student_id": school["s1"]["id"], "value": 5},
                                                       {"student_id": school["s2"]["id"], "value": 3}]})
    absence = attendance(school, lesson["id"], [{"student_id": school["s1"]["id"], "status": "absent"},
                                                {"student_id": school["s2"]["id"], "status": "absent"}])
    publish_journal_event(school["env"], absence)
    for who in ("pa", "pd"):
        eventually(lambda: kinds(school["apis"][who]) == ["absence", "mark"])
    return {**school, "lesson": lesson, "absence": absence}


def test_parent_gets_both_notifications_and_one_instant_email_each_R_M2(posted, mailbox):
    pa = posted["pa"]
    items = {i["kind"]: i for i in posted["apis"]["pa"].get("/notifications")["items"]}
    assert "Иванов Пётр: оценка 5" in items["mark"]["body"]
    assert items["absence"]["body"] == (f"Иванов Пётр: отсутствие на уроке «{posted['maths']['name']}» "
                                        f"{posted['today']:%d.%m.%Y}")
    got = eventually(lambda: len(mailbox(pa["email"])) >= 2 and mailbox(pa["email"]), timeout=30)
    time.sleep(1.0)  # nothing more arrives
    got = mailbox(pa["email"])
    assert sorted(m["Subject"] for m in got) == ["Электронный журнал: Новая оценка",
                                                  "Электронный журнал: Пропуск урока"]
    assert all(m.get_body(("html",)) is not None for m in got)
    # the other family's child is not in this parent's mail
    assert all("Сидорова" not in m.get_body(("plain",)).get_content() for m in got)
    # no one else is notified: the student and the teacher
    assert posted["apis"]["s1"].get("/notifications")["items"] == []
    assert posted["teacher"].get("/notifications")["items"] == []


def test_digest_parent_receives_one_digest_R_M2(posted, mailbox):
    pd = posted["pd"]
    assert mailbox(pd["email"]) == []  # "off" so far: no instant e-mail
    # A digest time that has passed today: the next mailer tick sends today's digest.
    assert posted["apis"]["pd"].put("/me/notification-settings", {"email": "daily", "digest_time": "00:00"}) == {
        "email": "daily", "digest_time": "00:00"}
    (digest,) = eventually(lambda: mailbox(pd["email"]), timeout=30)
    assert digest["Subject"].startswith("Электронный журнал: сводка за ")
    text = digest.get_body(("plain",)).get_content()
    assert "Новая оценка" in text and "Пропуск урока" in text and "Сидорова Вера" in text
    time.sleep(1.0)
    assert len(mailbox(pd["email"])) == 1


def test_the_same_event_published_twice_changes_nothing(posted, mailbox):
    before_pa = posted["apis"]["pa"].get("/notifications")["items"]
    mails_before = len(mailbox(posted["pa"]["email"]))
    publish_journal_event(posted["env"], posted["absence"])
    time.sleep(2.0)
    assert posted["apis"]["pa"].get("/notifications")["items"] == before_pa
    assert len(mailbox(posted["pa"]["email"])) == mails_before


def test_poison_goes_to_the_dead_letter_queue_and_the_next_good_event_is_handled(posted):
    poison = attendance(posted, str(uuid.uuid4()), "not a list")
    good = attendance(posted, str(uuid.uuid4()), [{"student_id": posted["s1"]["id"], "status": "late"}])
    publish_journal_event(posted["env"], poison)
    publish_journal_event(posted["env"], good)
    eventually(lambda: kinds(posted["apis"]["pa"]).count("absence") == 2)
    dead = []
    with Connection(posted["env"]["EJOURNAL_AMQP_URI"]) as conn:
        queue = Queue("ejournal.dead-letters", exchange=Exchange("ejournal.dead-letters", type="fanout",
                                                                 durable=True), durable=True)
        simple = conn.SimpleQueue(queue)
        deadline = time.monotonic() + 10
        readers = {"messaging.on_attendance_recorded", "reports.on_attendance_recorded"}  # both consume it
        while time.monotonic() < deadline and not readers <= {
                d.get("consumer") for d in dead if poison["id"] in d.get("body", "")}:
            try:
                message = simple.get(timeout=0.5)
            except simple.Empty:
                continue
            dead.append(message.payload)
            message.ack()
        simple.close()
    (ours,) = [d for d in dead if poison["id"] in d.get("body", "")
               and d.get("consumer") == "messaging.on_attendance_recorded"]
    assert "entries" in ours["error"]
    metrics = requests.get(f"http://127.0.0.1:{int(posted['env']['EJOURNAL_PORT_BASE']) + 13}/metrics", timeout=5).text
    assert 'ejournal_dead_letters_total{consumer="messaging.on_attendance_recorded"}' in metrics
    assert "messaging_emails_total" in metrics and "messaging_email_queue_lag_seconds" in metrics


def test_who_may_write_to_whom_through_the_api_R_M1(school):
    apis, pa, pd = school["apis"], school["pa"], school["pd"]
    # a parent writes to their child's class teacher ...
    sent = apis["pa"].post("/messages", {"to": [school["ct"]["id"]], "subject": "Справка",
                                         "body": "Пётр болел, справку принесём."}, expect=201)
    assert sent["recipients"] == [school["ct"]["id"]]
    # ... but not to another family, nor to a teacher of other classes: 403, nothing sent
    for to in (pd["id"], school["other_t"]["id"]):
        with pytest.raises(ApiError) as err:
            apis["pa"].post("/messages", {"to": [to], "subject": "Привет", "body": "Текст"})
        assert err.value.status == 403 and err.value.body["error"] == "RECIPIENT_NOT_ALLOWED"
    assert apis["pd"].get("/messages")["items"] == []
    # a student writes to their class teacher, not to the director
    apis["s1"].post("/messages", {"to": [school["ct"]["id"]], "subject": "Вопрос", "body": "Текст"}, expect=201)
    with pytest.raises(ApiError) as err:
        apis["s1"].post("/messages", {"to": [school["director"]["id"]], "subject": "Вопрос", "body": "Текст"})
    assert err.value.status == 403
    # the class teacher writes to all parents of the class at once, and sees read receipts
    letter = school["teacher"].post("/messages", {"to_parents_of_class": school["klass"]["id"],
                                                  "subject": "Собрание", "body": "В пятницу в 18:00"}, expect=201)
    assert sorted(letter["recipients"]) == sorted([pa["id"], pd["id"]])
    inbox = apis["pa"].get("/messages?folder=inbox")["items"]
    assert [m["subject"] for m in inbox] == ["Собрание"] and inbox[0]["read"] is False
    assert apis["pa"].get(f"/messages/{letter['id']}")["body"] == "В пятницу в 18:00"
    sent_box = school["teacher"].get("/messages?folder=sent")["items"]
    receipts = {r["id"]: r["read_at"] for r in next(m for m in sent_box if m["id"] == letter["id"])["recipients"]}
    assert receipts[pa["id"]] is not None and receipts[pd["id"]] is None
    # a parent answers in the thread
    reply = apis["pa"].post("/messages", {"reply_to": letter["id"], "subject": "Re: Собрание", "body": "Будем"})
    assert reply["thread_id"] == letter["thread_id"] and reply["recipients"] == [school["ct"]["id"]]
    # the other parent cannot read a letter that is not theirs
    with pytest.raises(ApiError) as err:
        apis["pd"].get(f"/messages/{reply['id']}")
    assert err.value.status == 404


def test_news_reaches_exactly_its_audience_R_M4(school):
    apis = school["apis"]
    item = apis["director"].post("/news", {"title": "Родительское собрание", "body": "Пятница, 18:00",
                                           "kind": "announcement",
                                           "audience": {"parents_of_class": school["klass"]["id"]}}, expect=201)
    assert item["id"] in {n["id"] for n in apis["pa"].get("/news")["items"]}
    assert item["id"] not in {n["id"] for n in apis["s1"].get("/news")["items"]}
    assert item["id"] not in {n["id"] for n in apis["other_t"].get("/news")["items"]}
    eventually(lambda: "news" in kinds(apis["pa"]))
    with pytest.raises(ApiError) as err:  # a parent does not post announcements
        apis["pa"].post("/news", {"title": "x", "body": "y", "audience": {"school": True}})
    assert err.value.status == 403
