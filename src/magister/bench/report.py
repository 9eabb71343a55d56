"""Turn benchmark job records into a results file, a summary table and a report.

:func:`write_results` writes ``results.json`` (everything) and ``curves.csv``
(one row per job and evaluation point); :func:`summarise` reduces the jobs to
one row per (student, teacher) with medians and spreads over seeds;
:func:`write_report` writes ``report.md``, ``report.html`` (the same, figures
embedded) and the PNG figures; :func:`rich_table` renders the summary for the
terminal.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .args import nan_for_null, strict_json, write_atomically

__all__ = [
    "FORMAT",
    "write_results",
    "keep_interrupted",
    "write_json",
    "load_results",
    "summarise",
    "summary_markdown",
    "rich_table",
    "write_report",
    "clear_outputs",
    "keep_earlier_interrupted",
    "write_outputs",
    "write_text",
    "reaches",
    "verdict_text",
    "median_range",
]

FORMAT = "magister-bench/1"


# --------------------------------------------------------------------------- files
def write_results(results: dict[str, Any], out: str | Path, *, suffix: str = "") -> tuple[Path, Path]:
    """Write ``results.json`` and ``curves.csv`` (``results{suffix}.json``...) into ``out``; return their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jpath = write_json(out / f"results{suffix}.json", results)
    cpath = out / f"curves{suffix}.csv"
    with io.StringIO(newline="") as f:  # written whole, in one step (a Ctrl-C left it cut short)
        w = csv.writer(f)
        w.writerow(["teacher", "student", "seed", "episode", "mastery", "learnable_mastery", "teacher_us_per_episode"])
        for job in results["jobs"]:
            if job.get("status") != "ok":
                continue
            learn = job.get("learnable_mastery") or [None] * len(job["episodes"])
            window = [None] + list(job["overhead"]["window_mean_us"])
            for ep, m, lm, us in zip(job["episodes"], job["mastery"], learn, window):
                w.writerow([job["teacher"], job["student"], job["seed"], ep, f"{m:.6g}",
                            "" if lm is None else f"{lm:.6g}", "" if us is None else f"{us:.4g}"])
        write_text(cpath, f.getvalue())
    return jpath, cpath


#: write text whole (the scripts' writer, :func:`~magister.bench.args.write_atomically`)
write_text = write_atomically


#: the files :func:`write_report` writes (globs: some figures are named per student)
REPORT_FILES = ("report.md", "report.html", "curves.png", "curves-learnable.png", "overhead.png", "sampling-*.png",
                "mixture-*.png", "mastery-map-*.png")
#: the files of an earlier run in a re-used folder that a finished run replaces or makes stale (beside
#: ``results.json`` and ``curves.csv``, which it writes over); an earlier interrupted run's results are not among
#: them: :func:`keep_earlier_interrupted` moves them aside before the runs, as the scripts do their partial files
RUN_FILES = REPORT_FILES + ("suite.md",)
#: the files an interrupted ``magister bench`` or ``--suite`` run writes (``--levels``: :data:`LEVELS_INTERRUPTED`)
INTERRUPTED_FILES = ("results-interrupted.json", "curves-interrupted.csv")
LEVELS_INTERRUPTED = ("levels_results-interrupted.json",)


#: the results files that mark a folder as an earlier run's output (bench, suite, levels; finished or interrupted,
#: also an interrupted run's moved aside to ``.earlier-N``): globs
RUN_MARKERS = ("results.json", "results-interrupted*.json", "levels_results.json", "levels_results-interrupted*.json")


def keep_earlier_interrupted(out: str | Path | None, echo: Callable[[str], None] = print,
                             files: Sequence[str] = INTERRUPTED_FILES) -> list[Path | None]:
    """Before the runs of ``magister bench`` (``--suite``, ``--levels``): move an earlier interrupted run's
    ``files`` in the folder ``out`` aside to ``.earlier-N`` and say so through ``echo``, as the benchmark scripts
    do with their partial files (:func:`~magister.bench.args.keep_earlier_partials`); a finished run removed
    them, losing the runs that run had kept."""
    from .args import keep_earlier_partials

    if out is None:
        return [None] * len(files)
    return keep_earlier_partials([Path(out) / name for name in files], echo)


