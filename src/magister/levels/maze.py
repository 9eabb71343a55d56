"""Mazes: explicit, editable levels on a grid, with a plain text format.

One character per cell, one line per row::

    #######
    #S..#.#
    #.#...#
    #.#.#G#
    #######

``#`` is a wall, ``.`` is floor, ``S`` the start and ``G`` the goal. The outer
border must be walls (it is part of the map, as in MiniGrid, so a ``size`` 7
maze has 5 x 5 free cells at most). Anyone can write a level by hand, load a
folder of them by name (:func:`load_mazes`) and print one (``print(maze)``).

A malformed map is refused with :class:`MazeFormatError` naming the line and
column; a map whose goal cannot be reached is reported by
:meth:`Maze.path_length` (``None``) and refused with
:class:`UnsolvableMazeError` when ``require_solvable=True``.

Only numpy and magister's errors are used here (a foundation module).
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from .. import settings
from ..errors import ConfigError, InvalidTaskError
from ..settings import is_int

__all__ = ["Maze", "MazeFormatError", "UnsolvableMazeError", "load_mazes", "random_maze", "labyrinth_maze", "mixed_maze", "empty_maze",
           "WALL", "FLOOR", "START", "GOAL"]

WALL, FLOOR, START, GOAL = "#", ".", "S", "G"
_CHARS = {WALL, FLOOR, START, GOAL}


class MazeFormatError(InvalidTaskError):
    """A maze text (or maze arrays) that is not a valid maze; the message names the line and column."""


class UnsolvableMazeError(MazeFormatError):
    """A maze whose goal cannot be reached from its start (raised only where solvability is required)."""


def _solvable_flag(func: str, value: Any) -> bool:
    """``require_solvable`` checked: True or False only (``"false"`` or ``[0]`` was taken for True, as ``bool()`` reads
    them, and a solvable maze was required; ``MazeSpace`` refuses them so)."""
    if value is True or value is False:
        return value
    return settings.flag(f"{func}: require_solvable", value)


def _where(line: int, col: int, name: str | None) -> str:
    return f"{name + ': ' if name else ''}line {line} column {col}"


def _wall_grid(w: np.ndarray, name: str | None) -> np.ndarray:
    """A 2-D grid of wall values as booleans: True/False or 1/0 only; anything else (NaN, 0.5, text, None) is
    refused with the line and column of its first cell."""
    if w.dtype.kind in "iuf":
        ok = (w == 0) | (w == 1)  # NaN is neither
    else:
        ok = np.array([isinstance(v, (bool, np.bool_, int, np.integer, float, np.floating)) and v in (0, 1)
                       for v in w.ravel().tolist()], dtype=bool).reshape(w.shape)
    if not ok.all():
        r, c = (int(i) for i in np.argwhere(~ok)[0])
        raise MazeFormatError(f"{_where(r + 1, c + 1, name)}: wall value {w[r, c]!r} is neither a wall (True or 1) "
                              "nor floor (False or 0)")
    return w.astype(bool)


def _blank_hint(line: str, col: int) -> str:
    """What a space or tab refused in a map most likely is, and the fix."""
    if line[col] not in " \t":
        return ""
    if col == 0:
        return "; the map is indented: remove the indentation (textwrap.dedent(text) for a map in Python code)"
    return "; a space or tab is no cell: write floor as '.'"


def _one_line(text: str, name: str | None) -> str:
    short = repr(text) if len(text) <= 60 else repr(text[:57] + "...")
    return (f"{name + ': ' if name else ''}{short} is one line, not a maze text (one line per row of '#' wall, '.' "
            f"floor, 'S' start, 'G' goal); a maze of load_mazes is played as the Maze itself, "
            f"load_mazes(folder)[{short}], not its name, and a file's maze is Maze.parse(open(path).read())")


def _ragged(walls: Any, name: str | None) -> str:
    """The message for wall rows numpy cannot stack into one grid: the first row of another length than row 1, or
    that is no row, or a cell that is a sequence."""
    fix = "a maze grid is rows of equal length holding a wall (True or 1) or floor (False or 0) per cell"
    try:
        rows = list(walls)
        lens = [len(r) for r in rows]
    except TypeError:
        return f"{name + ': ' if name else ''}maze walls could not be read as a 2-D grid; {fix}"
    i = next((i for i, n in enumerate(lens) if n != lens[0]), None)
    if i is None:
        return f"{name + ': ' if name else ''}a maze wall cell holds a sequence, not one value; {fix}"
    return f"{_where(i + 1, 1, name)}: maze wall row {i + 1} has {lens[i]} cells and row 1 has {lens[0]}; {fix}"


class Maze:
    """An immutable maze: wall grid (border included), start and goal cells ``(row, col)``.

    Two mazes are equal when walls, start and goal agree (the name is a label only), so mazes can be
    dictionary keys and set members. Build one with :meth:`parse`, :func:`random_maze`,
    :func:`empty_maze` or the constructor (which checks the same rules as the parser).
    """

    __slots__ = ("_walls", "_start", "_goal", "_name", "_key", "_hash", "_path")

    def __init__(self, walls: Any, start: tuple[int, int], goal: tuple[int, int], name: str | None = None):
        try:
            w = np.array(walls)  # a copy: the caller's array stays theirs
        except ValueError:  # ragged rows ([[1, 1, 1], [1, 0]]) raised numpy's raw "inhomogeneous shape"
            raise MazeFormatError(_ragged(walls, name)) from None
        if w.ndim != 2 or w.shape[0] < 3 or w.shape[1] < 3:
            raise MazeFormatError(f"maze walls must be a 2-D grid of at least 3 x 3 cells, got shape {w.shape}")
        h, wd = w.shape
        if w.dtype != bool:  # a NaN (or 0.5, or "no") was cast to a wall
            w = _wall_grid(w, name)
        if not (w[0].all() and w[-1].all() and w[:, 0].all() and w[:, -1].all()):
            r, c = next((r, c) for r in range(h) for c in range(wd)
                        if (r in (0, h - 1) or c in (0, wd - 1)) and not w[r, c])
            raise MazeFormatError(f"{_where(r + 1, c + 1, name)}: the outer border must be walls '#'")
        cells = []
        for label, p in (("start", start), ("goal", goal)):
            try:
                r, c = int(p[0]), int(p[1])
                if len(p) != 2 or r != p[0] or c != p[1] or isinstance(p[0], bool) or isinstance(p[1], bool):
                    raise ValueError  # (1.5, 2) was truncated to (1, 2)
            except (TypeError, ValueError, IndexError, OverflowError):  # (int(inf) raised a raw OverflowError)
                raise MazeFormatError(f"maze {label} must be a (row, col) pair, got {p!r}") from None
            if not (0 < r < h - 1 and 0 < c < wd - 1):
                raise MazeFormatError(f"maze {label} {(r, c)} is not an inner cell of the {h} x {wd} grid")
            if w[r, c]:
                raise MazeFormatError(f"{_where(r + 1, c + 1, name)}: the {label} is on a wall")
            cells.append((r, c))
        if cells[0] == cells[1]:
            raise MazeFormatError(f"{_where(cells[0][0] + 1, cells[0][1] + 1, name)}: start and goal are the same cell")
        w.setflags(write=False)
        self._walls = w
        self._start, self._goal = cells[0], cells[1]
        self._name = None if name is None else str(name)
        self._key: str | None = None
        self._hash: int | None = None
        self._path: Any = False  # not computed yet

    # ------------------------------------------------------------- accessors
    @property
    def walls(self) -> np.ndarray:
        """Read-only boolean grid ``(height, width)``, True for a wall (border included)."""
        return self._walls

    @property
    def start(self) -> tuple[int, int]:
        return self._start

    @property
    def goal(self) -> tuple[int, int]:
        return self._goal

    @property
    def name(self) -> str | None:
        return self._name

    @property
    def shape(self) -> tuple[int, int]:
        return self._walls.shape

    @property
    def n_walls(self) -> int:
        """Walls inside the border."""
        return int(self._walls[1:-1, 1:-1].sum())

    def replace(self, *, walls: Any = None, start: tuple[int, int] | None = None,
                goal: tuple[int, int] | None = None, name: str | None = None) -> Maze:
        """A new maze with some parts replaced (the name is dropped unless given)."""
        return Maze(self._walls if walls is None else walls, self._start if start is None else start,
                    self._goal if goal is None else goal, name)

    # ------------------------------------------------------------------ text
    @classmethod
    def parse(cls, text: str, name: str | None = None, *, require_solvable: bool = False) -> Maze:
        """Read a maze from its text form; errors name the line and column (1-based).

        Leading and trailing blank lines, trailing spaces, a leading byte-order mark and Windows line endings
        are ignored; every row must have the same width. With ``require_solvable=True`` a maze whose goal cannot be reached raises
        :class:`UnsolvableMazeError`.
        """
        require_solvable = _solvable_flag("Maze.parse", require_solvable)
        if isinstance(text, Maze):
            if require_solvable and not text.solvable:
                r, c = text.goal
                raise UnsolvableMazeError(f"{name + ': ' if name else ''}goal at line {r + 1} col {c + 1} cannot be "
                                          f"reached from the start at line {text.start[0] + 1} col "
                                          f"{text.start[1] + 1}")
            return text if name is None or name == text.name else text.replace(name=name)
        if not isinstance(text, str):
            raise MazeFormatError(f"a maze text must be a string, got {type(text).__name__}")
        # a byte-order mark (Notepad's UTF-8) read with open(path).read(): invisible, dropped as load_mazes drops it
        raw = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
        rows = [(i + 1, line.rstrip()) for i, line in enumerate(raw)]
        while rows and not rows[0][1]:
            rows.pop(0)
        while rows and not rows[-1][1]:
            rows.pop()
        if not rows:
            raise MazeFormatError(f"{name + ': ' if name else ''}the maze text is empty")
        width = len(rows[0][1])
        walls = np.zeros((len(rows), width), dtype=bool)
        start = goal = None
        for r, (lineno, line) in enumerate(rows):
            # the characters first: a tab or other stray character also changes the row's width, and was
            # reported as a width mismatch at the row's end
            bad = next((c for c, ch in enumerate(line) if ch not in _CHARS), None)
            if bad is not None:
                # a maze's name or a file's path given for its text (a row of walls, "#S G#", is a map's row)
                if len(rows) == 1 and name is None and "#" not in line:
                    raise MazeFormatError(_one_line(line, name))
                raise MazeFormatError(
                    f"{_where(lineno, bad + 1, name)}: unexpected character {line[bad]!r}; use '#' wall, '.' "
                    "floor, 'S' start, 'G' goal" + _blank_hint(line, bad))
            if not line:  # (it said "row is 0 cells wide", as if the row had lost its cells)
                raise MazeFormatError(f"{_where(lineno, 1, name)}: a blank line inside the maze; remove it (blank "
                                      "lines may only come before or after the map)")
            if len(line) != width:
                col = min(len(line), width) + 1
                raise MazeFormatError(
                    f"{_where(lineno, col, name)}: row is {len(line)} cells wide but the first row is {width}; "
                    "every row of a maze must have the same width")
            for c, ch in enumerate(line):
                if ch == WALL:
                    walls[r, c] = True
                elif ch == START:
                    if start is not None:
                        raise MazeFormatError(f"{_where(lineno, c + 1, name)}: a second start 'S' "
                                              f"(the first is at line {rows[start[0]][0]} column {start[1] + 1})")
                    start = (r, c)
                elif ch == GOAL:
                    if goal is not None:
                        raise MazeFormatError(f"{_where(lineno, c + 1, name)}: a second goal 'G' "
                                              f"(the first is at line {rows[goal[0]][0]} column {goal[1] + 1})")
                    goal = (r, c)
        if len(rows) < 3 or width < 3:
            raise MazeFormatError(f"{name + ': ' if name else ''}a maze needs at least 3 rows and 3 columns "
                                  f"(border included), got {len(rows)} x {width}")
        for label, cell, ch in (("start", start, START), ("goal", goal, GOAL)):
            if cell is None:
                raise MazeFormatError(f"{name + ': ' if name else ''}the maze has no {label}; mark it with {ch!r}")
        h = len(rows)
        for r, (lineno, line) in enumerate(rows):
            for c, ch in enumerate(line):
                if (r in (0, h - 1) or c in (0, width - 1)) and ch != WALL:
                    raise MazeFormatError(f"{_where(lineno, c + 1, name)}: the outer border must be walls '#', "
                                          f"found {ch!r}")
        maze = cls(walls, start, goal, name)  # type: ignore[arg-type]
        if require_solvable and not maze.solvable:
            gr, gc = goal  # type: ignore[misc]
            raise UnsolvableMazeError(
                f"{name + ': ' if name else ''}goal at line {rows[gr][0]} col {gc + 1} cannot be reached from the "
                f"start at line {rows[start[0]][0]} col {start[1] + 1}")  # type: ignore[index]
        return maze

    def to_text(self) -> str:
        """The text form (rows joined by newlines, no trailing newline); ``Maze.parse`` reads it back."""
        if self._key is None:
            h, w = self._walls.shape
            grid = np.full((h, w + 1), 10, dtype=np.uint8)  # a newline ends each row
            grid[:, :w] = np.where(self._walls, 35, 46)  # '#', '.'
            grid[self._start] = 83  # 'S'
            grid[self._goal] = 71  # 'G'
            self._key = grid.tobytes()[:-1].decode("ascii")
        return self._key

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        h, w = self.shape
        label = f"{self._name!r}, " if self._name else ""
        return f"Maze({label}{h}x{w}, start={self._start}, goal={self._goal}, walls={self.n_walls})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Maze) and self.to_text() == other.to_text()

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(self.to_text())
        return self._hash

    def __reduce__(self) -> Any:
        return (Maze, (np.array(self._walls), self._start, self._goal, self._name))

    # ------------------------------------------------------------ solvability
    def distances(self) -> np.ndarray:
        """Shortest-path steps from the start to every cell (4-neighbour moves); -1 where unreachable."""
        h, w = self.shape
        free = ~self._walls.ravel()
        dist = np.full(h * w, -1, dtype=np.int64)
        s = self._start[0] * w + self._start[1]
        dist[s] = 0
        queue = deque([s])
        steps = (1, -1, w, -w)
        while queue:
            i = queue.popleft()
            d = dist[i] + 1
            for off in steps:
                j = i + off
                if free[j] and dist[j] < 0:  # the border walls keep j inside the grid
                    dist[j] = d
                    queue.append(j)
        return dist.reshape(h, w)

    def path_length(self) -> int | None:
        """Steps on a shortest path from start to goal, or ``None`` when the goal cannot be reached."""
        if self._path is False:
            d = int(self.distances()[self._goal])
            self._path = None if d < 0 else d
        return self._path

    @property
    def solvable(self) -> bool:
        return self.path_length() is not None

    # --------------------------------------------------------------- encoding
    def features(self) -> np.ndarray:
        """A fixed-length float vector in [0, 1]: start row, start col, goal row, goal col (each divided by
        the grid side minus one), then the walls flattened row by row (1.0 = wall). Mazes of one size give
        vectors of one length, so Euclidean or Hamming distances between levels are ready to use."""
        h, w = self.shape
        head = np.array([self._start[0] / (h - 1), self._start[1] / (w - 1),
                         self._goal[0] / (h - 1), self._goal[1] / (w - 1)])
        return np.concatenate([head, self._walls.ravel().astype(float)])

    def distance(self, other: Maze) -> float:
        """Cells whose wall state differs plus the Manhattan moves of start and goal (same size only)."""
        if not isinstance(other, Maze):
            raise TypeError(f"Maze.distance needs another Maze of the same size, got {type(other).__name__} "
                            f"{other!r:.40}; parse a maze text first (Maze.parse)")
        if self.shape != other.shape:
            raise MazeFormatError(f"cannot compare a {self.shape} maze with a {other.shape} maze")
        moves = sum(abs(a - b) for a, b in zip(self._start + self._goal, other._start + other._goal))
        return float(np.count_nonzero(self._walls != other._walls) + moves)


def empty_maze(size: int, start: tuple[int, int] | None = None, goal: tuple[int, int] | None = None) -> Maze:
    """A ``size`` x ``size`` room (border walls only); start top-left and goal bottom-right by default."""
    size = _check_size(size)
    walls = np.zeros((size, size), dtype=bool)
    walls[0, :] = walls[-1, :] = walls[:, 0] = walls[:, -1] = True
    return Maze(walls, start or (1, 1), goal or (size - 2, size - 2))


def _check_generator_args(func: str, rng: Any, size: int, name: str, fraction: float) -> tuple[int, float]:
    """A maze generator's checked ``(size, fraction)``: ``rng`` a numpy Generator, ``fraction`` in [0, 1]."""
    size = _check_size(size)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{func} needs a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    return size, settings.fraction(name, fraction)  # "0.3" or NaN refused, not parsed


