"""Prompt curricula for GRPO on a small language model: additions of 1 to 6 digits.

The task (generated here, nothing downloaded): ``a+b=`` with ``a`` and ``b``
of ``d`` digits, ``d = 1..6`` (the difficulty level, one prompt category per
level); the answer is the sum written least significant digit first, then an
end token. A completion earns the share of its answer positions (up to the
end token) that are right (``reward="partial"``, default; ``"exact"``: 1 if
exactly right, else 0). Held-out accuracy is always exact match, greedy.

The learner is a small causal transformer (character level), warm-started by a
short supervised phase on all six levels (so easy levels are mostly solved
and long ones mostly not: at least ``sl_steps`` steps, continued while its
accuracy on a validation set is below ``sl_floor``, see ``warm_start``), then
trained by GRPO: each step ``prompts`` prompts,
``group`` completions each, sampled at ``temperature`` 0.5 (the loss uses
the same tempered log-probabilities, as TRL does), group-normalised advantages
``(r - mean) / (std + 1e-4)``, one policy-gradient step per generation (on
policy, so GRPO's clipped ratio is 1 and there is no KL term, TRL's defaults).
The core loop is written here (TRL on CPU spends most of its time outside the
model); the prompts of every step come from ``magister.data.PromptCurriculum``,
the same object the TRL integration drives.

Methods (same warm start, same budget, same held-out set):

* ``uniform``: prompts uniformly over levels;
* ``sorted``: a difficulty-sorted schedule, level 1 to 6, equal steps each
  (``sequential`` teacher);
* ``sec``: SEC, TD(0) over levels with the mean |advantage| as reward;
* ``lp-bandit``: the learning-progress bandit over levels on pass rates;
* ``learnability``: ``learnability-bandit`` over single prompts, ``p (1 - p)``
  of running pass rates.

Reported (3 seeds, median [min-max]): held-out greedy accuracy per level over
steps, the mean over levels at the end, and the steps each method needs to
reach uniform's final mean accuracy (and the ratio to uniform's budget; the
issue's target is <= 0.75x for the best teacher). Every method of one seed is
trained side by side in one process (independent models in one batched
forward, same initial weights; completions are sampled from one generator, so
a method's samples depend on its place among the methods). Budget: 300 steps;
on a 2-core machine shared by about eight busy processes one seed of all five
methods took about 26 minutes (noisy), about 5 minutes per method-seed.

Run: ``nice -n 10 .venv/bin/python benchmarks/grpo_curriculum.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

from magister.bench.args import nan_for_null, strict_json, write_atomically  # noqa: E402
from magister.bench.runner import Interrupted, exit_interrupted, run_jobs  # noqa: E402 - (a name here: tests run it in order)

METHODS = ["uniform", "sorted", "sec", "lp-bandit", "learnability"]
LEVELS = 6
PLUS, EQ, EOS, PAD = 10, 11, 12, 13
VOCAB = 14
P_LEN = 2 * LEVELS + 2  # prompt, left-padded: "a+b=" with a, b of up to 6 digits
A_LEN = LEVELS + 2  # answer: up to 7 digits and the end token
SEQ = P_LEN + A_LEN

CONFIG: dict[str, Any] = {
    "d_model": 64, "layers": 2, "heads": 4,
    "sl_steps": 400, "sl_batch": 64, "sl_lr": 3e-3,
    "steps": 300, "prompts": 8, "group": 8, "lr": 5e-4,
    "train_per_level": 100, "eval_per_level": 50, "eval_every": 25,
    # chosen on seed 100 (uniform only, 300 steps from the 400-step warm start at 0.64 mean held-out accuracy):
    # temperature 1 with exact reward drew 4% right answers where greedy decoding got 64%, and the policy collapsed
    # (0.64 -> 0.00 at lr 2e-3; flat at 5e-4 on seeds 0-2); at 0.5 it climbs, with partial credit gradually
    # (0.64 -> 0.70 at step 25, 0.84 at the end) rather than in one jump (exact: 0.79 at step 50, then flat)
    "reward": "partial", "temperature": 0.5,
    # the warm start goes on past sl_steps while its validation accuracy is below sl_floor (see warm_start):
    # chosen on the supervised phase only of seeds 100-109 and 1 (seed 1 failed at 400 steps in every run)
    "sl_floor": 0.5, "sl_check": 10, "sl_max_steps": 2000, "sl_val_per_level": 50,
}
REWARDS = ("exact", "partial")
TARGET_RATIO = 0.75  # the target: the best teacher within 0.75x of uniform's steps to its final


# ------------------------------------------------------------------ the task
def problems(rng: np.random.Generator, level: int, n: int) -> np.ndarray:
    """``n`` pairs (a, b) of ``level``-digit numbers."""
    lo = 0 if level == 1 else 10 ** (level - 1)
    return rng.integers(lo, 10 ** level, size=(n, 2))


def encode(pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prompt tokens ``(n, P_LEN)`` and answer tokens ``(n, A_LEN)``.

    Both operands are written least significant digit first, zero-padded to
    six digits, so digit ``i`` of the answer sits at a fixed distance from
    digits ``i`` of the operands: ``a0..a5 + b0..b5 =``; the answer is the
    seven digits of the sum, least significant first, then the end token.
    A level-``d`` problem has nonzero digits only in its first ``d`` places.
    """
    n = len(pairs)
    prompt = np.empty((n, P_LEN), dtype=np.int64)
    answer = np.empty((n, A_LEN), dtype=np.int64)
    a, b = pairs[:, 0], pairs[:, 1]
    s = a + b
    for i in range(LEVELS):
        prompt[:, i] = (a // 10 ** i) % 10
        prompt[:, LEVELS + 1 + i] = (b // 10 ** i) % 10
    prompt[:, LEVELS], prompt[:, 2 * LEVELS + 1] = PLUS, EQ
    for i in range(LEVELS + 1):
        answer[:, i] = (s // 10 ** i) % 10
    answer[:, LEVELS + 1] = EOS
    return prompt, answer


def correct(completion: np.ndarray, answer: np.ndarray) -> np.ndarray:
    """Exact match up to and including the end token."""
    end = (answer == EOS).argmax(1)
    mask = np.arange(A_LEN)[None, :] <= end[:, None]
    return ((completion == answer) | ~mask).all(1)


def partial_credit(completion: np.ndarray, answer: np.ndarray) -> np.ndarray:
    """Share of the answer's positions up to and including the end token that are right (1.0 = exact)."""
    end = (answer == EOS).argmax(1)
    mask = np.arange(A_LEN)[None, :] <= end[:, None]
    return ((completion == answer) & mask).sum(1) / mask.sum(1)


# ------------------------------------------------------------------ the model
def build_model(torch, n_models: int, seed: int, cfg: dict[str, Any]):
    nn = torch.nn

    class CausalEnsemble(nn.Module):
        """``n_models`` independent causal transformers in one batched forward: tokens (M, B, T) -> logits (M, B, T, V)."""

        def __init__(self) -> None:
            super().__init__()
            g = torch.Generator().manual_seed(int(seed))
            m, d, h = n_models, cfg["d_model"], cfg["heads"]
            self.m, self.h = m, h

            def same(*shape: int, kind: str = "uniform", fan_in: int = 1, std: float = 0.02):
                if kind == "uniform":
                    one = (torch.rand(*shape, generator=g) * 2 - 1) / fan_in ** 0.5
                elif kind == "normal":
                    one = torch.randn(*shape, generator=g) * std
                else:
                    one = torch.ones(*shape) if kind == "ones" else torch.zeros(*shape)
                return nn.Parameter(one.unsqueeze(0).repeat(m, *([1] * len(shape))).contiguous())

            self.tok = same(VOCAB, d, kind="normal", std=cfg.get("tok_std", 0.5))
            self.pos = same(SEQ, d, kind="normal", std=cfg.get("pos_std", 0.5))
            self.blocks = nn.ModuleList()
            for _ in range(cfg["layers"]):
                self.blocks.append(nn.ParameterDict({
                    "ln1_w": same(d, kind="ones"), "ln1_b": same(d, kind="zeros"),
                    "w_qkv": same(d, 3 * d, fan_in=d), "b_qkv": same(3 * d, kind="zeros"),
                    "w_o": same(d, d, fan_in=d), "b_o": same(d, kind="zeros"),
                    "ln2_w": same(d, kind="ones"), "ln2_b": same(d, kind="zeros"),
                    "w_1": same(d, 4 * d, fan_in=d), "b_1": same(4 * d, kind="zeros"),
                    "w_2": same(4 * d, d, fan_in=4 * d), "b_2": same(d, kind="zeros")}))
            self.lnf_w, self.lnf_b = same(d, kind="ones"), same(d, kind="zeros")
            self.w_head = same(d, VOCAB, fan_in=d)

        @staticmethod
        def _ln(x, w, b):
            return nn.functional.layer_norm(x, x.shape[-1:]) * w[:, None, :] + b[:, None, :]

        def forward(self, tokens, cache: list | None = None):
            """Logits of every position of ``tokens``; with ``cache`` (a list, filled on the first call),
            ``tokens`` continue the cached sequence (incremental decoding)."""
            m, bsz, t = tokens.shape
            start = 0 if not cache else cache[0][0].shape[2]
            sel = torch.arange(m).view(m, 1, 1)
            x = (self.tok[sel, tokens] + self.pos[:, None, start:start + t]).reshape(m, bsz * t, -1)
            d = x.shape[-1]
            nh, dh = self.h, d // self.h
            for li, p in enumerate(self.blocks):
                a = torch.baddbmm(p["b_qkv"][:, None, :], self._ln(x, p["ln1_w"], p["ln1_b"]), p["w_qkv"])
                q, k, v = a.view(m * bsz, t, 3, nh, dh).permute(2, 0, 3, 1, 4)
                if cache is not None:
                    if len(cache) > li:
                        k = torch.cat([cache[li][0], k], 2)
                        v = torch.cat([cache[li][1], v], 2)
                        cache[li] = (k, v)
                    else:
                        cache.append((k, v))
                att = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=start == 0 and t > 1)
                x = x + torch.baddbmm(p["b_o"][:, None, :], att.permute(0, 2, 1, 3).reshape(m, bsz * t, d), p["w_o"])
                z = nn.functional.gelu(torch.baddbmm(p["b_1"][:, None, :], self._ln(x, p["ln2_w"], p["ln2_b"]),
                                                     p["w_1"]))
                x = x + torch.baddbmm(p["b_2"][:, None, :], z, p["w_2"])
            x = self._ln(x, self.lnf_w, self.lnf_b)
            return torch.bmm(x, self.w_head).view(m, bsz, t, VOCAB)

    return CausalEnsemble()


def generate(torch, model, prompts, *, greedy: bool, gen: Any = None, temperature: float = 1.0):
    """Complete ``prompts`` (M, N, P_LEN) with A_LEN tokens; returns (M, N, A_LEN).

    Sampling draws from ``softmax(logits / temperature)``, the policy whose log-probabilities GRPO's loss uses."""
    cache: list = []
    out = []
    with torch.no_grad():
        logits = model(prompts, cache)[:, :, -1]
        for i in range(A_LEN):
            if greedy:
                nxt = logits.argmax(-1)
            else:
                probs = torch.softmax(logits.float() / temperature, -1)
                nxt = torch.multinomial(probs.view(-1, VOCAB), 1, generator=gen).view(probs.shape[:2])
            out.append(nxt)
            if i + 1 < A_LEN:
                logits = model(nxt[..., None], cache)[:, :, -1]
    return torch.stack(out, 2)


def completion_mask(torch, completion):
    """1 up to and including the first end token (all positions if there is none)."""
    is_end = completion == EOS
    before = torch.cumsum(is_end.long(), dim=-1) - is_end.long()
    return (before == 0).float()


# ------------------------------------------------------------------ methods
def make_curriculum(method: str, levels: np.ndarray, seed: int, cfg: dict[str, Any]):
    import magister as mg
    from magister.data import PromptCurriculum

    space = mg.Discrete([f"{d}-digit" for d in range(1, LEVELS + 1)])
    if method == "uniform":
        return PromptCurriculum(mg.make_teacher("uniform", space, seed=seed), categories=levels, seed=seed)
    if method == "sorted":
        per = cfg["steps"] * cfg["prompts"] // LEVELS  # equal steps per level (observations = prompt groups)
        stages = [{"indices": [i], "until": {"episodes": per}} for i in range(LEVELS - 1)] + [{"indices": [LEVELS - 1]}]
        return PromptCurriculum(mg.make_teacher("sequential", space, stages=stages, seed=seed), categories=levels,
                                seed=seed)
    if method == "sec":
        teacher = mg.make_teacher("sec", space, reward="score", seed=seed)
        return PromptCurriculum(teacher, categories=levels, seed=seed)
    if method == "lp-bandit":
        return PromptCurriculum(mg.make_teacher("lp-bandit", space, seed=seed), categories=levels, seed=seed)
    if method == "learnability":
        teacher = mg.make_teacher("learnability-bandit", mg.Discrete(len(levels)), seed=seed)
        return PromptCurriculum(teacher, seed=seed)
    raise ValueError(f"unknown method {method!r}; known: {METHODS}")


# ------------------------------------------------------------------ the warm start
def greedy_correct(torch, model, prompt, answer: np.ndarray) -> np.ndarray:
    """(M, N) exact-match booleans of every model's greedy completion of ``prompt`` (a tensor (M, N, P_LEN))."""
    comp = generate(torch, model, prompt, greedy=True).numpy()
    return np.stack([correct(c, answer) for c in comp])


def warm_start(torch, seed: int, cfg: dict[str, Any], rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
    """The supervised warm start: next-token cross-entropy on fresh problems of all levels (``sl_batch`` a step).

    Training first sits on a plateau (loss about 1.0: the answer's digits are guessed from their marginals) and
    leaves it abruptly, after 300 to 450 steps depending on the seed; held-out accuracy climbs from about 0 to
    about 1 within the next 200 steps. A fixed step count therefore cuts some seeds before their escape (seed 1
    at 400 steps: 0.02 held-out, escaping at about 410). So ``sl_steps`` is a minimum: from there, every
    ``sl_check`` steps, the model's greedy accuracy on a validation set (``sl_val_per_level`` fresh problems per
    level, their own random stream; not the held-out set) is checked, and training goes on while it is below
    ``sl_floor``, at most to ``sl_max_steps``. Seeds already above the floor at ``sl_steps`` are untouched.

    Returns the model and ``{"steps", "val_accuracy", "ok"}`` (``ok``: the floor was reached).
    """
    warm = build_model(torch, 1, seed, cfg)
    opt = torch.optim.AdamW(warm.parameters(), lr=cfg["sl_lr"], weight_decay=0.0)
    n_val = int(cfg.get("sl_val_per_level", 50))
    val_pairs = np.concatenate([problems(np.random.default_rng(30_000 + seed * 10 + d), d, n_val)
                                for d in range(1, LEVELS + 1)])
    val_prompt, val_answer = encode(val_pairs)
    floor, check = float(cfg.get("sl_floor", 0.0)), int(cfg.get("sl_check", 10))
    max_steps = max(int(cfg.get("sl_max_steps", cfg["sl_steps"])), cfg["sl_steps"])
    step, val = 0, float("nan")
    while True:
        lv = rng.integers(1, LEVELS + 1, size=cfg["sl_batch"])
        pairs = np.concatenate([problems(rng, int(d), 1) for d in lv])
        p, a = encode(pairs)
        seq = torch.as_tensor(np.concatenate([p, a], 1))[None]
        logits = warm(seq[:, :, :-1])[:, :, P_LEN - 1:]
        target = seq[:, :, P_LEN:]
        mask = (target != PAD).float()
        loss = (torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), target.reshape(-1), reduction="none")
                * mask.reshape(-1)).sum() / mask.sum()
        lr = cfg["sl_lr"] * min(1.0, (step + 1) / 50)
        for gr in opt.param_groups:
            gr["lr"] = lr
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step >= cfg["sl_steps"] and (step - cfg["sl_steps"]) % check == 0:
            val = float(greedy_correct(torch, warm, torch.as_tensor(val_prompt)[None], val_answer).mean())
            if not val < floor or step >= max_steps:
                break
    return warm, {"steps": step, "val_accuracy": val, "ok": not val < floor}


# ------------------------------------------------------------------ one seed
def run_seed(job: tuple[int, dict[str, Any], list[str]]) -> dict[str, Any]:
    seed, cfg, methods = job
    import torch

    torch.set_num_threads(1)
    t0 = time.time()
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    # held-out and training prompts (disjoint draws; the SL phase draws fresh problems)
    ev_pairs = np.concatenate([problems(np.random.default_rng(10_000 + seed * 10 + d), d, cfg["eval_per_level"])
                               for d in range(1, LEVELS + 1)])
    ev_level = np.repeat(np.arange(LEVELS), cfg["eval_per_level"])
    ev_prompt, ev_answer = encode(ev_pairs)
    tr_pairs = np.concatenate([problems(np.random.default_rng(20_000 + seed * 10 + d), d, cfg["train_per_level"])
                               for d in range(1, LEVELS + 1)])
    tr_level = np.repeat(np.arange(LEVELS), cfg["train_per_level"])
    tr_prompt, tr_answer = encode(tr_pairs)

    # ---- supervised warm start (one model)
    warm, warm_info = warm_start(torch, seed, cfg, rng)
    sl_time = time.time() - t0

    # ---- GRPO, every method side by side from the warm start
    m = len(methods)
    model = build_model(torch, m, seed, cfg)
    with torch.no_grad():
        for (name, p), (_, w) in zip(model.named_parameters(), warm.named_parameters()):
            p.copy_(w.expand_as(p))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=0.0)
    curricula = [make_curriculum(meth, tr_level, seed, cfg) for meth in methods]
    ev_p = torch.as_tensor(ev_prompt)[None].expand(m, -1, -1).contiguous()

    def evaluate() -> np.ndarray:
        ok = greedy_correct(torch, model, ev_p, ev_answer)  # (M, N)
        return np.stack([ok[:, ev_level == d].mean(1) for d in range(LEVELS)], 1)  # (M, LEVELS)

    k, g = cfg["prompts"], cfg["group"]
    curves: list[list[float]] = []
    eval_steps: list[int] = []
    share = np.zeros((m, LEVELS))
    reward_mean = []
    for step in range(cfg["steps"] + 1):
        if step % cfg["eval_every"] == 0 or step == cfg["steps"]:
            curves.append(evaluate().tolist())
            eval_steps.append(step)
        if step == cfg["steps"]:
            break
        chosen = np.stack([c.next_prompts(k) for c in curricula])  # (M, k)
        idx = np.repeat(chosen, g, axis=1)  # (M, k * g)
        for i in range(m):
            np.add.at(share[i], tr_level[chosen[i]], 1)
        prompts = torch.as_tensor(tr_prompt[idx])
        temp = cfg.get("temperature", 1.0)
        comp = generate(torch, model, prompts, greedy=False, gen=gen, temperature=temp)
        comp_np = comp.numpy()
        score = partial_credit if cfg.get("reward", "exact") == "partial" else correct
        rewards = np.stack([score(comp_np[i], tr_answer[idx[i]]).astype(float) for i in range(m)])
        reward_mean.append(rewards.mean(1).tolist())
        for i, c in enumerate(curricula):
            c.observe(idx[i], rewards[i], group_size=g)  # GRPO groups: a prompt drawn twice is two groups
        r = rewards.reshape(m, k, g)
        adv = (r - r.mean(2, keepdims=True)) / (r.std(2, keepdims=True) + 1e-4)
        adv_t = torch.as_tensor(adv.reshape(m, k * g), dtype=torch.float32)
        seq = torch.cat([prompts, comp], dim=2)
        logits = model(seq[:, :, :-1])[:, :, P_LEN - 1:]
        logp = torch.log_softmax(logits.float() / temp, -1).gather(-1, comp[..., None]).squeeze(-1)
        mask = completion_mask(torch, comp)
        per_seq = (logp * mask).sum(-1) / mask.sum(-1)
        loss = -(adv_t * per_seq).mean(1).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = {"seed": seed, "methods": methods, "eval_steps": eval_steps, "curves": curves,
           "share": (share / share.sum(1, keepdims=True)).tolist(), "reward_mean": reward_mean,
           "warm": warm_info, "sl_seconds": sl_time, "seconds": time.time() - t0}
    return out


