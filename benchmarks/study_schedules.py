"""`magister study`'s schedule before and after issue 15, on simulated students drawn from fitted models.

Fits BKT on ASSISTments 2015 (per-skill prior, learn, guess, slip) and the
FSRS memory model on the earlier half of the Anki log, as
``benchmarks/people_policies.py`` does. For each seed: a random prerequisite
graph of ``--skills`` skills, a deck of ``--cards`` cards per skill, and one
simulated student (:class:`~magister.people.simulate.SimulatedStudent`: BKT
knowledge that can be learned only once the prerequisites are known, FSRS
forgetting of what is known). Both schedules teach identical copies of the
student (same random stream): one session a day of at most ``--per-session``
typed answers (30 s each; a right answer is grade 3, a wrong one grade 1),
``--sessions`` days. A session ends early when the schedule has nothing to
ask.

* ``old``: the loop of ``magister study`` before issue 15, reproduced here
  (a ``spaced-review`` teacher: due reviews first, a missed card again after
  two answers, new cards whose skills' prerequisites have recall a day ahead
  >= 0.9, else review ahead the card of lowest recall);
* ``new``: :class:`magister.people.study.Schedule` (retries after three other
  answers, reviews and learning taking turns, mastery = three right in a row
  and every card right once).

Reported, median [min-max] over seeds:

* known: share of the graph's skills the student truly knows after the last session;
* shown mastered: share of the skills the schedule shows as mastered after the last session;
* recall +30 d: mean P(correct) over all skills 30 days after the last session;
* same card in a row: the longest run of one card within a session;
* days to open all: the first session at whose end the schedule has every skill open
  (``-`` if never within the sessions);
* false mastery (first mark): of the skills the schedule ever showed as
  mastered, the share the student did not know at the answer after which it
  first did;
* false mastery (session ends): of the skills the schedule shows as mastered
  at the end of a session (pooled over sessions), the share the student does
  not know then;
* answers: questions asked over all sessions.

Run:  nice -n 10 python benchmarks/study_schedules.py --seeds 10
"""

from __future__ import annotations

import argparse
import copy
import os
import time

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np

import magister as mg
from magister.bench.args import at_least
from magister.people.bkt import BKT
from magister.people.deck import Card, Deck
from magister.people.events import DAY, load_anki, load_assist2015
from magister.people.memory import FSRSMemory
from magister.people.policies import SpacedReview
from magister.people.simulate import SimulatedStudent, draw_students, skill_graph
from magister.people.study import Schedule

