"""An Elo / item-response ability model, updated online.

P(correct) = sigmoid(a_i * (theta_l + theta_ls - b_i)): a global ability
``theta_l`` per learner, an offset ``theta_ls`` per learner and skill, a
difficulty ``b_i`` and a discrimination ``a_i`` per item (``a_i = 1`` unless
given: the Rasch / one-parameter model). After each answer every estimate moves
along the prediction error, with a step that shrinks as it gets more evidence
(Elo with an uncertainty function, ``K(n) = k / (1 + decay * n)``).

``fit`` sets item difficulties from the log: start from the logit of each
item's error rate, then replay the log ``passes`` times updating difficulties
and abilities, and keep the difficulties.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..settings import MAX_COUNT, flag, fraction, number, whole
from .base import LogitModel, register_model, sigmoid
from .events import Event, EventLog

_INT64_MAX = MAX_COUNT  # the largest item count a model file holds

__all__ = ["Elo"]


@register_model("elo")
class Elo(LogitModel):
    """Elo-style ability model (learner ability, learner x skill offset, item difficulty).

    Settings: ``k_learner``, ``k_skill``, ``k_item`` (first step sizes),
    ``decay`` (how fast steps shrink with the count of answers), ``passes``
    (replays of the log in ``fit``), ``mastery_threshold`` (predicted P(correct)
    at which a skill counts as mastered), ``graded``, and ``discrimination``
    (optional ``{item: a}``).
    """

    def __init__(self, *, k_learner: float = 0.4, k_skill: float = 1.0, k_item: float = 0.4, decay: float = 0.1,
                 passes: int = 1, mastery_threshold: float = 0.9, graded: bool = False,
                 discrimination: dict[str, float] | None = None):
        super().__init__(k_learner=k_learner, k_skill=k_skill, k_item=k_item, decay=decay, passes=passes,
                         mastery_threshold=mastery_threshold, graded=graded,
                         discrimination=dict(discrimination or {}))
        for name, v in (("k_learner", k_learner), ("k_skill", k_skill), ("k_item", k_item), ("decay", decay)):
            number(name, v, 0.0, hint="Elo step sizes and decay")
        fraction("mastery_threshold", mastery_threshold, hint="a probability (0.95, not 95)")
        # passes=2.5 ran 2 replays and passes=-1 none, without a word
        whole("passes", passes, 0, floats=True, hint="replays of the log in fit")
        self.graded = flag("graded", graded)
        self.mastery_threshold = float(mastery_threshold)
        self.k = (float(k_learner), float(k_skill), float(k_item))
        self.decay = float(decay)
        self.difficulty: list[float] = []
        self.disc: list[float] = []
        self.item_count: list[int] = []
        self.theta: dict[int, float] = {}
        self.theta_n: dict[int, int] = {}
        self.offset: dict[tuple[int, int], float] = {}
        self.offset_n: dict[tuple[int, int], int] = {}
        self.update_items_online = True

    def _grow(self) -> None:
        a = self.settings["discrimination"]
        names = list(self._items)
        while len(self.difficulty) < len(self._items):
            self.difficulty.append(0.0)
            self.disc.append(float(a.get(names[len(self.disc)], 1.0)))
            self.item_count.append(0)

    def _correct(self, outcome: float) -> float:
        return float(outcome > 1) if self.graded else min(max(float(outcome), 0.0), 1.0)

    # ------------------------------------------------------------- online
    def _ability(self, l: int | None, s: int) -> tuple[float, float]:
        """Ability and skill offset of learner ``l`` (``None``: a learner never seen, 0 and 0) on skill ``s``."""
        if l is None:
            return 0.0, 0.0
        return self.theta.get(l, 0.0), self.offset.get((l, s), 0.0)

    def _logit(self, l: int | None, i: int, s: int) -> float:
        if l is None:  # a learner never seen: ability and offset 0
            return self.disc[i] * (0.0 - self.difficulty[i])
        return self.disc[i] * (self.theta.get(l, 0.0) + self.offset.get((l, s), 0.0) - self.difficulty[i])

    def _step(self, l: int, i: int, s: int, o: float, learn_items: bool) -> float:
        p = sigmoid(self._logit(l, i, s))
        err = o - p
        kl, ks, ki = self.k
        d = self.decay
        n = self.theta_n.get(l, 0)
        self.theta[l] = self.theta.get(l, 0.0) + kl / (1 + d * n) * err
        self.theta_n[l] = n + 1
        key = (l, s)
        n = self.offset_n.get(key, 0)
        self.offset[key] = self.offset.get(key, 0.0) + ks / (1 + d * n) * err
        self.offset_n[key] = n + 1
        if learn_items:
            n = self.item_count[i]
            self.difficulty[i] -= ki / (1 + d * n) * err
            self.item_count[i] = n + 1
        return p

    def update(self, event: Event) -> None:
        l = self._learner_code(event.learner)
        i, s = self._item_code(event.item, event.skills)
        self._step(l, i, s, self._correct(event.outcome), self.update_items_online)

    def replay(self, log: EventLog) -> np.ndarray:
        lc, ic, sc = self._adopt_vocab(log)
        self._grow()
        y = (log.outcome > 1).astype(float) if (self.graded or log.graded) else np.clip(log.outcome, 0, 1)
        # learner by learner in the log's order, as the one-answer loop walks: item difficulties move with every
        # answer, so the order of the learners matters (the model's own codes, which learners answered live
        # before give, made replay differ from the loop)
        order = np.lexsort((np.arange(len(log)), log.time, log.learner))
        out = np.empty(len(log))
        step = self._step
        learn = self.update_items_online
        for r, l, i, s, o in zip(order.tolist(), lc[order].tolist(), ic[order].tolist(), sc[order].tolist(),
                                 y[order].tolist()):
            out[r] = step(l, i, s, o, learn)
        return out

    # ---------------------------------------------------------------- fit
    def fit(self, log: EventLog) -> Elo:
        if len(log) == 0:
            raise ConfigError("Elo.fit needs at least one event")
        self._fit_graded(log)
        _, ic, _ = self._adopt_vocab(log)
        self._grow()
        y = (log.outcome > 1).astype(float) if self.graded else np.clip(log.outcome, 0, 1)
        n = np.bincount(ic, minlength=len(self._items))
        rate = (np.bincount(ic, y, len(self._items)) + 1.0) / (n + 2.0)
        seen = n > 0
        for i in np.flatnonzero(seen):
            self.difficulty[i] = -math.log(rate[i] / (1 - rate[i]))
        for _ in range(int(self.settings["passes"])):
            self.reset()
            self.replay(log)
        self.reset()
        return self

    def reset(self) -> None:
        self.theta, self.theta_n, self.offset, self.offset_n = {}, {}, {}, {}

    # -------------------------------------------------------------- state
    def ability(self, learner: str) -> float:
        return self._ability(self._known_learner(learner), 0)[0]

    def item_params(self, item: str) -> tuple[float, float]:
        """``(a, b)``: discrimination and difficulty of ``item``."""
        i, _ = self._item_code(item, answered=False)
        return self.disc[i], self.difficulty[i]

    def state(self, learner: str, time: float | None = None) -> dict[str, dict[str, float]]:
        l = self._known_learner(learner)
        out: dict[str, dict[str, float]] = {}
        by_skill: dict[int, list[int]] = {}
        for i, s in self._item_skill.items():
            by_skill.setdefault(s, []).append(i)
        for name, s in self._listed_skills().items():
            items = by_skill.get(s, [])
            theta, offset = self._ability(l, s)
            ability = theta + offset
            p = float(np.mean([sigmoid(self._logit(l, i, s)) for i in items])) if items else sigmoid(ability)
            out[name] = {"mastery": p, "ability": ability, "p_correct": p,
                         "mastered": float(p >= self.mastery_threshold)}
        return out

    def mastery(self, learner: str, skill: str, time: float | None = None) -> float:
        s = self._skills.get(str(skill))
        if s is None:
            return 0.5
        l = self._known_learner(learner)
        items = self._items_of(s)
        if not items:
            theta, offset = self._ability(l, s)
            return sigmoid(theta + offset)
        if len(items) == 1:  # one item per skill (the common case): its value, without numpy's overhead
            return float(sigmoid(self._logit(l, items[0], s)))
        return float(np.mean([sigmoid(self._logit(l, i, s)) for i in items]))

    # ------------------------------------------------------------ storage
    def _get_params(self) -> dict[str, Any]:
        return {"difficulty": np.array(self.difficulty, dtype=float), "disc": np.array(self.disc, dtype=float),
                "item_count": np.array(self.item_count, dtype=np.int64)}

    def _set_params(self, params: dict[str, Any]) -> None:
        self.difficulty = [float(v) for v in np.asarray(params["difficulty"]).reshape(-1)]
        self.disc = [float(v) for v in np.asarray(params["disc"]).reshape(-1)]
        self.item_count = [int(v) for v in np.asarray(params["item_count"]).reshape(-1)]
        n = len(self._items)  # one entry per item: a short list made a later predict fail with an IndexError
        if not len(self.difficulty) == len(self.disc) == len(self.item_count) == n:
            raise ConfigError(f"saved elo parameters hold {len(self.difficulty)} difficulties, {len(self.disc)} "
                              f"discriminations and {len(self.item_count)} counts for {n} items")
        if not all(math.isfinite(v) for v in self.difficulty + self.disc) or min(self.item_count, default=0) < 0 \
                or max(self.item_count, default=0) > _INT64_MAX:  # (1e300 was taken: saving it again overflowed)
            raise ConfigError("saved elo parameters must be finite numbers and item counts >= 0 (64-bit integers)")

    def _get_learner_state(self) -> dict[str, Any]:
        th = sorted(self.theta)
        off = sorted(self.offset)
        return {
            "theta": np.array([[l, self.theta[l], self.theta_n[l]] for l in th], dtype=float).reshape(-1, 3),
            "offset": np.array([[l, s, self.offset[(l, s)], self.offset_n[(l, s)]] for l, s in off],
                               dtype=float).reshape(-1, 4),
        }

    def _set_learner_state(self, state: dict[str, Any]) -> None:
        th = np.asarray(state["theta"], dtype=float).reshape(-1, 3)
        off = np.asarray(state["offset"], dtype=float).reshape(-1, 4)
        self.theta = {int(r[0]): float(r[1]) for r in th}
        self.theta_n = {int(r[0]): int(r[2]) for r in th}
        self.offset = {(int(r[0]), int(r[1])): float(r[2]) for r in off}
        self.offset_n = {(int(r[0]), int(r[1])): int(r[3]) for r in off}
