"""SkillSampler: counts, determinism, refill, feedback, prefetching, state."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader, Dataset  # noqa: E402

import magister as mg  # noqa: E402
from magister.data import SkillSampler  # noqa: E402
from magister.errors import CheckpointError, ConfigError, InvalidScoreError, UnknownTaskError  # noqa: E402
from magister.testing import states_equal  # noqa: E402


class IndexData(Dataset):
    """Item ``i`` is ``i`` itself, so a loaded batch shows which indices were drawn."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


def skills_fixture(n_per=(7, 11, 5, 9)):
    rng = np.random.default_rng(0)
    skills = np.repeat(np.arange(len(n_per)), n_per)
    rng.shuffle(skills)
    return skills


def test_counts_match_the_teachers_proposals_slot_by_slot():
    skills = skills_fixture()
    teacher = mg.make_teacher("skill-it", mg.Discrete(4), seed=3, eta=3.0)
    twin = mg.make_teacher("skill-it", mg.Discrete(4), seed=3, eta=3.0)
    teacher.observe_batch([0, 1, 2, 3], [0.9, 0.1, 0.5, 0.2])
    twin.observe_batch([0, 1, 2, 3], [0.9, 0.1, 0.5, 0.2])
    sampler = SkillSampler(skills, teacher, batch_size=16, seed=0)
    for step in range(5):
        batch = sampler.next_batch()
        proposals = np.asarray(twin.propose(16))
        assert np.array_equal(skills[batch], proposals), "slot j must hold an example of proposal j's skill"
        assert sampler.history[step]["counts"] == np.bincount(proposals, minlength=4).tolist()
        assert np.allclose(sampler.history[step]["mixture"], twin.beliefs()["probability"], atol=1e-6)
    assert sampler.samples_per_skill().sum() == 5 * 16


def test_named_skills_are_accepted_and_unknown_names_refused():
    names = ["add", "sub", "mul"]
    labels = ["add", "sub", "mul", "add", "mul", "sub"]
    teacher = mg.make_teacher("uniform", mg.Discrete(names), seed=0)
    sampler = SkillSampler(labels, teacher, batch_size=4, seed=0)
    assert sampler.skill_of.tolist() == [0, 1, 2, 0, 2, 1]
    with pytest.raises(UnknownTaskError):
        SkillSampler(["add", "div"], mg.make_teacher("uniform", mg.Discrete(names)), batch_size=2)
    with pytest.raises(ConfigError, match="no examples"):
        SkillSampler(["add", "sub"], mg.make_teacher("uniform", mg.Discrete(names)), batch_size=2)
    with pytest.raises(ConfigError, match="outside"):
        SkillSampler([0, 5], mg.make_teacher("uniform", mg.Discrete(3)), batch_size=2)
    with pytest.raises(ConfigError):
        SkillSampler([0, 1], mg.make_teacher("uniform", mg.Box([0], [1])), batch_size=2)


def _run(seed_sampler, seed_teacher, steps=20, feedback=True):
    skills = skills_fixture()
    teacher = mg.make_teacher("skill-it", mg.Discrete(4), seed=seed_teacher, eta=2.0)
    sampler = SkillSampler(skills, teacher, batch_size=8, seed=seed_sampler)
    out = []
    for _ in range(steps):
        b = sampler.next_batch()
        out.append(b)
        if feedback:
            sampler.observe_batch_loss(np.asarray(b, dtype=float) % 3)
    return out


def test_deterministic_under_a_seed():
    assert _run(1, 2) == _run(1, 2)
    assert _run(1, 2) != _run(5, 2), "another sampler seed must shuffle the pools differently"
    assert _run(1, 2) != _run(1, 9), "another teacher seed must give other proposals"


def test_examples_are_drawn_without_replacement_and_pools_refill():
    skills = np.array([0] * 5 + [1] * 3)
    sampler = SkillSampler(skills, [1.0, 0.0], batch_size=1, seed=4)
    drawn = [sampler.next_batch()[0] for _ in range(15)]
    for p in range(3):
        assert sorted(drawn[5 * p:5 * p + 5]) == [0, 1, 2, 3, 4], "each pass over a pool takes each example once"
    assert drawn[:5] != drawn[5:10] or drawn[5:10] != drawn[10:15], "a refilled pool is reshuffled"
    assert sampler.refills.tolist() == [2, 0]
    big = SkillSampler(skills, [0.0, 1.0], batch_size=7, seed=0)  # a batch larger than the pool
    b = big.next_batch()
    assert set(skills[b].tolist()) == {1} and sorted(np.bincount(b, minlength=8)[5:].tolist()) == [2, 2, 3]


def test_fixed_mixture_and_mixture_mode_draw_counts_from_the_samplers_generator():
    skills = skills_fixture()
    s1 = SkillSampler(skills, [0.5, 0.25, 0.25, 0.0], batch_size=400, seed=0)
    counts = np.bincount(skills[s1.next_batch()], minlength=4)
    expected = np.random.default_rng(0)
    expected.permutation(np.flatnonzero(skills == 0))  # the pools are shuffled first, in skill order
    for s in (1, 2, 3):
        expected.permutation(np.flatnonzero(skills == s))
    assert counts.tolist() == expected.multinomial(400, [0.5, 0.25, 0.25, 0.0]).tolist()
    teacher = mg.make_teacher("skill-it", mg.Discrete(4), seed=0, eta=5.0)
    teacher.observe_batch([0, 1, 2, 3], [1.0, 1.0, 0.0, 1.0])
    before = teacher.state_dict()["rng"]
    s2 = SkillSampler(skills, teacher, batch_size=200, seed=1, mode="mixture")
    c2 = np.bincount(skills[s2.next_batch()], minlength=4)
    assert c2.argmax() == 2 and teacher.state_dict()["rng"] == before, "mixture mode must not use the teacher's rng"
    assert np.allclose(s2.history[0]["mixture"], teacher.beliefs()["probability"], atol=1e-6)


def test_batch_loss_feedback_is_aggregated_per_skill():
    skills = np.array([0, 0, 1, 1, 2, 2])
    teacher = mg.make_teacher("skill-it", mg.Discrete(3), seed=0, window=1)
    sampler = SkillSampler(skills, teacher, batch_size=4, seed=0)
    means = sampler.observe_batch_loss([1.0, 3.0, 0.5, 7.0], indices=[0, 1, 2, 0])
    assert means == {0: pytest.approx((1 + 3 + 7) / 3), 1: pytest.approx(0.5)}
    assert teacher.n_observed == 2, "one observation per skill present"
    assert teacher.recent[0, -1] == pytest.approx(1 - np.exp(-11 / 3))
    assert teacher.recent[1, -1] == pytest.approx(1 - np.exp(-0.5))
    assert np.isnan(teacher.recent[2, -1])
    sampler.observe_batch_correct([1, 0, 1, 1], indices=[0, 1, 4, 5])
    assert teacher.recent[0, -1] == pytest.approx(0.5) and teacher.recent[2, -1] == pytest.approx(0.0)
    sampler.observe_eval({"0": 0.25, 2: 1.0})
    assert teacher.recent[0, -1] == pytest.approx(0.75) and teacher.recent[2, -1] == pytest.approx(0.0)
    sampler.observe_eval([2.0, 0.0, 1.0], kind="loss")
    assert teacher.recent[:, -1] == pytest.approx(1 - np.exp(-np.array([2.0, 0.0, 1.0])))
    before, n = teacher.state_dict(), teacher.n_observed
    for bad in ([np.nan, 1, 1, 1], [-1, 1, 1, 1]):
        with pytest.raises(InvalidScoreError):
            sampler.observe_batch_loss(bad, indices=[0, 1, 2, 3])
    with pytest.raises(InvalidScoreError):
        sampler.observe_eval([0.5, 1.5, 0.2])
    with pytest.raises(UnknownTaskError):
        sampler.observe_eval({"nope": 0.5})
    assert teacher.n_observed == n and states_equal(before["algorithm"], teacher.state_dict()["algorithm"])


