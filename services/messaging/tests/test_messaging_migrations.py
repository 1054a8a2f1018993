"""The Alembic history of messaging: it builds exactly the models on
PostgreSQL, and it can be undone and redone."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from kernel.migrate import alembic_config, upgrade

from messaging.store import Base


def test_migrations_match_the_models(migrated_url):
    engine = create_engine(migrated_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_downgrade_and_upgrade_again(pg_databases):
    from alembic import command

    url = pg_databases.create("messaging_mig")
    upgrade("messaging", url)
    command.downgrade(alembic_config("messaging", url), "base")
    engine = create_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        upgrade("messaging", url)
        engine.dispose()
        assert {t.name for t in Base.metadata.sorted_tables} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
