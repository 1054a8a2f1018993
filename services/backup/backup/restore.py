"""Restore every service's database from a backup archive, and restore drills.

``python -m backup.restore ARCHIVE_OR_ID [--force] [--key-file F] [--identity-key-file F]``,
run with the platform stopped, as after a loss:

1. the archive (a file, or a catalogue id looked up in the local target
   directory) is decrypted and checked whole into unnamed temporary files:
   a tampered or cut archive changes no database;
2. every database the settings name (``EJOURNAL_<SERVICE>_DATABASE_URL`` or
   ``<data dir>/<service>.db``) must be empty, unless ``--force``;
3. each service's tables go in through that service's own ``<service>.restore``
   module (its migrations to the archive's schema revision, its import,
   kernel.restore), the backup service's catalogue last, through this one;
   the catalogue then lists the restored archive as done.

Progress (tables, rows, bytes) goes to stderr, as a bar on a terminal.

:func:`drill` restores an archive into scratch SQLite databases and compares
every table, row for row (an order-independent checksum of every row), with
the archive, whose own rows were checked against the manifest's checksums.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from backup import domain, store
from backup.archive import Extracted, extract
from backup.crypto import ArchiveError, KEY_ENV, key_id, parse_key
from backup.targets import LocalDirTarget

log = logging.getLogger("backup.restore")

SERVICE = "backup"


class RestoreFailed(Exception):
    """The restore cannot go on (the message is for the operator)."""


# -- progress ------------------------------------------------------------------

class Progress:
    """Tables, rows and bytes restored; a bar on a terminal, a line per table otherwise."""

    def __init__(self, manifest: dict, out=None, width: int = 30):
        self.out = out if out is not None else sys.stderr
        self.tty = hasattr(self.out, "isatty") and self.out.isatty()
        self.width = width
        self.total_rows = self.total_bytes = self.total_tables = 0
        for svc in manifest.get("services", {}).values():
            for info in svc.get("tables", {}).values():
                self.total_tables += 1
                self.total_rows += int(info.get("rows", 0))
                self.total_bytes += int(info.get("bytes", 0))
        self.rows = self.bytes = self.tables = 0
        self.current = ""
        self.started = time.monotonic()

    def table(self, service: str, table: str):
        """The ``progress(rows, bytes)`` callback of one table."""
        self.tables += 1
        self.current = f"{service}/{table}"
        self._show(final=not self.tty)

        def advance(rows: int, size: int) -> None:
            self.rows += rows
            self.bytes += size
            if self.tty:
                self._show()
        return advance

    def _show(self, final: bool = False) -> None:
        share = self.rows / self.total_rows if self.total_rows else 1.0
        filled = int(share * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        text = (f"[{bar}] {share:4.0%} tables {self.tables}/{self.total_tables} rows {self.rows}/{self.total_rows} "
                f"{self.bytes / 1e6:.1f}/{self.total_bytes / 1e6:.1f} MB {self.current}")
        if self.tty:
            self.out.write("\r" + text[:160].ljust(160))
        else:
            self.out.write(text + "\n")
        self.out.flush()

    def done(self) -> None:
        self.current = f"done in {time.monotonic() - self.started:.1f}s"
        self._show()
        if self.tty:
            self.out.write("\n")
            self.out.flush()


# -- restoring -----------------------------------------------------------------

@dataclass
class Report:
    """What a restore did, per service."""
    services: dict = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(s.get("rows", 0) for s in self.services.values())


def service_module(service: str):
    """The service's own restore code (``<service>.restore``)."""
    if service == SERVICE:
        return sys.modules[__name__]
    try:
        return importlib.import_module(f"{service}.restore")
    except ImportError as exc:
        raise RestoreFailed(f"the archive holds {service}, which this installation cannot restore: {exc}") from None


def restore(url: str, *, revision: str, tables: dict, force: bool = False, progress=None,
            upgrade_to_head: bool = True, **options) -> dict:
    """The backup service's own tables (its catalogue, outbox...): the same
    contract as every service's ``<service>.restore.restore``."""
    from kernel.restore import restore_database
    return restore_database(SERVICE, url, revision=revision, tables=tables, force=force, progress=progress,
                            upgrade_to_head=upgrade_to_head)


def busy_databases(urls: dict) -> dict:
    """``{service: [tables holding rows]}`` of the databases that are not empty."""
    from kernel.db import make_engine
    from kernel.restore import ensure_sqlite_dir, tables_with_rows

    busy = {}
    for service, url in urls.items():
        ensure_sqlite_dir(url)
        engine = make_engine(url)
        try:
            tables = tables_with_rows(engine)
        except Exception as exc:  # unreachable database: the restore would fail there
            raise RestoreFailed(f"{service}: cannot open {_safe_url(url)}: {exc}") from None
        finally:
            engine.dispose()
        if tables:
            busy[service] = tables
    return busy


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: show nothing of it
        return "<database URL>"


