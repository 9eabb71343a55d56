"""The study schedule (magister.people.study): retries, reviews, practice and new cards, mastery on evidence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from magister.errors import ConfigError
from magister.people.deck import Card, Deck, load_deck, load_decks
from magister.people.events import DAY, Event
from magister.people.study import Pick, Schedule, plural

DECKS = Path(__file__).parents[1] / "examples" / "decks"
T0 = 1_740_000_000.0


def fractions() -> Deck:
    return load_deck(DECKS / "fractions.toml")


def spanish() -> Deck:
    return load_deck(DECKS / "spanish.toml")


def run(schedule: Schedule, grades, t: float = T0, step: float = 30.0) -> list[tuple[str, str, int]]:
    """Answer the schedule's picks with ``grades`` (a list, or a function of the card id); returns the picks."""
    out = []
    for n in range(len(grades) if isinstance(grades, list) else 10**6):
        pick = schedule.next(t)
        if pick is None:
            break
        g = grades[n] if isinstance(grades, list) else grades(pick.card)
        if g is None:
            break
        schedule.record(pick.card, g, t)
        out.append((pick.card, pick.kind, g))
        t += step
    return out


def test_plural():
    assert plural(1, "card") == "1 card" and plural(0, "card") == "0 cards" and plural(2, "answer") == "2 answers"


def test_new_cards_in_syllabus_order_and_locked_skills_wait():
    s = Schedule(fractions())
    s.start_session(T0)
    picks = run(s, [3, 3])
    assert [p[:2] for p in picks] == [("half-of-8", "new"), ("half-of-20", "new")]
    assert s.skills(T0)[1].status == "locked" and s.skills(T0)[1].needs == ["halves"]
    # nothing of quarters before halves is mastered: the next card is halves practice
    assert s.next(T0 + 60).card == "half-of-8" and s.next(T0 + 60).kind == "practice"


def test_mastery_needs_a_streak_and_every_card_right():
    s = Schedule(fractions(), streak=3)
    s.start_session(T0)
    s.record("half-of-8", 3, T0)
    s.record("half-of-20", 3, T0 + 10)
    assert not s.mastered("halves")  # every card right once, but only two in a row
    s.record("half-of-8", 3, T0 + 20)
    assert s.mastered("halves") and s.is_open("quarters")
    s.record("half-of-20", 1, T0 + 30)  # a miss takes mastery back until the streak is rebuilt
    assert not s.mastered("halves") and not s.is_open("quarters")
    for k, c in enumerate(["half-of-8", "half-of-20", "half-of-8"]):
        s.record(c, 2, T0 + 40 + k)  # "hard" is still right
    assert s.mastered("halves")
    # three in a row on one card is not enough when the skill has another card never answered right
    t = Schedule(fractions(), streak=3)
    t.start_session(T0)
    for k in range(4):
        t.record("half-of-8", 3, T0 + k)
    assert not t.mastered("halves")


def test_a_missed_card_comes_back_after_three_others_never_twice_in_a_row():
    s = Schedule(spanish(), retry_after=3)
    s.start_session(T0)
    missed = set()

    def grade(card):
        if card not in missed:  # every card missed the first time it is asked
            missed.add(card)
            return 1
        return 3

    picks = run(s, grade)
    cards = [p[0] for p in picks]
    assert all(a != b for a, b in zip(cards, cards[1:])), cards
    for i, (card, _kind, g) in enumerate(picks):
        if g == 1 and card in cards[i + 1:]:
            back = cards.index(card, i + 1)
            assert back - i - 1 >= 3, (card, cards)
            assert picks[back][1] == "retry"
    assert s.next(T0 + 3600) is None and all(st.status == "mastered" for st in s.skills(T0))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_learners_never_see_a_card_twice_in_a_row_and_reach_mastery(seed):
    rng = np.random.default_rng(seed)
    deck = spanish()
    p_right = {c.id: float(rng.uniform(0.5, 0.95)) for c in deck.cards}
    s = Schedule(deck)
    t = T0
    for day in range(6):
        s.start_session(t)
        picks = run(s, [3 if rng.random() < p_right[c.id] else 1 for c in deck.cards for _ in range(4)], t=t)
        cards = [p[0] for p in picks]
        assert all(a != b for a, b in zip(cards, cards[1:])), (day, cards)
        # no starvation: a card missed in the session is asked again before the session ends
        for i, (card, _kind, g) in enumerate(picks[:-6]):
            assert g > 1 or card in cards[i + 1:], (card, cards)
        t += DAY
    assert sum(st.status == "mastered" for st in s.skills(t)) >= 3


def test_reviews_and_new_material_take_turns():
    deck = spanish()
    s = Schedule(deck)
    s.start_session(T0)
    # day 1: greetings learned (with misses, so they are due tomorrow), nothing else started
    for k, (c, g) in enumerate([("hola", 1), ("adios", 1), ("gracias", 1), ("hola", 3), ("adios", 3),
                                ("gracias", 3)]):
        s.record(c, g, T0 + 60 * k)
    s.start_session(T0 + 3 * DAY)
    due = s.due(T0 + 3 * DAY)
    assert set(due) == {"hola", "adios", "gracias"}
    picks = run(s, [3] * 6, t=T0 + 3 * DAY)
    kinds = [p[1] for p in picks]
    learn = [k if k == "review" else "learn" for k in kinds]  # learning: practice or new cards
    assert learn == ["review", "learn"] * 3 and kinds[1] == "new", picks
    assert s.due(T0 + 3 * DAY + 600) == []  # each due card reviewed once in the session


