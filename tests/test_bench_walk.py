"""What a researcher comparing teachers with ``magister bench`` ran into (docs/bench.md, walked through)."""

from __future__ import annotations

import warnings

import pytest
from typer.testing import CliRunner

from magister.bench import run_benchmark
from magister.bench import suite as suite_mod
from magister.bench.suite import plan_suite, run_suite
from magister.cli import app
from magister.errors import ConfigError
from test_suite import _interrupt_the_second_job


def _bench(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, ["bench", *args], env={"COLUMNS": "400"})
    return res.exit_code, " ".join(res.output.split())


def test_variants_naming_none_is_refused_not_the_whole_suite(tmp_path):
    """``--variants ,`` ran every variant of the suite, as if the option were left out (``--teachers ,`` is
    refused)."""
    code, out = _bench("--suite", "quick", "--variants", ",", "--teachers", "uniform", "--seeds", "1",
                       "--episodes", "20", "--workers", "1", "--out", str(tmp_path / "o"))
    assert code == 2, out
    assert "--variants ',' names none" in out
    assert not (tmp_path / "o").exists()


def test_settings_written_into_a_teacher_name_point_to_set():
    """``--teachers alp-gmm:history_size=2000`` (the spec of benchmarks/teacher_overhead.py) said only
    "unknown teacher"; it now says that settings go in --set, and how to run a second copy (NAME@TAG)."""
    for names in (["alp-gmm:history_size=2000"], ["alp-gmm:warm_start=true", "history_size=2000"]):
        with pytest.raises(ConfigError, match=r"unknown teacher.*settings do not go in its name.*"
                                              r"--set alp-gmm\.history_size=2000.*NAME@TAG"):
            run_benchmark(names, ["grid"], seeds=[0], episodes=10, workers=1)
    code, out = _bench("--teachers", "alp-gmm:history_size=2000", "--seeds", "1", "--episodes", "10")
    assert code == 2 and "give them with --set TEACHER.SETTING=VALUE" in out, out


def test_a_suite_with_no_teacher_of_the_variants_kind_says_which_kinds_met():
    """It said only "no teacher in the run fits the variants of suite 'quick'": not that riac is continuous and
    skills-10 a skill graph, nor what to change."""
    with pytest.raises(ConfigError, match=r"teachers riac \(continuous\); variants skills-10 \(discrete\).*"
                                          r"add a teacher of the variants' kind.*--variants"):
        plan_suite("quick", ["riac"], [0], variants=["skills-10"], episodes=10)


def test_settings_for_a_name_whose_label_runs_point_to_the_label():
    """``--teachers sec@aside --set sec.set_aside=0.9``: the refusal said to run ``sec``, not that a label's
    settings are given for the label."""
    with pytest.raises(ConfigError, match=r"--set sec@aside\.SETTING=VALUE rather than --set sec\.SETTING"):
        plan_suite("quick", ["sec@aside"], [0], variants=["skills-10"], episodes=10,
                   settings={"sec": {"set_aside": 0.9}})
    with pytest.raises(ConfigError, match=r"--set alp-gmm@h\.SETTING=VALUE rather than --set alp-gmm\.SETTING"):
        run_benchmark(["alp-gmm@h"], ["grid"], seeds=[0], episodes=10, workers=1,
                      settings={"alp-gmm": {"fit_rate": 150}})


def test_suite_tables_refuses_a_plain_runs_results():
    """``suite_tables`` of a plain run's results printed tables headed "Suite ?", read as a suite's (write_report
    refuses a suite's results, write_docs_table a plain run's)."""
    plain = run_benchmark(["uniform"], ["grid"], seeds=[0], episodes=20, eval_every=10, workers=1)
    with pytest.raises(ConfigError, match="not the results of a suite.*write_report"):
        suite_mod.suite_tables(plain)
    r = run_suite("quick", ["uniform"], seeds=[0], episodes=20, variants=["skills-10"], workers=1)
    assert suite_mod.suite_tables(r).startswith("Suite quick")


def test_a_huge_seed_count_is_refused_up_front(tmp_path):
    """``--seeds 100000000`` planned a hundred million jobs in memory and ended in a MemoryError traceback (or the
    machine's OOM killer) before anything ran; it is refused like ``--episodes`` above its limit."""
    for extra in ([], ["--suite", "quick"]):
        code, out = _bench(*extra, "--teachers", "uniform", "--seeds", "10001", "--episodes", "1", "--workers", "1",
                           "--out", str(tmp_path / "x"))
        assert code == 2 and "Invalid value for '--seeds'" in out and "less than or equal to 10000" in out, out
        assert not (tmp_path / "x").exists()


