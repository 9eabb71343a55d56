"""Continual learners and the task-sequence teachers (issue 18)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import magister as mg
from magister.continual import (MLPLearner, SimulatedPerson, digits, final_accuracy, forgetting, learning_curve,
                                run_order, run_teacher, synthetic)
from magister.errors import CheckpointError, ConfigError
from magister.spaces import Discrete
from magister.checkpoint import states_equal
from magister.teacher import from_state_dict
from magister.testing import check_teacher
from magister.teachers.continual_order import class_similarity, order_score, rank_orders

# tasks 0-2 alike, 3-4 alike, 5 unlike everything
BLOCKS = np.array([
    [1.0, 0.9, 0.9, 0.1, 0.1, 0.0],
    [0.9, 1.0, 0.9, 0.1, 0.1, 0.0],
    [0.9, 0.9, 1.0, 0.1, 0.1, 0.0],
    [0.1, 0.1, 0.1, 1.0, 0.8, 0.0],
    [0.1, 0.1, 0.1, 0.8, 1.0, 0.0],
    [0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
])


# ------------------------------------------------------------------ data and metrics
def test_digits_split_is_stratified_and_offline() -> None:
    d = digits(np.random.default_rng(0))
    assert d.k == 10 and d.dim == 64
    assert set(np.unique(d.y_test)) == set(range(10))
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    share = np.bincount(d.y_test) / (np.bincount(d.y_test) + np.bincount(d.y_train))
    assert np.allclose(share, 0.3, atol=0.02)


def test_synthetic_similarity_controls_how_alike_classes_are() -> None:
    def within_minus_between(s: float) -> float:
        d = synthetic(np.random.default_rng(1), k=8, groups=4, similarity=s, dim=30)
        sim = class_similarity(d.x_train, d.y_train)
        group = np.arange(8) % 4
        same = (group[:, None] == group[None, :]) & ~np.eye(8, dtype=bool)
        return float(sim[same].mean() - sim[~same & ~np.eye(8, dtype=bool)].mean())

    assert within_minus_between(0.9) > within_minus_between(0.3) + 0.3
    with pytest.raises(ConfigError, match="groups"):
        synthetic(np.random.default_rng(0), k=3, groups=4)
    with pytest.raises(ConfigError, match="similarity"):
        synthetic(np.random.default_rng(0), similarity=1.0)


def test_confusion_similarity_is_symmetric_and_ranks_look_alikes_higher() -> None:
    d = synthetic(np.random.default_rng(4), k=6, groups=3, similarity=0.9, n_train=40)
    conf = class_similarity(d.x_train, d.y_train, kind="confusion")
    assert np.allclose(conf, conf.T) and np.all(np.diag(conf) > 0.2)
    group = np.arange(6) % 3
    off = ~np.eye(6, dtype=bool)
    same = (group[:, None] == group[None, :]) & off
    assert conf[same].min() > conf[off & ~same].max()
    with pytest.raises(ConfigError, match="kind"):
        class_similarity(d.x_train, d.y_train, kind="euclid")


def test_metrics_on_a_hand_made_matrix() -> None:
    nan = np.nan
    acc = np.array([[0.9, nan, nan], [0.5, 0.8, nan], [0.7, 0.4, 1.0]])
    assert final_accuracy(acc) == pytest.approx((0.7 + 0.4 + 1.0) / 3)
    assert forgetting(acc) == pytest.approx(((0.9 - 0.7) + (0.8 - 0.4)) / 2)  # the last task is left out
    assert np.allclose(learning_curve(acc), [0.9, 0.65, 0.7])
    assert forgetting(acc[:1]) == 0.0
    with pytest.raises(ValueError, match="phases, tasks"):
        final_accuracy(np.zeros(3))


# ------------------------------------------------------------------ learners
def _separated(k: int = 4):
    return synthetic(np.random.default_rng(2), k=k, groups=2, similarity=0.5, n_train=60, n_test=60)


def test_network_forgets_without_replay_and_replay_keeps_old_classes() -> None:
    d = _separated()
    bare = run_order(MLPLearner(d.dim, d.k, np.random.default_rng(0)), d, range(d.k))
    kept = run_order(MLPLearner(d.dim, d.k, np.random.default_rng(0), memory=40, replay=10), d, range(d.k))
    assert bare.acc[0, 0] > 0.9  # one pass learns a class
    assert bare.forgetting > 0.6 and kept.forgetting < bare.forgetting - 0.2
    assert kept.final_accuracy > bare.final_accuracy + 0.15
    assert bare.replayed == 0 and kept.replayed > 0
    assert all(len(v) <= 40 // d.k for v in kept_buffer(d).values())


def kept_buffer(d):
    learner = MLPLearner(d.dim, d.k, np.random.default_rng(0), memory=40, replay=10)
    for c in range(d.k):
        learner.learn(d.class_train(c), c)
    return learner.buffer


def test_rehearsal_weights_choose_what_is_replayed() -> None:
    d = _separated(3)
    learner = MLPLearner(d.dim, d.k, np.random.default_rng(0), memory=30, replay=8)
    learner.learn(d.class_train(0), 0)
    learner.learn(d.class_train(1), 1)
    _, ys = learner._replay_batch({0: 0.0, 1: 1.0}, 8)
    assert set(ys.tolist()) == {1}
    assert learner.learn(d.class_train(2), 2, replay=0) == 0
    with pytest.raises(ConfigError, match="class"):
        learner.learn(d.class_train(0), 7)
    with pytest.raises(ConfigError, match="Generator"):
        MLPLearner(4, 2, 0)  # type: ignore[arg-type]


def test_simulated_person_forgets_and_similar_classes_interfere() -> None:
    alike = SimulatedPerson(BLOCKS, np.random.default_rng(0), replay=0)
    run = run_order(alike, None, [5, 0, 1, 2, 3, 4])
    assert run.acc[0, 5] > run.acc[-1, 5]  # recall fades over the days
    # class 0 is followed by its look-alikes 1 and 2; class 5 by nothing like it
    assert run.acc[-1, 0] < run.acc[-1, 5] * (1 - 0.3 * 0.5)
    reviewed = run_order(SimulatedPerson(BLOCKS, np.random.default_rng(0), replay=3), None, [5, 0, 1, 2, 3, 4])
    assert reviewed.final_accuracy > run.final_accuracy and reviewed.replayed == 15
    with pytest.raises(ConfigError, match="square"):
        SimulatedPerson(np.ones((2, 3)), np.random.default_rng(0))


# ------------------------------------------------------------------ designer
def test_interference_rule_puts_the_isolated_task_last_and_ranks_best_first() -> None:
    ranking = rank_orders(BLOCKS, "interference", n_candidates=20, rng=np.random.default_rng(0))
    best, score = ranking[0]
    assert best[-1] == 5
    assert sorted(best) == list(range(6))
    scores = [s for _, s in ranking]
    assert scores == sorted(scores, reverse=True)
    assert score >= order_score([0, 1, 2, 3, 4, 5], BLOCKS, "interference")
    assert score > order_score([5, 3, 4, 0, 1, 2], BLOCKS, "interference")


def test_retention_rule_teaches_crowded_tasks_late_but_not_last() -> None:
    # a task taught early is rehearsed through every later phase; a crowded task (alike to many) keeps
    # little of that, so the rule spends the early places on the less crowded pair 3-4
    best = rank_orders(BLOCKS, "retention", n_candidates=20, rng=np.random.default_rng(0))[0][0]
    assert best[-1] == 5 and set(best[:2]) == {3, 4} and set(best[2:5]) == {0, 1, 2}
    crowded_first, crowded_late = [0, 1, 2, 3, 4, 5], [3, 4, 0, 1, 2, 5]
    assert order_score(crowded_late, BLOCKS) > order_score(crowded_first, BLOCKS)
    # without its exposure term the rule is the interference rule, which prefers the crowded tasks first
    assert order_score(crowded_late, BLOCKS, exposure=0.0) == pytest.approx(
        order_score(crowded_late, BLOCKS, "interference"))
    assert order_score(crowded_first, BLOCKS, "interference") > order_score(crowded_late, BLOCKS, "interference")


def test_cd_rule_chains_similar_tasks() -> None:
    best = rank_orders(BLOCKS, "cd", n_candidates=20, rng=np.random.default_rng(0))[0][0]
    chain = [BLOCKS[a, b] for a, b in zip(best[:-1], best[1:])]
    assert np.mean(chain) > np.mean(BLOCKS[~np.eye(6, dtype=bool)])  # consecutive tasks alike, more than on average
    given = rank_orders(BLOCKS, "cd", orders=[[5, 0, 3, 1, 4, 2], [0, 1, 2, 3, 4, 5]])
    assert given[0][0] == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("bad, match", [
    ({"similarity": np.ones((2, 2)).tolist()}, "matrix"),
    ({"similarity": [[1, 0, 0], [0.5, 1, 0], [0, 0, 1]]}, "symmetric"),
    ({"rule": "alphabetical"}, "rule"),
    ({"decay": 0.0}, "decay"),
    ({"exposure": -1.0}, "exposure"),
])
def test_designer_refuses_bad_settings(bad, match) -> None:
    kwargs = {"similarity": np.eye(3).tolist(), **bad}
    with pytest.raises(ConfigError, match=match):
        mg.make_teacher("continual-designer", Discrete(3), **kwargs)
    with pytest.raises(ConfigError, match="order"):
        rank_orders(np.eye(3), orders=[[0, 0, 1]])


def test_designer_teaches_its_plan_then_reviews_the_weakest() -> None:
    t = mg.make_teacher("continual-designer", Discrete(6), similarity=BLOCKS.tolist(), seed=0)
    taught = []
    for _ in range(6):
        task = t.propose()
        taught.append(task)
        t.observe_batch(taught, [0.9] * (len(taught) - 1) + [0.5])
    assert taught == t.plan and taught[-1] == 5
    reviews = t.propose(200)
    assert np.bincount(reviews, minlength=6).argmax() == 5  # the weakest is reviewed most
    p = np.array(t.beliefs()["probability"])
    assert p.argmax() == 5 and p.sum() == pytest.approx(1.0)
    fresh = mg.make_teacher("continual-designer", Discrete(6), similarity=BLOCKS.tolist(), seed=0)
    assert np.array(fresh.beliefs()["probability"])[fresh.plan[0]] == 1.0
    blind = mg.make_teacher("continual-designer", Discrete(4), seed=0)
    blind.observe(2, 0.5)
    assert blind.beliefs()["probability"] == pytest.approx([1 / 3, 1 / 3, 0.0, 1 / 3])


# ------------------------------------------------------------------ online teacher
def test_online_teacher_paces_its_budget_and_never_overspends() -> None:
    d = synthetic(np.random.default_rng(3), k=6, groups=3, n_train=30, n_test=30)
    sim = class_similarity(d.x_train, d.y_train)
    teacher = mg.make_teacher("continual-order", Discrete(6), similarity=sim.tolist(), seed=0)
    res = run_teacher(MLPLearner(d.dim, d.k, np.random.default_rng(0), memory=30, replay=10), d, teacher)
    assert sorted(res.order) == list(range(6))
    assert res.amounts[0] == 0.0 and sum(res.amounts) == pytest.approx(teacher.budget) == pytest.approx(5.0)
    assert teacher.spent == pytest.approx(5.0)
    assert res.amounts[-1] > res.amounts[1]  # little to lose early, most late
    # the amounts are rounded on their running total: exactly the replay uniform rehearsal spends, never more
    uniform = run_order(MLPLearner(d.dim, d.k, np.random.default_rng(0), memory=30, replay=10), d, res.order)
    assert res.replayed == uniform.replayed == 5 * 3 * 10
    assert teacher.rehearsal()["amount"] == 0.0  # nothing left


def test_online_teacher_orders_central_tasks_first_and_rehearses_forgotten_ones() -> None:
    t = mg.make_teacher("continual-order", Discrete(6), similarity=BLOCKS.tolist(), seed=0)
    plan = list(t.propose(6))
    assert plan[0] in (0, 1, 2) and plan[-1] == 5
    held = mg.make_teacher("continual-order", Discrete(6), similarity=BLOCKS.tolist(), seed=0)
    held.observe(0, 1.0)  # task 0 well learned: its look-alikes 1 and 2 would put it at risk
    assert held.propose() == 3
    lost = mg.make_teacher("continual-order", Discrete(6), similarity=BLOCKS.tolist(), seed=0)
    lost.observe(0, 0.0)  # nothing held: the most central task left comes next
    assert lost.propose() == 1
    t.observe_batch([0, 1], [0.9, 0.9])
    t.observe_batch([2, 0, 1], [0.9, 0.2, 0.9])  # task 0 dropped from 0.9 to 0.2
    w = t.rehearsal()["weights"]
    assert set(w) == {0, 1, 2} and w[0] > w[1]


def test_online_teacher_rehearses_what_the_coming_task_resembles() -> None:
    sim = [[1.0, 0.9, 0.1, 0.2], [0.9, 1.0, 0.1, 0.2], [0.1, 0.1, 1.0, 0.6], [0.2, 0.2, 0.6, 1.0]]
    weights = {}
    for focus in (10.0, 0.0):
        t = mg.make_teacher("continual-order", Discrete(4), similarity=sim, focus=focus, seed=0)
        t.observe_batch([0], [0.9])
        t.observe_batch([2, 0], [0.9, 0.9])
        assert t.propose() == 3  # task 1 would put the well-held task 0 at more risk
        weights[focus] = t.rehearsal()["weights"]
    assert weights[10.0][2] == pytest.approx(11 * weights[10.0][0])  # task 3 is like task 2, not like task 0
    assert weights[0.0][2] == weights[0.0][0]
    with pytest.raises(ConfigError, match="focus"):
        mg.make_teacher("continual-order", Discrete(4), similarity=sim, focus=-1.0)


def test_online_teacher_resumes_exactly_mid_sequence(tmp_path: Path) -> None:
    t = mg.make_teacher("continual-order", Discrete(6), similarity=BLOCKS.tolist(), seed=3)
    t.observe_batch([1], [0.8])
    t.observe_batch([0, 1], [0.9, 0.6])
    copy = mg.load(t.save(tmp_path / "t.npz"))
    assert copy.rehearsal() == t.rehearsal() and copy.spent == t.spent
    assert list(copy.propose(8)) == list(t.propose(8))
    bad = t.state_dict()
    bad["algorithm"]["spent"] = -1.0
    with pytest.raises(CheckpointError):
        t.load_state_dict(bad)
    assert list(t.propose(3)) == list(copy.propose(3))


def test_designer_loaded_from_a_checkpoint_does_not_search_its_orders_again(tmp_path: Path, monkeypatch) -> None:
    # before: the order search (about K^3 per candidate, ~19 s at 100 tasks) ran when the teacher was built and again
    # when a checkpoint of it was loaded (magister.load builds the teacher first), though its result is in the run
    import magister.teachers.continual_order as co

    calls: list[int] = []
    real = co.rank_orders
    monkeypatch.setattr(co, "rank_orders", lambda *a, **k: calls.append(1) or real(*a, **k))
    rng = np.random.default_rng(5)
    sim = rng.random((8, 8))
    sim = ((sim + sim.T) / 2).tolist()
    t = mg.make_teacher("continual-designer", Discrete(8), similarity=sim, n_candidates=5, seed=2)
    fresh = t.state_dict()  # saved before any proposal: no plan yet
    first = t.propose()
    t.observe(first, 0.7)
    assert len(calls) == 1 and first == t.plan[0] == t.ranking[0][0][0] and len(calls) == 1
    saved = t.state_dict()
    copy = mg.load(t.save(tmp_path / "t.mg"))
    assert len(calls) == 1  # loaded without searching
    assert states_equal(copy.state_dict(), saved) and copy.plan == t.plan
    assert list(copy.propose(12)) == list(t.propose(12))
    assert states_equal(copy.state_dict(), t.state_dict())
    # a state saved before the plan was known, or by the magister before (state version 1, no plan), searches when
    # the plan is first needed, and goes on as the teacher it was saved from
    old = {**saved, "state_version": 1, "algorithm": {k: v for k, v in saved["algorithm"].items() if k != "plan"}}
    for state in (fresh, old):
        again = from_state_dict(state)
        assert again.state_dict()["algorithm"].keys() == state["algorithm"].keys()
        assert again.plan == t.plan
    assert len(calls) == 3
    # strict=False with other settings: this teacher's own plan, not the saved one
    other = mg.make_teacher("continual-designer", Discrete(8), similarity=sim, rule="cd", n_candidates=5, seed=2)
    other.load_state_dict(saved, strict=False)
    assert other.plan == mg.make_teacher("continual-designer", Discrete(8), similarity=sim, rule="cd",
                                         n_candidates=5).plan
    # a plan that is no order of the tasks is refused, the teacher left as it was
    before = copy.state_dict()
    for bad in ([0, 0, 1, 2, 3, 4, 5, 6], [0, 1]):
        with pytest.raises(CheckpointError, match="plan"):
            copy.load_state_dict({**saved, "algorithm": {**saved["algorithm"], "plan": np.array(bad)}})
    assert states_equal(copy.state_dict(), before)


def test_a_refused_load_with_other_settings_keeps_the_designers_saved_plan() -> None:
    # load_state_dict(strict=False) of a state saved with other settings that is then refused put the teacher's own
    # state back while still reading the loaded settings: the plan was dropped as "saved with other settings", and
    # the refused load changed what the teacher saves (no plan: a resume searched again)
    rng = np.random.default_rng(5)
    sim = rng.random((6, 6))
    sim = ((sim + sim.T) / 2).tolist()
    saved = mg.make_teacher("continual-designer", Discrete(6), similarity=sim, n_candidates=5, seed=2)
    saved.observe(saved.propose(), 0.5)
    state = saved.state_dict()
    t = mg.make_teacher("continual-designer", Discrete(6), similarity=sim, rule="cd", n_candidates=5, seed=2)
    t.observe(t.propose(), 0.5)
    before = t.to_bytes()
    for bad in ({**state["algorithm"], "plan": np.array([0, 0, 1, 2, 3, 4])},
                {**state["algorithm"], "last": "damaged"}):
        with pytest.raises(CheckpointError):
            t.load_state_dict({**state, "algorithm": bad}, strict=False)
        assert t.to_bytes() == before and "plan" in t.state_dict()["algorithm"]


@pytest.mark.parametrize("name", ["continual-designer", "continual-order"])
def test_conformance_with_a_similarity_matrix(name: str) -> None:
    def factory(space, seed):
        rng = np.random.default_rng(space.n)
        s = rng.random((space.n, space.n))
        return mg.make_teacher(name, space, similarity=((s + s.T) / 2).tolist(), seed=seed)

    check_teacher(factory, "discrete", steps=40)


# ------------------------------------------------------------------ benchmark
def test_benchmark_runs_with_a_tiny_budget(tmp_path: Path, capsys) -> None:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "continual_order.py"
    spec = importlib.util.spec_from_file_location("continual_order_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)  # type: ignore[union-attr]
    out = bench.main(["--seeds", "0", "--orders", "3", "--repeats", "1", "--datasets", "synthetic", "--k", "4",
                      "--n-train", "15", "--out", str(tmp_path)])
    text = capsys.readouterr().out
    assert "Spearman" in text and "random: median" in text and "online" in text
    net = out["synthetic"]["net"]
    assert set(net) >= {"designer", "online", "spearman", "online_forgetting_cut"}
    assert 0 <= net["designer"]["pct"][0] <= 100
    assert Path(out["synthetic"]["picture"]).stat().st_size > 0
    assert bench.spearman([1, 2, 3, 4], [10, 20, 30, 25]) == pytest.approx(0.8)
    assert bench.percentile(0.5, [0.1, 0.5, 0.9, 1.0]) == pytest.approx(37.5)


def test_why_benchmark_measures_places_and_the_last_class(capsys) -> None:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "continual_order_why.py"
    spec = importlib.util.spec_from_file_location("continual_order_why", path)
    why = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(why)  # type: ignore[union-attr]
    out = why.main(["--seeds", "10", "--orders", "4", "--repeats", "1", "--datasets", "synthetic", "--k", "4",
                    "--n-train", "15"])
    assert "by place" in capsys.readouterr().out
    by_place = out["synthetic"]["by_place"]
    assert len(by_place) == 4 and all(0.0 <= v <= 1.0 for v in by_place)
    assert 0.0 <= out["synthetic"]["last_share"][0] <= 1.0
    assert why.between_share(np.array([0, 0, 1, 1]), np.array([1.0, 1.0, 3.0, 3.0])) == pytest.approx(1.0)
    assert why.between_share(np.array([0, 1, 0, 1]), np.array([1.0, 1.0, 3.0, 3.0])) == pytest.approx(0.0)


def test_online_teacher_with_a_large_pace_neither_overflows_nor_overspends() -> None:
    # (n + i) ** pace overflowed a float (OverflowError in rehearsal() and in observe) once pace * log10(K) > 308
    for last in (0.9, 0.0):
        t = mg.make_teacher("continual-order", Discrete(12), pace=400.0, seed=0)
        for _ in range(4):
            amount = t.rehearsal()["amount"]
            assert np.isfinite(amount) and 0.0 <= amount <= t.budget
            t.observe(t.propose(), last)
        assert 0.0 <= t.spent <= t.budget


def test_runs_refuse_a_phase_count_or_class_that_is_not_a_whole_number() -> None:
    # phases=0 returned an empty result whose metrics raised a raw ValueError, phases=2.5 ran 2 phases;
    # learn(x, 1.5) trained class 1, learn(x, "x") raised ValueError from int(); run_order([]) likewise
    d = _separated()
    teacher = mg.make_teacher("continual-order", Discrete(d.k), seed=0)
    learner = MLPLearner(d.dim, d.k, np.random.default_rng(0), memory=30, replay=10)
    for phases in (0, -1, 2.5):
        with pytest.raises(ConfigError, match="phases"):
            run_teacher(learner, d, teacher, phases=phases)
    for c in (1.5, "x", -1):
        with pytest.raises(ConfigError, match="class"):
            learner.learn(d.class_train(1), c)
    with pytest.raises(ConfigError, match="order"):
        run_order(learner, d, [])
    with pytest.raises(ConfigError, match="order"):
        run_order(learner, d, [0.5, 1])
    assert learner.seen == [] and learner.replayed == 0
    assert run_teacher(learner, d, teacher, phases=2).acc.shape == (2, d.k)


def test_mlp_memory_is_never_exceeded():
    """``memory`` is the buffer's size in all: fewer slots than classes is refused (an even split would keep one
    example of each class, more than ``memory``), and a valid memory holds after every class."""
    d = synthetic(np.random.default_rng(0), k=6, groups=3, n_train=20, n_test=5, dim=4)
    with pytest.raises(ConfigError, match="memory must be 0 .* at least k=6"):
        MLPLearner(d.dim, d.k, np.random.default_rng(0), memory=3)
    learner = MLPLearner(d.dim, d.k, np.random.default_rng(0), memory=6)
    for c in range(d.k):
        learner.learn(d.class_train(c), c)
        assert sum(len(v) for v in learner.buffer.values()) <= 6
    MLPLearner(d.dim, d.k, np.random.default_rng(0), memory=0)


def test_learners_refuse_bad_rehearsal_and_class_before_changing_anything():
    """An infinite or non-numeric rehearsal weight failed halfway through the pass (numpy's "pvals" error, the
    network already trained on part of it); the person took class 1.5 or "2" as a class."""
    d = synthetic(np.random.default_rng(0), k=4, groups=2, n_train=20, n_test=5, dim=4)
    learner = MLPLearner(d.dim, d.k, np.random.default_rng(0), memory=8)
    learner.learn(d.class_train(0), 0)
    before = (learner.w1.copy(), learner.rng.bit_generator.state, list(learner.seen))
    for bad, needle in (({0: float("inf")}, "weight of class 0 must be a finite number"),
                        ({0: "x"}, "weight of class 0 must be a finite number"),
                        ([1.0, 2.0], "rehearsal must be None or a mapping")):
        with pytest.raises(ConfigError, match=needle):
            learner.learn(d.class_train(1), 1, bad)
        assert np.array_equal(learner.w1, before[0]) and learner.rng.bit_generator.state == before[1]
        assert learner.seen == before[2]
    person = SimulatedPerson(np.eye(4), np.random.default_rng(0))
    for c in (1.5, True, "2"):
        with pytest.raises(ConfigError, match="class must be a whole number"):
            person.learn(None, c)
    with pytest.raises(ConfigError, match="weight of class 0 must be a finite number"):
        person.learn(None, 1, {0: float("nan")})
    assert person.seen == [] and person.day == 0
    person.learn(None, 1.0, {0: -1.0})  # a whole float is a class; negative weights count as 0, as before
    assert person.seen == [1]


def test_a_test_share_that_leaves_a_class_no_training_example_is_refused() -> None:
    # 0.998 of each digit class (174-183 examples) rounds up to the whole class: nothing left to learn from
    with pytest.raises(ConfigError, match="test_share"):
        digits(np.random.default_rng(0), test_share=0.998)


def test_person_reviews_all_fall_within_their_day() -> None:
    from magister.people.events import DAY

    person = SimulatedPerson(BLOCKS[:3, :3], np.random.default_rng(0), replay=3000)  # more than a minute apart fit
    person.learn(None, 0)
    person.learn(None, 1)
    last_review = max(card[2] for card in person.memory.cards.values())
    assert last_review < person.day * DAY - 1.0  # before the accuracy is measured and before the next day's study
    assert person.evaluate()[0] < 1.0  # measured after the reviews, so some recall has faded


def test_run_teacher_never_hands_out_more_replay_than_the_budget() -> None:
    d = synthetic(np.random.default_rng(0), k=3, groups=1, n_train=10, n_test=10)  # one minibatch a phase
    teacher = mg.make_teacher("continual-order", Discrete(3), budget=0.35, seed=0)
    res = run_teacher(MLPLearner(d.dim, d.k, np.random.default_rng(1), memory=3, replay=10), d, teacher)
    assert sum(res.amounts) == pytest.approx(0.35)
    assert res.replayed <= 0.35 * 10  # 3.5 examples' worth: 3, not 4


def test_forgetting_counts_a_task_that_improved_as_a_negative_drop() -> None:
    nan = np.nan
    # task 0 peaks at 0.5 before the last phase and ends at 0.9: Chaudhry et al.'s forgetting is 0.5 - 0.9
    assert forgetting(np.array([[0.5, nan], [0.9, 0.8]])) == pytest.approx(-0.4)
    acc = np.array([[0.9, nan, nan], [0.5, 0.8, nan], [0.7, 0.9, 1.0]])
    assert forgetting(acc) == pytest.approx(((0.9 - 0.7) + (0.8 - 0.9)) / 2)


def test_class_similarity_refuses_labels_outside_its_classes() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((60, 4)), np.repeat(np.arange(6), 10)
    with pytest.raises(ConfigError, match="labels"):
        class_similarity(x, y, k=3, kind="confusion")  # classes 3-5 would silently share the kernel
    with pytest.raises(ConfigError, match="labels"):
        class_similarity(x, y - 1)  # class -1 would silently be dropped
    assert class_similarity(x, y, k=6).shape == (6, 6)


@pytest.mark.parametrize("name", ["continual_order.py", "continual_order_why.py"])
def test_benchmarks_refuse_zero_repeats(name: str, capsys) -> None:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / name
    spec = importlib.util.spec_from_file_location(name[:-3] + "_repeats", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)  # type: ignore[union-attr]
    with pytest.raises(SystemExit):  # was an IndexError or NaNs after the runs
        bench.main(["--seeds", "0", "--orders", "2", "--repeats", "0", "--datasets", "synthetic", "--k", "4",
                    "--n-train", "10"])
    assert "--repeats" in capsys.readouterr().err


def test_data_sets_refuse_a_seed_for_a_generator() -> None:
    for make in (digits, synthetic):
        with pytest.raises(ConfigError, match="Generator"):
            make(0)  # type: ignore[arg-type]  (was an AttributeError from deep inside)


@pytest.mark.parametrize("bad, needle", [(["--out", "FILE"], "is a file"), (["--seeds", "-1"], "--seeds")])
def test_continual_order_refuses_a_file_out_and_negative_seeds_before_any_run(tmp_path, capsys, monkeypatch, bad,
                                                                              needle) -> None:
    # an --out that is a file failed after the first data set's runs; --seeds -1 inside the first run
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "continual_order.py"
    spec = importlib.util.spec_from_file_location("continual_order_out", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)  # type: ignore[union-attr]
    monkeypatch.setattr(bench, "run_one", lambda *a: pytest.fail("a run started"))
    (tmp_path / "FILE").write_text("not a folder")
    bad = [str(tmp_path / "FILE") if b == "FILE" else b for b in bad]
    with pytest.raises(SystemExit) as e:
        bench.main(["--seeds", "0", "--orders", "2", "--repeats", "1", "--datasets", "synthetic", "--k", "4",
                    "--n-train", "10", "--out", str(tmp_path / "out"), *bad])
    assert e.value.code == 2 and needle in capsys.readouterr().err.split("error:", 1)[1]


def test_learner_refuses_non_finite_examples_and_rehearsal_keys_that_are_no_class() -> None:
    # one NaN feature made every weight NaN (every later prediction the first class learned); a weight keyed "0"
    # or by a class the learner does not have was silently ignored (the replay went uniform instead)
    d = synthetic(np.random.default_rng(0), k=3, groups=1, n_train=20, n_test=5, dim=4)
    learner = MLPLearner(d.dim, d.k, np.random.default_rng(0), memory=6, replay=2)
    learner.learn(d.class_train(0), 0)
    before = (learner.w1.copy(), learner.rng.bit_generator.state, list(learner.seen))
    x = d.class_train(1).copy()
    x[3, 2] = np.nan
    with pytest.raises(ConfigError, match="non-finite feature in example 3"):
        learner.learn(x, 1)
    for bad in ({"0": 1.0}, {3: 1.0}, {True: 1.0}, {-1: 1.0}):
        with pytest.raises(ConfigError, match="keyed by class number 0..2"):
            learner.learn(d.class_train(1), 1, bad)
    assert np.array_equal(learner.w1, before[0]) and learner.rng.bit_generator.state == before[1]
    assert learner.seen == before[2]
    person = SimulatedPerson(np.eye(3), np.random.default_rng(0))
    with pytest.raises(ConfigError, match="keyed by class number"):
        person.learn(None, 0, {"1": 1.0})
    assert person.seen == [] and person.day == 0
    learner.learn(d.class_train(1), 1, {np.int64(0): 1.0, 2: 0.5})  # a class not learned yet may have a weight
    with pytest.raises(ConfigError, match=r"predict\(\) needs an \(n, 4\) array"):
        learner.predict(d.x_test[:, :2])  # was numpy's matmul error


def test_runs_report_their_own_replay_and_refuse_a_teacher_with_more_tasks_than_the_learner() -> None:
    d = synthetic(np.random.default_rng(0), k=4, groups=2, n_train=20, n_test=5, dim=4)
    learner = MLPLearner(d.dim, d.k, np.random.default_rng(0), memory=8, replay=2)
    first = run_order(learner, d, [0, 1])
    second = run_order(learner, d, [2, 3])  # reported the first run's replay too
    assert first.replayed + second.replayed == learner.replayed and second.replayed == 2 * 2 * 2
    third = run_teacher(learner, d, mg.make_teacher("continual-order", Discrete(4), seed=0), phases=1)
    assert third.replayed == learner.replayed - first.replayed - second.replayed
    # a teacher over 6 tasks failed at the first task beyond the learner's 4, after training both on the others
    learner = MLPLearner(d.dim, d.k, np.random.default_rng(0), memory=8, replay=2)
    teacher = mg.make_teacher("continual-order", Discrete(6), seed=0)
    with pytest.raises(ConfigError, match="6 tasks but the learner has 4 classes"):
        run_teacher(learner, d, teacher)
    assert learner.seen == [] and teacher.n_proposed == 0


@pytest.mark.parametrize("order, match", [
    ([0, 0, 1, 2, 3, 4], "each exactly once"),  # was scored as if it were an order
    ([0, 1, 2], "each exactly once"),
    ([0, 1, 2, 3, 4, 6], "each exactly once"),
])
def test_order_score_refuses_what_is_not_an_order_of_every_task(order, match) -> None:
    with pytest.raises(ConfigError, match=match):
        order_score(order, BLOCKS)
    with pytest.raises(ConfigError, match="symmetric"):
        order_score([0, 1], [[1.0, 0.2], [0.5, 1.0]])
    with pytest.raises(ConfigError, match="rule"):
        order_score([0, 1, 2, 3, 4, 5], BLOCKS, "nope")
    assert order_score(np.arange(6), BLOCKS, "cd") == rank_orders(BLOCKS, "cd", orders=[list(range(6))])[0][1]


# ------------------------------------------------------------------ bad input named (session 25)
@pytest.mark.parametrize("build", [
    lambda s: mg.make_teacher("continual-order", Discrete(3), similarity=s),
    lambda s: mg.make_teacher("continual-designer", Discrete(3), similarity=s),
    lambda s: order_score([0, 1, 2], s),
    lambda s: rank_orders(s),
    lambda s: SimulatedPerson(s, np.random.default_rng(0)),
])
def test_a_non_finite_similarity_is_named_not_its_shape(build):
    """A NaN entry was refused with "similarity must be a finite (3, 3) matrix ...; got shape (3, 3)": the shape
    it named was right and the NaN was not named."""
    s = np.eye(3)
    s[0, 2] = s[2, 0] = np.nan
    with pytest.raises(ConfigError, match=r"similarity must be finite; S\[0, 2\] is nan: fill it"):
        build(s.tolist())


@pytest.mark.parametrize("call, words", [
    (lambda: order_score([0, 1, 2], "x"), "similarity must be a square matrix of numbers"),  # raw len() TypeError
    (lambda: rank_orders(5.0), r"got shape \(\)"),
    (lambda: SimulatedPerson("eye", np.random.default_rng(0)), "similarity must be a square matrix of numbers"),
    (lambda: rank_orders(BLOCKS, rng=0), r"rng must be a numpy Generator \(np.random.default_rng\(seed\)\)"),
    (lambda: class_similarity(np.zeros((4, 2)), ["a", "b", "a", "b"]), "labels must be the class numbers.*'a'"),
    (lambda: class_similarity(np.array([[0.0, 1.0], [np.nan, 1.0]]), np.array([0, 1])),
     "non-finite feature in example 1"),
    (lambda: forgetting([0.5, 0.6]), r"accuracy matrix is \(phases, tasks\)"),
    (lambda: final_accuracy([]), r"accuracy matrix is \(phases, tasks\)"),
    (lambda: learning_curve([["a"]]), "array of numbers"),
    # final_accuracy and learning_curve gave inf, while forgetting left the task out as not taught
    (lambda: final_accuracy([[0.5, np.nan], [np.inf, 0.5]]), r"holds finite accuracies .*acc\[1, 0\] is inf"),
    (lambda: learning_curve([[0.5, -np.inf]]), r"acc\[0, 1\] is -inf"),
    (lambda: forgetting([[0.9, 0.5], [0.5, np.inf]]), r"acc\[1, 1\] is inf"),
])
def test_public_helpers_refuse_bad_input_with_a_config_error(call, words):
    """Each raised a raw TypeError, AttributeError, numpy UFuncTypeError or a plain ValueError (the metrics), or, for
    NaN features, returned a NaN similarity that the teacher then refused as if its shape were wrong."""
    with pytest.raises(ConfigError, match=words):
        call()


@pytest.mark.parametrize("acc, where", [
    ([["0.5"]], r"acc\[0, 0\] is '0.5'"),
    ([[0.5, "0.25"], [0.5, 0.5]], r"acc\[0, 1\] is '0.25'"),  # (numpy makes the whole list text)
    (np.array([["0.5", "0.5"]]), r"acc\[0, 0\] is '0.5'"),
    ([[0.5, b"0.5"]], r"acc\[0, 1\] is b'0.5'"),
    (np.array([[0.5 + 1j]]), r"acc\[0, 0\] is \(0.5\+1j\)"),  # the imaginary part was dropped
    ([[0.5], [np.datetime64("2020-01-01")]], r"acc\[1, 0\] is"),  # its count of days, 18262
])
def test_an_accuracy_matrix_of_text_is_refused_as_a_letter_is(acc, where):
    """[["0.5"]] was read as 0.5 by the three metrics while [["a"]] was refused; text (also bytes, and complex
    numbers or dates, which numpy turned into a number) is refused naming the entry. None is NaN, as before."""
    for metric in (final_accuracy, forgetting, learning_curve):
        with pytest.raises(ConfigError, match="accuracy matrix is an array of numbers .*not text, complex numbers or "
                                              "dates: " + where):
            metric(acc)
    assert final_accuracy([[0.5, None], [0.25, 0.75]]) == 0.5
    assert forgetting([[0.5, None], [0.25, 0.75]]) == 0.25
    assert learning_curve([[0.5, None], [0.25, 0.75]]).tolist() == [0.5, 0.5]


def test_run_teacher_refuses_a_teacher_that_plans_no_rehearsal():
    """run_teacher(learner, data, make_teacher("sec", ...)) trained nothing but failed with a raw AttributeError
    ('SEC' object has no attribute 'rehearsal'); the refusal names the teachers it drives and run_order."""
    data = synthetic(np.random.default_rng(0), k=3, groups=1, n_train=5, n_test=5)
    learner = MLPLearner(data.dim, data.k, np.random.default_rng(0), memory=6, replay=2)
    teacher = mg.make_teacher("sec", Discrete(3), seed=0)
    with pytest.raises(ConfigError, match="needs a task-sequence teacher .*'continual-order'.*got SEC.*run_order"):
        run_teacher(learner, data, teacher)
    assert teacher.n_proposed == 0 and learner.replayed == 0


def test_run_teacher_resumed_from_a_saved_teacher_continues_as_one_run():
    """run_teacher rounded the replay on a running total that restarted at 0 in each call, so a run saved after 3
    of 6 phases and resumed (teacher loaded, learner copied) lost the first call's fractions: 42 replayed examples
    against 45 in one call, and other accuracies. The total now starts from the teacher's `spent`."""
    import pickle

    data = synthetic(np.random.default_rng(0), k=6, groups=2, n_train=30, n_test=30)
    sim = class_similarity(data.x_train, data.y_train, kind="confusion").tolist()

    def fresh():
        return (MLPLearner(data.dim, data.k, np.random.default_rng(1), memory=12, replay=3),
                mg.make_teacher("continual-order", Discrete(6), similarity=sim, seed=0))

    learner, teacher = fresh()
    whole_run = run_teacher(learner, data, teacher, phases=6)
    learner, teacher = fresh()
    first = run_teacher(learner, data, teacher, phases=3)
    second = run_teacher(pickle.loads(pickle.dumps(learner)), data, mg.loads(teacher.to_bytes()), phases=3)
    assert first.order + second.order == whole_run.order
    assert first.amounts + second.amounts == whole_run.amounts
    assert first.replayed + second.replayed == whole_run.replayed == 45
    np.testing.assert_array_equal(np.vstack([first.acc, second.acc]), whole_run.acc)


