"""The second factor: TOTP (RFC 6238, pyotp) and one-time
recovery codes. Pure computation; the store keeps the results."""
from __future__ import annotations

import hashlib
import secrets
import time

import pyotp

ISSUER = "eJournal"
RECOVERY_CODES = 10
# No look-alike characters: recovery codes are read off paper.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, login: str) -> str:
    """The ``otpauth://`` URI an authenticator app scans (as a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=login, issuer_name=ISSUER)


def matching_step(secret: str, code: str, *, now: float | None = None, last_step: int | None = None) -> int | None:
    """The time step ``code`` is valid for (this one or its neighbours, for
    clock drift), or None. A step at or before ``last_step`` is refused:
    an observed code cannot be replayed."""
    code = (code or "").strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now = time.time() if now is None else now
    current = int(now // totp.interval)
    for step in (current, current - 1, current + 1):
        if last_step is not None and step <= last_step:
            continue
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    """Ten codes like ``k7p2m-x9qhr`` (about 49 bits each)."""
    def one():
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10))
        return f"{raw[:5]}-{raw[5:]}"
    return [one() for _ in range(RECOVERY_CODES)]


def recovery_sha256(code: str) -> str:
    """SHA-256 hex of a normalised recovery code (case and spaces ignored)."""
    return hashlib.sha256(code.strip().lower().replace(" ", "").encode()).hexdigest()


def recovery_hash(code: str) -> str:
    """What the store keeps for a recovery code and compares a typed one
    with: the code's SHA-256, keyed with identity's KEK (identity.sealing)."""
    from identity import sealing

    return sealing.box().recovery_digest(recovery_sha256(code))


def is_recovery_code(code: str) -> bool:
    code = (code or "").strip().lower()
    return len(code) == 11 and code[5] == "-"
