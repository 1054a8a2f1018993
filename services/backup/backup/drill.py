"""Restore drills: ``python -m backup.drill ARCHIVE_OR_ID [--backup-id ID] [--sha256 HEX]``
prints the drill's outcome as JSON (``{ok, checked_rows, mismatches}``,
backup.restore.drill_file) and exits 0 when it passed, 1 when not.

ARCHIVE_OR_ID is an archive file or a backup id: the local target's archive,
else the first off-site target of the settings that holds it (fetched into a
temporary file, removed after the drill), as ``python -m backup.restore``
finds it. An id no target holds is the finding ``archive_missing``.

The nameko service runs a requested drill in this separate process: the
drill migrates and fills scratch SQLite databases, blocking work that has
no place in an eventlet process (ARCHITECTURE.md "Runtime notes"). The
worker, a plain process, drills its scheduled backups in-process.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import Counter

from backup import errors, events

DRILLS = Counter("backup_drills", "Restore drills by outcome", ["outcome"])
DRILL_FAILED_ALERT = Counter("backup_drill_failures", "Failed restore drills (alert when it grows)")


def outcome_event(*, backup_id: str, result: dict) -> dict:
    """Payload of ``backup_drill_failed`` (counts and table names only, no data)."""
    return events.backup_drill_failed(
        backup_id=backup_id, checked_rows=int(result.get("checked_rows") or 0),
        mismatches=[{k: m.get(k) for k in ("service", "table", "problem")} for m in result.get("mismatches", [])][:20],
        detail=errors.text("drill_failed", backup_id=backup_id, detail=describe(result)))


def describe(result: dict) -> str:
    """A short human account of a failed drill's findings."""
    parts = []
    for m in result.get("mismatches", [])[:5]:
        where = "/".join(x for x in (m.get("service"), m.get("table")) if x) or "archive"
        parts.append(f"{where}: {m.get('problem')}{' (' + m['detail'][:120] + ')' if m.get('detail') else ''}")
    return "; ".join(parts) or "—"


def count(result: dict) -> None:
    DRILLS.labels("ok" if result.get("ok") else "failed").inc()
    if not result.get("ok"):
        DRILL_FAILED_ALERT.inc()


MISSING = "archive_missing"


def missing(result: dict) -> bool:
    """Whether the drill found no archive to drill (on no target)."""
    return any(m.get("problem") == MISSING for m in result.get("mismatches") or [])


def run_subprocess(path: Path | str, *, backup_id: str, sha256: str | None, timeout: float = 1800.0,
                   env: dict | None = None) -> dict:
    """Run ``python -m backup.drill`` on ``path`` (an archive file, or the
    backup id to look up on the targets) and return its outcome (green under
    eventlet: the caller's hub keeps serving). ``env``: the settings
    (default: this process's environment)."""
    try:
        from eventlet.green import subprocess as green
    except ImportError:  # pragma: no cover - plain processes
        green = subprocess
    argv = [sys.executable, "-m", "backup.drill", str(path), "--backup-id", backup_id]
    if sha256:
        argv += ["--sha256", sha256]
    proc = green.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=dict(env) if env is not None else os.environ.copy())
    try:
        out, err = proc.communicate(timeout=timeout)
    except Exception:
        proc.kill()
        proc.wait()
        raise
    try:
        result = json.loads(out or b"{}")
    except ValueError:
        result = {}
    if not isinstance(result, dict) or "ok" not in result:
        detail = (err or b"").decode(errors="replace").strip().splitlines()[-1:] or ["no answer"]
        result = {"ok": False, "checked_rows": 0,
                  "mismatches": [{"service": None, "table": None, "problem": "drill_crashed", "detail": detail[0][:500]}]}
    return result


def _find(archive: str, key: bytes, data_dir: Path) -> tuple[Path, bool]:
    """``(path, fetched)``: the archive file, or the backup id's archive on
    the local target or fetched from an off-site one (backup.restore.locate)."""
    from backup.restore import locate
    from backup.targets import parse_targets

    backup_dir = Path(os.environ.get("EJOURNAL_BACKUP_DIR") or Path(data_dir) / "backups")
    path, _, fetched = locate(archive, backup_dir, parse_targets(os.environ, data_dir)[1:], key=key)
    return path, fetched


def main(argv=None) -> int:
    from kernel import config

    from backup.crypto import load_key
    from backup.restore import RestoreFailed, drill_file

    parser = argparse.ArgumentParser(prog="python -m backup.drill", description=__doc__.splitlines()[0])
    parser.add_argument("archive")
    parser.add_argument("--backup-id")
    parser.add_argument("--sha256")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    settings = config.load()
    key = load_key(settings.data_dir)
    try:
        path, fetched = _find(args.archive, key, settings.data_dir)
    except RestoreFailed as exc:
        result = {"ok": False, "checked_rows": 0,
                  "mismatches": [{"service": None, "table": None, "problem": MISSING, "detail": str(exc)[:500]}]}
    else:
        try:
            # A copy fetched from an off-site target is the same manifest and tables
            # (each table's checksum checked) encrypted anew: other bytes, no whole-file checksum.
            result = drill_file(path, key, backup_id=args.backup_id,
                                expected_sha256=None if fetched else args.sha256)
        finally:
            if fetched:
                path.unlink(missing_ok=True)
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
