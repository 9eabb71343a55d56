"""Exactness harness for the level teachers' and ADR's bookkeeping: hashes of every proposal (with its info)
and of the state at the middle and at the end of long runs, with a checkpoint loaded mid-run.

Run it with one version of the code to record (``--ckpt DIR`` empty: the mid-run states are written there),
then with another: the second run loads the *first* run's mid-run states (a checkpoint saved by the old code
must continue identically) and its hashes must equal the first's, line for line.

    PYTHONPATH=src python benchmarks/level_exactness.py --ckpt /tmp/ck --out /tmp/old.json   # old code
    PYTHONPATH=src python benchmarks/level_exactness.py --ckpt /tmp/ck --out /tmp/new.json   # new code
    diff /tmp/old.json /tmp/new.json
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from tree_args import at_least, strict_json, write_atomically  # this checkout's helpers, whatever src/ is on PYTHONPATH


def canon(obj: Any, h: Any) -> None:
    """Feed a canonical byte form of ``obj`` (dicts by sorted key, arrays with dtype and shape) to ``h``."""
    if isinstance(obj, dict):
        h.update(b"{")
        for k in sorted(obj, key=repr):
            h.update(repr(k).encode())
            canon(obj[k], h)
        h.update(b"}")
    elif isinstance(obj, (list, tuple)):
        h.update(b"[" if isinstance(obj, list) else b"(")
        for v in obj:
            canon(v, h)
        h.update(b"]")
    elif isinstance(obj, np.ndarray):
        h.update(f"nd{obj.dtype.str}{obj.shape}".encode())
        h.update(np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, (float, np.floating)):
        h.update(b"f" + float(obj).hex().encode())
    elif hasattr(obj, "to_text"):  # a maze
        h.update(b"maze" + obj.to_text().encode())
    else:
        h.update(f"{type(obj).__name__}:{obj!r}".encode())


def digest(obj: Any) -> str:
    h = hashlib.sha256()
    canon(obj, h)
    return h.hexdigest()[:16]


def halves(t: Any, run: Any, steps: int, rng: np.random.Generator, h: Any, path: str) -> dict[str, str]:
    """Drive ``t`` for half the steps, then go on from the mid-run state saved at ``path`` (written by the first
    version of the code run, read by every later one) for the other half; the hashes of both halves and states."""
    from magister.checkpoint import atomic_write  # (in every tree this harness runs against: 35a3464 has it)
    from magister.teacher import Teacher

    run(t, steps // 2, rng, h)
    mid = t.state_dict()
    out = {"first": h.hexdigest()[:16], "mid": digest(mid)}
    if not os.path.exists(path):  # (written in place, a stopped run left a torn file that every later run read)
        atomic_write(path, pickle.dumps((mid, rng.bit_generator.state)))
    with open(path, "rb") as f:
        saved, rng_state = pickle.load(f)
    u = Teacher.from_state_dict(saved)
    rng.bit_generator.state = rng_state
    h2 = hashlib.sha256()
    run(u, steps - steps // 2, rng, h2)
    out["second"] = h2.hexdigest()[:16]
    out["final"] = digest(u.state_dict())
    return out


def level_configs() -> list[tuple[str, str, dict[str, Any], int, int]]:
    """(name, teacher, settings, space size n (0: open-ended seeds, -1: mazes, -2: Discrete(50)), steps)."""
    bench = {"temperature": 0.3, "staleness_coef": 0.3}
    out = []
    for n in (40, 1000, 6000):
        steps = {40: 600, 1000: 3000, 6000: 4000}[n]
        for cap in (n, n - 3, n // 2):
            out.append((f"plr-n{n}-c{cap}", "plr", {"capacity": cap}, n, steps))
            out.append((f"plr-bench-n{n}-c{cap}", "plr", {"capacity": cap, **bench}, n, steps))
            out.append((f"rplr-bench-n{n}-c{cap}", "robust-plr", {"capacity": cap, **bench}, n, steps))
            out.append((f"accel-n{n}-c{cap}", "accel", {"capacity": cap}, n, steps))
        out.append((f"plr-power-n{n}", "plr", {"capacity": n - 1, "prioritization": "power", "score_alpha": 0.5,
                                               "min_fill": 0.3}, n, steps))
        out.append((f"rplr-uniform-n{n}", "robust-plr", {"capacity": n, "prioritization": "uniform",
                                                         "replay_prob": 0.2}, n, steps))
        out.append((f"learn-n{n}", "learnability", {"capacity": n - 2, "n_candidates": 30, "eval_episodes": 1,
                                                    "eval_interval": 40}, n, steps))
        out.append((f"learn-small-n{n}", "learnability", {"capacity": 10, "n_candidates": 8, "eval_episodes": 2,
                                                          "eval_interval": 30}, n, min(steps, 1500)))
    out.append(("plr-open", "plr", {"capacity": 200, **bench}, 0, 1500))
    out.append(("accel-maze", "accel", {"capacity": 100}, -1, 600))
    out.append(("plr-discrete", "plr", {"capacity": 50}, -2, 1500))
    out.append(("learn-discrete", "learnability", {"capacity": 48, "n_candidates": 10, "eval_episodes": 1,
                                                   "eval_interval": 20}, -2, 1500))
    return out


def make_level_space(n: int) -> Any:
    import magister as mg
    from magister.levels.spaces import MazeSpace, SeedSpace

    if n == -1:
        return MazeSpace(9, wall_density=[0.0, 0.4])
    if n == -2:
        return mg.Discrete(50)
    return SeedSpace(n) if n > 0 else SeedSpace()


def drive(t: Any, steps: int, rng: np.random.Generator, h: Any, prefill: int = 0) -> None:
    """Propose (one or a batch), observe scores (some late, some given back, some for levels never proposed)."""
    space = t.space
    waiting: list[tuple[Any, dict[str, Any]]] = []
    for i in range(steps):
        if rng.random() < 0.3:
            tasks, infos = t.propose_with_info(int(rng.integers(1, 6)))
            batch = list(zip(tasks, infos))
        else:
            task, info = t.propose_with_info()
            batch = [(task, info)]
        canon([(space.to_json(a), b) for a, b in batch], h)
        waiting.extend(batch)
        rng.shuffle(waiting)  # type: ignore[arg-type]
        keep = int(rng.integers(0, 4))
        done, waiting = waiting[keep:], waiting[:keep]
        if done and rng.random() < 0.1:
            back = done[:1]
            t.give_back([a for a, _ in back], [b for _, b in back])
            done = done[1:]
        if done:
            scores = [float(v) for v in rng.random(len(done))]
            if len(done) > 1 and rng.random() < 0.5:
                t.observe_batch([a for a, _ in done], scores)
            else:
                for (a, _), s in zip(done, scores):
                    t.observe(a, s)
        if space.n is not None and rng.random() < 0.05:  # a level observed without a proposal
            t.observe(space.task_at(int(rng.integers(space.n))), float(rng.random()))
        if i % 97 == 0:
            canon(t.beliefs(), h)


def run_level(name: str, teacher: str, settings: dict[str, Any], n: int, steps: int, seed: int,
              ckpt: str) -> dict[str, str]:
    import magister as mg

    space = make_level_space(n)
    t = mg.make_teacher(teacher, space, seed=seed, **settings)
    rng = np.random.default_rng(seed + 12345)
    h = hashlib.sha256()
    if n > 0 and seed % 2 == 0:  # a buffer nearly full at once, as the level benchmark's speed runs have it
        levels = list(range(n))
        rng.shuffle(levels)
        m = n - 5
        t.observe_batch(levels[:m], [float(v) for v in rng.random(m)])
    return halves(t, drive, steps, rng, h, os.path.join(ckpt, f"{name}-s{seed}.pkl"))


def adr_configs() -> list[tuple[str, dict[str, Any], str, int]]:
    """(name, settings, space, steps)."""
    return [
        ("adr-1d", {}, "box1", 3000),
        ("adr-3d-w", {"initial_width": 0.2, "queue_length": 4, "threshold_high": 0.5, "threshold_low": 0.2}, "box3",
         3000),
        ("adr-2d-small", {"max_pending": 7, "boundary_prob": 0.9, "queue_length": 3, "step": 0.1}, "box2", 2000),
        ("adr-5d-p100", {"max_pending": 100, "initial": [2.0] * 5, "initial_width": 0.1}, "box5", 2000),
        ("adr-md", {"queue_length": 5, "threshold_high": 0.6}, "multi", 2000),
        ("adr-disc", {"queue_length": 3}, "disc", 1500),
    ]


def make_adr_space(kind: str) -> Any:
    import magister as mg

    if kind == "multi":
        return mg.MultiDiscrete([3, 4])
    if kind == "disc":
        return mg.Discrete(5)
    d = int(kind[3:])
    return mg.Box([0.0] * d, [4.0] * d)


def drive_adr(t: Any, steps: int, rng: np.random.Generator, h: Any) -> None:
    space = t.space
    held: list[Any] = []
    for i in range(steps):
        k = int(rng.integers(1, 9)) if rng.random() < 0.3 else 1
        tasks = t.propose(k) if k > 1 else [t.propose()]
        canon([space.to_json(a) for a in tasks], h)
        held.extend(tasks)
        rng.shuffle(held)  # type: ignore[arg-type]
        keep = int(rng.integers(0, 200)) if rng.random() < 0.2 else int(rng.integers(0, 30))
        done, held = held[keep:], held[:keep]
        if done:
            scores = [float(v) for v in rng.random(len(done)) ** 0.3]
            if len(done) > 1 and rng.random() < 0.5:
                t.observe_batch(done, scores)
            else:
                for a, s in zip(done, scores):
                    t.observe(a, s)
        if rng.random() < 0.05:
            t.observe(space.sample(rng), 0.5)
        if rng.random() < 0.05 and done:  # a probe seen twice
            t.observe(done[0], 0.9)
        if i % 53 == 0:
            x = space.to_unit_batch([space.sample(rng)])[0]
            canon([t.match_probe(x), t.beliefs()], h)


def run_adr(name: str, settings: dict[str, Any], kind: str, steps: int, seed: int, ckpt: str) -> dict[str, str]:
    import magister as mg

    t = mg.make_teacher("adr", make_adr_space(kind), seed=seed, **settings)
    rng = np.random.default_rng(seed + 777)
    h = hashlib.sha256()
    return halves(t, drive_adr, steps, rng, h, os.path.join(ckpt, f"{name}-s{seed}.pkl"))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--ckpt", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", type=at_least(1), default=3)
    p.add_argument("--only", default="", help="run the configs whose name contains this")
    a = p.parse_args(argv)
    names = [c[0] for c in level_configs()] + [c[0] for c in adr_configs()]
    if not any(a.only in name for name in names):  # (with --seeds 0, too) {} was written over --out
        p.error(f"--only {a.only!r} is in no config's name; the names are {', '.join(names)}")
    out = Path(a.out)
    if out.is_dir():  # it failed after every run
        p.error(f"--out {a.out!r} is a folder; give a file name, for example {str(out / 'hashes.json')!r}")
    if os.path.exists(a.ckpt) and not os.path.isdir(a.ckpt):  # a FileExistsError traceback
        p.error(f"--ckpt {a.ckpt!r} is a file, not a folder; choose a folder for the mid-run checkpoints")
    try:
        os.makedirs(out.parent, exist_ok=True)
        os.makedirs(a.ckpt, exist_ok=True)
    except OSError as e:
        p.error(f"cannot create the folder of --out or --ckpt ({e})")
    res: dict[str, Any] = {}
    for name, teacher, settings, n, steps in level_configs():
        if a.only in name:
            for seed in range(a.seeds):
                res[f"{name}-s{seed}"] = run_level(name, teacher, settings, n, steps, seed, a.ckpt)
                print(name, seed, res[f"{name}-s{seed}"], flush=True)
    for name, settings, kind, steps in adr_configs():
        if a.only in name:
            for seed in range(a.seeds):
                res[f"{name}-s{seed}"] = run_adr(name, settings, kind, steps, seed, a.ckpt)
                print(name, seed, res[f"{name}-s{seed}"], flush=True)
    write_atomically(out, strict_json(res, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
