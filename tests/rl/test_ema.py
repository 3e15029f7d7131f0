"""EMATracker: moments, the std floor, absent tasks, state validation."""

from __future__ import annotations

import json
import math

import pytest
import torch

from onethinker.rl import EMATracker


def test_update_initialises_then_decays_per_task():
    tracker = EMATracker(decay=0.75)
    moments = tracker.update(torch.tensor([1.0, 0.0, 0.5, 0.5]), ["math", "math", "OCR", "OCR"])
    assert moments == {"OCR": (0.5, 0.25), "math": (0.5, 0.5)}
    assert tracker.mean("math") == 0.5 and tracker.std("math") == 0.5
    assert tracker.std("OCR") == 1e-3  # variance 0 -> floor
    tracker.update(torch.tensor([1.0, 1.0]), ["math", "math"])
    # m1 = 0.75 * 0.5 + 0.25 * 1 = 0.625; m2 = 0.75 * 0.5 + 0.25 * 1 = 0.625
    assert tracker.mean("math") == pytest.approx(0.625)
    assert tracker.std("math") == pytest.approx(math.sqrt(0.625 - 0.625**2))
    assert tracker.mean("OCR") == 0.5  # absent from the batch: unchanged, not decayed
    assert tracker.summary()["math"]["updates"] == 2
    assert tracker.summary()["OCR"]["updates"] == 1


def test_unknown_task_is_a_clear_key_error():
    tracker = EMATracker()
    tracker.update([0.0, 1.0], ["math", "math"])
    assert "math" in tracker and "OCR" not in tracker
    with pytest.raises(KeyError, match="'OCR' has no EMA statistics yet \\(tasks seen: 'math'\\)"):
        tracker.std("OCR")


def test_nan_score_is_rejected_before_the_state_changes():
    tracker = EMATracker()
    with pytest.raises(ValueError, match="non-finite"):
        tracker.update(torch.tensor([0.5, float("inf")]), ["math", "math"])
    assert tracker.keys() == []


def test_state_dict_is_plain_json():
    tracker = EMATracker(decay=0.9, min_std=0.01)
    tracker.update(torch.tensor([0.25, 0.75]), ["segmentation/image"] * 2)
    state = tracker.state_dict()
    assert json.loads(json.dumps(state)) == state
    assert state["tasks"] == {"segmentation/image": {"m1": 0.5, "m2": 0.3125, "updates": 1}}
    assert state["decay"] == 0.9 and state["min_std"] == 0.01


def test_load_state_dict_rejects_malformed_state():
    tracker = EMATracker()
    with pytest.raises(ValueError, match="'tasks' mapping"):
        tracker.load_state_dict({"m1": 1.0})
    with pytest.raises(ValueError, match="task 'math': needs numeric 'm1' and 'm2'"):
        tracker.load_state_dict({"tasks": {"math": {"m1": 0.5}}})
    with pytest.raises(ValueError, match="must be finite"):
        tracker.load_state_dict({"tasks": {"math": {"m1": float("nan"), "m2": 0.5}}})


def test_constructor_validates_hyperparameters():
    with pytest.raises(ValueError, match="decay"):
        EMATracker(decay=1.5)
    with pytest.raises(ValueError, match="min_std"):
        EMATracker(min_std=-1.0)
