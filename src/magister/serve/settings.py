"""The service's settings: one object read by ``magister serve``, ``app_from_env`` and ``create_app``.

Every setting has a field here, a ``MAGISTER_*`` environment variable (the
table :data:`ENV`, documented in docs/serve.md) and a default. Precedence:
an explicit value (a ``magister serve`` flag, a ``create_app`` keyword) over
the environment variable over the default, the same for every entry point.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any, Mapping
from urllib.parse import urlsplit

from ..errors import ConfigError
from ..settings import whole
from ..webguard import host_name

#: client ids remembered exactly per curriculum (older ones: a Bloom filter, then the database)
RECENT_IDS = 100_000
#: curricula kept in memory per server process (idle ones beyond it leave, least recently used first)
CACHE_SIZE = 10_000
#: most learners one bulk-creation request may list
MAX_BULK = 10_000
#: most tasks one propose request may draw / observations one batch may carry (the client splits larger calls)
MAX_K = 10_000
MAX_BATCH = 10_000
#: longest client id (of an observation or a propose request)
ID_MAX = 128
#: how far (seconds) an answer's own time (``observe(..., time=...)``) may be after the server's time: a device
#: clock that runs this much fast still has its newest answers taken (docs/serve.md, "Answers made earlier")
CLOCK_SKEW_SECONDS = 5.0
#: the most ``clock_skew_seconds`` may be: more is not a clock out of step but a wrong time
MAX_CLOCK_SKEW_SECONDS = 300.0

#: setting -> its environment variable
ENV = {
    "db": "MAGISTER_DB",
    "admin_token": "MAGISTER_ADMIN_TOKEN",
    "host": "MAGISTER_HOST",
    "port": "MAGISTER_PORT",
    "checkpoint_every": "MAGISTER_CHECKPOINT_EVERY",
    "teacher_threads": "MAGISTER_TEACHER_THREADS",
    "durable_proposals": "MAGISTER_DURABLE_PROPOSALS",
    "lean": "MAGISTER_LEAN",
    "recent_ids": "MAGISTER_RECENT_IDS",
    "switch_interval": "MAGISTER_SWITCH_INTERVAL",
    "max_body_bytes": "MAGISTER_MAX_BODY_BYTES",
    "max_tasks": "MAGISTER_MAX_TASKS",
    "max_policy_tasks": "MAGISTER_MAX_POLICY_TASKS",
    "cache_size": "MAGISTER_CACHE_SIZE",
    "max_bulk": "MAGISTER_MAX_BULK",
    "node_url": "MAGISTER_NODE_URL",
    "lease_seconds": "MAGISTER_LEASE_SECONDS",
    "allowed_hosts": "MAGISTER_ALLOWED_HOSTS",
    "clock_skew_seconds": "MAGISTER_CLOCK_SKEW_SECONDS",
}


@dataclass(frozen=True)
class ServeSettings:
    """Settings of one server (see docs/serve.md, "Settings", for each one)."""

    #: SQLite file path or ``postgresql+psycopg://`` URL
    db: str = "magister.db"
    #: the token with every right; ``None`` leaves the API open (local use only)
    admin_token: str | None = None
    #: where ``magister serve`` listens (``app_from_env`` is served by uvicorn's own flags)
    host: str = "127.0.0.1"
    port: int = 8000
    #: events between automatic checkpoints (0: none)
    checkpoint_every: int = 2000
    #: where teacher calls run: "auto", "always" (worker threads) or "never" (the event loop)
    teacher_threads: str = "auto"
    #: answer a proposal only once its log entry is on disk
    durable_proposals: bool = False
    #: serve well-formed propose/observe requests through the lean ASGI lane
    lean: bool = True
    #: client ids remembered exactly per curriculum
    recent_ids: int = RECENT_IDS
    #: ``sys.setswitchinterval`` for the server process (``None``: Python's default)
    switch_interval: float | None = None
    #: largest request body in bytes (larger: 413)
    max_body_bytes: int = 32 * 1024 * 1024
    #: largest finite space a curriculum may have (teachers keep per-task arrays)
    max_tasks: int = 1_000_000
    #: largest space for teachers whose every request evaluates every task (the people policies)
    max_policy_tasks: int = 100_000
    #: freeze start-up objects out of the garbage collector (a process that runs one server)
    freeze_gc: bool = False
    #: curricula kept in memory (loaded on first use; idle ones beyond this leave, least recently used first)
    cache_size: int = CACHE_SIZE
    #: most learners one bulk-creation request (POST /v1/curricula/bulk) may list
    max_bulk: int = MAX_BULK
    #: the URL at which the other server processes reach this one; set, it turns on leases (several
    #: processes over one PostgreSQL, each curriculum served by one of them; see docs/serve.md)
    node_url: str | None = None
    #: how long a process's lease of a curriculum lasts without renewal (renewed every third of it)
    lease_seconds: float = 10.0
    #: more names a server without a token answers to (besides localhost, 127.0.0.1, [::1], ``host`` and the
    #: host of ``node_url``): host names or addresses without a port, ``*.lan`` for a domain, ``*`` for any name;
    #: in the variable, separated by commas (see docs/serve.md, "Trust boundaries")
    allowed_hosts: tuple[str, ...] = ()
    #: how many seconds an answer's own time may be after the server's time and still be taken (a device clock
    #: that runs fast); a time later than that is refused (422)
    clock_skew_seconds: float = CLOCK_SKEW_SECONDS

    def __post_init__(self) -> None:
        if not isinstance(self.db, str) or not self.db:
            raise ConfigError(f"db must be a SQLite file path or a database URL, got {self.db!r}")
        if self.admin_token is not None and not isinstance(self.admin_token, str):
            raise ConfigError("admin_token must be a string")
        if self.admin_token == "":
            object.__setattr__(self, "admin_token", None)
        if self.admin_token is not None and self.admin_token != self.admin_token.strip():
            # the server trims the token a request sends, so nobody could ever authenticate with this one
            raise ConfigError("admin_token has spaces at its start or end, which no request can send; remove them")
        whole("port", self.port)
        if self.port > 65535:
            raise ConfigError(f"port must be at most 65535, got {self.port}")
        whole("checkpoint_every", self.checkpoint_every, minimum=0)
        whole("recent_ids", self.recent_ids)
        whole("max_body_bytes", self.max_body_bytes, minimum=1024)
        whole("max_tasks", self.max_tasks)
        whole("max_policy_tasks", self.max_policy_tasks)
        whole("cache_size", self.cache_size)
        whole("max_bulk", self.max_bulk)
        if self.node_url == "":
            object.__setattr__(self, "node_url", None)
        if self.node_url is not None and not _relay_url(self.node_url):
            # (the relays between processes speak plain HTTP: an https:// URL made every relay fail with a 503)
            raise ConfigError(f"node_url must be the http://host:port URL other processes reach this one at "
                              f"(plain HTTP, on the internal network), got {self.node_url!r}")
        if not (isinstance(self.lease_seconds, (int, float)) and not isinstance(self.lease_seconds, bool)
                and 0.5 <= self.lease_seconds <= 3600):
            raise ConfigError(f"lease_seconds must be seconds in [0.5, 3600], got {self.lease_seconds!r}")
        if not (isinstance(self.clock_skew_seconds, (int, float)) and not isinstance(self.clock_skew_seconds, bool)
                and 0 <= self.clock_skew_seconds <= MAX_CLOCK_SKEW_SECONDS):
            raise ConfigError(f"clock_skew_seconds must be seconds in [0, {MAX_CLOCK_SKEW_SECONDS:g}] (how far an "
                              f"answer's time may be after the server's), got {self.clock_skew_seconds!r}")
        hosts = self.allowed_hosts
        if isinstance(hosts, str):
            hosts = hosts.split(",")
        if not isinstance(hosts, (list, tuple)):
            raise ConfigError(f"allowed_hosts must be a list of host names, got {hosts!r}")
        object.__setattr__(self, "allowed_hosts", tuple(dict.fromkeys(
            host_name(h, "allowed_hosts") for h in hosts if not isinstance(h, str) or h.strip())))
        mode = {True: "always", False: "never"}.get(self.teacher_threads, self.teacher_threads)  # type: ignore[call-overload]
        if mode not in ("auto", "always", "never"):
            raise ValueError(f"teacher_threads must be 'auto', 'always' or 'never', got {self.teacher_threads!r}")
        object.__setattr__(self, "teacher_threads", mode)
        if self.switch_interval is not None and not (isinstance(self.switch_interval, (int, float))
                                                     and 0 < self.switch_interval < 1):
            raise ConfigError(f"switch_interval must be seconds in (0, 1), got {self.switch_interval!r}")
        for name in ("durable_proposals", "lean", "freeze_gc"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, flags: Mapping[str, str] | None = None,
                 **explicit: Any) -> ServeSettings:
        """Settings from ``MAGISTER_*`` variables, with ``explicit`` values (not ``None``) taking precedence.

        A refused value read from a variable is named by its variable; ``flags`` names the explicit ones the way the
        caller took them (``{"allowed_hosts": "--allow-host"}``: ``magister serve``'s options), the setting's own
        name otherwise."""
        env = os.environ if environ is None else environ
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(explicit) - set(known))
        if unknown:
            raise ConfigError(f"unknown service setting(s) {unknown}; known: {sorted(known)}")
        values: dict[str, Any] = {}
        for name, var in ENV.items():
            text = env.get(var, "").strip()
            if text:
                values[name] = _parse(var, known[name].type, text)
        from_env = set(values)
        values.update({k: v for k, v in explicit.items() if v is not None})
        try:
            return cls(**values)
        except ValueError as e:
            # a value read from a variable that parses but is out of range: name the variable, not the field
            for name in sorted(from_env - {k for k, v in explicit.items() if v is not None}):
                try:
                    cls(**{name: values[name]})
                except ValueError as alone:
                    raise type(alone)(f"{ENV[name]}: {alone}") from None
            flags = flags or {}
            for name in sorted(set(flags) & {k for k, v in explicit.items() if v is not None}):
                try:
                    cls(**{name: values[name]})
                except ValueError as alone:  # "allowed_hosts must be ..." -> "--allow-host must be ..."
                    text, flag = str(alone), flags[name]
                    raise type(alone)(flag + text[len(name):] if text.startswith(f"{name} ") else f"{flag}: {text}"
                                      ) from None
            raise e

    def with_(self, **changes: Any) -> ServeSettings:
        return replace(self, **changes)


def _relay_url(url: Any) -> bool:
    """Whether ``url`` is one the relays between processes can reach (``http://host[:port][/path]``)."""
    if not isinstance(url, str) or not url.startswith("http://"):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        return False
    return bool(parts.hostname)


def _parse(var: str, kind: Any, text: str) -> Any:
    kind = str(kind)
    if kind.startswith("bool"):
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{var} must be 1 or 0 (true/false), got {text!r}")
    if kind.startswith("int"):
        try:
            return int(text.replace("_", ""))
        except ValueError:
            raise ValueError(f"{var} must be a whole number, got {text!r}") from None
    if kind.startswith("float"):
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{var} must be a number, got {text!r}") from None
    return text
