"""`magister study`, driven as a person would: answers typed on stdin, two sessions, history in SQLite."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

DECK = Path(__file__).parents[1] / "examples" / "decks" / "fractions.toml"


def study(db: Path, answers: list[str], *extra: str, deck: Path = DECK) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "magister.cli", "study", "--deck", str(deck), "--db", str(db), *extra],
        input="\n".join(answers) + "\n", capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "120", "TERM": "dumb"},
    )


def rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT learner, card, skill, grade FROM reviews ORDER BY id").fetchall()


def test_two_sessions_persist_history_and_respect_prerequisites(tmp_path):
    db = tmp_path / "study.sqlite"
    first = study(db, ["4", "10", "q"], "--learner", "ana", "--now", "2025-03-01T09:00")
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "0 earlier answers by ana" in out
    # the halves skill comes first: quarters and adding need it
    assert out.index("half of 8") < out.index("half of 20") < out.index("quarter of 12")
    assert "right" in out and "mastered: 1/3 skills" in out
    assert rows(db) == [("ana", "half-of-8", "halves", 3), ("ana", "half-of-20", "halves", 3)]

    # a later session: a wrong answer is shown, and the missed card comes back before the session ends
    second = study(db, ["3", "5", "4", "q"], "--learner", "ana", "--now", "2025-03-01T10:00", "--count", "5")
    assert second.returncode == 0, second.stderr
    out = second.stdout
    assert "2 earlier answers by ana" in out
    assert "not quite: 4" in out and "(quarters, again): How many quarters make a whole?" in out
    graded = rows(db)
    assert len(graded) == 5
    assert [r[1:] for r in graded[2:]] == [("quarter-of-12", "quarters", 3), ("quarters-in-one", "quarters", 1),
                                           ("quarters-in-one", "quarters", 3)]
    # adding needs quarters mastered; a card just missed is not recalled well enough a day later
    assert "adding" not in [r[2] for r in graded]

    # weeks later every card seen is due; the one missed (lowest stability, so lowest recall) comes first
    third = study(db, ["4", "q"], "--learner", "ana", "--now", "2025-04-15T09:00", "--count", "1")
    assert third.returncode == 0, third.stderr
    assert "Q1 (quarters, review): How many quarters make a whole?" in third.stdout
    assert "due now: 3 cards (half-of-8, half-of-20, quarter-of-12)" in third.stdout

    # another learner starts from scratch in the same database
    other = study(db, ["q"], "--learner", "bo", "--now", "2025-04-15T09:00")
    assert "0 earlier answers by bo" in other.stdout


def test_bad_deck_is_refused_with_a_clear_message(tmp_path):
    deck = tmp_path / "bad.toml"
    deck.write_text('title = "x"\n[skills]\na = ["b"]\nb = ["a"]\n[[cards]]\nquestion = "q?"\nskill = "a"\n')
    res = study(tmp_path / "db.sqlite", ["q"], deck=deck)
    assert res.returncode == 2 and "cycle" in res.stdout


def test_self_grades_and_empty_answers(tmp_path):
    deck = tmp_path / "words.csv"
    deck.write_text("id,question,answer,skill,requires\n"
                    "hola,Say hello in Spanish,hola,greetings,\n"
                    "story,Tell the story of your day in Spanish,,talking,greetings\n")
    db = tmp_path / "db.sqlite"
    res = study(db, ["", "4", "q"], "--now", "2025-01-01T08:00", deck=deck)
    assert res.returncode == 0, res.stderr
    assert "answer: hola" in res.stdout and "how well did you know it" in res.stdout
    assert rows(db) == [("me", "hola", "greetings", 4)]
    # the card without an answer is self-graded; the grade must be 1-4
    res = study(db, ["7", "2", "q"], "--now", "2025-01-01T08:05", deck=deck)
    assert "Please select one of the available options" in res.stdout
    assert rows(db)[-1] == ("me", "story", "talking", 2)
