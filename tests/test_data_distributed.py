"""SkillSampler under torch.distributed: two real CPU processes (gloo) against one process on the same global batch.

The two ranks rendezvous through a file in the test's temporary folder (no
ports, no timing), run the same scenarios, and write what they saw; the test
replays every scenario in one process and compares: the union of the ranks'
blocks must be the single process's batch, slot for slot, and the mixture log,
the teacher's state and the sampler's state must be equal, bit for bit.
"""

from __future__ import annotations

import copy
import datetime
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

import magister as mg  # noqa: E402
from magister.data import SkillSampler, SkillStream  # noqa: E402
from magister.data.distributed import fingerprint, rank_slice  # noqa: E402
from magister.errors import ConfigError, InvalidScoreError  # noqa: E402
from magister.testing import states_equal  # noqa: E402

NAMES = ["a", "b", "c", "d"]


def _skills() -> np.ndarray:
    """Uneven pools: skill "a" has 2 examples (it runs out inside a batch), "d" has 13."""
    skills = np.repeat(np.arange(4), [2, 9, 5, 13])
    np.random.default_rng(7).shuffle(skills)
    return skills


def _loss(indices) -> np.ndarray:
    """A per-example "loss" that depends only on the example (values with long binary expansions)."""
    return (np.asarray(indices, dtype=float) * 0.37) % 2.3


class IndexData(Dataset):
    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


def _propose_run(world: int, rank: int, steps: int = 10, start_state=None):
    """Skill-It in propose mode, batch 7 (not divisible by 2), loss feedback, evaluations every 3 steps."""
    distributed = None if world > 1 else False
    teacher = mg.make_teacher("skill-it", mg.Discrete(NAMES), eta=2.0, seed=3)
    sampler = SkillSampler(_skills(), teacher, batch_size=7, seed=0, distributed=distributed)
    first = 0
    if start_state is not None:
        sampler.load_state_dict(start_state)
        first = sampler.step
    batches, saved = [], None
    for step in range(first, steps):
        if step == 5:
            saved = copy.deepcopy(sampler.state_dict())
        b = sampler.next_batch()
        batches.append(b)
        means = sampler.observe_batch_loss(_loss(b))
        batches.append(sorted(means.items()))
        if step % 3 == 2:
            sampler.observe_eval({"a": 0.25, "c": 0.5 + 0.01 * step}, kind="accuracy")
    return {"batches": batches, "history": sampler.history, "teacher": teacher.state_dict(),
            "sampler": sampler.state_dict(), "saved": saved, "refills": sampler.refills.tolist(),
            "local": sampler.local_batch_size}


def _mixture_run(world: int, rank: int, steps: int = 6):
    """EXP3 read through its probabilities (mixture mode), batches through a DataLoader, correctness feedback."""
    teacher = mg.make_teacher("exp3", mg.Discrete(NAMES), seed=5)
    sampler = SkillSampler(_skills(), teacher, batch_size=6, num_batches=steps, seed=1, mode="mixture",
                           distributed=None if world > 1 else False)
    batches = []
    for batch in DataLoader(IndexData(len(_skills())), batch_sampler=sampler):
        b = batch.tolist()
        batches.append(b)
        sampler.observe_batch_correct((np.asarray(b) % 3 == 0).astype(float))
    return {"batches": batches, "history": sampler.history, "teacher": teacher.state_dict(),
            "sampler": sampler.state_dict()}


