"""``magister.bench.args`` of this checkout, for the harnesses that run against another ``src/``.

``level_exactness.py`` and ``level_cliffs.py`` are run with an older tree's ``src/`` on ``PYTHONPATH``
(docs/levels.md: ``git archive 35a3464 src``), whose magister may lack the argparse helpers, or
``magister.bench.args`` altogether. The helpers import nothing of magister at module level, so this
checkout's file is loaded by its path, beside whichever magister is imported.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "src" / "magister" / "bench" / "args.py"
_spec = importlib.util.spec_from_file_location("_magister_bench_args_of_this_tree", _PATH)
assert _spec is not None and _spec.loader is not None
_args = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_args)

at_least = _args.at_least
write_atomically = _args.write_atomically
strict_json = _args.strict_json
