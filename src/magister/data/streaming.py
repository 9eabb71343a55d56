"""Per-skill streams mixed by a teacher: batches of items read from one iterable source per skill.

For data that is not held in memory as one indexed dataset: every skill has a
**source**, which is

* a re-iterable: a list, a PyTorch ``IterableDataset``, a Hugging Face
  ``datasets`` ``IterableDataset`` (for example ``load_dataset(...,
  streaming=True)`` or ``Dataset.to_iterable_dataset()``), or any object whose
  ``iter()`` starts again from the beginning; or
* a function of no argument that returns a new iterator (``lambda: read(path)``).

A one-shot iterator (a generator object) is refused: it can be neither
restarted nor resumed; wrap the generator function instead.

Each step plans the global batch exactly as :class:`~magister.data.SkillSampler`
does (``mode="propose"``: one teacher proposal per slot; ``"mixture"``: one
multinomial draw from the teacher's live ``probability``), then reads the
next items of each planned skill's stream, in stream order, into its slots.

**End of a source.** ``on_exhausted="restart"`` (default): the source is
iterated again from its start (``stream.passes`` counts this per skill).
``"stop"``: the skill is out for the rest of the run; the slots it cannot fill
are given to the skills that still have data, drawn from the step's mixture
restricted to them (by the stream's generator); the stream ends at the first
step whose global batch cannot be filled (the items read for it are dropped,
like ``drop_last``).

**A source that fails.** A step whose source raises (a dropped connection)
or gives no items when iterated again (a function that returns the same
iterator every time) raises that error and is undone: the items it had read
are kept for the next step, and the teacher, the generator and the stream
position are as before the call, so ``state_dict()`` saves nothing of it and
calling again (or resuming) gives the batch the step would have given. A
source that raised is opened again and fast-forwarded, as on resume.

**Resume.** :meth:`SkillStream.state_dict` records, per skill, the passes
made and the items consumed in the current pass; :meth:`~SkillStream.load_state_dict`
re-creates each source's iterator and skips that many items, so a source must
yield the same items in the same order every time it is iterated (a fixed
shuffle seed). Skipping reads the items (the cost of resuming is reading what
was consumed, once). A state that consumed more items than a source holds is
refused by :meth:`~SkillStream.load_state_dict` (nothing changed) when the source's length
is known (a list, a sized dataset), and otherwise when the source is read.

**Batches waiting for feedback at the save.** A batch handed out whose feedback had
not come when the state was saved (``stream.pending`` above 0: a state saved at the
top of a step, before its batch trained, or a loader's look-ahead such as
``accelerate``'s one batch) is not handed out again on resume, unlike
``SkillSampler`` / ``PromptCurriculum`` with ``replay_pending=True``: its items count
as consumed, so the resumed run skips them (until the source's next pass with
``"restart"``; for good with ``"stop"``), and the teacher's proposals for it stay
made, with no feedback. After the load it still waits for feedback (for a caller that
holds it, as with a state loaded back in the same process): a new pass (``for batch
in stream``) stops waiting for it, so the resumed loop's feedback goes to its own
batches, but a loop that calls :meth:`~SkillStream.next_batch` itself would give it
the feedback of its first batch; pass ``skills=`` there
(:meth:`~SkillStream.skills_of_batch`). Save where ``stream.pending`` is 0 (after
the step's feedback, with nothing fetched ahead) and the resumed run repeats the
uninterrupted one. (A stream's waiting batch records the skill of each slot, not its
items, so handing it out again would mean reading its items again from a rewound
source; there is no ``replay_pending`` here.)

**Many processes.** Under ``torch.distributed`` every rank reads every
source (the same items, in the same order), plans the same global batch, and
keeps its contiguous block; the union over ranks is the single-process batch,
a source ends at the same step everywhere, and feedback is exchanged as in
:class:`~magister.data.SkillSampler`. The price is reading: each rank reads
all items and keeps ``1 / world_size`` of them.

Iterate in the main process (``DataLoader(stream, batch_size=None,
num_workers=0, collate_fn=...)`` or a plain ``for`` loop): copies in loader
workers would never see the teacher's feedback, so worker processes are
refused.
"""

from __future__ import annotations

