"""The teacher contract, shared by every teacher.

A teacher owns a task :class:`~magister.spaces.Space`, a random generator and
whatever it has learned about the learner. The public surface is the same for
every algorithm:

* ``propose()`` returns one task; ``propose(k)`` returns ``k`` tasks at once;
* ``observe(task, score)`` / ``observe_batch(tasks, scores)`` take outcomes;
* ``state_dict()`` / ``load_state_dict()`` / ``save(path)`` /
  :func:`magister.load` save and resume exactly;
* ``beliefs()`` says what the teacher currently believes (for plots);
* ``propose_with_info()`` returns the tasks with one info dict each: ``"train"``
  (False: evaluate only - the learner must not update its policy on that
  episode, but still reports its score) and ``"replay"`` (a level replayed
  from the teacher's buffer). Every teacher answers it; most say
  ``{"train": True, "replay": False}`` (level teachers say more).

Subclasses implement four small hooks and never see raw input: tasks arrive
already validated and encoded (unit vectors for ``kind = "continuous"``
teachers, task indices for ``kind = "discrete"`` ones), scores arrive already
checked and mapped to [0, 1]. Because validation happens before any hook
runs, bad input is refused with a clear error and changes nothing.
"""

from __future__ import annotations

import copy
import functools
import inspect
import os
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence, TypeVar, cast, overload

import numpy as np

from . import checkpoint
from .errors import CheckpointError, ConfigError, InvalidScoreError, InvalidTaskError, UnknownSettingError, reworded
from .rng import SeedLike, as_generator, generator_state, restore_generator
from .scores import FiniteScores, ScoreLike, ScoreRange, ScoresLike
from .settings import flag, is_int, saved_count, saved_settings
from .spaces import Space, same_spec, space_from_spec

__all__ = ["Teacher", "register", "make_teacher", "available_teachers", "teacher_class", "load", "loads"]

#: the most tasks one ``propose(k)`` call draws (beyond it: a ConfigError, before anything is drawn)
MAX_PROPOSE = 10_000_000

_REGISTRY: dict[str, type["Teacher"]] = {}


def proposal_count(k: Any) -> int:
    """The ``k`` of ``propose(k)`` as the number of tasks to draw, or the ``ConfigError`` a teacher's ``propose``
    raises for it, before anything is drawn: a whole number from 1 to ``MAX_PROPOSE`` (a Python or numpy integer;
    not a bool, a float, a numpy duration or a 0-d array). The one check of every ``propose(k)``: the teachers',
    and the Ray client's and its actor's (``magister.rl.ray``), so a bad ``k`` is refused in the same words."""
    if isinstance(k, (bool, np.timedelta64)) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"propose(k) needs a positive whole number of tasks, got k={k!r}")
    if k > MAX_PROPOSE:  # (accel went on for minutes on 10**12 before any allocation failed; others died
        # with numpy's MemoryError)
        raise ConfigError(f"propose(k) draws at most {MAX_PROPOSE:,} tasks at once, got k={k:,}; call it "
                          "again for more")
    return int(k)


def checked_outcome(space: Space, score_range: ScoreRange, task: Any, score: ScoreLike,
                    encode: Callable[[Any], Any] | None = None) -> tuple[Any, np.ndarray]:
    """``observe(task, score)``'s check: ``task`` validated (or put through ``encode``, a teacher's own encoding)
    and the score in [0, 1], or ``observe``'s error, nothing changed. The one check of every ``observe``: the teachers' and
    the Ray client's (``magister.rl.ray``), so a bad outcome is refused in the same words."""
    if isinstance(score, (list, tuple, np.ndarray)) and np.ndim(score) > 0:
        raise InvalidScoreError("observe() takes one score; use observe_batch(tasks, scores) for several")
    try:
        enc = (space.validate if encode is None else encode)(task)
    except InvalidTaskError as e:
        raise refused_task(space, task, e)
    return enc, np.array([score_range.normalise_one(score)])


def checked_outcomes(space: Space, score_range: ScoreRange, tasks: Any, scores: ScoresLike,
                     encode: Callable[[Any], Any] | None = None) -> tuple[Any, np.ndarray]:
    """``observe_batch(tasks, scores)``'s check, in its order (scores, tasks, then their counts): the tasks
    validated (or put through ``encode``) and the scores in [0, 1], or ``observe_batch``'s error, nothing changed (as
    ``checked_outcome``, for the teachers and the Ray client)."""
    s = score_range.normalise(scores)
    try:
        enc = (space.validate_batch if encode is None else encode)(tasks)
    except InvalidTaskError as e:
        raise reworded(e, f"{e}. Nothing was recorded.")
    if len(enc) != len(s):
        raise InvalidScoreError(
            f"observe_batch got {len(enc)} tasks but {len(s)} scores; pass one score per task. Nothing was recorded."
        )
    return enc, s


def refused_task(space: Space, task: Any, error: InvalidTaskError) -> InvalidTaskError:
    """``error``, the refusal of ``task`` by ``space``, as ``observe(task, score)`` raises it: saying so when ``task``
    is several tasks (what ``propose(k)`` returns), and that nothing was recorded (the Ray client's ``observe``
    raises it too, as a local teacher does)."""
    try:  # several tasks (what propose(k) returns) with one score: say so, not only "wrong shape"
        many = len(space.validate_batch(task))
    except Exception:
        many = 0
    hint = f" (that is {many} tasks: use observe_batch(tasks, scores) for several)" if many > 1 else ""
    return cast(InvalidTaskError, reworded(error, f"{error}{hint}. Nothing was recorded."))


_T = TypeVar("_T", bound="Teacher")


