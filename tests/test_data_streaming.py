"""SkillStream: per-skill iterable sources mixed by a teacher, resumable mid-stream (DDP: test_data_distributed.py)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader, IterableDataset  # noqa: E402

import magister as mg  # noqa: E402
from magister.data import SkillStream  # noqa: E402
from magister.errors import ConfigError, InvalidScoreError, UnknownTaskError  # noqa: E402
from magister.testing import states_equal  # noqa: E402

NAMES = ["add", "sub", "mul"]


class Counter(IterableDataset):
    """A PyTorch IterableDataset: ("mul", 0), ("mul", 1), ... up to n items."""

    def __init__(self, n: int):
        self.n = n

    def __iter__(self):
        return iter(("mul", k) for k in range(self.n))


def _sources(n=(50, 40, 30)):
    """One source of each kind: a list, a function returning a generator, a torch IterableDataset."""
    def sub():
        return (("sub", k) for k in range(n[1]))

    return {"add": [("add", k) for k in range(n[0])], "sub": sub, "mul": Counter(n[2])}


def test_slots_follow_the_teachers_proposals_and_each_stream_is_read_in_order():
    teacher = mg.make_teacher("skill-it", mg.Discrete(NAMES), eta=2.0, seed=1)
    twin = mg.make_teacher("skill-it", mg.Discrete(NAMES), eta=2.0, seed=1)
    stream = SkillStream(_sources(), teacher, batch_size=8, num_batches=12, seed=0)
    seen = {name: [] for name in NAMES}
    for step, batch in enumerate(stream):
        proposals = twin.propose(8)
        assert np.allclose(stream.history[step]["mixture"], twin.beliefs()["probability"], atol=1e-6)
        assert [item[0] for item in batch] == proposals, "slot j holds an item of proposal j's skill"
        assert stream.skills_of_batch().tolist() == [NAMES.index(p) for p in proposals]
        for name, k in batch:
            seen[name].append(k)
        scores = [0.2 if name == "sub" else 0.9 for name, _ in batch]
        stream.observe_batch_correct(scores)
        twin.observe_batch(sorted(set(proposals), key=NAMES.index),
                           [0.2 if p == "sub" else 0.9 for p in sorted(set(proposals), key=NAMES.index)])
    for name, ks in seen.items():
        n = {"add": 50, "sub": 40, "mul": 30}[name]
        assert ks == [k % n for k in range(len(ks))], f"{name}: items in stream order, restarting at the end"
    assert stream.passes.tolist() == [len(seen[s]) // n for s, n in zip(NAMES, (50, 40, 30))]
    assert states_equal(teacher.state_dict()["algorithm"], twin.state_dict()["algorithm"])


def test_mixture_mode_reads_the_teachers_live_probabilities():
    teacher = mg.make_teacher("exp3", mg.Discrete(NAMES), seed=0, reward="loss")  # the paper's data-mixing reward
    stream = SkillStream(_sources(), teacher, batch_size=64, seed=3, mode="mixture")
    expected = np.random.default_rng(3)
    for step in range(6):
        p = teacher.beliefs()["probability"]
        batch = stream.next_batch()
        counts = expected.multinomial(64, np.asarray(p) / np.sum(p))
        expected.permutation(64)
        assert stream.history[step]["counts"] == counts.tolist()
        assert np.bincount([NAMES.index(name) for name, _ in batch], minlength=3).tolist() == counts.tolist()
        stream.observe_batch_loss([0.1 if name == "add" else 2.0 for name, _ in batch])
    assert teacher.beliefs()["probability"][0] != pytest.approx(1 / 3), "feedback moved the probabilities"


def test_a_hugging_face_streaming_dataset_per_skill():
    datasets = pytest.importorskip("datasets")
    sources = {name: datasets.Dataset.from_dict({"text": [f"{name} {k}" for k in range(k_n)]}).to_iterable_dataset()
               for name, k_n in zip(NAMES, (7, 5, 9))}
    assert all(isinstance(s, datasets.IterableDataset) for s in sources.values())
    stream = SkillStream(sources, [1.0, 1.0, 1.0], batch_size=6, num_batches=10, seed=0)
    got = [row["text"] for batch in stream for row in batch]
    for name, n in zip(NAMES, (7, 5, 9)):
        mine = [int(t.split()[1]) for t in got if t.startswith(name)]
        assert mine == [k % n for k in range(len(mine))]
    assert len(got) == 60 and stream.passes.sum() > 0


def _run(stream, steps, losses=True):
    out = []
    for _ in range(steps):
        b = stream.next_batch()
        out.append(b)
        if losses:
            stream.observe_batch_loss([0.05 * (k % 7) + (1.0 if name == "mul" else 0.0) for name, k in b])
    return out


def test_resume_mid_stream_is_exact():
    def make():
        teacher = mg.make_teacher("lp-bandit", mg.Discrete(NAMES), seed=4)
        return SkillStream(_sources((11, 6, 9)), teacher, batch_size=5, seed=2), teacher

    whole, t_whole = make()
    first = _run(whole, 9)
    saved = copy.deepcopy(whole.state_dict())
    assert whole.passes.sum() > 0 and whole.consumed.sum() > 0, "the checkpoint is taken mid-pass after restarts"
    rest = _run(whole, 9)
    resumed, t_resumed = make()
    resumed.load_state_dict(saved)
    assert _run(resumed, 9) == rest
    assert states_equal(whole.state_dict(), resumed.state_dict()) and len(first) == 9


def test_a_malformed_stream_state_is_refused_and_changes_nothing():
    def make():
        teacher = mg.make_teacher("lp-bandit", mg.Discrete(NAMES), seed=4)
        return SkillStream(_sources((11, 6, 9)), teacher, batch_size=5, seed=2), teacher

    whole, _ = make()
    _run(whole, 4)
    saved = copy.deepcopy(whole.state_dict())
    fresh, teacher = make()
    before = (teacher.to_bytes(), copy.deepcopy(fresh.state_dict()))
    for key in ("passes", "exhausted", "ended", "step", "rng"):
        bad = {k: v for k, v in saved.items() if k != key}
        with pytest.raises(ConfigError, match="malformed"):
            fresh.load_state_dict(bad)
        assert teacher.to_bytes() == before[0] and states_equal(fresh.state_dict(), before[1]), key
    fresh.load_state_dict(saved)
    assert _run(fresh, 3) == _run(whole, 3)


def test_a_stream_state_saved_with_other_settings_is_refused_naming_them():
    """A state saved by a stream with another mode or on_exhausted rule was taken without a word, and the resumed
    stream went on otherwise than the saved one would have."""
    def make(**kw):
        teacher = mg.make_teacher("lp-bandit", mg.Discrete(NAMES), seed=4)
        return SkillStream(_sources((11, 6, 9)), teacher, **{"batch_size": 5, "seed": 2, **kw}), teacher

    whole, _ = make()
    _run(whole, 4)
    saved = copy.deepcopy(whole.state_dict())
    for kw, named in ((dict(mode="mixture"), "mode"), (dict(on_exhausted="stop"), "on_exhausted"),
                      (dict(batch_size=4), "batch_size")):
        fresh, teacher = make(**kw)
        before = (teacher.to_bytes(), copy.deepcopy(fresh.state_dict()))
        with pytest.raises(ConfigError, match=f"other settings.*{named}: saved"):
            fresh.load_state_dict(saved)
        assert teacher.to_bytes() == before[0] and states_equal(fresh.state_dict(), before[1]), named
    loose, _ = make(on_exhausted="stop")
    loose.load_state_dict(saved, strict=False)
    assert loose.on_exhausted == "stop"
    fresh, _ = make()
    fresh.load_state_dict(saved)
    assert _run(fresh, 3) == _run(whole, 3)


def test_stop_gives_an_ended_skills_slots_to_the_others_and_ends_the_stream():
    teacher = mg.make_teacher("uniform", mg.Discrete(NAMES), seed=0)
    stream = SkillStream(_sources((4, 30, 12)), teacher, batch_size=6, seed=1, on_exhausted="stop")
    batches = list(stream)
    items = [item for b in batches for item in b]
    assert len(items) == len(set(items)), "no item is read twice"
    assert all(len(b) == 6 for b in batches) and stream.ended and stream.exhausted.all()
    assert len(items) == 42, "46 items in all: 7 full batches, the 4 left over cannot fill an 8th and are dropped"
    # the uniform teacher keeps proposing "add" (~2 slots a step), but its 4 items are all it ever gets
    assert sum(h["counts"][0] for h in stream.history) == 4 and len(stream.history) == 7
    assert stream.next_batch() is None and list(stream) == []


def test_bad_sources_and_feedback_are_refused():
    teacher = mg.make_teacher("uniform", mg.Discrete(NAMES), seed=0)
    gen = (("add", k) for k in range(3))
    with pytest.raises(ConfigError, match="one-shot"):
        SkillStream({"add": gen, "sub": [1], "mul": [2]}, teacher, batch_size=2)
    with pytest.raises(ConfigError, match="no source"):
        SkillStream({"add": [1], "sub": [1]}, teacher, batch_size=2)
    with pytest.raises(UnknownTaskError):
        SkillStream({"add": [1], "sub": [1], "mul": [1], "div": [1]}, teacher, batch_size=2)
    with pytest.raises(ConfigError, match="on_exhausted"):
        SkillStream([[1], [1], [1]], teacher, batch_size=2, on_exhausted="loop")
    with pytest.raises(ConfigError, match="no items"):
        SkillStream([[], [], []], [1, 1, 1], batch_size=2, seed=0).next_batch()
    stream = SkillStream(_sources(), mg.make_teacher("skill-it", mg.Discrete(NAMES), seed=0), batch_size=4, seed=0)
    stream.next_batch()
    before = stream.teacher.state_dict()
    with pytest.raises(InvalidScoreError):
        stream.observe_batch_loss([1.0, np.nan, 1.0, 1.0])
    with pytest.raises(InvalidScoreError):
        stream.observe_batch_loss([1.0, 1.0])
    assert stream.pending == 1 and states_equal(before, stream.teacher.state_dict())
    assert stream.observe_batch_correct([1.0, 0.0], skills=["add", "add"]) == {0: 0.5}
    with pytest.raises(ConfigError, match="num_workers"):
        list(DataLoader(SkillStream(_sources(), [1, 1, 1], batch_size=2, num_batches=2, seed=0),
                        batch_size=None, num_workers=1))


def test_resume_refuses_a_source_that_got_shorter():
    # before: a state that consumed more items than a list source holds was loaded, and refused only by the next
    # next_batch(); a source whose length is known is now checked at load, which changes nothing
    stream = SkillStream(_sources((5, 5, 5)), [1, 1, 1], batch_size=4, seed=0)
    _run(stream, 2, losses=False)
    state = stream.state_dict()
    assert state["consumed"][0] > 1
    def make_short():
        return SkillStream({"add": [("add", 0)], "sub": [("sub", 0)], "mul": [("mul", 0)]}, [1, 1, 1], batch_size=4,
                           seed=0)

    short = make_short()
    before = copy.deepcopy(short.state_dict())
    with pytest.raises(ConfigError, match=r"'consumed' says \d+ items of skill 'add' .* its source has 1 items"):
        short.load_state_dict(state)
    assert states_equal(short.state_dict(), before)
    assert _run(short, 2, losses=False) == _run(make_short(), 2, losses=False), "it reads from its start"
    # a source read through a function (or an IterableDataset) has no length to check: refused when it is read
    unsized = SkillStream({"add": lambda: iter([("add", 0)]), "sub": [("sub", k) for k in range(5)],
                           "mul": Counter(5)}, [1, 1, 1], batch_size=4, seed=0)
    unsized.load_state_dict(state)
    with pytest.raises(ConfigError, match="same items"):
        _run(unsized, 1, losses=False)


def test_dataloader_in_the_main_process_passes_the_blocks_through():
    stream = SkillStream(_sources(), [1, 2, 1], batch_size=4, num_batches=3, seed=0)
    loader = DataLoader(stream, batch_size=None, collate_fn=lambda items: [k for _, k in items])
    got = list(loader)
    assert len(got) == 3 and all(len(b) == 4 for b in got) and stream.pending == 3


class _Flaky:
    """A re-iterable whose ``fail_on``-th iteration raises OSError at item ``at`` (a dropped connection)."""

    def __init__(self, name, n, fail_on=None, at=1):
        self.name, self.n, self.fail_on, self.at, self.calls = name, n, fail_on, at, 0

    def __iter__(self):
        self.calls += 1
        call = self.calls
        for k in range(self.n):
            if call == self.fail_on and k == self.at:
                raise OSError("connection reset")
            yield (self.name, k)


def test_a_source_that_fails_mid_batch_loses_nothing_and_a_retry_continues_exactly():
    def make(fail_on):
        teacher = mg.make_teacher("exp3", mg.Discrete(NAMES), seed=0)
        sources = {"add": [("add", k) for k in range(50)], "sub": _Flaky("sub", 3, fail_on), "mul": Counter(4)}
        return SkillStream(sources, teacher, batch_size=5, seed=0)

    clean, flaky = make(None), make(2)  # the second pass over "sub" breaks after one item
    expected = _run(clean, 8)
    got, failures = [], 0
    while len(got) < 8:
        before = copy.deepcopy(flaky.state_dict())
        try:
            got.extend(_run(flaky, 1))
        except OSError:
            failures += 1
            assert states_equal(flaky.state_dict(), before), "the failed step changed nothing"
            resumed = make(None)  # a checkpoint taken after the failure resumes exactly too
            resumed.load_state_dict(copy.deepcopy(flaky.state_dict()))
            assert _run(resumed, 8 - len(got)) == expected[len(got):]
    assert failures == 1 and flaky.teacher.n_proposed == clean.teacher.n_proposed
    assert got == expected and states_equal(flaky.state_dict(), clean.state_dict())


def test_a_source_that_gives_nothing_when_iterated_again_is_refused_clearly_and_changes_nothing():
    shared = iter([("sub", k) for k in range(3)])  # a function that returns the same iterator every time
    teacher = mg.make_teacher("exp3", mg.Discrete(NAMES), seed=0)
    stream = SkillStream({"add": [("add", k) for k in range(50)], "sub": lambda: shared, "mul": Counter(9)},
                         teacher, batch_size=6, seed=0)
    handed = []
    with pytest.raises(ConfigError, match="none when iterated again"):
        for _ in range(10):
            before = copy.deepcopy(stream.state_dict())
            handed.extend(_run(stream, 1))
    assert states_equal(stream.state_dict(), before)
    assert sorted(k for b in handed for name, k in b if name == "sub") == [0, 1, 2]


def test_a_stream_state_with_bad_counts_is_refused_as_malformed_and_changes_nothing():
    """consumed="abc" (or missing) raised a raw ValueError / a misleading skill-count error, and negative passes
    were loaded."""
    stream = SkillStream(_sources(), [1, 1, 1], batch_size=4, seed=0)
    _run(stream, 2, losses=False)
    saved = stream.state_dict()
    before = copy.deepcopy(saved)
    for bad in ({k: v for k, v in saved.items() if k != "consumed"}, dict(saved, consumed="abc"),
                dict(saved, passes=[-1, 0, 0]), dict(saved, consumed=[-2, 0, 0])):
        with pytest.raises(ConfigError, match="malformed"):
            stream.load_state_dict(bad)
        assert states_equal(stream.state_dict(), before)


def test_a_waiting_batch_or_drawn_counts_that_are_not_whole_numbers_are_refused_as_malformed():
    """A saved waiting batch of skills [0.6, 1.4] was read as skills [0, 1] (feedback then went to them), and drawn
    counts of 1.5 were cut to 1."""
    stream = SkillStream(_sources(), mg.make_teacher("exp3", mg.Discrete(NAMES), seed=0), batch_size=4, seed=0)
    _run(stream, 2, losses=False)
    saved = stream.state_dict()
    before = copy.deepcopy(saved)
    for key, value in (("pending", [saved["pending"][0] + 0.4] + saved["pending"][1:]),
                       ("drawn", [1.5] + saved["drawn"][1:])):
        with pytest.raises(ConfigError, match=f"malformed .*{key} must hold whole numbers"):
            stream.load_state_dict(dict(saved, **{key: value}))
        assert states_equal(stream.state_dict(), before)


def test_a_path_or_text_source_and_a_skill_given_twice_are_refused():
    """{"code": "code.jsonl"} streamed the characters of the path; a skill named and indexed kept the last one."""
    teacher = mg.make_teacher("uniform", mg.Discrete(NAMES), seed=0)
    for text in ("add.jsonl", b"add.jsonl"):
        with pytest.raises(ConfigError, match="path or text"):
            SkillStream({"add": text, "sub": [1], "mul": [2]}, teacher, batch_size=2)
    with pytest.raises(ConfigError, match="twice"):
        SkillStream({"add": [1], "sub": [1], "mul": [2], 0: [3]}, teacher, batch_size=2)


def test_a_source_function_returning_text_or_no_items_is_refused_naming_the_skill_and_changes_nothing():
    """lambda: "add.jsonl" streamed the characters of the path (a text source itself is refused), and a function
    returning None or a number raised Python's bare "'NoneType' object is not iterable", naming no skill."""
    for bad, match in ((lambda: "add.jsonl", "path or text"), (lambda: b"add", "path or text"),
                       (lambda: None, "returned NoneType None, not the items"), (lambda: 5, "returned int 5")):
        teacher = mg.make_teacher("exp3", mg.Discrete(NAMES), seed=0)
        stream = SkillStream({"add": bad, "sub": [("sub", k) for k in range(9)], "mul": Counter(9)}, teacher,
                             batch_size=6, seed=0)
        before = copy.deepcopy(stream.state_dict())
        with pytest.raises(ConfigError, match=match) as info:
            _run(stream, 1)
        assert "skill 'add'" in str(info.value)
        assert states_equal(stream.state_dict(), before)


