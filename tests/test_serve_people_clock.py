"""People policies served over HTTP keep the server's time (``clock: "server"``), exactly across restarts.

The server's time is injected through ``Service.now`` (never by sleeping): a session, then days later another.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

import magister as mg  # noqa: E402
from magister.serve.app import create_app  # noqa: E402
from magister.serve.client import HTTPTeacher, create_curricula, create_curriculum  # noqa: E402
from magister.serve.db import make_engine, migrate  # noqa: E402
from serve_fixtures import ADMIN, AUTH, full_history, replay, states_equal  # noqa: E402

WORDS = {"type": "Discrete", "names": [f"w{i}" for i in range(6)]}
T0 = 1_800_000_000.0  # a Monday of 2027, in unix seconds
DAY = 86400.0


class FakeClock:
    """The server's time, moved by the test."""

    def __init__(self, t: float = T0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def _start(db: str, clock: FakeClock, **settings) -> TestClient:
    c = TestClient(create_app(db, admin_token=ADMIN, **settings))
    c.__enter__()
    c.headers.update(AUTH)
    c.app.state.service.now = clock
    return c


def _state(c, name):
    r = c.get(f"/v1/curricula/{name}/checkpoint")
    assert r.status_code == 200, r.text
    return mg.loads(r.content)


def _session(c, name, answers):
    """Propose, answer: one learning session; returns what was proposed."""
    out = []
    for score in answers:
        task = c.post(f"/v1/curricula/{name}/propose").json()["tasks"][0]
        out.append(task)
        assert c.post(f"/v1/curricula/{name}/observe", json={"task": task, "score": score}).status_code == 200
    return out


def _local_session(teacher, at, answers):
    """The same session on a local policy, moved to the server's time the way the service does."""
    out = []
    for score in answers:
        teacher.set_time(max(teacher.clock, at))
        task = teacher.propose()
        out.append(task)
        teacher.set_time(max(teacher.clock, at))
        teacher.observe(task, score)
    return out


def test_spaced_review_over_http_follows_the_server_clock_across_days(tmp_path):
    # before, the service never moved a policy's clock: 30 days between two sessions meant nothing, and the
    # second session was proposed new words instead of the reviews that had fallen due
    clock = FakeClock()
    c = _start(str(tmp_path / "s.db"), clock)
    try:
        info = c.post("/v1/curricula", json={"name": "anna", "space": WORDS, "teacher": "spaced-review",
                                             "seed": 1}).json()
        assert info["clock"] == "server"  # the default of a people policy created through the service
        first = _session(c, "anna", [1.0, 1.0, 1.0])  # three answers at one frozen instant: no error, in order
        assert first == ["w0", "w1", "w2"]
        assert _state(c, "anna").clock == T0 + 3 * 60.0  # on the server's time, then a minute per answer
        assert c.post("/v1/curricula/anna/propose").json()["tasks"] == ["w3"]  # nothing due yet: a new word
        clock.t = T0 + 30 * DAY
        second = c.post("/v1/curricula/anna/propose").json()["tasks"]
        assert second[0] in first  # the reviews fell due
        teacher = _state(c, "anna")
        assert teacher.clock == T0 + 30 * DAY and set(teacher.due_items()) == set(first)
        # the same as a local policy moved to those times
        local = mg.make_teacher("spaced-review", mg.space_from_spec(WORDS), seed=1, score_range=mg.ScoreRange())
        assert _local_session(local, T0, [1.0, 1.0, 1.0]) == first
        assert local.propose() == "w3"
        local.set_time(T0 + 30 * DAY)
        assert local.propose() == second[0]
        assert states_equal(teacher.state_dict(), local.state_dict())
        clock.t = T0 + 2 * DAY  # the server's clock set back (a correction): the policy's clock never goes back
        assert c.post("/v1/curricula/anna/propose").status_code == 200
        assert _state(c, "anna").clock == T0 + 30 * DAY
    finally:
        c.__exit__(None, None, None)


def test_the_answer_count_clock_stays_on_request(tmp_path):
    clock = FakeClock()
    c = _start(str(tmp_path / "s.db"), clock)
    try:
        r = c.post("/v1/curricula", json={"name": "sim", "space": WORDS, "teacher": "spaced-review", "seed": 1,
                                          "clock": "answers"})
        assert r.status_code == 201 and r.json()["clock"] == "answers"
        local = mg.make_teacher("spaced-review", mg.space_from_spec(WORDS), seed=1, score_range=mg.ScoreRange())
        for day in range(3):
            clock.t = T0 + 30 * DAY * day  # the server's time means nothing to it
            got = _session(c, "sim", [1.0, 0.0])
            want = []
            for score in [1.0, 0.0]:
                want.append(local.propose())
                local.observe(want[-1], score)
            assert got == want
        assert states_equal(_state(c, "sim").state_dict(), local.state_dict())
        assert _state(c, "sim").clock == 6 * 60.0
    finally:
        c.__exit__(None, None, None)


def test_clock_settings_are_checked_and_reach_bulk_and_the_client(tmp_path):
    clock = FakeClock()
    c = _start(str(tmp_path / "s.db"), clock)
    try:
        bad = c.post("/v1/curricula", json={"name": "u", "space": WORDS, "teacher": "uniform", "clock": "server"})
        assert bad.status_code == 422 and "keeps no clock" in bad.text and "leave 'clock' out" in bad.text
        bad = c.post("/v1/curricula", json={"name": "u", "space": WORDS, "teacher": "spaced-review",
                                            "clock": "wall"})
        assert bad.status_code == 422
        assert c.get("/v1/curricula").json()["curricula"] == []  # nothing was created
        plain = c.post("/v1/curricula", json={"name": "u", "space": WORDS, "teacher": "uniform"}).json()
        assert "clock" not in plain
        r = c.post("/v1/curricula/bulk", json={"template": {"space": WORDS, "teacher": "mastery-learning",
                                                            "clock": "answers"}, "learners": ["a", "b"]})
        assert r.status_code == 201, r.text
        assert c.get("/v1/curricula/a").json()["clock"] == "answers"
        create_curricula("http://testserver", ["c"], mg.space_from_spec(WORDS), "difficulty-band", token=ADMIN,
                         client=c)
        assert c.get("/v1/curricula/c").json()["clock"] == "server"
        create_curriculum("http://testserver", "d", mg.space_from_spec(WORDS), "max-information", token=ADMIN,
                          client=c, clock="answers")
        assert c.get("/v1/curricula/d").json()["clock"] == "answers"
        with pytest.raises(mg.ConfigError, match="clock is 'answers', not 'server'"):
            create_curriculum("http://testserver", "d", mg.space_from_spec(WORDS), "max-information",
                              token=ADMIN, client=c, clock="server", exist_ok=True)
        # a refused observation moves nothing, the clock included
        teacher = HTTPTeacher("http://testserver", "c", token=ADMIN, client=c)
        teacher.observe("w0", 1.0)
        before = _state(c, "c").state_dict()
        clock.t = T0 + 5 * DAY
        with pytest.raises(mg.InvalidScoreError):
            teacher.observe("w0", 7.0)
        assert states_equal(_state(c, "c").state_dict(), before)
    finally:
        c.__exit__(None, None, None)


def _two_sessions(c, name, clock, restart=None):
    """A session on day 0, another on day 3 and one on day 40; ``restart(c)`` between them may restart."""
    proposals = []
    for day in (0, 3, 40):
        clock.t = T0 + day * DAY
        proposals += _session(c, name, [1.0, 0.0, 1.0, 1.0])
        clock.t += 600
        tasks = c.post(f"/v1/curricula/{name}/propose", params={"k": 3}).json()["tasks"]
        obs = [{"task": t, "score": 1.0} for t in tasks]
        assert c.post(f"/v1/curricula/{name}/observe_batch", json={"observations": obs}).status_code == 200
        proposals += tasks
        if restart is not None and day == 3:
            c = restart(c)
    return c, proposals


def test_a_restart_midway_gives_identical_proposals_whatever_the_wall_clock_at_replay(tmp_path):
    clock = FakeClock()
    straight = _start(str(tmp_path / "a.db"), clock)
    try:
        for c in (straight,):
            c.post("/v1/curricula", json={"name": "anna", "space": WORDS, "teacher": "spaced-review", "seed": 5})
        straight, want = _two_sessions(straight, "anna", clock)
        final = _state(straight, "anna").state_dict()
    finally:
        straight.__exit__(None, None, None)

    db = str(tmp_path / "b.db")
    clock = FakeClock()
    c = _start(db, clock, checkpoint_every=5)  # restarts replay a checkpoint and the log after it
    c.post("/v1/curricula", json={"name": "anna", "space": WORDS, "teacher": "spaced-review", "seed": 5})
    before: dict = {}

    def restart(old):
        before["state"] = _state(old, "anna").state_dict()
        old.__exit__(None, None, None)

        def no_wall_clock() -> float:
            raise AssertionError("a replay read the server's clock")

        new = _start(db, FakeClock(), checkpoint_every=5)
        new.app.state.service.now = no_wall_clock  # the replay must use the logged times only
        rebuilt = _state(new, "anna").state_dict()
        assert states_equal(rebuilt, before["state"])
        full = new.app.state.service.replay_from_log("anna").state_dict()  # every event, no checkpoint
        assert states_equal(full, before["state"])
        new.app.state.service.now = clock
        return new

    try:
        c, got = _two_sessions(c, "anna", clock, restart)
        assert got == want
        live = _state(c, "anna").state_dict()
        assert states_equal(live, final)
        info = c.get("/v1/curricula/anna").json()
        assert info["checkpoint_seq"] > 0
        assert states_equal(live, replay(info, full_history(c, "anna")).state_dict())
        assert _state(c, "anna").clock > T0 + 40 * DAY
    finally:
        c.__exit__(None, None, None)


def test_a_curriculum_stored_before_clocks_replays_with_the_answer_count_clock(tmp_path):
    # a database of the previous schema (0003) whose spaced-review curriculum was taught over days: its row has
    # no clock, so it must keep counting answers (a server clock on replay would diverge from what it proposed)
    db = str(tmp_path / "old.db")
    engine = make_engine(db)
    migrate(engine, "0003")
    words = mg.space_from_spec(WORDS)
    old = mg.make_teacher("spaced-review", words, seed=2, score_range=mg.ScoreRange())
    rows = []
    seq = 0
    for day in range(4):
        tasks = old.propose(2)
        seq += 1
        rows.append({"seq": seq, "batch": seq, "kind": "propose", "k": 2, "task": json.dumps(tasks, separators=(",", ":")),
                     "score": None, "created_at": T0 + day * DAY})
        old.observe_batch(tasks, [1.0, 0.0])
        for j, t in enumerate(tasks):
            rows.append({"seq": seq + 1 + j, "batch": seq + 1, "kind": "observe", "k": None,
                         "task": json.dumps(t), "score": [1.0, 0.0][j], "created_at": T0 + day * DAY + 60})
        seq += len(tasks)
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("INSERT INTO curricula (name, space, teacher, settings, seed, score_range, created_at) "
                          "VALUES ('old', :space, 'spaced-review', '{}', 2, :sr, :t)"),
                     {"space": json.dumps(words.to_spec()), "sr": json.dumps(mg.ScoreRange().to_dict()), "t": T0})
        cid = conn.execute(text("SELECT id FROM curricula WHERE name = 'old'")).scalar()
        for r in rows:
            conn.execute(text("INSERT INTO events (curriculum_id, seq, batch, kind, k, task, score, created_at) "
                              "VALUES (:cid, :seq, :batch, :kind, :k, :task, :score, :created_at)"), {"cid": cid, **r})
    engine.dispose()
    clock = FakeClock(T0 + 100 * DAY)
    c = _start(db, clock)  # migrates to the new schema
    try:
        info = c.get("/v1/curricula/old").json()
        assert "clock" not in info
        assert c.app.state.service.replay_mismatches == 0  # every logged proposal redrawn as it was
        assert states_equal(_state(c, "old").state_dict(), old.state_dict())
        assert _state(c, "old").clock == 8 * 60.0
        got = _session(c, "old", [1.0, 1.0])  # 100 days later by the server's clock: still the answer count
        want = []
        for score in [1.0, 1.0]:
            want.append(old.propose())
            old.observe(want[-1], score)
        assert got == want
        assert states_equal(_state(c, "old").state_dict(), old.state_dict())
    finally:
        c.__exit__(None, None, None)