def random_maze(rng: np.random.Generator, size: int, wall_density: float = 0.3, *,
                require_solvable: bool = False, max_tries: int = 1000) -> Maze:
    """A ``size`` x ``size`` maze whose inner cells are walls with probability ``wall_density``, with start
    and goal on two distinct free cells (domain randomisation, as in the PLR and ACCEL MiniGrid runs).
    With ``require_solvable=True`` it redraws until the goal can be reached (up to ``max_tries``)."""
    size, d = _check_generator_args("random_maze", rng, size, "wall_density", wall_density)
    max_tries = settings.whole("max_tries", max_tries, hint="draws before giving up on a solvable maze")
    require_solvable = _solvable_flag("random_maze", require_solvable)
    n_inner = (size - 2) ** 2
    for _ in range(max_tries):
        inner = rng.random(n_inner) < d
        a, b = int(rng.integers(n_inner)), int(rng.integers(n_inner - 1))
        b += b >= a  # two distinct cells
        inner[a] = inner[b] = False
        walls = np.ones((size, size), dtype=bool)
        walls[1:-1, 1:-1] = inner.reshape(size - 2, size - 2)
        s, g = divmod(a, size - 2), divmod(b, size - 2)
        maze = Maze(walls, (s[0] + 1, s[1] + 1), (g[0] + 1, g[1] + 1))
        if not require_solvable or maze.solvable:
            return maze
    raise UnsolvableMazeError(f"no solvable {size} x {size} maze in {max_tries} draws at wall_density={d}; "
                              "lower the density")


