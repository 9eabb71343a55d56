"""Deep knowledge tracing (DKT): an LSTM over a learner's (skill, right/wrong) answers.

Piech et al. (NeurIPS 2015). Each answer enters as the embedding of the pair
(skill, outcome); an LSTM carries the learner's knowledge; a linear layer on
its hidden state gives the logit of a right answer on every skill next. The
first answer is predicted from the zero state (the layer's bias: each skill's
rate on first tries). Training takes each learner's answers in chunks of
``seq_len`` and starts each chunk from the state the learner's previous chunk
ended in (truncated backpropagation through time), so that a learner's later
answers are learnt from the history replay predicts them from.

Online, a learner's state is the LSTM's ``(h, c)``: :meth:`~DKT.update` runs one
step, :meth:`~DKT.predict` reads the skill's output. :meth:`~DKT.replay` runs many
learners at once (packed sequences) from their saved states and gives the
same numbers as the step-by-step loop. PyTorch (the ``[torch]`` extra) is
imported on first use.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ._sequence import SequenceModel, require_torch
from .base import new_number, reading_setting, register_model

__all__ = ["DKT"]


def _dkt_net(n_slots: int, hidden: int, embed: int, dropout: float, cell: str = "lstm"):
    torch = require_torch()
    nn = torch.nn

    class DKTNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(2 * n_slots, embed)
            self.lstm = (nn.GRU if cell == "gru" else nn.LSTM)(embed, hidden, batch_first=True)
            self.drop = nn.Dropout(dropout)
            self.out = nn.Linear(hidden, n_slots)

    return DKTNet()


@register_model("dkt")
class DKT(SequenceModel):
    """Deep knowledge tracing: LSTM (``hidden`` units) over embedded (skill, outcome) answers.

    Settings: ``hidden`` (LSTM units), ``embed`` (size of the answer
    embedding), ``dropout`` (on the hidden state before the output layer,
    training only), and the common training settings of
    :class:`~magister.people._sequence.SequenceModel` (``epochs``, ``lr``,
    ``valid_fraction``, ``seed``, ``threads``, ...).
    """

    def __init__(self, *, hidden: int = 100, embed: int = 64, dropout: float = 0.2, cell: str = "lstm",
                 **common: Any):
        for k, v in dict(hidden=hidden, embed=embed).items():  # (text, a bool: refused, as the common settings)
            new_number("dkt", k, v, "a whole number >= 1", whole=True)
        new_number("dkt", "dropout", dropout, "in [0, 1)")
        for k, v in dict(hidden=hidden, embed=embed).items():
            with reading_setting("dkt", k, v, "a whole number >= 1"):
                if int(v) != v or int(v) < 1:
                    raise ConfigError(f"dkt {k} must be a whole number >= 1, got {v!r}")
        with reading_setting("dkt", "dropout", dropout, "in [0, 1)"):
            if not 0.0 <= float(dropout) < 1.0:
                raise ConfigError(f"dkt dropout must be in [0, 1), got {dropout!r}")
        if cell not in ("lstm", "gru"):
            raise ConfigError(f"dkt cell must be 'lstm' or 'gru', got {cell!r}")
        super().__init__(hidden=int(hidden), embed=int(embed), dropout=float(dropout), cell=cell, **common)

    def _make_net(self, n_slots: int):
        s = self.settings
        return _dkt_net(n_slots, s["hidden"], s["embed"], s["dropout"], s.get("cell", "lstm"))

    train_carries_state = True

    def _rnn(self, x, h, c, net=None):
        """The recurrent layer of ``net`` (default: the fitted one) from state ``(h, c)`` (each (1, B, H)); its
        outputs and final ``(h, c)``.

        A GRU has no cell state: ``c`` passes through unchanged (zeros), so both cells share one state layout."""
        rnn = (self.net if net is None else net).lstm
        if self.settings.get("cell", "lstm") == "gru":
            out, hn = rnn(x, h)
            return out, hn, c
        out, (hn, cn) = rnn(x, (h, c))
        return out, hn, cn

    def _train_logits(self, net, skills, correct, lengths, state=None):
        torch = require_torch()
        x = net.embed(skills * 2 + (correct >= 0.5).long())
        B = skills.shape[0]
        if state is None:
            h0 = c0 = x.new_zeros(1, B, int(self.settings["hidden"]))
        else:  # the learners whose chunks go on are the first rows of the previous chunks' state
            h0, c0 = state[0][:, :B], state[1][:, :B]
        H, hn, cn = self._rnn(x, h0, c0, net)
        prev = torch.cat([h0[0][:, None], H[:, :-1]], dim=1)
        logits = net.out(net.drop(prev))
        # the final state of a row is right where its chunk is full (T steps): only those rows' learners go on
        return logits.gather(2, skills.unsqueeze(2)).squeeze(2), (hn.detach(), cn.detach())

    def _run(self, seqs, states):
        torch = require_torch()
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

        net, H = self.net, int(self.settings["hidden"])
        preds: list[Any] = [None] * len(seqs)
        finals: list[Any] = [None] * len(seqs)
        order = np.argsort([-len(s) for s, _ in seqs], kind="stable")
        with torch.no_grad():
            for a in range(0, len(order), 256):
                idx = order[a:a + 256]
                lens = np.array([len(seqs[j][0]) for j in idx])
                T = int(lens.max())
                S = np.zeros((len(idx), T), dtype=np.int64)
                Y = np.zeros((len(idx), T), dtype=np.int64)
                h0 = np.zeros((len(idx), H), dtype=np.float32)
                c0 = np.zeros((len(idx), H), dtype=np.float32)
                for r, j in enumerate(idx):
                    S[r, :lens[r]] = seqs[j][0]
                    Y[r, :lens[r]] = seqs[j][1] >= 0.5
                    if states[j] is not None:
                        h0[r], c0[r] = states[j]
                St = torch.as_tensor(S)
                x = net.embed(St * 2 + torch.as_tensor(Y))
                h0t, c0t = torch.as_tensor(h0), torch.as_tensor(c0)
                packed = pack_padded_sequence(x, torch.as_tensor(lens), batch_first=True, enforce_sorted=True)
                out, hn, cn = self._rnn(packed, h0t[None], c0t[None])
                Hs, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
                prev = torch.cat([h0t[:, None], Hs[:, :-1]], dim=1)
                p = torch.sigmoid(net.out(prev).gather(2, St.unsqueeze(2)).squeeze(2)).double().numpy()
                hn, cn = hn[0].numpy(), cn[0].numpy()
                for r, j in enumerate(idx):
                    preds[j] = p[r, :lens[r]].copy()
                    finals[j] = (hn[r].copy(), cn[r].copy())
        return preds, finals

    def _step(self, state, slot, y):
        torch = require_torch()
        H = int(self.settings["hidden"])
        h, c = state if state is not None else (np.zeros(H, np.float32), np.zeros(H, np.float32))
        with torch.no_grad():
            x = self.net.embed(torch.tensor([[slot * 2 + int(y >= 0.5)]]))
            _, hn, cn = self._rnn(x, torch.as_tensor(h)[None, None], torch.as_tensor(c)[None, None])
        return hn[0, 0].numpy().copy(), cn[0, 0].numpy().copy()

    def _probs(self, state):
        torch = require_torch()
        H = int(self.settings["hidden"])
        h = state[0] if state is not None else np.zeros(H, np.float32)
        with torch.no_grad():
            return torch.sigmoid(self.net.out(torch.as_tensor(h))).double().numpy()

    def _pack_states(self, states):
        H = int(self.settings["hidden"])
        return {"h": np.array([s[0] for s in states], dtype=np.float32).reshape(-1, H),
                "c": np.array([s[1] for s in states], dtype=np.float32).reshape(-1, H)}

    def _unpack_states(self, packed, n):
        H = int(self.settings["hidden"])
        h = np.asarray(packed["h"], dtype=np.float32).reshape(n, H)
        c = np.asarray(packed["c"], dtype=np.float32).reshape(n, H)
        return [(h[i].copy(), c[i].copy()) for i in range(n)]
