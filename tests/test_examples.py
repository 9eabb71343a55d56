"""The examples do what they say (issue 12, item 17)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

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
    # a success at the frontier extends the reach only sometimes (LEARN_PROB), never off the frontier
    learner = ex.StandIn(seed=0)
    learner.goal = 1
    for _ in range(50):
        learner.end(True)
    assert learner.reach == 4
    learner.goal = 4
    for _ in range(40):
        learner.end(True)
    assert 4 + 2 <= learner.reach <= 4 + 20, learner.reach  # about 40 x 0.25 = 10 cells
    # at the example's budget: under its teacher the whole walk is within reach in fewer episodes than under
    # uniform tasks (seeds 0-9: 552-1227 against 1607-3356, docs/examples.md), and the last line says so
    runs = ex.main(seed=0)
    out = capsys.readouterr().out
    assert "reach" in out and "uniform" in out
    _beats_uniform_line(out, ex.TEACHER)
    done = {name: run["full_reach_at"] for name, run in runs.items()}
    assert done[ex.TEACHER] is not None and done[ex.TEACHER] < (done["uniform"] or np.inf), done
    for name, run in runs.items():
        assert run["reach"] == CliffWalk.max_cells and np.mean(run["success"][-200:]) > 0.1, (name, run["reach"])
    # frontier proposes goals the learner is about to reach: it succeeds more often while it learns
    assert np.mean(runs[ex.TEACHER]["success"]) > np.mean(runs["uniform"]["success"])


def _versus_uniform_line(out: str, teacher: str) -> str:
    """A level example's last line: the teacher against uniform levels on unseen levels, with its verdict."""
    lines = [line for line in out.splitlines() if line.startswith(f"teacher {teacher}: ") and " vs uniform " in line]
    assert lines and " of unseen levels solved after " in lines[-1], out
    assert lines[-1].endswith((": beats uniform", ": does not beat uniform")), lines[-1]
    return lines[-1]


def test_rl_levels_cleanrl_reports_every_episode_score_and_prints_teacher_vs_uniform(capsys):
    pytest.importorskip("torch")
    ex = _example("rl_levels_cleanrl")
    runs = ex.main(steps=2048, seed=0)
    out = capsys.readouterr().out
    _versus_uniform_line(out, ex.TEACHER)
    assert "on a training set of 100 levels" in out and "of the steps on levels that cannot be solved" in out
    for run in runs.values():
        assert run["reported"] > 0 and run["observed"] == run["reported"]  # every finished episode reached it
        assert 0.0 <= run["unseen"] <= 1.0 and 0.0 <= run["mazes"] <= 1.0 and 0.0 <= run["unsolvable_share"] <= 1.0
    assert runs["uniform"]["trained_steps"] == runs["uniform"]["steps"] >= 2048  # no evaluate-only episodes
    # plr is sent the learnable score of the level each episode played: an index into the training set
    assert set(runs[ex.TEACHER]["outcomes"]) <= set(range(ex.N_LEVELS))
    # both students' learning rate is annealed (CleanRL's schedule): two updates of 1,024 steps, the second at
    # half the rate; without it the rate stays where it started
    assert ex.ANNEAL_LR and all(run["last_lr"] == pytest.approx(ex.LR / 2) for run in runs.values())
    assert ex.train("uniform", 2048, seed=0, anneal_lr=False)["last_lr"] == ex.LR
    # a test budget is too small to show the teacher beating uniform levels (docs/examples.md has the figures
    # at the example's budget): the plumbing and the printed comparison are checked here, what the teacher
    # does at the example's budget in the next test


def test_rl_levels_cleanrl_teacher_wastes_less_of_the_budget_on_unsolvable_levels_and_beats_uniform():
    """The example's curriculum doing its job at the example's budget: plr drops the levels of its training set
    that are never solved, so far fewer of its env steps go to levels that cannot be solved than uniform's
    (seeds 0-9: 27-44% against 43-58%, 0.56-0.75 times uniform's; seed 0: 33% against 54%; 32% as printed on
    fc67e69), and its student solves more unseen levels (seed 0: 68% against 59% since 03e2594, re-run on 2d5b758: identical; ahead on 18
    of seeds 0-19, median +9).
    Another machine's floating point gives another run of the same seed, hence the margin on the share; the
    seed-0 win is exact on this machine only (docs/examples.md)."""
    pytest.importorskip("torch")
    from magister.bench.levels import versus_uniform

    ex = _example("rl_levels_cleanrl")
    plr = ex.train(ex.TEACHER, 100_000, seed=0)
    uniform = ex.train("uniform", 100_000, seed=0)
    assert plr["unsolvable_share"] < 0.85 * uniform["unsolvable_share"], (plr["unsolvable_share"],
                                                                         uniform["unsolvable_share"])
    # the levels plr kept replaying are ones it solves: every level played 10 times or more was solved
    assert all(s > 0 for s, n in plr["outcomes"].values() if n >= 10), plr["outcomes"]
    # what the example prints at this budget: the teacher's student beats uniform's on unseen levels
    assert plr["unseen"] > uniform["unseen"], (plr["unseen"], uniform["unseen"])
    runs = {ex.TEACHER: plr, "uniform": uniform}
    _beats_uniform_line(versus_uniform(runs, ex.TEACHER, 100_000), ex.TEACHER)


