"""Worker process pools that stop cleanly on Ctrl-C: :func:`run_in_pool`, the one pool of the benchmark runner,
the ``benchmarks/*.py`` scripts and the blend's parallel fit (``magister.people.blend``).

A Ctrl-C from the terminal reaches every process of the group: here it stops the running items (those not started
never start), keeps the results of those that finished (:class:`Interrupted`), and ends the workers at a second
Ctrl-C; a worker still starting holds it until it has started instead of dying with a traceback and breaking the
pool. Standard library only (a foundation: any layer may use it).
"""

from __future__ import annotations

import signal
import threading
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

__all__ = ["Interrupted", "run_in_pool"]


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run_in_pool` (a benchmark). ``records`` holds the record (result) of every job that
    finished (``None`` for the others, in the order of the jobs); ``results``, ``written`` and ``moved`` are filled in by the caller
    that kept the finished ones (the results dict, the files it wrote, if any, and a line for each earlier
    interrupted run's file it moved aside first). ``error`` is an error that came while the Ctrl-C was handled
    (also this exception's ``__cause__``), or ``None``: the Ctrl-C stops the run, the error is not hidden."""

    def __init__(self, records: list[dict[str, Any] | None], error: BaseException | None = None) -> None:
        super().__init__()
        self.records = records
        self.error = error
        self.results: dict[str, Any] | None = None
        self.written: list[str] = []
        self.moved: list[str] = []

    @property
    def finished(self) -> int:
        return sum(r is not None for r in self.records)


#: SIGINT can be blocked (held pending) per thread: POSIX; not on Windows
_CAN_BLOCK = hasattr(signal, "pthread_sigmask")
#: a Ctrl-C reached this pool worker while it started: its next item stops at once (the main process got it too)
_interrupted_at_start = False


def _note_interrupt_at_start(signum: int, frame: Any) -> None:
    global _interrupted_at_start
    _interrupted_at_start = True


@contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Hold back Ctrl-C for a short step that must not stop halfway: it is raised as the block ends, never lost
    (no ``SIG_IGN``, which lost it: another thread took it while ignored).

    SIGINT is *blocked* in this thread meanwhile, and a Python handler that only takes note replaces the one in
    place (in the main thread), so neither a Ctrl-C taken by another thread nor one pending until the mask is
    restored interrupts the step. Around ``pool.submit``, which starts the pool's workers, this also starts
    each worker with Ctrl-C blocked (it inherits this thread's mask), so a Ctrl-C while its interpreter starts
    and imports, for seconds, stays pending until :func:`_pool_init` takes note of it, instead of killing it
    with a ``KeyboardInterrupt`` traceback and breaking the pool; and a worker started but not yet known to the
    pool is never left behind (never told to stop, it hung the process at exit). In a worker, around the
    progress channel's ``put``: interrupted halfway through its first, which starts the channel's thread, the
    worker hung at exit."""
    main = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT) if main else None
    held = callable(handler)
    pressed: list[int] = []
    if held:
        signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if _CAN_BLOCK else None
    error: BaseException | None = None
    try:
        yield
    except BaseException as e:  # (the held Ctrl-C went with it, unseen: it is raised now, caused by the error)
        error = e
        raise
    finally:
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a Ctrl-C pending meanwhile goes to `pressed` now
        if held:
            signal.signal(signal.SIGINT, handler)  # (runs any handler still due before switching back)
        if pressed and callable(handler):
            try:
                handler(signal.SIGINT, None)  # as if pressed now: the default handler raises KeyboardInterrupt
            except KeyboardInterrupt as ctrl_c:
                if error is None or error is ctrl_c:
                    raise
                raise ctrl_c from error


def _pool_init(initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    """A pool worker's start: Ctrl-C ignored while it waits for an item (a Ctrl-C from the terminal reaches every
    worker, and an idle one died printing a ``KeyboardInterrupt`` traceback in the middle of the output).

    A worker started by :func:`run_in_pool` comes with Ctrl-C blocked (:func:`_ctrl_c_held`); it stays
    blocked through ``initializer``, and a Ctrl-C that came meanwhile is noted as it is unblocked here, so the
    worker's first item raises ``KeyboardInterrupt`` at once instead of running for minutes."""
    global _interrupted_at_start
    _interrupted_at_start = False
    blocked = _CAN_BLOCK and signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, ())
    # (setting SIG_IGN would discard a pending Ctrl-C unseen; an inherited SIG_IGN means Ctrl-C is not for us)
    note = blocked and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
    signal.signal(signal.SIGINT, _note_interrupt_at_start if note else signal.SIG_IGN)
    try:
        if initializer is not None:
            initializer(*initargs)
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # a pending Ctrl-C is noted here
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _pool_call(fn: Callable[..., Any], star: bool, item: Any) -> Any:
    """``fn(item)`` (``fn(*item)`` with ``star``) in a pool worker, Ctrl-C interrupting it as usual; a Ctrl-C
    that came while the worker started interrupts its first item before it begins."""
    global _interrupted_at_start
    if _interrupted_at_start:
        _interrupted_at_start = False
        raise KeyboardInterrupt
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return fn(*item) if star else fn(item)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _from_ctrl_c(error: BaseException) -> bool:
    """``error`` came while a Ctrl-C unwound: two in a row (``timeout -s INT`` sends two; a second press) can
    break ``threading``'s locks midway, the second interrupting the first one's clean-up in ``wait``, which then
    raised ``RuntimeError: release unlocked lock``. :func:`run_in_pool` then stops as for the Ctrl-C, with the
    error attached to its :class:`Interrupted` (it may be a real one: it was hidden)."""
    seen: BaseException | None = error.__context__
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__context__
    return False


def _shut_down(pool: ProcessPoolExecutor) -> bool:
    """``pool.shutdown(wait=True)``: the running items end first. A Ctrl-C while waiting for them (a second one,
    or the first for a pool that was not interrupted) stops them instead, ending the workers, and returns True:
    raised, it lost the results kept so far, and the process could hang at exit joining a worker."""
    stopped = False
    while True:
        try:
            pool.shutdown(wait=True)
            return stopped
        except KeyboardInterrupt:
            stopped = True
            for p in list((getattr(pool, "_processes", None) or {}).values()):  # (no public way before 3.14)
                p.terminate()


def run_in_pool(fn: Callable[..., Any], items: Sequence[Any], *, workers: int, context: Any = "spawn",
                initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = (),
                on_result: Callable[[int, Any], None] | None = None, tick: Callable[[], None] | None = None,
                star: bool = False) -> list[Any]:
    """``fn(item)`` (``fn(*item)`` with ``star``) for every item in a pool of ``workers`` processes; the results
    in the order of ``items``. ``on_result(index, result)`` runs here as each finishes, ``tick()`` every
    quarter second.

    At most ``workers`` items are handed to the pool at a time, so Ctrl-C stops after the running ones (a Ctrl-C
    from the terminal interrupts those too); handed out all at once, the items already queued to a worker
    still ran to the end, for minutes, before the pool shut down. Ctrl-C raises :class:`Interrupted` with the
    results of the items that finished (``None`` for the others), those that finished while the pool shut down
    included; another Ctrl-C while it waits for the running items stops those (ends the workers) instead. A
    Ctrl-C while a worker starts is held until it has started (``_ctrl_c_held``, ``_pool_init``).
    """
    import multiprocessing as mp

    ctx = mp.get_context(context) if isinstance(context, str) else context
    results: list[Any] = [None] * len(items)
    todo = iter(range(len(items)))
    running: dict[Any, int] = {}
    interrupted = False
    hidden: BaseException | None = None  # an error that came with the Ctrl-C
    pool = ProcessPoolExecutor(max_workers=min(workers, len(items)) or 1, mp_context=ctx, initializer=_pool_init,
                               initargs=(initializer, initargs))

    def hand_out() -> None:
        while len(running) < workers:
            i = next(todo, None)
            if i is None:
                return
            with _ctrl_c_held():  # (a Ctrl-C meanwhile is raised as it ends, not lost)
                running[pool.submit(_pool_call, fn, star, items[i])] = i

    try:
        try:
            hand_out()
            while running:
                done, _ = wait(running, timeout=0.25, return_when=FIRST_COMPLETED)
                if tick is not None:
                    tick()
                for f in done:
                    results[running[f]] = f.result()
                    i = running.pop(f)
                    if on_result is not None:
                        on_result(i, results[i])
                hand_out()
        except KeyboardInterrupt as e:
            interrupted = True
            if e.__cause__ is not None and not isinstance(e.__cause__, KeyboardInterrupt):
                hidden = e.__cause__  # (a step's error, a Ctrl-C held back during it: _ctrl_c_held)
        except BaseException as e:
            if not _from_ctrl_c(e):
                for f in running:
                    f.cancel()
                raise
            interrupted = True  # (it lost the finished results, and `magister bench` printed a traceback)
            hidden = e  # (and the error was dropped unseen: it may be a real one)
    finally:
        if _shut_down(pool):
            interrupted = True
    if interrupted:  # keep the items that finished, also those that ended while the pool shut down
        for f, i in running.items():
            if results[i] is None and f.done() and not f.cancelled() and f.exception() is None:
                results[i] = f.result()
        # (even when all of them did: a Ctrl-C that went on as if unpressed was lost)
        raise Interrupted(results, hidden) from hidden
    return results
