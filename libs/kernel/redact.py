"""Secrets never reach the logs (ASVS 7.1.1): a logging filter that masks
passwords, tokens, TOTP secrets and password hashes in every record,
whatever logged them (a repr of a request body, an exception message)."""
from __future__ import annotations

import logging
import re

MASK = "***"
SECRET_KEYS = ("password", "old_password", "new_password", "refresh_token", "access_token", "totp_code",
               "secret", "private_pem", "initial_password", "recovery_codes")
_KEYED = re.compile(
    r"""(?P<key>["']?(?:%s)["']?\s*[:=]\s*)(?P<value>"[^"]*"|'[^']*'|\[[^\]]*\]|[^\s,;}&]+)"""
    % "|".join(sorted(map(re.escape, SECRET_KEYS), key=len, reverse=True)), re.IGNORECASE)
_PATTERNS = (
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),  # JWTs
    re.compile(r"\$argon2(?:id|i|d)\$[^\s'\",]+"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL),
)


# What every pattern above needs in the text, lowercased: one secret key, or
# "bearer", a JWT's start, an argon2 hash's, a PEM block's. ASCII text without
# any of them has nothing to mask. Non-ASCII text always takes the patterns:
# case-insensitive matching also pairs some non-ASCII letters with ASCII ones
# (U+017F with "s").
_NEEDLES = tuple(sorted(set(SECRET_KEYS))) + ("bearer", "eyj", "$argon2", "-----begin")


def _may_hold_secrets(text: str) -> bool:
    if not text.isascii():
        return True
    low = text.lower()
    for needle in _NEEDLES:
        if needle in low:
            return True
    return False


def redact(text: str) -> str:
    """``text`` with every secret it carries replaced by ``***``."""
    if not _may_hold_secrets(text):  # most lines: no regex runs (about 15 us a line)
        return text
    text = _KEYED.sub(lambda m: m.group("key") + MASK, text)
    for pattern in _PATTERNS:
        text = pattern.sub(MASK, text)
    return text


class SecretsFilter(logging.Filter):
    """Rewrites each record's message (and exception text) with :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is logged as is
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
