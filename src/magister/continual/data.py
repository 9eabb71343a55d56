"""Class-incremental data sets for the continual learners, all offline.

* :func:`digits` — scikit-learn's bundled 8x8 handwritten digits (no download):
  ten classes, 64 pixel features scaled to [0, 1], a stratified train/test split.
* :func:`synthetic` — ``k`` Gaussian classes whose means form ``groups`` of
  look-alikes; ``similarity`` in [0, 1) sets how much a class shares with the
  other members of its group (0: unrelated classes, near 1: near-duplicates),
  so the class-similarity structure that ordering rules rely on is controlled.

Both return a :class:`TaskData`: train and test arrays, labels ``0..k-1`` and
the class names. Every draw takes an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, missing_extra_import
from ..settings import number, whole

__all__ = ["TaskData", "digits", "synthetic", "split"]


@dataclass(frozen=True)
class TaskData:
    """Train and test examples of ``k`` classes (one class = one task)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    names: tuple[str, ...]

    @property
    def k(self) -> int:
        return len(self.names)

    @property
    def dim(self) -> int:
        return int(self.x_train.shape[1])

    def class_train(self, c: int) -> np.ndarray:
        return self.x_train[self.y_train == c]


def _generator(rng: object) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ConfigError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    return rng


def split(x: np.ndarray, y: np.ndarray, names: tuple[str, ...], test_share: float,
          rng: np.random.Generator) -> TaskData:
    """Stratified split: ``test_share`` of each class goes to the test set (at least one example, and at
    least one is left for training, or a :class:`~magister.errors.ConfigError`)."""
    test = np.zeros(len(y), dtype=bool)
    for c in range(len(names)):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = max(1, int(round(test_share * len(idx))))
        if n_test >= len(idx):
            raise ConfigError(f"test_share={test_share} leaves class {names[c]!r} ({len(idx)} examples) no training "
                              "example; every class needs at least one of each (use a smaller test_share)")
        test[idx[:n_test]] = True
    return TaskData(x[~test], y[~test], x[test], y[test], names)


def digits(rng: np.random.Generator, test_share: float = 0.3) -> TaskData:
    """scikit-learn's bundled handwritten digits (1797 images, 10 classes), pixels in [0, 1]."""
    try:
        from sklearn.datasets import load_digits  # bundled with scikit-learn: nothing is downloaded
    except ImportError as e:
        raise missing_extra_import("magister.continual.digits", "continual", e) from e

    _generator(rng)
    number("test_share", test_share, 0.0, 1.0, low_open=True, high_open=True)
    bunch = load_digits()
    x = np.asarray(bunch.data, dtype=float) / 16.0
    y = np.asarray(bunch.target, dtype=np.int64)
    return split(x, y, tuple(str(d) for d in range(10)), test_share, rng)


def synthetic(rng: np.random.Generator, *, k: int = 10, groups: int = 5, similarity: float = 0.8, dim: int = 20,
              n_train: int = 100, n_test: int = 100, noise: float = 1.0, spread: float = 3.0) -> TaskData:
    """Gaussian classes with controllable similarity.

    Group ``g`` has a centre ``c_g``; class ``i`` of group ``g`` has mean
    ``spread * (sqrt(similarity) * c_g + sqrt(1 - similarity) * u_i)`` with
    ``c_g`` and ``u_i`` independent standard normal directions scaled to unit
    length, so two classes of one group have cosine ``similarity`` in
    expectation and classes of different groups about 0. Examples add
    isotropic Gaussian noise of standard deviation ``noise``.
    """
    _generator(rng)
    k = whole("k", k, 2)
    groups = whole("groups", groups, 1)
    if groups > k:
        raise ConfigError(f"groups={groups} is more than the k={k} classes; use groups <= k")
    similarity = number("similarity", similarity, 0.0, 1.0, high_open=True,
                        hint="0 makes unrelated classes, values near 1 near-duplicates")
    dim = whole("dim", dim, 2)
    n_train, n_test = whole("n_train", n_train), whole("n_test", n_test)
    noise = number("noise", noise, 0.0, low_open=True)
    spread = number("spread", spread, 0.0, low_open=True)

    def unit(n: int) -> np.ndarray:
        v = rng.standard_normal((n, dim))
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    centres, own = unit(groups), unit(k)
    group_of = np.arange(k) % groups
    means = spread * (np.sqrt(similarity) * centres[group_of] + np.sqrt(1.0 - similarity) * own)
    y_train = np.repeat(np.arange(k), n_train)
    y_test = np.repeat(np.arange(k), n_test)
    x_train = means[y_train] + noise * rng.standard_normal((len(y_train), dim))
    x_test = means[y_test] + noise * rng.standard_normal((len(y_test), dim))
    names = tuple(f"c{i}g{group_of[i]}" for i in range(k))
    return TaskData(x_train, y_train, x_test, y_test, names)
