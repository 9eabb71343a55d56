"""A memory model of the FSRS family: stability, difficulty, and when to review.

Each (learner, item) pair has a *stability* ``S`` (days) and a *difficulty*
``D`` (1-10). The probability of recalling it ``t`` days after the last review
is the power forgetting curve

    R(t, S) = (1 + F * t / S) ** (-decay),   F = 0.9 ** (-1 / decay) - 1,

so that R = 0.9 exactly when t = S. Elapsed time below 0 (a time before the
last review: answers recorded out of order, a clock that stepped back) reads
as 0, recall 1 (the curve itself is NaN there). Each review with grade ``g`` (1 again,
2 hard, 3 good, 4 easy) moves S and D by the update rules of FSRS version 6
(21 weights ``w``: first-review stabilities, difficulty updates, stability
growth after a recall, stability after a lapse, same-day reviews, and the
curve's decay). Reviews less than a day apart use the same-day rule.

``fit`` tunes the weights on a log by minimising the log loss of recall
predictions (reviews after the first, same-day repeats excluded), running all
items' review sequences in parallel and L-BFGS from the published defaults.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError, missing_extra_import
from ..settings import flag, fraction, number, whole
from .base import LearnerModel, reading_setting, register_model
from .bkt import _seq_layout
from .events import DAY, Event, EventLog, seconds

__all__ = ["FSRSMemory", "DEFAULT_WEIGHTS", "retrievability", "interval"]

#: published FSRS-6 default weights (the starting point of ``fit``)
DEFAULT_WEIGHTS = (0.212, 1.2931, 2.3065, 8.2956, 6.4133, 0.8334, 3.0194, 0.001, 1.8722, 0.1666, 0.796,
                   1.4835, 0.0614, 0.2629, 1.6483, 0.6014, 1.8729, 0.5425, 0.0912, 0.0658, 0.1542)
_LOW = (0.001, 0.001, 0.001, 0.001, 1.0, 0.001, 0.001, 0.001, 0.0, 0.0, 0.001, 0.001, 0.001, 0.001, 0.0, 0.0,
        1.0, 0.0, 0.0, 0.0, 0.1)
_HIGH = (100.0, 100.0, 100.0, 100.0, 10.0, 4.0, 4.0, 0.75, 4.5, 0.8, 3.5, 5.0, 0.25, 0.9, 4.0, 1.0, 6.0, 2.0,
         2.0, 0.8, 0.8)
S_MIN, S_MAX = 0.001, 36500.0


def retrievability(t_days: Any, stability: Any, decay: float = DEFAULT_WEIGHTS[20]) -> Any:
    """Recall probability ``t_days`` after a review at stability ``stability`` (0.9 at t = S); a negative
    ``t_days`` (a time before the review) reads as 0, recall 1 (it was NaN, or above 1 for a short one)."""
    factor = 0.9 ** (-1.0 / decay) - 1.0
    t = np.maximum(np.asarray(t_days, dtype=float), 0.0)
    return (1.0 + factor * t / np.asarray(stability, dtype=float)) ** (-decay)


def interval(stability: Any, desired_retention: float = 0.9, decay: float = DEFAULT_WEIGHTS[20]) -> Any:
    """Days until recall falls to ``desired_retention`` (equals the stability at 0.9)."""
    factor = 0.9 ** (-1.0 / decay) - 1.0
    return np.asarray(stability, dtype=float) / factor * (desired_retention ** (-1.0 / decay) - 1.0)


def _init_d(w, g, clip=True):
    d = w[4] - np.exp(w[5] * (g - 1.0)) + 1.0
    return np.clip(d, 1.0, 10.0) if clip else d


def _step(w, S, D, t, g):
    """One review (vectorised): state ``(S, D)`` reviewed ``t`` days later with grade ``g``."""
    decay = w[20]
    factor = 0.9 ** (-1.0 / decay) - 1.0
    t = np.maximum(t, 0.0)  # a review before the last one (every caller clamps too): the same day, never a NaN R
    R = (1.0 + factor * t / S) ** (-decay)
    same_day = t < 1.0
    s_short = S * np.exp(w[17] * (g - 3.0 + w[18])) * S ** (-w[19])
    # a same-day recall (hard, good or easy: FSRS-6, as the fsrs package) never lowers stability; it was g >= 3,
    # so a same-day "hard" cut it (to 0.56 S at S = 4 with the default weights)
    s_short = np.where(g >= 2, np.maximum(s_short, S), s_short)
    hard = np.where(g == 2, w[15], 1.0)
    easy = np.where(g == 4, w[16], 1.0)
    s_recall = S * (1.0 + math.exp(w[8]) * (11.0 - D) * S ** (-w[9]) * (np.exp(w[10] * (1.0 - R)) - 1.0)
                    * hard * easy)
    # a lapse never raises stability, and (FSRS-6) leaves at most S / exp(w17 w18)
    s_lapse = np.minimum(S / np.exp(w[17] * w[18]), w[11] * D ** (-w[12]) * ((S + 1.0) ** w[13] - 1.0) * np.exp(w[14] * (1.0 - R)))
    S_new = np.where(same_day, s_short, np.where(g == 1, s_lapse, s_recall))
    d = D + (-w[6] * (g - 3.0)) * (10.0 - D) / 9.0
    # mean reversion towards the *unclamped* initial difficulty of "easy" (FSRS-6, as the fsrs package): the
    # clamped one (1 with the default weights, against -4.77) left every review's difficulty 0.006 too high
    d = w[7] * _init_d(w, 4.0, clip=False) + (1.0 - w[7]) * d
    return np.clip(S_new, S_MIN, S_MAX), np.clip(d, 1.0, 10.0), R


@register_model("fsrs")
class FSRSMemory(LearnerModel):
    """FSRS-family memory model; per (learner, item) stability and difficulty.

    Settings: ``weights`` (21 numbers; FSRS-6 defaults), ``desired_retention``
    (recall at which a review is due, 0.9), ``graded`` (outcomes are grades
    1-4, the default; with ``False`` a 0/1 outcome counts as grade 1 or 3),
    ``grades_from_scores`` (with ``graded=False``: a score ``s`` in [0, 1] is
    the grade ``1 + round(3 s)``, which is how a teacher with
    ``score_range=(1, 4)`` passes grades on), ``max_iter`` (L-BFGS
    iterations in ``fit``), ``l2`` (penalty on the squared distance of the
    weights from their starting values, each scaled by its allowed range;
    0.1 by default, chosen on the Anki benchmark: it keeps the fit from trading
    ranking (AUC) for calibration; 0 is a plain maximum-likelihood fit).

    A skill's mastery is the mean predicted recall ``mastery_horizon_days``
    ahead (1 day by default: an item just failed is not mastered even though
    it is remembered this minute) over the skill's items, counting items never
    reviewed as 0.
    """

    target = "recall"

    def __init__(self, *, weights: list[float] | None = None, desired_retention: float = 0.9, graded: bool = True,
                 max_iter: int = 60, first_recall: float = 0.7, grades_from_scores: bool = False,
                 mastery_horizon_days: float = 1.0, l2: float = 0.1):
        with reading_setting("fsrs", "weights", weights, "21 numbers (a list)"):
            w = list(DEFAULT_WEIGHTS if weights is None else weights)
        super().__init__(weights=w, desired_retention=desired_retention, graded=graded, max_iter=max_iter,
                         first_recall=first_recall, grades_from_scores=grades_from_scores,
                         mastery_horizon_days=mastery_horizon_days, l2=l2)
        # (checked first: float("x") raised a raw ValueError)
        number("mastery_horizon_days", mastery_horizon_days, 0.0, hint="days ahead at which mastery is read")
        self.horizon = float(mastery_horizon_days) * DAY
        self.grades_from_scores = flag("grades_from_scores", grades_from_scores)
        if len(w) != 21:
            raise ConfigError(f"FSRS weights: expected 21 numbers, got {len(w)}")
        for i, v in enumerate(w):  # a NaN weight made every predicted recall NaN
            number(f"FSRS weights[{i}]", v, hint="FSRS weights must be 21 finite numbers")
        with reading_setting("fsrs", "desired_retention", desired_retention, "in (0, 1)"):
            if not 0.0 < desired_retention < 1.0:
                raise ConfigError(f"desired_retention must be in (0, 1), got {desired_retention}")
        # taken unchecked: first_recall=2 predicted a recall of 2, a NaN l2 left the weights unfitted without a word,
        # a negative l2 pushed them away from the defaults, a NaN horizon read mastery now
        fraction("first_recall", first_recall, hint="the predicted recall of a first review")
        number("l2", l2, 0.0, hint="penalty on the weights' distance from their start; 0 is maximum likelihood")
        whole("max_iter", max_iter, 0, floats=True,
              hint="L-BFGS iterations of fit (0: the loss of the starting weights)")
        self.w = np.array(w, dtype=float)
        self.graded = flag("graded", graded)
        self.desired_retention = float(desired_retention)
        self.first_recall = float(first_recall)
        self.cards: dict[tuple[int, int], list[float]] = {}  # (learner, item) -> [S, D, last_time, n]

    def _grade(self, outcome: Any) -> np.ndarray:
        o = np.asarray(outcome, dtype=float)
        if self.graded:
            return np.clip(np.rint(o), 1, 4)
        if self.grades_from_scores:
            return 1.0 + np.rint(3.0 * np.clip(o, 0.0, 1.0))
        return np.where(o >= 0.5, 3.0, 1.0)

    # ------------------------------------------------------------- online
    def _recall(self, card: list[float] | None, time: Any) -> float:
        """Recall of ``card`` at ``time`` (seconds, a datetime or ISO text, see :func:`~.events.seconds`;
        ``None``: at its last review); a time before the last review reads as that review's (recall 1)."""
        if card is None:
            return self.first_recall
        # seconds() refuses NaN (read as "now", recall 1: nothing was ever due) and a datetime (a TypeError)
        t = 0.0 if time is None else max(0.0, (seconds(time, "time") - card[2]) / DAY)
        return float(retrievability(t, card[0], self.w[20]))

    def _ahead(self, card: list[float], time: Any) -> float:
        """Recall ``mastery_horizon_days`` after ``time`` (``None``: after the card's last review, the time
        ``predict`` reads then; the horizon was dropped there, so a card just failed read as mastered)."""
        return self._recall(card, (card[2] if time is None else seconds(time, "time")) + self.horizon)

    def predict(self, learner: str, item: str, time: float | None = None,
                skills: tuple[str, ...] | None = None) -> float:
        l = self._known_learner(learner)  # (None, a learner never seen: no cards, first_recall)
        i, _ = self._item_code(item, skills, answered=False)
        return self._recall(self.cards.get((l, i)) if l is not None else None, time)

    def update(self, event: Event) -> None:
        l = self._learner_code(event.learner)
        i, _ = self._item_code(event.item, event.skills)
        g = float(self._grade(event.outcome))
        card = self.cards.get((l, i))
        if card is None:
            S = float(np.clip(self.w[int(g) - 1], S_MIN, S_MAX))
            D = float(_init_d(self.w, g))
            self.cards[(l, i)] = [S, D, float(event.timestamp), 1.0]
            return
        t = max(0.0, (float(event.timestamp) - card[2]) / DAY)
        S, D, _ = _step(self.w, np.array(card[0]), np.array(card[1]), np.array(t), np.array(g))
        self.cards[(l, i)] = [float(S), float(D), max(card[2], float(event.timestamp)), card[3] + 1]

    def _forward(self, w: np.ndarray, lay, g: np.ndarray, time: np.ndarray):
        """Predicted recall (nan for first reviews) and elapsed days of every row, rows in sorted order."""
        order, starts, lengths, active = lay
        pred = np.full(len(g), np.nan)
        elapsed = np.full(len(g), np.nan)
        g0 = g[starts]
        S = np.clip(w[np.rint(g0).astype(int) - 1], S_MIN, S_MAX)
        D = _init_d(w, g0)
        last = time[starts].copy()
        for t in range(1, len(active)):
            n = active[t]
            idx = starts[:n] + t
            dt = np.maximum(0.0, (time[idx] - last[:n]) / DAY)
            S[:n], D[:n], R = _step(w, S[:n], D[:n], dt, g[idx])
            pred[idx] = R
            elapsed[idx] = dt
            last[:n] = time[idx]
        return pred, elapsed

    def _layout(self, log: EventLog):
        lc, ic, _ = self._adopt_vocab(log)
        order, starts, lengths, active, _, _ = _seq_layout(lc, ic, log.time)
        return (order, starts, lengths, active), lc[order], ic[order]

    def fit(self, log: EventLog, score_mask: np.ndarray | None = None) -> FSRSMemory:
        """Tune the weights on ``log`` (optionally scoring only rows where ``score_mask`` is true)."""
        try:
            from scipy.optimize import minimize
        except ImportError as e:
            raise missing_extra_import("FSRSMemory.fit", "people", e) from e

        if len(log) == 0:
            raise ConfigError("FSRSMemory.fit needs at least one event")
        if score_mask is not None and np.shape(score_mask) != (len(log),):
            # one too short failed with an IndexError after the model was changed (graded, names given codes); one
            # too long was taken, its rows misaligned with the log's
            raise ConfigError(f"FSRSMemory.fit: score_mask needs one entry per event of the log ({len(log)}), got "
                              f"shape {np.shape(score_mask)}")
        self._fit_graded(log)
        lay, _, _ = self._layout(log)
        order = lay[0]
        g = self._grade(log.outcome)[order]
        time = log.time[order]
        y = (g > 1).astype(float)
        mask = np.ones(len(g), dtype=bool) if score_mask is None else np.asarray(score_mask, bool)[order]
        first = np.zeros(len(g), dtype=bool)
        first[lay[1]] = True
        if first.any():
            self.first_recall = float(np.clip(y[first].mean(), 0.01, 0.99))
            self.settings["first_recall"] = self.first_recall

        w0 = self.w.copy()
        scale = np.asarray(_HIGH) - np.asarray(_LOW)
        lam = float(self.settings["l2"])

        def loss(w):
            p, dt = self._forward(w, lay, g, time)
            m = mask & ~np.isnan(p) & (dt >= 1.0)
            p = np.clip(p[m], 1e-4, 1 - 1e-4)
            nll = float(-(y[m] * np.log(p) + (1 - y[m]) * np.log(1 - p)).mean()) if m.any() else 0.0
            return nll + lam * float((((w - w0) / scale) ** 2).sum())

        res = minimize(loss, self.w.copy(), method="L-BFGS-B", bounds=list(zip(_LOW, _HIGH)),
                       options={"maxiter": int(self.settings["max_iter"]), "eps": 1e-5})
        if np.isfinite(res.fun) and res.fun <= loss(self.w):
            self.w = np.asarray(res.x, dtype=float)
        self.settings["weights"] = [float(v) for v in self.w]
        self.fit_loss = float(min(res.fun, loss(self.w)))
        return self

    def replay(self, log: EventLog) -> np.ndarray:
        """Predict each review before it happens; the first review of a new item gets ``first_recall``."""
        out = np.empty(len(log))
        if len(log) == 0:
            return out
        if self.cards:  # items with history: fall back to the exact per-event loop
            return super().replay(log)
        lay, lsorted, isorted = self._layout(log)
        order = lay[0]
        g = self._grade(log.outcome)[order]
        time = log.time[order]
        pred, _ = self._forward(self.w, lay, g, time)
        pred = np.where(np.isnan(pred), self.first_recall, pred)
        out[order] = pred
        for r in order:  # leave the learners' state as the loop would
            self.update(log.event(int(r)))
        return out

    # -------------------------------------------------------------- state
    def card(self, learner: str, item: str) -> dict[str, float] | None:
        l = self._known_learner(learner)
        i = self._item_code(item, answered=False)[0]
        c = None if l is None else self.cards.get((l, i))
        if c is None:
            return None
        return {"stability": c[0], "difficulty": c[1], "last_review": c[2], "reviews": c[3],
                "interval_days": float(interval(c[0], self.desired_retention, self.w[20]))}

    def due(self, learner: str, time: float) -> list[tuple[str, float]]:
        """Items of ``learner`` whose predicted recall is at or below the desired retention, most overdue first."""
        l = self._known_learner(learner)
        if l is None:  # a learner never seen has no cards (and is not added)
            return []
        names = list(self._items)
        out = [(names[i], self._recall(c, time)) for (ll, i), c in self.cards.items() if ll == l]
        return sorted([x for x in out if x[1] <= self.desired_retention], key=lambda x: x[1])

    def state(self, learner: str, time: float | None = None) -> dict[str, dict[str, float]]:
        l = self._known_learner(learner)
        acc: dict[int, list[tuple[float, float]]] = {}
        for i, s in self._item_skill.items():
            c = None if l is None else self.cards.get((l, i))
            acc.setdefault(s, []).append((0.0, 0.0, 0.0) if c is None else
                                         (self._recall(c, time), self._ahead(c, time), c[0]))
        out = {}
        for name, s in self._listed_skills().items():
            v = np.array(acc.get(s, [(0.0, 0.0, 0.0)]))
            r, m, st = (float(x) for x in v.mean(axis=0))
            out[name] = {"mastery": m, "recall": r, "stability": st,
                         "mastered": float(m >= self.desired_retention)}
        return out

    def mastery(self, learner: str, skill: str, time: float | None = None) -> float:
        s = self._skills.get(str(skill))
        if s is None:
            return 0.0
        l = self._known_learner(learner)
        if l is None:  # a learner never seen: no item reviewed (0 each), and the learner is not added
            return 0.0
        vals = [0.0 if (c := self.cards.get((l, i))) is None else self._ahead(c, time) for i in self._items_of(s)]
        if len(vals) == 1:  # one item per skill (the common case): its value, without numpy's overhead
            return float(vals[0])
        return float(np.mean(vals)) if vals else 0.0

    def reset(self) -> None:
        self.cards = {}

    # ------------------------------------------------------------ storage
    def _get_params(self) -> dict[str, Any]:
        return {"w": self.w.copy(), "first_recall": self.first_recall}

    def _set_params(self, params: dict[str, Any]) -> None:
        w = np.asarray(params["w"], dtype=float).reshape(21)
        # as the constructor checks them: NaN or infinite weights made every later recall NaN
        for i, v in enumerate(w.tolist()):
            number(f"saved FSRS weights[{i}]", v, hint="FSRS weights must be 21 finite numbers")
        self.first_recall = fraction("saved first_recall", params["first_recall"])
        self.w = w.copy()

    def _get_learner_state(self) -> dict[str, Any]:
        keys = sorted(self.cards)
        return {"cards": np.array([[l, i, *self.cards[(l, i)]] for l, i in keys], dtype=float).reshape(-1, 6)}

    def _set_learner_state(self, state: dict[str, Any]) -> None:
        arr = np.asarray(state["cards"], dtype=float).reshape(-1, 6)
        self.cards = {(int(r[0]), int(r[1])): [float(r[2]), float(r[3]), float(r[4]), float(r[5])] for r in arr}
