"""A Gymnasium wrapper that gives every episode a task and reports its score.

``CurriculumWrapper(env, teacher)`` asks ``teacher`` for a task on every
``reset`` and calls ``teacher.observe(task, score)`` once when the episode ends
(terminated or truncated). How the task reaches the environment
(``task_mode``):

* ``"options"`` - ``env.reset(options={"task": task})`` (the default);
* ``"set_task"`` - ``env.unwrapped.set_task(task)`` before ``env.reset()``;
* ``"factory"`` - ``env`` is a function ``make_env(task)``; a fresh env is
  built for every episode (the old one is closed).

Where the task comes from, in order: ``reset(options={"task": ...})`` (the
caller decides), a task sent by :class:`~magister.rl.vector.CurriculumVectorEnv`
(through the reset options, or queued with ``prefetch``), a task pushed with
:meth:`CurriculumWrapper.push_task`, and finally the wrapper's own teacher. Without a teacher the wrapper
"exports" instead: it only applies the tasks it is given and puts each
episode's score in the final ``info`` (``info["magister_score"]``), which is
how vector envs and Ray rollout workers use it.

The teacher can be any object with ``propose()`` and ``observe(task, score)``
(a :class:`~magister.Teacher`, or a :class:`~magister.rl.ray.RayTeacher`).
A level teacher saved while an episode runs holds its proposal as waiting for a
score: a run resumed from that checkpoint in a new process calls
``teacher.drop_pending()`` on the loaded teacher first (its old episodes are
gone: every level teacher has ``drop_pending``).
An episode cut short by an early ``reset`` is not reported: the teacher only
hears about finished episodes, each exactly once (the first such reset warns, except in a
:class:`~magister.rl.CurriculumVectorEnv`, whose ``reset()`` drops running episodes on purpose: a time limit must
be inside the wrapper, ``CurriculumWrapper(TimeLimit(env, n), teacher)``, since the wrapper never sees a
truncation made outside it). A task the wrapper's teacher proposed that will never be scored (its episode cut by a
``reset``, played or not, or running or not started yet at ``close``) goes back to a teacher with ``give_back``,
once, as :class:`~magister.rl.CurriculumVectorEnv` gives back the episodes it cuts: a level teacher stops waiting
for its score (else a later score of that level answered the stale proposal, of another kind), a
:class:`~magister.rl.ray.RayTeacher`'s actor hands it out again. A task given in the reset options or pushed is
not the wrapper's to give back.

Proposal infos: a teacher with ``propose_with_info`` (the level teachers
``plr``, ``robust-plr``, ``accel``, ``learnability``) gives each task a dict
such as ``{"train": False, "replay": False}``. The wrapper puts it in the reset
info (``info["magister_task_info"]``) and the flag in ``info["magister_train"]``:
``False`` means *evaluate only* - the learner must not update its policy on
that episode, but must still send its score.

Scores computed by the learner (``score="external"``): the wrapper does not
turn the episode into a score itself. At the end of each episode it puts the
episode's id in the final info (``info["magister_task_id"]``) and waits; the
learner computes a score from its rollout (e.g. with
:class:`~magister.rl.levels.LevelScorer`) and calls
``wrapper.report(task_ids, scores)`` (or ``report(tasks=..., scores=...)``).
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from ..errors import ConfigError, InvalidScoreError, InvalidTaskError, UnknownTaskError, reworded
from ..levels.spaces import level_key as space_level_key
from ..settings import whole
from ..spaces import Space
from .envs.base import reset_options
from .levels import level_key
from .scores import Episode, as_score_fn

__all__ = ["CurriculumWrapper", "TASK_MODES", "SCORE_KEY", "TASK_ID_KEY", "NEXT_ID_KEY", "TASKS_OPTION",
           "TASK_INFO_KEY", "TRAIN_KEY", "EXTERNAL", "propose_with_info", "DEFAULT_INFO"]

TASK_MODES = ("options", "set_task", "factory")
#: final-info key holding the episode's score (export mode and owning mode alike)
SCORE_KEY = "magister_score"
#: final-info key holding why the episode's score was refused (a sub-env of a vector env: ``defer_refusals``)
SCORE_REFUSED_KEY = "magister_score_refused"
#: final-info key holding the id the vector env gave the task (to match outcomes to tasks)
TASK_ID_KEY = "magister_task_id"
#: reset-info key: the id of the task the episode started with (when the vector env gave one)
NEXT_ID_KEY = "magister_next_task_id"
#: reset-option key through which a vector env sends per-sub-env tasks: {index: (task_id, task)}
TASKS_OPTION = "magister_tasks"
#: reset-info key: the proposal info of the task the episode started with (``{"train": bool, ...}``)
TASK_INFO_KEY = "magister_task_info"
#: reset-info key: False when the episode is for evaluation only (no policy update, but send its score)
TRAIN_KEY = "magister_train"
#: ``score=EXTERNAL``: the learner computes each episode's score and calls ``report``
EXTERNAL = "external"
#: the info of a task from a teacher without ``propose_with_info``
DEFAULT_INFO: dict[str, Any] = {"train": True, "replay": False}


def propose_with_info(teacher: Any, k: int) -> tuple[list[Any], list[dict[str, Any]]]:
    """``k`` tasks and one info dict each, from any teacher (``{"train": True, ...}`` when it gives none)."""
    fn = getattr(teacher, "propose_with_info", None)
    if fn is not None:
        tasks, infos = fn(k)
        infos = [dict(i) for i in infos]
        if len(infos) != k:
            raise RuntimeError(f"{type(teacher).__name__}.propose_with_info({k}) returned {len(infos)} infos")
        for i in infos:
            i.setdefault("train", True)
        return list(tasks), infos
    return list(teacher.propose(k)), [dict(DEFAULT_INFO) for _ in range(k)]


#: modules whose functions run env workers that reset their envs in a process of their own
_ENV_WORKER_MODULES = ("gymnasium.vector.async_vector_env", "gym.vector.async_vector_env",
                       "stable_baselines3.common.vec_env.subproc_vec_env", "ray.rllib.env.")


def _in_env_worker() -> bool:
    """True in a process that works for another one: a daemonic multiprocessing child (Gymnasium's
    ``AsyncVectorEnv`` and SB3's ``SubprocVecEnv`` start their workers so, and ``multiprocessing.Pool``), or any
    process whose call stack runs a known env worker (an ``AsyncVectorEnv(daemon=False)`` worker, an RLlib env
    runner)."""
    import multiprocessing
    import sys

    if multiprocessing.current_process().daemon:
        return True
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__") or ""
        if module.startswith(_ENV_WORKER_MODULES):
            return True
        frame = frame.f_back
    return False


def close_client(teacher: Any) -> None:
    """What an env does with its teacher when it closes: a :class:`~magister.rl.ray.RayTeacher` copied into this
    process (an ``env_fn`` closing over it) is closed, so its last outcomes reach the actor and its prefetched
    tasks go to other workers; any other client with ``flush`` is flushed (a client this process shares is not
    closed: its buffer is the other users' too); a local teacher (or None) is left alone."""
    if getattr(teacher, "_copy", False):
        teacher.close()
    elif callable(getattr(teacher, "flush", None)):
        teacher.flush()


def hand_back(client: Any, items: list[tuple[Any, dict[str, Any]]]) -> int:
    """Give ``client`` back ``items`` (``(task, info)`` pairs that will never be scored) with its ``give_back``;
    a client without one drops them. Returns how many went back."""
    give_back = getattr(client, "give_back", None)
    if not items or not callable(give_back):
        return 0
    return int(give_back([t for t, _ in items], [dict(i) for _, i in items]))


def send_scores(n: int, send_all: Callable[[], Any], send_one: Callable[[int], Any]) -> list[tuple[int, str]]:
    """Send ``n`` finished episodes' scores to a teacher in one batch (``send_all()``); a batch the teacher refuses
    (an ``InvalidScoreError``) is sent again one score at a time (``send_one(j)``, ``j`` in ``0 .. n - 1``), so that
    the scores it takes are recorded, as one batch records them. Returns the refused ones, ``(j, reason)`` in order:
    nothing of them is recorded. The one rule of ``CurriculumVectorEnv.step`` and of ``PPO.learn``'s level scores."""
    try:
        send_all()
        return []
    except InvalidScoreError as e:
        if n == 1:
            return [(0, str(e))]
    refused = []
    for j in range(n):
        try:
            send_one(j)
        except InvalidScoreError as e:
            refused.append((j, str(e)))
    return refused


def refused_text(refused: list[tuple[Any, str]], noun: str, most: int | None = None) -> str:
    """``"sub-envs 0, 2: <reason>; sub-env 1: <other reason>"``: refused scores, ``(key, reason)``, grouped by their
    reason (in the order met), ``noun`` naming the keys; at most ``most`` reasons (None: all), the other refused ones
    counted ("; and 4 more"). For the errors of ``CurriculumVectorEnv.step`` and ``PPO.learn``."""
    reasons: dict[str, list[Any]] = {}
    for key, why in refused:
        reasons.setdefault(why.rstrip(". "), []).append(key)
    items = list(reasons.items())
    shown = items if most is None else items[:most]
    what = "; ".join(f"{noun}{'s' if len(keys) > 1 else ''} {', '.join(map(str, keys))}: {why}" for why, keys in shown)
    if len(items) > len(shown):
        what += f"; and {sum(len(keys) for _, keys in items[len(shown):])} more"
    return what


def give_back_unscored(wrapper: CurriculumWrapper, client: Any) -> int:
    """Hand ``client`` (a :class:`~magister.rl.ray.RayTeacher` feeding ``wrapper`` by ``push_task``) back the
    wrapper's tasks that will never be scored: those pushed for episodes that never started, and the running
    episode's if it was pushed (the episode is abandoned: an RLlib runner that stops or resets all its envs). They
    leave the wrapper; a client without ``give_back`` drops them. Returns how many went back."""
    items = list(wrapper._pushed)
    if wrapper._running and getattr(wrapper, "_pushed_running", False):
        items.insert(0, (wrapper.task, wrapper.task_info))
        wrapper._running = False  # abandoned on purpose, and given back: not a cut episode to warn about
    wrapper._pushed.clear()
    wrapper._pushed_running = False
    return hand_back(client, items)


def teacher_key(teacher: Any) -> Any:
    """A small picklable identity of the teacher a client reaches (its ``teacher_key()``: equal for every client
    of one remote teacher, :class:`~magister.rl.ray.RayTeacher` gives its actor's id, ``HTTPTeacher`` its server
    and curriculum), or None (a local teacher: only the object itself is that teacher)."""
    f = getattr(type(teacher), "teacher_key", None)
    return f(teacher) if callable(f) else None


def same_teacher(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` observe one teacher: the same object, or two clients of one remote teacher (equal
    :func:`teacher_key`)."""
    if a is None or b is None:
        return False
    if a is b:
        return True
    key = teacher_key(a)
    return key is not None and key == teacher_key(b)


class TeacherKey:
    """Stands for a remote teacher's client in another process (an async vector env's worker), by its
    :func:`~magister.rl.wrapper.teacher_key`: for :func:`check_one_owner` there, every client of that teacher is the same teacher."""

    def __init__(self, key: Any):
        self.key = key

    def teacher_key(self) -> Any:
        return self.key

    @classmethod
    def of(cls, teacher: Any) -> TeacherKey | None:
        """The key of ``teacher``'s clients, or None (a local teacher: a copy in a worker is another teacher)."""
        key = teacher_key(teacher)
        return None if key is None else cls(key)


def check_one_owner(env: gym.Env, teacher: Any, driver: str) -> None:
    """Refuse an env that reports each episode to ``teacher`` itself (an ``OpponentEnv(teacher=t)``) when
    ``driver`` (a wrapper or vector env that observes ``teacher``) is to observe it too: every episode would be
    recorded twice. Two clients of one Ray actor (two ``RayTeacher(actor)``), or of one curriculum of a
    ``magister serve`` server (two ``HTTPTeacher``), are one teacher."""
    inner: Any = env
    while isinstance(inner, gym.Wrapper):  # a CurriculumWrapper of this teacher already in the stack
        if isinstance(inner, CurriculumWrapper) and same_teacher(inner.teacher, teacher):
            raise ConfigError(
                f"the env is already a CurriculumWrapper of this teacher ({inner}), so {driver} would record every "
                "episode twice; wrap the env once: " + (
                    "CurriculumVectorEnv wraps each sub-env itself, so give it functions that return the bare env "
                    "(e.g. [MyEnv] * 8)" if "vector" in driver else
                    "drop one CurriculumWrapper (or build the inner one with teacher=None)"))
        inner = inner.env
    if same_teacher(getattr(env.unwrapped, "teacher", None), teacher):
        raise ConfigError(
            f"{type(env.unwrapped).__name__} already reports its outcomes to this teacher (the same object, or a "
            f"client of the same Ray actor or service curriculum), so {driver} would "
            "record every episode twice; give the teacher to one of them only (e.g. build the env with "
            "teacher=None and let the wrapper or vector env propose and observe)"
        )


def _same_layout(a: gym.Space, b: gym.Space) -> bool:
    """Whether a vector env can batch spaces ``a`` and ``b`` as one (boxes: same shape and dtype, bounds may
    differ; other spaces: equal)."""
    if isinstance(a, gym.spaces.Box) and isinstance(b, gym.spaces.Box):
        return a.shape == b.shape and a.dtype == b.dtype
    if isinstance(a, gym.spaces.Dict) and isinstance(b, gym.spaces.Dict):
        return list(a.spaces) == list(b.spaces) and all(_same_layout(a[k], b[k]) for k in a.spaces)
    if isinstance(a, gym.spaces.Tuple) and isinstance(b, gym.spaces.Tuple):
        return len(a.spaces) == len(b.spaces) and all(_same_layout(x, y) for x, y in zip(a.spaces, b.spaces))
    return a == b


def _takes_options(env: gym.Env) -> bool:
    """Whether the env stack takes ``options=`` (a reset without it failed with a raw TypeError at the first
    reset): Gymnasium's wrappers (and wrappers that keep ``gym.Wrapper.reset``) pass them on to the env under them;
    a wrapper of another's that takes them may read them itself (an adapter that reads ``options["task"]`` and
    resets an env without options), so the stack takes them; else the bare env's ``reset`` decides. A signature
    that cannot be read is taken to take them."""
    import inspect

    layer: Any = env
    while True:
        passes_on = isinstance(layer, gym.Wrapper) and str(
            getattr(type(layer).reset, "__module__", "")).split(".")[0] == "gymnasium"
        if not passes_on:
            try:
                params = inspect.signature(layer.reset).parameters.values()
            except (TypeError, ValueError):
                return True
            if any(p.name == "options" or p.kind == p.VAR_KEYWORD for p in params):
                return True
            if isinstance(layer, gym.Wrapper):  # (a wrapper without options: the env under it cannot get them)
                return False
        if not isinstance(layer, gym.Wrapper):
            return False
        layer = layer.env


def _centre_task(space: Space) -> Any:
    return space.from_unit_batch(np.full((1, space.dim), 0.5))[0]


class CurriculumWrapper(gym.Wrapper):
    """Give each episode a task from a teacher and report its score when it ends.

    Args:
        env: a ``gymnasium.Env`` (``task_mode`` "options" or "set_task") or a
            function ``make_env(task) -> Env`` (``task_mode="factory"``).
        teacher: a teacher (anything with ``propose()`` / ``observe()``), or
            ``None`` for export mode (tasks come with the reset options).
        task_mode: "options", "set_task" or "factory" (see the module docstring).
        score: "success" (``info["is_success"]``), ``ReturnScore(low, high)``,
            a ``(low, high)`` return range, a function ``f(Episode) -> float``,
            or ``"external"`` (the learner calls :meth:`report` after the episode).
        space: the task space; defaults to ``teacher.space``. Needed in factory
            mode without a teacher (to build the first env).
        index: this env's position inside a vector env (export mode).
        initial_task: task used to build the first env in factory mode
            (default: the centre of the space).
    """

    def __init__(
        self,
        env: gym.Env | Callable[[Any], gym.Env],
        teacher: Any = None,
        *,
        task_mode: str = "options",
        score: Any = "success",
        space: Space | None = None,
        index: int | None = None,
        initial_task: Any = None,
    ):
        if task_mode not in TASK_MODES:
            raise ConfigError(f"task_mode must be one of {TASK_MODES}, got {task_mode!r}")
        if teacher is not None and not (hasattr(teacher, "propose") and hasattr(teacher, "observe")):
            raise ConfigError(
                f"teacher must have propose() and observe() (a magister Teacher or RayTeacher), got {teacher!r}"
            )
        self.teacher = teacher
        self.task_space: Space | None = space if space is not None else getattr(teacher, "space", None)
        self.task_mode = task_mode
        #: True when the learner sends the scores (``score="external"``)
        self.external = isinstance(score, str) and score == EXTERNAL
        self.score_fn = None if self.external else as_score_fn(score)
        self.index = index
        self._factory: Callable[[Any], gym.Env] | None = None
        if task_mode == "factory":
            if isinstance(env, gym.Env) or not callable(env):
                raise ConfigError("task_mode='factory' needs a function make_env(task) -> Env, not an env instance")
            self._factory = env
            if initial_task is None:
                if self.task_space is None:
                    raise ConfigError("factory mode without a teacher needs space=... or initial_task=... to build the first env")
                initial_task = _centre_task(self.task_space)
            env = self._factory(initial_task)
        elif not isinstance(env, gym.Env):
            raise ConfigError(
                f"CurriculumWrapper needs a gymnasium.Env (or task_mode='factory' with make_env(task)), got {env!r}"
            )
        if task_mode == "set_task" and not callable(getattr(env.unwrapped, "set_task", None)):
            raise ConfigError(
                f"task_mode='set_task' but {type(env.unwrapped).__name__} has no set_task(task) method; "
                "use task_mode='options' or 'factory'"
            )
        if task_mode == "options" and not _takes_options(env):
            raise ConfigError(
                f"task_mode='options' passes each task as env.reset(options={{'task': task}}), and "
                f"{type(env.unwrapped).__name__}.reset takes no options argument; give it one (reset(self, *, "
                "seed=None, options=None), reading options['task']), or use task_mode='set_task' (an "
                "env.set_task(task) method) or task_mode='factory' (a function make_env(task))")
        check_one_owner(env, teacher, "the wrapper")
        super().__init__(env)
        self._pushed: list[Any] = []
        #: tasks the teacher proposed for a reset the env failed: [(task, info), ...], played next
        self._proposed: list[tuple[Any, dict[str, Any]]] = []
        #: tasks queued by a vector env in prefetch mode: [(task_id, task), ...]
        self._queue: list[tuple[int, Any, dict[str, Any]]] = []
        self.task: Any = None
        self.task_id: int | None = None
        #: proposal info of the current episode's task
        self.task_info: dict[str, Any] = dict(DEFAULT_INFO)
        #: external scores: episodes that ended and wait for ``report`` (episode id -> task)
        self.pending: dict[int, Any] = {}
        self._local_id = 0
        self._return = 0.0
        self._length = 0
        self._running = False
        self._pushed_running = False  # the running episode's task came from push_task (a feeder's)
        self._own_running = False  # the running episode's task came from the wrapper's teacher
        self._warned_cut = False
        self._pid: int | None = None  # the process the last reset ran in (teacher copies are checked per process)
        #: (task, score) of the last finished episode
        self.last_outcome: tuple[Any, float] | None = None
        self.n_episodes = 0
        #: a score the score function refuses (an ``InvalidScoreError``) goes into the final info
        #: (``SCORE_REFUSED_KEY``) instead of being raised from ``step`` (set by ``CurriculumVectorEnv``, which raises
        #: it once every sub-env has stepped)
        self.defer_refusals = False
        #: a client that pushes tasks into this wrapper from outside and hears its outcomes (the RayTeacher of an
        #: RLlib env runner, set by :func:`~magister.rl.ray.rllib_callback`): :meth:`close` closes it
        self.feeder: Any = None

    # ----------------------------------------------------------------- tasks
    def push_task(self, task: Any, info: dict[str, Any] | None = None) -> None:
        """Use ``task`` (with its proposal ``info``) for the next reset, before asking the teacher.

        Validated now if the space is known."""
        if self.task_space is not None:
            task = self.task_space.validate(task)
        self._pushed.append((task, dict(info) if info is not None else dict(DEFAULT_INFO)))

    def queue_tasks(self, sent: dict[int, list[tuple]], replace: bool = False) -> int:
        """Queue ``sent[self.index]`` (a list of ``(task_id, task[, info])``) for the next episodes; returns the queue length.

        Used by :class:`~magister.rl.vector.CurriculumVectorEnv` with ``prefetch``:
        the vector env's own same-step autoreset (inside the worker, no options)
        then starts the next episode with the first queued task, so a finished
        episode costs no extra round trip.
        """
        if replace:
            self._queue.clear()
        self._queue.extend(_unpack(item) for item in sent.get(self.index, []))
        return len(self._queue)

    def _next_task(self, options: dict[str, Any]) -> tuple[Any, int | None, dict[str, Any]]:
        info = options.pop(TASK_INFO_KEY, None)
        if "task" in options:
            return options.pop("task"), None, dict(info or DEFAULT_INFO)
        sent = options.pop(TASKS_OPTION, None)
        if sent is not None:
            if self.index is None:
                raise ConfigError("this wrapper got per-env tasks but has no index; build it with index=i")
            if self.index in sent:
                task_id, task, info = _unpack(sent[self.index])
                return task, task_id, info
        if self._queue:
            task_id, task, info = self._queue.pop(0)
            return task, task_id, info
        if self._proposed:
            task, info = self._proposed.pop(0)
            return task, None, info
        if self._pushed:
            task, info = self._pushed.pop(0)
            return task, None, info
        if self.teacher is not None:
            tasks, infos = propose_with_info(self.teacher, 1)
            return tasks[0], None, infos[0]
        raise ConfigError(
            "no task for this episode: give the wrapper a teacher, push_task(task), or reset(options={'task': task})"
        )

    def _apply(self, task: Any, options: dict[str, Any]) -> dict[str, Any]:
        if self.task_mode == "options":
            options["task"] = task
        elif self.task_mode == "set_task":
            self.env.unwrapped.set_task(task)
        else:
            assert self._factory is not None
            env = self._factory(task)  # built before the old env closes: a failing factory leaves it working
            if self.index is not None:  # a sub-env of a vector env, which batches one layout of spaces
                for what in ("observation", "action"):
                    old, new = getattr(self.env, what + "_space"), getattr(env, what + "_space")
                    if not _same_layout(old, new):
                        env.close()
                        raise ConfigError(
                            f"make_env({task!r}) built an env whose {what} space {new} differs from the first "
                            f"env's {old}: a vector env batches every sub-env's {what}s in one layout (this failed "
                            "inside Gymnasium with 'Output array is the wrong shape'); give every task's env the "
                            f"same {what} space (e.g. pad to the largest)")
            self.env.close()
            self.env = env
        return options

    # ------------------------------------------------------------------ gym
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        options = reset_options("CurriculumWrapper", options)  # (before anything changes)
        if options and "task" in options and self.teacher is not None and self.task_space is not None:
            # a task the teacher cannot take was played, and refused only by teacher.observe at the episode's end,
            # out of step(): the episode and its outcome were lost. Checked before anything changes (as push_task
            # checks); the env still gets the task as given
            try:
                self.task_space.validate(options["task"])
            except InvalidTaskError as e:
                raise reworded(e, f"reset(options={{'task': ...}}): {e}; the wrapper's teacher could not take its "
                                  "score, so it is not played (nothing was reset)")
        if self._running and self._length and not self._warned_cut and self.index is None:
            # documented (an episode cut short is not reported), but also what every episode of a time limit
            # put *outside* the wrapper looks like: the wrapper never sees its truncation, and the teacher
            # silently heard only the episodes that terminated. (Not inside a CurriculumVectorEnv (index): it
            # builds the wrapper outermost, and its own reset() cuts episodes on purpose, as documented)
            self._warned_cut = True
            warnings.warn(f"CurriculumWrapper.reset() while an episode was running ({self._length} steps, not "
                          "ended): that episode is not reported to the teacher. If a wrapper outside "
                          "CurriculumWrapper ends episodes (e.g. TimeLimit), put it inside instead: "
                          "CurriculumWrapper(TimeLimit(env, n), teacher). (Shown once per wrapper.)",
                          UserWarning, stacklevel=2)
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._check_teacher_process()
        # the episode cut (played or not) goes back to the teacher, before the next proposal, as
        # CurriculumVectorEnv.reset gives back the episodes it cuts
        self._give_back_own()
        opts = dict(options or {})
        given = "task" in opts or (self.index is not None and self.index in (opts.get(TASKS_OPTION) or {}))
        n_queued, n_pushed = len(self._queue), len(self._pushed)
        task, task_id, task_info = self._next_task(opts)
        if self._factory is not None and seed is None:
            # a fresh env per episode: seeded from the old env's generator, so that a run seeded once
            # (reset(seed=s), then reset()) repeats as in the other modes (each new env drew fresh entropy)
            seed = int(self.env.np_random.integers(0, 2**31 - 1))
        try:
            opts = self._apply(task, opts)
            # no options, none passed: an env whose reset takes none works in the set_task and factory modes
            obs, info = self.env.reset(seed=seed, options=opts) if opts else self.env.reset(seed=seed)
        except BaseException as e:
            # the env refused or failed: a task this wrapper took (queued, pushed or proposed by the teacher)
            # goes back to the front, so the next reset plays it and no proposal is lost; a task given in
            # options stays the caller's. A task of the teacher's, proposed or pushed (rllib_callback pushes its
            # client's), that the env says does not exist (an opponent evicted from its pool since a client drew it
            # ahead) is dropped instead: at the front, every later reset failed on it again (and a RayTeacher given
            # it back hands it out again, to another worker, where it failed again: round and round for good)
            if len(self._queue) < n_queued:
                if isinstance(e, UnknownTaskError):  # gone: dropped, with the later queued copies of it (a vector
                    # env's prefetch queues one opponent several times; each copy failed a later reset again)
                    self._queue = [item for item in self._queue if not self._same_task(item[1], task)]
                else:
                    self._queue.insert(0, (task_id, task, task_info))
            elif len(self._pushed) < n_pushed:
                if not isinstance(e, UnknownTaskError):
                    self._pushed.insert(0, (task, task_info))
            elif not given and not isinstance(e, UnknownTaskError):  # the teacher's (proposed now, or for an
                # earlier failed reset); one the env says does not exist is dropped
                self._proposed.insert(0, (task, task_info))
            raise
        if task_id is None and self.external:
            task_id = self._local_id  # an id the learner can report the score with
            self._local_id += 1
        self.task, self.task_id, self.task_info = task, task_id, task_info
        self._return, self._length, self._running = 0.0, 0, True
        self._pushed_running = len(self._pushed) < n_pushed
        self._own_running = (not given and len(self._queue) == n_queued and len(self._pushed) == n_pushed
                             and self.teacher is not None)  # proposed now, or for a failed reset (_proposed)
        info = dict(info)
        if task_id is not None:
            info[NEXT_ID_KEY] = task_id
        info[TASK_INFO_KEY] = dict(task_info)
        info[TRAIN_KEY] = bool(task_info.get("train", True))
        return obs, info

    def _same_task(self, a: Any, b: Any) -> bool:
        """Whether tasks ``a`` and ``b`` are one task of the space (by its level key; without a space, neither)."""
        if self.task_space is None:
            return False
        try:
            return bool(space_level_key(self.task_space, a) == space_level_key(self.task_space, b))
        except Exception:  # noqa: BLE001 - a task the space does not take is no copy of one it does
            return False

    def _give_back_own(self, closing: bool = False) -> int:
        """Give the teacher (one with ``give_back``) back the running episode's task if the teacher proposed it,
        and at ``closing`` the tasks it proposed for resets the env failed: they will never be scored. (Without
        this a level teacher went on waiting for their scores, so a later score of the level answered the stale
        proposal, maybe of another kind.) The running episode given back is then not reported, even if it goes on
        (the env's reset fails after this). Returns how many went back."""
        if not callable(getattr(self.teacher, "give_back", None)):
            return 0
        items = [(self.task, self.task_info)] if self._running and self._own_running else []
        if items:
            self._running = False
        if closing:
            items += self._proposed
            self._proposed = []
        return hand_back(self.teacher, items)

    def _give_back_ended(self) -> None:
        """Give the teacher (one with ``give_back``) back the task of the episode that just ended if the teacher
        proposed it: its score was refused, so it will never be scored."""
        if self._own_running and callable(getattr(self.teacher, "give_back", None)):
            self._own_running = False
            hand_back(self.teacher, [(self.task, self.task_info)])

    def _check_teacher_process(self) -> None:
        origin = getattr(self.teacher, "_origin_pid", None)  # a local magister Teacher (not a RayTeacher client)
        # only in an env worker: a child process that runs a whole training with the teacher it was given (a plain
        # multiprocessing.Process) is that teacher's one user, and warned for nothing
        if origin is not None and origin != self._pid and _in_env_worker():
            warnings.warn(f"CurriculumWrapper runs in process {self._pid} with a copy of a teacher built in process "
                          f"{origin} (e.g. inside an AsyncVectorEnv or SubprocVecEnv worker): every worker's copy "
                          "proposes the same tasks and learns alone, and the teacher you hold never hears a score. "
                          "Use CurriculumVectorEnv(env_fns, teacher, vectorization='async') (the teacher stays in "
                          "your process); or put the teacher in a Ray actor and close the env_fns over "
                          "RayTeacher('actor name'), with workers started by context='spawn' or 'forkserver' "
                          "(AsyncVectorEnv's default on Linux, 'fork', breaks Ray); or build an HTTPTeacher inside "
                          "each env_fn (one connection per worker). (A whole training in a child process may take a "
                          "copy of the teacher: start it as a plain, non-daemonic process.)", UserWarning,
                          stacklevel=3)

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self._running:
            self._return += float(reward)
            self._length += 1
            if terminated or truncated:
                self._running = False
                info = dict(info)
                if self.external:
                    assert self.task_id is not None
                    if self.teacher is not None:
                        self.pending[self.task_id] = self.task
                else:
                    assert self.score_fn is not None
                    episode = Episode(self.task, self._return, self._length, dict(info), bool(terminated),
                                      bool(truncated))
                    try:
                        score = float(self.score_fn(episode))
                        if self.teacher is not None:
                            self.teacher.observe(self.task, score)
                    except InvalidScoreError as e:
                        if not self.defer_refusals:
                            # the episode's score will never come: its task goes back to a teacher with give_back
                            # (a level teacher waited for it for good, so a later score of the level answered it)
                            self._give_back_ended()
                            raise
                        # a sub-env of a CurriculumVectorEnv: raising here stopped the inner vector env mid-step
                        # (the later sub-envs never stepped; an async worker died), so the vector env raises it
                        info[SCORE_REFUSED_KEY] = str(e)
                        score = None
                    if score is not None:
                        info[SCORE_KEY] = score
                        self.last_outcome = (self.task, score)
                if self.task_id is not None:
                    info[TASK_ID_KEY] = self.task_id
                info[TRAIN_KEY] = bool(self.task_info.get("train", True))
                self.n_episodes += 1
        return obs, reward, terminated, truncated, info

    # ------------------------------------------------------ external scores
    def close(self) -> None:
        """Close the env, then send what the teacher client buffered: a :class:`~magister.rl.ray.RayTeacher`
        copied into this worker (an ``env_fn`` closing over it) is closed, so its last outcomes reach the actor and
        its prefetched tasks go to other workers; any other client with ``flush`` is flushed (a client this
        process shares with other wrappers is not closed: its buffer is theirs too). A :attr:`feeder` (an RLlib
        env runner's client, which RLlib stops by closing its env) is given back the tasks it pushed that will never
        be scored (the running episode's, the pushed ones not started: see :func:`give_back_unscored`), then closed.
        A teacher with ``give_back`` first gets back the tasks it proposed that will never be scored (the running
        episode's, one a failed reset did not start), as
        :meth:`CurriculumVectorEnv.close <magister.rl.vector.CurriculumVectorEnv.close_extras>` gives them back."""
        try:
            super().close()
        finally:
            try:
                try:  # the running episode and a failed reset's task are never scored: back to the teacher
                    self._give_back_own(closing=True)
                finally:
                    close_client(self.teacher)
            finally:
                feeder, self.feeder = self.feeder, None
                if feeder is not None:
                    try:  # the running episode and the pushed tasks are never scored: they go back to the feeder
                        give_back_unscored(self, feeder)
                    finally:
                        feeder.close()

    def report(self, task_ids: Any = None, scores: Any = None, *, tasks: Any = None) -> None:
        """Send learner-computed scores (``score="external"``) to the wrapper's teacher.

        ``task_ids`` are the ids from the final infos (``info["magister_task_id"]``)
        of finished episodes; or pass ``tasks=[...]`` to name the tasks themselves.
        Every id is checked before anything is sent; an id is reported once.

        A task reported by ``tasks=`` settles the oldest finished episode of an equal task still waiting in
        :attr:`pending` (first in, first out: with one task played twice, the first report is the first
        episode's), so that episode can no longer be reported by its id; a task that matches no waiting episode
        is sent all the same. Tasks are equal when the space writes them the same way (its level key: a
        discrete task's index, a continuous task's exact values).
        """
        if self.teacher is None:
            raise ConfigError("report() sends scores to the wrapper's teacher, and this wrapper has none "
                              "(in a vector env, call CurriculumVectorEnv.report)")
        if (task_ids is None) == (tasks is None) or scores is None:
            raise ConfigError("report needs scores and either task_ids=... or tasks=... (not both)")
        s = np.atleast_1d(np.asarray(scores))  # as given: the teacher refuses text, None and NaN clearly
        ids: list[int | None]  # the waiting episode each reported task settles (None: none)
        if tasks is None:
            given = episode_ids(task_ids)
            unknown = [i for i in given if i not in self.pending]
            if unknown or len(set(given)) != len(given):
                raise ConfigError(f"report: task ids {unknown or given} are not finished episodes waiting for a "
                                  f"score (waiting: {sorted(self.pending)[:10]}); each episode is reported once")
            tasks = [self.pending[i] for i in given]
            ids = list(given)
        else:
            tasks = list(tasks)
            ids = self._oldest_pending(tasks)
        if len(tasks) != len(s):
            raise ConfigError(f"report got {len(tasks)} tasks but {len(s)} scores; pass one score per task")
        if callable(getattr(self.teacher, "observe_batch", None)):
            self.teacher.observe_batch(tasks, s)
            for i in ids:
                if i is not None:
                    del self.pending[i]
        else:  # a teacher with observe() only (the wrapper takes one): one call per episode, each reported once
            for task, score, i in zip(tasks, s, ids):
                self.teacher.observe(task, score)
                if i is not None:
                    del self.pending[i]
        if len(s):
            self.last_outcome = (tasks[-1], float(s[-1]))

    def _task_key(self, task: Any) -> Any:
        """The key by which a reported task is matched to a waiting episode (``None``: it matches none)."""
        try:
            if self.task_space is not None:
                return space_level_key(self.task_space, self.task_space.validate(task))
            return level_key(task)
        except (ValueError, TypeError):  # a task the space refuses is no episode's (the teacher refuses it too)
            return None

    def _oldest_pending(self, tasks: list[Any]) -> list[int | None]:
        """Per reported task, the id of the oldest waiting episode of an equal task not matched to an earlier
        one of ``tasks`` (``None`` where there is none); nothing is removed here."""
        waiting: dict[Any, list[int]] = {}
        for i, task in self.pending.items():  # in the order the episodes finished: oldest first
            key = self._task_key(task)
            if key is not None:
                waiting.setdefault(key, []).append(i)
        out: list[int | None] = []
        for task in tasks:
            queue = waiting.get(self._task_key(task)) if waiting else None
            out.append(queue.pop(0) if queue else None)
        return out


def episode_ids(task_ids: Any) -> list[int]:
    """The episode ids a learner passes to ``report``, as ints; an id that is not a whole number (``2.5``, text,
    a bool) is refused rather than truncated to another episode's id."""
    return [whole("report: a task id", i, 0, floats=True, hint="pass the ids of the final infos "
                  "(info['magister_task_id'])") for i in np.atleast_1d(np.asarray(task_ids)).tolist()]


def _unpack(item: Any) -> tuple[int, Any, dict[str, Any]]:
    """``(task_id, task)`` or ``(task_id, task, info)`` -> ``(task_id, task, info)``."""
    if len(item) == 3:
        return int(item[0]), item[1], dict(item[2])
    return int(item[0]), item[1], dict(DEFAULT_INFO)
