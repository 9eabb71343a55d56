"""The service API in-process: CRUD, teaching, idempotent retries, refusals, restarts, the client."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

import magister as mg  # noqa: E402
from magister.serve.app import create_app  # noqa: E402
from magister.serve.client import HTTPTeacher  # noqa: E402
from magister.serve.db import current_revision, make_engine, migrate  # noqa: E402
from serve_fixtures import ADMIN, AUTH, LoseReplies, full_history, replay, states_equal  # noqa: E402

BOX = {"type": "Box", "low": [0, 0], "high": [1, 2]}
NAMED = {"type": "Discrete", "names": ["add", "sub", "mul", "div"]}


@pytest.fixture()
def db(tmp_path):
    return str(tmp_path / "serve.db")


@pytest.fixture()
def client(db):
    with TestClient(create_app(db, admin_token=ADMIN, checkpoint_every=50)) as c:
        c.headers.update(AUTH)
        yield c


@pytest.fixture(scope="module")
def shared_client(tmp_path_factory):
    """One server for the refusal cases (each case checks that nothing changed)."""
    with TestClient(create_app(str(tmp_path_factory.mktemp("bad") / "serve.db"), admin_token=ADMIN)) as c:
        c.headers.update(AUTH)
        _create(c)
        c.post("/v1/curricula/walker/propose", params={"k": 2})
        c.post("/v1/curricula/walker/observe", json={"task": [0.1, 0.1], "score": 0.5})
        yield c


def _create(c, name="walker", space=BOX, teacher="uniform", **extra):
    r = c.post("/v1/curricula", json={"name": name, "space": space, "teacher": teacher, "seed": 3, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def _state(c, name):
    r = c.get(f"/v1/curricula/{name}/checkpoint")
    assert r.status_code == 200, r.text
    return mg.loads(r.content).state_dict()


def test_crud_and_listing(client):
    info = _create(client)
    assert info["name"] == "walker" and info["teacher"] == "uniform" and info["seed"] == 3
    assert info["n_observed"] == 0 and info["beliefs"]["teacher"] == "uniform"
    assert client.post("/v1/curricula", json={"name": "walker", "space": BOX}).status_code == 409
    _create(client, "skills", NAMED)
    names = [c["name"] for c in client.get("/v1/curricula").json()["curricula"]]
    assert names == ["skills", "walker"]
    assert client.get("/v1/curricula/skills").json()["space"] == NAMED
    assert client.delete("/v1/curricula/skills").status_code == 204
    assert client.get("/v1/curricula/skills").status_code == 404
    assert client.delete("/v1/curricula/skills").status_code == 404
    assert [c["name"] for c in client.get("/v1/curricula").json()["curricula"]] == ["walker"]
    _create(client, "skills", NAMED)  # the name is free again, with a fresh log
    assert client.get("/v1/curricula/skills").json()["last_seq"] == 0


def test_propose_observe_and_history(client):
    _create(client, "skills", NAMED)
    r = client.post("/v1/curricula/skills/propose", params={"k": 5})
    assert r.status_code == 200
    tasks = r.json()["tasks"]
    assert len(tasks) == 5 and set(tasks) <= set(NAMED["names"])
    r = client.post("/v1/curricula/skills/observe", json={"task": "mul", "score": 0.25})
    assert r.json()["seq"] == 2
    r = client.post("/v1/curricula/skills/observe_batch",
                    json={"observations": [{"task": t, "score": 1.0} for t in tasks]})
    assert [x["seq"] for x in r.json()["results"]] == [3, 4, 5, 6, 7]
    info = client.get("/v1/curricula/skills").json()
    assert info["n_observed"] == 6 and info["n_proposed"] == 5 and info["last_seq"] == 7
    assert info["beliefs"]["observed"][NAMED["names"].index("mul")] >= 1
    events = full_history(client, "skills")
    assert [e["kind"] for e in events] == ["propose"] + ["observe"] * 6
    assert events[0]["tasks"] == tasks and events[1] == {**events[1], "task": "mul", "score": 0.25}
    assert {e["batch"] for e in events[2:]} == {3}
    after = client.get("/v1/curricula/skills/history", params={"after": 5}).json()
    assert [e["seq"] for e in after["events"]] == [6, 7] and after["last_seq"] == 7


def test_retried_ids_are_applied_once_and_answered_the_same(client):
    _create(client, "skills", NAMED)
    first = client.post("/v1/curricula/skills/observe", json={"task": "add", "score": 0.5, "id": "obs-1"})
    again = client.post("/v1/curricula/skills/observe", json={"task": "add", "score": 0.5, "id": "obs-1"})
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    batch = {"observations": [{"task": "sub", "score": 0.1, "id": "b-1"}, {"task": "div", "score": 0.2, "id": "b-2"},
                              {"task": "sub", "score": 0.1, "id": "b-1"}, {"task": "add", "score": 0.5, "id": "obs-1"}]}
    r1 = client.post("/v1/curricula/skills/observe_batch", json=batch)
    r2 = client.post("/v1/curricula/skills/observe_batch", json=batch)
    assert r1.json() == r2.json()
    seqs = [x["seq"] for x in r1.json()["results"]]
    assert seqs[0] == seqs[2] and seqs[3] == first.json()["seq"] and len(set(seqs)) == 3
    assert client.get("/v1/curricula/skills").json()["n_observed"] == 3
    before = _state(client, "skills")
    clash = client.post("/v1/curricula/skills/observe", json={"task": "mul", "score": 0.5, "id": "obs-1"})
    assert clash.status_code == 409 and "obs-1" in clash.json()["detail"]
    assert states_equal(before, _state(client, "skills"))
    # a retried proposal (same request id) is answered with the same tasks and draws nothing new
    p1 = client.post("/v1/curricula/skills/propose", params={"k": 3, "request_id": "p-1"}).json()
    p2 = client.post("/v1/curricula/skills/propose", params={"k": 3, "request_id": "p-1"}).json()
    assert p1 == p2 and client.get("/v1/curricula/skills").json()["n_proposed"] == 3
    client.app.state.service.curricula["skills"].proposals.clear()  # as if evicted: answered from the log
    assert client.post("/v1/curricula/skills/propose", params={"k": 3, "request_id": "p-1"}).json() == p1
    assert client.post("/v1/curricula/skills/propose", params={"k": 2, "request_id": "p-1"}).status_code == 409
    # a proposal's request id reused as an observation id: the 409 said it was used for "a different observation"
    reused = client.post("/v1/curricula/skills/observe", json={"task": "add", "score": 0.5, "id": "p-1"})
    assert reused.status_code == 409 and "request_id" in reused.json()["detail"]


BAD_REQUESTS = [
    ("post", "/v1/curricula/walker/observe", {"task": [0.5, 5.0], "score": 0.5}, 422, "outside the space"),
    ("post", "/v1/curricula/walker/observe", {"task": [0.5], "score": 0.5}, 422, "expects 2 numbers"),
    ("post", "/v1/curricula/walker/observe", {"task": "left", "score": 0.5}, 422, "not a vector"),
    ("post", "/v1/curricula/walker/observe", {"task": [0.5, 1.0], "score": 1.5}, 422, "outside the declared range"),
    ("post", "/v1/curricula/walker/observe", {"task": [0.5, 1.0], "score": "high"}, 422, "score"),
    ("post", "/v1/curricula/walker/observe", {"task": [0.5, 1.0]}, 422, "score"),
    ("post", "/v1/curricula/walker/observe", {"task": [0.5, 1.0], "score": 0.5, "extra": 1}, 422, "extra"),
    ("post", "/v1/curricula/walker/observe_batch",
     {"observations": [{"task": [0.5, 1.0], "score": 0.5}, {"task": [2, 2], "score": 0.5}]}, 422, "observation 1"),
    ("post", "/v1/curricula/walker/observe_batch", {"observations": []}, 422, "observations"),
    ("post", "/v1/curricula/walker/propose?k=0", None, 422, "k"),
    ("post", "/v1/curricula/walker/propose?k=many", None, 422, "k"),
    ("post", "/v1/curricula/nowhere/propose", None, 404, "no curriculum named 'nowhere'"),
    ("post", "/v1/curricula/bad%20name/propose", None, 422, "name"),
    ("post", "/v1/curricula", {"name": "x", "space": {"type": "Box", "low": [1], "high": [0]}}, 422, "low"),
    ("post", "/v1/curricula", {"name": "x", "space": {"type": "Blob"}}, 422, "unknown space type"),
    ("post", "/v1/curricula", {"name": "x", "space": BOX, "teacher": "nope"}, 422, "unknown teacher"),
    ("post", "/v1/curricula", {"name": "x", "space": BOX, "teacher": "exp3"}, 422, "finite space"),
    ("post", "/v1/curricula", {"name": "x", "space": BOX, "settings": {"bogus": 1}}, 422, "bogus"),
    ("post", "/v1/curricula", {"name": "x", "space": BOX, "teacher": "alp-gmm", "settings": {"fitrate": 50}}, 422,
     "no setting 'fitrate' (did you mean 'fit_rate'?); its settings are"),
    ("post", "/v1/curricula", {"name": "x", "space": BOX, "teacher": "alp-gmm", "settings": {"fitrate": 50}}, 422,
     "warm_start, window; see GET /v1/teachers"),
    ("post", "/v1/curricula", {"name": "x", "space": BOX, "settings": {"seed": 1}}, 422, "seed"),
    ("post", "/v1/curricula", {"name": "x", "space": BOX, "score_range": [1, 0]}, 422, "low < high"),
    ("post", "/v1/curricula", {"name": "x", "space": {"type": "Discrete", "n": 10**9}}, 422, "at most"),
    ("post", "/v1/curricula", {"name": "-x", "space": BOX}, 422, "name"),
    ("post", "/v1/curricula", {"name": "walker", "space": BOX}, 409, "already exists"),
]


@pytest.mark.parametrize("method,path,body,status,words", BAD_REQUESTS,
                         ids=[f"{i}-{b[1].rsplit('/', 1)[-1]}" for i, b in enumerate(BAD_REQUESTS)])
def test_bad_requests_are_refused_clearly_and_change_nothing(shared_client, method, path, body, status, words):
    client = shared_client
    before_state = _state(client, "walker")
    before_list = client.get("/v1/curricula").json()
    r = client.request(method, path, json=body)
    assert r.status_code == status, r.text
    assert words.lower() in str(r.json()["detail"]).lower(), r.json()
    assert states_equal(before_state, _state(client, "walker"))
    assert client.get("/v1/curricula").json() == before_list


def test_refusals_of_the_framework_itself_name_the_problem_and_the_fix(shared_client):
    """A body sent without its JSON content type, a body that is not JSON, a path or a method the API lacks:
    these said only "Input should be a valid dictionary", "JSON decode error", "Not Found", "Method Not Allowed"."""
    client = shared_client
    before_state = _state(client, "walker")
    good = b'{"task": [0.5, 1.0], "score": 0.5}'
    for headers, words in (({}, "sent without one"), ({"content-type": "text/plain"}, "'text/plain'"),
                           ({"content-type": "application/x-www-form-urlencoded"}, "urlencoded")):
        r = client.post("/v1/curricula/walker/observe", content=good, headers=headers)
        detail = r.json()["detail"]
        assert r.status_code == 422 and "Content-Type: application/json" in detail and words in detail, detail
    r = client.post("/v1/curricula/walker/observe", content=b'{"task": [0.5, 1.0], score: 0.5}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and "not valid JSON (Expecting property name" in r.json()["detail"], r.json()
    r = client.get("/v1/curriculum/walker")
    assert r.status_code == 404 and "/v1/curriculum/walker" in r.json()["detail"] and "/docs" in r.json()["detail"]
    r = client.put("/v1/curricula")
    assert r.status_code == 405 and "takes GET, POST" in r.json()["detail"], r.json()
    assert r.headers["allow"] == "GET, POST"  # (the router's own Allow header named GET only)
    r = client.get("/v1/curricula/walker/propose")
    assert r.status_code == 405 and "takes POST" in r.json()["detail"], r.json()
    assert states_equal(before_state, _state(client, "walker"))


def _space_for(kind: str) -> dict:
    return NAMED if kind == "discrete" else BOX


def _task_for(space: dict, rng: np.random.Generator):
    if space["type"] == "Discrete":
        return space["names"][int(rng.integers(len(space["names"])))]
    return [float(rng.random()), float(2 * rng.random())]


def _teach(c, name: str, space: dict, rng: np.random.Generator, steps: int) -> None:
    for step in range(steps):
        tasks = c.post(f"/v1/curricula/{name}/propose", params={"k": 3}).json()["tasks"]
        scores = [float(rng.random()) for _ in tasks]
        if step % 3 == 0:
            for t, s in zip(tasks, scores):
                r = c.post(f"/v1/curricula/{name}/observe", json={"task": t, "score": s})
                assert r.status_code == 200, r.text
        else:
            obs = [{"task": t, "score": s} for t, s in zip(tasks, scores)]
            obs.append({"task": _task_for(space, rng), "score": float(rng.random())})
            r = c.post(f"/v1/curricula/{name}/observe_batch", json={"observations": obs})
            assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def every_teacher(tmp_path_factory):
    """Every registered teacher taught through one server, then the server restarted once.

    Returns ``{teacher: (live state, info, events, rebuilt state) or the error it raised}``.
    """
    db = str(tmp_path_factory.mktemp("teachers") / "serve.db")
    out: dict = {}
    with TestClient(create_app(db, admin_token=ADMIN, checkpoint_every=23)) as c:
        c.headers.update(AUTH)
        for i, teacher in enumerate(mg.available_teachers()):
            cls = mg.teacher_class(teacher)
            space = _space_for(cls.kind)
            try:
                _create(c, f"t{i}", space, teacher, settings=dict(getattr(cls, "conformance_kwargs", {})))
                _teach(c, f"t{i}", space, np.random.default_rng(i), steps=14)
                out[teacher] = [_state(c, f"t{i}"), c.get(f"/v1/curricula/t{i}").json(), full_history(c, f"t{i}")]
            except AssertionError as e:
                out[teacher] = e
    with TestClient(create_app(db, admin_token=ADMIN)) as c:
        c.headers.update(AUTH)
        for i, teacher in enumerate(mg.available_teachers()):
            if isinstance(out.get(teacher), list):
                out[teacher].append(_state(c, f"t{i}"))
        out["__mismatches__"] = c.app.state.service.replay_mismatches
    return out


@pytest.mark.parametrize("teacher", mg.available_teachers())
def test_restart_rebuilds_every_registered_teacher_exactly(every_teacher, teacher):
    """Checkpoint + replay after a restart equals the live teacher, for every registered teacher."""
    result = every_teacher[teacher]
    if isinstance(result, Exception):
        raise result
    live, info, events, rebuilt = result
    assert info["checkpoint_seq"] > 0  # a checkpoint was written, so the restart replayed only a tail
    assert info["n_observed"] == sum(e["kind"] == "observe" for e in events) > 0
    assert states_equal(live, rebuilt)
    assert states_equal(live, replay(info, events).state_dict())
    assert every_teacher["__mismatches__"] == 0  # every logged proposal was redrawn identically


def test_remote_teacher_is_a_drop_in_teacher(client):
    mg_space = mg.Box([0, 0], [1, 2])
    _create(client)
    remote = HTTPTeacher("http://testserver", "walker", token=ADMIN, client=client)
    local = mg.make_teacher("uniform", mg_space, seed=3, score_range=mg.ScoreRange())
    for _ in range(3):
        a, b = remote.propose(4), local.propose(4)
        assert isinstance(a, np.ndarray) and a.shape == (4, 2)
        np.testing.assert_array_equal(a, b)  # same seed, same draws
        remote.observe_batch(a, [0.5] * 4)
        local.observe_batch(b, [0.5] * 4)
    # scores from a generator, as a local teacher takes them (the client refused them as "not numbers")
    a, b = remote.propose(2), local.propose(2)
    remote.observe_batch(a, (s for s in (0.2, 0.4)))
    local.observe_batch(b, (s for s in (0.2, 0.4)))
    t = remote.propose()
    assert t.shape == (2,) and mg_space.contains(t)
    remote.observe(t, 0.9)
    local.observe(local.propose(), 0.9)
    assert remote.n_observed == 15 and remote.n_proposed == 15
    assert states_equal(remote.state_dict(), local.state_dict())
    assert remote.beliefs()["teacher"] == "uniform"
    with pytest.raises(mg.InvalidScoreError):
        remote.observe(t, float("nan"))
    with pytest.raises(mg.InvalidTaskError):
        remote.observe([5.0, 5.0], 0.5)
    with pytest.raises(mg.InvalidScoreError):
        remote.observe(t, 7.0)
    assert remote.n_observed == 15
    for k in (0, -1, 2.0):  # a MagisterError (and a ValueError), as from a local teacher: was a plain ValueError
        for teacher in (remote, local):
            with pytest.raises(mg.ConfigError, match="positive whole number"):
                teacher.propose(k)
    assert remote.n_proposed == 15


def test_remote_propose_and_observe_batch_split_what_one_request_cannot_carry(client):
    from magister.serve.settings import MAX_BATCH, MAX_K

    _create(client, space={"type": "Box", "low": [0], "high": [1]})
    remote = HTTPTeacher("http://testserver", "walker", token=ADMIN, client=client)
    local = mg.make_teacher("uniform", mg.Box([0], [1]), seed=3, score_range=mg.ScoreRange())
    a = remote.propose(MAX_K + 3)  # was refused by the server (HTTP 422) where a local teacher draws them
    assert a.shape == (MAX_K + 3, 1)
    np.testing.assert_array_equal(a, local.propose(MAX_K + 3))
    seqs = remote.observe_batch(a, np.full(len(a), 0.5), chunk=MAX_BATCH + 10)  # a chunk the server cannot take
    assert len(seqs) == len(a) and remote.n_observed == len(a)


class _RefuseSecond(httpx.BaseTransport):
    """A transport to the test app whose second request to ``endpoint`` is answered ``status`` with ``detail``."""

    def __init__(self, client, endpoint: str, status: int, detail: str):
        self.client, self.endpoint, self.status, self.detail, self.calls = client, endpoint, status, detail, 0

    def handle_request(self, request):
        if request.url.path.endswith(self.endpoint):
            self.calls += 1
            if self.calls == 2:
                return httpx.Response(self.status, json={"detail": self.detail})
        r = self.client._transport.handle_request(request)
        r.read()
        return httpx.Response(r.status_code, headers=r.headers, content=r.content)


def _refusing_second(client, endpoint: str, status: int = 403,
                     detail: str = "this token may not use curriculum 'walker'") -> HTTPTeacher:
    """A client of 'walker' whose second request to ``endpoint`` is refused (one split call failing midway)."""
    http = httpx.Client(transport=_RefuseSecond(client, endpoint, status, detail), base_url="http://testserver",
                        headers=AUTH)
    return HTTPTeacher("http://testserver", "walker", client=http)


def test_remote_propose_split_that_fails_midway_hands_over_the_tasks_already_drawn(client):
    from magister.serve.client import PartialProposalError
    from magister.serve.settings import MAX_K

    _create(client, space={"type": "Box", "low": [0], "high": [1]})

    remote = _refusing_second(client, "/propose")  # the second request of one propose(k) is refused
    local = mg.make_teacher("uniform", mg.Box([0], [1]), seed=3, score_range=mg.ScoreRange())
    with pytest.raises(PartialProposalError, match=f"after {MAX_K} of its tasks were drawn") as e:
        remote.propose(MAX_K + 5)  # the first request's tasks were recorded as proposed, then lost
    assert e.value.status == 403 and e.value.k == MAX_K + 5 and isinstance(e.value.__cause__, mg.MagisterError)
    assert e.value.tasks.shape == (MAX_K, 1) and remote.n_proposed == MAX_K
    np.testing.assert_array_equal(e.value.tasks, local.propose(MAX_K))
    assert remote.observe_batch(e.value.tasks[:3], [0.5] * 3) and remote.n_observed == 3


def test_remote_observe_batch_split_that_fails_midway_hands_over_the_sequence_numbers_recorded(client):
    from magister.serve.client import PartialObservationError, RemoteError

    _create(client, space={"type": "Box", "low": [0], "high": [1]})

    remote = _refusing_second(client, "/observe_batch")  # the second request of one observe_batch is refused
    tasks, scores = remote.propose(7), [0.1 * i for i in range(7)]
    with pytest.raises(PartialObservationError, match="failed after 3 of them were recorded") as e:
        remote.observe_batch(tasks, scores, chunk=3)  # the first chunk was recorded, then its numbers lost
    assert isinstance(e.value, RemoteError) and e.value.status == 403 and isinstance(e.value.__cause__, mg.MagisterError)
    assert e.value.n_recorded == 3 and e.value.n == 7 and len(e.value.ids) == 4 and remote.n_observed == 3
    observed = [ev for ev in full_history(client, "walker") if ev["kind"] == "observe"]
    assert e.value.seqs == [ev["seq"] for ev in observed] and [ev["score"] for ev in observed] == scores[:3]
    # the rest, sent again with the ids handed over, is recorded once (and again: answered the same)
    rest = remote.observe_batch(tasks[3:], scores[3:], ids=e.value.ids, chunk=3)
    assert len(rest) == 4 and remote.n_observed == 7
    assert remote.observe_batch(tasks[3:], scores[3:], ids=e.value.ids) == rest and remote.n_observed == 7


def test_a_client_id_reused_for_another_outcome_is_refused_with_what_happened_and_what_to_do(client):
    # the 409 said neither where the id was first used nor that a retry must repeat its first task and score
    # (numbering a single observation "observation 0", and an id repeated within one request "already used");
    # the client's partial error then advised sending the refused chunk again with the same ids (refused again)
    from magister.serve.client import PartialObservationError

    _create(client, "skills", NAMED)
    first = client.post("/v1/curricula/skills/observe", json={"task": "add", "score": 0.5, "id": "obs-1"}).json()
    before = _state(client, "skills")
    clash = client.post("/v1/curricula/skills/observe", json={"task": "add", "score": 0.7, "id": "obs-1"})
    detail = clash.json()["detail"]
    assert clash.status_code == 409 and not detail.startswith("observation 0")
    assert f"'obs-1' was already used at seq {first['seq']} of curriculum 'skills'" in detail
    assert "Nothing was recorded" in detail and "the same task, score and time with the same id" in detail
    assert "fresh id" in detail
    batch = {"observations": [{"task": "sub", "score": 0.1, "id": "b-1"}, {"task": "sub", "score": 0.2, "id": "b-1"}]}
    inside = client.post("/v1/curricula/skills/observe_batch", json=batch)
    assert inside.status_code == 409
    assert inside.json()["detail"].startswith("observation 1: client id 'b-1' was already used by observation 0 of "
                                              "this same request")
    assert states_equal(before, _state(client, "skills"))
    # through the client: the server's words, and for a later chunk advice that does not repeat the refusal
    remote = HTTPTeacher("http://testserver", "skills", token=ADMIN, client=client)
    with pytest.raises(mg.MagisterError, match="already used at seq") as e:
        remote.observe("mul", 0.5, id="obs-1")
    assert e.value.status == 409
    with pytest.raises(PartialObservationError) as e:
        remote.observe_batch(["mul", "div", "sub", "add"], [0.1, 0.2, 0.3, 0.4], ids=["n1", "n2", "n3", "obs-1"],
                             chunk=2)
    message = str(e.value)
    assert e.value.status == 409 and e.value.n_recorded == 2 and e.value.ids == ["n3", "obs-1"]
    assert "observations 2 to 3 of this call" in message and "counts from observation 2" in message
    assert "refused again" in message and "fresh id" in message and "to record each once" not in message
    e.value.ids[1] = "n4"  # as advised: the reused id replaced, the rest sent again with their ids
    assert len(remote.observe_batch(["sub", "add"], [0.3, 0.4], ids=e.value.ids)) == 2
    assert remote.n_observed == 5


def test_a_partial_error_carries_the_status_of_a_refusal_mapped_to_a_magister_error(client):
    # a 422 is raised as InvalidScoreError / InvalidTaskError / ConfigError: the partial error's status was None
    from magister.serve.client import PartialObservationError

    _create(client, space={"type": "Box", "low": [0], "high": [1]})

    remote = _refusing_second(client, "/observe_batch", 422, "score 7.0 outside the score range")
    tasks = remote.propose(4)
    with pytest.raises(PartialObservationError) as e:
        remote.observe_batch(tasks, [0.5] * 4, chunk=2)
    assert e.value.status == 422 and isinstance(e.value.__cause__, mg.InvalidScoreError)


def test_repeated_query_parameters_are_refused_everywhere(client):
    # ?k=1&k=2 drew 2 tasks: the last value was taken and the first silently ignored
    _create(client)
    for method, path, params in (("post", "/v1/curricula/walker/propose", {"k": 1, "request_id": "r"}),
                                 ("get", "/v1/curricula/walker/history", {"after": 0, "limit": 10}),
                                 ("get", "/v1/curricula/walker/summary", {"top": 3}),
                                 ("get", "/v1/curricula", {"after": "a", "limit": 10})):
        for name, value in params.items():
            query = [(n, v) for n, v in params.items()] + [(name, value if name == "request_id" else 2)]
            r = client.request(method, path, params=query)
            assert r.status_code == 422, (path, name, r.text)
            assert f"'{name}' (2 times)" in r.json()["detail"] and "send each once" in r.json()["detail"]
    assert client.get("/v1/curricula/walker").json()["n_proposed"] == 0
    assert client.post("/v1/curricula/walker/propose", params={"k": 2}).status_code == 200  # once is fine


def test_remote_observe_batch_checks_every_chunk_before_sending_any(client):
    _create(client)
    remote = HTTPTeacher("http://testserver", "walker", token=ADMIN, client=client)
    tasks = remote.propose(4)
    for scores, bad_tasks, error in (([0.5, 0.5, 0.5, float("nan")], tasks, mg.InvalidScoreError),
                                     ([0.5] * 4, [*tasks[:3], [5.0, 5.0]], mg.InvalidTaskError)):
        with pytest.raises(error):
            remote.observe_batch(bad_tasks, scores, chunk=2)  # the bad one is in the second chunk
        assert remote.n_observed == 0, "the first chunk must not have been recorded"
    assert remote.observe_batch(tasks, [0.5] * 4, chunk=2) and remote.n_observed == 4


def test_client_retries_lost_replies_and_the_server_applies_them_once(client):
    _create(client, "skills", NAMED)
    flaky = LoseReplies(client._transport, n=2)
    http = httpx.Client(transport=flaky, base_url="http://testserver")
    remote = HTTPTeacher("http://testserver", "skills", token=ADMIN, client=http, backoff=0.001)
    seq = remote.observe("add", 0.5)  # applied on the first try, reply lost twice, answered on the third
    assert flaky.calls >= 3 and seq == 1
    assert remote.n_observed == 1
    flaky.n = 1
    seqs = remote.observe_batch(["sub", "mul"], [0.2, 0.3])
    assert seqs == [2, 3] and remote.n_observed == 3
    flaky.n = 1
    task = remote.propose()
    assert task in NAMED["names"] and remote.n_proposed == 1  # the lost draw was answered from the log


class _PageAfter:
    """A transport to the test app that lets the first ``n`` POSTs through, then answers them with a proxy's
    page (status 200, HTML) in place of the server's reply."""

    def __init__(self, inner, n):
        self.inner, self.n = inner, n

    def handle_request(self, request):
        r = self.inner.handle_request(request)
        r.read()
        if request.method == "POST" and self.n > 0:
            self.n -= 1
            return httpx.Response(200, text="<html>proxy login</html>", headers={"content-type": "text/html"})
        return httpx.Response(r.status_code, headers=r.headers, content=r.content)

    def close(self):
        pass