def test_runs_refuse_data_without_examples_of_a_task_before_training():
    """A learner (and teacher) of 6 classes on data of 4: run_order trained classes 0-3, then failed at class 4 with
    "learn() needs a non-empty (n, 4) array of class 4's examples, got shape (0, 4)", which named neither the data
    nor the fix; run_teacher failed likewise at the first proposal beyond the data's classes, after training and
    telling the teacher about the phases before it."""
    d = synthetic(np.random.default_rng(0), k=4, groups=2, n_train=20, n_test=5, dim=4)
    learner = MLPLearner(d.dim, 6, np.random.default_rng(0), memory=12, replay=2)
    with pytest.raises(ConfigError, match=r"the data has no training examples of class 4 \(its classes are 0..3\)"):
        run_order(learner, d, range(6))
    assert learner.seen == [] and learner.replayed == 0
    teacher = mg.make_teacher("continual-order", Discrete(6), similarity=BLOCKS.tolist(), seed=0)
    with pytest.raises(ConfigError, match=r"no training examples of class 4 .*Discrete\(4\)"):
        run_teacher(learner, d, teacher)
    assert learner.seen == [] and teacher.n_proposed == 0 and teacher.n_observed == 0
    no_test = d.__class__(d.x_train, d.y_train, d.x_test[d.y_test != 2], d.y_test[d.y_test != 2], d.names)
    with pytest.raises(ConfigError, match="no test examples of class 2"):
        run_order(MLPLearner(d.dim, 4, np.random.default_rng(0)), no_test, [2, 0])
    assert run_order(MLPLearner(d.dim, 6, np.random.default_rng(0)), d, [3, 1]).order == [3, 1]  # a subset is fine


