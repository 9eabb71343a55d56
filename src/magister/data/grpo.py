"""TRL ``GRPOTrainer`` integration: a teacher chooses each step's prompts (``trl`` is imported only here).

One call adds a prompt curriculum to a ``GRPOTrainer``::

    teacher = make_teacher("sec", Discrete(levels), reward="score", seed=0)
    curriculum = PromptCurriculum(teacher, categories=dataset["level"], seed=0)
    trainer = GRPOTrainer(model=model, reward_funcs=correct, args=GRPOConfig(...), train_dataset=dataset)
    add_prompt_curriculum(trainer, curriculum)      # before trainer.train()

What it does:

* the training sampler is replaced: each generation batch holds
  ``generation_batch_size // num_generations`` prompts from
  :meth:`PromptCurriculum.next_prompts`, each repeated ``num_generations``
  times, and the whole batch repeated ``num_iterations * steps_per_generation``
  times, as TRL's own ``RepeatSampler`` lays it out (TRL generates once per
  block and reuses the completions);
* a column ``magister_prompt`` (the row number) is added to the train
  dataset, so reward functions receive the prompt index of every completion;
* one reward function (``reward=``: its name or position; the only one by
  default) is wrapped: it runs unchanged, and its rewards, grouped by prompt,
  go to :meth:`PromptCurriculum.observe` (so a correctness reward drives the
  curriculum while format or length rewards only shape the policy); rewards
  computed while the trainer evaluates (an ``eval_dataset``) do not reach it;
* :class:`PromptCurriculumCallback` writes the curriculum's state into each
  checkpoint folder (``magister_curriculum.ckpt``); to resume, build the
  trainer and curriculum as before, call :func:`load_curriculum_checkpoint`
  with the checkpoint folder, then ``trainer.train(resume_from_checkpoint=...)`` (which loads a curriculum not
  used yet from the folder itself, so leaving that call out resumes the same run; with
  ``add_prompt_curriculum(..., resume_curriculum=False)`` it keeps the curriculum as built instead, to go on from
  the model checkpoint with another curriculum; a ``train`` call that fails before its first training step,
  ``Trainer`` refusing a damaged file of the checkpoint, leaves the curriculum as it was before the call).
  The curriculum keeps a digest of the train dataset's ``prompt`` column, saved with it: a checkpoint's
  curriculum of other prompts (edited, reordered, another prompts file of as many rows), whose per-prompt
  statistics would go to other prompts, is refused on resume, naming both ways on.
  The generation batches the loader had fetched ahead at the save (chosen, never
  generated for) are handed out again first, and where ``Trainer`` skips the
  batches of a resumed epoch already trained, the sampler's pass leaves them out
  (nothing is drawn: ``Trainer`` skipping them itself would ask the teacher for
  prompts nobody trains), so a resumed run trains the prompts, in the same updates
  and epochs, of the uninterrupted one. TRL's micro-step count, which it does not
  save, is set to match, so its generation blocks fall where they did. A checkpoint inside a generation
  block (``num_iterations > 1`` or ``steps_per_generation > gradient_accumulation_steps``) also holds TRL's
  buffered completions of that block (:data:`BLOCK_NAME`, which TRL keeps in memory only): the resumed run puts
  them back and the sampler hands the block's prompts out again without drawing, so nothing is generated until
  the next block (regenerating could not repeat it: the random state and the policy have moved on). From such a
  checkpoint without the file (an older magister), the rest of the block is trained on a new block of the next
  prompts, with a warning; with ``resume_curriculum=False`` too, without one (the saved block's prompts were chosen
  by the run that saved it). A saved block with prompts outside the curriculum's is refused, and so is a damaged one. The files go into
  the folder ``Trainer`` saved (a ``hyperparameter_search`` trial's
  ``run-<trial>/checkpoint-<step>``, though TRL's trainer, without ``model_init``, runs no trials). (Before
  ``Trainer.get_resumed_dataloader`` existed in ``transformers``, ``args.ignore_data_skip`` is set instead: a
  resumed run starts a whole epoch at the checkpoint.)

:class:`CurriculumGRPOTrainer` is the same as a subclass
(``CurriculumGRPOTrainer(curriculum=..., model=..., ...)``).

Timing: ``accelerate`` fetches one batch ahead, so the prompts of generation
step ``t`` are chosen before the rewards of step ``t - 1`` are in (a lag of one
generation step; none when ``num_iterations * steps_per_generation > 1``, as the loader then reaches the next
generation batch after the current one is scored). Feedback is matched to prompts by the ``magister_prompt``
column, so it is always attributed correctly.

Limits: one process (a multi-process launch would need every rank's teacher
to agree; it is refused with an error), map-style datasets (not
``IterableDataset``), a reward function that is a Python callable (not a
reward model).
"""

