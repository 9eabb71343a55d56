"""Memory and time spent on client ids by the teacher service, with many ids (default 1M).

Two tables:

* ``bookkeeping``: the id structures alone, no database: ``--ids`` new ids
  each looked up, remembered and (for the bounded structure) trimmed, as one
  observation does. ``dict of tuples`` is what the service kept before
  (``id -> (seq, fingerprint)`` for every id ever seen);
  ``ClientIds(recent=N)`` keeps N ids exactly and the older ones in a
  scalable Bloom filter (``serve/seen.py``). Reported: memory held (deep
  ``sys.getsizeof`` total), bytes per id, and microseconds per id.
* ``service``: a database holding ``--ids`` observations with ids, then a
  fresh :class:`Service` started on it (in-process, no HTTP) for each
  setting: start-up time (``start`` and the first use of the curriculum,
  which loads it: curricula load on first use), peak memory traced while
  starting (tracemalloc, in a separate start), memory held for ids afterwards, then
  ``Service.observe`` per call with a new id, a retry of an id from the start
  of the log (no longer recent: one indexed read of the log) and a retry of a
  recent id. Run the script against an older checkout (``PYTHONPATH``) to
  get its ``before`` row: a Service without ``recent_ids`` is measured as is.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/serve_ids.py
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/serve_ids.py --ids 200000 --recent 100000 10000
"""

from __future__ import annotations

import argparse
import gc
import inspect
import os
import sys
import tempfile
import time
import tracemalloc
import types
from typing import Any

import numpy as np

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

from magister.bench.args import at_least  # noqa: E402
from magister.serve.db import make_engine  # noqa: E402
from magister.serve.service import Service, _fingerprint  # noqa: E402

SPACE = {"type": "Discrete", "names": ["add", "sub", "mul", "div"]}
_SKIP = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def held(root: Any) -> int:
    """Bytes held by ``root`` and everything it references (each object once; classes and modules excluded)."""
    seen: set[int] = set()
    stack = [root]
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _SKIP):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)  # an ndarray owning its data counts its buffer here
        if isinstance(obj, dict):
            stack.extend(obj)  # a dict with only str keys does not report its keys as referents
        if not isinstance(obj, np.ndarray):
            stack.extend(gc.get_referents(obj))
    return total


