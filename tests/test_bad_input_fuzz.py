"""Bad input to the public surface is a clear magister error and changes nothing (found by an input fuzzer)."""

from __future__ import annotations

import numpy as np
import pytest

import magister as mg
from magister.errors import ConfigError, InvalidScoreError, MagisterError, SettingTypeError
from magister.levels.spaces import SeedSpace
from magister.testing import ToyLearner, states_equal


def _driven(name: str, space: mg.Space, steps: int = 10) -> mg.Teacher:
    cls = mg.teacher_class(name)
    t = cls(space, seed=4, **dict(getattr(cls, "conformance_kwargs", {})))
    learner = ToyLearner(space)
    for _ in range(steps):
        x = t.propose()
        t.observe(x, learner.attempt(x))
    return t


@pytest.mark.parametrize("name", ["exp3", "uniform", "alp-gmm"])
def test_scores_in_a_masked_array_with_masked_entries_are_refused_not_taken_from_under_the_mask(name):
    space = mg.Box([0, 0], [1, 1]) if name == "alp-gmm" else mg.Discrete(3)
    t = _driven(name, space)
    tasks = list(t.propose(2))
    before = t.state_dict()
    # the first score is masked (a missing outcome); numpy's asarray dropped the mask and 0.9 was recorded
    with pytest.raises(InvalidScoreError, match=r"masked array.*position 0"):
        t.observe_batch(tasks, np.ma.masked_array([0.9, 0.2], mask=[True, False]))
    assert states_equal(before, t.state_dict())
    t.observe_batch(tasks, np.ma.masked_array([0.9, 0.2], mask=[False, False]))  # a mask that hides nothing: fine
    assert t.n_observed == before["n_observed"] + 2


@pytest.mark.parametrize("infos", [5, object(), "ab", {"train": True}])
def test_a_level_teachers_give_back_refuses_infos_that_are_not_one_dict_per_task(infos):
    t = _driven("plr", SeedSpace(40))
    task = t.propose()
    before = t.state_dict()
    with pytest.raises(ConfigError, match="give_back"):  # list(5) raised Python's "'int' object is not iterable"
        t.give_back([task], infos)
    assert states_equal(before, t.state_dict())
    assert t.give_back([task], iter([None])) == 1  # an iterator of infos is fine


_SPACES = [mg.Box([0, 0], [1, 2]), mg.Discrete(["a", "b", "c"]), mg.MultiDiscrete([2, 3]),
           mg.Dict({"a": mg.Discrete(2), "b": mg.Box([0], [1])}), SeedSpace(5), SeedSpace()]


@pytest.mark.parametrize("space", _SPACES + [mg.levels.spaces.MazeSpace(6)], ids=repr)
@pytest.mark.parametrize("k", [-1, 1.5, True, "3", [2], object(), float("inf"), 2**64])
def test_space_sample_refuses_a_count_that_is_not_a_whole_number_of_tasks(space, k):
    # int(k) took 1.5 and True as 1, raised numpy's or Python's own errors, and a maze space drew mazes for ever
    with pytest.raises(ConfigError, match=r"sample\(rng, k\) needs k"):
        space.sample(np.random.default_rng(0), k)


@pytest.mark.parametrize("space", _SPACES + [mg.levels.spaces.MazeSpace(6)], ids=repr)
@pytest.mark.parametrize("rng", [0, None, "x", np.random.RandomState(0), np.random.SeedSequence(0)],
                         ids=lambda r: type(r).__name__)
def test_space_sample_refuses_an_rng_that_is_not_a_numpy_generator(space, rng):
    # space.sample(0) (a seed for a generator) raised Python's "'int' object has no attribute 'random'", and a
    # legacy RandomState drew through a Box or a Discrete but failed inside a SeedSpace
    with pytest.raises(SettingTypeError, match=r"sample\(rng, k\) needs a numpy Generator.*default_rng\(seed\)"):
        space.sample(rng)
    with pytest.raises(SettingTypeError, match="numpy Generator"):
        space.sample(rng, 2)


@pytest.mark.parametrize("space", _SPACES[:5], ids=repr)
def test_space_sample_of_a_valid_count_is_unchanged(space):
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    assert [space.to_json(x) for x in space.sample(a, np.int64(4))] == [space.to_json(x) for x in space.sample(b, 4)]
    assert len(space.sample(a, 0)) == 0


@pytest.mark.parametrize("space", [s for s in _SPACES if s.n is not None], ids=repr)
@pytest.mark.parametrize("i", [None, "x", 1.5, True, float("inf"), float("nan"), [1], -1, 10**30])
def test_task_at_refuses_what_is_no_task_index_with_an_invalid_task_error(space, i):
    with pytest.raises(mg.InvalidTaskError, match="task index"):
        space.task_at(i)
    with pytest.raises(mg.InvalidTaskError, match="task index"):
        space.tasks_at([0, i])
    assert space.task_at(1.0) == space.task_at(np.int64(1)) == space.task_at(np.array(1)) == space.tasks_at([1])[0]


@pytest.mark.parametrize("space", _SPACES + [mg.levels.spaces.MazeSpace(6)], ids=repr)
@pytest.mark.parametrize("vecs", [None, "x", {}, [[0.5] * 7], 10**400, [object()]])
def test_from_unit_refuses_what_is_no_unit_vector_with_an_invalid_task_error(space, vecs):
    if isinstance(vecs, list) and len(vecs) == 1 and isinstance(vecs[0], list) and space.dim == 1:
        vecs = [[0.5] * 3, [0.5]]  # (ragged) 7 coordinates fill 7 rows of one
    with pytest.raises(mg.InvalidTaskError, match="unit vector"):
        space.from_unit_batch(vecs)
    with pytest.raises(mg.InvalidTaskError, match="unit vector"):
        space.from_unit(vecs)


