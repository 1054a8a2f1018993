"""Notifications from journal events and their e-mail (R-M2) on the running
service: real RabbitMQ, PostgreSQL and a real SMTP server (aiosmtpd)."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from nameko.testing.services import entrypoint_hook
from prometheus_client import REGISTRY

from kernel.db import make_engine, session_factory
from kernel.errors import ServiceError

from messaging import mail, mailer, store
from messaging.store import tables
from messaging_school import ctx, seed_school
from messaging_testkit import free_port, make_envelope, mark_payload, new_id, waiter


def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def metric(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def school(session_maker):
    return seed_school(session_maker)


@pytest.fixture
def start(container_factory, mail_config):
    """``start(**config)`` the service with the mail config plus overrides."""
    def _start(**overrides):
        c = container_factory(__import__("messaging.service", fromlist=["Service"]).Service,
                              {**mail_config, **overrides})
        c.start()
        return c
    return _start


def attendance(ids, entries, **extra):
    payload = {"lesson_id": new_id(), "class_id": ids["class_a"], "subject_id": ids["subject"],
               "subject_name": "Математика", "date": "2026-10-12", "entries": entries, **extra}
    return make_envelope("attendance_recorded", payload, producer="journal", school_id=ids["school"])


def test_absence_and_mark_make_one_notification_and_one_instant_email_each_R_M2(
        start, smtp_sink, school, publish, rows):
    sink = smtp_sink()
    container = start(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port)
    sent_before = metric("messaging_emails_total", result="sent")
    absent = attendance(school, [{"student_id": school["student_a"], "status": "absent"},
                                 {"student_id": school["student_b"], "status": "present"}])
    mark = make_envelope("mark_posted", mark_payload(student_id=school["student_a"], value=5),
                         producer="journal", school_id=school["school"])
    with waiter(container, "on_attendance_recorded"), waiter(container, "on_mark_posted"):
        publish("journal", absent)
        publish("journal", mark)
    notes = rows(store.Notification)
    assert sorted((n.recipient_id, n.kind) for n in notes) == sorted(
        [(school["parent_a"], "absence"), (school["parent_a"], "mark")])
    absence = next(n for n in notes if n.kind == "absence")
    assert absence.body == "Иванов Пётр: отсутствие на уроке «Математика» 12.10.2026"
    got = wait_for(lambda: len(sink.messages()) == 2 and sink.messages(), what="two e-mails")
    assert {m["To"] for m in got} == {"anna@example.test"}
    assert sorted(m["Subject"] for m in got) == ["Электронный журнал: Новая оценка",
                                                  "Электронный журнал: Пропуск урока"]
    letter = next(m for m in got if "Пропуск" in m["Subject"])
    assert letter["From"] == "journal@school.test"
    assert "отсутствие на уроке «Математика»" in letter.get_body(("plain",)).get_content()
    assert "<h2>Пропуск урока</h2>" in letter.get_body(("html",)).get_content()
    wait_for(lambda: all(e.status == "sent" for e in rows(store.Email)), what="sent state")
    assert metric("messaging_emails_total", result="sent") - sent_before == 2
    time.sleep(0.5)  # nothing more arrives
    assert len(sink.messages()) == 2


def test_the_same_event_twice_makes_one_notification_and_one_email(start, smtp_sink, school, publish, rows):
    sink = smtp_sink()
    container = start(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port)
    env = attendance(school, [{"student_id": school["student_a"], "status": "late"}])
    with waiter(container, "on_attendance_recorded", n=2):
        publish("journal", env)
        publish("journal", env)
    assert [n.kind for n in rows(store.Notification)] == ["absence"]
    assert len(rows(store.Email)) == 1
    wait_for(lambda: len(sink.messages()) == 1, what="one e-mail")
    time.sleep(0.5)
    assert len(sink.messages()) == 1


def test_email_off_keeps_the_notification_and_sends_nothing(start, smtp_sink, school, publish, rows):
    sink = smtp_sink()
    container = start(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port)
    with entrypoint_hook(container, "set_notification_settings") as call:
        assert call(ctx(school, "parent_a"), {"email": "off"}) == {"email": "off", "digest_time": "18:00"}
    with waiter(container, "on_attendance_recorded"):
        publish("journal", attendance(school, [{"student_id": school["student_a"], "status": "absent"}]))
    assert [n.kind for n in rows(store.Notification)] == ["absence"]
    assert rows(store.Email) == []


def test_daily_digest_collects_the_days_notifications_into_one_email_R_M2(
        start, smtp_sink, school, publish, rows, session_maker, mail_config):
    sink = smtp_sink()
    # No mailer loop in the service: the test drives the clock.
    container = start(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port, MAIL_POLL=0)
    with entrypoint_hook(container, "set_notification_settings") as call:
        call(ctx(school, "parent_a"), {"email": "daily", "digest_time": "19:30"})
    with waiter(container, "on_attendance_recorded"), waiter(container, "on_mark_posted"):
        publish("journal", attendance(school, [{"student_id": school["student_a"], "status": "absent"}]))
        publish("journal", make_envelope("mark_posted", mark_payload(student_id=school["student_a"], value=4),
                                         producer="journal", school_id=school["school"]))
    assert rows(store.Email) == []  # no instant e-mail for a digest user
    settings = mail.MailSettings.from_config({**mail_config, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": sink.port})
    engine = make_engine(mail_config["DATABASE_URL"])
    factory = session_factory(engine)
    try:
        now = dt.datetime.now(dt.timezone.utc)
        tz = __import__("zoneinfo").ZoneInfo(settings.timezone)
        local_day = now.astimezone(tz).date()
        before = dt.datetime.combine(local_day, dt.time(19, 0), tz).astimezone(dt.timezone.utc)
        after = dt.datetime.combine(local_day, dt.time(19, 31), tz).astimezone(dt.timezone.utc)
        after = max(after, now + dt.timedelta(seconds=1))  # the notifications must lie before "now"
        assert mailer.tick(factory, settings, now=before)["digests"] == 0  # before the configured time
        first = mailer.tick(factory, settings, now=after)
        again = mailer.tick(factory, settings, now=after + dt.timedelta(minutes=5))
    finally:
        engine.dispose()
    assert first["digests"] == 1 and first["sent"] == 1 and again["digests"] == 0
    (digest,) = sink.messages()
    assert digest["Subject"] == f"Электронный журнал: сводка за {after.astimezone(tz).date():%d.%m.%Y}"
    text = digest.get_body(("plain",)).get_content()
    assert "Пропуск урока" in text and "Новая оценка" in text
    assert [e.kind for e in rows(store.Email)] == ["digest"]


def test_temporary_failures_are_retried_with_backoff_R_M2(start, smtp_sink, school, publish, rows):
    sink = smtp_sink(tempfail=1)
    container = start(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port)
    retry_before = metric("messaging_emails_total", result="retry")
    with waiter(container, "on_attendance_recorded"):
        publish("journal", attendance(school, [{"student_id": school["student_a"], "status": "absent"}]))
    wait_for(lambda: len(sink.messages()) == 1, what="the retried e-mail")
    (email,) = wait_for(lambda: [e for e in rows(store.Email) if e.status == "sent"], what="sent")
    assert email.attempts == 2 and email.last_error is None
    assert metric("messaging_emails_total", result="retry") - retry_before == 1


def test_a_refused_address_fails_for_good_without_retries_R_M2(start, smtp_sink, school, publish, rows, session_maker):
    sink = smtp_sink()
    with session_maker() as s:
        store.save_user_created(s, user_id=school["parent_a"], school_id=school["school"], full_name="Иванова Анна",
                                roles=["parent"], as_of=dt.datetime.now(dt.timezone.utc),
                                email="reject-me@example.test")
        s.commit()
    container = start(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port)
    failed_before = metric("messaging_emails_total", result="failed")
    with waiter(container, "on_attendance_recorded"):
        publish("journal", attendance(school, [{"student_id": school["student_a"], "status": "absent"}]))
    (email,) = wait_for(lambda: [e for e in rows(store.Email) if e.status == "failed"], what="failed")
    assert email.attempts == 1 and "550" in email.last_error
    assert metric("messaging_emails_total", result="failed") - failed_before == 1
    assert sink.messages() == []


def test_an_unreachable_server_is_retried_then_failed_for_good(start, school, publish, rows):
    container = start(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_TIMEOUT=1)
    with waiter(container, "on_attendance_recorded"):
        publish("journal", attendance(school, [{"student_id": school["student_a"], "status": "absent"}]))
    (email,) = wait_for(lambda: [e for e in rows(store.Email) if e.status == "failed"], timeout=15, what="failed")
    assert email.attempts == 3 and "ConnectionRefused" in email.last_error


def _self_signed(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "smtp.crt", tmp_path / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_starttls_and_credentials_from_config_R_M2(start, smtp_sink, school, publish, rows, tmp_path):
    cert, key = _self_signed(tmp_path)
    sink = smtp_sink(tls=(cert, key), user="journal", password="s3cret")
    container = start(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port, SMTP_STARTTLS="true", SMTP_CAFILE=str(cert),
                      SMTP_USER="journal", SMTP_PASSWORD="s3cret")
    with waiter(container, "on_attendance_recorded"):
        publish("journal", attendance(school, [{"student_id": school["student_a"], "status": "absent"}]))
    (letter,) = wait_for(lambda: sink.messages(), what="the e-mail over TLS")
    assert letter["X-Sink-Tls"] == "1"


def test_without_smtp_host_emails_go_to_files(start, school, publish, mail_config):
    from pathlib import Path
    container = start()
    with waiter(container, "on_attendance_recorded"):
        publish("journal", attendance(school, [{"student_id": school["student_a"], "status": "absent"}]))
    files = wait_for(lambda: list(Path(mail_config["MAIL_DIR"]).glob("*.eml")), what="an .eml file")
    assert len(files) == 1 and b"anna@example.test" in files[0].read_bytes()


def test_new_homework_notifies_the_parents_of_the_class_only(start, school, publish, rows):
    container = start()
    lesson = {"lesson_id": new_id(), "class_id": school["class_a"], "subject_id": school["subject"],
              "subject_name": "Математика", "teacher_id": school["teacher_a"], "date": "2026-10-12",
              "topic": "Дроби", "lesson_type": "урок", "work_type": None, "homework": "№ 12, 14",
              "subgroup_id": None, "substitute_for": None, "late": False, "overdue": False}
    with waiter(container, "on_lesson_recorded", n=2):
        publish("journal", make_envelope("lesson_recorded", lesson, producer="journal", school_id=school["school"]))
        publish("journal", make_envelope("lesson_recorded", {**lesson, "lesson_id": new_id(), "homework": None},
                                         producer="journal", school_id=school["school"]))
    (note,) = rows(store.Notification)
    assert (note.recipient_id, note.kind) == (school["parent_a"], "homework")
    assert note.body == "«Математика» на 12.10.2026: № 12, 14"


def test_a_poison_attendance_event_is_dead_lettered_and_the_next_good_one_handled(start, school, publish, rows):
    container = start()
    dead_before = metric("ejournal_dead_letters_total", consumer="messaging.on_attendance_recorded")
    poison = attendance(school, [{"student_id": school["student_a"]}])  # no status
    good = attendance(school, [{"student_id": school["student_a"], "status": "absent"}])
    with waiter(container, "on_attendance_recorded", n=2):
        publish("journal", poison)
        publish("journal", good)
    assert [d["event_id"] for d in rows(tables["dead_letters"])] == [poison["id"]]
    assert [n.source_event_id for n in rows(store.Notification)] == [good["id"]]
    assert metric("ejournal_dead_letters_total", consumer="messaging.on_attendance_recorded") - dead_before == 1


def test_settings_are_validated(start, school):
    container = start()
    with entrypoint_hook(container, "get_notification_settings") as call:
        assert call(ctx(school, "parent_b")) == {"email": "instant", "digest_time": "18:00"}
    with entrypoint_hook(container, "set_notification_settings") as call:
        for bad in ({"email": "weekly"}, {"email": "daily", "digest_time": "25:00"}, {"email": "daily", "digest_time": "7:00"}):
            with pytest.raises(ServiceError) as err:
                call(ctx(school, "parent_b"), bad)
            assert err.value.code == "VALIDATION_ERROR"
        assert call(ctx(school, "parent_b"), {"email": "daily", "digest_time": "07:15"}) == {
            "email": "daily", "digest_time": "07:15"}


def test_a_late_or_overdue_lesson_entry_is_told_to_the_administration_and_class_teacher_R_J5(
        start, school, publish, rows):
    container = start()
    lesson = {"lesson_id": new_id(), "class_id": school["class_a"], "subject_id": school["subject"],
              "subject_name": "Математика", "teacher_id": school["teacher_a"], "date": "2026-10-12",
              "topic": "Дроби", "lesson_type": "урок", "work_type": None, "homework": None,
              "subgroup_id": None, "substitute_for": None, "late": True, "overdue": True}
    with waiter(container, "on_lesson_recorded", n=2):
        publish("journal", make_envelope("lesson_recorded", lesson, producer="journal", school_id=school["school"]))
        publish("journal", make_envelope("lesson_recorded", {**lesson, "lesson_id": new_id(), "late": False,
                                                             "overdue": False},
                                         producer="journal", school_id=school["school"]))
    notes = rows(store.Notification)
    assert sorted(n.recipient_id for n in notes) == sorted([school["director"], school["deputy"], school["head_a"]])
    assert {n.kind for n in notes} == {"late_entry"}
    assert notes[0].body == "«Математика», 5А, урок 12.10.2026: записан позже трёх дней после урока"


def test_a_late_final_mark_is_told_to_the_administration_and_class_teacher_R_F3(start, school, publish, rows):
    """A final mark posted after the 2-day deadline notifies the deputies,
    directors and the class teacher; one on time notifies nobody."""
    container = start()
    final = {"final_mark_id": new_id(), "student_id": school["student_a"], "subject_id": school["subject"],
             "class_id": school["class_a"], "period_id": new_id(), "period_kind": "quarter", "value": 4,
             "version": 1, "late": True, "evidence": {}, "warnings": ["LATE"], "teacher_id": school["teacher_a"]}
    with waiter(container, "on_final_mark_posted", n=2):
        publish("journal", make_envelope("final_mark_posted", final, producer="journal", school_id=school["school"]))
        publish("journal", make_envelope("final_mark_posted", {**final, "final_mark_id": new_id(), "late": False},
                                         producer="journal", school_id=school["school"]))
    notes = rows(store.Notification)
    assert sorted(n.recipient_id for n in notes) == sorted([school["director"], school["deputy"], school["head_a"]])
    assert {n.kind for n in notes} == {"late_final_mark"}
    assert "«Математика», 5А" in notes[0].body and "за четверть" in notes[0].body


def test_a_failed_backup_drill_is_told_to_the_administrators_R_D2(start, school, publish, rows, session_maker):
    """backup_drill_failed (backup): every administrator of the school gets a
    notification naming the backup; nobody else does."""
    admin, elsewhere = new_id(), new_id()
    with session_maker() as s:
        now = dt.datetime.now(dt.timezone.utc)
        store.save_user_created(s, user_id=admin, school_id=school["school"], full_name="Админ", roles=["admin"],
                                as_of=now)
        store.save_user_created(s, user_id=elsewhere, school_id=school["other_school"], full_name="Чужой",
                                roles=["admin"], as_of=now)
        s.commit()
    container = start()
    payload = {"backup_id": "b-1", "checked_rows": 0, "mismatches": [{"service": None, "table": None,
                                                                     "problem": "archive_unreadable"}],
               "detail": "Проверка восстановления резервной копии b-1 не пройдена: archive: archive_unreadable"}
    with waiter(container, "on_backup_drill_failed"):
        publish("backup", make_envelope("backup_drill_failed", payload, producer="backup", school_id=school["school"]))
    notes = rows(store.Notification)
    assert [n.recipient_id for n in notes] == [admin]
    assert notes[0].kind == "backup_drill_failed" and notes[0].data == {"backup_id": "b-1"}
    assert "b-1" in notes[0].body and "archive_unreadable" in notes[0].body


def test_the_idle_mailer_sleeps_until_something_can_be_due():
    """Idle: until the next minute (a digest time) or IDLE_WAIT; a queued
    e-mail's retry sooner; never less than MAIL_POLL."""
    settings = mail.MailSettings.from_config({"MAIL_POLL": 1.0})
    now = dt.datetime(2026, 9, 1, 9, 0, 10, tzinfo=dt.timezone.utc)
    assert mailer.idle_wait(settings, now, None) == pytest.approx(min(mailer.IDLE_WAIT, 50.05))
    assert mailer.idle_wait(settings, now, now + dt.timedelta(seconds=4)) == pytest.approx(4.0)
    assert mailer.idle_wait(settings, now, now - dt.timedelta(seconds=4)) == 1.0  # due already: after the poll
    late = now.replace(second=59, microsecond=500_000)
    assert mailer.idle_wait(settings, late, None) == 1.0


def test_wake_ends_the_mailers_wait():
    import eventlet

    waker = mailer._Wake()
    started = time.monotonic()
    eventlet.spawn_after(0.05, waker.set)
    waker.wait(5.0)
    assert time.monotonic() - started < 2.0
    waker.set()  # set before the wait: the wait returns at once
    started = time.monotonic()
    waker.wait(5.0)
    assert time.monotonic() - started < 1.0
    started = time.monotonic()
    waker.wait(0.1)  # armed again: only the timeout ends it
    assert time.monotonic() - started >= 0.09
