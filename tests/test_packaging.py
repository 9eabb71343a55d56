"""The sdist and the wheel are complete: built from a clean copy of the tree, the wheel is
installed into a fresh virtual environment and `import magister` and `magister --help` run
from it (not from the source tree)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, **kw)


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, Path]:
    pytest.importorskip("build")  # a dev dependency: a missing one fails under MAGISTER_STRICT_DEPS
    work = tmp_path_factory.mktemp("pkg")
    src = work / "src-copy"
    # a copy of what git tracks, so stray local files cannot make a broken sdist look whole
    files = _run(["git", "ls-files", "-z"], cwd=ROOT)
    assert files.returncode == 0, files.stderr
    for rel in filter(None, files.stdout.split("\0")):
        if not (ROOT / rel).is_file():
            continue
        dest = src / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest)
    out = work / "dist"
    # the sdist first, then the wheel built from that sdist (what `python -m build` does)
    res = _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    wheels, sdists = list(out.glob("magister-*.whl")), list(out.glob("magister-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0], "work": work}


def test_the_wheel_holds_the_package_data(dists) -> None:
    names = zipfile.ZipFile(dists["wheel"]).namelist()
    for needed in ("magister/__init__.py", "magister/py.typed", "magister/serve/static/dashboard.html",
                   "magister/people/study_page.html", "magister/serve/migrations/env.py",
                   "magister/levels/data/heldout/rooms_four.txt"):
        assert any(n.endswith(needed) for n in names), f"{needed} missing from the wheel"
    assert not any(n.startswith("tests/") for n in names)


def test_the_sdist_holds_the_sources(dists) -> None:
    names = tarfile.open(dists["sdist"]).getnames()
    assert any(n.endswith("src/magister/teacher.py") for n in names)
    assert any(n.endswith("pyproject.toml") for n in names)


def test_the_wheel_imports_and_runs_from_a_clean_venv(dists) -> None:
    venv = dists["work"] / "venv"
    res = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    assert res.returncode == 0, res.stderr
    py = venv / "bin" / "python"
    purelib = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    # install the wheel alone (no network); its dependencies come from this environment's site-packages,
    # added *after* the fresh venv's own (a plain path: the editable install's .pth there is not run)
    res = _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", purelib,
                str(dists["wheel"])])
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    Path(purelib, "outer-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    res = _run([str(py), "-c", "import magister, sys; print(magister.__file__); "
                "t = magister.make_teacher('uniform', magister.Box([0], [1]), seed=0); print(t.propose() in t.space)"],
               cwd=dists["work"])
    assert res.returncode == 0, res.stderr
    where, inside = res.stdout.split()
    assert Path(where).is_relative_to(venv), f"magister was imported from {where}, not from the installed wheel"
    assert inside == "True"
    res = _run([str(py), "-m", "magister.cli", "--help"], cwd=dists["work"])
    assert res.returncode == 0, res.stderr
    assert "bench" in res.stdout and "teachers" in res.stdout
