"""``magister study --web``: the study loop as a web page (FastAPI, the ``[serve]`` extra).

The page and the terminal loop share everything that matters: the decks
(:mod:`~magister.people.deck`), the schedule (:mod:`~magister.people.study`)
and the SQLite history (:mod:`~magister.people.store`), so an answer given on
the page is the same row a terminal answer would be, and either one continues
where the other stopped. Every answer is committed before the schedule moves
on; a reload asks for the state again and gets the same card (the schedule is
a function of the stored history and of when the session began; an hour
without an answer begins a new one, and a restarted server resumes a session
still going), so nothing is lost and nothing is counted twice: an answer to a card that is no longer
the one being asked (a second tab, a double submit) is refused with 409 and
the current state. The card on screen is taken even when time has moved the
pick on meanwhile (an idle hour began a new session, a review came due), as
long as no other answer was stored since it was shown.

The page is one file of HTML, CSS and JavaScript served at ``/``; the API:

* ``GET /api/decks`` - the decks, with their cards and the learner's answers;
* ``GET /api/state?deck=N`` - the card to ask (question, skill, kind, whether
  it takes a typed answer; never its answer, which the browser would hold
  before the learner answered), the per-skill progress, the cards due, the
  answers of this session;
* ``POST /api/reveal`` ``{"deck": N, "card": id, "stored": n}`` - the accepted
  answer of the card being asked, when the learner asks to see it (an empty
  answer, or a card without one); from then on that card takes a grade, and a
  typed answer to it is refused with 400 (the answer was seen), until the next
  answer is stored;
* ``POST /api/answer`` ``{"deck": N, "card": id, "typed": "..."}`` (checked
  like the terminal) or ``{"deck": N, "card": id, "grade": 1-4}``
  (self-graded; not both: refused with 400), with ``"stored": n``, the state's count of stored answers
  (optional; the page sends it, so a resent answer is refused even when the
  same card is asked again): stores the answer, then returns the verdict and
  the new state, and the accepted answer (the correction).

It listens on 127.0.0.1 unless told otherwise; it has no accounts (one
learner per process, ``--learner``), so keep it on the local machine. Two
checks stand in for a login against other web sites the learner visits: a
request is answered only when its ``Host`` header names the page (one of
:func:`allowed_hosts`: localhost, 127.0.0.1,
[::1], the ``--host`` it listens on, the machine's names when it listens on
every interface, and each ``--allow-host``), so a site whose name is made to
resolve to 127.0.0.1 (DNS rebinding) gets 400, not the decks and history; and
a POST sent by a page of another origin (its ``Origin`` header names another
host) is refused with 403, so another site cannot store answers with a simple
cross-site request (a form, or ``fetch`` with a body and no content type, which
FastAPI before 0.132 read as JSON).
"""

from __future__ import annotations

import threading
import time as _time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from ..errors import ConfigError, missing_extra_import
from ..webguard import LOOPBACK_HOSTS, allowed_hosts, guard, host_name as _host_name, is_loopback as _is_loopback
from .deck import Deck
from ..settings import number, whole
from .store import StudyStore, checked_grade, checked_learner
from .study import Schedule

__all__ = ["StudyApp", "allowed_hosts", "create_app", "serve"]

PAGE = Path(__file__).with_name("study_page.html")
#: seconds without an answer after which the page starts a new session (a reload within it keeps the session)
SESSION_GAP = 3600.0


