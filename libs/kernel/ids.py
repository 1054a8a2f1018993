"""Random (version 4) UUIDs for ids, from the same CSPRNG as ``uuid.uuid4``
(``os.urandom``), read 4 kB at a time.

``uuid.uuid4()`` costs one ``getrandom`` system call per id; a class's marks
need 60 ids (30 marks, 30 event envelopes), and that call was the
journal's most frequent system call under load. Here the process keeps a
buffer of random bytes, refilled with one call for 256 ids, and a child
process forgets its parent's buffer at fork (it would repeat its ids).
For ids only: secrets (tokens, keys) come from ``secrets`` unbuffered.
"""
from __future__ import annotations

import os
import threading

_CHUNK = 4096
_lock = threading.Lock()
_buf = b""
_pos = _CHUNK


def _forget_after_fork() -> None:
    global _lock, _pos
    _lock = threading.Lock()  # a thread of the parent may have held it
    _pos = _CHUNK


os.register_at_fork(after_in_child=_forget_after_fork)


def _random16() -> bytes:
    # one buffer per process: under eventlet a thread-local would be one
    # per green thread, that is per RPC call
    global _buf, _pos
    with _lock:
        if _pos >= _CHUNK:
            _buf, _pos = os.urandom(_CHUNK), 0
        pos = _pos
        _pos = pos + 16
        return _buf[pos:pos + 16]


def uuid4_hex() -> str:
    """32 hex digits of a random version-4 UUID (as ``uuid.uuid4().hex``)."""
    b = bytearray(_random16())
    b[6] = (b[6] & 0x0F) | 0x40  # version 4
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    return b.hex()


def uuid4_str() -> str:
    """A random version-4 UUID in its canonical text form (as
    ``str(uuid.uuid4())``)."""
    h = uuid4_hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
