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
import signal
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

__all__ = [
    "JobSpec",
    "THREAD_VARS",
    "derive_seeds",
    "run_job",
    "run_bench",
    "plan_jobs",
    "resolve_teachers",
    "registry_name",
    "resolve_students",
    "compatible",
    "Interrupted",
    "ReportInterrupted",
    "run_in_pool",
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


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a benchmark. ``records`` holds the record of every job that finished (``None`` for
    the others, in the order of the jobs); ``results``, ``written`` and ``moved`` are filled in by the caller
    that kept the finished ones (the results dict, the files it wrote, if any, and a line for each earlier
    interrupted run's file it moved aside first). ``error`` is an error that came while the Ctrl-C was handled
    (also this exception's ``__cause__``), or ``None``: the Ctrl-C stops the run, the error is not hidden."""

    def __init__(self, records: list[dict[str, Any] | None], error: BaseException | None = None) -> None:
        super().__init__()
        self.records = records
        self.error = error
        self.results: dict[str, Any] | None = None
        self.written: list[str] = []
        self.moved: list[str] = []

    @property
    def finished(self) -> int:
        return sum(r is not None for r in self.records)


class ReportInterrupted(Interrupted):
    """Ctrl-C after every run finished, while the output files were written (:func:`~magister.bench.report.
    write_outputs`). ``records`` holds every run's record; ``written`` the results files, written whole (a Ctrl-C
    is held back until both are); ``drawn`` the report's files written before the Ctrl-C; ``missing`` those not
    written; ``redo`` a shell command that writes the report again from the results files."""

    def __init__(self, records: list[dict[str, Any] | None], error: BaseException | None = None) -> None:
        super().__init__(records, error)
        self.drawn: list[str] = []
        self.missing: list[str] = []
        self.redo = ""


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


def resolve_teachers(names: Sequence[str] | None) -> list[str]:
    """Check teacher names (or ``NAME@TAG`` labels) against the registry (``None``: all registered)."""
    from ..errors import ConfigError
    from ..teacher import available_teachers, near_teacher_name

    available = available_teachers()
    if not names:
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
    return list(dict.fromkeys(names))


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
    """Check student preset names (``None``: the default ``grid``)."""
    from ..errors import ConfigError
    from ..students.registry import all_presets, available_students, get_preset

    if not names:
        return ["grid"]
    unknown = [n for n in names if n not in all_presets()]
    if unknown:
        raise ConfigError(
            f"unknown student{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"available: {', '.join(available_students())}"
        )
    for n in names:
        get_preset(n)  # raises a clear error if the student class is not installed
    return list(dict.fromkeys(names))


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
    from ..settings import whole
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
    try:
        ceiling = float(oracle(spec.episodes)) if callable(oracle) else None
    except NotImplementedError:
        ceiling = None
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


#: SIGINT can be blocked (held pending) per thread: POSIX; not on Windows
_CAN_BLOCK = hasattr(signal, "pthread_sigmask")
#: a Ctrl-C reached this pool worker while it started: its next item stops at once (the main process got it too)
_interrupted_at_start = False


def _note_interrupt_at_start(signum: int, frame: Any) -> None:
    global _interrupted_at_start
    _interrupted_at_start = True


@contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Hold back Ctrl-C for a short step that must not stop halfway: it is raised as the block ends, never lost
    (no ``SIG_IGN``, which lost it: another thread took it while ignored).

    SIGINT is *blocked* in this thread meanwhile, and a Python handler that only takes note replaces the one in
    place (in the main thread), so neither a Ctrl-C taken by another thread nor one pending until the mask is
    restored interrupts the step. Around ``pool.submit``, which starts the pool's workers, this also starts
    each worker with Ctrl-C blocked (it inherits this thread's mask), so a Ctrl-C while its interpreter starts
    and imports, for seconds, stays pending until :func:`_pool_init` takes note of it, instead of killing it
    with a ``KeyboardInterrupt`` traceback and breaking the pool; and a worker started but not yet known to the
    pool is never left behind (never told to stop, it hung the process at exit). In a worker, around the
    progress channel's ``put``: interrupted halfway through its first, which starts the channel's thread, the
    worker hung at exit."""
    main = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT) if main else None
    held = callable(handler)
    pressed: list[int] = []
    if held:
        signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if _CAN_BLOCK else None
    error: BaseException | None = None
    try:
        yield
    except BaseException as e:  # (the held Ctrl-C went with it, unseen: it is raised now, caused by the error)
        error = e
        raise
    finally:
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a Ctrl-C pending meanwhile goes to `pressed` now
        if held:
            signal.signal(signal.SIGINT, handler)  # (runs any handler still due before switching back)
        if pressed and callable(handler):
            try:
                handler(signal.SIGINT, None)  # as if pressed now: the default handler raises KeyboardInterrupt
            except KeyboardInterrupt as ctrl_c:
                if error is None or error is ctrl_c:
                    raise
                raise ctrl_c from error


def _pool_init(initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    """A pool worker's start: Ctrl-C ignored while it waits for an item (a Ctrl-C from the terminal reaches every
    worker, and an idle one died printing a ``KeyboardInterrupt`` traceback in the middle of the output).

    A worker started by :func:`run_in_pool` comes with Ctrl-C blocked (:func:`_ctrl_c_held`); it stays
    blocked through ``initializer``, and a Ctrl-C that came meanwhile is noted as it is unblocked here, so the
    worker's first item raises ``KeyboardInterrupt`` at once instead of running for minutes."""
    global _interrupted_at_start
    _interrupted_at_start = False
    blocked = _CAN_BLOCK and signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, ())
    # (setting SIG_IGN would discard a pending Ctrl-C unseen; an inherited SIG_IGN means Ctrl-C is not for us)
    note = blocked and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
    signal.signal(signal.SIGINT, _note_interrupt_at_start if note else signal.SIG_IGN)
    try:
        if initializer is not None:
            initializer(*initargs)
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # a pending Ctrl-C is noted here
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _pool_call(fn: Callable[..., Any], star: bool, item: Any) -> Any:
    """``fn(item)`` (``fn(*item)`` with ``star``) in a pool worker, Ctrl-C interrupting it as usual; a Ctrl-C
    that came while the worker started interrupts its first item before it begins."""
    global _interrupted_at_start
    if _interrupted_at_start:
        _interrupted_at_start = False
        raise KeyboardInterrupt
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return fn(*item) if star else fn(item)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _from_ctrl_c(error: BaseException) -> bool:
    """``error`` came while a Ctrl-C unwound: two in a row (``timeout -s INT`` sends two; a second press) can
    break ``threading``'s locks midway, the second interrupting the first one's clean-up in ``wait``, which then
    raised ``RuntimeError: release unlocked lock``. :func:`run_in_pool` then stops as for the Ctrl-C, with the
    error attached to its :class:`Interrupted` (it may be a real one: it was hidden)."""
    seen: BaseException | None = error.__context__
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__context__
    return False


def _shut_down(pool: ProcessPoolExecutor) -> bool:
    """``pool.shutdown(wait=True)``: the running items end first. A Ctrl-C while waiting for them (a second one,
    or the first for a pool that was not interrupted) stops them instead, ending the workers, and returns True:
    raised, it lost the results kept so far, and the process could hang at exit joining a worker."""
    stopped = False
    while True:
        try:
            pool.shutdown(wait=True)
            return stopped
        except KeyboardInterrupt:
            stopped = True
            for p in list((getattr(pool, "_processes", None) or {}).values()):  # (no public way before 3.14)
                p.terminate()


def run_in_pool(fn: Callable[..., Any], items: Sequence[Any], *, workers: int, context: Any = "spawn",
                initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = (),
                on_result: Callable[[int, Any], None] | None = None, tick: Callable[[], None] | None = None,
                star: bool = False) -> list[Any]:
    """``fn(item)`` (``fn(*item)`` with ``star``) for every item in a pool of ``workers`` processes; the results
    in the order of ``items``. ``on_result(index, result)`` runs here as each finishes, ``tick()`` every
    quarter second.

    At most ``workers`` items are handed to the pool at a time, so Ctrl-C stops after the running ones (a Ctrl-C
    from the terminal interrupts those too); handed out all at once, the items already queued to a worker
    still ran to the end, for minutes, before the pool shut down. Ctrl-C raises :class:`Interrupted` with the
    results of the items that finished (``None`` for the others), those that finished while the pool shut down
    included; another Ctrl-C while it waits for the running items stops those (ends the workers) instead. A
    Ctrl-C while a worker starts is held until it has started (:func:`_ctrl_c_held`, :func:`_pool_init`).
    """
    import multiprocessing as mp

    ctx = mp.get_context(context) if isinstance(context, str) else context
    results: list[Any] = [None] * len(items)
    todo = iter(range(len(items)))
    running: dict[Any, int] = {}
    interrupted = False
    hidden: BaseException | None = None  # an error that came with the Ctrl-C
    pool = ProcessPoolExecutor(max_workers=min(workers, len(items)) or 1, mp_context=ctx, initializer=_pool_init,
                               initargs=(initializer, initargs))

    def hand_out() -> None:
        while len(running) < workers:
            i = next(todo, None)
            if i is None:
                return
            with _ctrl_c_held():  # (a Ctrl-C meanwhile is raised as it ends, not lost)
                running[pool.submit(_pool_call, fn, star, items[i])] = i

    try:
        try:
            hand_out()
            while running:
                done, _ = wait(running, timeout=0.25, return_when=FIRST_COMPLETED)
                if tick is not None:
                    tick()
                for f in done:
                    results[running[f]] = f.result()
                    i = running.pop(f)
                    if on_result is not None:
                        on_result(i, results[i])
                hand_out()
        except KeyboardInterrupt as e:
            interrupted = True
            if e.__cause__ is not None and not isinstance(e.__cause__, KeyboardInterrupt):
                hidden = e.__cause__  # (a step's error, a Ctrl-C held back during it: _ctrl_c_held)
        except BaseException as e:
            if not _from_ctrl_c(e):
                for f in running:
                    f.cancel()
                raise
            interrupted = True  # (it lost the finished results, and `magister bench` printed a traceback)
            hidden = e  # (and the error was dropped unseen: it may be a real one)
    finally:
        if _shut_down(pool):
            interrupted = True
    if interrupted:  # keep the items that finished, also those that ended while the pool shut down
        for f, i in running.items():
            if results[i] is None and f.done() and not f.cancelled() and f.exception() is None:
                results[i] = f.result()
        # (even when all of them did: a Ctrl-C that went on as if unpressed was lost)
        raise Interrupted(results, hidden) from hidden
    return results


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
