"""argparse helpers shared by the ``benchmarks/*.py`` scripts: a bad option is refused by argparse (its usage
line, exit 2) before any run starts, not as a traceback after minutes (or hours) of runs."""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence


def at_least(minimum: int = 1) -> Callable[[str], int]:
    """``type=`` for a whole-number option of at least ``minimum`` (seeds, workers, steps, episodes)."""

    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"takes a whole number >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return whole_number


#: the largest seed torch takes (``torch.manual_seed``, ``torch.Generator().manual_seed``): 2**64 - 1
TORCH_MAX_SEED = 2**64 - 1


def seeds_fit(ap: argparse.ArgumentParser, first: int, count: int, high: int, why: str,
              option: str = "--first-seed") -> None:
    """Refuse through argparse (exit 2, before any run) seeds ``first .. first + count - 1`` past ``high``, the
    largest seed the script's runs take (``why`` says which library stops there, as in "PPO seeds torch with the
    seed + 1, and torch's seeds end at 2**64 - 1"): such a seed failed inside its run, with that library's error,
    after the runs before it. The message names the valid range of ``option``."""
    last = first + count - 1
    if last <= high:
        return
    runs = f"runs seed {last:,}" if count == 1 else f"with {count} seeds runs seeds up to {last:,}"
    if count > high + 1:
        ap.error(f"{option} {first} {runs}, past {high:,}, the largest seed this script takes ({why}); give "
                 f"fewer seeds")
    ap.error(f"{option} {first} {runs}, past {high:,}, the largest seed this script takes ({why}); give "
             f"{option} from 0 to {high - count + 1:,}" + (f" for {count} seeds" if count > 1 else ""))


def number_in(low: float | None = None, high: float | None = None, *, low_open: bool = False,
              high_open: bool = False) -> Callable[[str], float]:
    """``type=`` for a finite number within the given bounds (seconds, fractions, minutes): the check of
    :func:`magister.settings.number`, as argparse's error."""
    from ..errors import ConfigError
    from ..settings import number

    def finite_number(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = text  # number() names it as it was given
        try:
            return number("it", value, low, high, low_open=low_open, high_open=high_open)
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e).removeprefix("it ")) from None

    return finite_number


