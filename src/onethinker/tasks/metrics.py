"""Metrics on typed values, written once for rewards and evaluation alike (all float64).

``temporal_iou``, ``box_iou`` and ``mean_relative_accuracy`` are vectorised (numpy, element-wise over
leading axes): a reward scores one pair (a batch of one, returned as a float), the evaluation suites in
:mod:`onethinker.eval` score whole benchmarks in one call. Every function returns values in [0, 1]. They are pure and cheap; :mod:`onethinker.rewards` caches around
them where the same inputs repeat (rollouts of one prompt).
"""

from __future__ import annotations

import math
from itertools import permutations

import numpy as np
from rapidfuzz.distance import Levenshtein

from onethinker.tasks.base import Box, Point

__all__ = [
    "MRA_THRESHOLDS",
    "MRA_TOLERANCES",
    "REWARD_MRA_EPS",
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
# when its relative error is below 1 - t (computed as decimals: 1 - 0.9 in floating point is 0.0999...,
# which would move ties).
MRA_THRESHOLDS: tuple[float, ...] = tuple(k / 20 for k in range(10, 20))
MRA_TOLERANCES = np.array([(20 - k) / 20 for k in range(10, 20)], dtype=np.float64)
_TOLERANCES = tuple(float(t) for t in MRA_TOLERANCES)
REWARD_MRA_EPS = 1e-8  # the published reward's denominator |gt| + 1e-8; benchmarks (VSI-Bench) use 0


def _finite_pair(pred, gt, size: int) -> bool:
    """Whether ``pred`` and ``gt`` are one plain pair (tuples/lists of ``size`` finite numbers): the rewards'
    case, scored in Python floats because numpy's per-call overhead would cost more than the arithmetic."""
    if type(pred) not in (tuple, list) or type(gt) not in (tuple, list) or len(pred) != size or len(gt) != size:
        return False
    try:
        return all(math.isfinite(v) for v in pred) and all(math.isfinite(v) for v in gt)
    except TypeError:
        return False


def _result(values: np.ndarray):
    """A 0-d result as a float (``np.float64``), anything else as the array."""
    return values[()] if values.ndim == 0 else values


def temporal_iou(pred, gt):
    """Element-wise IoU of time spans ``[..., 2]`` (start, end); one pair of spans gives a float.

    A reversed span has no overlap; a union shorter than 1e-12 s gives 0.
    """
    if _finite_pair(pred, gt, 2):  # the same operations in the same order on float64 scalars
        p0, p1, g0, g1 = float(pred[0]), float(pred[1]), float(gt[0]), float(gt[1])
        inter = min(p1, g1) - max(p0, g0)
        union = max(p1, g1) - min(p0, g0)
        return np.float64(inter / union if inter > 0.0 and union > 1e-12 else 0.0)
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    inter = np.minimum(pred[..., 1], gt[..., 1]) - np.maximum(pred[..., 0], gt[..., 0])
    union = np.maximum(pred[..., 1], gt[..., 1]) - np.minimum(pred[..., 0], gt[..., 0])
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where((inter > 0.0) & (union > 1e-12), inter / union, 0.0)
    return _result(iou)


def box_iou(pred, gt):
    """Element-wise IoU of ``(x1, y1, x2, y2)`` boxes ``[..., 4]``; one pair of boxes gives a float.

    Areas are continuous (no +1 pixel convention: boxes are 0-1000 relative coordinates). A box of zero area
    has no overlap with anything; a union below 1e-12 or a non-finite ratio (inf/inf from huge
    coordinates) gives 0.
    """
    if _finite_pair(pred, gt, 4):  # the same operations in the same order on float64 scalars
        p0, p1, p2, p3 = (float(v) for v in pred)
        g0, g1, g2, g3 = (float(v) for v in gt)
        iw = min(p2, g2) - max(p0, g0)
        ih = min(p3, g3) - max(p1, g1)
        inter = iw * ih if iw > 0.0 and ih > 0.0 else 0.0
        union = max(p2 - p0, 0.0) * max(p3 - p1, 0.0) + max(g2 - g0, 0.0) * max(g3 - g1, 0.0) - inter
        iou = inter / union if union > 1e-12 else 0.0
        return np.float64(iou if 0.0 <= iou <= 1.0 else 0.0)
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    iw = np.minimum(pred[..., 2], gt[..., 2]) - np.maximum(pred[..., 0], gt[..., 0])
    ih = np.minimum(pred[..., 3], gt[..., 3]) - np.maximum(pred[..., 1], gt[..., 1])
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        inter = np.where((iw > 0.0) & (ih > 0.0), iw * ih, 0.0)
        area_p = np.maximum(pred[..., 2] - pred[..., 0], 0.0) * np.maximum(pred[..., 3] - pred[..., 1], 0.0)
        area_g = np.maximum(gt[..., 2] - gt[..., 0], 0.0) * np.maximum(gt[..., 3] - gt[..., 1], 0.0)
        union = area_p + area_g - inter
        iou = np.where(union > 1e-12, inter / union, 0.0)
    return _result(np.where((iou >= 0.0) & (iou <= 1.0), iou, 0.0))


def mean_relative_accuracy(pred, gt, eps: float = REWARD_MRA_EPS):
    """MRA: the share of thresholds 0.50..0.95 (step 0.05) at which ``|pred - gt| / (|gt| + eps) < 1 - t``.

    Element-wise; one pair gives a float. ``eps`` = 1e-8 is the published reward; the benchmark definition
    (VSI-Bench, :func:`onethinker.eval.metrics.mean_relative_accuracy`) uses ``eps = 0``, where a ground
    truth of 0 has no relative error and scores 0. A non-finite relative error scores 0.
    """
    if _finite_pair((pred,), (gt,), 1):  # one pair of plain numbers: float64 scalars, same operations
        denominator = abs(float(gt)) + eps
        if not denominator > 0:
            return np.float64(0.0)
        rel = abs(float(pred) - float(gt)) / denominator
        if not math.isfinite(rel):
            return np.float64(0.0)
        return np.float64(sum(rel < tolerance for tolerance in _TOLERANCES) / len(_TOLERANCES))
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    denominator = np.abs(gt) + eps
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rel = np.abs(pred - gt) / denominator
    hits = (rel[..., None] < MRA_TOLERANCES).mean(axis=-1)
    return _result(np.where((denominator > 0) & np.isfinite(rel), hits, 0.0))


def mean_iou_over_gt_frames(pred: dict[int, Box], gt: dict[int, Box]) -> float:
    """Tracking: mean box IoU over every ground-truth frame; a frame the prediction lacks scores 0."""
    if not gt:
        return 0.0
    shared = [frame for frame in gt if frame in pred]
    if not shared:
        return 0.0
    total = sum(box_iou([pred[f] for f in shared], [gt[f] for f in shared]).tolist())  # in gt order, as summed before
    return total / len(gt)


def mean_iou_over_shared_frames(pred: dict[int, Box], gt: dict[int, Box]) -> float:
    """Spatial-temporal grounding, as published: mean box IoU over the frames both sides have.

    Missing and extra frames are not penalised here (the structure reward counts key overlap instead).
    """
    shared = [frame for frame in pred if frame in gt]
    if not shared:
        return 0.0
    return sum(box_iou([pred[f] for f in shared], [gt[f] for f in shared]).tolist()) / len(shared)


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
