"""A tiny transformer classifier for the synthetic skill tasks (needs ``torch``).

Token and position embeddings, a few pre-norm encoder layers, and a linear
head on the last position (the query token). Small enough to train from
scratch on one CPU thread in tens of seconds.
"""

from __future__ import annotations

import torch
from torch import nn

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
    """Per-skill accuracy and mean loss on a held-out set (numpy or tensor inputs)."""
    was_training = model.training
    model.eval()
    x = torch.as_tensor(inputs)
    y = torch.as_tensor(labels)
    s = torch.as_tensor(skills)
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
    count = count.clamp_min(1)
    return (correct / count).tolist(), (loss / count).tolist()
