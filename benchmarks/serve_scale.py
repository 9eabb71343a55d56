"""The service at a learning platform's scale: a curriculum per learner, created in bulk.

One ``uvicorn`` server process on a SQLite file (or PostgreSQL with
``--postgres``), driven by one client:

1. ``--n`` curricula (default 1,000,000) of a 20-skill ``mastery-learning``
   template are created with ``POST /v1/curricula/bulk`` (10,000 learners a
   request), with progress; reported: curricula/s;
2. ``--observe`` random curricula (default 5,000) get one observation each
   (propose, then observe; each one is loaded, so most of them pass through
   the cache of ``MAGISTER_CACHE_SIZE``);
3. propose latency for a random learner, one request at a time: *cold*
   (``--requests`` learners drawn from all ``--n``, almost none in memory)
   and *hot* (a set of 1,000 learners warmed first, then ``--requests``
   proposals among them); p50 / p99 in ms;
4. the server's memory (RSS now and its peak, from /proc) after all that;
5. a restart (SIGKILL, like a crash): time from starting the new process to
   the first answered propose for a random learner, and its memory then;
   beside it, the same for a server on an empty database (what starting the
   Python process costs on this machine, whatever the number of curricula).

With ``--processes 1,2,4`` (PostgreSQL only): after creating ``--n``
curricula, for each count P, P server processes (``MAGISTER_NODE_URL`` set,
leases on) are driven by 64 keep-alive connections spread evenly over them,
like a load balancer without affinity (``--affinity``: each connection
asks only for curricula of its own process, so none is forwarded); each connection loops propose ->
observe (with an id) on a random curriculum for ``--seconds``; reported:
requests/s (the first fifth of the time, when curricula load and leases are
taken, is not counted).

Every figure is one run on a shared machine: noisy. Nothing is tuned to it.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/serve_scale.py --n 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from contextlib import ExitStack

import httpx
import numpy as np

from magister.serve.harness import AUTH, Server, free_port, postgres_bin, postgres_cluster
from magister.serve.loadgen import Conn

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

SPACE = {"type": "Discrete", "names": [f"skill-{i}" for i in range(20)]}
TEACHER = "mastery-learning"
PER_REQUEST = 10_000


def learner(i: int) -> str:
    return f"l{i:07d}"


def rss_mb(pid: int) -> tuple[float, float]:
    """(resident now, peak resident) of process ``pid`` in MB."""
    now = peak = 0.0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                now = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return now, peak


def create(c: httpx.Client, n: int, progress: bool) -> float:
    start = time.perf_counter()
    last = start
    for first in range(0, n, PER_REQUEST):
        learners = [learner(i) for i in range(first, min(n, first + PER_REQUEST))]
        r = c.post("/v1/curricula/bulk", json={"template": {"space": SPACE, "teacher": TEACHER, "seed": 0},
                                               "learners": learners})
        if r.status_code != 201:
            raise SystemExit(f"bulk creation failed: {r.status_code} {r.text[:300]}")
        now = time.perf_counter()
        if progress and (now - last > 10 or first + PER_REQUEST >= n):
            done = min(n, first + PER_REQUEST)
            print(f"  created {done:,} / {n:,} ({done / (now - start):,.0f}/s)", file=sys.stderr, flush=True)
            last = now
    return n / (time.perf_counter() - start)


def propose(c: httpx.Client, name: str) -> float:
    t = time.perf_counter()
    r = c.post(f"/v1/curricula/{name}/propose")
    if r.status_code != 200:
        raise SystemExit(f"propose {name} failed: {r.status_code} {r.text[:300]}")
    return (time.perf_counter() - t) * 1e3


def pct(ms: list[float]) -> str:
    return f"{np.percentile(ms, 50):.1f} / {np.percentile(ms, 99):.1f}"


def run(args: argparse.Namespace, db: str) -> list[tuple[str, str]]:
    rng = np.random.default_rng(args.seed)
    env = {"MAGISTER_CACHE_SIZE": str(args.cache_size)}
    rows: list[tuple[str, str]] = []
    server = Server(db, env=env).start()
    try:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=600) as c:
            rate = create(c, args.n, True)
            rows.append(("bulk creation", f"{rate:,.0f} curricula/s"))
            rows.append(("memory after creation (RSS)", f"{rss_mb(server.proc.pid)[0]:,.0f} MB"))
            t = time.perf_counter()
            for k, i in enumerate(rng.choice(args.n, size=min(args.observe, args.n), replace=False)):
                name = learner(int(i))
                task = c.post(f"/v1/curricula/{name}/propose").json()["tasks"][0]
                r = c.post(f"/v1/curricula/{name}/observe", json={"task": task, "score": 1.0, "id": f"o{k}"})
                if r.status_code != 200:
                    raise SystemExit(f"observe failed: {r.status_code} {r.text[:300]}")
                if (k + 1) % 5000 == 0:
                    print(f"  observed {k + 1:,}", file=sys.stderr, flush=True)
            rows.append((f"{min(args.observe, args.n):,} curricula observed once",
                         f"{min(args.observe, args.n) / (time.perf_counter() - t):,.0f} curricula/s"))
            cold = [propose(c, learner(int(i))) for i in rng.integers(0, args.n, args.requests)]
            hot_set = [learner(int(i)) for i in rng.choice(args.n, size=min(1000, args.n), replace=False)]
            for name in hot_set:
                propose(c, name)
            hot = [propose(c, hot_set[int(i)]) for i in rng.integers(0, len(hot_set), args.requests)]
            rows.append(("propose p50 / p99, cold (ms)", pct(cold)))
            rows.append(("propose p50 / p99, hot (ms)", pct(hot)))
            now, peak = rss_mb(server.proc.pid)
            rows.append(("memory after the run (RSS / peak)", f"{now:,.0f} / {peak:,.0f} MB"))
    finally:
        server.kill()
    restarted = Server(db, env=env)
    t = time.perf_counter()
    restarted.start(timeout=3600)
    try:
        with httpx.Client(base_url=restarted.url, headers=AUTH, timeout=600) as c:
            propose(c, learner(int(rng.integers(0, args.n))))
            rows.append(("restart (kill -9) to first answer", f"{time.perf_counter() - t:.2f} s"))
            rows.append(("memory after restart (RSS)", f"{rss_mb(restarted.proc.pid)[0]:,.0f} MB"))
    finally:
        restarted.stop()
    with tempfile.TemporaryDirectory() as empty:
        fresh = Server(os.path.join(empty, "empty.db"))
        t = time.perf_counter()
        fresh.start(timeout=600)
        try:
            with httpx.Client(base_url=fresh.url, headers=AUTH, timeout=600) as c:
                c.get("/v1/curricula", params={"limit": 1})
                rows.append(("start on an empty database to first answer", f"{time.perf_counter() - t:.2f} s"))
        finally:
            fresh.stop()
    return rows


async def _drive(ports: list[int], n: int, seconds: float, tag: str, affinity: bool, clients: int = 64) -> float:
    """Requests/s (propose + observe on random curricula) over ``ports``, after a fifth of ``seconds``."""
    conns = [await Conn("127.0.0.1", ports[i % len(ports)], AUTH).open() for i in range(clients)]
    start = time.perf_counter()
    counted_from = start + seconds / 5
    stop = start + seconds
    done = [0]

    async def one(k: int, conn: Conn) -> None:
        rng = np.random.default_rng(k)
        j = 0
        while time.perf_counter() < stop:
            i = int(rng.integers(n))
            if affinity:  # only curricula of this connection's process (i = its index modulo P)
                i = min(n - 1, i - i % len(ports) + k % len(ports))
            name = learner(i)
            status, out = await conn.request("POST", f"/v1/curricula/{name}/propose")
            if status != 200:
                raise SystemExit(f"propose failed: {status} {out}")
            status, out = await conn.request("POST", f"/v1/curricula/{name}/observe",
                                             {"task": out["tasks"][0], "score": 1.0, "id": f"{tag}c{k}-{j}"})
            if status != 200:
                raise SystemExit(f"observe failed: {status} {out}")
            j += 1
            if time.perf_counter() >= counted_from:
                done[0] += 2

    await asyncio.gather(*(one(k, c) for k, c in enumerate(conns)))
    for c in conns:
        await c.close()
    return done[0] / (time.perf_counter() - counted_from)


def cluster(args: argparse.Namespace, db: str) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    first = Server(db).start()
    try:
        with httpx.Client(base_url=first.url, headers=AUTH, timeout=600) as c:
            rows.append(("bulk creation", f"{create(c, args.n, True):,.0f} curricula/s"))
    finally:
        first.stop()
    for p in [int(x) for x in args.processes.split(",")]:
        ports = [free_port() for _ in range(p)]
        servers = [Server(db, port=port, env={"MAGISTER_NODE_URL": f"http://127.0.0.1:{port}",
                                              "MAGISTER_CACHE_SIZE": str(args.cache_size)}).start()
                   for port in ports]
        try:
            rate = asyncio.run(_drive(ports, args.n, args.seconds, f"p{p}{args.affinity}-", args.affinity))
        finally:
            for server in servers:
                server.stop()
        how = "by curriculum" if args.affinity else "none"
        rows.append((f"{p} API process{'es' if p > 1 else ''} (affinity: {how})", f"{rate:,.0f} requests/s"))
        print(f"  {p} processes: {rate:,.0f} requests/s", file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000, help="curricula to create (default 1,000,000)")
    p.add_argument("--observe", type=int, default=5000, help="curricula given one observation each")
    p.add_argument("--requests", type=int, default=2000, help="proposals timed, cold and hot")
    p.add_argument("--cache-size", type=int, default=10_000, help="MAGISTER_CACHE_SIZE of the server")
    p.add_argument("--db", default=None, help="SQLite file to use (default: a temporary one, removed)")
    p.add_argument("--postgres", action="store_true", help="use a throwaway PostgreSQL cluster instead")
    p.add_argument("--processes", default=None,
                   help="with --postgres: requests/s with these numbers of API processes, e.g. 1,2,4")
    p.add_argument("--seconds", type=float, default=20.0, help="load time per process count")
    p.add_argument("--affinity", action="store_true",
                   help="each connection asks only for curricula of its own process (a load balancer with "
                        "affinity by curriculum): no request is forwarded")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.processes and not args.postgres:
        raise SystemExit("--processes needs --postgres (several processes share one PostgreSQL)")
    with ExitStack() as stack:
        if args.postgres:
            if postgres_bin() is None:
                raise SystemExit("PostgreSQL binaries not found (make system-deps)")
            db, label = stack.enter_context(postgres_cluster()), "PostgreSQL"
        else:
            db = args.db or os.path.join(stack.enter_context(tempfile.TemporaryDirectory()), "scale.db")
            label = "SQLite"
        t = time.perf_counter()
        rows = cluster(args, db) if args.processes else run(args, db)
        if not args.postgres and os.path.exists(db):
            rows.append(("database file", f"{os.path.getsize(db) / 1e6:,.0f} MB"))
    print(f"\nserve_scale: {args.n:,} curricula ({TEACHER}, 20 skills), {label}, cache {args.cache_size:,}, "
          f"{time.perf_counter() - t:.0f} s in all")
    print("| measure | value |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
