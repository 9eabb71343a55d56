"""Region trees: recursive axis-aligned splits of the unit cube with learning progress.

This is the machinery behind RIAC-style teachers (Baranes and Oudeyer, 2009),
written to be reused by any teacher that wants to track *where* a learner is
progressing:

* the unit cube ``[0, 1]^d`` is the root region; a region that holds too many
  observations is cut in two along one axis, recursively, so the regions form
  a binary tree whose leaves tile the cube;
* every region (internal nodes too) keeps a bounded, chronological window of
  its latest ``(point, score)`` pairs;
* a region's *learning progress* (LP) is ``|mean(older half) - mean(newer half)|``
  of the scores in its window, exactly 0 for equal scores (a gap within the
  rounding of the two means counts as 0, :func:`_mean_gap`);
* a full leaf tries ``n_cuts`` random cuts, refuses those leaving a child
  thinner than ``min_width`` (a fraction of the unit range) or with fewer than
  ``min_points`` points, and keeps the cut maximising
  ``n_left * n_right * |LP_left - LP_right|``. If no cut is acceptable, the
  leaf forgets its oldest ``discard`` points instead.

Everything is stored in flat numpy arrays indexed by node id (bounds, split
axis and value, children, score windows), so finding the leaf of a batch of
points is a vectorised descent (one numpy step per tree level, never a Python
loop over regions), and the learning progress of many regions, or of all 50
candidate cuts, is computed with a handful of array operations.

The tree's full state is a dict of arrays (:meth:`RegionTree.state_dict`), so a
teacher that owns one resumes exactly after a checkpoint.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ConfigError, InvalidScoreError, InvalidTaskError
from .settings import MAX_SIZE, held, number, saved_count, size, whole

__all__ = ["RegionTree", "UnknownNodeError", "learning_progress"]


class UnknownNodeError(ConfigError, IndexError):
    """A node id that is not one of a :class:`RegionTree`'s nodes ``0 .. n_nodes - 1`` (an ``IndexError`` too)."""


def _mean_gap(m_a, n_a, m_b, n_b):
    """``|m_a - m_b|`` for means of ``n_a`` and ``n_b`` scores, exactly 0 where it is within their rounding.

    A mean of ``n`` equal scores computed by summing comes out within ``n`` units in the last place of
    the score, and not always the same for different ``n`` or summation orders: equal scores gave
    learning progress of ~1e-17 instead of 0, and region sampling (proportional to it) and cut choice
    then followed that noise instead of treating the regions as equal. A gap within
    ``2 eps (n_a + n_b) max(|m_a|, |m_b|)`` (about 1e-14 of the scores for a window of 20) is that
    rounding and counts as 0; any real difference of scores in a window is far larger.
    """
    gap = np.abs(m_a - m_b)
    tol = 2.0 * np.finfo(float).eps * (n_a + n_b) * np.maximum(np.abs(m_a), np.abs(m_b))
    return np.where(gap <= tol, 0.0, gap)


def _lp_from_sums(s_old, q_old, n_old, s_new, q_new, n_new, z: float):
    """``|mean_old - mean_new| - z * SE``, floored at 0 (vectorised over arrays of sums; exactly 0 for equal
    scores, see :func:`_mean_gap`)."""
    n_old = np.maximum(n_old, 1)
    n_new = np.maximum(n_new, 1)
    m_old, m_new = s_old / n_old, s_new / n_new
    lp = _mean_gap(m_old, n_old, m_new, n_new)
    if z > 0:
        v_old = np.maximum(q_old / n_old - m_old**2, 0.0)
        v_new = np.maximum(q_new / n_new - m_new**2, 0.0)
        lp = np.maximum(lp - z * np.sqrt(v_old / n_old + v_new / n_new), 0.0)
    return lp


def learning_progress(scores: np.ndarray, window: int | None = None, z: float = 0.0) -> float:
    """``|mean(older half) - mean(newer half)|`` of the last ``window`` scores.

    ``scores`` are in chronological order. With ``w = min(len, window)`` scores
    kept, the newer half is the last ``w // 2`` and the older half the
    ``w - w // 2`` before them (the older half takes the odd one). Fewer than
    three scores give 0: there is no trend to measure yet.

    With ``z > 0`` the result is a lower confidence bound: the difference
    minus ``z`` standard errors (``sqrt(var_old / n_old + var_new / n_new)``),
    floored at 0, so a region whose scores merely scatter (a mix of easy and
    impossible tasks sampled at random) shows no progress.
    """
    s = np.asarray(scores, dtype=float).ravel()
    w = len(s) if window is None else min(len(s), int(window))
    if w <= 2:
        return 0.0
    half = w // 2
    recent = s[len(s) - half:]
    older = s[len(s) - w: len(s) - half]
    return float(_lp_from_sums(older.sum(), (older**2).sum(), len(older), recent.sum(), (recent**2).sum(),
                               len(recent), z))


