"""A tiny transformer classifier for the synthetic skill tasks (needs ``torch``).

Token and position embeddings, a few pre-norm encoder layers, and a linear
head on the last position (the query token). Small enough to train from
scratch on one CPU thread in tens of seconds.
"""

from __future__ import annotations

from ..errors import missing_extra_import

try:
    import torch
    from torch import nn
except ImportError as _e:
    raise missing_extra_import("magister.data.model", "torch", _e) from _e

__all__ = ["TinyTransformer", "per_example_loss", "evaluate_per_skill"]


class TinyTransformer(nn.Module):
    """Encoder-only transformer; ``forward(tokens (B, T)) -> logits (B, n_classes)``."""

    def __init__(self, vocab_size: int, seq_len: int, n_classes: int, *, d_model: int = 64, n_layers: int = 2,
                 n_heads: int = 4, d_ff: int | None = None, dropout: float = 0.0):
        super().__init__()
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Parameter(torch.randn(seq_len, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, d_ff or 4 * d_model, dropout=dropout,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """``tokens``: ``(B, T)``, or ``(B, T, F)`` whose ``F`` sub-token embeddings are summed per position."""
        e = self.tok(tokens)
        if tokens.dim() == 3:
            e = e.sum(2)
        h = e + self.pos[: tokens.shape[1]]
        h = self.encoder(h)
        return self.head(self.norm(h[:, -1]))


def per_example_loss(model: nn.Module, tokens: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy per example (no reduction)."""
    return nn.functional.cross_entropy(model(tokens), labels, reduction="none")


@torch.no_grad()
def evaluate_per_skill(model: nn.Module, inputs, labels, skills, n_skills: int,
                       batch_size: int = 1024) -> tuple[list[float], list[float]]:
    """Per-skill accuracy and mean loss on a held-out set (numpy or tensor inputs); NaN for a skill it lacks."""
    was_training = model.training
    model.eval()
    x = torch.as_tensor(inputs)
    y = torch.as_tensor(labels)
    s = torch.as_tensor(skills)
    # numpy's int32 (Windows' default integer) crashed cross_entropy ("expected target dtype to be Long")
    if not (y.is_floating_point() or y.is_complex() or y.dtype == torch.bool):
        y = y.long()
    if not (s.is_floating_point() or s.is_complex() or s.dtype == torch.bool):
        s = s.long()
    correct = torch.zeros(n_skills)
    loss = torch.zeros(n_skills)
    count = torch.zeros(n_skills)
    for i in range(0, len(x), batch_size):
        logits = model(x[i:i + batch_size])
        yy, ss = y[i:i + batch_size], s[i:i + batch_size]
        correct.index_add_(0, ss, (logits.argmax(-1) == yy).float())
        loss.index_add_(0, ss, nn.functional.cross_entropy(logits, yy, reduction="none"))
        count.index_add_(0, ss, torch.ones(len(yy)))
    model.train(was_training)
    # a skill without held-out examples has no accuracy or loss (NaN): 0 read as a perfect loss for the teacher
    none = torch.where(count > 0, 0.0, float("nan"))
    count = count.clamp_min(1)
    return (correct / count + none).tolist(), (loss / count + none).tolist()


class TransformerEnsemble(nn.Module):
    """``n_models`` independent copies of :class:`TinyTransformer`'s architecture, trained in one pass.

    Every weight has a leading model dimension; ``forward(tokens (M, B, T) or
    (M, B, T, F)) -> logits (M, B, n_classes)``. Models never share a
    parameter, and AdamW is element-wise, so training the ensemble with the sum
    of the per-model mean losses is exactly training ``M`` separate models --
    at the dispatch cost of one. The benchmark uses it to train every method
    of one seed side by side from the same initial weights.
    """

    def __init__(self, n_models: int, vocab_size: int, seq_len: int, n_classes: int, *, d_model: int = 64,
                 n_layers: int = 2, n_heads: int = 4, d_ff: int | None = None, seed: int = 0):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        g = torch.Generator().manual_seed(int(seed))
        m, d, f = int(n_models), d_model, d_ff or 4 * d_model
        self.n_models, self.n_heads = m, n_heads

        def same(*shape: int, kind: str = "uniform", fan_in: int = 1, std: float = 1.0) -> nn.Parameter:
            if kind == "uniform":
                b = 1.0 / fan_in ** 0.5
                one = (torch.rand(*shape, generator=g) * 2 - 1) * b
            elif kind == "normal":
                one = torch.randn(*shape, generator=g) * std
            elif kind == "ones":
                one = torch.ones(*shape)
            else:
                one = torch.zeros(*shape)
            return nn.Parameter(one.unsqueeze(0).repeat(m, *([1] * len(shape))).contiguous())

        self.tok = same(vocab_size, d, kind="normal")
        self.pos = same(seq_len, d, kind="normal", std=0.02)
        self.layers = nn.ModuleList()
        for _ in range(n_layers):
            layer = nn.ParameterDict({
                "ln1_w": same(d, kind="ones"), "ln1_b": same(d, kind="zeros"),
                "w_qkv": same(d, 3 * d, fan_in=d), "b_qkv": same(3 * d, kind="zeros"),
                "w_o": same(d, d, fan_in=d), "b_o": same(d, kind="zeros"),
                "ln2_w": same(d, kind="ones"), "ln2_b": same(d, kind="zeros"),
                "w_1": same(d, f, fan_in=d), "b_1": same(f, fan_in=d),
                "w_2": same(f, d, fan_in=f), "b_2": same(d, fan_in=f),
            })
            self.layers.append(layer)
        self.lnf_w, self.lnf_b = same(d, kind="ones"), same(d, kind="zeros")
        self.w_head, self.b_head = same(d, n_classes, fan_in=d), same(n_classes, fan_in=d)

    @staticmethod
    def _ln(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        y = nn.functional.layer_norm(x, x.shape[-1:])
        return y * w[:, None, :] + b[:, None, :]

    @staticmethod
    def _lin(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(b[:, None, :], x, w)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        m = tokens.shape[0]
        if m != self.n_models:
            raise ValueError(f"tokens must have one leading row per model ({self.n_models}), got {m}")
        bsz, t = tokens.shape[1], tokens.shape[2]
        sel = torch.arange(m).view(m, *([1] * (tokens.dim() - 1)))
        e = self.tok[sel, tokens]
        if tokens.dim() == 4:
            e = e.sum(3)
        h = (e + self.pos[:, None, :t]).reshape(m, bsz * t, -1)
        d = h.shape[-1]
        nh, dh = self.n_heads, d // self.n_heads
        for p in self.layers:
            a = self._lin(self._ln(h, p["ln1_w"], p["ln1_b"]), p["w_qkv"], p["b_qkv"])
            q, k, v = a.view(m * bsz, t, 3, nh, dh).permute(2, 0, 3, 1, 4)
            att = nn.functional.scaled_dot_product_attention(q, k, v)
            att = att.permute(0, 2, 1, 3).reshape(m, bsz * t, d)
            h = h + self._lin(att, p["w_o"], p["b_o"])
            z = nn.functional.relu(self._lin(self._ln(h, p["ln2_w"], p["ln2_b"]), p["w_1"], p["b_1"]))
            h = h + self._lin(z, p["w_2"], p["b_2"])
        last = h.view(m, bsz, t, d)[:, :, -1]
        return self._lin(self._ln(last, self.lnf_w, self.lnf_b), self.w_head, self.b_head)
