"""The examples do what they say (issue 12, item 17)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rl_gymnasium_stand_in_reads_the_goal_and_learns_under_a_curriculum(capsys):
    ex = _example("rl_gymnasium")
    from magister.rl.envs import CliffWalk

    # the stand-in decodes the observation with the env's own grid width: at full reach and without wind
    # it stops exactly on every goal (decoded with a width of 20 instead of 30 it stopped short of most)
    for distance in np.linspace(0.0, 1.0, 29):
        env = CliffWalk(task=[distance, 0.0])
        learner = ex.StandIn(seed=0, reach=CliffWalk.max_cells)
        obs, _ = env.reset(seed=0)
        learner.start(obs)
        done = False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(learner.act(obs))
            done = terminated or truncated
        assert reward == 1.0, f"the stand-in missed the goal of distance {distance:.2f}"
    # trained under an adaptive teacher it succeeds, and its reach grows from 4 cells
    runs = ex.main(episodes=300, seed=0)
    out = capsys.readouterr().out
    assert "reach" in out and "uniform" in out
    for name, run in runs.items():
        assert run["reach"] > 8 and np.mean(run["success"][-60:]) > 0.1, (name, run["reach"])
    adaptive = next(n for n in runs if n != "uniform")
    # the adaptive teacher starts where the learner can succeed (nearer goals than uniform's), so the
    # learner succeeds more often while it learns
    assert np.mean(runs[adaptive]["distance"][:100]) < np.mean(runs["uniform"]["distance"][:100])
    assert np.mean(runs[adaptive]["success"]) > np.mean(runs["uniform"]["success"])


def test_rl_levels_cleanrl_reports_every_episode_score_and_prints_teacher_vs_uniform(capsys):
    import pytest

    pytest.importorskip("torch")
    runs = _example("rl_levels_cleanrl").main(steps=2048, seed=0)
    out = capsys.readouterr().out
    assert "robust-plr" in out and "uniform" in out and "held-out" in out
    for run in runs.values():
        assert run["reported"] > 0 and run["observed"] == run["reported"]  # every finished episode reached it
        assert 0.0 <= run["heldout"] <= 1.0


def test_rl_levels_sb3_callback_reports_every_episode_score(capsys):
    import pytest

    pytest.importorskip("stable_baselines3")
    runs = _example("rl_levels_sb3").main(steps=2048, seed=0)
    out = capsys.readouterr().out
    assert "plr" in out and "uniform" in out
    plr = runs["plr"]
    assert plr["reported"] > 0 and plr["observed"] == plr["reported"]
