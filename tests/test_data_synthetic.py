"""Synthetic skill datasets: labels and skills are right; a tiny model trains through the sampler."""

from __future__ import annotations

import numpy as np
import pytest

import magister as mg
from magister.data import synthetic as syn


def _resolve_lego(tokens: np.ndarray, n_letters: int) -> dict[int, int]:
    """Resolve a clause-token LEGO example by hand: letter -> value (+1/-1)."""
    one, neg = n_letters + 2, n_letters + 1
    clauses = {int(d): (int(op), int(src)) for d, op, src in tokens[:-1]}
    values: dict[int, int] = {}

    def value(v: int) -> int:
        if v not in values:
            op, src = clauses[v]
            base = 1 if src == one else value(src - n_letters - 3)
            values[v] = -base if op == neg else base
        return values[v]

    for v in clauses:
        value(v)
    return values


def _depth(tokens: np.ndarray, letter: int, n_letters: int) -> int:
    one = n_letters + 2
    clauses = {int(d): int(src) for d, _, src in tokens[:-1]}
    depth, v = 0, letter
    while clauses[v] != one:
        v, depth = clauses[v] - n_letters - 3, depth + 1
    return depth


def test_lego_labels_and_skills_are_right():
    data = syn.lego([20, 20, 20, 20, 20], seed=0)
    assert data.inputs.shape == (100, 6, 3) and data.n_skills == 5 and data.n_classes == 2
    assert data.skill_counts().tolist() == [20] * 5
    for x, y, s in zip(data.inputs, data.labels, data.skills):
        q = int(x[-1, 0])
        assert _depth(x, q, 12) == s, "skill = position of the queried variable in the chain"
        assert (_resolve_lego(x, 12)[q] > 0) == bool(y)
    firsts = [tuple(x[:-1, 2].tolist()).index(14) for x in data.inputs]
    assert len(set(firsts)) > 1, "clauses are shuffled"
    assert set(data.labels.tolist()) == {0, 1}
    flat = syn.lego(10, seed=0, clause_tokens=False, shuffle=False)
    assert flat.inputs.shape == (50, 16) and (flat.inputs[:, 2] == 14).all(), "unshuffled: the chain starts first"
    assert data.inputs.max() < data.vocab_size and flat.inputs.max() < flat.vocab_size


def test_addition_labels_and_skills_are_right():
    data = syn.addition([30, 40, 50], seed=1)
    assert data.skill_counts().tolist() == [30, 40, 50] and data.n_classes == 10
    for x, y, s in zip(data.inputs, data.labels, data.skills):
        a = int("".join(map(str, x[:3])))
        b = int("".join(map(str, x[3:6])))
        assert x[6] == 10 + s and y == (a + b) // 10 ** s % 10
    assert data.inputs.max() < data.vocab_size


def test_unlearnable_skill_has_random_labels_and_its_own_marker():
    base = syn.addition(100, seed=0)
    data = syn.with_unlearnable_skill(base, 300, seed=0)
    assert data.skill_names == ["digit0", "digit1", "digit2", "noise"] and data.info["unlearnable"] == 3
    noise = data.skills == 3
    assert noise.sum() == 300 and (data.inputs[noise][:, -1] == base.vocab_size).all()
    assert (data.inputs[~noise][:, -1] < base.vocab_size).all() and data.vocab_size == base.vocab_size + 1
    a = data.inputs[noise][:, :3] @ [100, 10, 1]
    b = data.inputs[noise][:, 3:6] @ [100, 10, 1]
    agree = np.mean(data.labels[noise] == (a + b) % 10)
    assert agree < 0.25, "labels do not follow the sum"
    assert np.bincount(data.labels[noise], minlength=10).min() > 10
    with pytest.raises(mg.ConfigError):
        syn.concat([base, data])


def test_mixture_counts_sum_exactly():
    assert syn.skill_counts_from_mixture(100, [1, 1, 1, 3, 5]).sum() == 100
    assert syn.skill_counts_from_mixture(45, [13, 14, 18]).tolist() == [13, 14, 18]
    with pytest.raises(mg.ConfigError):
        syn.skill_counts_from_mixture(10, [1, -1])


