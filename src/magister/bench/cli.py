"""``magister bench``: the command-line benchmark (heavy imports stay inside ``command``)."""

from __future__ import annotations

import json
from typing import Any, Callable, List, Optional, Sequence

import typer

#: teachers the demo prefers, in order, when they are registered
DEMO_PREFERRED = ("uniform", "covar-gmm", "alp-gmm", "riac", "adr", "riac-plus")
DEMO_TEACHERS = 6
DEMO_SEEDS = 3
DEMO_EPISODES = 20000
DEMO_EVAL_EVERY = 1000
#: the most episodes a run may have (a run keeps one timing per episode: 8 bytes each)
MAX_EPISODES = 100_000_000
#: the most seeds a run may have (every job is planned, and its record kept, in memory: --seeds 100000000 ended in
#: a MemoryError traceback before anything ran)
MAX_SEEDS = 10_000


def demo_teachers(available: list[str]) -> list[str]:
    """Up to six registered continuous teachers, preferring the published ones (always works with 'uniform')."""
    chosen = [t for t in DEMO_PREFERRED if t in available]
    chosen += [t for t in available if t not in chosen]
    return chosen[:DEMO_TEACHERS]


def wide_console() -> Any:
    """A rich console; piped or captured output gets at least 150 columns (a table squeezed into 80 cut
    its cells short: ``magister teachers | grep`` read class names ending in an ellipsis)."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=max(console.width, 150))


def _split(value: Optional[str]) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def _names(value: Optional[str], everything: Callable[[], Sequence[str]], option: str = "--teachers") -> list[str]:
    """A comma-separated option's names; ``all`` on its own is every name ``everything()`` gives (with other
    names it is kept, and refused as an unknown name). The one rule of ``--teachers all`` (with and without
    ``--suite`` or ``--levels``) and ``--students all``. An option given with no name (``--teachers ,``) is
    refused: it ran every teacher, as if the option were left out; so is a name given twice (``--teachers a,a``:
    the plain bench and ``--suite`` dropped the repeat without a word, while ``--levels`` refused it), with the
    message of the benchmark scripts (``magister.bench.args.distinct``)."""
    from ..errors import ConfigError
    from .args import distinct

    names = _split(value)
    if value is not None and not names:
        raise ConfigError(f"{option} {value!r} names none; give names separated by commas, or 'all'")
    return list(everything()) if names == ["all"] else distinct(names, option)


def _make_out(console: Any, out_dir: str) -> None:
    """Create the output folder before any run starts: a bad ``--out`` is refused now, not after hours of runs."""
    from rich.markup import escape

    from .args import make_folder

    error = make_folder(out_dir)
    if error is not None:
        console.print(f"[red]error:[/] {escape(error)}")
        raise typer.Exit(code=2)


def _interrupted(console: Any, exc: Any, out_dir: str) -> None:
    """Ctrl-C: say what was kept (the finished runs, marked as interrupted) and exit 130."""
    from rich.markup import escape

    from .runner import ReportInterrupted

    if exc.error is not None:  # an error that came with the Ctrl-C: stopped as for it, not hidden
        console.print(f"[yellow]note:[/] while stopping, an error came too: {type(exc.error).__name__}: "
                      f"{escape(str(exc.error))}", highlight=False)
    if isinstance(exc, ReportInterrupted):
        _report_interrupted(console, exc, out_dir)
    done = exc.finished
    planned = (exc.results or {}).get("interrupted", {}).get("planned", len(exc.records))
    for line in getattr(exc, "moved", []):  # an earlier interrupted run's files, kept
        console.print(line, highlight=False, markup=False)
    if exc.written:
        from pathlib import Path

        # (a re-used folder: the earlier run's results.json and report sat beside these, unmentioned, and
        # load_results(folder) and report.md read as this run's)
        earlier = [f for f in (w.replace("-interrupted.json", ".json") for w in exc.written if w.endswith(
            "-interrupted.json")) if Path(f).exists()]
        note = (f"; {', '.join(earlier)} and the report beside {'it' if len(earlier) == 1 else 'them'} are an "
                "earlier run's, left as they were" if earlier else "")
        console.print(f"[red]interrupted:[/] {done} of {planned} runs finished; their results are in "
                      f"{' and '.join(exc.written)} (no report: run again for the whole benchmark){note}",
                      highlight=False)
    else:
        console.print(f"[red]interrupted[/] before any of the {planned} runs finished; nothing was written to "
                      f"{out_dir}")
    raise typer.Exit(code=130)


def _report_interrupted(console: Any, exc: Any, out_dir: str) -> None:
    """Ctrl-C after every run finished, while the results or the report were written: say in one line what was
    written and how to write the rest, and exit 130 (it exited 130 without a word, the report missing)."""
    from pathlib import Path

    from rich.markup import escape

    n = exc.finished
    runs = "the run finished; its" if n == 1 else f"all {n} runs finished; their"
    if not exc.written:
        line = f"{runs} results could not be written to {out_dir}: run again"
    elif not exc.redo:
        line = f"{runs} results are whole in {' and '.join(exc.written)}"
    else:
        missing = " and ".join(Path(m).name for m in exc.missing) or "the report"
        drawn = [Path(f).name for f in exc.drawn]
        line = (f"{runs} results are whole in {' and '.join(exc.written)}; {missing} "
                f"{'is' if len(exc.missing) == 1 else 'are'} not written"
                f"{' (written already: ' + ', '.join(drawn) + ')' if drawn else ''}; to write "
                f"{'it' if len(exc.missing) == 1 else 'them'}: {exc.redo}")
    console.print(f"[red]interrupted[/] {escape(exc.stage)}: {escape(line)}", highlight=False,
                  soft_wrap=True)
    raise typer.Exit(code=130)


def _json_number(text: str) -> Any:
    """JSON's ``parse_float`` for ``--set``: a whole number in exponent notation without a fraction (``1e3``) is
    an int, as a whole-number setting needs (1000.0 was refused, or kept as a float); ``1000.0``, ``1.5e3`` and
    ``1e-3`` stay floats."""
    import decimal
    import math

    value = float(text)
    if "." not in text and math.isfinite(value) and value.is_integer():
        return int(decimal.Decimal(text))
    return value


def parse_settings(items: list[str]) -> dict[str, dict[str, Any]]:
    """``["alp-gmm.fit_rate=150", ...]`` -> ``{"alp-gmm": {"fit_rate": 150}}`` (values read as JSON if they can be;
    a whole number written with an exponent and no fraction, ``1e3``, is the int 1000)."""
    from ..errors import ConfigError

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        teacher, dot, name = key.rpartition(".")
        if not sep or not dot or not teacher or not name:
            raise ConfigError(f"--set {item!r}: write TEACHER.SETTING=VALUE, for example --set alp-gmm.fit_rate=150")
        try:
            value = json.loads(raw, parse_float=_json_number)
        except json.JSONDecodeError:
            value = raw
        if name in out.get(teacher, {}):  # which one was meant? (the last one won silently)
            raise ConfigError(f"--set {key} is given twice ({out[teacher][name]!r} and {value!r}); give each "
                              "setting once")
        out.setdefault(teacher, {})[name] = value
    return out


def command(
    teachers: Optional[str] = typer.Option(
        None, "--teachers", "-t",
        help="Comma-separated teacher names (see `magister teachers`), or 'all'. "
             "Default: every registered teacher that fits the students."),
    students: Optional[str] = typer.Option(
        None, "--students", "-s",
        help="Comma-separated student presets, or 'all': grid (the published reference grid), grid-hard "
             "(distractors, noise, unlearnable cells), grid-forget, grid-3d, skills (when installed). "
             "Default: grid."),
    seeds: Optional[int] = typer.Option(None, "--seeds", min=1, max=MAX_SEEDS,
                                        help="Number of seeds per teacher and student (default 5; demo 3; at "
                                             f"most {MAX_SEEDS:,})."),
    first_seed: int = typer.Option(0, "--first-seed", min=0, help="Seeds run from this value upwards."),
    episodes: Optional[int] = typer.Option(
        None, "--episodes", "-n", min=1, max=MAX_EPISODES,  # (a run keeps one timing per episode)
        help=f"Episodes per run (default 20000, the reference protocol; demo {DEMO_EPISODES}; at most "
             f"{MAX_EPISODES:,})."),
    eval_every: Optional[int] = typer.Option(
        None, "--eval-every", min=1,
        help=f"Record mastery every this many episodes (default 1000; demo {DEMO_EVAL_EVERY})."),
    batch: int = typer.Option(1, "--batch", min=1,
                              help="Propose this many tasks at once, attempt each, then observe_batch "
                                   "(1 = the reference protocol: propose, attempt, observe)."),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", min=1,
                                          help="Worker processes (default: the number of cores). "
                                               "1 runs everything in this process."),
    out: Optional[str] = typer.Option(None, "--out", "-o",
                                      help="Output folder (default: results/bench-<UTC timestamp>/, a new one "
                                           "per run). In a re-used folder the files an earlier run wrote there "
                                           "(report, figures, suite.md) are removed when this run's results are "
                                           "written; an earlier interrupted run's results are moved aside to "
                                           "results-interrupted.earlier-N.json (and its curves) before the runs, "
                                           "saying so; other files stay, and a folder holding no earlier run's "
                                           "results is left alone."),
    setting: List[str] = typer.Option(
        [], "--set", help="Teacher setting TEACHER.NAME=VALUE (VALUE read as JSON; 1e3 is the whole number "
                          "1000), repeatable, e.g. --set alp-gmm.fit_rate=150; checked before any job starts (an unknown "
                          "setting is refused with the list of the teacher's settings)."),
    max_samples: int = typer.Option(1000, "--max-samples", min=1,
                                    help="Proposed tasks kept per run for the sampling pictures."),
    no_report: bool = typer.Option(False, "--no-report", help="Write results.json and curves.csv only."),
    levels: bool = typer.Option(
        False, "--levels",
        help="Run the level-curriculum benchmark instead (benchmarks/levels_minigrid.py): a PPO student on "
             "MiniGrid mazes under uniform levels, plr, robust-plr, accel, learnability and alp-gmm, tested on "
             "the held-out mazes. Uses --teachers, --seeds (default 3), --workers (default 1), --out and --steps."),
    steps: int = typer.Option(300_000, "--steps", min=1024, help="With --levels: env steps per teacher-seed run."),
    suite: Optional[str] = typer.Option(
        None, "--suite",
        help="Run a student suite instead of presets: 'quick', 'standard', 'skills-heldout' or 'grids-heldout' (see docs/which-teacher.md); "
             "prints one table per variant and a summary per teacher as a fraction of each variant's "
             "ceiling. --episodes then overrides every variant's budget; default seeds 5 (quick: 2)."),
    variants: Optional[str] = typer.Option(None, "--variants",
                                           help="With --suite: only these comma-separated variants."),
    write_docs: Optional[str] = typer.Option(
        None, "--write-docs",
        help="With --suite: write the summary tables between the suite-table markers of this "
             "Markdown file (e.g. docs/which-teacher.md)."),
    demo: bool = typer.Option(
        False, "--demo",
        help=f"Small version (used by `make demo`): up to {DEMO_TEACHERS} registered teachers "
             f"(preferring {', '.join(DEMO_PREFERRED)}), {DEMO_SEEDS} seeds, the default grid, "
             f"{DEMO_EPISODES} episodes; explicit options still override."),
) -> None:
    """Benchmark teachers x seeds x simulated students in parallel; print a table and write a report.

    Every run follows the reference protocol (propose one task, the student attempts it, observe the score)
    and records mastery every --eval-every episodes, the teacher's own time per episode, and where it sampled.
    The output folder gets results.json, curves.csv, report.md, report.html and PNG figures; Ctrl-C keeps
    the runs that finished in results-interrupted.json and curves-interrupted.csv.
    """
    import sys

    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    from ..errors import ConfigError, missing_extra
    from ..students.registry import available_students
    from ..teacher import available_teachers
    from . import report as report_mod
    from . import run_benchmark
    from .runner import Interrupted, default_out, default_workers

    console = wide_console()
    from .args import blank_path, tilde_path

    for option, path, give, drop in (("--out", out, "a folder for the results", "for a new default folder"),
                                     ("--write-docs", write_docs, "the Markdown file to write the tables into",
                                      "to write no docs")):
        blank = None if path is None else blank_path(path, option, give, drop) or tilde_path(path, option)
        if blank is not None:  # ("" ran into the default folder, or wrote no docs, without a word)
            console.print(f"[red]error:[/] {escape(blank)}")
            raise typer.Exit(code=2)
    if suite is not None:
        ignored = [name for name, given in (("--students", students is not None), ("--eval-every", eval_every is not None),
                                            ("--batch", batch != 1), ("--max-samples", max_samples != 1000),
                                            ("--no-report", no_report), ("--levels", levels),
                                            ("--steps", steps != 300_000), ("--demo", demo)) if given]
        if ignored:  # they were ignored silently: a suite's variants fix their students and protocol
            console.print(f"[red]error:[/] {', '.join(ignored)} {'does' if len(ignored) == 1 else 'do'} not go with "
                          "--suite (each variant names its student, budget and evaluation interval); use "
                          "--variants to choose variants, or drop --suite")
            raise typer.Exit(code=2)
        _run_suite(console, suite, teachers, variants, seeds, first_seed, episodes, workers, out, setting,
                   write_docs)
        return
    if variants or write_docs:
        console.print("[red]error:[/] --variants and --write-docs go with --suite NAME")
        raise typer.Exit(code=2)

    if levels:
        from .levels import LEVEL_TEACHERS, run_and_report

        ignored = [name for name, given in (("--students", students is not None), ("--episodes", episodes is not None),
                                            ("--eval-every", eval_every is not None), ("--batch", batch != 1),
                                            ("--set", bool(setting)), ("--max-samples", max_samples != 1000),
                                            ("--no-report", no_report), ("--demo", demo)) if given]
        if ignored:  # the level benchmark has its own student, budget (--steps) and teacher settings
            console.print(f"[red]error:[/] {', '.join(ignored)} {'does' if len(ignored) == 1 else 'do'} not go with "
                          "--levels (a PPO student on mazes for --steps env steps, each teacher with the "
                          "benchmark's settings); use --teachers, --seeds, --first-seed, --workers, --out and "
                          "--steps, or drop --levels")
            raise typer.Exit(code=2)

        try:
            import gymnasium  # noqa: F401 - the maze envs and the PPO student, checked before anything runs
            import torch  # noqa: F401
        except ImportError as e:
            console.print(f"[red]error:[/] {escape(str(missing_extra('magister bench --levels', 'rl,torch', e)))}")
            raise typer.Exit(code=2)
        levels_out = out or default_out("results/levels")
        try:
            # (a repeated name is refused by _names, not by run_and_report as "teachers names ...")
            level_teachers = _names(teachers, lambda: LEVEL_TEACHERS) or list(LEVEL_TEACHERS)
            run_and_report(level_teachers, list(range(first_seed, first_seed + (seeds or 3))),
                           steps=steps, workers=workers or 1, out=levels_out,
                           echo=lambda line: console.print(line, highlight=False, markup=False, soft_wrap=True),
                           on_plan=lambda: _make_out(console, levels_out))
        except Interrupted as e:
            _interrupted(console, e, levels_out)
        except ConfigError as e:
            console.print(f"[red]error:[/] {e}")
            raise typer.Exit(code=2)
        return
    if steps != 300_000:
        console.print("[red]error:[/] --steps goes with --levels (env steps of the level benchmark); the "
                      "simulated students' budget is --episodes")
        raise typer.Exit(code=2)

    try:
        teacher_names = _names(teachers, available_teachers)
        student_names = _names(students, available_students, "--students")
        if demo and not teacher_names:
            teacher_names = demo_teachers(available_teachers("continuous"))
        if seeds is None:
            seeds = DEMO_SEEDS if demo else 5
        if episodes is None:
            episodes = DEMO_EPISODES if demo else 20000
        if eval_every is None:
            eval_every = DEMO_EVAL_EVERY if demo else 1000
        settings = parse_settings(setting)
        out_dir = out or default_out("results/bench")
        n_workers = workers or default_workers()
        seed_list = list(range(first_seed, first_seed + seeds))

        with Progress(TextColumn("[bold]bench[/]"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("episodes, {task.fields[jobs]} runs done"), TimeElapsedColumn(),
                      TimeRemainingColumn(), console=console, transient=False) as bar:
            state: dict[str, Any] = {"task": None, "done": {}, "finished": set(), "episodes": episodes}

            def on_plan(jobs: list, skipped: list) -> None:
                _make_out(bar.console, out_dir)
                state["n_jobs"] = len(jobs)
                state["task"] = bar.add_task("bench", total=len(jobs) * episodes, jobs=f"0/{len(jobs)}")
                names = sorted({j.teacher for j in jobs})
                bar.console.print(
                    f"{len(jobs)} runs: teachers {', '.join(names)}; students "
                    f"{', '.join(dict.fromkeys(j.student for j in jobs))}; {seeds} seeds; {episodes} episodes; "
                    f"{min(n_workers, len(jobs))} worker(s), BLAS threads pinned to 1")
                for s in skipped:
                    bar.console.print(f"[yellow]skipped[/] {s['teacher']} x {s['student']}: {s['reason']}")

            def progress(i: int, done: int) -> None:
                prev = state["done"].get(i, 0)
                state["done"][i] = done
                if done >= state["episodes"]:
                    state["finished"].add(i)
                bar.update(state["task"], advance=done - prev, jobs=f"{len(state['finished'])}/{state['n_jobs']}")

            results = run_benchmark(teacher_names or None, student_names or None, seeds=seed_list,
                                    episodes=episodes, eval_every=eval_every, batch=batch, workers=n_workers,
                                    settings=settings, max_samples=max_samples, out=out_dir,
                                    report=not no_report, progress=progress, on_plan=on_plan,
                                    echo=lambda line: bar.console.print(line, highlight=False, markup=False))
    except ConfigError as e:
        console.print(f"[red]error:[/] {e}")
        raise typer.Exit(code=2)
    except Interrupted as e:
        _interrupted(console, e, out_dir)

    rows = report_mod.summarise(results)
    console.print(report_mod.rich_table(rows, title=f"after {episodes} episodes, {seeds} seeds"))
    for r in rows:
        for err in r["errors"]:
            console.print(f"[red]failed[/] {r['teacher']} x {r['student']}: {err}")
    console.print(f"wall time {results['wall_s']:.1f} s; timings are per-process CPU-shared and noisy")
    report = "" if no_report else f"[bold]Report:[/] {out_dir}/report.md (and report.html); "
    console.print(f"{report}results: {out_dir}/results.json, {out_dir}/curves.csv")
    if any(r["failed"] for r in rows):
        sys.exit(1)


def _run_suite(console: Any, suite: str, teachers: Optional[str], variants: Optional[str], seeds: Optional[int],
               first_seed: int, episodes: Optional[int], workers: Optional[int], out: Optional[str],
               setting: List[str], write_docs: Optional[str]) -> None:
    """``magister bench --suite NAME``: run the suite with a progress bar, print its tables."""
    import shlex
    import subprocess
    import sys

    from rich.markdown import Markdown
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    from ..errors import ConfigError
    from ..teacher import available_teachers, teacher_class
    from . import suite as suite_mod
    from .runner import Interrupted, default_out, default_workers, registry_name

    if seeds is None:
        seeds = 2 if suite == "quick" else 5
    seed_list = list(range(first_seed, first_seed + seeds))
    out_dir = out or default_out(f"results/suite-{suite}")
    n_workers = workers or default_workers()
    try:
        teacher_names = _names(teachers, available_teachers)
        if write_docs:
            suite_mod.check_docs_file(write_docs)
        with Progress(TextColumn("[bold]suite[/]"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("episodes, {task.fields[jobs]} runs done"), TimeElapsedColumn(),
                      TimeRemainingColumn(), console=console, transient=False) as bar:
            state: dict[str, Any] = {"done": {}, "finished": set(), "budget": {}}

            def on_plan(jobs: list, _skipped: list) -> None:
                _make_out(bar.console, out_dir)
                state["n_jobs"] = len(jobs)
                state["budget"] = {i: j.episodes for i, j in enumerate(jobs)}
                state["task"] = bar.add_task("suite", total=sum(state["budget"].values()), jobs=f"0/{len(jobs)}")
                bar.console.print(
                    f"suite {suite}: {len(jobs)} runs over {len({j.student for j in jobs})} variants, teachers "
                    f"{', '.join(sorted({j.teacher for j in jobs}))}; {seeds} seeds; "
                    f"{min(n_workers, len(jobs))} worker(s), BLAS threads pinned to 1")
                ran = {j.teacher for j in jobs}
                for t in dict.fromkeys(teacher_names):  # (left out without a word, as the plain bench says)
                    if t not in ran:
                        kind = teacher_class(registry_name(t)).kind
                        bar.console.print(f"[yellow]skipped[/] {t}: a {kind} teacher fits none of the variants of "
                                          "the run (discrete teachers run on the skill graphs, continuous ones on "
                                          "the grids)", highlight=False)

            def progress(i: int, done: int) -> None:
                prev = state["done"].get(i, 0)
                state["done"][i] = done
                if done >= state["budget"][i]:
                    state["finished"].add(i)
                bar.update(state["task"], advance=done - prev, jobs=f"{len(state['finished'])}/{state['n_jobs']}")

            variant_names = _names(variants, lambda: [], "--variants")  # ("--variants ," ran the whole suite)
            results = suite_mod.run_suite(suite, teacher_names or None, seed_list, variants=variant_names or None,
                                          episodes=episodes, settings=parse_settings(setting), workers=n_workers,
                                          out=out_dir, progress=progress, on_plan=on_plan,
                                          echo=lambda line: bar.console.print(line, highlight=False, markup=False))
        if write_docs:
            try:
                commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                        check=False).stdout.strip() or "unknown"
            except OSError:
                commit = "unknown"
            note = (f"Measured with `magister bench --suite {suite} --seeds {seeds}"
                    f"{f' --first-seed {first_seed}' if first_seed else ''}"
                    f"{f' --episodes {episodes}' if episodes else ''}"
                    f"{f' --teachers {teachers}' if teachers else ''}"
                    f"{f' --variants {variants}' if variants else ''}"
                    f"{''.join(f' --set {shlex.quote(item)}' for item in setting)}` at commit {commit}, seeds "
                    f"{seed_list[0]}-{seed_list[-1]}, {results['environment']['created']}.")
            suite_mod.write_docs_table(results, write_docs, note=note)
    except ConfigError as e:
        console.print(f"[red]error:[/] {e}")
        raise typer.Exit(code=2)
    except Interrupted as e:
        _interrupted(console, e, out_dir)
    console.print(Markdown(suite_mod.suite_tables(results)))
    failed = [j for j in results["jobs"] if j.get("status") != "ok"]
    for j in failed:
        console.print(f"[red]failed[/] {j['teacher']} x {j['student']} seed {j['seed']}: {j['error']}")
    console.print(f"wall time {results['wall_s']:.1f} s; tables in {out_dir}/suite.md, runs in {out_dir}/results.json"
                  + (f"; docs table written to {write_docs}" if write_docs else ""))
    if failed:
        sys.exit(1)
