"""``magister bench``: judge teachers against simulated students.

Runs every (teacher, student preset, seed) job in parallel worker processes
(BLAS threads pinned to one per worker), records learning curves, teacher
overhead and where each teacher sampled, and writes a results file plus a
report::

    from magister.bench import run_benchmark

    if __name__ == "__main__":  # the workers are new processes: a script runs the benchmark only from its main module
        results = run_benchmark(["uniform"], ["grid"], seeds=[0, 1, 2], episodes=5000, out="results/demo")

Teachers are picked by registry name and students by preset name
(:mod:`magister.students.registry`), so new ones show up without changes here.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from .runner import Interrupted, JobSpec, ProgressFn, plan_jobs, resolve_students, resolve_teachers, run_bench, run_job

__all__ = ["run_benchmark", "run_bench", "run_job", "plan_jobs", "JobSpec", "Interrupted", "DEFAULT_OUT"]

DEFAULT_OUT = "results"


def run_benchmark(
    teachers: Sequence[str] | None = None,
    students: Sequence[str] | None = None,
    *,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    episodes: int = 20000,
    eval_every: int = 1000,
    batch: int = 1,
    workers: int | None = None,
    settings: dict[str, dict[str, Any]] | None = None,
    max_samples: int = 1000,
    out: str | Path | None = None,
    report: bool = True,
    progress: ProgressFn | None = None,
    on_plan: Any = None,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the benchmark and return the results dict (written to ``out`` when given).

    ``teachers=None`` runs every registered teacher that fits the students;
    ``students=None`` runs the reference ``grid``. ``on_plan(jobs, skipped)``
    is called once the jobs are known (the CLI sizes its progress bar with it).
    An earlier interrupted run's ``results-interrupted.json`` and ``curves-interrupted.csv`` in ``out`` are
    then moved aside to ``.earlier-N`` (a line through ``echo`` says where), not removed.
    """
    from ..settings import whole
    from ..students.registry import get_preset
    from . import report as report_mod
    from .runner import default_workers, environment, run_bench_kept

    workers = default_workers() if workers is None else whole("workers", workers)  # checked before any planning
    explicit = bool(teachers)
    teachers = resolve_teachers(teachers)
    students = resolve_students(students)
    jobs, skipped = plan_jobs(teachers, students, list(seeds), episodes=episodes, eval_every=eval_every,
                              batch=batch, settings=settings, max_samples=max_samples)
    if not explicit:
        # all registered teachers: silently leave out the ones that fit no chosen student
        used = {j.teacher for j in jobs}
        unused = [s for s in skipped if s["teacher"] in (settings or {}) and s["teacher"] not in used]
        if unused:  # their settings would go unused, silently
            from ..errors import ConfigError

            raise ConfigError("settings given for teachers that fit none of the chosen students: " +
                              "; ".join(dict.fromkeys(s["reason"] for s in unused)) +
                              "; choose students they fit, or drop the settings")
        teachers = [t for t in teachers if t in used]
        skipped = [s for s in skipped if s["teacher"] in used]
    if not jobs:
        from ..errors import ConfigError

        raise ConfigError("no teacher in the run can teach the chosen students: " +
                          "; ".join(s["reason"] for s in skipped))
    if on_plan is not None:
        on_plan(jobs, skipped)
    report_mod.keep_earlier_interrupted(out, echo)  # (a finished run removed them, and the runs they kept)
    t0 = time.perf_counter()
    records, interrupted = run_bench_kept(jobs, workers=workers, progress=progress)  # (Ctrl-C: the finished jobs)
    wall = time.perf_counter() - t0
    results: dict[str, Any] = {
        "format": report_mod.FORMAT,
        "environment": environment(),
        "config": {"teachers": list(teachers), "students": list(students), "seeds": [int(s) for s in seeds],
                   "episodes": int(episodes), "eval_every": int(eval_every), "batch": int(batch),
                   "workers": workers, "settings": settings or {}, "max_samples": int(max_samples)},
        "students": {s: {**get_preset(s).to_dict(), "reference": get_preset(s).reference} for s in students},
        "skipped": skipped,
        "wall_s": wall,
        "jobs": records,
    }
    if interrupted is not None:
        raise report_mod.keep_interrupted(interrupted, results, len(jobs), out)
    if out is not None:
        def write() -> tuple[Path, Path]:
            report_mod.clear_outputs(out)  # a re-used folder: an earlier run's report and pictures are not this run's
            return report_mod.write_results(results, out)

        folder = json.dumps(str(out))
        # a Ctrl-C while the report is drawn: ReportInterrupted, naming what was written and how to redo the report
        report_mod.write_outputs(out, records, write, (lambda: report_mod.write_report(results, out)) if report else None,
                                 report_files=report_mod.REPORT_FILES, main=("report.md", "report.html"), redo=report_mod.redo_command(
                                     "from magister.bench.report import load_results, write_report; "
                                     f"write_report(load_results({folder}), {folder})"))
    return results