def test_plain_pytorch_loop_with_a_curriculum_learns_and_feeds_the_teacher():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    from magister.data import SkillSampler
    from magister.data.model import TinyTransformer, evaluate_per_skill

    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = syn.addition([100, 100, 100], seed=0)
    teacher = mg.make_teacher("skill-it", mg.Discrete(data.skill_names), graph=[[1, .5, 0], [0, 1, .5], [0, 0, 1]],
                              eta=1.0, seed=0)
    sampler = SkillSampler(data, teacher, batch_size=32, num_batches=30, seed=0)
    model = TinyTransformer(data.vocab_size, data.seq_len, data.n_classes, d_model=32, n_layers=1)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for step, (x, y) in enumerate(DataLoader(data, batch_sampler=sampler)):
        losses = torch.nn.functional.cross_entropy(model(x), y, reduction="none")
        opt.zero_grad()
        losses.mean().backward()
        opt.step()
        sampler.observe_batch_loss(losses)
        first = first if first is not None else float(losses.detach().mean())
        if step % 10 == 9:
            acc, _ = evaluate_per_skill(model, data.inputs, data.labels, data.skills, 3)
            sampler.observe_eval(acc)
    assert float(losses.detach().mean()) < first, "training through the sampler lowers the loss"
    assert len(sampler.history) == 30 and sampler.pending == 0
    assert teacher.n_observed >= 30 + 3 * 3


def test_ensemble_models_start_equal_and_train_independently():
    torch = pytest.importorskip("torch")
    from magister.data.model import TransformerEnsemble

    data = syn.lego(4, seed=0)
    ens = TransformerEnsemble(3, data.vocab_size, data.seq_len, 2, d_model=16, n_layers=1, n_heads=2, seed=0)
    x = torch.as_tensor(data.inputs[:5]).unsqueeze(0).repeat(3, 1, 1, 1)
    out = ens(x)
    assert out.shape == (3, 5, 2) and torch.allclose(out[0], out[1]) and torch.allclose(out[0], out[2])
    torch.nn.functional.cross_entropy(out[1], torch.as_tensor(data.labels[:5])).backward()
    for p in ens.parameters():
        assert p.grad[0].abs().sum() == 0 and p.grad[2].abs().sum() == 0, "one model's loss moves only that model"
    assert any(p.grad[1].abs().sum() > 0 for p in ens.parameters())


