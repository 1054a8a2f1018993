"""Where archives are kept. One small class per kind of target; the local
directory is the first (and the staging place for later off-site copies)."""
from __future__ import annotations

import json
import os
import secrets
from contextlib import contextmanager
from pathlib import Path

ARCHIVE_SUFFIX = ".ejbak"
MANIFEST_SUFFIX = ".manifest.json"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalDirTarget:
    """Archives as ``<dir>/<id>.ejbak`` with ``<dir>/<id>.manifest.json`` beside.

    Files appear under their final name only when complete (written to a
    hidden ``.part`` file, synced, then renamed), so a reader never sees a
    half-written archive.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()

    @property
    def name(self) -> str:
        """The target as listed in the catalogue (``local:<dir>``)."""
        return f"local:{self.root}"

    def ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def archive_path(self, backup_id: str) -> Path:
        return self.root / f"{backup_id}{ARCHIVE_SUFFIX}"

    def manifest_path(self, backup_id: str) -> Path:
        return self.root / f"{backup_id}{MANIFEST_SUFFIX}"

    def _part(self, final: Path) -> Path:
        # A unique name per writer: a worker that lost its lease and the one
        # that took over never write into the same file.
        return final.with_name(f".{final.name}.{secrets.token_hex(4)}.part")

    @contextmanager
    def open_archive(self, backup_id: str):
        """A binary file to write the archive into; published on success,
        removed on error."""
        self.ensure()
        final = self.archive_path(backup_id)
        part = self._part(final)
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                yield out
                out.flush()
                os.fsync(out.fileno())
            os.replace(part, final)
            _fsync_dir(self.root)
        except BaseException:
            part.unlink(missing_ok=True)
            raise

    def write_manifest(self, backup_id: str, doc: dict) -> Path:
        """Write the public manifest next to the archive (atomically)."""
        self.ensure()
        final = self.manifest_path(backup_id)
        part = self._part(final)
        data = json.dumps(doc, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(part, final)
            _fsync_dir(self.root)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        return final

    def discard(self, backup_id: str) -> None:
        """Remove everything of ``backup_id`` (a failed or abandoned run)."""
        for path in (self.archive_path(backup_id), self.manifest_path(backup_id)):
            path.unlink(missing_ok=True)
            for part in self.root.glob(f".{path.name}.*.part"):
                part.unlink(missing_ok=True)

    def writable(self) -> bool:
        """Whether the directory exists (or can be made) and takes writes."""
        try:
            self.ensure()
        except OSError:
            return False
        return os.access(self.root, os.W_OK | os.X_OK)
