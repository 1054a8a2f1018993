"""The journal's own settings, read when a process starts (never at import).

``EJOURNAL_ALLOW_MARK_1`` (default off): the school allows the mark 1 (R-J3).
``EJOURNAL_TIMEZONE`` (default Europe/Moscow): the school's local time, which
decides late entries (R-J5) and the diary's current week.
``EJOURNAL_IDENTITY_TIMEOUT`` (seconds, default 5): the get_user fallback.
``EJOURNAL_FINAL_MIN_MARKS_LOW`` / ``EJOURNAL_FINAL_MIN_MARKS_HIGH`` (default 3 / 5):
the current marks that justify a final mark, up to 2 hours a week / above (R-F2).
``EJOURNAL_FINAL_MIN_WRITTEN`` (default 1): the written, lab or practical works a
final mark of an emphasised subject needs in its period (R-F2); 0 turns it off.
``EJOURNAL_IDEMPOTENCY_KEEP_DAYS`` (default 7): how long Idempotency-Key answers
are kept (a retry after that runs the write again); the older ones are
deleted by an hourly timer of the nameko service.
A nameko container config key of the same name wins over the environment
(tests set them there).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "Europe/Moscow"
_TRUE = {"1", "true", "yes", "on", "да"}


@dataclass(frozen=True)
class JournalSettings:
    allow_mark_1: bool = False
    timezone: ZoneInfo = ZoneInfo(DEFAULT_TIMEZONE)
    identity_timeout: float = 5.0
    final_min_marks_low: int = 3
    final_min_marks_high: int = 5
    final_min_written: int = 1
    idempotency_keep_days: float = 7.0


def load(overrides: Mapping | None = None) -> JournalSettings:
    """Settings from ``overrides`` (e.g. a nameko config) or the environment."""
    overrides = overrides or {}

    def get(name: str, default: str) -> str:
        value = overrides.get(name)
        if value is None or value == "":
            value = os.environ.get(name) or default
        return str(value)

    tz_name = get("EJOURNAL_TIMEZONE", DEFAULT_TIMEZONE)
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SystemExit(f"EJOURNAL_TIMEZONE={tz_name!r} is not a known time zone "
                         f"(install the tzdata package if the system has none)") from exc
    return JournalSettings(
        allow_mark_1=get("EJOURNAL_ALLOW_MARK_1", "0").strip().lower() in _TRUE,
        timezone=tz,
        identity_timeout=float(get("EJOURNAL_IDENTITY_TIMEOUT", "5")),
        final_min_marks_low=int(get("EJOURNAL_FINAL_MIN_MARKS_LOW", "3")),
        final_min_marks_high=int(get("EJOURNAL_FINAL_MIN_MARKS_HIGH", "5")),
        final_min_written=int(get("EJOURNAL_FINAL_MIN_WRITTEN", "1")),
        idempotency_keep_days=float(get("EJOURNAL_IDEMPOTENCY_KEEP_DAYS", "7")),
    )
