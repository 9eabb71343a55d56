"""Does the order of classes matter to a continual learner, and do our sequence teachers find good ones?

For each data set (scikit-learn's bundled digits; 10 Gaussian classes in 5
look-alike pairs, ``--similarity`` 0.8) and each seed: the class similarity
is computed from the training features (``--similarity-kind``: soft
nearest-prototype confusion by default, for our designer rule and the online
teacher; the paper's cosine between prototypes for its ``cd`` rule and as the
simulated person's interference);
``--orders`` random orders give the distribution of outcomes (each averaged
over ``--repeats`` learner seeds) of a one-pass
numpy network with a small replay buffer (100 examples, 10 replayed per
minibatch of 10); the designer's top-ranked orders (our ``retention`` rule,
and ``cd``, our reading of the paper's Curriculum Designer) and the online
``continual-order`` teacher (same rehearsal budget: it decides the next class
and how much replay each phase gets) are placed in it. The same is done for a
simulated person (the people package's FSRS memory model with similarity
interference). Printed per data set (median [min-max] over seeds):

* random orders: final accuracy and forgetting, median and quartiles; without replay for reference;
* each method: final accuracy, its percentile among the random orders, forgetting;
* Spearman correlation between the designer's score and the accuracy reached, over all orders tried;
* the online teacher's forgetting relative to the median random order, and the replay each spent.

Pictures (``--out``): accuracy of every class over the sequence for the best,
median and worst random order of the first seed, one figure per data set.

Run:  nice -n 10 python benchmarks/continual_order.py            (1.5-4 minutes on a shared 2-core machine)
Seeds used to choose the defaults were others: check with ``--seeds 10 11 12 13 14 15 16 17 18 19``.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np

import magister as mg
from magister.bench.args import at_least, naming_options, out_folder, refuse_config_errors
from magister.continual import MLPLearner, SimulatedPerson, digits, run_order, run_teacher, synthetic
from magister.spaces import Discrete
from magister.teachers.continual_order import class_similarity, order_score

METHODS = ("designer", "designer-top3", "designer-cd", "online")


def spearman(a: Any, b: Any) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    def ranks(v: np.ndarray) -> np.ndarray:
        order = np.argsort(v, kind="mergesort")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=float)
        for x in np.unique(v):  # average the ranks of ties
            m = v == x
            r[m] = r[m].mean()
        return r
    ra, rb = ranks(np.asarray(a, float)), ranks(np.asarray(b, float))
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def percentile(value: float, dist: Any) -> float:
    """Share of ``dist`` strictly below ``value`` plus half of the ties, in percent."""
    d = np.asarray(dist, float)
    return float(100.0 * ((d < value).mean() + 0.5 * (d == value).mean()))


class Avg:
    """Several repeats of one order (or one teacher): mean final accuracy and forgetting, first run's curves."""

    def __init__(self, runs: list[Any]):
        self.final_accuracy = float(np.mean([r.final_accuracy for r in runs]))
        self.forgetting = float(np.mean([r.forgetting for r in runs]))
        self.replayed = float(np.mean([r.replayed for r in runs]))
        self.acc = runs[0].acc


