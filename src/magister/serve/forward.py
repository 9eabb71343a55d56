"""Forwarding between server processes: a request for a curriculum another process serves goes there.

With several processes behind a load balancer (``MAGISTER_NODE_URL`` set on
each), any process may receive a request for any curriculum. When the
service finds that another process holds the curriculum's lease it raises
:class:`~magister.serve.common.Moved`; the app turns that into a 421 reply
carrying the owner's URL in ``x-magister-owner``, and :class:`Forward` (in
front of the app) swallows that reply, sends the same request (method, path,
query, body, Authorization) to the owner and relays its answer. A request
arriving already forwarded is never forwarded again: if the lease moved
meanwhile, the client gets 503 and retries (with its ids, so nothing is
applied twice).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["Forward", "OWNER_HEADER", "FORWARDED_HEADER"]

OWNER_HEADER = b"x-magister-owner"
FORWARDED_HEADER = b"x-magister-forwarded"
#: request headers passed on to the owner (the rest are hop-by-hop or set anew)
_PASS = {b"authorization", b"content-type", b"accept"}


class Forward:
    """ASGI middleware: relay requests for curricula served by another process (see the module doc)."""

    def __init__(self, app: Any, timeout: float = 60.0):
        self.app = app
        self.timeout = float(timeout)
        self._client: Any = None
        self.forwarded = 0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if any(k == FORWARDED_HEADER for k, _ in scope["headers"]):
            return await self.app(scope, receive, send)  # answered here, or 503 (see app.py)
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        owner: list[str] = []

        async def relay(message: dict) -> None:
            if message["type"] == "http.response.start" and message["status"] == 421:
                for k, v in message.get("headers", []):
                    if k == OWNER_HEADER:
                        owner.append(v.decode("latin-1"))
            if not owner:
                await send(message)

        from .hotpath import _replay

        await self.app(scope, _replay(body, receive), relay)
        if owner:
            await self._forward(owner[0], scope, body, send)

    async def _forward(self, url: str, scope: dict, body: bytes, send: Any) -> None:
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, limits=httpx.Limits(max_connections=256))
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in _PASS}
        headers[FORWARDED_HEADER.decode()] = "1"
        target = url.rstrip("/") + scope["path"]
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        try:
            r = await self._client.request(scope["method"], target, content=body, headers=headers)
        except httpx.HTTPError as e:
            data = json.dumps({"detail": f"the process serving this curriculum ({url}) did not answer "
                                         f"({type(e).__name__}); nothing was recorded here. Retry in a moment "
                                         "(with the same ids): if it died, another process takes its curricula "
                                         "over once their leases expire"}).encode()
            status, out_headers = 503, [(b"content-type", b"application/json")]
        else:
            self.forwarded += 1
            data = r.content
            status = r.status_code
            out_headers = [(b"content-type", r.headers.get("content-type", "application/json").encode("latin-1"))]
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-length", str(len(data)).encode()), *out_headers]})
        await send({"type": "http.response.body", "body": data})

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
