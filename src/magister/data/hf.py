"""Hugging Face ``Trainer`` integration (``transformers`` is imported only here).

Two lines add a curriculum to an existing ``Trainer``::

    sampler = SkillSampler(skills_of_examples, make_teacher("exp3", Discrete(names)), batch_size=8, seed=0)
    add_curriculum(trainer, sampler)          # before trainer.train()

What it does:

* the training ``DataLoader`` uses ``sampler`` as its batch sampler (so the
  per-device batch size is ``sampler.batch_size``; ``len(sampler)`` batches per
  epoch);
* ``train_feedback=True``: each training micro-batch's per-example loss is
  computed from the model's logits (causal language models shift the labels;
  tokens labelled ``-100`` are ignored) and given to
  :meth:`SkillSampler.observe_batch_loss`; NaN or infinite losses (a
  diverging step, which a ``Trainer`` trains past) are left out, so the
  teacher hears nothing of those examples, the batch still counts as fed
  back, training goes on and one warning says how many there were; a batch
  without ``labels``, or a model output without ``logits``, gives no
  feedback either: the batch counts as fed back and one warning says what is
  missing;
* :class:`CurriculumCallback`: after each evaluation, metrics named
  ``eval_<skill>_<metric>`` (what ``Trainer`` reports when ``eval_dataset`` is
  a dict keyed by skill name) go to :meth:`SkillSampler.observe_eval` (NaN or
  infinite ones are left out the same way, with one warning); a single
  evaluation set (reported as ``eval_loss``, all skills together) has no
  per-skill value and feeds the teacher nothing: one warning says so, at its
  first evaluation.

:class:`CurriculumTrainer` is the same as a ``Trainer`` subclass
(``CurriculumTrainer(curriculum=sampler, model=..., ...)``).

``accelerate`` looks one batch ahead, so the batch trained at step ``t`` was
composed before the feedback of step ``t - 1`` arrived (a lag of one step,
plus ``num_workers * prefetch_factor`` with loader workers, and with
``gradient_accumulation_steps = g`` the Trainer fetches the ``g`` micro-batches
of an update before computing any of their losses); feedback is still
matched to the right batch.

**Checkpoints.** Each ``checkpoint-<step>`` folder that ``Trainer`` saves also
gets the sampler's state (:data:`CURRICULUM_FILE`, teacher included, written
by rank 0, or with ``save_on_each_node=True`` by each node's first process, as ``Trainer`` writes its own). ``trainer.train(resume_from_checkpoint=...)`` loads it on every
rank and hands out again the look-ahead batches that were planned but never
trained on. Where ``Trainer`` skips the batches of a resumed epoch already
trained, the sampler's pass leaves them out instead (``Trainer`` skipping them
itself would draw and discard new ones; nothing is drawn), so the epoch, its
gradient-accumulation updates and its end fall where they did and the resumed
run continues as the uninterrupted one (from a checkpoint without the sampler's
state, the sampler starts afresh, with a warning, and nothing is drawn to be
skipped either; a ``train`` call that fails before its first training step, ``Trainer`` refusing a
damaged file of the checkpoint, leaves the sampler as it was before the call). A ``transformers`` without ``Trainer.get_resumed_dataloader``
gets ``args.ignore_data_skip`` instead: the resumed run then starts a whole
epoch at the checkpoint. The checkpoint folder must be visible to every rank,
as for ``Trainer``'s own resume: where the curriculum file is missing (or unreadable) on some ranks only, every
rank raises a ``CheckpointError`` naming it, nothing loaded. In ``Trainer.hyperparameter_search`` the file goes into each trial's own
checkpoint folders (``run-<trial>/checkpoint-<step>``, and those a Ray Tune trial reports to Tune), so a trial
can be resumed with its curriculum. Every trial starts from the sampler's state when the search began (Ray Tune's
trials from their own copy; optuna's and wandb's, which run one after another on this trainer, load it), unless it
resumes a checkpoint, and the search leaves the sampler as it found it.

Under multi-process launch (``torchrun``, ``accelerate launch``) the sampler
follows the process group (``batch_size`` is the global batch, each rank
trains on its block; see :mod:`magister.data.sampler`), and the loader is
handed to ``accelerate`` already sharded, so it only moves batches to the
device. Per-example losses are exchanged between ranks before the teacher
sees them, and the per-skill evaluation metrics that ``Trainer`` reports are
the same on every rank, so every rank's teacher stays identical.
"""