class RegionTree:
    """A binary tree of axis-aligned regions of ``[0, 1]^dim`` with score windows.

    Args:
        dim: Number of coordinates of the points (unit vectors).
        max_points: A leaf holding more than this many points tries to split (reference 200).
            Every region keeps its latest ``max_points + 1`` points.
        lp_window: Scores used for learning progress (the latest ``lp_window``; default
            ``max_points``).
        n_cuts: Random candidate cuts tried per split (reference 50).
        min_width: No child may be narrower than this fraction of the unit range in any
            dimension (reference 1/15).
        min_points: Each child must receive at least this many of the parent's points
            (reference ``max_points / 20``).
        discard: Fraction of ``max_points`` a full leaf forgets (oldest first) when no
            cut is acceptable (reference 1/4).
        min_gap: See :class:`~magister.teachers.riac.RIAC` (off in the reference).
        lp_z: See :class:`~magister.teachers.riac.RIAC` (off in the reference).
        competence_weight: See :class:`~magister.teachers.riac.RIAC` (off in the reference).
        split_alpha: With ``> 0``, a cut is acceptable only if it passes a significance
            test (:meth:`_significant`): the chance that any candidate cut of a
            region whose scores do not depend on position passes is at most
            ``split_alpha``. 0 (the reference): no test.
        noise_z: With ``> 0``, :meth:`progress` (what teachers sample by) is each
            region's LP minus ``noise_z`` standard errors of the score noise
            (:meth:`noise_level`), floored at 0. 0 (the reference): the LP itself.
        binary_noise: With ``noise_z > 0`` and while every score seen is exactly 0 or 1
            (success / failure), a region's noise is at least its own spread (a
            Bernoulli score's variance ``p (1 - p)`` depends on its level ``p``, so
            the flat leaves at 0 or 1 that :meth:`noise_level` reads say nothing
            about it). False (default): the tree's noise level alone.
    """

    def __init__(
        self,
        dim: int,
        *,
        max_points: int = 200,
        lp_window: int | None = None,
        n_cuts: int = 50,
        min_width: float = 1.0 / 15.0,
        min_points: int | None = None,
        discard: float = 0.25,
        min_gap: float = 0.0,
        lp_z: float = 0.0,
        competence_weight: float = 0.0,
        split_alpha: float = 0.0,
        noise_z: float = 0.0,
        balance: bool = True,
        cuts: str = "valid",
        child_lp: str = "best",
        binary_noise: bool = False,
    ):
        self.dim = whole("dim", dim)
        if not isinstance(held(binary_noise), (bool, np.bool_)):  # (a 0-d array: the bool it holds)
            raise ConfigError(f"binary_noise must be True (0/1 scores: each region's noise is at least its own "
                              f"Bernoulli spread) or False, got {binary_noise!r}")
        self.binary_noise = bool(binary_noise)
        self.binary = True  # every score seen so far is exactly 0 or 1
        if not isinstance(child_lp, str) or child_lp not in ("best", "last"):
            raise ConfigError(f"child_lp must be 'best' (new leaves start with the LP of the chosen cut's children) "
                              f"or 'last' (the reference code: of the last cut attempted, with cuts='region'), "
                              f"got {child_lp!r}")
        self.child_lp = str(child_lp)
        if not isinstance(held(balance), (bool, np.bool_)):  # (a 0-d array: the bool it holds)
            raise ConfigError(f"balance must be True (split score weighs the children's sizes) or False "
                              f"(the reference: LP difference only), got {balance!r}")
        self.balance = bool(balance)
        if not isinstance(cuts, str) or cuts not in ("valid", "region"):
            raise ConfigError(f"cuts must be 'valid' (values drawn where both children are wide enough) or "
                              f"'region' (the reference: values anywhere in the region, each redrawn until both "
                              f"children hold min_points, thin ones refused), got {cuts!r}")
        self.cuts = str(cuts)
        self.max_points = size("max_points", max_points, 4, limit=MAX_SIZE // 10,
                               why="every region keeps a buffer of 2 * (max_points + 1) points, 8 regions "
                                   "allocated up front")
        self.lp_window = self.max_points if lp_window is None else whole("lp_window", lp_window, 3)
        # a region holds at most max_points + 1 scores, so a longer window is that one: kept at it, as a window of
        # 10**30 failed numpy's int64 (a raw OverflowError at the first refresh)
        self.lp_window = min(self.lp_window, self.max_points + 1)
        self.n_cuts = size("n_cuts", n_cuts, limit=MAX_SIZE // 100,
                           why="every split scores that many candidate cuts against each of the region's points")
        self.min_width = number("min_width", min_width, 0.0, 0.5, low_open=True,
                                hint="a fraction of the unit range (a child may not be thinner)")
        if min_points is None:
            min_points = max(1, self.max_points // 20)
        self.min_points = whole("min_points", min_points)
        if 2 * self.min_points > self.max_points + 1:
            raise ConfigError(
                f"min_points={self.min_points} is too large for max_points={self.max_points}: two children need "
                f"2 * min_points <= max_points + 1; lower min_points"
            )
        self.discard = number("discard", discard, 0.0, 1.0, low_open=True, high_open=True,
                              hint="a fraction of max_points to forget after a failed split")
        self.min_gap = number("min_gap", min_gap, 0.0, 1.0, high_open=True, hint="a learning-progress difference")
        self.lp_z = number("lp_z", lp_z, 0.0, 10.0, hint="a number of standard errors (0: the reference LP)")
        self.competence_weight = number("competence_weight", competence_weight, 0.0, 100.0,
                                        hint="0: the reference split score")
        self.split_alpha = number("split_alpha", split_alpha, 0.0, 1.0, high_open=True,
                                  hint="the chance a cut of a uniform region passes the test (0: no test)")
        self.noise_z = number("noise_z", noise_z, 0.0, 10.0,
                              hint="a number of noise standard errors taken off the learning progress (0: off)")
        self.keep = self.max_points + 1  # points a region remembers
        self._buf = 2 * self.keep  # physical buffer length per node (compacted when full)
        self._alloc(8)
        self.n_nodes = 1
        self.low[0] = 0.0
        self.high[0] = 1.0
        self.n_splits = 0
        self.n_failed_splits = 0

    # ------------------------------------------------------------ storage
    def _alloc(self, capacity: int) -> None:
        d, b = self.dim, self._buf
        self.low = np.zeros((capacity, d))
        self.high = np.ones((capacity, d))
        self.parent = np.full(capacity, -1, dtype=np.int64)
        self.children = np.full((capacity, 2), -1, dtype=np.int64)
        self.split_dim = np.full(capacity, -1, dtype=np.int64)
        self.split_value = np.zeros(capacity)
        self.depth = np.zeros(capacity, dtype=np.int64)
        self.lp = np.zeros(capacity)
        self.spread = np.zeros(capacity)  # standard deviation of the scores in the LP window
        self.total = np.zeros(capacity, dtype=np.int64)  # points ever added
        self._x = np.zeros((capacity, b, d))
        self._y = np.zeros((capacity, b))
        self._start = np.zeros(capacity, dtype=np.int64)
        self._end = np.zeros(capacity, dtype=np.int64)

    def _grow(self) -> None:
        old = {k: getattr(self, k) for k in self._ARRAYS}
        cap = 2 * len(self.low)
        self._alloc(cap)
        for k, v in old.items():
            getattr(self, k)[: len(v)] = v

    _ARRAYS = ("low", "high", "parent", "children", "split_dim", "split_value", "depth", "lp", "spread", "total",
               "_x", "_y", "_start", "_end")

    # ------------------------------------------------------------ queries
    @property
    def is_leaf(self) -> np.ndarray:
        """Boolean mask over nodes ``0 .. n_nodes-1``: True for leaves."""
        return self.children[: self.n_nodes, 0] < 0

    @property
    def leaves(self) -> np.ndarray:
        """Ids of the leaves (they tile the unit cube)."""
        return np.flatnonzero(self.is_leaf)

    def _node_ids(self, nodes: Any) -> np.ndarray:
        """``nodes`` as an array of node ids (all nodes for ``None``). An id outside ``0 .. n_nodes - 1`` was numpy's
        "index 100 is out of bounds for axis 0 with size 8", or read a spare row of the arrays (a made-up node with
        no points), or (negative) a node from the end; a boolean mask read nodes 0 and 1, a fraction its floor."""
        if nodes is None:
            return np.arange(self.n_nodes)
        a = np.asarray(nodes)
        if a.dtype == bool or a.dtype.kind not in "iuf" or (a.dtype.kind == "f" and not (a == np.round(a)).all()):
            raise UnknownNodeError(f"nodes must be node ids (whole numbers from 0 to {self.n_nodes - 1}), got "
                                   f"{a.dtype} values{'; for a mask use np.flatnonzero(mask)' if a.dtype == bool else ''}")
        idx = a.astype(np.int64, copy=False)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_nodes):
            bad = int(idx[(idx < 0) | (idx >= self.n_nodes)][0])
            has = f"nodes 0 to {self.n_nodes - 1}" if self.n_nodes > 1 else "only node 0 (the root)"
            raise UnknownNodeError(f"node {bad} does not exist: this tree has {has} (tree.leaves gives the leaves)")
        return idx

    def count(self, nodes: np.ndarray | None = None) -> np.ndarray:
        """Points currently remembered by each node (all nodes by default)."""
        idx = self._node_ids(nodes)
        return np.minimum(self._end[idx] - self._start[idx], self.keep)

    def _points(self, x: Any) -> np.ndarray:
        """``x`` as an ``(m, dim)`` float array; points of another dimension are refused naming it (it was numpy's
        "cannot reshape array of size 9 into shape (2)"). A flat array is one point, or ``m`` points of a 1-D tree;
        an empty one is no points."""
        a = np.asarray(x, dtype=float)
        if a.ndim > 2 or not (a.shape[-1:] == (self.dim,) or a.size in (0, self.dim) or (a.ndim == 1 and self.dim == 1)):
            raise InvalidTaskError(f"points must have {self.dim} coordinates each (an array of shape (n, {self.dim})), "
                                   f"got shape {a.shape}")
        return a.reshape(-1, self.dim)

    def window(self, node: int) -> tuple[np.ndarray, np.ndarray]:
        """The node's remembered ``(points (n, dim), scores (n,))``, oldest first (copies)."""
        node = int(self._node_ids([node])[0])
        e = int(self._end[node])
        s = max(int(self._start[node]), e - self.keep)
        return self._x[node, s:e].copy(), self._y[node, s:e].copy()

    def leaf_of(self, x: np.ndarray) -> np.ndarray:
        """Leaf id of every point of ``x`` (``(m, dim)``), by vectorised descent.

        A point exactly on a cut goes to the lower child.
        """
        x = self._points(x)
        node = np.zeros(len(x), dtype=np.int64)
        active = np.arange(len(x))
        while len(active):
            cur = node[active]
            inner = self.children[cur, 0] >= 0
            active, cur = active[inner], cur[inner]
            if not len(active):
                break
            upper = x[active, self.split_dim[cur]] > self.split_value[cur]
            node[active] = self.children[cur, upper.astype(np.int64)]
        return node

    def path_of(self, point: np.ndarray) -> np.ndarray:
        """Node ids from the root down to the leaf holding ``point``."""
        p = np.asarray(point, dtype=float).ravel()
        out = [0]
        node = 0
        children, sd, sv = self.children, self.split_dim, self.split_value
        while children[node, 0] >= 0:
            node = int(children[node, 1] if p[sd[node]] > sv[node] else children[node, 0])
            out.append(node)
        return np.asarray(out, dtype=np.int64)

    def contains(self, x: np.ndarray, nodes: np.ndarray | None = None) -> np.ndarray:
        """Brute-force membership ``(m, n_nodes)``: is point i inside the closed box of node j?"""
        x = self._points(x)
        idx = self._node_ids(nodes)
        lo, hi = self.low[idx], self.high[idx]
        return np.asarray(((x[:, None, :] >= lo[None]) & (x[:, None, :] <= hi[None])).all(axis=2))

    def worst_point(self, nodes: np.ndarray) -> np.ndarray:
        """For each node, its remembered point with the lowest score (the earliest on ties).

        A node that remembers nothing gives its centre.
        """
        nodes = self._node_ids(nodes)
        out = 0.5 * (self.low[nodes] + self.high[nodes])
        uniq, inv = np.unique(nodes, return_inverse=True)
        for j, node in enumerate(uniq):
            e = int(self._end[node])
            s = max(int(self._start[node]), e - self.keep)
            if e > s:
                i = s + int(np.argmin(self._y[node, s:e]))
                out[inv == j] = self._x[node, i]
        return out

    # ------------------------------------------------------------ updates
    def add(self, x: np.ndarray, scores: np.ndarray, rng: np.random.Generator) -> list[int]:
        """Record ``(point, score)`` pairs in order; full leaves try to split.

        Returns the ids of the nodes that were split (in order).
        """
        x = self._points(x)
        scores = np.asarray(scores, dtype=float).ravel()
        if len(x) != len(scores):
            raise InvalidScoreError(f"{len(x)} points but {len(scores)} scores; give one score per point. "
                                    "Nothing was recorded")
        # (a NaN or infinite score was stored, and every region holding it had a NaN learning progress)
        for what, values, error in (("score", scores, InvalidScoreError), ("point", x, InvalidTaskError)):
            bad = ~np.isfinite(values)
            if bad.any():
                i = int(np.flatnonzero(bad.reshape(len(values), -1).any(axis=1))[0])
                raise error(f"{what} {values[i].tolist()!r} (position {i}) is not finite; the tree takes points of "
                            "[0, 1]^dim and finite scores. Nothing was recorded")
        if self.binary and not ((scores == 0.0) | (scores == 1.0)).all():
            self.binary = False
        split: list[int] = []
        for i in range(len(x)):
            path = self.path_of(x[i])
            self._append(path, x[i], scores[i])
            leaf = int(path[-1])
            if self._end[leaf] - self._start[leaf] > self.max_points:
                if self.split(leaf, rng):
                    split.append(leaf)
            self._refresh_lp(path)
        return split

    def _append(self, path: np.ndarray, point: np.ndarray, score: float) -> None:
        full = path[self._end[path] >= self._buf]
        for node in full:  # compaction: keep the last `keep` points at the front
            e = int(self._end[node])
            s = max(int(self._start[node]), e - self.keep)
            n = e - s
            self._x[node, :n] = self._x[node, s:e]
            self._y[node, :n] = self._y[node, s:e]
            self._start[node], self._end[node] = 0, n
        pos = self._end[path]
        self._x[path, pos] = point
        self._y[path, pos] = score
        self._end[path] = pos + 1
        self._start[path] = np.maximum(self._start[path], self._end[path] - self.keep)
        self.total[path] += 1

    def _refresh_lp(self, nodes: np.ndarray, lp: bool = True) -> None:
        """Recompute the learning progress (``lp=False``: only the spread) of ``nodes`` (vectorised)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        if not len(nodes):
            return
        end = self._end[nodes]
        n = np.minimum(end - self._start[nodes], self.keep)
        w = np.minimum(n, self.lp_window)
        half = w // 2
        big = int(w.max())
        pos = end[:, None] - big + np.arange(big)[None, :]  # the last `big` buffer slots of each node
        vals = self._y[nodes[:, None], np.maximum(pos, 0)]
        newer = pos >= (end - half)[:, None]
        older = (pos >= (end - w)[:, None]) & ~newer
        vn, vo = np.where(newer, vals, 0.0), np.where(older, vals, 0.0)
        spread = self.noise_z > 0  # the spread is only needed for noise-aware progress
        if self.lp_z > 0 or spread:
            q_new, q_old = (vn**2).sum(axis=1), (vo**2).sum(axis=1)
        else:
            q_new = q_old = np.zeros(len(nodes))
        s_new, s_old = vn.sum(axis=1), vo.sum(axis=1)
        if lp:
            self.lp[nodes] = np.where(w > 2, _lp_from_sums(s_old, q_old, w - half, s_new, q_new, half, self.lp_z), 0.0)
        if not spread:
            return
        w1 = np.maximum(w, 1)
        var = np.maximum((q_new + q_old - (s_new + s_old) ** 2 / w1) / np.maximum(w - 1, 1), 0.0)
        self.spread[nodes] = np.where(w > 1, np.sqrt(var), 0.0)

    def noise_level(self) -> float:
        """The score noise the tree sees: the lower quartile, over leaves with a full LP
        window (``min(lp_window, max_points)`` scores, the most a leaf holds), of the scores' standard deviation in
        that window (0 while no leaf has one,
        and always 0 with ``noise_z=0``, where the spread is not kept up to save time).

        Most leaves of a learner are flat (finished or out of reach), so their scatter is
        the measurement noise alone; leaves that mix skill levels or progress scatter more.
        """
        leaves = self.leaves
        # a leaf holds at most max_points points between calls (one more splits it or makes it forget), so an
        # lp_window above that (riac-plus's 12 with max_points=10) is full at max_points: counting only leaves of
        # lp_window points found none, and noise_z silently did nothing
        full = leaves[self.count(leaves) >= min(self.lp_window, self.max_points)]
        if not len(full):
            return 0.0
        k = (len(full) - 1) // 4  # the lower-quartile order statistic (a partition, not a sort)
        return float(np.partition(self.spread[full], k)[k])

    def progress(self, nodes: np.ndarray | None = None) -> np.ndarray:
        """Learning progress of ``nodes`` as sampling weights: with ``noise_z > 0`` each LP
        minus ``noise_z`` standard errors of a difference of means under the tree's
        :meth:`noise_level` (floored at 0), so progress that score noise alone would show
        counts for nothing; otherwise the LP itself (copies)."""
        idx = self._node_ids(nodes)
        lp = self.lp[idx].copy()
        if self.noise_z > 0:
            sigma = np.full(idx.shape, self.noise_level())
            if self.binary_noise and self.binary:
                sigma = np.maximum(sigma, self.spread[idx])  # Bernoulli: each region's own p (1 - p)
            if (sigma > 0).any():
                w = np.minimum(self.count(idx), self.lp_window)
                half = np.maximum(w // 2, 1)
                se = sigma * np.sqrt(1.0 / np.maximum(w - half, 1) + 1.0 / half)
                lp = np.maximum(lp - self.noise_z * se, 0.0)
        return lp

    def refresh_all(self) -> None:
        """Recompute every node's learning progress (after changing ``lp_window``, say)."""
        self._refresh_lp(np.arange(self.n_nodes))

    def candidate_cuts(self, node: int, rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``k`` random cuts ``(dims, values)`` of ``node`` leaving both children at least ``min_width`` wide.

        The axis is drawn uniformly among those wide enough to cut, the value
        uniformly in the allowed range. Empty arrays if no axis can be cut.
        """
        lo, hi = self.low[node], self.high[node]
        ok = np.flatnonzero(hi - lo >= 2 * self.min_width - 1e-12)
        if not len(ok):
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        dims = ok[rng.integers(0, len(ok), size=k)]
        a = lo[dims] + self.min_width
        b = hi[dims] - self.min_width
        values = a + rng.random(k) * np.maximum(b - a, 0.0)
        return dims, values

    def score_cuts(self, points: np.ndarray, scores: np.ndarray, dims: np.ndarray,
                   values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Evaluate cuts of a chronological window: ``(score, n_low, lp_low, lp_high)`` per cut.

        ``score = n_low * n_high * |lp_low - lp_high|``; the children's LP uses
        the same rule as :func:`learning_progress` on each side's own points.
        """
        score, n_low, lp_lo, lp_hi, _ = self._score_cuts(points, scores, dims, values)
        return score, n_low, lp_lo, lp_hi

    def _score_cuts(self, points: np.ndarray, scores: np.ndarray, dims: np.ndarray, values: np.ndarray):
        """:meth:`score_cuts` plus, per cut, whether it passes the ``split_alpha`` test (all True when off)."""
        low_side = points[:, dims].T <= values[:, None]  # (C, n)
        lp_sides = []
        counts = []
        sq = scores**2
        means = []
        for side in (low_side, ~low_side):
            cnt = side.sum(axis=1)
            # rank from the newest point of this side: 1 for the newest
            rank = np.cumsum(side[:, ::-1], axis=1)[:, ::-1]
            w = np.minimum(cnt, self.lp_window)
            half = w // 2
            newer = side & (rank <= half[:, None])
            older = side & (rank > half[:, None]) & (rank <= w[:, None])
            lp = _lp_from_sums(older @ scores, older @ sq, w - half, newer @ scores, newer @ sq, half, self.lp_z)
            lp_sides.append(np.where(w > 2, lp, 0.0))
            counts.append(cnt)
            means.append((side @ scores) / np.maximum(cnt, 1))
        gap = np.abs(lp_sides[0] - lp_sides[1])
        if self.competence_weight > 0:
            gap = gap + self.competence_weight * _mean_gap(means[0], counts[0], means[1], counts[1])
        score = counts[0] * counts[1] * gap if self.balance else gap
        if self.split_alpha > 0:
            significant = self._significant(low_side, scores)
        else:
            significant = np.ones(len(dims), dtype=bool)
        return score.astype(float), counts[0], lp_sides[0], lp_sides[1], significant

    def _significant(self, low_side: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Does each cut (a row of ``low_side``) separate scores that really differ?

        Compares two least-squares models of the chronological window: one
        straight line in time for the whole region (level and progress shared)
        against one line per side (each side its own level and progress). The
        gain in squared error is an F statistic with 2 and ``n - 4`` degrees of
        freedom (the noise variance is the per-side lines' residual variance);
        a cut passes when that F exceeds the level whose tail probability is
        ``split_alpha / number of candidate cuts`` (Bonferroni: a region whose
        scores do not depend on where the task lies passes with probability at
        most ``split_alpha``). Scatter of a noisy score does not pass, nor does
        a cut that only separates older points from newer ones of a region
        being learned (the shared line explains those), which is how cuts along
        dimensions the learner ignores used to win.
        """
        n = len(scores)
        if n < 5:
            return np.zeros(len(low_side), dtype=bool)
        t = np.arange(n, dtype=float)
        t -= t.mean()
        y = scores - scores.mean()

        def rss(cnt, st, stt, sy, sty, syy):
            c = np.maximum(cnt, 1)
            ctt = stt - st * st / c  # centred sums of squares and products
            cty = sty - st * sy / c
            cyy = syy - sy * sy / c
            slope_part = np.where(ctt > 1e-12, cty * cty / np.maximum(ctt, 1e-12), 0.0)
            return np.maximum(cyy - slope_part, 0.0)

        tt, yy, ty = t * t, y * y, t * y
        total = rss(np.array([n]), t.sum(), tt.sum(), y.sum(), ty.sum(), yy.sum())[0]
        split_rss = np.zeros(len(low_side))
        for side in (low_side, ~low_side):
            side = side.astype(float)
            split_rss += rss(side.sum(axis=1), side @ t, side @ tt, side @ y, side @ ty, side @ yy)
        d = n - 4
        noise_var = split_rss / d
        gain = total - split_rss
        # F(2, d) tail: P(F > f) = (1 + 2 f / d) ** (-d / 2); Bonferroni over the candidate cuts
        p = self.split_alpha / max(1, len(low_side))
        try:
            f_crit = 0.5 * d * (p ** (-2.0 / d) - 1.0)
        except (ZeroDivisionError, OverflowError):  # p underflowed to 0 (split_alpha=5e-324), or the critical value
            # is past any float (split_alpha=1e-200 over 5 points): only a cut leaving no noise passes (its F is infinite)
            return (noise_var == 0) & (gain > 1e-12)
        return gain > 2.0 * f_crit * noise_var + 1e-12

    def _best_region_cut(self, node: int, pts: np.ndarray, sc: np.ndarray, rng: np.random.Generator
                         ) -> tuple[float, int, float, float, float] | None:
        """The reference way to pick a cut: ``n_cuts`` attempts, each an axis drawn among all and a value
        uniform over the region's range, redrawn until both children hold ``min_points``; attempts leaving
        a child thinner than ``min_width`` are refused; the best score wins (the latest on ties)."""
        lo, hi = self.low[node], self.high[node]
        n = len(pts)
        dims = np.empty(0, dtype=np.int64)
        values = np.empty(0)
        for _round in range(20):  # draw in batches; keep the population-valid ones until n_cuts
            need = self.n_cuts - len(dims)
            if need <= 0:
                break
            d = rng.integers(0, self.dim, size=4 * need)
            v = lo[d] + rng.random(4 * need) * (hi[d] - lo[d])
            n_low = (pts[:, d] <= v[None, :]).sum(axis=0)
            ok = (n_low >= self.min_points) & (n - n_low >= self.min_points)
            dims = np.concatenate([dims, d[ok][:need]])
            values = np.concatenate([values, v[ok][:need]])
        if not len(dims):
            return None
        wide = (values - lo[dims] >= self.min_width - 1e-12) & (hi[dims] - values >= self.min_width - 1e-12)
        score, _, lp_lo, lp_hi, significant = self._score_cuts(pts, sc, dims, values)
        valid = wide & significant
        if self.min_gap > 0:
            valid &= np.abs(lp_lo - lp_hi) >= self.min_gap
        if not valid.any():
            return None
        cand = np.flatnonzero(valid)
        j = int(cand[::-1][np.argmax(score[cand][::-1])])
        # child_lp="last": the reference code gives the new leaves the LP of the *last* attempted cut's
        # children (it keeps the variable of its loop), until each leaf's next observation recomputes it
        k = len(dims) - 1 if self.child_lp == "last" else j
        return float(score[j]), int(dims[j]), float(values[j]), float(lp_lo[k]), float(lp_hi[k])

    def split(self, node: int, rng: np.random.Generator) -> bool:
        """Try to split leaf ``node``; on failure forget its oldest points. Returns True if split."""
        node = int(node)
        if self.children[node, 0] >= 0:
            raise ValueError(f"node {node} is already split")
        pts, sc = self.window(node)
        n = len(pts)
        best: tuple[float, int, float, float, float] | None = None
        if self.cuts == "region":
            best = self._best_region_cut(node, pts, sc, rng)
        for _attempt in range(4 if self.cuts == "valid" else 0):  # a few rounds of n_cuts candidates until some are valid
            dims, values = self.candidate_cuts(node, rng, self.n_cuts)
            if not len(dims):
                break
            score, n_low, lp_lo, lp_hi, significant = self._score_cuts(pts, sc, dims, values)
            valid = (n_low >= self.min_points) & (n - n_low >= self.min_points)
            if valid.any():
                if self.min_gap > 0:
                    valid &= np.abs(lp_lo - lp_hi) >= self.min_gap
                if self.split_alpha > 0:
                    valid &= significant
                if not valid.any():
                    break
                cand = np.flatnonzero(valid)
                j = int(cand[np.argmax(score[cand])])
                best = (float(score[j]), int(dims[j]), float(values[j]), float(lp_lo[j]), float(lp_hi[j]))
                break
        if best is None:
            self._forget(node)
            self.n_failed_splits += 1
            return False
        _, dim, value, lp_lo, lp_hi = best
        if self.n_nodes + 2 > len(self.low):
            self._grow()
        kids = np.array([self.n_nodes, self.n_nodes + 1], dtype=np.int64)
        self.n_nodes += 2
        low_side = pts[:, dim] <= value
        for kid, mask, lp in zip(kids, (low_side, ~low_side), (lp_lo, lp_hi)):
            self.low[kid] = self.low[node]
            self.high[kid] = self.high[node]
            self.parent[kid] = node
            self.depth[kid] = self.depth[node] + 1
            self.children[kid] = -1
            self.split_dim[kid] = -1
            m = int(mask.sum())
            self._x[kid, :m] = pts[mask]
            self._y[kid, :m] = sc[mask]
            self._start[kid], self._end[kid] = 0, m
            self.total[kid] = m
            self.lp[kid] = lp  # the LP of the chosen cut's child (not of the last attempted cut)
        self.high[kids[0], dim] = value
        self.low[kids[1], dim] = value
        if self.noise_z > 0:
            self._refresh_lp(kids, lp=False)
        self.children[node] = kids
        self.split_dim[node] = dim
        self.split_value[node] = value
        self.n_splits += 1
        return True

    def _forget(self, node: int) -> None:
        e = int(self._end[node])
        s = max(int(self._start[node]), e - self.keep)
        drop = max(1, int(self.max_points * self.discard))
        self._start[node] = min(e, s + drop)

    # ------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """All arrays needed to resume exactly (copies, trimmed to the nodes in use)."""
        n = self.n_nodes
        out: dict[str, Any] = {"n_nodes": n, "n_splits": self.n_splits, "n_failed_splits": self.n_failed_splits,
                               "binary": self.binary}
        for k in self._ARRAYS:
            out[k.lstrip("_")] = getattr(self, k)[:n].copy()
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output; raises ``ValueError`` (changing nothing) if it does not fit."""
        n = int(state["n_nodes"])
        if n < 1:
            raise ValueError("a region tree has at least its root")
        shapes = {"low": (n, self.dim), "high": (n, self.dim), "parent": (n,), "children": (n, 2),
                  "split_dim": (n,), "split_value": (n,), "depth": (n,), "lp": (n,), "spread": (n,),
                  "total": (n,), "x": (n, self._buf, self.dim), "y": (n, self._buf), "start": (n,), "end": (n,)}
        arrays = {}
        for k, shape in shapes.items():
            if k == "spread" and k not in state:  # saved before the spread was kept: recomputed below
                continue
            a = np.asarray(state[k])
            if a.shape != shape:
                raise ValueError(f"region tree entry {k!r} has shape {a.shape}, expected {shape}")
            arrays[k] = a
        ch = arrays["children"]
        if ((ch >= n) | (ch < -1)).any() or (arrays["end"] > self._buf).any() or (arrays["start"] > arrays["end"]).any():
            raise ValueError("region tree arrays are inconsistent")
        # a split appends its two children after their parent: a child at or before its parent (a node its own
        # child) sent every leaf lookup round a loop forever
        node, links = np.arange(n), ch.astype(np.int64)  # as the tree's integer arrays will hold them
        inner = links[:, 0] >= 0
        if ((links[:, 1] >= 0) != inner).any() or (links[inner] <= node[inner, None]).any() \
                or (arrays["parent"].astype(np.int64)[links[inner]] != node[inner, None]).any() \
                or (arrays["split_dim"][inner] < 0).any():
            raise ValueError("region tree links are inconsistent (a child must come after its parent and name it)")
        low, high, sd = arrays["low"], arrays["high"], arrays["split_dim"]
        if not (np.isfinite(arrays["x"]).all() and np.isfinite(arrays["y"]).all()) or (arrays["start"] < 0).any() \
                or not ((0.0 <= low) & (low <= high) & (high <= 1.0)).all() or ((sd < -1) | (sd >= self.dim)).any():
            raise ValueError("region tree bounds, split dimensions or stored points are out of range")
        # (a NaN learning progress was taken and made the beliefs NaN; a negative one or count shown as it was)
        for k in ("lp", "spread", "total", "depth"):
            if k in arrays and not (np.isfinite(arrays[k]) & (arrays[k] >= 0)).all():
                raise ValueError(f"region tree entry {k!r} must hold finite numbers >= 0")
        n_splits, n_failed = (saved_count(f"saved {k}", state.get(k, 0))
                              for k in ("n_splits", "n_failed_splits"))
        cap = 8
        while cap < n:
            cap *= 2
        self._alloc(cap)
        for k in self._ARRAYS:
            if k.lstrip("_") in arrays:
                getattr(self, k)[:n] = arrays[k.lstrip("_")]
        self.n_nodes = n
        if "spread" not in arrays:
            self._refresh_lp(np.arange(n), lp=False)
        self.n_splits, self.n_failed_splits = n_splits, n_failed
        if "binary" in state:
            self.binary = bool(state["binary"])
        else:  # saved before the flag existed: judge by the root's remembered scores
            _, y = self.window(0)
            self.binary = bool(((y == 0.0) | (y == 1.0)).all())

    def summary(self, nodes: np.ndarray | None = None) -> list[dict[str, Any]]:
        """JSON-friendly description of regions: bounds, LP, count, leaf flag, depth."""
        idx = self._node_ids(nodes)
        leaf = self.children[idx, 0] < 0
        cnt = self.count(idx)
        return [
            {"id": int(i), "low": self.low[i].tolist(), "high": self.high[i].tolist(), "lp": float(self.lp[i]),
             "count": int(c), "leaf": bool(lf), "depth": int(self.depth[i])}
            for i, c, lf in zip(idx, cnt, leaf)
        ]
