"""A blend of learner models: a logistic model stacked on their predicted logits.

P(correct) = sigmoid(b + sum_k w_k * logit(p_k)), where ``p_k`` is member
``k``'s prediction. ``fit`` holds out a share of the learners
(``valid_fraction``), fits every member on the others, replays the held-out
learners through each member (predict, then reveal, as the replay evaluator
does) and fits ``b`` and ``w`` by logistic regression on those predictions:
the weights come from learners no member was fitted on. With nothing held
out (``valid_fraction=0``) the members' logits are averaged.

The default members are three DKTs (seeds 0, 1, 2), Best-LR and BKT with
forgetting: on ASSISTments 2015 the LSTMs and the count-based models err
differently (DKT learns from chunks of 200 answers, Best-LR sees every
earlier answer but no order), and the blend scores above each
(docs/people.md).

Online, :meth:`update` passes the answer to every member and :meth:`predict`
combines their predictions; :meth:`replay` runs each member's vectorised
replay. Saving stores every member's whole state inside the blend's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError
from .base import LearnerModel, make_model, register_model
from .events import Event, EventLog

__all__ = ["Blend"]

_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1.0 - _EPS)
    return np.log(p / (1.0 - p))


def _stack(z: np.ndarray, y: np.ndarray, l2: float = 1e-3, steps: int = 50) -> np.ndarray:
    """Logistic regression of ``y`` on the columns of ``z`` (with an intercept first), by Newton's method."""
    X = np.column_stack([np.ones(len(z)), z])
    w = np.zeros(X.shape[1])
    w[1:] = 1.0 / z.shape[1]
    reg = np.full(X.shape[1], l2 * len(X))
    reg[0] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(X @ w)))
        grad = X.T @ (p - y) + reg * w
        hess = (X * (p * (1.0 - p))[:, None]).T @ X + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return w


def _members(members: Any) -> list[list[Any]]:
    """``members`` as ``[[name, settings], ...]`` (a bare name means default settings)."""
    if not isinstance(members, (list, tuple)) or not members:
        raise ConfigError(f"blend members must be a non-empty list of model names or [name, settings], "
                          f"got {members!r}")
    out = []
    for m in members:
        if isinstance(m, str):
            m = [m, {}]
        if (not isinstance(m, (list, tuple)) or len(m) != 2 or not isinstance(m[0], str)
                or not isinstance(m[1], dict)):
            raise ConfigError(f"a blend member is a model name or [name, settings], got {m!r}")
        out.append([m[0], dict(m[1])])
    return out


#: three DKTs (different seeds, so different initial weights, batches and early-stopping learners), Best-LR and
#: BKT with forgetting: on fold 0 of ASSISTments 2015 AUC 0.7313 against 0.7288 for DKT + Best-LR (docs/people.md)
DEFAULT_MEMBERS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("dkt", {"seed": 0}), ("dkt", {"seed": 1}), ("dkt", {"seed": 2}), ("best-lr", {}), ("bkt", {"forgets": True}))


