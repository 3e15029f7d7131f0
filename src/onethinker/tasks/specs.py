"""The twelve built-in task specs. The registry registers them on its first use.

Each spec says, for one task: the prompt tail (exact published wording, from :mod:`onethinker.tasks.prompts`),
how answer text becomes a typed value, the structure reward, the accuracy reward on typed values, the
evaluation metric suite and the ground-truth checks used by data validation, and names (as lazily imported
``"module:function"`` references, so this module stays light) its shapes-world generator in
:mod:`onethinker.data.synth` and how ``predict --viz`` draws its answers (:mod:`onethinker.viz`). Formulas follow the published
OneThinker reward; docs/rewards.md lists every deliberate difference.

Structure reward (only paid when the response passes the format check; the caller zeroes it otherwise):

* non-structured tasks (multiple choice, numerical, regression, OCR, math, open-ended): 0.5 for any
  non-empty answer;
* temporal / spatial grounding, segmentation: 0.5 when the answer JSON has the task's schema, else 0;
* spatial-temporal grounding, tracking: 0.25 when the JSON has the schema, plus 0.25 x the share of
  ground-truth frame keys that the prediction also has.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Callable

from onethinker.tasks.base import GroundingAnswer, Parsed, SegmentationAnswer, TaskSpec
from onethinker.tasks.mathcheck import math_equivalent
from onethinker.tasks.metrics import (
    box_iou,
    keyframe_time_similarity,
    mean_iou_over_gt_frames,
    mean_iou_over_shared_frames,
    mean_relative_accuracy,
    point_set_similarity,
    temporal_iou,
    word_error_rate,
)
from onethinker.tasks.parsing import (
    as_box,
    as_number,
    as_points,
    as_span,
    coordinate_problems,
    load_json,
    parse_decimal,
    parse_option_letter,
)
from onethinker.tasks.prompts import INSTRUCTIONS
from onethinker.tasks.rouge import rouge_f_mean

__all__ = ["BUILTIN_SPECS"]

UNSTRUCTURED_STRUCTURE = 0.5


# --------------------------------------------------------------------------------------------------------
# Parsers (text -> Parsed typed value). Cached: the rollouts of one prompt share ground truths and often
# answers. Cached values are immutable (tuples, frozen dataclasses; GroundingAnswer.boxes must not be mutated).
# --------------------------------------------------------------------------------------------------------


def _nonempty(text: str) -> Parsed[str]:
    return Parsed(text) if text.strip() else Parsed.fail("empty answer")


@lru_cache(maxsize=8192)
def parse_multiple_choice(text: str) -> Parsed[str]:
    if not text.strip():
        return Parsed.fail("empty answer")
    return parse_option_letter(text)


@lru_cache(maxsize=8192)
def parse_number(text: str) -> Parsed[float]:
    if not text.strip():
        return Parsed.fail("empty answer")
    return parse_decimal(text)


def parse_text(text: str) -> Parsed[str]:
    return _nonempty(text)


def _json_object(text: str) -> tuple[dict | None, str | None]:
    if not text.strip():
        return None, "empty answer"
    obj, reason = load_json(text)
    if reason:
        return None, reason
    if type(obj) is not dict:
        return None, "answer JSON is not an object"
    return obj, None


@lru_cache(maxsize=8192)
def parse_temporal(text: str) -> Parsed[tuple[float, float]]:
    obj, reason = _json_object(text)
    if reason:
        return Parsed.fail(reason)
    span = as_span(obj.get("time"))
    if span is None:
        return Parsed.fail('"time" must be [start, end] (two numbers)')
    return Parsed(span)


@lru_cache(maxsize=8192)
def parse_spatial(text: str) -> Parsed[tuple[float, float, float, float]]:
    obj, reason = _json_object(text)
    if reason:
        return Parsed.fail(reason)
    box = as_box(obj.get("boxes"))
    if box is None:
        return Parsed.fail('"boxes" must be [x1, y1, x2, y2] (four numbers)')
    return Parsed(box)


@lru_cache(maxsize=4096)
def _frame_key(key: str) -> int | None:
    key = key.strip()
    return int(key) if key.isascii() and key.isdigit() else None


def _frame_boxes(value: Any) -> tuple[dict[int, tuple] | None, str | None]:
    if type(value) is not dict:
        return None, '"boxes" must be an object {"<second>": [x1, y1, x2, y2], ...}'
    if not value:
        return None, '"boxes" is empty'
    boxes: dict[int, tuple] = {}
    for key, raw in value.items():
        frame = _frame_key(key)
        if frame is None:
            return None, f'"boxes" key {key[:20]!r} is not an integer second'
        box = as_box(raw)
        if box is None:
            return None, f'"boxes"["{key[:20]}"] must be [x1, y1, x2, y2] (four numbers)'
        boxes[frame] = box
    return boxes, None


@lru_cache(maxsize=8192)
def parse_spatiotemporal(text: str) -> Parsed[GroundingAnswer]:
    obj, reason = _json_object(text)
    if reason:
        return Parsed.fail(reason)
    span = as_span(obj.get("time"))
    if span is None:
        return Parsed.fail('"time" must be [start, end] (two numbers)')
    boxes, reason = _frame_boxes(obj.get("boxes"))
    if reason:
        return Parsed.fail(reason)
    return Parsed(GroundingAnswer(boxes=boxes, time=span))


@lru_cache(maxsize=8192)
def parse_tracking(text: str) -> Parsed[GroundingAnswer]:
    obj, reason = _json_object(text)
    if reason:
        return Parsed.fail(reason)
    boxes, reason = _frame_boxes(obj.get("boxes"))
    if reason:
        return Parsed.fail(reason)
    return Parsed(GroundingAnswer(boxes=boxes, time=None))


def _segmentation(text: str, with_time: bool) -> Parsed[SegmentationAnswer]:
    obj, reason = _json_object(text)
    if reason:
        return Parsed.fail(reason)
    box = as_box(obj.get("boxes"))
    if box is None:
        return Parsed.fail('"boxes" must be [x1, y1, x2, y2] (four numbers)')
    positive = as_points(obj.get("positive_points"))
    if positive is None:
        return Parsed.fail('"positive_points" must be three [x, y] points')
    negative = as_points(obj.get("negative_points"))
    if negative is None:
        return Parsed.fail('"negative_points" must be three [x, y] points')
    time = None
    if with_time:
        time = as_number(obj.get("time"))
        if time is None:
            return Parsed.fail('"time" must be one number (seconds)')
    return Parsed(SegmentationAnswer(box=box, positive_points=positive, negative_points=negative, time=time))


@lru_cache(maxsize=8192)
def parse_segmentation_image(text: str) -> Parsed[SegmentationAnswer]:
    return _segmentation(text, with_time=False)


@lru_cache(maxsize=8192)
def parse_segmentation_video(text: str) -> Parsed[SegmentationAnswer]:
    return _segmentation(text, with_time=True)


# --------------------------------------------------------------------------------------------------------
# Structure rewards: (answer_text, ground_truth_text) -> [0, 0.5].
# --------------------------------------------------------------------------------------------------------


def structure_unstructured(answer: str, ground_truth: str) -> float:
    return UNSTRUCTURED_STRUCTURE if answer.strip() else 0.0


def _schema_structure(parse: Callable[[str], Parsed[Any]]) -> Callable[[str, str], float]:
    def structure(answer: str, ground_truth: str) -> float:
        return 0.5 if parse(answer).ok else 0.0

    structure.__name__ = f"structure_of_{parse.__name__}"
    return structure


def _key_overlap(answer: str, ground_truth: str) -> float:
    """Share of ground-truth frame keys present in the prediction (keys compared as integer seconds)."""
    pred, _ = load_json(answer)
    gt, _ = load_json(ground_truth)
    if type(pred) is not dict or type(gt) is not dict:
        return 0.0
    pred_boxes, gt_boxes = pred.get("boxes"), gt.get("boxes")
    if type(pred_boxes) is not dict or type(gt_boxes) is not dict or not gt_boxes:
        return 0.0

    def keys(boxes: dict) -> set:
        return {k if (frame := _frame_key(k)) is None else frame for k in boxes}

    gt_keys = keys(gt_boxes)
    return len(keys(pred_boxes) & gt_keys) / len(gt_keys)


def _frames_structure(parse: Callable[[str], Parsed[Any]]) -> Callable[[str, str], float]:
    def structure(answer: str, ground_truth: str) -> float:
        if not answer.strip():
            return 0.0
        schema = 0.25 if parse(answer).ok else 0.0
        return schema + 0.25 * _key_overlap(answer, ground_truth)

    structure.__name__ = f"structure_of_{parse.__name__}"
    return structure


# --------------------------------------------------------------------------------------------------------
# Accuracy rewards on typed values: (pred, gt) -> [0, 1].
# --------------------------------------------------------------------------------------------------------


def accuracy_option(pred: str, gt: str) -> float:
    return 1.0 if pred == gt else 0.0


def accuracy_numerical(pred: float, gt: float) -> float:
    # Equal to two decimals, exactly as published (Python's round on both sides).
    return 1.0 if round(pred, 2) == round(gt, 2) else 0.0


def accuracy_regression(pred: float, gt: float) -> float:
    return mean_relative_accuracy(pred, gt)


def accuracy_ocr(pred: str, gt: str) -> float:
    return max(0.0, min(1.0, 1.0 - word_error_rate(gt, pred)))


def accuracy_math(pred: str, gt: str) -> float:
    return 1.0 if math_equivalent(gt, pred) else 0.0


def accuracy_open_ended(pred: str, gt: str) -> float:
    return rouge_f_mean(gt, pred)


def accuracy_temporal(pred: tuple, gt: tuple) -> float:
    return temporal_iou(pred, gt)


def accuracy_spatial(pred: tuple, gt: tuple) -> float:
    return box_iou(pred, gt)


def accuracy_spatiotemporal(pred: GroundingAnswer, gt: GroundingAnswer) -> float:
    tiou = temporal_iou(pred.time, gt.time) if pred.time is not None and gt.time is not None else 0.0
    return 0.5 * tiou + 0.5 * mean_iou_over_shared_frames(pred.boxes, gt.boxes)


def accuracy_tracking(pred: GroundingAnswer, gt: GroundingAnswer) -> float:
    return mean_iou_over_gt_frames(pred.boxes, gt.boxes)


def accuracy_segmentation_image(pred: SegmentationAnswer, gt: SegmentationAnswer) -> float:
    iou = box_iou(pred.box, gt.box)
    pos = point_set_similarity(pred.positive_points, gt.positive_points)
    neg = point_set_similarity(pred.negative_points, gt.negative_points)
    return 0.5 * iou + 0.25 * pos + 0.25 * neg


def accuracy_segmentation_video(pred: SegmentationAnswer, gt: SegmentationAnswer) -> float:
    if pred.time is None or gt.time is None:
        return 0.0
    iou = box_iou(pred.box, gt.box)
    time_sim = keyframe_time_similarity(pred.time, gt.time)
    pos = point_set_similarity(pred.positive_points, gt.positive_points)
    neg = point_set_similarity(pred.negative_points, gt.negative_points)
    return 0.3 * iou + 0.3 * time_sim + 0.2 * pos + 0.2 * neg


# --------------------------------------------------------------------------------------------------------
# Ground-truth checks for data validation: (gt_value, duration_s | None) -> problems.
# --------------------------------------------------------------------------------------------------------


def _span_problems(span: tuple[float, float], duration: float | None, name: str = "time") -> list[str]:
    start, end = span
    problems = []
    if start < 0:
        problems.append(f"{name} starts before 0 s ({start})")
    if start > end:
        problems.append(f"{name} start {start} is after its end {end}")
    if duration is not None and end > duration + 1e-6:
        problems.append(f"{name} ends at {end} s, after the video's end ({duration} s)")
    return problems


def _box_problems(box: tuple, name: str = "box") -> list[str]:
    problems = coordinate_problems(name, box)
    if box[0] > box[2] or box[1] > box[3]:
        problems.append(f"{name} {list(box)} has x1 > x2 or y1 > y2")
    return problems


def check_number(value: Any, duration: float | None) -> list[str]:
    return [] if isinstance(value, float) and math.isfinite(value) else [f"not a finite number: {value!r}"]


def check_text(value: Any, duration: float | None) -> list[str]:
    return [] if isinstance(value, str) and value.strip() else ["empty answer"]


def check_temporal(value: tuple, duration: float | None) -> list[str]:
    return _span_problems(value, duration)


def check_spatial(value: tuple, duration: float | None) -> list[str]:
    return _box_problems(value)


def check_frames(value: GroundingAnswer, duration: float | None) -> list[str]:
    problems = _span_problems(value.time, duration) if value.time is not None else []
    if not value.boxes:
        problems.append('"boxes" is empty')
    for frame, box in value.boxes.items():
        problems += _box_problems(box, f"box at second {frame}")
        if duration is not None and frame > duration + 1e-6:
            problems.append(f"box at second {frame} is after the video's end ({duration} s)")
    if value.time is not None and value.boxes:
        start, end = value.time
        outside = [f for f in value.boxes if f < math.floor(start) or f > math.ceil(end)]
        if outside:
            problems.append(f"box seconds {sorted(outside)[:5]} lie outside the span [{start}, {end}]")
    return problems


def check_segmentation(value: SegmentationAnswer, duration: float | None) -> list[str]:
    problems = _box_problems(value.box)
    for name, points in (("positive point", value.positive_points), ("negative point", value.negative_points)):
        for point in points:
            problems += coordinate_problems(name, point)
    if value.time is not None:
        if value.time < 0:
            problems.append(f"keyframe time {value.time} is before 0 s")
        if duration is not None and value.time > duration + 1e-6:
            problems.append(f"keyframe time {value.time} s is after the video's end ({duration} s)")
    return problems


# --------------------------------------------------------------------------------------------------------
# The registry entries.
# --------------------------------------------------------------------------------------------------------

_BOTH = ("image", "video")

BUILTIN_SPECS: tuple[TaskSpec, ...] = (
    TaskSpec(
        key="multiple choice",
        problem_type="multiple choice",
        data_types=_BOTH,
        instruction=INSTRUCTIONS["multiple choice"],
        parse=parse_multiple_choice,
        structure=structure_unstructured,
        accuracy=accuracy_option,
        metric_suite="accuracy",
        published_difference="option_letter",
        uses_options=True,
        check_ground_truth=lambda value, duration: [] if isinstance(value, str) and len(value) == 1 else
        [f"not an option letter: {value!r}"],
        synth="onethinker.data.synth:multiple_choice",
    ),
    TaskSpec(
        key="numerical",
        problem_type="numerical",
        data_types=_BOTH,
        instruction=INSTRUCTIONS["numerical"],
        parse=parse_number,
        structure=structure_unstructured,
        accuracy=accuracy_numerical,
        metric_suite="accuracy",
        check_ground_truth=check_number,
        synth="onethinker.data.synth:numerical",
    ),
    TaskSpec(
        key="regression",
        problem_type="regression",
        data_types=_BOTH,
        instruction=INSTRUCTIONS["regression"],
        parse=parse_number,
        structure=structure_unstructured,
        accuracy=accuracy_regression,
        metric_suite="mra",
        published_difference="mra_float64",
        check_ground_truth=check_number,
        synth="onethinker.data.synth:regression",
    ),
    TaskSpec(
        key="OCR",
        problem_type="OCR",
        data_types=_BOTH,
        instruction=INSTRUCTIONS["OCR"],
        parse=parse_text,
        structure=structure_unstructured,
        accuracy=accuracy_ocr,
        metric_suite="wer",
        check_ground_truth=check_text,
        synth="onethinker.data.synth:ocr",
    ),
    TaskSpec(
        key="math",
        problem_type="math",
        data_types=_BOTH,
        instruction=INSTRUCTIONS["math"],
        parse=parse_text,
        structure=structure_unstructured,
        accuracy=accuracy_math,
        metric_suite="accuracy",
        published_difference="math_equivalence",
        check_ground_truth=check_text,
        synth="onethinker.data.synth:math_expression",
    ),
    TaskSpec(
        key="open-ended",
        problem_type="open-ended",
        data_types=_BOTH,
        instruction=INSTRUCTIONS["open-ended"],
        parse=parse_text,
        structure=structure_unstructured,
        accuracy=accuracy_open_ended,
        metric_suite="rouge",
        check_ground_truth=check_text,
        aliases=("captioning",),
        judged=True,
        synth="onethinker.data.synth:open_ended",
    ),
    TaskSpec(
        key="temporal grounding",
        problem_type="temporal grounding",
        data_types=("video",),
        instruction=INSTRUCTIONS["temporal grounding"],
        parse=parse_temporal,
        structure=_schema_structure(parse_temporal),
        accuracy=accuracy_temporal,
        metric_suite="temporal_grounding",
        structured=True,
        check_ground_truth=check_temporal,
        synth="onethinker.data.synth:temporal_grounding",
        draw="onethinker.viz:draw_span",
        draw_times="onethinker.viz:span_times",
    ),
    TaskSpec(
        key="spatial grounding",
        problem_type="spatial grounding",
        data_types=("image",),
        instruction=INSTRUCTIONS["spatial grounding"],
        parse=parse_spatial,
        structure=_schema_structure(parse_spatial),
        accuracy=accuracy_spatial,
        metric_suite="spatial_grounding",
        structured=True,
        check_ground_truth=check_spatial,
        synth="onethinker.data.synth:spatial_grounding",
        draw="onethinker.viz:draw_box",
    ),
    TaskSpec(
        key="spatial-temporal grounding",
        problem_type="spatial-temporal grounding",
        data_types=("video",),
        instruction=INSTRUCTIONS["spatial-temporal grounding"],
        parse=parse_spatiotemporal,
        structure=_frames_structure(parse_spatiotemporal),
        accuracy=accuracy_spatiotemporal,
        metric_suite="spatiotemporal_grounding",
        structured=True,
        check_ground_truth=check_frames,
        synth="onethinker.data.synth:spatiotemporal_grounding",
        draw="onethinker.viz:draw_second_box",
        draw_times="onethinker.viz:second_box_times",
        describe="onethinker.viz:describe_boxes",
    ),
    TaskSpec(
        key="tracking",
        problem_type="tracking",
        data_types=("video",),
        instruction=INSTRUCTIONS["tracking"],
        parse=parse_tracking,
        structure=_frames_structure(parse_tracking),
        accuracy=accuracy_tracking,
        metric_suite="tracking",
        structured=True,
        check_ground_truth=check_frames,
        synth="onethinker.data.synth:tracking",
        draw="onethinker.viz:draw_tracking_box",
        draw_times="onethinker.viz:tracking_box_times",
        describe="onethinker.viz:describe_boxes",
    ),
    TaskSpec(
        key="segmentation/image",
        problem_type="segmentation",
        data_types=("image",),
        instruction=INSTRUCTIONS["segmentation/image"],
        parse=parse_segmentation_image,
        structure=_schema_structure(parse_segmentation_image),
        accuracy=accuracy_segmentation_image,
        metric_suite="image_segmentation",
        structured=True,
        check_ground_truth=check_segmentation,
        synth="onethinker.data.synth:segmentation_image",
        draw="onethinker.viz:draw_segmentation",
        draw_times="onethinker.viz:segmentation_times",
        describe="onethinker.viz:describe_segmentation",
        masks="onethinker.viz:segmentation_masks",
    ),
    TaskSpec(
        key="segmentation/video",
        problem_type="segmentation",
        data_types=("video",),
        instruction=INSTRUCTIONS["segmentation/video"],
        parse=parse_segmentation_video,
        structure=_schema_structure(parse_segmentation_video),
        accuracy=accuracy_segmentation_video,
        metric_suite="video_segmentation",
        structured=True,
        check_ground_truth=check_segmentation,
        synth="onethinker.data.synth:segmentation_video",
        draw="onethinker.viz:draw_segmentation",
        draw_times="onethinker.viz:segmentation_times",
        describe="onethinker.viz:describe_segmentation",
        masks="onethinker.viz:segmentation_masks",
    ),
)
