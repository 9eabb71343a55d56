"""Level curricula on MiniGrid-style mazes: which teacher makes a PPO student generalise to hand-designed mazes?

One *run* is (teacher, seed): a fresh :class:`~magister.rl.ppo.PPO` student
(MLP on the 7 x 7 partial view, one CPU thread) trains on a
:class:`~magister.rl.CurriculumVectorEnv` of :class:`~magister.rl.envs.maze.MazeEnv`
for a fixed number of environment steps (the same for every teacher; episodes
the teacher marks *evaluate only* count too). The training envs pay an
episodic exploration bonus (:data:`EXPLORE_BONUS` per cell first entered in an
episode; never in scores or evaluations): without it the student never found
the goal at the end of paths of 22+ cells, even trained on the held-out mazes
themselves. Training levels come from the :data:`GENERATOR` seed generator
(``"mixed"``: half random block mazes, half corridor labyrinths, so levels span
trivial to long paths). Levels are:

* ``uniform`` - domain randomisation: a fresh generator seed per episode
  (:func:`~magister.rl.envs.maze.maze_from_seed`), drawn in the env without
  any teacher;
* ``plr``, ``robust-plr``, ``learnability`` - teachers over the same open-ended
  seed space (``SeedSpace()``), scores sent by the learner
  (:data:`LEVEL_SCORES`; learnability gets success);
* ``accel`` - robust PLR over editable mazes (``MazeSpace(15)``, sampled as the
  generator draws levels) plus edits by the built-in maze mutator; new levels
  come from the training distribution (``initial="random"``: from empty rooms
  the levels do not grow within a CPU budget);
* ``alp-gmm`` - over the generator's parameter (``MazeEnv``'s ``[x]`` task:
  wall density for "blocks", a difficulty in [0, 1] for "mixed"), scored by
  the goal reward;
* ``heldout`` (a diagnostic, run only when named) - trains on the held-out
  mazes themselves, uniformly: the student's ceiling at the budget.

Every ``eval_every`` steps the student (sampled actions, from a generator of
the evaluation's own, so evaluating does not change the training run) plays each held-out
maze (:func:`~magister.rl.envs.maze.heldout_mazes`) ``episodes`` times; a
run's result is its final solve rate per maze, family and overall, and the
mean over its second half's evaluations (one checkpoint's rate swings by tens
of points between evaluations at CPU budgets). The run
also keeps pictures of the levels its teacher chose over time and the mean
shortest-path length of the levels trained on.

:func:`teacher_path_speed` measures the env steps/s of the teacher path
(CurriculumVectorEnv + teacher + learner-sent scores, random actions) against
the same vector env drawing random levels itself without a teacher.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import ConfigError

__all__ = ["LEVEL_TEACHERS", "DIAGNOSTICS", "EXPLORE_BONUS", "GENERATOR", "heldout_rates", "versus_uniform",
           "run_levels_job", "run_levels_benchmark", "example_steps", "teacher_path_speed", "summarise", "format_table",
           "write_figures"]

#: the teachers of the benchmark, in print order
LEVEL_TEACHERS = ("uniform", "plr", "robust-plr", "accel", "learnability", "alp-gmm")
#: the learner-computed score of each PLR-family teacher: the papers' (PLR: mean |GAE|, "L1 value loss"; robust
#: PLR and ACCEL: positive value loss), summed over the episode rather than averaged per step
#: (``LevelScorer(reduce="sum")``): the per-step mean ranks short solved levels first (docs/rl.md, level
#: benchmark). Chosen on seeds 100/101 (mixed levels, exploration bonus): the sums were ahead in 4 of 4 pairs
LEVEL_SCORES = {"plr": "gae-sum", "robust-plr": "pvl-sum", "accel": "pvl-sum"}
#: diagnostic rows, run only when named: ``heldout`` trains on the held-out mazes themselves (the student's
#: ceiling at the budget: what no curriculum over the training generator can be expected to beat)
DIAGNOSTICS = ("heldout",)
SIZE = 15
MAX_DENSITY = 0.35
#: the training envs' exploration bonus (MazeEnv(explore_bonus=...)) and seed generator of the benchmark
EXPLORE_BONUS = 0.01
GENERATOR = "mixed"
#: the evaluations' seed is the run's seed + this; the largest seed a run takes follows (torch's seeds end at
#: 2**64 - 1: a larger one failed the run with torch's "Overflow when unpacking long long")
EVAL_SEED = 10_000
MAX_SEED = 2**64 - 1 - EVAL_SEED


def _space_and_settings(name: str, settings: dict[str, Any] | None, generator: str = "blocks",
                        max_density: float = MAX_DENSITY) -> tuple[Any, dict[str, Any], Any]:
    """(task space, teacher settings, score) of one benchmark teacher; ``max_density``: the top of the training
    envs' block wall density (``MazeEnv(max_density=...)``), which the spaces of accel and alp-gmm span too."""
    from ..levels.spaces import MazeSpace, SeedSpace
    from ..spaces import Box

    extra = dict(settings or {})
    if name in ("plr", "robust-plr"):  # the MiniGrid settings of the ACCEL paper's PLR baselines
        # (robust-plr's replay_prob is its default 0.8, plr's 0.5: plr trains on new levels too)
        return SeedSpace(), {"temperature": 0.3, "staleness_coef": 0.3, **extra}, "external"
    if name == "accel":
        # new levels from the training distribution (initial="random"): started from empty rooms (the
        # paper's "simple"), the levels had not grown after 60k steps (mean wall density 0.008)
        share = 0.5 if generator == "mixed" else 0.0  # the seed generator's levels, as MazeSpace samples
        return (MazeSpace(SIZE, wall_density=[0.0, max_density], labyrinths=share), {"initial": "random", **extra},
                "external")
    if name == "learnability":
        # rounds sized for a CPU budget of ~2500 episodes: every 200 training episodes, 32 candidates x 2
        # (with the defaults, 1000 training episodes between rounds, the first round - where nothing is
        # solved yet and every p (1 - p) is 0 - chose the levels replayed for most of the run)
        return SeedSpace(), {"n_candidates": 32, "eval_episodes": 2, "eval_interval": 200, "capacity": 32,
                             **extra}, "success"
    if name == "alp-gmm":  # "mixed": over that generator's parameter x in [0, 1] (MazeEnv's [x] task)
        top = 1.0 if generator == "mixed" else max_density
        return Box([0.0], [top]), {"fit_rate": 100, "random_ratio": 0.2, **extra}, (0.0, 1.0)
    raise ConfigError(f"unknown level benchmark teacher {name!r}; choose from {LEVEL_TEACHERS}")


