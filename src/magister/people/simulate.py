"""Simulated students drawn from fitted learner models, to compare policies offline.

A :class:`SimulatedStudent` has, per skill, a hidden *known* flag that follows
BKT (prior, learn, guess, slip, with learning possible only once every
prerequisite is known: the skill graph matters) and, once known, a memory that
follows the FSRS-family forgetting curve (stability grows with spaced
successful practice and drops after a lapse). So the student both learns and
forgets, and a policy is judged on time to master the graph and on what is
still remembered 30 days later.

:func:`draw_students` takes a fitted :class:`~magister.people.bkt.BKT` (per-skill
parameters, e.g. from ASSISTments) and a fitted
:class:`~magister.people.memory.FSRSMemory` (e.g. from an Anki log) and gives
each skill of a graph the parameters of a randomly drawn fitted skill.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import ConfigError
from ..settings import whole
from .events import DAY
from .memory import DEFAULT_WEIGHTS, _init_d, _step, retrievability
from .policies import prerequisite_cycle

__all__ = ["SimulatedStudent", "skill_graph", "draw_students", "run_session", "SessionResult"]


def skill_graph(n: int, rng: np.random.Generator, max_parents: int = 2) -> dict[str, list[str]]:
    """A random prerequisite DAG over skills ``s00 .. s{n-1}``: skill 0 needs nothing, every other one
    1 to ``max_parents`` earlier ones, among the few just before it (so the graph is deep, like a syllabus).
    """
    n = whole("n", n, hint="the number of skills")
    max_parents = whole("max_parents", max_parents, hint="every skill after the first needs at least one")
    names = [f"s{i:02d}" for i in range(n)]
    graph: dict[str, list[str]] = {names[0]: []}
    for i in range(1, n):
        lo = max(0, i - 4)
        k = int(rng.integers(1, max_parents + 1))
        parents = sorted(set(int(j) for j in rng.integers(lo, i, size=k)))
        graph[names[i]] = [names[j] for j in parents]
    return graph


@dataclass
class SimulatedStudent:
    """BKT knowledge per skill with prerequisites, plus an FSRS-family memory of what is known.

    ``params[skill] = (prior, learn, guess, slip)``; ``weights`` are the memory
    model's 21 weights. Times are in seconds.
    """

    params: dict[str, tuple[float, float, float, float]]
    prerequisites: dict[str, list[str]]
    rng: np.random.Generator
    weights: tuple[float, ...] = DEFAULT_WEIGHTS
    known: dict[str, bool] = field(default_factory=dict)
    memory: dict[str, list[float]] = field(default_factory=dict)  # skill -> [S, D, last]

    def __post_init__(self) -> None:
        self._check_params()
        self._check_prerequisites()
        self.w = np.asarray(self.weights, dtype=float)
        for s, (prior, *_rest) in self.params.items():
            if s not in self.known:
                self.known[s] = bool(self.rng.random() < prior)
                if self.known[s]:
                    self.memory[s] = [float(self.w[2]), float(_init_d(self.w, 3.0)), 0.0]

    def _check_params(self) -> None:
        """Each skill's ``(prior, learn, guess, slip)``: four probabilities (two of them failed at the skill's first
        answer with Python's "not enough values to unpack", text with a raw ``TypeError``)."""
        if not isinstance(self.params, Mapping):
            raise ConfigError(f"params must be a dict of skill -> (prior, learn, guess, slip), got "
                              f"{type(self.params).__name__} {self.params!r:.60}")
        for skill, values in self.params.items():
            ok = isinstance(values, (Sequence, np.ndarray)) and not isinstance(values, (str, bytes)) \
                and np.ndim(values) == 1 and len(values) == 4
            # numbers (not text, not True), each in [0, 1] (NaN fails too)
            ok = ok and all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
                            and 0.0 <= v <= 1.0 for v in values)
            if not ok:
                raise ConfigError(f"params[{skill!r}] must be four probabilities (prior, learn, guess, slip), got "
                                  f"{values!r:.80}")

    def _check_prerequisites(self) -> None:
        """A graph the student cannot use is refused here (a prerequisite that is no skill failed at the first answer
        with a raw ``KeyError``; a list in place of the dict with an ``AttributeError``)."""
        pre, known = self.prerequisites, ", ".join(map(repr, self.params))
        if not isinstance(pre, Mapping):
            raise ConfigError(f"prerequisites must be a dict of skill -> [skills it needs] (skill_graph(n, rng) draws "
                              f"one), got {type(pre).__name__}")
        for skill, needs in pre.items():
            if skill not in self.params:
                raise ConfigError(f"skill {skill!r} of prerequisites is no skill of the student ({known})")
            # any collection of names, as a deck's prerequisites take (a set or an array worked before this check)
            if isinstance(needs, (str, bytes)) or not isinstance(needs, (Sequence, Set, np.ndarray)) \
                    or (isinstance(needs, np.ndarray) and needs.ndim == 0):
                raise ConfigError(f"prerequisites of {skill!r} must be a list of skills, got {needs!r}")
            for need in needs:
                if need not in self.params:
                    raise ConfigError(f"prerequisite {need!r} of skill {skill!r} is no skill of the student ({known})")
        # a cycle of skills none of which can be known at the start (prior 0, not given in known) can never be learned
        # (built before: a session ran its budget, minutes_to_master NaN); one with a skill that may be known at the
        # start (a prior above 0, as fitted BKT priors are, or known=True) is learned from there, as it always was
        never = {s: needs for s, needs in pre.items() if not self._may_start_known(s)}
        cycle = prerequisite_cycle({s: [n for n in needs if n in never] for s, needs in never.items()})
        if cycle:
            raise ConfigError(f"prerequisites form a cycle, {' -> '.join(map(repr, cycle))} (each skill needs the "
                              "next), and none of its skills can be known at the start (prior 0): none can be "
                              "learned, as each waits for another to be known; remove one of its links, or give one "
                              "a prior above 0 (skill_graph(n, rng) draws a graph without cycles)")

    def _may_start_known(self, skill: str) -> bool:
        """Whether ``skill`` is known at the start, or may be (given in ``known``, or a prior above 0)."""
        if skill in self.known:
            return bool(self.known[skill])
        try:
            return float(self.params[skill][0]) > 0.0
        except (TypeError, ValueError, IndexError):
            return False

    def recall(self, skill: str, time: float) -> float:
        if not self.known[skill]:
            return 0.0
        S, _, last = self.memory[skill]
        return float(retrievability(max(0.0, time - last) / DAY, S, self.w[20]))

    def p_correct(self, skill: str, time: float) -> float:
        _, _, guess, slip = self.params[skill]
        r = self.recall(skill, time)
        return r * (1 - slip) + (1 - r) * guess

    def ready(self, skill: str) -> bool:
        return all(self.known[r] for r in self.prerequisites.get(skill, []))

    def answer(self, skill: str, time: float) -> int:
        """Attempt one exercise of ``skill`` at ``time``; returns 1 if right. Practice may teach or consolidate."""
        if skill not in self.params:
            raise ConfigError(f"the simulated student has no skill {skill!r}")
        correct = int(self.rng.random() < self.p_correct(skill, time))
        _, learn, _, _ = self.params[skill]
        if not self.known[skill]:
            if self.ready(skill) and self.rng.random() < learn:
                self.known[skill] = True
                self.memory[skill] = [float(self.w[2]), float(_init_d(self.w, 3.0)), time]
        else:
            S, D, last = self.memory[skill]
            g = 3.0 if correct else 1.0
            S2, D2, _ = _step(self.w, np.array(S), np.array(D), np.array(max(0.0, time - last) / DAY), np.array(g))
            self.memory[skill] = [float(S2), float(D2), time]
        return correct

    def all_known(self) -> bool:
        return all(self.known.values())

    def retention(self, time: float) -> float:
        """Mean P(correct) over all skills at ``time`` (no practice)."""
        return float(np.mean([self.p_correct(s, time) for s in self.params]))


