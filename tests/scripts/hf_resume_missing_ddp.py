"""A resume under ``torchrun`` where one node's checkpoint folder lacks the curriculum file (CPU, gloo, no download).

Run with ``torchrun --standalone --nproc_per_node 2 tests/scripts/hf_resume_missing_ddp.py OUT_DIR``
(``tests/test_data_hf.py`` does). Both ranks train a tiny GPT-2 one step through ``CurriculumTrainer``, saving
``checkpoint-1``; each rank then copies it into its own "node" folder (as ``save_on_each_node=True`` leaves one per
node), rank 1 deletes ``magister_curriculum.ckpt`` from its copy, and every rank resumes a new trainer from its own
folder. Each rank writes ``OUT_DIR/rank<r>.json``: the error its ``train`` raised (class and message) and whether
the sampler was left as it was. Rank 0 loaded the file, in a collective that rank 1, which had warned and gone on
into ``Trainer``, never joined: the job hung (each rank here ends itself after ``WATCHDOG_S``, and the test
kills what is left after its own timeout).
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import sys
import threading

import numpy as np
import torch
import transformers

import magister as mg
from magister.data import SkillSampler
from magister.data.hf import CURRICULUM_FILE, CurriculumTrainer
from magister.testing import states_equal

from hf_trainer_ddp import Rows, leave  # (this folder: torchrun puts the script's folder on the path)

WATCHDOG_S = 240  # (under the test's own timeout)


def trainer(out_dir: str, steps: int) -> tuple[CurriculumTrainer, SkillSampler]:
    rng = np.random.default_rng(0)
    rows, skills = [], []
    for s in (0, 1):
        for _ in range(6):
            t = torch.tensor([s] + [int(rng.integers(2, 10))] * 8)
            rows.append({"input_ids": t, "labels": t.clone()})
            skills.append(["count", "repeat"][s])
    args = transformers.TrainingArguments(
        output_dir=out_dir, max_steps=steps, learning_rate=1e-2, logging_steps=1000, save_strategy="steps",
        save_steps=1, report_to=[], use_cpu=True, ddp_backend="gloo", ddp_timeout=60, disable_tqdm=True, seed=0)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=24, n_positions=16, n_embd=16,
                                                                 n_layer=1, n_head=2))
    teacher = mg.make_teacher("exp3", mg.Discrete(["count", "repeat"]), seed=0)
    sampler = SkillSampler(skills, teacher, batch_size=4, num_batches=3, seed=0)
    return CurriculumTrainer(model=model, args=args, train_dataset=Rows(rows), curriculum=sampler,
                             eval_metric=None), sampler


def main(out_dir: str) -> None:
    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    # a rank left waiting in a collective (the defect this checks) ends itself; the test kills it by this id too
    # (torchrun starts each rank in a session of its own, so killing the launcher's left it running)
    with open(os.path.join(out_dir, f"pid{rank}"), "w") as f:
        f.write(str(os.getpid()))
    watchdog = threading.Timer(WATCHDOG_S, os._exit, (3,))
    watchdog.daemon = True
    watchdog.start()
    first, _ = trainer(os.path.join(out_dir, "first"), 1)
    first.train()
    torch.distributed.barrier(timeout=datetime.timedelta(seconds=60))  # (rank 0 wrote checkpoint-1)
    node = os.path.join(out_dir, f"node{rank}", "checkpoint-1")
    shutil.copytree(os.path.join(out_dir, "first", "checkpoint-1"), node)
    if rank == 1:
        os.remove(os.path.join(node, CURRICULUM_FILE))
    resumed, sampler = trainer(os.path.join(out_dir, f"node{rank}"), 3)
    before = sampler.state_dict()
    out: dict = {"error": None}
    try:
        resumed.train(resume_from_checkpoint=node)
    except Exception as e:  # noqa: BLE001 - written down for the test
        out["error"] = [type(e).__name__, str(e)]
    out["unchanged"] = states_equal(before, sampler.state_dict())
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(out, f)
    leave()  # (no exit-time destructors: a gloo teardown race)


if __name__ == "__main__":
    main(sys.argv[1])