def comma_list(item: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    """``type=`` for a comma-separated list (``1,2,4``), each item read by ``item`` (e.g. :func:`at_least`):
    an item it refuses, an empty item (``1,,4``: a typo, read as ``1,4`` without a word; one trailing comma,
    ``1,4,``, is allowed), or no item at all, is argparse's error before any run, not an error after the runs
    before it."""

    def items(text: str) -> list[Any]:
        parts = [t.strip() for t in text.split(",")]
        if len(parts) > 1 and not parts[-1]:
            parts.pop()  # one trailing comma
        if not any(parts):
            raise argparse.ArgumentTypeError(f"takes a comma-separated list, got {text!r}")
        if not all(parts):
            n = parts.index("") + 1
            raise argparse.ArgumentTypeError(f"item {n} of {text!r} is empty; separate the items with single "
                                             f"commas, as in {','.join(p for p in parts if p)!r}")
        try:
            return [item(t) for t in parts]
        except argparse.ArgumentTypeError as e:
            raise argparse.ArgumentTypeError(f"{e} (in {text!r})") from None

    return items


def blank_path(path: str | Path, option: str = "--out", give: str = "a folder for the results",
               drop: str = "for its default") -> str | None:
    """The error for a path option given as empty or blank text (``--out ""``, as an unset shell variable gives
    it), else ``None``: it read as the current folder (``Path("")`` is ``.``), or as the option left out (its
    default folder), without a word."""
    if isinstance(path, str) and not path.strip():
        return f"{option} {path!r} is {'blank' if path else 'empty'}; give {give}, or drop {option} {drop}"
    return None


def tilde_path(path: str | Path, option: str = "--out") -> str | None:
    """The error for a path option that starts with ``~`` (``--out=~/x``: the shell expands ``~`` only at the start
    of a word of its own, so the ``~`` came through as it was), else ``None``: it made a folder named ``~`` in the
    current folder. Refused rather than expanded: not every caller uses the path these helpers return."""
    text = os.fspath(path)
    if not text.startswith("~"):
        return None
    home = os.path.expanduser(text)
    fix = f"write {home!r} (--out ~/x, with a space, lets the shell expand it)" if home != text else "write the full path"
    return (f"{option} {text!r} starts with '~', which was not expanded to a home folder (the shell does that only "
            f"after a space, not after '='); {fix.replace('--out', option)}, or ./{text} for a folder named '~'")


def make_folder(path: str | Path, option: str = "--out") -> str | None:
    """Create the output folder ``path``; the error to show (``None`` when it is there now). Used before any run
    by the scripts (argparse) and by ``magister bench`` (typer): an ``--out`` that is a file, or a folder that
    cannot be created or written in, failed when the results were written, after every run; an empty one
    (:func:`blank_path`) wrote into the current folder, and one starting with ``~`` (:func:`tilde_path`) made a
    folder named ``~``."""
    blank = blank_path(path, option) or tilde_path(path, option)
    if blank is not None:
        return blank
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        return (f"{option} {str(path)!r} is a file, not a folder: cannot create the output folder there; choose a "
                "folder for the results")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return f"{option} {str(path)!r}: cannot create the output folder ({e.strerror or e}); choose another folder"
    try:  # a folder that is there but read-only passed, and the results failed to write after every run
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as e:
        return f"{option} {str(path)!r}: cannot write in the output folder ({e.strerror or e}); choose another folder"
    return None


def out_folder(ap: argparse.ArgumentParser, path: str | Path, option: str = "--out") -> Path:
    """Create the output folder now, or refuse the option through argparse (exit 2) before any run."""
    error = make_folder(path, option)
    if error is not None:
        ap.error(error)
    return Path(path)


def out_file(ap: argparse.ArgumentParser, path: str | Path, option: str = "--out", example: str = "results.json"
             ) -> Path:
    """Check an output file's place now: an ``--out`` that is a folder, or under a file, or empty, is refused before
    any run."""
    blank = blank_path(path, option, f"a file name, for example {example!r}") or tilde_path(path, option)
    if blank is not None:
        ap.error(blank)
    file = Path(path)
    # (a new folder's name ending in "/" lost the "/" to Path and became the name of the file written)
    if file.is_dir() or str(path).endswith(("/", os.sep)):
        folder = "is a folder" if file.is_dir() else f"ends in {str(path)[-1]!r}: it names a folder"
        ap.error(f"{option} {str(path)!r} {folder}; give a file name, for example {str(file / example)!r}")
    out_folder(ap, file.parent, option)
    return file


def write_atomically(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file beside it, put in place in one step: a run
    stopped while writing leaves the file as it was (an earlier run's results whole), never half-written; the
    path written."""
    # the checkpoints' writer (a temporary file of its own beside the target, removed when the write fails); by its
    # absolute name, since benchmarks/tree_args.py loads this file outside the package (beside an older magister)
    from magister.checkpoint import atomic_write

    return atomic_write(path, text.encode("utf-8"))


def nan_for_null(value: Any) -> Any:
    """What :func:`strict_json` wrote as ``null`` read back as NaN: ``value`` (a number or ``None``, or lists of
    them, however deep) with every ``None`` a NaN. For the fields of a results file that always hold numbers."""
    if value is None:
        return float("nan")
    return [nan_for_null(v) for v in value] if isinstance(value, list) else value


def strict_json(obj: Any, *, default: Callable[[Any], Any] | None = None, **dumps: Any) -> str:
    """``obj`` as strict JSON text, the one writer of every results file (``magister bench`` and the scripts in
    ``benchmarks/``): NaN and infinities (Python's, numpy's, inside arrays) are written as ``null``, numpy arrays
    and scalars as lists and numbers, and ``default`` turns any other object into one these take. Python's
    ``json`` wrote ``NaN`` and ``Infinity``, which strict readers (JavaScript's ``JSON.parse``, ``jq``, Go) refuse:
    the whole file could not be read there. ``dumps`` are ``json.dumps``'s other options (``indent``...)."""
    import json
    import math

    def finite(o: Any) -> Any:
        if isinstance(o, float):
            return o if math.isfinite(o) else None
        if isinstance(o, (str, int)) or o is None:  # (bool is an int)
            return o
        if isinstance(o, dict):
            return {k: finite(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [finite(v) for v in o]
        if type(o).__module__ == "numpy":  # an array or a numpy scalar (numpy imported only when there is one)
            import numpy as np

            if isinstance(o, np.ndarray):
                return finite(o.tolist())
            if isinstance(o, np.generic):
                return finite(o.item())
        if default is not None:
            return finite(default(o))
        raise TypeError(f"cannot write {type(o).__name__} as JSON: {o!r}")

    return json.dumps(finite(obj), allow_nan=False, **dumps)


def keep_earlier_partial(path: str | Path, echo: Callable[[str], None] = print) -> Path | None:
    """Move an earlier run's partial results file (``path``: the runs that finished before that run was stopped)
    aside to a free name beside it, ``STEM.earlier-N.SUFFIX``, saying so through ``echo``; the new path, or ``None``
    when there was none. Called before any run by every script that writes its finished runs to a partial file: a
    new run in the same ``--out`` wrote over that file, or removed it once every run had finished, without a word."""
    return keep_earlier_partials([path], echo)[0]


def keep_earlier_partials(paths: Sequence[str | Path], echo: Callable[[str], None] = print) -> list[Path | None]:
    """:func:`keep_earlier_partial` of files written together by one run (``results-interrupted.json`` and its
    ``curves-interrupted.csv``): all moved to the same ``earlier-N``, the first one free for every one of them (each
    numbered by itself, a lone earlier file of one of them paired one run's results with another run's curves)."""
    files = [Path(p) for p in paths]
    there = [p for p in files if p.is_file()]
    if not there:
        return [None] * len(files)

    def aside(path: Path, n: int) -> Path:
        return path.with_name(f"{path.stem}.earlier-{n}{path.suffix}")

    n = 1
    while any(aside(p, n).exists() or aside(p, n).is_symlink() for p in files):
        n += 1
    moved: list[Path | None] = []
    for path in files:
        if path not in there:
            moved.append(None)
            continue
        written = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(path.stat().st_mtime))
        path.rename(aside(path, n))
        echo(f"{path} holds the runs of an earlier run that was stopped (last written {written}); moved it to "
             f"{aside(path, n).name} so that this run's runs do not replace them")
        moved.append(aside(path, n))
    return moved


def quick_sets(ap: argparse.ArgumentParser, args: argparse.Namespace, options: Sequence[str]) -> None:
    """Refuse ``--quick`` beside an option it sets itself (the option was replaced without a word)."""
    given = [f"--{o.replace('_', '-')}" for o in options if getattr(args, o) != ap.get_default(o)]
    if getattr(args, "quick", False) and given:
        ap.error(f"--quick sets {', '.join(given)} itself; drop --quick or {', '.join(given)}")


def refuse_config_errors(ap: argparse.ArgumentParser, call: Callable[..., Any], *a: Any, **kw: Any) -> Any:
    """``call(*a, **kw)``, a :class:`~magister.errors.ConfigError` (an unknown teacher or student, a bad setting:
    the library checks them before any run) reported as argparse's error (exit 2), not as a traceback."""
    from ..errors import ConfigError

    try:
        return call(*a, **kw)
    except ConfigError as e:
        ap.error(str(e))


def naming_options(call: Callable[..., Any], options: Mapping[str, str]) -> Callable[..., Any]:
    """``call`` whose :class:`~magister.errors.ConfigError` names the option a setting comes from where the library
    names the setting: ``options`` maps settings to options (``{"n_train": "--n-train"}``), and an error that
    begins with a setting's name (``n_train must be a whole number >= 1``) begins with its option instead (``--n-train
    must be ...``). For :func:`refuse_config_errors`: ``refuse_config_errors(ap, naming_options(f, OPTIONS), ...)``."""
    from ..errors import ConfigError

    def named(*a: Any, **kw: Any) -> Any:
        try:
            return call(*a, **kw)
        except ConfigError as e:
            message = str(e)
            for setting, option in options.items():
                if re.match(rf"{re.escape(setting)}\b", message):
                    raise ConfigError(option + message[len(setting):]) from None
            raise

    return named


def distinct(names: Sequence[Any], option: str, ap: argparse.ArgumentParser | None = None) -> list[Any]:
    """``names`` (the teachers or methods of a run) as a list, refused when one is given twice: a repeated
    entry ran its runs again (the same seeds, the same results, twice the time) and its row was the median of
    every seed counted twice. The refusal is a :class:`~magister.errors.ConfigError` naming the repeated entries,
    or argparse's error (exit 2, before any run) when ``ap`` is given."""
    from ..errors import ConfigError

    names = list(names)
    repeated = [n for n, count in Counter(names).items() if count > 1]
    if repeated:
        error = (f"{option} names {', '.join(map(str, repeated))} more than once ({', '.join(map(str, names))}); "
                 "a repeated entry would run the same runs again: name each once")
        if ap is not None:
            ap.error(error)
        raise ConfigError(error)
    return names
