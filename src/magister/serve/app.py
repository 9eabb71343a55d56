"""The HTTP API (FastAPI): ``create_app(db=..., admin_token=...)``.

Paths are versioned under ``/v1``; the OpenAPI schema is at ``/openapi.json``
and the interactive docs at ``/docs``. Every refusal is a 4xx with a
``{"detail": ...}`` body that says what was wrong and how to fix it, and
changes nothing. Writes (create, propose, observe, give_back, checkpoint, delete) are
answered only once committed to the database.
"""



import gc
import json
import logging
import os
import re
import time
import types
import warnings
from collections import Counter
from collections.abc import Sequence
from contextlib import asynccontextmanager
from importlib import resources
from urllib.parse import parse_qsl, urlsplit

from typing import Annotated, Any, Literal, Optional, Union, get_args, get_origin

from ..errors import ConfigError, missing_extra_import
from ..webguard import allowed_hosts, guard

try:
    import anyio
    from fastapi import APIRouter, Depends, FastAPI, Header, Path as PathParam, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
    from sqlalchemy.exc import SQLAlchemyError
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.routing import Match
    from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr
except ImportError as _e:  # (anyio first: "No module named 'anyio'" named neither FastAPI nor the extra)
    raise missing_extra_import("magister.serve.app", "serve", _e) from _e

from .auth import AuthError, Principal, TokenStore
from .db import check_database, make_engine
from .hotpath import Delegate, HotPath
from .common import SHUTTING_DOWN, Damaged, Moved
from .forward import FORWARDED_HEADER, OWNER_HEADER, Forward
from .service import (MAX_LEARNER, SERVING, STOPPED, NotFound, Offload, ServiceError, Service, Unavailable, _some,
                      brief_public, wait_all)
from .settings import ID_MAX, MAX_BATCH, MAX_K, ServeSettings

log = logging.getLogger("magister.serve")

#: mean CPU seconds per call above which a curriculum's teacher calls move to worker threads
#: (teacher_threads="auto"); the mean is a moving average over about SLOW_WINDOW calls, so a
#: one-off pause (a checkpoint, a garbage collection) does not move a quick teacher off the loop
SLOW_CALL_S = 0.005
SLOW_WINDOW = 16
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"

Name = Annotated[str, PathParam(pattern=NAME_PATTERN, description="curriculum name")]
Learner = Annotated[str, PathParam(min_length=1, max_length=MAX_LEARNER, description="learner name")]
#: curricula listed per page of GET /v1/curricula (by default, at most)
LIST_DEFAULT = 1000
LIST_MAX = 10_000
Score = Union[StrictInt, Annotated[StrictFloat, Field(allow_inf_nan=False)]]


def no_nul(what: str, text: str | None) -> str | None:
    """``text`` (None too), or a ``ValueError`` if it holds the NUL character: PostgreSQL stores no text with one,
    so such an id or label failed only there, as a 503 saying to retry (with the same id: refused again). Refused
    on every database alike."""
    if text is not None and "\x00" in text:
        raise ValueError(f"{what} {clip(repr(text), 80)} holds the NUL character (\\x00), which PostgreSQL "
                         "cannot store or compare; leave it out. Nothing changed.")
    return text


def _no_nul(what: str) -> AfterValidator:
    return AfterValidator(lambda text: no_nul(what, text))


#: a client id (observe, observe_batch, give_back)
ClientId = Annotated[StrictStr, Field(min_length=1, max_length=ID_MAX), _no_nul("the client id")]


# ------------------------------------------------------------------ models
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScoreRangeIn(_Model):
    low: Score = 0.0
    high: Score = 1.0
    clip: StrictBool = False
    higher_is_better: StrictBool = True


class FiniteScoresIn(_Model):
    """An open score range, any finite score as it is (``FiniteScores().to_dict()``): what a level teacher
    (``plr``, ``robust-plr``, ``accel``) takes by default, for |GAE| or regret scores."""
    finite: Literal[True]


ScoreRangeArg = Optional[Union[ScoreRangeIn, FiniteScoresIn, Annotated[list[Score], Field(min_length=2, max_length=2)]]]


#: a people policy's clock (docs/serve.md, "Clocks of people policies")
Clock = Annotated[Optional[Literal["server", "answers"]], Field(
    description='a people policy\'s clock: "server" (their default: moved to the server\'s time before each '
                'propose and observe) or "answers" (minutes_per_answer per answer only); leave it out for other '
                "teachers")]


class CurriculumIn(_Model):
    name: Annotated[StrictStr, Field(pattern=NAME_PATTERN, description="1-64 letters, digits, '.', '_', '-'")]
    space: dict[str, Any] = Field(description='a space spec, e.g. {"type": "Box", "low": [0, 0], "high": [1, 1]}')
    teacher: StrictStr = Field("uniform", description="a registered teacher name (GET /v1/teachers)")
    settings: dict[str, Any] = Field(default_factory=dict, description="the teacher's keyword settings")
    seed: Optional[Annotated[StrictInt, Field(ge=0, le=2**62)]] = Field(
        None, description="random seed; chosen (and stored) by the server when absent")
    score_range: ScoreRangeArg = None
    learner: Optional[Annotated[StrictStr, Field(min_length=1, max_length=MAX_LEARNER)]] = Field(
        None, description="the learner this curriculum belongs to (for per-learner export and deletion)")
    clock: Clock = None


class TemplateIn(_Model):
    space: dict[str, Any] = Field(description="the space spec every curriculum gets")
    teacher: StrictStr = Field("uniform", description="a registered teacher name (GET /v1/teachers)")
    settings: dict[str, Any] = Field(default_factory=dict, description="the teacher's keyword settings")
    seed: Optional[Annotated[StrictInt, Field(ge=0, le=2**62)]] = Field(
        None, description="with a seed, each curriculum's seed is derived from it and its name; "
                          "without, each gets a random one")
    score_range: ScoreRangeArg = None
    clock: Clock = None


class BulkIn(_Model):
    template: TemplateIn
    learners: Annotated[list[Annotated[StrictStr, Field(min_length=1, max_length=MAX_LEARNER)]],
                        Field(min_length=1)] = Field(description="one curriculum per learner (at most "
                                                                 "MAGISTER_MAX_BULK per request)")
    prefix: Annotated[StrictStr, Field(max_length=63)] = Field(
        "", description="each curriculum is named prefix + learner name")