def test_rl_levels_cleanrl_sends_learnability_successes_and_leaves_its_evaluations_out_of_the_update():
    pytest.importorskip("torch")
    ex = _example("rl_levels_cleanrl")
    run = ex.train("learnability", 2048, seed=0, n_levels=None)
    # learnability takes each episode's success: every finished episode is scored 0 or 1
    assert run["reported"] > 0 and run["observed"] == run["reported"]
    assert set(run["scores"]) <= {0.0, 1.0}, sorted(set(run["scores"]))[:5]
    # its first evaluation round (32 candidates x 2 episodes, proposed first) outlasts 2,048 steps on 8 envs:
    # every step so far belongs to an evaluate-only episode, so PPO saw none of them
    assert run["steps"] >= 2048 and run["trained_steps"] == 0
    # a teacher is sent the score it learns from, or the loop refuses
    with pytest.raises(ValueError, match="learns from each episode's success"):
        ex.train("learnability", 256, seed=0, level_score="pvl")
    with pytest.raises(ValueError, match="learns from a GAE score"):
        ex.train("plr", 256, seed=0, level_score="success")


def test_rl_levels_cleanrl_maxmc_keeps_each_levels_best_return_and_scores_every_episode():
    pytest.importorskip("torch")
    from magister.rl.envs.maze import maze_from_seed

    ex = _example("rl_levels_cleanrl")
    run = ex.train("plr", 2048, seed=3, level_score="maxmc", n_levels=None)  # open-ended: levels are seeds
    assert run["reported"] > 0 and run["observed"] == run["reported"]  # every finished episode reached plr
    best = run["best_returns"]  # level (generator seed) -> best discounted return reached on it
    assert len(best) == run["reported"] and all(np.isfinite(run["scores"]))  # at this budget: one episode a level
    solvable = {seed: maze_from_seed(seed, 15, ex.MAX_DENSITY).solvable for seed in best}
    # an unsolvable level never returns anything: its best stays 0, so its regret is minus the mean value
    # (about 0 for an untrained critic); a level solved keeps its discounted return in (0, 1] as its best
    assert not all(solvable.values()) and all(best[s] == 0.0 for s, ok in solvable.items() if not ok)
    assert all(0.0 <= b <= 1.0 for b in best.values())
    solved = sum(b > 0 for b in best.values())
    assert solved >= 1
    # a regret well above 0 only on the episodes that reached the goal (best return > the value predicted)
    assert sum(s > 0.2 for s in run["scores"]) == solved, run["scores"]


def test_rl_levels_cleanrl_learnable_counts_each_levels_successes_and_plr_holds_their_score(monkeypatch):
    pytest.importorskip("torch")
    import magister.bench.levels as bench_levels
    from magister.rl import LevelScorer
    from magister.rl.envs.maze import maze_from_seed

    made = {}
    make = bench_levels.make_level_teacher

    def keep(*args, **kwargs):  # the example builds its teacher here: keep it to read plr's buffer
        made["teacher"], score = make(*args, **kwargs)
        return made["teacher"], score

    monkeypatch.setattr(bench_levels, "make_level_teacher", keep)
    ex = _example("rl_levels_cleanrl")
    run = ex.train("plr", 2048, seed=3, n_envs=2, level_score="learnable", n_levels=None,  # levels are seeds
                   settings={"replay_prob": 0.8})  # 2 envs, mostly replays: long enough to replay
    assert run["reported"] > 0 and run["observed"] == run["reported"]  # every finished episode reached plr
    outcomes = run["outcomes"]  # level (generator seed) -> [successes, episodes]
    assert sum(n for _, n in outcomes.values()) == run["reported"]
    assert max(n for _, n in outcomes.values()) > 1  # plr replayed some level: its counts add up
    # an unsolvable level is never solved; some level is
    assert all(s == 0 for seed, (s, _) in outcomes.items() if not maze_from_seed(seed, 15, ex.MAX_DENSITY).solvable)
    assert sum(s for s, _ in outcomes.values()) >= 1
    # plr keeps each level's latest score: the learnable score of its counts so far
    buffer, scorer = made["teacher"].buffer, LevelScorer("learnable")
    assert len(buffer) == len(outcomes)
    for key in buffer:
        assert buffer.score(key) == pytest.approx(scorer.learnable_score(*outcomes[buffer.level(key)]))
    with pytest.raises(ValueError, match="learns from each episode's success"):
        ex.train("learnability", 256, seed=0, level_score="learnable")


def test_rl_levels_sb3_callback_reports_every_episode_score(capsys):
    pytest.importorskip("stable_baselines3")
    runs = _example("rl_levels_sb3").main(steps=2048, seed=0)
    _versus_uniform_line(capsys.readouterr().out, "plr")
    plr = runs["plr"]
    assert plr["reported"] > 0 and plr["observed"] == plr["reported"]
    assert 0.0 <= plr["unseen"] <= 1.0 and 0.0 <= runs["uniform"]["unseen"] <= 1.0
    # plr beats uniform at the example's budget (100k steps: 5 of 5 seeds, docs/examples.md), not at a budget
    # much smaller (12k: 2 of 4 seeds): the plumbing and the printed comparison here, the win in the next test


