"""Curricula for reinforcement learning with Gymnasium.

* :class:`CurriculumWrapper` - one env: a task per reset, a score per episode;
* :class:`CurriculumVectorEnv` - sync/async vector envs, teacher in the main process;
* score functions :class:`SuccessScore`, :class:`ReturnScore`, :class:`FunctionScore`;
* :class:`LevelScorer` - PLR scores computed by the learner from its rollout (``score="external"``);
* :mod:`magister.rl.envs` - parametric envs ``magister/CliffWalk-v0``, ``magister/PointGap-v0``;
* :mod:`magister.rl.ppo` - a compact PyTorch PPO (imports torch);
* :mod:`magister.rl.ray` - the teacher as a Ray actor, a prefetching client, RLlib callbacks (imports ray).

Importing this package needs only gymnasium and numpy.
"""

from __future__ import annotations

from ..errors import missing_extra_import

try:
    import gymnasium  # noqa: F401 - every part of magister.rl builds on it
except ImportError as _e:  # (the light core has no Gymnasium: a bare "No module named 'gymnasium'" named no extra)
    raise missing_extra_import("magister.rl", "rl", _e) from _e

from . import envs
from .levels import LevelScorer, level_key
from .scores import Episode, FunctionScore, ReturnScore, SuccessScore, as_score_fn
from .vector import CurriculumVectorEnv
from .wrapper import SCORE_KEY, TASK_ID_KEY, TASK_INFO_KEY, TRAIN_KEY, CurriculumWrapper, propose_with_info

__all__ = [
    "CurriculumWrapper", "CurriculumVectorEnv", "Episode", "SuccessScore", "ReturnScore", "FunctionScore",
    "as_score_fn", "envs", "SCORE_KEY", "TASK_ID_KEY", "TASK_INFO_KEY", "TRAIN_KEY", "LevelScorer", "level_key",
    "propose_with_info",
]
