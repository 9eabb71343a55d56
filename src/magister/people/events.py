"""The event schema shared by every learner model, and loaders for real logs.

One *event* is one answer of one learner::

    Event(learner="ana", item="q17", skills=("fractions",), timestamp=1.7e9,
          outcome=1, duration=12.5)

``outcome`` is 0/1 (wrong/right; a fraction in between is accepted as partial
credit) or, in a *graded* log, a grade 1-4 (again, hard, good, easy; recalled
means grade > 1). ``timestamp`` is in seconds (any origin; only differences
matter, and memory models turn them into days); a ``datetime``, a ``date``, a
``numpy.datetime64`` or ISO 8601 text is turned into seconds since the epoch
by :func:`seconds` (aware times at their UTC instant, naive ones read as UTC).
``duration`` is in seconds (``nan`` when unknown).

Models and the evaluator work on an :class:`EventLog`: the same data stored
column-wise as numpy arrays with integer codes for learners, items and skills,
so fitting and replay are vectorised.
"""

from __future__ import annotations

import csv
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..errors import ConfigError
from ..settings import non_numeric
from ..times import _EPOCH64, iso_seconds, seconds

__all__ = ["Event", "EventLog", "load_assist2015", "load_anki", "iso_seconds", "seconds", "skill_names"]

DAY = 86400.0


@dataclass(frozen=True)
class Event:
    """One answer: who, what, which skills, when, how it went, how long it took."""

    learner: str
    item: str
    skills: tuple[str, ...] = ()
    timestamp: float = 0.0
    outcome: float = 0.0
    duration: float = float("nan")

    def __post_init__(self) -> None:
        object.__setattr__(self, "learner", str(self.learner))
        object.__setattr__(self, "item", str(self.item))
        object.__setattr__(self, "skills", skill_names(self.skills, "event skills") or (self.item,))
        object.__setattr__(self, "timestamp", seconds(self.timestamp, "event timestamp"))
        for name in ("outcome", "duration"):
            v = getattr(self, name)
            try:
                v = float(v)
            except (TypeError, ValueError, OverflowError):  # (an integer past any float: Python's OverflowError)
                raise ConfigError(f"event {name} must be a number, got {v!r}") from None
            object.__setattr__(self, name, v)
        if not (0.0 <= self.outcome <= 4.0):
            raise ConfigError(f"event outcome must be 0/1 (or a grade 1-4), got {self.outcome!r}")

    @property
    def skill(self) -> str:
        """The first (main) skill."""
        return self.skills[0]


def skill_names(skills: Any, what: str = "skills") -> tuple[str, ...]:
    """The one reading of the skills of an answer (``Event``) or of a question (``predict(..., skills=)``): one
    skill name, or a list (tuple, set, array) of names, as a tuple of names. A number, ``None`` or bytes is a
    ``ConfigError`` naming ``what``: a number raised Python's "'int' object is not subscriptable" from
    ``predict``, after the item had been given a code (a model that could no longer be saved), and bytes were read
    as their byte values (``b"ab"``: skills ``"97"`` and ``"98"``)."""
    if isinstance(skills, str):  # (one name: predict read "fractions" as the skill "f")
        return (skills,)
    if not isinstance(skills, (bytes, bytearray)):
        try:
            return tuple(str(s) for s in skills)
        except TypeError:  # (not iterable: a number, None, a 0-d array)
            pass
    raise ConfigError(f"{what} are a skill name or a list of names, got {type(skills).__name__} {skills!r:.60}; "
                      "e.g. skills=\"fractions\" or skills=[\"fractions\"]")


def _codes(values: Sequence[Any]) -> tuple[list[str], np.ndarray]:
    names: dict[str, int] = {}
    out = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        out[i] = names.setdefault(str(v), len(names))
    return list(names), out


