"""The service at its edges: a checkpoint after a failed write, a rebuild racing a request, clients sharing a
connection, numpy and tuple settings, ids checked before sending, a scoped last page, contradictory flags."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

import magister.serve.writer as writer_module  # noqa: E402
from magister.serve.app import create_app  # noqa: E402
from serve_fixtures import ADMIN, AUTH, LoseReplies  # noqa: E402

NAMED = {"type": "Discrete", "names": ["add", "sub", "mul", "div"]}


def _wait_usable(c, name):
    for _ in range(200):
        r = c.get(f"/v1/curricula/{name}")
        if r.status_code == 200:
            return r.json()
        time.sleep(0.02)
    raise AssertionError(r.text)


def test_a_checkpoint_never_covers_an_observation_whose_log_write_failed(tmp_path, monkeypatch):
    """The 503 says the observation was not recorded: the rebuilt teacher must not count it, and its
    retry (same id) must then be counted once, not twice (the checkpoint written right after it used to
    commit although the event's write failed, and the rebuild started from it)."""
    real = writer_module.insert_many

    def failing(conn, table, rows):
        if table.name == "events" and any(r.get("score") == 0.125 for r in rows):
            raise RuntimeError("the disk refused it")
        return real(conn, table, rows)

    with TestClient(create_app(str(tmp_path / "s.db"), admin_token=ADMIN, checkpoint_every=1)) as c:
        c.headers.update(AUTH)
        assert c.post("/v1/curricula", json={"name": "w", "space": NAMED, "teacher": "exp3",
                                             "seed": 1}).status_code == 201
        assert c.post("/v1/curricula/w/observe", json={"task": "add", "score": 0.5, "id": "a"}).status_code == 200
        monkeypatch.setattr(writer_module, "insert_many", failing)
        r = c.post("/v1/curricula/w/observe", json={"task": "sub", "score": 0.125, "id": "b"})
        assert r.status_code == 503 and "NOT recorded" in r.json()["detail"]
        monkeypatch.setattr(writer_module, "insert_many", real)
        assert _wait_usable(c, "w")["n_observed"] == 1  # the refused observation is not in the teacher
        r = c.post("/v1/curricula/w/observe", json={"task": "sub", "score": 0.125, "id": "b"})
        assert r.status_code == 200, r.text
        service = c.app.state.service
        assert c.get("/v1/curricula/w").json()["n_observed"] == len(service.event_log("w")) == 2
        assert service.replay_from_log("w").n_observed == 2


def test_create_curriculum_sends_numpy_and_tuple_settings_and_reuses_the_same_set_up(tmp_path):
    """A local teacher takes ``seed=np.int64(1)`` and tuples in its settings: the client sent them raw (a
    TypeError from the JSON encoder), and ``exist_ok=True`` refused a curriculum with the very same set-up
    (the server stores the tuple as a list, which compared unequal)."""
    import numpy as np

    import magister as mg
    from magister.serve.client import create_curriculum, create_curricula

    space = mg.Box([0, 0], [1, 1])
    with TestClient(create_app(str(tmp_path / "s.db"), admin_token=ADMIN)) as c:
        kw = dict(token=ADMIN, client=c, potential_ks=(1, 2, 3), fit_rate=np.int64(40))
        first = create_curriculum("http://testserver", "w", space, "alp-gmm", seed=np.int64(1), **kw)
        again = create_curriculum("http://testserver", "w", space, "alp-gmm", seed=1, exist_ok=True, **kw)
        assert first._info["settings"] == again._info["settings"] == {"potential_ks": [1, 2, 3], "fit_rate": 40}
        assert again._info["seed"] == 1
        assert create_curricula("http://testserver", ["a"], space, "alp-gmm", seed=np.int64(2), **kw) == ["a"]


def test_a_rebuild_waits_for_rows_logged_while_it_waited_for_the_lock(tmp_path):
    """A write fails while a request holds the curriculum's lock (past its checks): that request's rows
    reach the writer after the rebuild's barrier. The rebuild read the log before they committed, so an
    acknowledged observation was missing from the rebuilt teacher, whose next write then took the same seq
    (a 503 to another client, and a second rebuild)."""
    import threading

    with TestClient(create_app(str(tmp_path / "s.db"), admin_token=ADMIN)) as c:
        c.headers.update(AUTH)
        assert c.post("/v1/curricula", json={"name": "w", "space": NAMED, "teacher": "exp3",
                                             "seed": 1}).status_code == 201
        service = c.app.state.service
        live = service.curricula["w"]
        gate = threading.Event()
        real = live.teacher.observe

        def observe(task, score):  # the request, between its checks and its log write
            real(task, score)
            live.broken = "a database write failed; rebuilding from the log"  # an earlier write's callback
            service._schedule_rebuild(live)
            time.sleep(0.2)  # the rebuild passes its barrier and waits for the lock
            service.writer.submit(lambda conn: gate.wait(5))  # the writer is busy with other work

        live.teacher.observe = observe
        threading.Timer(0.3, gate.set).start()
        seqs, futs = service.observe("w", [("add", 0.5, "a")])
        for f in futs:
            f.result(5)  # acknowledged
        _wait_usable(c, "w")
        for _ in range(200):
            if not live.rebuilding:
                break
            time.sleep(0.02)
        assert live.teacher.n_observed == 1 and live.next_seq == 2 and seqs == [1]
        r = c.post("/v1/curricula/w/observe", json={"task": "sub", "score": 0.5, "id": "b"})
        assert r.status_code == 200 and r.json()["seq"] == 2, r.text


def test_a_scoped_tokens_last_page_of_curricula_says_it_is_the_last(tmp_path):
    """``next`` is null at the end: a scoped token whose names were all on this page got a ``next``
    (the page-full test came before the scope test), and then an empty page."""
    with TestClient(create_app(str(tmp_path / "s.db"), admin_token=ADMIN)) as c:
        for n in ["a", "b", "c", "d"]:
            assert c.post("/v1/curricula", json={"name": n, "space": NAMED}, headers=AUTH).status_code == 201
        token = c.post("/v1/tokens", json={"curricula": ["a", "b", "d"]}, headers=AUTH).json()["token"]
        scoped = {"Authorization": f"Bearer {token}"}
        page = c.get("/v1/curricula", params={"limit": 2}, headers=scoped).json()
        assert [x["name"] for x in page["curricula"]] == ["a", "b"] and page["next"] is not None
        page = c.get("/v1/curricula", params={"limit": 2, "after": page["next"]}, headers=scoped).json()
        assert [x["name"] for x in page["curricula"]] == ["d"] and page["next"] is None
        page = c.get("/v1/curricula", params={"limit": 3}, headers=scoped).json()
        assert [x["name"] for x in page["curricula"]] == ["a", "b", "d"] and page["next"] is None
        token = c.post("/v1/tokens", json={"curricula": ["a", "b"]}, headers=AUTH).json()["token"]
        page = c.get("/v1/curricula", params={"limit": 2}, headers={"Authorization": f"Bearer {token}"}).json()
        assert [x["name"] for x in page["curricula"]] == ["a", "b"] and page["next"] is None


def test_serve_refuses_no_auth_together_with_an_admin_token(tmp_path, monkeypatch):
    """``magister serve --admin-token S --no-auth`` served an open API, dropping the token without a word."""
    import uvicorn
    from typer.testing import CliRunner

    from magister.cli import app

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append(app))
    monkeypatch.setattr("magister.webguard.check_can_listen", lambda host, port: None)  # (binds no fixed port)
    monkeypatch.delenv("MAGISTER_ADMIN_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "s.db"), "--admin-token", "s3cret",
                                      "--no-auth"])
    assert result.exit_code == 2 and "--no-auth" in result.output and "--admin-token" in result.output
    assert served == []
    monkeypatch.setenv("MAGISTER_ADMIN_TOKEN", "from-env")  # the flag beats the variable, as documented
    result = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "s.db"), "--no-auth"])
    assert result.exit_code == 0, result.output
    assert served[0].state.settings.admin_token is None