def test_a_write_whose_reply_was_a_page_is_recorded_once_when_sent_again_as_its_error_says(client):
    # the reply was Python's raw JSONDecodeError: not knowing whether (nor under which id) it was recorded
    _create(client, "skills", NAMED)
    pages = _PageAfter(client._transport, 0)
    remote = HTTPTeacher("http://testserver", "skills", token=ADMIN,
                         client=httpx.Client(transport=pages, base_url="http://testserver"))
    pages.n = 1
    with pytest.raises(mg.MagisterError, match="may have been recorded") as caught:
        remote.observe("add", 0.5)  # applied; its reply replaced by the page
    id = caught.value.args[0].split("id='")[1].split("'")[0]
    assert remote.observe("add", 0.5, id=id) == 1 and remote.n_observed == 1
    pages.n = 1
    with pytest.raises(mg.MagisterError, match="could not be read") as caught:
        remote.observe_batch(["sub", "mul"], [0.2, 0.3])
    assert remote.observe_batch(["sub", "mul"], [0.2, 0.3], ids=caught.value.ids) == [2, 3]
    assert remote.n_observed == 3
    pages.n = 1
    with pytest.raises(mg.MagisterError, match="may have drawn the 2 tasks") as caught:
        remote.propose(2)
    again = caught.value.args[0].split("(POST ")[1].split(")")[0]
    r = client.post(again)
    assert r.status_code == 200 and len(r.json()["tasks"]) == 2 and remote.n_proposed == 2  # drawn once


