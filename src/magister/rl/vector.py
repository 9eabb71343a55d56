"""Curricula for Gymnasium vector envs: the teacher stays in the main process.

:class:`CurriculumVectorEnv` builds a ``SyncVectorEnv`` or ``AsyncVectorEnv``
whose sub-envs are :class:`~magister.rl.wrapper.CurriculumWrapper` s in export
mode, and drives it with ``autoreset_mode=DISABLED`` so that it decides when and
with which task each sub-env resets:

1. ``step(actions)`` steps every sub-env once (one round trip);
2. the sub-envs whose episode ended report their score in their final info
   (``info["magister_score"]``, with the task id they were given);
3. the teacher gets all of them in one ``observe_batch`` call, then proposes the
   next tasks in one ``propose(k)`` call;
4. those sub-envs are reset with one batched ``reset(options={"reset_mask": done,
   "magister_tasks": {i: (id, task)}})`` call (one more round trip, only on steps
   where some episode ended; all finished sub-envs reset in parallel).

With ``prefetch=q`` each sub-env instead keeps ``q`` tasks queued and the
inner vector env's own same-step autoreset starts the next episode inside the
worker; queues are topped up in one batched call only when one runs empty.

Proposal infos (``teacher.propose_with_info``) travel with each task to its
sub-env (reset info ``magister_task_info`` / ``magister_train``); the vector
env also keeps them for the running episodes: :attr:`CurriculumVectorEnv.episode_train`
(False = evaluate only: do not update the policy on it, but send its score) and
:attr:`CurriculumVectorEnv.episode_ids`. With ``score="external"`` the vector env
does not score episodes itself: the learner computes a score per finished
episode from its rollout and calls :meth:`CurriculumVectorEnv.report`.

A refused score (see :meth:`CurriculumVectorEnv.step`) is raised once the step is done, so the env goes on.

No polling thread, no per-reset request. Each task carries an id and the
outcome is matched to it, so an outcome is never lost nor counted twice (a
mismatch raises). Outwardly the env follows Gymnasium's ``SAME_STEP``
autoreset convention: the observation returned for a finished sub-env is the
first observation of its next episode, and ``infos["final_obs"]`` /
``infos["final_info"]`` hold the last ones (masks ``_final_obs`` / ``_final_info``).

Saving and resuming a level teacher: ``close()`` gives it back the tasks of the
running episodes and the queued ones, so a teacher saved after ``close()`` waits
for no score. One saved while episodes run (a checkpoint mid-run) holds their
proposals as waiting; the run that goes on scores them, but a run resumed from
that checkpoint in a new process never will: call ``teacher.drop_pending()`` on
the loaded teacher before building the new vector env (every level teacher has it).
"""

from __future__ import annotations

from contextlib import suppress
from copy import deepcopy
from functools import partial
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv

from collections import deque

from ..errors import ConfigError, InvalidScoreError, UnknownTaskError
from ..settings import whole
from .envs.base import reset_options
from .wrapper import EXTERNAL, NEXT_ID_KEY, SCORE_KEY, SCORE_REFUSED_KEY, TASK_ID_KEY, TASKS_OPTION, \
    CurriculumWrapper, TeacherKey, check_one_owner, close_client, episode_ids, hand_back, propose_with_info, \
    refused_text, send_scores, teacher_key

__all__ = ["CurriculumVectorEnv"]


def _is_mask(infos: dict[str, Any], key: str) -> bool:
    return key.startswith("_") and key[1:] in infos


def _masked_out(infos: dict[str, Any], done: np.ndarray) -> dict[str, Any]:
    """A copy of a vector env's ``infos`` without the entries of the sub-envs in ``done``."""
    out: dict[str, Any] = {}
    for key, value in infos.items():
        if _is_mask(infos, key) or "_" + key not in infos:
            continue
        mask = np.asarray(infos["_" + key], dtype=bool) & ~done
        if mask.any():
            out[key] = _masked_out(value, done) if isinstance(value, dict) else np.array(value, copy=True)
            out["_" + key] = mask
    return out


