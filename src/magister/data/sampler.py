"""A PyTorch batch sampler whose skill mixture comes from a magister teacher.

Each batch is built in two steps:

1. **Skill of every slot.** ``mode="propose"`` (default): ``teacher.propose(batch_size)``
   gives one skill per slot, drawn by the teacher from its own generator; the
   batch's skill counts are exactly the counts of those proposals.
   ``mode="mixture"``: the teacher's current ``beliefs()["probability"]`` is
   read and the counts are drawn with one multinomial from the sampler's own
   generator (the teacher's generator is not touched). A fixed mixture (a
   list of weights instead of a teacher) always uses ``"mixture"``.
2. **Examples.** Every skill has a pool of its example indices, shuffled by the
   sampler's generator. Examples are taken from the pool without replacement;
   an exhausted pool is reshuffled and refilled (so each example is seen once
   per pass over its skill).

The mixture in use is logged every step in :attr:`SkillSampler.history`.
With a seed, the sequence of batches is a pure function of the seed, the
teacher's seed and the feedback given, so runs repeat exactly with
``DataLoader(num_workers=0)``.

**Prefetching.** A ``DataLoader`` with ``num_workers = w > 0`` asks the batch
sampler for ``w * prefetch_factor`` batches ahead of the one being trained on
(and Hugging Face ``accelerate`` looks one batch ahead even with ``w = 0``).
Index batches are always built in the main process, in order, so runs remain
deterministic, but the mixture of the batch trained at step ``t`` was chosen
with the feedback of step ``t - lag`` (``lag`` = the prefetch depth). Feedback
stays correctly attributed: the sampler remembers the batches it handed out
in order, and :meth:`~SkillSampler.observe_batch_loss` without ``indices`` matches each
feedback call to the oldest batch not yet given feedback.

Feedback goes to the teacher with one observation per skill present (the
per-skill mean), as a score in [0, 1]:

* :meth:`~SkillSampler.observe_batch_loss` - per-example training losses; the per-skill mean
  loss ``L`` becomes ``exp(-L)`` (for cross-entropy: the geometric-mean
  probability of the right answer), or goes through a declared
  ``ScoreRange(..., higher_is_better=False)``, a :class:`RunningLossScore`, or
  any callable ``(skill_ids, mean_losses) -> scores``;
* :meth:`~SkillSampler.observe_batch_correct` - per-example correctness (0/1 or in [0, 1]);
* :meth:`~SkillSampler.observe_eval` - per-skill validation accuracy or loss.

**Many processes** (``torch.distributed``; ``distributed=None`` turns this on
by itself when a process group of two or more ranks is initialised).
``batch_size`` is then the *global* batch. Every rank runs the same sampler
and the same teacher (same seeds: checked when the sampler is built), so all
ranks compute the same global batch, with no communication; each rank
trains on its contiguous block of it (:func:`~magister.data.distributed.rank_slice`;
when the world size does not divide the batch, the first ``batch_size %
world_size`` ranks get one example more). The pools are global, so a skill's
pool runs out, and is refilled from the same generator, on every rank at the
same step: no rank runs out on its own, and the union of the ranks' blocks is
exactly the batch a single process would draw. Feedback is exchanged before
the teacher sees it: every rank passes its own per-example values, all ranks
receive all of them, and each computes the per-skill means over the whole
global batch in slot order, so every replica of the teacher receives the
same observations, bit for bit, as a single process trained on the global
batch. ``observe_eval`` must get the same (already reduced) metrics on every
rank, as ``Trainer``'s evaluation gives them; values that differ are refused.
Feedback and ``load_state_dict`` are collectives: call them on every rank.
A bad value on one rank makes every rank raise, and nothing is recorded.
"""

from __future__ import annotations

import collections
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ..errors import ConfigError, InvalidScoreError, missing_extra_import
from ..rng import SeedLike
from ..scores import ScoreRange
from ..teacher import Teacher
from ..settings import whole
from .mixing import RunningLossScore, SkillMixer, flag_error, resume_point, whole_array

try:  # torch is optional for the rest of magister, required here
    from torch.utils.data import Sampler as _TorchSampler
except ImportError as _e:  # pragma: no cover - exercised only without torch
    raise missing_extra_import("magister.data.SkillSampler", "torch", _e) from _e

__all__ = ["SkillSampler", "RunningLossScore"]