@pytest.mark.parametrize("make", [mg.Box, lambda low, high, names: mg.MultiDiscrete([2, 2], names=names)])
@pytest.mark.parametrize("names", [3, True, np.array(3), "ab", b"ab"])
def test_dimension_names_that_are_not_a_list_of_names_are_a_config_error(make, names):
    # a number raised "'int' object is not iterable"; "ab" named the two dimensions "a" and "b"
    with pytest.raises(ConfigError, match="names are a list of 2 names"):
        make([0, 0], [1, 1], names=names)
    assert make([0, 0], [1, 1], names=("a", "b")).names == ["a", "b"]
    with pytest.raises(ConfigError, match=r"write names=\['speed'\]"):
        mg.Box([0], [1], names="speed")


@pytest.mark.parametrize("spec", [{"type": np.array(["Box", "Dict"])}, {"type": ["Box"]}, {"type": None}])
def test_a_space_spec_whose_type_is_not_a_name_is_a_config_error(spec):
    with pytest.raises(ConfigError, match="'type' is the name of a kind of space"):
        mg.space_from_spec(spec)


def test_numbers_beyond_any_float_in_space_settings_are_a_config_error():
    with pytest.raises(ConfigError, match="wall_density must lie in"):
        mg.levels.spaces.MazeSpace(6, wall_density=10**400)
    with pytest.raises(ConfigError, match="is a number"):
        mg.Discrete([10**400, "b"])


@pytest.mark.parametrize("name", [[], {}, 3, None])
def test_make_teacher_refuses_a_name_that_is_not_a_string(name):
    with pytest.raises(ConfigError, match="a teacher is named by a string"):
        mg.make_teacher(name, mg.Discrete(3))


@pytest.mark.parametrize("seed", ["x", 1.5, True, [1], np.array(3)])
def test_a_seed_of_the_wrong_type_is_a_magister_error_and_still_a_type_error(seed):
    with pytest.raises(MagisterError, match="seed must be an int") as e:
        mg.make_teacher("uniform", mg.Discrete(3), seed=seed)
    assert isinstance(e.value, TypeError)


@pytest.mark.parametrize("teacher, setting", [
    ("accel", "initial"), ("plr", "prioritization"), ("learnability", "prioritization"),
    ("continual-designer", "rule"), ("exp3", "reward"), ("sec", "reward"), ("lp-bandit", "transform"),
    ("pfsp", "weighting"), ("riac", "child_lp"), ("riac", "cuts")])
def test_a_choice_setting_given_an_array_is_a_config_error_not_numpys_ambiguous_truth_value(teacher, setting):
    space = {"continuous": mg.Box([0, 0], [1, 1]), "level": SeedSpace(20)}.get(mg.teacher_class(teacher).kind,
                                                                                 mg.Discrete(4))
    with pytest.raises(ConfigError, match=r"array\(\['a', 'b'\]"):  # the check's own message, naming the value
        mg.make_teacher(teacher, space, **{setting: np.array(["a", "b"])})


@pytest.mark.parametrize("teacher, setting", [("continual-order", "similarity"), ("skill-it", "graph")])
def test_a_matrix_setting_of_an_integer_beyond_any_float_is_a_config_error(teacher, setting):
    with pytest.raises(ConfigError, match=setting):
        mg.make_teacher(teacher, mg.Discrete(3), **{setting: [[10**400] * 3] * 3})


@pytest.mark.parametrize("setting, value", [
    ("skills", "x"), ("skills", [1, 2]), ("prerequisites", "x"), ("prerequisites", {"0": 1}),
    ("prerequisites", {"0": "1"}), ("model_settings", "x"), ("model_settings", b"x"), ("model", [[]]),
    ("model", np.array([1, 2])), ("prerequisites", {"1": np.array("0")})])  # (a 0-d array: numpy's TypeError)
@pytest.mark.parametrize("teacher", ["mastery-learning", "spaced-review"])
def test_people_policies_refuse_malformed_settings_with_a_config_error(teacher, setting, value):
    with pytest.raises(ConfigError, match=setting if setting != "model" else "model"):
        mg.make_teacher(teacher, mg.Discrete(3), **{setting: value})


@pytest.mark.parametrize("entry, value", [("algorithm", "x"), ("algorithm", None), ("config", "x"), ("config", [])])
def test_load_state_dict_refuses_an_algorithm_or_config_entry_that_is_not_a_dict(entry, value):
    t = _driven("uniform", mg.Box([0, 0], [1, 1]))  # keeps no state of its own: it took any 'algorithm'
    state = t.state_dict()
    state[entry] = value
    with pytest.raises(mg.CheckpointError, match=f"its '{entry}' entry is"):
        t.load_state_dict(state)


def test_numpys_masked_constant_is_refused_as_a_score_without_numpys_warning():
    import warnings

    for name, space in (("exp3", mg.Discrete(3)), ("plr", SeedSpace(40))):  # a bounded and an open score range
        t = _driven(name, space)
        task = t.propose()
        before = t.state_dict()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy warned "converting a masked element to nan"
            with pytest.raises(InvalidScoreError, match="masked constant"):
                t.observe(task, np.ma.masked)
        assert states_equal(before["algorithm"], t.state_dict()["algorithm"])


