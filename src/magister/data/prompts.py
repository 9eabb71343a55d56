"""Prompt curricula for reinforcement-learning fine-tuning (GRPO and its kin), numpy only.

A :class:`PromptCurriculum` chooses the prompts of every generation step with
a discrete magister teacher and turns the rewards of the generated
completions into the teacher's scores. Two granularities:

* **categories** (``categories=`` one label per prompt; the teacher's space
  has one task per category): the teacher proposes a category for each prompt
  slot, and the prompt is taken from that category's pool (shuffled by the
  curriculum's generator, without replacement, refilled when used up). This is
  the Self-Evolving Curriculum set-up (``make_teacher("sec", ...)``: TD(0)
  values per category, Boltzmann sampling), and works with any discrete
  teacher (``lp-bandit``, ``exp3``, ``sequential`` for a hand-made schedule).
* **individual prompts** (no ``categories``; the teacher's space has one task
  per prompt): the teacher proposes prompt indices directly, e.g.
  ``make_teacher("learnability-bandit", Discrete(n_prompts))``, which samples
  prompts by ``p (1 - p)`` of their running pass rates.

Feedback. :meth:`PromptCurriculum.observe` takes the rewards of a generation
batch, one per completion, with the prompt index of each completion. Rewards
are mapped to [0, 1] by ``reward_range`` (``(0, 1)`` by default: a pass/fail
or partial-credit reward) and grouped by prompt. Each group gives one score:

* ``feedback="pass_rate"``: the group's mean reward (its pass rate for 0/1
  rewards);
* ``feedback="abs_advantage"``: the group's mean absolute advantage
  ``mean |r - mean(r)| / (std(r) + 1e-4)`` (the group-normalised advantage of
  GRPO, population standard deviation), in [0, 1]; for 0/1 rewards it is
  ``2 sqrt(p (1 - p))``. This is SEC's reward: pair it with
  ``make_teacher("sec", ..., reward="score")``. A group of one completion has
  no advantage (its score is always 0), so it needs at least 2 completions per
  prompt: ``group_size=1`` is refused, and groups of one by prompt index warn
  once per curriculum. Pass rates work with one completion per prompt.

``feedback=None`` picks ``"abs_advantage"`` for an SEC teacher with
``reward="score"`` and ``"pass_rate"`` otherwise. The teacher then gets one
observation per prompt group (``observe_batch`` of the groups' categories, or
prompt indices, and scores); SEC turns a batch into one TD(0) step per
category present. Rewards that are NaN (a reward function that returned
``None``) are left out.

:mod:`magister.data.grpo` plugs a curriculum into TRL's ``GRPOTrainer``;
any other loop calls :meth:`~PromptCurriculum.next_prompts` and :meth:`~PromptCurriculum.observe` itself.
"""

from __future__ import annotations

import collections
import collections.abc
import json
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..checkpoint import from_file, load_state, save_state
from ..errors import CheckpointError, ConfigError, InvalidScoreError
from ..rng import SeedLike, as_generator, generator_state, restore_generator
from ..scores import ScoreRange
from ..settings import flag, non_numeric, whole
from ..teacher import Teacher
from .distributed import fingerprint
from .mixing import history_limit, keep_newest, label_ids, whole_array

__all__ = ["PromptCurriculum", "group_scores"]

_FEEDBACK = ("pass_rate", "abs_advantage")
_EPS = 1e-4
#: the most prompt batches kept waiting for their rewards (a loader's look-ahead is a few)
_MAX_PENDING = 1024
#: why feedback="abs_advantage" needs groups of two completions or more, and the ways on
_SINGLE = ("with feedback='abs_advantage' (SEC's |advantage|, the default for make_teacher('sec', reward='score')), a "
           "group of one completion has no advantage: its score is always 0 and the teacher learns nothing from it. "
           "Generate at least 2 completions per prompt (GRPO's num_generations, passed as group_size=), or use "
           "feedback='pass_rate' with a teacher that learns from pass rates (sec with reward='accuracy', "
           "learnability-bandit, lp-bandit), which works with one completion per prompt")


