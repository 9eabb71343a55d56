"""A Hugging Face ``Trainer`` with a curriculum under multi-process launch, on CPU (no download).

Run with ``torchrun --standalone --nproc_per_node 2 tests/scripts/hf_trainer_ddp.py OUT_DIR [STEPS]``
(``tests/test_data_hf.py`` does). Every rank trains a tiny GPT-2 built from a
config on two synthetic "skills" through ``CurriculumTrainer`` and a
``SkillSampler`` whose batch (6) is the global batch, evaluates per skill
every 2 steps, and writes ``OUT_DIR/rank<r>.pkl``: the global batches the
sampler planned, the example indices this rank's model was fed, the sampler's
log and state and the teacher's state. The test checks that the ranks agree
on everything global and trained on disjoint blocks whose union is each
global batch.

Then it trains again with ``gradient_accumulation_steps=2`` over passes of 5
batches (epochs of 3 updates: 2, 2 and 1 micro-batches), saving a checkpoint
after the first update (mid-epoch), resumes a new ``Trainer`` from it, and
writes both runs to ``OUT_DIR/rank<r>_resume.pkl``: the resumed run must
repeat the uninterrupted one from there (batches, log, teacher, weights).
"""

from __future__ import annotations

import os
import pickle
import sys

import numpy as np
import torch
import transformers

import magister as mg
from magister.data import SkillSampler
from magister.data.hf import CurriculumTrainer


class Rows(torch.utils.data.Dataset):
    """Token rows; remembers which indices were fetched (the loader runs in the main process)."""

    def __init__(self, rows):
        self.rows = rows
        self.fetched: list[int] = []

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        self.fetched.append(int(i))
        return self.rows[i]


def rows(seed: int, n_per_skill: int):
    """Two skills as token strings: count up (skill 0) and repeat one token (skill 1)."""
    rng = np.random.default_rng(seed)
    out, skills = [], []
    for s in (0, 1):
        for _ in range(n_per_skill):
            start = int(rng.integers(2, 10))
            ids = list(range(start, start + 8)) if s == 0 else [start] * 8
            t = torch.tensor([s] + ids)
            out.append({"input_ids": t, "labels": t.clone()})
            skills.append(["count", "repeat"][s])
    return out, skills


def resume_run(out_dir: str, resume: str | None = None) -> dict:
    """Global batch 6, gradient accumulation 2, passes of 5 batches, 4 updates, dropout on; a checkpoint at step 1."""
    train_rows, skills = rows(0, 10)
    train = Rows(train_rows)
    args = transformers.TrainingArguments(
        output_dir=os.path.join(out_dir, "resume" if resume else "whole"), max_steps=4, gradient_accumulation_steps=2,
        learning_rate=1e-2, logging_steps=1000, save_strategy="steps", save_steps=1, report_to=[], use_cpu=True,
        ddp_backend="gloo", disable_tqdm=True, seed=0)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=24, n_positions=16, n_embd=16,
                                                                 n_layer=1, n_head=2))
    teacher = mg.make_teacher("skill-it", mg.Discrete(["count", "repeat"]), eta=4.0, seed=0)
    sampler = SkillSampler(skills, teacher, batch_size=6, num_batches=5, seed=0)
    trainer = CurriculumTrainer(model=model, args=args, train_dataset=train, curriculum=sampler, eval_metric=None)
    trainer.train(resume_from_checkpoint=resume)
    return {"fetched": train.fetched, "history": sampler.history, "teacher": teacher.state_dict(),
            "weights": [p.detach().clone() for p in model.parameters()], "step": trainer.state.global_step}


def main(out_dir: str, steps: int) -> None:
    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    train_rows, skills = rows(0, 10)
    ev, _ = rows(1, 3)
    train = Rows(train_rows)
    args = transformers.TrainingArguments(
        output_dir=os.path.join(out_dir, "trainer"), max_steps=steps, per_device_train_batch_size=3,
        learning_rate=1e-2, logging_steps=1000, save_strategy="no", eval_strategy="steps", eval_steps=2,
        report_to=[], use_cpu=True, ddp_backend="gloo", disable_tqdm=True, seed=0)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=24, n_positions=16, n_embd=16,
                                                                 n_layer=1, n_head=2))
    teacher = mg.make_teacher("skill-it", mg.Discrete(["count", "repeat"]), eta=2.0, seed=0)
    # TrainingArguments set up the process group; the sampler, built after, follows it (batch 6 = global)
    sampler = SkillSampler(skills, teacher, batch_size=6, num_batches=steps, seed=0)
    planned: list[list[int]] = []
    plan = sampler._next_global

    def recording_plan():
        batch = plan()
        planned.append(batch.tolist())
        return batch

    sampler._next_global = recording_plan  # type: ignore[method-assign]
    trainer = CurriculumTrainer(model=model, args=args, train_dataset=train, curriculum=sampler,
                                eval_dataset={"count": Rows(ev[:3]), "repeat": Rows(ev[3:])})
    trainer.train()
    with open(os.path.join(out_dir, f"rank{rank}.pkl"), "wb") as f:
        pickle.dump({"world": sampler.world_size, "local": sampler.local_batch_size, "planned": planned,
                     "fetched": train.fetched, "history": sampler.history, "sampler": sampler.state_dict(),
                     "teacher": teacher.state_dict(), "pending": sampler.pending,
                     "n_observed": teacher.n_observed}, f)
    whole = resume_run(out_dir)
    resumed = resume_run(out_dir, os.path.join(out_dir, "whole", "checkpoint-1"))
    with open(os.path.join(out_dir, f"rank{rank}_resume.pkl"), "wb") as f:
        pickle.dump({"whole": whole, "resumed": resumed}, f)
    leave()


def leave() -> None:
    """End this rank: tear the gloo group down, then leave without the interpreter's exit-time destructors: with
    them, a rank aborted now and then after its results were written ("terminate called without an active
    exception", SIGABRT; twice in about twenty clean-clone runs, once with destroy_process_group called), a known
    PyTorch/gloo teardown race at interpreter finalization, not something the curriculum does."""
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 6)
