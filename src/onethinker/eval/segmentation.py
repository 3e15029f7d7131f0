"""Predicted and ground-truth masks for one segmentation record.

Ground truth rides on the record: ``mask`` (image) or ``masks`` (video; one per evaluated frame, in order, at
``mask_times`` seconds, else at ``i / fps``), each a PNG path under the media root or a COCO RLE dict. A
prediction may carry ``pred_mask`` / ``pred_masks`` in the same forms, used as they are (no media opened).
Otherwise the parsed answer (box, points, keyframe time in 0-1000 coordinates / seconds) is turned into
pixels with the record's ``resolution`` and segmented by a :class:`~onethinker.eval.masks.MaskBackend`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from onethinker.eval.masks import (
    MaskBackend,
    MaskError,
    PixelPrompt,
    decode_mask,
    read_frames_at,
    read_image_rgb,
    resize_mask,
)


class FieldError(ValueError):
    """Bad input in one field of one record; ``field`` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _media_path(record: Mapping[str, Any], kind: str, media_root: str | Path | None) -> Path:
    paths = record.get(kind) or []
    if isinstance(paths, str):
        paths = [paths]
    if not paths:
        raise FieldError(kind, f"segmentation needs one entry in '{kind}' to predict masks from")
    path = Path(paths[0])
    if not path.is_absolute() and media_root is not None:
        path = Path(media_root) / path
    if not path.is_file():
        raise FieldError(kind, f"{path} does not exist")
    return path


def _resolution(record: Mapping[str, Any]) -> tuple[int, int] | None:
    value = record.get("resolution")
    if value is None:
        return None
    if isinstance(value, Mapping):  # the released eval files spell it {"width": w, "height": h}
        value = [value.get("width"), value.get("height")]
    try:
        width, height = (int(v) for v in value)
    except (TypeError, ValueError):
        raise FieldError("resolution", f"must be [width, height], got {value!r}") from None
    if width <= 0 or height <= 0:
        raise FieldError("resolution", f"must be positive, got {value!r}")
    return width, height


def _decode(value: Any, field: str, media_root) -> np.ndarray:
    try:
        return decode_mask(value, media_root)
    except MaskError as exc:
        raise FieldError(field, str(exc)) from None


def _prompt(answer: Any, width: int, height: int) -> PixelPrompt:
    return PixelPrompt.from_relative(answer.box, answer.positive_points, answer.negative_points, width, height)


def image_masks(
    record: Mapping[str, Any], answer: Any | None, backend: MaskBackend | None, media_root
) -> tuple[np.ndarray, np.ndarray]:
    """``(pred, gt)`` boolean ``[H, W]`` masks of an image record at the evaluation resolution.

    ``answer`` is the parsed :class:`~onethinker.tasks.SegmentationAnswer`, or ``None`` when the response did
    not parse (the prediction is then an empty mask).
    """
    if record.get("mask") is None:
        raise FieldError("mask", "segmentation ground truth is missing (a PNG path or a COCO RLE dict)")
    gt = _decode(record["mask"], "mask", media_root)
    resolution = _resolution(record)
    width, height = resolution if resolution else (gt.shape[1], gt.shape[0])
    gt = resize_mask(gt, height, width)
    if record.get("pred_mask") is not None:
        return resize_mask(_decode(record["pred_mask"], "pred_mask", media_root), height, width), gt
    if answer is None or backend is None:
        return np.zeros_like(gt), gt
    image = read_image_rgb(_media_path(record, "images", media_root))
    if image.shape[:2] != (height, width):
        import cv2

        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    pred = backend.segment_image(image, _prompt(answer, width, height))
    return resize_mask(np.asarray(pred, dtype=bool), height, width), gt


def _mask_times(record: Mapping[str, Any], count: int) -> list[float]:
    times = record.get("mask_times")
    if times is not None:
        if not isinstance(times, Sequence) or len(times) != count:
            raise FieldError("mask_times", f"needs one time per entry of 'masks' ({count}), got {times!r}")
        try:
            return [float(t) for t in times]
        except (TypeError, ValueError):
            raise FieldError("mask_times", f"must be numbers of seconds, got {times!r}") from None
    fps = record.get("fps")
    if not fps:
        raise FieldError("mask_times", "video masks need 'mask_times' (seconds) or the record's 'fps'")
    return [i / float(fps) for i in range(count)]


def video_masks(
    record: Mapping[str, Any], answer: Any | None, backend: MaskBackend | None, media_root
) -> tuple[np.ndarray, np.ndarray]:
    """``(pred, gt)`` boolean ``[T, H, W]`` masks of a video record over its evaluated frames.

    With a backend, the frames at ``mask_times`` are decoded at the evaluation resolution, the model's keyframe
    is inserted at its own time (unless an evaluated frame is within 1 ms of it), the prompt is put on it and
    propagated both ways, and the keyframe is dropped again before scoring. Predicted frames missing from
    ``pred_masks`` count as empty masks.
    """
    entries = record.get("masks")
    if not isinstance(entries, Sequence) or isinstance(entries, (str, Mapping)) or not entries:
        raise FieldError("masks", "video segmentation ground truth is missing (a list of PNG paths or RLE dicts)")
    gt_frames = [_decode(value, "masks", media_root) for value in entries]
    resolution = _resolution(record)
    width, height = resolution if resolution else (gt_frames[0].shape[1], gt_frames[0].shape[0])
    gt = np.stack([resize_mask(m, height, width) for m in gt_frames])
    given = record.get("pred_masks")
    if given is not None:
        if not isinstance(given, Sequence) or isinstance(given, (str, Mapping)):
            raise FieldError("pred_masks", "must be a list of PNG paths or RLE dicts")
        pred = np.zeros_like(gt)
        for i, value in enumerate(given[: len(gt)]):
            if value is not None:
                pred[i] = resize_mask(_decode(value, "pred_masks", media_root), height, width)
        return pred, gt
    if answer is None or backend is None:
        return np.zeros_like(gt), gt
    times = _mask_times(record, len(gt))
    key_time = float(answer.time) if answer.time is not None else times[0]
    nearest = int(np.argmin(np.abs(np.asarray(times) - key_time)))
    insert = abs(times[nearest] - key_time) > 1e-3
    frame_times = sorted(times + [key_time]) if insert else times
    key_index = frame_times.index(key_time) if insert else nearest
    try:
        frames = read_frames_at(_media_path(record, "videos", media_root), frame_times)
    except MaskError as exc:
        raise FieldError("videos", str(exc)) from None
    if frames.shape[1:3] != (height, width):
        import cv2

        frames = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_LINEAR) for f in frames])
    pred = np.asarray(backend.segment_video(frames, key_index, _prompt(answer, width, height)), dtype=bool)
    if insert:
        pred = np.delete(pred, key_index, axis=0)
    return np.stack([resize_mask(m, height, width) for m in pred]), gt
