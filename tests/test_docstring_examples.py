"""The usage examples inside magister's docstrings (the API reference pages render them) work as shown.

An example is an indented block after a line ending in ``::``, or ``>>>`` lines. The ``>>>`` lines run as
doctests. A block that is a self-contained Python script (it imports every name it uses) runs as a reader
pasting it into a file would run it: in a fresh process, in an empty folder, as ``__main__``. A block that
starts worker processes runs them only from the main module, as ``spawn`` workers require.
"""

from __future__ import annotations

import ast
import builtins
import doctest
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
#: functions that start worker processes (``spawn``): a script calls them from ``if __name__ == "__main__":``
STARTS_WORKERS = {"run_benchmark", "run_suite", "run_bench", "run_in_pool"}
#: self-contained examples not run here, and why
NOT_RUN = {
    "magister.bench.suite": "runs the whole standard suite (hundreds of jobs)",
    "magister.serve.client": "needs a magister serve server on localhost:8000",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _blocks(doc: str) -> list[str]:
    """The indented blocks that follow a line ending in ``::``, dedented."""
    lines, out, i = doc.splitlines(), [], 0
    while i < len(lines):
        if not lines[i].rstrip().endswith("::"):
            i += 1
            continue
        indent = len(lines[i]) - len(lines[i].lstrip())
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        block = []
        while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent):
            block.append(lines[j])
            j += 1
        if block:
            pad = min(len(b) - len(b.lstrip()) for b in block if b.strip())
            out.append("\n".join(b[pad:] for b in block).strip("\n"))
        i = j
    return out


def _examples() -> list[tuple[str, str]]:
    """``(module, code)`` of every ``::`` block of a module, class or function docstring under src/magister."""
    out = []
    for path in sorted((SRC / "magister").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node, clean=True)
                out += [(_module_name(path), code) for code in _blocks(doc or "")]
    return out


def _python(code: str) -> ast.Module | None:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    return tree if tree.body else None  # (a block of only comments is a picture, e.g. a maze)


def _free_names(tree: ast.Module) -> set[str]:
    """Names the block reads without importing or assigning them (the context a reader must supply)."""
    bound = set(dir(builtins)) | {"__name__"}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - bound


def _is_main_guard(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) and "__name__" in ast.unparse(node.test)


def _unguarded_worker_calls(tree: ast.Module) -> list[str]:
    found = []
    for stmt in tree.body:
        if _is_main_guard(stmt):
            continue
        for node in ast.walk(stmt):
            if isinstance(node, ast.Call):
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                if name in STARTS_WORKERS:
                    found.append(name)
    return found


EXAMPLES = _examples()
PYTHON = [(mod, code, tree) for mod, code in EXAMPLES if (tree := _python(code)) is not None]
SELF_CONTAINED = [(mod, code) for mod, code, tree in PYTHON if not _free_names(tree)]


def test_the_docstrings_have_examples_and_some_run_as_written():
    assert len(EXAMPLES) >= 15 and len(PYTHON) >= 10
    assert {"magister", "magister.recommend", "magister.bench"} <= {mod for mod, _ in SELF_CONTAINED}


@pytest.mark.parametrize("mod, code", [(m, c) for m, c, _ in PYTHON], ids=[m for m, _, _ in PYTHON])
def test_examples_that_start_worker_processes_guard_them(mod: str, code: str) -> None:
    calls = _unguarded_worker_calls(ast.parse(code))
    assert not calls, (f"the example in {mod}'s docstring calls {calls} outside `if __name__ == \"__main__\":`; "
                       "pasted into a script, the spawned workers import it again and it fails (RuntimeError: "
                       "an attempt has been made to start a new process before ... bootstrapping)")


@pytest.mark.parametrize("mod, code", SELF_CONTAINED, ids=[m for m, _ in SELF_CONTAINED])
def test_self_contained_examples_run_as_a_script(mod: str, code: str, tmp_path: Path) -> None:
    if mod in NOT_RUN:
        compile(code, f"{mod} docstring example", "exec")
        return
    (tmp_path / "example.py").write_text(code + "\n", encoding="utf-8")
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"the example in {mod}'s docstring failed:\n{done.stderr[-3000:]}"


DOCTEST_MODULES = sorted({_module_name(p) for p in (SRC / "magister").rglob("*.py")
                          if re.search(r"^\s*>>> ", p.read_text(encoding="utf-8"), re.M)})


@pytest.mark.parametrize("mod", DOCTEST_MODULES)
def test_doctests_in_docstrings_pass(mod: str) -> None:
    result = doctest.testmod(importlib.import_module(mod), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def _code_lines(doc: str) -> list[str]:
    """Lines the reference pages show as code: a block after a blank line, indented 4 or more past the text
    before it (Markdown's indented code block, which also holds every ``::`` example)."""
    lines, out, block = doc.splitlines(), [], None
    for i, line in enumerate(lines):
        indent = len(line) - len(line.lstrip())
        if block is not None:
            if not line.strip() or indent >= block:
                out.append(line)
                continue
            block = None
        if line.strip() and i > 0 and not lines[i - 1].strip():
            before = next((b for b in reversed(lines[:i]) if b.strip()), None)
            if before is not None and indent >= len(before) - len(before.lstrip()) + 4:
                block = indent
                out.append(line)
    return out


def test_code_blocks_in_docstrings_hold_no_inline_code_marks():
    """Inside a code block the double backticks of inline code are shown as typed (SEC's update rule read
    with them on its reference page)."""
    found = []
    for path in sorted((SRC / "magister").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                found += [f"{_module_name(path)}: {line.strip()}"
                          for line in _code_lines(ast.get_docstring(node, clean=True) or "") if "``" in line]
    assert not found, "code blocks of docstrings with ``...`` marks (drop them):\n" + "\n".join(found)
