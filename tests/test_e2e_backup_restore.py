"""A backup that can be restored (R-D2): a platform with marks and mail is
backed up and stopped, as after a loss; `python -m backup.restore` puts the
archive into fresh databases (SQLite files in a new data dir, and new
PostgreSQL databases); a platform started on each serves the same diary,
letters and catalogue, and takes a new mark without an outbox collision."""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from localrun.client import Api
from localrun.launcher import _free_base, platform_env, port_env, start_throwaway, delete_vhost

from e2e_support import eventually

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"


def _school(admin, today):
    year = admin.post("/years", {
        "name": "Год", "starts_on": (today - dt.timedelta(days=30)).isoformat(),
        "ends_on": (today + dt.timedelta(days=200)).isoformat(),
        "periods": [{"name": "1 полугодие", "kind": "half_year",
                     "starts_on": (today - dt.timedelta(days=30)).isoformat(),
                     "ends_on": (today + dt.timedelta(days=60)).isoformat()}]})
    maths = admin.post("/subjects", {"name": "Математика"})
    ct = admin.post("/users", {"login": "ct.orlova", "full_name": "Орлова Нина Петровна",
                               "roles": ["teacher", "class_teacher"], "password": PASSWORD})
    klass = admin.post("/classes", {"year_id": year["id"], "grade": 6, "letter": "Б", "class_teacher_id": ct["id"]})
    admin.post("/assignments", {"teacher_id": ct["id"], "class_id": klass["id"], "subject_id": maths["id"],
                                "hours_per_week": 5})
    teacher = Api(admin.base).login("ct.orlova", PASSWORD)
    student = teacher.post("/users", {"login": "s.belov", "full_name": "Белов Артём", "roles": ["student"],
                                      "password": PASSWORD})
    teacher.post(f"/classes/{klass['id']}/students", {"student_id": student["id"], "order_no": "1-у",
                                                      "on": year["periods"][0]["starts_on"]}, expect=201)
    marks = []
    for offset, value in ((2, 5), (1, 4), (0, 3)):
        lesson = teacher.post("/lessons", {"class_id": klass["id"], "subject_id": maths["id"],
                                           "date": (today - dt.timedelta(days=offset)).isoformat(),
                                           "topic": f"Тема {offset}", "lesson_type": "комбинированный"},
                              expect=201)
        marks.append(teacher.put(f"/lessons/{lesson['id']}/marks", {"marks": [
            {"student_id": student["id"], "value": value}]}, expect=200))
    letter = teacher.post("/messages", {"to": [student["id"]], "subject": "Контрольная",
                                        "body": "Повторить дроби"}, expect=201)
    return {"year": year, "maths": maths, "class": klass, "student": student, "letter": letter,
            "lesson": lesson, "today": today}


def _views(plat, school):
    student = Api(plat.url).login("s.belov", PASSWORD)
    diary = student.get(f"/students/{school['student']['id']}/diary"
                        f"?from={(school['today'] - dt.timedelta(days=7)).isoformat()}&to={school['today'].isoformat()}")
    inbox = student.get("/messages?folder=inbox")["items"]
    letter = student.get(f"/messages/{school['letter']['id']}")
    return {"diary": diary, "inbox": [{k: m[k] for k in ("id", "subject")} for m in inbox],
            "letter": {k: letter[k] for k in ("subject", "body")}}


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory):
    """A PostgreSQL platform with marks and a letter, backed up and stopped."""
    from kernel.testing import PgDatabases, admin_url

    tmp = tmp_path_factory.mktemp("source")
    pg = PgDatabases(admin_url())
    env = platform_env(tmp, pg, "bksrc")
    # the keys live apart from the archives (README "Settings")
    plat = start_throwaway(env)
    try:
        admin = Api(plat.url).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
        school = _school(admin, dt.date.today())
        student = Api(plat.url).login("s.belov", PASSWORD)
        eventually(lambda: student.get("/messages?folder=inbox")["items"], timeout=30)
        before = _views(plat, school)
        started = admin.post("/backups", expect=202)

        def finished():
            rows = [b for b in admin.get("/backups")["items"] if b["id"] == started["id"]]
            return rows[0] if rows and rows[0]["status"] != "running" else None

        done = eventually(finished, timeout=90)
        assert done["status"] == "done", done
        data = Path(env["EJOURNAL_DATA_DIR"])
        stored = data / "backups" / f"{started['id']}.ejbak"

        # R-D1: the administrator keeps a copy: streamed, still encrypted
        teacher = Api(plat.url).login("ct.orlova", PASSWORD)
        assert teacher.request("GET", f"/backups/{started['id']}/archive").status_code == 403
        got = admin.request("GET", f"/backups/{started['id']}/archive", expect=200, stream=True)
        copy = tmp / "downloaded.ejbak"
        with open(copy, "wb") as out:
            for block in got.iter_content(65536):
                out.write(block)
        assert copy.read_bytes() == stored.read_bytes()
        assert got.headers["Content-Type"] == "application/octet-stream"
        assert got.headers["X-Archive-SHA256"] == hashlib.sha256(copy.read_bytes()).hexdigest()
        assert admin.request("GET", "/backups/no-such-backup/archive").status_code == 404

        # R-D2: the drill restores the archive into scratch databases and compares
        drilled = admin.post(f"/backups/{started['id']}/restore-drill", expect=200)
        assert drilled["ok"] is True and drilled["checked_rows"] > 50 and drilled["mismatches"] == []
        assert teacher.request("POST", f"/backups/{started['id']}/restore-drill").status_code == 403
        row = next(b for b in admin.get("/backups")["items"] if b["id"] == started["id"])
        assert row["drill_ok"] is True and row["drilled_at"] and row["verified"] is True
        # ...and a tampered archive fails it: an alert to the administrators
        blob = bytearray(stored.read_bytes())
        blob[len(blob) // 3] ^= 0x10
        stored.write_bytes(bytes(blob))
        failed = admin.post(f"/backups/{started['id']}/restore-drill", expect=200)
        assert failed["ok"] is False and failed["mismatches"][0]["problem"] == "archive_unreadable"
        row = next(b for b in admin.get("/backups")["items"] if b["id"] == started["id"])
        assert row["drill_ok"] is False and row["verified"] is False
        note = eventually(lambda: [n for n in admin.get("/notifications")["items"]
                                   if n["kind"] == "backup_drill_failed"], timeout=30)
        assert started["id"] in note[0]["body"]
        stored.write_bytes(copy.read_bytes())  # the downloaded copy is the good one
        catalogue = admin.get("/backups")["items"]
        schedule = admin.get("/backups/schedule")
        assert schedule["targets"][0]["target"] == "local" and schedule["targets"][0]["every_hours"] == 0
        assert teacher.request("GET", "/backups/schedule").status_code == 403
    finally:
        plat.stop()
        delete_vhost(env["EJOURNAL_AMQP_URI"])
    yield {"school": school, "before": before, "backup_id": started["id"], "catalogue": catalogue,
           "archive": copy,
           "key": data / "keys" / "backup.key", "identity_key": data / "keys" / "identity.key",
           "admin": (env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])}
    pg.drop_all()


