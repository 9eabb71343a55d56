"""Which teacher to start with: the recommended default for a space, from the measured suites.

``recommend(space)`` turns the table of ``docs/which-teacher.md`` into code, so
that a user who cannot tune a teacher for their learner gets the one that held
up on the learners we measured, with its settings and the reason::

    import magister as mg

    rec = mg.recommend(mg.Discrete(20), scores="success")
    rec.name, rec.settings            # ('sec', {'set_aside': 0.9})
    teacher = rec.make(mg.Discrete(20), seed=0)

Nothing here is measured at run time: the rules below are the recommendations
of the docs, and change only when their figures do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError
from .settings import MAX_TASKS, flag
from .levels.spaces import MazeSpace, SeedSpace
from .spaces import Box, Dict, Discrete, Space
from .teacher import Teacher, make_teacher

__all__ = ["Recommendation", "recommend", "recommendations", "SCORE_KINDS"]

#: what a score can mean: "success" (high means the task is done: solved, correct, a pass rate),
#: "other" (a loss drop, a reward with no level at which the task is done)
SCORE_KINDS = ("success", "other")

#: what the recommended teachers do with ``scores="other"`` (the same teachers as for success scores, but for
#: set_aside: the suites measured them with pass rates, and no teacher reads every kind of "other" score right)
_OTHER_FINITE = (
    "Its default reward reads the mean of a task's recent scores as a pass rate p (2 sqrt(p (1 - p)): highest "
    "at the middle of score_range, zero at either end), so where a task's mean sits in the declared range "
    "decides how often it is proposed: declare score_range so that its ends mean 'not learned' and 'learned'; "
    "for a score that is itself the learning signal (a loss drop, an advantage) pass reward='score' (the "
    "higher, the more the task is proposed); for a score whose level means nothing (a reward, a loss), "
    "'exp3' (its progress reward reads only how the score changes, on any scale) is the runner-up")
_OTHER_FRONTIER = (
    "frontier proposes tasks predicted inside a band of the normalised score range (low=0.1, high=0.9), read "
    "as intermediate success: declare score_range so that its ends mean 'not learned' and 'learned', or for "
    "a score whose level means nothing use 'riac-plus' (learning progress, on any scale)")


@dataclass(frozen=True)
class Recommendation:
    """A teacher name, its settings and why (see :func:`recommend`)."""

    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    def make(self, space: Space, *, seed: Any = None, **overrides: Any) -> Teacher:
        """Build the recommended teacher on ``space`` (``overrides`` replace or add settings)."""
        return make_teacher(self.name, space, seed=seed, **{**self.settings, **overrides})


def recommend(space: Space, *, scores: str = "success", rl: bool = False, opponents: bool = False) -> Recommendation:
    """The teacher to start with on ``space`` (the "Recommended defaults" of ``docs/which-teacher.md``).

    ``scores``: ``"success"`` when a high score means the task is done (solved,
    answered correctly, a pass rate), ``"other"`` otherwise (a loss drop, a
    reward with no level at which the task counts as learned). ``"other"`` gives
    the same teacher, without ``set_aside`` (which needs a level at which a task is
    done), and a reason that says how that teacher reads such scores: ``sec``'s
    default reward and ``frontier``'s band read the score's place in
    ``score_range`` as success, so declare a range whose ends mean "not learned"
    and "learned", or take the setting or teacher the reason names. ``rl``: each
    score is one noisy 0/1 (or return) outcome of a reinforcement-learning
    agent (it matters for continuous spaces only). ``opponents``: the tasks
    are opponents from a pool (self-play); build it with
    ``rec.make(pool.space, pool=pool)``. A pool's own space (``pool.space``) is taken as opponents without it.
    """
    if not isinstance(space, Space):
        kind = type(space)  # the full name: a gymnasium.spaces.Box is not magister's Box
        raise ConfigError(f"recommend() needs a magister space (mg.Box, mg.Discrete, mg.MultiDiscrete, mg.Dict, "
                          f"SeedSpace, MazeSpace), got {kind.__module__}.{kind.__qualname__}")
    if scores not in SCORE_KINDS:
        raise ConfigError(f"scores must be one of {', '.join(map(repr, SCORE_KINDS))} (does a high score mean "
                          f"the task is done?), got {scores!r}")
    # numpy's True too, as every other flag (settings.flag): np.True_ was refused as if it were not a bool
    rl, opponents = flag("rl", rl), flag("opponents", opponents)
    # a pool's own space (pool.space) is opponents whatever opponents= says: it got 'sec' as any Discrete
    if opponents or getattr(space, "opponent_pool", None) is not None:
        if space.n is None:
            raise ConfigError(f"opponents=True needs the finite space of a pool's members (pool.space, a Discrete "
                              f"space, as the opponent teachers take); {space!r} has no finite list of tasks")
        if space.n > MAX_TASKS:  # 'pfsp' would refuse it: name the limit here instead of recommending it
            raise ConfigError(f"opponents=True: the opponent teachers keep a win rate per member of the pool, at most "
                              f"{MAX_TASKS}; this space has {space.n}")
        return Recommendation("pfsp", {}, (
            "prioritised fictitious self-play (hard weighting): on connect four it scored highest against the "
            "strongest held-out opponent (47 against self-play's 41, median of 6 seeds; short of the +10 points "
            "we aimed for) and forgets its own past less than naive self-play (docs/selfplay.md)"))
    if isinstance(space, (SeedSpace, MazeSpace)):
        return Recommendation("uniform", {}, f"levels: {_LEVELS_FIGURE}")
    levels = _level_entries(space)
    if levels:
        return _recommend_dict_of_levels(levels)
    if space.n is not None and space.n > MAX_TASKS:
        return Recommendation("frontier", {}, (
            f"{space.n} tasks, more than the discrete teachers keep statistics for ({MAX_TASKS}): 'frontier' works "
            f"on the tasks' unit coordinates, and held up on every grid learner of our suites "
            f"(docs/which-teacher.md)" + ("" if scores == "success" else f". {_OTHER_FRONTIER}")))
    if space.n is not None:
        if scores == "success":
            return Recommendation("sec", {"set_aside": 0.9}, (
                "finite space, success scores: 'sec' with set_aside=0.9 reached 100% of the ceiling on the 7 "
                "skill graphs of the standard suite and was never below uniform (docs/which-teacher.md)"))
        return Recommendation("sec", {}, (
            "finite space, scores that do not mean success: plain 'sec' (set_aside needs a level at which a task "
            "is done) reached 95% of the ceiling on the 7 skill graphs of the standard suite and was never below "
            "uniform (docs/which-teacher.md; measured with pass rates). " + _OTHER_FINITE))
    if rl:
        return Recommendation("riac-plus", {}, (
            "continuous space, 0/1 outcomes of an RL agent: 'riac-plus' reached the oracle's share of "
            "CliffWalk on 8 of 9 seeds, 'frontier' on 6 (8 since its tie rule, e12194e, measured on another "
            "machine than that 'riac-plus' run; docs/rl.md, docs/teachers-frontier.md)"))
    what = "continuous space" if isinstance(space, Box) else "space without a finite list of tasks"
    return Recommendation("frontier", {}, (
        f"{what}: 'frontier' reached 91% of the ceiling on the 12 grid learners of the standard suite and "
        f"99% on 8 held-out ones, best or tied best on all but one (grid-unlearnable-0.3: 56 against 59, 98% of "
        f"its ceiling; docs/which-teacher.md)" + ("" if scores == "success" else f". {_OTHER_FRONTIER}")))


#: why levels get uniform (the level benchmark of docs/rl.md)
_LEVELS_FIGURE = (
    "on the MiniGrid maze benchmark at CPU budgets of 200,000 steps no level teacher did clearly better than uniform "
    "levels: plr 1.07x uniform's held-out solve rate, inside the benchmark's noise, and robust-plr, accel and "
    "learnability below it (docs/rl.md); try 'plr' with much longer training")


def _level_entries(space: Space, prefix: str = "") -> list[tuple[str, Space]]:
    """The level spaces (``SeedSpace``, ``MazeSpace``) a ``Dict`` holds, nested ones included, by entry name."""
    if not isinstance(space, Dict):
        return []
    out: list[tuple[str, Space]] = []
    for key, sub in space.spaces.items():
        name = f"{prefix}[{key!r}]"
        out.extend([(name, sub)] if isinstance(sub, (SeedSpace, MazeSpace)) else _level_entries(sub, name))
    return out


def _recommend_dict_of_levels(levels: list[tuple[str, Space]]) -> Recommendation:
    """A ``Dict`` holding levels: uniform, as for levels alone (``Dict.sample`` draws a ``MazeSpace`` entry with the
    maze space's own sampler; a ``SeedSpace`` entry's seeds are equally likely either way)."""
    kinds = [(cls.__name__, [name for name, sub in levels if isinstance(sub, cls)], how) for cls, how in (
        (SeedSpace, "every seed equally likely"),
        (MazeSpace, "the mazes with the MazeSpace's own sampler (wall_density, labyrinths, require_solvable)"))]
    kinds = [k for k in kinds if k[1]]
    what = " and ".join(f"the {kind} {_entries(names)}" for kind, names, _ in kinds)
    return Recommendation("uniform", {}, (
        f"levels ({what} of a Dict): uniform draws {' and '.join(how for _, _, how in kinds)} and the other entries "
        f"uniformly; {_LEVELS_FIGURE}"))


def _entries(names: list[str]) -> str:
    return ("entry " if len(names) == 1 else "entries ") + ", ".join(names)


def recommendations() -> list[tuple[str, Recommendation]]:
    """``(situation, recommendation)`` for each kind of space, in the order of ``docs/which-teacher.md``'s table."""
    box, finite = Box([0.0], [1.0]), Discrete(2)
    return [
        ("continuous (Box)", recommend(box)),
        ("continuous, 0/1 outcomes of an RL agent", recommend(box, rl=True)),
        ("finite, scores that mean success", recommend(finite)),
        ("finite, other scores", recommend(finite, scores="other")),
        ("levels (SeedSpace, MazeSpace)", recommend(SeedSpace(2))),
        ("opponents from a pool", recommend(finite, opponents=True)),
    ]
