"""``HTTPTeacher`` against a successful reply that is not the service's: a proxy's login page answered 200, JSON
of the wrong shape. Each is a ``RemoteError`` naming the URL, status, content type and the start of the body (it
was Python's raw ``JSONDecodeError`` / ``KeyError`` / ``TypeError``), a write's saying how to send it again."""

from __future__ import annotations

import httpx
import pytest

from magister.serve.client import (
    HTTPTeacher,
    PartialObservationError,
    PartialProposalError,
    RemoteError,
    create_curricula,
    create_curriculum,
    export_learner,
    forget_learner,
)

INFO = {"space": {"type": "Discrete", "n": 3}, "teacher": "level-teacher-unknown-here", "n_observed": 0,
        "n_proposed": 0, "config": {}}
HTML = httpx.Response(200, text="<html>proxy login</html>", headers={"content-type": "text/html"})


def _mock(reply, info=INFO):
    """A client whose every request but the first for the curriculum's description (``info``; None: that one
    too) is answered ``reply(request)``."""
    sent = []
    described = [info is None]

    def answer(request):
        sent.append(request)
        if request.method == "GET" and request.url.path == "/v1/curricula/c" and not described[0]:
            described[0] = True
            return httpx.Response(200, json=info)
        out = reply(request)
        return httpx.Response(out.status_code, headers=out.headers, content=out.content)

    return httpx.Client(transport=httpx.MockTransport(answer), base_url="http://testserver"), sent