def clear_outputs(out: str | Path, patterns: Sequence[str] = RUN_FILES) -> list[Path]:
    """Remove from the folder ``out`` the files matching ``patterns`` (an earlier run's, where a folder is
    re-used: a picture of a student this run does not have was left beside the new results); other files
    are left alone, and so is a folder that holds no earlier run's results (:data:`RUN_MARKERS`): a folder of
    the user's own, whose ``suite.md`` or ``sampling-x.png`` no run wrote. Returns the paths removed."""
    folder = Path(out)
    gone: list[Path] = []
    if folder.is_dir() and any(f.is_file() for m in RUN_MARKERS for f in folder.glob(m)):
        for pattern in patterns:
            for f in sorted(folder.glob(pattern)):
                if f.is_file() or f.is_symlink():
                    f.unlink()
                    gone.append(f)
    return gone


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as strict JSON (NaN and infinities as ``null``: ``strict_json`` of ``bench.args``) to
    ``path`` through a temporary file (a crash leaves the old file or none)."""
    # (its temporary file had a fixed name, left behind by a Ctrl-C while it was written; a NaN was written as
    # NaN, which strict JSON readers refuse)
    return write_text(path, strict_json(obj, indent=1))


def keep_interrupted(exc: Any, results: dict[str, Any], planned: int, out: str | Path | None, *,
                     runs: str = "jobs", write: Any = None,
                     files: Sequence[str] = ("results-interrupted.json", "curves-interrupted.csv")) -> Any:
    """After Ctrl-C (``exc``, a :class:`~magister.bench.runner.Interrupted`): mark ``results`` (the finished
    runs only, under ``results[runs]``) as interrupted, write them when a run finished (``write(results,
    out)`` returning the paths; by default ``results-interrupted.json`` and ``curves-interrupted.csv``, not
    ``results.json`` nor a report: they would read as a whole run, or replace one), and return ``exc`` with
    them attached, for the caller to raise. The ``files`` (names in ``out``) an earlier interrupted run left
    there are moved aside first (``results-interrupted.earlier-1.json``...; a line each in ``exc.moved``): they
    were written over without a word."""
    results["interrupted"] = {"finished": len(results[runs]), "planned": int(planned)}
    exc.results = results
    if out is not None and results[runs]:
        keep_earlier_interrupted(out, exc.moved.append, files)
        paths = write(results, out) if write is not None else write_results(results, out, suffix="-interrupted")
        exc.written = [str(p) for p in paths]
    return exc


def write_outputs(out: str | Path, records: Sequence[Any], write: Callable[[], Sequence[Path]],
                  report: Callable[[], Any] | None, *, report_files: Sequence[str], main: Sequence[str],
                  redo: str) -> None:
    """Write a finished run's files into ``out``: ``write()`` (its results files, returning their paths) with
    Ctrl-C held back, so that they are written whole, as a pair; then ``report()`` (its report and pictures, each
    file put in place whole), which a Ctrl-C may stop. Such a Ctrl-C raises ``ReportInterrupted`` (of
    ``magister.bench.runner``) with ``records``, the files written, the ``report_files`` (globs in ``out``)
    written, those of the ``main`` files (``report.md``...) missing, and ``redo``, the command that writes the
    report again: it exited 130 without a word, the report missing and, before each file was written whole, a
    picture cut short."""
    from .runner import ReportInterrupted, _ctrl_c_held

    written: list[Path] = []
    try:
        with _ctrl_c_held():
            written += write()
        if report is not None:
            report()
    except KeyboardInterrupt as ctrl_c:
        cause = ctrl_c.__cause__
        exc = ReportInterrupted(list(records), None if isinstance(cause, KeyboardInterrupt) else cause)
        exc.written = [str(p) for p in written]
        if report is not None and written:
            folder = Path(out)
            exc.drawn = [str(f) for pattern in report_files for f in sorted(folder.glob(pattern)) if f.is_file()]
            exc.missing = [name for name in main if not (folder / name).is_file()]
            exc.redo = redo
        raise exc from exc.error


def redo_command(code: str) -> str:
    """``python -c CODE``, quoted for a POSIX shell."""
    import shlex

    return f"python -c {shlex.quote(code)}"


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a ``results.json`` (or the folder holding it); ``ConfigError`` (a ``ValueError``) if it cannot be
    read or is not one.

    A folder that also holds ``results-interrupted.json`` (a later run there was interrupted: a finished run
    moves that file aside) still gives its ``results.json``, the earlier run's, with a ``UserWarning`` naming both
    files and how to read the interrupted run's."""
    from ..errors import ConfigError

    path = Path(path)
    fix = "give the results.json of a magister bench run (or its folder)"
    later = None
    if path.is_dir():
        later = path / "results-interrupted.json"
        if not (path / "results.json").exists() and later.exists():
            fix = (f"the run in this folder was interrupted: its finished runs are in "
                   f"{later}")  # (it said only "No such file")
        path = path / "results.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read it ({getattr(e, 'strerror', None) or e}); {fix}") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path} is not JSON ({e}); {fix}") from None
    found = data.get("format") if isinstance(data, dict) else type(data).__name__
    if found != FORMAT:
        raise ConfigError(f"{path} is not a magister bench results file (format {found!r}); {fix}")
    if later is not None and later.exists():  # (it read the earlier run's results without a word)
        _warn_later_interrupted(path, later)
    return _nan_for_null(data)