class StudyApp:
    """The state behind the page: one schedule per deck for one learner, all answers through the store."""

    def __init__(self, decks: list[Deck], store: StudyStore, *, learner: str = "me", retention: float = 0.9,
                 clock_offset: float = 0.0):
        if not decks:
            raise ConfigError("the study page needs at least one deck; pass --deck")
        self.decks = decks
        self.store = store
        self.learner = checked_learner(learner)  # " ann" was another learner than "ann"
        for d in decks:  # a numbered card (card-N) whose text changed since its reviews: refused before serving
            d.check_history(store.fingerprints(d.title, self.learner))
        self.retention = float(retention)
        self.offset = float(clock_offset)
        self.lock = threading.Lock()
        self.schedules: dict[int, Schedule] = {}
        self.applied: dict[int, int] = {}  # per deck: the stored answers its schedule has applied
        self.shown: dict[int, tuple[int, set[str]]] = {}  # per deck: the stored count, the cards shown with it
        self.revealed: dict[int, tuple[int, str]] = {}  # per deck: the stored count, the card whose answer was shown

    def now(self) -> float:
        return _time.time() + self.offset

    def _deck(self, index: Any) -> tuple[int, Deck]:
        try:  # a whole number, or its text (a form); 1.7 or true read as deck 1 before
            i = int(index) if isinstance(index, str) else whole("deck", index, -(2**63), floats=True)
        except (TypeError, ValueError, ConfigError):
            raise ConfigError(f"deck must be a number 0-{len(self.decks) - 1}, got {index!r}") from None
        if not 0 <= i < len(self.decks):
            raise ConfigError(f"there is no deck {i}; the decks are numbered 0-{len(self.decks) - 1}")
        return i, self.decks[i]

    def _schedule(self, i: int) -> Schedule:
        s = self.schedules.get(i)
        now = self.now()
        d = self.decks[i]
        history = self.store.deck_history(d, self.learner)  # (another program may have stored other texts)
        if s is None or self.applied.get(i) != len(history):
            # the session goes on if the last answer is less than an idle hour old (a restarted server resumes
            # it, retries included); otherwise a new one begins now. Rebuilt too when the store holds answers
            # this schedule has not applied (the terminal, or another page, on the same database): the page
            # kept asking the card already answered there, and its memory model missed those answers
            start = now
            if history:  # the session of the last answer: the answers since the last idle hour before it
                k = len(history) - 1
                while k > 0 and history[k].timestamp - history[k - 1].timestamp <= SESSION_GAP:
                    k -= 1
                start = history[k].timestamp
            s = Schedule(d, retention=self.retention).replay(history, session_start=start)
            if history and self.shown.get(i, (-1, set()))[0] != len(history):
                # the card the page showed after the last answer (before a restart) is taken when answered, as
                # it is without a restart: after a restart and an idle hour it was refused (409) and lost
                after = s.next(history[-1].timestamp)
                if after is not None:
                    self.shown[i] = (len(history), {after.card})
            if not history or now - history[-1].timestamp > SESSION_GAP:
                s.start_session(now)
            self.schedules[i] = s
            self.applied[i] = len(history)
        elif s.session.asked and now - s.clock > SESSION_GAP:
            s.start_session(now)  # ... and again after an idle hour: what was learned before can now be due
        return s

    def decks_json(self) -> list[dict]:
        with self.lock:
            return [{"index": i, "title": d.title, "cards": len(d.cards), "skills": len(d.skills),
                     "answers": len(self.store.history(d.title, self.learner))} for i, d in enumerate(self.decks)]

    def state(self, index: Any) -> dict:
        with self.lock:
            i, d = self._deck(index)
            return self._state(i, d)

    def _state(self, i: int, d: Deck) -> dict:
        s = self._schedule(i)
        now = max(self.now(), s.clock)
        pick = s.next(now)
        card = None
        if pick is not None:
            c = d.card(pick.card)
            # no answer: the page held it before the learner answered (readable in the browser's tools);
            # it comes with the verdict, or from reveal() when the learner asks to see it
            card = {"id": c.id, "question": c.question, "skill": c.skill, "kind": pick.kind,
                    "typed": bool(c.answers)}
            count, ids = self.shown.get(i, (-1, set()))
            self.shown[i] = (self.applied[i], (ids if count == self.applied[i] else set()) | {c.id})
        skills = [st.to_json() for st in s.skills(now)]
        return {"deck": i, "title": d.title, "learner": self.learner, "card": card,
                "session": {"answers": len(s.session.asked), "right": sum(g > 1 for g in s.session.grades)},
                "skills": skills, "due": s.due(now),
                "mastered": sum(st["status"] == "mastered" for st in skills if st["cards"]),
                "skills_with_cards": sum(1 for st in skills if st["cards"]),
                "stored": self.applied[i],
                "finished": pick is None}

    def answer(self, index: Any, card: Any, typed: Optional[str] = None, grade: Any = None,
               duration: Optional[float] = None, stored: Any = None) -> tuple[int, dict]:
        """Store one answer and apply it; ``(409, state)`` when ``card`` is not the card being asked.

        ``stored`` (optional): the answers stored when the card was shown (the state's ``stored``); an answer
        sent with another count is stale (a second tab, a resent request) and refused with 409 even when the
        card being asked is the same card again (the only one left).
        """
        card = self._card_id(index, card)
        if typed is not None and not isinstance(typed, str):  # ["4"] was stored as the wrong answer "['4']"
            raise ConfigError(f"typed must be the answer as text, got {typed!r}")
        if typed is not None and typed.strip() and grade is not None:  # typed won, the grade dropped without a word
            # (a blank typed beside a grade, as a form with both fields posts, is no answer: the grade is taken)
            raise ConfigError(f"send typed (the answer, checked) or grade (1-4, self-graded), not both: got typed "
                              f"{typed!r:.80} and grade {grade!r:.40}. Nothing was stored.")
        stored = self._count(stored)
        with self.lock:
            i, d = self._deck(index)
            s = self._schedule(i)
            now = max(self.now(), s.clock)
            pick = s.next(now)
            if not self._asked(i, card, stored, pick):
                return 409, self._stale(i, d)
            c = d.card(card)
            kind = pick.kind if pick is not None and pick.card == card else s._kind_of(s.cards[card])
            if typed is not None and str(typed).strip() and c.answers:
                if self.revealed.get(i) == (self.applied[i], c.id):  # typed after reading it: no evidence
                    raise ConfigError(f"the answer to card {c.id!r} was shown before this answer was typed; send "
                                      "grade (1-4, self-graded) for it instead. Nothing was stored.")
                right = c.check(str(typed))
                g = 3 if right else 1
            else:
                if grade is None:
                    raise ConfigError("send typed (the answer) or grade (1-4)")
                try:  # a form sends text; 2.7, True or NaN are refused below, not truncated
                    grade = float(grade) if isinstance(grade, str) else grade
                except ValueError:
                    pass  # the text itself is refused below
                g = checked_grade(grade)
                right = g > 1
            # NaN or infinite durations were stored (NaN as 0)
            took = None if duration is None else max(0.0, number("duration", duration, hint="seconds"))
            self.store.add(d.title, self.learner, c.id, c.skill, now, g, took, c.fingerprint)  # committed first
            s.record(c.id, g, now)
            self.applied[i] += 1
            return 200, {"right": right, "grade": g, "kind": kind, "card": c.id,
                         "answer": c.answers[0] if c.answers else None, "state": self._state(i, d)}

    def reveal(self, index: Any, card: Any, stored: Any = None) -> tuple[int, dict]:
        """The accepted answer of ``card`` when it is the card being asked (``(409, state)`` when not).

        The learner asked to see it (an empty answer, or a card without one): until the next answer is stored,
        the card takes a grade, and a typed answer to it is refused (it would count as known).
        """
        card = self._card_id(index, card)
        stored = self._count(stored)
        with self.lock:
            i, d = self._deck(index)
            s = self._schedule(i)
            pick = s.next(max(self.now(), s.clock))
            if not self._asked(i, card, stored, pick):
                return 409, self._stale(i, d)
            c = d.card(card)
            if c.answers:
                self.revealed[i] = (self.applied[i], c.id)
            return 200, {"card": c.id, "answer": c.answers[0] if c.answers else None}

    def _card_id(self, index: Any, card: Any) -> str:
        """``card`` checked against deck ``index``, as the deck spells its id."""
        _, d = self._deck(index)  # a bad deck first: its message says more than a missing card's
        if not isinstance(card, str):  # a missing card read as a stale one (409, "answered already")
            raise ConfigError(f"send card, the id of the card being asked (a string), got {card!r}")
        # a card the deck lacks (a typo, another deck's) was refused as stale (409, "answered already"); its id
        # as the deck gives it (composed: "café" sent decomposed is the card being asked)
        return d.card(card).id

    @staticmethod
    def _count(stored: Any) -> Optional[int]:
        return None if stored is None else whole("stored", stored, 0, floats=True,
                                                 hint="the state's count of stored answers")

    def _asked(self, i: int, card: str, stored: Optional[int], pick: Any) -> bool:
        """Is ``card`` the one being asked on deck ``i`` (the pick, or a card shown with the current count)?"""
        # a card shown with the current count of stored answers is answered even when time has since moved
        # the pick on (an idle hour began a new session, a review came due): that answer was refused (409,
        # "answered already") and lost, and the learner was asked another card
        count, ids = self.shown.get(i, (-1, set()))
        if stored is not None and stored == self.applied[i] == count and card in ids:
            return True
        return pick is not None and pick.card == card and (stored is None or stored == self.applied[i])

    def _stale(self, i: int, d: Deck) -> dict:
        return {"error": "that card is not the one being asked (answered already, or in another tab); here is "
                         "the current one", "state": self._state(i, d)}


