"""``magister study``: a study session over a deck, in the terminal.

Asks a question, checks the typed answer (or shows the answer and takes a
self-grade 1-4 when the card has none or the answer is left empty), stores
every answer in SQLite at once, and picks the next card with the schedule of
:mod:`magister.people.study` (retries of missed cards a few questions later,
reviews that are due, practice and new cards of the skills that are open),
rebuilt from the stored history, so the next session continues from the same
place. Ends with what is mastered, what is being learned and what is due.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

import typer

DEFAULT_DB = Path.home() / ".magister" / "study.sqlite"
#: the range of --retention
RETENTION = (0.5, 0.99)


def _path(option: str, give: str, drop: str = "") -> Callable[[object], Path]:
    """``parser=`` of a path option: empty or blank text (``--deck ""``, as an unset shell variable gives it) read as
    the current folder (``Path("")`` is ``.``: ``--deck`` studied whatever decks it held, ``--db`` named the folder
    as a database), and a path starting with ``~`` (``--db=~/s.sqlite``: the shell expands ``~`` only at the start
    of a word) made a folder named ``~``; both are refused naming the option and the fix."""

    def parse(text: object) -> Path:
        if not isinstance(text, str):
            return Path(text)  # type: ignore[arg-type]  # (a default)
        if not text.strip():
            raise typer.BadParameter(f"{text!r} is {'blank' if text else 'empty'}; give {give}" +
                                     (f", or drop {option} {drop}" if drop else ""))
        if text.startswith("~"):
            home = os.path.expanduser(text)
            fix = f"write {home!r} ({option} ~/x, with a space, lets the shell expand it)" if home != text \
                else "write the full path"
            raise typer.BadParameter(f"{text!r} starts with '~', which was not expanded to a home folder (the shell "
                                     f"does that only after a space, not after '='); {fix}, or ./{text} for a "
                                     "folder named '~'")
        return Path(text)

    return parse


def _retention(text: object) -> float:
    """``--retention``'s value, a number in [0.5, 0.99] (``magister.settings.number``'s check and message): typer's
    range check refused NaN as "Input should be less than or equal to 0.99", as if it were a number too large."""
    from ..errors import ConfigError
    from ..settings import number

    value = text
    if isinstance(text, str):
        try:
            value = float(text)
        except ValueError:
            pass  # number() names the text as it was given
    try:
        return number("it", value, *RETENTION)
    except ConfigError as e:
        raise typer.BadParameter(str(e).removeprefix("it ")) from None


def command(
    ctx: typer.Context,
    deck: list[Path] = typer.Option(..., "--deck", parser=_path("--deck", "a deck file or a folder of decks"),
                                    metavar="<path>", help="deck file (.toml or .csv) or a folder of decks; "
                                    "repeat for several (the terminal asks which one, the page lists them)"),
    db: Optional[Path] = typer.Option(None, "--db", parser=_path("--db", "the study history's SQLite file",
                                                                 "for the default ~/.magister/study.sqlite"),
                                      metavar="<path>", help="SQLite file with the study history "
                                      "(default ~/.magister/study.sqlite)"),
    learner: str = typer.Option("me", "--learner", help="whose history to use"),
    count: int = typer.Option(10, "--count", min=1, help="questions in this session at most (terminal)"),
    retention: float = typer.Option(0.9, "--retention", parser=_retention, metavar="<float>",
                                    help="review a card when predicted recall falls to this (0.5 to 0.99)"),
    now: Optional[str] = typer.Option(None, "--now", help="pretend the session happens at this ISO date-time (UTC unless it gives an offset)"),
    web: bool = typer.Option(False, "--web", help="serve the study loop as a web page instead of the terminal"),
    host: str = typer.Option("127.0.0.1", "--host", help="address the page listens on (--web)"),
    port: int = typer.Option(8765, "--port", min=1, max=65535, help="port of the page (--web)"),
    allow_host: list[str] = typer.Option([], "--allow-host", help="another name or address the page is opened by "
                                         "(--web; repeat for several; *.lan for a domain, * for any name): it "
                                         "answers only to localhost, 127.0.0.1, [::1], --host and, with --host "
                                         "0.0.0.0, this machine's names"),
) -> None:
    """Study a deck in the terminal (or, with --web, in the browser); the history persists between sessions."""
    import sys
    import time as _time

    from rich.console import Console
    from rich.markup import escape

    from ..errors import MagisterError, missing_extra
    from .deck import load_decks
    from .events import iso_seconds
    from .store import StudyStore, checked_learner

    console = Console(highlight=False)
    # an option of the other mode was ignored without a word (--web --count 5 served a page with no cap)
    wrong_mode = ([("--count", "the page has no cap on questions")] if web else
                  [("--host", "only the page listens on an address"), ("--port", "only the page listens on a port"),
                   ("--allow-host", "only the page checks the name it is opened by")])
    for option, why in wrong_mode:
        source = ctx.get_parameter_source(option[2:].replace("-", "_"))
        if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
            fix = "leave it out" if web else "add --web or leave it out"
            console.print(f"[red]error:[/red] {option} does nothing {'with' if web else 'without'} --web: {why}; "
                          f"{fix}", soft_wrap=True)
            raise typer.Exit(2)
    try:  # '' or spaces, " ann" beside "ann", a tab, a zero-width space: each was stored as a learner of its own
        learner = checked_learner(learner, "--learner", "--learner ana")  # (NFC: "José" is one learner however typed)
    except MagisterError as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(2)
    if web:
        try:
            import fastapi  # noqa: F401 - the page's server (the [serve] extra), checked before anything is opened
            import uvicorn  # noqa: F401
        except ImportError as e:
            console.print(f"[red]error:[/red] {escape(str(missing_extra('magister study --web', 'serve', e)))}",
                          soft_wrap=True)
            raise typer.Exit(2)
        from ..webguard import check_can_listen
        from .web import allowed_hosts

        try:  # a bad --allow-host (a port, a URL), a port in use, before anything is opened
            allowed_hosts(host, allow_host)
            check_can_listen(host, port)
        except MagisterError as e:
            console.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
            raise typer.Exit(2)
    try:
        decks = load_decks(deck)
    except MagisterError as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(2)
    offset = 0.0
    if now is not None:
        try:
            offset = iso_seconds(now) - _time.time()
        except ValueError:
            console.print(f"[red]error:[/red] --now {escape(repr(now))} is not an ISO date-time such as "
                          "2025-01-31T09:00 (UTC without an offset) or 2025-01-31T09:00+01:00")
            raise typer.Exit(2)
    try:
        store = StudyStore(db if db is not None else DEFAULT_DB)
    except MagisterError as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(2)
    if web:
        from .web import serve

        try:  # a deck whose numbered cards changed text since they were reviewed: refused before serving
            serve(decks, store, learner=learner, retention=retention, host=host, port=port, clock_offset=offset,
                  allow_hosts=allow_host)
        except MagisterError as e:
            console.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
            raise typer.Exit(2)
        finally:
            store.close()
        return
    try:
        study_in_terminal(console, decks, store, learner, count, retention, offset, echo=not sys.stdin.isatty())
    except MagisterError as e:  # a damaged database is found when the history is read
        console.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(2)
    finally:
        store.close()


def study_in_terminal(console, decks, store, learner: str, count: int, retention: float, offset: float,
                      echo: bool = False) -> None:
    import time as _time

    from rich.markup import escape
    from rich.prompt import Prompt

    from .study import Schedule, plural

    def ask(prompt: str, **kw) -> str:
        value = Prompt.ask(prompt, console=console, **kw)
        if echo:  # piped answers: show them so the transcript reads well
            console.print(value, style="dim", markup=False)
        return value

    def clock() -> float:
        return _time.time() + offset

    d = decks[0]
    if len(decks) > 1:
        for n, dk in enumerate(decks, 1):
            console.print(f"{n}. {escape(dk.title)} ({plural(len(dk.cards), 'card')})")
        try:
            choice = ask("which deck?", choices=[str(n) for n in range(1, len(decks) + 1)])
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        d = decks[int(choice) - 1]
    history = store.deck_history(d, learner)  # refused when a card numbered by position (card-N) changed text
    schedule = Schedule(d, retention=retention).replay(history, session_start=float("inf"))
    schedule.start_session(clock())
    # deck text and names are shown as written: escape() keeps "[...]" from being read as terminal markup
    console.print(f"[bold]{escape(d.title)}[/bold]: {plural(len(d.cards), 'card')}, "
                  f"{plural(len(history), 'earlier answer')} by {escape(learner)}. "
                  "Type the answer; empty shows it and asks for a grade; q stops.")
    asked = 0
    while asked < count:
        pick = schedule.next(clock())
        if pick is None:
            console.print("Every skill is mastered and nothing is due: well done.")
            break
        card = d.card(pick.card)
        console.print(f"\n[bold]Q{asked + 1}[/bold] ({escape(card.skill)}, {pick.kind}): {escape(card.question)}")
        t0 = _time.monotonic()  # (the wall clock may step back meanwhile: a negative duration was stored)
        try:
            typed = ask("answer", default="", show_default=False) if card.answers else ""
        except (EOFError, KeyboardInterrupt):
            console.print()
            break
        if typed.strip().lower() in ("q", ":q", "quit"):
            break
        if card.answers and typed.strip():
            grade = 3 if card.check(typed) else 1
            console.print("right" if grade > 1 else f"not quite: {escape(card.answers[0])} "
                          "(it comes back after a few other cards)")
        else:
            if card.answers:
                console.print(f"answer: {escape(card.answers[0])}")
            try:
                g = ask("how well did you know it? 1 again, 2 hard, 3 good, 4 easy", choices=["1", "2", "3", "4"])
            except (EOFError, KeyboardInterrupt):
                console.print()
                break
            grade = int(g)
        t = max(clock(), schedule.clock)
        store.add(d.title, learner, card.id, card.skill, t, grade, _time.monotonic() - t0, card.fingerprint)  # first
        schedule.record(card.id, grade, t)
        asked += 1
    print_summary(console, schedule, asked, clock())


def print_summary(console, schedule, asked: int, time: float) -> None:
    """What the schedule knows now: per skill status, cards right, streak, recall a day ahead, cards due."""
    from rich.markup import escape
    from rich.table import Table

    from .study import plural

    rows = schedule.skills(time)
    table = Table("skill", "status", "cards right", "right in a row", "recall in a day", "due now",
                  title=f"after {plural(asked, 'answer')}")
    for st in rows:
        status = st.status + (f" (needs {', '.join(st.needs)})" if st.status == "locked" else "")
        recall = "-" if st.recall_in_a_day is None else f"{st.recall_in_a_day:.0%}"
        table.add_row(escape(st.skill), escape(status), f"{st.right}/{st.cards}", str(st.streak), recall,
                      str(st.due))
    console.print(table)
    due = schedule.due(time)
    with_cards = [st for st in rows if st.cards]
    mastered = sum(st.status == "mastered" for st in with_cards)
    console.print(f"mastered: {mastered}/{plural(len(with_cards), 'skill')}; due now: {plural(len(due), 'card')}"
                  + (f" ({escape(', '.join(due[:5]))}{', ...' if len(due) > 5 else ''})" if due else ""))
