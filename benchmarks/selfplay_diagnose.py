"""Why do the pool methods not pull ahead of naive self-play? Diagnostics for ``benchmarks/selfplay.py`` (connect four).

Runs the benchmark's training (:func:`selfplay.run_one`, same learner, pool and defaults) for a list of settings
and seeds, keeps every snapshot and measures, per run:

* the snapshot every 1 000 games against ``search-4`` (200 games) and ``search-2`` (100 games);
* the last five snapshots against ``search-4`` (200 games each): how much a final score depends on where the run
  stopped;
* the snapshot at 4 000 games and the final one, 4 games against each snapshot of their first half (forgetting;
  :func:`selfplay.in_first_half`: after step 0, up to half of their games);
* cross-play among the snapshots every 1 000 games (8 games a pair): the share of pairs the later one wins and of
  triples that beat each other in a circle (cycling);
* the pool's records (the learner's training score against each member, games per member).

Prints one table row per setting (medians [min-max] over seeds, %) and writes every run to ``--out`` once every
run has finished (the runs that finished before an interruption are in ``OUT.partial.json``, e.g.
``selfplay-diagnose.partial.json``, which the next run moves aside to ``OUT.partial.earlier-N.json``; an earlier
run's ``--out`` stays as it was).

Usage::

    python benchmarks/selfplay_diagnose.py --first-seed 100 --seeds 7 --games 10000 --workers 16
    python benchmarks/selfplay_diagnose.py --settings "self-play=self-play,pfsp-var=pfsp:{\\"weighting\\": \\"variance\\"}"
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):  # one thread per worker
    os.environ[_v] = "1"

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import selfplay as sp  # noqa: E402

from magister.bench.args import at_least, keep_earlier_partial, out_file, strict_json, write_atomically  # noqa: E402
from magister.bench.runner import Interrupted, exit_interrupted, run_in_pool  # noqa: E402

SETTINGS = ('self-play=self-play,fsp=fsp,pfsp=pfsp,opponent-lp=opponent-lp,pfsp-l35=pfsp:{"latest": 0.35},'
            'sp-l80=self-play:{"latest": 0.8},pfsp-var=pfsp:{"weighting": "variance"}')


def parse_settings(text: str) -> list[tuple[str, str, dict[str, Any]]]:
    """``name=method`` or ``name=method:{json teacher kwargs}``, comma-separated (commas inside braces allowed)."""
    out, depth, cur = [], 0, ""
    for ch in text + ",":
        if ch == "," and depth == 0:
            if cur.strip():
                name, _, rest = cur.strip().partition("=")
                method, _, kw = rest.partition(":")
                out.append((name, method, json.loads(kw) if kw else {}))
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    return out


def one(job: tuple[str, str, int, dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    """One run of the benchmark's training and the measurements above."""
    name, method, seed, teacher_kwargs, cfg_in = job
    game = sp.GAMES["connect4"]
    cfg = dict(game.defaults)
    cfg.update(cfg_in, game="connect4", eval_every=10**9, curve_games=0, final_games=2, past_games=4,
               rated_per_run=10**9, last_snapshots=1, teacher_kwargs={method: teacher_kwargs})
    t0 = time.process_time()
    r = sp.run_one(method, seed, cfg)
    hist = {int(s): q for s, q in r["kept"]}
    games, every = cfg["games"], cfg["snapshot_every"]
    rng = np.random.default_rng(seed + 5000)
    s4, s2 = game.held_out["search-4"], game.held_out["search-2"]

    def vs(q: np.ndarray, opp: sp.Policy, n: int) -> float:
        return sp.score(sp.match(game, game.policy_of(q), opp, n, rng))

    marks = list(range(1000, games + 1, 1000))
    out: dict[str, Any] = {"name": name, "method": method, "seed": seed, "games": games, "pool": r["pool"],
                           "train_outcomes": r["train_outcomes"]}
    out["s4"] = {g: vs(hist[g], s4, 200) for g in marks}
    out["s2"] = {g: vs(hist[g], s2, 100) for g in marks}
    out["s4_last5"] = {g: vs(hist[g], s4, 200) for g in sorted(hist) if g > games - 5 * every}
    out["first_half"] = {}
    for g in sorted({4000, games} & set(hist)):
        wdl = np.zeros(3, dtype=int)
        for step, q in sorted(hist.items()):
            if sp.in_first_half(step, g):
                wdl += sp.match(game, game.policy_of(hist[g]), game.policy_of(q), 4, rng)
        out["first_half"][g] = wdl.tolist()
    cp = [0] + marks
    m = np.full((len(cp), len(cp)), 0.5)
    for i, j in itertools.combinations(range(len(cp)), 2):
        m[i, j] = sp.score(sp.match(game, game.policy_of(hist[cp[i]]), game.policy_of(hist[cp[j]]), 8, rng))
        m[j, i] = 1 - m[i, j]
    out["cross"] = {"marks": cp, "m": m.tolist()}
    out["cpu_s"] = time.process_time() - t0
    return out


