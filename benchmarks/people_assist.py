"""ASSISTments 2015: next-answer prediction of each learner model, 5-fold by student, next to pyBKT.

For each fold (the data file's ``fold`` column: students 0-4), fit every model
on the other four folds, then replay the held-out students' answers in order
(predict, reveal, update) and score AUC and log loss. pyBKT (installed from
PyPI, package ``pybkt``) is fitted and asked to predict the same split in the
same run. Fit times are wall-clock seconds on a shared 2-core machine (noisy).

pyBKT 1.4.3 needs two shims on current numpy / scikit-learn (its import probes
every scikit-learn metric with lists, and its EM stores a 1-element array into
a scalar slot); both are applied below without changing its algorithm.

Run:  nice -n 10 python benchmarks/people_assist.py            # all 5 folds
      nice -n 10 python benchmarks/people_assist.py --folds 0  # one fold
      nice -n 10 python benchmarks/people_assist.py --students 1500  # a random subset of students
Ctrl-C (or ``kill -USR1``) stops early and prints the table for the finished folds.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np

from magister.bench.args import at_least, refuse_config_errors
from magister.people import BKT, Elo, load_assist2015
from magister.people.evaluate import auc, log_loss

DATA = os.environ.get("MAGISTER_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))


def import_pybkt():
    """Import pyBKT's Model with the two compatibility shims described in the module docstring."""
    import sklearn.metrics._classification as cls_metrics

    saved = getattr(cls_metrics, "_log_loss", None)

    def _refuse(*a, **k):
        raise TypeError("not probed")

    if saved is not None:
        cls_metrics._log_loss = _refuse
    try:
        from pyBKT.models import Model
    finally:
        if saved is not None:
            cls_metrics._log_loss = saved
    import pyBKT.fit.EM_fit as em_fit

    if not getattr(em_fit, "_magister_shim", False):
        run = em_fit.run

        def run_scalar(*a, **k):
            r = run(*a, **k)
            r["total_loglike"] = float(np.sum(r["total_loglike"]))
            return r

        em_fit.run = run_scalar
        em_fit._magister_shim = True
    return Model


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=at_least(0), nargs="+", default=[0, 1, 2, 3, 4],
                    help="folds of the file's fold column to hold out, one at a time")
    ap.add_argument("--pybkt-fits", type=at_least(1), default=1, help="pyBKT random restarts (its own default is 5)")
    ap.add_argument("--no-pybkt", action="store_true")
    ap.add_argument("--students", type=at_least(1), default=None,
                    help="use a random subset of N students (seed 0): pyBKT's pure-Python EM is slow")
    ap.add_argument("--file", default=os.path.join(DATA, "assist2015", "train_valid.csv"),
                    help="pyKT-format file (e.g. tests/data/people/assist2015_slice.csv for a quick run)")
    args = ap.parse_args(argv)

    log = refuse_config_errors(ap, load_assist2015, args.file)  # a file of another format: argparse's error
    if args.students is not None and args.students < len(log.learners):
        keep = np.random.default_rng(0).choice(len(log.learners), size=args.students, replace=False)
        log = log.subset(np.isin(log.learner, keep))
    fold = log.extra["fold"]
    # a fold the file does not have was fitted on every answer and scored on none (nan rows); one given twice
    # counted twice in the medians
    have = sorted(int(f) for f in np.unique(fold))
    absent = [f for f in args.folds if f not in have]
    if absent or len(set(args.folds)) < len(args.folds):
        ap.error(f"--folds {' '.join(map(str, args.folds))}: give each fold once, among the file's folds "
                 f"{', '.join(map(str, have))}" + (f" (no fold {', '.join(map(str, absent))})" if absent else ""))
    y = log.correct
    print(f"ASSISTments 2015: {len(log)} answers, {len(np.unique(log.learner))} students, "
          f"{len(np.unique(log.skill))} skills; "
          f"folds {args.folds}", flush=True)
    models = {
        "bkt": lambda: BKT(),
        "bkt+forget": lambda: BKT(forgets=True),
        "elo": lambda: Elo(),
    }
    names = ["constant", *models] + ([] if args.no_pybkt else ["pyBKT"])
    rows: dict[str, list[tuple[float, float, float, float]]] = {n: [] for n in names}
    pooled_y, pooled = [], {n: [] for n in names}
    Model = None if args.no_pybkt else import_pybkt()
    if Model is not None:
        import pandas as pd

        frame = pd.DataFrame({"order_id": np.arange(len(log)),
                              "user_id": np.asarray(log.learners, dtype=object)[log.learner],
                              "skill_name": np.asarray(log.skills, dtype=object)[log.skill],
                              "correct": y.astype(int)})

    def run_fold(f: int) -> None:
        test = fold == f
        train_log, test_log = log.subset(~test), log.subset(test)
        yt = y[test]
        pooled_y.append(yt)
        preds = {"constant": (np.full(test.sum(), y[~test].mean()), 0.0, 0.0)}
        for name, make in models.items():
            t0 = time.perf_counter()
            m = make().fit(train_log)
            t1 = time.perf_counter()
            m.reset()
            p = m.replay(test_log)
            preds[name] = (p, t1 - t0, time.perf_counter() - t1)
        if Model is not None:
            t0 = time.perf_counter()
            pm = Model(seed=f, num_fits=args.pybkt_fits, parallel=False)
            pm.fit(data=frame[~test])
            t1 = time.perf_counter()
            out = pm.predict(data=frame[test])
            p = out.loc[frame.index[test], "correct_predictions"].to_numpy(dtype=float)
            preds["pyBKT"] = (p, t1 - t0, time.perf_counter() - t1)
        for name in names:
            p, ft, rt = preds[name]
            rows[name].append((auc(yt, p), log_loss(yt, p), ft, rt))
            pooled[name].append(p)
            print(f"  fold {f} {name:11s} AUC {rows[name][-1][0]:.4f}  log loss {rows[name][-1][1]:.4f}  "
                  f"fit {ft:7.1f}s  predict {rt:6.1f}s", flush=True)

    def _stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGUSR1, _stop)  # `kill -USR1 PID` stops early and reports the finished folds
    done: list[int] = []
    try:
        for f in args.folds:
            run_fold(f)
            done.append(f)
    except KeyboardInterrupt:  # Ctrl-C: report the folds finished so far
        print(f"\ninterrupted: reporting the {len(done)} finished fold(s) {done}", flush=True)
        for n in names:
            del rows[n][len(done):]
            del pooled[n][len(done):]
        del pooled_y[len(done):]
        if not done:
            return
        args.folds = done

    yy = np.concatenate(pooled_y)
    print(f"\n{len(args.folds)} fold(s); median over folds [min-max]; pooled = all held-out predictions together")
    print(f"{'model':12s} {'AUC':>22s} {'pooled AUC':>11s} {'log loss':>22s} {'fit s (median)':>15s} "
          f"{'predict s':>10s}")
    for n in names:
        r = np.array(rows[n])
        a, ll, ft, rt = r[:, 0], r[:, 1], r[:, 2], r[:, 3]
        print(f"{n:12s} {np.median(a):.4f} [{a.min():.4f}-{a.max():.4f}] {auc(yy, np.concatenate(pooled[n])):11.4f} "
              f"{np.median(ll):.4f} [{ll.min():.4f}-{ll.max():.4f}] {np.median(ft):15.1f} {np.median(rt):10.1f}")
    if "pyBKT" in rows:
        ours = max(models, key=lambda n: np.median(np.array(rows[n])[:, 0]))
        a_ours, a_py = np.median(np.array(rows[ours])[:, 0]), np.median(np.array(rows["pyBKT"])[:, 0])
        f_ours, f_py = np.median(np.array(rows[ours])[:, 2]), np.median(np.array(rows["pyBKT"])[:, 2])
        print(f"\ntarget: best of ours ({ours}) AUC {a_ours:.4f} vs pyBKT {a_py:.4f} "
              f"({'met' if a_ours >= a_py else 'MISSED'}); fit {f_ours:.1f}s vs {f_py:.1f}s "
              f"({'met' if f_ours < f_py else 'MISSED'})")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
