"""benchmarks/selfplay.py: its game engine agrees with PettingZoo, its held-out opponents are what they claim,
and a tiny end-to-end run writes the table, curves, ratings and cross-play picture."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pettingzoo")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import selfplay as sp  # noqa: E402

from magister.bench.runner import run_jobs  # noqa: E402


def in_order(fn, items, *, workers, **kw):
    """Stands in for the script's process pool: the jobs one after the other in this process (monkeypatched
    functions reach them), through the same code as ``--workers 1``."""
    return run_jobs(fn, items, workers=1, **kw)


def test_engine_and_board_keys_agree_with_pettingzoo() -> None:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from pettingzoo.classic import tictactoe_v3

    env = tictactoe_v3.env()
    rng = np.random.default_rng(0)
    for g in range(30):
        env.reset(seed=g)
        board = (0,) * 9
        me = 1
        while True:
            obs, _, term, trunc, _ = env.last()
            if term or trunc:
                break
            assert sp.key_of_obs(obs) == sp.key_of(board, me)
            a = int(rng.choice(np.flatnonzero(obs["action_mask"])))
            env.step(a)
            board = board[:a] + (me,) + board[a + 1:]
            me = 3 - me
        w = sp.winner(board)
        assert w != 0
        expected = {1: 1, 2: -1, 3: 0}[w]
        assert env.rewards["player_1"] == expected and env.rewards["player_2"] == -expected


def test_connect_four_engine_agrees_with_pettingzoo() -> None:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from pettingzoo.classic import connect_four_v3

    env = connect_four_v3.env()
    rng = np.random.default_rng(0)
    for g in range(20):
        env.reset(seed=g)
        state, me = (0, 0), 1
        while True:
            obs, _, term, trunc, _ = env.last()
            if term or trunc:
                break
            mine, theirs = state if me == 1 else state[::-1]
            assert sp.c4_bits_of_obs(obs) == (mine, theirs)
            assert list(np.flatnonzero(obs["action_mask"])) == sp.c4_moves(state)
            assert sp.c4_winner(state) == 0
            a = int(rng.choice(sp.c4_moves(state)))
            env.step(a)
            state, me = sp.c4_apply(state, a, me), 3 - me
        w = sp.c4_winner(state)
        assert w != 0
        expected = {1: 1, 2: -1, 3: 0}[w]
        assert env.rewards["player_0"] == expected and env.rewards["player_1"] == -expected


def test_connect_four_lines_and_mirror_weights() -> None:
    assert sp.C4_LINES.shape == (69, 4) and sp.C4_NGROUPS < 69
    w = np.random.default_rng(0).random((sp.C4_NGROUPS, 81)).astype(np.float32)
    rng = np.random.default_rng(1)
    state, me = (0, 0), 1
    for _ in range(12):  # a board and its mirror image are worth the same
        state, me = sp.c4_apply(state, int(rng.choice(sp.c4_moves(state))), me), 3 - me
    mirror = tuple(sum(((b >> (7 * c)) & 0x3F) << (7 * (6 - c)) for c in range(7)) for b in state)
    v = [float(w[sp.C4_GROUP, sp.c4_patterns(np.array([s[0]]), np.array([s[1]]))[0]].sum()) for s in (state, mirror)]
    assert mirror != state and v[0] == pytest.approx(v[1])


def test_symmetric_boards_share_one_row() -> None:
    board = (1, 2, 0, 0, 1, 0, 0, 0, 0)
    rot = tuple(np.rot90(np.array(board).reshape(3, 3)).reshape(-1))  # the same position turned a quarter
    k1, k2 = sp.key_of(board, 1), sp.key_of(rot, 1)
    assert k1 != k2 and sp.CANON[k1] == sp.CANON[k2]
    q = np.random.default_rng(0).random((sp.N_STATES, 9)).astype(np.float32)
    grid = np.arange(9).reshape(3, 3)
    moved = np.rot90(grid).reshape(-1)  # cell moved[i] of the board lands on cell i of the turned board
    for a in (2, 3, 5, 6, 7, 8):
        i = int(np.flatnonzero(moved == a)[0])
        assert sp.qvals(q, k1, np.array([a]))[0] == sp.qvals(q, k2, np.array([i]))[0]


def test_held_out_opponents_are_ordered_by_strength() -> None:
    rng = np.random.default_rng(1)
    p, ttt = sp.HELD_OUT_POLICIES, sp.GAMES["tictactoe"]
    vs_random = [sp.score(sp.match(ttt, p[n], sp.random_policy, 200, rng)) for n in sp.HELD_OUT]
    assert 0.4 < vs_random[0] < 0.6 and vs_random[1] < vs_random[2] <= vs_random[3]
    assert sp.score(sp.match(ttt, p["search-4"], p["search-2"], 200, rng)) > 0.55
    assert sp.score(sp.match(ttt, sp.search_policy(9), p["search-4"], 100, rng)) > 0.55  # depth-limited, not perfect
    assert sp.negamax((0,) * 9, 1, 9) == 0.0  # perfect play draws


def test_connect_four_held_out_opponents_are_ordered_by_strength() -> None:
    rng = np.random.default_rng(2)
    c4 = sp.GAMES["connect4"]
    p = c4.held_out
    assert sp.score(sp.match(c4, p["greedy"], p["random"], 40, rng)) > 0.6
    assert sp.score(sp.match(c4, p["search-2"], p["greedy"], 40, rng)) > 0.6
    assert sp.score(sp.match(c4, p["search-4"], p["search-2"], 20, rng)) > 0.55


def test_tiny_run_writes_table_curves_ratings_and_picture(tmp_path: Path, capsys) -> None:
    summary = sp.main(["--game", "tictactoe", "--games", "120", "--snapshot-every", "40", "--seeds", "1", "--methods", "self-play,fsp",
                       "--workers", "1", "--quick", "--rated-per-run", "2", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "| self-play |" in out and "| fsp |" in out and "points above naive self-play" in out
    for f in ("curves.csv", "curves.png", "crossplay.png", "ratings.csv", "results.json"):
        assert (tmp_path / f).exists(), f
    res = json.loads((tmp_path / "results.json").read_text())
    for run in res["runs"]:
        assert sum(run["train_outcomes"].values()) == 120
        assert sum(r["games"] for r in run["pool"]) <= 120  # evicted members take their games with them
        assert sum(run["held_out"]["search-4"]) == 40 and run["n_first_half"] >= 1
    assert set(summary["table"]) == {"self-play", "fsp"}


def test_tiny_connect_four_run(tmp_path: Path, capsys) -> None:
    summary = sp.main(["--games", "40", "--snapshot-every", "20", "--seeds", "1", "--methods", "self-play,pfsp",
                       "--workers", "1", "--curve-games", "2", "--final-games", "4", "--past-games", "2",
                       "--rated-per-run", "2", "--crossplay-games", "2", "--out", str(tmp_path)])
    assert "connect four" in capsys.readouterr().out
    for run in summary["runs"]:
        assert sum(run["train_outcomes"].values()) == 40 and sum(run["held_out"]["search-4"]) == 4


def test_reference_run_trains_against_the_held_out_opponent(tmp_path: Path, capsys) -> None:
    """The reference row's opponent is search-2 itself: an untrained learner loses most of its games to it, while
    against its own first snapshots (self-play) it wins about half."""
    summary = sp.main(["--games", "40", "--snapshot-every", "20", "--seeds", "1", "--methods", "self-play,trained-vs-search-2",
                       "--workers", "1", "--curve-games", "2", "--final-games", "4", "--past-games", "2",
                       "--rated-per-run", "2", "--crossplay-games", "2", "--last-snapshots", "2", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "| trained-vs-search-2 |" in out and "best pool method" not in out  # a reference is not a pool method
    runs = {r["method"]: r for r in summary["runs"]}
    ref, own = runs["trained-vs-search-2"]["train_outcomes"], runs["self-play"]["train_outcomes"]
    assert ref["loss"] > 2 * ref["win"] and own["win"] > own["loss"] / 2
    assert len(runs["self-play"]["last_vs_strongest"]) == 2


def test_state_of_obs_is_the_engine_state_seen_by_the_side_to_move() -> None:
    from pettingzoo.classic import connect_four_v3, tictactoe_v3

    for game, module in ((sp.GAMES["connect4"], connect_four_v3), (sp.GAMES["tictactoe"], tictactoe_v3)):
        env = module.env()
        env.reset(seed=1)
        rng = np.random.default_rng(1)
        state, me = game.initial, 1
        while not any(env.terminations.values()):
            obs = env.observe(env.agent_selection)
            mine_first = state if me == 1 else (state[::-1] if len(state) == 2 else tuple((3 - v) % 3 for v in state))
            assert game.state_of_obs(obs) == mine_first
            a = int(rng.choice(np.flatnonzero(obs["action_mask"])))
            env.step(a)
            state, me = game.apply(state, a, me), 3 - me


def test_forgetting_measure_plays_the_first_half_snapshots_after_step_0(monkeypatch) -> None:
    """"vs own 1st half" is the final snapshot against the snapshots of the first half of training (docs/selfplay.md:
    the 20 of the first 2 000 games, 250 to 5 000 in tic-tac-toe), not the untrained step-0 learner (which plays
    like greedy and inflated the measure)."""
    import dataclasses

    assert [s for s in range(0, 4001, 100) if sp.in_first_half(s, 4000)] == list(range(100, 2001, 100))
    game = sp.GAMES["tictactoe"]
    met: list[np.ndarray] = []

    def policy_of(q):  # tags each policy with the parameters it was made from
        policy = game.policy_of(q)

        def tagged(*args):
            return policy(*args)
        tagged.params = q.copy()
        return tagged

    match = sp.match

    def recorded(g, a, b, games, rng):
        if games == 6:  # --past-games: the forgetting matches only
            met.append(b.params)
        return match(g, a, b, games, rng)

    monkeypatch.setitem(sp.GAMES, "tictactoe", dataclasses.replace(game, policy_of=policy_of))
    monkeypatch.setattr(sp, "match", recorded)
    cfg = dict(game.defaults, game="tictactoe", games=120, snapshot_every=20, pool_size=4, eviction="random",
               eval_every=10**9, curve_games=2, final_games=4, past_games=6, rated_per_run=2, last_snapshots=2)
    run = sp.run_one("self-play", 0, cfg)
    assert run["n_first_half"] == len(met) == 3  # the snapshots after 20, 40 and 60 games
    assert not any((q == 0).all() for q in met)  # never the untrained learner's all-zero table
    assert sum(run["vs_first_half"]) == 3 * 6


def test_the_cross_play_rates_rated_per_run_snapshots_after_step_0_evenly_spaced() -> None:
    """--rated-per-run 8 ("snapshots per run in the cross-play") kept every len // 8-th snapshot: 10 after step 0
    for 2 000 or 3 000 games, and at 10 000 games the ones after 9 600 and 10 000 both; the benchmark's 41 snapshots
    (4 000 connect-four games, 10 000 tic-tac-toe ones) keep the same 9 as before."""
    game = sp.GAMES["tictactoe"]
    cfg = dict(game.defaults, game="tictactoe", games=300, snapshot_every=10, pool_size=4, eviction="random",
               eval_every=10**9, curve_games=2, final_games=2, past_games=2, rated_per_run=8, last_snapshots=2)
    steps = [s for s, _ in sp.run_one("self-play", 0, cfg)["kept"]]
    assert len(steps) == 9 and steps[0] == 0 and steps[-1] == 300
    assert sp.rated_indices(41, 8) == list(range(0, 41, 5))  # the published runs' snapshots
    assert sp.rated_indices(101, 8) == [0, 12, 25, 37, 50, 62, 75, 87, 100]
    assert sp.rated_indices(5, 8) == [0, 1, 2, 3, 4]


def test_later_beats_earlier_reads_cross_play() -> None:
    improving = np.array([[0.5, 0.2, 0.1], [0.8, 0.5, 0.3], [0.9, 0.7, 0.5]])
    cycling = np.array([[0.5, 0.8, 0.2], [0.2, 0.5, 0.9], [0.8, 0.1, 0.5]])
    assert sp.later_beats_earlier(improving, [0, 1, 2]) == 1.0
    assert sp.later_beats_earlier(cycling, [0, 1, 2]) == pytest.approx(1 / 3)


def test_diagnose_settings_and_cycling() -> None:
    import selfplay_diagnose as dg

    assert dg.parse_settings('a=fsp,b=pfsp:{"latest": 0.35, "weighting": "variance"}') == [
        ("a", "fsp", {}), ("b", "pfsp", {"latest": 0.35, "weighting": "variance"})]
    circle = np.full((4, 4), 0.5)  # snapshot 0 is left out; 1 > 2 > 3 > 1
    for i, j in ((1, 2), (2, 3), (3, 1)):
        circle[i, j], circle[j, i] = 1.0, 0.0
    assert dg.cycling(circle) == (pytest.approx(1 / 3), 1.0)


@pytest.mark.parametrize("anneal", [False, True])
def test_anneal_lowers_the_learners_step_linearly_to_zero(tmp_path: Path, capsys, monkeypatch, anneal: bool) -> None:
    steps: list[float] = []
    train_game = sp.NTupleLearner.train_game

    def recorded(self, env):  # the step size each training game is played with
        steps.append(self.alpha)
        return train_game(self, env)

    monkeypatch.setattr(sp.NTupleLearner, "train_game", recorded)
    sp.main(["--games", "40", "--snapshot-every", "20", "--seeds", "1", "--methods", "self-play", "--workers", "1",
             "--curve-games", "2", "--final-games", "2", "--past-games", "2", "--rated-per-run", "2",
             "--crossplay-games", "2", "--alpha", "0.01", "--out", str(tmp_path)] + (["--anneal"] if anneal else []))
    capsys.readouterr()
    expected = [0.01 * (1 - g / 40) for g in range(40)] if anneal else [0.01] * 40
    np.testing.assert_allclose(steps, expected)


def test_workers_option_is_not_clamped_to_two(tmp_path: Path, capsys, monkeypatch) -> None:
    asked: list[int] = []

    def serial(fn, items, *, workers, **kw):  # stands in for the process pool: records its size, runs the jobs here
        asked.append(workers)
        return in_order(fn, items, workers=workers, **kw)

    monkeypatch.setattr(sp, "run_jobs", serial)
    sp.main(["--game", "tictactoe", "--games", "40", "--snapshot-every", "20", "--seeds", "1", "--methods", "self-play",
             "--workers", "5", "--curve-games", "2", "--final-games", "2", "--past-games", "2", "--rated-per-run", "2",
             "--crossplay-games", "2", "--out", str(tmp_path)])
    assert asked == [5]


@pytest.mark.parametrize("bad", [["--seeds", "0"], ["--seeds", "-1"], ["--methods", ","]])
def test_no_seeds_or_no_methods_is_refused_before_any_run(tmp_path: Path, capsys, monkeypatch,
                                                          bad: list[str]) -> None:
    def never(*a, **k):
        raise AssertionError("a run started")

    monkeypatch.setattr(sp, "run_one", never)
    with pytest.raises(SystemExit) as e:
        sp.main(["--game", "tictactoe", "--workers", "1", "--out", str(tmp_path), *bad])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--seeds" in err or "--methods" in bad
    assert bad[0] in err  # the --methods case too: refused by its own name


def test_diagnose_refuses_no_seeds_before_any_run(tmp_path: Path, capsys) -> None:
    import selfplay_diagnose as dg

    with pytest.raises(SystemExit) as e:
        dg.main(["--seeds", "0", "--out", str(tmp_path / "never" / "d.json")])
    assert e.value.code == 2 and "--seeds" in capsys.readouterr().err and not (tmp_path / "never").exists()


@pytest.mark.parametrize("bad", [["--final-games", "0"], ["--crossplay-games", "0"], ["--curve-games", "3"],
                                 ["--past-games", "1"], ["--last-snapshots", "0"], ["--rated-per-run", "0"],
                                 ["--eval-every", "0"], ["--snapshot-every", "0"], ["--games", "50"]])
def test_evaluation_budgets_that_cannot_be_measured_are_refused_before_any_run(tmp_path: Path, capsys, monkeypatch,
                                                                              bad: list[str]) -> None:
    # --final-games 0 and --crossplay-games 0 (and 0 for the snapshot, curve and rating cadences) failed with a
    # ZeroDivisionError only after every run had trained; --last-snapshots 0 averaged every snapshot of the run;
    # an odd number of evaluation games gave one seat an extra game; --games 50 with a snapshot every 20 rated the
    # snapshot at 40 games as "Elo (final)"
    def never(*a, **k):
        raise AssertionError("a run started")

    monkeypatch.setattr(sp, "run_one", never)
    args = {"--games": "40", "--snapshot-every": "20", "--curve-games": "2", "--final-games": "2", "--past-games": "2",
            "--crossplay-games": "2", "--rated-per-run": "2", "--last-snapshots": "2", "--eval-every": "1"}
    args[bad[0]] = bad[1]
    with pytest.raises(SystemExit) as e:
        sp.main(["--game", "tictactoe", "--seeds", "1", "--methods", "self-play", "--workers", "1",
                 "--out", str(tmp_path), *[x for kv in args.items() for x in kv]])
    assert e.value.code == 2 and bad[0] in capsys.readouterr().err


def test_diagnose_table_of_runs_shorter_than_4000_games(capsys) -> None:
    # the table read the first-half result "at 4 000 games" of every run: a run of --games 2000 has none there,
    # and the table (printed after every run had finished) failed with a TypeError
    import selfplay_diagnose as dg

    def run(name: str) -> dict:
        return {"name": name, "method": name, "seed": 0, "games": 2000, "s4": {1000: 0.3, 2000: 0.4},
                "s2": {1000: 0.5, 2000: 0.6}, "s4_last5": {1600: 0.3, 2000: 0.4}, "first_half": {2000: [3, 0, 1]},
                "cross": {"marks": [0, 1000, 2000], "m": np.full((3, 3), 0.5).tolist()}}

    dg.table([run("self-play"), run("pfsp")])
    row = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("| pfsp |")][0]
    assert "| - / 75 [75-75] |" in row


def test_cross_play_ratings_count_each_game_once():
    # cross_play lists a pair's games on both sides of its counts, and fit_elo counts a game from each side it is
    # listed on: the benchmark fitted every game twice (ratings about 30-50 high in its 37-player cross-play)
    from magister.opponents import fit_elo

    scores = np.array([[0.5, 0.25, 0.5], [0.75, 0.5, 0.5], [0.5, 0.5, 0.5]])
    counts = np.full((3, 3), 6.0)
    np.fill_diagonal(counts, 0.0)
    once = fit_elo(scores, np.triu(counts), anchor=0)
    np.testing.assert_allclose(sp.rate(scores, counts), once)
    assert abs(sp.rate(scores, counts)[1] - 1000) < abs(fit_elo(scores, counts, anchor=0)[1] - 1000)


@pytest.mark.parametrize("bad, needle", [(["--quick", "--curve-games", "6"], "--quick sets --curve-games"),
                                         (["--out", "FILE"], "is a file"), (["--workers", "0"], "--workers"),
                                         (["--first-seed", "-1"], "--first-seed")])
def test_selfplay_options_replaced_or_failing_late_are_refused_before_any_run(tmp_path: Path, capsys, monkeypatch,
                                                                             bad: list[str], needle: str) -> None:
    # --quick replaced a given --curve-games without a word; an --out that is a file failed only after every run
    # had trained; --workers 0 ran in this process; --first-seed -1 failed inside the first run
    monkeypatch.setattr(sp, "run_one", lambda *a, **k: pytest.fail("a run started"))
    (tmp_path / "FILE").write_text("not a folder")
    bad = [str(tmp_path / "FILE") if b == "FILE" else b for b in bad]
    with pytest.raises(SystemExit) as e:
        sp.main(["--game", "tictactoe", "--games", "40", "--snapshot-every", "20", "--seeds", "1", "--methods",
                 "self-play", "--workers", "1", "--out", str(tmp_path / "out"), *bad])
    assert e.value.code == 2 and needle in capsys.readouterr().err.split("error:", 1)[1]


@pytest.mark.parametrize("bad, needle", [(["--settings", "pfps=pfps"], "pfps"), (["--settings", "a=pfsp:{bad}"], "JSON"),
                                         (["--workers", "0"], "--workers"), (["--games", "0"], "--games"),
                                         (["--out", "DIR"], "is a folder")])
def test_diagnose_refuses_bad_settings_workers_and_out_before_any_run(tmp_path: Path, capsys, bad: list[str],
                                                                      needle: str) -> None:
    # a typo'd method failed in a worker process, bad JSON as a traceback, --workers 0 ran on one worker, and an
    # --out that is a folder failed when the first run (minutes) was written
    import selfplay_diagnose as dg

    bad = [str(tmp_path) if b == "DIR" else b for b in bad]
    with pytest.raises(SystemExit) as e:
        dg.main(["--seeds", "1", "--games", "100", "--settings", "a=self-play", "--out", str(tmp_path / "d.json"),
                 *bad])
    assert e.value.code == 2 and needle in capsys.readouterr().err.split("error:", 1)[1]


def test_ranges_of_signed_values_read_unambiguously() -> None:
    # gaps to naive self-play printed "-1 [-1--1]" and "-5 [-12-3]": a range or a subtraction?
    assert sp.fmt([-0.01, -0.01, -0.01], signed=True) == "-1 [-1 to -1]"
    assert sp.fmt([-0.05, -0.12, 0.03], signed=True) == "-5 [-12 to +3]"
    assert sp.fmt([-40.0, 10.0, 25.0], pct=False) == "10 [-40 to 25]"  # an Elo rating below the anchor
    assert sp.fmt([0.5, 0.25, 0.75]) == "50 [25-75]"  # shares as before


def test_repeated_methods_are_refused_before_any_run(tmp_path: Path, capsys, monkeypatch) -> None:
    # --methods self-play,self-play ran naive self-play's runs twice
    monkeypatch.setattr(sp, "run_one", lambda *a, **k: pytest.fail("a run started"))
    with pytest.raises(SystemExit) as e:
        sp.main(["--game", "tictactoe", "--workers", "1", "--out", str(tmp_path), "--methods", "self-play,self-play"])
    assert e.value.code == 2 and "--methods names self-play more than once" in capsys.readouterr().err


def _diagnose_run_or_crash(job: tuple) -> dict:
    name, _, seed, _, _ = job
    if seed == 101:
        raise RuntimeError("the second run crashed")
    return {"name": name, "seed": seed, "s4": {"1000": 0.5}, "cpu_s": 1.0}


def test_a_ctrl_c_ends_with_one_line_and_status_130(tmp_path: Path, capsys, monkeypatch) -> None:
    # (a KeyboardInterrupt traceback from the script and one from each worker)
    def run_one(method, seed, cfg):
        raise KeyboardInterrupt

    monkeypatch.setattr(sp, "run_one", run_one)
    with pytest.raises(SystemExit) as e:
        sp.main(["--games", "40", "--snapshot-every", "20", "--seeds", "1", "--methods", "self-play", "--workers", "1",
                 "--out", str(tmp_path)])
    assert e.value.code == 130 and "interrupted: 0 of 1 runs finished\n" in capsys.readouterr().err


def test_diagnose_ctrl_c_keeps_the_finished_runs_in_the_partial_file(tmp_path: Path, capsys, monkeypatch) -> None:
    # its own multiprocessing pool: a KeyboardInterrupt traceback from the script and from each worker
    import selfplay_diagnose as dg

    def run_or_ctrl_c(job: tuple) -> dict:
        if job[2] == 101:
            raise KeyboardInterrupt
        return _diagnose_run_or_crash(job)

    out = tmp_path / "d.json"
    monkeypatch.setattr(dg, "one", run_or_ctrl_c)
    monkeypatch.setattr(dg, "run_in_pool", in_order)
    with pytest.raises(SystemExit) as e:
        dg.main(["--seeds", "2", "--games", "100", "--settings", "a=self-play", "--workers", "1", "--out", str(out)])
    assert e.value.code == 130 and not out.exists()
    assert f"interrupted: 1 of 2 runs finished; they are kept in {tmp_path / 'd.partial.json'}" in \
        capsys.readouterr().err
    assert [r["seed"] for r in json.loads((tmp_path / "d.partial.json").read_text())] == [100]


def test_diagnose_stopped_run_leaves_an_earlier_out_file_whole(tmp_path: Path, monkeypatch) -> None:
    # --out was rewritten with the first finished run: a run stopped after it (a time limit, Ctrl-C, a crash)
    # replaced an earlier run's file of every run with that one run
    import selfplay_diagnose as dg

    out = tmp_path / "d.json"
    out.write_text('[{"name": "earlier"}]')
    monkeypatch.setattr(dg, "one", _diagnose_run_or_crash)
    monkeypatch.setattr(dg, "run_in_pool", in_order)
    with pytest.raises(RuntimeError, match="second run"):
        dg.main(["--seeds", "2", "--games", "100", "--settings", "a=self-play", "--workers", "1", "--out", str(out)])
    assert out.read_text() == '[{"name": "earlier"}]'
    assert [r["seed"] for r in json.loads((tmp_path / "d.partial.json").read_text())] == [100]


def test_diagnose_moves_a_stopped_runs_partial_file_aside(tmp_path: Path, capsys, monkeypatch) -> None:
    # OUT.partial.json of a stopped run was written over with the next run's first run in the same --out
    import selfplay_diagnose as dg

    out = tmp_path / "d.json"
    (tmp_path / "d.partial.json").write_text('[{"name": "stopped", "seed": 100}]')
    monkeypatch.setattr(dg, "one", _diagnose_run_or_crash)
    monkeypatch.setattr(dg, "run_in_pool", in_order)
    with pytest.raises(RuntimeError, match="second run"):
        dg.main(["--seeds", "2", "--games", "100", "--settings", "a=self-play", "--workers", "1", "--out", str(out)])
    assert (tmp_path / "d.partial.earlier-1.json").read_text() == '[{"name": "stopped", "seed": 100}]'
    assert [r["name"] for r in json.loads((tmp_path / "d.partial.json").read_text())] == ["a"]
    assert "moved it to d.partial.earlier-1.json" in capsys.readouterr().out


@pytest.mark.parametrize("bad, needle", [(["--alpha", "nan"], "--alpha"), (["--alpha", "0"], "--alpha"),
                                         (["--epsilon", "2"], "--epsilon"), (["--epsilon", "-0.1"], "--epsilon"),
                                         (["--pool-size", "0"], "--pool-size")])
def test_bad_learner_and_pool_settings_are_refused_before_any_run(tmp_path: Path, capsys, monkeypatch, bad, needle):
    # --alpha nan and --pool-size 0 were tracebacks from the runs ("a cannot be empty", the pool's ConfigError),
    # --epsilon 2 (a probability) trained a learner that only ever moved at random
    monkeypatch.setattr(sp, "run_one", lambda *a, **k: pytest.fail("a run started"))
    with pytest.raises(SystemExit) as e:
        sp.main(["--game", "tictactoe", "--workers", "1", "--out", str(tmp_path), *bad])
    assert e.value.code == 2 and needle in capsys.readouterr().err.split("error:", 1)[1]


def test_diagnose_refuses_a_negative_first_seed_before_any_run(tmp_path: Path, capsys, monkeypatch) -> None:
    import selfplay_diagnose as dg

    monkeypatch.setattr(dg, "one", lambda job: pytest.fail("a run started"))
    with pytest.raises(SystemExit) as e:
        dg.main(["--seeds", "1", "--settings", "a=self-play", "--first-seed", "-1", "--out", str(tmp_path / "d.json")])
    assert e.value.code == 2 and "--first-seed" in capsys.readouterr().err.split("error:", 1)[1]


@pytest.mark.parametrize("failing", ["ratings.csv", "curves.csv", "results.json"])
def test_a_results_file_whose_write_fails_partway_leaves_the_earlier_one_whole(tmp_path: Path, capsys, monkeypatch,
                                                                              full_disk_at, failing: str) -> None:
    # each file was written in place: a write stopped partway (a full disk, Ctrl-C) left it half-written, the
    # earlier run's results in a re-used --out lost
    import csv
    import errno

    class FailingWriter(csv.DictWriter):
        def writerows(self, rows):
            if {"ratings.csv": "elo", "curves.csv": "games"}.get(failing) in self.fieldnames:
                self.writerow(rows[0])
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().writerows(rows)

    for f in ("ratings.csv", "curves.csv", "results.json"):
        (tmp_path / f).write_text(f"earlier {f}")
    monkeypatch.setattr(sp.csv, "DictWriter", FailingWriter)
    if failing == "results.json":
        full_disk_at("results.json")  # its bytes are in the temporary file when the disk refuses to keep them
    with pytest.raises(OSError, match="No space left"):
        sp.main(["--game", "tictactoe", "--games", "40", "--snapshot-every", "20", "--seeds", "1", "--methods",
                 "self-play", "--workers", "1", "--quick", "--rated-per-run", "2", "--out", str(tmp_path)])
    assert (tmp_path / failing).read_text() == f"earlier {failing}"
    assert not list(tmp_path.glob(".*.tmp"))  # the half-written temporary file is not left beside the results


def test_results_json_is_strict_json_with_null_for_nan(tmp_path: Path) -> None:
    # one snapshot per run has no pair to compare: later_beats_earlier is NaN, and results.json held NaN, which
    # JSON.parse, jq and Go refuse (the whole file); it is null there now
    def refuse(constant: str) -> None:
        raise ValueError(f"not strict JSON: {constant}")

    summary = sp.main(["--game", "tictactoe", "--games", "40", "--snapshot-every", "40", "--seeds", "1", "--methods",
                       "self-play", "--workers", "1", "--quick", "--rated-per-run", "2", "--out", str(tmp_path)])
    assert np.isnan(summary["table"]["self-play"]["later_beats_earlier"][0])
    res = json.loads((tmp_path / "results.json").read_text(), parse_constant=refuse)
    assert res["table"]["self-play"]["later_beats_earlier"] == [None]
