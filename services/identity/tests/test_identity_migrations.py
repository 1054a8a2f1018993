"""The Alembic history of identity (0001, 0002_access): it builds exactly the
models on PostgreSQL, and 0002_access can be undone and redone."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from kernel.migrate import alembic_config, upgrade

from identity.store import Base


def test_migrations_match_the_models(identity_database):
    url, _ = identity_database
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_0002_access_downgrades_and_upgrades(pg_databases):
    from alembic import command

    url = pg_databases.create("identity_mig")
    upgrade("identity", url)
    command.downgrade(alembic_config("identity", url), "0001")
    engine = create_engine(url)
    try:
        names = set(inspect(engine).get_table_names())
        assert not names & {"login_failures", "audit_log", "totp_secrets", "access_log"} and "users" in names
        upgrade("identity", url)
        engine.dispose()
        assert {t.name for t in Base.metadata.sorted_tables} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_0003_access_central_downgrades_and_upgrades(pg_databases):
    from alembic import command

    url = pg_databases.create("identity_mig3")
    upgrade("identity", url)
    command.downgrade(alembic_config("identity", url), "0002_access")
    engine = create_engine(url)
    try:
        names = set(inspect(engine).get_table_names())
        assert not names & {"lesson_refs", "mark_refs", "year_refs", "session_revocations"}
        assert "access_log" in names
        upgrade("identity", url)
        engine.dispose()
        assert {"lesson_refs", "mark_refs", "year_refs", "session_revocations"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_0006_mail_access_downgrades_and_upgrades(pg_databases):
    from alembic import command

    url = pg_databases.create("identity_mig6")
    upgrade("identity", url)
    command.downgrade(alembic_config("identity", url), "0005_merge")
    engine = create_engine(url)
    try:
        names = set(inspect(engine).get_table_names())
        assert "letter_participants" not in names and "lesson_refs" in names
        upgrade("identity", url)
        engine.dispose()
        assert "letter_participants" in set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