def test_declared_and_running_loss_scores():
    skills = np.array([0, 1])
    t1 = mg.make_teacher("skill-it", mg.Discrete(2), seed=0, window=1)
    s1 = SkillSampler(skills, t1, batch_size=2, seed=0, loss_score=mg.ScoreRange(0, 4, higher_is_better=False))
    s1.observe_batch_loss([1.0, 3.0], indices=[0, 1])
    assert t1.recent[:, -1] == pytest.approx([0.25, 0.75])
    t2 = mg.make_teacher("skill-it", mg.Discrete(2), seed=0, window=1)
    s2 = SkillSampler(skills, t2, batch_size=2, seed=0, loss_score="running")
    s2.observe_batch_loss([2.0, 4.0], indices=[0, 1])
    s2.observe_batch_loss([1.0, 1.0], indices=[0, 1])
    assert t2.recent[:, -1] == pytest.approx([0.5, 0.25]), "loss / largest loss seen for the skill"


def test_any_registered_discrete_teacher_drives_the_sampler():
    skills = skills_fixture()
    for name in mg.available_teachers("discrete"):
        teacher = mg.make_teacher(name, mg.Discrete(4), seed=0)
        sampler = SkillSampler(skills, teacher, batch_size=8, seed=0)
        for _ in range(6):
            b = sampler.next_batch()
            sampler.observe_batch_correct((np.asarray(b) % 2).astype(float))
            sampler.observe_eval([0.1, 0.4, 0.8, 0.9])
        assert len(sampler.history) == 6 and teacher.n_observed >= 6, name


def test_feedback_without_indices_goes_to_the_oldest_batch():
    skills = np.array([0, 1] * 10)
    teacher = mg.make_teacher("skill-it", mg.Discrete(2), seed=0, window=1)
    sampler = SkillSampler(skills, teacher, batch_size=4, seed=0)
    first, second = sampler.next_batch(), sampler.next_batch()
    assert sampler.pending == 2
    means = sampler.observe_batch_loss(np.asarray(first, dtype=float))
    expect = {s: float(np.mean([i for i in first if skills[i] == s])) for s in set(skills[first].tolist())}
    assert means == pytest.approx(expect) and sampler.pending == 1
    sampler.observe_batch_loss(np.asarray(second, dtype=float))
    with pytest.raises(ConfigError, match="no batch"):
        sampler.observe_batch_loss([1.0] * 4)


def test_refused_feedback_leaves_its_batch_waiting():
    skills = np.array([0, 1] * 10)
    teacher = mg.make_teacher("skill-it", mg.Discrete(2), seed=0, window=1)
    sampler = SkillSampler(skills, teacher, batch_size=4, seed=0,
                           loss_score=mg.ScoreRange(0, 5, higher_is_better=False))
    first, second = sampler.next_batch(), sampler.next_batch()
    before = teacher.to_bytes()
    with pytest.raises(InvalidScoreError, match="outside the declared range"):
        sampler.observe_batch_loss([7.0] * 4)  # above the declared loss range: refused
    assert sampler.pending == 2 and teacher.to_bytes() == before, "nothing recorded, the batch still waits"
    nan_fn = SkillSampler(skills, mg.make_teacher("skill-it", mg.Discrete(2), seed=0), batch_size=4, seed=0,
                          loss_score=lambda skills, losses: np.full(len(skills), np.nan))
    nan_fn.next_batch()
    with pytest.raises(InvalidScoreError):
        nan_fn.observe_batch_loss([1.0] * 4)
    assert nan_fn.pending == 1
    # a callable's score outside [0, 1] was clipped without a word (2.0 -> 1: the skill looked mastered)
    wide = SkillSampler(skills, mg.make_teacher("skill-it", mg.Discrete(2), seed=0), batch_size=4, seed=0,
                        loss_score=lambda skills, losses: 1.0 + losses)
    wide.next_batch()
    with pytest.raises(InvalidScoreError, match=r"outside \[0, 1\]"):
        wide.observe_batch_loss([1.0] * 4)
    assert wide.pending == 1 and wide.teacher.n_observed == 0
    for batch in (first, second):  # the retry goes to the first batch, then the second
        means = sampler.observe_batch_loss(np.asarray(batch, dtype=float) / 10)
        assert means == pytest.approx({s: float(np.mean([i / 10 for i in batch if skills[i] == s]))
                                       for s in set(skills[batch].tolist())})
    assert sampler.pending == 0


def test_each_skills_pool_holds_its_examples_in_index_order_from_one_sort():
    """The per-skill example lists come from one stable sort (a scan of every example per skill took seconds
    for a million examples over 10,000 skills): each is the skill's examples in index order, so the shuffled
    pools, and every batch, are the scan's."""
    rng = np.random.default_rng(3)
    skills = np.r_[np.arange(40), rng.integers(0, 40, 2000)]
    sampler = SkillSampler(skills, mg.make_teacher("exp3", mg.Discrete(40), seed=0), batch_size=16, seed=1)
    for s, members in enumerate(sampler._members):
        assert members.dtype == np.int64 and np.array_equal(members, np.flatnonzero(skills == s))
    again = np.random.default_rng(1)
    assert all(np.array_equal(p, again.permutation(np.flatnonzero(skills == s))) for s, p in enumerate(sampler._pools))


def test_skip_nonfinite_leaves_nan_losses_out_and_the_batch_leaves_the_queue():
    # the Hugging Face integration's feedback: a NaN loss was refused and the run stopped (a Trainer goes on)
    skills = np.array([0, 1] * 10)
    teacher = mg.make_teacher("skill-it", mg.Discrete(2), seed=0)
    sampler = SkillSampler(skills, teacher, batch_size=4, seed=0)
    first = sampler.next_batch()
    sampler.next_batch()
    with pytest.raises(InvalidScoreError, match="NaN or infinity"):
        sampler.observe_batch_loss([np.nan, 1.0, 2.0, 3.0])
    assert sampler.pending == 2 and teacher.n_observed == 0
    losses = np.array([np.nan, 1.0, np.inf, 3.0])
    means = sampler.observe_batch_loss(losses, skip_nonfinite=True)
    kept = [(skills[i], v) for i, v in zip(first, losses) if np.isfinite(v)]
    assert means == pytest.approx({s: float(np.mean([v for k, v in kept if k == s])) for s, _ in kept})
    assert sampler.pending == 1 and teacher.n_observed == len(means)
    assert sampler.observe_batch_loss([np.nan] * 4, skip_nonfinite=True) == {}  # nothing heard, no batch waits
    assert sampler.pending == 0 and teacher.n_observed == len(means)
    with pytest.raises(InvalidScoreError, match="non-negative"):  # the other checks still hold
        sampler.next_batch()
        sampler.observe_batch_loss([np.nan, -1.0, 1.0, 1.0], skip_nonfinite=True)
    assert sampler.pending == 1


def test_skip_nonfinite_with_every_loss_left_out_does_not_call_the_loss_score():
    # a diverged model's micro-batch is all NaN: the loss_score callable was called with no skills and no losses
    # (here a ValueError from max() of nothing), which stopped the run and left the batch waiting
    skills = np.array([0, 1] * 10)
    teacher = mg.make_teacher("skill-it", mg.Discrete(2), seed=0)
    sampler = SkillSampler(skills, teacher, batch_size=4, seed=0, loss_score=lambda s, l: 1.0 - l / (1.0 + l.max()))
    sampler.next_batch()
    assert sampler.observe_batch_loss([np.nan] * 4, skip_nonfinite=True) == {}
    assert sampler.pending == 0 and teacher.n_observed == 0


