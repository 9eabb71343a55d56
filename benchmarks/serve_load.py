"""Load benchmark of the teacher service: batched observations/s and propose latency at 64 clients.

For each storage backend (SQLite file; PostgreSQL in a throwaway cluster when
Debian's binaries are present) and each repeat, a fresh ``uvicorn`` server
process is started and driven from one asyncio process holding 64 keep-alive
connections (a very light HTTP client, so the server is what is measured):

* ``batched``: every client sends ``observe_batch`` requests of ``--batch``
  observations back to back for ``--seconds``; reported: acknowledged
  (committed) observations per second;
* ``learners``: every client loops propose -> "episode" of ``--think`` ms
  (exponentially distributed) -> observe (single, with a client id), like 64
  learners sharing a curriculum; one row per think time, shorter episodes
  meaning a higher request rate; reported: propose latency p50/p99 and
  requests/s;
* ``saturated``: the same with no think time (64 clients hammering propose
  and observe back to back), to show the ceiling.

The load generator runs on uvloop when it is installed (as the server does),
so it takes less of the 2 cores it shares with the server.

Prints one table with medians over ``--repeats`` runs and [min-max] spread.
Targets (issue 5): >= 5,000 observations/s batched and p99 propose latency
< 10 ms with SQLite at 64 clients on 2 cores.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/serve_load.py --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from typing import Any

import httpx
import numpy as np

from magister.bench.args import at_least, comma_list, number_in, refuse_config_errors
from magister.serve.harness import AUTH, Server, postgres_bin, postgres_cluster
from magister.serve.loadgen import Conn

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

try:  # the server runs on uvloop when installed; so does the load generator, to take less CPU
    import uvloop

    _arun = uvloop.run
except ImportError:  # pragma: no cover - e.g. on Windows
    _arun = asyncio.run


async def _batched(port: int, clients: int, seconds: float, batch: int, tasks: list) -> dict[str, float]:
    stop = time.perf_counter() + seconds
    done = [0]

    async def client(i: int) -> None:
        conn = await Conn("127.0.0.1", port, AUTH).open()
        n = 0
        try:
            while time.perf_counter() < stop:
                obs = [{"task": tasks[(i * 31 + n * batch + j) % len(tasks)], "score": ((n + j) % 10) / 10,
                        "id": f"b{i}-{n}-{j}"} for j in range(batch)]
                status, _ = await conn.request("POST", "/v1/curricula/bench/observe_batch", {"observations": obs})
                if status != 200:
                    raise RuntimeError(f"observe_batch answered {status}")
                done[0] += batch
                n += 1
        finally:
            await conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*[client(i) for i in range(clients)])
    return {"obs_s": done[0] / (time.perf_counter() - t0)}


async def _learners(port: int, clients: int, seconds: float, think_ms: float) -> dict[str, float]:
    stop = time.perf_counter() + seconds
    lat: list[float] = []
    requests = [0]

    async def client(i: int) -> None:
        conn = await Conn("127.0.0.1", port, AUTH).open()
        rng = np.random.default_rng(i)
        n = 0
        try:
            if think_ms:  # spread the start so the learners are not in lock-step
                await asyncio.sleep(float(rng.random()) * think_ms / 1000)
            while time.perf_counter() < stop:
                t = time.perf_counter()
                status, r = await conn.request("POST", "/v1/curricula/bench/propose")
                lat.append(time.perf_counter() - t)
                if status != 200:
                    raise RuntimeError(f"propose answered {status}")
                if think_ms:
                    await asyncio.sleep(float(rng.exponential(think_ms)) / 1000)
                status, _ = await conn.request("POST", "/v1/curricula/bench/observe",
                                               {"task": r["tasks"][0], "score": float(rng.random()),
                                                "id": f"l{i}-{n}"})
                if status != 200:
                    raise RuntimeError(f"observe answered {status}")
                requests[0] += 2
                n += 1
        finally:
            await conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*[client(i) for i in range(clients)])
    elapsed = time.perf_counter() - t0
    a = np.array(lat) * 1000
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)), "req_s": requests[0] / elapsed}


def _create(url: str, space: dict[str, Any], teacher: str) -> None:
    with httpx.Client(base_url=url, headers=AUTH, timeout=60) as c:
        c.delete("/v1/curricula/bench")
        c.post("/v1/curricula", json={"name": "bench", "space": space, "teacher": teacher, "seed": 0}
               ).raise_for_status()


BACKENDS = ("sqlite", "postgresql")


def bench_space(kind: str) -> dict[str, Any]:
    """The spec of the curriculum's space for ``--teacher-kind``."""
    return {"type": "Discrete", "n": 16} if kind == "discrete" else {"type": "Box", "low": [0, 0], "high": [1, 1]}