#: a mixed generator's labyrinths have a fraction of their walls drawn in ``[0, LABYRINTH_OPEN)`` opened
LABYRINTH_OPEN = 0.25
#: the smallest labyrinth: two cells (at odd coordinates) for its start and goal
LABYRINTH_MIN_SIZE = 5


def mixed_maze(rng: np.random.Generator, size: int, density: tuple[float, float], labyrinths: float = 0.0, *,
               require_solvable: bool = False) -> Maze:
    """One level of a generator that mixes block mazes and labyrinths (``MazeSpace.sample`` and the
    ``"mixed"`` seed generator of ``MazeEnv`` draw theirs here): with probability ``labyrinths`` a
    :func:`labyrinth_maze` with a fraction in ``[0, LABYRINTH_OPEN)`` of its walls opened (always
    solvable), else a :func:`random_maze` whose wall density is drawn in ``density`` (``(low, high)``)."""
    try:  # a refused value (ConfigError is a ValueError) or shape gets the one message below
        lo, hi = (settings.fraction("density", v) for v in density)
    except (TypeError, ValueError):
        raise ConfigError(f"mixed_maze needs density = (low, high), two wall densities in [0, 1], got "
                          f"{density!r}") from None
    if lo > hi:
        raise ConfigError(f"mixed_maze needs density = (low, high) with low <= high, got {density!r}")
    labyrinths = settings.fraction("labyrinths", labyrinths, hint="the share of labyrinths")
    require_solvable = _solvable_flag("mixed_maze", require_solvable)
    if labyrinths and _check_size(size) < LABYRINTH_MIN_SIZE:  # (it failed on the draws that made a labyrinth)
        raise ValueError(f"mixed_maze with labyrinths needs size >= {LABYRINTH_MIN_SIZE}, got {size!r}; use "
                         "labyrinths=0 for smaller mazes")
    if labyrinths and rng.random() < labyrinths:
        return labyrinth_maze(rng, size, float(rng.uniform(0.0, LABYRINTH_OPEN)))
    return random_maze(rng, size, lo if hi == lo else float(rng.uniform(lo, hi)), require_solvable=require_solvable)


