"""What every skill-mixing data source shares: the teacher, the plan of each step, feedback, ranks, state.

:class:`SkillMixer` is the base of :class:`~magister.data.SkillSampler`
(examples of an in-memory dataset, by index) and
:class:`~magister.data.SkillStream` (items read from per-skill iterables).
Each step it asks the teacher (or a fixed mixture) for the skill of every slot
of the global batch, logs the mixture, and queues the batch for feedback; the
subclass fills the slots with examples. Feedback of any kind (per-example
losses or correctness, per-skill evaluations) becomes one observation per skill
present, exchanged across ``torch.distributed`` ranks first (see
:mod:`magister.data.distributed`).

A subclass tells the base how to read its feedback keys (example indices for
the sampler, skill labels for the stream) through three hooks:
``_pending_keys(entry)``, ``_resolve_keys(keys, n)`` and ``_key_skills(keys)``.
"""

from __future__ import annotations

import collections
import warnings
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..checkpoint import states_equal
from ..errors import ConfigError, InvalidScoreError, MagisterError, UnknownTaskError
from ..rng import SeedLike, as_generator, generator_state, restore_generator
from ..scores import ScoreRange
from ..settings import flag, is_int, non_numeric, number, weights, whole
from ..teacher import Teacher
from .distributed import RankGroup, fingerprint, rank_slice, resolve_group

__all__ = ["SkillMixer", "RunningLossScore"]


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


def _shape(value: Any) -> tuple[int, ...]:
    """The shape of ``value`` (a tensor's, an array's, a list's); () for a ragged list (refused later, by name)."""
    if hasattr(value, "shape") and not isinstance(value, np.generic):
        return tuple(int(n) for n in value.shape)
    try:
        return np.shape(value)
    except ValueError:  # numpy's "inhomogeneous shape"
        return ()


def _one_value_each(values: Any, unit: str, forms: str, fix: str = "", keys: Any = None) -> None:
    """Refuse per-``unit`` values (per example, per skill) given as a table of several rows and columns (a
    ``(batch, tokens)`` loss, a list of lists): flattened, they were matched to the batch's examples whenever their
    count happened to equal the batch's, or to other skills. A ``(1, n)`` row or an ``(n, 1)`` column means one value
    each, as models give them; a table with ``keys`` of the same shape pairs each value with its own key and is taken
    too. ``forms``: the forms taken, ``fix``: the advice after them, for the message."""
    shape = _shape(values)
    if sum(n > 1 for n in shape) <= 1 or (keys is not None and _shape(keys) == shape):
        return
    raise InvalidScoreError(f"per-{unit} values must be one number per {unit} ({forms}), got a table of shape "
                            f"{shape}{fix}. Nothing was recorded")


def label_ids(labels: Any, names: Sequence[str], *, what: str, unit: str, label: str, plural: str, owner: str,
              column: str, unnamed: str | None = None) -> np.ndarray:
    """``labels`` (one per ``unit``: a name of ``names`` or an index ``0 .. len(names) - 1``) as int64 indices; the
    skills of a sampler's examples, the categories of a curriculum's prompts. A table (a dict of columns, a
    DataFrame: ``list()`` of it is its column names), the dataset's rows (dicts), ragged lists, an index out of range
    or an unknown name is a :class:`~magister.errors.ConfigError` / :class:`~magister.errors.UnknownTaskError`
    naming ``what`` and the ``column`` to give (numpy's "inhomogeneous shape" or Python's "unhashable type" before).
    ``unnamed``: the error of labels that are not indices, where ``names`` are only stand-ins."""
    n = len(names)
    if isinstance(labels, Mapping) or hasattr(labels, "columns"):
        raise ConfigError(f"{what} is a table ({type(labels).__name__} of columns {[str(c) for c in labels][:8]}); "
                          f"give the {label} of each {unit}, one column, e.g. {column}")
    try:
        arr = np.asarray(labels if isinstance(labels, np.ndarray) or hasattr(labels, "__array__") else list(labels))
    except (TypeError, ValueError):  # ragged nested lists (numpy: "inhomogeneous shape"), or no sequence at all
        arr = np.zeros((0, 0))
    if arr.ndim != 1 or len(arr) == 0:
        raise ConfigError(f"{what} must be a non-empty flat sequence (one {label} per {unit})")
    if arr.dtype.kind in "iu":
        bad = (arr < 0) | (arr >= n)
        if bad.any():
            raise ConfigError(f"{label} {int(arr[bad][0])} is outside 0..{n - 1}; the teacher's space has {n} "
                              f"{plural}")
        return arr.astype(np.int64)
    items = arr.tolist()

    def rows(j: int, c: Any) -> ConfigError:  # the dataset's rows, not their labels ("unhashable type")
        return ConfigError(f"{what} holds {type(c).__name__} items ({unit} {j}: {c!r:.80}); give the {label} of "
                           f"each {unit} (a name of the teacher's space or an index), e.g. {column} for a "
                           "datasets.Dataset, not the rows themselves")

    if unnamed is not None:  # (rows named first: the words of labels that are not indices did not say rows came)
        for j, c in enumerate(items):
            if isinstance(c, (dict, list, set)):
                raise rows(j, c)
        raise ConfigError(unnamed)
    lookup = {name: i for i, name in enumerate(names)}
    out = np.empty(len(arr), dtype=np.int64)
    for j, c in enumerate(items):
        if isinstance(c, (dict, list, set)):
            raise rows(j, c)
        if c not in lookup:
            raise UnknownTaskError(f"{unit} {j} has {label} {c!r}, which {owner} does not name; known {plural}: "
                                   f"{list(names)[:8]}")
        out[j] = lookup[c]
    return out


