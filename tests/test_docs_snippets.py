"""Every Python block of the README and of docs/ runs, as a reader pasting them would run them.

The blocks of one page run in order in one namespace, in a fresh process in an empty folder. A block that
needs what a test machine does not have (your own files or model, a running service, a cluster) says so on
the line before its fence, ``<!-- not run: why -->`` (invisible on the rendered page); such a block must
still compile, and the reason must name what it needs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(?:python|py)\b[^\n]*\n(.*?)^```", re.S | re.M)
NOT_RUN = re.compile(r"<!-- not run: (.*?) -->\s*$")

#: runs the blocks; guarded, so a block that starts worker processes does not run again in them
RUNNER = r'''
import json, sys, traceback
if __name__ == "__main__":
    ns = {"__name__": "__main__"}
    for line, code in json.load(open(sys.argv[1])):
        try:
            exec(compile(code, f"block at line {line}", "exec"), ns)
        except BaseException:
            print(f"the block at line {line} failed:", file=sys.stderr)
            traceback.print_exc()
            sys.exit(1)
'''


def blocks(page: Path) -> list[tuple[int, str, str | None]]:
    """``(line, code, reason not run or None)`` of every Python block of ``page``."""
    text = page.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        why = NOT_RUN.search(before)
        out.append((text[:m.start()].count("\n") + 1, m.group(1), why.group(1).strip() if why else None))
    return out


WITH_BLOCKS = [p for p in PAGES if blocks(p)]


def test_the_pages_have_python_blocks_and_most_run():
    found = [b for p in PAGES for b in blocks(p)]
    assert len(WITH_BLOCKS) >= 15 and len(found) >= 30
    assert sum(why is None for _, _, why in found) >= 2 * sum(why is not None for _, _, why in found)


@pytest.mark.parametrize("page", WITH_BLOCKS, ids=lambda p: p.name)
def test_the_python_blocks_of_a_page_run(page: Path, tmp_path: Path) -> None:
    todo = []
    for line, code, why in blocks(page):
        if why is None:
            todo.append((line, code))
            continue
        assert len(why) > 10, f"{page.name}, line {line}: say what the block needs that a test machine lacks"
        compile(code, f"{page.name}, block at line {line}", "exec")  # a block not run still has to be Python
    if not todo:
        return
    (tmp_path / "blocks.json").write_text(json.dumps(todo))
    (tmp_path / "run_blocks.py").write_text(RUNNER)
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, "run_blocks.py", "blocks.json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{page.name}: {done.stderr[-3000:]}"


def test_the_web_guard_has_an_api_page() -> None:
    """magister.webguard (the Host / Origin checks of `magister serve --no-auth` and `magister study --web`) was on no
    API page; mkdocstrings renders every public name of a module a page lists with `::: module`."""
    api = {page.name: page.read_text() for page in (ROOT / "docs" / "api").glob("*.md")}
    assert [name for name, text in api.items() if re.search(r"^::: magister\.webguard$", text, re.M)] == ["serve.md"]


def test_the_people_modules_the_guide_names_have_an_api_page() -> None:
    """docs/people.md names magister.people.simulate, deck, store and web (SimulatedStudent, load_deck, StudyStore,
    StudyApp), which were on no API page: a reader could not look up what the guide uses."""
    text = (ROOT / "docs" / "api" / "people.md").read_text(encoding="utf-8")
    guide = (ROOT / "docs" / "people.md").read_text(encoding="utf-8")
    for module in ("evaluate", "simulate", "deck", "store", "web"):
        assert re.search(rf"^::: magister\.people\.{module}$", text, re.M), module
        assert f"magister.people.{module}" in guide, module


def test_getting_starteds_teacher_table_names_every_registered_teacher_and_links_its_page():
    """The table under "## Teachers" is where a newcomer looks for the teachers: it left out the level, opponent
    and continual teachers (10 of the 28 that `magister teachers` lists), and its people row sent the reader to a
    section "below" that the page does not have."""
    import magister as mg

    text = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    table = text.split("## Teachers", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    named = {name for row in rows for name in re.findall(r"`([a-z0-9-]+)`", row.split("|")[1])}
    assert set(mg.available_teachers()) <= named, sorted(set(mg.available_teachers()) - named)
    assert "see below" not in table
    for row in rows:  # every link of a row goes to a page of docs/
        for page in re.findall(r"\]\(([a-z-]+\.md)(?:#[a-z0-9_-]+)?\)", row):
            assert (ROOT / "docs" / page).exists(), page


def test_the_readmes_one_line_snippets_that_build_a_teacher_run_as_written(tmp_path: Path) -> None:
    """The README's self-play line used `OpponentPool` without saying where it comes from: pasted after the
    README's `import magister as mg`, it stopped with a NameError."""
    spans = [s for s in re.findall(r"`([^`\n]+)`", (ROOT / "README.md").read_text(encoding="utf-8"))
             if "mg.make_teacher(" in s]
    assert spans
    code = "import magister as mg\n" + "\n".join(spans) + "\n"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def _architecture_names() -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")))


def test_architecture_names_only_files_and_folders_that_exist() -> None:
    tree = [p.relative_to(ROOT).as_posix() for d in ("src", "benchmarks", "examples", "tests", "docs", ".ci")
            for p in (ROOT / d).rglob("*") if "__pycache__" not in p.parts]
    paths = [n for n in _architecture_names() if re.fullmatch(r"[\w./-]+(\.py|/)", n)]
    assert len(paths) > 100
    gone = sorted(n for n in paths if not (ROOT / n).exists()
                  and not any(t == n.rstrip("/") or t.endswith("/" + n.rstrip("/")) for t in tree))
    assert not gone, f"ARCHITECTURE.md names files or folders that do not exist: {gone}"


def test_architecture_names_every_module_benchmark_and_example() -> None:
    # a map a newcomer reads first: a module, benchmark or example it leaves out cannot be found from it (the
    # benchmarks/ scripts and rl/vector.py were not named)
    names = _architecture_names()
    stems = {re.split(r"[./]", n.rsplit("/", 1)[-1].removesuffix(".py"))[0] for n in names}
    modules = [p for p in (ROOT / "src" / "magister").rglob("*.py")
               if p.name != "__init__.py" and "migrations" not in p.parts]
    scripts = [*(ROOT / "benchmarks").glob("*.*"), *(ROOT / "examples").glob("*.py")]
    unnamed = sorted({p.relative_to(ROOT).as_posix() for p in modules if p.stem not in stems}
                     | {p.relative_to(ROOT).as_posix() for p in scripts
                        if not any(n == p.name or n.endswith("/" + p.name) for n in names)})
    assert not unnamed, f"ARCHITECTURE.md does not name {unnamed}"


def test_architecture_says_how_each_benchmark_script_reaches_the_process_pool() -> None:
    """ARCHITECTURE.md said the benchmarks/ scripts use processes.run_in_pool "through bench.runner.run_jobs", while
    data_mixture.py and selfplay_diagnose.py call run_in_pool itself."""
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    entry = " ".join(text[text.index("- `processes.py`"):].split("\n- ", 1)[0].split())
    direct = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py")
                    if re.search(r"\brun_in_pool\(", p.read_text(encoding="utf-8")))
    assert direct, "the scan finds no script calling run_in_pool"
    unnamed = [name for name in direct if f"`{name}`" not in entry]
    assert not unnamed, f"ARCHITECTURE.md's processes.py entry does not name {unnamed}, which call run_in_pool itself"
