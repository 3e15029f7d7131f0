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
        metric_suite: the evaluation metric suite that scores this task: a name in
            :data:`onethinker.eval.suites.SUITES` (``"accuracy"`` scores with the task's own ``accuracy``),
            or the task's own suite function ``(items, context) -> onethinker.eval.suites.SuiteResult``.
        structured: whether answers are JSON objects (perception tasks).
        uses_options: whether the record's ``options`` are appended to the question (multiple choice).
        check_ground_truth: ``(gt_value, duration_s | None) -> list[str]`` problems with a ground truth
            (coordinates outside 0-1000, spans outside the video, ...) for data validation.
        judged: whether a reward-model judge, when one is configured, scores this task's accuracy
            (open-ended answers and captions); ``accuracy`` is then the fallback for failed requests.
        synth: the task's shapes-world generator, ``(onethinker.data.synth.SynthContext) -> Sample``, or
            ``"module:function"`` naming one (imported on first use, so specs stay light); ``None`` = the
            task has no synthetic data.
        draw: how ``onethinker predict --viz`` draws an answer: ``(ax, frame, time_s | None, value,
            mask_backend) -> panel title | None`` (or ``"module:function"``); ``None`` = the media only.
        draw_times: for video answers, ``(value, duration_s) -> [seconds]`` the frames worth drawing
            (or ``"module:function"``); ``None`` = a few evenly spaced frames.
        masks: ``(value, frames [T, H, W, 3], times, mask_backend) -> bool masks [T, H, W]`` (or
            ``"module:function"``): the masks an answer prompts (segmentation; ``times`` is ``[None]`` for an
            image); :class:`onethinker.Predictor` returns them and the overlays paint them. ``None`` = no masks.
        describe: ``value -> str``, a one-line human-readable answer (``predict``); ``None`` = ``str``.
    """

    key: str
    problem_type: str
    data_types: tuple[str, ...]
    instruction: str
    parse: Callable[[str], Parsed[Any]]
    structure: Callable[[str, str], float]
    accuracy: Callable[[Any, Any], float]
    metric_suite: str | Callable[..., Any]
    structured: bool = False
    uses_options: bool = False
    check_ground_truth: Callable[[Any, float | None], list[str]] = field(default=lambda value, duration: [])
    aliases: tuple[str, ...] = ()
    published_difference: str | None = None
    judged: bool = False
    synth: Callable[[Any], Any] | str | None = None
    draw: Callable[..., str | None] | str | None = None
    draw_times: Callable[[Any, float], list[float]] | str | None = None
    describe: Callable[[Any], str] | str | None = None
    masks: Callable[..., Any] | str | None = None

    def hook(self, name: str) -> Callable[..., Any] | None:
        """The callable in field ``name`` (``synth``, ``draw``, ``draw_times``, ``describe``,
        ``masks``), importing a
        ``"module:function"`` reference on first use; ``None`` when the task has none."""
        return resolve(getattr(self, name))


def resolve(ref: Callable[..., Any] | str | None) -> Callable[..., Any] | None:
    """A callable, or the object a ``"package.module:attribute"`` string names (imported lazily)."""
    if ref is None or callable(ref):
        return ref
    if ref not in _RESOLVED:
        import importlib

        module, _, attribute = str(ref).partition(":")
        if not module or not attribute:
            raise ValueError(f"task hook {ref!r} must be a callable or 'package.module:function'")
        try:
            _RESOLVED[ref] = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as err:
            raise ImportError(f"task hook {ref!r} cannot be loaded: {err}") from err
    return _RESOLVED[ref]


_RESOLVED: dict[str, Callable[..., Any]] = {}
