"""The layers of ARCHITECTURE.md, enforced: each part of magister imports only from the layers
below it, the integrations do not import each other, and `import magister` stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "src" / "magister"

#: top-level module or package of magister -> layer (a part may import only from lower layers)
LAYERS: dict[str, int] = {
    # foundations
    "errors": 0, "rng": 0, "settings": 0, "spaces": 0, "scores": 0, "checkpoint": 0, "levels": 0,
    "webguard": 0, "names": 0, "times": 0, "processes": 0,
    # the contract (and the package's own re-exports of it)
    "teacher": 1, "testing": 1, "recommend": 1, "__init__": 1,
    # shared teacher machinery
    "averages": 2, "set_aside": 2, "gmm": 2, "history": 2, "mixture_teacher": 2, "regions": 2, "level_buffer": 2,
    "opponents": 2,
    # teachers and simulated students
    "teachers": 3, "students": 3,
    # integrations (independent of each other)
    "rl": 4, "data": 4, "serve": 4, "people": 4,
    # the benchmark runner and the continual learners may drive any integration; the command line (and
    # `python -m magister`, which runs it) sits on top
    "bench": 5, "continual": 5, "cli": 6, "__main__": 6,
}
INTEGRATIONS = {name for name, layer in LAYERS.items() if layer == 4}
#: the one sanctioned upward import: the registry loads the teachers it registers by name
ALLOWED = {("teacher", "teachers")}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imported_modules(source: str, package: str) -> list[str]:
    """Every module ``source`` (a module of ``package``) imports, anywhere in it, with relative imports resolved;
    ``from P import a`` gives ``P`` and ``P.a`` (``a`` may be a submodule)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found += ([target] if node.module else []) + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names]
    return found


def import_edges() -> set[tuple[str, str, str]]:
    """(importing part, imported part, file) for every import between parts of magister."""
    edges = set()
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        module = ".".join(rel.parts[:-1] if path.name == "__init__.py" else rel.parts)
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for t in imported_modules(path.read_text(), package):
            if t == "magister" or t.startswith("magister."):
                a, b = _part(module), _part(t)
                if a != b:
                    edges.add((a, b, str(path.relative_to(ROOT.parent))))
    return edges


def test_every_part_of_magister_has_a_layer() -> None:
    parts = {p.stem if p.is_file() else p.name for p in ROOT.iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))}
    missing = sorted(parts - set(LAYERS))
    assert not missing, f"give {missing} a layer in LAYERS (and in ARCHITECTURE.md)"


def test_imports_only_go_down_and_integrations_stay_apart() -> None:
    edges = import_edges()
    assert ("teachers", "teacher", "magister/teachers/uniform.py") in edges  # the scan sees imports
    bad = sorted(
        f"{where}: {a} (layer {LAYERS[a]}) imports {b} (layer {LAYERS[b]})"
        for a, b, where in edges
        if (a, b) not in ALLOWED and a in LAYERS and b in LAYERS
        and (LAYERS[b] > LAYERS[a] or (LAYERS[a] == LAYERS[b] and {a, b} <= INTEGRATIONS | {"teachers", "students"}))
    )
    assert not bad, "imports against the layers of ARCHITECTURE.md:\n" + "\n".join(bad)


def test_the_layer_check_catches_an_upward_import(tmp_path, monkeypatch) -> None:
    fake = tmp_path / "magister"
    (fake / "teachers").mkdir(parents=True)
    (fake / "teachers" / "__init__.py").write_text("")
    (fake / "teachers" / "bad.py").write_text("from ..people import policies\n")
    (fake / "people").mkdir()
    (fake / "people" / "__init__.py").write_text("")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake)
    assert ("teachers", "people", "magister/teachers/bad.py") in import_edges()


