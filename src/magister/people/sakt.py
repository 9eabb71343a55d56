"""SAKT-style attention knowledge tracing over a learner's most recent answers.

After Pandey & Karypis (EDM 2019): the skill about to be answered is the
query; the learner's earlier (skill, outcome) answers are keys and values;
multi-head attention, a feed-forward block and a small output layer give the
logit of a right answer. Two choices differ from the paper and are ours:

* the learner's state is a window of the last ``window`` answers, and each
  attention head adds a learned bias per *distance back* (1 = the latest
  answer) instead of absolute positions, so a prediction depends only on that
  window, the same in training (each chunk of ``seq_len`` answers attends to
  the ``window`` answers before it), in replay and one answer at a time;
* a learned *start* key is always present, so the first answer of a learner
  is predicted from it (no empty attention), and the output adds a bias per
  skill.

Online, :meth:`~SAKT.update` appends to the window (no network work) and
:meth:`~SAKT.predict` runs one attention over it. :meth:`~SAKT.replay` runs many learners
at once from their saved windows and gives the same numbers as that loop.
PyTorch (the ``[torch]`` extra) is imported on first use.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError
from ._sequence import SequenceModel, require_torch
from .base import new_number, reading_setting, register_model

__all__ = ["SAKT"]


def _sakt_net(n_slots: int, dim: int, heads: int, window: int, dropout: float):
    torch = require_torch()
    nn = torch.nn

    class SAKTNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inter = nn.Embedding(2 * n_slots + 1, dim)  # (skill, outcome) pairs, then the start key
            self.query = nn.Embedding(n_slots, dim)
            self.wq, self.wk, self.wv, self.wo = (nn.Linear(dim, dim) for _ in range(4))
            self.dist_bias = nn.Parameter(torch.zeros(heads, window + 1))  # 0: the start key, d: d answers back
            self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
            self.ffn = nn.Sequential(nn.Linear(dim, 2 * dim), nn.ReLU(), nn.Linear(2 * dim, dim))
            self.drop = nn.Dropout(dropout)
            self.head = nn.Sequential(nn.Linear(2 * dim, dim), nn.ReLU(), nn.Linear(dim, 1))
            self.skill_bias = nn.Embedding(n_slots, 1)
            nn.init.zeros_(self.skill_bias.weight)
            self.heads, self.window, self.start = heads, window, 2 * n_slots

        def forward(self, key_idx, key_len, q_slot, q_pos):
            """key_idx (B, K) answer ids, key_len (B,); q_slot, q_pos (B, Tq): skill and answers before it."""
            B, K = key_idx.shape
            Tq = q_slot.shape[1]
            h, d = self.heads, self.inter.embedding_dim // self.heads
            keys = torch.cat([torch.full((B, 1), self.start, dtype=key_idx.dtype), key_idx], dim=1)
            E = self.inter(keys)
            Qe = self.query(q_slot)
            q = self.wq(Qe).view(B, Tq, h, d).transpose(1, 2)
            k = self.wk(E).view(B, K + 1, h, d).transpose(1, 2)
            v = self.wv(E).view(B, K + 1, h, d).transpose(1, 2)
            scores = q @ k.transpose(2, 3) / math.sqrt(d)  # (B, h, Tq, K + 1)
            jpos = torch.arange(-1, K)  # answer index of each key (-1: the start key)
            dist = q_pos[:, :, None] - jpos[None, None, :]  # (B, Tq, K + 1)
            ok = (jpos[None, None, :] < key_len[:, None, None]) & (dist >= 1) & (dist <= self.window)
            ok = ok | (jpos == -1)[None, None, :]
            bias_idx = torch.where(jpos[None, None, :] == -1, torch.zeros_like(dist), dist.clamp(1, self.window))
            scores = scores + self.dist_bias[:, bias_idx].permute(1, 0, 2, 3)
            scores = scores.masked_fill(~ok[:, None], float("-inf"))
            att = self.drop(torch.softmax(scores, dim=-1)) @ v  # (B, h, Tq, d)
            x = self.wo(att.transpose(1, 2).reshape(B, Tq, h * d))
            x = self.norm1(Qe + self.drop(x))
            x = self.norm2(x + self.drop(self.ffn(x)))
            return self.head(torch.cat([x, Qe], dim=-1)).squeeze(-1) + self.skill_bias(q_slot).squeeze(-1)

    return SAKTNet()


@register_model("sakt")
class SAKT(SequenceModel):
    """Self-attentive knowledge tracing over the last ``window`` answers (recency biases per head).

    Settings: ``dim`` (embedding size), ``heads`` (attention heads; ``dim``
    must divide by it), ``window`` (answers a prediction looks back at),
    ``dropout`` (training only), and the common training settings of
    :class:`~magister.people._sequence.SequenceModel`.
    """

    def __init__(self, *, dim: int = 64, heads: int = 4, window: int = 100, dropout: float = 0.2, **common: Any):
        for k, v in dict(dim=dim, heads=heads, window=window).items():  # (text, a bool: refused, as the common settings)
            new_number("sakt", k, v, "a whole number >= 1", whole=True)
        new_number("sakt", "dropout", dropout, "in [0, 1)")
        for k, v in dict(dim=dim, heads=heads, window=window).items():
            with reading_setting("sakt", k, v, "a whole number >= 1"):
                if int(v) != v or int(v) < 1:
                    raise ConfigError(f"sakt {k} must be a whole number >= 1, got {v!r}")
        if int(dim) % int(heads):
            raise ConfigError(f"sakt dim ({dim}) must be a multiple of heads ({heads})")
        with reading_setting("sakt", "dropout", dropout, "in [0, 1)"):
            if not 0.0 <= float(dropout) < 1.0:
                raise ConfigError(f"sakt dropout must be in [0, 1), got {dropout!r}")
        super().__init__(dim=int(dim), heads=int(heads), window=int(window), dropout=float(dropout), **common)

    def _make_net(self, n_slots: int):
        s = self.settings
        return _sakt_net(n_slots, s["dim"], s["heads"], s["window"], s["dropout"])

    def _train_logits(self, net, skills, correct, lengths, state=None):
        torch = require_torch()
        keys = skills * 2 + (correct >= 0.5).long()
        pos = torch.arange(skills.shape[1])[None, :].expand_as(skills)
        return net(keys, lengths, skills, pos), None  # no state carried: each chunk has its window as context

    def _train_context(self) -> int:
        return int(self.settings["window"])  # a chunk's first answers see the learner's answers before it

    def _run(self, seqs, states):
        torch = require_torch()
        net = self.net
        preds: list[Any] = [None] * len(seqs)
        finals: list[Any] = [None] * len(seqs)
        W = int(self.settings["window"])
        order = np.argsort([-len(s) for s, _ in seqs], kind="stable")
        with torch.no_grad():
            a = 0
            while a < len(order):
                n_max = len(seqs[order[a]][0])
                K_max = n_max + W
                step = max(1, min(256, 2_000_000 // (n_max * (K_max + 1))))  # bound the score tensor's size
                idx = order[a:a + step]
                a += step
                hist = [self._window_of(states[j]) for j in idx]
                klen = np.array([len(hs) + len(seqs[j][0]) for hs, j in zip(hist, idx)])
                qlen = np.array([len(seqs[j][0]) for j in idx])
                K, Tq = int(klen.max()), int(qlen.max())
                keys = np.zeros((len(idx), K), dtype=np.int64)
                qs = np.zeros((len(idx), Tq), dtype=np.int64)
                qp = np.zeros((len(idx), Tq), dtype=np.int64)
                for r, (hs, j) in enumerate(zip(hist, idx)):
                    s, y = seqs[j]
                    m = len(hs)
                    keys[r, :m] = hs
                    keys[r, m:klen[r]] = s * 2 + (y >= 0.5)
                    qs[r, :qlen[r]] = s
                    qp[r, :qlen[r]] = m + np.arange(qlen[r])
                logits = net(torch.as_tensor(keys), torch.as_tensor(klen), torch.as_tensor(qs), torch.as_tensor(qp))
                p = torch.sigmoid(logits).double().numpy()
                for r, j in enumerate(idx):
                    preds[j] = p[r, :qlen[r]].copy()
                    finals[j] = keys[r, max(0, klen[r] - W):klen[r]].copy()
        return preds, finals

    @staticmethod
    def _window_of(state) -> np.ndarray:
        return np.zeros(0, dtype=np.int64) if state is None else state

    def _step(self, state, slot, y):
        keys = np.append(self._window_of(state), slot * 2 + int(y >= 0.5))
        return keys[-int(self.settings["window"]):].astype(np.int64)

    def _probs(self, state):
        torch = require_torch()
        keys = self._window_of(state)
        n = self.n_slots
        with torch.no_grad():
            logits = self.net(torch.as_tensor(keys[None]), torch.tensor([len(keys)]),
                              torch.arange(n)[None], torch.full((1, n), len(keys)))
        return torch.sigmoid(logits[0]).double().numpy()

    def _pack_states(self, states):
        return {"length": np.array([len(s) for s in states], dtype=np.int64),
                "answers": np.concatenate(states).astype(np.int64) if states else np.zeros(0, dtype=np.int64)}

    def _unpack_states(self, packed, n):
        length = np.asarray(packed["length"], dtype=np.int64).reshape(n)
        flat = np.asarray(packed["answers"], dtype=np.int64).reshape(-1)
        if int(length.sum()) != len(flat):
            raise ConfigError("saved sakt windows do not add up: the learner state is damaged")
        cuts = np.cumsum(length)[:-1] if n else []
        return [a.copy() for a in np.split(flat, cuts)] if n else []