def test_ctrl_c_in_a_reused_folder_says_its_results_json_is_an_earlier_runs(tmp_path, monkeypatch):
    """An interrupted run in a folder holding an earlier run's results.json and report left them there (as
    docs/bench.md says) without a word: report.md and load_results(folder) read as the run just stopped."""
    out = tmp_path / "run"
    args = ["--teachers", "uniform", "--episodes", "20", "--eval-every", "10", "--workers", "1", "--out", str(out)]
    assert _bench("--seeds", "1", *args)[0] == 0
    before = (out / "results.json").read_bytes()
    _interrupt_the_second_job(monkeypatch)
    code, text = _bench("--seeds", "2", *args)
    assert code == 130, text
    assert f"{out}/results.json and the report beside it are an earlier run's, left as they were" in text
    assert (out / "results.json").read_bytes() == before and (out / "results-interrupted.json").exists()

    fresh = tmp_path / "fresh"
    code, text = _bench("--seeds", "2", *args[:-1], str(fresh))
    assert code == 130 and "earlier run's" not in text, text


def test_ctrl_c_in_a_folder_of_an_earlier_interrupted_run_moves_its_results_aside(tmp_path, monkeypatch):
    """A second interrupted run in the same --out wrote its results-interrupted.json (and curves) over the first
    one's without a word: the runs the first run kept were lost."""
    import json

    out = tmp_path / "run"
    args = ["--teachers", "uniform", "--episodes", "20", "--eval-every", "10", "--workers", "1", "--seeds", "2",
            "--out", str(out)]
    _interrupt_the_second_job(monkeypatch)
    assert _bench(*args)[0] == 130
    first = (out / "results-interrupted.json").read_bytes()
    code, text = _bench("--first-seed", "10", *args)
    assert code == 130, text
    assert (out / "results-interrupted.earlier-1.json").read_bytes() == first
    assert (out / "curves-interrupted.earlier-1.csv").is_file()
    assert [j["seed"] for j in json.loads((out / "results-interrupted.json").read_text())["jobs"]] == [10]
    assert "moved it to results-interrupted.earlier-1.json" in text and "moved it to curves-interrupted.earlier-1.csv" in text


def test_a_finished_run_moves_an_earlier_interrupted_runs_results_aside_and_says_so(tmp_path, monkeypatch):
    """A finished run in the --out of an interrupted one removed that run's results-interrupted.json and curves
    (documented), losing the runs it had kept; the benchmark scripts move their partial files aside. Now
    ``magister bench`` (and --suite) moves them aside before its runs as well, with a line saying where."""
    import json

    out = tmp_path / "run"
    args = ["--teachers", "uniform", "--episodes", "20", "--eval-every", "10", "--workers", "1", "--seeds", "2",
            "--out", str(out)]
    with monkeypatch.context() as m:
        _interrupt_the_second_job(m)
        assert _bench(*args)[0] == 130
    kept = {name: (out / name).read_bytes() for name in ("results-interrupted.json", "curves-interrupted.csv")}
    code, text = _bench("--first-seed", "10", *args)
    assert code == 0, text
    assert "moved it to results-interrupted.earlier-1.json" in text and "moved it to curves-interrupted.earlier-1.csv" in text
    for name, before in kept.items():
        assert not (out / name).exists()
        assert (out / name.replace("-interrupted.", "-interrupted.earlier-1.")).read_bytes() == before
    assert [j["seed"] for j in json.loads((out / "results.json").read_text())["jobs"]] == [10, 11]

    # the suite (library call): the same move, said through echo
    said: list[str] = []
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "results-interrupted.json").write_text("earlier")
    run_suite("quick", ["uniform"], seeds=[0], episodes=20, variants=["skills-10"], workers=1, out=tmp_path / "suite",
              echo=said.append)
    assert (tmp_path / "suite" / "results-interrupted.earlier-1.json").read_text() == "earlier"
    assert len(said) == 1 and "results-interrupted.earlier-1.json" in said[0]
    assert (tmp_path / "suite" / "suite.md").exists()


