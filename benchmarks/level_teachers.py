"""Level teachers' own cost: microseconds per propose and per observe, with full buffers of 1k and 100k levels.

Each level teacher (``plr``, ``robust-plr``, ``accel``, ``learnability``; ``uniform`` for reference) gets
a buffer already full (``capacity`` levels with random scores, put in directly so that the 100k case
does not need 100k episodes), then runs the RL protocol one episode at a time:
``propose_with_info()``, then ``observe(level, score)`` with a random score (a learner's |GAE| for the
PLR family, a 0/1 success for learnability). Only the teacher's calls are timed. Figures are medians
over seeds with [min-max], on both clocks (wall ``perf_counter`` and this process's CPU time).

An RL episode on a small maze costs milliseconds (MiniGrid steps at tens of microseconds); a
teacher call of a few tens of microseconds is what keeps the teacher path above 80% of the
env-steps/s of a run without a teacher.

    .venv/bin/python benchmarks/level_teachers.py                      # 1k and 100k, seeds and mazes
    .venv/bin/python benchmarks/level_teachers.py --calls 2000 --seeds 2 --spaces seeds
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import time  # noqa: E402

import numpy as np  # noqa: E402

TEACHERS = ("uniform", "plr", "robust-plr", "accel", "learnability")


def make_space(kind: str):
    from magister.levels.spaces import MazeSpace, SeedSpace

    return SeedSpace() if kind == "seeds" else MazeSpace(13, wall_density=[0.0, 0.4])


def build(name: str, kind: str, capacity: int, seed: int):
    import magister as mg

    space = make_space(kind)
    if name == "uniform":
        return mg.make_teacher(name, space, seed=seed)
    kw = {"capacity": capacity}
    if name == "learnability":
        kw.update(n_candidates=64, eval_episodes=4, eval_interval=512)
    t = mg.make_teacher(name, space, seed=seed, **kw)
    rng = np.random.default_rng(seed + 1000)
    buf = t.buffer
    if kind == "seeds":
        levels = rng.choice(2**31, size=capacity, replace=False).tolist()
    else:
        levels = space.sample(rng, capacity)
    scores = rng.random(capacity).tolist()
    key = t._key
    for level, s in zip(levels, scores):  # fill to capacity directly
        buf.advance()
        buf.add(key(level), level, s)
    return t


def time_teacher(name: str, kind: str, capacity: int, seed: int, calls: int) -> dict[str, float]:
    t = build(name, kind, capacity, seed)
    rng = np.random.default_rng(seed)
    binary = name == "learnability"
    scores = (rng.random(calls) < 0.5).astype(float).tolist() if binary else rng.random(calls).tolist()
    if binary:  # learnability starts an evaluation round on its first call: O(capacity) once per round of
        level = t.propose()  # (capacity + n_candidates) x eval_episodes episodes, so not timed here
        t.observe(level, 1.0)
    pw = po = pc = oc = 0.0
    for i in range(calls):
        a, ac = time.perf_counter(), time.process_time()
        level, _info = t.propose_with_info()
        b, bc = time.perf_counter(), time.process_time()
        t.observe(level, scores[i])
        c, cc = time.perf_counter(), time.process_time()
        pw += b - a
        po += c - b
        pc += bc - ac
        oc += cc - bc
    us = 1e6 / calls
    return {"propose": pw * us, "observe": po * us, "propose_cpu": pc * us, "observe_cpu": oc * us}


def fmt(values: list[float]) -> str:
    return f"{np.median(values):7.1f} [{min(values):.1f}-{max(values):.1f}]"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=5000, help="propose/observe pairs timed per run")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--sizes", default="1000,100000", help="buffer sizes (comma-separated)")
    ap.add_argument("--spaces", default="seeds,mazes", help="seeds (open-ended SeedSpace), mazes (MazeSpace(13))")
    ap.add_argument("--teachers", default=",".join(TEACHERS))
    args = ap.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        ap.error(f"--sizes takes whole numbers >= 1, comma-separated, got {args.sizes!r}")
    for opt in ("calls", "seeds"):
        if getattr(args, opt) < 1:
            ap.error(f"--{opt} must be at least 1, got {getattr(args, opt)}")
    bad_spaces = [k for k in args.spaces.split(",") if k not in ("seeds", "mazes")]
    if bad_spaces:  # anything but "seeds" would be timed on mazes, under its own label
        ap.error(f"--spaces takes seeds and/or mazes, got {bad_spaces}")
    bad_teachers = [t for t in args.teachers.split(",") if t not in TEACHERS]
    if bad_teachers:
        ap.error(f"--teachers takes names among {', '.join(TEACHERS)}, got {bad_teachers}")
    from magister.bench.args import distinct

    distinct(args.teachers.split(","), "--teachers", ap)  # a repeated teacher was timed twice
    print(f"us per call, median over {args.seeds} seeds [min-max], {args.calls} calls per run; "
          "wall clock (cpu clock)")
    print(f"{'teacher':<13} {'levels':<6} {'buffer':>7} | {'propose':>22} {'observe':>22} | "
          f"{'propose cpu':>13} {'observe cpu':>13}")
    for kind in args.spaces.split(","):
        for name in args.teachers.split(","):
            for size in sizes if name != "uniform" else sizes[:1]:
                runs = [time_teacher(name, kind, size, seed, args.calls) for seed in range(args.seeds)]
                col = {k: [r[k] for r in runs] for k in runs[0]}
                print(f"{name:<13} {kind:<6} {size if name != 'uniform' else '-':>7} | {fmt(col['propose']):>22} "
                      f"{fmt(col['observe']):>22} | {np.median(col['propose_cpu']):13.1f} "
                      f"{np.median(col['observe_cpu']):13.1f}", flush=True)


if __name__ == "__main__":
    main()
