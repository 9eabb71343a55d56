"""Two costs that grew with a size: a level teacher on a finite level space whose buffer holds nearly every
level (drawing a new level looked for the unseen ones among all of them), and ADR with many pending boundary
probes (each observation compared the task with every pending probe).

CPU microseconds per step (``propose_with_info()`` then ``observe()``), median of ``--repeats``:

* levels: ``SeedSpace(n)``, a buffer of ``n - 8`` levels put in directly (8 levels never seen), steps until
  the first new level (not timed), then ``--steps`` steps of the RL protocol with random scores;
* adr: ``Box`` of 2 dimensions, ``max_pending`` probes outstanding (proposals never scored), then steps that
  each propose one task and observe it (a probe is found among the pending ones and removed).

    PYTHONPATH=src python benchmarks/level_cliffs.py --sizes 10000 100000 1000000 --pending 100 1000 10000
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import time  # noqa: E402

import numpy as np  # noqa: E402
from tree_args import at_least  # noqa: E402  (this checkout's helpers, whatever src/ is on PYTHONPATH)


LEVEL_TEACHERS = ["plr", "robust-plr", "accel", "learnability"]


def level_step_us(teacher: str, n: int, steps: int, seed: int) -> float:
    import magister as mg
    from magister.levels.spaces import SeedSpace

    kw: dict = {"capacity": n - 8}
    if teacher == "learnability":
        kw.update(n_candidates=16, eval_episodes=1, eval_interval=50)
    t = mg.make_teacher(teacher, SeedSpace(n), seed=seed, **kw)
    rng = np.random.default_rng(seed)
    levels = rng.permutation(n)[: n - 8].tolist()
    scores = rng.random(n - 8).tolist()
    buf = t.buffer
    for level, s in zip(levels, scores):  # fill directly (n episodes would take long)
        buf.advance()
        buf.add(level, level, s)
    while True:  # warm up until a new level is drawn (its first look for the unseen levels is not timed)
        task, info = t.propose_with_info()
        t.observe(task, 0.5)
        if not info["replay"] and not info.get("evaluate"):
            break
    score = rng.random(steps).tolist()
    t0 = time.process_time()
    for i in range(steps):
        task, _ = t.propose_with_info()
        t.observe(task, score[i])
    return (time.process_time() - t0) / steps * 1e6


def adr_step_us(pending: int, steps: int, seed: int) -> float:
    import magister as mg

    t = mg.make_teacher("adr", mg.Box([0.0, 0.0], [1.0, 1.0]), seed=seed, initial_width=0.2, boundary_prob=0.5,
                        queue_length=10 ** 6, max_pending=pending)
    while t.beliefs()["pending_probes"] < pending:  # probes outstanding: never scored
        t.propose(256)
    rng = np.random.default_rng(seed)
    score = rng.random(steps).tolist()
    t0 = time.process_time()
    for i in range(steps):
        task = t.propose()
        t.observe(task, score[i])
    return (time.process_time() - t0) / steps * 1e6


def main(argv: list[str] | None = None) -> None:
    # (--repeats 0: an IndexError after the first setting's runs; --steps 0: a ZeroDivisionError in ADR's, after the
    # level teachers' runs; a typo'd teacher and a size below 9 (the buffer holds n - 8 levels): tracebacks)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=at_least(9), nargs="*", default=[10_000, 100_000],
                   help="level space sizes n (at least 9: the buffer holds n - 8 levels)")
    p.add_argument("--teachers", nargs="*", default=LEVEL_TEACHERS, choices=LEVEL_TEACHERS)
    p.add_argument("--pending", type=at_least(1), nargs="*", default=[100, 1000, 10_000])
    p.add_argument("--steps", type=at_least(1), default=300)
    p.add_argument("--repeats", type=at_least(1), default=3)
    a = p.parse_args(argv)
    for teacher in a.teachers:
        for n in a.sizes:
            steps = max(20, min(a.steps, a.steps * 100_000 // n))
            us = sorted(level_step_us(teacher, n, steps, s) for s in range(a.repeats))
            print(f"{teacher:12s} n={n:>8d} steps={steps:5d} us/step median {us[len(us) // 2]:10.1f} "
                  f"[{us[0]:.1f}-{us[-1]:.1f}]", flush=True)
    for pending in a.pending:
        us = sorted(adr_step_us(pending, a.steps * 10, s) for s in range(a.repeats))
        print(f"adr          pending={pending:>6d} us/step median {us[len(us) // 2]:10.1f} "
              f"[{us[0]:.1f}-{us[-1]:.1f}]", flush=True)


if __name__ == "__main__":
    main()
