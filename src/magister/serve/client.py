"""``HTTPTeacher``: a teacher that lives in a ``magister serve`` process.

It follows the local teacher contract (``propose``, ``observe``,
``observe_batch``, ``beliefs``, ``state_dict``, ``config``, ``n_observed``,
``n_proposed``, ``space``, ``to_bytes``, ``save``), so code written for a
local teacher runs unchanged against the service::

    from magister.serve.client import HTTPTeacher
    teacher = HTTPTeacher("http://localhost:8000", "walker", token="mgt_...")
    task = teacher.propose()
    teacher.observe(task, 0.7)

Every write carries an id (a random one unless you give yours), so when a
request fails in transit (connection reset, timeout, 502/503/504) it is
retried with backoff and the server applies it once.
"""

from __future__ import annotations

import json
from collections import Counter
import os
import re
import time
import unicodedata
import uuid
from urllib.parse import quote
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence, overload

import numpy as np
from numpy.typing import ArrayLike

from ..errors import (
    CheckpointError,
    ConfigError,
    InvalidScoreError,
    InvalidTaskError,
    MagisterError,
    missing_extra_import,
)
from ..scores import materialised
from ..settings import is_int, non_numeric, number, whole
from ..spaces import Box, Space, space_from_spec
from ..times import seconds
from .settings import ID_MAX, MAX_BATCH, MAX_K

if TYPE_CHECKING:
    from ..scores import ScoreLike
    from ..teacher import Teacher

__all__ = ["HTTPTeacher", "PartialObservationError", "PartialProposalError", "RemoteError", "create_curriculum", "create_curricula", "export_learner",
           "forget_learner"]

RETRY_STATUS = {502, 503, 504}
#: what the service accepts as a curriculum name (the same pattern as the server's)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_name(name: Any) -> str:
    """``name`` if it is a valid curriculum name; a clear error otherwise (so no name can reach another path)."""
    if not isinstance(name, str) or NAME.fullmatch(name) is None or name in (".", ".."):
        raise ConfigError(f"curriculum name {name!r} is not valid: use 1-64 letters, digits, '.', '_' or '-', "
                          "starting with a letter or digit")
    return name


class RemoteError(MagisterError, RuntimeError):
    """The service refused a request (the message is the server's) or could not be reached.

    A write whose every attempt failed in transit (the server unreachable, or answering 502, 503 or 504 each
    time) may have been applied all the same: ``curriculum`` names its curriculum and ``request_id`` the id it
    was sent with (an observation's client id, a proposal's ``request_id``, a give-back's id; a batch's are the
    ``ids`` of :class:`PartialObservationError`), and the message says how to send it again with that id, which
    applies it once. Both are None where there is nothing to send again (the server answered).
    """

    def __init__(self, message: str, status: int | None = None, *, curriculum: str | None = None,
                 request_id: str | None = None):
        super().__init__(message)
        self.status = status
        self.curriculum = curriculum
        self.request_id = request_id


class PartialProposalError(RemoteError):
    """``propose(k)`` over several requests failed after some of them drew tasks.

    The server recorded the tasks drawn so far as proposed (it has no way to
    take a proposal back), so they are not lost: ``tasks`` holds them, in the
    form ``propose`` returns (an array for a Box, a list otherwise), ready to be
    attempted and observed; ``k`` is how many were asked for. The failed
    request's own error is the ``__cause__`` (its status is ``status``); if it
    was applied but its reply lost, sending it again with its ``request_id``
    (``POST .../propose?k=...&request_id=...``) answers its tasks. ``infos``
    holds the tasks' infos, one each (``{"train": False}`` means evaluate only),
    as :meth:`HTTPTeacher.propose_with_info` gives them (``propose`` too fills it).
    """

    def __init__(self, message: str, tasks: Any, k: int, request_id: str, status: int | None = None,
                 infos: list[dict[str, Any]] | None = None, curriculum: str | None = None):
        super().__init__(message, status, curriculum=curriculum, request_id=request_id)
        self.tasks = tasks
        self.k = k
        self.infos = infos


class PartialObservationError(RemoteError):
    """``observe_batch`` over several chunks failed after some of them were recorded (or its reply to a chunk,
    the first one too, could not be read, or every attempt to send it failed in transit: that chunk may have been
    recorded).

    The server recorded (durably) the observations of the chunks it
    acknowledged; ``seqs`` holds their sequence numbers, in the form
    ``observe_batch`` returns (a list, in order), and ``n_recorded`` how many
    they are: the first ``n_recorded`` of the ``n`` observations given. The
    rest were not acknowledged; ``ids`` holds their client ids (the ones sent,
    random ones included), so sending them again with those ids
    (``observe_batch(tasks[n_recorded:], scores[n_recorded:], ids=error.ids)``)
    records each exactly once, even if the failed chunk was applied and only
    its reply lost. The failed request's own error is the ``__cause__`` (its
    status is ``status``). A chunk refused with 409 (a client id in it already
    used for another outcome) is refused again with the same ids: give the one
    the server names a fresh id in ``ids`` first.
    """

    def __init__(self, message: str, seqs: list[int], n: int, ids: list[str], status: int | None = None,
                 curriculum: str | None = None):
        super().__init__(message, status, curriculum=curriculum)
        self.seqs = seqs
        self.n_recorded = len(seqs)
        self.n = n
        self.ids = ids


