"""Alembic environment of the journal service (its own history, its own database)."""
from kernel.migrate import run_env

from journal.store.models import Base

run_env(Base.metadata)
