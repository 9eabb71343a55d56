"""Issue 12 hardening of the service: bounded work per request, every failure a clear answer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

import magister as mg  # noqa: E402
from magister.serve.app import app_from_env, create_app  # noqa: E402
from magister.serve.settings import ENV, ServeSettings  # noqa: E402
from serve_fixtures import ADMIN, AUTH  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NAMED = {"type": "Discrete", "names": ["add", "sub", "mul", "div"]}
HUGE = 10 ** 400


@pytest.fixture()
def client(tmp_path):
    with TestClient(create_app(str(tmp_path / "serve.db"), admin_token=ADMIN, max_body_bytes=64 * 1024,
                               max_policy_tasks=50), raise_server_exceptions=False) as c:
        c.headers.update(AUTH)
        assert c.post("/v1/curricula", json={"name": "skills", "space": NAMED, "seed": 1}).status_code == 201
        yield c


def _state(c, name="skills"):
    r = c.get(f"/v1/curricula/{name}/checkpoint")
    assert r.status_code == 200, r.text
    return r.content


# ------------------------------------------------------------- item 1
def test_huge_integers_are_a_json_422_that_changes_nothing(client):
    before = _state(client)
    for path, body in [("observe", {"task": "add", "score": HUGE}),
                       ("observe", {"task": "add", "score": -HUGE}),
                       ("observe_batch", {"observations": [{"task": "add", "score": 0.5},
                                                           {"task": "sub", "score": HUGE}]})]:
        r = client.post(f"/v1/curricula/skills/{path}", json=body)
        assert r.status_code == 422 and "too large" in r.json()["detail"], r.text
        assert len(r.content) < 1000
    for sr in ([0, HUGE], {"low": -HUGE, "high": 1}):
        r = client.post("/v1/curricula", json={"name": "other", "space": NAMED, "score_range": sr})
        assert r.status_code == 422 and "score_range" in r.json()["detail"], r.text
    assert _state(client) == before
    assert [c["name"] for c in client.get("/v1/curricula").json()["curricula"]] == ["skills"]


def test_score_range_refuses_huge_integers_with_a_config_error():
    with pytest.raises(mg.ConfigError, match="finite"):
        mg.ScoreRange(0, HUGE)
    with pytest.raises(mg.ConfigError, match="finite"):
        mg.ScoreRange.coerce((0, HUGE))
    with pytest.raises(mg.InvalidScoreError, match="too large"):
        mg.ScoreRange().normalise_one(HUGE)
    with pytest.raises(mg.InvalidScoreError, match="too large"):
        mg.ScoreRange().normalise([0.5, HUGE])


# ------------------------------------------------------------- item 4
def test_request_bodies_over_the_limit_get_413(client):
    before = _state(client)
    big = [{"task": "add", "score": 0.5}] * 4000  # ~110 KB, over the 64 KB of this server
    r = client.post("/v1/curricula/skills/observe_batch", json={"observations": big})
    assert r.status_code == 413 and "MAGISTER_MAX_BODY_BYTES" in r.json()["detail"]

    def chunked():  # no Content-Length: counted while read
        for _ in range(100):
            yield b" " * 1000

    r = client.post("/v1/curricula/skills/observe", content=chunked(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert _state(client) == before
    ok = client.post("/v1/curricula/skills/observe_batch", json={"observations": big[:100]})
    assert ok.status_code == 200


def test_refusals_never_echo_a_large_input_back(client):
    big = "x" * 50_000
    for path, body in [("/v1/curricula/skills/observe", {"task": big, "score": 0.5}),
                       ("/v1/curricula/skills/observe", {"task": "add", "score": 0.5, big: 1}),
                       ("/v1/curricula", {"name": "f", "space": {"type": "Discrete", "names": big}}),
                       ("/v1/curricula/skills/observe_batch",
                        {"observations": [{"task": "add", "score": "x" * 100}] * 500})]:
        r = client.post(path, json=body)
        assert r.status_code == 422, r.text[:200]
        assert len(r.content) < 5000, (path, len(r.content))
        assert "characters left out" in r.text or "more)" in r.text


def test_a_body_nested_too_deeply_or_not_utf8_is_a_clear_422_that_changes_nothing(client):
    before = _state(client)
    deep = '{"task": ' + "[" * 5000 + "]" * 5000 + ', "score": 0.5}'
    for path, body, why in [("/v1/curricula/skills/observe", deep.encode(), "too deeply"),
                            ("/v1/curricula/skills/observe_batch", b'{"observations": [' + deep.encode() + b"]}",
                             "too deeply"),
                            ("/v1/curricula", b'{"name": "x", "space": ' + b"[" * 5000 + b"]" * 5000 + b"}",
                             "too deeply"),
                            ("/v1/curricula/skills/observe", b'{"task": "add\xff", "score": 0.5}', "not UTF-8")]:
        # was 400 "There was an error parsing the body", which said neither what nor how to fix it
        r = client.post(path, content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422 and why in r.json()["detail"], r.text[:300]
    assert _state(client) == before


# ------------------------------------------------------------- item 3
def test_the_work_a_create_may_cause_is_capped_by_settings(tmp_path):
    with TestClient(create_app(str(tmp_path / "s.db"), admin_token=ADMIN, max_tasks=1000,
                               max_policy_tasks=100)) as c:
        c.headers.update(AUTH)
        r = c.post("/v1/curricula", json={"name": "a", "space": {"type": "Discrete", "n": 1001}})
        assert r.status_code == 422 and "MAGISTER_MAX_TASKS" in r.json()["detail"]
        r = c.post("/v1/curricula", json={"name": "b", "teacher": "mastery-learning",
                                          "space": {"type": "Discrete", "names": [f"t{i}" for i in range(101)]}})
        assert r.status_code == 422 and "MAGISTER_MAX_POLICY_TASKS" in r.json()["detail"]
        r = c.post("/v1/curricula", json={"name": "c", "teacher": "exp3", "space": {"type": "Discrete", "n": 1000}})
        assert r.status_code == 201, r.text
        assert [x["name"] for x in c.get("/v1/curricula").json()["curricula"]] == ["c"]


# ------------------------------------------------------------- item 9
def test_every_magister_variable_is_documented():
    names: set[str] = set()
    for path in list((ROOT / "src" / "magister").rglob("*.py")) + [ROOT / "Makefile"]:
        names.update(re.findall(r"\bMAGISTER_[A-Z][A-Z_]*[A-Z]\b", path.read_text()))
    names.update(ENV.values())
    doc = (ROOT / "docs" / "serve.md").read_text()
    missing = sorted(n for n in names if n not in doc and n != "MAGISTER_STRICT_DEPS")
    assert not missing, f"not documented in docs/serve.md: {missing}"
    assert set(ENV) == set(ServeSettings.__dataclass_fields__) - {"freeze_gc"}


def test_serve_and_app_from_env_read_the_same_settings(tmp_path, monkeypatch):
    import uvicorn
    from typer.testing import CliRunner

    from magister.cli import app

    env = {"MAGISTER_DB": str(tmp_path / "e.db"), "MAGISTER_ADMIN_TOKEN": "tok", "MAGISTER_CHECKPOINT_EVERY": "17",
           "MAGISTER_TEACHER_THREADS": "always", "MAGISTER_DURABLE_PROPOSALS": "1", "MAGISTER_LEAN": "0",
           "MAGISTER_RECENT_IDS": "77", "MAGISTER_MAX_BODY_BYTES": "4096", "MAGISTER_MAX_TASKS": "500",
           "MAGISTER_MAX_POLICY_TASKS": "400", "MAGISTER_PORT": "8123"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    from_env = app_from_env().state.settings
    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append((app, kw)))
    monkeypatch.setattr("magister.webguard.check_can_listen", lambda host, port: None)  # (binds no fixed port)
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 0, result.output
    (served_app, kw), = served
    assert served_app.state.settings == from_env and kw["port"] == 8123
    assert from_env.checkpoint_every == 17 and from_env.teacher_threads == "always" and not from_env.lean
    assert from_env.durable_proposals and from_env.max_tasks == 500 and from_env.admin_token == "tok"
    served.clear()
    result = CliRunner().invoke(app, ["serve", "--checkpoint-every", "5", "--db", str(tmp_path / "f.db")])
    assert result.exit_code == 0, result.output
    assert served[0][0].state.settings == from_env.with_(checkpoint_every=5, db=str(tmp_path / "f.db"))
    monkeypatch.setenv("MAGISTER_LEAN", "maybe")
    with pytest.raises(ValueError, match="MAGISTER_LEAN"):
        app_from_env()
    with pytest.raises(TypeError, match="unknown setting"):
        create_app(str(tmp_path / "g.db"), checkpoint_evry=3)


@pytest.mark.parametrize("db, says", [("sqlite://", "an in-memory SQLite database is not durable"),
                                      ("missing/s.db", "does not exist; create it"),
                                      (".", "is a folder; give the path of a SQLite file")])
def test_app_from_env_refuses_a_bad_sqlite_path_naming_the_variable(tmp_path, monkeypatch, db, says):
    """docs/serve.md: a database that cannot be served is refused naming --db (or MAGISTER_DB). Under
    ``uvicorn --factory magister.serve.app:app_from_env`` there is no --db: an in-memory URL, a missing folder or a
    folder read "give a file path, e.g. --db teachers.db" without the variable the value came from."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAGISTER_DB", db)
    with pytest.raises(ValueError, match=says) as e:
        app_from_env()
    assert "MAGISTER_DB" in str(e.value), e.value