class _LoseEveryReply:
    """A transport to the test app that forwards every request and loses the reply of every POST (the server
    applies the write, the client never hears of it)."""

    def __init__(self, inner):
        self.inner, self.posts = inner, 0

    def handle_request(self, request):
        r = self.inner.handle_request(request)
        r.read()
        if request.method == "POST":
            self.posts += 1
            raise httpx.ReadTimeout("reply lost", request=request)
        return httpx.Response(r.status_code, headers=r.headers, content=r.content)

    def close(self):
        pass


def test_a_write_whose_every_retry_failed_names_the_ids_to_send_it_again_with(client):
    # the last retry's error was a plain RemoteError ("failed after 3 attempts: reply lost"), without the random
    # id the write went with: whether it was applied could not be known, nor could it be sent again safely
    import json

    from magister.serve.client import PartialObservationError, RemoteError, create_curriculum

    _create(client, "lvl", {"type": "Discrete", "n": 5}, teacher="plr")
    lost = _LoseEveryReply(client._transport)
    remote = HTTPTeacher("http://testserver", "lvl", token=ADMIN, retries=2, backoff=0.0,
                         client=httpx.Client(transport=lost, base_url="http://testserver"))
    sure = HTTPTeacher("http://testserver", "lvl", token=ADMIN, client=client)
    with pytest.raises(RemoteError, match="failed after 3 attempts") as caught:
        remote.propose(2)  # drawn (and recorded) at the first attempt, answered from the log at the others
    e = caught.value
    assert e.curriculum == "lvl" and e.request_id and e.request_id in str(e) and lost.posts == 3
    r = client.post(f"/v1/curricula/lvl/propose?k=2&request_id={e.request_id}")  # as its message says
    assert r.status_code == 200 and sure.n_proposed == 2  # the same two tasks, drawn once
    tasks = r.json()["tasks"]
    with pytest.raises(RemoteError, match="may have been recorded") as caught:
        remote.observe(tasks[0], 0.5)
    e = caught.value
    assert e.curriculum == "lvl" and f"id={e.request_id!r}" in str(e)
    assert sure.observe(tasks[0], 0.5, id=e.request_id) == 2 and sure.n_observed == 1  # recorded once
    with pytest.raises(PartialObservationError, match="could not be sent") as caught:
        remote.observe_batch([tasks[1], tasks[1]], [0.2, 0.3])
    e = caught.value
    assert e.curriculum == "lvl" and e.n_recorded == 0 and len(e.ids) == 2
    assert sure.observe_batch([tasks[1], tasks[1]], [0.2, 0.3], ids=e.ids) == [3, 4] and sure.n_observed == 3
    with pytest.raises(RemoteError, match="applied once") as caught:
        remote.give_back([tasks[0]])
    e = caught.value
    assert e.curriculum == "lvl" and json.dumps(e.request_id) in str(e)
    r = client.post("/v1/curricula/lvl/give_back", json={"tasks": [tasks[0]], "id": e.request_id})
    assert r.status_code == 200 and r.json()["seq"] == 5  # the one applied, answered again
    n_events = len(full_history(client, "lvl"))
    assert n_events == 5
    with pytest.raises(RemoteError, match="exist_ok=True") as caught:
        create_curriculum("http://testserver", "made", NAMED, token=ADMIN,
                          client=httpx.Client(transport=lost, base_url="http://testserver"))
    assert caught.value.curriculum == "made"
    assert create_curriculum("http://testserver", "made", NAMED, token=ADMIN, client=client, exist_ok=True)