@pytest.mark.parametrize("kind", ["maxmc", "learnable"])
def test_rl_levels_sb3_callback_scores_per_level_kinds(kind):
    # before: train(kind="maxmc") and make_callback("learnable") raised at the first rollout's end (the callback
    # gave the scorer no level keys, and each env's wrapper numbers its episodes from 0, so ids alone were
    # ambiguous across envs)
    pytest.importorskip("stable_baselines3")
    r = _example("rl_levels_sb3").train("plr", 2048, seed=0, n_envs=4, kind=kind)
    assert r["reported"] > 0 and r["observed"] == r["reported"]


def test_rl_levels_sb3_plr_beats_uniform_levels_at_the_examples_budget(capsys):
    """The example as a user runs it (100,000 env steps per student, seed 0, about 40 s): plr's student solves
    more unseen levels than uniform's and the example says so (seeds 0-4: 5 of 5 on two machines,
    docs/examples.md)."""
    pytest.importorskip("stable_baselines3")
    runs = _example("rl_levels_sb3").main(steps=100_000, seed=0)
    _beats_uniform_line(capsys.readouterr().out, "plr")
    assert runs["plr"]["unseen"] > runs["uniform"]["unseen"], (runs["plr"]["unseen"], runs["uniform"]["unseen"])


def _beats_uniform_line(out: str, teacher: str) -> str:
    """The line where an example says how its curriculum did against uniform sampling."""
    lines = [line for line in out.splitlines() if line.startswith(f"teacher {teacher}: ") and " vs uniform " in line]
    assert lines, f"the example did not print 'teacher {teacher}: ... vs uniform ...'; it printed:\n{out}"
    # and it says who won, in words (the numeric asserts of each test check that it is right)
    assert lines[-1].endswith(": beats uniform"), lines[-1]
    return lines[-1]


def test_rl_vector_adr_masters_more_test_tasks_than_uniform(capsys):
    # the example's own budget (60k steps; at 40k-50k neither teacher is reliably past the first hurdle);
    # sync envs in the test keep it to this process, async is exercised in test_rl_ppo
    shares = _example("rl_vector").main(seed=0, vectorization="sync")
    _beats_uniform_line(capsys.readouterr().out, "adr")
    # ADR masters a third or more of the test tasks at this budget (33%, 43%, 32% on seeds 0-2 with async
    # envs, docs/examples.md), uniform none
    assert shares["adr"] > shares["uniform"], shares


def test_rl_sb3_adr_masters_more_test_tasks_than_uniform(capsys):
    pytest.importorskip("stable_baselines3")
    shares = _example("rl_sb3").main(seed=0)
    _beats_uniform_line(capsys.readouterr().out, "adr")
    # ADR masters 47% of the test tasks on seeds 0 and 1 at this budget, uniform 0%
    assert shares["adr"] > shares["uniform"], shares


def test_simulated_learners_do_not_share_the_teachers_random_stream():
    """A learner seeded with the teacher's int draws the teacher's numbers (with lp-bandit over SkillStudent,
    one seed for both makes the first skill always succeed); the examples' learners have streams of their own."""
    import magister as mg
    from magister.students import SkillStudent

    teacher_draws = mg.make_teacher("uniform", mg.Discrete(3), seed=7).rng.random(5)
    assert not np.allclose(_example("rl_gymnasium").StandIn(seed=7).rng.random(5), teacher_draws)
    # the hazard itself, so the check above guards something real
    assert np.allclose(np.random.default_rng(7).random(5), teacher_draws)
    first_rate = {}  # success rate of skill s0 under lp-bandit seeded 0, by the student's seed
    for student_seed in (0, 1):
        student = SkillStudent(seed=student_seed)
        teacher = mg.make_teacher("lp-bandit", student.space, seed=0)
        first = []
        for _ in range(400):
            skill = teacher.propose()
            score = student.attempt(skill)
            teacher.observe(skill, score)
            if skill == "s0":
                first.append(score)
        first_rate[student_seed] = float(np.mean(first))
    assert first_rate[0] == 1.0 and first_rate[1] < 0.9
    src = (EXAMPLES / "people_quickstart.py").read_text()
    assert "default_rng(seed)" not in src and "default_rng([seed, 2])" in src


def test_people_quickstart_mastery_learning_beats_uniform_practice(capsys):
    pytest.importorskip("scipy")
    ex = _example("people_quickstart")
    known = ex.main()
    out = capsys.readouterr().out
    _beats_uniform_line(out, "mastery-learning")
    assert known["mastery-learning"] > known["uniform"] + 0.15, known
    # the learner models it fits beat a constant rate
    auc = {line.split(" AUC ")[0].strip(): float(line.split(" AUC ")[1].split()[0])
           for line in out.splitlines() if " AUC " in line}
    assert auc["bkt"] > auc["constant"] + 0.1 and auc["fsrs fitted"] > 0.6, auc


