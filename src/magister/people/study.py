"""The study schedule behind ``magister study`` (terminal and web page): which card next, and what is mastered.

The schedule is rebuilt from the stored history of one learner on one deck
(:meth:`Schedule.replay`), so the terminal loop, the web page and a session
resumed after a crash all ask the same card for the same history. Four kinds
of question interleave:

* **retry** - a card missed in this session comes back once ``retry_after``
  other answers have been given (sooner only when nothing else is left);
* **review** - a card seen in an earlier session whose predicted recall (the
  FSRS-family memory model) has fallen to the desired retention, the most
  overdue first;
* **practice** - a card already seen of a skill that is open but not yet
  mastered (while the skill is short of its streak, or the card was never
  answered right), once ``retry_after`` other answers separate it from its
  last ask;
* **new** - an unseen card of an open skill, in syllabus order (prerequisites
  first, then the deck's order).

Ready retries come first; reviews and learning (practice, then new) then
take turns, so neither starves the other. While a missed card waits for its
turn and nothing else is left, a card seen before is reviewed ahead (the least
well recalled first) rather than the missed card asked again at once. The same
card is never asked twice in a row unless it is the only card left to ask. A skill is *open* when every
skill it requires is mastered, and *mastered* on evidence: its last
``streak`` answers were right (grade 2 or more) and every card of the skill
was answered right at least once; a wrong answer on any of its cards takes
the mastery back until the streak is rebuilt. Skills without cards never
block the skills that need them.

Every figure is the schedule's own: :meth:`Schedule.skills` reports, per
skill, whether it is *not started*, *locked* (and by what), *learning* or
*mastered*, the cards seen and answered right, the current run of right
answers, the predicted recall a day ahead of the cards seen (``None`` before
any), and how many cards are due.

Times are seconds since the epoch (a ``datetime`` or ISO text is read by
:func:`~magister.people.events.seconds`: aware at its UTC instant, naive as
UTC), so a review falls due a number of hours after the last one, whatever
time zone or daylight-saving change lies between. An answer recorded with a
time before the schedule's clock (a clock that stepped back) counts as given
at the clock's time; a time that is not finite is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from ..errors import ConfigError
from ..settings import number, whole
from .base import make_model
from .deck import Deck, _nfc
from .events import DAY, Event, seconds
from .policies import topological_order
from .store import checked_grade

__all__ = ["Pick", "SkillStatus", "Schedule", "plural"]

LEARNER = "learner"
KINDS = ("retry", "review", "practice", "new")


def plural(n: int, word: str, many: str | None = None) -> str:
    """``plural(1, "card") == "1 card"``, ``plural(2, "card") == "2 cards"``."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


@dataclass(frozen=True)
class Pick:
    """The next question: a card id and why it is asked (``retry``, ``review``, ``practice`` or ``new``)."""

    card: str
    kind: str


@dataclass
class SkillStatus:
    """What the schedule knows about one skill (see :meth:`Schedule.skills`)."""

    skill: str
    status: str  # "not started", "locked", "learning", "mastered" or "no cards"
    needs: list[str]  # prerequisites not yet mastered (why it is locked)
    cards: int
    seen: int  # cards answered at least once
    right: int  # cards answered right at least once
    streak: int  # right answers in a row on the skill, up to now
    recall_in_a_day: Optional[float]  # mean predicted recall a day ahead over the cards seen; None if none seen
    due: int  # cards due for review now

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass
class _Card:
    id: str
    skill: str
    position: int  # syllabus position (skill order, then deck order)
    answers: int = 0
    right_once: bool = False
    last_grade: int = 0
    last_time: float = float("-inf")


@dataclass
class _Session:
    start: float
    asked: list[str] = field(default_factory=list)  # card ids answered in this session, in order
    kinds: list[str] = field(default_factory=list)
    grades: list[int] = field(default_factory=list)
    missed: dict[str, int] = field(default_factory=dict)  # card -> index in ``asked`` of its (last) miss
    reviewed: set[str] = field(default_factory=set)