def test_serve_refuses_bad_settings_with_a_message_not_a_traceback(tmp_path, monkeypatch):
    import uvicorn
    from typer.testing import CliRunner

    from magister.cli import app

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append(app))
    monkeypatch.setattr("magister.webguard.check_can_listen", lambda host, port: None)  # (binds no fixed port)
    db = ["--db", str(tmp_path / "s.db"), "--no-auth"]
    (tmp_path / "notes.txt").write_text("not a database\n" * 100)
    for args, env, named in ((["--port", "70000"], {}, "port must be at most 65535"),
                             (["--checkpoint-every", "-1"], {}, "--checkpoint-every must be a whole number"),
                             # (uvicorn's start-up died on a KeyError traceback)
                             (["--log-level", "bogus"], {}, "--log-level must be one of critical, error"),
                             ([], {"MAGISTER_PORT": "eighty"}, "MAGISTER_PORT"),
                             (["--db", str(tmp_path / "missing" / "s.db")], {}, "does not exist; create it"),
                             (["--db", "sqlite://"], {}, "in-memory SQLite database is not durable"),
                             (["--db", "mysql://h/db"], {}, "unsupported database URL"),
                             # a folder, or a file that is not a database: a traceback from the start-up
                             (["--db", str(tmp_path)], {}, "is a folder; give the path of a SQLite file"),
                             (["--db", str(tmp_path / "notes.txt")], {}, "(file is not a database); check --db")):
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        result = CliRunner().invoke(app, ["serve", *db, *args])
        for k in env:
            monkeypatch.delenv(k)
        assert result.exit_code == 2, result.output
        assert named in result.output and "Traceback" not in result.output
        assert isinstance(result.exception, SystemExit)
    assert served == []
    assert (tmp_path / "notes.txt").read_text() == "not a database\n" * 100


@pytest.mark.parametrize("args, says, setting", [
    (["--no-auth", "--allow-host", "a:1"], "--allow-host must be a host name or address without a port", "allowed_hosts"),
    (["--no-auth", "--port", "70000"], "--port must be at most 65535", None),
    (["--no-auth", "--checkpoint-every", "-1"], "--checkpoint-every must be a whole number >= 0", "checkpoint_every"),
    (["--admin-token", " tok"], "--admin-token has spaces at its start or end", "admin_token"),
    (["--admin-token", ""], "--admin-token is empty (an unset shell variable?); give the token, or leave", None),
    (["--admin-token", "", "--no-auth"], "--admin-token is empty", None),
    (["--no-auth", "--db", ""], "--db must be a SQLite file path", None),
])
def test_serve_names_the_flag_whose_value_it_refuses(tmp_path, monkeypatch, args, says, setting):
    """`magister serve --no-auth --allow-host a:1` said "allowed_hosts must be ...", a name the user never typed."""
    import uvicorn
    from typer.testing import CliRunner

    from magister.cli import app

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: pytest.fail("served"))
    monkeypatch.chdir(tmp_path)  # (the default magister.db is not created either)
    result = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "s.db"), *args])
    assert result.exit_code == 2 and says in result.output, result.output
    assert setting is None or setting not in result.output
    assert list(tmp_path.iterdir()) == []


