"""What the service modules share: errors that carry an HTTP status, and strict JSON."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from ..teacher import Teacher

__all__ = ["ServiceError", "NotFound", "Conflict", "Damaged", "Invalid", "Unavailable", "Moved", "Offload",
           "SHUTTING_DOWN", "jsonable", "dumps", "gives_infos", "proposal_text", "proposal_of"]


# ----------------------------------------------------------------- errors
class ServiceError(Exception):
    """An error with an HTTP status; the message says what was wrong and how to fix it."""

    status = 400

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status

    @property
    def message(self) -> str:
        return str(self.args[0])


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Damaged(Conflict):
    """A stored curriculum no reply can carry (an earlier version stored it): every request of it but its deletion and
    its checkpoint's download is refused, naming the damage and the fix; the listing marks it."""


class Invalid(ServiceError):
    status = 422


class Unavailable(ServiceError):
    status = 503


#: the answer (503, an ``Unavailable``) to a request or a write once the service's close began (the app's lifespan
#: shutdown): retried by clients such as ``HTTPTeacher``, which a restarted server answers
SHUTTING_DOWN = ("the service is shutting down; this request was not recorded and nothing changed. Retry against "
                 "the restarted server (with the same ids).")


class Moved(ServiceError):
    """The curriculum is served by another process (it holds the lease): ``owner`` is that process's URL.

    The app forwards the request there (or answers 503 to a request that was already forwarded).
    """

    status = 421

    def __init__(self, name: str, owner: str):
        super().__init__(f"curriculum {name!r} is served by {owner}; retry there or through the load balancer")
        self.owner = owner


class Offload(Exception):
    """Raised, before anything changed, by a call made on the event loop that would block it
    (a database read, a wait for a commit): the caller runs it again in a worker thread."""


# ------------------------------------------------------------------ JSON
def jsonable(obj: Any) -> Any:
    """A strict-JSON copy: numpy arrays/scalars become lists/numbers, NaN/inf become ``None``."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "fc":
            return jsonable(obj.tolist())
        return obj.tolist()
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    return str(obj)


def dumps(obj: Any) -> str:
    """Compact strict JSON (floats round-trip exactly)."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


# ------------------------------------------------------- proposal infos
def gives_infos(teacher: Any) -> bool:
    """Whether ``teacher`` says more about its proposals than the default info (the level teachers: train or
    evaluate only, replay or new): its propose replies and log rows carry the infos (``propose_with_info``)."""
    # (getattr: a registered class need not subclass Teacher; it proposes as before, without infos)
    return getattr(type(teacher), "_propose_info", Teacher._propose_info) is not Teacher._propose_info


def proposal_text(tasks: list[Any], infos: list[dict[str, Any]] | None) -> str:
    """A propose event's logged text: the tasks (JSON list), or ``{"tasks", "infos"}`` when the teacher gives
    infos (so a retried request id answers the same infos, after a restart too)."""
    return dumps(tasks if infos is None else {"tasks": tasks, "infos": infos})


def proposal_of(text: str) -> tuple[list[Any], list[dict[str, Any]] | None]:
    """(tasks, infos or None) of a propose event's logged text (see :func:`proposal_text`)."""
    obj = json.loads(text)
    if isinstance(obj, dict):
        return obj["tasks"], obj["infos"]
    return obj, None
