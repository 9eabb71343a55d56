"""SQLAlchemy tables of the service's durable state.

Four tables, created and upgraded by the Alembic migrations in
``serve/migrations`` (never by ``create_all``):

* ``curricula`` - one row per named curriculum: space spec, teacher name,
  settings, the resolved seed and score range (everything needed to build the
  teacher from scratch) and, for a people policy, which clock it keeps;
* ``events`` - the ordered log of everything that changed a teacher: one row
  per proposal request (``kind="propose"``, ``k`` tasks drawn, kept as JSON for
  the dashboard) and one row per observation (``kind="observe"``, the task as
  JSON, the raw score, the optional client id, the optional time the client gave it) and one row per give-back
  (``kind="giveback"``: ``{"tasks", "infos"}`` as JSON, the number of
  outstanding proposals it dropped as ``score``); a level teacher's proposal
  row holds ``{"tasks", "infos"}``. ``batch`` is the sequence number
  of the first event of the request, so a replay calls ``observe_batch`` with
  exactly the batches the live teacher saw;
* ``checkpoints`` - teacher bytes (``Teacher.to_bytes``) and the last event
  sequence number they include;
* ``tokens`` - API tokens (only a SHA-256 hash is stored) and their scope;
* ``leases`` - with several server processes, which one serves each curriculum
  now, until when (see ``leases.py``).

The tables are plain SQLAlchemy Core ``Table`` objects: the service never
uses the ORM, whose import alone costs about a tenth of a second of CPU at
every start. Each class below only names its table as ``__table__``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

#: every table of the service (Alembic's ``target_metadata``)
metadata = MetaData()

_curricula = Table(
    "curricula", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), unique=True, nullable=False),
    Column("space", Text, nullable=False),  # JSON space spec
    Column("teacher", String(128), nullable=False),
    Column("settings", Text, nullable=False),  # JSON teacher settings
    Column("seed", BigInteger, nullable=False),
    Column("score_range", Text, nullable=False),  # JSON ScoreRange.to_dict()
    Column("created_at", Float, nullable=False),
    # the learner the curriculum belongs to (for per-learner export and deletion), if given
    Column("learner", String(128), nullable=True, index=True),
    # a people policy's clock: "server" (moved to the server's time before each request, the time logged with
    # its event) or "answers" (minutes_per_answer per answer only); NULL: a teacher without a clock, or a
    # curriculum created before this column (they keep the answer-count clock)
    Column("clock", String(16), nullable=True),
)

_events = Table(
    "events", metadata,
    Column("curriculum_id", Integer, ForeignKey("curricula.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("batch", BigInteger, nullable=False),
    Column("kind", String(8), nullable=False),  # "propose" | "observe" | "giveback"
    Column("k", Integer, nullable=True),
    Column("task", Text, nullable=False),  # JSON: a task, or the list of proposed tasks
    Column("score", Float, nullable=True),
    Column("client_id", String(128), nullable=True),
    Column("created_at", Float, nullable=False),
    # an observation's own time (unix seconds), as its client gave it (``observe(..., time=...)``: an answer made
    # offline and synced later); NULL: it happened at ``created_at``. Only a people policy on the server clock
    # takes one; its clock moves to it, live and on replay
    Column("answer_time", Float, nullable=True),
    Index("ix_events_client_id", "curriculum_id", "client_id", unique=True),
)

_checkpoints = Table(
    "checkpoints", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("curriculum_id", Integer, ForeignKey("curricula.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("seq", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("curriculum_id", "seq", name="uq_checkpoints_curriculum_seq"),
)

_leases = Table(
    "leases", metadata,
    Column("curriculum_id", Integer, ForeignKey("curricula.id", ondelete="CASCADE"), primary_key=True,
           autoincrement=False),
    Column("owner", String(64), nullable=False, index=True),  # a process's random id
    Column("url", String(512), nullable=False),  # where that process answers
    Column("expires_at", Float, nullable=False),  # unix time
)

_tokens = Table(
    "tokens", metadata,
    Column("id", String(32), primary_key=True),
    Column("digest", String(64), unique=True, nullable=False),
    Column("scope", Text, nullable=False),  # JSON list of curriculum names
    Column("label", String(200), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
)


class Base:
    """What the declarative base offered that is still used: the tables' ``metadata``."""

    metadata = metadata


class Curriculum:
    """One row per named curriculum."""

    __table__ = _curricula


class Event:
    """The ordered log of proposals and observations."""

    __table__ = _events


class Checkpoint:
    """Teacher bytes and the last event they include."""

    __table__ = _checkpoints


class Lease:
    """Which server process serves a curriculum now (several processes over one database)."""

    __table__ = _leases


class Token:
    """API tokens (a SHA-256 hash of each) and their scope."""

    __table__ = _tokens
