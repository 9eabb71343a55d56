"""`magister study`, driven as a person would: answers typed on stdin, two sessions, history in SQLite."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

DECK = Path(__file__).parents[1] / "examples" / "decks" / "fractions.toml"


def study(db: Path, answers: list[str], *extra: str, deck: Path = DECK) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "magister.cli", "study", "--deck", str(deck), "--db", str(db), *extra],
        input="\n".join(answers) + "\n", capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "120", "TERM": "dumb",
             "PYTHONPATH": str(Path(__file__).parents[1] / "src")},  # this tree's magister, installed or not
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


# --- issue 12, item 16: every bad deck is a one-line error, and deck text is shown as written -----------------

def study_here(tmp_path: Path, deck_name: str, content: str | bytes, answers: list[str]):
    """Drive the real `magister study` command in this process (typer's CliRunner)."""
    from typer.testing import CliRunner

    from magister.cli import app

    deck = tmp_path / deck_name
    deck.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return CliRunner().invoke(app, ["study", "--deck", str(deck), "--db", str(tmp_path / "db.sqlite"),
                                    "--now", "2025-01-01T08:00"], input="\n".join(answers) + "\n",
                              env={"COLUMNS": "200", "TERM": "dumb"})


def test_square_brackets_in_deck_text_are_shown_as_written(tmp_path):
    deck = ('title = "Lists [python]"\n[[cards]]\nid = "idx"\nquestion = "What is [1, 2][0]? Close it: [/b] [bold]"\n'
            'answer = "[1]"\nskill = "lists[0]"\n')
    res = study_here(tmp_path, "lists.toml", deck, ["x", "q"])
    assert res.exit_code == 0, (res.output, res.exception)
    assert "Lists [python]" in res.output and "What is [1, 2][0]? Close it: [/b] [bold]" in res.output
    assert "(lists[0], new)" in res.output and "not quite: [1]" in res.output
    assert "lists[0]" in res.output.split("after 1 answers")[1]  # the summary table too


BAD_DECKS = [
    ("noq.csv", "id,prompt,answer\nh8,Half of 8?,4\n", "no 'question' column"),
    ("latin.csv", "id,question,answer\nc1,Caf\u00e9 ou th\u00e9?,caf\u00e9\n".encode("latin-1"), "not UTF-8"),
    ("latin.toml", 'title = "Caf\u00e9"\n[[cards]]\nquestion = "q?"\n'.encode("latin-1"), "not UTF-8"),
    ("quote.csv", 'id,question,answer\na,"What is 1+1?,2\nb,What is 2+2?,4\n', "unterminated quote"),
    ("extra.csv", "id,question,answer\na,What is 1+1?,2,oops\n", "line 2 has 4 fields"),
    ("skills.toml", 'skills = "oops"\n[[cards]]\nquestion = "q?"\n', "skills must be a table"),
    ("cards.toml", 'cards = "oops"\n', "cards must be a list of [[cards]] tables"),
    ("card.toml", 'cards = ["oops"]\n', "card 1 must be a table"),
    ("empty.csv", "", "no cards"),
]


@pytest.mark.parametrize("name,content,needle", BAD_DECKS, ids=[case[0] for case in BAD_DECKS])
def test_a_bad_deck_is_a_one_line_error(tmp_path, name, content, needle):
    res = study_here(tmp_path, name, content, ["q"])
    assert res.exit_code == 2, (res.output, res.exception)
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], res.output


def test_a_csv_with_a_byte_order_mark_keeps_its_ids(tmp_path):
    res = study_here(tmp_path, "bom.csv", "\ufeffid,question,answer\nh8,Half of 8?,4\n", ["4", "q"])
    assert res.exit_code == 0, (res.output, res.exception)
    assert "Half of 8?" in res.output and "right" in res.output
    assert rows(tmp_path / "db.sqlite") == [("me", "h8", "h8", 3)]
