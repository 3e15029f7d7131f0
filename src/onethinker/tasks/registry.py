"""Registry storage and name resolution. The specs themselves live in :mod:`onethinker.tasks.specs`.

Three sources fill the registry, in this order, the first time anything registers or looks a task up:
the twelve built-in specs, then every entry point of the ``onethinker.tasks`` group (a third-party
package's ``[project.entry-points."onethinker.tasks"]``; the entry point names a :class:`TaskSpec`, a
module that registers on import, or a zero-argument function that registers), then explicit
:func:`register` calls. All coexist; a second spec for a key, problem type or alias that is already
taken is refused with an error naming both.
"""

from __future__ import annotations

import sys
from importlib import metadata
from types import ModuleType

from onethinker.tasks.base import TaskSpec
from onethinker.tasks.prompts import format_question

TASKS: dict[str, TaskSpec] = {}
_ALIASES: dict[str, str] = {}
_ORIGIN: dict[str, str] = {}  # key -> where it was registered from, for duplicate-key errors
ENTRY_POINT_GROUP = "onethinker.tasks"
_state = "empty"  # "empty" -> "loading" (built-ins, then entry points) -> "ready"
_origin_hint: str | None = None
_LISTENERS: list = []


def on_change(callback) -> None:
    """Call ``callback()`` after every :func:`register` / :func:`unregister` (caches keyed by task name,
    such as the rewards', drop what they memoised)."""
    _LISTENERS.append(callback)


def _changed() -> None:
    for callback in _LISTENERS:
        callback()


class UnknownTaskError(KeyError):
    """A problem_type (or data_type, for segmentation) that no registered spec handles."""

    def __str__(self) -> str:  # KeyError quotes its message; this one is a sentence.
        return str(self.args[0]) if self.args else "unknown task"


class DuplicateTaskError(ValueError):
    """A spec whose key (or one of its names) is already taken by another registered spec."""


def register(spec: TaskSpec) -> TaskSpec:
    """Add a spec; its key, problem_type and aliases all resolve to it (case-insensitively).

    Safe in any order relative to the first lookup: the built-ins (and entry-point tasks) are loaded
    first, so registering never hides them. Raises :class:`DuplicateTaskError` when the key or a name
    already belongs to another registered spec (registering the very same spec object again is a no-op).
    Returns the spec, so it can be used as ``SPEC = register(...)``.
    """
    if not isinstance(spec, TaskSpec):
        raise TypeError(f"register() takes a TaskSpec, got {type(spec).__name__}")
    _ensure_loaded()
    origin = _origin_hint or _caller_module()
    if TASKS.get(spec.key) is spec:  # the same object again (a module that registers on import, named by
        return spec                  # an entry point too): nothing to do
    if spec.key in TASKS:
        raise DuplicateTaskError(
            f"task key {spec.key!r} is already registered (by {_ORIGIN[spec.key]}); "
            f"{origin} must use another key")
    names = {_norm(n) for n in (spec.key, *spec.aliases)}
    if "/" not in spec.key:  # a problem_type that needs data_type to resolve has no plain name of its own
        names.add(_norm(spec.problem_type))
    for name in sorted(names):
        if name in _ALIASES and _ALIASES[name] != spec.key:
            other = _ALIASES[name]
            raise DuplicateTaskError(
                f"task {spec.key!r}: the name {name!r} already resolves to task {other!r} "
                f"(registered by {_ORIGIN[other]})")
    TASKS[spec.key] = spec
    _ORIGIN[spec.key] = origin
    for name in names:
        _ALIASES[name] = spec.key
    _changed()
    return spec


def unregister(key: str) -> TaskSpec:
    """Remove a registered task (tests and notebooks that register a task temporarily)."""
    _ensure_loaded()
    if key not in TASKS:
        raise UnknownTaskError(f"unknown task key {key!r} (known: {', '.join(TASKS)})")
    spec = TASKS.pop(key)
    _ORIGIN.pop(key, None)
    for name in [n for n, k in _ALIASES.items() if k == key]:
        del _ALIASES[name]
    _changed()
    return spec


def _caller_module() -> str:
    frame = sys._getframe(2)
    return frame.f_globals.get("__name__", "?")


def _norm(name: str) -> str:
    return " ".join(str(name).strip().lower().replace("_", " ").split())


