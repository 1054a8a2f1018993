"""Identity's backup export (kernel.export over identity's real schema on
PostgreSQL): secrets leave only sealed, ``school_id`` scopes the rows, and
a plaintext secret stops the export."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text

from kernel.db import transaction
from kernel.export import ExportRefused, count_rows, export_tables

from identity import sealing, store, totp
from identity.grpc_server import IdentityServicer
from identity.store import Base


@pytest.fixture
def engine(db_url):
    engine = create_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def two_schools(make, factory):
    """Two schools, a teacher with a TOTP secret in each, one signing key."""
    world = {}
    for name in ("a", "b"):
        school = make.school(f"Школа {name}")
        teacher = make.user(school, ["teacher"], login=f"teacher.{name}")
        secret = totp.new_secret()
        with transaction(factory) as s:
            store.put_totp(s, user_id=teacher.id, secret=secret)
        world[name] = {"school": school, "teacher": teacher.id, "secret": secret}
    kid, _ = IdentityServicer(factory).signing_key()
    with transaction(factory) as s:
        world["pem"] = store.active_signing_key(s).private_pem
    world["kid"] = kid
    return world


def exported(engine, school_id=""):
    tables: dict = {}
    for name, rows, _ in export_tables(engine, Base.metadata, school_id=school_id):
        tables.setdefault(name, []).extend(rows)
    return tables


def test_the_whole_export_holds_secrets_only_sealed(engine, two_schools):
    tables = exported(engine)
    dump = json.dumps(tables, ensure_ascii=False)
    for name in ("a", "b"):
        assert two_schools[name]["secret"] not in dump
    assert "PRIVATE KEY" not in dump and two_schools["pem"].splitlines()[1] not in dump
    (key,) = tables["signing_keys"]
    assert sealing.is_sealed(key["private_key_sealed"]) and key["kid"] == two_schools["kid"]
    assert len(tables["totp_secrets"]) == 2
    assert all(sealing.is_sealed(row["secret_sealed"]) for row in tables["totp_secrets"])
    # the ciphertext restores: with the KEK it opens to the very secret
    row = next(r for r in tables["totp_secrets"] if r["user_id"] == two_schools["a"]["teacher"])
    assert sealing.box().open(row["secret_sealed"], context=sealing.totp_context(row["user_id"])) == \
        two_schools["a"]["secret"]


def test_a_school_export_holds_that_school_only(engine, two_schools):
    a, b = two_schools["a"], two_schools["b"]
    tables = exported(engine, a["school"])
    assert [s["id"] for s in tables["schools"]] == [a["school"]]
    assert [u["id"] for u in tables["users"]] == [a["teacher"]]
    assert [t["user_id"] for t in tables["totp_secrets"]] == [a["teacher"]]
    assert b["teacher"] not in json.dumps(tables)
    # deployment-wide tables belong to no school: the signing keys stay home
    assert not {"signing_keys", "outbox", "processed_events", "dead_letters", "login_failures"} & set(tables)
    assert count_rows(engine, Base.metadata, a["school"]) == {name: len(rows) for name, rows in tables.items()}
    assert count_rows(engine, Base.metadata)["users"] == 2


def test_a_plaintext_secret_stops_the_export(engine, two_schools):
    with engine.begin() as conn:
        conn.execute(text("UPDATE totp_secrets SET secret_sealed = :s WHERE user_id = :u"),
                     {"s": two_schools["b"]["secret"], "u": two_schools["b"]["teacher"]})
    with pytest.raises(ExportRefused, match="totp_secrets.secret_sealed"):
        exported(engine)
    # school a's export never reads school b's row, so it still works
    assert len(exported(engine, two_schools["a"]["school"])["totp_secrets"]) == 1