#: a job's numbers that are never ``None``: a ``null`` there is a NaN written as strict JSON (by ``write_json``)
_JOB_NUMBERS = ("final_mastery", "mean_score", "wall_s")
_JOB_CURVES = ("mastery", "learnable_mastery")


def _nan_for_null(results: dict[str, Any]) -> dict[str, Any]:
    """The jobs' numbers as they were before they were written: ``null`` back to NaN where a number is always
    written (a mastery curve's point, an overhead), so that the tables and figures of a results file are those
    of the run (a file of an earlier version, with ``NaN`` in it, is read as it is). ``ceiling``'s ``null`` stays
    ``None``: no oracle ceiling."""
    for job in results.get("jobs") or ():
        if not isinstance(job, dict) or job.get("status") != "ok":
            continue
        for key in _JOB_NUMBERS:
            if key in job:
                job[key] = nan_for_null(job[key])
        for key in _JOB_CURVES:
            if isinstance(job.get(key), list):
                job[key] = nan_for_null(job[key])
        over = job.get("overhead")
        if isinstance(over, dict):
            for key, v in over.items():
                over[key] = nan_for_null(v)
    if "wall_s" in results:
        results["wall_s"] = nan_for_null(results["wall_s"])
    return results


def _warn_later_interrupted(loaded: Path, later: Path) -> None:
    import warnings

    try:
        done = json.loads(later.read_text())["interrupted"]
        runs = f" ({int(done['finished'])} of {int(done['planned'])} runs finished)"
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):  # only for the message
        runs = ""
    warnings.warn(f"loaded {loaded}, the results of an earlier run in this folder; {later} beside it holds a later "
                  f"run's that was interrupted{runs}: read those with load_results('{later}')", UserWarning,
                  stacklevel=3)


# --------------------------------------------------------------------------- summary
def reaches(x: float, target: float) -> bool:
    """``x >= target`` up to floating-point rounding: 13 of 36 cells against uniform's 10 of 36 is 1.3 times
    uniform (computed from percentages, 1.2999999999999998), and 57% is within 5 points of a 62% ceiling."""
    return bool(x >= target - 1e-9 * max(1.0, abs(target)))


def percent_pair(a: float, b: float) -> tuple[str, str]:
    """Two shares as whole percents, or with one decimal when two different values round to the same whole
    percent ("60% vs 60%: beats uniform" read as a verdict the figures did not support)."""
    spec = ".1%" if a != b and f"{a:.0%}" == f"{b:.0%}" else ".0%"
    return format(a, spec), format(b, spec)


