"""The archive and its manifest (R-D2): checksums per table, read back
exactly, and an archive whose content disagrees with its manifest is refused
even when its encryption is intact (someone holding the key re-packed it)."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest

from backup import archive
from backup.archive import (
    ArchiveError, ServiceSpool, Tampered, build_manifest, check_sidecar, read_archive, sidecar, write_archive,
)
from backup.crypto import encrypt_bytes, key_id

LESSONS = [{"id": "l1", "topic": "Обыкновенные дроби", "date": "2026-10-12"},
           {"id": "l2", "topic": "Десятичные дроби", "date": "2026-10-13", "homework": None}]
USERS = [{"id": f"u{i}", "full_name": f"Ученик {i}"} for i in range(1200)]


def spools(tmp_path=None):
    journal = ServiceSpool("journal")
    journal.add_chunk("lessons", LESSONS, "0003")
    journal.add_chunk("marks", [], "0003")
    identity = ServiceSpool("identity")
    for i in range(0, len(USERS), 500):  # chunks as the Export stream sends them
        identity.add_chunk("users", USERS[i:i + 500], "0001")
    return {"journal": journal, "identity": identity}


def write(path, key, backup_id="b-1"):
    services = spools()
    manifest = build_manifest(backup_id=backup_id, created_at="2026-10-12T08:00:00+00:00", services=services)
    with open(path, "wb") as out:
        written = write_archive(out, key, manifest, services)
    return manifest, written


def jsonl(rows) -> bytes:
    return b"".join(archive.encode_row(r) for r in rows)


def test_manifest_has_revision_rows_and_sha256_per_table(tmp_path, key):
    manifest, _ = write(tmp_path / "a.ejbak", key)
    assert manifest["format"] == "ejournal-backup" and manifest["format_version"] == 1
    assert manifest["backup_id"] == "b-1" and manifest["created_at"] == "2026-10-12T08:00:00+00:00"
    journal = manifest["services"]["journal"]
    assert journal["schema_revision"] == "0003"
    assert journal["tables"]["lessons"] == {
        "rows": 2, "bytes": len(jsonl(LESSONS)), "sha256": hashlib.sha256(jsonl(LESSONS)).hexdigest()}
    assert journal["tables"]["marks"]["rows"] == 0
    assert manifest["services"]["identity"]["tables"]["users"]["rows"] == 1200
    assert archive.manifest_totals(manifest) == {"tables": 3, "rows": 1202}


def test_read_archive_returns_manifest_and_rows(tmp_path, key):
    path = tmp_path / "a.ejbak"
    manifest, written = write(path, key)
    contents = read_archive(path, key)
    assert contents.manifest == manifest
    assert contents.rows == {"journal": {"lessons": LESSONS, "marks": []}, "identity": {"users": USERS}}
    assert contents.sha256 == written["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert contents.size == written["size"] == path.stat().st_size


def test_archive_is_encrypted_on_disk(tmp_path, key):
    path = tmp_path / "a.ejbak"
    write(path, key)
    raw = path.read_bytes()
    assert "Ученик".encode() not in raw and b"manifest.json" not in raw and b"lessons" not in raw


def test_backup_id_mismatch_is_refused(tmp_path, key):
    path = tmp_path / "a.ejbak"
    write(path, key, backup_id="b-1")
    with pytest.raises(ArchiveError, match="another backup"):
        read_archive(path, key, backup_id="b-2")


# Archives re-packed with a valid key but inconsistent content --------------------

def pack(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, body in members:
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def good_members():
    services = spools()
    manifest = build_manifest(backup_id="b-1", created_at="2026-10-12T08:00:00+00:00", services=services)
    return manifest, [("manifest.json", json.dumps(manifest).encode()),
                      ("journal/lessons.jsonl", jsonl(LESSONS)), ("journal/marks.jsonl", b""),
                      ("identity/users.jsonl", jsonl(USERS))]


def repacked(tmp_path, key, members):
    path = tmp_path / "r.ejbak"
    path.write_bytes(encrypt_bytes(pack(members), key))
    return path


def test_repacked_good_archive_reads(tmp_path, key):
    manifest, members = good_members()
    assert read_archive(repacked(tmp_path, key, members), key).manifest == manifest


def test_changed_row_is_detected_by_checksum(tmp_path, key):
    _, members = good_members()
    edited = [dict(r) for r in LESSONS]
    edited[0]["topic"] = "Другая тема"
    members[1] = ("journal/lessons.jsonl", jsonl(edited))
    with pytest.raises(Tampered, match="journal/lessons.jsonl"):
        read_archive(repacked(tmp_path, key, members), key)


def test_missing_member_is_detected(tmp_path, key):
    _, members = good_members()
    with pytest.raises(Tampered, match="lacks identity/users.jsonl"):
        read_archive(repacked(tmp_path, key, members[:-1]), key)


def test_unexpected_or_duplicate_member_is_refused(tmp_path, key):
    _, members = good_members()
    for extra in [("journal/secret.jsonl", b"{}\n"), ("../../etc/passwd", b"x"), members[1]]:
        with pytest.raises(ArchiveError, match="unexpected archive member"):
            read_archive(repacked(tmp_path, key, members + [extra]), key)


def test_manifest_must_come_first(tmp_path, key):
    _, members = good_members()
    with pytest.raises(ArchiveError, match="start with its manifest"):
        read_archive(repacked(tmp_path, key, members[1:] + members[:1]), key)


def test_not_a_tar_inside_is_refused(tmp_path, key):
    path = tmp_path / "x.ejbak"
    path.write_bytes(encrypt_bytes(b"hello" * 200, key))
    with pytest.raises(ArchiveError):
        read_archive(path, key)


# Spool input checks --------------------------------------------------------------

@pytest.mark.parametrize("table,rows,revision", [
    ("../x", [], "1"), ("a/b", [], "1"), ("", [], "1"), ("t", "rows", "1"), ("t", [1, 2], "1"), ("t", [], 5)])
def test_spool_refuses_bad_chunks(table, rows, revision):
    with pytest.raises(ValueError):
        ServiceSpool("journal").add_chunk(table, rows, revision)


def test_spool_refuses_revision_change_mid_export():
    spool = ServiceSpool("journal")
    spool.add_chunk("a", [], "0001")
    with pytest.raises(ValueError, match="revision changed"):
        spool.add_chunk("b", [], "0002")


def test_bad_service_name_is_refused():
    with pytest.raises(ValueError):
        ServiceSpool("../journal")


# The public manifest -----------------------------------------------------------

def test_sidecar_has_checksums_only_and_detects_a_changed_file(tmp_path, key):
    path = tmp_path / "a.ejbak"
    manifest, written = write(path, key)
    doc = sidecar(manifest, file_name=path.name, size=written["size"], sha256=written["sha256"], key=key)
    text = json.dumps(doc, ensure_ascii=False)
    assert "Ученик" not in text and "дроби" not in text
    assert doc["archive"] == {"file": "a.ejbak", "size": written["size"], "sha256": written["sha256"],
                              "compression": "zstd", "cipher": archive.CIPHER, "key_id": key_id(key).hex()}
    check_sidecar(path, doc)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(Tampered):
        check_sidecar(path, doc)


def test_archives_are_compressed_before_encryption_and_older_plain_ones_still_read(tmp_path, key):
    """zstd inside the encryption: a repetitive table takes a fraction of its
    size; an archive written before compression (the tar encrypted as it is)
    reads back all the same."""
    import io as _io
    import tarfile as _tarfile

    from backup.crypto import EncryptingWriter

    spool = ServiceSpool("journal")
    rows = [{"id": i, "topic": "Сложение и вычитание дробей", "value": 5} for i in range(5000)]
    spool.add_chunk("lessons", rows, "0006")
    manifest = build_manifest(backup_id="z", created_at="2026-01-01T00:00:00+00:00", services={"journal": spool})
    packed = tmp_path / "z.ejbak"
    with open(packed, "wb") as out:
        write_archive(out, key, manifest, {"journal": spool})
    assert packed.stat().st_size < spool.tables["lessons"].size / 10
    assert read_archive(packed, key).rows["journal"]["lessons"] == rows

    plain = tmp_path / "plain.ejbak"
    with open(plain, "wb") as out:
        writer = EncryptingWriter(out, key)
        with _tarfile.open(fileobj=writer, mode="w|", format=_tarfile.PAX_FORMAT) as tar:
            body = json.dumps(manifest).encode()
            info = _tarfile.TarInfo("manifest.json")
            info.size = len(body)
            tar.addfile(info, _io.BytesIO(body))
            table = spool.tables["lessons"]
            table.file.seek(0)
            info = _tarfile.TarInfo("journal/lessons.jsonl")
            info.size = table.size
            tar.addfile(info, table.file)
        writer.close()
    assert plain.stat().st_size > spool.tables["lessons"].size
    assert read_archive(plain, key).rows["journal"]["lessons"] == rows