def restore_all(extracted: Extracted, urls: dict, *, force: bool = False, progress: Progress | None = None,
                check_keys: bool = True, upgrade_to_head: bool = True, options: dict | None = None) -> Report:
    """Restore every service of ``extracted`` into ``urls[service]`` (the
    backup service's own tables last). Every database is checked for data
    before any is written."""
    services = [s for s in extracted.services if s != SERVICE] + [s for s in extracted.services if s == SERVICE]
    lacking = [s for s in services if s not in urls]
    if lacking:
        raise RestoreFailed(f"no database is configured for {', '.join(lacking)}")
    modules = {s: service_module(s) for s in services}
    if not force:
        busy = busy_databases({s: urls[s] for s in services})
        if busy:
            listed = "; ".join(f"{s}: {', '.join(t[:3])}{'...' if len(t) > 3 else ''}" for s, t in busy.items())
            raise RestoreFailed(f"the databases already hold data ({listed}); restore into empty databases "
                                f"or pass --force to replace them")
    for service in services:  # keys and the like, before any database is written
        precheck = getattr(modules[service], "precheck", None)
        if precheck is not None:
            precheck(extracted.tables(service), check_keys=check_keys, **(options or {}))
    report = Report()
    for service in services:
        tables = extracted.tables(service, progress.table if progress else None)
        report.services[service] = modules[service].restore(
            urls[service], revision=extracted.revision(service), tables=tables, force=force,
            upgrade_to_head=upgrade_to_head, check_keys=check_keys, **(options or {}))
    if progress:
        progress.done()
    return report


def record_restored(url: str, extracted: Extracted, *, archive: Path, targets: list, key: bytes) -> None:
    """After a restore: the catalogue lists the archive it came from as done
    and verified; runs the archive caught unfinished are failed."""
    from kernel.db import make_engine, session_factory, transaction
    from kernel.events import utcnow
    from kernel.migrate import upgrade

    from backup import errors
    from backup.archive import sidecar

    upgrade(SERVICE, url)  # an archive without the catalogue still lists itself
    manifest = sidecar(extracted.manifest, file_name=archive.name, size=extracted.size, sha256=extracted.sha256,
                       key=key)
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            store.record_restored(session, backup_id=manifest["backup_id"],
                                  created_at=domain.parse_time(manifest.get("created_at")) or utcnow(),
                                  size=extracted.size, sha256=extracted.sha256, manifest=manifest,
                                  targets=targets, now=utcnow(), error=errors.text("interrupted_by_restore"))
    finally:
        engine.dispose()


# -- the drill -------------------------------------------------------------------

def drill(extracted: Extracted, *, scratch_dir: str | None = None, expected_sha256: str | None = None) -> dict:
    """Restore ``extracted`` into scratch SQLite databases and compare every
    table with the archive: ``{ok, checked_rows, mismatches}``."""
    from kernel.db import make_engine
    from kernel.restore import TableDigest, reflect, table_digest

    mismatches: list = []
    checked = 0
    if expected_sha256 is not None and extracted.sha256 != expected_sha256:
        mismatches.append({"service": None, "table": None, "problem": "archive_checksum",
                           "expected": expected_sha256, "found": extracted.sha256})
    with tempfile.TemporaryDirectory(prefix="ejournal-drill-", dir=scratch_dir) as tmp:
        urls = {s: f"sqlite:///{Path(tmp) / (s + '.db')}" for s in extracted.services}
        try:
            restore_all(extracted, urls, check_keys=False, upgrade_to_head=False)
        except Exception as exc:  # the restore itself failing is the drill's finding
            log.warning("drill: restore failed: %s", exc)
            return {"ok": False, "checked_rows": 0,
                    "mismatches": mismatches + [{"service": None, "table": None, "problem": "restore_failed",
                                                 "detail": str(exc)[:500]}]}
        for service in extracted.services:
            engine = make_engine(urls[service])
            try:
                schema = reflect(engine)
                with engine.connect() as conn:
                    for table, info in sorted(extracted.manifest["services"][service]["tables"].items()):
                        db_table = schema.tables.get(table)
                        if db_table is None:
                            mismatches.append({"service": service, "table": table, "problem": "missing_table"})
                            continue
                        want = TableDigest(db_table)
                        for row in extracted.rows(service, table):
                            want.add(row)
                        got = table_digest(conn, db_table)
                        checked += got.rows
                        if want.rows != info.get("rows") or got.rows != want.rows or got.hexdigest != want.hexdigest:
                            mismatches.append({"service": service, "table": table, "problem": "rows_differ",
                                               "expected_rows": info.get("rows"), "restored_rows": got.rows})
            finally:
                engine.dispose()
    return {"ok": not mismatches, "checked_rows": checked, "mismatches": mismatches}


def drill_file(path, key: bytes, *, backup_id: str | None = None, expected_sha256: str | None = None,
               scratch_dir: str | None = None) -> dict:
    """:func:`drill` of the archive file at ``path``; an archive that does not
    decrypt or check is a failed drill, not an exception."""
    try:
        with open(path, "rb") as raw, extract(raw, key, backup_id=backup_id, spool_dir=scratch_dir) as extracted:
            return drill(extracted, scratch_dir=scratch_dir, expected_sha256=expected_sha256)
    except (ArchiveError, OSError) as exc:
        return {"ok": False, "checked_rows": 0,
                "mismatches": [{"service": None, "table": None, "problem": "archive_unreadable",
                                "detail": str(exc)[:500]}]}