@pytest.mark.parametrize("kind, score", [
    ("one", np.ma.masked_array(1, mask=True)),  # an int: numpy raised its own MaskError
    ("one", np.ma.masked_array(0.7, mask=True)),  # a float: numpy warned, made it NaN, and the error spoke of NaN
    ("batch", [np.ma.masked_array(1, mask=True), 0]),
    ("batch", [0.5, np.ma.masked]),
    ("batch", (1, np.ma.masked)),
])
def test_a_masked_score_in_any_form_is_refused_as_masked_and_changes_nothing(kind, score):
    import warnings

    for name, space in (("exp3", mg.Discrete(3)), ("plr", SeedSpace(40))):  # a bounded and an open score range
        t = _driven(name, space)
        tasks = list(t.propose(2))
        before = t.state_dict()
        with warnings.catch_warnings():
            # one score: numpy's "converting a masked element to nan" is not given (a batch is not scanned for
            # masked entries on every call, only once numpy's conversion failed or gave a NaN)
            warnings.simplefilter("error" if kind == "one" else "ignore")
            with pytest.raises(InvalidScoreError, match="masked"):
                t.observe(tasks[0], score) if kind == "one" else t.observe_batch(tasks, score)
        assert states_equal(before["algorithm"], t.state_dict()["algorithm"])
        assert t.n_observed == before["n_observed"]


@pytest.mark.parametrize("density", [[0, 10**400], (10**400, 10**401), 10**400])
def test_a_maze_space_refuses_a_wall_density_beyond_any_float_as_a_config_error_with_a_short_message(density):
    from magister.levels.spaces import MazeSpace

    # the pair raised Python's OverflowError from float() (the single number was fixed; the pair was not)
    with pytest.raises(ConfigError, match="wall_density") as e:
        MazeSpace(6, wall_density=density)
    assert len(str(e.value)) < 300  # not a 400-digit number


# ------------------------------------------------------------------------------------------ the fuzzer
class _Opaque:
    def __repr__(self) -> str:
        return "_Opaque()"


def _malformed_tasks(space: mg.Space, good) -> list:
    """Tasks no space takes, whatever its kind, plus a few of the space's own kind that are out of it."""
    out = [None, "no-such-task", b"x", True, np.bool_(False), [], [[[0.5]]], {"q": 1}, _Opaque(), 10**400, 2**64,
           float("nan"), float("inf"), -1, 1 + 2j, {1}, np.array([_Opaque()], dtype=object), np.array("zz"),
           np.array([0.5, 0.5, 0.5], dtype=np.float16), ..., ()]
    if isinstance(space, mg.Box):
        d = space.dim
        out += [[0.5] * (d + 1), np.full((2, d), 0.5), ["a"] * d, [True] * d, [None] * d, [10**400] * d,
                space.high + 1, [float("nan")] * d, np.array([_Opaque()] * d, dtype=object)]
    elif isinstance(space, mg.MultiDiscrete):
        d = space.dim
        out += [[int(v) for v in space.nvec], [0] * (d + 1), [0.5] * d, ["0"] * d, [False] * d, [2**64] * d,
                [[0]] * d, [float("nan")] * d]
    elif isinstance(space, mg.Dict):
        out += [{}, {k: None for k in space.keys}, {**good, "extra": 1}, list(good.values())]
    elif space.n is not None:
        out += [space.n, 1.5, [0], np.array([0]), 1e300]
    return out


_BAD_SCORES = [float("nan"), float("inf"), -float("inf"), "0.5", None, [0.5], np.array([0.5]), 10**400, 0.5 + 0j,
               b"0.5", {}, _Opaque(), np.array(_Opaque(), dtype=object), np.float16("nan"), {0.5}, np.ma.masked]
_BAD_K = [0, -1, 1.5, True, "3", 10**30, [2], np.float64(2.0), np.array([2]), float("nan"), _Opaque()]


def _bad_batches(space: mg.Space, goods: list) -> list[tuple]:
    n = len(goods)
    return [(goods, [0.5] * (n - 1)), (goods, [0.5] * (n + 1)), ([], [0.5]), (goods, []), (None, [0.5]),
            (goods, None), (5, [0.5]), (goods, "ab"), (goods, ["a"] * n), (goods, np.full((n, 1), 0.5)),
            (goods, set(range(n))), (goods, dict.fromkeys(range(n), 0.5)), (goods, [None] * n),
            (goods, np.array([_Opaque()] * n, dtype=object)), (goods, [0.5] * (n - 1) + [float("nan")]),
            (goods, [[0.5]] * n), ("abc", [0.5] * 3), ({"a": 1}, [0.5]), ({0}, [0.5]),
            (goods[:-1] + [None], [0.5] * n), (goods, [10**400] * n),
            (goods, np.ma.masked_array([0.5] * n, mask=[True] + [False] * (n - 1))), (np.array(0), [0.5])]


def _spaces_of(kind: str) -> list[mg.Space]:
    return {"continuous": [mg.Box([0.0, -5.0], [1.0, 5.0], names=["a", "b"]),
                           mg.Dict({"level": mg.Discrete(3), "speed": mg.Box([0.5], [2.0])})],
            "discrete": [mg.Discrete(["add", "sub", "mul", "div"]), mg.MultiDiscrete([3, 4])],
            "level": [SeedSpace(40), mg.levels.spaces.MazeSpace(6, wall_density=0.2)],
            "any": [mg.Discrete(7), mg.Box([0.0] * 3, [1.0, 2.0, 10.0])]}[kind]


def _fuzz_cases():
    for name in mg.available_teachers():
        for space in _spaces_of(mg.teacher_class(name).kind):
            yield pytest.param(name, space, id=f"{name}-{type(space).__name__}")