def test_a_malformed_state_is_refused_and_changes_nothing():
    skills = np.array([0, 1, 2] * 10)

    def build():
        teacher = mg.make_teacher("exp3", mg.Discrete(3), seed=0)
        return teacher, SkillSampler(skills, teacher, batch_size=4, seed=0)

    _, run = build()
    for _ in range(5):
        run.observe_batch_correct((np.asarray(run.next_batch()) % 2).astype(float))
    saved = run.state_dict()
    teacher, fresh = build()
    before = (teacher.to_bytes(), fresh.state_dict())
    for key, value in (("rng", "garbage"), ("cursor", None), ("step", "x"), ("history", 5), ("refills", [1])):
        bad = dict(saved)
        if value is None:
            del bad[key]
        else:
            bad[key] = value
        with pytest.raises(ConfigError, match="malformed"):
            fresh.load_state_dict(bad)
        assert teacher.to_bytes() == before[0] and states_equal(fresh.state_dict(), before[1]), key
    fresh.load_state_dict(saved)
    assert fresh.next_batch() == run.next_batch()


def test_a_corrupt_state_is_refused_before_it_breaks_a_later_step():
    """Pending batches with indices outside the dataset, a running-loss reference of the wrong length, a cursor
    outside its pool or a state without the teacher's were accepted: the first raised a raw IndexError at the next
    feedback, the last silently kept the teacher where it was."""
    skills = np.array([0, 1, 2] * 10)

    def build():
        teacher = mg.make_teacher("exp3", mg.Discrete(3), seed=0)
        return teacher, SkillSampler(skills, teacher, batch_size=4, seed=0, loss_score="running", floor=0.5)

    _, run = build()
    for _ in range(3):
        run.observe_batch_loss(np.asarray(run.next_batch()) / 10.0)
    run.next_batch()
    saved = run.state_dict()
    teacher, fresh = build()
    before = (teacher.to_bytes(), fresh.state_dict())
    for key, value in (("pending", [np.array([0, 1, 2, 999])]), ("pending", [np.array([0, 1, -1, 2])]),
                       ("pending", [np.array([0, 1])]), ("running", np.ones(1)), ("running", np.array([1, np.nan, 1])),
                       ("cursor", np.array([-3, 0, 0])), ("cursor", np.array([99, 0, 0])), ("floor_next", 10**30),
                       ("teacher", None)):
        bad = dict(saved, **{key: value})
        with pytest.raises((ConfigError, CheckpointError)):
            fresh.load_state_dict(bad)
        assert teacher.to_bytes() == before[0] and states_equal(fresh.state_dict(), before[1]), key
    fresh.load_state_dict(saved)
    assert fresh.observe_batch_loss(np.ones(4)) == run.observe_batch_loss(np.ones(4))
    assert fresh.next_batch() == run.next_batch()


def test_a_state_of_a_sampler_built_with_other_settings_is_refused_naming_them():
    """A state saved with another mode, floor, loss rule or fixed mixture was loaded without a word (and the resumed
    run drew other batches than the uninterrupted one); one with another batch_size was refused as "malformed", its
    advice "pass one value per example" beside the point, or taken when no batch was waiting."""
    skills = np.array([0, 1, 2] * 10)

    def build(weights=None, **kw):
        t = mg.make_teacher("exp3", mg.Discrete(3), seed=0) if weights is None else weights
        return t, SkillSampler(skills, t, **{"batch_size": 4, "seed": 0, "floor": 0.5, "loss_score": "running", **kw})

    _, run = build()
    for _ in range(3):
        run.observe_batch_loss(np.asarray(run.next_batch()) / 10.0)
    saved = run.state_dict()
    for kw, named in ((dict(batch_size=6), "batch_size"), (dict(mode="mixture"), "mode"), (dict(floor=0.0), "floor"),
                      (dict(loss_score="exp"), "loss_score")):
        teacher, fresh = build(**kw)
        before = (teacher.to_bytes(), fresh.state_dict())
        with pytest.raises(ConfigError, match=f"other settings.*{named}: saved"):
            fresh.load_state_dict(saved)
        assert teacher.to_bytes() == before[0] and states_equal(fresh.state_dict(), before[1]), named
    _, fixed = build([1.0, 1.0, 2.0])
    _, other = build([2.0, 1.0, 1.0])
    with pytest.raises(ConfigError, match="fixed: saved"):
        other.load_state_dict(fixed.state_dict())
    _, loose = build(floor=0.0)
    loose.load_state_dict(saved, strict=False)  # on purpose: this sampler's floor from now on
    assert loose.floor == 0.0 and loose.step == run.step
    _, same = build()
    same.load_state_dict(saved)
    assert same.next_batch() == run.next_batch()
    # a loss rule given as a function is saved by its name without its module: a run saved from a script (module
    # __main__) resumes through an import of the script
    _, by_function = build(loss_score=_loss_of_one)
    state = by_function.state_dict()
    assert state["settings"]["loss_score"] == "_loss_of_one"
    build(loss_score=_loss_of_one)[1].load_state_dict(state)


def _loss_of_one(losses):
    return np.ones_like(np.asarray(losses, dtype=float))


def test_prefetching_workers_lag_but_keep_order_and_attribution():
    skills = skills_fixture()
    data = IndexData(len(skills))

    def run(workers):
        teacher = mg.make_teacher("skill-it", mg.Discrete(4), seed=0, eta=4.0)
        sampler = SkillSampler(skills, teacher, batch_size=6, num_batches=8, seed=0)
        kwargs = {"num_workers": workers, "prefetch_factor": 2} if workers else {}
        made_at_first, batches = None, []
        for i, batch in enumerate(DataLoader(data, batch_sampler=sampler, **kwargs)):
            if i == 0:
                made_at_first = len(sampler.history)
            b = batch.tolist()
            batches.append(b)
            # the batch trained now is the oldest one waiting for feedback, however far ahead the loader is
            sampler.observe_batch_correct((skills[b] == 0).astype(float))
        return made_at_first, batches, sampler

    lag0, b0, s0 = run(0)
    lag2, b2, s2 = run(2)
    assert lag0 == 1, "without workers the mixture of each batch sees all earlier feedback"
    assert 2 <= lag2 <= 2 * 2 + 1, "workers prefetch about num_workers * prefetch_factor batches"
    assert b0[0] == b2[0], "the first batch is composed before any feedback either way"

    # the exact rule: the loader holds `lag2` batches before the first step, then composes one more per step
    teacher = mg.make_teacher("skill-it", mg.Discrete(4), seed=0, eta=4.0)
    ref = SkillSampler(skills, teacher, batch_size=6, num_batches=8, seed=0)
    made = [ref.next_batch() for _ in range(lag2)]
    for i in range(8):
        if i > 0 and len(made) < 8:
            made.append(ref.next_batch())
        ref.observe_batch_correct((skills[made[i]] == 0).astype(float))
    assert made == b2, "a prefetching loader equals feedback lagging by the prefetch depth"
    assert s0.pending == 0 and s2.pending == 0 and len(s2.history) == 8
    assert b0 != b2, "with prefetching later batches are composed with older feedback (documented lag)"


def test_a_pass_resumed_partway_yields_only_the_rest_and_draws_nothing_for_the_rest():
    """What the Hugging Face integration calls where Trainer would skip the first batches of a resumed epoch."""
    skills = skills_fixture()
    teacher = mg.make_teacher("exp3", mg.Discrete(4), seed=0)
    sampler = SkillSampler(skills, teacher, batch_size=6, num_batches=5, seed=0)
    reference = SkillSampler(skills, mg.make_teacher("exp3", mg.Discrete(4), seed=0), batch_size=6, num_batches=5,
                             seed=0)
    sampler.resume_pass_at(2)
    first = list(sampler)
    assert first == [reference.next_batch() for _ in range(3)], "the rest of the pass, nothing drawn for the rest"
    assert len(list(sampler)) == 5, "the next pass is whole"
    before = sampler.state_dict()
    for bad in (5, -1, 2.0):
        with pytest.raises(ConfigError, match="trained|num_batches"):
            sampler.resume_pass_at(bad)
    assert len(list(sampler)) == 5 and sampler.step == before["step"] + 5, "a refused call changed nothing"


