"""One continuous teacher on chosen grid variants of a suite: final mastery and episodes to 90%.

A plain propose / attempt / observe loop (the suite's protocol) on variants
of the suite named by the ``SUITE`` environment variable (default
``standard``), with the settings and budgets the suite gives them; one
process, seeds given explicitly. Printed per variant: the median % of cells
mastered at the end of the budget [min-max] and each seed's value, the episode
at which each seed first had 90% of its cells mastered (checked every 100
episodes; ``None`` if never), and the teacher's CPU time per episode (process
time of ``propose`` and ``observe`` only; noisy when the machine is shared).
The student of seed ``s`` is the suite's (its seed from ``derive_seeds(s)``);
the teacher is seeded with ``s`` itself.

    .venv/bin/python benchmarks/grid_variants.py riac-plus grid,grid-hard 0,1,2,3,4
    .venv/bin/python benchmarks/grid_variants.py riac-plus grid 100,101 '{"local_ratio": 0}'
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402


def run(teacher: str, variant, seed: int, settings: dict) -> tuple[float, int | None, float]:
    """``(final % mastered, first episode at >= 90% or None, teacher CPU us per episode)``."""
    import magister as mg

    from magister.bench.runner import derive_seeds

    # the student on the suite's own stream for this seed (derive_seeds), not on the teacher's: seeded with
    # the same int, a noisy student's draws would repeat the teacher's numbers (before 2026-12-05 they did)
    student = variant.make(seed=derive_seeds(seed)[1])
    t = mg.make_teacher(teacher, student.space, seed=seed, **settings)
    t90 = None
    spent = 0.0
    for e in range(1, variant.episodes + 1):
        a = time.process_time()
        task = t.propose(1)[0]
        spent += time.process_time() - a
        s = student.attempt(task)
        a = time.process_time()
        t.observe(task, s)
        spent += time.process_time() - a
        if t90 is None and e % 100 == 0 and student.mastery() >= 0.9:
            t90 = e
    return 100 * student.mastery(), t90, 1e6 * spent / variant.episodes


def json_object(text: str) -> dict:
    """``type=`` for the teacher's settings: a JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"is not JSON ({e}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"takes a JSON object of settings such as '{{\"local_ratio\": 0}}', "
                                         f"got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    import magister as mg

    from magister.bench.args import at_least, comma_list, refuse_config_errors
    from magister.bench.runner import check_settings, derive_seeds
    from magister.bench.suite import get_suite

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("teacher", help="a continuous teacher's name")
    ap.add_argument("variants", type=comma_list(str), help="comma-separated variants of the suite")
    ap.add_argument("seeds", type=comma_list(at_least(0)), help="comma-separated seeds (>= 0)")
    ap.add_argument("settings", type=json_object, nargs="?", default={}, help="the teacher's settings, a JSON object")
    args = ap.parse_args(argv)
    teacher, names, seeds, settings = args.teacher, args.variants, args.seeds, args.settings
    suite = {v.name: v for v in refuse_config_errors(ap, get_suite, os.environ.get("SUITE", "standard"))}
    unknown = [n for n in names if n not in suite]
    if unknown:
        ap.error(f"unknown variants {unknown}; this suite has {sorted(suite)}")
    # a typo'd teacher or setting, a discrete teacher, a bad value: argparse's error before any run (a
    # traceback at the first run; a negative seed or a non-object settings failed only after the runs before it)
    refuse_config_errors(ap, mg.teacher_class, teacher)
    refuse_config_errors(ap, check_settings, {teacher: settings})
    for name in names:
        refuse_config_errors(ap, mg.make_teacher, teacher, suite[name].make(seed=derive_seeds(0)[1]).space, seed=0,
                             **settings)
    for name in names:
        res = [run(teacher, suite[name], s, settings) for s in seeds]
        m = [r[0] for r in res]
        print(f"{teacher} {settings} {name}: mastery median {np.median(m):.0f} [{min(m):.0f}-{max(m):.0f}] "
              f"all={[round(x) for x in m]} t90={[r[1] for r in res]} us/ep={np.median([r[2] for r in res]):.0f}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