@pytest.mark.parametrize("name, space", list(_fuzz_cases()))
def test_fuzzed_bad_input_is_a_magister_error_and_changes_nothing(name, space):
    """Every registered teacher, malformed input to observe, observe_batch, propose and load_state_dict (a seeded
    draw from the lists above: wrong shapes and types, tasks out of the space, NaN or text scores, mismatched or
    empty batches, state dicts with missing, extra or mistyped entries): each call raises a MagisterError (never
    numpy's or Python's own) and leaves a teacher whose state and next proposals are those of its untouched copy."""
    import copy

    rng = np.random.default_rng(23)
    base = _driven(name, space, steps=8)
    good = base.propose()
    goods = list(base.propose(3))
    calls = [(f"observe({t!r:.40}, 0.5)", lambda x, t=t: x.observe(t, 0.5)) for t in _malformed_tasks(space, good)]
    calls += [(f"observe(good, {s!r:.40})", lambda x, s=s: x.observe(good, s)) for s in _BAD_SCORES]
    calls += [(f"observe_batch({a!r:.40}, {b!r:.40})", lambda x, a=a, b=b: x.observe_batch(a, b))
              for a, b in _bad_batches(space, goods)]
    calls += [(f"propose({k!r:.40})", lambda x, k=k: x.propose(k)) for k in _BAD_K]
    calls += [(f"propose_with_info({k!r:.40})", lambda x, k=k: x.propose_with_info(k)) for k in _BAD_K[:4]]
    state = base.state_dict()
    for key in ("teacher", "space", "rng", "n_observed", "algorithm"):
        for value in (None, "x", [], -1, 1.5, _Opaque()):
            bad = copy.deepcopy(state)
            bad[key] = value
            calls.append((f"load_state_dict({key}={value!r})", lambda x, bad=bad: x.load_state_dict(bad)))
    bad = copy.deepcopy(state)
    del bad["rng"]
    calls += [("load_state_dict(no rng)", lambda x, bad=bad: x.load_state_dict(bad)),
              ("load_state_dict(None)", lambda x: x.load_state_dict(None))]
    if hasattr(base, "give_back"):
        calls += [(f"give_back([{t!r:.40}])", lambda x, t=t: x.give_back([t])) for t in _malformed_tasks(space, good)]
        calls += [("give_back(infos=5)", lambda x: x.give_back([good], 5))]
    picked = sorted(rng.choice(len(calls), size=min(len(calls), 60), replace=False))
    for i in picked:
        what, call = calls[i]
        t, twin = copy.deepcopy(base), copy.deepcopy(base)
        try:
            call(t)
        except MagisterError as e:
            assert str(e), f"{name}: {what} raised an empty {type(e).__name__}"
        except Exception as e:  # noqa: BLE001
            raise AssertionError(f"{name} on {space!r}: {what} raised {type(e).__name__}: {e}") from None
        else:
            raise AssertionError(f"{name} on {space!r}: {what} was accepted")
        assert states_equal(t.state_dict(), twin.state_dict()), f"{name}: refused {what} changed the state"
        a, b = t.propose(3), twin.propose(3)
        assert [space.to_json(x) for x in a] == [space.to_json(x) for x in b], f"{name}: {what} changed proposals"


# ----------------------------------------------------- found by a sequence fuzzer of the newer components
_DATES = [np.timedelta64(1, "s"), np.datetime64("2020-01-01"), np.timedelta64(3)]


@pytest.mark.parametrize("name, space", [("exp3", mg.Discrete(3)), ("plr", SeedSpace(40))])
@pytest.mark.parametrize("score", _DATES, ids=repr)
def test_a_numpy_date_or_duration_is_refused_as_a_score_and_changes_nothing(name, space, score):
    # numpy's timedelta64 is an integer type: one raised Python's OverflowError or TypeError; a datetime64, and either
    # in a batch, was recorded as its count of days or seconds
    t = _driven(name, space)
    tasks = list(t.propose(2))
    before = t.state_dict()
    with pytest.raises(InvalidScoreError, match="scores must be numbers"):
        t.observe(tasks[0], score)
    with pytest.raises(InvalidScoreError, match="scores must be numbers"):
        t.observe_batch(tasks, np.array([score, score]))
    with pytest.raises(InvalidScoreError, match="scores must be numbers"):
        t.observe_batch(tasks, [0.5, score])
    assert states_equal(before, t.state_dict())
    t.observe(tasks[0], np.int64(1))  # numpy integers are scores still
    assert t.n_observed == before["n_observed"] + 1


@pytest.mark.parametrize("task", [np.array([1, 2], dtype="m8[s]"), [np.timedelta64(1, "s"), 2]], ids=repr)
def test_a_box_task_of_durations_is_refused(task):
    with pytest.raises(mg.InvalidTaskError, match="is not a vector of 2 numbers"):  # was taken as [1.0, 2.0]
        mg.Box([0, 0], [10, 10]).validate(task)


def _prompts(categories: bool = True):
    from magister.data import PromptCurriculum

    teacher = mg.make_teacher("sec", mg.Discrete(["a", "b"] if categories else 4), seed=0)
    return PromptCurriculum(teacher, categories=["a", "b", "a", "b"] if categories else None, seed=0)


@pytest.mark.parametrize("prompts", [None, 1.5, True, "1", float("nan"), {0: 1}, [0, 0.5], np.array([np.bool_(1)]),
                                     object()], ids=lambda v: "object()" if type(v) is object else repr(v))
def test_prompt_curriculum_task_of_refuses_what_is_no_prompt_index(prompts):
    # None, NaN or a dict raised numpy's or Python's own error; 1.5 was cut to 1, True read as 1, "1" parsed
    cur = _prompts()
    with pytest.raises(ConfigError, match="prompt indices must be whole numbers"):
        cur.task_of(prompts)
    assert cur.task_of([0.0, 3]).tolist() == cur.task_of(np.array([0, 3])).tolist() == [0, 1]
    assert cur.task_of(np.int64(2)).tolist() == 0 and cur.task_of([[1]]).shape == (1, 1)
    with pytest.raises(ConfigError, match=r"must be in 0..3"):
        cur.task_of([2**64])


