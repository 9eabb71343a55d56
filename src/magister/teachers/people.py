"""Register the teachers for people (defined in :mod:`magister.people.policies`)."""

from ..people.policies import DifficultyBand, MasteryLearning, MaxInformation, SpacedReview  # noqa: F401
