"""TRL GRPOTrainer + prompt curriculum, end to end on a tiny randomly initialised Llama (no downloads)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
datasets = pytest.importorskip("datasets")
trl = pytest.importorskip("trl")
tokenizers = pytest.importorskip("tokenizers")

import magister as mg  # noqa: E402
from magister.testing import states_equal  # noqa: E402
from magister.data import PromptCurriculum  # noqa: E402
from magister.data.grpo import (BLOCK_NAME, CHECKPOINT_NAME, INDEX_COLUMN, CurriculumGRPOTrainer,  # noqa: E402
                                CurriculumRepeatSampler, add_prompt_curriculum, load_curriculum_checkpoint)

N = 16  # prompts: "i+i=" for i < N; category "low" (i < 8) and "high"


def _tokenizer():
    vocab = {"<pad>": 0, "<eos>": 1, **{c: i + 2 for i, c in enumerate("0123456789+=")}}
    tk = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<pad>"))
    tk.pre_tokenizer = tokenizers.pre_tokenizers.Split("", "isolated")
    tk.decoder = tokenizers.decoders.Fuse()
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="<eos>")


def _model():
    cfg = transformers.LlamaConfig(vocab_size=14, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                   num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=32,
                                   pad_token_id=0, eos_token_id=1, bos_token_id=1)
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(cfg)


def _dataset():
    return datasets.Dataset.from_dict({"prompt": [f"{i}+{i}=" for i in range(N)],
                                       "level": ["low" if i < 8 else "high" for i in range(N)]})


class Rewards:
    """A reward that depends only on the prompt and the completion's place in its group (so runs repeat
    exactly whatever the model generates): prompts in ``half`` pass every other completion, the rest always
    pass. Records the prompt index of every completion it scores."""

    def __init__(self, half):
        self.half = set(half)
        self.calls: list[list[int]] = []
        self.__name__ = "correct"

    def __call__(self, prompts, completions, **kwargs):
        idx = list(kwargs[INDEX_COLUMN])
        self.calls.append(idx)
        seen: dict[int, int] = {}
        out = []
        for i in idx:
            j = seen.get(i, 0)
            seen[i] = j + 1
            out.append(float(j % 2 == 0) if i in self.half else 1.0)
        return out


def _config(tmp_path, steps, **kw):
    torch.set_num_threads(1)
    settings = dict(output_dir=str(tmp_path), max_steps=steps, per_device_train_batch_size=8, num_generations=4,
                    max_completion_length=3, learning_rate=1e-3, report_to=[], use_cpu=True, disable_tqdm=True,
                    logging_steps=1000, save_strategy="no", seed=0)
    return trl.GRPOConfig(**{**settings, **kw})


def _trainer(tmp_path, steps, reward, **kw):
    return trl.GRPOTrainer(model=_model(), reward_funcs=reward, args=_config(tmp_path, steps, **kw),
                           train_dataset=_dataset(), processing_class=_tokenizer())


def test_grpo_prompts_come_from_the_curriculum_and_rewards_reach_the_teacher(tmp_path):
    reward = Rewards(half=range(8, N))
    teacher = mg.make_teacher("sec", mg.Discrete(["low", "high"]), reward="score", seed=0)
    cur = PromptCurriculum(teacher, categories=_dataset()["level"], seed=0)
    assert cur.feedback == "abs_advantage"
    trainer = add_prompt_curriculum(_trainer(tmp_path, 4, reward), cur)
    trainer.train()
    # every generation step scored 2 prompts x 4 completions, in the order the curriculum chose them
    assert len(reward.calls) == 4 and all(len(c) == 8 for c in reward.calls)
    chosen = []
    for h in cur.history[:4]:
        assert sum(h["counts"]) == 2
    for call in reward.calls:
        groups = [call[k] for k in range(0, 8, 4)]
        assert all(call[k:k + 4] == [call[k]] * 4 for k in range(0, 8, 4))
        chosen.append(groups)
    cats = [[0 if i < 8 else 1 for i in g] for g in chosen]  # task 0 is "low"
    assert [np.bincount(c, minlength=2).tolist() for c in cats] == [h["counts"] for h in cur.history[:4]]
    # the teacher saw one group per prompt: "high" prompts pass half the time (|advantage| ~1), "low" always
    assert teacher.n_observed == cur.groups_observed == 8
    assert cur.attempts.sum() == 32
    seen = teacher.beliefs()["observed"]
    if seen[1]:
        assert teacher.q[1] > 0.4
    if seen[0]:
        assert teacher.q[0] == pytest.approx(0.0)


def test_learnability_over_prompts_moves_to_the_prompts_solved_half_the_time(tmp_path):
    odd = range(1, N, 2)
    reward = Rewards(half=odd)
    # prior 0: unseen prompts have no weight once something is learnable, epsilon 0: no exploration
    teacher = mg.make_teacher("learnability-bandit", mg.Discrete(N), prior=0.0, epsilon=0.0, seed=1)
    cur = PromptCurriculum(teacher, seed=0)
    trainer = trl.GRPOTrainer(model=_model(), reward_funcs=[reward], args=_config(tmp_path, 8),
                              train_dataset=_dataset(), processing_class=_tokenizer())
    add_prompt_curriculum(trainer, cur)
    trainer.train()
    used = [sorted(set(c)) for c in reward.calls]
    first_odd = next(k for k, u in enumerate(used) if any(i % 2 for i in u))
    assert first_odd < 4, "uniform start: an odd prompt is drawn early"
    # one step of lag (the loader fetches ahead), then only prompts with pass rate 1/2
    later = [i for u in used[first_odd + 2:] for i in u]
    assert later and all(i % 2 == 1 for i in later)
    seen = np.flatnonzero(teacher.counts)
    assert teacher.pass_rate[seen].tolist() == [0.5 if i % 2 else 1.0 for i in seen]


def _resumable(out, steps, save, **kw):
    reward = Rewards(half=range(8, N))
    teacher = mg.make_teacher("lp-bandit", mg.Discrete(["low", "high"]), seed=0)
    cur = PromptCurriculum(teacher, categories=_dataset()["level"], seed=0)
    trainer = CurriculumGRPOTrainer(model=_model(), reward_funcs=reward, processing_class=_tokenizer(),
                                    args=_config(out, steps, save_strategy="steps", save_steps=save, **kw),
                                    train_dataset=_dataset(), curriculum=cur)
    return trainer, cur, reward, _generations(trainer)


def _generations(trainer) -> list[int]:
    """TRL's micro-step count at each generation of ``trainer``, filled in as it trains."""
    generated_at: list[int] = []
    generate = trainer._generate_and_score_completions

    def spy(batch):
        generated_at.append(trainer._step)
        return generate(batch)

    trainer._generate_and_score_completions = spy
    return generated_at


