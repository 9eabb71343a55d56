"""Simulated students for judging teachers without training a network."""

from .base import Student, StudentBase
from .grid import GridStudent
from .registry import available_students, make_student
from .skills import SkillStudent

__all__ = ["Student", "StudentBase", "GridStudent", "SkillStudent", "make_student", "available_students"]