def _with_rows(out: dict[str, Any], new: dict[str, Any], rows: np.ndarray) -> dict[str, Any]:
    """``out`` (vector infos, changed in place) with the entries of the vector infos ``new`` for the sub-envs in
    ``rows``: one array operation per key, dtypes kept (a bool taken out one sub-env at a time and put back by
    ``VectorEnv._add_info`` became an object array of None and ``np.True_``, and each sub-env cost a pass over
    every key)."""
    for key, value in new.items():
        if _is_mask(new, key) or "_" + key not in new:
            continue
        mask = np.asarray(new["_" + key], dtype=bool) & rows
        if not mask.any():
            continue
        old = out.get(key)
        shown = out.get("_" + key)
        if isinstance(value, dict):
            merged: Any = _with_rows(old if isinstance(old, dict) else {}, value, rows)
        else:
            value = np.asarray(value)
            if isinstance(old, np.ndarray) and old.shape[1:] == value.shape[1:]:
                try:
                    dtype = np.result_type(old, value)
                except TypeError:  # (text beside numbers: kept as objects)
                    dtype = np.dtype(object)
                merged = old.astype(dtype, copy=False)
                merged[mask] = value[mask]
            else:  # none yet, or of another shape than the step info's: only the new rows are shown
                merged, shown = value.copy(), None
        out[key] = merged
        out["_" + key] = mask if shown is None else np.asarray(shown, dtype=bool) | mask
    return out


def _local_teacher(env: gym.Env, game: gym.Env) -> str | None:
    """What holds a local teacher in ``env`` (a :class:`CurriculumWrapper` of the stack, or the ``OpponentEnv``
    ``game`` itself), else None. Clients of a remote teacher (``RayTeacher``, ``HTTPTeacher``: a ``teacher_key``)
    reach their teacher from any process."""
    from .pettingzoo import OpponentEnv

    inner: Any = env
    while isinstance(inner, gym.Wrapper):
        if isinstance(inner, CurriculumWrapper) and inner.teacher is not None and teacher_key(inner.teacher) is None:
            return f"a CurriculumWrapper of the teacher {inner.teacher!r}"
        inner = inner.env
    own = getattr(game, "teacher", None) if isinstance(game, OpponentEnv) else None
    if own is not None and teacher_key(own) is None:
        return f"an OpponentEnv with its own teacher {own!r}"
    return None


#: the attribute of an async sub-env (its CurriculumWrapper) holding the ConfigError that refused it in its worker
_REFUSED = "magister_refused"


def _make_sub(fn: Callable[..., gym.Env], index: int, task_mode: str, score: Any, space: Any,
              owner: Any = None, workers: bool = False) -> gym.Env:
    env = fn if task_mode == "factory" else fn()
    sub = CurriculumWrapper(env, None, task_mode=task_mode, score=score, space=space, index=index)
    sub.defer_refusals = True  # a refused score comes back in the final info: CurriculumVectorEnv.step raises it
    try:
        _check_sub(sub, index, owner, workers)
    except ConfigError as e:
        if not workers:
            sub.close()
            raise
        # in a worker process (async), a sub-env refused after the first (which gymnasium builds here too) ended
        # the worker with a traceback, and the vector env raised a raw ConnectionResetError: the refusal is kept
        # on the sub-env instead, for CurriculumVectorEnv to raise here once the workers are up
        setattr(sub, _REFUSED, e)
        return sub
    setattr(sub, _REFUSED, None)
    return sub


