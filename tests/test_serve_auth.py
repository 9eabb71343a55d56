"""API tokens: 401 without a valid token, 403 out of scope, and no leak about other curricula."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from magister.serve.app import create_app  # noqa: E402
from serve_fixtures import ADMIN, AUTH  # noqa: E402

BOX = {"type": "Box", "low": [0], "high": [1]}


@pytest.fixture()
def client(tmp_path):
    with TestClient(create_app(str(tmp_path / "auth.db"), admin_token=ADMIN)) as c:
        for name in ("alice-math", "bob-math"):
            assert c.post("/v1/curricula", headers=AUTH, json={"name": name, "space": BOX}).status_code == 201
        yield c


def _token(c, scope, label=""):
    r = c.post("/v1/tokens", headers=AUTH, json={"curricula": scope, "label": label})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}, r.json()["id"]


ROUTES = [
    ("get", "/v1/curricula/{n}", None),
    ("delete", "/v1/curricula/{n}", None),
    ("post", "/v1/curricula/{n}/propose", None),
    ("post", "/v1/curricula/{n}/observe", {"task": [0.5], "score": 0.5}),
    ("post", "/v1/curricula/{n}/observe_batch", {"observations": [{"task": [0.5], "score": 0.5}]}),
    ("post", "/v1/curricula/{n}/give_back", {"tasks": [[0.5]]}),
    ("get", "/v1/curricula/{n}/beliefs", None),
    ("get", "/v1/curricula/{n}/checkpoint", None),
    ("post", "/v1/curricula/{n}/checkpoint", None),
    ("get", "/v1/curricula/{n}/history", None),
]


def test_missing_or_invalid_token_is_401_everywhere(client):
    for header in (None, "Bearer wrong-token", "Basic YWRtaW46YWRtaW4=", "Bearer ", ADMIN):
        headers = {"Authorization": header} if header is not None else {}
        for method, path, body in ROUTES + [("get", "/v1/curricula", None), ("get", "/v1/tokens", None),
                                            ("get", "/v1/teachers", None),
                                            ("post", "/v1/curricula", {"name": "x", "space": BOX})]:
            r = client.request(method, path.format(n="alice-math"), headers=headers, json=body)
            assert r.status_code == 401, (header, method, path, r.status_code)
            assert "token" in r.json()["detail"] and r.headers["www-authenticate"] == "Bearer"
    info = client.get("/v1/curricula/alice-math", headers=AUTH).json()
    assert info["n_observed"] == 0 and info["n_proposed"] == 0
    assert client.get("/v1/health").status_code == 200  # liveness needs no token and says nothing


def test_scoped_token_works_inside_its_scope_and_gets_403_outside_without_leaks(client):
    alice, _ = _token(client, ["alice-math", "alice-reading"])
    assert client.post("/v1/curricula/alice-math/propose", headers=alice).status_code == 200
    assert client.post("/v1/curricula/alice-math/observe", headers=alice,
                       json={"task": [0.2], "score": 1.0}).status_code == 200
    assert client.post("/v1/curricula/alice-math/give_back", headers=alice,  # as observe
                       json={"tasks": [[0.2]]}).status_code == 200
    # listing shows only what the token may use
    assert [c["name"] for c in client.get("/v1/curricula", headers=alice).json()["curricula"]] == ["alice-math"]
    # an out-of-scope curriculum that exists and one that does not get the very same answer
    for method, path, body in ROUTES:
        exists = client.request(method, path.format(n="bob-math"), headers=alice, json=body)
        missing = client.request(method, path.format(n="carol-math"), headers=alice, json=body)
        assert exists.status_code == missing.status_code == 403, (method, path)
        assert exists.json()["detail"].replace("bob", "X") == missing.json()["detail"].replace("carol", "X")
    assert client.post("/v1/curricula", headers=alice, json={"name": "bob-reading", "space": BOX}).status_code == 403
    # in scope but not created yet: a 404 is fine, and the token may create it
    assert client.get("/v1/curricula/alice-reading", headers=alice).status_code == 404
    assert client.post("/v1/curricula", headers=alice,
                       json={"name": "alice-reading", "space": BOX}).status_code == 201
    # nothing of bob's changed
    bob = client.get("/v1/curricula/bob-math", headers=AUTH).json()
    assert bob["n_observed"] == 0 and bob["n_proposed"] == 0


def test_only_the_admin_manages_tokens_and_revocation_is_immediate(client):
    alice, alice_id = _token(client, ["alice-math"], "alice's tutor app")
    star, _ = _token(client, ["*"])
    assert client.post("/v1/tokens", headers=alice, json={"curricula": ["*"]}).status_code == 403
    assert client.post("/v1/tokens", headers=star, json={"curricula": ["*"]}).status_code == 403
    assert client.get("/v1/tokens", headers=star).status_code == 403
    listed = client.get("/v1/tokens", headers=AUTH).json()["tokens"]
    assert {t["id"] for t in listed} >= {alice_id} and all("token" not in t for t in listed)
    assert len(client.get("/v1/curricula", headers=star).json()["curricula"]) == 2
    assert client.delete(f"/v1/tokens/{alice_id}", headers=AUTH).status_code == 204
    assert client.get("/v1/curricula/alice-math", headers=alice).status_code == 401
    assert client.delete(f"/v1/tokens/{alice_id}", headers=AUTH).status_code == 404


def test_tokens_survive_a_restart(tmp_path):
    db = str(tmp_path / "t.db")
    with TestClient(create_app(db, admin_token=ADMIN)) as c:
        alice, _ = _token(c, ["alice-math"])
    with TestClient(create_app(db, admin_token=ADMIN)) as c:
        assert c.get("/v1/curricula", headers=alice).status_code == 200
    with TestClient(create_app(db, admin_token="a-new-admin-token")) as c:
        assert c.get("/v1/tokens", headers=AUTH).status_code == 401  # the old admin token is gone


def test_a_token_created_or_revoked_while_the_tokens_reload_is_neither_lost_nor_brought_back(tmp_path):
    # TokenStore.load (a forget_learner, or every lease tick with several processes) read the table, then
    # replaced the cache: a token created in between got 401 until the next reload, and one revoked in between
    # was valid again. The interleaving is forced: the create and revoke run while load has read the table.
    import contextlib
    import threading

    from magister.serve.auth import AuthError, TokenStore
    from magister.serve.db import make_engine, migrate

    engine = make_engine(str(tmp_path / "t.db"))
    migrate(engine)
    store = TokenStore(engine, ADMIN)
    old = store.create(["alice-math"])
    progress = threading.Event()  # the create and revoke are done, or wait for the cache's lock

    class Lock:  # the store's lock, saying when someone waits for it
        def __init__(self):
            self.inner = threading.Lock()

        def __enter__(self):
            if not self.inner.acquire(blocking=False):
                progress.set()
                self.inner.acquire()

        def __exit__(self, *exc):
            self.inner.release()

    changed: dict = {}

    def change():
        changed["new"] = store.create(["bob-math"])
        store.revoke(old["id"])
        progress.set()

    class Engine:  # the engine, running `change` in another thread right after load's read
        def __init__(self):
            self.armed = True

        def __getattr__(self, name):
            return getattr(engine, name)

        @contextlib.contextmanager
        def connect(self):
            with engine.connect() as conn:
                yield conn
            if self.armed:
                self.armed = False
                worker.start()
                assert progress.wait(30)

    worker = threading.Thread(target=change)
    store._lock, store.engine = Lock(), Engine()
    store.load()
    worker.join(30)
    assert store.authenticate(f"Bearer {changed['new']['token']}").scope == {"bob-math"}
    with pytest.raises(AuthError) as e:
        store.authenticate(f"Bearer {old['token']}")
    assert e.value.status == 401


def test_learner_endpoints_tell_a_scoped_token_nothing_about_other_learners(client):
    # bob's curricula were named in the 403, and a learner without curricula got 404 instead of 403
    assert client.post("/v1/curricula", headers=AUTH, json={"name": "bob-secret", "space": BOX,
                                                           "learner": "bob"}).status_code == 201
    alice, _ = _token(client, ["alice-math"])
    for method in ("get", "delete"):
        path = "/v1/learners/{}" + ("/export" if method == "get" else "")
        exists = client.request(method, path.format("bob"), headers=alice)
        missing = client.request(method, path.format("carol"), headers=alice)
        assert exists.status_code == missing.status_code == 403, (method, exists.text, missing.text)
        assert exists.json()["detail"].replace("bob", "X") == missing.json()["detail"].replace("carol", "X")
        assert "secret" not in exists.text
    assert client.get("/v1/curricula/bob-secret", headers=AUTH).status_code == 200  # nothing was deleted
    assert client.get("/v1/learners/carol/export", headers=AUTH).status_code == 404  # the admin may know


def test_a_scoped_token_may_not_attribute_curricula_to_a_learner(client):
    # a token scoped to 'evil' created 'evil' as learner bob's: it joined bob's export and deletion (and a token
    # allowed all of bob's curricula could no longer export or forget bob)
    assert client.post("/v1/curricula", headers=AUTH, json={"name": "bob-secret", "space": BOX,
                                                           "learner": "bob"}).status_code == 201
    evil, _ = _token(client, ["evil", "math-bob", "math-carol"])
    answers = []
    for learner in ("bob", "carol"):  # a learner with curricula, and one without: the same answer
        r = client.post("/v1/curricula", headers=evil, json={"name": "evil", "space": BOX, "learner": learner})
        assert r.status_code == 403 and "'evil'" in r.json()["detail"] and "learner" in r.json()["detail"]
        answers.append(r.json()["detail"])
        r = client.post("/v1/curricula/bulk", headers=evil, json={"template": {"space": BOX}, "learners": [learner],
                                                                   "prefix": "math-"})
        assert r.status_code == 403 and "scoped to curricula" in r.json()["detail"]
    assert answers[0] == answers[1]
    assert [c["name"] for c in client.get("/v1/curricula", headers=evil).json()["curricula"]] == []
    assert [c["name"] for c in client.get("/v1/learners/bob/export", headers=AUTH).json()["curricula"]] == \
        ["bob-secret"]
    # without a learner the token creates in its scope as before; the admin and a '*' token may name learners
    assert client.post("/v1/curricula", headers=evil, json={"name": "evil", "space": BOX}).status_code == 201
    star, _ = _token(client, ["*"])
    assert client.post("/v1/curricula", headers=star, json={"name": "bob-more", "space": BOX,
                                                           "learner": "bob"}).status_code == 201
    assert client.post("/v1/curricula/bulk", headers=AUTH, json={"template": {"space": BOX}, "learners": ["bob"],
                                                                 "prefix": "math-"}).status_code == 201


def test_a_curriculum_given_to_a_learner_during_a_scoped_check_is_neither_exported_nor_deleted(client):
    # the scope was checked against the learner's curricula, then the export or deletion read them again: one
    # the admin gave the learner in between (outside the token's scope) was exported to it, or deleted by it
    assert client.post("/v1/curricula", headers=AUTH, json={"name": "carl-math", "space": BOX,
                                                           "learner": "carl"}).status_code == 201
    carl, _ = _token(client, ["carl-math"])
    service = client.app.state.service
    checked = service.learner_curricula

    def admin_creates_meanwhile(learner):
        names = checked(learner)  # what the token's scope is checked against
        if not service._existing(["carl-secret"]):
            service.create("carl-secret", BOX, "uniform", {}, 1, None, "carl")[1].result()
        return names

    for method, path in (("get", "/v1/learners/carl/export"), ("delete", "/v1/learners/carl")):
        service.learner_curricula = admin_creates_meanwhile
        try:
            r = client.request(method, path, headers=carl)
        finally:
            service.learner_curricula = checked
        assert r.status_code == 409 and "changed while this request was checked" in r.json()["detail"], r.text
        assert "carl-secret" not in r.text
        assert client.get("/v1/curricula/carl-math", headers=AUTH).status_code == 200  # nothing was deleted
        assert client.get("/v1/curricula/carl-secret", headers=AUTH).status_code == 200
        assert client.delete("/v1/curricula/carl-secret", headers=AUTH).status_code == 204
    # without a change meanwhile the token exports and forgets its learner as before
    assert [c["name"] for c in client.get("/v1/learners/carl/export", headers=carl).json()["curricula"]] == \
        ["carl-math"]
    assert client.delete("/v1/learners/carl", headers=carl).json()["deleted"] == ["carl-math"]


def test_deleting_a_curriculum_takes_its_name_out_of_every_scope(client):
    # a token scoped to a deleted curriculum kept its name: a curriculum created later under that name (for
    # someone else) was open to it
    both, both_id = _token(client, ["alice-math", "alice-reading"])
    only, only_id = _token(client, ["alice-math"])
    _, other_id = _token(client, ["alice-math2", "alice_math"])  # names that only look alike stay
    assert client.post("/v1/curricula/alice-math/observe", headers=both, json={"task": [0.2], "score": 1.0,
                                                                               "id": "o1"}).status_code == 200
    assert client.delete("/v1/curricula/alice-math", headers=AUTH).status_code == 204
    tokens = {t["id"]: t["curricula"] for t in client.get("/v1/tokens", headers=AUTH).json()["tokens"]}
    assert tokens[both_id] == ["alice-reading"] and only_id not in tokens  # a token left with none is revoked
    assert tokens[other_id] == ["alice-math2", "alice_math"]
    assert client.get("/v1/curricula", headers=only).status_code == 401
    # the name is taken anew (by the admin, for another learner): the old tokens may not reach it
    assert client.post("/v1/curricula", headers=AUTH, json={"name": "alice-math", "space": BOX}).status_code == 201
    for method, path, body in ROUTES:
        r = client.request(method, path.format(n="alice-math"), headers=both, json=body)
        assert r.status_code == 403, (method, path, r.text)
    assert client.post("/v1/curricula", headers=both, json={"name": "alice-reading", "space": BOX}).status_code == 201
    # a scoped token deleting its own curriculum gives up its name too (the admin grants it again)
    assert client.delete("/v1/curricula/alice-reading", headers=both).status_code == 204
    assert client.get("/v1/curricula", headers=both).status_code == 401
    # the scopes are stored so: a restart does not bring a name back
    with TestClient(create_app(client.app.state.settings.db, admin_token=ADMIN)) as again:
        assert [t["id"] for t in again.get("/v1/tokens", headers=AUTH).json()["tokens"]] == [other_id]


def test_a_deletion_whose_scope_change_fails_deletes_nothing(client, monkeypatch):
    # the curricula were deleted and committed first, the names taken out of the scopes after: a failure in
    # between answered 503 "nothing changed" with the curricula gone and their names left in the scopes
    from sqlalchemy.exc import OperationalError

    from magister.serve import auth

    for name in ("carl-math", "carl-reading"):
        assert client.post("/v1/curricula", headers=AUTH, json={"name": name, "space": BOX,
                                                               "learner": "carl"}).status_code == 201
    carl, carl_id = _token(client, ["carl-math", "carl-reading", "carl-art"])
    real = auth.update

    def failing(*a, **kw):
        raise OperationalError("UPDATE tokens", {}, Exception("disk I/O error"))

    for method, path in (("delete", "/v1/curricula/carl-math"), ("delete", "/v1/learners/carl")):
        monkeypatch.setattr(auth, "update", failing)
        r = client.request(method, path, headers=AUTH)
        monkeypatch.setattr(auth, "update", real)
        assert r.status_code == 503 and "NOT recorded" in r.json()["detail"], r.text
        for name in ("carl-math", "carl-reading"):  # nothing was deleted, and the token may use both still
            assert client.get(f"/v1/curricula/{name}", headers=carl).status_code == 200
        tokens = {t["id"]: t["curricula"] for t in client.get("/v1/tokens", headers=AUTH).json()["tokens"]}
        assert tokens[carl_id] == ["carl-art", "carl-math", "carl-reading"]
    assert client.delete("/v1/learners/carl", headers=AUTH).json()["deleted"] == ["carl-math", "carl-reading"]
    tokens = {t["id"]: t["curricula"] for t in client.get("/v1/tokens", headers=AUTH).json()["tokens"]}
    assert tokens[carl_id] == ["carl-art"]


@pytest.mark.parametrize("lean", [True, False])
def test_a_server_without_a_token_answers_only_its_own_names_and_its_own_pages(tmp_path, lean):
    """Without a token (``--no-auth``), a request addressed to another name (a site whose DNS was made to point at
    127.0.0.1, DNS rebinding) read the dashboard and the curricula, and a POST sent by a page of another site (a
    text/plain propose, whose body the lean lane ignores) drew a task. Now a foreign Host gets 400 and a foreign
    Origin 403, before the lean lane, and nothing is drawn."""
    app = create_app(str(tmp_path / "open.db"), lean=lean)
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        assert c.post("/v1/curricula", json={"name": "x", "space": BOX, "seed": 1}).status_code == 201
        evil = {"Host": "evil.example:8000"}
        for r in (c.get("/dashboard", headers=evil), c.get("/v1/curricula", headers=evil),
                  c.get("/v1/curricula/x/history", headers=evil), c.post("/v1/curricula/x/propose", headers=evil),
                  c.post("/v1/curricula/x/observe", json={"task": [0.5], "score": 0.5}, headers=evil)):
            assert r.status_code == 400 and '"x"' not in r.text, r.text
        for site in ("http://evil.example", "http://127.0.0.1:9999", "null"):
            for r in (c.post("/v1/curricula/x/propose", content=b"{}", headers={"Origin": site,
                                                                            "Content-Type": "text/plain"}),
                      c.post("/v1/curricula/x/observe", json={"task": [0.5], "score": 0.5}, headers={"Origin": site}),
                      c.delete("/v1/curricula/x", headers={"Origin": site})):
                assert r.status_code == 403 and site in r.json()["detail"], r.text
        assert c.get("/v1/curricula/x").json()["n_proposed"] == 0
        # the server itself: by each loopback name, its own pages' writes (their origin) and programs' (none)
        for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000"):
            assert c.get("/dashboard", headers={"Host": host}).status_code == 200
            assert c.get("/v1/curricula/x", headers={"Host": host}).status_code == 200
        r = c.post("/v1/curricula/x/propose", headers={"Origin": "http://127.0.0.1:8000"})
        assert r.status_code == 200, r.text
        r = c.post("/v1/curricula/x/observe", json={"task": r.json()["tasks"][0], "score": 0.5})
        assert r.status_code == 200 and c.get("/v1/curricula/x").json()["n_observed"] == 1


def test_a_server_with_a_token_still_answers_any_name_and_the_names_of_one_without_can_be_added(tmp_path):
    from magister.serve.app import served_hosts
    from magister.serve.settings import ServeSettings
    from magister.webguard import LOOPBACK_HOSTS

    with TestClient(create_app(str(tmp_path / "a.db"), admin_token=ADMIN)) as c:  # (Host: testserver)
        assert c.post("/v1/curricula", headers=AUTH, json={"name": "x", "space": BOX}).status_code == 201
        assert c.get("/v1/curricula/x", headers={**AUTH, "Host": "api.example"}).status_code == 200
        r = c.post("/v1/curricula/x/propose", headers={**AUTH, "Origin": "http://evil.example"})
        assert r.status_code == 200, r.text  # (a browser page of another origin cannot send the token)
    with TestClient(create_app(str(tmp_path / "b.db"), allowed_hosts=["testserver", "*.lan"])) as c:
        assert c.get("/v1/curricula").status_code == 200
        assert c.get("/v1/curricula", headers={"Host": "box.lan"}).status_code == 200
        assert c.get("/v1/curricula", headers={"Host": "box.example"}).status_code == 400
    assert served_hosts(ServeSettings()) == list(LOOPBACK_HOSTS)
    # the other processes relay to a process by the host of its MAGISTER_NODE_URL
    cfg = ServeSettings.from_env({"MAGISTER_NODE_URL": "http://API-1:8001", "MAGISTER_ALLOWED_HOSTS": "lb.lan, [fe80::1]",
                                  "MAGISTER_HOST": "10.0.0.5"})
    assert cfg.allowed_hosts == ("lb.lan", "[fe80::1]")
    assert served_hosts(cfg) == [*LOOPBACK_HOSTS, "10.0.0.5", "lb.lan", "[fe80::1]", "api-1"]
    with pytest.raises(ValueError, match="MAGISTER_ALLOWED_HOSTS.*without a port"):
        ServeSettings.from_env({"MAGISTER_ALLOWED_HOSTS": "lb.lan:8000"})
    # with a token the names are not checked: a setting naming some is said to be ignored (it was silent)
    with pytest.warns(UserWarning, match="allowed_hosts .* is ignored: a server with a token"):
        create_app(str(tmp_path / "c.db"), admin_token=ADMIN, allowed_hosts=["lb.lan"])


def test_a_server_without_a_token_refuses_to_create_scoped_tokens_it_would_never_check(tmp_path):
    """``--no-auth`` answered every request as the admin, yet ``POST /v1/tokens`` made scoped tokens (201, a secret)
    that limited nothing: a tutor app given one could use every curriculum. Now 409 saying why, nothing stored."""
    with TestClient(create_app(str(tmp_path / "open.db")), base_url="http://127.0.0.1:8000") as c:
        r = c.post("/v1/tokens", json={"curricula": ["alice-math"], "label": "tutor app"})
        assert r.status_code == 409, r.text
        assert "without authentication" in r.json()["detail"] and "--admin-token" in r.json()["detail"]
        assert "No token was created" in r.json()["detail"] and "token" not in {k for k in r.json() if k != "detail"}
        assert c.get("/v1/tokens").json()["tokens"] == []
    with TestClient(create_app(str(tmp_path / "open.db"), admin_token=ADMIN)) as c:  # the same database, auth on
        assert c.get("/v1/tokens", headers=AUTH).json()["tokens"] == []
        assert c.post("/v1/tokens", headers=AUTH, json={"curricula": ["alice-math"]}).status_code == 201