# ------------------------------------------------------------------ report
SMOOTH = 3  # evaluations in the trailing mean behind "steps to uniform's final" (held-out accuracy is noisy)


def smoothed(curve: np.ndarray, width: int = SMOOTH) -> np.ndarray:
    """Trailing mean over the last ``width`` evaluations (fewer at the start)."""
    c = np.cumsum(np.concatenate([[0.0], curve]))
    i = np.arange(1, len(curve) + 1)
    lo = np.maximum(i - width, 0)
    return (c[i] - c[lo]) / (i - lo)


def steps_to(curve: np.ndarray, steps: list[int], target: float) -> float | None:
    hit = np.flatnonzero(curve >= target - 1e-12)
    return float(steps[hit[0]]) if len(hit) else None


def _med(values: list[float | None], digits: int = 2) -> str:
    """median [min-max] over seeds, a ``None`` (a run that never got there) counting as infinitely many steps,
    as in docs/data.md and the per-seed ratio line (:func:`_ratios`): the median of the seeds that got there
    alone read as if the others had. An infinite median or maximum prints "never"."""
    missing = sum(x is None for x in values)
    if missing == len(values):
        return "never"
    v = np.array([np.inf if x is None else float(x) for x in values])

    def text(x: float) -> str:
        return "never" if x == np.inf else f"{x:.{digits}f}"

    s = f"{text(float(np.median(v)))} [{text(float(v.min()))}-{text(float(v.max()))}]"
    if missing:
        s += f" ({missing} never)"
    return s