def _stream_run(world: int, rank: int, steps: int = 8, start_state=None, on_exhausted="restart"):
    """Per-skill streams (a list, a generator function, a range) through Skill-It, batch 5 over the ranks."""
    sources = {"a": [("a", k) for k in range(4)], "b": lambda: (("b", k) for k in range(9)),
               "c": range(100, 107), "d": [("d", k) for k in range(13)]}
    teacher = mg.make_teacher("skill-it", mg.Discrete(NAMES), eta=2.0, seed=3)
    stream = SkillStream(sources, teacher, batch_size=5, seed=0, on_exhausted=on_exhausted,
                         distributed=None if world > 1 else False)
    if start_state is not None:
        stream.load_state_dict(start_state)
    batches, saved = [], None
    for step in range(stream.step, steps):
        if step == 4:
            saved = copy.deepcopy(stream.state_dict())
        b = stream.next_batch()
        if b is None:
            break
        batches.append(b)
        stream.observe_batch_loss(_loss([item[1] if isinstance(item, tuple) else item for item in b]))
    return {"batches": batches, "history": stream.history, "teacher": teacher.state_dict(),
            "stream": stream.state_dict(), "saved": saved, "ended": stream.ended}


def _refusals(rank: int):
    """A bad value on one rank, and metrics that differ between ranks, raise on both ranks and record nothing."""
    out = {}
    teacher = mg.make_teacher("skill-it", mg.Discrete(NAMES), seed=3)
    sampler = SkillSampler(_skills(), teacher, batch_size=4, seed=0)
    b = sampler.next_batch()
    before = teacher.state_dict()
    losses = _loss(b)
    if rank == 1:
        losses[0] = np.nan
    try:
        sampler.observe_batch_loss(losses)
    except InvalidScoreError as e:
        out["nan"] = str(e)
    try:
        sampler.observe_eval([0.5, 0.5, 0.5, 0.1 * rank])
    except InvalidScoreError as e:
        out["eval"] = str(e)
    out["unchanged"] = states_equal(before, teacher.state_dict()) and sampler.pending == 1
    sampler.observe_batch_loss(_loss(b))  # the same batch is still waiting, and now accepted on both ranks
    out["after"] = sampler.pending == 0 and teacher.n_observed > 0
    try:
        SkillSampler(_skills(), mg.make_teacher("skill-it", mg.Discrete(NAMES), seed=3), batch_size=4, seed=rank)
    except ConfigError as e:
        out["seed"] = str(e)
    return out


def _eval_orders(rank: int):
    """The same per-skill metrics as mappings whose keys come in another order on each rank (rank 1: reversed)."""
    teacher = mg.make_teacher("skill-it", mg.Discrete(NAMES), seed=3)
    sampler = SkillSampler(_skills(), teacher, batch_size=4, seed=0)
    metrics = {"a": 0.2, "c": 0.9, 3: 0.4}
    try:
        sampler.observe_eval(dict(reversed(metrics.items())) if rank == 1 else metrics)
    except InvalidScoreError as e:
        return {"error": str(e)}
    return {"teacher": teacher.state_dict(), "next": sampler.next_batch()}


def _bad_builds(rank: int):
    """Bad input to the constructor on rank 1 only: every rank raises, and the ranks stay in step."""
    out = {}
    teacher = mg.make_teacher("skill-it", mg.Discrete(NAMES), seed=3)
    builds = {
        "skills": lambda: SkillSampler(_skills() if rank == 0 else np.full(29, 9), teacher, batch_size=4, seed=0),
        "batch": lambda: SkillSampler(_skills(), [1, 1, 1, 1], batch_size=4 if rank == 0 else 1, seed=0),
        "stream": lambda: SkillStream([[1], [2], [3], [4] if rank == 0 else iter([4])], [1, 1, 1, 1], batch_size=4,
                                      seed=0),
    }
    only_rank0 = dist.new_group([0])  # (a collective of every rank)
    for distributed in (True, None):  # before: rank 1, outside the group, drew blocks of -7 examples
        builds[f"outside {distributed}"] = lambda d=distributed: SkillSampler(_skills(), [1, 1, 1, 1], batch_size=4,
                                                                               seed=0, distributed=d, group=only_rank0)
    for key, build in builds.items():
        try:
            out[key] = build().local_batch_size if key.startswith("outside") else build()
        except ConfigError as e:
            out[key] = str(e)
    out["after"] = SkillSampler(_skills(), [1, 1, 1, 1], batch_size=4, seed=0).local_batch_size  # (a collective)
    return out


