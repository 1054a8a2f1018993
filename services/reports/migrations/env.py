"""Alembic environment of the reports service (its own history, its own database)."""
from kernel.migrate import run_env

from reports.store import Base

run_env(Base.metadata)