def _check_sub(sub: CurriculumWrapper, index: int, owner: Any, workers: bool) -> None:
    """Refuse (a ConfigError) a sub-env that holds a local teacher (async), an ``OpponentEnv`` that records outcomes
    itself, or one reporting to the vector env's own teacher."""
    from .pettingzoo import OpponentEnv  # here: the vector env itself needs no PettingZoo machinery

    game = sub.env.unwrapped
    held = _local_teacher(sub.env, game) if workers else None
    if held is not None:
        # each worker process got its own copy of that teacher (pickled, or forked): the copies proposed and
        # observed alone, and the teacher in the user's process never heard a score (a warning in each worker)
        raise ConfigError(
            f"CurriculumVectorEnv(vectorization='async'): sub-env {index} is {held}; each worker process would "
            "get its own copy of that teacher, and what the copies observe never reaches the teacher you hold "
            "here. Give the vector env functions that return the bare env (e.g. [MyEnv] * 8; an OpponentEnv "
            "with teacher=None): it proposes every sub-env's tasks and observes every episode with its own "
            "teacher, here. A teacher the workers must reach themselves goes in a Ray actor (RayTeacher) or a "
            "magister serve curriculum (HTTPTeacher)")
    if isinstance(game, OpponentEnv) and game.report:
        # the outcome comes back in final_info, which the main process records (docs/selfplay.md): an env that also
        # writes the pool counted each game twice (sync), or was a second writer of the pool in a worker (async)
        raise ConfigError(
            "an OpponentEnv inside a CurriculumVectorEnv must not record outcomes itself (report=True, the "
            "default): each game's outcome comes back in final_info and the main process, the pool's one writer, "
            "records it with pool.report_many(final_info['opponent'][ended], final_info['outcome'][ended]), so the "
            "pool would count it twice (or be written by a worker process). Build it with report=False, "
            "teacher=None and the pool's folder: OpponentEnv(game, folder, load_policy, report=False)"
        )
    if owner is not None:  # an env reporting to the vector env's teacher (async, in the worker: to a client of it)
        check_one_owner(sub, owner, "the vector env")


def _built(sub: gym.Env) -> gym.Env:
    return sub


