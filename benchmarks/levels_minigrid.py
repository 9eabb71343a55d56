"""Level curricula on MiniGrid mazes: uniform levels vs plr, robust-plr, accel, learnability, alp-gmm.

A PPO student (MLP on MiniGrid's 7 x 7 partial view, CPU) trains for the same
number of environment steps under each teacher; it is then tested on the
held-out hand-designed mazes (rooms, corridors, labyrinths, spirals, long).
Prints held-out solve rates per family and overall (median [min-max] over
seeds), the teacher path's env steps/s against the same run without a
teacher, and writes learning curves and pictures of the chosen levels. See
:mod:`magister.bench.levels`; also ``magister bench --levels``.

Usage::

    nice -n 10 python benchmarks/levels_minigrid.py                   # 6 teachers x 3 seeds x 300k steps
    python benchmarks/levels_minigrid.py --steps 1000000 --workers 8   # a longer budget on a bigger machine
    python benchmarks/levels_minigrid.py --quick                      # smoke run
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402

from magister.bench.args import at_least, out_folder, quick_sets, refuse_config_errors  # noqa: E402
from magister.bench.levels import EXPLORE_BONUS, GENERATOR, LEVEL_TEACHERS, run_and_report  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teachers", default=",".join(LEVEL_TEACHERS),
                    help="comma-separated; also 'heldout' (train on the held-out mazes: the student's ceiling)")
    ap.add_argument("--seeds", type=at_least(1), default=3)
    ap.add_argument("--steps", type=at_least(1), default=300_000, help="env steps per teacher-seed run")
    ap.add_argument("--episodes", type=at_least(1), default=10, help="episodes per held-out maze per evaluation")
    ap.add_argument("--workers", type=at_least(1), default=1, help="runs in parallel (one process, one thread each)")
    ap.add_argument("--out", default="results/levels")
    ap.add_argument("--explore-bonus", type=float, default=EXPLORE_BONUS,
                    help="training envs' episodic novelty bonus per new cell (0: none; never in scores or evaluations)")
    ap.add_argument("--generator", default=GENERATOR, choices=("blocks", "mixed"),
                    help="level generator of the training seeds (magister.rl.envs.maze.maze_from_seed)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 seeds, 8,192 steps, 2 episodes per maze (it sets --seeds, --steps and --episodes)")
    args = ap.parse_args(argv)
    quick_sets(ap, args, ("seeds", "steps", "episodes"))
    steps, seeds, episodes, speed = args.steps, args.seeds, args.episodes, 20_000
    if args.quick:
        steps, seeds, episodes, speed = 8_192, 2, 2, 2_000
    # a typo'd teacher or a bad --explore-bonus is argparse's error, not a traceback; --out is made before any run
    return refuse_config_errors(ap, run_and_report, args.teachers.split(","), list(range(seeds)), steps=steps,
                                episodes=episodes, workers=args.workers, out=args.out, speed_steps=speed,
                                explore_bonus=args.explore_bonus, generator=args.generator,
                                on_plan=lambda: out_folder(ap, args.out))


if __name__ == "__main__":
    main()
