"""Scores computed by the learner for the level teachers (PLR family).

Prioritized Level Replay and its successors score a level from the learner's
own rollout on it, after the episode ends. :class:`LevelScorer` does that from
the arrays any actor-critic already has after computing GAE:

* ``"gae"`` - mean absolute GAE advantage over the episode ("L1 value loss");
* ``"pvl"`` - positive value loss: mean of ``max(GAE, 0)``;
* ``"maxmc"`` - max-MC regret: the highest discounted return ever reached on
  the level minus the mean value prediction over the episode;
* ``"learnable"`` - success-aware, from the level's ``s`` successes in its
  ``n`` episodes so far: the expected learnability ``p (1 - p)`` of a level
  that may be unsolvable. A level is solvable with prior probability
  ``solvable_prior`` (0.5), and then the student solves it with a rate
  ``p ~ Beta(1, 1)``; the score is ``P(solvable | s, n) * E[p (1 - p) |
  solvable, s, n]``. A level solved once is proven solvable, so it outranks
  one never solved (after one episode 0.167 against 0.056); a level half
  solved scores highest (up to 0.25), one always solved falls as ``1 / n`` and
  one never solved faster, as ``1 / n**2``. ``solvable_prior=1`` is the plain
  posterior learnability (never and always solved alike).

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

import json
import math
from collections.abc import Mapping
from typing import Any, Hashable

import numpy as np

from ..errors import ConfigError
from ..settings import number, whole

__all__ = ["LevelScorer", "SCORE_KINDS", "SCORE_REDUCTIONS", "level_key"]

SCORE_KINDS = ("gae", "pvl", "maxmc", "learnable")
#: how the per-step terms of "gae" and "pvl" become one score per episode
SCORE_REDUCTIONS = ("mean", "sum")


def level_key(task: Any) -> Hashable:
    """A hashable key for a level (for max-MC's best return and the learnable score's counts per level): the
    task itself for an int or a name, a maze's text, the bytes of a vector, and for a ``Dict`` task its entries
    as JSON with the keys sorted (``np.asarray(task).tobytes()`` of a dict was the object's address: two equal
    levels had two keys, and a new level could take over a freed one's statistics)."""
    if isinstance(task, (int, np.integer, str)):
        return task
    to_text = getattr(task, "to_text", None)
    if callable(to_text):
        return to_text()
    if isinstance(task, Mapping):
        return json.dumps(_plain(task), sort_keys=True, separators=(",", ":"))
    return np.asarray(task).tobytes()


def _finite(v: Any) -> bool:
    try:
        return math.isfinite(v)
    except OverflowError:  # an integer beyond any float
        return False


def _plain(value: Any) -> Any:
    """``value`` as plain JSON: a maze as its text, numpy arrays and numbers as lists and Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    to_text = getattr(value, "to_text", None)
    if callable(to_text):
        return to_text()
    if isinstance(value, (np.ndarray, np.generic)):
        return _plain(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _first_bad(ok: np.ndarray) -> str:
    return "[" + ", ".join(str(int(i)) for i in np.argwhere(~ok)[0]) + "]" if ok.ndim else ""


def _episode_ids(ids: np.ndarray) -> np.ndarray:
    """Episode ids checked: whole numbers (of any number type; ``0.5`` was read as episode 0 by ``int()``)."""
    if ids.dtype.kind in "iu":
        return ids
    if ids.dtype.kind == "f":
        ok = np.isfinite(ids) & (ids == np.round(ids))
    elif ids.dtype.kind == "O":
        ok = np.array([(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)))
                       or (isinstance(v, (float, np.floating)) and math.isfinite(v) and v == round(v))
                       for v in ids.ravel().tolist()], dtype=bool).reshape(ids.shape)
    else:  # text, bools: no episode id
        ok = np.zeros(ids.shape, dtype=bool)
    if not ok.all():
        where = _first_bad(ok)
        raise ConfigError(f"LevelScorer.update: ids{where} is {ids[tuple(np.argwhere(~ok)[0])]!r}, not an episode "
                          "id; ids are whole numbers, the vector env's CurriculumVectorEnv.episode_ids at each step. "
                          "Nothing was recorded.")
    return ids.astype(np.int64)


def _flags(name: str, a: np.ndarray) -> np.ndarray:
    """``dones`` / ``solved`` checked: booleans, or the numbers 0 and 1 (NaN and 0.5 were read as True, and so was
    the text ``"False"``)."""
    if a.dtype == bool:
        return a
    if a.dtype.kind in "iuf":
        ok = (a == 0) | (a == 1)  # NaN is neither
    elif a.dtype.kind == "O":
        ok = np.array([isinstance(v, (bool, np.bool_, int, np.integer, float, np.floating)) and v in (0, 1)
                       for v in a.ravel().tolist()], dtype=bool).reshape(a.shape)
    else:
        ok = np.zeros(a.shape, dtype=bool)
    if not ok.all():
        raise ConfigError(f"LevelScorer.update: {name}{_first_bad(ok)} is {a[tuple(np.argwhere(~ok)[0])]!r}; "
                          f"{name} holds booleans (True or 1, False or 0) only. Nothing was recorded.")
    return a.astype(bool)


class LevelScorer:
    """Per-episode PLR scores from rollouts (see the module docstring).

    Args:
        kind: "gae", "pvl", "maxmc" or "learnable".
        gamma: discount used for max-MC's returns (the learner's own).
        reduce: "mean" (per step, the PLR papers' definition and the default) or "sum" (over the episode:
            no bias towards short levels; "gae" and "pvl" only). See the module docstring.
        solvable_prior: "learnable" only: the prior probability that a level can be solved at all, in (0, 1]
            (see the module docstring).
        max_levels: "maxmc" and "learnable" only (refused for "gae" and "pvl", which keep nothing per level): the
            most levels whose statistics are kept (those scored
            least recently are forgotten first; a forgotten level that comes back starts afresh). ``None``
            (default) keeps every level ever scored, so with an open-ended generator (a new level most
            episodes) :attr:`best` / :attr:`outcomes`, and the saved state, grow by one entry per new level
            for the whole run; a bound of a few times the teacher's buffer keeps the levels it can replay.
    """

    #: the kinds that keep statistics per level and so need ``keys`` in :meth:`update`
    PER_LEVEL = ("maxmc", "learnable")

    def __init__(self, kind: str = "pvl", gamma: float = 0.99, reduce: str = "mean", solvable_prior: float = 0.5,
                 max_levels: int | None = None):
        if kind not in SCORE_KINDS:
            raise ConfigError(f"LevelScorer(kind=...) must be one of {SCORE_KINDS}, got {kind!r}")
        if reduce not in SCORE_REDUCTIONS:
            raise ConfigError(f"LevelScorer(reduce=...) must be one of {SCORE_REDUCTIONS}, got {reduce!r}")
        if kind in self.PER_LEVEL and reduce != "mean":
            raise ConfigError(f"LevelScorer({kind!r}) is a score per level, not per step; "
                              "reduce='sum' applies to 'gae' and 'pvl' only")
        solvable_prior = number("LevelScorer(solvable_prior=...)", solvable_prior, 0.0, 1.0, low_open=True,
                                hint="the prior probability that a level can be solved at all")
        self.kind, self.gamma, self.reduce = kind, number("LevelScorer(gamma=...)", gamma, 0.0, 1.0), reduce
        self.solvable_prior = float(solvable_prior)
        if max_levels is not None and kind not in self.PER_LEVEL:  # it was accepted and did nothing
            raise ConfigError(f"LevelScorer({kind!r}, max_levels={max_levels!r}): max_levels bounds the statistics "
                              f"kept per level, and {kind!r} keeps none (its score comes from the episode alone, "
                              "memory does not grow with the levels); it applies to 'maxmc' and 'learnable' only. "
                              "Leave max_levels out.")
        self.max_levels = None if max_levels is None else whole(
            "LevelScorer(max_levels=...)", max_levels, 1, hint="the most levels whose statistics are kept, or None")
        # per sub-env accumulators of the running episode: id, sum of score terms, steps, sum of values,
        # discounted return so far, discount so far
        self._acc: dict[int, list[float]] = {}
        #: max-MC: best discounted return reached per level key
        self.best: dict[Hashable, float] = {}
        #: learnable: [successes, episodes] per level key
        self.outcomes: dict[Hashable, list[int]] = {}
        self.n_scored = 0
        #: the sub-env index of each episode the last ``update`` returned (for per-env ids, e.g. SB3's wrappers)
        self.last_envs = np.zeros(0, dtype=np.int64)

    def update(self, ids: np.ndarray, advantages: np.ndarray, values: np.ndarray, rewards: np.ndarray,
               dones: np.ndarray, keys: dict[int, Hashable] | None = None, solved: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Take one rollout; return ``(episode_ids, scores)`` of the episodes that ended in it.

        All arrays are ``(T, n)``: ``ids[t, i]`` the episode id sub-env ``i`` was
        running at step ``t``, ``advantages`` the GAE, ``values`` the value
        predictions, ``rewards`` and ``dones`` (episode ended at step ``t``). An episode whose id changes with no
        done (cut short by a reset) is left unscored, as the vector env leaves it unreported.
        ``keys`` (episode id -> level key, see :func:`level_key`) is needed for "maxmc" and "learnable".
        ``solved`` ("learnable"; ``(T, n)`` booleans, read at each episode's last step: True if it reached
        its goal, e.g. from the final ``info["is_success"]``): by default an episode counts as solved if its
        last reward is > 0, right for envs that pay on reaching the goal and end the episode there
        (``MazeEnv`` without an exploration bonus).
        """
        ids = _episode_ids(np.asarray(ids))
        adv = np.asarray(advantages, dtype=float)
        val = np.asarray(values, dtype=float)
        rew = np.asarray(rewards, dtype=float)
        done = _flags("dones", np.asarray(dones))
        win = rew > 0 if solved is None else _flags("solved", np.asarray(solved))
        if not (ids.shape == adv.shape == val.shape == rew.shape == done.shape == win.shape) or ids.ndim != 2:
            raise ConfigError(f"LevelScorer.update needs (T, n) arrays of one shape; got ids {ids.shape}, "
                              f"advantages {adv.shape}, values {val.shape}, rewards {rew.shape}, dones {done.shape}, "
                              f"solved {win.shape}")
        if not (np.isfinite(adv).all() and np.isfinite(val).all() and np.isfinite(rew).all()):
            # checked before any statistic changes (a NaN value moved a level's best return before the NaN
            # score was refused downstream)
            raise ConfigError("LevelScorer.update got NaN or infinite advantages, values or rewards; nothing was "
                              "recorded")
        if self.kind in self.PER_LEVEL and keys is None:
            raise ConfigError(f"LevelScorer({self.kind!r}) needs keys={{episode id: level key}} to keep its "
                              "statistics per level")
        if keys is not None and self.kind in self.PER_LEVEL:  # checked before any statistic changes
            missing = [e for e in dict.fromkeys(ids[done].tolist()) if e not in keys]
            if missing:
                raise ConfigError(f"LevelScorer({self.kind!r}): keys has no level key for the episode id(s) "
                                  f"{missing[:10]} that ended in this rollout; give one for every episode "
                                  "(level_key(task) of the task it started with). Nothing was recorded.")
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
        # a segment ends where its episode ends (done), at the rollout's end, or where the id changes without a
        # done: an episode cut short by a reset mid-episode, left unscored (its steps were merged into the next
        # episode, which was then reported under the cut one's id)
        last = done.copy()
        last[:-1] |= ids[1:] != ids[:-1]
        last[-1:] = True  # (a rollout of no steps has none)
        for i in range(n):
            start = 0
            for stop in (np.flatnonzero(last[:, i]) + 1).tolist():
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
                if done[stop - 1, i]:
                    out_ids.append(eid)
                    out_envs.append(i)
                    out_scores.append(self._finish(acc, keys, bool(win[stop - 1, i])))
                    self._acc.pop(i, None)
                else:
                    self._acc[i] = acc
                start = stop
        self.n_scored += len(out_ids)
        self.last_envs = np.asarray(out_envs, dtype=np.int64)
        return np.asarray(out_ids, dtype=np.int64), np.asarray(out_scores, dtype=float)

    def state_dict(self) -> dict[str, Any]:
        """The settings (``max_levels`` included) and the per-level statistics (max-MC best returns, learnable
        counts, episodes scored).

        The partial sums of the episodes still running are left out: they belong to the env's running
        episodes, which a resumed run starts afresh. Level keys are ints, strings or bytes
        (:func:`level_key`), so ``torch.load(weights_only=True)`` reads the state back.
        """

        def plain(key: Hashable) -> Hashable:  # numpy scalars would need pickle's full unpickler
            if isinstance(key, np.integer):
                return int(key)
            if isinstance(key, np.str_):
                return str(key)
            if isinstance(key, np.bytes_):
                return bytes(key)
            return key

        return {"kind": self.kind, "gamma": self.gamma, "reduce": self.reduce, "solvable_prior": self.solvable_prior,
                "best": {plain(k): float(v) for k, v in self.best.items()},
                "outcomes": {plain(k): [int(c[0]), int(c[1])] for k, c in self.outcomes.items()},
                "n_scored": int(self.n_scored), "max_levels": self.max_levels}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output (settings included); checks it all before changing anything.

        Partial scores of running episodes are dropped (see :meth:`state_dict`). This scorer keeps its own
        ``max_levels`` (a state with more levels keeps the newest); :meth:`from_state_dict` takes the saved one.
        """
        if not isinstance(state, dict) or not {"kind", "best", "outcomes", "n_scored"} <= set(state):
            raise ConfigError("not a LevelScorer state (needs kind, best, outcomes and n_scored); use "
                              "LevelScorer.state_dict() output")
        fresh = LevelScorer(state["kind"], gamma=state.get("gamma", self.gamma), reduce=state.get("reduce", "mean"),
                            solvable_prior=state.get("solvable_prior", 0.5))
        if self.max_levels is not None and fresh.kind not in self.PER_LEVEL:
            raise ConfigError(f"LevelScorer(max_levels={self.max_levels}) cannot load a {fresh.kind!r} state: "
                              "max_levels applies to 'maxmc' and 'learnable' only. Use "
                              "LevelScorer.from_state_dict(state) to rebuild the saved scorer; nothing was changed.")
        best, outcomes = state["best"], state["outcomes"]
        # finite only: a best return of inf (no episode reaches one) made every later score of its level inf, which
        # the teacher refused at each report
        if not isinstance(best, dict) or not all(isinstance(v, (int, float, np.integer, np.floating))
                                                 and not isinstance(v, (bool, np.bool_)) and _finite(v)
                                                 for v in best.values()):
            raise ConfigError("LevelScorer state: best must map level keys to finite numbers (the best discounted "
                              "return reached on each level)")
        if not isinstance(outcomes, dict) or not all(
                isinstance(c, (list, tuple)) and len(c) == 2
                and all(isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)) for x in c)
                and 0 <= c[0] <= c[1] for c in outcomes.values()):
            raise ConfigError("LevelScorer state: outcomes must map level keys to [successes, episodes] with "
                              "0 <= successes <= episodes")
        n_scored = whole("LevelScorer state: n_scored", state["n_scored"], 0)
        self.kind, self.gamma, self.reduce, self.solvable_prior = (fresh.kind, fresh.gamma, fresh.reduce,
                                                                   fresh.solvable_prior)
        self.best = {k: float(v) for k, v in best.items()}
        self.outcomes = {k: [int(c[0]), int(c[1])] for k, c in outcomes.items()}
        self._forget(self.best)  # a state saved with more levels than this scorer keeps: the newest stay
        self._forget(self.outcomes)
        self.n_scored = int(n_scored)
        self._acc = {}
        self.last_envs = np.zeros(0, dtype=np.int64)

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> LevelScorer:
        """A scorer rebuilt from :meth:`state_dict` output, with its ``max_levels`` (states saved before it was kept
        have none: unbounded; a "gae" or "pvl" state saved with one, when it was accepted and ignored, resumes
        without it, as it ran)."""
        kind = state.get("kind") if isinstance(state, dict) else None
        if kind in cls.PER_LEVEL:  # (a resumed scorer without max_levels never forgot a level)
            scorer = cls(kind, max_levels=state.get("max_levels"))
        else:  # a "gae"/"pvl" state saved when its max_levels was accepted and ignored resumes without it
            scorer = cls()
        scorer.load_state_dict(state)
        return scorer

    def learnable_score(self, successes: int, episodes: int) -> float:
        """The "learnable" score of a level solved ``successes`` times in ``episodes`` (module docstring)."""
        a, b = successes + 1, episodes - successes + 1  # Beta posterior of the success rate if solvable
        q = self.solvable_prior
        # P(solvable | never solved in n) = q P(n failures | solvable) / (that + 1 - q); P(n failures | solvable) = 1/(n+1)
        solvable = 1.0 if successes > 0 else q / (q + (1.0 - q) * (episodes + 1))
        return float(solvable * a * b / ((a + b) * (a + b + 1)))

    def _finish(self, acc: list[float], keys: dict[int, Hashable] | None, solved: bool) -> float:
        steps = max(acc[2], 1.0)
        if self.kind not in self.PER_LEVEL:
            return acc[1] if self.reduce == "sum" else acc[1] / steps
        assert keys is not None
        key = keys[int(acc[0])]
        if self.kind == "learnable":
            # with max_levels, re-inserted so the dict runs from the least to the most recently scored
            counts = self.outcomes.pop(key, [0, 0]) if self.max_levels is not None else self.outcomes.get(key, [0, 0])
            counts[0] += int(solved)
            counts[1] += 1
            self.outcomes[key] = counts
            self._forget(self.outcomes)
            return self.learnable_score(*counts)
        best = max(self.best.pop(key, -np.inf) if self.max_levels is not None else self.best.get(key, -np.inf), acc[4])
        self.best[key] = best
        self._forget(self.best)
        return float(best - acc[3] / steps)

    def _forget(self, stats: dict[Hashable, Any]) -> None:
        """Drop the levels scored least recently beyond ``max_levels`` (dicts keep the order of insertion)."""
        while self.max_levels is not None and len(stats) > self.max_levels:
            del stats[next(iter(stats))]
