"""Run teachers x seeds x students, in parallel worker processes.

One *job* is one (teacher, student preset, seed) triple. It follows the
reference protocol: every episode the teacher proposes one task, the student
attempts it, the teacher observes the score (``batch=k``: propose ``k`` tasks,
attempt each, ``observe_batch``). Every ``eval_every`` episodes the job records
the student's mastery. It also times the teacher's own work (``propose`` plus
``observe``, ``time.perf_counter``) and keeps a subsample of the proposed
tasks, as unit coordinates (or task indices on finite spaces), with their
episode numbers, for the pictures of where each teacher sampled.

Seeds: the teacher and the student get independent seeds derived from the job
seed with ``numpy.random.SeedSequence``; the student's seed depends only on
the job seed, so every teacher faces the same students (common random numbers).
Results are identical whatever the number of workers.

Workers are separate processes (``spawn``) whose BLAS/OpenMP pools are pinned
to one thread: the variables are set in the environment the workers inherit,
so they are in place before numpy is imported there, and ``threadpoolctl``
enforces the limit again when it is installed. Without this, two runs side by
side on two cores can be an order of magnitude slower.
"""

from __future__ import annotations

import os
import platform
import queue as queue_mod
import sys
import time
import traceback
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, NoReturn, Sequence

import numpy as np

from ..processes import Interrupted, _ctrl_c_held, run_in_pool  # (this module's names too: bench's own pool)

__all__ = [
    "JobSpec",
    "THREAD_VARS",
    "derive_seeds",
    "run_job",
    "run_bench",
    "run_bench_kept",
    "plan_jobs",
    "resolve_teachers",
    "name_list",
    "registry_name",
    "resolve_students",
    "compatible",
    "Interrupted",
    "ReportInterrupted",
    "run_in_pool",
    "run_jobs",
    "exit_interrupted",
]

#: environment variables that size the BLAS / OpenMP thread pools
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

ProgressFn = Callable[[int, int], None]  # (job index, episodes done so far in that job)


class ReportInterrupted(Interrupted):
    """Ctrl-C after every run finished, while the output files were written
    (``magister.bench.report.write_outputs``). ``records`` holds every run's record; ``written`` the results files, written whole (a Ctrl-C
    is held back until both are); ``drawn`` the report's files written before the Ctrl-C; ``missing`` those not
    written; ``redo`` a shell command that writes the report again from the results files; ``stage`` when the
    Ctrl-C came, in words (``magister bench --levels``: during its speed measurement, before the results)."""

    def __init__(self, records: list[dict[str, Any] | None], error: BaseException | None = None) -> None:
        super().__init__(records, error)
        self.drawn: list[str] = []
        self.missing: list[str] = []
        self.redo = ""
        self.stage = "while the report was written"


@dataclass(frozen=True)
class JobSpec:
    """One benchmark job: a teacher (by registry name) against a student preset with a seed."""

    teacher: str
    student: str
    seed: int
    episodes: int = 20000
    eval_every: int = 1000
    batch: int = 1
    #: extra keyword arguments for ``make_teacher``
    settings: dict[str, Any] = field(default_factory=dict)
    #: at most this many proposed tasks are kept for the sampling pictures
    max_samples: int = 1000
    #: a student given directly ("module:Class", used by suites) instead of a preset; ``student`` then names it
    student_class: str = ""
    student_kwargs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def derive_seeds(seed: int) -> tuple[int, int]:
    """Independent (teacher seed, student seed) derived from a job seed with ``SeedSequence``."""
    teacher_ss, student_ss = np.random.SeedSequence(int(seed)).spawn(2)
    return int(teacher_ss.generate_state(1, np.uint64)[0]), int(student_ss.generate_state(1, np.uint64)[0])


# --------------------------------------------------------------------------- names
def registry_name(label: str) -> str:
    """The registered teacher behind a run label: ``"sec@aside"`` -> ``"sec"`` (a label ``NAME@TAG`` runs
    teacher ``NAME`` under its own name, so one run can hold a teacher with two sets of ``--set`` settings)."""
    return label.partition("@")[0]


