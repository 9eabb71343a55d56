"""The conformance suite is shown to catch what it promises to catch.

One small correct teacher passes ``check_teacher``; each deliberately broken
variant of it breaks one promise of the contract, and the suite must fail on it
with the check for that promise named (issue 12, items 13 and 15).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from magister import teacher as teacher_module
from magister.errors import ConfigError, InvalidScoreError
from magister.spaces import Box, Discrete
from magister.teacher import Teacher
from magister.testing import check_teacher


class Bins(Teacher):
    """A correct little teacher: splits the first unit coordinate into ``bins`` and favours low-scoring bins."""

    name = "test-bins"
    kind = "continuous"

    def __init__(self, space, *, seed=None, score_range=None, bins: int = 4, spread: float = 0.5):
        super().__init__(space, seed=seed, score_range=score_range)
        if int(bins) < 1:
            raise ConfigError("bins must be >= 1")
        self.bins, self.spread = int(bins), float(spread)
        self.sums, self.counts = np.zeros(self.bins), np.zeros(self.bins)

    def _weights(self) -> np.ndarray:
        w = np.clip(1.0 - self.sums / np.maximum(self.counts, 1.0), 0.0, 1.0) + self.spread
        return w / w.sum()

    def _propose(self, k: int) -> np.ndarray:
        b = self.rng.choice(self.bins, size=k, p=self._weights())
        u = self.rng.random((k, self.space.dim))
        u[:, 0] = (b + u[:, 0]) / self.bins
        return u

    def _bin(self, x: np.ndarray) -> np.ndarray:
        return np.minimum((x[:, 0] * self.bins).astype(int), self.bins - 1)

    def _observe(self, x: np.ndarray, scores: np.ndarray) -> None:
        b = self._bin(x)
        np.add.at(self.sums, b, scores)
        np.add.at(self.counts, b, 1.0)

    def _get_state(self) -> dict[str, Any]:
        return {"sums": self.sums.copy(), "counts": self.counts.copy()}

    def _set_state(self, state: dict[str, Any]) -> None:
        sums, counts = np.asarray(state["sums"], dtype=float), np.asarray(state["counts"], dtype=float)
        if sums.shape != (self.bins,) or counts.shape != (self.bins,):
            raise ValueError("saved bins do not match")
        self.sums, self.counts = sums.copy(), counts.copy()

    def _beliefs(self) -> dict[str, Any]:
        return {"kind": "bins", "probability": self._weights()}


def _check(cls: type[Teacher], monkeypatch: pytest.MonkeyPatch, kind: str = "continuous") -> None:
    # registered for the test only (magister.load looks teachers up by name), never left in the registry
    monkeypatch.setattr(cls, "name", f"test-{cls.__name__.lower()}")
    monkeypatch.setitem(teacher_module._REGISTRY, cls.name, cls)
    check_teacher(lambda space, seed: cls(space, seed=seed), kind=kind, steps=60)


def _fails(cls: type[Teacher], monkeypatch: pytest.MonkeyPatch, check: str, words: str,
           kind: str = "continuous") -> None:
    with pytest.raises(AssertionError) as info:
        _check(cls, monkeypatch, kind)
    msg = str(info.value)
    assert msg.startswith(f"conformance check {check}["), msg
    assert words in msg, msg


@pytest.mark.parametrize("kind", ["continuous", "any"])
def test_a_correct_teacher_passes(monkeypatch, kind):
    _check(Bins, monkeypatch, kind)


class NumpyBeliefs(Bins):
    """Beliefs holding numpy scalars and arrays below the top level (np.float32, np.int64 and np.bool_ are not
    JSON; only a top-level array was turned into a list, so the suite failed this teacher)."""

    def _beliefs(self):
        w = self._weights()
        return {"kind": "bins", "per_bin": {str(i): np.float32(v) for i, v in enumerate(w)},
                "count": np.int64(self.counts.sum()), "tried": {"any": np.bool_(self.counts.sum() > 0)},
                "bins": [{"edges": np.array([i, i + 1]) / self.bins, "weight": w[i]} for i in range(self.bins)],
                "best": (np.int64(np.argmax(w)), np.float64(w.max()))}


def test_numpy_scalars_and_arrays_anywhere_in_beliefs_come_out_as_plain_python(monkeypatch):
    _check(NumpyBeliefs, monkeypatch)
    t = NumpyBeliefs(Box([0.0], [1.0]), seed=0)
    for _ in range(5):
        t.observe(t.propose(), 0.5)
    b = t.beliefs()
    assert type(b["per_bin"]["0"]) is float and type(b["count"]) is int and b["count"] == 5
    assert b["tried"] == {"any": True} and type(b["tried"]["any"]) is bool
    assert b["bins"][1]["edges"] == [0.25, 0.5] and type(b["bins"][1]["weight"]) is float
    assert type(b["best"]) is tuple and [type(v) for v in b["best"]] == [int, float]


class CountsRefusedProposals(Bins):
    """Counts a propose(k) call before the base class refuses a bad k."""

    def propose(self, k=None):
        self.n_proposed += 1
        return super().propose(k)


def test_counting_a_refused_proposal_is_caught(monkeypatch):
    _fails(CountsRefusedProposals, monkeypatch, "bad_input", "a refused propose(k) was counted")


class RoundRobin(Teacher):
    """A correct deterministic teacher: each task in turn, no random number drawn (was failed by ``determinism``:
    a different seed gave the same proposals)."""

    kind = "discrete"

    def __init__(self, space, *, seed=None, score_range=None):
        super().__init__(space, seed=seed, score_range=score_range)
        self.next = 0

    def _propose(self, k):
        out = (self.next + np.arange(k)) % self.space.n
        self.next = int((self.next + k) % self.space.n)
        return out

    def _observe(self, x, scores):
        pass

    def _get_state(self):
        return {"next": self.next}

    def _set_state(self, state):
        self.next = int(state["next"])


def test_a_deterministic_teacher_passes(monkeypatch):
    _check(RoundRobin, monkeypatch, "discrete")


class ContinuousOnly(Bins):
    """Refuses a finite space with a TypeError of its own (check_teacher's guess of the kind crashed on it)."""

    def __init__(self, space, **settings):
        if space.n is not None:
            raise TypeError("this teacher takes continuous spaces only")
        super().__init__(space, **settings)


def test_the_kind_is_guessed_for_a_teacher_refusing_finite_spaces(monkeypatch):
    monkeypatch.setattr(ContinuousOnly, "name", "test-continuousonly")
    monkeypatch.setitem(teacher_module._REGISTRY, ContinuousOnly.name, ContinuousOnly)
    check_teacher(lambda space, seed: ContinuousOnly(space, seed=seed), steps=60)


def test_a_factory_that_does_not_take_space_and_seed_is_refused_naming_the_call():
    """check_teacher(lambda seed: ...) caught the TypeError of its first call, took the teacher for a continuous
    one refusing Discrete(3), and failed "conformance check in_space[Box(...)]: <lambda>() takes 1 positional
    argument but 2 were given", as if a check of the teacher had failed."""
    with pytest.raises(TypeError, match=r"calls factory\(space, seed\).*lambda space, seed: MyTeacher"):
        check_teacher(lambda seed: Bins(Box([0], [1]), seed=seed))


class IgnoresSeed(Bins):
    def __init__(self, space, *, seed=None, score_range=None, **settings):
        super().__init__(space, seed=0, score_range=score_range, **settings)


class ForgetsStateOnSave(Bins):
    def _get_state(self):
        return {"sums": self.sums.copy(), "counts": np.zeros(self.bins)}


class MutatesOnRefusedInput(Bins):
    def observe(self, task, score):
        self.counts[0] += 1.0  # recorded before the base class checks (and refuses) the input
        super().observe(task, score)


class AcceptsBadScores(Bins):
    def observe(self, task, score):
        if isinstance(score, float) and not np.isnan(score):
            score = min(max(score, self.score_range.low), self.score_range.high)  # clips instead of refusing
        super().observe(task, score)


class ProposesOutsideTheSpace(Bins):
    def _decode(self, enc):
        tasks = super()._decode(enc)
        return tasks + 0.5 * (self.space.high - self.space.low) if isinstance(self.space, Box) else tasks


class RepeatsOneTaskPerBatch(Bins):
    def _propose(self, k):
        return np.repeat(super()._propose(1), k, axis=0)


class LosesBatchedObservations(Bins):
    def _observe(self, x, scores):
        super()._observe(x[:1], scores[:1])  # only the first outcome of a batch


class UnserialisableBeliefs(Bins):
    def _beliefs(self):
        return {"kind": "bins", "bins": {self.bins}}


class AcceptsForeignState(Bins):
    def load_state_dict(self, state):
        if isinstance(state, dict):
            state = dict(state, space=self.space.to_spec(), teacher=self.name)
        super().load_state_dict(state)


class ForgetsItsSettings(Bins):
    """Saves no settings (what riac-plus did): a reload takes whatever the defaults are then."""

    def config(self):
        return {}


class ForgetsOneSetting(Bins):
    def config(self):
        return {k: v for k, v in super().config().items() if k != "spread"}


class ReadsDefaultsAtRunTime(Bins):
    DEFAULTS = {"spread": 0.5}

    def _weights(self):
        w = np.clip(1.0 - self.sums / np.maximum(self.counts, 1.0), 0.0, 1.0) + self.DEFAULTS["spread"]
        return w / w.sum()


class InfoWithoutFlags(Bins):
    def _propose_info(self, k):
        return [{"train": 1} for _ in range(k)]


class InfoDrawsAgain(Bins):
    def propose_with_info(self, k=None):
        self.rng.random()  # an extra draw: propose_with_info no longer matches propose
        return super().propose_with_info(k)


class KeepsALambda(Bins):
    """Keeps a lambda (what the level teachers did on a Discrete space): copy.deepcopy works, pickle does not."""

    def __init__(self, space, **settings):
        super().__init__(space, **settings)
        self.squash = lambda w: w / w.sum()


class ShallowCopies(Bins):
    """A deepcopy that shares its generator and arrays with the original."""

    def __deepcopy__(self, memo):
        return copy.copy(self)


@pytest.mark.parametrize("cls,check,words", [
    (KeepsALambda, "copies", "the teacher cannot be pickled"),
    (ShallowCopies, "copies", "changed the original: the two share state"),
    (IgnoresSeed, "determinism", "a different seed gave exactly the same proposals"),
    (ForgetsStateOnSave, "resume", "reloaded"),
    (MutatesOnRefusedInput, "bad_input", "refused input changed the teacher's state"),
    (AcceptsBadScores, "bad_input", "observe accepted the bad score inf"),
    (ProposesOutsideTheSpace, "in_space", "is outside Box"),
    (RepeatsOneTaskPerBatch, "batch_propose", "differ in mean"),
    (LosesBatchedObservations, "batch_observe", "observe_batch left a different state"),
    (UnserialisableBeliefs, "beliefs", "JSON-serialisable without NaN or infinity (Object of type set is not JSON "
                                       "serializable; at ['bins'] = {4} of type set)"),  # where, not only what
    (AcceptsForeignState, "bad_state", "accepted a state of another teacher or space"),
    (ForgetsItsSettings, "settings", "could not be reloaded after the class defaults changed"),
    (ForgetsOneSetting, "settings", "proposed differently"),
    (ReadsDefaultsAtRunTime, "settings", "proposed differently"),
    (InfoWithoutFlags, "infos", "lacks boolean 'train' and 'replay'"),
    (InfoDrawsAgain, "infos", "drew other tasks than propose"),
], ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_the_suite_fails_a_broken_teacher_naming_the_broken_promise(cls, check, words, monkeypatch):
    _fails(cls, monkeypatch, check, words)


# ---------------------------------------------------------------------------------------------------------------
# Mutation tests of the suite: each teacher below breaks one promise the way a real bug could; the ones marked
# "was missed" passed the suite before it was strengthened.


class DrawsFromTheGlobalRng(Bins):
    def _propose(self, k):
        u = super()._propose(k)
        u[:, -1] = np.random.random(k)  # numpy's global generator, not self.rng
        return u


class SeedsTheGlobalRng(DrawsFromTheGlobalRng):
    """Seeds numpy's global generator with its own seed: two runs one after the other agree (was caught only by
    ``resume``; the determinism check now interleaves its twins)."""

    def __init__(self, space, *, seed=None, **settings):
        super().__init__(space, seed=seed, **settings)
        if seed is not None:
            np.random.seed(seed)


class UnseededSecondGenerator(Bins):
    def __init__(self, space, **settings):
        super().__init__(space, **settings)
        self.jitter = np.random.default_rng()

    def _propose(self, k):
        u = super()._propose(k)
        u[:, -1] = self.jitter.random(k)
        return u


class RefitCounterNotSaved(Bins):
    """Refits its weights every 20 observations; the count since the last refit is not saved (was missed: the
    suite saved after 60 / 120 observations, just after a refit)."""

    def __init__(self, space, **settings):
        super().__init__(space, **settings)
        self.since, self.w = 0, np.full(self.bins, 1.0 / self.bins)

    def _weights(self):
        return self.w

    def _observe(self, x, scores):
        super()._observe(x, scores)
        for _ in range(len(scores)):
            self.since += 1
            if self.since == 20:
                self.since, self.w = 0, Bins._weights(self)

    def _get_state(self):
        return dict(super()._get_state(), w=self.w.copy())

    def _set_state(self, state):
        super()._set_state(state)
        self.w = np.asarray(state["w"], dtype=float).copy()


class LateCounterNotSaved(Bins):
    """A count that only matters after 500 observations is not saved (was missed: no check runs that long)."""

    def __init__(self, space, **settings):
        super().__init__(space, **settings)
        self.total = 0

    def _observe(self, x, scores):
        super()._observe(x, scores)
        self.total += len(scores)

    def _weights(self):
        w = super()._weights()
        return w[::-1].copy() if self.total > 500 else w


class PrefetchNotSaved(Bins):
    """Draws proposals two at a time and keeps the spare; the spare is not saved, so a teacher reloaded after an odd
    number of proposals differs from the second proposal on (was missed: saved after an even number)."""

    def __init__(self, space, **settings):
        super().__init__(space, **settings)
        self.spare = None

    def _propose(self, k):
        out = []
        for _ in range(k):
            if self.spare is None:
                two = super()._propose(2)
                out.append(two[0])
                self.spare = two[1]
            else:
                out.append(self.spare)
                self.spare = None
        return np.array(out)


class ForgetsTheRngOnLoad(Bins):
    def load_state_dict(self, state, **kw):
        rng = self.rng
        super().load_state_dict(state, **kw)
        self.rng = rng


class OvershootsTheBox(Bins):
    """Noise around the bin, clipped to [0, 1 + 1e-9] in unit space and decoded by hand."""

    def _propose(self, k):
        return np.clip(super()._propose(k) + self.rng.normal(0, 0.2, (k, self.space.dim)), 0.0, 1.0 + 1e-9)

    def _decode(self, enc):
        return self.space.low + enc * self.space._width if isinstance(self.space, Box) else super()._decode(enc)


class IndexNInBatches(Teacher):
    """A discrete teacher whose batched path computes floor(u * (n + 1)) and decodes without a range check."""

    kind = "discrete"

    def __init__(self, space, *, seed=None, score_range=None):
        super().__init__(space, seed=seed, score_range=score_range)
        self.counts = np.zeros(space.n)

    def _propose(self, k):
        n = self.space.n
        return self.rng.integers(0, n, 1) if k == 1 else np.minimum((self.rng.random(k) * (n + 1)).astype(int), n)

    def _decode(self, enc):
        if isinstance(self.space, Discrete) and self.space.names is None:
            return [int(i) for i in enc]
        return super()._decode(enc)

    def _observe(self, x, scores):
        np.add.at(self.counts, x, 1.0)

    def _get_state(self):
        return {"counts": self.counts.copy()}

    def _set_state(self, state):
        self.counts = np.asarray(state["counts"], dtype=float).copy()


class IndicesAsAColumn(IndexNInBatches):
    """_propose(k) returns indices of shape (k, 1) (failed with numpy's "only 0-dimensional arrays can be converted
    to Python scalars", naming neither _propose nor the shape it must return)."""

    def _propose(self, k):
        return self.rng.integers(0, self.space.n, (k, 1))

    _decode = Teacher._decode


class UnitVectorsTransposed(Bins):
    """_propose(k) returns (dim, k): reshaped into other tasks without a word (was missed on Boxes)."""

    def _propose(self, k):
        return super()._propose(k).T


class ProposesOneTooMany(Bins):
    def _propose(self, k):
        return super()._propose(k + 1)


class CountsABadScore(Bins):
    def observe(self, task, score):
        if not (isinstance(score, float) and np.isfinite(score)):
            self.counts[-1] += 1.0  # before the base class refuses it
        super().observe(task, score)


class RecordsHalfABatch(Bins):
    """observe_batch records the first half before the second half is checked."""

    def observe_batch(self, tasks, scores):
        tasks, scores = list(tasks), list(scores)
        if len(tasks) != len(scores):
            raise InvalidScoreError("one score per task")
        h = len(tasks) // 2
        super().observe_batch(tasks[:h], scores[:h])
        super().observe_batch(tasks[h:], scores[h:])


class ProposeOneGivesATask(Bins):
    """propose(1) returns the task itself, not a sequence of one (was missed)."""

    def propose(self, k=None):
        out = super().propose(k)
        return out[0] if k == 1 else out


class ShortSmallBatches(Bins):
    """propose(k) drops the last task for small k (was caught only by chance, by ``infos``)."""

    def propose(self, k=None):
        out = super().propose(k)
        return out[:-1] if k is not None and 2 <= k <= 5 else out


class BatchesGiveIndices(Bins):
    """propose(k) on a named Discrete gives numpy indices, propose() names (was missed: indices are valid tasks)."""

    def propose(self, k=None):
        out = super().propose(k)
        if k is not None and isinstance(self.space, Discrete) and self.space.names:
            return [np.int64(self.space.index(t)) for t in out]
        return out


class BatchesGiveLists(Bins):
    """propose(k) on a Box gives lists of floats, propose() arrays (was missed)."""

    def propose(self, k=None):
        out = super().propose(k)
        return [[float(v) for v in row] for row in out] if k is not None and isinstance(self.space, Box) else out


class NanBeliefs(Bins):
    """Reports each bin's coefficient of variation: 0/0 for a bin whose scores are all 0 (was missed: json.dumps
    writes NaN unless told not to)."""

    def _beliefs(self):
        m = self.sums / np.maximum(self.counts, 1.0)
        with np.errstate(all="ignore"):
            cv = np.sqrt(m * (1 - m)) / m
        return dict(super()._beliefs(), cv=cv)


class NanAfterPerfectScores(Bins):
    """Weights 1 - mean score, normalised: every score at the top of the range gives 0/0, and the teacher falls
    back to uniform proposals while believing NaN (was missed: no check gives only perfect scores)."""

    def __init__(self, space, **settings):
        super().__init__(space, **settings)
        self.p = np.full(self.bins, 1.0 / self.bins)

    def _weights(self):
        return self.p

    def _observe(self, x, scores):
        super()._observe(x, scores)
        w = (1.0 - self.sums / np.maximum(self.counts, 1.0)) * (self.counts > 0) + (self.counts == 0)
        with np.errstate(all="ignore"):
            self.p = w / w.sum()

    def _propose(self, k):
        p = self.p if np.isfinite(self.p).all() else np.full(self.bins, 1.0 / self.bins)
        b = self.rng.choice(self.bins, size=k, p=p)
        u = self.rng.random((k, self.space.dim))
        u[:, 0] = (b + u[:, 0]) / self.bins
        return u

    def _get_state(self):
        return dict(super()._get_state(), p=self.p.copy())

    def _set_state(self, state):
        p = np.asarray(state["p"], dtype=float)
        if p.shape != (self.bins,):
            raise ValueError("saved weights do not match the bins")
        super()._set_state(state)
        self.p = p.copy()


class KeysTasksByForm(Bins):
    """Counts distinct tasks by their raw form: a list and an array of the same point are two tasks (was missed)."""

    def __init__(self, space, **settings):
        super().__init__(space, **settings)
        self.seen: dict[str, int] = {}

    def _key(self, task):
        return task.tobytes().hex() if isinstance(task, np.ndarray) else repr(task)

    def observe(self, task, score):
        super().observe(task, score)
        self.seen[self._key(task)] = self.seen.get(self._key(task), 0) + 1

    def observe_batch(self, tasks, scores):
        super().observe_batch(tasks, scores)
        for t in tasks:
            self.seen[self._key(t)] = self.seen.get(self._key(t), 0) + 1

    def _get_state(self):
        return dict(super()._get_state(), seen=dict(self.seen))

    def _set_state(self, state):
        super()._set_state(state)
        self.seen = {k: int(v) for k, v in state["seen"].items()}  # (a count kept as saved, "1" too, fails bad_state)


class KeepsTheCallersArrays(Bins):
    """Keeps the last tasks observed as the caller's own arrays: a caller that reuses its buffer rewrites the
    teacher's memory (was missed)."""

    def __init__(self, space, **settings):
        super().__init__(space, **settings)
        self.recent: list[Any] = []

    def observe(self, task, score):
        super().observe(task, score)
        self.recent = (self.recent + [task])[-4:]

    def observe_batch(self, tasks, scores):
        super().observe_batch(tasks, scores)
        self.recent = (self.recent + list(tasks))[-4:]

    def _get_state(self):
        return dict(super()._get_state(), recent=[self.space.to_unit(self.space.validate(t)) for t in self.recent])

    def _set_state(self, state):
        super()._set_state(state)
        self.recent = [self.space.from_unit(np.asarray(u)) for u in state["recent"]]


class ListIsABatch(Bins):
    """observe() takes a list as several tasks (was missed: the suite observed tasks only as proposed)."""

    def observe(self, task, score):
        if isinstance(task, list) and not isinstance(self.space, Box):
            return self.observe_batch(task, [score] * len(task))
        return super().observe(task, score)


class BeliefsDraw(Bins):
    """beliefs() draws a sample with the teacher's own generator, so asking for a plot changes the curriculum."""

    def _beliefs(self):
        return dict(super()._beliefs(), sample=self.rng.random(2).tolist())


class BeliefsRefit(RefitCounterNotSaved):
    """beliefs() refits the weights between the periodic refits (was missed)."""

    def _get_state(self):
        return dict(super()._get_state(), since=self.since)

    def _set_state(self, state):
        super()._set_state(state)
        self.since = int(state["since"])

    def _beliefs(self):
        self.w = Bins._weights(self)
        return {"probability": self.w}


class AppliesStateBeforeChecking(Bins):
    """Takes a state's rng, counters and algorithm before the base refuses it for another space or teacher: the
    refused states were the fresh teacher's own, so what it took changed nothing and the suite passed it."""

    def load_state_dict(self, state, *, strict=True):
        if isinstance(state, dict) and "algorithm" in state:
            from magister.rng import restore_generator

            self._set_state(state["algorithm"])
            self.rng = restore_generator(state["rng"])
        super().load_state_dict(state, strict=strict)


class KeepsAMistypedCount(Bins):
    """Keeps a saved count as it was saved, the string "3" too: load_state_dict cannot see a coercion (there is
    none), and the teacher went on counting from a string."""

    def __init__(self, space, **settings):
        super().__init__(space, **settings)
        self.rounds = 0

    def _observe(self, x, scores):
        super()._observe(x, scores)
        self.rounds += len(scores)

    def _get_state(self):
        return dict(super()._get_state(), rounds=self.rounds)

    def _set_state(self, state):
        super()._set_state(state)
        self.rounds = state["rounds"]


class BeliefsNone(Bins):
    """Returns nothing from _beliefs: beliefs() failed with dict.update's raw "'NoneType' object is not iterable"."""

    def _beliefs(self):
        return None


class BeliefsAsAList(Bins):
    """Returns a list from _beliefs: beliefs() failed with "cannot convert dictionary update sequence element"."""

    def _beliefs(self):
        return [float(w) for w in self._weights()]


class StateAsAList(Bins):
    """Returns a list from _get_state: save wrote it, and every load refused the file as "not a teacher state
    dict (its 'algorithm' entry is list ...); use Teacher.state_dict() output", naming no hook."""

    def _get_state(self):
        return [self.sums.copy(), self.counts.copy()]

    def _set_state(self, state):
        self.sums, self.counts = np.array(state[0], dtype=float), np.array(state[1], dtype=float)


@pytest.mark.parametrize("cls,check,words,kind", [
    (DrawsFromTheGlobalRng, "determinism", "gave different proposals: draw every random number from the teacher's "
     "own self.rng", "continuous"),
    (SeedsTheGlobalRng, "determinism", "same seed and same observations gave different proposals", "continuous"),
    (UnseededSecondGenerator, "determinism", "same seed and same observations gave different proposals",
     "continuous"),
    (RefitCounterNotSaved, "resume", "differs in .since", "continuous"),
    (LateCounterNotSaved, "resume", "return it from _get_state and restore it in _set_state", "continuous"),
    (IndicesAsAColumn, "in_space", "_propose returned ndarray of shape (1, 1); a 'discrete' teacher's", "discrete"),
    (UnitVectorsTransposed, "in_space", "returns unit vectors of shape (k, 2)", "continuous"),
    (ProposesOneTooMany, "in_space", "_propose(1) gave 2 tasks", "continuous"),
    (LateCounterNotSaved, "resume", "differs in .total", "continuous"),
    (PrefetchNotSaved, "resume", "proposed differently from one that never stopped", "continuous"),
    (ForgetsTheRngOnLoad, "resume", "reloaded state differs from the saved one", "continuous"),
    (OvershootsTheBox, "in_space", "is outside Box", "continuous"),
    (IndexNInBatches, "in_space", "proposal 7 is outside Discrete(7)", "discrete"),
    (CountsABadScore, "bad_input", "refused input changed the teacher's state", "continuous"),
    (RecordsHalfABatch, "bad_input", "refused input changed the teacher's state", "continuous"),
    (ProposeOneGivesATask, "in_space", "propose(1) did not return a sequence of 1 tasks", "continuous"),
    (ShortSmallBatches, "in_space", "propose(2) did not return a sequence of 2 tasks", "continuous"),
    (BatchesGiveIndices, "in_space", "not in the space's own form 'add'", "any"),
    (BatchesGiveLists, "in_space", "not in the space's own form", "continuous"),
    (NanBeliefs, "beliefs", "without NaN or infinity", "continuous"),
    (NanAfterPerfectScores, "extremes", "after scores all at the top of the range", "continuous"),
    (KeysTasksByForm, "task_forms", "written another way", "continuous"),
    (KeepsTheCallersArrays, "task_forms", "left another state", "continuous"),
    (ListIsABatch, "task_forms", "InvalidTaskError", "any"),
    (BeliefsDraw, "beliefs", "beliefs() before observations changed the teacher's state", "continuous"),
    (BeliefsRefit, "beliefs", "beliefs() after observations changed the teacher's state", "continuous"),
    (AppliesStateBeforeChecking, "bad_state", "a refused state dict changed the teacher", "continuous"),
    (KeepsAMistypedCount, "bad_state", "took a state with algorithm['rounds'] (as a string) of another type",
     "continuous"),
    (BeliefsNone, "beliefs", "BeliefsNone._beliefs returned NoneType None, not a dict", "continuous"),
    (BeliefsAsAList, "beliefs", "BeliefsAsAList._beliefs returned list [", "continuous"),
    (StateAsAList, "resume", "StateAsAList._get_state returned list [", "continuous"),
], ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_the_suite_catches_a_mutant(cls, check, words, kind, monkeypatch):
    _fails(cls, monkeypatch, check, words, kind)


class TakesShortState(Bins):
    """Takes saved arrays of any length: a damaged checkpoint with a bin fewer is loaded, and the next proposal
    fails (the people policies took a learner model whose items did not fit theirs this way)."""

    def _set_state(self, state):
        self.sums, self.counts = np.asarray(state["sums"], dtype=float), np.asarray(state["counts"], dtype=float)


def test_a_damaged_state_taken_then_failing_is_caught(monkeypatch):
    _fails(TakesShortState, monkeypatch, "bad_state", "load_state_dict took a state damaged at algorithm['sums']")
