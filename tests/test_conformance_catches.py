"""The conformance suite is shown to catch what it promises to catch.

One small correct teacher passes ``check_teacher``; each deliberately broken
variant of it breaks one promise of the contract, and the suite must fail on it
with the check for that promise named (issue 12, items 13 and 15).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from magister import teacher as teacher_module
from magister.errors import ConfigError
from magister.spaces import Box
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


def _check(cls: type[Teacher], monkeypatch: pytest.MonkeyPatch) -> None:
    # registered for the test only (magister.load looks teachers up by name), never left in the registry
    monkeypatch.setattr(cls, "name", f"test-{cls.__name__.lower()}")
    monkeypatch.setitem(teacher_module._REGISTRY, cls.name, cls)
    check_teacher(lambda space, seed: cls(space, seed=seed), kind="continuous", steps=60)


def _fails(cls: type[Teacher], monkeypatch: pytest.MonkeyPatch, check: str, words: str) -> None:
    with pytest.raises(AssertionError) as info:
        _check(cls, monkeypatch)
    msg = str(info.value)
    assert msg.startswith(f"conformance check {check}["), msg
    assert words in msg, msg


def test_a_correct_teacher_passes(monkeypatch):
    _check(Bins, monkeypatch)


class CountsRefusedProposals(Bins):
    """Counts a propose(k) call before the base class refuses a bad k."""

    def propose(self, k=None):
        self.n_proposed += 1
        return super().propose(k)


def test_counting_a_refused_proposal_is_caught(monkeypatch):
    _fails(CountsRefusedProposals, monkeypatch, "bad_input", "a refused propose(k) was counted")


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


@pytest.mark.parametrize("cls,check,words", [
    (IgnoresSeed, "determinism", "a different seed gave exactly the same proposals"),
    (ForgetsStateOnSave, "resume", "reloaded"),
    (MutatesOnRefusedInput, "bad_input", "refused input changed the teacher's state"),
    (AcceptsBadScores, "bad_input", "observe accepted the bad score inf"),
    (ProposesOutsideTheSpace, "in_space", "is outside Box"),
    (RepeatsOneTaskPerBatch, "batch_propose", "differ in mean"),
    (LosesBatchedObservations, "batch_observe", "observe_batch left a different state"),
    (UnserialisableBeliefs, "beliefs", "JSON"),
    (AcceptsForeignState, "bad_state", "accepted a state of another teacher or space"),
    (ForgetsItsSettings, "settings", "could not be reloaded after the class defaults changed"),
    (ForgetsOneSetting, "settings", "proposed differently"),
    (ReadsDefaultsAtRunTime, "settings", "proposed differently"),
    (InfoWithoutFlags, "infos", "lacks boolean 'train' and 'replay'"),
    (InfoDrawsAgain, "infos", "drew other tasks than propose"),
], ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_the_suite_fails_a_broken_teacher_naming_the_broken_promise(cls, check, words, monkeypatch):
    _fails(cls, monkeypatch, check, words)
