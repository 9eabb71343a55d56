"""Task spaces: validation, unit-vector maps, sampling, indices, specs."""

from __future__ import annotations

import re

import numpy as np
import pytest

import magister as mg
from magister.errors import ConfigError, InvalidTaskError, UnknownTaskError
from magister.levels.spaces import MazeSpace, SeedSpace


def test_box_validates_and_names_the_offending_value():
    box = mg.Box([0, -1], [1, 1], names=["friction", "tilt"])
    assert np.array_equal(box.validate([0.5, 0.0]), [0.5, 0.0])
    assert np.array_equal(box.validate({"tilt": 0.2, "friction": 0.1}), [0.1, 0.2])
    with pytest.raises(InvalidTaskError, match=r"tilt = 2.0 is not in \[-1.0, 1.0\]"):
        box.validate([0.5, 2.0])
    with pytest.raises(InvalidTaskError, match="NaN"):
        box.validate([np.nan, 0])
    with pytest.raises(InvalidTaskError, match="expects 2 numbers"):
        box.validate([0.1, 0.2, 0.3])
    with pytest.raises(InvalidTaskError, match="missing"):
        box.validate({"friction": 0.1})
    assert [0.5, 0.5] in box and [2, 0] not in box


def test_box_unit_map_round_trips_and_clips():
    box = mg.Box([0, 100], [1, 200])
    x = np.array([[0.25, 150.0], [1.0, 100.0]])
    u = box.to_unit_batch(x)
    assert np.allclose(u, [[0.25, 0.5], [1.0, 0.0]])
    assert np.allclose(box.from_unit_batch(u), x)
    assert np.array_equal(box.from_unit([2.0, -1.0]), [1.0, 100.0])  # clipped inside


def test_box_refuses_bad_bounds():
    with pytest.raises(ConfigError, match="low < high"):
        mg.Box([0, 1], [1, 1])
    with pytest.raises(ConfigError, match="finite"):
        mg.Box([0], [np.inf])
    with pytest.raises(ConfigError, match="same length"):
        mg.Box([0, 0], [1])


def test_box_refuses_bools_as_bounds_as_it_refuses_them_as_coordinates():
    # Box([False], [True]) (or a spec's JSON false / true) was the box [0, 1], though a task's True is refused
    for low, high in (([False], [True]), (False, 1), ([0, 0], [1, True]), ((0, np.False_), (1, 1)),
                      (np.zeros(2, dtype=bool), [1, 1])):
        with pytest.raises(ConfigError, match="Box (low|high) must be finite numbers, got"):
            mg.Box(low, high)
    with pytest.raises(ConfigError, match="Box low must be finite numbers, got \\[False\\]"):
        mg.space_from_spec({"type": "Box", "low": [False], "high": [1]})
    assert mg.Box([0, np.int8(0)], np.array([1, 2], dtype=np.uint8)) == mg.Box([0.0, 0.0], [1.0, 2.0])


def test_box_refuses_text_and_integers_beyond_any_float_in_bounds_and_tasks():
    """An integer too large for a float raised numpy's raw OverflowError from validate, observe and even
    `task in box` (which must say False); Box(["0"], ["1"]) parsed the text as bounds."""
    for low, high in (([0], [10**400]), ([-10**400], [0]), (["0"], ["1"]), ([0], [None])):
        with pytest.raises(ConfigError, match="Box (low|high) must be finite numbers"):
            mg.Box(low, high)
    box = mg.Box([0, 0], [1, 1])
    huge = [10**400, 0]
    assert huge not in box and np.array([10**400, 0], dtype=object) not in box
    with pytest.raises(InvalidTaskError, match="too large to be a number"):
        box.validate(huge)
    t = mg.make_teacher("alp-gmm", box, seed=0)
    for observe in (lambda: t.observe(huge, 0.5), lambda: t.observe_batch([[0.5, 0.5], huge], [0.5, 0.5])):
        with pytest.raises(InvalidTaskError, match="Nothing was recorded"):
            observe()
    assert t.n_observed == 0
    with pytest.raises(InvalidTaskError, match="entry 'a'.*too large"):
        mg.Dict({"a": box}).validate({"a": huge})


def test_box_shape_takes_a_count_or_gymnasiums_one_tuple_and_refuses_the_rest():
    """Box(0, 1, shape=(3,)) (gymnasium's spelling) raised int()'s TypeError, shape=-1 or a shape that low does
    not broadcast to raised numpy's ValueError, and shape=2.5 made a 2-D Box, shape="3" a 3-D one."""
    assert mg.Box(0, 1, shape=(3,)) == mg.Box([0, 0, 0], [1, 1, 1]) == mg.Box(0, 1, shape=3)
    assert mg.Box(0, 1, shape=np.int64(2)).dim == 2
    for bad in (-1, 0, 2.5, "3", True, (2, 2), ()):
        with pytest.raises(ConfigError, match="Box shape is the number of dimensions"):
            mg.Box(0, 1, shape=bad)
    with pytest.raises(ConfigError, match=r"shape=3 does not fit low of shape \(2,\)"):
        mg.Box([0, 0], [1, 1], shape=3)


def test_a_box_whose_width_overflows_is_refused():
    """Box([-1e308], [1e308]) was accepted with width inf: uniform proposed only 1e308, adr proposed NaN
    (outside the space), and every task mapped to the unit coordinate 0."""
    with pytest.raises(ConfigError, match="dimension 1 is wider than a float can hold"):
        mg.Box([0, -np.finfo(float).max], [1, np.finfo(float).max])
    b = mg.Box([-1e307], [1e307])  # wide but representable: still a space
    assert b.contains(b.from_unit(np.array([0.5])))


def test_box_sampling_is_seeded_and_uniform():
    box = mg.Box([0, 10], [1, 20])
    a = box.sample(np.random.default_rng(0), 4000)
    b = box.sample(np.random.default_rng(0), 4000)
    assert np.array_equal(a, b)
    assert all(box.contains(t) for t in a[:50])
    assert np.allclose(box.to_unit_batch(a).mean(0), 0.5, atol=0.02)


