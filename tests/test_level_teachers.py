"""The level buffer and the level teachers: what each promises, shown on small cases."""

from __future__ import annotations

import copy
import pickle
import re

import numpy as np
import pytest

import magister as mg
from magister.checkpoint import states_equal
from magister.errors import CheckpointError, ConfigError, InvalidScoreError, InvalidTaskError
from magister.level_buffer import LevelBuffer
from magister.levels import Maze, empty_maze
from magister.levels.spaces import MazeSpace, SeedSpace
from magister.teacher import from_state_dict


def _draws(buf, n, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for _ in range(n):
        k = buf.sample(rng)
        out[k] = out.get(k, 0) + 1
    return out


@pytest.mark.parametrize("prio", ["rank", "power"])
def test_buffer_replays_high_scores_more(prio):
    buf = LevelBuffer(10, prioritization=prio, temperature=0.5, staleness_coef=0.0)
    for i in range(10):
        buf.add(i, f"level{i}", float(i + 1))
    counts = _draws(buf, 4000)
    freq = np.array([counts.get(i, 0) for i in range(10)]) / 4000
    assert freq[9] > freq[5] > freq[0]
    p = buf.probabilities()
    assert abs(sum(p.values()) - 1) < 1e-12
    assert np.abs(freq - np.array([p[i] for i in range(10)])).max() < 0.03  # sampling matches the distribution
    if prio == "rank":  # P ~ (1/rank)^(1/T) whatever the scale of the scores
        w = np.arange(1, 11, dtype=float) ** -2.0
        assert np.allclose([p[9 - r] for r in range(10)], w / w.sum())


@pytest.mark.parametrize("prio", ["rank", "power", "uniform"])
def test_buffer_draws_follow_its_probabilities_before_it_is_full(prio):
    # a buffer holding 3 levels of its 100 places: replays follow the distribution over the 3 (rank weights
    # 1/rank ** (1 / T) over the levels held, not over every place)
    buf = LevelBuffer(100, prioritization=prio, temperature=1.0, staleness_coef=0.0)
    for key, score in (("a", 3.0), ("b", 2.0), ("c", 1.0)):
        buf.add(key, key, score)
    want = buf.probabilities()
    rng = np.random.default_rng(0)
    draws = [buf.sample(rng) for _ in range(6000)]
    for key, p in want.items():
        assert draws.count(key) / len(draws) == pytest.approx(p, abs=0.03), key


def test_buffer_staleness_brings_back_old_levels():
    buf = LevelBuffer(5, staleness_coef=1.0)
    for i in range(5):
        buf.add(i, i, 1.0)
    for _ in range(10):
        buf.advance()
        for k in (1, 2, 3, 4):
            buf.touch(k)
    buf.advance()
    p = buf.probabilities()
    assert p[0] == pytest.approx(11 / 15) and p[1] == pytest.approx(1 / 15)
    counts = _draws(buf, 3000)
    assert counts[0] / 3000 == pytest.approx(11 / 15, abs=0.03)
    mixed = LevelBuffer(5, staleness_coef=0.3, temperature=0.1)
    for i in range(5):
        mixed.add(i, i, float(i))
    mixed.advance(10)
    mixed.touch(4)
    q = mixed.probabilities()
    assert q[0] > 0.3 * 0.2  # staleness share reaches even the lowest score


def test_buffer_power_weights_stay_exact_at_a_tiny_temperature():
    # score ** (1 / T): at T = 0.001 the scores 0.1..0.3 all underflowed to 0 (replays uniform) and 10..30 all
    # overflowed to the same clipped weight (uniform again); the highest score should get nearly every replay
    for scores in ([0.1, 0.2, 0.3], [10.0, 20.0, 30.0], [1e-5, 3e-5, 2e-5]):
        buf = LevelBuffer(3, prioritization="power", temperature=0.001, staleness_coef=0.0)
        for i, sc in enumerate(scores):
            buf.add(i, i, sc)
        top = int(np.argmax(scores))
        assert buf.probabilities()[top] == pytest.approx(1.0)
        assert _draws(buf, 200) == {top: 200}
        restored = LevelBuffer(3, prioritization="power", temperature=0.001, staleness_coef=0.0)
        restored.load_state_dict(buf.state_dict())  # the rescaled weights come back exactly
        assert restored._tree == buf._tree
        buf.update(top, scores[top] * 1e-9)  # the top falls far below the others: rescaled again
        second = int(np.argsort(scores)[-2])
        assert buf.probabilities()[second] == pytest.approx(1.0)
    # where score ** (1 / T) stays in range, the weights are that, bit for bit
    rng = np.random.default_rng(0)
    buf = LevelBuffer(20, prioritization="power", temperature=0.3, staleness_coef=0.0)
    scores = rng.random(20) * 5
    for i, sc in enumerate(scores):
        buf.add(i, i, float(sc))
    assert [buf._tree[buf._tree_size + buf._slot_of[i]] for i in range(20)] == [float(sc) ** (1 / 0.3) for sc in scores]
    assert "power_ref" in buf.state_dict() and buf._power_ref == 1.0


def test_buffer_evicts_lowest_score_only_for_better_levels():
    buf = LevelBuffer(3)
    assert buf.add("a", 1, 5.0) is True and buf.add("b", 2, 1.0) is True and buf.add("c", 3, 3.0) is True
    assert buf.full and buf.lowest() == ("b", 1.0)
    assert buf.add("d", 4, 0.5) is False and "d" not in buf  # worse than the lowest: stays out
    assert buf.add("t", 4, 1.0) is False and "t" not in buf and "b" in buf  # a tie with the lowest is no better
    assert buf.add("e", 5, 2.0) == "b" and "b" not in buf and "e" in buf
    assert list(buf) == ["a", "c", "e"] and buf.rank("e") == 3
    buf.update("e", 10.0)
    assert buf.rank("e") == 1 and buf.lowest() == ("c", 3.0)
    buf.remove("a")
    assert len(buf) == 2 and buf.add("f", 6, -1.0) is True


def test_buffer_refuses_non_finite_scores_and_negative_visits_changing_nothing():
    buf = LevelBuffer(2)
    buf.add("a", 1, 0.5)
    buf.add("b", 2, 0.2)
    before = str(buf.state_dict())
    for bad in (float("nan"), float("inf"), "0.9", None):
        with pytest.raises(InvalidScoreError):
            buf.add("c", 3, bad)  # full: would have evicted "b" first
        with pytest.raises(InvalidScoreError):
            buf.update("a", bad)
    with pytest.raises(ConfigError, match="advance"):
        buf.advance(-2)
    assert str(buf.state_dict()) == before
    LevelBuffer(2).load_state_dict(buf.state_dict())  # what it holds can always be loaded back


def test_buffer_state_restores_exactly_and_refuses_bad_state():
    rng = np.random.default_rng(3)
    for prio in ("rank", "power", "uniform"):
        a = LevelBuffer(50, prioritization=prio, staleness_coef=0.2)
        for i in range(200):
            a.advance()
            if len(a) and rng.random() < 0.5:
                k = a.sample(rng)
                a.touch(k)
                a.update(k, float(rng.random()))
            else:
                a.add(i, i, float(rng.random()))
        b = LevelBuffer(50, prioritization=prio, staleness_coef=0.2)
        b.load_state_dict(a.state_dict())
        assert list(a) == list(b) and a.probabilities() == b.probabilities()
        ra, rb = np.random.default_rng(9), np.random.default_rng(9)
        assert [a.sample(ra) for _ in range(100)] == [b.sample(rb) for _ in range(100)]
        if prio == "power":
            assert a._tree == b._tree
    state = a.state_dict()
    c = LevelBuffer(50, prioritization="uniform", staleness_coef=0.2)
    before = c.state_dict()
    for bad in (dict(state, capacity=7), dict(state, scores=state["scores"][:-1]),
                dict(state, seen=state["seen"] + 10**6), {"x": 1},
                # repeated tie-breaking sequence numbers, or one past next_seq, loaded before
                dict(state, seq=[state["seq"][0]] * len(state["seq"])), dict(state, next_seq=0)):
        with pytest.raises(CheckpointError):
            c.load_state_dict(bad)
    assert str(c.state_dict()) == str(before)
    with pytest.raises(ConfigError):
        LevelBuffer(0)
    with pytest.raises(ConfigError):
        LevelBuffer(5, prioritization="best")
    with pytest.raises(ConfigError, match="empty"):
        LevelBuffer(5).sample(rng)


def test_buffer_state_with_a_negative_or_fractional_tick_is_refused():
    empty = LevelBuffer(4).state_dict()
    for bad in (dict(empty, tick=-3), dict(empty, tick=2.7), dict(empty, next_seq=-1)):
        b = LevelBuffer(4)
        with pytest.raises(CheckpointError, match="tick|next_seq"):
            b.load_state_dict(bad)  # before: taken (2.7 as 2), and a level added then had a negative visit time
        assert b.tick == 0 and b._next_seq == 0  # that the buffer's own next state refused
    b = LevelBuffer(4)
    b.load_state_dict(dict(empty, tick=5.0))  # a whole float, as JSON may give back, is still read
    assert b.tick == 5


def test_buffer_state_with_a_tick_past_the_saved_int64_is_refused():
    """A tick or next_seq of 1e300 (whole, so taken) loaded, and the buffer's next state_dict (every save after)
    failed with a raw OverflowError: visit times and sequence numbers are saved as int64."""
    empty = LevelBuffer(4).state_dict()
    for bad in (dict(empty, tick=1e300), dict(empty, tick=2**63), dict(empty, next_seq=2**63)):
        b = LevelBuffer(4)
        with pytest.raises(CheckpointError, match="tick|next_seq"):
            b.load_state_dict(bad)
        assert b.tick == 0 and b._next_seq == 0
    b = LevelBuffer(4)
    b.load_state_dict(dict(empty, tick=2**63 - 1, next_seq=2**63 - 1))  # the largest it saves
    assert LevelBuffer(4).load_state_dict(b.state_dict()) is None


def _trained_state_and_fresh_teacher(name: str):
    """A level teacher's state after 20 episodes, and a fresh teacher of another seed with its own state (to
    check that a refused load leaves it as it was)."""
    space = MazeSpace(6) if name == "accel" else SeedSpace(20)
    a = mg.make_teacher(name, space, seed=0)
    for _ in range(20):
        a.observe(a.propose(), 0.5)
    b = mg.make_teacher(name, space, seed=1)
    return a.state_dict(), b, b.state_dict()


@pytest.mark.parametrize("name,counter", [("plr", "n_replayed"), ("robust-plr", "n_replayed"), ("accel", "n_edited")])
def test_a_level_teacher_state_with_a_negative_or_fractional_counter_is_refused(name, counter):
    """int() took n_replayed=-1 (shown in the beliefs) and truncated 2.5 to 2, as the core once did with
    n_observed; now the state is refused and the teacher is unchanged."""
    state, b, before = _trained_state_and_fresh_teacher(name)
    for bad in (-1, 2.5):
        broken = copy.deepcopy(state)
        broken["algorithm"][counter] = bad
        with pytest.raises(CheckpointError, match=f"saved {counter}"):
            b.load_state_dict(broken)
        assert states_equal(before, b.state_dict())
    ok = copy.deepcopy(state)
    ok["algorithm"][counter] = float(state["algorithm"][counter])  # a whole float, as JSON may give back
    b.load_state_dict(ok)
    assert getattr(b, counter) == state["algorithm"][counter]


@pytest.mark.parametrize("name", ["plr", "robust-plr", "accel"])
@pytest.mark.parametrize("setting", ["temperature", "staleness_coef"])
def test_a_bool_temperature_or_staleness_is_refused_like_the_other_numbers(name, setting):
    """``True`` passed the buffer's isinstance(int) check and was taken as 1.0 (replay_prob refused it)."""
    with pytest.raises(ConfigError, match=setting):
        mg.make_teacher(name, SeedSpace(20), **{setting: True})


def _run(teacher, score_of, steps, batch=1):
    infos = []
    for _ in range(steps):
        tasks, inf = teacher.propose_with_info(batch)
        teacher.observe_batch(tasks, [score_of(t) for t in tasks])
        infos += list(zip(tasks, inf))
    return infos


@pytest.mark.parametrize("name", ["plr", "robust-plr", "accel", "learnability"])
def test_a_level_teacher_of_a_plain_finite_space_pickles_and_goes_on_identically(name):
    """Its level keys were a lambda on a space without level_key of its own (a Discrete of names): pickle failed
    ("Can't pickle local object 'LevelTeacher.__init__.<locals>.<lambda>'") where it worked on a SeedSpace."""
    t = mg.make_teacher(name, mg.Discrete(["a", "b", "c", "d", "e"]), seed=0)
    for i in range(30):
        level = t.propose()
        t.observe(level, (i % 7) / 7)
    u = pickle.loads(pickle.dumps(t))
    assert states_equal(u.state_dict(), t.state_dict())
    for i in range(20):
        a, b = t.propose(), u.propose()
        assert a == b
        t.observe(a, (i % 5) / 5)
        u.observe(b, (i % 5) / 5)
    assert states_equal(u.state_dict(), t.state_dict())


def test_plr_replays_high_scoring_levels():
    t = mg.make_teacher("plr", SeedSpace(), seed=0, capacity=50, replay_prob=0.5, temperature=0.1)
    infos = _run(t, lambda s: 1.0 if s % 10 == 0 else 0.01, 2000)  # one level in ten is "hard"
    replays = [s for s, i in infos[500:] if i["replay"]]
    assert 0.4 < len(replays) / 1500 < 0.6 and all(i["train"] for _, i in infos)
    assert np.mean([s % 10 == 0 for s in replays]) > 0.5  # vs 0.1 among new levels
    new = [s for s, i in infos if not i["replay"]]
    assert len(set(new)) == len(new)  # the open-ended generator always gives unseen levels


def test_plr_finite_seed_set_visits_unseen_then_only_replays():
    t = mg.make_teacher("plr", SeedSpace(30), seed=1, replay_prob=0.2)
    infos = _run(t, lambda s: float(s), 200)
    first_new = [s for s, i in infos if not i["replay"]]
    assert sorted(first_new) == list(range(30))  # every seed once, none twice
    assert all(i["replay"] for _, i in infos[-50:])


@pytest.mark.parametrize("name", ["plr", "robust-plr"])
def test_staleness_of_the_level_played_last_is_zero(name):
    # PLR's P_C = (c - C_i) / sum_j (c - C_j), c the episodes sampled so far: with staleness alone and two levels
    # the one just played has weight 0, so replays alternate (counting the visit before drawing gave it 1/3)
    t = mg.make_teacher(name, SeedSpace(2), seed=0, staleness_coef=1.0)
    played = []
    for _ in range(200):
        level, info = t.propose_with_info()
        t.observe(level, 1.0)
        if info["replay"] and len(t.buffer) == 2:
            played.append(level)
    assert len(played) > 100 and all(a != b for a, b in zip(played, played[1:]))


@pytest.mark.parametrize("name", ["plr", "robust-plr", "accel"])
def test_a_new_levels_staleness_counts_from_its_proposal_and_resumes_mid_flight(name):
    # with several episodes running, a new level's score comes proposals after the level was: the reference
    # (dcd's level sampler) counts its staleness from the proposal; it was counted from the score's arrival
    kw = {"initial": "random"} if name == "accel" else {}
    t = mg.make_teacher(name, SeedSpace(), seed=0, replay_prob=0.0, staleness_coef=0.5, **kw)
    first = t.propose(4)  # visits 1..4
    t.propose(6)  # six more, none scored yet
    resumed = from_state_dict(t.state_dict())  # a checkpoint with ten levels in flight
    for u in (t, resumed):
        u.observe_batch(first[::-1], [1.0, 2.0, 3.0, 4.0])  # the scores come back in another order
        assert u.buffer.tick == 10
        assert [u.buffer.staleness(k) for k in first] == [9, 8, 7, 6]  # before: [0, 0, 0, 0]
    assert states_equal(t.state_dict(), resumed.state_dict())
    u_rng, t_rng = np.random.default_rng(1), np.random.default_rng(1)
    assert _run(resumed, lambda s: float(u_rng.random()), 30, batch=3) == \
        _run(t, lambda s: float(t_rng.random()), 30, batch=3)


def test_accel_does_not_edit_a_new_level_proposed_twice_before_its_scores():
    # two proposals of the same new level (two episodes of it running): its first score counted as a new
    # level's, the second was taken for a replay's and queued an edit though nothing was replayed
    t = mg.make_teacher("accel", SeedSpace(50), seed=5, mutator=_edit_seed, capacity=10, edit_top=1.0,
                        initial="random", replay_prob=0.0)
    levels, infos = t.propose_with_info(4)
    assert levels == [33, 40, 1, 40] and not any(i["replay"] for i in infos)
    resumed = from_state_dict(t.state_dict())  # in flight: 40 twice
    for u in (t, resumed):
        u.observe_batch(levels, [1.0] * 4)
        assert u.n_replayed == 0 and u.n_edited == 0 and not u._queue and not u._pending
    # a state saved with pending pairs (before proposals were counted) loads as one proposal each
    t = mg.make_teacher("accel", SeedSpace(50), seed=5, mutator=_edit_seed, capacity=10, initial="random")
    t.propose(2)
    state = t.state_dict()
    old = copy.deepcopy(state)
    old["algorithm"]["pending"] = [p[:2] for p in old["algorithm"]["pending"]]
    assert states_equal(from_state_dict(old).state_dict(), state)
    old["algorithm"]["pending"] = [p + [1, "nr", 7] for p in old["algorithm"]["pending"]]  # no format's: refused
    with pytest.raises(CheckpointError, match="5 fields"):
        from_state_dict(old)
    old["algorithm"]["pending"] = [p[:3] + [7] for p in old["algorithm"]["pending"]]  # an order that is no order
    with pytest.raises(CheckpointError, match="order of proposals"):
        from_state_dict(old)


def _out_twice(t, want_first_replay):
    """Propose (one at a time, scoring the others) until one level is out as a replay and as a new level; the
    level, the kind proposed first and the teacher's state at that point."""
    held = None
    while True:
        level, info = t.propose_with_info()
        if held is None and info["replay"] == want_first_replay:
            held = level
        elif held is not None and level == held and info["replay"] != want_first_replay:
            return held
        else:
            t.observe(level, 0.5)


@pytest.mark.parametrize("first", ["replay", "new"])
def test_a_score_answers_its_levels_oldest_proposal(first):
    # one level out twice at once, as a replay and as a new level (two episodes): a score carries its level
    # only, and the replay's (proposed first, scored first) was taken for the new level's: not edited, and the
    # new level's score was edited instead. First in, first out per level; resumed mid-flight alike
    t = mg.make_teacher("accel", SeedSpace(4), seed=0, initial="random", replay_prob=0.5, edit_top=1.0)
    for s in range(4):
        t.observe(s, float(s))
    level = _out_twice(t, first == "replay")
    resumed = from_state_dict(t.state_dict())
    for u in (t, resumed):
        e0 = u.n_edited
        u.observe(level, 100.0)  # the first proposal's score
        e1 = u.n_edited
        u.observe(level, 100.0)
        assert (e1 > e0, u.n_edited > e1) == ((True, False) if first == "replay" else (False, True))
        assert not u._pending
    assert states_equal(t.state_dict(), resumed.state_dict())


def test_learnability_counts_only_the_evaluations_of_a_level_out_for_training_too():
    # training episodes of level 1 are out when a round starts and evaluates it: their scores (proposed and
    # answered first) were counted as its evaluation, and the evaluation's own score was dropped
    t = mg.make_teacher("learnability", SeedSpace(6), seed=0, capacity=3, n_candidates=2, eval_episodes=1,
                        eval_interval=3, buffer_prob=1.0)
    levels, infos = t.propose_with_info(7)
    assert [(lv, i["evaluate"]) for lv, i in zip(levels, infos)][3:] == [(1, False), (1, False), (0, True),
                                                                         (1, True)]
    t.observe_batch(levels[:3], [0.5, 0.5, 0.5])
    resumed = from_state_dict(t.state_dict())  # mid-flight: two trainings and an evaluation of level 1 out
    for u in (t, resumed):
        u.observe_batch([1, 1], [1.0, 1.0])  # the training episodes: learnability unchanged
        assert u._evals[1][1] == 0 and 1 not in u.buffer
        u.observe_batch([0, 1], [1.0, 0.0])
        assert 1 not in u._evals and 1 not in u.buffer and not u._waiting  # its evaluation: p = 0
    assert states_equal(t.state_dict(), resumed.state_dict())


def test_give_back_drops_a_proposal_that_will_never_be_scored():
    # a new proposal of a level in the buffer, never scored (its episode cut): the level's next replay was taken
    # for it, counted as new once, and not edited. Given back, it waits no more
    t = mg.make_teacher("accel", SeedSpace(4), seed=0, initial="random", replay_prob=0.5, edit_top=1.0)
    for s in range(4):
        t.observe(s, float(s))
    while True:
        dropped, info = t.propose_with_info()
        if not info["replay"]:
            break
        t.observe(dropped, 0.5)
    assert t.give_back([dropped], [{"train": True, "replay": True}]) == 0  # no replay of it waits: nothing
    assert t.give_back([dropped], [info]) == 1 and not t._pending
    while True:
        level, info = t.propose_with_info()
        if info["replay"] and level == dropped:
            break
        t.observe(level, 0.5)
    e0 = t.n_edited
    t.observe(level, 100.0)
    assert t.n_edited > e0
    level = t.propose()
    with pytest.raises(InvalidTaskError):  # every task checked before anything changes
        t.give_back([level, 99])
    assert t._pending and t.give_back([level]) == 1 and not t._pending  # no infos: the level's oldest
    # learnability: a dropped evaluation no longer holds up its level's score (the round's others came)
    t = mg.make_teacher("learnability", SeedSpace(6), seed=0, capacity=3, n_candidates=2, eval_episodes=2,
                        eval_interval=3)
    levels, infos = t.propose_with_info(4)
    assert levels == [5, 5, 3, 3] and all(i["evaluate"] for i in infos)
    t.observe_batch([5, 3, 3], [1.0, 0.0, 1.0])
    assert 3 in t.buffer and 5 in t._evals
    assert t.give_back([5], [infos[1]]) == 1
    assert 5 not in t._evals and 5 not in t.buffer and not t._waiting  # scored from its one evaluation: p = 1


def test_a_teacher_resumed_in_a_new_run_drops_the_proposals_its_old_episodes_held():
    # saved with episodes running, resumed in a new process: their proposals waited forever, and a later score of
    # one of their levels was taken for them. learnability: a training episode of level 1 out when saved; the
    # resumed run evaluates level 1 and its evaluation's score was taken for the stale training one (dropped)
    t = mg.make_teacher("learnability", SeedSpace(6), seed=0, capacity=3, n_candidates=2, eval_episodes=1,
                        eval_interval=3, buffer_prob=1.0)
    levels, infos = t.propose_with_info(4)
    assert [(lv, i["evaluate"]) for lv, i in zip(levels, infos)] == [(5, True), (3, True), (3, False), (1, False)]
    t.observe_batch(levels[:3], [0.5, 0.5, 0.5])
    resumed = from_state_dict(t.state_dict())
    assert states_equal(resumed.state_dict(), t.state_dict())  # saved exactly: the proposal waits in the state
    assert resumed.drop_pending() == 1 and not resumed._waiting and resumed.drop_pending() == 0
    levels, infos = resumed.propose_with_info(5)
    assert (levels[4], infos[4]["evaluate"]) == (1, True)
    resumed.observe(1, 1.0)
    assert 1 not in resumed._evals and 1 not in resumed._waiting  # its evaluation counted (p = 1)
    # accel: a level out as new and as a replay when saved; a score of it in the resumed run was taken for the
    # stale new proposal's (not edited). Dropped, it is a replay's (edited), as the live teacher's second one is
    t = mg.make_teacher("accel", SeedSpace(4), seed=0, initial="random", replay_prob=0.5, edit_top=1.0)
    for s in range(4):
        t.observe(s, float(s))
    level = _out_twice(t, False)
    resumed = from_state_dict(t.state_dict())
    assert resumed.drop_pending() == 2 and not resumed._pending
    e0 = resumed.n_edited
    resumed.observe(level, 100.0)
    assert resumed.n_edited > e0


def test_robust_plr_trains_only_on_replays():
    t = mg.make_teacher("robust-plr", SeedSpace(), seed=2, capacity=20, replay_prob=0.5)
    infos = _run(t, lambda s: (s % 97) / 97, 300, batch=4)
    assert any(i["replay"] for _, i in infos) and any(not i["replay"] for _, i in infos)
    assert all(i["train"] == i["replay"] for _, i in infos)
    plr = mg.make_teacher("plr", SeedSpace(), seed=2, capacity=20, replay_prob=0.5, temperature=0.3,
                          staleness_coef=0.3)
    same = _run(plr, lambda s: (s % 97) / 97, 300, batch=4)
    assert [s for s, _ in same] == [s for s, _ in infos]  # with the same settings only the flags differ from plr


def test_robust_plr_defaults_are_the_minigrid_ones():
    # ACCEL's MiniGrid settings (as accel; its Robust PLR baseline replayed with 0.5): most episodes replayed
    t = mg.make_teacher("robust-plr", SeedSpace(), seed=0)
    assert (t.replay_prob, t.buffer.temperature, t.buffer.staleness_coef) == (0.8, 0.3, 0.3)
    infos = _run(t, lambda s: (s % 97) / 97, 400, batch=4)
    trained = sum(i["train"] for _, i in infos[100:]) / len(infos[100:])
    assert 0.7 < trained < 0.9


def test_level_teachers_refuse_bad_input_and_change_nothing():
    for name in ("plr", "robust-plr", "accel", "learnability"):
        t = mg.make_teacher(name, MazeSpace(7), seed=0)
        m = t.propose()
        t.observe(m, 0.5)
        before = t.state_dict()
        with pytest.raises(InvalidScoreError, match="not a finite number"):
            t.observe(m, float("nan"))
        with pytest.raises(InvalidTaskError, match="5 x 5"):
            t.observe(empty_maze(5), 0.5)
        with pytest.raises(InvalidTaskError, match="line 1 column 2"):
            t.observe("#x#\n#S#\n#G#\n###", 0.5)
        with pytest.raises(InvalidScoreError):
            t.observe_batch([m, m], [0.5, float("inf")])
        assert str(t.state_dict()) == str(before)
    s = mg.make_teacher("plr", SeedSpace(10), seed=0)
    with pytest.raises(InvalidTaskError, match="outside"):
        s.observe(10, 1.0)
    s.observe(3, -25.0)  # open finite scores: any real number
    s.observe(4, 1e9)
    lt = mg.make_teacher("learnability", SeedSpace(10), seed=0)
    with pytest.raises(InvalidScoreError, match="outside"):
        lt.observe(3, 2.0)  # successes are in [0, 1]


def test_accel_edits_high_scoring_replays_and_starts_simple():
    sp = MazeSpace(9)
    t = mg.make_teacher("accel", sp, seed=0, capacity=40, replay_prob=0.5, edit_top=0.25)
    # a stand-in for regret: walls count when the maze stays solvable
    infos = _run(t, lambda m: float(m.n_walls if m.solvable else 0), 600)
    first = [m for m, i in infos[:5] if not i["replay"] and not i["edited"]]
    assert all(m.n_walls == 0 for m in first)  # new levels start as empty rooms
    edited = [(m, i) for m, i in infos if i["edited"]]
    assert edited and all(not i["train"] and not i["replay"] for _, i in edited)
    assert all(i["train"] == i["replay"] for _, i in infos)
    assert t.n_edited > 0 and t.beliefs()["n_edited"] == t.n_edited
    # complexity compounds by edits: from empty rooms to mazes with many walls (5 edits per child)
    top = [Maze.parse(x) for x in t.beliefs()["top_levels"]]
    assert np.mean([m.n_walls for m in top]) > 20 and all(m.solvable for m in top)
    # edits come from high-scoring replays only: a level at the bottom of the buffer is not edited
    low_key = t.buffer.lowest()[0]
    n_before = t.n_edited
    t.observe(t.buffer.level(low_key), t.buffer.lowest()[1])
    assert t.n_edited == n_before


def test_accel_on_a_space_of_solvable_mazes_keeps_its_edits_solvable():
    # before: the default maze mutator cut goals off, MazeSpace(require_solvable=True) refused the child, and
    # every observation of a top replay whose edit did so raised ("accel's mutator ... failed")
    sp = MazeSpace(9, require_solvable=True)
    t = mg.make_teacher("accel", sp, seed=0, capacity=8)
    rng = np.random.default_rng(0)
    for _ in range(600):
        t.observe(t.propose(), float(rng.random()))
    assert t.n_edited > 0 and all(t.buffer.level(k).solvable for k in t.buffer)
    assert t.config()["mutator"]["keep_solvable"] is True
    with pytest.raises(ConfigError, match="keep_solvable"):  # said when it is built, not at the first edit
        mg.make_teacher("accel", sp, seed=0, mutator={"name": "maze", "keep_solvable": False})


def test_accel_refuses_a_maze_mutator_object_that_cuts_goals_off_on_solvable_mazes_when_built():
    # before: maze_mutator() (keep_solvable=False) given as an object was taken on MazeSpace(require_solvable=True),
    # and the checkpoint it wrote ({"name": "maze", "keep_solvable": False}) could not be loaded: magister.load refused
    from magister.levels import maze_mutator

    sp = MazeSpace(7, require_solvable=True)
    with pytest.raises(ConfigError, match="keep_solvable=True"):
        mg.make_teacher("accel", sp, seed=0, mutator=maze_mutator(n_edits=3))
    t = mg.make_teacher("accel", sp, seed=0, mutator=maze_mutator(n_edits=3, keep_solvable=True))
    assert mg.loads(t.to_bytes()).config()["mutator"] == {"name": "maze", "n_edits": 3, "keep_solvable": True}
    mg.make_teacher("accel", MazeSpace(7), seed=0, mutator=maze_mutator(n_edits=3))  # any maze there: taken


def _edit_seed(level, rng):
    return (level + 1) % 100


def test_accel_edits_a_replay_only_in_the_top_edit_top_share_of_the_buffer():
    # four levels ranked 1..4 and edit_top=0.5: a replay's score that keeps its level at rank 2 (in the top half)
    # queues an edit, one at rank 3 does not
    t = mg.make_teacher("accel", SeedSpace(100), seed=0, mutator=_edit_seed, capacity=10, edit_top=0.5)
    for level, score in ((10, 4.0), (20, 3.0), (30, 2.0), (40, 1.0)):
        t.observe(level, score)  # new levels enter the buffer and are not edited
    assert t.n_edited == 0
    t.observe(30, 2.0)  # a replay's score (no proposal waiting), rank 3 of 4
    assert t.buffer.rank(30) == 3 and t.n_edited == 0 and not t._queue
    t.observe(20, 3.0)  # rank 2 of 4
    assert t.buffer.rank(20) == 2 and t.n_edited == 1 and list(t._queue) == [21]


def test_accel_counts_and_queues_every_child():
    t = mg.make_teacher("accel", SeedSpace(100), seed=0, mutator=_edit_seed, capacity=10, edit_top=1.0,
                        n_children=3)
    t.observe(10, 1.0)
    t.observe(10, 1.0)  # a replay's score at the top: three children
    assert t.n_edited == 3 and t.beliefs()["n_edited"] == 3 and t.beliefs()["queued_edits"] == 3
    levels, infos = t.propose_with_info(3)
    assert levels == [11, 11, 11] and all(i["edited"] for i in infos)


def test_accel_counts_every_proposal_edits_included_as_an_episode_for_staleness():
    # PLR's staleness counts the episodes sampled: an edited level's evaluation is one like any other
    t = mg.make_teacher("accel", SeedSpace(100), seed=0, mutator=_edit_seed, capacity=10, edit_top=1.0,
                        replay_prob=0.7, initial="random")
    kinds = []
    for n in range(1, 61):
        level, info = t.propose_with_info()
        kinds.append(info["edited"])
        assert t.buffer.tick == n
        t.observe(level, float(level % 7))
    assert sum(kinds) > 5


def test_accel_with_user_mutator_saves_and_resumes(tmp_path):
    t = mg.make_teacher("accel", SeedSpace(100), seed=0, mutator=_edit_seed, capacity=10, edit_top=1.0)
    _run(t, lambda s: float(s), 50)
    assert t.n_edited > 0
    t.save(tmp_path / "a.ckpt")
    u = mg.load(tmp_path / "a.ckpt")
    assert u.config()["mutator"] == f"{__name__}:_edit_seed"
    assert _run(u, float, 30) == _run(t, float, 30)
    lam = mg.make_teacher("accel", SeedSpace(100), seed=0, mutator=lambda s, rng: s, capacity=10)
    with pytest.raises(CheckpointError, match="module-level function"):
        lam.save(tmp_path / "b.ckpt")
    with pytest.raises(ConfigError, match="unknown mutator"):
        mg.make_teacher("accel", SeedSpace(100), mutator="nope")


def test_repr_of_accel_with_a_mutator_no_checkpoint_can_hold_names_it_and_its_settings():
    """repr raised the CheckpointError meant for save ("cannot be saved in a checkpoint"): repr read the settings
    through config(), which writes them as a checkpoint does (a debugger, a log line or a failing assert broke)."""
    lam = mg.make_teacher("accel", SeedSpace(100), seed=0, mutator=lambda s, rng: s, capacity=10)
    text = repr(lam)
    assert text.startswith("ACCEL(SeedSpace(100), mutator=<function ") and "<lambda>" in text
    assert "capacity=10" in text and "replay_prob=0.8" in text
    named = mg.make_teacher("accel", SeedSpace(100), seed=0, mutator=_edit_seed, capacity=10)
    assert f"mutator='{__name__}:_edit_seed'" in repr(named)  # a savable one as its checkpoint names it, as before


class _FlakyMutator:
    """Edits a seed; fails on the second child of an edit (a user mutator's bug)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, level, rng):
        self.calls += 1
        rng.random()
        if self.calls % 2 == 0:
            raise RuntimeError("boom")
        return (level + 1) % 100


def test_accel_refused_observation_after_a_mutator_failure_changes_nothing():
    mutator = _FlakyMutator()
    t = mg.make_teacher("accel", SeedSpace(100), seed=0, mutator=mutator, capacity=10, edit_top=1.0,
                        n_children=2, initial="random", replay_prob=1.0)
    t.observe(5, 1.0)
    level, info = t.propose_with_info()
    assert level == 5 and info["replay"]
    before = (str(t._get_state()), t.rng.bit_generator.state)
    with pytest.raises(ConfigError, match="mutator.*boom"):
        t.observe(5, 3.0)  # before: the score 3.0, one child and two draws of the generator stayed
    assert (str(t._get_state()), t.rng.bit_generator.state) == before
    assert t.buffer.score(5) == 1.0 and t.n_edited == 0 and not t._queue


@pytest.mark.parametrize("prio", ["rank", "power"])
def test_accel_refused_batch_after_a_mutator_failure_changes_nothing(prio):
    from magister.checkpoint import states_equal

    state = {"fail": False, "calls": 0}

    def mutator(level, rng):
        if state["fail"]:
            state["calls"] += 1
            if state["calls"] >= 2:  # the first edit of the batch works, the second fails
                raise RuntimeError("boom")
        return int(rng.integers(10**6))

    refused = 0
    for seed in range(12):
        t = mg.make_teacher("accel", SeedSpace(10**6), seed=seed, mutator=mutator, capacity=4, edit_top=1.0,
                            n_children=2, replay_prob=0.7, prioritization=prio)
        rng = np.random.default_rng(seed)
        for _ in range(20):  # a full buffer: new levels of the batch evict, replays edit
            t.observe_batch(list(t.propose(3)), rng.random(3).tolist())
        levels, scores = list(t.propose(8)), rng.random(8).tolist()
        snap = lambda: {"state": t._get_state(), "rng": t.rng.bit_generator.state, "n": t.n_observed}  # noqa: E731
        before = snap()
        state.update(fail=True, calls=0)
        try:
            t.observe_batch(levels, scores)
        except ConfigError as e:
            assert "boom" in str(e)
            refused += 1
            # before: the levels ahead of the failing one stayed observed (scores, evictions, children, draws)
            assert states_equal(before, snap())
        state["fail"] = False
    assert refused >= 3


def test_accel_refused_observation_keeps_the_power_weights_scale():
    # a score that rescales the power weights (a tiny temperature), then refused by a failing mutator: the
    # scale stayed that of the refused score (power_ref 1.0 -> 1.5, in the checkpoint and every weight)
    def boom(level, rng):
        raise RuntimeError("boom")

    for observe in (lambda t: t.observe(5, 1e10), lambda t: t.observe_batch([7, 5], [1e10, 2.0])):
        t = mg.make_teacher("accel", SeedSpace(100), seed=0, mutator=boom, capacity=10, edit_top=1.0,
                            initial="random", replay_prob=1.0, prioritization="power", temperature=0.01)
        t.observe(5, 1.5)
        t.observe(6, 1.0)
        before = (str(t._get_state()), list(t.buffer._tree), t.rng.bit_generator.state)
        with pytest.raises(ConfigError, match="mutator.*boom"):
            observe(t)
        assert t.buffer._power_ref == 1.0
        assert (str(t._get_state()), list(t.buffer._tree), t.rng.bit_generator.state) == before


def _same_seed(level, rng):
    return level


def test_accel_evaluates_a_new_level_already_in_the_buffer_as_new_and_does_not_edit_it():
    # a generator or a mutator can make a level the buffer holds (26 of 1312 new levels on 7 x 7 mazes); dcd
    # counts such a "new" level as visited when it is sampled, updates its score and, the batch being new,
    # neither trains on it nor edits it (edits follow replays). Here it was taken for a replay when scored:
    # its edit was queued and evaluated, and so on, every proposal from then on an edit of the same level
    t = mg.make_teacher("accel", SeedSpace(100), seed=0, mutator=_same_seed, capacity=10, edit_top=1.0,
                        replay_prob=1.0, initial="random")
    level = t.propose()
    t.observe(level, 1.0)
    assert t.propose_with_info() == (level, {"train": True, "replay": True, "edited": False})
    t.observe(level, 2.0)  # a top replay: one child, the same level
    assert t.n_edited == 1
    assert t.propose_with_info() == (level, {"train": False, "replay": False, "edited": True})
    assert t.buffer.staleness(level) == 0  # visited when proposed (before: 1, the replay's visit)
    t.observe(level, 3.0)
    assert t.buffer.score(level) == 3.0  # its score is updated, as any score of a buffered level
    assert t.n_edited == 1 and not t._queue  # before: 2, and a third child queued
    assert t.propose_with_info()[1] == {"train": True, "replay": True, "edited": False}


def test_learnability_prefers_levels_solved_half_the_time():
    success = {s: (s % 11) / 10 for s in range(1000)}  # p = 0, 0.1, .., 1 by seed

    rng = np.random.default_rng(0)
    t = mg.make_teacher("learnability", SeedSpace(1000), seed=0, capacity=20, n_candidates=200,
                        eval_episodes=20, eval_interval=200, buffer_prob=1.0)
    infos = _run(t, lambda s: float(rng.random() < success[s]), 5000)
    evals = [i for _, i in infos if i["evaluate"]]
    assert evals and all(not i["train"] for i in evals)
    trained = [s for s, i in infos if i["train"]]
    p = np.array([success[s] for s in trained])
    assert np.mean(np.abs(p - 0.5) <= 0.2) > 0.8  # vs 5/11 of uniform levels
    assert t.n_rounds >= 2
    mixed = mg.make_teacher("learnability", SeedSpace(1000), seed=0, capacity=20, n_candidates=50,
                            eval_episodes=4, eval_interval=100, buffer_prob=0.5)
    infos = [i for _, i in _run(mixed, lambda s: success[s], 1500) if i["train"]]
    share = np.mean([i["replay"] for i in infos])
    assert 0.4 < share < 0.6  # the other half are fresh levels


def test_learnability_round_evaluates_distinct_fresh_candidates():
    for seed in range(3):
        t = mg.make_teacher("learnability", SeedSpace(30), seed=seed, capacity=5, n_candidates=20,
                            eval_episodes=1)
        t.propose(20)  # the round's 20 evaluation episodes
        assert len(t._evals) == 20  # before: 16-18 distinct seeds, the candidates repeated one another
        for s in list(t._evals):
            t.observe(s, 1.0 if s % 2 else 0.0)  # 0/1 scores: nothing learnable yet, buffer stays empty
        t.buffer.add(29, 29, 0.25)
        t.buffer.add(28, 28, 0.25)
        t._next_round = t.n_trained  # the next proposal starts a round
        t.propose()
        fresh = list(t._evals)
        assert len(fresh) == 22 and {28, 29} <= set(fresh)  # the two buffer levels and 20 other candidates


def test_learnability_round_on_a_finite_space_smaller_than_it_evaluates_each_level_once():
    t = mg.make_teacher("learnability", SeedSpace(3), seed=0, capacity=50, n_candidates=100, eval_episodes=4)
    tasks, infos = t.propose_with_info(12)
    assert all(i["evaluate"] for i in infos) and sorted(tasks) == [0] * 4 + [1] * 4 + [2] * 4
    # the round is over: each seed once, eval_episodes times (before: 100 candidates drawn among 3 seeds,
    # each evaluated 108-156 times, a round of 400 evaluation episodes)
    assert not t._queue and {k: e[3] for k, e in t._evals.items()} == {0: 4, 1: 4, 2: 4}
    assert t.propose_with_info()[1]["evaluate"] is False


def test_learnability_refuses_a_checkpoint_with_an_impossible_evaluation_count():
    t = mg.make_teacher("learnability", SeedSpace(50), seed=0, n_candidates=3, eval_episodes=2, capacity=5)
    for _ in range(3):
        t.observe(t.propose(), 1.0)
    state = t.state_dict()
    assert state["algorithm"]["queue"] and state["algorithm"]["evals"]
    before = str(t.state_dict())
    for part, i, bad in (("queue", 1, 0), ("queue", 1, -2), ("evals", 1, -1), ("evals", 3, 0)):
        broken = copy.deepcopy(state)
        broken["algorithm"][part][0][i] = bad  # before: a queue count of 0 proposed that level for ever
        with pytest.raises(CheckpointError, match="evaluations"):
            from_state_dict(broken)
        with pytest.raises(CheckpointError, match="evaluations"):
            t.load_state_dict(broken)
        assert str(t.state_dict()) == before


def test_learnability_refuses_a_checkpoint_with_impossible_successes():
    t = mg.make_teacher("learnability", SeedSpace(50), seed=0, n_candidates=3, eval_episodes=2, capacity=5)
    for _ in range(3):
        t.observe(t.propose(), 1.0)
    state = t.state_dict()
    entry = next(e for e in state["algorithm"]["evals"] if e[1] == 1)  # one evaluation in, scored 1.0
    assert entry[2] == 1.0
    before = str(t.state_dict())
    for bad in (float("nan"), float("inf"), -1.0, 7.0, "1.0", None, True):
        broken = copy.deepcopy(state)
        next(e for e in broken["algorithm"]["evals"] if e[1] == 1)[2] = bad  # before: taken; p (1 - p) NaN or < 0
        with pytest.raises(CheckpointError, match="successes"):
            from_state_dict(broken)
        with pytest.raises(CheckpointError, match="successes"):
            t.load_state_dict(broken)
        assert str(t.state_dict()) == before
    good = copy.deepcopy(state)
    next(e for e in good["algorithm"]["evals"] if e[1] == 1)[2] = 0  # the bounds themselves are taken
    assert from_state_dict(good).state_dict()["algorithm"]["evals"] == good["algorithm"]["evals"]


def test_learnability_names_the_evals_entry_of_impossible_successes_and_refuses_a_huge_count():
    # the refusal named the value, not which entry; 10**400 successes was float()'s OverflowError, a state
    # "malformed (OverflowError: int too large to convert to float)" naming nothing
    t = mg.make_teacher("learnability", SeedSpace(50), seed=0, n_candidates=3, eval_episodes=2, capacity=5)
    for _ in range(3):
        t.observe(t.propose(), 1.0)
    state = t.state_dict()
    i, entry = next((i, e) for i, e in enumerate(state["algorithm"]["evals"]) if e[1] == 1)
    before = str(t.state_dict())
    for bad, shown in ((10**400, r"10000000000000000000\.\.\.0000000000 \(401 characters\)"), (7.0, "7.0")):
        broken = copy.deepcopy(state)
        broken["algorithm"]["evals"][i][2] = bad
        with pytest.raises(CheckpointError, match=rf"learnability state's evals\[{i}\] \(level {entry[0]}\) has "
                                                  rf"{shown} successes in its 1 evaluations; expected a number in "
                                                  r"\[0, 1\]"):
            t.load_state_dict(broken)
        assert str(t.state_dict()) == before
    broken = copy.deepcopy(state)
    broken["algorithm"]["evals"][i][1] = -1
    with pytest.raises(CheckpointError, match=rf"evals\[{i}\] \(level {entry[0]}\): its evaluations must be"):
        t.load_state_dict(broken)
    good = copy.deepcopy(state)
    good["algorithm"]["evals"][i][2] = np.float64(0.5)  # a fraction of its one evaluation is taken as before
    assert from_state_dict(good).state_dict()["algorithm"]["evals"] == good["algorithm"]["evals"]


def test_level_teachers_resume_exactly_mid_run():
    for name in ("plr", "robust-plr", "accel", "learnability"):
        kw = {"n_candidates": 10, "eval_interval": 15} if name == "learnability" else {"capacity": 15}
        a = mg.make_teacher(name, MazeSpace(7), seed=4, **kw)
        _run(a, lambda m: float(m.n_walls) / 25, 60)
        b = from_state_dict(a.state_dict())
        assert _run(a, lambda m: float(m.n_walls) / 25, 40) == _run(b, lambda m: float(m.n_walls) / 25, 40)


def test_bucketed_sorted_list_matches_a_plain_sorted_list(monkeypatch):
    from magister.level_buffer import _SortedList

    monkeypatch.setattr(_SortedList, "load", 8)  # tiny buckets: splits and merges all the time
    rng = np.random.default_rng(0)
    fast, plain = _SortedList(), []
    for step in range(3000):
        if plain and rng.random() < 0.45:
            item = plain[int(rng.integers(len(plain)))]
            fast.remove(item)
            plain.remove(item)
        else:
            item = (float(rng.integers(50)), step)
            fast.add(item)
            plain.append(item)
            plain.sort()
        if step % 50 == 0 or len(plain) < 3:
            assert list(fast) == plain and len(fast) == len(plain)
            for i in range(len(plain)):
                assert fast[i] == plain[i] and fast.index(plain[i]) == i
            if plain:
                assert fast[-1] == plain[-1] and fast.head(5) == plain[:5]
    with pytest.raises(KeyError):
        fast.remove((99.0, -1))
    assert list(_SortedList(plain[::-1])) == plain


def test_learnability_keeps_no_level_that_is_always_or_never_solved():
    # seeds below 500 are never solved, the rest always: nothing is learnable, so training gets fresh levels
    t = mg.make_teacher("learnability", SeedSpace(1000), seed=0, capacity=20, n_candidates=30,
                        eval_episodes=2, eval_interval=40, buffer_prob=1.0)
    infos = _run(t, lambda s: float(s >= 500), 400)
    assert t.n_rounds >= 2 and len(t.buffer) == 0
    trained = [i for _, i in infos if i["train"]]
    assert trained and not any(i["replay"] for i in trained)
    # a level learnable once (solved half the time) leaves the buffer when a re-evaluation finds it mastered
    t = mg.make_teacher("learnability", SeedSpace(1000), seed=0, capacity=5, n_candidates=5,
                        eval_episodes=2, eval_interval=10, buffer_prob=1.0)
    t._score(7, 7, 0.5)
    assert 7 in t.buffer
    t._score(7, 7, 1.0)
    assert 7 not in t.buffer


def test_numpy_numbers_are_taken_for_level_teacher_settings():
    # accel refused n_children=np.int64(2) and edit_top=np.float32(0.5); learnability buffer_prob=np.float32(0.5);
    # the replay teachers replay_prob=np.float32(0.5) (a Python number of the same value was taken)
    from magister.rl.levels import LevelScorer

    t = mg.make_teacher("accel", SeedSpace(10**6), seed=0, n_children=np.int64(2), edit_top=np.float32(0.5),
                        capacity=np.int64(8), replay_prob=np.float32(0.5))
    assert (t.n_children, t.edit_top, t.replay_prob) == (2, 0.5, 0.5)
    assert mg.loads(t.to_bytes()).n_children == 2
    assert mg.make_teacher("learnability", SeedSpace(), seed=0, buffer_prob=np.float32(0.25)).buffer_prob == 0.25
    assert LevelScorer("learnable", solvable_prior=np.float32(0.5)).solvable_prior == 0.5
    for bad in ({"n_children": 65}, {"n_children": True}, {"edit_top": 0}, {"capacity": 0}, {"replay_prob": 1.5}):
        with pytest.raises(ConfigError):
            mg.make_teacher("accel", SeedSpace(), seed=0, **bad)


@pytest.mark.parametrize("name", ["plr", "robust-plr", "accel", "learnability"])
def test_level_teachers_on_a_box_keep_their_own_copies_of_levels(name):
    # Box.validate returned the caller's array, which the buffer kept: a caller reusing its buffer changed the
    # stored level (under the key of the old one); a replayed proposal was the buffer's own array
    for space in (mg.Box([0, 0], [1, 1]), mg.Dict({"a": mg.Box([0], [1]), "b": mg.Discrete(2)})):
        t = mg.make_teacher(name, space, seed=0)
        for _ in range(150):
            tasks = t.propose(2)
            mine = [np.array(x, dtype=float) if isinstance(space, mg.Box) else {"a": np.array(x["a"]), "b": x["b"]}
                    for x in tasks]
            t.observe_batch(mine, [0.5, 0.75])
            for x in list(tasks) + mine:  # the caller overwrites its arrays, and the proposals, in place
                (x["a"] if isinstance(x, dict) else x)[...] = 0.125
        levels = str(t.state_dict()["algorithm"])
        assert not re.search(r"(?<![\d.])0\.125(?!\d)", levels), levels[:300]


@pytest.mark.parametrize("name", ["plr", "robust-plr", "accel", "learnability"])
def test_level_teachers_take_a_finite_space_of_more_than_2_63_levels(name):
    # a new level was drawn as rng.integers(n), which stops at int64 (ValueError), and MultiDiscrete.index, a
    # level's key, used np.ravel_multi_index, which refuses such a grid
    for space in (mg.MultiDiscrete([2**40, 2**40]), mg.Dict({"a": mg.Discrete(2**40), "b": mg.Discrete(2**40)})):
        t = mg.make_teacher(name, space, seed=0)
        for _ in range(30):
            task = t.propose()
            assert space.contains(task)
            t.observe(task, 0.5)
        assert t.n_observed == 30


@pytest.mark.parametrize("name", ["plr", "robust-plr", "accel"])
def test_numpy_numbers_are_valid_buffer_settings(name):
    # temperature=np.float32(0.3) was refused: "temperature must be a positive number, got np.float32(0.3)"
    t = mg.make_teacher(name, SeedSpace(20) if name != "accel" else MazeSpace(6), seed=0,
                        temperature=np.float32(0.5), staleness_coef=np.int64(0))
    for _ in range(5):
        t.observe(t.propose(), 0.5)
    assert mg.loads(t.to_bytes()).propose() == t.propose()
    with pytest.raises(ConfigError, match="staleness_coef"):
        mg.make_teacher(name, SeedSpace(20), staleness_coef=np.float64("nan"))


def test_level_buffer_counts_and_finds_the_numbers_that_are_not_its_keys():
    # count_missing / nth_missing answer what listing [i for i in range(n) if i not in buf] answers, through adds,
    # evictions, removals and a load, with keys outside 0..n-1 too; a key that only equals an int (True) -> None
    rng = np.random.default_rng(0)
    for trial in range(40):
        cap, n = int(rng.integers(1, 300)), int(rng.integers(1, 400))
        buf = LevelBuffer(cap)
        if trial % 2:
            buf.count_missing(n)  # the cache from the start, then kept up to date
        for step in range(600):
            k = int(rng.integers(-10, n + 10))
            if rng.random() < 0.7:
                buf.advance()
                buf.add(k, k, float(rng.random()))
            elif len(buf):
                buf.remove(buf.lowest()[0])
            if step == 300:
                other = LevelBuffer(cap)
                other.load_state_dict(buf.state_dict())
                buf = other
            if step % 50 == 0:
                unseen = [i for i in range(n) if i not in buf]
                assert buf.count_missing(n) == len(unseen)
                assert [buf.nth_missing(n, j) for j in range(len(unseen))] == unseen
    buf = LevelBuffer(4)
    buf.add(True, True, 0.5)
    assert buf.count_missing(3) is None  # 1 in buf is True: the caller lists them itself
    buf.remove(1)
    assert buf.count_missing(3) == 3


@pytest.mark.parametrize("name", ["plr", "robust-plr", "accel"])
def test_a_nearly_full_buffer_gives_its_unseen_level_without_looking_at_every_level(name, monkeypatch):
    # a finite space whose buffer holds all levels but 3: after 16 draws of levels already in the buffer, the new
    # level was one of a list of the unseen ones, built by asking the buffer about each of the n levels (O(n) a
    # proposal); the buffer now finds the same level in O(log n), and the generator is used alike
    n = 3000
    t = mg.make_teacher(name, SeedSpace(n), seed=0, capacity=n - 3)
    held = [i for i in range(n) if i not in (5, 1700, 2999)]
    t.observe_batch(held, [0.5] * len(held))
    rng = copy.deepcopy(t.rng)  # what the listing drew: up to 16 levels, then one of the list of unseen ones
    assert all(int(rng.integers(n)) in t.buffer for _ in range(16))  # (the case this test is about)
    expected = [5, 1700, 2999][int(rng.integers(3))]
    asked = []
    real = LevelBuffer.__contains__
    monkeypatch.setattr(LevelBuffer, "__contains__", lambda self, key: asked.append(key) or real(self, key))
    assert t._new_level(t.buffer) == expected
    assert len(asked) == 16  # (before: 16 + 3000 questions)
    assert t.rng.bit_generator.state == rng.bit_generator.state


@pytest.mark.parametrize("name", ["uniform", "plr", "robust-plr", "accel", "learnability"])
def test_teachers_draw_the_mazes_of_a_dict_with_the_maze_spaces_own_sampler(name):
    # a Dict's new tasks were decoded random unit vectors: walls with probability 0.5 and any start and goal, so
    # over Dict({"maze": MazeSpace(9, wall_density=0.2), ...}) uniform and the level teachers proposed mazes about
    # half walls, most of them unsolvable (uniform: 48% walls, 39% solvable; accel: 8% solvable), where the
    # MazeSpace alone gives 20% walls and nearly all solvable
    maze = MazeSpace(9, wall_density=0.2)
    space = mg.Dict({"maze": maze, "speed": mg.Box([0.5], [2.0])})
    t = mg.make_teacher(name, space, seed=0)
    mazes = []
    for step in range(300):
        task = t.propose()
        mazes.append(task["maze"])
        t.observe(task, step % 7 / 7)
    walls = np.mean([m.walls[1:-1, 1:-1].mean() for m in mazes])
    solvable = np.mean([m.solvable for m in mazes])
    assert walls < 0.25 and solvable > 0.85, (walls, solvable)


@pytest.mark.parametrize("name", ["uniform", "plr", "robust-plr", "accel", "learnability"])
def test_teachers_on_a_dict_holding_a_maze_space_pass_the_conformance_checks(name):
    from magister.testing import CHECKS

    cls = mg.teacher_class(name)
    kwargs = dict(getattr(cls, "conformance_kwargs", {}))
    space = mg.Dict({"env": mg.Dict({"maze": MazeSpace(6, wall_density=0.2, require_solvable=True)}),
                     "seed": SeedSpace(5), "speed": mg.Box([0.5], [2.0])})
    for check in CHECKS.values():
        check(lambda s, seed: cls(s, seed=seed, **kwargs), space, 60)


def _maze_dict(nested):
    maze, box = MazeSpace(9, wall_density=0.2), mg.Box([0.5], [2.0])
    if nested:
        return mg.Dict({"env": mg.Dict({"maze": maze}), "speed": box}), lambda t: t["env"]["maze"]
    return mg.Dict({"maze": maze, "speed": box}), lambda t: t["maze"]


def _accel_run(space, get, steps=600):
    t = mg.make_teacher("accel", space, seed=0, capacity=40, replay_prob=0.5, edit_top=0.25)
    return t, _run(t, lambda lv: float(get(lv).n_walls if get(lv).solvable else 0), steps)


@pytest.mark.parametrize("nested", [False, True])
def test_accel_on_a_dict_holding_a_maze_edits_its_walls_with_the_maze_mutator(nested, tmp_path):
    # before: accel on such a Dict edited with perturb (noise on the unit vector: about 90% of its edits left every
    # wall as it was), where on the MazeSpace alone it edits with the maze mutator (add or remove a wall, move the goal)
    space, get = _maze_dict(nested)
    t, infos = _accel_run(space, get)
    changed, parent = [], None
    for lv, i in infos:  # (one proposal at a time: an edited child follows the replay it was edited from)
        if i["edited"] and parent is not None:
            changed.append(bool((get(lv).walls != get(parent).walls).any()))
        if i["replay"]:
            parent = lv
    assert len(changed) > 50 and np.mean(changed) > 0.8, np.mean(changed)
    inner = {"name": "maze", "n_edits": 5, "keep_solvable": False}
    assert t.config()["mutator"] == {"name": "dict", "entries": {
        **({"env": {"name": "dict", "entries": {"maze": inner}}} if nested else {"maze": inner}),
        "speed": {"name": "perturb", "sigma": 0.05}}}
    t.save(tmp_path / "a.ckpt")
    u = mg.load(tmp_path / "a.ckpt")
    score = lambda lv: float(get(lv).n_walls)  # noqa: E731
    assert [space.to_json(x) for x, _ in _run(u, score, 60)] == [space.to_json(x) for x, _ in _run(t, score, 60)]


@pytest.mark.parametrize("nested", [False, True])
def test_accel_on_a_dict_holding_a_maze_starts_from_empty_rooms(nested):
    # before: its new levels were the Dict's samples (about 10 inner walls of 49), a Dict having no sample_simple,
    # where on the MazeSpace alone accel starts from empty rooms and complexity grows by edits
    space, get = _maze_dict(nested)
    t, infos = _accel_run(space, get)
    first = [lv for lv, i in infos[:5] if not i["replay"] and not i["edited"]]
    assert first and all(get(lv).n_walls == 0 for lv in first)  # empty rooms
    assert all(0.5 <= lv["speed"][0] <= 2.0 for lv in first)  # the other entries drawn as the space draws them
    top = [get(space.from_json(x)) for x in t.beliefs()["top_levels"]]
    assert np.mean([m.n_walls for m in top]) > 10  # complexity compounds by edits, from empty rooms
    r = mg.make_teacher("accel", space, seed=0, initial="random")  # the Dict's own sampler, as before
    assert np.mean([get(r.propose()).n_walls for _ in range(10)]) > 3


def test_accel_on_a_dict_of_solvable_mazes_keeps_its_edits_solvable():
    space = mg.Dict({"env": mg.Dict({"maze": MazeSpace(7, require_solvable=True)}), "seed": SeedSpace(5)})
    t = mg.make_teacher("accel", space, seed=0, capacity=8)
    rng = np.random.default_rng(0)
    for _ in range(400):
        t.observe(t.propose(), float(rng.random()))
    assert t.n_edited > 0 and all(t.buffer.level(k)["env"]["maze"].solvable for k in t.buffer)
    assert t.config()["mutator"]["entries"]["env"]["entries"]["maze"]["keep_solvable"] is True
    with pytest.raises(ConfigError, match="entry 'env': .*entry 'maze': .*keep_solvable=True"):
        mg.make_teacher("accel", space, mutator={"name": "dict", "entries": {"env": {
            "name": "dict", "entries": {"maze": {"name": "maze", "keep_solvable": False}}}}})


@pytest.mark.parametrize("space", [mg.Dict({"level": mg.Discrete(3), "speed": mg.Box([0.5], [2.0])}),
                                   mg.Dict({"seed": SeedSpace(), "env": mg.Dict({"x": mg.Box([0, 0], [1, 3])})})])
def test_accel_on_a_dict_without_a_maze_edits_with_perturb_and_draws_from_the_space(space):
    # a Dict holding no maze keeps what accel always did there: perturb of the whole unit vector, the Dict's sampler
    t = mg.make_teacher("accel", space, seed=3, capacity=16)
    assert t.config()["mutator"] == {"name": "perturb", "sigma": 0.05}
    same = mg.make_teacher("accel", space, seed=3, capacity=16, mutator="perturb", initial="random")
    score = lambda lv: float(space.to_unit(lv)[0])  # noqa: E731
    assert [space.to_json(x) for x, _ in _run(t, score, 300)] == [space.to_json(x) for x, _ in _run(same, score, 300)]
    assert t.n_edited > 0


@pytest.mark.parametrize("name", ["plr", "robust-plr", "accel", "learnability"])
def test_give_back_of_a_single_task_names_the_list_form_and_changes_nothing(name):
    # before: give_back(maze) said "pass a list of tasks, or use observe(task, score) for one" (which records a
    # score), and give_back(maze_text) said only "got a single str"
    teacher = mg.make_teacher(name, MazeSpace(7), seed=0)
    maze = teacher.propose(1)[0]
    before = teacher.state_dict()
    for single in (maze, maze.to_text(), np.array(3)):
        with pytest.raises(InvalidTaskError, match=r"give_back takes a list of tasks.*give_back\(\[task\]\)") as e:
            teacher.give_back(single)
        assert "observe" not in str(e.value)
    assert states_equal(teacher.state_dict(), before)
    assert teacher.give_back([maze]) == 1


def test_learnability_refuses_more_candidates_per_round_than_it_can_hold():
    # n_candidates=10**12 on an open-ended space was taken: the first proposal then drew candidates until a raw
    # MemoryError, after counting the round as started (n_rounds, the generator). A finite space caps a round at
    # its levels, so a large n_candidates there stays what it was (every level, none twice).
    from magister.settings import MAX_SIZE

    for space in (SeedSpace(), MazeSpace(7)):
        with pytest.raises(ConfigError, match=rf"n_candidates=1000000000000 is too large .*limit {MAX_SIZE}"):
            mg.make_teacher("learnability", space, n_candidates=10**12)
    t = mg.make_teacher("learnability", SeedSpace(5), seed=0, n_candidates=10**12, eval_episodes=1)
    assert sorted(t.propose(5)) == [0, 1, 2, 3, 4]
    assert mg.make_teacher("learnability", SeedSpace(), n_candidates=MAX_SIZE).n_candidates == MAX_SIZE


@pytest.mark.parametrize("name", ["plr", "robust-plr", "accel", "learnability"])
def test_give_back_refuses_a_kind_flag_that_is_not_true_or_false_and_says_nothing_was_given_back(name):
    # before: give_back([x], [{"replay": "yes"}]) took any truthy value for the flag ("false" too), and a task
    # outside the space was refused without saying that nothing was given back
    teacher = mg.make_teacher(name, SeedSpace(50), seed=0)
    tasks, infos = teacher.propose_with_info(4)
    flag = "evaluate" if name == "learnability" else "replay"
    before = teacher.state_dict()
    for bad in ("yes", "false", 1, 0, None, 0.0, [True]):
        with pytest.raises(ConfigError, match=rf"info 0 of give_back has {flag!r} = .*True or False.*"
                                              r"Nothing was given back\."):
            teacher.give_back([tasks[0]], [{**infos[0], flag: bad}])
    with pytest.raises(InvalidTaskError, match=r"outside SeedSpace\(50\).*Nothing was given back\."):
        teacher.give_back([tasks[0], 999])
    assert states_equal(teacher.state_dict(), before)
    # what the wrapper, the vector env, Ray and HTTP send: the teacher's infos, numpy bools, no flag at all
    same = mg.make_teacher(name, SeedSpace(50), seed=0)
    assert same.propose_with_info(4) == (tasks, infos)
    as_numpy = [{k: np.bool_(v) if isinstance(v, bool) else v for k, v in i.items()} for i in infos]
    assert teacher.give_back(tasks[:2], as_numpy[:2]) == same.give_back(tasks[:2], infos[:2]) == 2
    assert teacher.give_back(tasks[2:], [{"train": True}, None]) == same.give_back(tasks[2:]) == 2
    assert states_equal(teacher.state_dict(), same.state_dict())


@pytest.mark.parametrize("name,counter", [("plr", "n_replayed"), ("robust-plr", "n_replayed"), ("accel", "n_edited"),
                                          ("learnability", "n_trained"), ("learnability", "n_rounds"),
                                          ("learnability", "next_round")])
def test_a_level_teacher_counter_past_2_63_is_refused(name, counter):
    """10**30 was taken (a next round at 10**30 never came); no run counts past 2**63 - 1."""
    state, b, before = _trained_state_and_fresh_teacher(name)
    state["algorithm"][counter] = 10**30
    with pytest.raises(CheckpointError, match=f"saved {counter} = 10+ is past 9223372036854775807"):
        b.load_state_dict(state)
    assert states_equal(before, b.state_dict())



def _too_many_in(alg):
    entry = next(e for e in alg["evals"] if e[1] == 1)
    entry[1], entry[2] = 5, 0.0  # 5 evaluations in of the 2 expected


def _impossible_successes(alg):
    next(e for e in alg["evals"] if e[1] == 1)[2] = 7.0  # 7 successes in 1 evaluation


@pytest.mark.parametrize("damage, what", [
    (_too_many_in, "a level with 5 evaluations in of the 2 expected"),
    (_impossible_successes, "has 7.0 successes in its 1 evaluations"),
    (lambda alg: alg.update(waiting=[[3, "x"]]), "waiting for scores of kinds 'x'"),
    (lambda alg: alg.update(waiting=[[i, "e"] for i in range(1025)]), "1025 levels waiting for scores")],
    ids=["evaluations", "successes", "kinds", "waiting"])
def test_learnability_refusals_of_a_state_no_run_leaves_name_the_fix(damage, what):
    # "5 evaluations in of the 2 expected ... (a damaged or edited checkpoint)" said what was wrong, not what to do
    t = mg.make_teacher("learnability", SeedSpace(2000), seed=0, n_candidates=3, eval_episodes=2, capacity=5)
    for _ in range(3):
        t.observe(t.propose(), 1.0)
    broken, before = t.state_dict(), t.state_dict()
    damage(broken["algorithm"])
    with pytest.raises(CheckpointError, match=re.escape(what) + ".*: the checkpoint is damaged or was edited; "
                                              "restore it from a backup, or start from an earlier one$"):
        t.load_state_dict(broken)
    assert states_equal(before, t.state_dict())

def test_learnability_refuses_a_checkpoint_with_more_evaluations_in_than_expected():
    # a live teacher scores a level once its n evaluations reach the expected count, so no run saves n >= expected;
    # such a state (5 of 2) was taken and the level scored at its next score from 6 evaluations
    t = mg.make_teacher("learnability", SeedSpace(50), seed=0, n_candidates=3, eval_episodes=2, capacity=5)
    for _ in range(3):
        t.observe(t.propose(), 1.0)
    state = t.state_dict()
    before = str(t.state_dict())
    for n in (2, 5):
        broken = copy.deepcopy(state)
        entry = next(e for e in broken["algorithm"]["evals"] if e[1] == 1)
        entry[1], entry[2] = n, 0.0
        with pytest.raises(CheckpointError, match=f"a level with {n} evaluations in of the 2 expected"):
            from_state_dict(broken)
        with pytest.raises(CheckpointError, match="evaluations in of the 2 expected"):
            t.load_state_dict(broken)
        assert str(t.state_dict()) == before
    fine = copy.deepcopy(state)
    next(e for e in fine["algorithm"]["evals"] if e[1] == 1)[3] = 7  # fewer in than expected: taken
    assert from_state_dict(fine).state_dict()["algorithm"]["evals"] == fine["algorithm"]["evals"]


@pytest.mark.parametrize("name", ["plr", "robust-plr", "accel"])
def test_score_alpha_is_the_weight_of_the_new_score(name):
    # score_alpha = 1 keeps the latest score, 0 "would never change a score": a level scored 1 then 0 holds 1 - alpha
    t = mg.make_teacher(name, SeedSpace(10), seed=0, score_alpha=0.25)
    t.observe(3, 1.0)
    t.observe(3, 0.0)
    assert t.beliefs()["top_scores"] == [pytest.approx(0.75)]


def test_learnability_scores_a_round_left_unfinished_from_the_evaluations_that_came():
    # "a round whose scores do not all come back is closed at the next one, each level scored from the evaluations
    # that did": one of a's two evaluations came back, solved half the time (a fraction averages episodes)
    t = mg.make_teacher("learnability", SeedSpace(50), seed=0, capacity=5, n_candidates=2, eval_episodes=2,
                        eval_interval=1, buffer_prob=0.0)
    props, infos = t.propose_with_info(4)
    assert all(i["evaluate"] for i in infos) and len(set(props)) == 2
    a, b = props[0], next(p for p in props if p != props[0])
    t.observe_batch([b, b, a], [1.0, 0.0, 0.5])  # b complete (p = 0.5); a has one of its two
    assert t.beliefs()["top_levels"] == [b]
    t.propose(2)  # a training proposal, then the next round starts
    assert t.beliefs()["n_rounds"] == 2
    assert sorted(t.beliefs()["top_levels"]) == sorted([a, b])


@pytest.mark.parametrize("name", ["plr", "robust-plr"])
def test_replays_start_once_min_fill_of_the_buffer_is_full(name):
    # capacity 5, min_fill 0.5: replays wait for 2.5 levels, so for the third
    t = mg.make_teacher(name, SeedSpace(), seed=0, capacity=5, min_fill=0.5, replay_prob=1.0)
    for n in range(1, 4):
        level, info = t.propose_with_info()
        assert not info["replay"], f"a replay with {n - 1} of 5 levels in the buffer"
        t.observe(level, float(n))
    assert all(info["replay"] for _, info in _run(t, lambda s: 1.0, 10))


@pytest.mark.parametrize("name", ["plr", "robust-plr", "accel"])
def test_n_replayed_counts_the_replays_proposed(name):
    rng = np.random.default_rng(0)
    t = mg.make_teacher(name, SeedSpace(), seed=0, capacity=8, replay_prob=0.6)
    infos = _run(t, lambda s: float(rng.random()), 80)
    replays = sum(i["replay"] for _, i in infos)
    assert replays > 20 and t.n_replayed == replays and t.beliefs()["n_replayed"] == replays


def test_the_level_proposed_longest_ago_is_forgotten_first_among_too_many_waiting():
    # 1030 new levels proposed and none scored: the six oldest are forgotten (a score of one counts as a level not
    # proposed: its staleness from now), the others remembered (staleness from their proposal)
    from magister.teachers._levels import _MAX_PENDING

    t = mg.make_teacher("robust-plr", SeedSpace(), seed=0, capacity=2000, replay_prob=0.0)
    levels = t.propose(_MAX_PENDING + 6)
    t.observe(levels[0], 1.0)
    t.observe(levels[10], 1.0)
    assert t.buffer.staleness(levels[0]) == 0
    assert t.buffer.staleness(levels[10]) == _MAX_PENDING + 6 - 11


def test_a_new_level_of_an_open_ended_space_is_one_the_buffer_does_not_hold_while_draws_find_one():
    # MazeSpace(4) holds 48 mazes and has no count (open-ended): the generator redraws a maze the buffer holds
    t = mg.make_teacher("plr", MazeSpace(4), seed=0, capacity=48, replay_prob=0.0)
    repeats = 0
    for _ in range(24):
        level = t.propose()
        repeats += level in [t.buffer.level(k) for k, _ in t.buffer.top(48)]
        t.observe(level, 1.0)
    assert repeats == 0
