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

    def __init__(self, root: str | os.PathLike, label: str = "local"):
        self.root = Path(root).resolve()
        self.label = label

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

    def put(self, backup_id: str, archive: Path, manifest: dict) -> None:
        """Copy a finished archive here (another local directory than the
        one it was written in), read it back and compare."""
        if Path(archive).resolve() == self.archive_path(backup_id):
            return
        import shutil

        sha256, size = file_sha256(archive)
        with self.open_archive(backup_id) as out, open(archive, "rb") as source:
            shutil.copyfileobj(source, out, _READ)
        if file_sha256(self.archive_path(backup_id)) != (sha256, size):
            self.discard(backup_id)
            raise TargetError(f"{self.name}: the copied archive reads back differently")
        self.write_manifest(backup_id, manifest)

    def open(self, backup_id: str):
        return open(self.archive_path(backup_id), "rb")

    def list_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name[:-len(ARCHIVE_SUFFIX)] for p in self.root.glob(f"*{ARCHIVE_SUFFIX}")
                      if not p.name.startswith("."))

    def delete(self, backup_id: str) -> None:
        self.discard(backup_id)

    def keys_inside(self) -> list[Path]:
        """Key files kept in this directory (they should not be: R-D5)."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.rglob("*.key") if p.is_file())

    def writable(self) -> bool:
        """Whether the directory exists (or can be made) and takes writes."""
        try:
            self.ensure()
        except OSError:
            return False
        return os.access(self.root, os.W_OK | os.X_OK)


# -- more than one target -----------------------------------------------------------
#
# The local directory is where every archive is written and verified first
# (the staging place, and a target itself: the external media of R-D1).
# Off-site targets get a copy of the finished archive and its public
# manifest, each on its own schedule; see TargetConfig and parse_targets.

import hashlib
import math
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_LOCAL_EVERY_HOURS = 336.0    # every two weeks (R-D1)
DEFAULT_REMOTE_EVERY_HOURS = 720.0   # monthly (R-D1)
_LABEL = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
_READ = 1024 * 1024


class TargetError(Exception):
    """A copy on a target failed or does not match what was written."""


@dataclass(frozen=True)
class TargetConfig:
    """One configured target: ``label`` (the name in the settings), ``url``,
    how often it gets a copy, and its extra settings (credentials, keys)."""
    label: str
    url: str
    every_hours: float
    options: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        scheme = urlsplit(self.url).scheme
        return {"": "local", "file": "local"}.get(scheme, scheme)

    @property
    def name(self) -> str:
        """The target as the catalogue lists it (no secrets)."""
        parts = urlsplit(self.url)
        if self.kind == "local":
            return f"local:{Path(unquote(parts.path) if parts.scheme else self.url).resolve()}"
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        if parts.username:
            netloc = f"{parts.username}@{netloc}"
        return f"{parts.scheme}://{netloc}{parts.path}".rstrip("/")


def _hours(value, name: str, default: float) -> float:
    if value in (None, ""):
        return default
    try:
        hours = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number of hours, got {value!r}") from None
    if hours < 0 or not math.isfinite(hours):
        raise ValueError(f"{name} must be 0 (off) or a positive number of hours")
    return hours


def parse_targets(environ, data_dir) -> list[TargetConfig]:
    """Every target of the settings, the local directory first:

    - ``EJOURNAL_BACKUP_DIR`` (default ``<data dir>/backups``) every
      ``EJOURNAL_BACKUP_EVERY_HOURS`` (default 336: two weeks; 0 = off);
    - each name in ``EJOURNAL_BACKUP_TARGETS`` (comma-separated) is
      ``EJOURNAL_BACKUP_TARGET_<NAME>``: ``file:///dir``, ``s3://bucket/prefix``
      or ``sftp://user@host:port/dir``, every
      ``EJOURNAL_BACKUP_TARGET_<NAME>_EVERY_HOURS`` (default 720: monthly),
      its other ``EJOURNAL_BACKUP_TARGET_<NAME>_*`` settings in ``options``.
    """
    local = TargetConfig("local", str(environ.get("EJOURNAL_BACKUP_DIR") or Path(data_dir) / "backups"),
                         _hours(environ.get("EJOURNAL_BACKUP_EVERY_HOURS"), "EJOURNAL_BACKUP_EVERY_HOURS",
                                DEFAULT_LOCAL_EVERY_HOURS))
    configs = [local]
    for raw in (environ.get("EJOURNAL_BACKUP_TARGETS") or "").split(","):
        label = raw.strip().lower()
        if not label:
            continue
        if not _LABEL.match(label) or label == "local" or any(c.label == label for c in configs):
            raise ValueError(f"bad or repeated backup target name {raw.strip()!r} in EJOURNAL_BACKUP_TARGETS")
        prefix = f"EJOURNAL_BACKUP_TARGET_{label.upper()}"
        url = environ.get(prefix)
        if not url:
            raise ValueError(f"{prefix} is not set (the URL of backup target {label!r})")
        config = TargetConfig(label, url, _hours(environ.get(prefix + "_EVERY_HOURS"), prefix + "_EVERY_HOURS",
                                                 DEFAULT_REMOTE_EVERY_HOURS),
                              {k[len(prefix) + 1:].lower(): v for k, v in environ.items()
                               if k.startswith(prefix + "_") and not k.endswith("_EVERY_HOURS")})
        if config.kind not in ("local", "s3", "sftp"):
            raise ValueError(f"{prefix}: unknown kind of target {config.kind!r} (file://, s3:// or sftp://)")
        configs.append(config)
    return configs


def open_target(config: TargetConfig, key: bytes | None = None):
    """The target object of ``config`` (clients are made on first use).
    Off-site targets keep per-table chunks (backup.chunks) and need the
    backup ``key`` to write or read them."""
    if config.kind == "local":
        parts = urlsplit(config.url)
        return LocalDirTarget(unquote(parts.path) if parts.scheme else config.url, label=config.label)
    if config.kind == "s3":
        return S3Target(config, key)
    return SftpTarget(config, key)


def file_sha256(path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_READ), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def stream_sha256(stream) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for block in iter(lambda: stream.read(_READ), b""):
        digest.update(block)
        size += len(block)
    return digest.hexdigest(), size


def _manifest_bytes(doc: dict) -> bytes:
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")


class S3Target:
    """Backups as objects under ``<prefix>/`` in an S3-compatible bucket, as
    per-table chunks (backup.chunks: ``chunks/<id>``, ``<backup>.index``,
    ``<backup>.manifest.json``). Big objects go up in parts (multipart, each
    part checksummed by the server); every object is read back and its
    SHA-256 compared before it counts. Credentials: the target's ``_ACCESS_KEY_ID``
    / ``_SECRET_ACCESS_KEY`` settings, else boto3's usual sources."""

    def __init__(self, config: TargetConfig, key: bytes | None = None):
        parts = urlsplit(config.url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.key = key
        self.config = config
        self.label = config.label
        self.bucket = parts.hostname or ""
        if not self.bucket:
            raise ValueError(f"backup target {config.label}: no bucket in {config.url!r}")
        self.prefix = parts.path.strip("/")
        self.endpoint = query.get("endpoint") or config.options.get("endpoint")
        self.region = query.get("region") or config.options.get("region") or "us-east-1"
        self.part_bytes = int(float(config.options.get("part_mb") or 8) * 1024 * 1024)
        self._client = None

    @property
    def name(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    @property
    def client(self):
        if self._client is None:
            import boto3
            from botocore.config import Config

            options = self.config.options
            self._client = boto3.client(
                "s3", endpoint_url=self.endpoint, region_name=self.region,
                aws_access_key_id=options.get("access_key_id"), aws_secret_access_key=options.get("secret_access_key"),
                config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=60))
        return self._client

    # -- blobs (backup.chunks keeps a backup as chunks + index) --------------

    def _blob_key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def put_blob(self, name: str, source) -> None:
        """Upload ``source`` (a seekable binary file), in parts when big;
        read it back and compare before it counts."""
        from boto3.s3.transfer import TransferConfig

        sha256, size = stream_sha256(source)
        source.seek(0)
        config = TransferConfig(multipart_threshold=self.part_bytes, multipart_chunksize=self.part_bytes,
                                use_threads=False)
        key = self._blob_key(name)
        self.client.upload_fileobj(source, self.bucket, key, Config=config,
                                   ExtraArgs={"Metadata": {"sha256": sha256}, "ChecksumAlgorithm": "SHA256"})
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            got = stream_sha256(body)
        finally:
            body.close()
        if got != (sha256, size):
            raise TargetError(f"{self.name}: {name} reads back differently than it was uploaded")

    def get_blob(self, name: str):
        return self.client.get_object(Bucket=self.bucket, Key=self._blob_key(name))["Body"]

    def list_blobs(self, prefix: str) -> list[str]:
        base = f"{self.prefix}/" if self.prefix else ""
        names = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base + prefix):
            names += [item["Key"][len(base) + len(prefix):] for item in page.get("Contents", [])]
        return names

    def delete_blob(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._blob_key(name))

    # -- backups ----------------------------------------------------------------

    def put(self, backup_id: str, archive: Path, manifest: dict):
        """Copy a finished archive as per-table chunks (backup.chunks): the
        chunks this bucket already holds are not uploaded again."""
        from backup import chunks
        return chunks.upload(self, backup_id, archive, manifest, self.key)

    def open(self, backup_id: str):
        """The backup's one-file archive, reassembled from its chunks (a temporary file)."""
        return _reassembled(self, backup_id, self.key)

    def list_ids(self) -> list[str]:
        from backup import chunks
        return chunks.index_ids(self)

    def delete(self, backup_id: str) -> None:
        from backup import chunks
        for name in (backup_id + chunks.INDEX_SUFFIX, backup_id + MANIFEST_SUFFIX):
            self.delete_blob(name)

    def collect_garbage(self, keep_manifests) -> int:
        from backup import chunks
        return chunks.collect_garbage(self, keep_manifests, self.key)

    def close(self) -> None:
        self._client = None