import collections
import itertools
import os
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from ..errors import ConfigError, InvalidScoreError, UnknownTaskError, missing_extra_import
from ..rng import SeedLike
from ..scores import ScoreRange
from ..settings import is_int, whole
from ..teacher import Teacher
from .mixing import SkillMixer, whole_array

try:  # torch is optional for the rest of magister, required here
    from torch.utils.data import IterableDataset as _TorchIterable
    from torch.utils.data import get_worker_info as _worker_info
except ImportError as _e:  # pragma: no cover - exercised only without torch
    raise missing_extra_import("magister.data.SkillStream", "torch", _e) from _e

__all__ = ["SkillStream"]


class _END:  # marks where a pass over a source ended, in a skill's look-ahead (a class: copies keep identity)
    pass


def _opener(skill: str, source: Any) -> Callable[[], Iterator[Any]]:
    if isinstance(source, (str, bytes, bytearray, os.PathLike)):  # iterating one gives its characters, not items
        raise ConfigError(f"the source of skill {skill!r} is {source!r}, a path or text, which is not read: pass "
                          "the items (a list, an IterableDataset) or a function that reads them (lambda: "
                          "read_jsonl(path))")
    if callable(source) and not hasattr(source, "__iter__"):
        def made() -> Iterator[Any]:
            items = source()
            # text iterates as its characters (the items were the path's letters) and None or a number raised
            # Python's bare "object is not iterable", naming no skill
            if isinstance(items, (str, bytes, bytearray, os.PathLike)):
                raise ConfigError(f"the source function of skill {skill!r} returned {items!r:.60}, a path or "
                                  "text, which is not read: return the items (an iterator, a generator, a list), "
                                  "e.g. lambda: read_jsonl(path)")
            try:
                return iter(items)
            except TypeError:
                raise ConfigError(f"the source function of skill {skill!r} returned {type(items).__name__} "
                                  f"{items!r:.60}, not the items; return an iterator (a generator, a list) of the "
                                  "skill's items on every call") from None
        return made
    if not hasattr(source, "__iter__"):
        raise ConfigError(f"the source of skill {skill!r} is a {type(source).__name__}, neither iterable nor a "
                          "function returning an iterator")
    if iter(source) is source:
        raise ConfigError(f"the source of skill {skill!r} is a one-shot iterator (a generator?), which can be "
                          "neither restarted nor resumed; pass the function that makes it (lambda: gen(...)) or "
                          "a re-iterable such as a list or an IterableDataset")
    return lambda: iter(source)