def test_history_replay_gives_the_same_next_card():
    """The web page rebuilds from the store on reload: same history and session start, same next card."""
    deck = spanish()
    rng = np.random.default_rng(5)
    live = Schedule(deck)
    live.start_session(T0)
    events, t = [], T0
    for _ in range(25):
        pick = live.next(t)
        g = int(rng.integers(1, 5))
        live.record(pick.card, g, t)
        events.append(Event("me", pick.card, (deck.card(pick.card).skill,), t, g))
        t += 20
        rebuilt = Schedule(deck).replay(events, session_start=T0)
        assert rebuilt.next(t) == live.next(t)
        assert [x.to_json() for x in rebuilt.skills(t)] == [x.to_json() for x in live.skills(t)]


def test_figures_say_what_they_mean():
    s = Schedule(fractions())
    s.start_session(T0)
    st = {x.skill: x for x in s.skills(T0)}
    assert st["halves"].status == "not started" and st["halves"].recall_in_a_day is None
    assert st["quarters"].status == "locked" and st["quarters"].recall_in_a_day is None
    s.record("half-of-8", 1, T0)
    failed = s.skills(T0)[0]
    assert failed.status == "learning" and failed.seen == 1 and failed.right == 0 and failed.streak == 0
    ok = Schedule(fractions())
    ok.start_session(T0)
    ok.record("half-of-8", 3, T0)
    # after a miss the predicted recall is below the desired retention; after a right answer above it
    assert failed.recall_in_a_day < 0.9 < ok.skills(T0)[0].recall_in_a_day


def test_a_one_card_deck_may_repeat_its_card_and_ends_when_mastered():
    deck = Deck("one", [Card("c", "2+2?", ("4",), "sums")])
    s = Schedule(deck)
    s.start_session(T0)
    picks = run(s, [1, 3, 3, 3, 3])
    assert [p[0] for p in picks] == ["c"] * 4 and s.mastered("sums") and s.next(T0 + 999) is None


def test_skills_without_cards_do_not_block():
    deck = Deck("x", [Card("a1", "a?", ("a",), "a"), Card("b1", "b?", ("b",), "b")],
                prerequisites={"theory": [], "a": [], "b": ["theory"]})
    s = Schedule(deck)
    s.start_session(T0)
    assert {p[0] for p in run(s, [3, 3])} == {"a1", "b1"}
    assert s.skills(T0)[0].status == "no cards"


def test_bad_settings_and_answers_are_refused():
    with pytest.raises(ConfigError, match="retention"):
        Schedule(fractions(), retention=1.0)
    with pytest.raises(ConfigError, match="retry_after"):
        Schedule(fractions(), retry_after=0)
    s = Schedule(fractions())
    with pytest.raises(ConfigError, match="no card"):
        s.record("nope", 3, T0)
    with pytest.raises(ConfigError, match="grade"):
        s.record("half-of-8", 5, T0)
    assert s.cards["half-of-8"].answers == 0


def test_load_decks_from_a_folder_and_refuses_twin_titles(tmp_path):
    assert [d.title for d in load_decks([DECKS])] == ["Fractions", "Spanish basics"]
    (tmp_path / "a.toml").write_text('title = "T"\n[[cards]]\nquestion = "q?"\n')
    (tmp_path / "b.toml").write_text('title = "T"\n[[cards]]\nquestion = "r?"\n')
    with pytest.raises(ConfigError, match="same title"):
        load_decks([tmp_path])
    with pytest.raises(ConfigError, match="no .toml or .csv"):
        load_decks([tmp_path / "empty"] if (tmp_path / "empty").mkdir() is None else [])


def test_the_page_state_rebuilds_from_the_store_and_an_idle_hour_starts_a_new_session(tmp_path):
    """StudyApp (behind `magister study --web`, no server needed): answers go to the store first, a second app
    on the same store (a restart) asks the same card, a stale answer is refused, a day later reviews are due."""
    from magister.people.store import StudyStore
    from magister.people.web import StudyApp

    store = StudyStore(tmp_path / "db.sqlite")
    app = StudyApp([fractions(), spanish()], store, learner="ana", clock_offset=T0 - __import__("time").time())
    first = app.state(1)
    assert first["card"]["id"] == "hola" and first["card"]["kind"] == "new" and first["stored"] == 0
    code, out = app.answer(1, "hola", typed=" HOLA ")
    assert code == 200 and out["right"] and out["grade"] == 3
    code, out = app.answer(1, out["state"]["card"]["id"], typed="wrong")
    assert code == 200 and not out["right"] and out["answer"] == "adiós"
    assert app.answer(1, "hola", typed="hola")[0] == 409  # not the card being asked: nothing stored
    with pytest.raises(ConfigError, match="grade must be 1-4"):
        app.answer(1, out["state"]["card"]["id"], grade=9)
    # a grade of 2.7 was stored as 2, True as 1; an infinite duration was stored and NaN became 0
    for bad in ({"grade": 2.7}, {"grade": True}, {"grade": "x"}, {"grade": None},
                {"grade": 3, "duration": float("inf")}, {"grade": 3, "duration": float("nan")}):
        with pytest.raises(ConfigError, match="grade|duration"):
            app.answer(1, out["state"]["card"]["id"], **bad)
    assert len(store.history("Spanish basics", "ana")) == 2
    with pytest.raises(ConfigError, match="no deck 5"):
        app.state(5)
    assert [e.item for e in store.history("Spanish basics", "ana")] == ["hola", "adios"]
    again = StudyApp([fractions(), spanish()], store, learner="ana", clock_offset=app.offset)
    resumed = again.state(1)  # a restarted server resumes the session: same card, same answers counted
    assert resumed["card"] == app.state(1)["card"] and resumed["stored"] == 2
    assert resumed["session"] == {"answers": 2, "right": 1}
    app.offset += 2 * DAY  # two days later: a new session, the card missed is due for review
    later = app.state(1)
    assert later["session"]["answers"] == 0 and "adios" in later["due"]
    assert later["card"]["kind"] == "review" and later["card"]["id"] == later["due"][0]