def test_a_task_name_written_in_another_unicode_form_is_refused_saying_so():
    # "unknown task name 'café'; known tasks: café": the two names read the same ("e" + U+0301 against "é")
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    for names, given, held in (([composed, "tea"], decomposed, composed), ([decomposed], composed, decomposed)):
        d = mg.Discrete(names)
        esc = [re.escape(x.encode("unicode_escape").decode("ascii")) for x in (given, held)]
        with pytest.raises(UnknownTaskError, match=f"unknown task name '{given}' \\(it reads as the task '{held}', "
                                                   f"written with other characters: '{esc[0]}' against the space's "
                                                   f"'{esc[1]}'; write the tasks as the space's names are written"):
            d.validate(given)
        assert given not in d
    t = mg.make_teacher("sec", mg.Discrete([composed, "tea"]), seed=0)
    with pytest.raises(UnknownTaskError, match="it reads as the task .*Nothing was recorded"):
        t.observe(decomposed, 1.0)
    assert t.n_observed == 0
    with pytest.raises(UnknownTaskError, match="^unknown task name 'tee'; known tasks"):  # no other form: as before
        mg.Discrete([composed, "tea"]).validate("tee")


def test_discrete_names_and_indices():
    d = mg.Discrete(["add", "sub", "mul"])
    assert d.validate("sub") == "sub" and d.validate(2) == "mul"
    assert d.index("mul") == 2 and d.task_at(0) == "add"
    with pytest.raises(UnknownTaskError, match="unknown task name 'div'; known tasks: add, sub, mul"):
        d.validate("div")
    with pytest.raises(InvalidTaskError, match="outside"):
        d.validate(3)
    with pytest.raises(InvalidTaskError, match="bool"):
        d.validate(True)
    with pytest.raises(ConfigError, match="distinct"):
        mg.Discrete(["a", "a"])
    plain = mg.Discrete(4)
    assert plain.validate(np.int64(3)) == 3 and plain.validate(2.0) == 2
    with pytest.raises(UnknownTaskError):
        plain.validate("x")


def test_numbers_as_discrete_names_that_are_not_their_own_position_are_refused():
    # a number passed as a task is read as a position: with Discrete([2, 0, 1]), observe(0) recorded the task
    # named "2", silently another task than the one the caller named 0
    with pytest.raises(ConfigError, match=r"task name 2 \(at position 0\) is a number.*observe\(2\) would record "
                                          r"the task named '1'.*as strings"):
        mg.Discrete([2, 0, 1])
    with pytest.raises(ConfigError, match=r"observe\(5\) would be refused"):
        mg.Discrete([5, 6])
    with pytest.raises(ConfigError, match="is a number"):
        mg.space_from_spec({"type": "Discrete", "names": [1.0, 0.0]})
    # numbers at their own position, and strings of numbers, mean the same either way
    assert mg.Discrete(range(3)).validate(1) == "1" and mg.Discrete([0, 1]).names == ["0", "1"]
    assert mg.Discrete(["2", "0"]).index("0") == 1 and mg.Discrete([0.5, 1.5]).names == ["0.5", "1.5"]


def test_discrete_unit_map_hits_every_task_equally():
    d = mg.Discrete(5)
    u = d.to_unit_batch([0, 4])
    assert np.allclose(u.ravel(), [0.1, 0.9])
    counts = np.bincount(d.sample(np.random.default_rng(1), 5000), minlength=5)
    assert counts.min() > 900
    assert d.from_unit_batch(np.array([[0.0], [1.0], [0.39]])) == [0, 4, 1]


def test_multidiscrete_index_round_trip():
    m = mg.MultiDiscrete([3, 4])
    assert m.n == 12
    for i in range(12):
        assert m.index(m.task_at(i)) == i
    assert m.validate([2, 3]) == (2, 3)
    with pytest.raises(InvalidTaskError, match="coordinate 1 = 4"):
        m.validate([0, 4])
    with pytest.raises(InvalidTaskError, match="non-integer"):
        m.validate([0.5, 1])


def test_dict_space_mixes_kinds():
    s = mg.Dict({"level": mg.Discrete(["easy", "hard"]), "speed": mg.Box([0.5], [2.0])})
    assert s.dim == 2 and s.n is None
    t = s.validate({"level": "hard", "speed": [1.0]})
    assert t["level"] == "hard"
    u = s.to_unit(t)
    assert np.allclose(u, [0.75, 1 / 3])
    back = s.from_unit(u)
    assert back["level"] == "hard" and np.allclose(back["speed"], [1.0])
    with pytest.raises(InvalidTaskError, match="entry 'level'"):
        s.validate({"level": "medium", "speed": [1.0]})
    with pytest.raises(InvalidTaskError, match="missing"):
        s.validate({"level": "easy"})
    finite = mg.Dict({"a": mg.Discrete(2), "b": mg.MultiDiscrete([3])})
    assert finite.n == 6
    assert [finite.index(finite.task_at(i)) for i in range(6)] == list(range(6))


@pytest.mark.parametrize(
    "space",
    [
        mg.Box([0, 0], [1, 5], names=["a", "b"]),
        mg.Discrete(3),
        mg.Discrete(["x", "y"]),
        mg.MultiDiscrete([2, 2]),
        mg.Dict({"k": mg.Discrete(2), "v": mg.Box([0], [1])}),
    ],
)
def test_spec_round_trip_and_json(space):
    import json

    again = mg.space_from_spec(json.loads(json.dumps(space.to_spec())))
    assert again == space
    task = space.sample(np.random.default_rng(0))
    assert space.contains(space.from_json(json.loads(json.dumps(space.to_json(task)))))


def test_bad_spec_is_refused():
    with pytest.raises(ConfigError, match="unknown space type"):
        mg.space_from_spec({"type": "Sphere"})
    with pytest.raises(ConfigError, match="missing"):
        mg.space_from_spec({"type": "Box", "low": [0]})
    for bad in (None, [], [["a", {"type": "Discrete", "n": 2}]], "a"):  # a raw AttributeError (no .items())
        with pytest.raises(ConfigError, match="'spaces' maps names to space specs"):
            mg.space_from_spec({"type": "Dict", "spaces": bad})


