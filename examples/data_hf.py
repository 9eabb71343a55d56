"""Add a curriculum to an existing Hugging Face Trainer (tiny GPT-2 built from a config: no downloads).

Three skills written as token strings: counting up, repeating a token, and
noise (random tokens, which no model can learn). The eval_dataset is a dict
keyed by skill name, so the Trainer reports eval_<skill>_loss, which the
curriculum callback hands to the teacher. The same model is trained twice
from the same initial weights: with a learning-progress bandit choosing the
mix (it soon stops spending batches on the noise) and with uniform sampling
over the skills; the printed loss is on the two learnable skills.

Run: .venv/bin/python examples/data_hf.py [--steps 120] [--seed 0]  (needs magister[hf]; under a minute on CPU)
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
import torch
import transformers

import magister as mg
from magister.data import SkillSampler, add_curriculum
from magister.settings import numpy_global_seed, whole

SKILLS = ["count", "repeat", "noise"]
LEARNABLE = ["count", "repeat"]  # "noise" rows are random tokens: nothing there can be learned


def make_rows(seed: int, n: int) -> tuple[list[dict], list[str]]:
    rng = np.random.default_rng(seed)
    rows, skills = [], []
    for _ in range(n):
        skill = SKILLS[int(rng.integers(0, len(SKILLS)))]
        start = int(rng.integers(2, 20))
        if skill == "count":
            ids = torch.arange(start, start + 10)
        elif skill == "repeat":
            ids = torch.full((10,), start)
        else:
            ids = torch.as_tensor(rng.integers(2, 32, size=10))
        rows.append({"input_ids": ids, "labels": ids.clone()})
        skills.append(skill)
    return rows, skills


def train(teacher_name: str, steps: int = 120, seed: int = 0) -> float:
    """Train under ``teacher_name``; returns the held-out loss averaged over the learnable skills at the end."""
    torch.set_num_threads(1)
    train_rows, train_skills = make_rows(seed, 512)
    eval_rows, eval_skills = make_rows(seed + 1, 64)
    eval_sets = {s: [r for r, k in zip(eval_rows, eval_skills) if k == s] for s in SKILLS}
    transformers.set_seed(seed)  # the same initial weights under every teacher
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=32, n_positions=16, n_embd=32,
                                                                 n_layer=2, n_head=2))
    # the Trainer's output folder is a temporary one: the example leaves nothing in the current folder
    output = tempfile.TemporaryDirectory(prefix="magister-data-hf-")
    args = transformers.TrainingArguments(output_dir=output.name, max_steps=steps,
                                          learning_rate=3e-3, per_device_train_batch_size=16, eval_strategy="steps",
                                          eval_steps=10, logging_steps=20, save_strategy="no", report_to=[],
                                          use_cpu=True, disable_tqdm=True, seed=seed)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=train_rows, eval_dataset=eval_sets)

    # the two lines that add the curriculum
    teacher = mg.make_teacher(teacher_name, mg.Discrete(SKILLS), seed=seed)
    add_curriculum(trainer, SkillSampler(train_skills, teacher, batch_size=16, num_batches=steps, seed=seed))

    trainer.train()
    print(f"  {teacher_name:>9} examples drawn per skill:",
          dict(zip(SKILLS, trainer.curriculum.samples_per_skill().tolist())))
    final = trainer.evaluate()
    output.cleanup()
    return float(np.mean([final[f"eval_{s}_loss"] for s in LEARNABLE]))


def main(steps: int = 120, seed: int = 0, teacher_name: str = "lp-bandit") -> dict[str, float]:
    """The curriculum against uniform sampling over the skills; returns each one's final held-out loss on the
    learnable skills."""
    steps = whole("steps", steps)  # refused before anything runs (it was refused as "num_batches" mid-run)
    numpy_global_seed(seed, "transformers.set_seed")  # (refused before anything runs: numpy's takes 32 bits)
    loss = {name: train(name, steps, seed) for name in (teacher_name, "uniform")}
    print(f"teacher {teacher_name}: held-out loss {loss[teacher_name]:.3f} vs uniform {loss['uniform']:.3f} "
          f"on the learnable skills after {steps} steps (lower is better): "
          f"{'beats' if loss[teacher_name] < loss['uniform'] else 'does not beat'} uniform")
    return loss


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    from magister.errors import ConfigError

    try:
        main(a.steps, a.seed)
    except ConfigError as e:  # a refused option: the usage and the reason, not a traceback
        p.error(str(e))