def _bad_id(id: Any) -> bool:
    """Whether ``id`` is no client id the server takes: 1-ID_MAX characters, no NUL (PostgreSQL stores none)."""
    return not isinstance(id, str) or not 1 <= len(id) <= ID_MAX or "\x00" in id


def _new_id() -> str:
    return uuid.uuid4().hex


class _Http:
    """A small retrying JSON client around ``httpx.Client``."""

    def __init__(self, url: str, token: str | None, *, timeout: float, retries: int, backoff: float,
                 client: Any = None):
        try:
            import httpx
        except ImportError as e:  # (the light core has no httpx: a bare "No module named 'httpx'" named no extra)
            raise missing_extra_import("magister.serve.HTTPTeacher", "serve", e) from e

        # checked before anything is sent: retries=-1 made no request at all, a negative backoff a raw error
        retries = whole("retries", retries, minimum=0)
        backoff = number("backoff", backoff, 0.0)
        if timeout is not None:  # (None: no time limit, as in httpx)
            number("timeout", timeout, 0.0, low_open=True)
        self._httpx = httpx
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if client is None and not (isinstance(url, str) and url.lower().startswith(("http://", "https://"))):
            # ("localhost:8000" failed as an unsupported protocol 'localhost://', retried with backoff as if the
            # server were down)
            raise ConfigError(f"the server's url must start with http:// or https://, got {_brief(url)}; e.g. "
                              "'http://localhost:8000'")
        if client is None:
            client = httpx.Client(base_url=url.rstrip("/"), timeout=timeout, headers=headers)
            self._owned = True
            self._headers: dict[str, str] = {}
        else:
            # sent with each request, not set on the client: a client shared by teachers of different
            # tokens must not make one of them send another's token (nor change the caller's client)
            self._owned = False
            self._headers = headers
        self.client = client
        self.retries = int(retries)
        self.backoff = float(backoff)
        self._jitter = np.random.default_rng()
        #: attempts the last request took (more than one: an earlier one may have been applied, its reply lost)
        self.attempts = 0
        #: whether the last request failed at every attempt (it may have been applied all the same)
        self.gave_up = False

    def request(self, method: str, path: str, **kw: Any) -> Any:
        httpx = self._httpx
        last: Exception | None = None
        self.gave_up = False
        for attempt in range(self.retries + 1):
            self.attempts = attempt + 1
            if attempt:
                time.sleep(self.backoff * (2 ** (attempt - 1)) * (0.5 + self._jitter.random()))
            try:
                if self._headers:
                    kw["headers"] = {**self._headers, **(kw.get("headers") or {})}
                r = self.client.request(method, path, **kw)
            except (httpx.TransportError,) as e:  # connection refused/reset, timeouts
                last = e
                continue
            if r.status_code in RETRY_STATUS:
                last = RemoteError(_detail(r), r.status_code)
                continue
            if r.status_code >= 400:
                raise _error(r)
            return r
        self.gave_up = True
        raise RemoteError(f"{method} {path} failed after {self.retries + 1} attempts: {last}",
                          getattr(last, "status", None))

    def json(self, r: Any, keys: dict[str, Any] | None = None, *, kind: type = dict,
             unsure: str | Callable[[], str] = "") -> Any:
        """The JSON body of the successful reply ``r``, a ``kind`` holding ``keys`` (each of its type: ``int`` a
        whole number, ``list``, ``dict``, or a tuple of them); a ``RemoteError`` otherwise, naming the URL,
        status, content type and the start of the body (a proxy's login page answered 200 was Python's raw
        ``JSONDecodeError``, a reply of the wrong shape a raw ``KeyError`` / ``TypeError``). ``unsure``: for a
        write, whether it may have been applied and how to send it again safely (its ids); a function giving that
        text when it is needed, on the per-call paths (it is read only when the reply is refused)."""
        try:
            body = r.json()
        except ValueError:  # (json's JSONDecodeError, and a body that is not UTF-8, are ValueErrors)
            raise self.bad_reply(r, "a body that is not JSON", unsure) from None
        if not isinstance(body, kind):
            raise self.bad_reply(r, f"JSON that is not {'an object' if kind is dict else 'a list'}", unsure)
        for key, want in (keys or {}).items():
            if key not in body:
                raise self.bad_reply(r, f"JSON without {key!r}", unsure)
            if not _is(body[key], want):
                raise self.bad_reply(r, f"JSON whose {key!r} is {_brief(body[key], 60)}", unsure)
        return body

    def bad_reply(self, r: Any, problem: str, unsure: str | Callable[[], str] = "") -> RemoteError:
        """The error for a successful reply ``r`` that is not what the service answers (``problem``)."""
        if callable(unsure):
            unsure = unsure()
        try:
            where = f"{r.request.method} {r.request.url}"  # (set by httpx on every reply a client hands back)
        except (AttributeError, RuntimeError):  # (httpx: "The request instance has not been set")
            where = "the request"
        kind = r.headers.get("content-type") or "no content type"
        start = r.content[:200].decode("utf-8", "replace")
        return RemoteError(f"{where} answered HTTP {r.status_code} ({kind}) with {problem}, not the service's "
                           f"reply: {start!r}{'...' if len(r.content) > 200 else ''}. Is this the url of a "
                           "magister server (not a proxy's or another server's page)? Check the url and "
                           f"the proxy settings.{unsure}", r.status_code)

    def close(self) -> None:
        if self._owned:
            self.client.close()


def _is(value: Any, want: Any) -> bool:
    """Whether a reply's ``value`` is of the type ``want`` (``int``: a whole number, not ``True``)."""
    wants = want if isinstance(want, tuple) else (want,)
    return any(isinstance(value, w) and not (w is int and isinstance(value, bool)) for w in wants)


