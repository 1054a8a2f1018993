"""R-F2 emphasis of subjects; attendance versions chained by hash (R-J7).

- ``subjects.emphasis``: existing subjects get the default for their name
  (Русский язык, Литература, Математика/Алгебра/Геометрия, Физика, Химия).
- ``attendance_versions.prev_hash`` / ``hash``: every existing version is
  chained like a mark's version, oldest first per entry, from the genesis
  hash; the result depends only on the rows, so two copies of one database
  get the same hashes.

The rules are copied here on purpose: a migration must keep meaning what it
meant when it ran, whatever the code does later.

Revision ID: 0004_journal_rules
Revises: 0003_merge
Create Date: 2026-11-30
"""
import datetime as dt
import hashlib
import json
import re

from alembic import op
import sqlalchemy as sa

revision = "0004_journal_rules"
down_revision = "0003_merge"
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64
_EMPHASIS_RE = re.compile(r"^(?:русский язык|литература|математика|алгебра|геометрия|физика|химия)(?![0-9a-zа-я])")


def _emphasis(name: str) -> bool:
    folded = " ".join(str(name or "").casefold().replace("ё", "е").split())
    return _EMPHASIS_RE.match(folded) is not None


def _utc_iso(at: dt.datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone.utc)
    return at.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def _hash(content: dict, prev_hash: str) -> str:
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((text + prev_hash).encode("utf-8")).hexdigest()


subjects = sa.table("subjects", sa.column("id", sa.String), sa.column("name", sa.String),
                    sa.column("emphasis", sa.Boolean))
attendance = sa.table("attendance", sa.column("id", sa.String), sa.column("lesson_id", sa.String),
                      sa.column("student_id", sa.String))
versions = sa.table(
    "attendance_versions", sa.column("attendance_id", sa.String), sa.column("version", sa.Integer),
    sa.column("status", sa.String), sa.column("previous", sa.String), sa.column("by", sa.String),
    sa.column("at", sa.DateTime(timezone=True)), sa.column("reason", sa.Text),
    sa.column("prev_hash", sa.String), sa.column("hash", sa.String))


def upgrade() -> None:
    bind = op.get_bind()
    # a plain ADD COLUMN: SQLite's batch mode would recreate "subjects", which
    # lessons and assignments reference (foreign keys are on)
    op.add_column("subjects", sa.Column("emphasis", sa.Boolean(), server_default=sa.false(), nullable=False))
    emphasised = [sid for sid, name in bind.execute(sa.select(subjects.c.id, subjects.c.name)) if _emphasis(name)]
    if emphasised:
        bind.execute(sa.update(subjects).where(subjects.c.id.in_(emphasised)).values(emphasis=True))

    with op.batch_alter_table("attendance_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    rows = bind.execute(
        sa.select(versions.c.attendance_id, versions.c.version, versions.c.status, versions.c.previous,
                  versions.c.by, versions.c.at, versions.c.reason, attendance.c.lesson_id, attendance.c.student_id)
        .join(attendance, attendance.c.id == versions.c.attendance_id)
        .order_by(versions.c.attendance_id, versions.c.version))
    updates, last_id, prev = [], None, GENESIS_HASH
    for r in rows:
        if r.attendance_id != last_id:
            last_id, prev = r.attendance_id, GENESIS_HASH
        content = {"attendance_id": r.attendance_id, "version": r.version, "lesson_id": r.lesson_id,
                   "student_id": r.student_id, "status": r.status, "previous": r.previous, "by": r.by,
                   "at": _utc_iso(r.at), "reason": r.reason}
        digest = _hash(content, prev)
        updates.append({"a": r.attendance_id, "v": r.version, "p": prev, "h": digest})
        prev = digest
    if updates:
        bind.execute(sa.update(versions).where(versions.c.attendance_id == sa.bindparam("a"),
                                               versions.c.version == sa.bindparam("v"))
                     .values(prev_hash=sa.bindparam("p"), hash=sa.bindparam("h")), updates)
    with op.batch_alter_table("attendance_versions", schema=None) as batch_op:
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_attendance_versions_hash"), ["hash"])


def downgrade() -> None:
    with op.batch_alter_table("attendance_versions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_attendance_versions_hash"), type_="unique")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
    op.drop_column("subjects", "emphasis")
