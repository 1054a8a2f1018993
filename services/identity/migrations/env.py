"""Alembic environment of the identity service (its own history, its own database)."""
from kernel.migrate import run_env

from identity.store import Base

run_env(Base.metadata)