def create_app(app_state: StudyApp, hosts: Sequence[str] = LOOPBACK_HOSTS):
    """The FastAPI application of the page, answering requests addressed to ``hosts`` (see :func:`allowed_hosts`)."""
    try:
        from fastapi import Body, FastAPI, HTTPException, Query
        from fastapi.responses import HTMLResponse, JSONResponse
    except ImportError as e:
        raise missing_extra_import("the study page (magister.people.web)", "serve", e) from e

    if isinstance(hosts, str):
        hosts = [hosts]
    hosts = [_host_name(h, "a host of the page") for h in hosts]
    app = FastAPI(title="magister study", docs_url=None, redoc_url=None, openapi_url=None)
    page = PAGE.read_text(encoding="utf-8")

    # a browser names the page that sent a POST in Origin: one of another site (or "null") could store answers
    # with a request that needs no CORS preflight (a form, or fetch with a Blob body and no content type);
    # programs send no Origin and are let through, as before. Outermost: a request addressed to another name (a
    # site whose DNS now points here) gets 400 before anything
    guard(app, hosts, "the study page itself")

    def bad(e: ConfigError) -> HTTPException:
        return HTTPException(status_code=400, detail=str(e))

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page

    @app.get("/api/decks")
    def decks() -> list[dict]:
        return app_state.decks_json()

    @app.get("/api/state")
    def state(deck: int = Query(0)) -> dict:
        try:
            return app_state.state(deck)
        except ConfigError as e:
            raise bad(e) from None

    @app.post("/api/answer")
    def answer(body: dict = Body(...)):
        try:
            code, out = app_state.answer(body.get("deck"), body.get("card"), body.get("typed"), body.get("grade"),
                                         body.get("duration"), body.get("stored"))
        except ConfigError as e:
            raise bad(e) from None
        return JSONResponse(out, status_code=code)

    @app.post("/api/reveal")
    def reveal(body: dict = Body(...)):
        try:
            code, out = app_state.reveal(body.get("deck"), body.get("card"), body.get("stored"))
        except ConfigError as e:
            raise bad(e) from None
        return JSONResponse(out, status_code=code)

    return app


