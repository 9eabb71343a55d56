"""Anki review log: recall prediction of the FSRS-family memory model next to the ``fsrs`` package.

Predict, for each review, whether the card is recalled (grade > 1) from the
earlier reviews of that card. Scored reviews: not a card's first review, not
a same-day repeat (less than a day after the previous review of the card),
and in the later part of the log (time split at ``--split`` quantiles). Every
model replays the whole log so cards keep their history across the split.

Models, all in one run:
* constant - the recall rate of the scored reviews before the split;
* fsrs (package) defaults - the ``fsrs`` package's ``Scheduler`` at its
  default parameters, retrievability asked just before each review;
* ours, defaults - our FSRS-6 implementation at the published default weights;
* ours, fitted - the same model after fitting its weights on reviews before the split.

Spread: a bootstrap over cards (resampling cards, 200 draws) of the log-loss
difference between ours (fitted) and the package.

Run:  nice -n 10 python benchmarks/people_anki.py
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import datetime, timezone

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np

from magister.bench.args import at_least, number_in, refuse_config_errors
from magister.people import FSRSMemory, load_anki
from magister.people.evaluate import auc, calibration, log_loss, same_day_repeat

DATA = os.environ.get("MAGISTER_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))


def fsrs_package_predictions(log) -> np.ndarray:
    """Retrievability from the ``fsrs`` package (default parameters) just before every review."""
    import fsrs

    sched = fsrs.Scheduler(enable_fuzzing=False)
    ratings = {1: fsrs.Rating.Again, 2: fsrs.Rating.Hard, 3: fsrs.Rating.Good, 4: fsrs.Rating.Easy}
    out = np.full(len(log), np.nan)
    cards: dict[int, object] = {}
    for i in np.lexsort((np.arange(len(log)), log.time)):
        when = datetime.fromtimestamp(float(log.time[i]), tz=timezone.utc)
        c = cards.get(int(log.item[i]))
        if c is None:
            c = fsrs.Card()
        else:
            out[i] = sched.get_card_retrievability(c, current_datetime=when)
        c, _ = sched.review_card(c, ratings[int(log.outcome[i])], review_datetime=when)
        cards[int(log.item[i])] = c
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", default=os.path.join(DATA, "anki-review-log", "review_log.csv"))
    # a split of 0 or 1 fits on, or scores, no review; outside [0, 1] np.quantile failed after the package's
    # replay; --boot 0 failed in np.percentile after the fits
    ap.add_argument("--split", type=number_in(0, 1, low_open=True, high_open=True), nargs="+",
                    default=[0.5, 0.3, 0.7], help="share of the log (by time) used for fitting, each in (0, 1)")
    ap.add_argument("--boot", type=at_least(1), default=200, help="bootstrap draws over cards")
    args = ap.parse_args(argv)

    log = refuse_config_errors(ap, load_anki, args.file)  # a file of another format: argparse's error
    y = log.correct
    first, elapsed = same_day_repeat(log)
    scorable = ~first & (elapsed >= 1.0)
    print(f"Anki log: {len(log)} reviews of {len(log.items)} cards; {int(scorable.sum())} are neither first "
          "reviews nor same-day repeats", flush=True)
    t0 = time.perf_counter()
    p_pkg = fsrs_package_predictions(log)
    t_pkg = time.perf_counter() - t0
    p_def = FSRSMemory().replay(log)
    rng = np.random.default_rng(0)
    for frac in args.split:
        cut = np.quantile(log.time, frac)
        train, test = scorable & (log.time < cut), scorable & (log.time >= cut)
        t0 = time.perf_counter()
        fitted = FSRSMemory().fit(log, score_mask=log.time < cut)
        t_fit = time.perf_counter() - t0
        fitted.reset()
        p_fit = fitted.replay(log)
        preds = {"constant": np.full(len(log), y[train].mean()), "fsrs (package) defaults": p_pkg,
                 "ours, defaults": p_def, "ours, fitted": p_fit}
        print(f"\nfit on the first {frac:.0%} of the log (by time); scored: {int(test.sum())} later reviews "
              f"(fit {t_fit:.1f}s, package replay {t_pkg:.1f}s)")
        print(f"{'model':26s} {'log loss':>9s} {'AUC':>7s} {'ECE':>7s}")
        for name, p in preds.items():
            pt = np.clip(p[test], 1e-6, 1 - 1e-6)
            print(f"{name:26s} {log_loss(y[test], pt):9.4f} {auc(y[test], pt):7.4f} "
                  f"{calibration(y[test], pt)['ece']:7.4f}")
        # bootstrap over cards of the log-loss gap (ours fitted - package)
        items = log.item[test]
        uniq = np.unique(items)
        yt = y[test]
        a = -(yt * np.log(np.clip(p_fit[test], 1e-6, 1)) + (1 - yt) * np.log(np.clip(1 - p_fit[test], 1e-6, 1)))
        b = -(yt * np.log(np.clip(p_pkg[test], 1e-6, 1)) + (1 - yt) * np.log(np.clip(1 - p_pkg[test], 1e-6, 1)))
        per_a = np.bincount(np.searchsorted(uniq, items), a, len(uniq))
        per_b = np.bincount(np.searchsorted(uniq, items), b, len(uniq))
        cnt = np.bincount(np.searchsorted(uniq, items), minlength=len(uniq))
        gaps = []
        for _ in range(args.boot):
            k = rng.integers(0, len(uniq), len(uniq))
            gaps.append((per_a[k].sum() - per_b[k].sum()) / cnt[k].sum())
        lo, med, hi = np.percentile(gaps, [2.5, 50, 97.5])
        print(f"log-loss gap ours (fitted) - package: {med:+.4f} (95% bootstrap over cards {lo:+.4f} to {hi:+.4f})")
        if frac == args.split[0]:
            cal_f = calibration(y[test], np.clip(p_fit[test], 0, 1))
            cal_p = calibration(y[test], np.clip(p_pkg[test], 0, 1))
            print("reliability (ours fitted | package): bin mean predicted -> observed recall (count)")
            for pf, of, nf in zip(cal_f["predicted"], cal_f["observed"], cal_f["count"]):
                print(f"  ours     {pf:.2f} -> {of:.2f} ({nf})")
            for pp, op, npk in zip(cal_p["predicted"], cal_p["observed"], cal_p["count"]):
                print(f"  package  {pp:.2f} -> {op:.2f} ({npk})")


if __name__ == "__main__":
    main()
