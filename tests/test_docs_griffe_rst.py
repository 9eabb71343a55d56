"""The API pages show the docstrings' Sphinx roles and ``::`` as Markdown (docs/_griffe_rst.py, a griffe extension).

Before it, mkdocstrings printed ``:class:`~magister.levels.LevelScorer``` and a paragraph's final ``::`` as typed.
The site build (``make docs``, ``--strict``) checks that every link it writes has a target; these tests check the
rewrite itself, on samples and on magister's own docstrings (every role a page renders links), and build the site
once to look for a role left as typed.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from griffe import GriffeLoader, Object, load_extensions

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("_griffe_rst", ROOT / "docs" / "_griffe_rst.py")
assert _spec is not None and _spec.loader is not None
ext = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ext)

PAGES = {"magister.teacher.Teacher": "magister.teacher.Teacher", "magister.levels.maze.Maze": "magister.levels.maze.Maze"}


def resolve(target: str) -> str | None:
    return PAGES.get(target)


@pytest.mark.parametrize(("text", "expected"), [
    (":class:`magister.teacher.Teacher` proposes", "[`magister.teacher.Teacher`][magister.teacher.Teacher] proposes"),
    ("a :class:`~magister.teacher.Teacher`.", "a [`Teacher`][magister.teacher.Teacher]."),
    ("see :meth:`~magister.people.store.StudyStore.deck_history`", "see `deck_history`"),  # no page: code
    (":func:`numpy.random.default_rng`", "`numpy.random.default_rng`"),
    (":py:class:`!magister.teacher.Teacher`", "`magister.teacher.Teacher`"),
    (":class:`the maze <magister.levels.maze.Maze>`", "[`the maze`][magister.levels.maze.Maze]"),
    (":mod:`a` and :attr:`.b`, :data:`c`", "`a` and `b`, `c`"),
])
def test_a_role_becomes_a_link_when_its_target_has_a_page_else_code(text: str, expected: str) -> None:
    assert ext.rewrite(text, resolve) == expected


def test_a_paragraph_final_double_colon_introduces_the_code_block_that_stays_as_it_is() -> None:
    doc = "Run it::\n\n    x = 1  # :class:`Teacher` here is code\n\n    y = 2\n\nThen :class:`~magister.teacher.Teacher`."
    assert ext.rewrite(doc, resolve) == (
        "Run it:\n\n    x = 1  # :class:`Teacher` here is code\n\n    y = 2\n\nThen [`Teacher`][magister.teacher.Teacher].")
    assert ext.rewrite("The layout ::\n\n    a\n", resolve) == "The layout\n\n    a\n"
    assert ext.rewrite("The layout.\n\n::\n\n    a", resolve) == "The layout.\n\n\n    a"
    # rST takes a block indented by 2; Markdown needs 4 to show it as code
    assert ext.rewrite("  In a section::\n\n    a\n      b\n  After.", resolve) == \
        "  In a section:\n\n      a\n        b\n  After."
    # not paragraph-final (the paragraph goes on), and code in doctests and fences: unchanged
    for kept in ["ends in a::\nand goes on", ">>> f(':class:`x`')\n':class:`x`'",
                 "```\n:class:`x`::\n\n    y\n```"]:
        assert ext.rewrite(kept, resolve) == kept


@pytest.fixture(scope="module")
def loader() -> GriffeLoader:
    loader = GriffeLoader(extensions=load_extensions(ext.RstToMarkdown()), search_paths=[str(ROOT / "src")])
    loader.load("magister")
    return loader


@pytest.fixture(scope="module")
def magister(loader: GriffeLoader) -> Object:
    package = loader.modules_collection["magister"]
    assert isinstance(package, Object)
    return package


def _docstrings(obj: Object) -> list[tuple[str, str]]:
    out = [(obj.path, obj.docstring.value)] if obj.docstring is not None else []
    for member in obj.members.values():
        if isinstance(member, Object):
            out += _docstrings(member)
    return out


def test_no_docstring_of_magister_keeps_a_role_or_a_final_double_colon_outside_code(magister: Object) -> None:
    docs = _docstrings(magister)
    assert len(docs) > 500
    left = [path for path, doc in docs if ext.rewrite(doc, lambda target: "x") != doc]
    assert not left, f"docstrings still with rST markup: {left[:5]}"
    assert sum(len(re.findall(r"\]\[magister\.", doc)) for _, doc in docs) > 300


def test_magisters_roles_link_to_where_the_pages_render_their_target(magister: Object) -> None:
    ppo = magister["rl.ppo"].docstring.value
    assert "[`CurriculumVectorEnv`][magister.rl.vector.CurriculumVectorEnv]" in ppo  # `~` and another module
    assert "[`LevelScorer`][magister.rl.levels.LevelScorer]" in ppo
    maze = magister["levels.maze"].docstring.value
    assert "[`MazeFormatError`][magister.levels.maze.MazeFormatError]" in maze  # a name of the module itself
    assert "One character per cell, one line per row:\n\n    #######" in maze
    # an imported name links where it is defined; a lazily exported one (magister.data) to its submodule
    assert "[`ConfigError`][magister.errors.ConfigError]" in magister["webguard.check_can_listen"].docstring.value
    assert "[`SkillSampler`][magister.data.sampler.SkillSampler]" in \
        magister["data.streaming"].docstring.value
    # magister.people.cli has no API page: plain code, as a link there would fail the strict build
    assert "the study loop (`cli`)" in magister["people"].docstring.value
    assert "][magister.people.cli" not in "".join(doc for _, doc in _docstrings(magister))
    # magister.people.store is on docs/api/people.md: a link
    assert "[`StudyStore.deck_history`][magister.people.store.StudyStore.deck_history]" in \
        magister["people.store"].docstring.value


@pytest.mark.parametrize(("module", "link"), [
    # a module docstring's bare method name resolved to nothing (its module has no such name): code, not a link
    ("data.sampler", "[`observe_eval`][magister.data.mixing.SkillMixer.observe_eval]"),  # (inherited)
    ("data.sampler", "[`observe_batch_loss`][magister.data.sampler.SkillSampler.observe_batch_loss]"),
    ("data.prompts", "[`next_prompts`][magister.data.prompts.PromptCurriculum.next_prompts]"),
    ("data.streaming", "[`load_state_dict`][magister.data.streaming.SkillStream.load_state_dict]"),
    ("people.dkt", "[`replay`][magister.people._sequence.SequenceModel.replay]"),
    ("people.blend", "[`replay`][magister.people.blend.Blend.replay]"),
    ("teachers.sequential", "[`beliefs`][magister.teacher.Teacher.beliefs]"),
    ("rl.wrapper.TeacherKey", "[`teacher_key`][magister.rl.wrapper.teacher_key]"),  # not the method of its class
])
def test_roles_to_methods_of_a_modules_classes_link_to_them(magister: Object, module: str, link: str) -> None:
    assert link in magister[module].docstring.value


def test_what_counts_as_rendered_follows_the_api_pages_and_mkdocstrings_options(loader: GriffeLoader) -> None:
    rendered = ext.rendered_paths(loader)
    assert rendered["magister.teacher.Teacher"] == "magister.teacher.Teacher"  # docs/api/core.md: ::: magister.teacher
    assert "magister.teacher.Teacher.propose" in rendered
    assert "magister.people._sequence.SequenceModel" in rendered  # a private module its page names
    assert "magister.teacher.Teacher._get_state" not in rendered  # filters: ["!^_"]
    assert "magister.spaces.Space.index" not in rendered  # no docstring (show_if_no_docstring is off)
    assert "magister.people.cli.command" not in rendered  # no page names magister.people.cli
    assert "magister.people.store.StudyStore" in rendered  # docs/api/people.md: ::: magister.people.store


#: a numpy-style section heading: its name, then a line of dashes under it
NUMPY_SECTION = re.compile(r"^[ \t]*(Parameters|Returns|Yields|Raises|Attributes|Examples|Notes|See Also|Other Parameters)"
                           r"[ \t]*\n[ \t]*-{3,}[ \t]*$", re.MULTILINE)


def test_docstrings_use_the_google_sections_the_site_parses(magister: Object) -> None:
    # mkdocs.yml parses docstrings as Google style: a numpy `Parameters` / `----------` section rendered as a
    # heading and plain text, not a table of the parameters (21 classes' settings)
    numpy = [path for path, doc in _docstrings(magister) if NUMPY_SECTION.search(doc)]
    assert not numpy, f"numpy-style sections (use `Args:` with `name: text` entries): {numpy}"
    assert NUMPY_SECTION.search("Intro.\n\n    Parameters\n    ----------\n    n:\n        Tasks.\n")
    sampler = magister["data.sampler.SkillSampler"]
    assert isinstance(sampler, Object) and sampler.docstring is not None
    sections = sampler.docstring.parse("google")
    params = [p.name for s in sections if s.kind.value == "parameters" for p in s.value]
    assert params[:3] == ["skills_of_examples", "teacher", "batch_size"] and "max_history" in params


@pytest.fixture(scope="module")
def raw_loader() -> GriffeLoader:
    """magister as written (no extension): the roles themselves."""
    loader = GriffeLoader(search_paths=[str(ROOT / "src")])
    loader.load("magister")
    return loader


def _rendered_roles(loader: GriffeLoader) -> list[tuple[str, str, str | None]]:
    """(docstring's object, role's target, where it links or None) for every role outside code in a docstring
    that an API page renders."""
    rendered, found = ext.rendered_paths(loader), []

    def visit(obj: Object) -> None:
        if obj.docstring is not None and obj.path in rendered:
            resolve = ext.resolver(obj, loader, rendered)

            def record(target: str) -> str | None:
                found.append((obj.path, target, resolve(target)))
                return found[-1][2]

            ext.rewrite(obj.docstring.value, record)
        for member in obj.members.values():
            if isinstance(member, Object):
                visit(member)

    package = loader.modules_collection["magister"]
    assert isinstance(package, Object)
    visit(package)
    return found


def test_every_role_in_a_docstring_the_pages_render_links(raw_loader: GriffeLoader) -> None:
    # 66 showed as code, not links: a target without a docstring (hidden: a method, a constant), a private one, an
    # unqualified method of a module's class, a module or class on no page. A name on no page is ``plain code``.
    roles = _rendered_roles(raw_loader)
    assert len(roles) > 400
    unlinked = [f"{path}: {target}" for path, target, link in roles if link is None]
    assert not unlinked, ("roles that render as code, not links (qualify the name, or write ``name`` for one "
                          f"on no API page): {unlinked}")
    split = [path for path, doc in _docstrings(raw_loader.modules_collection["magister"])
             if re.search(r":(?:py:)?(?:class|meth|func|mod|attr|data|exc|obj|const):`[^`]*\n", doc)]
    assert not split, f"a role over two lines is not rewritten (keep it on one line): {split}"


@pytest.mark.parametrize(("module", "link"), [
    # a target the pages hide links to the nearest class or module they show: no docstring (a method, a constant)
    ("spaces", "[`Space.index`][magister.spaces.Space]"),
    ("set_aside", "[`FACTOR`][magister.set_aside]"),
    ("rl.ray.TeacherActor.save", "[`_checkpointed`][magister.rl.ray.TeacherActor]"),  # private
    ("people._sequence", "[`SequenceModel._run`][magister.people._sequence.SequenceModel]"),
    # inherited from a private class: the class the name was looked up in
    ("teachers.continual_order", "[`rehearsal`][magister.teachers.continual_order.ContinualOrder]"),
    ("level_buffer.LevelBuffer.add", "[`tick`][magister.level_buffer.LevelBuffer.tick]"),
    ("rl.ppo.PPO.policy", "[`magister.rl.envs.evaluate`][magister.rl.envs.base.evaluate]"),
])
def test_a_target_the_pages_hide_links_to_the_class_or_module_around_it(magister: Object, module: str,
                                                                         link: str) -> None:
    assert link in magister[module].docstring.value


def test_the_built_site_shows_no_role_as_typed(tmp_path: Path) -> None:
    # the pages as mkdocs writes them (--strict: every link has a target); a role's syntax in the HTML is one the
    # extension missed (the changelog names roles as code, `:class:`, never followed by the target's code)
    import os
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                    "-d", str(tmp_path)], check=True, capture_output=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    pages = {p.relative_to(tmp_path).as_posix(): p.read_text(encoding="utf-8") for p in tmp_path.rglob("*.html")}
    assert len([p for p in pages if p.startswith("api/")]) == 10
    role = re.compile(r":(?:py:)?(?:class|meth|func|mod|attr|data|exc|obj|const):(?:<code>|`)")
    assert not [page for page, html in pages.items() if role.search(html)]
    assert role.search(":class:<code>~magister.teacher.Teacher</code>")
    assert 'href="#magister.spaces.Space"><code>Space.index</code></a>' in pages["api/core/index.html"]
