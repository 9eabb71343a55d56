"""Sequential: a scripted curriculum of stages with declarative advancement rules.

The hand-written curriculum every adaptive teacher is compared with ("easy
levels until the agent solves them, then mix in the hard ones"). Each stage is
a distribution over tasks plus an optional ``until`` condition; when the
condition holds, the next stage starts. Everything is plain JSON, so the
script is saved with the teacher's checkpoints::

    stages = [
        {"tasks": ["easy"], "until": {"mean_score": 0.8, "window": 50}},
        {"tasks": ["easy", "hard"], "weights": [1, 3], "until": {"episodes": 1000}},
        {"tasks": "all"},
    ]
    teacher = make_teacher("sequential", Discrete(["easy", "hard", "expert"]), stages=stages)

A stage names its tasks with one of

* ``"tasks"``: a task, a list of tasks, ``"all"``, or a ``{task: weight}`` dict
  (names of a named ``Discrete``; for other finite spaces any task the space
  accepts);
* ``"indices"``: task numbers ``0 .. n-1`` of the space (works on any finite space);

and optionally ``"weights"`` (one non-negative number per task; default equal). A numpy array may stand for
any of these lists; the settings record it as a list.

Conditions (``"until"``), checked after every observed episode:

* ``{"episodes": N}``: N episodes (of any task) observed during this stage;
* ``{"mean_score": x, "window": N}``: the mean score of the last N episodes
  of *this stage's tasks*, observed during this stage, is at least ``x``
  (needs N such episodes); with ``"per_task": true`` every task of the stage
  with positive weight must reach it over its own last N episodes;
* ``{"all": [cond, ...]}`` / ``{"any": [cond, ...]}``: combinations.

Only the last stage may omit ``until``; when the last stage's condition holds
the curriculum is ``finished`` (reported in :meth:`~magister.teacher.Teacher.beliefs`) and stays there.
With ``stages=None`` every task is a stage in index order, each until a mean
score of 0.8 over 20 episodes, and a final stage samples all tasks uniformly.
``epsilon`` mixes in uniform sampling over all tasks (default 0).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ..averages import CachedPolicy, refuse_outside_unit
from ..errors import ConfigError, InvalidTaskError
from ..spaces import Discrete, Space
from ..settings import fraction, is_int, per_task_size, refuse_past_max_count, whole
from ..teacher import Teacher, register

_STAGE_KEYS = {"tasks", "indices", "weights", "until", "name"}
_COND_KEYS = {"episodes", "mean_score", "window", "per_task", "all", "any"}
#: a mean compared with ``mean_score`` may miss it by rounding: twenty scores of 0.9 average 0.8999999999999998
_MEAN_TOL = 1e-12


def _parse_condition(cond: Any, where: str, n: int = 1) -> tuple:
    """Turn a JSON condition into a tuple tree: ("episodes", N) | ("mean", x, W, per_task) | ("all"/"any", [..]).
    ``n``: the number of the stage's tasks (a ``per_task`` window is kept for each)."""
    if not isinstance(cond, dict) or not cond:
        raise ConfigError(f"{where}: a condition is a non-empty dict such as {{'mean_score': 0.8, 'window': 50}}, "
                          f"got {cond!r}")
    unknown = set(cond) - _COND_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown condition key(s) {sorted(unknown, key=repr)}; use 'episodes', "
                          "'mean_score' with 'window' (and optional 'per_task'), 'all' or 'any'")
    kinds = [k for k in ("episodes", "mean_score", "all", "any") if k in cond]
    if len(kinds) != 1:
        raise ConfigError(f"{where}: give exactly one of 'episodes', 'mean_score', 'all', 'any' per condition "
                          f"(combine several with 'all' / 'any'), got {sorted(cond)}")
    kind = kinds[0]
    if kind != "mean_score" and ({"window", "per_task"} & set(cond)):
        raise ConfigError(f"{where}: 'window' and 'per_task' belong with 'mean_score'")
    if kind == "episodes":
        return ("episodes", whole(f"{where}.episodes", cond["episodes"]))
    if kind == "mean_score":
        x = cond["mean_score"]
        # scores reach the teacher mapped to [0, 1]: a threshold above 1 could never be met (numpy numbers are
        # numbers: np.float32(0.5) was refused by a hand-written check)
        fraction(f"{where}.mean_score", x, hint="a score on the scale scores have after score_range maps them")
        if "window" not in cond:
            raise ConfigError(f"{where}: 'mean_score' needs a 'window' (how many recent episodes to average)")
        per_task = cond.get("per_task", False)
        if not isinstance(per_task, bool):
            raise ConfigError(f"{where}.per_task must be true or false, got {per_task!r}")
        # checked before the stage's buffers are allocated (a window of 10**12 was a MemoryError)
        w = per_task_size(f"{where}.window", cond["window"], n if per_task else 1,
                          why="the stage keeps that many recent scores" + (" per task" if per_task else ""))
        return ("mean", float(x), w, per_task)
    parts = cond[kind]
    if not isinstance(parts, (list, tuple)) or not parts:
        raise ConfigError(f"{where}.{kind} must be a non-empty list of conditions, got {parts!r}")
    return (kind, [_parse_condition(c, f"{where}.{kind}[{i}]", n) for i, c in enumerate(parts)])


