"""Which maze stack to train on: env steps per second of the lean numpy MazeEnv vs Farama MiniGrid.

Both play the same levels (random 15 x 15 mazes of ``maze_from_seed``, one per
sub-env, MiniGrid's rules, the same flat observation) under random actions:

* ``lean``: :class:`magister.rl.envs.maze.MazeEnv` (numpy, this package);
* ``minigrid``: :class:`magister.rl.minigrid.TextMazeEnv` + ``FlatView`` (MiniGrid's engine);

each in a ``SyncVectorEnv`` of ``--envs`` sub-envs and in an ``AsyncVectorEnv``
of ``--workers`` sub-envs (one subprocess each; the machine this was written on
has 2 cores), plus the single env stepped in a plain loop. Prints a table
(median of ``--repeats`` runs).

Usage::

    nice -n 10 python benchmarks/levels_env_speed.py            # 8 envs, 2 workers
    python benchmarks/levels_env_speed.py --quick
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402
from typing import Any, Callable  # noqa: E402

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402


def lean_env(seed: int) -> gym.Env:
    from magister.rl.envs.maze import MazeEnv, maze_from_seed

    return MazeEnv(maze_from_seed(seed))


def minigrid_env(seed: int) -> gym.Env:
    from magister.rl.envs.maze import maze_from_seed
    from magister.rl.minigrid import FlatView, TextMazeEnv

    return FlatView(TextMazeEnv(maze_from_seed(seed)))


def single(make: Callable[[int], gym.Env], steps: int) -> float:
    env = make(0)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 3, size=steps)
    t0 = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(int(a))
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - t0)


def vector(make: Callable[[int], gym.Env], kind: str, n_envs: int, steps: int) -> float:
    fns = [partial(make, i) for i in range(n_envs)]
    venv: Any = gym.vector.SyncVectorEnv(fns) if kind == "sync" else gym.vector.AsyncVectorEnv(fns)
    venv.reset(seed=0)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(steps // n_envs):
        venv.step(rng.integers(0, 3, size=n_envs))
    rate = (steps // n_envs) * n_envs / (time.perf_counter() - t0)
    venv.close()
    return rate


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    from magister.bench.args import at_least

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", type=at_least(1), default=8)
    ap.add_argument("--workers", type=at_least(1), default=2)
    ap.add_argument("--steps", type=at_least(1), default=40_000)
    ap.add_argument("--repeats", type=at_least(1), default=3)
    ap.add_argument("--quick", action="store_true", help="a few thousand steps, one repeat")
    args = ap.parse_args(argv)
    given = [f"--{o}" for o in ("steps", "repeats") if getattr(args, o) != ap.get_default(o)]
    if args.quick and given:  # they were replaced without a word
        ap.error(f"--quick sets {', '.join(given)} itself; drop --quick or {', '.join(given)}")
    steps, repeats = (2_000, 1) if args.quick else (args.steps, args.repeats)
    stacks = {"lean": lean_env}
    try:
        import magister.rl.minigrid  # noqa: F401

        stacks["minigrid"] = minigrid_env
    except ImportError:
        print("minigrid is not installed (pip install 'magister[minigrid]'): measuring the lean env only")
    rows = []
    for name, make in stacks.items():
        # MiniGrid is an order of magnitude slower: fewer steps keep the run short
        n = steps if name == "lean" else max(steps // 8, 1000)
        for mode in ("single", "sync", "async"):
            rates = []
            for _ in range(repeats):
                if mode == "single":
                    rates.append(single(make, n // 2))
                else:
                    rates.append(vector(make, mode, args.envs if mode == "sync" else args.workers, n))
            rows.append({"stack": name, "mode": mode,
                         "envs": {"single": 1, "sync": args.envs, "async": args.workers}[mode],
                         "steps_per_s": statistics.median(rates)})
    print(f"{'stack':<10}{'mode':<8}{'envs':>5}{'env steps/s':>14}")
    for r in rows:
        print(f"{r['stack']:<10}{r['mode']:<8}{r['envs']:>5}{r['steps_per_s']:>14,.0f}")
    lean = max(r["steps_per_s"] for r in rows if r["stack"] == "lean")
    other = [r["steps_per_s"] for r in rows if r["stack"] == "minigrid"]
    if other:
        print(f"best lean / best minigrid: {lean / max(other):.1f}x")
    return rows


if __name__ == "__main__":
    main()