def median_range(values: Sequence[float], digits: int = 0, *, scale: float = 1.0, signed: bool = False) -> str:
    """``median [min-max]`` of ``values`` (each times ``scale``), the three with ``digits`` decimals: a median
    with one decimal beside a range rounded to whole numbers read "46.5 [46-46]", a median outside its own range.
    A range with a negative end, or of ``signed`` values (gaps, differences: "+" on positive ones too), reads
    "-1 [-3 to +2]": "-1 [-3-2]" and "-1 [-1--1]" read as subtractions."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:  # (numpy's "zero-size array to reduction operation minimum", after a RuntimeWarning)
        from ..errors import ConfigError

        raise ConfigError("median_range needs at least one value, got none; leave out a figure with no runs")
    spec = f"{'+' if signed else ''}.{digits}f"
    med, lo, hi = (format(float(x) * scale, spec) for x in (np.median(v), v.min(), v.max()))
    if signed or lo.startswith("-") or hi.startswith("-"):
        return f"{med} [{lo} to {hi}]"
    return f"{med} [{lo}-{hi}]"


def verdict_text(x: float, *thresholds: float, digits: int = 2) -> str:
    """``x`` with ``digits`` decimals, or with more where rounding would put it on the other side of one of
    ``thresholds`` (by :func:`reaches`) than it is: a ratio of 1.295 against a target of 1.3 reads "1.295",
    not "1.30" beside a "missed", and 0.997 against 1 (below uniform) reads "0.997", not "1.00"."""
    if not math.isfinite(x):
        return f"{x:.{digits}f}"
    for d in range(digits, 18):
        text = f"{x:.{d}f}"
        if all(reaches(float(text), t) == reaches(x, t) for t in thresholds):
            return text
    return repr(x)


def _ok_jobs(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [j for j in results["jobs"] if j.get("status") == "ok"]


def _pairs(results: dict[str, Any]) -> list[tuple[str, str]]:
    """(student, teacher) pairs in the order of the run's configuration."""
    seen: dict[tuple[str, str], None] = {}
    for j in results["jobs"]:
        seen[(j["student"], j["teacher"])] = None
    students = list(results["config"]["students"])
    teachers = list(results["config"]["teachers"])
    return sorted(seen, key=lambda p: (students.index(p[0]) if p[0] in students else 99,
                                       teachers.index(p[1]) if p[1] in teachers else 99, p))


def _has_unlearnable(results: dict[str, Any], student: str, jobs: Sequence[dict[str, Any]]) -> bool:
    """Whether the learnable-only mastery of ``jobs`` is worth showing: the student has unlearnable
    parts (its preset says so, or some run of this student saw the two figures differ)."""
    if not jobs or not all(j.get("learnable_mastery") for j in jobs):
        return False
    kwargs = results.get("students", {}).get(student, {}).get("kwargs", {}) or {}
    runs = [j for j in _ok_jobs(results) if j["student"] == student and j.get("learnable_mastery")]
    return bool(kwargs.get("unlearnable", 0)) or any(j["learnable_mastery"] != j["mastery"] for j in runs)


