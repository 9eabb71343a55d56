"""SQLite persistence of study history (one row per answer), standard library only.

The learner model is not stored: it is rebuilt by replaying the history, so
a history written by one version is read by the next, and a crash loses at
most the answer being typed (each answer is committed at once). A write that
fails (the file locked by another program past the timeout, a read-only file or
folder, a full disk) is a :class:`~magister.errors.ConfigError` naming the file,
the cause and the fix, and leaves the history as it was (the answer is rolled
back, nothing stored before it is touched).

Each review also stores the card's content fingerprint (:attr:`~magister.people.deck.Card.fingerprint`;
a file written before fingerprints gets the column at its next answer, its earlier reviews have none), so
:meth:`StudyStore.deck_history` can refuse a deck whose position-numbered cards changed text. Learner names
are stored in Unicode's composed form (NFC), otherwise as given, so a name that would read as another one
(" ann" beside "ann", a zero-width space in it) is refused (:func:`checked_learner`); the reads find a history
an earlier version stored under another spelling of the same name (not composed, or with a zero-width character
in it: :mod:`magister.names`). Deck titles and card ids are stored composed too (a deck reads them so:
``magister.people.deck``), and the reviews stored under a title or an id written decomposed are read as the
composed one's.
"""

from __future__ import annotations

import math
import sqlite3
from numbers import Real
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..names import learner_form, refuse_spaces_around, same_learner
from ..settings import number, whole
from .events import Event

if TYPE_CHECKING:
    from .deck import Deck

__all__ = ["StudyStore", "checked_grade", "checked_learner"]