from __future__ import annotations

import collections
import copy
import math
import os
import types
import warnings
from typing import Any, Callable

import numpy as np

from ..checkpoint import from_file, load_state, save_state
from ..errors import CheckpointError, ConfigError, missing_extra_import
from ..settings import flag

try:
    import torch
    from accelerate.data_loader import prepare_data_loader
    from torch.utils.data import DataLoader
    from transformers import Trainer, TrainerCallback
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint
except ImportError as _e:
    raise missing_extra_import("magister.data.hf", "hf", _e) from _e
try:  # the causal language models of transformers (AutoModelForCausalLM's), whatever their class names say
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES as _CAUSAL_LM_MAPPING

    _CAUSAL_LM_NAMES = frozenset(n for v in _CAUSAL_LM_MAPPING.values() for n in ([v] if isinstance(v, str) else v))
except ImportError:  # pragma: no cover - a transformers without the table: the class names alone
    _CAUSAL_LM_NAMES = frozenset()

from .sampler import SkillSampler

__all__ = ["CurriculumCallback", "CurriculumTrainer", "add_curriculum", "per_example_loss_from_outputs",
           "CURRICULUM_FILE"]

#: the sampler's state inside each ``checkpoint-<step>`` folder that ``Trainer`` saves
CURRICULUM_FILE = "magister_curriculum.ckpt"


class CurriculumCallback(TrainerCallback):
    """Sends per-skill evaluation metrics (``eval_<skill>_<metric>``) to the sampler's teacher.

    ``metric="loss"`` sends losses (``kind="loss"``); any other metric name
    (``"accuracy"``) is sent as a score in [0, 1].
    """

    def __init__(self, sampler: SkillSampler, *, metric: str = "loss", prefix: str = "eval_"):
        metric_name("metric", metric)
        if not isinstance(prefix, str):  # (a number made keys no metric has: the teacher heard no evaluation)
            raise ConfigError(f"prefix must be the text before <skill>_<metric> in the metrics' names ('eval_'), "
                              f"got {prefix!r}")
        self.sampler = sampler
        self.metric = metric
        self.prefix = prefix
        self.evaluations = 0
        self.warned = False
        self.warned_unkeyed = False  # (the warning of an evaluation set not keyed by skill is given once)

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None, **kwargs: Any):
        if not metrics:
            return
        found = {}
        for name in self.sampler.skill_names:
            key = f"{self.prefix}{name}_{self.metric}"
            if key in metrics:
                found[name] = float(metrics[key])
        if not found and f"{self.prefix}{self.metric}" in metrics and not self.warned_unkeyed:
            # one evaluation set (not a dict): Trainer reports eval_loss over every skill at once, which names no
            # skill, so the teacher heard nothing, without a word (a compute_metrics that reports per-skill
            # metrics of the one set, eval_<skill>_<metric>, feeds it: found, no warning)
            self.warned_unkeyed = True
            warnings.warn(unkeyed_evaluation(f"{self.prefix}{self.metric}", self.sampler, self.metric),
                          UserWarning, stacklevel=2)
        bad = [name for name, v in found.items() if not math.isfinite(v)]
        if bad:  # a diverged model: the teacher refuses NaN, which stopped the run where a Trainer goes on
            if not self.warned:
                self.warned = True
                warnings.warn(f"evaluation {self.prefix}<skill>_{self.metric} was NaN or infinite for "
                              f"{len(bad)} skill(s) ({', '.join(bad[:5])}); the curriculum leaves them out and "
                              "training goes on (warned once)", RuntimeWarning, stacklevel=2)
            found = {name: v for name, v in found.items() if name not in bad}
        if found:
            self.sampler.observe_eval(found, kind="loss" if self.metric == "loss" else "accuracy")
            self.evaluations += 1


