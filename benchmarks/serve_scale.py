"""The service at a learning platform's scale: a curriculum per learner, created in bulk.

One ``uvicorn`` server process on a SQLite file (or PostgreSQL with
``--postgres``), driven by one client:

1. ``--n`` curricula (default 1,000,000) of a 20-skill ``mastery-learning``
   template are created with ``POST /v1/curricula/bulk`` (10,000 learners a
   request), with progress; reported: curricula/s;
2. ``--observe`` random curricula (default 5,000) get one observation each
   (propose, then observe; each one is loaded, so most of them pass through
   the cache of ``MAGISTER_CACHE_SIZE``);
3. propose latency for a random learner, one request at a time over one
   kept-alive connection of a bare client (so the client takes little CPU
   from the server it times), with the server's CPU per request: *cold*
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
leases on) are driven by ``--clients`` (64) keep-alive connections spread evenly over them,
like a load balancer without affinity (``--affinity``: each connection
asks only for curricula of its own process, so none is forwarded); each connection loops propose ->
observe (with an id) on a random curriculum for ``--seconds``; reported:
requests/s (before the clock starts every process is sent one proposal for
each curriculum it will be asked for, with up to 20,000 curricula, so that
first loads and lease takes are not counted; the first fifth of the time is
not counted either). With ``--repeat R`` the counts run interleaved in each of R rounds and
the medians are reported, with each count's ratio to the first one (median over the rounds) and
the CPU each request cost the servers, PostgreSQL and the client (from /proc).

Every figure is one run on a shared machine: noisy. Nothing is tuned to it.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/serve_scale.py --n 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from typing import Any

import httpx
import numpy as np

from magister.bench.args import at_least, comma_list, number_in, out_file
from magister.serve.harness import ADMIN, AUTH, Server, free_port, postgres_bin, postgres_cluster
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


class RawClient:
    """One blocking keep-alive connection that sends bare proposals: a few tens of microseconds of
    client CPU per request (a general HTTP client costs about a millisecond, which on a small
    machine competes with the server being timed)."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("rb")
        self.auth = AUTH["Authorization"]

    def propose(self, name: str) -> float:
        """Milliseconds from sending ``POST .../propose`` to having read the whole reply."""
        t = time.perf_counter()
        self.sock.sendall(f"POST /v1/curricula/{name}/propose HTTP/1.1\r\nHost: x\r\n"
                          f"Authorization: {self.auth}\r\nContent-Length: 0\r\n\r\n".encode())
        status = int(self.file.readline().split()[1])
        length = 0
        while True:
            line = self.file.readline()
            if line in (b"\r\n", b""):
                break
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = self.file.read(length)
        if status != 200:
            raise SystemExit(f"propose {name} failed: {status} {body[:300]!r}")
        return (time.perf_counter() - t) * 1e3

    def close(self) -> None:
        self.file.close()
        self.sock.close()


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
            raw = RawClient(server.port)
            pid = server.proc.pid
            cpu0 = _cpu_s(pid)
            cold = [raw.propose(learner(int(i))) for i in rng.integers(0, args.n, args.requests)]
            cold_cpu = (_cpu_s(pid) - cpu0) * 1e3 / args.requests
            hot_set = [learner(int(i)) for i in rng.choice(args.n, size=min(1000, args.n), replace=False)]
            for name in hot_set:
                raw.propose(name)
            cpu0 = _cpu_s(pid)
            hot = [raw.propose(hot_set[int(i)]) for i in rng.integers(0, len(hot_set), args.requests)]
            hot_cpu = (_cpu_s(pid) - cpu0) * 1e3 / args.requests
            raw.close()
            rows.append(("propose p50 / p99, cold (ms)", f"{pct(cold)} (server CPU {cold_cpu:.2f} ms/request)"))
            rows.append(("propose p50 / p99, hot (ms)", f"{pct(hot)} (server CPU {hot_cpu:.2f} ms/request)"))
            rows.append(("machine load (1-minute average) after timing", f"{os.getloadavg()[0]:.1f}"))
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
            rows.append(("restart (kill -9) to first answer", f"{time.perf_counter() - t:.2f} s (server CPU "
                                                               f"{_cpu_s(restarted.proc.pid):.2f} s)"))
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
                rows.append(("start on an empty database to first answer",
                             f"{time.perf_counter() - t:.2f} s (server CPU {_cpu_s(fresh.proc.pid):.2f} s)"))
        finally:
            fresh.stop()
    return rows


