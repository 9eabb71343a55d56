"""GridStudent: the simulated learner of the ALP-GMM paper (Portelas et al., 2019).

The default reproduces the reference rules exactly (figures beside the
published ones: ``docs/bench.md``, "Results on the grid student"): a 2-D unit
square cut into 10 x 10 cells, each with a competence counter in 0..100.
Practising a cell raises its counter by one if it is the origin cell, or if
at least one *previous neighbour* (index ``c_i``
or ``max(0, c_i - 1)`` in every dimension, not the cell itself) has a counter
of at least 75. The episode's score is the counter / 100 after the update; a
cell is mastered when its counter is above 75.

Options make the learner messier so teachers can be judged for robustness:
``dims`` and ``distractors`` (extra ignored coordinates), Gaussian ``noise``
on the reported score, ``forgetting`` (every episode, every cell not practised
loses this much counter), a fraction of ``unlearnable`` cells whose counter
never grows, and the ``threshold`` / ``cap``.
"""

from __future__ import annotations

import copy
import functools
import itertools
import math
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..rng import SeedLike, as_generator
from ..settings import MAX_CELLS, MAX_TASKS, number, size, whole
from ..spaces import Box
from .base import StudentBase


@functools.cache
def _most_dims() -> int:
    """The most coordinates numpy numbers a cell by (``np.ravel_multi_index``, one below numpy's most array
    dimensions: 63 on numpy 2, 31 on numpy 1.x), found once by trying."""
    n = 64
    while n > 1:
        try:
            np.ravel_multi_index((0,) * n, (1,) * n)
            return n
        except ValueError:  # "too many dimensions passed to ravel_multi_index", or past numpy's own maximum
            n -= 1
    return n