def test_serve_no_auth_answers_its_own_names_and_the_names_allowed(tmp_path, monkeypatch):
    """``magister serve --no-auth`` answered requests addressed to any name (DNS rebinding); now the names are
    printed at start and ``--allow-host`` (``MAGISTER_ALLOWED_HOSTS``) adds some; with a token it is refused, since a
    server with a token answers to any name (it would have been ignored without a word)."""
    import uvicorn
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from magister.cli import app

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append(app))
    monkeypatch.setattr("magister.webguard.check_can_listen", lambda host, port: None)  # (binds no fixed port)
    monkeypatch.delenv("MAGISTER_ADMIN_TOKEN", raising=False)
    monkeypatch.setenv("MAGISTER_ALLOWED_HOSTS", "from-env.lan")  # the flag beats the variable
    db = ["serve", "--db", str(tmp_path / "s.db")]
    result = CliRunner().invoke(app, [*db, "--no-auth", "--allow-host", "Study.LAN", "--allow-host", "10.0.0.7"])
    assert result.exit_code == 0, result.output
    assert "answers to: localhost, 127.0.0.1, [::1], study.lan, 10.0.0.7" in result.output
    assert served[0].state.settings.allowed_hosts == ("study.lan", "10.0.0.7")
    with TestClient(served[0]) as c:
        assert c.get("/v1/curricula", headers={"Host": "study.lan:8000"}).status_code == 200
        assert c.get("/v1/curricula", headers={"Host": "evil.example:8000"}).status_code == 400
    for args, says in ((["--allow-host", "study.lan"], "only with --no-auth"),
                       (["--no-auth", "--allow-host", "study.lan:8000"], "without a port")):
        result = CliRunner().invoke(app, [*db, *args])
        assert result.exit_code == 2 and says in result.output, result.output
    assert len(served) == 1


