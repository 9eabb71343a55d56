"""Levels as tasks: seeds of a level generator, and explicit editable mazes.

* :mod:`magister.levels.maze` - :class:`Maze` with its plain text format, solvability and features;
* :mod:`magister.levels.spaces` - :class:`SeedSpace` and :class:`MazeSpace`, task spaces of levels;
* :mod:`magister.levels.mutators` - edits of levels for ``accel``.

Nothing here imports more than numpy and magister's foundations.
"""

from __future__ import annotations

from .maze import Maze, MazeFormatError, UnsolvableMazeError, empty_maze, labyrinth_maze, load_mazes, mixed_maze, random_maze
from .mutators import Mutator, make_mutator, maze_mutator, perturb_mutator
from .spaces import SEED_LIMIT, MazeSpace, SeedSpace, level_key

__all__ = ["Maze", "MazeFormatError", "UnsolvableMazeError", "empty_maze", "load_mazes", "random_maze", "labyrinth_maze", "mixed_maze",
           "SeedSpace", "MazeSpace", "SEED_LIMIT", "level_key",
           "Mutator", "make_mutator", "maze_mutator", "perturb_mutator"]