def test_serve_generates_a_token_for_an_empty_variable_but_not_for_an_empty_admin_token_option(tmp_path, monkeypatch):
    """`magister serve --admin-token "$TOKEN"` with TOKEN unset generated and printed a token without a word (the
    token meant was refused at every request); empty stays "unset" for MAGISTER_ADMIN_TOKEN only."""
    import uvicorn
    from typer.testing import CliRunner

    from magister.cli import app

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append(app))
    monkeypatch.setattr("magister.webguard.check_can_listen", lambda host, port: None)  # (binds no fixed port)
    monkeypatch.setenv("MAGISTER_ADMIN_TOKEN", "")
    result = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "s.db")])
    assert result.exit_code == 0, result.output
    token = served[0].state.settings.admin_token
    assert token.startswith("mga_") and f"admin token (pass --admin-token or MAGISTER_ADMIN_TOKEN to choose it): " \
        f"{token}" in result.output
    monkeypatch.setenv("MAGISTER_ADMIN_TOKEN", "from-env")  # an empty option is refused, not read as the variable
    result = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "s.db"), "--admin-token", ""])
    assert result.exit_code == 2 and "--admin-token is empty" in result.output and "mga_" not in result.output
    assert len(served) == 1
    result = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "s.db"), "--admin-token", "mine"])
    assert result.exit_code == 0 and served[1].state.settings.admin_token == "mine" and "mga_" not in result.output


def test_a_refused_variable_is_still_named_by_the_variable_and_a_python_setting_by_its_name(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from magister.cli import app
    from magister.serve.settings import ServeSettings

    monkeypatch.setenv("MAGISTER_ALLOWED_HOSTS", "a:1")
    result = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "s.db"), "--no-auth"])
    assert result.exit_code == 2 and "MAGISTER_ALLOWED_HOSTS: allowed_hosts must be" in result.output, result.output
    monkeypatch.setenv("MAGISTER_ALLOWED_HOSTS", "ok.lan")
    monkeypatch.setenv("MAGISTER_PORT", "70000")
    result = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "s.db"), "--no-auth"])
    assert result.exit_code == 2 and "MAGISTER_PORT: port must be at most 65535" in result.output, result.output
    monkeypatch.delenv("MAGISTER_PORT")
    with pytest.raises(ValueError, match="^allowed_hosts must be a host name"):
        ServeSettings.from_env(allowed_hosts=("a:1",))
    with pytest.raises(ValueError, match="^--allow-host must be a host name"):
        ServeSettings.from_env(flags={"allowed_hosts": "--allow-host"}, allowed_hosts=("a:1",))


def test_serve_on_a_port_in_use_is_refused_before_the_banner(tmp_path, monkeypatch):
    """A port in use printed the server's address, then uvicorn's one ERROR line and exit 3; an IPv6 --host was
    printed without brackets (http://::1:8000/dashboard, not an address a browser opens)."""
    import socket

    import uvicorn
    from typer.testing import CliRunner

    from magister.cli import app

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append(kw))
    db = str(tmp_path / "s.db")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--db", db, "--no-auth", "--port", str(port)])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert f"port {port} on 127.0.0.1 is in use" in result.output and "choose another --port" in result.output
    assert "magister serve: http" not in result.output and served == []
    if socket.has_ipv6:
        try:
            with socket.socket(socket.AF_INET6) as probe:
                probe.bind(("::1", 0))
                free = probe.getsockname()[1]
        except OSError:  # (no IPv6 loopback here)
            return
        result = CliRunner().invoke(app, ["serve", "--db", db, "--no-auth", "--host", "::1", "--port", str(free)])
        assert result.exit_code == 0, result.output
        assert f"http://[::1]:{free}/dashboard" in result.output and served[-1]["host"] == "::1"


def test_serve_without_the_serve_extra_says_how_to_install_it(tmp_path, monkeypatch):
    """`pip install magister` (the light core) lists `magister serve`; it was a ModuleNotFoundError traceback."""
    import sys

    from typer.testing import CliRunner

    from magister.cli import app

    monkeypatch.setitem(sys.modules, "uvicorn", None)
    result = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "s.db"), "--no-auth"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert "magister serve needs the [serve] extra" in result.output and "pip install 'magister[serve]'" in result.output
    assert not (tmp_path / "s.db").exists()


def test_a_request_cannot_make_the_server_import_a_mutator_function(client):
    import sys

    fresh = "colorsys" not in sys.modules
    for mutator in ("colorsys:rgb_to_hsv", {"function": "colorsys:rgb_to_hsv"}, "builtins:print"):
        body = {"space": {"type": "SeedSpace", "n": 5}, "teacher": "accel", "settings": {"mutator": mutator}}
        r = client.post("/v1/curricula", json={"name": "lv", **body})
        assert r.status_code == 422 and "does not import mutator functions" in r.json()["detail"], r.text
        r = client.post("/v1/curricula/bulk", json={"template": body, "learners": ["ana"]})
        assert r.status_code == 422, r.text
    assert not fresh or "colorsys" not in sys.modules
    assert client.get("/v1/curricula/lv").status_code == 404
    built_in = {"name": "lv", "space": {"type": "SeedSpace", "n": 5}, "teacher": "accel",
                "settings": {"mutator": {"name": "perturb", "sigma": 0.1}}}
    assert client.post("/v1/curricula", json=built_in).status_code == 201


