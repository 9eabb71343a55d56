"""Levels as tasks: the maze text format, solvability, features and loading."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from magister.errors import InvalidTaskError
from magister.levels import Maze, MazeFormatError, UnsolvableMazeError, empty_maze, load_mazes, random_maze

SMALL = """
#######
#S..#.#
#.#...#
#.#.#G#
#######
"""


def test_parse_and_print_round_trip():
    m = Maze.parse(SMALL, name="small")
    assert m.shape == (5, 7) and m.start == (1, 1) and m.goal == (3, 5) and m.name == "small"
    assert m.to_text() == SMALL.strip() and str(m) == SMALL.strip()
    assert Maze.parse(m.to_text()) == m  # the name is a label, not part of the level
    assert m.walls.dtype == bool and m.walls[0].all() and not m.walls[1, 2]
    with pytest.raises(ValueError):
        m.walls[1, 1] = True  # immutable


def test_path_length_bfs():
    m = Maze.parse(SMALL)
    # S(1,1) -> (1,2) -> (1,3) -> (2,3) -> (2,4) -> (2,5) -> (3,5)
    assert m.path_length() == 6 and m.solvable
    assert empty_maze(5).path_length() == 4
    blocked = Maze.parse("#####\n#S#G#\n#####")
    assert blocked.path_length() is None and not blocked.solvable
    d = m.distances()
    assert d[m.start] == 0 and d[0, 0] == -1 and d[m.goal] == 6
    assert blocked.distances()[blocked.goal] == -1


@pytest.mark.parametrize("text,where,what", [
    ("#####\n#S.G#\n#.x.#\n#####", "line 3 column 3", "unexpected character 'x'"),
    ("#####\n#S.G#\n#..#\n#####", "line 3 column 5", "same width"),
    ("#####\n#S.G.\n#####", "line 2 column 5", "border"),
    ("#####\n#S.S#\n#..G#\n#####", "line 2 column 4", "second start"),
    ("#####\n#G.G#\n#S..#\n#####", "line 2 column 4", "second goal"),
    ("#####\n#..G#\n#####", "", "no start"),
    ("#####\n#S..#\n#####", "", "no goal"),
    ("", "", "empty"),
    ("\n\n#####\n#S.G#\n#.x.#\n#####\n", "line 5 column 3", "unexpected"),  # blank lines count
])
def test_malformed_maps_name_line_and_column(text, where, what):
    with pytest.raises(MazeFormatError) as e:
        Maze.parse(text)
    assert where in str(e.value) and what in str(e.value)
    assert isinstance(e.value, InvalidTaskError) and isinstance(e.value, ValueError)


def test_unsolvable_reported_only_when_required():
    text = "#######\n#S.#..#\n#..#.G#\n#######"
    m = Maze.parse(text)
    assert m.path_length() is None
    with pytest.raises(UnsolvableMazeError, match="goal at line 3 col 6 cannot be reached"):
        Maze.parse(text, require_solvable=True)
    assert issubclass(UnsolvableMazeError, MazeFormatError)


def test_constructor_checks_the_same_rules():
    w = empty_maze(5).walls
    with pytest.raises(MazeFormatError, match="not an inner cell"):
        Maze(w, (9, 1), (3, 3))
    walls = np.array(w)
    walls[2, 2] = True
    with pytest.raises(MazeFormatError, match="start is on a wall"):
        Maze(walls, (2, 2), (3, 3))
    with pytest.raises(MazeFormatError, match="same cell"):
        Maze(w, (2, 2), (2, 2))
    walls = np.array(w)
    walls[0, 2] = False
    with pytest.raises(MazeFormatError, match="line 1 column 3: the outer border"):
        Maze(walls, (1, 1), (3, 3))


def test_equality_hash_pickle_and_features():
    a, b = Maze.parse(SMALL, name="a"), Maze.parse(SMALL, name="b")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert pickle.loads(pickle.dumps(a)) == a
    f = a.features()
    assert f.shape == (4 + 5 * 7,) and f.min() >= 0 and f.max() <= 1
    assert np.array_equal(f[:4], [1 / 4, 1 / 6, 3 / 4, 5 / 6])
    other = a.replace(goal=(2, 5))
    assert a.distance(other) == 1.0 and a.distance(a) == 0.0
    assert not np.array_equal(other.features(), f)


def test_random_and_empty_mazes():
    rng = np.random.default_rng(0)
    mazes = [random_maze(rng, 9, 0.3) for _ in range(50)]
    assert all(m.shape == (9, 9) for m in mazes)
    dens = np.mean([m.n_walls / 49 for m in mazes])
    assert 0.2 < dens < 0.4
    assert len(set(mazes)) == 50
    solv = [random_maze(rng, 9, 0.45, require_solvable=True) for _ in range(20)]
    assert all(m.solvable for m in solv)
    again = [random_maze(np.random.default_rng(0), 9, 0.3) for _ in range(1)]
    assert again[0] == mazes[0]  # the generator alone decides
    e = empty_maze(6)
    assert e.n_walls == 0 and e.start == (1, 1) and e.goal == (4, 4)
    with pytest.raises(ValueError, match="size"):
        empty_maze(3)
    with pytest.raises(ValueError, match="wall_density"):
        random_maze(rng, 7, 1.5)
    with pytest.raises(UnsolvableMazeError):
        random_maze(rng, 7, 1.0, require_solvable=True, max_tries=5)


def test_load_mazes(tmp_path):
    (tmp_path / "b.txt").write_text(SMALL)
    (tmp_path / "a.txt").write_text(empty_maze(5).to_text() + "\n")
    (tmp_path / "notes.md").write_text("not a maze")
    mazes = load_mazes(tmp_path)
    assert list(mazes) == ["a", "b"] and mazes["b"].name == "b" and mazes["b"] == Maze.parse(SMALL)
    (tmp_path / "c.txt").write_text("#####\n#S?G#\n#####")
    with pytest.raises(MazeFormatError, match=r"c\.txt: line 2 column 3"):
        load_mazes(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_mazes(tmp_path / "nope")
