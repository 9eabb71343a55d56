"""Frontier: sample tasks of intermediate predicted competence (continuous spaces).

Every teacher of learning progress keeps sampling a task while its score still
rises, also after the learner has mastered it, and it samples scatter (noise,
regions that mix finished and unreachable tasks) as if it were progress. This
teacher asks another question: *where is the learner neither failing nor
succeeding?* It predicts the learner's competence anywhere in the space from
what it has seen, and proposes tasks whose prediction lies in a band
``[low, high]`` of the normalised score range.

* **Prediction.** A bounded history (``magister.history.History``) of
  ``history_size`` recent (task, score) pairs in unit coordinates. The
  predicted competence of a point is the mean score of its ``k`` nearest
  stored tasks, each weighted by ``exp(-age / recency)`` (``age`` in
  episodes), so a region's newest scores count most and the prediction follows
  forgetting (neighbours tied at the k-th distance are the newest of them). Between a mastered region and an unreached one the neighbours
  mix both, so the boundary between them, the learner's frontier, is
  predicted intermediate even where nothing was tried yet.
* **Relevance of each dimension** (``relevance=True``). Every
  ``relevance_every`` episodes each dimension is tested: does its own
  coordinate, cut into ``bins`` bins, explain clearly more of the history's
  score variance than bins of pure noise would? Distances use only the
  dimensions that do (all of them while none does), so dimensions the learner
  ignores do not dilute the neighbours, and a perturbation redraws an ignored
  dimension uniformly instead of copying it.
* **Proposals.** With probability ``random_ratio`` a proposal is uniform.
  Otherwise ``n_candidates`` candidates are drawn: a share
  ``perturb_share`` near the last ``sources`` observed tasks whose predicted
  competence (their own score included) was in the band (Gaussian,
  ``perturb_std`` in unit coordinates), the rest uniform. Among those predicted in the band
  one is picked in proportion to ``p (1 - p)``; if none is, the one with the
  largest ``p (1 - p)`` (the nearest to the band, so the first tasks that move
  off zero are followed). Before ``bootstrap`` episodes every proposal is
  uniform.

What differs from GoalGAN (Florensa et al., 2018), which also samples goals of
intermediate success (its band is 0.1 to 0.9): no generator network and no
discriminator; the "goals of intermediate difficulty" are found by a
nearest-neighbour prediction over recent outcomes, filtered from random and
perturbed candidates, re-estimated every proposal (GoalGAN labels goals by
evaluating them and retrains its GAN between iterations); candidates are
weighted by ``p (1 - p)`` inside the band rather than taken uniformly; and
dimensions are weighted by their measured relevance. Scores are in [0, 1]
(``score_range`` maps others there), so the band never refers to a learner's
own mastery threshold.

Defaults (``k=5``, ``history_size=500``, ``recency=50``) were chosen on the
suite's grid, grid-hard, grid-noise-0.1 and grid-forget variants on seeds
100-102 only, among the settings listed in ``docs/teachers-frontier.md``: a
short memory works best, as a region's old scores (taken while it was being
learned) otherwise keep a mastered region in the band.

Cost per proposal: one weighted distance matrix between ``n_candidates``
candidates and at most ``history_size`` stored tasks (the stored tasks' weighted
rows and norms are kept between predictions, one row appended per observation).
A very large batch
(``propose(k)`` with more than about ``2**20 / (n_candidates x dim)`` guided
proposals, 2,730 with the defaults in 12 dimensions) is drawn a block of
proposals at a time, so its memory stays a few times that of the tasks
returned (``propose(500_000)`` in 12 dimensions held all 16 million
candidates at once, 4 GB). The blocks draw exactly the numbers one batch
draws (each kind of draw from its own place in the generator's stream), so
the proposals, and the generator's state after them, are the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..averages import refuse_outside_unit
from ..errors import ConfigError, InvalidTaskError
from ..history import History
from ..settings import MAX_SIZE, flag, fraction, number, size, whole
from ..spaces import unit_rows
from ..teacher import Teacher, register

__all__ = ["Frontier", "dimension_relevance"]


def dimension_relevance(x: np.ndarray, y: np.ndarray, bins: int = 8) -> np.ndarray:
    """Weight 1 or 0 per column of ``x`` (unit coordinates): 1 where ``bins`` equal bins of that column
    explain clearly more of the variance of ``y`` than bins of pure noise would, 0 elsewhere. All ones when
    no column does (nothing learned yet, or too few points).

    The explained share of a column (``eta^2``, between-bin over total variance) is, for a column the
    scores do not depend on, about ``(bins - 1) / (n - 1)`` with a standard deviation of about
    ``sqrt(2 (bins - 1)) / (n - 1)``; a column counts when its share exceeds that mean by 4 standard
    deviations. Weights are all or nothing: the share of a relevant column depends on the shape of what
    the learner has mastered (a frontier along one axis), not on how much the column matters."""
    n, d = x.shape
    centred = y - y.mean()
    var = float((centred ** 2).sum())
    if n <= bins or var <= 0.0:
        return np.ones(d)
    idx = np.minimum((x * bins).astype(np.int64), bins - 1)
    eta = np.empty(d)
    for j in range(d):
        counts = np.bincount(idx[:, j], minlength=bins)
        sums = np.bincount(idx[:, j], weights=centred, minlength=bins)
        used = counts > 0
        eta[j] = float((sums[used] ** 2 / counts[used]).sum()) / var
    relevant = eta > ((bins - 1) + 4.0 * np.sqrt(2.0 * (bins - 1))) / (n - 1)
    return relevant.astype(float) if relevant.any() else np.ones(d)


#: entries of the candidates x history distance matrix computed at once (512 kB of floats: it stays in the cache,
#: which made predicting for ``propose(100_000)`` 3-4 times faster than blocks of 32 MB, each row's figures the same)
_BLOCK = 1 << 16

#: candidate coordinates drawn at once by a large ``propose(k)`` (8 MB of floats: ``k x n_candidates x dim`` of them at
#: once, with their perturbations, took 4 GB for ``propose(500_000)`` in 12 dimensions); a batch within it is one block
_CANDIDATE_BLOCK = 1 << 20


def _nearest(d2: np.ndarray, k: int) -> np.ndarray:
    """Columns of the ``k`` smallest entries of each row of ``d2`` (columns oldest first), ties at the k-th distance
    going to the newest columns (as ``History`` breaks ties).

    ``np.argpartition`` alone took any ``k`` of tied neighbours: on a finite dimension (a ``MultiDiscrete``, or a
    ``Discrete`` entry of a ``Dict``) every earlier episode of a task is at the same distance, and the prediction of
    a cell could read its oldest scores (0.0 after 20 straight successes following 100 failures). Rows without a tie
    at the k-th distance keep ``argpartition``'s answer."""
    part = np.argpartition(d2, k - 1, axis=1)
    kth = d2[np.arange(len(d2)), part[:, k - 1]][:, None]  # the k-th smallest distance of each row
    near = part[:, :k]
    within = d2 <= kth  # each row's k nearest at least (none in a row of NaN)
    # one count over the block first (a row-wise count cost a tenth of a proposal): a row has more than k within
    # its k-th distance, a tie at it, only where the block has more than k a row (a NaN row has fewer: counted)
    if np.count_nonzero(within) > k * len(d2) or np.isnan(kth).any():
        tied = np.flatnonzero(np.count_nonzero(within, axis=1) > k)
        if len(tied):
            sub, edge = d2[tied], kth[tied]
            less, equal = sub < edge, sub == edge
            need = k - less.sum(axis=1)
            from_newest = np.cumsum(equal[:, ::-1], axis=1)[:, ::-1]  # 1 for the newest tied column
            take = less | (equal & (from_newest <= need[:, None]))
            near[tied] = np.nonzero(take)[1].reshape(len(tied), k)
    return near


