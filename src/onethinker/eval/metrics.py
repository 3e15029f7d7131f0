"""Benchmark metrics as pure numpy functions.

Every function here works on plain arrays and returns fractions in [0, 1]; the metric suites
(:mod:`onethinker.eval.suites`) turn them into the percentages papers report. Definitions follow each
benchmark's own evaluation code:

- temporal grounding (Charades-STA, ActivityNet Captions): tIoU of two spans; ``R@m`` counts tIoU >= m.
- regression (VSI-Bench): MRA, the mean over theta in {0.50, ..., 0.95} of 1[relative error < 1 - theta].
- spatial grounding (RefCOCO/+/g): box IoU; ``Acc@0.5`` counts IoU > 0.5.
- spatio-temporal grounding (HC-STVG): ``vIoU = sum_{t in S_i} IoU(b_t, b'_t) / |S_u|`` where ``S_i`` / ``S_u``
  are the frames in the intersection / union of the predicted and ground-truth tubes; ``vIoU@R`` counts vIoU > R.
- tracking (GOT-10k): AO is the mean IoU over all ground-truth frames of all sequences pooled together,
  ``SR@t`` the fraction of those frames with IoU > t.
- masks (DAVIS 2017): region similarity J is mask IoU (1 when both masks are empty); contour accuracy F is the
  F-measure of boundary pixels matched within ``ceil(0.008 * image diagonal)`` pixels (disk dilation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from onethinker.tasks import metrics as _shared

# ----------------------------------------------------------------------------------------------------------
# spans and boxes
# ----------------------------------------------------------------------------------------------------------


# Spans, boxes and MRA are written once, in onethinker.tasks.metrics, and shared with the rewards.
temporal_iou = _shared.temporal_iou
box_iou = _shared.box_iou
MRA_TOLERANCES = _shared.MRA_TOLERANCES


def mean_relative_accuracy(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """VSI-Bench MRA per item: the share of theta in {0.50, ..., 0.95} with ``|pred - gt| / |gt| < 1 - theta``.

    Strict ``<`` against exact tolerances, as the VSI-Bench paper and the published OneThinker evaluation
    define it (so a 10% error scores 0.8, not 0.9). A ground truth of 0 has no relative error: it scores 0.
    The reward's MRA is the same function with the published ``|gt| + 1e-8`` denominator.
    """
    return np.asarray(_shared.mean_relative_accuracy(pred, gt, eps=0.0))


def recall_at(values: np.ndarray, threshold: float, *, strict: bool) -> float:
    """Fraction of ``values`` above ``threshold`` (``>`` when strict, else ``>=``); 0 for no values."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return 0.0
    hits = values > threshold if strict else values >= threshold
    return float(hits.mean())


# ----------------------------------------------------------------------------------------------------------
# tubes (spatio-temporal grounding) and tracks
# ----------------------------------------------------------------------------------------------------------

Boxes = dict[int, Sequence[float]]


def tube_frames(span: tuple[float, float] | None, boxes: Boxes) -> set[int]:
    """The integer seconds a predicted tube covers: those inside its span (inclusive), else its box keys."""
    if span is None:
        return set(int(k) for k in boxes)
    start, end = span
    if not (math.isfinite(start) and math.isfinite(end)) or end < start:
        return set()
    return set(range(math.ceil(start), math.floor(end) + 1))


def _gather(frames_per_item: Sequence[Sequence[int]], boxes_per_item: Sequence[Boxes]) -> tuple[np.ndarray, np.ndarray]:
    """Stack the boxes of the listed frames of every item; a frame without a box gets ``present = False``."""
    rows = [boxes.get(frame) for frames, boxes in zip(frames_per_item, boxes_per_item) for frame in frames]
    present = np.array([row is not None for row in rows], dtype=bool)
    out = np.zeros((len(rows), 4), dtype=np.float64)
    if present.any():
        out[present] = np.asarray([row for row in rows if row is not None], dtype=np.float64).reshape(-1, 4)
    return out, present


def _per_item_sums(values: np.ndarray, counts: Sequence[int]) -> np.ndarray:
    owner = np.repeat(np.arange(len(counts)), counts)
    return np.bincount(owner, weights=values, minlength=len(counts)).astype(np.float64)


def tube_vious(
    pred_frames: Sequence[set[int]],
    pred_boxes: Sequence[Boxes],
    gt_frames: Sequence[set[int]],
    gt_boxes: Sequence[Boxes],
) -> tuple[np.ndarray, np.ndarray]:
    """HC-STVG vIoU of each predicted tube against its ground truth, and the published training variant.

    Returns two arrays over the items:

    - ``viou``: sum of box IoU over the frames in both tubes / number of frames in either tube. A frame inside
      the predicted tube without a predicted box scores 0 there; an empty union gives 0.
    - ``shared``: the OneThinker training/eval variant, mean box IoU over the frames both the prediction and
      the ground truth have boxes for (0 when there are none); it ignores the temporal extent.
    """
    inter = [sorted(p & g) for p, g in zip(pred_frames, gt_frames)]
    union = np.array([len(p | g) for p, g in zip(pred_frames, gt_frames)], dtype=np.float64)
    p, p_ok = _gather(inter, pred_boxes)
    g, g_ok = _gather(inter, gt_boxes)
    sums = _per_item_sums(np.where(p_ok & g_ok, box_iou(p, g), 0.0), [len(f) for f in inter])
    viou = np.divide(sums, union, out=np.zeros_like(sums), where=union > 0)

    shared = [sorted(set(pb) & set(gb)) for pb, gb in zip(pred_boxes, gt_boxes)]
    counts = np.array([len(f) for f in shared], dtype=np.float64)
    p, _ = _gather(shared, pred_boxes)
    g, _ = _gather(shared, gt_boxes)
    sums = _per_item_sums(box_iou(p, g), [len(f) for f in shared])
    shared_iou = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    return viou, shared_iou


