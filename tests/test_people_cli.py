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


def asked(out: str) -> list[str]:
    """The card questions in the order asked."""
    return [line.split("): ", 1)[1] for line in out.splitlines() if line.startswith("Q") and "): " in line]


def study_app(monkeypatch=None, *, any_port: bool = True) -> tuple:
    """``magister study`` as a typer app for CliRunner, and the list of what the page would have been served with
    (``web.serve`` records its options instead of serving, given ``monkeypatch``; ``any_port``: no port is checked)."""
    import typer

    import magister.people.web as web
    from magister.people.cli import command

    served: list = []
    if monkeypatch is not None:
        monkeypatch.setattr(web, "serve", lambda *a, **k: served.append(k))
        if any_port:
            monkeypatch.setattr("magister.webguard.check_can_listen", lambda host, port: None)  # (binds no fixed port)
    app = typer.Typer()
    app.command()(command)
    return app, served


def test_two_sessions_persist_history_and_respect_prerequisites(tmp_path):
    db = tmp_path / "study.sqlite"
    first = study(db, ["4", "10", "q"], "--learner", "ana", "--now", "2025-03-01T09:00")
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "6 cards, 0 earlier answers by ana" in out
    # the halves skill comes first: quarters and adding need it; two right answers are not yet mastery
    assert out.index("half of 8") < out.index("half of 20")
    assert not any("quarter" in q for q in asked(out)) and "right" in out and "mastered: 0/3 skills" in out
    assert rows(db) == [("ana", "half-of-8", "halves", 3), ("ana", "half-of-20", "halves", 3)]

    # a later session: a third right answer in a row masters halves and opens quarters; a missed card
    # comes back after three others (halves cards, the least well recalled first, fill in while it waits)
    second = study(db, ["4", "3", "5", "10", "4", "3", "4", "q"], "--learner", "ana", "--now", "2025-03-01T10:00",
                   "--count", "8")
    assert second.returncode == 0, second.stderr
    out = second.stdout
    assert "2 earlier answers by ana" in out
    assert "not quite: 4" in out and "(quarters, retry): How many quarters make a whole?" in out
    graded = rows(db)
    assert [r[1:] for r in graded[2:]] == [
        ("half-of-8", "halves", 3), ("quarter-of-12", "quarters", 3), ("quarters-in-one", "quarters", 1),
        ("half-of-20", "halves", 3), ("half-of-8", "halves", 3), ("quarter-of-12", "quarters", 3),
        ("quarters-in-one", "quarters", 3)]
    assert "adding" not in [r[2] for r in graded]  # quarters: two right in a row since the miss, not three

    # weeks later every card seen is due, the least well recalled first: the one missed (lowest stability)
    third = study(db, ["4", "q"], "--learner", "ana", "--now", "2025-04-15T09:00", "--count", "1")
    assert third.returncode == 0, third.stderr
    assert "Q1 (quarters, review): How many quarters make a whole?" in third.stdout
    assert "due now: 3 cards (half-of-20, half-of-8, quarter-of-12)" in third.stdout

    # another learner starts from scratch in the same database
    other = study(db, ["q"], "--learner", "bo", "--now", "2025-04-15T09:00")
    assert "0 earlier answers by bo" in other.stdout


# --- issue 15, the study loop: each defect a person met, reproduced (these failed before the new schedule) --------

YES_DECK = """title = "Yes"
[skills]
halves = []
quarters = ["halves"]
adding = ["halves", "quarters"]
""" + "".join(f'[[cards]]\nid = "{s}{k}"\nquestion = "{s} card {k}?"\nanswer = "yes"\nskill = "{s}"\n'
              for s in ("halves", "quarters", "adding") for k in (1, 2))


def test_one_miss_does_not_take_over_the_session_and_the_next_skill_opens_the_same_day(tmp_path):
    deck = tmp_path / "yes.toml"
    deck.write_text(YES_DECK)
    db = tmp_path / "db.sqlite"
    answers = ["yes", "yes", "yes", "no"] + ["yes"] * 16
    res = study(db, answers, "--now", "2025-03-01T09:00", "--count", "20", deck=deck)
    assert res.returncode == 0, res.stderr
    qs = asked(res.stdout)
    assert all(a != b for a, b in zip(qs, qs[1:])), qs  # before: the same card up to four times in a row
    missed = qs[3]
    back = qs.index(missed, 4)
    assert back - 4 >= 3, qs  # the missed card waits for three other answers
    # the skill after the one with the miss opens in the same session (before: a week later)
    assert any(q.startswith("adding") for q in qs), qs
    # the next day: a card missed yesterday is reviewed, and the rest of the session is not that card again
    nxt = study(db, ["yes"] * 6, "--now", "2025-03-02T09:00", "--count", "6", deck=deck)
    qs = asked(nxt.stdout)
    assert all(a != b for a, b in zip(qs, qs[1:])) and len(set(qs)) >= min(3, len(qs)), qs


