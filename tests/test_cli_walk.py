"""A new user's walk of the command line (session 28): database URLs, an empty --host, `uvicorn --factory`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from magister.cli import app
from magister.errors import ConfigError
from magister.serve.app import StartupRefused, app_from_env

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("db, says", [
    # in memory without the two spellings that were refused: a TypeError traceback from create_engine
    ("sqlite:///", "in-memory SQLite database is not durable"),
    ("sqlite:///?mode=memory", "in-memory SQLite database is not durable"),
    ("sqlite:///file:x?mode=memory&uri=true", "in-memory SQLite database is not durable"),
    # a driver SQLAlchemy does not have: a NoSuchModuleError traceback (the password is not shown)
    ("postgresql+nosuch://u:secret@h/x", "names a database driver that cannot be used"),
    ("sqlite+nosuch:///x.db", "names a database driver that cannot be used"),
    # a port that is not a number: Python's bare "invalid literal for int()", naming nothing
    ("postgresql://u:secret@h:notaport/x", "--db (MAGISTER_DB) is not a database URL"),
])
def test_serve_refuses_database_urls_it_cannot_use_naming_db(tmp_path, monkeypatch, db, says):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: pytest.fail("served"))
    monkeypatch.setattr("magister.webguard.check_can_listen", lambda host, port: None)  # (binds no fixed port)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["serve", "--db", db, "--no-auth"])
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output and "secret" not in result.output
    assert "postgresql" in db or list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("host", ["", " "])
def test_an_empty_host_is_refused_not_served_on_every_interface(tmp_path, monkeypatch, host):
    """`--host ""` listened on every interface (0.0.0.0 and ::) and announced http://:8000; the same for the
    study page."""
    import uvicorn

    from magister.webguard import check_can_listen

    with pytest.raises(ConfigError, match="--host .* is empty, which listens on every interface; give 127.0.0.1"):
        check_can_listen(host, 8000)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: pytest.fail("served"))
    result = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "s.db"), "--no-auth", "--host", host])
    assert result.exit_code == 2 and "is empty, which listens on every interface" in result.output, result.output
    deck = ROOT / "examples" / "decks" / "fractions.toml"
    result = CliRunner().invoke(app, ["study", "--web", "--deck", str(deck), "--db", str(tmp_path / "st.sqlite"),
                                      "--host", host])
    assert result.exit_code == 2 and "is empty, which listens on every interface" in result.output, result.output
    assert list(tmp_path.iterdir()) == []


def test_app_from_env_refuses_a_setting_as_a_config_error_and_a_quiet_exit(tmp_path, monkeypatch):
    monkeypatch.setenv("MAGISTER_DB", str(tmp_path / "e.db"))
    monkeypatch.setenv("MAGISTER_PORT", "abc")
    with pytest.raises(StartupRefused, match="MAGISTER_PORT must be a whole number") as info:
        app_from_env()
    assert isinstance(info.value, ValueError) and isinstance(info.value, SystemExit)
    assert info.value.code == "error: MAGISTER_PORT must be a whole number, got 'abc'"
    monkeypatch.delenv("MAGISTER_PORT")
    (tmp_path / "notes.txt").write_text("not a database\n" * 100)
    monkeypatch.setenv("MAGISTER_DB", str(tmp_path / "notes.txt"))
    with pytest.raises(ConfigError, match=r"\(file is not a database\); check --db \(or MAGISTER_DB\)"):
        app_from_env()  # (it was a traceback from the lifespan's start-up, under uvicorn)
    assert (tmp_path / "notes.txt").read_text() == "not a database\n" * 100


def test_uvicorn_factory_prints_the_refusal_without_a_traceback(tmp_path):
    env = {**os.environ, "MAGISTER_DB": str(tmp_path / "e.db"), "MAGISTER_CHECKPOINT_EVERY": "-1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "uvicorn", "--factory", "magister.serve.app:app_from_env",
                          "--port", "1"], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr and "Traceback" not in run.stdout
    assert run.stderr.strip().splitlines()[-1] == (
        "error: MAGISTER_CHECKPOINT_EVERY: checkpoint_every must be a whole number >= 0, got -1")
    assert not (tmp_path / "e.db").exists()
