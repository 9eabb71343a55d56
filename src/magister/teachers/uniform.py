"""Uniform: every task equally likely, whatever happens.

The baseline every curriculum must beat (domain randomisation in RL,
"stratified" sampling over skills). On a ``Box`` it samples uniformly over the
volume; on a finite space uniformly over the tasks; on a space with its own
sampler (``MazeSpace``: domain randomisation, or a ``Dict`` holding one, which draws each entry with its own
sampler) with that sampler. It learns nothing, but it
still validates what it is told, so swapping it for an adaptive teacher never
changes how the caller's errors look.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..teacher import Teacher, register


@register("uniform")
class Uniform(Teacher):
    """Uniform sampling over the space (works on every kind of space)."""

    kind = "any"
    reads_scores = False  # (an open score range fits it)

    def __init__(self, space, *, seed=None, score_range=None):
        super().__init__(space, seed=seed, score_range=score_range)
        self._counts = np.zeros(space.n, dtype=np.int64) if space.n is not None and space.n <= 1_000_000 else None
        #: spaces whose own sampler is the uniform distribution users mean (mazes: domain randomisation)
        self._native = self._counts is None and getattr(space, "native_sampling", False)

    @property
    def _encodes_indices(self) -> bool:
        return self._counts is not None

    def _decode(self, enc: Any) -> Any:
        return enc if self._native else super()._decode(enc)

    def _propose(self, k: int) -> Any:
        if self._native:
            return self.space.sample(self.rng, k)
        if self._counts is not None:
            return self.rng.integers(0, self.space.n, size=k)
        return self.rng.random((k, self.space.dim))

    def _observe(self, x: np.ndarray, scores: np.ndarray) -> None:
        if self._counts is not None:
            np.add.at(self._counts, x, 1)

    def _get_state(self) -> dict[str, Any]:
        return {"counts": None if self._counts is None else self._counts.copy()}

    def _set_state(self, state: dict[str, Any]) -> None:
        if self._counts is not None:
            counts = np.asarray(state["counts"], dtype=np.int64)
            if counts.shape != self._counts.shape:
                raise ValueError("counts do not match the space")
            if (counts < 0).any():  # (taken before: the beliefs showed a task observed -1 times)
                raise ValueError("counts must be >= 0 (how often each task was observed)")
            self._counts = counts.copy()

    def _beliefs(self) -> dict[str, Any]:
        if self._counts is not None:
            return {"kind": "discrete", "tasks": self.space.task_names(),
                    "probability": np.full(len(self._counts), 1.0 / len(self._counts)), "observed": self._counts}
        return {"kind": "uniform"}