def test_skills_set_aside_beats_plain_sec_and_uniform(capsys):
    ex = _example("skills_set_aside")
    out = ex.main()
    _beats_uniform_line(capsys.readouterr().out, "sec with set_aside")
    aside, plain, uni = out["sec, set_aside=0.9"], out["sec"], out["uniform"]
    assert aside["mastery"] > plain["mastery"] and aside["mastery"] >= uni["mastery"] + 0.1, out
    # what it does: fewer exercises on skills the learner has already mastered
    assert aside["on_mastered"] < plain["on_mastered"] - 0.03, out


def test_serve_quickstart_teaches_over_http_better_than_uniform(capsys):
    pytest.importorskip("fastapi")
    skill = _example("serve_quickstart").main(steps=400)
    out = capsys.readouterr().out
    _beats_uniform_line(out, "alp-gmm")
    assert "observed 400, proposed 400" in out
    assert skill["alp-gmm"] > 1.5 * skill["uniform"], skill


def test_data_hf_learning_progress_bandit_beats_uniform_on_the_learnable_skills(capsys):
    pytest.importorskip("transformers")
    import ast

    loss = _example("data_hf").main(seed=0)
    out = capsys.readouterr().out
    _beats_uniform_line(out, "lp-bandit")
    assert loss["lp-bandit"] < loss["uniform"] - 0.1, loss
    # what its docstring says the bandit does: it soon stops spending batches on the noise skill, which no model can
    # learn (seed 0: 201 noise examples of 1,920 against uniform's 666), and the example prints it
    drawn = {line.split()[0]: ast.literal_eval(line.split("per skill: ")[1])
             for line in out.splitlines() if "examples drawn per skill: " in line}
    assert set(drawn) == {"lp-bandit", "uniform"}, out
    assert drawn["lp-bandit"]["noise"] < 0.5 * drawn["uniform"]["noise"], drawn


def test_data_pytorch_skill_it_beats_uniform(capsys):
    acc = _example("data_pytorch").main(seed=0)
    _beats_uniform_line(capsys.readouterr().out, "skill-it")
    assert acc["skill-it"] > acc["uniform"] + 0.04, acc


def test_rl_rllib_adr_masters_more_test_tasks_than_uniform(capsys):
    # a local Ray cluster, the teacher in an actor, RLlib sampling in this process (no env-runner actors)
    pytest.importorskip("ray.rllib")
    shares = _example("rl_rllib").main(seed=0)
    _beats_uniform_line(capsys.readouterr().out, "adr")
    # at the example's 32,768 steps ADR masters 47% of the test tasks on seeds 0 and 1 and uniform none (at
    # 24,576: 23% and 26%); the actor's batching makes runs not exactly repeatable, hence the wide margin
    assert shares["adr"] > shares["uniform"] + 0.2, shares


def test_selfplay_pettingzoo_learners_beat_random_and_the_last_line_compares_pfsp_with_self_play(capsys):
    """The example as a user runs it (3,000 games per learner, seeds 0-2): every learner, under pfsp and under naive
    self-play, beats the random player by a clear margin, and pfsp sends most of its games to the members the
    learner scores worst against. Which of the two ends stronger against held-out opponents is not asserted: at
    this budget neither is ahead on most seeds (seeds 0-9 in docs/examples.md); the last line must say what the
    per-seed numbers say."""
    ex = _example("selfplay_pettingzoo")
    results = ex.main()
    out = capsys.readouterr().out
    assert set(results) == {"pfsp", "self-play"} and all(len(runs) == 3 for runs in results.values())
    for name, runs in results.items():
        for seed, r in enumerate(runs):
            assert r["random"] >= ex.BEATS_RANDOM, (name, seed, r)  # random against random scores 0.5
            assert r["perfect"] <= 0.5, (name, seed, r)  # perfect play is never beaten
    # pfsp steers: its next game goes to the half of the pool the learner scores worst against with a chance
    # well above that half's share of the members
    assert all(r["harder_half"] > 0.6 for r in results["pfsp"]), results["pfsp"]
    assert "every learner beats random by a clear margin: yes" in out
    last = out.splitlines()[-1]
    assert last.startswith("teacher pfsp: ") and " vs self-play " in last, last
    gaps = [a["mean"] - b["mean"] for a, b in zip(results["pfsp"], results["self-play"])]
    ahead, behind = sum(g > 0 for g in gaps), sum(g < 0 for g in gaps)
    assert f"ahead on {ahead} of 3 seed(s)" in last, last
    assert last.endswith(": beats self-play" if ahead == 3 else ": behind self-play" if behind == 3
                         else ": no clear difference"), last