def labyrinth_maze(rng: np.random.Generator, size: int, open_fraction: float = 0.0) -> Maze:
    """A ``size`` x ``size`` corridor labyrinth: a random spanning tree of the cells at odd coordinates
    (depth-first, so long winding corridors one cell wide), then ``open_fraction`` of the walls left
    between two neighbouring cells removed (loops and shortcuts), with start and goal on two distinct
    random cells. Always solvable; shortest paths range from 1 cell to most of the maze, so seeds of it
    span easy to hard levels. An even ``size`` leaves a second wall on its last row and column."""
    size, f = _check_generator_args("labyrinth_maze", rng, size, "open_fraction", open_fraction)
    if size < LABYRINTH_MIN_SIZE:
        raise ValueError(f"labyrinth_maze needs size >= {LABYRINTH_MIN_SIZE}: a {size} x {size} grid has one "
                         "labyrinth cell, no room for a start and a distinct goal")
    n = (size - 1) // 2  # cells per side, at rows and columns 1, 3, ..., 2 n - 1
    walls = np.ones((size, size), dtype=bool)
    walls[1:2 * n:2, 1:2 * n:2] = False
    seen = np.zeros((n, n), dtype=bool)
    stack = [(int(rng.integers(n)), int(rng.integers(n)))]
    seen[stack[0]] = True
    steps = ((0, 1), (1, 0), (0, -1), (-1, 0))
    while stack:
        r, c = stack[-1]
        nxt = [(r + dr, c + dc) for dr, dc in steps
               if 0 <= r + dr < n and 0 <= c + dc < n and not seen[r + dr, c + dc]]
        if not nxt:
            stack.pop()
            continue
        nr, nc = nxt[int(rng.integers(len(nxt)))]
        walls[r + nr + 1, c + nc + 1] = False  # the wall between (2r+1, 2c+1) and (2nr+1, 2nc+1)
        seen[nr, nc] = True
        stack.append((nr, nc))
    if f > 0:  # walls between two cells: odd row and even column, or even row and odd column (inside)
        rows, cols = np.nonzero(walls[1:2 * n, 1:2 * n])
        rows, cols = rows + 1, cols + 1
        between = (rows % 2) != (cols % 2)
        rows, cols = rows[between], cols[between]
        drop = rng.random(len(rows)) < f
        walls[rows[drop], cols[drop]] = False
    cells = n * n
    a, b = int(rng.integers(cells)), int(rng.integers(cells - 1))
    b += b >= a
    (sr, sc), (gr, gc) = divmod(a, n), divmod(b, n)
    return Maze(walls, (2 * sr + 1, 2 * sc + 1), (2 * gr + 1, 2 * gc + 1))