@pytest.mark.parametrize("spec, key", [
    ({"type": "SeedSpace", "n_seeds": 50}, "n_seeds"),  # was SeedSpace() (every seed), not 50 seeds
    ({"type": "Box", "low": [0], "high": [1], "hgih": [2]}, "hgih"),
    ({"type": "Discrete", "n": 3, "nmaes": ["a", "b", "c"]}, "nmaes"),
    ({"type": "MultiDiscrete", "nvec": [2, 2], "dtype": "int64"}, "dtype"),
    ({"type": "MazeSpace", "size": 7, "walls": 0.5}, "walls"),
    ({"type": "Dict", "spaces": {"k": {"type": "Discrete", "n": 2, "names ": ["a", "b"]}}}, "names "),
])
def test_a_spec_key_its_space_does_not_read_is_refused_naming_it(spec, key):
    """A key the kind of space does not read was ignored: a misspelt one built another space without a word (through
    the service too, which stored the space it built)."""
    with pytest.raises(ConfigError, match=f"has no key '{key}'.*; its keys are 'type', "):
        mg.space_from_spec(spec)


def test_a_discrete_spec_whose_n_is_not_its_number_of_names_is_refused():
    # n beside the names was ignored: {"n": 3, "names": ["a", "b"]} gave a space of 2 tasks without a word
    for n in (3, 1, [2], "2", True):
        with pytest.raises(ConfigError, match=r"Discrete space spec with 2 names has n=.*; give n equal to the number "
                                              r"of names \(2\) or leave n out"):
            mg.space_from_spec({"type": "Discrete", "n": n, "names": ["a", "b"]})
    for n in (2, np.int64(2), np.array(2), None):  # the same count, or none, is the same space
        assert mg.space_from_spec({"type": "Discrete", "n": n, "names": ["a", "b"]}) == mg.Discrete(["a", "b"])


def test_a_discrete_spec_whose_n_is_not_a_whole_number_says_so():
    # n=2.0 beside 2 names was refused as "has n=2.0; give n equal to the number of names (2)", as if 2.0 were
    # another count: it is refused (as Discrete(2.0) is) saying n must be a whole number
    for n in (2.0, "2", True, [2], 2.5):
        with pytest.raises(ConfigError, match=r"has n=.*, not a whole number \(n is an int, as Discrete\(n\) takes it\); "
                                              r"give n equal to the number of names \(2\) or leave n out"):
            mg.space_from_spec({"type": "Discrete", "n": n, "names": ["a", "b"]})
    with pytest.raises(ConfigError, match=r"has n=3; give n equal"):  # a whole number, another count: as before
        mg.space_from_spec({"type": "Discrete", "n": 3, "names": ["a", "b"]})


@pytest.mark.parametrize("space", [
    mg.Box([0, 0], [1, 5], names=["a", "b"]), mg.Discrete(["x", "y"]), mg.MultiDiscrete([2, 3], names=["p", "q"]),
    mg.Dict({"k": mg.Discrete(2), "v": mg.Box([0], [1])}), SeedSpace(), SeedSpace(9),
    MazeSpace(7, wall_density=[0.1, 0.4], require_solvable=True, labyrinths=0.5),
])
def test_every_spec_a_space_writes_is_read_back(space):
    assert mg.space_from_spec(space.to_spec()) == space


@pytest.mark.timeout(90)  # generous: the check takes well under a second; the quadratic one took hours here
def test_a_discrete_space_of_many_names_checks_duplicates_in_linear_time():
    names = [f"task-{i}" for i in range(300_000)]
    assert mg.Discrete(names).n == 300_000
    with pytest.raises(ConfigError, match=r"repeated: \['task-7', 'task-9'\]"):
        mg.Discrete(names + ["task-9", "task-7"])


def test_n_tasks_is_the_size_of_a_finite_space_and_refused_for_a_continuous_one():
    from magister.spaces import Box, Dict, Discrete, MultiDiscrete

    assert Discrete(["a", "b", "c"]).n_tasks == 3
    assert MultiDiscrete([2, 3]).n_tasks == 6
    assert Dict({"a": Discrete(2), "b": MultiDiscrete([3])}).n_tasks == 6
    with pytest.raises(TypeError, match="continuous"):
        Box([0.0], [1.0]).n_tasks


@pytest.mark.parametrize("name", ["uniform", "alp-gmm"])
def test_a_batch_of_strings_or_objects_or_a_non_sequence_is_refused_as_a_bad_task(name):
    """A 2-D array of strings or objects took the Box's vectorised path and raised a bare ValueError or
    TypeError from astype; a number or None in place of the list of tasks raised "not iterable"."""
    t = mg.make_teacher(name, mg.Box([0, 0], [1, 1]), seed=0)
    before = t.state_dict()
    with pytest.raises(InvalidTaskError, match="position 0.*not a vector of 2 numbers"):
        t.observe_batch(np.array([["a", "0.5"]]), [0.5])
    with pytest.raises(InvalidTaskError, match="position 0"):
        t.observe_batch(np.array([[object(), 0.5]], dtype=object), [0.5])
    for bad in (0.5, None, np.float64(0.5)):
        with pytest.raises(InvalidTaskError, match="expected a sequence of tasks"):
            t.observe_batch(bad, [0.5])
    with pytest.raises(InvalidTaskError, match="expected a sequence of tasks"):
        mg.make_teacher("exp3", mg.Discrete(3)).observe_batch(1, [0.5])
    from magister.testing import states_equal

    assert states_equal(before, t.state_dict())
    t.observe_batch(np.array([[0.25, 0.5]], dtype=np.float32), [0.5])  # numbers keep the vectorised path
    assert t.n_observed == 1


@pytest.mark.parametrize("name", ["learnability-bandit", "sequential", "uniform"])
def test_a_set_of_tasks_is_refused_since_it_has_no_order_to_pair_with_the_scores(name):
    """observe_batch({"c", "a", "b"}, [0.0, 0.5, 1.0]) was taken, each score going to whichever task the set's
    hash order put at its position (another pairing with each PYTHONHASHSEED); a set of scores was refused."""
    t = mg.make_teacher(name, mg.Discrete(["a", "b", "c"]), seed=0)
    before = t.state_dict()
    for bad in ({"c", "a", "b"}, frozenset({"a"})):
        with pytest.raises(InvalidTaskError, match="no order.*Nothing was recorded"):
            t.observe_batch(bad, [0.0, 0.5, 1.0][:len(bad)])
    from magister.testing import states_equal

    assert states_equal(before, t.state_dict()) and t.n_observed == 0
    t.observe_batch(["a", "b"], [0.5, 0.5])  # a list is taken
    assert t.n_observed == 2