def test_state_dict_resumes_exactly():
    skills = skills_fixture()

    def make():
        return SkillSampler(skills, mg.make_teacher("skill-it", mg.Discrete(4), seed=1, eta=2.0), 8, seed=2)

    a = make()
    for _ in range(7):
        a.observe_batch_loss(np.ones(8) * 0.3 + (np.asarray(a.next_batch()) % 4))
    b = make()
    b.load_state_dict(a.state_dict())
    for _ in range(5):
        ba, bb = a.next_batch(), b.next_batch()
        assert ba == bb
        a.observe_batch_loss(np.asarray(ba) % 5 * 1.0)
        b.observe_batch_loss(np.asarray(bb) % 5 * 1.0)
    assert a.history == b.history


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError):
        SkillSampler([0, 1], [0.5, 0.5], batch_size=0)
    with pytest.raises(ConfigError):
        SkillSampler([0, 1], [0.5, -0.5], batch_size=2)
    with pytest.raises(ConfigError):
        SkillSampler([0, 1], mg.make_teacher("uniform", mg.Discrete(2)), batch_size=2, mode="other")
    with pytest.raises(ConfigError):
        SkillSampler([0, 1], mg.make_teacher("uniform", mg.Discrete(2)), batch_size=2, loss_score="weird")


def test_replay_pending_hands_the_unfed_batches_out_again_then_continues_exactly():
    skills = skills_fixture()

    def make():
        return SkillSampler(skills, mg.make_teacher("skill-it", mg.Discrete(4), seed=1, eta=3.0), batch_size=6, seed=2)

    whole = make()
    first = whole.next_batch()
    ahead = whole.next_batch()  # a loader's look-ahead: handed out, not yet trained on
    whole.observe_batch_loss(np.asarray(first, dtype=float) % 2)
    state = whole.state_dict()
    whole.observe_batch_loss(np.asarray(ahead, dtype=float) % 2)
    after = whole.next_batch()
    resumed = make()
    resumed.load_state_dict(state, replay_pending=True)
    assert resumed.next_batch() == ahead and len(resumed.history) == 2, "replayed, not planned or logged again"
    resumed.observe_batch_loss(np.asarray(ahead, dtype=float) % 2)
    assert resumed.next_batch() == after and states_equal(resumed.state_dict(), whole.state_dict())
    kept = make()
    kept.load_state_dict(state)
    assert kept.pending == 1 and kept.next_batch() != ahead, "without replay the waiting batch is left to its holder"


def test_floor_keeps_every_skill_in_every_batch_whatever_the_teacher_says():
    skills = skills_fixture()
    # a teacher that puts (almost) everything on skill 0
    greedy = mg.make_teacher("skill-it", mg.Discrete(4), seed=3, eta=50.0)
    greedy.observe_batch([0, 1, 2, 3], [0.0, 1.0, 1.0, 1.0])
    twin = mg.make_teacher("skill-it", mg.Discrete(4), seed=3, eta=50.0)
    twin.observe_batch([0, 1, 2, 3], [0.0, 1.0, 1.0, 1.0])
    sampler = SkillSampler(skills, greedy, batch_size=16, seed=0, floor=0.5)
    total = np.zeros(4, dtype=int)
    for step in range(6):
        batch = sampler.next_batch()
        # the teacher proposes the first 8 slots, the other 8 go round robin over the skills
        assert np.array_equal(skills[batch[:8]], np.asarray(twin.propose(8)))
        assert np.bincount(skills[batch[8:]], minlength=4).tolist() == [2, 2, 2, 2]
        total += np.bincount(skills[batch], minlength=4)
        p = np.asarray(twin.beliefs()["probability"])
        assert np.allclose(sampler.history[step]["mixture"], 0.5 * p + 0.125, atol=1e-6)
    assert total[1:].min() >= 6 * 2 and total[0] >= 6 * 8
    # resumes exactly mid-way through the round robin (an odd number of reserved slots: 3 of 8)
    a = SkillSampler(skills, mg.make_teacher("uniform", mg.Discrete(4), seed=1), 8, seed=2, floor=0.4)
    for _ in range(3):
        a.next_batch()
    b = SkillSampler(skills, mg.make_teacher("uniform", mg.Discrete(4), seed=1), 8, seed=2, floor=0.4)
    b.load_state_dict(a.state_dict())
    assert [a.next_batch() for _ in range(4)] == [b.next_batch() for _ in range(4)]
    # mixture mode mixes the probabilities with the floor's uniform share
    m = SkillSampler(skills, mg.make_teacher("skill-it", mg.Discrete(4), seed=3, eta=50.0), 16, seed=0,
                     mode="mixture", floor=0.4)
    assert m.current_mixture().min() >= 0.1 - 1e-12
    for bad in (-0.1, 1.0, True, "0.2"):
        with pytest.raises(ConfigError):
            SkillSampler(skills, mg.make_teacher("uniform", mg.Discrete(4)), 8, floor=bad)


def test_feedback_that_is_not_numbers_is_refused_with_a_clear_error_and_changes_nothing():
    """Text was parsed ("1" counted as correct), "x" or a complex number raised numpy's raw ValueError / TypeError,
    and float or boolean indices were truncated to other examples (0.5 -> example 0, a mask -> examples 0 and 1)."""
    skills = np.array([0, 1, 2] * 10)
    teacher = mg.make_teacher("exp3", mg.Discrete(["a", "b", "c"]), seed=0)
    sampler = SkillSampler(skills, teacher, batch_size=4, seed=0)
    sampler.next_batch()
    before = teacher.to_bytes()
    for values in (["1", "0", "1", "1"], ["x", "0", "1", "1"], [1j, 0, 1, 1]):
        with pytest.raises(InvalidScoreError, match="numbers"):
            sampler.observe_batch_correct(values)
        with pytest.raises(InvalidScoreError, match="numbers"):
            sampler.observe_batch_loss(values)
    with pytest.raises(InvalidScoreError, match="numbers"):
        sampler.observe_eval({"a": "0.5"})
    for indices in ([0.5, 1.7], ["a", "b"], [True, False]):
        with pytest.raises(ConfigError, match="whole numbers"):
            sampler.observe_batch_correct([1.0, 0.0], indices=indices)
    assert teacher.to_bytes() == before and sampler.pending == 1
    assert sampler.observe_batch_correct([1.0, 0.0], indices=[1.0, 2.0]) == {1: 1.0, 2: 0.0}


@pytest.mark.parametrize("kwargs", [{"num_batches": 2.5}, {"num_batches": True}, {"num_batches": "3"},
                                    {"max_pending": 0}, {"max_pending": -1}])
def test_settings_that_make_no_sense_are_refused(kwargs):
    """num_batches=2.5 was silently truncated (and "3" parsed); max_pending=0 kept no batch for feedback, so every
    observe_batch_* without indices failed, and max_pending=-1 raised the deque's raw ValueError."""
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        SkillSampler([0, 1] * 4, mg.make_teacher("uniform", mg.Discrete(2)), batch_size=2, **kwargs)
    assert len(SkillSampler([0, 1] * 4, [0.5, 0.5], batch_size=2, num_batches=3.0)) == 3


def test_a_state_with_missing_or_garbage_pools_is_refused_as_malformed_and_changes_nothing():
    """A state without "pools", or with pools that are not indices, raised a raw KeyError / ValueError."""
    teacher = mg.make_teacher("exp3", mg.Discrete(3), seed=0)
    sampler = SkillSampler([0, 1, 2] * 10, teacher, batch_size=4, seed=0)
    sampler.next_batch()
    saved = sampler.state_dict()
    before = (teacher.to_bytes(), sampler.state_dict())
    for bad in ({k: v for k, v in saved.items() if k != "pools"}, dict(saved, pools=[["x"]] * 3)):
        with pytest.raises(ConfigError, match="malformed"):
            sampler.load_state_dict(bad)
        assert teacher.to_bytes() == before[0] and states_equal(sampler.state_dict(), before[1])


