"""API tokens with per-curriculum scope.

Two kinds of caller:

* the **admin** holds the token given to the server (``--admin-token`` or the
  ``MAGISTER_ADMIN_TOKEN`` environment variable); it may do everything,
  including creating scoped tokens (``POST /v1/tokens``);
* a **scoped token** lists the curricula it may use (or ``"*"`` for all); it
  may create, use and delete those curricula, and sees only them in listings.
  Deleting a curriculum (or its learner) takes its name out of every token's
  scope in the same transaction (a token left with none is revoked), so a
  curriculum created later under that name is not reachable by tokens made
  for the old one: the admin grants it anew.
  Its scope names curricula, not learners: only the admin or a ``"*"`` token
  may attribute a curriculum to a learner (``learner`` in a create, or bulk
  creation), since a learner's curricula are exported and deleted together and
  may lie outside the token's scope.

Only a SHA-256 digest of each token is stored. A request without a valid
token gets 401. A request with a valid token for a curriculum outside its
scope gets 403 with the same words whether that curriculum exists or not, so
a token learns nothing about other curricula.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine

from .models import Token

_TOKENS = Token.__table__
PREFIX = "mgt_"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the admin, or a scoped token."""

    admin: bool
    scope: frozenset[str] = frozenset()
    token_id: str | None = None

    def allows(self, name: str) -> bool:
        return self.unrestricted or name in self.scope

    @property
    def unrestricted(self) -> bool:
        """The admin, or a token scoped to every curriculum (``"*"``): the callers that may act for any learner."""
        return self.admin or "*" in self.scope


ADMIN = Principal(admin=True)


class AuthError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class TokenStore:
    """Scoped tokens, cached in memory, stored (as digests) in the ``tokens`` table."""

    def __init__(self, engine: Engine, admin_token: str | None):
        self.engine = engine
        self._admin = digest(admin_token) if admin_token else None
        self._by_digest: dict[str, Principal] = {}
        self._lock = threading.Lock()
        #: reload the tokens when an unknown one is presented (several processes over one database)
        self.refresh_unknown = False
        self._refreshed = 0.0

    @property
    def enabled(self) -> bool:
        return self._admin is not None

    def load(self) -> None:
        # read under the lock: create and revoke change the cache under it after their commit, so a read
        # taken before their commit and assigned after it would drop a new token or bring a revoked one back
        with self._lock:
            with self.engine.connect() as conn:
                rows = conn.execute(select(_TOKENS.c.id, _TOKENS.c.digest, _TOKENS.c.scope)).all()
            self._by_digest = {d: Principal(False, frozenset(json.loads(s)), i) for i, d, s in rows}

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller behind an ``Authorization: Bearer ...`` header (401 when missing or unknown)."""
        if self._admin is None:
            return ADMIN
        if not authorization:
            raise AuthError(401, "missing API token; send the header 'Authorization: Bearer <token>'")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError(401, "malformed Authorization header; send 'Authorization: Bearer <token>'")
        d = digest(token)
        if hmac.compare_digest(d, self._admin):
            return ADMIN
        p = self._by_digest.get(d)
        if p is None and self.refresh_unknown and time.monotonic() - self._refreshed > 1.0:
            # several processes: the token may have been created through another one (at most one
            # reload a second, so unknown tokens cannot make every request read the database)
            self._refreshed = time.monotonic()
            self.load()
            p = self._by_digest.get(d)
        if p is None:
            raise AuthError(401, "invalid or revoked API token; ask the server's admin for a token")
        return p

    def create(self, scope: list[str], label: str = "") -> dict[str, Any]:
        token = PREFIX + secrets.token_urlsafe(24)
        tid = secrets.token_hex(8)
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(insert(_TOKENS).values(id=tid, digest=digest(token), scope=json.dumps(sorted(set(scope))),
                                                label=label, created_at=now))
        with self._lock:
            self._by_digest[digest(token)] = Principal(False, frozenset(scope), tid)
        return {"id": tid, "token": token, "curricula": sorted(set(scope)), "label": label, "created_at": now}

    def list(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(_TOKENS.c.id, _TOKENS.c.scope, _TOKENS.c.label, _TOKENS.c.created_at)
                                .order_by(_TOKENS.c.created_at)).all()
        return [{"id": i, "curricula": json.loads(s), "label": lab, "created_at": float(t)} for i, s, lab, t in rows]

    def revoke(self, token_id: str) -> bool:
        with self.engine.begin() as conn:
            row = conn.execute(select(_TOKENS.c.digest).where(_TOKENS.c.id == token_id)).first()
            if row is None:
                return False
            conn.execute(delete(_TOKENS).where(_TOKENS.c.id == token_id))
        with self._lock:
            self._by_digest.pop(row[0], None)
        return True

    def forget(self, names: list[str], conn: Connection | None = None) -> int:
        """Take ``names`` out of every token's scope (a token left with none is revoked); returns tokens changed.

        For a deleted curriculum, or a learner's deletion: a name that no longer names a curriculum stays in
        no scope, so a curriculum created later under that name is not reachable by tokens made for the old
        one. With ``conn``, the change is made in that transaction (the deleting one: the curricula and their
        names in scopes go together or not at all) and the caller calls :meth:`forget_cached` once it
        committed; without, in a transaction of its own, and the cache follows at once.
        """
        if conn is None:
            with self.engine.begin() as own:
                changed = self.forget(names, own)
            self.forget_cached(names)
            return changed
        gone = set(names)
        changed = 0
        # only the tokens whose stored scope mentions a name are read (the database scans the table, not this
        # thread: it runs in the writer's transaction, which every write waits for); the JSON check is exact
        hits: dict[str, str] = {}
        ordered = sorted(gone)
        for start in range(0, len(ordered), 100):
            mentions = or_(*[_TOKENS.c.scope.contains(json.dumps(n), autoescape=True)
                             for n in ordered[start:start + 100]])
            hits.update((tid, text) for tid, text in conn.execute(select(_TOKENS.c.id, _TOKENS.c.scope).where(mentions)))
        for tid, scope_text in hits.items():
            scope = json.loads(scope_text)
            if not gone.intersection(scope):
                continue
            rest = [n for n in scope if n not in gone]
            if rest:
                conn.execute(update(_TOKENS).where(_TOKENS.c.id == tid).values(scope=json.dumps(rest)))
            else:
                conn.execute(delete(_TOKENS).where(_TOKENS.c.id == tid))
            changed += 1
        return changed

    def forget_cached(self, names: list[str]) -> None:
        """What :meth:`forget` did to the table, done to the tokens in memory (no database read)."""
        gone = set(names)
        with self._lock:
            for d, p in list(self._by_digest.items()):
                if gone.intersection(p.scope):
                    rest = p.scope - gone
                    if rest:
                        self._by_digest[d] = Principal(False, rest, p.token_id)
                    else:
                        del self._by_digest[d]
