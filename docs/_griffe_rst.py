"""A griffe extension that turns the reStructuredText markup of magister's docstrings into Markdown for the API pages.

magister's docstrings use Sphinx roles (``:class:`~magister.levels.LevelScorer```, ``:meth:`Maze.path_length```)
and end a paragraph with ``::`` before an example, as editors and ``help()`` expect; mkdocstrings renders
docstrings as Markdown, where both show as typed. At load time (mkdocs.yml: ``extensions:``), this rewrites,
in every docstring of the loaded package (the source files are not touched):

* a role to ``[`Name`][full.path]`` (an mkdocs-autorefs link) when its target, looked up as Sphinx does
  (in the object's class, its module, then as a full path; a name a package exports lazily, in the one
  submodule that defines it), is an object an API page renders. A target the pages hide (no docstring, a
  private name, an inherited member of a private class) links to the nearest class or module around it that
  they show; a target found on no page is plain inline code: a link to an object without a page would fail
  ``mkdocs build --strict`` (tests/test_docs_griffe_rst.py holds every rendered role to linking: a name on no
  page is written as a literal, in double backticks). A ``~`` prefix shows the last component only, ``!`` never links,
  ``title <target>`` shows the title;
* a paragraph-final ``::`` to ``:`` (``text ::`` to ``text``, a lone ``::`` goes), leaving the indented block
  after it (a Markdown code block) as it is.

Code is left alone: the literal block after ``::``, ``>>>`` examples and fenced blocks. A role must fit on
one line. "Rendered" follows mkdocstrings-python with this site's options: the objects named by a ``:::``
line of a page under this folder, and, below each, the members it shows (a name without a leading ``_``,
not inherited, imported only if exported, with a docstring somewhere inside, no submodules). A ``:::``
followed by options renders its object only, as far as this extension knows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from griffe import Alias, AliasResolutionError, CyclicAliasError, Extension, GriffeLoader, Module, Object

ROLE = re.compile(r":(?:py:)?(?:class|meth|func|mod|attr|data|exc|obj|const):`([^`\n]+)`")
DIRECTIVE = re.compile(r"^::: *([\w.]+) *$")
DOCS = Path(__file__).resolve().parent

#: a role's target (``~`` and ``.`` stripped) -> the path to link to, or None for plain code
Resolver = Callable[[str], str | None]


def rewrite(text: str, resolve: Resolver) -> str:
    """``text`` (a docstring) with its roles and paragraph-final ``::`` as Markdown; code is kept as it is."""
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        line, stripped = lines[i], lines[i].strip()
        i += 1
        if stripped.startswith(("```", "~~~")):  # a fenced block, to its closing fence
            out.append(line)
            while i < len(lines):
                out.append(lines[i])
                i += 1
                if lines[i - 1].strip().startswith(stripped[:3]):
                    break
            continue
        if stripped.startswith(">>>"):  # a doctest, to the next blank line
            out.append(line)
            while i < len(lines) and lines[i].strip():
                out.append(lines[i])
                i += 1
            continue
        line = ROLE.sub(lambda m: _role(m.group(1), resolve), line)
        if not (stripped.endswith("::") and (i == len(lines) or not lines[i].strip())):
            out.append(line)
            continue
        # rST "the literal block follows": `text::` -> `text:`, `text ::` -> `text`, `::` alone goes
        if stripped != "::":
            body = line.rstrip()[:-2]
            out.append(body.rstrip() if body.endswith(" ") else body + ":")
        indent, block = len(line) - len(line.lstrip()), []
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
            block.append(lines[i])
            i += 1
        # Markdown's code block is indented 4 more than its paragraph; rST takes any indent
        pad = " " * max(0, 4 + indent - min((len(b) - len(b.lstrip()) for b in block if b.strip()), default=0))
        out += [pad + b if b.strip() else b for b in block]
    return "\n".join(out)


def _role(content: str, resolve: Resolver) -> str:
    """One role's content (``~a.B``, ``a.B``, ``!a.B``, ``title <a.B>``) as a link or as code."""
    title, _, target = content.partition(" <")
    if target.endswith(">"):
        target = target[:-1]
    else:
        target, title = content, ""
    no_link = target.startswith("!")
    target = target.lstrip("!")
    short = target.startswith("~")
    target = target.lstrip("~").lstrip(".")
    if not title:
        title = target.rsplit(".", 1)[-1] if short else target
    path = None if no_link else resolve(target)
    return f"[`{title}`][{path}]" if path else f"`{title}`"


