"""`magister study --web` in headless Chromium, keyboard only: right and wrong answers, self-grades, a reload
mid-session, a phone-sized screen; the SQLite rows are exactly the answers given."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("playwright")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

ROOT = Path(__file__).parents[1]
DECKS = ROOT / "examples" / "decks"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = os.environ.get("MAGISTER_STUDY_SCREENSHOTS")  # a folder: save the screenshots for the docs there

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason=f"{CHROMIUM} not found (make system-deps installs Debian's chromium)")


FITS = "(t => t.scrollWidth <= t.clientWidth)(document.querySelector('.table'))"  # the progress table needs no scroll


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def server(tmp_path):
    db = tmp_path / "study.sqlite"
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "magister.cli", "study", "--web", "--deck", str(DECKS), "--db", str(db),
         "--learner", "ana", "--port", str(port), "--now", "2025-03-01T09:00"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if proc.poll() is not None:
                raise AssertionError(f"the study page did not start: {proc.stdout.read()}")
            try:
                if httpx.get(url + "/api/decks", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise AssertionError("the study page did not answer within 60 s")
        yield url, db
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT deck, learner, card, grade FROM reviews ORDER BY id").fetchall()


def accepted() -> dict[str, tuple[str, ...]]:
    from magister.people.deck import load_deck

    return {c.question: c.answers for c in load_deck(DECKS / "spanish.toml").cards}


def wait_mode(page, mode: str) -> None:
    page.wait_for_function(f"document.body.dataset.mode === '{mode}'", timeout=20000)


def current(page) -> tuple[str, str, str]:
    """(card id, kind, question) on screen."""
    return (page.get_attribute("#card", "data-card"), page.inner_text("#kind"), page.inner_text("#question"))


def test_keyboard_only_session_with_a_reload_loses_nothing(server, browser):
    url, db = server
    answers = accepted()
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/")
    page.wait_for_function("document.querySelectorAll('#deck option').length === 2", timeout=20000)
    wait_mode(page, "ask")
    assert page.inner_text("#question") == "What is half of 8?"  # the first deck, Fractions
    # the deck picker by keyboard: focus it, move to the second deck
    page.focus("#deck")
    page.keyboard.press("ArrowDown")
    page.wait_for_function("location.hash === '#deck=1'", timeout=20000)
    page.wait_for_function("document.querySelector('#question').textContent === 'Hello (Spanish)'", timeout=20000)
    wait_mode(page, "ask")
    given: list[tuple[str, int]] = []  # (card, grade) in the order given

    def type_answer(text: str) -> None:
        page.keyboard.type(text)
        page.keyboard.press("Enter")
        wait_mode(page, "feedback")
        page.keyboard.press("Enter")

    # right, then wrong: the verdict names the accepted answer
    card, kind, question = current(page)
    assert (card, kind) == ("hola", "new") and page.evaluate("document.activeElement.id") == "typed"
    page.keyboard.type("Hola")
    page.keyboard.press("Enter")
    wait_mode(page, "feedback")
    assert page.inner_text("#verdict") == "Right."
    given.append((card, 3))
    page.keyboard.press("Enter")
    wait_mode(page, "ask")
    missed, _, missed_question = current(page)
    # the state the page holds before the learner answers has no answer to read in the browser's tools
    assert "answer" not in page.evaluate("state.card") and page.evaluate("state.card.typed") is True
    page.keyboard.type("no idea")
    page.keyboard.press("Enter")
    wait_mode(page, "feedback")
    assert page.inner_text("#verdict").startswith(f"Not quite: {answers[missed_question][0]} (")  # the correction
    page.keyboard.press("Enter")
    given.append((missed, 1))
    wait_mode(page, "ask")
    assert current(page)[0] != missed  # not the same card again at once
    # one more right answer, then a self-grade: an empty answer shows the accepted one, key 2 grades it "hard"
    card, _, question = current(page)
    type_answer(answers[question][0])
    given.append((card, 3))
    wait_mode(page, "ask")
    card, _, question = current(page)
    page.keyboard.press("Enter")
    wait_mode(page, "grade")
    assert page.inner_text("#shown-answer") == answers[question][0]
    page.keyboard.press("2")
    given.append((card, 2))
    wait_mode(page, "ask")
    assert "Saved: grade 2" in page.inner_text("#status")
    assert "This session: 4 answers, 3 right" in page.inner_text("#summary")
    assert page.evaluate(FITS)
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / "study-page.png"), full_page=True)

    # reload mid-session: the same card, the same session, nothing lost, nothing counted twice
    before = current(page)
    page.reload()
    wait_mode(page, "ask")
    assert current(page) == before
    assert "This session: 4 answers, 3 right" in page.inner_text("#summary")
    assert [r[2:] for r in rows(db)] == given

    # keep answering right (self-grading "good" the cards without an answer) until the missed card has come
    # back as a retry and a card that has no typed answer has been graded
    seen_retry = seen_self = False
    for _ in range(40):
        mode = page.evaluate("document.body.dataset.mode")
        if mode == "done" or (seen_retry and seen_self):
            break
        card, kind, question = current(page)
        if card == missed:
            assert kind == "retry"
            seen_retry = True
        if mode == "reveal":
            page.keyboard.press("Enter")
            wait_mode(page, "grade")
            page.keyboard.press("3")
            given.append((card, 3))
            seen_self = True
        else:
            type_answer(answers[question][0])
            given.append((card, 3))
        page.wait_for_function(f"document.body.dataset.mode !== 'loading' && "
                               f"document.querySelector('#card').dataset.card !== '{card}'", timeout=20000)
    assert seen_retry and seen_self
    cards = [c for c, _ in given]
    assert all(a != b for a, b in zip(cards, cards[1:])), cards
    back = cards.index(missed, 2)
    assert back - 1 - 1 >= 3, cards  # the miss (index 1) waited for three other answers
    stored = rows(db)
    assert [r[2:] for r in stored] == given and {r[:2] for r in stored} == {("Spanish basics", "ana")}
    # the terminal loop reads the same history: its first line counts these answers
    out = subprocess.run([sys.executable, "-m", "magister.cli", "study", "--deck", str(DECKS / "spanish.toml"),
                          "--db", str(db), "--learner", "ana", "--now", "2025-03-01T12:00"], input="q\n",
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "120"})
    assert f"{len(given)} earlier answers by ana" in out.stdout, out.stdout
    assert not errors, errors
    page.close()


def test_a_phone_sized_screen_fits_and_a_stale_answer_is_refused(server, browser):
    url, db = server
    page = browser.new_page(viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True,
                            has_touch=True)
    page.goto(url + "/#deck=1")
    wait_mode(page, "ask")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth") and page.evaluate(FITS)
    for sel in ("#question", "#typed", "#check", "#skills"):
        box = page.locator(sel).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 375 + 0.5, (sel, box)
    page.keyboard.type("hola")
    page.keyboard.press("Enter")
    wait_mode(page, "feedback")
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / "study-page-phone.png"), full_page=True)
    # the same answer sent again (a second tab, a double submit) is refused and changes nothing
    r = httpx.post(url + "/api/answer", json={"deck": 1, "card": "hola", "typed": "hola"}, timeout=30)
    assert r.status_code == 409 and r.json()["state"]["card"]["id"] != "hola"
    bad = httpx.post(url + "/api/answer", json={"deck": 1, "card": r.json()["state"]["card"]["id"], "grade": 7},
                     timeout=30)
    assert bad.status_code == 400 and "grade must be 1-4" in bad.text
    assert [r[2:] for r in rows(db)] == [("hola", 3)]
    page.close()


def test_a_grade_given_while_the_deck_switches_goes_to_the_card_on_screen(server, browser):
    # the page sent the deck just selected with the card still on screen (of the deck before): a grade given
    # before the new deck had loaded went to the wrong deck, or was refused and lost
    url, db = server
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    page.goto(url + "/#deck=1")
    wait_mode(page, "ask")
    assert current(page)[0] == "hola"
    page.keyboard.press("Enter")  # nothing typed: show the answer, then grade it
    wait_mode(page, "grade")
    page.evaluate("""() => {
        const sel = document.getElementById('deck');
        sel.value = '0';
        sel.dispatchEvent(new Event('change'));  // the new deck starts loading...
        send({grade: 3});                         // ...and the grade of the card on screen is sent at once
    }""")
    page.wait_for_function("document.querySelector('#question').textContent === 'What is half of 8?'",
                           timeout=20000)
    page.wait_for_function("pending === null", timeout=20000)  # the answer's reply has been handled
    assert page.inner_text("#question") == "What is half of 8?"  # the deck picked stays on screen
    stored = rows(db)
    assert [r[2:] for r in stored] == [("hola", 3)], stored
    spanish = httpx.get(url + "/api/state?deck=1", timeout=30).json()
    assert stored[0][0] in (1, spanish["title"]) and spanish["stored"] == 1
    page.close()