def test_the_page_takes_in_answers_stored_meanwhile_by_the_terminal(tmp_path):
    """The page kept its schedule from the first request: an answer given in the terminal (same database)
    meanwhile was missed, so the page asked the card already answered there, until a restart."""
    from magister.people.store import StudyStore
    from magister.people.web import StudyApp

    store = StudyStore(tmp_path / "db.sqlite")
    app = StudyApp([spanish()], store, learner="ana", clock_offset=T0 - __import__("time").time())
    asked = app.state(0)["card"]
    assert asked["id"] == "hola"
    store.add("Spanish basics", "ana", "hola", asked["skill"], app.now(), 3, 5.0)  # what the terminal writes
    now = app.state(0)
    assert now["card"]["id"] != "hola" and now["stored"] == 1 and now["session"] == {"answers": 1, "right": 1}
    restarted = StudyApp([spanish()], store, learner="ana", clock_offset=app.offset).state(0)
    assert now["card"] == restarted["card"] and now["session"] == restarted["session"]
    assert app.answer(0, "hola", typed="hola")[0] == 409 and len(store.history("Spanish basics", "ana")) == 1


def test_a_resent_answer_is_refused_even_when_the_same_card_comes_next(tmp_path):
    """One card left, answered wrong: it is asked again, so a second tab's (or a resent) answer to it was
    stored as a second answer; with the count of stored answers it was shown, it is refused."""
    from magister.people.store import StudyStore
    from magister.people.web import StudyApp

    store = StudyStore(tmp_path / "db.sqlite")
    deck = Deck("One", [Card("c1", "2+2?", ("4",), "sums")])
    app = StudyApp([deck], store, learner="ana", clock_offset=T0 - __import__("time").time())
    shown = app.state(0)
    code, out = app.answer(0, "c1", typed="5", stored=shown["stored"])
    assert code == 200 and out["state"]["card"]["id"] == "c1" and out["state"]["stored"] == 1
    code, out = app.answer(0, "c1", typed="5", stored=shown["stored"])  # the same request again
    assert code == 409 and out["state"]["stored"] == 1 and len(store.history("One", "ana")) == 1
    assert app.answer(0, "c1", typed="4", stored=1)[0] == 200 and len(store.history("One", "ana")) == 2


def test_the_page_refuses_malformed_answers_without_storing_them(tmp_path):
    """deck 1.7 (or true) was read as deck 1; typed ["4"] was stored as the wrong answer "['4']"; an answer
    without its card was refused as stale (409, "answered already")."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from magister.people.store import StudyStore
    from magister.people.web import StudyApp, create_app

    store = StudyStore(tmp_path / "db.sqlite")
    app = StudyApp([fractions(), spanish()], store, learner="ana", clock_offset=T0 - __import__("time").time())
    client = TestClient(create_app(app), base_url="http://localhost:8765")  # the name the page is opened by
    assert client.get("/api/state", params={"deck": 1}).json()["card"]["id"] == "hola"
    for body, says in (({"deck": 1.7, "card": "hola", "typed": "hola"}, "deck must be"),
                       ({"deck": True, "card": "hola", "typed": "hola"}, "deck must be"),
                       ({"deck": 1, "card": "hola", "typed": ["hola"]}, "typed must be"),
                       ({"deck": 1, "card": "hola", "typed": 5}, "typed must be"),
                       ({"deck": 1, "typed": "hola"}, "send card"),
                       ({"deck": 1, "card": "hola", "typed": "hola", "stored": "x"}, "stored")):
        r = client.post("/api/answer", json=body)
        assert r.status_code == 400 and says in r.json()["detail"], (body, r.json())
    assert store.history("Spanish basics", "ana") == [] and store.history("Fractions", "ana") == []
    r = client.post("/api/answer", json={"deck": "1", "card": "hola", "typed": "hola", "stored": 0})
    assert r.status_code == 200 and r.json()["right"]


def test_the_page_answers_only_to_its_own_names_and_only_to_its_own_posts(tmp_path):
    """The page has no login: a request addressed to another name (a site whose DNS was made to point at
    127.0.0.1, DNS rebinding) read the decks and history and stored answers, and a POST sent by a page of another
    site (a form, or fetch with a Blob body and no content type, read as JSON before FastAPI 0.132) stored
    answers. Now a foreign Host gets 400 and a foreign Origin 403, and nothing is stored."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from magister.people.store import StudyStore
    from magister.people.web import StudyApp, create_app

    store = StudyStore(tmp_path / "db.sqlite")
    app = StudyApp([spanish()], store, learner="ana", clock_offset=T0 - __import__("time").time())
    client = TestClient(create_app(app), base_url="http://localhost:8765")
    evil = {"Host": "evil.example:8765"}
    for r in (client.get("/", headers=evil), client.get("/api/decks", headers=evil),
              client.get("/api/state", params={"deck": 0}, headers=evil),
              client.post("/api/answer", json={"deck": 0, "card": "hola", "typed": "hola"}, headers=evil)):
        assert r.status_code == 400 and "Spanish" not in r.text and "hola" not in r.text, r.text
    for site in ("http://evil.example", "http://localhost:9999", "null"):
        r = client.post("/api/answer", json={"deck": 0, "card": "hola", "typed": "hola"}, headers={"Origin": site})
        assert r.status_code == 403 and site in r.json()["detail"], r.text
    assert store.history("Spanish basics", "ana") == []
    # the page itself, by each loopback name: its GETs, and its POSTs with its own origin (or none, a program)
    for host in ("localhost:8765", "127.0.0.1:8765", "[::1]:8765"):
        assert client.get("/", headers={"Host": host}).status_code == 200
    state = client.get("/api/state", params={"deck": 0}).json()
    r = client.post("/api/answer", json={"deck": 0, "card": state["card"]["id"], "typed": "hola", "stored": 0},
                    headers={"Origin": "http://localhost:8765"})
    assert r.status_code == 200 and r.json()["right"]
    card = r.json()["state"]["card"]["id"]
    r = client.post("/api/answer", json={"deck": 0, "card": card, "grade": 3, "stored": 1})
    assert r.status_code == 200 and len(store.history("Spanish basics", "ana")) == 2