def test_selfplay_pettingzoo_reloaded_teacher_proposes_as_the_one_never_saved(tmp_path):
    """Half-way through a run the example saves its teacher and trains on with ``magister.load``'s copy: the run
    plays the same opponents, in the same order, and ends with the same learner as a run that kept its teacher."""
    ex = _example("selfplay_pettingzoo")
    played = {}
    for name in ("pfsp", "self-play"):
        kept = ex.train(name, 600, seed=1, folder=tmp_path / name / "kept", reload=False)
        reloaded = ex.train(name, 600, seed=1, folder=tmp_path / name / "reloaded")
        assert (tmp_path / name / "reloaded" / "teacher.ckpt").exists()
        assert not (tmp_path / name / "kept" / "teacher.ckpt").exists()
        assert reloaded["teacher"] is not kept["teacher"] and reloaded["teacher"].n_observed == 600
        assert reloaded["opponents"] == kept["opponents"], name
        assert np.array_equal(reloaded["learner"].value, kept["learner"].value), name
        assert np.array_equal(reloaded["teacher"].probabilities(), kept["teacher"].probabilities()), name
        assert [r.to_dict() for r in reloaded["records"]] == [r.to_dict() for r in kept["records"]], name
        played[name] = set(reloaded["opponents"][300:])
    # not an empty check: after the reload pfsp spread its games over the pool's members (ids 0-5), self-play
    # played the newest of each stretch of 100 games (ids 3, 4, 5)
    assert len(played["pfsp"]) >= 5 and played["self-play"] == {3, 4, 5}, played


def test_selfplay_pettingzoo_held_out_opponents_are_what_they_claim():
    """``perfect`` never loses (tic-tac-toe is a draw under perfect play), ``blocker`` wins when it can and blocks
    a line the other side would complete."""
    ex = _example("selfplay_pettingzoo")
    assert ex.negamax((0,) * 9) == 0
    assert ex.negamax((1, 1, 0, 2, 2, 0, 0, 0, 0)) == 1  # the player to move completes its row
    policies = ex.held_out_loader(np.random.default_rng(0))

    def obs(board):  # the board seen by the player to move: 1 mine, 2 theirs
        b = np.array(board)
        return {"observation": np.stack([b == 1, b == 2], axis=1).astype(np.int8).reshape(3, 3, 2),
                "action_mask": (b == 0).astype(np.int8)}

    blocker, perfect = policies(b"blocker"), policies(b"perfect")
    assert blocker(obs((1, 1, 0, 2, 2, 0, 0, 0, 0))) == 2  # its own win first
    assert blocker(obs((2, 0, 0, 2, 1, 0, 0, 0, 1))) == 6  # else the block
    assert perfect(obs((2, 0, 0, 2, 1, 0, 0, 0, 1))) == 6


@pytest.mark.parametrize("name, kwargs, message", [
    ("rl_gymnasium", {"episodes": 0}, "episodes must be a whole number >= 1"),
    ("rl_gymnasium", {"episodes": -3}, "episodes must be a whole number >= 1"),
    ("rl_gymnasium", {"teacher_name": "uniform"}, "cannot be 'uniform' itself"),
    ("rl_levels_cleanrl", {"steps": 0}, "steps must be a whole number >= 1"),
    ("rl_levels_cleanrl", {"steps": -5}, "steps must be a whole number >= 1"),
    ("rl_levels_cleanrl", {"teacher": "uniform"}, "cannot be 'uniform' itself"),
    ("skills_set_aside", {"exercises": 0}, "exercises must be a whole number >= 1"),
    ("skills_set_aside", {"students": 0}, "students must be a whole number >= 1"),
    ("rl_levels_sb3", {"steps": 0}, "steps must be a whole number >= 1"),
    ("rl_vector", {"steps": 0}, "steps must be a whole number >= 256"),
    # a budget under one rollout trained a whole rollout while the last line named the budget ("after 1 steps")
    ("rl_vector", {"steps": 255}, "steps must be a whole number >= 256.*one rollout is 64 steps on each of the 4"),
    ("rl_sb3", {"steps": 1}, "steps must be a whole number >= 512.*rounded up to whole rollouts"),
    ("rl_levels_sb3", {"steps": 1023}, "steps must be at least one rollout, 1024 env steps"),
    ("rl_levels_cleanrl", {"steps": 64}, "steps must be at least one rollout, 1024 env steps"),
    ("data_pytorch", {"batches": 0}, "batches must be a whole number >= 1"),
    ("data_hf", {"steps": -1}, "steps must be a whole number >= 1"),
    ("rl_sb3", {"steps": -1}, "steps must be a whole number >= 512"),
    ("serve_quickstart", {"steps": 5}, "steps must be a whole number >= 10"),
    ("serve_quickstart", {"steps": 405}, "multiple of 10"),
    ("rl_rllib", {"steps": 100}, "steps must be a whole number >= 512"),
    ("rl_rllib", {"steps": 1000}, "multiple of 512"),
    ("selfplay_pettingzoo", {"games": 1}, "games must be a whole number >= 2"),
    ("selfplay_pettingzoo", {"seeds": 0}, "seeds must be a whole number >= 1"),
    # SB3, RLlib and transformers.set_seed seed numpy's global generator (32 bits): 2**32 stopped the first run
    # with numpy's bare "ValueError: Seed must be between 0 and 2**32 - 1"
    ("data_hf", {"seed": 2**32}, r"seed must be a whole number in 0\.\.4,294,967,295 \(transformers"),
    ("rl_sb3", {"seed": 2**32}, r"seed must be a whole number in 0\.\.4,294,967,295 \(SB3"),
    ("rl_levels_sb3", {"steps": 1024, "seed": 2**32}, r"seed must be a whole number in 0\.\.4,294,967,295 \(SB3"),
    ("rl_rllib", {"seed": 2**32}, r"seed must be a whole number in 0\.\.4,294,967,295 \(RLlib"),
])
def test_examples_refuse_a_budget_they_cannot_run_before_training(name, kwargs, message, monkeypatch):
    """A zero or negative budget used to run anyway: the level examples took 0 for the default 100,000 steps
    and a negative budget for no training at all, the Gymnasium example printed nan% and a verdict, the service
    and RLlib examples rounded the budget (5 tasks ran none; 100 RLlib steps ran 512) while their last line named
    the one asked for. Each is refused before the first run."""
    if name == "serve_quickstart":
        pytest.importorskip("fastapi")
    if name == "rl_rllib":
        pytest.importorskip("ray")
    if name == "data_hf":
        pytest.importorskip("transformers")
    from magister.errors import ConfigError

    monkeypatch.delenv("MAGISTER_EXAMPLE_STEPS", raising=False)
    ex = _example(name)

    def must_not_train(*args, **kwargs):
        raise AssertionError(f"{name} started training with {kwargs or args}")

    for attr in ("train", "practise", "teach"):
        if hasattr(ex, attr):
            monkeypatch.setattr(ex, attr, must_not_train)
    if name == "rl_rllib":
        monkeypatch.setattr(ex.ray, "init", must_not_train)
    if name == "serve_quickstart":
        monkeypatch.setattr(ex, "Server", must_not_train)
    with pytest.raises(ConfigError, match=message):
        ex.main(**kwargs)