def _worker(rank: int, world: int, folder: str) -> None:
    torch.set_num_threads(1)
    # (the timeout only bounds a rank left waiting in a collective, so that a broken test fails instead of hanging)
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=120))
    try:
        out = {"propose": _propose_run(world, rank), "mixture": _mixture_run(world, rank), "refusals": _refusals(rank)}
        saved = out["propose"]["saved"]
        out["resumed"] = _propose_run(world, rank, start_state=saved)
        out["stream"] = _stream_run(world, rank)
        out["stream_resumed"] = _stream_run(world, rank, start_state=out["stream"]["saved"])
        out["stream_stop"] = _stream_run(world, rank, steps=100, on_exhausted="stop")
        out["bad_builds"] = _bad_builds(rank)
        out["eval_orders"] = _eval_orders(rank)
        with open(f"{folder}/rank{rank}.pkl", "wb") as f:
            pickle.dump(out, f)
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    torch.multiprocessing.spawn(_worker, args=(2, str(folder)), nprocs=2, join=True)
    out = []
    for r in range(2):
        with open(folder / f"rank{r}.pkl", "rb") as f:
            out.append(pickle.load(f))
    return out


def _union(per_rank: list[list]) -> list:
    """Concatenate the ranks' blocks step by step (batches are at even positions, per-skill means at odd ones)."""
    out = []
    for j, items in enumerate(zip(*per_rank)):
        if j % 2 == 0:
            out.append([i for block in items for i in block])
        else:
            assert all(x == items[0] for x in items), "every rank must compute the same global per-skill means"
            out.append(items[0])
    return out


def test_two_processes_equal_one_process_on_the_same_global_batch(ranks):
    single = _propose_run(1, 0)
    r0, r1 = ranks[0]["propose"], ranks[1]["propose"]
    assert (r0["local"], r1["local"]) == (4, 3), "batch 7 over 2 ranks: the first rank takes the extra example"
    assert _union([r0["batches"], r1["batches"]]) == single["batches"], "the ranks' blocks are the single batch"
    for r in (r0, r1):
        assert r["history"] == single["history"], "one global mixture per step, logged the same everywhere"
        assert states_equal(r["teacher"], single["teacher"]), "every replica of the teacher equals one process's"
        assert states_equal(r["sampler"], single["sampler"])
        assert r["refills"] == single["refills"] and single["refills"][0] > 0, "the small pool refilled everywhere"


def test_the_ranks_draw_disjoint_examples_within_a_pass(ranks):
    skills = _skills()
    union = [b0 + b1 for b0, b1 in zip(ranks[0]["propose"]["batches"][0::2], ranks[1]["propose"]["batches"][0::2])]
    for s in range(4):
        members = np.flatnonzero(skills == s)
        drawn = [i for batch in union for i in batch if skills[i] == s]  # slot order = the order of the pool
        for start in range(0, len(drawn) - len(members) + 1, len(members)):
            chunk = drawn[start:start + len(members)]
            assert sorted(chunk) == members.tolist(), "each pass over a skill gives each example to exactly one rank"


def test_mixture_mode_and_dataloader_under_two_processes(ranks):
    single = _mixture_run(1, 0)
    for r in (0, 1):
        got = ranks[r]["mixture"]
        assert got["history"] == single["history"]
        assert states_equal(got["teacher"], single["teacher"]) and states_equal(got["sampler"], single["sampler"])
    joined = [b0 + b1 for b0, b1 in zip(ranks[0]["mixture"]["batches"], ranks[1]["mixture"]["batches"])]
    assert joined == single["batches"] and all(len(b) == 3 for b in ranks[1]["mixture"]["batches"])


