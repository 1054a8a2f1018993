"""Run a service's Alembic migrations: ``python -m kernel.migrate journal``.

Each service keeps its own history in ``services/<name>/migrations``; the URL
comes from the settings (``EJOURNAL_<NAME>_DATABASE_URL`` or the SQLite file
under the data dir).
"""
from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from kernel import config as settings_mod

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(service: str, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "services" / service / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["service"] = service
    return cfg


def upgrade(service: str, url: str, revision: str = "head") -> None:
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(service, url), revision)


def run_env(metadata) -> None:
    """The body of every service's ``migrations/env.py``."""
    from alembic import context
    from sqlalchemy import pool

    from kernel.db import make_engine

    url = context.config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url, poolclass=pool.NullPool) if not url.startswith("sqlite") else make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata,
                          render_as_batch=url.startswith("sqlite"))
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def main(argv=None) -> int:
    argv = argv if argv is not None else sys.argv[1:]
    settings = settings_mod.load()
    names = argv or list(settings_mod.SERVICES)
    for name in names:
        upgrade(name, settings.database_url(name))
        print(f"migrated {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
