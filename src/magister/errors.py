"""Exceptions raised by magister.

Every error says what was wrong and how to fix it. All inherit from
:class:`MagisterError` so callers can catch the whole family at once, and each
also inherits from the closest built-in (``ValueError``, ``KeyError``...) so
code written against plain Python conventions keeps working.
"""

from __future__ import annotations


class MagisterError(Exception):
    """Base class of every error magister raises on purpose."""


class InvalidTaskError(MagisterError, ValueError):
    """A task is not a member of the space it was checked against."""


class UnknownTaskError(InvalidTaskError, KeyError):
    """A task name that the space does not define."""

    def __str__(self) -> str:  # KeyError would add quotes around the message
        return str(self.args[0]) if self.args else ""


class InvalidScoreError(MagisterError, ValueError):
    """A score that is NaN, infinite, or outside the declared range."""


class InvalidActionError(MagisterError, ValueError):
    """An action outside a built-in environment's action space (``CliffWalk``, ``PointGap``, ``MazeEnv``,
    ``MazeBatch`` of ``magister.rl.envs``) or a game's ``Discrete`` one (``OpponentEnv``); the message names the
    valid actions."""


class CheckpointError(MagisterError, ValueError):
    """A checkpoint file or state dict that cannot be read or does not fit."""


class ConfigError(MagisterError, ValueError):
    """A teacher, space or student built with settings that cannot work."""


class UnknownSettingError(ConfigError, TypeError):
    """A constructor given a setting it does not take (a misspelt name); a ``TypeError`` too, as Python's own."""


class SettingTypeError(ConfigError, TypeError):
    """A setting of a type it cannot be (a seed given as text); a ``TypeError`` too, as Python's own."""


def _extra_advice(what: str, extras: str, error: ImportError) -> str:
    # the missing module by name: an error that already gives this advice is not quoted inside it
    cause = f"No module named {error.name!r}" if isinstance(error, ModuleNotFoundError) and error.name else error
    return (f"{what} needs the [{extras}] extra{'s' if ',' in extras else ''}, not installed here "
            f"({cause}); install {'them' if ',' in extras else 'it'} with: pip install 'magister[{extras}]'")


def missing_extra(what: str, extras: str, error: ImportError) -> ConfigError:
    """The error for ``what`` when an optional extra is not installed (a command line prints it, no traceback)."""
    return ConfigError(_extra_advice(what, extras, error))


def missing_extra_import(what: str, extras: str, error: ImportError) -> ModuleNotFoundError:
    """The same advice raised by importing module ``what`` without its extra.

    Still an ``ImportError`` (with the missing module's ``name``), so ``except ImportError`` and
    ``pytest.importorskip`` keep working; a bare ``No module named 'gymnasium'`` did not say which extra to install.
    """
    return ModuleNotFoundError(_extra_advice(what, extras, error), name=error.name)


def reworded(error: MagisterError, message: str) -> MagisterError:
    """``error`` again with ``message`` (its own words with more added), to ``raise`` in its place.

    The same class with the same attributes, built without calling its constructor: an error class of a user's
    space may take other arguments (``type(error)(message)`` failed with a ``TypeError``) or word its message
    itself (its words came twice), and code that catches that class must still catch it. Only a class whose
    ``str()`` is not its message (its own ``__str__``) becomes the nearest magister type of ``error``, whose
    ``__cause__`` is ``error``.
    """
    cls = type(error)
    try:  # (BaseException.__new__ takes no constructor arguments and sets none of the class's own words)
        again = cls.__new__(cls)
        again.__dict__.update(error.__dict__)
        again.args = (message,)
        same = str(again) == message
    except Exception:  # noqa: BLE001 - any class of a user's
        same = False
    if same:
        again.__cause__ = error.__cause__  # (a user's error that an inner space reworded already stays the cause)
        again.__suppress_context__ = True  # (else as ``raise ... from None``: the traceback shows this error alone)
        return again
    ours = next(c for c in cls.__mro__ if c.__module__ == __name__ and issubclass(c, MagisterError))
    fallback: MagisterError = ours(message)
    fallback.__cause__ = error
    return fallback
