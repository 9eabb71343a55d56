"""A minimal asyncio HTTP/1.1 keep-alive client for load generation (far lighter than a full client).

Used by ``benchmarks/serve_load.py``, ``benchmarks/serve_scale.py`` and the
service load test: many connections, each a learner, with very little CPU per
request so that the server is what is measured. Each connection is an
:class:`asyncio.Protocol` that sends a request in one write and parses the
whole reply from its buffer in one go once it has arrived (a stream reader
awaited line by line cost about twice the CPU per request, which on a
2-core machine came out of the servers being measured). It understands what
the service answers: a status line, headers and a ``Content-Length`` body.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any


class _Reply(asyncio.Protocol):
    """The receiving side of one connection: buffers bytes, resolves ``waiter`` with a whole reply."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.waiter: asyncio.Future | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is not None and not self.waiter.done():
            reply = self._parse()
            if reply is not None:
                self.waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("server closed the connection"))

    def _parse(self) -> tuple[int, bytes] | None:
        """(status, body) of the first whole reply in the buffer (removed from it), or ``None`` yet."""
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(buf[:end]).lower()
        length = 0
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + 17:stop if stop >= 0 else len(head)])
        if len(buf) < end + 4 + length:
            return None
        status = int(head[9:12])
        body = bytes(buf[end + 4:end + 4 + length])
        del buf[:end + 4 + length]
        return status, body


class Conn:
    """One keep-alive connection; ``request`` sends a request and reads the whole reply."""

    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None):
        self.host, self.port = host, port
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._proto: _Reply | None = None

    async def open(self) -> Conn:
        loop = asyncio.get_running_loop()
        _transport, self._proto = await loop.create_connection(_Reply, self.host, self.port)
        return self

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        if self._proto is None or self._proto.closed:
            await self.close()  # the server closed an idle keep-alive connection: open a new one
            await self.open()
        proto = self._proto
        data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.extra}"
                f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
        waiter = asyncio.get_running_loop().create_future()
        proto.waiter = waiter  # type: ignore[union-attr]
        proto.transport.write(head.encode() + data)  # type: ignore[union-attr]
        status, payload = await waiter
        return status, (json.loads(payload) if payload else None)

    async def close(self) -> None:
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            proto.transport.close()