def _exp3_sampler():
    """An exp3 teacher over 3 skills and a sampler of 30 examples, batches of 4 (a run, or a fresh one to load into)."""
    teacher = mg.make_teacher("exp3", mg.Discrete(3), seed=0)
    return teacher, SkillSampler([0, 1, 2] * 10, teacher, batch_size=4, seed=0)


def test_saved_indices_and_counts_that_are_not_whole_numbers_are_refused_as_malformed():
    """A waiting batch, pools, cursor, refills or drawn counts of 1.5 were cut to 1 (a waiting batch of example
    5.5 was handed out again as example 5 with replay_pending=True), True read as 1 and "1" parsed."""
    _, run = _exp3_sampler()
    run.next_batch()
    saved = run.state_dict()
    teacher, fresh = _exp3_sampler()
    before = (teacher.to_bytes(), fresh.state_dict())
    shifted = [p + 0.5 for p in saved["pools"]]
    for key, value in (("pending", [saved["pending"][0] + 0.5]), ("pending", [saved["pending"][0].astype(str)]),
                       ("pending", [np.ones(4, dtype=bool)]), ("pools", shifted), ("cursor", saved["cursor"] + 0.5),
                       ("refills", [0.5, 0, 0]), ("refills", ["1", "0", "0"]), ("drawn", [1.5, 1, 1.5])):
        with pytest.raises(ConfigError, match=f"malformed .*{key} must hold whole numbers"):
            fresh.load_state_dict(dict(saved, **{key: value}), replay_pending=True)
        assert teacher.to_bytes() == before[0] and states_equal(fresh.state_dict(), before[1]), key
    as_floats = {k: (np.asarray(saved[k], dtype=float) if k in ("cursor", "refills", "drawn") else saved[k])
                 for k in saved}  # whole floats are taken, as before
    as_floats["pending"] = [p.astype(float) for p in saved["pending"]]
    fresh.load_state_dict(as_floats, replay_pending=True)
    assert fresh.next_batch() == saved["pending"][0].tolist() and fresh.next_batch() == run.next_batch()


def test_load_and_feedback_flags_are_true_or_false_only():
    """replay_pending="false" handed the waiting batches out again, strict="false" was strict, and
    skip_nonfinite="no" left NaN losses out (bool() of any text is True); each is refused, nothing changed."""
    _, run = _exp3_sampler()
    run.next_batch()
    saved = run.state_dict()
    teacher, fresh = _exp3_sampler()
    fresh.next_batch()
    before = (teacher.to_bytes(), fresh.state_dict())
    for kwargs in ({"replay_pending": "false"}, {"replay_pending": 1}, {"strict": "false"}, {"strict": None}):
        with pytest.raises(ConfigError, match=f"{next(iter(kwargs))} must be True or False"):
            fresh.load_state_dict(saved, **kwargs)
        assert teacher.to_bytes() == before[0] and states_equal(fresh.state_dict(), before[1]), kwargs
    with pytest.raises(ConfigError, match="skip_nonfinite must be True or False"):
        fresh.observe_batch_loss([np.nan, 1.0, 1.0, 1.0], skip_nonfinite="no")
    assert fresh.pending == 1 and teacher.to_bytes() == before[0], "the batch still waits, nothing recorded"
    fresh.load_state_dict(saved, replay_pending=np.False_, strict=np.True_)  # numpy's booleans are taken
    assert fresh.next_batch() == run.next_batch()


def test_mixture_history_refuses_an_unknown_what():
    """mixture_history("count") (a typo of "counts") silently returned the teacher's mixture instead."""
    sampler = SkillSampler([0, 1, 2] * 10, [1, 1, 1], batch_size=4, seed=0)
    sampler.next_batch()
    with pytest.raises(ConfigError, match="'counts'"):
        sampler.mixture_history("count")
    assert sampler.mixture_history("counts").sum() == pytest.approx(1.0)


def test_a_numpy_integer_floor_is_taken_and_a_bad_floor_is_named():
    """floor=np.int64(0) (a valid share) was refused: only int, float and np.floating were accepted."""
    sampler = SkillSampler([0, 1] * 4, mg.make_teacher("uniform", mg.Discrete(2), seed=0), batch_size=2,
                           floor=np.int64(0))
    assert sampler.floor == 0.0
    for bad in (1.0, -0.1, float("nan"), True, "0.1"):
        with pytest.raises(ConfigError, match="floor"):
            SkillSampler([0, 1] * 4, mg.make_teacher("uniform", mg.Discrete(2), seed=0), batch_size=2, floor=bad)


def test_a_loss_score_callable_that_returns_the_wrong_shape_or_nan_is_named_and_changes_nothing():
    """A callable returning one number (or NaN) for several skills failed inside the teacher with "observe_batch
    got 2 tasks but 1 scores" (or "report a real outcome"), which does not point at loss_score."""
    for fn in (lambda skills, losses: 0.5, lambda skills, losses: np.full(len(skills), np.nan)):
        teacher = mg.make_teacher("exp3", mg.Discrete(3), seed=0)
        sampler = SkillSampler([0, 1, 2] * 10, teacher, batch_size=6, seed=0, loss_score=fn)
        sampler.next_batch()
        before = teacher.to_bytes()
        with pytest.raises(InvalidScoreError, match="loss_score returned"):
            sampler.observe_batch_loss(np.ones(6))
        assert teacher.to_bytes() == before and sampler.pending == 1


def test_observe_eval_refuses_a_skill_given_by_name_and_by_index():
    """{"a": 0.9, 0: 0.1} gave skill "a" two observations with two different values."""
    teacher = mg.make_teacher("exp3", mg.Discrete(["a", "b", "c"]), seed=0)
    sampler = SkillSampler([0, 1, 2] * 10, teacher, batch_size=4, seed=0)
    before = teacher.to_bytes()
    with pytest.raises(InvalidScoreError, match="twice"):
        sampler.observe_eval({"a": 0.9, 0: 0.1})
    assert teacher.to_bytes() == before
    sampler.observe_eval({"a": 0.9, 1: 0.1})
    assert teacher.n_observed == 2


@pytest.mark.parametrize("per_skill", [
    [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], np.full((3, 3), 0.5), torch.full((2, 3), 0.5),
    {"a": [0.5, 0.6, 0.7]}, {"a": 0.5, "b": [0.2, 0.3]}, {"a": torch.tensor([0.5, 0.6])}, {"a": [[0.5], [0.6]]},
])
def test_observe_eval_refuses_nested_values_instead_of_flattening_them(per_skill):
    """A (2, 3) or (3, 3) table was flattened into other skills' values, {"a": [0.5, 0.6, 0.7]} was "observe_batch
    got 1 tasks but 3 scores" naming no skill, and {"a": 0.5, "b": [0.2, 0.3]} numpy's raw "inhomogeneous shape"
    ValueError."""
    teacher = mg.make_teacher("exp3", mg.Discrete(["a", "b", "c"]), seed=0)
    sampler = SkillSampler([0, 1, 2] * 10, teacher, batch_size=4, seed=0)
    before = teacher.to_bytes()
    with pytest.raises(InvalidScoreError, match="one number") as err:
        sampler.observe_eval(per_skill)
    if isinstance(per_skill, dict):
        assert "skill 'a'" in str(err.value) or "skill 'b'" in str(err.value)
    else:  # (the per-example check's rule and words: one check, _one_value_each)
        assert "per-skill values must be one number per skill" in str(err.value)
        assert f"a table of shape {tuple(np.shape(per_skill))}" in str(err.value)
    assert "Nothing was recorded" in str(err.value) and teacher.to_bytes() == before
    sampler.observe_eval({"a": np.float32(0.5), "b": torch.tensor(0.25), "c": np.array(1.0)})  # single numbers
    sampler.observe_eval(torch.tensor([0.1, 0.2, 0.3]))
    assert teacher.n_observed == 6


