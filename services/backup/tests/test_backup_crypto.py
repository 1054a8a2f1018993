"""The encrypted framing of backup archives (R-D2, R-D5): what is written
reads back, and every kind of damage is detected."""
from __future__ import annotations

import base64
import io
import os
import stat

import pytest

from backup import crypto
from backup.crypto import (
    CHUNK_BYTES, HEADER_BYTES, ArchiveError, DecryptingReader, EncryptingWriter, Tampered, WrongKey,
    decrypt_bytes, encrypt_bytes,
)

SMALL = 64  # small frames so a few hundred bytes give several of them


def frames(blob: bytes) -> list[tuple[int, int]]:
    """(start, end) of every frame after the header."""
    out, pos = [], HEADER_BYTES
    while pos < len(blob):
        length = int.from_bytes(blob[pos + 1:pos + 5], "big")
        out.append((pos, pos + 5 + length))
        pos += 5 + length
    return out


@pytest.fixture
def data():
    return os.urandom(SMALL * 5 + 17)


@pytest.fixture
def blob(data, key):
    return encrypt_bytes(data, key, chunk_bytes=SMALL)


@pytest.mark.parametrize("size", [0, 1, SMALL - 1, SMALL, SMALL + 1, SMALL * 3])
def test_round_trip_any_size(key, size):
    data = os.urandom(size)
    assert decrypt_bytes(encrypt_bytes(data, key, chunk_bytes=SMALL), key) == data


def test_round_trip_megabyte_frames_in_small_writes(key):
    data = os.urandom(CHUNK_BYTES * 2 + 12345)
    out = io.BytesIO()
    with EncryptingWriter(out, key) as writer:
        for i in range(0, len(data), 70000):
            writer.write(data[i:i + 70000])
    blob = out.getvalue()
    assert len(frames(blob)) == 3
    reader = DecryptingReader(io.BytesIO(blob), key)
    assert reader.read(10) == data[:10]
    assert reader.read() == data[10:]


def test_ciphertext_hides_the_plaintext_and_differs_each_time(key):
    data = "Иванов Иван, 5А, отметка 5".encode() * 10
    one, two = encrypt_bytes(data, key), encrypt_bytes(data, key)
    assert data[:20] not in one and one != two


def test_flipped_byte_anywhere_is_detected(blob, key):
    # Every position: header, flags, length, ciphertext and tag of every frame.
    for pos in range(len(blob)):
        damaged = bytearray(blob)
        damaged[pos] ^= 0x01
        with pytest.raises(ArchiveError):
            decrypt_bytes(bytes(damaged), key)


def test_truncated_file_is_detected_at_every_length(blob, key):
    for cut in range(len(blob)):
        with pytest.raises(Tampered if cut >= HEADER_BYTES else ArchiveError):
            decrypt_bytes(blob[:cut], key)


def test_dropping_the_final_frame_is_detected(blob, key):
    last_start, _ = frames(blob)[-1]
    with pytest.raises(Tampered, match="final frame missing"):
        decrypt_bytes(blob[:last_start], key)


def test_swapped_chunks_are_detected(blob, key):
    f = frames(blob)
    a, b = blob[f[0][0]:f[0][1]], blob[f[1][0]:f[1][1]]
    swapped = blob[:f[0][0]] + b + a + blob[f[1][1]:]
    with pytest.raises(Tampered, match="frame 0"):
        decrypt_bytes(swapped, key)


def test_duplicated_or_dropped_middle_chunk_is_detected(blob, key):
    f = frames(blob)
    duplicated = blob[:f[1][1]] + blob[f[1][0]:f[1][1]] + blob[f[1][1]:]
    dropped = blob[:f[1][0]] + blob[f[1][1]:]
    for bad in (duplicated, dropped):
        with pytest.raises(Tampered):
            decrypt_bytes(bad, key)


def test_frames_from_another_archive_are_rejected(data, key):
    one, two = encrypt_bytes(data, key, SMALL), encrypt_bytes(data, key, SMALL)
    f = frames(one)
    spliced = one[:f[1][0]] + two[f[1][0]:f[1][1]] + one[f[1][1]:]
    with pytest.raises(Tampered):
        decrypt_bytes(spliced, key)


def test_data_after_the_final_frame_is_rejected(blob, key):
    with pytest.raises(Tampered, match="after the final frame"):
        decrypt_bytes(blob + b"\x00", key)


def test_wrong_key_is_detected(blob):
    with pytest.raises(WrongKey):
        decrypt_bytes(blob, crypto.generate_key())


def test_not_an_archive(key):
    with pytest.raises(ArchiveError, match="not an eJournal backup"):
        decrypt_bytes(b"PK\x03\x04" + b"\x00" * 100, key)


def test_writer_without_close_leaves_an_unreadable_file(key):
    out = io.BytesIO()
    with pytest.raises(RuntimeError):
        with EncryptingWriter(out, key, SMALL) as writer:
            writer.write(b"x" * 500)
            raise RuntimeError("source died")
    with pytest.raises(Tampered):
        decrypt_bytes(out.getvalue(), key)


# -- keys -----------------------------------------------------------------------------

def test_key_from_environment(tmp_path):
    key = crypto.generate_key()
    env = {crypto.KEY_ENV: base64.b64encode(key).decode()}
    assert crypto.load_key(tmp_path, env) == key
    assert not (tmp_path / "keys").exists()


@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"short").decode()])
def test_bad_key_in_environment_is_refused(tmp_path, bad):
    with pytest.raises(ValueError):
        crypto.load_key(tmp_path, {crypto.KEY_ENV: bad})


def test_key_file_created_0600_on_first_use_and_reused(tmp_path):
    first = crypto.load_key(tmp_path, {})
    path = tmp_path / "keys" / "backup.key"
    assert len(first) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert crypto.load_key(tmp_path, {}) == first


def test_key_id_is_a_stable_fingerprint(key):
    assert crypto.key_id(key) == crypto.key_id(bytes(key)) and len(crypto.key_id(key)) == 8
    assert crypto.key_id(key) != crypto.key_id(crypto.generate_key())