def draw_students(bkt, n: int, graph: dict[str, list[str]], rng: np.random.Generator,
                  weights: Any = DEFAULT_WEIGHTS, min_count: int = 0) -> tuple[list[SimulatedStudent], dict]:
    """``n`` students on ``graph``: each graph skill takes the fitted parameters of a random BKT skill.

    Returns the students and the parameter map (the population the students
    share, which a policy's model may be given).
    """
    n = whole("n", n, 0, hint="how many students to draw")  # (-1 drew none without a word)
    fitted = bkt.skill_params()
    if not fitted:  # (an unfitted BKT has no skills: numpy's "high <= 0")
        raise ConfigError("draw_students needs a BKT fitted on a log (bkt.fit(log)): each graph skill takes the "
                          "parameters of one of its skills, and this one has none")
    pool = [v for v in fitted.values() if v["learn"] > 0.01 and v["guess"] < 0.4] or list(fitted.values())
    chosen = rng.integers(0, len(pool), size=len(graph))
    params = {s: (pool[c]["prior"], pool[c]["learn"], pool[c]["guess"], pool[c]["slip"])
              for s, c in zip(graph, chosen)}
    students = [SimulatedStudent(params, graph, np.random.default_rng(rng.integers(2**63)), tuple(weights))
                for _ in range(n)]
    return students, params


@dataclass
class SessionResult:
    minutes_to_master: float  # nan if the graph was not mastered within the budget
    known_at_end: float  # share of skills known when study stops
    retention: float  # mean P(correct) over skills ``horizon_days`` after study stops
    minutes: int


def run_session(choose: Callable[[], str], tell: Callable[[str, int], None], student: SimulatedStudent,
                budget: int = 600, per_day: int = 30, horizon_days: float = 30.0,
                next_day: Callable[[float], None] | None = None) -> SessionResult:
    """Study ``budget`` one-minute exercises, ``per_day`` a day, then wait ``horizon_days``.

    ``choose()`` names the next skill, ``tell(skill, correct)`` reports the
    answer, ``next_day(seconds)`` is called when the clock jumps to the next
    day's session.
    """
    budget = whole("budget", budget, 0, hint="one-minute exercises")
    per_day = whole("per_day", per_day, hint="exercises a day")  # 0 was a ZeroDivisionError
    time = 0.0
    mastered_at = float("nan")
    for step in range(budget):
        if step and step % per_day == 0:
            jump = (step // per_day) * DAY - time
            time += jump
            if next_day is not None:
                next_day(jump)
        skill = choose()
        tell(skill, student.answer(skill, time))
        time += 60.0
        if np.isnan(mastered_at) and student.all_known():
            mastered_at = float(step + 1)
    known = float(np.mean(list(student.known.values())))
    return SessionResult(mastered_at, known, student.retention(time + horizon_days * DAY), budget)