def summarise(results: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The table: final mean accuracy, steps to uniform's final (both on curves smoothed over ``SMOOTH``
    evaluations; a seed where uniform ends below where it started counts as "uniform lost accuracy")."""
    methods = results[0]["methods"]
    per: dict[str, dict[str, list]] = {mth: {"final": [], "to_uniform": [], "ratio": [], "levels": [], "start": []}
                                       for mth in methods}
    for res in results:
        curves = np.asarray(res["curves"])  # (E, M, LEVELS)
        steps = res["eval_steps"]
        budget = steps[-1]
        mean = np.stack([smoothed(curves[:, i].mean(1)) for i in range(len(methods))], 1)  # (E, M)
        target = float(mean[-1, methods.index("uniform")])
        for i, mth in enumerate(methods):
            per[mth]["final"].append(float(mean[-1, i]))
            per[mth]["start"].append(float(curves[0, i].mean()))
            per[mth]["levels"].append(curves[-1, i].tolist())
            s = steps_to(mean[:, i], steps, target)
            per[mth]["to_uniform"].append(s)
            per[mth]["ratio"].append(None if s is None else s / budget)
    lines = ["| method | final mean accuracy | steps to uniform's final | x uniform's budget | "
             + " | ".join(f"{d}-digit" for d in range(1, LEVELS + 1)) + " |",
             "|---|---|---|---|" + "---|" * LEVELS]
    for mth in methods:
        lv = np.asarray(per[mth]["levels"])
        lines.append(f"| {mth} | {_med(per[mth]['final'])} | {_med(per[mth]['to_uniform'], 0)} | "
                     f"{_med(per[mth]['ratio'])} | " + " | ".join(f"{np.median(lv[:, d]):.2f}" for d in range(LEVELS))
                     + " |")
    return "\n".join(lines), per


def plot(results: list[dict[str, Any]], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from magister.checkpoint import save_figure  # (written whole: a Ctrl-C cut fig.savefig's picture short)

    methods = results[0]["methods"]
    steps = results[0]["eval_steps"]
    curves = np.asarray([r["curves"] for r in results])  # (S, E, M, L)
    paths = []
    fig = Figure(figsize=(4 * LEVELS // 2, 6.5))
    axes = fig.subplots(2, LEVELS // 2, sharex=True, sharey=True).ravel()
    for d in range(LEVELS):
        ax = axes[d]
        for i, mth in enumerate(methods):
            c = curves[:, :, i, d]
            ax.plot(steps, np.median(c, 0), label=mth)
            ax.fill_between(steps, c.min(0), c.max(0), alpha=0.15)
        ax.set_title(f"{d + 1}-digit additions")
        ax.set_ylim(-0.02, 1.02)
    axes[0].legend(fontsize=8)
    for ax in axes[LEVELS // 2:]:
        ax.set_xlabel("GRPO step")
    fig.suptitle("held-out greedy accuracy per level (median over seeds, band = min-max)")
    p = out / "grpo_levels.png"
    save_figure(fig, p, dpi=110, bbox_inches="tight")
    paths.append(p)

    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for i, mth in enumerate(methods):
        c = curves[:, :, i, :].mean(2)
        ax.plot(steps, np.median(c, 0), label=mth)
        ax.fill_between(steps, c.min(0), c.max(0), alpha=0.15)
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("mean held-out accuracy over levels")
    ax.legend(fontsize=8)
    p = out / "grpo_mean.png"
    save_figure(fig, p, dpi=110, bbox_inches="tight")
    paths.append(p)
    return paths


def main(argv: list[str] | None = None) -> None:
    from magister.bench.args import TORCH_MAX_SEED, at_least, distinct, number_in, out_folder, seeds_fit

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--seed-start", type=at_least(0), default=0, help="first seed (defaults were chosen on seeds 100+)")
    ap.add_argument("--workers", type=at_least(1), default=1)
    ap.add_argument("--steps", type=at_least(1), default=None, help=f"GRPO steps (default {CONFIG['steps']})")
    ap.add_argument("--sl-steps", type=at_least(0), default=None, help=f"supervised warm-up steps (default {CONFIG['sl_steps']})")
    ap.add_argument("--sl-floor", type=number_in(0.0, 1.0), default=None,
                    help=f"the warm start goes on past --sl-steps while its validation accuracy is below this "
                         f"(default {CONFIG['sl_floor']}; 0 = exactly --sl-steps)")
    ap.add_argument("--eval-per-level", type=at_least(1), default=None,
                    help=f"held-out problems per level (default {CONFIG['eval_per_level']})")
    ap.add_argument("--lr", type=number_in(0.0, low_open=True), default=None, help=f"GRPO learning rate (default {CONFIG['lr']})")
    ap.add_argument("--reward", choices=REWARDS, default=None,
                    help="GRPO reward: 'exact' (1 for an exact answer) or 'partial' (the share of right answer "
                         f"positions; default {CONFIG['reward']})")
    ap.add_argument("--temperature", type=number_in(0.0, low_open=True), default=None,
                    help=f"sampling temperature of the GRPO policy (default {CONFIG['temperature']}; TRL divides the logits by it in "
                         "sampling and in the loss alike)")
    ap.add_argument("--quick", action="store_true", help="tiny budgets: a smoke run in about a minute")
    ap.add_argument("--out", default="results/grpo_curriculum")
    ap.add_argument("--report-only", action="store_true", help="rewrite the report from OUT/results.json")
    # (--steps 0, --eval-per-level 0, --lr nan, --temperature 0: tracebacks after the model was built and warmed
    # up; --sl-floor above 1, an accuracy, warmed up to sl_max_steps every seed)
    args = ap.parse_args(argv)
    if args.seeds < 1 and not args.report_only:
        ap.error(f"--seeds must be at least 1, got {args.seeds}")
    if not args.report_only:  # (2**64: torch's "Overflow when unpacking long long" inside the first run)
        seeds_fit(ap, args.seed_start, args.seeds, TORCH_MAX_SEED, "the model's torch generator is seeded with the "
                  "seed, and torch's seeds end at 2**64 - 1", "--seed-start")
    cfg = dict(CONFIG)
    if args.quick:
        cfg.update(steps=10, sl_steps=20, sl_floor=0.0, eval_every=5, eval_per_level=10, train_per_level=20)
    for key in ("steps", "sl_steps", "sl_floor", "eval_per_level", "lr", "temperature", "reward"):  # flags given override
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if "uniform" not in methods:
        ap.error("--methods must include uniform (the reference every other method is measured against)")
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        ap.error(f"unknown methods {unknown}; known: {METHODS}")
    distinct(methods, "--methods", ap)  # a repeated method ran twice, side by side
    if args.report_only and not (Path(args.out) / "results.json").is_file():  # a FileNotFoundError traceback
        ap.error(f"--report-only: no results.json in {args.out!r}; name the --out folder of a finished run")
    out = out_folder(ap, args.out)  # a file there: argparse's error, not a traceback
    if args.report_only:
        saved = _nan_for_null(json.loads((out / "results.json").read_text()))
        write_report(saved["results"], saved["config"], out, 0.0)
        return
    jobs = [(s, cfg, methods) for s in range(args.seed_start, args.seed_start + args.seeds)]
    results = []
    t0 = time.time()
    def finished(i: int, r: dict[str, Any]) -> None:
        results.append(r)
        print(f"seed {r['seed']} done in {r['seconds']:.0f} s", flush=True)

    try:  # (Ctrl-C: one line, not a traceback from each worker)
        run_jobs(run_seed, jobs, workers=args.workers, on_result=finished)
    except Interrupted as e:
        exit_interrupted(e)
    results.sort(key=lambda r: r["seed"])
    write_report(results, cfg, out, time.time() - t0)


def _ratios(steps: list[float | None], uniform: list[float | None]) -> str:
    """``a / b / c (median m)``: a method's steps to uniform's final over uniform's own, per seed."""
    vals = []
    for x, u in zip(steps, uniform):
        if not u:  # uniform's final is not above its start: no ratio
            vals.append(float("nan"))
        elif x is None:
            vals.append(float("inf"))
        else:
            vals.append(x / u)
    shown = " / ".join(_ratio_text(v) for v in vals)
    ok = [v for v in vals if v == v]
    return shown + (f" (median {_ratio_text(float(np.median(ok)))})" if ok else "")