def test_ragged_per_example_values_are_refused_not_numpys_error():
    teacher = mg.make_teacher("exp3", mg.Discrete(["a", "b", "c"]), seed=0)
    sampler = SkillSampler([0, 1, 2] * 10, teacher, batch_size=4, seed=0)
    sampler.next_batch()
    before = teacher.to_bytes()
    for observe in (sampler.observe_batch_loss, sampler.observe_batch_correct):
        with pytest.raises(InvalidScoreError, match="different lengths"):
            observe([[1.0, 0.0], [1.0], 0.0, 1.0])
    assert teacher.to_bytes() == before and sampler.pending == 1


def test_a_pass_broken_off_with_prefetching_workers_does_not_shift_later_feedback():
    # before: a loop that left a pass early (a fixed number of steps per epoch) while workers had prefetched
    # batches left them waiting for feedback; every later batch's feedback then went to one of those, a batch
    # off, for the rest of the run (same sizes, so nothing was refused)
    skills = skills_fixture()
    sampler = SkillSampler(skills, mg.make_teacher("skill-it", mg.Discrete(4), seed=0, eta=4.0), batch_size=6,
                           num_batches=8, seed=0)
    loader = DataLoader(IndexData(len(skills)), batch_sampler=sampler, num_workers=2, prefetch_factor=2)
    for epoch in range(2):
        for step, batch in enumerate(loader):
            b = batch.tolist()
            means = sampler.observe_batch_loss(np.asarray(b, dtype=float))  # loss = index: shows the batch used
            assert means == pytest.approx({s: float(np.mean([i for i in b if skills[i] == s]))
                                           for s in set(skills[b].tolist())}), f"epoch {epoch} step {step}"
            if step == 2:
                break
    assert sampler.pending > 0, "the second pass's prefetched batches wait, as the loop broke off again"


def test_bfloat16_and_half_precision_losses_are_taken_as_any_float():
    """A bf16 model's per-example losses (a bfloat16 tensor) failed with numpy's "Got unsupported ScalarType
    BFloat16" and the batch stayed waiting; they are read as floats, as float16 and float32 losses are."""
    sampler = SkillSampler(np.array([0, 1] * 8), mg.make_teacher("exp3", mg.Discrete(2), seed=0), batch_size=4,
                           seed=0)
    for dtype in (torch.bfloat16, torch.float16, torch.float64):
        idx = sampler.next_batch()
        losses = torch.tensor([0.5, 1.0, 1.5, 2.0], requires_grad=True).to(dtype)
        means = sampler.observe_batch_loss(losses)
        skills = sampler.skills_of(idx)
        assert means == {s: pytest.approx(float(np.mean(np.array([0.5, 1.0, 1.5, 2.0])[skills == s])))
                         for s in set(skills.tolist())}
    sampler.next_batch()
    assert sampler.observe_batch_correct(torch.tensor([1, 0, 1, 1], dtype=torch.bfloat16)) is not None
    assert sampler.pending == 0


def test_a_level_teacher_with_an_open_score_range_gets_the_scores_not_nan():
    """plr's score range is open (FiniteScores, -inf..inf): mapping a score to it gave -inf + u * inf = NaN, and
    every feedback call was refused with "score nan is not a finite number" although the losses were fine."""
    skills = np.repeat(np.arange(4), 10)
    for name in ("plr", "robust-plr", "accel"):
        teacher = mg.make_teacher(name, mg.Discrete(4), seed=0)
        sampler = SkillSampler(skills, teacher, batch_size=8, seed=0)
        for _ in range(3):
            idx = sampler.next_batch()
            means = sampler.observe_batch_loss(np.where(sampler.skills_of(idx) == 0, 0.0, 2.0))
        assert sampler.pending == 0 and set(means.values()) <= {0.0, 2.0}
    sampler.next_batch()
    sampler.observe_batch_correct([1.0] * 8)
    sampler.observe_eval([0.5, 0.25, 1.0, 0.0])
    assert mg.scores.FiniteScores().from_unit([-0.5, 0.25, 2.0]).tolist() == [0.0, 0.25, 1.0]
    assert mg.ScoreRange(-2, 2, higher_is_better=False).from_unit([0.0, 0.25, 1.0]).tolist() == [2.0, 1.0, -2.0]


def test_feedback_for_a_batch_pushed_out_of_a_full_queue_is_left_out_not_put_on_the_next_batch():
    # before: with more than max_pending batches handed out ahead of their feedback (a loader's prefetch), the
    # oldest batch was silently pushed out of the queue and its feedback went to the next batch's skills
    skills = np.array([0, 1] * 10)
    teacher = mg.make_teacher("skill-it", mg.Discrete(2), seed=0, window=1)
    sampler = SkillSampler(skills, teacher, batch_size=2, seed=0, max_pending=2)
    batches = [sampler.next_batch() for _ in range(3)]
    with pytest.warns(UserWarning, match="max_pending=2"):
        assert sampler.observe_batch_loss(np.asarray(batches[0], dtype=float)) == {}
    assert teacher.n_observed == 0 and sampler.pending == 2
    saved = sampler.state_dict()
    twin = SkillSampler(skills, mg.make_teacher("skill-it", mg.Discrete(2), seed=0, window=1), batch_size=2,
                        seed=0, max_pending=2)
    twin.load_state_dict(saved)
    for s in (sampler, twin):  # the next feedback is the second batch's, also after a resume
        means = s.observe_batch_loss(np.asarray(batches[1], dtype=float))
        assert means == pytest.approx({int(k): float(np.mean([i for i in batches[1] if skills[i] == k]))
                                       for k in set(skills[batches[1]].tolist())})
    assert sampler.state_dict()["dropped"] == 0
    # a resume that hands the waiting batches out again trains on those only: their feedback is theirs
    sampler.next_batch(), sampler.next_batch()
    saved = sampler.state_dict()
    assert saved["dropped"] == 1 and len(saved["pending"]) == 2
    twin.load_state_dict(saved, replay_pending=True)
    replayed = twin.next_batch()
    assert replayed == saved["pending"][0].tolist()
    assert twin.observe_batch_loss(np.asarray(replayed, dtype=float)) == pytest.approx(
        {int(k): float(np.mean([i for i in replayed if skills[i] == k])) for k in set(skills[replayed].tolist())})


def test_skills_of_refuses_indices_outside_the_dataset():
    # before: skills_of([-1]) gave the last example's skill (a padding index such as -100 too, when the dataset was
    # that long) and skills_of([n]) raised numpy's bare IndexError
    skills = np.array([0, 1, 1, 0])
    sampler = SkillSampler(skills, [1, 1], batch_size=2, seed=0)
    assert sampler.skills_of([3, 1]).tolist() == [0, 1] and sampler.skills_of(np.array([[0, 2]])).shape == (1, 2)
    for bad in ([-1], [4]):
        with pytest.raises(ConfigError, match=r"in 0\.\.3"):
            sampler.skills_of(bad)


