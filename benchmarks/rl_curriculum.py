"""Which teacher lets a real PPO agent master the most test tasks for a fixed step budget?

For each shipped parametric env (``magister/CliffWalk-v0``, ``magister/PointGap-v0``),
each teacher (uniform plus every registered continuous teacher) and each seed,
a fresh compact PPO agent (:mod:`magister.rl.ppo`, one CPU thread) trains on a
16-env :class:`~magister.rl.CurriculumVectorEnv` whose tasks come from the
teacher, for a fixed budget of environment steps. Every ``budget / evals``
steps the greedy policy is run on the env's fixed test set of 100 tasks
(10 episodes each); a task is *mastered* when at least 8 of 10 succeed.

Printed: per env and teacher, the share of the test set mastered at the end
(median over seeds, [min-max]), the ratio to uniform's median, the best share
reachable (the oracle policy), and the share of episodes spent on tasks the
oracle cannot solve ("unlearnable"). Saved under ``--out``: learning curves
(median with min-max band), where each teacher sampled over time (seed 0),
and a JSON of every run (``runs.json``, replaced only when every run has finished; with any ``--workers``,
the runs that finished before an interruption are in ``runs-partial.json``, which the next run in that ``--out``
moves aside to ``runs-partial.earlier-N.json``).

Usage::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/rl_curriculum.py                 # full run
    python benchmarks/rl_curriculum.py --quick                                      # smoke run
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from magister.bench.runner import Interrupted, exit_interrupted, run_jobs  # noqa: E402 - (a name here: tests run it in order)

#: step budget per env (one teacher-seed run)
BUDGETS = {"cliff": 150_000, "gap": 125_000}
#: an easy task per env (ADR starts there)
EASY = {"cliff": [0.0, 0.0], "gap": [0.5, 1.0]}


def teacher_settings(name: str, env: str) -> dict[str, Any]:
    """Settings per teacher for these RL runs (thousands of episodes, binary success)."""
    if name == "alp-gmm":
        return {"fit_rate": 150, "potential_ks": list(range(2, 10)), "random_ratio": 0.1}
    if name == "covar-gmm":
        return {"fit_rate": 150, "potential_ks": list(range(2, 10)), "random_ratio": 0.1}
    if name == "riac":
        return {}
    if name == "adr":
        return {"initial": EASY[env], "initial_width": 0.05, "threshold_high": 0.7, "threshold_low": 0.2,
                "step": 0.05, "queue_length": 10, "boundary_prob": 0.5}
    return {}


def env_class(env: str):
    from magister.rl.envs import CliffWalk, PointGap

    return {"cliff": CliffWalk, "gap": PointGap}[env]


class Recording:
    """Teacher proxy that remembers every proposal and the step it was made at."""

    def __init__(self, teacher: Any):
        self.teacher, self.space = teacher, teacher.space
        self.step = 0
        self.times: list[int] = []
        self.points: list[np.ndarray] = []

    def propose(self, k: int | None = None) -> Any:
        out = self.teacher.propose(k)
        arr = np.atleast_2d(np.asarray(out, dtype=float))
        self.times.extend([self.step] * len(arr))
        self.points.append(arr)
        return out

    def observe(self, task: Any, score: float) -> None:
        self.teacher.observe(task, score)

    def observe_batch(self, tasks: Any, scores: Any) -> None:
        self.teacher.observe_batch(tasks, scores)


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    import torch

    import magister as mg
    from magister.rl import CurriculumVectorEnv
    from magister.rl.envs import evaluate, mastered
    from magister.rl.ppo import PPO

    torch.set_num_threads(1)
    cls = env_class(job["env"])
    t0 = time.perf_counter()
    teacher = mg.make_teacher(job["teacher"], cls.task_space, seed=job["seed"],
                              **teacher_settings(job["teacher"], job["env"]))
    rec = Recording(teacher)
    venv = CurriculumVectorEnv([cls] * job["n_envs"], rec)
    probe = cls()
    agent = PPO(probe.observation_space.shape[0], probe.action_space.n, seed=job["seed"])
    test = cls.test_set()
    curve_x, curve_y = [0], [mastered(evaluate(cls, agent.policy(), test, episodes=10, seed=job["seed"]))]

    def on_eval(a: PPO) -> None:
        rec.step = a.steps
        curve_x.append(a.steps)
        curve_y.append(mastered(evaluate(cls, a.policy(), test, episodes=10, seed=job["seed"])))

    every = job["budget"] // job["evals"]
    # keep the recorder's clock roughly current between evaluations
    orig_step = venv.step

    def step(actions):
        rec.step += venv.num_envs
        return orig_step(actions)

    venv.step = step  # type: ignore[method-assign]
    agent.learn(venv, job["budget"], callback=on_eval, callback_every=every)
    venv.close()
    points = np.concatenate(rec.points) if rec.points else np.zeros((0, 2))
    unit = cls.task_space.to_unit_batch(points)
    oracle_ok = evaluate(cls, cls.oracle, points[:: max(1, len(points) // 2000)], episodes=5, seed=1) < 0.2
    keep = np.linspace(0, len(points) - 1, min(len(points), 3000)).astype(int)
    return {
        **job,
        "curve_x": curve_x, "curve_y": curve_y, "final": curve_y[-1],
        "episodes": int(teacher.n_observed), "unlearnable_share": float(np.mean(oracle_ok)),
        "sample_t": np.asarray(rec.times)[keep].tolist(), "sample_u": unit[keep].tolist(),
        "seconds": time.perf_counter() - t0,
    }


def fmt(values: list[float], pct: bool = True) -> str:
    """median [min-max], all three with one decimal (the range was rounded to whole numbers: "46.5 [46-46]")."""
    from magister.bench.report import median_range

    return median_range(values, 1, scale=100.0 if pct else 1.0)


def main(argv: list[str] | None = None) -> None:
    import magister as mg
    from magister.bench.args import (TORCH_MAX_SEED, at_least, distinct, keep_earlier_partial, number_in, out_folder,
                                      seeds_fit, strict_json, write_atomically)

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", nargs="+", default=["cliff", "gap"], choices=["cliff", "gap"])
    p.add_argument("--teachers", nargs="+", default=None, help="default: uniform + every continuous teacher")
    p.add_argument("--seeds", type=at_least(1), default=3)
    p.add_argument("--first-seed", type=at_least(0), default=0,
                   help="seeds run are first-seed .. first-seed + seeds - 1 (check seeds beyond those reported)")
    p.add_argument("--budget-scale", type=number_in(0, low_open=True), default=1.0,
                   help="multiply the step budgets (a finite number above 0)")
    p.add_argument("--evals", type=at_least(1), default=6)
    p.add_argument("--n-envs", type=at_least(1), default=16)
    p.add_argument("--workers", type=at_least(1), default=2)
    p.add_argument("--out", default="results/rl_curriculum")
    p.add_argument("--quick", action="store_true", help="tiny budgets, 1 seed (smoke run)")
    args = p.parse_args(argv)
    unknown = [t for t in args.teachers or [] if t not in mg.available_teachers()]
    if unknown:
        p.error(f"unknown teachers {unknown}; available: {', '.join(mg.available_teachers())}")
    distinct(args.teachers or [], "--teachers", p)  # a repeated teacher ran its runs twice

    teachers = args.teachers or ["uniform"] + [t for t in mg.available_teachers("continuous") if t != "uniform"
                                               and mg.teacher_class(t).kind == "continuous"]
    given = [f"--{o.replace('_', '-')}" for o in ("seeds", "budget_scale") if getattr(args, o) != p.get_default(o)]
    if args.quick and given:  # they were replaced without a word
        p.error(f"--quick sets {', '.join(given)} itself; drop --quick or {', '.join(given)}")
    seeds = 1 if args.quick else args.seeds
    # (2**64: PPO's error inside the first run, after the teacher and envs were built)
    seeds_fit(p, args.first_seed, seeds, TORCH_MAX_SEED - 1, "PPO seeds torch with the seed + 1, and torch's seeds "
              "end at 2**64 - 1")
    scale = 0.05 if args.quick else args.budget_scale
    for e in args.envs:  # one evaluation every budget // evals steps: with 0, none ran after step 0 and the
        budget = int(BUDGETS[e] * scale)  # untrained policy's score was reported as the final one
        if budget < args.evals:
            p.error(f"{e}'s budget is {budget} steps ({BUDGETS[e]} x {scale:g}), fewer than --evals {args.evals}: "
                    "the policy is evaluated every budget // evals steps, so no evaluation would run after step 0 "
                    "and the table would report the untrained policy as final; give fewer --evals or a larger "
                    f"--budget-scale (at least {args.evals} / {BUDGETS[e]})")
    jobs = [{"env": e, "teacher": t, "seed": s, "budget": int(BUDGETS[e] * scale), "evals": args.evals,
             "n_envs": args.n_envs} for e in args.envs for t in teachers
            for s in range(args.first_seed, args.first_seed + seeds)]
    t0 = time.perf_counter()
    out = out_folder(p, args.out)  # a file there: argparse's error, not a traceback
    results: list[dict[str, Any]] = []
    # the runs that finished survive an interruption in runs-partial.json; runs.json (an earlier run's, in a
    # re-used --out) is replaced only once every run has finished (it was rewritten with the first finished run)
    partial = out / "runs-partial.json"
    keep_earlier_partial(partial)  # a stopped run's: written over (or removed at the end) without a word
    def finished(i: int, r: dict[str, Any]) -> None:
        results.append(r)
        write_atomically(partial, strict_json(results))
        if args.workers > 1:
            print(f"done {r['env']} {r['teacher']} seed {r['seed']}: {100 * r['final']:.0f}% "
                  f"({r['seconds']:.0f} s)", flush=True)

    try:  # (Ctrl-C: one line, the finished runs kept in the partial file, also with --workers 1)
        run_jobs(run_one, jobs, workers=args.workers, on_result=finished)
    except Interrupted as e:
        exit_interrupted(e, partial)
    results.sort(key=lambda r: (r["env"], r["teacher"], r["seed"]))
    wall = time.perf_counter() - t0
    write_atomically(out / "runs.json", strict_json(results))
    partial.unlink(missing_ok=True)

    from magister.rl.envs import evaluate, mastered

    print(f"\n{len(jobs)} runs, {seeds} seeds, {args.workers} workers, {wall:.0f} s wall "
          f"(shared CPU: times are noisy)\n")
    w = max(10, *(len(t) for t in teachers))  # (covar-gmm-plus, 14 letters, pushed its row out of line)
    header = f"{'env':6} {'teacher':{w}} {'budget':>8} {'mastered % (median [min-max])':>30} {'x uniform':>9} " \
             f"{'unlearnable %':>17} {'episodes':>9} {'s/run':>6}"
    print(header)
    print("-" * len(header))
    for e in args.envs:
        cls = env_class(e)
        best = mastered(evaluate(cls, cls.oracle, cls.test_set(), episodes=10, seed=0))
        base = [r["final"] for r in results if r["env"] == e and r["teacher"] == "uniform"]
        base_med = statistics.median(base) if base else float("nan")
        for t in teachers:
            rows = [r for r in results if r["env"] == e and r["teacher"] == t]
            finals = [r["final"] for r in rows]
            med = statistics.median(finals)
            if not base:  # uniform not run: no ratio (not "(u = 0)", which read as uniform mastering nothing)
                ratio = "-"
            else:
                ratio = f"{med / base_med:9.2f}" if base_med > 0 else ("  (u = 0)" if med > 0 else "     1.00")
            print(f"{e:6} {t:{w}} {rows[0]['budget']:8d} {fmt(finals):>30} {ratio:>9} "
                  f"{fmt([r['unlearnable_share'] for r in rows]):>17} "
                  f"{int(statistics.median([r['episodes'] for r in rows])):9d} "
                  f"{statistics.median([r['seconds'] for r in rows]):6.0f}")
        print(f"{e:6} {'(oracle)':{w}} {'':8} {best * 100:30.1f}")
    _figures(results, args.envs, teachers, out)
    print(f"\nfigures and runs.json in {out}/")


def _figures(results: list[dict[str, Any]], envs: list[str], teachers: list[str], out: Path) -> None:
    from magister.bench.plots import learning_curves_figure, sampling_over_time_figure

    panels: dict[str, dict[str, Any]] = {}
    for e in envs:
        panels[e] = {}
        for t in teachers:
            rows = [r for r in results if r["env"] == e and r["teacher"] == t]
            n = min(len(r["curve_y"]) for r in rows)
            panels[e][t] = (np.asarray(rows[0]["curve_x"][:n]), np.array([r["curve_y"][:n] for r in rows]))
    learning_curves_figure(panels, out / "learning_curves.png", xlabel="environment steps",
                           ylabel="test tasks mastered")
    first = min(r["seed"] for r in results)  # the first seed run (0 unless --first-seed)
    for e in envs:
        rows = {t: (r["sample_t"], np.asarray(r["sample_u"])) for t in teachers
                for r in results if r["env"] == e and r["teacher"] == t and r["seed"] == first}
        sampling_over_time_figure(rows, out / f"sampling_{e}.png", windows=4)


if __name__ == "__main__":
    main()