DATA = os.environ.get("MAGISTER_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
ANSWER_SECONDS = 30.0


class OldLoop:
    """The session loop of ``magister study`` before issue 15 (its ``cli.py``), without the terminal."""

    def __init__(self, deck: Deck, weights, retention: float = 0.9):
        self.deck = deck
        self.policy = SpacedReview(mg.Discrete([c.id for c in deck.cards]),
                                   skills={c.id: c.skill for c in deck.cards}, prerequisites=deck.prerequisites,
                                   desired_retention=retention, minutes_per_answer=0.0,
                                   model_settings={"graded": False, "grades_from_scores": True,
                                                   "weights": list(weights)},
                                   score_range=(1, 4), seed=0)

    def session(self, start: float, count: int, answer, after) -> list[str]:
        p = self.policy
        asked: list[str] = []
        again: list[tuple[str, int]] = []
        while len(asked) < count:
            p.set_time(max(p.clock, start + ANSWER_SECONDS * len(asked)))
            due, new = p.due_items(), p.new_items()
            n = len(asked)
            ready = [c for c, k in again if n - k >= 2]
            if due:
                pick = due[0]
            elif ready:
                pick = ready[0]
            elif new:
                pick = new[0]
            elif again:
                pick = again[0][0]
            elif not all(p.mastered().values()):
                pick = p.propose()
            else:
                break
            again = [(c, k) for c, k in again if c != pick]
            grade = answer(pick, p.clock)
            p.observe(pick, grade)
            if grade == 1:
                again.append((pick, n))
            asked.append(pick)
            after(p.clock)
        return asked

    def mastered(self, time: float) -> dict[str, bool]:
        self.policy.set_time(max(self.policy.clock, time))
        return self.policy.mastered()

    def all_open(self, time: float) -> bool:
        self.policy.set_time(max(self.policy.clock, time))
        return bool(self.policy.unlocked().all())


class NewLoop:
    """The schedule of :mod:`magister.people.study`."""

    def __init__(self, deck: Deck, weights, retention: float = 0.9):
        self.schedule = Schedule(deck, retention=retention, weights=list(weights))

    def session(self, start: float, count: int, answer, after) -> list[str]:
        s = self.schedule
        s.start_session(start)
        asked: list[str] = []
        while len(asked) < count:
            t = start + ANSWER_SECONDS * len(asked)
            pick = s.next(t)
            if pick is None:
                break
            s.record(pick.card, answer(pick.card, t), t)
            asked.append(pick.card)
            after(t)
        return asked

    def mastered(self, time: float) -> dict[str, bool]:
        return {sk: self.schedule.mastered(sk) for sk in self.schedule.order}

    def all_open(self, time: float) -> bool:
        return all(self.schedule.is_open(sk) for sk in self.schedule.order)


def longest_run(cards: list[str]) -> int:
    best = run = 0
    for i, c in enumerate(cards):
        run = run + 1 if i and c == cards[i - 1] else 1
        best = max(best, run)
    return best


def teach(loop, student: SimulatedStudent, deck: Deck, sessions: int, per_session: int) -> dict:
    skill_of = {c.id: c.skill for c in deck.cards}

    def answer(card: str, t: float) -> int:
        return 3 if student.answer(skill_of[card], t) else 1

    runs, answers, opened = [], 0, float("nan")
    shown = wrong = 0
    first_mark: dict[str, bool] = {}  # skill -> did the student know it when the schedule first showed it mastered

    def after(time: float) -> None:
        for sk, m in loop.mastered(time).items():
            if m and sk not in first_mark:
                first_mark[sk] = student.known[sk]

    t = 0.0
    for day in range(sessions):
        t = day * DAY + 9 * 3600.0
        asked = loop.session(t, per_session, answer, after)
        answers += len(asked)
        runs.append(longest_run(asked))
        end = t + ANSWER_SECONDS * len(asked)
        if np.isnan(opened) and loop.all_open(end):
            opened = float(day + 1)
        marks = loop.mastered(end)
        for sk, m in marks.items():
            if m:
                shown += 1
                wrong += not student.known[sk]
        t = end
    return {"known": float(np.mean(list(student.known.values()))), "recall": student.retention(t + 30 * DAY),
            "shown": float(np.mean(list(marks.values()))),
            "run": float(max(runs)), "open": opened, "false": wrong / shown if shown else float("nan"),
            "first": (sum(not k for k in first_mark.values()) / len(first_mark)) if first_mark else float("nan"),
            "answers": float(answers)}


def fmt(values: list[float], digits: int) -> str:
    v = np.asarray(values, dtype=float)
    ok = v[~np.isnan(v)]
    if len(ok) == 0:
        return "-"
    med, lo, hi = np.median(ok), ok.min(), ok.max()
    s = f"{med:.{digits}f} [{lo:.{digits}f}-{hi:.{digits}f}]"
    return s + (f" ({len(ok)}/{len(v)})" if len(ok) < len(v) else "")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # checked before the two fits: --seeds 0 printed an empty table, --sessions 0 and a negative --first-seed
    # failed after them
    ap.add_argument("--seeds", type=at_least(1), default=10)
    ap.add_argument("--skills", type=at_least(1), default=10)
    ap.add_argument("--cards", type=at_least(1), default=2, help="cards per skill")
    ap.add_argument("--sessions", type=at_least(1), default=10, help="one session a day")
    ap.add_argument("--per-session", type=at_least(1), default=20, help="questions per session at most")
    ap.add_argument("--first-seed", type=at_least(0), default=2000)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    bkt = BKT(forgets=False).fit(load_assist2015(os.path.join(DATA, "assist2015", "train_valid.csv")))
    anki = load_anki(os.path.join(DATA, "anki-review-log", "review_log.csv"))
    mem = FSRSMemory().fit(anki, score_mask=anki.time < np.quantile(anki.time, 0.5))
    weights = tuple(float(x) for x in mem.w)
    print(f"fitted BKT on ASSISTments 2015 and FSRS on the Anki log in {time.perf_counter() - t0:.1f}s", flush=True)

    results: dict[str, list[dict]] = {"old": [], "new": []}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        rng = np.random.default_rng(seed)
        graph = skill_graph(args.skills, rng)
        deck = Deck(f"sim-{seed}", [Card(f"{s}-{k}", f"{s} #{k}?", ("x",), s) for s in graph
                                    for k in range(args.cards)], prerequisites=graph)
        students, _ = draw_students(bkt, 1, graph, rng, weights=weights)
        for name, cls in (("old", OldLoop), ("new", NewLoop)):
            student = copy.deepcopy(students[0])  # the same student and random stream for both schedules
            results[name].append(teach(cls(deck, weights), student, deck, args.sessions, args.per_session))
        print(f"  seed {seed}: known old {results['old'][-1]['known']:.2f} new {results['new'][-1]['known']:.2f}",
              flush=True)

    print(f"\n{args.seeds} simulated students; {args.skills}-skill prerequisite graphs, {args.cards} cards per skill; "
          f"{args.sessions} daily sessions of at most {args.per_session} answers; median [min-max] over seeds")
    cols = [("known", "known", 2), ("shown", "shown mastered", 2), ("recall", "recall +30 d", 2),
            ("run", "same card in a row", 0),
            ("open", "days to open all", 0), ("first", "false mastery (first mark)", 2),
            ("false", "false mastery (session ends)", 2), ("answers", "answers", 0)]
    print("| schedule | " + " | ".join(title for _, title, _ in cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for name, rs in results.items():
        print(f"| {name} | " + " | ".join(fmt([r[k] for r in rs], d) for k, _, d in cols) + " |")
    print(f"\ntotal {time.perf_counter() - t0:.0f}s (2 shared CPU cores; timings noisy)")


if __name__ == "__main__":
    main()
