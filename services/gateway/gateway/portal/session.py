"""The portal's cookie session: one cookie holding a sealed JSON object
(AES-256-GCM; the browser can neither read nor change it), HttpOnly,
SameSite=Strict, Secure when the request came over TLS.

What it holds: the CSRF token of the forms, and after login the access and
refresh tokens with the access token's expiry (refreshed by the portal when
it is due), or during the staff login's second step the login and password
typed in the first (for five minutes at most).

The key: ``EJOURNAL_GATEWAY_SESSION_KEY`` (32 bytes, URL-safe base64), else
``<data dir>/keys/gateway-session.key``, created on first use with mode
0600 and shared by every worker of the data dir.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import secrets
import time
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)

COOKIE = "ejournal_portal"
KEY_ENV = "EJOURNAL_GATEWAY_SESSION_KEY"
PROXY_ENV = "EJOURNAL_GATEWAY_TRUSTED_PROXY"
KEY_FILE = Path("keys") / "gateway-session.key"
AAD = b"ejournal.portal.session.v1"
NONCE_BYTES = 12
MAX_COOKIE = 3800  # browsers keep 4096 bytes per cookie, name and attributes included


class SessionKeyError(ValueError):
    """The configured session key is unusable."""


def decode_key(text: str) -> bytes:
    """32 bytes from URL-safe base64 (padding optional)."""
    text = text.strip()
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise SessionKeyError(f"{KEY_ENV} is not URL-safe base64") from None
    if len(key) != 32:
        raise SessionKeyError(f"{KEY_ENV} must hold 32 bytes, not {len(key)}")
    return key


def new_key_text() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def load_key(data_dir: Path, environ=os.environ) -> bytes:
    """The session key: the environment's, else the data dir's key file
    (created, mode 0600, when missing; safe when workers race)."""
    configured = environ.get(KEY_ENV)
    if configured:
        return decode_key(configured)
    path = Path(data_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, (new_key_text() + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if another worker was first: then theirs counts
            log.info("created the portal session key %s", path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return decode_key(path.read_text(encoding="ascii"))


class Sealer:
    """Seal and open the session's JSON with one AES-GCM key."""

    def __init__(self, key: bytes):
        self._aead = AESGCM(key)

    def seal(self, data: dict) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        sealed = nonce + self._aead.encrypt(nonce, raw, AAD)
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def open(self, text: str | None) -> dict | None:
        """The sealed object, or None for anything else (absent, changed,
        sealed with another key, not ours)."""
        if not text or len(text) > MAX_COOKIE:
            return None
        try:
            sealed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            raw = self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], AAD)
            data = json.loads(raw)
        except (binascii.Error, ValueError, InvalidTag):
            return None
        return data if isinstance(data, dict) else None


class Session(dict):
    """The portal's session of one request; ``modified`` when it must be
    written back."""

    def __init__(self, data: dict | None = None):
        super().__init__(data or {})
        self.modified = data is None

    def csrf(self) -> str:
        token = self.get("csrf")
        if not token:
            token = self["csrf"] = secrets.token_urlsafe(32)
            self.modified = True
        return token

    def check_csrf(self, offered: str | None) -> bool:
        token = self.get("csrf")
        return bool(token) and isinstance(offered, str) and secrets.compare_digest(token, offered)

    def signed_in(self) -> bool:
        return bool(self.get("access") and self.get("refresh"))

    def start(self, pair: dict) -> None:
        """A fresh session for a login's token pair (new CSRF token: nothing
        from before the login carries over)."""
        self.clear()
        self.set_tokens(pair)
        self.csrf()

    def set_tokens(self, pair: dict) -> None:
        self["access"] = pair["access_token"]
        self["refresh"] = pair["refresh_token"]
        self["exp"] = int(time.time()) + int(pair.get("expires_in") or 0)
        self.modified = True

    def due(self, margin: int = 30) -> bool:
        """The access token expires within ``margin`` seconds."""
        return time.time() >= float(self.get("exp") or 0) - margin

    def put(self, key: str, value) -> None:
        self[key] = value
        self.modified = True

    def take(self, key: str, default=None):
        if key in self:
            self.modified = True
            return self.pop(key)
        return default


def trusted_proxies(environ=os.environ) -> frozenset:
    """The addresses whose X-Forwarded-Proto is believed (comma-separated)."""
    return frozenset(a.strip() for a in (environ.get(PROXY_ENV) or "").split(",") if a.strip())


def over_tls(request, proxies: frozenset) -> bool:
    """The browser reached us over HTTPS: directly, or through a trusted proxy that says so."""
    if request.is_secure:
        return True
    if request.remote_addr in proxies:
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        return proto == "https"
    return False