def _detail(r: Any) -> str:
    try:
        d = r.json().get("detail")
    except Exception:  # noqa: BLE001
        d = r.text[:500]
    return f"HTTP {r.status_code}: {d}"


def _error(r: Any) -> Exception:
    """Map a refusal to the closest magister error, so callers catch the same types as locally."""
    msg = _detail(r)
    low = msg.lower()
    if r.status_code == 422:
        # by whole words: a refused setting whose message lists the teacher's settings ("score_range", "n_tasks")
        # was an InvalidScoreError, not the ConfigError a local teacher raises
        err: Exception = (InvalidScoreError(msg) if re.search(r"\bscores?\b", low) else
                          InvalidTaskError(msg) if re.search(r"\btasks?\b", low) else ConfigError(msg))
        err.status = 422  # type: ignore[attr-defined]  # (read by the partial errors: the failed request's status)
        return err
    return RemoteError(msg, r.status_code)


def _plain(obj: Any) -> Any:
    """``obj`` as the JSON the server stores and answers: numpy arrays and numbers as lists and Python
    numbers, tuples as lists (so ``seed=np.int64(3)`` or ``potential_ks=(1, 2)`` can be sent, and an
    existing curriculum compared with what is asked for; tasks too: httpx cannot send numpy numbers)."""
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def create_curriculum(url: str, name: str, space: Space | dict, teacher: str = "uniform", *,
                      token: str | None = None, seed: int | None = None, score_range: Any = None,
                      exist_ok: bool = False, client: Any = None, clock: str | None = None,
                      learner: str | None = None, **settings: Any) -> HTTPTeacher:
    """Create a curriculum on the server and return its :class:`HTTPTeacher`.

    With ``exist_ok=True`` an existing curriculum of that name is reused only
    if its space and teacher (and the settings, seed and score range, when
    given) match; otherwise a :class:`~magister.errors.ConfigError` says how
    they differ. A reply lost in transit is retried; if the retry finds the
    name taken by a curriculum of this set-up (the lost attempt created it),
    that is the one returned. ``client``: an ``httpx.Client``-like object to send through
    (tests pass a FastAPI ``TestClient``). ``clock``: a people policy's clock, ``"server"`` (their default on
    the server: it follows the server's time) or ``"answers"`` (``minutes_per_answer`` per answer only).
    ``learner``: whose curriculum it is (the admin's or a ``"*"`` token only), so that
    :func:`export_learner` and :func:`forget_learner` find it; it was sent as a teacher setting and refused.
    """
    check_name(name)
    spec = space.to_spec() if isinstance(space, Space) else dict(space)
    if score_range is not None and hasattr(score_range, "to_dict"):
        score_range = score_range.to_dict()
    spec, settings, seed, score_range = _plain(spec), _plain(settings), _plain(seed), _plain(score_range)
    http = _Http(url, token, timeout=30.0, retries=3, backoff=0.2, client=client)
    try:
        body = {"name": name, "space": spec, "teacher": teacher, "settings": settings, "seed": seed,
                "score_range": score_range, **({} if clock is None else {"clock": clock}),
                **({} if learner is None else {"learner": learner})}
        try:
            http.request("POST", "/v1/curricula", json=body)
        except RemoteError as e:
            if http.gave_up:  # every attempt failed in transit: one of them may have created it
                raise RemoteError(f"{e}. Curriculum {name!r} may have been created: call create_curriculum again "
                                  "with exist_ok=True, which reuses it if it has this set-up", e.status,
                                  curriculum=name) from e
            # a 409 on a retry: the attempt whose reply was lost may have created it (with this set-up)
            retried = http.attempts > 1
            if not ((exist_ok or retried) and e.status == 409):
                raise
            existing = http.json(http.request("GET", f"/v1/curricula/{quote(name, safe='')}"))
            differences = _differences(existing, spec, teacher, settings, seed, score_range, clock, learner)
            if differences and not exist_ok:
                raise
            if differences:
                raise ConfigError(f"curriculum {name!r} already exists with another set-up: "
                                  f"{'; '.join(differences)}. Use another name, or DELETE it first; "
                                  "exist_ok=True only reuses a curriculum with the same space and teacher") from None
    finally:
        http.close()
    return HTTPTeacher(url, name, token=token, client=client)


