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

def _restarted(old, db: str, clock, *, checkpoint_every: int, name: str = "anna"):
    """Stop ``old`` and start the server again on ``db``: the curriculum rebuilt from its checkpoint and the log
    after it, and replayed from the whole log, equals the state before, and neither reads the server's clock (a
    replay uses the logged times only). Returns the new client, on ``clock`` again."""
    before = _state(old, name).state_dict()
    old.__exit__(None, None, None)

    def no_wall_clock() -> float:
        raise AssertionError("a replay read the server's clock")

    new = _start(db, FakeClock(), checkpoint_every=checkpoint_every)
    new.app.state.service.now = no_wall_clock
    assert states_equal(_state(new, name).state_dict(), before)  # checkpoint + later log
    full = new.app.state.service.replay_from_log(name).state_dict()  # every event, no checkpoint
    assert states_equal(full, before)
    new.app.state.service.now = clock
    return new


def _restarts_change_nothing(tmp_path, sessions, *, checkpoint_every: int):
    """``sessions(c, "anna", clock, restart)`` of a spaced-review curriculum run straight through, and again with a
    restart midway (:func:`_restarted`): the same proposals, the same final state, equal to a replay of
    ``/history`` alone. Returns the restarted run's client (the caller exits it)."""
    clock = FakeClock()
    straight = _start(str(tmp_path / "a.db"), clock)
    try:
        straight.post("/v1/curricula", json={"name": "anna", "space": WORDS, "teacher": "spaced-review", "seed": 5})
        straight, want = sessions(straight, "anna", clock)
        final = _state(straight, "anna").state_dict()
    finally:
        straight.__exit__(None, None, None)

    db = str(tmp_path / "b.db")
    clock = FakeClock()
    c = _start(db, clock, checkpoint_every=checkpoint_every)
    c.post("/v1/curricula", json={"name": "anna", "space": WORDS, "teacher": "spaced-review", "seed": 5})
    try:
        c, got = sessions(c, "anna", clock, lambda old: _restarted(old, db, clock, checkpoint_every=checkpoint_every))
        assert got == want
        live = _state(c, "anna").state_dict()
        assert states_equal(live, final)
        info = c.get("/v1/curricula/anna").json()
        assert info["checkpoint_seq"] > 0
        assert states_equal(live, replay(info, full_history(c, "anna")).state_dict())  # from /history alone
    except BaseException:
        c.__exit__(None, None, None)
        raise
    return c



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
    c = _restarts_change_nothing(tmp_path, _two_sessions, checkpoint_every=5)  # a checkpoint and the log after it
    try:
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


# ------------------------------------------------------------------ answers made earlier, synced later
def _local(seed=1):
    return mg.make_teacher("spaced-review", mg.space_from_spec(WORDS), seed=seed, score_range=mg.ScoreRange())


def _answered_at(teacher, answers):
    """A local policy given each answer at its own time, as the service applies an answer time."""
    for task, score, at in answers:
        teacher.set_time(max(teacher.clock, at))
        teacher.observe(task, score)
    return teacher


