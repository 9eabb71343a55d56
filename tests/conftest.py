"""Suite-wide hooks: with ``MAGISTER_STRICT_DEPS=1`` a test skipped for a missing dependency fails.

``make test`` sets it, so a package or system program that CI forgot to
install is a failure there, never a quiet skip. A user running plain
``pytest`` (the variable unset or ``0``) keeps the skips.

A skip counts as "missing dependency" when its reason says so: the reasons
``pytest.importorskip`` gives ("could not import ...", "No module named ...")
and those of the suite's own ``skipif`` markers ("... not found", "... not
installed", "missing ..."). Skips for other reasons (``slow``, platform) stay skips.
"""

from __future__ import annotations

import os
import re

import pytest

MISSING_DEPENDENCY = re.compile(r"could not import|no module named|not installed|not found|missing", re.I)


def strict_deps() -> bool:
    return os.environ.get("MAGISTER_STRICT_DEPS", "").strip() not in ("", "0")


def _reason(longrepr) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: reason")
        return str(longrepr[2])
    return str(longrepr)


def _fail_missing_dependency(report) -> None:
    if not (report.skipped and strict_deps()) or hasattr(report, "wasxfail"):
        return
    reason = _reason(report.longrepr)
    if MISSING_DEPENDENCY.search(reason):
        report.outcome = "failed"
        report.longrepr = (f"skipped for a missing dependency, which fails under MAGISTER_STRICT_DEPS=1 "
                           f"({reason}); install it (make install, make system-deps), or run plain "
                           "pytest without MAGISTER_STRICT_DEPS to allow the skip")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_missing_dependency(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_missing_dependency(outcome.get_result())