def test_checkpoint_holds_the_curriculum_and_resume_continues_it(tmp_path):
    full, cur_full, _, _ = _resumable(tmp_path / "full", 6, 3)
    full.train()
    ckpt = tmp_path / "full" / "checkpoint-3"
    assert (ckpt / CHECKPOINT_NAME).exists()

    resumed, cur, reward, _ = _resumable(tmp_path / "resumed", 6, 3)
    load_curriculum_checkpoint(cur, ckpt)
    at_save = cur.step
    assert 3 <= at_save <= 5 and cur.history == cur_full.history[:at_save]
    assert cur.teacher.n_observed == 3 * 2, "three generation steps of two prompts were fed back before the save"
    assert cur.pending == at_save - 3, "the generation batches fetched ahead wait to be handed out again"
    resumed.train(resume_from_checkpoint=str(ckpt))
    assert len(reward.calls) == 3, "only the remaining steps ran"
    assert cur.history == cur_full.history and cur.teacher.to_bytes() == cur_full.teacher.to_bytes()


@pytest.mark.parametrize("resume", ["folder", True])
def test_a_resume_without_loading_the_curriculum_loads_it_from_the_checkpoint(tmp_path, resume):
    """``trainer.train(resume_from_checkpoint=...)`` with the curriculum built anew but not loaded (the
    ``load_curriculum_checkpoint`` step left out) restored the model and the trainer's step but left the teacher
    fresh: the resumed run drew other prompts, logged its steps from 0 again and its checkpoints saved that
    curriculum, without a word. A curriculum nothing has used yet is now loaded from the checkpoint folder."""
    full, cur_full, full_reward, _ = _resumable(tmp_path / "full", 6, 3)
    full.train()
    ckpt = tmp_path / "full" / "checkpoint-3"
    resumed, cur, reward, _ = _resumable(tmp_path / "full", 6, 3)
    for later in ("checkpoint-6", "checkpoint-4", "checkpoint-5"):  # resume=True takes the newest checkpoint
        shutil.rmtree(tmp_path / "full" / later, ignore_errors=True)
    resumed.train(resume_from_checkpoint=str(ckpt) if resume == "folder" else True)
    assert reward.calls and reward.calls == full_reward.calls[-len(reward.calls):]
    assert cur.history == cur_full.history and cur.teacher.to_bytes() == cur_full.teacher.to_bytes()
    assert cur.attempts.tolist() == cur_full.attempts.tolist()


def test_a_resume_with_a_curriculum_already_used_keeps_it(tmp_path):
    """Only an unused curriculum is loaded on resume: one the caller loaded (or used) is left as it is."""
    full, _, _, _ = _resumable(tmp_path / "full", 4, 2)
    full.train()
    resumed, cur, _, _ = _resumable(tmp_path / "resumed", 4, 2)
    cur.next_prompts(2)
    before = cur.history[:]
    resumed.train(resume_from_checkpoint=str(tmp_path / "full" / "checkpoint-2"))
    assert cur.history[:1] == before, "the caller's curriculum was not replaced by the checkpoint's"


def test_a_resume_whose_checkpoint_curriculum_does_not_fit_says_which_file_and_what_to_do(tmp_path):
    """A checkpoint of a run with another teacher: ``train`` loads the curriculum unasked, and the teacher's own
    refusal ("state dict belongs to teacher 'lp-bandit', not 'sec'; load it with magister.load() ...") named no
    file and no way to resume this curriculum fresh; it names the checkpoint's file and both ways, changing nothing."""
    full, _, _, _ = _resumable(tmp_path / "full", 4, 2)
    full.train()
    teacher = mg.make_teacher("sec", mg.Discrete(["low", "high"]), seed=0)
    cur = PromptCurriculum(teacher, categories=_dataset()["level"], seed=0)
    trainer = CurriculumGRPOTrainer(model=_model(), reward_funcs=Rewards(half=range(8, N)),
                                    processing_class=_tokenizer(), args=_config(tmp_path / "other", 4),
                                    train_dataset=_dataset(), curriculum=cur)
    fresh = cur.teacher.to_bytes()
    with pytest.raises(mg.errors.MagisterError) as e:
        trainer.train(resume_from_checkpoint=str(tmp_path / "full" / "checkpoint-2"))
    assert CHECKPOINT_NAME in str(e.value) and "'lp-bandit', not 'sec'" in str(e.value)
    assert cur.step == 0 and cur.teacher.to_bytes() == fresh and trainer.state.global_step == 0
    assert "resume_curriculum=False" in str(e.value)


