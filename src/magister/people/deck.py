"""Decks: questions, answers, skills and prerequisites in a plain file a person can edit.

TOML (``.toml``)::

    title = "Fractions"
    [skills]                 # skill = [skills it needs first]
    halves = []
    adding = ["halves"]

    [[cards]]
    id = "half-of-8"         # optional, defaults to card-1, card-2, ... (its position: see below)
    question = "What is half of 8?"
    answer = "4"             # or answers = ["4", "four"]; leave out for self-graded cards
    skill = "halves"         # optional, defaults to the card id

CSV (``.csv``) with columns ``id, question, answer, skill, requires`` where
``requires`` lists prerequisite skills separated by ``;`` (only ``question``
is required). Files are UTF-8 (a byte-order mark is fine); a file that is not,
or a CSV with an unterminated quote or a row with more fields than the header,
is refused with an error naming the line.

A card's ``id`` keys its study history. It is text, or a whole number read as
its digits (``id = 0`` is ``"0"``, as ``skill = 2`` is ``"2"``); ``true``, a
fraction, a list, a table, an empty text or one with white space around it
(``" a1 "``) is refused naming the card (and its line). A card
without an id is numbered by its position in the file (``card-N``): inserting,
removing or moving a card renumbers the cards after it, so each review also
stores the card's :attr:`Card.fingerprint` and :meth:`Deck.check_history`
refuses a history whose numbered card now has another text. Explicit ids are
never checked this way: editing the text of a card with an id keeps its history.

A deck's title, its card ids and its skill names are read in Unicode's composed form (NFC), as learner names are
(:mod:`magister.names`): "café" typed with "é" and with "e" + U+0301 (as macOS and some editors write it) is one
card, and a deck file saved again in the other form keeps its history (two cards whose ids differ only in their
form are refused naming both). The question and answers are kept as written; a fingerprint taken of them in either
form is the card's.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from ..errors import ConfigError
from .policies import topological_order

__all__ = ["Card", "Deck", "load_deck", "load_decks", "normalise_answer"]


def _nfc(text: object) -> object:
    """``text`` in Unicode's composed form (NFC), the form of titles, card ids and skill names; not text: as it is."""
    return unicodedata.normalize("NFC", text) if isinstance(text, str) else text


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
    #: the id is the card's position in the deck file (``card-N``), which gave it none
    numbered: bool = False

    def __post_init__(self) -> None:
        # "café" typed composed and decomposed was two cards, and a deck saved again decomposed lost the history
        object.__setattr__(self, "id", _nfc(self.id))
        object.__setattr__(self, "skill", _nfc(self.skill))

    @property
    def fingerprint(self) -> str:
        """12 hex digits of a hash of the question and the accepted answers, as the deck gives them.

        Stored with each review, so that a history recorded for ``card-3`` is not replayed onto another card
        after the deck's cards were inserted, removed or edited (see :meth:`Deck.check_history`).
        """
        return _fingerprint(self.question, self.answers)

    def _fingerprints(self) -> set[str]:
        """The fingerprints of this card's text as written, composed (NFC) and decomposed (NFD): a deck file saved
        again in another Unicode form (same text) keeps its history."""
        return {self.fingerprint, *(_fingerprint(unicodedata.normalize(form, self.question),
                                                 [unicodedata.normalize(form, a) for a in self.answers])
                                    for form in ("NFC", "NFD"))}

    def check(self, typed: str) -> bool:
        """Is ``typed`` one of the accepted answers (case and spacing ignored)?"""
        t = normalise_answer(typed)
        return any(t == normalise_answer(a) for a in self.answers)


def _nfc_graph(prerequisites: Mapping) -> dict:
    """``{skill: [skills it needs]}`` with the names composed (NFC); a skill written in both forms needs what
    either needs."""
    out: dict = {}
    for k, v in prerequisites.items():
        needs = [_nfc(r) for r in v] if isinstance(v, (list, tuple)) else v
        key = _nfc(k)
        both = isinstance(out.get(key), list) and isinstance(needs, list)
        out[key] = list(dict.fromkeys([*out[key], *needs])) if both else needs
    return out