def whole_array(name: str, saved: Any) -> np.ndarray:
    """A saved array of whole numbers (counts, cursors, pools, the example indices or skills of a waiting batch) as
    int64; values that are not whole numbers are a ``ValueError`` (a dtype=int64 read cut 1.5 to 1, took True as 1
    and parsed "1"). Whole floats are taken."""
    raw = np.asarray(saved)
    if raw.dtype.kind not in "iuf" or raw.dtype == bool or (raw.dtype.kind == "f" and (raw % 1 != 0).any()):
        raise ValueError(f"{name} must hold whole numbers, got {str(saved)[:60]}")
    return raw.astype(np.int64)


def flag_error(**flags: Any) -> ConfigError | None:
    """The refusal of the first of ``flags`` that is not ``True`` / ``False`` (``bool()`` read ``"false"`` as
    True), or None: returned, not raised, so that under ``torch.distributed`` every rank raises it together."""
    for name, value in flags.items():
        try:
            flag(name, value)
        except ConfigError as e:
            return ConfigError(f"{e}. Nothing was changed.")
    return None


def resume_point(trained: Any, batches: int, what: str) -> int:
    """``trained``, the batches of a pass trained before a resume (a ``Trainer`` resumed mid-epoch), checked
    against the ``batches`` of a pass (``what`` names them in the error)."""
    trained = whole("trained", trained, 0, hint="the batches of the pass trained before the resume")
    if trained >= batches:
        raise ConfigError(f"cannot resume {trained} batches into a pass of {batches} {what}; build it with the "
                          "settings of the run that saved the checkpoint")
    return trained


def history_limit(value: int | None, what: str) -> int | None:
    """A ``max_history`` setting: None (keep one record per ``what``) or a whole number >= 1."""
    if value is None:
        return None
    return whole("max_history", value, 1, floats=True,
                 hint=f"the most {what} records kept in history, or None to keep one per {what}")


def keep_newest(records: list, limit: int | None) -> list:
    """``records`` less its oldest ones past ``limit`` (in place; None keeps all); returned for chaining."""
    if limit is not None and len(records) > limit:
        del records[:len(records) - limit]
    return records


