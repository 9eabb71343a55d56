"""ASSISTments 2015 held-out split: every learner model fitted on train_valid.csv and scored on test.csv, in one run.

For each model: fit on ``assist2015/train_valid.csv`` (15,275 students),
then replay the 3,818 held-out students of ``assist2015/test.csv`` in order
(predict, reveal, update) and score AUC and log loss; time the fit, the
replay, and the online path one answer at a time (``predict`` then
``update``, mean over the first ``--online-answers`` held-out answers).
``blend`` (its default members stacked: three DKTs, Best-LR with the
sequence features and a GRU DKT; the target model) is followed by each member alone as fitted inside it. pyBKT (package ``pybkt``) is fitted in the same run on
a random subset of the training students (``--pybkt-students``; its
pure-Python EM takes many minutes on all of them) and, beside it, our BKT on
the same subset. Fit times are given as wall-clock seconds (on a shared
2-core machine mostly the queue) and as CPU seconds (all threads of the
process and of the worker processes the blend fits its members in,
``--processes``, 2 by default), the measure the 10-minute target is checked
on first.

Hyper-parameters were chosen on validation data carved from
``train_valid.csv`` only (Best-LR: fold 0 held out; DKT and SAKT pick their
epoch on 10% of the training students inside ``fit``), never on ``test.csv``.

Run:  nice -n 10 python benchmarks/people_kt.py                       # everything
      nice -n 10 python benchmarks/people_kt.py --models bkt best-lr  # a subset, no pyBKT: --no-pybkt
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from people_assist import import_pybkt  # noqa: E402  (the pyBKT shims live there)

from magister.bench.args import at_least, number_in, refuse_config_errors  # noqa: E402
from magister.people import load_assist2015, make_model  # noqa: E402
from magister.people.blend import DEFAULT_MEMBERS  # noqa: E402
from magister.people.evaluate import auc, log_loss  # noqa: E402

DATA = os.environ.get("MAGISTER_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))


def settings(threads: int, minutes: float | None, processes: int = 1) -> dict[str, dict]:
    torch_common = {"threads": threads, "max_minutes": minutes, "seed": 0}
    return {
        "bkt": {"forgets": True},
        "best-lr": {},
        "dkt": dict(torch_common),
        "sakt": dict(torch_common),
        # the default members, with this run's thread and time settings for the sequence models
        "blend": {"seed": 0, "processes": processes, "members": [[name, {**torch_common, **conf} if name in ("dkt", "sakt") else dict(conf)]
                                         for name, conf in DEFAULT_MEMBERS]},
    }


def cpu_seconds() -> float:
    """CPU seconds of this process and of its finished child processes (the blend's worker processes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def online_seconds(model, log, n: int) -> float:
    """Mean seconds of one predict + update, over the first ``n`` answers (learner by learner, in time order)."""
    model.reset()
    order = np.lexsort((np.arange(len(log)), log.time, log.learner))[:n]
    events = [log.event(int(i)) for i in order]
    t0 = time.perf_counter()
    for e in events:
        model.predict(e.learner, e.item, e.timestamp, e.skills)
        model.update(e)
    return (time.perf_counter() - t0) / max(len(events), 1)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=["bkt", "best-lr", "blend", "dkt", "sakt"],
                    choices=tuple(settings(1, None)), metavar="MODEL", help=f"any of {', '.join(settings(1, None))}")
    ap.add_argument("--threads", type=at_least(1), default=1,
                    help="torch threads for DKT / SAKT (one thread does an epoch in fewer CPU seconds than two)")
    ap.add_argument("--max-minutes", type=number_in(0, low_open=True), default=None,
                    help="DKT / SAKT start no new epoch after this many wall-clock minutes (default: no limit; "
                         "the fit budget is the models' epoch cap, measured in CPU seconds)")
    ap.add_argument("--processes", type=at_least(1), default=2,
                    help="worker processes the blend fits its members in (2: one per core of the 2-core budget)")
    ap.add_argument("--online-answers", type=at_least(1), default=2000,
                    help="answers the online path (predict, update) is timed on")
    ap.add_argument("--no-pybkt", action="store_true")
    ap.add_argument("--pybkt-students", type=at_least(1), default=5000)
    ap.add_argument("--pybkt-fits", type=at_least(1), default=1, help="pyBKT random restarts (its own default is 5)")
    args = ap.parse_args(argv)
    if not args.models and args.no_pybkt:  # max() of no row, after loading both files
        ap.error("no --models and --no-pybkt: nothing to measure; name a model or drop --no-pybkt")
    conf = settings(args.threads, args.max_minutes, args.processes)
    for name in args.models:  # a bad setting of a sequence model failed after the fast models and pyBKT had run
        refuse_config_errors(ap, make_model, name, **conf[name])

    train = load_assist2015(os.path.join(DATA, "assist2015", "train_valid.csv"))
    test = load_assist2015(os.path.join(DATA, "assist2015", "test.csv"))
    y = test.correct
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=os.path.dirname(__file__)).stdout.strip()
    except OSError:
        commit = "?"
    print(f"ASSISTments 2015: fit on {len(train)} answers of {len(train.learners)} students, score "
          f"{len(test)} answers of {len(test.learners)} held-out students; commit {commit or '?'}", flush=True)
    rows = [("constant", auc(y, np.full(len(y), train.correct.mean())),
             log_loss(y, np.full(len(y), train.correct.mean())), 0.0, 0.0, 0.0, float("nan"), "")]

    def report(name, p, fit_s, fit_cpu, replay_s, online_s, note=""):
        rows.append((name, auc(y, p), log_loss(y, p), fit_s, fit_cpu, replay_s, online_s, note))
        times = (f"  fit {fit_s:7.1f}s (CPU {fit_cpu:7.1f}s)  replay {replay_s:5.1f}s  online {online_s * 1e6:8.1f} "
                 "us/answer" if np.isfinite(fit_s) else "")
        print(f"  {name:22s} AUC {rows[-1][1]:.4f}  log loss {rows[-1][2]:.4f}{times} {note}", flush=True)

    def run(name: str) -> None:
        model = make_model(name, **conf[name])
        t0, c0 = time.perf_counter(), cpu_seconds()
        model.fit(train)
        t1, cpu = time.perf_counter(), cpu_seconds() - c0
        model.reset()
        p = model.replay(test)
        t2 = time.perf_counter()
        online = online_seconds(model, test, args.online_answers)
        hist = getattr(model, "history", None)
        if hist is None and hasattr(model, "members"):
            hist = getattr(model.members[0], "history", None)
        note = ""
        if hist:
            note += f"{len(hist)} epochs, validation AUC {max(h.get('valid_auc', 0) for h in hist):.4f}"
        if hasattr(model, "member_weights"):
            note += "; weights " + " ".join(f"{k} {v:.2f}" for k, v in model.member_weights().items())
        report(name, p, t1 - t0, cpu, t2 - t1, online, f"({note})" if note else "")
        for k, (member_name, member_conf) in enumerate(getattr(model, "settings", {}).get("members", [])):
            member = model.members[k]  # each member alone, as fitted inside the blend
            member.reset()
            label = f"{member_name} ({member_conf['cell']})" if "cell" in member_conf else member_name
            report(f"  {name}: {label} alone", member.replay(test), float("nan"), float("nan"), float("nan"),
                   float("nan"), "(fitted inside the blend)")

    torch_models = {"dkt", "sakt", "blend"}
    for name in args.models:  # the fast ones first, then pyBKT, then the sequence models
        if name not in torch_models:
            run(name)
    if not args.no_pybkt:
        import pandas as pd

        Model = import_pybkt()
        rng = np.random.default_rng(0)
        keep = rng.choice(len(train.learners), size=min(args.pybkt_students, len(train.learners)), replace=False)
        sub = train.subset(np.isin(train.learner, keep))

        def frame(log):
            return pd.DataFrame({"order_id": np.arange(len(log)),
                                 "user_id": np.asarray(log.learners, dtype=object)[log.learner],
                                 "skill_name": np.asarray(log.skills, dtype=object)[log.skill],
                                 "correct": log.correct.astype(int)})

        t0, c0 = time.perf_counter(), time.process_time()
        pm = Model(seed=0, num_fits=args.pybkt_fits, parallel=False)
        pm.fit(data=frame(sub))
        t1, cpu = time.perf_counter(), time.process_time() - c0
        out = pm.predict(data=frame(test))
        p = out.loc[np.arange(len(test)), "correct_predictions"].to_numpy(dtype=float)
        report(f"pyBKT ({len(keep)} st.)", p, t1 - t0, cpu, time.perf_counter() - t1, float("nan"),
               "(no online update: batch predict)")
        ours = make_model("bkt", forgets=True)
        t0, c0 = time.perf_counter(), time.process_time()
        ours.fit(sub)
        t1, cpu = time.perf_counter(), time.process_time() - c0
        ours.reset()
        p = ours.replay(test)
        t2 = time.perf_counter()
        report(f"bkt ({len(keep)} st.)", p, t1 - t0, cpu, t2 - t1, online_seconds(ours, test, args.online_answers))
    for name in args.models:
        if name in torch_models:
            run(name)

    print("\n| model | AUC | log loss | fit s (wall) | fit s (CPU) | replay s | online us/answer |\n"
          "|---|---|---|---|---|---|---|")
    for name, a, ll, ft, fc, rt, on, note in rows:
        on_s = "-" if not np.isfinite(on) else f"{on * 1e6:.0f}"
        ft_s, fc_s, rt_s = ("-" if not np.isfinite(v) else f"{v:.1f}" for v in (ft, fc, rt))
        print(f"| {name} {note} | {a:.4f} | {ll:.4f} | {ft_s} | {fc_s} | {rt_s} | {on_s} |")
    best = max((r for r in rows[1:] if np.isfinite(r[4])), key=lambda r: r[1])
    # the budget is 600 s wall on 2 idle cores. On a shared machine wall time mostly measures the queue, so a fit of
    # at most 600 CPU s (one idle core's worth) passes whatever the wall time; a fit spread over 2 processes with more
    # CPU s (up to 1200) passes only if its wall time is within 600 s, which says something only on an idle machine
    fast = best[4] <= 600 or (best[4] <= 1200 and best[3] <= 600)
    print(f"\ntarget AUC >= 0.73 with a fit <= 600 CPU s (or <= 600 s wall on 2 idle cores): best {best[0]} AUC "
          f"{best[1]:.5f}, fit {best[4]:.0f} CPU s, {best[3]:.0f} s wall "
          f"({'met' if best[1] >= 0.73 and fast else 'NOT met'}; wall time counts only on an idle machine)")


if __name__ == "__main__":
    main()
