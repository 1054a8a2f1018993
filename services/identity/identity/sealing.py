"""Secrets at rest: identity's TOTP secrets and signing keys are sealed with
a key-encryption key (KEK) that never lives in the database.

The KEK is 32 random bytes: ``EJOURNAL_IDENTITY_SECRET_KEY`` (base64), or
the file ``<data dir>/keys/identity.key`` (base64, created 0600 on first
start). A copy of the database or of a backup archive without the KEK holds
no usable second factor and no signing key; operators keep a copy of the KEK
away from both (losing it means re-enrolling every TOTP user; signing keys
can simply be rotated).

A sealed value is text: ``ejs1.<key id>.<base64url(nonce | AES-256-GCM
ciphertext)>``. The associated data names what the value is and whose it is
(``totp:<user id>``, ``signing-key:<kid>``), so a sealed value copied onto
another row does not open. The key id (a public fingerprint of the KEK)
tells a wrong key from a damaged value: both fail closed.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kernel import aes_keys

KEY_ENV = "EJOURNAL_IDENTITY_SECRET_KEY"
KEY_FILE = Path("keys") / "identity.key"
KEY_BYTES = aes_keys.KEY_BYTES
NONCE_BYTES = 12
PREFIX = "ejs1"
_AAD = b"ejournal-identity/v1/"
RECOVERY_PREFIX = "h1:"


class SealingError(Exception):
    """A sealed secret cannot be opened. The message is for operators."""


class WrongSecretKey(SealingError):
    """The value was sealed with another KEK than the one configured."""


class DamagedSecret(SealingError):
    """The value is not a sealed secret, or it fails authentication."""


generate_key = aes_keys.generate_key


def parse_key(text: str | bytes) -> bytes:
    """A base64 KEK; ValueError unless it decodes to exactly 32 bytes."""
    return aes_keys.parse_key(text, name=KEY_ENV)


def key_id(key: bytes) -> str:
    """A short public fingerprint of ``key`` (which KEK sealed a value)."""
    return aes_keys.fingerprint(key, b"ejournal-identity-kek-id").hex()


def load_key(data_dir: str | os.PathLike, environ=None) -> bytes:
    """The KEK from the environment, else from ``<data_dir>/keys/identity.key``,
    which the first process to need it creates (0600, kernel.aes_keys)."""
    return aes_keys.load_key(data_dir, env=KEY_ENV, file_name=KEY_FILE.name, environ=environ)


def is_sealed(value) -> bool:
    """True if ``value`` has the shape of a sealed secret (never plaintext)."""
    if not isinstance(value, str):
        return False
    parts = value.split(".")
    return len(parts) == 3 and parts[0] == PREFIX and len(parts[1]) == 16 and len(parts[2]) > 0


class SecretBox:
    """Seals and opens small secrets with one KEK."""

    def __init__(self, key: bytes):
        if len(key) != KEY_BYTES:
            raise ValueError(f"the identity secret key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)
        self.key_id = key_id(key)
        self._recovery_key = hmac.new(key, b"ejournal-identity/v1/recovery-codes", hashlib.sha256).digest()

    def recovery_digest(self, sha256_hex: str) -> str:
        """What the store keeps for a recovery code: HMAC-SHA256, under a key
        derived from the KEK, of the code's SHA-256. Codes have ~49 bits: a
        plain hash in a copied database falls to brute force in hours, a
        keyed one does not without the KEK."""
        mac = hmac.new(self._recovery_key, bytes.fromhex(sha256_hex), hashlib.sha256).hexdigest()
        return RECOVERY_PREFIX + mac

    def seal(self, plaintext: str, *, context: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        ct = self._aead.encrypt(nonce, plaintext.encode("utf-8"), _AAD + context.encode())
        body = base64.urlsafe_b64encode(nonce + ct).rstrip(b"=").decode()
        return f"{PREFIX}.{self.key_id}.{body}"

    def open(self, sealed: str, *, context: str) -> str:
        if not is_sealed(sealed):
            raise DamagedSecret(f"{context}: the stored value is not a sealed secret")
        _, kid, body = sealed.split(".")
        if kid != self.key_id:
            raise WrongSecretKey(
                f"{context}: sealed with identity secret key {kid}, but this process has key {self.key_id}; "
                f"set {KEY_ENV} or restore <data dir>/{KEY_FILE} to the key the data was sealed with")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            plain = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _AAD + context.encode())
        except (binascii.Error, ValueError, InvalidTag):
            raise DamagedSecret(f"{context}: the sealed value fails authentication (edited or moved)") from None
        return plain.decode("utf-8")


# --- the process's box ----------------------------------------------------------------
# Every identity process (nameko service, gRPC server, CLIs, migrations) seals
# with the same KEK. It is loaded on first use, i.e. when the process starts
# doing work, never at import time.

_lock = threading.Lock()
_box: SecretBox | None = None


def box() -> SecretBox:
    """The process's :class:`SecretBox` (KEK from the settings, loaded once)."""
    global _box
    with _lock:
        if _box is None:
            from kernel import config

            _box = SecretBox(load_key(config.load().data_dir))
        return _box


def use_key(key: bytes | None) -> SecretBox | None:
    """Set the process's KEK explicitly (tests, tools); ``None`` forgets it,
    so that the next :func:`box` loads it from the settings again."""
    global _box
    with _lock:
        _box = SecretBox(key) if key is not None else None
        return _box


def totp_context(user_id: str) -> str:
    return f"totp:{user_id}"


def signing_key_context(kid: str) -> str:
    return f"signing-key:{kid}"