class SftpTarget:
    """Backups as files under ``<dir>/`` on an SSH server, as per-table
    chunks (backup.chunks: ``chunks/<id>``, ``<backup>.index``,
    ``<backup>.manifest.json``). The host key must be known (``_KNOWN_HOSTS``, a known_hosts
    file: an unknown or changed key is refused); the login is by key
    (``_SSH_KEY``, a private key file). Files appear under their final name
    only when complete (uploaded as a hidden ``.part``, read back and
    compared, then renamed)."""

    def __init__(self, config: TargetConfig, key: bytes | None = None):
        parts = urlsplit(config.url)
        self.key = key
        self._sftp = None
        self.config = config
        self.label = config.label
        self.host = parts.hostname
        self.port = parts.port or 22
        self.user = parts.username
        self.path = unquote(parts.path) or "."
        self.key_file = config.options.get("ssh_key")
        self.known_hosts = config.options.get("known_hosts")
        if not (self.host and self.user):
            raise ValueError(f"backup target {config.label}: sftp://user@host[:port]/dir, got {config.url!r}")
        if not self.known_hosts:
            raise ValueError(f"backup target {config.label}: EJOURNAL_BACKUP_TARGET_{config.label.upper()}_KNOWN_HOSTS "
                             f"(the server's host key) is required")

    @property
    def name(self) -> str:
        return f"sftp://{self.user}@{self.host}:{self.port}{self.path}"

    @contextmanager
    def session(self):
        """An SFTP session: the one :meth:`connected` holds open, else a new one."""
        if self._sftp is not None:
            yield self._sftp
            return
        import paramiko

        client = paramiko.SSHClient()
        client.load_host_keys(self.known_hosts)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(self.host, port=self.port, username=self.user, key_filename=self.key_file,
                           look_for_keys=False, allow_agent=False, timeout=15, banner_timeout=15, auth_timeout=15)
            sftp = client.open_sftp()
            try:
                yield sftp
            finally:
                sftp.close()
        finally:
            client.close()

    @contextmanager
    def connected(self):
        """Keep one session open for every call inside (a copy is many files)."""
        if self._sftp is not None:
            yield self
            return
        with self.session() as sftp:
            self._sftp = sftp
            try:
                yield self
            finally:
                self._sftp = None

    def _mkdirs(self, sftp, path: str) -> None:
        current = "/" if path.startswith("/") else ""
        for part in [p for p in path.split("/") if p]:
            current = f"{current}{part}/"
            try:
                sftp.stat(current)
            except FileNotFoundError:
                sftp.mkdir(current, mode=0o700)

    def _file(self, name: str) -> str:
        return f"{self.path.rstrip('/')}/{name}"

    # -- blobs (backup.chunks keeps a backup as chunks + index) --------------

    def put_blob(self, name: str, source) -> None:
        """Upload ``source`` as a hidden ``.part``, read it back and compare,
        then rename it to ``name``."""
        sha256, size = stream_sha256(source)
        source.seek(0)
        final = self._file(name)
        folder, _, base = final.rpartition("/")
        part = f"{folder}/.{base}.{secrets.token_hex(4)}.part"
        with self.session() as sftp:
            self._mkdirs(sftp, folder)
            try:
                sftp.putfo(source, part, confirm=True)
                with sftp.open(part, "rb") as remote:
                    remote.prefetch()
                    got = stream_sha256(remote)
                if got != (sha256, size):
                    raise TargetError(f"{self.name}: {name} reads back differently than it was uploaded")
                sftp.posix_rename(part, final)
            except BaseException:
                try:
                    sftp.remove(part)
                except OSError:
                    pass
                raise

    def get_blob(self, name: str):
        """The blob's bytes as a readable stream (close it: that ends its session)."""
        ctx = self.session()
        sftp = ctx.__enter__()
        try:
            remote = sftp.open(self._file(name), "rb")
            remote.prefetch()
        except BaseException:
            ctx.__exit__(None, None, None)
            raise

        class _Stream:
            def read(self, n=-1):
                return remote.read(n)

            def close(self):
                remote.close()
                ctx.__exit__(None, None, None)
        return _Stream()

    def list_blobs(self, prefix: str) -> list[str]:
        folder, _, start = self._file(prefix).rpartition("/")
        with self.session() as sftp:
            try:
                names = sftp.listdir(folder)
            except FileNotFoundError:
                return []
        return [n[len(start):] for n in names if n.startswith(start) and not n.startswith(".")]

    def delete_blob(self, name: str) -> None:
        with self.session() as sftp:
            try:
                sftp.remove(self._file(name))
            except FileNotFoundError:
                pass

    # -- backups ----------------------------------------------------------------

    def put(self, backup_id: str, archive: Path, manifest: dict):
        """Copy a finished archive as per-table chunks (backup.chunks), in one session."""
        from backup import chunks
        with self.connected():
            return chunks.upload(self, backup_id, archive, manifest, self.key)

    def open(self, backup_id: str):
        """The backup's one-file archive, reassembled from its chunks (a temporary file)."""
        with self.connected():
            return _reassembled(self, backup_id, self.key)

    def list_ids(self) -> list[str]:
        from backup import chunks
        return chunks.index_ids(self)

    def delete(self, backup_id: str) -> None:
        from backup import chunks
        with self.connected():
            for name in (backup_id + chunks.INDEX_SUFFIX, backup_id + MANIFEST_SUFFIX):
                self.delete_blob(name)

    def collect_garbage(self, keep_manifests) -> int:
        from backup import chunks
        with self.connected():
            return chunks.collect_garbage(self, keep_manifests, self.key)


def _reassembled(store, backup_id: str, key: bytes | None):
    """A temporary file holding ``backup_id``'s archive rebuilt from ``store``'s chunks."""
    import tempfile

    from backup import chunks

    if key is None:
        raise ValueError(f"{store.name}: the backup key is needed to read chunked backups")
    out = tempfile.TemporaryFile()
    try:
        chunks.fetch(store, backup_id, key, out)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out