def group_scores(groups: np.ndarray, unit_rewards: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per group: ``(ids, completions, pass rate, mean |advantage|)`` of rewards already in [0, 1].

    ``groups`` holds one group id (a prompt index) per completion; groups come
    out in order of first appearance.
    """
    groups = np.asarray(groups, dtype=np.int64)
    r = np.asarray(unit_rewards, dtype=float)
    ids, first, inv = np.unique(groups, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    g = rank[inv]
    n = np.bincount(g, minlength=len(ids)).astype(float)
    mean = np.bincount(g, weights=r, minlength=len(ids)) / n
    dev = r - mean[g]
    std = np.sqrt(np.bincount(g, weights=dev * dev, minlength=len(ids)) / n)
    abs_adv = np.bincount(g, weights=np.abs(dev), minlength=len(ids)) / n / (std + _EPS)
    return ids[order], n.astype(np.int64), mean, np.clip(abs_adv, 0.0, 1.0)


def _json_number(value: Any) -> Any:
    """A numpy number as Python's (for ``json.dumps``); anything else is no text or number: a ``TypeError``."""
    if isinstance(value, np.generic) and not isinstance(value, (np.bytes_, np.void)):
        return value.item()
    raise TypeError(f"{type(value).__name__} {value!r:.60}")


def _as_a_column_holds_it(value: Any) -> Any:
    """A chat prompt as a ``datasets`` column gives it back: a dict's entries whose value is None left out (the
    column fills a key that other rows' messages have with None: ``{"type": "image"}`` beside ``{"type": "text",
    "text": ...}``), and a whole float as an int (it reads 1 as 1.0 beside 1.5)."""
    if isinstance(value, dict):  # (a text, most of a chat, is taken as it is: no call per text)
        return {k: v if type(v) is str else _as_a_column_holds_it(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [v if type(v) is str else _as_a_column_holds_it(v) for v in value]
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return value


def _prompts_fingerprint(prompts: Any) -> str:
    """A digest of ``prompts`` in their order: each prompt's canonical JSON text (a string, or chat messages as
    lists and dicts of text and numbers, keys sorted; a None entry of a dict left out and a whole float read as an
    int, as a ``datasets`` column fills and reads them), digested with ``distributed.fingerprint``.
    The same prompts give the same digest whether they come as a list, a numpy array or a ``datasets`` column; an
    edited, added, removed or moved prompt gives another. A prompt that is none of those (an image, an object) is a
    ``TypeError`` naming its position (its ``repr`` may change from run to run, so it cannot be digested)."""
    # (a datasets column sliced whole: iterating one read it row by row, a second per 100,000 prompts)
    values = prompts.tolist() if hasattr(prompts, "tolist") else list(
        prompts[:] if hasattr(prompts, "__getitem__") else prompts)
    text = []
    for j, v in enumerate(values):
        try:
            v = v if isinstance(v, str) else _as_a_column_holds_it(v)
            text.append(json.dumps(v, sort_keys=True, ensure_ascii=False, default=_json_number))
        except (TypeError, ValueError, RecursionError) as e:  # (ValueError, RecursionError: a circular list or dict)
            raise TypeError(f"prompt {j} is not text, a number or a list / dict of those ({e})") from None
    return fingerprint(text)


def _flat(values: Any) -> np.ndarray:
    """A flat object array of ``values`` (an array's ``tolist()``; an iterator's items, not one object)."""
    values = values.tolist() if hasattr(values, "tolist") else values
    if isinstance(values, collections.abc.Iterator):  # a generator was one element, so the counts disagreed
        values = list(values)
    return np.asarray(values, dtype=object).reshape(-1)


class PromptCurriculum:
    """Chooses prompts with a discrete teacher and feeds it the rewards of their completions.

    Args:
        teacher: A teacher over a finite space: one task per category (with
            ``categories``) or one task per prompt (without).
        categories: The category of every prompt (names of the teacher's ``Discrete``
            space, or indices ``0..n-1``); ``None`` for a teacher over prompts.
        feedback: ``"pass_rate"``, ``"abs_advantage"`` or ``None`` (see the module docstring).
        reward_range: The range of the rewards (default ``(0, 1)``), mapped to [0, 1];
            a reward outside it is refused (nothing recorded). A ``ScoreRange`` with
            ``clip=True`` clips instead.
        seed: Seed of the curriculum's own generator (the category pools' shuffles).
        max_history: The most step records kept in :attr:`history` (the newest). ``None``
            (default) keeps one per :meth:`next_prompts` call (with the prompts
            drawn, over prompts), so the log, and every saved state, grow for as
            long as the curriculum runs. ``attempts`` and ``pass_rates`` count
            every step either way.
        prompts: The prompts themselves, one per prompt in order (their text, or chat messages: lists and dicts of
            text), or ``None``. Only a digest of them is kept: it is saved with the state, and a state saved over
            other prompts (edited, reordered, another prompts file) is refused on load, where its per-prompt
            statistics would go to other prompts. :func:`~magister.data.grpo.add_prompt_curriculum` takes them from
            the train dataset's ``prompt`` column when not given.
    """

    def __init__(self, teacher: Teacher, *, categories: Sequence[Any] | None = None, feedback: str | None = None,
                 reward_range: ScoreRange | tuple[float, float] = (0.0, 1.0), seed: SeedLike = None,
                 max_history: int | None = None, prompts: Sequence[Any] | None = None):
        if not isinstance(teacher, Teacher):
            raise ConfigError(f"teacher must be a magister Teacher over a finite space, got {teacher!r}; build one "
                              "with make_teacher('sec', Discrete(category_names))")
        if teacher.space.n is None:
            raise ConfigError(f"the teacher's space {teacher.space!r} is continuous; a prompt curriculum needs a "
                              "finite space: Discrete(category_names) or Discrete(number_of_prompts)")
        if feedback is None:
            feedback = "abs_advantage" if getattr(teacher, "reward", None) == "score" and teacher.name == "sec" \
                else "pass_rate"
        if feedback not in _FEEDBACK:
            raise ConfigError(f"feedback must be one of {_FEEDBACK} or None, got {feedback!r}")
        self.max_history = history_limit(max_history, "step")
        self.teacher = teacher
        self.feedback = feedback
        self.reward_range = ScoreRange.coerce(reward_range)
        if not (np.isfinite(self.reward_range.low) and np.isfinite(self.reward_range.high)):
            raise ConfigError(f"reward_range must be a bounded range (low, high) that maps the rewards to [0, 1], "
                              f"got {self.reward_range!r}; declare the rewards' lowest and highest values")
        self.rng = as_generator(seed)
        self.n_tasks = int(teacher.space.n)
        self.task_names = teacher.space.task_names()
        if categories is None:
            self.by = "prompt"
            self.n_prompts = self.n_tasks
            self.category_of = None
            self._members: list[np.ndarray] = []
        else:
            self.by = "category"
            self.category_of = self._category_ids(categories)
            self.n_prompts = len(self.category_of)
            counts = np.bincount(self.category_of, minlength=self.n_tasks)
            empty = [self.task_names[i] for i in np.flatnonzero(counts == 0)]
            if empty:
                raise ConfigError(f"categories {empty[:8]} have no prompts; give every category of the teacher's "
                                  "space at least one prompt, or build the teacher over the categories you have")
            # each category's prompts in index order, from one stable sort (not a scan of every prompt per category)
            self._members = np.split(np.argsort(self.category_of, kind="stable"), np.cumsum(counts)[:-1])
        # the digest of the prompts (prompts=, or the GRPO train dataset's), saved with the state; None: unknown
        self._prompts_fingerprint = None if prompts is None else self._fingerprint_of(prompts)
        self._pools = [self.rng.permutation(m) for m in self._members]
        self._cursor = np.zeros(len(self._members), dtype=np.int64)
        self.step = 0
        #: per :meth:`next_prompts` call: ``{"step", "counts"}`` (per category) or ``{"step", "prompts"}``
        #: (the newest ``max_history`` only, when it is set)
        self.history: list[dict[str, Any]] = []
        #: completions scored per prompt, and the sum of their rewards in [0, 1]
        self.attempts = np.zeros(self.n_prompts, dtype=np.int64)
        self.reward_sum = np.zeros(self.n_prompts)
        self.groups_observed = 0
        # batches handed out by next_prompts whose rewards have not come (each observe call answers the oldest),
        # and those to hand out again after a resume (load(..., replay_pending=True))
        self._pending: collections.deque[np.ndarray] = collections.deque(maxlen=_MAX_PENDING)
        self._replay: collections.deque[np.ndarray] = collections.deque()
        self._warned_single = False  # groups of one completion under "abs_advantage" (observe warns once)

    def _fingerprint_of(self, prompts: Any) -> str:
        """The digest of ``prompts=`` (one per prompt: a ``ConfigError`` otherwise)."""
        if isinstance(prompts, (str, bytes, collections.abc.Mapping, collections.abc.Set)) or \
                hasattr(prompts, "columns") or hasattr(prompts, "column_names") or not hasattr(prompts, "__len__"):
            # (a text iterated as its letters; a table, a pandas or a datasets one, as its column names; a set in
            # an order that changes from run to run)
            raise ConfigError(f"prompts must be the prompts, one per prompt in order (a column such as "
                              f"dataset['prompt']), got {type(prompts).__name__} {str(prompts)[:60]}")
        if len(prompts) != self.n_prompts:
            whose = "one per label of categories=" if self.by == "category" else "one per task of the teacher's space"
            raise ConfigError(f"prompts holds {len(prompts)} prompts but the curriculum has {self.n_prompts} "
                              f"({whose}); give the prompts the curriculum chooses from, one per prompt in order")
        try:
            return _prompts_fingerprint(prompts)
        except TypeError as e:
            raise ConfigError(f"prompts must be the prompts' text or chat messages (lists and dicts of text and "
                              f"numbers): {e}; pass their text, or ids that change when a prompt does") from None

    def _category_ids(self, categories: Sequence[Any]) -> np.ndarray:
        return label_ids(categories, self.task_names, what="categories", unit="prompt", label="category",
                         plural="categories", owner="the teacher's space", column="dataset['level'] (or df['level'])")

    # -------------------------------------------------------------- proposing
    def _take(self, c: int, count: int) -> np.ndarray:
        out = []
        while count > 0:
            pool, at = self._pools[c], int(self._cursor[c])
            if at >= len(pool):
                self._pools[c] = pool = self.rng.permutation(self._members[c])
                at = 0
            take = min(count, len(pool) - at)
            out.append(pool[at:at + take])
            self._cursor[c] = at + take
            count -= take
        return np.concatenate(out)

    def next_prompts(self, k: int) -> np.ndarray:
        """The prompt indices of the next generation step (``k`` of them), chosen by the teacher.

        After :meth:`load` with ``replay_pending=True``, the batches that were handed out but had no rewards
        when the state was saved come first, in order (not proposed again, nor logged again)."""
        whole("k", k, 1)
        if self._replay:
            out = self._replay[0]
            if len(out) != k:
                raise ConfigError(f"the saved curriculum handed out batches of {len(out)} prompts, to be handed out "
                                  f"again, but {k} were asked for; resume with the generation batch of the run that "
                                  "saved it (or load without replay_pending)")
            self._replay.popleft()
            return out.copy()
        slots = np.asarray(self.teacher.space.index_batch(self.teacher.propose(k)), dtype=np.int64)
        if self.by == "prompt":
            out = slots
            self.history.append({"step": self.step, "prompts": out.tolist()})
        else:
            counts = np.bincount(slots, minlength=self.n_tasks)
            out = np.empty(k, dtype=np.int64)
            for c in np.flatnonzero(counts):
                out[slots == c] = self._take(int(c), int(counts[c]))
            self.history.append({"step": self.step, "counts": counts.tolist()})
        keep_newest(self.history, self.max_history)
        self.step += 1
        self._pending.append(out.copy())
        return out

    # -------------------------------------------------------------- feedback
    def task_of(self, prompts: Any) -> np.ndarray:
        """The teacher's task index (category or prompt) of each prompt index (``0..n_prompts - 1``; another is a
        :class:`~magister.errors.ConfigError` naming the range)."""
        idx = self._prompt_indices(prompts)
        return idx if self.category_of is None else self.category_of[idx]

    def _prompt_indices(self, prompts: Any) -> np.ndarray:
        """``prompts`` as int64 prompt indices ``0 .. n_prompts - 1``, its shape kept (:meth:`task_of`'s, and
        :meth:`observe`'s of each completion); what is no whole number (None, text, True, 1.5, NaN) is a
        :class:`~magister.errors.ConfigError` (numpy's int() raised its own errors, or cut 1.5 to 1, read True as 1
        and parsed "1"), and so is an index out of range (numpy's raw IndexError, or -1 read as the last prompt)."""
        idx = self._whole_indices(prompts)
        if ((idx < 0) | (idx >= self.n_prompts)).any():
            raise ConfigError(f"prompt indices must be in 0..{self.n_prompts - 1}; this curriculum has "
                              f"{self.n_prompts} prompts")
        return idx

    @staticmethod
    def _whole_indices(prompts: Any) -> np.ndarray:
        """``prompts`` as int64, its shape kept, refusing what is no whole number; one past int64 is -1."""
        raw = np.asarray(getattr(prompts, "cpu", lambda: prompts)())
        try:
            if non_numeric(raw) or raw.dtype == bool or raw.dtype.kind not in "iuf" and not (
                    raw.dtype.kind == "O" and all(isinstance(v, (int, float, np.integer, np.floating))
                                                  and not isinstance(v, (bool, np.bool_))
                                                  for v in raw.ravel().tolist())):
                raise TypeError
            if raw.size and (raw.astype(float) % 1 != 0).any():  # (NaN too)
                raise TypeError
            return raw.astype(np.int64)
        except (TypeError, ValueError):
            raise ConfigError(f"prompt indices must be whole numbers (the rows of the prompts), got "
                              f"{type(prompts).__name__} {str(prompts)[:60]}") from None
        except OverflowError:  # a whole number past int64: no prompt has that row
            return np.full(raw.shape, -1, dtype=np.int64)

    def observe(self, prompts: Any, rewards: Any, *, group_size: int | None = None) -> dict[str, np.ndarray]:
        """Rewards of completions (one per completion) and their prompt indices -> one score per prompt group.

        ``group_size=None``: the completions of one prompt form one group.
        ``group_size=g``: every ``g`` consecutive completions form one group
        (each block from a single prompt), as GRPO groups them, so a prompt
        drawn twice in one generation batch gives two groups (two
        observations, each with its own advantage) rather than one merged group.
        With ``feedback="abs_advantage"``, ``group_size=1`` is a :class:`~magister.errors.ConfigError` (every
        score would be 0), and groups of one completion by prompt index warn once.

        Each call answers the oldest batch of :meth:`next_prompts` still waiting for its rewards (what
        ``load(..., replay_pending=True)`` hands out again).

        Returns the groups' ``prompt``, ``completions``, ``pass_rate``,
        ``abs_advantage`` and the ``score`` sent to the teacher. A reward
        outside ``reward_range`` (unless it clips) raises
        :class:`~magister.errors.InvalidScoreError` naming the reward and its
        completion; nothing is recorded.
        """
        idx, r = _flat(prompts), _flat(rewards)
        if len(idx) != len(r):
            raise InvalidScoreError(f"got {len(idx)} prompt indices but {len(r)} rewards; pass one prompt index per "
                                    "completion")
        idx = self._prompt_indices(idx)  # (the row of each completion's prompt)
        group = idx
        if group_size is not None:
            g = whole("group_size", group_size, 1, hint="the completions generated per prompt")
            if g == 1 and self.feedback == "abs_advantage":
                raise ConfigError(f"group_size=1: {_SINGLE}. Nothing was recorded.")
            if len(idx) % g or (idx.reshape(-1, g) != idx.reshape(-1, g)[:, :1]).any():
                raise InvalidScoreError(f"with group_size={g}, every {g} consecutive completions must come from one "
                                        f"prompt (got {len(idx)} completions, prompts {idx[:2 * g].tolist()}...); "
                                        "nothing was recorded")
            group = np.arange(len(idx)) // g
        # groups of one completion as given (before rewards of None are left out): |advantage| 0 whatever happened
        sizes = np.unique(group, return_counts=True)[1] if self.feedback == "abs_advantage" else np.zeros(0)
        singles = int((sizes == 1).sum())
        rf = np.array([np.nan if v is None else v for v in r.tolist()], dtype=object)
        try:
            if non_numeric(rf):  # numpy would parse "0.5", or raise its own error on "x" or a complex number
                raise TypeError
            rf = rf.astype(float)
        except (TypeError, ValueError, OverflowError):  # (an integer past any float: numpy's raw OverflowError)
            raise InvalidScoreError("rewards must be numbers (or None for a completion left out); nothing was "
                                    "recorded") from None
        keep = ~np.isnan(rf)
        if np.isinf(rf).any():
            raise InvalidScoreError("rewards contain infinity; nothing was recorded")
        idx, rf, group = idx[keep], rf[keep], group[keep]
        if len(rf) == 0:
            self._answered()
            empty = np.zeros(0)
            return {"prompt": np.zeros(0, dtype=np.int64), "completions": np.zeros(0, dtype=np.int64),
                    "pass_rate": empty, "abs_advantage": empty, "score": empty}
        try:
            u = self.reward_range.normalise(rf)
        except InvalidScoreError:  # its message names score_range= and a position among the rewards kept
            lo, hi = self.reward_range.low, self.reward_range.high
            outside = np.flatnonzero(~((rf >= lo) & (rf <= hi)))
            if not outside.size:
                raise
            at = int(np.flatnonzero(keep)[outside[0]])
            raise InvalidScoreError(f"reward {float(rf[outside[0]])!r} (completion {at}) is outside "
                                    f"the curriculum's reward_range [{lo}, {hi}]; declare the rewards' range with "
                                    "PromptCurriculum(reward_range=(low, high)), or reward_range=ScoreRange(low, "
                                    "high, clip=True) to clip; nothing was recorded") from None
        if singles and not self._warned_single:
            self._warned_single = True
            warnings.warn(f"{singles} of {len(sizes)} prompt groups had a single completion: {_SINGLE} (warned "
                          "once per curriculum)", UserWarning, stacklevel=2)
        gids, n, pass_rate, abs_adv = group_scores(group, u)
        ids = gids if group_size is None else idx[np.searchsorted(group, gids)]  # each group's prompt
        score = pass_rate if self.feedback == "pass_rate" else abs_adv
        # an open range (FiniteScores: the level teachers) takes the scores as they are
        raw: Any = self.teacher.score_range.from_unit(score)
        self.teacher.observe_batch(self.teacher.space.tasks_at(self.task_of(ids)), raw)
        np.add.at(self.attempts, idx, 1)
        np.add.at(self.reward_sum, idx, u)
        self.groups_observed += len(ids)
        self._answered()
        return {"prompt": ids, "completions": n, "pass_rate": pass_rate, "abs_advantage": abs_adv, "score": score}

    def _answered(self) -> None:
        if self._pending:
            self._pending.popleft()
        while len(self._replay) > len(self._pending):  # a batch to hand out again got its rewards after all
            self._replay.popleft()

    @property
    def pending(self) -> int:
        """Batches handed out by :meth:`next_prompts` whose rewards have not come yet."""
        return len(self._pending)

    # ------------------------------------------------------------- reporting
    def pass_rates(self) -> np.ndarray:
        """Mean reward in [0, 1] of every prompt over all its scored completions (NaN if never scored)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.attempts > 0, self.reward_sum / np.maximum(self.attempts, 1), np.nan)

    def counts_per_task(self) -> np.ndarray:
        """``(steps, n_tasks)`` prompts drawn per step for each of the teacher's tasks (categories or prompts), one
        row per record of :attr:`history` (the newest ``max_history`` steps when it is set)."""
        out = np.zeros((len(self.history), self.n_tasks), dtype=np.int64)
        for i, h in enumerate(self.history):
            if "counts" in h:
                out[i] = h["counts"]
            else:
                np.add.at(out[i], np.asarray(h["prompts"], dtype=np.int64), 1)
        return out

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Position (generator, pools, step, history, the batches waiting for rewards), per-prompt statistics, the
        teacher's state and the digest of the prompts (``None`` where they are not known)."""
        return {
            "kind": "magister.PromptCurriculum", "by": self.by, "n_prompts": self.n_prompts,
            "feedback": self.feedback, "reward_range": self.reward_range.to_dict(),
            "rng": generator_state(self.rng), "step": self.step,
            "cursor": self._cursor.copy(), "pools": [p.copy() for p in self._pools],
            "history": [dict(h) for h in self.history], "attempts": self.attempts.copy(),
            "reward_sum": self.reward_sum.copy(), "groups_observed": self.groups_observed,
            "teacher": self.teacher.state_dict(), "pending": [p.copy() for p in self._pending],
            "prompts_fingerprint": self._prompts_fingerprint,
        }

    def load_state_dict(self, state: dict[str, Any], *, replay_pending: bool = False) -> None:
        """Continue exactly from :meth:`state_dict` output.

        ``replay_pending=True``: the batches that were handed out but had no rewards yet when the state was saved
        (a data loader's look-ahead) are handed out again by the next :meth:`next_prompts` calls, in order, before
        the teacher proposes anything new: a training loop resumed from a checkpoint, which never trained on them,
        then continues as the uninterrupted run (:func:`magister.data.grpo.load_curriculum_checkpoint` does
        this). With ``False`` they stay waiting for the rewards of a caller that still holds them.

        Refuses (changing nothing) a state of another set-up:
        another ``by``, number of prompts, ``feedback`` or ``reward_range`` (the same rewards would be other pass
        rates) is a :class:`~magister.errors.ConfigError`; so is a state saved over other prompts (their digest,
        where both this curriculum and the state know it: ``prompts=``, or the GRPO train dataset's), whose
        per-prompt statistics would go to other prompts, and a malformed one (negative or fractional counts, a
        reward sum above the attempts, history records of other categories or prompts). A state saved before the range was saved is read with
        this curriculum's, and one saved before the prompts' digest was (or without it) is taken as of these
        prompts; a curriculum that does not know its prompts takes the state's digest. One with more ``history``
        records than ``max_history`` keeps the newest."""
        # (bool() read "false" as True: the waiting batches were handed out again)
        replay_pending = flag("replay_pending", replay_pending)
        if not isinstance(state, dict) or not isinstance(state.get("kind"), str) or \
                state["kind"] != "magister.PromptCurriculum":  # (an array raised numpy's truth-value error)
            raise ConfigError("this is not a PromptCurriculum state (save one with PromptCurriculum.save)")
        try:  # everything is read before anything changes
            by, feedback = state["by"], state["feedback"]
            if not isinstance(by, str) or not isinstance(feedback, str):  # (an array raised numpy's truth-value error)
                raise TypeError(f"'by' and 'feedback' are names, got {by!r:.40} and {feedback!r:.40}")
            # (int() cut 2.5 to 2 and took 2**64; whole() raises a ConfigError, a ValueError: malformed)
            n_prompts = whole("saved n_prompts", state["n_prompts"], 1, floats=True)
            # (as saved: whole numbers; dtype=int64 cut 1.5 to 1, read True as 1 and parsed "1")
            pools = [whole_array("pools", p) for p in state["pools"]]
            attempts_read = np.asarray(state["attempts"], dtype=float)
            attempts = attempts_read.astype(np.int64)
            reward_sum = np.asarray(state["reward_sum"], dtype=float).copy()
            cursor = whole_array("cursor", state["cursor"]).copy()
            rng = restore_generator(state["rng"])
            step, groups_observed = (whole(f"saved {k}", state[k], 0, floats=True) for k in ("step", "groups_observed"))
            history = keep_newest([dict(h) for h in state["history"]], self.max_history)  # the newest, as a run keeps
            teacher_state = state["teacher"]
            # (a state saved before the range was saved has none: taken as this curriculum's)
            saved_range = ScoreRange.coerce(state.get("reward_range", self.reward_range))
            # (a state saved before the waiting batches were saved has none)
            # (as saved: whole numbers; dtype=int64 cut 1.5 to 1, read True as 1 and parsed "1")
            pending = [np.asarray(p).reshape(-1) for p in state.get("pending", [])]
            # (a state saved before the prompts' digest was, or by a curriculum that did not know them, has None)
            saved_prompts = state.get("prompts_fingerprint")
            if saved_prompts is not None and not isinstance(saved_prompts, str):
                raise TypeError(f"'prompts_fingerprint' is a digest (text), got {saved_prompts!r:.40}")
        except (KeyError, TypeError, ValueError, OverflowError) as e:  # (an int past int64: numpy's OverflowError)
            raise ConfigError(f"the saved curriculum state is malformed ({type(e).__name__}: {e}); load what "
                              "state_dict() returned. Nothing was changed.") from None
        if by != self.by or n_prompts != self.n_prompts or feedback != self.feedback:
            raise ConfigError(f"the saved curriculum chose by {by!r} over {n_prompts} prompts with "
                              f"{feedback!r} feedback; this one chooses by {self.by!r} over "
                              f"{self.n_prompts} prompts with {self.feedback!r}: rebuild it as it was saved")
        if None not in (saved_prompts, self._prompts_fingerprint) and saved_prompts != self._prompts_fingerprint:
            raise ConfigError(f"the saved curriculum was built over other prompts than this one (prompt digests "
                              f"{saved_prompts[:12]}... saved, {self._prompts_fingerprint[:12]}... here: prompts "
                              "edited, reordered, or another prompts file), so its per-prompt statistics would go to "
                              "other prompts. Rebuild the curriculum over the prompts it was saved with, in their "
                              "order, to resume it; or start afresh with this one, without loading the state. "
                              "Nothing was changed.")
        if saved_range.to_dict() != self.reward_range.to_dict():  # the same rewards became other pass rates
            raise ConfigError(f"the saved curriculum read rewards in the range {saved_range.to_dict()}, this one in "
                              f"{self.reward_range.to_dict()}: rebuild it with the saved reward_range. Nothing was "
                              "changed.")
        if len(pools) != len(self._members) or any(sorted(p.tolist()) != m.tolist()
                                                   for p, m in zip(pools, self._members)):
            raise ConfigError("the saved curriculum's category pools do not match these prompts' categories")
        if attempts.shape != (self.n_prompts,) or reward_sum.shape != (self.n_prompts,):
            raise ConfigError(f"the saved per-prompt statistics do not hold {self.n_prompts} prompts")
        if (attempts < 0).any() or (attempts != attempts_read).any() or not np.isfinite(reward_sum).all() or \
                (reward_sum < 0).any() or (reward_sum > attempts).any() or step < 0 or groups_observed < 0 or \
                not all(self._record_ok(h) for h in history) or \
                cursor.shape != self._cursor.shape or (cursor < 0).any() or \
                (cursor > [len(m) for m in self._members]).any() or \
                any(p.dtype.kind not in "iu" or len(p) == 0 or (p < 0).any() or (p >= self.n_prompts).any()
                    for p in pending):
            raise ConfigError("the saved curriculum state is malformed (negative or fractional counts, a reward sum "
                              "that is not a finite number in [0, attempts], a history record that is not this "
                              "curriculum's, a pool cursor outside its pool, or a waiting batch of prompts "
                              f"that are not whole numbers in 0..{self.n_prompts - 1}); load what state_dict() returned. "
                              "Nothing was changed.")
        self.teacher.load_state_dict(teacher_state)  # validates first, changes nothing on error
        self.rng = rng
        self.step = step
        self._cursor = cursor
        self._pools = pools
        self.history = history
        self.attempts, self.reward_sum = attempts, reward_sum
        self.groups_observed = groups_observed
        self._pending = collections.deque((p.astype(np.int64) for p in pending[-_MAX_PENDING:]), maxlen=_MAX_PENDING)
        self._replay = collections.deque(p.copy() for p in self._pending) if replay_pending else collections.deque()
        if saved_prompts is not None:  # (the same digest, or this curriculum did not know its prompts)
            self._prompts_fingerprint = saved_prompts

    def _record_ok(self, record: dict[str, Any]) -> bool:
        """Whether a saved :attr:`history` record is one this curriculum writes (a step >= 0, and counts for each
        of its categories or prompts of its own): another one made :meth:`counts_per_task` raise numpy's error."""
        key = "counts" if self.by == "category" else "prompts"
        try:
            values = np.asarray(record[key], dtype=float).reshape(-1)
            step = float(record["step"])
        except (KeyError, TypeError, ValueError):
            return False
        whole_ok = bool(np.all(values % 1 == 0)) and step % 1 == 0 and step >= 0 and bool(np.all(values >= 0))
        fits = len(values) == self.n_tasks if key == "counts" else bool(np.all(values < self.n_prompts))
        return whole_ok and fits

    def save(self, path: str | Path) -> Path:
        """Write :meth:`state_dict` atomically (magister's checkpoint format)."""
        return save_state(path, self.state_dict())

    def load(self, path: str | Path, *, replay_pending: bool = False) -> None:
        """Restore a state written by :meth:`save` (``replay_pending``: see :meth:`load_state_dict`)."""
        replay_pending = flag("replay_pending", replay_pending)  # (before the file is read, and not named for it)
        state = load_state(path)
        with from_file(path, (CheckpointError, ConfigError)):
            self.load_state_dict(state, replay_pending=replay_pending)