def test_import_magister_and_a_plain_teacher_stay_light() -> None:
    code = (
        "import sys, magister as mg\n"
        "mg.make_teacher('uniform', mg.Discrete(3), seed=0).propose()\n"
        "heavy = ('torch', 'gymnasium', 'fastapi', 'sqlalchemy', 'ray', 'transformers', 'scipy', 'matplotlib',"
        " 'magister.people',"
        " 'magister.serve', 'magister.rl', 'magister.data')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"import magister loaded heavy modules: {out.stdout}"


#: a learner model fitted on two answers, one right and one wrong (a statement: the model's name in {})
FIT = ("from magister.people import Event, EventLog, make_model; "
       "make_model({!r}).fit(EventLog.from_events([Event('a', 'i', ('s',), float(t), float(t == 0)) for t in (0, 1)]))")

#: (what a user runs, the optional modules hidden from it, the extra its error must name)
WITHOUT_EXTRA = [
    ("import magister.rl", ["gymnasium"], "rl"),
    ("import magister.rl.ppo", ["torch"], "torch"),
    ("import magister.rl.ray", ["ray"], "ray"),
    ("import magister.data.model", ["torch"], "torch"),
    ("from magister.data import add_curriculum", ["torch"], "hf"),
    ("from magister.data import CurriculumGRPOTrainer", ["torch"], "trl"),
    ("from magister.serve import create_app", ["anyio", "fastapi"], "serve"),
    ("import magister.serve.harness", ["httpx"], "serve"),
    ("from magister.serve import HTTPTeacher; HTTPTeacher('http://127.0.0.1:9', 'c')", ["httpx"], "serve"),
    ("import numpy as np; from magister.continual import digits; digits(np.random.default_rng(0))", ["sklearn"],
     "continual"),
    ("from magister.people.events import EventLog; from magister.people.memory import FSRSMemory; "
     "FSRSMemory().fit(EventLog.from_events([]))", ["scipy"], "people"),
    ("from magister.people.web import create_app; create_app(None)", ["fastapi"], "serve"),
    # best-lr and DKT / SAKT raised a ConfigError of their own words, which `except ImportError` missed
    (FIT.format("best-lr"), ["sklearn"], "people"),
    (FIT.format("best-lr"), ["scipy"], "people"),
    (FIT.format("dkt"), ["torch"], "torch"),
    (FIT.format("sakt"), ["torch"], "torch"),
    # a plain ImportError of their own words (no cause, no module name), or gymnasium's bare one
    ("from magister.data import SkillSampler", ["torch"], "torch"),
    ("from magister.data import SkillStream", ["torch"], "torch"),
    ("import magister.rl.minigrid", ["minigrid"], "minigrid"),
    ("from magister.bench.levels import teacher_path_speed; teacher_path_speed('uniform')", ["gymnasium"], "rl"),
]


@pytest.mark.parametrize("statement, hidden, extra", WITHOUT_EXTRA, ids=[c[0][:40] for c in WITHOUT_EXTRA])
def test_a_missing_extra_is_named_with_its_install_command(statement, hidden, extra) -> None:
    # `pip install magister` has none of these: a bare "No module named 'gymnasium'" (or 'anyio', for create_app)
    # named no extra; the error stays an ImportError, so `except ImportError` and importorskip keep working
    code = (
        f"import sys\nfor m in {hidden!r}: sys.modules[m] = None\n"
        f"try:\n    {statement}\nexcept ImportError as e:\n    print(type(e).__name__, '|', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ModuleNotFoundError |"), out.stdout
    assert f"pip install 'magister[{extra}]'" in out.stdout, out.stdout
    assert f"(No module named '{hidden[0]}" in out.stdout, out.stdout  # (the cause, not an error quoted in one)

def test_teachers_registered_elsewhere_load_on_demand() -> None:
    code = (
        "import sys, magister as mg\n"
        "t = mg.make_teacher('mastery-learning', mg.Discrete(['a', 'b']), seed=0)\n"
        "print(type(t).__module__, 'mastery-learning' in mg.available_teachers('discrete'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["magister.people.policies", "True"]


#: what ``people/base.py`` (the learner-model protocol and registry) may import from ``magister.people``: the learner
#: models (bkt, dkt, elo, ...) import it, so importing any of them, or the package whose ``__init__`` loads them, is a
#: cycle
PEOPLE_BASE_MAY_IMPORT = {"magister.people.events"}


def people_imports(source: str, module: str = "magister.people.base") -> set[str]:
    """The modules of ``magister.people`` (``magister.people.X``, or the package itself) that ``source``, the text of
    ``module``, imports anywhere (top level or inside a function)."""
    people = "magister.people"
    return {".".join(n.split(".")[:3]) for n in imported_modules(source, module.rsplit(".", 1)[0])
            if n == people or n.startswith(people + ".")}


def test_people_base_imports_none_of_the_models_that_import_it() -> None:
    folder = ROOT / "people"
    importers = sorted(p.stem for p in folder.glob("*.py")
                       if "magister.people.base" in people_imports(p.read_text(), f"magister.people.{p.stem}"))
    assert {"bkt", "dkt", "elo"} <= set(importers)  # the scan sees the models' imports of base
    bad = people_imports((folder / "base.py").read_text()) - PEOPLE_BASE_MAY_IMPORT
    assert not bad, (f"people/base.py imports {sorted(bad)}; it may import only {sorted(PEOPLE_BASE_MAY_IMPORT)} "
                     f"from magister.people (these import base: {importers})")


def test_the_people_base_check_catches_an_import_of_a_model() -> None:
    ok = "from .. import checkpoint\nfrom ..errors import ConfigError\nfrom .events import Event, EventLog\n"
    assert people_imports(ok) == {"magister.people.events"}
    for line in ("from .models import something", "from .bkt import BKT", "from . import dkt",
                 "from magister.people.elo import Elo", "import magister.people.sakt", "from ..people import blend",
                 "from .. import people", "from magister.people import make_model",
                 "def fit():\n    from .memory import Memory"):
        assert people_imports(ok + line + "\n") - PEOPLE_BASE_MAY_IMPORT, line