def test_answers_synced_later_count_at_the_times_they_were_made(tmp_path):
    # before, an app that recorded answers offline on days 0, 1 and 2 and synced them on day 3 could not say when
    # they were made ('time' was refused, 422): the policy counted all three as answered on day 3, so its recall
    # predictions were those of a learner who had answered everything on day 3
    clock = FakeClock(T0 + 3 * DAY)
    c = _start(str(tmp_path / "s.db"), clock)
    try:
        for name in ("synced", "all-today"):
            assert c.post("/v1/curricula", json={"name": name, "space": WORDS, "teacher": "spaced-review",
                                                 "seed": 1}).status_code == 201
        made = [("w0", 1.0, T0), ("w1", 1.0, T0 + DAY), ("w2", 0.0, T0 + 2 * DAY)]
        obs = [{"task": t, "score": s, "id": f"a{i}", "time": at} for i, (t, s, at) in enumerate(made)]
        r = c.post("/v1/curricula/synced/observe_batch", json={"observations": obs})
        assert r.status_code == 200, r.text
        assert c.post("/v1/curricula/all-today/observe_batch",
                      json={"observations": [{"task": t, "score": s} for t, s, _ in made]}).status_code == 200
        # one more answer made offline on day 2.5, sent alone; then one made now (no time)
        assert c.post("/v1/curricula/synced/observe",
                      json={"task": "w3", "score": 1.0, "time": T0 + 2.5 * DAY}).status_code == 200
        assert c.post("/v1/curricula/synced/observe", json={"task": "w4", "score": 1.0}).status_code == 200
        made += [("w3", 1.0, T0 + 2.5 * DAY), ("w4", 1.0, T0 + 3 * DAY)]
        served, today = _state(c, "synced"), _state(c, "all-today")
        local = _answered_at(_local(), made)
        assert states_equal(served.state_dict(), local.state_dict())  # each answer at its own time
        for t in (served, today):
            t.set_time(T0 + 10 * DAY)
        assert not (served.predictions()[:3] == today.predictions()[:3]).all()
        assert served.predictions()[0] < today.predictions()[0]  # answered three days earlier: recalled less
        events = [e for e in full_history(c, "synced") if e["kind"] == "observe"]
        assert [e.get("answer_time") for e in events] == [T0, T0 + DAY, T0 + 2 * DAY, T0 + 2.5 * DAY, None]
        assert {e["time"] for e in events} == {T0 + 3 * DAY}  # when each reached the server
    finally:
        c.__exit__(None, None, None)


def _timed_sessions(c, name, clock, restart=None):
    """Synced batches (answer times, some left out, one before the clock), proposals, sessions over days."""
    out = []
    for day in (5, 9, 30):
        clock.t = T0 + day * DAY
        tasks = c.post(f"/v1/curricula/{name}/propose", params={"k": 4}).json()["tasks"]
        out += tasks
        times = [T0 + (day - 3) * DAY, None, T0 + (day - 1) * DAY, T0 + (day - 1) * DAY]
        obs = [{"task": t, "score": float(j % 2), **({"time": at} if at is not None else {})}
               for j, (t, at) in enumerate(zip(tasks, times))]
        assert c.post(f"/v1/curricula/{name}/observe_batch", json={"observations": obs}).status_code == 200
        # an answer made before the clock (synced out of order): counted at the clock's time, never back
        assert c.post(f"/v1/curricula/{name}/observe",
                      json={"task": tasks[0], "score": 1.0, "time": T0}).status_code == 200
        out += _session(c, name, [1.0, 0.0])
        if restart is not None and day == 9:
            c = restart(c)
    return c, out


def test_answer_times_replay_exactly_after_a_restart(tmp_path):
    _restarts_change_nothing(tmp_path, _timed_sessions, checkpoint_every=4).__exit__(None, None, None)


