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
in order, and :meth:`observe_batch_loss` without ``indices`` matches each
feedback call to the oldest batch not yet given feedback.

Feedback goes to the teacher with one observation per skill present (the
per-skill mean), as a score in [0, 1]:

* :meth:`observe_batch_loss` - per-example training losses; the per-skill mean
  loss ``L`` becomes ``exp(-L)`` (for cross-entropy: the geometric-mean
  probability of the right answer), or goes through a declared
  ``ScoreRange(..., higher_is_better=False)``, a :class:`RunningLossScore`, or
  any callable ``(skill_ids, mean_losses) -> scores``;
* :meth:`observe_batch_correct` - per-example correctness (0/1 or in [0, 1]);
* :meth:`observe_eval` - per-skill validation accuracy or loss.

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
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from ..errors import ConfigError, InvalidScoreError, UnknownTaskError
from .distributed import RankGroup, fingerprint, rank_slice, resolve_group
from ..settings import whole
from ..rng import SeedLike, as_generator, generator_state, restore_generator
from ..scores import ScoreRange
from ..teacher import Teacher

try:  # torch is optional for the rest of magister, required here
    from torch.utils.data import Sampler as _TorchSampler
except ImportError as _e:  # pragma: no cover - exercised only without torch
    raise ImportError("magister.data.SkillSampler needs PyTorch: pip install 'magister[torch]'") from _e

__all__ = ["SkillSampler", "RunningLossScore"]


class RunningLossScore:
    """Maps a loss to a score by the largest loss seen so far for that skill.

    ``score = 1 - loss / max_loss_seen(skill)``: 0 at the worst loss the skill
    has shown, 1 at zero loss. Deterministic; its state is saved with the sampler.
    """

    def __init__(self, n_skills: int):
        self.reference = np.zeros(n_skills)

    def __call__(self, skills: np.ndarray, losses: np.ndarray) -> np.ndarray:
        np.maximum.at(self.reference, skills, losses)
        ref = self.reference[skills]
        return np.clip(1.0 - losses / np.where(ref > 0, ref, 1.0), 0.0, 1.0)