def _ids(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    hi, lo = rng.integers(0, 2**63, size=n), rng.integers(0, 2**63, size=n)
    return [f"{a:016x}-{b:016x}" for a, b in zip(hi, lo)]  # 33 characters, like a UUID


def _ms(ns: list[int], q: float) -> float:
    return float(np.quantile(np.asarray(ns) / 1e3, q))


# ------------------------------------------------------------ bookkeeping
def bookkeeping(n: int, recents: list[int]) -> list[tuple[str, float, float, float]]:
    keys = _ids(n, 1)
    text, score = '"add"', 0.5
    rows = []

    gc.collect()
    t0 = time.perf_counter()
    d: dict[str, tuple[int, int]] = {}
    for seq, cid in enumerate(keys, 1):
        if d.get(cid) is None:
            d[cid] = (seq, _fingerprint(text, score))
    dt = time.perf_counter() - t0
    size = held(d)
    rows.append(("dict of tuples (before)", size / 2**20, size / n, dt / n * 1e6))
    del d

    from magister.serve.seen import ClientIds

    for recent in recents:
        gc.collect()
        ids = ClientIds(min(recent, n))
        t0 = time.perf_counter()
        for seq, cid in enumerate(keys, 1):
            if ids.get(cid) is None and not ids.maybe_old(cid):
                ids.remember(cid, seq, _fingerprint(text, score))
                ids.trim(lambda s: True)
        dt = time.perf_counter() - t0
        size = held(ids)
        label = f"ClientIds(recent={recent:,})" if recent < n else "ClientIds(recent=all)"
        rows.append((label, size / 2**20, size / n, dt / n * 1e6))
    return rows


# ---------------------------------------------------------------- service
def fill(db: str, n: int, batch: int = 10_000) -> list[str]:
    keys = _ids(n, 2)
    service = Service(make_engine(db))
    service.start()
    service.create("c", SPACE, "uniform", {}, 1, None)[1].result()
    futs = []
    for start in range(0, n, batch):
        chunk = keys[start:start + batch]
        futs += service.observe("c", [(SPACE["names"][i % 4], (i % 10) / 10, cid)
                                      for i, cid in enumerate(chunk, start)])[1]
    for f in futs:
        f.result()
    service.close()
    service.engine.dispose()
    return keys


def _service(db: str, recent: int | None) -> Service:
    kwargs = {} if recent is None else {"recent_ids": recent}
    return Service(make_engine(db), **kwargs)


def service_row(db: str, keys: list[str], recent: int | None, calls: int, seed: int) -> dict[str, float]:
    n = len(keys)
    # peak memory while starting (traced, so slower), in a start of its own
    gc.collect()
    tracemalloc.start()
    s = _service(db, recent)
    s.start()
    s.get("c")  # curricula load on first use: start() alone reads no id (and s.curricula["c"] was a KeyError)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    s.close()
    s.engine.dispose()
    del s
    gc.collect()

    s = _service(db, recent)
    t0 = time.perf_counter()
    s.start()
    live = s.get("c")
    start_s = time.perf_counter() - t0
    size = held(live.ids)
    observed = live.teacher.n_observed

    rng = np.random.default_rng(3)
    fresh = _ids(calls, seed)  # ids this log has never seen
    new_ns, futs = [], []
    for i, cid in enumerate(fresh):
        obs = [(SPACE["names"][i % 4], 0.5, cid)]
        t = time.perf_counter_ns()
        futs += s.observe("c", obs)[1]
        new_ns.append(time.perf_counter_ns() - t)
    for f in futs:
        f.result()
    old_ns, recent_ns = [], []
    for j in rng.integers(0, min(n, 100_000), size=max(1, calls // 10)):
        obs = [(SPACE["names"][int(j) % 4], (int(j) % 10) / 10, keys[int(j)])]
        t = time.perf_counter_ns()
        seqs, _ = s.observe("c", obs)
        old_ns.append(time.perf_counter_ns() - t)
        assert seqs == [int(j) + 1], "a retried id must get its first seq"
    # recent ids: among the last 1,000 calls (with fewer than 500 calls, calls - 1000 was a negative index past
    # the start of `fresh`: an IndexError after the log was written)
    for j in rng.integers(max(0, calls - 1000), calls, size=max(1, calls // 10)):
        obs = [(SPACE["names"][int(j) % 4], 0.5, fresh[int(j)])]
        t = time.perf_counter_ns()
        s.observe("c", obs)
        recent_ns.append(time.perf_counter_ns() - t)
    assert live.teacher.n_observed == observed + calls, "retries must not be applied again"
    s.close()
    s.engine.dispose()
    return {"start_s": start_s, "peak_mb": peak / 2**20, "held_mb": size / 2**20, "per_id": size / len(live.ids),
            "new_p50": _ms(new_ns, 0.5), "new_p99": _ms(new_ns, 0.99), "old_p50": _ms(old_ns, 0.5),
            "recent_p50": _ms(recent_ns, 0.5)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # at 0 each failed after the bookkeeping table or after writing the log (a ZeroDivisionError, the
    # service's ConfigError for recent_ids, an empty quantile)
    ap.add_argument("--ids", type=at_least(1), default=1_000_000, help="client ids in the log")
    ap.add_argument("--recent", type=at_least(1), nargs="+", default=[100_000, 10_000],
                    help="recent_ids settings to measure (all ids exact is always measured too)")
    ap.add_argument("--calls", type=at_least(1), default=20_000, help="observe calls timed per setting")
    ap.add_argument("--skip-bookkeeping", action="store_true")
    args = ap.parse_args(argv)
    bounded = "recent_ids" in inspect.signature(Service.__init__).parameters
    n = args.ids

    if bounded and not args.skip_bookkeeping:
        print(f"bookkeeping alone: {n:,} new ids, each looked up, remembered and trimmed (no database)")
        print(f"{'structure':<30} {'held MB':>9} {'bytes/id':>9} {'us/id':>7}")
        for label, mb, per, us in bookkeeping(n, [n] + args.recent):
            print(f"{label:<30} {mb:9.1f} {per:9.1f} {us:7.2f}")
        print()

    with tempfile.TemporaryDirectory(prefix="magister-ids-") as tmp:
        db = os.path.join(tmp, "ids.db")
        t0 = time.perf_counter()
        keys = fill(db, n)
        print(f"service: a log of {n:,} observations with ids ({time.perf_counter() - t0:.0f} s to write), "
              f"then a fresh in-process Service per setting; {args.calls:,} observe calls timed")
        print(f"{'setting':<26} {'start s':>8} {'peak MB':>8} {'held MB':>8} {'bytes/id':>9} "
              f"{'new id us p50':>14} {'p99':>7} {'old retry us':>13} {'recent retry us':>16}")
        settings: list[int | None] = [n + args.calls] + args.recent if bounded else [None]
        for i, recent in enumerate(settings):
            r = service_row(db, keys, recent, args.calls, seed=10 + i)
            if recent is None:
                label = "before (every id in a dict)"
            elif recent >= n:
                label = "recent_ids=all (exact)"
            else:
                label = f"recent_ids={recent:,}"
            print(f"{label:<26} {r['start_s']:8.1f} {r['peak_mb']:8.0f} {r['held_mb']:8.1f} {r['per_id']:9.1f} "
                  f"{r['new_p50']:14.1f} {r['new_p99']:7.1f} {r['old_p50']:13.1f} {r['recent_p50']:16.1f}")


if __name__ == "__main__":
    main()
