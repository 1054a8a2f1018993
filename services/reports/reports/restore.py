"""Restoring reports's database from a backup archive: the backup service's
restore (``python -m backup.restore``, and its drills) calls :func:`restore`
with this service's exported tables; the rows go in through reports's own
migrations (kernel.restore), never through another service's code."""
from __future__ import annotations

from kernel.restore import restore_database

SERVICE = "reports"


def restore(url: str, *, revision: str, tables: dict, force: bool = False, progress=None,
            upgrade_to_head: bool = True, **options) -> dict:
    """Put the archive's tables into the empty database at ``url``
    (kernel.restore.restore_database); ``{tables, rows, sequences}``."""
    return restore_database(SERVICE, url, revision=revision, tables=tables, force=force,
                            progress=progress, upgrade_to_head=upgrade_to_head)
