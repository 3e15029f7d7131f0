"""Accuracy formulas on typed values, pinned on hand-computed cases."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer

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
from onethinker.tasks.rouge import rouge_f_mean, rouge_fmeasures


def test_temporal_iou():
    assert temporal_iou((10, 20), (15, 25)) == pytest.approx(1 / 3)
    assert temporal_iou((10, 20), (10, 20)) == 1.0
    assert temporal_iou((20, 10), (10, 20)) == 0.0  # reversed span
    assert temporal_iou((0, 5), (5, 9)) == 0.0


def test_box_iou():
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert box_iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0
    assert box_iou((0, 0, 1e200, 1e200), (0, 0, 1e200, 1e200)) == 0.0  # inf/inf is not overlap


def test_frame_averages():
    a, b = (0, 0, 10, 10), (5, 0, 15, 10)
    assert mean_iou_over_gt_frames({1: a}, {1: a, 2: a}) == 0.5  # missing frame counts 0
    assert mean_iou_over_gt_frames({1: a, 2: b, 9: a}, {1: a, 2: a}) == pytest.approx((1 + 1 / 3) / 2)
    assert mean_iou_over_shared_frames({1: a}, {1: a, 2: b}) == 1.0  # published: only shared frames
    assert mean_iou_over_shared_frames({3: a}, {1: a}) == 0.0


def test_mra_is_float64_at_threshold_boundaries():
    # rel error 0.45 passes thresholds 0.50 and 0.55 (0.45 < 0.45 + 1e-8 slack); float32 only gave 0.1
    assert mean_relative_accuracy(55.0, 100.0) == 0.2
    assert mean_relative_accuracy(100.0, 100.0) == 1.0
    assert mean_relative_accuracy(94.0, 100.0) == 0.9  # fails only t = 0.95 (needs < 0.05)
    assert mean_relative_accuracy(0.0, 100.0) == 0.0
    assert mean_relative_accuracy(1e308, -1e308) == 0.0


def test_word_error_rate():
    assert word_error_rate("Open 24 / 7", "open 24 / 7") == 0.25  # case-sensitive, as published
    assert word_error_rate("a b c", "a c") == pytest.approx(1 / 3)
    assert word_error_rate("", "x y") == 2.0  # reference length floored at 1


def test_point_set_similarity_uses_the_best_matching():
    gt = ((0, 0), (100, 0), (0, 100))
    assert point_set_similarity(tuple(reversed(gt)), gt) == 1.0
    shifted = tuple((x + 30, y + 40) for x, y in gt)  # every point 50 away
    assert point_set_similarity(shifted, gt) == pytest.approx(math.exp(-0.5))


def test_keyframe_time_similarity():
    assert keyframe_time_similarity(12.0, 10.0) == pytest.approx(math.exp(-1))


def test_rouge_hand_computed():
    # stems: sits -> sit; R1 5/6, R2 0, RL (cat on mat) 3/6
    assert rouge_fmeasures("a cat sits on the mat", "the cat sat on a mat") == pytest.approx((5 / 6, 0.0, 0.5))
    assert rouge_f_mean("a cat sits on the mat", "the cat sat on a mat") == pytest.approx(4 / 9)
    assert rouge_f_mean("", "anything") == 0.0


_SCORER = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)


def _reference_rouge(ref: str, pred: str) -> tuple[float, float, float]:
    s = _SCORER.score(ref, pred)
    return s["rouge1"].fmeasure, s["rouge2"].fmeasure, s["rougeL"].fmeasure


def test_rouge_equals_rouge_score_on_many_random_texts():
    rng = random.Random(0)
    vocab = ("running runs ran the a cat cats caresses ponies happily generously meeting meetings 12 3.5 x-ray "
             "Über naïve e-mail flies dying lying ties caress sky skies agreed").split()
    for _ in range(400):
        ref = " ".join(rng.choice(vocab) for _ in range(rng.randint(0, 25)))
        pred = " ".join(rng.choice(vocab) for _ in range(rng.randint(0, 25)))
        assert rouge_fmeasures(ref, pred) == _reference_rouge(ref, pred)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60), st.text(max_size=60))
def test_rouge_equals_rouge_score_on_any_text(ref, pred):
    assert rouge_fmeasures(ref, pred) == _reference_rouge(ref, pred)



# The rewards score one plain pair at a time through a float fast path; it must equal the vectorised path
# bit for bit (degenerate, reversed and overflowing inputs included).
def _same(fast, vector) -> bool:
    return type(fast) is np.float64 and fast == vector


@given(st.lists(st.floats(min_value=-1e300, max_value=1e300), min_size=8, max_size=8))
def test_pair_fast_paths_equal_the_vectorised_metrics(values):
    for coords in (values, [abs(v) % 1000 for v in values]):  # huge, then realistic 0-1000 coordinates
        pred, gt = tuple(coords[:4]), tuple(coords[4:])
        assert _same(box_iou(pred, gt), box_iou(np.array([pred]), np.array([gt]))[0])
        assert _same(temporal_iou(pred[:2], gt[:2]), temporal_iou(np.array([pred[:2]]), np.array([gt[:2]]))[0])
        for eps in (0.0, 1e-8):
            assert _same(mean_relative_accuracy(pred[0], gt[0], eps),
                         mean_relative_accuracy(np.array([pred[0]]), np.array([gt[0]]), eps)[0])
