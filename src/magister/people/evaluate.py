"""Replay evaluation of learner models on logged answers.

Walk each learner's log in time order: predict the next answer, reveal it,
update. Score the predictions with AUC, log loss and calibration
(reliability bins), always next to a constant-rate baseline (the training
set's rate of right answers), and split either by learner (``cross_validate``,
k folds) or by time (``time_split``: fit on the earlier part, score the later).

Metrics are written here (rank-based AUC with ties averaged), so the
evaluator needs numpy only.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np

from ..errors import ConfigError
from ..settings import MAX_SIZE, number, size, whole
from .base import LearnerModel
from .events import DAY, EventLog

__all__ = ["auc", "log_loss", "calibration", "Scores", "score", "cross_validate", "time_split",
           "same_day_repeat", "ModelFactory"]

ModelFactory = Callable[[], LearnerModel]


def _check(y: np.ndarray, p: np.ndarray, probabilities: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``y`` and ``p`` as flat float arrays; NaN or infinity in either is an error (as in scikit-learn), and so is an
    outcome outside [0, 1] and, with ``probabilities``, a prediction outside [0, 1] (beyond float round-off, which
    is clipped)."""
    y = np.asarray(y, dtype=float).reshape(-1)
    p = np.asarray(p, dtype=float).reshape(-1)
    if y.shape != p.shape:
        raise ConfigError(f"{len(y)} outcomes but {len(p)} predictions")
    if not np.all(np.isfinite(p)):
        raise ConfigError("predictions contain NaN or infinity")
    if not np.all(np.isfinite(y)):
        raise ConfigError("outcomes contain NaN or infinity")
    if len(y) and (y.min() < 0.0 or y.max() > 1.0):
        # a grade 1-4 (a graded log's outcome) gave a negative log loss, an observed rate of 2 and an AUC that
        # counted "again" (1) as right
        raise ConfigError(f"outcomes must be 0/1 (or partial credit in [0, 1]), got {y.min():g} .. {y.max():g}; "
                          "for a graded log pass log.correct (grade > 1 as 1)")
    if probabilities:
        if len(p) and (p.min() < -1e-12 or p.max() > 1.0 + 1e-12):
            raise ConfigError(f"predictions must be probabilities in [0, 1], got {p.min():g} .. {p.max():g}")
        p = np.clip(p, 0.0, 1.0)
    return y, p


