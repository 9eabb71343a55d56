"""Best-LR: a logistic model of the next answer from counts of earlier answers (PFA / Best-LR family).

P(correct) = sigmoid(x . w + b) with, for learner ``l`` answering item ``i``
of skill ``s``, the features

* item difficulty and skill difficulty (one-hot columns of ``i`` and ``s``);
* ``log(1 + right_ls)``, ``log(1 + wrong_ls)``: earlier right and wrong
  answers of ``l`` on skill ``s``, with one shared weight each and, with
  ``per_skill=True``, one weight per skill as in PFA;
* ``log(1 + right_l)``, ``log(1 + wrong_l)``: all earlier answers of ``l``
  (the learner's ability as the log shows it: held-out learners have no
  identity column to fit);
* with ``window > 0``: right and wrong answers among ``l``'s last ``window``
  answers (``log(1 + count)``), which lets recent form count more.

With ``features="sequence"`` (opt-in; the default ``"counts"`` is the
classic model above) the walk also gives the order of recent answers, the
stand-in for Best-LR's time-window counts on a log whose timestamps are
positions:

* right and wrong answers among ``l``'s last 3 and last 10 answers on ``s``,
  and among ``l``'s last 5 and last 50 answers on anything (``log(1 + count)``);
* how many answers ago ``s`` was last answered (``log(1 + gap)``), how many
  answers in a row were on ``s`` just before (``log(1 + run)``), the last
  and second-last outcome on ``s`` and the last outcome overall (+1 right,
  -1 wrong, 0 none), whether ``s`` was seen before, and the current run of
  right (and of wrong) answers on ``s`` as one-hot columns 1, 2, 3, 4, 5+;
* per-skill weights (as PFA's) also for the 3-answer window on ``s``, the
  same-skill run, the last outcome on ``s``, the gap and whether ``s`` was seen.

On fold 0 of ASSISTments 2015 (fitted on the other folds) this lifts AUC
from 0.714 to 0.726 (docs/people.md).

This is the Best-LR of Gervet et al. (JEDM 2020) without the learner one-hot
(which cannot score learners absent from the training log). ``fit`` computes
every training event's features by walking the log in time order with the
same code as :meth:`~BestLR.update`, and fits ``w`` with scikit-learn's
``LogisticRegression`` (L2, strength ``1 / C``; the ``[people]`` extra). Online,
an answer only moves the learner's counts; a prediction is one dot product
over ten columns in numpy, without scikit-learn.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError, missing_extra_import
from ..settings import MAX_SIZE, flag
from .base import LogitModel, new_number, reading_setting, register_model, sigmoid
from .events import Event, EventLog

__all__ = ["BestLR"]

_DENSE = ("right_skill", "wrong_skill", "right_all", "wrong_all", "right_recent", "wrong_recent")
#: the extra columns of ``features="sequence"`` (after :data:`_DENSE`)
_SEQ = ("right_skill_3", "wrong_skill_3", "right_skill_10", "wrong_skill_10", "right_last_5", "wrong_last_5",
        "right_last_50", "wrong_last_50", "skill_gap", "skill_run", "last_on_skill", "last_any", "skill_seen",
        *(f"right_run_{k}" for k in range(1, 6)), *(f"wrong_run_{k}" for k in range(1, 6)), "second_last_on_skill")
#: the ``features="sequence"`` columns that get one weight per skill besides the shared one
_SEQ_PER_SKILL = ("right_skill_3", "wrong_skill_3", "skill_run", "last_on_skill", "skill_gap", "skill_seen")
_BITS = 62  # outcomes kept per learner-skill (and per learner) as the bits of one int64, newest in bit 0
_FEATURES = ("counts", "sequence")


def _ones(x: int, k: int) -> int:
    """Right answers among the last ``k`` of the bit history ``x``."""
    return (x & ((1 << k) - 1)).bit_count()


def _run_of(bit: int, x: int, n: int) -> int:
    """Length of the run of ``bit`` at the newest end of the history ``x`` of ``n`` answers."""
    if bit:
        r = (x ^ (x + 1)).bit_length() - 1
    else:
        r = (x & -x).bit_length() - 1 if x else n
    return min(r, n)


@register_model("best-lr")
class BestLR(LogitModel):
    """Logistic regression on item/skill difficulty and log-scaled counts of earlier right and wrong answers.

    Settings: ``C`` (inverse L2 strength of scikit-learn's fit), ``per_skill``
    (one weight per skill for the skill's right/wrong counts), ``window``
    (size of the recent-answers window; 0 turns those two features off),
    ``features`` (``"counts"``: the classic columns; ``"sequence"``: also
    the recent-order columns of the module docstring), ``max_iter`` (solver iterations), ``mastery_threshold`` (predicted
    P(correct) at which a skill counts as mastered) and ``graded`` (outcomes
    are grades 1-4; grade > 1 counts as right).
    """

    def __init__(self, *, C: float = 1.0, per_skill: bool = True, window: int = 10, max_iter: int = 100,
                 mastery_threshold: float = 0.9, graded: bool = False, features: str = "counts"):
        super().__init__(C=C, per_skill=per_skill, window=window, max_iter=max_iter,
                         mastery_threshold=mastery_threshold, graded=graded, features=features)
        if features not in _FEATURES:
            raise ConfigError(f"best-lr features must be one of {_FEATURES}, got {features!r}")
        # a setting given anew as text ("2", which float() read), a bool (C=True ran as 1.0), a cut float
        # (max_iter=2.5 ran 2 iterations), C=inf, or a window past what is allocated per learner (window=10**12 failed
        # at the first answer with a MemoryError)
        new_number("best-lr", "C", C, "a finite number > 0 (inverse regularisation strength)")
        new_number("best-lr", "window", window, f"a whole number from 0 to {MAX_SIZE} (0 turns it off; each learner "
                   "keeps its last window answers)", whole=True, high=MAX_SIZE)
        new_number("best-lr", "max_iter", max_iter, "a whole number >= 1", whole=True)
        new_number("best-lr", "mastery_threshold", mastery_threshold, "a probability")
        with reading_setting("best-lr", "C", C, "a number > 0 (inverse regularisation strength)"):
            if not float(C) > 0:
                raise ConfigError(f"best-lr C must be > 0 (inverse regularisation strength), got {C!r}")
        with reading_setting("best-lr", "window", window, "a whole number >= 0 (0 turns it off)"):
            if int(window) < 0 or int(window) != window:
                raise ConfigError(f"best-lr window must be a whole number >= 0 (0 turns it off), got {window!r}")
        with reading_setting("best-lr", "max_iter", max_iter, "a whole number >= 1"):
            if int(max_iter) < 1:
                raise ConfigError(f"best-lr max_iter must be >= 1, got {max_iter!r}")
        with reading_setting("best-lr", "mastery_threshold", mastery_threshold, "a probability"):
            if not 0.0 <= float(mastery_threshold) <= 1.0:
                raise ConfigError(f"mastery_threshold must be a probability, got {mastery_threshold!r}")
        self.C = float(C)
        self.per_skill = flag("per_skill", per_skill)
        self.window = int(window)
        self.sequence = features == "sequence"
        self.dense_names = _DENSE + (_SEQ if self.sequence else ())
        self.ps_cols = [self.dense_names.index(k) for k in _SEQ_PER_SKILL] if self.sequence else []
        self.graded = flag("graded", graded)
        self.mastery_threshold = float(mastery_threshold)
        # parameters
        self.bias = 0.0
        self.w_item = np.zeros(0)
        self.w_skill = np.zeros(0)
        self.w_right_skill = np.zeros(0)  # per-skill weights (zeros when per_skill is off)
        self.w_wrong_skill = np.zeros(0)
        self.w_dense = np.zeros(len(self.dense_names))
        self.w_ps = np.zeros((0, len(self.ps_cols)))  # features="sequence": per-skill weights of ps_cols
        self.fitted = False
        # learner state: counts[l, s] = (right, wrong); totals[l] = (right, wrong, recent right, recent wrong)
        self.counts = np.zeros((0, 0, 2))
        self.totals = np.zeros((0, 4))
        self.recent = np.full((0, max(self.window, 1)), np.nan)  # ring buffer of the last outcomes
        self.recent_pos = np.zeros(0, dtype=np.int64)
        # features="sequence": outcomes as bits (newest in bit 0) per learner-skill and per learner, the position
        # of each learner's last answer on each skill (-1: none), answers so far, last skill, same-skill run
        self.skill_bits = np.zeros((0, 0), dtype=np.int64)
        self.skill_last = np.full((0, 0), -1, dtype=np.int64)
        self.seq = np.zeros((0, 4), dtype=np.int64)  # per learner: all-answer bits, answers, last skill, run
        self.seq[:, 2] = -1

    # ------------------------------------------------------------ helpers
    def _grow(self) -> None:
        ni, ns, nl = len(self._items), len(self._skills), len(self._learners)

        def pad(a: np.ndarray, n: int) -> np.ndarray:
            return a if len(a) >= n else np.concatenate([a, np.zeros(n - len(a))])

        self.w_item = pad(self.w_item, ni)
        self.w_skill, self.w_right_skill, self.w_wrong_skill = (
            pad(self.w_skill, ns), pad(self.w_right_skill, ns), pad(self.w_wrong_skill, ns))
        if len(self.w_ps) < ns:
            self.w_ps = np.vstack([self.w_ps, np.zeros((ns - len(self.w_ps), len(self.ps_cols)))])
        # learner rows grow geometrically (many learners arrive one at a time); slices [:nl] are the state
        cap = len(self.totals) if len(self.totals) >= nl else max(nl, 2 * len(self.totals), 16)
        if self.counts.shape[0] < cap or self.counts.shape[1] < ns:
            c = np.zeros((cap, ns, 2))
            c[: self.counts.shape[0], : self.counts.shape[1]] = self.counts
            self.counts = c
        if self.sequence and (self.skill_bits.shape[0] < cap or self.skill_bits.shape[1] < ns):
            b = np.zeros((cap, ns), dtype=np.int64)
            last = np.full((cap, ns), -1, dtype=np.int64)
            r, c = self.skill_bits.shape
            b[:r, :c], last[:r, :c] = self.skill_bits, self.skill_last
            self.skill_bits, self.skill_last = b, last
        if self.sequence and len(self.seq) < cap:
            extra = np.zeros((cap - len(self.seq), 4), dtype=np.int64)
            extra[:, 2] = -1
            self.seq = np.vstack([self.seq, extra])
        if len(self.totals) < cap:
            k = cap - len(self.totals)
            self.totals = np.vstack([self.totals, np.zeros((k, 4))])
            self.recent = np.vstack([self.recent, np.full((k, self.recent.shape[1]), np.nan)])
            self.recent_pos = np.concatenate([self.recent_pos, np.zeros(k, dtype=np.int64)])

    def _correct(self, outcome: np.ndarray | float) -> np.ndarray:
        o = np.asarray(outcome, dtype=float)
        return (o > 1).astype(float) if self.graded else np.clip(o, 0.0, 1.0)

    def _dense(self, l: int | None, s: int | None) -> np.ndarray:
        """The dense features of learner ``l`` answering skill ``s`` next (``s=None``: a skill without a code, no
        answers on it; ``l=None``: a learner without a code, no answers at all: every feature 0)."""
        if l is None:
            return np.zeros(len(self.dense_names))
        r, w = self.counts[l, s] if s is not None else (0.0, 0.0)
        t = self.totals[l]
        x = np.log1p(np.array([r, w, t[0], t[1], t[2], t[3]]))
        return np.concatenate([x, self._seq_features(l, s)]) if self.sequence else x

    def _seq_features(self, l: int, s: int | None) -> list[float]:
        """The ``features="sequence"`` columns (:data:`_SEQ`) of learner ``l`` answering skill ``s`` next
        (``s=None``: a skill without a code, no answers on it)."""
        bits, n_all, prev, run = (int(v) for v in self.seq[l])
        if s is None:
            sb, last, n = 0, -1, 0
        else:
            sb, last = int(self.skill_bits[l, s]), int(self.skill_last[l, s])
            n = int(round(self.counts[l, s, 0] + self.counts[l, s, 1]))
        out = []
        for x, m, ks in ((sb, n, (3, 10)), (bits, n_all, (5, 50))):
            right = [_ones(x, min(k, m)) for k in ks]
            for k, r in zip(ks, right):
                out += [math.log1p(r), math.log1p(min(k, m) - r)]
        rr = _run_of(1, sb, n) if n else 0
        rw = _run_of(0, sb, n) if n else 0
        out += [math.log1p(n_all - last - 1) if last >= 0 else 0.0,
                math.log1p(run) if prev == s else 0.0,
                (2.0 * (sb & 1) - 1.0) if n else 0.0,
                (2.0 * (bits & 1) - 1.0) if n_all else 0.0,
                float(n > 0)]
        out += [float(min(rr, 5) == k) for k in range(1, 6)] + [float(min(rw, 5) == k) for k in range(1, 6)]
        out.append((2.0 * ((sb >> 1) & 1) - 1.0) if n > 1 else 0.0)
        return out

    def _logit(self, l: int | None, i: int | None, s: int | None) -> float:
        x = self._dense(l, s)
        item = 0.0 if i is None else self.w_item[i]
        if s is None:  # a skill without a code: its weights are those of a new skill, 0
            return float(self.bias + item + x @ self.w_dense)
        z = (self.bias + item + self.w_skill[s] + x @ self.w_dense
             + x[0] * self.w_right_skill[s] + x[1] * self.w_wrong_skill[s])
        if self.ps_cols:
            z += x[self.ps_cols] @ self.w_ps[s]
        return float(z)

    def _take(self, l: int, s: int, y: float) -> None:
        """Count one answer (``y`` in [0, 1]: partial credit counts partly right, partly wrong)."""
        self.counts[l, s, 0] += y
        self.counts[l, s, 1] += 1.0 - y
        t = self.totals[l]
        t[0] += y
        t[1] += 1.0 - y
        if self.window:
            p = self.recent_pos[l]
            old = self.recent[l, p]
            if not np.isnan(old):
                t[2] -= old
                t[3] -= 1.0 - old
            self.recent[l, p] = y
            self.recent_pos[l] = (p + 1) % self.window
            t[2] += y
            t[3] += 1.0 - y
            t[2:] = np.maximum(t[2:], 0.0)  # no -1e-16 from float round-off
        if self.sequence:
            b = int(y >= 0.5)
            q = self.seq[l]
            mask = (1 << _BITS) - 1
            self.skill_bits[l, s] = ((int(self.skill_bits[l, s]) << 1) | b) & mask
            self.skill_last[l, s] = q[1]
            q[3] = q[3] + 1 if q[2] == s else 1
            q[0] = ((int(q[0]) << 1) | b) & mask
            q[1] += 1
            q[2] = s

    def _walk(self, log: EventLog) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Features of every event of ``log`` (walked in time order per learner), counting each answer after.

        Returns, aligned with ``log``'s rows: item codes, skill codes, dense features, outcomes.
        """
        lc, ic, sc = self._adopt_vocab(log)
        self._grow()
        y = self._correct(log.outcome)
        order = np.lexsort((np.arange(len(log)), log.time, lc))
        dense = np.empty((len(log), len(self.dense_names)))
        for r, l, s, o in zip(order.tolist(), lc[order].tolist(), sc[order].tolist(), y[order].tolist()):
            dense[r] = self._dense(l, s)
            self._take(l, s, o)
        return ic, sc, dense, y

    # ---------------------------------------------------------------- fit
    def fit(self, log: EventLog) -> BestLR:
        """Fit the weights with scikit-learn on every event of ``log`` (features from each learner's past)."""
        if len(log) == 0:
            raise ConfigError("best-lr fit needs at least one event")
        try:
            from scipy import sparse
            from sklearn.linear_model import LogisticRegression
        except ImportError as e:  # the [people] extra is missing: an ImportError naming it, as FSRSMemory.fit's
            raise missing_extra_import("BestLR.fit (best-lr)", "people", e) from e
        self._fit_graded(log)
        self.reset()
        ic, sc, dense, y = self._walk(log)
        self.reset()
        labels = (y >= 0.5).astype(int)
        # partial credit counts partly right and partly wrong (the soft rows below): a log of right answers and
        # some at 0.7 has wrong answers to learn from, and was refused as if it held none
        if not ((y > 0).any() and (y < 1).any()):
            raise ConfigError("best-lr fit needs both right and wrong answers in the log")
        ni, ns = len(self._items), len(self._skills)
        n = len(log)
        cols = [ic, ni + sc]
        vals = [np.ones(n), np.ones(n)]
        if self.per_skill:
            cols += [ni + ns + sc, ni + 2 * ns + sc]
            vals += [dense[:, 0], dense[:, 1]]
        base = ni + 3 * ns
        for k, j in enumerate(self.ps_cols):  # features="sequence": per-skill weights of more columns
            cols.append(base + k * ns + sc)
            vals.append(dense[:, j])
        base += len(self.ps_cols) * ns
        nd = len(self.dense_names)
        for j in range(nd):
            cols.append(np.full(n, base + j))
            vals.append(dense[:, j])
        X = sparse.csr_matrix((np.concatenate(vals), (np.tile(np.arange(n), len(cols)), np.concatenate(cols))),
                              shape=(n, base + nd))
        # fractional outcomes: fit the soft label as two weighted rows (right with weight y, wrong with 1 - y)
        soft = (y > 0) & (y < 1)
        if soft.any():
            X = sparse.vstack([X, X[soft]]).tocsr()
            labels = np.concatenate([(y > 0).astype(int), np.zeros(int(soft.sum()), dtype=int)])
            weight = np.concatenate([np.where(soft, y, 1.0), 1.0 - y[soft]])
        else:
            weight = None
        lr = LogisticRegression(C=self.C, solver="newton-cholesky", max_iter=int(self.settings["max_iter"]))
        lr.fit(X, labels, sample_weight=weight)
        w = lr.coef_.reshape(-1)
        self.bias = float(lr.intercept_[0])
        self.w_item = w[:ni].copy()
        self.w_skill = w[ni:ni + ns].copy()
        self.w_right_skill = w[ni + ns:ni + 2 * ns].copy()
        self.w_wrong_skill = w[ni + 2 * ns:ni + 3 * ns].copy()
        k = len(self.ps_cols)
        self.w_ps = w[ni + 3 * ns:ni + (3 + k) * ns].reshape(k, ns).T.copy()
        self.w_dense = w[base:].copy()
        self.fitted = True
        return self

    # -------------------------------------------------------------- online
    def update(self, event: Event) -> None:
        l = self._learner_code(event.learner)
        _, s = self._item_code(event.item, event.skills)
        self._take(l, s, float(self._correct(event.outcome)))

    def replay(self, log: EventLog) -> np.ndarray:
        """Predict-then-update over ``log``: the features of the walk, then one matrix product."""
        if len(log) == 0:
            return np.empty(0)
        ic, sc, dense, _ = self._walk(log)
        z = (self.bias + self.w_item[ic] + self.w_skill[sc] + dense @ self.w_dense
             + dense[:, 0] * self.w_right_skill[sc] + dense[:, 1] * self.w_wrong_skill[sc])
        if self.ps_cols:
            z = z + np.einsum("ij,ij->i", dense[:, self.ps_cols], self.w_ps[sc])
        return 1.0 / (1.0 + np.exp(-z))

    def _skill_p(self, l: int | None, s: int) -> float:
        items = self._items_of(s)
        if not items:
            return sigmoid(self._logit(l, None, s))
        return float(np.mean([sigmoid(self._logit(l, i, s)) for i in items]))

    def state(self, learner: str, time: float | None = None) -> dict[str, dict[str, float]]:
        l = self._known_learner(learner)
        out = {}
        for name, s in self._listed_skills().items():
            p = self._skill_p(l, s)
            right, wrong = (0.0, 0.0) if l is None else (float(self.counts[l, s, 0]), float(self.counts[l, s, 1]))
            out[name] = {"mastery": p, "p_correct": p, "right": right, "wrong": wrong,
                         "mastered": float(p >= self.mastery_threshold)}
        return out

    def mastery(self, learner: str, skill: str, time: float | None = None) -> float:
        """Predicted P(correct) on the skill's items (their mean), the scale of ``mastery_threshold``.

        A skill never seen: that of a skill with no items, weights or answers, giving no name a code (a read
        changes nothing: the skill was kept, and saved with the model); a learner never seen, one with no answers."""
        s = self._skills.get(str(skill))
        if s is None:
            return sigmoid(self._logit(self._known_learner(learner), None, None))
        return self._skill_p(self._known_learner(learner), s)

    def skills_seen(self) -> list[str]:
        """Names of the skills the model has codes for, in code order (not the stand-in skill of an item since
        given another skill: see ``LearnerModel._listed_skills``)."""
        return list(self._listed_skills())

    def weights(self) -> dict[str, float]:
        """The fitted shared weights by name (``bias`` and the count / sequence features)."""
        return {"bias": self.bias, **{k: float(v) for k, v in zip(self.dense_names, self.w_dense)}}

    def reset(self) -> None:
        self.counts[:] = 0.0
        self.totals[:] = 0.0
        self.recent[:] = np.nan
        self.recent_pos[:] = 0
        self.skill_bits[:] = 0
        self.skill_last[:] = -1
        self.seq[:] = 0
        self.seq[:, 2] = -1

    # ------------------------------------------------------------- storage
    def _get_params(self) -> dict[str, Any]:
        return {"bias": np.array([self.bias]), "w_item": self.w_item.copy(), "w_skill": self.w_skill.copy(),
                "w_right_skill": self.w_right_skill.copy(), "w_wrong_skill": self.w_wrong_skill.copy(),
                "w_dense": self.w_dense.copy(), "w_ps": self.w_ps.copy(), "fitted": np.array([self.fitted])}

    def _set_params(self, params: dict[str, Any]) -> None:
        self.bias = float(np.asarray(params["bias"]).reshape(-1)[0])
        for k in ("w_item", "w_skill", "w_right_skill", "w_wrong_skill", "w_dense"):
            setattr(self, k, np.asarray(params[k], dtype=float).reshape(-1).copy())
        if len(self.w_dense) != len(self.dense_names):
            raise ConfigError(f"best-lr state has {len(self.w_dense)} count weights, expected {len(self.dense_names)}")
        k = len(self.ps_cols)
        self.w_ps = np.asarray(params.get("w_ps", np.zeros((len(self.w_skill), k))), dtype=float).reshape(
            len(self.w_skill), k).copy()
        self.fitted = bool(np.asarray(params["fitted"]).reshape(-1)[0])

    def _get_learner_state(self) -> dict[str, Any]:
        nl = len(self._learners)
        return {"counts": self.counts[:nl].copy(), "totals": self.totals[:nl].copy(),
                "recent": self.recent[:nl].copy(), "recent_pos": self.recent_pos[:nl].copy(),
                "skill_bits": self.skill_bits[:nl].copy(), "skill_last": self.skill_last[:nl].copy(),
                "seq": self.seq[:nl].copy()}

    def _set_learner_state(self, state: dict[str, Any]) -> None:
        nl, ns = len(self._learners), len(self._skills)
        self.counts = np.asarray(state["counts"], dtype=float).reshape(nl, ns, 2).copy()
        self.totals = np.asarray(state["totals"], dtype=float).reshape(nl, 4).copy()
        self.recent = np.asarray(state["recent"], dtype=float).reshape(nl, max(self.window, 1)).copy()
        self.recent_pos = np.asarray(state["recent_pos"], dtype=np.int64).reshape(nl).copy()
        if self.sequence:
            self.skill_bits = np.asarray(state["skill_bits"], dtype=np.int64).reshape(nl, ns).copy()
            self.skill_last = np.asarray(state["skill_last"], dtype=np.int64).reshape(nl, ns).copy()
            self.seq = np.asarray(state["seq"], dtype=np.int64).reshape(nl, 4).copy()
