"""benchmarks/grpo_curriculum.py: the task is encoded as documented, and a tiny run repeats exactly."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import grpo_curriculum as gc  # noqa: E402

TINY = dict(gc.CONFIG, d_model=16, layers=1, heads=2, sl_steps=5, sl_batch=8, steps=4, prompts=3, group=4,
            train_per_level=6, eval_per_level=4, eval_every=2)


def test_encoding_and_exact_match():
    prompt, answer = gc.encode(np.array([[57, 68]]))
    # operands least significant digit first, zero-padded to six digits
    assert prompt[0].tolist() == [7, 5, 0, 0, 0, 0, gc.PLUS, 8, 6, 0, 0, 0, 0, gc.EQ]
    assert answer[0].tolist() == [5, 2, 1, 0, 0, 0, 0, gc.EOS]  # 125
    right = answer.copy()
    wrong = answer.copy()
    wrong[0, 2] = 3
    junk_after_end = np.concatenate([answer[:, :-1], [[gc.EOS]]], 1)
    assert gc.correct(right, answer).tolist() == [True]
    assert gc.correct(wrong, answer).tolist() == [False]
    assert gc.correct(junk_after_end, answer).tolist() == [True]
    lv = gc.problems(np.random.default_rng(0), 3, 50)
    assert (lv >= 100).all() and (lv < 1000).all()


def test_tiny_run_repeats_exactly_and_the_teachers_choose_differently():
    job = (7, TINY, list(gc.METHODS))
    a, b = gc.run_seed(job), gc.run_seed(job)
    assert a["curves"] == b["curves"] and a["share"] == b["share"]
    share = dict(zip(gc.METHODS, a["share"]))
    assert share["sorted"][-1] == 0.0, "four short steps never reach the sorted schedule's last stage"
    assert share["uniform"] != share["sec"] or share["uniform"] != share["lp-bandit"]
    table, per = gc.summarise([a])
    assert "| uniform |" in table and per["uniform"]["ratio"][0] is not None