def test_prompt_curriculum_refuses_a_reward_past_any_float_and_records_nothing():
    cur = _prompts()
    cur.next_prompts(2)
    before = cur.state_dict()
    with pytest.raises(InvalidScoreError, match="rewards must be numbers"):  # numpy's raw OverflowError
        cur.observe([0, 1], [10**400, 0])
    with pytest.raises(InvalidScoreError, match="rewards must be numbers"):  # a duration was a reward of 1.0
        cur.observe([0, 1], [np.timedelta64(1, "s"), 0])
    assert states_equal(before, cur.state_dict())


@pytest.mark.parametrize("key, value", [("kind", np.array([1, 2])), ("by", np.array([1, 2])),
                                        ("feedback", np.array([1, 2])), ("step", 2.5), ("step", -1),
                                        ("groups_observed", 1.5), ("n_prompts", 4.7), ("rng", np.array([-1, 2])),
                                        ("rng", "x"), ("rng", []), ("cursor", [2**64, 0]),
                                        ("prompts_fingerprint", np.array([1, 2])), ("prompts_fingerprint", 5)],
                         ids=str)
def test_prompt_curriculum_load_refuses_damaged_entries_changing_nothing(key, value):
    # an array as 'kind', 'by' or 'feedback' raised numpy's truth-value error, an array as 'rng' Python's IndexError,
    # a count past int64 numpy's OverflowError; int() cut a fractional step or count to a whole one
    saved = _prompts()
    saved.next_prompts(2)
    state = dict(saved.state_dict(), **{key: value})
    cur = _prompts()
    before = cur.state_dict()
    with pytest.raises(ConfigError, match="not a PromptCurriculum state" if key == "kind" else "malformed"):
        cur.load_state_dict(state)
    assert states_equal(before, cur.state_dict())


def _mixers():
    from magister.data import SkillSampler, SkillStream

    def teacher():
        return mg.make_teacher("exp3", mg.Discrete(["a", "b", "c"]), seed=0)

    return [lambda: SkillSampler([0, 1, 2] * 10, teacher(), 6, seed=0),
            lambda: SkillStream({n: list(range(i * 100, i * 100 + 7)) for i, n in enumerate("abc")}, teacher(), 6,
                                seed=0)]


@pytest.mark.parametrize("make", _mixers(), ids=["sampler", "stream"])
@pytest.mark.parametrize("values", [{"a": 1.0}, {0.5, 0.25}, [10**400] * 6], ids=["dict", "set", "huge"])
def test_per_example_feedback_that_is_no_sequence_of_numbers_is_refused_and_the_batch_waits(make, values):
    mixer = make()  # a dict or a set raised Python's "float() argument must be ... not 'dict'"
    mixer.next_batch()
    before = mixer.state_dict()
    for observe in (mixer.observe_batch_loss, mixer.observe_batch_correct):
        with pytest.raises(InvalidScoreError, match="values must be a sequence of numbers"):
            observe(values)
    assert mixer.pending == 1 and states_equal(before, mixer.state_dict())


_COMMON = [("step", -1), ("step", 1.5), ("dropped", 1.5), ("floor_next", 1.5), ("settings", "x"),
           ("rng", np.array([-1, 2])), ("rng", [1]), ("drawn", [2**64, 0, 0])]
_STREAM = [("ended", "x"), ("ended", 2), ("exhausted", [2, 0, 0]), ("passes", [1.5, 0, 0]),
           ("consumed", np.array([True, False, False]))]


@pytest.mark.parametrize("which, key, value", [(w, k, v) for w in (0, 1) for k, v in _COMMON + _STREAM * w],
                         ids=lambda x: str(x)[:20])
def test_a_mixer_refuses_a_damaged_state_entry_changing_nothing(which, key, value):
    # int() and bool() took them (a negative step, 1.5 cut to 1, "x" as a stream that ended, a settings entry that is
    # no dict as a state without one); an array as the generator state raised Python's IndexError, a count past
    # int64 numpy's OverflowError
    make = _mixers()[which]  # a SkillSampler, a SkillStream
    saved = make()
    saved.next_batch()
    saved.observe_batch_loss(np.ones(6))
    state = dict(saved.state_dict(), **{key: value})
    mixer = make()
    before = mixer.state_dict()
    with pytest.raises(ConfigError, match="malformed"):
        mixer.load_state_dict(state)
    assert states_equal(before, mixer.state_dict())
    mixer.load_state_dict(saved.state_dict())  # the state as saved is fine
    assert states_equal(saved.state_dict(), mixer.state_dict())


@pytest.mark.parametrize("entry", ["n_trained", "n_rounds", "next_round"])
def test_learnability_refuses_a_state_with_negative_counts(entry):
    t = _driven("learnability", SeedSpace(20))
    state = t.state_dict()
    state["algorithm"][entry] = -1  # int() took it: a damaged checkpoint went on with a negative count
    before = t.state_dict()
    with pytest.raises(mg.CheckpointError, match=f"saved {entry} must be a whole number >= 0"):
        t.load_state_dict(state)
    assert states_equal(before, t.state_dict())


@pytest.mark.parametrize("field, value", [("outcome", 10**400), ("duration", 10**400), ("skills", 5),
                                          ("skills", None), ("skills", float("nan"))], ids=lambda x: str(x)[:12])
def test_an_event_with_a_field_of_the_wrong_kind_is_a_config_error(field, value):
    from magister.people import Event

    # Python's OverflowError from float(), or "'int' object is not iterable" from the skills
    with pytest.raises(ConfigError, match=f"event {field}"):
        Event(**{"learner": "ana", "item": "q1", "outcome": 1, field: value})
    assert Event(learner="ana", item="q1", skills=["s", 2]).skills == ("s", "2")


def _pool_with_two(tmp_path):
    from magister.opponents import OpponentPool

    pool = OpponentPool(tmp_path / "pool", max_size=4, max_ids=10)
    pool.add(b"first")
    pool.add(b"second")
    return pool


