"""Task-sequence teachers for continual learners: the order of tasks, and how much to rehearse.

A continual learner meets its tasks (classes, skills) one at a time, in a
single pass, with little chance to revisit. Two teachers plan that sequence
on a finite space of ``K`` tasks. The learner is driven phase by phase:
``propose()`` names the task to teach next, :meth:`~ContinualOrder.rehearsal` says how much of
the rehearsal budget to mix into this phase and how to share it among the
tasks already taught, and after the phase the learner's accuracy on every task
taught so far goes back with ``observe_batch(tasks, accuracies)``. A task
counts as taught once it has been observed; a phase ends when a task is
observed for the first time, and the rehearsal charged to it is the amount
prescribed by the state at that moment: report the new task's accuracy
first, then the others' (``run_teacher`` in :mod:`magister.continual.run`
does), so the charge equals what :meth:`~ContinualOrder.rehearsal` said. When every task is taught, proposals review the
task drawn with chance proportional to its error. Without a similarity matrix
the next new task is drawn at random among the untaught ones.

``continual-designer`` (offline) ranks whole orders from a class-similarity
matrix (:func:`class_similarity` computes one from features, or pass your
own) and teaches its top-ranked order, with the rehearsal spread evenly. Three
ranking rules (:func:`order_score`):

* ``"retention"`` (ours, the default): the interference term below plus a
  rehearsal-exposure term. With replay shared evenly over the tasks seen, a
  task taught at place ``p`` is rehearsed through the ``K - 1 - p`` phases
  after it, so early places keep the most; a crowded task (similar to many
  others) keeps little whatever its place. On top of the interference term
  an order is penalised by
  ``exposure * sum_p crowding[o_p] * (K - 1 - p) / (K - 1)`` with
  ``crowding[i] = sum_{j != i} S[i, j]``: isolated tasks first, crowded ones
  late, and (by the interference term) an isolated one last. Measured on the
  continual benchmark's held-out seeds: the last class explains most of the
  spread of final accuracy between orders, and a class's final accuracy
  falls steadily with its place (digits: 0.61 when first, 0.19 when eighth).
* ``"interference"`` (ours; ``retention`` without the exposure term): a
  task taught later interferes with the similar tasks taught before it,
  most when it comes late (what a later phase damages is never repaired).
  An order is penalised by
  ``sum over p < q of S[o_p, o_q] * decay ** (K - 1 - q)``: similar pairs
  whose later member comes near the end cost most, so isolated tasks go last.
* ``"cd"``: our reconstruction of the Curriculum Designer of Singh et al.,
  "Learning to Learn: How to Continuously Teach Humans and Machines" (ICCV
  2023). From the published description (cosine distances ``D = 1 - S``
  between class prototypes; start with a centrally located class whose
  distances to the others vary little; keep consecutive classes similar; end
  with classes similar to the first) the score of an order is
  ``-var_j D[o_0, j] - mean_t D[o_{t-1}, o_t] - D[o_{K-1}, o_0]``. The
  paper's exact advantage function and weights were not available to us, so
  this is a faithful reading of its stated principles, not its code.

``continual-order`` (online) chooses from the learner's state. Next task: the
untaught task with the highest mean similarity to the other untaught tasks
(central tasks first, isolated ones kept for last) minus its mean similarity
to the taught tasks weighted by their current accuracy (what teaching it now
would put at risk); at random without a similarity matrix.

Rehearsal amount: the budget (in units of one phase of the learner's base
replay; ``K - 1`` by default, what uniform replay spends after the first
phase) is paced by the knowledge at risk: with ``n`` tasks taught and
accuracy mass ``m`` on them, this phase's risk is ``m * n ** pace`` (what can
be lost, times how many tasks compete for the shared output, steeply), and
the phase gets the remaining budget times its risk over the risk projected
for it and every later phase (each adds one task at the current mean
accuracy); the last phase gets what is left. Early phases, with little to
lose, spend little; the budget is never exceeded. A rehearsed example
shares its minibatch with the new task's, so the amount sets the old tasks'
share of each step: late, when many tasks compete, a large share keeps the
new task from taking over the shared output (``pace`` 3 was chosen on the
continual benchmark's held-out seeds 10-19; 1 spreads it more evenly).

Rehearsal weights: ``1 + (best - last accuracy)`` per taught task (tasks
being forgotten get more) plus, with a similarity matrix, ``focus`` times
the task's similarity to the coming task rescaled to [0, 1] over the taught
tasks. The coming task interferes with the taught tasks most like it, so
with ``focus`` 10 (chosen on the same held-out seeds) most of the rehearsal
goes to those, the rest keeping a floor.
"""