def make_data(name: str, seed_seq: np.random.SeedSequence, args: argparse.Namespace):
    rng = np.random.default_rng(seed_seq)
    if name == "digits":
        return digits(rng)
    return synthetic(rng, k=args.k, groups=max(1, args.k // 2), similarity=args.similarity,
                     n_train=args.n_train, n_test=args.n_train)


#: the library's names of the settings these options give: its refusals name the option instead (``--n-train``,
#: not ``n_train``)
OPTIONS = {name: f"--{name.replace('_', '-')}" for name in ("k", "n_train", "similarity", "memory", "replay", "pace",
                                                             "focus", "decay", "exposure", "width")}


def check_data_and_learner(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Build the synthetic data set and a learner from the options once: a bad ``--k``, ``--n-train``,
    ``--similarity``, ``--memory`` or ``--replay`` is argparse's error before any run (the synthetic set comes after
    the digits runs: it was a ``ConfigError`` traceback after them). The learner is built with as many classes as
    the largest data set of the run has: a ``--memory`` below that (fewer buffer slots than classes) passed a check on
    two classes and was a traceback at the first run, or after the digits runs for a large ``--k``."""
    classes = [refuse_config_errors(p, naming_options(make_data, OPTIONS), name, np.random.SeedSequence(0), args).k
               for name in args.datasets]
    refuse_config_errors(p, naming_options(MLPLearner, OPTIONS), 2, max(classes), np.random.default_rng(0),
                         memory=args.memory, replay=args.replay)


def check_teachers(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Build the teachers and the similarity from the options once, on two classes: a bad ``--pace``, ``--focus``,
    ``--decay``, ``--exposure`` or ``--width`` is argparse's error before any run, not a traceback after the first
    random orders' runs."""
    sim = [[1.0, 0.5], [0.5, 1.0]]
    refuse_config_errors(p, naming_options(class_similarity, OPTIONS), np.eye(2), np.array([0, 1]), 2,
                         kind=args.similarity_kind, width=args.width)
    make_teacher = naming_options(mg.make_teacher, OPTIONS)
    refuse_config_errors(p, make_teacher, "continual-designer", Discrete(2), similarity=sim, decay=args.decay,
                         exposure=args.exposure)
    refuse_config_errors(p, make_teacher, "continual-order", Discrete(2), similarity=sim, pace=args.pace,
                         focus=args.focus)


def run_one(name: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    root = np.random.SeedSequence([18, seed, 0 if name == "digits" else 1])
    data_ss, order_ss, learn_ss, person_ss = root.spawn(4)
    data = make_data(name, data_ss, args)
    k = data.k
    sim = class_similarity(data.x_train, data.y_train, k, kind=args.similarity_kind,  # ours and the online teacher
                           width=args.width)
    cosine = class_similarity(data.x_train, data.y_train, k)  # the paper's measure: its designer, and the person
    order_rng = np.random.default_rng(order_ss)
    randoms = [[int(i) for i in order_rng.permutation(k)] for _ in range(args.orders)]
    learner_seeds = [int(v) for v in learn_ss.generate_state(args.repeats)]
    person_seeds = [int(v) for v in person_ss.generate_state(args.repeats)]

    def net(r: int, memory: int = args.memory) -> MLPLearner:
        # repeat r of every order starts from the same weights and random stream: only the order differs
        return MLPLearner(data.dim, k, np.random.default_rng(learner_seeds[r]), memory=memory, replay=args.replay)

    def person(r: int) -> SimulatedPerson:
        return SimulatedPerson(cosine, np.random.default_rng(person_seeds[r]))

    def avg(make, order=None, teacher=None, **kw) -> Avg:
        runs = [run_order(make(r, **kw), data, order) if teacher is None else run_teacher(make(r, **kw), data, teacher())
                for r in range(args.repeats)]
        return Avg(runs)

    designer = mg.make_teacher("continual-designer", Discrete(k), similarity=sim.tolist(), decay=args.decay,
                               exposure=args.exposure,
                               seed=seed)
    ranked = [o for o, _ in designer.ranking]
    cd = mg.make_teacher("continual-designer", Discrete(k), similarity=cosine.tolist(), rule="cd", seed=seed)
    out: dict[str, Any] = {"k": k, "random_orders": randoms}
    for who, make in (("net", net), ("person", person)):
        rand = [avg(make, o) for o in randoms]
        res: dict[str, Any] = {
            "random_acc": [r.final_accuracy for r in rand], "random_forg": [r.forgetting for r in rand],
            "random_replayed": float(np.median([r.replayed for r in rand])),
            "curves": {"best": None, "median": None, "worst": None},
        }
        accs = np.array(res["random_acc"])
        idx = np.argsort(accs, kind="mergesort")
        for label, i in (("worst", idx[0]), ("median", idx[len(idx) // 2]), ("best", idx[-1])):
            res["curves"][label] = {"order": randoms[i], "acc": rand[i].acc.tolist(), "final": float(accs[i])}
        top = [avg(make, o) for o in ranked[:3]]
        res["designer"] = (top[0].final_accuracy, top[0].forgetting)
        res["designer-top3"] = (float(np.mean([r.final_accuracy for r in top])),
                                float(np.mean([r.forgetting for r in top])))
        r_cd = avg(make, cd.plan)
        res["designer-cd"] = (r_cd.final_accuracy, r_cd.forgetting)
        r_on = avg(make, teacher=lambda: mg.make_teacher("continual-order", Discrete(k), similarity=sim.tolist(),
                                                         pace=args.pace, focus=args.focus, seed=seed))
        res["online"] = (r_on.final_accuracy, r_on.forgetting)
        res["online_replayed"] = r_on.replayed
        tried = randoms + ranked[:3] + [cd.plan]
        tried_acc = res["random_acc"] + [r.final_accuracy for r in top] + [r_cd.final_accuracy]
        res["spearman"] = spearman([order_score(o, sim, designer.rule, designer.decay, designer.exposure)
                                    for o in tried], tried_acc)
        res["spearman_interference"] = spearman([order_score(o, sim, "interference", designer.decay)
                                                 for o in tried], tried_acc)
        res["spearman_cd"] = spearman([order_score(o, cosine, "cd") for o in tried], tried_acc)
        if who == "net":
            bare = [avg(net, o, memory=0) for o in randoms[: max(3, len(randoms) // 3)]]
            res["noreplay"] = (float(np.median([r.final_accuracy for r in bare])),
                               float(np.median([r.forgetting for r in bare])))
        out[who] = res
    return out


def _mm(values: list[float], digits: int = 3) -> str:
    """median [min-max]; a range with a negative end reads "-0.06 [-0.23 to -0.04]", not "[-0.23--0.04]"."""
    from magister.bench.report import median_range

    return median_range(values, digits)


def forgetting_cut_words(cut: list[float]) -> str:
    """``"forgets 30 [28-34]% less"``, or ``"forgets 39 [20-45]% more"`` when every seed's cut is negative (it
    printed "forgets -39% less"); a range across zero keeps the signed cut and says how to read it."""
    if min(cut) >= 0:
        return f"forgets {_mm(cut, 0)}% less"
    if max(cut) <= 0:
        return f"forgets {_mm([-c for c in cut], 0)}% more"
    return f"forgets {_mm(cut, 0)}% less (a negative figure: more)"


def summarise(name: str, who: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    rs = [r[who] for r in runs]
    summary: dict[str, Any] = {}
    med_acc = [float(np.median(r["random_acc"])) for r in rs]
    med_forg = [float(np.median(r["random_forg"])) for r in rs]
    print(f"\n== {name} / {'network, replay buffer' if who == 'net' else 'simulated person (FSRS)'} "
          f"({len(rs)} seeds, {len(rs[0]['random_acc'])} random orders each; median [min-max] over seeds)")
    print(f"{'method':<22}{'final accuracy':<24}{'percentile':<22}{'forgetting':<24}")
    q = lambda r, key, p: float(np.percentile(r[key], p))  # noqa: E731
    print(f"{'random: median':<22}{_mm(med_acc):<24}{'50':<22}{_mm(med_forg):<24}")
    print(f"{'random: quartile 25':<22}{_mm([q(r, 'random_acc', 25) for r in rs]):<24}{'25':<22}"
          f"{_mm([q(r, 'random_forg', 25) for r in rs]):<24}")
    print(f"{'random: quartile 75':<22}{_mm([q(r, 'random_acc', 75) for r in rs]):<24}{'75':<22}"
          f"{_mm([q(r, 'random_forg', 75) for r in rs]):<24}")
    if who == "net":
        print(f"{'random, no replay':<22}{_mm([r['noreplay'][0] for r in rs]):<24}{'':<22}"
              f"{_mm([r['noreplay'][1] for r in rs]):<24}")
    for m in METHODS:
        pct = [percentile(r[m][0], r["random_acc"]) for r in rs]
        summary[m] = {"acc": [r[m][0] for r in rs], "forg": [r[m][1] for r in rs], "pct": pct}
        print(f"{m:<22}{_mm([r[m][0] for r in rs]):<24}{_mm(pct, 0):<22}{_mm([r[m][1] for r in rs]):<24}")
    red = [100.0 * (1.0 - r["online"][1] / np.median(r["random_forg"])) if np.median(r["random_forg"]) > 0
           else 0.0 for r in rs]
    summary["online_forgetting_cut"] = red
    summary["spearman"] = [r["spearman"] for r in rs]
    summary["spearman_cd"] = [r["spearman_cd"] for r in rs]
    summary["spearman_interference"] = [r["spearman_interference"] for r in rs]
    print(f"Spearman(designer score, accuracy): retention {_mm(summary['spearman'], 2)}, "
          f"interference {_mm(summary['spearman_interference'], 2)}, "
          f"cd {_mm(summary['spearman_cd'], 2)}")
    print(f"online teacher {forgetting_cut_words(red)} than the median random order; replay spent: "
          f"online {_mm([r['online_replayed'] for r in rs], 0)}, "
          f"random orders {_mm([r['random_replayed'] for r in rs], 0)}")
    return summary


def plot(name: str, run: dict[str, Any], out: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from magister.checkpoint import save_figure  # (written whole: a Ctrl-C cut fig.savefig's picture short)

    curves = run["net"]["curves"]
    fig = Figure(figsize=(13, 3.8))
    axes = fig.subplots(1, 3, sharey=True)
    k = run["k"]
    colours = [matplotlib.colormaps["tab10"](i % 10) for i in range(k)]
    for ax, label in zip(axes, ("best", "median", "worst")):
        c = curves[label]
        acc = np.array(c["acc"], float)
        for j in range(k):
            ax.plot(np.arange(1, len(acc) + 1), acc[:, j], marker=".", color=colours[j], label=f"class {j}")
        ax.plot(np.arange(1, len(acc) + 1), np.nanmean(acc, axis=1), color="black", lw=2.5, label="mean")
        ax.set_title(f"{label} random order: {' '.join(map(str, c['order']))}\nfinal accuracy {c['final']:.3f} "
                     "(mean of repeats; curves: first repeat)",
                     fontsize=9)
        ax.set_xlabel("phase (classes taught)")
    axes[0].set_ylabel("test accuracy")
    axes[-1].legend(fontsize=6, ncol=2, loc="upper right")
    fig.suptitle(f"{name}: accuracy of each class over the sequence (network with replay, first seed)")
    fig.tight_layout()
    path = os.path.join(out, f"continual_order_{name}.png")
    save_figure(fig, path, dpi=110)
    return path


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=at_least(0), nargs="+", default=[0, 1, 2])
    p.add_argument("--orders", type=int, default=30, help="random orders per seed (the distribution)")
    p.add_argument("--datasets", nargs="+", default=["digits", "synthetic"], choices=["digits", "synthetic"])
    p.add_argument("--k", type=int, default=10, help="classes of the synthetic data set")
    p.add_argument("--n-train", type=int, default=100, help="examples per synthetic class (train and test)")
    p.add_argument("--similarity", type=float, default=0.8, help="similarity within a synthetic pair")
    p.add_argument("--repeats", type=int, default=3, help="learner runs averaged per order (learner seeds)")
    p.add_argument("--similarity-kind", default="confusion", choices=["cosine", "confusion"],
                   help="how the class similarity is computed from the training features")
    p.add_argument("--pace", type=float, default=3.0, help="pace of the online teacher's rehearsal budget")
    p.add_argument("--focus", type=float, default=10.0,
                   help="weight of the coming task's similarity in the online teacher's rehearsal weights")
    p.add_argument("--decay", type=float, default=0.25, help="recency decay of the designer's interference term")
    p.add_argument("--exposure", type=float, default=0.5,
                   help="weight of the designer's rehearsal-exposure term (crowded classes late)")
    p.add_argument("--width", type=float, default=3.0,
                   help="kernel width of the confusion similarity (times the median nearest distance)")
    p.add_argument("--memory", type=int, default=100, help="replay buffer size (examples)")
    p.add_argument("--replay", type=int, default=10, help="buffered examples replayed per minibatch")
    p.add_argument("--out", default="bench-out/continual_order", help="folder for the pictures ('' for none)")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be at least 1 (learner seeds averaged per order)")
    if args.orders < 2:
        p.error("--orders must be at least 2 (a distribution)")
    check_data_and_learner(p, args)
    check_teachers(p, args)
    if args.out:  # a file there failed after the first data set's runs
        out_folder(p, args.out)
    start = time.perf_counter()
    results: dict[str, Any] = {}
    for name in args.datasets:
        runs = [run_one(name, s, args) for s in args.seeds]
        results[name] = {who: summarise(name, who, runs) for who in ("net", "person")}
        if args.out:
            results[name]["picture"] = plot(name, runs[0], args.out)
    print(f"\n{time.perf_counter() - start:.0f} s in all")
    return results


if __name__ == "__main__":
    main()
