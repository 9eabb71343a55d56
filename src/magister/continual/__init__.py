"""Continual learners to test task-sequence teachers on, offline and on CPU.

* :mod:`~magister.continual.data`: class-incremental data sets (scikit-learn's
  bundled digits; Gaussian classes with controllable similarity);
* :mod:`~magister.continual.learners`: :class:`MLPLearner`, a small numpy
  network trained in one pass per class, with an optional replay buffer;
* :mod:`~magister.continual.person`: :class:`SimulatedPerson`, the people
  package's memory model learning the same sequence;
* :mod:`~magister.continual.metrics`: final accuracy, forgetting, learning curve;
* :mod:`~magister.continual.run`: drive a learner through a fixed order or a teacher.

The teachers themselves (``continual-designer``, ``continual-order``) live in
:mod:`magister.teachers.continual_order`.
"""

from .data import TaskData, digits, synthetic
from .learners import MLPLearner
from .metrics import final_accuracy, forgetting, learning_curve
from .person import SimulatedPerson
from .run import SequenceResult, run_order, run_teacher

__all__ = ["TaskData", "digits", "synthetic", "MLPLearner", "SimulatedPerson", "final_accuracy", "forgetting",
           "learning_curve", "SequenceResult", "run_order", "run_teacher"]
