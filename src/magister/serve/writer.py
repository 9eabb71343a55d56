"""The group-commit writer: one thread, a FIFO queue, one transaction per round.

It takes every write waiting (up to a cap), runs them in ONE transaction,
commits (SQLite WAL with ``synchronous=FULL``, or PostgreSQL), then wakes all
their requests, so under load many requests share one disk flush. A failing
group is retried one operation per transaction, so one bad write fails alone.

The writer keeps one connection of its own between rounds rather than taking
one from the pool each time: a checkout pings PostgreSQL (``pool_pre_ping``)
and a checkin resets the connection, which cost the database about a quarter
of its CPU per commit, and the writer thread a third of its own (measured on
PostgreSQL with a few rows per commit). After any failure that connection is
given back and the next round takes a fresh, checked one from the pool.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
from typing import Any, Callable

from sqlalchemy import insert
from sqlalchemy.engine import Connection, Engine

from .common import SHUTTING_DOWN, Unavailable

__all__ = ["GroupWriter", "InsertRows", "insert_many", "Op"]

log = logging.getLogger("magister.serve")


# ---------------------------------------------------------- group writer
Op = Callable[[Connection], Any]


class InsertRows:
    """An op that inserts rows into one table; the writer merges runs of these into one statement."""

    __slots__ = ("table", "rows")

    def __init__(self, table: Any, rows: list[dict[str, Any]]):
        self.table, self.rows = table, rows

    def __call__(self, conn: Connection) -> None:
        insert_many(conn, self.table, self.rows)


#: placeholders by DB-API parameter style, for the multi-row inserts built by hand (SQLite's sqlite3;
#: psycopg's own executemany pipelines its rows and measured faster than one long statement)
_PLACEHOLDER = {"qmark": "?"}


def insert_many(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts; each run with the same keys) as multi-row ``INSERT ... VALUES (..), (..)`` statements.

    One statement for many rows rather than one ``executemany`` step per row:
    the database driver lets go of the GIL around every step, and under load
    each time it wants it back it may wait for the event loop's whole switch
    interval, so a per-row insert of a large group stalled the writer (and,
    by forcing GIL hand-overs, the requests too). Other drivers (psycopg)
    get one ``executemany``.
    """
    if not rows:
        return
    # rows of a group need not share their keys (a proposal's event has no answer_time, an observation's has):
    # a run of rows with the same keys goes as one statement. (All rows were given the first row's columns: an
    # observation's answer_time after a proposal was dropped, and a proposal after an observation failed the
    # whole group, which then went one transaction per request.)
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i].keys() != rows[start].keys():
            _insert_same_keys(conn, table, rows[start:i])
            start = i


def _insert_same_keys(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    mark = _PLACEHOLDER.get(conn.dialect.paramstyle)
    if mark is None:
        conn.execute(insert(table), rows)
        return
    cols = list(rows[0])
    per = max(1, 900 // len(cols))  # stay under SQLite's oldest variable limit (999)
    head = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES "
    one = "(" + ", ".join([mark] * len(cols)) + ")"
    for start in range(0, len(rows), per):
        chunk = rows[start:start + per]
        sql = head + ", ".join([one] * len(chunk))
        conn.exec_driver_sql(sql, tuple(r[c] for r in chunk for c in cols))


def _run_group(conn: Connection, ops: list[Op]) -> list[Any]:
    """Run ``ops`` in order on one connection; consecutive inserts into one table go as one :func:`insert_many`."""
    results: list[Any] = []
    i = 0
    while i < len(ops):
        op = ops[i]
        if isinstance(op, InsertRows):
            j, rows = i + 1, list(op.rows)
            while j < len(ops) and isinstance(ops[j], InsertRows) and ops[j].table is op.table:  # type: ignore[union-attr]
                rows.extend(ops[j].rows)  # type: ignore[union-attr]
                j += 1
            insert_many(conn, op.table, rows)
            results.extend([None] * (j - i))
            i = j
        else:
            results.append(op(conn))
            i += 1
    return results


class GroupWriter:
    """One writer thread; every queued operation of a round commits in one transaction."""

    def __init__(self, engine: Engine, max_group: int = 1024):
        self.engine = engine
        self.max_group = max_group
        self._q: "queue.Queue[tuple[Op, concurrent.futures.Future] | None]" = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="magister-writer", daemon=True)
        self._closed = False
        # the closed check and the put as one step: a write queued by a request thread between them while the
        # server closed went in after the stop mark, and its future was never resolved (the request hung)
        self._lock = threading.Lock()
        self._conn: Connection | None = None  # the writer thread's own connection (see the module doc)
        self.commits = 0
        self.ops = 0
        self._thread.start()

    def submit(self, op: Op) -> concurrent.futures.Future:
        """Queue ``op(conn)``; the future resolves to its result once committed."""
        fut: concurrent.futures.Future = concurrent.futures.Future()
        # running from the start, so it cannot be cancelled: a request cancelled while waiting (client gone,
        # server shutting down) cancelled its future through asyncio.wrap_future, and set_result on it then
        # raised InvalidStateError in the writer thread, which died: the rest of its round was never answered
        # and every later write waited forever (the op is written all the same: the teacher has applied it)
        fut.set_running_or_notify_cancel()
        with self._lock:
            if not self._closed:
                self._q.put((op, fut))
                return fut
        fut.set_exception(Unavailable(SHUTTING_DOWN))
        return fut

    def call(self, op: Op) -> Any:
        """Submit and wait (for use outside the event loop)."""
        return self.submit(op).result()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._q.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._q.get()
            if item is None:
                break
            group = [item]
            while len(group) < self.max_group:
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                group.append(nxt)
            self._commit(group)
        self._drop_conn()

    def _drop_conn(self) -> None:
        """Give the writer's connection back to the pool (a broken one is discarded there)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - it is gone either way
                log.debug("closing the writer's connection failed", exc_info=True)

    def _commit(self, group: list[tuple[Op, concurrent.futures.Future]]) -> None:
        try:
            if self._conn is None:
                self._conn = self.engine.connect()
            conn = self._conn
            with conn.begin():
                results = _run_group(conn, [op for op, _ in group])
        except Exception:  # noqa: BLE001 - fall back to one transaction per op, so one bad op fails alone
            self._drop_conn()  # (it may be broken: the retries below take pooled, checked connections)
            if len(group) == 1:
                op, fut = group[0]
                try:
                    with self.engine.begin() as conn:
                        r = op(conn)
                except Exception as e:  # noqa: BLE001
                    log.exception("database write failed")
                    fut.set_exception(e)
                else:
                    fut.set_result(r)
                    self.commits += 1
                return
            for one in group:
                self._commit([one])
            return
        self.commits += 1
        self.ops += len(group)
        for (_, fut), r in zip(group, results):
            fut.set_result(r)