def summarise(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (student, teacher): final mastery and overhead, median and spread over seeds."""
    rows = []
    episodes = int(results["config"]["episodes"])
    for student, teacher in _pairs(results):
        jobs = [j for j in results["jobs"] if j["student"] == student and j["teacher"] == teacher]
        ok = [j for j in jobs if j.get("status") == "ok"]
        row: dict[str, Any] = {"student": student, "teacher": teacher, "n": len(ok), "failed": len(jobs) - len(ok),
                               "errors": sorted({j["error"] for j in jobs if j.get("status") != "ok"})}
        if ok:
            final = 100.0 * np.array([j["final_mastery"] for j in ok])
            row.update(final=final.tolist(), final_median=float(np.median(final)), final_min=float(final.min()),
                       final_max=float(final.max()), final_q25=float(np.quantile(final, 0.25)),
                       final_q75=float(np.quantile(final, 0.75)))
            reach = [j["grid"]["reachable"] / j["grid"]["n_cells"] for j in ok
                     if (j.get("grid") or {}).get("reachable") is not None]
            if len(reach) == len(ok) and min(reach) < 1.0:
                r100 = 100.0 * np.array(reach)
                row.update(ceiling_median=float(np.median(r100)), ceiling_min=float(r100.min()),
                           ceiling_max=float(r100.max()))
            if _has_unlearnable(results, student, ok):
                lm = 100.0 * np.array([j["learnable_mastery"][-1] for j in ok])
                row.update(learnable_median=float(np.median(lm)), learnable_min=float(lm.min()),
                           learnable_max=float(lm.max()))
            med_us = np.array([j["overhead"]["median_us"] for j in ok])
            mean_us = np.array([j["overhead"]["mean_us"] for j in ok])
            total = np.array([j["overhead"]["total_s"] for j in ok])
            row.update(overhead_median_us=float(np.median(med_us)), overhead_mean_us=float(np.median(mean_us)),
                       overhead_mean_us_min=float(mean_us.min()), overhead_mean_us_max=float(mean_us.max()),
                       teacher_s=float(np.median(total)), teacher_s_min=float(total.min()),
                       teacher_s_max=float(total.max()),
                       wall_s=float(np.median([j["wall_s"] for j in ok])))
        ref = (results.get("students", {}).get(student, {}).get("reference") or {}).get(teacher)
        if ref:
            row["reference"] = {**ref, "note": "" if int(ref["episodes"]) == episodes
                                else f"published at {int(ref['episodes'])} episodes"}
        rows.append(row)
    return rows


def _pct(row: dict[str, Any], key: str = "final") -> str:
    if f"{key}_median" not in row:
        return "failed"
    return f"{row[f'{key}_median']:.0f} [{row[f'{key}_min']:.0f}, {row[f'{key}_max']:.0f}]"


def _ref(row: dict[str, Any]) -> str:
    ref = row.get("reference")
    if not ref:
        return ""
    s = "/".join(str(v) for v in ref["values"])
    return s + (" (at 20k)" if ref.get("note") else "")


def _us(row: dict[str, Any]) -> str:
    if "overhead_median_us" not in row:
        return ""
    return f"{row['overhead_median_us']:.0f} ({row['overhead_mean_us']:.0f})"


def _secs(row: dict[str, Any]) -> str:
    if "teacher_s" not in row:
        return ""
    return f"{row['teacher_s']:.1f} [{row['teacher_s_min']:.1f}, {row['teacher_s_max']:.1f}]"


def _columns(rows: Sequence[dict[str, Any]]) -> list[tuple[str, Any]]:
    cols: list[tuple[str, Any]] = [
        ("student", lambda r: r["student"]),
        ("teacher", lambda r: r["teacher"]),
        ("seeds", lambda r: f"{r['n']}" + (f" (+{r['failed']} failed)" if r["failed"] else "")),
        ("mastered %", _pct),
    ]
    if any("learnable_median" in r for r in rows):
        cols.append(("learnable %", lambda r: _pct(r, "learnable") if "learnable_median" in r else ""))
    if any("ceiling_median" in r for r in rows):
        cols.append(("reachable %", lambda r: _pct(r, "ceiling") if "ceiling_median" in r else ""))
    if any(r.get("reference") for r in rows):
        cols.append(("published", _ref))
    cols += [("µs/episode", _us), ("teacher s/run", _secs)]
    return cols


_LEGEND = {
    "mastered %": "share of the student's cells (or skills) mastered at the end, median [min, max] over seeds",
    "learnable %": "the same among those that can be learned",
    "reachable %": "the most that can ever be mastered: learnable cells linked to the origin through learnable "
                   "previous neighbours (unlearnable cells can cut others off)",
    "published": "the reference code's figure for each of its seeds on the default grid after 20,000 episodes",
    "µs/episode": "teacher time (propose + observe) per episode, median (mean, which includes refits)",
    "teacher s/run": "total teacher time per run, median [min, max]",
}


def table_legend(rows: Sequence[dict[str, Any]]) -> str:
    """One sentence per column shown; timings are flagged as noisy."""
    parts = [f"{name}: {_LEGEND[name]}" for name, _ in _columns(rows) if name in _LEGEND]
    return "; ".join(parts) + ". Timings are noisy: other processes shared the CPU."


#: the characters ``_md`` writes with a backslash
_MD_SPECIAL = frozenset("\\`*_[]<>|")


def _md(text: Any) -> str:
    """``text`` (a student or teacher name) as literal Markdown text on one line, for a table cell, a list item or
    a heading: a name with ``]`` or ``[`` took the report's pictures out (``![grid]: ...](sampling-grid_.png)`` is
    no image), one with a line break cut its heading and its table row in two, ``<b>`` was drawn as HTML."""
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in " ".join(str(text).splitlines()))


def _code(text: Any) -> str:
    """``text`` as a Markdown code span on one line, fenced by more backquotes than it holds in a row."""
    text = " ".join(str(text).splitlines())
    fence = "`" * (1 + max((len(r) for r in "".join(c if c == "`" else " " for c in text).split()), default=0))
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def summary_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The summary as a markdown table."""
    cols = _columns(rows)
    lines = ["| " + " | ".join(c for c, _ in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_md(f(r)) if c in ("student", "teacher") else str(f(r)).replace("|", "\\|")
                                       for c, f in cols) + " |")
    return "\n".join(lines)


def rich_table(rows: Sequence[dict[str, Any]], title: str | None = None):
    """The summary as a ``rich.table.Table`` for the terminal."""
    from rich.table import Table
    from rich.text import Text

    cols = _columns(rows)
    table = Table(title=Text(title) if title else None, caption=Text(table_legend(rows)), show_lines=False)
    for name, _ in cols:
        table.add_column(name, justify="left" if name in ("student", "teacher", "published") else "right",
                         no_wrap=name in ("student", "teacher"))
    prev = None
    for r in rows:
        if prev is not None and r["student"] != prev:
            table.add_section()
        prev = r["student"]
        table.add_row(*[Text(str(f(r))) for _, f in cols])
    return table