def track_ious(pred_boxes: Sequence[Boxes], gt_boxes: Sequence[Boxes]) -> tuple[np.ndarray, np.ndarray]:
    """Box IoU on every ground-truth frame of every track, pooled; a frame without a prediction scores 0.

    Returns ``(ious, owner)``: one IoU per ground-truth frame and the index of the track it belongs to.
    """
    frames = [sorted(gb) for gb in gt_boxes]
    g, _ = _gather(frames, gt_boxes)
    p, present = _gather(frames, pred_boxes)
    owner = np.repeat(np.arange(len(frames)), [len(f) for f in frames])
    return np.where(present, box_iou(p, g), 0.0), owner


# ----------------------------------------------------------------------------------------------------------
# masks
# ----------------------------------------------------------------------------------------------------------


def mask_intersection_union(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel counts of intersection and union over the last two axes (masks of shape ``[..., H, W]``)."""
    pred = np.asarray(pred, dtype=bool)
    gt = np.asarray(gt, dtype=bool)
    if pred.shape != gt.shape:
        raise ValueError(f"mask shapes differ: prediction {pred.shape} vs ground truth {gt.shape}")
    inter = np.count_nonzero(pred & gt, axis=(-2, -1))
    union = np.count_nonzero(pred | gt, axis=(-2, -1))
    return np.asarray(inter, dtype=np.int64), np.asarray(union, dtype=np.int64)


def region_similarity(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """DAVIS J: mask IoU per mask over the last two axes; 1 where both masks are empty."""
    inter, union = mask_intersection_union(pred, gt)
    return np.divide(inter, union, out=np.ones(inter.shape, dtype=np.float64), where=union > 0)


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """The DAVIS one-pixel boundary map of a binary mask.

    A pixel is on the boundary when it differs from its east, south or south-east neighbour (so the map sits
    half a pixel towards the origin of the true contour); on the last row only the east neighbour counts, on the
    last column only the south one, and the bottom-right pixel is never a boundary.
    """
    seg = np.asarray(mask, dtype=bool)
    east = np.zeros_like(seg)
    south = np.zeros_like(seg)
    south_east = np.zeros_like(seg)
    east[:, :-1] = seg[:, 1:]
    south[:-1, :] = seg[1:, :]
    south_east[:-1, :-1] = seg[1:, 1:]
    bmap = (seg ^ east) | (seg ^ south) | (seg ^ south_east)
    bmap[-1, :] = seg[-1, :] ^ east[-1, :]
    bmap[:, -1] = seg[:, -1] ^ south[:, -1]
    bmap[-1, -1] = False
    return bmap


def disk(radius: float) -> np.ndarray:
    """A disk structuring element: grid points with x^2 + y^2 <= radius^2, on a (2r+1)^2 grid."""
    r = int(math.floor(radius))
    axis = np.arange(-r, r + 1)
    xx, yy = np.meshgrid(axis, axis)
    return (xx**2 + yy**2 <= radius**2).astype(np.uint8)


def boundary_tolerance(height: int, width: int, bound_th: float = 0.008) -> int:
    """DAVIS boundary tolerance in pixels: ``bound_th`` itself if >= 1, else ceil(bound_th * image diagonal)."""
    if bound_th >= 1:
        return int(bound_th)
    return int(math.ceil(bound_th * math.hypot(height, width)))


def boundary_f_measure(pred: np.ndarray, gt: np.ndarray, bound_th: float = 0.008) -> float:
    """DAVIS F for one frame: F-measure of boundary precision and recall within the tolerance.

    Precision is the share of predicted boundary pixels within the tolerance of a ground-truth boundary pixel,
    recall the converse. With no predicted boundary precision is 1 (recall 0 unless the truth has none too);
    with no true boundary recall is 1. Both empty gives F = 1.
    """
    pred = np.asarray(pred, dtype=bool)
    gt = np.asarray(gt, dtype=bool)
    if pred.shape != gt.shape:
        raise ValueError(f"mask shapes differ: prediction {pred.shape} vs ground truth {gt.shape}")
    radius = boundary_tolerance(*gt.shape, bound_th=bound_th)
    pred_b = boundary_map(pred)
    gt_b = boundary_map(gt)
    n_pred = int(pred_b.sum())
    n_gt = int(gt_b.sum())
    if n_pred == 0 and n_gt == 0:
        return 1.0
    if n_pred == 0:
        precision, recall = 1.0, 0.0
    elif n_gt == 0:
        precision, recall = 0.0, 1.0
    else:
        kernel = disk(radius)
        pred_dil = cv2.dilate(pred_b.astype(np.uint8), kernel).astype(bool)
        gt_dil = cv2.dilate(gt_b.astype(np.uint8), kernel).astype(bool)
        precision = float((pred_b & gt_dil).sum()) / n_pred
        recall = float((gt_b & pred_dil).sum()) / n_gt
    if precision + recall == 0:
        return 0.0
    return 2.0 * precision * recall / (precision + recall)


def video_j_and_f(pred: np.ndarray, gt: np.ndarray, bound_th: float = 0.008) -> tuple[float, float]:
    """Mean J and mean F over the frames of one object (masks ``[T, H, W]``)."""
    pred = np.asarray(pred, dtype=bool)
    gt = np.asarray(gt, dtype=bool)
    if gt.shape[0] == 0:
        raise ValueError("an object needs at least one ground-truth frame")
    j = region_similarity(pred, gt)
    f = np.array([boundary_f_measure(p, g, bound_th) for p, g in zip(pred, gt)], dtype=np.float64)
    return float(j.mean()), float(f.mean())
