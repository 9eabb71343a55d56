"""ADR: Automatic Domain Randomization (OpenAI et al., 2019).

The teacher keeps a box of tasks in unit coordinates, starting at a point (or a
small box) that the learner can already handle, and grows it where the
learner copes:

* with probability ``boundary_prob`` a proposal is a *boundary probe*: one
  random dimension is set to the box's lower or upper bound, the others are
  uniform in the box; otherwise the whole proposal is uniform in the box;
* the score of a probe goes into the queue of that bound (``queue_length``
  scores, reference 10);
* when a queue is full, its mean decides: at least ``threshold_high`` widens
  that bound by ``step`` (unit coordinates), at most ``threshold_low`` narrows
  it by ``step`` (never inside the starting box), and the queue is cleared.

The box never leaves the space. ADR has to know whether an observed task was a
probe: proposals are remembered as *pending probes* (part of the saved state,
so a reloaded teacher resumes exactly) and an observed task is matched to the
oldest pending probe with the same coordinates. A task that matches no probe,
or a probe of a bound that has moved since, counts as an ordinary episode, which
ADR does not learn from.
"""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from typing import Any

import numpy as np

from ..averages import refuse_outside_unit
from ..errors import ConfigError, InvalidTaskError
from ..settings import number, saved_count, size, whole
from ..teacher import Teacher, register

_MATCH_TOL = 1e-9
#: a queue's mean may miss a threshold it meets by rounding: ten scores of 0.3 average 0.29999999999999993
_MEAN_TOL = 1e-12
#: pending probes are indexed by their cell of a grid of side 1 / _CELL (coordinates ``floor(v * _CELL + 0.5)``),
#: so that an observation looks at the probes of the cells within ``_REACH`` of it (one or two per coordinate),
#: not at all of them; ``_REACH`` is more than ``_MATCH_TOL`` and its rounding
_CELL = float(2**20)
_REACH = 2 * _MATCH_TOL
#: an observation whose neighbourhood spans more cells than this (many coordinates on cell edges) looks at
#: every pending probe
_MAX_CELLS = 64


