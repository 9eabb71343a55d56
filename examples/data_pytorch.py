"""Add a curriculum to a plain PyTorch training loop (3-digit addition, one skill per digit).

Run: .venv/bin/python examples/data_pytorch.py   (about a minute on one CPU thread)
"""

import torch
from torch.utils.data import DataLoader

import magister as mg
from magister.data import SkillSampler
from magister.data.model import TinyTransformer, evaluate_per_skill
from magister.data.synthetic import addition

torch.set_num_threads(1)
torch.manual_seed(0)
train = addition([1300, 1400, 1800], seed=0)  # the skewed "natural" mixture 13:14:18
held_out = addition(100, seed=1)

# Skill-It with a chain graph: digit i is a prerequisite of digit i + 1
graph = [[1, 0.5, 0], [0, 1, 0.5], [0, 0, 1]]
teacher = mg.make_teacher("skill-it", mg.Discrete(train.skill_names), graph=graph, eta=1.5, seed=0)
sampler = SkillSampler(train, teacher, batch_size=64, num_batches=600, seed=0)

model = TinyTransformer(train.vocab_size, train.seq_len, train.n_classes, d_model=64, n_layers=2)
opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
for step, (x, y) in enumerate(DataLoader(train, batch_sampler=sampler), 1):
    losses = torch.nn.functional.cross_entropy(model(x), y, reduction="none")
    opt.zero_grad()
    losses.mean().backward()
    opt.step()
    if step % 50 == 0:  # periodic evaluation per skill drives Skill-It
        acc, _ = evaluate_per_skill(model, held_out.inputs, held_out.labels, held_out.skills, 3)
        sampler.observe_eval(acc, kind="accuracy")
        mix = " ".join(f"{p:.2f}" for p in sampler.history[-1]["mixture"])
        print(f"step {step:4d}  accuracy per digit {[round(a, 2) for a in acc]}  mixture {mix}")
print("examples drawn per skill:", dict(zip(train.skill_names, sampler.samples_per_skill().tolist())))
