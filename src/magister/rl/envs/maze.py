"""``magister/Maze-v0``: MiniGrid's maze navigation on a :class:`~magister.levels.Maze`, in lean numpy.

The rules are MiniGrid's (``MiniGrid-Empty``/``MultiRoom`` family):

* actions 0 turn left, 1 turn right, 2 move forward (into a wall: stay);
* the agent sees a 7 x 7 egocentric view (it stands at the bottom centre,
  facing up), here with MiniGrid's ``see_through_walls=True``;
* reaching the goal ends the episode with reward ``1 - 0.9 * steps / max_steps``;
  otherwise 0, and the episode is cut at ``max_steps``;
* the start direction is drawn at reset from the env's generator;
* optionally (``explore_bonus=b > 0``, for training only) each cell entered
  for the first time in the episode adds ``b`` to the reward: an episodic
  novelty bonus that lets a policy-gradient learner find goals at the end of
  long paths. The final ``info`` always carries ``"is_success"`` and
  ``"goal_reward"`` (the reward without any bonus), so scores and evaluations
  never see the bonus (:func:`evaluate_mazes` plays without one).

Observations are flat ``float32`` vectors: the view as two one-hot planes
(wall, goal; cells outside the maze read as walls) then the direction one-hot:
``7 * 7 * 2 + 4 = 102`` numbers, ready for an MLP.

A task (``reset(options={"task": ...})`` or :meth:`MazeEnv.set_task`) is one of:

* a :class:`~magister.levels.Maze` (or its text), played as given;
* a whole number: a seed of the level generator :func:`maze_from_seed`
  (``SeedSpace`` tasks); with ``MazeEnv(seeds=...)`` (a finite training set,
  :func:`training_seeds`) the number ``i`` is an index, played as generator
  seed ``seeds[i]`` (``SeedSpace(len(seeds))`` tasks);
* a one-number array ``[x]``, x in [0, 1]: the generator's parameter, a maze
  drawn with the env's own random generator (e.g. for ``alp-gmm``). For the
  ``"blocks"`` generator x is the wall density; for ``"mixed"`` (see
  :func:`maze_from_seed`) x < 0.5 is a block maze of density
  ``x * 2 * max_density`` and x >= 0.5 a labyrinth with ``(1 - x) / 2`` of
  its walls opened (x = 1: the closed labyrinth), so x orders the levels by
  difficulty, roughly. A bool or text is no parameter (``[True]`` is refused).

A 0-d array is the number it holds: ``np.array(3)`` is seed 3 and
``np.array(0.3)`` is refused, as ``0.3`` is.

The dynamics are written once, batched over ``n`` episodes
(:class:`MazeBatch`); the Gymnasium env is ``n = 1`` and :func:`evaluate_mazes`
runs a whole held-out set in one batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np

from ...errors import ConfigError, InvalidActionError, InvalidTaskError
from ...settings import MAX_TASKS, is_int, number, whole
from .base import discrete_action, reset_options

__all__ = ["MazeEnv", "MazeBatch", "evaluate_mazes", "maze_from_seed", "GENERATORS", "default_max_steps", "heldout_mazes",
           "training_seeds", "unseen_levels", "maze_family", "OBS_DIM", "VIEW", "HELDOUT_FAMILIES"]

#: families of the held-out mazes (a maze's family is its name up to the first "_")
HELDOUT_FAMILIES = ("rooms", "corridors", "labyrinths", "spirals", "long")


def heldout_mazes() -> dict[str, Any]:
    """The named held-out test set: hand-designed mazes shipped as text in ``magister/levels/data/heldout``.

    Families (:func:`maze_family`): rooms, corridors, labyrinths, spirals and
    long (paths several times longer than the random training mazes'). Every
    one is solvable (a test checks).
    """
    from importlib import resources

    from ...levels import load_mazes

    return load_mazes(str(resources.files("magister.levels") / "data" / "heldout"))


def unseen_levels(n: int = 100, size: int = 15, max_density: float = 0.35) -> list[Any]:
    """``n`` solvable levels of the seed generator (:func:`maze_from_seed`) that no teacher over
    ``SeedSpace()`` can propose: the seeds from ``2**31`` up (the space's seeds are ``0 .. 2**31 - 1``),
    unsolvable draws skipped. Held-out levels of the training distribution, as PLR's test levels are
    unseen seeds of the training generator; the same list on every call."""
    from ...levels.spaces import SEED_LIMIT

    if not is_int(n) or n < 1:
        raise ConfigError(f"unseen_levels needs n = a whole number of levels >= 1, got {n!r}")
    if not 0.0 <= float(max_density) < 0.9:
        raise ConfigError(f"unseen_levels needs max_density in [0, 0.9) (denser mazes are almost never solvable), "
                         f"got {max_density!r}")
    levels: list[Any] = []
    seed = SEED_LIMIT
    while len(levels) < n:
        maze = maze_from_seed(seed, size, max_density)
        if maze.solvable:
            levels.append(maze)
        seed += 1
    return levels


def training_seeds(n: int, seed: int = 0) -> list[int]:
    """A finite training set, as in the PLR paper: ``n`` distinct seeds of the level generator drawn once
    for run ``seed`` (all below ``2**31``, so none is one of :func:`unseen_levels`). Pass them to
    ``MazeEnv(seeds=...)`` and give the teacher ``SeedSpace(n)``. At most ``magister.settings.MAX_TASKS`` (1,000,000)
    levels: a larger set is refused before anything is drawn (``n=10**8`` filled memory)."""
    from ...levels.spaces import SEED_LIMIT

    if not is_int(n) or not 1 <= n <= MAX_TASKS:
        raise ConfigError(f"training_seeds needs n = a whole number of levels in 1..{MAX_TASKS:,}, got {n!r}; for more "
                          "levels than that use the open-ended generator (MazeEnv() without seeds, SeedSpace(None))")
    # (int() cut 1.5 to 1, and -1 raised numpy's "expected non-negative integer")
    rng = np.random.default_rng([whole("training_seeds: seed", seed, 0, floats=True, hint="the run's seed"), 0x7E57])
    out: dict[int, None] = {}
    while len(out) < n:
        out.update(dict.fromkeys(int(x) for x in rng.integers(0, SEED_LIMIT, size=n - len(out))))
    return list(out)


def maze_family(name: str) -> str:
    """A held-out maze's family: its name up to the first underscore (``"spirals_in"`` -> ``"spirals"``)."""
    return name.split("_", 1)[0]

VIEW = 7
OBS_DIM = VIEW * VIEW * 2 + 4
_PAD = VIEW - 1
#: (row, col) step of each direction: 0 east, 1 south, 2 west, 3 north (MiniGrid's order)
_FWD = np.array([[0, 1], [1, 0], [0, -1], [-1, 0]], dtype=np.int64)
_EMPTY, _WALL, _GOAL = 0, 1, 2


def _view_offsets() -> tuple[np.ndarray, np.ndarray]:
    """(4, 7, 7) row and column offsets of each view cell from the agent, per direction."""
    i, j = np.meshgrid(np.arange(VIEW), np.arange(VIEW), indexing="ij")
    fwd, right = VIEW - 1 - i, j - VIEW // 2
    dr = np.stack([fwd * _FWD[d, 0] + right * _FWD[(d + 1) % 4, 0] for d in range(4)])
    dc = np.stack([fwd * _FWD[d, 1] + right * _FWD[(d + 1) % 4, 1] for d in range(4)])
    return dr, dc


_DR, _DC = _view_offsets()


def default_max_steps(height: int, width: int) -> int:
    """250 steps up to 15 x 15 (as in the ACCEL MiniGrid mazes), more in proportion to the area beyond."""
    return int(max(250, round(250 * height * width / 225)))


#: the level generators behind seed tasks (:func:`maze_from_seed`)
GENERATORS = ("blocks", "mixed")


def maze_from_seed(seed: int, size: int = 15, max_density: float = 0.35, generator: str = "blocks") -> Any:
    """The level generator behind seed tasks.

    ``"blocks"`` (the default): a random ``size`` x ``size`` maze
    (``levels.random_maze``) whose wall density is itself drawn uniformly in
    ``[0, max_density]`` from the seed - domain randomisation over easy and
    hard block mazes (up to 0.35: about the 60 blocks of the 15 x 15 ACCEL
    mazes). Some draws cannot be solved, as in that domain randomisation.
    Their shortest paths are short (median 9 cells on 15 x 15).

    ``"mixed"``: half the seeds give such a block maze, the other half a
    corridor labyrinth (``levels.labyrinth_maze``) with a fraction of its walls
    in ``[0, 0.25)`` opened - levels from trivial to paths of most of the maze
    (labyrinths: median 16 cells, 90th percentile 34 on 15 x 15), so that there
    is a frontier of hard but learnable levels for a teacher to find.
    """
    from ...levels import mixed_maze

    if generator not in GENERATORS:
        raise ConfigError(f"unknown maze generator {generator!r}; choose from {GENERATORS}")
    # (int() cut 1.5 to 1, and -1 raised numpy's "expected non-negative integer")
    rng = np.random.default_rng(whole("maze_from_seed: seed", seed, 0, floats=True, hint="a level's seed"))
    return mixed_maze(rng, size, (0.0, max_density), 0.5 if generator == "mixed" else 0.0)


def _is_param(task: Any) -> bool:
    """Whether ``task`` is a one-number generator parameter ``[x]`` (a 0-d array is the number it holds, no list)."""
    return isinstance(task, (np.ndarray, list, tuple)) and np.size(task) == 1 and np.ndim(task) > 0


def _param(task: Any) -> float:
    """The generator parameter ``x`` of a task ``[x]``, checked to lie in [0, 1] (a bool or text is no number)."""
    try:
        v = np.asarray(task).reshape(-1)[0]
        if isinstance(v, (bool, np.bool_, str, bytes, np.str_, np.bytes_)):  # ([True] played as density 1, ["0.5"]
            raise TypeError                                                    # as 0.5)
        x = float(v)
    except (TypeError, ValueError):
        x = float("nan")
    if not 0.0 <= x <= 1.0:
        raise InvalidTaskError(f"MazeEnv: a generator parameter task (wall density for the blocks "
                               f"generator) must be a number in [0, 1], got {task!r}")
    return x


def _as_maze(task: Any) -> Any:
    from ...levels import Maze

    if isinstance(task, Maze):
        return task
    if isinstance(task, str):
        return Maze.parse(task)
    if isinstance(task, (float, np.floating)):  # (the message named "[wall_density]" and left the fix to guess)
        raise InvalidTaskError(f"MazeEnv: a bare number {task!r} is no maze task: a generator seed is a whole number "
                               f"(int), and the generator's parameter (the wall density for the blocks generator) "
                               f"is a one-number list, [{float(task)!r}]")
    raise InvalidTaskError(f"a maze task must be a Maze, its text, a seed or [wall_density]; got {task!r}")


class MazeBatch:
    """``n`` maze episodes stepped together (numpy), each on its own maze (sizes may differ)."""

    def __init__(self, mazes: Sequence[Any], rng: np.random.Generator, max_steps: int | Sequence[int] | None = None):
        n = len(mazes)
        hs = [m.walls.shape[0] for m in mazes]
        ws = [m.walls.shape[1] for m in mazes]
        H, W = max(hs) + 2 * _PAD, max(ws) + 2 * _PAD
        self.grid = np.full((n, H, W), _WALL, dtype=np.int8)
        self.pos = np.zeros((n, 2), dtype=np.int64)
        for b, m in enumerate(mazes):
            h, w = m.walls.shape
            g = np.where(np.asarray(m.walls, dtype=bool), _WALL, _EMPTY).astype(np.int8)
            g[m.goal[0], m.goal[1]] = _GOAL
            self.grid[b, _PAD:_PAD + h, _PAD:_PAD + w] = g
            self.pos[b] = (m.start[0] + _PAD, m.start[1] + _PAD)
        if max_steps is None:
            self.max_steps = np.array([default_max_steps(h, w) for h, w in zip(hs, ws)], dtype=np.int64)
        else:
            self.max_steps = np.broadcast_to(np.asarray(max_steps, dtype=np.int64), (n,)).copy()
        self.dir = rng.integers(0, 4, size=n)
        self.steps = np.zeros(n, dtype=np.int64)
        self._b = np.arange(n)[:, None, None]

    def obs(self) -> np.ndarray:
        rows = self.pos[:, 0, None, None] + _DR[self.dir]
        cols = self.pos[:, 1, None, None] + _DC[self.dir]
        view = self.grid[self._b, rows, cols].reshape(len(self.dir), -1)
        out = np.zeros((len(self.dir), OBS_DIM), dtype=np.float32)
        out[:, :VIEW * VIEW] = view == _WALL
        out[:, VIEW * VIEW:2 * VIEW * VIEW] = view == _GOAL
        out[np.arange(len(self.dir)), 2 * VIEW * VIEW + self.dir] = 1.0
        return out

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance every episode; returns (reward, terminated, truncated). ``actions``: one of 0 (left),
        1 (right), 2 (forward) per episode, checked before anything changes (as :meth:`MazeEnv.step`)."""
        raw = np.asarray(actions)
        n = len(self.dir)
        # a policy's (n, 1) column crashed deep in numpy; an action 3 (or 1.7, read as 1) played as another
        # move, silently, where MazeEnv refuses it
        # three comparisons, not np.isin (which sorted the actions at every step: about 5x the cost)
        if raw.shape != (n,) or raw.dtype.kind not in "iuf" or not ((raw == 0) | (raw == 1) | (raw == 2)).all():
            got = f"values {np.unique(raw)[:5].tolist()!r}" if raw.dtype.kind in "iufb" else f"of {raw.dtype}"
            raise InvalidActionError(f"MazeBatch.step needs one action 0 (left), 1 (right) or 2 (forward) per episode "
                                     f"(the whole numbers 0..2): an array of shape ({n},), got shape {raw.shape} {got}")
        a = raw.astype(np.int64)
        self.steps += 1
        self.dir = np.where(a == 0, (self.dir + 3) % 4, np.where(a == 1, (self.dir + 1) % 4, self.dir))
        fwd = a == 2
        nxt = self.pos + _FWD[self.dir] * fwd[:, None]
        cell = self.grid[np.arange(len(a)), nxt[:, 0], nxt[:, 1]]
        move = cell != _WALL
        self.pos = np.where(move[:, None], nxt, self.pos)
        term = move & (cell == _GOAL) & fwd
        reward = np.where(term, 1.0 - 0.9 * self.steps / self.max_steps, 0.0)
        trunc = ~term & (self.steps >= self.max_steps)
        return reward, term, trunc


class MazeEnv(gym.Env):
    """MiniGrid maze navigation on a :class:`~magister.levels.Maze` (see the module docstring).

    Args:
        task: the first task (default: an empty ``size`` x ``size`` maze).
        size: maze size for seed and density tasks (15, as the ACCEL mazes).
        max_density: top of the wall density drawn for a seed (:func:`maze_from_seed`).
        generator: the level generator of seed tasks, ``"blocks"`` or ``"mixed"`` (:func:`maze_from_seed`).
        max_steps: episode limit (default :func:`default_max_steps` of the maze's size).
        explore_bonus: reward added on each first visit of a cell in an episode (0: none; see the module
            docstring). A training aid: the episode's success and goal reward are reported without it.
        seeds: a finite training set (:func:`training_seeds`): a whole-number task ``i`` plays the
            generator's seed ``seeds[i]``, so a teacher over ``SeedSpace(len(seeds))`` picks among them.
        render_mode: ``None`` or ``"ansi"`` (the maze as text); any other is a ``ConfigError``.
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, task: Any = None, size: int = 15, max_density: float = 0.35, max_steps: int | None = None,
                 render_mode: str | None = None, explore_bonus: float = 0.0, generator: str = "blocks",
                 seeds: Sequence[int] | None = None):
        super().__init__()
        if seeds is not None:
            if isinstance(seeds, (str, bytes, dict)) or not isinstance(seeds, Iterable) or (
                    isinstance(seeds, np.ndarray) and seeds.ndim == 0):  # ("12" was [1, 2]; 5 a raw TypeError)
                raise ConfigError(f"MazeEnv: seeds (a finite training set) is a list of generator seeds "
                                  f"(training_seeds(n)), got {seeds!r:.60}")
            # each checked now: int() took 1.5 as 1 and "3" as 3, and a seed -1 failed with numpy's "expected
            # non-negative integer" at the first reset of its level, after any number of episodes
            seeds = [whole(f"MazeEnv: seeds[{i}]", x, 0, floats=True, hint="a seed of the level generator")
                     for i, x in enumerate(seeds)]
            if not seeds:
                raise ConfigError("MazeEnv: seeds (a finite training set) needs at least one generator seed")
        self.seeds = seeds
        if generator not in GENERATORS:
            raise ConfigError(f"MazeEnv: unknown generator {generator!r}; choose from {GENERATORS}")
        self.generator = generator
        # (np.isfinite raised a raw TypeError on "0.1" or None, and True was a bonus of 1.0)
        self.explore_bonus = number("MazeEnv: explore_bonus", explore_bonus, 0.0,
                                    hint="the reward of a first visit of a cell, 0 for none")
        self.size = whole("MazeEnv: size", size, 4, floats=True, hint="border included")
        from ...levels.maze import LABYRINTH_MIN_SIZE

        if generator == "mixed" and self.size < LABYRINTH_MIN_SIZE:  # (half its seeds failed at reset)
            raise ConfigError(f"MazeEnv: the 'mixed' generator's labyrinths need size >= {LABYRINTH_MIN_SIZE}, got "
                             f"size {size!r}; use generator='blocks' for smaller mazes")
        self.max_density = number("MazeEnv: max_density", max_density, 0.0, 1.0,
                                  hint="the top of the wall density drawn for a seed")
        self.max_steps_ = None if max_steps is None else whole("MazeEnv: max_steps", max_steps, floats=True)
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(OBS_DIM,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(3)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            # (accepted, and render() gave text where "rgb_array" promises an image: a video recorder failed later)
            raise ConfigError(f"MazeEnv: render_mode must be None or one of {self.metadata['render_modes']} (the "
                             f"maze as text), got {render_mode!r}")
        self.render_mode = render_mode
        self._task: Any = task
        #: (task, its maze) resolved by set_task, for the next reset to play without drawing it again
        self._checked: tuple[Any, Any] | None = None
        self.maze: Any = None
        self._batch: MazeBatch | None = None

    def _resolve(self, task: Any) -> Any:
        if isinstance(task, np.ndarray) and task.ndim == 0:  # np.array(3) is seed 3, np.array(0.5) a bare 0.5 (it
            task = task[()]                                  # played as the generator parameter [0.5])
        if task is None:
            from ...levels import empty_maze

            return empty_maze(self.size)
        if is_int(task):
            if self.seeds is not None:
                if not 0 <= int(task) < len(self.seeds):
                    raise InvalidTaskError(f"MazeEnv: level {int(task)} is outside the training set of "
                                           f"{len(self.seeds)} levels (tasks 0..{len(self.seeds) - 1}); build "
                                           f"the teacher on SeedSpace({len(self.seeds)}), one task per seed of "
                                           "MazeEnv(seeds=...)")
                task = self.seeds[int(task)]
            elif task < 0:  # (numpy's own "expected non-negative integer" came out of the generator)
                raise InvalidTaskError(f"MazeEnv: a seed task is a whole number >= 0, got {int(task)}")
            return maze_from_seed(int(task), self.size, self.max_density, self.generator)
        if _is_param(task):
            from ...levels import labyrinth_maze, random_maze

            x = _param(task)
            if self.generator == "mixed":
                if x < 0.5:
                    return random_maze(self.np_random, self.size, x * 2 * self.max_density)
                return labyrinth_maze(self.np_random, self.size, (1.0 - x) / 2)
            return random_maze(self.np_random, self.size, x)
        return _as_maze(task)

    def level(self, task: Any) -> Any:
        """The :class:`~magister.levels.Maze` a seed or maze task plays (an index of the training set under
        ``seeds=``); a generator-parameter task ``[x]`` draws a new maze from the env's generator each time."""
        return self._resolve(task)

    def set_task(self, task: Any) -> None:
        """Play ``task`` from the next reset on (checked now)."""
        if _is_param(task):
            _param(task)  # the range only: the maze is drawn from the env's generator at each reset
            self._checked = None
        else:  # a seed or maze task resolves to one maze: the next reset plays this one (not drawn twice)
            self._checked = (task, self._resolve(task))
        self._task = task

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        options = reset_options("MazeEnv", options)
        task = options["task"] if options and "task" in options else self._task
        # checked before anything changes (the generator's seed included); a density task draws its maze
        # from the generator, so after the seeding
        checked, self._checked = self._checked, None
        if checked is not None and checked[0] is task:
            maze = checked[1]
        else:
            maze = None if _is_param(task) else self._resolve(task)
        if maze is None:
            _param(task)
        super().reset(seed=seed)
        self.maze = maze if maze is not None else self._resolve(task)
        self._task = task
        # the same rules as MazeBatch, on plain ints and one flat grid (a step costs a few microseconds)
        batch = MazeBatch([self.maze], self.np_random, self.max_steps_)
        self._grid = batch.grid[0].ravel()
        self._width = batch.grid.shape[2]
        self._pos = int(batch.pos[0, 0]) * self._width + int(batch.pos[0, 1])
        self._dir = int(batch.dir[0])
        self._max = int(batch.max_steps[0])
        self._steps = 0
        self._off = (_DR * self._width + _DC).reshape(4, -1)
        self._move = (_FWD[:, 0] * self._width + _FWD[:, 1]).tolist()
        self._batch = batch
        self._seen = np.zeros(self._grid.shape, dtype=bool)
        self._seen[self._pos] = True
        return self._obs(), {}

    def _obs(self) -> np.ndarray:
        view = self._grid[self._pos + self._off[self._dir]]
        out = np.zeros(OBS_DIM, dtype=np.float32)
        out[:VIEW * VIEW] = view == _WALL
        out[VIEW * VIEW:2 * VIEW * VIEW] = view == _GOAL
        out[2 * VIEW * VIEW + self._dir] = 1.0
        return out

    def step(self, action: Any):
        if self._batch is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        # before anything changes: a refused action costs no step. int() took 1.7 (played as 1) and True, and
        # answered NaN or an array with Python's own words
        a = discrete_action(action, 0, 3)
        if a is None:
            raise InvalidActionError(f"MazeEnv actions are the whole numbers 0..2: 0 (left), 1 (right), 2 (forward); "
                                     f"got {action!r}")
        self._steps += 1
        term = False
        reward = 0.0
        bonus = 0.0
        if a == 0:
            self._dir = (self._dir + 3) % 4
        elif a == 1:
            self._dir = (self._dir + 1) % 4
        elif a == 2:
            nxt = self._pos + self._move[self._dir]
            cell = self._grid[nxt]
            if cell != _WALL:
                self._pos = nxt
                if self.explore_bonus and not self._seen[nxt]:
                    self._seen[nxt] = True
                    bonus = self.explore_bonus
                if cell == _GOAL:
                    term = True
                    reward = 1.0 - 0.9 * self._steps / self._max
        trunc = not term and self._steps >= self._max
        info = {"is_success": term, "goal_reward": reward} if (term or trunc) else {}
        return self._obs(), reward + bonus, term, trunc, info

    @property
    def agent(self) -> tuple[int, int, int]:
        """(row, col, direction) of the agent in maze coordinates."""
        r, c = divmod(self._pos, self._width)
        return r - _PAD, c - _PAD, self._dir

    def render(self) -> str:
        """The maze as text with the agent drawn as ``>v<^``."""
        if self._batch is None or self.maze is None:
            return ""
        rows = [list(line) for line in self.maze.to_text().splitlines()]
        r, c, d = self.agent
        rows[r][c] = ">v<^"[d]
        return "\n".join("".join(row) for row in rows)


def evaluate_mazes(policy: Callable[[np.ndarray], np.ndarray], mazes: Sequence[Any], episodes: int = 4,
                   seed: int = 0, max_steps: int | None = None) -> np.ndarray:
    """Success rate of ``policy`` (batched obs -> actions) on each maze, all episodes in one batch."""
    episodes = whole("evaluate_mazes: episodes", episodes, floats=True)
    max_steps = None if max_steps is None else whole("evaluate_mazes: max_steps", max_steps, floats=True)
    if isinstance(mazes, dict):
        raise InvalidTaskError("evaluate_mazes takes a list of mazes, not a dict of them (it would read the names); "
                               "pass list(mazes.values())")
    from ...levels import Maze

    bad = [m for m in mazes if not isinstance(m, (Maze, str))]
    if bad:
        raise InvalidTaskError(f"evaluate_mazes plays Maze objects or their text, got {bad[0]!r}")
    mazes = [_as_maze(m) for m in mazes]
    if not mazes:
        raise InvalidTaskError("evaluate_mazes needs at least one maze")
    rep = [m for m in mazes for _ in range(episodes)]
    batch = MazeBatch(rep, np.random.default_rng(seed), max_steps)
    alive = np.ones(len(rep), dtype=bool)
    won = np.zeros(len(rep), dtype=bool)
    for _ in range(int(batch.max_steps.max())):
        _, term, trunc = batch.step(policy(batch.obs()))
        won |= alive & term
        alive &= ~(term | trunc)
        if not alive.any():
            break
    return won.reshape(len(mazes), episodes).mean(axis=1)
