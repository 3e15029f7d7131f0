"""Registry storage and name resolution. The specs themselves live in :mod:`onethinker.tasks.specs`."""

from __future__ import annotations

from onethinker.tasks.base import TaskSpec
from onethinker.tasks.prompts import format_question

TASKS: dict[str, TaskSpec] = {}
_ALIASES: dict[str, str] = {}


class UnknownTaskError(KeyError):
    """A problem_type (or data_type, for segmentation) that no registered spec handles."""

    def __str__(self) -> str:  # KeyError quotes its message; this one is a sentence.
        return str(self.args[0]) if self.args else "unknown task"


def register(spec: TaskSpec) -> TaskSpec:
    """Add a spec; its key, problem_type and aliases all resolve to it (case-insensitively)."""
    if spec.key in TASKS:
        raise ValueError(f"task {spec.key!r} is registered twice")
    TASKS[spec.key] = spec
    for name in (spec.key, *spec.aliases):
        _ALIASES[_norm(name)] = spec.key
    return spec


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
    if not TASKS:
        import onethinker.tasks.specs  # noqa: F401  (registers every built-in task)


def strip_answer_tags(text: str) -> str:
    """Ground truth may come wrapped in ``<answer>...</answer>``; return the inner text, stripped."""
    inner = _ANSWER_WRAPPED.fullmatch(text)
    return (inner.group(1) if inner else text).strip()


def parse_ground_truth(key: str, text: str):
    """Parse a record's ground-truth answer (optionally ``<answer>``-wrapped) with the task's parser."""
    return get_task(key).parse(strip_answer_tags(text))


import re  # noqa: E402  (kept beside its only use)

_ANSWER_WRAPPED = re.compile(r"\s*<answer>(.*)</answer>\s*", re.DOTALL)