def test_dimension_names_given_as_a_set_are_refused_since_the_order_changes_between_processes():
    """Box(..., names={"friction", "length"}) was taken: which name labelled which dimension followed the set's
    hash order, so the same script put a task's {name: value} into other dimensions (or refused it) in a process
    with another PYTHONHASHSEED. Two processes now build the same space, and a set is refused."""
    import os
    import subprocess
    import sys

    code = ("import magister as mg\n"
            "for make in (lambda: mg.Box([0, 0], [1, 10], names={'friction', 'length'}),\n"
            "             lambda: mg.MultiDiscrete([2, 5], names=frozenset({'x', 'y'}))):\n"
            "    try:\n"
            "        print(make().names)\n"
            "    except mg.ConfigError as e:\n"
            "        print(str(e)[:60])\n")
    outs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("0", "1")]
    assert outs[0] == outs[1], f"the space differs between processes: {outs}"
    for make in (lambda: mg.Box([0, 0], [1, 10], names={"friction", "length"}),
                 lambda: mg.MultiDiscrete([2, 5], names=frozenset({"x", "y"}))):
        with pytest.raises(ConfigError, match="names must be in dimension order.*no order"):
            make()
    assert mg.Box([0, 0], [1, 10], names=("friction", "length")).names == ["friction", "length"]
    assert mg.MultiDiscrete([2, 5], names={"x": 0, "y": 1}.keys()).names == ["x", "y"]  # ordered: taken


def test_a_box_task_with_strings_is_refused_not_parsed():
    box = mg.Box([0, 0], [1, 1])
    for task in (np.array(["0.5", "0.5"]), ["0.5", 0.5], ("0.1", "0.2"), [0.5, 0.5j]):
        with pytest.raises(mg.InvalidTaskError, match="not a vector of 2 numbers"):
            box.validate(task)
    t = mg.make_teacher("uniform", box, seed=0)
    with pytest.raises(mg.InvalidTaskError):
        t.observe(["0.5", "0.5"], 0.5)
    assert t.n_observed == 0
    assert np.array_equal(box.validate([0.5, np.float32(0.25)]), [0.5, 0.25])  # numbers of any type still pass


def test_a_box_task_of_booleans_is_refused_as_discrete_refuses_them():
    # [True, False] was taken as (1.0, 0.0); Discrete already refused a boolean task
    box = mg.Box([0, 0], [1, 1])
    t = mg.make_teacher("uniform", box, seed=0)
    for bad in ([True, False], np.array([True, False])):
        with pytest.raises(mg.InvalidTaskError, match="not a vector of 2 numbers"):
            t.observe(bad, 0.5)
    with pytest.raises(mg.InvalidTaskError):
        t.observe_batch(np.array([[True, False]]), [0.5])
    assert t.n_observed == 0
    t.observe_batch(np.array([[1, 0]]), [0.5])  # whole numbers are still coordinates
    assert t.n_observed == 1


def test_task_at_and_tasks_at_refuse_an_index_outside_the_space():
    # Discrete(3).task_at(5) returned 5 and Discrete(names).task_at(-1) the last name: tasks the space refuses
    # (MultiDiscrete and Dict already raised)
    for space in (mg.Discrete(3), mg.Discrete(["a", "b", "c"])):
        for i in (-1, 3, 7):
            with pytest.raises(InvalidTaskError, match=f"task index {i} is outside 0..2"):
                space.task_at(i)
            with pytest.raises(InvalidTaskError, match=f"task index {i} is outside 0..2"):
                space.tasks_at(np.array([0, i]))
        assert space.tasks_at(np.arange(3)) == [space.task_at(i) for i in range(3)]
        assert space.tasks_at([]) == []
    assert mg.Discrete(3).tasks_at(np.array([2, 0])) == [2, 0]
    for idx in (np.array([2, 0]), np.array([2, 0], dtype=np.int32), [2, 0]):  # Python ints, whatever the index type
        assert all(type(v) is int for v in mg.Discrete(3).tasks_at(idx))


def test_multidiscrete_with_names_refuses_unknown_keys_as_box_does():
    # {"a": 1, "b": 0, "c": 9} was taken as (1, 0), the stray "c" dropped silently
    space = mg.MultiDiscrete([2, 3], names=["a", "b"])
    with pytest.raises(InvalidTaskError, match="missing \\[\\], unknown \\['c'\\]"):
        space.validate({"a": 1, "b": 0, "c": 9})
    with pytest.raises(InvalidTaskError, match="missing \\['b'\\]"):
        space.validate({"a": 1})
    assert space.validate({"b": 2, "a": 1}) == (1, 2)


def test_dict_refuses_two_entries_with_the_same_name_as_text():
    # Dict({1: Discrete(2), "1": Discrete(3)}) silently kept only the second sub-space
    with pytest.raises(ConfigError, match="repeated: \\['1'\\]"):
        mg.Dict({1: mg.Discrete(2), "1": mg.Discrete(3)})
    assert mg.Dict({1: mg.Discrete(2), "b": mg.Discrete(3)}).n == 6


def test_box_to_json_takes_what_validate_takes_and_refuses_the_rest():
    # Box.to_json({"x": .2, "y": .3}) raised a raw TypeError, and to_json([5, 0]) wrote a task outside the space,
    # where every other space's to_json validates
    box = mg.Box([0, 0], [1, 1], names=["x", "y"])
    assert box.to_json({"y": 0.3, "x": 0.2}) == [0.2, 0.3]
    assert np.array_equal(box.from_json(box.to_json({"x": 0.2, "y": 0.3})), [0.2, 0.3])
    with pytest.raises(InvalidTaskError, match="outside the space"):
        box.to_json([5, 0])
    assert box.to_json(np.array([0.5, 1])) == [0.5, 1.0]
    for bad in (np.array([5.0, 0.0]), np.array([np.nan, 0.0])):  # a float64 array, as teachers propose, too
        with pytest.raises(InvalidTaskError):
            box.to_json(bad)
    assert all(type(v) is float for v in box.to_json(np.array([0.5, 1.0])) + box.to_json(np.array([0, 1])))


