"""Replay evaluator: metrics against scikit-learn, k-fold by learner, time split with same-day repeats excluded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score

from magister.people import BKT, Elo, FSRSMemory, load_anki, load_assist2015
from magister.people.evaluate import auc, calibration, cross_validate, log_loss, same_day_repeat, time_split

DATA = Path(__file__).parent / "data" / "people"


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_scikit_learn_on_random_data(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 2000))
    y = rng.integers(0, 2, n)
    p = rng.random(n)
    if seed % 2:
        p = np.round(p, 1)  # many ties
    assert auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    q = np.clip(p, 1e-3, 1 - 1e-3)
    assert log_loss(y, q) == pytest.approx(sk_log_loss(y, q), abs=1e-12)


def test_calibration_table():
    rng = np.random.default_rng(0)
    p = rng.random(20000)
    y = (rng.random(20000) < p).astype(float)  # calibrated by construction
    cal = calibration(y, p, bins=10)
    assert sum(cal["count"]) == 20000 and len(cal["observed"]) == 10
    assert cal["ece"] < 0.02
    assert calibration(y, np.clip(p * 0.5, 0, 1))["ece"] > 0.15  # systematically low predictions
    assert np.isnan(auc([1, 1, 1], [0.2, 0.3, 0.4]))


def test_cross_validation_by_learner_beats_the_constant_baseline():
    log = load_assist2015(DATA / "assist2015_slice.csv")
    res = cross_validate({"bkt": lambda: BKT(), "elo": lambda: Elo()}, log, folds=log.extra["fold"])
    assert set(res) == {"constant", "bkt", "elo"}
    assert len(res["bkt"].folds) == 5 and res["bkt"].n == len(log)
    assert res["constant"].auc <= 0.55
    for name in ("bkt", "elo"):
        assert res[name].auc > 0.62, (name, res[name].auc)
        assert res[name].log_loss < res["constant"].log_loss


def test_time_split_for_memory_excludes_first_reviews_and_same_day_repeats():
    log = load_anki(DATA / "anki_slice.csv")
    first, elapsed = same_day_repeat(log)
    assert first.sum() == len(log.items)  # one first review per card
    assert np.all(np.isnan(elapsed[first])) and np.all(elapsed[~first] >= 0)
    res = time_split({"fsrs": lambda: FSRSMemory(max_iter=10)}, log, train_fraction=0.5)
    cut = np.quantile(log.time, 0.5)
    expected_n = int((~first & (elapsed >= 1.0) & (log.time >= cut)).sum())
    assert res["fsrs"].n == res["constant"].n == expected_n
    assert res["fsrs"].log_loss < res["constant"].log_loss
    assert res["fsrs"].auc > 0.55


def test_log_loss_clips_as_documented_and_matches_scikit_learn_with_its_clip():
    y = np.array([1, 0, 1, 0, 1])
    p = np.array([0.0, 1.0, 1.0, 0.0, 0.7])  # two sure and wrong, two sure and right
    assert log_loss(y, p, eps=np.finfo(float).eps) == pytest.approx(sk_log_loss(y, p), rel=1e-12)
    c = np.clip(p, 1e-15, 1 - 1e-15)  # the documented clip: a sure and wrong prediction costs about 34.5
    assert log_loss(y, p) == pytest.approx(float(-(y * np.log(c) + (1 - y) * np.log(1 - c)).mean()), rel=1e-12)
    assert 34 < log_loss([1], [0.0]) < 35 < log_loss([1], [0.0], eps=np.finfo(float).eps)
    q = np.array([0.2, 0.4, 0.9, 0.1, 0.7])  # away from 0 and 1 the clips agree
    assert log_loss(y, q) == pytest.approx(sk_log_loss(y, q), rel=1e-12)


def test_metrics_refuse_nan_outcomes_and_log_loss_refuses_non_probabilities():
    from magister.errors import ConfigError

    for metric in (auc, log_loss, lambda y, p: calibration(y, p)):
        with pytest.raises(ConfigError, match="outcomes"):
            metric([0.0, np.nan, 1.0], [0.1, 0.2, 0.3])  # scikit-learn: "Input y contains NaN"
    for p in ([-0.05, 0.5], [1.2, 0.5]):  # scikit-learn: "y_prob contains values lower than 0" / "greater than 1"
        with pytest.raises(ConfigError, match=r"\[0, 1\]"):
            log_loss([1, 0], p)
        with pytest.raises(ConfigError, match=r"\[0, 1\]"):
            calibration([1, 0], p)
    assert auc([1, 0], [1.2, -0.05]) == roc_auc_score([1, 0], [1.2, -0.05]) == 1.0  # scores need not be probabilities


def test_time_split_constant_baseline_when_no_review_before_the_cut_is_scored():
    from magister.people import Event, EventLog

    day = 86400.0
    # before the cut only first reviews (none scored), half of them recalled; after it every card again
    events = [Event("a", f"c{c}", timestamp=c * day, outcome=3 if c % 2 else 1) for c in range(6)]
    events += [Event("a", f"c{c}", timestamp=(10 + c) * day, outcome=3 if c < 2 else 1) for c in range(6)]
    res = time_split({}, EventLog.from_events(events), train_fraction=0.5)
    assert res["constant"].n == 6 and res["constant"].log_loss == pytest.approx(np.log(2))  # the earlier rate, 0.5


def test_an_item_tagged_two_ways_is_refused_naming_the_tables_own_rows():
    # the held-out learner's rows tag q0 with another skill: the fold's replay refused them naming that fold's
    # rows (48, 52, 56; "row 0" for the other skill) instead of the table's (228, 232, 236)
    from magister.errors import ConfigError
    from magister.people import Event, EventLog

    events = [Event(f"u{l}", f"q{t % 4}", ("s1" if t % 4 == 0 and l == 19 else f"s{t % 2}",), float(t),
                    float((l * 7 + t * 3) % 5 < 3)) for l in range(20) for t in range(12)]
    log = EventLog.from_events(events)
    rows = ", ".join(str(int(r)) for r in np.flatnonzero((log.item == 0) & (log.skill == 1)))
    first = int(np.flatnonzero((log.item == 0) & (log.skill == 0))[0])
    msg = rf"item 'q0' is tagged with two skills: 's0' \(row {first}\) and 's1' \(rows {rows}\)"
    with pytest.raises(ConfigError, match=msg):
        cross_validate({"bkt": BKT}, log, (log.learner >= 15).astype(int))
    late = EventLog.from_events([Event("u0", "q0", ("s0",), float(t), 1.0) for t in range(6)]
                                + [Event("u0", "q0", ("s1",), 10.0 + t, 1.0) for t in range(2)])
    with pytest.raises(ConfigError, match=r"'s0' \(row 0\) and 's1' \(rows 6, 7\)"):
        time_split({"bkt": BKT}, late, fit_on_train=True)


def test_cross_validate_refuses_folds_it_cannot_score_naming_the_fix():
    # folds=3 (a count, as sklearn's cv=3) was "TypeError: len() of unsized object", k=0 numpy's "high <= 0", one
    # fold (nothing left to fit on) "predictions contain NaN or infinity", NaN folds a fold per event scored NaN
    from magister.errors import ConfigError
    from magister.people import Event, EventLog

    log = EventLog.from_events([Event(f"u{l}", f"q{t % 4}", (f"s{t % 2}",), float(t), float((l + t) % 3 < 2))
                                for l in range(12) for t in range(10)])
    for kw, why in ((dict(folds=3), "pass k=3 instead"), (dict(k=0), "k must be a whole number >= 2"),
                    (dict(k=2.5), "k must be a whole number >= 2"), (dict(k=1), "k must be a whole number >= 2"),
                    (dict(folds=np.zeros(len(log), int)), "at least 2 folds"),
                    (dict(folds=np.full(len(log), np.nan)), "NaN")):
        with pytest.raises(ConfigError, match=why):
            cross_validate({"bkt": BKT}, log, **kw)
    assert set(cross_validate({"bkt": BKT}, log, k=3)) == {"constant", "bkt"}


def test_models_given_as_anything_but_factories_are_refused_naming_the_fix():
    """A model instance, a model's name or a list of classes raised "'BKT' object is not callable" (or "'list' object
    has no attribute 'items'") after the folds were cut; a train_fraction given as text raised Python's "'<' not
    supported"."""
    from magister.errors import ConfigError

    log = load_assist2015(DATA / "assist2015_slice.csv", max_learners=40)
    for models, match in (({"bkt": BKT()}, r"model 'bkt' must be a factory .* got BKT"),
                          ({"bkt": "bkt"}, r"got str 'bkt'; pass lambda: make_model\('bkt'\)"),
                          ([BKT], r"takes models as a dict of name -> factory")):
        with pytest.raises(ConfigError, match=match):
            cross_validate(models, log, folds=log.extra["fold"])
    with pytest.raises(ConfigError, match=r"factory returned dict"):
        cross_validate({"bkt": lambda: {}}, log, folds=log.extra["fold"])
    anki = load_anki(DATA / "anki_slice.csv")
    for bad in ("0.5", float("nan"), 1.0):
        with pytest.raises(ConfigError, match=r"train_fraction must be a number in \(0.0, 1.0\)"):
            time_split({"fsrs": FSRSMemory}, anki, bad)
    with pytest.raises(ConfigError, match=r"min_days must be a finite number"):
        time_split({"fsrs": FSRSMemory}, anki, 0.5, min_days="1")
    with pytest.raises(ConfigError, match=r"time_split: model 'fsrs' must be a factory"):
        time_split({"fsrs": FSRSMemory()}, anki, 0.5)