def _cpu_s(pid: int, children: bool = False) -> float:
    """CPU seconds (user + system) process ``pid`` used so far (with ``children``: also its reaped children)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def _postgres_cpu_s(port: int) -> float:
    """CPU seconds of the PostgreSQL cluster listening on ``port``: its postmaster, its live backends, and
    (through the postmaster's reaped-children counters) those that have exited."""
    master, parents = None, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
            with open(f"/proc/{entry}/stat") as f:
                parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"postgres") and str(port).encode() in cmd and b"-p" in cmd:
            master = int(entry)
    if master is None:
        return float("nan")
    total = _cpu_s(master, children=True)
    for pid, parent in parents.items():
        if parent == master:
            try:
                total += _cpu_s(pid)
            except OSError:
                pass
    return total


#: with at most this many curricula, every process loads (or learns the holder of) each curriculum it
#: will be asked for before the clock starts, so the counted time holds no first loads
WARM_UP_MAX = 20_000


async def _warm_up(conns: list[Conn], processes: int, n: int, affinity: bool) -> None:
    """One proposal for each curriculum through the process ``i % processes`` (which then holds it, as the
    affinity run wants; without affinity it balances the holders as random first use would), then, without
    affinity, through each other process (which then remembers who holds it)."""
    by_port = [conns[k::processes] for k in range(processes)]
    for shift in range(1 if affinity else processes):
        async def one_port(k: int) -> None:
            names = [learner(i) for i in range(n) if (i + shift) % processes == k]
            mine = by_port[k]

            async def lane(j: int) -> None:
                for name in names[j::len(mine)]:
                    status, out = await mine[j].request("POST", f"/v1/curricula/{name}/propose")
                    if status != 200:
                        raise SystemExit(f"warm-up propose failed: {status} {out}")

            await asyncio.gather(*(lane(j) for j in range(len(mine))))

        await asyncio.gather(*(one_port(k) for k in range(processes)))


async def _connect_and_warm(ports: list[int], n: int, clients: int, affinity: bool) -> list[Conn]:
    """``clients`` keep-alive connections spread evenly over ``ports``, after the warm-up (:func:`_warm_up`)."""
    conns = [await Conn("127.0.0.1", ports[i % len(ports)], AUTH).open() for i in range(clients)]
    if n <= WARM_UP_MAX:
        await _warm_up(conns, len(ports), n, affinity)
    return conns


async def _drive(ports: list[int], n: int, seconds: float, tag: str, affinity: bool,
                 clients: int = 64, on_count: Any = None) -> float:
    """Requests/s (propose + observe on random curricula) over ``ports``, after a fifth of ``seconds``;
    ``on_count()`` is called when counting starts (to take CPU readings)."""
    conns = await _connect_and_warm(ports, n, clients, affinity)
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

    async def mark() -> None:
        await asyncio.sleep(max(0.0, counted_from - time.perf_counter()))
        if on_count is not None:
            on_count()

    await asyncio.gather(mark(), *(one(k, c) for k, c in enumerate(conns)))
    for c in conns:
        await c.close()
    return done[0] / (time.perf_counter() - counted_from)


WRK_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "serve_scale.lua")


