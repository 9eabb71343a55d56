"""benchmarks/grpo_curriculum.py: the task is encoded as documented, the warm start goes on while it is below its
floor, and a tiny run repeats exactly."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import grpo_curriculum as gc  # noqa: E402

TINY = dict(gc.CONFIG, d_model=16, layers=1, heads=2, sl_steps=5, sl_batch=8, steps=4, prompts=3, group=4,
            train_per_level=6, eval_per_level=4, eval_every=2, sl_check=3, sl_max_steps=11, sl_val_per_level=4)


def test_encoding_and_exact_match():
    prompt, answer = gc.encode(np.array([[57, 68]]))
    # operands least significant digit first, zero-padded to six digits
    assert prompt[0].tolist() == [7, 5, 0, 0, 0, 0, gc.PLUS, 8, 6, 0, 0, 0, 0, gc.EQ]
    assert answer[0].tolist() == [5, 2, 1, 0, 0, 0, 0, gc.EOS]  # 125
    right = answer.copy()
    wrong = answer.copy()
    wrong[0, 2] = 3
    junk_after_end = np.concatenate([answer[:, :-1], [[gc.EOS]]], 1)
    assert gc.correct(right, answer).tolist() == [True]
    assert gc.correct(wrong, answer).tolist() == [False]
    assert gc.correct(junk_after_end, answer).tolist() == [True]
    lv = gc.problems(np.random.default_rng(0), 3, 50)
    assert (lv >= 100).all() and (lv < 1000).all()


def test_tiny_run_repeats_exactly_and_the_teachers_choose_differently():
    job = (7, TINY, list(gc.METHODS))
    a, b = gc.run_seed(job), gc.run_seed(job)
    assert a["curves"] == b["curves"] and a["share"] == b["share"]
    share = dict(zip(gc.METHODS, a["share"]))
    assert share["sorted"][-1] == 0.0, "four short steps never reach the sorted schedule's last stage"
    assert share["uniform"] != share["sec"] or share["uniform"] != share["lp-bandit"]
    table, per = gc.summarise([a])
    assert "| uniform |" in table and per["uniform"]["ratio"][0] is not None


def test_the_warm_start_goes_on_below_its_floor_and_stops_at_the_cap():
    import torch

    def run(**kw):
        cfg = dict(TINY, **kw)
        return gc.warm_start(torch, 3, cfg, np.random.default_rng(3))

    _, none = run(sl_floor=0.0)  # no floor: exactly sl_steps
    assert none["steps"] == TINY["sl_steps"] and none["ok"]
    _, capped = run(sl_floor=1.01)  # unreachable: checks at 5, 8, 11, stops at the cap, flagged
    assert capped["steps"] == 11 and not capped["ok"]
    assert 0.0 <= capped["val_accuracy"] <= 1.0
    # continuing past a failed check is the same training as a longer fixed warm start (the check draws no data)
    a, _ = run(sl_floor=0.0, sl_steps=8)
    b, info = run(sl_floor=1.01, sl_max_steps=8)
    assert info["steps"] == 8
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))


def test_ratio_to_uniforms_steps_counts_never_as_infinite():
    assert gc._ratios([150, None, 25], [200, 300, 125]) == "0.75 / never / 0.20 (median 0.75)"
    assert gc._ratios([None, 50], [0, 100]) == "n/a / 0.50 (median 0.50)"


def test_no_seeds_is_refused_by_name(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        gc.main(["--quick", "--seeds", "0", "--out", str(tmp_path / "never-written")])
    assert e.value.code == 2 and "--seeds" in capsys.readouterr().err and not (tmp_path / "never-written").exists()


@pytest.mark.parametrize("bad, needle", [(["--methods", "uniform,frontir"], "frontir"),
                                         (["--methods", "frontier"], "uniform"), (["--out", "FILE"], "is a file"),
                                         (["--workers", "0"], "--workers"),
                                         (["--methods", "uniform,sec,uniform"], "--methods names uniform more")])
def test_bad_methods_and_out_are_argparse_errors(tmp_path, capsys, monkeypatch, bad, needle):
    # a typo'd method exited 1 with a bare message, an --out that is a file was a FileExistsError traceback
    monkeypatch.setattr(gc, "run_seed", lambda job: pytest.fail("a run started"))
    (tmp_path / "FILE").write_text("not a folder")
    bad = [str(tmp_path / "FILE") if b == "FILE" else b for b in bad]
    with pytest.raises(SystemExit) as e:
        gc.main(["--quick", "--seeds", "1", "--out", str(tmp_path / "out"), *bad])
    assert e.value.code == 2 and needle in capsys.readouterr().err.split("error:", 1)[1]


def test_seeds_past_torchs_are_refused_at_parse_time_naming_the_range(tmp_path, capsys, monkeypatch):
    # --seed-start 2**64: torch's "Overflow when unpacking long long" inside the first run
    monkeypatch.setattr(gc, "run_seed", lambda job: pytest.fail("a run started"))
    for start, seeds in ((2**64, 1), (2**64 - 1, 2)):
        with pytest.raises(SystemExit) as e:
            gc.main(["--quick", "--seeds", str(seeds), "--seed-start", str(start), "--out", str(tmp_path / "out")])
        err = capsys.readouterr().err.split("error:", 1)[1]
        assert e.value.code == 2 and f"give --seed-start from 0 to {2**64 - seeds:,}" in err
    assert not (tmp_path / "out").exists()

    class Ran(Exception):
        pass

    def run_seed(job):
        raise Ran(job[0])

    monkeypatch.setattr(gc, "run_seed", run_seed)
    with pytest.raises(Ran) as ran:  # the largest seed torch takes still runs
        gc.main(["--quick", "--seeds", "1", "--seed-start", str(2**64 - 1), "--out", str(tmp_path / "out")])
    assert ran.value.args == (2**64 - 1,)


def test_ratio_medians_read_never_and_do_not_round_onto_the_target():
    # the median of runs that never reached uniform's final printed "inf"; a median of 8/11 and 7/9 (4 seeds),
    # 0.7525, printed "0.75", which reads as meeting the "at most 0.75" target
    assert gc._ratios([None, None, None], [300, 150, 300]) == "never / never / never (median never)"
    assert gc._ratios([200, 175, 100, 300], [275, 225, 300, 200]) == "0.73 / 0.78 / 0.33 / 1.50 (median 0.753)"
    assert gc._ratios([225, 300], [300, 200]) == "0.75 / 1.50 (median 1.12)"


def test_summary_table_counts_never_as_infinite_like_the_per_seed_line():
    # the "steps to uniform's final" and "x uniform's budget" columns took the median over the seeds that got
    # there, "(1 never)" beside, while the per-seed ratio line (and docs/data.md) counts never as infinite
    steps = [0, 100, 200, 300]
    rising = np.repeat(np.linspace(0.2, 0.8, len(steps))[:, None], gc.LEVELS, 1)  # uniform: 0.8 at the end

    def record(seed: int, other: np.ndarray) -> dict:
        return {"seed": seed, "methods": ["uniform", "sec"], "eval_steps": steps,
                "curves": np.stack([rising, other], 1).tolist()}

    flat = np.full((len(steps), gc.LEVELS), 0.1)  # never reaches uniform's final
    high = np.full((len(steps), gc.LEVELS), 0.9)  # there from step 0
    late = np.concatenate([np.full((3, gc.LEVELS), 0.1), np.full((1, gc.LEVELS), 1.0)])  # smoothed 0.4 at 300
    table, per = gc.summarise([record(0, high), record(1, flat), record(2, high)])
    row = next(line for line in table.splitlines() if line.startswith("| sec |")).split(" | ")
    assert per["sec"]["to_uniform"] == [0.0, None, 0.0]
    assert row[2] == "0 [0-never] (1 never)" and row[3] == "0.00 [0.00-never] (1 never)"  # median of 0, 0, inf
    table, per = gc.summarise([record(0, high), record(1, flat), record(2, late)])
    row = next(line for line in table.splitlines() if line.startswith("| sec |")).split(" | ")
    assert per["sec"]["to_uniform"] == [0.0, None, None]
    assert row[2] == "never [0-never] (2 never)" and row[3] == "never [0.00-never] (2 never)"  # was "0 (2 never)"
    assert gc._ratios(per["sec"]["to_uniform"], per["uniform"]["to_uniform"]).endswith("(median never)")


@pytest.mark.parametrize("bad, needle", [(["--steps", "0"], "--steps"), (["--eval-per-level", "0"], "--eval-per-level"),
                                         (["--lr", "nan"], "--lr"), (["--lr", "0"], "--lr"),
                                         (["--temperature", "0"], "--temperature"), (["--sl-floor", "2"], "--sl-floor"),
                                         (["--sl-floor", "nan"], "--sl-floor"), (["--sl-steps", "-1"], "--sl-steps")])
def test_bad_budgets_and_rates_are_argparse_errors_before_any_run(tmp_path, capsys, monkeypatch, bad, needle):
    # tracebacks from inside the run (a ConfigError, torch's "Invalid learning rate: nan", a reshape of 0 elements,
    # "probability tensor contains inf, nan"); --sl-floor 2 (an accuracy) warmed every seed up to its cap
    monkeypatch.setattr(gc, "run_seed", lambda job: pytest.fail("a run started"))
    with pytest.raises(SystemExit) as e:
        gc.main(["--quick", "--seeds", "1", "--out", str(tmp_path / "out"), *bad])
    assert e.value.code == 2 and needle in capsys.readouterr().err.split("error:", 1)[1]


def test_report_only_without_results_is_an_argparse_error(tmp_path, capsys):
    # --report-only on an --out with no results.json (a typo'd folder, a run that never finished) was a
    # FileNotFoundError traceback
    with pytest.raises(SystemExit) as e:
        gc.main(["--report-only", "--out", str(tmp_path / "never-run")])
    assert e.value.code == 2 and "results.json" in capsys.readouterr().err.split("error:", 1)[1]


def test_a_ctrl_c_ends_with_one_line_and_status_130(tmp_path, capsys, monkeypatch):
    # (with --workers 2 a KeyboardInterrupt traceback from the script and one from each worker)
    def run_seed(job):
        if job[0] == 1:
            raise KeyboardInterrupt
        return {"seed": job[0], "seconds": 1.0}

    monkeypatch.setattr(gc, "run_seed", run_seed)
    with pytest.raises(SystemExit) as e:
        gc.main(["--quick", "--seeds", "2", "--out", str(tmp_path / "out")])
    assert e.value.code == 130
    assert "interrupted: 1 of 2 runs finished (not kept" in capsys.readouterr().err


@pytest.mark.parametrize("failing", ["results.json", "report.md"])
def test_report_only_whose_write_fails_partway_keeps_the_runs(tmp_path: Path, full_disk_at, failing: str) -> None:
    # --report-only rewrote results.json (and report.md) in place from results.json itself: a write stopped partway
    # (a full disk, Ctrl-C) left it torn, the only copy of the runs lost
    out = tmp_path / "out"
    gc.main(["--quick", "--seeds", "1", "--out", str(out)])
    before = {f: (out / f).read_bytes() for f in ("results.json", "report.md")}
    full_disk_at(failing)
    with pytest.raises(OSError, match="No space left"):
        gc.main(["--report-only", "--out", str(out)])
    assert (out / failing).read_bytes() == before[failing]
    assert not list(out.glob(".*.tmp"))  # the temporary file is not left beside the results
    gc.main(["--report-only", "--out", str(out)])  # and the report can be written again from it
    assert (out / "results.json").read_bytes() == before["results.json"]


def test_report_only_reads_back_a_nan_that_results_json_holds_as_null(tmp_path: Path, monkeypatch) -> None:
    # results.json is strict JSON (a NaN written as null); --report-only read the null as None and failed in
    # _warm_line ("unsupported format string passed to NoneType.__format__") on a validation accuracy that was NaN
    def run_seed(job):
        seed, _, methods = job
        m, levels = len(methods), gc.LEVELS
        return {"seed": seed, "methods": methods, "eval_steps": [0, 5, 10],
                "curves": [np.full((m, levels), 0.2 + 0.1 * e).tolist() for e in range(3)],
                "share": np.full((m, levels), 1 / levels).tolist(), "reward_mean": [[0.5, float("nan")]] * 10,
                "warm": {"steps": 20, "val_accuracy": float("nan"), "ok": False}, "sl_seconds": 1.0, "seconds": 2.0}

    monkeypatch.setattr(gc, "run_seed", run_seed)
    out = tmp_path / "out"
    gc.main(["--quick", "--seeds", "1", "--methods", "uniform,sec", "--out", str(out)])
    before = {f: (out / f).read_text() for f in ("results.json", "report.md")}
    saved = json.loads(before["results.json"])["results"][0]
    assert saved["warm"]["val_accuracy"] is None and saved["reward_mean"][0] == [0.5, None]
    gc.main(["--report-only", "--out", str(out)])
    assert (out / "results.json").read_text() == before["results.json"]
    report = (out / "report.md").read_text()
    assert "seed 0: 20 steps, nan, 0.20 (BELOW THE FLOOR" in report
    # the run's own report, but for its total wall time (not known to --report-only)
    assert report.split("total ")[0] == before["report.md"].split("total ")[0]