@dataclass
class EventLog:
    """Events stored column-wise.

    ``learner``, ``item``, ``skill`` are integer codes into ``learners``,
    ``items``, ``skills`` (one main skill per event). ``time`` holds finite
    seconds (a ``datetime64`` column is turned into seconds since the epoch,
    read as UTC); NaN or infinity is refused, naming the rows. ``graded`` says that
    ``outcome`` holds grades 1-4 rather than 0/1. ``extra`` holds optional
    per-event columns (e.g. the cross-validation ``fold``).
    """

    learners: list[str]
    items: list[str]
    skills: list[str]
    learner: np.ndarray
    item: np.ndarray
    skill: np.ndarray
    time: np.ndarray
    outcome: np.ndarray
    duration: np.ndarray
    graded: bool = False
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.learner)
        for name in ("item", "skill", "time", "outcome", "duration"):
            if len(getattr(self, name)) != n:
                raise ConfigError(f"EventLog column {name!r} has {len(getattr(self, name))} rows, expected {n}")
        # columns given as lists are made arrays (taken as given, every replay and subset failed with numpy's
        # "only integer scalar arrays can be converted to a scalar index"); the codes must index the names (a code
        # of -1 was read as the last skill, one past the end failed with an IndexError inside the model)
        for name, names in (("learner", self.learners), ("item", self.items), ("skill", self.skills)):
            codes = getattr(self, name)
            if not isinstance(codes, np.ndarray):
                codes = np.asarray(codes) if len(codes) else np.zeros(0, dtype=np.int64)
                setattr(self, name, codes)
            if codes.dtype.kind not in "iu" or codes.ndim != 1 or (
                    len(codes) and not 0 <= int(codes.min()) <= int(codes.max()) < len(names)):
                raise ConfigError(f"EventLog column {name!r} must hold whole-number codes into {name}s (0 to "
                                  f"{len(names) - 1}: {len(names)} names), got {_sample(codes)}; build the log "
                                  "with EventLog.from_events(events)")
        for name in ("outcome", "duration"):
            if not isinstance(getattr(self, name), np.ndarray):
                setattr(self, name, np.asarray(getattr(self, name), dtype=float))
        raw = np.asarray(self.time)
        if np.issubdtype(raw.dtype, np.datetime64):  # read as UTC, as seconds() reads one
            self.time = raw = (raw - _EPOCH64) / np.timedelta64(1, "s")
        try:
            if non_numeric(raw):  # text ("9", "10") was taken as it was, and sorted as text: "10" before "9"
                raise TypeError("not a number")
            times = np.asarray(raw, dtype=float)
        except (TypeError, ValueError):
            raise ConfigError("EventLog column 'time' must hold numbers (seconds) or numpy datetime64 values; "
                              "turn other times into seconds with magister.people.events.seconds") from None
        if not (isinstance(self.time, np.ndarray) and self.time.dtype.kind in "fiu"):
            self.time = times  # (a list: the models index it with arrays)
        finite = np.isfinite(times)
        if not finite.all():
            # taken, a NaN sorted last in every replay (BKT, Elo...), and FSRS's replay failed half-way, its
            # learners' state already changed
            bad = np.flatnonzero(~finite)
            raise ConfigError(f"EventLog column 'time' must be finite; rows {bad[:5].tolist()}"
                              f"{'...' if len(bad) > 5 else ''} are not (e.g. {float(times[bad[0]])})")

    # ------------------------------------------------------------ building
    @classmethod
    def from_events(cls, events: Iterable[Event], graded: bool | None = None) -> EventLog:
        """Build a log from :class:`Event` objects (``graded`` guessed from outcomes > 1 if not given)."""
        ev = list(events)
        learners, lc = _codes([e.learner for e in ev])
        items, ic = _codes([e.item for e in ev])
        skills, sc = _codes([e.skill for e in ev])
        outcome = np.array([e.outcome for e in ev], dtype=float)
        if graded is None:
            graded = bool(len(outcome) and outcome.max() > 1.0)
        return cls(learners, items, skills, lc, ic, sc,
                   np.array([e.timestamp for e in ev], dtype=float), outcome,
                   np.array([e.duration for e in ev], dtype=float), graded)

    def __len__(self) -> int:
        return len(self.learner)

    def subset(self, rows: Any) -> EventLog:
        """The events at ``rows`` (a boolean mask or indices), keeping the same vocabularies."""
        rows = np.asarray(rows)
        return EventLog(self.learners, self.items, self.skills, self.learner[rows], self.item[rows],
                        self.skill[rows], self.time[rows], self.outcome[rows], self.duration[rows],
                        self.graded, {k: v[rows] for k, v in self.extra.items()})

    def in_learner_order(self) -> EventLog:
        """Events sorted by learner, then time (stable): the order the replay evaluator walks."""
        return self.subset(np.lexsort((np.arange(len(self)), self.time, self.learner)))

    @property
    def correct(self) -> np.ndarray:
        """Outcomes as 0/1 (grade > 1 counts as recalled in a graded log)."""
        return (self.outcome > 1).astype(float) if self.graded else self.outcome.astype(float)

    def event(self, i: int) -> Event:
        return Event(self.learners[self.learner[i]], self.items[self.item[i]], (self.skills[self.skill[i]],),
                     float(self.time[i]), float(self.outcome[i]), float(self.duration[i]))

    def __iter__(self):
        for i in range(len(self)):
            yield self.event(i)


def _sample(values: np.ndarray) -> str:
    """A few of ``values`` for a message: their type and the first five."""
    return f"{values.dtype} values {values.ravel()[:5].tolist()}{'...' if values.size > 5 else ''}"


def _in_range(v: float, low: float, high: float, what: str) -> float:
    if not low <= v <= high:  # NaN fails too
        raise ValueError(f"{what} {v!r} is not in [{low:g}, {high:g}]")
    return v