def example_steps(steps: int | None, variable: str, default: int = 100_000, *,
                  rollout: tuple[int, int] | None = None) -> int:
    """A level example's budget: ``steps`` if given, else the environment variable ``variable`` (the examples
    name theirs), else ``default``; 0, a negative or a non-number refused naming where it came
    from (0 ran the default and a negative budget no training at all; ``100k`` stopped with a bare ValueError).
    ``rollout=(n_envs, n_steps)``: a budget under one rollout is refused too (it trained a whole rollout while the
    last line named the smaller budget)."""
    from ..settings import whole, whole_from_env

    if steps is not None:
        value = whole("steps", steps)
    else:
        value = whole_from_env(variable, default, hint="set it to a number of env steps such as 20000, "
                               f"or unset it for the example's {default:,}")
    if rollout is not None and value < rollout[0] * rollout[1]:
        n_envs, n_steps = rollout
        raise ConfigError(f"{'steps' if steps is not None else variable} must be at least one rollout, "
                          f"{n_envs * n_steps} env steps ({n_steps} on each of {n_envs} envs), got {value}; a budget "
                          "is rounded up to whole rollouts")
    return value


class _RandomLevels:
    """No teacher: each episode plays a fresh generator seed (domain randomisation); the same interface."""

    name = "uniform"

    def __init__(self, seed: int):
        self.space = None  # seeds of the generator, not checked
        self.rng = np.random.default_rng(seed)

    def propose(self, k: int | None = None) -> Any:
        seeds = [int(s) for s in self.rng.integers(0, 2**31 - 1, size=1 if k is None else k)]
        return seeds[0] if k is None else seeds

    def observe(self, task: Any, score: float) -> None:
        pass

    def observe_batch(self, tasks: Sequence[Any], scores: Sequence[float]) -> None:
        pass


class _HeldoutLevels(_RandomLevels):
    """Diagnostic: each episode plays one of the held-out mazes, uniformly (training on the test set)."""

    name = "heldout"

    def __init__(self, seed: int):
        from ..rl.envs.maze import heldout_mazes

        super().__init__(seed)
        self.mazes = list(heldout_mazes().values())

    def propose(self, k: int | None = None) -> Any:
        picks = [self.mazes[int(i)] for i in self.rng.integers(0, len(self.mazes), size=1 if k is None else k)]
        return picks[0] if k is None else picks