def test_the_names_the_page_answers_to_follow_where_it_listens(tmp_path):
    pytest.importorskip("fastapi")
    import socket

    from fastapi.testclient import TestClient

    from magister.people.store import StudyStore
    from magister.people.web import LOOPBACK_HOSTS, StudyApp, allowed_hosts, create_app

    assert allowed_hosts() == allowed_hosts("localhost") == list(LOOPBACK_HOSTS)
    assert allowed_hosts("192.168.1.20") == [*LOOPBACK_HOSTS, "192.168.1.20"]
    assert allowed_hosts("fe80::1", ["Study.LAN", "*.home"]) == [*LOOPBACK_HOSTS, "[fe80::1]", "study.lan", "*.home"]
    assert socket.gethostname().lower() in allowed_hosts("0.0.0.0")  # every interface: the machine's names too
    for bad in ("localhost:8765", "http://study.lan", "a*b", ""):
        with pytest.raises(ConfigError, match="without a port"):
            allowed_hosts("127.0.0.1", [bad])
    app = StudyApp([spanish()], StudyStore(tmp_path / "db.sqlite"), learner="ana")
    client = TestClient(create_app(app, allowed_hosts("0.0.0.0", ["study.lan"])))
    assert client.get("/api/decks", headers={"Host": "study.lan:8765"}).status_code == 200
    assert client.get("/api/decks", headers={"Host": "other.lan:8765"}).status_code == 400
    assert TestClient(create_app(app, ["*"])).get("/api/decks", headers={"Host": "any.example"}).status_code == 200


def test_the_guard_reads_the_host_header_itself_ipv6_included():
    """The Host check was Starlette's TrustedHostMiddleware, which in the Starlette of FastAPI 0.110 (the oldest the
    [serve] extra allows) cut the header at its first ':': the page opened by http://[::1]:8765/, a name it is
    documented to answer to, got 400. The guard reads the header itself, whatever Starlette is installed."""
    import asyncio

    from magister.webguard import LOOPBACK_HOSTS, Guard, request_host

    assert [request_host(h) for h in ("[::1]:8765", "[::1]", "[FE80::1]:1", "LocalHost:8765", "box.lan", "[::1]x",
                                      "")] == ["[::1]", "[::1]", "[fe80::1]", "localhost", "box.lan", "", ""]

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    def answer(guard, host, method="GET", origin=None):
        sent = []
        headers = [(b"host", host.encode())] if host is not None else []
        headers += [(b"origin", origin.encode())] if origin is not None else []

        async def receive():
            return {"type": "http.request", "body": b""}

        async def send(message):
            sent.append(message)

        asyncio.run(guard({"type": "http", "method": method, "headers": headers}, receive, send))
        return sent[0]["status"], sent[-1]["body"]

    guard = Guard(app, [*LOOPBACK_HOSTS, "*.lan"], "the page")
    for host in ("[::1]:8765", "[::1]", "127.0.0.1:8765", "LOCALHOST:8765", "box.lan:8765", "a.b.lan"):
        assert answer(guard, host) == (200, b"ok"), host
    for host in ("evil.example:8765", "[::2]:8765", "lan", "evillan", "[::1]x", "", None):
        assert answer(guard, host) == (400, b"Invalid host header"), host
    assert answer(guard, "[::1]:8765", "POST", "http://[::1]:8765") == (200, b"ok")
    status, body = answer(guard, "[::1]:8765", "POST", "http://evil.example")
    assert status == 403 and b"the page" in body
    assert answer(Guard(app, ["*"]), "any.example:1") == (200, b"ok")
    # names given in capitals (as TrustedHostMiddleware took them) match the header in any case
    for host in ("MyBox", "mybox:1", "MYBOX.LAN"):
        assert answer(Guard(app, ["MyBox", "*.Lan"]), host) == (200, b"ok"), host


def test_an_answer_whose_clock_stepped_back_past_the_session_start_still_counts_in_the_session():
    # the terminal and the page record at max(now, schedule.clock): with the clock stepped back a minute after a
    # new session began, the answer fell before the session start, so it was not in the session, a miss never
    # came back as a retry, and the same card was asked again at once (as practice)
    s = Schedule(spanish())
    s.start_session(T0)
    run(s, [3, 3, 3])
    s.start_session(T0 + DAY)
    pick = s.next(T0 + DAY)
    s.record(pick.card, 1, max(T0 + DAY - 60, s.clock))
    assert s.session.asked == [pick.card] and pick.card in s.session.missed
    assert s.next(T0 + DAY).card != pick.card


