"""Student suites: judge teachers on many learners at once, as a fraction of what is achievable.

A teacher tuned on one simulated learner can fall apart on the next. A *suite*
is a named list of :class:`Variant` s, each a simulated student (a
:class:`~magister.students.grid.GridStudent` or
:class:`~magister.students.skills.SkillStudent` with chosen settings, or any
student class) with its own episode budget. Each variant's student has an
oracle, ``best_mastery(budget)``: the mastery a teacher that knows the
student's inner state reaches in that budget. Results are reported as a
fraction of that *ceiling*, so variants of different difficulty can be
averaged.

Suites shipped:

* ``quick``: five small variants (grids and skill graphs) for a smoke run;
* ``standard``: grids of 2-4 dimensions, 4-10 cells per dimension, 0-8
  distractor dimensions, score noise 0-0.1, forgetting and unlearnable cells,
  and skill graphs of 5-50 skills with noise, forgetting and random
  prerequisites.

Run one with ``magister bench --suite standard`` (or :func:`run_suite`). Add a
variant with :func:`add_variant` (or a whole suite with :func:`register_suite`)
before running, for example in a script::

    from magister.bench.suite import Variant, add_variant, run_suite, suite_tables
    add_variant("standard", Variant("grid-2d-7-noisy", "grid", {"cells": 7, "noise": 0.2}, episodes=10000))

    if __name__ == "__main__":  # the workers are new processes: a script runs the suite only from its main module
        results = run_suite("standard", seeds=[0, 1, 2], workers=2)
        print(suite_tables(results))

``student`` is ``"grid"``, ``"skills"`` or any ``"package.module:Class"``
whose constructor takes the ``kwargs`` plus ``seed=``, and that has ``space``,
``attempt(task)``, ``mastery()`` and, for the ceiling, ``best_mastery(budget)``
(without it the fraction of ceiling is left out).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .report import _md, median_range, reaches, verdict_text, write_text

__all__ = [
    "Variant",
    "SUITES",
    "CONTINUOUS_TEACHERS",
    "DISCRETE_TEACHERS",
    "register_suite",
    "add_variant",
    "available_suites",
    "get_suite",
    "plan_suite",
    "run_suite",
    "suite_summary",
    "suite_tables",
    "write_docs_table",
]

#: short names for the shipped student classes
STUDENT_CLASSES = {
    "grid": "magister.students.grid:GridStudent",
    "skills": "magister.students.skills:SkillStudent",
}

#: teachers a suite runs by default on continuous and on finite task spaces
CONTINUOUS_TEACHERS = ("uniform", "riac", "riac-plus", "frontier", "alp-gmm", "covar-gmm", "covar-gmm-plus", "adr")
DISCRETE_TEACHERS = ("uniform", "exp3", "lp-bandit", "sec", "skill-it")

#: the two suite targets: a teacher "holds up" on a variant when it reaches this many times
#: uniform's mastery, or comes within this many points (percent) of the ceiling
RATIO_TARGET = 1.3
POINTS_TARGET = 5.0


@dataclass(frozen=True)
class Variant:
    """One simulated learner of a suite: ``student`` class (short name or ``module:Class``),
    its constructor ``kwargs`` (the seed is added per run), and the episode budget."""

    name: str
    student: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    episodes: int = 20000
    description: str = ""
    #: evaluate mastery every this many episodes (default: a twentieth of the budget)
    eval_every: int | None = None

    def __post_init__(self) -> None:
        from ..settings import whole

        # checked here, not in a worker: eval_every=-5 looped forever there, 0 was replaced silently
        whole(f"variant {self.name!r}: episodes", self.episodes)
        if self.eval_every is not None:
            whole(f"variant {self.name!r}: eval_every", self.eval_every, hint="or None: a twentieth of the budget")

    @property
    def student_class(self) -> str:
        return STUDENT_CLASSES.get(self.student, self.student)

    def make(self, seed: Any = 0) -> Any:
        """Build this variant's student with ``seed``; a class that does not take the settings, or is not a student,
        is refused naming the variant (it was the constructor's bare ``TypeError``, naming no variant)."""
        from ..errors import ConfigError
        from .runner import _build_student

        try:
            student = _build_student(self.student_class, dict(self.kwargs), seed)
        except TypeError as e:
            if isinstance(e, ConfigError):  # the student's own refusal of a setting names it already
                raise
            raise ConfigError(f"variant {self.name!r}: {self.student_class} cannot be built with {self.kwargs!r} "
                              f"plus seed= ({e}); the settings are its constructor's keyword arguments") from e
        lacks = [a for a in ("space", "attempt", "mastery") if not hasattr(student, a)]
        if lacks:
            raise ConfigError(f"variant {self.name!r}: {self.student_class} is not a student: it has no "
                              f"{', '.join(lacks)} (a student has space, attempt(task) -> score and mastery())")
        return student

    def every(self, episodes: int) -> int:
        return self.eval_every or max(1, episodes // 20)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "student_class": self.student_class}


def _grid(name: str, episodes: int, description: str, **kwargs: Any) -> Variant:
    return Variant(name, "grid", kwargs, episodes, description)


def _skills(name: str, episodes: int, description: str, **kwargs: Any) -> Variant:
    return Variant(name, "skills", kwargs, episodes, description)


def _unl(n: int, k: int) -> list[str]:
    """The last ``k`` of ``n`` skills (names ``s0 ..``), made unlearnable."""
    return [f"s{i}" for i in range(n - k, n)]


SUITES: dict[str, list[Variant]] = {
    "quick": [
        _grid("grid-2d-4", 2500, "2-D, 4 cells per dimension", cells=4),
        _grid("grid-3d-4-noisy", 6000, "3-D, 4 cells, 2 distractors, noise 0.05",
              dims=3, cells=4, distractors=2, noise=0.05),
        _grid("grid-2d-6-forget", 5000, "2-D, 6 cells, forgetting 0.002", cells=6, forgetting=0.002),
        _skills("skills-10", 1000, "the default skill graph (10 skills, one unlearnable)"),
        _skills("skills-20-random", 2000, "20 skills, random prerequisites, noise 0.1, forgetting 0.0005",
                skills=20, prerequisites="random", unlearnable=_unl(20, 2), noise=0.1, forgetting=0.0005),
    ],
    "standard": [
        _grid("grid", 20000, "the reference grid: 2-D, 10 cells per dimension"),
        _grid("grid-2d-4", 2500, "2-D, 4 cells per dimension", cells=4),
        _grid("grid-2d-8", 12000, "2-D, 8 cells per dimension", cells=8),
        _grid("grid-3d-5", 20000, "3-D, 5 cells per dimension (the grid-3d preset)", dims=3, cells=5),
        _grid("grid-4d-4", 20000, "4-D, 4 cells per dimension (256 cells)", dims=4, cells=4),
        _grid("grid-distract-4", 20000, "reference grid plus 4 distractor dimensions", distractors=4),
        _grid("grid-distract-8", 20000, "reference grid plus 8 distractor dimensions", distractors=8),
        _grid("grid-noise-0.1", 20000, "reference grid, score noise 0.1", noise=0.1),
        _grid("grid-hard", 20000, "2 distractors, noise 0.05, 10% unlearnable (the grid-hard preset)",
              distractors=2, noise=0.05, unlearnable=0.1),
        _grid("grid-forget", 20000, "reference grid, forgetting 0.002 per episode", forgetting=0.002),
        _grid("grid-unlearnable-0.3", 20000, "reference grid, 30% unlearnable cells", unlearnable=0.3),
        _grid("grid-3d-6-mixed", 20000, "3-D, 6 cells, 3 distractors, noise 0.05, forgetting 0.001",
              dims=3, cells=6, distractors=3, noise=0.05, forgetting=0.001),
        _skills("skills-5-chain", 600, "5 skills in a chain", skills=5, prerequisites="chain", unlearnable=[]),
        _skills("skills-10", 1500, "the default skill graph (10 skills, one unlearnable)"),
        _skills("skills-10-noisy", 1500, "default graph, noise 0.1 on the success probability", noise=0.1),
        _skills("skills-10-forget", 2000, "default graph, forgetting 0.0005", forgetting=0.0005),
        _skills("skills-20-random", 3000, "20 skills, random prerequisites, 3 unlearnable",
                skills=20, prerequisites="random", unlearnable=_unl(20, 3)),
        _skills("skills-50-random-noisy", 6000, "50 skills, random prerequisites, 5 unlearnable, noise 0.1",
                skills=50, prerequisites="random", unlearnable=_unl(50, 5), noise=0.1),
        _skills("skills-50-forget", 8000, "50 skills, random prerequisites, forgetting 0.0002",
                skills=50, prerequisites="random", unlearnable=_unl(50, 5), forgetting=0.0002),
    ],
    # grid learners kept out of every choice of setting (the continuous teachers' defaults were chosen on the
    # standard suite's grids): run a teacher here to see whether what it was tuned on carries over
    "grids-heldout": [
        _grid("grid-2d-6-noisy", 6000, "2-D, 6 cells per dimension, noise 0.05", cells=6, noise=0.05),
        _grid("grid-3d-4-distract-2", 12000, "3-D, 4 cells, 2 distractor dimensions",
              dims=3, cells=4, distractors=2),
        _grid("grid-2d-12", 30000, "2-D, 12 cells per dimension (144 cells)", cells=12),
        _grid("grid-threshold-50", 12000, "reference grid, a cell mastered at 50 (not 75)", threshold=50.0),
        _grid("grid-threshold-90", 24000, "reference grid, a cell mastered at 90 (not 75)", threshold=90.0),
        _grid("grid-noise-0.2-forget", 20000, "reference grid, noise 0.2, forgetting 0.001",
              noise=0.2, forgetting=0.001),
        _grid("grid-unlearnable-0.5-distract-2", 20000, "reference grid, 50% unlearnable, 2 distractors",
              unlearnable=0.5, distractors=2),
        _grid("grid-4d-3-noisy", 15000, "4-D, 3 cells per dimension (81 cells), noise 0.05",
              dims=4, cells=3, noise=0.05),
    ],
    # skill graphs kept out of every choice of setting (set_aside was chosen on the standard suite's seven):
    # run a teacher here to see whether what it was tuned on carries over
    "skills-heldout": [
        _skills("skills-100-random", 12000, "100 skills, random prerequisites, 10 unlearnable",
                skills=100, prerequisites="random", unlearnable=_unl(100, 10)),
        _skills("skills-30-mixed-rates", 4000, "30 skills, random prerequisites, learning rates 0.01 to 0.05",
                skills=30, prerequisites="random", unlearnable=_unl(30, 1),
                rate=[round(0.01 + 0.04 * i / 29, 6) for i in range(30)]),
        _skills("skills-10-chain-forget-noisy", 2500, "10 skills in a chain, forgetting 0.001, noise 0.1",
                skills=10, prerequisites="chain", unlearnable=[], forgetting=0.001, noise=0.1),
        _skills("skills-20-probability", 2500, "20 skills, random prerequisites, scores = success probability",
                skills=20, prerequisites="random", unlearnable=_unl(20, 2), scores="probability"),
        _skills("skills-20-chance-0.3", 2500, "20 skills, random prerequisites, chance 0.3",
                skills=20, prerequisites="random", unlearnable=_unl(20, 1), chance=0.3),
        _skills("skills-20-fast-noisy", 1500, "20 skills, random prerequisites, rate 0.05, noise 0.2",
                skills=20, prerequisites="random", unlearnable=_unl(20, 1), rate=0.05, noise=0.2),
        _skills("skills-30-heavy-forget", 6000, "30 skills, random prerequisites, forgetting 0.001",
                skills=30, prerequisites="random", unlearnable=_unl(30, 2), forgetting=0.001),
    ],
}


def _check_variant(variant: Any, where: str) -> None:
    from ..errors import ConfigError

    if not isinstance(variant, Variant):
        raise ConfigError(f"{where}: each variant is a Variant(name, student, kwargs, episodes), got "
                          f"{type(variant).__name__} {variant!r}")


def register_suite(name: str, variants: Iterable[Variant], *, replace: bool = False) -> None:
    """Make a suite of ``variants`` (one or more :class:`Variant`, distinct names) available by ``name``
    (``replace=True`` to redefine one)."""
    from ..errors import ConfigError

    if not isinstance(name, str) or not name:  # (None was taken, and run_suite(None) ran it)
        raise ConfigError(f"a suite's name is non-empty text, got {name!r}")
    if name in SUITES and not replace:
        raise ConfigError(f"a suite named {name!r} already exists; pass replace=True to redefine it")
    # (a Variant not in a list, or dicts, failed with a raw AttributeError; a generator was read up by the name
    # check and the suite registered empty, and planning an empty one said "no teacher in the run fits the variants
    # of suite 'x': teachers ; variants ")
    if isinstance(variants, (Variant, str, bytes, Mapping)) or not isinstance(variants, Iterable):
        raise ConfigError(f"register_suite({name!r}, variants): variants is a list of Variant, got "
                          f"{type(variants).__name__}")
    variants = list(variants)
    if not variants:
        raise ConfigError(f"suite {name!r} needs at least one variant, got none")
    for v in variants:
        _check_variant(v, f"register_suite({name!r}, variants)")
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ConfigError(f"variant names repeat in suite {name!r}: {names}; give each a distinct name")
    SUITES[name] = list(variants)


def add_variant(suite: str, variant: Variant) -> None:
    """Add ``variant`` to ``suite`` (a name already in the suite is refused)."""
    from ..errors import ConfigError

    variants = get_suite(suite)
    _check_variant(variant, f"add_variant({suite!r}, variant)")  # (a raw AttributeError, for a dict or a name)
    if any(v.name == variant.name for v in variants):
        raise ConfigError(f"suite {suite!r} already has a variant {variant.name!r}; choose another name")
    variants.append(variant)


def available_suites() -> list[str]:
    return sorted(SUITES)


def get_suite(name: str) -> list[Variant]:
    from ..errors import ConfigError

    from ..teacher import near_teacher_name

    try:
        return SUITES[name]
    except KeyError:
        raise ConfigError(f"unknown suite {name!r}{near_teacher_name(name, available_suites())}; "
                          f"available: {', '.join(available_suites())}") from None


def _kind(variant: Variant) -> str:
    return "discrete" if variant.make(seed=0).space.n is not None else "continuous"


def plan_suite(
    name: str,
    teachers: Sequence[str] | None = None,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    *,
    variants: Sequence[str] | None = None,
    episodes: int | None = None,
    settings: dict[str, dict[str, Any]] | None = None,
) -> tuple[list[Any], list[Variant]]:
    """The jobs of a suite: every variant x fitting teacher x seed (``episodes`` overrides every budget).

    ``teachers=None``: :data:`CONTINUOUS_TEACHERS` on continuous variants and
    :data:`DISCRETE_TEACHERS` on finite ones; otherwise the named teachers on every
    variant of their kind (a discrete teacher skips continuous variants and the reverse). ``variants=None``: every
    variant of the suite. One name given as text (``variants="skills-10"``) is a list of one; an empty list of
    teachers or variants is refused.
    """
    from ..errors import ConfigError
    from ..settings import whole
    from ..teacher import make_teacher, near_teacher_name, teacher_class
    from .runner import JobSpec, check_seeds, check_settings, name_list, registry_name, resolve_teachers, \
        stray_settings_hint

    chosen = get_suite(name)
    variants, teachers = name_list("variants", variants), name_list("teachers", teachers)
    if variants is not None:
        known = {v.name for v in chosen}
        unknown = [v for v in variants if v not in known]
        if unknown:  # (a typo got the whole list, 19 names in standard, and no hint which was meant)
            near = near_teacher_name(unknown[0], sorted(known)) if len(unknown) == 1 else ""
            raise ConfigError(f"suite {name!r} has no variant {', '.join(map(repr, unknown))}{near}; "
                              f"its variants: {', '.join(sorted(known))}")
        chosen = [v for v in chosen if v.name in set(variants)]
    if episodes is not None:
        whole("episodes", episodes)
    seeds = check_seeds(seeds)
    explicit = resolve_teachers(teachers) if teachers is not None else None
    settings = settings or {}
    check_settings(settings)
    tried: set[tuple[str, str]] = set()
    jobs = []
    for v in chosen:
        kind = _kind(v)
        names = explicit or list(CONTINUOUS_TEACHERS if kind == "continuous" else DISCRETE_TEACHERS)
        n = int(episodes or v.episodes)
        for t in names:
            if teacher_class(registry_name(t)).kind not in (kind, "any"):
                continue
            if settings.get(t) and (t, kind) not in tried:  # bad values fail now, not in every job
                tried.add((t, kind))
                try:
                    make_teacher(registry_name(t), v.make(seed=0).space, seed=0, **settings[t])
                except (ConfigError, TypeError, ValueError) as e:
                    raise ConfigError(f"--set for {t} does not work on {v.name}: {e}") from None
            for s in seeds:
                jobs.append(JobSpec(t, v.name, int(s), n, v.every(n), 1, dict(settings.get(t, {})), 200,
                                    v.student_class, dict(v.kwargs)))
    if not jobs:  # (it said only "no teacher fits": not which kinds met, nor what to do)
        kinds = {k: [v.name for v in chosen if _kind(v) == k] for k in ("continuous", "discrete")}
        have = ", ".join(f"{t} ({teacher_class(registry_name(t)).kind})" for t in explicit or [])
        raise ConfigError(
            f"no teacher in the run fits the variants of suite {name!r}: teachers {have}; variants "
            + "; ".join(f"{', '.join(vs)} ({k})" for k, vs in kinds.items() if vs)
            + " (continuous teachers run on the grids, discrete ones on the skill graphs); add a teacher of the "
            "variants' kind to --teachers (see magister teachers), or choose variants of the teachers' kind "
            "with --variants")
    used = {j.teacher for j in jobs}
    stray = [t for t in settings if t not in used]
    if stray:  # they would be dropped silently
        raise ConfigError(f"settings given for teachers that run on no variant of the run: {', '.join(stray)} "
                          f"(teachers run: {', '.join(sorted(used))}); name them in teachers (--teachers) with "
                          f"variants of their kind, or drop the settings{stray_settings_hint(stray, sorted(used))}")
    return jobs, chosen


def run_suite(
    name: str,
    teachers: Sequence[str] | None = None,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    *,
    variants: Sequence[str] | None = None,
    episodes: int | None = None,
    settings: dict[str, dict[str, Any]] | None = None,
    workers: int | None = None,
    out: str | Path | None = None,
    progress: Any = None,
    on_plan: Any = None,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run a suite in parallel worker processes; returns the results (written to ``out`` when given). An earlier
    interrupted run's files in ``out`` are moved aside first, saying so through ``echo`` (as ``run_benchmark``)."""
    import time

    from ..settings import whole
    from . import report as report_mod
    from .runner import default_workers, environment, run_bench_kept

    workers = default_workers() if workers is None else whole("workers", workers)  # checked before any planning
    jobs, chosen = plan_suite(name, teachers, seeds, variants=variants, episodes=episodes, settings=settings)
    if on_plan is not None:
        on_plan(jobs, [])
    report_mod.keep_earlier_interrupted(out, echo)  # (a finished run removed them, and the runs they kept)
    t0 = time.perf_counter()
    records, interrupted = run_bench_kept(jobs, workers=workers, progress=progress)  # (Ctrl-C: the finished jobs)
    results: dict[str, Any] = {
        "format": report_mod.FORMAT,
        "environment": environment(),
        "suite": name,
        "config": {"teachers": sorted({j.teacher for j in jobs}), "students": [v.name for v in chosen],
                   "seeds": [int(s) for s in seeds], "episodes": episodes, "workers": workers,
                   "settings": settings or {}},
        "variants": {v.name: v.to_dict() for v in chosen},
        "students": {v.name: {"name": v.name, "description": v.description, "reference": {}} for v in chosen},
        "skipped": [],
        "wall_s": time.perf_counter() - t0,
        "jobs": records,
    }
    if interrupted is not None:  # (no suite.md: its tables would read as the whole suite)
        raise report_mod.keep_interrupted(interrupted, results, len(jobs), out)
    if out is not None:
        def write() -> tuple[Path, Path]:
            report_mod.clear_outputs(out)  # a re-used folder: an earlier run's report and pictures are not this run's
            return report_mod.write_results(results, out)

        folder = json.dumps(str(out))
        # (a Ctrl-C while suite.md is written: ReportInterrupted, naming what was written and how to write suite.md)
        report_mod.write_outputs(out, records, write,
                                 lambda: report_mod.write_text(Path(out, "suite.md"), suite_tables(results) + "\n"),
                                 report_files=("suite.md",), main=("suite.md",), redo=report_mod.redo_command(
                                     "from pathlib import Path; from magister.bench.report import load_results, "
                                     "write_text; from magister.bench.suite import suite_tables; write_text(Path("
                                     f"{folder}, 'suite.md'), suite_tables(load_results({folder})) + '\\n')"))
    return results


# --------------------------------------------------------------------------- tables
def _med(values: Sequence[float]) -> float:
    return float(np.median(values)) if len(values) else math.nan


def suite_summary(results: dict[str, Any]) -> dict[str, Any]:
    """Per variant and teacher: medians over seeds of mastery, ceiling, fraction of ceiling,
    ratio to uniform; per teacher: the summary over variants."""
    variants = list(results.get("variants") or dict.fromkeys(j["student"] for j in results["jobs"]))
    per: dict[str, dict[str, dict[str, Any]]] = {}
    for v in variants:
        rows: dict[str, dict[str, Any]] = {}
        for j in results["jobs"]:
            if j["student"] != v:
                continue
            r = rows.setdefault(j["teacher"], {"final": [], "ceiling": [], "fraction": [], "us": [], "failed": 0})
            if j.get("status") != "ok":
                r["failed"] += 1
                continue
            r["final"].append(100.0 * j["final_mastery"])
            r["us"].append(j["overhead"]["mean_us"])
            if j.get("ceiling") is not None:
                r["ceiling"].append(100.0 * j["ceiling"])
                if j["ceiling"] > 0:  # (a seed with nothing to master has no fraction: a NaN made the median NaN
                    r["fraction"].append(j["final_mastery"] / j["ceiling"])  # and dropped the whole variant)
        uni = _med(rows["uniform"]["final"]) if "uniform" in rows and rows["uniform"]["final"] else math.nan
        for r in rows.values():
            m = _med(r["final"])
            r.update(median=m, min=min(r["final"], default=math.nan), max=max(r["final"], default=math.nan),
                     ceiling_median=_med(r["ceiling"]), fraction_median=_med(r["fraction"]),
                     us_median=_med(r["us"]))
            r["x_uniform"] = (m / uni if uni > 0 else (math.inf if m > 0 else math.nan)) if not math.isnan(uni) \
                else math.nan
            # (up to float rounding: exactly 1.3x uniform, or exactly 5 points below the ceiling, is a pass)
            r["ratio_ok"] = reaches(r["x_uniform"], RATIO_TARGET)
            r["ceiling_ok"] = reaches(m, r["ceiling_median"] - POINTS_TARGET)
        per[v] = rows
    teachers = sorted({t for rows in per.values() for t in rows})
    summary = {}
    for t in teachers:
        mine = [(v, per[v][t]) for v in variants if t in per[v]]
        fr = [r["fraction_median"] for _, r in mine if not math.isnan(r["fraction_median"])]
        summary[t] = {
            "variants": len(mine),
            "mean_fraction": float(np.mean(fr)) if fr else math.nan,
            "min_fraction": float(np.min(fr)) if fr else math.nan,
            "ratio_ok": sum(r["ratio_ok"] for _, r in mine),
            "ceiling_ok": sum(r["ceiling_ok"] for _, r in mine),
            "holds": sum(r["ratio_ok"] or r["ceiling_ok"] for _, r in mine),
            "below_uniform": [v for v, r in mine if t != "uniform" and not math.isnan(r["x_uniform"])
                              and not reaches(r["x_uniform"], 1.0)],
            # variants where runs failed: the fractions above leave those runs out (a variant where every run
            # failed has none), so the table names them rather than reading as a mean over every variant
            "failed": [v for v, r in mine if r["failed"]],
            # variants that ran but have no fraction (no best_mastery, or a ceiling of 0 on every seed): the
            # fractions above leave them out too, which the table says as for failed runs
            "no_ceiling": [v for v, r in mine if r["final"] and math.isnan(r["fraction_median"])],
        }
    best = {}
    for v in variants:
        rows = {t: r for t, r in per[v].items() if t != "uniform" and r["final"]}
        if rows:
            t = max(rows, key=lambda k: rows[k]["median"])
            # every teacher at the best median ("best sec" named one of several tied at 0 as if it led)
            tied = [k for k in rows if rows[k]["median"] == rows[t]["median"]]
            best[v] = {"teacher": t, "tied": tied, "holds": rows[t]["ratio_ok"] or rows[t]["ceiling_ok"]}
        elif any(t != "uniform" for t in per[v]):  # every run of every teacher failed: no teacher holds up here
            best[v] = {"teacher": None, "holds": False}
    return {"per_variant": per, "per_teacher": summary, "best": best, "variants": variants}


#: the "x uniform" cell of a teacher that mastered some where uniform mastered 0% (no ratio: it printed "inf")
_UNIFORM_ZERO = "(u = 0)"


def _fmt(x: float, pct: bool = True) -> str:
    if math.isnan(x):
        return "-"
    if math.isinf(x):
        return "inf"
    if pct:
        return f"{x:.0f}"
    return verdict_text(x, 1.0, RATIO_TARGET)  # a ratio: never shown on the other side of a verdict's line


def variant_table(results: dict[str, Any], variant: str, summary: dict[str, Any] | None = None) -> str:
    """Markdown table of one variant: teachers by median mastery."""
    s = summary or suite_summary(results)
    rows = s["per_variant"][variant]
    desc = (results.get("variants") or {}).get(variant, {}).get("description", "")
    ep = next((j["spec"]["episodes"] for j in results["jobs"] if j["student"] == variant), "?")
    ceil = _med([c for r in rows.values() for c in r["ceiling"]])
    about = "; ".join(p for p in (desc, f"{ep} episodes", f"ceiling {_fmt(ceil)}% mastered") if p)  # (no "(; ")
    lines = [f"**{_md(variant)}** ({about})", "",
             "| teacher | mastered % median [min-max] | % of ceiling | x uniform | us/episode |",
             "|---|---|---|---|---|"]
    for t, r in sorted(rows.items(), key=lambda kv: -kv[1]["median"] if kv[1]["final"] else math.inf):
        if not r["final"]:
            lines.append(f"| {_md(t)} | failed ({r['failed']}) | - | - | - |")
            continue
        mark = " *" if (r["ratio_ok"] or r["ceiling_ok"]) and t != "uniform" else ""
        # (some seeds failed: the median is over the others, which the row says)
        part = f" ({r['failed']} of {r['failed'] + len(r['final'])} runs failed)" if r["failed"] else ""
        # (names as text: a label "riac@x|y" split its row, every figure after it shown a column to the right)
        # (uniform mastered nothing: the ratio is no number, and "inf" read as one; the levels table's mark)
        ratio = _UNIFORM_ZERO if math.isinf(r["x_uniform"]) else _fmt(r["x_uniform"], pct=False)
        lines.append(f"| {_md(t)} | {median_range(r['final'])}{part} | "
                     f"{_fmt(100 * r['fraction_median'])}{mark} | {ratio} | "
                     f"{_fmt(r['us_median'])} |")
    if any(r["final"] and math.isinf(r["x_uniform"]) for r in rows.values()):
        lines += ["", f"{_UNIFORM_ZERO}: uniform mastered 0%, so a teacher that mastered some has no ratio to it; it "
                  f"counts as >= {RATIO_TARGET}x uniform."]
    return "\n".join(lines)


def summary_table(results: dict[str, Any], summary: dict[str, Any] | None = None) -> str:
    """Markdown table: one row per teacher, over the variants it ran on."""
    s = summary or suite_summary(results)
    lines = ["| teacher | variants | mean % of ceiling | lowest % of ceiling | "
             f">= {RATIO_TARGET}x uniform | within {POINTS_TARGET:.0f} pts of ceiling | holds up | below uniform on |",
             "|---|---|---|---|---|---|---|---|"]
    order = sorted(s["per_teacher"].items(), key=lambda kv: -np.nan_to_num(kv[1]["mean_fraction"], nan=-1))
    for t, r in order:
        below = ", ".join(map(_md, r["below_uniform"])) or "-"
        failed = f" (runs failed on {', '.join(map(_md, r['failed']))})" if r.get("failed") else ""
        if r.get("no_ceiling"):  # (the mean read as over every variant)
            failed += f" (no ceiling on {', '.join(map(_md, r['no_ceiling']))})"
        lines.append(f"| {_md(t)} | {r['variants']}{failed} | {_fmt(100 * r['mean_fraction'])} | "
                     f"{_fmt(100 * r['min_fraction'])} | "
                     f"{r['ratio_ok']} | {r['ceiling_ok']} | {r['holds']}/{r['variants']} | {below} |")
    return "\n".join(lines)


def suite_tables(results: dict[str, Any]) -> str:
    """Every variant's table, then the summary per teacher and the best teacher per variant; the results of a
    plain bench run (no suite) are refused with a ``ConfigError``."""
    from ..errors import ConfigError

    if not isinstance(results, dict) or "suite" not in results:  # (a plain run's table came out as "Suite ?")
        raise ConfigError("these are not the results of a suite (no 'suite' entry: a plain magister bench run?); "
                          "a plain run's table is magister.bench.report.summarise(results) and its report "
                          "write_report(results, folder); suite_tables takes the results of run_suite or "
                          "magister bench --suite NAME")
    s = suite_summary(results)
    seeds = results.get("config", {}).get("seeds", [])
    parts = [f"Suite {results.get('suite', '?')}, seeds {seeds}; mastery at the end of each variant's budget, "
             "median over seeds; % of ceiling: mastery / the oracle's at the same budget (median over seeds); "
             f"* marks a teacher that holds up there (>= {RATIO_TARGET}x uniform or within "
             f"{POINTS_TARGET:.0f} points of the ceiling).", ""]
    if results.get("interrupted"):  # (results-interrupted.json read back: its tables read as the whole suite)
        parts += [_interrupted_note(results) + ".", ""]
    for v in s["variants"]:
        parts += [variant_table(results, v, s), ""]
    parts += ["**Summary per teacher**", "", summary_table(results, s), ""]
    missed = [v for v, b in s["best"].items() if not b["holds"]]
    parts.append("Best teacher holds up on every variant." if not missed else
                 "Variants where even the best teacher does not hold up: " + ", ".join(
                     f"{_md(v)} ({_best_text(s['best'][v], s['per_variant'][v])})" if s["best"][v]["teacher"]
                     else f"{_md(v)} (every run failed)" for v in missed) + ".")
    return "\n".join(parts)


def _best_text(best: dict[str, Any], rows: dict[str, dict[str, Any]]) -> str:
    """``best sec`` or, when several teachers share the best median, ``best sec, exp3 (tied at 0)``."""
    tied = best.get("tied") or [best["teacher"]]
    if len(tied) == 1:
        return f"best {_md(tied[0])}"
    return f"best {', '.join(map(_md, tied))} (tied at {_fmt(rows[tied[0]]['median'])})"


def _interrupted_note(results: dict[str, Any]) -> str:
    info = results["interrupted"]
    return (f"Interrupted: {info.get('finished', '?')} of {info.get('planned', '?')} runs finished; these tables "
            "cover only those")


START, END = "<!-- suite-table:start -->", "<!-- suite-table:end -->"


def check_docs_file(path: str | Path) -> str:
    """The text of ``path``; ``ConfigError`` if it cannot be read or lacks the suite-table markers
    (checked before a suite runs, not after)."""
    from ..errors import ConfigError

    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read it ({getattr(e, 'strerror', None) or e}); give an existing "
                          f"Markdown file with {START} ... {END} markers") from None
    # (an end marker only above the start one passed, and the tables failed with a ValueError after every run)
    if START not in text or END not in text.split(START, 1)[1]:
        raise ConfigError(f"{path} has no {START} ... {END} markers (the end marker below the start one); add "
                          "them where the table goes")
    try:  # opened for writing, not written: a read-only file failed only after every run
        with Path(path).open("r+"):
            pass
    except OSError as e:
        raise ConfigError(f"{path}: cannot write it ({e.strerror or e}); make it writable or give another "
                          "Markdown file") from None
    return text


def write_docs_table(results: dict[str, Any], path: str | Path, *, note: str = "") -> None:
    """Replace the text between the suite-table markers of ``path`` with the suite's summary tables; the
    results of a plain bench run (no suite) are refused with a ``ConfigError``, the file left as it was."""
    from ..errors import ConfigError

    if not isinstance(results, dict) or "suite" not in results:  # (a plain run's table read as a suite's)
        raise ConfigError("these are not the results of a suite (no 'suite' entry: a plain magister bench run?); "
                          "give the results.json of magister bench --suite NAME")
    if results.get("interrupted"):  # (its tables would go into the docs as the whole suite's)
        raise ConfigError(_interrupted_note(results) + "; write the tables of a finished run (results.json, not "
                          "results-interrupted.json)")
    p = Path(path)
    text = check_docs_file(p)
    s = suite_summary(results)
    body = [note, "", "**Summary per teacher**", "", summary_table(results, s), "",
            "### Every variant", ""]
    for v in s["variants"]:
        body += [variant_table(results, v, s), ""]
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    write_text(p, head + START + "\n" + "\n".join(body).strip() + "\n" + END + tail)  # (a Ctrl-C cut the docs short)
