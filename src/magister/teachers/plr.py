"""PLR: Prioritized Level Replay (Jiang, Grefenstette and Rocktaschel, ICML 2021).

Each proposal either replays a level from a bounded buffer (probability
``replay_prob``) or visits a new level from the generator (the space's
sampler: an unseen seed of a finite :class:`~magister.levels.spaces.SeedSpace`
while there is one, a fresh seed or maze otherwise). Replays are drawn from

    (1 - staleness_coef) * P_score + staleness_coef * P_staleness,

``P_score`` by rank with ``temperature`` (or ``prioritization="power"``),
``P_staleness`` by proposals since the level was last played. Scores are the
learner's own (mean |GAE|, positive value loss, max-MC regret: see
:class:`magister.rl.LevelScorer`), any finite number (``score_range=None``).
A new level enters the buffer after its first score, its staleness counted
from its proposal (as the reference code does: with several episodes running
the score comes proposals later); when full it evicts the
lowest-scoring level if it scores higher. ``score_alpha`` < 1 averages a
replayed level's scores instead of keeping the latest. Every operation is
O(log capacity) (:class:`magister.level_buffer.LevelBuffer`).

What differs from the paper: the replay decision is a fixed probability
(the reference code's "fixed" schedule; its default is the "proportionate"
one, replaying with probability the share of the training seeds seen) once
``min_fill`` of the buffer is full; on a finite seed set whose every seed is
in the buffer the teacher always replays (as the paper does once all seeds
are seen). The learner trains on every level; see ``robust-plr`` for the
variant that does not.
"""

from __future__ import annotations

from ..teacher import register
from ._levels import ReplayTeacher

__all__ = ["PLR"]


@register("plr")
class PLR(ReplayTeacher):
    """Prioritized Level Replay: score-prioritised replay with staleness, new levels otherwise."""

    train_new = True
    conformance_kwargs = {"capacity": 16, "replay_prob": 0.6}