# --------------------------------------------------------------------------- figures
def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _file_stems(names: Sequence[str]) -> dict[str, str]:
    """A file-name part per name: its ``_safe`` form, with ``-2``, ``-3``... where an earlier name's is the
    same (also but for case, for case-blind file systems): students ``"g a"`` and ``"g_a"`` both drew into
    ``sampling-g_a.png``, the first's picture lost and both captions showing the second's."""
    stems: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        stem, i = _safe(name), 2
        while stem.casefold() in taken:
            stem, i = f"{_safe(name)}-{i}", i + 1
        taken.add(stem.casefold())
        stems[name] = stem
    return stems


def make_figures(results: dict[str, Any], out: str | Path) -> list[tuple[str, Path]]:
    """Draw every figure of the report into ``out``; return (caption, path) pairs."""
    from . import plots

    out = Path(out)
    jobs = _ok_jobs(results)
    if not jobs:
        return []
    teachers = [t for t in results["config"]["teachers"] if any(j["teacher"] == t for j in jobs)]
    students = [s for s in results["config"]["students"] if any(j["student"] == s for j in jobs)]
    colors = plots.label_colors(teachers)
    stems = _file_stems(students)
    seeds = list(results["config"]["seeds"])
    figures: list[tuple[str, Path]] = []

    def jobs_of(student: str, teacher: str) -> list[dict[str, Any]]:
        return sorted((j for j in jobs if j["student"] == student and j["teacher"] == teacher),
                      key=lambda j: seeds.index(j["seed"]) if j["seed"] in seeds else j["seed"])

    # learning curves, one panel per student
    panels: dict[str, dict[str, Any]] = {}
    reference: dict[str, dict[str, tuple[float, float]]] = {}
    for s in students:
        panels[s] = {}
        for t in teachers:
            js = jobs_of(s, t)
            if js:
                panels[s][t] = (js[0]["episodes"], 100.0 * np.array([j["mastery"] for j in js]))
        refs = results.get("students", {}).get(s, {}).get("reference") or {}
        for t in teachers:
            if t in refs and t in panels[s] and int(refs[t]["episodes"]) == int(results["config"]["episodes"]):
                reference.setdefault(s, {})[t] = (float(refs[t]["episodes"]), float(np.median(refs[t]["values"])))
    path = plots.learning_curves_figure(panels, out / "curves.png", ylabel="mastered (%)", ylim=(0, 100),
                                        reference=reference, colors=colors, band_kind="minmax")
    figures.append(("Learning curves: median across seeds, band = min-max; stars = published medians",
                    out / "curves.png"))
    del path

    # learnable-only curves when a student has unlearnable cells
    lpanels = {}
    for s in students:
        cur = {}
        for t in teachers:
            js = jobs_of(s, t)
            if _has_unlearnable(results, s, js):
                cur[t] = (js[0]["episodes"], 100.0 * np.array([j["learnable_mastery"] for j in js]))
        if cur:
            lpanels[s] = cur
    if lpanels:
        plots.learning_curves_figure(lpanels, out / "curves-learnable.png", ylabel="learnable tasks mastered (%)",
                                     ylim=(0, 100), colors=colors)
        figures.append(("Mastery of the learnable cells (or skills) only", out / "curves-learnable.png"))

    # teacher overhead per evaluation window
    opanels = {}
    for s in students:
        cur = {}
        for t in teachers:
            js = jobs_of(s, t)
            if js:
                cur[t] = (js[0]["episodes"][1:], np.array([j["overhead"]["window_mean_us"] for j in js]))
        opanels[s] = cur
    fig = plots.learning_curves_figure(opanels, None, ylabel="teacher µs per episode (window mean)",
                                       colors=colors)
    for ax in fig.axes:
        if ax.get_visible() and ax.has_data():
            ax.set_yscale("log")
    plots.save_figure(fig, out / "overhead.png")
    figures.append(("Teacher time (propose + observe) per episode, mean over each evaluation window, log scale",
                    out / "overhead.png"))

    # where each teacher sampled (first seed), and the grid over time
    for s in students:
        first = {t: jobs_of(s, t)[0] for t in teachers if jobs_of(s, t)}
        if not first:
            continue
        any_job = next(iter(first.values()))
        smp = any_job["samples"]
        # each teacher's first seed that finished: where one failed, another teacher's row is another seed
        # (the caption named the first teacher's seed for every row)
        one_seed = len({j["seed"] for j in first.values()}) == 1
        row = {t: t if one_seed else f"{t} (seed {j['seed']})" for t, j in first.items()}
        which = f"seed {any_job['seed']}" if one_seed else "each teacher's first finished seed"
        total = float(results["config"]["episodes"])
        if not smp["finite"] and smp["dim"] >= 2:
            grid = any_job.get("grid")
            edges = np.linspace(0, 1, grid["cells"] + 1)[1:-1] if grid else None
            rows = {row[t]: (j["samples"]["episode"],
                             np.array(j["samples"]["x"], dtype=float).reshape(-1, smp["dim"]))
                    for t, j in first.items()}
            p = out / f"sampling-{stems[s]}.png"
            plots.sampling_over_time_figure(rows, p, windows=4, edges=edges, total=total,
                                            axis_labels=("dim 0", "dim 1"))
            extra = f" (first two of {smp['dim']} dimensions)" if smp["dim"] > 2 else ""
            figures.append((f"{s}: where each teacher sampled{extra}, {which}, by time window", p))
        elif smp["finite"] and smp["n_tasks"]:
            mpanels = {}
            for t, j in first.items():
                mpanels[row[t]] = plots.mixture_from_samples(j["samples"]["episode"], j["samples"]["x"],
                                                             int(smp["n_tasks"]), bins=20, total=total)
            p = out / f"mixture-{stems[s]}.png"
            plots.mixture_over_time_figure(mpanels, p, names=smp.get("names"))
            figures.append((f"{s}: share of each task proposed over time, {which}", p))
        if all(j.get("grid_snapshots") for j in first.values()):
            grid = any_job["grid"]
            rows = {row[t]: (j["episodes"], np.array(j["grid_snapshots"])) for t, j in first.items()}
            p = out / f"mastery-map-{stems[s]}.png"
            blocked = {}
            for t, j in first.items():
                if j["grid"].get("unlearnable"):
                    mask = np.zeros(j["grid"]["cells"] ** 2, dtype=bool)
                    mask[j["grid"]["unlearnable"]] = True
                    blocked[row[t]] = mask.reshape(j["grid"]["cells"], j["grid"]["cells"])
            plots.grid_over_time_figure(rows, p, columns=4, vmax=grid["cap"], threshold=grid["threshold"],
                                        cbar_label="competence counter", blocked=blocked or None)
            crosses = ", crosses: unlearnable" if blocked else ""
            figures.append((f"{s}: competence of each cell over time (dots: mastered{crosses}), {which}", p))
    return figures


