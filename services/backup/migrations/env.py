"""Alembic environment of the backup service (its own history, its own database)."""
from kernel.migrate import run_env

from backup.store import Base

run_env(Base.metadata)
