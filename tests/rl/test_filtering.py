"""Online filtering of groups with no learning signal."""

from __future__ import annotations

import pytest
import torch

from onethinker.rl import filter_groups


def test_drops_solved_and_failed_groups_and_counts_them_per_task():
    accuracy = [0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0.5, 0.5]
    groups = ["m0"] * 4 + ["m1"] * 4 + ["m2"] * 4 + ["c0"] * 4 + ["o0"] * 2
    tasks = ["math"] * 12 + ["multiple choice"] * 4 + ["OCR"] * 2
    keep, dropped = filter_groups(accuracy, groups, tasks)
    expected = [False] * 8 + [True] * 4 + [False] * 4 + [True] * 2
    assert keep.tolist() == expected
    assert keep.dtype == torch.bool
    assert dropped == {"math": 2, "multiple choice": 1, "OCR": 0}


def test_the_interval_is_open_at_both_ends():
    values = torch.tensor([0.01, 0.01, 0.99, 0.99, 0.02, 0.0, 0.98, 1.0], dtype=torch.float64)
    keep, dropped = filter_groups(values, [0, 0, 1, 1, 2, 2, 3, 3], ["numerical"] * 8)
    # means: 0.01 (== low, dropped), 0.99 (== high, dropped), 0.01 (dropped), 0.99 (dropped)
    assert keep.tolist() == [False] * 8
    assert dropped == {"numerical": 4}
    keep, _ = filter_groups(values, [0, 0, 1, 1, 2, 2, 3, 3], ["numerical"] * 8, low=0.0, high=1.0)
    assert keep.tolist() == [True] * 8


def test_custom_interval_and_bad_arguments():
    keep, dropped = filter_groups([0.2, 0.4, 0.9, 0.7], ["a", "a", "b", "b"], ["tracking"] * 4, low=0.5, high=1.0)
    assert keep.tolist() == [False, False, True, True]
    assert dropped == {"tracking": 1}
    with pytest.raises(ValueError, match="need low < high"):
        filter_groups([0.5], [0], ["math"], low=0.9, high=0.1)
    with pytest.raises(ValueError, match="mixes task keys"):
        filter_groups([0.5, 0.5], [0, 0], ["math", "OCR"])