def test_the_examples_seed_check_takes_the_32_bit_seeds_numpy_s_global_generator_takes():
    # the one check of rl_sb3, rl_levels_sb3, rl_rllib and data_hf (pasted in each before): numpy's global
    # generator, which SB3, RLlib and transformers.set_seed seed, takes 0 .. 2**32 - 1
    from magister.errors import ConfigError
    from magister.settings import numpy_global_seed

    assert numpy_global_seed(0, "SB3") == 0 and numpy_global_seed(np.uint32(2**32 - 1), "SB3") == 2**32 - 1
    assert type(numpy_global_seed(np.int64(7), "SB3")) is int
    with pytest.raises(ConfigError, match=r"seed must be a whole number in 0\.\.4,294,967,295 \(RLlib seeds numpy's "
                                          r"global generator with it\), got 4294967296"):
        numpy_global_seed(2**32, "RLlib")
    for bad in (-1, True, 1.5, "1", None):
        with pytest.raises(ConfigError, match=r"seed must be a whole number >= 0"):
            numpy_global_seed(bad, "SB3")


def _example_that_must_not_train(name: str, monkeypatch):
    """The example module ``name`` with its ``train`` replaced by one that fails the test if called."""
    ex = _example(name)

    def must_not_train(*args, **kwargs):
        raise AssertionError(f"{name} started training with {kwargs or args}")

    monkeypatch.setattr(ex, "train", must_not_train)
    return ex


@pytest.mark.parametrize("name", ["rl_levels_cleanrl", "rl_levels_sb3"])
@pytest.mark.parametrize("value", ["100k", "1e5", "0", "-5"])
def test_level_examples_refuse_a_budget_from_the_environment_they_cannot_run(name, value, monkeypatch):
    """``MAGISTER_EXAMPLE_STEPS=100k`` stopped the level examples with a bare ``ValueError: invalid literal for
    int()``, and ``=0`` was refused as "steps must be ...", naming an option the user had not given. Both name
    the variable and the fix now, before the first run."""
    from magister.errors import ConfigError

    monkeypatch.setenv("MAGISTER_EXAMPLE_STEPS", value)
    ex = _example_that_must_not_train(name, monkeypatch)
    with pytest.raises(ConfigError, match=r"MAGISTER_EXAMPLE_STEPS must be a whole number >= 1.*unset it"):
        ex.main()


@pytest.mark.parametrize("name", ["rl_levels_cleanrl", "rl_levels_sb3"])
def test_level_examples_refuse_a_budget_from_the_environment_under_one_rollout(name, monkeypatch):
    """``MAGISTER_EXAMPLE_STEPS=500`` trained a whole rollout (1,024 steps: 128 on each of 8 envs) and the last
    line said "after 500 env steps"; the refusal names the variable, not an option the user did not give."""
    from magister.errors import ConfigError

    monkeypatch.setenv("MAGISTER_EXAMPLE_STEPS", "500")
    ex = _example_that_must_not_train(name, monkeypatch)
    with pytest.raises(ConfigError, match=r"^MAGISTER_EXAMPLE_STEPS must be at least one rollout, 1024 env steps"):
        ex.main()
    monkeypatch.setenv("MAGISTER_EXAMPLE_STEPS", "1024")  # one rollout is a budget it runs as asked
    assert ex.budget(None) == 1024