def test_fractional_or_non_numeric_schedule_settings_are_refused_not_truncated():
    # retry_after=2.5 used to run as 2 and streak=1.7 as 1 (int() truncated them); "x" raised a raw ValueError
    for bad in ({"retry_after": 2.5}, {"retry_after": "x"}, {"streak": 1.7}, {"streak": True},
                {"retention": float("nan")}, {"retention": "0.8"}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            Schedule(fractions(), **bad)


def test_an_answer_with_a_bad_grade_or_time_changes_nothing(tmp_path):
    # record(card, 3, nan) used to set the clock to NaN and log the answer in the session before the memory
    # model refused it; a grade of 2.5 was stored as 2 and True as 1
    from magister.people.store import StudyStore

    s = Schedule(fractions())
    s.start_session(T0)
    s.record("half-of-8", 3, T0)
    for grade, time in ((3, float("nan")), (3, float("inf")), (3, "later"), (2.5, T0 + 1), (True, T0 + 1)):
        with pytest.raises(ConfigError, match="time" if grade == 3 else "grade"):
            s.record("half-of-8", grade, time)
        assert s.clock == T0 and s.session.asked == ["half-of-8"] and s.cards["half-of-8"].answers == 1
    s.record("half-of-8", 3.0, T0 + 1)  # a whole float is a grade
    assert s.session.grades == [3, 3]
    store = StudyStore(tmp_path / "db.sqlite")
    for grade, time in ((2.5, T0), (3, float("nan"))):
        with pytest.raises(ConfigError, match="grade" if grade == 2.5 else "time"):
            store.add("Fractions", "ana", "half-of-8", "halves", time, grade)
    assert store.history("Fractions", "ana") == []


@pytest.mark.parametrize("field,value,message", [
    ("duration", "12s", "duration must be a number >= 0.0, got '12s'"),
    ("duration", -5.0, "duration must be a number >= 0.0, got -5"),
    ("duration", float("inf"), "duration must be a number >= 0.0, got inf"),
    ("duration", True, "duration must be a number >= 0.0, got True"),
    ("card", None, "card must be text, the card's id"),
    ("card", 5, "card must be text, the card's id, card.id \\(a deck's id = 5 is the text '5'\\), got 5"),
    ("card", "", "card must be text"),
    ("deck", None, "deck must be text, the deck's title"),
    ("skill", ["halves"], "skill must be text"),
    ("fingerprint", 7, "fingerprint must be the card's Card.fingerprint"),
])
def test_the_store_refuses_a_bad_answer_before_writing_anything(tmp_path, field, value, message):
    # each was stored: a duration of "12s" made every later read of the learner's history fail ("event duration
    # must be a number"), -5 and inf were kept, a card of None failed in SQLite as "check the file, or pass
    # another --db", a fingerprint of 7 was stored as "7"
    from magister.people.store import StudyStore

    store = StudyStore(tmp_path / "db.sqlite")
    good = dict(deck="Fractions", learner="ana", card="half-of-8", skill="halves", time=T0, grade=3, duration=4.0,
                fingerprint="1929095481f4")
    store.add(**good)
    with pytest.raises(ConfigError, match=message + ".*nothing was stored"):
        store.add(**{**good, "time": T0 + 60, field: value})
    assert [(e.item, e.timestamp, e.duration) for e in store.history("Fractions", "ana")] == [("half-of-8", T0, 4.0)]
    for unknown in (None, float("nan"), np.float32("nan")):  # a duration not known is stored as none, as before
        store.add(**{**good, "duration": unknown})
    store.add(**{**good, "duration": np.float32(2.5)})  # (numpy's float32 failed in SQLite's binding)
    assert [e.duration for e in store.history("Fractions", "ana")][-1] == 2.5
    assert np.isnan([e.duration for e in store.history("Fractions", "ana")][1:4]).all()


def test_a_history_holding_a_duration_that_is_no_number_is_read(tmp_path):
    # StudyStore.add took duration="12s": the history it stored could not be read again
    import sqlite3

    from magister.people.store import StudyStore

    StudyStore(tmp_path / "db.sqlite").add("Fractions", "ana", "half-of-8", "halves", T0, 3, 4.0)
    with sqlite3.connect(tmp_path / "db.sqlite") as db:
        db.execute("INSERT INTO reviews (deck, learner, card, skill, time, grade, duration) VALUES "
                   "('Fractions', 'ana', 'half-of-8', 'halves', ?, 1, '12s')", (T0 + 60,))
    history = StudyStore(tmp_path / "db.sqlite").history("Fractions", "ana")
    assert [(e.outcome, e.duration) for e in history][0] == (3.0, 4.0)
    assert history[1].outcome == 1.0 and np.isnan(history[1].duration)


def test_a_card_with_a_list_for_its_skill_is_refused(tmp_path):
    # skill = ["a", "b"] became a skill named "['a', 'b']"
    (tmp_path / "d.toml").write_text('title = "T"\n[[cards]]\nquestion = "q?"\nskill = ["a", "b"]\n')
    with pytest.raises(ConfigError, match="one skill"):
        load_deck(tmp_path / "d.toml")


def test_a_typed_answer_is_checked_with_case_spacing_and_a_full_stop_ignored():
    # "4 ." was normalised to "4 " and marked wrong
    card = Card("c", "2+2?", ("4",), "sums")
    for typed in ("4", " 4 ", "4.", "4 .", "4  . ", "4.."):
        assert card.check(typed), typed
    assert not card.check("44") and not card.check("4 4")
    assert Card("n", "name?", ("New  York.",), "x").check("new york")


def test_the_card_on_screen_is_answered_after_an_idle_hour(tmp_path):
    """An hour between showing a card and answering it began a new session at the answer, which moved the pick
    on (a missed card came due): the answer was refused as "answered already, or in another tab" (409) and lost,
    and the learner was asked another card."""
    from magister.people.store import StudyStore
    from magister.people.web import StudyApp

    store = StudyStore(tmp_path / "db.sqlite")
    app = StudyApp([spanish()], store, learner="ana", clock_offset=T0 - __import__("time").time())
    first = app.state(0)["card"]["id"]
    assert app.answer(0, first, typed="wrong", stored=0)[0] == 200
    shown = app.state(0)
    app.offset += 3700  # the learner steps away with the card on screen
    code, out = app.answer(0, shown["card"]["id"], grade=3, stored=shown["stored"])
    assert code == 200 and out["card"] == shown["card"]["id"] and len(store.history("Spanish basics", "ana")) == 2
    assert out["state"]["session"] == {"answers": 1, "right": 1}  # the first answer of the new session
    restarted = StudyApp([spanish()], store, learner="ana", clock_offset=app.offset).state(0)
    assert restarted["card"] == out["state"]["card"] and restarted["session"] == out["state"]["session"]
    # still refused: the same answer resent, and a card never shown
    assert app.answer(0, shown["card"]["id"], grade=3, stored=shown["stored"])[0] == 409
    assert out["state"]["card"]["id"] != "azul" and app.answer(0, "azul", grade=3, stored=2)[0] == 409
    assert len(store.history("Spanish basics", "ana")) == 2


def test_a_restart_in_the_same_instant_as_the_last_answer_resumes_the_session(tmp_path, monkeypatch):
    """The resumed session began at the last answer's time, and a start equal to "now" was read as "no session to
    resume": with one answer stored this very instant, the restarted page began a new session."""
    from magister.people import web
    from magister.people.store import StudyStore

    monkeypatch.setattr(web._time, "time", lambda: T0)
    store = StudyStore(tmp_path / "db.sqlite")
    app = web.StudyApp([fractions()], store, learner="ana")
    code, out = app.answer(0, app.state(0)["card"]["id"], typed="4", stored=0)
    assert code == 200
    restarted = web.StudyApp([fractions()], store, learner="ana").state(0)
    assert restarted["session"] == out["state"]["session"] == {"answers": 1, "right": 1}
    assert restarted["card"] == out["state"]["card"]


def test_a_write_the_file_refuses_is_a_clear_error_and_keeps_the_stored_answers(tmp_path):
    # a database locked by another program past the timeout, or a read-only file, surfaced as a raw
    # sqlite3.OperationalError (a traceback in the terminal, a 500 on the page)
    import sqlite3

    from magister.people.store import StudyStore
    from magister.people.web import StudyApp

    path = tmp_path / "db.sqlite"
    store = StudyStore(path)
    store.add("Spanish basics", "ana", "hola", "greetings", T0, 3, 2.0)
    before = store.history("Spanish basics", "ana")
    store.db.execute("PRAGMA busy_timeout = 20")
    other = sqlite3.connect(path, isolation_level=None)
    for lock in ("BEGIN IMMEDIATE", "BEGIN"):  # a writer (the insert waits), a reader (the commit waits)
        other.execute(lock)
        other.execute("SELECT * FROM reviews").fetchall()
        with pytest.raises(ConfigError, match=r"db\.sqlite: the answer was not stored \(database is locked\).*"
                                              "close it and answer again"):
            store.add("Spanish basics", "ana", "adios", "greetings", T0 + 1, 3)
        other.execute("ROLLBACK")
        assert not store.db.in_transaction and store.history("Spanish basics", "ana") == before
    other.close()
    store.db.execute("PRAGMA query_only = ON")  # what a read-only file does (the tests may run as root)
    app = StudyApp([spanish()], store, learner="ana", clock_offset=T0 + 60 - __import__("time").time())
    shown = app.state(0)
    with pytest.raises(ConfigError, match="readonly database.*read-only; make both writable or pass another --db"):
        app.answer(0, shown["card"]["id"], grade=3)
    after = app.state(0)
    assert all(after[k] == shown[k] for k in ("card", "stored", "session"))  # the page's schedule unchanged
    assert store.history("Spanish basics", "ana") == before
    store.db.execute("PRAGMA query_only = OFF")  # nothing stayed pending: the next answer stores alone
    assert app.answer(0, shown["card"]["id"], grade=3)[0] == 200
    assert len(store.history("Spanish basics", "ana")) == 2


def test_a_typed_answer_matches_in_any_unicode_form():
    # "adiós" typed with a combining accent (U+0301, as some keyboards and macOS files write it) or a full-width
    # digit from an East Asian input method was marked wrong against the same text in the deck
    import unicodedata

    card = Card("c", "Goodbye", ("adiós",), "greetings")
    assert card.check(unicodedata.normalize("NFD", "Adiós")) and card.check("ADIÓS.")
    assert Card("d", "2+2?", (unicodedata.normalize("NFD", "cuatro é"),), "sums").check("cuatro é")
    assert Card("e", "2+2?", ("4",), "sums").check("４") and not card.check("adios")
    assert Card("f", "x times x?", ("x²",), "powers").check("Ｘ²") and not Card("f", "x times x?", ("x²",),
                                                                                "powers").check("x2")


def test_an_answer_to_a_card_the_deck_lacks_is_a_clear_error(tmp_path):
    # a card id the deck does not have (a typo, another deck's card) was refused as stale: 409 "answered already,
    # or in another tab", which sent a client looking for a race that never happened
    from magister.people.store import StudyStore
    from magister.people.web import StudyApp

    store = StudyStore(tmp_path / "db.sqlite")
    app = StudyApp([fractions(), spanish()], store, learner="ana", clock_offset=T0 - __import__("time").time())
    shown = app.state(1)
    for card in ("nope", "half-of-8"):
        with pytest.raises(ConfigError, match=f"deck 'Spanish basics' has no card '{card}'"):
            app.answer(1, card, grade=3, stored=shown["stored"])
    assert store.history("Spanish basics", "ana") == [] and app.state(1)["card"] == shown["card"]


def test_the_card_on_screen_is_answered_after_a_restart_and_an_idle_hour(tmp_path):
    """The page showed a card, the server restarted, and the learner answered after an hour: the restarted app
    began a new session, whose pick was another card, so the answer was refused (409) and lost; without the
    restart it is taken (test_the_card_on_screen_is_answered_after_an_idle_hour)."""
    from magister.people.store import StudyStore
    from magister.people.web import StudyApp

    store = StudyStore(tmp_path / "db.sqlite")
    app = StudyApp([spanish()], store, learner="ana", clock_offset=T0 - __import__("time").time())
    assert app.answer(0, "hola", typed="wrong", stored=0)[0] == 200
    assert app.answer(0, "adios", typed="adiós", stored=1)[0] == 200
    shown = app.state(0)
    restarted = StudyApp([spanish()], store, learner="ana", clock_offset=app.offset + 3700)
    assert restarted.state(0)["card"] != shown["card"]  # a new session: the missed card is due first
    restarted = StudyApp([spanish()], store, learner="ana", clock_offset=app.offset + 3700)
    code, out = restarted.answer(0, shown["card"]["id"], grade=3, stored=shown["stored"])
    assert code == 200 and out["card"] == shown["card"]["id"] and len(store.history("Spanish basics", "ana")) == 3
    assert out["state"]["session"] == {"answers": 1, "right": 1}
    # still refused: the same answer resent, and a card the page never showed
    assert restarted.answer(0, shown["card"]["id"], grade=3, stored=shown["stored"])[0] == 409
    again = StudyApp([spanish()], store, learner="ana", clock_offset=app.offset + 7400)
    assert again.answer(0, "azul", grade=3, stored=3)[0] == 409 and len(store.history("Spanish basics", "ana")) == 3


def test_a_locked_database_is_not_called_unusable(tmp_path):
    # a sound file that another program held a lock on was "not a usable study database ...; pass another --db",
    # when what helps is to close that program and try again (the page answered 400 with that message)
    import sqlite3

    from magister.people.store import StudyStore

    path = tmp_path / "db.sqlite"
    store = StudyStore(path)
    store.add("Spanish basics", "ana", "hola", "greetings", T0, 3, 2.0)
    store.db.execute("PRAGMA busy_timeout = 20")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    with pytest.raises(ConfigError, match=r"could not be read \(database is locked\).*close it and try again") as e:
        store.history("Spanish basics", "ana")
    assert "not a usable" not in str(e.value) and "another --db" not in str(e.value)
    other.execute("ROLLBACK")
    other.close()
    assert len(store.history("Spanish basics", "ana")) == 1


def test_iso_times_without_an_offset_are_utc_and_a_trailing_z_is_read_on_every_python():
    # `magister study --now 2025-01-31T09:00Z` was "not an ISO date-time" on Python 3.10 (fromisoformat refused Z)
    from magister.people.events import iso_seconds

    utc = 1738314000.0  # 2025-01-31T09:00 UTC
    assert iso_seconds("2025-01-31T09:00Z") == iso_seconds("2025-01-31T09:00") == utc
    assert iso_seconds(" 2025-01-31T09:00z ") == utc and iso_seconds("2025-01-31T10:00+01:00") == utc
    with pytest.raises(ValueError):
        iso_seconds("31/01/2025")


def test_schedule_reads_datetimes_and_refuses_nan_times_before_anything_changes():
    # next(datetime) failed with a raw TypeError (max() of a float and a datetime); next(nan) read the time as the
    # last answer's, so a card reviewed 30 days before was not due (a "practice" pick instead of a "review")
    from datetime import datetime, timezone

    s = Schedule(fractions())
    s.start_session(T0)
    s.record("half-of-8", 3, datetime.fromtimestamp(T0, timezone.utc))
    later = T0 + 30 * DAY
    s.start_session(datetime.fromtimestamp(later, timezone.utc))
    assert s.session.start == later
    when = datetime.fromtimestamp(later, timezone.utc)
    assert s.due(when) == s.due(later) == ["half-of-8"] and s.next(when) == s.next(later) == Pick("half-of-8", "review")
    assert s.recall("half-of-8", "2025-03-21T21:20Z") == s.recall("half-of-8", later)
    assert [st.to_json() for st in s.skills(when)] == [st.to_json() for st in s.skills(later)]
    for call in (lambda: s.next(float("nan")), lambda: s.due(float("nan")), lambda: s.skills(float("nan")),
                 lambda: s.recall("half-of-8", float("nan")), lambda: s.start_session(float("nan")),
                 lambda: Schedule(fractions()).replay([], session_start=float("nan"))):
        with pytest.raises(ConfigError, match="must be a finite time"):
            call()
    assert s.session.start == later and s.clock == later
    assert Schedule(fractions()).replay([], session_start=float("inf")).session.start == float("inf")


def test_an_answer_with_both_typed_and_grade_is_refused_naming_both_and_stores_nothing(tmp_path):
    """{"typed": "wrong", "grade": 4} was stored as the typed answer's verdict (grade 1), the grade dropped without a
    word; a card without an answer took the grade and dropped the text. The page sends one of them; a blank typed
    beside a grade (a form posting both fields) is no answer, and the grade is taken."""
    from fastapi.testclient import TestClient

    from magister.people.store import StudyStore
    from magister.people.web import StudyApp, create_app

    store = StudyStore(tmp_path / "db.sqlite")
    app = StudyApp([fractions(), spanish()], store, learner="ana", clock_offset=T0 - __import__("time").time())
    client = TestClient(create_app(app), base_url="http://localhost:8765")
    before = client.get("/api/state", params={"deck": 1}).json()
    for typed, grade in (("wrong", 4), ("hola", 1), ("hola", "3")):
        r = client.post("/api/answer", json={"deck": 1, "card": "hola", "typed": typed, "grade": grade, "stored": 0})
        assert r.status_code == 400, r.text
        assert "typed" in r.json()["detail"] and "grade" in r.json()["detail"] and "not both" in r.json()["detail"]
    with pytest.raises(ConfigError, match="not both"):
        app.answer(1, "hola", typed="hola", grade=3)
    assert store.history("Spanish basics", "ana") == [] and client.get("/api/state", params={"deck": 1}).json() == before
    r = client.post("/api/answer", json={"deck": 1, "card": "hola", "typed": "  ", "grade": 4, "stored": 0})
    assert r.status_code == 200 and r.json()["grade"] == 4
    r = client.post("/api/answer", json={"deck": 1, "card": r.json()["state"]["card"]["id"], "typed": "x", "stored": 1})
    assert r.status_code == 200 and r.json()["grade"] == 1


def test_replay_refuses_a_history_that_is_not_events_before_taking_any():
    """None raised Python's "'NoneType' object is not iterable", a dict per answer an AttributeError, the latter after
    the answers before it had been taken."""
    d = fractions()
    card = d.cards[0]
    good = Event("learner", card.id, (card.skill,), T0, 3)
    with pytest.raises(ConfigError, match=r"Schedule.replay takes the stored answers .* got NoneType None"):
        Schedule(d).replay(None, T0)
    s = Schedule(d)
    with pytest.raises(ConfigError, match=r"answer 1 is dict .*build it with Event"):
        s.replay([good, {"item": card.id, "outcome": 3}], T0)
    assert s.cards[card.id].answers == 0 and s.clock == float("-inf")
    assert Schedule(d).replay([good, good], T0).cards[card.id].answers == 2  # a repeated answer is two answers


def test_the_page_state_holds_no_answer_before_the_learner_answers(tmp_path):
    """/api/state sent the card's accepted answer with the question ("answer": "hola"), so the learner could read it
    in the browser's developer tools before answering. The answer now comes with the verdict (the correction), or
    from /api/reveal when the learner asks to see it, after which a typed answer to that card is refused."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from magister.people.store import StudyStore
    from magister.people.web import StudyApp, create_app

    store = StudyStore(tmp_path / "db.sqlite")
    app = StudyApp([spanish()], store, learner="ana", clock_offset=T0 - __import__("time").time())
    client = TestClient(create_app(app), base_url="http://localhost:8765")
    state = client.get("/api/state", params={"deck": 0}).json()
    assert state["card"]["id"] == "hola" and state["card"]["typed"] is True
    assert "answer" not in state["card"] and '"hola"' not in client.get("/api/state").text.replace('"id":"hola"', "")
    # a wrong answer: the correction comes with the verdict, the next state holds no answer again
    r = client.post("/api/answer", json={"deck": 0, "card": "hola", "typed": "hello", "stored": 0}).json()
    assert r["right"] is False and r["answer"] == "hola" and "answer" not in r["state"]["card"]
    asked = r["state"]["card"]["id"]
    answer = spanish().card(asked).answers[0]
    # the learner asks to see it: only the card being asked, stale or unknown cards as an answer would be
    assert client.post("/api/reveal", json={"deck": 0, "card": "hola", "stored": 1}).status_code == 409
    assert client.post("/api/reveal", json={"deck": 0, "card": asked, "stored": 0}).status_code == 409
    assert client.post("/api/reveal", json={"deck": 0, "card": "nope", "stored": 1}).status_code == 400
    shown = client.post("/api/reveal", json={"deck": 0, "card": asked, "stored": 1})
    assert shown.status_code == 200 and shown.json() == {"card": asked, "answer": answer}
    # ... then typing it is no evidence of knowing it: refused, nothing stored; a grade is taken
    r = client.post("/api/answer", json={"deck": 0, "card": asked, "typed": answer, "stored": 1})
    assert r.status_code == 400 and "was shown" in r.json()["detail"] and "grade" in r.json()["detail"]
    assert len(store.history("Spanish basics", "ana")) == 1
    r = client.post("/api/answer", json={"deck": 0, "card": asked, "grade": 2, "stored": 1})
    assert r.status_code == 200 and r.json()["grade"] == 2 and "answer" not in r.json()["state"]["card"]
    # the next card's answer is not marked shown
    nxt = r.json()["state"]["card"]["id"]
    nxt_answer = spanish().card(nxt).answers[0]
    r = client.post("/api/answer", json={"deck": 0, "card": nxt, "typed": nxt_answer, "stored": 2})
    assert r.status_code == 200 and r.json()["right"] is True