def test_a_0d_array_task_is_checked_as_the_value_it_holds():
    # np.array(True) passed the bool check and was taken as task 1 (np.bool_(True) was refused); np.array("b")
    # was refused by a named Discrete, and SeedSpace took np.array(True) as seed 1
    from magister.levels.spaces import SeedSpace

    for space in (mg.Discrete(3), mg.Discrete(["a", "b", "c"]), SeedSpace(5)):
        t = mg.make_teacher("uniform", space, seed=0)
        for bad in (np.array(True), np.array(False)):
            with pytest.raises(InvalidTaskError, match="bool"):
                t.observe(bad, 0.5)
        assert t.n_observed == 0
    assert mg.Discrete(["a", "b", "c"]).validate(np.array("b")) == "b"
    assert mg.Discrete(["a", "b", "c"]).validate(np.array(2)) == "c" and mg.Discrete(3).validate(np.array(2.0)) == 2


@pytest.mark.parametrize("duration", [np.timedelta64(1, "s"), np.timedelta64(1)])
def test_a_numpy_duration_is_no_task_index_seed_or_count(duration):
    # numpy counts timedelta64 as an integer: int() of one in seconds raised Python's raw TypeError ("int() argument
    # must be ... not 'datetime.timedelta'"), and one without a unit was taken as task, seed or count 1
    from magister import settings

    for space in (mg.Discrete(3), mg.Discrete(["a", "b", "c"]), SeedSpace(5), SeedSpace()):
        with pytest.raises(InvalidTaskError, match="timedelta64"):
            space.validate(duration)
        t = mg.make_teacher("uniform", space, seed=0)
        with pytest.raises(InvalidTaskError, match="timedelta64"):
            t.observe(duration, 0.5)
        assert t.n_observed == 0
    for build in (mg.Discrete, SeedSpace, lambda n: MazeSpace(n), lambda n: mg.Box([0], [1], shape=n)):
        with pytest.raises(ConfigError, match="timedelta64"):
            build(duration)
    with pytest.raises(ConfigError, match="timedelta64"):
        mg.Discrete(3).sample(np.random.default_rng(0), duration)
    with pytest.raises(ConfigError, match="MultiDiscrete needs a list of positive integers"):
        mg.MultiDiscrete([duration, 3])  # (was MultiDiscrete([1, 3]))
    with pytest.raises(ConfigError, match=r"propose\(k\) needs a positive whole number"):
        mg.make_teacher("uniform", mg.Discrete(3), seed=0).propose(duration)
    with pytest.raises(ConfigError, match="seed must be an int, None, .* not timedelta64"):
        mg.make_teacher("uniform", mg.Discrete(3), seed=duration)
    for check in (settings.whole, settings.saved_count, settings.number):
        with pytest.raises(ConfigError, match=r"x must be .*timedelta64"):
            check("x", duration)


def test_a_bool_among_the_coordinates_of_a_task_is_refused():
    # [True, 0.5] became [1.0, 0.5] (numpy turns a mixed list into numbers), while [True, False] was refused
    box, grid = mg.Box([0, 0], [1, 1], names=["x", "y"]), mg.MultiDiscrete([3, 4], names=["x", "y"])
    for space, bads in ((box, ([True, 0.5], (0.5, np.bool_(False)), {"x": True, "y": 0.5},
                               np.array([0.5, True], dtype=object))),
                        (grid, ([True, 0], (0, np.bool_(True)), {"x": 1, "y": False}))):
        t = mg.make_teacher("uniform", space, seed=0)
        for bad in bads:
            with pytest.raises(InvalidTaskError, match="not"):
                t.observe(bad, 0.5)
        with pytest.raises(InvalidTaskError, match="position 1"):
            t.observe_batch([space.sample(np.random.default_rng(0)), bads[0]], [0.5, 0.5])
        assert t.n_observed == 0
    assert np.array_equal(box.validate([0.5, 1]), [0.5, 1.0]) and grid.validate((2, np.int64(3))) == (2, 3)


def test_multidiscrete_names_a_coordinate_outside_the_space_as_it_was_given():
    # 1e300 was cast to int64 first and named "coordinate 0 = -9223372036854775808" (with a RuntimeWarning),
    # 2**64 - 1 as "-1"
    grid = mg.MultiDiscrete([3, 4])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InvalidTaskError, match=r"coordinate 0 = 1e\+300 is not in 0..2"):
            grid.validate([1e300, 0])
        with pytest.raises(InvalidTaskError, match="coordinate 0 = 18446744073709551615 is not in 0..2"):
            grid.validate(np.array([2**64 - 1, 0], dtype=np.uint64))
    assert grid.validate(np.array([2, 3], dtype=np.uint64)) == (2, 3) and grid.validate([-0.0, 3.0]) == (0, 3)


def test_finite_spaces_of_more_than_2_53_choices_decode_every_unit_vector_inside_the_space():
    # floor(v * n) was clipped to n - 1 as a float, which rounds to n above 2**53: the unit vector 1.0 (a clipped
    # proposal of a continuous teacher) decoded to task n, outside the space; MultiDiscrete([2**63]) wrapped to a
    # negative count and sampled negative tasks
    for space in (mg.Discrete(2**60), mg.Discrete(2**63 - 1), mg.MultiDiscrete([2**62, 3]),
                  mg.MultiDiscrete([2**63 - 1])):
        for v in (1.0, 1 - 2**-53, 0.5, 0.0):
            task = space.from_unit(np.full(space.dim, v))
            assert space.contains(task), (space, v, task)
        assert space.from_unit(np.ones(space.dim)) == space.task_at(space.n - 1)
        tasks = mg.make_teacher("alp-gmm", space, seed=0).propose(50)
        assert all(space.contains(t) for t in tasks)
    for too_many in (lambda: mg.Discrete(2**63), lambda: mg.MultiDiscrete([2**63, 2])):
        with pytest.raises(ConfigError, match=r"2\*\*63 - 1"):
            too_many()
    assert mg.Discrete(10**12).from_unit([1.0]) == 10**12 - 1  # the float path, unchanged below 2**53