def auc(y, p) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties); nan if one class only."""
    y, p = _check(y, p)
    pos = y > 0.5
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    ps = p[order]
    ranks = np.empty(len(p))
    # average ranks over ties
    bounds = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:]):
        ranks[order[a:b]] = (a + b + 1) / 2.0
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def log_loss(y, p, eps: float = 1e-15) -> float:
    """Mean negative log-likelihood of 0/1 outcomes (predictions clipped to [eps, 1 - eps]).

    scikit-learn's ``log_loss`` clips at the float64 machine epsilon instead:
    the two agree except on predictions within 1e-15 of 0 or 1 (a sure and
    wrong prediction costs 34.5 here, 36.0 there); pass
    ``eps=np.finfo(float).eps`` for its figure. The published figures use 1e-15. ``eps`` is in [0, 0.5], and
    outcomes in [0, 1] (0/1, or partial credit; a graded log's ``log.correct``).
    """
    # eps above 0.5 (or text) made numpy's clip give 1 - eps for every prediction, a loss of no model
    eps = number("eps", eps, 0.0, 0.5, hint="the clip of predictions away from 0 and 1 (1e-15 by default)")
    y, p = _check(y, p, probabilities=True)
    p = np.clip(p, eps, 1 - eps)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def calibration(y, p, bins: int = 10) -> dict[str, list[float]]:
    """Reliability table: per equal-width bin of predictions, mean prediction, observed rate, count.

    Also returns ``ece`` (expected calibration error: count-weighted mean |gap|).
    Bin ``k`` holds predictions in ``[k / bins, (k + 1) / bins)``, the last one
    closed (as ``numpy.histogram``); scikit-learn's ``calibration_curve``
    puts a prediction that falls on an edge in the bin below, so the two can
    differ on predictions exactly at a multiple of ``1 / bins``. ``bins`` is a whole number, 1 to 1,000,000.
    """
    # 0, 2.5, 10.0 or "10" raised numpy's raw errors, 10**9 filled memory with empty bins
    bins = size("bins", bins, 1, floats=True, why="the table has one row per bin", limit=MAX_SIZE)
    y, p = _check(y, p, probabilities=True)
    b = np.minimum((p * bins).astype(int), bins - 1)
    n = np.bincount(b, minlength=bins)
    mp = np.bincount(b, p, bins) / np.maximum(n, 1)
    mo = np.bincount(b, y, bins) / np.maximum(n, 1)
    ece = float((n * np.abs(mp - mo)).sum() / max(len(y), 1))
    keep = n > 0
    return {"predicted": mp[keep].tolist(), "observed": mo[keep].tolist(), "count": n[keep].tolist(), "ece": ece}


@dataclass
class Scores:
    """Metrics of one model on one split (or a summary over folds)."""

    model: str
    auc: float
    log_loss: float
    ece: float
    n: int
    fit_seconds: float = 0.0
    replay_seconds: float = 0.0
    folds: list["Scores"] = field(default_factory=list)
    calibration: dict = field(default_factory=dict)


def score(name: str, y, p, fit_seconds: float = 0.0, replay_seconds: float = 0.0) -> Scores:
    cal = calibration(y, p)
    return Scores(name, auc(y, p), log_loss(y, p), cal["ece"], len(np.asarray(y)), fit_seconds, replay_seconds,
                  calibration=cal)


def _fit_and_replay(factory: ModelFactory, train: EventLog, test: EventLog, fit_kwargs=None, name: str = "model"):
    model = _built(factory, name)
    t0 = _time.perf_counter()
    model.fit(train, **(fit_kwargs or {}))
    t1 = _time.perf_counter()
    model.reset()
    pred = model.replay(test)
    return pred, t1 - t0, _time.perf_counter() - t1


def _factories(models: Any, fn: str) -> dict[str, ModelFactory]:
    """``models`` as ``{name: factory}``; anything else (a list, a model instance or a model's name as a value,
    which raised "'BKT' object is not callable" after the folds were cut) is a ConfigError naming the fix."""
    if not isinstance(models, Mapping):
        raise ConfigError(f"{fn} takes models as a dict of name -> factory, e.g. {{\"bkt\": BKT, \"bkt+forget\": "
                          f"lambda: BKT(forgets=True)}}, got {type(models).__name__} {models!r:.60}")
    for name, factory in models.items():
        if not callable(factory) or isinstance(factory, LearnerModel):
            fix = f"lambda: make_model({factory!r})" if isinstance(factory, str) else "the class, or a lambda"
            raise ConfigError(f"{fn}: model {name!r} must be a factory that builds a fresh model for each fit (each "
                              f"fold starts from scratch), got {type(factory).__name__} {factory!r:.60}; pass {fix}")
    return dict(models)


def _built(factory: ModelFactory, name: str) -> LearnerModel:
    model = factory()
    if not isinstance(model, LearnerModel):
        raise ConfigError(f"model {name!r}: its factory returned {type(model).__name__} {model!r:.60}, not a "
                          "learner model (BKT(), make_model(\"elo\"), ...)")
    return model


def _check_ungraded(log: EventLog, fn: str) -> None:
    """A log of grades built as an ungraded one (``graded=False``, outcomes above 1): refused naming ``graded=True``.
    ``fn`` scores ``log.correct``, which is the grades themselves in such a log, and the metrics' refusal said to pass
    ``log.correct``, which it does."""
    y = np.asarray(log.outcome, dtype=float)
    if not log.graded and len(y) and y.max() > 1.0:
        raise ConfigError(f"{fn}: the log's outcomes run up to {y.max():g}, but it is not graded (graded=False), so "
                          "they are scored as 0/1 outcomes; build a log of grades 1-4 with graded=True "
                          "(EventLog.from_events(events, graded=True), or graded left out: guessed from outcomes > 1)")


def cross_validate(models: dict[str, ModelFactory], log: EventLog, folds: np.ndarray | None = None,
                   k: int = 5, seed: int = 0) -> dict[str, Scores]:
    """k-fold replay evaluation split by learner; ``folds`` gives each event's fold (else random by learner).

    Returns one :class:`Scores` per model (pooled over folds' predictions, each
    fold's scores in ``.folds``), plus ``"constant"``: the training rate.
    """
    models = _factories(models, "cross_validate")
    if folds is None:
        k = whole("k", k, 2, hint="the number of folds (k=0 was numpy's 'high <= 0', k=2.5 taken as 2)")
        rng = np.random.default_rng(seed)
        per_learner = rng.integers(0, k, size=len(log.learners))
        folds = per_learner[log.learner]
    if np.ndim(folds) != 1:  # (folds=3, as a count of folds, was "TypeError: len() of unsized object")
        raise ConfigError(f"folds gives each event its fold (an array of {len(log)} fold numbers, one per event), got "
                          f"{str(folds)[:80]}; for k random folds by learner pass k={folds!r} instead")
    folds = np.asarray(folds)
    if len(folds) != len(log):
        raise ConfigError(f"folds has {len(folds)} entries for {len(log)} events")
    if folds.dtype.kind == "f" and not np.isfinite(folds).all():  # (NaN made a fold of each event, scored NaN)
        raise ConfigError(f"folds holds NaN or infinity (rows {np.flatnonzero(~np.isfinite(folds))[:5].tolist()}); "
                          "give every event a fold number")
    if len(np.unique(folds)) < 2:  # (a single fold has nothing to fit on: "predictions contain NaN or infinity")
        raise ConfigError("cross_validate needs events in at least 2 folds (each fold is scored by models fitted on "
                          f"the others), got {len(np.unique(folds))}; give more folds (random folds by learner: a "
                          "larger k, or a log of more learners)")
    # the whole table's item skills, so that an item tagged two ways is refused naming the table's own rows (a
    # fold's fit or replay named the rows of that fold's part, after fitting the folds before it)
    LearnerModel()._check_item_skills(log)
    _check_ungraded(log, "cross_validate")
    y = log.correct
    names = ["constant", *models]
    preds = {n: np.empty(len(log)) for n in names}
    fit_t = {n: 0.0 for n in names}
    rep_t = {n: 0.0 for n in names}
    per_fold: dict[str, list[Scores]] = {n: [] for n in names}
    for f in np.unique(folds):
        test = folds == f
        train_log, test_log = log.subset(~test), log.subset(test)
        preds["constant"][test] = y[~test].mean()
        per_fold["constant"].append(score("constant", y[test], preds["constant"][test]))
        for name, factory in models.items():
            p, ft, rt = _fit_and_replay(factory, train_log, test_log, name=name)
            preds[name][test] = p
            fit_t[name] += ft
            rep_t[name] += rt
            per_fold[name].append(score(name, y[test], p, ft, rt))
    out = {}
    for n in names:
        s = score(n, y, preds[n], fit_t[n], rep_t[n])
        s.folds = per_fold[n]
        out[n] = s
    return out


def same_day_repeat(log: EventLog) -> tuple[np.ndarray, np.ndarray]:
    """Per event: is it a first review of its (learner, item), and days since the previous review (nan if first).

    A caller counts a review as a same-day repeat when those days are below its threshold (``time_split``'s
    ``min_days``). (A ``min_days`` argument here was accepted and ignored.)
    """
    order = np.lexsort((np.arange(len(log)), log.time, log.item, log.learner))
    li, it, tm = log.learner[order], log.item[order], log.time[order]
    cont = np.r_[False, (li[1:] == li[:-1]) & (it[1:] == it[:-1])]
    el = np.full(len(log), np.nan)
    el[order[1:]] = np.where(cont[1:], (tm[1:] - tm[:-1]) / DAY, np.nan)
    first = np.isnan(el)
    return first, el


def time_split(models: dict[str, ModelFactory], log: EventLog, train_fraction: float = 0.5,
               min_days: float = 1.0, fit_on_train: bool = True) -> dict[str, Scores]:
    """Fit on the earlier ``train_fraction`` of the log (by time), score the later part.

    The whole log is replayed (so items keep their history across the split);
    scored events are those in the later part that are not the first review of
    their item and not same-day repeats (less than ``min_days`` after the
    previous review). Includes the ``"constant"`` baseline: the rate of right
    answers on the earlier part's scored reviews (on all its reviews where none
    is scored, e.g. only first reviews before the cut).
    """
    models = _factories(models, "time_split")
    # (text raised Python's "'<' not supported", a NaN min_days scored nothing)
    train_fraction = number("train_fraction", train_fraction, 0.0, 1.0, low_open=True, high_open=True,
                            hint="the earlier share of the log to fit on")
    min_days = number("min_days", min_days, hint="days since the previous review below which one is not scored")
    LearnerModel()._check_item_skills(log)  # naming the table's rows, not those of its earlier part (as above)
    _check_ungraded(log, "time_split")
    cut = np.quantile(log.time, train_fraction)
    first, el = same_day_repeat(log)
    scored = ~first & (el >= min_days)
    train = log.time < cut
    if not train.any():
        raise ConfigError(f"time_split: no event is earlier than the cut at time {cut:g} (train_fraction "
                          f"{train_fraction}): nothing to fit on")
    test = scored & ~train
    y = log.correct
    # the rate on the training part's scored reviews; the whole training part's rate where it has none
    base = y[scored & train] if (scored & train).any() else y[train]
    out = {"constant": score("constant", y[test], np.full(test.sum(), base.mean()))}
    for name, factory in models.items():
        model = _built(factory, name)
        t0 = _time.perf_counter()
        if fit_on_train:
            model.fit(log, score_mask=train) if _accepts_mask(model) else model.fit(log.subset(train))
        t1 = _time.perf_counter()
        model.reset()
        p = model.replay(log)
        out[name] = score(name, y[test], p[test], t1 - t0, _time.perf_counter() - t1)
    return out


def _accepts_mask(model: LearnerModel) -> bool:
    import inspect

    return "score_mask" in inspect.signature(model.fit).parameters