@contextmanager
def _row(path: str | Path, number: int, columns: str):
    """Turn a malformed row of a log file into a ConfigError naming the file, the row and the columns expected."""
    try:
        yield
    except (KeyError, ValueError, TypeError, AttributeError) as e:
        if isinstance(e, ConfigError):
            raise
        what = f"no column {e}" if isinstance(e, KeyError) else str(e)
        raise ConfigError(f"{path}: row {number} cannot be read ({what}); the file needs the columns "
                          f"{columns}") from None


@contextmanager
def _log_file(path: str | Path):
    """A log file opened as UTF-8 text, its byte-order mark dropped (Excel and Notepad write one: it became part of
    the first column's name, so ``card_id`` was "missing" and a ``fold`` column was read as absent, every fold 0);
    a file that is not UTF-8 is a ``ConfigError`` naming its line (a raw ``UnicodeDecodeError`` before)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        try:
            yield f
        except UnicodeDecodeError:
            raw = Path(path).read_bytes()
            raw = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as e:  # (the whole file's, for the line: the reader's is one chunk's)
                line = raw[:e.start].count(b"\n") + 1
                raise ConfigError(f"{path}: not UTF-8 text (byte 0x{raw[e.start]:02x} on line {line}); save the "
                                  "file as UTF-8") from None
            raise


def load_assist2015(path: str | Path, max_learners: int | None = None) -> EventLog:
    """Read the pyKT-format ASSISTments 2015 file (``fold, uid, concepts, responses``).

    Each row is one student's answers in time order; the timestamp is the
    answer's position. The item is the skill (this data set has skill ids only).
    ``extra["fold"]`` holds the student's cross-validation fold. The file is UTF-8 (a byte-order mark is fine).
    """
    learner, skill, t, out, fold = [], [], [], [], []
    with _log_file(path) as f:
        for r, row in enumerate(csv.DictReader(f)):
            if max_learners is not None and r >= max_learners:
                break
            with _row(path, r + 2, "fold, uid, concepts, responses (0 or 1)"):
                cs = row["concepts"].split(",")
                rs = row["responses"].split(",")
                if len(cs) != len(rs):
                    raise ConfigError(f"{path}: row {r + 2} has {len(cs)} concepts but {len(rs)} responses")
                keep = [i for i, c in enumerate(cs) if c != "-1" and rs[i] != "-1"]
                answers = [_in_range(float(rs[i]), 0.0, 1.0, "response") for i in keep]
                learner += [row["uid"]] * len(keep)
                skill += [cs[i] for i in keep]
                out += answers
                t += [float(i) for i in range(len(keep))]
                fold += [int(row.get("fold", 0) or 0)] * len(keep)
    learners, lc = _codes(learner)
    skills, sc = _codes(skill)
    return EventLog(learners, skills, skills, lc, sc.copy(), sc, np.array(t), np.array(out),
                    np.full(len(lc), np.nan), False, {"fold": np.array(fold, dtype=np.int64)})


def load_anki(path: str | Path, learner: str = "me") -> EventLog:
    """Read an Anki review log (``card_id, review_rating, review_time, review_duration``).

    Items are cards (each its own skill), outcomes are grades 1-4, timestamps are
    seconds since the epoch (a ``review_time`` without a UTC offset is read as UTC,
    whatever the machine's time zone), durations are seconds. The file is UTF-8 (a byte-order mark is fine).
    """
    cards, grade, t, dur = [], [], [], []
    with _log_file(path) as f:
        for r, row in enumerate(csv.DictReader(f)):
            with _row(path, r + 2, "card_id, review_rating (1-4), review_time (ISO), review_duration (ms)"):
                rating = _in_range(float(row["review_rating"]), 1.0, 4.0, "review_rating")
                if not rating.is_integer():  # (2.5 was taken, and FSRS rounded it to a grade)
                    raise ValueError(f"review_rating {rating!r} is not a grade: Anki's are 1, 2, 3 or 4")
                when = iso_seconds(row["review_time"])
                d = row.get("review_duration", "")
                took = float(d) / 1000.0 if d not in ("", None) else np.nan
                if d not in ("", None) and not 0 <= took < np.inf:  # (-5 was taken as a review of -0.005 s; NaN, inf)
                    raise ValueError(f"review_duration {d!r} is not a time in milliseconds >= 0 (leave it empty "
                                     "where it is not known)")
                cards.append(row["card_id"])
                grade.append(rating)
                t.append(when)
                dur.append(took)
    items, ic = _codes(cards)
    return EventLog([learner], items, list(items), np.zeros(len(ic), dtype=np.int64), ic, ic.copy(),
                    np.array(t), np.array(grade), np.array(dur), True)