def test_one_right_answer_per_card_is_not_mastery(tmp_path):
    deck = tmp_path / "yes.toml"
    deck.write_text(YES_DECK)
    res = study(tmp_path / "db.sqlite", ["yes", "yes", "q"], "--now", "2025-03-01T09:00", deck=deck)
    assert res.returncode == 0, res.stderr
    assert "mastered: 0/3 skills" in res.stdout  # before: 1/3, halves mastered on one right answer per card
    assert not any(q.startswith("quarters") for q in asked(res.stdout))


def test_figures_on_screen_mean_what_they_say(tmp_path):
    deck = tmp_path / "yes.toml"
    deck.write_text(YES_DECK)
    res = study(tmp_path / "db.sqlite", ["no", "q"], "--now", "2025-03-01T09:00", deck=deck)
    assert res.returncode == 0, res.stderr
    table = res.stdout.split("after 1 answer")[1]  # before: "after 1 answers"
    assert "100%" not in table  # before: "recall now 100%" right after the failed card
    assert "0%" not in table.replace("100%", "")  # before: unseen skills at 0%
    rows_ = {line.split("│")[1].strip(): line for line in table.splitlines() if line.count("│") > 3}
    assert "learning" in rows_["halves"] and "0/2" in rows_["halves"]
    assert "locked" in rows_["quarters"] and "-" in rows_["quarters"].split("│")[5]
    one = tmp_path / "one.toml"
    one.write_text('title = "One"\n[[cards]]\nquestion = "2+2?"\nanswer = "4"\n')
    res = study(tmp_path / "db.sqlite", ["4", "q"], "--now", "2025-03-01T09:00", deck=one)
    assert "One: 1 card, 0 earlier answers" in res.stdout  # before: "1 cards"
    assert "not started" not in res.stdout and "mastered: 0/1 skill;" in res.stdout


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
    # the card without an answer is self-graded (once greetings is mastered: three right in a row); the grade
    # must be 1-4; the only open card may come back at once
    res = study(db, ["hola", "hola", "7", "2", "q"], "--now", "2025-01-01T08:05", deck=deck)
    assert "(talking, new): Tell the story" in res.stdout
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
    assert "lists[0]" in res.output.split("after 1 answer")[1]  # the summary table too