def test_a_state_with_more_waiting_batches_than_max_pending_leaves_the_oldest_feedback_out():
    # before: loading a state saved with a larger max_pending silently kept only the newest batches, so the
    # feedback meant for the oldest waiting batch went to a later batch's skills (each one batch off)
    skills = np.array([0, 1] * 10)
    big = SkillSampler(skills, mg.make_teacher("exp3", mg.Discrete(2), seed=0), batch_size=4, seed=0, max_pending=4)
    batches = [big.next_batch() for _ in range(4)]
    small = SkillSampler(skills, mg.make_teacher("exp3", mg.Discrete(2), seed=0), batch_size=4, seed=0,
                         max_pending=2)
    small.load_state_dict(big.state_dict())
    assert small.pending == 2
    for b in batches[:2]:
        with pytest.warns(UserWarning, match="max_pending=2"):
            assert small.observe_batch_loss(np.asarray(b, dtype=float)) == {}
    assert small.teacher.n_observed == 0
    for b in batches[2:]:  # the kept batches get their own feedback
        assert small.observe_batch_loss(np.asarray(b, dtype=float)) == pytest.approx(
            {int(k): float(np.mean([i for i in b if skills[i] == k])) for k in set(skills[b].tolist())})


def test_observe_eval_names_the_skill_whose_metric_is_nan():
    # before: a NaN per-skill metric was refused as "per-example values contain NaN", naming neither the skill nor
    # that per-skill metrics were meant
    teacher = mg.make_teacher("exp3", mg.Discrete(["a", "b", "c"]), seed=0)
    sampler = SkillSampler([0, 1, 2], teacher, batch_size=2, seed=0)
    with pytest.raises(InvalidScoreError, match="accuracy of skill 'b' is NaN"):
        sampler.observe_eval([0.5, float("nan"), 0.1])
    with pytest.raises(InvalidScoreError, match="loss of skill 'c' is NaN or infinite"):
        sampler.observe_eval({"a": 1.0, "c": float("inf")}, kind="loss")
    assert teacher.n_observed == 0


def test_max_history_bounds_the_log_and_the_saved_state_and_samples_per_skill_still_counts_every_batch():
    # before: the log kept one record per batch for as long as the sampler ran, and every state_dict carried
    # all of them (about 1 kB in memory and 250 bytes saved per batch of 20 skills: GBs over a million batches)
    skills = np.array([0, 1, 2, 3] * 5)

    def make(**kw):
        return SkillSampler(skills, mg.make_teacher("exp3", mg.Discrete(4), seed=0), batch_size=4, seed=0, **kw)

    full, kept = make(), make(max_history=3)
    for _ in range(10):
        assert full.next_batch() == kept.next_batch()  # the batches do not depend on the log
        full.observe_batch_loss(np.ones(4))
        kept.observe_batch_loss(np.ones(4))
    assert kept.history == full.history[-3:]
    assert np.array_equal(kept.mixture_history(), full.mixture_history()[-3:])
    assert np.array_equal(kept.samples_per_skill(), full.samples_per_skill())
    assert kept.samples_per_skill().sum() == 40
    assert len(kept.state_dict()["history"]) == 3
    resumed = make(max_history=3)
    resumed.load_state_dict(full.state_dict())  # a longer log is cut to the newest records, the totals kept
    assert resumed.history == full.history[-3:]
    assert np.array_equal(resumed.samples_per_skill(), full.samples_per_skill())
    old = full.state_dict()
    del old["drawn"]  # a state saved before the totals: they are the sum of its log
    again = make()
    again.load_state_dict(old)
    assert np.array_equal(again.samples_per_skill(), full.samples_per_skill())
    assert next(iter(make(max_history=3))) == next(iter(make()))
    with pytest.raises(ConfigError, match="max_history"):
        make(max_history=0)


def test_a_streams_state_loaded_into_a_sampler_is_refused_by_kind_and_the_reverse():
    """Loading a SkillStream's state into a SkillSampler was refused as 'built with other settings (batch_size ...)',
    or as a malformed state (KeyError: 'pools') when the batch sizes agreed: neither named the mix-up."""
    from magister.data import SkillStream
    names = ["a", "b"]
    sampler = SkillSampler(["a", "b"] * 8, mg.make_teacher("exp3", mg.Discrete(names), seed=0), batch_size=4, seed=0)
    stream = SkillStream({"a": [1, 2, 3], "b": [4, 5]}, mg.make_teacher("exp3", mg.Discrete(names), seed=0),
                         batch_size=4, seed=0)
    stream.next_batch()
    before_sampler, before_stream = sampler.state_dict(), stream.state_dict()
    for strict in (True, False):
        with pytest.raises(ConfigError, match="state is a SkillStream's, not a SkillSampler's"):
            sampler.load_state_dict(stream.state_dict(), strict=strict)
        with pytest.raises(ConfigError, match="state is a SkillSampler's, not a SkillStream's"):
            stream.load_state_dict(sampler.state_dict(), strict=strict)
    assert states_equal(sampler.state_dict(), before_sampler)
    assert states_equal(stream.state_dict(), before_stream)


def test_a_state_of_another_dataset_is_refused_naming_the_fix():
    teacher = mg.make_teacher("exp3", mg.Discrete(["a", "b"]), seed=0)
    sampler = SkillSampler(["a", "b"] * 8, teacher, batch_size=4, seed=0)
    other = SkillSampler(["a", "b"] * 7, mg.make_teacher("exp3", mg.Discrete(["a", "b"]), seed=0), batch_size=4, seed=0)
    before = sampler.state_dict()
    with pytest.raises(ConfigError, match="another dataset.*same skills_of_examples.*Nothing was changed"):
        sampler.load_state_dict(other.state_dict())
    assert states_equal(sampler.state_dict(), before)


def test_fixed_mixture_weights_given_as_a_mapping_are_refused_naming_the_order():
    """A dict of weights was refused as not being 'non-negative weights with a positive, finite sum', which it was."""
    with pytest.raises(ConfigError, match="sequence in skill order.*not a mapping"):
        SkillSampler([0, 1, 1], {"a": 1.0, "b": 2.0}, batch_size=2, seed=0)


@pytest.mark.parametrize("per_skill", [
    [[0.25, 0.5, 0.75]], np.array([[0.25], [0.5], [0.75]]), torch.tensor([[0.25, 0.5, 0.75]]),
    {"a": [0.25], "b": np.array([0.5]), "c": torch.tensor([[0.75]])},
])
def test_observe_eval_takes_one_row_one_column_and_one_element_values_as_before(per_skill):
    """A (1, 3) row or (3, 1) column of a model's output, and one-element values in a mapping, have one meaning (one
    number per skill) and were taken before the nested-value refusal: they still are, as the flat list is."""
    flat = mg.make_teacher("exp3", mg.Discrete(["a", "b", "c"]), seed=0)
    SkillSampler([0, 1, 2] * 10, flat, batch_size=4, seed=0).observe_eval([0.25, 0.5, 0.75])
    teacher = mg.make_teacher("exp3", mg.Discrete(["a", "b", "c"]), seed=0)
    SkillSampler([0, 1, 2] * 10, teacher, batch_size=4, seed=0).observe_eval(per_skill)
    assert teacher.n_observed == 3 and teacher.to_bytes() == flat.to_bytes()


def test_rows_instead_of_skill_labels_are_refused_naming_the_column():
    # a new user passes the dataset's rows (dicts, or a datasets.Dataset) where the skill of each example goes:
    # it raised a raw "TypeError: unhashable type: 'dict'"
    teacher = mg.make_teacher("uniform", mg.Discrete(["add", "sub"]), seed=0)
    rows = [{"text": "1+1", "skill": "add"}, {"text": "2-1", "skill": "sub"}]
    with pytest.raises(ConfigError, match=r"skills_of_examples holds dict items.*dataset\['skill'\]"):
        SkillSampler(rows, teacher, batch_size=2, seed=0)
    with pytest.raises(ConfigError, match="flat sequence"):  # ragged lists: numpy's raw "inhomogeneous shape"
        SkillSampler([["add"], ["add", "sub"]], teacher, batch_size=2, seed=0)
    assert SkillSampler([r["skill"] for r in rows], teacher, batch_size=2, seed=0).skill_of.tolist() == [0, 1]