def register(name: str) -> Callable[[type[_T]], type[_T]]:
    """Class decorator: make a teacher available by ``name`` (``make_teacher``, CLI, service)."""

    def deco(cls: type[_T]) -> type[_T]:
        if not cls.__module__.startswith("magister."):
            # a teacher of the user's under a built-in name ("frontier") was taken while the built-ins were not yet
            # loaded; the next make_teacher, of any teacher, then failed ("'frontier' is already registered (Mine)")
            if name in _ELSEWHERE:  # (not imported for this: that needs the module's extra)
                raise ConfigError(f"a teacher named {name!r} is already part of magister ({_ELSEWHERE[name]}); "
                                  "register yours under another name")
            _ensure_loaded()
        old = _REGISTRY.get(name)
        redefined = (old is not None and not cls.__module__.startswith("magister.")
                     and (old.__module__, old.__qualname__) == (cls.__module__, cls.__qualname__))
        # (a notebook cell or a reloaded module defining the same class again takes the name over; anything else
        # under a taken name is refused)
        if old is not None and old is not cls and not redefined:
            raise ConfigError(f"a teacher named {name!r} is already registered ({_REGISTRY[name].__module__}."
                              f"{_REGISTRY[name].__qualname__}); register yours under another name "
                              "(magister.available_teachers() lists the names taken)")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


#: teachers registered by modules of a higher layer, imported only when one of them is asked for
#: by name (so ``make_teacher("uniform")`` does not load the people package)
_ELSEWHERE: dict[str, str] = {
    name: "magister.people.policies"
    for name in ("mastery-learning", "difficulty-band", "spaced-review", "max-information")
}


def _ensure_loaded(name: str | None = None) -> None:
    """Register the built-in teachers; with ``name=None``, also every teacher defined elsewhere.

    A teacher defined elsewhere loads only its own module (a service serving ``mastery-learning``
    curricula then never imports the two dozen built-in teachers: a faster restart)."""
    import importlib

    if name in _ELSEWHERE and name in _REGISTRY:
        return
    if name not in _ELSEWHERE:
        from . import teachers  # noqa: F401  (registers the teachers of magister.teachers)

    wanted = set(_ELSEWHERE.values()) if name is None else {_ELSEWHERE[name]} if name in _ELSEWHERE else set()
    for module in sorted(wanted):
        importlib.import_module(module)


#: the values of :attr:`Teacher.kind`
TEACHER_KINDS = ("continuous", "discrete", "any", "level")


def available_teachers(kind: str | None = None) -> list[str]:
    """Names of the registered teachers (``kind``: "continuous", "discrete", "level" or "any" to filter; the
    teachers of kind "any" are listed under every kind)."""
    _ensure_loaded()
    kinds = sorted({c.kind for c in _REGISTRY.values()})
    if kind is not None and kind not in kinds:  # a typo ("discret") listed only 'uniform', as if that were all
        raise ConfigError(f"unknown kind of teacher {kind!r}; use one of {', '.join(map(repr, kinds))}, or None for all")
    return sorted(n for n, c in _REGISTRY.items() if kind is None or c.kind in (kind, "any"))


def teacher_class(name: str) -> type["Teacher"]:
    if not isinstance(name, str):  # a list or dict raised a raw TypeError (unhashable) from the registry
        raise ConfigError(f"a teacher is named by a string such as 'alp-gmm', got {type(name).__name__} {name!r:.60}; "
                          "see magister.available_teachers()")
    _ensure_loaded(name)
    try:
        return _REGISTRY[name]
    except KeyError:
        known = sorted(set(_REGISTRY) | set(_ELSEWHERE))
        raise ConfigError(f"unknown teacher {name!r}{near_teacher_name(name, known)}; "
                          f"available: {', '.join(known)}") from None


def near_teacher_name(name: object, known: list[str]) -> str:
    """`` (did you mean 'riac-plus'?)`` for a misspelt teacher name (``"riac_plus"``, ``"SEC"``, ``"fronteir"``),
    or ``""`` when no registered name is close."""
    return near_names([name], known)


def near_names(names: Sequence[object], known: Sequence[str]) -> str:
    """The near misses of several misspelt names at once: `` (did you mean 'plr', 'robust-plr'?)`` with the near
    miss of each name that has one (:func:`near_teacher_name` for one), or ``""``."""
    import difflib

    close = [m for n in names if isinstance(n, str)
             for m in difflib.get_close_matches(n.strip().lower().replace("_", "-"), list(known), n=1)]
    return f" (did you mean {', '.join(map(repr, close))}?)" if close else ""


def _recording_settings(init: Any) -> Any:
    """Wrap a teacher's ``__init__`` so that every constructor it passes through records the settings it
    received, defaults applied (the outermost call first: what the caller passed wins). A checkpoint thus
    holds the effective settings, also those a ``**settings`` constructor hands on to its parent."""

    @functools.wraps(init)
    def wrapper(self: Teacher, *args: Any, **kwargs: Any) -> None:
        outermost = "_init_args" not in self.__dict__  # the constructor the caller called (not a parent's)
        record = self.__dict__.setdefault("_init_args", {})
        try:  # the signature is read now: defaults may have been retuned since the class was made
            bound = inspect.signature(init).bind(self, *args, **kwargs)
        except TypeError:
            bound = None  # init itself raises the proper TypeError
        if bound is not None:
            bound.apply_defaults()
            for name, value in bound.arguments.items():
                kind = bound.signature.parameters[name].kind
                values = value if kind is inspect.Parameter.VAR_KEYWORD else {name: value}
                if name == "self" or kind is inspect.Parameter.VAR_POSITIONAL:
                    continue
                for k, v in values.items():
                    if k not in record:
                        try:  # a copy, so a caller mutating its own list later cannot change the saved config
                            record[k] = v if k in ("space", "seed") else copy.deepcopy(v)
                        except Exception:  # noqa: BLE001 - an uncopyable setting is kept by reference
                            record[k] = v
        if not outermost:
            init(self, *args, **kwargs)
            return
        try:
            init(self, *args, **kwargs)
        except TypeError as e:
            unknown = _unknown_setting_error(type(self), kwargs, e)
            if unknown is None:
                raise
            raise unknown from None

    wrapper._records_settings = True  # type: ignore[attr-defined]
    return wrapper


def _init_chain(cls: type) -> list[inspect.Signature]:
    """Signatures of the constructors a teacher's settings pass through: its own ``__init__`` and, while
    that takes ``**settings``, the parent constructor it hands them on to (``riac-plus`` -> ``riac``)."""
    out = []
    for klass in cls.__mro__:
        if klass is object or "__init__" not in vars(klass):
            continue
        sig = inspect.signature(vars(klass)["__init__"])
        out.append(sig)
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
            break
    return out


