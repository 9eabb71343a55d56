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


@pytest.fixture
def full_disk_at(monkeypatch):
    """``full_disk_at(name)``: the next write of a file called ``name`` fails partway with ENOSPC (no space
    left), both a write in place (``Path.write_text``: half the text lands, then the error) and one through a
    temporary file (``magister.checkpoint.atomic_write``: the bytes are in the temporary file when the disk
    refuses to make them durable). A results file written either way can be checked to stay whole."""
    import errno
    from pathlib import Path

    from magister import checkpoint

    names: set[str] = set()
    armed: set[int] = set()
    write_text, new_temp, fsync = Path.write_text, checkpoint._new_temp, checkpoint.os.fsync

    def full() -> OSError:
        return OSError(errno.ENOSPC, "No space left on device")

    def failing_write_text(self, data, *args, **kwargs):
        if self.name in names:
            names.discard(self.name)
            write_text(self, data[: len(data) // 2], *args, **kwargs)
            raise full()
        return write_text(self, data, *args, **kwargs)

    def failing_new_temp(folder, name):
        fd, tmp = new_temp(folder, name)
        if name in names:
            names.discard(name)
            armed.add(fd)
        return fd, tmp

    def failing_fsync(fd):
        if fd in armed:
            armed.discard(fd)
            raise full()
        return fsync(fd)

    monkeypatch.setattr(Path, "write_text", failing_write_text)
    monkeypatch.setattr(checkpoint, "_new_temp", failing_new_temp)
    monkeypatch.setattr(checkpoint.os, "fsync", failing_fsync)
    return names.add