def test_a_request_cannot_make_the_server_import_a_mutator_function_inside_a_dict_mutator(client):
    # the 'dict' mutator's entries are mutators too: a "module:function" among them (at any depth) is refused as
    # one given alone is, before anything is imported or stored
    import sys

    fresh = "colorsys" not in sys.modules
    space = {"type": "Dict", "spaces": {"env": {"type": "Dict", "spaces": {"maze": {"type": "MazeSpace", "size": 6}}},
                                        "seed": {"type": "SeedSpace", "n": 5}}}
    for entry in ("colorsys:rgb_to_hsv", {"function": "colorsys:rgb_to_hsv"}):
        for mutator in ({"name": "dict", "entries": {"seed": entry}},
                        {"name": "dict", "entries": {"env": {"name": "dict", "entries": {"maze": entry}}}}):
            body = {"space": space, "teacher": "accel", "settings": {"mutator": mutator}}
            r = client.post("/v1/curricula", json={"name": "lv", **body})
            assert r.status_code == 422 and "does not import mutator functions" in r.json()["detail"], r.text
    assert not fresh or "colorsys" not in sys.modules
    assert client.get("/v1/curricula/lv").status_code == 404
    built_in = {"name": "lv", "space": space, "teacher": "accel",
                "settings": {"mutator": {"name": "dict", "entries": {"seed": {"name": "perturb", "sigma": 0.1}}}}}
    assert client.post("/v1/curricula", json=built_in).status_code == 201


def test_a_request_cannot_make_the_server_open_a_pool_folder(client, tmp_path):
    from magister.opponents import OpponentPool

    pool = OpponentPool(tmp_path / "pool", max_ids=8)
    pool.add(b"snapshot")
    before = (tmp_path / "pool" / "pool.json").read_bytes()
    for value in (str(tmp_path / "pool"), {"__pool__": str(tmp_path / "pool")}):
        body = {"name": "op", "space": {"type": "Discrete", "n": 8}, "teacher": "pfsp", "settings": {"pool": value}}
        r = client.post("/v1/curricula", json=body)
        assert r.status_code == 422 and "does not open opponent pools" in r.json()["detail"], r.text
    assert (tmp_path / "pool" / "pool.json").read_bytes() == before
    plain = {"name": "op", "space": {"type": "Discrete", "n": 8}, "teacher": "pfsp"}
    assert client.post("/v1/curricula", json=plain).status_code == 201  # a fixed set of opponents still works


def test_a_deeply_nested_space_is_a_422_and_every_listing_still_answers(client):
    def nested(depth):
        spec = {"type": "Discrete", "n": 2}
        for _ in range(depth):
            spec = {"type": "Dict", "spaces": {"x": spec}}
        return spec

    # 130 Dict levels were created (201), then the API could not serialise them: GET /v1/curricula (and the
    # curriculum, its summary) answered 500 to everyone until it was deleted
    for depth in (17, 130):
        r = client.post("/v1/curricula", json={"name": "deep", "space": nested(depth)})
        assert r.status_code == 422 and "nests Dict spaces more than 16 deep" in r.json()["detail"], r.text
        r = client.post("/v1/curricula/bulk", json={"template": {"space": nested(depth)}, "learners": ["ana"]})
        assert r.status_code == 422, r.text
    assert client.get("/v1/curricula/deep").status_code == 404
    assert client.get("/v1/curricula").status_code == 200
    assert client.post("/v1/curricula", json={"name": "deep", "space": nested(16)}).status_code == 201
    assert client.post("/v1/curricula/deep/propose").status_code == 200
    assert client.get("/v1/curricula").status_code == 200


# ------------------------------------------------------------- item 8
def test_create_curriculum_exist_ok_checks_the_set_up_and_names_are_refused(client):
    from magister.serve.client import HTTPTeacher, create_curriculum

    url = "http://testserver"
    first = create_curriculum(url, "walker", mg.Box([0, 0], [1, 2]), "alp-gmm", token=ADMIN, seed=4,
                              client=client)
    again = create_curriculum(url, "walker", mg.Box([0, 0], [1, 2]), "alp-gmm", token=ADMIN, exist_ok=True,
                              client=client)
    assert again.name == first.name == "alp-gmm"
    with pytest.raises(mg.ConfigError, match=r"teacher is 'alp-gmm', not 'uniform'") as e:
        create_curriculum(url, "walker", mg.Box([0, 0], [1, 3]), "uniform", token=ADMIN, exist_ok=True,
                          client=client)
    assert "space is" in str(e.value)
    with pytest.raises(mg.ConfigError, match="seed is 4, not 5"):
        create_curriculum(url, "walker", mg.Box([0, 0], [1, 2]), "alp-gmm", token=ADMIN, seed=5, exist_ok=True,
                          client=client)
    for bad in ("../tokens", "skills/propose", "..", "a b", "", "x" * 65):
        with pytest.raises(mg.ConfigError, match="not valid"):
            HTTPTeacher(url, bad, token=ADMIN, client=client)
        with pytest.raises(mg.ConfigError, match="not valid"):
            create_curriculum(url, bad, NAMED, token=ADMIN, client=client)
    assert len(client.get("/v1/tokens").json()["tokens"]) == 0


# ------------------------------------------------------------- item 2
def _failing_writes(service, monkeypatch):
    """Every write the writer runs fails as on a full disk."""
    from sqlalchemy.exc import OperationalError

    real = service.writer.submit

    def submit(op):
        def failing(conn):
            raise OperationalError("INSERT", {}, Exception("database or disk is full"))
        return real(failing)

    monkeypatch.setattr(service.writer, "submit", submit)


def test_storage_failures_are_503_and_undo_the_change(client, monkeypatch):
    service = client.app.state.service
    before = _state(client)
    _failing_writes(service, monkeypatch)
    r = client.post("/v1/curricula", json={"name": "other", "space": NAMED})
    assert r.status_code == 503 and "NOT recorded" in r.json()["detail"], r.text
    r = client.delete("/v1/curricula/skills")
    assert r.status_code == 503 and "NOT recorded" in r.json()["detail"], r.text

    from sqlalchemy.exc import OperationalError

    def full(*a, **k):
        raise OperationalError("INSERT", {}, Exception("database or disk is full"))

    monkeypatch.setattr(client.app.state.tokens.engine, "begin", full)
    r = client.post("/v1/tokens", json={"curricula": ["skills"]})
    assert r.status_code == 503 and "NOT recorded" in r.json()["detail"], r.text
    monkeypatch.undo()
    # nothing changed: the deleted curriculum is still there and usable, the other name is free
    assert [c["name"] for c in client.get("/v1/curricula").json()["curricula"]] == ["skills"]
    assert client.get("/v1/curricula/skills").status_code == 200 and _state(client) == before
    assert client.post("/v1/curricula/skills/propose").status_code == 200
    assert client.post("/v1/curricula", json={"name": "other", "space": NAMED}).status_code == 201
    assert client.get("/v1/tokens").json()["tokens"] == []
    assert client.delete("/v1/curricula/skills").status_code == 204
    assert client.get("/v1/curricula/skills").status_code == 404