def _restore(env, *args):
    full = {**os.environ, **{k: v for k, v in env.items() if v is not None}}
    for k, v in env.items():
        if v is None:
            full.pop(k, None)
    return subprocess.run([sys.executable, "-m", "backup.restore", *map(str, args)], env=full,
                          capture_output=True, text=True, timeout=300)


def _outbox_seqs(url):
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT MAX(seq), COUNT(*) FROM outbox")).one()
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_restore_into_fresh_databases_serves_the_same_data(backed_up, tmp_path, backend):
    from kernel.testing import PgDatabases, admin_url

    pg = PgDatabases(admin_url()) if backend == "postgresql" else None
    env = {**platform_env(tmp_path, pg, f"bkrst{backend[:2]}", backend), **port_env(_free_base())}
    args = [backed_up["archive"], "--key-file", backed_up["key"], "--identity-key-file", backed_up["identity_key"]]
    plat = None
    try:
        # without the identity key the restore is refused and writes nothing
        refused = _restore(env, backed_up["archive"], "--key-file", backed_up["key"])
        assert refused.returncode == 1 and "identity key" in refused.stderr, refused.stderr
        done = _restore(env, *args)
        assert done.returncode == 0, done.stderr
        assert "restored" in done.stderr and "rows" in done.stderr
        # a second restore into the same databases is refused...
        again = _restore(env, *args)
        assert again.returncode == 1 and "already hold data" in again.stderr, again.stderr
        # ...unless forced
        forced = _restore(env, *args, "--force")
        assert forced.returncode == 0, forced.stderr

        journal_url = env.get("EJOURNAL_JOURNAL_DATABASE_URL") or f"sqlite:///{tmp_path / 'data' / 'journal.db'}"
        seq_before, rows_before = _outbox_seqs(journal_url)
        assert rows_before >= 3

        plat = start_throwaway(env)
        after = _views(plat, backed_up["school"])
        assert after == backed_up["before"]
        admin = Api(plat.url).login(*backed_up["admin"])
        listed = {b["id"]: b for b in admin.get("/backups")["items"]}
        restored_from = listed[backed_up["backup_id"]]
        assert restored_from["status"] == "done" and restored_from["verified"] is True
        assert {b["id"] for b in backed_up["catalogue"]} <= set(listed)

        # a new mark: the outbox's sequence continues after the restored rows
        school = backed_up["school"]
        teacher = Api(plat.url).login("ct.orlova", PASSWORD)
        teacher.put(f"/lessons/{school['lesson']['id']}/marks", {"marks": [
            {"student_id": school["student"]["id"], "value": 5}]}, expect=200)
        seq_after, rows_after = _outbox_seqs(journal_url)
        assert rows_after > rows_before and seq_after > seq_before
        student = Api(plat.url).login("s.belov", PASSWORD)
        diary = student.get(f"/students/{school['student']['id']}/diary?from={school['today'].isoformat()}"
                            f"&to={school['today'].isoformat()}")
        assert "5" in str(diary)
    finally:
        if plat is not None:
            plat.stop()
        delete_vhost(env["EJOURNAL_AMQP_URI"])
        if pg is not None:
            pg.drop_all()