def test_runs_name_what_a_learner_of_your_own_lacks():
    """run.py's docstring listed learn, evaluate and replay; a learner written from it failed with a raw
    AttributeError ('Mine' object has no attribute 'replayed')."""

    class Mine:
        replay = 2

        def __init__(self) -> None:
            self.learned: list[int] = []

        def learn(self, x, c, rehearsal=None, replay=None) -> int:
            self.learned.append(c)
            return 0

        def evaluate(self, data) -> np.ndarray:
            out = np.full(3, np.nan)
            out[self.learned] = 0.5
            return out

    d = synthetic(np.random.default_rng(0), k=3, groups=1, n_train=5, n_test=5, dim=4)
    teacher = mg.make_teacher("continual-order", Discrete(3), seed=0)
    for run, needs in ((lambda m: run_order(m, d, [0, 1]), r"run_order needs a learner with learn\(\), evaluate\(\) "
                                                           r"and replayed"),
                       (lambda m: run_teacher(m, d, teacher), r"run_teacher needs a learner with learn\(\), "
                                                              r"evaluate\(\), replayed and replay")):
        mine = Mine()
        with pytest.raises(ConfigError, match=needs + ".*Mine has no replayed"):
            run(mine)
        assert mine.learned == [] and teacher.n_proposed == 0
    Mine.replayed = 0
    del Mine.replay
    assert run_order(Mine(), d, [0, 1]).replayed == 0  # run_order uses no base replay: none needed
    with pytest.raises(ConfigError, match="Mine has no replay$"):
        run_teacher(Mine(), d, teacher)