CALLS = {
    "propose": lambda t: t.propose(),
    "propose_with_info": lambda t: t.propose_with_info(2),
    "observe": lambda t: t.observe(1, 0.5, id="obs-1"),
    "observe_batch": lambda t: t.observe_batch([0, 1], [0.5, 0.25], ids=["a", "b"]),
    "give_back": lambda t: t.give_back([0]),
    "checkpoint": lambda t: t.checkpoint(),
    "info": lambda t: t.info(),
    "beliefs": lambda t: t.beliefs(),
    "config": lambda t: t.config(),
    "n_observed": lambda t: t.n_observed,
    "history": lambda t: t.history(),
}
# what a write's error says: whether it may have been applied, and how to send it again safely
UNSURE = {
    "propose": "may have drawn the task",
    "propose_with_info": "may have drawn the 2 tasks",
    "observe": "may have been recorded: send it again with the same id (observe(task, score, id='obs-1'))",
    "observe_batch": "may have been recorded: send them again with the ids in .ids",
    "give_back": "tasks[0:1] may have been given back",
    "checkpoint": "may have been written",
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_a_page_that_is_not_json_is_a_remote_error_naming_the_server_and_what_it_answered(call):
    client, sent = _mock(lambda request: HTML)
    teacher = HTTPTeacher("http://testserver", "c", client=client)
    sent.clear()
    with pytest.raises(RemoteError) as caught:
        CALLS[call](teacher)
    text = str(caught.value)
    assert len(sent) == 1, "a reply that came is not retried"
    assert str(sent[0].url) in text and "HTTP 200" in text and "text/html" in text
    assert "'<html>proxy login</html>'" in text and "not JSON" in text
    assert caught.value.status == 200
    assert UNSURE.get(call, "") in text
    if call.startswith("propose"):
        request_id = sent[0].url.params["request_id"]
        assert f"request_id={request_id}" in text  # the request to send again, its id included


@pytest.mark.parametrize("body, problem", [
    ([1, 2], "JSON that is not an object"),
    ({}, "JSON without"),
    ({"tasks": None, "seq": None, "results": None, "dropped": None, "n_observed": None, "config": None},
     "JSON whose"),
    ({"tasks": {}, "seq": "3", "results": {}, "dropped": True, "n_observed": 1.5, "config": []}, "JSON whose"),
])
@pytest.mark.parametrize("call", ["propose", "observe", "observe_batch", "give_back", "checkpoint", "config",
                                  "n_observed"])
def test_json_of_the_wrong_shape_is_a_remote_error_not_a_raw_key_or_type_error(call, body, problem):
    if call in ("config", "n_observed") and isinstance(body, dict):  # the curriculum's description, so shaped
        keep = {k: v for k, v in INFO.items() if k not in ("n_observed", "config")}
        body = {**keep, **{k: v for k, v in body.items() if k in ("n_observed", "config")}}
    client, _ = _mock(lambda request: httpx.Response(200, json=body))
    teacher = HTTPTeacher("http://testserver", "c", client=client)
    with pytest.raises(RemoteError, match=problem) as caught:
        CALLS[call](teacher)
    assert "HTTP 200" in str(caught.value) and "application/json" in str(caught.value)
    assert UNSURE.get(call, "") in str(caught.value)


def test_too_few_tasks_or_results_are_refused_not_asked_for_again_and_again():
    # {"tasks": []} made propose() ask again for ever (each request drawing nothing)
    client, sent = _mock(lambda request: httpx.Response(200, json={"tasks": []}))
    teacher = HTTPTeacher("http://testserver", "c", client=client)
    sent.clear()
    with pytest.raises(RemoteError, match="0 tasks for k=1"):
        teacher.propose()
    assert len(sent) == 1
    client, _ = _mock(lambda request: httpx.Response(200, json={"tasks": [0, 1], "infos": [{}]}))
    with pytest.raises(RemoteError, match="infos that are not one object per task"):
        HTTPTeacher("http://testserver", "c", client=client).propose(2)
    # one sequence number for two observations: the count of recorded ones was wrong
    client, _ = _mock(lambda request: httpx.Response(200, json={"results": [{"seq": 1}]}))
    with pytest.raises(PartialObservationError, match="one sequence number for each of the 2") as caught:
        HTTPTeacher("http://testserver", "c", client=client).observe_batch([0, 1], [0.5, 0.5], ids=["a", "b"])
    assert caught.value.seqs == [] and caught.value.ids == ["a", "b"]


def test_an_unreadable_reply_to_a_later_chunk_or_request_keeps_what_was_done_before(monkeypatch):
    replies = iter([httpx.Response(200, json={"results": [{"id": "a", "seq": 1}, {"id": "b", "seq": 2}]}), HTML])
    client, _ = _mock(lambda request: next(replies))
    teacher = HTTPTeacher("http://testserver", "c", client=client)
    with pytest.raises(PartialObservationError) as caught:
        teacher.observe_batch([0, 1, 2], [0.5, 0.5, 0.5], ids=["a", "b", "c"], chunk=2)
    error = caught.value
    assert error.seqs == [1, 2] and error.ids == ["c"] and error.status == 200
    assert "observations 2 to 2 could not be read" in str(error) and "may have been recorded" in str(error)
    assert "ids=error.ids" in str(error)

    monkeypatch.setattr("magister.serve.client.MAX_K", 2)  # (the server's most tasks per request)
    replies = iter([httpx.Response(200, json={"tasks": [0, 2]}), HTML])
    client, _ = _mock(lambda request: next(replies))
    teacher = HTTPTeacher("http://testserver", "c", client=client)
    with pytest.raises(PartialProposalError) as caught:
        teacher.propose(3)
    assert caught.value.tasks == [0, 2] and caught.value.status == 200
    assert f"request_id={caught.value.request_id})" in str(caught.value)


def test_the_module_functions_say_the_same():
    client, _ = _mock(lambda request: HTML, info=None)
    with pytest.raises(RemoteError, match="not JSON"):
        HTTPTeacher("http://testserver", "c", client=client)
    with pytest.raises(RemoteError, match=r"GET http://testserver/v1/learners/ann/export answered HTTP 200"):
        export_learner("http://testserver", "ann", client=client)
    with pytest.raises(RemoteError, match="may have been deleted: call forget_learner again"):
        forget_learner("http://testserver", "ann", client=client)
    with pytest.raises(RemoteError, match=r"learners\[0:2\] may have been created"):
        create_curricula("http://testserver", ["ann", "bob"], {"type": "Discrete", "n": 3}, client=client)
    # create_curriculum reads a reply only to compare an existing curriculum with the one asked for
    client, _ = _mock(lambda request: httpx.Response(409, json={"detail": "curriculum 'c' already exists"})
                      if request.method == "POST" else HTML, info=None)
    with pytest.raises(RemoteError, match="GET http://testserver/v1/curricula/c answered HTTP 200"):
        create_curriculum("http://testserver", "c", {"type": "Discrete", "n": 3}, client=client, exist_ok=True)
    # a described curriculum without its space or teacher
    client, _ = _mock(lambda request: httpx.Response(200, json={"space": {"type": "Discrete", "n": 3}}), info=None)
    with pytest.raises(RemoteError, match="JSON without 'teacher'"):
        HTTPTeacher("http://testserver", "c", client=client)
