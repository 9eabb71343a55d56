"""Forwarding between server processes: a request for a curriculum another process serves goes there.

With several processes behind a load balancer (``MAGISTER_NODE_URL`` set on
each), any process may receive a request for any curriculum. When the
service finds that another process holds the curriculum's lease it raises
:class:`~magister.serve.common.Moved`; the app turns that into a 421 reply
carrying the owner's URL in ``x-magister-owner``, and :class:`Forward` (in
front of the app) swallows that reply, sends the same request (method, path,
query, body, Authorization) to the owner over a kept-alive connection
(:class:`_Pool`) and relays its answer. The service remembers which process serves a curriculum for a lease time
after it last learnt so (from the database, or from a relayed request that
process answered: it serves a curriculum only under a fresh lease), and
forgets it when a relay there fails or is answered 503; so a curriculum in
use is relayed without reading the database again. The lean lane answers such
requests itself, without the framework's per-request cost. A request
arriving already forwarded is never forwarded again: if the lease moved
meanwhile, the client gets 503 and retries (with its ids, so nothing is
applied twice).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

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
        self._pool = _Pool()
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
        headers = [(k, v) for k, v in scope["headers"] if k in _PASS]
        headers.append((FORWARDED_HEADER, b"1"))
        target = scope["path"]
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        try:
            status, out_headers, data = await asyncio.wait_for(
                self._pool.request(url, scope["method"], target, headers, body), self.timeout)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as e:
            data = json.dumps({"detail": f"the process serving this curriculum ({url}) did not answer "
                                         f"({type(e).__name__}); nothing was recorded here. Retry in a moment "
                                         "(with the same ids): if it died, another process takes its curricula "
                                         "over once their leases expire"}).encode()
            status, out_headers = 503, [(b"content-type", b"application/json")]
        else:
            self.forwarded += 1
        if status == 503:
            self.relay_failed(scope["path"])
        elif status == 200:
            self.relay_served(scope["path"], url)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-length", str(len(data)).encode()), *out_headers]})
        await send({"type": "http.response.body", "body": data})

    def relay_failed(self, path: str) -> None:
        """Called when a relay of a request for ``path`` failed or was answered 503 (a hook)."""

    def relay_served(self, path: str, url: str) -> None:
        """Called when the process at ``url`` answered a relayed request for ``path`` with 200: it held
        the curriculum's lease just now (a process serves a curriculum only under its lease) (a hook)."""

    async def aclose(self) -> None:
        await self._pool.close()


class _Pool:
    """Keep-alive HTTP/1.1 connections to the other processes, reused request after request.

    A relay costs one write and one read on an open connection: a general
    HTTP client (as this used before) spent several times the CPU of the
    request itself per relay. Only what the service's own replies need is
    understood: a status line, headers, and a body of ``Content-Length``
    bytes or in chunks.

    Why not ``h11`` (the well-kept HTTP/1.1 state machine uvicorn ships
    with): the same pool over ``h11`` cost 198 [179-235] µs of CPU per relay
    against this one's 60 [60-65] (5 interleaved rounds of 4,000 relays to
    a uvicorn server, 8 at a time, on the shared build machine); h11's event
    objects and per-header validation alone came to ~75 µs per exchange.
    Relays are the one place where that matters (a relayed request already
    costs both processes a request each), so this stays, kept to the
    subset above, with ``tests/test_serve_cluster.py`` driving it.
    """

    def __init__(self, per_host: int = 64):
        self.per_host = int(per_host)
        self._idle: dict[str, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}

    async def request(self, url: str, method: str, target: str, headers: list[tuple[bytes, bytes]],
                      body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"cannot relay to {url!r} (only http:// URLs)")
        host, port = parts.hostname, parts.port or 80
        base = parts.path.rstrip("/")
        head = [f"{method} {base}{target} HTTP/1.1\r\nHost: {parts.netloc}\r\n".encode("latin-1")]
        head += [k + b": " + v + b"\r\n" for k, v in headers]
        head.append(b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        message = b"".join(head) + body
        idle = self._idle.setdefault(url, [])
        while idle:  # a kept connection; one the other side closed meanwhile fails before any reply byte
            reader, writer = idle.pop()
            if reader.at_eof() or writer.is_closing():
                writer.close()
                continue
            try:
                return await self._exchange(url, reader, writer, message)
            except _Stale:
                continue
        reader, writer = await asyncio.open_connection(host, port)
        try:
            return await self._exchange(url, reader, writer, message)
        except _Stale:
            raise ConnectionError("the connection closed before any reply") from None

    async def _exchange(self, url: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        message: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        try:
            try:
                writer.write(message)
                await writer.drain()
                status_line = await reader.readline()
            except ConnectionError:
                raise _Stale from None
            if not status_line:
                raise _Stale
            status = int(status_line.split()[1])
            length, chunked, keep = None, False, True
            out: list[tuple[bytes, bytes]] = []
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n"):
                    break
                if not line:
                    raise ConnectionError("the connection closed in the middle of a reply")
                k, _, v = line.partition(b":")
                k, v = k.strip().lower(), v.strip()
                if k == b"content-length":
                    length = int(v)
                elif k == b"transfer-encoding":
                    chunked = b"chunked" in v.lower()
                elif k == b"connection":
                    keep = v.lower() != b"close"
                elif k in _RELAYED:
                    out.append((k, v))
            if chunked:
                parts = []
                while True:
                    size = int((await reader.readline()).split(b";")[0], 16)
                    if size == 0:
                        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    parts.append(await reader.readexactly(size))
                    await reader.readexactly(2)
                data = b"".join(parts)
            elif length is not None:
                data = await reader.readexactly(length)
            else:
                data, keep = await reader.read(), False
        except BaseException:
            writer.close()
            raise
        idle = self._idle.setdefault(url, [])
        if keep and len(idle) < self.per_host:
            idle.append((reader, writer))
        else:
            writer.close()
        if not any(k == b"content-type" for k, _ in out):
            out.append((b"content-type", b"application/json"))
        return status, out, data

    async def close(self) -> None:
        for idle in self._idle.values():
            for _reader, writer in idle:
                writer.close()
        self._idle.clear()


class _Stale(Exception):
    """A kept connection the other side had closed: nothing was read, so the request goes on a new one."""


#: reply headers passed back to the client (the rest are hop-by-hop or set anew)
_RELAYED = {b"content-type", b"www-authenticate", b"retry-after"}
