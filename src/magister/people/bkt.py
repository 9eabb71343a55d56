"""Bayesian knowledge tracing (BKT), with forgetting as an option.

Per skill, a learner is in one of two hidden states, *not mastered* or
*mastered*. Parameters per skill: ``prior`` P(mastered before the first
answer), ``learn`` P(not mastered -> mastered after an opportunity),
``guess`` P(right | not mastered), ``slip`` P(wrong | mastered) and, with
``forgets=True``, ``forget`` P(mastered -> not mastered).

``fit`` runs expectation-maximisation (Baum-Welch) on every (learner, skill)
sequence at once: sequences are sorted by length so step ``t`` of the
forward and backward passes is one numpy operation over the sequences still
running, and the M-step is a handful of ``bincount`` calls. A fractional
outcome counts as partial evidence (the emission is mixed linearly).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ..settings import flag, fraction, number, whole
from .base import LearnerModel, register_model
from .events import Event, EventLog

__all__ = ["BKT"]

_EPS = 1e-6


def _seq_layout(lc: np.ndarray, sc: np.ndarray, time: np.ndarray):
    """Sort events into (learner, skill) sequences; return the order and the per-step row sets."""
    n = len(lc)
    order = np.lexsort((np.arange(n), time, sc, lc))
    l_s, s_s = lc[order], sc[order]
    new = np.ones(n, dtype=bool)
    new[1:] = (l_s[1:] != l_s[:-1]) | (s_s[1:] != s_s[:-1])
    starts = np.flatnonzero(new)
    lengths = np.diff(np.append(starts, n))
    rank = np.argsort(-lengths, kind="stable")
    starts, lengths = starts[rank], lengths[rank]
    tmax = int(lengths.max()) if n else 0
    # active[t] = number of sequences longer than t (sequences sorted by length, descending)
    active = np.searchsorted(-lengths, -np.arange(tmax), side="left") if n else np.zeros(0, dtype=np.int64)
    # position[t] = rows (in sorted-event order) of step t of every active sequence
    return order, starts, lengths, active, s_s[starts], l_s[starts]


@register_model("bkt")
class BKT(LearnerModel):
    """Bayesian knowledge tracing per skill, fitted by vectorised EM.

    Settings: ``forgets`` (learn a forget probability), ``max_iter``, ``tol``
    (stop when the mean log-likelihood gains less), ``max_guess``/``max_slip``
    (caps that keep the two states identifiable), ``mastery_threshold``
    (0.95: P(mastered) at which a skill counts as mastered), ``graded``
    (outcomes are grades 1-4; grade > 1 counts as right) and the starting
    values ``prior``, ``learn``, ``guess``, ``slip``, ``forget`` (also used for
    skills never seen in ``fit``); ``pseudo_counts`` (5: each M-step adds that
    many pseudo-observations at the starting values, a maximum a posteriori
    fit that keeps skills with little data sensible; 0 is plain EM).
    """

    def __init__(self, *, forgets: bool = False, max_iter: int = 40, tol: float = 1e-5,
                 max_guess: float = 0.4, max_slip: float = 0.4, mastery_threshold: float = 0.95,
                 graded: bool = False, prior: float = 0.4, learn: float = 0.15, guess: float = 0.2,
                 slip: float = 0.1, forget: float = 0.02, pseudo_counts: float = 5.0):
        super().__init__(forgets=forgets, max_iter=max_iter, tol=tol, max_guess=max_guess, max_slip=max_slip,
                         mastery_threshold=mastery_threshold, graded=graded, prior=prior, learn=learn,
                         guess=guess, slip=slip, forget=forget, pseudo_counts=pseudo_counts)
        # NaN pseudo-counts made every fitted parameter NaN; max_iter=2.5 ran 2 iterations without a word
        number("pseudo_counts", pseudo_counts, 0.0, hint="pseudo-observations at the starting values; 0 is plain EM")
        whole("max_iter", max_iter, 0, floats=True, hint="EM iterations of fit (0: keep the starting values)")
        for k, v in dict(prior=prior, learn=learn, guess=guess, slip=slip, forget=forget).items():
            fraction(f"BKT {k}", v, hint="a probability")  # (float() took the string "0.4", kept in the settings)
        fraction("mastery_threshold", mastery_threshold, hint="a probability (0.95, not 95)")
        # the caps clip the fitted guess and slip (NaN made every fit NaN); tol stops EM
        number("max_guess", max_guess, 1e-4, 1.0, hint="the largest guess probability a fit may give")
        number("max_slip", max_slip, 1e-4, 1.0, hint="the largest slip probability a fit may give")
        number("tol", tol, 0.0, hint="EM stops when the mean log-likelihood gains less")
        self.forgets = flag("forgets", forgets)
        self.graded = flag("graded", graded)
        self.mastery_threshold = float(mastery_threshold)
        self.defaults = np.array([prior, learn, guess, slip, forget if forgets else 0.0], dtype=float)
        self.params = np.zeros((0, 5))  # per skill: prior, learn, guess, slip, forget
        self.p_mastered = np.zeros((0, 0))  # learner x skill, nan = not seen yet
        self.n_iter = 0
        self.log_likelihood: list[float] = []

    # ------------------------------------------------------------ helpers
    def _grow(self) -> None:
        ns, nl = len(self._skills), len(self._learners)
        if len(self.params) < ns:
            self.params = np.vstack([self.params, np.tile(self.defaults, (ns - len(self.params), 1))])
        if self.p_mastered.shape != (nl, ns):
            pm = np.full((nl, ns), np.nan)
            pm[: self.p_mastered.shape[0], : self.p_mastered.shape[1]] = self.p_mastered
            self.p_mastered = pm

    def _correct(self, outcome: np.ndarray | float) -> np.ndarray:
        o = np.asarray(outcome, dtype=float)
        return (o > 1).astype(float) if self.graded else np.clip(o, 0.0, 1.0)

    @staticmethod
    def _emit(o, guess, slip):
        e1 = o * (1 - slip) + (1 - o) * slip
        e0 = o * guess + (1 - o) * (1 - guess)
        return e1, e0

    # ---------------------------------------------------------------- fit
    def fit(self, log: EventLog) -> BKT:
        """Fit every skill's parameters by EM on all sequences of ``log`` at once."""
        if len(log) == 0:
            raise ConfigError("BKT.fit needs at least one event")
        self._fit_graded(log)
        lc, _, sc = self._adopt_vocab(log)
        self._grow()
        order, starts, lengths, active, seq_skill, _ = _seq_layout(lc, sc, log.time)
        y = self._correct(log.outcome)[order]
        ns = len(self._skills)
        n_seq = len(starts)
        P = self.params
        prev = -np.inf
        self.log_likelihood = []
        f_store = np.empty(len(y))
        for it in range(int(self.settings["max_iter"])):
            prior, learn, guess, slip, forget = (P[seq_skill, j] for j in range(5))
            # forward
            L = prior.copy()
            ll = 0.0
            for t, n in enumerate(active):
                idx = starts[:n] + t
                o = y[idx]
                e1, e0 = self._emit(o, guess[:n], slip[:n])
                Lp = L[:n]
                c = Lp * e1 + (1 - Lp) * e0
                f = Lp * e1 / c
                f_store[idx] = f
                ll += np.log(c).sum()
                L[:n] = f * (1 - forget[:n]) + (1 - f) * learn[:n]
            # backward + sufficient statistics
            b1 = np.ones(n_seq)
            b0 = np.ones(n_seq)
            g1_all = np.zeros(len(y))
            x01, x10, d0, d1 = (np.zeros(ns) for _ in range(4))
            for t in range(len(active) - 1, -1, -1):
                n = active[t]
                idx = starts[:n] + t
                f = f_store[idx]
                g1 = f * b1[:n]
                g0 = (1 - f) * b0[:n]
                g1_all[idx] = g1 / (g1 + g0)
                if t == 0:
                    break
                o = y[idx]
                sk = seq_skill[:n]
                e1, e0 = self._emit(o, guess[:n], slip[:n])
                a1 = f_store[starts[:n] + t - 1]
                a0 = 1 - a1
                Lp = a1 * (1 - forget[:n]) + a0 * learn[:n]
                c = Lp * e1 + (1 - Lp) * e0
                B1 = e1 * b1[:n] / c
                B0 = e0 * b0[:n] / c
                xi01 = a0 * learn[:n] * B1
                xi00 = a0 * (1 - learn[:n]) * B0
                xi10 = a1 * forget[:n] * B0
                xi11 = a1 * (1 - forget[:n]) * B1
                x01 += np.bincount(sk, xi01, ns)
                d0 += np.bincount(sk, xi00 + xi01, ns)
                x10 += np.bincount(sk, xi10, ns)
                d1 += np.bincount(sk, xi10 + xi11, ns)
                b1[:n] = (1 - forget[:n]) * B1 + forget[:n] * B0
                b0[:n] = learn[:n] * B1 + (1 - learn[:n]) * B0
            skill_of_row = sc[order]  # g1_all is in sorted-event order
            g1 = g1_all
            g0 = 1 - g1
            n_sk = np.bincount(seq_skill, minlength=ns)
            first = starts
            new = np.zeros((ns, 5))
            a = float(self.settings["pseudo_counts"])  # MAP: ``a`` pseudo-observations at the defaults
            d = self.defaults
            new[:, 0] = (np.bincount(seq_skill, g1[first], ns) + a * d[0]) / np.maximum(n_sk + a, _EPS)
            new[:, 1] = (x01 + a * d[1]) / np.maximum(d0 + a, _EPS)
            sg0 = np.bincount(skill_of_row, g0, ns)
            sg1 = np.bincount(skill_of_row, g1, ns)
            new[:, 2] = (np.bincount(skill_of_row, g0 * y, ns) + a * d[2]) / np.maximum(sg0 + a, _EPS)
            new[:, 3] = (np.bincount(skill_of_row, g1 * (1 - y), ns) + a * d[3]) / np.maximum(sg1 + a, _EPS)
            new[:, 4] = (x10 + a * d[4]) / np.maximum(d1 + a, _EPS) if self.forgets else 0.0
            seen = n_sk > 0
            new[:, 0] = np.clip(new[:, 0], 1e-4, 1 - 1e-4)
            new[:, 1] = np.clip(new[:, 1], 1e-4, 1 - 1e-4)
            new[:, 2] = np.clip(new[:, 2], 1e-4, float(self.settings["max_guess"]))
            new[:, 3] = np.clip(new[:, 3], 1e-4, float(self.settings["max_slip"]))
            new[:, 4] = np.clip(new[:, 4], 0.0, 0.5)
            P = np.where(seen[:, None], new, P)
            mean_ll = ll / len(y)
            self.log_likelihood.append(float(mean_ll))
            self.n_iter = it + 1
            if mean_ll - prev < float(self.settings["tol"]):
                break
            prev = mean_ll
        self.params = P
        return self

    # -------------------------------------------------------------- online
    def _p_mastered(self, l: int | None, s: int) -> float:
        """P(mastered) of learner ``l`` on skill ``s`` (``l=None``, a learner never seen: the skill's prior)."""
        if l is None:
            return float(self.params[s, 0])
        v = self.p_mastered[l, s]
        return float(self.params[s, 0]) if np.isnan(v) else float(v)

    def predict(self, learner: str, item: str, time: float | None = None,
                skills: tuple[str, ...] | None = None) -> float:
        l = self._known_learner(learner)
        _, s = self._item_code(item, skills, answered=False)
        L = self._p_mastered(l, s)
        _, _, g, sl, _ = self.params[s]
        return float(L * (1 - sl) + (1 - L) * g)

    def update(self, event: Event) -> None:
        l = self._learner_code(event.learner)
        _, s = self._item_code(event.item, event.skills)
        L = self._p_mastered(l, s)
        _, learn, g, sl, fg = self.params[s]
        o = float(self._correct(event.outcome))
        e1, e0 = self._emit(o, g, sl)
        f = L * e1 / (L * e1 + (1 - L) * e0)
        self.p_mastered[l, s] = f * (1 - fg) + (1 - f) * learn

    def replay(self, log: EventLog) -> np.ndarray:
        """Vectorised predict-then-update over ``log`` (same numbers as the loop)."""
        out = np.empty(len(log))
        if len(log) == 0:
            return out
        lc, _, sc = self._adopt_vocab(log)
        self._grow()
        order, starts, lengths, active, seq_skill, seq_learner = _seq_layout(lc, sc, log.time)
        y = self._correct(log.outcome)[order]
        prior, learn, guess, slip, forget = (self.params[seq_skill, j] for j in range(5))
        L = self.p_mastered[seq_learner, seq_skill]
        L = np.where(np.isnan(L), prior, L)
        pred = np.empty(len(y))
        for t, n in enumerate(active):
            idx = starts[:n] + t
            Lp = L[:n]
            pred[idx] = Lp * (1 - slip[:n]) + (1 - Lp) * guess[:n]
            e1, e0 = self._emit(y[idx], guess[:n], slip[:n])
            f = Lp * e1 / (Lp * e1 + (1 - Lp) * e0)
            L[:n] = f * (1 - forget[:n]) + (1 - f) * learn[:n]
        self.p_mastered[seq_learner, seq_skill] = L
        out[order] = pred
        return out

    def state(self, learner: str, time: float | None = None) -> dict[str, dict[str, float]]:
        l = self._known_learner(learner)
        out = {}
        for name, s in self._listed_skills().items():
            L = self._p_mastered(l, s)
            _, _, g, sl, _ = self.params[s]
            out[name] = {"mastery": L, "p_correct": L * (1 - sl) + (1 - L) * g,
                         "mastered": float(L >= self.mastery_threshold)}
        return out

    def mastery(self, learner: str, skill: str, time: float | None = None) -> float:
        s = self._skills.get(str(skill))
        if s is None:  # a skill never seen: its prior, giving it no code (a read changes nothing; it was kept)
            return float(self.defaults[0])
        return self._p_mastered(self._known_learner(learner), s)

    def skill_params(self) -> dict[str, dict[str, float]]:
        """Fitted parameters by skill name."""
        keys = ("prior", "learn", "guess", "slip", "forget")
        return {n: dict(zip(keys, map(float, self.params[s]))) for n, s in self._listed_skills().items()}

    def reset(self) -> None:
        self.p_mastered[:] = np.nan

    # ------------------------------------------------------------- storage
    def _get_params(self) -> dict[str, Any]:
        return {"params": self.params.copy()}

    def _set_params(self, params: dict[str, Any]) -> None:
        p = np.asarray(params["params"], dtype=float).reshape(-1, 5)
        if len(p) != len(self._skills) or not ((p >= 0) & (p <= 1)).all():  # NaN fails the range check too
            raise ConfigError(f"saved bkt parameters must be {len(self._skills)} rows (one per skill) of five "
                              f"probabilities in [0, 1]; got {len(p)} rows")
        self.params = p.copy()

    def _get_learner_state(self) -> dict[str, Any]:
        return {"p_mastered": self.p_mastered.copy()}

    def _set_learner_state(self, state: dict[str, Any]) -> None:
        pm = np.asarray(state["p_mastered"], dtype=float).reshape(len(self._learners), len(self._skills))
        if ((pm < -1e-9) | (pm > 1 + 1e-9)).any():  # NaN marks a skill not met yet; the margin: rounding
            raise ConfigError("saved bkt mastery must be probabilities in [0, 1] (NaN for a skill not met yet)")
        self.p_mastered = pm.copy()
