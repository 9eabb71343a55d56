"""RIAC+ : RIAC with defaults tuned for learners whose progress moves on.

The same algorithm and region tree as :mod:`magister.teachers.riac`, with these
changed defaults (each measured on the grid student, see
``docs/teachers-riac-adr.md``):

* ``lp_window=12``: learning progress compares the last 6 scores of a region
  with the 6 before. With the reference 200-score window a region keeps
  showing progress long after it stopped (its older half still holds the
  learning-time scores), and the teacher keeps sending the learner to tasks it
  has already mastered;
* ``max_points=40``: regions split after 40 observations instead of 200, so the
  tree reaches the scale of the learner's frontier quickly;
* ``leaves_only=True``: only leaves (the finest regions) are sampled, not their
  ancestors, which mix progressing and finished areas;
* ``ratio_random=0.1`` / ``ratio_region=0.8``: less uniform sampling (the
  perturbation share stays 10%);
* ``competence_weight=1`` and ``min_gap=0.01``: a cut also scores for
  separating skill levels (``|mean_low - mean_high|``), so regions stop mixing
  mastered and unreachable tasks, and a leaf whose cuts show no progress
  difference at all forgets old points instead of splitting (fewer useless
  cuts along dimensions the learner ignores).

Every setting of :class:`~magister.teachers.riac.RIAC` can still be passed.
"""

from __future__ import annotations

from ..teacher import register
from .riac import RIAC


@register("riac-plus")
class RIACPlus(RIAC):
    """RIAC with a short learning-progress window, small leaves, skill-aware cuts and less uniform sampling."""

    conformance_kwargs = {"max_points": 30, "min_width": 0.1}

    #: the settings that differ from RIAC's reference defaults (any RIAC setting may still be passed)
    DEFAULTS = {
        "max_points": 40,
        "lp_window": 12,
        "ratio_region": 0.8,
        "ratio_random": 0.1,
        "leaves_only": True,
        "min_gap": 0.01,
        "competence_weight": 1.0,
    }

    def __init__(self, space, **settings):
        super().__init__(space, **{**self.DEFAULTS, **settings})