def test_metrics_refuse_outcomes_off_the_0_1_scale_and_bad_bins_or_eps_naming_them():
    # a graded log's outcomes (grades 1-4) gave a negative log loss (-2.09), an observed rate of 2.0 and an AUC
    # that counted "again" as right; calibration(bins=0 / 2.5 / 10.0 / "10") raised numpy's raw errors and
    # bins=10**9 filled memory; log_loss(eps=0.6) scored every prediction as 0.4
    from magister.errors import ConfigError

    for metric in (auc, log_loss, calibration):
        for y in ([3, 1], [-1, 0]):
            with pytest.raises(ConfigError, match=r"outcomes must be 0/1 .*log\.correct"):
                metric(y, [0.9, 0.2])
    y, p = [0, 1, 1, 0], [0.1, 0.8, 0.6, 0.3]
    for bins in (0, -1, 2.5, "10", True, float("nan"), 10**9):
        with pytest.raises(ConfigError, match="bins"):
            calibration(y, p, bins=bins)
    assert calibration(y, p, bins=10.0) == calibration(y, p, bins=np.int64(10)) == calibration(y, p)
    for eps in (0.6, -1, float("nan"), "x"):
        with pytest.raises(ConfigError, match="eps"):
            log_loss(y, p, eps=eps)
    assert log_loss(y, p, eps=0) == log_loss(y, p) and log_loss([1, 0.5], [0.7, 0.5]) > 0  # partial credit kept
    assert auc([1, 0.25, 0.75], [0.9, 0.2, 0.6]) == 1.0


def test_a_log_of_grades_built_ungraded_is_refused_naming_graded_true():
    # a log of grades 1-4 built with graded=False is scored on its grades; the metrics' refusal said "for a graded
    # log pass log.correct", which cross_validate and time_split already pass: the fix is graded=True
    from magister.errors import ConfigError
    from magister.people import Event, EventLog

    day = 86400.0
    events = [Event(f"l{i % 4}", f"c{i % 3}", timestamp=i * day, outcome=1 + i % 4) for i in range(40)]
    ungraded = EventLog.from_events(events, graded=False)
    for evaluate in (lambda log: cross_validate({}, log, k=2), lambda log: time_split({}, log, train_fraction=0.5)):
        with pytest.raises(ConfigError, match=r"up to 4, but it is not graded \(graded=False\).*graded=True"):
            evaluate(ungraded)
        assert set(evaluate(EventLog.from_events(events))) == {"constant"}  # the same events as grades: scored
    partial = [Event(f"l{i % 4}", f"c{i % 3}", timestamp=i * day, outcome=(i % 5) / 4) for i in range(40)]
    assert set(cross_validate({}, EventLog.from_events(partial), k=2)) == {"constant"}  # partial credit as before
