"""Covar-GMM: sample where score grows with time (Moulin-Frier et al., 2014).

Each observed episode becomes a point ``(task, t, score)``, ``t`` being the
episode's relative time inside the fitted window (``i / window`` for the
``i``-th episode of the window; the window is the last ``fit_rate`` episodes
unless ``window`` says otherwise). After ``fit_rate`` uniform bootstrap
episodes, every ``fit_rate`` episodes a bank of full-covariance Gaussian
mixtures (``k`` in ``potential_ks``) is fitted on the last ``fit_rate`` points
and the lowest-AIC one kept (:mod:`magister.gmm`). A component's learning
progress is its covariance between ``t`` and the score: the positive part by
default (the original), or the absolute value with ``absolute_lp=True``
(progress and forgetting both count). Proposals: uniform with probability
``random_ratio``, otherwise a component in proportion to its progress, a
Gaussian draw with ``t`` and score dropped, clipped to the space. Defaults
follow the reference code: ``fit_rate=250``, ``k`` in 2..10,
``random_ratio=0.2``.

``binary_moments=True`` (the default of ``covar-gmm-plus``) changes the fit
when the window's scores are 0/1 successes, both present and nothing else
(RL success): a joint fit then gives the 0s and the 1s components of their
own whose score variance shrinks to the regulariser (the likelihood grows
without bound), so every component's time-score covariance is 0 and no
progress is ever seen. Instead the mixture is fitted on the task and time
columns, and each component's score mean and covariances are the moments of
its points weighted by their responsibilities. Windows with any other score
are fitted jointly, as published.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ..gmm import component_moments, fit_bank, responsibilities
from ..mixture_teacher import MixtureTeacher
from ..settings import fraction, held, number
from ..teacher import register

__all__ = ["CovarGmm", "CovarGmmPlus"]


@register("covar-gmm")
class CovarGmm(MixtureTeacher):
    """Time-score covariance Gaussian mixture teacher (continuous spaces)."""

    _extra = 2
    # (the episode number column: older magisters saved the relative time there, so only its finiteness is checked)
    _row_values = "a row's task coordinates (unit) and score (the episode number column aside)"
    _free_columns = (-2,)
    conformance_kwargs = {"fit_rate": 40, "potential_ks": [1, 2, 3, 4]}

    def __init__(self, space, *, seed=None, score_range=None, fit_rate: int = 250,
                 potential_ks: Any = (2, 3, 4, 5, 6, 7, 8, 9, 10), random_ratio: float = 0.2,
                 absolute_lp: bool = False, window: int | None = None, bootstrap: int | None = None,
                 warm_start: bool = False, reg: float = 1e-6, tol: float = 1e-3, max_iter: int = 100,
                 progress_power: float = 1.0,
                 condition_time: float | None = None,
                 condition_score: float | None = None, binary_moments: bool = False):
        super().__init__(space, seed=seed, score_range=score_range, fit_rate=fit_rate,
                         potential_ks=potential_ks, random_ratio=random_ratio, window=window,
                         bootstrap=bootstrap, warm_start=warm_start, reg=reg, tol=tol, max_iter=max_iter,
                         progress_power=progress_power)
        if not isinstance(held(absolute_lp), (bool, np.bool_)):  # (a 0-d array: the bool it holds)
            raise ConfigError(f"absolute_lp must be True (progress and forgetting both count) or False (the positive "
                              f"time-score covariance, the original); got {absolute_lp!r}")
        self.absolute_lp = bool(absolute_lp)
        if not isinstance(held(binary_moments), (bool, np.bool_)):  # (a 0-d array: the bool it holds)
            raise ConfigError(f"binary_moments must be True (0/1 scores: fit tasks and time only, score moments "
                              f"from the responsibilities) or False (the published joint fit); got {binary_moments!r}")
        self.binary_moments = bool(binary_moments)
        self.condition_time = None if condition_time is None else number(
            "condition_time", condition_time, hint="1.0 = the newest episode of the window, or None")
        self.condition_score = None if condition_score is None else fraction(
            "condition_score", condition_score, hint="a score after score_range scaling, or None")

    def _rows(self, x: np.ndarray, scores: np.ndarray) -> np.ndarray:
        # store the episode number; it becomes a relative time when the window is fitted
        if len(x) == 1:  # one episode: the same row from Python floats, fewer numpy calls
            return np.array([[*x[0].tolist(), float(self._count), float(scores[0])]])
        t = (self._count + np.arange(len(x))).astype(float)
        return np.concatenate([x, t[:, None], scores[:, None]], axis=1)

    def _fit_data(self, rows: np.ndarray) -> np.ndarray:
        # relative time inside the fitted window: i / window for its i-th episode
        # (with window = fit_rate this is the reference's position in the batch)
        out = rows.copy()
        out[:, -2] = (rows[:, -2] - rows[0, -2]) / self.window
        return out

    def _refit(self) -> None:
        X = self._fit_data(self._window_rows())
        s = X[:, -1]
        binary = self.binary_moments and bool(((s == 0.0) | (s == 1.0)).all()) and 0.0 < float(s.sum()) < len(s)
        width = X.shape[1] - 1 if binary else X.shape[1]
        warm = self._bank if self.warm_start and self._bank is not None \
            and self._bank.means.shape[-1] == width else None
        if not binary:  # the published fit: the score is one more coordinate of the mixture
            bank = fit_bank(X, self.potential_ks, self.rng, warm=warm, reg=self.reg, tol=self.tol,
                            max_iter=self.max_iter)
            self._bank = bank
            self._n_fits += 1
            self._use(*bank.mixture())
            return
        # 0/1 scores: a joint fit puts the 0s and the 1s in separate components of zero score variance
        # (the likelihood grows without bound as a variance shrinks), and their time-score covariance is then
        # 0 everywhere. Fit tasks and time only, then give each component the score moments of its points.
        bank = fit_bank(X[:, :-1], self.potential_ks, self.rng, warm=warm, reg=self.reg, tol=self.tol,
                        max_iter=self.max_iter)
        self._bank = bank
        self._n_fits += 1
        weights, means, covs = bank.mixture()
        self._use(weights, *component_moments(X, responsibilities(X[:, :-1], weights, means, covs), self.reg))

    def _conditioning(self, weights, means, covs):
        # condition_time: each Gaussian's tasks at that relative time (follows a moving frontier);
        # condition_score: its tasks at that score (intermediate difficulty inside the region)
        cols, vals = [], []
        if self.condition_time is not None:
            cols.append(0)
            vals.append(self.condition_time)
        if self.condition_score is not None:
            cols.append(1)
            vals.append(self.condition_score)
        if not cols:
            return None
        return cols, np.tile(np.asarray(vals, dtype=float), (len(weights), 1))

    def _component_progress(self, weights, means, covs) -> np.ndarray:
        c = covs[:, -2, -1]
        return np.abs(c) if self.absolute_lp else np.maximum(c, 0.0)


@register("covar-gmm-plus")
class CovarGmmPlus(CovarGmm):
    """Covar-GMM refitted often on a sliding window (see ``docs/teachers-gmm.md``).

    The published algorithm (cold refits from k-means seeds, EM to
    convergence, 2 to 10 components chosen by AIC, 20% uniform proposals)
    with one change: after 250 uniform episodes it refits **every 25
    episodes on a sliding window of the last 250** instead of every 250 on
    the last 250, so the mixture follows the frontier of what the learner can
    just learn. Before issue 11 it also warm-started each refit from the
    previous one (at most 20 EM iterations) and tried up to 20 components:
    that kept stale components and fitted the score noise (about a dozen
    points per Gaussian), and it fell below plain ``covar-gmm`` on noisy and
    higher-dimensional learners; those settings remain available
    (``warm_start=True, max_iter=20, potential_ks=range(2, 21)``). With 0/1
    scores it fits tasks and time only (``binary_moments``, see the module
    docstring): the published joint fit never saw progress there. It costs
    several times the CPU of ``covar-gmm`` per episode (ten times as many
    refits). Every setting can still be overridden.
    """

    conformance_kwargs = {"fit_rate": 20, "window": 40, "bootstrap": 40, "potential_ks": [1, 2, 3, 4]}
    #: checkpoints saved before ``binary_moments`` (5d49562) fit 0/1 scores jointly
    legacy_settings = {"binary_moments": False}

    def __init__(self, space, *, seed=None, score_range=None, fit_rate: int = 25,
                 potential_ks: Any = (2, 3, 4, 5, 6, 7, 8, 9, 10), random_ratio: float = 0.2,
                 absolute_lp: bool = False, window: int | None = 250, bootstrap: int | None = 250,
                 warm_start: bool = False, reg: float = 1e-6, tol: float = 1e-3, max_iter: int = 100,
                 progress_power: float = 1.0, condition_time: float | None = None,
                 condition_score: float | None = None, binary_moments: bool = True):
        super().__init__(space, seed=seed, score_range=score_range, fit_rate=fit_rate,
                         potential_ks=potential_ks, random_ratio=random_ratio, absolute_lp=absolute_lp,
                         window=window, bootstrap=bootstrap, warm_start=warm_start, reg=reg, tol=tol,
                         max_iter=max_iter, progress_power=progress_power, condition_time=condition_time,
                         condition_score=condition_score, binary_moments=binary_moments)