def _check_size(size: Any) -> int:
    if not is_int(size) or size < 4:
        raise ValueError(f"maze size must be a whole number >= 4 (border included), got {size!r}")
    return int(size)


def load_mazes(folder: str | Path, *, require_solvable: bool = False) -> dict[str, Maze]:
    """Every ``*.txt`` maze of ``folder`` by name (the file stem), sorted by name.

    ``.txt`` in any case (``.TXT``, as on Windows, where names ignore case); hidden files (names that start with
    ``.``: a Mac's ``._name.txt`` metadata, editors' drafts) are skipped. A malformed file is refused with its path,
    line and column; with ``require_solvable=True`` so is a maze whose goal cannot be reached. A ``.txt`` link to no
    file (its target moved or deleted) is a ``FileNotFoundError`` naming it; sub-folders are not read.
    """
    require_solvable = _solvable_flag("load_mazes", require_solvable)
    path = Path(folder)
    if not path.is_dir():
        raise FileNotFoundError(f"maze folder {str(path)!r} does not exist or is not a folder")
    # (a folder named x.txt is not a maze; "._x.txt", binary, failed the whole load; "x.TXT" was skipped on Linux)
    named = [f for f in path.iterdir() if f.suffix.lower() == ".txt" and not f.name.startswith(".")]
    # a link to no file (its target moved or deleted, or a loop) was skipped like a folder: the level was missing
    # from the set without a word
    broken = sorted(f.name for f in named if f.is_symlink() and not f.exists())
    if broken:
        raise FileNotFoundError(f"maze folder {str(path)!r}: {', '.join(broken)} "
                                f"{'is a link' if len(broken) == 1 else 'are links'} to no file (the target was "
                                "moved or deleted, or the link loops); fix or remove "
                                f"{'it' if len(broken) == 1 else 'them'}")
    files = sorted(f for f in named if f.is_file())
    if not files:
        raise FileNotFoundError(f"maze folder {str(path)!r} holds no *.txt maze files")
    stems: dict[str, Path] = {}
    for f in files:
        if f.stem in stems:
            raise MazeFormatError(f"{f.name} and {stems[f.stem].name} both name maze {f.stem!r} in {str(path)!r}; "
                                  "rename or remove one")
        stems[f.stem] = f
    out = {}
    for f in files:  # errors name the file; the maze is then labelled by its stem
        maze = Maze.parse(_read_text(f), name=str(f), require_solvable=require_solvable)
        out[f.stem] = maze.replace(name=f.stem)
    return out


def _read_text(path: Path) -> str:
    """A maze file's text: UTF-8, a byte-order mark (as some editors write) dropped; other bytes are refused
    with the line and column where they are."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        data = e.object  # the bytes after a byte-order mark, which e.start counts in (not raw: 3 bytes off)
        start = data.rfind(b"\n", 0, e.start) + 1
        line = data.count(b"\n", 0, e.start) + 1
        col = len(data[start:e.start].decode("utf-8", "replace")) + 1
        raise MazeFormatError(f"{_where(line, col, str(path))}: byte 0x{data[e.start]:02x} is not UTF-8 text; save "
                              "the maze as UTF-8 (or plain ASCII)") from None