def test_http_teacher_of_a_space_a_newer_server_serves_says_to_upgrade():
    # "unknown space type 'Hyper'; expected Box, ..." named no fix: the server runs a newer magister
    def newer(request):
        return httpx.Response(200, json={"name": "s", "space": {"type": "Hyper", "n": 3}, "teacher": "exp3"})

    http = httpx.Client(transport=httpx.MockTransport(newer), base_url="http://testserver")
    with pytest.raises(mg.ConfigError, match=r"unknown space type 'Hyper'.*newer magister.*pip install -U"):
        HTTPTeacher("http://testserver", "s", client=http)


def test_create_curriculum_whose_reply_was_lost_returns_the_curriculum_it_created(client):
    # the retry of a create that had committed got 409 "already exists" (exist_ok or not)
    from magister.serve.client import create_curriculum

    http = httpx.Client(transport=LoseReplies(client._transport, n=1), base_url="http://testserver")
    remote = create_curriculum("http://testserver", "skills", NAMED, "exp3", token=ADMIN, client=http, seed=4)
    assert remote.name == "exp3" and client.get("/v1/curricula/skills").json()["seed"] == 4
    # a name taken by another set-up is still refused, retried or not
    http = httpx.Client(transport=LoseReplies(client._transport, n=1), base_url="http://testserver")
    with pytest.raises(mg.MagisterError, match="already exists"):
        create_curriculum("http://testserver", "skills", NAMED, "uniform", token=ADMIN, client=http)
    with pytest.raises(mg.MagisterError, match="already exists"):
        create_curriculum("http://testserver", "skills", NAMED, "exp3", token=ADMIN, client=client, seed=4)


