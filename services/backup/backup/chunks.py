"""Per-table chunks on off-site targets: an unchanged table is not uploaded again.

The local directory keeps each backup as one archive (backup.archive). An
off-site target keeps it as

- ``chunks/<chunk id>``: one table's JSON lines, zstd-compressed and
  encrypted on their own (backup.crypto framing, a fresh data key each);
- ``<id>.index``: the backup's manifest and its chunk ids, encrypted;
- ``<id>.manifest.json``: the public manifest (checksums and counts only).

A chunk's id is HMAC-SHA256, under a key derived from the master key, of the
table's service, name and SHA-256 (the manifest's): the same table content
gives the same id in every backup, and the id tells nothing about the content
to whoever holds the target. A copy uploads only the chunks the target does
not hold yet (each read back and compared); a school's journal changes every
day, but most of its 77 tables (people, classes, plans, messages already
read...) do not, and those are not sent again.

Fetching a backup reassembles the one-file archive from its chunks, byte for
byte the same manifest and tables (every table's SHA-256 checked), so a
restore, a drill and a download work on it like on a local archive. Pruning
removes a backup's index and then the chunks no remaining backup refers to
(ids computed from the catalogue's manifests: no need to read the indexes).
"""
from __future__ import annotations

import hashlib
import hmac
import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from backup.archive import COMPRESSION, Extracted, ServiceSpool, TableSpool, ZSTD_LEVEL, extract, write_archive
from backup.crypto import DecryptingReader, EncryptingWriter, Tampered, key_id

CHUNKS = "chunks/"
INDEX_SUFFIX = ".index"
_READ = 1024 * 1024
_ID_LABEL = b"ejournal-backup/v1/chunk-id"


def chunk_id(key: bytes, service: str, table: str, sha256: str) -> str:
    mac_key = hashlib.sha256(_ID_LABEL + b"\x00" + key).digest()
    return hmac.new(mac_key, f"{service}/{table}/{sha256}".encode(), hashlib.sha256).hexdigest()


def chunk_ids(manifest: dict, key: bytes) -> dict:
    """``{(service, table): chunk id}`` of a manifest."""
    return {(service, table): chunk_id(key, service, table, info["sha256"])
            for service, entry in manifest.get("services", {}).items()
            for table, info in entry.get("tables", {}).items()}


@dataclass
class UploadStats:
    chunks: int = 0
    uploaded: int = 0
    bytes_uploaded: int = 0
    bytes_skipped: int = 0

    def as_dict(self) -> dict:
        return dict(chunks=self.chunks, uploaded=self.uploaded, bytes_uploaded=self.bytes_uploaded,
                    bytes_skipped=self.bytes_skipped)


def _seal(source, key: bytes, spool_dir=None):
    """A temporary file holding ``source``'s bytes, zstd-compressed, then encrypted."""
    import zstandard

    out = tempfile.TemporaryFile(dir=spool_dir)
    writer = EncryptingWriter(out, key)
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL).stream_writer(writer, closefd=False)
    for block in iter(lambda: source.read(_READ), b""):
        compressor.write(block)
    compressor.flush(zstandard.FLUSH_FRAME)
    compressor.close()
    writer.close()
    out.seek(0)
    return out


def _open_sealed(stream, key: bytes):
    """A reader of the plaintext of a sealed blob."""
    import zstandard

    return zstandard.ZstdDecompressor().stream_reader(DecryptingReader(stream, key), read_across_frames=True)


def upload(store, backup_id: str, archive: Path, public_manifest: dict, key: bytes,
           spool_dir=None) -> UploadStats:
    """Copy the local archive to ``store`` as chunks + index; only missing chunks go up."""
    stats = UploadStats()
    present = set(store.list_blobs(CHUNKS))
    with open(archive, "rb") as raw, extract(raw, key, backup_id=backup_id, spool_dir=spool_dir) as extracted:
        ids = chunk_ids(extracted.manifest, key)
        for (service, table), cid in sorted(ids.items()):
            stats.chunks += 1
            size = extracted.manifest["services"][service]["tables"][table]["bytes"]
            if cid in present:
                stats.bytes_skipped += size
                continue
            handle = extracted.files[service][table]
            handle.seek(0)
            with _seal(handle, key, spool_dir) as sealed:
                store.put_blob(CHUNKS + cid, sealed)
            present.add(cid)
            stats.uploaded += 1
            stats.bytes_uploaded += size
        index = json.dumps({"manifest": extracted.manifest, "key_id": key_id(key).hex(),
                            "chunks": {f"{s}/{t}": c for (s, t), c in sorted(ids.items())}},
                           sort_keys=True).encode()
    with _seal(io.BytesIO(index), key, spool_dir) as sealed:
        store.put_blob(backup_id + INDEX_SUFFIX, sealed)
    store.put_blob(backup_id + ".manifest.json",
                   io.BytesIO(json.dumps(public_manifest, ensure_ascii=False, sort_keys=True, indent=1).encode()))
    return stats


def fetch(store, backup_id: str, key: bytes, out, spool_dir=None) -> dict:
    """Reassemble the one-file archive of ``backup_id`` from ``store`` into
    the binary file ``out``; its manifest. :class:`Tampered` when a chunk
    does not hold the table the manifest names."""
    stream = store.get_blob(backup_id + INDEX_SUFFIX)
    try:
        index = json.loads(_open_sealed(stream, key).read())
    finally:
        stream.close()
    manifest = index["manifest"]
    if manifest.get("backup_id") != backup_id:
        raise Tampered(f"the index of {backup_id} belongs to another backup")
    services = {}
    try:
        for service, entry in sorted(manifest["services"].items()):
            spool = services[service] = ServiceSpool(service, spool_dir)
            spool.revision = entry.get("schema_revision") or ""
            for table, info in sorted(entry["tables"].items()):
                cid = index["chunks"][f"{service}/{table}"]
                if cid != chunk_id(key, service, table, info["sha256"]):
                    raise Tampered(f"chunk of {service}/{table} is not the one its checksum names")
                spool.tables[table] = table_spool = TableSpool(spool_dir)
                blob = store.get_blob(CHUNKS + cid)
                try:
                    plain = _open_sealed(blob, key)
                    for block in iter(lambda: plain.read(_READ), b""):
                        table_spool.file.write(block)
                        table_spool.digest.update(block)
                        table_spool.size += len(block)
                        table_spool.rows += block.count(b"\n")
                finally:
                    blob.close()
                if table_spool.sha256 != info["sha256"] or table_spool.rows != info["rows"]:
                    raise Tampered(f"chunk of {service}/{table} does not match its manifest checksum")
        write_archive(out, key, manifest, services, mtime=0)
    finally:
        for spool in services.values():
            spool.close()
    return manifest


def collect_garbage(store, keep_manifests, key: bytes) -> int:
    """Delete the chunks no manifest of ``keep_manifests`` refers to; how many."""
    wanted = set()
    for manifest in keep_manifests:
        wanted |= set(chunk_ids(manifest, key).values())
    removed = 0
    for cid in store.list_blobs(CHUNKS):
        if cid not in wanted:
            store.delete_blob(CHUNKS + cid)
            removed += 1
    return removed


def index_ids(store) -> list[str]:
    """The backups ``store`` holds (their indexes)."""
    return sorted(name[:-len(INDEX_SUFFIX)] for name in store.list_blobs("")
                  if name.endswith(INDEX_SUFFIX) and "/" not in name and not name.startswith("."))


__all__ = ["upload", "fetch", "collect_garbage", "index_ids", "chunk_id", "chunk_ids", "UploadStats",
           "COMPRESSION", "Extracted"]