def test_a_checkpoint_of_other_prompts_is_refused_on_resume_naming_both_ways_and_the_same_prompts_resume(tmp_path):
    """A checkpoint's curriculum resumed over a train dataset of other prompts, as many rows in the same categories
    (prompts edited, or another prompts file), was taken without a word: its per-prompt statistics (and a teacher
    over prompts) then went to other prompts. The curriculum saves the digest of the dataset's ``prompt`` column,
    and a resume over other prompts is refused naming the file and both ways on, changing nothing."""
    full, _, _, _ = _resumable(tmp_path / "full", 4, 2)
    full.train()
    ckpt = tmp_path / "full" / "checkpoint-2"
    edited = datasets.Dataset.from_dict({"prompt": [f"{i}+{i}=" for i in range(N - 1)] + ["9+6="],
                                         "level": _dataset()["level"]})

    def build(dataset, curriculum=None, **kw):
        cur = curriculum or PromptCurriculum(mg.make_teacher("lp-bandit", mg.Discrete(["low", "high"]), seed=0),
                                             categories=dataset["level"], seed=0)
        trainer = CurriculumGRPOTrainer(model=_model(), reward_funcs=Rewards(half=range(8, N)), curriculum=cur,
                                        processing_class=_tokenizer(), args=_config(tmp_path / "other", 4),
                                        train_dataset=dataset, **kw)
        return trainer, cur

    trainer, cur = build(edited)
    fresh = cur.state_dict()
    with pytest.raises(mg.ConfigError, match="other prompts") as e:
        trainer.train(resume_from_checkpoint=str(ckpt))
    assert CHECKPOINT_NAME in str(e.value) and "resume_curriculum=False" in str(e.value)
    assert "Rebuild the curriculum over the prompts it was saved with" in str(e.value)
    assert states_equal(cur.state_dict(), fresh) and trainer.state.global_step == 0
    with pytest.raises(mg.ConfigError, match="other prompts"):
        load_curriculum_checkpoint(cur, ckpt)
    assert states_equal(cur.state_dict(), fresh)
    # a curriculum loaded from the checkpoint before it meets the trainer is refused by add_prompt_curriculum
    loaded = PromptCurriculum(mg.make_teacher("lp-bandit", mg.Discrete(["low", "high"]), seed=0),
                              categories=edited["level"], seed=0)
    load_curriculum_checkpoint(loaded, ckpt)
    with pytest.raises(mg.ConfigError, match="not the train dataset's 'prompt' column"):
        build(edited, loaded)
    # the way on the message names: the model checkpoint with this curriculum as built
    trainer, cur = build(edited, resume_curriculum=False)
    trainer.train(resume_from_checkpoint=str(ckpt))
    assert trainer.state.global_step == 4 and cur.history[0]["step"] == 0
    # the same prompts resume
    trainer, cur = build(_dataset())
    trainer.train(resume_from_checkpoint=str(ckpt))
    assert trainer.state.global_step == 4 and cur.history[0]["step"] == 0 and cur.step > 2


def test_resume_curriculum_false_goes_on_from_the_model_checkpoint_with_the_curriculum_as_built(tmp_path):
    """Since ``train`` loads an unused curriculum from the checkpoint, resuming a model checkpoint with a different
    curriculum on purpose meant moving ``magister_curriculum.ckpt`` out of the folder. ``resume_curriculum=False``
    keeps the curriculum as built (and the saved file where it is); the default still loads it."""
    full, _, _, _ = _resumable(tmp_path / "full", 4, 2)
    full.train()
    ckpt = tmp_path / "full" / "checkpoint-2"
    for resume_curriculum in ("no", None):
        with pytest.raises(mg.errors.ConfigError, match="resume_curriculum must be True or False"):
            add_prompt_curriculum(_trainer(tmp_path / "bad", 4, Rewards(half=[])), PromptCurriculum(
                mg.make_teacher("uniform", mg.Discrete(N), seed=0), seed=0), resume_curriculum=resume_curriculum)
    teacher = mg.make_teacher("sec", mg.Discrete(["low", "high"]), reward="score", seed=0)
    cur = PromptCurriculum(teacher, categories=_dataset()["level"], seed=0)
    reward = Rewards(half=range(8, N))
    trainer = CurriculumGRPOTrainer(model=_model(), reward_funcs=reward, processing_class=_tokenizer(),
                                    args=_config(tmp_path / "other", 4), train_dataset=_dataset(), curriculum=cur,
                                    resume_curriculum=False)
    trainer.train(resume_from_checkpoint=str(ckpt))
    assert trainer.state.global_step == 4 and len(reward.calls) == 2, "the model and trainer resumed at step 2"
    assert cur.history[0]["step"] == 0 and teacher.name == "sec" and teacher.n_observed == 2 * 2
    assert (ckpt / CHECKPOINT_NAME).exists()

    same = PromptCurriculum(mg.make_teacher("lp-bandit", mg.Discrete(["low", "high"]), seed=0),
                            categories=_dataset()["level"], seed=0)
    kept = add_prompt_curriculum(_trainer(tmp_path / "kept", 4, Rewards(half=range(8, N))), same,
                                 resume_curriculum=False)
    kept.train(resume_from_checkpoint=str(ckpt))
    assert same.teacher.n_observed == 2 * 2, "the fitting saved curriculum was not loaded either"


