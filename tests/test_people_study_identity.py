"""Who and what a study history belongs to: learner names as given, and cards numbered by position (card-N)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from magister.errors import ConfigError
from magister.people.deck import Card, load_deck, load_decks
from magister.people.store import StudyStore, checked_learner
from magister.people.study import Schedule
from magister.people.web import StudyApp

T0 = 1_740_000_000.0
NUMBERED = """title = "Capitals"
[[cards]]
question = "Capital of France?"
answer = "Paris"
[[cards]]
question = "Capital of Spain?"
answer = "Madrid"
[[cards]]
question = "Capital of Italy?"
answer = "Rome"
"""


def deck_file(tmp_path: Path, text: str, name: str = "capitals.toml") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path / name


def all_rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT * FROM reviews ORDER BY id").fetchall()


def review_all(store: StudyStore, deck, learner: str = "ana", t: float = T0) -> None:
    """One right answer to each card, stored as the terminal and the page store it."""
    for n, c in enumerate(deck.cards):
        store.add(deck.title, learner, c.id, c.skill, t + 60 * n, 3, 2.0, c.fingerprint)


def study_cli(tmp_path: Path, deck: Path, *args: str, answers: tuple[str, ...] = ("q",)):
    import typer
    from typer.testing import CliRunner

    from magister.people.cli import command

    app = typer.Typer()
    app.command()(command)
    return CliRunner().invoke(app, ["--deck", str(deck), "--db", str(tmp_path / "db.sqlite"), "--now",
                                    "2025-03-01T09:00", *args], input="\n".join(answers) + "\n",
                              env={"COLUMNS": "300", "TERM": "dumb"})


# --- learner names -----------------------------------------------------------------------------------------------

BAD_NAMES = [(" ann", "begins with a space; write it without: 'ann'"),
             ("ann ", "ends with a space; write it without: 'ann'"),
             ("ann\t", r"ends with the white space '\\t'; write it without: 'ann'"),
             ("an\nn", r"contains U\+000A \(a control character\); write the name without it"),
             ("a\x1bnn", r"contains U\+001B \(a control character\)"),
             ("", "must name someone"), ("   ", "must name someone"), (5, r"must be a name \(text\), got 5"),
             # format characters show as nothing: "an\u200bn" was a learner of its own beside "ann"
             ("an\u200bn", r"'an\\u200bn' contains U\+200B \(zero width space, a format character that shows as "
                           r"nothing, so the name would read as another\); write it without: 'ann'"),
             ("an\u200cn", r"contains U\+200C \(zero width non-joiner.*write it without: 'ann'"),
             ("an\u200dn", r"contains U\+200D \(zero width joiner.*write it without: 'ann'"),
             ("\ufeffann", r"contains U\+FEFF \(zero width no-break space.*write it without: 'ann'"),
             ("ann\u2060", r"contains U\+2060 \(word joiner.*write it without: 'ann'"),
             ("\u200b", r"contains U\+200B .*; write a name")]


@pytest.mark.parametrize("name,message", BAD_NAMES)
def test_a_learner_name_that_would_read_as_another_is_refused_by_the_python_api(tmp_path, name, message):
    # " ann" was stored as a learner of its own beside "ann", silently: two histories for one person
    store = StudyStore(tmp_path / "db.sqlite")
    store.add("Capitals", "ann", "card-1", "card-1", T0, 3)
    before = all_rows(tmp_path / "db.sqlite")
    for call in (lambda: store.add("Capitals", name, "card-1", "card-1", T0 + 1, 3),
                 lambda: store.history("Capitals", name), lambda: store.fingerprints("Capitals", name),
                 lambda: StudyApp([load_deck(deck_file(tmp_path, NUMBERED))], store, learner=name)):
        with pytest.raises(ConfigError, match=message):
            call()
    assert all_rows(tmp_path / "db.sqlite") == before


def test_good_learner_names_are_kept_exactly():
    for name in ("ann", "Ann Lee", "ana-maría", "李", "o'brien"):
        assert checked_learner(name) == name
    assert checked_learner("Jose\u0301") == "Jos\u00e9"  # composed (NFC): the form names are stored in


NFC, NFD = "Jos\u00e9", "Jose\u0301"  # "José" typed with "é", and with "e" and a combining acute accent


def test_a_name_typed_composed_or_decomposed_is_one_learner(tmp_path):
    # "José" typed as U+00E9 and as "e" + U+0301 (macOS, some keyboards) were two learners whose reviews never met
    path = deck_file(tmp_path, NUMBERED)
    deck = load_deck(path)
    store = StudyStore(tmp_path / "db.sqlite")
    a, b = deck.cards[:2]
    store.add(deck.title, NFC, a.id, a.skill, T0, 3, 2.0, a.fingerprint)
    store.add(deck.title, NFD, b.id, b.skill, T0 + 60, 3, 2.0, b.fingerprint)
    assert {r[2] for r in all_rows(tmp_path / "db.sqlite")} == {NFC}  # stored in one form
    for name in (NFC, NFD):
        assert [e.item for e in store.history(deck.title, name)] == ["card-1", "card-2"]
        assert [e.item for e in store.deck_history(deck, name)] == ["card-1", "card-2"]
        assert set(store.fingerprints(deck.title, name)) == {"card-1", "card-2"}
        assert StudyApp([deck], store, learner=name).learner == NFC
    store.close()
    res = study_cli(tmp_path, path, "--learner", NFD)  # the command reads the same history
    assert res.exit_code == 0 and "2 earlier answers by José" in res.output, res.output


def old_file(db: Path, rows: list[tuple[str, str]]) -> None:
    """A study database an earlier version wrote: (learner, card) reviews stored as typed, right answers."""
    with sqlite3.connect(db) as c:
        c.executescript("CREATE TABLE reviews (id INTEGER PRIMARY KEY AUTOINCREMENT, deck TEXT NOT NULL, learner TEXT "
                        "NOT NULL, card TEXT NOT NULL, skill TEXT NOT NULL, time REAL NOT NULL, grade INTEGER NOT NULL "
                        "CHECK (grade BETWEEN 1 AND 4), duration REAL, fingerprint TEXT);")
        c.executemany("INSERT INTO reviews (deck, learner, card, skill, time, grade) VALUES "
                      "('Capitals', ?, ?, ?, ?, 3)", [(who, card, card, T0 + n) for n, (who, card) in enumerate(rows)])


@pytest.mark.parametrize("stored", [NFD, "Jos\u200b\u00e9", "\ufeffJose\u0301"])
def test_a_history_stored_under_another_spelling_of_the_name_is_found_and_kept(tmp_path, stored):
    # an earlier version stored the name as typed: it is found by the name written plainly, nothing is rewritten
    db = tmp_path / "db.sqlite"
    old_file(db, [(stored, "card-1"), ("ann", "card-2")])
    before = all_rows(db)
    store = StudyStore(db)
    assert [e.item for e in store.history("Capitals", NFC)] == ["card-1"]
    assert [e.item for e in store.history("Capitals", NFD)] == ["card-1"]
    assert [e.item for e in store.history("Capitals", "ann")] == ["card-2"]  # other learners are not concerned
    assert all_rows(db) == before
    store.add("Capitals", NFD, "card-3", "card-3", T0 + 60, 3)  # the new answer joins it, stored composed
    assert [e.item for e in store.history("Capitals", NFC)] == ["card-1", "card-3"]
    assert all_rows(db)[:2] == before and all_rows(db)[2][2] == NFC


def test_the_other_spellings_of_a_name_are_looked_for_once_per_store_not_on_every_read(tmp_path):
    # looking for them reads every learner name of the deck (the whole index: some 80 ms for a million reviews,
    # against 3 for the learner's own); the page reads the history twice per request (fingerprints, history)
    db = tmp_path / "db.sqlite"
    old_file(db, [(NFD, "card-1"), ("ann", "card-2")])
    store = StudyStore(db)
    scans: list[str] = []
    store.db.set_trace_callback(lambda sql: scans.append(sql) if "DISTINCT" in sql else None)
    for _ in range(3):
        assert [e.item for e in store.history("Capitals", NFC)] == ["card-1"]
        store.fingerprints("Capitals", NFC)
    assert len(scans) == 2  # the names, and the titles (written in another Unicode form) of the deck
    store.add("Capitals", NFC, "card-3", "card-3", T0 + 60, 3)  # stored in NFC: found without another look
    assert [e.item for e in store.history("Capitals", NFC)] == ["card-1", "card-3"]
    assert store.history("Capitals", "bo") == []  # a learner read before their first answer
    store.add("Capitals", "bo", "card-1", "card-1", T0 + 70, 3)
    assert [e.item for e in store.history("Capitals", "bo")] == ["card-1"]
    store.close()


@pytest.mark.parametrize("name,message", [(" ann", "--learner ' ann' begins with a space; write it without: 'ann'"),
                                          ("ann\u0007", r"--learner 'ann\\x07' contains U\+0007"),
                                          ("an\u200bn", r"--learner 'an\\u200bn' contains U\+200B \(zero width space")])
@pytest.mark.parametrize("web", [False, True])
def test_the_command_refuses_such_a_learner_before_opening_anything(tmp_path, monkeypatch, name, message, web):
    import re

    import magister.people.web as web_module

    served: list = []
    monkeypatch.setattr(web_module, "serve", lambda *a, **k: served.append(k))
    res = study_cli(tmp_path, deck_file(tmp_path, NUMBERED), "--learner", name, *(["--web"] if web else []))
    assert res.exit_code == 2 and re.search(message, res.output), res.output
    assert not served and not (tmp_path / "db.sqlite").exists()


def test_a_history_already_stored_under_such_a_name_is_kept_and_not_merged(tmp_path):
    # an older version stored " ann"; the name is refused now, and neither dropped nor merged into "ann"'s
    path = tmp_path / "db.sqlite"
    with sqlite3.connect(path) as c:
        c.executescript("CREATE TABLE reviews (id INTEGER PRIMARY KEY AUTOINCREMENT, deck TEXT NOT NULL, learner TEXT "
                        "NOT NULL, card TEXT NOT NULL, skill TEXT NOT NULL, time REAL NOT NULL, grade INTEGER NOT NULL "
                        "CHECK (grade BETWEEN 1 AND 4), duration REAL);")
        c.execute("INSERT INTO reviews (deck, learner, card, skill, time, grade) VALUES "
                  "('Capitals', ' ann', 'card-1', 'card-1', ?, 3)", (T0,))
    before = all_rows(path)
    store = StudyStore(path)
    assert store.history("Capitals", "ann") == []
    with pytest.raises(ConfigError, match="begins with a space"):
        store.history("Capitals", " ann")
    store.close()
    assert all_rows(path) == before


# --- card ids ----------------------------------------------------------------------------------------------------

def test_ids_are_text_or_whole_numbers_and_a_missing_one_is_the_position(tmp_path):
    # id = 0 was read as no id (card-1), id = true as "True", id = 1.5 as "1.5", skill = 0 as the card's id
    d = load_deck(deck_file(tmp_path, '[[cards]]\nid = 0\nquestion = "a?"\nskill = 0\n'
                                      '[[cards]]\nid = 7\nquestion = "b?"\n'
                                      '[[cards]]\nquestion = "c?"\n'
                                      '[[cards]]\nid = "d"\nquestion = "d?"\n'))
    assert [(c.id, c.skill, c.numbered) for c in d.cards] == [("0", "0", False), ("7", "7", False),
                                                              ("card-3", "card-3", True), ("d", "d", False)]
    csv = load_deck(deck_file(tmp_path, "id,question\n,a?\nb,b?\n", "d.csv"))  # an empty cell: no id
    assert [(c.id, c.numbered) for c in csv.cards] == [("card-1", True), ("b", False)]


@pytest.mark.parametrize("value,message", [("true", "has id = True; an id is text"), ("1.5", "has id = 1.5"),
                                           ("[1]", r"has id = \[1\]"), ("{}", r"has id = \{\}"),
                                           ('""', "has an empty id"), ('"  "', "has an empty id")])
def test_an_id_that_is_not_text_or_a_whole_number_or_is_empty_is_refused(tmp_path, value, message):
    with pytest.raises(ConfigError, match=f"card 2 {message}.*leave id out to number the card by position "
                                          r"\(card-2\)"):
        load_deck(deck_file(tmp_path, f'[[cards]]\nquestion = "a?"\n[[cards]]\nid = {value}\nquestion = "b?"\n'))
    with pytest.raises(ConfigError, match="card 1 has id = False"):
        load_deck(deck_file(tmp_path, '[[cards]]\nid = false\nquestion = "a?"\n'))
    with pytest.raises(ConfigError, match="one skill"):  # skill = [] was read as no skill
        load_deck(deck_file(tmp_path, '[[cards]]\nquestion = "a?"\nskill = []\n'))


@pytest.mark.parametrize("ext,text,where", [
    ("toml", '[[cards]]\nid = "a1"\nquestion = "a?"\n\n[[cards]]\nid = " b2 "\nquestion = "b?"\n', "card 2 \\(line 6\\)"),
    ("toml", "[[cards]]\nid = 'b2\t'\nquestion = 'b?'\n", "card 1 \\(line 2\\)"),
    ("csv", 'id,question\na1,a?\n" b2",b?\n', "card 2 \\(line 3\\)")])
def test_an_id_with_white_space_around_it_is_refused_naming_the_card_and_line(tmp_path, ext, text, where):
    # " b2 " was kept as written: a card of its own beside "b2", and for the history
    with pytest.raises(ConfigError, match=f"{where} has id '.?b2.*', with white space around it; write it without: "
                                          "'b2' \\(reviews an earlier version stored under"):
        load_deck(deck_file(tmp_path, text, f"d.{ext}"))


def test_a_toml_deck_looks_for_a_card_line_only_for_the_card_it_refuses(tmp_path, monkeypatch):
    # each card's line was looked for on every load, by a search of the whole file per card: quadratic (an 8000-card
    # deck took 74 s to load instead of 0.2 s); only the refused card's line is needed, for its error
    import magister.people.deck as deck_module

    looked: list[object] = []
    find = deck_module._toml_line
    monkeypatch.setattr(deck_module, "_toml_line", lambda text, card: looked.append(card) or find(text, card))
    cards = "".join(f'[[cards]]\nid = "c{i}"\nquestion = "q{i}?"\n' for i in range(50))
    assert len(load_deck(deck_file(tmp_path, cards)).cards) == 50
    assert looked == []
    with pytest.raises(ConfigError, match=r"card 51 \(line 152\) has id ' c50'"):
        load_deck(deck_file(tmp_path, cards + '[[cards]]\nid = " c50"\nquestion = "q?"\n', "e.toml"))
    assert len(looked) == 1


def test_reviews_stored_under_an_id_with_spaces_are_found_once_the_id_is_written_without(tmp_path):
    db = tmp_path / "db.sqlite"
    old_file(db, [("ana", " b2 "), ("ana", "a1")])  # an earlier version took id = " b2 " as written
    before = all_rows(db)
    deck = load_deck(deck_file(tmp_path, 'title = "Capitals"\n[[cards]]\nid = "a1"\nquestion = "a?"\n[[cards]]\nid = "b2"\n'
                                         'question = "b?"\n'))
    store = StudyStore(db)
    history = store.deck_history(deck, "ana")
    assert [e.item for e in history] == ["b2", "a1"]
    assert all(c.answers == 1 for c in Schedule(deck).replay(history, session_start=float("inf")).cards.values())
    assert all_rows(db) == before


def test_the_fingerprint_is_the_question_and_answers_as_the_deck_gives_them():
    card = Card("card-1", "Capital of France?", ("Paris",))
    assert card.fingerprint == "1929095481f4"  # stored in every history: it must not change between versions
    assert Card("x", "Capital of France?", ("Paris",), "geo").fingerprint == card.fingerprint
    assert len({card.fingerprint, Card("card-1", "Capital of France?", ("paris",)).fingerprint,
                Card("card-1", "Capital of France ?", ("Paris",)).fingerprint,
                Card("card-1", "Capital of France?", ("Paris", "París")).fingerprint,
                Card("card-1", "Capital of France?").fingerprint}) == 5


# --- a numbered card whose text changed --------------------------------------------------------------------------

REMOVED_FIRST = NUMBERED.replace('[[cards]]\nquestion = "Capital of France?"\nanswer = "Paris"\n', "")
INSERTED_FIRST = NUMBERED.replace('[[cards]]\n', '[[cards]]\nquestion = "Capital of Peru?"\nanswer = "Lima"\n'
                                                 '[[cards]]\n', 1)
EDITED = NUMBERED.replace("Capital of Spain?", "Which city is the capital of Spain?")


@pytest.mark.parametrize("edited,message", [
    (REMOVED_FIRST, r"card-1's text changed since its reviews were recorded \(it now asks 'Capital of Spain\?'\) "
                    r"\(also card-2, card-3\)"),
    (INSERTED_FIRST, r"card-1's text changed .*'Capital of Peru\?'\) \(also card-2, card-3\)"),
    (EDITED, r"card-2's text changed .*'Which city is the capital of Spain\?'\):"),
])
def test_a_deck_whose_numbered_cards_changed_is_refused_and_nothing_is_stored(tmp_path, edited, message):
    # removing card 1 moved card 2's reviews onto card 1 (and so on) without a word
    path = deck_file(tmp_path, NUMBERED)
    store = StudyStore(tmp_path / "db.sqlite")
    review_all(store, load_deck(path))
    before = all_rows(tmp_path / "db.sqlite")
    path.write_text(edited, encoding="utf-8")
    changed = load_deck(path)
    with pytest.raises(ConfigError, match=message + r".*Give your cards explicit `id`s: id = \"card-N\" with the N "
                                                    r"each card had when it was reviewed keeps its reviews.*"
                                                    "Nothing was stored"):
        store.deck_history(changed, "ana")
    with pytest.raises(ConfigError, match=message):
        StudyApp([changed], store, learner="ana")
    res = study_cli(tmp_path, path, "--learner", "ana", answers=("Lima", "q"))
    assert res.exit_code == 2 and "explicit `id`s" in res.output and "Q1" not in res.output, res.output
    assert all_rows(tmp_path / "db.sqlite") == before
    assert len(store.deck_history(changed, "bo")) == 0  # another learner's history is not concerned
    path.write_text(NUMBERED, encoding="utf-8")  # undoing the change: the history is all there
    assert len(store.deck_history(load_deck(path), "ana")) == 3


def test_giving_the_cards_their_old_numbers_as_explicit_ids_keeps_their_reviews(tmp_path):
    path = deck_file(tmp_path, NUMBERED)
    store = StudyStore(tmp_path / "db.sqlite")
    review_all(store, load_deck(path))
    path.write_text(REMOVED_FIRST.replace('[[cards]]\nquestion = "Capital of Spain', '[[cards]]\nid = "card-2"\n'
                                          'question = "Capital of Spain')
                    .replace('[[cards]]\nquestion = "Capital of Italy', '[[cards]]\nid = "card-3"\n'
                                                                        'question = "Capital of Italy'))
    deck = load_deck(path)
    history = store.deck_history(deck, "ana")
    s = Schedule(deck).replay(history, session_start=float("inf"))
    assert [c.id for c in deck.cards] == ["card-2", "card-3"] and all(c.answers == 1 for c in s.cards.values())
    # an explicit id's text may be edited: never checked
    path.write_text(path.read_text().replace("Capital of Italy?", "Italy's capital?"))
    assert len(store.deck_history(load_deck(path), "ana")) == 3


def test_only_the_last_cards_reviewed_and_a_card_before_them_removed_is_refused(tmp_path):
    # card-3 alone was reviewed; card 1 removed: card-3's reviews are of the card now numbered card-2
    path = deck_file(tmp_path, NUMBERED)
    store = StudyStore(tmp_path / "db.sqlite")
    last = load_deck(path).cards[2]
    store.add("Capitals", "ana", last.id, last.skill, T0, 3, None, last.fingerprint)
    path.write_text(REMOVED_FIRST)
    with pytest.raises(ConfigError, match="card-3's reviews are of the card now numbered card-2.*explicit"):
        store.deck_history(load_deck(path), "ana")
    path.write_text(NUMBERED.rsplit("[[cards]]", 1)[0])  # the last card removed: its reviews have no card, as before
    assert len(store.deck_history(load_deck(path), "ana")) == 1


def test_reviews_stored_before_fingerprints_are_taken_as_they_are(tmp_path):
    # a file of an earlier version: no fingerprint column; no check is possible, and nothing observed is lost
    path = deck_file(tmp_path, NUMBERED)
    db = tmp_path / "db.sqlite"
    with sqlite3.connect(db) as c:
        c.executescript("CREATE TABLE reviews (id INTEGER PRIMARY KEY AUTOINCREMENT, deck TEXT NOT NULL, learner TEXT "
                        "NOT NULL, card TEXT NOT NULL, skill TEXT NOT NULL, time REAL NOT NULL, grade INTEGER NOT NULL "
                        "CHECK (grade BETWEEN 1 AND 4), duration REAL);")
        c.executemany("INSERT INTO reviews (deck, learner, card, skill, time, grade, duration) VALUES "
                      "('Capitals', 'ana', ?, ?, ?, 3, 2.0)", [(f"card-{n}", f"card-{n}", T0 + n) for n in (1, 2, 3)])
    old = all_rows(db)
    path.write_text(REMOVED_FIRST)  # changed since: cannot be told from the history
    store = StudyStore(db)
    deck = load_deck(path)
    assert [e.item for e in store.deck_history(deck, "ana")] == ["card-1", "card-2", "card-3"]
    assert all_rows(db) == old  # opening and reading add nothing (a read-only file stays readable)
    app = StudyApp([deck], store, learner="ana", clock_offset=T0 + 60 - time.time())
    shown = app.state(0)
    assert shown["stored"] == 3
    assert app.answer(0, shown["card"]["id"], grade=3)[0] == 200
    rows = all_rows(db)
    assert [r[:8] for r in rows[:3]] == old and [r[8] for r in rows[:3]] == [None] * 3  # kept as they were
    card = deck.card(shown["card"]["id"])
    assert rows[3][3] == card.id and rows[3][8] == card.fingerprint
    assert len(StudyStore(db).deck_history(deck, "ana")) == 4
    path.write_text(NUMBERED)  # from now on, a change is seen
    with pytest.raises(ConfigError, match=f"{card.id}'s text changed"):
        StudyStore(db).deck_history(load_deck(path), "ana")


def test_the_terminal_and_the_page_store_the_fingerprint_and_the_page_refuses_a_changed_history(tmp_path):
    path = deck_file(tmp_path, NUMBERED)
    res = study_cli(tmp_path, path, "--learner", "ana", answers=("Paris", "q"))
    assert res.exit_code == 0, res.output
    deck = load_deck(path)
    (row,) = all_rows(tmp_path / "db.sqlite")
    assert row[3] == "card-1" and row[8] == deck.cards[0].fingerprint
    store = StudyStore(tmp_path / "db.sqlite")
    app = StudyApp([deck], store, learner="ana", clock_offset=T0 - time.time())
    shown = app.state(0)
    assert app.answer(0, shown["card"]["id"], grade=3)[0] == 200
    assert all_rows(tmp_path / "db.sqlite")[-1][8] == deck.card(shown["card"]["id"]).fingerprint
    # another program (an edited copy of the deck) stores card-3 with another text: the page refuses to go on
    store.add("Capitals", "ana", "card-3", "card-3", T0 + 600, 3, None, "0123456789ab")
    before = all_rows(tmp_path / "db.sqlite")
    with pytest.raises(ConfigError, match="card-3's text changed"):
        app.state(0)
    with pytest.raises(ConfigError, match="card-3's text changed"):
        app.answer(0, "card-2", grade=3)
    assert all_rows(tmp_path / "db.sqlite") == before


# --- titles, card ids and skills in one Unicode form ----------------------------------------------------------------

CAFE = 'title = "Caf\u00e9 words"\n[skills]\n"caf\u00e9" = []\n"th\u00e9" = ["caf\u00e9"]\n' \
       '[[cards]]\nid = "caf\u00e9"\nquestion = "Coffee in French?"\nanswer = "caf\u00e9"\n' \
       '[[cards]]\nid = "th\u00e9"\nquestion = "Tea in French?"\nanswer = "th\u00e9"\nskill = "th\u00e9"\n'


def decomposed(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFD", text)


@pytest.mark.parametrize("stored_in,read_with", [("NFC", "NFD"), ("NFD", "NFC"), ("NFD", "NFD")])
def test_a_deck_saved_again_in_another_unicode_form_keeps_its_history(tmp_path, stored_in, read_with):
    # "café" typed with "é" and with "e" + U+0301 (macOS, some editors) were two titles and two card ids: a deck
    # file saved again decomposed started over ("1 earlier answer", and its card asked as new), its reviews lost
    text = {"NFC": CAFE, "NFD": decomposed(CAFE)}
    assert text["NFC"] != text["NFD"]
    db = tmp_path / "db.sqlite"
    first = load_deck(deck_file(tmp_path, text["NFC"]))
    with sqlite3.connect(db) as c:  # the reviews as an earlier version stored them from the file as it was written
        c.executescript("CREATE TABLE reviews (id INTEGER PRIMARY KEY AUTOINCREMENT, deck TEXT NOT NULL, learner TEXT "
                        "NOT NULL, card TEXT NOT NULL, skill TEXT NOT NULL, time REAL NOT NULL, grade INTEGER NOT NULL "
                        "CHECK (grade BETWEEN 1 AND 4), duration REAL, fingerprint TEXT);")
        form = decomposed if stored_in == "NFD" else str
        c.executemany("INSERT INTO reviews (deck, learner, card, skill, time, grade, duration, fingerprint) VALUES "
                      "(?, 'ana', ?, ?, ?, 3, 2.0, ?)",
                      [(form(first.title), form(card.id), form(card.skill), T0 + 60 * n, card.fingerprint)
                       for n, card in enumerate(first.cards)])
    before = all_rows(db)
    deck = load_deck(deck_file(tmp_path, text[read_with]))
    assert deck.title == "Caf\u00e9 words" and [c.id for c in deck.cards] == ["caf\u00e9", "th\u00e9"]
    assert deck.prerequisites == {"caf\u00e9": [], "th\u00e9": ["caf\u00e9"]}
    store = StudyStore(db)
    history = store.deck_history(deck, "ana")
    assert [e.item for e in history] == ["caf\u00e9", "th\u00e9"]
    schedule = Schedule(deck).replay(history, session_start=float("inf"))
    assert [c.answers for c in schedule.cards.values()] == [1, 1]
    assert all_rows(db) == before  # read, not rewritten
    app = StudyApp([deck], store, learner="ana", clock_offset=T0 + 3600 - time.time())
    assert app.decks_json()[0]["answers"] == 2
    shown = app.state(0)
    assert shown["stored"] == 2 and shown["card"]["kind"] != "new"
    code, out = app.answer(0, decomposed(shown["card"]["id"]), grade=3)  # the id sent in either form is the card
    assert code == 200 and out["card"] == shown["card"]["id"]
    assert all_rows(db)[-1][1] == "Caf\u00e9 words" and all_rows(db)[-1][3] == shown["card"]["id"]  # composed
    assert len(StudyStore(db).deck_history(load_deck(deck_file(tmp_path, text[stored_in], "again.toml")),
                                           "ana")) == 3


def test_two_cards_whose_ids_differ_only_in_unicode_form_are_refused(tmp_path):
    # they were two cards that read as one; the history now takes them as one card
    twins = 'title = "T"\n[[cards]]\nid = "caf\u00e9"\nquestion = "a?"\n[[cards]]\nid = "cafe\u0301"\nquestion = "b?"\n'
    with pytest.raises(ConfigError, match=r"cards 1 and 2 have the ids 'caf\u00e9' and 'cafe\u0301', the same text "
                                          r"written in two Unicode forms .*give them distinct ids"):
        load_deck(deck_file(tmp_path, twins))
    csv_twins = "id,question\ncaf\u00e9,a?\ncafe\u0301,b?\n"
    with pytest.raises(ConfigError, match="cards 1 and 2 have the ids"):
        load_deck(deck_file(tmp_path, csv_twins, "t.csv"))
    with pytest.raises(ConfigError, match="same title 'Caf\u00e9'"):  # and two decks titled so, one history
        load_decks([deck_file(tmp_path, 'title = "Caf\u00e9"\n[[cards]]\nquestion = "a?"\n', "a.toml"),
                    deck_file(tmp_path, 'title = "Cafe\u0301"\n[[cards]]\nquestion = "a?"\n', "b.toml")])


def test_a_numbered_card_saved_again_in_another_unicode_form_keeps_its_history(tmp_path):
    # its fingerprint is of the text as written: the same text decomposed was refused as "card-1's text changed
    # since its reviews were recorded (it now asks 'café?')"
    numbered = 'title = "Words"\n[[cards]]\nquestion = "caf\u00e9?"\nanswer = "coffee"\n' \
               '[[cards]]\nquestion = "tea?"\nanswer = "th\u00e9"\n'
    for first, then in ((numbered, decomposed(numbered)), (decomposed(numbered), numbered)):
        store = StudyStore(tmp_path / f"{len(first)}.sqlite")
        review_all(store, load_deck(deck_file(tmp_path, first)))
        deck = load_deck(deck_file(tmp_path, then))
        assert [e.item for e in store.deck_history(deck, "ana")] == ["card-1", "card-2"]
        assert deck.cards[0].fingerprint != load_deck(deck_file(tmp_path, first)).cards[0].fingerprint
    # another text is still told apart, in either form
    with pytest.raises(ConfigError, match="card-1's text changed"):
        store.deck_history(load_deck(deck_file(tmp_path, decomposed(numbered).replace("?", "!", 1))), "ana")
