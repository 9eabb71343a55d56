"""The record a pool keeps for each opponent: games, wins, draws, losses and a rating.

A record is seen from the **learner's** side: ``wins`` counts games the learner
won against this opponent, ``losses`` games it lost. ``score`` maps one game's
outcome to a number in [0, 1] (win 1, draw 0.5, loss 0), so a game where
perfect play draws is not scored as a string of defeats.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from ..errors import InvalidScoreError

__all__ = ["Record", "OUTCOMES", "outcome_score", "as_outcome", "elo_expected", "elo_update"]

#: the three outcomes of one game, from the learner's side, and their scores
OUTCOMES: dict[str, float] = {"win": 1.0, "draw": 0.5, "loss": 0.0}


def as_outcome(outcome: Any) -> str:
    """``"win"``, ``"draw"`` or ``"loss"`` from a name or a score of 1, 0.5 or 0; anything else is refused."""
    if isinstance(outcome, str):
        if outcome in OUTCOMES:
            return outcome
    elif not isinstance(outcome, (bool, np.bool_)) and (isinstance(outcome, (int, float)) or hasattr(outcome, "item")) \
            and getattr(getattr(outcome, "dtype", None), "kind", "") != "b":  # np.array(True) is no outcome either
        try:
            v = float(outcome)
        except (TypeError, ValueError):
            v = float("nan")
        for name, s in OUTCOMES.items():
            if v == s:
                return name
    raise InvalidScoreError(
        f"a game's outcome must be 'win', 'draw' or 'loss' (or the learner's score 1, 0.5 or 0), got {outcome!r}; "
        "a game that ended without an outcome cannot be recorded"
    )


def outcome_score(outcome: Any) -> float:
    """The learner's score of one game: 1 (win), 0.5 (draw) or 0 (loss)."""
    return OUTCOMES[as_outcome(outcome)]


def elo_expected(r_a: float, r_b: float) -> float:
    """Expected score of a player rated ``r_a`` against one rated ``r_b`` (Elo, base 10, scale 400)."""
    x = (r_b - r_a) / 400.0
    try:
        return 1.0 / (1.0 + 10.0 ** x)
    except OverflowError:  # 123,300 points below (a raw OverflowError, and the pool could not record the pair again)
        return 10.0 ** -x  # (1 / (1 + 10 ** x) there, as near as floats go: below 1e-308, or 0.0)


def elo_update(r_a: float, r_b: float, score_a: float, k: float) -> tuple[float, float]:
    """Both ratings after one game in which ``a`` scored ``score_a``."""
    d = k * (score_a - elo_expected(r_a, r_b))
    return r_a + d, r_b - d


@dataclass(frozen=True)
class Record:
    """One opponent's entry in the pool (counts are the learner's results against it)."""

    id: int
    step: int = 0
    games: int = 0
    wins: int = 0
    draws: int = 0
    losses: int = 0
    rating: float = 1000.0
    sha256: str = ""
    size: int = 0
    name: str = ""

    @property
    def win_rate(self) -> float:
        """The learner's mean score against this opponent (draws count half); 0.5 before any game."""
        return (self.wins + 0.5 * self.draws) / self.games if self.games else 0.5

    def with_outcome(self, outcome: str, rating: float | None = None) -> Record:
        """This record after one more game with ``outcome`` (``"win"``, ``"draw"`` or ``"loss"``)."""
        field = {"win": "wins", "draw": "draws", "loss": "losses"}[outcome]
        kw: dict[str, Any] = {"games": self.games + 1, field: getattr(self, field) + 1}
        if rating is not None:
            kw["rating"] = float(rating)
        return replace(self, **kw)

    def to_dict(self) -> dict[str, Any]:
        # the fields by name, as asdict gives them (every field is a number or a string), without asdict's deep
        # copy of each: the pool writes every member's record at each change, and asdict was half its cost
        return {name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Record:
        return cls(id=int(d["id"]), step=int(d.get("step", 0)), games=int(d.get("games", 0)),
                   wins=int(d.get("wins", 0)), draws=int(d.get("draws", 0)), losses=int(d.get("losses", 0)),
                   rating=float(d.get("rating", 1000.0)), sha256=str(d.get("sha256", "")),
                   size=int(d.get("size", 0)), name=str(d.get("name", "")))


#: the names of a record's fields, in order (:meth:`Record.to_dict`)
_FIELDS = tuple(f.name for f in fields(Record))
