"""Decks: questions, answers, skills and prerequisites in a plain file a person can edit.

TOML (``.toml``)::

    title = "Fractions"
    [skills]                 # skill = [skills it needs first]
    halves = []
    adding = ["halves"]

    [[cards]]
    id = "half-of-8"         # optional, defaults to card-1, card-2, ...
    question = "What is half of 8?"
    answer = "4"             # or answers = ["4", "four"]; leave out for self-graded cards
    skill = "halves"         # optional, defaults to the card id

CSV (``.csv``) with columns ``id, question, answer, skill, requires`` where
``requires`` lists prerequisite skills separated by ``;`` (only ``question``
is required). Files are UTF-8 (a byte-order mark is fine); a file that is not,
or a CSV with an unterminated quote or a row with more fields than the header,
is refused with an error naming the line.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..errors import ConfigError
from .policies import topological_order

__all__ = ["Card", "Deck", "load_deck", "load_decks", "normalise_answer"]


#: full-width ASCII forms (an East Asian input method's digits, letters and signs) and the ideographic space
_FULL_WIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def normalise_answer(text: str) -> str:
    """Lower case, trimmed, inner spaces collapsed, trailing full stop dropped, Unicode composed (NFC) and
    full-width forms read as the plain ones.

    An accent typed as a separate mark ("adio" + U+0301, as some keyboards and macOS files write it) is the
    accented letter, and "４" (an East Asian input method's) is "4". Not NFKC: it would also read "x²" as "x2"
    and "½" as "1⁄2", which a deck may tell apart.
    """
    text = unicodedata.normalize("NFC", str(text).translate(_FULL_WIDTH))
    return re.sub(r"\s+", " ", text.strip().casefold()).rstrip(".").rstrip()  # "4 ." is "4"


@dataclass(frozen=True)
class Card:
    id: str
    question: str
    answers: tuple[str, ...] = ()
    skill: str = ""

    def check(self, typed: str) -> bool:
        """Is ``typed`` one of the accepted answers (case and spacing ignored)?"""
        t = normalise_answer(typed)
        return any(t == normalise_answer(a) for a in self.answers)


@dataclass
class Deck:
    title: str
    cards: list[Card]
    prerequisites: dict[str, list[str]] = field(default_factory=dict)
    source: str = ""

    @property
    def skills(self) -> list[str]:
        return list(dict.fromkeys([*self.prerequisites, *(c.skill for c in self.cards)]))

    def card(self, card_id: str) -> Card:
        for c in self.cards:
            if c.id == card_id:
                return c
        raise ConfigError(f"deck {self.title!r} has no card {card_id!r}")


def _build(title: str, raw_cards: list[dict], prereq: dict, source: str) -> Deck:
    if not raw_cards:
        raise ConfigError(f"{source}: the deck has no cards; add [[cards]] entries with a question")
    cards, seen = [], set()
    for n, rc in enumerate(raw_cards, 1):
        if not isinstance(rc, dict):
            raise ConfigError(f"{source}: card {n} must be a table (a [[cards]] entry with question = \"...\"), "
                              f"got {rc!r}")
        if rc.get("question") is None or not str(rc["question"]).strip():
            raise ConfigError(f"{source}: card {n} has no question; every card needs question = \"...\"")
        cid = str(rc.get("id") or f"card-{n}")
        if cid in seen:
            raise ConfigError(f"{source}: two cards have the id {cid!r}; ids must be distinct")
        seen.add(cid)
        answers = rc.get("answers", rc.get("answer", ()))
        if isinstance(answers, (str, int, float)):
            answers = [answers]
        answers = tuple(str(a) for a in answers if str(a).strip())
        skill = rc.get("skill") or cid
        if not isinstance(skill, (str, int)) or isinstance(skill, bool):  # a list became its own text
            raise ConfigError(f"{source}: card {n} has skill {skill!r}; a card has one skill, a name such as "
                              "skill = \"halves\"")
        cards.append(Card(cid, str(rc["question"]).strip(), answers, str(skill)))
    prereq = {str(k): [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in (prereq or {}).items()}
    skills = list(dict.fromkeys([*prereq, *(c.skill for c in cards)]))
    topological_order(skills, prereq)  # refuses unknown skills and cycles
    return Deck(title, cards, prereq, source)


def load_deck(path: str | Path) -> Deck:
    """Read a deck from a ``.toml`` or ``.csv`` file (see the module docstring)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"deck file {str(p)!r} does not exist")
    if p.suffix.lower() not in (".toml", ".csv"):
        raise ConfigError(f"deck file {str(p)!r}: use a .toml or .csv file")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark would otherwise become part of the first column's name
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ConfigError(f"{p}: not UTF-8 text (byte 0x{raw[e.start]:02x} on line {line}); save the file as "
                          "UTF-8") from None
    if p.suffix.lower() == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10: the same parser as a package (a dependency there)
            import tomli as tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: not valid TOML ({e}); fix the line it names") from None
        skills, cards = data.get("skills", {}), data.get("cards", [])
        if not isinstance(skills, dict):
            raise ConfigError(f"{p}: skills must be a table ([skills] with lines such as adding = [\"halves\"]), "
                              f"got {skills!r}")
        if not isinstance(cards, list):
            raise ConfigError(f"{p}: cards must be a list of [[cards]] tables, got {cards!r}")
        return _build(str(data.get("title") or p.stem), cards, skills, str(p))
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    prereq: dict[str, list[str]] = {}
    cards = []
    try:
        for r in reader:
            if None in r:
                raise ConfigError(f"{p}: line {reader.line_num} has {len(reader.fieldnames) + len(r[None])} fields "
                                  f"but the header has {len(reader.fieldnames)}; quote values that contain commas")
            skill = (r.get("skill") or r.get("id") or "").strip()
            req = [x.strip() for x in (r.get("requires") or "").split(";") if x.strip()]
            if skill:
                prereq.setdefault(skill, [])
                prereq[skill] = list(dict.fromkeys(prereq[skill] + req))
            cards.append({"id": r.get("id"), "question": r.get("question"), "answer": r.get("answer") or (),
                          "skill": skill})
    except csv.Error as e:
        # reader.line_num is the last line of the last row read in full; the csv reader's own, the line it stopped on
        if "end of data" in str(e):  # the quote opened on the row after the last good one and ran to the end
            line, hint = reader.line_num + 1, "an unterminated quote"
        else:
            line, hint = reader.reader.line_num, f"a malformed value ({e})"
        raise ConfigError(f"{p}: line {line} has {hint}; close the quote or remove it") from None
    if reader.fieldnames and "question" not in reader.fieldnames:
        raise ConfigError(f"{p}: no 'question' column (the header has {', '.join(reader.fieldnames)}); "
                          "name the columns id, question, answer, skill, requires")
    return _build(p.stem, cards, prereq, str(p))


def load_decks(paths: "Sequence[str | Path]") -> list[Deck]:
    """Decks from files and folders (a folder gives its ``.toml`` and ``.csv`` files, sorted by name).

    Titles must be distinct: the study history is stored per deck title.
    """
    files: list[Path] = []
    for path in paths:
        p = Path(path)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in (".toml", ".csv"))
            if not found:
                raise ConfigError(f"folder {str(p)!r} has no .toml or .csv deck files")
            files.extend(found)
        else:
            files.append(p)
    if not files:
        raise ConfigError("no deck given; pass --deck FILE (or a folder of decks), once or more")
    decks: list[Deck] = []
    titles: dict[str, str] = {}
    for f in dict.fromkeys(files):
        d = load_deck(f)
        if d.title in titles:
            raise ConfigError(f"{f} and {titles[d.title]} have the same title {d.title!r}; the history is kept "
                              "per title, so give each deck its own title")
        titles[d.title] = str(f)
        decks.append(d)
    return decks