@register("frontier")
class Frontier(Teacher):
    """Propose tasks whose predicted competence (recency-weighted nearest neighbours) lies in a band, weighted
    by p (1 - p), with per-dimension relevance weights (continuous spaces)."""

    conformance_kwargs = {"bootstrap": 20, "history_size": 150, "relevance_every": 25, "n_candidates": 16}

    def __init__(self, space, *, seed=None, score_range=None, low: float = 0.1, high: float = 0.9, k: int = 5,
                 history_size: int = 500, recency: float = 50.0, n_candidates: int = 32,
                 perturb_share: float = 0.5, perturb_std: float = 0.05, random_ratio: float = 0.1,
                 bootstrap: int = 100, sources: int = 100, relevance: bool = True, relevance_every: int = 250,
                 bins: int = 8):
        super().__init__(space, seed=seed, score_range=score_range)
        self.low = fraction("low", low)
        self.high = fraction("high", high)
        if not self.low < self.high:
            raise ConfigError(f"the band needs low < high, got low={low!r}, high={high!r}")
        self.k = whole("k", k)
        self.history_size = size("history_size", history_size, why="frontier keeps that many (task, score) pairs in "
                                 "arrays allocated up front, and compares every candidate with all of them")
        self.recency = number("recency", recency, 0.0, low_open=True, hint="episodes for a weight to fall by e")
        self.n_candidates = size("n_candidates", n_candidates, limit=MAX_SIZE // 100,
                                 why="every guided proposal draws that many candidates and compares each with the "
                                     "whole history")
        self.perturb_share = fraction("perturb_share", perturb_share)
        self.perturb_std = number("perturb_std", perturb_std, 0.0, 1.0, hint="a standard deviation in unit "
                                  "coordinates")
        self.random_ratio = fraction("random_ratio", random_ratio)
        self.bootstrap = whole("bootstrap", bootstrap, 0)
        self.relevance = flag("relevance", relevance)
        self.relevance_every = whole("relevance_every", relevance_every)
        self.bins = whole("bins", bins, 2)
        self.d = space.dim
        self.history = History(self.d, self.history_size)
        #: recent observed tasks whose predicted competence was in the band: centres of perturbed candidates
        self.sources = History(self.d, size("sources", sources, why="frontier keeps that many in-band tasks in arrays "
                                                          "allocated up front"))
        self.weights = np.ones(self.d)
        # _stored(): its arrays, and what they were computed from (history, its stamp, total and length, weights)
        self._stored_key: tuple[Any, ...] = (None, None, -1, -1, b"")
        self._s = self._hy = self._b = self._bb = np.zeros(0)
        self._decays = np.zeros(0)  # _decay()

    # ------------------------------------------------------------- predicting
    def predict(self, x: Any) -> np.ndarray:
        """Predicted competence in [0, 1] of each row of ``x`` (unit coordinates, shape ``(m, dim)``, or one vector of
        ``dim`` numbers); NaN while nothing has been observed. Another shape is an
        :class:`~magister.errors.InvalidTaskError`."""
        q = unit_rows(x, self.d, self)  # (text, or a count of numbers no whole rows make: numpy's errors before)
        shape = np.shape(x)
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != self.d) or (len(shape) == 1 and self.d > 1
                                                                             and shape[0] != self.d):
            # (4 numbers of a 2-D space were read as two points)
            raise InvalidTaskError(f"predict takes unit vectors of shape (m, {self.d}) (one row per task) or one "
                                   f"of {self.d} numbers, got shape {shape}")
        n = len(self.history)
        if n == 0:
            return np.full(len(q), np.nan)
        hy, s, b, bb = self._stored()
        kk = min(self.k, n)
        # the distance matrix of a block of rows at a time: propose(k) asks about k x n_candidates rows, and all of
        # them against a long history at once took k x n_candidates x history_size floats (GBs); each row's
        # figures are its own, so blocks give the same predictions (one block in the default use)
        step = max(1, _BLOCK // n)
        out = np.empty(len(q))
        for i in range(0, len(q), step):
            a = q[i:i + step] * s
            # (aa + bb) - 2 (a b^T), as one expression computes it, without its two temporary matrices
            d2 = a @ b.T
            d2 *= 2.0
            np.subtract((a * a).sum(1)[:, None] + bb, d2, out=d2)
            near = _nearest(d2, kk) if kk < n else np.broadcast_to(np.arange(n), (len(a), n))
            w = self._decay(n)[near]  # exp(-age / recency)
            total = w.sum(1)
            gone = total < np.finfo(float).tiny  # every neighbour so old its weight underflowed (was 0/0 = NaN)
            if gone.any():  # the same relative weights, counted from the youngest neighbour
                age = n - 1 - near  # the newest stored task has age 0
                w[gone] = np.exp(-(age[gone] - age[gone].min(1, keepdims=True)) / self.recency)
                total = w.sum(1)
            out[i:i + step] = (w * hy[near]).sum(1) / total
        return out

    def _stored(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(y, sqrt(weights), b = x sqrt(weights), (b * b).sum(1)[None, :])`` of the history, oldest first.

        Every prediction computed them again from the whole history (a fifth of a proposal's time on the grid).
        They are kept for the history and weights they were computed from: one pair appended since (an
        observation) appends its row, shifting the rest by one where the history is full; any other change (new
        weights, a loaded state, another history) computes them again. A row's figures depend on that row
        alone, so they are the same numbers."""
        h, n, weights = self.history, len(self.history), self.weights.tobytes()
        key = (h, h.stamp, h.total, n, weights)
        if key != self._stored_key:
            was = self._stored_key
            if was[:2] == key[:2] and was[4] == weights and h.total == was[2] + 1:  # one pair appended
                if n == was[3]:  # the history was full: the oldest pair dropped out
                    self._b[:n - 1], self._bb[0, :n - 1], self._hy[:n - 1] = self._b[1:n], self._bb[0, 1:n], \
                        self._hy[1:n]
                x, y = h.newest()
                row = (x * self._s)[None, :]
                self._b[n - 1], self._bb[0, n - 1], self._hy[n - 1] = row[0], (row * row).sum(1)[0], y
            else:
                self._s = np.sqrt(self.weights)
                b = h.x * self._s
                self._b, self._bb, self._hy = np.empty((h.capacity, self.d)), np.empty((1, h.capacity)), \
                    np.empty(h.capacity)
                self._b[:n], self._bb[0, :n], self._hy[:n] = b, (b * b).sum(1), h.y
            self._stored_key = key
        return self._hy[:n], self._s, self._b[:n], self._bb[:, :n]

    def _decay(self, n: int) -> np.ndarray:
        """``exp(-age / recency)`` of the ``n`` stored columns (oldest first: age ``n - 1`` down to 0), computed
        once for every age: the same numbers as computed per neighbour."""
        if len(self._decays) < n:
            self._decays = np.exp(-np.arange(max(n, min(2 * len(self._decays), self.history_size))) / self.recency)
        return self._decays[n - 1::-1]

    # -------------------------------------------------------------- proposing
    def _n_perturbed(self) -> int:
        """Candidates per proposal drawn near in-band observed tasks (0 while there is none)."""
        return int(round(self.n_candidates * self.perturb_share)) if len(self.sources) else 0

    def _candidates(self, m: int, rngs: tuple[np.random.Generator, ...] | None = None) -> np.ndarray:
        """``(m, n_candidates, dim)`` candidates: perturbed recent in-band observed tasks, then uniform draws.

        ``rngs``: the generators of the uniform draws, the sources' indices and the perturbations (all the
        teacher's own by default; the blocks of a large batch give each its own place in the stream)."""
        uniform, index, normal = rngs or (self.rng,) * 3
        c = self.n_candidates
        out = uniform.random((m, c, self.d))
        n_src = len(self.sources)
        p = self._n_perturbed()
        if p:
            src = self.sources.rows(index.integers(0, n_src, size=(m, p)))
            moved = src + normal.normal(0.0, self.perturb_std, size=src.shape)
            keep = self.weights > 0  # a dimension the learner ignores is redrawn (already uniform in `out`)
            if keep.all():
                out[:, :p] = np.clip(moved, 0.0, 1.0, out=moved)
            else:
                out[:, :p, keep] = np.clip(moved[:, :, keep], 0.0, 1.0)
        return out

    def _choose(self, cands: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """The candidate chosen in each row of ``cands`` (``(m, n_candidates, dim)``), picks drawn from ``rng``."""
        m = len(cands)
        p = self.predict(cands.reshape(-1, self.d)).reshape(m, self.n_candidates)
        value = p * (1.0 - p)
        inband = (p >= self.low) & (p <= self.high)
        w = np.where(inband, value, 0.0)
        return cands[np.arange(m), self._pick(w, value, rng)]

    def _propose(self, k: int) -> np.ndarray:
        out = self.rng.random((k, self.d))
        if self.n_observed < self.bootstrap or len(self.history) == 0:
            return out
        guided = np.flatnonzero(self.rng.random(k) >= self.random_ratio)
        if not len(guided):
            return out
        step = max(1, _CANDIDATE_BLOCK // (self.n_candidates * self.d))
        if len(guided) <= step:
            out[guided] = self._choose(self._candidates(len(guided)))
        else:
            self._choose_in_blocks(out, guided, step)
        return out

    def _choose_in_blocks(self, out: np.ndarray, guided: np.ndarray, step: int) -> None:
        """``out[guided] = self._choose(self._candidates(len(guided)))`` with the same draws, ``step`` rows at a
        time.

        One batch draws every uniform candidate, then every source index, then every perturbation, then the
        picks. Each kind gets a generator started where the batch starts it, found by drawing the kinds before
        it (a block at a time, discarded): a kind's draws in consecutive calls are the numbers of one call
        (checked for every numpy bit generator, the integers' half-used 32-bit words included, as they are kept
        in the generator's state), so every block draws what its rows draw in one batch. The teacher's generator
        ends where the picks' does, as after one batch."""
        m, c, d = len(guided), self.n_candidates, self.d
        p = self._n_perturbed()

        def after(rng: np.random.Generator, draw) -> np.random.Generator:
            nxt = np.random.Generator(type(rng.bit_generator)())
            nxt.bit_generator.state = rng.bit_generator.state
            for i in range(0, m, step):
                draw(nxt, min(step, m - i))
            return nxt

        index = after(self.rng, lambda g, n: g.random((n, c, d)))
        normal = after(index, lambda g, n: g.integers(0, len(self.sources), size=(n, p))) if p else index
        picks = after(normal, lambda g, n: g.normal(0.0, self.perturb_std, size=(n, p, d))) if p else normal
        for i in range(0, m, step):
            rows = guided[i:i + step]
            out[rows] = self._choose(self._candidates(len(rows), (self.rng, index, normal)), picks)
        self.rng.bit_generator.state = picks.bit_generator.state

    def _pick(self, w: np.ndarray, value: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """The candidate picked in each row: in proportion to ``w`` (one uniform draw), or where no weight is
        positive the one of largest ``value`` (one draw among ties, none without); draws from ``rng`` (the
        teacher's generator by default).

        Vectorised, with the draws the row by row rule makes in the same order (a row loop took seconds for
        ``propose(100_000)``): a run of rows that draw the same way takes its draws in one call, which gives
        the same numbers as one call per row, and rows that draw nothing do not break a run."""
        rng = self.rng if rng is None else rng
        m, c = w.shape
        total = w.sum(1)
        if m == 1:  # one proposal: the same rule and draws without the bookkeeping of runs (a third of _pick)
            if total[0] > 0:
                share = np.cumsum(w, 1) / total[:, None] <= rng.random(1)[:, None]
                return np.array([min(int(np.count_nonzero(share)), c - 1)])
            best = value == value.max(1, keepdims=True)
            n_best = best.sum(1)
            r = rng.integers(0, n_best[0], size=1) if n_best[0] > 1 else np.zeros(1, dtype=np.int64)
            return np.argmax(best & (np.cumsum(best, 1) == r[:, None] + 1), axis=1)
        weighted = total > 0
        best = value == value.max(1, keepdims=True)
        n_best = best.sum(1)
        # what each row draws: 0 nothing, 1 a uniform number, > 1 an integer below n_best
        kind = np.where(weighted, 1, np.where(n_best > 1, n_best, 0))
        draws = np.flatnonzero(kind)
        u = np.zeros(m)
        r = np.zeros(m, dtype=np.int64)
        if len(draws):
            kinds = kind[draws]
            starts = [0, *(np.flatnonzero(kinds[1:] != kinds[:-1]) + 1).tolist()]
            for a, b in zip(starts, starts[1:] + [len(draws)]):
                rows = draws[a:b]
                if kind[rows[0]] == 1:
                    u[rows] = rng.random(len(rows))
                else:
                    r[rows] = rng.integers(0, kind[rows[0]], size=len(rows))
        # weighted: the first candidate whose cumulative share exceeds the draw (searchsorted, side="right")
        j_weighted = np.minimum((np.cumsum(w, 1) / np.where(weighted, total, 1.0)[:, None] <= u[:, None]).sum(1),
                                c - 1)
        # nothing in the band: the r-th of the candidates nearest to it (r = 0 without ties)
        j_best = np.argmax(best & (np.cumsum(best, 1) == r[:, None] + 1), axis=1)
        return np.where(weighted, j_weighted, j_best)

    # -------------------------------------------------------------- observing
    def _observe(self, x: np.ndarray, scores: np.ndarray) -> None:
        # one pair at a time, so that a batch equals one observe per episode (relevance refits included)
        for xi, si in zip(x, scores):
            self.history.add_one(xi, si)
            p = float(self.predict(xi[None])[0])  # the task's competence, its own new score included
            if self.low <= p <= self.high:
                self.sources.add_one(xi, p)
            if self.relevance and self.history.total % self.relevance_every == 0:
                self.weights = dimension_relevance(self.history.x, self.history.y, self.bins)

    # ------------------------------------------------------------------ state
    def _get_state(self) -> dict[str, Any]:
        return {"history": self.history.state_dict(), "sources": self.sources.state_dict(),
                "weights": self.weights.copy()}

    def _set_state(self, state: dict[str, Any]) -> None:
        weights = np.asarray(state["weights"], dtype=float).reshape(-1)
        if weights.shape != (self.d,):
            raise ValueError(f"relevance weights have {weights.shape[0]} entries, the space has {self.d} dimensions")
        if not (np.isfinite(weights).all() and (weights >= 0).all()):
            raise ValueError(f"relevance weights must be finite and >= 0, got {weights.tolist()}")
        self.history.load_state_dict(state["history"])
        self.sources.load_state_dict(state["sources"])
        for key, h, values in (("history", self.history, "scores"), ("sources", self.sources, "competences")):
            refuse_outside_unit(f"{key}.x", h.x, "stored tasks (in unit coordinates)")
            refuse_outside_unit(f"{key}.y", h.y, f"stored {values}")  # (1e300 was taken: predictions overflowed)
        self.weights = weights.copy()

    def _beliefs(self) -> dict[str, Any]:
        return {"kind": "frontier", "band": [self.low, self.high], "relevance": self.weights.copy(),
                "history": len(self.history), "sources": len(self.sources)}
