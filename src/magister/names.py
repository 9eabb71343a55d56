"""Learner names: the one rule by which two typed names are the same learner (the study app and the service).

A name is stored and compared in Unicode's composed form (NFC): "José" typed with "é" (U+00E9) and with
"e" + U+0301 (as macOS and some keyboards write it) is one learner. A name holding a format character
(Unicode category ``Cf``: a zero-width space U+200B, joiner U+200D, non-joiner U+200C, word joiner U+2060,
byte-order mark U+FEFF, soft hyphen, direction marks), which shows as nothing, is refused
(:func:`learner_form`). A history an earlier version stored under another spelling of the same name (not
composed, or with such a character in it) is found by the name written plainly: :func:`name_key` is the
same for every spelling, and a store reads the rows of every stored name with the key of the one asked for.
A name that begins or ends with white space (" ann") is refused too (:func:`refuse_spaces_around`), never
stripped: a history stored under it by an earlier version is another learner's than "ann"'s, and is found by the
name written exactly as stored (the service's export and deletion), not merged into "ann"'s.
"""

from __future__ import annotations

import unicodedata

from .errors import ConfigError

__all__ = ["learner_form", "name_key", "refuse_spaces_around", "same_learner"]


def name_key(name: str) -> str:
    """What two names are compared by: NFC, format characters (``Cf``) left out."""
    return unicodedata.normalize("NFC", "".join(ch for ch in name if unicodedata.category(ch) != "Cf"))


def same_learner(name: str, stored: list[str]) -> list[str]:
    """The names of ``stored`` that are the learner ``name`` (written in another form or not)."""
    key = name_key(name)
    return [s for s in stored if s == name or name_key(s) == key]


def refuse_spaces_around(name: str, what: str = "learner") -> str:
    """``name`` itself; a ``ConfigError`` naming it and its fix when it begins or ends with white space. Not
    stripped: the history is kept under the exact name, so " ann" would be another learner than "ann", and a
    history an earlier version stored under " ann" would be merged into ann's."""
    if name and not name.strip():
        raise ConfigError(f"{what} {name!r} is only white space; write a name")
    if name != name.strip():
        edge, where = (name[0], "begins") if name[0].isspace() else (name[-1], "ends")
        space = "a space" if edge == " " else f"the white space {edge!r}"
        raise ConfigError(f"{what} {name!r} {where} with {space}; write it without: {name.strip()!r} (the history "
                          f"is kept under the exact name, so {name!r} would be another learner than "
                          f"{name.strip()!r})")
    return name


def learner_form(name: str, what: str = "learner") -> str:
    """``name`` in the form it is stored and compared in (NFC); a format character in it is a ``ConfigError``
    naming its code point and the fix."""
    for ch in name:
        if unicodedata.category(ch) == "Cf":
            label = unicodedata.name(ch, "a format character").lower()
            plain = name_key(name)
            fix = f"write it without: {plain!r}" if plain.strip() else "write a name"
            raise ConfigError(f"{what} {name!r} contains U+{ord(ch):04X} ({label}, a format character that shows "
                              f"as nothing, so the name would read as another); {fix}")
    return unicodedata.normalize("NFC", name)