def create_curricula(url: str, learners: Sequence[str], space: Space | dict, teacher: str = "uniform", *,
                     token: str | None = None, seed: int | None = None, score_range: Any = None,
                     prefix: str = "", per_request: int = 10_000, client: Any = None, clock: str | None = None,
                     **settings: Any) -> list[str]:
    """One curriculum per learner from one template (``POST /v1/curricula/bulk``); returns their names.

    Each is named ``prefix + learner``. The learners go ``per_request`` at a
    time (the server takes at most its ``MAGISTER_MAX_BULK`` per request);
    each request is all or nothing, so after a failure the names of the
    requests that succeeded exist (``GET /v1/curricula`` lists them). With
    ``seed``, each curriculum's seed is derived from it and its name. ``clock``: as for
    :func:`create_curriculum`.
    """
    if isinstance(learners, (str, bytes)):  # ("abc" made the curricula of learners 'a', 'b' and 'c')
        raise ConfigError(f"learners must be a list of names, got the text {_brief(learners)}; for one learner pass "
                          f"[{_brief(learners)}]. Nothing was created.")
    learners = list(learners)
    if not learners:
        raise ConfigError("give at least one learner name")
    per_request = whole("per_request", per_request, hint="learners per request")  # 2.5 was taken as 2
    spec = space.to_spec() if isinstance(space, Space) else dict(space)
    if score_range is not None and hasattr(score_range, "to_dict"):
        score_range = score_range.to_dict()
    template = _plain({"space": spec, "teacher": teacher, "settings": settings, "seed": seed,
                       "score_range": score_range, **({} if clock is None else {"clock": clock})})
    # no retries: a lost reply of a committed request would come back as 409 (names taken)
    http = _Http(url, token, timeout=300.0, retries=0, backoff=0.2, client=client)
    names: list[str] = []
    try:
        for start in range(0, len(learners), per_request):
            part = learners[start:start + per_request]
            r = http.request("POST", "/v1/curricula/bulk", json={"template": template, "learners": part,
                                                                   "prefix": prefix})
            unsure = (f" The curricula of learners[{start}:{start + len(part)}] may have been created (GET "
                      "/v1/curricula lists them)" + (f"; those of learners[:{start}] were." if start else "."))
            names.extend(http.json(r, {"names": list}, unsure=unsure)["names"])
    finally:
        http.close()
    return names


def export_learner(url: str, learner: str, *, token: str | None = None, client: Any = None) -> dict[str, Any]:
    """Everything the server stores about ``learner`` (their curricula with logs and checkpoints), as JSON."""
    http = _Http(url, token, timeout=300.0, retries=3, backoff=0.2, client=client)
    try:
        return http.json(http.request("GET", f"/v1/learners/{_segment(learner)}/export"))
    finally:
        http.close()


def forget_learner(url: str, learner: str, *, token: str | None = None, client: Any = None) -> list[str]:
    """Delete everything about ``learner`` on the server; returns the names of the curricula deleted."""
    http = _Http(url, token, timeout=300.0, retries=0, backoff=0.2, client=client)
    try:
        r = http.request("DELETE", f"/v1/learners/{_segment(learner)}")
        return http.json(r, {"deleted": list}, unsure=" The learner's curricula may have been deleted: call "
                         "forget_learner again to delete what is left.")["deleted"]
    finally:
        http.close()


def _segment(text: str) -> str:
    """``text`` as one URL path segment: every '/' escaped, and "." or ".." too (URL clients resolve those)."""
    out = quote(text, safe="")
    return out.replace(".", "%2E") if out in (".", "..") else out


def _differences(existing: dict[str, Any], spec: dict[str, Any], teacher: str, settings: dict[str, Any],
                 seed: int | None, score_range: Any, clock: str | None = None,
                 learner: str | None = None) -> list[str]:
    """How an existing curriculum differs from the one asked for (space and teacher always; the rest if given)."""
    out = []
    try:
        wanted_space = space_from_spec(spec).to_spec()
    except MagisterError:
        wanted_space = spec
    if existing.get("space") != wanted_space:
        out.append(f"space is {_brief(existing.get('space'))}, not {_brief(wanted_space)}")
    if existing.get("teacher") != teacher:
        out.append(f"teacher is {existing.get('teacher')!r}, not {teacher!r}")
    if settings and existing.get("settings") != settings:
        out.append(f"settings are {_brief(existing.get('settings'))}, not {_brief(settings)}")
    if seed is not None and existing.get("seed") != seed:
        out.append(f"seed is {existing.get('seed')}, not {seed}")
    if score_range is not None:
        from ..scores import ScoreRange

        try:
            wanted = ScoreRange.coerce(score_range).to_dict()
        except MagisterError:
            wanted = score_range
        if existing.get("score_range") != wanted:
            out.append(f"score_range is {existing.get('score_range')}, not {wanted}")
    if clock is not None and existing.get("clock", "answers") != clock:  # (none stored: the answer count)
        out.append(f"clock is {existing.get('clock', 'answers')!r}, not {clock!r}")
    if learner is not None and existing.get("learner") != unicodedata.normalize("NFC", learner):  # (stored in NFC)
        out.append(f"learner is {existing.get('learner')!r}, not {learner!r}")
    return out


def _per_task(what: str, values: Any, n: int, each: str) -> list[Any] | None:
    """``values`` as a list of one entry per task (None stays None), or a ``ConfigError`` naming the fix."""
    if values is None:
        return None
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ConfigError(f"observe_batch's {what} must be a sequence with one entry per task ({each}), got "
                          f"{_brief(values)}. Nothing was recorded.")
    values = list(values)
    if len(values) != n:
        raise ConfigError(f"observe_batch got {len(values)} {what} for {n} tasks; pass one per task ({each}). "
                          "Nothing was recorded.")
    return values


def _brief(obj: Any, limit: int = 120) -> str:
    text = repr(obj)
    return text if len(text) <= limit else text[:limit] + "..."


