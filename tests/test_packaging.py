"""The sdist and the wheel are complete: built from a clean copy of the tree, each is installed by pip
into its own fresh virtual environment, and `import magister` and the installed `magister` console
script run from there (not from the source tree, nor from the dev environment's editable install)."""

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
PIP_WITH_PYTHON_OPTION = (22, 3)  # `pip --python` installs into another interpreter's environment


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "FORCE_COLOR", "PY_COLORS", "CLICOLOR_FORCE")}
    env["NO_COLOR"] = "1"  # plain --help text whatever the CI terminal says
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, **kw)


def _tail(res: subprocess.CompletedProcess) -> str:
    return res.stdout[-3000:] + res.stderr[-3000:]


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, Path]:
    # dev dependencies: a missing one is a skip that fails under MAGISTER_STRICT_DEPS=1
    pytest.importorskip("build")
    pytest.importorskip("setuptools")  # the build backend, used in place by --no-isolation/--no-build-isolation
    pip = pytest.importorskip("pip")
    # an old pip is a broken dev environment, not a reason to skip
    assert tuple(int(p) for p in pip.__version__.split(".")[:2]) >= PIP_WITH_PYTHON_OPTION, (
        f"pip {pip.__version__} lacks --python (needs >= 22.3)")
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
    assert res.returncode == 0, _tail(res)
    wheels, sdists = list(out.glob("magister-*.whl")), list(out.glob("magister-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0], "work": work}


@pytest.fixture(scope="module", params=["wheel", "sdist"])
def installed(request, dists) -> Path:
    """A fresh venv into which pip itself installed the wheel or the sdist: its console script included."""
    venv = dists["work"] / f"venv-{request.param}"
    res = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    assert res.returncode == 0, _tail(res)
    py = venv / "bin" / "python"
    res = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    assert res.returncode == 0, _tail(res)
    purelib = Path(res.stdout.strip())
    assert purelib.is_relative_to(venv), purelib
    # no network: magister's dependencies (and, for the sdist, its build backend) come from this environment's
    # site-packages, added *after* the fresh venv's own. A plain path entry: the .pth files there (the editable
    # install's among them) are not run, so the source tree never lands on the fresh venv's sys.path.
    (purelib / "outer-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # pip runs under the fresh venv's interpreter and installs into it, console script included;
    # --ignore-installed: the dev environment's magister (seen through the .pth) is neither "already
    # satisfied" nor a candidate for uninstalling
    res = _run([sys.executable, "-m", "pip", "--python", str(py), "--isolated", "--disable-pip-version-check",
                "install", "--no-deps", "--no-index", "--no-build-isolation", "--ignore-installed", "--no-cache-dir",
                str(dists[request.param])], cwd=dists["work"])
    assert res.returncode == 0, _tail(res)
    assert "Successfully installed magister" in res.stdout, _tail(res)
    return venv


def test_the_wheel_holds_the_package_data(dists) -> None:
    names = zipfile.ZipFile(dists["wheel"]).namelist()
    for needed in ("magister/__init__.py", "magister/py.typed", "magister/serve/static/dashboard.html",
                   "magister/people/study_page.html", "magister/serve/migrations/env.py",
                   "magister/levels/data/heldout/rooms_four.txt"):
        assert any(n.endswith(needed) for n in names), f"{needed} missing from the wheel"
    assert not any(n.startswith("tests/") for n in names)


def test_every_data_file_of_the_package_is_declared_in_package_data() -> None:
    # no build: a data file that no package-data pattern covers is left out of the wheel (the list above names only
    # some), and is read at run time from the installed package (static pages, migrations, held-out mazes)
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["magister"]
    package = ROOT / "src" / "magister"
    files = _run(["git", "ls-files", "-z", "src/magister"], cwd=ROOT)
    assert files.returncode == 0, files.stderr
    data = {ROOT / rel for rel in filter(None, files.stdout.split("\0")) if not rel.endswith(".py")}
    assert data, "no data file found under src/magister"
    declared = {p for pattern in patterns for p in package.glob(pattern)}
    assert not data - declared, f"not in [tool.setuptools.package-data]: {sorted(str(p) for p in data - declared)}"

def test_the_sdist_holds_the_sources(dists) -> None:
    names = tarfile.open(dists["sdist"]).getnames()
    assert any(n.endswith("src/magister/teacher.py") for n in names)
    assert any(n.endswith("pyproject.toml") for n in names)


def test_magister_imports_from_the_clean_venv(installed, dists) -> None:
    py = installed / "bin" / "python"
    res = _run([str(py), "-c",
                "import importlib.metadata as md, magister, sys; print(magister.__file__); "
                "print(md.distribution('magister').locate_file('magister/__init__.py')); "
                f"print(bool({{p.rstrip('/') for p in sys.path}} & {{{str(ROOT)!r}, {str(ROOT / 'src')!r}}})); "
                "t = magister.make_teacher('uniform', magister.Box([0], [1]), seed=0); print(t.propose() in t.space)"],
               cwd=dists["work"])
    assert res.returncode == 0, _tail(res)
    where, recorded, src_on_path, inside = res.stdout.split()
    assert Path(where).is_relative_to(installed), f"magister was imported from {where}, not from {installed}"
    assert Path(recorded).is_relative_to(installed), f"magister's metadata is {recorded}, not from {installed}"
    assert src_on_path == "False", f"the source tree ({ROOT}) leaked onto the clean venv's sys.path"
    assert inside == "True"


def test_the_magister_console_script_runs_from_the_clean_venv(installed, dists) -> None:
    script = installed / "bin" / "magister"
    assert script.is_file(), f"pip installed no console script: {sorted(p.name for p in script.parent.iterdir())}"
    assert os.access(script, os.X_OK)
    # `#!<venv>/bin/python`, or for a long path pip's `#!/bin/sh` + `exec <venv>/bin/python` trampoline
    assert str(installed / "bin" / "python") in "\n".join(script.read_text().splitlines()[:3]), "another interpreter"
    res = _run([str(script), "--help"], cwd=dists["work"])
    assert res.returncode == 0, _tail(res)
    assert "Usage: magister" in res.stdout, res.stdout
    for command in ("teachers", "bench", "serve", "study"):
        assert command in res.stdout, f"{command!r} missing from `magister --help`:\n{res.stdout}"