def test_num_batches_is_read_as_the_sampler_reads_it():
    # SkillSampler took num_batches=3.0 (a whole float, as a saved setting may hold); SkillStream refused it
    assert SkillStream(_sources(), [1, 1, 1], batch_size=2, num_batches=3.0, seed=0).num_batches == 3
    for bad in (2.5, True, 0, "3"):
        with pytest.raises(ConfigError, match="num_batches must be a whole number"):
            SkillStream(_sources(), [1, 1, 1], batch_size=2, num_batches=bad, seed=0)


def test_fixed_weights_that_do_not_match_the_sources_are_named_as_such():
    """Three named sources with two weights said "sources name skill 'add', which the teacher's space does not
    have" (there is no teacher); a list of three sources said they must be "a sequence of 2 sources"."""
    for sources in ({"add": [1], "sub": [2], "mul": [3]}, [[1], [2], [3]]):
        with pytest.raises(ConfigError, match="3 sources but 2 fixed mixture weights"):
            SkillStream(sources, [0.5, 0.5], batch_size=2, seed=0)


def test_a_pass_resumed_from_a_state_saved_before_its_batch_trained_keeps_feedback_on_the_right_skills():
    # before: a state saved at the top of a step (its batch handed out, not trained) kept that batch waiting after
    # the resume, so every feedback of the resumed loop went to the batch before it: skill "add" (loss 0) was told
    # the losses of "sub" for the rest of the run, without a word
    def make():
        teacher = mg.make_teacher("skill-it", mg.Discrete(NAMES), seed=3, window=1)
        return SkillStream(_sources(), teacher, batch_size=4, seed=0)

    def losses(batch):
        return [{"add": 0.0, "sub": 5.0, "mul": 1.0}[item[0]] for item in batch]

    stream, saved = make(), None
    for step, batch in enumerate(stream):
        if step == 2:
            saved = copy.deepcopy(stream.state_dict())
            break
        stream.observe_batch_loss(losses(batch))
    assert saved["pending"], "the state holds the batch that was never trained"
    resumed = make()
    resumed.load_state_dict(saved)
    for step, batch in enumerate(resumed):
        means = resumed.observe_batch_loss(losses(batch))
        assert means == {NAMES.index(item[0]): losses([item])[0] for item in batch}
        if step == 3:
            break
    assert resumed.pending == 0