def test_box_validate_gives_a_new_array_with_no_negative_zero():
    # validate returned the caller's float array itself (a level teacher then kept the caller's buffer), and
    # -0.0 as -0.0, which a level's key tells apart from 0.0; a bound of -0.0 gave proposals of -0.0
    box = mg.Box([-1, 0], [1, 1])
    mine = np.array([-0.0, 0.5])
    v = box.validate(mine)
    assert v is not mine and not np.signbit(v).any()
    mine[:] = 0.9
    assert np.array_equal(v, [0.0, 0.5])
    top = mg.Box([-1], [-0.0])
    assert not np.signbit(top.from_unit([1.0])).any() and top.to_spec()["high"] == [0.0]
    from magister.levels.spaces import level_key

    assert level_key(box, [-0.0, 0.5]) == level_key(box, [0.0, 0.5])
    assert not np.signbit(box.validate_batch(np.array([[-0.0, 0.5]]))).any()  # the fast path of a batch too
    t = mg.make_teacher("plr", box, seed=0)
    t.observe([0.0, 0.5], 1.0)
    t.observe_batch(np.array([[-0.0, 0.5]]), [2.0])
    assert len(t.buffer) == 1  # one level, not two


def test_from_unit_batch_refuses_a_nan_naming_the_vector():
    # MultiDiscrete turned a NaN into the index -2**63 silently; Discrete said only "index outside"
    for space in (mg.Discrete(4), mg.Discrete(["a", "b"]), mg.MultiDiscrete([3, 4])):
        vecs = np.full((3, space.dim), 0.5)
        vecs[2, -1] = np.nan
        with pytest.raises(InvalidTaskError, match="unit vector 2 holds a NaN"):
            space.from_unit_batch(vecs)
    assert mg.MultiDiscrete([3, 4]).from_unit_batch(np.array([[0.0, 1.0], [0.5, 0.3]])) == [(0, 3), (1, 1)]


def test_a_masked_array_task_with_masked_entries_is_refused_by_every_space_and_teacher():
    # np.asarray dropped the mask: the values the mask hides were validated and recorded as the task
    from magister.levels.spaces import SeedSpace

    box = mg.Box([0, 0], [1, 1])
    cases = [(box, np.ma.array([0.2, 0.5], mask=[False, True])),
             (mg.MultiDiscrete([3, 3]), np.ma.array([1, 2], mask=[True, False])),
             (mg.Discrete(4), np.ma.array(2, mask=True)), (mg.Discrete(4), np.ma.masked),
             (SeedSpace(10), np.ma.array(3, mask=True)),
             (mg.Dict({"a": mg.Discrete(3), "b": box}), {"a": 1, "b": np.ma.array([0.1, 0.2], mask=[True, True])})]
    for space, task in cases:
        with pytest.raises(InvalidTaskError, match="masked array with masked entries"):
            space.validate(task)
    with pytest.raises(InvalidTaskError, match="task at position 0: .*masked"):  # a masked entry of an array of tasks
        mg.Discrete(4).validate_batch(np.ma.array([1, 2], mask=[True, False]))
    t = mg.make_teacher("alp-gmm", box, seed=0)
    before = t.to_bytes()
    with pytest.raises(InvalidTaskError, match="masked"):
        t.observe(np.ma.array([0.2, 0.5], mask=[False, True]), 0.5)
    with pytest.raises(InvalidTaskError, match="task at position 1: .*masked"):  # the vectorised path of a batch too
        t.observe_batch(np.ma.array([[0.2, 0.5], [0.3, 0.4]], mask=[[False, False], [True, False]]), [0.5, 0.5])
    assert t.to_bytes() == before
    # a mask that hides nothing is a plain task
    assert np.array_equal(box.validate(np.ma.array([0.2, 0.5])), [0.2, 0.5])
    t.observe_batch(np.ma.array([[0.2, 0.5]], mask=False), [0.5])
    assert t.n_observed == 1


@pytest.mark.parametrize("name", ["alp-gmm", "riac", "covar-gmm", "frontier"])
def test_an_array_task_of_negative_zero_is_stored_as_zero_as_a_list_is(name):
    # observe(np.array([-0.0, 0.5])) took a fast path that kept unit -0.0 where a list gave +0.0: the same tasks
    # saved different checkpoint bytes
    box = mg.Box([0, 0], [1, 1])
    assert not np.signbit(box.unit_one(np.array([-0.0, 0.5]))).any()
    assert not np.signbit(box.to_unit_batch(np.array([[-0.0, 0.5]]))).any()
    assert not np.signbit(box.to_unit(np.array([-0.0, 0.5]))).any()
    a, b = mg.make_teacher(name, box, seed=0), mg.make_teacher(name, box, seed=0)
    for i in range(12):
        x = [0.0, i / 12]
        a.observe(np.array([-0.0, x[1]]), 0.5)
        b.observe(x, 0.5)
    assert a.to_bytes() == b.to_bytes()


def test_discrete_takes_names_or_a_count_given_as_a_numpy_array():
    # Discrete(np.array(["a", "b"])) (df.skill.unique()) was refused as neither a number nor a list of names
    assert mg.Discrete(np.array(["a", "b"])) == mg.Discrete(["a", "b"])
    assert mg.Discrete(np.array(["a", "b"])).names == ["a", "b"]
    assert type(mg.Discrete(np.array(["a", "b"])).names[0]) is str
    assert mg.Discrete(np.array(3)) == mg.Discrete(3)
    with pytest.raises(ConfigError, match="is a number"):
        mg.Discrete(np.array([2, 0, 1]))  # the number-as-name check still applies
    with pytest.raises(ConfigError, match="at least one"):
        mg.Discrete(np.array([]))
    with pytest.raises(ConfigError, match="a number of tasks or a list of names"):
        mg.Discrete(np.array([["a"]]))