def test_a_network_learner_given_no_data_is_told_to_pass_the_task_data():
    """run_order(MLPLearner(...), None, order), as for a SimulatedPerson, failed with "learn() needs a non-empty
    (n, 4) array of class 0's examples, got shape ()", which did not say that the data was missing."""
    d = synthetic(np.random.default_rng(0), k=3, groups=1, n_train=5, n_test=5, dim=4)
    learner = MLPLearner(d.dim, d.k, np.random.default_rng(0))
    with pytest.raises(ConfigError, match=r"learn\(\) needs class 0's training examples.*got None.*TaskData"):
        run_order(learner, None, [0, 1])
    learner.learn(d.class_train(0), 0)
    with pytest.raises(ConfigError, match=r"evaluate\(\) needs the TaskData.*got None"):
        learner.evaluate(None)


def test_confusion_similarity_of_many_examples_keeps_memory_near_the_features_and_its_figures():
    """kind="confusion" built every example's difference to every prototype at once, (n, k, d) floats: ten times the
    features (251 MB for 4,000 examples of 784 pixels; 3.8 GB for MNIST's 60,000). It now goes a block of examples
    at a time, with the same arithmetic per entry, so the similarity is the same to the last bit."""
    import tracemalloc

    rng = np.random.default_rng(0)
    x, y = rng.random((4000, 784)), rng.integers(0, 10, 4000)
    tracemalloc.start()
    try:
        got = class_similarity(x, y, kind="confusion")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * x.nbytes + 40e6, peak  # was 10 x the features
    assert got.shape == (10, 10) and np.array_equal(got, got.T)
    # the figures of the one-shot formula, bit for bit (the benchmark's similarities, and so its orders, are unchanged)
    for xs, ys in ((x[:500], y[:500]), (digits(np.random.default_rng(0)).x_train, digits(np.random.default_rng(0)).y_train)):
        protos = np.array([xs[ys == c].mean(axis=0) for c in range(10)])
        d2 = ((xs[:, None, :] - protos[None, :, :]) ** 2).sum(axis=-1)
        d2 = d2 - d2.min(axis=1, keepdims=True)
        t = 3.0 * float(np.median(np.sort(d2, axis=1)[:, 1]))
        p = np.exp(-d2 / t)
        p /= p.sum(axis=1, keepdims=True)
        conf = np.array([p[ys == c].mean(axis=0) for c in range(10)])
        np.testing.assert_array_equal(class_similarity(xs, ys, kind="confusion"), (conf + conf.T) / 2.0)