def _pool_record(tmp_path, d):
    pool = _pool_with_two(tmp_path)
    assert d not in pool
    pool.record(d)


def _opponent_game(tmp_path, d):
    from pettingzoo.classic import tictactoe_v3

    from magister.rl.pettingzoo import OpponentEnv

    env = OpponentEnv(tictactoe_v3.env, _pool_with_two(tmp_path), lambda data: lambda obs: 0)
    try:
        env.reset(seed=0, options={"task": d})
    finally:
        assert env.opponent_id is None  # no game was started (np.timedelta64(1) played opponent 1)


def _teacher_state_version(tmp_path, d):
    t = mg.make_teacher("uniform", mg.Discrete(3), seed=0)
    before = t.state_dict()
    try:
        t.load_state_dict(dict(before, state_version=d))
    finally:
        assert states_equal(before, t.state_dict())


def _people_state_version(tmp_path, d):
    from magister.people import make_model

    model = make_model("elo")
    type(model).from_state(dict(model.get_state(), state_version=d))


def _level_buffer_seen(tmp_path, d):
    from magister.level_buffer import LevelBuffer

    buffer = LevelBuffer(3)
    buffer.advance()
    buffer.advance()
    try:
        buffer.add("a", "level a", 0.5, seen=d)
    finally:
        assert len(buffer) == 0


def _http_propose(tmp_path, d):
    import httpx

    from magister.serve import HTTPTeacher

    requests = []

    def answer(request):
        requests.append(request.method)
        return httpx.Response(200, json={"space": {"type": "Discrete", "n": 3}, "teacher": "uniform"})

    client = httpx.Client(transport=httpx.MockTransport(answer), base_url="http://testserver")
    remote = HTTPTeacher("http://testserver", "c", client=client)
    try:
        remote.propose(d)
    finally:
        assert requests == ["GET"]  # nothing proposed on the server


def _sequential_indices(tmp_path, d):
    mg.make_teacher("sequential", mg.Discrete(3), stages=[{"indices": [0, d]}], seed=0)


def _level_buffer_capacity(tmp_path, d):
    from magister.level_buffer import LevelBuffer

    LevelBuffer(d)


def _maze_mutator(tmp_path, d):
    from magister.levels.mutators import MazeMutator

    MazeMutator(d)


def _rehearsal(tmp_path, d):
    from magister.continual.learners import check_rehearsal

    check_rehearsal({d: 1.0}, 3)


def _sampler_eval(tmp_path, d):
    from magister.data import SkillSampler

    sampler = SkillSampler([0, 1, 2] * 4, mg.make_teacher("uniform", mg.Discrete(3), seed=0), batch_size=3, seed=0)
    sampler.observe_eval({d: 0.5})


def _stream_sources(tmp_path, d):
    from magister.data.streaming import SkillStream

    SkillStream({d: [1, 2], 0: [3], 2: [4]}, [1.0, 1.0, 1.0], batch_size=3, seed=0)


def _minigrid_seed(tmp_path, d):
    from magister.rl.minigrid import SeedTask

    SeedTask._check(d)


def _lego(tmp_path, d):
    from magister.data.synthetic import lego

    lego(d, seed=0)


def _skill_student(tmp_path, d):
    from magister.students import SkillStudent

    SkillStudent(d)


def _fit_elo(tmp_path, d):
    from magister.opponents.ratings import fit_elo

    fit_elo(np.full((2, 2), 0.5), np.ones((2, 2)), anchor=d)


def _exploration(tmp_path, d):
    mg.make_teacher("exp3", mg.Discrete(3), seed=0).exploration(d)


def _maze_size(tmp_path, d):
    from magister.levels import empty_maze

    empty_maze(d)


# (d is np.timedelta64(1) or np.timedelta64(7) in the unit below: numpy counts a duration an integer, so these took
# one without a unit as its count and raised Python's raw TypeError ("int() argument must be ... not
# 'datetime.timedelta'") for one in seconds, or numpy's own errors)
_DURATION_REFUSALS = [
    (_pool_record, "UnknownOpponentError", "an opponent id is a whole number"),
    (_opponent_game, "UnknownOpponentError", "an opponent id is a whole number"),
    (_teacher_state_version, "CheckpointError", "no valid state_version"),
    (_people_state_version, "CheckpointError", "no valid state_version"),
    (_level_buffer_seen, "ConfigError", "last visit must be a whole number"),
    (_level_buffer_capacity, "ConfigError", "capacity = a whole number"),
    (_http_propose, "ConfigError", r"propose\(k\) needs a positive whole number"),
    (_sequential_indices, "ConfigError", "is not a task number"),
    (_maze_mutator, "ConfigError", "n_edits"),
    (_rehearsal, "ConfigError", "keyed by class number"),
    (_sampler_eval, "UnknownTaskError", "unknown skill"),
    (_stream_sources, "UnknownTaskError", "sources name skill"),
    (_minigrid_seed, "InvalidTaskError", "a MiniGrid level is a seed"),
    (_lego, "ConfigError", "whole, non-negative example count"),
    (_skill_student, "ConfigError", "skills is a number of skills"),
    (_fit_elo, "ConfigError", "anchor must be a player index"),
    (_exploration, "SettingTypeError", r"exploration\(t\) takes the step"),
    (_maze_size, "ValueError", "maze size must be a whole number"),
]


@pytest.mark.parametrize("unit", [None, "s"])
@pytest.mark.parametrize("case, error, message", _DURATION_REFUSALS, ids=[c[0].__name__[1:] for c in _DURATION_REFUSALS])
def test_a_numpy_duration_is_no_count_index_or_id(tmp_path, case, error, message, unit):
    d = np.timedelta64(7 if case is _maze_size else 1, *([unit] if unit else []))
    if case in (_rehearsal, _sampler_eval, _stream_sources) and unit is None:
        d = np.timedelta64(1, "ms")  # (a duration without a unit is no dict key: numpy cannot hash it)
    with pytest.raises(Exception, match=message) as e:
        case(tmp_path, d)
    assert error in [c.__name__ for c in type(e.value).__mro__]
    assert "timedelta64" in str(e.value)