from __future__ import annotations

import collections
import copy
import functools
import inspect
import os
import types
import warnings
from typing import Any, Callable, Iterator, Sequence

from ..errors import CheckpointError, ConfigError, InvalidScoreError, missing_extra_import
from ..settings import flag, whole

try:
    import torch
    from torch.utils.data import Sampler
    from transformers.trainer_utils import get_last_checkpoint
    from trl import GRPOTrainer
except ImportError as _e:
    raise missing_extra_import("magister.data.grpo", "trl", _e) from _e

from .hf import _as_it_was_unless_trained, _resume_through_sampler, _StepWatch, checkpoint_folder
from .mixing import resume_point
from .prompts import _SINGLE, PromptCurriculum, _prompts_fingerprint

__all__ = ["CurriculumGRPOTrainer", "CurriculumRepeatSampler", "PromptCurriculumCallback", "add_prompt_curriculum",
           "load_curriculum_checkpoint", "curriculum_reward", "BLOCK_NAME", "CHECKPOINT_NAME", "INDEX_COLUMN"]

#: the file the callback writes into each Trainer checkpoint folder
CHECKPOINT_NAME = "magister_curriculum.ckpt"
#: the file holding TRL's buffered generation block, in a checkpoint folder saved inside a block
BLOCK_NAME = "magister_grpo_block.pt"
#: the dataset column holding each prompt's row number
INDEX_COLUMN = "magister_prompt"
#: the dataset column of the prompts' text (TRL's), whose digest the curriculum saves
_PROMPT_COLUMN = "prompt"