class SkillStream(SkillMixer, _TorchIterable):
    """Batches of items from per-skill iterable sources, mixed by a discrete teacher.

    Args:
        sources: One source per skill of the teacher's space: a mapping from skill name
            (or index) to source, or a sequence in skill order (see the module
            docstring for what a source may be).
        teacher: A teacher over a finite space with one task per skill, or fixed mixture
            weights (in the order of ``sources``; a mapping's keys name the skills).
        batch_size: Items per step (the global batch under ``torch.distributed``).
        num_batches: Steps per iteration (``None``: iterate until stopped, or until the
            sources end with ``on_exhausted="stop"``). Iterating again continues.
        seed: Seed of the stream's own generator (``"mixture"`` draws, redistribution).
        mode: ``"propose"`` or ``"mixture"``, as in :class:`~magister.data.SkillSampler`.
        on_exhausted: ``"restart"`` or ``"stop"`` (see the module docstring).
        loss_score: As in :class:`~magister.data.SkillSampler`.
        max_pending: As in :class:`~magister.data.SkillSampler`.
        distributed: As in :class:`~magister.data.SkillSampler`.
        group: As in :class:`~magister.data.SkillSampler`.
        max_history: As in :class:`~magister.data.SkillSampler`.
    """

    def __init__(self, sources: Mapping[Any, Any] | Sequence[Any], teacher: Teacher | Sequence[float] | np.ndarray,
                 batch_size: int, *, num_batches: int | None = None, seed: SeedLike = None, mode: str = "propose",
                 on_exhausted: str = "restart",
                 loss_score: str | ScoreRange | Callable[[np.ndarray, np.ndarray], np.ndarray] = "exp",
                 max_pending: int = 4096, distributed: bool | None = None, group: Any = None,
                 max_history: int | None = None):
        error: Exception | None = None
        try:  # (a bad input here only is raised on every rank by _join_ranks, through its collective)
            SkillMixer.__init__(self, teacher, batch_size, seed=seed, mode=mode, loss_score=loss_score,
                                max_pending=max_pending, max_history=max_history)
            if on_exhausted not in ("restart", "stop"):
                raise ConfigError(f"on_exhausted must be 'restart' or 'stop', got {on_exhausted!r}")
            self.num_batches = (whole("num_batches", num_batches, 1, floats=True) if num_batches is not None
                                else None)  # as SkillSampler takes it
            self.on_exhausted = on_exhausted
            if self.teacher is None and hasattr(sources, "__len__") and len(sources) != self.n_skills:
                raise ConfigError(f"{len(sources)} sources but {self.n_skills} fixed mixture weights; give one weight "
                                  "per source, in the order of the sources")
            if (self.teacher is None and isinstance(sources, Mapping) and len(sources) == self.n_skills
                    and all(isinstance(k, str) for k in sources)):
                self.skill_names = list(sources)  # fixed weights follow the mapping's order and take its names
                self._named_skills = True  # feedback may name them, as with a teacher (a fixed mixture ignores it)
            self._sources = self._per_skill(sources)  # (kept for their lengths: a saved state is checked against them)
            self._open = [_opener(self.skill_names[s], src) for s, src in enumerate(self._sources)]
            self._iters: list[Iterator[Any] | None] = [None] * self.n_skills
            self._skip = np.zeros(self.n_skills, dtype=np.int64)
            # items read from each live iterator but not handed out yet (and _END where a pass ended)
            self._ahead: list[collections.deque[Any]] = [collections.deque() for _ in range(self.n_skills)]
            self._pass_read = np.zeros(self.n_skills, dtype=np.int64)
            self._taken: dict[int, list[Any]] = {}
            self._broken: set[int] = set()
            #: items read from each skill's source in its current pass
            self.consumed = np.zeros(self.n_skills, dtype=np.int64)
            #: completed passes over each skill's source (``on_exhausted="restart"``)
            self.passes = np.zeros(self.n_skills, dtype=np.int64)
            #: skills whose source has ended (``on_exhausted="stop"``)
            self.exhausted = np.zeros(self.n_skills, dtype=bool)
            self.ended = False
            self._last: np.ndarray | None = None  # the skill of every slot of the latest batch handed out
        except Exception as e:  # noqa: BLE001 - any refusal: alone, it left the other ranks waiting
            error = e
        self._join_ranks(distributed, group,
                         "build the stream on every rank from the same sources, batch_size, mode and an explicit "
                         "seed= (not None), and its teacher with the same settings and seed", error)

    def _per_skill(self, sources: Mapping[Any, Any] | Sequence[Any]) -> list[Any]:
        if isinstance(sources, Mapping):
            lookup = {name: i for i, name in enumerate(self.skill_names)}
            out: list[Any] = [None] * self.n_skills
            for key, src in sources.items():
                if isinstance(key, str) and key in lookup:
                    i = lookup[key]
                elif is_int(key) \
                        and 0 <= key < self.n_skills:
                    i = int(key)
                else:
                    raise UnknownTaskError(f"sources name skill {key!r}, which the teacher's space does not have; "
                                           f"known skills: {self.skill_names[:8]}")
                if out[i] is not None:
                    raise ConfigError(f"sources give skill {self.skill_names[i]!r} twice (by name and by index); "
                                      "give every skill one source")
                out[i] = src
            missing = [self.skill_names[i] for i, src in enumerate(out) if src is None]
            if missing:
                raise ConfigError(f"skills {missing} have no source; give every skill of the teacher's space a "
                                  "source, or build the teacher over the skills you have")
            return out
        if isinstance(sources, (str, bytes)) or not hasattr(sources, "__len__") or len(sources) != self.n_skills:
            raise ConfigError(f"sources must be a mapping from skill to source or a sequence of {self.n_skills} "
                              "sources in skill order")
        return list(sources)

    def _setup_fingerprint(self) -> dict[str, Any]:
        return {**super()._setup_fingerprint(), "num_batches": self.num_batches}  # (on_exhausted: a setting)

    # --------------------------------------------------------------- reading
    def _pull(self, skill: int, count: int) -> None:
        """Read up to ``count`` more items of ``skill``'s source into its look-ahead (an end-of-pass marker when
        the source ends), opening (and on resume fast-forwarding) the source when needed."""
        buf = self._ahead[skill]
        try:
            it = self._iters[skill]
            if it is None:
                it = self._iters[skill] = self._open[skill]()
                self._pass_read[skill] = 0
                skip = int(self._skip[skill])
                if skip:
                    skipped = sum(1 for _ in itertools.islice(it, skip))
                    if skipped < skip:
                        raise ConfigError(f"the source of skill {self.skill_names[skill]!r} gave {skipped} items on "
                                          f"resume, but the state says {skip} were consumed; a resumable source "
                                          "must give the same items in the same order every time it is iterated")
                    self._skip[skill] = 0
                    self._pass_read[skill] = skip
            got = 0
            for item in itertools.islice(it, count):  # one at a time: an error keeps what was read before it
                buf.append(item)
                got += 1
            self._pass_read[skill] += got
            if got < count:  # the source ended
                # an empty source of weight 0 in a fixed mixture (read only once every weighted source ended, under
                # "stop") is a source that ended: a skill of weight 0 needs no items
                unweighted = self.fixed_mixture is not None and self.fixed_mixture[skill] == 0
                if self._pass_read[skill] == 0 and not (unweighted and self.on_exhausted == "stop"):
                    if self.passes[skill] == 0 and self.consumed[skill] == 0 and not any(
                            e is _END for e in buf):
                        raise ConfigError(f"the source of skill {self.skill_names[skill]!r} gave no items; give "
                                          "every skill a non-empty source")
                    raise ConfigError(f"the source of skill {self.skill_names[skill]!r} gave items before but none "
                                      "when iterated again; a source must give the same items every time it is "
                                      "iterated: pass a re-iterable (a list, an IterableDataset) or a function "
                                      "that returns a new iterator on every call, not one that returns the same "
                                      "iterator")
                buf.append(_END)
                self._iters[skill] = None
        except BaseException:
            # the iterator may be broken (a generator that raised is finished): re-open it, at this step's start
            self._broken.add(skill)
            raise

    def _read(self, skill: int, count: int) -> list[Any]:
        """The next ``count`` items of ``skill``'s stream (fewer when it ends under ``on_exhausted="stop"``)."""
        out: list[Any] = []
        buf, taken = self._ahead[skill], self._taken.setdefault(skill, [])
        while len(out) < count and not self.exhausted[skill]:
            if not buf:
                self._pull(skill, count - len(out))
                continue
            entry = buf.popleft()
            taken.append(entry)
            if entry is _END:  # the source ended
                if self.on_exhausted == "restart":
                    self.passes[skill] += 1
                    self.consumed[skill] = 0
                else:
                    self.exhausted[skill] = True
            else:
                out.append(entry)
                self.consumed[skill] += 1
        return out

    def _undo_step(self, saved: dict[str, Any]) -> None:
        """A step failed (a source raised, or gave no items): put back everything it read and changed."""
        self.consumed, self.passes, self.exhausted = saved["consumed"], saved["passes"], saved["exhausted"]
        self.rng.bit_generator.state = saved["rng"]  # (the state is a fresh dict, read before the step)
        self._floor_next = saved["floor_next"]
        if saved["teacher"] is not None:
            assert self.teacher is not None
            self.teacher.load_state_dict(saved["teacher"])
        for skill, taken in self._taken.items():
            self._ahead[skill].extendleft(reversed(taken))
        for skill in self._broken:  # re-opened at the step's start and fast-forwarded, as on resume
            self._ahead[skill].clear()
            self._iters[skill] = None
            self._skip[skill] = self.consumed[skill]

    # -------------------------------------------------------------- sampling
    def __iter__(self) -> Iterator[list[Any]]:
        if _worker_info() is not None:
            raise ConfigError("a SkillStream must be iterated in the main process (DataLoader(..., num_workers=0)): "
                              "copies in loader workers never see the teacher's feedback")
        # a new pass: batches still waiting for feedback were left by a loop that broke off (or saved in a
        # checkpoint before their step trained, and resumed from): no step will train on them, and kept, they took
        # the feedback of this pass's batches, each one batch off, for the rest of the run (as SkillSampler does)
        self._pending.clear()
        self._dropped = 0
        steps = itertools.count() if self.num_batches is None else range(self.num_batches)
        for _ in steps:
            batch = self.next_batch()
            if batch is None:
                return
            yield batch

    def next_batch(self) -> list[Any] | None:
        """The next global batch's block for this rank (all of it in one process); ``None`` once the stream ended."""
        items = self._next_global()
        return None if items is None else items[self._lo:self._hi]

    def _next_global(self) -> list[Any] | None:
        if self.ended:
            return None
        # a source that raises, or gives nothing when iterated again, fails the step: the step is undone (the
        # items it read are handed out by the next one, the teacher and the generator are put back), so nothing
        # is lost and a retry, or a resume from state_dict(), gives the batch the step would have given
        saved = {"consumed": self.consumed.copy(), "passes": self.passes.copy(), "exhausted": self.exhausted.copy(),
                 "rng": self.rng.bit_generator.state, "floor_next": self._floor_next,
                 "teacher": self.teacher.state_dict() if self.teacher is not None and self.mode == "propose"
                 else None}
        self._taken = {}
        self._broken = set()
        try:
            return self._plan_and_read()
        except BaseException:
            self._undo_step(saved)
            raise
        finally:
            self._taken, self._broken = {}, set()

    def _plan_and_read(self) -> list[Any] | None:
        live = ~self.exhausted
        if not live.any():
            self.ended = True
            return None
        if self.mode == "propose":
            slots, _, mixture = self._propose_slots()
        else:
            mixture = self.current_mixture()
            w = mixture * live
            counts = self.rng.multinomial(self.batch_size, w / w.sum() if w.sum() > 0 else live / live.sum())
            slots = self.rng.permutation(np.repeat(np.arange(self.n_skills), counts))
        items: list[Any] = [None] * self.batch_size
        todo = np.arange(self.batch_size)
        while True:
            short = []
            for s in np.unique(slots[todo]):
                where = todo[slots[todo] == s]
                got = self._read(int(s), len(where))
                for j, item in zip(where, got):
                    items[j] = item
                short.append(where[len(got):])
            todo = np.sort(np.concatenate(short))
            if len(todo) == 0:
                break
            live = ~self.exhausted
            if not live.any():
                self.ended = True
                return None
            w = mixture * live
            p = w / w.sum() if w.sum() > 0 else live / live.sum()
            slots[todo] = self.rng.choice(self.n_skills, size=len(todo), p=p)
        self._log(np.bincount(slots, minlength=self.n_skills), mixture, slots.astype(np.int64))
        self._last = self._pending[-1]
        return items

    # -------------------------------------------------------------- feedback
    def _resolve_keys(self, skills: Any, n: int) -> np.ndarray:
        ids = self._skill_ids(getattr(skills, "cpu", lambda: skills)(), "skills")
        if len(ids) != n:
            raise InvalidScoreError(f"got {len(ids)} skills but {n} values; pass one value per item")
        return ids

    def _key_skills(self, keys: np.ndarray) -> np.ndarray:
        return keys

    def observe_batch_loss(self, per_example_loss: Any, skills: Any = None) -> dict[int, float]:
        """Per-item training losses of the oldest batch waiting (this rank's block) -> one score per skill.

        ``skills=`` (one skill name or index per value) gives feedback for
        items of any batch instead. Returns ``{skill: mean loss}`` over the global batch."""
        return self._observe_loss(per_example_loss, skills, "skills")

    def observe_batch_correct(self, correct: Any, skills: Any = None) -> dict[int, float]:
        """Per-item correctness (0/1, or in [0, 1]) -> per-skill accuracy to the teacher."""
        return self._observe_correct(correct, skills, "skills")

    def skills_of_batch(self) -> np.ndarray:
        """The skill of every item of this rank's block of the latest batch."""
        if self._last is None:
            raise ConfigError("no batch was handed out yet (since the stream was built or its state loaded)")
        return self._pending_keys(self._last).copy()

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Stream position (items consumed and passes per skill, generator, step, history) and the teacher."""
        return {**self._common_state(), "consumed": self.consumed.copy(), "passes": self.passes.copy(),
                "exhausted": self.exhausted.copy(), "ended": self.ended}

    def _longer_than_source(self, consumed: np.ndarray) -> ConfigError | None:
        """The refusal of a state that consumed more items of a skill than its source has (for the sources whose
        length is known: a list, a sized dataset; a torch ``IterableDataset``'s ``len`` may be an estimate, and
        a function's length is known only by reading it, so those are refused when they are read)."""
        for skill, (source, count) in enumerate(zip(self._sources, consumed.tolist())):
            if not hasattr(source, "__len__") or isinstance(source, _TorchIterable):
                continue
            try:
                size = len(source)
            except TypeError:  # a __len__ that says the length is unknown
                continue
            if count > size:
                return ConfigError(f"the stream state's 'consumed' says {count} items of skill "
                                   f"{self.skill_names[skill]!r} were read in the current pass, but its source has "
                                   f"{size} items; load the state into a stream built on the sources it was saved "
                                   "with (a source must give the same items in the same order every time it is "
                                   "iterated). Nothing was changed.")
        return None

    def _settings(self) -> dict[str, Any]:
        return {**super()._settings(), "on_exhausted": self.on_exhausted}

    def load_state_dict(self, state: dict[str, Any], *, strict: bool = True) -> None:
        """Continue exactly from :meth:`state_dict` output: every source is re-opened and its consumed items skipped.

        A state that consumed more items of a skill than its source holds is refused here, unchanged, when the
        source's length is known (a list, a sized dataset), and otherwise when the source is read.
        Batches handed out but without feedback when the state was saved are not handed out again (their items
        count as consumed and are skipped) and stay waiting for feedback until a new pass (``for batch in
        stream``) stops waiting for them; see the module docstring, and save where ``pending`` is 0 to resume
        exactly.
        The state is global; under ``torch.distributed`` load the same state on every rank.
        A state saved by a stream with other settings (``batch_size``, ``mode``, ``floor``, ``on_exhausted``,
        ``loss_score``, the fixed mixture) is refused, naming them, changing nothing; ``strict=False`` loads it anyway and keeps
        this stream's settings."""
        error: Exception | None = self._settings_error(state, strict)
        try:  # everything is read before anything changes
            consumed = whole_array("consumed", state["consumed"])
            if consumed.shape != (self.n_skills,):
                error = error or ConfigError(f"stream state is for {consumed.shape} skills, this stream has {self.n_skills}")
            common = self._read_common(state)
            passes = whole_array("passes", state["passes"])
            # (bool() and dtype=bool took any value: "x", 2 or [] as a flag, and a damaged state ended the stream)
            exhausted = np.asarray(state["exhausted"]).copy()
            ended = state["ended"]
            if exhausted.dtype != bool or not isinstance(ended, (bool, np.bool_)):
                raise ValueError(f"exhausted must be flags (True or False, one per skill) and ended a flag, got "
                                 f"{str(state['exhausted'])[:40]} and {ended!r:.40}")
            ended = bool(ended)
            if passes.shape != (self.n_skills,) or exhausted.shape != (self.n_skills,):
                raise ValueError(f"passes and exhausted must hold {self.n_skills} skills")
            if (consumed < 0).any() or (passes < 0).any():
                raise ValueError("consumed and passes must be counts >= 0")
            if error is None:
                error = self._longer_than_source(consumed)
        except (KeyError, TypeError, ValueError, OverflowError) as e:  # (an int past int64: numpy's OverflowError)
            error = error or self._malformed(e)
        self._agree_on_state(state, error)
        self._load_common(common)
        self.consumed = consumed.copy()
        self.passes = passes
        self.exhausted = exhausted
        self.ended = ended
        self._iters = [None] * self.n_skills
        self._ahead = [collections.deque() for _ in range(self.n_skills)]
        self._skip = self.consumed.copy()
        self._last = self._pending[-1] if self._pending else None
