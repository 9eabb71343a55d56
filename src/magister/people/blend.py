"""A blend of learner models: a logistic model stacked on their predicted logits.

P(correct) = sigmoid(b + sum_k w_k * logit(p_k)), where ``p_k`` is member
``k``'s prediction. ``fit`` holds out a share of the learners
(``valid_fraction``), fits every member on the others, replays the held-out
learners through each member (predict, then reveal, as the replay evaluator
does) and fits ``b`` and ``w`` by logistic regression on those predictions:
the weights come from learners no member was fitted on. With nothing held
out (``valid_fraction=0``) the members' logits are averaged.

With ``refit=True`` (the default), once the weights are fitted every
member is built afresh from its settings and fitted on all of ``fit``'s
learners (the held-out ones too), and the weights are kept: the members see
every learner, at about twice the fit's time. The weights then combine
members a little different from (and fitted on more data than) the ones
they were fitted on.

With ``first_answer=True`` a learner's very first answer (no answer of
theirs seen before, by ``fit``'s log or online) gets its own intercept and
its own weight per member: there the sequence models know nothing of the
learner and the count models only the skill's difficulty, and the stack
learns how far to trust each of them.

The default members are three DKTs (seeds 0, 1, 2), Best-LR with its
sequence features and a DKT with a GRU cell (seed 3), with the first-answer
gate and ``refit`` on: on ASSISTments 2015 the LSTMs and the logistic model err
differently (DKT learns from chunks of 200 answers; Best-LR sees every
earlier answer through counts and the order of the last few), the GRU a
little differently from the LSTMs, and the blend scores above each
(docs/people.md).

Online, :meth:`~Blend.update` passes the answer to every member and :meth:`~Blend.predict`
combines their predictions; :meth:`~Blend.replay` runs each member's vectorised
replay. Saving stores every member's whole state inside the blend's.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from functools import partial
from typing import Any

import numpy as np

from ..errors import CheckpointError, ConfigError
from ..processes import run_in_pool
from ..settings import flag, reading_saved, saved_settings
from .base import LearnerModel, make_model, new_number, reading_setting, register_model, stored_settings
from .events import Event, EventLog

__all__ = ["Blend"]

_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1.0 - _EPS)
    return np.log(p / (1.0 - p))


def _stack(z: np.ndarray, y: np.ndarray, l2: float = 1e-3, steps: int = 50) -> np.ndarray:
    """Logistic regression of ``y`` on the columns of ``z`` (with an intercept first), by Newton's method."""
    X = np.column_stack([np.ones(len(z)), z])
    w = np.zeros(X.shape[1])
    w[1:] = 1.0 / z.shape[1]
    reg = np.full(X.shape[1], l2 * len(X))
    reg[0] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(X @ w)))
        grad = X.T @ (p - y) + reg * w
        hess = (X * (p * (1.0 - p))[:, None]).T @ X + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return w


def _fit_member(job: tuple[str, dict[str, Any], EventLog], saved: bool = False) -> tuple[dict[str, Any], Any]:
    """A worker process's job: one member built from its settings (``saved``: those of a blend loaded from a file,
    built as ``Blend._members_saved`` says), fitted on the log; its whole state back (and its training ``history``,
    where it keeps one)."""
    name, settings, log = job
    with saved_settings() if saved else nullcontext():
        m = make_model(name, **settings)
    m.fit(log)
    return m.get_state(), getattr(m, "history", None)


def _members(members: Any) -> list[list[Any]]:
    """``members`` as ``[[name, settings], ...]`` (a bare name means default settings)."""
    if not isinstance(members, (list, tuple)) or not members:
        raise ConfigError(f"blend members must be a non-empty list of model names or [name, settings], "
                          f"got {members!r}")
    out = []
    for m in members:
        if isinstance(m, str):
            m = [m, {}]
        if (not isinstance(m, (list, tuple)) or len(m) != 2 or not isinstance(m[0], str)
                or not isinstance(m[1], dict)):
            raise ConfigError(f"a blend member is a model name or [name, settings], got {m!r}")
        out.append([m[0], dict(m[1])])
    return out


#: three DKTs (different seeds, so different initial weights, batches and early-stopping learners), Best-LR
#: with the sequence features and a DKT with a GRU cell (docs/people.md has the fold-0 comparisons that chose them)
DEFAULT_MEMBERS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("dkt", {"seed": 0}), ("dkt", {"seed": 1}), ("dkt", {"seed": 2}), ("best-lr", {"features": "sequence"}),
    ("dkt", {"seed": 3, "cell": "gru"}))