# ------------------------------------------------------------- item 6
def test_no_call_blocks_the_event_loop(client, monkeypatch):
    import threading

    service = client.app.state.service
    live = service.curricula["skills"]
    loop_thread = client.portal.call(threading.get_ident)
    assert client.post("/v1/curricula/skills/observe", json={"task": "add", "score": 0.5, "id": "o-1"}).json()
    # 1. a curriculum lock held for long (a rebuild): its requests wait in a worker thread, the loop stays free
    answers: dict[str, int] = {}
    with live.lock:
        waiting = threading.Thread(target=lambda: answers.update(
            propose=client.post("/v1/curricula/skills/propose").status_code))
        waiting.start()
        other = threading.Thread(target=lambda: answers.update(health=client.get("/v1/health").status_code))
        other.start()
        other.join(timeout=60)  # on a blocked loop this would wait for the lock
        assert answers.get("health") == 200 and "propose" not in answers
    waiting.join(timeout=60)
    assert answers["propose"] == 200
    # 2. database reads for old client ids (and the commit waits before them) run off the loop
    reads: list[int] = []
    real = service.engine.connect

    def connect(*a, **k):
        reads.append(threading.get_ident())
        return real(*a, **k)

    monkeypatch.setattr(service.engine, "connect", connect)
    monkeypatch.setattr(type(live.ids), "maybe_old", lambda self, cid: True)  # every id "maybe seen"
    assert client.post("/v1/curricula/skills/observe", json={"task": "sub", "score": 0.5, "id": "o-2"}).json()
    r = client.post("/v1/curricula/skills/propose", params={"request_id": "p-1"})
    assert r.status_code == 200
    live.proposals.clear()  # an old proposal: answered from the log
    assert client.post("/v1/curricula/skills/propose", params={"request_id": "p-1"}).json() == r.json()
    assert len(reads) >= 3 and loop_thread not in reads


# ------------------------------------------------------------- item 7
def test_a_rebuild_after_a_failed_write_waits_for_the_queued_writes(client):
    import threading

    service = client.app.state.service
    live = service.curricula["skills"]
    gate, seen = threading.Event(), {}
    service.writer.submit(lambda conn: gate.wait(60))  # the writer is busy
    seq = service.observe("skills", [("mul", 0.5, "queued")])[1][-1]  # queued behind it
    real = service.rebuild

    def rebuild(spec, **kw):
        seen["queued write done"] = seq.done()
        started.set()
        return real(spec, **kw)

    started = threading.Event()
    service.rebuild = rebuild
    live.broken = "a database write failed; rebuilding from the log"
    service._schedule_rebuild(live)
    started.wait(timeout=1.0)  # a rebuild that does not wait would start now, before the write
    gate.set()
    assert started.wait(timeout=60)
    assert seen == {"queued write done": True}
    for _ in range(600):
        if live.broken is None:
            break
        threading.Event().wait(0.05)
    assert live.broken is None
    assert client.get("/v1/curricula/skills").json()["n_observed"] == 1


# ------------------------------------------------------------ item 10
def test_history_includes_every_answered_proposal(client):
    """The lean-lane test's race: a proposal is answered before its commit, and history read the disk."""
    import threading

    service = client.app.state.service
    gate = threading.Event()
    service.writer.submit(lambda conn: gate.wait(60))  # the group commit is late
    r = client.post("/v1/curricula/skills/propose", params={"k": 2})
    assert r.status_code == 200
    got: dict = {}
    reader = threading.Thread(target=lambda: got.update(client.get("/v1/curricula/skills/history").json()))
    reader.start()
    reader.join(timeout=0.5)
    gate.set()
    reader.join(timeout=60)
    assert [e["seq"] for e in got["events"]] == [r.json()["seq"]] and got["events"][0]["tasks"] == r.json()["tasks"]


# ------------------------------------------------------------- item 5
def test_the_summary_is_bounded_for_a_large_space_and_full_beliefs_stay(client):
    n = 200_000
    r = client.post("/v1/curricula", json={"name": "big", "space": {"type": "Discrete", "n": n}, "teacher": "exp3",
                                           "seed": 2})
    assert r.status_code == 201 and len(r.content) < 20_000, len(r.content)  # the create reply is bounded too
    tasks = client.post("/v1/curricula/big/propose", params={"k": 50}).json()["tasks"]
    obs = [{"task": t, "score": (i % 7) / 7} for i, t in enumerate(tasks)]
    assert client.post("/v1/curricula/big/observe_batch", json={"observations": obs}).status_code == 200
    full = client.get("/v1/curricula/big/beliefs")
    assert full.status_code == 200 and len(full.content) > 1_000_000  # in full, on request
    r = client.get("/v1/curricula/big/summary", params={"top": 10})
    assert r.status_code == 200 and len(r.content) < 20_000, len(r.content)
    s, b = r.json(), full.json()
    assert s["n_observed"] == 50 and s["space"] == {"type": "Discrete", "n": n}
    est = s["beliefs"]["estimate"]
    assert est["n"] == n and est["max"] == max(b["estimate"]) and est["min"] == min(b["estimate"])
    assert est["mean"] == pytest.approx(sum(b["estimate"]) / n)
    values = [e["value"] for e in est["top"]]
    assert len(values) == 10 and values == sorted(b["estimate"], reverse=True)[:10]
    assert all(b["estimate"][e["index"]] == e["value"] and e["task"] == str(e["index"]) for e in est["top"])
    assert s["beliefs"]["tasks"]["n"] == n and s["beliefs"]["teacher"] == "exp3"
    listing = client.get("/v1/curricula")
    assert len(listing.content) < 20_000
    # a space of many names: the summary and the listing cut the names
    names = [f"t{i}" for i in range(5000)]
    assert client.post("/v1/curricula", json={"name": "named", "space": {"type": "Discrete", "names": names},
                                              "teacher": "exp3"}).status_code == 201
    s = client.get("/v1/curricula/named/summary").json()
    assert s["space"]["names"] == names[:20] and s["space"]["names_omitted"] == 4980
    assert client.get("/v1/curricula/named").json()["space"]["names"] == names  # in full on request
    small = client.get("/v1/curricula/skills/summary").json()["beliefs"]
    assert small == client.get("/v1/curricula/skills/beliefs").json()  # small beliefs are whole