def test_rows_instead_of_skill_labels_are_refused_naming_the_column_with_fixed_weights_too():
    """docs/data.md: the dataset's rows are refused naming the column, also for a fixed mixture (the "natural"
    baseline): there the refusal said only that labels must be integer indices, not that rows had been given."""
    rows = [{"text": "1+1", "skill": 0}, {"text": "2-1", "skill": 1}] * 2
    with pytest.raises(ConfigError, match=r"skills_of_examples holds dict items.*dataset\['skill'\].*rows themselves"):
        SkillSampler(rows, [0.5, 0.5], batch_size=2, seed=0)
    with pytest.raises(ConfigError, match="must be integer skill indices"):  # labels that are names: as before
        SkillSampler(["add", "sub"] * 2, [0.5, 0.5], batch_size=2, seed=0)
    assert SkillSampler([r["skill"] for r in rows], [0.5, 0.5], batch_size=2, seed=0).skill_of.tolist() == [0, 1] * 2
@pytest.mark.parametrize("method", ["observe_batch_loss", "observe_batch_correct"])
@pytest.mark.parametrize("values", [np.full((2, 2), 0.5), [[0.5, 0.5], [0.5, 0.5]], torch.full((2, 2), 0.5)])
def test_per_example_feedback_refuses_a_table_of_several_rows_and_columns(method, values):
    """A (2, 2) table (a per-token loss, a list of lists) for a batch of 4 was flattened and matched to the batch's
    examples because its count happened to equal the batch's; refused now, nothing recorded, the batch still waiting."""
    teacher = mg.make_teacher("exp3", mg.Discrete(["a", "b"]), seed=0)
    sampler = SkillSampler([0, 1] * 10, teacher, batch_size=4, seed=0)
    sampler.next_batch()
    before = sampler.state_dict()
    with pytest.raises(InvalidScoreError, match=r"one number per example.*shape \(2, 2\).*Nothing was recorded"):
        getattr(sampler, method)(values)
    assert states_equal(sampler.state_dict(), before)
    assert getattr(sampler, method)([0.5, 0.5, 0.5, 0.5])  # the batch is still waiting for its feedback


@pytest.mark.parametrize("method", ["observe_batch_loss", "observe_batch_correct"])
def test_per_example_feedback_takes_a_row_a_column_and_a_table_with_keys_of_its_shape(method):
    """One row, one column (one value per example each) and a table whose indices have its shape (each value with its
    own index) have one meaning, and are taken as the flat list is."""
    def run(values, indices=None):
        teacher = mg.make_teacher("exp3", mg.Discrete(["a", "b"]), seed=0)
        sampler = SkillSampler([0, 1] * 10, teacher, batch_size=4, seed=0)
        batch = sampler.next_batch()
        got = getattr(sampler, method)(values, None if indices is None else np.reshape(batch, indices))
        return got, teacher.to_bytes()
    flat = run([0.25, 0.5, 0.75, 1.0])
    assert run([[0.25, 0.5, 0.75, 1.0]]) == flat
    assert run(torch.tensor([[0.25], [0.5], [0.75], [1.0]])) == flat
    assert run(np.array([[0.25, 0.5], [0.75, 1.0]]), (2, 2)) == flat


def test_a_fixed_mixture_skill_of_weight_0_needs_no_examples():
    # a skill of weight 0 is never drawn, yet a fixed mixture refused it for having no examples
    batches = [[2, 3, 4, 4], [0, 2, 3, 1], [1, 4, 3, 0], [3, 2, 2, 4]]  # (as before this change, with an example)
    with_one = SkillSampler([0, 0, 2, 2, 2, 1], [0.5, 0.0, 0.5], batch_size=4, seed=0)
    assert [with_one.next_batch() for _ in range(4)] == batches
    without = SkillSampler([0, 0, 2, 2, 2], [0.5, 0.0, 0.5], batch_size=4, seed=0)
    assert [without.next_batch() for _ in range(4)] == batches, "the same batches: the skill is never drawn"
    assert without.samples_per_skill().tolist() == [4, 0, 12]
    without.observe_batch_loss([0.5] * 4)
    again = SkillSampler([0, 0, 2, 2, 2], [0.5, 0.0, 0.5], batch_size=4, seed=0)
    again.load_state_dict(without.state_dict())
    assert again.next_batch() == without.next_batch()
    # a skill of weight above 0 without examples is still refused, naming it (and a teacher's skills all need them)
    with pytest.raises(ConfigError, match=r"skills \['1'\] have no examples but a fixed mixture weight above 0"):
        SkillSampler([0, 0, 2], [0.5, 0.1, 0.4], batch_size=2)
    with pytest.raises(ConfigError, match="no examples; give every skill"):
        SkillSampler([0, 2], mg.make_teacher("uniform", mg.Discrete(3)), batch_size=2)


def test_a_rounding_remainder_on_a_skill_of_weight_0_without_examples_goes_to_the_heaviest_skill():
    # numpy's multinomial gives its last category what the others leave; with weights of 1/3 that can be a slot
    # (about once in 1e15 draws): the sampler looped for ever looking for an example of a skill that has none
    sampler = SkillSampler([0, 1, 2, 0, 1, 2], [1, 1, 1, 0], batch_size=4, seed=0)

    class Remainder:
        def __init__(self, rng):
            self.rng = rng

        def multinomial(self, n, p):
            return np.array([1, 1, 1, n - 3])

        def __getattr__(self, name):
            return getattr(self.rng, name)

    sampler.rng = Remainder(sampler.rng)
    batch = sampler.next_batch()
    assert sorted(sampler.skill_of[batch].tolist()) == [0, 0, 1, 2]
    assert sampler.history[-1]["counts"] == [2, 1, 1, 0]


def test_the_floor_reserves_round_floor_x_batch_size_slots_taken_by_the_skills_in_turn_across_batches():
    # floor 0.29 of 10 slots: round(2.9) = 3 reserved slots, the last of each batch, skill 0, 1, 2, then 3, 0, 1...
    skills = skills_fixture()
    greedy = mg.make_teacher("skill-it", mg.Discrete(4), seed=3, eta=50.0)
    greedy.observe_batch([0, 1, 2, 3], [1.0, 0.0, 1.0, 1.0])  # the teacher puts everything on skill 1
    sampler = SkillSampler(skills, greedy, batch_size=10, seed=0, floor=0.29)
    reserved = [skills[sampler.next_batch()[7:]].tolist() for _ in range(4)]
    assert reserved == [[0, 1, 2], [3, 0, 1], [2, 3, 0], [1, 2, 3]]


def test_mixture_mode_draws_from_the_teachers_probabilities_with_the_floor_mixed_in():
    skills = skills_fixture()
    teacher = mg.make_teacher("skill-it", mg.Discrete(4), seed=3, eta=50.0)
    teacher.observe_batch([0, 1, 2, 3], [0.0, 1.0, 1.0, 1.0])  # all but certain: skill 0
    p = np.asarray(teacher.beliefs()["probability"])
    assert p[0] > 0.999
    m = SkillSampler(skills, teacher, 16, seed=0, mode="mixture", floor=0.4)
    assert np.allclose(m.current_mixture(), 0.6 * p + 0.1)
    m.next_batch()
    assert np.allclose(m.history[0]["mixture"], 0.6 * p + 0.1, atol=1e-6)


def test_feedback_reaches_a_teacher_on_its_own_score_scale():
    # a teacher with score_range [0, 2] hears a correctness of 1 as a score of 2 (the top of its scale)
    skills = skills_fixture()
    teacher = mg.make_teacher("sec", mg.Discrete(4), seed=0, reward="score", alpha=1.0,
                              score_range=mg.ScoreRange(0.0, 2.0))
    sampler = SkillSampler(skills, teacher, batch_size=8, seed=0)
    batch = sampler.next_batch()
    sampler.observe_batch_correct([1.0] * len(batch), batch)
    present = np.unique(skills[batch])
    assert np.allclose(teacher.q[present], 1.0)  # the normalised score: 2 on [0, 2]
