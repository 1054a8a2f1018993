"""A small closed-loop HTTP load generator (keep-alive connections, one per
thread), bounded in requests and time, loopback only."""
from __future__ import annotations

import http.client
import statistics
import threading
import time
import urllib.parse


def run_load(url: str, headers: dict, *, threads: int = 8, seconds: float = 8.0,
             max_requests: int = 200_000, warmup: float = 1.0) -> dict:
    parsed = urllib.parse.urlparse(url)
    if parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("load is only ever sent to loopback")
    path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    budget = [max_requests]
    start_measure = time.perf_counter() + warmup
    stop_at = start_measure + seconds

    def worker():
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        mine, bad = [], 0
        while True:
            now = time.perf_counter()
            if now >= stop_at:
                break
            with lock:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
            t0 = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
            t1 = time.perf_counter()
            if t0 >= start_measure:
                if ok:
                    mine.append(t1 - t0)
                else:
                    bad += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    latencies.sort()
    n = len(latencies)
    return {
        "requests": n,
        "errors": errors[0],
        "rps": n / seconds if seconds else 0.0,
        "p50_ms": 1000 * latencies[n // 2] if n else float("nan"),
        "p95_ms": 1000 * latencies[min(n - 1, int(n * 0.95))] if n else float("nan"),
        "p99_ms": 1000 * latencies[min(n - 1, int(n * 0.99))] if n else float("nan"),
    }


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)