def run_backend(label: str, db: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    space = bench_space(args.teacher_kind)
    rng = np.random.default_rng(0)
    tasks = [int(i) for i in rng.integers(0, 16, 4096)] if space["type"] == "Discrete" else \
        rng.random((4096, 2)).round(6).tolist()
    thinks = args.think
    rows: dict[Any, list[dict[str, float]]] = {"batched": [], **{t: [] for t in thinks}, 0.0: []}
    for rep in range(args.repeats):
        env = {"MAGISTER_DURABLE_PROPOSALS": "1" if args.durable_proposals else "0"}
        with Server(db(rep) if callable(db) else db, checkpoint_every=args.checkpoint_every, env=env) as server:
            _create(server.url, space, args.teacher)
            rows["batched"].append(_arun(_batched(server.port, args.clients, args.seconds, args.batch, tasks)))
            for think in [*thinks, 0.0]:
                _create(server.url, space, args.teacher)
                rows[think].append(_arun(_learners(server.port, args.clients, args.seconds, think)))
        print(f"  {label} repeat {rep + 1}/{args.repeats} done", file=sys.stderr, flush=True)
    return [{"backend": label, "workload": workload, "runs": runs} for workload, runs in rows.items()]


def _fmt(values: list[float], digits: int = 0) -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    return f"{med:,.{digits}f} [{min(values):,.{digits}f}-{max(values):,.{digits}f}]"


def main(argv: list[str] | None = None) -> None:
    import magister as mg

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", type=comma_list(str), default="sqlite,postgresql",
                    help=f"comma list: {', '.join(BACKENDS)}")
    ap.add_argument("--clients", type=at_least(1), default=64)
    ap.add_argument("--seconds", type=number_in(0, low_open=True), default=8.0, help="duration of each workload")
    ap.add_argument("--batch", type=at_least(1), default=200, help="observations per observe_batch request")
    ap.add_argument("--think", type=comma_list(number_in(0, low_open=True)), default="100,25,10",
                    help="mean 'episode' time of a learner, ms (> 0; the saturated row, no think time, is always "
                         "run); a comma list gives one row each")
    ap.add_argument("--repeats", type=at_least(1), default=3)
    ap.add_argument("--teacher", default="uniform")
    ap.add_argument("--teacher-kind", default="discrete", choices=["discrete", "continuous"])
    ap.add_argument("--checkpoint-every", type=at_least(0), default=2000)
    ap.add_argument("--durable-proposals", action="store_true",
                    help="server waits for each proposal's log entry to be on disk before answering")
    args = ap.parse_args(argv)
    # checked before any server starts: an unknown backend stopped the run after the SQLite rows, a typo'd
    # teacher (or one of the wrong kind) was an HTTP 422 traceback, --seconds 0 an empty percentile
    unknown = [b for b in args.backends if b not in BACKENDS]
    if unknown:
        ap.error(f"--backends: unknown {', '.join(map(repr, unknown))}; choose among {', '.join(BACKENDS)}")
    refuse_config_errors(ap, mg.make_teacher, args.teacher, mg.space_from_spec(bench_space(args.teacher_kind)),
                         seed=0)

    results: list[dict[str, Any]] = []
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="magister-bench-"))
        for backend in args.backends:
            if backend == "sqlite":
                results += run_backend("SQLite (WAL, synchronous=FULL)",
                                       lambda rep: os.path.join(tmp, f"bench-{rep}.db"), args)
            elif backend == "postgresql":
                if postgres_bin() is None:
                    print("PostgreSQL binaries not found: skipping the PostgreSQL rows", file=sys.stderr)
                    continue
                url = stack.enter_context(postgres_cluster())
                results += run_backend("PostgreSQL (synchronous_commit=on)", url, args)

    print()
    print(f"teacher service under load: {args.clients} clients, teacher {args.teacher!r}, {args.seconds:g} s per "
          f"workload, {args.repeats} repeats (median [min-max]); {os.cpu_count()} CPUs shared with other work; "
          f"proposals {'durable before the reply' if args.durable_proposals else 'committed with the next group'}"
          f"; load average at the end {os.getloadavg()[0]:.1f}")
    print()
    print("| backend | workload | observations/s | requests/s | propose p50 ms | propose p99 ms |")
    print("|---|---|---|---|---|---|")
    for r in results:
        runs = r["runs"]
        if r["workload"] == "batched":
            print(f"| {r['backend']} | observe_batch x{args.batch} | {_fmt([x['obs_s'] for x in runs])} "
                  f"| {_fmt([x['obs_s'] / args.batch for x in runs])} | - | - |")
        else:
            name = f"learners (think {r['workload']:g} ms)" if r["workload"] else "saturated (no think)"
            print(f"| {r['backend']} | {name} | {_fmt([x['req_s'] / 2 for x in runs])} "
                  f"| {_fmt([x['req_s'] for x in runs])} | {_fmt([x['p50'] for x in runs], 1)} "
                  f"| {_fmt([x['p99'] for x in runs], 1)} |")
    print()
    print("targets (SQLite, 64 clients, 2 cores): >= 5,000 observations/s batched; propose p99 < 10 ms")


if __name__ == "__main__":
    main()