def test_client_refuses_bad_arguments_before_sending_anything(client):
    _create(client, "skills", NAMED)
    with pytest.raises(mg.ConfigError, match="retries"):
        HTTPTeacher("http://testserver", "skills", token=ADMIN, client=client, retries=-1)  # sent nothing at all
    with pytest.raises(mg.ConfigError, match="backoff"):
        HTTPTeacher("http://testserver", "skills", token=ADMIN, client=client, backoff=-1.0)
    remote = HTTPTeacher("http://testserver", "skills", token=ADMIN, client=client)
    for chunk in (0, -1, 2.5):  # -1 returned [] having recorded nothing; 0 was a raw ValueError of range()
        with pytest.raises(mg.ConfigError, match="chunk"):
            remote.observe_batch(["add"], [0.5], chunk=chunk)
    with pytest.raises(mg.InvalidScoreError):
        remote.observe_batch(["add"], ["good"])
    for text in ("0.5", "1"):  # parsed into a number and recorded before; a local teacher refuses text
        with pytest.raises(mg.InvalidScoreError):
            remote.observe_batch(["add"], [text])
        with pytest.raises(mg.InvalidScoreError):
            remote.observe("add", text)
    assert remote.n_observed == 0
    assert remote.observe_batch(["add"], 0.5) == [1]  # one score for one task, as a local teacher takes it


def test_client_sends_tasks_holding_numpy_numbers(client):
    _create(client, "grid", {"type": "MultiDiscrete", "nvec": [3, 4]})
    _create(client, "box", BOX)
    grid = HTTPTeacher("http://testserver", "grid", token=ADMIN, client=client)
    box = HTTPTeacher("http://testserver", "box", token=ADMIN, client=client)
    # a raw TypeError (int64 / float32 is not JSON serializable) before
    assert grid.observe(tuple(np.unravel_index(5, (3, 4))), 0.5) == 1
    assert grid.observe_batch([list(np.array([2, 3]))], [0.5]) == [2]
    assert box.observe([np.float32(0.5), np.float32(1.5)], 0.5) == 1
    assert [e["task"] for e in full_history(client, "grid") if e["kind"] == "observe"] == [[1, 1], [2, 3]]


def test_a_level_curriculum_takes_any_finite_score_by_default_as_a_local_level_teacher(client):
    # the service gave plr / robust-plr / accel the range [0, 1] when none was given (a local one takes any finite
    # score: |GAE| or regret), so a score of 2.5 was refused, and an open range could not be asked for at all
    seeds = {"type": "SeedSpace", "n": 20}
    for name, teacher, score_range in [("p", "plr", None), ("r", "robust-plr", {"finite": True}),
                                       ("a", "accel", None)]:
        extra = {} if score_range is None else {"score_range": score_range}
        assert _create(client, name, seeds, teacher, **extra)["score_range"] == {"finite": True}
        remote = HTTPTeacher("http://testserver", name, token=ADMIN, client=client)
        local = mg.make_teacher(teacher, mg.space_from_spec(seeds), seed=3, score_range={"finite": True})
        for score in (2.5, -0.75):
            t, lt = remote.propose(), local.propose()
            assert t == lt
            remote.observe(t, score)
            local.observe(lt, score)
        assert states_equal(remote.state_dict(), local.state_dict())
        assert states_equal(remote.to_local().state_dict(), local.state_dict())
    # a teacher that needs unit scores still gets [0, 1] by default, and refuses an open range with the reason
    assert _create(client, "u", seeds, "learnability")["score_range"]["high"] == 1.0
    r = client.post("/v1/curricula", json={"name": "x", "space": seeds, "teacher": "exp3",
                                           "score_range": {"finite": True}})
    assert r.status_code == 422 and "open score range" in r.text
    assert client.get("/v1/curricula/x").status_code == 404


def test_client_observes_the_tasks_it_proposes_over_every_kind_of_space(client):
    # a Maze (what propose gives for a MazeSpace, alone or in a Dict) was sent as the object itself: a raw
    # TypeError (Object of type Maze is not JSON serializable); tasks go as the space's JSON form
    from magister.levels.spaces import MazeSpace

    spaces = {"maze": MazeSpace(6), "mixed": mg.Dict({"level": MazeSpace(5), "speed": mg.Box([0.5], [2.0]),
                                                      "mode": mg.Discrete(["a", "b"])})}
    for name, space in spaces.items():
        _create(client, name, space.to_spec())
        remote = HTTPTeacher("http://testserver", name, token=ADMIN, client=client)
        local = mg.make_teacher("uniform", space, seed=3, score_range=mg.ScoreRange())
        t, lt = remote.propose(), local.propose()
        assert space.to_json(t) == space.to_json(lt)
        assert remote.observe(t, 0.5) == 2
        local.observe(lt, 0.5)
        ts, lts = remote.propose(2), local.propose(2)
        assert remote.observe_batch(ts, [0.25, 0.75]) == [4, 5]
        local.observe_batch(lts, [0.25, 0.75])
        logged = [e["task"] for e in full_history(client, name) if e["kind"] == "observe"]
        assert logged == [space.to_json(x) for x in [lt, *lts]]
        assert states_equal(remote.state_dict(), local.state_dict())
        with pytest.raises(mg.InvalidTaskError):
            remote.observe({"level": "not a maze"} if name == "mixed" else "#", 0.5)
        assert remote.n_observed == 3


def test_migrations_bring_the_schema_to_head_and_are_idempotent(db):
    engine = make_engine(db)
    assert current_revision(engine) is None
    migrate(engine)
    migrate(engine)
    assert current_revision(engine) == "0005"
    engine.dispose()


def test_a_database_migrated_by_a_newer_magister_is_refused_with_a_clear_message(db):
    # Alembic's own words were "Can't locate revision identified by '0099'" (a traceback from `magister serve`)
    from sqlalchemy import text
    from typer.testing import CliRunner

    from magister.cli import app

    engine = make_engine(db)
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    with pytest.raises(mg.ConfigError, match="revision '0099'.*newer magister.*Upgrade magister"):
        migrate(engine)
    assert current_revision(engine) == "0099"
    engine.dispose()
    result = CliRunner().invoke(app, ["serve", "--db", db, "--no-auth"])
    assert result.exit_code == 2 and "newer magister" in result.output, result.output


def test_downgrading_the_learners_migration_keeps_every_event_and_checkpoint(db):
    from alembic import command
    from sqlalchemy import inspect, text

    from magister.serve.db import alembic_config

    with TestClient(create_app(db, admin_token=ADMIN, checkpoint_every=3)) as c:
        c.post("/v1/curricula", headers=AUTH, json={"name": "w", "space": {"type": "Discrete", "n": 3}, "seed": 1})
        for _ in range(5):
            assert c.post("/v1/curricula/w/propose", headers=AUTH).status_code == 200
    engine = make_engine(db)  # the service's engine: foreign keys on

    def counts():
        with engine.connect() as conn:
            return [conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in ("events", "checkpoints")]

    before = counts()
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")  # (the batch copy of 'curricula' cascaded to every event and checkpoint)
    assert current_revision(engine) == "0001"
    assert "learner" not in {col["name"] for col in inspect(engine).get_columns("curricula")}
    assert counts() == before == [5, 1]
    migrate(engine)
    assert current_revision(engine) == "0005" and counts() == before
    engine.dispose()


