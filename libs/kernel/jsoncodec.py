"""JSON for the hot paths: event bodies and packed messages, the consumers'
decoding of them, insert_rows documents and stored Idempotency-Key results.

orjson encodes a class's 30 packed envelopes about eight times faster than
the standard library and decodes them about twice as fast, and it writes
dates, times and UUIDs itself (no Python hook per value). The text is
standard JSON (UTF-8, compact); what it refuses or writes differently
from ``json`` is said below, and every caller reads it with either.

What stays on the standard library: anything hashed or compared as text
(the marks' hash chain, Idempotency-Key fingerprints), whose bytes must
never change, and what is not hot.
"""
from __future__ import annotations

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(obj, default=None) -> str:
    """``obj`` as compact JSON text, non-ASCII kept (``ensure_ascii=False``).

    Unlike ``json.dumps``: dates, times, datetimes (ISO 8601) and UUIDs are
    written without ``default``; a NaN or infinite float is written as
    ``null`` (callers that store numbers check them first); a dict key that
    is not a string is converted as ``json`` would; an integer beyond 64 bits
    is refused (TypeError). Anything else unknown goes to ``default``."""
    return orjson.dumps(obj, default=default, option=_OPTIONS).decode("utf-8")


def loads(text):
    """Parse JSON text (str or bytes). Unlike ``json.loads``, the non-standard
    ``NaN``/``Infinity`` literals are refused; both raise ValueError."""
    return orjson.loads(text)