def test_a_retry_with_another_time_is_refused_like_another_score(tmp_path):
    # the time is part of what a client id stands for: a "retry" with another time is another observation
    db = str(tmp_path / "s.db")
    clock = FakeClock(T0 + 3 * DAY)
    c = _start(db, clock)
    try:
        c.post("/v1/curricula", json={"name": "anna", "space": WORDS, "teacher": "spaced-review", "seed": 1})
        first = {"task": "w0", "score": 1.0, "id": "x", "time": T0}
        assert c.post("/v1/curricula/anna/observe", json=first).json()["seq"] == 1
        c.post("/v1/curricula/anna/observe", json={"task": "w1", "score": 1.0, "id": "y"})
        assert c.post("/v1/curricula/anna/observe", json=first).json()["seq"] == 1  # a retry: applied once
        before = _state(c, "anna").state_dict()
        for other in ({**first, "time": T0 + 1}, {k: v for k, v in first.items() if k != "time"}):
            r = c.post("/v1/curricula/anna/observe", json=other)
            assert r.status_code == 409 and "task, score and time" in r.text, r.text
        r = c.post("/v1/curricula/anna/observe", json={"task": "w1", "score": 1.0, "id": "y", "time": T0})
        assert r.status_code == 409  # sent first without a time
        r = c.post("/v1/curricula/anna/observe_batch", json={"observations": [
            {"task": "w2", "score": 1.0, "id": "z", "time": T0}, {"task": "w2", "score": 1.0, "id": "z",
                                                                  "time": T0 + DAY}]})
        assert r.status_code == 409 and "observation 0 of this same request" in r.text
        assert states_equal(_state(c, "anna").state_dict(), before)
    finally:
        c.__exit__(None, None, None)
    for recent in (100, 1):  # after a restart: ids read back from the log, recent ones and those in the filter
        c = _start(db, clock, recent_ids=recent)
        try:
            assert c.post("/v1/curricula/anna/observe", json=first).json()["seq"] == 1
            assert c.post("/v1/curricula/anna/observe", json={**first, "time": T0 + 1}).status_code == 409
            assert c.post("/v1/curricula/anna/observe",
                          json={"task": "w1", "score": 1.0, "id": "y", "time": T0}).status_code == 409
            assert c.get("/v1/curricula/anna").json()["last_seq"] == 2
            assert (c.app.state.service.old_id_reads > 0) == (recent == 1)  # (the filter's path was taken)
        finally:
            c.__exit__(None, None, None)


def test_answer_times_are_refused_where_they_mean_nothing_or_cannot_be(tmp_path):
    clock = FakeClock(T0 + 3 * DAY)
    c = _start(str(tmp_path / "s.db"), clock)
    try:
        c.post("/v1/curricula", json={"name": "sim", "space": WORDS, "teacher": "spaced-review", "clock": "answers"})
        c.post("/v1/curricula", json={"name": "u", "space": WORDS, "teacher": "uniform"})
        c.post("/v1/curricula", json={"name": "anna", "space": WORDS, "teacher": "spaced-review"})
        c.post("/v1/curricula/anna/observe", json={"task": "w0", "score": 1.0})
        before = {n: _state(c, n).state_dict() for n in ("sim", "u", "anna")}
        one = {"task": "w1", "score": 1.0, "time": T0}
        r = c.post("/v1/curricula/sim/observe", json=one)
        assert r.status_code == 422 and "'clock' setting is \"server\"" in r.json()["detail"], r.text
        assert "its clock is 'answers'" in r.json()["detail"]
        r = c.post("/v1/curricula/u/observe_batch", json={"observations": [{"task": "w1", "score": 1.0}, one]})
        assert r.status_code == 422 and "observation 1:" in r.text and "keeps no clock" in r.text, r.text
        r = c.post("/v1/curricula/anna/observe", json={**one, "time": T0 + 3 * DAY + 60})  # (5 s: clock skew)
        assert r.status_code == 422 and "after the server's time" in r.text, r.text
        for bad in (True, "2027-01-15T09:00Z", None, [T0], 10 ** 400):
            r = c.post("/v1/curricula/anna/observe", json={**one, "time": bad})
            assert r.status_code == (200 if bad is None else 422), (bad, r.text)
            if bad is None:  # (null: no time, an answer made now)
                before["anna"] = _state(c, "anna").state_dict()
        r = c.post("/v1/curricula/anna/observe", content=b'{"task": "w1", "score": 1.0, "time": NaN}',
                   headers={"content-type": "application/json"})
        assert r.status_code == 422
        for n, state in before.items():
            assert states_equal(_state(c, n).state_dict(), state), n
        assert c.get("/v1/curricula/anna").json()["last_seq"] == 2
        # a time before the policy's clock leaves the clock where it is (counted at the clock's time)
        clock_now = _state(c, "anna").clock
        assert c.post("/v1/curricula/anna/observe", json={**one, "time": T0 - 100 * DAY}).status_code == 200
        assert _state(c, "anna").clock == clock_now + 60.0  # one minute_per_answer, never back
    finally:
        c.__exit__(None, None, None)


