"""Throughput cost of the teacher in the loop, with N subprocess workers (AsyncVectorEnv).

One run measures, on a 100-step dummy env (no work per step), episodes per
second of:

* ``no teacher``: a plain ``gymnasium.vector.AsyncVectorEnv`` (default
  next-step autoreset), no curriculum at all;
* ``uniform`` / ``alp-gmm``: :class:`~magister.rl.CurriculumVectorEnv` over the
  same env in async mode, the teacher in the main process proposing every
  task and observing every outcome (batched); ``alp-gmm q=2`` is the same with
  ``prefetch=2`` (two tasks queued per worker, same-step autoreset inside the worker).

Two episode-length settings: ``fixed`` (every episode is 100 steps, so the
sub-envs end together) and ``varied`` (50 to 150 steps, so episodes end on
different steps and some sub-env resets on most steps: the worst case).
Each cell is the median of ``--repeats`` runs; "kept" is the teacher path's
share of the no-teacher throughput (target: at least 50%). Two tables: per
wall-clock second, and per CPU second spent by this process and its env
workers together (the second is far less sensitive to other jobs sharing
the machine).

Usage::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/rl_overhead.py
    python benchmarks/rl_overhead.py --quick
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402


class DummyEnv(gym.Env):
    """No work per step; an episode lasts 100 steps (or 50-150 when ``varied``); takes a task in the options."""

    def __init__(self, varied: bool = False):
        self.observation_space = gym.spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.varied = varied
        self._obs = np.zeros(4, dtype=np.float32)
        self.t, self.length = 0, 100

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if options and "task" in options:
            self._obs[:2] = options["task"]
        self.t = 0
        self.length = int(self.np_random.integers(50, 151)) if self.varied else 100
        return self._obs, {}

    def step(self, action):
        self.t += 1
        done = self.t >= self.length
        return self._obs, 0.0, False, done, ({"is_success": True} if done else {})


def make_dummy(varied: bool):
    return lambda: DummyEnv(varied)


def _cpu_seconds(procs: list[Any]) -> float:
    total = 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except Exception:  # noqa: BLE001 - a process that is gone adds nothing
            pass
    return total


def measure(kind: str, n_workers: int, varied: bool, steps: int) -> tuple[float, float]:
    """(episodes per wall second, episodes per CPU second of this process and its env workers)."""
    import psutil

    import magister as mg
    from magister.rl import CurriculumVectorEnv

    fns = [make_dummy(varied)] * n_workers
    if kind == "no teacher":
        venv = gym.vector.AsyncVectorEnv(fns)
    else:
        name, _, q = kind.partition(" q=")
        kwargs = {"fit_rate": 150} if name == "alp-gmm" else {}
        teacher = mg.make_teacher(name, mg.Box([0.0, 0.0], [1.0, 1.0]), seed=0, **kwargs)
        venv = CurriculumVectorEnv(fns, teacher, vectorization="async", prefetch=int(q or 0))
    actions = np.zeros(n_workers, dtype=np.int64)
    venv.reset(seed=0)
    for _ in range(200):  # warm up (and let ALP-GMM leave its bootstrap)
        venv.step(actions)
    me = psutil.Process()
    procs = [me] + me.children(recursive=True)
    episodes = 0
    c0 = _cpu_seconds(procs)
    t0 = time.perf_counter()
    for _ in range(steps):
        _, _, term, trunc, _ = venv.step(actions)
        episodes += int(np.sum(term | trunc))
    dt = time.perf_counter() - t0
    cpu = _cpu_seconds(procs) - c0
    venv.close()
    return episodes / dt, episodes / max(cpu, 1e-9)


def main(argv: list[str] | None = None) -> None:
    import magister as mg
    from magister.bench.args import at_least, distinct, refuse_config_errors

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=at_least(1), nargs="+", default=[2, 4, 8])
    p.add_argument("--steps", type=at_least(1), default=3000, help="vector steps timed per measurement")
    p.add_argument("--repeats", type=at_least(1), default=3)
    p.add_argument("--teachers", nargs="+", default=["uniform", "alp-gmm", "alp-gmm q=2"],
                   help="teacher names; 'NAME q=K' uses CurriculumVectorEnv(prefetch=K)")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    given = [f"--{o}" for o in ("workers", "steps", "repeats") if getattr(args, o) != p.get_default(o)]
    if args.quick and given:  # they were replaced without a word
        p.error(f"--quick sets {', '.join(given)} itself; drop --quick or {', '.join(given)}")
    distinct(args.teachers, "--teachers", p)  # a repeated teacher was measured twice
    for kind in args.teachers:  # a typo'd name was a traceback after the first measurements
        name, _, q = kind.partition(" q=")
        refuse_config_errors(p, mg.make_teacher, name, mg.Box([0.0, 0.0], [1.0, 1.0]), seed=0)
        if q and not q.isdigit():
            p.error(f"--teachers {kind!r}: write 'NAME q=K' with K a whole number >= 0 (the prefetch)")
    if args.quick:
        args.workers, args.steps, args.repeats = [2], 400, 1
    kinds = ["no teacher"] + args.teachers
    print(f"median of {args.repeats} (min-max); {os.cpu_count()} CPUs shared with other jobs\n")
    rows = []
    for varied in (False, True):
        for n in args.workers:
            res: dict[str, list[tuple[float, float]]] = {k: [] for k in kinds}
            for _ in range(args.repeats):
                for k in kinds:  # interleaved, so load changes hit every column alike
                    res[k].append(measure(k, n, varied, args.steps))
            rows.append(("varied" if varied else "fixed", n, res))
    for metric, title in ((0, "episodes per wall-clock second"),
                          (1, "episodes per CPU second (main process + env workers; robust to other jobs' load)")):
        print(title)
        header = f"{'lengths':8} {'workers':>7} " + " ".join(f"{k:>22}" for k in kinds) + \
            " " + " ".join(f"{'kept ' + k:>17}" for k in args.teachers)
        print(header)
        print("-" * len(header))
        for lengths, n, res in rows:
            vals = {k: [v[metric] for v in res[k]] for k in kinds}
            med = {k: statistics.median(v) for k, v in vals.items()}
            cells = " ".join(f"{med[k]:9.0f} ({min(vals[k]):.0f}-{max(vals[k]):.0f})".rjust(22) for k in kinds)
            kept = " ".join(f"{100 * med[t] / med['no teacher']:16.0f}%" for t in args.teachers)
            print(f"{lengths:8} {n:7d} {cells} {kept}", flush=True)
        print()


if __name__ == "__main__":
    main()