def _run(t: mg.Teacher, steps: int = 60) -> list:
    learner, seen = ToyLearner(t.space), []
    for _ in range(steps):
        tasks = list(t.propose(2))
        t.observe_batch(tasks, [learner.attempt(x) for x in tasks])
        seen += [t.space.to_json(x) for x in tasks]
    return seen


@pytest.mark.parametrize("name", ["riac", "riac-plus"])
def test_a_learning_progress_window_past_int64_is_the_whole_region_as_any_window_past_its_points(name):
    # a region holds max_points + 1 scores; lp_window=10**30 was taken, then failed the first refresh of progress
    # with numpy's raw "Python int too large to convert to C long"
    def make(lp_window):
        return mg.make_teacher(name, mg.Box([0, 0], [1, 1]), seed=0, max_points=30, min_width=0.1,
                               lp_window=lp_window)

    huge = make(10**30)
    assert _run(huge) == _run(make(31))
    assert huge.state_dict()["config"]["lp_window"] == 10**30  # the setting as given, saved and reloaded
    assert mg.loads(huge.to_bytes()).state_dict()["config"]["lp_window"] == 10**30


@pytest.mark.parametrize("name", ["riac", "riac-plus"])
@pytest.mark.parametrize("split_alpha", [5e-324, 1e-200])
def test_a_tiny_split_alpha_tests_cuts_as_a_small_one_does_not_with_a_python_error(name, split_alpha):
    # p = split_alpha / cuts underflowed to 0 (ZeroDivisionError "0.0 cannot be raised to a negative power"), or the
    # critical F over 5 points went past any float (OverflowError "Numerical result out of range"), at a split
    def make(alpha):
        return mg.make_teacher(name, mg.Box([0, 0], [1, 1]), seed=0, max_points=4, min_width=0.1, split_alpha=alpha)

    tiny = make(split_alpha)
    assert _run(tiny) == _run(make(1e-100))  # no noisy cut passes either test
    assert tiny.tree.n_nodes > 1  # cuts that leave no noise still pass
    assert mg.loads(tiny.to_bytes()).state_dict()["config"]["split_alpha"] == split_alpha


def test_learnability_with_an_evaluation_interval_past_any_count_saves_and_goes_on_as_before():
    # eval_interval=10**30 (one round, then none) was taken, but its next round was past 2**63 - 1 and every save
    # failed: "state dict for 'learnability' is malformed (ConfigError: saved next_round = 1000...)"
    def make(eval_interval):
        return mg.make_teacher("learnability", SeedSpace(40), seed=0, capacity=6, n_candidates=8, eval_episodes=2,
                               eval_interval=eval_interval)

    t, twin = make(10**30), make(2**62)  # 2**62: no later round either
    assert _run(t, 30) == _run(twin, 30)
    back = mg.loads(t.to_bytes())
    assert back.state_dict()["config"]["eval_interval"] == 10**30
    assert _run(back, 30) == _run(twin, 30)


@pytest.mark.parametrize("name", ["alp-gmm", "covar-gmm", "covar-gmm-plus"])
@pytest.mark.parametrize("reg", [1e-310, 5e-324])
def test_a_subnormal_covariance_regularisation_is_refused_not_a_teacher_that_cannot_be_loaded(name, reg):
    # taken: a collapsed component's fit held NaN, and loading the teacher's bytes was "state dict for 'alp-gmm' is
    # malformed (ValueError: mixture bank arrays hold NaN or infinite values)"
    with pytest.raises(ConfigError, match=r"reg must be a number >= 2.2250738585072014e-308, got"):
        mg.make_teacher(name, mg.Box([0, 0], [1, 1]), seed=0, fit_rate=40, potential_ks=[1, 2], reg=reg)
    t = mg.make_teacher(name, mg.Box([0, 0], [1, 1]), seed=0, fit_rate=40, potential_ks=[1, 2], reg=1e-300)
    _run(t, 80)
    assert states_equal(mg.loads(t.to_bytes()).state_dict(), t.state_dict())


def test_settings_checks_take_a_0d_array_as_the_number_it_holds_and_refuse_what_it_holds_otherwise():
    from magister import settings

    # a 0-d array (np.array(3), a numpy reduction kept as an array) was refused as "got array(3)", a numpy scalar taken
    assert settings.whole("n", np.array(3)) == 3 and type(settings.whole("n", np.array(3))) is int
    assert settings.number("x", np.array(0.25), 0.0, 1.0) == 0.25
    assert settings.flag("f", np.array(True)) is True
    for bad in (np.array(1.5), np.array(True), np.array(np.timedelta64(3)), np.array("3"), np.array("3", dtype=object)):
        with pytest.raises(ConfigError, match="n must be a whole number"):
            settings.whole("n", bad)
    for bad in (np.array(np.nan), np.array(False), np.array(np.timedelta64(1, "s")), np.array([0.5])):
        with pytest.raises(ConfigError, match="x must be a finite number"):
            settings.number("x", bad)
    with pytest.raises(ConfigError, match="f must be True or False"):
        settings.flag("f", np.array(1))


_ZERO_D = [("plr", "capacity", 16), ("exp3", "fast", 0.5), ("sec", "window", 8), ("learnability", "eval_interval", 20),
           ("alp-gmm", "warm_start", True), ("covar-gmm", "absolute_lp", True), ("covar-gmm", "binary_moments", True),
           ("riac", "balance", True), ("riac", "binary_noise", True), ("frontier", "relevance", False),
           ("alp-gmm", "reg", 1e-5), ("adr", "step", 0.2)]