def _skewed_sessions(c, name, clock, restart=None):
    """Answers from a device whose clock runs a few seconds fast: their times a little after the server's."""
    out = []
    for day in (1, 2, 9):
        clock.t = T0 + day * DAY
        tasks = c.post(f"/v1/curricula/{name}/propose", params={"k": 3}).json()["tasks"]
        out += tasks
        obs = [{"task": t, "score": float(j % 2), "id": f"d{day}-{j}", "time": clock.t + 1.5 + j}
               for j, t in enumerate(tasks)]
        r = c.post(f"/v1/curricula/{name}/observe_batch", json={"observations": obs})
        assert r.status_code == 200, r.text
        r = c.post(f"/v1/curricula/{name}/observe", json={"task": tasks[0], "score": 1.0, "time": clock.t + 5.0})
        assert r.status_code == 200, r.text  # (the tolerance itself: taken)
        out += _session(c, name, [1.0])
        if restart is not None and day == 2:
            c = restart(c)
    return c, out


def test_an_answer_time_a_few_seconds_after_the_servers_is_taken_from_a_fast_device_clock(tmp_path):
    # before, a device whose clock ran 1.5 s fast had every answer it timed refused (422, "after the server's
    # time"): an app that sends the time of each answer as its own clock reads it lost its newest answers
    clock = FakeClock(T0 + 3 * DAY)
    c = _start(str(tmp_path / "s.db"), clock)
    try:
        c.post("/v1/curricula", json={"name": "anna", "space": WORDS, "teacher": "spaced-review", "seed": 1})
        ahead = {"task": "w0", "score": 1.0, "id": "x", "time": clock.t + 1.5}
        r = c.post("/v1/curricula/anna/observe", json=ahead)
        assert r.status_code == 200 and r.json()["seq"] == 1, r.text
        # kept as given (logged, and the clock moved to it, as a local set_time(time) does): the same state
        local = _answered_at(_local(), [("w0", 1.0, T0 + 3 * DAY + 1.5)])
        assert states_equal(_state(c, "anna").state_dict(), local.state_dict())
        assert full_history(c, "anna")[0]["answer_time"] == T0 + 3 * DAY + 1.5
        clock.t += 10  # a retry later on: the same time, the same observation, applied once
        assert c.post("/v1/curricula/anna/observe", json=ahead).json()["seq"] == 1
        before = _state(c, "anna").state_dict()
        far = {"task": "w1", "score": 1.0, "time": clock.t + 5.001}  # past the tolerance: still refused, clearly
        r = c.post("/v1/curricula/anna/observe_batch", json={"observations": [{"task": "w2", "score": 0.0}, far]})
        assert r.status_code == 422, r.text
        assert "observation 1: time" in r.text and "more than the 5 s allowed" in r.text, r.text
        assert "MAGISTER_CLOCK_SKEW_SECONDS" in r.text and "Nothing was recorded" in r.text
        assert states_equal(_state(c, "anna").state_dict(), before)
        assert c.get("/v1/curricula/anna").json()["last_seq"] == 1
    finally:
        c.__exit__(None, None, None)
    strict = _start(str(tmp_path / "t.db"), clock, clock_skew_seconds=0)  # configurable, 0: none
    try:
        strict.post("/v1/curricula", json={"name": "anna", "space": WORDS, "teacher": "spaced-review"})
        r = strict.post("/v1/curricula/anna/observe", json={"task": "w0", "score": 1.0, "time": clock.t + 0.25})
        assert r.status_code == 422 and "more than the 0 s allowed" in r.text, r.text
        assert strict.post("/v1/curricula/anna/observe",
                           json={"task": "w0", "score": 1.0, "time": clock.t}).status_code == 200
    finally:
        strict.__exit__(None, None, None)


def test_answers_from_a_fast_device_clock_replay_exactly_after_a_restart(tmp_path):
    _restarts_change_nothing(tmp_path, _skewed_sessions, checkpoint_every=4).__exit__(None, None, None)


