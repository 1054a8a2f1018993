"""The backup archive: a tar of ``<service>/<table>.jsonl`` members preceded
by ``manifest.json``, encrypted with :mod:`backup.crypto`.

The manifest records, per service, the schema revision and, per table, the
row count and the SHA-256 of the member's bytes. :func:`read_archive` checks
all of it (and the encryption's own authentication), so an archive that
reads back without an exception is the archive that was written.
"""
from __future__ import annotations

import hashlib
import io
import json

import orjson
import re
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from kernel import export

from backup.crypto import ArchiveError, DecryptingReader, EncryptingWriter, Tampered, key_id

FORMAT = "ejournal-backup"
MANIFEST_VERSION = 1
MANIFEST_NAME = "manifest.json"
CIPHER = "AES-256-GCM/framed-v1"
COMPRESSION = "zstd"
ZSTD_LEVEL = 3
ZSTD_JOB_BYTES = 1024 * 1024
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
SPOOL_MEMORY_BYTES = 4 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,119}$")
_READ_BYTES = 256 * 1024


def valid_name(name) -> bool:
    """A service or table name that is safe as one archive path component."""
    return isinstance(name, str) and bool(_NAME.match(name)) and name not in (".", "..")


def member_name(service: str, table: str) -> str:
    return f"{service}/{table}.jsonl"


_LINE = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
encode_row = export.encode_row  # one JSON line: UTF-8, keys sorted, no spaces (equal rows, equal bytes)


class TableSpool:
    """One table's rows as JSON lines, counted and hashed as they arrive.

    Small tables stay in memory; bigger ones go to an unnamed temporary file
    (no name on disk, so nothing is left behind if the process dies).
    """

    def __init__(self, spool_dir: str | None = None):
        self.file = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES, dir=spool_dir)
        self.digest = hashlib.sha256()
        self.rows = 0
        self.size = 0

    def add(self, rows) -> None:
        """Add a chunk of rows: encoded one by one, written and hashed as one block."""
        if not all(type(row) is dict for row in rows):
            raise ValueError("a row is not an object")
        block = b"".join([orjson.dumps(row, option=_LINE) for row in rows])
        self.file.write(block)
        self.digest.update(block)
        self.size += len(block)
        self.rows += len(rows)

    def add_lines(self, lines: export.JsonLines) -> None:
        """Add a chunk the export encoded itself (kernel.export.export_lines):
        written and hashed as it is."""
        block = lines.data
        if lines.count != block.count(b"\n") or (block and not block.endswith(b"\n")):
            raise ValueError("a chunk of JSON lines does not hold its count of lines")
        self.file.write(block)
        self.digest.update(block)
        self.size += len(block)
        self.rows += lines.count

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()

    def close(self) -> None:
        self.file.close()


class ServiceSpool:
    """Every table of one service, as streamed by its export."""

    def __init__(self, service: str, spool_dir: str | None = None):
        if not valid_name(service):
            raise ValueError(f"bad service name {service!r}")
        self.service = service
        self.spool_dir = spool_dir
        self.tables: dict[str, TableSpool] = {}
        self.revision: str | None = None

    def add_chunk(self, table: str, rows, revision) -> None:
        """Add one exported chunk ``(table, rows, revision)``: rows as a list
        of dicts, or a :class:`kernel.export.JsonLines` already encoded."""
        if not valid_name(table):
            raise ValueError(f"bad table name {table!r}")
        if not isinstance(rows, (list, export.JsonLines)):
            raise ValueError(f"rows of {table} are not a list")
        revision = revision or ""
        if not isinstance(revision, str):
            raise ValueError("schema revision is not a string")
        if self.revision is None:
            self.revision = revision
        elif revision != self.revision:
            raise ValueError(f"schema revision changed during export ({self.revision} -> {revision})")
        spool = self.tables.get(table)
        if spool is None:
            spool = self.tables[table] = TableSpool(self.spool_dir)
        if isinstance(rows, export.JsonLines):
            spool.add_lines(rows)
        else:
            spool.add(rows)

    def summary(self) -> dict:
        return {
            "schema_revision": self.revision or "",
            "tables": {name: {"rows": t.rows, "bytes": t.size, "sha256": t.sha256}
                       for name, t in sorted(self.tables.items())},
        }

    def close(self) -> None:
        for spool in self.tables.values():
            spool.close()


