"""``magister study``: a terminal study session over a deck.

Asks a question, checks the typed answer (or shows the answer and takes a
self-grade 1-4 when the card has none or the answer is left empty), updates
the learner's memory model, picks the next card (due reviews first, most
overdue first; then new cards whose prerequisite skills are mastered) and
stores every answer in SQLite, so the next session continues from the same
history. Ends with a summary of what is mastered and what is due.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def command(
    deck: Path = typer.Option(..., "--deck", help="deck file (.toml or .csv): questions, answers, skills"),
    db: Optional[Path] = typer.Option(None, "--db", help="SQLite file with the study history "
                                      "(default ~/.magister/study.sqlite)"),
    learner: str = typer.Option("me", "--learner", help="whose history to use"),
    count: int = typer.Option(10, "--count", min=1, help="questions in this session at most"),
    retention: float = typer.Option(0.9, "--retention", min=0.5, max=0.99,
                                    help="review a card when predicted recall falls to this"),
    now: Optional[str] = typer.Option(None, "--now", help="pretend the session happens at this ISO date-time"),
) -> None:
    """Study a deck in the terminal; the history persists between sessions."""
    import sys
    import time as _time
    from datetime import datetime, timezone

    from rich.console import Console
    from rich.markup import escape
    from rich.prompt import Prompt

    from ..errors import MagisterError
    from .deck import load_deck
    from .store import StudyStore

    console = Console(highlight=False)
    try:
        d = load_deck(deck)
    except MagisterError as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(2)
    if now is not None:
        try:
            dt = datetime.fromisoformat(now)
        except ValueError:
            console.print(f"[red]error:[/red] --now {escape(repr(now))} is not an ISO date-time such as 2025-01-31T09:00")
            raise typer.Exit(2)
        start = (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()
    else:
        start = _time.time()
    store = StudyStore(db if db is not None else Path.home() / ".magister" / "study.sqlite")
    deck_key = d.title
    history = store.history(deck_key, learner)
    policy = build_policy(d, retention)
    known = {c.id for c in d.cards}
    for ev in history:  # rebuild the memory model from the stored answers
        if ev.item in known:
            policy.set_time(max(policy.clock, ev.timestamp))
            policy.observe(ev.item, ev.outcome)
    clock_offset = start - _time.time()
    policy.set_time(max(policy.clock, start))
    # deck text and names are shown as written: escape() keeps "[...]" from being read as terminal markup
    console.print(f"[bold]{escape(d.title)}[/bold]: {len(d.cards)} cards, {len(history)} earlier answers by "
                  f"{escape(learner)}. "
                  "Type the answer; empty shows it and asks for a grade; q stops.")
    echo = not sys.stdin.isatty()  # piped answers: show them so the transcript reads well

    def ask(prompt: str, **kw) -> str:
        value = Prompt.ask(prompt, console=console, **kw)
        if echo:
            console.print(value, style="dim", markup=False)
        return value

    asked = 0
    again: list[tuple[str, int]] = []  # cards failed in this session, with the answer count at the time
    while asked < count:
        policy.set_time(max(policy.clock, _time.time() + clock_offset))
        due, new = policy.due_items(), policy.new_items()
        ready = [c for c, n in again if asked - n >= 2]
        if due:
            pick, kind = due[0], "review"
        elif ready:
            pick, kind = ready[0], "again"
        elif new:
            pick, kind = new[0], "new"
        elif again:
            pick, kind = again[0][0], "again"
        elif not all(policy.mastered().values()):
            pick, kind = policy.propose(), "ahead"  # review ahead what holds the next skills back
        else:
            console.print("Everything is mastered and nothing is due: well done.")
            break
        again = [(c, n) for c, n in again if c != pick]
        card = d.card(pick)
        console.print(f"\n[bold]Q{asked + 1}[/bold] ({escape(card.skill)}, {kind}): {escape(card.question)}")
        t0 = _time.time()
        try:
            typed = ask("answer", default="", show_default=False) if card.answers else ""
        except (EOFError, KeyboardInterrupt):
            console.print()
            break
        if typed.strip().lower() in ("q", ":q", "quit"):
            break
        if card.answers and typed.strip():
            ok = card.check(typed)
            grade = 3 if ok else 1
            console.print("right" if ok else f"not quite: {escape(card.answers[0])}")
        else:
            if card.answers:
                console.print(f"answer: {escape(card.answers[0])}")
            try:
                g = ask("how well did you know it? 1 again, 2 hard, 3 good, 4 easy", choices=["1", "2", "3", "4"])
            except (EOFError, KeyboardInterrupt):
                console.print()
                break
            grade = int(g)
        t_answer = policy.clock
        store.add(deck_key, learner, card.id, card.skill, t_answer, grade, _time.time() - t0)
        policy.observe(card.id, grade)
        if grade == 1:
            again.append((card.id, asked))
        asked += 1
    policy.set_time(max(policy.clock, _time.time() + clock_offset))
    print_summary(console, d, policy, asked)
    store.close()


def build_policy(deck, retention: float = 0.9):
    """The spaced-review teacher over a deck's cards (grades 1-4 as scores)."""
    from ..spaces import Discrete
    from .policies import SpacedReview

    return SpacedReview(Discrete([c.id for c in deck.cards]), skills={c.id: c.skill for c in deck.cards},
                        prerequisites=deck.prerequisites, desired_retention=retention, minutes_per_answer=0.0,
                        model_settings={"graded": False, "grades_from_scores": True}, score_range=(1, 4), seed=0)


def print_summary(console, deck, policy, asked: int) -> None:
    from rich.markup import escape
    from rich.table import Table

    from .policies import LEARNER

    state = policy.model.state(LEARNER, policy.clock)
    mastered = policy.mastered()
    table = Table("skill", "recall now", "recall in a day", "mastered", title=f"after {asked} answers")
    for s in deck.skills:
        st = state.get(s, {"recall": 0.0, "mastery": 0.0})
        table.add_row(escape(s), f"{st['recall']:.0%}", f"{st['mastery']:.0%}", "yes" if mastered.get(s) else "no")
    console.print(table)
    due = policy.due_items()
    n_mastered = sum(bool(v) for v in mastered.values())
    console.print(f"mastered: {n_mastered}/{len(mastered)} skills; due now: {len(due)} cards"
                  + (f" ({escape(', '.join(due[:5]))})" if due else "")
                  + f"; new unlocked: {len(policy.new_items())}")
