"""Readers of event envelopes and payloads (docs/events.md), one set for
every consumer.

Each reader takes a dict, returns a plain value or raises
:class:`InvalidPayload` (a ``ValueError``) naming the field; the kernel's
``handles`` wrapper turns that into a dead letter instead of a half-applied
projection. The rules are the same for everyone: an empty string is an
absent value, a date is strictly ``YYYY-MM-DD``, times are aware UTC, role
lists are de-duplicated in the producer's order.
"""
from __future__ import annotations

import datetime as dt
import re

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class InvalidPayload(ValueError):
    """The envelope or payload does not match the documented schema."""


def payload(env: dict) -> dict:
    """The envelope's payload object."""
    value = env.get("payload") if isinstance(env, dict) else None
    if not isinstance(value, dict):
        raise InvalidPayload("payload must be an object")
    return value


def text(data: dict, key: str, *, required: bool = True, max_len: int | None = None,
         where: str = "payload") -> str | None:
    """A string field; ``None`` or ``""`` is absent (an error when required).
    One longer than ``max_len`` (an id longer than its column) is refused, not cut."""
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise InvalidPayload(f"{where}.{key} is required")
        return None
    if not isinstance(value, str):
        raise InvalidPayload(f"{where}.{key} must be a string")
    if max_len is not None and len(value) > max_len:
        raise InvalidPayload(f"{where}.{key} is longer than {max_len} characters")
    return value


def texts(data: dict, *keys: str, max_len: int | None = None, where: str = "payload") -> list[str]:
    """Several required string fields, in the order named."""
    return [text(data, key, max_len=max_len, where=where) for key in keys]


def date(data: dict, key: str, *, required: bool = True, where: str = "payload") -> dt.date | None:
    """A ``YYYY-MM-DD`` date field (``20261012`` and times are refused)."""
    value = text(data, key, required=required, where=where)
    if value is None:
        return None
    try:
        if not _DATE.fullmatch(value):
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidPayload(f"{where}.{key} must be a date YYYY-MM-DD") from None


def integer(data: dict, key: str, *, default: int | None = None, low: int | None = None,
            high: int | None = None, where: str = "payload") -> int | None:
    """An integer field (booleans refused) in ``low..high``; absent gives
    ``default``, or an error when there is none."""
    value = data.get(key)
    if value is None:
        if default is None:
            raise InvalidPayload(f"{where}.{key} is required")
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidPayload(f"{where}.{key} must be an integer")
    if (low is not None and value < low) or (high is not None and value > high):
        raise InvalidPayload(f"{where}.{key} out of range")
    return value


def flag(data: dict, key: str, *, required: bool = False, where: str = "payload") -> bool:
    """A boolean field; absent is False unless required."""
    value = data.get(key)
    if value is None and not required:
        return False
    if not isinstance(value, bool):
        raise InvalidPayload(f"{where}.{key} must be a boolean")
    return value


def strings(data: dict, key: str, *, required: bool = True, non_empty: bool = False,
            max_len: int | None = None, where: str = "payload") -> tuple:
    """A list of non-empty strings (ids, roles), de-duplicated, order kept.
    Absent is ``()`` unless required; a string longer than ``max_len`` is
    refused, not cut."""
    value = data.get(key)
    if value is None and not required:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidPayload(f"{where}.{key} must be a list of strings")
    if non_empty and not value:
        raise InvalidPayload(f"{where}.{key} must not be empty")
    if max_len is not None and any(len(v) > max_len for v in value):
        raise InvalidPayload(f"{where}.{key} holds a value longer than {max_len} characters")
    return tuple(dict.fromkeys(value))


def roles(data: dict, key: str = "roles", *, required: bool = True) -> tuple:
    """A user's roles: :func:`strings` in the producer's order."""
    return strings(data, key, required=required)


def school_id(env: dict) -> str:
    """The envelope's school."""
    return text(env, "school_id", where="envelope")


def occurred_at(env: dict) -> dt.datetime:
    """The envelope's ``occurred_at`` as an aware UTC datetime."""
    raw = text(env, "occurred_at", where="envelope")
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidPayload("envelope.occurred_at must be ISO-8601") from None
    if value.tzinfo is None:  # the kernel always writes UTC
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)
