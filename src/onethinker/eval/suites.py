"""Metric suites, keyed by the registry's ``TaskSpec.metric_suite`` names.

A suite takes the scored items of one group (records whose responses and ground truths are already parsed by
the task registry) and returns the group's metrics in percent, plus one primary score per item in [0, 1]
(used when a benchmark mixes tasks, for its ``overall``). QA suites reuse the registry's own ``accuracy``
(MRA excepted: see :func:`onethinker.eval.metrics.mean_relative_accuracy`);
perception suites use the benchmark definitions in :mod:`onethinker.eval.metrics`.

=========================  =====================================================  ==========
suite                      metrics (percent)                                      primary
=========================  =====================================================  ==========
accuracy                   accuracy                                               accuracy
mra                        MRA                                                    MRA
wer                        1-WER                                                  1-WER
rouge                      ROUGE                                                  ROUGE
temporal_grounding         mIoU, R@0.3, R@0.5, R@0.7 (tIoU >= m)                  tIoU
spatial_grounding          Acc@0.5 (IoU > 0.5), mIoU                              IoU
spatiotemporal_grounding   m_tIoU, m_vIoU, vIoU@0.3, vIoU@0.5 (vIoU > R),         vIoU
                           mIoU_shared (published training variant)
tracking                   AO, SR@0.5, SR@0.75 (all GT frames pooled, IoU > t)    sequence AO
image_segmentation         cIoU, gIoU                                             IoU
video_segmentation         J&F, J, F (DAVIS 2017, per object then mean)           (J + F) / 2
=========================  =====================================================  ==========
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from onethinker.eval import metrics as M
from onethinker.eval.masks import MaskBackend
from onethinker.eval.segmentation import FieldError, image_masks, video_masks


@dataclass
class Item:
    """One prediction ready to score: the record, its task spec, the parsed prediction (``None`` when the
    response did not parse, with ``reason``) and the parsed ground truth."""

    record: Mapping[str, Any]
    spec: Any
    pred: Any | None
    gt: Any
    line: int
    reason: str | None = None


@dataclass
class Context:
    """What suites may need beyond the items: where media live and how to make masks."""

    media_root: Any = None
    mask_backend: MaskBackend | None = None


@dataclass
class SuiteResult:
    metrics: dict[str, float]
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))


Suite = Callable[[list[Item], Context], SuiteResult]
SUITES: dict[str, Suite] = {}


def suite(name: str) -> Callable[[Suite], Suite]:
    def register(fn: Suite) -> Suite:
        SUITES[name] = fn
        return fn

    return register


def _pct(value: float) -> float:
    return float(value) * 100.0


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else 0.0


def _registry_scores(items: list[Item]) -> np.ndarray:
    """Per-item accuracy from the task's own ``accuracy`` (the registry's parse + comparison); failures score 0."""
    out = np.zeros(len(items))
    for i, item in enumerate(items):
        if item.pred is None:
            continue
        try:
            out[i] = float(item.spec.accuracy(item.pred, item.gt))
        except Exception:  # a malformed answer scores 0, never aborts a whole evaluation
            out[i] = 0.0
    return np.clip(np.nan_to_num(out), 0.0, 1.0)


def _qa_suite(metric: str) -> Suite:
    def run(items: list[Item], ctx: Context) -> SuiteResult:
        scores = _registry_scores(items)
        return SuiteResult({metric: _pct(_mean(scores))}, scores)

    return run


SUITES["accuracy"] = _qa_suite("accuracy")
SUITES["wer"] = _qa_suite("1-WER")
SUITES["rouge"] = _qa_suite("ROUGE")


def _spans(items: list[Item], of: Callable[[Any], Any]) -> tuple[np.ndarray, np.ndarray]:
    """Stacked spans, with a validity flag (unparsed or missing spans are invalid and score 0)."""
    rows, ok = np.zeros((len(items), 2)), np.zeros(len(items), dtype=bool)
    for i, item in enumerate(items):
        span = of(item)
        if span is not None:
            rows[i] = span
            ok[i] = True
    return rows, ok


@suite("mra")
def mra(items: list[Item], ctx: Context) -> SuiteResult:
    """Registry parse, benchmark MRA (the registry's reward adds 1e-8 to the denominator, which moves ties)."""
    pred = np.array([it.pred if it.pred is not None else np.nan for it in items], dtype=np.float64)
    gt = np.array([it.gt for it in items], dtype=np.float64)
    scores = np.where(np.isfinite(pred), M.mean_relative_accuracy(np.nan_to_num(pred), gt), 0.0)
    return SuiteResult({"MRA": _pct(_mean(scores))}, scores)


@suite("temporal_grounding")
def temporal_grounding(items: list[Item], ctx: Context) -> SuiteResult:
    pred, pred_ok = _spans(items, lambda it: it.pred)
    gt, _ = _spans(items, lambda it: it.gt)
    tiou = np.where(pred_ok, M.temporal_iou(pred, gt), 0.0)
    out = {"mIoU": _pct(_mean(tiou))}
    for m in (0.3, 0.5, 0.7):
        out[f"R@{m}"] = _pct(M.recall_at(tiou, m, strict=False))
    return SuiteResult(out, tiou)


@suite("spatial_grounding")
def spatial_grounding(items: list[Item], ctx: Context) -> SuiteResult:
    pred = np.zeros((len(items), 4))
    ok = np.array([it.pred is not None for it in items], dtype=bool)
    for i, item in enumerate(items):
        if item.pred is not None:
            pred[i] = item.pred
    gt = np.array([it.gt for it in items], dtype=np.float64).reshape(-1, 4)
    iou = np.where(ok, M.box_iou(pred, gt), 0.0)
    return SuiteResult({"Acc@0.5": _pct(M.recall_at(iou, 0.5, strict=True)), "mIoU": _pct(_mean(iou))}, iou)


def _gt_span(answer: Any) -> tuple[float, float] | None:
    if answer.time is not None:
        return answer.time
    if answer.boxes:  # a ground truth without a span: its annotated seconds
        return (float(min(answer.boxes)), float(max(answer.boxes)))
    return None


@suite("spatiotemporal_grounding")
def spatiotemporal_grounding(items: list[Item], ctx: Context) -> SuiteResult:
    pred_span, pred_ok = _spans(items, lambda it: it.pred.time if it.pred is not None else None)
    gt_span, _ = _spans(items, lambda it: _gt_span(it.gt))
    tiou = np.where(pred_ok, M.temporal_iou(pred_span, gt_span), 0.0)
    empty: dict[int, Any] = {}
    pred_boxes = [it.pred.boxes if it.pred is not None else empty for it in items]
    pred_frames = [
        M.tube_frames(it.pred.time, it.pred.boxes) if it.pred is not None else set() for it in items
    ]
    gt_boxes = [it.gt.boxes for it in items]
    gt_frames = [set(int(k) for k in boxes) for boxes in gt_boxes]
    viou, shared = M.tube_vious(pred_frames, pred_boxes, gt_frames, gt_boxes)
    out = {
        "m_tIoU": _pct(_mean(tiou)),
        "m_vIoU": _pct(_mean(viou)),
        "vIoU@0.3": _pct(M.recall_at(viou, 0.3, strict=True)),
        "vIoU@0.5": _pct(M.recall_at(viou, 0.5, strict=True)),
        "mIoU_shared": _pct(_mean(shared)),
    }
    return SuiteResult(out, viou)


@suite("tracking")
def tracking(items: list[Item], ctx: Context) -> SuiteResult:
    empty: dict[int, Any] = {}
    ious, owner = M.track_ious([it.pred.boxes if it.pred is not None else empty for it in items],
                               [it.gt.boxes for it in items])
    frames = np.bincount(owner, minlength=len(items)).astype(np.float64)
    per_seq = np.bincount(owner, weights=ious, minlength=len(items)).astype(np.float64)
    per_seq = np.divide(per_seq, frames, out=np.zeros_like(per_seq), where=frames > 0)
    out = {
        "AO": _pct(_mean(ious)),
        "SR@0.5": _pct(M.recall_at(ious, 0.5, strict=True)),
        "SR@0.75": _pct(M.recall_at(ious, 0.75, strict=True)),
    }
    return SuiteResult(out, per_seq)


def _located(item: Item, make_masks: Callable, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    """Masks of one item; a bad field is reported with the item's line."""
    try:
        return make_masks(item.record, item.pred, ctx.mask_backend, ctx.media_root)
    except FieldError as exc:
        exc.line = item.line
        raise


@suite("image_segmentation")
def image_segmentation(items: list[Item], ctx: Context) -> SuiteResult:
    inter = np.zeros(len(items), dtype=np.int64)
    union = np.zeros(len(items), dtype=np.int64)
    for i, item in enumerate(items):
        pred, gt = _located(item, image_masks, ctx)
        inter[i], union[i] = M.mask_intersection_union(pred, gt)
    # An image whose truth and prediction are both empty is a perfect answer (IoU 1), as in the ReferSeg tools.
    iou = np.divide(inter, union, out=np.ones(len(items)), where=union > 0)
    total_union = int(union.sum())
    ciou = inter.sum() / total_union if total_union else 1.0
    return SuiteResult({"cIoU": _pct(ciou), "gIoU": _pct(_mean(iou))}, iou)


@suite("video_segmentation")
def video_segmentation(items: list[Item], ctx: Context) -> SuiteResult:
    j = np.zeros(len(items))
    f = np.zeros(len(items))
    for i, item in enumerate(items):
        pred, gt = _located(item, video_masks, ctx)
        j[i], f[i] = M.video_j_and_f(pred, gt)
    j_mean, f_mean = _mean(j), _mean(f)
    out = {"J&F": _pct((j_mean + f_mean) / 2), "J": _pct(j_mean), "F": _pct(f_mean)}
    return SuiteResult(out, (j + f) / 2)