class CurriculumVectorEnv(VectorEnv):
    """A vector env whose episodes get their tasks from ``teacher`` (see the module docstring).

    Args:
        env_fns: one function per sub-env returning a ``gymnasium.Env`` (or, with
            ``task_mode="factory"``, functions ``make_env(task)``).
        teacher: a magister teacher (lives in this process).
        task_mode: how a sub-env takes its task ("options", "set_task", "factory").
        score: how an episode becomes a score (see :mod:`magister.rl.scores`), or
            ``"external"``: the learner sends each finished episode's score with
            :meth:`report` (by the id in ``final_info["magister_task_id"]`` or
            :attr:`episode_ids`).
        vectorization: "sync" (one process) or "async" (one subprocess per env).
        prefetch: 0 (default) proposes each task when its episode starts (one
            extra batched reset call on steps where episodes end). ``prefetch=q``
            keeps ``q`` tasks queued inside every sub-env; a finished sub-env
            starts its next episode at once inside the worker, and queues are
            topped up (one batched call) only when one runs empty: fewer round
            trips, tasks proposed up to ``q`` episodes ahead.
        **vector_kwargs: passed to ``SyncVectorEnv`` / ``AsyncVectorEnv``
            (e.g. ``shared_memory``, ``context``); ``autoreset_mode`` is managed here.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(
        self,
        env_fns: Sequence[Callable[..., gym.Env]],
        teacher: Any,
        *,
        task_mode: str = "options",
        score: Any = "success",
        vectorization: str = "sync",
        prefetch: int = 0,
        **vector_kwargs: Any,
    ):
        prefetch = whole("prefetch", prefetch, 0)
        if not (hasattr(teacher, "propose") and hasattr(teacher, "observe_batch")):
            raise ConfigError(f"CurriculumVectorEnv needs a teacher with propose(k) and observe_batch(), got {teacher!r}")
        if "autoreset_mode" in vector_kwargs:
            raise ConfigError("CurriculumVectorEnv manages autoreset itself (SAME_STEP outwardly); do not pass autoreset_mode")
        if vectorization not in ("sync", "async"):
            raise ConfigError(f"vectorization must be 'sync' or 'async', got {vectorization!r}")
        what = "functions make_env(task) -> Env" if task_mode == "factory" else "functions returning an env"
        if isinstance(env_fns, gym.Env) or not hasattr(env_fns, "__iter__"):
            raise ConfigError(f"CurriculumVectorEnv needs a list of {what}, one per sub-env (e.g. [MyEnv] * 8), "
                              f"got {env_fns!r}")
        env_fns = list(env_fns)
        if not env_fns:
            raise ConfigError("CurriculumVectorEnv needs at least one env function")
        built = [f for f in env_fns if not callable(f)]
        if built:  # an env instance failed later with "'MyEnv' object is not callable", inside a worker when async
            raise ConfigError(f"CurriculumVectorEnv needs {what} (each sub-env is built in its worker), not env "
                              f"instances: got {built[0]!r}; pass e.g. [MyEnv] * n or [lambda: make_env()] * n")
        space = getattr(teacher, "space", None)
        # each sub-env is checked against the teacher where it is built: here (sync) against the teacher itself, in
        # its worker (async) against the teacher's key (a remote teacher's clients: a small picklable id; the teacher
        # itself stays here)
        owner = TeacherKey.of(teacher) if vectorization == "async" else teacher
        fns = [partial(_make_sub, fn, i, task_mode, score, space, owner, vectorization == "async")
               for i, fn in enumerate(env_fns)]
        cls = gym.vector.SyncVectorEnv if vectorization == "sync" else gym.vector.AsyncVectorEnv
        mode = AutoresetMode.SAME_STEP if prefetch else AutoresetMode.DISABLED
        if vectorization == "async":
            self.env = cls(fns, autoreset_mode=mode, **vector_kwargs)
            refused = [e for e in self.env.get_attr(_REFUSED) if e is not None]
            if refused:  # (a sub-env refused in its worker: see _make_sub)
                self.env.close()
                raise refused[0]
        else:  # built here, so that a sub-env refused (or failing to build) closes the ones built before it
            subs: list[gym.Env] = []
            try:
                for fn in fns:
                    subs.append(fn())
                self.env = cls([partial(_built, sub) for sub in subs], autoreset_mode=mode, **vector_kwargs)
            except BaseException:
                for sub in subs:
                    with suppress(Exception):  # the first error is the one to see
                        sub.close()
                raise
        self.teacher = teacher
        self.num_envs = self.env.num_envs
        self.observation_space = self.env.observation_space
        self.action_space = self.env.action_space
        self.single_observation_space = self.env.single_observation_space
        self.single_action_space = self.env.single_action_space
        # the sub-envs' (gymnasium's vector RecordVideo refused a CurriculumVectorEnv of rgb_array envs: "Render
        # mode is None", and render() raised NotImplementedError)
        self.render_mode = self.env.render_mode
        self.metadata = dict(self.env.metadata)
        self.metadata["autoreset_mode"] = AutoresetMode.SAME_STEP
        self.tasks: list[Any] = [None] * self.num_envs
        #: proposal info of each sub-env's running episode
        self.task_infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        #: False where the running episode is for evaluation only (the learner must not train on it)
        self.episode_train = np.ones(self.num_envs, dtype=bool)
        #: True when the learner sends the scores (``score="external"``)
        self.external = isinstance(score, str) and score == EXTERNAL
        #: external scores: finished episodes waiting for ``report`` (id -> task); one never reported stays here
        #: for the rest of the run, so report every finished episode (evaluate-only ones too)
        self.pending: dict[int, Any] = {}
        self._pending_infos: dict[int, dict[str, Any]] = {}  # (their proposal infos: what a give-back sends)
        self._ids = np.full(self.num_envs, -1, dtype=np.int64)
        self._next_id = 0
        self.prefetch = prefetch
        self._queues: list[deque[tuple[int, Any, dict[str, Any]]]] = [deque() for _ in range(self.num_envs)]
        #: batched calls made to the sub-envs besides step (resets and queue refills)
        self.n_extra_calls = 0
        #: outcomes passed to the teacher so far
        self.n_reported = 0
        #: tasks handed to sub-envs so far
        self.n_assigned = 0

    # ----------------------------------------------------------- internals
    @property
    def episode_ids(self) -> np.ndarray:
        """The id of each sub-env's running episode (what :meth:`report` takes)."""
        return self._ids.copy()

    def _start(self, i: int, task_id: int, task: Any, info: dict[str, Any]) -> None:
        self._ids[i], self.tasks[i], self.task_infos[i] = task_id, task, info
        self.episode_train[i] = bool(info.get("train", True))

    def _assign(self, idx: np.ndarray) -> dict[int, tuple[int, Any, dict[str, Any]]]:
        if len(idx) == 0:
            return {}
        new, infos = propose_with_info(self.teacher, len(idx))
        sent: dict[int, tuple[int, Any, dict[str, Any]]] = {}
        for j, i in enumerate(idx):
            self._start(int(i), self._next_id, new[j], infos[j])
            sent[int(i)] = (self._next_id, new[j], infos[j])
            self._next_id += 1
        self.n_assigned += len(idx)
        return sent

    def _refill(self, replace: bool = False) -> None:
        """Top every sub-env's queue up to ``prefetch`` tasks in one propose and one call."""
        if replace:
            for q in self._queues:
                q.clear()
        need = {i: self.prefetch - len(q) for i, q in enumerate(self._queues) if len(q) < self.prefetch}
        total = sum(need.values())
        if total == 0:
            return
        new, infos = propose_with_info(self.teacher, total)
        sent: dict[int, list[tuple[int, Any, dict[str, Any]]]] = {}
        j = 0
        for i, m in need.items():
            sent[i] = []
            for _ in range(m):
                item = (self._next_id, new[j], infos[j])
                self._next_id += 1
                j += 1
                sent[i].append(item)
                self._queues[i].append(item)
        self.env.call("queue_tasks", sent, replace)
        self.n_extra_calls += 1

    def _collect(self, done: np.ndarray, infos: dict[str, Any]) -> tuple[np.ndarray, list[Any], np.ndarray,
                                                                          list[str | None]]:
        """The finished sub-envs, their tasks, their scores and, for each, why its score was refused (None: it
        was not)."""
        idx = np.flatnonzero(done)
        have = infos.get("_" + (TASK_ID_KEY if self.external else SCORE_KEY))
        refused = infos.get("_" + SCORE_REFUSED_KEY)
        if refused is not None:
            have = np.logical_or(np.zeros(self.num_envs, dtype=bool) if have is None else have, refused)
        if have is None or not np.all(have[idx]):
            raise RuntimeError(
                "a finished sub-env did not report its score; its env must be wrapped by CurriculumVectorEnv "
                "itself (do not reset or step the inner vector env directly)"
            )
        ids = np.asarray(infos[TASK_ID_KEY])[idx]
        if not np.array_equal(ids, self._ids[idx]):
            raise RuntimeError(f"outcome/task mismatch: sub-envs reported task ids {ids}, expected {self._ids[idx]}")
        tasks = [self.tasks[int(i)] for i in idx]
        if self.external:
            for i, j, task in zip(ids, idx, tasks):
                self.pending[int(i)] = task
                self._pending_infos[int(i)] = self.task_infos[j]
            return idx, tasks, np.zeros(0), [None] * len(idx)
        if refused is None:  # (no score function refused one: every finished episode has its score)
            return idx, tasks, np.asarray(infos[SCORE_KEY], dtype=float)[idx], [None] * len(idx)
        why = [str(infos[SCORE_REFUSED_KEY][i]) if refused[i] else None for i in idx]
        scores = np.array([np.nan if w is not None else infos[SCORE_KEY][i] for i, w in zip(idx, why)], dtype=float)
        return idx, tasks, scores, why

    def _give_back(self, rows: np.ndarray) -> int:
        """Hand a teacher client that takes tasks back (a :class:`~magister.rl.ray.RayTeacher`: ``give_back``) the
        tasks that will never be scored: the running episodes of the sub-envs in ``rows`` (cut by a reset or a
        close) and every task queued by ``prefetch`` (replaced or dropped). A local level teacher's ``give_back``
        stops counting them as waiting for scores; another local teacher drops them. Returns how many went
        back."""
        give_back = getattr(self.teacher, "give_back", None)
        if not callable(give_back):
            return 0
        items = [(self.tasks[i], self.task_infos[i]) for i in np.flatnonzero(rows) if self._ids[i] >= 0]
        items += [(task, info) for q in self._queues for _, task, info in q]
        self._ids[np.asarray(rows, dtype=bool)] = -1
        for q in self._queues:
            q.clear()
        return hand_back(self.teacher, items)

    def _forget_gone(self, sent: dict[int, tuple[int, Any, dict[str, Any]]] | None = None) -> None:
        """After a sub-env said a task does not exist (``UnknownTaskError``: an opponent evicted from its pool since
        it was proposed): forget the tasks its wrapper dropped, so no later ``reset`` / ``close`` gives them back to
        a client that would hand them out again (``give_back``), where each failed a reset again, round and round.
        The ``prefetch`` queues keep what the wrappers still hold (a wrapper drops a queued task that is gone, and
        its queued copies), and of the tasks ``sent`` by a reset, the one its sub-env failed on is no running
        episode. Sync only: an async worker that raised is shut down by Gymnasium, and at ``close`` its tasks go
        back as they are."""
        envs = getattr(self.env, "envs", None)
        if envs is None:
            return
        for i, sub in enumerate(envs):
            held = {item[0] for item in sub._queue}
            self._queues[i] = deque(item for item in self._queues[i] if item[0] in held)
        # the sub-envs reset in order, up to the first that failed: the first not running the task it was sent
        sent = sent or {}
        failed = next((i for i in sorted(sent) if envs[i].task_id != sent[i][0]), None)
        if failed is not None:
            self._ids[failed] = -1

    def _observe(self, idx: np.ndarray, tasks: list[Any], scores: np.ndarray,
                 why: list[str | None]) -> list[tuple[int, str]]:
        """Send the finished episodes' scores to the teacher in one batch; returns the refused ones, ``(sub-env,
        reason)``: those the score function refused (``why``) and those the teacher refuses (an
        ``InvalidScoreError``: its batch is then sent again one score at a time, so that the scores it takes are
        recorded, as one batch records them). Nothing of a refused score is recorded."""
        if self.external:
            return []
        refused = [(int(i), w) for i, w in zip(idx, why) if w is not None]
        keep = [j for j, w in enumerate(why) if w is None] if refused else list(range(len(idx)))
        if not keep:
            return refused

        def send(rows: list[int]) -> None:
            self.teacher.observe_batch([tasks[j] for j in rows], scores[rows])
            self.n_reported += len(rows)

        def send_all() -> None:  # (every finished episode has its score, the usual case: sent as they are)
            if refused:
                return send(keep)
            self.teacher.observe_batch(tasks, scores)
            self.n_reported += len(tasks)

        refused += [(int(idx[keep[j]]), w) for j, w in send_scores(len(keep), send_all, lambda j: send([keep[j]]))]
        return sorted(refused)

    def _refused(self, refused: list[tuple[int, str]], back: list[tuple[Any, dict[str, Any]]],
                 result: tuple[Any, ...]) -> InvalidScoreError:
        """The error ``step`` raises for scores refused (``(sub-env, reason)``), once the step is done: their tasks
        and infos (``back``) go back to a teacher with ``give_back`` (a level teacher stops waiting for their
        scores), and the error holds the step's results (``step_result``)."""
        hand_back(self.teacher, back)
        what = refused_text(refused, "sub-env")
        error = InvalidScoreError(
            f"CurriculumVectorEnv.step: the score of {len(refused)} finished episode(s) was refused, and nothing of "
            f"it recorded ({what}). Fix the score (the score function, or the teacher's score_range). The step "
            "itself was done: the other finished episodes' scores were recorded, every finished sub-env started its "
            "next episode (the refused tasks went back to a teacher that takes tasks back), and this error's "
            "step_result holds the step's (obs, rewards, terminated, truncated, infos) to go on from")
        error.step_result = result  # type: ignore[attr-defined]
        return error

    def report(self, task_ids: Any, scores: Any) -> None:
        """Send learner-computed scores (``score="external"``) of finished episodes to the teacher, in one batch.

        ``task_ids``: the ids of finished episodes (``final_info["magister_task_id"]``,
        or :attr:`episode_ids` read before the step that ended them). All are
        checked before anything is sent; each episode is reported once.
        """
        if not self.external:
            raise ConfigError("report() is for score='external'; this vector env scores episodes itself")
        ids = episode_ids(task_ids)
        s = np.atleast_1d(np.asarray(scores))  # as given: the teacher refuses text, None and NaN clearly
        if len(ids) != len(s):
            raise ConfigError(f"report got {len(ids)} task ids but {len(s)} scores; pass one score per episode")
        unknown = [i for i in ids if i not in self.pending]
        if unknown or len(set(ids)) != len(ids):
            raise ConfigError(f"report: task ids {unknown or ids} are not finished episodes waiting for a score; "
                              "report each finished episode once, after it ends")
        if not ids:
            return
        self.teacher.observe_batch([self.pending[i] for i in ids], s)
        for i in ids:
            del self.pending[i]
            self._pending_infos.pop(i, None)
        self.n_reported += len(ids)

    def give_back_pending(self, task_ids: Any) -> int:
        """Stop waiting for the scores of finished episodes (``score="external"``) that will never be reported
        (their scores were refused): they leave :attr:`pending`, and their tasks go back to a teacher with
        ``give_back`` (a level teacher stops waiting for them). Ids not pending are skipped. Returns how many went
        back."""
        ids = [i for i in episode_ids(task_ids) if i in self.pending]
        return hand_back(self.teacher, [(self.pending.pop(i), self._pending_infos.pop(i, {})) for i in ids])

    # ----------------------------------------------------------------- API
    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        """Reset every sub-env with a fresh task (unfinished episodes are not reported; a teacher client with
        ``give_back``, a ``RayTeacher`` or a level teacher, gets their tasks and the replaced ``prefetch`` queues
        back). ``options={"reset_mask": m}`` (one bool per sub-env) resets only those; ``options={"task": ...}``
        is refused (every task comes from the teacher)."""
        opts = dict(reset_options("CurriculumVectorEnv", options, "{'reset_mask': mask}") or {})
        # checked before anything changes: a refused mask (Gymnasium takes only a bool array) or a task for every
        # sub-env used to fail after the teacher had proposed and the ids had moved on, so the next episode end
        # raised "outcome/task mismatch" (or a KeyError), and the running tasks were given back
        if "task" in opts:
            raise ConfigError("CurriculumVectorEnv.reset(options={'task': ...}): each sub-env takes its task from "
                              "the vector env's teacher, so the score would be credited to a task it never played; "
                              "to play a task of your choice, use a CurriculumWrapper (or the env) alone")
        if "reset_mask" in opts:
            mask = np.asarray(opts["reset_mask"])
            if mask.dtype != np.bool_ or mask.shape != (self.num_envs,) or not mask.any():
                raise ConfigError(f"reset_mask must be {self.num_envs} booleans (one per sub-env), at least one "
                                  f"True; got {opts['reset_mask']!r}. Nothing was reset")
            opts["reset_mask"] = mask.copy()
        else:
            mask = np.ones(self.num_envs, dtype=bool)
        # the cut episodes and the replaced queues go back to a teacher that takes tasks back: a RayTeacher (a level
        # teacher's new levels among them are still played, as an RLlib runner's forced reset gives them back), or a
        # local level teacher (which stops waiting for their scores)
        self._give_back(mask)
        sent = opts[TASKS_OPTION] = self._assign(np.flatnonzero(mask))
        try:
            out = self.env.reset(seed=seed, options=opts)
        except UnknownTaskError:
            self._forget_gone(sent)
            raise
        if self.prefetch:
            self._refill(replace=True)
        return out

    def step(self, actions: Any):
        """Step every sub-env; the finished episodes' scores go to the teacher and their sub-envs restart.

        A score refused (the score function's, or the teacher's: an :class:`~magister.errors.InvalidScoreError`)
        is raised once the step is done: nothing of it is recorded and its task goes back to a teacher with
        ``give_back``, the other scores are recorded, every finished sub-env starts its next episode, and the
        error's ``step_result`` holds what the step returns, ``(obs, rewards, terminated, truncated, infos)``.
        """
        try:
            obs, rewards, terminated, truncated, infos = self.env.step(actions)
        except UnknownTaskError:  # (prefetch: a sub-env's same-step reset met a queued task that is gone)
            self._forget_gone()
            raise
        done = np.logical_or(terminated, truncated)
        if not done.any():
            return obs, rewards, terminated, truncated, infos
        if self.prefetch:
            return self._step_prefetched(obs, rewards, terminated, truncated, infos, done)
        idx, tasks, scores, why = self._collect(done, infos)
        refused = self._observe(idx, tasks, scores, why)
        # (before the reset below starts the next episodes: the refused ones' tasks and infos go back)
        back = [(self.tasks[i], self.task_infos[i]) for i, _ in refused]
        final_obs = np.full(self.num_envs, None, dtype=object)
        single = list(gym.vector.utils.iterate(self.observation_space, obs))
        for i in idx:
            final_obs[i] = deepcopy(single[i])
        opts = {"reset_mask": done.copy(), TASKS_OPTION: self._assign(idx)}
        try:
            new_obs, reset_infos = self.env.reset(options=opts)
        except UnknownTaskError:
            self._forget_gone(opts[TASKS_OPTION])
            raise
        self.n_extra_calls += 1
        # SAME_STEP: a restarted sub-env's entries are its reset info (the new episode's), as with prefetch; the
        # step info of its last step is in final_info (its reset info used to be dropped, so a learner read the
        # old episode's info, e.g. OpponentEnv's seat, for the first step of the new one)
        out = _with_rows(_masked_out(infos, done), reset_infos, done)
        out["final_obs"], out["_final_obs"] = final_obs, done.copy()
        # only the finished sub-envs' step infos, as Gymnasium's SAME_STEP and prefetch give (the running sub-envs'
        # entries were shown too, so final_info["x"][final_info["_x"]] read running episodes as finished ones)
        out["final_info"], out["_final_info"] = _masked_out(infos, ~done), done.copy()
        if refused:
            raise self._refused(refused, back, (new_obs, rewards, terminated, truncated, out))
        return new_obs, rewards, terminated, truncated, out

    def _step_prefetched(self, obs, rewards, terminated, truncated, infos, done):
        # the inner vector env already reset the finished sub-envs (same step, no options):
        # each took the first task of its queue and says which in its reset info
        idx, tasks, scores, why = self._collect(done, infos.get("final_info", {}))
        ended = [self.task_infos[i] for i in idx]  # (the next episodes' infos take their place below)
        # the next episodes are started here first: a score refused below must not leave them unrecorded (the
        # ids of the running episodes stayed the old ones, and the next ending raised "outcome/task mismatch")
        started = infos.get("_" + NEXT_ID_KEY)
        for i in idx:
            if not self._queues[i] or started is None or not started[i] \
                    or int(infos[NEXT_ID_KEY][i]) != self._queues[i][0][0]:
                raise RuntimeError(f"sub-env {i} did not start its queued task "
                                   f"{self._queues[i][0][0] if self._queues[i] else '(none queued)'}")
            self._start(int(i), *self._queues[i].popleft())
        self.n_assigned += len(idx)
        refused = self._observe(idx, tasks, scores, why)
        if any(len(q) == 0 for q in self._queues):
            self._refill()
        if refused:
            row = {int(i): j for j, i in enumerate(idx)}
            back = [(tasks[row[i]], ended[row[i]]) for i, _ in refused]
            raise self._refused(refused, back, (obs, rewards, terminated, truncated, infos))
        return obs, rewards, terminated, truncated, infos

    def close_extras(self, **kwargs: Any) -> None:
        """Close the sub-envs, give a teacher client with ``give_back`` (a ``RayTeacher``, a level teacher) the
        tasks never to be scored (the running episodes', those queued by ``prefetch``), then send what the client
        buffered (see :func:`~magister.rl.wrapper.close_client`: a ``RayTeacher`` is flushed, or closed if copied
        here)."""
        try:
            self.env.close(**kwargs)
        finally:
            try:  # the running episodes and the queued tasks are never scored: back to a client that takes them
                self._give_back(np.ones(self.num_envs, dtype=bool))
            finally:
                close_client(self.teacher)

    def render(self) -> tuple[Any, ...] | None:
        """The sub-envs' frames (as the inner ``SyncVectorEnv`` / ``AsyncVectorEnv`` renders them)."""
        return self.env.render()

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        return self.env.call(name, *args, **kwargs)

    def get_attr(self, name: str) -> tuple[Any, ...]:
        return self.env.get_attr(name)

    def set_attr(self, name: str, values: Any) -> None:
        self.env.set_attr(name, values)