def _inner_walls(mazes):
    return float(np.mean([m.walls[1:-1, 1:-1].mean() for m in mazes]))


@pytest.mark.parametrize("maze", [MazeSpace(9, wall_density=0.2), MazeSpace(9, wall_density=[0.1, 0.3],
                                                                             require_solvable=True, labyrinths=0.3)])
def test_a_dict_draws_its_maze_entry_with_the_maze_spaces_own_sampler(maze):
    # Dict.sample decoded random unit vectors: inner walls with probability 0.5 and any start and goal, whatever the
    # MazeSpace's wall_density, labyrinths or require_solvable (uniform and the level teachers' new levels too)
    box = mg.Box([0.5], [2.0])
    for space, get in ((mg.Dict({"maze": maze, "speed": box}), lambda t: t["maze"]),
                       (mg.Dict({"env": mg.Dict({"maze": maze}), "speed": box}), lambda t: t["env"]["maze"])):
        tasks = space.sample(np.random.default_rng(0), 300)
        assert len(tasks) == 300 and all(space.contains(t) for t in tasks)
        mazes = [get(t) for t in tasks]
        # the very mazes of the maze space alone, from the same generator (entries are drawn in order)
        alone = maze.sample(np.random.default_rng(0), 300)
        assert [m.to_text() for m in mazes] == [m.to_text() for m in alone]
        assert abs(_inner_walls(mazes) - 0.2) < 0.04
        one = space.sample(np.random.default_rng(1))
        assert isinstance(one, dict) and get(one).to_text() == maze.sample(np.random.default_rng(1)).to_text()
        with pytest.raises(ConfigError, match="whole number of tasks"):
            space.sample(np.random.default_rng(0), 1.5)
        assert space.native_sampling  # (so uniform proposes with sample)


@pytest.mark.parametrize("space", [
    mg.Dict({"level": mg.Discrete(3), "speed": mg.Box([0.5], [2.0])}),
    mg.Dict({"env": mg.Dict({"x": mg.Box([0, 0], [1, 3])}), "m": mg.MultiDiscrete([4, 2])}),
    mg.Dict({"seed": SeedSpace(), "speed": mg.Box([0.5], [2.0])}),
])
def test_a_dict_without_a_maze_space_samples_as_before(space):
    # one random unit vector per task, decoded: the draws (and so uniform's proposals) of every such Dict unchanged
    for k in (None, 1, 7):
        vecs = np.random.default_rng(3).random((1 if k is None else k, space.dim))
        got = space.sample(np.random.default_rng(3), k)
        assert [space.to_json(t) for t in ([got] if k is None else got)] == \
            [space.to_json(t) for t in space.from_unit_batch(vecs)]


def _array_unit_one(box: mg.Box, task: np.ndarray) -> np.ndarray:
    """Box.unit_one as the array expressions compute it (the path before the Python-float one)."""
    x = task.astype(float)
    if ((x >= box.low) & (x <= box.high)).all():
        return ((x + box._shift) / box._width).reshape(1, box.dim)
    return box.to_unit_batch([box.validate(task)])


def _array_from_unit(box: mg.Box, v: np.ndarray) -> np.ndarray:
    out = box.low + np.minimum(np.maximum(v, 0.0), 1.0) * box._width
    return np.minimum(out, box.high, out=out)


def _outcome(f, *args):
    try:
        out = f(*args)
    except InvalidTaskError as e:
        return f"InvalidTaskError: {e}"
    return out.shape, out.dtype, out.tobytes()


@pytest.mark.parametrize("dim", [1, 2, 3, 7, 16, 17, 40])
def test_box_one_task_maps_give_the_array_expressions_bits(dim):
    # unit_one and a one-row from_unit_batch (every observe and propose of a continuous teacher) run on Python
    # floats up to 16 dimensions: the same operations in the same order, so the same bits, NaN, -0.0, the bounds,
    # integer and float32 tasks and the refusals included
    rng = np.random.default_rng(dim)
    special = [0.0, -0.0, 1.0, np.nan, np.inf, -np.inf, 5e-324, -5e-324, 1 - 2**-53, 1 + 2**-52]
    for _ in range(60):
        lo = rng.normal(size=dim) * rng.choice([0.0, 1.0, 1e-300, 1e5, 1e300], size=dim)
        lo[rng.random(dim) < 0.2] = -0.0
        hi = lo + np.abs(rng.normal(size=dim)) * rng.choice([1.0, 1e-10, 1e10], size=dim) + (lo == 0)
        try:
            box = mg.Box(lo, hi)
        except ConfigError:  # a width below the rounding of a large bound
            continue
        assert box._few == (dim <= 16)
        for _ in range(30):
            v = rng.normal(0.5, 1.0, size=(1, dim))
            v[rng.random((1, dim)) < 0.3] = rng.choice(special)
            task = box.from_unit_batch(v)
            assert _outcome(lambda: task) == _outcome(_array_from_unit, box, v)
            t = task[0].copy()
            if rng.random() < 0.5:
                i = int(rng.integers(dim))
                t[i] = rng.choice([np.nan, -0.0, box.low[i], box.high[i], np.nextafter(box.high[i], np.inf),
                                   np.nextafter(box.low[i], -np.inf)])
            with np.errstate(invalid="ignore"):
                tasks = [t, t.astype(np.float32), np.nan_to_num(t).round().astype(np.int64)]
            for x in tasks:
                assert _outcome(box.unit_one, x) == _outcome(_array_unit_one, box, x)


def test_a_box_unpickled_without_the_float_bounds_maps_one_task_with_arrays():
    # a Box pickled before the Python-float paths has no _few and no float lists: the class default sends it down
    # the array path, with the same result
    box = mg.Box([0.0, -1.0], [1.0, 3.0])
    old = mg.Box([0.0, -1.0], [1.0, 3.0])
    for name in ("_few", "_bounds", "_unit_terms", "_task_terms"):
        del old.__dict__[name]
    assert not old._few
    v = np.array([[0.25, 1.5]])
    assert old.from_unit_batch(v).tobytes() == box.from_unit_batch(v).tobytes()
    x = np.array([0.3, 2.5])
    assert old.unit_one(x).tobytes() == box.unit_one(x).tobytes()


