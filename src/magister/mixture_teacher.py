"""The skeleton shared by the Gaussian-mixture teachers (ALP-GMM, Covar-GMM).

:class:`MixtureTeacher` keeps a window of observed rows, refits a bank of
mixtures on it with :func:`magister.gmm.fit_bank` (the numpy EM) and
proposes from the component with the most learning progress. The two
teachers in ``magister.teachers`` differ only in what a row holds and how
a component's progress is measured.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

import numpy as np

from .averages import powered, refuse_outside_unit
from .errors import ConfigError
from .gmm import MixtureBank, _cholesky, fit_bank
from .settings import fraction, held, number, numbers_only, saved_count, size, whole
from .teacher import Teacher

__all__ = ["MixtureTeacher"]

#: Cholesky entries gathered at once when ``propose(k)`` draws its Gaussian rows (512 kB of floats)
_BLOCK = 1 << 16


def _as_ks(ks: Any) -> list[int]:
    try:
        if isinstance(ks, (str, bytes, dict)):  # (a dict was read as its keys)
            raise TypeError
        out = [int(k) for k in ks]
        if any(isinstance(k, (bool, np.bool_)) for k in ks) or not numbers_only(list(ks)):  # (True was taken as
            raise ValueError  # one component, "2" parsed as 2)
    except (TypeError, ValueError):
        raise ConfigError(f"potential_ks must be a list of component counts, e.g. [2, 3, 4], got {ks!r}") from None
    if not out or min(out) < 1 or any(float(a) != float(b) for a, b in zip(out, ks)):
        raise ConfigError(f"potential_ks must be whole numbers >= 1, e.g. list(range(2, 11)), got {ks!r}")
    return out


class MixtureTeacher(Teacher):
    """Shared skeleton of the Gaussian-mixture teachers (ALP-GMM, Covar-GMM).

    Each observed episode becomes one *row* (the unit task vector followed by
    whatever the subclass measures: its ALP, or its time and score). Rows go
    into a window of the latest ``window`` rows. After a bootstrap of at least
    ``bootstrap`` uniformly sampled episodes, every ``fit_rate`` episodes a
    bank of mixtures (one per ``k`` in ``potential_ks``) is refitted on the
    window and the lowest-AIC one is kept. Fits happen at multiples of
    ``fit_rate`` counted from the run's start, so the first one comes at the
    first multiple at or after ``bootstrap`` (``fit_rate=40, bootstrap=50``: 80
    uniform episodes). Proposals: with probability
    ``random_ratio`` uniform, otherwise a component drawn in proportion to the
    subclass's per-component learning progress (raised to ``progress_power``,
    1 in the published algorithms), then a Gaussian draw of the task
    coordinates, clipped to the space.

    Subclasses define ``_extra`` (number of measured columns), ``_rows(x, s)``
    and ``_component_progress(weights, means, covs)``.
    """

    kind = "continuous"
    _extra: int = 1
    #: what a row holds on the [0, 1] scale (for the message refusing a saved row outside it) and the columns, counted
    #: from the end, that it may hold outside [0, 1]
    _row_values = "a row's task coordinates (unit) and measured values"
    _free_columns: tuple[int, ...] = ()

    def __init__(self, space, *, seed=None, score_range=None, fit_rate: int = 250,
                 potential_ks: Any = (2, 3, 4, 5, 6, 7, 8, 9, 10), random_ratio: float = 0.2,
                 window: int | None = None, bootstrap: int | None = None, warm_start: bool = True,
                 reg: float = 1e-6, tol: float = 1e-3, max_iter: int = 100, progress_power: float = 1.0):
        super().__init__(space, seed=seed, score_range=score_range)
        self.progress_power = number("progress_power", progress_power, 0.0, low_open=True,
                                     hint="1 = sample in proportion to progress")
        self.fit_rate = whole("fit_rate", fit_rate, 2, floats=True, hint="the number of episodes between refits")
        random_ratio = fraction("random_ratio", random_ratio, hint="the share of uniform proposals")
        if window is None:  # the window is fit_rate episodes
            size("fit_rate", self.fit_rate, 2, why="with window=None the teacher keeps the last fit_rate episodes in "
                 "a buffer allocated up front (give a smaller window to refit rarely on fewer episodes)")
        self.window = self.fit_rate if window is None else size(
            "window", window, 2, floats=True, hint="or None: fit_rate",
            why="the teacher keeps the last window episodes in a buffer allocated up front")
        self.bootstrap = self.fit_rate if bootstrap is None else whole("bootstrap", bootstrap, 1, floats=True,
                                                                       hint="or None: fit_rate")
        self.potential_ks = _as_ks(potential_ks)
        first = min(self.window, -(-self.bootstrap // self.fit_rate) * self.fit_rate)  # rows of the first refit
        if min(self.potential_ks) > first:  # every candidate unusable: AIC fell back on a degenerate fit
            raise ConfigError(f"potential_ks={self.potential_ks} has no component count <= the {first} episodes the "
                              f"first refit sees (window={self.window}, fit_rate={self.fit_rate}, bootstrap="
                              f"{self.bootstrap}); a mixture cannot have more components than points: lower "
                              f"potential_ks, or raise the window or the bootstrap")
        self.random_ratio = random_ratio
        if not isinstance(held(warm_start), (bool, np.bool_)):  # (a 0-d array: the bool it holds)
            raise ConfigError(f"warm_start must be True (start each refit from the previous mixtures) or False "
                              f"(k-means++ seeds, the reference); got {warm_start!r}")
        self.warm_start = bool(warm_start)
        # (a subnormal reg, below 2.2e-308, was taken: a collapsed component's covariance lost its precision, its
        # fit held NaN, and the teacher's state could not be loaded)
        reg = number("reg", reg, float(np.finfo(float).tiny),
                     hint="the covariance regularisation, e.g. 1e-6; a subnormal float breaks the covariances")
        tol = number("tol", tol, 0.0, low_open=True, hint="the EM convergence tolerance, e.g. 1e-3")
        self.reg, self.tol = reg, tol
        self.max_iter = whole("max_iter", max_iter, 1, floats=True, hint="the most EM iterations per fit")
        self.d = space.dim
        self._width = self.d + self._extra
        self._buf = np.zeros((self.window, self._width))
        self._count = 0  # episodes observed (rows made)
        self._bank: MixtureBank | None = None
        self._n_fits = 0
        self._clear_mixture()

    # ---------------------------------------------------------- subclass API
    def _rows(self, x: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Fit rows ``(m, d + _extra)`` for episodes ``self._count .. self._count + m - 1``."""
        raise NotImplementedError

    def _component_progress(self, weights: np.ndarray, means: np.ndarray, covs: np.ndarray) -> np.ndarray:
        """Learning progress of each component of the chosen mixture, ``(k,)``, >= 0."""
        raise NotImplementedError

    def _fit_data(self, rows: np.ndarray) -> np.ndarray:
        """The points the mixtures are fitted on, from the window's rows (oldest first)."""
        return rows

    def _sub_state(self) -> dict[str, Any]:
        return {}

    def _set_sub_state(self, state: dict[str, Any]) -> None:
        pass

    # -------------------------------------------------------------- internals
    def _clear_mixture(self) -> None:
        self._weights = np.zeros(0)
        self._means = np.zeros((0, self._width))
        self._covs = np.zeros((0, self._width, self._width))
        self._progress = np.zeros(0)
        self._probs = np.zeros(0)
        self._chols = np.zeros((0, self.d, self.d))
        self._task_means = np.zeros((0, self.d))
        self._cdf = np.zeros(0)
        self._cdf_list: list[float] = []

    def _window_rows(self) -> np.ndarray:
        n = min(self._count, self.window)
        if self._count <= self.window:
            return self._buf[:n].copy()
        start = self._count % self.window
        return np.concatenate([self._buf[start:], self._buf[:start]])

    def _due(self, count: int) -> bool:
        """Whether a refit happens right after ``count`` episodes."""
        return count >= self.bootstrap and count % self.fit_rate == 0

    def _observe(self, x: np.ndarray, scores: np.ndarray) -> None:
        m = len(x)
        if m == 1:  # the common one-episode protocol, without batch bookkeeping
            self._buf[self._count % self.window] = self._rows(x, scores)[0]
            self._count += 1
            if self._due(self._count):
                self._refit()
            return
        i = 0
        while i < m:
            # split the batch right after each refit point, so batches equal single calls
            j = i
            while j < m and not self._due(self._count + (j - i) + 1):
                j += 1
            stop = min(m, j + 1)
            rows = self._rows(x[i:stop], scores[i:stop])
            keep = min(len(rows), self.window)  # only the latest `window` rows can stay
            slots = (self._count + (stop - i - keep) + np.arange(keep)) % self.window
            self._buf[slots] = rows[len(rows) - keep:]
            self._count += stop - i
            if self._due(self._count):
                self._refit()
            i = stop

    def _refit(self) -> None:
        X = self._fit_data(self._window_rows())
        warm = self._bank if self.warm_start else None
        bank = fit_bank(X, self.potential_ks, self.rng, warm=warm, reg=self.reg, tol=self.tol,
                        max_iter=self.max_iter)
        self._bank = bank
        self._n_fits += 1
        self._use(*bank.mixture())

    def _use(self, weights: np.ndarray, means: np.ndarray, covs: np.ndarray) -> None:
        self._weights, self._means, self._covs = weights, means, covs
        self._progress = np.maximum(np.asarray(self._component_progress(weights, means, covs), float), 0.0)
        score = powered(self._progress, self.progress_power)  # a large power's underflow kept off uniform
        total = score.sum()
        k = len(weights)
        self._probs = score / total if total > 0 else np.full(k, 1.0 / k)
        d = self.d
        cond = self._conditioning(weights, means, covs)
        if cond is None:  # the published algorithms: the task marginal of each Gaussian
            self._task_means = means[:, :d].copy()
            self._chols = _cholesky(covs[:, :d, :d])
        else:  # the task distribution of each Gaussian given its measured columns = targets
            cols, target = cond
            idx = d + np.asarray(cols, dtype=np.int64)
            sxc = covs[:, :d][:, :, idx]  # (k, d, c)
            scc = covs[:, idx][:, :, idx]  # (k, c, c)
            gain = np.linalg.solve(scc, np.swapaxes(sxc, -1, -2))  # (k, c, d) = Scc^-1 Scx
            shift = np.asarray(target, dtype=float).reshape(len(weights), len(idx)) - means[:, idx]
            self._task_means = means[:, :d] + np.einsum("kc,kcd->kd", shift, gain)
            cov = covs[:, :d, :d] - np.matmul(sxc, gain)
            self._chols = _cholesky(0.5 * (cov + np.swapaxes(cov, -1, -2)) + self.reg * np.eye(d))
        self._cdf = np.cumsum(self._probs)
        self._cdf_list = self._cdf.tolist()  # for one proposal's bisect

    def _conditioning(self, weights: np.ndarray, means: np.ndarray, covs: np.ndarray
                      ) -> tuple[list[int], np.ndarray] | None:
        """Optional: sample tasks from each Gaussian *conditioned* on some measured columns.

        Return ``(columns, targets (k, len(columns)))`` (columns counted after
        the task coordinates), or None to sample the task marginal (default).
        """
        return None

    def _component(self, u: float) -> int:
        """The component a uniform draw ``u`` picks: ``searchsorted(cdf, u * cdf[-1], side="right")`` clipped to the
        last component, as the batched path below computes it, on Python floats (a third of its cost). The same index:
        the cdf is non-decreasing, and where it holds a NaN its last entry is NaN too, so ``u * cdf[-1]`` is NaN and
        both searches give the end."""
        cdf = self._cdf_list
        return min(bisect_right(cdf, u * cdf[-1]), len(cdf) - 1)

    def _propose(self, k: int) -> np.ndarray:
        d = self.d
        if len(self._weights) == 0 or self._count < self.bootstrap:
            return self.rng.random((k, d))
        if k == 1:  # the same draws as the batched path below, without its array overhead
            r1 = self.rng.random(d + 2)
            z1 = self.rng.standard_normal(d)
            explore, u = r1[:2].tolist()
            if explore < self.random_ratio:
                one = r1[2:]
            else:
                c = self._component(u)
                one = self._task_means[c] + self._chols[c] @ z1
            return np.minimum(np.maximum(one, 0.0), 1.0).reshape(1, d)
        # one uniform block: [explore?, component, uniform task...], then the Gaussian noise
        r = self.rng.random((k, d + 2))
        z = self.rng.standard_normal((k, d, 1))
        comp = np.minimum(np.searchsorted(self._cdf, r[:, 1] * self._cdf[-1], side="right"), len(self._cdf) - 1)
        out = r[:, 2:].copy()  # the uniform rows; the Gaussian ones are drawn below
        rows = np.flatnonzero(~(r[:, 0] < self.random_ratio))
        # a block of rows at a time: gathering one Cholesky factor per row took k x d x d floats at once (12 GB
        # for propose(10**7) in 12 dimensions, a MemoryError); each row's figures are its own, so blocks give the
        # same tasks
        step = max(1, _BLOCK // (d * d))
        for i in range(0, len(rows), step):
            g = rows[i:i + step]
            out[g] = self._task_means[comp[g]] + np.matmul(self._chols[comp[g]], z[g])[:, :, 0]
        return np.minimum(np.maximum(out, 0.0), 1.0)

    # ------------------------------------------------------------------ state
    def _get_state(self) -> dict[str, Any]:
        return {
            "count": int(self._count),
            "n_fits": int(self._n_fits),
            "window_rows": self._window_rows(),
            "bank": None if self._bank is None else self._bank.to_state(),
            "mixture": {"weights": self._weights.copy(), "means": self._means.copy(), "covs": self._covs.copy()},
            "sub": self._sub_state(),
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        count, n_fits = saved_count("saved count", state["count"]), saved_count("saved n_fits", state["n_fits"])
        rows = np.asarray(state["window_rows"], dtype=float).reshape(-1, self._width)
        if len(rows) != min(count, self.window):
            raise ValueError("window rows do not match the episode count")
        bank = None if state["bank"] is None else MixtureBank.from_state(state["bank"])
        mix = state["mixture"]
        weights = np.asarray(mix["weights"], dtype=float).reshape(-1)
        means = np.asarray(mix["means"], dtype=float).reshape(len(weights), self._width)
        covs = np.asarray(mix["covs"], dtype=float).reshape(len(weights), self._width, self._width)
        if not all(np.isfinite(a).all() for a in (rows, weights, means, covs)):
            raise ValueError("the window rows or the mixture hold NaN or infinite values")
        if not (weights > 0).all():  # (used to choose components and shown in the beliefs until the next refit)
            raise ValueError("the mixture's weights must be > 0")
        unit = rows.copy()  # (-1.5 or 3.0 was taken: the next refit fitted it)
        unit[:, [self._width + j for j in self._free_columns]] = 0.0
        refuse_outside_unit("window_rows", unit, self._row_values)
        # every refit sets all three, at most one per episode (negative, 10**30 or a lost bank was taken: a lost one
        # made the next warm-started refit a cold one, and the resumed run another than the one saved)
        fitted = len(weights) > 0
        if (bank is not None) != fitted or (n_fits > 0) != fitted or n_fits > count:
            raise ValueError(f"the saved fits disagree: n_fits={n_fits} after {count} episodes, a mixture of "
                             f"{len(weights)} components and {'no' if bank is None else 'a'} bank of candidate "
                             "fits; every refit (at most one an episode) counts one fit and saves both")
        self._set_sub_state(state["sub"])
        self._count = count
        self._n_fits = n_fits
        self._buf[:] = 0.0
        slots = (count - len(rows) + np.arange(len(rows))) % self.window
        self._buf[slots] = rows
        self._bank = bank
        if len(weights):
            self._use(weights, means, covs)
        else:
            self._clear_mixture()

    def _beliefs(self) -> dict[str, Any]:
        d = self.d
        return {
            "kind": "gaussian-mixture",
            "bootstrapping": bool(len(self._weights) == 0 or self._count < self.bootstrap),
            "n_fits": int(self._n_fits),
            "random_ratio": self.random_ratio,
            "components": [
                {
                    "weight": float(self._weights[j]),
                    "mean": self._means[j, :d].tolist(),
                    "covariance": self._covs[j, :d, :d].tolist(),
                    "progress": float(self._progress[j]),
                    "probability": float(self._probs[j] * (1.0 - self.random_ratio)),
                }
                for j in range(len(self._weights))
            ],
            "component_probability": (self._probs * (1.0 - self.random_ratio)).tolist(),
            "uniform_probability": self.random_ratio if len(self._weights) else 1.0,
        }