def test_the_clock_skew_tolerance_is_a_setting_read_from_its_variable():
    from magister.serve.settings import ServeSettings

    assert ServeSettings().clock_skew_seconds == 5.0
    assert ServeSettings.from_env({"MAGISTER_CLOCK_SKEW_SECONDS": "2.5"}).clock_skew_seconds == 2.5
    assert ServeSettings.from_env({"MAGISTER_CLOCK_SKEW_SECONDS": "2.5"}, clock_skew_seconds=0).clock_skew_seconds == 0
    for bad in ("-1", "301", "nan", "soon"):
        with pytest.raises(ValueError, match="MAGISTER_CLOCK_SKEW_SECONDS"):
            ServeSettings.from_env({"MAGISTER_CLOCK_SKEW_SECONDS": bad})
    with pytest.raises(mg.ConfigError, match=r"clock_skew_seconds must be seconds in \[0, 300\]"):
        create_app(":memory:", clock_skew_seconds=True)


def test_http_teacher_sends_answer_times_and_checks_them_first(tmp_path):
    import datetime as dt

    import numpy as np

    clock = FakeClock(T0 + 3 * DAY)
    c = _start(str(tmp_path / "s.db"), clock)
    try:
        teacher = create_curriculum("http://testserver", "anna", mg.space_from_spec(WORDS), "spaced-review",
                                    token=ADMIN, client=c, seed=1)
        sim = create_curriculum("http://testserver", "sim", mg.space_from_spec(WORDS), "spaced-review",
                                token=ADMIN, client=c, seed=1, clock="answers")
        day0 = dt.datetime.fromtimestamp(T0, dt.timezone.utc)
        assert teacher.observe("w0", 1.0, time=day0) == 1
        # naive times are UTC, as everywhere in magister (magister.times.seconds); None: answered now
        seqs = teacher.observe_batch(["w1", "w2", "w3"], [1.0, 0.0, 1.0],
                                     times=[np.datetime64(int(T0 + DAY), "s"), "2027-01-17T08:00:00", None])
        assert seqs == [2, 3, 4]
        events = [e for e in full_history(c, "anna") if e["kind"] == "observe"]
        iso = dt.datetime(2027, 1, 17, 8, tzinfo=dt.timezone.utc).timestamp()
        assert [e.get("answer_time") for e in events] == [T0, T0 + DAY, iso, None]
        local = _answered_at(_local(), [("w0", 1.0, T0), ("w1", 1.0, T0 + DAY), ("w2", 0.0, iso),
                                        ("w3", 1.0, T0 + 3 * DAY)])
        assert states_equal(teacher.state_dict(), local.state_dict())
        for bad in (float("nan"), True, b"1800000000", np.datetime64("NaT"), "yesterday"):
            with pytest.raises(mg.ConfigError, match="time must be a finite time"):
                teacher.observe("w4", 1.0, time=bad)
            with pytest.raises(mg.ConfigError, match="time of observation 1 must be a finite time"):
                teacher.observe_batch(["w4", "w5"], [1.0, 1.0], times=[T0, bad])
        with pytest.raises(mg.ConfigError, match="its clock is 'answers'"):
            sim.observe("w0", 1.0, time=T0)
        with pytest.raises(ValueError, match="2 times for 1 tasks"):
            teacher.observe_batch(["w4"], [1.0], times=[T0, T0])
        assert c.get("/v1/curricula/anna").json()["last_seq"] == 4  # nothing was sent
        assert c.get("/v1/curricula/sim").json()["last_seq"] == 0
    finally:
        c.__exit__(None, None, None)


