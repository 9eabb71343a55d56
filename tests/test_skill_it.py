"""Skill-It teacher: the update by hand, settings, and the graph from probe runs."""

from __future__ import annotations

import numpy as np
import pytest

import magister as mg
from magister.data.graph import estimate_skill_graph, probe_graph
from magister.errors import ConfigError
from magister.teachers.skill_it import transitive_closure


def test_mixture_matches_the_formula_by_hand():
    graph = [[1.0, 0.5, 0.0], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]]
    t = mg.make_teacher("skill-it", mg.Discrete(["a", "b", "c"]), graph=graph, eta=0.5, window=2, closure=False,
                        seed=0)
    d0 = 0.5 * np.array([1.5, 1.5, 1.0]) * 2  # no evidence yet: every skill at the initial loss 1, window 2
    assert np.allclose(t.beliefs()["probability"], np.exp(d0) / np.exp(d0).sum())
    t.observe("a", 0.9)  # loss 0.1
    t.observe("b", 0.4)  # loss 0.6
    t.observe("b", 0.2)  # loss 0.8
    t.observe("c", 0.5)  # loss 0.5
    t.observe("c", 0.7)  # loss 0.3
    t.observe("c", 0.9)  # loss 0.1 (window 2: the 0.5 falls out)
    L = np.array([2 * 0.1, 0.6 + 0.8, 0.3 + 0.1])  # sums over the window (one loss for "a": twice its mean)
    drive = np.array([L[0] + 0.5 * L[1], L[1] + 0.5 * L[2], L[2]])
    p = np.exp(0.5 * drive) / np.exp(0.5 * drive).sum()
    assert np.allclose(t.beliefs()["probability"], p)
    assert np.allclose(t.beliefs()["loss"], L)
    draws = np.bincount(t.space.index_batch(t.propose(4000)), minlength=3) / 4000
    assert np.abs(draws - p).max() < 0.03


def test_closure_uses_the_transitive_closure_of_the_graph_and_is_off_by_default():
    chain = [[1.0, 0.5, 0.0], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]]
    closed = transitive_closure(chain)
    assert np.allclose(closed, [[1, 0.5, 0.25], [0, 1, 0.5], [0, 0, 1]]), "0 helps 2 through 1: 0.5 * 0.5"
    # the strongest path counts, not the sum over paths; a cycle never feeds the diagonal
    assert np.allclose(transitive_closure([[1, 0.5, 0.1], [0, 1, 0.8], [0, 0, 1]])[0, 2], 0.4)
    assert np.allclose(np.diag(transitive_closure([[0.7, 0.9], [0.9, 0.2]])), [0.7, 0.2])
    assert mg.make_teacher("skill-it", mg.Discrete(3), graph=chain).closure is False
    t = mg.make_teacher("skill-it", mg.Discrete(3), graph=chain, eta=2.0, window=1, closure=True, seed=0)
    direct = mg.make_teacher("skill-it", mg.Discrete(3), graph=closed.tolist(), eta=2.0, window=1, closure=False,
                             seed=0)
    for u in (t, direct):
        u.observe_batch([0, 1, 2], [0.8, 0.3, 0.1])
    assert np.allclose(t.beliefs()["probability"], direct.beliefs()["probability"])
    # skill 0's drive counts skill 2's loss through skill 1: 0.2 + 0.5 * 0.7 + 0.25 * 0.9
    loss = np.array([0.2, 0.7, 0.9])
    assert np.allclose(t.beliefs()["loss"], loss) and t.config()["graph"] == chain
    drive = closed @ loss
    assert drive[0] == pytest.approx(0.2 + 0.35 + 0.225)
    assert np.allclose(t.beliefs()["probability"], np.exp(2 * drive) / np.exp(2 * drive).sum())


def test_target_keeps_only_the_target_columns_and_identity_chases_loss():
    t = mg.make_teacher("skill-it", mg.Discrete(3), graph=[[1, 1, 0], [0, 1, 0], [0, 0, 1]], target=[0, 1, 0],
                        eta=1.0, seed=0)
    t.observe_batch([0, 1, 2], [1.0, 0.0, 0.0])
    p = t.beliefs()["probability"]
    assert p[0] == pytest.approx(p[1]) and p[2] < p[0], "only skill 1's loss counts; skills 0 and 1 both feed it"
    ident = mg.make_teacher("skill-it", mg.Discrete(3), eta=3.0, seed=0)
    ident.observe_batch([0, 1, 2], [0.9, 0.1, 0.5])
    assert np.argmax(ident.beliefs()["probability"]) == 1