def test_the_http_client_is_named_for_what_it_is_and_the_old_name_warns():
    import magister.serve as serve
    from magister.serve import client

    with pytest.warns(DeprecationWarning, match="HTTPTeacher"):
        assert client.RemoteTeacher is client.HTTPTeacher
    with pytest.warns(DeprecationWarning, match="HTTPTeacher"):
        assert serve.RemoteTeacher is client.HTTPTeacher


def test_teacher_settings_too_large_for_memory_are_a_422(client):
    # a size setting far beyond memory (a queue, a window) made numpy raise MemoryError: a 500
    for teacher, space, key in (("alp-gmm", {"type": "Box", "low": [0, 0], "high": [1, 1]}, "fit_rate"),
                                ("frontier", NAMED, "history_size")):
        r = client.post("/v1/curricula", json={"name": "big", "space": space, "teacher": teacher,
                                              "settings": {key: 10 ** 12}})
        assert r.status_code == 422 and "memory" in r.json()["detail"], r.text
    assert [x["name"] for x in client.get("/v1/curricula").json()["curricula"]] == ["skills"]


def test_node_url_must_be_a_url_the_relays_can_reach():
    # relays between processes are plain HTTP: an https:// (or host-less) node URL made every relay a 503
    for url in ("https://api1:8000", "http://", "http://api1:port"):
        with pytest.raises(mg.ConfigError, match="node_url"):
            ServeSettings(node_url=url)
    assert ServeSettings(node_url="http://api1:8000").node_url == "http://api1:8000"


def test_an_admin_token_with_spaces_at_its_ends_is_refused():
    # the server trims the token a request sends, so " x " could never authenticate
    with pytest.raises(mg.ConfigError, match="spaces at its start or end"):
        ServeSettings(admin_token=" secret ")
    assert ServeSettings(admin_token="secret").admin_token == "secret"


def test_a_bad_variable_value_is_refused_with_the_variable_name():
    # docs/serve.md, "Settings": "A bad value is refused at start-up with the variable's name", also for a
    # value that parses but is out of range (it used to name only the field, e.g. "lease_seconds must be ...")
    for var, text in (("MAGISTER_TEACHER_THREADS", "bogus"), ("MAGISTER_LEASE_SECONDS", "0"),
                      ("MAGISTER_MAX_BODY_BYTES", "10"), ("MAGISTER_NODE_URL", "https://host:1"),
                      ("MAGISTER_CHECKPOINT_EVERY", "-1")):
        with pytest.raises(ValueError, match=var):
            ServeSettings.from_env({var: text})
    # an explicit value (a flag) is still named as the setting it is, and beats a good variable
    with pytest.raises(ValueError, match="port must be at most 65535"):
        ServeSettings.from_env({"MAGISTER_PORT": "8001"}, port=70000)


# ------------------------------------------------------------- new-user walk (session 26)
@pytest.mark.parametrize("model", ["dkt", "sakt", "blend"])
def test_a_policy_whose_model_needs_fitting_is_refused_at_creation(client, model):
    # a served policy cannot be given a fitted model (use_model is local), so an unfitted DKT / SAKT / blend could
    # never answer: its creation was a raw 500 "Internal Server Error" that stored the curriculum anyway, and every
    # later GET of it was another raw 500
    settings = {"model": model}
    r = client.post("/v1/curricula", json={"name": "m", "space": NAMED, "teacher": "mastery-learning",
                                           "settings": settings})
    assert r.status_code == 422, r.text[:300]
    assert f"{model} is not fitted" in r.json()["detail"] and "bkt" in r.json()["detail"]
    r = client.post("/v1/curricula/bulk", json={"template": {"space": NAMED, "teacher": "difficulty-band",
                                                             "settings": settings}, "learners": ["ann", "bob"]})
    assert r.status_code == 422, r.text[:300]
    assert [x["name"] for x in client.get("/v1/curricula").json()["curricula"]] == ["skills"]
    assert client.get("/v1/curricula/m").status_code == 404


def test_a_damaged_database_file_is_a_503_that_says_retrying_will_not_help(tmp_path):
    # every request of a curriculum stored on a damaged page answered "the database refused the write ... Retry in
    # a moment", a GET too, and no retry could ever succeed
    import sqlite3

    db = str(tmp_path / "serve.db")
    with TestClient(create_app(db, admin_token=ADMIN)) as c:
        c.headers.update(AUTH)
        assert c.post("/v1/curricula", json={"name": "skills", "space": NAMED, "seed": 1}).status_code == 201
        assert c.post("/v1/curricula/skills/checkpoint").status_code == 200
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = con.execute("PRAGMA page_size").fetchone()[0]
    (root,) = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'checkpoints'").fetchone()
    con.close()
    with open(db, "r+b") as f:  # the checkpoints table's first page overwritten
        f.seek((root - 1) * page_size)
        f.write(b"\xff" * page_size)
    with TestClient(create_app(db, admin_token=ADMIN), raise_server_exceptions=False) as c:
        c.headers.update(AUTH)
        for r in (c.post("/v1/curricula/skills/propose"), c.get("/v1/curricula/skills/summary")):
            detail = r.json()["detail"]
            assert r.status_code == 503 and "damaged" in detail and "retrying will not help" in detail, r.text
            assert "NOT recorded" in detail and "malformed" not in detail  # (SQLite's words go to the log)


