"""benchmarks/level_exactness.py: options that run nothing, or an --out that is a folder, are refused with the usage
line (exit 2) before any run, and an earlier run's hashes file in --out is left as it was."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("bad, needle", [(["--seeds", "0"], "--seeds"), (["--seeds", "-2"], "--seeds"),
                                         (["--seeds", "two"], "--seeds"), (["--only", "plr-typo"], "plr-typo"),
                                         (["--out", "DIR"], "is a folder"), (["--ckpt", "FILE"], "is a file")])
def test_options_that_run_nothing_are_refused_and_leave_out_as_it_was(tmp_path: Path, bad: list[str],
                                                                        needle: str) -> None:
    # --seeds 0 (or -2), an --only that names no config: {} was written over the earlier hashes in --out, exit 0;
    # an --out that is a folder failed after every run, a --ckpt that is a file as a FileExistsError traceback
    out = tmp_path / "old.json"
    out.write_text('{"plr-n40-c40-s0": "earlier"}')
    (tmp_path / "file").write_text("")
    bad = [str(tmp_path) if b == "DIR" else str(tmp_path / "file") if b == "FILE" else b for b in bad]
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "level_exactness.py"), "--ckpt",
                           str(tmp_path / "ck"), "--out", str(out), *bad], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and needle in proc.stderr.split("error:", 1)[1], proc.stderr
    assert out.read_text() == '{"plr-n40-c40-s0": "earlier"}'


def test_runs_against_a_magister_without_the_bench_helpers(tmp_path: Path) -> None:
    # the harness is run with an older src/ on PYTHONPATH (docs/levels.md: `git archive 35a3464 src`), whose
    # magister.bench.args had no write_atomically (or no bench.args at all): an ImportError before any option
    # was read. Here magister.bench.args cannot be imported: the options are still checked and the script runs.
    out = tmp_path / "old.json"
    out.write_text('{"plr-n40-c40-s0": "earlier"}')
    code = ("import os, runpy, sys; sys.modules['magister.bench.args'] = None; sys.argv = sys.argv[1:]; "
            "sys.path.insert(0, os.path.dirname(sys.argv[0])); "  # as `python script.py` does
            "runpy.run_path(sys.argv[0], run_name='__main__')")
    script = str(ROOT / "benchmarks" / "level_exactness.py")
    proc = subprocess.run([sys.executable, "-c", code, script, "--ckpt", str(tmp_path / "ck"), "--out", str(out),
                           "--seeds", "0"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--seeds" in proc.stderr.split("error:", 1)[1], proc.stderr
    assert out.read_text() == '{"plr-n40-c40-s0": "earlier"}'


def test_a_run_stopped_while_it_writes_a_mid_run_state_leaves_no_torn_file(tmp_path: Path, monkeypatch) -> None:
    # the mid-run state was pickled straight into its file: a run stopped while writing it left a truncated file,
    # which every later run then read (EOFError: Ran out of input) instead of writing it anew
    import hashlib

    import numpy as np

    import magister as mg

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import level_exactness

    class Stop:
        def __reduce__(self):
            raise KeyboardInterrupt  # a Ctrl-C once the large part of the state is written

    class Teacher:
        def state_dict(self):
            return {"big": np.zeros(10**6), "rest": Stop()}

    path = str(tmp_path / "plr-s0.pkl")

    def run(t, n, rng, h):
        return None

    with pytest.raises(KeyboardInterrupt):
        level_exactness.halves(Teacher(), run, 10, np.random.default_rng(0), hashlib.sha256(), path)
    assert list(tmp_path.iterdir()) == []
    t = mg.make_teacher("uniform", mg.Discrete(3), seed=0)
    out = level_exactness.halves(t, run, 10, np.random.default_rng(0), hashlib.sha256(), path)
    assert out["final"] == out["mid"] and Path(path).exists()
