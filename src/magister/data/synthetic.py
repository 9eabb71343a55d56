"""Synthetic skill datasets with known skill structure (numpy only).

Each builder returns a :class:`SkillData`: integer token sequences, a class
label and a skill label per example. ``SkillData`` is a map-style dataset
(``data[i] -> (tokens, label)``), so it plugs into ``torch.utils.data.DataLoader``
directly, and ``data.skills`` is what :class:`~magister.data.SkillSampler` needs.

* :func:`lego` - LEGO chains (Skill-It): ``k`` variables, the first set to +1
  or -1, each next one equal to or the negation of the previous; the clauses
  are written in shuffled order; skill ``i`` = the value of the ``i``-th
  variable of the chain (skill ``i`` is a prerequisite of ``i + 1``).
* :func:`addition` - ``d``-digit addition; skill ``i`` = digit ``i`` of the sum
  (units first; carries make lower digits prerequisites of higher ones).
* :func:`with_unlearnable_skill` - adds one skill whose labels are random, the
  diagnostic for teachers that chase loss instead of progress.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import ConfigError
from ..rng import SeedLike, as_generator
from ..settings import is_int, weights, whole

__all__ = ["SkillData", "lego", "addition", "with_unlearnable_skill", "concat", "skill_counts_from_mixture"]


@dataclass
class SkillData:
    """Examples with a skill label: ``inputs (N, T)`` int64 tokens, ``labels (N,)``, ``skills (N,)``."""

    inputs: np.ndarray
    labels: np.ndarray
    skills: np.ndarray
    skill_names: list[str]
    vocab_size: int
    n_classes: int
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.inputs)
        if not (len(self.labels) == len(self.skills) == n):
            raise ConfigError("inputs, labels and skills must have the same length")

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.int64]:
        return self.inputs[i], self.labels[i]

    @property
    def n_skills(self) -> int:
        return len(self.skill_names)

    @property
    def seq_len(self) -> int:
        return int(self.inputs.shape[1])

    def subset(self, idx: np.ndarray) -> SkillData:
        """The examples at ``idx`` (same vocabulary and skill names)."""
        idx = np.asarray(idx, dtype=np.int64)
        return SkillData(self.inputs[idx], self.labels[idx], self.skills[idx], list(self.skill_names),
                         self.vocab_size, self.n_classes, dict(self.info))

    def skill_counts(self) -> np.ndarray:
        return np.bincount(self.skills, minlength=self.n_skills)


def skill_counts_from_mixture(total: int, mixture: Sequence[float]) -> np.ndarray:
    """Split ``total`` examples over skills in proportion to ``mixture`` (largest remainders, exact sum)."""
    total = whole("total", total, 0, hint="the number of examples to split")
    w = weights("mixture", mixture)
    raw = total * w / w.sum()
    counts = np.floor(raw).astype(np.int64)
    rest = total - int(counts.sum())
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[:rest]] += 1
    return counts


def _shuffled_skills(n_per_skill: int | Sequence[int], n_skills: int, rng: np.random.Generator) -> np.ndarray:
    """The skill of every example, ``n_per_skill`` of each (one count, or one per skill), in an order ``rng``
    shuffles; the counts checked (whole numbers >= 0, one per skill)."""
    if is_int(n_per_skill):
        counts = np.full(n_skills, int(n_per_skill), dtype=np.int64)
    else:
        raw = np.asarray(n_per_skill)  # whole numbers only: 1.5 examples was silently truncated to 1
        counts = raw.astype(np.int64) if raw.dtype.kind in "iu" else np.full(0, -1, dtype=np.int64)
    if counts.shape != (n_skills,) or (counts < 0).any():
        raise ConfigError(f"need one whole, non-negative example count per skill ({n_skills}), got {n_per_skill!r}")
    skills = np.repeat(np.arange(n_skills), counts)
    rng.shuffle(skills)
    return skills


# ----------------------------------------------------------------------------- LEGO
def lego(n_per_skill: int | Sequence[int], *, n_vars: int = 5, n_letters: int = 12, shuffle: bool = True,
         clause_tokens: bool = True, seed: SeedLike = None) -> SkillData:
    """LEGO chains of ``n_vars`` variables; ``n_per_skill`` examples asking for each chain position.

    Tokens: variable letters ``0 .. n_letters-1``, then ``=+`` (equal), ``=-``
    (negated) and the constant ``1``. A clause is three tokens ``dst op src``;
    the first clause of the chain reads ``x =+ 1`` (x = +1) or ``x =- 1``
    (x = -1). The clauses (shuffled when ``shuffle``) are followed by the
    queried variable. Label: 1 if the queried variable is +1, else 0.
    """
    n_vars = whole("n_vars", n_vars, 1, hint="the variables of a chain")
    n_letters = whole("n_letters", n_letters, 1, hint="the variable names to choose from")
    if n_vars < 1 or n_letters < n_vars:
        raise ConfigError(f"LEGO needs 1 <= n_vars <= n_letters, got n_vars={n_vars}, n_letters={n_letters}")
    rng = as_generator(seed)
    skills = _shuffled_skills(n_per_skill, n_vars, rng)
    n = len(skills)
    pos, neg, one = n_letters, n_letters + 1, n_letters + 2
    letters = np.argsort(rng.random((n, n_letters)), axis=1)[:, :n_vars]  # distinct variable names
    ops = rng.integers(0, 2, size=(n, n_vars))  # 0: equal (or +1 for the first), 1: negated (or -1)
    values = np.cumprod(np.where(ops == 1, -1, 1), axis=1)  # value of each chain variable
    clauses = np.empty((n, n_vars, 3), dtype=np.int64)
    clauses[:, :, 0] = letters
    clauses[:, :, 1] = np.where(ops == 1, neg, pos)
    clauses[:, 0, 2] = one
    clauses[:, 1:, 2] = letters[:, :-1]
    if shuffle:
        order = np.argsort(rng.random((n, n_vars)), axis=1)
        clauses = np.take_along_axis(clauses, order[:, :, None], axis=1)
    query = letters[np.arange(n), skills]
    if clause_tokens:
        # a letter in the source role gets its own token, so "b = a" and "a = b" differ
        is_src = np.zeros_like(clauses, dtype=bool)
        is_src[:, :, 2] = clauses[:, :, 2] != one
        clauses = np.where(is_src, clauses + n_letters + 3, clauses)
        pad = 2 * n_letters + 3
        q = np.stack([query, np.full(n, pad), np.full(n, pad)], axis=1)
        inputs = np.concatenate([clauses, q[:, None, :]], axis=1)
    else:
        inputs = np.concatenate([clauses.reshape(n, 3 * n_vars), query[:, None]], axis=1)
    labels = (values[np.arange(n), skills] > 0).astype(np.int64)
    return SkillData(inputs, labels, skills.astype(np.int64), [f"var{i + 1}" for i in range(n_vars)],
                     vocab_size=(2 * n_letters + 4) if clause_tokens else (n_letters + 3), n_classes=2,
                     info={"task": "lego", "n_vars": n_vars, "n_letters": n_letters, "shuffle": shuffle,
                           "clause_tokens": clause_tokens})


# ------------------------------------------------------------------------- addition
def addition(n_per_skill: int | Sequence[int], *, n_digits: int = 3, seed: SeedLike = None) -> SkillData:
    """``n_digits``-digit addition ``a + b``; skill ``i`` asks for digit ``i`` of the sum (0 = units).

    Tokens: digits ``0..9``, then one query token per skill (``10 + i``).
    Input: the digits of ``a`` then of ``b`` (most significant first), then
    the query token. Label: the asked digit of ``a + b`` (10 classes).
    """
    # a sum of two 18-digit numbers fits int64; more digits would overflow into wrong labels
    n_digits = whole("n_digits", n_digits, hint="addition holds at most 18 digits")
    if n_digits > 18:
        raise ConfigError(f"addition holds at most 18 digits (int64 sums), got n_digits={n_digits}")
    rng = as_generator(seed)
    skills = _shuffled_skills(n_per_skill, n_digits, rng)
    n = len(skills)
    da = rng.integers(0, 10, size=(n, n_digits))  # most significant first
    db = rng.integers(0, 10, size=(n, n_digits))
    place = 10 ** np.arange(n_digits - 1, -1, -1)
    total = da @ place + db @ place
    labels = (total // 10 ** skills) % 10
    inputs = np.concatenate([da, db, (10 + skills)[:, None]], axis=1).astype(np.int64)
    return SkillData(inputs, labels.astype(np.int64), skills.astype(np.int64),
                     [f"digit{i}" for i in range(n_digits)], vocab_size=10 + n_digits, n_classes=10,
                     info={"task": "addition", "n_digits": n_digits})


# ----------------------------------------------------------------------- diagnostics
def with_unlearnable_skill(data: SkillData, n_examples: int, *, seed: SeedLike = None,
                           name: str = "noise") -> SkillData:
    """Add a skill whose labels are random: inputs like the others, marked by a new token in the last place.

    The skill is recognisable (its own query token) but nothing about its
    label can be learned, so its accuracy stays at chance and its loss high.
    """
    n_examples = whole("n_examples", n_examples, 0, hint="the examples of the unlearnable skill")
    if n_examples and len(data) == 0:
        raise ConfigError("with_unlearnable_skill copies its inputs from the dataset's examples, and this dataset "
                          "has none; give a dataset with examples, or n_examples=0")
    rng = as_generator(seed)
    src = rng.integers(0, len(data), size=n_examples)
    inputs = data.inputs[src].copy()
    marker = data.vocab_size
    inputs[:, -1] = marker  # the query position (all of its sub-tokens for clause-token inputs)
    labels = rng.integers(0, data.n_classes, size=n_examples)
    noise = SkillData(inputs, labels.astype(np.int64), np.full(n_examples, data.n_skills, dtype=np.int64),
                      list(data.skill_names) + [name], data.vocab_size + 1, data.n_classes)
    base = SkillData(data.inputs, data.labels, data.skills, list(data.skill_names) + [name],
                     data.vocab_size + 1, data.n_classes, dict(data.info))
    out = concat([base, noise])
    out.info = dict(data.info, unlearnable=data.n_skills)
    return out


def concat(parts: Sequence[SkillData]) -> SkillData:
    """Concatenate datasets that share skill names, vocabulary and classes."""
    parts = list(parts)
    if not parts or not all(isinstance(p, SkillData) for p in parts):
        raise ConfigError("concat needs a non-empty sequence of SkillData datasets")
    first = parts[0]
    for p in parts[1:]:
        if p.skill_names != first.skill_names or p.vocab_size != first.vocab_size or p.n_classes != first.n_classes:
            raise ConfigError("concat needs datasets with the same skills, vocabulary and classes")
    return SkillData(np.concatenate([p.inputs for p in parts]), np.concatenate([p.labels for p in parts]),
                     np.concatenate([p.skills for p in parts]), list(first.skill_names), first.vocab_size,
                     first.n_classes, dict(first.info))
