"""Small helpers shared by the end-to-end tests."""
from __future__ import annotations

import time


def eventually(check, timeout=20.0, interval=0.2):
    """Poll ``check`` until it returns a truthy value (events are
    asynchronous); bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met in {timeout}s; last value: {last!r}")
