"""Levels as tasks: the maze text format, solvability, features and loading."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from magister.errors import InvalidTaskError
from magister.levels import (Maze, MazeFormatError, UnsolvableMazeError, empty_maze, labyrinth_maze, load_mazes,
                             random_maze)

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
    # a stray character that also changes the width is named, not taken for a width mismatch at the row's end
    ("#####\n#S\t.G#\n#####", "line 2 column 3", "unexpected character '\\t'"),
    ("#\t####\n#S.G#\n#####", "line 1 column 2", "unexpected character '\\t'"),
    ("#####\n#S.\u2028G#\n#####", "line 2 column 4", "unexpected character '\\u2028'"),
    # a blank line inside the map is named as one (it said "row is 0 cells wide but the first row is 5")
    ("#####\n#S.G#\n\n#...#\n#####", "line 3 column 1", "a blank line inside the maze; remove it"),
    ("#####\n#S.G#\n   \n#...#\n#####", "line 3 column 1", "a blank line inside the maze; remove it"),
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


def test_labyrinth_mazes_are_solvable_corridors_with_a_wide_range_of_paths():
    closed = [labyrinth_maze(np.random.default_rng(s), 15) for s in range(40)]
    for m in closed:
        assert m.shape == (15, 15) and m.solvable and m.start != m.goal
        inner = ~m.walls[1:-1, 1:-1]
        assert inner.sum() == 7 * 7 + 7 * 7 - 1  # a spanning tree: 49 cells joined by 48 open walls
        assert not (inner[:-1, :-1] & inner[1:, :-1] & inner[:-1, 1:] & inner[1:, 1:]).any()  # no open 2 x 2
    paths = [m.path_length() for m in closed]
    assert min(paths) <= 8 and max(paths) >= 40
    opened = labyrinth_maze(np.random.default_rng(0), 15, 1.0)
    inner = opened.walls[1:-1, 1:-1]
    assert not inner[::2, ::2].any() and not inner[::2, 1::2].any() and not inner[1::2, ::2].any()  # all opened
    assert inner[1::2, 1::2].all()  # the posts stay
    assert labyrinth_maze(np.random.default_rng(3), 15, 0.2) == labyrinth_maze(np.random.default_rng(3), 15, 0.2)
    assert labyrinth_maze(np.random.default_rng(1), 16).shape == (16, 16)
    with pytest.raises(ValueError, match="open_fraction"):
        labyrinth_maze(np.random.default_rng(0), 15, 1.5)
    assert labyrinth_maze(np.random.default_rng(0), 5).path_length() >= 1  # the smallest: two cells
    with pytest.raises(ValueError, match="size >= 5"):  # was numpy's "high <= 0"
        labyrinth_maze(np.random.default_rng(0), 4)


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


def test_load_mazes_skips_a_folder_named_like_a_maze_file(tmp_path):
    (tmp_path / "a.txt").write_text(SMALL)
    (tmp_path / "old.txt").mkdir()  # before: IsADirectoryError
    assert list(load_mazes(tmp_path)) == ["a"]
    (tmp_path / "a.txt").unlink()
    with pytest.raises(FileNotFoundError, match="no \\*\\.txt maze files"):
        load_mazes(tmp_path)


def test_load_mazes_refuses_a_link_to_no_file(tmp_path):
    # a maze file that is a link whose target was moved (or a link that loops) was skipped like a folder: the level
    # was missing from the set without a word
    (tmp_path / "a.txt").write_text(SMALL)
    (tmp_path / "b.txt").symlink_to(tmp_path / "moved" / "b.txt")
    with pytest.raises(FileNotFoundError, match=r"b\.txt is a link to no file .*; fix or remove it"):
        load_mazes(tmp_path)
    (tmp_path / "c.txt").symlink_to(tmp_path / "c.txt")  # a loop
    with pytest.raises(FileNotFoundError, match=r"b\.txt, c\.txt are links to no file"):
        load_mazes(tmp_path)
    (tmp_path / "b.txt").unlink(), (tmp_path / "c.txt").unlink()
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "d.txt").write_text(empty_maze(5).to_text())
    (tmp_path / "d.txt").symlink_to(tmp_path / "real" / "d.txt")  # a link to a file, and one to a folder: as before
    (tmp_path / "e.txt").symlink_to(tmp_path / "real")
    (tmp_path / ".hidden.txt").symlink_to(tmp_path / "nowhere")  # hidden: skipped, as before
    mazes = load_mazes(tmp_path)
    assert list(mazes) == ["a", "d"] and mazes["d"] == empty_maze(5)


def test_load_mazes_reads_a_byte_order_mark_and_names_where_a_file_is_not_utf8(tmp_path):
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf#####\r\n#S.G#\r\n#####\r\n")  # Notepad's UTF-8
    assert load_mazes(tmp_path)["bom"] == Maze.parse("#####\n#S.G#\n#####")
    (tmp_path / "latin.txt").write_bytes(b"#####\n#S.G#\n#\xe9..#\n#####\n")  # Latin-1, not UTF-8
    with pytest.raises(MazeFormatError, match=r"latin\.txt: line 3 column 2: byte 0xe9 is not UTF-8"):
        load_mazes(tmp_path)


def test_load_mazes_names_the_bad_byte_of_a_file_with_a_byte_order_mark(tmp_path):
    # with a BOM, the error's offset counts from after it: the report named the byte 3 before the bad one
    # ("line 2 column 6: byte 0x0a" for the 0xff at line 3 column 3)
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf#####\n#S.G#\n#.\xff.#\n#####\n")
    with pytest.raises(MazeFormatError, match=r"bom\.txt: line 3 column 3: byte 0xff is not UTF-8"):
        load_mazes(tmp_path)
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf#\xe9###\n#S.G#\n#####\n")
    with pytest.raises(MazeFormatError, match=r"line 1 column 2: byte 0xe9 is not UTF-8"):
        load_mazes(tmp_path)


# ---------------------------------------------------------------- spaces
from magister.errors import ConfigError, InvalidScoreError  # noqa: E402
from magister.levels.mutators import make_mutator, maze_mutator, mutator_config, perturb_mutator  # noqa: E402
from magister.levels.spaces import SEED_LIMIT, MazeSpace, SeedSpace, level_key  # noqa: E402
from magister.scores import FiniteScores, ScoreRange  # noqa: E402
from magister.spaces import Dict, Discrete, space_from_spec  # noqa: E402


def test_seed_spaces_finite_and_open():
    fin, op = SeedSpace(10), SeedSpace()
    assert fin.n == 10 and op.n is None and op.limit == SEED_LIMIT
    assert fin.validate(3) == 3 and fin.validate(np.int64(4)) == 4 and fin.validate(5.0) == 5
    for bad in (10, -1, 1.5, "3", None, True):
        with pytest.raises(InvalidTaskError):
            fin.validate(bad)
    with pytest.raises(InvalidTaskError, match="outside"):
        op.validate(SEED_LIMIT)
    assert fin.index(7) == 7 and fin.task_at(7) == 7
    seeds = [0, 9, 5]
    assert fin.from_unit_batch(fin.to_unit_batch(seeds)) == seeds
    assert op.from_unit_batch(op.to_unit_batch([0, 123456789, SEED_LIMIT - 1])) == [0, 123456789, SEED_LIMIT - 1]
    rng = np.random.default_rng(0)
    s = op.sample(rng, 100)
    assert all(isinstance(x, int) and 0 <= x < SEED_LIMIT for x in s) and len(set(s)) == 100
    for sp in (fin, op):
        assert space_from_spec(sp.to_spec()) == sp and space_from_spec(sp.to_spec()) is not sp
        assert fin.to_json(3) == 3
    with pytest.raises(ConfigError):
        SeedSpace(0)


def test_maze_space_json_is_text_and_validation():
    sp = MazeSpace(7, wall_density=[0.1, 0.4])
    rng = np.random.default_rng(1)
    mazes = sp.sample(rng, 20)
    assert all(m.shape == (7, 7) for m in mazes) and len(set(mazes)) == 20
    m = mazes[0]
    j = sp.to_json(m)
    assert isinstance(j, str) and sp.from_json(j) == m and sp.validate(j) == m
    assert level_key(sp, m) == j
    with pytest.raises(MazeFormatError, match="5 x 5"):
        sp.validate(empty_maze(5))
    with pytest.raises(MazeFormatError, match="line 1 column 2"):
        sp.validate("#x#\n#S#\n#G#\n###")
    with pytest.raises(InvalidTaskError, match="not a maze"):
        sp.validate(3)
    solv = MazeSpace(7, 0.45, require_solvable=True)
    assert all(x.solvable for x in solv.sample(rng, 10))
    blocked = Maze.parse("#######\n#S#...#\n###.G.#\n#.....#\n#.....#\n#.....#\n#######")
    with pytest.raises(UnsolvableMazeError, match="cannot be reached"):
        solv.validate(blocked)
    assert space_from_spec(sp.to_spec()) == sp and space_from_spec(solv.to_spec()).require_solvable
    u = sp.to_unit_batch(mazes)
    assert u.shape == (20, sp.dim) and ((0 <= u) & (u <= 1)).all()
    assert sp.from_unit_batch(u) == mazes  # features decode exactly
    assert all(x.solvable for x in solv.from_unit_batch(np.random.default_rng(2).random((10, solv.dim))))
    assert sp.sample_simple(rng).n_walls == 0
    with pytest.raises(ConfigError):
        MazeSpace(3)
    with pytest.raises(ConfigError):
        MazeSpace(7, wall_density=[0.5, 0.1])
    lab = MazeSpace(15, [0.0, 0.35], labyrinths=0.5)
    posts = [bool(m.walls[2:-1:2, 2:-1:2].all()) for m in lab.sample(np.random.default_rng(0), 40)]
    assert 5 < sum(posts) < 35  # about half are labyrinths (their wall posts are all walls)
    back = space_from_spec(lab.to_spec())
    assert back == lab and back.labyrinths == 0.5 and space_from_spec(sp.to_spec()).labyrinths == 0.0
    with pytest.raises(ConfigError, match="labyrinths"):
        MazeSpace(7, labyrinths=1.5)
    with pytest.raises(ConfigError, match="size >= 5"):  # a 4 x 4 labyrinth cannot be drawn
        MazeSpace(4, labyrinths=0.5)
    assert MazeSpace(4).sample(rng).shape == (4, 4)


def test_level_key_of_ordinary_spaces():
    assert level_key(Discrete(["a", "b"]), "b") == 1
    assert level_key(SeedSpace(), 42) == 42


def test_maze_mutator_edits_and_keeps_size():
    rng = np.random.default_rng(0)
    mut = maze_mutator(n_edits=3)
    parent = empty_maze(9)
    kids = [mut(parent, rng) for _ in range(50)]
    assert all(k.shape == parent.shape and k.start == parent.start for k in kids)
    assert all(0 < parent.distance(k) for k in kids if k != parent)
    assert any(k.goal != parent.goal for k in kids) and any(k.n_walls > 0 for k in kids)
    assert max(k.n_walls for k in kids) <= 3
    safe = maze_mutator(n_edits=20, keep_solvable=True)
    m = random_maze(rng, 7, 0.3, require_solvable=True)
    for _ in range(20):
        m = safe(m, rng)
        assert m.solvable
    assert mutator_config(mut) == {"name": "maze", "n_edits": 3, "keep_solvable": False}
    again = make_mutator(mutator_config(mut))
    assert again(parent, np.random.default_rng(5)) == mut(parent, np.random.default_rng(5))
    with pytest.raises(ConfigError, match="unknown mutator"):
        make_mutator("nope")
    with pytest.raises(ConfigError, match="n_edits"):
        maze_mutator(0)
    for bad in ("no", 0, None):  # before: bool("no") turned keep_solvable on
        with pytest.raises(ConfigError, match="keep_solvable"):
            maze_mutator(3, keep_solvable=bad)
    for bad in (True, float("nan"), 0, 1.5, "0.1"):  # before: True was taken as sigma = 1.0
        with pytest.raises(ConfigError, match="sigma"):
            make_mutator({"name": "perturb", "sigma": bad})


def _module_level_mutator(level, rng):
    return level


def test_mutator_configs_round_trip():
    ref = mutator_config(_module_level_mutator)
    assert ref == f"{__name__}:_module_level_mutator" and make_mutator(ref) is _module_level_mutator
    assert mutator_config(lambda level, rng: level) is None
    sp = SeedSpace(100)
    p = make_mutator("perturb", sp)
    kids = {p(50, np.random.default_rng(i)) for i in range(30)}
    assert all(0 <= k < 100 for k in kids) and len(kids) > 1 and max(abs(k - 50) for k in kids) < 30
    assert make_mutator(perturb_mutator(0.1), sp).space is sp


def test_a_mutator_reference_without_a_module_is_a_config_error():
    for ref in (":f", {"function": ":_module_level_mutator"}):  # before: ValueError "Empty module name"
        with pytest.raises(ConfigError, match="cannot be imported.*'module:function'"):
            make_mutator(ref)


def test_a_misspelt_mutator_setting_names_the_settings_it_takes(monkeypatch):
    # {"name": "maze", "n_edit": 3} gave Python's bare "unexpected keyword argument 'n_edit'", no valid setting named
    with pytest.raises(ConfigError, match=r"'n_edit' \(did you mean 'n_edits'\?\); its settings are n_edits, "
                                          r"keep_solvable"):
        make_mutator({"name": "maze", "n_edit": 3}, MazeSpace(9))
    with pytest.raises(ConfigError, match=r"'sgma' \(did you mean 'sigma'\?\); its settings are sigma$"):
        make_mutator({"name": "perturb", "sgma": 0.1}, SeedSpace(10))
    # a mutator added to MUTATORS is refused as such (its settings unknown here), not with a KeyError
    from magister.levels.mutators import MUTATORS

    monkeypatch.setitem(MUTATORS, "mine", lambda space, depth=1: perturb_mutator(0.1, space))
    with pytest.raises(ConfigError, match=r"mutator 'mine' does not take these settings: .*'deep'"):
        make_mutator({"name": "mine", "deep": 2}, SeedSpace(10))


def test_a_dict_holding_a_maze_gets_each_entrys_mutator_and_simple_levels():
    # accel's defaults on a Dict holding a maze (at any depth): each entry edited and started as alone; before, the
    # Dict got perturb (walls almost never changed) and no simple levels (accel drew from the sampler)
    from magister.levels.mutators import DictMutator, default_mutator
    from magister.levels.spaces import simple_sampler
    from magister.spaces import Box

    maze, box = MazeSpace(7, wall_density=0.3), Box([0.5], [2.0])
    space = Dict({"env": Dict({"maze": maze, "seed": SeedSpace(9)}), "speed": box})
    assert default_mutator(space) == default_mutator(space.spaces["env"]) == {"name": "dict"}
    assert default_mutator(maze) == "maze" and default_mutator(box) == "perturb"
    mut = make_mutator(default_mutator(space), space)
    assert isinstance(mut, DictMutator) and mutator_config(mut) == {"name": "dict", "entries": {
        "env": {"name": "dict", "entries": {"maze": {"name": "maze", "n_edits": 5, "keep_solvable": False},
                                            "seed": {"name": "perturb", "sigma": 0.05}}},
        "speed": {"name": "perturb", "sigma": 0.05}}}
    rng = np.random.default_rng(0)
    levels = space.sample(rng, 50)
    kids = [space.validate(mut(lv, rng)) for lv in levels]
    assert np.mean([(k["env"]["maze"].walls != lv["env"]["maze"].walls).any() for k, lv in zip(kids, levels)]) > 0.8
    again = make_mutator(mutator_config(mut), space)  # its checkpoint form rebuilds it
    assert space.to_json(again(levels[0], np.random.default_rng(4))) == \
        space.to_json(mut(levels[0], np.random.default_rng(4)))
    one = make_mutator({"name": "dict", "entries": {"speed": {"name": "perturb", "sigma": 0.2}}}, space)
    assert one.entries["speed"].sigma == 0.2 and isinstance(one.entries["env"], DictMutator)  # the rest: defaults
    simple = simple_sampler(space)
    firsts = [space.validate(simple(rng)) for _ in range(20)]
    assert all(f["env"]["maze"].n_walls == 0 for f in firsts)  # empty rooms, the other entries drawn
    assert len({f["env"]["seed"] for f in firsts}) > 1 and len({float(f["speed"][0]) for f in firsts}) > 1
    assert simple_sampler(maze) == maze.sample_simple
    pickle.loads(pickle.dumps(simple))  # (accel keeps it: a teacher pickles)
    for plain in (box, SeedSpace(9), Dict({"a": box, "b": Dict({"s": SeedSpace(3)})})):  # as before: no change
        assert default_mutator(plain) == "perturb" and simple_sampler(plain) is None


def test_the_dict_mutator_refuses_what_names_no_entry_of_its_space():
    space = Dict({"maze": MazeSpace(7, require_solvable=True), "seed": SeedSpace(9)})
    with pytest.raises(ConfigError, match=r"names entries \['mzae'\] that .* lacks; its entries are \['maze', "
                                          r"'seed'\]"):
        make_mutator({"name": "dict", "entries": {"mzae": "maze"}}, space)
    with pytest.raises(ConfigError, match="edits the entries of a Dict space, not SeedSpace"):
        make_mutator("dict", SeedSpace(9))
    with pytest.raises(ConfigError, match="must map entry names to mutators"):
        make_mutator({"name": "dict", "entries": ["maze"]}, space)
    with pytest.raises(ConfigError, match="entry 'maze': .*keep_solvable=True"):
        make_mutator({"name": "dict", "entries": {"maze": {"name": "maze", "keep_solvable": False}}}, space)
    with pytest.raises(ConfigError, match=r"'entry' \(did you mean 'entries'\?\)"):
        make_mutator({"name": "dict", "entry": {}}, space)
    with pytest.raises(ConfigError, match="edits the entries of Dict levels"):
        make_mutator("dict", space)(3, np.random.default_rng(0))


def test_finite_scores():
    f = FiniteScores()
    assert f.normalise_one(-7.5) == -7.5 and list(f.normalise([1e6, -2])) == [1e6, -2]
    for bad in (float("nan"), float("inf"), "x"):
        with pytest.raises(InvalidScoreError):
            f.normalise_one(bad)
    assert ScoreRange.coerce(f.to_dict()) == f


def test_propose_with_info_default_and_same_draws():
    import magister as mg

    a = mg.make_teacher("uniform", Discrete(5), seed=0)
    b = mg.make_teacher("uniform", Discrete(5), seed=0)
    task, info = a.propose_with_info()
    assert info == {"train": True, "replay": False} and task == b.propose()
    tasks, infos = a.propose_with_info(3)
    assert list(tasks) == list(b.propose(3)) and len(infos) == 3 and all(i["train"] for i in infos)
    with pytest.raises(ValueError):
        a.propose_with_info(0)


def test_uniform_on_mazes_is_domain_randomisation():
    import magister as mg

    sp = MazeSpace(9, wall_density=0.1)
    t = mg.make_teacher("uniform", sp, seed=0)
    mazes = t.propose(40)
    assert all(isinstance(m, Maze) and m.shape == (9, 9) for m in mazes)
    assert np.mean([m.n_walls / 49 for m in mazes]) < 0.2  # the space's density, not 0.5 from unit vectors
    t.observe(mazes[0], 1.0)
    t.observe_batch(mazes[:3], [0.0, 1.0, 0.5])
    again = mg.teacher.from_state_dict(t.state_dict())
    assert again.propose(3) == t.propose(3)


def test_open_scores_refuse_huge_integers_and_nan_like_a_declared_range():
    from magister.errors import InvalidScoreError
    from magister.scores import FiniteScores

    fs = FiniteScores()
    assert fs.normalise_one(3) == 3.0 and fs.normalise_one(-2.5) == -2.5
    for bad in (10**400, float("nan"), float("inf"), "x"):
        with pytest.raises(InvalidScoreError):
            fs.normalise_one(bad)
    with pytest.raises(InvalidScoreError, match="too large"):
        fs.normalise([1.0, 10**400])


def test_mixed_maze_draws_labyrinths_at_its_share_and_blocks_in_the_density_range():
    from magister.levels import mixed_maze

    rng = np.random.default_rng(0)
    mazes = [mixed_maze(rng, 15, (0.2, 0.2), 0.5) for _ in range(200)]
    # a labyrinth's odd-odd cells are all open and its even-even cells all walls; block mazes are not
    lab = [bool((~m.walls[1:-1:2, 1:-1:2]).all() and m.walls[::2, ::2].all()) for m in mazes]
    assert 70 <= sum(lab) <= 130 and all(mazes[i].solvable for i in range(200) if lab[i])
    blocks = [m for m, is_lab in zip(mazes, lab) if not is_lab]
    inner = np.mean([m.walls[1:-1, 1:-1].mean() for m in blocks])
    assert 0.15 < inner < 0.25  # density 0.2 (start and goal cells cleared)
    assert not any((~m.walls[1:-1:2, 1:-1:2]).all() and m.walls[::2, ::2].all()
                   for m in (mixed_maze(rng, 15, (0.3, 0.3)) for _ in range(50)))  # labyrinths=0: blocks only


def test_a_fractional_or_boolean_start_is_refused_not_truncated():
    # Maze(walls, start=(1.5, 2), ...) was built with start (1, 2)
    walls = np.ones((5, 5), dtype=bool)
    walls[1:4, 1:4] = False
    assert Maze(walls, (1.0, 1), (np.int64(3), 3)).start == (1, 1)
    # (inf, 1) raised a raw OverflowError ("cannot convert float infinity to integer"), which is no MazeFormatError
    for start in ((1.5, 1), (True, 1), (float("inf"), 1), (1, -np.inf), (np.float64(np.inf), 1), (float("nan"), 1)):
        with pytest.raises(MazeFormatError, match="start must be a \\(row, col\\) pair"):
            Maze(walls, start, (3, 3))
    with pytest.raises(MazeFormatError, match="goal must be a \\(row, col\\) pair"):
        empty_maze(5).replace(goal=(np.inf, 3))


def test_seed_space_tasks_at_refuses_what_task_at_refuses():
    # SeedSpace(10).tasks_at([12]) returned [12], and SeedSpace().tasks_at([3]) [3] though it has no task index
    with pytest.raises(InvalidTaskError, match="task index 12 is outside 0..9"):
        SeedSpace(10).tasks_at([3, 12])
    with pytest.raises(InvalidTaskError, match="outside 0..9"):
        SeedSpace(10).tasks_at(np.array([-1]))
    with pytest.raises(TypeError, match="not a finite space"):
        SeedSpace().tasks_at([3])
    assert SeedSpace(10).tasks_at(np.array([9, 0])) == [9, 0]


def test_maze_space_require_solvable_must_be_a_bool():
    # MazeSpace(5, require_solvable="no") made a space of solvable mazes only (bool("no") is True)
    for bad in ("no", "false", 1):
        with pytest.raises(ConfigError, match="require_solvable must be True or False"):
            MazeSpace(5, require_solvable=bad)
        with pytest.raises(ConfigError, match="require_solvable must be True or False"):
            space_from_spec({"type": "MazeSpace", "size": 5, "require_solvable": bad})
    with pytest.raises(ConfigError, match="labyrinths must be a fraction"):
        space_from_spec({"type": "MazeSpace", "size": 5, "labyrinths": None})  # was a raw TypeError
    space = MazeSpace(7, wall_density=[0.1, 0.3], require_solvable=np.True_, labyrinths=0.5)
    assert space.require_solvable is True and space_from_spec(space.to_spec()) == space


def test_parse_of_a_maze_object_still_honours_require_solvable():
    # Maze.parse(maze, require_solvable=True) returned an unsolvable Maze as it was
    cut = Maze.parse("#####\n#S#G#\n#####")
    with pytest.raises(UnsolvableMazeError, match="goal at line 2 col 4 cannot be reached"):
        Maze.parse(cut, require_solvable=True)
    assert Maze.parse(cut) is cut
    ok = Maze.parse("#####\n#S.G#\n#####")
    assert Maze.parse(ok, require_solvable=True) is ok


def test_maze_generators_check_their_numbers():
    # wall_density="0.3" was parsed, mixed_maze(density=(0.5, 0.1)) gave numpy's "high - low < 0", max_tries=0
    # silently meant one try
    from magister.errors import ConfigError
    from magister.levels.maze import mixed_maze, random_maze

    rng = np.random.default_rng(0)
    for bad in ("0.3", float("nan"), 1.5, True):
        with pytest.raises(ConfigError, match="wall_density"):
            random_maze(rng, 7, bad)
    for bad in (0, 2.5, -1):
        with pytest.raises(ConfigError, match="max_tries"):
            random_maze(rng, 7, 0.2, max_tries=bad)
    for bad in ((0.5, 0.1), (0.1,), 0.3, ("0", "1"), (0.1, 2.0)):
        with pytest.raises(ConfigError, match="density"):
            mixed_maze(rng, 7, bad)
    with pytest.raises(ConfigError, match="labyrinths"):
        mixed_maze(rng, 9, (0.1, 0.2), labyrinths=2.0)
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    assert mixed_maze(a, 9, (0.1, 0.3), 0.5).to_text() == mixed_maze(b, 9, [np.float64(0.1), 0.3], 0.5).to_text()


def test_seed_space_refuses_a_nan_unit_vector():
    # SeedSpace().from_unit_batch([[nan]]) returned the seed -2**63
    for space in (SeedSpace(), SeedSpace(10)):
        with pytest.raises(InvalidTaskError, match="unit vector 1 holds a NaN"):
            space.from_unit_batch(np.array([[0.5], [np.nan]]))
    assert SeedSpace(10).from_unit_batch(np.array([[0.0], [0.55], [1.0], [-3.0]])) == [0, 5, 9, 0]
    assert SeedSpace().from_unit_batch(np.array([[1.0]])) == [2**31 - 1]


def test_maze_space_labyrinths_takes_numpy_numbers_as_wall_density_does():
    # MazeSpace(9, labyrinths=np.float32(0.2)) was refused while wall_density=np.float32(0.2) was taken
    space = MazeSpace(9, wall_density=np.float32(0.25), labyrinths=np.float32(0.25))
    assert space.labyrinths == 0.25 and type(space.labyrinths) is float
    assert MazeSpace(9, labyrinths=np.int64(1)).labyrinths == 1.0
    for bad in (float("nan"), np.float64(1.5), True, "0.2"):
        with pytest.raises(ConfigError, match="labyrinths must be a fraction"):
            MazeSpace(9, labyrinths=bad)


def test_maze_distance_to_something_else_is_a_type_error():
    # Maze.distance("x") raised AttributeError ('str' object has no attribute 'shape')
    m = Maze.parse(SMALL)
    with pytest.raises(TypeError, match="needs another Maze.*got str"):
        m.distance("x")
    assert m.distance(m) == 0.0


def test_parse_of_a_maze_object_honours_name():
    # Maze.parse(maze, name="x") returned the maze without the name
    m = Maze.parse(SMALL)
    named = Maze.parse(m, name="corridor")
    assert named.name == "corridor" and named == m and m.name is None
    assert Maze.parse(named) is named and Maze.parse(named, name="corridor") is named
    assert Maze.parse(SMALL, name="corridor").name == "corridor"


@pytest.mark.parametrize("value", [np.nan, np.inf, 0.5, 2, -1, None, "#"])
def test_maze_walls_refuse_values_that_are_not_wall_or_floor(value):
    # a NaN (or 0.5, 2, None) in a walls array was cast to a wall, or floor, without a word
    walls = np.ones((5, 5), dtype=object)
    walls[1:4, 1:4] = 0
    walls[2, 3] = value
    with pytest.raises(MazeFormatError, match="line 3 column 4: wall value .* is neither a wall"):
        Maze(walls, (1, 1), (3, 3))
    if isinstance(value, float):
        with pytest.raises(MazeFormatError, match="line 3 column 4"):
            Maze(walls.astype(float), (1, 1), (3, 3))
    walls[2, 3] = 1.0
    assert Maze(walls.astype(float), (1, 1), (3, 3)) == Maze(walls.astype(int), (1, 1), (3, 3))
    assert Maze(walls, (1, 1), (3, 3)).walls[2, 3] and Maze(walls.tolist(), (1, 1), (3, 3)).walls.dtype == bool


def test_maze_space_features_of_a_solvable_maze_decode_to_it_on_a_solvable_space():
    # with require_solvable, from_unit_batch carved its L-shaped corridor through every decoded maze, so a
    # solvable maze's own features decoded to another maze (and perturb_mutator's small moves became big edits)
    space = MazeSpace(9, [0.0, 0.6], require_solvable=True)
    mazes = space.sample(np.random.default_rng(1), 50)
    assert space.from_unit_batch(space.to_unit_batch(mazes)) == mazes
    decoded = space.from_unit_batch(np.random.default_rng(2).random((20, space.dim)))
    assert all(m.solvable for m in decoded)  # unsolvable decodings still get their corridor


def test_maze_space_refuses_a_nan_unit_vector_and_a_text_wall_density():
    # a NaN start coordinate crashed in int() ("cannot convert float NaN to integer"), a NaN wall read as floor
    space = MazeSpace(7)
    for col in (0, 10):
        v = np.full((2, space.dim), 0.2)
        v[1, col] = np.nan
        with pytest.raises(InvalidTaskError, match="unit vector 1 holds a NaN"):
            space.from_unit_batch(v)
    # MazeSpace(7, "01") was taken as wall_density [0.0, 1.0] (the text read character by character)
    with pytest.raises(ConfigError, match="wall_density"):
        MazeSpace(7, "01")


def test_mixed_maze_with_labyrinths_refuses_a_size_too_small_for_them_on_every_draw():
    # size 4 with labyrinths gave block mazes on some draws and failed on the others
    from magister.levels import mixed_maze

    for seed in range(6):
        with pytest.raises(ValueError, match="size >= 5"):
            mixed_maze(np.random.default_rng(seed), 4, (0.0, 0.3), 0.5)
    assert mixed_maze(np.random.default_rng(0), 4, (0.0, 0.3), 0.0).shape == (4, 4)


#: a module-level value that is not a function, for the test below
NOT_A_MUTATOR = 3.14


def test_a_mutator_reference_to_something_not_callable_is_refused_when_the_teacher_is_built():
    # "module:name" naming a number was taken: accel's first edit then failed ("'float' object is not callable"),
    # and save() said the mutator could not be saved and to pass a module-level function, which it was
    import magister as mg

    ref = f"{__name__}:NOT_A_MUTATOR"
    for spec in (ref, {"function": ref}):
        with pytest.raises(ConfigError, match=r"NOT_A_MUTATOR.*is a float, not a function \(level, rng\) -> level"):
            make_mutator(spec, SeedSpace(10))
        with pytest.raises(ConfigError, match="not a function"):
            mg.make_teacher("accel", SeedSpace(10), mutator=spec)


def test_every_maze_edit_changes_the_maze():
    # "an edit that does not apply (a wall on a wall) is redrawn": one edit of a half-walled maze changes it
    # (it stays the same only when eight draws in a row could not apply, about 1 in 250)
    rng = np.random.default_rng(3)
    mut = maze_mutator(n_edits=1)
    parent = random_maze(rng, 9, 0.5)
    same = sum(mut(parent, rng) == parent for _ in range(400))
    assert same < 20, same


def test_the_maze_mutator_is_refused_on_a_space_without_maze_levels():
    # accel(mutator="maze") on seeds, boxes or a Dict was taken, and the run failed at its first edit ("the maze
    # mutator edits Maze levels, got int"), after any number of episodes
    import magister as mg

    for space in (SeedSpace(10), mg.Box([0.0], [1.0]), mg.Discrete(4),
                  mg.Dict({"maze": MazeSpace(7), "speed": mg.Box([0.5], [2.0])})):
        for spec in ("maze", {"name": "maze", "n_edits": 3}):
            with pytest.raises(ConfigError, match=r"maze mutator edits the mazes of a MazeSpace.*not "):
                make_mutator(spec, space)
        with pytest.raises(ConfigError, match="maze mutator"):
            mg.make_teacher("accel", space, mutator="maze")
    # a maze entry of a Dict takes it by name, and a MazeSpace (or no space: resolved later) as before
    d = mg.Dict({"maze": MazeSpace(7), "speed": mg.Box([0.5], [2.0])})
    mg.make_teacher("accel", d, mutator={"name": "dict", "entries": {"maze": "maze"}})
    assert make_mutator("maze", MazeSpace(7)).n_edits == 5 and make_mutator("maze").n_edits == 5


def test_a_maze_mutator_object_is_refused_on_a_space_without_maze_levels_as_its_name_is():
    # accel(mutator=maze_mutator()) on seeds, boxes or a Dict was taken (mutator="maze" was refused at build), and
    # the run failed at its first edit ("the maze mutator edits Maze levels, got int")
    import magister as mg

    for space in (SeedSpace(10), mg.Box([0.0], [1.0]), mg.Discrete(4), mg.MultiDiscrete([3, 3]),
                  mg.Dict({"maze": MazeSpace(7), "speed": mg.Box([0.5], [2.0])})):
        with pytest.raises(ConfigError, match=r"maze mutator edits the mazes of a MazeSpace.*not "):
            make_mutator(maze_mutator(3), space)
        with pytest.raises(ConfigError, match="maze mutator"):
            mg.make_teacher("accel", space, mutator=maze_mutator())
    d = mg.Dict({"maze": MazeSpace(7), "speed": mg.Box([0.5], [2.0])})
    with pytest.raises(ConfigError, match=r"entry 'speed': the maze mutator edits the mazes"):
        make_mutator({"name": "dict", "entries": {"speed": maze_mutator()}}, d)
    # on a MazeSpace, a Dict's maze entry or no space (resolved later), the object is taken as before
    assert make_mutator(mut := maze_mutator(2), MazeSpace(7)) is mut and make_mutator(mut) is mut
    mg.make_teacher("accel", MazeSpace(7), mutator=maze_mutator(2))
    mg.make_teacher("accel", d, mutator={"name": "dict", "entries": {"maze": maze_mutator(2)}})


def test_parse_drops_a_byte_order_mark_as_load_mazes_does():
    # Maze.parse(open("spiral.txt").read()), as the docs show it, kept the mark of a file saved by Notepad and
    # refused it as "unexpected character '\ufeff'" at line 1 column 1, a character the user cannot see
    assert Maze.parse("\ufeff" + SMALL) == Maze.parse(SMALL)
    assert Maze.parse("\ufeff#####\r\n#S.G#\r\n#####\r\n") == Maze.parse("#####\n#S.G#\n#####")
    assert MazeSpace(5).validate("\ufeff#####\n#S..#\n#...#\n#..G#\n#####") == Maze.parse("#####\n#S..#\n#...#\n#..G#\n#####")
    with pytest.raises(MazeFormatError, match=r"line 2 column 3: unexpected character '\\ufeff'"):
        Maze.parse("#####\n#S\ufeffG#\n#####")  # inside the map it is still a stray character


def test_a_maze_name_given_as_its_text_says_to_play_the_maze_itself():
    # a teacher over the names of load_mazes(folder) (or a name typed for a task) reached Maze.parse as text and
    # was refused as "line 1 column 1: unexpected character 's'", which did not say that a name is no maze text
    for name in ("spirals_in", "a", "my maze"):
        with pytest.raises(MazeFormatError, match=rf"{name!r} is one line.*load_mazes\(folder\)\[{name!r}\]"):
            Maze.parse(name)
    with pytest.raises(MazeFormatError, match=r"^line 1 column 3: unexpected character 'x'; use '#' wall, '.' "
                                               r"floor, 'S' start, 'G' goal$"):
        Maze.parse("##x##\n#S.G#\n#####")  # a map with a stray character keeps its message
    # one row of a map, walls and all, is no maze name: it was told to play load_mazes(folder)['#S G#']
    with pytest.raises(MazeFormatError, match=r"^line 1 column 3: unexpected character ' '.*write floor as '\.'$"):
        Maze.parse("#S G#")


def test_a_mutator_saved_from_a_script_names_the_fix_when_loaded_elsewhere(tmp_path, monkeypatch):
    # a mutator defined in the training script is saved as "__main__:name"; loading the checkpoint from another
    # script said only "module '__main__' has no attribute ...; give it as 'module:function'"
    import sys

    import magister as mg
    from magister.errors import CheckpointError

    def script_mutator(level, rng):
        return level

    script_mutator.__module__, script_mutator.__qualname__ = "__main__", "script_mutator"
    monkeypatch.setattr(sys.modules["__main__"], "script_mutator", script_mutator, raising=False)
    teacher = mg.make_teacher("accel", SeedSpace(20), mutator=script_mutator, seed=0)
    teacher.save(tmp_path / "accel.ckpt")
    assert mg.load(tmp_path / "accel.ckpt").mutator is script_mutator  # the script that defines it loads it
    monkeypatch.delattr(sys.modules["__main__"], "script_mutator")
    with pytest.raises(CheckpointError, match=r"'__main__:script_mutator' was defined in the script that saved.*"
                                              r"define or import script_mutator"):
        mg.load(tmp_path / "accel.ckpt")
    with pytest.raises(ConfigError, match=r"defined in the script that saved"):
        make_mutator("__main__:script_mutator")


def test_an_indented_map_or_a_space_for_floor_is_refused_naming_the_fix():
    # a map written indented in a Python string, or with spaces for floor, was refused as "unexpected character
    # ' '" at line 1 column 1, which left the user to find that the indentation counts as cells
    indented = "\n    #####\n    #S.G#\n    #####\n"
    with pytest.raises(MazeFormatError, match=r"line 2 column 1: unexpected character ' '.*the map is indented: "
                                               r"remove the indentation \(textwrap\.dedent"):
        Maze.parse(indented)
    import textwrap

    assert Maze.parse(textwrap.dedent(indented)) == Maze.parse("#####\n#S.G#\n#####")
    with pytest.raises(MazeFormatError, match=r"line 1 column 1: unexpected character '\\t'.*indented"):
        Maze.parse("\t#####\n\t#S.G#\n\t#####")
    with pytest.raises(MazeFormatError, match=r"line 2 column 3: unexpected character ' '.*write floor as '\.'"):
        Maze.parse("#####\n#S G#\n#####")


def test_load_mazes_skips_hidden_files_and_reads_any_case_of_txt(tmp_path):
    # a folder copied from a Mac holds "._a.txt" (binary AppleDouble data): it failed the whole load, and "B.TXT"
    # (a folder from Windows, where it loads) was skipped without a word on Linux
    (tmp_path / "a.txt").write_text("#####\n#S.G#\n#####\n")
    (tmp_path / "._a.txt").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
    (tmp_path / ".draft.txt").write_text("not a maze")
    (tmp_path / "B.TXT").write_text("#####\n#SG.#\n#####\n")
    mazes = load_mazes(tmp_path)
    assert list(mazes) == ["B", "a"] and mazes["B"] == Maze.parse("#####\n#SG.#\n#####")
    (tmp_path / "a.TXT").write_text("#####\n#GS.#\n#####\n")  # two files, one name (a case-sensitive disk)
    if (tmp_path / "a.txt").read_text() != (tmp_path / "a.TXT").read_text():  # not one file (case-blind disk)
        with pytest.raises(MazeFormatError, match=r"a\.(TXT|txt) and a\.(txt|TXT) both name maze 'a' in .*; rename or "
                                                   "remove one"):
            load_mazes(tmp_path)


def test_a_one_line_maze_file_gets_the_line_and_column_message(tmp_path):
    (tmp_path / "one.txt").write_text("#S.G#x\n")
    with pytest.raises(MazeFormatError, match=r"one\.txt: line 1 column 6: unexpected character 'x'"):
        load_mazes(tmp_path)


def test_require_solvable_is_true_or_false_only(tmp_path):
    # bool() read "false", "no" and [0] as True: an unsolvable maze was refused as if solvability were required
    # (MazeSpace(require_solvable="no") is refused so); None and 0 were False
    from magister.levels import mixed_maze

    unsolvable = "#####\n#S#G#\n#####"
    (tmp_path / "u.txt").write_text(unsolvable)
    rng = np.random.default_rng(0)
    calls = {"Maze.parse": lambda v: Maze.parse(unsolvable, require_solvable=v),
             "load_mazes": lambda v: load_mazes(tmp_path, require_solvable=v),
             "random_maze": lambda v: random_maze(rng, 7, 0.95, require_solvable=v, max_tries=2),
             "mixed_maze": lambda v: mixed_maze(rng, 7, (0.95, 0.95), require_solvable=v)}
    for name, call in calls.items():
        for bad in ("false", "no", [0], None, 0, 1.0):
            with pytest.raises(ConfigError, match=f"{name}: require_solvable must be True or False"):
                call(bad)
        for off in (False, np.False_):  # taken as before
            call(off)
    assert not Maze.parse(unsolvable, require_solvable=np.False_).solvable
    with pytest.raises(UnsolvableMazeError):
        Maze.parse(unsolvable, require_solvable=np.True_)


def test_maze_walls_with_ragged_rows_are_a_maze_format_error():
    # ragged rows raised numpy's raw ValueError ("inhomogeneous shape"), which a caller catching MazeFormatError missed
    with pytest.raises(MazeFormatError, match=r"^line 2 column 1: maze wall row 2 has 2 cells and row 1 has 3; a maze "
                                              r"grid is rows of equal length"):
        Maze([[1, 1, 1], [1, 0]], (1, 1), (1, 2))
    with pytest.raises(MazeFormatError, match="line 4 column 1: maze wall row 4 has 5 cells and row 1 has 4"):
        Maze([[1] * 4, [1, 0, 0, 1], [1, 0, 0, 1], [1] * 5], (1, 1), (2, 2))
    with pytest.raises(MazeFormatError, match="a maze wall cell holds a sequence"):
        Maze([[1, 1, 1], [1, [0, 0], 1], [1, 1, 1]], (1, 1), (1, 1))
    with pytest.raises(MazeFormatError, match="could not be read as a 2-D grid"):
        Maze([[1, 1, 1], 5, [1, 1, 1]], (1, 1), (1, 1))
    m = Maze.parse(SMALL)
    with pytest.raises(MazeFormatError, match="row 2 has 2 cells"):
        m.replace(walls=[list(m.walls[0]), [True, False]])