def metric_name(name: str, value: Any) -> str:
    """An evaluation metric's name, as ``Trainer`` reports it after ``eval_<skill>_`` (``"loss"``, ``"accuracy"``):
    other values (a number, ``True``, ``""``) made keys no metric has, so the teacher heard no evaluation, without a
    word."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name} must be the name of an evaluation metric, as Trainer reports it in "
                          f"eval_<skill>_<metric> ('loss', or a name your compute_metrics returns, such as "
                          f"'accuracy'), or None for no evaluation feedback; got {value!r}")
    return value


def unkeyed_evaluation(reported: str, sampler: SkillSampler, metric: str) -> str:
    """The warning of an evaluation set that is not keyed by skill (``reported``: the metric ``Trainer`` reports)."""
    return (f"the evaluation reported {reported} and no eval_<skill>_{metric}: one set, not a dict keyed by skill, "
            f"is scored over all skills together, so no per-skill value, and no evaluation, reaches the teacher "
            f"(CurriculumCallback reads eval_<skill>_{metric}, one per skill). Pass eval_dataset as a dict keyed by "
            f"skill name "
            f"({{{', '.join(repr(n) + ': ...' for n in sampler.skill_names[:3])}}}) to feed it, or "
            "add_curriculum(..., eval_metric=None) if training feedback alone is meant (warned once)")


class _StepWatch(TrainerCallback):
    """A callback that tells whether a training step of the current ``train()`` call began (``stepped``, set
    False by :func:`_as_it_was_unless_trained`)."""

    stepped = False

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any):
        self.stepped = True


def _as_it_was_unless_trained(watch: _StepWatch, restore: Callable[[], None], run: Callable[..., Any], *args: Any,
                               **kwargs: Any) -> Any:
    """``run(*args, **kwargs)`` (a curriculum's ``train()``); if it fails before a training step began (``watch``, a callback of
    the trainer), ``restore()`` puts the curriculum back as it was before the call, then the error goes on.

    ``Trainer`` reads its own files of a checkpoint (``trainer_state.json``, ``optimizer.pt``, ``rng_state.pth``,
    the weights) after the curriculum was loaded from it (and, for ``rng_state.pth``, after batches were drawn):
    a damaged one left the curriculum so, and a ``train()`` after it went on from that checkpoint's curriculum.
    Shared by the ``Trainer`` and TRL ``GRPOTrainer`` integrations."""
    watch.stepped = False
    try:
        return run(*args, **kwargs)
    except BaseException:
        if not watch.stepped:
            restore()
        raise


class _CurriculumCheckpoint(_StepWatch):
    """Writes the sampler's state (global: the same on every rank) into each checkpoint folder, from the processes
    that write ``Trainer``'s own files (``args.should_save``: rank 0, or with ``save_on_each_node=True`` each node's
    first process, into that node's folder)."""

    def __init__(self, sampler: SkillSampler, trainer: Trainer | None = None):
        self.sampler = sampler
        self.trainer = trainer

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any):
        folder = checkpoint_folder(self.trainer, args, state)
        # (rank 0 only left the checkpoints of the other nodes without it under save_on_each_node: resumed there,
        # those ranks started the curriculum afresh while rank 0's node loaded it, in a collective they never joined)
        writes = getattr(args, "should_save", None)
        if (state.is_world_process_zero if writes is None else writes) and os.path.isdir(folder):
            save_state(os.path.join(folder, CURRICULUM_FILE), self.sampler.state_dict())


def _read_on_every_rank(sampler: SkillSampler, saved: str | None) -> dict[str, Any] | None:
    """The curriculum's state in the file ``saved`` (None: no resume, or no file: the curriculum starts afresh).

    Under ``torch.distributed`` the ranks first agree, in one collective, on whether they resume and whether the file
    is there: a rank that lacked it (a node's copy of the checkpoint without it) warned and went on into
    ``Trainer`` while the others loaded it, in a collective that rank never joined, and the job hung. Each such case,
    and a file one rank cannot read, raises on every rank, naming the file; nothing is loaded."""
    ranks = sampler._ranks
    found = None if saved is None else os.path.exists(saved)
    state: dict[str, Any] | None = None
    error: Exception | None = None
    if found:
        try:
            state = load_state(saved)  # type: ignore[arg-type]
        except Exception as e:  # noqa: BLE001 - raised on every rank (alone, it left the others waiting)
            if ranks is None:
                raise
            error = e
    if ranks is None:
        return state
    seen = ranks.exchange(found, error)
    if None in seen and any(f is not None for f in seen):
        raise ConfigError(f"ranks {[r for r, f in enumerate(seen) if f is not None]} resume from a checkpoint "
                          f"but ranks {[r for r, f in enumerate(seen) if f is None]} do not; pass the same "
                          "resume_from_checkpoint to trainer.train() on every rank. Nothing was loaded")
    lacking = [r for r, f in enumerate(seen) if f is False]
    if lacking and len(lacking) < len(seen):
        raise CheckpointError(
            f"the curriculum file {CURRICULUM_FILE} of the checkpoint is missing on rank(s) {lacking} and there on "
            f"the others (this rank's: {saved!r}{', missing' if not found else ''}), so the ranks would resume "
            f"different curricula; its state is the same on every rank: copy the file from a node that has it into "
            f"the checkpoint folder of rank(s) {lacking}, or resume from a checkpoint every rank can read it in. "
            "Nothing was loaded")
    return state


