"""The two checks a web app without a login makes against other web sites open in the same browser.

Used by ``magister study --web`` (``magister.people.web``) and by ``magister serve --no-auth``
(``magister.serve.app``), as one ASGI middleware (:class:`Guard`); it imports no web framework.

* **The name it is opened by.** A request is answered only when its ``Host`` header (without the port) is one of
  the app's names (:func:`allowed_hosts`); any other gets 400 ``Invalid host header``. A site that
  makes its own name resolve to 127.0.0.1 (DNS rebinding) therefore cannot read the app through the browser.
* **Who sent a write.** A request other than GET / HEAD whose ``Origin`` header names another page than the app
  itself (another site, another port, a sandboxed ``null``) gets 403: a form or a ``fetch``
  of another site, which a browser sends without asking first, changes nothing. Programs send no ``Origin``.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError

__all__ = ["LOOPBACK_HOSTS", "Guard", "allowed_hosts", "check_can_listen", "guard", "host_name", "is_loopback",
           "request_host"]

#: the names of this machine's loopback addresses: an app on any address answers to them
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
#: addresses that mean every interface
EVERYWHERE = ("0.0.0.0", "::", "[::]", "")


def host_name(value: str, what: str) -> str:
    """``value`` as the Host header names it: lower case, an IPv6 address in brackets; a port or URL refused."""
    name = str(value).strip().lower()
    try:
        if ipaddress.ip_address(name.strip("[]")).version == 6:
            return f"[{name.strip('[]')}]"
    except ValueError:
        pass
    if not name or any(c in name for c in ":/[]@ ") or ("*" in name and not (name == "*" or name.startswith("*."))):
        raise ConfigError(f"{what} must be a host name or address without a port, such as study.lan, "
                          f"192.168.1.20 or *.lan (or * for any name), got {value!r}")
    return name


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, an IPv6 one with or without brackets) is this machine's loopback:
    ``localhost`` or an address such as 127.0.0.1 or ::1 (a name is not resolved)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def _machine_names() -> list[str]:
    """This machine's host names and the addresses they resolve to (best effort: what its resolver knows)."""
    names: list[str] = []
    for n in dict.fromkeys((socket.gethostname(), socket.getfqdn())):
        names.append(n)
        try:
            names += [str(addr[0]).split("%")[0] for *_, addr in socket.getaddrinfo(n, None)]
        except OSError:  # a name the resolver does not know
            pass
    out = []
    for n in names:
        try:
            out.append(host_name(n, "a name of this machine"))
        except ConfigError:
            continue
    return out


def allowed_hosts(host: str = "127.0.0.1", extra: Sequence[str] = (), *, host_what: str = "--host",
                  extra_what: str = "--allow-host") -> list[str]:
    """The names an app answers to (its requests' ``Host`` header, without the port) when it listens on ``host``.

    Always localhost, 127.0.0.1 and [::1]; ``host`` itself when it is one address or name (``--host 192.168.1.20``);
    with every interface (``0.0.0.0``, ``::``) the machine's host names and the addresses they resolve to; then
    ``extra`` (``--allow-host``: names, addresses, ``*.lan`` for a domain, ``*`` for any name, which turns the check
    off). A name that resolves elsewhere (DNS rebinding) is not among them, so a page of another site cannot read
    the app through it. ``host_what`` / ``extra_what`` name the options in the message that refuses a bad name.
    """
    if isinstance(extra, str):
        extra = [extra]
    names = list(LOOPBACK_HOSTS)
    if str(host).strip().lower() in EVERYWHERE:
        names += _machine_names()
    else:
        names.append(host_name(host, host_what))
    names += [host_name(n, extra_what) for n in extra]
    return list(dict.fromkeys(names))