def cycling(m: np.ndarray) -> tuple[float, float]:
    """(share of pairs the later snapshot wins, share of cyclic triples), snapshot 0 left out."""
    k = len(m)
    later = sp.later_beats_earlier(m, list(range(1, k)))
    tri = list(itertools.combinations(range(1, k), 3))
    cyc = sum((m[a, b] > 0.5 and m[b, c] > 0.5 and m[c, a] > 0.5) or (m[a, b] < 0.5 and m[b, c] < 0.5 and m[c, a] < 0.5)
              for a, b, c in tri)
    return later, cyc / max(1, len(tri))


def table(runs: list[dict[str, Any]]) -> None:
    def f(v: list[float]) -> str:
        return f"{100 * statistics.median(v):.0f} [{100 * min(v):.0f}-{100 * max(v):.0f}]" if v else "-"

    names = list(dict.fromkeys(r["name"] for r in runs))
    by = {(r["name"], r["seed"]): r for r in runs}
    final = str(max(r["games"] for r in runs))
    print(f"| setting | seeds | vs search-4 at 4000 | at {final} | mean of last 5 (SD over seeds) | gap to self-play, "
          "per seed | won vs 1st half at 4000 / final | later beats earlier | cyclic triads |")
    print("|---" * 9 + "|")
    for n in names:
        rs = [r for r in runs if r["name"] == n]
        key = lambda r, g: r[g] if g in r else r.get(int(g), float("nan"))  # noqa: E731 (json keys are strings)
        last5 = [float(np.mean(list(r["s4_last5"].values()))) for r in rs]
        gap = [key(r["s4"], final) - key(by[("self-play", r["seed"])]["s4"], final) for r in rs
               if ("self-play", r["seed"]) in by and n != "self-play"]
        # a run shorter than 4 000 games (or off the snapshot grid) has no first-half entry there: "-", not a crash
        fh = {g: [w[0] / max(1, sum(w)) for w in (key(r["first_half"], g) for r in rs) if isinstance(w, list)]
              for g in ("4000", final)}
        cyc = [cycling(np.array(r["cross"]["m"])) for r in rs]
        sd = 100 * float(np.std(last5, ddof=1)) if len(last5) > 1 else float("nan")
        print(f"| {n} | {len(rs)} | {f([key(r['s4'], '4000') for r in rs])} | {f([key(r['s4'], final) for r in rs])} | "
              f"{100 * float(np.mean(last5)):.0f} ({sd:.0f}) | {f(gap)} | {f(fh['4000'])} / {f(fh[final])} | "
              f"{f([c[0] for c in cyc])} | {f([c[1] for c in cyc])} |")


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--settings", default=SETTINGS,
                    help=f"comma-separated NAME=METHOD or NAME=METHOD:{{JSON teacher kwargs}}, METHOD among "
                         f"{', '.join(sp.METHODS)}")
    ap.add_argument("--first-seed", type=at_least(0), default=100)  # -1: a ValueError from the first run
    ap.add_argument("--seeds", type=at_least(1), default=3)
    ap.add_argument("--games", type=at_least(1), default=10000)
    ap.add_argument("--pool-size", type=at_least(1), default=20)
    ap.add_argument("--eviction", default="random", choices=sp.EVICTIONS)
    ap.add_argument("--workers", type=at_least(1), default=1)
    ap.add_argument("--out", default="results/selfplay-diagnose.json", help="JSON file of every run (written when every run has finished)")
    args = ap.parse_args(argv)
    try:  # a typo'd method failed in a worker process, a bad JSON as a traceback
        settings = parse_settings(args.settings)
    except json.JSONDecodeError as e:
        ap.error(f"--settings: teacher kwargs are not JSON ({e})")
    bad = [f"{n}={m}" for n, m, _ in settings if m not in sp.METHODS or not n]
    if bad or not settings:
        ap.error(f"--settings: write NAME=METHOD or NAME=METHOD:{{...}} with METHOD among {', '.join(sp.METHODS)}; "
                 f"got {', '.join(bad) or 'none'}")
    cfg = {"games": args.games, "pool_size": args.pool_size, "eviction": args.eviction}
    jobs = [(n, m, s, kw, cfg) for s in range(args.first_seed, args.first_seed + args.seeds) for n, m, kw in settings]
    out = out_file(ap, args.out)  # a folder there failed when the first run was written, after minutes
    runs: list[dict[str, Any]] = []
    # whatever finished survives a time limit in OUT.partial.json; --out (an earlier run's file) is replaced only
    # once every run has finished (it was rewritten with the first finished run)
    partial = out.with_suffix(".partial.json")
    keep_earlier_partial(partial)  # a stopped run's: written over with this run's first run without a word

    def finished(i: int, r: dict[str, Any]) -> None:
        runs.append(r)
        print(r["name"], r["seed"], "vs search-4 every 1000 games:", [round(v, 2) for v in r["s4"].values()],
              f"({r['cpu_s']:.0f} s CPU)", flush=True)
        write_atomically(partial, strict_json(runs))

    try:  # (Ctrl-C: one line, the finished runs kept in the partial file, not a traceback from each worker)
        run_in_pool(one, jobs, workers=args.workers, on_result=finished)
    except Interrupted as e:
        exit_interrupted(e, partial)
    write_atomically(out, strict_json(runs))
    partial.unlink(missing_ok=True)
    table(runs)
    return runs


if __name__ == "__main__":
    main()