#: seconds a write waits for another program's lock on the file (sqlite3's default)
TIMEOUT = 5.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deck TEXT NOT NULL,
    learner TEXT NOT NULL,
    card TEXT NOT NULL,
    skill TEXT NOT NULL,
    time REAL NOT NULL,
    grade INTEGER NOT NULL CHECK (grade BETWEEN 1 AND 4),
    duration REAL,
    fingerprint TEXT
);
CREATE INDEX IF NOT EXISTS reviews_by_learner ON reviews (deck, learner, time);
"""


def checked_grade(grade: object) -> int:
    """A grade 1 (again) to 4 (easy) as an ``int``; anything else (2.5, True, "3", NaN) is refused."""
    g = whole("grade", grade, 1, floats=True, hint="1 again, 2 hard, 3 good, 4 easy")
    if g > 4:
        raise ConfigError(f"grade must be 1-4, got {grade!r}")
    return g


def checked_learner(name: object, what: str = "learner", example: str = 'learner="ana"') -> str:
    """A learner name in the form it is stored in (NFC: :func:`magister.names.learner_form`); empty, with
    spaces around it, with a control character or a format character (a zero-width space), it is refused.

    The history is kept under the name, so " ann" was a learner of its own beside "ann", silently. Not
    stripped: a history may already be stored under such a name, and it would be merged into another's.
    """
    if not isinstance(name, str):
        raise ConfigError(f"{what} must be a name (text), got {name!r}; e.g. {example}")
    if not name.strip():
        raise ConfigError(f"{what} must name someone, got {name!r}; e.g. {example}")
    refuse_spaces_around(name, what)
    for ch in name:
        if unicodedata.category(ch) in ("Cc", "Cs"):  # a tab, a newline, an escape; a lone surrogate (not text)
            kind = "a control character" if unicodedata.category(ch) == "Cc" else "not valid text"
            raise ConfigError(f"{what} {name!r} contains U+{ord(ch):04X} ({kind}); write the name without it")
    return learner_form(name, what)


def _card_id(stored: str) -> str:
    """A stored card id as a deck gives it now: without white space around it, composed (NFC)."""
    return unicodedata.normalize("NFC", str(stored).strip())


def _duration(stored: object) -> float:
    """A stored duration as read: NaN when none is known, or when an earlier version stored one that is no number
    (``StudyStore.add`` took ``duration="12s"``, and every read of that history failed)."""
    if isinstance(stored, (int, float)) and not isinstance(stored, bool):
        return float(stored)
    return float("nan")


class StudyStore:
    """History of answers in an SQLite file: ``add`` one review, ``history`` of a learner on a deck."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:  # a file where a folder should be: a traceback (FileExistsError) before
            raise ConfigError(f"{self.path}: cannot make its folder ({e.strerror or e}); pass another --db") from None
        try:
            # check_same_thread off: the study page calls from worker threads, one at a time under its lock
            self.db = sqlite3.connect(self.path, timeout=TIMEOUT, check_same_thread=False)
            self.db.executescript(_SCHEMA)
            self._fingerprinted = self._has_fingerprints()
        except sqlite3.DatabaseError as e:
            raise self._read_failed(e) from None
        #: per (deck, learner in NFC): the titles and names their answers are stored under (:meth:`_spellings`)
        self._names: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
        #: per deck title in NFC: the titles its answers are stored under (``_titles_of``)
        self._titles: dict[str, list[str]] = {}

    def _has_fingerprints(self) -> bool:
        """Does the file have the fingerprint column (a file written before fingerprints gets it on its next answer)?"""
        return any(row[1] == "fingerprint" for row in self.db.execute("PRAGMA table_info(reviews)"))

    @staticmethod
    def _locked(e: sqlite3.Error) -> bool:
        return "locked" in str(e) or "busy" in str(e)

    def _read_failed(self, e: sqlite3.Error) -> ConfigError:
        """The error for a file sqlite cannot open or read: locked by another program, or not a study database."""
        if self._locked(e):  # was "not a usable study database ...; pass another --db" for a sound, busy file
            return ConfigError(f"{self.path}: the history could not be read ({e}): another program (a second "
                               f"magister study, a database browser) held a lock on it for over {TIMEOUT:g} s; "
                               "close it and try again")
        return ConfigError(f"{self.path} is not a usable study database ({e}); pass another --db")

    def _write_failed(self, e: sqlite3.Error) -> ConfigError:
        """The error for a write to the file that sqlite refused: the file, the cause and the fix."""
        cause = str(e)
        if self._locked(e):
            fix = (f"another program (a second magister study, a database browser) held a lock on it for over "
                   f"{TIMEOUT:g} s; close it and answer again")
        elif "readonly" in cause or "read-only" in cause:
            fix = "the file or its folder is read-only; make both writable or pass another --db"
        elif "full" in cause:
            fix = "the disk is full; free some space or pass another --db"
        else:
            fix = "check the file, or pass another --db"
        return ConfigError(f"{self.path}: the answer was not stored ({cause}): {fix}; "
                           "the answers stored before are kept")

    def add(self, deck: str, learner: str, card: str, skill: str, time: float, grade: int,
            duration: float | None = None, fingerprint: str | None = None) -> None:
        """Store one answer; ``fingerprint``: the card's :attr:`~magister.people.deck.Card.fingerprint`.

        ``duration``: seconds the answer took, ``>= 0`` (``None`` or NaN: not known). Every value is checked
        before anything is written: a bad one is a ``ConfigError`` naming it, nothing stored.
        """
        learner = checked_learner(learner)
        grade = checked_grade(grade)
        time = number("time", time, hint="the answer's time in seconds")
        # (taken unchecked: a duration of "12s" was stored, and every later read of the learner's history failed
        # with "event duration must be a number"; a card of None failed in SQLite as "check the file")
        for what, value, fix in (("deck", deck, "the deck's title, deck.title"), ("card", card, "the card's id, "
                                 "card.id (a deck's id = 5 is the text '5')"), ("skill", skill, "card.skill")):
            # (a deck may give a title or a skill of white space, title = " ", but never such a card id)
            if not isinstance(value, str) or value == "" or (what == "card" and not value.strip()):
                raise ConfigError(f"{what} must be text, {fix}, got {value!r}; nothing was stored")
        deck, card, skill = (unicodedata.normalize("NFC", x) for x in (deck, card, skill))  # (as a deck reads them)
        if fingerprint is not None and not isinstance(fingerprint, str):
            raise ConfigError(f"fingerprint must be the card's Card.fingerprint (text) or None, got {fingerprint!r}; "
                              "nothing was stored")
        if duration is not None and isinstance(duration, Real) and not isinstance(duration, bool) \
                and math.isnan(duration):
            duration = None  # not known (an Event's NaN): stored as NULL, as before
        if duration is not None:
            duration = number("duration", duration, 0.0, hint="the seconds the answer took (None: not known); "
                              "nothing was stored")
        try:
            if not self._fingerprinted and not self._has_fingerprints():  # (another program may have added it)
                try:  # a new nullable column: the rows stored before keep what they had, and have no fingerprint
                    self.db.execute("ALTER TABLE reviews ADD COLUMN fingerprint TEXT")
                except sqlite3.OperationalError as e:
                    if "duplicate column" not in str(e):  # added by another program meanwhile
                        raise
            self._fingerprinted = True
            with self.db:  # committed, or rolled back when it fails: the file keeps what it had
                self.db.execute("INSERT INTO reviews (deck, learner, card, skill, time, grade, duration, fingerprint) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                (deck, learner, card, skill, time, grade, duration, fingerprint))
        except sqlite3.DatabaseError as e:  # locked past the timeout, read-only, disk full: raw OperationalError before
            if isinstance(e, sqlite3.ProgrammingError):  # a closed store: a bug of the caller, not of the file
                raise
            if self.db.in_transaction:  # a commit that failed may leave the answer pending: drop it
                try:
                    self.db.rollback()
                except sqlite3.Error:
                    pass
            raise self._write_failed(e) from None

    def _titles_of(self, deck: str) -> list[str]:
        """The titles the answers on the deck titled ``deck`` are stored under: its composed form (NFC), the form
        it is stored in now, and the one an earlier version stored as the deck wrote it (decomposed)."""
        title = unicodedata.normalize("NFC", deck) if isinstance(deck, str) else deck
        titles = self._titles.get(title)
        if titles is None:  # looked for once per store and deck: it reads every title (the whole index)
            stored = [row[0] for row in self.db.execute("SELECT DISTINCT deck FROM reviews")]
            titles = self._titles[title] = sorted({title, *(t for t in stored if isinstance(t, str)
                                                           and unicodedata.normalize("NFC", t) == title)})
        return titles

    def _spellings(self, deck: str, learner: str) -> tuple[list[str], list[str]]:
        """The titles (``_titles_of``) and the names ``learner``'s answers on ``deck`` are stored under: the NFC
        form it is stored in now, and those an earlier version stored as typed (decomposed, or with a zero-width
        character: "Jose" + U+0301 is "José"), so that such a history is found by the name written plainly
        (:func:`magister.names.same_learner`)."""
        found = self._names.get((deck, learner))
        if found is None:  # looked for once per store: it reads every learner name of the deck (the whole index)
            titles = self._titles_of(deck)
            stored = [row[0] for row in self.db.execute("SELECT DISTINCT learner FROM reviews WHERE deck IN "
                                                         f"({', '.join('?' * len(titles))})", titles)]
            # (with the name itself: this version stores every answer under it, those added later included)
            found = self._names[(deck, learner)] = (titles, sorted({learner, *same_learner(learner, stored)}))
        return found

    def _rows(self, columns: str, deck: str, learner: str, where: str = "") -> list[tuple]:
        """``columns`` of the reviews of every spelling of ``learner`` on ``deck``, in time order."""
        titles, names = self._spellings(deck, learner)
        return self.db.execute(f"SELECT {columns} FROM reviews WHERE deck IN ({', '.join('?' * len(titles))}) AND "
                               f"learner IN ({', '.join('?' * len(names))}){where} ORDER BY time, id",
                               (*titles, *names)).fetchall()

    def history(self, deck: str, learner: str) -> list[Event]:
        """The answers of ``learner`` on the deck titled ``deck``, in time order (see also :meth:`deck_history`);
        with those stored under another spelling of the name (:mod:`magister.names`)."""
        learner = checked_learner(learner)
        try:
            rows = self._rows("card, skill, time, grade, duration", deck, learner)
        except sqlite3.DatabaseError as e:  # a damaged file opens, then fails here (a traceback before)
            raise self._read_failed(e) from None
        # a card id is read without white space around it: a deck gives none now (" a1 " is refused when it is
        # loaded, its fix is "a1"), and the reviews an earlier version stored under " a1 " are then found; and
        # composed (NFC), as a deck reads it: the reviews stored under a decomposed "café" are the card's
        return [Event(learner, _card_id(c), (s,), t, g, _duration(d)) for c, s, t, g, d in rows]

    def fingerprints(self, deck: str, learner: str) -> dict[str, str]:
        """Per card, the fingerprint of its last review that has one (reviews stored before fingerprints have none)."""
        learner = checked_learner(learner)
        try:
            if not self._fingerprinted and not self._has_fingerprints():
                return {}
            rows = self._rows("card, fingerprint", deck, learner, " AND fingerprint IS NOT NULL")
        except sqlite3.DatabaseError as e:
            raise self._read_failed(e) from None
        return {_card_id(card): fp for card, fp in rows}  # the last of each card's (ids read as history reads them)

    def deck_history(self, deck: Deck, learner: str) -> list[Event]:
        """:meth:`history` of ``learner`` on ``deck``, refused (a ``ConfigError``, nothing stored or changed) when
        one of the deck's position-numbered cards had another text when it was reviewed (:meth:`Deck.check_history`).
        """
        deck.check_history(self.fingerprints(deck.title, learner))
        return self.history(deck.title, learner)

    def close(self) -> None:
        self.db.close()