def _windows(cond: tuple, per_task: bool) -> int:
    """Largest window the condition tree needs (stream or per-task)."""
    if cond[0] == "mean":
        return cond[2] if cond[3] == per_task else 0
    if cond[0] in ("all", "any"):
        return max(_windows(c, per_task) for c in cond[1])
    return 0


def _last_mean(buf: np.ndarray, count: int, w: int) -> float:
    """Mean of the last ``w`` entries pushed into ring buffer ``buf`` (``count`` pushes in all)."""
    size = buf.shape[-1]
    pos = (count - 1 - np.arange(w)) % size
    return float(buf[..., pos].mean(axis=-1)) if buf.ndim == 1 else buf[..., pos].mean(axis=-1)


class _Stage:
    def __init__(self, idx: np.ndarray, weights: np.ndarray, until: tuple | None, name: str | None):
        self.idx, self.weights, self.until, self.name = idx, weights, until, name
        self.probs = weights / weights.sum()
        self.stream_window = _windows(until, False) if until else 0
        self.task_window = _windows(until, True) if until else 0
        self.position = {int(i): j for j, i in enumerate(idx.tolist())}


def _resolve_tasks(space: Space, spec: Any, where: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Task indices (and weights from a dict form) of a stage's ``tasks`` entry."""
    def index_of(task: Any) -> int:
        try:
            return space.index(space.validate(task))
        except InvalidTaskError as e:
            raise ConfigError(f"{where}: {e}; stage tasks must be tasks of {space!r}") from None

    if isinstance(spec, str) and spec == "all" and not (isinstance(space, Discrete) and space.names
                                                       and "all" in space.names):
        return np.arange(space.n_tasks, dtype=np.int64), None
    if isinstance(spec, (list, tuple, dict)) and not isinstance(space, Discrete) and space.contains(spec):
        return np.array([index_of(spec)], dtype=np.int64), None
    if isinstance(spec, dict):
        if not spec:
            raise ConfigError(f"{where}: the {{task: weight}} dict is empty")
        return np.array([index_of(t) for t in spec], dtype=np.int64), np.array(
            [_weight(w, f"{where}[{t!r}]") for t, w in spec.items()])
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise ConfigError(f"{where}: the task list is empty")
        return np.array([index_of(t) for t in spec], dtype=np.int64), None
    return np.array([index_of(spec)], dtype=np.int64), None


def _weight(w: Any, where: str) -> float:
    if isinstance(w, bool) or not isinstance(w, (int, float, np.integer, np.floating)) or not math.isfinite(w) or w < 0:
        raise ConfigError(f"{where}: a weight must be a finite number >= 0, got {w!r}")
    return float(w)


def _parse_stages(space: Space, stages: Sequence[Any]) -> list[_Stage]:
    if isinstance(stages, (str, bytes, dict)) or not isinstance(stages, (list, tuple)) or not stages:
        raise ConfigError("stages must be a non-empty list of stage dicts such as "
                          "{'tasks': ['easy'], 'until': {'mean_score': 0.8, 'window': 50}}")
    out = []
    for s, st in enumerate(stages):
        where = f"stage {s}"
        if not isinstance(st, dict):
            raise ConfigError(f"{where} must be a dict with 'tasks' (or 'indices'), got {st!r}")
        unknown = set(st) - _STAGE_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {sorted(unknown, key=repr)}; allowed: {sorted(_STAGE_KEYS)}")
        if ("tasks" in st) == ("indices" in st):
            raise ConfigError(f"{where}: give either 'tasks' (tasks or names) or 'indices' (numbers 0..{space.n_tasks - 1})")
        if "tasks" in st:
            idx, w = _resolve_tasks(space, st["tasks"], f"{where}.tasks")
        else:
            raw = st["indices"]
            raw = [raw] if is_int(raw) else raw
            if not isinstance(raw, (list, tuple)) or not raw:
                raise ConfigError(f"{where}.indices must be a task number or a non-empty list of them")
            for i in raw:
                if not is_int(i) \
                        or not 0 <= i < space.n_tasks:
                    raise ConfigError(f"{where}.indices: {i!r} is not a task number of {space!r} (0..{space.n_tasks - 1})")
            idx, w = np.array(raw, dtype=np.int64), None
        if len(np.unique(idx)) != len(idx):
            raise ConfigError(f"{where}: a task is listed twice; list each task once and use 'weights'")
        if "weights" in st:
            if w is not None:
                raise ConfigError(f"{where}: weights are given twice (a {{task: weight}} dict and 'weights')")
            ws = st["weights"]
            if not isinstance(ws, (list, tuple)) or len(ws) != len(idx):
                raise ConfigError(f"{where}.weights needs one number per task ({len(idx)}), got {ws!r}")
            w = np.array([_weight(x, f"{where}.weights") for x in ws])
        if w is None:
            w = np.ones(len(idx))
        if not w.sum() > 0:
            raise ConfigError(f"{where}: the weights sum to 0; give at least one task a positive weight")
        until = st.get("until")
        if until is None and s != len(stages) - 1:
            raise ConfigError(f"{where} has no 'until' condition, so stages after it could never start; "
                              "give it one, or make it the last stage")
        cond = _parse_condition(until, f"{where}.until", len(idx)) if until is not None else None
        name = st.get("name")
        if name is not None and not isinstance(name, str):
            raise ConfigError(f"{where}.name must be a string, got {name!r}")
        out.append(_Stage(idx, w, cond, name))
    return out


def _portable_stages(stages: Sequence[Any], parsed: list[_Stage]) -> list[Any] | None:
    """The stages as a checkpoint can give them back, or None when they already are: a ``{task: weight}`` dict
    whose tasks are not names (task numbers of an unnamed ``Discrete``, tuples of a ``MultiDiscrete``) would come
    back from the checkpoint's JSON with string keys, which the space refuses on load; it is recorded as the same
    ``indices`` and ``weights`` instead."""
    out, changed = [], False
    for st, stage in zip(stages, parsed):
        spec = st.get("tasks")
        if isinstance(spec, dict) and any(not isinstance(k, str) for k in spec):
            st = {"indices": stage.idx.tolist(), "weights": stage.weights.tolist(),
                  **{k: v for k, v in st.items() if k != "tasks"}}
            changed = True
        out.append(st)
    return out if changed else None


def _plain_stages(stages: Any) -> tuple[Any, bool]:
    """The stages with each numpy array of ``tasks``, ``indices`` or ``weights`` as a list, and whether any was one:
    weights computed with numpy were refused as not "one number per task", and a checkpoint's settings should stay
    plain JSON."""
    if not isinstance(stages, (list, tuple)):
        return stages, False
    out, changed = [], False
    for st in stages:
        if isinstance(st, dict) and any(isinstance(st.get(k), np.ndarray) for k in ("tasks", "indices", "weights")):
            st = {k: v.tolist() if k in ("tasks", "indices", "weights") and isinstance(v, np.ndarray) else v
                  for k, v in st.items()}
            changed = True
        out.append(st)
    return (out, True) if changed else (stages, False)


def _default_stages(space: Space) -> list[dict[str, Any]]:
    if space.n_tasks > 1000:
        raise ConfigError(f"Sequential without stages makes one stage per task; {space.n_tasks} tasks is too many. "
                          "Pass stages=[...] explicitly")
    stages: list[dict[str, Any]] = [
        {"indices": [i], "until": {"mean_score": 0.8, "window": 20}} for i in range(space.n_tasks)
    ]
    stages.append({"tasks": "all"} if not (isinstance(space, Discrete) and space.names and "all" in space.names)
                  else {"indices": list(range(space.n_tasks))})
    return stages


@register("sequential")
class Sequential(CachedPolicy, Teacher):
    """A scripted curriculum of stages (see the module docstring for the format).

    Args:
        stages: List of stage dicts (JSON-able), or ``None`` for one stage per task in order.
        epsilon: Share of proposals drawn uniformly over all tasks, in [0, 1] (default 0).
    """

    kind = "discrete"
    conformance_kwargs: dict[str, Any] = {
        "stages": [
            {"indices": [0, 1], "until": {"episodes": 20}},
            {"indices": [0, 1, 2], "weights": [1, 1, 2],
             "until": {"all": [{"mean_score": 0.3, "window": 10}, {"episodes": 10}]}},
            {"tasks": "all"},
        ]
    }

    def __init__(self, space, *, stages: list[dict[str, Any]] | None = None, epsilon: float = 0.0, seed=None,
                 score_range=None):
        super().__init__(space, seed=seed, score_range=score_range)
        self.epsilon = fraction("epsilon", epsilon, hint="the uniform-exploration share")  # (numpy numbers were refused)
        stages, from_numpy = _plain_stages(stages)
        self.stages = _parse_stages(space, _default_stages(space) if stages is None else stages)
        if stages is not None:
            portable = _portable_stages(stages, self.stages)
            if portable is not None or from_numpy:
                self._record_settings(stages=stages if portable is None else portable)
        self._enter(0)
        self.finished = False
        self._probs: np.ndarray | None = None

    # ------------------------------------------------------------ stages
    def _enter(self, s: int) -> None:
        self.stage = s
        st = self.stages[s]
        self.stage_episodes = 0
        self.stage_task_episodes = 0
        self._stream = np.zeros(max(st.stream_window, 1))
        self._task_buf = np.zeros((len(st.idx), max(st.task_window, 1)))
        self._task_count = np.zeros(len(st.idx), dtype=np.int64)
        self._probs = None

    def _holds(self, cond: tuple) -> bool:
        kind = cond[0]
        if kind == "episodes":
            return self.stage_episodes >= cond[1]
        if kind == "mean":
            _, x, w, per_task = cond
            if per_task:
                st = self.stages[self.stage]
                active = st.weights > 0
                if (self._task_count[active] < w).any():
                    return False
                means = np.array([_last_mean(self._task_buf[j], int(self._task_count[j]), w)
                                  for j in np.flatnonzero(active)])
                return bool((means >= x - _MEAN_TOL).all())
            if self.stage_task_episodes < w:
                return False
            return _last_mean(self._stream, self.stage_task_episodes, w) >= x - _MEAN_TOL
        if kind == "all":
            return all(self._holds(c) for c in cond[1])
        return any(self._holds(c) for c in cond[1])

    def _compute_probabilities(self) -> np.ndarray:
        n = self.space.n_tasks
        p = np.zeros(n)
        st = self.stages[self.stage]
        p[st.idx] = st.probs
        return (1.0 - self.epsilon) * p + self.epsilon / n

    # --------------------------------------------------------------- hooks
    def _observe(self, x: np.ndarray, scores: np.ndarray) -> None:
        for i, s in zip(x.tolist(), scores.tolist()):
            st = self.stages[self.stage]
            self.stage_episodes += 1
            j = st.position.get(i)
            if j is not None:
                self._stream[self.stage_task_episodes % self._stream.size] = s
                self.stage_task_episodes += 1
                self._task_buf[j, self._task_count[j] % self._task_buf.shape[1]] = s
                self._task_count[j] += 1
            if st.until is not None and not self.finished and self._holds(st.until):
                if self.stage + 1 < len(self.stages):
                    self._enter(self.stage + 1)
                else:
                    self.finished = True

    def _get_state(self) -> dict[str, Any]:
        return {
            "stage": int(self.stage), "finished": bool(self.finished),
            "stage_episodes": int(self.stage_episodes), "stage_task_episodes": int(self.stage_task_episodes),
            "stream": self._stream.copy(), "task_buf": self._task_buf.copy(), "task_count": self._task_count.copy(),
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        s = int(state["stage"])
        if not 0 <= s < len(self.stages):
            raise ValueError(f"stage {s} does not exist (this curriculum has {len(self.stages)})")
        st = self.stages[s]
        stream = np.asarray(state["stream"], dtype=float)
        task_buf = np.asarray(state["task_buf"], dtype=float)
        task_count = np.asarray(state["task_count"], dtype=np.int64)
        if (stream.shape != (max(st.stream_window, 1),) or task_buf.shape != (len(st.idx), max(st.task_window, 1))
                or task_count.shape != (len(st.idx),)):
            raise ValueError("stage buffers do not match this curriculum")
        finished = bool(state["finished"])
        episodes, task_episodes = int(state["stage_episodes"]), int(state["stage_task_episodes"])
        # (10**30 was taken; stage_task_episodes is checked below to be at most it)
        refuse_past_max_count("saved stage_episodes", episodes, state["stage_episodes"])
        # a negative count or a finished flag on an earlier stage was taken as is: the stage mean became NaN, or
        # the curriculum never advanced again (conditions are not checked once finished)
        if finished and (s != len(self.stages) - 1 or st.until is None):
            raise ValueError(f"the curriculum cannot be finished in stage {s}: only the last stage's condition "
                             "finishes it")
        if not 0 <= task_episodes <= episodes or (task_count < 0).any() or int(task_count.sum()) != task_episodes:
            raise ValueError("stage episode counts are inconsistent (negative, or the per-task counts do not add up "
                             "to the stage's episodes of its tasks)")
        if not (np.isfinite(stream).all() and np.isfinite(task_buf).all()):
            raise ValueError("stage score buffers hold a non-finite score")
        for key, a in (("stream", stream), ("task_buf", task_buf)):  # (-0.5 was taken, and the stage mean with it)
            refuse_outside_unit(key, a, "the stage's recent scores (on the teacher's [0, 1] scale)")
        self._enter(s)
        self.finished = finished
        self.stage_episodes = episodes
        self.stage_task_episodes = task_episodes
        self._stream, self._task_buf, self._task_count = stream.copy(), task_buf.copy(), task_count.copy()

    def _beliefs(self) -> dict[str, Any]:
        st = self.stages[self.stage]
        w = min(self.stage_task_episodes, self._stream.size)
        recent = _last_mean(self._stream, self.stage_task_episodes, w) if w and st.stream_window else None
        return {
            "kind": "discrete",
            "tasks": self.space.task_names(),
            "probability": self.probabilities(),
            "stage": int(self.stage),
            "stage_name": st.name,
            "n_stages": len(self.stages),
            "stage_episodes": int(self.stage_episodes),
            "stage_mean_score": recent,
            "finished": bool(self.finished),
        }
