"""A simulated person learning a sequence of classes, on the people package's memory model.

Each class is one item of an FSRS memory (:class:`magister.people.FSRSMemory`,
published default weights). Phase ``t`` happens on day ``t``: the person
studies the new class (a first review graded "good") and then reviews
earlier classes, as many as the phase's rehearsal allows, chosen by the
rehearsal weights, a minute apart (closer when that many would not fit in
the day). A review is recalled with the model's recall probability
(drawn from the person's generator): grade "good" if recalled, "again"
otherwise, and the memory is updated either way.

Similar classes interfere (retroactive interference): when class ``k`` is
studied after class ``j`` was last studied, recognising ``j`` is harder by
``interference * s[j, k]`` (``s`` the class similarity rescaled to [0, 1]),
the worst such ``k`` counting, until ``j`` is studied again. The accuracy on a
class, measured just before the next day, is its recall probability times
``1 - interference``. Same interface as :class:`~magister.continual.learners.MLPLearner`
(``learn``, ``evaluate``, ``seen``, ``replay``, ``replayed``).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..errors import ConfigError
from ..people.events import DAY, Event
from ..people.memory import FSRSMemory
from ..settings import fraction, whole
from .learners import check_rehearsal

__all__ = ["SimulatedPerson"]


class SimulatedPerson:
    """A person who learns classes one a day and forgets them (see the module docstring).

    Args:
        similarity: ``(K, K)`` class similarity (any scale; rescaled to [0, 1] off the diagonal).
        rng: Generator for the review outcomes.
        replay: Reviews per phase at the base rehearsal amount (a teacher's ``amount`` multiplies it).
        interference: Largest share of a class's recognition lost to a similar class studied after it, in [0, 1].
    """

    def __init__(self, similarity: Any, rng: np.random.Generator, *, replay: int = 3, interference: float = 0.3):
        try:
            s = np.array(similarity, dtype=float)
        except (TypeError, ValueError, OverflowError):  # text or a ragged list: numpy's own error escaped
            raise ConfigError("similarity must be a square matrix of numbers (a list of lists)") from None
        if s.ndim != 2 or s.shape[0] != s.shape[1] or s.shape[0] < 2:
            raise ConfigError(f"similarity must be a finite square (K, K) matrix with K >= 2, got shape {s.shape}")
        if not np.isfinite(s).all():  # (the message named only the shape, which was right)
            i, j = (int(v) for v in np.argwhere(~np.isfinite(s))[0])
            raise ConfigError(f"similarity must be finite; S[{i}, {j}] is {s[i, j]}: fill it (0 for classes with "
                              "nothing in common, 1 for the same)")
        if not isinstance(rng, np.random.Generator):
            raise ConfigError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
        self.k = s.shape[0]
        off = ~np.eye(self.k, dtype=bool)
        lo, hi = s[off].min(), s[off].max()
        self.sim = np.where(off, (s - lo) / (hi - lo) if hi > lo else 0.0, 0.0)
        self.rng = rng
        self.replay = whole("replay", replay, 0)
        self.interference = fraction("interference", interference)
        self.memory = FSRSMemory()
        self.day = 0
        self.seen: list[int] = []
        self.hurt = np.zeros(self.k)  # current interference on each class
        self.replayed = 0

    def _study(self, c: int, grade: float, time: float) -> None:
        self.memory.update(Event(learner="person", item=str(c), timestamp=time, outcome=grade))
        self.hurt[c] = 0.0
        others = [j for j in self.seen if j != c]
        if others:
            self.hurt[others] = np.maximum(self.hurt[others], self.interference * self.sim[others, c])

    def _recall(self, c: int, time: float) -> float:
        return self.memory.predict("person", str(c), time)

    def learn(self, x: Any, c: int, rehearsal: Mapping[int, float] | None = None, replay: int | None = None) -> int:
        """Study class ``c`` today, then review earlier classes (``replay`` reviews, by ``rehearsal`` weights)."""
        c = whole("class", c, 0, floats=True)
        if not c < self.k:
            raise ConfigError(f"class {c!r} is not one of this person's classes 0..{self.k - 1}")
        n = self.replay if replay is None else whole("replay", replay, 0)
        check_rehearsal(rehearsal, self.k)
        t0 = self.day * DAY
        earlier = [j for j in self.seen if j != c]
        if c not in self.seen:
            self.seen.append(c)
        self._study(c, 3.0, t0)
        done = 0
        # a minute apart, closer when that many would spill past the end of the day (the accuracy is measured
        # just before the next day, and the next class is studied then: no review may come after either)
        gap = min(60.0, (DAY - 2.0) / (n + 1))
        if earlier and n:
            w = np.array([max(float(rehearsal.get(j, 0.0)), 0.0) for j in earlier]) if rehearsal else None
            if w is None or not w.sum() > 0:
                w = np.ones(len(earlier))
            counts = self.rng.multinomial(n, w / w.sum())
            for i, (j, m) in enumerate(zip(earlier, counts)):
                for r in range(int(m)):
                    time = t0 + gap * (1 + done)
                    p = self._recall(j, time) * (1.0 - self.hurt[j])
                    self._study(j, 3.0 if self.rng.random() < p else 1.0, time)
                    done += 1
        self.day += 1
        self.replayed += done
        return done

    def evaluate(self, data: Any = None) -> np.ndarray:
        """Chance of recognising each class just before the next day (NaN for classes not studied)."""
        out = np.full(self.k, np.nan)
        time = self.day * DAY - 1.0
        for c in self.seen:
            out[c] = self._recall(c, time) * (1.0 - self.hurt[c])
        return out