def name_list(what: str, names: Any) -> list[str] | None:
    """``names`` (teachers, students, variants) as a list: ``None`` stays ``None`` (the default), one name given as
    text is a one-item list, any other iterable the list of its items; an empty one is refused, not read as "all",
    and so is a name given twice (``args.distinct``: the CLI refused it, the Python API dropped the repeat)."""
    from ..errors import ConfigError
    from .args import distinct

    # ("uniform" was read as the names 'u', 'n', 'i', ...; [] ran every teacher or variant, as None does)
    if names is None:
        return None
    if isinstance(names, str):
        return [names]
    try:
        items = list(names)
    except TypeError:
        raise ConfigError(f"{what} is a list of names, got {names!r}") from None
    if not items:
        raise ConfigError(f"{what} is an empty list: give at least one name, or None (leave it out) for the default")
    return distinct(items, what)


def resolve_teachers(names: Sequence[str] | None) -> list[str]:
    """Check teacher names (or ``NAME@TAG`` labels) against the registry (``None``: all registered; one name as
    text is taken as a list of one; an empty list is refused)."""
    from ..errors import ConfigError
    from ..teacher import available_teachers, near_teacher_name

    available = available_teachers()
    names = name_list("teachers", names)
    if names is None:
        return available
    unknown = [n for n in names if registry_name(n) not in available or n.endswith("@")]
    if unknown:
        # ("alp-gmm:history_size=2000", the spec of benchmarks/teacher_overhead.py, read as an unknown name)
        given = next((n for n in unknown if ":" in n or "=" in n), None)
        hint = "" if given is None else (
            f"; a teacher's settings do not go in its name ({given!r}): give them with --set TEACHER.SETTING=VALUE "
            "(Python: settings={TEACHER: {SETTING: VALUE}}), e.g. --teachers alp-gmm --set alp-gmm.history_size=2000, "
            "and NAME@TAG (--teachers alp-gmm,alp-gmm@h2k --set alp-gmm@h2k.history_size=2000) runs it a second "
            "time with settings of its own")
        raise ConfigError(
            f"unknown teacher{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}"
            f"{near_teacher_name(registry_name(unknown[0]), available) if len(unknown) == 1 and not hint else ''}; "
            f"available: {', '.join(available)}{hint}"
        )
    return names


def stray_settings_hint(stray: Sequence[str], run: Sequence[str]) -> str:
    """For settings given for teachers that do not run: ``--set sec.x=1`` with ``--teachers sec@aside`` says that a
    label's settings are given for the label (``--set sec@aside.x=1``); empty when no label of the run fits."""
    pairs = [(t, label) for t in stray for label in run if label != t and registry_name(label) == registry_name(t)]
    if not pairs:
        return ""
    t, label = pairs[0]
    return (f"; settings of a label NAME@TAG are given for the label, not for NAME: --set {label}.SETTING=VALUE "
            f"rather than --set {t}.SETTING=VALUE")


def resolve_students(names: Sequence[str] | None) -> list[str]:
    """Check student preset names (``None``: the default ``grid``; one name as text is taken as a list of one; an
    empty list is refused)."""
    from ..errors import ConfigError
    from ..students.registry import all_presets, available_students, get_preset

    names = name_list("students", names)
    if names is None:
        return ["grid"]
    unknown = [n for n in names if n not in all_presets()]
    if unknown:  # a misspelt preset ("gird", "grid_hard") is named with its near miss, as a teacher's is
        from ..teacher import near_names

        near = near_names(unknown, available_students())
        raise ConfigError(
            f"unknown student{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}{near}; "
            f"available: {', '.join(available_students())}"
        )
    for n in names:
        get_preset(n)  # raises a clear error if the student class is not installed
    return names


def compatible(teacher: str, student: str) -> tuple[bool, str]:
    """Whether ``teacher`` can teach ``student`` (a discrete teacher needs a finite space)."""
    from ..students.registry import get_preset
    from ..teacher import teacher_class

    kind = teacher_class(registry_name(teacher)).kind
    space = get_preset(student).make(seed=0).space
    if kind == "discrete" and space.n is None:
        return False, f"{teacher} is a discrete teacher and {student} has a continuous task space"
    return True, ""


