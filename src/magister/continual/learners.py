"""A small continual learner: a one-hidden-layer network trained in one pass per class.

:class:`MLPLearner` is a numpy network (ReLU hidden layer, one softmax head
over all ``k`` classes, plain minibatch SGD on the cross-entropy) that learns
classes one at a time: each class's training examples are seen once, in
minibatches of ``batch``. With ``memory > 0`` it keeps a small class-balanced
replay buffer (``memory`` examples in all, split evenly over the classes seen
so far) and mixes ``replay`` buffered examples into every minibatch; which
classes they come from follows the *rehearsal weights* passed to
:meth:`MLPLearner.learn` (uniform over the buffer when none are given). The
rehearsal budget is thus the same whatever the weights: ``replay`` examples
per minibatch.

Accuracy is class-incremental: a test example of class ``c`` counts as right
when ``c`` has the highest output among the classes learned so far.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..errors import ConfigError
from ..settings import is_int, number, whole
from .data import TaskData, _generator

__all__ = ["MLPLearner"]


def check_rehearsal(rehearsal: Mapping[int, float] | None, k: int) -> None:
    """Refuse rehearsal weights that are not ``None`` or a mapping of class (``0..k-1``) -> finite number (checked
    before a pass starts, so a bad weight changes nothing instead of failing halfway through the pass; a key that
    is no class, such as ``"3"`` or ``k``, was silently ignored and the weights it meant to set went unused)."""
    if rehearsal is None:
        return
    if not isinstance(rehearsal, Mapping):
        raise ConfigError(f"rehearsal must be None or a mapping of class -> weight, e.g. {{0: 1.0, 2: 0.5}}, "
                          f"got {type(rehearsal).__name__}")
    for c, w in rehearsal.items():
        if not is_int(c) or not 0 <= c < k:
            raise ConfigError(f"rehearsal weights are keyed by class number 0..{k - 1}, got the key {c!r}")
        number(f"rehearsal weight of class {c!r}", w)


class MLPLearner:
    """One-hidden-layer numpy network for class-incremental learning (see the module docstring).

    Args:
        dim: Input size.
        k: Number of classes.
        hidden: Hidden units (ReLU).
        lr: SGD step size.
        batch: New examples per minibatch.
        memory: Replay buffer size in examples, never exceeded (0: no replay; otherwise at least ``k``, one
            example of each class).
        replay: Buffered examples mixed into each minibatch (when the buffer holds any).
        rng: The generator for the initial weights, shuffling and replay draws.
    """

    def __init__(self, dim: int, k: int, rng: np.random.Generator, *, hidden: int = 64, lr: float = 0.05,
                 batch: int = 10, memory: int = 0, replay: int = 10):
        self.dim, self.k = whole("dim", dim), whole("k", k, 2)
        self.hidden = whole("hidden", hidden)
        self.lr = number("lr", lr, 0.0, low_open=True)
        self.batch = whole("batch", batch)
        self.memory = whole("memory", memory, 0)
        if 0 < self.memory < self.k:  # an even split of fewer slots than classes would keep one of each, more
            raise ConfigError(f"memory must be 0 (no replay) or at least k={self.k} (the buffer is split evenly over "
                              f"the classes learned, at least one example each), got {memory!r}")
        self.replay = whole("replay", replay, 0)
        _generator(rng)
        self.rng = rng
        self.w1 = rng.standard_normal((self.dim, self.hidden)) * np.sqrt(2.0 / self.dim)
        self.b1 = np.zeros(self.hidden)
        self.w2 = rng.standard_normal((self.hidden, self.k)) * np.sqrt(1.0 / self.hidden)
        self.b2 = np.zeros(self.k)
        self.seen: list[int] = []
        self.buffer: dict[int, np.ndarray] = {}
        #: buffered examples replayed so far (the rehearsal spent)
        self.replayed = 0

    # ------------------------------------------------------------ network
    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = np.maximum(x @ self.w1 + self.b1, 0.0)
        return h, h @ self.w2 + self.b2

    def _step(self, x: np.ndarray, y: np.ndarray) -> None:
        h, z = self._forward(x)
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(y)), y] -= 1.0
        g = p / len(y)
        gh = (g @ self.w2.T) * (h > 0)
        self.w2 -= self.lr * (h.T @ g)
        self.b2 -= self.lr * g.sum(axis=0)
        self.w1 -= self.lr * (x.T @ gh)
        self.b1 -= self.lr * gh.sum(axis=0)

    # ----------------------------------------------------------- learning
    def _replay_batch(self, weights: Mapping[int, float] | None, n: int) -> tuple[np.ndarray, np.ndarray] | None:
        stored = [c for c in self.seen if c in self.buffer and len(self.buffer[c])]
        if not stored or n == 0:
            return None
        w = np.array([max(float(weights.get(c, 0.0)), 0.0) for c in stored]) if weights else np.ones(len(stored))
        if not w.sum() > 0:
            w = np.ones(len(stored))
        counts = self.rng.multinomial(n, w / w.sum())
        xs, ys = [], []
        for c, n in zip(stored, counts):
            if n:
                pool = self.buffer[c]
                xs.append(pool[self.rng.integers(0, len(pool), n)])
                ys.append(np.full(n, c, dtype=np.int64))
        return np.concatenate(xs), np.concatenate(ys)

    def learn(self, x: np.ndarray, c: int, rehearsal: Mapping[int, float] | None = None,
              replay: int | None = None) -> int:
        """One pass over class ``c``'s examples ``x``, replaying the buffer by ``rehearsal`` weights.

        ``replay`` overrides the buffered examples per minibatch for this pass
        (a teacher that spends its rehearsal budget unevenly over the
        sequence). Returns how many buffered examples were replayed.
        """
        n_replay = self.replay if replay is None else whole("replay", replay, 0)
        check_rehearsal(rehearsal, self.k)
        c = whole("class", c, 0, floats=True)
        if not c < self.k:
            raise ConfigError(f"class {c!r} is not one of this learner's classes 0..{self.k - 1}")
        if x is None:  # run_order / run_teacher given data=None (as for a SimulatedPerson): "got shape ()"
            raise ConfigError(f"learn() needs class {c}'s training examples, an (n, {self.dim}) array, got None; give "
                              "run_order / run_teacher the TaskData (only a SimulatedPerson learns without data)")
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != self.dim or len(x) == 0:
            raise ConfigError(f"learn() needs a non-empty (n, {self.dim}) array of class {c}'s examples, "
                              f"got shape {x.shape}")
        if not np.isfinite(x).all():  # one NaN made every weight NaN, and every later prediction the first class
            row = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
            raise ConfigError(f"learn() got a non-finite feature in example {row} of class {c}; drop or impute "
                              "such examples first. Nothing was learned.")
        order = self.rng.permutation(len(x))
        y = np.full(len(x), c, dtype=np.int64)
        replayed = 0
        for start in range(0, len(x), self.batch):
            idx = order[start:start + self.batch]
            xb, yb = x[idx], y[idx]
            extra = self._replay_batch(rehearsal, n_replay)
            if extra is not None:
                xb, yb = np.concatenate([xb, extra[0]]), np.concatenate([yb, extra[1]])
                replayed += len(extra[1])
            self._step(xb, yb)
        if c not in self.seen:
            self.seen.append(c)
        if self.memory:
            self.buffer[c] = x[self.rng.permutation(len(x))]
            per = max(1, self.memory // len(self.seen))
            for s in self.seen:
                self.buffer[s] = self.buffer[s][:per]
        self.replayed += replayed
        return replayed

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The most likely class among those learned so far."""
        if not self.seen:
            raise ConfigError("predict() needs at least one learned class; call learn() first")
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != self.dim:  # was numpy's "matmul: ... mismatch in its core dimension"
            raise ConfigError(f"predict() needs an (n, {self.dim}) array of examples, got shape {x.shape}")
        _, z = self._forward(x)
        seen = np.array(self.seen)
        return seen[np.argmax(z[:, seen], axis=1)]

    def evaluate(self, data: TaskData) -> np.ndarray:
        """Test accuracy of every class (NaN for classes not learned yet)."""
        out = np.full(self.k, np.nan)
        if not self.seen:
            return out
        if not (hasattr(data, "x_test") and hasattr(data, "y_test")):  # None was a raw AttributeError
            raise ConfigError(f"evaluate() needs the TaskData whose test examples (x_test, y_test) it scores, got "
                              f"{'None' if data is None else type(data).__name__}")
        pred = self.predict(data.x_test)
        for c in self.seen:
            m = data.y_test == c
            out[c] = float((pred[m] == c).mean())
        return out