class Schedule:
    """Which card to ask next, for one learner on one deck; rebuilt from the history.

    Args:
        deck: the ``Deck`` (``magister.people.deck``).
        retention: desired retention: a card seen in an earlier session is due when its
            predicted recall falls to this.
        retry_after: other answers between a missed card and its retry (and between two
            practice asks of the same card).
        streak: right answers in a row that (with every card of the skill answered
            right once) make a skill mastered.
        weights: the memory model's 21 FSRS weights (``None``: the published defaults).
    """

    def __init__(self, deck: Deck, *, retention: float = 0.9, retry_after: int = 3, streak: int = 3,
                 weights: list[float] | None = None):
        retention = number("retention", retention, 0.5, 1.0, high_open=True,
                           hint="review a card when predicted recall falls to this")
        retry_after = whole("retry_after", retry_after, 1, hint="other answers before a missed card comes back")
        streak = whole("streak", streak, 1, hint="right answers in a row that master a skill")
        self.deck = deck
        self.retention = retention
        self.retry_after = retry_after
        self.need_streak = streak
        settings: dict = {"desired_retention": self.retention, "graded": True}
        if weights is not None:
            settings["weights"] = list(weights)
        self.memory = make_model("fsrs", **settings)
        order = topological_order(deck.skills, deck.prerequisites)
        rank = {s: i for i, s in enumerate(order)}
        syllabus = sorted(range(len(deck.cards)), key=lambda j: (rank[deck.cards[j].skill], j))
        self.cards: dict[str, _Card] = {}
        for pos, j in enumerate(syllabus):
            card = deck.cards[j]
            self.cards[card.id] = _Card(card.id, card.skill, pos)
        self.order = order
        self.skill_cards: dict[str, list[_Card]] = {s: [] for s in order}
        for c in sorted(self.cards.values(), key=lambda c: c.position):
            self.skill_cards[c.skill].append(c)
        self.streak: dict[str, int] = {s: 0 for s in order}
        self.clock = float("-inf")
        self.session = _Session(start=float("-inf"))

    # ----------------------------------------------------------- history
    def replay(self, events: Iterable[Event], session_start: Any) -> Schedule:
        """Apply a stored history (time order); answers at or after ``session_start`` form the current session.

        Answers to cards no longer in the deck are skipped. ``session_start`` may be infinite (``inf``: no
        answer of the history is in the current session); NaN is refused (no answer was in it, without a word).
        """
        infinite = isinstance(session_start, (int, float)) and math.isinf(session_start)
        start = float(session_start) if infinite else seconds(session_start, "session_start")
        # every answer checked before any is taken (None, or a dict per answer, raised a raw TypeError or
        # AttributeError, the latter half-way through the history)
        try:
            events = list(events)
        except TypeError:
            raise ConfigError(f"Schedule.replay takes the stored answers as magister.people.Event objects (e.g. "
                              f"StudyStore.deck_history(deck, learner)), got {type(events).__name__} "
                              f"{events!r:.60}") from None
        for i, e in enumerate(events):
            if not all(hasattr(e, f) for f in ("item", "outcome", "timestamp")):
                raise ConfigError(f"Schedule.replay takes the stored answers as magister.people.Event objects, but "
                                  f"answer {i} is {type(e).__name__} {e!r:.60}; build it with Event(learner, card, "
                                  "skills, timestamp, grade)")
        self.session = _Session(start=start)
        for e in events:
            item = _nfc(e.item)  # (the deck's ids are composed: a decomposed "café" is its card)
            if item in self.cards:
                self.record(item, int(e.outcome), e.timestamp)
        return self

    def start_session(self, time: Any) -> None:
        """Begin a new session at ``time`` (cards seen before it can be due for review).

        The clock moves to the start, so an answer recorded with an earlier time (a clock that stepped back
        since) still belongs to the session: it was left out of it (a miss never came back as a retry, and
        the card was asked again at once).
        """
        self.session = _Session(start=max(seconds(time, "time"), self.clock))
        self.clock = self.session.start

    def record(self, card: str, grade: int, time: Any) -> None:
        """One answer: ``grade`` 1 (wrong / again) to 4 (easy) at ``time`` (seconds, or a datetime)."""
        card = _nfc(card)  # (in either Unicode form, as the deck's ids are composed)
        if card not in self.cards:
            raise ConfigError(f"deck {self.deck.title!r} has no card {card!r}")
        grade = checked_grade(grade)
        time = seconds(time, "time")  # checked before anything changes
        c = self.cards[card]
        time = max(time, self.clock)  # a clock that went backwards (another machine) never un-orders answers
        self.clock = time
        s = self.session
        if time >= s.start:
            kind = self._kind_of(c)
            s.asked.append(card)
            s.kinds.append(kind)
            s.grades.append(grade)
            if kind == "review":
                s.reviewed.add(card)
            if grade == 1:
                s.missed[card] = len(s.asked) - 1
            else:
                s.missed.pop(card, None)
        self.memory.update(Event(LEARNER, card, (c.skill,), time, grade))
        c.answers += 1
        c.last_grade = grade
        c.last_time = time
        if grade > 1:
            c.right_once = True
            self.streak[c.skill] += 1
        else:
            self.streak[c.skill] = 0

    # ------------------------------------------------------------ skills
    def mastered(self, skill: str) -> bool:
        """Enough evidence: ``streak`` right in a row, every card right once (skills without cards: yes)."""
        cards = self.skill_cards[skill]
        if not cards:
            return True
        return self.streak[skill] >= self.need_streak and all(c.right_once for c in cards)

    def missing(self, skill: str) -> list[str]:
        """Prerequisites of ``skill`` not mastered yet."""
        return [r for r in self.deck.prerequisites.get(skill, []) if not self.mastered(r)]

    def is_open(self, skill: str) -> bool:
        return not self.missing(skill)

    def recall(self, card: str, time: Any) -> Optional[float]:
        """Predicted recall of a card at ``time`` (``None`` before its first answer)."""
        c = self.cards[card]
        if not c.answers:
            return None
        # a datetime failed on max() with a raw TypeError, NaN read as the last answer's time (recall 1)
        return float(self.memory.predict(LEARNER, card, max(seconds(time, "time"), c.last_time), (c.skill,)))

    def due(self, time: Any) -> list[str]:
        """Cards seen before this session, not yet reviewed in it, recall <= retention; most overdue first."""
        time = seconds(time, "time")
        s = self.session
        out = []
        for c in self.cards.values():
            if c.answers and c.last_time < s.start and c.id not in s.reviewed:
                r = self.recall(c.id, time)
                if r is not None and r <= self.retention:
                    out.append((r, c.position, c.id))
        return [cid for _, _, cid in sorted(out)]

    def skills(self, time: Any) -> list[SkillStatus]:
        """Per skill (syllabus order): status, cards seen / right, streak, recall a day ahead, cards due."""
        time = seconds(time, "time")
        due = set(self.due(time))
        out = []
        for s in self.order:
            cards = self.skill_cards[s]
            seen = [c for c in cards if c.answers]
            if not cards:
                status = "no cards"
            elif self.mastered(s):
                status = "mastered"
            elif not self.is_open(s):
                status = "locked"
            elif seen:
                status = "learning"
            else:
                status = "not started"
            ahead = [self.recall(c.id, time + DAY) for c in seen]
            out.append(SkillStatus(s, status, self.missing(s), len(cards), len(seen),
                                   sum(c.right_once for c in cards), self.streak[s],
                                   sum(a for a in ahead if a is not None) / len(ahead) if ahead else None,
                                   sum(c.id in due for c in cards)))
        return out

    def finished(self, time: Any) -> bool:
        """Every skill mastered, nothing due, nothing missed waiting for a retry."""
        return self.next(time) is None

    # -------------------------------------------------------------- next
    def _kind_of(self, c: _Card) -> str:
        s = self.session
        if c.id in s.missed:
            return "retry"
        if not c.answers:
            return "new"
        if c.last_time < s.start and c.id not in s.reviewed:
            return "review"
        return "practice"

    def next(self, time: Any) -> Pick | None:
        """The next card at ``time``, or ``None`` when everything is mastered and nothing is due or missed."""
        time = seconds(time, "time")
        s = self.session
        last = s.asked[-1] if s.asked else None
        gap = self.retry_after
        retries = sorted(s.missed, key=lambda cid: s.missed[cid])
        reviews = self.due(time)
        done = {sk: self.mastered(sk) for sk in self.order}
        open_ = {sk for sk in self.order if all(done[r] for r in self.deck.prerequisites.get(sk, []))}
        last_ask = {cid: i for i, cid in enumerate(s.asked)}
        never = len(s.asked) + gap

        def since(cid: str) -> int:
            i = last_ask.get(cid)
            return never if i is None else len(s.asked) - 1 - i

        # practice is evidence still needed: a skill short of its streak, or a card never answered right
        due_now = set(reviews)
        practice = sorted((c for c in self.cards.values()
                           if c.answers and c.id not in s.missed and c.id not in due_now
                           and c.skill in open_ and not done[c.skill]
                           and (self.streak[c.skill] < self.need_streak or not c.right_once)),
                          key=lambda c: (-since(c.id), c.position))
        new = [c.id for c in sorted(self.cards.values(), key=lambda c: c.position)
               if not c.answers and c.skill in open_]

        ready = [cid for cid in retries if len(s.asked) - 1 - s.missed[cid] >= gap and cid != last]
        if ready:
            return Pick(ready[0], "retry")
        spaced = [c.id for c in practice if since(c.id) >= gap]
        learn = ([Pick(spaced[0], "practice")] if spaced else []) + ([Pick(new[0], "new")] if new else [])
        review = [Pick(cid, "review") for cid in reviews if cid != last]
        if review and learn:
            # take turns: a review unless the last question was a review
            last_kind = s.kinds[-1] if s.kinds else ""
            return learn[0] if last_kind == "review" else review[0]
        if review or learn:
            return (review or learn)[0]
        if retries or practice:
            # a miss (or a card in practice) waits for its turn: meanwhile review ahead a card seen before,
            # the least well recalled first, so the waiting card is not asked again at once
            ahead = sorted((self.recall(c.id, time) or 0.0, c.position, c.id) for c in self.cards.values()
                           if c.answers and c.id not in s.missed and since(c.id) >= gap)
            if ahead:
                return Pick(ahead[0][2], "review")
        # nothing spaced enough: the oldest miss, then the least recently practised card, never the last one
        for cid in [*retries, *(c.id for c in practice)]:
            if cid != last:
                return Pick(cid, "retry" if cid in s.missed else "practice")
        if last is not None and (last in s.missed or last in due_now or any(c.id == last for c in practice)):
            return Pick(last, self._kind_of(self.cards[last]))  # the only card left to ask
        return None