from __future__ import annotations

import itertools
from typing import Any, Sequence

import numpy as np

from ..averages import refuse_outside_unit
from ..errors import ConfigError
from ..settings import few_tasks, number, numbers_only, short_number, size, whole
from ..teacher import Teacher, _settings_differ, register

__all__ = ["class_similarity", "order_score", "rank_orders", "ContinualDesigner", "ContinualOrder", "RULES"]

RULES = ("retention", "interference", "cd")

#: floats of example-to-prototype differences class_similarity holds at once (16 MB)
_BLOCK_FLOATS = 1 << 21


def class_similarity(x: np.ndarray, y: np.ndarray, k: int | None = None, kind: str = "cosine",
                     width: float = 3.0) -> np.ndarray:
    """Similarity between classes from their features, ``(k, k)``.

    ``kind="cosine"``: cosine between class prototypes (the mean feature
    vector of each class), as in the paper. ``kind="confusion"``: how often a
    class's examples would be taken for another class's, by a soft
    nearest-prototype rule (each example's weights over the prototypes are
    ``exp(-(d2 - min d2) / t)``, ``d2`` the squared distances and ``t``
    ``width`` times their median nearest distance), averaged per class and
    symmetrised; the diagonal is the share kept by the class itself. A wider
    kernel also counts classes that are merely near, not only look-alikes: a
    class taught late steals from those too (``width`` 3 was chosen on seeds
    10-19 of the continual benchmark, which reports on 0-2; 1 is sharper).
    """
    if kind not in ("cosine", "confusion"):
        raise ConfigError(f"unknown similarity kind {kind!r}; use 'cosine' or 'confusion'")
    width = number("width", width, 0.0, low_open=True)
    try:
        x = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError("class_similarity needs features as an (n, d) array of numbers") from None
    y = np.asarray(y)
    if x.ndim != 2 or len(x) != len(y):
        raise ConfigError(f"class_similarity needs features (n, d) and n labels, got {x.shape} and {y.shape}")
    if y.dtype.kind not in "iuf" and len(y):  # text labels failed in y.max() with a raw numpy error
        raise ConfigError(f"labels must be the class numbers 0..k-1, got values such as {y.tolist()[0]!r}; map "
                          "class names to numbers first (e.g. np.unique(labels, return_inverse=True)[1])")
    if not np.isfinite(x).all():  # a NaN feature gave a NaN similarity, refused later as if it had a wrong shape
        row = int(np.argwhere(~np.isfinite(x))[0][0])
        raise ConfigError(f"class_similarity got a non-finite feature in example {row}; drop or impute it first")
    if len(y) == 0:
        raise ConfigError("class_similarity needs at least one example")
    k = int(y.max()) + 1 if k is None else whole("k", k, 1)
    if not np.isin(y, np.arange(k)).all():  # an example of no class would still widen the kernel and share weight
        bad = sorted({v for v in y.tolist() if v not in range(k)} if y.dtype.kind in "iuf" else set(y.tolist()))
        raise ConfigError(f"labels must be the class numbers 0..{k - 1}; got {bad[:5]}")
    protos = np.zeros((k, x.shape[1]))
    for c in range(k):
        m = y == c
        if not m.any():
            raise ConfigError(f"class {c} has no examples; every class 0..{k - 1} needs at least one")
        protos[c] = x[m].mean(axis=0)
    if kind == "confusion":
        # a block of examples at a time: all at once held (n, k, d) differences, ten times the features for ten
        # classes (3.8 GB for MNIST); each entry's arithmetic is the same, so the figures are the same to the bit
        d2 = np.empty((len(x), k))
        rows = max(1, _BLOCK_FLOATS // (k * x.shape[1] or 1))
        for i in range(0, len(x), rows):
            d2[i:i + rows] = ((x[i:i + rows, None, :] - protos[None, :, :]) ** 2).sum(axis=-1)
        d2 = d2 - d2.min(axis=1, keepdims=True)
        t = width * float(np.median(np.sort(d2, axis=1)[:, 1])) if k > 1 else 1.0
        p = np.exp(-d2 / (t if t > 0 else 1.0))
        p /= p.sum(axis=1, keepdims=True)
        conf = np.array([p[y == c].mean(axis=0) for c in range(k)])
        return (conf + conf.T) / 2.0
    norm = np.linalg.norm(protos, axis=1, keepdims=True)
    protos = protos / np.where(norm > 0, norm, 1.0)
    return np.clip(protos @ protos.T, -1.0, 1.0)


def _check_similarity(similarity: Any, n: int) -> np.ndarray:
    try:
        if not numbers_only(similarity):  # ("0.5" was parsed, 0.5+0j's imaginary part dropped)
            raise TypeError
        s = np.array(similarity, dtype=float)
    except (TypeError, ValueError, OverflowError):  # (OverflowError: an int beyond any float)
        raise ConfigError(f"similarity must be a square matrix of numbers (a list of lists), got "
                          f"{short_number(similarity)}") from None
    if s.shape != (n, n):
        raise ConfigError(f"similarity must be a finite ({n}, {n}) matrix, one row and column per task of the "
                          f"space; got shape {s.shape}")
    if not np.isfinite(s).all():  # (the message named only the shape, which was right)
        i, j = (int(v) for v in np.argwhere(~np.isfinite(s))[0])
        raise ConfigError(f"similarity must be finite; S[{i}, {j}] is {s[i, j]}: fill it (0 for tasks with "
                          "nothing in common, 1 for the same)")
    if not np.allclose(s, s.T, atol=1e-9):
        raise ConfigError("similarity must be symmetric (S[i, j] == S[j, i]); pass (S + S.T) / 2")
    return s


def _side(similarity: Any) -> int:
    """The number of rows of a similarity matrix given without a space (a scalar or text has none: 0, which
    :func:`_check_similarity` then refuses naming the shape, instead of a raw ``len()`` TypeError)."""
    try:
        a = np.asarray(similarity)
    except (TypeError, ValueError):  # a ragged list: _check_similarity names it
        return 0
    return len(a) if a.ndim else 0


def order_score(order: Sequence[int], similarity: np.ndarray, rule: str = "retention",
                decay: float = 0.25, exposure: float = 0.5) -> float:
    """How good ``order`` is under ``rule`` (higher is better); see the module docstring for the rules.

    ``decay`` is the recency weight of the interference term (``retention``
    and ``interference``); ``exposure`` the weight of ``retention``'s
    rehearsal-exposure term (``retention`` with ``exposure=0`` is ``interference``). ``order`` lists every
    task of ``similarity`` exactly once (a partial or repeated order was scored as if it were one).
    """
    s = _check_similarity(similarity, _side(similarity))
    if rule not in RULES:
        raise ConfigError(f"unknown ordering rule {rule!r}; use one of {', '.join(RULES)}")
    return _order_score(_check_order(order, len(s)), s, rule, number("decay", decay, 0.0, 1.0, low_open=True),
                        number("exposure", exposure, 0.0))


def _check_order(order: Sequence[int], k: int) -> list[int]:
    o = [whole("each task of an order", i, 0, floats=True) for i in order]
    if sorted(o) != list(range(k)):
        raise ConfigError(f"{o} is not an order of the tasks 0..{k - 1} (each exactly once)")
    return o


def _order_score(order: Sequence[int], s: np.ndarray, rule: str, decay: float, exposure: float) -> float:
    """:func:`order_score` without the checks (the candidate search calls it many times)."""
    o = np.asarray(order, dtype=np.int64)
    k = len(o)
    if rule in ("retention", "interference"):
        w = decay ** (k - 1 - np.arange(k))
        sub = s[np.ix_(o, o)]
        upper = np.triu(sub, 1)  # [p, q] with p < q: q taught after p
        score = -float((upper * w[None, :]).sum())
        if rule == "retention" and k > 1:
            off = s - np.diag(np.diag(s))
            crowding = off.sum(axis=1)[o]  # how much each task shares with all the others
            score -= exposure * float((crowding * (k - 1 - np.arange(k))).sum()) / (k - 1)
        return score
    if rule == "cd":
        d = 1.0 - s
        others = np.delete(d[o[0]], o[0])
        spread = float(others.var()) if len(others) else 0.0
        chain = float(np.mean(d[o[:-1], o[1:]])) if k > 1 else 0.0
        return -spread - chain - float(d[o[-1], o[0]])
    raise ConfigError(f"unknown ordering rule {rule!r}; use one of {', '.join(RULES)}")  # pragma: no cover


def _greedy(similarity: np.ndarray, rule: str) -> list[int]:
    s = similarity
    k = len(s)
    if rule in ("retention", "interference"):  # from the end: the task least similar to all the rest goes last
        left = list(range(k))
        back: list[int] = []
        while left:
            sub = s[np.ix_(left, left)].copy()
            np.fill_diagonal(sub, 0.0)
            back.append(left.pop(int(np.argmin(sub.sum(axis=1)))))
        return back[::-1]
    d = 1.0 - s
    var = [np.delete(d[i], i).var() if k > 1 else 0.0 for i in range(k)]
    order = [int(np.argmin(var))]
    while len(order) < k:
        rest = [j for j in range(k) if j not in order]
        order.append(min(rest, key=lambda j: d[order[-1], j]))
    return order


def _improve(order: list[int], similarity: np.ndarray, rule: str, decay: float, exposure: float,
             rounds: int = 3) -> list[int]:
    """Pairwise-swap local search (first improvement), a few rounds."""
    best = list(order)
    score = _order_score(best, similarity, rule, decay, exposure)
    for _ in range(rounds):
        changed = False
        for i, j in itertools.combinations(range(len(best)), 2):
            cand = list(best)
            cand[i], cand[j] = cand[j], cand[i]
            sc = _order_score(cand, similarity, rule, decay, exposure)
            if sc > score + 1e-12:
                best, score, changed = cand, sc, True
        if not changed:
            break
    return best


def _candidates(n: Any) -> int:
    """The ``n_candidates`` of the search: at most :data:`~magister.settings.MAX_SIZE` (10**30 was taken, and the
    first proposal searched for ever, every candidate order kept in a list until memory ran out)."""
    return size("n_candidates", n, 0, why="the search improves that many random orders and keeps them all")


def rank_orders(similarity: Any, rule: str = "retention", *, decay: float = 0.25, exposure: float = 0.5,
                n_candidates: int = 200,
                rng: np.random.Generator | None = None,
                orders: Sequence[Sequence[int]] | None = None) -> list[tuple[list[int], float]]:
    """Score orders of the ``K`` tasks and return ``(order, score)`` pairs, best first.

    With ``orders`` given, those are ranked; otherwise the candidates are the
    rule's greedy construction improved by swap search, plus ``n_candidates``
    random orders each improved likewise (drawn from ``rng``; duplicates are
    dropped). Ties keep the earlier candidate first.
    """
    s = _check_similarity(similarity, _side(similarity))
    if rule not in RULES:
        raise ConfigError(f"unknown ordering rule {rule!r}; use one of {', '.join(RULES)}")
    if rng is not None and not isinstance(rng, np.random.Generator):  # an int failed at rng.permutation
        raise ConfigError(f"rng must be a numpy Generator (np.random.default_rng(seed)) or None, "
                          f"got {type(rng).__name__}")
    decay = number("decay", decay, 0.0, 1.0, low_open=True)
    exposure = number("exposure", exposure, 0.0)
    k = len(s)
    if orders is None:
        gen = rng if rng is not None else np.random.default_rng(0)
        cands = [_improve(_greedy(s, rule), s, rule, decay, exposure)]
        for _ in range(_candidates(n_candidates)):
            cands.append(_improve([int(i) for i in gen.permutation(k)], s, rule, decay, exposure, rounds=1))
    else:
        cands = [_check_order(o, k) for o in orders]
    seen: set[tuple[int, ...]] = set()
    out = []
    for o in cands:
        if tuple(o) not in seen:
            seen.add(tuple(o))
            out.append((o, _order_score(o, s, rule, decay, exposure)))
    return sorted(out, key=lambda p: -p[1])


class _SequenceTeacher(Teacher):
    """Shared by the sequence teachers: which tasks are taught, their last and best accuracy."""

    kind = "discrete"

    def __init__(self, space, *, similarity: list[list[float]] | None = None, seed=None, score_range=None):
        super().__init__(space, seed=seed, score_range=score_range)
        n = few_tasks(space.n, "a continual-learning teacher keeps an accuracy per task")
        self.similarity = None if similarity is None else _check_similarity(similarity, n)
        self.last = np.full(n, np.nan)
        self.best = np.full(n, np.nan)
        self.taught = np.zeros(n, dtype=bool)
        self.order_taught: list[int] = []

    # ---------------------------------------------------------- planning
    def _next_new(self, taught: np.ndarray) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _review(self, last: np.ndarray) -> int:
        """Every task taught: draw one to review, with chance proportional to its error (plus 0.05)."""
        err = 1.0 - np.nan_to_num(last, nan=0.0) + 0.05
        return int(np.searchsorted(np.cumsum(err), self.rng.random() * err.sum(), side="right").clip(0, len(err) - 1))

    def _random_new(self, taught: np.ndarray) -> int:
        left = np.flatnonzero(~taught)
        return int(left[self.rng.integers(len(left))])

    def _propose(self, k: int) -> np.ndarray:
        taught = self.taught.copy()
        out = []
        for _ in range(k):
            if taught.all():
                out.append(self._review(self.last))
            else:
                t = self._next_new(taught)
                taught[t] = True
                out.append(t)
        return np.array(out, dtype=np.int64)

    def rehearsal(self) -> dict[str, Any]:
        """For the phase about to start: ``amount`` (a multiple of the learner's base replay) and
        ``weights`` (task index -> share of the rehearsal, over the tasks taught so far)."""
        return {"amount": self._amount(), "weights": self._weights()}

    def _amount(self) -> float:
        return 1.0 if self.taught.any() else 0.0

    def _weights(self) -> dict[int, float]:
        return {int(i): 1.0 for i in np.flatnonzero(self.taught)}

    def _spend(self) -> None:
        """Called when a task is observed for the first time, before it is recorded."""

    # ------------------------------------------------------------ hooks
    def _observe(self, x: np.ndarray, scores: np.ndarray) -> None:
        for i, s in zip(x.tolist(), scores.tolist()):
            if not self.taught[i]:  # a phase ended: charge what rehearsal() prescribed for it
                self._spend()
                self.taught[i] = True
                self.order_taught.append(int(i))
            self.last[i] = s
            self.best[i] = s if np.isnan(self.best[i]) else max(self.best[i], s)

    def _get_state(self) -> dict[str, Any]:
        return {"last": self.last.copy(), "best": self.best.copy(), "taught": self.taught.copy(),
                "order_taught": np.array(self.order_taught, dtype=np.int64)}

    def _set_state(self, state: dict[str, Any]) -> None:
        n = self.space.n
        last = np.asarray(state["last"], dtype=float)
        best = np.asarray(state["best"], dtype=float)
        taught = np.asarray(state["taught"], dtype=bool)
        order = [int(i) for i in np.asarray(state["order_taught"], dtype=np.int64).ravel()]
        if last.shape != (n,) or best.shape != (n,) or taught.shape != (n,):
            raise ValueError(f"per-task arrays must have one entry per task ({n})")
        for key, a in (("last", last), ("best", best)):  # (-0.5, 1.5 and inf were taken: the review weights used them)
            refuse_outside_unit(key, a, "scores (on the teacher's [0, 1] scale; NaN: a task not observed yet)")
        if sorted(order) != sorted(np.flatnonzero(taught).tolist()):
            raise ValueError("order_taught does not match the taught tasks")
        self.last, self.best, self.taught, self.order_taught = last.copy(), best.copy(), taught.copy(), order

    def probabilities(self) -> np.ndarray:
        """Chance of each task being the next proposal (one-hot when the next task is planned)."""
        n = self.space.n_tasks
        if self.taught.all():
            err = 1.0 - np.nan_to_num(self.last, nan=0.0) + 0.05
            return err / err.sum()
        if self._planned():
            p = np.zeros(n)
            p[self._next_new(self.taught.copy())] = 1.0
            return p
        return (~self.taught).astype(float) / float((~self.taught).sum())

    def _planned(self) -> bool:
        return self.similarity is not None

    def _beliefs(self) -> dict[str, Any]:
        forgetting = np.where(self.taught, np.nan_to_num(self.best - self.last), 0.0)
        return {
            "kind": "discrete",
            "tasks": self.space.task_names(),
            "probability": self.probabilities(),
            "taught": self.taught.astype(int).tolist(),
            "order_taught": list(self.order_taught),
            "last_accuracy": [None if np.isnan(v) else float(v) for v in self.last],
            "forgetting": forgetting.tolist(),
            "rehearsal": {"amount": self._amount(), "weights": {str(k): v for k, v in self._weights().items()}},
        }


@register("continual-designer")
class ContinualDesigner(_SequenceTeacher):
    """Offline: teach the top-ranked order of the tasks (see the module docstring).

    Args:
        similarity: ``(K, K)`` class-similarity matrix (``None``: no information, so a random order).
        rule: ``"retention"`` (ours, default), ``"interference"`` (ours, its recency term alone) or ``"cd"``
            (the paper's designer as we read it).
        decay: Recency weight of the interference term, in (0, 1] (0.25: each phase back counts a quarter, as
            replay repairs most of what earlier phases damaged).
        exposure: Weight of the ``retention`` rule's rehearsal-exposure term (crowded tasks late), >= 0.
        n_candidates: Random starting orders searched besides the rule's greedy construction (at most
            1,000,000 with a similarity matrix; without one there is no search).
        search_seed: Seed of the candidate search (the plan does not depend on the teacher's ``seed``).

    The search runs when the plan is first needed (the first proposal or :meth:`beliefs`), and from the first
    proposal on the plan is saved with the teacher's state, so a checkpoint loaded does not search again.
    """

    #: 2: the state holds the plan from the first proposal on (a version 1 state, which never does, searches again)
    state_version = 2

    def __init__(self, space, *, similarity: list[list[float]] | None = None, rule: str = "retention",
                 decay: float = 0.25, exposure: float = 0.5, n_candidates: int = 50, search_seed: int = 0,
                 seed=None, score_range=None):
        super().__init__(space, similarity=similarity, seed=seed, score_range=score_range)
        if not isinstance(rule, str) or rule not in RULES:
            raise ConfigError(f"unknown ordering rule {rule!r}; use one of {', '.join(RULES)}")
        self.rule = rule
        self.decay = number("decay", decay, 0.0, 1.0, low_open=True)
        self.exposure = number("exposure", exposure, 0.0)
        # at most MAX_SIZE where a search runs (a similarity matrix); without one no search runs and the count sizes
        # nothing: any whole number is taken, as before the limit (a checkpoint saved with one loads)
        self.n_candidates = whole("n_candidates", n_candidates, 0) if self.similarity is None else _candidates(
            n_candidates)
        self.search_seed = whole("search_seed", search_seed, 0)
        # the search (about K^3 per candidate) runs when the plan is first needed, not here: loading a checkpoint
        # builds the teacher first, and a checkpoint saved once the plan was known holds it (_get_state)
        self._ranking: list[tuple[list[int], float]] | None = None
        self._plan: list[int] | None = None

    @property
    def ranking(self) -> list[tuple[list[int], float]]:
        """The ranked ``(order, score)`` pairs, best first (:func:`rank_orders`; ``[]`` without a similarity
        matrix), searched on first use."""
        if self._ranking is None:
            self._ranking = [] if self.similarity is None else rank_orders(
                self.similarity, self.rule, decay=self.decay, exposure=self.exposure, n_candidates=self.n_candidates,
                rng=np.random.default_rng(self.search_seed))
        return self._ranking

    @property
    def plan(self) -> list[int] | None:
        """The order taught: the top of :attr:`ranking` (``None`` without a similarity matrix: a random order)."""
        if self._plan is None and self.similarity is not None:
            return list(self.ranking[0][0])
        return self._plan

    def _propose(self, k: int) -> np.ndarray:
        # the plan joins the state with the first proposal (reading it, as beliefs() does, leaves the state as it is)
        self._plan = self.plan
        return super()._propose(k)

    def _get_state(self) -> dict[str, Any]:
        out = super()._get_state()
        if self._plan is not None:  # once proposed from, saved: a resumed teacher need not search again
            out["plan"] = np.array(self._plan, dtype=np.int64)
        return out

    def _upgrade_state(self, state: dict[str, Any], version: int) -> dict[str, Any]:
        return state  # version 1 is version 2 without the plan

    def _set_state(self, state: dict[str, Any]) -> None:
        plan = None
        if "plan" in state:
            plan = [int(i) for i in np.asarray(state["plan"], dtype=np.int64).ravel()]
            n = len(self.taught)
            if self.similarity is None or sorted(plan) != list(range(n)):
                raise ValueError(f"plan must be an order of the {n} tasks of a teacher with a similarity matrix")
        super()._set_state(state)
        saved = getattr(self, "_loading_config", None)
        if isinstance(saved, dict) and _settings_differ(saved, self):
            plan = None  # saved with other settings (strict=False): this teacher's own plan, searched when needed
        self._plan = plan

    def _next_new(self, taught: np.ndarray) -> int:
        if self.plan is None:
            return self._random_new(taught)
        return next(t for t in self.plan if not taught[t])

    def _beliefs(self) -> dict[str, Any]:
        return dict(super()._beliefs(), plan=None if self.plan is None else list(self.plan), rule=self.rule)


@register("continual-order")
class ContinualOrder(_SequenceTeacher):
    """Online: next task and rehearsal from the learner's state (see the module docstring).

    Args:
        similarity: ``(K, K)`` class-similarity matrix used to choose the next task (``None``: a random order).
        budget: Total rehearsal, in phases of the learner's base replay (``None``: ``K - 1``, what uniform
            replay spends after the first phase).
        focus: Weight of the coming task's similarity in the rehearsal weights, against ``1 + forgetting``
            (10: mostly the tasks the coming one resembles; 0: by forgetting alone).
        pace: Exponent of the number of taught tasks in a phase's risk, ``m * n ** pace`` (3: most of the
            budget late, when many tasks compete; 1: more evenly; 0: by accuracy mass alone).
    """

    def __init__(self, space, *, similarity: list[list[float]] | None = None, budget: float | None = None,
                 pace: float = 3.0, focus: float = 10.0, seed=None, score_range=None):
        super().__init__(space, similarity=similarity, seed=seed, score_range=score_range)
        if budget is None:
            budget = float(space.n - 1)
            self._record_settings(budget=budget)
        self.budget = number("budget", budget, 0.0)
        self.pace = number("pace", pace, 0.0)
        self.focus = number("focus", focus, 0.0)
        self.spent = 0.0

    def _next_new(self, taught: np.ndarray) -> int:
        left = np.flatnonzero(~taught)
        if self.similarity is None:
            return self._random_new(taught)
        if len(left) == 1:
            return int(left[0])
        sub = self.similarity[np.ix_(left, left)].copy()
        np.fill_diagonal(sub, 0.0)
        score = sub.sum(axis=1) / (len(left) - 1)
        held = np.flatnonzero(taught)
        if len(held):  # minus the accuracy-weighted similarity to what the learner holds now
            acc = np.nan_to_num(self.last[held], nan=0.0)
            score = score - (acc[:, None] * self.similarity[np.ix_(held, left)]).sum(axis=0) / len(held)
        return int(left[int(np.argmax(score))])  # argmax: ties go to the lowest index

    def _amount(self) -> float:
        n = int(self.taught.sum())
        remaining = max(self.budget - self.spent, 0.0)
        if n == 0:
            return 0.0
        phases = int((~self.taught).sum())
        if phases <= 1:
            return remaining
        m = float(np.nansum(self.last[self.taught]))
        mean = m / n
        if m <= 0:
            return remaining / phases
        try:
            risk = np.array([(m + i * mean) * (n + i) ** self.pace for i in range(phases)])
            total = risk.sum()
        except OverflowError:
            total = np.inf
        if not np.isfinite(total):  # a large pace overflows: the same share, in logs
            i = np.arange(phases)
            logs = np.log(m + i * mean) + self.pace * np.log(n + i)
            return remaining * float(np.exp(logs[0] - np.logaddexp.reduce(logs)))
        return remaining * float(risk[0] / total) if total > 0 else remaining / phases

    def _weights(self) -> dict[int, float]:
        idx = np.flatnonzero(self.taught)
        w = 1.0 + np.maximum(np.nan_to_num(self.best[idx] - self.last[idx]), 0.0)
        if self.similarity is not None and len(idx) > 1 and not self.taught.all():
            # the coming task interferes most with the taught tasks most like it: rehearse those more
            s = self.similarity[idx, self._next_new(self.taught.copy())]
            w = w + self.focus * (s - s.min()) / (np.ptp(s) if np.ptp(s) > 0 else 1.0)
        return {int(i): float(v) for i, v in zip(idx, w)}

    def _spend(self) -> None:
        self.spent += self._amount()

    def _get_state(self) -> dict[str, Any]:
        return dict(super()._get_state(), spent=float(self.spent))

    def _set_state(self, state: dict[str, Any]) -> None:
        spent = float(state["spent"])
        if not np.isfinite(spent) or spent < 0:
            raise ValueError(f"spent rehearsal must be a finite number >= 0, got {spent}")
        super()._set_state(state)
        self.spent = spent

    def _beliefs(self) -> dict[str, Any]:
        return dict(super()._beliefs(), budget=self.budget, spent=self.spent)