def _restorer(sampler: SkillSampler) -> Callable[[], None]:
    """A function that puts ``sampler`` back as it is now (teacher, position, batches waiting or to be handed out
    again), on this rank alone: no collective, as a rank whose ``Trainer`` failed may fail alone."""
    state, replay, pass_start = sampler.state_dict(), [b.copy() for b in sampler._replay], sampler._pass_start

    def restore() -> None:
        ranks, sampler._ranks = sampler._ranks, None  # (load_state_dict's one collective checks that ranks agree)
        try:
            sampler.load_state_dict(copy.deepcopy(state), strict=False)
        finally:
            sampler._ranks = ranks
        sampler._replay = collections.deque(b.copy() for b in replay)
        sampler._pass_start = pass_start

    return restore


def checkpoint_folder(trainer: Trainer | None, args: Any, state: Any) -> str:
    """The ``checkpoint-<step>`` folder ``trainer`` has just saved: under ``args.output_dir``, or, in a trial of
    ``Trainer.hyperparameter_search``, under the trial's ``run-<id>`` folder (``hp_name``'s name where given), as
    ``Trainer`` places it. Without a trainer (or a ``transformers`` that has no trial folders), ``args.output_dir``."""
    run_dir = args.output_dir
    if trainer is not None and hasattr(trainer, "_get_output_dir"):
        run_dir = trainer._get_output_dir(trial=getattr(trainer, "_trial", None))
    return os.path.join(run_dir, f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")


def _also_in_tune_checkpoints(trainer: Trainer, write: Callable[[str], object]) -> None:
    """Make the checkpoints that a Ray Tune trial of ``hyperparameter_search`` reports to Tune (written by
    ``Trainer._tune_save_checkpoint``, without the callbacks' ``on_save``) get the curriculum's files too:
    ``write(folder)`` after ``Trainer`` wrote its own, so Tune's resume of a trial continues the curriculum."""
    original = getattr(trainer, "_tune_save_checkpoint", None)
    if original is None:
        return

    def _tune_save_checkpoint(self: Trainer, checkpoint_dir: str) -> None:
        original(checkpoint_dir)
        if self.args.should_save:
            write(os.path.join(checkpoint_dir, f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"))

    trainer._tune_save_checkpoint = types.MethodType(_tune_save_checkpoint, trainer)  # type: ignore[method-assign]


def writable_arrays(obj: Any) -> None:
    """Replace, in place, every read-only numpy array reachable from ``obj`` (attributes, dicts, lists, tuples) by a
    writable copy (read-only memory maps, the user's files, are left as they are). Ray's object store hands arrays back read-only (zero-copy): a sampler or curriculum that
    ``hyperparameter_search`` ships to a Ray Tune trial, and its teacher, then failed at their first update
    ("assignment destination is read-only")."""
    seen: set[int] = set()
    copies: dict[int, Any] = {}  # one copy of an array (or tuple) held in several places, as pickle shared it

    def thaw(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            # a read-only memory map is the user's data on disk, not what Ray's object store handed back (a memmap
            # comes out of a pickle as an ordinary array): copying it read a whole file into memory
            if value.flags.writeable or isinstance(value, np.memmap):
                return value
            return copies.setdefault(id(value), value.copy())
        if id(value) in copies:
            return copies[id(value)]
        if id(value) in seen or isinstance(value, (str, bytes, int, float, type)) or value is None:
            return value
        seen.add(id(value))
        if isinstance(value, tuple):  # immutable: a new tuple where an item changed (its holder takes it)
            items = [thaw(v) for v in value]
            if all(a is b for a, b in zip(items, value)):
                return value
            new = type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
            return copies.setdefault(id(value), new)
        if isinstance(value, (dict, list, collections.deque)):
            for k, v in list(value.items() if isinstance(value, dict) else enumerate(value)):
                if (new := thaw(v)) is not v:
                    value[k] = new
        elif hasattr(value, "__dict__") and not isinstance(value, (types.ModuleType, types.FunctionType)):
            thaw(vars(value))
        return value

    thaw(obj)


def per_example_loss_from_outputs(logits: torch.Tensor, labels: torch.Tensor, *, shift: bool) -> torch.Tensor:
    """Mean cross-entropy per example; ``shift`` for causal LMs; label ``-100`` ignored.

    An example with no labelled token (every label ``-100`` after the shift) has no loss: NaN, which
    ``observe_batch_loss(..., skip_nonfinite=True)`` leaves out (it was 0, a perfect score for the teacher)."""
    logits = logits.detach().float()
    if logits.dim() == 2:
        loss = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
        if labels.dtype.is_floating_point:  # class probabilities: no ignored label
            return loss
        # a label -100 is ignored, and its example has no loss (cross_entropy gave 0.0, a perfect score)
        return torch.where(labels != -100, loss, torch.full_like(loss, float("nan")))
    if shift:
        logits, labels = logits[:, :-1], labels[:, 1:]
    tok = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                            reduction="none", ignore_index=-100).view(labels.shape)
    valid = (labels != -100).float()
    n = valid.sum(1)
    return torch.where(n > 0, (tok * valid).sum(1) / n.clamp_min(1.0), torch.full_like(n, float("nan")))


def _is_causal_lm(model: Any) -> bool:
    """Whether ``model`` predicts each token from the ones before it (its labels are the inputs, to be shifted).

    By the names of its class and of the classes it derives from (a subclass of ``GPT2LMHeadModel`` is one), as
    ``...LMHeadModel`` / ``...CausalLM`` or among the causal language models of ``transformers``
    (``AutoModelForCausalLM``'s classes, the list ``Trainer`` shifts the labels of: ``Gemma3ForConditionalGeneration``,
    what ``AutoModelForCausalLM`` gives for Gemma 3, names neither). A PEFT wrapper is judged by the model it
    wraps, as ``Trainer`` judges it: ``peft.PeftModel`` (what ``get_peft_model`` gives without a ``task_type``, and
    ``PeftModel.from_pretrained`` for an adapter saved without one) names neither, and its causal model's labels
    went unshifted."""
    for _ in range(8):  # (a wrapper of a wrapper; one whose base is itself ends the walk)
        for cls in type(model).__mro__:
            name = cls.__name__
            if name.endswith("LMHeadModel") or "CausalLM" in name or name in _CAUSAL_LM_NAMES:
                return True
        inner = _peft_base(model)
        if inner is None or inner is model:
            return False
        model = inner
    return False


def _peft_base(model: Any) -> Any:
    """The model a PEFT wrapper wraps (``get_base_model()``; a ``PeftMixedModel``, which has no such method,
    ``base_model.model``, as ``transformers.trainer_utils.unwrap_peft_model`` takes it), or None for another model."""
    get = getattr(model, "get_base_model", None)
    if callable(get):
        return get()
    if any(cls.__name__ == "PeftMixedModel" for cls in type(model).__mro__):
        return getattr(getattr(model, "base_model", None), "model", None)
    return None


def _resume_through_sampler(trainer: Trainer, resume_pass_at: Callable[[int], None]) -> bool:
    """Make a resumed ``trainer`` leave out its epoch's trained batches through the sampler: where ``Trainer``
    would skip the first ``n`` batches of the resumed epoch (drawing and discarding them, which asks a curriculum
    for batches nobody trains), it calls ``resume_pass_at(n)`` and keeps the data loader, whose pass must then
    yield only the rest of the epoch. Shared by the ``Trainer`` and TRL ``GRPOTrainer`` integrations.

    Returns False, changing nothing, where ``Trainer`` has no ``get_resumed_dataloader`` (older
    ``transformers``): the caller sets ``args.ignore_data_skip``, and a resumed run then starts a whole epoch at
    the checkpoint."""
    if not hasattr(trainer, "get_resumed_dataloader"):
        return False

    def get_resumed_dataloader(self: Trainer, dataloader: Any, num_batches: int) -> Any:
        # With ignore_data_skip, Trainer restarted a whole epoch at the checkpoint: the gradient-accumulation
        # groups, the epoch ends (evaluations and saves per epoch) and state.epoch then fell elsewhere than in the
        # uninterrupted run, which it no longer repeated
        resume_pass_at(num_batches)
        return dataloader

    trainer.get_resumed_dataloader = types.MethodType(get_resumed_dataloader, trainer)  # type: ignore[method-assign]
    return True


def _check_dataset(dataset: Any, sampler: SkillSampler) -> None:
    if len(dataset) != len(sampler.skill_of):
        raise ConfigError(f"the sampler knows {len(sampler.skill_of)} examples but train_dataset has {len(dataset)}; "
                          "build the sampler from the skills of the same dataset (one skill per example, in order)")


def _train_dataloader(trainer: Trainer, sampler: SkillSampler) -> DataLoader:
    if trainer.train_dataset is None:
        raise ValueError("Trainer: training requires a train_dataset.")
    _check_dataset(trainer.train_dataset, sampler)
    collator = trainer._get_collator_with_removed_columns(trainer.data_collator, description="training")
    args = trainer.args
    params: dict[str, Any] = {"batch_sampler": sampler, "collate_fn": collator,
                              "num_workers": args.dataloader_num_workers, "pin_memory": args.dataloader_pin_memory}
    if args.dataloader_num_workers > 0:
        params["prefetch_factor"] = args.dataloader_prefetch_factor
        params["persistent_workers"] = args.dataloader_persistent_workers
    loader = DataLoader(trainer.train_dataset, **params)
    if sampler.world_size > 1:
        # the sampler already gives each rank its own block of the global batch: accelerate must not shard the
        # batches again (its BatchSamplerShard would hand every rank a different whole batch), only place them
        acc = trainer.accelerator
        loader = prepare_data_loader(loader, acc.device, num_processes=1, process_index=0, put_on_device=True,
                                     dispatch_batches=False, non_blocking=getattr(acc, "non_blocking", False))
        loader._is_accelerate_prepared = True  # accelerate's own mark: prepare() then registers it as it is
    return trainer.accelerator.prepare(loader)


def _feedback_loss(trainer: Trainer, sampler: SkillSampler, model: Any, inputs: dict[str, Any], outputs: Any,
                   count: bool = True) -> tuple[int, str | None]:
    """Feeds the micro-batch's per-example losses back; returns how many were NaN or infinite (left out), counted
    only with ``count`` (for a warning given once: not a second mask and a device sync every micro-batch), and
    what was missing when no loss per example could be had (the batch then leaves the queue unobserved)."""
    labels = inputs.get("labels") if isinstance(inputs, dict) else None
    logits = outputs.get("logits") if isinstance(outputs, dict) else getattr(outputs, "logits", None)
    if labels is None or logits is None:
        # nothing to observe, but the batch had its turn: left waiting, it took the next batch's losses (and every
        # rank makes the same call, a collective under torch.distributed)
        sampler.observe_batch_loss(torch.full((sampler.local_batch_size,), float("nan")), skip_nonfinite=True)
        return 0, "the training batch has no 'labels'" if labels is None else "the model's output has no logits"
    unwrapped = trainer.accelerator.unwrap_model(model)
    causal = _is_causal_lm(unwrapped)
    per_example = per_example_loss_from_outputs(logits, labels, shift=causal)
    # a NaN loss was refused, and the refusal stopped the run where a Trainer goes on: those examples are left
    # out (no observation) and the batch still leaves the queue of batches waiting for feedback; so are examples
    # without a labelled token (NaN too: no loss to speak of), which are not counted as diverged
    sampler.observe_batch_loss(per_example, skip_nonfinite=True)
    if not count:
        return 0, None
    labelled = ((labels[:, 1:] if causal and labels.dim() > 1 else labels) != -100)
    labelled = labelled.reshape(labelled.shape[0], -1).any(1).to(per_example.device)
    return int((~torch.isfinite(per_example) & labelled).sum()), None


def add_curriculum(trainer: Trainer, sampler: SkillSampler, *, train_feedback: bool = True,
                   eval_metric: str | None = "loss", strict: bool = True) -> Trainer:
    """Make an existing ``trainer`` draw its batches from ``sampler`` and feed it back. Returns ``trainer``.

    ``trainer.train(resume_from_checkpoint=...)`` restores the sampler from the checkpoint's curriculum file; a
    checkpoint without one (a sampler added on resume, or a save cut short) warns that the curriculum starts
    afresh; a call that fails before training's first step (``Trainer`` refusing a damaged checkpoint file) leaves
    the sampler as it was. A curriculum file saved by a sampler with other settings is refused, naming them;
    ``strict=False`` loads it anyway and keeps this sampler's settings (:meth:`SkillSampler.load_state_dict`)."""
    if not isinstance(sampler, SkillSampler):
        raise TypeError(f"add_curriculum needs a magister.data.SkillSampler, got {type(sampler).__name__}")
    strict = flag("strict", strict)
    train_feedback = flag("train_feedback", train_feedback)  # ("false" fed the losses back, None turned it off)
    if eval_metric is not None:
        metric_name("eval_metric", eval_metric)
    if any(isinstance(cb, _CurriculumCheckpoint) for cb in trainer.callback_handler.callbacks):
        # a second one would feed every micro-batch's losses twice (the second time to the next batch waiting)
        raise ConfigError("this trainer already has a curriculum (add_curriculum was called on it, or it is a "
                          "CurriculumTrainer); add one curriculum per trainer")
    if trainer.train_dataset is not None:  # refused here, before anything changes, not when training starts
        _check_dataset(trainer.train_dataset, sampler)
    trainer.curriculum = sampler
    trainer.get_train_dataloader = types.MethodType(lambda self: _train_dataloader(self, sampler), trainer)
    saver = _CurriculumCheckpoint(sampler, trainer)
    trainer.add_callback(saver)
    _also_in_tune_checkpoints(trainer, lambda folder: save_state(os.path.join(folder, CURRICULUM_FILE),
                                                                 sampler.state_dict()))
    original_train = trainer.train
    original_search = trainer.hyperparameter_search
    search_start: dict[str, Any] | None = None  # the sampler's state when this search's first trial began

    def hyperparameter_search(self, *args: Any, **kwargs: Any):
        nonlocal search_start
        search_start = None  # this search's first trial takes the state it starts from
        try:
            return original_search(*args, **kwargs)
        finally:  # trials ran on this trainer (optuna, wandb): the sampler is left as the search found it, as
            # Ray Tune's trials (on copies) leave it, so a train() with the best settings starts from there too
            if search_start is not None:
                sampler.load_state_dict(copy.deepcopy(search_start))
            search_start = None

    def train(self, resume_from_checkpoint: Any = None, *args: Any, **kwargs: Any):
        nonlocal search_start
        trial = kwargs.get("trial", args[0] if args else None)
        in_trial = trial is not None and getattr(self, "hp_search_backend", None) is not None  # as Trainer sets up
        if trial is not None or getattr(self, "hp_search_backend", None) is not None:
            writable_arrays(sampler)  # a Ray Tune trial of hyperparameter_search got it read-only (a walk of
            # the sampler's objects: only where a trial runs, not over every user's dataset on every train())
        # Trials that run one after another on this trainer (optuna, wandb) share the sampler: each started where
        # the one before left the teacher, so trials were not comparable. Every trial starts from the state the
        # first one started from (Ray Tune gives each trial its own copy of it), unless it resumes a checkpoint
        restart = search_start if in_trial else None  # None: the first trial, or no trial
        search_start = (sampler.state_dict() if search_start is None else search_start) if in_trial else None
        # A call that fails before training's first step (Trainer refusing a damaged checkpoint: its
        # trainer_state.json, optimizer.pt, rng_state.pth or weights) leaves the sampler as it found it: it stayed
        # loaded from that checkpoint (and had drawn batches), so a train() after it went on from there
        return _as_it_was_unless_trained(saver, _restorer(sampler), _train, self, resume_from_checkpoint, restart,
                                         *args, **kwargs)

    def _train(self, resume_from_checkpoint: Any, restart: dict[str, Any] | None, *args: Any, **kwargs: Any):
        path = get_last_checkpoint(self.args.output_dir) if resume_from_checkpoint is True else resume_from_checkpoint
        saved = os.path.join(path, CURRICULUM_FILE) if isinstance(path, (str, os.PathLike)) else None
        state = _read_on_every_rank(sampler, saved)
        if state is not None:  # the sampler continues where it was (look-ahead first)
            with from_file(saved, (CheckpointError, ConfigError)):
                sampler.load_state_dict(state, replay_pending=True, strict=strict)
        else:
            if restart is not None:
                sampler.load_state_dict(copy.deepcopy(restart))  # a copy: a teacher may keep the arrays
            if saved is not None:  # a sampler added on resume, or a save cut between Trainer's files and ours
                warnings.warn(f"{path} holds no curriculum state ({CURRICULUM_FILE}): the curriculum starts "
                              "afresh. If this run had a curriculum, its save was cut short (a crash or a full "
                              "disk after Trainer saved): resume from an earlier checkpoint that has the file "
                              "to continue it exactly", UserWarning, stacklevel=4)
        # Trainer must not skip batches by drawing them, even from a checkpoint without the sampler's state
        # (a sampler added on resume): it drew them from the sampler and threw them away, still waiting, so
        # the feedback of every trained batch went to a skipped one for the rest of the epoch. Where Trainer
        # has get_resumed_dataloader, the sampler's pass is shortened instead (below); before that hook, the
        # skip is turned off (a mid-epoch resume then starts a whole epoch there)
        if saved is not None and not resumable_epochs:
            self.args.ignore_data_skip = True
        return original_train(resume_from_checkpoint, *args, **kwargs)

    resumable_epochs = _resume_through_sampler(trainer, sampler.resume_pass_at)
    trainer.train = types.MethodType(train, trainer)
    trainer.hyperparameter_search = types.MethodType(hyperparameter_search, trainer)  # type: ignore[method-assign]
    if train_feedback:
        original = trainer.compute_loss
        warned = warned_missing = False

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            nonlocal warned, warned_missing
            labels = inputs.get("labels") if isinstance(inputs, dict) else None
            loss, outputs = original(model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
            if model.training:
                bad, missing = _feedback_loss(self, sampler, model,
                                              {"labels": labels} if labels is not None else inputs, outputs,
                                              count=not warned)
                if missing and not warned_missing:  # the teacher heard nothing from training, without a word
                    warned_missing = True
                    warnings.warn(f"the curriculum gets no training feedback: {missing}, so no loss per example "
                                  "can be computed (it needs inputs['labels'] and outputs.logits). Give the model "
                                  "both, or pass add_curriculum(..., train_feedback=False) and feed the sampler "
                                  "yourself (observe_batch_loss / observe_eval); evaluation metrics still reach it "
                                  "(warned once)", RuntimeWarning, stacklevel=2)
                if bad:
                    warned = True
                    warnings.warn(f"{bad} per-example training loss(es) at step {self.state.global_step} were NaN "
                                  "or infinite; the curriculum leaves such examples out (no observation) and "
                                  "training goes on (warned once)", RuntimeWarning, stacklevel=2)
            return (loss, outputs) if return_outputs else loss

        trainer.compute_loss = types.MethodType(compute_loss, trainer)
    if eval_metric is not None:
        # (a single eval set is warned of at its first evaluation, by the callback: its compute_metrics may report
        # per-skill metrics, eval_<skill>_<metric>, which do reach the teacher)
        trainer.add_callback(CurriculumCallback(sampler, metric=eval_metric))
        evals = getattr(trainer, "eval_dataset", None)
        if isinstance(evals, dict) and evals and not set(map(str, evals)) & set(sampler.skill_names):
            # Trainer reports eval_<key>_loss per key: keyed otherwise than the skills, none reached the teacher
            warnings.warn(f"eval_dataset's keys {list(evals)[:8]} name none of the curriculum's skills "
                          f"{sampler.skill_names[:8]}, so no evaluation reaches the teacher (CurriculumCallback "
                          f"reads eval_<skill>_{eval_metric}); key the evaluation sets by skill name to feed it, or pass "
                          "add_curriculum(..., eval_metric=None) if training feedback alone is meant", UserWarning,
                          stacklevel=2)
    return trainer


class CurriculumTrainer(Trainer):
    """A ``Trainer`` that draws training batches from ``curriculum`` (a :class:`SkillSampler`)."""

    def __init__(self, *args: Any, curriculum: SkillSampler, train_feedback: bool = True,
                 eval_metric: str | None = "loss", strict: bool = True, **kwargs: Any):
        super().__init__(*args, **kwargs)
        add_curriculum(self, curriculum, train_feedback=train_feedback, eval_metric=eval_metric, strict=strict)