def test_teachers_sharing_a_client_each_send_their_own_token(tmp_path):
    """``HTTPTeacher(..., token=A, client=c)`` set A on the shared client itself: a second teacher made with
    token B through it made the first one send B (refused, or acting with B's scope), and changed the
    caller's client for every later request."""
    from magister.serve.client import HTTPTeacher

    with TestClient(create_app(str(tmp_path / "s.db"), admin_token=ADMIN)) as c:
        for n in ["a", "b"]:
            assert c.post("/v1/curricula", json={"name": n, "space": NAMED}, headers=AUTH).status_code == 201
        ta = c.post("/v1/tokens", json={"curricula": ["a"]}, headers=AUTH).json()["token"]
        tb = c.post("/v1/tokens", json={"curricula": ["b"]}, headers=AUTH).json()["token"]
        t1 = HTTPTeacher("http://testserver", "a", token=ta, client=c)
        t2 = HTTPTeacher("http://testserver", "b", token=tb, client=c)
        assert t1.propose() in NAMED["names"] and t2.propose() in NAMED["names"]
        assert "authorization" not in c.headers and c.get("/v1/tokens").status_code == 401


def test_observe_batch_checks_every_id_before_sending_any_chunk(tmp_path):
    """"Every score and task is checked before the first chunk is sent, so a bad one records nothing": a bad
    id was refused by the server only in its own chunk, after the earlier chunks were recorded; an id left
    None went without one, so a retry of its chunk applied it twice."""
    import httpx

    import magister as mg
    from magister.serve.client import HTTPTeacher

    with TestClient(create_app(str(tmp_path / "s.db"), admin_token=ADMIN)) as c:
        assert c.post("/v1/curricula", json={"name": "a", "space": NAMED}, headers=AUTH).status_code == 201
        t = HTTPTeacher("http://testserver", "a", token=ADMIN, client=c)
        for ids in (["x1", 7], ["y1", "z" * 200], ["w1", ""]):
            with pytest.raises(mg.ConfigError, match="client id"):
                t.observe_batch(["add", "sub"], [0.5, 0.5], ids=ids, chunk=1)
        assert t.n_observed == 0
        flaky = httpx.Client(transport=LoseReplies(c._transport, n=1), base_url="http://testserver")
        t = HTTPTeacher("http://testserver", "a", token=ADMIN, client=flaky, backoff=0.001)
        assert len(t.observe_batch(["add", "sub"], [0.5, 0.5], ids=["v1", None])) == 2
        assert t.n_observed == 2  # applied once although its reply was lost and the batch sent again


def test_observe_batch_checks_the_score_range_and_repeated_ids_before_sending_any_chunk(tmp_path):
    """A score outside the curriculum's range, or one id given for two different outcomes, was refused by the
    server only in its own chunk ("Nothing was recorded."), after the earlier chunks had been recorded."""
    import magister as mg
    from magister.serve.client import HTTPTeacher

    with TestClient(create_app(str(tmp_path / "s.db"), admin_token=ADMIN)) as c:
        assert c.post("/v1/curricula", json={"name": "a", "space": NAMED}, headers=AUTH).status_code == 201
        t = HTTPTeacher("http://testserver", "a", token=ADMIN, client=c)
        with pytest.raises(mg.InvalidScoreError, match="outside the declared range"):
            t.observe_batch(["add", "sub", "mul"], [0.5, 0.5, 5.0], chunk=2)
        assert t.n_observed == 0
        with pytest.raises(mg.ConfigError, match="client id 'x'"):
            t.observe_batch(["add", "sub", "mul"], [0.5, 0.5, 0.5], ids=["x", "y", "x"], chunk=2)
        assert t.n_observed == 0
        # the same outcome repeated under one id (a retry) is still applied once
        assert t.observe_batch(["add", "sub", 0], [0.5, 0.5, 0.5], ids=["x", "y", "x"], chunk=2) == [1, 2, 1]
        assert t.n_observed == 2


def test_observe_refuses_an_empty_client_id_rather_than_replacing_it(tmp_path):
    """``observe(task, score, id="")`` sent a random id instead, so each retry with that id was applied again."""
    import magister as mg
    from magister.serve.client import HTTPTeacher

    with TestClient(create_app(str(tmp_path / "s.db"), admin_token=ADMIN)) as c:
        assert c.post("/v1/curricula", json={"name": "a", "space": NAMED}, headers=AUTH).status_code == 201
        t = HTTPTeacher("http://testserver", "a", token=ADMIN, client=c)
        for bad in ("", 7, "z" * 200):
            with pytest.raises(mg.ConfigError, match="client id"):
                t.observe("add", 0.5, id=bad)
        assert t.n_observed == 0
        assert t.observe("add", 0.5, id="k") == t.observe("add", 0.5, id="k") == 1