class CurriculumRepeatSampler(Sampler[int]):
    """TRL's ``RepeatSampler`` layout with the prompts of each generation batch chosen by a curriculum.

    One iteration (a nominal epoch) is ``max(1, n_prompts // prompts_per_generation)``
    generation batches; iterating again continues the curriculum's stream.
    Prompts are chosen lazily, when the data loader reaches a new generation batch.
    The data loader's batches are one generation batch each (``prompts_per_generation * num_generations``
    indices), so each block of prompts spans ``repeat_count`` of them.
    """

    def __init__(self, curriculum: PromptCurriculum, *, prompts_per_generation: int, num_generations: int,
                 repeat_count: int):
        self.curriculum = curriculum
        # (prompts_per_generation=0 was a ZeroDivisionError; a count of 0 elsewhere a sampler of no index)
        self.prompts_per_generation = whole("prompts_per_generation", prompts_per_generation, floats=True)
        self.num_generations = whole("num_generations", num_generations, floats=True)
        self.repeat_count = whole("repeat_count", repeat_count, floats=True)
        self.batches_per_epoch = max(1, curriculum.n_prompts // self.prompts_per_generation)
        self._pass_start = 0  # loader batches of the next pass trained before a resume (resume_pass_at)
        self._block_rest: list[int] | None = None  # the prompts of the block a resume fell into (resume_pass_at)

    def __len__(self) -> int:
        return self.batches_per_epoch * self.prompts_per_generation * self.num_generations * self.repeat_count

    def resume_pass_at(self, trained: int, block: Sequence[int] | None = None) -> None:
        """Make the next pass start ``trained`` loader batches in (a ``Trainer`` resumed mid-epoch trained
        those): its passes then end where the uninterrupted run's did. Nothing is drawn. A resume inside a block
        (``trained`` not a multiple of ``repeat_count``) gives the rest of that block ``block``, the prompts of
        the interrupted block (without drawing), or, with ``block=None``, the next prompts."""
        start = resume_point(trained, self.batches_per_epoch * self.repeat_count, "generation batches")
        rest = None
        if block is not None and start % self.repeat_count:
            rest = [int(i) for i in block]
            if len(rest) != self.prompts_per_generation:
                raise ConfigError(f"the interrupted generation block had {len(rest)} prompts, but this sampler "
                                  f"hands out {self.prompts_per_generation} per block; resume with the "
                                  "generation_batch_size and num_generations of the run that saved it")
            outside = [i for i in rest if not 0 <= i < self.curriculum.n_prompts]
            if outside:  # (the loader failed on them: "Invalid key: 4 is out of bounds for size 2")
                raise ConfigError(f"the interrupted generation block holds prompt {outside[0]}, outside this "
                                  f"curriculum's {self.curriculum.n_prompts} prompts; resume with the train dataset "
                                  "of the run that saved it")
        self._pass_start, self._block_rest = start, rest

    def __iter__(self) -> Iterator[int]:
        left, self._pass_start = self.batches_per_epoch * self.repeat_count - self._pass_start, 0
        rest, self._block_rest = self._block_rest, None
        while left > 0:
            if rest is not None:  # the interrupted block's own prompts (TRL trains them from its saved completions)
                prompts, rest = rest, None
            else:
                prompts = self.curriculum.next_prompts(self.prompts_per_generation).tolist()
            blocks = (left - 1) % self.repeat_count + 1  # the rest of a block a resume fell into, then whole ones
            left -= blocks
            for _ in range(blocks):
                for i in prompts:
                    for _ in range(self.num_generations):
                        yield i


def _is_async(func: Callable[..., Any]) -> bool:
    """Whether calling ``func`` returns a coroutine: an ``async def`` function, a ``functools.partial`` of one, or
    an instance whose ``__call__`` is ``async`` (TRL awaits all three)."""
    while isinstance(func, functools.partial):
        func = func.func
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(getattr(func, "__call__", None))


def curriculum_reward(curriculum: PromptCurriculum, func: Callable[..., Any], *,
                      column: str = INDEX_COLUMN, training: Callable[[], bool] | None = None,
                      group_size: int | None = None) -> Callable[..., Any]:
    """``func`` unchanged (same name, same rewards), plus its rewards sent to ``curriculum`` grouped by prompt.

    The wrapped function needs the ``column`` keyword (TRL passes every dataset
    column to reward functions; :func:`add_prompt_curriculum` adds it).
    ``training``: called at each reward call; when it returns False (the trainer is evaluating) the rewards
    are returned without reaching the curriculum (:func:`add_prompt_curriculum` passes the model's
    ``training`` flag, as TRL tells its train and eval modes apart).
    ``group_size``: the completions per prompt (``num_generations``): each run of that many consecutive
    completions is one group, as TRL groups them for its advantages, so a prompt drawn twice in one generation
    batch gives two observations (:func:`add_prompt_curriculum` passes it); ``None`` groups by prompt index.
    ``func`` may be ``async`` (an ``async def`` function, a ``functools.partial`` of one, or an object whose
    ``__call__`` is ``async``, as TRL awaits all three): the wrapper is then ``async`` too. A call returning
    another number of rewards than completions raises :class:`~magister.errors.InvalidScoreError` naming the
    function, and nothing reaches the curriculum.
    """

    def _feed(kwargs: dict[str, Any], rewards: Any) -> Any:
        """Send ``rewards`` to the curriculum; returns them for TRL: as they are, or a one-shot iterator's (a
        generator's) as a list (reading them here used it up, and TRL, which takes any iterable, got none)."""
        if training is not None and not training():
            return rewards  # evaluation: its prompts are not the curriculum's (nor chosen by it)
        if column not in kwargs:
            raise ConfigError(f"the reward function got no {column!r} column; add the prompt row numbers to the "
                              "train dataset (add_prompt_curriculum does) and keep remove_unused_columns=False")
        name = getattr(func, "__name__", type(func).__name__)
        try:
            values = list(rewards)
        except TypeError:  # (Python's raw "'float' object is not iterable")
            raise InvalidScoreError(f"the reward function {name!r} returned {type(rewards).__name__} "
                                    f"{str(rewards)[:40]}, not one reward per completion; return a list of "
                                    f"{len(kwargs[column])} rewards (None for one left out). Nothing was "
                                    "recorded.") from None
        if len(values) != len(kwargs[column]):  # TRL's own check comes after this wrapper returns
            raise InvalidScoreError(f"the reward function {name!r} "
                                    f"returned {len(values)} rewards for {len(kwargs[column])} completions; return "
                                    "one reward per completion (None for one left out). Nothing was recorded.")
        curriculum.observe(kwargs[column], [_reward_value(r) for r in values], group_size=group_size)
        return values if iter(rewards) is rewards else rewards

    if _is_async(func):
        @functools.wraps(func)
        async def async_wrapped(*args: Any, **kwargs: Any) -> Any:
            return _feed(kwargs, await func(*args, **kwargs))
        return async_wrapped

    @functools.wraps(func)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return _feed(kwargs, func(*args, **kwargs))
    return wrapped


def _reward_value(reward: Any) -> Any:
    """A reward as a float (a tensor's or numpy's number too), or as it is where it is None (left out) or no
    number: ``PromptCurriculum.observe`` then refuses it, nothing recorded (``float()`` parsed text, "0.5",
    which the curriculum recorded and TRL then refused)."""
    if reward is None or isinstance(reward, (str, bytes)):
        return reward
    try:
        return float(reward)
    except (TypeError, ValueError):
        return reward


class PromptCurriculumCallback(_StepWatch):
    """Writes the curriculum's state (:data:`CHECKPOINT_NAME`) into each checkpoint folder the Trainer saves.

    ``trainer``: the trainer it is added to (:func:`add_prompt_curriculum` passes it): the file then goes into
    the folder the trainer saved, a trial's ``run-<id>/checkpoint-<step>`` in ``hyperparameter_search``, and a
    checkpoint inside a generation block also gets TRL's buffered completions (:data:`BLOCK_NAME`). It also notes
    whether a training step of the current ``train()`` call began (a call that fails before one changes nothing)."""

    def __init__(self, curriculum: PromptCurriculum, trainer: Any = None):
        self.curriculum = curriculum
        self.trainer = trainer
        self.saved: list[str] = []

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not getattr(state, "is_world_process_zero", True):
            return
        self.write(checkpoint_folder(self.trainer, args, state))

    def write(self, folder: str) -> None:
        """Write the curriculum's state (and the generation block a save inside one interrupts) into ``folder``."""
        os.makedirs(folder, exist_ok=True)
        self.saved.append(str(self.curriculum.save(os.path.join(folder, CHECKPOINT_NAME))))
        block = getattr(self.trainer, "_magister_block", None)
        if block is not None:
            block.save(folder)


class _GenerationBlock:
    """TRL's buffered generation: the completions of the current block and its prompts, for a checkpoint saved
    inside it (TRL keeps them in memory only, and a resumed run generated a new block for the rest of it)."""

    def __init__(self, trainer: Any, repeat: int, num_generations: int, n_prompts: int):
        self.trainer, self.repeat, self.num_generations = trainer, repeat, num_generations
        self.n_prompts = n_prompts  # of the curriculum: a saved block's prompts must be among them
        self.fresh = False  # resume_curriculum=False: the rest of an interrupted block is a new block
        self.prompts: list[int] | None = None  # of the block TRL buffered
        self.loaded: dict[str, Any] | None = None  # read from the checkpoint a run resumes from

    def record(self, generation_batch: Any) -> None:
        column = ([row[INDEX_COLUMN] for row in generation_batch] if isinstance(generation_batch, list)
                  else list(generation_batch[INDEX_COLUMN]))  # TRL's rows, or a dict of columns
        self.prompts = [int(i) for i in column[::self.num_generations]]

    def save(self, folder: str) -> None:
        offset = int(getattr(self.trainer, "_step", 0)) % self.repeat
        path = os.path.join(folder, BLOCK_NAME)
        if offset == 0 or getattr(self.trainer, "_buffered_inputs", None) is None or self.prompts is None:
            if os.path.exists(path):  # a stale one (a save at this step of an earlier run in the folder)
                os.remove(path)
            return
        state = {"kind": "magister.GRPOBlock", "offset": offset, "repeat": self.repeat, "prompts": self.prompts,
                 "buffered_inputs": self.trainer._buffered_inputs}
        tmp = path + ".tmp"
        torch.save(state, tmp)
        os.replace(tmp, path)

    def load(self, checkpoint: str | os.PathLike | None, *, fresh: bool = False) -> None:
        """Read the block saved in ``checkpoint`` (if any) for :meth:`resume`; ``fresh``: leave it where it is and
        train the rest of an interrupted block on a new block of the curriculum's prompts (``resume_curriculum=False``:
        the saved block's prompts were chosen by another curriculum, perhaps over another dataset)."""
        self.loaded, self.fresh = None, fresh
        path = None if checkpoint is None else os.path.join(os.fspath(checkpoint), BLOCK_NAME)
        if not fresh and path is not None and os.path.exists(path):
            # tensors, lists and numbers only (weights_only): no code runs from a checkpoint's pickle
            try:  # (torch's own error named no file, an empty one was a bare EOFError, and a damaged one advised
                # weights_only=False, which runs the pickle's code)
                loaded = torch.load(path, map_location=self.trainer.accelerator.device, weights_only=True)
            except Exception as e:  # noqa: BLE001 - whatever torch raises for a torn or foreign file
                loaded, why = None, f"it cannot be read (torch.load: {type(e).__name__}; damaged or cut short)"
            else:
                why = "it holds no generation block"
            if not isinstance(loaded, dict) or loaded.get("kind") != "magister.GRPOBlock":
                raise CheckpointError(f"{path} holds TRL's buffered generation block the checkpoint fell into, but "
                                      f"{why}: resume from an earlier checkpoint, or pass resume_curriculum=False to "
                                      "add_prompt_curriculum (or CurriculumGRPOTrainer) to train the rest of that "
                                      "block on a new block of the next prompts. Nothing was loaded.")
            prompts = loaded.get("prompts")
            outside = [int(i) for i in prompts or () if not 0 <= int(i) < self.n_prompts]
            if outside:  # the loader failed on them (a raw IndexError from the dataset), after the model loaded
                raise ConfigError(f"{path} holds the generation block the checkpoint fell into, with prompt "
                                  f"{outside[0]}, outside this curriculum's {self.n_prompts} prompts: resume with "
                                  "the train dataset of the run that saved it, or pass resume_curriculum=False to "
                                  "add_prompt_curriculum (or CurriculumGRPOTrainer) to train the rest of that block "
                                  "on a new block of this curriculum's prompts")
            self.loaded = loaded

    def resume(self, trained: int) -> list[int] | None:
        """Where a resumed epoch starts ``trained`` micro-steps in: inside a block, put the saved block back into
        TRL's buffer and return its prompts (None, with a warning, from a checkpoint without it)."""
        saved, self.loaded = self.loaded, None
        offset = trained % self.repeat
        if self.fresh:  # (resume_curriculum=False: the saved block, if any, is not this curriculum's)
            return None
        if saved is not None and (saved.get("kind") != "magister.GRPOBlock" or saved["offset"] != offset
                                  or saved["repeat"] != self.repeat):
            raise ConfigError(f"the checkpoint was saved {saved.get('offset')} micro-steps into a generation block "
                              f"of {saved.get('repeat')}, but this run resumes {offset} micro-steps into one of "
                              f"{self.repeat}: resume with the num_iterations, steps_per_generation and "
                              "gradient_accumulation_steps of the run that saved it")
        if offset == 0:
            return None
        if saved is None:
            warnings.warn(f"the checkpoint falls {offset} micro-steps into a generation block of {self.repeat} but "
                          f"holds no {BLOCK_NAME} (saved by an older magister, or without add_prompt_curriculum): "
                          "TRL's completions for the rest of that block are lost, so it is trained on a new block "
                          "of the next prompts and the run no longer repeats the uninterrupted one (the blocks "
                          "after it fall where they did)", UserWarning, stacklevel=2)
            return None
        self.trainer._buffered_inputs = saved["buffered_inputs"]
        self.prompts = [int(i) for i in saved["prompts"]]
        return self.prompts


def _restorer(curriculum: PromptCurriculum, trainer: Any, block: _GenerationBlock,
              samplers: list[CurriculumRepeatSampler]) -> Callable[[], None]:
    """A function that puts back, as they are now, ``curriculum`` (teacher, position, batches to hand out again),
    TRL's micro-step count and buffered block on ``trainer``, the block's prompts and the trainer's sampler."""
    state = copy.deepcopy(curriculum.state_dict())
    replay, warned = [b.copy() for b in curriculum._replay], curriculum._warned_single
    prompts = curriculum._prompts_fingerprint  # (a curriculum that did not know its prompts took a loaded state's)
    kept = {name: getattr(trainer, name) for name in ("_step", "_buffered_inputs") if hasattr(trainer, name)}
    block_prompts, current = block.prompts, samplers[:]

    def restore() -> None:
        curriculum.load_state_dict(copy.deepcopy(state))
        curriculum._replay = collections.deque(b.copy() for b in replay)
        curriculum._warned_single = warned
        curriculum._prompts_fingerprint = prompts
        for name, value in kept.items():
            setattr(trainer, name, value)
        block.prompts, block.loaded = block_prompts, None
        samplers[:] = current

    return restore


def load_curriculum_checkpoint(curriculum: PromptCurriculum, checkpoint_dir: str | os.PathLike) -> None:
    """Restore ``curriculum`` from a Trainer checkpoint folder written with :class:`PromptCurriculumCallback`.

    The generation batches the data loader had fetched ahead at the save, chosen but never generated for, are
    handed out again first (``replay_pending=True``), so ``trainer.train(resume_from_checkpoint=...)`` trains the
    prompts the uninterrupted run trained."""
    if isinstance(checkpoint_dir, bool) or not isinstance(checkpoint_dir, (str, os.PathLike)):
        raise ConfigError(f"checkpoint_dir must be a checkpoint folder (output_dir/checkpoint-<step>), got "
                          f"{checkpoint_dir!r}; trainer.train(resume_from_checkpoint=True) finds the newest itself "
                          "and loads a curriculum not used yet from it")
    folder = os.fspath(checkpoint_dir)
    path = os.path.join(folder, CHECKPOINT_NAME)
    if not os.path.exists(path):
        if not os.path.isdir(folder):
            raise ConfigError(f"there is no checkpoint folder {folder}")
        newest = get_last_checkpoint(folder)
        if newest is not None:  # the trainer's output_dir, not one of its checkpoints
            raise ConfigError(f"{folder} holds checkpoint folders, not a checkpoint: pass one of them, e.g. the "
                              f"newest, {newest}")
        raise ConfigError(f"{path} does not exist: the checkpoint was saved without a prompt curriculum "
                          "(add_prompt_curriculum adds the callback that writes it)")
    curriculum.load(path, replay_pending=True)


def _dataset_prompts(dataset: Any) -> str | None:
    """The digest of ``dataset``'s prompts (its ``prompt`` column, in row order), or None where it has none, or
    prompts that are no text or chat messages (their digest could change from run to run)."""
    if _PROMPT_COLUMN not in dataset.column_names or not hasattr(dataset, "select_columns"):
        return None
    try:  # (one column, sliced whole: dataset["prompt"] iterated row by row took a second per 100,000 prompts)
        return _prompts_fingerprint(dataset.select_columns([_PROMPT_COLUMN]).with_format(None)[:][_PROMPT_COLUMN])
    except TypeError:
        return None


def _unused(curriculum: PromptCurriculum) -> bool:
    """Whether ``curriculum`` is as built: nothing drawn, observed or loaded."""
    return curriculum.step == 0 and curriculum.groups_observed == 0 and curriculum.pending == 0


def _reward_index(trainer: Any, reward: int | str | None) -> int:
    names = list(getattr(trainer, "reward_func_names", []))
    n = len(trainer.reward_funcs)
    if reward is None:
        if n != 1:
            raise ConfigError(f"the trainer has {n} reward functions {names}; say which one feeds the curriculum "
                              "with reward='name' (its rewards should be correctness, e.g. a pass/fail check)")
        return 0
    if isinstance(reward, str):
        if reward not in names:
            raise ConfigError(f"no reward function named {reward!r}; the trainer's are {names}")
        return names.index(reward)
    if isinstance(reward, bool) or not isinstance(reward, int) or not 0 <= reward < n:
        raise ConfigError(f"reward must be a name in {names} or a position 0..{n - 1}, got {reward!r}")
    return reward


def add_prompt_curriculum(trainer: GRPOTrainer, curriculum: PromptCurriculum, *,
                          reward: int | str | None = None, resume_curriculum: bool = True) -> GRPOTrainer:
    """Make ``trainer`` draw its prompts from ``curriculum`` and feed it one reward function's rewards.

    ``reward``: the name or position of the reward function that feeds the curriculum (needed with several).
    ``resume_curriculum``: with ``True`` (default), ``trainer.train(resume_from_checkpoint=...)`` loads a curriculum
    not used yet from the checkpoint's :data:`CHECKPOINT_NAME` (so leaving :func:`load_curriculum_checkpoint` out
    still resumes the run); ``False`` keeps the curriculum as built (or as you loaded it), to go on from a model
    checkpoint with a different curriculum on purpose.

    The curriculum takes the digest of the train dataset's ``prompt`` column (``PromptCurriculum(prompts=...)``),
    so a checkpoint's curriculum saved over other prompts is refused on resume; a curriculum built with other
    ``prompts=``, or loaded from a state saved over other prompts, is refused here.

    Checks everything before changing the trainer; returns the trainer.
    """
    if not isinstance(curriculum, PromptCurriculum):
        raise ConfigError(f"curriculum must be a magister PromptCurriculum, got {type(curriculum).__name__}")
    args = trainer.args
    n_proc = int(getattr(trainer.accelerator, "num_processes", 1))
    if n_proc != 1:
        raise ConfigError(f"prompt curricula run in one process for now, but this trainer has {n_proc}: every "
                          "rank's teacher would have to agree on the prompts; train with one process")
    dataset = trainer.train_dataset
    if dataset is None or not hasattr(dataset, "__len__") or not hasattr(dataset, "column_names"):
        raise ConfigError("the trainer needs a map-style datasets.Dataset as train_dataset (an IterableDataset "
                          "cannot be indexed by a curriculum)")
    if len(dataset) != curriculum.n_prompts:
        raise ConfigError(f"the train dataset has {len(dataset)} rows but the curriculum covers "
                          f"{curriculum.n_prompts} prompts; build the curriculum from the same dataset")
    if getattr(args, "remove_unused_columns", False):
        raise ConfigError(f"remove_unused_columns=True would drop the {INDEX_COLUMN!r} column the curriculum "
                          "needs; set GRPOConfig(remove_unused_columns=False) (TRL's default)")
    if INDEX_COLUMN in dataset.column_names and list(dataset[INDEX_COLUMN]) != list(range(len(dataset))):
        raise ConfigError(f"the train dataset's {INDEX_COLUMN!r} column must be the row numbers 0..n-1")
    prompts = _dataset_prompts(dataset)
    if None not in (prompts, curriculum._prompts_fingerprint) and prompts != curriculum._prompts_fingerprint:
        # (its per-prompt statistics, and a teacher over prompts, would go to other prompts, without a word)
        raise ConfigError(f"the curriculum's prompts are not the train dataset's {_PROMPT_COLUMN!r} column (other "
                          "prompts, or another order: it was built with prompts= of other prompts, or loaded from "
                          "a state saved over them); build it over this dataset's prompts (PromptCurriculum(..., "
                          f"prompts=dataset[{_PROMPT_COLUMN!r}])), or train on the dataset it was saved with")
    i = _reward_index(trainer, reward)
    func = trainer.reward_funcs[i]
    if not callable(func) or hasattr(func, "parameters"):
        raise ConfigError("the reward that feeds the curriculum must be a Python function, not a reward model; "
                          "add a correctness function and name it with reward=...")
    if any(isinstance(cb, PromptCurriculumCallback) for cb in trainer.callback_handler.callbacks):
        raise ConfigError("this trainer already has a prompt curriculum")
    if curriculum.feedback == "abs_advantage" and int(trainer.num_generations or 1) < 2:
        # (GRPOConfig refuses it, but not a trainer built after args.num_generations was changed)
        raise ConfigError(f"num_generations={trainer.num_generations}: {_SINGLE}")
    resume_curriculum = flag("resume_curriculum", resume_curriculum)
    # ---- all checks passed: change the trainer
    if prompts is not None:  # saved with the curriculum: a checkpoint of other prompts is refused on resume
        curriculum._prompts_fingerprint = prompts
    if INDEX_COLUMN not in dataset.column_names:
        trainer.train_dataset = dataset.add_column(INDEX_COLUMN, list(range(len(dataset))))
    # evaluation rewards (an eval_dataset, without the prompt column) stay out of the curriculum: they crashed
    # the first evaluation, and would have fed the teacher prompts it never chose
    # grouped as TRL groups completions for its advantages (num_generations in a row per prompt slot): a prompt
    # drawn twice in one generation batch was one merged group, one observation, and a wrong |advantage|
    trainer.reward_funcs[i] = curriculum_reward(curriculum, func, training=lambda: bool(trainer.model.training),
                                                group_size=trainer.num_generations)
    prompts_per_generation = args.generation_batch_size // trainer.num_generations
    repeat = trainer.num_iterations * args.steps_per_generation
    block = _GenerationBlock(trainer, repeat, int(trainer.num_generations or 1), curriculum.n_prompts)
    trainer._magister_block = block  # type: ignore[attr-defined]

    samplers: list[CurriculumRepeatSampler] = []
    saver = PromptCurriculumCallback(curriculum, trainer)

    def _get_train_sampler(self: Any, dataset: Any = None) -> Sampler[int]:
        samplers[:] = [CurriculumRepeatSampler(curriculum, prompts_per_generation=prompts_per_generation,
                                               num_generations=self.num_generations, repeat_count=repeat)]
        return samplers[0]

    def resume_pass_at(trained: int) -> None:
        # inside a block: TRL's completions of it come back from the checkpoint, and the sampler hands out its
        # prompts again for the rest of it (without drawing), so the run goes on as the uninterrupted one
        samplers[0].resume_pass_at(trained, block=block.resume(trained))
        # TRL counts micro-steps from 0 again on resume (its _step is not saved) and generates whenever the count
        # is a multiple of the block: counted from the epoch's start (an epoch is whole blocks), its blocks start
        # where the sampler's do, also after a resume inside a block
        if hasattr(trainer, "_step"):
            trainer._step = trained

    trainer._get_train_sampler = types.MethodType(_get_train_sampler, trainer)  # type: ignore[method-assign]
    # Trainer must not skip the trained batches by drawing them (that asks the teacher for prompts nobody trains):
    # the sampler's pass leaves them out; before Trainer.get_resumed_dataloader, nothing is skipped (a resumed run
    # then starts a whole epoch at the checkpoint)
    if not _resume_through_sampler(trainer, resume_pass_at):
        args.ignore_data_skip = True

    original_prepare = trainer._prepare_inputs

    def _prepare_inputs(self: Any, generation_batch: Any) -> Any:
        before = getattr(self, "_buffered_inputs", None)
        out = original_prepare(generation_batch)
        if self.model.training and getattr(self, "_buffered_inputs", None) is not before:
            block.record(generation_batch)  # TRL generated a new block: its prompts, for a save inside it
        return out

    original_train = trainer.train

    def train(self: Any, resume_from_checkpoint: Any = None, *a: Any, **kw: Any) -> Any:
        # A call that fails before training's first step (Trainer refusing a damaged file of the checkpoint: its
        # trainer_state.json, optimizer.pt, rng_state.pth or weights) leaves the curriculum as it found it: it
        # stayed loaded from that checkpoint (and had drawn prompts), so a train() after it went on from there
        return _as_it_was_unless_trained(saver, _restorer(curriculum, self, block, samplers), _train, self,
                                         resume_from_checkpoint, *a, **kw)

    def _train(self: Any, resume_from_checkpoint: Any = None, *a: Any, **kw: Any) -> Any:
        path = get_last_checkpoint(self.args.output_dir) if resume_from_checkpoint is True else resume_from_checkpoint
        folder = path if isinstance(path, (str, os.PathLike)) else None
        # a curriculum built anew but not loaded (load_curriculum_checkpoint left out) resumed a fresh teacher
        # beside the restored model, without a word: an unused one is loaded from the folder here
        saved = None if folder is None else os.path.join(os.fspath(folder), CHECKPOINT_NAME)
        block.load(folder, fresh=not resume_curriculum)  # (checked first: a refusal leaves the curriculum as it is)
        if resume_curriculum and saved is not None and _unused(curriculum) and os.path.exists(saved):
            try:  # loaded unasked: a refusal names the file and both ways on (nothing has changed)
                load_curriculum_checkpoint(curriculum, folder)
            except (ConfigError, CheckpointError) as e:
                raise type(e)(f"{saved} holds the prompt curriculum of the run that saved this checkpoint, and it "
                              f"does not fit this one: {e}. To resume that run, build the curriculum as it did; to "
                              "go on from this checkpoint with this curriculum as built, pass resume_curriculum=False "
                              "to add_prompt_curriculum (or CurriculumGRPOTrainer)") from None
        return original_train(resume_from_checkpoint, *a, **kw)

    trainer._prepare_inputs = types.MethodType(_prepare_inputs, trainer)  # type: ignore[method-assign]
    trainer.train = types.MethodType(train, trainer)  # type: ignore[method-assign]
    trainer.add_callback(saver)
    trainer.prompt_curriculum = curriculum  # type: ignore[attr-defined]
    return trainer


class CurriculumGRPOTrainer(GRPOTrainer):
    """A ``GRPOTrainer`` whose prompts come from ``curriculum`` (see :func:`add_prompt_curriculum`).

    ``curriculum_reward`` names the reward function that feeds it (needed with several); ``resume_curriculum=False``
    keeps the curriculum as built when training resumes from a checkpoint (see :func:`add_prompt_curriculum`).
    """

    def __init__(self, *args: Any, curriculum: PromptCurriculum, curriculum_reward: int | str | None = None,
                 resume_curriculum: bool = True, **kwargs: Any):
        super().__init__(*args, **kwargs)
        add_prompt_curriculum(self, curriculum, reward=curriculum_reward, resume_curriculum=resume_curriculum)