def test_every_rank_resumes_exactly_from_one_state(ranks):
    for r in (0, 1):
        whole, resumed = ranks[r]["propose"], ranks[r]["resumed"]
        assert resumed["batches"] == whole["batches"][10:], "steps 5..9 replayed from the step-5 state"
        assert states_equal(resumed["teacher"], whole["teacher"]) and states_equal(resumed["sampler"], whole["sampler"])
    # the state is global: rank 0's and rank 1's checkpoints are the same, and equal the single process's
    assert states_equal(ranks[0]["propose"]["saved"], ranks[1]["propose"]["saved"])
    assert states_equal(ranks[0]["propose"]["saved"], _propose_run(1, 0)["saved"])


def test_one_ranks_bad_input_raises_on_every_rank_and_records_nothing(ranks):
    r0, r1 = ranks[0]["refusals"], ranks[1]["refusals"]
    assert "NaN" in r1["nan"] and "rank 1 refused" in r0["nan"]
    assert "rank 1" in r0["eval"] and "rank 1" in r1["eval"]
    assert r0["unchanged"] and r1["unchanged"] and r0["after"] and r1["after"]
    assert "seed" in r0["seed"] and "ranks disagree" in r1["seed"]


def test_the_same_metrics_in_another_key_order_on_one_rank_are_observed_alike_on_every_rank(ranks):
    # before: refused on both ranks as "observe_eval got other metrics on rank 1 than on rank 0"
    r0, r1 = ranks[0]["eval_orders"], ranks[1]["eval_orders"]
    assert "error" not in r0 and "error" not in r1, r0.get("error")
    teacher = mg.make_teacher("skill-it", mg.Discrete(NAMES), seed=3)
    SkillSampler(_skills(), teacher, batch_size=4, seed=0, distributed=False).observe_eval({"a": 0.2, "c": 0.9, 3: 0.4})
    assert teacher.n_observed == 3
    for r in (r0, r1):  # both replicas as one process told the metrics in rank 0's order
        assert states_equal(r["teacher"], teacher.state_dict())
    assert r0["next"] != r1["next"] and len(r0["next"] + r1["next"]) == 4  # (each rank's own block)


def test_a_bad_input_to_the_constructor_on_one_rank_raises_on_every_rank(ranks):
    # before: the rank with the bad input raised before the set-up collective, which the others had entered: they
    # waited in it (or paired it with that rank's next collective), so a typo on one rank hung the whole job
    r0, r1 = ranks[0]["bad_builds"], ranks[1]["bad_builds"]
    assert "outside" in r1["skills"] and "rank 1 refused" in r0["skills"] and "outside" in r0["skills"]
    assert "world size" in r1["batch"] and "rank 1 refused" in r0["batch"]
    assert "rank 1 refused" in r0["stream"] and "rank 1" not in r1["stream"]
    assert r0["after"] == r1["after"] == 2  # the ranks are still in step


def test_a_process_outside_the_group_it_passes_is_refused(ranks):
    r0, r1 = ranks[0]["bad_builds"], ranks[1]["bad_builds"]
    assert r0["outside True"] == 4 and r0["outside None"] == 4  # rank 0, alone in its group: the whole batch
    for distributed in (True, None):
        assert "not in the group passed as group=" in r1[f"outside {distributed}"]


def test_rank_slices_cover_the_batch_in_order():
    for batch, world in [(7, 2), (8, 4), (5, 5), (10, 3)]:
        cuts = [rank_slice(batch, world, r) for r in range(world)]
        assert cuts[0][0] == 0 and cuts[-1][1] == batch
        assert all(a[1] == b[0] for a, b in zip(cuts, cuts[1:]))
        sizes = [hi - lo for lo, hi in cuts]
        assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_a_launched_rank_without_a_process_group_is_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")  # what torchrun and accelerate launch set
    with pytest.raises(ConfigError, match="init_process_group"):
        SkillSampler(_skills(), [1, 1, 1, 1], batch_size=4, seed=0)
    with pytest.raises(ConfigError, match="init_process_group"):
        SkillStream([[1], [2], [3], [4]], [1, 1, 1, 1], batch_size=4, seed=0)
    assert SkillSampler(_skills(), [1, 1, 1, 1], batch_size=4, seed=0, distributed=False).world_size == 1


