"""What to practise next: teachers for people, on top of any learner model.

Every policy is a :class:`magister.Teacher` (``kind = "discrete"``) over a
finite space of items or skills, so it proposes, observes, saves and resumes
like any other teacher. It owns a learner model built from a name and a
settings dict (``model="bkt"``, ``model_settings={...}``; any registered learner
model: ``"elo"``, ``"best-lr"``, ``"dkt"``, ``"sakt"``, ...), updates it with each
observed score (a score >= 0.5 counts as right; fractions are partial credit
for BKT and Elo), and keeps a clock: each answer takes ``minutes_per_answer``,
and :meth:`PeoplePolicy.advance` moves time on (between sessions).
Fitted parameters are loaded with :meth:`PeoplePolicy.use_model`.

* ``mastery-learning`` - practise the first unmastered skill (syllabus order)
  whose prerequisites are mastered, until P(mastered) reaches the threshold;
* ``difficulty-band`` - an unlocked item whose predicted P(correct) is closest
  to the band (0.7 to 0.85 by default);
* ``spaced-review`` - the most overdue item once predicted recall falls to the
  desired retention; otherwise a new unlocked item;
* ``max-information`` - the item maximising a^2 P (1 - P) (placement tests).

Prerequisites are ``{skill: [skills it needs]}``; an item is *unlocked* when
the learner model says every prerequisite of its skill is mastered.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Set
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError
from ..settings import few_tasks, flag, fraction, held, number, numbers_only, whole
from ..teacher import Teacher, register
from .base import LearnerModel, make_model, stored_settings, stored_state
from .events import Event

#: the largest float: the clock (seconds) must stay below it
_LARGEST_SECONDS = float(np.finfo(float).max)
#: the largest ``minutes_per_answer``: 60 times it (the clock's step in seconds) is still a finite float (a float's
#: largest / 60 itself is not: 60 times it rounds up to infinity)
_LARGEST_MINUTES = float(np.nextafter(_LARGEST_SECONDS / 60.0, 0.0))

__all__ = ["PeoplePolicy", "MasteryLearning", "DifficultyBand", "SpacedReview", "MaxInformation",
           "topological_order"]

LEARNER = "learner"


def _mapping(name: str, value: Any, what: str) -> dict[Any, Any]:
    """Setting ``name`` as a dict (None: empty); anything but a mapping is a ConfigError (a string, a list or an
    array raised Python's or numpy's own errors from ``dict()`` or ``.items()``)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name} is a dict of {what}, got {type(value).__name__} {value!r:.60}")
    return dict(value)


def _names(name: str, key: Any, value: Any) -> list[str]:
    """One entry of ``prerequisites``: a list of skill names (a string was read letter by letter)."""
    if (isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset, np.ndarray))
            or np.ndim(value) == 0):  # (a 0-d array is one name: iterating it raised numpy's TypeError)
        raise ConfigError(f"{name}[{key!r}] is a list of skill names, got {type(value).__name__} {value!r:.60}"
                          + (f"; write [{value!r}]" if isinstance(value, str) else ""))
    return [str(x) for x in value]


