"""Teaching people: learner models, what-to-practise-next policies, simulated students and a study loop.

* events: :class:`Event` (learner, item, skills, timestamp, outcome, duration), :class:`EventLog`,
  loaders for ASSISTments 2015 and Anki review logs;
* learner models (one protocol, :class:`LearnerModel`): :class:`BKT`, :class:`Elo`, :class:`BestLR`,
  :class:`FSRSMemory`; :class:`Blend` (a logistic stack of other models); PyTorch (the ``[torch]`` extra, imported on first use): :class:`DKT`, :class:`SAKT`;
* :mod:`~magister.people.evaluate`: replay evaluation (AUC, log loss, calibration, constant baseline);
* :mod:`~magister.people.policies`: teachers for people (mastery learning, difficulty band, spaced review,
  maximum information), registered with :func:`magister.make_teacher`;
* :mod:`~magister.people.simulate`: simulated students drawn from fitted models;
* ``magister study``: the study loop (:mod:`~magister.people.cli`) on the schedule of :mod:`~magister.people.study`.
"""

from .base import LearnerModel, available_models, load_model, make_model, register_model
from .best_lr import BestLR
from .bkt import BKT
from .blend import Blend
from .dkt import DKT
from .elo import Elo
from .events import Event, EventLog, load_anki, load_assist2015
from .sakt import SAKT
from .memory import FSRSMemory, interval, retrievability

__all__ = [
    "Event", "EventLog", "load_assist2015", "load_anki",
    "LearnerModel", "make_model", "available_models", "load_model", "register_model",
    "BKT", "Elo", "BestLR", "DKT", "SAKT", "Blend", "FSRSMemory", "retrievability", "interval",
]