@pytest.mark.parametrize("name", ["continual-order", "continual-designer"])
@pytest.mark.parametrize("entry", ["best", "last"])
@pytest.mark.parametrize("value", [-0.5, 1.5, np.inf, -np.inf])
def test_a_saved_score_outside_0_1_is_refused_and_nan_is_a_task_not_observed_yet(name, entry, value):
    """-0.5, 1.5 and inf were taken as a task's last or best score (the review weights used them); NaN stays legal:
    a task not observed yet."""
    t = mg.make_teacher(name, Discrete(4), seed=0)
    for i in range(3):
        t.observe(t.propose(), [0.0, 1.0, 0.5][i])
    state = t.state_dict()
    assert np.isnan(state["algorithm"][entry]).sum() == 1  # the task not observed yet
    u = mg.make_teacher(name, Discrete(4), seed=1)
    u.load_state_dict(state)  # scores of exactly 0 and 1, and NaN, are real
    before = u.state_dict()
    broken = state["algorithm"][entry].copy()
    broken[np.flatnonzero(~np.isnan(broken))[0]] = value
    state["algorithm"][entry] = broken
    with pytest.raises(CheckpointError, match=rf"{entry}\[\d\] = -?(0.5|1.5|inf): scores \(on the teacher's \[0, 1\]"):
        u.load_state_dict(state)
    assert states_equal(before, u.state_dict())


def test_metrics_of_phases_with_no_task_taught_yet():
    nan = float("nan")
    acc = [[nan, nan], [0.5, nan]]
    assert np.isnan(final_accuracy([[nan, nan]])), "no task taught: no mean accuracy, not 0"
    curve = learning_curve(acc)
    assert np.isnan(curve[0]) and curve[1] == 0.5
    assert forgetting(acc) == 0.0, "the only task was first taught in the last phase: none qualifies"


def test_forgetting_leaves_out_a_task_with_no_final_accuracy():
    # task 0: best 0.9, final 0.6 (a drop of 0.3); task 1 has no final accuracy and is left out
    assert forgetting([[0.9, 0.7], [0.6, float("nan")]]) == pytest.approx(0.3)


def test_an_accuracy_matrix_without_phases_is_refused():
    for metric in (final_accuracy, forgetting, learning_curve):
        with pytest.raises(ConfigError, match=r"an accuracy matrix is \(phases, tasks\), got shape \(0, 3\)"):
            metric(np.zeros((0, 3)))
