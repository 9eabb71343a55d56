"""benchmarks/serve_scale.py's several-process run (PostgreSQL), with its Python client and with wrk.

A short run of each: the servers answer every request of either client (the benchmark stops on any failed
request, and wrk's script sends observations the service must accept), and the table reports a rate, a ratio
to one process and CPU per request for each count.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip("psycopg")
pytest.importorskip("fastapi")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import serve_scale  # noqa: E402
from serve_fixtures import postgres_bin  # noqa: E402

pytestmark = pytest.mark.skipif(postgres_bin() is None,
                                reason="PostgreSQL binaries not found under /usr/lib/postgresql/*/bin "
                                       "(make system-deps installs Debian's postgresql)")


@pytest.mark.parametrize("client", ["python", "wrk"])
def test_several_processes_are_measured_with_either_client(client, capsys):
    if client == "wrk" and shutil.which("wrk") is None:
        pytest.skip("wrk not found on the PATH (make system-deps installs Debian's wrk)")
    serve_scale.main(["--postgres", "--processes", "1,2", "--n", "40", "--seconds", "2", "--affinity",
                      "--clients", "8", "--client", client])
    out = capsys.readouterr().out
    rates = re.findall(r"\| (\d) API process(?:es)? \(affinity: by curriculum\) \| ([\d,]+) requests/s", out)
    assert [p for p, _ in rates] == ["1", "2"], out
    assert all(int(r.replace(",", "")) > 0 for _, r in rates), out
    assert re.search(r"; x\d+\.\d\d \[[\d.]+-[\d.]+\] of 1 \|", out), out
    cpu = re.findall(r"CPU per request, \d: servers / PostgreSQL / client \(ms\) \| ([\d.]+) / ([\d.]+) / ([\d.]+)",
                     out)
    assert len(cpu) == 2 and all(float(s) > 0 and float(c) > 0 for s, _, c in cpu), out


def test_wrk_script_is_refused_clearly_without_wrk(monkeypatch):
    monkeypatch.setattr(serve_scale.shutil, "which", lambda name: None)
    with pytest.raises(SystemExit, match="wrk on the PATH"):
        serve_scale.main(["--postgres", "--processes", "1,2", "--client", "wrk"])


def test_a_client_without_the_several_process_run_is_refused():
    # --client only chooses what drives the --processes run: alone it would be ignored silently
    with pytest.raises(SystemExit, match="give --processes too"):
        serve_scale.main(["--client", "wrk"])