def test_magister_serve_command_is_installed():
    from typer.testing import CliRunner

    from magister.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--db", "--admin-token", "--port", "--checkpoint-every"):
        assert option in result.output


def test_a_failing_teacher_is_rebuilt_from_the_log(client):
    import time

    _create(client, "skills", NAMED)
    client.post("/v1/curricula/skills/propose", params={"k": 2})
    client.post("/v1/curricula/skills/observe", json={"task": "add", "score": 0.5})
    before = _state(client, "skills")
    live = client.app.state.service.curricula["skills"]

    def broken(k):
        live.teacher.rng.random(5)  # moves the generator, then fails: memory no longer matches the log
        raise RuntimeError("bug in a teacher")

    live.teacher._propose = broken
    r = client.post("/v1/curricula/skills/propose")
    assert r.status_code == 500 and "bug in a teacher" in r.json()["detail"]
    for _ in range(100):  # rebuilt in the background from checkpoint + log
        if client.get("/v1/curricula/skills").status_code == 200:
            break
        time.sleep(0.05)
    assert states_equal(_state(client, "skills"), before)
    assert client.post("/v1/curricula/skills/propose").status_code == 200


def test_slow_teachers_move_to_worker_threads(client):
    import gc

    gc.collect()
    gc.disable()  # a collection inside a quick call is CPU time of that call: it made one call look slow (flaky)
    try:
        _slow_teachers_move_to_worker_threads(client)
    finally:
        gc.enable()


def _slow_teachers_move_to_worker_threads(client):
    import time

    _create(client, "skills", NAMED)
    _create(client)
    live = client.app.state.service.curricula["skills"]
    fast = live.teacher._propose

    def slow_propose(k):
        end = time.thread_time() + 0.02
        while time.thread_time() < end:
            pass
        return fast(k)

    assert client.post("/v1/curricula/skills/propose").status_code == 200
    assert "skills" not in client.app.state.slow_curricula
    live.teacher._propose = slow_propose
    assert client.post("/v1/curricula/skills/propose").status_code == 200
    # one slow call (a checkpoint, a garbage collection) is not enough to leave the loop
    assert "skills" not in client.app.state.slow_curricula
    live.teacher._propose = fast
    for _ in range(20):
        assert client.post("/v1/curricula/skills/propose").status_code == 200
    assert "skills" not in client.app.state.slow_curricula
    live.teacher._propose = slow_propose
    for n in range(1, 11):  # a teacher that stays slow moves to threads within a few calls
        assert client.post("/v1/curricula/skills/propose").status_code == 200
        if client.app.state.slow_curricula:
            break
    assert client.app.state.slow_curricula == {"skills"} and n <= 8  # only the slow one leaves the event loop
    assert client.post("/v1/curricula/skills/propose").status_code == 200
    assert client.post("/v1/curricula/walker/propose").status_code == 200
    assert client.get("/v1/curricula/skills").json()["n_proposed"] == 2 + 20 + n + 1


def _database_with_one_curriculum(db):
    """A migrated engine on ``db`` holding one curriculum row (id 1), and the events table."""
    from magister.serve.models import Curriculum, Event

    engine = make_engine(db)
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(Curriculum.__table__.insert().values(id=1, name="c", space="{}", teacher="uniform",
                                                          settings="{}", seed=0, score_range="{}", created_at=0.0))
    return engine, Event.__table__


def test_the_writer_merges_inserts_but_keeps_every_op_in_order(db):
    from sqlalchemy import func, select

    from magister.serve.service import InsertRows, _run_group

    engine, events = _database_with_one_curriculum(db)

    def row(seq):
        return {"curriculum_id": 1, "seq": seq, "batch": seq, "kind": "observe", "k": None, "task": "0",
                "score": 0.5, "client_id": None, "created_at": 0.0}

    def count(conn):
        return conn.execute(select(func.count()).select_from(events)).scalar()

    ops = [InsertRows(events, [row(1), row(2)]), InsertRows(events, [row(3)]), count,
           InsertRows(events, [row(4)]), count]
    with engine.begin() as conn:
        assert _run_group(conn, ops) == [None, None, 3, None, 4]
    with engine.connect() as conn:
        assert conn.execute(select(events.c.seq).order_by(events.c.seq)).scalars().all() == [1, 2, 3, 4]
    engine.dispose()


def test_a_server_process_freezes_its_start_up_objects_out_of_the_collector(db):
    import gc

    before = gc.get_freeze_count()
    try:
        with TestClient(create_app(db, admin_token=ADMIN, freeze_gc=True)) as c:
            assert c.get("/v1/health").status_code == 200
            assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()
    with TestClient(create_app(db, admin_token=ADMIN)) as c:  # off by default: apps inside other programs
        assert c.get("/v1/health").status_code == 200
        assert gc.get_freeze_count() == 0


def test_the_writer_keeps_one_connection_and_replaces_a_broken_one(db):
    from sqlalchemy import event, select

    from magister.serve.writer import GroupWriter, InsertRows

    engine, events = _database_with_one_curriculum(db)
    checkouts: list[int] = []
    event.listen(engine, "checkout", lambda *_: checkouts.append(1))

    def row(seq):
        return {"curriculum_id": 1, "seq": seq, "batch": seq, "kind": "observe", "k": None, "task": "0",
                "score": 0.5, "client_id": None, "created_at": 0.0}

    writer = GroupWriter(engine)
    try:
        for seq in range(1, 6):
            writer.call(InsertRows(events, [row(seq)]))
        assert len(checkouts) == 1  # one connection for every round, not one checkout per commit
        writer._conn.connection.dbapi_connection.close()  # type: ignore[union-attr] # it breaks while idle
        writer.call(InsertRows(events, [row(6)]))  # the round fails, the retry takes a fresh connection
        writer.call(InsertRows(events, [row(7)]))
        assert len(checkouts) >= 2
    finally:
        writer.close()
    with engine.connect() as conn:
        assert conn.execute(select(events.c.seq).order_by(events.c.seq)).scalars().all() == list(range(1, 8))
    engine.dispose()


def test_a_request_cancelled_while_its_write_waits_neither_kills_the_writer_nor_drops_the_write(db):
    # asyncio.wrap_future cancels the writer's future when the awaiting request is cancelled (client gone, server
    # shutting down); set_result on it raised InvalidStateError in the writer thread, which died: every later
    # write waited forever
    import asyncio
    import threading

    from sqlalchemy import select

    from magister.serve.writer import GroupWriter, InsertRows

    engine, events = _database_with_one_curriculum(db)

    def row(seq):
        return {"curriculum_id": 1, "seq": seq, "batch": seq, "kind": "observe", "k": None, "task": "0",
                "score": 0.5, "client_id": None, "created_at": 0.0}

    writer = GroupWriter(engine)
    gate = threading.Event()
    try:
        writer.submit(lambda conn: gate.wait(10))  # the writer is busy with an earlier round

        async def cancelled_request():
            fut = writer.submit(InsertRows(events, [row(1)]))
            waiting = asyncio.ensure_future(asyncio.wrap_future(fut))
            await asyncio.sleep(0.01)
            waiting.cancel()
            await asyncio.sleep(0.01)
            return fut

        fut = asyncio.run(cancelled_request())
        gate.set()
        assert fut.result(timeout=10) is None  # still written: the teacher has applied it
        writer.submit(InsertRows(events, [row(2)])).result(timeout=10)
    finally:
        gate.set()
        writer.close()
    with engine.connect() as conn:
        assert conn.execute(select(events.c.seq).order_by(events.c.seq)).scalars().all() == [1, 2]
    engine.dispose()