@pytest.mark.parametrize("name, setting, value", _ZERO_D, ids=lambda x: str(x))
def test_a_teacher_takes_a_setting_given_as_a_0d_array_as_the_number_it_holds(name, setting, value):
    cls = mg.teacher_class(name)
    space = {"level": SeedSpace(40), "continuous": mg.Box([0, 0], [1, 1])}.get(cls.kind, mg.Discrete(5))

    def make(v):
        return mg.make_teacher(name, space, seed=0, **{**getattr(cls, "conformance_kwargs", {}), setting: v})

    t = make(np.array(value))  # refused: "capacity must be a whole number >= 1, got array(16)"
    assert _run(t, 30) == _run(make(value), 30)
    back = mg.loads(t.to_bytes())
    saved = back.state_dict()["config"][setting]
    assert saved == value and type(saved) is type(value)  # (array(16) == 16 held too: it was saved as an array)
    assert _run(back, 10) == _run(t, 10)


@pytest.mark.parametrize("n", [10**30, 10**6 + 1])
def test_continual_designer_refuses_more_search_candidates_than_it_can_keep_before_searching(n):
    from magister.teachers.continual_order import rank_orders

    sim = [[1, 0.5, 0.2], [0.5, 1, 0.3], [0.2, 0.3, 1]]
    # taken: the first proposal searched for ever, keeping every candidate order until memory ran out
    with pytest.raises(ConfigError, match=r"n_candidates=.* is too large for memory \(limit 1000000\)"):
        mg.make_teacher("continual-designer", mg.Discrete(3), similarity=sim, n_candidates=n)
    with pytest.raises(ConfigError, match="n_candidates"):
        rank_orders(sim, n_candidates=n)
    t = mg.make_teacher("continual-designer", mg.Discrete(3), seed=0, similarity=sim, n_candidates=0)
    assert t.propose() in (0, 1, 2) and len(rank_orders(sim, n_candidates=0)) == 1


_SIM = [[1, 0.5, 0.2], [0.5, 1, 0.3], [0.2, 0.3, 1]]
_TEXT_AS_NUMBERS = [
    ("alp-gmm", "potential_ks", ["2"], "potential_ks must be"), ("covar-gmm", "potential_ks", [1, b"2"], "potential_ks"),
    ("alp-gmm", "potential_ks", {2: 1}, "potential_ks must be"),  # (read as its keys)
    ("difficulty-band", "band", [0.7, "0.85"], "band must be two probabilities"),
    ("difficulty-band", "band", [True, 1], "band must be two probabilities"),
    ("continual-designer", "similarity", [["1", 0.5, 0.2], [0.5, 1, 0.3], [0.2, 0.3, 1]], "similarity must be"),
    ("continual-order", "similarity", [[1, 0.5 + 0j, 0.2], [0.5, 1, 0.3], [0.2, 0.3, 1]], "similarity must be"),
    ("skill-it", "graph", [[1, "0.5", 0], [0, 1, 0], [0, 0, 1]], "graph must be"),
    ("skill-it", "target", ["1", 1, 1], "target must be"),
    ("skill-it", "target", [np.timedelta64(1), 1, 1], "target must be"),
]


@pytest.mark.parametrize("name, setting, value, match", _TEXT_AS_NUMBERS, ids=lambda x: repr(x)[:30])
def test_list_settings_holding_text_or_what_is_no_real_number_are_refused_not_parsed(name, setting, value, match):
    # each was taken: np.asarray(..., dtype=float) / float() / int() parsed "0.85", dropped 0.5+0j's imaginary part
    # and counted a duration, and the teacher ran on the numbers read so
    cls = mg.teacher_class(name)
    with pytest.raises(ConfigError, match=match):
        cls(mg.Discrete(3) if cls.kind == "discrete" else mg.Box([0, 0], [1, 1]), seed=0,
            **{**getattr(cls, "conformance_kwargs", {}), setting: value})


def test_the_same_list_settings_of_numbers_are_taken_as_before():
    from magister.settings import numbers_only

    assert numbers_only([[1, 10**30], [0.5, np.float32(1)]]) and numbers_only([[1, 0], [0]])  # (ragged: not judged)
    assert not numbers_only([1, None]) and not numbers_only(np.array(["1"]))
    assert mg.make_teacher("skill-it", mg.Discrete(3), graph=_SIM, target=[0, 0, 1]).target.tolist() == [0, 0, 1]
    assert mg.make_teacher("continual-order", mg.Discrete(3), similarity=np.array(_SIM)).similarity.tolist() == _SIM
    assert mg.make_teacher("difficulty-band", mg.Discrete(3), band=(np.float64(0.2), np.array(0.8))).band == (0.2, 0.8)
    assert mg.make_teacher("alp-gmm", mg.Box([0], [1]), potential_ks=(1, 2.0, np.int64(3))).potential_ks == [1, 2, 3]


@pytest.mark.parametrize("name, setting", [("continual-order", "similarity"), ("continual-designer", "similarity"),
                                           ("skill-it", "graph")])
def test_a_matrix_setting_given_as_an_object_array_is_saved_as_the_numbers_it_holds(name, setting):
    # taken, but every save failed: "state entry state.config.similarity is an object array, which cannot be saved
    # safely" (a DataFrame of mixed columns gives such an array)
    given = np.array(_SIM, dtype=object)
    t = mg.make_teacher(name, mg.Discrete(3), seed=0, **{setting: given})
    twin = mg.make_teacher(name, mg.Discrete(3), seed=0, **{setting: _SIM})
    assert _run(t, 10) == _run(twin, 10)
    back = mg.loads(t.to_bytes())
    assert back.state_dict()["config"][setting] == _SIM
    assert _run(back, 10) == _run(twin, 10)