class HTTPTeacher:
    """A drop-in teacher backed by a curriculum of a ``magister serve`` server."""

    def __init__(self, url: str, curriculum: str, token: str | None = None, *, timeout: float = 30.0,
                 retries: int = 5, backoff: float = 0.1, client: Any = None):
        self.url = url.rstrip("/")
        self.curriculum = check_name(curriculum)
        self._http = _Http(self.url, token, timeout=timeout, retries=retries, backoff=backoff, client=client)
        self._base = f"/v1/curricula/{quote(curriculum, safe='')}"
        info = self._http.json(self._http.request("GET", self._base), {"space": dict, "teacher": str})
        try:
            self.space: Space = space_from_spec(info["space"])
        except MagisterError as e:  # (a space type added since: "unknown space type", naming no fix)
            raise ConfigError(f"curriculum {curriculum!r} at {self.url} has a space this magister cannot read ({e}); "
                              "the server may run a newer magister: upgrade this one to the server's version "
                              "(pip install -U 'magister[serve]')") from None
        self.name: str = info["teacher"]
        self.kind: str = info.get("kind", "any")
        self._info = info

    def teacher_key(self) -> tuple[str, str, str]:
        """The teacher this client reaches, as a small picklable key (``("serve", url, curriculum)``), equal for
        every client of the curriculum: the RL wrappers' one-owner check (:func:`~magister.rl.wrapper.same_teacher`)
        refuses two of them for one episode."""
        return ("serve", self.url, self.curriculum)

    # -------------------------------------------------------------- teaching
    def _decode(self, tasks: list[Any]) -> Any:
        out = [self.space.from_json(t) for t in tasks]
        if isinstance(self.space, Box):
            return np.asarray(out, dtype=float).reshape(len(out), self.space.dim)
        return out

    def propose(self, k: int | None = None) -> Any:
        """One task (``k=None``) or ``k`` tasks (an array ``(k, d)`` for a Box, a list otherwise)."""
        return self.propose_with_info(k)[0]

    @overload
    def propose_with_info(self, k: None = None) -> tuple[Any, dict[str, Any]]: ...
    @overload
    def propose_with_info(self, k: int) -> tuple[Any, list[dict[str, Any]]]: ...

    def propose_with_info(self, k: int | None = None) -> tuple[Any, dict[str, Any] | list[dict[str, Any]]]:
        """Like :meth:`propose` (the same draw), with one info dict per task, as
        :meth:`magister.Teacher.propose_with_info`: ``(task, info)`` for ``k=None``, else ``(tasks, infos)``.
        ``info["train"]`` False means evaluate only (``robust-plr`` and ``accel`` train only on replayed levels);
        a teacher whose proposals carry nothing more gives ``{"train": True, "replay": False}``."""
        if k is not None and (not is_int(k) or k < 1):
            raise ConfigError(f"propose(k) needs a positive whole number of tasks, got k={k!r}")
        m = 1 if k is None else int(k)
        got: list[Any] = []
        infos: list[dict[str, Any]] = []
        while len(got) < m:  # the server hands out at most MAX_K tasks per request
            n, request_id = min(m - len(got), MAX_K), _new_id()

            def unsure(n: int = n, request_id: str = request_id) -> str:  # (read only for a failed request)
                return (f" The server may have drawn {'the task' if n == 1 else f'the {n} tasks'} and recorded "
                        f"{'it' if n == 1 else 'them'} as proposed: send the request again with its id (POST "
                        f"{self._base}/propose?k={n}&request_id={request_id}) to receive "
                        f"{'it, not a new one' if n == 1 else 'them, not new ones'}.")

            try:
                r = self._http.request("POST", f"{self._base}/propose", params={"k": n, "request_id": request_id})
                answer = self._http.json(r, {"tasks": list}, unsure=unsure)
                if len(answer["tasks"]) != n:  # (none answered made propose ask again and again, for ever)
                    raise self._http.bad_reply(r, f"{len(answer['tasks'])} tasks for k={n}", unsure)
                if answer.get("infos") is not None and not (
                        isinstance(answer["infos"], list) and len(answer["infos"]) == n
                        and all(isinstance(i, dict) for i in answer["infos"])):
                    raise self._http.bad_reply(r, "infos that are not one object per task", unsure)
            except MagisterError as e:
                if not got:  # nothing drawn yet: the failure as it is (with the request's id, if it may be drawn)
                    raise self._gave_up(e, unsure, request_id)
                # the earlier requests' tasks are recorded as proposed on the server: hand them over
                raise PartialProposalError(
                    f"propose(k={m}) failed after {len(got)} of its tasks were drawn ({e}). The server recorded "
                    f"those {len(got)} as proposed; they are in this error's .tasks (attempt and observe them as "
                    f"usual; their infos are in .infos); the other {m - len(got)} were not received."
                    + (unsure() if self._http.gave_up else ""),
                    self._decode(got), m, request_id, getattr(e, "status", None), infos, self.curriculum) from e
            got.extend(answer["tasks"])
            infos.extend(answer.get("infos") or [{"train": True, "replay": False} for _ in answer["tasks"]])
        tasks = self._decode(got)
        return (tasks[0], infos[0]) if k is None else (tasks, infos)

    def give_back(self, tasks: Sequence[Any], infos: Sequence[dict[str, Any] | None] | None = None) -> int:
        """Hand back proposals that will never be scored (an episode cut by a reset or a close), as a level
        teacher's :meth:`~magister.teachers._levels.LevelTeacher.give_back`: each stops counting as outstanding
        on the server (with ``infos``, the proposals' infos as :meth:`propose_with_info` gave them, the oldest
        of that kind). Returns how many outstanding proposals were dropped; a teacher that keeps none takes them
        as a no-op (0, without a request when its class is known here). The RL wrappers call it for the episodes
        they cut. Each request carries a fresh id, so a retry is applied once."""
        tasks = list(tasks)
        if infos is not None:
            infos = [None if i is None else dict(i) for i in infos]
            if len(infos) != len(tasks):
                raise ConfigError(f"give_back got {len(tasks)} tasks and {len(infos)} infos; pass one info dict "
                                  "(the proposal's info) per task, or none. Nothing was given back.")
        sent = [_plain(self.space.to_json(t)) for t in tasks]
        if not self._takes_back():  # the server answers 0 and logs nothing: no request (a wrapper's reset or close
            return 0                # of a cut episode then needs no round trip, nor a reachable server)
        dropped = 0
        for start in range(0, len(sent), MAX_BATCH):
            body = {"tasks": sent[start:start + MAX_BATCH], "id": _new_id(),
                    "infos": None if infos is None else _plain(infos[start:start + MAX_BATCH])}
            def unsure(start: int = start, n: int = len(body["tasks"]), id: str = body["id"]) -> str:
                return (f" tasks[{start}:{start + n}] may have been given back: giving them back again could drop "
                        "other outstanding proposals of theirs" + (
                            f"; send this request again with its id (POST {self._base}/give_back with "
                            f"\"id\": {json.dumps(id)}), which is applied once." if self._http.gave_up else "."))

            try:
                r = self._http.request("POST", f"{self._base}/give_back", json=body)
                reply = self._http.json(r, {"dropped": int}, unsure=unsure)
            except MagisterError as e:
                if not start:  # nothing given back yet: the failure as it is (with the request's id, if it may be)
                    raise self._gave_up(e, unsure, body["id"])
                # the earlier requests were applied: resending those (with fresh ids) would drop other proposals
                raise RemoteError(
                    f"give_back of {len(sent)} tasks failed after the first {start} were given back ({dropped} "
                    f"outstanding proposals dropped) ({e}). Give back only tasks[{start}:] (and infos[{start}:]) "
                    f"again: the first ones would be given back twice.{unsure() if self._http.gave_up else ''}",
                    getattr(e, "status", None), curriculum=self.curriculum,
                    request_id=body["id"] if self._http.gave_up else None) from e
            dropped += reply["dropped"]
        return dropped

    def _gave_up(self, e: Exception, unsure: Callable[[], str], request_id: str) -> Exception:
        """``e``, the failure of a write; when every attempt failed in transit (it may have been applied), a
        :class:`RemoteError` that carries the curriculum and the id to send it again with, its message saying how
        (``unsure()``): the plain error named neither, and a random id was then lost."""
        if not (isinstance(e, RemoteError) and self._http.gave_up):
            return e
        out = RemoteError(f"{e}.{unsure()}", e.status, curriculum=self.curriculum, request_id=request_id)
        out.__cause__ = e
        return out

    def _takes_back(self) -> bool:
        """Whether the server's teacher may keep outstanding proposals (its class has ``give_back``); True for a
        teacher not known here (the server decides)."""
        takes = getattr(self, "_takes", None)
        if takes is None:
            from ..teacher import teacher_class

            try:
                takes = callable(getattr(teacher_class(self.name), "give_back", None))
            except Exception:  # noqa: BLE001 - not registered here (or its extra is missing): ask the server
                takes = True
            self._takes = takes
        return takes

    def observe(self, task: Any, score: ScoreLike, id: str | None = None, time: Any = None) -> int:
        """Record one outcome; returns its sequence number in the curriculum's log.

        The task is checked against the space and sent in its JSON form (``space.to_json``: a maze as its text).
        An ``id`` used before for another outcome is refused by the server (a :class:`RemoteError` with status
        409, naming where it was first used); a retry with the same id, task, score and time is recorded once.
        ``time``: when the answer was made (unix seconds, a ``datetime``, a ``numpy.datetime64`` or ISO 8601
        text, read by :func:`magister.times.seconds`: naive times as UTC), for an answer made offline and synced
        later; a people policy on the server clock (``clock: "server"``) counts it then, as a local policy
        after ``set_time(time)``. None: when it reaches the server."""
        if isinstance(score, (list, tuple, np.ndarray)) and np.ndim(score) > 0:
            raise InvalidScoreError("observe() takes one score; use observe_batch(tasks, scores) for several")
        if id is not None and _bad_id(id):
            # (an empty id was replaced by a random one, so its retries were each applied again)
            raise ConfigError(f"client id {_brief(id)} is not valid: an id must be a string of 1-{ID_MAX} "
                              "characters without NUL (\\x00) (or None for a random one). Nothing was recorded.")
        # the task's JSON form (a Maze is sent as its text: json could not send the object itself)
        body = {"task": _plain(self.space.to_json(task)), "score": self._json_score(score),
                "id": _new_id() if id is None else id}
        if time is not None:
            body["time"] = self._answer_times([time])[0]

        def unsure() -> str:
            return (" The observation may have been recorded: send it again with the same id (observe(task, score, "
                    f"id={body['id']!r}{', time=time' if time is not None else ''})) to record it once.")

        try:
            r = self._http.request("POST", f"{self._base}/observe", json=body)
        except RemoteError as e:
            raise self._gave_up(e, unsure, body["id"])
        return self._http.json(r, {"seq": int}, unsure=unsure)["seq"]

    def observe_batch(self, tasks: Sequence[Any] | np.ndarray, scores: Sequence[ScoreLike] | ArrayLike,
                      ids: Sequence[str | None] | None = None, chunk: int = 5000,
                      times: Sequence[Any] | None = None) -> list[int]:
        """Record several outcomes in order (sent in chunks of ``chunk``); returns their sequence numbers.
        ``times``: one per task, when each answer was made (as ``time`` of :meth:`observe`; None: when it
        reaches the server).

        Every score and task is checked before the first chunk is sent, so a bad one records nothing. If a
        later chunk fails, :class:`PartialObservationError` carries the sequence numbers of the observations
        already recorded (and the ids of the others, to send again; a chunk refused with 409, an id used before
        for another outcome, needs a fresh id for the observation the server names first). Tasks are sent in
        the space's JSON form, as by :meth:`observe`."""
        # (0 or less sent nothing, or failed with a raw ValueError; above MAX_BATCH the server refused every chunk)
        chunk = min(whole("chunk", chunk), MAX_BATCH)
        tasks = list(tasks)
        scores = materialised(scores)  # a generator of scores, as a local teacher takes it (it was "not numbers")
        try:
            if non_numeric(np.asarray(scores)):  # "0.5" is refused, as a local teacher refuses it
                raise TypeError
            scores = list(np.asarray(scores, dtype=float).reshape(-1))
        except (TypeError, ValueError, OverflowError):
            raise InvalidScoreError(f"scores must be numbers, got {_brief(scores)}; pass a sequence of floats. "
                                    "Nothing was recorded.") from None
        if len(tasks) != len(scores):
            raise InvalidScoreError(f"observe_batch got {len(tasks)} tasks but {len(scores)} scores; "
                                    "pass one score per task. Nothing was recorded.")
        # (one text was taken as one id per character; a count that did not match was a bare ValueError)
        ids = _per_task("ids", ids, len(tasks), "a client id (or None for a random one)")
        ids = ids if ids is not None else [_new_id() for _ in tasks]
        # checked here too: a bad id in a later chunk was refused only after the earlier chunks were recorded
        # (and an observation sent without an id would be applied twice by a retry)
        ids = [_new_id() if i is None else i for i in ids]
        bad = next((i for i in ids if _bad_id(i)), None)
        if bad is not None:
            raise ConfigError(f"client id {_brief(bad)} is not valid: each id must be a string of 1-{ID_MAX} "
                              "characters without NUL (\\x00) (or None for a random one). Nothing was recorded.")
        # checked (the server checks them again, one chunk at a time: a later chunk would come too late) and
        # sent in their JSON form (a Maze as its text: json could not send the object itself)
        sent = [_plain(self.space.to_json(t)) for t in tasks]
        obs_all = [{"task": t, "score": self._json_score(s), "id": i}
                   for t, s, i in zip(sent, scores, ids)]
        times = _per_task("times", times, len(tasks), "the time the answer was made (or None)")
        if times is not None:
            for o, t in zip(obs_all, self._answer_times(times)):
                if t is not None:
                    o["time"] = t
        # the curriculum's score range, and ids repeated for different outcomes, are checked here too: the
        # server refused them only in their own chunk, after the earlier chunks were recorded
        from ..scores import ScoreRange

        if self._info.get("score_range") is not None:
            ScoreRange.coerce(self._info["score_range"]).normalise(scores)
        repeated = {i for i, n in Counter(ids).items() if n > 1}  # (a retry's repeat is fine; only those compared)
        seen: dict[str, Any] = {}
        for o in (o for o in obs_all if o["id"] in repeated):
            outcome = (json.dumps(self.space.to_json(self.space.from_json(o["task"]))), o["score"], o.get("time"))
            if seen.setdefault(o["id"], outcome) != outcome:
                raise ConfigError(f"client id {_brief(o['id'])} is given for two different observations; use a "
                                  "fresh id for each new observation. Nothing was recorded.")
        seqs: list[int] = []
        for start in range(0, len(tasks), chunk):
            obs = obs_all[start:start + chunk]
            unread = False  # (True: the server answered, but not with its reply: the chunk may be recorded)
            try:
                r = self._http.request("POST", f"{self._base}/observe_batch", json={"observations": obs})
                unread = True
                results = self._http.json(r, {"results": list})["results"]
                if len(results) != len(obs) or not all(isinstance(x, dict) and _is(x.get("seq"), int)
                                                       for x in results):
                    raise self._http.bad_reply(r, f"results that are not one sequence number for each of the "
                                                  f"{len(obs)} observations sent")
            except MagisterError as e:
                gave_up = not unread and self._http.gave_up  # (every attempt failed in transit: it may be recorded)
                if not seqs and not unread and not gave_up:  # nothing recorded yet: the failure as it is
                    raise
                # the earlier chunks are recorded (durably) on the server: say so and hand over their numbers
                n, rest = len(tasks), len(tasks) - len(seqs)
                again = (f"observe_batch(tasks[{len(seqs)}:], scores[{len(seqs)}:], ids=error.ids"
                         + (f", times=times[{len(seqs)}:])" if times is not None else ")"))
                if unread or gave_up:  # (even for the first chunk: a random id is known only from the error)
                    span = f"observations {start} to {start + len(obs) - 1}"
                    raise PartialObservationError(
                        f"observe_batch of {n} observations: "
                        + (f"the reply to {span} could not be read ({e})" if unread else
                           f"{span} could not be sent ({e})")
                        + f". The {len(seqs)} before them were "
                        f"recorded (their sequence numbers are in this error's .seqs); the other {rest} were not "
                        "acknowledged, and those of that chunk may have been recorded: send them again with the "
                        f"ids in .ids ({again}) to record each once.", seqs, n, ids[len(seqs):],
                        getattr(e, "status", None), self.curriculum) from e
                if getattr(e, "status", None) == 409:  # a client id of this chunk was used before for another
                    # outcome: sending the same ids again is refused again (the advice was to do just that)
                    span = (f"observation {start} of this call" if len(obs) == 1 else
                            f"observations {start} to {start + len(obs) - 1} of this call (an 'observation i' in "
                            f"its words counts from observation {start})")
                    then = (f"the other {rest} were not recorded: the server refused the chunk of {span} "
                            "because a client id in it was already used for "
                            "another outcome, so sending them again with the same ids is refused again. Give "
                            "the observation it names a fresh id in .ids (or, if it repeats an observation "
                            f"already recorded, its first task, score and time), then send them: {again}.")
                else:
                    then = (f"the other {rest} were not acknowledged: send them again with the ids in .ids "
                            f"({again}) to record each once.")
                raise PartialObservationError(
                    f"observe_batch of {n} observations failed after {len(seqs)} of them were recorded ({e}). "
                    f"Their sequence numbers are in this error's .seqs; {then}", seqs, n, ids[len(seqs):],
                    getattr(e, "status", None), self.curriculum) from e
            seqs.extend(x["seq"] for x in results)
        return seqs

    def _answer_times(self, times: list[Any]) -> list[float | None]:
        """Answer times in unix seconds (the server's one rule, :func:`~magister.times.seconds`), checked before
        anything is sent: only a curriculum on the server clock takes them."""
        where = (lambda i: f"time of observation {i}") if len(times) > 1 else (lambda i: "time")
        out = [None if t is None else seconds(t, where(i)) for i, t in enumerate(times)]
        clock = self._info.get("clock")
        if clock != "server" and any(t is not None for t in out):
            raise ConfigError(f"curriculum {self.curriculum!r} cannot take answer times: only a people policy "
                              f"whose clock is 'server' does, and {'it keeps none' if clock is None else f'its clock is {clock!r}'}. "
                              "Leave the times out. "
                              "Nothing was recorded.")
        return out

    @staticmethod
    def _json_score(score: Any) -> float:
        try:
            # "0.5" is refused, as a local teacher refuses it (numbers, observe_batch's among them, skip the test;
            # a timedelta64 is a numpy integer, and float() of one in ns or without a unit is its count: no score)
            if isinstance(score, np.timedelta64) or (
                    not isinstance(score, (int, float, np.number)) and non_numeric(np.asarray(score))):
                raise TypeError
            s = float(score)
        except (TypeError, ValueError):
            raise InvalidScoreError(f"score {score!r} is not a number") from None
        if not np.isfinite(s):
            raise InvalidScoreError(f"score {s!r} is not a finite number; report a real outcome. "
                                    "Nothing was recorded.")
        return s

    # ------------------------------------------------------------- reading
    def info(self) -> dict[str, Any]:
        """The curriculum as the server describes it (settings, counts, beliefs)."""
        return self._http.json(self._http.request("GET", self._base))

    def _described(self, key: str, want: Any) -> Any:
        """One entry of ``info()``, checked to be of the type ``want`` (as ``_Http.json`` checks it)."""
        return self._http.json(self._http.request("GET", self._base), {key: want})[key]

    def beliefs(self) -> dict[str, Any]:
        return self._http.json(self._http.request("GET", f"{self._base}/beliefs"))

    def config(self) -> dict[str, Any]:
        return self._described("config", dict)

    @property
    def n_observed(self) -> int:
        return self._described("n_observed", int)

    @property
    def n_proposed(self) -> int:
        return self._described("n_proposed", int)

    def to_bytes(self) -> bytes:
        """The teacher's exact state now, in the checkpoint format (``magister.loads`` reads it)."""
        return self._http.request("GET", f"{self._base}/checkpoint").content

    def state_dict(self) -> dict[str, Any]:
        """The remote teacher's :meth:`~magister.Teacher.state_dict` (numpy arrays included)."""
        from .. import checkpoint

        return checkpoint.loads(self.to_bytes(), source=f"curriculum {self.curriculum!r}")

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise CheckpointError("a remote teacher's state lives in the service and is rebuilt from its log; "
                              "create a new curriculum instead of loading a state into it")

    def to_local(self) -> Teacher:
        """A local copy of the teacher (``magister.loads`` of its bytes)."""
        from ..teacher import loads

        return loads(self.to_bytes())

    def save(self, path: str | os.PathLike) -> Path:
        """Save the remote teacher's state to a local file (``magister.load`` reads it)."""
        from ..checkpoint import atomic_write

        return atomic_write(path, self.to_bytes())

    def checkpoint(self) -> int:
        """Ask the server to write a durable checkpoint now; returns the sequence number it covers."""
        r = self._http.request("POST", f"{self._base}/checkpoint")
        return self._http.json(r, {"seq": int}, unsure=" A checkpoint may have been written; calling checkpoint() "
                               "again is safe (it writes one more).")["seq"]

    def history(self, after: int = 0, limit: int = 5000) -> dict[str, Any]:
        r = self._http.request("GET", f"{self._base}/history", params={"after": after, "limit": limit})
        return self._http.json(r)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HTTPTeacher:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HTTPTeacher({self.url!r}, {self.curriculum!r}, teacher={self.name!r})"


def __getattr__(name: str) -> Any:
    if name == "RemoteTeacher":  # the old name, shared by the HTTP client and the Ray handle
        import warnings

        warnings.warn("magister.serve.client.RemoteTeacher is now HTTPTeacher; the old name will be removed",
                      DeprecationWarning, stacklevel=2)
        return HTTPTeacher
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