def _ratio_text(v: float) -> str:
    """A ratio to uniform's steps: "never" for infinity (the median of runs that never got there printed "inf"),
    "n/a" for nan, else 2 decimals or more where rounding would read as meeting the "at most TARGET_RATIO" target
    it misses (a median of 8 / 11 and 7 / 9 over 4 seeds, 0.7525, printed "0.75")."""
    from magister.bench.report import verdict_text

    if v == float("inf"):
        return "never"
    if v != v:
        return "n/a"
    # verdict_text keeps x >= t on the same side when rounding; "at most" is that for -x and -t
    return verdict_text(-v, -TARGET_RATIO).removeprefix("-")


#: a run's numbers in results.json (each a number, or lists of them, however deep): a ``null`` there is a NaN
#: that ``strict_json`` wrote as strict JSON
_RUN_NUMBERS = ("curves", "share", "reward_mean", "sl_seconds", "seconds")


def _nan_for_null(saved: dict[str, Any]) -> dict[str, Any]:
    """``results.json`` as the runs were before it was written: ``null`` back to NaN where a number is always
    written (the warm start's validation accuracy, the curves...), as ``magister.bench.report.load_results`` reads
    a bench results file, so that ``--report-only`` writes the report of the run (a ``null`` validation accuracy
    failed in ``_warm_line``). A file of an earlier version, with ``NaN`` in it, is read as it is."""
    for res in saved.get("results") or ():
        if not isinstance(res, dict):
            continue
        for key in _RUN_NUMBERS:
            if key in res:
                res[key] = nan_for_null(res[key])
        warm = res.get("warm")
        if isinstance(warm, dict) and "val_accuracy" in warm:
            warm["val_accuracy"] = nan_for_null(warm["val_accuracy"])
    return saved