@pytest.mark.parametrize("teacher, levels, message", [
    ("frontier", 100, "unknown level benchmark teacher 'frontier'; choose from"),
    ("accel", 100, "'accel' does not pick among generator seeds"),
])
def test_rl_levels_cleanrl_refuses_a_teacher_it_cannot_run_with_a_magister_error(teacher, levels, message):
    """`python examples/rl_levels_cleanrl.py --teacher frontier` (or `--teacher accel` on the default training set)
    stopped with a bare ValueError; a teacher the level loop cannot run is a ConfigError, like every other bad
    setting, raised before any env step."""
    pytest.importorskip("torch")
    from magister.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        _example("rl_levels_cleanrl").main(steps=1024, teacher=teacher, n_levels=levels)


def test_data_hf_leaves_nothing_in_the_current_folder(tmp_path, monkeypatch):
    """The Trainer's output folder was results/data_hf_example under the current folder, left behind."""
    pytest.importorskip("transformers")
    monkeypatch.chdir(tmp_path)
    loss = _example("data_hf").main(steps=2, seed=0)
    assert all(np.isfinite(v) for v in loss.values()), loss
    assert list(tmp_path.iterdir()) == []


def test_data_pytorch_scores_a_run_shorter_than_its_evaluation_interval(capsys):
    """A run of fewer than 50 batches had no evaluation: the last line compared nan% with nan%."""
    acc = _example("data_pytorch").main(batches=10, seed=0)
    assert all(np.isfinite(v) for v in acc.values()), acc
    assert "nan" not in capsys.readouterr().out.splitlines()[-1]


def test_data_pytorch_does_not_print_a_rounded_tie_as_a_win(monkeypatch, capsys):
    ex = _example("data_pytorch")
    monkeypatch.setattr(ex, "train", lambda name, *a: [[0.334, 0.334, 0.334]] if name == "skill-it" else [[0.33] * 3])
    ex.main(batches=50, seed=0)
    assert capsys.readouterr().out.splitlines()[-1].startswith("teacher skill-it: 33.4% vs uniform 33.0% ")


def test_rl_gymnasium_full_reach_on_the_last_episode_beats_a_uniform_run_that_never_got_there(monkeypatch, capsys):
    """A run that never covered the walk counted as its budget, so a teacher that covered it on the budget's last
    episode tied with it: `python examples/rl_gymnasium.py --episodes 1052` printed "1052 vs uniform more than
    1052 ...: does not beat uniform"."""
    import magister as mg
    from magister.rl.envs import CliffWalk

    ex = _example("rl_gymnasium")

    def fake(name, episodes, seed=0):
        return {"teacher": mg.make_teacher(name, CliffWalk.task_space, seed=seed), "reach": CliffWalk.max_cells,
                "full_reach_at": episodes if name == ex.TEACHER else None, "success": [1.0], "distance": [0.5]}

    monkeypatch.setattr(ex, "train", fake)
    ex.main(episodes=50, seed=0)
    out = capsys.readouterr().out
    assert f"teacher {ex.TEACHER}: 50 vs uniform more than 50 episodes" in out, out
    _beats_uniform_line(out, ex.TEACHER)


@pytest.mark.parametrize("name", ["skills_set_aside", "people_quickstart"])
def test_examples_without_a_seed_option_refuse_one_instead_of_ignoring_it(name):
    """These two read no command line: `python examples/skills_set_aside.py --seed 3` ran seed 0's learners and
    printed their figures as if the option had been taken."""
    import os
    import subprocess
    import sys

    src = str(EXAMPLES.parent / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), "--seed", "3"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 2 and "unrecognized arguments: --seed 3" in done.stderr, (done.returncode,
                                                                                         done.stdout[-500:])
    assert "vs uniform" not in done.stdout


def test_rl_rllib_declares_a_cpu_for_every_env_runner(monkeypatch, capsys):
    """Ray was started with 2 CPUs whatever --runners said, and each env-runner actor asks for one:
    `python examples/rl_rllib.py --runners 3` waited for a third CPU forever, printing nothing."""
    pytest.importorskip("ray")
    ex = _example("rl_rllib")
    started = {}
    monkeypatch.setattr(ex.ray, "init", lambda **kwargs: started.update(kwargs))
    monkeypatch.setattr(ex.ray, "shutdown", lambda: None)
    monkeypatch.setattr(ex, "train", lambda name, steps, seed, runners: 0.5 if name == "adr" else 0.0)
    for runners, cpus in ((0, 2), (2, 2), (3, 3), (8, 8)):
        ex.main(steps=ex.BATCH, runners=runners)
        assert started["num_cpus"] == cpus, (runners, started)
    _beats_uniform_line(capsys.readouterr().out, "adr")