# --------------------------------------------------------------------------- report
def _fmt_config(results: dict[str, Any], markdown: bool = True) -> list[str]:
    """The run's settings as list items: Markdown (names escaped, see ``_md``), or plain text for the HTML page."""
    c = results["config"]
    env = results.get("environment", {})
    name, code = (_md, _code) if markdown else (str, lambda text: f"`{text}`")
    lines = [
        f"- teachers: {', '.join(name(t) for t in c['teachers'])}",
        "- students: " + "; ".join(f"{code(s)} ({results['students'][s].get('description', '')})"
                                   for s in c["students"]),
        f"- seeds: {', '.join(map(str, c['seeds']))}; episodes: {c['episodes']}; evaluation every "
        f"{c['eval_every']}; batch: {c['batch']}",
        f"- workers: {c['workers']} processes, BLAS/OpenMP threads pinned to 1 per worker; "
        f"wall time {results.get('wall_s', float('nan')):.1f} s",
        f"- magister {env.get('magister', '?')}, Python {env.get('python', '?')}, numpy {env.get('numpy', '?')}, "
        f"{env.get('cores', '?')} cores, {env.get('created', '')}",
    ]
    if c.get("settings"):
        lines.append(f"- teacher settings: {code(json.dumps(c['settings']))}")
    if results.get("interrupted"):  # (results-interrupted.json drawn as a report read as the whole run)
        info = results["interrupted"]
        lines.append(f"- interrupted: {info.get('finished', '?')} of {info.get('planned', '?')} runs finished; "
                     "this report covers only those")
    return lines


