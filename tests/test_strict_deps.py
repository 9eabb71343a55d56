"""``MAGISTER_STRICT_DEPS=1`` (set by ``make test``) turns skips for a missing dependency into failures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent

TINY = '''
import pytest

def test_missing_module():
    pytest.importorskip("magister_no_such_module_xyz")

@pytest.mark.skipif(True, reason="/usr/bin/no-such-program not found (make system-deps installs it)")
def test_missing_program():
    pass

@pytest.mark.skip(reason="not today")
def test_skipped_for_another_reason():
    pass

def test_passes():
    pass
'''

TINY_MODULE = '''
import pytest

pytest.importorskip("magister_no_such_module_xyz")

def test_never_collected():
    pass
'''


def _pytest(folder: Path, *args: str, strict: str | None, pre: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MAGISTER_STRICT_DEPS"}
    if strict is not None:
        env["MAGISTER_STRICT_DEPS"] = strict
    code = pre + "import sys, pytest; sys.exit(pytest.main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, "-q", "-rA", "-p", "no:cacheprovider", *args],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def _counts(out: str) -> dict[str, int]:
    last = out.strip().splitlines()[-1]
    return {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|errors?)", last)}


def _tiny(tmp_path: Path) -> Path:
    (tmp_path / "conftest.py").write_text((TESTS / "conftest.py").read_text())
    (tmp_path / "test_tiny.py").write_text(TINY)
    (tmp_path / "test_tiny_module.py").write_text(TINY_MODULE)
    return tmp_path


def test_missing_dependencies_skip_by_default(tmp_path):
    for strict in (None, "0"):
        r = _pytest(_tiny(tmp_path), strict=strict)
        assert r.returncode == 0, r.stdout + r.stderr
        assert _counts(r.stdout) == {"passed": 1, "skipped": 4}, r.stdout


def test_missing_dependencies_fail_under_strict_deps(tmp_path):
    folder = _tiny(tmp_path)
    r = _pytest(folder, "test_tiny.py", strict="1")
    assert r.returncode != 0, r.stdout
    # the skip for a missing module fails, the skipif for a missing program is an error at set-up;
    # "not today" stays a skip
    assert _counts(r.stdout) == {"passed": 1, "failed": 1, "error": 1, "skipped": 1}, r.stdout
    assert "magister_no_such_module_xyz" in r.stdout and "no-such-program not found" in r.stdout
    assert "MAGISTER_STRICT_DEPS" in r.stdout
    r = _pytest(folder, "test_tiny_module.py", strict="1")  # a module-level importorskip: a collection error
    assert r.returncode != 0 and _counts(r.stdout) == {"error": 1}, r.stdout
    assert "magister_no_such_module_xyz" in r.stdout


def test_make_test_runs_strict():
    makefile = (TESTS.parent / "Makefile").read_text()
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "MAGISTER_STRICT_DEPS=1 $(PY) -m pytest" in recipe


def test_make_test_runs_on_two_processes_and_stays_strict_there(tmp_path):
    """``make test`` splits the suite over ``PYTEST_WORKERS`` (2) pytest-xdist workers, which the dev extra
    installs; a skip for a missing dependency fails in a worker as it does in one process."""
    root = TESTS.parent
    makefile = (root / "Makefile").read_text()
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "-m pytest -q -n $(PYTEST_WORKERS)" in recipe
    assert re.search(r"^PYTEST_WORKERS \?= 2$", makefile, re.M)
    dev = (root / "pyproject.toml").read_text().split("\ndev = [", 1)[1].split("\n]", 1)[0]
    assert '"pytest-xdist' in dev
    r = _pytest(_tiny(tmp_path), "-n", "2", strict="1")
    assert r.returncode != 0, r.stdout
    assert _counts(r.stdout) == {"passed": 1, "failed": 1, "errors": 2, "skipped": 1}, r.stdout
    assert "magister_no_such_module_xyz" in r.stdout and "no-such-program not found" in r.stdout


BLOCK_FASTAPI = '''
import importlib.abc
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "fastapi" or name.startswith("fastapi."):
            raise ModuleNotFoundError("No module named 'fastapi'", name="fastapi")
        return None
import sys; sys.meta_path.insert(0, _Block())
'''


def test_the_bloom_filter_tests_run_without_fastapi():
    """Only the service tests of test_serve_seen.py need fastapi; the pure-numpy filter tests still run."""
    r = _pytest(TESTS, "test_serve_seen.py", "-k", "not hashes_are_stable", strict=None, pre=BLOCK_FASTAPI)
    assert r.returncode == 0, r.stdout + r.stderr
    counts = _counts(r.stdout)
    assert counts.get("passed", 0) >= 7 and counts.get("skipped") == 4, r.stdout
    assert "No module named 'fastapi'" in r.stdout
