"""Ratings from cross-play, and the cross-play matrix picture.

Cross-play: every pair of players (snapshots, held-out opponents) plays some
games; ``scores[i, j]`` is player ``i``'s mean score against ``j`` (win 1, draw
0.5, loss 0) and ``games[i, j]`` how many games that mean is over.
:func:`fit_elo` fits Elo ratings to all of it at once (a Bradley-Terry fit by
Newton steps on the log-likelihood, with draws as half a win each way, and a
weak prior that keeps ratings of unbeaten or winless players finite). The
ratings are shifted so that they average ``mean`` (or so that ``anchor`` sits
at ``mean``, e.g. the random player).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..checkpoint import literal_text, save_figure
from ..errors import ConfigError
from ..settings import non_numeric, number, whole

__all__ = ["fit_elo", "plot_cross_play"]

_SCALE = 400.0 / np.log(10.0)


def _matrix(name: str, values: object) -> np.ndarray:
    """``values`` as a float array; text, complex numbers, dates and ragged rows are a ConfigError naming ``name``
    (numpy read "0.5" as 0.5 and a date as its count of days, and raised its raw errors on ragged rows or a complex
    number). None is NaN, a pair that did not play, as before."""
    try:
        raw = np.asarray(values)
        bad = non_numeric(raw, none_is_nan=True)
        a = None if bad else np.asarray(raw, dtype=float)
    except (TypeError, ValueError):
        bad, a = True, None
    if a is None:
        raise ConfigError(f"{name} must be a square matrix of numbers (one row per player, all rows as long), not "
                          f"text, complex numbers, dates or rows of different lengths; got {values!r:.80}")
    return a


def fit_elo(scores: np.ndarray, games: np.ndarray, *, mean: float = 1000.0, anchor: int | None = None,
            prior_games: float = 0.5, iterations: int = 100) -> np.ndarray:
    """Elo ratings of ``n`` players from an ``(n, n)`` matrix of mean scores and one of game counts."""
    s = _matrix("scores", scores)
    g = _matrix("games", games)
    if s.ndim != 2 or s.shape[0] != s.shape[1] or g.shape != s.shape:
        raise ConfigError(f"scores and games must be square matrices of one shape, got {s.shape} and {g.shape}")
    if not (np.isfinite(g).all() and (g >= 0).all()):
        raise ConfigError("games must hold counts >= 0")
    played = g > 0
    if (played & ~(np.isfinite(s) & (s >= 0) & (s <= 1))).any():
        raise ConfigError("scores must lie in [0, 1] wherever games > 0 (win 1, draw 0.5, loss 0)")
    n = len(s)
    if anchor is not None and (isinstance(anchor, (bool, np.bool_, np.timedelta64))
                               or not isinstance(anchor, (int, np.integer)) or not 0 <= anchor < n):
        raise ConfigError(f"anchor must be a player index in [0, {n}), got {anchor!r}")
    mean = number("mean", mean)
    prior_games = number("prior_games", prior_games, 0.0, hint="the prior's games against each player; 0.5 by default")
    iterations = whole("iterations", iterations, 1)
    s = np.where(played, s, 0.0)
    won = s * g + ((1.0 - s) * g).T  # i's score against j, from i's games as row and j's as row
    total = g + g.T
    np.fill_diagonal(won, 0.0)
    np.fill_diagonal(total, 0.0)
    wins = won.sum(1) + prior_games * 0.5 * (n - 1)
    tot = total + prior_games  # the prior: half a game won and half lost against everyone
    np.fill_diagonal(tot, 0.0)
    theta = np.zeros(n)
    if n == 0:
        return theta
    step = theta
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(theta[:, None] - theta[None, :])))
        grad = wins - (tot * p).sum(1)
        h = tot * p * (1 - p)
        hess = -np.diag(h.sum(1)) + h
        hess -= 1e-9 * np.eye(n)
        step = np.linalg.lstsq(hess, -grad, rcond=None)[0]
        step = step - step.mean()
        theta += step
        if np.abs(step).max() < 1e-10:
            break
    if prior_games == 0 and np.abs(step).max() > 1e-6:
        # without the prior an unbeaten or winless player (or group) has no finite rating: Newton walks on
        # for ever and what came back depended on ``iterations`` (thousands of points apart)
        far = np.flatnonzero(np.abs(step) > 1e-6).tolist()
        raise ConfigError(
            f"the ratings did not converge in {iterations} iterations with prior_games=0: players "
            f"{far[:20]}{'...' if len(far) > 20 else ''} drift off (one unbeaten or winless against everyone it "
            "played has no finite rating without the prior); pass prior_games > 0 (0.5 by default)")
    r = theta * _SCALE
    r += mean - (r[anchor] if anchor is not None else r.mean())
    return r


def plot_cross_play(scores: np.ndarray, labels: Sequence[str], path: str | os.PathLike, *,
                    title: str = "cross-play: row player's mean score (draw = 0.5)") -> Path:
    """Save a heatmap of a cross-play score matrix (rows play columns) to ``path`` (png, svg...)."""
    from matplotlib.figure import Figure

    s = _matrix("scores", scores)
    n = len(labels)  # (len(s) of a single number was a raw "len() of unsized object")
    if s.shape != (n, n):
        raise ConfigError(f"need a square score matrix and one label per row, got {s.shape} and {len(labels)} labels")
    if ((s < 0) | (s > 1) | np.isinf(s)).any():  # nan is fine: a pair that did not play (drawn blank)
        raise ConfigError("scores must lie in [0, 1] (the row player's mean score: win 1, draw 0.5, loss 0), or be "
                          "nan for a pair that did not play; the colour scale would show the others as 0 or 1")
    size = min(4 + 0.25 * n, 16)
    fig = Figure(figsize=(size + 1.5, size))
    ax = fig.add_subplot()
    im = ax.imshow(s, vmin=0, vmax=1, cmap="RdBu", interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046)
    step = max(1, n // 40)
    ticks = [literal_text(labels[i]) for i in range(0, n, step)]  # ("$" starts matplotlib's math)
    ax.set_xticks(range(0, n, step), ticks, rotation=90, fontsize=6)
    ax.set_yticks(range(0, n, step), ticks, fontsize=6)
    ax.set_xlabel("opponent")
    ax.set_ylabel("player")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)  # (written whole: fig.savefig left a cut-short picture on Ctrl-C)
