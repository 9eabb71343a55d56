"""benchmarks/serve_scale.py's several-process run (PostgreSQL), with its Python client and with wrk.

A short run of each: the servers answer every request of either client (the benchmark stops on any failed
request, and wrk's script sends observations the service must accept), and the table reports a rate, a ratio
to one process and CPU per request for each count. The service benchmarks (serve_scale, serve_load, serve_ids)
refuse bad options before any server starts or any id is written.
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

needs_postgres = pytest.mark.skipif(postgres_bin() is None,
                                    reason="PostgreSQL binaries not found under /usr/lib/postgresql/*/bin "
                                           "(make system-deps installs Debian's postgresql)")


@needs_postgres
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


@pytest.mark.parametrize("bad, needle", [
    # --client only chooses what drives the --processes run: alone it would be ignored silently
    (["--client", "wrk"], "give --processes too"),
    (["--client", "python", "--processes", "1,2"], "--processes needs --postgres"),
    (["--processes", "1,2"], "--processes needs --postgres"),
    (["--postgres", "--processes", "1,2", "--client", "wrk"], "wrk on the PATH"),  # (no wrk: see the monkeypatch)
    (["--postgres"], "PostgreSQL binaries"),  # (none: see the monkeypatch)
])
def test_combinations_and_missing_tools_are_refused_with_the_usage_line(capsys, monkeypatch, bad, needle):
    # each was a bare exit 1 with the reason alone (SystemExit("...")), not argparse's usage line and exit 2
    monkeypatch.setattr(serve_scale.shutil, "which", lambda name: None)
    monkeypatch.setattr(serve_scale, "postgres_bin", lambda: None)
    monkeypatch.setattr(serve_scale, "Server", lambda *a, **k: pytest.fail("a server started"))
    with pytest.raises(SystemExit) as e:
        serve_scale.main(bad)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("usage:") and needle in err.split("error:", 1)[1], err


@pytest.mark.parametrize("script, bad, needle", [
    # serve_scale: each failed after the --n curricula were created (minutes at the default million)
    ("serve_scale", ["--requests", "0"], "--requests"),  # a ZeroDivisionError
    ("serve_scale", ["--observe", "-1"], "--observe"),  # numpy's 'negative dimensions'
    ("serve_scale", ["--postgres", "--processes", "1,x"], "--processes"),  # int('x')
    ("serve_scale", ["--postgres", "--processes", "1,4", "--clients", "2"], "--clients"),  # a process not driven
    ("serve_scale", ["--seconds", "0"], "--seconds"),
    ("serve_scale", ["--db", "FILE"], "exists"),  # its curricula made the bulk creation fail (409)
    ("serve_scale", ["--db", "DIR"], "is a folder"),
    ("serve_scale", ["--postgres", "--db", "x.db"], "not used with --postgres"),  # ignored without a word
    # serve_load: an unknown backend stopped the run after the SQLite rows, a typo'd teacher was an HTTP 422
    # traceback, a zero duration an empty percentile
    ("serve_load", ["--backends", "sqlite,postgres"], "'postgres'"),
    ("serve_load", ["--teacher", "unifrom"], "unifrom"),
    ("serve_load", ["--teacher", "exp3", "--teacher-kind", "continuous"], "discrete teacher"),
    ("serve_load", ["--seconds", "0"], "--seconds"),
    ("serve_load", ["--think", "10,0"], "--think"),  # 0 ran the saturated row twice into one list
    ("serve_load", ["--clients", "0"], "--clients"),
    # serve_ids: after the bookkeeping table and writing the log (a million ids)
    ("serve_ids", ["--recent", "1000", "0"], "--recent"),  # the service's ConfigError
    ("serve_ids", ["--calls", "0"], "--calls"),  # an IndexError
    ("serve_ids", ["--ids", "0"], "--ids"),  # a ZeroDivisionError
])
def test_service_benchmarks_refuse_bad_options_before_any_server_starts(tmp_path, capsys, monkeypatch, script: str,
                                                                        bad: list[str], needle: str) -> None:
    import importlib

    module = importlib.import_module(script)
    for name in ("Server", "fill", "bookkeeping"):  # parse only: no server started, no id written
        if hasattr(module, name):
            monkeypatch.setattr(module, name, lambda *a, **k: pytest.fail("a run started"))
    (tmp_path / "FILE").write_text("not a new database")
    bad = [{"FILE": str(tmp_path / "FILE"), "DIR": str(tmp_path)}.get(b, b) for b in bad]
    with pytest.raises(SystemExit) as e:
        module.main(bad)
    assert e.value.code == 2 and needle in capsys.readouterr().err.split("error:", 1)[1]


def test_serve_ids_times_few_calls_and_loads_the_curriculum_it_measures(capsys) -> None:
    # the curriculum was read from s.curricula right after start (a KeyError since curricula load on first
    # use), and fewer than 500 --calls indexed recent ids before the start of the list (an IndexError)
    import serve_ids

    serve_ids.main(["--ids", "300", "--recent", "100", "--calls", "20", "--skip-bookkeeping"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("recent_ids=")]
    assert [r[0] for r in rows] == ["recent_ids=all", "recent_ids=100"]
    # start s, peak MB, held MB, bytes/id, new id p50, p99, old retry, recent retry: bytes held for the ids
    assert all(len(r[-8:]) == 8 and float(r[-5]) > 0 for r in rows), rows