@register_model("blend")
class Blend(LearnerModel):
    """Logistic stack of several learner models' logits, weights fitted on held-out learners.

    Settings: ``members`` (model names or ``[name, settings]`` pairs; default
    :data:`DEFAULT_MEMBERS`), ``valid_fraction`` (share of ``fit``'s
    learners held out to fit the weights; 0 averages the logits), ``seed``
    (which learners are held out), ``mastery_threshold`` (blended P(correct)
    at which a skill counts as mastered).
    """

    def __init__(self, *, members: Any = DEFAULT_MEMBERS, valid_fraction: float = 0.1,
                 seed: int = 0, mastery_threshold: float = 0.9):
        spec = _members(members)
        if not 0.0 <= float(valid_fraction) < 1.0:
            raise ConfigError(f"blend valid_fraction must be in [0, 1), got {valid_fraction!r}")
        if not 0.0 <= float(mastery_threshold) <= 1.0:
            raise ConfigError(f"mastery_threshold must be a probability, got {mastery_threshold!r}")
        super().__init__(members=spec, valid_fraction=float(valid_fraction), seed=int(seed),
                         mastery_threshold=float(mastery_threshold))
        self.members = [make_model(name, **settings) for name, settings in spec]
        self.mastery_threshold = float(mastery_threshold)
        k = len(self.members)
        self.weights = np.r_[0.0, np.full(k, 1.0 / k)]  # intercept, then one weight per member
        self.fitted = False

    # ---------------------------------------------------------------- fit
    def fit(self, log: EventLog) -> "Blend":
        """Fit the members on most learners, then the blend's weights on the held-out rest."""
        if len(log) == 0:
            raise ConfigError("blend fit needs at least one event")
        n = len(log.learners)
        n_valid = int(round(float(self.settings["valid_fraction"]) * n))
        if n_valid and n - n_valid < 1:
            raise ConfigError("blend fit needs more learners than the validation share holds out")
        rng = np.random.default_rng(int(self.settings["seed"]))
        held = np.zeros(n, dtype=bool)
        held[rng.permutation(n)[:n_valid]] = True
        rows = held[log.learner]
        train = log.subset(~rows) if n_valid else log
        for m in self.members:
            m.fit(train)
        k = len(self.members)
        self.weights = np.r_[0.0, np.full(k, 1.0 / k)]
        if n_valid:
            valid = log.subset(rows)
            z = np.column_stack([_logit(self._member_replay(m, valid)) for m in self.members])
            y = np.clip(np.asarray(valid.correct, dtype=float), 0.0, 1.0)
            if 0.0 < y.mean() < 1.0:
                self.weights = _stack(z, y)
        self.fitted = True
        self.reset()
        return self

    @staticmethod
    def _member_replay(m: LearnerModel, log: EventLog) -> np.ndarray:
        m.reset()
        p = m.replay(log)
        m.reset()
        return p

    def _combine(self, ps: list[Any]) -> Any:
        z = self.weights[0] + sum(w * _logit(p) for w, p in zip(self.weights[1:], ps))
        return 1.0 / (1.0 + np.exp(-z))

    def _need_fit(self) -> None:
        if not self.fitted:
            raise ConfigError("blend is not fitted: call fit(log) (or load a saved model) first")

    # -------------------------------------------------------------- online
    def predict(self, learner: str, item: str, time: float | None = None,
                skills: tuple[str, ...] | None = None) -> float:
        self._need_fit()
        return float(self._combine([m.predict(learner, item, time, skills) for m in self.members]))

    def update(self, event: Event) -> None:
        self._need_fit()
        for m in self.members:
            m.update(event)

    def replay(self, log: EventLog) -> np.ndarray:
        """Each member's replay of ``log``, combined."""
        self._need_fit()
        if len(log) == 0:
            return np.empty(0)
        return np.asarray(self._combine([m.replay(log) for m in self.members]), dtype=float)

    def state(self, learner: str, time: float | None = None) -> dict[str, dict[str, float]]:
        """Per skill: the blended P(correct) (``mastery`` and ``p_correct``) and ``mastered``."""
        self._need_fit()
        states = [m.state(learner, time) for m in self.members]
        out = {}
        for skill in states[0]:
            p = float(self._combine([st.get(skill, {}).get("p_correct", 0.5) for st in states]))
            out[skill] = {"mastery": p, "p_correct": p, "mastered": float(p >= self.mastery_threshold)}
        return out

    def mastery(self, learner: str, skill: str, time: float | None = None) -> float:
        """Blended predicted P(correct) on the skill next, the scale of ``mastery_threshold``."""
        self._need_fit()
        ps = []
        for m in self.members:
            if m.mastery_is_p_correct:
                ps.append(m.mastery(learner, skill, time))
            else:
                ps.append(m.state(learner, time).get(str(skill), {}).get("p_correct", 0.5))
        return float(self._combine(ps))

    def member_weights(self) -> dict[str, float]:
        """The fitted intercept and the weight of each member's logit, by member name."""
        out = {"intercept": float(self.weights[0])}
        for (name, _), w in zip(self.settings["members"], self.weights[1:]):
            key, j = name, 2
            while key in out:
                key, j = f"{name}#{j}", j + 1
            out[key] = float(w)
        return out

    def reset(self) -> None:
        for m in self.members:
            m.reset()

    # ------------------------------------------------------------- storage
    def _get_params(self) -> dict[str, Any]:
        return {"weights": self.weights.copy(), "fitted": np.array([self.fitted]),
                "members": [m.get_state() for m in self.members]}

    def _set_params(self, params: dict[str, Any]) -> None:
        w = np.asarray(params["weights"], dtype=float).reshape(-1)
        states = list(params["members"])
        if len(w) != len(self.members) + 1 or len(states) != len(self.members):
            raise ConfigError(f"saved blend has {len(states)} members, its settings {len(self.members)}")
        for m, st in zip(self.members, states):
            m.set_state(st)
        self.weights = w.copy()
        self.fitted = bool(np.asarray(params["fitted"]).reshape(-1)[0])
        if not all(math.isfinite(x) for x in self.weights):
            raise ConfigError("saved blend weights are not finite")

    def _get_learner_state(self) -> dict[str, Any]:
        return {}  # inside each member's state (in the params)

    def _set_learner_state(self, state: dict[str, Any]) -> None:
        pass