def build_manifest(*, backup_id: str, created_at: str, services: dict) -> dict:
    """The archive's manifest from ``{service: ServiceSpool}``."""
    return {
        "format": FORMAT,
        "format_version": MANIFEST_VERSION,
        "backup_id": backup_id,
        "created_at": created_at,
        "services": {name: services[name].summary() for name in sorted(services)},
    }


def manifest_totals(manifest: dict) -> dict:
    """``{"tables": n, "rows": n}`` over the whole manifest."""
    tables = rows = 0
    for svc in manifest.get("services", {}).values():
        for t in svc.get("tables", {}).values():
            tables += 1
            rows += int(t.get("rows", 0))
    return {"tables": tables, "rows": rows}


class _HashingWriter:
    def __init__(self, raw):
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self.raw.write(data)
        self.digest.update(data)
        self.size += len(data)
        return len(data)


class _HashingReader:
    def __init__(self, raw):
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data


def _tarinfo(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(mtime)
    info.mode = 0o600
    info.type = tarfile.REGTYPE
    return info


def write_archive(out, key: bytes, manifest: dict, services: dict, *, mtime: float = 0) -> dict:
    """Write the encrypted archive to the binary file ``out``.

    Returns ``{"size", "sha256"}`` of the encrypted bytes written.
    """
    import zstandard

    hashing = _HashingWriter(out)
    writer = EncryptingWriter(hashing, key)
    # compressed before it is encrypted (ciphertext does not compress)
    # threads=1: compressed in zstd's own thread while this one feeds it (as zstd -T1); 1 MiB jobs keep
    # its buffers at a few MB (the default 8 MiB jobs cost 30 MB more) for 1 % more bytes
    params = zstandard.ZstdCompressionParameters.from_level(ZSTD_LEVEL, threads=1, job_size=ZSTD_JOB_BYTES)
    compressor = zstandard.ZstdCompressor(compression_params=params).stream_writer(writer, closefd=False)
    with tarfile.open(fileobj=compressor, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        body = json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")
        tar.addfile(_tarinfo(MANIFEST_NAME, len(body), mtime), io.BytesIO(body))
        for service in sorted(services):
            for table, spool in sorted(services[service].tables.items()):
                spool.file.seek(0)
                tar.addfile(_tarinfo(member_name(service, table), spool.size, mtime), spool.file)
    compressor.flush(zstandard.FLUSH_FRAME)
    compressor.close()
    writer.close()
    return {"size": hashing.size, "sha256": hashing.digest.hexdigest()}


@dataclass
class ArchiveContents:
    """What :func:`read_archive` found: the manifest, the rows (when kept)
    and the size and SHA-256 of the encrypted file."""
    manifest: dict
    rows: dict = field(default_factory=dict)
    sha256: str = ""
    size: int = 0


def _check_manifest(manifest) -> dict:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveError("manifest is not an eJournal backup manifest")
    if manifest.get("format_version") != MANIFEST_VERSION:
        raise ArchiveError(f"unsupported manifest version {manifest.get('format_version')}")
    services = manifest.get("services")
    if not isinstance(services, dict):
        raise ArchiveError("manifest lists no services")
    expected = {}
    for service, entry in services.items():
        tables = entry.get("tables") if isinstance(entry, dict) else None
        if not valid_name(service) or not isinstance(tables, dict):
            raise ArchiveError(f"manifest entry for {service!r} is malformed")
        for table, info in tables.items():
            if not valid_name(table) or not isinstance(info, dict):
                raise ArchiveError(f"manifest entry for {service}/{table} is malformed")
            expected[member_name(service, table)] = (service, table, info)
    return expected


def _read_member(stream, keep: bool, sink=None):
    digest = hashlib.sha256()
    count = 0
    rows = [] if keep else None
    partial = b""
    while True:
        data = stream.read(_READ_BYTES)
        if not data:
            break
        if sink is not None:
            sink.write(data)
        digest.update(data)
        count += data.count(b"\n")
        if keep:
            lines = (partial + data).split(b"\n")
            partial = lines.pop()
            for line in lines:
                rows.append(orjson.loads(line))
    if partial:
        raise Tampered("member does not end with a newline")
    return digest.hexdigest(), count, rows


class _Plaintext:
    """The tar stream inside the decrypted bytes: zstd-compressed (what
    :func:`write_archive` writes) or, in archives written before
    compression, the tar itself; told apart by zstd's frame magic."""

    def __init__(self, reader):
        import zstandard

        self.reader = reader
        head = reader.read(len(_ZSTD_MAGIC))
        self.compressed = head == _ZSTD_MAGIC
        source = _Prefixed(head, reader)
        try:
            self.stream = (zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True)
                           if self.compressed else source)
        except zstandard.ZstdError as exc:
            raise Tampered(f"archive does not decompress: {exc}") from None

    def read(self, n: int = -1) -> bytes:
        import zstandard
        try:
            return self.stream.read(n)
        except zstandard.ZstdError as exc:
            raise Tampered(f"archive does not decompress: {exc}") from None

    def drain(self) -> None:
        while self.read(_READ_BYTES):
            pass


class _Prefixed:
    def __init__(self, head: bytes, rest):
        self.head = head
        self.rest = rest

    def read(self, n: int = -1) -> bytes:
        if self.head:
            if n is None or n < 0:
                data, self.head = self.head + self.rest.read(), b""
                return data
            data, self.head = self.head[:n], self.head[n:]
            return data
        return self.rest.read(n)


def read_stream(raw, key: bytes, *, keep_rows: bool = True, backup_id: str | None = None,
                sink=None) -> ArchiveContents:
    """Decrypt, unpack and check an archive read from the binary file ``raw``.

    ``sink(service, table)``, when given, returns a binary file that receives
    the member's bytes as they are read (checked against the manifest only at
    the member's end: trust them after this returns)."""
    hashing = _HashingReader(raw)
    reader = DecryptingReader(hashing, key)
    plain = _Plaintext(reader)
    try:
        tar = tarfile.open(fileobj=plain, mode="r|")
    except tarfile.TarError as exc:
        raise ArchiveError(f"archive is not a tar: {exc}") from None
    manifest = None
    expected: dict = {}
    seen: set = set()
    rows: dict = {}
    try:
        for member in tar:
            if not member.isfile():
                raise ArchiveError(f"unexpected archive member {member.name!r}")
            stream = tar.extractfile(member)
            if manifest is None:
                if member.name != MANIFEST_NAME:
                    raise ArchiveError("the archive does not start with its manifest")
                try:
                    manifest = json.loads(stream.read())
                except ValueError:
                    raise ArchiveError("manifest is not JSON") from None
                expected = _check_manifest(manifest)
                if backup_id is not None and manifest.get("backup_id") != backup_id:
                    raise ArchiveError("archive belongs to another backup")
                continue
            if member.name not in expected or member.name in seen:
                raise ArchiveError(f"unexpected archive member {member.name!r}")
            seen.add(member.name)
            service, table, info = expected[member.name]
            try:
                sha, count, table_rows = _read_member(
                    stream, keep_rows, sink(service, table) if sink is not None else None)
            except ValueError:
                raise Tampered(f"{member.name} holds a line that is not JSON") from None
            if sha != info.get("sha256") or count != info.get("rows"):
                raise Tampered(f"{member.name} does not match its manifest checksum")
            if keep_rows:
                rows.setdefault(service, {})[table] = table_rows
    except tarfile.TarError as exc:
        raise ArchiveError(f"archive is not a valid tar: {exc}") from None
    if manifest is None:
        raise ArchiveError("archive has no manifest")
    missing = sorted(set(expected) - seen)
    if missing:
        raise Tampered(f"archive lacks {', '.join(missing)}")
    # The tar may end before the encrypted stream does: authenticate the rest
    # too, so a cut after the last member is still detected.
    plain.drain()
    reader.finish()
    return ArchiveContents(manifest=manifest, rows=rows, sha256=hashing.digest.hexdigest(), size=hashing.size)


def read_archive(path, key: bytes, *, keep_rows: bool = True, backup_id: str | None = None) -> ArchiveContents:
    """Read the archive at ``path`` back: its manifest and rows
    (``{service: {table: [row, ...]}}``). Raises :class:`ArchiveError`
    (:class:`Tampered`, :class:`WrongKey`) unless every byte checks out."""
    with open(path, "rb") as raw:
        return read_stream(raw, key, keep_rows=keep_rows, backup_id=backup_id)


def verify_archive(path, key: bytes, *, manifest: dict, sha256: str | None = None) -> ArchiveContents:
    """Read ``path`` back without keeping rows and check that it holds
    exactly ``manifest`` (and, when given, that its bytes hash to ``sha256``)."""
    contents = read_archive(path, key, keep_rows=False, backup_id=manifest.get("backup_id"))
    if contents.manifest != manifest:
        raise Tampered("archive manifest differs from the one written")
    if sha256 is not None and contents.sha256 != sha256:
        raise Tampered("archive checksum differs from the one written")
    return contents


def sidecar(manifest: dict, *, file_name: str, size: int, sha256: str, key: bytes) -> dict:
    """The ``<id>.manifest.json`` written next to an archive: checksums and
    counts only (no personal data), readable without the key."""
    return {
        **manifest,
        "archive": {"file": file_name, "size": size, "sha256": sha256, "compression": COMPRESSION,
                    "cipher": CIPHER, "key_id": key_id(key).hex()},
    }


def check_sidecar(path, sidecar_doc: dict) -> None:
    """Raise :class:`Tampered` unless the file at ``path`` matches ``sidecar_doc``
    (size and SHA-256 of the encrypted bytes; no key needed)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as raw:
        for block in iter(lambda: raw.read(_READ_BYTES), b""):
            digest.update(block)
            size += len(block)
    info = sidecar_doc.get("archive", {})
    if size != info.get("size") or digest.hexdigest() != info.get("sha256"):
        raise Tampered(f"{Path(path).name} does not match its manifest")


class Extracted:
    """An archive unpacked into unnamed temporary files (nothing with a name
    is left on disk, even if the process dies), every member checked: the
    manifest and each table's rows, read back as often as needed."""

    def __init__(self, manifest: dict, files: dict, sha256: str, size: int):
        self.manifest = manifest
        self.files = files
        self.sha256 = sha256
        self.size = size

    @property
    def services(self) -> list[str]:
        return sorted(self.manifest.get("services", {}))

    def revision(self, service: str) -> str:
        return self.manifest["services"][service].get("schema_revision") or ""

    def rows(self, service: str, table: str, progress=None):
        """Yield the rows of one table; ``progress(rows, bytes)`` after every
        block read. A block of lines is parsed as one JSON array (a JSON
        line holds no raw newline): one C call, not one a row."""
        handle = self.files[service][table]
        handle.seek(0)
        tail = b""
        while True:
            block = handle.read(_READ_BYTES)
            if not block:
                break
            if tail:
                block = tail + block
            cut = block.rfind(b"\n") + 1
            tail = block[cut:]
            if cut:
                yield from orjson.loads(b"[" + block[:cut - 1].replace(b"\n", b",") + b"]")
                if progress is not None:
                    progress(block.count(b"\n", 0, cut), cut)
        if tail:  # checked at extraction: every member ends with a newline
            yield orjson.loads(tail)
            if progress is not None:
                progress(1, len(tail))

    def tables(self, service: str, progress=None) -> dict:
        """``{table: function yielding its rows}`` (what a service's restore takes)."""
        return {table: (lambda t=table: self.rows(service, t, progress(service, t) if progress else None))
                for table in self.files.get(service, {})}

    def close(self) -> None:
        for tables in self.files.values():
            for handle in tables.values():
                handle.close()
        self.files = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def extract(raw, key: bytes, *, backup_id: str | None = None, spool_dir: str | None = None) -> Extracted:
    """Decrypt and check the whole archive read from ``raw`` into unnamed
    temporary files; :class:`ArchiveError` (and nothing kept) unless every
    byte and checksum matches."""
    files: dict = {}

    def sink(service, table):
        handle = files.setdefault(service, {})[table] = tempfile.TemporaryFile(dir=spool_dir)
        return handle

    try:
        contents = read_stream(raw, key, keep_rows=False, backup_id=backup_id, sink=sink)
    except BaseException:
        for tables in files.values():
            for handle in tables.values():
                handle.close()
        raise
    for service, entry in contents.manifest["services"].items():
        for table in entry["tables"]:
            files.setdefault(service, {}).setdefault(table, tempfile.TemporaryFile(dir=spool_dir))
    return Extracted(contents.manifest, files, contents.sha256, contents.size)
