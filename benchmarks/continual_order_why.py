"""Why does the order of classes matter to the continual network? The measurements behind the ``retention`` rule.

For each data set and seed (by default 10-19, which ``continual_order.py``
does not report on), ``--orders`` random orders are each run with
``--repeats`` learner seeds (the same network, buffer and uniform replay as
``continual_order.py``; the data and learner seeds are drawn the same way, so
seeds 10-19 here are seeds 10-19 there). Printed per data set (median
[min-max] over seeds where a figure is per seed):

* how much of the spread of final accuracy between orders the last class
  explains (share of variance between groups of orders with the same last
  class; about ``(K - 1) / (orders - 1)`` would come by chance);
* the mean final accuracy of a class by its place in the order (all seeds);
* the correlation between a class's mean final accuracy when not last and
  the share the confusion similarity keeps on the class itself (its "ease");
* the rank correlation between each class's cost when taught last and its
  crowding (the row sum of the similarity off the diagonal), for the
  confusion similarity at widths 1 and 3 and for the prototypes' cosine.

Run:  nice -n 10 python benchmarks/continual_order_why.py      (10-20 minutes on a shared 2-core machine;
      ``--orders 20 --seeds 10 11 12`` for a quick look)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from continual_order import check_data_and_learner, make_data, spearman  # noqa: E402  (the same data and seeds as the benchmark)

from magister.bench.args import at_least  # noqa: E402
from magister.continual import MLPLearner, run_order  # noqa: E402
from magister.teachers.continual_order import class_similarity  # noqa: E402


def between_share(keys: np.ndarray, values: np.ndarray) -> float:
    """Share of the variance of ``values`` between the groups that ``keys`` defines."""
    total = float(((values - values.mean()) ** 2).sum())
    within = sum(float(((values[keys == g] - values[keys == g].mean()) ** 2).sum()) for g in np.unique(keys))
    return 1.0 - within / total if total > 0 else float("nan")


def run_seed(name: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    root = np.random.SeedSequence([18, seed, 0 if name == "digits" else 1])
    data_ss, order_ss, learn_ss, _ = root.spawn(4)
    data = make_data(name, data_ss, args)
    k = data.k
    order_rng = np.random.default_rng(order_ss)
    orders = np.array([order_rng.permutation(k) for _ in range(args.orders)])
    learner_seeds = [int(v) for v in learn_ss.generate_state(args.repeats)]
    finals = np.array([
        np.mean([run_order(MLPLearner(data.dim, k, np.random.default_rng(learner_seeds[r]), memory=args.memory,
                                      replay=args.replay), data, o).acc[-1] for r in range(args.repeats)], axis=0)
        for o in orders])  # (orders, classes): each class's final accuracy, mean over the learner seeds
    mean_final = finals.mean(axis=1)
    place_sum = np.zeros(k)  # summed final accuracy of the class taught at each place
    for o, f in zip(orders, finals):
        place_sum += f[o]
    not_last = np.array([np.mean([f[c] for o, f in zip(orders, finals) if o[-1] != c]) for c in range(k)])
    conf1 = class_similarity(data.x_train, data.y_train, k, kind="confusion", width=1.0)
    sims = {"confusion, width 1": conf1,
            "confusion, width 3": class_similarity(data.x_train, data.y_train, k, kind="confusion", width=3.0),
            "cosine": class_similarity(data.x_train, data.y_train, k)}
    last_mean = np.array([mean_final[orders[:, -1] == c].mean() if (orders[:, -1] == c).any() else np.nan
                          for c in range(k)])
    ok = np.isfinite(last_mean)
    off = ~np.eye(k, dtype=bool)
    crowd_rho = {n: spearman(-(s * off).sum(axis=1)[ok], last_mean[ok]) for n, s in sims.items()}
    return {"last_share": between_share(orders[:, -1], mean_final), "place_sum": place_sum,
            "n_orders": len(orders), "ease_corr": float(np.corrcoef(np.diag(sims["confusion, width 3"]),
                                                                    not_last)[0, 1]),
            "ease_corr_1": float(np.corrcoef(np.diag(conf1), not_last)[0, 1]), "crowd_rho": crowd_rho}


def _mm(values: list[float], digits: int = 2) -> str:
    """median [min-max]; a range with a negative end reads "-0.06 [-0.23 to -0.04]", not "[-0.23--0.04]"."""
    from magister.bench.report import median_range

    return median_range(values, digits)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=at_least(0), nargs="+", default=list(range(10, 20)))
    p.add_argument("--orders", type=int, default=60, help="random orders per seed")
    p.add_argument("--repeats", type=int, default=3, help="learner seeds averaged per order")
    p.add_argument("--datasets", nargs="+", default=["digits", "synthetic"], choices=["digits", "synthetic"])
    p.add_argument("--k", type=int, default=10, help="classes of the synthetic data set")
    p.add_argument("--n-train", type=int, default=100, help="examples per synthetic class (train and test)")
    p.add_argument("--similarity", type=float, default=0.8, help="similarity within a synthetic pair")
    p.add_argument("--memory", type=int, default=100, help="replay buffer size (examples)")
    p.add_argument("--replay", type=int, default=10, help="buffered examples replayed per minibatch")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be at least 1 (learner seeds averaged per order)")
    if args.orders < 2:
        p.error("--orders must be at least 2")
    check_data_and_learner(p, args)  # a bad --k, --n-train, --similarity, --memory: a traceback after the digits runs
    start = time.perf_counter()
    out: dict[str, Any] = {}
    for name in args.datasets:
        rs = [run_seed(name, s, args) for s in args.seeds]
        k = len(rs[0]["place_sum"])
        by_place = np.sum([r["place_sum"] for r in rs], axis=0) / sum(r["n_orders"] for r in rs)
        print(f"\n== {name} ({len(rs)} seeds, {args.orders} random orders each, {args.repeats} learner seeds)")
        print(f"share of the spread explained by the last class: {_mm([r['last_share'] for r in rs])} "
              f"(chance about {min(1.0, (k - 1) / (args.orders - 1)):.2f})")
        print("mean final accuracy by place: " + " ".join(f"{v:.2f}" for v in by_place))
        print(f"corr(ease = confusion diagonal, accuracy when not last): width 3 {_mm([r['ease_corr'] for r in rs])}, "
              f"width 1 {_mm([r['ease_corr_1'] for r in rs])}")
        for n in rs[0]["crowd_rho"]:
            print(f"rank corr(-crowding, accuracy when last), {n}: {_mm([r['crowd_rho'][n] for r in rs])}")
        out[name] = {"by_place": by_place.tolist(), "last_share": [r["last_share"] for r in rs],
                     "ease_corr": [r["ease_corr"] for r in rs],
                     "crowd_rho": {n: [r["crowd_rho"][n] for r in rs] for n in rs[0]["crowd_rho"]}}
    print(f"\n{time.perf_counter() - start:.0f} s in all")
    return out


if __name__ == "__main__":
    main()