@pytest.mark.parametrize("steps,save,kw", [
    (6, 3, {}),  # mid-epoch (8 generation batches an epoch), the loader one batch ahead at the save
    (7, 2, dict(gradient_accumulation_steps=3, steps_per_generation=1)),  # updates of 3, 3, 2 batches; 2 epoch ends
    (6, 2, dict(num_iterations=2)),  # blocks of two steps, the checkpoint between two
    (6, 3, dict(dataloader_num_workers=1)),  # a loader worker fetches further ahead
])
def test_a_resume_from_a_mid_epoch_checkpoint_repeats_the_uninterrupted_run(tmp_path, steps, save, kw):
    """``ignore_data_skip`` restarted a whole epoch at the checkpoint (its end, the gradient-accumulation groups and
    state.epoch moved), and the generation batch the loader had fetched ahead at the save was never trained: every
    step after the resume trained the next prompts, one generation batch off, and the teacher heard other rewards.
    The resumed run now repeats the uninterrupted one: prompts, curriculum log, teacher, weights."""
    full, cur_full, full_reward, _ = _resumable(tmp_path / "full", steps, save, **kw)
    full.train()
    resumed, cur, reward, _ = _resumable(tmp_path / "resumed", steps, save, **kw)
    ckpt = tmp_path / "full" / f"checkpoint-{save}"
    load_curriculum_checkpoint(cur, ckpt)
    resumed.train(resume_from_checkpoint=str(ckpt))
    assert reward.calls and reward.calls == full_reward.calls[-len(reward.calls):]
    assert cur.history == cur_full.history and cur.teacher.to_bytes() == cur_full.teacher.to_bytes()
    assert cur.attempts.tolist() == cur_full.attempts.tolist() and cur.pending == cur_full.pending
    assert resumed.state.epoch == full.state.epoch and resumed.state.global_step == full.state.global_step == steps
    assert all(torch.equal(a, b) for a, b in zip(full.model.parameters(), resumed.model.parameters()))


@pytest.mark.parametrize("steps,save,kw,full_at,resumed_at", [
    (8, 3, dict(num_iterations=2), [0, 2, 4, 6], [4, 6]),  # blocks of 2 updates on the same completions
    (9, 4, dict(steps_per_generation=3, gradient_accumulation_steps=1), [0, 3, 6], [6]),  # 3 updates per block
])
def test_a_resume_inside_a_generation_block_repeats_the_uninterrupted_run(tmp_path, steps, save, kw, full_at,
                                                                          resumed_at):
    """TRL keeps a block's completions in memory only, so a run resumed from a checkpoint inside a block generated a
    new block of the next prompts for the rest of it: other prompts trained, another reward call, the teacher told
    of prompts the uninterrupted run never drew, other weights. The checkpoint now holds TRL's buffered block
    (BLOCK_NAME) and the sampler hands its prompts out again: nothing is generated until the next block, and the
    resumed run repeats the uninterrupted one bit for bit."""
    full, cur_full, full_reward, generated = _resumable(tmp_path / "full", steps, save, **kw)
    full.train()
    ckpt = tmp_path / "full" / f"checkpoint-{save}"
    assert generated == full_at and (ckpt / BLOCK_NAME).exists()
    assert not (tmp_path / "full" / f"checkpoint-{steps}" / BLOCK_NAME).exists(), "a save between blocks needs none"
    resumed, cur, reward, resumed_generated = _resumable(tmp_path / "resumed", steps, save, **kw)
    load_curriculum_checkpoint(cur, ckpt)
    resumed.train(resume_from_checkpoint=str(ckpt))
    assert resumed_generated == resumed_at, "the rest of the interrupted block trains on its saved completions"
    assert reward.calls == full_reward.calls[-len(resumed_at):]
    assert cur.history == cur_full.history and cur.teacher.to_bytes() == cur_full.teacher.to_bytes()
    assert cur.attempts.tolist() == cur_full.attempts.tolist() and cur.pending == cur_full.pending
    assert all(torch.equal(a, b) for a, b in zip(full.model.parameters(), resumed.model.parameters()))


def test_a_checkpoint_inside_a_block_without_trls_completions_warns_and_other_settings_are_refused(tmp_path):
    """From a checkpoint inside a block saved without BLOCK_NAME (an older magister), the rest of the block is
    trained on a new block of the next prompts, with a warning that says so; the blocks after it fall where they
    did. One resumed with another block length is refused, naming the settings."""
    full, cur_full, _, full_at = _resumable(tmp_path / "full", 8, 3, num_iterations=2)
    full.train()
    ckpt = tmp_path / "full" / "checkpoint-3"
    other, cur, _, _ = _resumable(tmp_path / "other", 8, 3, num_iterations=3)
    load_curriculum_checkpoint(cur, ckpt)
    with pytest.raises(mg.ConfigError, match="1 micro-steps into a generation block of 2.*num_iterations"):
        other.train(resume_from_checkpoint=str(ckpt))
    (ckpt / BLOCK_NAME).unlink()
    resumed, cur, reward, resumed_at = _resumable(tmp_path / "resumed", 8, 3, num_iterations=2)
    load_curriculum_checkpoint(cur, ckpt)
    with pytest.warns(UserWarning, match="1 micro-steps into a generation block of 2.*trained on a new block"):
        resumed.train(resume_from_checkpoint=str(ckpt))
    assert full_at == [0, 2, 4, 6] and resumed_at == [3, 4, 6]
    assert resumed.state.epoch == full.state.epoch
    assert cur.groups_observed == cur_full.groups_observed + 2 and cur.pending == cur_full.pending