def _final(obj: Object | Alias) -> Object | None:
    try:
        return obj.final_target if isinstance(obj, Alias) else obj
    except (AliasResolutionError, CyclicAliasError):
        return None


def rendered_paths(loader: GriffeLoader, docs: Path = DOCS) -> dict[str, str]:
    """Every object the pages under ``docs`` render: its canonical path -> the path of its anchor."""
    found: dict[str, str] = {}

    def add(obj: Object, path: str, inside: tuple[str, ...] = ()) -> None:
        if obj.path not in found or path == obj.path:  # an object shown twice: link where it is defined
            found[obj.path] = path
        for name, member in obj.members.items():
            target = _final(member)
            if (name.startswith("_") or target is None or target.is_module or target.path in inside
                    or (member.is_imported and not member.is_public) or not target.has_docstrings):
                continue
            add(target, f"{path}.{name}", (*inside, obj.path))

    for page in sorted(docs.rglob("*.md")):
        lines = page.read_text(encoding="utf-8").splitlines()
        for n, line in enumerate(lines):
            m = DIRECTIVE.match(line)
            if not m:
                continue
            try:
                obj = _final(loader.modules_collection[m.group(1)])
            except KeyError:
                continue
            if obj is None:
                continue
            if n + 1 < len(lines) and lines[n + 1].startswith((" ", "\t")):  # options: members may differ
                found.setdefault(obj.path, m.group(1))
            else:
                add(obj, m.group(1))
    return found


def _nearest(found: Object | Alias, rendered: dict[str, str]) -> str | None:
    """Where a found target is rendered, else the nearest class or module around it that is (a method without a
    docstring, a private one, a constant: the class or module it belongs to); None for a module without a page."""
    final = _final(found)
    if final is None:
        return None
    if final.path in rendered:
        return rendered[final.path]
    if final.is_module:
        return None
    # an inherited member: the class it was looked up in before the (maybe private) class that defines it
    starts = [found.parent] if isinstance(found, Alias) and found.inherited else []
    for scope in [*starts, final.parent]:
        while scope is not None:
            if scope.path in rendered:
                return rendered[scope.path]
            if scope.is_module:
                break
            scope = scope.parent
    return None


def resolver(obj: Object, loader: GriffeLoader, rendered: dict[str, str]) -> Resolver:
    """Resolve targets from ``obj``'s docstring as Sphinx does: in its class(es), its module, then absolute."""
    scopes: list[Object] = []
    scope: Object | None = obj if obj.is_class or obj.is_module else obj.parent
    while scope is not None:
        scopes.append(scope)
        if scope.is_module:
            break
        scope = scope.parent

    def get(where: Object | None, path: str) -> Object | None:
        try:
            return _final(where[path] if where is not None else loader.modules_collection[path])
        except (KeyError, AliasResolutionError, CyclicAliasError):
            return None

    def lookup(where: Object | None, target: str) -> Object | Alias | None:
        try:  # unresolved: an inherited member is an alias whose parent is the class it is looked up in
            found = where[target] if where is not None else loader.modules_collection[target]
        except (KeyError, AliasResolutionError, CyclicAliasError):
            found = None
        if found is not None and _final(found) is not None:
            return found
        # a package's lazy exports (a module `__getattr__`): the one submodule that defines the name
        package, _, name = target.rpartition(".")
        pkg = get(where, package) if package else where
        if pkg is None or not pkg.is_init_module:
            return None
        defined = [m.members[name] for m in pkg.modules.values() if name in m.members]
        defined = [obj for obj in defined if not obj.is_alias]
        return _final(defined[0]) if len(defined) == 1 else None

    def resolve(target: str) -> str | None:
        for where in [*scopes, None]:
            found = lookup(where, target)
            if found is not None:
                return _nearest(found, rendered)
        return None

    return resolve


class RstToMarkdown(Extension):
    """Rewrite every docstring of a loaded package (see the module docstring)."""

    def on_package(self, *, pkg: Module, loader: GriffeLoader, **kwargs: Any) -> None:
        rendered = rendered_paths(loader)

        def visit(obj: Object) -> None:
            if obj.docstring is not None:
                obj.docstring.value = rewrite(obj.docstring.value, resolver(obj, loader, rendered))
                obj.docstring.__dict__.pop("parsed", None)  # parsed lazily; drop a parse of the old text
            for member in obj.members.values():
                if not isinstance(member, Alias):
                    visit(member)

        visit(pkg)
