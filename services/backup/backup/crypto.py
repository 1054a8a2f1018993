"""Encryption of backup archives: AES-256-GCM in a framed streaming format.

File layout (all integers big-endian)::

    header  = MAGIC (5) | format version (1) | key id (8) | salt (16) | nonce prefix (8)
    frame   = flags (1) | ciphertext length (4) | ciphertext (plaintext <= 1 MiB + 16-byte tag)

Each archive gets its own data key, HKDF-SHA256(master key, salt), so a nonce
can never repeat across archives even if a random prefix did. The nonce of
frame ``i`` is ``prefix | i`` (4 bytes) and its associated data is
``header | i (8 bytes) | flags``: changing the header, reordering, dropping or
duplicating frames, or cutting the file before the frame flagged final all
fail authentication. Bytes after the final frame are rejected as well.

The master key is 32 random bytes: ``EJOURNAL_BACKUP_KEY`` (base64) or the
file ``<data_dir>/keys/backup.key`` (base64, created 0600 on first use).
Losing it makes every archive unreadable, so operators must keep a copy of
it away from the backups.
"""
from __future__ import annotations

import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kernel import aes_keys

MAGIC = b"EJBAK"
FORMAT_VERSION = 1
KEY_BYTES = aes_keys.KEY_BYTES
KEY_ID_BYTES = 8
SALT_BYTES = 16
PREFIX_BYTES = 8
HEADER_BYTES = len(MAGIC) + 1 + KEY_ID_BYTES + SALT_BYTES + PREFIX_BYTES
CHUNK_BYTES = 1024 * 1024
TAG_BYTES = 16
FLAG_FINAL = 0x01
MAX_FRAMES = 2 ** 32  # the nonce counter is 4 bytes
KEY_ENV = "EJOURNAL_BACKUP_KEY"
_HKDF_INFO = b"ejournal-backup/v1/data-key"


class ArchiveError(Exception):
    """An archive cannot be trusted: unreadable, tampered with, or not ours."""


class WrongKey(ArchiveError):
    """The archive was encrypted with another master key."""


class Tampered(ArchiveError):
    """The archive's bytes are not what was written (edited, cut, reordered)."""


# -- keys ---------------------------------------------------------------

generate_key = aes_keys.generate_key


def parse_key(text: str | bytes) -> bytes:
    """Decode a base64 master key; ValueError unless it is exactly 32 bytes."""
    return aes_keys.parse_key(text, name="backup key")


def key_id(key: bytes) -> bytes:
    """A short public fingerprint of ``key`` (tells which key an archive needs)."""
    return aes_keys.fingerprint(key, b"ejournal-backup-key-id", KEY_ID_BYTES)


def load_key(data_dir: str | os.PathLike, environ: dict | None = None) -> bytes:
    """The master key from the environment, else from ``<data_dir>/keys/backup.key``
    (created with mode 0600 on first use, kernel.aes_keys)."""
    return aes_keys.load_key(data_dir, env=KEY_ENV, file_name="backup.key", environ=environ)


# -- framing --------------------------------------------------------------

def _data_key(master: bytes, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=_HKDF_INFO).derive(master)


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + index.to_bytes(4, "big")


def _aad(header: bytes, index: int, flags: int) -> bytes:
    return header + index.to_bytes(8, "big") + bytes([flags])


class EncryptingWriter:
    """A write-only file object that encrypts into ``raw`` (binary, writable).

    ``close()`` writes the final frame; it does not close ``raw``. Until it
    is called the output is deliberately unreadable (truncated).
    """

    def __init__(self, raw, key: bytes, chunk_bytes: int = CHUNK_BYTES):
        if len(key) != KEY_BYTES:
            raise ValueError("backup key must be 32 bytes")
        if not 0 < chunk_bytes <= CHUNK_BYTES:
            raise ValueError("chunk size out of range")
        self.raw = raw
        self.chunk_bytes = chunk_bytes
        salt = secrets.token_bytes(SALT_BYTES)
        self.prefix = secrets.token_bytes(PREFIX_BYTES)
        self.header = MAGIC + bytes([FORMAT_VERSION]) + key_id(key) + salt + self.prefix
        self.aead = AESGCM(_data_key(key, salt))
        self.index = 0
        self.buffer = bytearray()
        self.closed = False
        self.raw.write(self.header)

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.closed:
            raise ValueError("write to a closed backup writer")
        self.buffer += data
        # Keep at least one byte back: only close() knows which frame is final.
        while len(self.buffer) > self.chunk_bytes:
            self._frame(bytes(self.buffer[:self.chunk_bytes]), final=False)
            del self.buffer[:self.chunk_bytes]
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self.closed:
            return
        self._frame(bytes(self.buffer), final=True)
        self.buffer.clear()
        self.closed = True

    def _frame(self, plaintext: bytes, final: bool) -> None:
        if self.index >= MAX_FRAMES:
            raise ValueError("archive too large for one nonce space")
        flags = FLAG_FINAL if final else 0
        ct = self.aead.encrypt(_nonce(self.prefix, self.index), plaintext, _aad(self.header, self.index, flags))
        self.raw.write(bytes([flags]) + len(ct).to_bytes(4, "big") + ct)
        self.index += 1

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        # On error leave the output without a final frame: a reader rejects it.
        if exc_type is None:
            self.close()