def test_skills_of_batch_still_answers_after_the_batch_had_its_feedback():
    # before: once the latest batch had its feedback, skills_of_batch() said "no batch was handed out yet"
    stream = SkillStream(_sources(), mg.make_teacher("exp3", mg.Discrete(NAMES), seed=0), batch_size=4, seed=0)
    with pytest.raises(ConfigError, match="no batch was handed out yet"):
        stream.skills_of_batch()
    batch = stream.next_batch()
    skills = stream.skills_of_batch()
    assert [NAMES[s] for s in skills] == [item[0] for item in batch]
    stream.observe_batch_loss([1.0] * 4)
    assert stream.skills_of_batch().tolist() == skills.tolist()


def test_fixed_weights_over_named_sources_take_the_skill_names_in_feedback():
    # before: with fixed weights, observe_batch_*(..., skills=["add", ...]) said "with a fixed mixture, skills must
    # be integer skill indices", though the mapping's keys name the skills (observe_eval took them) and the same
    # stream with a teacher takes them
    teacher = mg.make_teacher("exp3", mg.Discrete(NAMES), seed=0)
    for mixer in (teacher, [1, 1, 1]):
        stream = SkillStream(_sources(), mixer, batch_size=4, seed=0)
        stream.next_batch()
        assert stream.observe_batch_correct([1.0, 0.0, 0.5], skills=["add", "sub", "mul"]) == {0: 1.0, 1: 0.0, 2: 0.5}
        assert stream.observe_batch_loss([0.0, 0.0], skills=["mul", "mul"]) == {2: 0.0}
        with pytest.raises(UnknownTaskError, match="'div'"):
            stream.observe_batch_correct([1.0], skills=["div"])
    assert stream.pending == 1 and stream.teacher is None, "explicit feedback leaves the batch waiting"
    # sources in a list have no names: indices only, said as such
    stream = SkillStream([[1], [2], [3]], [1, 1, 1], batch_size=2, seed=0)
    stream.next_batch()
    with pytest.raises(ConfigError, match="unnamed skills, skills must be integer skill indices"):
        stream.observe_batch_correct([1.0], skills=["0"])
    assert stream.observe_batch_correct([1.0], skills=[0]) == {0: 1.0}