# -- the command -----------------------------------------------------------------

def _read_key(path: str | None, environ, data_dir: Path) -> bytes:
    """The backup key: the file given, else the settings; never a new one."""
    if path:
        return parse_key(Path(path).read_bytes())
    if environ.get(KEY_ENV):
        return parse_key(environ[KEY_ENV])
    default = data_dir / "keys" / "backup.key"
    if default.exists():
        return parse_key(default.read_bytes())
    raise RestoreFailed(f"no backup key: pass --key-file or set {KEY_ENV}")


def locate(archive: str, backup_dir: Path, remotes=(), spool_dir: str | None = None, out=None,
           key: bytes | None = None):
    """``(path, target name, fetched)`` of an archive file, or of a catalogue id's
    archive: in the local target, else fetched from the first off-site
    target that has it (after a loss the local disk may be gone too)."""
    path = Path(archive)
    if path.is_file():
        return path, LocalDirTarget(path.parent).name, False
    candidate = LocalDirTarget(backup_dir).archive_path(archive)
    if "/" in archive:
        raise RestoreFailed(f"no archive file {archive!r}")
    if candidate.is_file():
        return candidate, LocalDirTarget(backup_dir).name, False
    for config in remotes:
        from backup.targets import open_target
        remote = open_target(config, key)
        try:
            if archive not in remote.list_ids():
                continue
        except Exception as exc:  # an unreachable target: try the next one
            log.warning("backup target %s: %s", config.name, exc)
            continue
        if out is not None:
            out.write(f"fetching {archive} from {config.name}...\n")
        fd, name = tempfile.mkstemp(prefix=f".{archive}.", suffix=".ejbak", dir=spool_dir)
        stream = remote.open(archive)
        try:
            with os.fdopen(fd, "wb") as local:
                for block in iter(lambda: stream.read(1024 * 1024), b""):
                    local.write(block)
        finally:
            stream.close()
        return Path(name), config.name, True
    raise RestoreFailed(f"no archive {archive!r} (neither a file nor a backup id in {backup_dir} "
                        f"or any configured target)")


def main(argv=None, out=None) -> int:
    """Entry point of ``python -m backup.restore``."""
    from kernel import config
    from kernel.restore import RestoreRefused

    parser = argparse.ArgumentParser(prog="python -m backup.restore",
                                     description="Restore every service's database from a backup archive "
                                                 "(run with the platform stopped).")
    parser.add_argument("archive", help="an archive file (.ejbak) or a backup id in the local backup directory")
    parser.add_argument("--force", action="store_true", help="replace databases that already hold data")
    parser.add_argument("--key-file", help="the backup key (base64); default: the settings")
    parser.add_argument("--identity-key-file", help="identity's secret key (base64) of the backed-up deployment; "
                                                    "default: the settings")
    args = parser.parse_args(argv)
    out = out if out is not None else sys.stderr
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = config.load()
    backup_dir = Path(os.environ.get("EJOURNAL_BACKUP_DIR") or settings.data_dir / "backups")
    fetched = None
    try:
        from backup.targets import parse_targets
        key = _read_key(args.key_file, os.environ, settings.data_dir)
        path, where, temporary = locate(args.archive, backup_dir, parse_targets(os.environ, settings.data_dir)[1:],
                                        out=out, key=key)
        fetched = path if temporary else None
        identity_key = None
        if args.identity_key_file:
            from identity import sealing
            identity_key = sealing.parse_key(Path(args.identity_key_file).read_bytes())
        out.write(f"checking {path} (key {key_id(key).hex()})...\n")
        with open(path, "rb") as raw, extract(raw, key) as extracted:
            progress = Progress(extracted.manifest, out=out)
            out.write(f"archive {extracted.manifest['backup_id']} of {extracted.manifest.get('created_at')}: "
                      f"{progress.total_tables} tables, {progress.total_rows} rows, "
                      f"{progress.total_bytes / 1e6:.1f} MB; every checksum matches\n")
            urls = {s: settings.database_url(s) for s in config.SERVICES}
            report = restore_all(extracted, urls, force=args.force, progress=progress,
                                 options={"identity_key": identity_key, "data_dir": settings.data_dir})
            record_restored(urls[SERVICE], extracted, archive=path.resolve(), targets=[where], key=key)
    except RestoreRefused as exc:
        out.write(f"restore refused: {exc}\n")
        return 1
    except (RestoreFailed, ArchiveError, ValueError, OSError) as exc:
        out.write(f"restore failed: {exc}\n")
        return 1
    finally:
        if fetched is not None:
            fetched.unlink(missing_ok=True)
    for service, result in report.services.items():
        out.write(f"  {service}: {result['tables']} tables, {result['rows']} rows\n")
    out.write(f"restored {report.rows} rows from {path.name}; start the platform (make run)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
