"""Mistakes ``mypy --strict`` must catch in a user's program (tests/test_typing_user.py): each line marked with
an error comment is one. A name typed ``Any`` (the lazy exports of magister.serve were) lets them through."""

from __future__ import annotations

import magister as mg
from magister.serve import HTTPTeacher


def infos_of_many(teacher: mg.Teacher) -> bool:
    _, infos = teacher.propose_with_info(3)
    return bool(infos["train"])  # error: a list of infos, one per task


def client() -> None:
    HTTPTeacher("http://localhost:8000", curriculum=3)  # error: a curriculum's name is a string


def remote(teacher: HTTPTeacher) -> None:
    teacher.observe_batch(teacher.propose(2), [0.5, 0.5], chunk="big")  # error: chunk is a number
