"""Alembic environment of the messaging service (its own history, its own database)."""
from kernel.migrate import run_env

from messaging.store import Base

run_env(Base.metadata)