def test_importing_the_data_package_is_light():
    import subprocess
    import sys

    code = ("import sys, magister.data, magister.data.synthetic; "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"], "torch and transformers load only when the sampler or the HF hook is used"


def test_settings_that_would_give_wrong_data_are_refused():
    # 19-digit sums overflowed int64 into wrong labels; a negative total or example count gave raw numpy errors
    # or empty splits; weights whose sum overflows split nothing
    with pytest.raises(mg.ConfigError, match="at most 18 digits"):
        syn.addition(10, n_digits=19)
    assert syn.addition(4, n_digits=18, seed=0).n_skills == 18
    for bad in (lambda: syn.skill_counts_from_mixture(-5, [1, 1]),
                lambda: syn.skill_counts_from_mixture(5, [1e308, 1e308]),
                lambda: syn.with_unlearnable_skill(syn.addition(10, seed=0), -1)):
        with pytest.raises(mg.ConfigError):
            bad()
    from magister.data import SkillSampler

    with pytest.raises(mg.ConfigError, match="mixture weights"):
        SkillSampler([0, 1, 1], [1e308, 1e308], batch_size=2)


def test_example_counts_and_chain_sizes_that_are_not_whole_numbers_are_refused():
    """lego([1.5, 2, 2, 2, 2]) silently built 1 example of the first skill; n_vars=2.5 raised numpy's TypeError."""
    for bad in (lambda: syn.lego([1.5, 2, 2, 2, 2], seed=0), lambda: syn.addition([2.7, 1, 1], seed=0),
                lambda: syn.lego(True, seed=0), lambda: syn.lego(["2"] * 5, seed=0)):
        with pytest.raises(mg.ConfigError, match="whole, non-negative example count"):
            bad()
    for kwargs, name in (({"n_vars": 2.5}, "n_vars"), ({"n_letters": "12"}, "n_letters")):
        with pytest.raises(mg.ConfigError, match=name):
            syn.lego(2, seed=0, **kwargs)
    assert syn.lego(np.array([1, 2, 2, 2, 2]), seed=0).skill_counts().tolist() == [1, 2, 2, 2, 2]


def test_a_threshold_that_is_not_a_number_and_an_empty_concat_get_clear_errors():
    """estimate_skill_graph(threshold="0.1") and concat([]) raised a raw TypeError / IndexError."""
    from magister.data.graph import estimate_skill_graph

    for bad in ("0.1", None):
        with pytest.raises(mg.ConfigError, match="threshold"):
            estimate_skill_graph(lambda i: ([1.0, 1.0], [0.5, 0.9]), 2, threshold=bad)
    with pytest.raises(mg.ConfigError, match="non-empty"):
        syn.concat([])


def test_an_unlearnable_skill_needs_examples_to_copy_from():
    # an empty dataset gave numpy's "high <= 0"
    empty = syn.addition([0, 0, 0], seed=0)
    with pytest.raises(mg.ConfigError, match="has none"):
        syn.with_unlearnable_skill(empty, 5, seed=0)
    assert len(syn.with_unlearnable_skill(empty, 0, seed=0)) == 0


def test_evaluate_per_skill_takes_int32_labels_and_skills():
    """numpy int32 labels (the default integer on Windows) crashed cross_entropy: 'expected target dtype to be
    Long'."""
    torch = pytest.importorskip("torch")
    from magister.data.model import TinyTransformer, evaluate_per_skill

    torch.manual_seed(0)
    model = TinyTransformer(10, 5, 3, d_model=16, n_layers=1)
    x = np.random.default_rng(0).integers(0, 10, (6, 5))
    y, s = np.array([0, 1, 2, 0, 1, 2]), np.array([0, 0, 1, 1, 1, 1])
    want = evaluate_per_skill(model, x, y, s, 2)
    assert evaluate_per_skill(model, x.astype(np.int32), y.astype(np.int32), s.astype(np.int32), 2) == want


def test_evaluate_per_skill_gives_nan_not_a_perfect_loss_for_a_skill_without_held_out_examples():
    """A skill absent from the held-out set had accuracy 0 and loss 0, which observe_eval(kind="loss") took as a
    perfect score for that skill."""
    torch = pytest.importorskip("torch")
    from magister.data.model import TinyTransformer, evaluate_per_skill

    torch.manual_seed(0)
    model = TinyTransformer(10, 5, 3, d_model=16, n_layers=1)
    x = np.random.default_rng(0).integers(0, 10, (4, 5))
    acc, loss = evaluate_per_skill(model, x, np.array([0, 1, 2, 0]), np.array([0, 0, 2, 2]), 3)
    assert np.isnan(acc[1]) and np.isnan(loss[1])
    assert np.isfinite([acc[0], acc[2], loss[0], loss[2]]).all() and loss[0] > 0


def test_estimate_skill_graph_refuses_a_probe_that_returns_no_pair_of_losses():
    """run_probe returning None or text escaped as a raw TypeError / ValueError."""
    from magister.data import probe_graph
    from magister.data.graph import estimate_skill_graph
    for bad in (None, ("ab", "cd"), (1.0,)):
        with pytest.raises(mg.ConfigError, match=r"run_probe\(0\) must return \(losses before, losses after\)"):
            estimate_skill_graph(lambda i, bad=bad: bad, 2)
    with pytest.raises(mg.ConfigError, match="two sequences of 2 numbers"):
        probe_graph(2, start=lambda: 0, train_on=lambda m, i: None, evaluate=lambda m: "ab")


def test_estimate_skill_graph_takes_relative_as_true_or_false_only():
    """relative="false" (a JSON or command-line value) was read as True: the drops were divided by the loss before,
    another graph than relative=False gives, and no probe was refused."""
    from magister.data import probe_graph
    from magister.data.graph import estimate_skill_graph

    def probe(i):
        before = [2.0, 4.0]
        return before, [b - (i == j) for j, b in enumerate(before)]

    assert estimate_skill_graph(probe, 2, relative=np.False_) == [[1.0, 0.0], [0.0, 1.0]]
    assert estimate_skill_graph(probe, 2, relative=True) == [[1.0, 0.0], [0.0, 0.5]]
    calls = []
    for bad in ("false", 0, None):
        with pytest.raises(mg.ConfigError, match="relative must be True or False"):
            estimate_skill_graph(lambda i: calls.append(i) or probe(i), 2, relative=bad)
        with pytest.raises(mg.ConfigError, match="relative must be True or False"):
            probe_graph(2, start=lambda: calls.append("start"), train_on=lambda m, i: None,
                        evaluate=lambda m: [1.0, 1.0], relative=bad)
    assert calls == [], "refused before any probe ran"
