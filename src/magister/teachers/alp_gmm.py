"""ALP-GMM: sample where absolute learning progress is high (Portelas et al., CoRL 2019).

Every observed episode gets an *absolute learning progress* (ALP): the
absolute difference between its score and the score of the nearest earlier
task, measured in unit coordinates of the space (so a wide dimension does not
dominate) over a bounded history (``magister.history.History``). The
first episodes, while the history holds 5 or fewer tasks, get ALP 0.

After ``fit_rate`` uniformly sampled bootstrap episodes, every ``fit_rate``
episodes a bank of full-covariance Gaussian mixtures (one per ``k`` in
``potential_ks``) is fitted on the last ``fit_rate`` points ``(task, ALP)``
and the lowest-AIC one is kept (:mod:`magister.gmm`: vectorised EM; each
refit starts afresh from k-means++ seeds, as the reference code does;
``warm_start=True`` starts from the previous fit instead, cheaper but it keeps
stale components when distractor dimensions are added). A proposal is uniform with probability
``random_ratio``; otherwise a component is picked in proportion to its mean
ALP and a task drawn from its Gaussian (ALP coordinate dropped), clipped to the
space. Defaults are the paper code's: ``fit_rate=250``, ``k`` in 2..10,
``random_ratio=0.2``.

By default the ALP neighbour search looks at every earlier task, as the
reference does (``history_size`` bounds it), so memory and the saved state grow
with every episode (about 100 bytes held and 24 saved per episode in 2
dimensions: some 24 MB per checkpoint after a million episodes). Differences from the reference
code (unit-coordinate distances, vectorised refits and proposals, explicit
generator) are listed in ``docs/teachers-gmm.md``; the tuned mixture teacher
is ``covar-gmm-plus`` in :mod:`magister.teachers.covar_gmm`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..averages import refuse_outside_unit
from ..history import History, absolute_progress, absolute_progress_one
from ..mixture_teacher import MixtureTeacher
from ..settings import size
from ..teacher import register

__all__ = ["AlpGmm", "alp_from_history"]


def alp_from_history(history: History, x: np.ndarray, scores: np.ndarray, min_history: int = 5) -> np.ndarray:
    """ALP of each new (task, score), in order, then store the pairs in ``history``.

    ``ALP = |score - score of the nearest earlier task|`` (unit coordinates);
    0 while ``history`` has received ``min_history`` or fewer pairs.
    """
    return absolute_progress(history, x, scores, min_history)


@register("alp-gmm")
class AlpGmm(MixtureTeacher):
    """Absolute-learning-progress Gaussian mixture teacher (continuous spaces).

    Settings: ``fit_rate`` (episodes between refits, also the bootstrap
    length and the fit window unless ``bootstrap`` / ``window`` are given),
    ``potential_ks`` (candidate component counts), ``random_ratio`` (share of
    uniform proposals), ``history_size`` (how many recent tasks the ALP
    neighbour search looks at; None: all, the reference), ``warm_start`` (start each
    refit from the previous fit; the reference refits from scratch), ``reg`` (covariance regulariser), ``tol`` / ``max_iter`` (EM).
    """

    _extra = 1
    _row_values = "a row's task coordinates (unit) and ALP (a difference of two scores in [0, 1])"
    conformance_kwargs = {"fit_rate": 40, "potential_ks": [1, 2, 3, 4]}

    def __init__(self, space, *, seed=None, score_range=None, fit_rate: int = 250,
                 potential_ks: Any = (2, 3, 4, 5, 6, 7, 8, 9, 10), random_ratio: float = 0.2,
                 history_size: int | None = None, window: int | None = None, bootstrap: int | None = None,
                 warm_start: bool = False, reg: float = 1e-6, tol: float = 1e-3, max_iter: int = 100,
                 progress_power: float = 1.0):
        super().__init__(space, seed=seed, score_range=score_range, fit_rate=fit_rate,
                         potential_ks=potential_ks, random_ratio=random_ratio, window=window,
                         bootstrap=bootstrap, warm_start=warm_start, reg=reg, tol=tol, max_iter=max_iter,
                         progress_power=progress_power)
        if history_size is not None:
            history_size = size("history_size", history_size, floats=True,
                                why="ALP-GMM keeps that many (task, score) pairs in arrays allocated up front",
                                hint="how many recent tasks ALP looks at, or None for all of them (the reference)")
        self.history = History(self.d, history_size)

    def _rows(self, x: np.ndarray, scores: np.ndarray) -> np.ndarray:
        if len(x) == 1:  # one episode: the row built from Python floats (the same values, fewer numpy calls)
            return np.array([[*x[0].tolist(), absolute_progress_one(self.history, x[0], float(scores[0]))]])
        alp = absolute_progress(self.history, x, scores)
        rows = np.empty((len(x), self.d + 1))
        rows[:, : self.d] = x
        rows[:, self.d] = alp
        return rows

    def _component_progress(self, weights, means, covs) -> np.ndarray:
        return means[:, -1]  # mean ALP of each Gaussian

    def _sub_state(self) -> dict[str, Any]:
        return {"history": self.history.state_dict()}

    def _set_sub_state(self, state: dict[str, Any]) -> None:
        h = History(self.history.dim, self.history.capacity if self.history.bounded else None)
        h.load_state_dict(state["history"])
        # (1e300 was taken, and the next nearest-neighbour scan overflowed; -0.5 silently)
        refuse_outside_unit("history.x", h.x, "the ALP history's tasks (in unit coordinates)")
        refuse_outside_unit("history.y", h.y, "the ALP history's scores")
        self.history = h