def setting_names(teacher: str | type["Teacher"]) -> list[str]:
    """The settings a teacher's constructor accepts (besides ``space`` and ``seed``), sorted."""
    cls = teacher_class(teacher) if isinstance(teacher, str) else teacher
    names = {n for sig in _init_chain(cls) for n, p in sig.parameters.items()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in ("self", "space", "seed")}
    return sorted(names)


def _unknown_setting_error(cls: type["Teacher"], kwargs: dict[str, Any],
                           error: TypeError) -> UnknownSettingError | None:
    """The error for a teacher constructor that refused a setting it does not take (``error``: Python's own), or
    None when ``error`` is about something else.

    Python said only "__init__() got an unexpected keyword argument 'fit_rat'", naming no setting the teacher
    takes. Told after the constructor refused it (every teacher's outermost constructor, so ``make_teacher`` and
    the class called directly alike): one that takes settings of its own from ``**settings`` (pops them) has
    settings its signatures do not show, and was refused them when they were checked beforehand."""
    import difflib

    takes = set(setting_names(cls)) | {"seed"}
    unknown = sorted(set(kwargs) - takes)
    named = [u for u in unknown if f"unexpected keyword argument '{u}'" in str(error)]  # (Python names the first)
    if not named:
        return None
    if not all(k.__module__.startswith("magister.") for k in cls.__mro__ if "__init__" in vars(k) and k is not object):
        unknown = named  # a teacher of the user's own may take the others from its **settings
    name = cls.name if _REGISTRY.get(cls.name) is cls else cls.__name__
    near = [m for u in unknown for m in difflib.get_close_matches(u, sorted(takes), n=1)]
    return UnknownSettingError(f"teacher {name!r} has no setting{'s' if len(unknown) > 1 else ''} "
                               f"{', '.join(map(repr, unknown))}" + (f" (did you mean {', '.join(map(repr, near))}?)"
                                                                     if near else "")
                               + f"; its settings are {', '.join(sorted(takes))}" + where_settings_belong(unknown))


def where_settings_belong(unknown: list[str]) -> str:
    """``; 'set_aside' is a setting of 'exp3', 'lp-bandit', 'sec'``: the built-in teachers that take a setting
    another teacher refused (``set_aside=0.9`` on 'frontier' named only frontier's own settings, not where it
    belongs), or ``""`` when none does."""
    _ensure_loaded("uniform")  # the built-in teachers (not those of a higher layer: no people package here)
    out = []
    for u in unknown:
        where = sorted(n for n, c in _REGISTRY.items() if c.__module__.startswith("magister.teachers.")
                       and u in setting_names(c))
        if where:
            out.append(f"; {u!r} is a setting of {', '.join(map(repr, where))}")
    return "".join(out)


def default_score_range(cls: type["Teacher"], score_range: Any) -> ScoreRange:
    """``score_range`` as teacher class ``cls`` takes it: None is any finite score for a teacher that reads scores
    on any scale (``open_scores``: the level teachers), else [0, 1]; anything else as :meth:`ScoreRange.coerce`
    reads it. (One rule for the teacher, its settings check and the service's curricula.)"""
    # (getattr: a registered class need not subclass Teacher)
    return FiniteScores() if score_range is None and getattr(cls, "open_scores", False) else ScoreRange.coerce(score_range)


def make_teacher(name: str, space: Space | dict, **kwargs: Any) -> Teacher:
    """Build a registered teacher by name: ``make_teacher("alp-gmm", Box([0, 0], [1, 1]), seed=0)``; a setting it
    does not take is refused with an :class:`~magister.errors.UnknownSettingError` (a ``TypeError`` too) naming it,
    the nearest setting it does take and all of them."""
    cls = teacher_class(name)
    try:
        return cls(space_from_spec(space) if isinstance(space, dict) else space, **kwargs)
    except UnknownSettingError:
        raise
    except TypeError as e:  # a registered teacher of the user's own without a constructor of its own
        unknown = _unknown_setting_error(cls, kwargs, e)
        if unknown is None:
            raise
        raise unknown from None