class SkillMixer:
    """The teacher-driven plan of each global batch, its log, feedback and rank group (a base class)."""

    def __init__(self, teacher: Teacher | Sequence[float] | np.ndarray, batch_size: int, *, seed: SeedLike = None,
                 mode: str = "propose",
                 loss_score: str | ScoreRange | Callable[[np.ndarray, np.ndarray], np.ndarray] = "exp",
                 max_pending: int = 4096, floor: float = 0.0, max_history: int | None = None):
        whole("batch_size", batch_size, 1)
        whole("max_pending", max_pending, 1, hint="the most batches kept waiting for feedback")
        max_history = history_limit(max_history, "batch")
        floor = number("floor", floor, 0.0, 1.0, high_open=True, hint="the share of every batch spread over all skills")
        if mode not in ("propose", "mixture"):
            raise ConfigError(f"mode must be 'propose' or 'mixture', got {mode!r}")
        if isinstance(teacher, Teacher):
            if teacher.space.n is None:
                raise ConfigError(f"the teacher's space {teacher.space!r} is continuous; skills need a finite "
                                  "space such as Discrete(['skill-a', 'skill-b'])")
            self.teacher: Teacher | None = teacher
            self.n_skills = int(teacher.space.n)
            self.fixed_mixture: np.ndarray | None = None
            self.skill_names = teacher.space.task_names()
            # whether ``skill_names`` are real names, taken in feedback (a fixed mixture's "0", "1"... are not)
            self._named_skills = True
        else:
            if isinstance(teacher, Mapping):
                raise ConfigError("fixed mixture weights must be a sequence in skill order (weight i for skill i), "
                                  f"not a mapping such as {dict(teacher)!r}; pass [w0, w1, ...], or a teacher over "
                                  "a Discrete space of the names")
            w = weights("teacher (a magister Teacher, or fixed mixture weights)", teacher)
            self.teacher = None
            self.n_skills = len(w)
            self.fixed_mixture = w / w.sum()
            self.skill_names = [str(i) for i in range(self.n_skills)]
            self._named_skills = False  # (a subclass that knows the skills' names sets them and this)
            mode = "mixture"
        self.batch_size = int(batch_size)
        self.mode = mode
        #: share of every batch spread evenly over all skills whatever the teacher says (0: the teacher's mixture)
        self.floor = float(floor)
        self._floor_slots = min(int(round(self.floor * self.batch_size)), self.batch_size - 1) if self.fixed_mixture is None else 0
        self._floor_next = 0  # the skill that gets the next reserved slot (round robin over batches)
        self.rng = as_generator(seed)
        self.loss_score = loss_score
        self._loss_fn = self._make_loss_fn(loss_score)
        self.step = 0
        #: one record per batch handed out: ``{"step", "counts", "mixture"}`` (the newest ``max_history`` only,
        #: when it is set; None keeps every one, so the list, and the saved state, grow by one record per batch)
        self.history: list[dict[str, Any]] = []
        self.max_history = max_history
        self._drawn = np.zeros(self.n_skills, dtype=np.int64)  # examples drawn per skill (all batches)
        self._pending: collections.deque[np.ndarray] = collections.deque(maxlen=max_pending)
        # batches pushed out of the full queue, oldest first, still owed feedback: the next that many calls without
        # keys are theirs (matching them to the batches still queued put every value on another batch's skills)
        self._dropped = 0
        self._ranks: RankGroup | None = None
        self.rank, self.world_size = 0, 1
        self._lo, self._hi = 0, self.batch_size

    def _join_ranks(self, distributed: bool | None, group: Any, fix: str, error: Exception | None = None) -> None:
        """Follow the process group (if any) and check that every rank built the same mixer (a collective).

        ``error``: this rank's set-up failed (bad input here only); it is raised here and, through the same
        collective, on every other rank (which names this one), where it used to be raised on this rank alone,
        before the collective, leaving the others waiting in it (or pairing it with this rank's next one)."""
        try:
            self._ranks = resolve_group(distributed, group)
        except MagisterError:
            if error is not None:
                raise error from None
            raise
        if self._ranks is None:
            if error is not None:
                raise error
            return
        self.rank, self.world_size = self._ranks.rank, self._ranks.world_size
        if error is None and self.batch_size < self.world_size:
            error = ConfigError(f"batch_size {self.batch_size} is the global batch, shared by {self.world_size} "
                                f"ranks; it must be at least the world size {self.world_size}")
        if error is None:
            self._lo, self._hi = rank_slice(self.batch_size, self.world_size, self.rank)
        self._ranks.agree("the set-up", None if error is not None else self._setup_fingerprint(), fix, error=error)

    def _setup_fingerprint(self) -> dict[str, Any]:
        # the loss rule and the skill names too: ranks built with other ones passed this check and then told their
        # teachers other scores for the same losses (or read one skill index as two skills), without a word
        # (the settings a saved state is checked against, and the generator, the teacher and the skill names)
        return {**self._settings(), "loss_score": self._loss_score_key(), "rng": generator_state(self.rng),
                "teacher": None if self.teacher is None else self.teacher.state_dict(),
                "skill_names": list(self.skill_names)}

    def _loss_score_key(self, module: bool = True) -> Any:
        """``loss_score`` as every rank can compare it: the name, the range, or a function's qualified name
        (``module=False``: without its module, as a saved state holds it: a run saved from a script, where the
        function's module is ``__main__``, resumes through an import of it)."""
        spec = self.loss_score
        if isinstance(spec, str):
            return spec
        if isinstance(spec, ScoreRange):
            return spec.to_dict()
        name = getattr(spec, '__qualname__', None) or type(spec).__qualname__
        return f"{getattr(spec, '__module__', None) or type(spec).__module__}.{name}" if module else name

    @property
    def local_batch_size(self) -> int:
        """Examples per batch on this rank (``batch_size`` in a single process)."""
        return self._hi - self._lo

    # ----------------------------------------------------------------- setup
    def _skill_ids(self, skills: Any, what: str = "skills_of_examples") -> np.ndarray:
        owner = "the teacher's space" if self.teacher is not None else "the fixed mixture"
        return label_ids(skills, self.skill_names, what=what, unit="example", label="skill", plural="skills",
                         owner=owner, column="dataset['skill']",
                         unnamed=None if self._named_skills else f"with a fixed mixture of unnamed skills, {what} "
                                                                  "must be integer skill indices")

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
            def scored(skills: np.ndarray, losses: np.ndarray) -> np.ndarray:
                out = np.asarray(spec(skills, losses), dtype=float)
                if out.shape != np.shape(losses) or not np.isfinite(out).all():
                    raise InvalidScoreError(f"loss_score returned {out.tolist()!r} for {len(losses)} skills; return "
                                            "one finite score in [0, 1] per skill (an array shaped like the losses). "
                                            "Nothing was recorded")
                if ((out < 0) | (out > 1)).any():  # clipping them would hide a wrong scale
                    raise InvalidScoreError(f"loss_score returned scores outside [0, 1] ({out.tolist()[:4]}); "
                                            "map each loss to a score in [0, 1]. Nothing was recorded")
                return out
            return scored
        raise ConfigError(f"loss_score must be 'exp', 'running', a ScoreRange or a callable, got {spec!r}")

    # -------------------------------------------------------------- planning
    def current_mixture(self) -> np.ndarray:
        """The teacher's current sampling probabilities (or the fixed mixture), with the ``floor`` mixed in."""
        if self.teacher is None:
            assert self.fixed_mixture is not None
            return self.fixed_mixture.copy()
        p = self.teacher.beliefs().get("probability")
        if p is None:
            raise ConfigError(f"teacher {self.teacher.name!r} reports no 'probability' in beliefs(); "
                              "use mode='propose'")
        p = np.asarray(p, dtype=float)
        return self._with_floor(p / p.sum(), self.floor)

    def _with_floor(self, mixture: np.ndarray, share: float) -> np.ndarray:
        return (1.0 - share) * mixture + share / self.n_skills

    def _propose_slots(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``mode="propose"``: the teacher's skill for every slot, the counts, and the mixture to log.

        With a ``floor``, ``round(floor * batch_size)`` slots (placed last) go to the skills in turn, round
        robin across batches, and the teacher proposes the others."""
        assert self.teacher is not None
        r = self._floor_slots
        own = self.batch_size - r
        slots = np.asarray(self.teacher.space.index_batch(self.teacher.propose(own)), dtype=np.int64)
        if r:
            reserved = (self._floor_next + np.arange(r)) % self.n_skills
            self._floor_next = int((self._floor_next + r) % self.n_skills)
            slots = np.concatenate([slots.reshape(-1), reserved])
        counts = np.bincount(slots, minlength=self.n_skills)
        p = self.teacher.beliefs().get("probability")
        if p is None:
            return slots, counts, counts / self.batch_size
        return slots, counts, self._with_floor(np.asarray(p, dtype=float) / np.sum(p), r / self.batch_size)

    def _log(self, counts: np.ndarray, mixture: np.ndarray, pending: np.ndarray, **extra: Any) -> None:
        self.history.append({"step": self.step, "counts": np.asarray(counts).tolist(),
                             "mixture": np.round(mixture, 6).tolist(), **extra})
        keep_newest(self.history, self.max_history)
        self._drawn += np.asarray(counts, dtype=np.int64)
        self.step += 1
        if len(self._pending) == self._pending.maxlen:
            self._dropped += 1  # the deque pushes the oldest batch out
        self._pending.append(pending)

    # -------------------------------------------------------------- feedback
    def _pending_keys(self, entry: np.ndarray) -> np.ndarray:
        """This rank's feedback keys of a pending batch."""
        return entry[self._lo:self._hi]

    def _resolve_keys(self, keys: Any, n: int) -> np.ndarray:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def _key_skills(self, keys: np.ndarray) -> np.ndarray:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def _keys_for(self, keys: Any, n: int, explicit: str) -> np.ndarray:
        """The feedback keys of ``n`` values: the oldest pending batch's (this rank's block) when ``keys`` is None.

        Nothing is removed from the pending queue here (see :meth:`_fed`)."""
        if keys is None:
            if not self._pending:
                raise ConfigError(f"no batch is waiting for feedback; pass {explicit}=... explicitly")
            idx = self._pending_keys(self._pending[0])
            if len(idx) != n:
                where = "" if self._ranks is None else f" on rank {self.rank} (its block of the global batch)"
                raise InvalidScoreError(f"the oldest batch awaiting feedback has {len(idx)} examples{where} but {n} "
                                        f"values were given; pass {explicit}=... for partial batches")
            return idx
        return self._resolve_keys(keys, n)

    @staticmethod
    def _as_values(values: Any, *, nonfinite: bool = False) -> np.ndarray:
        """The values as a flat float array; NaN or infinity refused unless ``nonfinite`` (a table of several rows
        and columns is refused before, by ``_one_value_each``)."""
        if hasattr(values, "detach"):
            values = values.detach().cpu()
            if values.is_floating_point():  # numpy has no bfloat16 (a bf16 model's losses); float64 holds any float
                values = values.double()
            values = values.numpy()
        try:
            raw = np.asarray(values)
        except ValueError:  # numpy's "setting an array element with a sequence ... inhomogeneous shape"
            raise InvalidScoreError("values must be numbers, got lists (or arrays) of different lengths; pass one "
                                    "number per value. Nothing was recorded") from None
        if non_numeric(raw):  # numpy would parse "0.5", or raise its own error on "x" or a complex number
            raise InvalidScoreError("values must be numbers, not text, None or complex numbers; nothing was recorded")
        try:
            arr = np.asarray(raw, dtype=float).reshape(-1)
        except (TypeError, ValueError, OverflowError):  # a dict or a set (one object), an integer past any float
            hint = " (per-skill metrics go to observe_eval)" if isinstance(values, Mapping) else ""
            raise InvalidScoreError(f"values must be a sequence of numbers, one per value, got {type(values).__name__} "
                                    f"{str(values)[:60]}{hint}. Nothing was recorded") from None
        if not nonfinite and not np.isfinite(arr).all():
            raise InvalidScoreError("per-example values contain NaN or infinity; nothing was recorded")
        return arr

    def _gather(self, values: Any, keys: Any, check: Callable[[np.ndarray], None],
                explicit: str = "indices", skip_nonfinite: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Checked per-example ``(keys, values)`` of the whole global batch (all ranks, in rank order).

        In one process these are this call's own. Under ``torch.distributed``
        every rank sends its block and receives everybody's; a refusal on any
        rank raises on all of them before anything is recorded. The pending
        batch stays queued until :meth:`_fed` (once the teacher took the feedback).
        ``skip_nonfinite``: NaN or infinite values are left out with their keys
        instead of refused (the batch is still matched whole)."""
        error: Exception | None = None
        idx = arr = np.zeros(0)
        try:
            skip_error = flag_error(skip_nonfinite=skip_nonfinite)  # ("no" left NaN losses out)
            if skip_error is not None:
                raise skip_error
            _one_value_each(values, "example", "a flat list or 1-D tensor", "; reduce a per-token loss to one value "
                            f"per example first (e.g. loss.mean(dim=1)), or pass {explicit}= of the same shape", keys)
            arr = self._as_values(values, nonfinite=skip_nonfinite)  # (finite unless skip_nonfinite)
            idx = self._keys_for(keys, len(arr), explicit)
            if skip_nonfinite:
                finite = np.isfinite(arr)
                idx, arr = idx[finite], arr[finite]
            check(arr)
        except Exception as e:  # noqa: BLE001 - re-raised here, and on the other ranks as a refusal
            if self._ranks is None:
                raise
            error = e
        if self._ranks is None:
            return idx, arr
        token = ("explicit",) if keys is not None else (
            "pending", self.step - len(self._pending), fingerprint(self._pending[0]) if self._pending else "")
        got = self._ranks.exchange((token, idx, arr), error)
        if any(g[0] != got[0][0] for g in got):
            raise ConfigError(f"the ranks gave feedback for different batches (or some with {explicit}=, some "
                              f"without): {[g[0][:2] for g in got]}; call the same feedback method at the same "
                              "point on every rank")
        return np.concatenate([g[1] for g in got]).astype(np.int64), np.concatenate([g[2] for g in got])

    def _feedback_of_a_dropped_batch(self, keys: Any) -> bool:
        """Feedback without keys for a batch pushed out of the full queue: warn, and the teacher hears nothing."""
        if keys is not None or not self._dropped:
            return False
        self._dropped -= 1
        warnings.warn(f"feedback for the batch of step {self.step - len(self._pending) - self._dropped - 1} was "
                      f"left out: more than max_pending={self._pending.maxlen} batches waited for feedback, so that "
                      "batch was no longer kept and its examples' skills are unknown; pass a larger max_pending "
                      "(more than the batches handed out ahead of their feedback), or pass the keys explicitly",
                      stacklevel=4)
        return True

    def _fed(self, keys: Any) -> None:
        """The oldest pending batch had its feedback (when it was matched to it): it leaves the queue."""
        if keys is None:
            self._pending.popleft()

    def _per_skill_mean(self, keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        skills = self._key_skills(keys)
        sums = np.bincount(skills, weights=values, minlength=self.n_skills)
        counts = np.bincount(skills, minlength=self.n_skills)
        present = np.flatnonzero(counts)
        return present, sums[present] / counts[present]

    def _tell(self, skills: np.ndarray, unit_scores: np.ndarray) -> None:
        if self.teacher is None or len(skills) == 0:
            return
        # an open range (FiniteScores: the level teachers) takes the scores as they are
        raw: Any = self.teacher.score_range.from_unit(unit_scores)
        self.teacher.observe_batch(self.teacher.space.tasks_at(skills), raw)

    @staticmethod
    def _check_losses(values: np.ndarray) -> None:
        if (values < 0).any():
            raise InvalidScoreError("losses must be non-negative; nothing was recorded")

    @staticmethod
    def _check_correct(values: np.ndarray) -> None:
        if ((values < 0) | (values > 1)).any():
            raise InvalidScoreError("correctness values must be in [0, 1]; nothing was recorded")

    def _observe_loss(self, per_example_loss: Any, keys: Any, explicit: str,
                      skip_nonfinite: bool = False) -> dict[int, float]:
        if self._feedback_of_a_dropped_batch(keys):
            return {}
        idx, values = self._gather(per_example_loss, keys, self._check_losses, explicit, skip_nonfinite)
        skills, means = self._per_skill_mean(idx, values)
        if len(skills):  # (every loss left out, skip_nonfinite: nothing to score; a loss_score callable got [])
            self._tell(skills, self._loss_fn(skills, means))
        self._fed(keys)
        return dict(zip(skills.tolist(), means.tolist()))

    def _observe_correct(self, correct: Any, keys: Any, explicit: str) -> dict[int, float]:
        if self._feedback_of_a_dropped_batch(keys):
            return {}
        idx, values = self._gather(correct, keys, self._check_correct, explicit)
        skills, means = self._per_skill_mean(idx, values)
        self._tell(skills, means)
        self._fed(keys)
        return dict(zip(skills.tolist(), means.tolist()))

    def _eval_values(self, per_skill: Mapping[Any, float] | Sequence[float], kind: str) -> tuple[np.ndarray, np.ndarray]:
        if kind not in ("accuracy", "loss"):
            raise ConfigError(f"kind must be 'accuracy' or 'loss', got {kind!r}")
        if isinstance(per_skill, Mapping):
            lookup = {name: i for i, name in enumerate(self.skill_names)}
            skills: list[int] = []
            seen: set[int] = set()
            parts: list[np.ndarray] = []
            for k in per_skill:
                if isinstance(k, str) and k in lookup:
                    skills.append(lookup[k])
                elif is_int(k) \
                        and 0 <= k < self.n_skills:
                    skills.append(int(k))
                else:
                    raise UnknownTaskError(f"unknown skill {k!r}; known skills: {self.skill_names[:8]}")
                if skills[-1] in seen:  # by name and by index: which value is meant?
                    raise InvalidScoreError(f"skill {self.skill_names[skills[-1]]!r} is given twice (by name and "
                                            "by index); give one value per skill. Nothing was recorded")
                seen.add(skills[-1])
                # each value by itself: a one-element list, array or tensor gives its number; more than one (or a
                # set, a dict) is refused naming the skill (they were flattened into other skills' values)
                v, name = per_skill[k], self.skill_names[skills[-1]]
                try:
                    part = self._as_values(v, nonfinite=True)
                except InvalidScoreError as e:
                    raise InvalidScoreError(f"the {kind} of skill {name!r} must be one number: {e}") from None
                if part.size != 1:
                    raise InvalidScoreError(f"the {kind} of skill {name!r} must be one number, got "
                                            f"{type(v).__name__} {str(v)[:60]}; pass one value per skill. Nothing "
                                            "was recorded")
                parts.append(part)
            values = np.concatenate(parts) if parts else np.zeros(0)
        else:
            _one_value_each(per_skill, "skill", "a flat list, or a mapping of skill to number")
            values = self._as_values(per_skill, nonfinite=True)
            if len(values) != self.n_skills:
                raise InvalidScoreError(f"got {len(values)} values for {self.n_skills} skills")
            skills = list(range(self.n_skills))
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):  # (the per-example message named no skill, and per-skill metrics are not per example)
            raise InvalidScoreError(f"the {kind} of skill {self.skill_names[skills[bad[0]]]!r} is NaN or infinite "
                                    "(a skill without evaluation examples, or a diverged model); pass a mapping of "
                                    "the skills that have a finite metric. Nothing was recorded")
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
            # compared skill by skill: the same metrics in another key order on one rank (a mapping built
            # otherwise there) were refused as "other metrics"; every rank then tells them in rank 0's order, so
            # the replicas of the teacher stay identical
            orders = [np.argsort(s, kind="stable") for _, s, _ in got]
            digests = [fingerprint((k, s[o], v[o])) for (k, s, v), o in zip(got, orders)]
            if any(d != digests[0] for d in digests):
                r = next(r for r, d in enumerate(digests) if d != digests[0])
                raise InvalidScoreError(f"observe_eval got other metrics on rank {r} than on rank 0; reduce the "
                                        "evaluation over ranks first and pass the same values on every rank; "
                                        "nothing was recorded")
            kind, sk, values = got[0]
        if kind == "accuracy":
            self._tell(sk, values)
        else:
            self._tell(sk, self._loss_fn(sk, values))

    # ------------------------------------------------------------- reporting
    @property
    def pending(self) -> int:
        """Batches handed out that have not had feedback through ``observe_batch_*`` without explicit keys."""
        return len(self._pending)

    def mixture_history(self, what: str = "mixture") -> np.ndarray:
        """``(steps, n_skills)``: the teacher's mixture (``"mixture"``) or the batch shares (``"counts"``), one row
        per record of :attr:`history` (the newest ``max_history`` batches when it is set)."""
        if what not in ("mixture", "counts"):
            raise ConfigError(f"what must be 'mixture' (the teacher's mixture) or 'counts' (the batch shares), "
                              f"got {what!r}")
        if what == "counts":
            return np.asarray([h["counts"] for h in self.history], dtype=float).reshape(-1, self.n_skills) / self.batch_size
        return np.asarray([h["mixture"] for h in self.history], dtype=float).reshape(-1, self.n_skills)

    def samples_per_skill(self) -> np.ndarray:
        """Total examples drawn per skill so far (every batch, also those ``max_history`` dropped from the log)."""
        return self._drawn.copy()

    # ----------------------------------------------------------------- state
    def _agree_on_state(self, state: dict[str, Any], error: Exception | None) -> None:
        """Raise ``error`` (on every rank under a group), or if the ranks were given different states."""
        if self._ranks is None:
            if error is not None:
                raise error
            return
        digests = self._ranks.exchange(fingerprint(state) if error is None else "", error)
        if any(d != digests[0] for d in digests):
            raise ConfigError("load_state_dict got different states on different ranks; load the same "
                              "state_dict (for example rank 0's) on every rank")

    def _settings(self) -> dict[str, Any]:
        """The settings a saved state only resumes exactly with (saved with it, compared by ``load_state_dict``)."""
        return {"batch_size": self.batch_size, "mode": self.mode, "floor": self.floor,
                "loss_score": self._loss_score_key(module=False),
                "fixed": None if self.fixed_mixture is None else self.fixed_mixture.tolist()}

    def _settings_error(self, state: Any, strict: bool) -> ConfigError | None:
        """The refusal of a state saved with other settings (``strict``), naming them; None when they agree (or the
        state predates saved settings)."""
        bad_flag = flag_error(strict=strict)  # ("false" was strict)
        if bad_flag is not None:
            return bad_flag
        kinds = {"pools": "SkillSampler", "consumed": "SkillStream"}  # the key only each kind's state holds
        saved_kind = next((k for key, k in kinds.items() if isinstance(state, dict) and key in state), None)
        mine = next((k for k in kinds.values() if any(c.__name__ == k for c in type(self).__mro__)), None)
        if None not in (saved_kind, mine) and saved_kind != mine:
            return ConfigError(f"the saved state is a {saved_kind}'s, not a {mine}'s; load it into a {saved_kind} "
                               f"(a {mine} resumes only from a {mine}'s state_dict()). Nothing was changed.")
        saved = state.get("settings") if isinstance(state, dict) else None
        if saved is not None and not isinstance(saved, dict):  # (a damaged entry was taken for a state without one)
            return ConfigError(f"the saved state is malformed (its 'settings' entry is {type(saved).__name__} "
                               f"{str(saved)[:40]}, not a dict); load what state_dict() returned. Nothing was changed.")
        if not strict or not isinstance(saved, dict):
            return None
        differ = [f"{k}: saved {saved[k]!r}, here {v!r}" for k, v in self._settings().items()
                  if k in saved and not states_equal(saved[k], v)]
        if not differ:
            return None
        what = type(self).__name__
        return ConfigError(f"the saved state is of a {what} built with other settings ({'; '.join(differ)}); "
                           f"build the {what} with the saved settings to resume exactly, or pass strict=False to "
                           "load it anyway and keep this one's. Nothing was changed.")

    def _read_common(self, state: dict[str, Any]) -> dict[str, Any]:
        """The shared parts of ``state``, read and checked without applying anything (see :meth:`_load_common`)."""
        running = None if state.get("running") is None else np.asarray(state["running"], dtype=float)
        if running is not None and (running.shape != (self.n_skills,) or not np.isfinite(running).all()
                                    or (running < 0).any()):
            raise ValueError(f"running must hold {self.n_skills} finite losses >= 0")
        # (int() cut 1.5 to 1 and took a negative step; whole() raises a ConfigError, a ValueError: malformed)
        floor_next = whole("saved floor_next", state.get("floor_next", 0), 0, floats=True)
        dropped = whole("saved dropped", state.get("dropped", 0), 0, floats=True)
        step = whole("saved step", state["step"], 0, floats=True)
        if not 0 <= floor_next < self.n_skills:
            raise ValueError(f"floor_next must be a skill index in 0..{self.n_skills - 1}, got {floor_next}")
        history = [dict(h) for h in state["history"]]
        # a state saved before the totals were (they were the sum of the whole log, which it holds)
        drawn = (whole_array("history counts", [h["counts"] for h in history]).reshape(-1, self.n_skills).sum(0)
                 if state.get("drawn") is None else whole_array("drawn", state["drawn"]))
        if drawn.shape != (self.n_skills,) or (drawn < 0).any():
            raise ValueError(f"drawn must hold {self.n_skills} counts >= 0")
        keep_newest(history, self.max_history)
        return {"teacher": state["teacher"] if self.teacher is not None else None,
                "rng": restore_generator(state["rng"]), "step": step,
                "floor_next": floor_next, "dropped": dropped, "history": history, "drawn": drawn,
                # a batch waiting for feedback holds this mixer's keys (checked as feedback keys are)
                "pending": [self._resolve_keys(whole_array("pending", p), self.batch_size)
                            for p in state["pending"]],
                "running": running}

    @staticmethod
    def _malformed(e: Exception) -> ConfigError:
        return ConfigError(f"the saved state is malformed ({type(e).__name__}: {e}); load what state_dict() "
                           "returned. Nothing was changed.")

    def _load_common(self, common: dict[str, Any]) -> None:
        """Apply :meth:`_read_common` output; the teacher's state first (it refuses a foreign one unchanged)."""
        if self.teacher is not None:  # a state without the teacher's is refused here, not skipped
            self.teacher.load_state_dict(common["teacher"])
        self.rng = common["rng"]
        self.step = common["step"]
        self._floor_next = common["floor_next"]
        # a state saved with a larger max_pending may hold more waiting batches than this queue keeps: the oldest
        # are pushed out, as a full queue pushes them out, and their feedback is left out (not put on later batches)
        overflow = max(0, len(common["pending"]) - int(self._pending.maxlen or 0))
        self._dropped = common["dropped"] + overflow
        self.history = common["history"]
        self._drawn = common["drawn"]
        self._pending = collections.deque(common["pending"], maxlen=self._pending.maxlen)
        if common["running"] is not None and hasattr(self, "_running"):
            self._running.reference = common["running"].copy()

    def _common_state(self) -> dict[str, Any]:
        return {"settings": self._settings(), "rng": generator_state(self.rng), "step": self.step,
                "floor_next": self._floor_next,
                "dropped": self._dropped,
                "history": [dict(h) for h in self.history], "drawn": self._drawn.tolist(),
                "pending": [p.copy() for p in self._pending],
                "running": None if not hasattr(self, "_running") else self._running.reference.copy(),
                "teacher": None if self.teacher is None else self.teacher.state_dict()}
