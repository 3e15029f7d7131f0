"""The task registry: the single place that knows what a task is.

Usage::

    from onethinker.tasks import task_key, get_task
    spec = get_task(task_key("Spatial Grounding", "image"))
    parsed = spec.parse('{"boxes": [1, 2, 3, 4]}')

``task_key(problem_type, data_type)`` resolves names case-insensitively (and known aliases such as
``"captioning"``); segmentation splits into ``segmentation/image`` and ``segmentation/video``. An unknown
problem type raises :class:`UnknownTaskError`; callers that must not raise (rewards) catch it and apply
their documented fallback.
"""

from __future__ import annotations

from onethinker.tasks.base import (
    Box,
    GroundingAnswer,
    Parsed,
    Point,
    SegmentationAnswer,
    Span,
    TaskSpec,
)
from onethinker.tasks.prompts import INSTRUCTIONS, QUESTION_TEMPLATE, format_question
from onethinker.tasks.registry import (
    ENTRY_POINT_GROUP,
    TASKS,
    DuplicateTaskError,
    UnknownTaskError,
    all_tasks,
    get_task,
    parse_ground_truth,
    prompt_text,
    register,
    strip_answer_tags,
    task_key,
    unregister,
)

__all__ = [
    "Box",
    "GroundingAnswer",
    "INSTRUCTIONS",
    "Parsed",
    "Point",
    "QUESTION_TEMPLATE",
    "SegmentationAnswer",
    "Span",
    "DuplicateTaskError",
    "ENTRY_POINT_GROUP",
    "TASKS",
    "TaskSpec",
    "UnknownTaskError",
    "all_tasks",
    "format_question",
    "get_task",
    "parse_ground_truth",
    "prompt_text",
    "register",
    "strip_answer_tags",
    "task_key",
    "unregister",
]