def test_a_registered_teacher_class_that_is_not_a_teacher_subclass_is_still_served(tmp_path, monkeypatch):
    """``register`` takes any class, and the service reads class attributes with a default: the shared score-range
    default (``default_score_range``) and the proposal-infos check (``gives_infos``) read ``open_scores`` and
    ``_propose_info`` straight off the class, so such a class was refused at create (AttributeError, a 500) and,
    past that, every propose failed and marked the curriculum broken."""
    import magister as mg
    import magister.teacher as teacher_module

    class Duck:  # a teacher by delegation, not a Teacher subclass
        def __init__(self, space, **kw):
            self._t = mg.make_teacher("uniform", space, **kw)

        def __getattr__(self, name):
            return getattr(self._t, name)

    monkeypatch.setitem(teacher_module._REGISTRY, "duck", Duck)
    with TestClient(create_app(str(tmp_path / "d.db"), admin_token=ADMIN)) as c:
        c.headers.update(AUTH)
        r = c.post("/v1/curricula", json={"name": "d", "space": NAMED, "teacher": "duck", "seed": 0})
        assert r.status_code in (200, 201), r.text
        local = mg.make_teacher("uniform", mg.space_from_spec(NAMED), seed=0)
        r = c.post("/v1/curricula/d/propose", params={"k": 2})
        assert r.status_code == 200 and r.json()["tasks"] == local.propose(2) and "infos" not in r.json(), r.text


def test_a_write_group_of_proposals_and_observations_with_answer_times_keeps_every_column(tmp_path):
    """The group writer inserted all rows of a group with the columns of its first row: an observation's
    ``answer_time`` after a proposal's row (which had no such key) was dropped, so a replay counted the answer at
    its arrival; a proposal after an observation failed the whole group with a KeyError, which then went one
    transaction per request (half the served requests/s under load)."""
    from sqlalchemy import select

    from magister.serve.models import Curriculum, Event
    from magister.serve.writer import InsertRows, _run_group

    events = Event.__table__
    with TestClient(create_app(str(tmp_path / "s.db"), admin_token=ADMIN)) as c:
        c.headers.update(AUTH)
        assert c.post("/v1/curricula", json={"name": "w", "space": NAMED, "teacher": "exp3"}).status_code == 201
        service = c.app.state.service
        with service.engine.connect() as conn:
            cid = conn.execute(select(Curriculum.__table__.c.id).where(Curriculum.__table__.c.name == "w")).scalar_one()

        def row(seq, kind, **extra):
            return {"curriculum_id": cid, "seq": seq, "batch": seq, "kind": kind, "k": 1 if kind == "propose" else None,
                    "task": '"add"', "score": None if kind == "propose" else 0.5, "client_id": None,
                    "created_at": 100.0, **extra}

        ops = [InsertRows(events, [row(100, "propose")]), InsertRows(events, [row(101, "observe", answer_time=7.0)]),
               InsertRows(events, [row(102, "observe", answer_time=8.0)]), InsertRows(events, [row(103, "propose")])]
        with service.engine.begin() as conn:
            _run_group(conn, ops)  # one transaction: a KeyError here was the whole group failing
        with service.engine.connect() as conn:
            got = dict(conn.execute(select(events.c.seq, events.c.answer_time).where(events.c.seq >= 100)).all())
        assert got == {100: None, 101: 7.0, 102: 8.0, 103: None}


def test_a_duration_is_no_score_over_http_as_it_is_none_to_a_local_teacher(tmp_path):
    """273036d refused numpy dates and durations as scores; the client's number test let a ``timedelta64`` through
    (it is a numpy integer), and ``float()`` of one in nanoseconds or without a unit is its count: sent as a score."""
    import numpy as np

    import magister as mg
    from magister.serve.client import HTTPTeacher

    with TestClient(create_app(str(tmp_path / "s.db"), admin_token=ADMIN)) as c:
        assert c.post("/v1/curricula", json={"name": "a", "space": NAMED}, headers=AUTH).status_code == 201
        t = HTTPTeacher("http://testserver", "a", token=ADMIN, client=c)
        for bad in (np.timedelta64(1, "ns"), np.timedelta64(1)):
            with pytest.raises(mg.InvalidScoreError, match="not a number"):
                t.observe("add", bad)
            with pytest.raises(mg.InvalidScoreError, match="not a number|must be numbers"):
                t.observe_batch(["add"], [bad])
        assert t.n_observed == 0
        assert t.observe("add", np.int64(1)) == 1  # a numpy integer stays a score