class ObservationIn(_Model):
    task: Any = Field(description="a task of the curriculum's space, as JSON")
    score: Score
    id: Optional[ClientId] = Field(
        None, description="client id: a retried observation with the same id is applied once")
    time: Optional[Score] = Field(
        None, description="when the answer was made, in unix seconds (an answer made offline and synced later); "
                          "left out: when it reached the server. Only for a people policy whose clock is "
                          '"server"; never after the server\'s time')


class ObservationBatchIn(_Model):
    observations: Annotated[list[ObservationIn], Field(min_length=1, max_length=MAX_BATCH)]


class GiveBackIn(_Model):
    tasks: Annotated[list[Any], Field(min_length=1, max_length=MAX_BATCH)] = Field(
        description="proposed tasks that will never be scored (episodes cut by a reset or a close), as JSON")
    infos: Optional[Annotated[list[Optional[dict[str, Any]]], Field(min_length=1, max_length=MAX_BATCH)]] = Field(
        None, description="the proposals' infos as propose answered them, one per task (a level teacher then "
                          "drops the oldest outstanding proposal of that kind), or none")
    id: Optional[ClientId] = Field(
        None, description="client id: a retried give-back with the same id is applied once")


class TokenIn(_Model):
    curricula: Annotated[list[Annotated[StrictStr, Field(pattern=r"^(\*|[A-Za-z0-9][A-Za-z0-9._-]{0,63})$")]],
                         Field(min_length=1, max_length=1000)]
    label: Annotated[StrictStr, Field(max_length=200), _no_nul("the label")] = ""


class ProposeOut(BaseModel):
    curriculum: str
    tasks: list[Any]
    seq: int
    #: one per task, from teachers that say more than "train on it" (the level teachers: {"train", "replay"})
    infos: Optional[list[dict[str, Any]]] = None


class GiveBackOut(BaseModel):
    curriculum: str
    id: Optional[str]
    #: the give-back's place in the log (None: the teacher keeps no outstanding proposals, nothing was logged)
    seq: Optional[int]
    dropped: int


class ObserveResult(BaseModel):
    id: Optional[str]
    seq: int


class ObserveBatchOut(BaseModel):
    curriculum: str
    results: list[ObserveResult]


class ObserveOut(BaseModel):
    curriculum: str
    id: Optional[str]
    seq: int


class CheckpointOut(BaseModel):
    curriculum: str
    seq: int


class Problem(BaseModel):
    detail: Any


ERRORS = {s: {"model": Problem} for s in (400, 401, 403, 404, 409, 422, 503)}


def _times(observations: list[ObservationIn]) -> list[float | None] | None:
    """The observations' own times (None where not given), or None when none has one."""
    times = [o.time for o in observations]
    return times if any(t is not None for t in times) else None


def _takes_many(annotation: Any) -> bool:
    """Whether a query parameter of this type takes several values (``list[str]``: ``?a=1&a=2``)."""
    if get_origin(annotation) in (Union, types.UnionType, Annotated):
        return any(_takes_many(a) for a in get_args(annotation) if a is not type(None))
    origin = get_origin(annotation) or annotation
    return isinstance(origin, type) and issubclass(origin, (list, tuple, set, frozenset))


