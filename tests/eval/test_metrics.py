"""Metric functions pinned on hand-computed cases (spans, boxes, tubes, tracks, MRA, DAVIS J and F)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from onethinker.eval import metrics as M


# --- spans -------------------------------------------------------------------------------------------------


def test_temporal_iou_overlap_disjoint_identical_and_degenerate():
    pred = np.array([[0, 10], [0, 2], [3, 7], [5, 5], [10, 5]], dtype=float)
    gt = np.array([[5, 15], [5, 8], [3, 7], [5, 5], [0, 20]], dtype=float)
    iou = M.temporal_iou(pred, gt)
    # [0,10] vs [5,15]: 5 / 15; disjoint spans: 0; identical: 1; two zero-length spans: 0 (no NaN);
    # a reversed span (start > end) overlaps nothing.
    np.testing.assert_allclose(iou, [1 / 3, 0.0, 1.0, 0.0, 0.0])


def test_recall_at_strict_and_inclusive_thresholds_differ_exactly_at_the_threshold():
    values = np.array([0.5, 0.7, 0.2])
    assert M.recall_at(values, 0.5, strict=False) == pytest.approx(2 / 3)  # R@0.5 of moment retrieval: >=
    assert M.recall_at(values, 0.5, strict=True) == pytest.approx(1 / 3)  # Acc@0.5 / vIoU@0.5: >
    assert M.recall_at(np.array([]), 0.5, strict=True) == 0.0


# --- boxes -------------------------------------------------------------------------------------------------


def test_box_iou_partial_overlap_and_zero_area_boxes():
    pred = np.array([[0, 0, 10, 10], [5, 5, 5, 9], [3, 3, 3, 3], [0, 0, 10, 10], [10, 0, 0, 10]], dtype=float)
    gt = np.array([[5, 5, 15, 15], [0, 0, 10, 10], [3, 3, 3, 3], [20, 20, 30, 30], [0, 0, 10, 10]], dtype=float)
    iou = M.box_iou(pred, gt)
    # 5x5 overlap over 100 + 100 - 25; a zero-width box; two identical points; disjoint; x1 > x2 has no area.
    np.testing.assert_allclose(iou, [25 / 175, 0.0, 0.0, 0.0, 0.0])
    assert np.all(np.isfinite(iou))


# --- MRA ---------------------------------------------------------------------------------------------------


def test_mean_relative_accuracy_counts_strictly_below_each_tolerance():
    pred = np.array([9.0, 3.0, 10.0, 5.0, 0.0, 26.0])
    gt = np.array([10.0, 4.0, 10.0, 0.0, 0.0, 10.0])
    # 10% error passes tolerances 0.50..0.15 (8 of 10) but not 0.10 (strict); 25% error passes 0.50..0.30
    # (5 of 10); exact answer 10 of 10; a ground truth of 0 scores 0; 160% error passes none.
    np.testing.assert_allclose(M.mean_relative_accuracy(pred, gt), [0.8, 0.5, 1.0, 0.0, 0.0, 0.0])


# --- tubes (HC-STVG vIoU) ----------------------------------------------------------------------------------


def test_tube_frames_are_the_integer_seconds_inside_the_span_or_the_box_keys():
    assert M.tube_frames((1.5, 4.2), {}) == {2, 3, 4}
    assert M.tube_frames((3.0, 3.0), {}) == {3}
    assert M.tube_frames((5.0, 2.0), {}) == set()
    assert M.tube_frames(None, {7: (0, 0, 1, 1), 9: (0, 0, 1, 1)}) == {7, 9}


def test_viou_sums_iou_over_the_intersection_and_divides_by_the_union():
    full = (0.0, 0.0, 100.0, 100.0)
    half = (0.0, 0.0, 100.0, 50.0)
    # prediction covers seconds 2..4 with boxes at 2, 3, 4 (4 is half the truth); truth covers 3..5.
    pred_boxes = {2: full, 3: full, 4: half}
    gt_boxes = {3: full, 4: full, 5: full}
    viou, shared = M.tube_vious([{2, 3, 4}], [pred_boxes], [{3, 4, 5}], [gt_boxes])
    # intersection {3, 4}: IoU 1 + 0.5; union {2, 3, 4, 5}: 4 frames -> 1.5 / 4.
    assert viou[0] == pytest.approx(0.375)
    # training variant: mean over frames both have boxes for ({3, 4}): (1 + 0.5) / 2.
    assert shared[0] == pytest.approx(0.75)


def test_viou_missing_predicted_box_scores_zero_and_disjoint_tubes_score_zero():
    full = (0.0, 0.0, 100.0, 100.0)
    # seconds 3 and 4 are in both tubes, but the prediction gave a box only at 3: (1 + 0) / 2.
    viou, shared = M.tube_vious([{3, 4}], [{3: full}], [{3, 4}], [{3: full, 4: full}])
    assert viou[0] == pytest.approx(0.5)
    assert shared[0] == pytest.approx(1.0)
    viou, shared = M.tube_vious([{1, 2}], [{1: full, 2: full}], [{5, 6}], [{5: full, 6: full}])
    assert viou[0] == 0.0 and shared[0] == 0.0
    viou, _ = M.tube_vious([set()], [{}], [set()], [{}])
    assert viou[0] == 0.0


# --- tracks (GOT-10k AO / SR) ------------------------------------------------------------------------------


def test_track_ious_pool_every_ground_truth_frame_and_missing_frames_score_zero():
    box = (0.0, 0.0, 10.0, 10.0)
    quarter = (0.0, 0.0, 5.0, 5.0)
    ious, owner = M.track_ious(
        [{1: box}, {1: quarter, 2: quarter, 3: quarter, 4: quarter, 9: box}],
        [{1: box, 2: box}, {1: box, 2: box, 3: box, 4: box}],
    )
    np.testing.assert_allclose(ious, [1.0, 0.0, 0.25, 0.25, 0.25, 0.25])  # second 2 of track 0 is missing
    np.testing.assert_array_equal(owner, [0, 0, 1, 1, 1, 1])
    # AO pools frames: 2 / 6, not the mean of per-track means (0.5 + 0.25) / 2.
    assert ious.mean() == pytest.approx(1 / 3)


# --- masks (DAVIS 2017 J and F) ----------------------------------------------------------------------------


def _square(top: int, left: int, size: int = 4, shape=(10, 10)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[top : top + size, left : left + size] = True
    return mask


def test_boundary_map_of_a_square_is_the_ring_offset_towards_the_origin():
    bmap = M.boundary_map(_square(2, 2))
    # The 4x4 square at rows/cols 2..5 has its one-pixel boundary on the perimeter of the 5x5 square 1..5:
    # the foreground's last row and column plus the background row above and column left of it.
    expected = np.zeros((10, 10), dtype=bool)
    expected[1, 1:6] = expected[5, 1:6] = expected[1:6, 1] = expected[1:6, 5] = True
    np.testing.assert_array_equal(bmap, expected)
    assert bmap.sum() == 16


def test_boundary_tolerance_is_ceil_of_0_008_times_the_diagonal():
    assert M.boundary_tolerance(10, 10) == 1  # 0.113 -> 1
    assert M.boundary_tolerance(100, 100) == 2  # 1.131 -> 2
    assert M.boundary_tolerance(480, 854) == math.ceil(0.008 * math.hypot(480, 854)) == 8
    np.testing.assert_array_equal(M.disk(1), [[0, 1, 0], [1, 1, 1], [0, 1, 0]])


def test_j_and_f_of_a_square_shifted_by_one_pixel():
    gt, pred = _square(2, 2), _square(2, 3)
    # overlap 4x3 = 12, union 16 + 16 - 12 = 20
    assert M.region_similarity(pred, gt) == pytest.approx(0.6)
    # every boundary pixel moves by one column: all within the 1-pixel tolerance
    assert M.boundary_f_measure(pred, gt) == pytest.approx(1.0)


def test_j_and_f_of_a_square_shifted_by_two_pixels():
    gt, pred = _square(2, 2), _square(2, 4)
    assert M.region_similarity(pred, gt) == pytest.approx(8 / 24)
    # Rings: truth = perimeter of rows/cols 1..5, prediction = perimeter of rows 1..5, cols 3..7. Within one
    # pixel (4-neighbourhood, the radius-1 disk) of the truth ring: top and bottom rows at cols 3..6 (4 + 4)
    # and the prediction's left column at rows 2 and 4 (2); the right column (col 7) and (3, 3) are too far.
    # Precision 10/16; recall is the mirror image, 10/16; F = 10/16.
    assert M.boundary_f_measure(pred, gt) == pytest.approx(10 / 16)


def test_empty_masks_follow_davis_conventions():
    empty = np.zeros((10, 10), dtype=bool)
    obj = _square(2, 2)
    assert M.region_similarity(empty, empty) == 1.0
    assert M.boundary_f_measure(empty, empty) == 1.0
    assert M.region_similarity(empty, obj) == 0.0
    assert M.boundary_f_measure(empty, obj) == 0.0  # precision 1, recall 0
    assert M.boundary_f_measure(obj, empty) == 0.0  # precision 0, recall 1


def test_video_j_and_f_average_over_frames():
    gt = np.stack([_square(2, 2), _square(2, 2), np.zeros((10, 10), bool)])
    pred = np.stack([_square(2, 3), np.zeros((10, 10), bool), np.zeros((10, 10), bool)])
    j, f = M.video_j_and_f(pred, gt)
    assert j == pytest.approx((0.6 + 0.0 + 1.0) / 3)
    assert f == pytest.approx((1.0 + 0.0 + 1.0) / 3)


def test_mask_shapes_must_match():
    with pytest.raises(ValueError, match="shapes differ"):
        M.region_similarity(np.zeros((4, 4)), np.zeros((5, 4)))