def test_a_bulk_creation_names_a_repeated_learner_as_the_learner(client):
    # it named the curriculum name ('math-ann', prefix included) as the learner that appeared twice
    r = client.post("/v1/curricula/bulk", json={"template": {"space": NAMED}, "prefix": "math-",
                                                "learners": ["ann", "bob", "ann", "bob"]})
    assert r.status_code == 422, r.text
    assert "learner(s) 'ann', 'bob' appear more than once" in r.json()["detail"], r.text
    assert [x["name"] for x in client.get("/v1/curricula").json()["curricula"]] == ["skills"]


def test_a_stored_curriculum_whose_teacher_cannot_give_beliefs_is_a_json_500(tmp_path):
    # created by an earlier magister with an unfitted DKT (which now is refused at creation): every GET of it was a
    # plain-text "Internal Server Error" with a traceback in the log; it can still be deleted
    import sqlite3

    db = str(tmp_path / "serve.db")
    with TestClient(create_app(db, admin_token=ADMIN)) as c:
        c.headers.update(AUTH)
        assert c.post("/v1/curricula", json={"name": "m", "space": NAMED, "teacher": "mastery-learning",
                                             "seed": 1}).status_code == 201
    con = sqlite3.connect(db)
    with con:
        con.execute("UPDATE curricula SET settings = ? WHERE name = 'm'", ('{"model": "dkt"}',))
    con.close()
    with TestClient(create_app(db, admin_token=ADMIN), raise_server_exceptions=False) as c:
        c.headers.update(AUTH)
        for path in ("/v1/curricula/m", "/v1/curricula/m/summary", "/v1/curricula/m/beliefs"):
            r = c.get(path)
            assert r.status_code == 500 and "cannot give its beliefs" in r.json()["detail"], r.text
            assert "dkt is not fitted" in r.json()["detail"]
        assert c.delete("/v1/curricula/m").status_code == 204