class DecryptingReader:
    """A read-only file object over an encrypted stream ``raw``.

    Every byte it returns has been authenticated; any tampering raises
    :class:`Tampered` (or :class:`WrongKey`) from ``read``. Call
    :meth:`finish` after consuming what you need to prove that the stream
    ended with its final frame and nothing follows it.
    """

    def __init__(self, raw, key: bytes):
        self.raw = raw
        header = self._read_exact(HEADER_BYTES, "header")
        if header[:len(MAGIC)] != MAGIC:
            raise ArchiveError("not an eJournal backup archive")
        version = header[len(MAGIC)]
        if version != FORMAT_VERSION:
            raise ArchiveError(f"unsupported archive format version {version}")
        pos = len(MAGIC) + 1
        if header[pos:pos + KEY_ID_BYTES] != key_id(key):
            raise WrongKey("archive was encrypted with another key")
        pos += KEY_ID_BYTES
        salt = header[pos:pos + SALT_BYTES]
        self.prefix = header[pos + SALT_BYTES:]
        self.header = header
        self.aead = AESGCM(_data_key(key, salt))
        self.index = 0
        self.buffer = bytearray()
        self.done = False

    def readable(self) -> bool:
        return True

    def _read_exact(self, n: int, what: str) -> bytes:
        data = b""
        while len(data) < n:
            part = self.raw.read(n - len(data))
            if not part:
                raise Tampered(f"archive is truncated (in {what})")
            data += part
        return data

    def _next_frame(self) -> None:
        first = self.raw.read(1)
        if not first:
            raise Tampered("archive is truncated (final frame missing)")
        flags = first[0]
        if flags & ~FLAG_FINAL:
            raise Tampered(f"bad frame flags in frame {self.index}")
        length = int.from_bytes(self._read_exact(4, f"frame {self.index}"), "big")
        if not TAG_BYTES <= length <= CHUNK_BYTES + TAG_BYTES:
            raise Tampered(f"bad frame length in frame {self.index}")
        ct = self._read_exact(length, f"frame {self.index}")
        try:
            plaintext = self.aead.decrypt(_nonce(self.prefix, self.index), ct, _aad(self.header, self.index, flags))
        except InvalidTag:
            raise Tampered(f"frame {self.index} failed authentication") from None
        self.index += 1
        self.buffer += plaintext
        if flags & FLAG_FINAL:
            self.done = True
            if self.raw.read(1):
                raise Tampered("data after the final frame")

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            while not self.done:
                self._next_frame()
            data = bytes(self.buffer)
            self.buffer.clear()
            return data
        while len(self.buffer) < size and not self.done:
            self._next_frame()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def finish(self) -> int:
        """Authenticate the rest of the stream; the count of unread plaintext bytes."""
        rest = len(self.read())
        return rest


def encrypt_bytes(data: bytes, key: bytes, chunk_bytes: int = CHUNK_BYTES) -> bytes:
    """Encrypt ``data`` whole (small payloads and tests)."""
    import io

    out = io.BytesIO()
    with EncryptingWriter(out, key, chunk_bytes) as writer:
        writer.write(data)
    return out.getvalue()


def decrypt_bytes(blob: bytes, key: bytes) -> bytes:
    """Decrypt and authenticate a whole archive held in memory."""
    import io

    return DecryptingReader(io.BytesIO(blob), key).read()
