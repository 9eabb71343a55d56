"""Teacher overhead: microseconds of teacher work per episode on the default grid student.

The reference protocol (propose one task, the student attempts it, observe the
score) is run for every registered teacher that handles a continuous space,
on ``GridStudent()`` (2-D, 10 x 10, the ALP-GMM paper's rules). Only the
teacher's calls (``propose`` and ``observe``) are timed, never the student.

Two clocks: ``wall`` (``time.perf_counter``) and ``cpu`` (this process's CPU
time, ``time.process_time``), which is far less disturbed when other jobs share
the cores. Each figure is the median over seeds, with [min, max]. The
published reference code needs about 750 us per episode for ALP-GMM (15 s for
20,000 episodes, 1 BLAS thread); issue 2's target is at most 50 us.

    .venv/bin/python benchmarks/teacher_overhead.py                    # 20,000 episodes, 3 seeds
    .venv/bin/python benchmarks/teacher_overhead.py --episodes 5000 --seeds 2 --teachers alp-gmm,uniform
    .venv/bin/python benchmarks/teacher_overhead.py --teachers "alp-gmm;alp-gmm:warm_start=true,history_size=2000"

A teacher may carry settings after a colon (``name:key=value,key=value``, values read as JSON);
separate such teachers with ``;``.

BLAS/OpenMP threads are pinned to 1 before numpy is imported.
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import time  # noqa: E402

import numpy as np  # noqa: E402


def parse_teacher(spec: str) -> tuple[str, dict]:
    """``"alp-gmm:warm_start=true,history_size=2000"`` -> ``("alp-gmm", {...})`` (values read as JSON)."""
    import json

    name, _, rest = spec.partition(":")
    settings = {}
    for item in filter(None, rest.split(",")):
        key, _, raw = item.partition("=")
        try:
            settings[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            settings[key.strip()] = raw
    return name.strip(), settings


def time_teacher(spec: str, seed: int, episodes: int) -> tuple[float, float, float, float]:
    """Run one teacher for ``episodes``; returns (wall us/ep, cpu us/ep, hooks-only cpu us/ep, mastery)."""
    import magister as mg
    from magister.students import GridStudent

    name, settings = parse_teacher(spec)
    student = GridStudent(seed=seed)
    teacher = mg.make_teacher(name, student.space, seed=seed, **settings)
    # count the time spent inside the algorithm's own hooks too (the rest is shared validation)
    hook_time = [0.0]
    propose_hook, observe_hook = teacher._propose, teacher._observe

    def timed_propose(k):
        a = time.process_time()
        out = propose_hook(k)
        hook_time[0] += time.process_time() - a
        return out

    def timed_observe(x, s):
        a = time.process_time()
        observe_hook(x, s)
        hook_time[0] += time.process_time() - a

    teacher._propose, teacher._observe = timed_propose, timed_observe
    wall = cpu = 0.0
    clock, cpu_clock = time.perf_counter, time.process_time
    for _ in range(episodes):
        w0, c0 = clock(), cpu_clock()
        task = teacher.propose()
        w1, c1 = clock(), cpu_clock()
        score = student.attempt(task)
        w2, c2 = clock(), cpu_clock()
        teacher.observe(task, score)
        w3, c3 = clock(), cpu_clock()
        wall += (w1 - w0) + (w3 - w2)
        cpu += (c1 - c0) + (c3 - c2)
    scale = 1e6 / episodes
    return wall * scale, cpu * scale, hook_time[0] * scale, student.mastery()


def fmt(values: list[float], digits: int = 1) -> str:
    v = np.asarray(values)
    return f"{np.median(v):.{digits}f} [{v.min():.{digits}f}, {v.max():.{digits}f}]"


def main(argv: list[str] | None = None) -> int:
    import magister as mg
    from magister.bench.args import distinct, refuse_config_errors

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--episodes", type=int, default=20_000)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--teachers", default=None,
                   help="comma-separated names (default: every continuous teacher); a teacher with settings is "
                        "NAME:KEY=VALUE,KEY=VALUE (values read as JSON), and then the teachers are separated by ';'")
    args = p.parse_args(argv)
    for opt in ("episodes", "seeds"):
        if getattr(args, opt) < 1:
            p.error(f"--{opt} must be at least 1, got {getattr(args, opt)}")
    sep = ";" if args.teachers and (";" in args.teachers or ":" in args.teachers) else ","
    names = (args.teachers.split(sep) if args.teachers
             else [n for n in mg.available_teachers() if mg.teacher_class(n).kind in ("continuous", "any")])
    if sep == ";" and any("," in name.partition(":")[0] for name in names):  # read as one unknown teacher
        p.error(f"--teachers {args.teachers!r}: with settings (NAME:KEY=VALUE) the teachers are separated by ';', "
                f"not ',': e.g. 'uniform;alp-gmm:warm_start=true'")
    distinct(names, "--teachers", p)  # a repeated teacher was timed twice
    from magister.bench.runner import check_settings
    from magister.students import GridStudent

    space = GridStudent(seed=0).space
    for name, settings in map(parse_teacher, names):  # a typo'd name or setting (or a discrete teacher) was a
        refuse_config_errors(p, mg.teacher_class, name)  # traceback after timing every teacher before it
        refuse_config_errors(p, check_settings, {name: settings})
        refuse_config_errors(p, mg.make_teacher, name, space, seed=0, **settings)
    print(f"GridStudent() default grid, {args.episodes} episodes, seeds 0..{args.seeds - 1}; "
          "median [min, max] over seeds; us = microseconds per episode (propose + observe)")
    header = f"| {'teacher':<16} | {'wall us/ep':>22} | {'cpu us/ep':>22} | {'hooks cpu us/ep':>22} | {'mastered %':>18} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for name in names:
        rows = [time_teacher(name, s, args.episodes) for s in range(args.seeds)]
        wall, cpu, hooks, mastery = (list(col) for col in zip(*rows))
        print(f"| {name:<16} | {fmt(wall):>22} | {fmt(cpu):>22} | {fmt(hooks):>22} | "
              f"{fmt([100 * m for m in mastery], 0):>18} |", flush=True)
    print("hooks = time inside the teacher's own _propose/_observe (the rest is the shared validation "
          "and encoding every teacher pays; compare with uniform).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
