"""SQLAlchemy models of the service's durable state.

Four tables, created and upgraded by the Alembic migrations in
``serve/migrations`` (never by ``create_all``):

* ``curricula`` - one row per named curriculum: space spec, teacher name,
  settings, the resolved seed and score range (everything needed to build the
  teacher from scratch);
* ``events`` - the ordered log of everything that changed a teacher: one row
  per proposal request (``kind="propose"``, ``k`` tasks drawn, kept as JSON for
  the dashboard) and one row per observation (``kind="observe"``, the task as
  JSON, the raw score, the optional client id). ``batch`` is the sequence number
  of the first event of the request, so a replay calls ``observe_batch`` with
  exactly the batches the live teacher saw;
* ``checkpoints`` - teacher bytes (``Teacher.to_bytes``) and the last event
  sequence number they include;
* ``tokens`` - API tokens (only a SHA-256 hash is stored) and their scope;
* ``leases`` - with several server processes, which one serves each curriculum
  now, until when (see ``leases.py``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of the service tables."""


class Curriculum(Base):
    __tablename__ = "curricula"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    space: Mapped[str] = mapped_column(Text, nullable=False)  # JSON space spec
    teacher: Mapped[str] = mapped_column(String(128), nullable=False)
    settings: Mapped[str] = mapped_column(Text, nullable=False)  # JSON teacher settings
    seed: Mapped[int] = mapped_column(BigInteger, nullable=False)
    score_range: Mapped[str] = mapped_column(Text, nullable=False)  # JSON ScoreRange.to_dict()
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    #: the learner the curriculum belongs to (for per-learner export and deletion), if given
    learner: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)


class Event(Base):
    __tablename__ = "events"

    curriculum_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("curricula.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    batch: Mapped[int] = mapped_column(BigInteger, nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)  # "propose" | "observe"
    k: Mapped[int | None] = mapped_column(Integer, nullable=True)
    task: Mapped[str] = mapped_column(Text, nullable=False)  # JSON: a task, or the list of proposed tasks
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    client_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)

    __table_args__ = (
        Index("ix_events_client_id", "curriculum_id", "client_id", unique=True),
    )


class Checkpoint(Base):
    __tablename__ = "checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    curriculum_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("curricula.id", ondelete="CASCADE"), nullable=False, index=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)

    __table_args__ = (UniqueConstraint("curriculum_id", "seq", name="uq_checkpoints_curriculum_seq"),)


class Lease(Base):
    """Which server process serves a curriculum now (several processes over one database)."""

    __tablename__ = "leases"

    curriculum_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("curricula.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    owner: Mapped[str] = mapped_column(String(64), nullable=False, index=True)  # a process's random id
    url: Mapped[str] = mapped_column(String(512), nullable=False)  # where that process answers
    expires_at: Mapped[float] = mapped_column(Float, nullable=False)  # unix time


class Token(Base):
    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    scope: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list of curriculum names
    label: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
