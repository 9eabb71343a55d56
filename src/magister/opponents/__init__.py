"""Opponents for competitive games: a pool of snapshots, opponent teachers, dual curricula, ratings.

In competitive games the task is the opponent. :class:`OpponentPool` keeps
snapshots of the learner on disk (opaque bytes or files, bounded memory) with
each one's record; the opponent teachers (``self-play``, ``fsp``, ``pfsp``,
``opponent-lp``, in :mod:`magister.teachers`) propose which member to play;
:class:`DualCurriculum` pairs one with a level teacher; :func:`fit_elo` and
:func:`plot_cross_play` rate snapshots from cross-play. The PettingZoo
environment that plays the learner against pool members is
:class:`magister.rl.pettingzoo.OpponentEnv`.
"""

from __future__ import annotations

from .dual import DualCurriculum
from .pool import EVICTIONS, OpponentPool, SnapshotError, UnknownOpponentError
from .ratings import fit_elo, plot_cross_play
from .records import OUTCOMES, Record, as_outcome, elo_expected, outcome_score
from .teacher import OpponentTeacher

__all__ = [
    "OpponentPool", "SnapshotError", "UnknownOpponentError", "EVICTIONS", "Record", "OUTCOMES", "as_outcome",
    "outcome_score", "elo_expected", "OpponentTeacher", "DualCurriculum", "fit_elo", "plot_cross_play",
]
