"""Robust PLR (PLR-perp; Jiang, Dennis and others, "Replay-Guided Adversarial Environment Design", NeurIPS 2021).

The same buffer and replay distribution as ``plr``, with one change that
makes the curriculum a minimax-regret game: the learner trains only on
replayed levels. A new level is only *evaluated*: the learner plays it, sends
the score, and must not update its policy on that episode. Each proposal says
which kind it is: ``propose_with_info()`` gives ``{"train": False, "replay":
False}`` for a new level and ``{"train": True, "replay": True}`` for a replay
(the RL wrapper, vector env, Ray client and magister's PPO read it).

What differs from the paper: as in ``plr`` (fixed replay probability, after
``min_fill`` of the buffer is full).
"""

from __future__ import annotations

from ..teacher import register
from ._levels import ReplayTeacher

__all__ = ["RobustPLR"]


@register("robust-plr")
class RobustPLR(ReplayTeacher):
    """PLR where new levels are evaluated only (``info["train"] is False``) and replays are trained on."""

    train_new = False
    conformance_kwargs = {"capacity": 16, "replay_prob": 0.6}