@register_model("blend")
class Blend(LearnerModel):
    """Logistic stack of several learner models' logits, weights fitted on held-out learners.

    Settings: ``members`` (model names or ``[name, settings]`` pairs; default
    :data:`DEFAULT_MEMBERS`), ``valid_fraction`` (share of ``fit``'s
    learners held out to fit the weights; 0 averages the logits), ``seed``
    (which learners are held out), ``mastery_threshold`` (blended P(correct)
    at which a skill counts as mastered), ``first_answer`` (a learner's first
    answer gets its own intercept and member weights; default on),
    ``refit`` (after the weights are fitted, fit every member afresh on all
    of ``fit``'s learners; default on), ``processes`` (fit the members in
    this many worker processes, started afresh by ``fit``; default 1, in
    this process; the members come out the same either way).
    """

    def __init__(self, *, members: Any = DEFAULT_MEMBERS, valid_fraction: float = 0.1,
                 seed: int = 0, mastery_threshold: float = 0.9, first_answer: bool = True,
                 refit: bool = True, processes: int = 1):
        spec = _members(members)
        # given anew, each is a number (seed="3", 3.5, True or -1 was read with int(): parsed, cut, taken as 1, or
        # refused by numpy at fit; valid_fraction="0.1" and mastery_threshold="0.9" parsed by float()), as the other
        # models' settings are; a saved blend's settings are read as it ran (reading_setting's checks below)
        new_number("blend", "seed", seed, "a whole number >= 0 (which learners are held out)", whole=True, low=0)
        new_number("blend", "valid_fraction", valid_fraction, "in [0, 1)")
        new_number("blend", "mastery_threshold", mastery_threshold, "a probability")
        with reading_setting("blend", "valid_fraction", valid_fraction, "in [0, 1)"):
            if not 0.0 <= float(valid_fraction) < 1.0:
                raise ConfigError(f"blend valid_fraction must be in [0, 1), got {valid_fraction!r}")
        with reading_setting("blend", "mastery_threshold", mastery_threshold, "a probability"):
            if not 0.0 <= float(mastery_threshold) <= 1.0:
                raise ConfigError(f"mastery_threshold must be a probability, got {mastery_threshold!r}")
        with reading_setting("blend", "processes", processes, "a whole number >= 1"):
            if isinstance(processes, bool) or int(processes) != processes or int(processes) < 1:
                raise ConfigError(f"blend processes must be a whole number >= 1, got {processes!r}")
        with reading_setting("blend", "seed", seed, "a whole number"):
            int(seed)
        super().__init__(members=spec, valid_fraction=float(valid_fraction), seed=int(seed),
                         mastery_threshold=float(mastery_threshold), first_answer=flag("first_answer", first_answer),
                         refit=flag("refit", refit), processes=int(processes))
        self.members = [make_model(name, **settings) for name, settings in spec]
        # the members' settings came from a saved blend (a model file, a checkpoint): refit builds the members
        # afresh from them as this load did (a model saved before a setting's check, best-lr C="2", was refused)
        self._members_saved = reading_saved()
        self.mastery_threshold = float(mastery_threshold)
        self.first_answer = flag("first_answer", first_answer)
        self.weights = self._initial_weights()
        self.answered: set[str] = set()  # first_answer: learners with an answer seen since the last reset
        self.fitted = False

    def _initial_weights(self) -> np.ndarray:
        """Intercept, one weight per member (the mean of the logits); with first_answer, then the first answer's
        extra intercept and extra weight per member (zeros)."""
        k = len(self.members)
        w = np.r_[0.0, np.full(k, 1.0 / k)]
        return np.r_[w, np.zeros(k + 1)] if self.first_answer else w

    # ---------------------------------------------------------------- fit
    def fit(self, log: EventLog) -> Blend:
        """Fit the members on most learners, then the blend's weights on the held-out rest (then, with ``refit``,
        the members again on all learners)."""
        if len(log) == 0:
            raise ConfigError("blend fit needs at least one event")
        # the whole table's item skills, before any member is fitted: split between the fitting and the held-out
        # learners, two skills of one item were refused after the members were fitted, naming the part's rows
        self._check_item_skills(log)
        if min(int(self.settings.get("processes", 1)), len(self.members)) <= 1:
            # and against each member's own items (fitted here, not afresh in a pool): an item a fitted blend was
            # asked about without skills was refused by the first member's fit naming the fitting part's rows
            for m in self.members:
                m._check_item_skills(log)
        # the learners with answers in the log: a subset (a fold) keeps the whole vocabulary, and holding out a share
        # of all its names held out too few (or none) of the learners fitted on, or all of them (no member could fit)
        present = np.unique(log.learner)
        n = len(present)
        n_valid = int(round(float(self.settings["valid_fraction"]) * n))
        if n_valid and n - n_valid < 1:
            raise ConfigError("blend fit needs more learners than the validation share holds out")
        rng = np.random.default_rng(int(self.settings["seed"]))
        held = np.zeros(len(log.learners), dtype=bool)
        held[present[rng.permutation(n)[:n_valid]]] = True
        rows = held[log.learner]
        train = log.subset(~rows) if n_valid else log
        self._fit_members(train)
        self.weights = self._initial_weights()
        if n_valid:
            valid = log.subset(rows)
            z = np.column_stack([_logit(self._member_replay(m, valid)) for m in self.members])
            if self.first_answer:
                self.answered = set()
                f = self._first_rows(valid)[:, None]
                z = np.column_stack([z, f, z * f])
            y = np.clip(np.asarray(valid.correct, dtype=float), 0.0, 1.0)
            if 0.0 < y.mean() < 1.0:
                self.weights = _stack(z, y)
            if self.settings.get("refit", False):
                self.refit_members(log)
        self.fitted = True
        self.reset()
        return self

    def refit_members(self, log: EventLog) -> None:
        """Replace every member by a fresh one (same name and settings) fitted on all of ``log``; keep the weights.

        ``fit`` calls it with ``refit=True``; calling it on a blend fitted without gives the same members."""
        spec = self.settings["members"]
        with saved_settings() if self._members_saved else nullcontext():
            self.members = [make_model(name, **settings) for name, settings in spec]
        self._fit_members(log)
        self.answered = set()

    def _fit_members(self, log: EventLog) -> None:
        """Fit every member on ``log``: one after the other here, or (``processes`` > 1) in a pool of fresh worker
        processes (spawned, so no thread pool of this process is copied), each member's state sent back."""
        n = min(int(self.settings.get("processes", 1)), len(self.members))
        if n <= 1:
            for m in self.members:
                m.fit(log)
            return
        jobs = [(name, settings, log) for name, settings in self.settings["members"]]
        try:  # (workers reaped: their CPU time counts in this process's children's times)
            states = run_in_pool(partial(_fit_member, saved=self._members_saved), jobs, workers=n)
        except KeyboardInterrupt:  # the workers stopped quietly (a plain pool's printed tracebacks), members unchanged
            raise KeyboardInterrupt from None  # (plain: the members fitted so far are of no use, and exit status 130)
        for m, (state, history) in zip(self.members, states):
            m.set_state(state)
            if history is not None:
                m.history = history  # type: ignore[attr-defined]

    @staticmethod
    def _member_replay(m: LearnerModel, log: EventLog) -> np.ndarray:
        m.reset()
        p = m.replay(log)
        m.reset()
        return p

    def _first_rows(self, log: EventLog) -> np.ndarray:
        """1.0 at each row of ``log`` that is its learner's first answer (none seen before); marks them seen."""
        first = np.zeros(len(log))
        order = np.lexsort((np.arange(len(log)), log.time, log.learner))
        for i in order[np.r_[True, log.learner[order][1:] != log.learner[order][:-1]]] if len(log) else []:
            name = log.learners[int(log.learner[i])]
            if name not in self.answered:
                first[i] = 1.0
                self.answered.add(name)
        return first

    def _combine(self, ps: list[Any], first: Any = 0.0) -> Any:
        k = len(self.members)
        w = self.weights
        z = w[0] + sum(wk * _logit(p) for wk, p in zip(w[1:k + 1], ps))
        if self.first_answer:
            z = z + first * (w[k + 1] + sum(wk * _logit(p) for wk, p in zip(w[k + 2:], ps)))
        return 1.0 / (1.0 + np.exp(-z))

    def _first(self, learner: str) -> float:
        return float(self.first_answer and str(learner) not in self.answered)

    def _need_fit(self) -> None:
        if not self.fitted:
            raise ConfigError("blend is not fitted: call fit(log) (or load a saved model) first")

    # -------------------------------------------------------------- online
    def predict(self, learner: str, item: str, time: float | None = None,
                skills: tuple[str, ...] | None = None) -> float:
        self._need_fit()
        return float(self._combine([m.predict(learner, item, time, skills) for m in self.members],
                                   self._first(learner)))

    def update(self, event: Event) -> None:
        self._need_fit()
        for m in self.members:
            m.update(event)
        if self.first_answer:
            self.answered.add(event.learner)

    def replay(self, log: EventLog) -> np.ndarray:
        """Each member's replay of ``log``, combined."""
        self._need_fit()
        if len(log) == 0:
            return np.empty(0)
        # a table a member refuses (an item with another skill) changes nothing: checked before the first answers
        # are marked and before any member replays it (the learners were marked as answered before the refusal)
        for m in self.members:
            m._check_item_skills(log)
        first = self._first_rows(log) if self.first_answer else 0.0
        return np.asarray(self._combine([m.replay(log) for m in self.members], first), dtype=float)

    def state(self, learner: str, time: float | None = None) -> dict[str, dict[str, float]]:
        """Per skill: the blended P(correct) (``mastery`` and ``p_correct``) and ``mastered``."""
        self._need_fit()
        states = [m.state(learner, time) for m in self.members]
        first = self._first(learner)
        out = {}
        for skill in states[0]:
            p = float(self._combine([st.get(skill, {}).get("p_correct", 0.5) for st in states], first))
            out[skill] = {"mastery": p, "p_correct": p, "mastered": float(p >= self.mastery_threshold)}
        return out

    def mastery(self, learner: str, skill: str, time: float | None = None) -> float:
        """Blended predicted P(correct) on the skill next, the scale of ``mastery_threshold``; a skill never seen
        is not added to any member (a read changes nothing)."""
        self._need_fit()
        ps = []
        for m in self.members:
            if m.mastery_is_p_correct:
                ps.append(m.mastery(learner, skill, time))
            elif str(skill) not in m._listed_skills():  # not one of its skills: 0.5, as state() would give, but
                ps.append(0.5)                          # without giving an unknown learner a code
            else:
                ps.append(m.state(learner, time).get(str(skill), {}).get("p_correct", 0.5))
        return float(self._combine(ps, self._first(learner)))

    def member_weights(self) -> dict[str, float]:
        """The fitted intercept and the weight of each member's logit, by member name."""
        out = {"intercept": float(self.weights[0])}
        k = len(self.members)
        names = []
        for name, _ in self.settings["members"]:
            key, j = name, 2
            while key in names:
                key, j = f"{name}#{j}", j + 1
            names.append(key)
        out.update({key: float(w) for key, w in zip(names, self.weights[1:k + 1])})
        if self.first_answer:
            out["first answer: intercept"] = float(self.weights[k + 1])
            out.update({f"first answer: {key}": float(w) for key, w in zip(names, self.weights[k + 2:])})
        return out

    def reset(self) -> None:
        for m in self.members:
            m.reset()
        self.answered = set()

    # ------------------------------------------------------------- storage
    def _get_params(self) -> dict[str, Any]:
        return {"weights": self.weights.copy(), "fitted": np.array([self.fitted]),
                "members": [m.get_state() for m in self.members]}

    def _set_params(self, params: dict[str, Any]) -> None:
        w = np.asarray(params["weights"], dtype=float).reshape(-1)
        states = list(params["members"])
        if len(w) != len(self._initial_weights()) or len(states) != len(self.members):
            raise ConfigError(f"saved blend has {len(states)} members, its settings {len(self.members)}")
        members = []
        for m, st in zip(self.members, states):
            saved = st.get("settings") if isinstance(st, dict) else None
            # (read as the magister that saved them ran them: a version-1 file's flag "yes" is True, as its blend's
            # member spec is read; a version-2 file's edited one is refused by the load's state check)
            saved = stored_settings(m.name, saved) if isinstance(saved, dict) else None
            if isinstance(saved, dict) and st.get("model") == m.name and saved != m.settings:
                # a setting the member's fit changed (FSRS's first_recall, graded after a graded log): built from
                # the blend's member spec, it held the old value, and the load's check refused the file as damaged;
                # the member is built from its saved settings, as a model saved alone is
                try:
                    m = make_model(m.name, **saved)
                except ConfigError as e:
                    raise CheckpointError(f"saved blend member {m.name!r} holds settings this magister refuses "
                                          f"({e}): the file was edited or damaged; restore it from a backup") from None
            m.set_state(st)
            members.append(m)
        self.members = members
        self.weights = w.copy()
        self.fitted = bool(np.asarray(params["fitted"]).reshape(-1)[0])
        if not all(math.isfinite(x) for x in self.weights):
            raise ConfigError("saved blend weights are not finite")

    def _get_learner_state(self) -> dict[str, Any]:
        # the members' learner states are inside their states (in the params); here only who has answered
        return {"answered": sorted(self.answered)} if self.first_answer else {}

    def _set_learner_state(self, state: dict[str, Any]) -> None:
        self.answered = {str(n) for n in state.get("answered", [])}
