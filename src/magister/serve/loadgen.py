"""A minimal asyncio HTTP/1.1 keep-alive client for load generation (far lighter than a full client).

Used by ``benchmarks/serve_load.py`` and the service load test: many connections, each a
learner, with very little CPU per request so the server is what is measured.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any


class Conn:
    """One keep-alive connection; ``request`` sends a request and reads the whole reply."""

    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None):
        self.host, self.port = host, port
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> "Conn":
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        if self.writer is None or self.reader.at_eof():  # type: ignore[union-attr]
            await self.close()  # the server closed an idle keep-alive connection: open a new one
            await self.open()
        data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.extra}"
                f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
        self.writer.write(head.encode() + data)  # type: ignore[union-attr]
        status_line = await self.reader.readline()  # type: ignore[union-attr]
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()  # type: ignore[union-attr]
            if line in (b"\r\n", b"\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            if k.strip().lower() == "content-length":
                length = int(v.strip())
        payload = await self.reader.readexactly(length) if length else b""  # type: ignore[union-attr]
        return status, (json.loads(payload) if payload else None)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except Exception:  # noqa: BLE001
                pass
            self.writer = None
