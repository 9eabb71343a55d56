"""Skill-It (Chen et al. 2023): graph-weighted multiplicative weights over skills.

Skills form a graph ``A`` (``A[i][j] > 0`` when training on skill ``i``
helps skill ``j``). The mixture over training skills is::

    p_i  proportional to  exp(eta * sum_j A[i][j] * w_j * L_j)

where ``L_j`` is the recent loss of evaluation skill ``j`` summed over the last
``window`` evaluations and ``w_j`` an optional target weight (a fine-tuning
target keeps only its column: ``target=[0, 0, 1]``). Skills whose dependants
are still bad get more data; a skill whose loss (and whose dependants' loss)
is low gets less.

magister scores are "higher is better" in [0, 1], so the loss of an
observation is ``1 - score``: feed per-skill validation accuracy (loss = error
rate), or a loss mapped into [0, 1] first: ``SkillSampler.observe_eval(...,
kind="loss")`` and ``observe_batch_loss`` do that with the sampler's
``loss_score`` (by default ``exp(-loss)``, so the loss here is ``1 - exp(-loss)``;
a ``ScoreRange(lo, hi, higher_is_better=False)`` scales it linearly). Until a skill has
``window`` observations, its sum is ``window`` times the mean of those it has
(``initial_loss`` when it has none), so ``eta`` keeps one scale throughout.

With ``closure=True`` the update uses the graph's transitive closure: when
``i`` helps ``j`` and ``j`` helps ``k``, ``i`` also helps ``k`` with the
product of the edge weights along the strongest such path. A skill's drive
then counts every skill downstream of it, so a deep prerequisite (the units
digit of an addition, whose carry the hundreds digit needs through the tens)
is learned first. It is off by default (the paper's direct edges): on the
addition benchmark it took Skill-It from x1.26 to x1.33 over stratified
sampling at width 64 (seeds 0-9), but at width 32 it was slower than the
direct edges (x1.00 against x1.19, seeds 0-4; docs/data-mixture.md), and a
default has to hold up on recipes it was not chosen on.

The graph is a constructor argument (a list of lists, JSON-able), given by
hand (the paper uses a chain with 0.5 on the prerequisite edges for LEGO) or
estimated from short probe runs with :func:`magister.data.estimate_skill_graph`.
Without a graph the identity is used (each skill only helps itself): the
teacher then simply favours the skills with the highest loss.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError
from ..settings import few_tasks, flag, number, numbers_only, per_task_size, short_number, weights
from ..teacher import Teacher, register

_MAX_DENSE = 4096


def transitive_closure(graph: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """The skill graph with indirect help: ``C[i][j]`` (``i != j``) is the largest product of edge weights over the
    paths from ``i`` to ``j`` through other skills (at least ``A[i][j]``); the diagonal is ``A``'s.

    A chain ``0 -> 1 -> 2`` with 0.5 on both edges gets 0.25 on ``0 -> 2``. Floyd-Warshall over (max, x) on the
    off-diagonal edges: ``O(n^3)``, only over skills with both incoming and outgoing edges.
    """
    g = np.asarray(graph, dtype=float)
    c = g.copy()
    np.fill_diagonal(c, 0.0)
    for k in range(len(c)):
        col, row = c[:, k].copy(), c[k, :].copy()
        col[k] = row[k] = 0.0
        if col.any() and row.any():
            np.maximum(c, np.outer(col, row), out=c)
    np.fill_diagonal(c, np.diag(g))
    return c


@register("skill-it")
class SkillIt(Teacher):
    """Skill-It online data selection over the skills of a finite space.

    Args:
        graph: ``n x n`` non-negative skill graph (list of lists); ``None`` = identity.
        eta: Step size of the multiplicative weights (paper: 0.1 to 0.5 for losses in nats).
        window: Number of recent evaluations summed into ``L_j``.
        initial_loss: Loss assumed for a skill never observed (in [0, 1]).
        target: Optional weights of the evaluation skills (``None`` = all 1).
        closure: Use the transitive closure of ``graph`` (see :func:`transitive_closure`); ``False`` (the default): its
            direct edges only, as in the paper. ``True`` or ``False`` only (``"false"`` is a ``ConfigError``).
    """

    kind = "discrete"
    conformance_kwargs: dict[str, Any] = {"eta": 2.0}

    def __init__(self, space, *, graph: Sequence[Sequence[float]] | None = None, eta: float = 0.5, window: int = 3,
                 initial_loss: float = 1.0, target: Sequence[float] | None = None, closure: bool = False, seed=None,
                 score_range=None):
        super().__init__(space, seed=seed, score_range=score_range)
        n = few_tasks(space.n, "Skill-It keeps a window of losses per skill")
        self.eta = number("eta", eta, 0.0)
        self.window = per_task_size("window", window, n, why="Skill-It keeps that many losses per skill")
        self.initial_loss = number("initial_loss", initial_loss, 0.0)
        if self.initial_loss > 1.0:
            raise ConfigError(f"initial_loss is a loss in [0, 1] (1 - score), got {initial_loss!r}")
        if graph is None:
            self.graph: np.ndarray | None = None
        else:
            if n > _MAX_DENSE:
                raise ConfigError(f"a dense skill graph over {n} skills is too large (limit {_MAX_DENSE})")
            try:
                if not numbers_only(graph):  # ("0.5" was parsed, 0.5+0j's imaginary part dropped)
                    raise TypeError
                g = np.asarray(graph, dtype=float)
            except (TypeError, ValueError, OverflowError):  # (OverflowError: an int beyond any float)
                raise ConfigError(f"graph must be an n x n list of lists of numbers, got {short_number(graph)}"
                                  ) from None
            if g.shape != (n, n):
                raise ConfigError(f"graph must be {n} x {n} (one row and column per skill of {space!r}), "
                                  f"got shape {g.shape}")
            if not np.isfinite(g).all() or (g < 0).any():
                raise ConfigError("graph entries must be finite and non-negative (A[i][j] > 0: skill i helps j)")
            self.graph = g
        self.closure = flag("closure", closure)  # ("false" or [[...]] from a JSON client was read as True)
        # the graph the update uses: the given one (the default), or its closure
        self.effective_graph: np.ndarray | None = (None if self.graph is None else
                                                   transitive_closure(self.graph) if self.closure else self.graph)
        if target is None:
            self.target: np.ndarray | None = None
        else:
            self.target = weights("target", target, n)
        self.recent = np.full((n, self.window), np.nan)  # newest loss last
        self.seen = np.zeros(n, dtype=np.int64)
        self._probs: np.ndarray | None = None

    # ------------------------------------------------------------ algorithm
    def loss_sums(self) -> np.ndarray:
        """``L_j``: recent loss of each skill summed over the window (see module docstring)."""
        filled = np.minimum(self.seen, self.window)
        sums = np.nansum(self.recent, axis=1)
        mean = np.where(filled > 0, sums / np.maximum(filled, 1), self.initial_loss)
        return self.window * mean

    def probabilities(self) -> np.ndarray:
        """The current mixture ``p``."""
        if self._probs is None:
            loss = self.loss_sums()
            if self.target is not None:
                loss = loss * self.target
            with np.errstate(over="ignore", invalid="ignore"):
                drive = loss if self.effective_graph is None else self.effective_graph @ loss
                logits = self.eta * drive
                if not np.isfinite(logits).all():
                    # eta * drive overflowed (inf - inf was NaN, and propose() raised): shift the drives first,
                    # so the skills below the top get -inf (probability 0)
                    shifted = drive - drive.max() if np.isfinite(drive).all() else \
                        np.where(drive == np.inf, 0.0, -np.inf)
                    # (eta 0 is uniform whatever the drives: 0 * -inf was NaN again)
                    logits = self.eta * shifted if self.eta > 0 else np.zeros_like(drive)
            w = np.exp(logits - logits.max())
            self._probs = w / w.sum()
        return self._probs.copy()

    # ---------------------------------------------------------------- hooks
    def _propose(self, k: int) -> np.ndarray:
        p = self.probabilities()
        return self.rng.choice(len(p), size=k, p=p)

    def _observe(self, x: np.ndarray, scores: np.ndarray) -> None:
        for j, s in zip(x.tolist(), scores.tolist()):
            row = self.recent[j]
            row[:-1] = row[1:].copy()
            row[-1] = 1.0 - s
            self.seen[j] += 1
        self._probs = None

    def _get_state(self) -> dict[str, Any]:
        return {"recent": self.recent.copy(), "seen": self.seen.copy()}

    def _set_state(self, state: dict[str, Any]) -> None:
        recent = np.asarray(state["recent"], dtype=float)
        seen = np.asarray(state["seen"], dtype=np.int64)
        if recent.shape != self.recent.shape or seen.shape != self.seen.shape:
            raise ValueError("Skill-It state does not match this space and window")
        if (np.abs(recent - 0.5) > 0.5).any() or (seen < 0).any():  # NaN marks an empty slot
            raise ValueError("Skill-It losses must be in [0, 1] (NaN for an empty slot) and counts >= 0")
        self.recent, self.seen = recent.copy(), seen.copy()
        self._probs = None

    def _beliefs(self) -> dict[str, Any]:
        return {"kind": "discrete", "tasks": self.space.task_names(), "probability": self.probabilities(),
                "loss": self.loss_sums(), "observed": self.seen.copy(),
                "graph": None if self.graph is None else self.graph.tolist(),
                "graph_used": None if self.effective_graph is None else self.effective_graph.tolist()}
