"""A user's program type checks against magister: ``mypy --strict`` over the programs in tests/typing_user/.

magister ships ``py.typed``, so a user's ``mypy --strict`` reads its annotations. ``user_program.py`` calls it
the way the docs do and must pass (an error there is a correct program refused by a wrong or too narrow
annotation); ``user_mistakes.py`` must fail exactly on its lines marked ``# error:`` (a name typed ``Any`` lets
them through). magister is checked as an installed package is (its own modules' errors are not shown to the
user: ``follow_imports = silent``).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = Path(__file__).resolve().parent / "typing_user"
CONFIG = """\
[mypy]
strict = True
[mypy-magister.*]
follow_imports = silent
"""


def _mypy(tmp_path: Path) -> dict[str, list[str]]:
    """mypy's errors per program file name."""
    (tmp_path / "mypy.ini").write_text(CONFIG)
    env = {**os.environ, "MYPYPATH": str(ROOT / "src")}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(tmp_path / "mypy.ini"), "--cache-dir",
         str(tmp_path / "cache"), "--python-executable", sys.executable, "--no-error-summary", "--show-error-codes",
         str(PROGRAMS / "user_program.py"), str(PROGRAMS / "user_mistakes.py")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr  # 2: mypy itself failed
    errors: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        if ": error:" in line:
            errors.setdefault(Path(line.split(":", 1)[0]).name, []).append(line)
    return errors


def test_user_programs_type_check(tmp_path: Path) -> None:
    errors = _mypy(tmp_path)
    assert errors.get("user_program.py", []) == [], "\n".join(errors["user_program.py"])
    source = (PROGRAMS / "user_mistakes.py").read_text().splitlines()
    marked = [i for i, line in enumerate(source, 1) if "  # error:" in line]
    found = sorted({int(e.split(":")[1]) for e in errors.get("user_mistakes.py", [])})
    assert found == marked, "\n".join(errors.get("user_mistakes.py", []))


def test_lazy_exports_are_declared_for_type_checkers() -> None:
    """Every lazy name of magister.data is imported under ``TYPE_CHECKING`` too, exported (``X as X``): one left
    out is ``Any`` to a type checker (the module's ``__getattr__``), and its calls go unchecked."""
    import magister.data

    tree = ast.parse((ROOT / "src" / "magister" / "data" / "__init__.py").read_text())
    declared = {alias.name for node in ast.walk(tree) if isinstance(node, ast.If)
                and ast.unparse(node.test) == "TYPE_CHECKING"
                for stmt in node.body if isinstance(stmt, ast.ImportFrom)
                for alias in stmt.names if alias.asname == alias.name}
    assert declared == set(magister.data._LAZY)


def test_help_shows_annotations_once_quoted():
    # with ``from __future__ import annotations`` an annotation written in quotes is kept as a quoted string, so
    # help(mg.make_teacher) showed ``-> "'Teacher'"``; every public signature of the package must read plainly
    import importlib
    import inspect
    import pkgutil

    import magister

    shown: list[str] = []
    for info in pkgutil.walk_packages(magister.__path__, "magister."):
        if ".migrations" in info.name:  # alembic's scripts run inside alembic, not imported
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an extra that is not installed: its modules cannot be imported by a user either
            continue
        for name, obj in vars(module).items():
            if getattr(obj, "__module__", None) != info.name:
                continue
            members = [obj, *vars(obj).values()] if inspect.isclass(obj) else [obj]
            for member in members:
                member = getattr(member, "__func__", member)
                if inspect.isfunction(member):
                    signature = inspect.signature(member)
                    annotations = [p.annotation for p in signature.parameters.values()]
                    if any(isinstance(a, str) and a[:1] in "'\"" and a for a in
                           [*annotations, signature.return_annotation]):
                        shown.append(f"{info.name}.{name}: {signature}")
    assert not shown, shown[:5]