def check_can_listen(host: str, port: int) -> None:
    """Bind ``host:port`` once, as the server is about to, and raise :class:`ConfigError` naming ``--port`` or
    ``--host`` when it cannot (a port in use was uvicorn's one ``ERROR:`` line and exit 3, after the address of a
    page that was never served had been printed)."""
    import errno

    if not str(host).strip():  # ("" listened on every interface, announced as http://:8000)
        raise ConfigError(f"--host {host!r} is empty, which listens on every interface; give 127.0.0.1 (this machine "
                          "only) or 0.0.0.0 (every interface)")
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(str(host).strip("[]") or None, port,
                                                          type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except (OSError, UnicodeError) as e:
        raise ConfigError(f"--host {host!r} is not an address this machine can listen on "
                          f"({getattr(e, 'strerror', None) or e}); give one of its addresses, 127.0.0.1 or 0.0.0.0"
                          ) from None
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # (as uvicorn binds: a port in TIME_WAIT is free)
        try:
            sock.bind(addr)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {port} on {host} is in use (another server listens there); choose another "
                                  "--port or stop that server") from None
            raise ConfigError(f"cannot listen on {host} port {port} ({e.strerror or e}); check --host and --port"
                              ) from None


def request_host(header: str) -> str:
    """The name a ``Host`` header gives, without the port, as :func:`host_name` writes it (an IPv6 address keeps its
    brackets: ``[::1]:8000`` is ``[::1]``); ``""`` for a malformed one."""
    value = header.strip().lower()
    if value.startswith("["):
        name, _, rest = value.partition("]")
        return f"{name}]" if rest == "" or rest.startswith(":") else ""
    return value.partition(":")[0]


class Guard:
    """ASGI middleware, both checks: a request whose ``Host`` names none of ``hosts`` gets 400 ``Invalid host header``;
    then one other than GET / HEAD whose ``Origin`` names another page than the app gets 403.

    ``hosts`` as :func:`allowed_hosts` gives them (``*.lan`` a domain, ``*`` any name). The Host check is made here,
    not by Starlette's ``TrustedHostMiddleware``: the one of the Starlette that FastAPI 0.110 uses (0.36)
    cut the header at its first ``:``, so a page opened by ``http://[::1]:8765/`` got 400. The app's own pages send their own origin (its scheme, the
    ``Host`` they were opened by); programs send none and are let through. ``sender`` names the app's own page in
    the refusal ("the study page itself").
    """

    def __init__(self, app: Any, hosts: Sequence[str], sender: str = "the app itself"):
        self.app = app
        hosts = [str(h).strip().lower() for h in hosts]  # (as request_host reads the header: MyBox is mybox)
        self.any_host = "*" in hosts
        self.hosts = frozenset(h for h in hosts if not h.startswith("*"))
        self.domains = tuple(h[1:] for h in hosts if h.startswith("*."))  # "*.lan": any name ending in ".lan"
        self.sender = sender

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        origin = host = None
        for key, value in scope["headers"]:
            if key == b"origin" and origin is None:
                origin = value.decode("latin-1")
            elif key == b"host" and host is None:
                host = value.decode("latin-1")
        if not self.any_host:
            name = request_host(host or "")
            if name not in self.hosts and not (name and name.endswith(self.domains)):
                if scope["type"] == "websocket":
                    return await send({"type": "websocket.close", "code": 1008})
                return await _reply(send, 400, b"Invalid host header", b"text/plain; charset=utf-8")
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD") or origin is None \
                or urlsplit(origin).netloc.lower() == (host or "").lower():
            return await self.app(scope, receive, send)
        data = json.dumps({"detail": f"refused: a request sent by a page of {origin}, not by {self.sender}"}).encode()
        await _reply(send, 403, data, b"application/json")


async def _reply(send: Any, status: int, body: bytes, content_type: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", content_type)]})
    await send({"type": "http.response.body", "body": body})


def guard(app: Any, hosts: Sequence[str], sender: str) -> None:
    """Add both checks (:class:`Guard` over ``hosts``, see :func:`allowed_hosts`) to the Starlette / FastAPI ``app``
    as its outermost middleware: a request addressed to another name (a site whose DNS now points here) gets 400
    before anything."""
    app.add_middleware(Guard, hosts=list(hosts), sender=sender)