def test_a_write_queued_while_the_writer_closes_is_answered(db):
    # a request thread between the writer's closed check and its put while the server closed queued its write
    # after the stop mark: its future was never resolved and the request hung
    import threading

    from magister.serve.writer import GroupWriter

    engine, _events = _database_with_one_curriculum(db)
    writer = GroupWriter(engine)
    inside, go = threading.Event(), threading.Event()
    put = writer._q.put

    def slow_put(item, *args, **kwargs):
        if item is not None and not inside.is_set():
            inside.set()
            go.wait(5)  # the request thread pauses here while close() runs
        put(item, *args, **kwargs)

    writer._q.put = slow_put  # type: ignore[method-assign]
    futs: list = []
    request = threading.Thread(target=lambda: futs.append(writer.submit(lambda conn: "written")))
    request.start()
    assert inside.wait(5)
    closing = threading.Thread(target=writer.close)
    closing.start()
    closing.join(0.2)
    go.set()
    request.join(5)
    closing.join(10)
    assert futs[0].result(timeout=10) == "written"  # queued before the stop mark (or refused): never left waiting
    engine.dispose()


def test_two_clients_of_one_curriculum_count_as_one_teacher_for_the_wrappers(client):
    # an env reporting to one HTTPTeacher inside a wrapper observing another client of the same curriculum saw
    # every episode twice: the one-owner check compared the client objects only
    import gymnasium as gym

    from magister.rl import CurriculumWrapper

    _create(client)
    _create(client, name="other")
    first = HTTPTeacher("http://testserver", "walker", token=ADMIN, client=client)
    again = HTTPTeacher("http://testserver", "walker", token=ADMIN, client=client)
    other = HTTPTeacher("http://testserver", "other", token=ADMIN, client=client)
    from magister.rl.wrapper import same_teacher

    assert same_teacher(first, again) and same_teacher(again, first) and not same_teacher(first, other)
    from magister.rl.wrapper import TeacherKey

    key = TeacherKey.of(first)  # what an async vector env's workers check their envs' teachers against
    assert key is not None and same_teacher(key, again) and not same_teacher(key, other)

    class Reporting(gym.Env):  # an env that reports its episodes to a teacher itself (as OpponentEnv does)
        observation_space = gym.spaces.Box(0.0, 1.0, (1,))
        action_space = gym.spaces.Discrete(2)

        def __init__(self, teacher):
            self.teacher = teacher

    with pytest.raises(mg.ConfigError, match="twice"):
        CurriculumWrapper(Reporting(first), again)
    CurriculumWrapper(Reporting(first), other)  # another curriculum: two teachers, each told once


def test_a_level_curriculum_gives_its_infos_and_takes_back_cut_episodes_through_the_client(db):
    # before: HTTPTeacher had neither propose_with_info nor give_back, so a wrapper over a served robust-plr trained
    # on the new levels it meant only to evaluate (every info was {"train": True}), and the episodes a reset cut
    # stayed outstanding on the server (a later score of the level answered the stale proposal). Now the propose
    # reply carries the infos and cut proposals go back (logged: a restart rebuilds the same teacher)
    from env_fixtures import SeedLevels

    from magister.rl import TRAIN_KEY, CurriculumWrapper

    seeds = {"type": "SeedSpace", "n": 3}

    def score(e):
        return e.task / 10

    with TestClient(create_app(db, admin_token=ADMIN, checkpoint_every=7)) as c:
        c.headers.update(AUTH)
        _create(c, "r", seeds, "robust-plr", seed=0)
        remote = HTTPTeacher("http://testserver", "r", token=ADMIN, client=c)
        local = mg.make_teacher("robust-plr", mg.space_from_spec(seeds), seed=0, score_range={"finite": True})
        env, twin = CurriculumWrapper(SeedLevels(), remote, score=score), CurriculumWrapper(SeedLevels(), local,
                                                                                            score=score)
        trains = []
        for e in (env, twin):
            _, info = e.reset()
            e.reset()  # the first proposal: never played
            e.step(0)
            with pytest.warns(UserWarning, match="not reported to the teacher"):
                _, info = e.reset()  # the second: cut after a step
            trains.append([info[TRAIN_KEY]])
            for _ in range(6):
                e.step(1)
                _, info = e.reset()
                trains[-1].append(info[TRAIN_KEY])
            e.close()
        assert trains[0] == trains[1] and False in trains[0] and True in trains[0]  # evaluation levels reach it
        assert states_equal(remote.state_dict(), local.state_dict())
        assert not local.state_dict()["algorithm"]["pending"]  # every proposal scored or given back
        events = full_history(c, "r")
        assert sum(e["kind"] == "giveback" for e in events) == 3
        assert all(len(e["infos"]) == e["k"] for e in events if e["kind"] == "propose")
        # a retried give-back (its reply lost) is applied once and answered the same
        flaky = LoseReplies(c._transport, n=1)
        http = httpx.Client(transport=flaky, base_url="http://testserver")
        again = HTTPTeacher("http://testserver", "r", token=ADMIN, client=http, backoff=0.001)
        tasks, infos = again.propose_with_info(2)
        assert tasks == local.propose(2) and infos == local._propose_info(2)
        flaky.n = 1
        assert again.give_back(tasks, infos) == local.give_back(tasks, infos) == 2 and flaky.calls >= 3
        assert states_equal(remote.state_dict(), local.state_dict())
        # a retried proposal is answered the same infos; give_back's refusals change nothing
        r1 = c.post("/v1/curricula/r/propose", params={"k": 2, "request_id": "p1"}).json()
        assert c.post("/v1/curricula/r/propose", params={"k": 2, "request_id": "p1"}).json() == r1
        local.propose(2)
        for body, status in [({"tasks": [9]}, 422), ({"tasks": [1], "infos": [{}, {}]}, 422),
                             ({"tasks": []}, 422), ({"tasks": [1], "id": "p1"}, 409)]:
            assert c.post("/v1/curricula/r/give_back", json=body).status_code == status
        assert states_equal(_state(c, "r"), local.state_dict())
        live, info, events = _state(c, "r"), c.get("/v1/curricula/r").json(), full_history(c, "r")
        assert info["checkpoint_seq"] > 0
    with TestClient(create_app(db, admin_token=ADMIN)) as c:  # checkpoint + replay of the give-backs
        c.headers.update(AUTH)
        assert states_equal(_state(c, "r"), live)
        assert c.app.state.service.replay_mismatches == 0
        assert states_equal(c.app.state.service.replay_from_log("r").state_dict(), live)
        assert states_equal(replay(info, events).state_dict(), live)
        # after the restart a retried proposal is answered its infos from the log
        assert c.post("/v1/curricula/r/propose", params={"k": 2, "request_id": "p1"}).json() == r1


def test_a_teacher_without_outstanding_proposals_takes_a_give_back_as_a_no_op(client):
    _create(client, "skills", NAMED)
    remote = HTTPTeacher("http://testserver", "skills", token=ADMIN, client=client)
    tasks, infos = remote.propose_with_info(2)
    assert infos == [{"train": True, "replay": False}] * 2
    assert "infos" not in client.post("/v1/curricula/skills/propose").json()  # the reply as it was
    before = _state(client, "skills")
    assert remote.give_back(tasks, infos) == 0
    r = client.post("/v1/curricula/skills/give_back", json={"tasks": ["add"], "id": "g"})
    assert r.status_code == 200 and r.json() == {"curriculum": "skills", "id": "g", "seq": None, "dropped": 0}
    assert client.post("/v1/curricula/skills/give_back", json={"tasks": ["nope"]}).status_code == 422
    assert states_equal(_state(client, "skills"), before)
    assert [e["kind"] for e in full_history(client, "skills")] == ["propose", "propose"]


def test_a_split_propose_with_info_that_fails_midway_hands_over_the_infos_too(client):
    # before: PartialProposalError carried the tasks already drawn but not their infos, so a caller of
    # propose_with_info could not tell robust-plr's evaluation-only levels among them from training ones
    from magister.serve.client import PartialProposalError
    from magister.serve.settings import MAX_K

    seeds = {"type": "SeedSpace", "n": 10**6}
    _create(client, space=seeds, teacher="robust-plr")
    remote = _refusing_second(client, "/propose")
    local = mg.make_teacher("robust-plr", mg.space_from_spec(seeds), seed=3, score_range={"finite": True})
    with pytest.raises(PartialProposalError, match="their infos are in .infos") as e:
        remote.propose_with_info(MAX_K + 5)
    tasks, infos = local.propose_with_info(MAX_K)
    assert e.value.tasks == tasks and e.value.infos == infos and not e.value.infos[0]["train"]