class GridStudent(StudentBase):
    """A grid of competence counters with prerequisite neighbours."""

    def __init__(
        self,
        dims: int = 2,
        cells: int = 10,
        *,
        distractors: int = 0,
        noise: float = 0.0,
        forgetting: float = 0.0,
        unlearnable: float = 0.0,
        threshold: float = 75.0,
        cap: float = 100.0,
        seed: SeedLike = None,
    ):
        dims, cells = whole("dims", dims), whole("cells", cells)
        # (distractors=10**10 was numpy's MemoryError for a 74.5 GiB Box, its message saying distractors cost nothing)
        distractors = size("distractors", distractors, 0, why="each distractor is one more coordinate of every task")
        unlearnable = number("unlearnable", unlearnable, 0.0, 1.0, high_open=True, hint="a fraction of cells")
        noise, forgetting = number("noise", noise, 0.0), number("forgetting", forgetting, 0.0)
        threshold, cap = number("threshold", threshold), number("cap", cap)
        if not 0 < threshold < cap:
            raise ConfigError(f"need 0 < threshold < cap, got threshold={threshold}, cap={cap}")
        # (cells ** dims itself: dims=5000 failed formatting a number of 5,001 digits, dims=10**8 ran for minutes)
        digits = dims * math.log10(cells)  # (about: how many digits cells ** dims has)
        if digits > 40 or cells ** dims > MAX_TASKS:  # was numpy's MemoryError, or hours building the neighbour lists
            count = f" (a number of {math.floor(digits) + 1} digits)" if digits > 40 else f" = {cells ** dims}"
            raise ConfigError(f"GridStudent(dims={dims}, cells={cells}) has {cells} ** {dims}{count} cells; "
                              f"at most {MAX_TASKS} (each keeps a counter and its list of previous neighbours): use "
                              f"fewer dims or cells (distractors add no cells)")
        # a cell has up to 2 ** dims - 1 previous neighbours: dims=19, cells=2 (524,288 cells) ran for hours building
        # 1.2e9 of them (9 GB); in all (2 * cells - 1) ** dims - cells ** dims (each coordinate c > 0 gives c, c - 1)
        links = (2 * cells - 1) ** dims - cells ** dims
        if links > MAX_CELLS:
            raise ConfigError(f"GridStudent(dims={dims}, cells={cells}) has {links} previous-neighbour links in all "
                              f"((2 * cells - 1) ** dims - cells ** dims); at most {MAX_CELLS} (each cell keeps the "
                              f"list of its own): use fewer dims")
        # (only a grid of one cell per dim gets here with many: dims=65 built, then every attempt failed in numpy's
        # raw "maximum supported dimension for an ndarray is currently 64", dims=64 in ravel_multi_index's)
        if dims > _most_dims():
            raise ConfigError(f"GridStudent(dims={dims}, cells={cells}): numpy numbers a cell by at most "
                              f"{_most_dims()} coordinates; use fewer dims (distractors add coordinates that are "
                              f"not cells)")
        self.dims, self.cells, self.distractors = int(dims), int(cells), int(distractors)
        self.noise, self.forgetting = float(noise), float(forgetting)
        self.threshold, self.cap = float(threshold), float(cap)
        self.rng = as_generator(seed)
        self.space = Box(np.zeros(self.dims + self.distractors), np.ones(self.dims + self.distractors))
        shape = (self.cells,) * self.dims
        self.n_cells = int(np.prod(shape))
        self.counters = np.zeros(self.n_cells, dtype=float)
        self.learnable = np.ones(self.n_cells, dtype=bool)
        if unlearnable > 0:
            k = int(round(unlearnable * (self.n_cells - 1)))
            choice = self.rng.choice(np.arange(1, self.n_cells), size=k, replace=False)
            self.learnable[choice] = False
        # previous neighbours of every cell, as flat indices
        self._prev: list[np.ndarray] = []
        for idx in itertools.product(range(self.cells), repeat=self.dims):
            options = [sorted({c, max(0, c - 1)}) for c in idx]
            neigh = [n for n in itertools.product(*options) if n != idx]
            self._prev.append(np.array([np.ravel_multi_index(n, shape) for n in neigh], dtype=np.int64))
        self._shape = shape
        self.episodes = 0

    def previous_neighbours(self, cell: int) -> np.ndarray:
        """Flat indices of the previous neighbours of ``cell`` (its prerequisites)."""
        return self._prev[int(cell)].copy()

    def reachable(self) -> np.ndarray:
        """Mask of cells that can ever be mastered: learnable and linked to the origin
        through learnable previous neighbours (cells are numbered so predecessors come first)."""
        reach = np.zeros(self.n_cells, dtype=bool)
        reach[0] = bool(self.learnable[0])
        for c in range(1, self.n_cells):
            reach[c] = bool(self.learnable[c]) and bool(reach[self._prev[c]].any())
        return reach

    def cell_of(self, task: Any) -> int:
        x = np.asarray(task, dtype=float)[: self.dims]
        idx = np.minimum((x * self.cells).astype(np.int64), self.cells - 1)
        idx = np.maximum(idx, 0)
        return int(np.ravel_multi_index(tuple(idx), self._shape))

    def attempt(self, task: Any) -> float:
        c = self.cell_of(self.space.validate(task))
        if self.forgetting > 0:
            practised = self.counters[c]
            np.maximum(self.counters - self.forgetting, 0.0, out=self.counters)
            self.counters[c] = practised
        if self.learnable[c]:
            if c == 0:
                grow = True
            else:
                prev = self._prev[c]
                grow = bool((self.counters[prev] >= self.threshold).any())
            if grow:
                self.counters[c] = min(self.cap, self.counters[c] + 1.0)
        self.episodes += 1
        score = self.counters[c] / self.cap
        if self.noise > 0:
            score = float(np.clip(score + self.rng.normal(0.0, self.noise), 0.0, 1.0))
        return float(score)


    def _oracle(self, budget: int, fill: bool, schedule: list[tuple[int, int]] | None = None) -> float:
        """One greedy schedule for :meth:`best_mastery`; ``fill``: practise each cell up to the cap.

        The oracle knows every counter: it always practises a learnable cell whose
        prerequisites are met and that is not mastered, preferring the one closest to
        mastery (so a cell that lapsed through forgetting is refreshed first), and not one it
        could no longer master in the episodes left (with forgetting they go to banking margin). Without
        forgetting this is the physical best (every cell needs ``threshold + 1`` useful
        episodes, in prerequisite order); with forgetting it is the better of two greedy
        schedules (each cell just past the threshold, or up to the cap as a margin against
        forgetting), not a proven optimum. With forgetting it runs the student's own arithmetic episode by
        episode (:meth:`_practise`), so replaying its schedule on the student gives exactly its figure.
        Nothing of this student changes (it runs on a copy).
        """
        counters = copy.deepcopy(self.counters)
        n, f, thr, cap = self.n_cells, self.forgetting, self.threshold, self.cap
        width = max((len(p) for p in self._prev), default=0)
        pad = np.full((n, max(width, 1)), n, dtype=np.int64)  # index n: a sentinel that is never ready
        for c, p in enumerate(self._prev):
            pad[c, : len(p)] = p
        ext = np.empty(n + 1)
        origin = np.zeros(n, dtype=bool)
        origin[0] = True
        left = budget
        while left > 0:
            ext[:n] = counters
            ext[n] = -np.inf
            best_prev = ext[pad].max(axis=1)
            # a prerequisite must still be at the threshold after the first step's forgetting
            ready = self.learnable & (origin | (best_prev - f >= thr))
            # a cell that cannot pass the threshold in the episodes left would only let others lapse
            todo = ready & (counters <= thr) & (counters < cap) & (np.floor(thr - counters) + 1 <= left)
            if todo.any():
                c = int(np.flatnonzero(todo)[np.argmax(counters[todo])])
                k = int(np.ceil(cap - counters[c])) if fill else int(np.floor(thr - counters[c])) + 1
            elif f > 0 and (ready & (counters > thr) & (counters < cap)).any():
                bank = ready & (counters > thr) & (counters < cap)  # bank margin on the mastered cell that lapses first
                c = int(np.flatnonzero(bank)[np.argmin(counters[bank])])
                k = int(np.ceil(cap - counters[c]))
            else:
                break
            if f > 0:  # the student's own arithmetic, one episode at a time (see _practise)
                k = self._practise(counters, c, left, until_cap=fill or not todo.any())
                if k == 0:  # (not met: the cell was picked as ready after the first step's forgetting)
                    break
            else:  # (counters stay whole numbers: k practices in one sum are exact)
                k = max(1, min(k, left))
                counters[c] = min(cap, counters[c] + k)
            if schedule is not None:  # (task, practices in a row): replaying it on the student gives the figure
                schedule.append((c, k))
            left -= k
        return float((counters > thr).mean())

    def _practise(self, counters: np.ndarray, c: int, most: int, until_cap: bool) -> int:
        """Practise cell ``c`` on ``counters`` (in place) as :meth:`attempt` would, episode by episode: until it
        passes the threshold (or, ``until_cap``, reaches the cap), ``most`` episodes, or the step whose forgetting
        would leave no prerequisite at the threshold (not taken); returns the episodes taken.

        With forgetting, counters have fractions (forgetting 0.1: 2.8 - 0.1 - 0.1 - 0.1 is not 2.8 - 0.3 in floating
        point), so k practices in one sum could land on the other side of the threshold than k attempts: the
        oracle promised a cell more or less than replaying its own schedule on the student gave."""
        f, thr, cap, prev = self.forgetting, self.threshold, self.cap, self._prev[c]
        taken = 0
        while taken < most:
            if c != 0 and not (np.maximum(counters[prev] - f, 0.0) >= thr).any():
                break
            keep = counters[c]
            np.maximum(counters - f, 0.0, out=counters)
            counters[c] = min(cap, keep + 1.0)
            taken += 1
            if counters[c] >= cap if until_cap else counters[c] > thr:
                break
        return taken

    def mastered(self) -> np.ndarray:
        """Boolean mask of mastered cells (counter strictly above the threshold)."""
        return self.counters > self.threshold

    def mastery(self) -> float:
        """Fraction of all cells mastered (the reference figure, as a fraction)."""
        return float(self.mastered().mean())

    def learnable_mastery(self) -> float:
        """Fraction of the learnable cells mastered."""
        return float(self.mastered()[self.learnable].mean())
