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
* ``competence_weight=1``: a cut also scores for separating skill levels
  (``|mean_low - mean_high|``), so regions stop mixing mastered and
  unreachable tasks;
* ``split_alpha=0.05``: a leaf splits only along a cut that passes a
  significance test (a straight line in time per side fits the scores
  clearly better than one line for the whole leaf; at most a 5% chance that
  any of the candidate cuts of a uniform leaf passes). Scatter of a noisy
  score and cuts along dimensions the learner ignores fail it, so the tree
  stays coarse where nothing differs; a leaf with no such cut forgets old
  points instead of splitting. This replaces RIAC+'s earlier ``min_gap=0.01``
  (now 0);
* ``noise_z=1``: the progress used for sampling is a region's LP minus one
  standard error of the noise (estimated from the flattest leaves), so the
  many finished or unreachable regions whose LP is only score noise stop
  drawing most of the samples.

Every setting of :class:`~magister.teachers.riac.RIAC` can still be passed.
"""

from __future__ import annotations

from ..teacher import register
from .riac import RIAC


@register("riac-plus")
class RIACPlus(RIAC):
    """RIAC with a short learning-progress window, small leaves, tested skill-aware cuts, noise-aware
    progress and less uniform sampling."""

    conformance_kwargs = {"max_points": 30, "min_width": 0.1}

    #: the settings that differ from RIAC's reference defaults (any RIAC setting may still be passed)
    DEFAULTS = {
        "max_points": 40,
        "lp_window": 12,
        "ratio_region": 0.8,
        "ratio_random": 0.1,
        "leaves_only": True,
        "competence_weight": 1.0,
        "split_alpha": 0.05,
        "noise_z": 1.0,
        "balance": True,
        "cuts": "valid",
    }

    def __init__(self, space, **settings):
        super().__init__(space, **{**self.DEFAULTS, **settings})