def test_keep_interrupted_moves_the_files_it_names_aside(tmp_path):
    # (the level benchmark's one file, levels_results-interrupted.json)
    from magister.bench.report import keep_interrupted, write_json
    from magister.bench.runner import Interrupted

    (tmp_path / "levels_results-interrupted.json").write_text("earlier")
    exc = keep_interrupted(Interrupted([{"seed": 0}, None]), {"runs": [{"seed": 0}]}, 2, tmp_path, runs="runs",
                           write=lambda r, folder: [write_json(folder / "levels_results-interrupted.json", r)],
                           files=("levels_results-interrupted.json",))
    assert (tmp_path / "levels_results-interrupted.earlier-1.json").read_text() == "earlier"
    assert len(exc.moved) == 1 and "levels_results-interrupted.earlier-1.json" in exc.moved[0]
    assert exc.written == [str(tmp_path / "levels_results-interrupted.json")]


def test_keep_interrupted_moves_one_runs_files_to_the_same_earlier_number(tmp_path):
    """A lone results-interrupted.earlier-1.json (its curves file deleted) made the next move number each file by
    itself: results ...earlier-2 beside curves ...earlier-1, one run's results paired with another run's curves."""
    from magister.bench.report import keep_interrupted
    from magister.bench.runner import Interrupted

    (tmp_path / "results-interrupted.earlier-1.json").write_text("oldest")
    (tmp_path / "results-interrupted.json").write_text("earlier results")
    (tmp_path / "curves-interrupted.csv").write_text("earlier curves")
    exc = keep_interrupted(Interrupted([{"seed": 0}, None]), {"jobs": [{"seed": 0}]}, 2, tmp_path,
                           write=lambda r, folder: [])
    assert (tmp_path / "results-interrupted.earlier-2.json").read_text() == "earlier results"
    assert (tmp_path / "curves-interrupted.earlier-2.csv").read_text() == "earlier curves"
    assert not (tmp_path / "curves-interrupted.earlier-1.csv").exists()
    assert (tmp_path / "results-interrupted.earlier-1.json").read_text() == "oldest" and len(exc.moved) == 2


def test_teachers_tied_for_best_are_all_named():
    """On a variant where every teacher ends at 0 the summary said "(best sec)", naming one of the tied teachers
    as if it led."""
    def job(teacher, final):
        return {"teacher": teacher, "student": "v", "seed": 0, "status": "ok", "final_mastery": final,
                "ceiling": 0.5, "overhead": {"mean_us": 1.0}, "spec": {"episodes": 100}}

    r = {"suite": "x", "config": {"seeds": [0]}, "variants": {"v": {}},
         "jobs": [job("uniform", 0.0), job("sec", 0.0), job("exp3", 0.0)]}
    assert "Variants where even the best teacher does not hold up: v (best sec, exp3 (tied at 0))." in \
        suite_mod.suite_tables(r)
    for j, final in zip(r["jobs"], (0.1, 0.1, 0.12)):  # exp3 1.2x uniform: leads, does not hold up
        j["final_mastery"] = final
    assert "v (best exp3)." in suite_mod.suite_tables(r)


def test_load_results_of_a_folder_with_a_later_interrupted_run_says_which_file_it_read(tmp_path, monkeypatch):
    """``load_results(folder)`` read the earlier run's results.json without a word when a later, interrupted run
    had left results-interrupted.json beside it (a finished run moves that file aside, so it is always the later one)."""
    import json

    from magister.bench.report import load_results

    out = tmp_path / "run"
    args = ["--teachers", "uniform", "--episodes", "20", "--eval-every", "10", "--workers", "1", "--out", str(out)]
    assert _bench("--seeds", "1", *args)[0] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a folder of one finished run: no warning
        earlier = load_results(out)
    _interrupt_the_second_job(monkeypatch)
    assert _bench("--seeds", "2", *args)[0] == 130
    with pytest.warns(UserWarning) as caught:
        r = load_results(out)
    assert r == earlier == json.loads((out / "results.json").read_text())  # what it loads is unchanged
    text = str(caught[0].message)
    assert f"loaded {out / 'results.json'}" in text and "earlier" in text
    assert f"{out / 'results-interrupted.json'}" in text and "1 of 2 runs finished" in text
    assert f"load_results('{out / 'results-interrupted.json'}')" in text
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a file named explicitly is not ambiguous
        assert load_results(out / "results.json") == earlier
        assert load_results(out / "results-interrupted.json")["interrupted"] == {"finished": 1, "planned": 2}