class SkillSampler(_TorchSampler):
    """Batch sampler over examples with skill labels, driven by a discrete teacher.

    Parameters
    ----------
    skills_of_examples:
        The skill of every example of the dataset, as indices ``0..n-1`` or as
        names of the teacher's ``Discrete`` space (or any object with a
        ``skills`` attribute, such as :class:`~magister.data.SkillData`).
    teacher:
        A teacher over a finite space with one task per skill (any discrete
        teacher: ``make_teacher("exp3", Discrete(names))``), or fixed mixture
        weights (a "natural" or "stratified" baseline).
    batch_size:
        Examples per batch.
    num_batches:
        Length of one iteration (``len(sampler)``); defaults to one nominal
        epoch, ``len(dataset) // batch_size``. Iterating again continues the
        stream (pools and the teacher are not reset).
    seed:
        Seed of the sampler's own generator (pool shuffles, ``"mixture"`` draws).
    mode:
        ``"propose"`` or ``"mixture"`` (see the module docstring).
    loss_score:
        How a mean loss becomes a score: ``"exp"`` (default), ``"running"``
        (:class:`RunningLossScore`), a ``ScoreRange`` with
        ``higher_is_better=False``, or a callable ``(skills, losses) -> scores``.
    distributed:
        ``None`` (default): follow ``torch.distributed`` when a process group of
        two or more ranks is initialised; ``True``: require one; ``False``: act
        as a single process even inside a group. Under a group ``batch_size`` is
        the global batch and each rank iterates over its share (see the module
        docstring).
    group:
        The ``torch.distributed`` process group (default: the whole world).
    """

    def __init__(self, skills_of_examples: Any, teacher: Teacher | Sequence[float], batch_size: int, *,
                 num_batches: int | None = None, seed: SeedLike = None, mode: str = "propose",
                 loss_score: str | ScoreRange | Callable[[np.ndarray, np.ndarray], np.ndarray] = "exp",
                 max_pending: int = 4096, distributed: bool | None = None, group: Any = None):
        whole("batch_size", batch_size, 1)
        if mode not in ("propose", "mixture"):
            raise ConfigError(f"mode must be 'propose' or 'mixture', got {mode!r}")
        skills_in = getattr(skills_of_examples, "skills", skills_of_examples)
        if isinstance(teacher, Teacher):
            if teacher.space.n is None:
                raise ConfigError(f"the teacher's space {teacher.space!r} is continuous; skills need a finite "
                                  "space such as Discrete(['skill-a', 'skill-b'])")
            self.teacher: Teacher | None = teacher
            self.n_skills = int(teacher.space.n)
            self.fixed_mixture: np.ndarray | None = None
            self.skill_names = teacher.space.task_names()
        else:
            w = np.asarray(teacher, dtype=float)
            if w.ndim != 1 or len(w) == 0 or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
                raise ConfigError("teacher must be a magister Teacher or mixture weights (non-negative, "
                                  f"positive sum), got {teacher!r}")
            self.teacher = None
            self.n_skills = len(w)
            self.fixed_mixture = w / w.sum()
            self.skill_names = [str(i) for i in range(self.n_skills)]
            mode = "mixture"
        self.skill_of = self._skill_ids(skills_in)
        counts = np.bincount(self.skill_of, minlength=self.n_skills)
        empty = [self.skill_names[i] for i in np.flatnonzero(counts == 0)]
        if empty:
            raise ConfigError(f"skills {empty} have no examples; give every skill of the teacher's space at least "
                              "one example, or build the teacher over the skills you have")
        self.batch_size = int(batch_size)
        self.num_batches = int(num_batches) if num_batches is not None else max(1, len(self.skill_of) // self.batch_size)
        if self.num_batches < 1:
            raise ConfigError(f"num_batches must be at least 1, got {num_batches!r}")
        self.mode = mode
        self.rng = as_generator(seed)
        self._members = [np.flatnonzero(self.skill_of == s) for s in range(self.n_skills)]
        self._pools = [self.rng.permutation(m) for m in self._members]
        self._cursor = np.zeros(self.n_skills, dtype=np.int64)
        self.refills = np.zeros(self.n_skills, dtype=np.int64)
        self.loss_score = loss_score
        self._loss_fn = self._make_loss_fn(loss_score)
        self.step = 0
        #: one record per batch handed out: ``{"step", "counts", "mixture"}``
        self.history: list[dict[str, Any]] = []
        self._pending: collections.deque[np.ndarray] = collections.deque(maxlen=max_pending)
        self._ranks: RankGroup | None = resolve_group(distributed, group)
        self.rank = 0 if self._ranks is None else self._ranks.rank
        self.world_size = 1 if self._ranks is None else self._ranks.world_size
        if self.batch_size < self.world_size:
            raise ConfigError(f"batch_size {self.batch_size} is the global batch, shared by {self.world_size} ranks; "
                              f"it must be at least the world size {self.world_size}")
        self._lo, self._hi = rank_slice(self.batch_size, self.world_size, self.rank)
        if self._ranks is not None:
            self._ranks.agree("the sampler's set-up", self._setup_fingerprint(),
                              "build the sampler on every rank from the same skills, batch_size, num_batches, mode "
                              "and an explicit seed= (not None), and its teacher with the same settings and seed")

    def _setup_fingerprint(self) -> dict[str, Any]:
        return {"skills": self.skill_of, "batch_size": self.batch_size, "num_batches": self.num_batches,
                "mode": self.mode, "rng": generator_state(self.rng), "pools": self._pools,
                "fixed": self.fixed_mixture, "teacher": None if self.teacher is None else self.teacher.state_dict()}

    @property
    def local_batch_size(self) -> int:
        """Examples per batch on this rank (``batch_size`` in a single process)."""
        return self._hi - self._lo

    # ----------------------------------------------------------------- setup
    def _skill_ids(self, skills: Any) -> np.ndarray:
        arr = np.asarray(skills)
        if arr.ndim != 1 or len(arr) == 0:
            raise ConfigError("skills_of_examples must be a non-empty flat sequence (one skill per example)")
        if arr.dtype.kind in "iu":
            if (arr < 0).any() or (arr >= self.n_skills).any():
                bad = int(arr[(arr < 0) | (arr >= self.n_skills)][0])
                raise ConfigError(f"skill label {bad} is outside 0..{self.n_skills - 1}; the teacher's space has "
                                  f"{self.n_skills} skills")
            return arr.astype(np.int64)
        if self.teacher is None:
            raise ConfigError("with a fixed mixture, skills_of_examples must be integer skill indices")
        lookup = {name: i for i, name in enumerate(self.skill_names)}
        out = np.empty(len(arr), dtype=np.int64)
        for j, s in enumerate(arr.tolist()):
            if s not in lookup:
                raise UnknownTaskError(f"example {j} has skill {s!r}, which the teacher's space does not name; "
                                       f"known skills: {self.skill_names[:8]}")
            out[j] = lookup[s]
        return out

    def _make_loss_fn(self, spec: Any) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        if isinstance(spec, str):
            if spec == "exp":
                return lambda skills, losses: np.exp(-np.maximum(losses, 0.0))
            if spec == "running":
                self._running = RunningLossScore(self.n_skills)
                return self._running
            raise ConfigError(f"loss_score must be 'exp', 'running', a ScoreRange or a callable, got {spec!r}")
        if isinstance(spec, ScoreRange):
            if spec.higher_is_better:
                raise ConfigError("a loss range needs ScoreRange(low, high, higher_is_better=False)")
            return lambda skills, losses: spec.normalise(losses)
        if callable(spec):
            return lambda skills, losses: np.asarray(spec(skills, losses), dtype=float)
        raise ConfigError(f"loss_score must be 'exp', 'running', a ScoreRange or a callable, got {spec!r}")

    # -------------------------------------------------------------- sampling
    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[list[int]]:
        for _ in range(self.num_batches):
            yield self.next_batch()

    def current_mixture(self) -> np.ndarray:
        """The teacher's current sampling probabilities (or the fixed mixture)."""
        if self.teacher is None:
            return self.fixed_mixture.copy()
        p = self.teacher.beliefs().get("probability")
        if p is None:
            raise ConfigError(f"teacher {self.teacher.name!r} reports no 'probability' in beliefs(); "
                              "use mode='propose'")
        p = np.asarray(p, dtype=float)
        return p / p.sum()

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
        if self.mode == "propose":
            slots = np.asarray(self.teacher.space.index_batch(self.teacher.propose(self.batch_size)), dtype=np.int64)
            counts = np.bincount(slots, minlength=self.n_skills)
            p = self.teacher.beliefs().get("probability")
            mixture = (np.asarray(p, dtype=float) / np.sum(p)) if p is not None else counts / self.batch_size
            batch = np.empty(self.batch_size, dtype=np.int64)
            for s in np.flatnonzero(counts):
                batch[slots == s] = self._take(int(s), int(counts[s]))
        else:
            mixture = self.current_mixture()
            counts = self.rng.multinomial(self.batch_size, mixture)
            batch = np.concatenate([self._take(int(s), int(counts[s])) for s in np.flatnonzero(counts)])
            batch = batch[self.rng.permutation(self.batch_size)]
        self.history.append({"step": self.step, "counts": counts.tolist(), "mixture": np.round(mixture, 6).tolist()})
        self.step += 1
        self._pending.append(batch)
        return batch

    # -------------------------------------------------------------- feedback
    def skills_of(self, indices: Sequence[int]) -> np.ndarray:
        """Skill ids of example ``indices``."""
        return self.skill_of[np.asarray(indices, dtype=np.int64)]

    def _resolve_indices(self, indices: Any, n: int) -> np.ndarray:
        """This rank's example indices for ``n`` values (the oldest pending batch's block when ``indices`` is None).

        Nothing is removed from the pending queue here (see :meth:`_gather`)."""
        if indices is None:
            if not self._pending:
                raise ConfigError("no batch is waiting for feedback; pass indices=... explicitly")
            idx = self._pending[0][self._lo:self._hi]
            if len(idx) != n:
                where = "" if self._ranks is None else f" on rank {self.rank} (its block of the global batch)"
                raise InvalidScoreError(f"the oldest batch awaiting feedback has {len(idx)} examples{where} but {n} "
                                        "values were given; pass indices=... for partial batches")
            return idx
        idx = np.asarray(getattr(indices, "cpu", lambda: indices)(), dtype=np.int64).reshape(-1)
        if len(idx) != n:
            raise InvalidScoreError(f"got {len(idx)} indices but {n} values; pass one value per example")
        if len(idx) and ((idx < 0).any() or (idx >= len(self.skill_of)).any()):
            raise ConfigError(f"example indices must be in 0..{len(self.skill_of) - 1}")
        return idx

    def _gather(self, values: Any, indices: Any, check: Callable[[np.ndarray], None]) -> tuple[np.ndarray, np.ndarray]:
        """Checked per-example ``(indices, values)`` of the whole global batch (all ranks, in rank order).

        In one process these are this call's own. Under ``torch.distributed``
        every rank sends its block and receives everybody's; a refusal on any
        rank raises on all of them before anything is recorded."""
        error: Exception | None = None
        idx = arr = np.zeros(0)
        try:
            arr = self._as_values(values)
            check(arr)
            idx = self._resolve_indices(indices, len(arr))
        except Exception as e:  # noqa: BLE001 - re-raised here, and on the other ranks as a refusal
            if self._ranks is None:
                raise
            error = e
        if self._ranks is None:
            if indices is None:
                self._pending.popleft()
            return idx, arr
        token = ("indices",) if indices is not None else (
            "pending", self.step - len(self._pending), fingerprint(self._pending[0]) if self._pending else "")
        got = self._ranks.exchange((token, idx, arr), error)
        if any(g[0] != got[0][0] for g in got):
            raise ConfigError("the ranks gave feedback for different batches (or some with indices=, some "
                              f"without): {[g[0][:2] for g in got]}; call the same feedback method at the same "
                              "point on every rank")
        if indices is None:
            self._pending.popleft()
        return np.concatenate([g[1] for g in got]).astype(np.int64), np.concatenate([g[2] for g in got])

    @staticmethod
    def _as_values(values: Any) -> np.ndarray:
        if hasattr(values, "detach"):
            values = values.detach().cpu().numpy()
        arr = np.asarray(values, dtype=float).reshape(-1)
        if not np.isfinite(arr).all():
            raise InvalidScoreError("per-example values contain NaN or infinity; nothing was recorded")
        return arr

    def _per_skill_mean(self, idx: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        skills = self.skill_of[idx]
        sums = np.bincount(skills, weights=values, minlength=self.n_skills)
        counts = np.bincount(skills, minlength=self.n_skills)
        present = np.flatnonzero(counts)
        return present, sums[present] / counts[present]

    def _tell(self, skills: np.ndarray, unit_scores: np.ndarray) -> None:
        if self.teacher is None or len(skills) == 0:
            return
        sr = self.teacher.score_range
        u = np.clip(np.asarray(unit_scores, dtype=float), 0.0, 1.0)
        raw = sr.low + (u if sr.higher_is_better else 1.0 - u) * (sr.high - sr.low)
        self.teacher.observe_batch(self.teacher.space.tasks_at(skills), raw)

    @staticmethod
    def _check_losses(values: np.ndarray) -> None:
        if (values < 0).any():
            raise InvalidScoreError("losses must be non-negative; nothing was recorded")

    @staticmethod
    def _check_correct(values: np.ndarray) -> None:
        if ((values < 0) | (values > 1)).any():
            raise InvalidScoreError("correctness values must be in [0, 1]; nothing was recorded")

    def observe_batch_loss(self, per_example_loss: Any, indices: Any = None) -> dict[int, float]:
        """Per-example training losses of a batch -> one score per skill present. Returns ``{skill: mean loss}``.

        Under ``torch.distributed`` pass this rank's losses; the means (returned
        and observed) are over the whole global batch."""
        idx, values = self._gather(per_example_loss, indices, self._check_losses)
        skills, means = self._per_skill_mean(idx, values)
        self._tell(skills, self._loss_fn(skills, means))
        return dict(zip(skills.tolist(), means.tolist()))

    def observe_batch_correct(self, correct: Any, indices: Any = None) -> dict[int, float]:
        """Per-example correctness (0/1, or a score in [0, 1]) -> per-skill accuracy to the teacher."""
        idx, values = self._gather(correct, indices, self._check_correct)
        skills, means = self._per_skill_mean(idx, values)
        self._tell(skills, means)
        return dict(zip(skills.tolist(), means.tolist()))

    def _eval_values(self, per_skill: Mapping[Any, float] | Sequence[float], kind: str) -> tuple[np.ndarray, np.ndarray]:
        if kind not in ("accuracy", "loss"):
            raise ConfigError(f"kind must be 'accuracy' or 'loss', got {kind!r}")
        if isinstance(per_skill, Mapping):
            lookup = {name: i for i, name in enumerate(self.skill_names)}
            skills = []
            for k in per_skill:
                if isinstance(k, str) and k in lookup:
                    skills.append(lookup[k])
                elif isinstance(k, (int, np.integer)) and not isinstance(k, bool) and 0 <= k < self.n_skills:
                    skills.append(int(k))
                else:
                    raise UnknownTaskError(f"unknown skill {k!r}; known skills: {self.skill_names[:8]}")
            values = self._as_values(list(per_skill.values()))
        else:
            values = self._as_values(per_skill)
            if len(values) != self.n_skills:
                raise InvalidScoreError(f"got {len(values)} values for {self.n_skills} skills")
            skills = list(range(self.n_skills))
        if kind == "accuracy" and ((values < 0) | (values > 1)).any():
            raise InvalidScoreError("accuracies must be in [0, 1]; for losses pass kind='loss'")
        if kind == "loss" and (values < 0).any():
            raise InvalidScoreError("losses must be non-negative; nothing was recorded")
        return np.asarray(skills, dtype=np.int64), values

    def observe_eval(self, per_skill: Mapping[Any, float] | Sequence[float], *, kind: str = "accuracy") -> None:
        """Per-skill validation metric (``kind="accuracy"`` in [0, 1], or ``kind="loss"``) to the teacher.

        Under ``torch.distributed`` call it on every rank with the same values
        (the global metrics, as ``Trainer`` reports them on every rank)."""
        error: Exception | None = None
        sk = values = np.zeros(0)
        try:
            sk, values = self._eval_values(per_skill, kind)
        except Exception as e:  # noqa: BLE001 - re-raised on every rank
            if self._ranks is None:
                raise
            error = e
        if self._ranks is not None:
            got = self._ranks.exchange((kind, sk, values), error)
            if any(fingerprint(g) != fingerprint(got[0]) for g in got):
                r = next(r for r, g in enumerate(got) if fingerprint(g) != fingerprint(got[0]))
                raise InvalidScoreError(f"observe_eval got other metrics on rank {r} than on rank 0; reduce the "
                                        "evaluation over ranks first and pass the same values on every rank; "
                                        "nothing was recorded")
        if kind == "accuracy":
            self._tell(sk, values)
        else:
            self._tell(sk, self._loss_fn(sk, values))

    # ------------------------------------------------------------- reporting
    @property
    def pending(self) -> int:
        """Batches handed out that have not had feedback through ``observe_batch_*`` without indices."""
        return len(self._pending)

    def mixture_history(self, what: str = "mixture") -> np.ndarray:
        """``(steps, n_skills)``: the teacher's mixture (``"mixture"``) or the batch shares (``"counts"``)."""
        if what == "counts":
            return np.asarray([h["counts"] for h in self.history], dtype=float).reshape(-1, self.n_skills) / self.batch_size
        return np.asarray([h["mixture"] for h in self.history], dtype=float).reshape(-1, self.n_skills)

    def samples_per_skill(self) -> np.ndarray:
        """Total examples drawn per skill so far."""
        return np.asarray([h["counts"] for h in self.history], dtype=np.int64).reshape(-1, self.n_skills).sum(0)

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Sampler position (generator, pools, step, history) and the teacher's state."""
        return {
            "rng": generator_state(self.rng), "step": self.step, "cursor": self._cursor.copy(),
            "pools": [p.copy() for p in self._pools], "refills": self.refills.copy(),
            "history": [dict(h) for h in self.history], "pending": [p.copy() for p in self._pending],
            "running": None if not hasattr(self, "_running") else self._running.reference.copy(),
            "teacher": None if self.teacher is None else self.teacher.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue exactly from :meth:`state_dict` output.

        The state is global (the same on every rank), so one rank's
        ``state_dict()`` resumes every rank, at any world size that the batch
        allows. Under ``torch.distributed`` call it on every rank with the same
        state: states that differ between ranks are refused on all of them."""
        error: Exception | None = None
        pools = [np.asarray(p, dtype=np.int64) for p in state["pools"]]
        if len(pools) != self.n_skills or any(sorted(p.tolist()) != m.tolist() for p, m in zip(pools, self._members)):
            error = ConfigError("sampler state does not match this dataset's skills")
        if self._ranks is not None:
            digests = self._ranks.exchange(fingerprint(state) if error is None else "", error)
            if any(d != digests[0] for d in digests):
                raise ConfigError("load_state_dict got different states on different ranks; load the same "
                                  "state_dict (for example rank 0's) on every rank")
        elif error is not None:
            raise error
        if self.teacher is not None and state.get("teacher") is not None:
            self.teacher.load_state_dict(state["teacher"])
        self.rng = restore_generator(state["rng"])
        self.step = int(state["step"])
        self._cursor = np.asarray(state["cursor"], dtype=np.int64).copy()
        self._pools = pools
        self.refills = np.asarray(state["refills"], dtype=np.int64).copy()
        self.history = [dict(h) for h in state["history"]]
        self._pending = collections.deque((np.asarray(p, dtype=np.int64) for p in state["pending"]),
                                          maxlen=self._pending.maxlen)
        if state.get("running") is not None and hasattr(self, "_running"):
            self._running.reference = np.asarray(state["running"], dtype=float).copy()
