"""Skill graphs for Skill-It, estimated from short probe runs.

Skill-It needs ``A[i][j]``: how much training on skill ``i`` helps skill ``j``.
The brute-force estimate of the paper: from one starting point, train briefly
on skill ``i`` alone and measure the drop of every skill's validation loss.

* :func:`estimate_skill_graph` takes any ``run_probe(i) -> (loss_before, loss_after)``;
* :func:`probe_graph` builds that probe from three functions of your own
  (a fresh or restored model, a short training run on one skill, a per-skill
  evaluation), so it works with any framework.

The result is a plain list of lists, ready for
``make_teacher("skill-it", space, graph=A)``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..errors import ConfigError
from ..settings import flag, number, whole

__all__ = ["estimate_skill_graph", "probe_graph"]


def estimate_skill_graph(run_probe: Callable[[int], tuple[Sequence[float], Sequence[float]]], n_skills: int, *,
                         relative: bool = True, threshold: float = 0.1) -> list[list[float]]:
    """``A[i][j]`` = drop of skill ``j``'s loss after a probe run on skill ``i`` (clipped at 0).

    ``relative`` divides each drop by the loss before (so skills with large
    losses do not dominate). The matrix is scaled so its largest entry is 1;
    entries below ``threshold`` (after scaling) are set to 0, which removes
    the small drops that are only noise. A probe that changes nothing gives
    the identity (each skill helps itself, and only itself).
    """
    whole("n_skills", n_skills, 1)
    relative = flag("relative", relative)  # (bool() read "false" as True: drops divided by the loss before)
    threshold = number("threshold", threshold, 0.0, 1.0, high_open=True,
                       hint="entries of the scaled graph below it are set to 0")
    drops = np.zeros((n_skills, n_skills))
    for i in range(n_skills):
        out = run_probe(i)
        try:
            before, after = out
            b = np.asarray(before, dtype=float).reshape(-1)
            a = np.asarray(after, dtype=float).reshape(-1)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"run_probe({i}) must return (losses before, losses after), two sequences of "
                              f"{n_skills} numbers, got {out!r:.80} ({type(e).__name__}: {e})") from e
        if b.shape != (n_skills,) or a.shape != (n_skills,):
            raise ConfigError(f"run_probe({i}) must return two sequences of {n_skills} losses, got "
                              f"{b.shape} and {a.shape}")
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            raise ConfigError(f"run_probe({i}) returned a NaN or infinite loss")
        d = b - a
        if relative:
            d = d / np.where(np.abs(b) > 0, np.abs(b), 1.0)
        drops[i] = np.maximum(d, 0.0)
    top = drops.max()
    if top <= 0:
        return np.eye(n_skills).tolist()
    graph = drops / top
    graph[graph < threshold] = 0.0
    return np.round(graph, 6).tolist()


def probe_graph(n_skills: int, *, start: Callable[[], Any], train_on: Callable[[Any, int], None],
                evaluate: Callable[[Any], Sequence[float]], relative: bool = True,
                threshold: float = 0.1) -> list[list[float]]:
    """Estimate the graph with ``n_skills`` probe runs.

    ``start()`` returns a model at the common starting point (a new copy each
    call), ``train_on(model, i)`` trains it briefly on skill ``i`` only, and
    ``evaluate(model)`` returns the validation loss of every skill.
    """

    def run_probe(i: int) -> tuple[Sequence[float], Sequence[float]]:
        model = start()
        before = list(evaluate(model))
        train_on(model, i)
        return before, list(evaluate(model))

    return estimate_skill_graph(run_probe, n_skills, relative=relative, threshold=threshold)