def serve(decks: list[Deck], store: StudyStore, *, learner: str = "me", retention: float = 0.9,
          host: str = "127.0.0.1", port: int = 8765, clock_offset: float = 0.0,
          allow_hosts: Sequence[str] = ()) -> None:
    """Serve the page until interrupted (``magister study --web``), to the names of :func:`allowed_hosts`."""
    try:
        import uvicorn
    except ImportError as e:
        raise missing_extra_import("the study page (magister.people.web)", "serve", e) from e

    hosts = allowed_hosts(host, allow_hosts)
    app = create_app(StudyApp(decks, store, learner=learner, retention=retention, clock_offset=clock_offset), hosts)
    where = _host_name(host, "--host") if str(host).strip() else host  # an IPv6 address in brackets
    print(f"study page: http://{where}:{port}/  (learner {learner}; Ctrl-C stops)", flush=True)
    if "*" in hosts:
        print("warning: --allow-host '*' answers requests addressed to any name: a web site whose name is made to "
              "point at this machine can read and answer as this learner", flush=True)
    else:
        print(f"answers to: {', '.join(hosts)} (another name or address: --allow-host NAME)", flush=True)
    if not _is_loopback(host):
        print(f"warning: listening on {host}: anyone who can reach port {port} can read and answer as {learner} "
              "(the page has no accounts)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", workers=1)
