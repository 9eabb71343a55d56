"""Discrete teachers against SkillStudent variants: who masters the skills fastest?

Every registered discrete teacher (plus uniform sampling) trains a fresh
:class:`~magister.students.skills.SkillStudent` for a fixed number of episodes,
5 seeds each, in parallel worker processes (BLAS threads pinned to 1). The
table gives, per student variant and teacher, medians over seeds with
[min-max]:

* ``@1/4``: share of the *learnable* skills mastered after a quarter of the episodes;
* ``final``: the same at the end;
* ``steps to 90%``: first episode (checked every ``--every``) at which 90% of
  the learnable skills are mastered (``>N`` if never, with how many seeds got there);
* ``unlearnable``: share of all episodes spent on unlearnable skills
  (uniform spends 1/K).

Usage::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/discrete_teachers.py            # full table
    python benchmarks/discrete_teachers.py --quick                                 # smoke run

"lp-bandit ref" is the learning-progress bandit with the reference settings
(slower EMAs, z-score + sigmoid, no noise discount). The "sequential" row is a hand-written script that knows the prerequisite
graph: skills in topological order, each until a mean score of 0.85 over 20
episodes or 150 episodes (so an unlearnable skill cannot block it), then all
skills uniformly.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from magister.bench.runner import Interrupted, exit_interrupted, run_jobs  # noqa: E402 - (a name here: tests run it in order)

VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "probability": {"scores": "probability"},
    "noisy": {"scores": "probability", "noise": 0.2},
    "forgetting": {"forgetting": 0.0005},
    "20 skills": {"skills": 20, "unlearnable": ["s17", "s18", "s19"]},
}

TEACHERS: dict[str, tuple[str, dict[str, Any]]] = {
    "uniform": ("uniform", {}),
    "lp-bandit": ("lp-bandit", {}),
    "lp-bandit ref": ("lp-bandit", {"fast": 0.1, "slow": 0.02, "transform": "sigmoid", "epsilon": 0.1, "denoise": 0.0}),
    "exp3": ("exp3", {}),
    "exp3 score": ("exp3", {"reward": "score"}),
    "exp3 raw progress": ("exp3", {"reward": "progress", "scale": 1.0, "fast": 0.1, "slow": 0.02, "denoise": 0.0,
                                   "min_exploration": 0.0}),
    "sec": ("sec", {}),
    "sequential": ("sequential", {}),
}


def _student(variant: str, seed: int):
    from magister.students.skills import SkillStudent

    return SkillStudent(seed=seed, **VARIANTS[variant])


def _script(student) -> list[dict[str, Any]]:
    stages: list[dict[str, Any]] = [
        {"tasks": [student.names[i]],
         "until": {"any": [{"mean_score": 0.85, "window": 20}, {"episodes": 150}]}}
        for i in student.order
    ]
    stages.append({"tasks": "all"})
    return stages


def run_one(job: tuple[str, str, int, int, int]) -> dict[str, Any]:
    """One teacher x variant x seed run; returns the metrics."""
    variant, teacher_label, seed, steps, every = job
    import numpy as np

    import magister as mg

    student = _student(variant, seed=1000 + seed)
    name, kwargs = TEACHERS[teacher_label]
    kwargs = dict(kwargs)
    if name == "sequential":
        kwargs["stages"] = _script(student)
    teacher = mg.make_teacher(name, student.space, seed=seed, **kwargs)
    reached = None
    quarter = float("nan")
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        task = teacher.propose()
        teacher.observe(task, student.attempt(task))
        if reached is None and step % every == 0 and student.learnable_mastery() >= 0.9 - 1e-9:
            reached = step
        if step == steps // 4:
            quarter = student.learnable_mastery()
    elapsed = time.perf_counter() - t0
    unl = float(student.practice[~student.learnable].sum() / steps) if (~student.learnable).any() else 0.0
    return {"variant": variant, "teacher": teacher_label, "seed": seed, "final": student.learnable_mastery(), "quarter": quarter,
            "reached": reached, "unlearnable": unl, "seconds": elapsed,
            "share_unlearnable_uniform": float(np.mean(~student.learnable))}


def _fmt(values: list[float], pct: bool = True) -> str:
    med, lo, hi = statistics.median(values), min(values), max(values)
    if pct:
        return f"{100 * med:5.1f}% [{100 * lo:.1f}-{100 * hi:.1f}]"  # (as precise as the median)
    return f"{med:6.0f} [{lo:.0f}-{hi:.0f}]"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--every", type=int, default=25, help="check mastery every N episodes")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--teachers", nargs="+", default=list(TEACHERS), choices=list(TEACHERS))
    ap.add_argument("--quick", action="store_true", help="2 seeds, 1500 episodes, default variant only")
    args = ap.parse_args(argv)
    from magister.bench.args import distinct

    distinct(args.teachers, "--teachers", ap)  # a repeated teacher ran its runs twice
    for opt, least in (("seeds", 1), ("steps", 4), ("every", 1), ("workers", 1)):
        if getattr(args, opt) < least:
            ap.error(f"--{opt} must be at least {least}, got {getattr(args, opt)}")
    given = [f"--{o}" for o in ("seeds", "steps", "variants") if getattr(args, o) != ap.get_default(o)]
    if args.quick and given:  # they were replaced without a word
        ap.error(f"--quick sets {', '.join(given)} itself; drop --quick or {', '.join(given)}")
    if args.quick:
        args.seeds, args.steps, args.variants = 2, 1500, ["default"]
    jobs = [(v, t, s, args.steps, args.every) for v in args.variants for t in args.teachers for s in range(args.seeds)]
    t0 = time.perf_counter()
    try:  # (Ctrl-C: one line, not a traceback from each worker; a worker caught starting hung the pool)
        results = run_jobs(run_one, jobs, workers=args.workers)
    except Interrupted as e:
        exit_interrupted(e)
    wall = time.perf_counter() - t0

    print(f"SkillStudent, {args.steps} episodes, {args.seeds} seeds; medians [min-max] over seeds")
    header = f"{'variant':<12} {'teacher':<14} {'@1/4 (learnable)':>21} {'final (learnable)':>21} {'steps to 90%':>18} {'unlearnable':>21} {'ms/1k ep':>9}"
    print(header)
    print("-" * len(header))
    for v in args.variants:
        for t in args.teachers:
            rows = [r for r in results if r["variant"] == v and r["teacher"] == t]
            got = [r["reached"] for r in rows if r["reached"] is not None]
            if len(got) == len(rows):
                steps_s = _fmt(got, pct=False)
            else:
                steps_s = f">{args.steps} ({len(got)}/{len(rows)} got there)"
            ms = statistics.median(r["seconds"] for r in rows) / args.steps * 1e6
            print(f"{v:<12} {t:<14} {_fmt([r['quarter'] for r in rows]):>21} {_fmt([r['final'] for r in rows]):>21} "
                  f"{steps_s:>18} "
                  f"{_fmt([r['unlearnable'] for r in rows]):>21} {ms:9.1f}")
        print()
    print(f"wall time {wall:.1f} s with {args.workers} workers (shared CPU: timings are noisy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
