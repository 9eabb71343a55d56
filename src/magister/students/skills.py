"""SkillStudent: a simulated learner of discrete skills with prerequisites.

The discrete counterpart of :class:`~magister.students.grid.GridStudent`, for
judging teachers on a finite task space (skills, levels, data domains). The
task space is ``Discrete(names)``, one task per skill.

Each skill has a competence ``c`` in [0, 1] (starting at 0) and a success
probability ``p = chance + (1 - chance) * c``. Practising a skill raises its
competence by ``rate`` (capped at 1), but only if every prerequisite skill
already has ``p >= prereq_level``; otherwise practice is wasted. A skill is
mastered when ``p >= mastery_level``. The episode's score is drawn *before*
the practice takes effect: a 0/1 success with probability ``p``
(``scores="bernoulli"``, the default) or ``p`` itself (``scores="probability"``).

Options make the learner messier, so teachers can be judged for robustness:

* ``unlearnable``: skills whose competence never grows (they stay at chance,
  and the score never moves however much they are practised);
* ``noise`` with ``noisy``: Gaussian noise of this standard deviation on the
  success probability of the ``noisy`` skills (all skills if ``noisy`` is
  None) at every attempt, clipped to [0, 1];
* ``forgetting``: at every attempt, every *other* skill loses this much competence;
* ``rate``: one number, or one per skill (some skills are slower to learn).

The default (``SkillStudent()``): 10 skills ``s0 .. s9``; ``s0 -> s1 -> ... -> s6``
is a chain, ``s3 -> s7 -> s8`` a branch off its middle, and ``s9`` is an
unlearnable skill with no prerequisites. With ``rate=0.02`` a skill needs 45
effective practices to be mastered, so a perfect teacher needs about 405
episodes to master the 9 learnable skills while uniform sampling needs
several times that.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import ConfigError, reworded
from ..rng import SeedLike, as_generator
from ..settings import MAX_TASKS, is_int
from ..spaces import Discrete
from .base import StudentBase

__all__ = ["SkillStudent", "default_prerequisites", "random_prerequisites"]


def default_prerequisites(names: Sequence[str], learnable: int) -> dict[str, list[str]]:
    """A chain over the first ~70% of the first ``learnable`` skills, with a branch off its middle.

    Skills after ``learnable`` get no prerequisites.
    """
    pre: dict[str, list[str]] = {name: [] for name in names}
    m = max(0, min(learnable, len(names)))
    if m <= 1:
        return pre
    length = m if m < 4 else math.ceil(0.7 * m)
    for i in range(1, length):
        pre[names[i]] = [names[i - 1]]
    for i in range(length, m):
        pre[names[i]] = [names[length // 2]] if i == length else [names[i - 1]]
    return pre


def random_prerequisites(names: Sequence[str], rng: np.random.Generator, *, parents: int = 2,
                         density: float = 0.6) -> dict[str, list[str]]:
    """A random prerequisite DAG: each skill after the first gets, with probability ``density``,
    1 to ``parents`` prerequisites drawn among the skills listed before it (so it is acyclic)."""
    pre: dict[str, list[str]] = {name: [] for name in names}
    for i in range(1, len(names)):
        if rng.random() < density:
            k = int(rng.integers(1, max(1, parents) + 1))
            chosen = rng.choice(i, size=min(k, i), replace=False)
            pre[names[i]] = [names[j] for j in sorted(chosen.tolist())]
    return pre


def _topological(names: list[str], pre: dict[str, list[str]]) -> list[int]:
    """Skill indices in an order where every prerequisite comes first; raises on a cycle.

    A depth-first search with its own stack (a recursive one hit Python's recursion limit on a chain of about
    1,000 skills each listed before its prerequisite); the order is the search's post-order, prerequisites in
    their listed order."""
    index = {n: i for i, n in enumerate(names)}
    state = [0] * len(names)  # 0 new, 1 on stack, 2 done
    order: list[int] = []
    for root in range(len(names)):
        if state[root]:
            continue
        state[root] = 1
        stack = [(root, iter(pre[names[root]]))]  # (skill, its prerequisites not visited yet)
        while stack:
            i, todo = stack[-1]
            p = next(todo, None)
            if p is None:
                state[i] = 2
                order.append(i)
                stack.pop()
                continue
            j = index[p]
            if state[j] == 1:
                path = [names[s] for s, _ in stack]
                raise ConfigError(f"the prerequisite graph has a cycle: {' -> '.join(path + [p])}; "
                                  "prerequisites must form a DAG")
            if state[j] == 0:
                state[j] = 1
                stack.append((j, iter(pre[p])))
    return order


def _refuse_too_many(n: int) -> None:
    """Refuse more than :data:`~magister.settings.MAX_TASKS` skills, before anything per skill is made."""
    if n > MAX_TASKS:
        raise ConfigError(f"SkillStudent with {n} skills is too many (limit {MAX_TASKS}): each keeps a competence, a "
                          "practice count and its prerequisites, and the discrete teachers take at most that many "
                          "tasks; use fewer skills")


class SkillStudent(StudentBase):
    """Skills with a prerequisite graph, learnt by practice (see the module docstring).

    Args:
        skills: Number of skills (named ``s0 ..``) or a list of skill names. Default 10.
        prerequisites: ``{skill: [prerequisite skills]}`` (missing skills have none), ``"chain"``
            (each skill needs the previous one), ``"none"``, or ``None`` for the
            default chain with a branch (over the learnable skills), or ``"random"``
            (a random DAG drawn from ``seed``, see :func:`random_prerequisites`).
        unlearnable: Names of skills that can never be learnt; ``None`` = the last skill
            when there are at least 3 (the default), except with a dict of ``prerequisites``
            (then none), ``[]`` = none.
    """

    def __init__(
        self,
        skills: int | Sequence[str] = 10,
        *,
        prerequisites: Mapping[str, Sequence[str]] | str | None = None,
        unlearnable: Sequence[str] | None = None,
        rate: float | Sequence[float] = 0.02,
        chance: float = 0.1,
        prereq_level: float = 0.6,
        mastery_level: float = 0.9,
        scores: str = "bernoulli",
        noise: float = 0.0,
        noisy: Sequence[str] | None = None,
        forgetting: float = 0.0,
        seed: SeedLike = None,
    ):
        if is_int(skills):
            if skills < 1:
                raise ConfigError(f"SkillStudent needs at least one skill, got {skills}")
            _refuse_too_many(int(skills))  # (SkillStudent(10**9) filled memory with names)
            names = [f"s{i}" for i in range(int(skills))]
            self.space = Discrete(names)
        elif isinstance(skills, Sequence) and not isinstance(skills, (str, bytes)):
            _refuse_too_many(len(skills))
            try:  # the names as given: a number not at its own position is refused, as by Discrete (SkillStudent([2,
                self.space = Discrete(list(skills))  # 0, 1]).attempt(0) practised the skill named 2, at position 0)
            except ConfigError as e:
                raise reworded(e, f"SkillStudent skills: {e}") from None
            names = list(self.space.names or [])
        else:
            raise ConfigError(f"skills is a number of skills or a list of names, got {skills!r}")
        self.names = names
        n = len(names)

        def check_names(values: Any, what: str) -> list[str]:
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
                raise ConfigError(f"{what} must be a list of skill names, got {values!r}")
            out = [str(v) for v in values]
            bad = [v for v in out if v not in self.space._lookup]
            if bad:
                raise ConfigError(f"{what} names unknown skill(s) {bad}; skills are {names}")
            return out

        self.rng = as_generator(seed)
        if unlearnable is None:
            unl = [names[-1]] if n >= 3 and not isinstance(prerequisites, Mapping) else []
        else:
            unl = check_names(unlearnable, "unlearnable")
        self.learnable = np.array([nm not in unl for nm in names])

        if prerequisites is None:
            learn_names = [nm for nm in names if nm not in unl]
            pre = default_prerequisites(learn_names, len(learn_names))
            pre.update({nm: [] for nm in unl})
        elif prerequisites == "chain":
            pre = {nm: ([names[i - 1]] if i else []) for i, nm in enumerate(names)}
        elif prerequisites == "none":
            pre = {nm: [] for nm in names}
        elif prerequisites == "random":
            pre = random_prerequisites(names, self.rng)
        elif isinstance(prerequisites, Mapping):
            pre = {nm: [] for nm in names}
            for k, v in prerequisites.items():
                key = check_names([k], "prerequisites")[0]
                pre[key] = check_names(v, f"prerequisites[{k!r}]")
                if key in pre[key]:
                    raise ConfigError(f"skill {key!r} cannot be its own prerequisite")
        else:
            raise ConfigError(f"prerequisites must be a dict, 'chain', 'none', 'random' or None, got {prerequisites!r}")
        self.prerequisites = pre
        self.order = _topological(names, pre)
        self._pre_idx = [np.array([self.space._lookup[p] for p in pre[nm]], dtype=np.int64) for nm in names]

        try:  # numpy would read "0.5" as 0.5 and True as 1.0
            items = np.asarray(rate, dtype=object).ravel().tolist()
        except (TypeError, ValueError):
            items = [None]
        if not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
                   for v in items):
            raise ConfigError(f"rate must be one number in (0, 1] or one per skill ({n}), got {rate!r}")
        rates = np.broadcast_to(np.asarray(rate, dtype=float), (n,)) if np.ndim(rate) == 0 else np.asarray(rate, float)
        if rates.shape != (n,) or not np.isfinite(rates).all() or (rates <= 0).any() or (rates > 1).any():
            raise ConfigError(f"rate must be one number in (0, 1] or one per skill ({n}), got {rate!r}")
        self.rates = rates.copy()
        for nm, v in (("chance", chance), ("prereq_level", prereq_level), ("mastery_level", mastery_level)):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)) \
                    or not 0.0 <= v <= 1.0:  # numpy numbers too (np.float32(0.1) was refused)
                raise ConfigError(f"{nm} must be a probability in [0, 1], got {v!r}")
        if not chance < mastery_level:
            raise ConfigError(f"chance ({chance}) must be below mastery_level ({mastery_level}), "
                              "or every skill is mastered from the start")
        if scores not in ("bernoulli", "probability"):
            raise ConfigError(f"scores must be 'bernoulli' (0/1 outcomes) or 'probability', got {scores!r}")
        for nm, v in (("noise", noise), ("forgetting", forgetting)):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(v) or v < 0:
                raise ConfigError(f"{nm} must be a number >= 0, got {v!r}")
        self.noisy = np.ones(n, dtype=bool) if noisy is None else np.isin(names, check_names(noisy, "noisy"))
        self.chance, self.prereq_level, self.mastery_level = float(chance), float(prereq_level), float(mastery_level)
        self.scores, self.noise, self.forgetting = scores, float(noise), float(forgetting)
        self.competence = np.zeros(n)
        self.practice = np.zeros(n, dtype=np.int64)
        self.episodes = 0

    # ----------------------------------------------------------------- reads
    def success_probability(self) -> np.ndarray:
        """Current probability of success of every skill."""
        return self.chance + (1.0 - self.chance) * self.competence

    def ready(self) -> np.ndarray:
        """Mask of skills whose prerequisites are all at ``prereq_level`` (practice would help)."""
        p = self.success_probability()
        met = p >= self.prereq_level - 1e-12  # a competence reached through rounding counts, as for mastered()
        return np.array([bool(met[idx].all()) for idx in self._pre_idx]) & self.learnable

    def mastered(self) -> np.ndarray:
        """Mask of mastered skills (success probability >= ``mastery_level``)."""
        return self.success_probability() >= self.mastery_level - 1e-12

    def mastery(self) -> float:
        """Fraction of all skills mastered (unlearnable ones count as not mastered)."""
        return float(self.mastered().mean())

    def learnable_mastery(self) -> float:
        """Fraction of the learnable skills mastered."""
        return float(self.mastered()[self.learnable].mean()) if self.learnable.any() else 1.0


    def _oracle(self, budget: int, fill: bool, schedule: list[tuple[int, int]] | None = None) -> float:
        """One greedy schedule for :meth:`best_mastery`; ``fill``: practise each skill to full competence.

        The oracle knows every competence: it practises a learnable skill whose
        prerequisites are ready and that is not mastered, preferring the one fewest
        practices from mastery (a skill that lapsed through forgetting is refreshed first),
        until it is mastered; when none is left it raises a mastered prerequisite to
        ``prereq_level`` (above ``mastery_level``) to open the skills waiting for it. Score noise does not change competence, so it does not matter here.
        Without forgetting this is the best possible (short of per-skill rates where raising a
        slow prerequisite only to ``prereq_level`` for a faster skill would pay); with forgetting it is a strong
        greedy schedule (the better of two: practise each skill just to mastery, or up to full
        competence as a margin against forgetting). Nothing of this student changes.
        """
        comp = self.competence.copy()
        f, rates, chance = self.forgetting, self.rates, self.chance
        target = (self.mastery_level - 1e-12 - chance) / (1.0 - chance)  # competence that counts as mastered
        need = (self.prereq_level - 1e-12 - chance) / (1.0 - chance)  # competence a prerequisite needs
        # a skill a learnable one needs is raised to the prerequisite level too, when that is above mastery
        needed = np.zeros(len(comp), dtype=bool)
        for idx in itertools.compress(self._pre_idx, self.learnable):
            needed[idx] = True
        left = budget
        while left > 0:
            # a prerequisite must still be ready after the first practice's forgetting (the student forgets,
            # then checks), as the grid student's oracle requires
            ready = self.learnable & np.array([bool((comp[idx] - f >= need).all()) for idx in self._pre_idx])
            todo = ready & (comp < target)
            lift = ready & needed & (comp < need)
            if todo.any():
                steps = np.ceil((target - comp) / rates - 1e-9)  # practices each skill needs to be mastered
                cand = np.flatnonzero(todo)
                i = int(cand[np.lexsort((-comp[cand], steps[cand]))[0]])  # the fewest practices left first
                k = int(np.ceil(((1.0 if fill else target) - comp[i]) / rates[i] - 1e-9))
            elif lift.any():  # every skill within reach is mastered: open the ones that wait for a prerequisite
                i = int(np.flatnonzero(lift)[np.argmax(comp[lift])])
                k = int(np.ceil(((1.0 if fill else need) - comp[i]) / rates[i] - 1e-9))
            elif f > 0 and (ready & (comp < 1.0)).any():
                bank = ready & (comp < 1.0)
                i = int(np.flatnonzero(bank)[np.argmin(comp[bank])])
                k = int(np.ceil((1.0 - comp[i]) / rates[i] - 1e-9))
            else:
                break
            pre = self._pre_idx[i]
            if f > 0 and pre.size:  # stay within the steps for which every prerequisite stays ready
                k = min(k, int(np.floor((comp[pre].min() - need) / f + 1e-9)))
            k = max(1, min(k, left))
            if schedule is not None:  # (task, practices in a row): replaying it on the student gives the figure
                schedule.append((i, k))
            if f > 0:
                keep = comp[i]
                np.maximum(comp - f * k, 0.0, out=comp)
                comp[i] = keep
            comp[i] = min(1.0, comp[i] + k * rates[i])
            left -= k
        return float((chance + (1.0 - chance) * comp >= self.mastery_level - 1e-12).mean())

    # ---------------------------------------------------------------- attempt
    def attempt(self, task: Any) -> float:
        i = self.space.index(self.space.validate(task))
        p = self.chance + (1.0 - self.chance) * self.competence[i]
        if self.noise > 0 and self.noisy[i]:
            p = min(1.0, max(0.0, p + self.rng.normal(0.0, self.noise)))
        score = float(self.rng.random() < p) if self.scores == "bernoulli" else float(p)
        if self.forgetting > 0:
            keep = self.competence[i]
            np.maximum(self.competence - self.forgetting, 0.0, out=self.competence)
            self.competence[i] = keep
        if self.learnable[i]:
            pre = self._pre_idx[i]
            p_pre = self.chance + (1.0 - self.chance) * self.competence[pre]
            if pre.size == 0 or (p_pre >= self.prereq_level - 1e-12).all():
                self.competence[i] = min(1.0, self.competence[i] + self.rates[i])
        self.practice[i] += 1
        self.episodes += 1
        return score
