"""AES-256-GCM keys kept outside the database: identity's key-encryption key
and backup's master key.

A key is 32 random bytes, read from an environment variable (base64) or
else from a key file under the data directory (base64, created 0600 by the
first process that needs it). Creation is atomic: concurrent first starts
end up with one and the same key.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from pathlib import Path

KEY_BYTES = 32


def generate_key() -> bytes:
    """A new random 256-bit key."""
    return secrets.token_bytes(KEY_BYTES)


def parse_key(text: str | bytes, *, name: str = "key") -> bytes:
    """A base64 key; ValueError (naming ``name``) unless it decodes to exactly 32 bytes."""
    if isinstance(text, str):
        text = text.strip().encode("ascii", "strict")
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{name} is not valid base64") from exc
    if len(key) != KEY_BYTES:
        raise ValueError(f"{name} must be {KEY_BYTES} bytes, got {len(key)}")
    return key


def fingerprint(key: bytes, label: bytes, size: int = 8) -> bytes:
    """A short public fingerprint of ``key`` under ``label`` (which key
    sealed a value), ``size`` bytes."""
    return hashlib.sha256(label + b"\x00" + key).digest()[:size]


def load_key(data_dir: str | os.PathLike, *, env: str, file_name: str, environ=None) -> bytes:
    """The key from ``environ[env]``, else from ``<data_dir>/keys/<file_name>``,
    which the first process to need it creates (0600)."""
    environ = os.environ if environ is None else environ
    value = environ.get(env)
    if value:
        return parse_key(value, name=env)
    path = Path(data_dir) / "keys" / file_name
    if path.exists():
        return parse_key(path.read_bytes(), name=str(path))
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, base64.b64encode(generate_key()) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process got there first: use theirs
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    return parse_key(path.read_bytes(), name=str(path))
