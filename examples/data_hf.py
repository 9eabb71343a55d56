"""Add a curriculum to an existing Hugging Face Trainer (tiny GPT-2 built from a config: no downloads).

Two skills written as token strings: counting up and repeating a token. The
eval_dataset is a dict keyed by skill name, so the Trainer reports
eval_<skill>_loss, which the curriculum callback hands to the teacher.

Run: .venv/bin/python examples/data_hf.py   (needs magister[hf]; under a minute on CPU)
"""

import numpy as np
import torch
import transformers

import magister as mg
from magister.data import SkillSampler, add_curriculum

torch.set_num_threads(1)


def make_rows(seed, n):
    rng = np.random.default_rng(seed)
    rows, skills = [], []
    for _ in range(n):
        skill = ["count", "repeat"][int(rng.integers(0, 2))]
        start = int(rng.integers(2, 20))
        ids = torch.tensor(list(range(start, start + 10)) if skill == "count" else [start] * 10)
        rows.append({"input_ids": ids, "labels": ids.clone()})
        skills.append(skill)
    return rows, skills


train_rows, train_skills = make_rows(0, 512)
eval_rows, eval_skills = make_rows(1, 64)
eval_sets = {s: [r for r, k in zip(eval_rows, eval_skills) if k == s] for s in ("count", "repeat")}

model = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=32, n_positions=16, n_embd=32,
                                                             n_layer=2, n_head=2))
args = transformers.TrainingArguments(output_dir="results/data_hf_example", max_steps=60, learning_rate=3e-3,
                                      per_device_train_batch_size=16, eval_strategy="steps", eval_steps=10,
                                      logging_steps=20, save_strategy="no", report_to=[], use_cpu=True,
                                      disable_tqdm=True)
trainer = transformers.Trainer(model=model, args=args, train_dataset=train_rows, eval_dataset=eval_sets)

# the two lines that add the curriculum
teacher = mg.make_teacher("exp3", mg.Discrete(["count", "repeat"]), reward="loss", seed=0)
add_curriculum(trainer, SkillSampler(train_skills, teacher, batch_size=16, num_batches=60, seed=0))

trainer.train()
print("mixture at the end:", dict(zip(["count", "repeat"], trainer.curriculum.history[-1]["mixture"])))
print("examples drawn per skill:", trainer.curriculum.samples_per_skill().tolist())
