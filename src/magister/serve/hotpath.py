"""A lean ASGI lane for the busiest endpoints (propose, observe, observe_batch).

Under load, most of the CPU a request costs went to the framework rather
than to the teacher: routing over every route, dependency resolution, the
exception middleware stack. :class:`HotPath` sits in front of the FastAPI app
and serves the well-formed requests of the hot endpoints itself, with the
same models, the same authentication and the same service calls as the
FastAPI endpoints (which stay the documented, schema-bearing definition).

Anything out of the ordinary is handed to the FastAPI app untouched (the body
already read is replayed): unusual query strings, a missing, bad or
out-of-scope token, a body that does not parse or validate, another content
type. So every refusal is produced by one code path, the FastAPI one, and the
lane can only answer what that path would have answered for a valid request.
"""

from __future__ import annotations

import json
import re
from typing import Any, Awaitable, Callable

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: the handler of a hot endpoint: (name, query string, Authorization header, body, forwarded) ->
#: (status, payload) or (status, payload, extra headers); ``forwarded``: the request came from another
#: process (see forward.py)
Handler = Callable[[str, bytes, "str | None", bytes, bool], Awaitable["tuple[Any, ...]"]]
_FORWARDED = b"x-magister-forwarded"

_PATH = re.compile(r"^/v1/curricula/([A-Za-z0-9][A-Za-z0-9._-]{0,63})/(propose|observe|observe_batch)$")
_JSON_TYPES = (b"application/json", b"application/json; charset=utf-8", b"application/json;charset=utf-8")


class Delegate(Exception):
    """Raised by a handler: let the FastAPI app answer this request."""


def json_body(payload: Any) -> bytes:
    """The bytes Starlette's ``JSONResponse`` would send for ``payload``."""
    return json.dumps(payload, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


class HotPath:
    """ASGI middleware: ``handlers`` maps an endpoint (``"propose"``, ...) to its lean handler.

    A handler returns ``(status, payload)`` or raises :class:`Delegate`.
    """

    def __init__(self, app: Any, handlers: dict[str, Handler]):
        self.app = app
        self.handlers = handlers
        self.served = 0  # requests answered here (the rest went to the app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        m = _PATH.match(scope["path"])
        handler = self.handlers.get(m.group(2)) if m else None
        if handler is None:
            return await self.app(scope, receive, send)
        auth = ctype = None
        forwarded = False
        for key, value in scope["headers"]:
            if key == b"authorization":
                if auth is not None:  # repeated: let the framework decide
                    return await self.app(scope, receive, send)
                auth = value.decode("latin-1")
            elif key == b"content-type":
                ctype = value.lower()
            elif key == _FORWARDED:
                forwarded = True
        body, read = b"", False
        if m.group(2) != "propose":  # type: ignore[union-attr] # (propose takes no body and ignores one)
            if ctype not in _JSON_TYPES:  # no content type, or another one: the framework's rules apply
                return await self.app(scope, receive, send)
            chunks: list[bytes] = []
            while True:
                message = await receive()
                if message["type"] != "http.request":  # the client went away
                    return
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            body, read = b"".join(chunks), True
        try:
            answer = await handler(m.group(1), scope["query_string"], auth, body,  # type: ignore[union-attr]
                                   forwarded)
        except Delegate:
            return await self.app(scope, _replay(body, receive) if read else receive, send)
        self.served += 1
        status, payload = answer[0], answer[1]
        data = json_body(payload)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-length", str(len(data)).encode()),
                                (b"content-type", b"application/json"), *(answer[2] if len(answer) > 2 else ())]})
        await send({"type": "http.response.body", "body": data})


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields the body already read once, then the real channel (disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