def test_bad_settings_are_refused():
    for kwargs in ({"graph": [[1, 0], [0, 1]]}, {"graph": [[1, -1, 0], [0, 1, 0], [0, 0, 1]]},
                   {"eta": float("nan")}, {"window": 0}, {"initial_loss": 2.0}, {"target": [1, 1]}):
        with pytest.raises(ConfigError):
            mg.make_teacher("skill-it", mg.Discrete(3), **kwargs)


def test_closure_must_be_true_or_false():
    # closure="false" (a JSON client, a config file) was read as True, and a service client's nested list was
    # accepted and stored as the setting
    for bad in ("false", 1, [[0]]):
        with pytest.raises(ConfigError, match="closure must be True or False"):
            mg.make_teacher("skill-it", mg.Discrete(3), closure=bad)
    assert mg.make_teacher("skill-it", mg.Discrete(3), closure=np.bool_(True)).closure is True


def test_a_huge_eta_or_graph_gives_probabilities_not_nan():
    # eta 1e308 (accepted: a finite number >= 0) made eta * drive overflow: inf - inf gave NaN probabilities and
    # propose() raised numpy's "probabilities contain NaN"
    chain = [[1.0, 0.5, 0.0], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]]
    for kwargs in ({"eta": 1e308}, {"eta": 1e308, "graph": chain}, {"eta": 1.0, "graph": [[1e308, 1e308, 0],
                                                                                            [0, 1, 0], [0, 0, 1]]},
                   {"eta": 0.0, "graph": [[1e308, 1e308, 0], [0, 1, 0], [0, 0, 1]]}):  # eta 0 * inf: NaN too
        t = mg.make_teacher("skill-it", mg.Discrete(3), seed=0, **kwargs)
        t.observe_batch([0, 1, 2], [0.9, 0.2, 0.5])
        p = np.asarray(t.beliefs()["probability"])
        assert np.isfinite(p).all() and p.sum() == pytest.approx(1.0)
        assert len(t.propose(4)) == 4
        if kwargs["eta"] == 0:
            assert p.tolist() == pytest.approx([1 / 3] * 3), "eta 0 is the uniform mixture"
    greedy = mg.make_teacher("skill-it", mg.Discrete(3), seed=0, eta=1e308)
    greedy.observe_batch([0, 1, 2], [0.9, 0.2, 0.5])
    assert greedy.beliefs()["probability"] == [0.0, 1.0, 0.0], "the limit of a huge step: the highest loss only"


def test_save_and_load_keep_the_graph():
    t = mg.make_teacher("skill-it", mg.Discrete(2), graph=[[1, 0.5], [0, 1]], eta=0.3, seed=0)
    t.observe(1, 0.2)
    u = mg.loads(t.to_bytes())
    assert u.config()["graph"] == [[1, 0.5], [0, 1]] and np.allclose(u.beliefs()["probability"],
                                                                     t.beliefs()["probability"])


class LinearSkills:
    """Three regression skills on shared weights: skill 1's target needs skill 0's weights, skill 2 is separate.

    f0 = u.x, f1 = (u + v).x, f2 = w.x with targets U.x, (U + V).x, W.x: training on skill 0 learns u,
    which is half of skill 1; training on skill 2 helps nothing else.
    """

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.true = rng.normal(size=(3, 6))
        self.true[0] *= 2.0
        u = self.true[0]
        self.true[1] -= (self.true[1] @ u) / (u @ u) * u  # V orthogonal to U: learning u halves skill 1's error
        self.x = rng.normal(size=(256, 6))
        self.params = np.zeros((3, 6))

    def copy(self) -> "LinearSkills":
        c = LinearSkills.__new__(LinearSkills)
        c.true, c.x, c.params = self.true, self.x, self.params.copy()
        return c

    def preds(self, p: np.ndarray) -> list[np.ndarray]:
        return [self.x @ p[0], self.x @ (p[0] + p[1]), self.x @ p[2]]

    def losses(self) -> list[float]:
        targets = self.preds(self.true)
        return [float(np.mean((a - b) ** 2)) for a, b in zip(self.preds(self.params), targets)]

    def train(self, skill: int, steps: int = 30, lr: float = 0.05) -> None:
        u, v, w = self.true
        for _ in range(steps):
            p = self.params
            if skill == 0:
                err = self.x @ p[0] - self.x @ u
                p[0] -= lr * self.x.T @ err / len(err)
            elif skill == 1:
                err = self.x @ (p[0] + p[1]) - self.x @ (u + v)
                g = self.x.T @ err / len(err)
                p[0] -= lr * g
                p[1] -= lr * g
            else:
                err = self.x @ p[2] - self.x @ w
                p[2] -= lr * self.x.T @ err / len(err)


