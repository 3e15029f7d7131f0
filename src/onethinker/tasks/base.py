"""Types shared by every task spec.

A task spec is the single place that knows what a task is: its prompt tail, how an answer string becomes
a typed value, how a prediction is structurally checked and how it is scored. Rewards, data validation,
prompts and evaluation all look tasks up in :mod:`onethinker.tasks`; none of them branch on names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")

# Typed answer values. Boxes and points are 0-1000 relative coordinates (Qwen3-VL convention), times seconds.
Box = tuple[float, float, float, float]
Point = tuple[float, float]
Span = tuple[float, float]


@dataclass(frozen=True, slots=True)
class GroundingAnswer:
    """Spatial-temporal grounding / tracking: an optional span and boxes keyed by integer second."""

    boxes: dict[int, Box]
    time: Span | None = None


@dataclass(frozen=True, slots=True)
class SegmentationAnswer:
    """A segmenter prompt: one box, three positive and three negative points, and (video) a keyframe time."""

    box: Box
    positive_points: tuple[Point, ...]
    negative_points: tuple[Point, ...]
    time: float | None = None


@dataclass(frozen=True, slots=True)
class Parsed(Generic[T]):
    """The result of parsing answer text: a typed value, or ``None`` with a short reason."""

    value: T | None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None

    @staticmethod
    def fail(reason: str) -> "Parsed[Any]":
        return Parsed(None, reason)


@dataclass(frozen=True)
class TaskSpec:
    """Everything the package knows about one task key.

    Attributes:
        key: registry key, e.g. ``"multiple choice"``, ``"segmentation/image"``.
        problem_type: the ``problem_type`` string of the released data for this task.
        data_types: modalities the task accepts (``"image"``, ``"video"``).
        instruction: the prompt tail appended after the shared question template (exact published text).
        parse: answer text -> :class:`Parsed` typed value (never raises).
        structure: ``(answer_text, ground_truth_text) -> float`` structure reward in [0, 0.5].
        accuracy: ``(pred_value, gt_value) -> float`` accuracy reward in [0, 1] on parsed values.
        metric_suite: name of the evaluation metric suite in :mod:`onethinker.eval` that scores this task.
        structured: whether answers are JSON objects (perception tasks).
        uses_options: whether the record's ``options`` are appended to the question (multiple choice).
        check_ground_truth: ``(gt_value, duration_s | None) -> list[str]`` problems with a ground truth
            (coordinates outside 0-1000, spans outside the video, ...) for data validation.
        judged: whether a reward-model judge, when one is configured, scores this task's accuracy
            (open-ended answers and captions); ``accuracy`` is then the fallback for failed requests.
    """

    key: str
    problem_type: str
    data_types: tuple[str, ...]
    instruction: str
    parse: Callable[[str], Parsed[Any]]
    structure: Callable[[str, str], float]
    accuracy: Callable[[Any, Any], float]
    metric_suite: str
    structured: bool = False
    uses_options: bool = False
    check_ground_truth: Callable[[Any, float | None], list[str]] = field(default=lambda value, duration: [])
    aliases: tuple[str, ...] = ()
    published_difference: str | None = None
    judged: bool = False