def test_one_task_from_unit_clips_to_high_where_low_plus_width_rounds_past_it():
    box = mg.Box([-100961.81835387359], [-20917.557487171307])
    assert box.low[0] + box._width[0] > box.high[0]  # rounding
    for v in ([[1.0]], [[2.0]], [[np.inf]]):
        assert box.from_unit_batch(np.array(v)).tobytes() == box.high.tobytes()


@pytest.mark.parametrize("dim", [1, 40])
def test_a_batch_from_unit_clips_to_high_where_low_plus_width_rounds_past_it(dim):
    # the batch path (several tasks, or a box of many dimensions) as the one-task path: never past the bound
    box = mg.Box([-100961.81835387359] * dim, [-20917.557487171307] * dim)
    assert box.low[0] + box._width[0] > box.high[0]  # rounding
    out = box.from_unit_batch(np.ones((3, dim)))
    assert (out == box.high).all()
    box.validate_batch(out)


@pytest.mark.parametrize("space, bad", [
    (mg.Box([0.0, -1.0], [1.0, 1.0]), "zz"), (mg.Box([0.0, -1.0], [1.0, 1.0]), [5.0, 5.0]),
    (mg.Box([0.0, -1.0], [1.0, 1.0]), [0.1, 0.2, 0.3]), (mg.Discrete(["a", "b"]), 7),
    (mg.MultiDiscrete([2, 3]), (2, 2)), (mg.Dict({"x": mg.Box([0.0], [1.0]), "k": mg.Discrete(2)}), "zz"),
    (mg.Dict({"x": mg.Box([0.0], [1.0]), "k": mg.Discrete(2)}), {"x": [2.0], "k": 0}), (SeedSpace(10), 50),
])
def test_to_unit_refuses_a_task_outside_the_space(space, bad):
    # a Box's task past its bounds gave a vector outside [0, 1] without a word ([5, 5] -> [5, 3]), text numpy's
    # "could not convert string to float", 3 numbers "cannot reshape array of size 3", a Dict's text a TypeError
    with pytest.raises(InvalidTaskError):
        space.to_unit(bad)


def test_to_unit_of_valid_tasks_is_the_batch_map():
    box = mg.Box([0.0, -1.0], [1.0, 1.0])
    d = mg.Dict({"x": box, "k": mg.Discrete(["a", "b", "c"])})
    for space, task in ((box, [0.5, -0.0]), (box, np.array([1.0, 1.0])), (mg.Discrete(["a", "b", "c"]), "b"),
                        (mg.MultiDiscrete([2, 3]), (1, 2)), (d, {"x": [0.5, 0.5], "k": "c"})):
        np.testing.assert_array_equal(space.to_unit(task), space.to_unit_batch([space.validate(task)])[0])
        assert space.to_unit(task).shape == (space.dim,)


def _nested(depth: int) -> dict:
    spec: dict = {"type": "Discrete", "n": 2}
    for _ in range(depth):
        spec = {"type": "Dict", "spaces": {"a": spec}}
    return spec


def test_a_space_spec_nested_past_pythons_recursion_or_holding_itself_is_a_config_error():
    # Dicts nested 5,000 deep (or a spec holding itself) raised Python's raw RecursionError
    with pytest.raises(ConfigError, match="nests Dict spaces 5000 deep, more than Python's recursion reaches .*"
                                          "flatten it: one Dict whose keys name the leaves"):
        mg.space_from_spec(_nested(5000))
    spec: dict = {"type": "Dict", "spaces": {"b": {"type": "Discrete", "n": 2}}}
    spec["spaces"]["a"] = {"type": "Dict", "spaces": {"c": spec}}
    with pytest.raises(ConfigError, match="holds itself .* give each entry a spec of its own") as refused:
        mg.space_from_spec(spec)
    assert "flatten" not in str(refused.value)  # (flattening keeps the cycle; it said to before)
    space = mg.space_from_spec(_nested(50))  # a spec Python's recursion reaches is built as before
    assert mg.space_from_spec(space.to_spec()).to_spec() == _nested(50)


@pytest.mark.parametrize("huge", [1e300, 10**300], ids=["float", "int"])
def test_an_index_or_seed_of_hundreds_of_digits_is_shortened_in_its_refusal(huge):
    # the refusal printed all 301 digits of int(1e300) (Discrete.index / validate, task_index, tasks_at, SeedSpace)
    from magister.spaces import task_index

    checks = [lambda: mg.Discrete(3).index(huge), lambda: mg.Discrete(["a", "b"]).validate(huge),
              lambda: task_index(huge, 3), lambda: mg.Discrete(3).task_at(huge),
              lambda: mg.Discrete(3).tasks_at([0, huge]), lambda: SeedSpace(5).validate(huge),
              lambda: SeedSpace().validate(huge)]
    for check in checks:
        with pytest.raises(InvalidTaskError, match=r"(task index|level seed) 10000000000000000\d{60}\.\.\. is outside") as e:
            check()
        assert len(str(e.value)) < 200
    with pytest.raises(InvalidTaskError, match=r"task index 5 is outside Discrete\(3\); valid indices are 0\.\.2$"):
        mg.Discrete(3).index(5)  # a short one is written whole, as before


def test_a_number_past_pythons_4300_digit_repr_limit_is_described_by_its_size_in_a_refusal():
    # repr(10**5000) raises ValueError ("Exceeds the limit (4300 digits) for integer string conversion"), which came
    # out raw while ScoreRange, Discrete.index or SeedSpace wrote their refusals of such a number
    from magister.settings import short_number

    assert short_number(10**5000) == "an integer of about 5,001 digits"
    assert short_number(-(10**5000)) == "an integer of about 5,001 digits"
    assert short_number(10**300).endswith("(301 characters)")  # under the limit: shortened as before
    with pytest.raises(ConfigError, match="ScoreRange.high must be a finite number, got an integer of about 5,001"):
        mg.ScoreRange(0, 10**5000)
    for check in (lambda: mg.Discrete(3).index(10**5000), lambda: SeedSpace(5).validate(10**5000)):
        with pytest.raises(InvalidTaskError, match="an integer of about 5,001 digits is outside"):
            check()