def make_level_teacher(name: str, seed: int, settings: dict[str, Any] | None = None, generator: str = "blocks",
                       n_levels: int | None = None, max_density: float = MAX_DENSITY) -> tuple[Any, Any]:
    """(teacher, score) for one benchmark teacher name (or diagnostic row, :data:`DIAGNOSTICS`) over the
    levels of ``generator`` (:func:`~magister.rl.envs.maze.maze_from_seed`). ``n_levels``: a finite training
    set of that many levels (``SeedSpace(n_levels)``, played through ``MazeEnv(seeds=training_seeds(...))``);
    ``uniform`` then samples among them, and only the teachers over seeds take one. ``max_density``: the
    training envs' (``MazeEnv(max_density=...)``), spanned by the spaces of accel and alp-gmm ("blocks")."""
    from ..levels.spaces import SeedSpace
    from ..rl.envs.maze import GENERATORS
    from ..teacher import make_teacher

    if generator not in GENERATORS:  # "mixd" built blocks-generator spaces for accel and alp-gmm, silently
        raise ConfigError(f"make_level_teacher: unknown maze generator {generator!r}; choose from {GENERATORS}")
    if n_levels is not None:
        if name == "heldout":
            raise ConfigError("make_level_teacher: the 'heldout' diagnostic has no training set (n_levels)")
        if name == "uniform":
            return make_teacher("uniform", SeedSpace(n_levels), seed=seed), "success"
        space, kwargs, score = _space_and_settings(name, settings, generator, max_density)
        if not isinstance(space, SeedSpace):
            raise ConfigError(f"make_level_teacher: {name!r} does not pick among generator seeds, so it takes no "
                             f"finite training set (n_levels); the seed teachers are plr, robust-plr and learnability, or "
                             "pass n_levels=None (an open-ended generator)")
        return make_teacher(name, SeedSpace(n_levels), seed=seed, **kwargs), score
    if name == "uniform":
        return _RandomLevels(seed), "success"
    if name == "heldout":
        return _HeldoutLevels(seed), "success"
    space, kwargs, score = _space_and_settings(name, settings, generator, max_density)
    return make_teacher(name, space, seed=seed, **kwargs), score


def heldout_rates(policy: Callable[[np.ndarray], np.ndarray], seed: int = 0, *, unseen: int = 100,
                  max_density: float = MAX_DENSITY) -> dict[str, float]:
    """A maze student's held-out solve rates, as the level examples report them.

    ``"unseen"``: on ``unseen`` unseen levels of the training generator
    (:func:`~magister.rl.envs.maze.unseen_levels` of 15 x 15 block mazes up to
    wall density ``max_density``, the solvable ones, 2 episodes each); ``"mazes"``: on the 15 hand-designed
    held-out mazes (:func:`~magister.rl.envs.maze.heldout_mazes`, 5 episodes
    each). ``policy`` maps a batch of observations to actions.
    """
    from ..rl.envs.maze import evaluate_mazes, heldout_mazes, unseen_levels

    levels = unseen_levels(unseen, SIZE, max_density)
    return {"unseen": float(np.mean(evaluate_mazes(policy, levels, episodes=2, seed=seed))),
            "mazes": float(np.mean(evaluate_mazes(policy, list(heldout_mazes().values()), episodes=5, seed=seed)))}


def versus_uniform(runs: dict[str, dict[str, Any]], teacher: str, steps: int) -> str:
    """The line a level example ends with: ``runs[name]`` holds :func:`heldout_rates`' keys for ``teacher``
    and ``"uniform"``; the verdict is on the unseen levels (100 levels, the less noisy of the two)."""
    missing = [name for name in (teacher, "uniform") if not {"unseen", "mazes"} <= set(runs.get(name, {}))]
    if missing:
        raise ValueError(f"versus_uniform needs the held-out rates (heldout_rates) of {teacher!r} and 'uniform'; "
                         f"missing for {missing}")
    ours, theirs = runs[teacher], runs["uniform"]
    verdict = "beats" if ours["unseen"] > theirs["unseen"] else "does not beat"
    from .report import percent_pair

    a, b = percent_pair(ours["unseen"], theirs["unseen"])  # (one episode of 200 is half a point)
    return (f"teacher {teacher}: {a} vs uniform {b} of unseen levels solved "
            f"after {steps:,} env steps (hand-designed mazes: {ours['mazes']:.0%} vs {theirs['mazes']:.0%}): "
            f"{verdict} uniform")


def _maze_env(teacher_name: str, explore_bonus: float = 0.0, generator: str = "blocks",
              max_density: float = MAX_DENSITY, seeds: Sequence[int] | None = None) -> Callable[[], Any]:
    from ..rl.envs.maze import MazeEnv

    return lambda: MazeEnv(size=SIZE, max_density=max_density, explore_bonus=explore_bonus, generator=generator,
                           seeds=seeds)


def _scorer(kind: str, gamma: float) -> Any:
    """A :class:`~magister.rl.levels.LevelScorer` from "gae", "pvl", "maxmc" or "gae-sum", "pvl-sum"."""
    from ..rl.levels import LevelScorer

    base, _, reduce = kind.partition("-")
    return LevelScorer(base, gamma=gamma, reduce=reduce or "mean")


def _goal_return(episode: Any) -> float:
    """alp-gmm's score: the episode's goal reward in [0, 1] (its return without any exploration bonus)."""
    return float(min(max(episode.info.get("goal_reward", 0.0), 0.0), 1.0))


