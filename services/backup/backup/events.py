"""Events the backup service publishes (exchange ``backup.events``).

| type | payload |
|---|---|
| ``backup_requested`` | ``{backup_id, trigger: "manual"|"scheduled", requested_by, requested_at}`` |
| ``backup_drill_failed`` | ``{backup_id, checked_rows, mismatches: [{service, table, problem}], detail}`` (detail: Russian text for the administrators) |
| ``backup_finished`` | ``{backup_id, trigger, status: "done"|"failed", started_at, finished_at, size, targets, verified, sha256, tables, rows, error}`` |

``backup_finished`` is written by the worker (a plain process) into the same
outbox; the nameko service's relay publishes it.
"""
from __future__ import annotations

BACKUP_REQUESTED = "backup_requested"
BACKUP_FINISHED = "backup_finished"
BACKUP_DRILL_FAILED = "backup_drill_failed"


def backup_drill_failed(*, backup_id: str, checked_rows: int, mismatches: list, detail: str) -> dict:
    """Payload of ``backup_drill_failed``: which tables differed, never their rows."""
    return {"backup_id": backup_id, "checked_rows": checked_rows, "mismatches": list(mismatches),
            "detail": detail}


def backup_requested(*, backup_id: str, trigger: str, requested_by: str | None, requested_at: str) -> dict:
    """Payload of ``backup_requested``."""
    return {"backup_id": backup_id, "trigger": trigger, "requested_by": requested_by,
            "requested_at": requested_at}


def backup_finished(*, backup_id: str, trigger: str, status: str, started_at: str | None,
                    finished_at: str | None, size: int | None, targets: list, verified: bool,
                    sha256: str | None, tables: int, rows: int, error: str | None) -> dict:
    """Payload of ``backup_finished`` (checksums and counts only, no personal data)."""
    return {"backup_id": backup_id, "trigger": trigger, "status": status,
            "started_at": started_at, "finished_at": finished_at, "size": size,
            "targets": list(targets), "verified": verified, "sha256": sha256,
            "tables": tables, "rows": rows, "error": error}