def check_settings(settings: dict[str, dict[str, Any]]) -> None:
    """Refuse a setting a teacher does not have, listing the ones it has (before any job starts)."""
    from ..errors import ConfigError
    from ..teacher import setting_names, where_settings_belong

    for teacher, values in settings.items():
        valid = setting_names(registry_name(teacher))
        unknown = [k for k in values if k not in valid]
        if unknown:  # (and which teachers take them: --set uniform.set_aside=0.9 said only uniform's own)
            raise ConfigError(
                f"{teacher} has no setting{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                f"its settings are: {', '.join(valid)}" + where_settings_belong(unknown)
            )


def _try_settings(teacher: str, student: str, values: dict[str, Any]) -> None:
    from ..errors import ConfigError
    from ..students.registry import get_preset
    from ..teacher import make_teacher

    try:
        make_teacher(registry_name(teacher), get_preset(student).make(seed=0).space, seed=0, **values)
    except (ConfigError, TypeError, ValueError) as e:
        raise ConfigError(f"--set for {teacher} does not work on {student}: {e}") from None


def check_seeds(seeds: Sequence[Any]) -> list[int]:
    """Distinct whole numbers >= 0 (what ``SeedSequence`` takes), at least one; refused before any job runs."""
    from ..errors import ConfigError
    from ..settings import whole

    out = [whole("seed", s, 0) for s in seeds]
    if not out:
        raise ConfigError("seeds is empty; give at least one seed, for example seeds=[0]")
    if len(set(out)) < len(out):
        raise ConfigError(f"seeds repeat ({out}); a repeated seed runs the same job twice, give distinct seeds")
    return out


def plan_jobs(
    teachers: Sequence[str],
    students: Sequence[str],
    seeds: Sequence[int],
    *,
    episodes: int,
    eval_every: int,
    batch: int = 1,
    settings: dict[str, dict[str, Any]] | None = None,
    max_samples: int = 1000,
) -> tuple[list[JobSpec], list[dict[str, str]]]:
    """All compatible (teacher, student, seed) jobs, and the pairs skipped with the reason."""
    from ..errors import ConfigError

    from ..settings import whole

    for name, value in (("episodes", episodes), ("eval_every", eval_every), ("batch", batch),
                        ("max_samples", max_samples)):
        whole(name, value)
    seeds = check_seeds(seeds)
    settings = settings or {}
    stray = [k for k in settings if k not in teachers]
    if stray:
        raise ConfigError(f"settings given for teachers not in the run: {', '.join(stray)}; run them or drop the "
                          f"settings{stray_settings_hint(stray, teachers)}")
    check_settings(settings)
    jobs: list[JobSpec] = []
    skipped: list[dict[str, str]] = []
    for student in students:
        for teacher in teachers:
            ok, why = compatible(teacher, student)
            if not ok:
                skipped.append({"teacher": teacher, "student": student, "reason": why})
                continue
            if settings.get(teacher):  # build it once here, so bad values fail now, not in every job
                _try_settings(teacher, student, settings[teacher])
            for seed in seeds:
                jobs.append(JobSpec(teacher, student, int(seed), int(episodes), int(eval_every), int(batch),
                                    dict(settings.get(teacher, {})), int(max_samples)))
    return jobs, skipped


# --------------------------------------------------------------------------- one job
def _grid_info(student: Any) -> dict[str, Any] | None:
    counters = getattr(student, "counters", None)
    dims, cells = getattr(student, "dims", None), getattr(student, "cells", None)
    if counters is None or dims is None or cells is None:
        return None
    info = {"dims": int(dims), "cells": int(cells), "threshold": float(getattr(student, "threshold", 75.0)),
            "cap": float(getattr(student, "cap", 100.0)), "n_cells": int(np.size(counters))}
    learnable = getattr(student, "learnable", None)
    if learnable is not None and np.size(learnable) == np.size(counters):
        info["reachable"] = int(student.reachable().sum())
        if int(dims) == 2 and not np.all(learnable):
            info["unlearnable"] = np.flatnonzero(~np.asarray(learnable, dtype=bool)).tolist()
    return info