def _failed_item(row: dict[str, Any]) -> list[str]:
    """The markdown list item of a failed pair: its errors on the line, or, when one has several lines (its
    lines would end the list or read as headings and tables), each error as a code block inside the item."""
    head = f"- {_md(row['teacher'])} x {_md(row['student'])}:"
    if not any("\n" in e or "\r" in e for e in row["errors"]):
        return [f"{head} {'; '.join(row['errors'])}"]
    lines = [head, ""]
    for e in row["errors"]:
        lines += [f"      {line}" if line.strip() else "" for line in e.strip("\r\n").splitlines()] + [""]
    return lines


def write_report(results: dict[str, Any], out: str | Path, *, html_report: bool = True,
                 figures: bool = True) -> Path:
    """Write ``report.md`` (and ``report.html``) with the table and figures; return the markdown path.

    For a plain ``magister bench`` run; a suite's results (``run_suite``, ``magister bench --suite``) are
    refused with a ``ConfigError``: their tables are :func:`magister.bench.suite.suite_tables` (``suite.md``)."""
    if isinstance(results, dict) and "suite" in results:  # (its config has no eval_every: a KeyError)
        from ..errors import ConfigError

        raise ConfigError(f"these are the results of the suite {results['suite']!r}, not of a plain bench run; "
                          "write_report draws a plain run's report: a suite's tables are suite_tables(results) "
                          "(magister.bench.suite), written to suite.md by run_suite and magister bench --suite")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clear_outputs(out, REPORT_FILES)  # an earlier report's pictures of other students or teachers
    rows = summarise(results)
    figures_ = make_figures(results, out) if figures else []
    md = ["# magister bench report", "", *_fmt_config(results), "", "## Final mastery", "",
          f"After {results['config']['episodes']} episodes. {table_legend(rows)}", "", summary_markdown(rows), ""]
    skipped = results.get("skipped") or []
    if skipped:
        md += ["Skipped pairs:", ""] + [f"- {_md(s['teacher'])} x {_md(s['student'])}: {s['reason']}"
                                          for s in skipped] + [""]
    failed = [r for r in rows if r["failed"]]
    if failed:
        md += ["Failed jobs:", ""] + [line for r in failed for line in _failed_item(r)]
        md += [""]
    md += ["## Figures", ""]
    for caption, path in figures_:
        md += [f"### {_md(caption)}", "", f"![{_md(caption)}]({path.name})", ""]
    md += ["## Files", "", "- `results.json`: every job (curves, overheads, sampled tasks, grid snapshots)",
           "- `curves.csv`: one row per job and evaluation point", ""]
    mpath = write_text(out / "report.md", "\n".join(md))
    if html_report:
        _write_html(results, rows, figures_, out / "report.html")
    return mpath


def _write_html(results: dict[str, Any], rows: Sequence[dict[str, Any]], figures: Sequence[tuple[str, Path]],
                path: Path) -> None:
    cols = _columns(rows)
    head = "".join(f"<th>{html.escape(c)}</th>" for c, _ in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(f(r)))}</td>" for _, f in cols) + "</tr>" for r in rows)
    figs = []
    for caption, p in figures:
        data = base64.b64encode(p.read_bytes()).decode("ascii")
        figs.append(f"<figure><img src='data:image/png;base64,{data}' alt='{html.escape(caption)}'>"
                    f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    cfg = "".join(f"<li>{html.escape(line[2:])}</li>" for line in _fmt_config(results, markdown=False))
    lists = ""  # the skipped pairs and failed jobs, as in report.md
    skipped = results.get("skipped") or []
    if skipped:
        lists += "<p>Skipped pairs:</p><ul>" + "".join(
            f"<li>{html.escape(s['teacher'])} x {html.escape(s['student'])}: {html.escape(s['reason'])}</li>"
            for s in skipped) + "</ul>"
    failed = [r for r in rows if r["failed"]]
    if failed:
        lists += "<p>Failed jobs:</p><ul>" + "".join(
            f"<li>{html.escape(r['teacher'])} x {html.escape(r['student'])}:"
            + "".join(f"<pre>{html.escape(e)}</pre>" for e in r["errors"]) + "</li>" for r in failed) + "</ul>"
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>magister bench report</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}
td:nth-child(-n+2),th{{text-align:left}}img{{max-width:100%}}figure{{margin:1.5em 0}}</style></head><body>
<h1>magister bench report</h1><ul>{cfg}</ul><h2>Final mastery (%, median [min, max] over seeds)</h2><p>{html.escape(table_legend(rows))}</p>
<table><tr>{head}</tr>{body}</table>{lists}{''.join(figs)}</body></html>"""
    write_text(path, doc)
