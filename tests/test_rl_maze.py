"""MazeEnv: MiniGrid's rules on a text maze, the same as MiniGrid's own engine; the held-out set; seed tasks."""

from __future__ import annotations

import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from magister.errors import ConfigError, InvalidActionError, InvalidTaskError
from magister.levels import Maze
from magister.rl.envs.maze import (HELDOUT_FAMILIES, OBS_DIM, VIEW, MazeBatch, MazeEnv, evaluate_mazes,
                                   heldout_mazes, maze_family, maze_from_seed)

CORRIDOR = """
#######
#S...G#
#######
"""


def _front_is_goal(obs: np.ndarray) -> np.ndarray:
    return obs[:, VIEW * VIEW + (VIEW - 2) * VIEW + VIEW // 2] > 0


def test_rules_turns_walls_goal_reward_and_time_limit():
    env = MazeEnv(Maze.parse(CORRIDOR), max_steps=20)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (OBS_DIM,) and obs.dtype == np.float32
    assert env.agent[:2] == (1, 1)
    total = 0
    while env.agent[2] != 3:  # face north: a wall in front
        env.step(1)
        total += 1
    env.step(2)
    assert env.agent[:2] == (1, 1)  # walked into the wall: stayed
    env.step(1)
    assert env.agent[2] == 0  # right turn from north faces east
    env.step(0)
    assert env.agent[2] == 3  # left turn from east faces north
    env.step(1)
    total += 4
    for i in range(4):
        obs, reward, term, trunc, info = env.step(2)
        total += 1
    assert term and not trunc and info["is_success"] is True
    assert reward == pytest.approx(1 - 0.9 * total / 20)

    env.reset(seed=1)
    for _ in range(19):
        _, reward, term, trunc, _ = env.step(0)
        assert not (term or trunc) and reward == 0
    _, _, term, trunc, info = env.step(0)
    assert trunc and not term and info["is_success"] is False


def test_view_is_egocentric():
    env = MazeEnv(Maze.parse(CORRIDOR))
    env.reset(seed=0)
    while env.agent[2] != 0:  # face east: the goal 4 cells ahead, walls left and right
        env.step(1)
    obs = env._obs()
    walls = obs[:VIEW * VIEW].reshape(VIEW, VIEW)
    goal = obs[VIEW * VIEW:2 * VIEW * VIEW].reshape(VIEW, VIEW)
    assert goal[VIEW - 1 - 4, VIEW // 2] == 1 and goal.sum() == 1
    assert walls[VIEW - 1, VIEW // 2 - 1] == 1 and walls[VIEW - 1, VIEW // 2 + 1] == 1
    assert walls[VIEW - 1 - 5, VIEW // 2] == 1 and walls[VIEW - 2, VIEW // 2] == 0
    assert obs[2 * VIEW * VIEW:].tolist() == [1, 0, 0, 0]


def test_single_env_and_batch_follow_the_same_rules():
    mazes = [maze_from_seed(s) for s in range(4)]
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 3, size=(300, 4))
    batch = MazeBatch(mazes, np.random.default_rng(5), max_steps=1000)
    envs = [MazeEnv(m, max_steps=1000) for m in mazes]
    for i, e in enumerate(envs):
        e.reset(seed=0)
        e._dir = int(batch.dir[i])
    alive = np.ones(4, dtype=bool)
    for a in actions:
        np.testing.assert_array_equal(batch.obs()[alive], np.stack([e._obs() for e in envs])[alive])
        rb, tb, _ = batch.step(a)
        for i, e in enumerate(envs):
            if alive[i]:
                _, r, t, _, _ = e.step(int(a[i]))
                assert t == tb[i] and r == pytest.approx(rb[i])
        alive &= ~tb


def test_same_observations_as_minigrid_engine():
    pytest.importorskip("minigrid")
    from magister.rl.minigrid import FlatView, TextMazeEnv

    rng = np.random.default_rng(1)
    for name, maze in list(heldout_mazes().items())[:4] + [("random", maze_from_seed(3))]:
        lean = MazeEnv(maze)
        mg = FlatView(TextMazeEnv(maze))
        lean.reset(seed=0)
        mg.reset(seed=0)
        lean._dir = mg.unwrapped.agent_dir
        assert np.array_equal(lean._obs(), mg.observation(mg.unwrapped.gen_obs())), name
        for a in rng.integers(0, 3, size=120):
            o1, r1, t1, tr1, _ = lean.step(int(a))
            o2, r2, t2, tr2, _ = mg.step(int(a))
            assert np.array_equal(o1, o2) and t1 == t2 and tr1 == tr2 and r1 == pytest.approx(r2), name
            if t1 or tr1:
                break


def test_minigrid_final_info_reports_success():
    pytest.importorskip("minigrid")
    from magister.rl.minigrid import SeedTask, TextMazeEnv, make_minigrid
    from magister.rl.wrapper import CurriculumWrapper

    # goal next to the start: turn to face east, step forward
    env = CurriculumWrapper(TextMazeEnv(Maze.parse("#####\n#SG.#\n#...#\n#####")), score="success")
    env.reset(seed=1, options={"task": "#####\n#SG.#\n#...#\n#####"})
    while env.unwrapped.agent_dir != 0:
        env.step(0)
    _, r, term, _, info = env.step(2)
    assert term and r > 0 and info["is_success"] is True and info["goal_reward"] == pytest.approx(r)
    assert info["magister_score"] == 1.0
    short = TextMazeEnv(Maze.parse("#####\n#S..#\n#..G#\n#####"), max_steps=2)
    short.reset(seed=0)
    short.step(0)
    *_, trunc, info = short.step(0)
    assert trunc and info["is_success"] is False
    seeded = make_minigrid("MiniGrid-Empty-5x5-v0")
    assert isinstance(seeded.env, SeedTask)
    seeded.reset(options={"task": 0})
    seeded.unwrapped.agent_pos, seeded.unwrapped.agent_dir = (2, 3), 0  # west of the goal at (3, 3)
    _, r, term, _, info = seeded.step(2)
    assert term and r > 0 and info["is_success"] is True


def test_flat_view_refuses_other_view_sizes():
    pytest.importorskip("minigrid")
    import minigrid  # noqa: F401
    from magister.errors import ConfigError
    from magister.rl.minigrid import FlatView

    with pytest.raises(ConfigError, match="7 x 7"):
        FlatView(gym.make("MiniGrid-Empty-5x5-v0", agent_view_size=5))
    with pytest.raises(ConfigError, match="7 x 7"):
        FlatView(gym.make("CartPole-v1"))


def test_make_minigrid_passes_gymnasiums_env_checker_and_can_be_rebuilt_from_its_spec():
    pytest.importorskip("minigrid")
    from gymnasium.utils.env_checker import check_env

    from magister.rl.minigrid import FlatView, SeedTask, make_minigrid

    env = make_minigrid("MiniGrid-Empty-5x5-v0")
    # SeedTask and FlatView did not record their constructor: gym.make(env.spec) (and so check_env's close check)
    # raised "SeedTask wrapper does not inherit from RecordConstructorArgs"
    with pytest.warns(UserWarning):  # (check_env's own note that the env is wrapped)
        check_env(env, skip_render_check=True)
    again = gym.make(env.spec)
    assert isinstance(again, FlatView) and isinstance(again.env, SeedTask)
    obs, _ = again.reset(options={"task": 3})
    assert again.observation_space.contains(obs) and np.array_equal(obs, env.reset(options={"task": 3})[0])
    again.close()
    env.close()


def test_maze_env_renders_text_and_refuses_render_modes_it_does_not_have():
    env = MazeEnv(render_mode="ansi")
    env.reset(seed=0)
    assert env.render().count("\n") == 14
    # "rgb_array" was accepted (gym.make only warned) and render() gave text where an image is promised
    for bad in ("rgb_array", "human"):
        with pytest.raises(ValueError, match="render_mode"):
            MazeEnv(render_mode=bad)
        with pytest.raises(ValueError, match="render_mode"), pytest.warns(UserWarning):
            gym.make("magister/Maze-v0", render_mode=bad)


def test_seed_and_density_tasks():
    env = gym.make("magister/Maze-v0")
    env.reset(options={"task": 7})
    a = env.unwrapped.maze.to_text()
    env.reset(options={"task": 8})
    assert env.unwrapped.maze.to_text() != a
    env.reset(options={"task": 7})
    assert env.unwrapped.maze.to_text() == a == maze_from_seed(7).to_text()
    env.reset(seed=0, options={"task": np.array([0.0])})
    assert not env.unwrapped.maze.walls[1:-1, 1:-1].any()
    from magister.errors import InvalidTaskError

    with pytest.raises(InvalidTaskError):
        env.reset(options={"task": np.array([1.5])})
    mixed = MazeEnv(generator="mixed")
    kinds = set()
    for s in range(30):
        mixed.reset(options={"task": s})
        assert mixed.maze == maze_from_seed(s, generator="mixed")
        inner = ~mixed.maze.walls[1:-1, 1:-1]
        kinds.add(bool(inner[1::2, 1::2].any()))  # a labyrinth's wall posts (even rows and cols) stay walls
    assert kinds == {True, False}
    mixed.reset(seed=0, options={"task": np.array([1.0])})  # the generator's parameter: x = 1, closed labyrinth
    assert (~mixed.maze.walls[1:-1, 1:-1]).sum() == 97 and mixed.maze.solvable
    mixed.reset(seed=0, options={"task": np.array([0.0])})  # x = 0: an empty room
    assert not mixed.maze.walls[1:-1, 1:-1].any()
    with pytest.raises(ConfigError, match="generator"):
        MazeEnv(generator="caves")


def test_heldout_set_is_named_solvable_and_spans_the_families():
    mazes = heldout_mazes()
    assert len(mazes) >= 12
    families = {maze_family(n) for n in mazes}
    assert families == set(HELDOUT_FAMILIES)
    for name, maze in mazes.items():
        assert maze.path_length() is not None, f"held-out maze {name} cannot be solved"
    train = [maze_from_seed(s).path_length() for s in range(200)]
    train_mean = np.mean([p for p in train if p is not None])
    long = [mazes[n].path_length() for n in mazes if maze_family(n) == "long"]
    assert min(long) > 3 * train_mean  # "much longer than the training distribution's average"


def test_docs_quote_the_training_generators_path_lengths_as_they_are():
    """docs/rl.md said the "mixed" generator's levels have median shortest path 11 and 99th percentile 44 (a small
    sample's figures); over the solvable levels of seeds 0-1999 they are 12 and 50 (block mazes 9 and 23)."""
    rl = (Path(__file__).resolve().parents[1] / "docs" / "rl.md").read_text()
    m = re.search(r"solvable levels of seeds 0-1999: median shortest path (\d+), 99th percentile (\d+),\s+"
                  r"against (\d+) and (\d+) for block mazes alone", rl)
    assert m, "docs/rl.md no longer quotes the generators' path lengths in the form this test reads"
    for generator, (median, p99) in (("mixed", m.group(1, 2)), ("blocks", m.group(3, 4))):
        paths = [maze_from_seed(s, generator=generator).path_length() for s in range(2000)]
        solvable = [p for p in paths if p is not None]
        assert (np.median(solvable), np.percentile(solvable, 99)) == (int(median), int(p99)), generator


def test_evaluate_mazes_runs_a_set_in_one_batch():
    maze = Maze.parse("#####\n#SG.#\n#####\n")
    turn_then_go = lambda obs: np.where(_front_is_goal(obs), 2, 1)  # noqa: E731
    rates = evaluate_mazes(turn_then_go, [maze, maze], episodes=5)
    np.testing.assert_array_equal(rates, [1.0, 1.0])
    never = evaluate_mazes(lambda obs: np.zeros(len(obs), dtype=int), [maze], episodes=3)
    assert never.tolist() == [0.0]


def test_unseen_levels_are_solvable_generator_levels_no_seed_space_teacher_can_propose():
    from magister.levels.spaces import SEED_LIMIT, SeedSpace
    from magister.rl.envs.maze import maze_from_seed, unseen_levels

    levels = unseen_levels(20, size=11, max_density=0.6)
    assert len(levels) == 20 and all(m.solvable and m.walls.shape == (11, 11) for m in levels)
    # they are the first 20 solvable draws from the space's limit on (dense draws are often unsolvable, and
    # skipped), seeds SeedSpace() refuses
    draws = [maze_from_seed(s, 11, 0.6) for s in range(SEED_LIMIT, SEED_LIMIT + 200)]
    assert not all(m.solvable for m in draws)
    assert [m.to_text() for m in levels] == [m.to_text() for m in draws if m.solvable][:20]
    with pytest.raises(Exception, match="outside"):
        SeedSpace().validate(SEED_LIMIT)
    assert [m.to_text() for m in unseen_levels(20, 11, 0.6)] == [m.to_text() for m in levels]
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ConfigError, match="whole number"):
            unseen_levels(bad)
    with pytest.raises(ConfigError, match="max_density"):
        unseen_levels(5, max_density=0.95)


def test_a_training_set_larger_than_the_task_limit_is_refused_before_anything_is_drawn():
    """``training_seeds(10**8)`` drew seeds until memory ran out (``rl_levels_cleanrl.py --levels 100000000``);
    a set over ``MAX_TASKS`` levels is refused, naming the limit and the open-ended generator instead."""
    from magister.rl.envs.maze import training_seeds
    from magister.settings import MAX_TASKS

    for bad in (MAX_TASKS + 1, 10**8):
        with pytest.raises(ConfigError, match=r"levels in 1\.\.1,000,000, got .*open-ended generator"):
            training_seeds(bad)
    assert len(training_seeds(5, seed=1)) == 5


def test_a_finite_training_set_plays_its_seeds_by_index_and_refuses_others():
    from magister.bench.levels import make_level_teacher
    from magister.errors import InvalidTaskError
    from magister.levels.spaces import SEED_LIMIT, SeedSpace
    from magister.rl.envs.maze import training_seeds

    seeds = training_seeds(30, seed=4)
    assert len(set(seeds)) == 30 and all(0 <= s < SEED_LIMIT for s in seeds)
    assert training_seeds(30, seed=4) == seeds and training_seeds(30, seed=5) != seeds  # one set per run seed
    env = MazeEnv(max_density=0.5, seeds=seeds)
    for i in (0, 7, 29):
        env.reset(seed=0, options={"task": i})
        assert env.maze.to_text() == maze_from_seed(seeds[i], 15, 0.5).to_text() == env.level(i).to_text()
    for bad in (30, -1):
        with pytest.raises(InvalidTaskError, match="outside the training set of 30"):
            env.set_task(bad)
    # a teacher over a bigger SeedSpace than the env's seeds: the refusal names the space to build it on
    with pytest.raises(InvalidTaskError, match=r"build the teacher on SeedSpace\(30\)"):
        env.reset(options={"task": 85})
    env.reset(seed=0)  # a refused task changed nothing: the last good one is still played
    assert env.maze.to_text() == maze_from_seed(seeds[29], 15, 0.5).to_text()
    with pytest.raises(ConfigError, match="at least one"):
        MazeEnv(seeds=[])
    for bad in (0, 2.5, True):
        with pytest.raises(ConfigError, match="whole number"):
            training_seeds(bad)
    # the run's seed and a level's seed: int() cut 1.5 to 1 (another set of levels), -1 raised numpy's bare
    # "expected non-negative integer"
    for bad in (-1, 1.5, "4", True, None):
        with pytest.raises(ConfigError, match="training_seeds: seed must be a whole number >= 0"):
            training_seeds(30, seed=bad)
        with pytest.raises(ConfigError, match="maze_from_seed: seed must be a whole number >= 0"):
            maze_from_seed(bad)
    assert training_seeds(30, seed=4.0) == training_seeds(30, seed=np.int64(4)) == seeds
    assert maze_from_seed(np.int64(seeds[3]), 15, 0.5) == maze_from_seed(float(seeds[3]), 15, 0.5)
    # the benchmark's teachers over it: uniform and plr pick indices of SeedSpace(30); others refuse it
    uni, _ = make_level_teacher("uniform", 0, n_levels=30)
    plr, _ = make_level_teacher("plr", 0, n_levels=30)
    assert isinstance(uni.space, SeedSpace) and uni.space.n == 30 and plr.space.n == 30
    assert all(0 <= t < 30 for t in uni.propose(50)) and all(0 <= t < 30 for t in plr.propose(50))
    for name in ("accel", "alp-gmm", "heldout"):
        with pytest.raises(ValueError, match="training set"):
            make_level_teacher(name, 0, n_levels=30)


def test_maze_env_checks_its_training_seeds_when_built():
    # before: int() of each seed took 1.5 as 1, "3" as 3 and True as 1; a seed -1 was built and its level failed at
    # its first reset with numpy's "expected non-negative integer"; seeds="12" played seeds 1 and 2
    for bad, name in (([4, -1], r"seeds\[1\]"), ([1.5], r"seeds\[0\]"), (["3"], r"seeds\[0\]"),
                      ([True], r"seeds\[0\]"), ([float("nan")], r"seeds\[0\]"), (5, "list of generator seeds"),
                      ("12", "list of generator seeds"), (np.array(5), "list of generator seeds")):
        with pytest.raises(ConfigError, match=name):
            MazeEnv(seeds=bad)
    # whole numbers of any kind (numpy's, whole floats, an array, a generator) are taken as before
    assert MazeEnv(seeds=[3.0, np.int64(4), 2**40]).seeds == [3, 4, 2**40]
    assert MazeEnv(seeds=np.arange(3)).seeds == [0, 1, 2] and MazeEnv(seeds=(s for s in (7, 8))).seeds == [7, 8]
    env = MazeEnv(seeds=[0, 5])
    env.reset(seed=0, options={"task": 1})
    assert env.maze == maze_from_seed(5)


def test_explore_bonus_pays_first_visits_only_and_stays_out_of_success_and_goal_reward():
    env = MazeEnv(Maze.parse(CORRIDOR), max_steps=30, explore_bonus=0.05)
    env.reset(seed=0)
    while env.agent[2] != 0:  # face east, along the corridor
        env.step(1)
    _, r, *_ = env.step(2)
    assert r == pytest.approx(0.05)  # a new cell
    env.step(1), env.step(1)  # face west
    _, r, *_ = env.step(2)
    assert r == 0.0  # back on the start cell: seen at reset
    env.step(0), env.step(0)
    rewards = [env.step(2) for _ in range(4)]
    assert [x[1] for x in rewards[:2]] == [0.0, pytest.approx(0.05)]  # (1, 2) seen, (1, 3) new
    _, r, term, _, info = rewards[-1]
    assert term and info["is_success"] is True
    assert r == pytest.approx(info["goal_reward"] + 0.05) and 0 < info["goal_reward"] < 1
    env.reset(seed=0)  # the count is per episode
    while env.agent[2] != 0:
        env.step(1)
    assert env.step(2)[1] == pytest.approx(0.05)
    with pytest.raises(ConfigError, match="explore_bonus"):
        MazeEnv(explore_bonus=-1.0)
    # before: "0.1" and None raised numpy's raw TypeError ("ufunc 'isfinite' not supported"), True was a bonus of 1
    for bad in ("0.1", None, True, float("inf"), [0.1]):
        with pytest.raises(ConfigError, match="explore_bonus must be a number >= 0"):
            MazeEnv(explore_bonus=bad)
    assert MazeEnv(explore_bonus=np.float32(0.5)).explore_bonus == 0.5 and MazeEnv(explore_bonus=1).explore_bonus == 1.0


def test_maze_env_refuses_settings_that_make_no_sense_when_built():
    # before: max_density=1.5 built, then some seeds failed at reset ("wall_density must be in [0, 1], got 1.41"),
    # max_steps=0 built an env whose episodes end at once (and a goal reached in one step divided by zero)
    for kwargs, name in (({"max_density": 1.5}, "max_density"), ({"max_density": float("nan")}, "max_density"),
                         ({"max_steps": 0}, "max_steps"), ({"max_steps": -10}, "max_steps"),
                         ({"max_steps": True}, "max_steps"), ({"size": 3}, "size"), ({"size": 7.5}, "size")):
        with pytest.raises(ValueError, match=name):
            MazeEnv(**kwargs)
    env = MazeEnv(size=9.0, max_density=1, max_steps=30.0)  # whole floats and ints still work
    env.reset(seed=0, options={"task": 4})
    assert env.maze.shape == (9, 9) and env._max == 30
    for bad in (0, -1, 1.5):  # before: episodes=0 gave NaN rates, -1 a numpy error
        with pytest.raises(ValueError, match="episodes"):
            evaluate_mazes(lambda obs: np.zeros(len(obs), dtype=int), [env.maze], episodes=bad)
        with pytest.raises(ValueError, match="max_steps"):
            evaluate_mazes(lambda obs: np.zeros(len(obs), dtype=int), [env.maze], max_steps=bad)


def test_a_refused_reset_task_leaves_the_maze_env_task_as_it_was():
    env = MazeEnv(Maze.parse(CORRIDOR), max_steps=20)
    env.reset(seed=0)
    with pytest.raises(Exception, match="not a maze text"):
        env.reset(options={"task": "not a maze"})
    env.reset()  # before: the refused task had replaced the env's own, so every later reset failed too
    assert env.maze.to_text() == Maze.parse(CORRIDOR).to_text()


def test_a_refused_action_costs_the_maze_episode_no_step():
    env = MazeEnv(Maze.parse(CORRIDOR), max_steps=20)
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match=r"MazeEnv actions are the whole numbers 0\.\.2: 0 \(left\)"):
        env.step(7)
    assert env._steps == 0  # before: the refused action used up a step of the episode
    # a plain ValueError before: now magister's own error (still a ValueError, so except ValueError works)
    assert issubclass(InvalidActionError, ValueError)
    # before: 1.7 played as 1 and True as 1 (int()), where MazeBatch and the other envs refuse them; NaN and an
    # array answered with Python's own words
    for bad in (1.7, True, float("nan"), np.array([2]), "2", [[1], [1, 2]],  # (ragged: numpy's own ValueError)
                np.timedelta64(1, "s"), np.timedelta64(1)):  # (a duration, an integer to numpy: a raw TypeError)
        with pytest.raises(InvalidActionError, match=r"actions are the whole numbers 0\.\.2"):
            env.step(bad)
    assert env._steps == 0
    env.step(np.int64(1))
    env.step(2.0)
    assert env._steps == 2


def test_maze_set_task_checks_a_density_task_now():
    from magister.errors import InvalidTaskError

    env = MazeEnv()
    for bad in ([5.0], [float("nan")], ["x"], np.array([0.1, 0.2])):  # before: set_task took these unchecked
        with pytest.raises(InvalidTaskError, match="task"):
            env.set_task(bad)
    env.set_task([0.3])  # a density task is still taken (its maze is drawn at reset)
    env.reset(seed=1)
    assert env.maze.walls.shape == (15, 15)


def test_evaluate_mazes_takes_maze_text_and_refuses_what_it_cannot_play_clearly():
    from magister.errors import InvalidTaskError

    policy = lambda obs: np.full(len(obs), 2)  # noqa: E731 - always forward: solves the corridor
    corridor = Maze.parse(CORRIDOR)
    assert evaluate_mazes(policy, [CORRIDOR], episodes=2).tolist() == evaluate_mazes(policy, [corridor], episodes=2).tolist()
    # before: max() arg is an empty sequence; 'str' (a dict's names) or 'int' object has no attribute 'walls'
    for bad, msg in (([], "at least one"), ({"corridor": corridor}, "not a dict"), ([3], "Maze objects")):
        with pytest.raises(InvalidTaskError, match=msg):
            evaluate_mazes(policy, bad)


@pytest.mark.parametrize("bad", [lambda o: np.zeros((len(o), 1), dtype=np.int64),    # a column: crashed in numpy
                                 lambda o: np.full(len(o), 3),                          # no such action: a no-op
                                 lambda o: np.full(len(o), 1.7),                        # read as 1, silently
                                 lambda o: np.ones(len(o), dtype=bool),                 # not an action
                                 lambda o: np.zeros(len(o) - 1, dtype=np.int64)])
def test_evaluate_mazes_refuses_actions_outside_left_right_forward(bad):
    mazes = list(heldout_mazes().values())[:2]
    with pytest.raises(InvalidActionError, match="one action 0 \\(left\\), 1 \\(right\\) or 2 \\(forward\\) per episode"):
        evaluate_mazes(bad, mazes, episodes=2)
    # whole floats (a float policy output of 0., 1., 2.) still play
    assert evaluate_mazes(lambda o: np.full(len(o), 2.0), mazes, episodes=2).shape == (2,)


def test_maze_env_refuses_a_mixed_generator_too_small_for_labyrinths_and_negative_seeds():
    # MazeEnv(size=4, generator="mixed") was built, then half its seed tasks failed at reset (labyrinth_maze's
    # size error); a negative seed task gave numpy's "expected non-negative integer"
    from magister.errors import InvalidTaskError

    with pytest.raises(ConfigError, match="size >= 5"):
        MazeEnv(size=4, generator="mixed")
    assert MazeEnv(size=4).level(2).shape == (4, 4)
    env = MazeEnv()
    for bad in (-1, np.int64(-3)):
        with pytest.raises(InvalidTaskError, match="seed task is a whole number >= 0"):
            env.set_task(bad)
    # a timedelta64 (an integer to numpy) raised Python's raw TypeError, or was taken as seed 1 without a unit
    for bad in (np.timedelta64(1, "s"), np.timedelta64(1)):
        with pytest.raises(InvalidTaskError, match="a maze task must be"):
            env.set_task(bad)
        with pytest.raises(InvalidTaskError, match="a maze task must be"):
            MazeEnv(seeds=[5, 6]).reset(options={"task": bad})


def test_a_task_set_by_set_task_is_drawn_once_and_played_as_checked(monkeypatch):
    # set_task resolved the seed's maze to check it, and the next reset drew the same maze again (each episode
    # generated its level twice under a CurriculumWrapper in "set_task" mode)
    import magister.rl.envs.maze as maze_env

    calls = []
    real = maze_env.maze_from_seed
    monkeypatch.setattr(maze_env, "maze_from_seed", lambda *a: calls.append(a) or real(*a))
    env = MazeEnv()
    env.set_task(7)
    env.reset(seed=0)
    assert len(calls) == 1 and env.maze == real(7, env.size, env.max_density, env.generator)
    env.reset()  # the same task again: drawn again (as before)
    env.reset(options={"task": 8})  # a task given to reset is its own
    assert [c[0] for c in calls] == [7, 7, 8] and env.maze == real(8, env.size, env.max_density, env.generator)


@pytest.mark.parametrize("task", [0.3, np.float64(0.3), 2.0])
def test_a_bare_float_task_names_the_seed_and_the_parameter_forms(task):
    # before: "a maze task must be a Maze, its text, a seed or [wall_density]; got 0.3", which left the user who
    # read "a wall density" in docs/rl.md to guess the list form (and 2.0 read as a seed)
    env = MazeEnv(size=7)
    with pytest.raises(InvalidTaskError, match=r"whole number \(int\).*one-number list, \[(0\.3|2\.0)\]"):
        env.reset(options={"task": task})
    env.reset(options={"task": [0.3]})  # the form it names is played


def test_maze_env_zero_d_array_task_is_the_number_it_holds():
    # np.array(0.5) played as the generator parameter [0.5] while a bare 0.5 was refused, and np.array(3) was refused
    # as a generator parameter outside [0, 1] instead of playing seed 3
    env = MazeEnv(size=9)
    with pytest.raises(InvalidTaskError, match="a bare number .*0.5.* is no maze task.*one-number list, \\[0.5\\]"):
        env.reset(seed=0, options={"task": np.array(0.5)})
    with pytest.raises(InvalidTaskError, match="a bare number"):
        env.set_task(np.array(0.5))
    env.reset(seed=0, options={"task": np.array(3)})
    assert env.maze == env.level(3) == env.level(np.array(3))
    env.set_task(np.array(4))
    env.reset(seed=0)
    assert env.maze == env.level(4)
    with pytest.raises(InvalidTaskError, match="a seed task is a whole number >= 0, got -1"):
        env.set_task(np.array(-1))
    seeded = MazeEnv(size=9, seeds=[7, 8])
    assert seeded.level(np.array(1)) == seeded.level(1) == env.level(8)


@pytest.mark.parametrize("task", [[True], [False], np.array([True]), [np.True_], ["0.5"], np.array(["1"]), [b"0"]])
def test_maze_env_generator_parameter_refuses_bools_and_text(task):
    # [True] played as wall density 1 and ["0.5"] as 0.5; neither is a number in [0, 1]
    env = MazeEnv(size=9)
    env.reset(seed=0, options={"task": [0.25]})
    before = env.maze
    with pytest.raises(InvalidTaskError, match="generator parameter task .* must be a number in \\[0, 1\\]"):
        env.reset(seed=0, options={"task": task})
    with pytest.raises(InvalidTaskError, match="must be a number in \\[0, 1\\]"):
        env.set_task(task)
    assert env.maze is before
    env.reset(seed=0, options={"task": (1,)})
    env.reset(seed=0, options={"task": np.array([0.0])})


@pytest.mark.parametrize("setting, value", [("max_steps", 0), ("max_steps", -1), ("max_steps", "10"), ("max_steps", 1.5),
                                            ("max_steps", True), ("size", "15"), ("size", 3), ("size", True),
                                            ("see_through_walls", "false"), ("see_through_walls", 0),
                                            ("see_through_walls", None)])
def test_text_maze_env_checks_its_settings_as_maze_env_does(setting, value):
    # max_steps=0 was the default 250, -1 cut every episode at its first step, "10" or 1.5 failed in MiniGrid's own
    # assert, see_through_walls="false" saw through walls, size="15" a plain ValueError
    from magister.rl.minigrid import TextMazeEnv

    with pytest.raises(ConfigError, match=f"TextMazeEnv: {setting} must be"):
        TextMazeEnv(**{"size": 7, setting: value})


def test_text_maze_env_takes_whole_floats_and_bools_as_maze_env_does():
    from magister.rl.minigrid import TextMazeEnv

    env = TextMazeEnv(size=7.0, max_steps=10.0, see_through_walls=np.False_)
    env.reset(seed=0)
    assert env.maze.walls.shape == (7, 7) and env.grid.width == 7
    assert env.max_steps == 10 and env.see_through_walls is False


def test_text_maze_env_reset_refused_for_its_seed_changes_nothing():
    # a seed Gymnasium refuses came after the task's maze had replaced the level played, so the next reset (or
    # step after it) played the new maze though the reset that set it failed
    import gymnasium as gym

    from magister.levels import empty_maze
    from magister.rl.minigrid import TextMazeEnv

    env = TextMazeEnv(size=7)
    env.reset(seed=0)
    first = env.maze
    for seed in (-1, "3", 1.5):
        with pytest.raises(gym.error.Error, match="Seed must be"):
            env.reset(seed=seed, options={"task": empty_maze(9)})
        assert env.maze is first and (env.height, env.width) == (7, 7) and env.max_steps == 250
    env.reset()
    assert env.maze is first and env.grid.width == 7
    env.reset(seed=1, options={"task": empty_maze(9)})
    assert env.maze == empty_maze(9) and env.grid.width == 9


@pytest.mark.parametrize("options", [3, "task", ["task"], "x", ("task", 1)])
def test_maze_envs_refuse_reset_options_that_are_not_a_dict(options):
    # 3 raised "argument of type 'int' is not iterable", "task" read a character of the text as the task
    # ("string indices must be integers"), "x" was ignored, and SeedTask failed in dict() ("update sequence")
    import gymnasium as gym
    import minigrid  # noqa: F401

    from magister.errors import SettingTypeError
    from magister.rl.minigrid import SeedTask, TextMazeEnv

    for env in (MazeEnv(size=7, task=5), TextMazeEnv(size=7), SeedTask(gym.make("MiniGrid-Empty-5x5-v0"))):
        env.reset(seed=0)
        name = type(env).__name__
        with pytest.raises(SettingTypeError, match=rf"^{name}\.reset\(options=...\) takes a dict such as "
                                                   r"\{'task': task\}, or None; got "):
            env.reset(seed=1, options=options)
        assert isinstance(env.reset(options={})[1], dict) and isinstance(env.reset(options=None)[1], dict)
