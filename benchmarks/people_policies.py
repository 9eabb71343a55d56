"""Policy comparison on simulated students drawn from fitted learner models.

Fits BKT on ASSISTments 2015 (per-skill learn/guess/slip/prior) and the FSRS
memory model on the earlier half of the Anki log, then, for each seed, draws a
20-skill prerequisite graph and a student whose skills take the parameters of
random fitted skills. Every policy teaches an identical copy of that student
(same random stream) for ``--budget`` one-minute exercises, ``--per-day`` a
day. Reported per policy (median and interquartile range over seeds):

* minutes to master: exercises until every skill of the graph is known
  (students who never got there within the budget are counted in ``mastered``);
* known at end: share of skills known when study stops;
* retention +30 d: mean P(correct) over all 20 skills 30 days after study stops.

The learning-progress teachers run as they are and with ``set_aside=0.9``
(``"lp-bandit@aside"``, the label convention of ``magister bench``: skills
answered right 9 times in 10 set aside, and reviewed, see :mod:`magister.set_aside`).

Run:  nice -n 10 python benchmarks/people_policies.py --seeds 10
"""

from __future__ import annotations

import argparse
import os
import time

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np

import magister as mg
from magister.bench.args import at_least
from magister.bench.runner import registry_name
from magister.people.bkt import BKT
from magister.people.events import load_anki, load_assist2015
from magister.people.memory import FSRSMemory
from magister.people.policies import PeoplePolicy, topological_order
from magister.people.simulate import SimulatedStudent, draw_students, run_session, skill_graph

DATA = os.environ.get("MAGISTER_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))


def bkt_with(params: dict[str, tuple[float, float, float, float]]) -> BKT:
    """A BKT model holding the given per-skill parameters."""
    m = BKT()
    for s in params:
        m._item_code(s, (s,))
    m._grow()
    for s, (prior, learn, guess, slip) in params.items():
        m.params[m._skills[s]] = [prior, learn, guess, slip, 0.0]
    return m


def syllabus(order: list[str], block: int):
    """Fixed syllabus: ``block`` exercises per skill in order, then the whole syllabus again."""
    state = {"i": 0}

    def choose() -> str:
        s = order[(state["i"] // block) % len(order)]
        state["i"] += 1
        return s

    return choose


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # each of these at 0 failed or printed an empty table only after the two fits (--per-day 0: a
    # ZeroDivisionError in the first session; --skills 0: a ConfigError from skill_graph)
    ap.add_argument("--seeds", type=at_least(1), default=10)
    ap.add_argument("--budget", type=at_least(1), default=600, help="one-minute exercises per student")
    ap.add_argument("--per-day", type=at_least(1), default=30, help="exercises a day")
    ap.add_argument("--skills", type=at_least(1), default=20, help="skills of each prerequisite graph")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    bkt = BKT(forgets=False).fit(load_assist2015(os.path.join(DATA, "assist2015", "train_valid.csv")))
    anki = load_anki(os.path.join(DATA, "anki-review-log", "review_log.csv"))
    cut = np.quantile(anki.time, 0.5)
    mem = FSRSMemory().fit(anki, score_mask=anki.time < cut)
    print(f"fitted BKT on ASSISTments 2015 and FSRS on the Anki log in {time.perf_counter() - t0:.1f}s")

    names = ["random", "syllabus", "mastery-learning", "difficulty-band", "spaced-review", "max-information",
             "lp-bandit", "exp3", "sec", "lp-bandit@aside", "exp3@aside", "sec@aside"]
    names = [n for n in names if n in ("random", "syllabus") or registry_name(n) in mg.available_teachers()]
    results: dict[str, list] = {n: [] for n in names}
    for seed in range(args.seeds):
        rng = np.random.default_rng(1000 + seed)
        graph = skill_graph(args.skills, rng)
        skills = list(graph)
        space = mg.Discrete(skills)
        _, params = draw_students(bkt, 1, graph, rng, weights=tuple(mem.w))
        student_seed = int(rng.integers(2**63))
        for name in names:
            student = SimulatedStudent(params, graph, np.random.default_rng(student_seed), tuple(mem.w))
            next_day = None
            if name == "random":
                t = mg.make_teacher("uniform", space, seed=seed)
            elif name == "syllabus":
                t = None
            elif registry_name(name) in ("lp-bandit", "exp3", "sec"):  # "NAME@aside": set_aside=0.9
                t = mg.make_teacher(registry_name(name), space, seed=seed,
                                    **({"set_aside": 0.9} if name.endswith("@aside") else {}))
            else:
                kw: dict = {"prerequisites": graph, "seed": seed}
                if name == "difficulty-band":
                    kw["model"] = "bkt"
                t = mg.make_teacher(name, space, **kw)
                if name in ("mastery-learning", "difficulty-band"):
                    t.use_model(bkt_with(params))
                elif name == "spaced-review":
                    t.use_model(mem)
            if t is None:
                choose = syllabus(topological_order(skills, graph), block=max(1, args.budget // (2 * len(skills))))
                tell = lambda s, c: None  # noqa: E731
            else:
                choose = t.propose
                tell = t.observe
                if isinstance(t, PeoplePolicy):
                    next_day = lambda sec, t=t: t.advance(days=sec / 86400.0)  # noqa: E731
            results[name].append(run_session(choose, tell, student, args.budget, args.per_day, 30.0, next_day))
        print(f"  seed {seed}: " + ", ".join(f"{n} {results[n][-1].minutes_to_master:.0f}" for n in names)
              + "  (minutes to master; nan = not within the budget)", flush=True)

    def q(v):
        v = np.asarray(v, dtype=float)
        v = v[~np.isnan(v)]
        if len(v) == 0:
            return "    -"
        lo, med, hi = np.percentile(v, [25, 50, 75])
        return f"{med:6.0f} [{lo:.0f}-{hi:.0f}]" if med > 2 else f"{med:5.2f} [{lo:.2f}-{hi:.2f}]"

    print(f"\n{args.seeds} simulated students x {len(names)} policies; {args.skills}-skill prerequisite graph; "
          f"budget {args.budget} one-minute exercises, {args.per_day} a day; median [IQR] over seeds")
    print(f"{'policy':20s} {'mastered':>9s} {'minutes to master':>20s} {'known at end':>18s} {'retention +30d':>18s}")
    for n in names:
        r = results[n]
        mins = [x.minutes_to_master for x in r]
        done = sum(not np.isnan(m) for m in mins)
        print(f"{n:20s} {done:>4d}/{len(r):<4d} {q(mins):>20s} {q([x.known_at_end for x in r]):>18s} "
              f"{q([x.retention for x in r]):>18s}")
    print(f"\ntotal {time.perf_counter() - t0:.0f}s (2 shared CPU cores; timings noisy)")


if __name__ == "__main__":
    main()