@pytest.mark.parametrize("name, args, reason", [
    ("rl_levels_sb3", ["--steps", "0"], "steps must be a whole number >= 1"),
    ("rl_levels_cleanrl", ["--steps", "-5"], "steps must be a whole number >= 1"),
    ("rl_levels_cleanrl", ["--steps", "1024", "--teacher", "nope"], "unknown level benchmark teacher 'nope'"),
    ("rl_levels_cleanrl", ["--steps", "1024", "--teacher", "accel"], "open-ended generator"),
    # it said "pass n_levels=None", a parameter of main(), not the option that does it on the command line
    ("rl_levels_cleanrl", ["--steps", "1024", "--teacher", "alp-gmm"], "on the command line: --levels 0"),
    ("rl_levels_cleanrl", ["--steps", "64"], "steps must be at least one rollout, 1024 env steps"),
    # a negative training set was refused as SeedSpace's "n", and 10**8 levels filled memory before any refusal
    ("rl_levels_cleanrl", ["--steps", "1024", "--levels", "-5"], "--levels must be 0 (an open-ended generator) or"),
    ("rl_levels_cleanrl", ["--steps", "1024", "--levels", "100000000"], "training levels in 1..1,000,000, got 1000"),
    ("data_hf", ["--steps", "0"], "steps must be a whole number >= 1"),
    ("data_pytorch", ["--batches", "0"], "batches must be a whole number >= 1"),
    ("rl_gymnasium", ["--episodes", "0"], "episodes must be a whole number >= 1"),
    # an empty name ran the default teacher (frontier) as if the option had not been given
    ("rl_gymnasium", ["--episodes", "5", "--teacher", ""], "unknown teacher ''"),
    ("rl_rllib", ["--steps", "0"], "steps must be a whole number >= 512"),
    ("rl_sb3", ["--steps", "0"], "steps must be a whole number >= 512"),
    ("rl_vector", ["--steps", "0"], "steps must be a whole number >= 256"),
    ("rl_vector", ["--steps", "100"], "steps must be a whole number >= 256"),
    ("rl_sb3", ["--seed", "4294967296"], "seed must be a whole number in 0..4,294,967,295"),
    # torch takes seeds up to 2**64 - 1: one past it ended in torch's "Overflow when unpacking long long" traceback
    ("data_pytorch", ["--seed", str(2**64)], "seed must be a whole number in 0..18,446,744,073,709,551,615"),
    ("rl_levels_cleanrl", ["--steps", "1024", "--seed", str(2**64)],
     "seed must be a whole number in 0..18,446,744,073,709,551,615"),
    ("selfplay_pettingzoo", ["--games", "1"], "games must be a whole number >= 2"),
    ("serve_quickstart", ["--steps", "0"], "steps must be a whole number >= 10"),
    ("skills_set_aside", ["--students", "0"], "students must be a whole number >= 1"),
])
def test_examples_refuse_a_bad_option_with_the_usage_not_a_traceback(name, args, reason):
    """`python examples/rl_levels_sb3.py --steps 0` (or the CleanRL loop's `--teacher accel` with its default
    training set, or any other example's out-of-range option) ended in a ConfigError traceback; an option refused is
    now argparse's usage line and reason."""
    import os
    import subprocess
    import sys

    src = str(EXAMPLES.parent / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), *args], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-800:]
    assert "usage:" in done.stderr and reason in done.stderr, done.stderr[-800:]


def test_the_examples_page_names_every_option_of_every_example():
    """docs/examples.md's "Run one with" paragraph lists the examples' options; selfplay_pettingzoo.py's
    --games and --seeds were missing, so a reader could not find how to run it smaller."""
    import re

    text = (EXAMPLES.parent / "docs" / "examples.md").read_text(encoding="utf-8")
    paragraph = text[text.index("Run one with"):].split("\n\n", 1)[0]
    common = {"--seed", "--steps", "--batches", "--episodes"}  # "the RL and data examples take --seed and their budget"
    for path in sorted(EXAMPLES.glob("*.py")):
        options = set(re.findall(r"add_argument\(\s*\"(--[\w-]+)\"", path.read_text(encoding="utf-8")))
        for option in sorted(options):
            assert re.search(rf"{option}\b", paragraph), f"{path.name}: {option} is not on docs/examples.md"
        if options - common:
            assert path.name in paragraph, f"{path.name}: its options {sorted(options - common)} are not named with it"


@pytest.mark.parametrize("name", sorted(path.stem for path in EXAMPLES.glob("*.py")))
def test_every_examples_help_says_what_it_does(name):
    """`python examples/rl_vector.py --help` (and six others) printed its options and nothing about what it runs;
    each example's --help now opens with the first line of its docstring."""
    import ast
    import os
    import subprocess
    import sys

    path = EXAMPLES / f"{name}.py"
    first = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))).splitlines()[0]
    src = str(EXAMPLES.parent / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""), "COLUMNS": "1000"}
    done = subprocess.run([sys.executable, str(path), "--help"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("usage:"), (done.returncode, done.stderr[-500:])
    assert first in " ".join(done.stdout.split()), done.stdout
    if name == "rl_vector":  # under python -OO there is no docstring: --help failed on None.splitlines()
        done = subprocess.run([sys.executable, "-OO", str(path), "--help"], capture_output=True, text=True, env=env,
                              timeout=120)
        assert done.returncode == 0 and done.stdout.startswith("usage:"), (done.returncode, done.stderr[-500:])