def _jsonable_config(value: Any, where: str) -> Any:
    if isinstance(value, ScoreRange):
        return value.to_dict()
    if isinstance(value, Space):
        return {"__space__": value.to_spec()}
    if hasattr(value, "to_config") and callable(value.to_config):
        return value.to_config()
    if isinstance(value, (list, tuple)):
        return [_jsonable_config(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): _jsonable_config(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "O":  # (an object array, as a DataFrame of mixed columns gives, is no array a checkpoint
            # may hold: a teacher given one was taken and could not be saved); the plain values it holds
            return _jsonable_config(value.tolist(), where)
        if value.ndim == 0:  # (a setting given as a 0-d array is the number it holds: saved as that number)
            return value.item()
        return value.copy()
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise CheckpointError(
        f"teacher setting {where}={value!r} cannot be saved; pass plain numbers, strings, lists or dicts"
    )


def _plain(value: Any) -> Any:
    """``value`` with every numpy array (as nested lists) and numpy scalar (as a Python number or bool) turned into
    plain Python, at any depth and in dict keys: what :meth:`Teacher.beliefs` promises (JSON-friendly); NaN stays
    NaN (a NaN belief is a teacher that lost track, for the conformance suite to find)."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


class Teacher:
    """Base class of all teachers. See the module docstring for the contract."""

    #: registry name, set by :func:`register`
    name: ClassVar[str] = "teacher"
    #: "continuous": works on unit vectors of any space; "discrete": needs a finite space;
    #: "any": handles both (gets unit vectors); "level": a level teacher; anything else is refused
    #: where the subclass is defined
    kind: ClassVar[str] = "continuous"
    #: True: ``score_range=None`` means any finite score, taken as it is (level teachers, whose scores are
    #: learner-computed |GAE| or regret); False: ``score_range=None`` means scores in [0, 1]
    open_scores: ClassVar[bool] = False
    #: False: the teacher never reads the scores (uniform), so any score range fits it, an open one too
    reads_scores: ClassVar[bool] = True
    #: settings added after checkpoints were saved without them, each with the value that does what the teachers
    #: of those checkpoints did, where today's default does otherwise: :func:`magister.load` rebuilds a checkpoint
    #: that lacks one with this value (with the default it went on as another algorithm, or was refused), and a
    #: strict :meth:`load_state_dict` compares this teacher's setting with it
    legacy_settings: ClassVar[dict[str, Any]] = {}
    #: the version of what :meth:`_get_state` gives, saved as ``state_version`` in :meth:`state_dict`. Raise it when
    #: a change makes a saved state mean something else (an entry renamed, added without a default, read otherwise)
    #: and convert the older states in :meth:`_upgrade_state`; a state saved by a newer version than the class's is
    #: refused (a newer magister wrote it), and one without the entry is version 1 (every state saved before it existed)
    state_version: ClassVar[int] = 1
    #: keyword options of :meth:`load_state_dict` beyond ``strict``, which :func:`magister.load` passes on (the
    #: opponent teachers' ``pool=``); any other option given to :func:`magister.load` is refused
    load_options: ClassVar[tuple[str, ...]] = ()
    #: the ``load_options`` of a *live* load (``from_state_dict(state, live=True)``): the bytes of a teacher that goes
    #: on elsewhere (a Ray actor started from it), where state shared outside the teacher, such as an opponent
    #: pool, is taken as it is now (the run went on meanwhile), not as the bytes hold it
    live_load_options: ClassVar[dict[str, Any]] = {}
    #: True for a teacher defined outside magister: :meth:`propose` refuses a NaN in the unit vectors its ``_propose``
    #: returns (a Box maps NaN to a NaN task). The built-in teachers make none, and skip the check (about a
    #: microsecond a call, a quarter of a uniform proposal on a 2-D Box)
    _checks_units: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind not in TEACHER_KINDS:  # a typo ("discret") made a continuous teacher: its hooks got unit vectors
            import difflib

            near = difflib.get_close_matches(str(cls.kind), TEACHER_KINDS, n=1)
            raise ConfigError(f"{cls.__qualname__}.kind = {cls.kind!r} is no kind of teacher"
                              f"{f' (did you mean {near[0]!r}?)' if near else ''}; use 'discrete' (the hooks get task "
                              "indices of a finite space) or 'continuous' (unit vectors), or 'any' or 'level'")
        cls._checks_units = not cls.__module__.startswith("magister.")
        init = vars(cls).get("__init__")
        if init is not None and not getattr(init, "_records_settings", False):
            cls.__init__ = _recording_settings(init)  # type: ignore[method-assign]

    def _record_settings(self, **values: Any) -> None:
        """Record what a setting resolved to when it is not a constructor default (``model=None`` picking
        the class's ``default_model``), so a checkpoint rebuilds it even if that choice changes later."""
        self.__dict__.setdefault("_init_args", {}).update(values)

    def __init__(self, space: Space, *, seed: SeedLike = None, score_range: Any = None):
        if not isinstance(space, Space):
            kind = f"{type(space).__module__}.{type(space).__qualname__}"
            if isinstance(getattr(space, "space", None), Space):  # a student, a pool, an env class: it has one
                raise ConfigError(f"a teacher needs a magister space, got a {kind}, which is not one but has one: "
                                  f"pass its .space (make_teacher(name, x.space, ...); an opponent teacher "
                                  f"over a pool takes pool.space, pool=pool)")
            raise ConfigError(
                f"a teacher needs a magister space (mg.Box, mg.Discrete, mg.MultiDiscrete, mg.Dict), got "
                f"{kind} (a gymnasium space of the same name is not one: build the magister space, e.g. "
                "mg.Box(low, high))"
            )
        if self.kind == "discrete" and space.n is None:
            raise ConfigError(
                f"{type(self).__name__} is a discrete teacher and needs a finite space (Discrete, MultiDiscrete, "
                f"or a Dict of those); {space!r} is continuous: use a continuous teacher such as 'frontier' "
                f"(magister.recommend(space) names the one to start with)"
            )
        self.space = space
        self.rng = as_generator(seed)
        self.score_range = default_score_range(type(self), score_range)
        if isinstance(self.score_range, FiniteScores) and not self.open_scores and self.reads_scores:
            # its hooks take scores in [0, 1]: an open range sent them raw scores (1e6) and it went on, wrong
            raise ConfigError(f"{type(self).__name__} needs scores mapped to [0, 1], so an open score range "
                              "(FiniteScores, {'finite': True}) does not fit it; declare the range your learner's "
                              "scores take with score_range=(low, high)")
        self.n_observed = 0
        self.n_proposed = 0
        #: the process this teacher was built in: a copy that reached another process (an async vector env's
        #: worker) keeps it, so an integration can tell that what the copy observes never reaches the original
        self._origin_pid = os.getpid()

    # ------------------------------------------------------------------ hooks
    def _propose(self, k: int) -> np.ndarray:
        """Return ``k`` encoded tasks: unit vectors ``(k, dim)`` or task indices ``(k,)``."""
        raise NotImplementedError(self._missing_hook("_propose(k)"))

    def _propose_info(self, k: int) -> list[dict[str, Any]]:
        """One info dict for each of the ``k`` tasks the last ``_propose(k)`` returned, in order. At least
        ``"train"`` (bool) and ``"replay"`` (bool); the default says: train on it, not a replay."""
        return [{"train": True, "replay": False} for _ in range(k)]

    def _observe(self, x: np.ndarray, scores: np.ndarray) -> None:
        """Take ``m`` encoded tasks and their scores in [0, 1], in the order they happened."""
        raise NotImplementedError(self._missing_hook("_observe(x, scores)"))

    def _missing_hook(self, hook: str) -> str:
        return (f"{type(self).__name__} does not implement {hook}: a teacher subclass implements _propose, _observe, "
                "_get_state and _set_state (docs/getting-started.md, 'Your own teacher'); nothing was changed")

    def _get_state(self) -> dict[str, Any]:
        """Everything learned, as a checkpoint-friendly dict (copies, not views)."""
        return {}

    def _set_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`_get_state` returned. :meth:`load_state_dict` then takes :meth:`_get_state` again and
        refuses the state (restoring the teacher) where it differs from the saved one: an entry coerced (the string
        ``"12"`` read as 12), left unread or taken otherwise, so each entry needs no type check here."""

    @classmethod
    def _stored_settings(cls, settings: dict[str, Any], version: int) -> dict[str, Any]:
        """``settings`` saved with a state of ``state_version`` ``version`` (or a served curriculum's), as the
        teacher that ran with them is built now: where this magister checks a value an earlier one read loosely (a
        people policy's ``model_settings``: ``graded=1``), the value that one made of it, for the versions before
        the check. The default: as they are. New settings are never read so."""
        return settings

    def _upgrade_state(self, state: dict[str, Any], version: int) -> dict[str, Any]:
        """The state of :meth:`_get_state` saved at ``state_version`` ``version`` (at most the class's; the caller's:
        return a new dict where it changes, never change it in place) in this version's form, as :meth:`_set_state`
        reads it and :meth:`_get_state` gives it back. :meth:`load_state_dict` calls it for every state, then compares what the teacher holds with what it returns.
        The default returns a state of the current version as it is and refuses an older one: a teacher that raises
        ``state_version`` converts the older states here (an entry a state of its version lacks may also be filled
        in by :meth:`_set_state`: the comparison takes an entry of the teacher's that the saved dict lacks)."""
        if version < self.state_version:
            raise CheckpointError(
                f"state dict for {self.name!r} has state version {version}, and this magister's {self.name!r} "
                f"(version {self.state_version}) cannot convert it: go on with the magister that saved it, or start "
                "this teacher afresh")
        return state

    def _beliefs(self) -> dict[str, Any]:
        """What the teacher believes now (learning progress, sampling weights...); numpy arrays and scalars may be
        anywhere in it (:meth:`beliefs` makes them lists and numbers)."""
        return {}

    # ------------------------------------------------------------- encoding
    @property
    def _encodes_indices(self) -> bool:
        return self.kind == "discrete"

    def _encode(self, tasks: Any) -> np.ndarray:
        valid = self.space.validate_batch(tasks)
        if self._encodes_indices:
            return self.space.index_batch(valid)
        return self.space.to_unit_batch(valid)

    def _encode_one(self, task: Any) -> np.ndarray:
        if self._encodes_indices:
            return np.array([self.space.index(self.space.validate(task))], dtype=np.int64)
        return self.space.unit_one(task)

    def _decode(self, enc: np.ndarray) -> Any:
        shape = np.shape(enc)
        if len(shape) != 1 if self._encodes_indices else len(shape) != 2 or shape[1] != self.space.dim:
            # a wrong shape was reshaped into other tasks, or failed deep in the space with a numpy error
            want = "task indices of shape (k,)" if self._encodes_indices else \
                f"unit vectors of shape (k, {self.space.dim}) (one row per task)"
            raise TypeError(f"{type(self).__name__}._propose returned {type(enc).__name__} of shape {shape}; a "
                            f"{self.kind!r} teacher's _propose(k) returns {want}")
        if self._encodes_indices:
            return self.space.tasks_at(np.asarray(enc, dtype=np.int64))
        if self._checks_units:
            enc = np.asarray(enc, dtype=float)
            if np.isnan(enc).any():
                raise InvalidTaskError(
                    f"{type(self).__name__}._propose returned a NaN in unit vector "
                    f"{int(np.flatnonzero(np.isnan(enc).any(axis=1))[0])}: it "
                    f"names no task of {self.space!r}; a teacher's _propose returns coordinates in [0, 1]")
        return self.space.from_unit_batch(enc)

    # ---------------------------------------------------------------- public
    def propose(self, k: int | None = None) -> Any:
        """One task (``k=None``), or a sequence of ``k`` tasks drawn at once."""
        m = 1 if k is None else proposal_count(k)
        enc = self._propose(m)
        tasks = self._decode(enc)
        if len(tasks) != m:
            raise TypeError(f"{type(self).__name__}._propose({m}) gave {len(tasks)} tasks; it must give one per task "
                            "asked for")
        self.n_proposed += m
        return tasks[0] if k is None else tasks

    @overload
    def propose_with_info(self, k: None = None) -> tuple[Any, dict[str, Any]]: ...
    @overload
    def propose_with_info(self, k: int) -> tuple[Any, list[dict[str, Any]]]: ...

    def propose_with_info(self, k: int | None = None) -> tuple[Any, dict[str, Any] | list[dict[str, Any]]]:
        """Like :meth:`propose`, with one info dict per task: ``(task, info)`` for ``k=None``, else
        ``(tasks, infos)`` with ``len(infos) == k``.

        ``info["train"]`` False means *evaluate only*: the learner runs the episode and reports its score,
        but must not update its policy on it (``robust-plr`` and ``accel`` only train on replayed levels).
        ``info["replay"]`` True means the task was replayed from the teacher's buffer. Teachers may add
        more keys (``"edited"``, ``"evaluate"``...). ``propose()`` draws exactly the same tasks.
        """
        tasks = self.propose(k)
        infos = self._propose_info(1 if k is None else int(k))
        return (tasks, infos[0]) if k is None else (tasks, infos)

    def observe(self, task: Any, score: ScoreLike) -> None:
        """Record that the learner scored ``score`` on ``task``."""
        enc, s = self._checked_outcome(task, score)
        self._observe(enc, s)  # (one outcome: _record's empty-batch test and count are not needed here)
        self.n_observed += 1

    def observe_batch(self, tasks: Sequence[Any] | np.ndarray, scores: ScoresLike) -> None:
        """Record several outcomes, in order. All are checked before any is recorded.

        ``scores`` is a sequence, an array (numpy's or another library's, read whole) or an iterator such as a
        generator, in the order of ``tasks``; a ``set`` or a ``dict`` (no order to pair with the tasks), a
        non-number, NaN or infinity raises :class:`~magister.errors.InvalidScoreError`, a task outside the space
        :class:`~magister.errors.InvalidTaskError`."""
        self._record(*self._checked_outcomes(tasks, scores))

    def _record(self, enc: np.ndarray, s: np.ndarray) -> None:
        """Record outcomes that ``_checked_outcome`` / ``_checked_outcomes`` passed: what ``observe`` /
        ``observe_batch`` do once their check is done. A caller that must record in two teachers or none
        (``DualCurriculum``) checks both first."""
        if len(s) == 0:
            return
        self._observe(enc, s)
        self.n_observed += len(s)

    def _checked_outcome(self, task: Any, score: ScoreLike) -> tuple[np.ndarray, np.ndarray]:
        """``observe``'s check: the encoded task and its score in [0, 1], or ``observe``'s error (nothing
        changed)."""
        return checked_outcome(self.space, self.score_range, task, score, self._encode_one)

    def _checked_outcomes(self, tasks: Sequence[Any] | np.ndarray, scores: ScoresLike) -> tuple[np.ndarray, np.ndarray]:
        """``observe_batch``'s check: the encoded tasks and their scores in [0, 1], or ``observe_batch``'s error
        (nothing changed)."""
        return checked_outcomes(self.space, self.score_range, tasks, scores, self._encode)

    def beliefs(self) -> dict[str, Any]:
        """A JSON-friendly summary of what the teacher believes now, for plots and dashboards."""
        out = {"teacher": self.name, "n_observed": self.n_observed, "n_proposed": self.n_proposed}
        found = self._beliefs()
        if not isinstance(found, dict):  # (None or a list raised dict.update's raw TypeError, naming no hook)
            raise TypeError(f"{type(self).__name__}._beliefs returned {type(found).__name__} {found!r:.60}, not a "
                            "dict; a teacher's _beliefs() returns a dict of what it believes ({} for nothing)")
        # numpy arrays and scalars at any depth (an np.float32 or np.int64 in a nested dict was not JSON)
        out.update(_plain(found))
        return out

    # ----------------------------------------------------------------- state
    def config(self) -> dict[str, Any]:
        """The constructor settings (without space and seed), JSON-friendly."""
        args = dict(getattr(self, "_init_args", {}))
        args.pop("space", None)
        args.pop("seed", None)
        return {k: _jsonable_config(v, k) for k, v in args.items()}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild this teacher and continue exactly where it is."""
        algorithm = self._get_state()
        if not isinstance(algorithm, dict):  # (saved, then refused by every load as "not a teacher state dict")
            raise CheckpointError(f"{type(self).__name__}._get_state returned {type(algorithm).__name__} "
                                  f"{algorithm!r:.60}, not a dict, which no load takes; a teacher's _get_state() "
                                  "returns a dict of what it learned (and _set_state reads that dict back)")
        return {
            "teacher": self.name,
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "space": self.space.to_spec(),
            "config": self.config(),
            "rng": generator_state(self.rng),
            "n_observed": self.n_observed,
            "n_proposed": self.n_proposed,
            "state_version": type(self).state_version,
            "algorithm": copy.deepcopy(algorithm),
        }

    def load_state_dict(self, state: dict[str, Any], *, strict: bool = True) -> None:
        """Restore a :meth:`state_dict`; refuses one from another teacher or space, changing nothing.

        With ``strict=True`` (the default) a state saved with other settings is refused too, naming them:
        the teacher would otherwise go on with this object's settings, not the saved ones, and the resume
        would not be exact. ``strict=False`` loads it anyway and keeps this teacher's settings (to change a
        setting on purpose); :func:`magister.load` rebuilds the teacher with the saved settings."""
        try:  # (bool() read "False" as strict, refused saying to pass strict=False, and None as not strict)
            strict = flag("strict", strict)
        except ConfigError as e:
            raise ConfigError(f"{e} (False keeps this teacher's settings). Nothing was changed") from None
        if isinstance(state, (str, os.PathLike)):  # was "missing 'algorithm'", which did not say what to do
            raise CheckpointError(f"load_state_dict takes a state dict, got the path {str(state)!r}; load a "
                                  "checkpoint file with magister.load(path), or pass "
                                  "magister.checkpoint.load_state(path) here")
        if not isinstance(state, dict) or "algorithm" not in state:
            raise CheckpointError("not a teacher state dict (missing 'algorithm'); use Teacher.state_dict() output")
        if not isinstance(state["algorithm"], dict) or not isinstance(state.get("config", {}), dict):
            # (a teacher that keeps no state of its own, uniform, took any 'algorithm'; a config that is not a dict
            # skipped the check of the saved settings)
            which = "algorithm" if not isinstance(state["algorithm"], dict) else "config"
            raise CheckpointError(f"not a teacher state dict (its {which!r} entry is "
                                  f"{type(state[which]).__name__} {state[which]!r:.60}, not a dict); use "
                                  "Teacher.state_dict() output")
        if state.get("teacher") != self.name:
            raise CheckpointError(
                f"state dict belongs to teacher {state.get('teacher')!r}, not {self.name!r}; "
                "load it with magister.load() or into the matching teacher"
            )
        version = self._saved_state_version(state)  # (before the space and settings: a newer one may hold others)
        mine = self.space.to_spec()  # (same_spec: a Dict's entries in another order too)
        if not same_spec(state.get("space"), mine) and not same_spec(_current_spec(state.get("space")), mine):
            raise CheckpointError(
                f"state dict was saved for space {state.get('space')}, not {self.space.to_spec()}; load it with "
                "magister.load() (which rebuilds the teacher on the saved space) or into a teacher built on that space "
                "(strict=False keeps other settings, not another space). Nothing was changed"
            )
        # (a state with other settings, loaded on purpose with strict=False, may be adapted to this teacher's)
        differ = _settings_differ(state["config"], self) if isinstance(state.get("config"), dict) else []
        if strict and differ:
            raise CheckpointError(
                f"state dict of {self.name!r} was saved with other settings ({'; '.join(differ)}); build "
                "the teacher with the saved settings, load the file with magister.load(), or pass "
                "strict=False to keep this teacher's settings")
        try:
            # (not copied here: _upgrade_state returns a new dict where it changes one; _set_state gets the copy)
            algorithm = self._upgrade_state(state["algorithm"], version)
            rng = restore_generator(state["rng"])
            # the counters are read before anything is applied, so a bad one changes nothing
            # (a negative or fractional count was truncated and taken: frontier went back to bootstrapping)
            n_observed, n_proposed = (saved_count(f"saved {k}", state.get(k, 0)) for k in ("n_observed", "n_proposed"))
            snapshot = copy.deepcopy(self._get_state())
            # the saved settings, for a teacher whose state depends on one changed with strict=False (set_aside)
            self._loading_config = state.get("config")
            try:
                self._set_state(copy.deepcopy(algorithm))
                # what the teacher holds now must be what was saved: an entry it coerced (a count saved as the
                # string "12" went on as 12, a flag saved as "no" as True, scores as strings as floats) or left
                # unread is a damaged or hand-edited checkpoint. Loaded with other settings on purpose
                # (strict=False), the teacher may adapt the state to them: only the kinds of the entries count
                found = checkpoint.state_difference(algorithm, self._get_state(), "algorithm", exact=not differ)
                if found:
                    own = " (or this teacher's _set_state does not restore what its _get_state gives)" \
                        if self._checks_units else ""  # (a teacher defined outside magister)
                    raise CheckpointError(
                        f"state dict for {self.name!r} is damaged or was edited, at {found}; this is not a state "
                        f"{self.name!r} saves{own}, so it is refused and the teacher left as it was: restore the "
                        "checkpoint from a backup, or start from an earlier one")
            except Exception:
                self._loading_config = None  # (the snapshot is this teacher's own state, of its own settings)
                self._set_state(snapshot)
                raise
            finally:
                self._loading_config = None
        except CheckpointError:
            raise
        except KeyError as e:  # an entry the state lacks: "malformed (KeyError: 'var')" did not say why, or what to do
            raise CheckpointError(
                f"state dict for {self.name!r} is malformed: it lacks the entry {e}, which an older magister's "
                f"{self.name!r} did not save (or the file is damaged); this magister cannot resume it exactly: go on "
                "with the magister that saved it, or start this teacher afresh") from None
        except Exception as e:  # noqa: BLE001 - any malformed entry is a bad checkpoint
            raise CheckpointError(f"state dict for {self.name!r} is malformed ({type(e).__name__}: {e})") from None
        self.rng = rng
        self.n_observed, self.n_proposed = n_observed, n_proposed

    @classmethod
    def _saved_state_version(cls, state: dict[str, Any]) -> int:
        """The ``state_version`` a state was saved at (1 for a state saved before versions were written); one
        that is not a whole number, or newer than this class's, is refused."""
        version = state.get("state_version", 1)
        if not is_int(version) or version < 1:
            raise CheckpointError(f"state dict for {cls.name!r} has no valid state_version ({version!r:.60}, "
                                  "expected a whole number from 1): it is damaged or was edited; restore it from "
                                  "a backup or start from an earlier checkpoint")
        if version > cls.state_version:
            raise CheckpointError(
                f"state dict for {cls.name!r} was written by a newer magister (state version {int(version)}; this "
                f"magister's {cls.name!r} reads up to version {cls.state_version}): upgrade magister to load it")
        return int(version)

    def save(self, path: str | os.PathLike) -> Path:
        """Atomically write the teacher to ``path``; reload it with :func:`magister.load`."""
        self._check_loadable()
        return checkpoint.save_state(path, self.state_dict())

    def to_bytes(self) -> bytes:
        self._check_loadable()
        return checkpoint.dumps(self.state_dict())

    def _check_loadable(self) -> None:
        """Refuse to write a checkpoint that :func:`magister.load` would rebuild as another class: it looks the
        teacher up by ``name``, which an unregistered subclass inherits from its registered parent."""
        owner = _REGISTRY.get(self.name)
        if owner is not type(self):
            which = f"is the name of {owner.__name__}, which" if owner is not None else "is registered to no class, so"
            raise CheckpointError(
                f"{type(self).__name__} is not registered: its name {self.name!r} {which} magister.load would "
                f"rebuild instead; decorate the class with @magister.register(\"your-name\") before saving it")

    @classmethod
    def from_state_dict(cls, state: dict[str, Any], **options: Any) -> Teacher:
        return from_state_dict(state, **options)

    def __repr__(self) -> str:
        def shown(k: str, v: Any) -> Any:
            try:
                return _jsonable_config(v, k)
            except CheckpointError:  # a setting a checkpoint cannot hold (accel's lambda mutator) has a repr still
                return v

        cfg = ", ".join(f"{k}={shown(k, v)!r}" for k, v in getattr(self, "_init_args", {}).items()
                        if k not in ("space", "seed", "score_range"))
        return f"{type(self).__name__}({self.space!r}{', ' + cfg if cfg else ''})"


def _current_spec(spec: Any) -> Any:
    """``spec`` as this magister writes the space it gives: a spec saved before a space had a setting lacks it
    (a MazeSpace's ``labyrinths``), and every checkpoint of such a space was refused as one of another space,
    also by :func:`magister.load`, which had rebuilt the teacher on that very space."""
    try:
        return space_from_spec(spec).to_spec()
    except (ConfigError, TypeError, ValueError, AttributeError, KeyError, RecursionError):  # not a spec: refused
        return spec


def _settings_differ(saved: dict[str, Any], teacher: Teacher) -> list[str]:
    """``"name: saved X, here Y"`` for each setting of ``saved`` (a state's config) that differs from the
    teacher's own. References to data that lives elsewhere (an opponent pool's folder) are not settings
    and are not compared; neither is anything when this teacher's own settings cannot be written down."""
    try:
        mine = teacher.config()
    except CheckpointError:
        return []

    def located(v: Any) -> bool:
        return isinstance(v, dict) and set(v) == {"__pool__"}

    def score_range(v: Any) -> Any:
        """One score range however it was written ((0, 10), [0, 10], a dict, a ScoreRange, None for the default):
        the same range in two forms is the same setting."""
        try:
            return default_score_range(type(teacher), v).to_dict()
        except (ConfigError, TypeError, ValueError):
            return v

    def default(k: str) -> Any:
        """The constructor default of setting ``k`` (the first along the ``**settings`` chain), or None."""
        for sig in _init_chain(type(teacher)):
            p = sig.parameters.get(k)
            if p is not None and p.kind is not inspect.Parameter.VAR_KEYWORD:
                return None if p.default is inspect.Parameter.empty else [_jsonable_config(p.default, k)]
        return None

    legacy = type(teacher).legacy_settings
    out = []
    for k in sorted(set(saved) | set(mine), key=str):
        a, b = saved.get(k, legacy.get(k, "(not set)")), mine.get(k, "(not set)")
        if located(a) or located(b):
            continue
        if k not in saved and k in legacy:  # a checkpoint older than the setting: its teacher did what `a` does
            if not checkpoint.states_equal(_jsonable_config(a, k), b):
                out.append(f"{k}: saved before the setting existed (as {a!r}), here {b!r}")
            continue
        if k not in saved and k in mine and (d := default(k)) is not None and checkpoint.states_equal(d[0], b):
            # a setting the checkpoint predates (saved by a magister before the teacher had it), left at its
            # default here: magister.load refused such a file, telling the user to load it with magister.load
            continue
        if k == "score_range" and checkpoint.states_equal(score_range(a), score_range(b)):
            continue
        if not checkpoint.states_equal(_jsonable_config(a, k), b):
            out.append(f"{k}: saved {a!r}, here {b!r}")
    return out


def from_state_dict(state: dict[str, Any], *, live: bool = False, **options: Any) -> Teacher:
    """Rebuild any teacher from its :meth:`Teacher.state_dict`; ``options`` go to its :meth:`Teacher.load_state_dict`
    (those its class names in ``load_options``, e.g. an opponent teacher's ``pool=``). ``live=True``: the state of a
    teacher moved here while its run goes on (a Ray actor started from it), not a checkpoint resumed: state shared
    outside the teacher is taken as it is now (an opponent teacher's pool, ``pool="current"``)."""
    if isinstance(state, dict) and "teacher" not in state and "dual" in state:  # DualCurriculum.save wrote it
        raise CheckpointError("not a teacher state but a DualCurriculum's (levels and opponents); load it with "
                              "magister.opponents.DualCurriculum.load(path) (or .load_state_dict(state))")
    if not isinstance(state, dict) or "teacher" not in state:
        raise CheckpointError("not a teacher state (missing 'teacher' entry)")
    if "space" not in state or not isinstance(state.get("config", {}), dict):
        raise CheckpointError("not a teacher state (missing 'space' entry, or 'config' is not a dict); "
                              "use Teacher.state_dict() output")
    name = state["teacher"]
    if not isinstance(name, str):  # a list or dict raised a raw TypeError (unhashable) from the registry
        raise CheckpointError(f"not a teacher state (its 'teacher' entry is {name!r}, not a teacher's name)")
    try:
        cls = teacher_class(name)
    except ConfigError as e:  # a ConfigError ("unknown teacher") that did not say the checkpoint was the problem
        raise CheckpointError(
            f"the checkpoint holds a teacher {name!r} that is not registered here (saved by a newer magister, or "
            f"by a teacher of your own): import the module that registers it (@magister.register) before loading, "
            f"or upgrade magister ({e})") from None
    if live:
        options = {**cls.live_load_options, **options}
    unknown = sorted(set(options) - set(cls.load_options))
    if unknown:
        takes = ", ".join(f"{o}=" for o in cls.load_options) or "none"
        raise ConfigError(f"loading a {name!r} teacher takes no option {', '.join(unknown)} (its options: {takes}; "
                          "pool= is for the opponent teachers over a pool). Nothing was loaded")
    version = cls._saved_state_version(state)  # a newer magister's state may hold settings this one lacks: first
    # a setting the checkpoint predates takes the value that does what its teacher did (legacy_settings)
    # (after the saved ones: the order of the settings is the order of the rebuilt teacher's config)
    config = dict(state.get("config", {}))
    config.update((k, v) for k, v in cls.legacy_settings.items() if k not in config)
    config = cls._stored_settings(config, version)  # (values an earlier magister read loosely: as it read them)

    def restore(v: Any) -> Any:
        if isinstance(v, dict) and set(v) == {"__space__"}:
            return space_from_spec(v["__space__"])
        return v

    try:
        with saved_settings():  # (checks added since, of settings given anew, do not refuse what a file holds)
            teacher = cls(space_from_spec(state["space"]), **{k: restore(v) for k, v in config.items()})
    except CheckpointError:
        raise
    except (TypeError, ValueError) as e:  # ValueError: also a space spec of the wrong kind ("low": "x")
        raise CheckpointError(f"checkpoint settings do not fit teacher {state['teacher']!r}: {e}") from None
    try:  # the teacher was built from the saved settings: one the checkpoint predates is not a difference (it was
        # refused, the advice being to load the file with magister.load, which was what refused it)
        config = {**teacher.config(), **config}
    except CheckpointError:
        pass
    teacher.load_state_dict({**state, "config": config}, **options)
    return teacher


def load(path: str | os.PathLike, **options: Any) -> Teacher:
    """Load a teacher saved with :meth:`Teacher.save`, ready to continue exactly.

    ``options`` go to the teacher's :meth:`Teacher.load_state_dict`: an opponent teacher over a pool takes
    ``pool="rewind"`` or ``pool="current"`` for a pool that changed since the save (see
    :class:`magister.opponents.OpponentTeacher`)."""
    state = checkpoint.load_state(path)
    with checkpoint.from_file(path):
        return from_state_dict(state, **options)


def loads(data: bytes, *, live: bool = False, **options: Any) -> Teacher:
    """:func:`load` from the bytes of :meth:`Teacher.to_bytes` (``live`` as in :func:`from_state_dict`)."""
    return from_state_dict(checkpoint.loads(data), live=live, **options)
