"""score_predictions: every metric suite on hand-computed records, grouping, failure counts, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onethinker.eval import ScoreError, encode_rle, score_predictions


def _rec(problem_type, answer, answer_json, data_type="video", **extra):
    """A record whose response wraps ``answer_json`` (a dict is dumped as JSON) in the usual tags."""
    body = json.dumps(answer_json) if isinstance(answer_json, dict) else answer_json
    truth = json.dumps(answer) if isinstance(answer, dict) else answer
    return {"problem": "q", "problem_type": problem_type, "data_type": data_type, "answer": truth,
            "response": f"<think>...</think><answer>{body}</answer>", **extra}


def test_multiple_choice_accuracy_and_unparseable_responses_are_counted():
    records = [
        _rec("multiple choice", "B", "B", "image"),
        _rec("multiple choice", "B", "C", "image"),
        _rec("multiple choice", "A", "A", "image"),
        {**_rec("multiple choice", "A", "A", "image"), "response": "I am not sure"},  # no letter: a failure
    ]
    result = score_predictions(records)["multiple choice"]
    assert result["accuracy"] == pytest.approx(50.0)
    assert result["n"] == 4 and result["unparseable"] == 1


def test_a_bare_answer_without_tags_is_still_scored():
    record = {**_rec("numerical", "3.14", "x"), "response": "3.14"}
    assert score_predictions([record])["numerical"]["accuracy"] == 100.0


def test_mra_uses_strict_tolerances():
    records = [_rec("regression", "10", "9"), _rec("regression", "4", "3"), _rec("regression", "7", "seven")]
    result = score_predictions(records)["regression"]
    assert result["MRA"] == pytest.approx((80 + 50 + 0) / 3)
    assert result["unparseable"] == 1


def test_temporal_grounding_recall_counts_tiou_at_the_threshold():
    records = [
        _rec("temporal grounding", {"time": [0, 10]}, {"time": [0, 5]}),  # tIoU 0.5
        _rec("temporal grounding", {"time": [0, 10]}, {"time": [0, 10]}),  # 1
        _rec("temporal grounding", {"time": [0, 10]}, {"time": [20, 30]}),  # disjoint: 0
        _rec("temporal grounding", {"time": [0, 10]}, "no idea"),  # unparseable: 0
    ]
    result = score_predictions(records)["temporal grounding"]
    assert result["mIoU"] == pytest.approx(37.5)
    assert result["R@0.3"] == pytest.approx(50.0)
    assert result["R@0.5"] == pytest.approx(50.0)  # tIoU 0.5 counts at R@0.5 (>=)
    assert result["R@0.7"] == pytest.approx(25.0)
    assert result["unparseable"] == 1


def test_spatial_grounding_accuracy_needs_iou_above_one_half():
    records = [
        _rec("spatial grounding", {"boxes": [0, 0, 100, 100]}, {"boxes": [0, 0, 100, 50]}, "image"),  # IoU 0.5
        _rec("spatial grounding", {"boxes": [0, 0, 100, 100]}, {"boxes": [0, 0, 100, 100]}, "image"),  # 1
        _rec("spatial grounding", {"boxes": [0, 0, 100, 100]}, {"boxes": [50, 50, 50, 90]}, "image"),  # zero area
    ]
    result = score_predictions(records)["spatial grounding"]
    assert result["Acc@0.5"] == pytest.approx(100 / 3)  # exactly 0.5 does not count (IoU > 0.5)
    assert result["mIoU"] == pytest.approx(50.0)


def test_spatiotemporal_grounding_reports_hcstvg_viou_and_the_training_variant():
    full, half = [0, 0, 100, 100], [0, 0, 100, 50]
    truth = {"time": [3, 5], "boxes": {"3": full, "4": full, "5": full}}
    records = [
        # predicted tube: seconds 2..4; IoU 1 at 3, 0.5 at 4 -> vIoU 1.5 / 4; tIoU [1.5, 4.2] vs [3, 5]
        _rec("spatial-temporal grounding", truth, {"time": [1.5, 4.2], "boxes": {"2": full, "3": full, "4": half}}),
        # perfect
        _rec("spatial-temporal grounding", truth, {"time": [3, 5], "boxes": {"3": full, "4": full, "5": full}}),
    ]
    result = score_predictions(records)["spatial-temporal grounding"]
    tiou_first = 1.2 / 3.5
    assert result["m_tIoU"] == pytest.approx((tiou_first + 1) / 2 * 100)
    assert result["m_vIoU"] == pytest.approx((0.375 + 1) / 2 * 100)
    assert result["vIoU@0.3"] == pytest.approx(100.0)
    assert result["vIoU@0.5"] == pytest.approx(50.0)
    assert result["mIoU_shared"] == pytest.approx((0.75 + 1) / 2 * 100)


def test_tracking_ao_pools_frames_over_sequences_and_missing_frames_score_zero():
    box, quarter = [0, 0, 100, 100], [0, 0, 50, 50]
    records = [
        _rec("tracking", {"boxes": {"1": box, "2": box}}, {"boxes": {"1": box}}),  # IoU 1, missing 0
        _rec("tracking", {"boxes": {str(s): box for s in range(1, 5)}},
             {"boxes": {str(s): quarter for s in range(1, 5)}}),  # 4 x 0.25
        _rec("tracking", {"boxes": {"1": box, "2": box}}, "lost it"),  # unparseable: 2 frames of 0
    ]
    result = score_predictions(records)["tracking"]
    assert result["AO"] == pytest.approx(200 / 8)  # (1 + 0 + 4 * 0.25 + 0 + 0) / 8 frames
    assert result["SR@0.5"] == pytest.approx(100 / 8)
    assert result["SR@0.75"] == pytest.approx(100 / 8)
    assert result["unparseable"] == 1


def _mask(shape, rows, cols):
    mask = np.zeros(shape, dtype=bool)
    mask[rows, cols] = True
    return mask


SEG_IMAGE = {"boxes": [0, 0, 500, 500], "positive_points": [[1, 1], [2, 2], [3, 3]],
             "negative_points": [[900, 900], [910, 910], [920, 920]]}


def test_image_segmentation_ciou_and_giou_from_given_masks_without_opening_media():
    shape = (20, 20)
    gt1 = _mask(shape, slice(0, 10), slice(0, 10))  # 100 px
    pred1 = _mask(shape, slice(0, 10), slice(0, 5))  # 50 px inside: IoU 0.5
    gt2 = _mask(shape, slice(0, 2), slice(0, 2))  # 4 px
    pred2 = np.zeros(shape, dtype=bool)  # empty prediction: IoU 0
    records = [
        _rec("segmentation", encode_rle(gt1), SEG_IMAGE, "image", mask=encode_rle(gt1), images=["missing.png"],
             pred_mask=encode_rle(pred1)),
        _rec("segmentation", encode_rle(gt2), SEG_IMAGE, "image", mask=encode_rle(gt2), images=["missing.png"],
             pred_mask=encode_rle(pred2)),
    ]
    for r in records:
        r["answer"] = json.dumps(SEG_IMAGE)
    result = score_predictions(records, media_root="/nonexistent")["segmentation/image"]
    assert result["cIoU"] == pytest.approx(50 / 104 * 100)  # total intersection / total union
    assert result["gIoU"] == pytest.approx(25.0)  # mean of per-image IoU
    assert result["n"] == 2


def test_video_segmentation_j_and_f_per_object_then_mean_with_missing_frames():
    shape = (10, 10)
    square = _mask(shape, slice(2, 6), slice(2, 6))
    shifted = _mask(shape, slice(2, 6), slice(3, 7))  # J 0.6, F 1 (see test_metrics)
    seg = {**SEG_IMAGE, "time": 0.0}
    obj_a = _rec("segmentation", json.dumps(seg), seg, "video", masks=[encode_rle(square), encode_rle(square)],
                 pred_masks=[encode_rle(shifted)])  # second frame missing: J 0, F 0
    obj_b = _rec("segmentation", json.dumps(seg), seg, "video", masks=[encode_rle(square)],
                 pred_masks=[encode_rle(square)])  # perfect
    result = score_predictions([obj_a, obj_b])["segmentation/video"]
    j = ((0.6 + 0.0) / 2 + 1.0) / 2
    f = ((1.0 + 0.0) / 2 + 1.0) / 2
    assert result["J"] == pytest.approx(j * 100)
    assert result["F"] == pytest.approx(f * 100)
    assert result["J&F"] == pytest.approx((j + f) / 2 * 100)


def test_groups_follow_the_benchmark_field_and_mixed_suites_get_an_overall():
    records = [
        _rec("multiple choice", "A", "A", benchmark="VSI-Bench"),
        _rec("regression", "10", "9", benchmark="VSI-Bench"),
        _rec("multiple choice", "A", "B"),
    ]
    results = score_predictions(records)
    assert set(results) == {"VSI-Bench", "multiple choice"}
    vsi = results["VSI-Bench"]
    assert vsi["accuracy/accuracy"] == 100.0 and vsi["mra/MRA"] == pytest.approx(80.0)
    assert vsi["overall"] == pytest.approx(90.0)
    assert results["multiple choice"]["accuracy"] == 0.0


def test_bad_records_raise_with_source_line_and_field():
    good = _rec("multiple choice", "A", "A")
    with pytest.raises(ScoreError, match=r"preds.jsonl:2: problem_type: unknown problem_type 'juggling'"):
        score_predictions([good, {**good, "problem_type": "juggling"}], source="preds.jsonl")
    with pytest.raises(ScoreError, match=r":1: answer: the ground truth does not parse"):
        score_predictions([_rec("temporal grounding", "not json", {"time": [0, 1]})])
    with pytest.raises(ScoreError, match=r":1: response:"):
        score_predictions([{**good, "response": None}])
    seg = _rec("segmentation", json.dumps(SEG_IMAGE), SEG_IMAGE, "image")
    with pytest.raises(ScoreError, match=r":1: mask: segmentation ground truth is missing"):
        score_predictions([seg])

_TRUTHS = {
    ("multiple choice", "image"): "B",
    ("numerical", "image"): "2.5",
    ("regression", "video"): "10",
    ("OCR", "image"): "hello world",
    ("temporal grounding", "video"): json.dumps({"time": [1, 4]}),
    ("spatial grounding", "image"): json.dumps({"boxes": [10, 10, 500, 500]}),
    ("spatial-temporal grounding", "video"): json.dumps({"time": [1, 3], "boxes": {"1": [0, 0, 9, 9]}}),
    ("tracking", "video"): json.dumps({"boxes": {"1": [0, 0, 9, 9], "2": [1, 1, 9, 9]}}),
}


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(_TRUTHS)), st.text(max_size=80) | st.from_regex(r'\{"(time|boxes)": .{0,30}\}'))
def test_any_response_gives_metrics_in_range_and_never_raises(task, text):
    problem_type, data_type = task
    record = {"problem": "q", "problem_type": problem_type, "data_type": data_type, "answer": _TRUTHS[task],
              "response": f"<answer>{text}</answer>"}
    (result,) = score_predictions([record]).values()
    assert result["n"] == 1 and result["unparseable"] in (0, 1)
    assert all(0.0 <= v <= 100.0 for k, v in result.items() if k not in ("n", "unparseable"))


def test_a_task_may_bring_its_own_metric_suite():
    from onethinker.eval.suites import SuiteResult
    from onethinker.tasks import Parsed, TaskSpec, register, unregister

    def off_by_at_most_one(items, ctx):  # a user's suite: exact and within-one accuracy
        diff = np.array([abs(it.pred - it.gt) if it.pred is not None else np.inf for it in items])
        return SuiteResult({"exact": float((diff == 0).mean() * 100), "within 1": float((diff <= 1).mean() * 100)},
                           (diff == 0).astype(float))

    def parse(text):
        return Parsed(int(text)) if text.strip().isdigit() else Parsed.fail("not a whole number")

    register(TaskSpec(key="tally", problem_type="tally", data_types=("image",), instruction="", parse=parse,
                      structure=lambda a, g: 0.5, accuracy=lambda p, g: float(p == g),
                      metric_suite=off_by_at_most_one))
    try:
        records = [_rec("tally", "3", "3", "image"), _rec("tally", "3", "4", "image"), _rec("tally", "5", "9", "image"),
                   _rec("tally", "2", "two", "image")]
        result = score_predictions(records)["tally"]
    finally:
        unregister("tally")
    assert result["exact"] == 25.0 and result["within 1"] == 50.0
    assert result["n"] == 4 and result["unparseable"] == 1
