"""The processes of one data-parallel job, as the data samplers see them (``torch.distributed``).

The samplers of ``magister.data`` run **replicated**: every rank holds the
same teacher (same seed), the same pools or stream positions and the same
generator, and so computes the same global batch at every step without
talking to the other ranks. A rank keeps its own contiguous block of the
global batch (:func:`rank_slice`). The only communication is at feedback time:
every rank hands its per-example values to :meth:`RankGroup.exchange`, all
ranks receive everybody's, and each one computes the same per-skill means over
the whole global batch, in the same order, so every replica of the teacher
receives bit-identical observations and stays identical.

Collectives are made safe against bad input on one rank: each rank checks its
own input first and sends either its data or its refusal; if any rank refused,
every rank raises (nothing is recorded anywhere), so one rank's error never
leaves the others waiting in a collective.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np

from ..errors import CheckpointError, ConfigError, InvalidScoreError, InvalidTaskError, MagisterError, UnknownTaskError

__all__ = ["RankGroup", "resolve_group", "rank_slice", "fingerprint"]

_ERRORS: dict[str, type[MagisterError]] = {
    cls.__name__: cls for cls in (ConfigError, InvalidScoreError, UnknownTaskError, InvalidTaskError, CheckpointError)
}


def rank_slice(batch_size: int, world_size: int, rank: int) -> tuple[int, int]:
    """Slots ``[lo, hi)`` of a global batch that ``rank`` trains on.

    Contiguous blocks in rank order; when ``world_size`` does not divide
    ``batch_size`` the first ``batch_size % world_size`` ranks get one slot more
    (the ``numpy.array_split`` rule), so local batches differ by at most one.
    """
    base, extra = divmod(batch_size, world_size)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


def fingerprint(obj: Any) -> str:
    """A digest of nested dicts, lists, arrays and scalars (exact: arrays by dtype, shape and bytes)."""
    h = hashlib.blake2b(digest_size=16)

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            h.update(b"{")
            for k in sorted(x, key=str):
                h.update(repr(k).encode())
                walk(x[k])
            h.update(b"}")
        elif isinstance(x, (list, tuple)):
            h.update(b"[")
            for v in x:
                walk(v)
            h.update(b"]")
        elif isinstance(x, np.ndarray):
            a = np.ascontiguousarray(x)
            h.update(f"a{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes() if a.dtype.kind != "O" else repr(a.tolist()).encode())
        else:
            h.update(repr(x).encode())

    walk(obj)
    return h.hexdigest()


class RankGroup:
    """One ``torch.distributed`` process group: this rank, the world size, and an exchange of Python objects."""

    def __init__(self, group: Any = None):
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            raise ConfigError("distributed=True needs an initialised torch.distributed process group; call "
                              "torch.distributed.init_process_group(...) first (torchrun and accelerate do), "
                              "or pass distributed=False")
        self.group = group
        self.rank = int(dist.get_rank(group))
        if self.rank < 0:  # torch's answer for a process outside the group: its world size is -1 too, and its
            # collectives return at once, so its sampler passed every check and drew blocks of negative size
            raise ConfigError(f"this process (rank {dist.get_rank()} of the default group) is not in the group "
                              "passed as group=; build the sampler with that group only on its members (the other "
                              "processes: their own group, or distributed=False)")
        self.world_size = int(dist.get_world_size(group))

    def exchange(self, payload: Any, error: Exception | None = None) -> list[Any]:
        """Every rank's ``payload`` in rank order, or an error raised on every rank if any rank passed one.

        Call it on every rank at the same point. A rank that found its input
        bad passes the exception instead of data: it is re-raised there, and the
        other ranks raise the same kind of error naming that rank.
        """
        import torch.distributed as dist

        local = {"error": None if error is None else (type(error).__name__, str(error)), "payload": payload}
        got: list[Any] = [None] * self.world_size
        dist.all_gather_object(got, local, group=self.group)
        bad = [(r, g["error"]) for r, g in enumerate(got) if g["error"] is not None]
        if bad:
            if error is not None:
                raise error
            r, (kind, msg) = bad[0]
            raise _ERRORS.get(kind, ConfigError)(f"rank {r} refused its part of this call, so no rank recorded "
                                                 f"anything: {msg}")
        return [g["payload"] for g in got]

    def agree(self, what: str, value: Any, fix: str, error: Exception | None = None) -> None:
        """Raise on every rank unless ``value`` (compared by :func:`fingerprint`) is the same on all ranks; a rank
        that passes an ``error`` instead (its input was bad) makes every rank raise, as in :meth:`exchange`."""
        digests = self.exchange(None if error is not None else fingerprint(value), error)
        differ = [r for r, d in enumerate(digests) if d != digests[0]]
        if differ:
            raise ConfigError(f"ranks disagree on {what} (rank {differ[0]} differs from rank 0); {fix}")


def resolve_group(distributed: bool | None, group: Any = None) -> RankGroup | None:
    """``None`` (auto): a :class:`RankGroup` when a process group of 2+ ranks is initialised (and an error when
    a launcher set ``WORLD_SIZE`` > 1 but no group exists yet); ``True``: require one; ``False``: none (every rank
    is an independent single-process sampler)."""
    if distributed is False:
        return None
    if distributed is None:
        try:
            import torch.distributed as dist
        except ImportError:  # pragma: no cover - torch is required by the samplers anyway
            return None
        if not (dist.is_available() and dist.is_initialized()):
            launched = os.environ.get("WORLD_SIZE", "1")
            if launched.isdigit() and int(launched) > 1:
                raise ConfigError(f"this process was launched as one of {launched} (WORLD_SIZE={launched}) but no "
                                  "torch.distributed process group is initialised yet, so every rank would draw the "
                                  "same batches; build the sampler after init_process_group (with Trainer: after "
                                  "TrainingArguments, which initialises it), or pass distributed=False for "
                                  "independent single-process samplers")
            return None
        ranks = RankGroup(group)
        return ranks if ranks.world_size > 1 else None
    if distributed is True:
        return RankGroup(group)
    raise ConfigError(f"distributed must be None (auto), True or False, got {distributed!r}")