def test_downgrades_refuse_to_drop_answer_times_and_server_clocks(tmp_path):
    # dropping the 'answer_time' column (0005) or the 'clock' column (0004, which dropped it silently before)
    # makes those curricula replay to other states: refused, nothing changed; without such rows it goes through
    from alembic import command
    from sqlalchemy import inspect, text

    from magister.serve.db import alembic_config, current_revision

    db = str(tmp_path / "s.db")
    clock = FakeClock(T0 + DAY)
    c = _start(db, clock)
    try:
        c.post("/v1/curricula", json={"name": "anna", "space": WORDS, "teacher": "spaced-review"})
        c.post("/v1/curricula", json={"name": "sim", "space": WORDS, "teacher": "spaced-review", "clock": "answers"})
        c.post("/v1/curricula/anna/observe", json={"task": "w0", "score": 1.0, "time": T0})
        c.post("/v1/curricula/sim/observe", json={"task": "w0", "score": 1.0})
    finally:
        c.__exit__(None, None, None)
    engine = make_engine(db)
    cfg = alembic_config()

    def downgrade(to):
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, to)

    def columns():
        found = inspect(engine)
        return ({col["name"] for col in found.get_columns("events")},
                {col["name"] for col in found.get_columns("curricula")})

    def rows():
        with engine.connect() as conn:
            return conn.execute(text("SELECT seq, answer_time FROM events ORDER BY curriculum_id, seq")).all()

    stored = rows()
    with pytest.raises(RuntimeError, match="1 observations carry their own answer time"):
        downgrade("0004")
    assert current_revision(engine) == "0005" and "answer_time" in columns()[0] and rows() == stored
    with engine.begin() as conn:  # (what the message offers, accepting other replays)
        conn.execute(text("UPDATE events SET answer_time = NULL"))
    with pytest.raises(RuntimeError, match="1 curricula keep the server's clock"):
        downgrade("0003")  # (0005 went down first: the whole downgrade is rolled back)
    assert current_revision(engine) == "0005" and "answer_time" in columns()[0] and "clock" in columns()[1]
    downgrade("0004")  # no answer times stored: the column goes, the events stay
    assert current_revision(engine) == "0004" and "answer_time" not in columns()[0]
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM curricula WHERE clock = 'server'"))
    downgrade("0003")  # only an 'answers' clock left: the answer-count clock it gets back is the same
    assert current_revision(engine) == "0003" and "clock" not in columns()[1]
    migrate(engine)
    assert current_revision(engine) == "0005"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar() == 1  # sim's observation
    engine.dispose()


def test_a_curriculum_stored_with_model_settings_an_earlier_magister_took_loosely_is_rebuilt_as_it_ran(tmp_path):
    """ed316be stored a people policy's model_settings as the client sent them, and ran {"graded": 1} as graded and
    {"prior": "0.3"} as 0.3. Models check those now, and every such curriculum answered 503 ("could not be
    rebuilt") after the upgrade, its learner's history out of reach; it is rebuilt as it ran. New ones are refused."""
    import sqlite3

    db = str(tmp_path / "s.db")
    clock = FakeClock()
    c = _start(db, clock)
    try:
        settings = {"model": "bkt", "model_settings": {"graded": True, "prior": 0.3}}
        assert c.post("/v1/curricula", json={"name": "m", "space": WORDS, "teacher": "mastery-learning",
                                             "settings": settings, "seed": 1}).status_code == 201
        _session(c, "m", [1.0, 0.0, 1.0])
        info = c.get("/v1/curricula/m").json()
        bad = c.post("/v1/curricula", json={"name": "n", "space": WORDS, "teacher": "mastery-learning", "seed": 1,
                                            "settings": {"model": "bkt", "model_settings": {"graded": 1}}})
        assert bad.status_code == 422 and "graded must be True or False" in bad.text
    finally:
        c.__exit__(None, None, None)
    with sqlite3.connect(db) as conn:  # as ed316be stored it
        conn.execute("UPDATE curricula SET settings = ? WHERE name = 'm'",
                     (json.dumps({"model": "bkt", "model_settings": {"graded": 1, "prior": "0.3"}}),))
    c = _start(db, clock)
    try:
        r = c.post("/v1/curricula/m/propose")
        assert r.status_code == 200, r.text
        events = full_history(c, "m")
        assert states_equal(_state(c, "m").state_dict()["algorithm"], replay(info, events).state_dict()["algorithm"])
    finally:
        c.__exit__(None, None, None)
