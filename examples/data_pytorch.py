"""Add a curriculum to a plain PyTorch training loop (3-digit addition, one skill per digit).

Trains the same model twice from the same initial weights: once with a Skill-It
teacher choosing the mix of skills, once with uniform sampling over the skills,
and prints which learned more.

Run: .venv/bin/python examples/data_pytorch.py [--batches 600] [--seed 0]   (a minute or two on one CPU thread)
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch.utils.data import DataLoader

import magister as mg
from magister.bench.args import TORCH_MAX_SEED
from magister.bench.report import percent_pair
from magister.data import SkillSampler
from magister.data.model import TinyTransformer, evaluate_per_skill
from magister.data.synthetic import addition
from magister.errors import ConfigError
from magister.settings import whole

# Skill-It with a chain graph: digit i is a prerequisite of digit i + 1
GRAPH = [[1, 0.5, 0], [0, 1, 0.5], [0, 0, 1]]


def train(teacher_name: str, batches: int = 600, seed: int = 0, every: int = 50) -> list[list[float]]:
    """Train under ``teacher_name``; returns the held-out accuracy per digit at each evaluation."""
    torch.set_num_threads(1)
    train_set = addition([1300, 1400, 1800], seed=seed)  # the skewed "natural" mixture 13:14:18
    held_out = addition(100, seed=seed + 1)
    settings = {"graph": GRAPH, "eta": 1.5} if teacher_name == "skill-it" else {}
    teacher = mg.make_teacher(teacher_name, mg.Discrete(train_set.skill_names), seed=seed, **settings)
    sampler = SkillSampler(train_set, teacher, batch_size=64, num_batches=batches, seed=seed)

    with torch.random.fork_rng():
        torch.manual_seed(seed)  # the same initial weights under every teacher
        model = TinyTransformer(train_set.vocab_size, train_set.seq_len, train_set.n_classes, d_model=64,
                                n_layers=2)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    curve = []
    for step, (x, y) in enumerate(DataLoader(train_set, batch_sampler=sampler), 1):
        losses = torch.nn.functional.cross_entropy(model(x), y, reduction="none")
        opt.zero_grad()
        losses.mean().backward()
        opt.step()
        if step % every == 0 or step == batches:  # periodic evaluation per skill drives Skill-It (and the last
            # batch: a run shorter than `every` is scored too, not averaged over no evaluation at all)
            acc, _ = evaluate_per_skill(model, held_out.inputs, held_out.labels, held_out.skills, 3)
            sampler.observe_eval(acc, kind="accuracy")
            curve.append(acc)
            mix = " ".join(f"{p:.2f}" for p in sampler.history[-1]["mixture"])
            print(f"  {teacher_name:>8} step {step:4d}  accuracy per digit {[round(a, 2) for a in acc]}  mixture {mix}")
    print(f"  {teacher_name:>8} examples drawn per skill:",
          dict(zip(train_set.skill_names, sampler.samples_per_skill().tolist())))
    return curve


def main(batches: int = 600, seed: int = 0, teacher_name: str = "skill-it") -> dict[str, float]:
    """Skill-It against uniform sampling over the skills; returns each one's mean held-out accuracy over
    the run (the area under its learning curve: how much it had learned, on average, along the way)."""
    batches = whole("batches", batches)  # refused before anything runs (it was refused as "num_batches" mid-run)
    if isinstance(seed, int) and seed > TORCH_MAX_SEED:  # (torch said only "Overflow when unpacking long long")
        raise ConfigError(f"seed must be a whole number in 0..{TORCH_MAX_SEED:,} (torch.manual_seed takes at most "
                          f"2**64 - 1), got {seed}")
    result = {}
    for name in (teacher_name, "uniform"):
        result[name] = float(np.mean(train(name, batches, seed)))
    ours, theirs = percent_pair(result[teacher_name], result["uniform"])  # no "33% vs 33%: beats uniform"
    print(f"teacher {teacher_name}: {ours} vs uniform {theirs} "
          f"mean held-out accuracy over {batches} batches: "
          f"{'beats' if result[teacher_name] > result['uniform'] else 'does not beat'} uniform")
    return result


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    p.add_argument("--batches", type=int, default=600)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    try:
        main(a.batches, a.seed)
    except ConfigError as e:  # a refused option: the usage and the reason, not a traceback
        p.error(str(e))