BAD_DECKS = [
    ("noq.csv", "id,prompt,answer\nh8,Half of 8?,4\n", "no 'question' column"),
    ("latin.csv", "id,question,answer\nc1,Caf\u00e9 ou th\u00e9?,caf\u00e9\n".encode("latin-1"), "not UTF-8"),
    ("latin.toml", 'title = "Caf\u00e9"\n[[cards]]\nquestion = "q?"\n'.encode("latin-1"), "not UTF-8"),
    ("quote.csv", 'id,question,answer\na,"What is 1+1?,2\nb,What is 2+2?,4\n', "unterminated quote"),
    ("extra.csv", "id,question,answer\na,What is 1+1?,2,oops\n", "line 2 has 4 fields"),
    ("quote3.csv", 'id,question,answer\na,q1?,1\nb,"q2?,2\nc,q3?,3\n', "line 3 has an unterminated quote"),
    ("stray.csv", 'id,question,answer\na,q1?,1\nb,"q2?"x,2\n', "line 3 has a malformed value"),
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


def test_a_wall_clock_that_steps_back_during_an_answer_stores_no_negative_duration(tmp_path, monkeypatch):
    # the terminal timed an answer with time.time(): a clock set back while the learner typed (a time server, a
    # time zone fixed by hand) stored a negative duration
    import sqlite3
    import time as _time

    readings = iter(range(1_800_000_000, 0, -100))  # every reading of the wall clock 100 s before the last
    monkeypatch.setattr(_time, "time", lambda: float(next(readings)))
    res = study_here(tmp_path, "d.csv", "id,question,answer\nh8,Half of 8?,4\n", ["4", "q"])
    assert res.exit_code == 0, (res.output, res.exception)
    with sqlite3.connect(tmp_path / "db.sqlite") as db:
        durations = [d for (d,) in db.execute("SELECT duration FROM reviews")]
    assert len(durations) == 1 and 0.0 <= durations[0] < 60.0


def test_a_csv_with_a_byte_order_mark_keeps_its_ids(tmp_path):
    res = study_here(tmp_path, "bom.csv", "\ufeffid,question,answer\nh8,Half of 8?,4\n", ["4", "q"])
    assert res.exit_code == 0, (res.output, res.exception)
    assert "Half of 8?" in res.output and "right" in res.output
    assert rows(tmp_path / "db.sqlite") == [("me", "h8", "h8", 3)]


def test_a_folder_of_decks_asks_which_one(tmp_path):
    res = study(tmp_path / "db.sqlite", ["2", "hola", "q"], "--now", "2025-03-01T09:00", deck=DECK.parent)
    assert res.returncode == 0, res.stderr
    assert "1. Fractions (6 cards)" in res.stdout and "2. Spanish basics (9 cards)" in res.stdout
    assert "Q1 (greetings, new): Hello (Spanish)" in res.stdout and "right" in res.stdout
    assert rows(tmp_path / "db.sqlite") == [("me", "hola", "greetings", 3)]


@pytest.mark.parametrize("args", [["--web", "--count", "5"], ["--port", "9000"], ["--host", "0.0.0.0"],
                                  ["--allow-host", "study.lan"]])
def test_an_option_of_the_other_mode_is_refused_not_ignored(tmp_path, monkeypatch, args):
    # --count caps only the terminal loop and --host / --port only the page: given in the other mode they were
    # silently ignored (a page served with no cap, a terminal session with the port dropped)
    from typer.testing import CliRunner

    app, served = study_app(monkeypatch)
    db = tmp_path / "study.sqlite"
    res = CliRunner().invoke(app, ["--deck", str(DECK), "--db", str(db), *args], input="q\n")
    assert res.exit_code == 2, res.output
    assert args[-2] in res.output and "--web" in res.output
    assert not served and not db.exists()  # refused before anything was opened


@pytest.mark.parametrize("who", ["", "  "])
def test_a_blank_learner_is_refused(tmp_path, who):
    # '' (or spaces) was accepted and kept as a learner of its own
    from typer.testing import CliRunner

    app, _ = study_app()
    db = tmp_path / "study.sqlite"
    res = CliRunner().invoke(app, ["--deck", str(DECK), "--db", str(db), "--learner", who], input="q\n")
    assert res.exit_code == 2 and "--learner must name someone" in res.output, res.output
    assert not db.exists()


@pytest.mark.parametrize("value, shown", [("nan", "nan"), ("inf", "inf"), ("-inf", "-inf"), ("0.3", "0.3"),
                                          ("1", "1.0"), ("x", "'x'"), ("", "''")])
def test_a_retention_out_of_range_or_nan_is_refused_naming_the_range(tmp_path, monkeypatch, value, shown):
    # --retention nan was refused as "Input should be less than or equal to 0.99", as if it were a number too large
    from typer.testing import CliRunner

    app, served = study_app(monkeypatch)
    db = tmp_path / "s.sqlite"
    res = CliRunner().invoke(app, ["--deck", str(DECK), "--db", str(db), "--web", "--retention", value])
    assert res.exit_code == 2 and not served and not db.exists(), res.output
    assert f"must be a number in [0.5, 0.99], got {shown}" in " ".join(res.output.replace("│", " ").split())
    for given, taken in (([], 0.9), (["--retention", "0.5"], 0.5), (["--retention", "0.99"], 0.99)):
        res = CliRunner().invoke(app, ["--deck", str(DECK), "--db", str(db), "--web", *given])
        assert res.exit_code == 0 and served[-1]["retention"] == taken and type(served[-1]["retention"]) is float


@pytest.mark.parametrize("args, needle", [
    (["--deck", "", "--db", "s.sqlite"], "Invalid value for '--deck': '' is empty; give a deck file or a folder of decks"),
    (["--deck", " ", "--db", "s.sqlite"], "Invalid value for '--deck': ' ' is blank"),
    (["--deck", str(DECK), "--db", ""], "Invalid value for '--db': '' is empty; give the study history's SQLite file, "
                                        "or drop --db for the default ~/.magister/study.sqlite"),
    (["--deck", str(DECK), "--db=~/s.sqlite"], "Invalid value for '--db': '~/s.sqlite' starts with '~', which was not "
                                               "expanded to a home folder"),
    (["--deck", "~/d.toml", "--db", "s.sqlite"], "Invalid value for '--deck': '~/d.toml' starts with '~'")])
def test_an_empty_or_unexpanded_path_is_refused_before_anything_is_opened(tmp_path, monkeypatch, args, needle):
    # --deck "" (an unset shell variable) was the current folder: it studied the decks there; --db "" was refused
    # naming "." as the database; --db=~/s.sqlite made a folder named '~' in the current folder and stored there
    from typer.testing import CliRunner

    monkeypatch.chdir(tmp_path)
    (tmp_path / "here.toml").write_text(DECK.read_text())  # a deck in the current folder
    app, _ = study_app()
    res = CliRunner().invoke(app, args, input="q\n")
    assert res.exit_code == 2, res.output
    assert needle in " ".join(res.output.replace("│", " ").split())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here.toml"]  # no database, no folder named '~'
    res = CliRunner().invoke(app, ["--deck", ".", "--db", "./s.sqlite"], input="q\n")  # the current folder, named
    assert res.exit_code == 0 and "Fractions" in res.output and (tmp_path / "s.sqlite").exists(), res.output


def test_web_options_still_reach_the_page(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    app, served = study_app(monkeypatch)
    res = CliRunner().invoke(app, ["--deck", str(DECK), "--db", str(tmp_path / "s.sqlite"), "--web", "--port", "9000",
                                   "--allow-host", "study.lan"])
    assert res.exit_code == 0, res.output
    assert served[0]["port"] == 9000 and served[0]["allow_hosts"] == ["study.lan"]
    db = tmp_path / "t.sqlite"  # a name with a port is refused before anything is opened
    res = CliRunner().invoke(app, ["--deck", str(DECK), "--db", str(db), "--web", "--allow-host", "localhost:8765"])
    assert res.exit_code == 2 and "without a port" in res.output and len(served) == 1 and not db.exists(), res.output


def test_web_on_a_port_in_use_is_a_one_line_error_naming_port(tmp_path, monkeypatch):
    # it printed the page's address, then uvicorn's "ERROR: ... address already in use" and exit 3
    import socket

    from typer.testing import CliRunner

    app, served = study_app(monkeypatch, any_port=False)
    db = tmp_path / "s.sqlite"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = CliRunner().invoke(app, ["--deck", str(DECK), "--db", str(db), "--web", "--port", str(port)])
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit), res.output
    assert f"port {port} on 127.0.0.1 is in use" in res.output and "choose another --port" in res.output
    assert served == [] and not db.exists()
    res = CliRunner().invoke(app, ["--deck", str(DECK), "--db", str(db), "--web", "--host", "256.0.0.1"])
    assert res.exit_code == 2 and "--host '256.0.0.1' is not an address" in res.output, res.output
    assert served == [] and not db.exists()


@pytest.mark.parametrize("missing", ["fastapi", "uvicorn"])
def test_web_without_the_serve_extra_says_how_to_install_it(tmp_path, monkeypatch, missing):
    # `pip install magister` has neither: --web was a ModuleNotFoundError traceback, after opening the database
    from typer.testing import CliRunner

    monkeypatch.setitem(sys.modules, missing, None)
    app, _ = study_app()
    db = tmp_path / "s.sqlite"
    res = CliRunner().invoke(app, ["--deck", str(DECK), "--db", str(db), "--web"])
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit), res.output
    assert "needs the [serve] extra" in res.output and "pip install 'magister[serve]'" in res.output
    assert not db.exists()


