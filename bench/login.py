"""Logins through the gateway against raw argon2id hashes on the same cores,
measured in the same run (`make bench-login`).

A login costs one argon2id verification (OWASP parameters: 19 MiB, t=2,
p=1) plus the gateway, a gRPC hop, two small database transactions and an
Ed25519 signature. The floor is argon2id alone: the same parameters, in this
process (argon2-cffi releases the GIL), at its best of two concurrencies (as
many threads as cores, and as many as the gateway's clients: more threads
than cores only contend for memory). The gateway gets twice as many client
connections as cores by default: a login waits on round trips (HTTP, gRPC,
the database) between its CPU work, so only more logins in flight than
cores keep the cores busy, as a school's morning does. Alternating
rounds, closed loops, bounded in time and count, loopback only; medians of
the rounds and their ratio are printed. The ratio says how much of the login
path is the deliberate cost of the hash (1.0 would be "nothing but hashing").
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import tempfile
import threading
import time

from localrun.client import Api
from localrun.launcher import throwaway_platform

PASSWORD = "bench-login-password-2026"


def closed_loop(action, *, threads: int, seconds: float, max_ops: int = 100_000, warmup: float = 0.5) -> dict:
    """Run ``action(thread_index)`` in ``threads`` loops for ``seconds`` after a
    warm-up; ops/s of the successful calls and their median latency."""
    done, failed, latencies = [0], [0], []
    lock = threading.Lock()
    budget = [max_ops]
    start = time.perf_counter() + warmup
    stop = start + seconds

    def loop(index):
        state = {}
        mine, bad = [], 0
        while time.perf_counter() < stop:
            with lock:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
            t0 = time.perf_counter()
            ok = action(index, state)
            t1 = time.perf_counter()
            if t0 >= start:
                if ok:
                    mine.append(t1 - t0)
                else:
                    bad += 1
        with lock:
            latencies.extend(mine)
            done[0] += len(mine)
            failed[0] += bad

    pool = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return {"ops": done[0] / seconds, "errors": failed[0],
            "p50_ms": statistics.median(latencies) * 1000 if latencies else float("nan")}


def gateway_login(host: str, port: int, logins: list[str]):
    def action(index, state):
        conn = state.get("conn") or http.client.HTTPConnection(host, port, timeout=30)
        state["conn"] = conn
        body = json.dumps({"login": logins[index % len(logins)], "password": PASSWORD})
        try:
            conn.request("POST", "/api/v1/auth/login", body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            return resp.status == 200
        except (OSError, http.client.HTTPException):
            conn.close()
            state.pop("conn", None)
            return False
    return action


def raw_hash():
    from identity.credentials import HASHER
    stored = HASHER.hash(PASSWORD)

    def action(index, state):
        return HASHER.verify(stored, PASSWORD)
    return action


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    cores = os.cpu_count() or 2
    parser.add_argument("--threads", type=int, default=2 * cores,
                        help="client threads of the gateway's side (default: twice the number of cores)")
    args = parser.parse_args(argv)

    # the bench logs in thousands of times from one address, all successfully;
    # the per-address cap counts failures only, so it stays as deployed
    print("starting the platform on PostgreSQL...", flush=True)
    with throwaway_platform(tempfile.mkdtemp(prefix="ejournal-bench-login-"), "benchlogin") as platform:
        env = platform.env
        admin = Api(platform.url).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
        logins = []
        for n in range(max(4, args.threads * 2)):
            login = f"bench.login{n}"
            admin.post("/users", {"login": login, "full_name": f"Учитель {n}", "roles": ["teacher"],
                                  "password": PASSWORD})
            logins.append(login)
        host, port = "127.0.0.1", int(env["EJOURNAL_GATEWAY_PORT"])
        floor_threads = sorted({cores, args.threads})
        print(f"{args.rounds} rounds x {args.seconds:.0f}s, {args.threads} client threads; argon2id with "
              f"{' and '.join(map(str, floor_threads))} threads; {cores} cores", flush=True)
        gw, floor = [], []
        for n in range(args.rounds):
            gw.append(closed_loop(gateway_login(host, port, logins), threads=args.threads, seconds=args.seconds))
            # the floor's best concurrency this round
            floor.append(max((closed_loop(raw_hash(), threads=t, seconds=args.seconds) for t in floor_threads),
                             key=lambda r: r["ops"]))
            print(f"  round {n + 1}: logins {gw[-1]['ops']:.1f}/s (p50 {gw[-1]['p50_ms']:.0f} ms, errors "
                  f"{gw[-1]['errors']}); argon2id {floor[-1]['ops']:.1f} hashes/s (p50 {floor[-1]['p50_ms']:.0f} ms)",
                  flush=True)
        # one more round of logins for the CPU of each process per login (what is not the hash)
        from bench.grid import cpu_seconds, database_backends, tree
        pids = {p.name: tree(p.popen.pid) for p in platform.procs if p.popen}
        backends = database_backends([v for k, v in env.items() if k.endswith("_DATABASE_URL")])
        if backends:
            pids["PostgreSQL's backends"] = backends
        before = {name: cpu_seconds(p) for name, p in pids.items()}
        run = closed_loop(gateway_login(host, port, logins), threads=args.threads, seconds=args.seconds, warmup=0.0)
        done = max(run["ops"] * args.seconds + run["errors"], 1)
        spent = sorted(((1000 * (cpu_seconds(p) - before[name]) / done, name) for name, p in pids.items()),
                       reverse=True)
        g = statistics.median(r["ops"] for r in gw)
        f = statistics.median(r["ops"] for r in floor)
        print()
        hash_ms = 1000 * cores / f  # the floor's CPU per hash, its threads keeping every core busy
        print(f"CPU per login, ms: {sum(ms for ms, _ in spent):.1f} (a hash alone {hash_ms:.1f}; " + ", ".join(
            f"{name} {ms:.1f}" for ms, name in spent if ms >= 0.05) + f"); {run['ops']:.1f} logins/s in that round")
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores")
        print("Login (medians)                       per second")
        print(f"  POST /auth/login through the gateway  {g:8.1f}")
        print(f"  raw argon2id verifications            {f:8.1f}")
        print(f"  ratio logins/hashes                   {g / f:8.2f}   (goal: >= 0.80)")
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