class SkillSampler(SkillMixer, _TorchSampler):
    """Batch sampler over examples with skill labels, driven by a discrete teacher.

    Args:
        skills_of_examples: The skill of every example of the dataset, as indices ``0..n-1`` or as
            names of the teacher's ``Discrete`` space (or any object with a
            ``skills`` attribute, such as :class:`~magister.data.SkillData`).
        teacher: A teacher over a finite space with one task per skill (any discrete
            teacher: ``make_teacher("exp3", Discrete(names))``), or fixed mixture
            weights (a "natural" or "stratified" baseline).
        batch_size: Examples per batch.
        num_batches: Length of one iteration (``len(sampler)``); defaults to one nominal
            epoch, ``len(dataset) // batch_size``. Iterating again continues the
            stream (pools and the teacher are not reset).
        seed: Seed of the sampler's own generator (pool shuffles, ``"mixture"`` draws).
        mode: ``"propose"`` or ``"mixture"`` (see the module docstring).
        loss_score: How a mean loss becomes a score: ``"exp"`` (default), ``"running"``
            (:class:`RunningLossScore`), a ``ScoreRange`` with
            ``higher_is_better=False``, or a callable ``(skills, losses) -> scores``.
        distributed: ``None`` (default): follow ``torch.distributed`` when a process group of
            two or more ranks is initialised; ``True``: require one; ``False``: act
            as a single process even inside a group. Under a group ``batch_size`` is
            the global batch and each rank iterates over its share (see the module
            docstring).
        group: The ``torch.distributed`` process group (default: the whole world).
        floor: Share of every batch spread evenly over all skills whatever the teacher
            proposes (default 0). ``"propose"``: ``round(floor * batch_size)`` slots
            go to the skills in turn (round robin across batches), the teacher
            proposes the rest; ``"mixture"``: the teacher's probabilities are mixed
            with ``floor`` of uniform. Every skill then keeps at least
            ``floor / n_skills`` of the batches, so a skill the teacher stops
            sampling (mastered, or not yet started) is still practised. Ignored for
            a fixed mixture.
        max_history: The most batch records kept in :attr:`history` (the newest). ``None``
            (default) keeps one per batch handed out, so the log, and every saved
            state, grow by about 1 kB in memory and a few hundred bytes saved per
            batch (more with many skills) for as long as the sampler runs: set it
            for runs of hundreds of thousands of batches. ``samples_per_skill``
            counts every batch either way.
    """

    def __init__(self, skills_of_examples: Any, teacher: Teacher | Sequence[float] | np.ndarray, batch_size: int, *,
                 num_batches: int | None = None, seed: SeedLike = None, mode: str = "propose",
                 loss_score: str | ScoreRange | Callable[[np.ndarray, np.ndarray], np.ndarray] = "exp",
                 max_pending: int = 4096, distributed: bool | None = None, group: Any = None,
                 max_history: int | None = None,
                 floor: float = 0.0):
        error: Exception | None = None
        try:  # (a bad input here only is raised on every rank by _join_ranks, through its collective)
            skills_in = getattr(skills_of_examples, "skills", skills_of_examples)
            SkillMixer.__init__(self, teacher, batch_size, seed=seed, mode=mode, loss_score=loss_score,
                                max_pending=max_pending, floor=floor, max_history=max_history)
            self.skill_of = self._skill_ids(skills_in)
            counts = np.bincount(self.skill_of, minlength=self.n_skills)
            # a skill of weight 0 in a fixed mixture is never drawn, so it needs no examples
            drawn = np.ones(self.n_skills, bool) if self.fixed_mixture is None else self.fixed_mixture > 0
            empty = [self.skill_names[i] for i in np.flatnonzero((counts == 0) & drawn)]
            if empty:
                raise ConfigError(f"skills {empty} have no examples; give every skill of the teacher's space at least "
                                  "one example, or build the teacher over the skills you have"
                                  if self.fixed_mixture is None else
                                  f"skills {empty} have no examples but a fixed mixture weight above 0; give them "
                                  "examples, or weight 0")
            #: the skills without examples (weight 0 in a fixed mixture)
            self._no_examples = np.flatnonzero(counts == 0)
            self.num_batches = (whole("num_batches", num_batches, 1, floats=True) if num_batches is not None
                                else max(1, len(self.skill_of) // self.batch_size))
            # each skill's examples in index order, from one stable sort (a scan of every example per skill took
            # seconds for a million examples over 10,000 skills)
            self._members = np.split(np.argsort(self.skill_of, kind="stable"), np.cumsum(counts)[:-1])
            self._pools = [self.rng.permutation(m) for m in self._members]
            self._cursor = np.zeros(self.n_skills, dtype=np.int64)
            self.refills = np.zeros(self.n_skills, dtype=np.int64)
            self._replay: collections.deque[np.ndarray] = collections.deque()
            self._pass_start = 0  # batches of the next pass trained before a resume (resume_pass_at)
        except Exception as e:  # noqa: BLE001 - any refusal: alone, it left the other ranks waiting
            error = e
        self._join_ranks(distributed, group,
                         "build the sampler on every rank from the same skills, batch_size, num_batches, mode "
                         "and an explicit seed= (not None), and its teacher with the same settings and seed", error)

    def _setup_fingerprint(self) -> dict[str, Any]:
        return {**super()._setup_fingerprint(), "skills": self.skill_of, "num_batches": self.num_batches,
                "pools": self._pools}

    # -------------------------------------------------------------- sampling
    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[list[int]]:
        # a new pass: batches an earlier pass handed out and that still wait for feedback were left in an abandoned
        # loader (a loop that broke off while workers had prefetched), so no step will train on them; kept, they
        # took the feedback of this pass's batches, each one batch off, for the rest of the run. Batches queued
        # to be handed out again after a resume (replay_pending) are the newest waiting ones, and stay.
        for _ in range(len(self._pending) - len(self._replay)):
            self._pending.popleft()
        self._dropped = 0  # older still than those
        first, self._pass_start = self._pass_start, 0
        for _ in range(self.num_batches - first):
            yield self.next_batch()

    def resume_pass_at(self, trained: int) -> None:
        """Make the next pass start ``trained`` batches in: it yields ``len(self) - trained`` batches.

        For a loop resumed in the middle of a pass (a ``Trainer`` resumed mid-epoch), which already trained on
        those: its passes then end where the uninterrupted run's did. Nothing is drawn or thrown away (the Hugging
        Face integration calls it where ``Trainer`` would skip the epoch's first batches)."""
        self._pass_start = resume_point(trained, self.num_batches, "batches (the sampler's num_batches)")

    def _take(self, skill: int, count: int) -> np.ndarray:
        out = []
        while count > 0:
            pool, c = self._pools[skill], int(self._cursor[skill])
            if c >= len(pool):
                self._pools[skill] = pool = self.rng.permutation(self._members[skill])
                self.refills[skill] += 1
                c = 0
            take = min(count, len(pool) - c)
            out.append(pool[c:c + take])
            self._cursor[skill] = c + take
            count -= take
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def next_batch(self) -> list[int]:
        """Build and log the next global batch; return this rank's block of it (the whole batch in one process)."""
        return self._next_global()[self._lo:self._hi].tolist()

    def _next_global(self) -> np.ndarray:
        if self._replay:  # a batch handed out before a checkpoint, never trained on: hand it out again
            return self._replay.popleft()
        if self.mode == "propose":
            slots, counts, mixture = self._propose_slots()
            batch = np.empty(self.batch_size, dtype=np.int64)
            for s in np.flatnonzero(counts):
                batch[slots == s] = self._take(int(s), int(counts[s]))
        else:
            mixture = self.current_mixture()
            counts = self.rng.multinomial(self.batch_size, mixture)
            if self._no_examples.size and counts[self._no_examples].any():  # weight 0: only numpy's rounding remainder (to the last skill)
                counts[np.argmax(mixture)] += counts[self._no_examples].sum()
                counts[self._no_examples] = 0
            batch = np.concatenate([self._take(int(s), int(counts[s])) for s in np.flatnonzero(counts)])
            batch = batch[self.rng.permutation(self.batch_size)]
        self._log(counts, mixture, batch)
        return batch

    # -------------------------------------------------------------- feedback
    def skills_of(self, indices: Sequence[int]) -> np.ndarray:
        """Skill ids of example ``indices`` (refused outside the dataset, as feedback indices are), in their shape
        (one index: one skill id; a nested list: a table of the same rows), as ``skill_of[indices]`` would."""
        raw = np.asarray(getattr(indices, "cpu", lambda: indices)())
        return self.skill_of[self._resolve_keys(raw, raw.size)].reshape(raw.shape)

    def _resolve_keys(self, indices: Any, n: int) -> np.ndarray:
        raw = np.asarray(getattr(indices, "cpu", lambda: indices)())
        if raw.size and not (raw.dtype.kind in "iu" or (raw.dtype.kind == "f" and (np.mod(raw, 1) == 0).all())):
            raise ConfigError(f"example indices must be whole numbers (the dataset positions of the batch), got "
                              f"{raw.dtype} values; nothing was recorded")
        idx = raw.astype(np.int64).reshape(-1)
        if len(idx) != n:
            raise InvalidScoreError(f"got {len(idx)} indices but {n} values; pass one value per example")
        if len(idx) and ((idx < 0).any() or (idx >= len(self.skill_of)).any()):
            raise ConfigError(f"example indices must be in 0..{len(self.skill_of) - 1}")
        return idx

    def _key_skills(self, keys: np.ndarray) -> np.ndarray:
        return self.skill_of[keys]

    def observe_batch_loss(self, per_example_loss: Any, indices: Any = None, *,
                           skip_nonfinite: bool = False) -> dict[int, float]:
        """Per-example training losses of a batch -> one score per skill present. Returns ``{skill: mean loss}``.

        Under ``torch.distributed`` pass this rank's losses; the means (returned
        and observed) are over the whole global batch. NaN or infinite losses
        are refused (nothing recorded, the batch stays waiting), or with
        ``skip_nonfinite=True`` left out: the teacher hears only the finite
        ones (nothing for a skill whose losses are all left out) and the batch
        has had its feedback (the Hugging Face integration does this, as a
        ``Trainer`` goes on past a NaN loss)."""
        return self._observe_loss(per_example_loss, indices, "indices", skip_nonfinite)

    def observe_batch_correct(self, correct: Any, indices: Any = None) -> dict[int, float]:
        """Per-example correctness (0/1, or a score in [0, 1]) -> per-skill accuracy to the teacher."""
        return self._observe_correct(correct, indices, "indices")

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Sampler position (generator, pools, step, history) and the teacher's state."""
        return {**self._common_state(), "cursor": self._cursor.copy(),
                "pools": [p.copy() for p in self._pools], "refills": self.refills.copy()}

    def load_state_dict(self, state: dict[str, Any], *, replay_pending: bool = False, strict: bool = True) -> None:
        """Continue exactly from :meth:`state_dict` output.

        ``replay_pending=True``: the batches that were handed out but had no
        feedback yet when the state was saved (a loader's look-ahead) are
        handed out again, in order, before any new batch is planned; a training
        loop that resumes from a checkpoint, and so never trained on them,
        then continues exactly as the uninterrupted run (the Hugging Face
        integration does this on ``trainer.train(resume_from_checkpoint=...)``).
        With ``False`` they stay waiting for the feedback of a caller that still
        holds them.

        The state is global (the same on every rank), so one rank's
        ``state_dict()`` resumes every rank, at any world size that the batch
        allows. Under ``torch.distributed`` call it on every rank with the same
        state: states that differ between ranks are refused on all of them.

        A state saved by a sampler with other settings (``batch_size``, ``mode``, ``floor``, ``loss_score``, the
        fixed mixture) is refused, naming them, changing nothing; ``strict=False`` loads it anyway and keeps this
        sampler's settings."""
        # (bool() read replay_pending="false" as True: the waiting batches were handed out again)
        error: Exception | None = flag_error(replay_pending=replay_pending) or self._settings_error(state, strict)
        try:  # everything is read before anything changes
            # (as saved: whole numbers; dtype=int64 cut 1.5 to 1, read True as 1 and parsed "1")
            pools = [whole_array("pools", p).reshape(-1) for p in state["pools"]]
            if len(pools) != self.n_skills or any(sorted(p.tolist()) != m.tolist()
                                                  for p, m in zip(pools, self._members)):
                error = error or ConfigError(
                    "the saved state is of a sampler over another dataset (its skill pools hold other examples); "
                    "build the sampler over the same skills_of_examples it was saved with. Nothing was changed.")
            common = self._read_common(state)
            cursor = whole_array("cursor", state["cursor"]).copy()
            refills = whole_array("refills", state["refills"]).copy()
            if cursor.shape != (self.n_skills,) or refills.shape != (self.n_skills,):
                raise ValueError(f"cursor and refills must hold {self.n_skills} skills")
            if (cursor < 0).any() or (cursor > [len(m) for m in self._members]).any() or (refills < 0).any():
                raise ValueError("cursor must lie within each skill's pool, and refills be >= 0")
        except (KeyError, TypeError, ValueError, OverflowError) as e:  # (an int past int64: numpy's OverflowError)
            error = error or self._malformed(e)
        self._agree_on_state(state, error)
        self._load_common(common)
        self._cursor = cursor
        self._pools = pools
        self.refills = refills
        self._replay = collections.deque(p.copy() for p in self._pending) if replay_pending else collections.deque()
        if replay_pending:  # the batches pushed out of the queue before the save are not handed out again
            self._dropped = 0
