"""The bootstrap of a deployment: a school and its first admin, once (R-A2:
the administrator issues staff credentials, so someone must be first)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from kernel.db import transaction
from kernel.errors import ServiceError

from identity import credentials, store
from identity.bootstrap import bootstrap
from identity.bootstrap import main as bootstrap_main

ADMIN_PASSWORD = "admin-demo-password"


def count(factory, model) -> int:
    with transaction(factory) as s:
        return s.scalar(select(func.count()).select_from(model))


def test_bootstrap_creates_school_and_admin_with_an_event(factory):
    result = bootstrap(factory, school_name="Школа №7", admin_login="admin", admin_password=ADMIN_PASSWORD)
    assert result["created"] and result["school_created"] and result["admin_created"]
    with transaction(factory) as s:
        school = store.get_school(s, school_id=result["school_id"])
        admin = store.find_user_by_login(s, login="admin")
        assert school.name == "Школа №7"
        assert (admin.id, admin.school_id, admin.roles, admin.active) == \
            (result["admin_id"], school.id, ["admin"], True)
        assert credentials.verify_password(admin.password_hash, ADMIN_PASSWORD)
        rows = s.execute(select(store.tables["outbox"])).all()
    assert [r.event_type for r in rows] == ["user_created"]
    env = json.loads(rows[0].body)
    assert env["producer"] == "identity" and env["school_id"] == school.id
    assert env["payload"]["user_id"] == admin.id and env["payload"]["roles"] == ["admin"]


def test_bootstrap_is_idempotent(factory):
    first = bootstrap(factory, school_name="Школа", admin_login="admin", admin_password=ADMIN_PASSWORD)
    again = bootstrap(factory, school_name="Другое имя", admin_login="ADMIN", admin_password="other-password-123")
    assert not again["created"]
    assert (again["school_id"], again["admin_id"]) == (first["school_id"], first["admin_id"])
    assert count(factory, store.School) == 1 and count(factory, store.User) == 1
    assert count(factory, store.tables["outbox"]) == 1


def test_bootstrap_adds_a_new_admin_login_to_the_existing_school(factory, make):
    school = make.school("Существующая школа")
    result = bootstrap(factory, school_name="Новая", admin_login="root", admin_password=ADMIN_PASSWORD)
    assert result["school_id"] == school and result["admin_created"] and not result["school_created"]
    assert count(factory, store.School) == 1


def test_bootstrap_refuses_a_weak_admin_password(factory):
    with pytest.raises(ServiceError) as err:
        bootstrap(factory, school_name="Школа", admin_login="admin", admin_password="short")
    assert err.value.code == "VALIDATION_ERROR"
    assert count(factory, store.School) == 0


def test_bootstrap_cli_prints_one_line(db_url, monkeypatch, capsys):
    env = {"EJOURNAL_IDENTITY_DATABASE_URL": db_url, "EJOURNAL_ADMIN_LOGIN": "director",
           "EJOURNAL_ADMIN_PASSWORD": "director-password", "EJOURNAL_SCHOOL_NAME": "Лицей"}
    child_env = {**os.environ, **env}
    child_env.pop("EJOURNAL_TEST_EVENTLET", None)
    done = subprocess.run([sys.executable, "-m", "identity.bootstrap"], env=child_env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    first = done.stdout.strip().splitlines()
    assert len(first) == 1 and first[0].startswith("school_id=") and first[0].endswith(" admin=director created=yes")

    # the second start, in-process (the same main()): nothing new
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert bootstrap_main([]) == 0
    assert capsys.readouterr().out.strip().splitlines() == [first[0].replace("created=yes", "created=no")]


def test_bootstrap_cli_reports_a_bad_password(db_url, monkeypatch, capsys):
    monkeypatch.setenv("EJOURNAL_IDENTITY_DATABASE_URL", db_url)
    monkeypatch.setenv("EJOURNAL_ADMIN_PASSWORD", "short")
    assert bootstrap_main([]) == 2
    assert "Пароль" in capsys.readouterr().err