def test_the_sampler_pass_resumed_inside_a_block_gives_the_rest_of_it_its_prompts_or_the_next_and_draws_nothing_ahead():
    cur = PromptCurriculum(mg.make_teacher("uniform", mg.Discrete(N), seed=0), seed=0)
    sampler = CurriculumRepeatSampler(cur, prompts_per_generation=2, num_generations=4, repeat_count=3)
    assert len(sampler) == 8 * 2 * 4 * 3  # 8 blocks of 3 loader batches of 8 indices
    with pytest.raises(mg.ConfigError, match="cannot resume 24 batches into a pass of 24"):
        sampler.resume_pass_at(24)
    sampler.resume_pass_at(4)  # one block and one batch of the next trained
    assert cur.step == 0, "nothing is drawn"
    out = list(sampler)
    assert len(out) == len(sampler) - 4 * 8 and cur.step == 7  # 2 batches of a block, then 6 whole blocks
    rows = [out[k:k + 8] for k in range(0, len(out), 8)]
    assert rows[0] == rows[1] != rows[2] and rows[2] == rows[3] == rows[4]
    assert len(list(sampler)) == len(sampler), "the next pass is whole"
    # with the interrupted block's prompts (what a checkpoint holding TRL's block gives): they, without a draw
    sampler.resume_pass_at(4, block=[5, 9])
    step = cur.step
    out = list(sampler)
    assert out[:16] == [5] * 4 + [9] * 4 + [5] * 4 + [9] * 4 and cur.step == step + 6
    with pytest.raises(mg.ConfigError, match="had 3 prompts.*2 per block"):
        sampler.resume_pass_at(4, block=[1, 2, 3])


def test_bad_set_ups_are_refused_and_change_nothing(tmp_path):
    teacher = mg.make_teacher("sec", mg.Discrete(["low", "high"]), seed=0)
    cur = PromptCurriculum(teacher, categories=_dataset()["level"], seed=0)

    def other(prompts, completions, **kw):
        return [0.0] * len(prompts)

    two = trl.GRPOTrainer(model=_model(), reward_funcs=[Rewards(half=[]), other], args=_config(tmp_path, 1),
                          train_dataset=_dataset(), processing_class=_tokenizer())
    with pytest.raises(mg.MagisterError, match="reward='name'"):
        add_prompt_curriculum(two, cur)
    with pytest.raises(mg.MagisterError, match="no reward function named"):
        add_prompt_curriculum(two, cur, reward="nope")
    assert INDEX_COLUMN not in two.train_dataset.column_names and two.reward_funcs[1] is other
    add_prompt_curriculum(two, cur, reward="other")
    assert INDEX_COLUMN in two.train_dataset.column_names
    with pytest.raises(mg.MagisterError, match="already has a prompt curriculum"):
        add_prompt_curriculum(two, cur, reward="other")

    small = PromptCurriculum(mg.make_teacher("uniform", mg.Discrete(N - 1), seed=0), seed=0)
    one = _trainer(tmp_path, 1, Rewards(half=[]))
    with pytest.raises(mg.MagisterError, match="15 prompts"):
        add_prompt_curriculum(one, small)
    one.args.remove_unused_columns = True
    with pytest.raises(mg.MagisterError, match="remove_unused_columns"):
        add_prompt_curriculum(one, cur)
    with pytest.raises(mg.MagisterError, match="does not exist"):
        load_curriculum_checkpoint(cur, tmp_path)


def test_groups_of_one_completion_are_refused_before_training_with_abs_advantage(tmp_path):
    """GRPOConfig refuses num_generations=1, but a trainer built after ``args.num_generations = 1`` took SEC's
    |advantage| curriculum, whose every score is then 0 (it learned nothing); it is refused before any change.
    Pass rates work with one completion per prompt."""
    args = _config(tmp_path, 1, num_generations=2)
    args.num_generations = 1
    one = trl.GRPOTrainer(model=_model(), reward_funcs=Rewards(half=[]), args=args, train_dataset=_dataset(),
                          processing_class=_tokenizer())
    sec = PromptCurriculum(mg.make_teacher("sec", mg.Discrete(["low", "high"]), reward="score", seed=0),
                           categories=_dataset()["level"], seed=0)
    with pytest.raises(mg.errors.ConfigError, match="num_generations=1.*at least 2 completions per prompt"):
        add_prompt_curriculum(one, sec)
    assert INDEX_COLUMN not in one.train_dataset.column_names and not hasattr(one, "prompt_curriculum")
    rates = PromptCurriculum(mg.make_teacher("learnability-bandit", mg.Discrete(N), seed=0), seed=0)
    assert add_prompt_curriculum(one, rates).prompt_curriculum is rates