def test_single_process_settings_are_checked():
    with pytest.raises(ConfigError, match="process group"):
        SkillSampler(_skills(), [1, 1, 1, 1], batch_size=4, distributed=True)
    with pytest.raises(ConfigError, match="distributed"):
        SkillSampler(_skills(), [1, 1, 1, 1], batch_size=4, distributed="yes")
    assert fingerprint({"a": np.arange(3)}) != fingerprint({"a": np.arange(3.0)})
    assert fingerprint({"a": [1, 2], "b": 0}) == fingerprint({"b": 0, "a": [1, 2]})


def test_streams_under_two_processes_equal_one_process_and_resume(ranks):
    for key, kwargs in (("stream", {}), ("stream_stop", {"steps": 100, "on_exhausted": "stop"})):
        single = _stream_run(1, 0, **kwargs)
        r0, r1 = ranks[0][key], ranks[1][key]
        assert [b0 + b1 for b0, b1 in zip(r0["batches"], r1["batches"])] == single["batches"], key
        assert [len(b) for b in r0["batches"]] == [3] * len(single["batches"]), "batch 5: 3 items on rank 0, 2 on 1"
        for r in (r0, r1):
            assert r["history"] == single["history"] and r["ended"] == single["ended"]
            assert states_equal(r["teacher"], single["teacher"]) and states_equal(r["stream"], single["stream"])
    assert ranks[0]["stream_stop"]["ended"] and len(ranks[0]["stream_stop"]["batches"]) == (4 + 9 + 7 + 13) // 5
    for r in (0, 1):
        assert ranks[r]["stream_resumed"]["batches"] == ranks[r]["stream"]["batches"][4:]
        assert states_equal(ranks[r]["stream_resumed"]["teacher"], ranks[r]["stream"]["teacher"])


def _as_rank0_of_two(monkeypatch, other_digest):
    """No processes: rank 0 of a pretend group of two whose rank 1 built the set-up that hashes to other_digest."""
    from magister.data import mixing
    from magister.data.distributed import RankGroup

    class Pretend(RankGroup):
        def __init__(self):
            self.group, self.rank, self.world_size = None, 0, 2

        def exchange(self, payload, error=None):
            if error is not None:
                raise error
            return [payload, other_digest]

    monkeypatch.setattr(mixing, "resolve_group", lambda distributed, group: Pretend())


def test_the_set_up_check_covers_the_loss_rule_and_the_skill_names(monkeypatch):
    # before: ranks built with loss_score="exp" and "running" (or one skill mapping in another order) passed the
    # set-up check, then told their teachers other scores for the same losses: replicas diverged without a word
    def sampler(loss_score, distributed=False):
        teacher = mg.make_teacher("exp3", mg.Discrete(NAMES), seed=0)
        return SkillSampler(_skills(), teacher, batch_size=4, seed=1, loss_score=loss_score, distributed=distributed)

    def stream(order, distributed=False):
        sources = {name: range(10 * i, 10 * i + 10) for i, name in enumerate(NAMES)}
        return SkillStream({k: sources[k] for k in order}, [4, 3, 2, 1], batch_size=4, seed=0,
                           distributed=distributed)

    cases = [(lambda d: sampler("exp", d), lambda d: sampler("running", d)),
             (lambda d: sampler(mg.ScoreRange(0, 5, higher_is_better=False), d),
              lambda d: sampler(mg.ScoreRange(0, 9, higher_is_better=False), d)),
             (lambda d: stream(NAMES, d), lambda d: stream(NAMES[::-1], d))]
    for mine, theirs in cases:
        monkeypatch.undo()
        same, other = (fingerprint(f(False)._setup_fingerprint()) for f in (mine, theirs))
        _as_rank0_of_two(monkeypatch, other)
        with pytest.raises(ConfigError, match="ranks disagree on the set-up"):
            mine(None)
        _as_rank0_of_two(monkeypatch, same)
        assert mine(None).world_size == 2  # the same set-up on both ranks still passes