# --------------------------------------------------------------- factory
def create_app(db: str | os.PathLike | None = None, *, settings: ServeSettings | None = None,
               **overrides: Any) -> FastAPI:
    """Build the service app from ``settings`` (:class:`~magister.serve.settings.ServeSettings`).

    ``db`` and keyword ``overrides`` (any field of the settings, e.g.
    ``admin_token=..., checkpoint_every=...``) replace the settings' values;
    ``create_app`` reads no environment variable (``app_from_env`` and
    ``magister serve`` do, through the same settings object). The settings:

    ``db``: a SQLite file path (default ``magister.db`` in the working folder)
    or a ``postgresql+psycopg://`` URL. ``admin_token``: the token that may do
    everything (``None`` leaves the API open: only for local use).
    ``checkpoint_every``: events between automatic checkpoints.
    ``teacher_threads``: where teacher calls run. ``"auto"`` (default): on the
    event loop (fastest for quick teachers) until a curriculum's teacher calls
    take more than 5 ms of CPU on average (a moving average over about 16
    calls, so one-off pauses do not count), then in worker threads for that
    curriculum, so a slow teacher (a periodic model refit, say) never stalls the
    others; ``"always"`` / ``True``: always in worker threads; ``"never"`` /
    ``False``: always on the loop.
    ``durable_proposals``: also wait for a proposal's log entry to be on disk
    before answering. Off by default: proposals are logged in order and
    committed with the next group commit, and since an observation is
    acknowledged only once committed, every proposal before an acknowledged
    observation is durable too. A crash can only forget proposals answered in
    the last few milliseconds with no acknowledged observation after them;
    the rebuilt teacher then simply has not drawn them (its state still
    equals the replay of its log).
    ``lean``: serve well-formed propose / observe / observe_batch requests
    through a lean ASGI lane (same models, checks and service calls, far less
    framework overhead per request; see ``hotpath.py``). ``False`` sends every
    request through the FastAPI endpoints.
    ``freeze_gc``: at start-up, move every object then alive out of the
    garbage collector's reach (``gc.freeze``), so full collections stay short
    (a few ms instead of tens under load). For a process that runs one server
    (``magister serve`` and ``app_from_env`` turn it on); left off for apps
    made inside another program or test.
    ``recent_ids``: client ids (observation ids and proposal request ids)
    remembered exactly per curriculum. Older ids cost a few bytes each (a
    Bloom filter); a retry of one, or a new id the filter mistakes for a
    seen one (about 1 in 1,000), costs one indexed read of the log, so a
    retried id is still applied once and answered with its first seq.
    ``clock_skew_seconds``: how far (default 5 s) an observation's own ``time``
    may be after the server's time and still be taken as sent (a device clock
    running a little fast); a later one is refused (422).

    Serve the app under uvicorn (or ``magister serve``), or test it through
    ``with TestClient(app) as client:``: its lifespan start-up creates the
    tables and starts the writer, and a request before it is refused (500).
    """
    if db is not None:
        overrides["db"] = os.fspath(db)
    known = set(ServeSettings.__dataclass_fields__)
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"create_app() got unknown setting(s) {unknown}; the settings are {sorted(known)}")
    cfg = (settings or ServeSettings()).with_(**overrides)
    engine = make_engine(cfg.db)
    service = Service(engine, checkpoint_every=cfg.checkpoint_every, recent_ids=cfg.recent_ids,
                      max_tasks=cfg.max_tasks, max_policy_tasks=cfg.max_policy_tasks, cache_size=cfg.cache_size,
                      max_bulk=cfg.max_bulk, node_url=cfg.node_url, lease_seconds=cfg.lease_seconds,
                      clock_skew_seconds=cfg.clock_skew_seconds)
    tokens = TokenStore(engine, cfg.admin_token)
    service.scopes = tokens  # a deleted curriculum's name leaves every scope in the deleting transaction
    if cfg.node_url:  # tokens created or revoked through another process
        tokens.refresh_unknown = True
        service.tick_hooks.append(tokens.load)
    freeze_gc, durable_proposals, lean = cfg.freeze_gc, cfg.durable_proposals, cfg.lean

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await anyio.to_thread.run_sync(service.start)
        tokens.load()
        if freeze_gc:
            # What exists now (modules, rebuilt teachers) lives as long as the server: keep it out of
            # the garbage collector's full passes, whose pauses would otherwise land on some request.
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(service.close)
            engine.dispose()
            if cfg.node_url:
                await app.state.forward.aclose()

    query_names: dict[int, tuple[set[str], set[str]]] = {}  # per route (its dependant): (allowed, single-valued)

    async def request_checks(request: Request) -> None:
        """Refuse every request before the app's start-up ran (500, see ``NOT_STARTED``: it answered a 503 saying
        to retry, which never helped) and once its shutdown began (503, see ``not_serving``), unknown query
        parameters (a typo such as ``?kk=3`` must not be silently ignored) and repeated single-valued ones
        (``?k=1&k=2`` was answered with the last value, the first ignored)."""
        if service.state is not SERVING:  # (one attribute read: every request of every route passes here)
            raise not_serving(service.state)
        route = request.scope.get("route")
        dependant = getattr(route, "dependant", None)
        if dependant is None or not request.query_params:
            return
        known = query_names.get(id(dependant))
        if known is None:  # once per route: its parameters, and those that take one value
            known = query_names[id(dependant)] = (
                {q.alias for q in dependant.query_params},
                {q.alias for q in dependant.query_params if not _takes_many(q.field_info.annotation)})
        allowed, single = known
        unknown = sorted(set(request.query_params.keys()) - allowed)
        if unknown:
            raise ServiceError(f"unknown query parameter(s) {', '.join(repr(u) for u in unknown)}; this endpoint "
                               f"takes {', '.join(sorted(allowed)) or 'none'}", status=422)
        items = request.query_params.multi_items()
        if len(items) == len(request.query_params):  # no name given twice
            return
        counts = Counter(key for key, _ in items)
        repeated = sorted(key for key, n in counts.items() if n > 1 and key in single)
        if repeated:
            raise ServiceError(f"query parameter(s) {', '.join(f'{r!r} ({counts[r]} times)' for r in repeated)} "
                               "given more than once; send each once (it takes one value)", status=422)

    app = FastAPI(title="magister teacher service", version="1", lifespan=lifespan,
                  dependencies=[Depends(request_checks)],
                  description="Curricula (a task space plus a teacher) behind an HTTP API, durable, with a live "
                              "dashboard at /dashboard. Send 'Authorization: Bearer <token>'.")
    app.state.service = service
    app.state.tokens = tokens
    app.state.settings = cfg

    mode = cfg.teacher_threads
    slow: set[str] = set()
    app.state.slow_curricula = slow
    cost: dict[str, float] = {}  # moving average of CPU seconds per call, per curriculum
    cost_limit = 4 * cfg.cache_size + 1000

    async def run(fn, name: str, *args):
        """Call ``fn(name, *args)``: inline, or in a worker thread for slow teachers (see ``teacher_threads``)."""
        if mode == "always" or (mode == "auto" and name in slow):
            return await anyio.to_thread.run_sync(fn, name, *args)
        start = time.thread_time()
        try:
            # never blocks the loop: a held curriculum lock, a database read or a commit wait
            # raises Offload before anything changed, and the call runs in a worker thread
            return service.call_inline(service.curricula.get(name), fn, name, *args)
        except Offload:
            return await anyio.to_thread.run_sync(fn, name, *args)
        finally:
            if mode == "auto":
                mean = cost.get(name, 0.0)
                mean += (time.thread_time() - start - mean) / SLOW_WINDOW
                cost[name] = mean
                if mean > SLOW_CALL_S:
                    slow.add(name)
                if len(cost) > cost_limit:  # bounded like the curricula in memory: forget the oldest quick ones
                    for old in list(cost)[:len(cost) // 2]:
                        if old not in slow:
                            del cost[old]
    # ------------------------------------------------------------ auth
    async def principal(authorization: Annotated[Optional[str], Header()] = None) -> Principal:
        return tokens.authenticate(authorization)

    Caller = Annotated[Principal, Depends(principal)]

    def allow(p: Principal, name: str) -> None:
        if not p.allows(name):
            # same answer whether or not the curriculum exists
            raise AuthError(403, f"this token may not use curriculum {name!r}; ask the admin for a token scoped to it")

    def admin_only(p: Principal) -> None:
        if not p.admin:
            raise AuthError(403, "only the admin token may manage tokens")

    async def do_propose(p: Principal, name: str, k: int, request_id: str | None) -> dict[str, Any]:
        allow(p, name)
        tasks, infos, seq, fut = await run(service.propose_with_info, name, k, request_id)
        if durable_proposals or (fut is not None and fut.done() and fut.exception() is not None):
            # (failed already: the writer was closed by a shutdown that began while this request was under way;
            # answered 200, the draw was never logged)
            await _committed([fut])
        out = {"curriculum": name, "tasks": tasks, "seq": seq}
        if infos is not None:
            out["infos"] = infos
        return out

    async def do_observe(p: Principal, name: str, obs: list[tuple[Any, float, str | None]],
                         times: list[float | None] | None = None) -> list[int]:
        allow(p, name)
        seqs, futs = await run(service.observe, name, obs, times)
        await _committed(futs)
        return seqs

    async def _committed(futs) -> None:
        try:
            await wait_all(futs)
        except ServiceError:
            raise
        except Exception as e:  # noqa: BLE001
            log.exception("commit failed")
            raise ServiceError(storage_failed(e), status=503) from None

    ctx = _Context(service, tokens, run, Caller, allow, admin_only, _committed, do_propose, do_observe, slow, cost)
    _install_error_handlers(app)
    for router in (_dashboard_router(), _service_router(ctx), _curricula_router(ctx), _teaching_router(ctx)):
        app.include_router(router)
    if lean:
        app.add_middleware(HotPath, handlers=_lean_handlers(ctx))
    if cfg.node_url:
        app.add_middleware(_Forwarding, state=app.state)
    app.add_middleware(BodyLimit, limit=cfg.max_body_bytes)  # before the lean lane reads a body
    if cfg.admin_token is None:
        # no token to stand between the API and other web sites open in the learner's browser: answer only requests
        # addressed to the server's own names (a site whose DNS now points here, DNS rebinding, gets 400) and refuse
        # a write sent by a page of another origin (a cross-site form or fetch: the lean lane hands out a task for
        # a propose whatever its body). Outermost, so the lean lane and the forwarding are behind both checks
        guard(app, served_hosts(cfg), "the service's own dashboard")
    elif cfg.allowed_hosts:  # (the CLI refuses --allow-host with a token; the setting was ignored without a word)
        warnings.warn(f"allowed_hosts (MAGISTER_ALLOWED_HOSTS) {list(cfg.allowed_hosts)} is ignored: a server with a "
                      "token answers requests addressed to any name (the token is the check); the setting is for "
                      "servers without one", UserWarning, stacklevel=2)
    return app


def served_hosts(cfg: ServeSettings) -> list[str]:
    """The names (``Host`` header, without the port) a server without a token answers to: localhost, 127.0.0.1,
    [::1], ``cfg.host`` (every name of the machine for 0.0.0.0), the host of ``cfg.node_url`` (the other processes
    relay requests to it by that name) and ``cfg.allowed_hosts``; see :func:`magister.webguard.allowed_hosts`."""
    extra = list(cfg.allowed_hosts)
    if cfg.node_url:
        extra.append(urlsplit(cfg.node_url).hostname or "")
    return allowed_hosts(cfg.host, extra, host_what="host (MAGISTER_HOST)", extra_what="allowed_hosts")


# ---------------------------------------------------------------- routers
class _Context:
    """What the routers share, made once per app by :func:`create_app`."""

    def __init__(self, service, tokens, run, caller, allow, admin_only, committed, do_propose, do_observe, slow,
                 cost):
        self.service, self.tokens, self.run, self.Caller = service, tokens, run, caller
        self.allow, self.admin_only, self.committed = allow, admin_only, committed
        self.do_propose, self.do_observe, self.slow, self.cost = do_propose, do_observe, slow, cost

    def parts(self) -> tuple:
        return (self.service, self.tokens, self.run, self.Caller, self.allow, self.admin_only, self.committed,
                self.do_propose, self.do_observe, self.slow, self.cost)


def _install_error_handlers(app: FastAPI) -> None:
    # ---------------------------------------------------------- errors
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError):
        if isinstance(exc, Moved):
            if FORWARDED_HEADER.decode() in request.headers:  # forwarded once already: never twice
                return JSONResponse({"detail": clip(f"{exc.message} (its lease just moved); retry in a moment, "
                                                    "with the same ids")}, status_code=503)
            return JSONResponse({"detail": clip(exc.message)}, status_code=421,
                                headers={OWNER_HEADER.decode(): exc.owner})
        return JSONResponse({"detail": clip(exc.message)}, status_code=exc.status)

    @app.exception_handler(SQLAlchemyError)
    @app.exception_handler(OSError)
    async def _storage_error(request: Request, exc: Exception):
        log.error("storage failed: %s: %s", type(exc).__name__, exc)
        return JSONResponse({"detail": storage_failed(exc)}, status_code=503)

    @app.exception_handler(AuthError)
    async def _auth_error(request: Request, exc: AuthError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"detail": exc.message}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        # never echo the input back whole: a location may be a key of the request (of any length)
        # and a message may quote a value; each is clipped, and at most MAX_ERRORS are listed
        raw = _one_error_per_number(exc.errors())
        errors = [{"loc": [x if isinstance(x, int) else clip(str(x), 80) for x in e.get("loc", ())],
                   "msg": clip(str(e.get("msg", "")), 300), "type": clip(str(e.get("type", "")), 80)}
                  for e in raw[:MAX_ERRORS]]
        parts = [f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in errors[:5]]
        more = f" (and {len(raw) - 5} more)" if len(raw) > 5 else ""
        return JSONResponse({"detail": _body_hint(request, raw) + "invalid request: " + "; ".join(parts) + more,
                             "errors": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        # the router's own refusals (no route for the path, or not for the method) said only
        # "Not Found" / "Method Not Allowed": say what was asked and where the paths are listed
        detail, headers = exc.detail, getattr(exc, "headers", None)
        path = clip(request.url.path, 200)
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            # the framework's words for a body its JSON parser raised on with something other than a syntax
            # error: say which, as a 422 like every other body that cannot be read
            cause = exc.__cause__
            if isinstance(cause, RecursionError):
                why = "it nests arrays or objects too deeply to parse; send JSON nested at most a few hundred levels"
            elif isinstance(cause, UnicodeDecodeError):
                why = "it is not UTF-8 text; send JSON encoded as UTF-8"
            else:
                why = f"{type(cause).__name__ if cause is not None else 'unknown error'}; send a JSON object"
            return JSONResponse({"detail": f"the request body could not be read as JSON: {why}. Nothing changed."},
                                status_code=422)
        if exc.status_code == 404 and detail == "Not Found":
            detail = (f"no endpoint {request.method} {path}; the API's paths are all under /v1 and listed at "
                      "/docs (and /openapi.json)")
        elif exc.status_code == 405 and detail == "Method Not Allowed":
            allowed = [m for m in ("GET", "POST", "PUT", "PATCH", "DELETE")
                       if any(r.matches({**request.scope, "method": m})[0] == Match.FULL for r in app.routes)]
            detail = (f"method {request.method} is not allowed on {path}; it takes {', '.join(allowed) or 'none'} "
                      "(see /docs)")
            if allowed:  # (the router's Allow header named the methods of the first route of this path only)
                headers = {**(headers or {}), "Allow": ", ".join(allowed)}
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=headers)


def _one_error_per_number(raw: Sequence[Any]) -> list[Any]:
    """Validation errors with the two of a score-like number (``Score``: an int or a finite float, so pydantic
    reports each branch, ``x.int: ... valid integer; x.float: ... finite number``) made one error at ``x``: a
    NaN or an infinity is named as refused, another value gets the float branch's message."""
    out: list[Any] = []
    for e in raw:
        loc = tuple(e.get("loc", ()))
        prev = out[-1] if out else None
        if (loc[-1:] == ("float",) and prev is not None and tuple(prev.get("loc", ())) == loc[:-1] + ("int",)
                and prev.get("type") == "int_type"):
            name = loc[-2] if len(loc) > 1 and isinstance(loc[-2], str) else "the number"
            msg = (f"{name} must be a finite number; NaN and infinity are refused" if e.get("type") == "finite_number"
                   else e.get("msg", ""))
            out[-1] = {**e, "loc": loc[:-1], "msg": msg}
        else:
            out.append(e)
    return out


def _body_hint(request: Request, errors: list[dict[str, Any]]) -> str:
    """What to fix first when the body was not read as JSON at all: sent without ``Content-Type:
    application/json`` (the framework then validates the raw bytes, and said only "Input should be a valid
    dictionary"), or not valid JSON (the parser's own words, which the bare "JSON decode error" left out)."""
    for e in errors:
        loc = tuple(e.get("loc", ()))
        if e.get("type") == "json_invalid" and loc[:1] == ("body",):
            why = clip(str((e.get("ctx") or {}).get("error", "")), 200)
            return (f"the request body is not valid JSON ({why} at character {loc[1] if len(loc) > 1 else 0}); "
                    "send a JSON object. ")
        if loc == ("body",) and e.get("type") == "model_attributes_type":
            ctype = request.headers.get("content-type")
            if not ctype or "json" not in ctype.lower():
                got = f"it was sent as {clip(ctype, 100)!r}" if ctype else "it was sent without one"
                return (f"the request body is read as JSON only with the header 'Content-Type: application/json' "
                        f"({got}); send that header. ")
    return ""


def _dashboard_router() -> APIRouter:
    router = APIRouter()
    # -------------------------------------------------------- dashboard
    def _static(name: str) -> str:
        return resources.files("magister.serve").joinpath("static", name).read_text(encoding="utf-8")

    @router.get("/", include_in_schema=False)
    async def root():
        return RedirectResponse("/dashboard")

    @router.get("/dashboard", include_in_schema=False)
    async def dashboard():
        return HTMLResponse(_static("dashboard.html"), headers={"Cache-Control": "no-store"})

    @router.get("/dashboard.js", include_in_schema=False)
    async def dashboard_js():
        return Response(_static("dashboard.js"), media_type="text/javascript",
                        headers={"Cache-Control": "no-store"})

    return router


def _service_router(ctx: _Context) -> APIRouter:
    """Liveness, the teacher registry and (admin) tokens."""
    router = APIRouter()
    service, tokens, run, Caller, allow, admin_only, _committed, do_propose, do_observe, slow, cost = ctx.parts()
    # ----------------------------------------------------------- misc
    @router.get("/v1/health", tags=["service"])
    async def health() -> dict[str, Any]:
        """Liveness: no token needed, reveals nothing."""
        return {"status": "ok"}

    @router.get("/v1/teachers", tags=["service"], responses=ERRORS)
    async def teachers(p: Caller) -> dict[str, Any]:
        """The registered teachers and the kind of space each needs."""
        import magister as mg

        return {"teachers": [{"name": n, "kind": mg.teacher_class(n).kind} for n in mg.available_teachers()]}

    # ---------------------------------------------------------- tokens
    @router.post("/v1/tokens", tags=["tokens"], status_code=201, responses=ERRORS)
    async def create_token(body: TokenIn, p: Caller) -> dict[str, Any]:
        """(admin) Create a token scoped to some curricula (``"*"``: all). The secret is shown once. A server
        without authentication (``--no-auth``) refuses (409): it would never check the token."""
        admin_only(p)
        if not tokens.enabled:  # every request is the admin's: a scoped token would limit nothing
            raise ServiceError("this server runs without authentication (magister serve --no-auth, or create_app "
                               "without admin_token): every request has every right and no token is checked, so a "
                               "scoped token would limit nothing. Start it with an admin token (--admin-token or "
                               "MAGISTER_ADMIN_TOKEN) to hand out scoped tokens. No token was created.", status=409)
        return await anyio.to_thread.run_sync(tokens.create, body.curricula, body.label)

    @router.get("/v1/tokens", tags=["tokens"], responses=ERRORS)
    async def list_tokens(p: Caller) -> dict[str, Any]:
        """(admin) The tokens (without their secrets)."""
        admin_only(p)
        return {"tokens": await anyio.to_thread.run_sync(tokens.list)}

    @router.delete("/v1/tokens/{token_id}", tags=["tokens"], status_code=204, responses=ERRORS)
    async def revoke_token(token_id: Annotated[str, PathParam(pattern=r"^[0-9a-f]{16}$")], p: Caller):
        """(admin) Revoke a token at once."""
        admin_only(p)
        if not await anyio.to_thread.run_sync(tokens.revoke, token_id):
            raise ServiceError(f"no token with id {token_id!r}", status=404)
        return Response(status_code=204)

    return router


def _curricula_router(ctx: _Context) -> APIRouter:
    """Create, list, inspect, summarise and delete curricula."""
    router = APIRouter()
    service, tokens, run, Caller, allow, admin_only, _committed, do_propose, do_observe, slow, cost = ctx.parts()
    # -------------------------------------------------------- curricula
    @router.get("/v1/curricula", tags=["curricula"], responses=ERRORS)
    async def list_curricula(p: Caller,
                             after: Annotated[str, Query(max_length=64, description="names after this one"),
                                              _no_nul("after")] = "",
                             limit: Annotated[int, Query(ge=1, le=LIST_MAX)] = LIST_DEFAULT) -> dict[str, Any]:
        """The curricula this token may use, by name, at most ``limit`` (``next``: the ``after`` of the next
        page, ``null`` at the end). Each one listed is loaded into memory if it was not."""
        def page() -> dict[str, Any]:
            out: list[dict[str, Any]] = []
            last, more = after, False
            while not more:
                names = service.names(after=last, limit=limit)
                for name in names:
                    if not p.allows(name):  # (skipped before the page-full test: a page is followed by
                        last = name         # another only if a name this token may see comes after it)
                        continue
                    if len(out) >= limit:
                        more = True
                        break
                    last = name
                    try:
                        live = service.get(name)
                    except (NotFound, Unavailable):
                        continue
                    except Damaged as e:  # stored by an earlier version with text no reply can carry: marked
                        out.append({"name": name, "damaged": e.message})
                        continue
                    except Moved as e:  # served by another process
                        out.append({"name": name, "served_by": e.owner})
                        continue
                    out.append(service.brief(live))
                if len(names) < limit:
                    break
            return {"curricula": out, "next": last if more else None}

        return await anyio.to_thread.run_sync(page)

    @router.post("/v1/curricula/bulk", tags=["curricula"], status_code=201, responses=ERRORS)
    async def create_bulk(body: BulkIn, p: Caller) -> dict[str, Any]:
        """Create one curriculum per learner from one template (one space, one teacher), all or nothing,
        in one transaction. Each is named ``prefix + learner`` and loads on first use."""
        names = [body.prefix + learner for learner in body.learners]
        for name in names:
            allow(p, name)
        allow_attribution(p)
        t = body.template
        sr = t.score_range.model_dump() if isinstance(t.score_range, _Model) else t.score_range
        names, fut = await anyio.to_thread.run_sync(service.create_many, body.learners, t.space, t.teacher,
                                                    t.settings, t.seed, sr, body.prefix, t.clock)
        await _committed([fut])
        return {"created": len(names), "names": names}

    def allow_attribution(p: Principal) -> None:
        """403 unless the token may attribute curricula to learners (the admin or a ``"*"`` token): a scope names
        curricula, and a learner's curricula (exported and deleted together) may lie outside it, so a scoped token
        could otherwise add its curricula to any learner's data. Decided by the scope alone, so the answer says
        nothing about the learner."""
        if not p.unrestricted:
            raise AuthError(403, f"this token is scoped to curricula {_some(sorted(p.scope))} and may not attribute "
                                 "a curriculum to a learner ('learner' in a create, or bulk creation): a learner's "
                                 "curricula may lie outside its scope. Create the curriculum without 'learner', "
                                 "or use the admin token (or a '*' token)")

    async def allow_learner(p: Principal, learner: str) -> list[str] | None:
        """403 unless the token may use every curriculum of ``learner``: the same answer whether the learner
        exists or not, naming none of their curricula (a scoped token learns nothing about other learners).
        Returns the curricula checked (``None`` for a token that may use any), which the export or deletion
        then requires to be still the learner's: one given to them meanwhile may lie outside the scope."""
        if p.unrestricted:
            return None
        names = await anyio.to_thread.run_sync(service.learner_curricula, learner)
        if not (names and all(p.allows(n) for n in names)):
            raise AuthError(403, f"this token may not use every curriculum of learner {learner!r}; ask the "
                                 "admin for a token scoped to them (or use the admin token)")
        return names

    # (``:path``: a learner name may hold a '/', sent as %2F)
    @router.get("/v1/learners/{learner:path}/export", tags=["learners"], responses=ERRORS)
    async def export_learner(learner: Learner, p: Caller):
        """Everything stored about a learner: their curricula, each with its whole log and checkpoints."""
        checked = await allow_learner(p, learner)
        return JSONResponse(await anyio.to_thread.run_sync(service.export_learner, learner, checked))

    @router.delete("/v1/learners/{learner:path}", tags=["learners"], responses=ERRORS)
    async def forget_learner(learner: Learner, p: Caller) -> dict[str, Any]:
        """Delete a learner completely: their curricula, logs and checkpoints, and their curricula's
        names from every token's scope (a token left with none is revoked), in one transaction."""
        checked = await allow_learner(p, learner)
        names, fut = await anyio.to_thread.run_sync(service.forget_learner, learner, checked)
        await _committed([fut])  # (the names left every token's scope in that same transaction)
        for name in names:
            slow.discard(name)
            cost.pop(name, None)
        return {"learner": learner, "deleted": names}

    @router.post("/v1/curricula", tags=["curricula"], status_code=201, responses=ERRORS)
    async def create_curriculum(body: CurriculumIn, p: Caller) -> dict[str, Any]:
        """Create a curriculum: a task space and a teacher with its settings."""
        allow(p, body.name)
        if body.learner is not None:
            allow_attribution(p)
        sr = body.score_range.model_dump() if isinstance(body.score_range, _Model) else body.score_range
        live, fut = await anyio.to_thread.run_sync(service.create, body.name, body.space, body.teacher,
                                                   body.settings, body.seed, sr, body.learner, body.clock)
        await _committed([fut])
        # bounded: a million-task space would make the full beliefs tens of MB (GET the curriculum for them)
        try:
            return await anyio.to_thread.run_sync(service.light, body.name)
        except Moved as e:  # another process took it up the moment it existed: created all the same (relaying
            return {**brief_public(live.spec), "served_by": e.owner}  # this request there answered 409 "exists")

    @router.get("/v1/curricula/{name}/summary", tags=["curricula"], responses=ERRORS)
    async def summary(name: Name, p: Caller,
                      top: Annotated[int, Query(ge=1, le=100, description="tasks listed per per-task array")] = 20
                      ) -> dict[str, Any]:
        """Counts, the space in brief and the beliefs summarised (per-task arrays as min/max/mean and
        their ``top`` tasks), bounded in size whatever the space: what the dashboard polls."""
        allow(p, name)
        return await run(service.light, name, top)

    @router.get("/v1/curricula/{name}", tags=["curricula"], responses=ERRORS)
    async def inspect_curriculum(name: Name, p: Caller) -> dict[str, Any]:
        """Settings, counts, teacher configuration and current beliefs."""
        allow(p, name)
        return await run(service.inspect, name)

    @router.delete("/v1/curricula/{name}", tags=["curricula"], status_code=204, responses=ERRORS)
    async def delete_curriculum(name: Name, p: Caller):
        """Delete a curriculum, its log and its checkpoints, and its name from every token's scope (a token
        left with none is revoked), in one transaction: a curriculum created later under the same name is not
        reachable by the tokens made for this one."""
        allow(p, name)
        fut = await anyio.to_thread.run_sync(service.delete, name)
        await _committed([fut])  # a failed delete leaves the curriculum as it was (see Service.delete)
        slow.discard(name)
        cost.pop(name, None)
        return Response(status_code=204)

    return router


def _teaching_router(ctx: _Context) -> APIRouter:
    """Propose, observe, beliefs, checkpoints and history of one curriculum."""
    router = APIRouter()
    service, tokens, run, Caller, allow, admin_only, _committed, do_propose, do_observe, slow, cost = ctx.parts()
    @router.post("/v1/curricula/{name}/propose", tags=["teaching"], response_model=ProposeOut, responses=ERRORS)
    async def propose(name: Name, p: Caller,
                      k: Annotated[int, Query(ge=1, le=MAX_K, description="number of tasks")] = 1,
                      request_id: Annotated[Optional[str], Query(min_length=1, max_length=ID_MAX,
                                                                 description="retry-safe id"),
                                            _no_nul("the request id")] = None):
        """Draw ``k`` tasks (the draw is logged, so a restart reproduces it)."""
        return JSONResponse(await do_propose(p, name, k, request_id))

    @router.post("/v1/curricula/{name}/observe", tags=["teaching"], response_model=ObserveOut, responses=ERRORS)
    async def observe(name: Name, body: ObservationIn, p: Caller):
        """Record one outcome. With an ``id``, a retry is applied once and answered the same."""
        seqs = await do_observe(p, name, [(body.task, body.score, body.id)], _times([body]))
        return JSONResponse({"curriculum": name, "id": body.id, "seq": seqs[0]})

    @router.post("/v1/curricula/{name}/observe_batch", tags=["teaching"], response_model=ObserveBatchOut,
              responses=ERRORS)
    async def observe_batch(name: Name, body: ObservationBatchIn, p: Caller):
        """Record several outcomes in order, all or nothing (one transaction)."""
        obs = [(o.task, o.score, o.id) for o in body.observations]
        seqs = await do_observe(p, name, obs, _times(body.observations))
        return JSONResponse({"curriculum": name,
                             "results": [{"id": o[2], "seq": s} for o, s in zip(obs, seqs)]})

    @router.post("/v1/curricula/{name}/give_back", tags=["teaching"], response_model=GiveBackOut, responses=ERRORS)
    async def give_back(name: Name, body: GiveBackIn, p: Caller):
        """Hand back proposals that will never be scored (a level teacher stops waiting for their scores).
        With an ``id``, a retry is applied once and answered the same. A teacher that keeps no outstanding
        proposals takes them as a no-op (``seq`` null, ``dropped`` 0)."""
        allow(p, name)
        dropped, seq, fut = await run(service.give_back, name, body.tasks, body.infos, body.id)
        if fut is not None:
            await _committed([fut])
        return JSONResponse({"curriculum": name, "id": body.id, "seq": seq, "dropped": dropped})

    @router.get("/v1/curricula/{name}/beliefs", tags=["teaching"], responses=ERRORS)
    async def beliefs(name: Name, p: Caller) -> dict[str, Any]:
        """What the teacher believes now (JSON; its shape depends on the teacher)."""
        allow(p, name)
        return JSONResponse(await run(service.beliefs, name))

    @router.get("/v1/curricula/{name}/checkpoint", tags=["teaching"], responses={
        **ERRORS, 200: {"content": {"application/octet-stream": {}}, "description": "teacher bytes"}})
    async def download_checkpoint(name: Name, p: Caller):
        """The teacher's exact state now (``magister.loads(bytes)`` rebuilds it)."""
        allow(p, name)
        data = await run(service.state_bytes, name)
        return Response(data, media_type="application/octet-stream")

    @router.post("/v1/curricula/{name}/checkpoint", tags=["teaching"], response_model=CheckpointOut, responses=ERRORS)
    async def write_checkpoint(name: Name, p: Caller):
        """Write a durable checkpoint now (restarts replay only the events after it)."""
        allow(p, name)
        seq, fut = await run(service.checkpoint, name)
        await _committed([fut])
        return JSONResponse({"curriculum": name, "seq": seq})

    @router.get("/v1/curricula/{name}/history", tags=["teaching"], responses=ERRORS)
    async def history(name: Name, p: Caller,
                      after: Annotated[int, Query(ge=0, le=2**62, description="only events after this seq")] = 0,
                      limit: Annotated[int, Query(ge=1, le=50_000)] = 5000) -> dict[str, Any]:
        """Committed proposals and observations after ``after``, oldest first (for the dashboard)."""
        allow(p, name)
        return await anyio.to_thread.run_sync(service.history, name, after, limit)

    return router


def _lean_handlers(ctx: _Context) -> dict:
    """The lean lane's handlers (see hotpath.py)."""
    service, tokens, run, Caller, allow, admin_only, _committed, do_propose, do_observe, slow, cost = ctx.parts()
    # ------------------------------------------------- the lean lane
    # The same three endpoints without the framework's per-request machinery (see
    # hotpath.py). Only requests that would pass every check of the endpoints above
    # are served here; anything else is delegated to them, so refusals come from one place.
    def _caller(name: str, authorization: str | None) -> Principal:
        if service.state is not SERVING:  # the endpoint refuses it (see not_serving)
            raise Delegate
        try:
            p = tokens.authenticate(authorization)
        except AuthError:
            raise Delegate from None
        if not p.allows(name):
            raise Delegate
        return p

    def _model(model: type[BaseModel], body: bytes) -> Any:
        try:
            return model.model_validate(json.loads(body))
        except Exception:  # noqa: BLE001 - whatever the endpoint would refuse (or fail on), it answers itself
            raise Delegate from None

    async def _answer(work, forwarded: bool) -> tuple[Any, ...]:
        try:
            return 200, await work
        except Moved as e:  # what the endpoint's error handler answers, without the framework's cost
            if forwarded:  # forwarded once already: never twice
                return 503, {"detail": clip(f"{e.message} (its lease just moved); retry in a moment, "
                                            "with the same ids")}
            return 421, {"detail": clip(e.message)}, [(OWNER_HEADER, e.owner.encode("latin-1"))]
        except ServiceError as e:
            return e.status, {"detail": clip(e.message)}
        except (SQLAlchemyError, OSError) as e:  # (loading a curriculum reads the database)
            log.error("storage failed: %s: %s", type(e).__name__, e)
            return 503, {"detail": storage_failed(e)}

    async def lean_propose(name: str, query: bytes, authorization: str | None, body: bytes, forwarded: bool):
        k, request_id = 1, None
        if query:
            fields = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
            if len({f for f, _ in fields}) != len(fields):
                raise Delegate
            for f, v in fields:
                if f == "k" and v.isascii() and v.isdigit() and v[0] != "0" and len(v) <= 6 and int(v) <= MAX_K:
                    k = int(v)
                elif f == "request_id" and 1 <= len(v) <= ID_MAX and "\x00" not in v:
                    request_id = v
                else:
                    raise Delegate
        p = _caller(name, authorization)
        return await _answer(do_propose(p, name, k, request_id), forwarded)

    async def lean_observe(name: str, query: bytes, authorization: str | None, body: bytes, forwarded: bool):
        if query:
            raise Delegate
        p = _caller(name, authorization)
        o = _model(ObservationIn, body)
        answer = await _answer(do_observe(p, name, [(o.task, o.score, o.id)], _times([o])), forwarded)
        if answer[0] != 200:
            return answer
        return 200, {"curriculum": name, "id": o.id, "seq": answer[1][0]}

    async def lean_observe_batch(name: str, query: bytes, authorization: str | None, body: bytes,
                                 forwarded: bool):
        if query:
            raise Delegate
        p = _caller(name, authorization)
        given = _model(ObservationBatchIn, body).observations
        obs = [(o.task, o.score, o.id) for o in given]
        answer = await _answer(do_observe(p, name, obs, _times(given)), forwarded)
        if answer[0] != 200:
            return answer
        return 200, {"curriculum": name, "results": [{"id": o[2], "seq": s} for o, s in zip(obs, answer[1])]}

    return {"propose": lean_propose, "observe": lean_observe, "observe_batch": lean_observe_batch}


class StartupRefused(ConfigError, SystemExit):
    """A setting :func:`app_from_env` refuses: a :class:`~magister.errors.ConfigError` (so a ``ValueError``) to code
    that calls it, and to ``uvicorn --factory`` a ``SystemExit`` whose ``code`` is the message, so the process ends
    on that one line (exit status 1) instead of uvicorn's traceback above it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.code = f"error: {message}"


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory magister.serve.app:app_from_env`` (settings from ``MAGISTER_*`` variables).

    Reads the same :class:`~magister.serve.settings.ServeSettings` as ``magister serve``; a bad variable (or a
    database that cannot be used) raises :class:`StartupRefused`, which names it and ends uvicorn's process without
    a traceback.
    """
    try:
        cfg = ServeSettings.from_env(freeze_gc=True)
        apply_process_settings(cfg)
        app = create_app(settings=cfg)
        check_database(app.state.service.engine)  # (a damaged file was a traceback from the lifespan's start-up)
    except ValueError as e:
        raise StartupRefused(str(e)) from None
    return app


def apply_process_settings(cfg: ServeSettings) -> None:
    """Settings of the whole process (not of one app): the interpreter's switch interval."""
    if cfg.switch_interval is not None:
        import sys

        sys.setswitchinterval(float(cfg.switch_interval))


#: the answer (500) to a request that reached the app before its lifespan's start-up ran, which creates the tables
#: and starts the writer: a Starlette / FastAPI ``TestClient(app)`` used without ``with`` skips it (every request
#: was a 503 "no such table ... Retry in a moment", and retrying never helps)
NOT_STARTED = ("this app's start-up has not run (its lifespan: it creates the database tables and starts the "
               "writer), so it cannot answer any request; nothing changed, and retrying will not help. In tests, "
               "enter the client to run it: `with TestClient(app) as client:` (a TestClient used without `with` "
               "skips it); to serve, run the app under uvicorn or `magister serve`, which run it.")


def not_serving(state: str) -> ServiceError:
    """The refusal of a request that reached the app while its service is not serving (``Service.state``): before
    the lifespan's start-up, a 500 (``NOT_STARTED``); once its shutdown began, the 503 a write gets from the closed
    writer (``SHUTTING_DOWN``), since clients such as ``HTTPTeacher`` retry it and a restarted server answers. A
    proposal then was answered 200 and never logged (the writer was closed), so the learner trained on a task the
    restarted server did not remember drawing; each is refused before anything changes."""
    if state is STOPPED:
        return Unavailable(SHUTTING_DOWN)
    return ServiceError(NOT_STARTED, status=500)


#: what SQLite says of a file it cannot read at all: no retry helps, the file must be restored
_DAMAGED = ("database disk image is malformed", "file is not a database")


def storage_failed(exc: BaseException) -> str:
    """The one 503 answer for every storage failure (its kind only: the details go to the server's log)."""
    if any(words in str(getattr(exc, "orig", None) or exc).lower() for words in _DAMAGED):
        # (it said "Retry in a moment" to every request of a curriculum stored on a damaged page, forever)
        return (f"the database file is damaged ({type(exc).__name__}; the server's log has SQLite's words); this "
                "request was NOT recorded and nothing changed, and retrying will not help: stop the server, restore "
                "the file from a backup (or rebuild it with sqlite3's .recover) and start it again.")
    return (f"the database failed ({type(exc).__name__}); this request was NOT recorded and nothing changed. "
            "Retry (with the same ids) in a moment.")


#: longest text of an error reply (a refusal never echoes a large input back)
MAX_DETAIL = 1000
#: validation errors listed in a 422 reply
MAX_ERRORS = 20


def clip(text: str, limit: int = MAX_DETAIL) -> str:
    """``text``, or its start and end with the length of what was left out in between."""
    if len(text) <= limit:
        return text
    keep = max(20, limit - 60)
    return f"{text[:keep - keep // 4]} ...({len(text) - keep} characters left out)... {text[-(keep // 4):]}"


_CURRICULUM_PATH = re.compile(r"^/v1/curricula/([^/]+)")


class _Forwarding(Forward):
    """:class:`~magister.serve.forward.Forward`, reachable from the app's state (closed at shutdown)."""

    def __init__(self, app: Any, state: Any):
        super().__init__(app)
        state.forward = self
        self.state = state

    def relay_failed(self, path: str) -> None:
        m = _CURRICULUM_PATH.match(path)
        if m is not None:  # its holder died or the lease moved on: ask the database next time
            self.state.service.forget_moved(m.group(1))

    def relay_served(self, path: str, url: str) -> None:
        m = _CURRICULUM_PATH.match(path)
        if m is not None:  # it held the lease a moment ago: no need to read the lease again for a while
            self.state.service.confirm_moved(m.group(1), url)


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes gets 413 before anything reads it.

    A declared ``Content-Length`` is checked up front; a body without one
    (chunked) is read here up to the limit and replayed to the app.
    """

    def __init__(self, app: Any, limit: int):
        self.app = app
        self.limit = int(limit)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = None
        for key, value in scope["headers"]:
            if key == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = None
        if length is not None:
            if length > self.limit:
                return await self._refuse(send)
            return await self.app(scope, receive, send)
        if scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            return await self.app(scope, receive, send)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.limit:
                return await self._refuse(send)
            chunks.append(body)
            if not message.get("more_body", False):
                break
        from .hotpath import _replay

        return await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _refuse(self, send: Any) -> None:
        data = json.dumps({"detail": f"request body too large: at most {self.limit} bytes "
                                     "(MAGISTER_MAX_BODY_BYTES); split the request (e.g. smaller observe_batch "
                                     "calls)"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-length", str(len(data)).encode()),
                                (b"content-type", b"application/json"), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": data})
