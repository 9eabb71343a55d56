"""Hugging Face Trainer + curriculum, end to end on a tiny randomly initialised GPT-2 (no downloads)."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import magister as mg  # noqa: E402
from magister.data import SkillSampler  # noqa: E402
from magister.data.hf import CurriculumCallback, add_curriculum, per_example_loss_from_outputs  # noqa: E402


class Rows(torch.utils.data.Dataset):
    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def _rows(seed: int, n_per_skill: int):
    """Two "skills" as token strings: count up (skill 0) and repeat one token (skill 1)."""
    rng = np.random.default_rng(seed)
    rows, skills = [], []
    for s in (0, 1):
        for _ in range(n_per_skill):
            start = int(rng.integers(2, 10))
            ids = list(range(start, start + 8)) if s == 0 else [start] * 8
            t = torch.tensor([s] + ids)
            rows.append({"input_ids": t, "labels": t.clone()})
            skills.append(["count", "repeat"][s])
    return rows, skills


def _trainer(tmp_path, train, eval_sets, steps):
    cfg = transformers.GPT2Config(vocab_size=24, n_positions=16, n_embd=16, n_layer=1, n_head=2)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(cfg)
    args = transformers.TrainingArguments(output_dir=str(tmp_path), max_steps=steps, per_device_train_batch_size=4,
                                          learning_rate=1e-2, logging_steps=1000, save_strategy="no",
                                          eval_strategy="steps", eval_steps=2, report_to=[], use_cpu=True,
                                          disable_tqdm=True, seed=0)
    return transformers.Trainer(model=model, args=args, train_dataset=Rows(train),
                                eval_dataset={k: Rows(v) for k, v in eval_sets.items()})


def test_trainer_draws_from_the_sampler_and_feeds_the_teacher(tmp_path):
    torch.set_num_threads(1)
    train, skills = _rows(0, 12)
    ev0, _ = _rows(1, 3)
    evals = {"count": ev0[:3], "repeat": ev0[3:]}
    teacher = mg.make_teacher("skill-it", mg.Discrete(["count", "repeat"]), eta=2.0, seed=0)
    sampler = SkillSampler(skills, teacher, batch_size=4, num_batches=6, seed=0)
    trainer = add_curriculum(_trainer(tmp_path, train, evals, steps=6), sampler)
    assert any(isinstance(cb, CurriculumCallback) for cb in trainer.callback_handler.callbacks)
    trainer.train()
    assert len(sampler.history) == 6 and sampler.pending == 0, "every training batch came from the sampler and got feedback"
    # 6 training batches give one observation per skill present; 3 evaluations give one per skill each
    per_batch = sum(sum(1 for c in h["counts"] if c) for h in sampler.history)
    assert teacher.n_observed == per_batch + 3 * 2
    assert teacher.seen.tolist() == [sum(1 for h in sampler.history if h["counts"][0]) + 3,
                                     sum(1 for h in sampler.history if h["counts"][1]) + 3]


def test_callback_reads_per_skill_metrics():
    teacher = mg.make_teacher("skill-it", mg.Discrete(["a", "b"]), window=1, seed=0)
    sampler = SkillSampler(["a", "b"], teacher, batch_size=2, seed=0)
    cb = CurriculumCallback(sampler, metric="accuracy")
    cb.on_evaluate(None, None, None, metrics={"eval_a_accuracy": 0.75, "eval_loss": 3.0})
    cb.on_evaluate(None, None, None, metrics={"eval_b_accuracy": 0.25})
    assert teacher.recent[:, -1] == pytest.approx([0.25, 0.75]) and cb.evaluations == 2


def test_per_example_loss_shifts_for_causal_models_and_ignores_padding():
    logits = torch.zeros(2, 3, 5)
    logits[0, 0, 1] = 10.0  # predicts token 1 at position 1
    labels = torch.tensor([[0, 1, -100], [0, -100, -100]])
    out = per_example_loss_from_outputs(logits, labels, shift=True)
    assert out[0] == pytest.approx(float(torch.nn.functional.cross_entropy(logits[0, :1], labels[0, 1:2])))
    assert torch.isnan(out[1])  # no labelled token: no loss (it was 0.0, a perfect score for the teacher)
    cls = per_example_loss_from_outputs(torch.tensor([[0.0, 5.0]]), torch.tensor([1]), shift=False)
    assert cls[0] == pytest.approx(float(torch.nn.functional.cross_entropy(torch.tensor([[0.0, 5.0]]),
                                                                            torch.tensor([1]))))


def test_causal_models_named_otherwise_get_their_labels_shifted_as_their_own_loss_does():
    """Gemma 3 (``AutoModelForCausalLM`` gives ``Gemma3ForConditionalGeneration``) and a subclass of a causal LM were
    taken for models whose labels line up with the logits: their per-example losses were unshifted (each token scored
    as predicted from itself), not the loss the model trains on. Now both are shifted, as ``Trainer`` shifts them."""
    from magister.data.hf import _is_causal_lm

    torch.manual_seed(0)
    text = transformers.Gemma3TextConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1, head_dim=8)
    vision = transformers.SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                             num_attention_heads=2, image_size=16, patch_size=8)
    gemma = transformers.Gemma3ForConditionalGeneration(
        transformers.Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=4)).eval()

    class MyGPT(transformers.GPT2LMHeadModel):
        pass

    mine = MyGPT(transformers.GPT2Config(vocab_size=64, n_positions=16, n_embd=16, n_layer=1, n_head=2)).eval()
    ids = torch.randint(3, 60, (3, 9))
    for model in (gemma, mine):
        assert _is_causal_lm(model), type(model).__name__
        with torch.no_grad():
            out = model(input_ids=ids, labels=ids)
        per_example = per_example_loss_from_outputs(out.logits, ids, shift=_is_causal_lm(model))
        # every example has as many labelled tokens, so the model's mean loss is the mean of the per-example ones
        assert float(per_example.mean()) == pytest.approx(float(out.loss), rel=1e-5), type(model).__name__
    seq2seq = transformers.T5ForConditionalGeneration(transformers.T5Config(
        vocab_size=64, d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2, decoder_start_token_id=0))
    classifier = transformers.GPT2ForSequenceClassification(transformers.GPT2Config(
        vocab_size=64, n_positions=16, n_embd=16, n_layer=1, n_head=2))
    assert not _is_causal_lm(seq2seq) and not _is_causal_lm(classifier), "their labels line up with the logits"


def test_a_peft_wrapped_causal_model_gets_its_labels_shifted_as_the_model_it_wraps():
    """``peft.PeftModel`` (what ``get_peft_model`` gives without a ``task_type``, and ``PeftModel.from_pretrained``
    for an adapter saved without one) names no causal LM, so the per-example losses of the causal model it wraps
    were unshifted (each token scored as predicted from itself), not the loss it trains on. It is judged by the
    model it wraps now, as ``Trainer`` judges it. (peft is not installed here: stand-ins with peft's shape, a
    ``base_model`` tuner holding the model as ``.model`` and ``get_base_model()``; a ``PeftMixedModel`` has no
    ``get_base_model``.)"""
    from magister.data.hf import _is_causal_lm

    class LoraModel(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, *args, **kwargs):
            return self.model(*args, **kwargs)

    class PeftModel(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.base_model = LoraModel(model)

        def get_base_model(self):
            return self.base_model.model

        def forward(self, *args, **kwargs):
            return self.base_model(*args, **kwargs)

    class PeftMixedModel(PeftModel):
        get_base_model = None  # (peft's mixed model has none: Trainer takes base_model.model)

    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=64, n_positions=16, n_embd=16, n_layer=1, n_head=2)
    gpt = transformers.GPT2LMHeadModel(cfg).eval()
    ids = torch.randint(3, 60, (3, 9))
    for wrapped in (PeftModel(gpt), PeftMixedModel(gpt), PeftModel(PeftModel(gpt))):
        assert _is_causal_lm(wrapped), type(wrapped).__name__
        with torch.no_grad():
            out = wrapped(input_ids=ids, labels=ids)
        per_example = per_example_loss_from_outputs(out.logits, ids, shift=_is_causal_lm(wrapped))
        assert float(per_example.mean()) == pytest.approx(float(out.loss), rel=1e-5), type(wrapped).__name__
    classifier = transformers.GPT2ForSequenceClassification(cfg)
    assert not _is_causal_lm(PeftModel(classifier)), "a wrapped classifier's labels line up with its logits"
    assert not _is_causal_lm(PeftModel(LoraModel(torch.nn.Linear(2, 2))))


def test_per_example_loss_of_a_classifier_has_no_loss_for_an_ignored_label():
    # before: 2-D logits with label -100 (ignored) gave a loss of 0.0, a perfect score for the example's skill;
    # the token case gave NaN, as the docs say for an example without a labelled token
    logits = torch.tensor([[0.0, 5.0], [1.0, 0.0]])
    out = per_example_loss_from_outputs(logits, torch.tensor([1, -100]), shift=False)
    assert out[0] == pytest.approx(float(torch.nn.functional.cross_entropy(logits[:1], torch.tensor([1]))))
    assert torch.isnan(out[1])
    soft = per_example_loss_from_outputs(logits, torch.tensor([[0.0, 1.0], [1.0, 0.0]]), shift=False)
    assert torch.isfinite(soft).all()  # class probabilities: nothing ignored


def _two_rank_trainer_run(tmp_path, launcher: list[str]):
    """Run tests/scripts/hf_trainer_ddp.py under ``launcher`` with 2 CPU processes; check the ranks agree, each
    trains on its own block of every global batch, and every batch and evaluation reaches every rank's teacher."""
    import os
    import pickle
    import subprocess
    from pathlib import Path

    from magister.testing import states_equal

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(root / "src"), *([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])])}
    cmd = [*launcher, str(root / "tests" / "scripts" / "hf_trainer_ddp.py"), str(tmp_path), "6"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    r0, r1 = (pickle.loads((tmp_path / f"rank{r}.pkl").read_bytes()) for r in (0, 1))
    assert (r0["world"], r0["local"], r1["local"]) == (2, 3, 3)
    assert r0["planned"] == r1["planned"] and len(r0["planned"]) == 6, "one global batch per step, the same on both"
    assert r0["fetched"] == [i for b in r0["planned"] for i in b[:3]], "rank 0 trained on the first block"
    assert r1["fetched"] == [i for b in r1["planned"] for i in b[3:]], "rank 1 trained on the second block"
    assert r0["history"] == r1["history"] and r0["pending"] == r1["pending"] == 0
    assert states_equal(r0["teacher"], r1["teacher"]) and states_equal(r0["sampler"], r1["sampler"])
    per_batch = sum(sum(1 for c in h["counts"] if c) for h in r0["history"])
    assert r0["n_observed"] == r1["n_observed"] == per_batch + 3 * 2, "every batch and the 3 evaluations observed"
    # a resume mid-epoch, with gradient accumulation 2 over epochs of 5 micro-batches (updates of 2, 2 and 1): it
    # started a whole epoch at the checkpoint, so the updates grouped other micro-batches and the run differed
    for r in (0, 1):
        runs = pickle.loads((tmp_path / f"rank{r}_resume.pkl").read_bytes())
        whole, resumed = runs["whole"], runs["resumed"]
        assert whole["step"] == resumed["step"] == 4
        assert len(resumed["fetched"]) == len(whole["fetched"]) - 2 * 3, "all but the 2 micro-batches saved before"
        assert resumed["fetched"] == whole["fetched"][2 * 3:], f"rank {r} trained the same blocks after the resume"
        assert resumed["history"] == whole["history"] and states_equal(resumed["teacher"], whole["teacher"])
        assert all(a.equal(b) for a, b in zip(resumed["weights"], whole["weights"])), "the same updates"


def test_trainer_under_torchrun_with_two_cpu_processes(tmp_path):
    """``torchrun --nproc_per_node 2`` (gloo, CPU) runs tests/scripts/hf_trainer_ddp.py."""
    import sys

    _two_rank_trainer_run(tmp_path, [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                     "--nproc_per_node", "2"])


def test_a_resume_where_one_rank_lacks_the_curriculum_file_raises_on_every_rank(tmp_path):
    """``torchrun`` with 2 CPU processes runs tests/scripts/hf_resume_missing_ddp.py: each rank resumes from its own
    copy of a checkpoint (one per node), rank 1's without the curriculum file. Rank 0 loaded it, in a collective
    that rank 1 (warned, gone on into Trainer) never joined: rank 1 failed in DDP's set-up ("DDP expects same model
    across all ranks") and rank 0 hung for good. Now both ranks raise the same CheckpointError naming the file and
    the rank that lacks it, nothing loaded. A regression fails instead of hanging: each rank ends itself after the
    script's WATCHDOG_S, and the test kills the launcher and the ranks by id if the job outlives its timeout."""
    import json
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from magister.data.hf import CURRICULUM_FILE

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(root / "src"), *([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(root / "tests" / "scripts" / "hf_resume_missing_ddp.py"), str(tmp_path)]
    with open(tmp_path / "log", "w") as out:  # (a file, not a pipe: a rank left running would hold a pipe open)
        job = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        job.wait(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)  # the launcher; each rank runs in a session of its own, killed by its id
        for pid in tmp_path.glob("pid*"):
            try:
                os.kill(int(pid.read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        job.wait()
        pytest.fail("the resume hung (killed after 300 s): " + (tmp_path / "log").read_text()[-3000:])
    log = (tmp_path / "log").read_text()
    assert job.returncode == 0, log[-3000:]
    for rank in (0, 1):
        got = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert got["error"] is not None, f"rank {rank} resumed without its curriculum"
        kind, message = got["error"]
        assert kind == "CheckpointError" and CURRICULUM_FILE in message and "missing on rank(s) [1]" in message
        assert f"node{rank}" in message and ("missing)" in message) == (rank == 1) and "copy the file" in message
        assert got["unchanged"], "nothing loaded"


@pytest.mark.slow
def test_trainer_under_accelerate_launch_with_two_cpu_processes(tmp_path):
    """``accelerate launch --multi_gpu --num_processes 2`` on a machine without GPUs (accelerate hands it to
    torch.distributed.run; the script's ``use_cpu=True`` picks gloo): the same checks as under torchrun. Slow (a
    second 2-process start-up, ~50 s on a loaded 2-core machine), so out of the default run."""
    import sys

    pytest.importorskip("accelerate")
    _two_rank_trainer_run(tmp_path, [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
                                     "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
                                     "--dynamo_backend", "no"])


def test_resuming_from_a_trainer_checkpoint_continues_the_curriculum_exactly(tmp_path):
    """Train 6 steps saving at step 3; a new Trainer resumed from checkpoint-3 plans the same batches and ends with
    the same teacher as the uninterrupted run (the look-ahead batch planned before the save is handed out again).
    Dropout is off here; the mid-epoch test below has it on."""
    from magister.data.hf import CURRICULUM_FILE
    from magister.testing import states_equal

    torch.set_num_threads(1)
    train, skills = _rows(0, 12)

    def run(out, resume=None):
        cfg = transformers.GPT2Config(vocab_size=24, n_positions=16, n_embd=16, n_layer=1, n_head=2,
                                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
        torch.manual_seed(0)
        model = transformers.GPT2LMHeadModel(cfg)
        args = transformers.TrainingArguments(output_dir=str(out), max_steps=6, per_device_train_batch_size=4,
                                              learning_rate=1e-2, logging_steps=1000, save_strategy="steps",
                                              save_steps=3, report_to=[], use_cpu=True, disable_tqdm=True, seed=0)
        teacher = mg.make_teacher("skill-it", mg.Discrete(["count", "repeat"]), eta=4.0, seed=0)
        sampler = SkillSampler(skills, teacher, batch_size=4, num_batches=6, seed=0)
        trainer = add_curriculum(transformers.Trainer(model=model, args=args, train_dataset=Rows(train)), sampler,
                                 eval_metric=None)
        trainer.train(resume_from_checkpoint=resume)
        return sampler, teacher

    whole, t_whole = run(tmp_path / "whole")
    saved = tmp_path / "whole" / "checkpoint-3" / CURRICULUM_FILE
    assert saved.exists() and len(mg.checkpoint.load_state(saved)["history"]) >= 3
    resumed, t_resumed = run(tmp_path / "resumed", resume=str(tmp_path / "whole" / "checkpoint-3"))
    # the resumed pass ends where the uninterrupted one did (it looked one batch past the end, a new pass)
    assert resumed.history == whole.history and len(whole.history) == 6
    assert states_equal(t_resumed.state_dict(), t_whole.state_dict()), "the same feedback and proposals"
    assert whole.mixture_history()[-1].tolist() != [0.5, 0.5], "the teacher moved, so equality is not trivial"


def _six_step_exp3_run(out, train, skills, floor=0.0, **curriculum):
    """A tiny GPT-2 trained 6 steps of 4 examples on an exp3 curriculum, saving at step 3: (sampler, trainer)."""
    cfg = transformers.GPT2Config(vocab_size=24, n_positions=16, n_embd=16, n_layer=1, n_head=2)
    torch.manual_seed(0)
    args = transformers.TrainingArguments(output_dir=str(out), max_steps=6, per_device_train_batch_size=4,
                                          learning_rate=1e-2, logging_steps=1000, save_strategy="steps",
                                          save_steps=3, report_to=[], use_cpu=True, disable_tqdm=True, seed=0)
    teacher = mg.make_teacher("exp3", mg.Discrete(["count", "repeat"]), seed=0)
    sampler = SkillSampler(skills, teacher, batch_size=4, num_batches=6, seed=0, floor=floor)
    trainer = add_curriculum(transformers.Trainer(model=transformers.GPT2LMHeadModel(cfg), args=args,
                                                  train_dataset=Rows(train)), sampler, eval_metric=None, **curriculum)
    return sampler, trainer


def test_the_curriculum_is_written_where_trainer_writes_its_files_each_nodes_first_process_too(tmp_path):
    """With ``save_on_each_node=True`` ``Trainer`` writes every node's checkpoint folder from that node's first
    process (``args.should_save``); the curriculum was written by rank 0 alone, so another node's folder lacked it,
    and resumed there, its ranks started the curriculum afresh while rank 0's node loaded it (a collective they
    never joined). A process that does not write Trainer's files writes none."""
    import types

    from magister.data.hf import CURRICULUM_FILE, _CurriculumCheckpoint

    sampler = SkillSampler([0, 1, 0, 1], mg.make_teacher("exp3", mg.Discrete(2), seed=0), batch_size=2, seed=0)
    for writes, world_zero in ((True, False), (False, False), (True, True)):
        out = tmp_path / f"{writes}-{world_zero}"
        (out / "checkpoint-2").mkdir(parents=True)
        args = types.SimpleNamespace(output_dir=str(out), should_save=writes)
        state = types.SimpleNamespace(global_step=2, is_world_process_zero=world_zero)
        _CurriculumCheckpoint(sampler).on_save(args, state, None)
        assert (out / "checkpoint-2" / CURRICULUM_FILE).exists() == writes, (writes, world_zero)


def test_resuming_with_a_changed_sampler_setting_is_refused_unless_strict_false(tmp_path):
    """A sampler built with another floor than the checkpoint's was refused on resume (as it should be), but
    add_curriculum had no way to pass load_state_dict's strict=False, so a deliberate change could not resume."""
    torch.set_num_threads(1)
    train, skills = _rows(0, 12)

    def run(out, floor=0.0, **strict):
        return _six_step_exp3_run(out, train, skills, floor, **strict)

    first, trainer = run(tmp_path / "first")
    trainer.train()
    checkpoint = str(tmp_path / "first" / "checkpoint-3")
    sampler, trainer = run(tmp_path / "refused", floor=0.2)
    with pytest.raises(mg.ConfigError, match=r"floor: saved 0\.0, here 0\.2.*strict=False"):
        trainer.train(resume_from_checkpoint=checkpoint)
    assert sampler.history == [] and sampler.teacher.n_observed == 0  # nothing loaded, nothing trained
    sampler, trainer = run(tmp_path / "resumed", floor=0.2, strict=False)
    trainer.train(resume_from_checkpoint=checkpoint)
    assert sampler.floor == 0.2 and sampler.history[:3] == first.history[:3]  # it went on from the checkpoint
    assert len(sampler.history) >= 6 and sampler.pending <= 1  # and trained steps 4-6, each fed back
    with pytest.raises(mg.ConfigError, match="strict must be True or False"):
        run(tmp_path / "bad", strict="no")


def test_a_mid_epoch_resume_with_accumulation_workers_and_dropout_repeats_the_uninterrupted_run(tmp_path):
    """Passes of 8 micro-batches with gradient_accumulation_steps=3 make epochs of 3 updates (3, 3 and 2 micro-batches);
    the checkpoint after update 2 falls mid-epoch. Trainer's skip was turned off, so the resumed run began a whole
    epoch there: updates grouped other micro-batches (one more micro-batch was trained), the per-epoch evaluations
    came at other steps, and weights, teacher and batches then differed; now the sampler's pass leaves out what was
    trained, and the resumed run repeats the uninterrupted one bit for bit, dropout and loader workers included."""
    from magister.testing import states_equal

    torch.set_num_threads(1)
    train, skills = _rows(0, 12)
    for i, r in enumerate(train):  # one token more that tells the examples apart, to read which ones were trained
        r["input_ids"] = r["labels"] = torch.cat([r["input_ids"][:1], torch.tensor([12 + i % 12]), r["input_ids"][1:]])
    ev, _ = _rows(1, 3)
    position = {tuple(r["input_ids"].tolist()): i for i, r in enumerate(train)}

    def run(out, resume=None):
        cfg = transformers.GPT2Config(vocab_size=24, n_positions=16, n_embd=16, n_layer=1, n_head=2)  # dropout on
        torch.manual_seed(0)
        model = transformers.GPT2LMHeadModel(cfg)
        trained = []
        model.register_forward_pre_hook(lambda m, a, kw: trained.append(
            [position[tuple(x)] for x in kw["input_ids"].tolist()]) if m.training else None, with_kwargs=True)
        args = transformers.TrainingArguments(output_dir=str(out), max_steps=6, gradient_accumulation_steps=3,
                                              per_device_train_batch_size=4, dataloader_num_workers=1,
                                              learning_rate=1e-2, logging_steps=1000, save_strategy="steps",
                                              save_steps=2, eval_strategy="epoch", report_to=[], use_cpu=True,
                                              disable_tqdm=True, seed=0)
        teacher = mg.make_teacher("skill-it", mg.Discrete(["count", "repeat"]), eta=4.0, seed=0)
        sampler = SkillSampler(skills, teacher, batch_size=4, num_batches=8, seed=0)
        trainer = add_curriculum(transformers.Trainer(model=model, args=args, train_dataset=Rows(train),
                                                      eval_dataset={"count": Rows(ev[:3]), "repeat": Rows(ev[3:])}),
                                 sampler)
        trainer.train(resume_from_checkpoint=resume)
        evals = [(h["step"], h["eval_count_loss"]) for h in trainer.state.log_history if "eval_count_loss" in h]
        return {"trained": trained, "sampler": sampler, "teacher": teacher, "evals": evals,
                "weights": [p.detach().clone() for p in model.parameters()]}

    whole = run(tmp_path / "whole")
    resumed = run(tmp_path / "resumed", resume=str(tmp_path / "whole" / "checkpoint-2"))
    assert len(whole["trained"]) == 16 and whole["evals"][0][0] == 3, "updates of 3, 3 and 2 micro-batches"
    assert resumed["trained"] == whole["trained"][6:], "the micro-batches after the checkpoint, in the same updates"
    assert resumed["evals"] == whole["evals"], "evaluated at the same epoch ends, with the same losses"
    assert resumed["sampler"].history == whole["sampler"].history
    assert states_equal(resumed["teacher"].state_dict(), whole["teacher"].state_dict())
    assert all(a.equal(b) for a, b in zip(resumed["weights"], whole["weights"]))
    assert whole["teacher"].n_observed > 16, "the teacher heard every micro-batch and the evaluations"


def test_without_trainers_resumed_dataloader_hook_the_skip_is_turned_off(tmp_path, monkeypatch):
    """A transformers without Trainer.get_resumed_dataloader: Trainer's skip would draw batches from the sampler and
    throw them away, so it is turned off (the resumed run starts a whole epoch at the checkpoint, as before)."""
    torch.set_num_threads(1)
    train, skills = _rows(0, 12)
    monkeypatch.delattr(transformers.Trainer, "get_resumed_dataloader")

    def run(out, resume=None):
        args = transformers.TrainingArguments(output_dir=str(out), max_steps=4, per_device_train_batch_size=4,
                                              logging_steps=1000, save_strategy="steps", save_steps=2, report_to=[],
                                              use_cpu=True, disable_tqdm=True, seed=0)
        cfg = transformers.GPT2Config(vocab_size=24, n_positions=16, n_embd=16, n_layer=1, n_head=2)
        sampler = SkillSampler(skills, mg.make_teacher("exp3", mg.Discrete(["count", "repeat"]), seed=0),
                               batch_size=4, num_batches=6, seed=0)
        trainer = add_curriculum(transformers.Trainer(model=transformers.GPT2LMHeadModel(cfg), args=args,
                                                      train_dataset=Rows(train)), sampler, eval_metric=None)
        trainer.train(resume_from_checkpoint=resume)
        return trainer, sampler

    whole, _ = run(tmp_path / "whole")
    resumed, sampler = run(tmp_path / "resumed", resume=str(tmp_path / "whole" / "checkpoint-2"))
    assert resumed.args.ignore_data_skip and not whole.args.ignore_data_skip
    assert resumed.state.global_step == 4 and sampler.teacher.n_observed > 0
    assert sampler.pending == len(sampler.history) - 4, "the 4 trained batches, each fed back to itself"


def test_a_second_curriculum_on_the_same_trainer_is_refused(tmp_path):
    """add_curriculum twice wrapped compute_loss twice: every micro-batch's losses were fed twice, the second time
    to the next batch waiting, and training stopped with "no batch is waiting for feedback"."""
    train, skills = _rows(0, 4)
    trainer = _trainer(tmp_path, train, {"count": train[:2]}, steps=2)
    sampler = SkillSampler(skills, mg.make_teacher("exp3", mg.Discrete(["count", "repeat"]), seed=0), batch_size=4)
    add_curriculum(trainer, sampler)
    callbacks, compute_loss = list(trainer.callback_handler.callbacks), trainer.compute_loss
    with pytest.raises(mg.ConfigError, match="already has a curriculum"):
        add_curriculum(trainer, sampler)
    assert trainer.callback_handler.callbacks == callbacks and trainer.compute_loss == compute_loss


@pytest.mark.parametrize("kwargs", [{"train_feedback": "false"}, {"train_feedback": None}, {"train_feedback": 1},
                                    {"eval_metric": 1}, {"eval_metric": True}, {"eval_metric": ""}])
def test_add_curriculums_flag_and_metric_name_are_checked_and_a_refusal_changes_nothing(tmp_path, kwargs):
    """``train_feedback`` was read by truth ("false" fed the losses back, None turned them off) and ``eval_metric``
    taken whatever it was (1 or "" made keys, eval_<skill>_1, that no metric has: no evaluation reached the teacher,
    without a word); each is a ConfigError naming it, the trainer left as it was."""
    train, skills = _rows(0, 4)
    trainer = _trainer(tmp_path, train, {}, 1)
    callbacks = list(trainer.callback_handler.callbacks)
    sampler = SkillSampler(skills, mg.make_teacher("exp3", mg.Discrete(["count", "repeat"]), seed=0), batch_size=2,
                           seed=0)
    with pytest.raises(mg.ConfigError, match=next(iter(kwargs))):
        add_curriculum(trainer, sampler, **kwargs)
    assert trainer.callback_handler.callbacks == callbacks and not hasattr(trainer, "curriculum")
    assert "compute_loss" not in vars(trainer) and "train" not in vars(trainer)
    if "eval_metric" in kwargs:
        with pytest.raises(mg.ConfigError, match="metric"):
            CurriculumCallback(sampler, metric=kwargs["eval_metric"])
    add_curriculum(trainer, sampler, train_feedback=np.True_, eval_metric="accuracy")  # numpy's True is True
    assert "compute_loss" in vars(trainer)


def test_a_sampler_of_another_dataset_is_refused_when_added(tmp_path):
    """It was refused only when training started (a ValueError), after a resume had loaded the sampler's state."""
    train, skills = _rows(0, 4)
    trainer = _trainer(tmp_path, train, {"count": train[:2]}, steps=2)
    sampler = SkillSampler(skills + skills, mg.make_teacher("exp3", mg.Discrete(["count", "repeat"]), seed=0),
                           batch_size=4)
    callbacks = list(trainer.callback_handler.callbacks)
    with pytest.raises(mg.ConfigError, match="sampler knows 16 examples but train_dataset has 8"):
        add_curriculum(trainer, sampler)
    assert trainer.callback_handler.callbacks == callbacks and not hasattr(trainer, "curriculum")


def test_resuming_from_a_checkpoint_without_the_samplers_state_skips_nothing(tmp_path):
    """A checkpoint without the curriculum file (a sampler added on resume): Trainer skipped the batches already
    trained by drawing them from the new sampler and throwing them away; they stayed waiting for feedback, so
    each trained batch's losses went to a skipped batch (3 waiting at the end, the teacher told the wrong skills)."""
    import os

    from magister.data.hf import CURRICULUM_FILE

    torch.set_num_threads(1)
    train, skills = _rows(0, 12)

    def run(out, resume=None):
        sampler, trainer = _six_step_exp3_run(out, train, skills)
        trainer.train(resume_from_checkpoint=resume)
        return sampler, sampler.teacher

    run(tmp_path / "first")
    os.remove(tmp_path / "first" / "checkpoint-3" / CURRICULUM_FILE)
    with pytest.warns(UserWarning, match="holds no curriculum state.*starts afresh") as caught:  # not silent
        sampler, teacher = run(tmp_path / "resumed", resume=str(tmp_path / "first" / "checkpoint-3"))
    assert [w.filename for w in caught if "holds no curriculum state" in str(w.message)] == [__file__], \
        "the warning points at the train() call"
    # 3 steps trained on the first 3 batches (a 4th fetched ahead), each fed back to itself
    assert len(sampler.history) <= 4 and sampler.pending == len(sampler.history) - 3
    assert teacher.n_observed == sum(sum(1 for c in h["counts"] if c) for h in sampler.history[:3])


@pytest.mark.parametrize("damaged", ["trainer_state.json", "optimizer.pt", "rng_state.pth", "model.safetensors"])
def test_a_resume_that_trainer_refuses_leaves_the_curriculum_as_it_was(tmp_path, damaged):
    """A checkpoint whose curriculum file is sound but one of Trainer's own files is damaged: add_curriculum loaded
    the sampler from it, then Trainer failed reading its file, and the sampler stayed loaded from the checkpoint
    (with a batch drawn, where rng_state.pth failed), so a train() after it went on from there. A call that fails
    before training's first step changes nothing: the sampler is as it was, and the same run resumed from a sound
    checkpoint goes on as the uninterrupted one."""
    import shutil

    from magister.testing import states_equal

    torch.set_num_threads(1)
    train, skills = _rows(0, 12)
    whole, trainer = _six_step_exp3_run(tmp_path / "whole", train, skills)
    trainer.train()
    checkpoint = tmp_path / "whole" / "checkpoint-3"
    bad = tmp_path / "bad"
    shutil.copytree(checkpoint, bad)
    (bad / damaged).write_bytes(b"{ damaged")
    for sampler, trainer in (_six_step_exp3_run(tmp_path / "fresh", train, skills), (whole, trainer)):
        before, replay = sampler.state_dict(), list(sampler._replay)
        with pytest.raises(Exception) as refused:
            trainer.train(resume_from_checkpoint=str(bad))
        assert not isinstance(refused.value, mg.MagisterError), "Trainer's own refusal, not the curriculum's"
        assert states_equal(sampler.state_dict(), before) and list(sampler._replay) == replay
    assert sampler.history == whole.history and len(whole.history) >= 6  # (the trained run's sampler, unchanged)
    sampler, trainer = _six_step_exp3_run(tmp_path / "resumed", train, skills)
    with pytest.raises(Exception):
        trainer.train(resume_from_checkpoint=str(bad))
    trainer.train(resume_from_checkpoint=str(checkpoint))
    assert sampler.history == _six_step_exp3_history(tmp_path / "again", train, skills)


def _six_step_exp3_history(out, train, skills):
    sampler, trainer = _six_step_exp3_run(out, train, skills)
    trainer.train()
    return sampler.history


def _train_recording_losses(monkeypatch, trainer, skills, steps: int):
    """Train with an exp3 curriculum; returns ``(teacher, sampler, seen)``, ``seen`` holding per micro-batch the
    skill of each example (its first labelled token; None without one) and its per-example loss."""
    import magister.data.hf as hf

    seen = []
    original = hf.per_example_loss_from_outputs

    def recorded(logits, labels, **kw):
        out = original(logits, labels, **kw)
        seen.append(([int(x[x != -100][0]) if (x != -100).any() else None for x in labels], out.tolist()))
        return out

    monkeypatch.setattr(hf, "per_example_loss_from_outputs", recorded)
    teacher = mg.make_teacher("exp3", mg.Discrete(["count", "repeat"]), seed=0)
    sampler = SkillSampler(skills, teacher, batch_size=4, num_batches=steps, seed=0)
    add_curriculum(trainer, sampler, eval_metric=None)
    trainer.train()
    return teacher, sampler, seen


def test_nan_training_losses_are_left_out_and_training_goes_on(tmp_path, monkeypatch, recwarn):
    """The curriculum refused a NaN per-example loss (InvalidScoreError), which stopped the run at step 0 where a
    plain Trainer goes on; now those examples are left out of the feedback and every batch still leaves the queue."""

    torch.set_num_threads(1)
    train, skills = _rows(0, 12)
    for r in train[12::2]:  # token 23 marks the examples whose logits come out NaN
        r["input_ids"][3] = r["labels"][3] = 23
    trainer = _trainer(tmp_path, train, {"count": train[:2]}, steps=6)
    trainer.args.eval_strategy = "no"
    ids = {}
    trainer.model.register_forward_pre_hook(lambda m, a, kw: ids.update(x=kw.get("input_ids")), with_kwargs=True)
    trainer.model.lm_head.register_forward_hook(
        lambda m, a, out: torch.where((ids["x"] == 23).any(1)[:, None, None], torch.full_like(out, float("nan")), out))
    teacher, sampler, seen = _train_recording_losses(monkeypatch, trainer, skills, steps=6)
    assert trainer.state.global_step == 6 and len(sampler.history) == 6 and sampler.pending == 0
    nan = [sum(not np.isfinite(v) for v in losses) for _, losses in seen]
    assert sum(nan) > 0 and any(0 < n < 4 for n in nan), "some batches mix NaN and finite losses"
    # one observation per skill that has a finite loss in the batch, none for the NaN examples
    assert teacher.n_observed == sum(len({s for s, v in zip(sk, losses) if np.isfinite(v)}) for sk, losses in seen)
    msgs = [str(w.message) for w in recwarn if "NaN or infinite" in str(w.message)]
    assert len(msgs) == 1 and msgs[0].startswith(f"{next(n for n in nan if n)} per-example")


def test_examples_without_a_labelled_token_are_left_out_without_a_warning(tmp_path, monkeypatch, recwarn):
    """An example whose labels are all -100 has no loss: it was told to the teacher as 0, a perfect score."""

    torch.set_num_threads(1)
    train, skills = _rows(0, 12)
    for r in train[1::3]:
        r["labels"] = torch.full_like(r["labels"], -100)
    trainer = _trainer(tmp_path, train, {"count": train[:2]}, steps=4)
    trainer.args.eval_strategy = "no"
    teacher, sampler, seen = _train_recording_losses(monkeypatch, trainer, skills, steps=4)
    assert sampler.pending == 0 and any(None in sk for sk, _ in seen)
    assert all(np.isnan(v) == (s is None) for sk, losses in seen for s, v in zip(sk, losses))
    # one observation per skill with a labelled example in the batch
    assert teacher.n_observed == sum(len({s for s in sk if s is not None}) for sk, _ in seen)
    assert not [w for w in recwarn if "NaN or infinite" in str(w.message)]


def test_a_model_without_logits_warns_that_training_gives_no_feedback(tmp_path, recwarn):
    """A custom model whose output holds only the loss: the teacher heard nothing from training, without a word, and
    every batch stayed waiting for feedback (a later batch's losses would have gone to the oldest of them)."""

    class LossOnly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Linear(4, 2)

        def forward(self, x, labels=None):
            return {"loss": torch.nn.functional.cross_entropy(self.w(x), labels)}

    rows = [{"x": torch.full((4,), float(i % 2)), "labels": torch.tensor(i % 2)} for i in range(20)]
    teacher = mg.make_teacher("exp3", mg.Discrete(["a", "b"]), seed=0)
    sampler = SkillSampler(["a", "b"] * 10, teacher, batch_size=4, num_batches=5, seed=0)
    args = transformers.TrainingArguments(output_dir=str(tmp_path), max_steps=5, report_to=[], use_cpu=True,
                                          disable_tqdm=True, save_strategy="no")
    trainer = add_curriculum(transformers.Trainer(model=LossOnly(), args=args, train_dataset=Rows(rows)), sampler)
    trainer.train()
    assert trainer.state.global_step == 5 and sampler.step == 5
    assert sampler.pending == 0 and teacher.n_observed == 0, "each batch had its turn, and nothing was observed"
    msgs = [str(w.message) for w in recwarn if "no training feedback" in str(w.message)]
    assert len(msgs) == 1 and "output has no logits" in msgs[0] and "train_feedback=False" in msgs[0]


def test_nan_evaluation_metrics_are_left_out():
    sampler = SkillSampler(["count", "repeat"] * 2, mg.make_teacher("exp3", mg.Discrete(["count", "repeat"]), seed=0),
                           batch_size=2)
    cb = CurriculumCallback(sampler)
    with pytest.warns(RuntimeWarning, match="NaN or infinite for 1 skill"):
        cb.on_evaluate(None, None, None, metrics={"eval_count_loss": float("nan"), "eval_repeat_loss": 1.0})
    cb.on_evaluate(None, None, None, metrics={"eval_count_loss": float("inf"), "eval_repeat_loss": float("nan")})
    assert sampler.teacher.n_observed == 1 and cb.evaluations == 1


def _as_a_ray_tune_trial(trainer, monkeypatch, trial_id="trial_00000"):
    """What ``hyperparameter_search(backend="ray")`` does to the trainer of each trial, without a Ray cluster (one
    takes most of a minute to start): its backend set, its trial id as Ray Tune's context reports it, and the
    curriculum's numpy arrays read-only, as they come out of Ray's object store."""
    import ray.tune
    from transformers.trainer_utils import HPSearchBackend

    monkeypatch.setattr(ray.tune, "get_context", lambda: type("Ctx", (), {"get_trial_id": lambda self: trial_id})())
    trainer.hp_search_backend = HPSearchBackend.RAY
    seen = set()

    def freeze(v):
        if isinstance(v, np.ndarray):
            v.flags.writeable = False
        elif id(v) not in seen and isinstance(v, (dict, list)) or hasattr(v, "__dict__") and not callable(v):
            seen.add(id(v))
            for w in (v.values() if isinstance(v, dict) else v if isinstance(v, list) else vars(v).values()):
                freeze(w)

    return freeze


def test_a_hyperparameter_search_trial_checkpoint_holds_the_curriculum_and_resumes_exactly(tmp_path, monkeypatch):
    """A trial of ``Trainer.hyperparameter_search`` saves its checkpoints under ``run-<trial>/``: the curriculum file
    was looked for in ``output_dir/checkpoint-<step>``, not found and not written, so resuming the trial warned that
    the curriculum started afresh; Ray Tune's own checkpoints of the trial lacked it too. Under Ray the trial did
    not even start: the sampler came out of Ray's object store with read-only arrays ("assignment destination is
    read-only" at the first batch)."""
    from magister.data.hf import CURRICULUM_FILE

    torch.set_num_threads(1)
    train, skills = _rows(0, 12)
    whole, trainer = _six_step_exp3_run(tmp_path / "hp", train, skills)
    freeze = _as_a_ray_tune_trial(trainer, monkeypatch)
    freeze(whole)
    assert not whole.teacher.estimates.flags.writeable
    trainer.train(trial={"learning_rate": 1e-2})
    saved = tmp_path / "hp" / "run-trial_00000" / "checkpoint-3"
    assert (saved / CURRICULUM_FILE).exists() and not (tmp_path / "hp" / "checkpoint-3").exists()
    trainer._tune_save_checkpoint(str(tmp_path / "tune"))  # what the trial reports to Ray Tune
    assert (tmp_path / "tune" / "checkpoint-6" / CURRICULUM_FILE).exists()

    resumed, again = _six_step_exp3_run(tmp_path / "resumed", train, skills)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no "the curriculum starts afresh"
        again.train(resume_from_checkpoint=str(saved))
    assert resumed.history == whole.history and resumed.teacher.to_bytes() == whole.teacher.to_bytes()


class _OptunaTrial:
    """What ``Trainer`` reads of an ``optuna.Trial`` (``number`` names the trial's folder, ``params`` its settings)."""

    def __init__(self, number, params):
        self.number, self.params = number, params


def _trials_in_one_process(tmp_path, monkeypatch):
    """A Trainer with ``model_init`` (as ``hyperparameter_search`` requires) on an exp3 curriculum, 4 steps saving at
    step 2, whose optuna backend runs its trials as ``run_hp_search_optuna`` does, one after another on this trainer
    (``trainer.train(resume_from_checkpoint=..., trial=trial)``), without optuna installed: each entry of
    ``trainer.plan`` is a trial's (settings, checkpoint). ``starts`` / ``ends`` collect the sampler's state as
    each ``train()`` begins and ends training."""
    import transformers.integrations
    from transformers.hyperparameter_search import OptunaBackend
    from transformers.trainer_utils import BestRun

    def run(self, trainer, n_trials, direction, **kwargs):
        for number, (params, checkpoint) in enumerate(trainer.plan):
            trainer.train(resume_from_checkpoint=checkpoint, trial=_OptunaTrial(number, params))
        return BestRun("0", 0.0, {})

    monkeypatch.setattr(OptunaBackend, "ensure_available", lambda self: None)
    monkeypatch.setattr(OptunaBackend, "run", run)
    monkeypatch.setattr(transformers.integrations, "hp_params", lambda trial: trial.params)  # optuna's branch

    torch.set_num_threads(1)
    train, skills = _rows(0, 12)
    cfg = transformers.GPT2Config(vocab_size=24, n_positions=16, n_embd=16, n_layer=1, n_head=2)
    args = transformers.TrainingArguments(output_dir=str(tmp_path), max_steps=4, per_device_train_batch_size=4,
                                          learning_rate=1e-2, logging_steps=1000, save_strategy="steps",
                                          save_steps=2, report_to=[], use_cpu=True, disable_tqdm=True, seed=0)
    teacher = mg.make_teacher("exp3", mg.Discrete(["count", "repeat"]), seed=0)
    sampler = SkillSampler(skills, teacher, batch_size=4, num_batches=4, seed=0)
    trainer = add_curriculum(transformers.Trainer(model_init=lambda trial=None: transformers.GPT2LMHeadModel(cfg),
                                                  args=args, train_dataset=Rows(train)), sampler, eval_metric=None)
    starts, ends = [], []

    class Record(transformers.TrainerCallback):
        def on_train_begin(self, *a, **kw):
            starts.append(sampler.state_dict())

        def on_train_end(self, *a, **kw):
            ends.append(sampler.state_dict())

    trainer.add_callback(Record())
    return trainer, sampler, starts, ends


def test_hyperparameter_search_trials_in_one_process_each_start_from_the_curriculum_the_search_found(
        tmp_path, monkeypatch):
    """optuna (and wandb) run the trials one after another on the one trainer, so on the one sampler: each trial
    started from the curriculum the trial before had left (its teacher's observations, its draws), so trials with
    the same settings trained on other batches and the search compared curricula, not settings. Now every trial
    starts from the state the search found (as each Ray Tune trial does, on its own copy), one that resumes a
    checkpoint from the checkpoint's curriculum, and the search leaves the sampler as it found it."""
    from magister.testing import states_equal

    trainer, sampler, starts, ends = _trials_in_one_process(tmp_path, monkeypatch)
    trainer.train()  # the curriculum has moved before the search
    found = sampler.state_dict()
    assert sampler.teacher.n_observed > 0
    trainer.plan = [({"learning_rate": 1e-2}, None), ({"learning_rate": 3e-2}, None), ({"learning_rate": 1e-2}, None),
                    ({"learning_rate": 1e-2}, str(tmp_path / "run-0" / "checkpoint-2"))]
    trainer.hyperparameter_search(backend="optuna", n_trials=4, hp_space=lambda trial: trial.params)
    starts, ends = starts[1:], ends[1:]  # the trials'
    for i in range(3):
        assert states_equal(starts[i], found), f"trial {i} started where the search found the curriculum"
    assert not states_equal(ends[0], found), "the teacher moved in a trial, so equality is not trivial"
    assert states_equal(ends[2], ends[0]), "trials with the same settings train the same curriculum"
    assert not states_equal(ends[1], ends[0])
    # trial 3 resumed trial 0's checkpoint: its curriculum, not the search's start, and it ends as trial 0 ended
    assert starts[3]["step"] > found["step"] and states_equal(ends[3], ends[0])
    assert states_equal(sampler.state_dict(), found), "the search left the curriculum as it found it"


def test_plain_train_calls_continue_the_curriculum_and_a_search_starts_where_they_left_it(tmp_path, monkeypatch):
    """Outside a search nothing changes: a second ``train()`` continues the curriculum where the first left it (as
    before). A search takes the state it finds as its trials' start, and a ``train()`` after it (with the best
    settings) starts from there too, as after a Ray Tune search, whose trials train copies."""
    from magister.testing import states_equal

    trainer, sampler, starts, ends = _trials_in_one_process(tmp_path, monkeypatch)
    trainer.train()
    trainer.train()
    assert states_equal(starts[1], ends[0]) and sampler.step == 8 and len(sampler.history) == 8, "train() continues"
    trainer.plan = [({"learning_rate": 1e-2}, None)] * 2
    trainer.hyperparameter_search(backend="optuna", n_trials=2, hp_space=lambda trial: trial.params)
    assert states_equal(starts[2], ends[1]) and states_equal(starts[3], ends[1]) and states_equal(ends[2], ends[3])
    trainer.train()
    assert states_equal(starts[4], ends[1]), "the search left the curriculum as it found it"
    trainer.hyperparameter_search(backend="optuna", n_trials=2, hp_space=lambda trial: trial.params)
    assert states_equal(starts[5], ends[4]) and states_equal(starts[6], ends[4]), "the state this search found"
    assert states_equal(ends[5], ends[6]) and not states_equal(ends[5], ends[2])


def test_writable_arrays_reaches_arrays_in_tuples_and_leaves_memory_maps_alone(tmp_path):
    # before: an array inside a tuple stayed read-only (a teacher keeping (counts, sums) failed at its first update in
    # a Ray Tune trial), and a read-only memory map of the user's data was read whole into memory
    import collections

    from magister.data.hf import writable_arrays

    def frozen(*shape):
        a = np.zeros(shape)
        a.flags.writeable = False
        return a

    Pair = collections.namedtuple("Pair", "counts sums")
    np.save(tmp_path / "big.npy", np.arange(10.0))
    mapped = np.load(tmp_path / "big.npy", mmap_mode="r")
    shared = (frozen(2), "label")
    holder = type("Holder", (), {})()
    holder.stats = (frozen(3), [frozen(1)])
    holder.pair = Pair(frozen(2), frozen(2))
    holder.twice = {"a": shared, "b": shared}
    holder.data = mapped
    writable_arrays(holder)
    assert holder.stats[0].flags.writeable and holder.stats[1][0].flags.writeable
    assert isinstance(holder.pair, Pair) and holder.pair.counts.flags.writeable and holder.pair.sums.flags.writeable
    assert holder.twice["a"] is holder.twice["b"] and holder.twice["a"][0].flags.writeable
    assert holder.twice["a"][1] == "label"
    assert holder.data is mapped and not mapped.flags.writeable


def test_an_eval_dict_keyed_by_no_skill_warns_that_no_evaluation_reaches_the_teacher(tmp_path):
    # eval_dataset={"validation": ...} (or keys spelled otherwise than the skills) gave the teacher no evaluation,
    # without a word: Trainer reports eval_validation_loss, and the callback looks for eval_<skill>_loss
    train, skills = _rows(0, 4)
    ev, _ = _rows(1, 2)
    teacher = mg.make_teacher("skill-it", mg.Discrete(["count", "repeat"]), seed=0)
    trainer = _trainer(tmp_path, train, {"validation": ev, "Count": ev[:2]}, steps=2)
    with pytest.warns(UserWarning, match=r"eval_dataset's keys \['validation', 'Count'\] name none of the "
                                         r"curriculum's skills \['count', 'repeat'\]"):
        add_curriculum(trainer, SkillSampler(skills, teacher, batch_size=4, seed=0))
    # keyed by skill (and an extra set beside them): no warning
    trainer = _trainer(tmp_path, train, {"count": ev[:2], "repeat": ev[2:], "all": ev}, steps=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        add_curriculum(trainer, SkillSampler(skills, mg.make_teacher("skill-it", mg.Discrete(["count", "repeat"]),
                                                                     seed=0), batch_size=4, seed=0))


def test_a_single_eval_set_warns_once_that_no_evaluation_reaches_the_teacher_and_changes_nothing_else(tmp_path):
    # eval_dataset=one set (not a dict): Trainer reports eval_loss over all skills together, which names no skill,
    # so CurriculumCallback (reading eval_<skill>_loss) fed the teacher nothing, without a word
    train, skills = _rows(0, 4)
    ev, _ = _rows(1, 2)

    def run(eval_metric):
        trainer = _trainer(tmp_path / str(eval_metric), train, {}, steps=4)
        trainer.eval_dataset = Rows(ev)
        teacher = mg.make_teacher("skill-it", mg.Discrete(["count", "repeat"]), seed=0)
        sampler = SkillSampler(skills, teacher, batch_size=4, seed=0)
        return trainer, add_curriculum(trainer, sampler, eval_metric=eval_metric), teacher, sampler

    trainer, _, teacher, sampler = run("loss")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.train()  # (two evaluations)
    said = [str(w.message) for w in caught if "no eval_<skill>_loss" in str(w.message)]
    assert len(said) == 1, "warned once"
    assert re.search(r"reported eval_loss and no eval_<skill>_loss: one set, not a dict keyed by skill.*dict keyed "
                     r"by skill name \(\{'count': \.\.\., 'repeat': \.\.\.\}\).*eval_metric=None", said[0])
    # the same run without the callback: the same batches and the same teacher (only training feedback reached it)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        bare, _, bare_teacher, bare_sampler = run(None)
    bare.train()
    assert sampler.history == bare_sampler.history and teacher.to_bytes() == bare_teacher.to_bytes()


def test_the_callback_warns_once_when_evaluations_name_no_skill():
    teacher = mg.make_teacher("skill-it", mg.Discrete(["a", "b"]), window=1, seed=0)
    sampler = SkillSampler(["a", "b"], teacher, batch_size=2, seed=0)
    cb = CurriculumCallback(sampler, metric="accuracy")
    fresh = teacher.to_bytes()
    with pytest.warns(UserWarning, match=r"reported eval_accuracy and no eval_<skill>_accuracy.*all skills together"):
        cb.on_evaluate(None, None, None, metrics={"eval_accuracy": 0.5})
    assert teacher.to_bytes() == fresh and cb.evaluations == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cb.on_evaluate(None, None, None, metrics={"eval_accuracy": 0.5})  # once
        # per-skill sets (one call each, as Trainer evaluates a dict) and other sets: no warning
        other = CurriculumCallback(sampler, metric="loss")
        other.on_evaluate(None, None, None, metrics={"eval_a_loss": 1.0})
        other.on_evaluate(None, None, None, metrics={"eval_validation_loss": 1.0})
        # one set whose compute_metrics reports per-skill metrics: they reach the teacher, no warning
        other.on_evaluate(None, None, None, metrics={"eval_loss": 2.0, "eval_b_loss": 1.0})
    assert other.evaluations == 2