def task_key(problem_type: str, data_type: str | None = None) -> str:
    """Resolve a record's (problem_type, data_type) to a registry key, case-insensitively.

    Segmentation (``problem_type="segmentation"``) resolves to ``segmentation/image`` or
    ``segmentation/video`` by ``data_type``. Raises :class:`UnknownTaskError` for anything else unknown.
    """
    _ensure_loaded()
    if not isinstance(problem_type, str):
        raise UnknownTaskError(f"problem_type must be a string, got {type(problem_type).__name__}")
    name = _norm(problem_type)
    if name in _ALIASES:
        return _ALIASES[name]
    modality = _norm(data_type or "")
    combined = f"{name}/{modality}"
    if combined in _ALIASES:
        return _ALIASES[combined]
    known = ", ".join(sorted({s.problem_type for s in TASKS.values()}))
    if any(s.problem_type.lower() == name for s in TASKS.values()):
        raise UnknownTaskError(f"problem_type {problem_type!r} needs data_type image or video, got {data_type!r}")
    raise UnknownTaskError(f"unknown problem_type {problem_type!r} (known: {known})")


def all_tasks() -> dict[str, TaskSpec]:
    """Every registered task by key (built-ins, entry-point tasks, explicit registrations), loaded."""
    _ensure_loaded()
    return TASKS


def get_task(key: str) -> TaskSpec:
    """The spec for a registry key (as returned by :func:`task_key`)."""
    _ensure_loaded()
    try:
        return TASKS[key]
    except KeyError:
        raise UnknownTaskError(f"unknown task key {key!r} (known: {', '.join(TASKS)})") from None


def prompt_text(problem: str, key: str, options: list[str] | None = None) -> str:
    """The complete user prompt text for a record of task ``key`` (exact published wording)."""
    spec = get_task(key)
    return format_question(problem, spec.instruction, options if spec.uses_options else None)


def _ensure_loaded() -> None:
    """Load the built-in specs, then the entry-point tasks, once (re-entrant: they call register)."""
    global _state, _origin_hint
    if _state != "empty":
        return
    _state = "loading"
    try:
        _origin_hint = "onethinker (built-in)"
        from onethinker.tasks.specs import BUILTIN_SPECS

        for spec in BUILTIN_SPECS:
            register(spec)

        for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
            _origin_hint = f"entry point {entry.name!r} ({entry.value})"
            _load_entry_point(entry)
    except BaseException:
        _state = "empty"
        TASKS.clear(), _ALIASES.clear(), _ORIGIN.clear()
        raise
    finally:
        _origin_hint = None
    _state = "ready"


def _load_entry_point(entry: metadata.EntryPoint) -> None:
    where = f"entry point {entry.name!r} = {entry.value!r} in group {ENTRY_POINT_GROUP!r}"
    importing = sys.modules.get(entry.module)
    if importing is not None and getattr(getattr(importing, "__spec__", None), "_initializing", False):
        return  # that module is being imported right now and registers its tasks itself when it gets there
    try:
        target = entry.load()
    except Exception as err:
        raise ImportError(f"cannot load task {where}: {type(err).__name__}: {err}") from err
    if isinstance(target, TaskSpec):
        register(target)
    elif isinstance(target, (list, tuple)) and all(isinstance(t, TaskSpec) for t in target):
        for spec in target:
            register(spec)
    elif isinstance(target, ModuleType):
        pass  # importing the module registered its tasks
    elif callable(target):
        target()
    else:
        raise TypeError(f"{where} names a {type(target).__name__}; expected a TaskSpec, a module or a function")


def strip_answer_tags(text: str) -> str:
    """Ground truth may come wrapped in ``<answer>...</answer>``; return the inner text, stripped."""
    inner = _ANSWER_WRAPPED.fullmatch(text)
    return (inner.group(1) if inner else text).strip()


def parse_ground_truth(key: str, text: str):
    """Parse a record's ground-truth answer (optionally ``<answer>``-wrapped) with the task's parser."""
    return get_task(key).parse(strip_answer_tags(text))


import re  # noqa: E402  (kept beside its only use)

_ANSWER_WRAPPED = re.compile(r"\s*<answer>(.*)</answer>\s*", re.DOTALL)
