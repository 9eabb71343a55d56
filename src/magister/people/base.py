"""The learner-model protocol and a small registry of models by name.

Every learner model answers the same questions::

    model.fit(log)                            # learn parameters from an EventLog
    model.predict(learner, item, time=None)   # P(correct) now, before the answer
    model.update(event)                       # take one answer online
    model.state(learner)                      # {skill: {"mastery": ..., ...}}
    model.save(path); LearnerModel.load(path) # through magister.checkpoint

Parameters (what ``fit`` learns) and per-learner state (what ``update``
changes) are kept apart: :meth:`LearnerModel.reset` forgets the learners and
keeps the parameters, which is how the replay evaluator starts a fresh fold.
Models are built from a name and a JSON-able settings dict
(:func:`make_model`), so a teacher that owns one can be checkpointed.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np

from .. import checkpoint
from ..errors import CheckpointError, ConfigError, MagisterError
from ..settings import held, is_int, reading_saved, saved_settings
from .events import Event, EventLog, skill_names

__all__ = ["LearnerModel", "register_model", "make_model", "available_models", "load_model"]

_MODELS: dict[str, type["LearnerModel"]] = {}


def register_model(name: str):
    """Class decorator: make a learner model available to :func:`make_model` by ``name``."""

    def deco(cls: type["LearnerModel"]) -> type["LearnerModel"]:
        cls.name = name
        _MODELS[name] = cls
        return cls

    return deco


def available_models() -> list[str]:
    """Names of the registered learner models (the package's ``__init__`` imports the built-in ones)."""
    return sorted(_MODELS)


def make_model(name: str, **settings: Any) -> LearnerModel:
    """Build a learner model by name: ``make_model("bkt", forgets=True)``."""
    available_models()
    if not isinstance(name, str):  # a list raised "unhashable type", an array numpy's "truth value is ambiguous"
        raise ConfigError(f"a learner model is named by a string, got {type(name).__name__} {name!r:.60}; "
                          f"available: {', '.join(sorted(_MODELS))}")
    try:
        cls = _MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown learner model {name!r}; available: {', '.join(sorted(_MODELS))}") from None
    try:
        return cls(**settings)
    except TypeError as e:
        raise ConfigError(f"bad settings for learner model {name!r}: {e}") from None


@contextmanager
def reading_setting(model: str, name: str, value: Any, wants: str) -> Iterator[None]:
    """Run a model constructor's own check of setting ``name`` (its ``int()`` / ``float()`` and comparisons), a
    ``ConfigError`` naming the setting where Python or numpy raises (``C="x"``: "could not convert string to float",
    ``epochs=inf``: "cannot convert float infinity to integer", a raw ``ValueError`` / ``OverflowError`` that
    ``make_model`` passed on, as it does not a ``TypeError``). What the check took before is taken as before."""
    try:
        yield
    except MagisterError:
        raise
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{model} {name} must be {wants}, got {type(value).__name__} {value!r:.60}") from None


def new_number(model: str, name: str, value: Any, wants: str, *, whole: bool = False, none: bool = False,
               finite: bool = True, low: float | None = None, high: float | None = None) -> None:
    """Refuse, as a ``ConfigError`` naming setting ``name`` and ``wants``, a number setting given anew that is no
    real number (a 0-d numpy array is the number it holds): text (``"0.1"``, which ``float()`` read as a number), a
    bool (read as 0 or 1), ``None`` (unless ``none``); with ``whole``, one that is not a whole number (``2.5``,
    which ``int()`` cut to 2; a whole float such as ``20.0`` is taken); NaN and, unless ``finite=False``, infinity;
    and one outside ``low`` .. ``high``. A model rebuilt from a saved state (``magister.settings.reading_saved``: a
    model file, a checkpoint) is not checked here: such files were saved by a magister that took these values, and
    load as they ran."""
    value = held(value)  # (a 0-d array is the number it holds, as every setting check of magister reads it)
    if reading_saved() or value is None and none:
        return
    ok = not isinstance(value, (bool, np.bool_, np.timedelta64)) \
        and isinstance(value, (int, float, np.integer, np.floating))
    if ok and not isinstance(value, (int, np.integer)):
        ok = (math.isfinite(value) or not finite and not math.isnan(value)) \
            and (not whole or float(value).is_integer())
    if ok and (low is not None and value < low or high is not None and value > high):
        ok = False
    if not ok:
        raise ConfigError(f"{model} {name} must be {wants}, got {type(value).__name__} {value!r:.60}")


#: settings magister up to ed316be read loosely, and recorded as given: flags with ``bool()`` (``graded=1`` ran
#: graded, ``"no"`` too) and BKT's probabilities with ``float()`` (``prior="0.3"``). They are checked now; a model or
#: policy saved with them is rebuilt as it ran (:func:`stored_settings`)
_LOOSE_FLAGS = ("graded", "forgets", "per_skill", "first_answer", "refit", "grades_from_scores")
_LOOSE_NUMBERS = {"bkt": ("prior", "learn", "guess", "slip", "forget")}


def stored_settings(name: Any, settings: dict[str, Any]) -> dict[str, Any]:
    """The saved ``settings`` of learner model ``name`` as the magister that saved them read them: a flag an
    earlier version took as any value (read with ``bool()``) is that bool, a BKT probability saved as text its
    number, a blend's members alike. New settings are checked as given (:func:`make_model`): this is for saved
    models and policies only, which ran with what those versions made of the values."""
    out = dict(settings)
    for k in _LOOSE_FLAGS:
        if k in out and not isinstance(out[k], (bool, np.bool_)):
            out[k] = bool(out[k])
    for k in _LOOSE_NUMBERS.get(name, ()) if isinstance(name, str) else ():
        if isinstance(out.get(k), (str, bool, np.bool_)):
            try:
                out[k] = float(out[k])
            except ValueError:  # (refused then too: left for the check to name)
                pass
    if name == "blend" and isinstance(out.get("members"), (list, tuple)):
        out["members"] = [[m[0], stored_settings(m[0], m[1])]
                          if isinstance(m, (list, tuple)) and len(m) == 2 and isinstance(m[1], dict) else m
                          for m in out["members"]]
    return out


def stored_state(state: Any) -> Any:
    """A saved learner-model state (:meth:`LearnerModel.get_state`) with its settings, and a blend's members',
    read by :func:`stored_settings`: as :meth:`LearnerModel.get_state` gives them back once it is loaded."""
    if not isinstance(state, dict) or not isinstance(state.get("settings"), dict):
        return state
    out = {**state, "settings": stored_settings(state.get("model"), state["settings"])}
    params = out.get("params")
    if out.get("model") == "blend" and isinstance(params, dict) and isinstance(params.get("members"), list):
        out["params"] = {**params, "members": [stored_state(m) for m in params["members"]]}
    return out


#: what the models read of an answer and of a log: an object without them is refused (:func:`_checking_input`)
_EVENT_FIELDS = ("learner", "item", "skills", "timestamp", "outcome")
_LOG_FIELDS = ("learners", "items", "skills", "learner", "item", "skill", "time", "outcome", "graded")


def _check_input(model: LearnerModel, method: str, value: Any) -> None:
    """Refuse, as a :class:`~magister.errors.ConfigError`, an answer that is no :class:`Event` (``update``) or a log
    that is no :class:`EventLog` (``fit``, ``replay``): a dict, a list or ``None`` raised a raw ``AttributeError``
    from inside the model, after some (e.g. the learner's code) had been taken. An object with every field the
    models read is taken as before."""
    event = method == "update"
    kind, fields = (Event, _EVENT_FIELDS) if event else (EventLog, _LOG_FIELDS)
    if isinstance(value, kind) or all(hasattr(value, f) for f in fields):
        return
    got = f"{type(value).__name__} {value!r:.60}"
    if event:
        fix = ("build it with Event(**answer)" if isinstance(value, Mapping) else
               "give one Event per call (several: EventLog.from_events(events) and replay)"
               if isinstance(value, (list, tuple)) else "build it with Event(learner, item, skills, timestamp, outcome)")
        raise ConfigError(f"{model.name}.update takes one answer as a magister.people.Event, got {got}; {fix}")
    fix = ("build it with EventLog.from_events(events)" if isinstance(value, (list, tuple)) else
           "build it with EventLog.from_events, or load one (load_assist2015, load_anki)")
    raise ConfigError(f"{model.name}.{method} takes a magister.people.EventLog, got {got}; {fix}")


def _checking_input(method: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (a model's ``update``, ``fit`` or ``replay``) with its argument checked first (:func:`_check_input`)."""

    @functools.wraps(fn)
    def checked(self: LearnerModel, value: Any, *args: Any, **kwargs: Any) -> Any:
        _check_input(self, method, value)
        return fn(self, value, *args, **kwargs)

    checked._checks_input = True  # type: ignore[attr-defined]
    return checked


class LearnerModel:
    """Base class. Subclasses implement the hooks below; names are mapped to codes here."""

    name: ClassVar[str] = "model"
    #: the version of the state :meth:`save` writes (its ``state_version`` entry, beside :meth:`get_state`'s). 2: the
    #: settings are read as :func:`make_model` checks them (``graded="no"`` is refused, not read as True) and the
    #: loaded model must give back the state saved (:func:`magister.checkpoint.state_difference`). A state without
    #: it is version 1 (every file saved before it existed, some by magister up to ed316be, which read flags with
    #: ``bool()``): read as those ran it (:func:`stored_state`). Raise it when a saved state comes to mean something
    #: else, and convert the older ones in :meth:`from_state`; a state of a newer version is refused
    state_version: ClassVar[int] = 2
    #: what the model predicts: "correct" (0/1 answers) or "recall" (graded reviews)
    target: ClassVar[str] = "correct"
    #: whether :meth:`mastery` is the predicted P(correct) on the skill next (else, e.g. BKT's P(known))
    mastery_is_p_correct: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # every model's (and a user's model's) update / fit / replay checks its argument's type first
        for method in ("update", "fit", "replay"):
            fn = vars(cls).get(method)
            if fn is not None and not getattr(fn, "_checks_input", False):
                setattr(cls, method, _checking_input(method, fn))

    def __init__(self, **settings: Any):
        self.settings = dict(settings)
        self._learners: dict[str, int] = {}
        self._items: dict[str, int] = {}
        self._skills: dict[str, int] = {}
        self._item_skill: dict[int, int] = {}
        # items only asked about with no skills (predict and the like) and never answered: the skill named after the
        # item is a stand-in, which the first use that gives the item a skill replaces (nothing was observed on it)
        self._guessed_items: set[int] = set()
        # skills created as such a stand-in: one whose item was given another skill since has no items and nothing
        # observed on it, and is left out of state() and the skill listings (_hidden_skills). Its code stays: codes
        # index every model's per-skill arrays (BKT's parameters and per-learner mastery, Best-LR's weights and
        # counts, Elo's offsets, a fitted network's embeddings and outputs, SAKT's answer windows, a blend's
        # members), so freeing it would renumber every later skill in all of them, and a network fitted while the
        # stand-in was open was trained with its slot; what it costs is one code, one row of per-skill parameters
        # and one column of per-learner state (NaN/zero); no other skill's prediction changes (beyond rounding: a
        # Best-LR fit sees one more all-zero column, as for any known skill absent from the log it fits)
        self._stand_in_skills: set[int] = set()

    # --------------------------------------------------------------- codes
    def _code(self, table: dict[str, int], name: str) -> int:
        i = table.get(name)
        if i is None:
            i = table[name] = len(table)
            if not getattr(self, "_defer_grow", False):
                self._grow()
        return i

    def _learner_code(self, learner: str) -> int:
        """Code of ``learner``, giving a learner first seen one (an answer: ``update``, ``fit``, ``replay``)."""
        return self._code(self._learners, str(learner))

    def _known_learner(self, learner: str) -> int | None:
        """Code of ``learner``, or ``None`` for a learner the model has never seen: what the reads (``predict``,
        ``state``, ``mastery``, ...) use, answering such a learner as one with no answers (the prior) without giving
        it a code, so a read changes no model (nor what it saves) and the learner's first answer starts from that
        same prior. (A read gave the learner a code, saved with the model; files holding such learners load as
        saved: a learner with a code and no answers is answered alike.)"""
        return self._learners.get(str(learner))

    def _item_code(self, item: str, skills: tuple[str, ...] | None = None,
                   answered: bool = True) -> tuple[int, int]:
        """Codes of ``item`` and of its skill: the first skill it is given (an item given none: a skill named after
        itself). ``answered=False`` (predict, a question about the item): a skill named after the item is only a
        stand-in until the item is answered, and the first use that gives the item a skill replaces it, so asking
        about an item before its tagged answers arrive does not make a model refuse them. ``skills`` other than a
        tuple (``predict``'s ``skills=``: one name, a list) is read as an :class:`Event`'s (:func:`skill_names`),
        before the item gets a code."""
        if skills is not None and type(skills) is not tuple:
            skills = skill_names(skills)
        i = self._code(self._items, str(item))
        guessed = self._guessed_items
        if i not in self._item_skill or (skills and i in guessed):
            retag, n_skills = i in self._item_skill, len(self._skills)
            self._item_skill[i] = self._code(self._skills, str(skills[0] if skills else item))
            if not (skills or answered) and self._item_skill[i] == n_skills:  # a new skill, only a stand-in
                self._stand_in_skills.add(n_skills)
            if retag:
                self._by_skill_key = None
            if skills:
                guessed.discard(i)
            else:
                guessed.add(i)
        if answered:
            guessed.discard(i)
        return i, self._item_skill[i]

    def _register_items(self, items: list[str], skills: list[str]) -> None:
        """Give many items (and their skills) codes at once, enlarging the arrays once.

        The same codes as :meth:`_item_code` one item at a time, but one
        :meth:`_grow` instead of one per new name: a policy over a million
        items sets up in linear time, not quadratic.
        """
        table, skill_table, item_skill = self._items, self._skills, self._item_skill
        for item, skill in zip(items, skills):
            item, skill = str(item), str(skill)
            i = table.get(item)
            if i is None:
                i = table[item] = len(table)
            if i not in item_skill or i in self._guessed_items:  # new, or its skill only a stand-in (_item_code)
                s = skill_table.get(skill)
                if s is None:
                    s = skill_table[skill] = len(skill_table)
                item_skill[i] = s
                self._guessed_items.discard(i)
                self._by_skill_key = None
        self._grow()

    def _items_of(self, s: int) -> list[int]:
        """Codes of the items of skill code ``s``, in the order they were registered.

        An index kept beside ``_item_skill`` (rebuilt when items were added), so
        asking for one skill costs its items, not a scan of every item.
        """
        table = self._item_skill
        key = (id(table), len(table))
        if getattr(self, "_by_skill_key", None) != key:
            by_skill: dict[int, list[int]] = {}
            for i, sk in table.items():
                by_skill.setdefault(sk, []).append(i)
            self._by_skill, self._by_skill_key = by_skill, key
        return self._by_skill.get(s, [])

    def _hidden_skills(self) -> set[int]:
        """Codes of the stand-in skills of items since given another skill (:meth:`_item_code`): no items, nothing
        observed on them. Their codes stay (see ``_stand_in_skills``), but nothing shows them: not :meth:`state`, the
        skill listings or exports, and a network fitted later (the sequence models) gives them no slot of their own."""
        return {s for s in self._stand_in_skills if not self._items_of(s)}

    def _listed_skills(self) -> dict[str, int]:
        """The skills that :meth:`state` and the skill listings show (name -> code): all but the stand-in skills of
        items since given another skill (:meth:`_hidden_skills`)."""
        hidden = self._hidden_skills()
        if not hidden:
            return self._skills
        return {n: s for n, s in self._skills.items() if s not in hidden}

    def _adopt_vocab(self, log: EventLog) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Codes of ``log``'s learners, items and skills in this model's tables.

        New names get codes first and the arrays grow once at the end (one
        :meth:`_grow`, not one per new learner: linear, not quadratic, in the
        number of learners).
        """
        self._defer_grow = True
        try:
            return self._adopt_codes(log)
        finally:
            self._defer_grow = False
            self._grow()

    def _check_scale(self, log: EventLog) -> None:
        """Refuse a log of 0/1 outcomes for a graded model (the default FSRS, or any model fitted on a graded
        log): it read every answer, right (1) or wrong (0), as a grade of at most 1 ("again"), so a log of right
        answers was fitted and replayed as all wrong, without a word."""
        if getattr(self, "graded", False) and not log.graded and len(log):
            raise ConfigError(f"this {self.name} model reads outcomes as grades 1-4 (graded=True: the FSRS default, "
                              "or fitted on a graded log), but the log holds 0/1 outcomes (log.graded is False), so "
                              "every answer would count as wrong (grade 1); use a model built with graded=False and "
                              "never fitted on grades, or mark a log of grades with "
                              "EventLog.from_events(..., graded=True)")

    def _check_item_skills(self, log: EventLog) -> np.ndarray:
        """The first row of each of ``log``'s items (-1: no row); refuse a table that tags an item two ways.

        A model gives each item one skill: the one it was first given (:meth:`_item_code`). A row whose skill
        differs from another row's for the same item, or from the skill the model already gives the item,
        would make replay (each row's skill) differ from the one-answer loop (the item's skill): refused,
        before any name gets a code. An item only asked about with no skills (its skill a stand-in) takes the
        table's skill instead.
        """
        self._check_scale(log)
        first_row = np.full(len(log.items), -1, dtype=np.int64)
        if len(log) == 0:
            return first_row
        present, first = np.unique(log.item, return_index=True)
        first_row[present] = first
        item_skill = log.skill[np.maximum(first_row, 0)]  # the skill of each item's first row
        skill_names = None
        for j in np.flatnonzero(first_row >= 0).tolist():
            i = self._items.get(log.items[j])
            if i is not None and i in self._item_skill and i not in self._guessed_items:
                if skill_names is None:
                    skill_names = list(self._skills)
                known = skill_names[self._item_skill[i]]
                if known != log.skills[item_skill[j]]:
                    rows = np.flatnonzero(log.item == j)
                    # an item first answered without skills (update with no skills=) got a skill of its own name:
                    # say so, since that is the likely cause and its fix differs (or first met in a table without
                    # skills, which tags each item with its own name; predict alone leaves the skill open)
                    hint = (f"; the item was first answered without skills (an item given no skills= in update, or "
                            f"in a table without skills, gets a skill named after itself): pass "
                            f"skills=[{log.skills[item_skill[j]]!r}] when updating it, tag it in "
                            "every table, or fit the tagged table before using the item"
                            if known == log.items[j] else "")
                    raise ConfigError(
                        f"item {log.items[j]!r} has skill {known!r} in this {self.name} model, but the table tags it "
                        f"{log.skills[item_skill[j]]!r} (rows {_rows(rows)}); a learner model gives each item one "
                        f"skill: keep the item's skill, or give the item another id{hint}")
        bad = np.flatnonzero(log.skill != item_skill[log.item])
        if len(bad):
            j = int(log.item[bad[0]])
            other = log.skill[bad[0]]
            rows = np.flatnonzero((log.item == j) & (log.skill == other))
            raise ConfigError(
                f"item {log.items[j]!r} is tagged with two skills: {log.skills[item_skill[j]]!r} (row "
                f"{int(first_row[j])}) and {log.skills[other]!r} (rows {_rows(rows)}); a learner model gives each "
                "item one skill: tag every row of the item alike, or give the item another id per skill")
        if log.graded and not getattr(self, "graded", True):
            # a log of grades read by a model of 0/1 outcomes (built with graded=False, the default but for FSRS, and
            # never fitted on grades): replay read every grade, "again" (1) included, as a right answer (BKT,
            # Best-LR, DKT, SAKT; FSRS as grade 3), while Elo read them as grades; the model now grades outcomes, as
            # once fitted on such a log (_fit_graded), so that replay and the answers given to update after agree
            self.graded = True
            self.settings["graded"] = True
        return first_row

    def _fit_graded(self, log: EventLog) -> None:
        """What ``fit`` sets before fitting: the model grades outcomes once a log it fits on does (kept in the
        settings, else a saved model reloads ungraded and grades differently). The log's item
        skills are checked first (:meth:`_check_item_skills`), so that a refused log leaves the model as it was
        (it turned the model graded, and best-lr's reset wiped its learners' states, before the refusal)."""
        self._check_item_skills(log)
        self.graded = self.graded or log.graded
        self.settings["graded"] = self.graded

    def _adopt_codes(self, log: EventLog) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        first_row = self._check_item_skills(log)
        lmap = np.array([self._learner_code(n) for n in log.learners], dtype=np.int64)
        smap = np.array([self._code(self._skills, n) for n in log.skills], dtype=np.int64)
        imap = np.full(len(log.items), -1, dtype=np.int64)
        for j, n in enumerate(log.items):
            if first_row[j] < 0:
                continue  # no answer to this item here (a subset keeps the whole vocabulary): its skill is not known
            i = self._code(self._items, n)
            if i not in self._item_skill or i in self._guessed_items:  # new, or its skill only a stand-in
                self._item_skill[i] = int(smap[log.skill[first_row[j]]])
                self._guessed_items.discard(i)
                self._by_skill_key = None
            imap[j] = i
        return (lmap[log.learner] if len(log) else log.learner.copy(),
                imap[log.item] if len(log) else log.item.copy(),
                smap[log.skill] if len(log) else log.skill.copy())

    def _grow(self) -> None:
        """Called when a learner, item or skill is first seen: enlarge arrays."""

    # ------------------------------------------------------------ protocol
    def fit(self, log: EventLog) -> LearnerModel:
        raise NotImplementedError

    def predict(self, learner: str, item: str, time: float | None = None,
                skills: tuple[str, ...] | None = None) -> float:
        raise NotImplementedError

    def update(self, event: Event) -> None:
        raise NotImplementedError

    def state(self, learner: str, time: float | None = None) -> dict[str, dict[str, float]]:
        """Per-skill state of ``learner``: at least ``{"mastery": p}`` for every known skill (a learner never seen:
        that of one with no answers, without adding the learner)."""
        raise NotImplementedError

    def mastery(self, learner: str, skill: str, time: float | None = None) -> float:
        """One number in [0, 1] per skill used by policies (P(mastered), P(correct) or recall).

        A skill (or learner) the model never saw gets the value of a new one with no answers, and is not added: a
        read changes no model (nor what it saves)."""
        return float(self.state(learner, time).get(str(skill), {"mastery": 0.0})["mastery"])

    def reset(self) -> None:
        """Forget every learner's state, keep the fitted parameters."""
        raise NotImplementedError

    def replay(self, log: EventLog) -> np.ndarray:
        """Predict each event of ``log`` before revealing it, walking each learner in time order.

        Returns predictions aligned with ``log``'s rows. The default loops over
        :meth:`predict` / :meth:`update`; models override it with a vectorised
        version that gives the same numbers.
        """
        # the item skills too (they include the scale), before any row is taken: FSRS, with cards, replays
        # here, and took a table retagging an item (keeping the item's skill, and the learners and items of the
        # rows before a refusal) where its vectorised replay and every other model's refuse it
        self._check_item_skills(log)
        order = np.lexsort((np.arange(len(log)), log.time, log.learner))
        out = np.empty(len(log))
        for i in order:
            e = log.event(int(i))
            out[i] = self.predict(e.learner, e.item, e.timestamp, e.skills)
            self.update(e)
        return out

    # ------------------------------------------------------------- storage
    def _get_params(self) -> dict[str, Any]:
        raise NotImplementedError

    def _set_params(self, params: dict[str, Any]) -> None:
        raise NotImplementedError

    def _get_learner_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def _set_learner_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def get_state(self) -> dict[str, Any]:
        """Everything (settings, vocabularies, parameters, learner state), checkpoint-friendly."""
        return {
            "model": self.name, "settings": dict(self.settings),
            "learners": list(self._learners), "items": list(self._items), "skills": list(self._skills),
            "item_skill": np.array([self._item_skill[i] for i in range(len(self._items))], dtype=np.int64),
            "guessed_items": np.array(sorted(self._guessed_items), dtype=np.int64),
            "stand_in_skills": np.array(sorted(self._stand_in_skills), dtype=np.int64),
            "params": self._get_params(), "learner_state": self._get_learner_state(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        if state.get("model") != self.name:
            raise CheckpointError(f"state belongs to learner model {state.get('model')!r}, not {self.name!r}")
        self._learners = {n: i for i, n in enumerate(state["learners"])}
        self._items = {n: i for i, n in enumerate(state["items"])}
        self._skills = {n: i for i, n in enumerate(state["skills"])}
        self._item_skill = {i: int(s) for i, s in enumerate(np.asarray(state["item_skill"]).reshape(-1))}
        # a vocabulary with a name twice, or item skills that do not match the items, was taken and the model
        # failed later, on the next answer or prediction, with an IndexError or KeyError
        for what in ("learners", "items", "skills"):
            if len(getattr(self, f"_{what}")) != len(state[what]):
                raise ValueError(f"its {what} repeat a name")
            if not all(isinstance(n, str) for n in state[what]):  # (names are strings: a number named no one)
                raise ValueError(f"its {what} must be names (strings)")
        if len(self._item_skill) != len(self._items) or \
                any(not 0 <= s < len(self._skills) for s in self._item_skill.values()):
            raise ValueError(f"its item_skill holds {len(self._item_skill)} skill numbers for {len(self._items)} "
                             f"items, each in 0..{len(self._skills) - 1}")
        # (a state saved before stand-in skills were kept apart has none: its items keep their skills)
        self._guessed_items = {int(i) for i in np.asarray(state.get("guessed_items", []), dtype=np.int64).reshape(-1)}
        self._stand_in_skills = {int(s) for s in np.asarray(state.get("stand_in_skills", []), dtype=np.int64).reshape(-1)}
        self._by_skill_key = None
        self._set_params(state["params"])
        self._set_learner_state(state["learner_state"])

    def save(self, path: str | os.PathLike) -> Path:
        """Atomically write the model (parameters and learner state) to ``path``, with its ``state_version``."""
        return checkpoint.save_state(path, {**self.get_state(), "state_version": type(self).state_version})

    @staticmethod
    def load(path: str | os.PathLike) -> LearnerModel:
        """Load any model written by :meth:`save`."""
        return load_model(path)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LearnerModel:
        """The model of a state :meth:`save` wrote (or :meth:`get_state` gave: version 1, see :attr:`state_version`).
        From version 2 a setting :func:`make_model` refuses, or an entry the loaded model does not give back as
        saved, is a :class:`~magister.errors.CheckpointError`: the file was edited or damaged."""
        if not isinstance(state, dict) or "model" not in state:
            raise CheckpointError("not a learner-model state (missing 'model')")
        with saved_settings():  # (the settings a magister saved: checks of new settings since do not refuse them)
            return cls._from_saved_state(state)

    @classmethod
    def _from_saved_state(cls, state: dict[str, Any]) -> LearnerModel:
        name, settings = state["model"], state.get("settings", {})
        version = _saved_state_version(state)
        if version < 2:  # (saved before versions, maybe by an earlier magister that read settings loosely: as it ran)
            model = make_model(name, **(stored_settings(name, settings) if isinstance(settings, dict) else settings))
        else:
            if not isinstance(settings, dict):
                raise CheckpointError(f"learner-model state of {name!r} is malformed (its settings are "
                                      f"{type(settings).__name__} {settings!r:.60}, not a dict); load what save() "
                                      "wrote")
            try:
                model = make_model(name, **settings)
            except ConfigError as e:
                if name not in _MODELS:
                    raise
                raise CheckpointError(f"learner-model state of {name!r} (state version {version}) holds settings "
                                      f"this magister refuses: {e}. save() writes them as make_model takes them, so "
                                      "the file was edited or damaged: write the setting as make_model takes it, "
                                      "or restore the file from a backup") from None
        try:
            model.set_state(state)
            # (what it holds must give a state back: an Elo item count of 1e300 was taken, then get_state overflowed)
            taken = model.get_state()
        except (MagisterError, ImportError):  # (a missing extra, e.g. PyTorch for a DKT: not a damaged state)
            raise
        except Exception as e:  # noqa: BLE001 - any malformed entry is a bad checkpoint (a raw KeyError before)
            raise CheckpointError(f"learner-model state of {state['model']!r} is malformed ({type(e).__name__}: "
                                  f"{e}); load what get_state() or save() wrote") from None
        if version >= 2:
            # what the model holds must be what was saved: an entry coerced ("12" taken as 12) or left unread
            saved = {k: v for k, v in state.items() if k != "state_version"}
            found = checkpoint.state_difference(saved, taken, "state")
            if found:
                raise CheckpointError(f"learner-model state of {name!r} is damaged or was edited, at {found}; this "
                                      f"is not a state {name!r} saves: restore the file from a backup, or fit and "
                                      "save the model again")
        return model


LearnerModel.replay = _checking_input("replay", LearnerModel.replay)  # type: ignore[method-assign]


def _saved_state_version(state: dict[str, Any]) -> int:
    """The ``state_version`` of a saved learner-model state (1 for one saved before versions were written); one
    that is not a whole number, or newer than its model's (a newer magister wrote it), is refused."""
    name = state.get("model")
    version = state.get("state_version", 1)
    if not is_int(version) \
            or version < 1:
        raise CheckpointError(f"learner-model state of {name!r:.60} has no valid state_version ({version!r:.60}, "
                              "expected a whole number from 1): it is damaged or was edited; restore it from a "
                              "backup, or fit and save the model again")
    newest = _MODELS[name].state_version if isinstance(name, str) and name in _MODELS else LearnerModel.state_version
    if version > newest:
        raise CheckpointError(f"learner-model state of {name!r:.60} was written by a newer magister (state version "
                              f"{int(version)}; this magister reads up to version {newest}): upgrade magister to "
                              "load it")
    return int(version)


def _rows(rows: np.ndarray, most: int = 5) -> str:
    """Row numbers for a message: the first ``most`` of them, and how many more."""
    shown = ", ".join(str(int(r)) for r in rows[:most])
    return shown + (f" and {len(rows) - most} more" if len(rows) > most else "")


def sigmoid(x: float) -> float:
    """The logistic function, without overflow for large |x|."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


class LogitModel(LearnerModel):
    """A learner model whose P(correct) is the sigmoid of a logit (Elo, Best-LR): subclasses give ``_logit``."""

    mastery_is_p_correct: ClassVar[bool] = True

    def _logit(self, l: int | None, i: int, s: int) -> float:
        """The logit of learner ``l`` (``None``: one the model has never seen, with no answers) on item ``i``."""
        raise NotImplementedError

    def predict(self, learner: str, item: str, time: float | None = None,
                skills: tuple[str, ...] | None = None) -> float:
        l = self._known_learner(learner)
        i, s = self._item_code(item, skills, answered=False)
        return sigmoid(self._logit(l, i, s))


def load_model(path: str | os.PathLike) -> LearnerModel:
    """Load a learner model saved with :meth:`LearnerModel.save`."""
    state = checkpoint.load_state(path)
    with checkpoint.from_file(path):
        try:
            return LearnerModel.from_state(state)
        except ConfigError as e:  # a saved value the model refuses: from a file, a damaged or edited checkpoint
            if not isinstance(state, dict) or state.get("model") not in _MODELS:
                # a model this process has not registered (a user's, its module not imported): not damage, and
                # from_state's own words say so (restoring a backup, as said before, cannot help)
                raise
            raise CheckpointError(f"learner-model state of {state.get('model')!r:.40} is damaged or was edited: "
                                  f"{e}; restore the file from a backup, or fit and save the model again") from None