def prerequisite_cycle(graph: Mapping[str, Sequence[str]]) -> list[str]:
    """A cycle of ``graph`` (skill -> the skills it needs) as ``[a, b, ..., a]``, or ``[]`` for none (what
    :func:`topological_order` names, and ``SimulatedStudent`` refuses)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in graph:
        if state.get(root):
            continue
        path, todo = [root], [iter(graph.get(root, ()))]
        state[root] = 1
        while todo:
            nxt = next(todo[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                todo.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                todo.append(iter(graph.get(nxt, ())))
    return []


def topological_order(skills: list[str], prerequisites: dict[str, list[str]]) -> list[str]:
    """Skills ordered so prerequisites come first (ties kept in the given order); refuses cycles."""
    known = set(skills)
    for s, needs in prerequisites.items():
        if s not in known:
            raise ConfigError(f"prerequisites name the unknown skill {s!r}; known skills: {sorted(known)[:8]}")
        for r in needs:
            if r not in known:
                raise ConfigError(f"skill {s!r} requires the unknown skill {r!r}; fix the prerequisite graph")
    # Kahn's algorithm with a heap of positions: at each step the first skill (in the given order) whose
    # prerequisites are all placed, as a scan of the pending list would pick, in O((n + edges) log n).
    position = {s: i for i, s in enumerate(skills)}
    needs_left = [0] * len(skills)
    dependants: dict[str, list[str]] = {}
    for s, needs in prerequisites.items():
        for r in set(needs):
            needs_left[position[s]] += 1
            dependants.setdefault(r, []).append(s)
    ready = [i for i, n in enumerate(needs_left) if n == 0]
    heapq.heapify(ready)
    done: list[str] = []
    while ready:
        s = skills[heapq.heappop(ready)]
        done.append(s)
        for d in dependants.get(s, ()):
            j = position[d]
            needs_left[j] -= 1
            if needs_left[j] == 0:
                heapq.heappush(ready, j)
    if len(done) < len(skills):
        placed = set(done)
        pending = [s for s in skills if s not in placed]
        more = f" and {len(pending) - 10} more" if len(pending) > 10 else ""
        cycle = " -> ".join(map(repr, prerequisite_cycle(prerequisites)))
        raise ConfigError(f"the prerequisite graph has a cycle, {cycle}, among {pending[:10]}{more}; remove one "
                          "requirement")
    return done


class PeoplePolicy(Teacher):
    """Base of the policies: owns a learner model, a clock, the item -> skill map and prerequisites.

    Args:
        model: learner model name (``"bkt"``, ``"elo"``, ``"best-lr"``, ``"dkt"``, ``"sakt"``,
            ``"fsrs"``). Policies read it only through the protocol (P(correct) from ``predict``,
            per-skill ``mastery``), so any registered model works; fitted ones come in by
            :meth:`use_model`.
        model_settings: the learner model's settings.
        skills: ``{item: skill}``; items not listed are their own skill.
        prerequisites: ``{skill: [required skills]}`` (no cycles).
        threshold: mastery level (the model's ``mastery`` scale) at which a skill counts as mastered;
            ``None`` uses the model's own (BKT 0.95, Elo and Best-LR 0.9, FSRS its desired retention).
        minutes_per_answer: simulated time each observed answer takes.
        explore: share of proposals drawn uniformly over all items (0 = always the policy's choice).
    """

    kind = "discrete"
    default_model = "bkt"
    #: every proposal evaluates every item (in Python): the service caps the space (max_policy_tasks)
    work_grows_with_tasks = True
    #: keeps a clock (``clock``, seconds; moved by ``set_time``): the service moves it to its own time before
    #: each request of a curriculum whose ``clock`` is ``"server"`` (docs/serve.md, "Clocks of people policies")
    keeps_clock = True
    conformance_kwargs = {"explore": 0.1}
    #: 2: the model's settings are checked (flags are bools, BKT's probabilities numbers); a state of version 1
    #: (magister up to ed316be, which read them with bool() and float()) is read as that version ran it
    state_version = 2

    def __init__(self, space, *, model: str | None = None, model_settings: dict | None = None,
                 skills: dict | None = None, prerequisites: dict | None = None, threshold: float | None = None,
                 minutes_per_answer: float = 1.0, explore: float = 0.0, start_time: float = 0.0,
                 seed=None, score_range=None):
        super().__init__(space, seed=seed, score_range=score_range)
        explore = fraction("explore", explore, hint="the share of proposals drawn uniformly")
        # (at most a float's largest / 60: a larger one made the step of the clock, in seconds, infinite, and every
        # answer was refused as having an infinite time, so the policy could observe nothing)
        minutes_per_answer = number("minutes_per_answer", minutes_per_answer, 0.0, _LARGEST_MINUTES,
                                    hint="the simulated minutes each answer takes (60 times it, in seconds, must be "
                                         "a finite number)")
        start_time = number("start_time", start_time, hint="the clock's start in seconds")
        if threshold is not None:
            threshold = fraction("threshold", threshold, hint="a mastery level, or None for the model's own")
        few_tasks(space.n, "a people policy keeps a learner model per item")
        self.items = space.task_names()
        skills = _mapping("skills", skills, "item names to skill names")
        names = set(self.items)
        unknown = [k for k in skills if k not in names]  # in the given order: keys of mixed types do not sort
        if unknown:
            raise ConfigError(f"skills maps unknown items {unknown[:5]}; keys must be the item names of {space!r} "
                              f"(strings: {self.items[:5]}{'...' if len(self.items) > 5 else ''})")
        self.item_skill = [str(skills.get(i, i)) for i in self.items]
        self.skill_names = list(dict.fromkeys(self.item_skill))
        prereq = {str(k): _names("prerequisites", k, v)
                  for k, v in _mapping("prerequisites", prerequisites, "skill names to lists of skill names").items()}
        self.order = topological_order(self.skill_names, prereq)
        self.prerequisites = prereq
        rank = {s: i for i, s in enumerate(self.order)}
        self.rank = np.array([rank[s] for s in self.item_skill], dtype=float)
        if model is None or isinstance(model, str) and not model:  # (`model or ...` raised numpy's error for an array)
            model = self.default_model
        self.model: LearnerModel = make_model(model,
                                              **_mapping("model_settings", model_settings, "learner model settings"))
        self._record_settings(model=self.model.name)
        self.threshold = None if threshold is None else float(threshold)
        self.explore = float(explore)
        self.step = float(minutes_per_answer) * 60.0
        self._refuse_stuck_clock(start_time, "start_time")
        self.clock = float(start_time)
        self.model._register_items(self.items, self.item_skill)  # the vocabulary up front
        self.model._learner_code(LEARNER)
        self.model._grow()

    @classmethod
    def _stored_settings(cls, settings: dict[str, Any], version: int) -> dict[str, Any]:
        """``model_settings`` saved before state version 2 as the magister that saved them read them (``graded=1``
        ran graded: :func:`magister.people.base.stored_settings`); refused by :func:`make_model` when given anew,
        and in a state of version 2 (a checkpoint edited since)."""
        if version >= 2:
            return settings
        given, model = settings.get("model_settings"), settings.get("model")
        if model is None or isinstance(model, str) and not model:  # (as __init__ reads it)
            model = cls.default_model
        if not isinstance(given, dict) or not isinstance(model, str):
            return settings
        return {**settings, "model_settings": stored_settings(model, given)}

    def _upgrade_state(self, state: dict[str, Any], version: int) -> dict[str, Any]:
        # version 1 (up to ed316be) read its model's flags with bool() and BKT's probabilities with float(): its
        # model settings as they are read now (graded=1 gives back True). In version 2 they are as checked
        if version < 2 and isinstance(state, dict) and "model" in state:
            return {**state, "model": stored_state(state["model"])}
        return state

    # ------------------------------------------------------------- public
    def use_model(self, fitted: LearnerModel) -> None:
        """Use a copy of a fitted learner model (its parameters; the learner's state starts fresh).

        Any registered kind works (``bkt``, ``elo``, ``best-lr``, ``dkt``, ...):
        the policy reads the model only through the protocol (``predict`` of
        P(correct), ``mastery`` per skill, ``update``). The policy switches to
        the fitted model's kind and settings and records them, so its config
        reports the model in use and a checkpoint rebuilds the same kind.
        """
        if not isinstance(fitted, LearnerModel):
            raise ConfigError(f"use_model needs a magister learner model, got {type(fitted).__name__}")
        self._check_model(fitted)
        # an item the fitted model gives another skill kept it (_register_items keeps a known item's skill), so the
        # answers went to that skill while the policy read its own: 30 right answers left the skill at its prior
        skill_names = list(fitted._skills)
        for item, skill in zip(self.items, self.item_skill):
            i = fitted._items.get(item)
            if i is not None and i in fitted._item_skill and i not in fitted._guessed_items:
                theirs = skill_names[fitted._item_skill[i]]
                if theirs != skill:
                    raise ConfigError(f"use_model: the fitted {fitted.name} model gives item {item!r} the skill "
                                      f"{theirs!r}, but this policy gives it {skill!r} (skills=); a learner model "
                                      "gives each item one skill: build the policy with the skills the model was "
                                      "fitted with, or fit the model on a log tagged as the policy's skills")
        state = fitted.get_state()
        model = type(fitted).from_state(state)
        model.reset()
        model._register_items(self.items, self.item_skill)
        model._learner_code(LEARNER)
        model._grow()
        self.model = model
        # recorded whatever the kind: a fitted model of the same kind may have other settings (FSRS its
        # own desired_retention), and the config must report the model the policy now uses
        self._record_settings(model=fitted.name, model_settings=dict(fitted.settings))

    def _check_model(self, model: LearnerModel) -> None:
        """Refuse a learner model this policy cannot use (every kind passes here; subclasses narrow it)."""

    def advance(self, days: float = 0.0, hours: float = 0.0, minutes: float = 0.0) -> None:
        """Move the clock on (a break between sessions)."""
        dt = (number("days", days) * 86400.0 + number("hours", hours) * 3600.0
              + number("minutes", minutes) * 60.0)
        if not np.isfinite(dt):
            raise ConfigError(f"advance() needs a finite break, got {dt!r} seconds")
        if dt < 0:
            raise ConfigError("advance() cannot move time backwards")
        self._refuse_stuck_clock(self.clock + dt, f"advance() by {dt!r} seconds from {self.clock!r}")
        self.clock += dt

    def set_time(self, timestamp: float) -> None:
        """Set the clock (seconds); refuses to go backwards."""
        timestamp = number("timestamp", timestamp, hint="set_time takes seconds")
        if timestamp < self.clock:
            raise ConfigError(f"set_time({timestamp}) is before the current time {self.clock}")
        self._refuse_stuck_clock(timestamp, f"set_time({timestamp!r})")
        self.clock = float(timestamp)

    def _refuse_stuck_clock(self, clock: float, what: str, answers: int = 1) -> None:
        """Refuse (a ``ConfigError``, nothing changed) a clock at ``clock`` that ``answers`` answers of
        ``minutes_per_answer`` each would move past the largest float. Taken, the clock became infinite after the
        answer and every later one was refused for its infinite time (and the time-reading models failed on each
        proposal): a ``start_time`` near the largest float, ``set_time`` or ``advance`` to one, or a
        ``minutes_per_answer`` as large as a float allows once the answers add up."""
        after = float(clock)
        for _ in range(answers):
            after += self.step
        if math.isfinite(after):
            return
        took = f"{answers} answers" if answers > 1 else "one answer"
        raise ConfigError(f"{what}: the clock would pass the largest number of seconds (a float's "
                          f"{_LARGEST_SECONDS:.4g}) after {took} of minutes_per_answer={self.step / 60.0:.6g} "
                          f"minutes from {float(clock):.6g} s, and every later answer would be refused; keep times "
                          "in ordinary seconds (e.g. time.time()) and minutes_per_answer small, e.g. start_time=0 "
                          "and minutes_per_answer=1. Nothing was recorded.")

    def mastery(self) -> np.ndarray:
        """Per item: the model's mastery of the item's skill now."""
        per_skill = {s: self.model.mastery(LEARNER, s, self.clock) for s in self.skill_names}
        return np.array([per_skill[s] for s in self.item_skill])

    def _threshold(self) -> float:
        if self.threshold is not None:
            return self.threshold
        return float(getattr(self.model, "mastery_threshold", getattr(self.model, "desired_retention", 0.95)))

    def mastered(self) -> dict[str, bool]:
        th = self._threshold()
        return {s: self.model.mastery(LEARNER, s, self.clock) >= th for s in self.skill_names}

    def unlocked(self) -> np.ndarray:
        """Per item: are all prerequisites of its skill mastered?"""
        done = self.mastered()
        ok = {s: all(done[r] for r in self.prerequisites.get(s, [])) for s in self.skill_names}
        return np.array([ok[s] for s in self.item_skill])

    def predictions(self) -> np.ndarray:
        """Per item: predicted P(correct) (or recall) now."""
        return np.array([self.model.predict(LEARNER, i, self.clock, (s,)) for i, s in zip(self.items, self.item_skill)])

    # -------------------------------------------------------------- hooks
    def _preference(self) -> np.ndarray:
        """Per item: higher is better; -inf never chosen (unless everything is -inf)."""
        raise NotImplementedError

    def _choice(self) -> tuple[np.ndarray, np.ndarray]:
        pref = self._preference()
        if not np.isfinite(pref).any():
            pref = np.zeros(len(pref))
        best = np.flatnonzero(pref >= np.max(pref) - 1e-12)
        return best, pref

    def probabilities(self) -> np.ndarray:
        best, _ = self._choice()
        p = np.full(len(self.items), self.explore / len(self.items))
        p[best] += (1.0 - self.explore) / len(best)
        return p

    def _propose(self, k: int) -> np.ndarray:
        best, _ = self._choice()
        pick = best[self.rng.integers(0, len(best), size=k)]
        if self.explore > 0:
            wild = self.rng.random(k) < self.explore
            pick = np.where(wild, self.rng.integers(0, len(self.items), size=k), pick)
        return pick.astype(np.int64)

    def _outcome(self, score: float) -> float:
        """The model's outcome for a score in [0, 1] (scores reach ``_observe`` normalised).

        A graded model (FSRS by default, or any model fitted on a graded log) reads
        its outcome as a grade 1-4 with recalled = grade > 1, so a raw score of 1.0
        was a grade 1 ("again"): every answer, right or wrong, counted as a lapse.
        A score >= 0.5 is passed as grade 3 ("good"), a lower one as grade 1
        (``grades_from_scores``: the grade ``1 + round(3 s)``, as its docstring says).
        """
        if not getattr(self.model, "graded", False):
            return score
        if getattr(self.model, "grades_from_scores", False):
            return 1.0 + float(np.rint(3.0 * min(max(score, 0.0), 1.0)))
        return 3.0 if score >= 0.5 else 1.0

    def _observe(self, x: np.ndarray, scores: np.ndarray) -> None:
        self._refuse_stuck_clock(self.clock, "these answers", len(x))  # (before any is recorded)
        for i, s in zip(x.tolist(), scores.tolist()):
            self.model.update(Event(LEARNER, self.items[i], (self.item_skill[i],), self.clock,
                                    self._outcome(float(s))))
            self.clock += self.step

    def _get_state(self) -> dict[str, Any]:
        return {"model": self.model.get_state(), "clock": self.clock}

    def _set_state(self, state: dict[str, Any]) -> None:
        model = LearnerModel.from_state(state["model"])
        if model.name != self.model.name:
            raise ConfigError("saved learner model differs from this policy's")
        missing = [i for i in self.items if i not in model._items]
        if missing:  # (taken, the next proposal failed with a KeyError)
            raise ValueError(f"the saved learner model lacks items of this policy ({missing[:5]})")
        clock = number("saved clock", state["clock"])  # a NaN clock would make every later observe fail
        self.model = model
        self.clock = clock

    def _beliefs(self) -> dict[str, Any]:
        return {"kind": "discrete", "tasks": list(self.items), "probability": self.probabilities(),
                "mastery": self.mastery(), "unlocked": self.unlocked().tolist(), "clock": self.clock,
                "model": self.model.name}


@register("mastery-learning")
class MasteryLearning(PeoplePolicy):
    """Mastery learning: the first unmastered, unlocked skill in syllabus order, until mastered.

    When every skill is mastered it reviews the item with the lowest mastery.
    Wheel-spinning guard: after ``stuck_after`` answers on a skill without
    reaching mastery (0 turns it off), it goes back to that skill's
    prerequisite with the lowest mastery for one exercise, then tries again.
    """

    def __init__(self, space, *, stuck_after: int = 12, **kwargs: Any):
        stuck_after = whole("stuck_after", stuck_after, 0)
        super().__init__(space, **kwargs)
        self.stuck_after = stuck_after
        self.tries = np.zeros(len(self.items), dtype=np.int64)
        # skill -> the items whose skill requires it (so an answer touches only those, not every item)
        needed_by: dict[str, list[int]] = {}
        for j, sk in enumerate(self.item_skill):
            for r in set(self.prerequisites.get(sk, ())):
                needed_by.setdefault(r, []).append(j)
        self._needed_by = {r: np.array(js, dtype=np.int64) for r, js in needed_by.items()}

    def _preference(self) -> np.ndarray:
        m = self.mastery()
        open_ = self.unlocked() & (m < self._threshold())
        if not open_.any():
            return -m
        pref = np.where(open_, -self.rank, -np.inf)
        first = int(np.argmax(pref))
        if self.stuck_after and self.tries[first] >= self.stuck_after:
            needs = set(self.prerequisites.get(self.item_skill[first], []))
            back = np.array([s in needs for s in self.item_skill])
            if back.any():
                return np.where(back, -m, -np.inf)
        return pref

    def _observe(self, x: np.ndarray, scores: np.ndarray) -> None:
        self._refuse_stuck_clock(self.clock, "these answers", len(x))  # (the whole batch, before any is recorded)
        for i, s in zip(x.tolist(), scores.tolist()):
            super()._observe(np.array([i]), np.array([s]))
            # practising a prerequisite gives its stuck dependants a fresh start
            js = self._needed_by.get(self.item_skill[i])
            if js is not None:
                stuck = js[self.tries[js] >= self.stuck_after]
                self.tries[stuck] = self.stuck_after // 2
            self.tries[i] += 1

    def _get_state(self) -> dict[str, Any]:
        return {**super()._get_state(), "tries": self.tries.copy()}

    def _set_state(self, state: dict[str, Any]) -> None:
        tries = np.asarray(state["tries"], dtype=np.int64)
        if tries.shape != self.tries.shape:
            raise ConfigError("saved attempt counts do not match the items")
        if (tries < 0).any():  # (taken before: an item tried -1 times needed more tries to be stuck)
            raise ConfigError("saved attempt counts must be >= 0")
        super()._set_state(state)
        self.tries = tries.copy()


@register("difficulty-band")
class DifficultyBand(PeoplePolicy):
    """Items the learner should get right with probability inside ``band`` (default 0.7 to 0.85).

    Among unlocked items not yet mastered (all unlocked items once everything
    is mastered), prefer those inside the band (ties broken at random), else
    the one closest to it.
    """

    default_model = "elo"

    def __init__(self, space, *, band: list[float] | tuple[float, float] = (0.7, 0.85), **kwargs: Any):
        if isinstance(band, (Mapping, Set)):  # (a dict's keys were the band, and its checkpoint never loaded)
            kind = "a mapping" if isinstance(band, Mapping) else "a set, which has no order"
            raise ConfigError(f"band must be two probabilities [low, high] in order, got {kind}: {band!r:.80}; give "
                              "a list or tuple, for example band=[0.7, 0.85]")
        try:
            values = list(band) if not isinstance(band, (str, bytes)) else []
            if not numbers_only(values) or any(isinstance(held(v), (bool, np.bool_)) for v in values):
                raise TypeError  # ([0.7, "0.85"] was parsed, [True, 1] read as 1 to 1)
            lo, hi = (float(v) for v in values)
        except (TypeError, ValueError):
            raise ConfigError(f"band must be two probabilities low <= high, got {band!r}") from None
        if not 0.0 <= lo <= hi <= 1.0:
            raise ConfigError(f"band must be two probabilities low <= high, got {band!r}")
        super().__init__(space, **kwargs)
        self.band = (lo, hi)

    def _preference(self) -> np.ndarray:
        p = self.predictions()
        lo, hi = self.band
        dist = np.maximum(lo - p, 0.0) + np.maximum(p - hi, 0.0)
        ok = self.unlocked()
        open_ = ok & (self.mastery() < self._threshold())
        return np.where(open_ if open_.any() else ok, -dist, -np.inf)


@register("spaced-review")
class SpacedReview(PeoplePolicy):
    """Review when predicted recall falls to the desired retention; else learn something new.

    Due items (reviewed before, recall <= ``desired_retention``) come first,
    the most overdue (lowest recall) first. With nothing due, the first unseen
    unlocked item in syllabus order; with nothing new either, the item with the
    lowest recall (review ahead).
    """

    default_model = "fsrs"

    def __init__(self, space, *, desired_retention: float | None = None, **kwargs: Any):
        settings = _mapping("model_settings", kwargs.pop("model_settings", None), "learner model settings")
        # not given: the model's own (model_settings), else 0.9. Before, model_settings={"desired_retention": 0.8}
        # alone made items due at the default 0.9 while the model used 0.8. Given in both places (or a fitted
        # model with its own, through use_model), the policy's decides when an item is due.
        if desired_retention is None:
            desired_retention = settings.get("desired_retention", 0.9)
        # checked here too: with the model's own desired_retention in model_settings, the model never sees it
        desired_retention = number("desired_retention", desired_retention, 0.0, 1.0, low_open=True, high_open=True,
                                   hint="the predicted recall at which an item is due")
        settings.setdefault("desired_retention", desired_retention)
        if kwargs.get("model") is not None and not (isinstance(kwargs["model"], str) and kwargs["model"] == "fsrs"):
            raise ConfigError("spaced-review needs a memory model ('fsrs')")
        super().__init__(space, model_settings=settings, **kwargs)
        self.desired_retention = float(desired_retention)

    def _check_model(self, model: LearnerModel) -> None:
        if model.name != "fsrs":
            raise ConfigError(f"spaced-review needs a memory model ('fsrs') that tracks each card's recall, "
                              f"got {model.name!r}; use mastery-learning or difficulty-band with it")

    def recall(self) -> np.ndarray:
        """Per item: predicted recall now (nan if never reviewed)."""
        m = self.model
        l = m._learner_code(LEARNER)
        out = np.full(len(self.items), np.nan)
        for j, item in enumerate(self.items):
            card = m.cards.get((l, m._items[item]))
            if card is not None:
                out[j] = m._recall(card, self.clock)
        return out

    def due_items(self) -> list[str]:
        """Items due for review now, most overdue first."""
        r = self.recall()
        due = np.flatnonzero(~np.isnan(r) & (r <= self.desired_retention))
        return [self.items[i] for i in due[np.argsort(r[due], kind="stable")]]

    def new_items(self) -> list[str]:
        """Never-reviewed items whose prerequisites are mastered, in syllabus order."""
        new = np.flatnonzero(np.isnan(self.recall()) & self.unlocked())
        return [self.items[i] for i in new[np.argsort(self.rank[new], kind="stable")]]

    def _preference(self) -> np.ndarray:
        r = self.recall()
        seen = ~np.isnan(r)
        due = seen & (r <= self.desired_retention)
        if due.any():
            return np.where(due, -r, -np.inf)
        new = ~seen & self.unlocked()
        if new.any():
            return np.where(new, -self.rank, -np.inf)
        return np.where(seen, -np.nan_to_num(r, nan=1.0), -np.inf)


@register("max-information")
class MaxInformation(PeoplePolicy):
    """Maximum information (adaptive placement): the item maximising a^2 P (1 - P).

    Uses an Elo/IRT model; ``respect_prerequisites`` (``True`` or ``False`` only: ``"false"`` is a
    ``ConfigError``) restricts the choice to unlocked items.
    """

    default_model = "elo"

    def __init__(self, space, *, respect_prerequisites: bool = False, **kwargs: Any):
        respect_prerequisites = flag("respect_prerequisites", respect_prerequisites)  # ("false" read as True)
        super().__init__(space, **kwargs)
        self.respect_prerequisites = respect_prerequisites

    def information(self) -> np.ndarray:
        p = self.predictions()
        if hasattr(self.model, "item_params"):
            a = np.array([self.model.item_params(i)[0] for i in self.items])
        else:
            a = np.ones(len(self.items))
        return a * a * p * (1.0 - p)

    def _preference(self) -> np.ndarray:
        info = self.information()
        if self.respect_prerequisites:
            return np.where(self.unlocked(), info, -np.inf)
        return info