def test_a_toml_deck_loads_without_tomllib(monkeypatch):
    # Python 3.10 (supported) has no tomllib: every .toml deck, the README's included, failed with a traceback
    try:
        import tomllib as parser
    except ImportError:  # running on Python 3.10 itself
        import tomli as parser

    from magister.people.deck import load_decks

    monkeypatch.setitem(sys.modules, "tomllib", None)
    monkeypatch.setitem(sys.modules, "tomli", parser)  # what Python 3.10 installs (same API)
    deck, = load_decks([DECK])
    assert deck.cards and deck.title


def test_a_db_path_under_a_file_or_a_damaged_db_is_a_one_line_error(tmp_path):
    # --db under a file was a FileExistsError traceback; a damaged database opened, then failed with a
    # sqlite3.DatabaseError traceback when the history was read
    (tmp_path / "afile").write_text("x")
    res = study(tmp_path / "afile" / "db.sqlite", ["q"])
    assert res.returncode == 2 and "cannot make its folder" in res.stdout and "Traceback" not in res.stderr
    db = tmp_path / "db.sqlite"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE reviews (id INTEGER PRIMARY KEY, deck TEXT, learner TEXT, card TEXT, skill TEXT, "
                  "time REAL, grade INTEGER, duration REAL)")
        c.executemany("INSERT INTO reviews VALUES (NULL, 'Fractions', 'me', 'half-of-8', 'halves', ?, 3, NULL)",
                      [(1.7e9 + i,) for i in range(2000)])
    raw = bytearray(db.read_bytes())
    raw[3 * 4096:4 * 4096] = b"\xab" * 4096  # a damaged page of the table
    db.write_bytes(bytes(raw))
    res = study(db, ["q"])
    assert res.returncode == 2 and "not a usable study database" in res.stdout and "Traceback" not in res.stderr
