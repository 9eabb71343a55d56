"""Scores computed by the learner for the level teachers (PLR family).

Prioritized Level Replay and its successors score a level from the learner's
own rollout on it, after the episode ends. :class:`LevelScorer` does that from
the arrays any actor-critic already has after computing GAE:

* ``"gae"`` - mean absolute GAE advantage over the episode ("L1 value loss");
* ``"pvl"`` - positive value loss: mean of ``max(GAE, 0)``;
* ``"maxmc"`` - max-MC regret: the highest discounted return ever reached on
  the level minus the mean value prediction over the episode.

``reduce="sum"`` (for "gae" and "pvl") sums the terms over the episode
instead of averaging them. The per-step mean ranks short solved levels first:
after a surprising success the positive advantages span about
``1 / (1 - gamma * lambda)`` steps whatever the episode's length, so the mean
falls as the episode grows (with the value at 0.3 everywhere, positive value
loss reads 0.60 for a 5-step solve and 0.064 for an 80-step one). The sum
counts that surprise once per episode and so does not penalise a longer
level for its length.

Feed it one rollout at a time (``(T, n)`` arrays, time-major, as PPO stores
them); it carries episodes that span rollouts over to the next call and
returns ``(episode_ids, scores)`` for the episodes that ended in this one,
ready for ``CurriculumVectorEnv.report(ids, scores)``. Parts of an episode
scored in an earlier rollout used the value bootstrap at that rollout's end,
as in the reference implementation of PLR.
"""

from __future__ import annotations

from typing import Any, Hashable

import numpy as np

from ..errors import ConfigError

__all__ = ["LevelScorer", "SCORE_KINDS", "SCORE_REDUCTIONS", "level_key"]

SCORE_KINDS = ("gae", "pvl", "maxmc")
#: how the per-step terms of "gae" and "pvl" become one score per episode
SCORE_REDUCTIONS = ("mean", "sum")


def level_key(task: Any) -> Hashable:
    """A hashable key for a level (for max-MC's best return per level)."""
    if isinstance(task, (int, np.integer, str)):
        return task
    to_text = getattr(task, "to_text", None)
    if callable(to_text):
        return to_text()
    return np.asarray(task).tobytes()


class LevelScorer:
    """Per-episode PLR scores from rollouts (see the module docstring).

    Args:
        kind: "gae", "pvl" or "maxmc".
        gamma: discount used for max-MC's returns (the learner's own).
        reduce: "mean" (per step, the PLR papers' definition and the default) or "sum" (over the episode:
            no bias towards short levels; "gae" and "pvl" only). See the module docstring.
    """

    def __init__(self, kind: str = "pvl", gamma: float = 0.99, reduce: str = "mean"):
        if kind not in SCORE_KINDS:
            raise ConfigError(f"LevelScorer(kind=...) must be one of {SCORE_KINDS}, got {kind!r}")
        if reduce not in SCORE_REDUCTIONS:
            raise ConfigError(f"LevelScorer(reduce=...) must be one of {SCORE_REDUCTIONS}, got {reduce!r}")
        if kind == "maxmc" and reduce != "mean":
            raise ConfigError("LevelScorer('maxmc') is a regret per level (best return minus mean value); "
                              "reduce='sum' applies to 'gae' and 'pvl' only")
        self.kind, self.gamma, self.reduce = kind, float(gamma), reduce
        # per sub-env accumulators of the running episode: id, sum of score terms, steps, sum of values,
        # discounted return so far, discount so far
        self._acc: dict[int, list[float]] = {}
        #: max-MC: best discounted return reached per level key
        self.best: dict[Hashable, float] = {}
        self.n_scored = 0
        #: the sub-env index of each episode the last ``update`` returned (for per-env ids, e.g. SB3's wrappers)
        self.last_envs = np.zeros(0, dtype=np.int64)

    def update(self, ids: np.ndarray, advantages: np.ndarray, values: np.ndarray, rewards: np.ndarray,
               dones: np.ndarray, keys: dict[int, Hashable] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Take one rollout; return ``(episode_ids, scores)`` of the episodes that ended in it.

        All arrays are ``(T, n)``: ``ids[t, i]`` the episode id sub-env ``i`` was
        running at step ``t``, ``advantages`` the GAE, ``values`` the value
        predictions, ``rewards`` and ``dones`` (episode ended at step ``t``).
        ``keys`` (episode id -> level key, see :func:`level_key`) is needed for "maxmc".
        """
        ids = np.asarray(ids)
        adv = np.asarray(advantages, dtype=float)
        val = np.asarray(values, dtype=float)
        rew = np.asarray(rewards, dtype=float)
        done = np.asarray(dones).astype(bool)
        if not (ids.shape == adv.shape == val.shape == rew.shape == done.shape) or ids.ndim != 2:
            raise ConfigError(f"LevelScorer.update needs (T, n) arrays of one shape; got ids {ids.shape}, "
                              f"advantages {adv.shape}, values {val.shape}, rewards {rew.shape}, dones {done.shape}")
        if self.kind == "maxmc" and keys is None:
            raise ConfigError("LevelScorer('maxmc') needs keys={episode id: level key} to track each level's best return")
        if self.kind == "gae":
            term = np.abs(adv)
        elif self.kind == "pvl":
            term = np.maximum(adv, 0.0)
        else:
            term = np.zeros_like(adv)
        out_ids: list[int] = []
        out_scores: list[float] = []
        out_envs: list[int] = []
        T, n = ids.shape
        for i in range(n):
            start = 0
            ends = np.flatnonzero(done[:, i])
            for stop in list(ends + 1) + ([T] if (len(ends) == 0 or ends[-1] + 1 < T) else []):
                if stop <= start:
                    continue
                eid = int(ids[start, i])
                acc = self._acc.get(i)
                if acc is None or int(acc[0]) != eid:
                    acc = [eid, 0.0, 0.0, 0.0, 0.0, 1.0]
                seg = slice(start, stop)
                acc[1] += float(term[seg, i].sum())
                acc[2] += stop - start
                acc[3] += float(val[seg, i].sum())
                disc = acc[5] * self.gamma ** np.arange(stop - start)
                acc[4] += float((disc * rew[seg, i]).sum())
                acc[5] *= self.gamma ** (stop - start)
                if stop - 1 in ends:
                    out_ids.append(eid)
                    out_envs.append(i)
                    out_scores.append(self._finish(acc, keys))
                    self._acc.pop(i, None)
                else:
                    self._acc[i] = acc
                start = stop
        self.n_scored += len(out_ids)
        self.last_envs = np.asarray(out_envs, dtype=np.int64)
        return np.asarray(out_ids, dtype=np.int64), np.asarray(out_scores, dtype=float)

    def _finish(self, acc: list[float], keys: dict[int, Hashable] | None) -> float:
        steps = max(acc[2], 1.0)
        if self.kind != "maxmc":
            return acc[1] if self.reduce == "sum" else acc[1] / steps
        assert keys is not None
        key = keys[int(acc[0])]
        best = max(self.best.get(key, -np.inf), acc[4])
        self.best[key] = best
        return float(best - acc[3] / steps)