def run_job(spec: JobSpec, progress: ProgressFn | None = None, job_index: int = 0) -> dict[str, Any]:
    """Run one job in this process and return its record (JSON-friendly)."""
    from ..settings import number, whole
    from ..students.registry import get_preset
    from ..teacher import make_teacher

    for name in ("episodes", "eval_every", "batch", "max_samples"):  # eval_every <= 0 would never end the run
        whole(name, getattr(spec, name))
    teacher_seed, student_seed = derive_seeds(spec.seed)
    if spec.student_class:
        student = _build_student(spec.student_class, spec.student_kwargs, student_seed)
    else:
        student = get_preset(spec.student).make(seed=student_seed)
    space = student.space
    # the best mastery an oracle teacher reaches in this budget (for results as a fraction of it)
    # (a student built on StudentBase without an oracle schedule inherits a best_mastery that raises
    # NotImplementedError: no ceiling, as for a student without best_mastery, not a failed job)
    oracle = getattr(student, "best_mastery", None)
    ceiling = None
    if callable(oracle):
        try:
            best = oracle(spec.episodes)
        except NotImplementedError:
            pass
        else:  # (a NaN was written as null and reported as "no ceiling": the student's bug read as no oracle)
            ceiling = number(f"best_mastery({spec.episodes}) of student {spec.student!r} "
                             f"({spec.student_class or type(student).__name__})", best,
                             hint="it is the ceiling, the mastery an oracle teacher reaches in the budget; a "
                                  "student without one has no best_mastery, or raises NotImplementedError from it")
    teacher = make_teacher(registry_name(spec.teacher), space, seed=teacher_seed, **spec.settings)
    finite = space.n is not None  # finite spaces: record task indices, not unit coordinates
    grid = _grid_info(student)
    has_learnable = callable(getattr(student, "learnable_mastery", None))

    episodes, every, batch = spec.episodes, spec.eval_every, spec.batch
    stride = max(1, -(-episodes // max(1, spec.max_samples)))
    times = np.empty(episodes, dtype=np.float64)
    eval_at: list[int] = [0]
    mastery: list[float] = [float(student.mastery())]
    learnable: list[float] = [float(student.learnable_mastery())] if has_learnable else []
    snapshots: list[list[list[float]]] = []
    if grid is not None and grid["dims"] == 2:
        snapshots.append(np.round(student.counters.reshape(grid["cells"], grid["cells"]), 3).tolist())
    sample_ep: list[int] = []
    sample_x: list[Any] = []
    scores_sum = 0.0
    perf = time.perf_counter

    def record(ep: int, task: Any) -> None:
        if ep % stride == 0:
            sample_ep.append(ep)
            if finite:
                sample_x.append(int(space.index(task)))
            else:
                sample_x.append(np.round(space.to_unit_batch([task])[0], 4).tolist())

    t_start = perf()
    ep = 0
    next_eval = every
    while ep < episodes:
        m = min(batch, episodes - ep)
        if batch == 1:
            t0 = perf()
            task = teacher.propose()
            t1 = perf()
            score = student.attempt(task)
            t2 = perf()
            teacher.observe(task, score)
            t3 = perf()
            times[ep] = (t1 - t0) + (t3 - t2)
            scores_sum += score
            record(ep, task)
        else:
            t0 = perf()
            tasks = teacher.propose(m)
            t1 = perf()
            scores = [student.attempt(t) for t in tasks]
            t2 = perf()
            teacher.observe_batch(tasks, scores)
            t3 = perf()
            times[ep:ep + m] = ((t1 - t0) + (t3 - t2)) / m
            scores_sum += float(np.sum(scores))
            for j, t in enumerate(tasks):
                record(ep + j, t)
        ep += m
        if ep >= next_eval or ep == episodes:
            while next_eval <= ep:
                next_eval += every
            eval_at.append(ep)
            mastery.append(float(student.mastery()))
            if has_learnable:
                learnable.append(float(student.learnable_mastery()))
            if snapshots:
                snapshots.append(np.round(student.counters.reshape(grid["cells"], grid["cells"]), 3).tolist())
            if progress is not None:
                progress(job_index, ep)
    wall = perf() - t_start

    # teacher time per evaluation window (mean microseconds per episode), shows refit costs
    window_us = [float(times[a:b].mean() * 1e6) for a, b in zip(eval_at[:-1], eval_at[1:])]
    record_ = {
        "teacher": spec.teacher,
        "student": spec.student,
        "seed": spec.seed,
        "teacher_seed": teacher_seed,
        "student_seed": student_seed,
        "spec": spec.to_dict(),
        "teacher_config": teacher.config(),
        "status": "ok",
        "episodes": eval_at,
        "mastery": mastery,
        "learnable_mastery": learnable or None,
        "final_mastery": mastery[-1],
        "ceiling": ceiling,
        "mean_score": scores_sum / episodes,
        "overhead": {
            "median_us": float(np.median(times) * 1e6),
            "mean_us": float(times.mean() * 1e6),
            "p99_us": float(np.quantile(times, 0.99) * 1e6),
            "max_us": float(times.max() * 1e6),
            "total_s": float(times.sum()),
            "window_mean_us": window_us,
        },
        "wall_s": wall,
        "samples": {"episode": sample_ep, "finite": finite, "n_tasks": space.n,
                    "names": list(space.task_names()) if finite and space.n <= 100 else None,
                    "dim": int(space.dim), "x": sample_x},
        "grid": grid,
        "grid_snapshots": snapshots or None,
    }
    return record_


def _build_student(path: str, kwargs: dict[str, Any], seed: int) -> Any:
    """Build ``module:Class(**kwargs, seed=seed)``; errors name the bad path."""
    import importlib

    from ..errors import ConfigError

    module, _, name = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as e:
        raise ConfigError(f"student class {path!r} cannot be imported ({e}); write it as 'package.module:Class'") from None
    return cls(**kwargs, seed=seed)


def _error_record(spec: JobSpec, exc: BaseException) -> dict[str, Any]:
    return {
        "teacher": spec.teacher, "student": spec.student, "seed": spec.seed, "spec": spec.to_dict(),
        "status": "error", "error": f"{type(exc).__name__}: {exc}",
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }


# --------------------------------------------------------------------------- workers
_PROGRESS_QUEUE: Any = None


@contextmanager
def pinned_threads() -> Iterator[None]:
    """Pin BLAS/OpenMP pools to one thread in this process and in processes started inside."""
    saved = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update({k: "1" for k in THREAD_VARS})
    try:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            ctx = nullcontext()
        else:
            ctx = threadpool_limits(limits=1)
        with ctx:
            yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _init_worker(progress_queue: Any) -> None:
    """Worker initializer: threads pinned (the environment already says 1), progress channel kept."""
    global _PROGRESS_QUEUE
    for k in THREAD_VARS:
        os.environ[k] = "1"
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)
    except ImportError:  # pragma: no cover
        pass
    _PROGRESS_QUEUE = progress_queue


def _blas_threads() -> int | None:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover
        return None
    info = threadpool_info()
    return max((int(i.get("num_threads", 1)) for i in info), default=None)


def _worker_job(spec: JobSpec, job_index: int) -> dict[str, Any]:
    q = _PROGRESS_QUEUE

    def progress(i: int, done: int) -> None:
        if q is not None:
            with _ctrl_c_held():
                q.put((i, done))

    return _run_one(spec, progress, job_index)


def _run_one(spec: JobSpec, progress: ProgressFn | None, job_index: int) -> dict[str, Any]:
    """One job's record; a job that fails gives an error record (one broken teacher must not stop the
    benchmark) and counts as done for the progress (its episodes will not come: the bar stopped short)."""
    try:
        rec = run_job(spec, progress, job_index)
    except Exception as e:  # noqa: BLE001
        rec = _error_record(spec, e)
        if progress is not None:
            progress(job_index, spec.episodes)
    rec["worker_pid"] = os.getpid()
    rec["blas_threads"] = _blas_threads()
    return rec


def default_workers() -> int:
    """Number of usable cores."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def run_bench(
    jobs: Sequence[JobSpec],
    *,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    context: str = "spawn",
) -> list[dict[str, Any]]:
    """Run ``jobs`` and return their records in the order of ``jobs``.

    ``workers=1`` runs them one after another in this process (threads pinned
    for the duration); more start a pool of ``spawn`` processes. ``progress``
    is called as ``progress(job_index, episodes_done)`` from this process.
    """
    import multiprocessing as mp

    from ..settings import whole

    workers = default_workers() if workers is None else whole("workers", workers)
    results: list[dict[str, Any] | None] = [None] * len(jobs)
    if not jobs:
        return []
    if workers == 1 or len(jobs) == 1:
        with pinned_threads():
            try:
                for i, spec in enumerate(jobs):
                    results[i] = _run_one(spec, progress, i)
            except KeyboardInterrupt:  # (the finished jobs' records went with it, without a word)
                raise Interrupted(results) from None
        return results  # type: ignore[return-value]

    ctx = mp.get_context(context)
    q = ctx.Queue()

    def drain() -> None:
        while True:
            try:
                i, done = q.get_nowait()
            except queue_mod.Empty:
                return
            if progress is not None:
                progress(i, done)

    with pinned_threads():
        try:
            results = run_in_pool(_worker_job, list(zip(jobs, range(len(jobs)))), workers=workers, context=ctx,
                                  initializer=_init_worker, initargs=(q,), tick=drain, star=True)
        finally:
            drain()
            q.close()
    return results  # type: ignore[return-value]


def run_bench_kept(jobs: Sequence[JobSpec], *, workers: int | None = None, progress: ProgressFn | None = None
                   ) -> tuple[list[dict[str, Any]], Interrupted | None]:
    """:func:`run_bench` for ``magister bench`` (``--suite`` too): its records and None, or after a Ctrl-C the
    records of the finished jobs and the :class:`Interrupted`, for the caller to keep them (marked) before the
    interrupt goes on."""
    try:
        return run_bench(jobs, workers=workers, progress=progress), None
    except Interrupted as e:
        return [r for r in e.records if r is not None], e


def run_jobs(fn: Callable[..., Any], items: Sequence[Any], *, workers: int,
             on_result: Callable[[int, Any], None] | None = None, star: bool = False) -> list[Any]:
    """:func:`run_in_pool` for ``workers`` > 1, else ``fn`` on each item here, one after the other (the
    ``benchmarks/*.py`` scripts' ``--workers 1``); the same results either way, and the same Ctrl-C:
    :class:`Interrupted` with the results of the items that finished."""
    if workers > 1:
        return run_in_pool(fn, items, workers=workers, on_result=on_result, star=star)
    results: list[Any] = [None] * len(items)
    try:
        for i, item in enumerate(items):
            results[i] = fn(*item) if star else fn(item)
            if on_result is not None:
                on_result(i, results[i])
    except KeyboardInterrupt:
        raise Interrupted(results) from None
    return results


def exit_interrupted(exc: Interrupted, kept: str | Path | None = None, what: str = "runs") -> NoReturn:
    """End a ``benchmarks/*.py`` script stopped by Ctrl-C (``exc`` from :func:`run_jobs` / :func:`run_in_pool`): one
    line on stderr, how many of the ``what`` finished and the file that keeps them (``kept``; ``None``: this
    script writes its results once all have finished), then exit status 130, as a shell's for Ctrl-C. An error that
    came with the Ctrl-C (``exc.error``) is named on a line before it (it was dropped unseen), as ``magister bench``
    does."""
    if exc.error is not None:
        print(f"note: while stopping, an error came too: {type(exc.error).__name__}: {exc.error}", file=sys.stderr,
              flush=True)
    if not exc.finished:
        where = ""
    elif kept is None:
        where = " (not kept: this script writes its results once every run has finished)"
    else:
        where = f"; they are kept in {kept}"
    print(f"interrupted: {exc.finished} of {len(exc.records)} {what} finished{where}", file=sys.stderr, flush=True)
    raise SystemExit(130) from None


def environment() -> dict[str, Any]:
    """Where the benchmark ran (for the results file)."""
    import magister

    return {
        "magister": magister.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cores": default_workers(),
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def timestamp() -> str:
    """The UTC time to the microsecond, for default output folder names (to the second, two runs started in
    the same second shared one folder)."""
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")


def default_out(prefix: str) -> str:
    """A default output folder ``PREFIX-<UTC timestamp>``, with ``-2``, ``-3``... added while that folder is
    already there: an earlier run's files are never mixed with this run's."""
    base = f"{prefix}-{timestamp()}"
    path, n = base, 1
    while Path(path).exists():
        n += 1
        path = f"{base}-{n}"
    return path