def _children_cpu_s() -> float:
    """CPU seconds of this process's children that have been waited for (the finished wrk runs)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _drive_wrk(ports: list[int], n: int, seconds: float, tag: str, affinity: bool, clients: int = 64,
               on_count: Any = None) -> float:
    """What :func:`_drive` measures, with the load from ``wrk`` (C, epoll) instead of this Python process: one
    single-threaded wrk per server process with its share of the connections, running serve_scale.lua. The
    warm-up is the same; then wrk runs a fifth of ``seconds`` uncounted and the rest counted (``on_count`` is
    called between the two). Returns requests/s summed over the wrk processes."""
    async def warm() -> None:
        for c in await _connect_and_warm(ports, n, clients, affinity):
            await c.close()

    asyncio.run(warm())
    lead = max(1, round(seconds / 5))

    def run(secs: int, phase: str) -> float:
        procs = [subprocess.Popen(
            ["wrk", "-t1", f"-c{max(1, clients // len(ports))}", f"-d{secs}s", "-s", WRK_SCRIPT,
             f"http://127.0.0.1:{port}", "--", str(n), str(len(ports)), str(k), f"{tag}{phase}{k}-",
             "1" if affinity else "0", str(k), ADMIN],  # random seed k per wrk, as _drive seeds each connection
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for k, port in enumerate(ports)]
        rate = 0.0
        for proc in procs:
            out, _ = proc.communicate(timeout=secs + 120)
            m = re.search(r"MAGISTER requests=(\d+) duration_us=(\d+) errors=(\d+)", out)
            if proc.returncode != 0 or m is None:
                raise SystemExit(f"wrk failed (exit {proc.returncode}):\n{out}")
            if int(m.group(3)):
                raise SystemExit(f"wrk: {m.group(3)} requests failed (errors or non-2xx answers):\n{out}")
            rate += int(m.group(1)) / (int(m.group(2)) / 1e6)
        return rate

    run(lead, "w")
    if on_count is not None:
        on_count()
    return run(max(1, round(seconds) - lead), "c")


def cluster(args: argparse.Namespace, db: str) -> list[tuple[str, str]]:
    """Requests/s for each process count, ``--repeat`` rounds with the counts interleaved within a round
    (so a change of the machine's load hits every count alike); medians over the rounds, and the median
    of each round's ratio to one process. CPU per request of the servers, PostgreSQL and this client."""
    rows: list[tuple[str, str]] = []
    first = Server(db).start()
    try:
        with httpx.Client(base_url=first.url, headers=AUTH, timeout=600) as c:
            rows.append(("bulk creation", f"{create(c, args.n, True):,.0f} curricula/s"))
    finally:
        first.stop()
    counts = args.processes
    pg_port = int(db.rsplit(":", 1)[1].split("/")[0])
    rates: dict[int, list[float]] = {p: [] for p in counts}
    cpu: dict[int, list[tuple[float, float, float]]] = {p: [] for p in counts}
    for r in range(args.repeat):
        for p in counts:
            ports = [free_port() for _ in range(p)]
            servers = [Server(db, port=port, env={"MAGISTER_NODE_URL": f"http://127.0.0.1:{port}",
                                                  "MAGISTER_CACHE_SIZE": str(args.cache_size)}).start()
                       for port in ports]
            marks: list[tuple[float, float, float, float]] = []

            def reading() -> tuple[float, float, float, float]:
                return (sum(_cpu_s(s.proc.pid) for s in servers if s.proc), _postgres_cpu_s(pg_port),
                        _children_cpu_s() if args.client == "wrk" else time.process_time(), time.perf_counter())

            drive = _drive_wrk if args.client == "wrk" else (lambda *a, **kw: asyncio.run(_drive(*a, **kw)))
            try:
                rate = drive(ports, args.n, args.seconds, f"r{r}p{p}{args.affinity}-", args.affinity,
                             clients=args.clients, on_count=lambda: marks.append(reading()))
                end = reading()
            finally:
                for server in servers:
                    server.stop()
            n_req = rate * (end[3] - marks[0][3])
            cpu[p].append(tuple((end[i] - marks[0][i]) * 1e3 / n_req for i in range(3)))  # type: ignore[misc]
            rates[p].append(rate)
            print(f"  round {r + 1}: {p} process{'es' if p > 1 else ''}: {rate:,.0f} requests/s", file=sys.stderr,
                  flush=True)
    how = "by curriculum" if args.affinity else "none"
    for p in counts:
        med = float(np.median(rates[p]))
        per = np.median(np.array(cpu[p]), axis=0)
        spread = f" [{min(rates[p]):,.0f}-{max(rates[p]):,.0f}]" if args.repeat > 1 else ""
        ratio = ""
        if p != counts[0]:
            ratios = [a / b for a, b in zip(rates[p], rates[counts[0]])]
            ratio = f"; x{np.median(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}] of {counts[0]}"
        rows.append((f"{p} API process{'es' if p > 1 else ''} (affinity: {how})",
                     f"{med:,.0f}{spread} requests/s{ratio}"))
        rows.append((f"  CPU per request, {p}: servers / PostgreSQL / client (ms)",
                     f"{per[0]:.2f} / {per[1]:.2f} / {per[2]:.2f}"))
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # each option is checked here: at 0 (or a count that is not a number) they failed after the curricula were
    # created (a ZeroDivisionError for --requests 0, numpy's errors for --observe -1 or --n 0, int() of a
    # --processes item, an IndexError for --seconds 0)
    p.add_argument("--n", type=at_least(1), default=1_000_000, help="curricula to create (default 1,000,000)")
    p.add_argument("--observe", type=at_least(0), default=5000, help="curricula given one observation each")
    p.add_argument("--requests", type=at_least(1), default=2000, help="proposals timed, cold and hot")
    p.add_argument("--cache-size", type=at_least(1), default=10_000, help="MAGISTER_CACHE_SIZE of the server")
    p.add_argument("--db", default=None, help="SQLite file to create (a new one, kept; default: a temporary one, removed)")
    p.add_argument("--postgres", action="store_true", help="use a throwaway PostgreSQL cluster instead")
    p.add_argument("--processes", type=comma_list(at_least(1)), default=None,
                   help="with --postgres: requests/s with these numbers of API processes, e.g. 1,2,4")
    p.add_argument("--seconds", type=number_in(0, low_open=True), default=20.0, help="load time per process count")
    p.add_argument("--affinity", action="store_true",
                   help="each connection asks only for curricula of its own process (a load balancer with "
                        "affinity by curriculum): no request is forwarded")
    p.add_argument("--clients", type=at_least(1), default=64, help="with --processes: keep-alive connections in all")
    p.add_argument("--client", choices=("python", "wrk"), default="python",
                   help="with --processes: what drives the load: this script's asyncio client, or wrk (C; "
                        "apt package 'wrk'), which takes about a third of the CPU per request from the 2 cores "
                        "the servers share")
    p.add_argument("--repeat", type=at_least(1), default=1,
                   help="with --processes: rounds, each running every process count once (interleaved)")
    p.add_argument("--seed", type=at_least(0), default=0)
    args = p.parse_args(argv)
    if args.processes and (len(set(args.processes)) < len(args.processes) or args.clients < max(args.processes)):
        p.error(f"--processes {','.join(map(str, args.processes))} with --clients {args.clients}: give each count "
                "once, and at least as many --clients as the largest count (a process without a connection is "
                "not measured)")
    if args.db is not None:
        if args.postgres:  # it was ignored without a word
            p.error("--db is the SQLite file: it is not used with --postgres; drop one of them")
        if os.path.isfile(args.db):  # its curricula made the bulk creation fail (409) once the server was up
            p.error(f"--db {args.db!r} exists: the run creates its --n curricula in a new database; give a file "
                    "name that does not exist yet (or remove that file)")
        out_file(p, args.db, "--db", "scale.db")  # a folder there failed when the server started
    # argparse's usage and reason (exit 2), as every other refused option; they were a bare exit 1
    if args.client != "python" and not args.processes:
        p.error("--client drives the several-process run: give --processes too (with --postgres)")
    if args.client == "wrk" and shutil.which("wrk") is None:
        p.error("--client wrk needs wrk on the PATH (apt-get install wrk; make system-deps installs it)")
    if args.processes and not args.postgres:
        p.error("--processes needs --postgres (several processes share one PostgreSQL)")
    if args.postgres and postgres_bin() is None:
        p.error("--postgres needs the PostgreSQL binaries, not found under /usr/lib/postgresql/*/bin "
                "(make system-deps installs them)")
    with ExitStack() as stack:
        if args.postgres:
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