def _warm_line(res: dict[str, Any], start: float) -> str:
    w = res.get("warm")
    if w is None:  # results written before the warm start was checked
        return f"seed {res['seed']}: {start:.2f}"
    flag = "" if w["ok"] else " (BELOW THE FLOOR: warm start failed)"
    return f"seed {res['seed']}: {w['steps']} steps, {w['val_accuracy']:.2f}, {start:.2f}{flag}"


def write_report(results: list[dict[str, Any]], cfg: dict[str, Any], out: Path, total: float) -> None:
    methods = results[0]["methods"]
    table, per = summarise(results)
    share = np.asarray([r["share"] for r in results]).mean(0)
    lines = [f"# GRPO prompt curricula: additions of 1-{LEVELS} digits", "",
             f"{len(results)} seeds ({', '.join(str(r['seed']) for r in results)}), {cfg['steps']} GRPO steps of "
             f"{cfg['prompts']} prompts x {cfg['group']} completions after at least {cfg['sl_steps']} supervised "
             f"steps (continued while the validation accuracy is below {cfg.get('sl_floor', 0.0)}); "
             f"median [min-max] over seeds; accuracies are means of the last {SMOOTH} evaluations (every "
             f"{cfg['eval_every']} steps, {cfg['eval_per_level']} held-out problems per level).", "",
             "Mean held-out accuracy after the warm start: " + _med(per["uniform"]["start"]), "",
             "Warm start per seed (supervised steps; validation accuracy; held-out mean accuracy at GRPO step 0): "
             + "; ".join(_warm_line(r, per["uniform"]["start"][i]) for i, r in enumerate(results)), "", table, "",
             "Steps to uniform's final per seed (" + ", ".join(str(r["seed"]) for r in results) + "): "
             + "; ".join(f"{mth} " + " / ".join("never" if x is None else f"{x:.0f}" for x in per[mth]["to_uniform"])
                         for mth in methods), "",
             "Those steps over uniform's own steps to its final, per seed, and the median over seeds (never = "
             "infinite; the issue's target: at most 0.75 for the best teacher): "
             + "; ".join(f"{mth} " + _ratios(per[mth]["to_uniform"], per["uniform"]["to_uniform"])
                         for mth in methods if mth != "uniform"), "",
             "Share of prompts per level (mean over seeds):", "",
             "| method | " + " | ".join(f"{d}-digit" for d in range(1, LEVELS + 1)) + " |",
             "|---|" + "---|" * LEVELS]
    for i, mth in enumerate(methods):
        lines.append(f"| {mth} | " + " | ".join(f"{x:.2f}" for x in share[i]) + " |")
    secs = [r["seconds"] for r in results]
    lines += ["", f"Wall time per seed (all {len(methods)} methods side by side, warm start included): "
              f"{_med(secs, 0)} s (noisy: a shared 2-core machine); total {total:.0f} s."]
    paths = plot(results, out)
    text = "\n".join(lines)
    # through temporary files: written in place, a write stopped partway (Ctrl-C, a full disk) left them torn, and
    # --report-only rewrites results.json from itself, so its only copy of the runs was lost
    write_atomically(out / "report.md", text + "\n")
    write_atomically(out / "results.json", strict_json({"config": cfg, "results": results, "summary": per}, indent=1))
    print(text)
    print("figures:", ", ".join(str(p) for p in paths))


if __name__ == "__main__":
    main()
