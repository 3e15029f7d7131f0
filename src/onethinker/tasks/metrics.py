"""Accuracy functions on typed values, with the published reward's formulas (all float64).

Every function returns a float in [0, 1]. They are pure and cheap; :mod:`onethinker.rewards` caches around
them where the same inputs repeat (rollouts of one prompt).
"""

from __future__ import annotations

import math
from itertools import permutations

from rapidfuzz.distance import Levenshtein

from onethinker.tasks.base import Box, Point, Span

__all__ = [
    "MRA_THRESHOLDS",
    "box_iou",
    "keyframe_time_similarity",
    "mean_iou_over_gt_frames",
    "mean_iou_over_shared_frames",
    "mean_relative_accuracy",
    "point_set_similarity",
    "temporal_iou",
    "word_error_rate",
]

# Confidence thresholds 0.50, 0.55, ..., 0.95 as exact twentieths (float64): a prediction passes threshold t
# when its relative error is below 1 - t.
MRA_THRESHOLDS: tuple[float, ...] = tuple(k / 20 for k in range(10, 20))
_MRA_TOLERANCES: tuple[float, ...] = tuple((20 - k) / 20 for k in range(10, 20))


def temporal_iou(pred: Span, gt: Span) -> float:
    """Intersection over union of two time spans; a reversed span has no overlap."""
    s1, e1 = pred
    s2, e2 = gt
    inter = min(e1, e2) - max(s1, s2)
    if inter <= 0.0:
        return 0.0
    union = max(e1, e2) - min(s1, s2)
    return inter / union if union > 1e-12 else 0.0


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two ``(x1, y1, x2, y2)`` boxes; degenerate boxes have zero area."""
    x1, y1, x2, y2 = a
    X1, Y1, X2, Y2 = b
    iw = min(x2, X2) - max(x1, X1)
    ih = min(y2, Y2) - max(y1, Y1)
    inter = iw * ih if iw > 0.0 and ih > 0.0 else 0.0
    area_a = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    area_b = max(0.0, X2 - X1) * max(0.0, Y2 - Y1)
    union = area_a + area_b - inter
    if not union > 1e-12:
        return 0.0
    iou = inter / union
    return iou if 0.0 <= iou <= 1.0 else 0.0  # inf/inf from huge coordinates is NaN: no overlap credit


def mean_iou_over_gt_frames(pred: dict[int, Box], gt: dict[int, Box]) -> float:
    """Tracking: mean box IoU over every ground-truth frame; a frame the prediction lacks scores 0."""
    if not gt:
        return 0.0
    total = 0.0
    for frame, gt_box in gt.items():
        pred_box = pred.get(frame)
        if pred_box is not None:
            total += box_iou(pred_box, gt_box)
    return total / len(gt)


def mean_iou_over_shared_frames(pred: dict[int, Box], gt: dict[int, Box]) -> float:
    """Spatial-temporal grounding, as published: mean box IoU over the frames both sides have.

    Missing and extra frames are not penalised here (the structure reward counts key overlap instead).
    """
    shared = [frame for frame in pred if frame in gt]
    if not shared:
        return 0.0
    return sum(box_iou(pred[f], gt[f]) for f in shared) / len(shared)


def mean_relative_accuracy(pred: float, gt: float) -> float:
    """MRA: the share of thresholds 0.50..0.95 (step 0.05) at which ``|pred - gt| / (|gt| + 1e-8) < 1 - t``."""
    rel = abs(pred - gt) / (abs(gt) + 1e-8)
    if not math.isfinite(rel):
        return 0.0
    return sum(1 for tol in _MRA_TOLERANCES if rel < tol) / len(_MRA_TOLERANCES)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level Levenshtein distance over whitespace tokens, divided by the reference length (min 1)."""
    ref_words = reference.split()
    hyp_words = hypothesis.split()
    return Levenshtein.distance(ref_words, hyp_words) / max(1, len(ref_words))


_PERMS_3 = tuple(permutations(range(3)))


def point_set_similarity(pred: tuple[Point, ...], gt: tuple[Point, ...], sigma: float = 50.0) -> float:
    """Three predicted vs three reference points: optimal one-to-one matching (least total distance),
    then a Gaussian kernel on the mean matched distance, ``exp(-d^2 / (2 sigma^2))``."""
    if len(pred) != 3 or len(gt) != 3:
        return 0.0
    dist = [[math.hypot(p[0] - g[0], p[1] - g[1]) for g in gt] for p in pred]
    best = min(dist[perm[0]][0] + dist[perm[1]][1] + dist[perm[2]][2] for perm in _PERMS_3)
    if not math.isfinite(best):
        return 0.0
    mean = best / 3.0
    return max(0.0, min(1.0, math.exp(-(mean**2) / (2 * sigma**2))))


def keyframe_time_similarity(pred: float, gt: float, tau: float = 2.0) -> float:
    """Video segmentation keyframe: ``exp(-|pred - gt| / tau)`` with tau = 2 s."""
    return math.exp(-abs(pred - gt) / tau)