def test_a_split_give_back_that_fails_midway_says_which_tasks_went_back(client):
    # before: a give_back over several requests whose second failed raised the bare error, as if nothing had been
    # given back; resending them all (with fresh ids) gave the first MAX_BATCH back twice
    from magister.serve.client import RemoteError
    from magister.serve.settings import MAX_BATCH

    _create(client, space={"type": "SeedSpace", "n": 3}, teacher="robust-plr")
    remote = _refusing_second(client, "/give_back")
    with pytest.raises(RemoteError, match=rf"after the first {MAX_BATCH} were given back .* "
                                          rf"only tasks\[{MAX_BATCH}:\]") as e:
        remote.give_back([1] * (MAX_BATCH + 5))
    assert e.value.status == 403 and isinstance(e.value.__cause__, RemoteError)


def test_a_give_back_id_used_before_is_refused_with_what_a_give_back_should_resend(client):
    # before: the 409 spoke of "a different observation" and told to resend "the same task and score"
    _create(client, "r", {"type": "SeedSpace", "n": 3}, "robust-plr")
    p = client.post("/v1/curricula/r/propose", params={"k": 2}).json()
    assert client.post("/v1/curricula/r/give_back", json={"tasks": p["tasks"][:1], "id": "g"}).status_code == 200
    r = client.post("/v1/curricula/r/give_back", json={"tasks": p["tasks"][1:], "id": "g"})
    assert r.status_code == 409 and "Nothing was given back" in r.json()["detail"]
    assert "same tasks and infos" in r.json()["detail"] and "score" not in r.json()["detail"]
    r = client.post("/v1/curricula/r/observe", json={"task": p["tasks"][1], "score": 0.5, "id": "g"})
    assert r.status_code == 409 and "give-back's id" in r.json()["detail"]
    assert [e["kind"] for e in full_history(client, "r")] == ["propose", "giveback"]


def test_a_wrapper_over_a_served_teacher_without_give_back_sends_no_give_back(client):
    # before: HTTPTeacher.give_back asked the server even for a teacher that keeps no outstanding proposals (always
    # answered 0), so every cut episode cost a round trip and a wrapper's close() mid-episode failed with the
    # server gone (closing needed no server before give_back existed)
    from env_fixtures import SeedLevels

    from magister.rl import CurriculumWrapper
    from magister.serve.client import RemoteError

    class Flaky(httpx.BaseTransport):
        def __init__(self):
            self.down, self.paths = False, []

        def handle_request(self, request):
            self.paths.append(request.url.path)
            if self.down:
                raise httpx.ConnectError("down")
            r = client._transport.handle_request(request)
            r.read()
            return httpx.Response(r.status_code, headers=r.headers, content=r.content)

    _create(client, "skills", NAMED)
    _create(client, "r", {"type": "SeedSpace", "n": 3}, "robust-plr")
    for name, sent in (("skills", 0), ("r", 1)):
        t = Flaky()
        remote = HTTPTeacher("http://testserver", name, token=ADMIN, retries=0,
                             client=httpx.Client(transport=t, base_url="http://testserver"))
        env = CurriculumWrapper(SeedLevels(), remote, score=lambda e: 0.5)
        env.reset()
        env.step(0)
        with pytest.warns(UserWarning, match="not reported to the teacher"):
            env.reset()  # cuts the running episode
        assert sum(p.endswith("/give_back") for p in t.paths) == sent
        env.step(0)
        t.down = True
        if sent:  # a level teacher must hear of it: the failure is told
            with pytest.raises(RemoteError):
                env.close()
        else:
            env.close()


def test_create_curriculum_names_its_learner(client):
    # learner= was sent as a teacher setting and refused: a learner's curriculum could be made only in bulk
    from magister.serve.client import create_curriculum, export_learner, forget_learner

    url = "http://testserver"
    create_curriculum(url, "ana-math", NAMED, "mastery-learning", token=ADMIN, client=client, learner="ana", seed=1)
    assert client.get("/v1/curricula/ana-math").json()["learner"] == "ana"
    assert [c["name"] for c in export_learner(url, "ana", token=ADMIN, client=client)["curricula"]] == ["ana-math"]
    again = create_curriculum(url, "ana-math", NAMED, "mastery-learning", token=ADMIN, client=client,
                              learner="ana", exist_ok=True)
    assert again.curriculum == "ana-math"
    with pytest.raises(mg.ConfigError, match="learner is 'ana', not 'bob'"):
        create_curriculum(url, "ana-math", NAMED, "mastery-learning", token=ADMIN, client=client, learner="bob",
                          exist_ok=True)
    with pytest.raises(mg.ConfigError, match="begins with a space"):
        create_curriculum(url, "x", NAMED, "exp3", token=ADMIN, client=client, learner=" ann")
    assert forget_learner(url, "ana", token=ADMIN, client=client) == ["ana-math"]
    assert [c["name"] for c in client.get("/v1/curricula").json()["curricula"]] == []


def test_a_refused_setting_is_a_config_error_through_the_client(client):
    # the refusal lists the teacher's settings ("..., score_range, seed, ..."): it was an InvalidScoreError since its
    # text held "score"; a local teacher raises a ConfigError (UnknownSettingError)
    from magister.serve.client import create_curriculum

    with pytest.raises(mg.ConfigError, match="has no setting 'windw'") as e:
        create_curriculum("http://testserver", "x", NAMED, "exp3", token=ADMIN, client=client, windw=3)
    assert not isinstance(e.value, (mg.InvalidScoreError, mg.InvalidTaskError))


def test_a_text_is_not_taken_for_a_list_of_ids_times_or_learners(client):
    # ids="ab" was taken as the ids "a" and "b" (one per character) and recorded; a count that did not match was a
    # bare ValueError that named no fix; a url without http:// was retried with backoff as if the server were down
    _create(client, "skills", NAMED)
    remote = HTTPTeacher("http://testserver", "skills", token=ADMIN, client=client)
    before = _state(client, "skills")
    for kw, why in ((dict(ids="ab"), "one entry per task"), (dict(ids=["q"]), "got 1 ids for 2 tasks"),
                    (dict(times="2026-01-01"), "one entry per task"), (dict(times=[None]), "got 1 times")):
        with pytest.raises(mg.ConfigError, match=why):
            remote.observe_batch(["add", "sub"], [0.5, 0.5], **kw)
    assert states_equal(_state(client, "skills"), before)
    with pytest.raises(mg.ConfigError, match="must start with http:// or https://"):
        HTTPTeacher("localhost:8000", "skills", token=ADMIN, retries=0)
    from magister.serve.client import create_curricula

    with pytest.raises(mg.ConfigError, match=r"for one learner pass \['abc'\]"):  # made learners 'a', 'b', 'c'
        create_curricula("http://testserver", "abc", NAMED, token=ADMIN, client=client)
    assert [x["name"] for x in client.get("/v1/curricula").json()["curricula"]] == ["skills"]


def test_a_give_back_flag_that_is_not_true_or_false_is_refused_and_one_logged_before_still_replays(client, monkeypatch):
    # before: {"replay": "false"} was taken for a replay (any truthy value); the teacher now refuses it. A give-back
    # logged by an older server replays as that server applied it (the flag's truth), so the curriculum still loads
    from magister.teachers import LevelTeacher

    _create(client, "r", {"type": "SeedSpace", "n": 20}, "robust-plr")
    tasks = client.post("/v1/curricula/r/propose", params={"k": 3}).json()["tasks"]
    client.post("/v1/curricula/r/observe", json={"task": tasks[0], "score": 0.5})
    with monkeypatch.context() as old_server:  # no flag checked, as before
        old_server.setattr(LevelTeacher, "_kind_flag", "(unchecked)")
        r = client.post("/v1/curricula/r/give_back", json={"tasks": tasks[1:], "infos": [{"replay": "false"},
                                                                                          {"replay": 0}]})
        assert r.status_code == 200 and r.json()["dropped"] == 1  # "false" dropped nothing, 0 the new proposal
    live, events = _state(client, "r"), full_history(client, "r")
    r = client.post("/v1/curricula/r/give_back", json={"tasks": tasks[1:2], "infos": [{"replay": "yes"}]})
    assert r.status_code == 422 and "'replay' = 'yes'" in r.text and "Nothing was given back" in r.text
    assert states_equal(_state(client, "r"), live) and full_history(client, "r") == events
    assert states_equal(client.app.state.service.replay_from_log("r").state_dict(), live)