def _fingerprint(question: str, answers: Sequence[str]) -> str:
    text = json.dumps([question, list(answers)], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


@dataclass
class Deck:
    title: str
    cards: list[Card]
    prerequisites: dict[str, list[str]] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        self.title = _nfc(self.title)  # (the history is kept per title: a title saved decomposed lost it)
        self.prerequisites = _nfc_graph(self.prerequisites)

    @property
    def skills(self) -> list[str]:
        return list(dict.fromkeys([*self.prerequisites, *(c.skill for c in self.cards)]))

    def card(self, card_id: str) -> Card:
        card_id = _nfc(card_id)  # (in either Unicode form, as the deck's ids are composed)
        for c in self.cards:
            if c.id == card_id:
                return c
        raise ConfigError(f"deck {self.title!r} has no card {card_id!r}")

    def check_history(self, recorded: Mapping[str, str]) -> None:
        """Refuse a history whose position-numbered cards (``card-N``) had another text when they were reviewed.

        ``recorded``: per card id, the fingerprint of its last review that has one (``StudyStore.fingerprints``;
        reviews stored before fingerprints were have none, and are taken as they are). A card with an explicit id
        is never checked: its text may be edited.
        """
        numbered = {c.id: c for c in self.cards if c.numbered}
        # (its text in either Unicode form: a deck saved again decomposed was refused as "text changed")
        forms = {cid: c._fingerprints() for cid, c in numbered.items()}
        moved = {fp: cid for cid, fps in forms.items() for fp in fps}
        changed = [cid for cid in numbered if cid in recorded and recorded[cid] not in forms[cid]]
        # a numbered card the deck no longer has (a card before it was removed) whose text is now another number's
        ids = {c.id for c in self.cards}
        gone = [(cid, moved[fp]) for cid, fp in recorded.items()
                if cid not in ids and re.fullmatch(r"card-\d+", cid) and fp in moved]
        if not changed and not gone:
            return
        if changed:
            what = (f"{changed[0]}'s text changed since its reviews were recorded (it now asks "
                    f"{numbered[changed[0]].question!r})")
            others = changed[1:] + [cid for cid, _ in gone]
        else:
            what = f"{gone[0][0]}'s reviews are of the card now numbered {gone[0][1]}"
            others = [cid for cid, _ in gone[1:]]
        also = f" (also {', '.join(others[:5])}{', ...' if len(others) > 5 else ''})" if others else ""
        raise ConfigError(
            f"{self.source or self.title}: {what}{also}: cards without an id are numbered by position, so "
            "inserting, removing or moving a card gives the cards after it other cards' reviews. Give your cards "
            "explicit `id`s: id = \"card-N\" with the N each card had when it was reviewed keeps its reviews "
            "(if you only edited this card's text, id = "
            f"\"{changed[0] if changed else gone[0][0]}\" on it is enough), and a new card a new id; or undo the "
            "change. Nothing was stored.")


def _build(title: str, raw_cards: list[dict], prereq: dict, source: str,
           line_of: Callable[[int], int | None] = lambda n: None) -> Deck:
    """The deck of ``raw_cards``; ``line_of(n)``: card ``n``'s line in the file (1-based, None when not known),
    asked only for a card an error names (a TOML card's line is searched for in the whole text)."""
    if not raw_cards:
        raise ConfigError(f"{source}: the deck has no cards; add [[cards]] entries with a question")
    cards, seen = [], {}
    for n, rc in enumerate(raw_cards, 1):
        if not isinstance(rc, dict):
            raise ConfigError(f"{source}: card {n} must be a table (a [[cards]] entry with question = \"...\"), "
                              f"got {rc!r}")
        if rc.get("question") is None or not str(rc["question"]).strip():
            raise ConfigError(f"{source}: card {n} has no question; every card needs question = \"...\"")
        raw_id = rc.get("id")
        if raw_id is None:
            cid, numbered = f"card-{n}", True
        elif isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):  # as skills: text or a whole number
            raise ConfigError(f"{source}: card {n} has id = {raw_id!r}; an id is text such as id = \"half-of-8\" "
                              f"(or a whole number), or leave id out to number the card by position (card-{n})")
        elif not str(raw_id).strip():
            raise ConfigError(f"{source}: card {n} has an empty id; write one such as id = \"half-of-8\", or leave "
                              f"id out to number the card by position (card-{n})")
        elif str(raw_id) != str(raw_id).strip():  # " a1 " was a card of its own, beside "a1" and for the history
            at = line_of(n)
            line = f" (line {at})" if at else ""
            plain = str(raw_id).strip()
            raise ConfigError(f"{source}: card {n}{line} has id {raw_id!r}, with white space around it; write it "
                              f"without: {plain!r} (reviews an earlier version stored under {raw_id!r} are read as "
                              f"reviews of {plain!r})")
        else:  # id = 0 was read as no id (card-N)
            cid, numbered = str(raw_id), False
        key = unicodedata.normalize("NFC", cid)  # the id the card is known by (Card keeps it so)
        if key in seen and seen[key][1] != cid:  # "café" composed and decomposed: one card to the history
            m, other = seen[key]
            raise ConfigError(f"{source}: cards {m} and {n} have the ids {other!r} and {cid!r}, the same text written "
                              "in two Unicode forms (composed and decomposed), which are one card to the history; "
                              "give them distinct ids")
        if key in seen:
            raise ConfigError(f"{source}: two cards have the id {cid!r}; ids must be distinct")
        seen[key] = (n, cid)
        answers = rc.get("answers", rc.get("answer", ()))
        if isinstance(answers, (str, int, float)):
            answers = [answers]
        answers = tuple(str(a) for a in answers if str(a).strip())
        skill = rc.get("skill")
        if skill is None or skill == "":  # skill = 0 was read as no skill (the card's id)
            skill = cid
        if not isinstance(skill, (str, int)) or isinstance(skill, bool):  # a list became its own text
            raise ConfigError(f"{source}: card {n} has skill {skill!r}; a card has one skill, a name such as "
                              "skill = \"halves\"")
        cards.append(Card(cid, str(rc["question"]).strip(), answers, str(skill), numbered))
    prereq = _nfc_graph({str(k): [str(x) for x in (v if isinstance(v, list) else [v])]
                         for k, v in (prereq or {}).items()})
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
        return _build(str(data.get("title") or p.stem), cards, skills, str(p), lambda n: _toml_line(text, cards[n - 1]))
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    prereq: dict[str, list[str]] = {}
    cards, lines = [], []
    try:
        for r in reader:
            lines.append(reader.line_num)
            if None in r:
                raise ConfigError(f"{p}: line {reader.line_num} has {len(reader.fieldnames) + len(r[None])} fields "
                                  f"but the header has {len(reader.fieldnames)}; quote values that contain commas")
            skill = (r.get("skill") or r.get("id") or "").strip()
            req = [x.strip() for x in (r.get("requires") or "").split(";") if x.strip()]
            if skill:
                prereq.setdefault(skill, [])
                prereq[skill] = list(dict.fromkeys(prereq[skill] + req))
            cards.append({"id": r.get("id") or None, "question": r.get("question"), "answer": r.get("answer") or (),
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
    return _build(p.stem, cards, prereq, str(p), lambda n: lines[n - 1])


def _toml_line(text: str, card: object) -> int | None:
    """The line of a TOML card's ``id = "..."`` (``None`` when it is not written plainly so)."""
    raw_id = card.get("id") if isinstance(card, dict) else None
    if not isinstance(raw_id, str):
        return None
    for quoted in (json.dumps(raw_id, ensure_ascii=False), f"'{raw_id}'"):
        found = re.search(r"\bid\s*=\s*" + re.escape(quoted), text)
        if found:
            return text.count("\n", 0, found.start()) + 1
    return None


def load_decks(paths: Sequence[str | Path]) -> list[Deck]:
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