def run_levels_job(teacher: str, seed: int, *, steps: int = 200_000, n_envs: int = 16, n_steps: int = 128,
                   eval_every: int = 50_000, episodes: int = 10, settings: dict[str, Any] | None = None,
                   pictures: int = 6, level_score: str | None = None, explore_bonus: float = EXPLORE_BONUS,
                   generator: str = GENERATOR, max_density: float = MAX_DENSITY,
                   n_levels: int | None = None) -> dict[str, Any]:
    """One (teacher, seed) run; returns a JSON-friendly record (see the module docstring). ``level_score``
    overrides the teacher's learner-computed score (:data:`LEVEL_SCORES`, "pvl" for others);
    ``explore_bonus`` is the training envs' episodic novelty bonus (:class:`~magister.rl.envs.maze.MazeEnv`;
    never in scores or evaluations); ``max_density`` the top of the generator's block wall density.
    ``n_levels``: train on a finite set of that many generator levels drawn once per run
    (:func:`~magister.rl.envs.maze.training_seeds` of ``seed``, as in the PLR paper) instead of the open-ended
    generator; only ``uniform`` and the teachers over seeds (plr, robust-plr, learnability) take one."""
    from ..settings import number, whole

    for name, value in (("steps", steps), ("n_envs", n_envs), ("n_steps", n_steps), ("eval_every", eval_every),
                        ("episodes", episodes)):
        whole(name, value)  # eval_every <= 0 would never finish the run
    whole("pictures", pictures, 0)
    number("max_density", max_density, 0.0, 1.0, hint="the top of the training envs' block wall density")
    from ..rl import CurriculumVectorEnv  # (first: they name the [rl] and [torch] extras when missing)
    from ..rl.envs.maze import evaluate_mazes, heldout_mazes
    from ..rl.ppo import PPO

    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    mazes = heldout_mazes()
    names = sorted(mazes)
    from ..rl.envs.maze import training_seeds

    # the teacher's space spans the envs' densities (accel's and alp-gmm's kept 0.35 whatever max_density was)
    teach, score = make_level_teacher(teacher, seed, settings, generator, n_levels=n_levels, max_density=max_density)
    if isinstance(score, tuple):  # a return range: score the goal reward, without the exploration bonus
        score = _goal_return
    seeds = None if n_levels is None else training_seeds(n_levels, seed)
    venv = CurriculumVectorEnv([_maze_env(teacher, explore_bonus, generator, max_density, seeds)] * n_envs, teach,
                               score=score)
    agent = PPO(obs_dim=venv.single_observation_space.shape[0], n_actions=3, seed=seed, hidden=128, lr=5e-4,
                gamma=0.99, minibatch=256, ent_coef=0.01)
    curve: list[dict[str, Any]] = []
    chosen: list[dict[str, Any]] = []
    path_lengths: list[tuple[int, float, float]] = []
    picture_at = set(np.linspace(0, steps, pictures).astype(int).tolist()) if pictures else set()

    def snapshot(step: int) -> None:
        levels = venv.get_attr("maze")
        if any(m is None for m in levels):  # not reset yet
            return
        flags = venv.episode_train.tolist()
        lengths = [m.path_length() for m in levels]
        trained = [p for p, f in zip(lengths, flags) if f and p is not None]
        walls = [float(m.walls[1:-1, 1:-1].mean()) for m, f in zip(levels, flags) if f]
        path_lengths.append((step, float(np.mean(trained)) if trained else float("nan"),
                             float(np.mean(walls)) if walls else float("nan")))
        if picture_at and step >= min(picture_at):
            picture_at.discard(min(picture_at))
            pick = next((m for m, f in zip(levels, flags) if f), levels[0])
            chosen.append({"step": step, "maze": pick.to_text()})

    def evaluate(step: int) -> None:
        # the sampled actions draw from a generator of the evaluation's own, seeded from the run's seed as the
        # mazes' is: drawn from the student's, every evaluation changed the rest of the training run (so
        # eval_every changed the result at a given step)
        rates = evaluate_mazes(agent.policy(greedy=False, seed=EVAL_SEED + seed), [mazes[n] for n in names],
                               episodes=episodes, seed=EVAL_SEED + seed)
        curve.append({"step": step, "rates": {n: float(r) for n, r in zip(names, rates)},
                      "mean": float(np.mean(rates))})

    evaluate(0)
    done = 0
    t_train = 0.0
    kwargs = {"level_score": _scorer(level_score or LEVEL_SCORES.get(teacher, "pvl"), agent.gamma)} if venv.external else {}
    while done < steps:
        chunk = min(eval_every, steps - done)
        ts = time.perf_counter()
        every = max(n_envs * n_steps, chunk // max(pictures, 1))
        agent.learn(venv, total_steps=agent.steps + chunk, n_steps=n_steps,
                    callback=lambda a: snapshot(a.steps), callback_every=every, **kwargs)
        t_train += time.perf_counter() - ts
        done = agent.steps
        evaluate(done)
    venv.close()
    final = curve[-1]["rates"]
    observed = getattr(teach, "n_observed", None)
    return {
        "episodes_scored": int(venv.n_reported), "episodes_unscored": len(venv.pending),
        "teacher_observed": None if observed is None else int(observed),
        "teacher": teacher, "seed": seed, "steps": int(agent.steps), "trained_steps": int(agent.n_trained_steps),
        "final": final, "mean": float(np.mean(list(final.values()))), "curve": curve, "chosen": chosen,
        "path_lengths": path_lengths, "train_steps_per_s": agent.steps / max(t_train, 1e-9),
        "wall_s": time.perf_counter() - t0,
    }


def teacher_path_speed(teacher: str, *, steps: int = 20_000, n_envs: int = 16, seed: int = 0,
                       settings: dict[str, Any] | None = None, prefetch: int = 0, repeats: int = 3,
                       explore_bonus: float = 0.0, generator: str = "blocks") -> dict[str, float]:
    """Env steps per CPU second of ``teacher``'s path vs the same vector env without a teacher (random actions).

    The teacher path: :class:`~magister.rl.CurriculumVectorEnv` + the teacher
    (propose with infos, observe) + a score per finished episode (sent with
    ``report`` when the learner computes it). Without a teacher: the same
    sub-envs in a plain ``SyncVectorEnv`` drawing a fresh random level at every
    reset (one level built per reset, as on the teacher path; until the commit
    that says so in docs/rl.md each reset also rebuilt the previous level first,
    about 10% of this side's CPU time, so "kept" read about a tenth high).
    Everything runs in this process, so CPU time (``time.process_time``)
    measures the work itself even on a shared machine; each side is the median
    of ``repeats`` interleaved runs. Returns both rates and their ratio ("kept").
    """
    from ..rl import CurriculumVectorEnv  # (first: it names the [rl] extra when gymnasium is missing)
    from ..rl.envs.maze import MazeEnv

    import gymnasium as gym
    from ..settings import whole

    n_envs = whole("n_envs", n_envs)
    # fewer steps than sub-envs timed no step at all and divided by a zero rate (ZeroDivisionError)
    whole("steps", steps, n_envs, hint="at least one step of every sub-env (n_envs)")
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, 3, size=(steps // n_envs, n_envs))

    class _Random(MazeEnv):  # the no-teacher baseline: a fresh generator seed every reset
        def reset(self, *, seed=None, options=None):
            if seed is not None:  # seed the generator only: building the previous level again is not the baseline
                gym.Env.reset(self, seed=seed)
            return super().reset(options={"task": int(self.np_random.integers(0, 2**31 - 1))})

    def plain() -> float:
        venv = gym.vector.SyncVectorEnv([lambda: _Random(size=SIZE, max_density=MAX_DENSITY, explore_bonus=explore_bonus,
                                                         generator=generator)] * n_envs)
        venv.reset(seed=seed)
        t0 = time.process_time()
        for a in actions:
            venv.step(a)
        cpu = time.process_time() - t0
        venv.close()
        return len(actions) * n_envs / max(cpu, 1e-9)

    def taught() -> float:
        teach, score = make_level_teacher(teacher, seed, settings, generator)
        if isinstance(score, tuple):
            score = _goal_return
        venv = CurriculumVectorEnv([_maze_env(teacher, explore_bonus, generator)] * n_envs, teach, score=score,
                                   prefetch=prefetch)
        venv.reset(seed=seed)
        t0 = time.process_time()
        for a in actions:
            ids = venv.episode_ids
            _, _, term, trunc, _ = venv.step(a)
            if venv.external:
                done = np.logical_or(term, trunc)
                if done.any():
                    venv.report(ids[done], rng.random(int(done.sum())))
        cpu = time.process_time() - t0
        venv.close()
        return len(actions) * n_envs / max(cpu, 1e-9)

    base, rate = [], []
    for _ in range(max(1, repeats)):
        base.append(plain())
        rate.append(taught())
    b, r = float(np.median(base)), float(np.median(rate))
    return {"no_teacher": b, "teacher": r, "kept": r / b}


def _job(args: tuple[str, int, dict[str, Any]]) -> dict[str, Any]:
    teacher, seed, kwargs = args
    return run_levels_job(teacher, seed, **kwargs)


def run_levels_benchmark(teachers: Sequence[str] = LEVEL_TEACHERS, seeds: Sequence[int] = (0, 1, 2), *,
                         workers: int = 1, progress: Callable[[dict[str, Any]], None] | None = None,
                         **job_kwargs: Any) -> list[dict[str, Any]]:
    """Every (teacher, seed) run, in ``workers`` processes (one thread each); returns the run records.

    Ctrl-C raises :class:`~magister.bench.runner.Interrupted` holding the records of the runs that finished."""
    from .runner import Interrupted, run_in_pool

    jobs = [(t, int(s), job_kwargs) for s in seeds for t in teachers]
    out: list[dict[str, Any]] = []
    if workers <= 1:
        try:
            for j in jobs:
                rec = _job(j)
                out.append(rec)
                if progress is not None:
                    progress(rec)
        except KeyboardInterrupt:  # (runs of minutes each: the finished ones went with it)
            raise Interrupted(out + [None] * (len(jobs) - len(out))) from None
        return out
    for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[v] = "1"
    # (the runs in job order; Ctrl-C stops after the running ones and keeps every finished one, as the plain
    # bench does: handed to the pool all at once, the queued runs went on for minutes and were thrown away)
    return run_in_pool(_job, jobs, workers=workers, context="spawn",
                       on_result=None if progress is None else lambda i, rec: progress(rec))


def _median_range(values: Sequence[float]) -> str:
    v = np.asarray(values, dtype=float)
    return f"{100 * np.median(v):5.1f} [{100 * v.min():4.1f}-{100 * v.max():5.1f}]"


def summarise(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per teacher: the final held-out solve rate per family and overall, per seed (for the table)."""
    from ..rl.envs.maze import HELDOUT_FAMILIES, maze_family

    teachers = [t for t in LEVEL_TEACHERS if any(r["teacher"] == t for r in records)]
    teachers += sorted({r["teacher"] for r in records} - set(teachers))
    out: dict[str, Any] = {}
    for t in teachers:
        runs = sorted((r for r in records if r["teacher"] == t), key=lambda r: r["seed"])
        fam: dict[str, list[float]] = {}
        for f in HELDOUT_FAMILIES:
            fam[f] = [float(np.mean([v for n, v in r["final"].items() if maze_family(n) == f])) for r in runs]
        out[t] = {"seeds": [r["seed"] for r in runs], "mean": [r["mean"] for r in runs],
                  "late": [_late_mean(r) for r in runs], "families": fam,
                  "steps": [r["steps"] for r in runs], "trained_steps": [r["trained_steps"] for r in runs],
                  "wall_s": [r["wall_s"] for r in runs]}
    return out


def _late_mean(record: dict[str, Any]) -> float:
    """Mean held-out rate over the evaluations of a run's second half (final one included): a single
    checkpoint's rate swings by tens of points from one evaluation to the next at CPU budgets."""
    late = [c["mean"] for c in record["curve"] if c["step"] > record["steps"] / 2] or [record["mean"]]
    return float(np.mean(late))


def format_table(summary: dict[str, Any]) -> str:
    """Held-out solve rates (%), median [min-max] over seeds: final per family and overall, and the mean over
    the second half's evaluations ("2nd half")."""
    from ..rl.envs.maze import HELDOUT_FAMILIES

    head = f"{'teacher':<13}{'mean':>20}{'2nd half':>20}" + "".join(f"{f:>20}" for f in HELDOUT_FAMILIES) + f"{'x uniform':>11}{'trained':>9}"
    lines = [head]
    base = float(np.median(summary["uniform"]["mean"])) if "uniform" in summary else None
    for t, s in summary.items():
        med = float(np.median(s["mean"]))
        if base is None or np.isnan(med) or np.isnan(base):  # uniform not run, or no median: no ratio ("-", as
            ratio_text = "-"  # the suite tables print a NaN one; a NaN median beside uniform's 0 read "1.00x")
        elif base > 0:
            ratio_text = f"{med / base:.2f}x"
        else:  # uniform solved nothing: "-" read as "uniform not run" (rl_curriculum.py's marks)
            ratio_text = "(u = 0)" if med > 0 else "1.00x"
        trained = np.median(np.asarray(s["trained_steps"]) / np.maximum(np.asarray(s["steps"]), 1))
        late = _median_range(s["late"]) if "late" in s else "-"
        lines.append(f"{t:<13}{_median_range(s['mean']):>20}{late:>20}"
                     + "".join(f"{_median_range(s['families'][f]):>20}" for f in HELDOUT_FAMILIES)
                     + f"{ratio_text:>11}" + f"{100 * trained:>8.0f}%")
    return "\n".join(lines)


def write_figures(records: Sequence[dict[str, Any]], out: str | os.PathLike) -> list[str]:
    """Learning curves (held-out mean, median with min-max band) and the levels each teacher chose over time."""
    from pathlib import Path

    from .plots import _figure, band, label_colors, save_figure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    teachers = list(summarise(records))
    colors = label_colors(teachers)
    fig = _figure(7, 4)
    ax = fig.add_subplot()
    for t in teachers:
        runs = [r for r in records if r["teacher"] == t]
        n = min(len(r["curve"]) for r in runs)
        x = [c["step"] for c in runs[0]["curve"][:n]]
        med, lo, hi = band([[c["mean"] for c in r["curve"][:n]] for r in runs])
        ax.plot(x, 100 * med, label=t, color=colors[t])
        ax.fill_between(x, 100 * lo, 100 * hi, color=colors[t], alpha=0.15)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("held-out mazes solved (%)")
    ax.set_title("PPO on the partial view: held-out solve rate (median, min-max over seeds)")
    ax.legend(fontsize=8)
    paths = [str(save_figure(fig, out / "levels_curves.png"))]

    shown = [t for t in teachers if any(r["chosen"] for r in records if r["teacher"] == t)]
    if shown:
        first = {t: min((r for r in records if r["teacher"] == t), key=lambda r: r["seed"]) for t in shown}
        seeds = sorted({first[t]["seed"] for t in shown})  # the pictures' seeds: the lowest each teacher ran
        cols = max(len(first[t]["chosen"]) for t in shown)
        fig = _figure(1.6 * cols, 1.7 * len(shown))
        for i, t in enumerate(shown):
            for j, pic in enumerate(first[t]["chosen"]):
                a = fig.add_subplot(len(shown), cols, i * cols + j + 1)
                a.imshow(_maze_image(pic["maze"]), interpolation="nearest")
                a.set_xticks([])
                a.set_yticks([])
                if j == 0:  # (the seed on the row where teachers' first seeds differ)
                    a.set_ylabel(t if len(seeds) == 1 else f"{t}\nseed {first[t]['seed']}", fontsize=8)
                a.set_title(f"{pic['step'] // 1000}k", fontsize=7)
        fig.suptitle("levels trained on over time (" + (f"seed {seeds[0]})" if len(seeds) == 1 else
                                                       "each teacher's first seed)"), fontsize=9)
        paths.append(str(save_figure(fig, out / "levels_chosen.png")))
    return paths


def _maze_image(text: str) -> np.ndarray:
    rows = text.strip("\n").splitlines()
    img = np.ones((len(rows), len(rows[0]), 3))
    colours = {"#": (0.25, 0.25, 0.3), "S": (0.9, 0.2, 0.2), "G": (0.2, 0.75, 0.3)}
    for r, line in enumerate(rows):
        for c, ch in enumerate(line):
            if ch in colours:
                img[r, c] = colours[ch]
    return img


def run_and_report(teachers: Sequence[str] | None = None, seeds: Sequence[int] = (0, 1, 2), *,
                   steps: int = 300_000, eval_every: int | None = None, episodes: int = 10, workers: int = 1,
                   out: str | os.PathLike | None = None, speed_steps: int = 20_000,
                   explore_bonus: float = EXPLORE_BONUS, generator: str = GENERATOR,
                   echo: Callable[[str], None] = print,
                   on_plan: Callable[[], None] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the held-out table and the teacher-path speed, write results and figures.

    ``on_plan()`` is called once every argument has been checked, before any run (the CLI creates its
    output folder there, so a refused argument leaves nothing behind)."""
    from pathlib import Path

    from ..errors import ConfigError
    from ..settings import number, whole
    from . import report as report_mod
    from .args import distinct
    from .runner import Interrupted, ReportInterrupted, check_seeds

    names = distinct(teachers or LEVEL_TEACHERS, "teachers")  # a repeated teacher ran its runs twice
    unknown = [t for t in names if t not in LEVEL_TEACHERS + DIAGNOSTICS]
    if unknown:  # a misspelt teacher ("plrr", "robust_plr") is named with its near miss, as the plain bench does
        from ..teacher import near_names

        near = near_names(unknown, LEVEL_TEACHERS + DIAGNOSTICS)
        raise ConfigError(f"unknown level benchmark teacher(s) {unknown}{near}; choose from "
                          f"{', '.join(LEVEL_TEACHERS + DIAGNOSTICS)}")
    # checked before any run: eval_every=-5 never finished a run, 0 was replaced silently by the default
    seeds = check_seeds(seeds)
    if max(seeds) > MAX_SEED:  # (the run with that seed failed, after the runs before it)
        raise ConfigError(f"seed {max(seeds)} is too large for the level benchmark: its PPO student seeds torch with "
                          f"the seed + {EVAL_SEED:,} at most, and torch's seeds end at 2**64 - 1; give seeds up to "
                          f"{MAX_SEED:,}")
    for name, value in (("steps", steps), ("episodes", episodes), ("workers", workers)):
        whole(name, value)
    whole("speed_steps", speed_steps, 0)
    if 0 < speed_steps < 16:  # teacher_path_speed's 16 sub-envs: checked here, not after every run is done
        whole("speed_steps", speed_steps, 16, hint="or 0: no teacher-path timing")
    from ..rl.envs.maze import GENERATORS

    if generator not in GENERATORS:
        raise ConfigError(f"unknown maze generator {generator!r}; choose from {', '.join(GENERATORS)}")
    number("explore_bonus", explore_bonus, 0.0, hint="the training envs' novelty bonus; 0: none")
    if eval_every is not None:
        whole("eval_every", eval_every, hint="or None: a sixth of steps, at least 2048")
    eval_every = eval_every or max(steps // 6, 2048)
    if on_plan is not None:
        on_plan()
    report_mod.keep_earlier_interrupted(out, echo, report_mod.LEVELS_INTERRUPTED)  # (a finished run removed it)
    echo(f"{len(names)} teachers x {len(seeds)} seeds, {steps:,} env steps each, held-out eval every "
         f"{eval_every:,} steps ({episodes} episodes per maze), {workers} worker(s); training levels: "
         f"{generator!r} generator, exploration bonus {explore_bonus:g}")

    def progress(rec: dict[str, Any]) -> None:
        echo(f"  {rec['teacher']:<13} seed {rec['seed']}: held-out {100 * rec['mean']:5.1f}%  "
             f"({rec['wall_s']:.0f} s, {rec['train_steps_per_s']:,.0f} steps/s with PPO)")

    t0 = time.perf_counter()
    config = {"teachers": names, "seeds": list(seeds), "steps": steps, "eval_every": eval_every,
              "episodes": episodes, "explore_bonus": explore_bonus, "generator": generator}
    try:
        records = run_levels_benchmark(names, seeds, workers=workers, progress=progress, steps=steps,
                                       eval_every=eval_every, episodes=episodes, explore_bonus=explore_bonus,
                                       generator=generator)
    except Interrupted as e:  # Ctrl-C: the finished runs are kept in a file marked as such, never as the results
        raise report_mod.keep_interrupted(
            e, {"config": config, "runs": [r for r in e.records if r is not None]}, len(e.records), out, runs="runs",
            write=lambda results, folder: [report_mod.write_json(Path(folder) / report_mod.LEVELS_INTERRUPTED[0],
                                                                 results)], files=report_mod.LEVELS_INTERRUPTED)
    summary = summarise(records)
    echo(f"\nHeld-out solve rate (%), median [min-max] over {len(seeds)} seeds, after {steps:,} env steps:")
    echo(format_table(summary))
    speed: dict[str, Any] = {}
    timed = [t for t in names if t not in ("uniform",) + DIAGNOSTICS] if speed_steps else []
    speed_cut = False  # a Ctrl-C during the speed measurement: the finished runs are written, then it stops
    if timed:
        echo(f"\nTeacher path env steps per CPU second (random actions, 16 sync envs, {speed_steps:,} steps, "
             "median of 3), vs the same vector env drawing random levels without a teacher:")
        echo(f"  {'teacher':<13}{'no teacher':>11}{'prefetch=0':>11}{'kept':>6}{'prefetch=2':>11}{'kept':>6}")
        try:
            for t in timed:
                env_kw = {"explore_bonus": explore_bonus, "generator": generator}
                s0 = teacher_path_speed(t, steps=speed_steps, **env_kw)
                s2 = teacher_path_speed(t, steps=speed_steps, prefetch=2, **env_kw)
                speed[t] = {"prefetch0": s0, "prefetch2": s2}
                echo(f"  {t:<13}{s0['no_teacher']:>11,.0f}{s0['teacher']:>11,.0f}{100 * s0['kept']:>5.0f}%"
                     f"{s2['teacher']:>11,.0f}{100 * s2['kept']:>5.0f}%")
        except KeyboardInterrupt:  # (after every run: it exited 130 without a word, every finished run lost)
            speed_cut = True
    result = {"config": config, "summary": summary, "speed": speed, "runs": records,
              "wall_s": time.perf_counter() - t0}
    stage = ""
    if speed_cut:
        unmeasured = [t for t in timed if t not in speed]
        result["speed_interrupted"] = {"not_measured": unmeasured}
        stage = (f"during the teacher-path speed measurement (no speed numbers for {', '.join(unmeasured)} "
                 "in the results)")
    if out is None and speed_cut:
        exc = ReportInterrupted(list(records))
        exc.results, exc.stage = result, stage
        raise exc
    if out is not None:
        path = Path(out)
        path.mkdir(parents=True, exist_ok=True)

        def write() -> list[Path]:
            # a re-used folder: an earlier run's levels_chosen.png (not drawn when no teacher chose levels) is not
            # this run's (an earlier interrupted run's results were moved aside before the runs)
            report_mod.clear_outputs(path, ("levels_curves.png", "levels_chosen.png"))
            return [report_mod.write_json(path / "levels_results.json", result)]

        figs: list[str] = []
        results_file = json.dumps(str(path / "levels_results.json"))

        def draw() -> None:
            if speed_cut:  # the speed measurement's Ctrl-C: stop after the results, before the figures
                raise KeyboardInterrupt
            figs.extend(write_figures(records, path))

        # (a Ctrl-C while the figures are drawn: ReportInterrupted, naming what was written and how to redo them)
        try:
            report_mod.write_outputs(path, records, write, draw, report_files=("levels_curves.png", "levels_chosen.png"),
                                     main=("levels_curves.png",), redo=report_mod.redo_command(
                                         "import json; from magister.bench.levels import write_figures; write_figures("
                                         f"json.load(open({results_file}))['runs'], {json.dumps(str(path))})"))
        except ReportInterrupted as exc:
            exc.results = result
            exc.stage = stage or exc.stage
            raise
        echo(f"\nwrote {path / 'levels_results.json'} and {', '.join(figs)}")
    return result
