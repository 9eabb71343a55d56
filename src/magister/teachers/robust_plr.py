"""Robust PLR (PLR-perp; Jiang, Dennis and others, "Replay-Guided Adversarial Environment Design", NeurIPS 2021).

The same buffer and replay distribution as ``plr``, with one change that
makes the curriculum a minimax-regret game: the learner trains only on
replayed levels. A new level is only *evaluated*: the learner plays it, sends
the score, and must not update its policy on that episode. Each proposal says
which kind it is: ``propose_with_info()`` gives ``{"train": False, "replay":
False}`` for a new level and ``{"train": True, "replay": True}`` for a replay
(the RL wrapper, vector env, Ray client and magister's PPO read it).

Defaults: ``replay_prob=0.8``, ``temperature=0.3``, ``staleness_coef=0.3``
(ACCEL's MiniGrid settings, also jaxued's maze defaults; ``accel`` uses the
same), not ``plr``'s Procgen values (0.5, 0.1, 0.1). ACCEL's Robust PLR
baseline itself replayed with probability 0.5 at the same temperature and
staleness (the MiniGrid configurations of facebookresearch/dcd). The replay
probability matters most at a small budget: at equal env steps the learner
trains only on the ``replay_prob`` share of the episodes, and on the maze
benchmark's pilot seeds (100-102, 200k steps) 0.8 trained on 71-74% of the
steps instead of 41-43% and reached 34.3 / 25.7 / 35.7% of the held-out
mazes (second-half means) against 32.3 / 14.3 / 5.7% with 0.5 (docs/rl.md,
level benchmark).

What differs from the paper: as in ``plr`` (fixed replay probability, after
``min_fill`` of the buffer is full; the MiniGrid runs of Robust PLR and ACCEL
replay only once half of their 4,000-level buffer is full, here ``min_fill``
is 0).
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

    def __init__(self, space, *, seed=None, score_range=None, capacity: int = 1000, replay_prob: float = 0.8,
                 prioritization: str = "rank", temperature: float = 0.3, staleness_coef: float = 0.3,
                 score_alpha: float = 1.0, min_fill: float = 0.0):
        super().__init__(space, seed=seed, score_range=score_range, capacity=capacity, replay_prob=replay_prob,
                         prioritization=prioritization, temperature=temperature, staleness_coef=staleness_coef,
                         score_alpha=score_alpha, min_fill=min_fill)