def test_load_curriculum_checkpoint_names_the_checkpoint_to_pass(tmp_path):
    """Given the trainer's output_dir (which holds checkpoint-<step> folders), it said the checkpoint "was saved
    without a prompt curriculum"; given ``True`` (as ``train(resume_from_checkpoint=True)`` takes), a raw TypeError."""
    full, cur_full, _, _ = _resumable(tmp_path / "full", 4, 2)
    full.train()
    cur = PromptCurriculum(mg.make_teacher("lp-bandit", mg.Discrete(["low", "high"]), seed=0),
                           categories=_dataset()["level"], seed=0)
    fresh = cur.state_dict()
    for where, match in [(tmp_path / "full", "holds checkpoint folders.*checkpoint-4"),
                         (True, "must be a checkpoint folder.*resume_from_checkpoint=True"),
                         (None, "must be a checkpoint folder"),
                         (tmp_path / "nowhere", "no checkpoint folder"),
                         (tmp_path / "full" / "checkpoint-2" / "sub", "no checkpoint folder")]:
        with pytest.raises(mg.errors.ConfigError, match=match):
            load_curriculum_checkpoint(cur, where)
    assert states_equal(cur.state_dict(), fresh)
    load_curriculum_checkpoint(cur, tmp_path / "full" / "checkpoint-4")
    assert cur.history == cur_full.history[:cur.step]


def test_evaluation_rewards_do_not_reach_the_curriculum(tmp_path):
    """With an eval_dataset the first evaluation crashed: the wrapped reward fed the curriculum the eval
    completions, which have no prompt column (and were never chosen by the teacher)."""
    reward = Rewards(half=range(8, N))
    teacher = mg.make_teacher("sec", mg.Discrete(["low", "high"]), reward="score", seed=0)
    cur = PromptCurriculum(teacher, categories=_dataset()["level"], seed=0)
    trainer = trl.GRPOTrainer(model=_model(), reward_funcs=reward, processing_class=_tokenizer(),
                              args=_config(tmp_path, 1, eval_strategy="steps", eval_steps=1,
                                           per_device_eval_batch_size=8),
                              train_dataset=_dataset(), eval_dataset=_dataset().add_column(INDEX_COLUMN, [0] * N))
    add_prompt_curriculum(trainer, cur)
    trainer.train()
    assert len(reward.calls) >= 2, "one training step and an evaluation were scored"
    assert teacher.n_observed == cur.groups_observed == 2 and cur.attempts.sum() == 8, "the training step only"

    def correct(prompts, completions, **kw):  # needs no prompt column: the eval dataset has none
        return [float(k % 2) for k in range(len(prompts))]

    cur = PromptCurriculum(mg.make_teacher("sec", mg.Discrete(["low", "high"]), reward="score", seed=0),
                           categories=_dataset()["level"], seed=0)
    trainer = trl.GRPOTrainer(model=_model(), reward_funcs=correct, processing_class=_tokenizer(),
                              args=_config(tmp_path, 1, eval_strategy="steps", eval_steps=1,
                                           per_device_eval_batch_size=8),
                              train_dataset=_dataset(), eval_dataset=_dataset())
    add_prompt_curriculum(trainer, cur)
    trainer.train()
    assert cur.groups_observed == 2


def test_a_prompt_drawn_twice_in_a_generation_batch_gives_two_groups_as_grpo_groups_them(tmp_path):
    """Completions were grouped by prompt index, so a prompt drawn for both slots of a generation batch made one
    merged group of 8: the teacher heard one observation instead of two, and its |advantage| (TRL's is per
    group of num_generations) was 1 where both of GRPO's groups had 0."""
    calls = []

    def correct(prompts, completions, **kwargs):  # the first group of each batch passes, the second fails
        calls.append(list(kwargs[INDEX_COLUMN]))
        return [1.0 if k < 4 else 0.0 for k in range(len(completions))]

    teacher = mg.make_teacher("sequential", mg.Discrete(N), stages=[{"tasks": [3]}], seed=0)
    cur = PromptCurriculum(teacher, feedback="abs_advantage", seed=0)
    trainer = add_prompt_curriculum(_trainer(tmp_path, 2, correct), cur)
    trainer.train()
    assert calls and all(c == [3] * 8 for c in calls)
    assert cur.groups_observed == 2 * len(calls) and cur.attempts[3] == 8 * len(calls)
    out = cur.observe([3] * 8, [1.0] * 4 + [0.0] * 4, group_size=4)
    assert out["prompt"].tolist() == [3, 3] and out["abs_advantage"].tolist() == [0.0, 0.0]


def test_an_async_callable_reward_object_is_awaited_and_feeds_the_curriculum(tmp_path):
    """A reward object whose ``__call__`` is ``async`` (TRL awaits it) was wrapped as a plain function: the
    wrapper iterated the coroutine and the first training step crashed ("'coroutine' object is not iterable")."""

    class AsyncCorrect:
        __name__ = "correct"

        async def __call__(self, prompts, completions, **kwargs):
            return [float(k % 2) for k in range(len(prompts))]

    cur = PromptCurriculum(mg.make_teacher("sec", mg.Discrete(["low", "high"]), reward="score", seed=0),
                           categories=_dataset()["level"], seed=0)
    trainer = add_prompt_curriculum(_trainer(tmp_path, 1, AsyncCorrect()), cur)
    trainer.train()
    assert cur.groups_observed == 2 and cur.attempts.sum() == 8 and np.nanmax(cur.pass_rates()) == 0.5


