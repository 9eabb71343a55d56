"""PromptCurriculum (numpy only): prompt choice by category or prompt, reward grouping, state."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import magister as mg
from magister.data.prompts import PromptCurriculum, group_scores
from magister.errors import ConfigError, InvalidScoreError
from magister.scores import FiniteScores
from magister.testing import states_equal as checkpoint_states_equal

CATS = ["easy", "mid", "hard"]


def _categories(n_per=5):
    return [c for c in CATS for _ in range(n_per)]


def test_group_scores_by_hand():
    ids, n, p, adv = group_scores(np.array([7, 7, 7, 7, 2, 2, 5]), np.array([1, 0, 1, 1, 0, 0, 0.5]))
    assert ids.tolist() == [7, 2, 5] and n.tolist() == [4, 2, 1]
    assert p.tolist() == pytest.approx([0.75, 0.0, 0.5])
    # 0/1 rewards: mean |advantage| = 2 sqrt(p (1 - p)) (up to the 1e-4 in the denominator)
    assert adv[0] == pytest.approx(2 * math.sqrt(0.75 * 0.25), rel=1e-3)
    assert adv[1:].tolist() == [0.0, 0.0]


def test_categories_pools_are_drawn_without_replacement_and_follow_the_teacher():
    teacher = mg.make_teacher("sequential", mg.Discrete(CATS), stages=[{"tasks": ["mid"]}], seed=0)
    cur = PromptCurriculum(teacher, categories=_categories(), seed=0)
    a, b = cur.next_prompts(3), cur.next_prompts(2)
    assert sorted(np.concatenate([a, b]).tolist()) == [5, 6, 7, 8, 9], "one pass over mid's pool, no repeats"
    assert cur.history == [{"step": 0, "counts": [0, 3, 0]}, {"step": 1, "counts": [0, 2, 0]}]
    assert set(cur.next_prompts(4).tolist()) <= {5, 6, 7, 8, 9}


def test_rewards_go_to_the_teacher_one_score_per_prompt_group():
    teacher = mg.make_teacher("sec", mg.Discrete(CATS), reward="score", alpha=1.0, seed=0)
    cur = PromptCurriculum(teacher, categories=_categories(), seed=0)
    assert cur.feedback == "abs_advantage"
    out = cur.observe([0, 0, 0, 0, 12, 12, 12, 12], [1, 1, 1, 1, 1, 0, 1, 0])
    assert out["prompt"].tolist() == [0, 12] and out["pass_rate"].tolist() == [1.0, 0.5]
    assert teacher.q == pytest.approx([0.0, 0.0, 1.0], abs=1e-3)  # alpha 1: Q = this batch's |advantage|
    assert cur.attempts[[0, 12]].tolist() == [4, 4] and cur.pass_rates()[12] == 0.5
    assert math.isnan(cur.pass_rates()[1])

    lp = mg.make_teacher("learnability-bandit", mg.Discrete(4), rate=1.0, seed=0)
    cur2 = PromptCurriculum(lp, reward_range=(-1.0, 1.0), seed=0)
    assert cur2.feedback == "pass_rate"
    cur2.observe([3, 3, 1, 1], [1.0, -1.0, 1.0, None])  # None (unscored) is left out
    assert lp.pass_rate.tolist() == [0.5, 1.0, 0.5, 0.5]
    assert cur2.attempts.tolist() == [0, 1, 0, 2]


def test_bad_feedback_is_refused_and_changes_nothing():
    teacher = mg.make_teacher("lp-bandit", mg.Discrete(CATS), seed=0)
    cur = PromptCurriculum(teacher, categories=_categories(), seed=0)
    before = cur.state_dict()
    for prompts, rewards, match in [([0, 1], [1.0], "one prompt index per completion"),
                                    ([0, 99], [1.0, 0.0], "in 0..14"),
                                    ([0, 1], [1.0, 2.0], "reward_range"),
                                    ([0, 1], [1.0, float("inf")], "infinity")]:
        with pytest.raises(mg.MagisterError, match=match):
            cur.observe(prompts, rewards)
    after = cur.state_dict()
    assert teacher.n_observed == 0 and after["attempts"].tolist() == before["attempts"].tolist()
    with pytest.raises(mg.MagisterError, match="no prompts"):
        PromptCurriculum(teacher, categories=["easy", "mid"], seed=0)
    with pytest.raises(mg.MagisterError, match="does not name"):
        PromptCurriculum(teacher, categories=["easy", "mid", "expert"], seed=0)
    with pytest.raises(mg.MagisterError, match="finite space"):
        PromptCurriculum(mg.make_teacher("alp-gmm", mg.Box([0.0], [1.0]), seed=0), seed=0)
    with pytest.raises(mg.MagisterError, match="feedback"):
        PromptCurriculum(teacher, categories=_categories(), feedback="loss")


def _run(cur, steps, rng):
    hard = np.asarray([2 if c == "hard" else 1 if c == "mid" else 0 for c in _categories()])
    for _ in range(steps):
        idx = np.repeat(cur.next_prompts(4), 4)
        cur.observe(idx, (rng.random(len(idx)) > hard[idx] / 3).astype(float))


@pytest.mark.parametrize("name,by_prompt", [("sec", False), ("lp-bandit", False), ("learnability-bandit", True)])
def test_save_and_load_resume_exactly(tmp_path, name, by_prompt):
    def make():
        space = mg.Discrete(15) if by_prompt else mg.Discrete(CATS)
        return PromptCurriculum(mg.make_teacher(name, space, seed=3), categories=None if by_prompt else _categories(),
                                seed=4)

    straight, first = make(), make()
    _run(straight, 12, np.random.default_rng(0))
    rng = np.random.default_rng(0)
    _run(first, 5, rng)
    first.save(tmp_path / "c.ckpt")
    second = make()
    second.load(tmp_path / "c.ckpt")
    _run(second, 7, rng)
    assert second.history == straight.history
    assert second.attempts.tolist() == straight.attempts.tolist()
    assert np.allclose(second.teacher.beliefs()["probability"], straight.teacher.beliefs()["probability"])
    assert second.next_prompts(4).tolist() == straight.next_prompts(4).tolist()


def test_a_state_of_another_set_up_is_refused(tmp_path):
    cur = PromptCurriculum(mg.make_teacher("sec", mg.Discrete(CATS), seed=0), categories=_categories(), seed=0)
    _run(cur, 2, np.random.default_rng(0))
    cur.save(tmp_path / "c.ckpt")
    other = PromptCurriculum(mg.make_teacher("sec", mg.Discrete(15), seed=0), seed=0)
    with pytest.raises(mg.MagisterError, match="rebuild it as it was saved"):
        other.load(tmp_path / "c.ckpt")
    assert other.step == 0 and other.teacher.n_observed == 0


def test_a_state_saved_with_another_reward_range_is_refused(tmp_path):
    """The reward range was not saved: a curriculum built with (0, 10) took a (0, 1) state, and the same rewards
    then reached the teacher as pass rates ten times lower."""
    def make(reward_range):
        return PromptCurriculum(mg.make_teacher("sec", mg.Discrete(CATS), seed=0), categories=_categories(),
                                reward_range=reward_range, seed=0)

    cur = make((0.0, 1.0))
    _run(cur, 2, np.random.default_rng(0))
    cur.save(tmp_path / "c.ckpt")
    other = make((0.0, 10.0))
    before = other.teacher.to_bytes()
    with pytest.raises(ConfigError, match="reward_range"):
        other.load(tmp_path / "c.ckpt")
    assert other.step == 0 and other.teacher.to_bytes() == before
    same = make((0.0, 1.0))
    same.load(tmp_path / "c.ckpt")
    assert same.next_prompts(4).tolist() == cur.next_prompts(4).tolist()


PROMPTS = [f"{a}+{b}=" for a in range(3) for b in range(5)]  # one per prompt of _categories(): 15


@pytest.mark.parametrize("by_prompt", [False, True])
def test_a_state_saved_over_other_prompts_is_refused_and_one_saved_without_their_digest_loads(tmp_path, by_prompt):
    """A state loaded into a curriculum over another prompt list of the same length (prompts edited, reordered, or
    another prompts file) was taken without a word: the teacher's per-prompt statistics, and ``pass_rates()``, then
    went to other prompts. With ``prompts=`` the state saves their digest and a load over other prompts is refused,
    both ways on named, nothing changed; states saved without it (earlier versions) load as before."""
    def make(prompts=None):
        space = mg.Discrete(15) if by_prompt else mg.Discrete(CATS)
        return PromptCurriculum(mg.make_teacher("lp-bandit" if not by_prompt else "learnability-bandit", space,
                                                seed=3), categories=None if by_prompt else _categories(), seed=4,
                                prompts=prompts)

    saved = make(PROMPTS)
    _run(saved, 3, np.random.default_rng(0))
    saved.save(tmp_path / "c.ckpt")
    state = saved.state_dict()
    edited = PROMPTS[:4] + ["4+4 ="] + PROMPTS[5:]
    for other in (edited, PROMPTS[1:] + PROMPTS[:1], list(reversed(PROMPTS))):
        if not by_prompt and other is not edited:
            continue  # (moved prompts change their categories, refused by the pools already)
        cur = make(other)
        before = cur.state_dict()
        with pytest.raises(ConfigError, match="other prompts") as e:
            cur.load(tmp_path / "c.ckpt")
        assert "c.ckpt" in str(e.value) and "Rebuild the curriculum over the prompts it was saved with" in \
            str(e.value) and "start afresh" in str(e.value)
        with pytest.raises(ConfigError, match="other prompts"):
            cur.load_state_dict(state, replay_pending=True)
        assert checkpoint_states_equal(cur.state_dict(), before), "a refused load changes nothing"
    # the same prompts (as a numpy array, or a tuple) load and resume; so does a state saved without the digest
    for same in (np.array(PROMPTS), tuple(PROMPTS)):
        cur = make(same)
        cur.load(tmp_path / "c.ckpt")
        assert checkpoint_states_equal(cur.state_dict(), state)
    old = {k: v for k, v in state.items() if k != "prompts_fingerprint"}
    cur = make(edited)
    cur.load_state_dict(old)
    assert cur.step == saved.step and cur.attempts.tolist() == saved.attempts.tolist()
    # a curriculum that does not know its prompts takes the state's digest, and saves it again
    bare = make()
    assert bare.state_dict()["prompts_fingerprint"] is None
    bare.load(tmp_path / "c.ckpt")
    assert bare.state_dict()["prompts_fingerprint"] == state["prompts_fingerprint"]
    with pytest.raises(ConfigError, match="other prompts"):
        make(edited).load_state_dict(bare.state_dict())


def test_prompts_that_are_not_one_text_per_prompt_are_refused():
    def make(prompts):
        return PromptCurriculum(mg.make_teacher("sec", mg.Discrete(CATS), seed=0), categories=_categories(),
                                prompts=prompts)

    with pytest.raises(ConfigError, match="prompts holds 14 prompts but the curriculum has 15"):
        make(PROMPTS[:14])
    for bad in ("".join(PROMPTS), {"prompt": PROMPTS}):
        with pytest.raises(ConfigError, match="one per prompt in order"):
            make(bad)
    with pytest.raises(ConfigError, match="prompt 2 is not text"):
        make(PROMPTS[:2] + [object()] + PROMPTS[3:])
    # chat messages (lists of dicts) are prompts too, their keys in any order
    chat = [[{"role": "user", "content": p}] for p in PROMPTS]
    turned = [[{"content": p, "role": "user"}] for p in PROMPTS]
    assert make(chat).state_dict()["prompts_fingerprint"] == make(turned).state_dict()["prompts_fingerprint"]



def test_a_whole_dataset_or_a_set_is_refused_as_prompts():
    """``prompts=dataset`` (the whole ``datasets.Dataset``, not its ``prompt`` column) was read as its column
    names: every dataset with the same columns had the same digest, so a state saved over other prompts loaded
    without a word; a set (no order) was digested in an order that changes from run to run."""
    datasets = pytest.importorskip("datasets")

    def make(prompts):
        return PromptCurriculum(mg.make_teacher("sec", mg.Discrete(CATS), seed=0), categories=_categories(),
                                prompts=prompts)

    table = datasets.Dataset.from_dict({"prompt": PROMPTS, "level": _categories()})
    for bad in (table, set(PROMPTS), frozenset(PROMPTS)):
        with pytest.raises(ConfigError, match="one per prompt in order"):
            make(bad)
    assert make(table["prompt"]).state_dict()["prompts_fingerprint"] == make(PROMPTS).state_dict()[
        "prompts_fingerprint"]


def test_chat_prompts_and_their_datasets_column_have_one_digest():
    """A ``datasets`` column fills a key some messages lack with None, and reads 1 as 1.0 beside 1.5 (vision
    prompts: ``{"type": "image"}`` beside ``{"type": "text", "text": ...}``): the digest of the list differed from
    the column's, so a curriculum built with ``prompts=`` the list refused its own state loaded over the
    dataset's column (and ``add_prompt_curriculum`` refused the curriculum), naming other prompts."""
    datasets = pytest.importorskip("datasets")
    chat = [[{"role": "system", "content": [{"type": "text", "text": "be brief"}]},
             {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": p}], "weight": 1 + k % 2 / 2}]
            for k, p in enumerate(PROMPTS)]
    column = datasets.Dataset.from_dict({"prompt": chat})["prompt"]
    assert column[0] != chat[0]  # (the column's own form: None for the missing keys, 1.0 for 1)

    def make(prompts):
        return PromptCurriculum(mg.make_teacher("sec", mg.Discrete(CATS), seed=0), categories=_categories(),
                                prompts=prompts, seed=1)

    saved = make(chat)
    _run(saved, 2, np.random.default_rng(0))
    resumed = make(column)
    resumed.load_state_dict(saved.state_dict())
    assert checkpoint_states_equal(resumed.state_dict(), saved.state_dict())
    # an edited message is still another prompt
    edited = [list(m) for m in chat]
    edited[3] = [edited[3][0], dict(edited[3][1], content=[{"type": "text", "text": "other"}])]
    with pytest.raises(ConfigError, match="other prompts"):
        make(edited).load_state_dict(saved.state_dict())

def _saved_and_used(make):
    """A curriculum ``make()`` run 3 steps and its state, and another run 1 step (other seeds): what a refused load
    must leave as it was."""
    saved = make()
    _run(saved, 3, np.random.default_rng(0))
    cur = make()
    _run(cur, 1, np.random.default_rng(1))
    return saved, saved.state_dict(), cur


def test_a_malformed_state_file_is_refused_naming_the_file(tmp_path):
    """PromptCurriculum.load of a file whose state is malformed (negative attempts) said "the saved curriculum
    state is malformed", naming no file (found by the checkpoint fuzz); still a ConfigError, as load_state_dict's."""
    from magister.checkpoint import save_state

    def make():
        return PromptCurriculum(mg.make_teacher("sec", mg.Discrete(CATS), seed=0), categories=_categories(), seed=0)

    _, state, cur = _saved_and_used(make)
    before = cur.state_dict()
    path = save_state(tmp_path / "c.ckpt", dict(state, attempts=-np.ones(15)))
    with pytest.raises(ConfigError, match=f"^checkpoint file {re.escape(repr(str(path)))}: the saved curriculum state"):
        cur.load(path)
    assert checkpoint_states_equal(before, cur.state_dict())


def test_a_malformed_state_is_refused_with_a_clear_error_and_changes_nothing():
    """A state missing "step", "cursor", "history" or "groups_observed" (or with a bad cursor) raised a raw
    KeyError / ValueError / IndexError, after the teacher had already been loaded from it."""
    def make():
        return PromptCurriculum(mg.make_teacher("sec", mg.Discrete(CATS), seed=0), categories=_categories(), seed=0)

    saved, state, cur = _saved_and_used(make)
    before = (cur.teacher.to_bytes(), cur.step, cur.history)
    for key, value in [("step", None), ("cursor", None), ("history", None), ("groups_observed", None),
                       ("rng", None), ("step", "x"), ("cursor", np.array([-5, 0, 0])), ("cursor", np.zeros(1)),
                       ("attempts", -np.ones(15)), ("reward_sum", np.full(15, np.nan))]:
        bad = dict(state, **{key: value}) if value is not None else {k: v for k, v in state.items() if k != key}
        with pytest.raises(mg.ConfigError, match="malformed"):
            cur.load_state_dict(bad)
        assert (cur.teacher.to_bytes(), cur.step, cur.history) == before, key
    cur.load_state_dict(state)
    assert cur.next_prompts(4).tolist() == saved.next_prompts(4).tolist()


def test_saved_pools_or_cursor_that_are_not_whole_numbers_are_refused_as_malformed():
    """Pools of prompts [0.2, 1.2, ...] were cut to [0, 1, ...] (and matched this curriculum's), a cursor of 1.5
    was cut to 1, True read as 1 and "1" parsed."""
    def make():
        return PromptCurriculum(mg.make_teacher("sec", mg.Discrete(CATS), seed=0), categories=_categories(), seed=0)

    saved, state, cur = _saved_and_used(make)
    before = cur.state_dict()
    for key, value in [("pools", [p + 0.2 for p in state["pools"]]), ("pools", [p.astype(str) for p in state["pools"]]),
                       ("cursor", state["cursor"] + 0.5), ("cursor", np.ones(3, dtype=bool))]:
        with pytest.raises(mg.ConfigError, match=f"malformed .*{key} must hold whole numbers"):
            cur.load_state_dict(dict(state, **{key: value}))
        assert checkpoint_states_equal(cur.state_dict(), before), key
    cur.load_state_dict(dict(state, cursor=state["cursor"].astype(float)))  # whole floats are taken, as before
    assert cur.next_prompts(4).tolist() == saved.next_prompts(4).tolist()


def test_replay_pending_is_true_or_false_only(tmp_path):
    """load_state_dict(state, replay_pending="false") (and load) handed the waiting batches out again."""
    def make():
        return PromptCurriculum(mg.make_teacher("sec", mg.Discrete(CATS), seed=0), categories=_categories(), seed=0)

    saved = make()
    saved.next_prompts(4)
    path = saved.save(tmp_path / "c.ckpt")
    cur = make()
    before = cur.state_dict()
    for bad in ("false", 0):
        with pytest.raises(mg.ConfigError, match="replay_pending must be True or False"):
            cur.load_state_dict(saved.state_dict(), replay_pending=bad)
        with pytest.raises(mg.ConfigError, match="replay_pending must be True or False") as info:
            cur.load(path, replay_pending=bad)
        assert "c.ckpt" not in str(info.value), "the file is not what is wrong"
        assert checkpoint_states_equal(cur.state_dict(), before)
    cur.load(path, replay_pending=np.False_)
    assert cur.pending == 1 and cur.next_prompts(4).tolist() == saved.next_prompts(4).tolist()


@pytest.mark.parametrize("by_prompt", [False, True])
def test_a_state_whose_log_or_counts_are_not_this_curriculums_is_refused_and_changes_nothing(by_prompt):
    """A state whose history records held other counts (another number of categories, prompts past the last) was
    loaded, and counts_per_task() then raised numpy's raw IndexError / ValueError; a negative step or group count,
    fractional attempts (1.5 read as 1) or a reward sum above the attempts were loaded as well."""
    def make():
        if by_prompt:
            return PromptCurriculum(mg.make_teacher("learnability-bandit", mg.Discrete(15), seed=0), seed=0)
        return PromptCurriculum(mg.make_teacher("sec", mg.Discrete(CATS), seed=0), categories=_categories(), seed=0)

    saved, state, cur = _saved_and_used(make)
    before = cur.state_dict()
    record = {"step": 0, "prompts": [3, 15]} if by_prompt else {"step": 0, "counts": [1, 2]}
    attempts = state["attempts"].astype(float)
    attempts[0] += 0.5
    for key, value in [("history", [record]), ("history", [{"step": -1, **{k: v for k, v in record.items()
                                                                              if k != "step"}}]),
                       ("history", [{"step": 0}]), ("step", -2), ("groups_observed", -1), ("attempts", attempts),
                       ("reward_sum", state["attempts"] + 1.0)]:
        with pytest.raises(mg.ConfigError, match="malformed"):
            cur.load_state_dict(dict(state, **{key: value}))
        assert checkpoint_states_equal(cur.state_dict(), before), key
    cur.load_state_dict(state)
    assert cur.counts_per_task().tolist() == saved.counts_per_task().tolist()


def test_rewards_and_prompt_indices_that_are_not_numbers_are_refused():
    """Text rewards were parsed ("1"), "x" or a complex number raised numpy's raw ValueError / TypeError, and prompt
    indices 0.5 or "1" were read as prompts 0 and 1."""
    teacher = mg.make_teacher("lp-bandit", mg.Discrete(CATS), seed=0)
    cur = PromptCurriculum(teacher, categories=_categories(), seed=0)
    for rewards in (["1", "0"], ["x", "0"], [1j, 0.0]):
        with pytest.raises(mg.errors.InvalidScoreError, match="rewards must be numbers"):
            cur.observe([0, 1], rewards)
    for prompts in ([0.5, 1.0], ["0", "1"]):
        with pytest.raises(mg.ConfigError, match="whole numbers"):
            cur.observe(prompts, [1.0, 0.0])
    assert teacher.n_observed == 0 and cur.attempts.sum() == 0
    assert cur.observe([0.0, 1], [True, None])["prompt"].tolist() == [0]


def test_a_prompt_index_past_int64_is_refused_as_out_of_range_and_iterators_are_read_item_by_item():
    """observe([2**70], ...) raised numpy's raw OverflowError, and rewards given as a generator were read as one
    reward ("got 2 prompt indices but 1 rewards")."""
    cur = PromptCurriculum(mg.make_teacher("uniform", mg.Discrete(4), seed=0), seed=0)
    for prompts in ([2**70], [0, -(2**70)]):
        with pytest.raises(ConfigError, match=r"prompt indices must be in 0..3"):
            cur.observe(prompts, [1.0] * len(prompts))
    assert cur.attempts.sum() == 0 and cur.teacher.n_observed == 0
    out = cur.observe(iter([1, 1, 2]), (r for r in [1.0, 0.0, None]))
    assert out["prompt"].tolist() == [1] and out["completions"].tolist() == [2]


def test_a_lower_is_better_reward_range_is_turned_once_so_the_best_reward_passes():
    cur = PromptCurriculum(mg.make_teacher("uniform", mg.Discrete(4), seed=0),
                           reward_range=mg.ScoreRange(0, 10, higher_is_better=False), seed=0)
    out = cur.observe([0, 0, 1, 1], [0, 0, 10, 10])  # a cost: prompt 0 is always best, prompt 1 always worst
    assert out["pass_rate"].tolist() == [1.0, 0.0] and cur.pass_rates()[:2].tolist() == [1.0, 0.0]


def test_an_unbounded_reward_range_is_refused():
    with pytest.raises(ConfigError, match="bounded"):
        PromptCurriculum(mg.make_teacher("uniform", mg.Discrete(4), seed=0), reward_range=FiniteScores())


def test_prompt_indices_that_are_booleans_are_refused():
    """observe([True, False], ...) recorded the rewards for prompts 1 and 0 (SkillSampler refuses such indices)."""
    cur = PromptCurriculum(mg.make_teacher("uniform", mg.Discrete(4), seed=0), seed=0)
    for prompts in ([True, False], np.array([True, True])):
        with pytest.raises(ConfigError, match="whole numbers"):
            cur.observe(prompts, [1.0, 0.0])
    assert cur.attempts.sum() == 0 and cur.teacher.n_observed == 0


def test_group_size_keeps_a_prompt_drawn_twice_as_two_groups_and_refuses_mixed_blocks():
    """By prompt index, two groups of one prompt merged into one observation whose |advantage| (1 here) was not
    GRPO's (0 for each group); group_size=g groups every g consecutive completions, as GRPO does."""
    teacher = mg.make_teacher("sec", mg.Discrete(CATS), reward="score", alpha=1.0, seed=0)
    cur = PromptCurriculum(teacher, categories=_categories(), seed=0)
    merged = PromptCurriculum(mg.make_teacher("sec", mg.Discrete(CATS), reward="score", alpha=1.0, seed=0),
                              categories=_categories(), seed=0).observe([12] * 8, [1] * 4 + [0] * 4)
    assert merged["abs_advantage"].tolist() == pytest.approx([1.0], abs=1e-3)
    out = cur.observe([12] * 8 + [0] * 4, [1] * 4 + [0] * 4 + [1, None, 1, 0], group_size=4)
    assert out["prompt"].tolist() == [12, 12, 0] and out["completions"].tolist() == [4, 4, 3]
    assert out["abs_advantage"][:2].tolist() == [0.0, 0.0] and teacher.q[2] == pytest.approx(0.0)
    assert cur.groups_observed == 3 and cur.attempts[[0, 12]].tolist() == [3, 8]
    before = cur.state_dict()
    for prompts, size in (([12] * 6, 4), ([12, 12, 0, 0], 4), ([12] * 4, 0)):
        with pytest.raises(ConfigError if size == 0 else InvalidScoreError):
            cur.observe(prompts, [1.0] * len(prompts), group_size=size)
    assert cur.groups_observed == 3 and cur.attempts.tolist() == before["attempts"].tolist()


def test_a_teacher_with_an_open_score_range_gets_the_groups_scores():
    """An open range (FiniteScores, the level teachers' default) turned every score into NaN, refused."""
    teacher = mg.make_teacher("plr", mg.Discrete(CATS), seed=0)
    assert isinstance(teacher.score_range, FiniteScores)
    cur = PromptCurriculum(teacher, categories=_categories(), seed=0)
    out = cur.observe([0, 0, 12, 12], [1, 0, 1, 1])
    assert out["score"].tolist() == [0.5, 1.0] and cur.groups_observed == 2


def test_a_reward_outside_the_range_is_named_by_its_completion_and_the_fix_is_reward_range():
    """The message was the teacher's: it said "(position 0)" counted among the rewards left after NaNs were
    dropped (the bad reward was completion 2) and told the user to set score_range=, which a curriculum has not."""
    teacher = mg.make_teacher("lp-bandit", mg.Discrete(CATS), seed=0)
    cur = PromptCurriculum(teacher, categories=_categories(), seed=0)
    with pytest.raises(InvalidScoreError) as e:
        cur.observe([0, 0, 1, 1], [None, float("nan"), 2.0, 0.5], group_size=2)
    assert "reward 2.0 (completion 2)" in str(e.value) and "score_range" not in str(e.value)
    assert "reward_range=(low, high)" in str(e.value) and teacher.n_observed == 0 and cur.attempts.sum() == 0


@pytest.mark.parametrize("by_prompt", [False, True])
def test_max_history_bounds_the_log_and_the_saved_state(by_prompt):
    # before: the log (with every prompt drawn, over prompts) and every saved state grew by one record per step for
    # as long as the curriculum ran, with no way to bound them
    def make(**kw):
        space = mg.Discrete(15) if by_prompt else mg.Discrete(CATS)
        return PromptCurriculum(mg.make_teacher("sec", space, seed=3), categories=None if by_prompt else _categories(),
                                seed=4, **kw)

    full, kept = make(), make(max_history=2)
    for _ in range(6):
        assert full.next_prompts(4).tolist() == kept.next_prompts(4).tolist()  # the prompts do not depend on it
    assert kept.history == full.history[-2:] and kept.history[-1]["step"] == 5
    assert kept.counts_per_task().tolist() == full.counts_per_task()[-2:].tolist()
    assert len(kept.state_dict()["history"]) == 2
    resumed = make(max_history=2)
    resumed.load_state_dict(full.state_dict())  # a longer log is cut to the newest records
    assert resumed.history == full.history[-2:]
    assert resumed.next_prompts(4).tolist() == full.next_prompts(4).tolist()
    with pytest.raises(ConfigError, match="max_history"):
        make(max_history=0)


def test_batches_handed_out_before_a_save_are_handed_out_again_when_loaded_with_replay_pending(tmp_path):
    """A data loader fetches generation batches ahead: the state saved at a checkpoint had drawn them, and a run
    resumed from it drew the next ones instead, so it never trained the prompts the uninterrupted run trained."""
    def make():
        return PromptCurriculum(mg.make_teacher("sec", mg.Discrete(CATS), seed=0), categories=_categories(), seed=0)

    cur = make()
    _run(cur, 3, np.random.default_rng(0))
    assert cur.pending == 0
    ahead = [cur.next_prompts(4), cur.next_prompts(4)]  # fetched ahead, no rewards yet
    assert cur.pending == 2
    cur.save(tmp_path / "c.ckpt")
    step, history = cur.step, list(cur.history)

    resumed = make()
    resumed.load(tmp_path / "c.ckpt", replay_pending=True)
    before = resumed.teacher.to_bytes()
    assert [resumed.next_prompts(4).tolist() for _ in ahead] == [a.tolist() for a in ahead]
    assert resumed.step == step and resumed.history == history and resumed.teacher.to_bytes() == before
    for a in ahead:  # their rewards answer them, oldest first; then the stream goes on as the saved one
        resumed.observe(np.repeat(a, 4), np.ones(16))
        cur.observe(np.repeat(a, 4), np.ones(16))
    assert resumed.pending == cur.pending == 0
    assert resumed.next_prompts(4).tolist() == cur.next_prompts(4).tolist()

    held = make()  # without replay_pending they stay waiting for a caller that holds them
    held.load(tmp_path / "c.ckpt")
    assert held.pending == 2 and held.step == step
    held.next_prompts(4)
    assert held.step == step + 1, "the teacher proposed a new batch"

    old = make()  # a state saved before the waiting batches were saved
    state = make().state_dict()
    del state["pending"]
    old.load_state_dict(state, replay_pending=True)
    assert old.pending == 0
    with pytest.raises(ConfigError, match="malformed"):
        old.load_state_dict(dict(state, pending=[np.array([15])]))
    other = make()
    other.load(tmp_path / "c.ckpt", replay_pending=True)
    with pytest.raises(ConfigError, match="batches of 4 prompts"):
        other.next_prompts(2)
    assert other.next_prompts(4).tolist() == ahead[0].tolist()


@pytest.mark.parametrize("bad", [[np.array([1.5, 2.0])], [[True, False]], [np.array([1.0, 2.0])], [["1", "2"]]])
def test_a_saved_waiting_batch_that_is_not_whole_prompt_indices_is_refused_and_changes_nothing(bad):
    """np.asarray(p, dtype=int64) cut 1.5 to prompt 1 and read True as prompt 1: a damaged state replayed them."""
    def make():
        return PromptCurriculum(mg.make_teacher("sec", mg.Discrete(CATS), seed=0), categories=_categories(), seed=0)

    saved = make()
    saved.next_prompts(2)
    state = saved.state_dict()
    cur = make()
    before = cur.state_dict()
    with pytest.raises(ConfigError, match="malformed"):
        cur.load_state_dict(dict(state, pending=bad), replay_pending=True)
    assert cur.pending == 0 and checkpoint_states_equal(before, cur.state_dict())
    assert cur.next_prompts(2).tolist() == make().next_prompts(2).tolist()  # nothing replayed


@pytest.mark.parametrize("categories", [None, ["a", "b", "a", "b", "a"]])
def test_task_of_a_prompt_out_of_range_names_the_range(categories):
    # over categories, task_of([99]) was numpy's raw IndexError and task_of([-1]) the last prompt's category;
    # over prompts, both were given back as tasks the space does not have
    teacher = mg.make_teacher("uniform", mg.Discrete(["a", "b"] if categories else 5), seed=0)
    cur = PromptCurriculum(teacher, categories=categories, seed=0)
    for prompts in ([99], [0, -1], [5]):
        with pytest.raises(ConfigError, match=r"prompt indices must be in 0..4; this curriculum has 5 prompts"):
            cur.task_of(prompts)
    assert cur.task_of([0, 1, 4]).tolist() == ([0, 1, 0] if categories else [0, 1, 4])
    assert cur.task_of([]).tolist() == []


def test_groups_of_one_completion_under_abs_advantage_are_refused_or_warned_once():
    """One completion per prompt group made SEC's |advantage| 0 for every group, so its values sank to 0 and the
    curriculum learned nothing, without a word. ``group_size=1`` cannot work with ``"abs_advantage"``: refused,
    nothing recorded. Groups by prompt index of one completion each warn once, naming the ways on. Pass rates
    (``learnability-bandit``, SEC with ``reward="accuracy"``) work with one completion per prompt."""
    import warnings

    teacher = mg.make_teacher("sec", mg.Discrete(CATS), reward="score", alpha=1.0, seed=0)
    cur = PromptCurriculum(teacher, categories=_categories(), seed=0)
    cur.next_prompts(2)
    with pytest.raises(ConfigError, match="group_size=1.*num_generations.*feedback='pass_rate'.*Nothing was"):
        cur.observe([0, 12], [1.0, 0.0], group_size=1)
    assert teacher.n_observed == 0 and cur.groups_observed == 0 and cur.pending == 1
    with pytest.warns(UserWarning, match="2 of 3 prompt groups had a single completion.*num_generations"):
        cur.observe([0, 12, 5, 5], [1.0, 0.0, None, 1.0])  # a None left out of a pair is not warned about
    assert teacher.n_observed == 3 and cur.pending == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cur.observe([0, 12], [1.0, 0.0])  # once per curriculum
        cur.observe([0, 0, 12, 12], [1.0, 0.0, 1.0, 1.0], group_size=2)

    for teacher in (mg.make_teacher("learnability-bandit", mg.Discrete(4), rate=1.0, seed=0),
                    mg.make_teacher("sec", mg.Discrete(4), alpha=1.0, seed=0)):
        cur = PromptCurriculum(teacher, seed=0)
        assert cur.feedback == "pass_rate"
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            cur.observe([1, 2], [1.0, 0.0], group_size=1)
            cur.observe([3], [1.0])
        assert teacher.n_observed == 3
        if teacher.name == "learnability-bandit":
            assert teacher.pass_rate.tolist() == [0.5, 1.0, 0.0, 1.0]  # prompt 0 unseen: the prior


def test_rows_instead_of_categories_are_refused_naming_the_column():
    # the dataset's rows (dicts) given as categories raised a raw "TypeError: unhashable type: 'dict'"
    teacher = mg.make_teacher("lp-bandit", mg.Discrete(["easy", "hard"]), seed=0)
    with pytest.raises(ConfigError, match=r"categories holds dict items.*dataset\['level'\]"):
        PromptCurriculum(teacher, categories=[{"prompt": "1+1", "level": "easy"}], seed=0)
    with pytest.raises(ConfigError, match="flat sequence"):  # ragged lists: numpy's raw "inhomogeneous shape"
        PromptCurriculum(teacher, categories=[["easy"], ["easy", "hard"]], seed=0)


def test_a_table_given_as_categories_is_refused_not_read_as_its_column_names():
    # list() of a dict of columns or of a pandas DataFrame is its column names: "prompt 0 has category 'prompt'",
    # or, with columns named like the categories, a curriculum of as many prompts as columns, silently
    import pandas as pd

    teacher = mg.make_teacher("lp-bandit", mg.Discrete(["easy", "hard"]), seed=0)
    columns = {"easy": ["1+1", "2+2", "3+3"], "hard": ["easy", "hard", "easy"]}
    for table in (columns, pd.DataFrame(columns)):
        with pytest.raises(ConfigError, match=r"categories is a table .*\['easy', 'hard'\].*e.g. dataset\['level'\]"):
            PromptCurriculum(teacher, categories=table, seed=0)
    assert PromptCurriculum(teacher, categories=pd.DataFrame(columns)["hard"], seed=0).n_prompts == 3
