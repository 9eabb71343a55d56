"""Simulated students for judging teachers without training a network."""

from .base import Student, StudentBase
from .grid import GridStudent

__all__ = ["Student", "StudentBase", "GridStudent"]