def test_a_reward_function_returning_too_few_rewards_is_named(tmp_path):
    """The wrapper fed the curriculum before TRL checked the count, and its error told the user to "pass one
    prompt index per completion" (which the trainer does) instead of naming the reward function at fault."""

    def correct(prompts, completions, **kwargs):
        return [1.0] * (len(prompts) - 1)

    cur = PromptCurriculum(mg.make_teacher("sec", mg.Discrete(["low", "high"]), reward="score", seed=0),
                           categories=_dataset()["level"], seed=0)
    trainer = add_prompt_curriculum(_trainer(tmp_path, 1, correct), cur)
    with pytest.raises(mg.MagisterError, match="reward function 'correct' returned 7 rewards for 8 completions"):
        trainer.train()
    assert cur.groups_observed == 0 and cur.attempts.sum() == 0


@pytest.mark.parametrize("bad", [{"prompts_per_generation": 0}, {"num_generations": 0}, {"repeat_count": 0},
                                 {"prompts_per_generation": -2}, {"prompts_per_generation": 2.5}])
def test_the_sampler_refuses_counts_below_one_when_built(bad):
    # prompts_per_generation=0 was a ZeroDivisionError; num_generations=0 or repeat_count=0 a sampler of no
    # index at all (a pass that trained on nothing), 2.5 was taken as 2
    cur = PromptCurriculum(mg.make_teacher("uniform", mg.Discrete(N), seed=0), seed=0)
    name = next(iter(bad))
    with pytest.raises(mg.ConfigError, match=f"{name} must be a whole number >= 1"):
        CurriculumRepeatSampler(cur, **{"prompts_per_generation": 2, "num_generations": 4, "repeat_count": 3, **bad})
    assert cur.step == 0


def test_a_resume_inside_a_block_onto_a_smaller_dataset_is_refused_or_with_resume_curriculum_false_starts_a_new_block(
        tmp_path):
    """``resume_curriculum=False`` (go on from the model checkpoint with the curriculum as built) still put back the
    checkpoint's generation block and handed out its prompt numbers, chosen by the run that saved it: onto a
    smaller dataset the loader failed on them ("IndexError: Invalid key: 4 is out of bounds for size 2"). The rest
    of the block is now a new block of this curriculum's prompts; with the default, the block is refused by name."""
    full, _, _, _ = _resumable(tmp_path / "full", 8, 3, num_iterations=2)
    full.train()
    ckpt = tmp_path / "full" / "checkpoint-3"  # an epoch of the small dataset is one block: 1 micro-step into it
    saved = torch.load(ckpt / BLOCK_NAME, weights_only=True)["prompts"]
    assert max(saved) >= 2, "the saved block holds prompts the small dataset does not have"
    small = datasets.Dataset.from_dict({"prompt": ["1+1=", "2+2="]})

    def build(resume_curriculum):
        cur = PromptCurriculum(mg.make_teacher("uniform", mg.Discrete(2), seed=0), seed=0)
        reward = Rewards(half=[])
        trainer = CurriculumGRPOTrainer(model=_model(), reward_funcs=reward, processing_class=_tokenizer(),
                                        args=_config(tmp_path / "small", 8, num_iterations=2), train_dataset=small,
                                        curriculum=cur, resume_curriculum=resume_curriculum)
        return trainer, cur, reward, _generations(trainer)

    trainer, cur, _, _ = build(True)
    first = next(i for i in saved if i >= 2)
    with pytest.raises(mg.ConfigError, match=rf"{BLOCK_NAME} holds the generation block .* prompt {first}, "
                                           r"outside this curriculum's 2 prompts.*resume_curriculum=False"):
        trainer.train(resume_from_checkpoint=str(ckpt))
    assert cur.step == 0 and trainer.state.global_step == 0
    trainer, cur, reward, generated_at = build(False)
    trainer.train(resume_from_checkpoint=str(ckpt))
    assert trainer.state.global_step == 8 and generated_at == [1, 2, 4], "a new block for the rest of the saved one"
    assert all(i in (0, 1) for call in reward.calls for i in call) and (ckpt / BLOCK_NAME).exists()
    # the sampler on its own refuses such a block too
    sampler = CurriculumRepeatSampler(cur, prompts_per_generation=2, num_generations=4, repeat_count=2)
    with pytest.raises(mg.ConfigError, match="holds prompt 5, outside this curriculum's 2 prompts"):
        sampler.resume_pass_at(1, block=[1, 5])


@pytest.mark.parametrize("damaged", ["trainer_state.json", "optimizer.pt", "rng_state.pth", "model.safetensors"])
def test_a_resume_that_trainer_refuses_leaves_the_curriculum_as_it_was(tmp_path, damaged):
    """A checkpoint whose curriculum file is sound but one of Trainer's own files is damaged: train() loaded the
    unused curriculum from it, then Trainer failed reading its file, and the curriculum stayed loaded from the
    checkpoint (with prompts drawn, where rng_state.pth failed, also from a curriculum already used), so a train()
    after it went on from there. A call that fails before training's first step changes nothing, and a resume from
    the sound checkpoint then repeats the uninterrupted run."""
    full, cur_full, full_reward, _ = _resumable(tmp_path / "full", 6, 3)
    full.train()
    ckpt = tmp_path / "full" / "checkpoint-3"
    bad = tmp_path / "bad"
    shutil.copytree(ckpt, bad)
    (bad / damaged).write_bytes(b"{ damaged")
    resumed, cur, reward, _ = _resumable(tmp_path / "resumed", 6, 3)
    for trainer, curriculum in ((resumed, cur), (full, cur_full)):
        before, replay = curriculum.state_dict(), [b.tolist() for b in curriculum._replay]
        with pytest.raises(Exception) as refused:
            trainer.train(resume_from_checkpoint=str(bad))
        assert not isinstance(refused.value, mg.MagisterError), "Trainer's own refusal, not the curriculum's"
        assert states_equal(curriculum.state_dict(), before) and [b.tolist() for b in curriculum._replay] == replay
    assert cur.step == 0 and len(cur_full.history) == cur_full.step >= 6
    resumed.train(resume_from_checkpoint=str(ckpt))
    assert reward.calls and reward.calls == full_reward.calls[-len(reward.calls):]
    assert cur.history == cur_full.history and cur.teacher.to_bytes() == cur_full.teacher.to_bytes()
    assert cur.attempts.tolist() == cur_full.attempts.tolist() and cur.pending == cur_full.pending