def test_an_empty_source_of_weight_0_in_a_fixed_mixture_is_a_source_that_ended():
    # under "stop", once the weighted sources end, the slots go to the skills still live (weight 0 too): an empty
    # source of weight 0 was then "gave no items; give every skill a non-empty source"; it ends the stream instead
    stream = SkillStream([[1, 2, 3], [], [7, 8]], [0.5, 0.0, 0.5], batch_size=2, seed=0, on_exhausted="stop",
                         num_batches=4)
    assert list(stream) == [[1, 7], [8, 2]] and stream.ended and stream.exhausted.tolist() == [True] * 3
    assert list(SkillStream([[1, 2, 3], [], [7, 8]], [0.5, 0.0, 0.5], batch_size=2, seed=0, num_batches=3)) == [
        [1, 7], [8, 7], [8, 7]]  # "restart": never read
    with pytest.raises(ConfigError, match="the source of skill '1' gave no items"):  # weight above 0: refused
        list(SkillStream([[1, 2, 3], [], [7, 8]], [0.5, 0.1, 0.4], batch_size=2, seed=0, on_exhausted="stop",
                         num_batches=4))


def test_a_batch_waiting_at_the_save_is_skipped_on_resume_as_documented_and_next_batch_loops_name_their_skills():
    """What the module docstring says of a batch handed out without feedback at the save (there is no
    replay_pending for streams): its items are skipped on resume, it still waits for feedback, and a loop calling
    next_batch() itself feeds its own batch by passing skills=; a save where pending is 0 resumes exactly."""
    def make():
        return SkillStream(_sources(), mg.make_teacher("exp3", mg.Discrete(NAMES), seed=0), batch_size=4, seed=0)

    whole = make()
    _run(whole, 2)
    exact = copy.deepcopy(whole.state_dict())
    waiting = whole.next_batch()  # handed out, then saved before its feedback (the top of a step)
    saved = copy.deepcopy(whole.state_dict())
    assert whole.pending == 1 and saved["pending"]
    resumed = make()
    resumed.load_state_dict(saved)
    first = resumed.next_batch()
    assert resumed.pending == 2, "it still waits: feedback without skills= would go to it"
    means = resumed.observe_batch_loss([0.5] * 4, skills=resumed.skills_of_batch())
    assert set(means) == {NAMES.index(item[0]) for item in first}
    later = [item for batch in [first] + _run(resumed, 5, losses=False) for item in batch]
    assert not set(later) & set(waiting), "the waiting batch's items are not handed out again (in this pass)"
    assert all(k >= saved["consumed"][NAMES.index(name)] for name, k in later), "the stream goes on past them"
    again = make()
    again.load_state_dict(exact)
    assert again.pending == 0 and _run(again, 1) == [waiting]