def test_probe_runs_recover_the_known_prerequisite():
    base = LinearSkills(0)
    graph = np.asarray(probe_graph(3, start=base.copy, train_on=lambda m, i: m.train(i),
                                   evaluate=lambda m: m.losses()))
    assert graph[0, 1] > 0.1, "training on skill 0 helps skill 1 (its prerequisite)"
    assert graph[0, 2] == 0 and graph[2, 0] == 0 and graph[2, 1] == 0, "skill 2 is independent"
    assert (np.diag(graph) > 0).all() and graph.max() == pytest.approx(1.0)
    t = mg.make_teacher("skill-it", mg.Discrete(3), graph=graph.tolist(), seed=0)
    assert t.config()["graph"] == graph.tolist()


def test_estimate_checks_its_inputs():
    assert estimate_skill_graph(lambda i: ([1, 1], [1, 1]), 2) == [[1.0, 0.0], [0.0, 1.0]]
    with pytest.raises(ConfigError):
        estimate_skill_graph(lambda i: ([1, 1], [1]), 2)
    with pytest.raises(ConfigError):
        estimate_skill_graph(lambda i: ([1, np.nan], [1, 1]), 2)


def test_a_corrupt_state_is_refused_and_changes_nothing():
    """A saved loss of inf (or outside [0, 1]) was accepted, and the next proposal raised numpy's raw
    "probabilities contain NaN"."""
    t = mg.make_teacher("skill-it", mg.Discrete(3), seed=0)
    for i in range(6):
        t.observe(t.propose(), float(i % 2))
    state, before = t.state_dict(), t.to_bytes()
    for key, value in (("recent", np.inf), ("recent", 1.5), ("recent", -0.5), ("seen", -1)):
        bad = dict(state, algorithm=dict(state["algorithm"]))
        arr = np.array(bad["algorithm"][key], copy=True)
        arr.flat[0] = value
        bad["algorithm"][key] = arr
        with pytest.raises(mg.errors.CheckpointError):
            t.load_state_dict(bad)
        assert t.to_bytes() == before, key
    t.load_state_dict(state)
    assert t.propose() in range(3)


def test_a_skill_never_observed_counts_at_the_initial_loss():
    # L_j is window times the mean of the skill's losses, initial_loss while it has none
    t = mg.make_teacher("skill-it", mg.Discrete(3), eta=1.0, window=2, initial_loss=0.25, seed=0)
    t.observe(0, 0.5)
    assert np.allclose(t.beliefs()["loss"], [2 * 0.5, 2 * 0.25, 2 * 0.25])


def _probes(after_rows, before=(2.0, 1.0, 4.0)):
    return lambda i: (list(before), list(after_rows[i]))


def test_estimated_graph_by_hand():
    # losses before every probe [2, 1, 4]; probe 0 drops them by [1, 0.25, -1], probe 1 by [0.125, 0.5, 0],
    # probe 2 by [0, 0, 2]
    probe = _probes([[1.0, 0.75, 5.0], [1.875, 0.5, 4.0], [2.0, 1.0, 2.0]])
    # relative drops [0.5, 0.25, 0], [0.0625, 0.5, 0], [0, 0, 0.5] (a rise clipped at 0), scaled by the largest
    # (0.5): [1, 0.5, 0], [0.125, 1, 0], [0, 0, 1]; threshold 0.5 drops the 0.125 and keeps the 0.5
    assert estimate_skill_graph(probe, 3, threshold=0.5) == [[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    assert estimate_skill_graph(probe, 3, threshold=0.0) == [[1.0, 0.5, 0.0], [0.125, 1.0, 0.0], [0.0, 0.0, 1.0]]
    # absolute drops [1, 0.25, 0], [0.125, 0.5, 0], [0, 0, 2] scaled by 2; the default threshold 0.1 drops 0.0625
    assert estimate_skill_graph(probe, 3, relative=False) == [[0.5, 0.125, 0.0], [0.0, 0.25, 0.0], [0.0, 0.0, 1.0]]