def test_a_resume_inside_a_block_that_trainer_refuses_leaves_no_saved_completions_behind(tmp_path):
    """Resumed inside a generation block, the saved block went into TRL's buffer and its micro-step count before
    Trainer failed on rng_state.pth, and stayed: a train() from the start after it trained that stale block at its
    first steps (generating at micro-steps 4, 6, 8, 10, not 0, 2, 4, 6) and its curriculum went another way."""
    full, cur_full, _, full_at = _resumable(tmp_path / "full", 8, 3, num_iterations=2)
    full.train()
    bad = tmp_path / "bad"
    shutil.copytree(tmp_path / "full" / "checkpoint-3", bad)
    (bad / "rng_state.pth").write_bytes(b"{ damaged")
    trainer, cur, _, generated_at = _resumable(tmp_path / "again", 8, 3, num_iterations=2)
    with pytest.raises(Exception):
        trainer.train(resume_from_checkpoint=str(bad))
    assert cur.step == 0 and trainer._step == 0 and trainer._buffered_inputs is None
    trainer.train()
    assert generated_at == full_at == [0, 2, 4, 6] and cur.history == cur_full.history


def test_a_reward_function_returning_a_generator_trains_as_with_a_list_and_text_rewards_are_refused(tmp_path):
    """TRL takes any iterable of rewards, but the wrapper read a generator's rewards for the curriculum and handed TRL
    the used-up generator: the step failed ("returned 0 rewards, but 8 were expected") after the curriculum had
    recorded them. Text rewards ("1.0") were parsed by float() and recorded, then TRL refused them ("too many
    dimensions 'str'"); a single number was Python's raw "'float' object is not iterable"."""
    def as_list(prompts, completions, **kwargs):
        return [float(k % 2) for k in range(len(prompts))]

    def as_generator(prompts, completions, **kwargs):
        return (float(k % 2) for k in range(len(prompts)))

    def as_text(prompts, completions, **kwargs):
        return [str(float(k % 2)) for k in range(len(prompts))]

    def one_number(prompts, completions, **kwargs):
        return 1.0

    def run(reward, steps=2):
        cur = PromptCurriculum(mg.make_teacher("sec", mg.Discrete(["low", "high"]), reward="score", seed=0),
                               categories=_dataset()["level"], seed=0)
        trainer = add_prompt_curriculum(_trainer(tmp_path / reward.__name__, steps, reward), cur)
        return trainer, cur

    listed, cur_list = run(as_list)
    listed.train()
    generated, cur_gen = run(as_generator)
    generated.train()
    assert generated.state.global_step == 2 and cur_gen.groups_observed == 4
    assert cur_gen.history == cur_list.history and cur_gen.teacher.to_bytes() == cur_list.teacher.to_bytes()
    assert all(torch.equal(a, b) for a, b in zip(listed.model.parameters(), generated.model.parameters()))
    for reward, match in ((as_text, "rewards must be numbers"),
                          (one_number, "reward function 'one_number' returned float 1.0, not one reward per")):
        trainer, cur = run(reward, steps=1)
        with pytest.raises(mg.InvalidScoreError, match=match):
            trainer.train()
        assert cur.groups_observed == 0 and cur.attempts.sum() == 0 and cur.teacher.n_observed == 0


@pytest.mark.parametrize("content", [b"{ damaged", b"", "a list"])
def test_a_damaged_saved_generation_block_is_refused_naming_the_file_and_the_ways_on(tmp_path, content):
    """A damaged BLOCK_NAME was torch's raw error naming no file (an empty one a bare EOFError, a damaged one
    torch's advice to load with weights_only=False, which runs the pickle's code), and a file holding something
    else a raw AttributeError; each is a CheckpointError naming the file and both ways on, nothing loaded."""
    full, _, _, _ = _resumable(tmp_path / "full", 8, 3, num_iterations=2)
    full.train()
    ckpt = tmp_path / "full" / "checkpoint-3"
    if isinstance(content, bytes):
        (ckpt / BLOCK_NAME).write_bytes(content)
    else:
        torch.save([1, 2], ckpt / BLOCK_NAME)
    trainer, cur, _, _ = _resumable(tmp_path / "again", 8, 3, num_iterations=2)
    with pytest.raises(mg.CheckpointError, match=rf"{BLOCK_NAME} holds .* but it .*earlier checkpoint.*"
                                                 r"resume_curriculum=False") as refused:
        trainer.train(resume_from_checkpoint=str(ckpt))
    assert str(ckpt) in str(refused.value) and "weights_only=False" not in str(refused.value)
    assert cur.step == 0 and trainer.state.global_step == 0
