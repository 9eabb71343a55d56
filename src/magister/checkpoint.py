"""Saving and loading state: one file format, atomic writes, clear errors.

A *state* is a nested structure of dicts (string keys), lists, strings,
numbers, booleans, ``None`` and numpy arrays. It is stored as a zip archive
(numpy's ``.npz``) holding one JSON document for the structure and one entry
per array, so every float comes back bit for bit.

Writes go to a temporary file in the same folder, are flushed to disk, then
renamed over the target: a crash leaves either the old file or the new one,
never a torn one. Reading a file that is not a magister checkpoint, is
truncated, or was written by a newer format raises :class:`CheckpointError`
saying which file and what is wrong.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import stat
import tokenize
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, cast

import numpy as np

from .errors import CheckpointError, MagisterError, reworded

FORMAT = "magister-state"
VERSION = 1
_META = "__magister_meta__"


def states_equal(a: Any, b: Any) -> bool:
    """Deep equality of two state dicts (arrays compared exactly, NaN equal to NaN)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
            return False
        if a.dtype.kind in "fc":
            return bool(np.array_equal(a, b, equal_nan=True))
        return bool(np.array_equal(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(states_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(states_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return type(a) is type(b) and a == b or (isinstance(a, (int, float)) and isinstance(b, (int, float)) and a == b
                                              and not isinstance(a, bool) and not isinstance(b, bool))


def _kind(v: Any) -> str:
    """What a state value is, as far as a checkpoint cares: a number (int and float alike: a JSON or numpy round
    trip may turn one into the other), a bool, a string, None, a dict, a sequence, or something else."""
    if isinstance(v, np.ndarray) and v.ndim == 0:
        v = v.item()
    if isinstance(v, (bool, np.bool_)):
        return "bool"
    if isinstance(v, (int, float, np.integer, np.floating)):
        return "number"
    if isinstance(v, (str, np.str_)):
        return "string"
    if v is None:
        return "None"
    if isinstance(v, dict):
        return "dict"
    if isinstance(v, (list, tuple, np.ndarray)):
        return "sequence"
    return type(v).__name__


_ARRAY_KINDS = {"b": "bool", "i": "number", "u": "number", "f": "number", "U": "string", "S": "string"}
_EXPECTED = {"bool": "True or False", "number": "a number", "string": "a string", "None": "None",
             "dict": "a dict", "sequence": "a list"}


def state_difference(saved: Any, taken: Any, where: str = "state", *, exact: bool = True) -> str | None:
    """Where ``taken`` (what an object gives back from its state after loading ``saved``) is not ``saved``, as
    ``"where: what"``; None when it is. A number must stay a number (int or float), a bool a bool, a string a
    string, a dict keep the saved keys, a list or array its length or shape; with ``exact`` (the default) values
    must be equal too (NaN equal to NaN). ``exact=False`` compares only the kinds of the entries both hold (for a
    state loaded into an object with other settings on purpose, which may adapt it, or drop entries). Entries
    ``taken`` has and ``saved`` lacks are not differences (an older state without an entry, which the object fills
    in)."""
    ka, kb = _kind(saved), _kind(taken)
    if ka != kb:
        want = _EXPECTED.get(kb, f"a {kb}")
        if isinstance(taken, np.ndarray) and taken.ndim > 1:
            want = f"an array of shape {np.shape(taken)}"
        elif kb == "sequence" and exact:
            want = f"a list of {len(taken)}"
        return f"{where}: saved {saved!r:.60} ({type(saved).__name__}), expected {want}"
    if ka == "dict":
        for k, v in saved.items():
            if k not in taken:
                if not exact:
                    continue
                return f"{where}.{k}: saved, but no entry of this state (it was left unread)"
            found = state_difference(v, taken[k], f"{where}.{k}", exact=exact)
            if found:
                return found
        return None
    if ka == "sequence":
        if isinstance(saved, np.ndarray) and isinstance(taken, np.ndarray) and saved.dtype != object \
                and taken.dtype != object:
            sk, tk = _ARRAY_KINDS.get(saved.dtype.kind, str(saved.dtype)), _ARRAY_KINDS.get(taken.dtype.kind, str(taken.dtype))
            if sk != tk:
                return f"{where}: saved an array of {saved.dtype} (shape {saved.shape}), expected an array of {tk}s"
            if not exact:
                return None
            if saved.shape != taken.shape:
                return f"{where}: saved an array of shape {saved.shape}, expected shape {taken.shape}"
            differ = np.asarray(saved != taken)
            if sk == "number":
                differ &= ~(np.isnan(saved) & np.isnan(taken))
            if differ.any():
                at = tuple(int(j) for j in np.argwhere(differ)[0])
                return f"{where}{list(at)}: saved {saved[at].item()!r}, which was taken as {taken[at].item()!r}"
            return None
        a = saved.tolist() if isinstance(saved, np.ndarray) else saved
        b = taken.tolist() if isinstance(taken, np.ndarray) else taken
        if exact and len(a) != len(b):
            return f"{where}: saved {len(a)} entries, expected {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            found = state_difference(x, y, f"{where}[{i}]", exact=exact)
            if found:
                return found
        return None
    if exact and not (saved == taken or (ka == "number" and saved != saved and taken != taken)):
        return f"{where}: saved {saved!r:.60}, which was taken as {taken!r:.60}"
    return None


def _pack(obj: Any, arrays: dict[str, np.ndarray], where: str) -> Any:
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, float)):
        return obj
    if isinstance(obj, np.generic):
        return _pack(obj.item(), arrays, where)
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            raise CheckpointError(f"state entry {where} is an object array, which cannot be saved safely")
        key = f"a{len(arrays)}"
        arrays[key] = obj
        return {"__ndarray__": key}
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise CheckpointError(f"state entry {where} has a non-string key {k!r}")
            out[k] = _pack(v, arrays, f"{where}.{k}")
        return {"__dict__": out} if "__ndarray__" in out or "__dict__" in out or "__tuple__" in out else out
    if isinstance(obj, tuple):
        return {"__tuple__": [_pack(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_pack(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]
    raise CheckpointError(
        f"state entry {where} is a {type(obj).__name__}, which a checkpoint cannot hold; "
        "use numbers, strings, lists, dicts or numpy arrays"
    )


def _unpack(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"__ndarray__"}:
            return arrays[obj["__ndarray__"]]
        if set(obj) == {"__tuple__"}:
            return tuple(_unpack(v, arrays) for v in obj["__tuple__"])
        if set(obj) == {"__dict__"}:
            obj = obj["__dict__"]
        return {k: _unpack(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unpack(v, arrays) for v in obj]
    return obj


def _read_entry(archive: zipfile.ZipFile, key: str) -> np.ndarray:
    """Entry ``key`` of an npz archive, read whole. ``NpzFile[key]`` reads an entry only as far as its header
    says, and zipfile checks an entry's CRC only once it is read to its end: a damaged header announcing a
    smaller array loaded a different state without a word."""
    name = f"{key}.npy" if f"{key}.npy" in archive.NameToInfo else key  # as NpzFile names its entries
    with archive.open(name) as f:  # streamed as NpzFile reads it (reading the entry into bytes first cost a copy)
        array = np.lib.format.read_array(f, allow_pickle=False)
        extra = len(f.read())  # then to the entry's end: its CRC is checked
    if extra:
        raise ValueError(f"entry {key!r} holds {extra} bytes past its array")
    return array


def dumps(state: dict[str, Any]) -> bytes:
    """Serialise a state to bytes (the same format as :func:`save_state`)."""
    arrays: dict[str, np.ndarray] = {}
    tree = _pack(state, arrays, "state")
    meta = json.dumps({"format": FORMAT, "version": VERSION, "state": tree}, allow_nan=True)
    buf = io.BytesIO()
    entries: dict[str, Any] = {_META: np.frombuffer(meta.encode("utf-8"), dtype=np.uint8), **arrays}
    np.savez_compressed(buf, **entries)
    return buf.getvalue()


def loads(data: bytes, source: str = "checkpoint") -> dict[str, Any]:
    """Read bytes written by :func:`dumps`; raise :class:`CheckpointError` if they are not."""
    if not isinstance(data, (bytes, bytearray, memoryview)):  # a path, or None, is not a checkpoint's bytes
        raise CheckpointError(f"{source} must be the bytes of a checkpoint (what to_bytes() returns), got "
                              f"{type(data).__name__}; to read a checkpoint file use magister.load(path)")
    head = bytes(data[:6])
    if not head.startswith(b"PK") and not head.startswith(b"\x93NUMPY"):
        # neither a zip archive nor a numpy array: np.load takes it for a pickle and its message advised
        # loading the file "unsafely using the allow_pickle= keyword", a fix that does not apply (and is unsafe)
        raise CheckpointError(f"{source} is corrupt or not a magister checkpoint (a checkpoint is a zip archive, "
                              f"this starts with {head!r}); load the file that Teacher.save or save_state wrote, "
                              "or restore it from a backup")
    try:
        z = np.load(io.BytesIO(data), allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):  # a lone .npy array: np.load returns it, not an archive
            raise CheckpointError(f"{source} is not a magister checkpoint (a single numpy array, not a checkpoint "
                                  "archive); load the file that Teacher.save or save_state wrote")
        with z:
            if _META not in z.files:
                raise CheckpointError(f"{source} is not a magister checkpoint (no metadata entry)")
            archive = cast(zipfile.ZipFile, z.zip)  # open until the with ends
            entries = {k: _read_entry(archive, k) for k in z.files}
            meta = json.loads(entries.pop(_META).tobytes().decode("utf-8"))
            arrays = entries
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, UnicodeDecodeError, zlib.error,
            NotImplementedError, RuntimeError, tokenize.TokenError) as e:
        # zlib.error: damaged compressed data; NotImplementedError: a damaged zip header; RuntimeError: a damaged
        # flag that marks an entry encrypted; tokenize.TokenError: an array header with unbalanced brackets
        raise CheckpointError(
            f"{source} is corrupt or not a magister checkpoint ({type(e).__name__}: {e}); "
            "restore it from a backup or start from an earlier checkpoint"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{source} is not a magister checkpoint")
    version = meta.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:  # (True, 0: no version written)
        raise CheckpointError(f"{source} has no valid format version ({version!r}): it is corrupt or not a magister "
                              "checkpoint; restore it from a backup or start from an earlier checkpoint")
    if version > VERSION:
        raise CheckpointError(
            f"{source} has format version {version!r}; this magister reads up to {VERSION}: upgrade magister"
        )
    try:
        return _unpack(meta["state"], arrays)
    except (KeyError, TypeError) as e:  # a damaged entry name: the structure names an array the file lacks
        raise CheckpointError(
            f"{source} is corrupt (missing entry {e}); restore it from a backup or start from an earlier checkpoint"
        ) from None


def _new_temp(folder: Path, name: str) -> tuple[int, str]:
    """A new temporary file beside the target, opened for writing. Created with mode 0o666 less the umask like any
    file ``open`` creates (``tempfile.mkstemp`` makes it 0o600, so every checkpoint ended readable by its owner
    only, also one written over a file others could read). The target's name is shortened in it if need be: a
    name near the 255-byte limit made the temporary name too long, so such a file could not be saved at all."""
    stem = name
    while len(os.fsencode(stem)) > 200:  # (bytes, not characters: the limit is in bytes)
        stem = stem[:-1]
    for _ in range(100):
        tmp = str(folder / f".{stem}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file beside {str(folder / name)!r}")


def _special_kind(mode: int) -> str | None:
    """What a file of ``mode`` (``os.lstat``'s) is when it is neither a plain file, a folder nor a link, else None."""
    for test, kind in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return None


def atomic_write(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that a crash never leaves a torn file."""
    if not isinstance(path, (str, os.PathLike)):  # Path() raised "expected str, bytes or os.PathLike object"
        raise CheckpointError(f"a checkpoint file's path must be a str or a path, got {type(path).__name__}; pass the "
                              "path of the file to write, such as 'teacher.ckpt' (to_bytes() gives the bytes "
                              "instead); nothing was written")
    text = os.fspath(path)
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():  # os.replace failed naming the temporary file ("Is a directory: '.x.tmp' -> 'dir'")
        raise IsADirectoryError(f"cannot write {str(path)!r}: it is a folder; give a file path inside it, such as "
                                f"{str(path / 'teacher.mg')!r}")
    # a path ending in a separator ("runs/", a folder not made yet) wrote a file named "runs" (Path drops the "/"),
    # and the next save into runs/ failed on it
    if isinstance(text, str) and text.endswith(tuple(sep for sep in (os.sep, os.altsep) if sep)):
        raise IsADirectoryError(f"cannot write {text!r}: a path ending in {text[-1]!r} names a folder, not a file; "
                                f"give a file path inside it, such as {str(path / 'teacher.mg')!r}; nothing was "
                                "written")
    try:  # a device, a FIFO or a socket (not a link: the link is replaced, as any file) was replaced by a plain file:
        # save("/dev/null") as root put a file in the place of the device
        kind = _special_kind(os.lstat(path).st_mode)
    except OSError:  # not there (or not reachable: the writes below say why)
        kind = None
    if kind:
        raise CheckpointError(f"cannot write {text!r}: it is {kind}, not a file, and writing it would put a plain file "
                              "in its place; give the path of a plain file (a teacher's to_bytes() gives the bytes "
                              "of a checkpoint without a file); nothing was written")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file where a folder of the path should be: mkdir said only "File exists"
        raise NotADirectoryError(f"cannot write {str(path)!r}: a part of its folder {str(folder)!r} is a file, "
                                 "not a folder") from None
    try:
        fd, tmp = _new_temp(folder, path.name)
    except OSError as e:
        if e.filename is None or Path(e.filename).parent != folder:  # (not about the temporary file)
            raise
        # the error named the temporary file (".t.mg.3f2a.tmp"), a path the caller never gave, and no fix
        raise type(e)(e.errno, f"cannot write {text!r}: no file can be created in its folder {str(folder)!r} "
                               f"({e.strerror}); give a path in a folder this user can write to. Nothing was "
                               "written") from None
    try:
        with os.fdopen(fd, "wb") as f:
            try:  # a file written over keeps its permissions, as with open(path, "wb")
                os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
            except FileNotFoundError:
                pass
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return path


def literal_text(text: Any) -> str:
    """``text`` (a label, a name) as matplotlib draws it literally: its ``$`` escaped. Two ``$`` in a name
    (``"run $1 and $2"``) made the text between them math, drawn in italics, and one that is no math
    (``"a$^$b"``) failed the whole picture with a ``ValueError`` from the math parser when it was saved."""
    return str(text).replace("$", "\\$")


def save_figure(fig: Any, path: str | os.PathLike, *, dpi: int = 110, **options: Any) -> Path:
    """Write the matplotlib figure ``fig`` as PNG (or the format of ``path``'s suffix; ``options`` go to
    ``fig.savefig``, such as ``bbox_inches="tight"``); creates the folder. The file is drawn in memory and put in
    place in one step (``atomic_write``): a Ctrl-C or a crash while drawing leaves no half-written picture.
    The one helper of every picture magister writes (bench, opponents, the benchmark scripts)."""
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix[1:] or None, dpi=dpi, **options)
    return atomic_write(path, buffer.getvalue())


def save_state(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Atomically write ``state`` to ``path``."""
    return atomic_write(path, dumps(state))


@contextmanager
def from_file(path: str | os.PathLike, kinds: tuple[type[MagisterError], ...] = (CheckpointError,)) -> Iterator[None]:
    """Around the use of a state read from ``path``: an error of ``kinds`` raised inside (a state of another
    teacher, one damaged or edited) names the file too, as the refusals of :func:`load_state` do (it said only
    "state dict for 'sec' is damaged...", not which of a run's checkpoint files). Its class stays (the data
    mixers refuse a malformed state with a ``ConfigError``)."""
    try:
        yield
    except kinds as e:
        where = f"checkpoint file {str(path)!r}"
        if where in str(e):
            raise
        raise reworded(e, f"{where}: {e}") from None


def load_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read a state written by :func:`save_state`."""
    if not isinstance(path, (str, os.PathLike)):  # Path() raised "expected str, bytes or os.PathLike object"
        fix = ("for the bytes of a checkpoint (what to_bytes() returns) use magister.loads(data)"
               if isinstance(path, (bytes, bytearray, memoryview)) else
               "for a state dict (what state_dict() returns) use magister.Teacher.from_state_dict(state), or "
               "teacher.load_state_dict(state)" if isinstance(path, dict) else "pass the path of the file")
        raise CheckpointError(f"a checkpoint file's path must be a str or a path, got {type(path).__name__}; {fix}")
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint file {str(p)!r} does not exist") from None
    except IsADirectoryError:
        raise CheckpointError(f"{str(p)!r} is a folder, not a checkpoint file") from None
    except PermissionError as e:  # (the raw PermissionError, unlike every other failure to load)
        raise CheckpointError(f"checkpoint file {str(p)!r} exists but cannot be read ({e.strerror or e}): give this "
                              "user read access to it (chmod u+r, or its owner's group) or load a readable copy") from e
    return loads(data, source=f"checkpoint file {str(p)!r}")