@register("adr")
class ADR(Teacher):
    """Automatic Domain Randomization: a box that widens where the learner succeeds at its edges."""

    kind = "continuous"
    conformance_kwargs = {"initial_width": 0.2, "step": 0.1, "threshold_high": 0.3, "threshold_low": 0.05,
                          "queue_length": 4}

    def __init__(
        self,
        space,
        *,
        seed=None,
        score_range=None,
        initial: Any = None,
        initial_width: float = 0.0,
        initial_box: Any = None,
        boundary_prob: float = 0.5,
        queue_length: int = 10,
        threshold_high: float = 0.8,
        threshold_low: float = 0.2,
        step: float = 0.05,
        max_pending: int = 10_000,
    ):
        super().__init__(space, seed=seed, score_range=score_range)
        d = space.dim
        self.boundary_prob = number("boundary_prob", boundary_prob, 0.0, 1.0)
        self.queue_length = size("queue_length", queue_length, why="ADR keeps two queues of that many scores per "
                                 "dimension, allocated up front")
        self.threshold_high = number("threshold_high", threshold_high, 0.0, 1.0,
                                      hint="scores are mapped to [0, 1]; set score_range for other scales")
        self.threshold_low = number("threshold_low", threshold_low, 0.0, 1.0,
                                     hint="scores are mapped to [0, 1]; set score_range for other scales")
        if self.threshold_low >= self.threshold_high:
            raise ConfigError(
                f"threshold_low ({threshold_low}) must be below threshold_high ({threshold_high}): a bound widens "
                "when its mean score is high and narrows when it is low"
            )
        self.step = number("step", step, 0.0, 1.0, low_open=True, hint="the step is a fraction of each dimension's range")
        whole("max_pending", max_pending, 1)
        self.max_pending = int(max_pending)
        width = number("initial_width", initial_width, 0.0, 1.0, hint="a width in unit coordinates")
        if initial_box is not None:
            if initial is not None or width > 0:
                raise ConfigError("give either initial (with initial_width) or initial_box, not both")
            lo_hi = self._encode_task_pair(initial_box)
            start_lo, start_hi = lo_hi.min(axis=0), lo_hi.max(axis=0)
        else:
            centre = np.zeros(d) if initial is None else self._encode_task(initial, "initial")
            start_lo = np.clip(centre - width / 2, 0.0, 1.0)
            start_hi = np.clip(centre + width / 2, 0.0, 1.0)
        self.initial_low, self.initial_high = start_lo.astype(float), start_hi.astype(float)
        self.low, self.high = self.initial_low.copy(), self.initial_high.copy()
        self._queues = np.zeros((d, 2, self.queue_length))
        self._qlen = np.zeros((d, 2), dtype=np.int64)
        self._set_pending(np.zeros((0, d)), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0))
        self.n_widened = 0
        self.n_narrowed = 0
        self.n_probes_matched = 0

    def _encode_task(self, task: Any, what: str) -> np.ndarray:
        try:
            return self.space.to_unit_batch([self.space.validate(task)])[0]
        except InvalidTaskError as e:
            raise ConfigError(f"{what} must be a task of the space: {e}") from None

    def _encode_task_pair(self, box: Any) -> np.ndarray:
        if isinstance(box, dict) or not hasattr(box, "__len__") or len(box) != 2:
            raise ConfigError("initial_box must be a pair [low_task, high_task] of tasks of the space")
        return np.stack([self._encode_task(box[0], "initial_box[0]"), self._encode_task(box[1], "initial_box[1]")])

    # ------------------------------------------------------------ sampling
    def _propose(self, k: int) -> np.ndarray:
        d = self.space.dim
        u = self.rng.random((k, d))
        probe = self.rng.random(k) < self.boundary_prob
        dims = self.rng.integers(0, d, size=k)
        sides = self.rng.integers(0, 2, size=k)
        x = self.low + u * (self.high - self.low)
        rows = np.flatnonzero(probe)
        if len(rows):
            bounds = np.where(sides[rows] == 0, self.low[dims[rows]], self.high[dims[rows]])
            x[rows, dims[rows]] = bounds
            canon = np.asarray(self.space.to_unit_batch(self.space.from_unit_batch(x[rows])), dtype=float)
            for new in zip(canon.tolist(), dims[rows].tolist(), sides[rows].tolist(), bounds.tolist()):
                self._add_probe(*new)
            while len(self._pend) > self.max_pending:  # the oldest probes are forgotten
                self._drop_probe(next(iter(self._pend)))
        return np.clip(x, 0.0, 1.0)

    # -------------------------------------------------------- pending probes
    # The pending probes, oldest first: serial -> (unit coordinates, dim, side, bound value, cell). Each is also
    # listed (serials ascending) under its cell in ``_cells`` (or in ``_wide`` when its cell cannot be computed),
    # so that finding the oldest probe that matches a task looks at a few probes, not all of them. Only the
    # probes are saved (the arrays of ``_get_state``); serials and cells are rebuilt on load.

    def _set_pending(self, x: np.ndarray, dim: np.ndarray, side: np.ndarray, value: np.ndarray) -> None:
        self._pend: OrderedDict[int, tuple[tuple[float, ...], int, int, float, Any]] = OrderedDict()
        self._cells: dict[tuple[int, ...], list[int]] = {}
        self._wide: list[int] = []
        for probe in zip(x.tolist(), dim.tolist(), side.tolist(), value.tolist()):
            self._add_probe(*probe)

    def _pending_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The pending probes as the arrays the state saves (coordinates, dims, sides, bound values)."""
        entries = list(self._pend.values())
        return (np.array([e[0] for e in entries], dtype=float).reshape(-1, self.space.dim),
                np.array([e[1] for e in entries], dtype=np.int64), np.array([e[2] for e in entries], dtype=np.int64),
                np.array([e[3] for e in entries], dtype=float))

    def _add_probe(self, x: list[float], dim: int, side: int, value: float) -> None:
        # one more than the newest pending probe's (their serials ascend in the order they were added): no counter
        # to keep, so a teacher reloaded from its state (serials 0..n-1) numbers its next probes as this one orders them
        serial = next(reversed(self._pend)) + 1 if self._pend else 0
        try:
            cell: Any = tuple(math.floor(v * _CELL + 0.5) for v in x)
        except (OverflowError, ValueError):  # a coordinate too large for the grid (or not finite)
            cell = None
        self._pend[serial] = (tuple(x), dim, side, value, cell)
        (self._wide if cell is None else self._cells.setdefault(cell, [])).append(serial)

    def _drop_probe(self, serial: int) -> tuple[tuple[float, ...], int, int, float, Any]:
        entry = self._pend.pop(serial)
        cell = entry[4]
        if cell is None:
            self._wide.remove(serial)
        else:
            probes = self._cells[cell]
            probes.remove(serial)
            if not probes:
                del self._cells[cell]
        return entry

    def _find_probe(self, x: list[float]) -> int | None:
        """The serial of the oldest pending probe within ``_MATCH_TOL`` of ``x`` in every coordinate (as
        ``abs(probe - x).max() <= _MATCH_TOL`` computes it), or None."""
        pend = self._pend

        def first(serials: list[int]) -> int | None:
            for s in serials:
                if all(abs(p - q) <= _MATCH_TOL for p, q in zip(pend[s][0], x)):
                    return s
            return None

        try:  # the cells a matching probe can be in: each coordinate within _REACH, rounded as the cells are
            spans = [range(math.floor((q - _REACH) * _CELL + 0.5), math.floor((q + _REACH) * _CELL + 0.5) + 1)
                     for q in x]
        except (OverflowError, ValueError):
            if not all(math.isfinite(q) for q in x):
                return None  # a coordinate that is not a number matches nothing
            spans = None
        if spans is None or math.prod(len(r) for r in spans) > _MAX_CELLS:
            return first(list(pend))
        found = [first(self._wide)] if self._wide else []
        cells = self._cells
        for cell in itertools.product(*spans):
            if cell in cells:
                found.append(first(cells[cell]))
        return min((s for s in found if s is not None), default=None)

    def match_probe(self, x: np.ndarray) -> int:
        """Index of the oldest pending probe with the coordinates of ``x`` (one unit vector of ``dim`` numbers; another
        shape, or text, is an :class:`~magister.errors.InvalidTaskError`), or -1."""
        d = self.space.dim
        try:
            x = np.asarray(x, dtype=float)
        except (TypeError, ValueError, OverflowError):  # (numpy's "could not convert string to float" before)
            raise InvalidTaskError(f"match_probe takes one unit vector of {d} numbers, got {str(x)[:60]!r}") from None
        if x.shape not in ((), (1,), (d,), (1, d)):  # (numpy's broadcast error, or rows matched against probes)
            raise InvalidTaskError(f"match_probe takes one unit vector of {d} numbers (shape ({d},)), got shape "
                                   f"{x.shape}")
        if not self._pend:
            return -1
        if x.shape != (d,):  # (broadcast as the comparison with every probe took it)
            hit = np.flatnonzero(np.abs(self._pending_arrays()[0] - x).max(axis=1) <= _MATCH_TOL)
            return int(hit[0]) if len(hit) else -1
        s = self._find_probe(x.tolist())
        return -1 if s is None else list(self._pend).index(s)

    def _observe(self, x: np.ndarray, scores: np.ndarray) -> None:
        for xi, si in zip(np.asarray(x, dtype=float).tolist(), scores):
            j = self._find_probe(xi) if self._pend else None
            if j is None:
                continue  # an ordinary episode: ADR learns only from probes
            _, dim, side, value, _ = self._drop_probe(j)
            current = self.low[dim] if side == 0 else self.high[dim]
            if abs(current - value) > _MATCH_TOL:
                continue  # the bound moved since this probe was proposed: stale
            self.n_probes_matched += 1
            self._queues[dim, side, self._qlen[dim, side]] = si
            self._qlen[dim, side] += 1
            if self._qlen[dim, side] >= self.queue_length:
                self._update_bound(dim, side, float(self._queues[dim, side].mean()))
                self._qlen[dim, side] = 0

    def _update_bound(self, dim: int, side: int, mean: float) -> None:
        s = self.step
        if mean >= self.threshold_high - _MEAN_TOL:
            if side == 0:
                self.low[dim] = max(0.0, self.low[dim] - s)
            else:
                self.high[dim] = min(1.0, self.high[dim] + s)
            self.n_widened += 1
        elif mean <= self.threshold_low + _MEAN_TOL:
            if side == 0:
                self.low[dim] = min(self.initial_low[dim], self.low[dim] + s)
            else:
                self.high[dim] = max(self.initial_high[dim], self.high[dim] - s)
            self.n_narrowed += 1

    # ------------------------------------------------------------ state
    def _get_state(self) -> dict[str, Any]:
        return {
            "low": self.low.copy(), "high": self.high.copy(),
            "queues": self._queues.copy(), "queue_len": self._qlen.copy(),
            **dict(zip(("pending_x", "pending_dim", "pending_side", "pending_value"), self._pending_arrays())),
            "n_widened": self.n_widened, "n_narrowed": self.n_narrowed, "n_probes_matched": self.n_probes_matched,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        d = self.space.dim
        low, high = np.asarray(state["low"], dtype=float), np.asarray(state["high"], dtype=float)
        queues, qlen = np.asarray(state["queues"], dtype=float), np.asarray(state["queue_len"], dtype=np.int64)
        px = np.asarray(state["pending_x"], dtype=float).reshape(-1, d)
        pd_, ps = np.asarray(state["pending_dim"], dtype=np.int64), np.asarray(state["pending_side"], dtype=np.int64)
        pv = np.asarray(state["pending_value"], dtype=float)
        if low.shape != (d,) or high.shape != (d,) or not ((0 <= low) & (low <= high) & (high <= 1)).all():
            raise ValueError("ADR box bounds do not fit the space")
        if queues.shape != (d, 2, self.queue_length) or qlen.shape != (d, 2) or (qlen < 0).any() \
                or (qlen >= self.queue_length).any() or not np.isfinite(queues).all():
            raise ValueError("ADR queues do not match queue_length")
        refuse_outside_unit("queues", queues.reshape(-1), "queued scores (on the [0, 1] scale)")  # (-0.5 was taken)
        counters = {k: saved_count(f"saved {k}", state[k])  # (int() took a negative count)
                    for k in ("n_widened", "n_narrowed", "n_probes_matched")}
        if not (len(px) == len(pd_) == len(ps) == len(pv)) or ((pd_ < 0) | (pd_ >= d)).any() \
                or ((ps != 0) & (ps != 1)).any() or not (np.isfinite(px).all() and np.isfinite(pv).all()):
            raise ValueError("ADR pending probes are inconsistent")
        self.low, self.high, self._queues, self._qlen = low.copy(), high.copy(), queues.copy(), qlen.copy()
        self._set_pending(px, pd_, ps, pv)
        self.n_widened, self.n_narrowed, self.n_probes_matched = counters.values()

    def _beliefs(self) -> dict[str, Any]:
        qmean = np.where(self._qlen > 0, self._queues.sum(axis=2) / np.maximum(self._qlen, 1), np.nan)
        box: dict[str, Any] = {"low": self.low.tolist(), "high": self.high.tolist()}
        if hasattr(self.space, "low") and hasattr(self.space, "high"):
            box["low_task"] = self.space.from_unit_batch(self.low[None])[0].tolist()
            box["high_task"] = self.space.from_unit_batch(self.high[None])[0].tolist()
        return {
            "kind": "box",
            "box": box,
            "queues": {
                side: {"count": self._qlen[:, j].tolist(),
                       "mean": [None if np.isnan(v) else float(v) for v in qmean[:, j]]}
                for j, side in enumerate(("low", "high"))
            },
            "pending_probes": len(self._pend),
            "n_widened": self.n_widened,
            "n_narrowed": self.n_narrowed,
        }