def test_a_nan_or_infinite_score_is_one_clear_422_naming_the_score_that_changes_nothing(client):
    # before: "body.score.int: Input should be a valid integer; body.score.float: Input should be a finite number",
    # pydantic's two branches of the score's type (an int or a finite float)
    before = _state(client)
    for path, body, where in [("observe", '{"task": "add", "score": NaN}', "body.score"),
                              ("observe", '{"task": "add", "score": -Infinity}', "body.score"),
                              ("observe", '{"task": "add", "score": 1e999}', "body.score"),
                              ("observe_batch", '{"observations": [{"task": "add", "score": 0.5}, '
                                                '{"task": "sub", "score": Infinity}]}', "body.observations.1.score")]:
        r = client.post(f"/v1/curricula/skills/{path}", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        assert detail == f"invalid request: {where}: score must be a finite number; NaN and infinity are refused"
        assert [e["loc"] for e in r.json()["errors"]] == [where.split(".")[:2] + [
            int(x) if x.isdigit() else x for x in where.split(".")[2:]]]
    r = client.post("/v1/curricula/skills/observe", json={"task": "add", "score": "high"})
    assert r.status_code == 422 and r.json()["detail"] == "invalid request: body.score: Input should be a valid number"
    r = client.post("/v1/curricula", content='{"name": "other", "space": {"type": "Discrete", "n": 2}, '
                                             '"score_range": {"low": NaN, "high": 1}}',
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "body.score_range.ScoreRangeIn.low: low must be a finite number; NaN" in r.text
    assert _state(client) == before


def test_creation_asks_beliefs_of_people_policies_only(client, monkeypatch):
    # the check above called beliefs() on every teacher built at creation: only people policies can fail it, and for
    # the others it doubled a create's work on a big space (the reply's summary asks them once; uniform over a
    # million tasks: ~0.4 s each, continual-designer ~2 s), and a bulk creation (no beliefs in its reply) paid it
    from magister.teacher import teacher_class

    asked = []
    for name in ("uniform", "exp3", "mastery-learning"):
        cls = teacher_class(name)
        monkeypatch.setattr(cls, "beliefs", lambda self, _b=cls.beliefs: asked.append(self.name) or _b(self))
    for name in ("uniform", "exp3", "mastery-learning"):
        r = client.post("/v1/curricula/bulk", json={"template": {"space": NAMED, "teacher": name},
                                                    "prefix": f"{name}-", "learners": ["ann", "bob"]})
        assert r.status_code == 201, r.text[:300]
    assert asked == ["mastery-learning"]


@pytest.mark.parametrize("lean", [True, False])
def test_text_holding_nul_is_a_422_on_every_database(tmp_path, lean):
    """PostgreSQL stores no text holding NUL: an observation, batch or give-back id, a propose request id, a token
    label or a listing's ``after`` holding one was taken by the checks, then failed in the database as a 503 saying
    to retry with the same id (refused again, forever; the curriculum meanwhile unavailable, rebuilding). SQLite
    stored it, so a client worked there and not on PostgreSQL. Each is a 422 naming it, nothing recorded."""
    with TestClient(create_app(str(tmp_path / "s.db"), admin_token=ADMIN, lean=lean),
                    raise_server_exceptions=False) as c:
        c.headers.update(AUTH)
        assert c.post("/v1/curricula", json={"name": "a", "space": NAMED, "seed": 1}).status_code == 201
        assert c.post("/v1/curricula", json={"name": "lv", "space": {"type": "SeedSpace"}, "teacher": "plr",
                                             "seed": 1}).status_code == 201
        before = c.get("/v1/curricula/a").json()["last_seq"]
        refused = [
            c.post("/v1/curricula/a/observe", json={"task": "add", "score": 0.5, "id": "x\x00y"}),
            c.post("/v1/curricula/a/observe_batch", json={"observations": [
                {"task": "add", "score": 0.5, "id": "ok"}, {"task": "sub", "score": 0.5, "id": "\x00"}]}),
            c.post("/v1/curricula/a/propose", params={"k": 2, "request_id": "r\x00"}),
            c.post("/v1/curricula/lv/give_back", json={"tasks": [3], "id": "g\x00"}),
            c.post("/v1/tokens", json={"curricula": ["a"], "label": "lab\x00el"}),
            c.get("/v1/curricula", params={"after": "a\x00"}),
        ]
        for r in refused:
            assert r.status_code == 422, r.text
            assert "NUL" in r.json()["detail"], r.text
        assert c.get("/v1/curricula/a").json()["last_seq"] == before
        assert c.get("/v1/curricula/lv").json()["last_seq"] == 0
        assert c.get("/v1/tokens").json()["tokens"] == []
        # ids and labels without one, as before
        assert c.post("/v1/curricula/a/observe", json={"task": "add", "score": 0.5, "id": "x/é y"}).status_code == 200
        assert c.post("/v1/curricula/a/propose", params={"request_id": "r é"}).status_code == 200


def test_http_teacher_refuses_a_client_id_holding_nul_before_sending(tmp_path):
    from magister.serve import HTTPTeacher

    with TestClient(create_app(str(tmp_path / "s.db"), admin_token=ADMIN)) as c:
        c.headers.update(AUTH)
        assert c.post("/v1/curricula", json={"name": "a", "space": NAMED, "seed": 1}).status_code == 201
        t = HTTPTeacher("http://testserver", "a", token=ADMIN, client=c)
        with pytest.raises(mg.ConfigError, match="NUL"):
            t.observe("add", 0.5, id="x\x00")
        with pytest.raises(mg.ConfigError, match="NUL"):
            t.observe_batch(["add", "sub"], [0.5, 0.5], ids=["a", "b\x00"])
        assert t.n_observed == 0


@pytest.mark.parametrize("template", [
    '"space": {"type": "Discrete", "names": ["\\ud800", "x"]}',
    '"space": {"type": "Dict", "spaces": {"a\\udfffb": {"type": "Discrete", "n": 2}}}',
])
def test_a_lone_surrogate_in_a_space_is_a_422_not_a_stored_500(client, template):
    """JSON may escape half of a UTF-16 pair (``"\\ud800"``), which is no Unicode text: a space holding one was
    stored, its create answered a plain-text 500, and so did its every read and ``GET /v1/curricula`` (the whole
    listing), for good. It is a 422 naming it, nothing created; a whole pair of escapes is taken."""
    as_json = {"Content-Type": "application/json"}
    r = client.post("/v1/curricula", content='{"name": "b", ' + template + "}", headers=as_json)
    assert r.status_code == 422, r.text
    assert "lone surrogate" in r.json()["detail"] and "Nothing was created" in r.json()["detail"]
    r = client.post("/v1/curricula/bulk", content='{"learners": ["ann"], "template": {' + template + "}}",
                    headers=as_json)
    assert r.status_code == 422 and "lone surrogate" in r.json()["detail"], r.text
    assert client.get("/v1/curricula/b").status_code == 404
    r = client.get("/v1/curricula")
    assert r.status_code == 200 and [c["name"] for c in r.json()["curricula"]] == ["skills"]
    r = client.post("/v1/curricula", content='{"name": "pair", "space": {"type": "Discrete", "names": '
                                             '["\\ud83d\\ude00", "x"]}}', headers=as_json)
    assert r.status_code == 201 and r.json()["space"]["names"][0] == "\U0001F600", r.text


def test_a_curriculum_an_earlier_version_stored_with_a_lone_surrogate_is_marked_never_a_500(tmp_path):
    """An earlier version stored spaces holding a lone surrogate (refused at creation since): the listing of every
    curriculum answered a plain-text 500 for good, and so did the curriculum's reads, its observe and its propose
    (which recorded the draw all the same), and its learner's export. The listing marks it, every request of it
    is a 409 naming it and the fix, nothing recorded, and its checkpoint's download and its deletion still work."""
    import json
    import time

    from sqlalchemy import func, insert, select

    from magister.serve.db import make_engine, migrate
    from magister.serve.models import Curriculum, Event

    db = str(tmp_path / "old.db")
    engine = make_engine(db)
    migrate(engine)
    with engine.begin() as conn:  # as the earlier version stored it (json.dumps escapes the surrogate)
        conn.execute(insert(Curriculum.__table__).values(
            name="old", space=json.dumps({"type": "Discrete", "names": ["\ud800"]}), teacher="exp3",
            settings="{}", seed=1, score_range=json.dumps({"low": 0.0, "high": 1.0}), created_at=time.time(),
            learner="ann"))
    with TestClient(create_app(db, admin_token=ADMIN), raise_server_exceptions=False) as c:
        c.headers.update(AUTH)
        assert c.post("/v1/curricula", json={"name": "good", "space": NAMED, "seed": 1}).status_code == 201
        for params in ({}, {"limit": 1}, {"limit": 1, "after": "good"}):
            r = c.get("/v1/curricula", params=params)
            assert r.status_code == 200, r.text
        listed = {e["name"]: e for e in c.get("/v1/curricula").json()["curricula"]}
        assert listed["good"]["teacher"] == "uniform"
        assert "lone surrogate (\\ud800" in listed["old"]["damaged"] and "DELETE" in listed["old"]["damaged"]
        for method, path, body in [("GET", "", None), ("GET", "/summary", None), ("GET", "/beliefs", None),
                                   ("GET", "/history", None), ("POST", "/propose", None),
                                   ("POST", "/observe", {"task": "x", "score": 0.5}),
                                   ("POST", "/observe_batch", {"observations": [{"task": "x", "score": 0.5}]})]:
            r = c.request(method, "/v1/curricula/old" + path, json=body)
            assert r.status_code == 409, (path, r.text)
            detail = r.json()["detail"]
            assert "curriculum 'old'" in detail and "lone surrogate" in detail and "DELETE" in detail, detail
        r = c.get("/v1/learners/ann/export")
        assert r.status_code == 409 and "curriculum 'old'" in r.json()["detail"], r.text
        r = c.get("/v1/curricula/old/checkpoint")
        assert r.status_code == 200 and mg.loads(r.content).n_proposed == 0
        with engine.connect() as conn:  # nothing recorded (a propose was logged before its reply failed)
            assert conn.execute(select(func.count()).select_from(Event.__table__)).scalar() == 0
        assert c.delete("/v1/curricula/old").status_code == 204
        assert [e["name"] for e in c.get("/v1/curricula").json()["curricula"]] == ["good"]
    engine.dispose()
