"""magister: teachers for anything that learns.

Given a space of tasks and a stream of outcomes from a learner, a teacher
decides what the learner should practise next::

    import magister as mg
    teacher = mg.make_teacher("alp-gmm", mg.Box([0, 0], [1, 1]), seed=0)
    task = teacher.propose()
    teacher.observe(task, score=0.4)
    teacher.save("teacher.ckpt"); teacher = mg.load("teacher.ckpt")

``import magister`` is light (numpy only); integrations with Gymnasium,
PyTorch, Ray and the HTTP service live in sub-packages behind extras.
"""

from __future__ import annotations

from .errors import (
    CheckpointError,
    ConfigError,
    InvalidScoreError,
    InvalidTaskError,
    MagisterError,
    UnknownSettingError,
    UnknownTaskError,
)
from .recommend import Recommendation, recommend, recommendations
from .scores import ScoreRange
from .spaces import Box, Dict, Discrete, MultiDiscrete, Space, space_from_spec
from .teacher import Teacher, available_teachers, load, loads, make_teacher, register, teacher_class

__version__ = "0.1.0"

__all__ = [
    "Box", "Discrete", "MultiDiscrete", "Dict", "Space", "space_from_spec",
    "Teacher", "make_teacher", "available_teachers", "teacher_class", "register", "load", "loads",
    "recommend", "recommendations", "Recommendation",
    "ScoreRange",
    "MagisterError", "InvalidTaskError", "UnknownTaskError", "InvalidScoreError", "CheckpointError", "ConfigError",
    "UnknownSettingError", "__version__",
]
