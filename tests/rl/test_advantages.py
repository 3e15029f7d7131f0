"""Advantage estimators pinned on hand-computed batches."""

from __future__ import annotations

import json
import math

import pytest
import torch

from onethinker.rl import (
    EMATracker,
    broadcast_advantages,
    dr_grpo_advantages,
    ema_grpo_advantages,
    grpo_advantages,
    shuffle_within_groups,
)

EPS = 1e-6


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


# ----------------------------------------------------------------------------------------------- GRPO
def test_grpo_uses_the_sample_std_of_each_group():
    # group "a" = [1, 0, 0, 0]: mean 0.25, sample std sqrt(0.75 / 3) = 0.5
    # group "b" = [0.2, 0.4]: mean 0.3, sample std sqrt(0.02 / 1) = 0.141421...
    adv = grpo_advantages(t(1, 0, 0, 0, 0.2, 0.4), ["a"] * 4 + ["b"] * 2)
    s = math.sqrt(0.02)
    expected = t(0.75 / (0.5 + EPS), *[-0.25 / (0.5 + EPS)] * 3, -0.1 / (s + EPS), 0.1 / (s + EPS))
    torch.testing.assert_close(adv, expected, rtol=0, atol=1e-12)


def test_grpo_degenerate_group_is_exactly_zero():
    # 0.1 is not exactly representable; a naive mean would leave rounding residue divided by eps.
    adv = grpo_advantages(torch.full((6,), 0.1), [7] * 6)
    assert torch.equal(adv, torch.zeros(6))


def test_group_ids_can_be_interleaved_ints_or_strings():
    scores = t(1, 0, 0.5, 1, 0, 0.25)
    by_int = grpo_advantages(scores, [0, 1, 2, 0, 1, 2])
    by_str = grpo_advantages(scores, ["p0", "p1", "p2", "p0", "p1", "p2"])
    by_tensor = grpo_advantages(scores, torch.tensor([0, 1, 2, 0, 1, 2]))
    torch.testing.assert_close(by_int, by_str)
    torch.testing.assert_close(by_int, by_tensor)
    # group p0 = [1, 1] is degenerate; p1 = [0, 0] too; p2 = [0.5, 0.25] -> +-0.125 / sample std 0.176777
    assert by_int[[0, 1, 3, 4]].abs().max() == 0
    assert by_int[2] == pytest.approx(0.125 / (math.sqrt(0.03125) + EPS))


def test_output_keeps_the_score_dtype():
    assert grpo_advantages(torch.tensor([1.0, 0.0]), [0, 0]).dtype == torch.float32
    assert dr_grpo_advantages(torch.tensor([1.0, 0.0], dtype=torch.float64), [0, 0]).dtype == torch.float64


# ----------------------------------------------------------------------------------------------- Dr.GRPO
def test_dr_grpo_only_centres():
    adv = dr_grpo_advantages(t(1, 0, 0, 0, 0.7, 0.7, 0.2, 0.4), [0] * 4 + [1] * 2 + [2] * 2)
    torch.testing.assert_close(adv, t(0.75, -0.25, -0.25, -0.25, 0, 0, -0.1, 0.1), rtol=0, atol=1e-15)


# ----------------------------------------------------------------------------------------------- input errors
@pytest.mark.parametrize("estimator", [grpo_advantages, dr_grpo_advantages])
def test_a_single_rollout_group_is_rejected(estimator):
    with pytest.raises(ValueError, match="'lonely' with 1"):
        estimator(t(1, 0, 1), ["g", "g", "lonely"])


def test_mismatched_lengths_and_nan_are_rejected():
    with pytest.raises(ValueError, match="group_ids has 3 entries but scores has 4"):
        grpo_advantages(t(1, 0, 1, 0), [0, 0, 1])
    with pytest.raises(ValueError, match="non-finite values at positions \\[1\\]"):
        dr_grpo_advantages(t(1, float("nan")), [0, 0])


# ----------------------------------------------------------------------------------------------- EMA-GRPO
def test_ema_grpo_first_sight_uses_the_batch_moments():
    tracker = EMATracker()
    # math: [1,0,0,0] and [1,1,0,0] -> m1 = m2 = 3/8, sigma = sqrt(3/8 - 9/64) = 0.4841229...
    adv = ema_grpo_advantages(t(1, 0, 0, 0, 1, 1, 0, 0), ["a"] * 4 + ["b"] * 4, ["math"] * 8, tracker)
    sigma = math.sqrt(3 / 8 - 9 / 64)
    assert tracker.std("math") == pytest.approx(sigma, abs=1e-15)
    assert tracker.mean("math") == pytest.approx(0.375)
    c = t(0.75, -0.25, -0.25, -0.25, 0.5, 0.5, -0.5, -0.5)
    torch.testing.assert_close(adv, c / (sigma + EPS), rtol=0, atol=1e-12)
    assert adv[0] == pytest.approx(1.549190, abs=1e-6)  # 0.75 / (0.4841229 + 1e-6)


def test_ema_grpo_second_step_updates_the_ema_before_scaling():
    tracker = EMATracker(decay=0.5)
    ema_grpo_advantages(t(1, 0, 0, 0, 1, 1, 0, 0), ["a"] * 4 + ["b"] * 4, ["math"] * 8, tracker)
    # batch 2: one group of 8 with a single success: b1 = b2 = 1/8
    # m1 = m2 = 0.5 * 3/8 + 0.5 * 1/8 = 0.25 -> sigma = sqrt(0.25 - 0.0625) = 0.4330127
    adv = ema_grpo_advantages(t(1, 0, 0, 0, 0, 0, 0, 0), ["c"] * 8, ["math"] * 8, tracker)
    assert tracker.std("math") == pytest.approx(0.4330127018922193, abs=1e-15)
    assert adv[0] == pytest.approx(0.875 / (0.4330127018922193 + EPS), abs=1e-12)
    assert adv[1] == pytest.approx(-0.125 / (0.4330127018922193 + EPS), abs=1e-12)


def test_ema_grpo_default_decay_moves_slowly():
    tracker = EMATracker()
    ema_grpo_advantages(t(1, 0, 0, 0, 1, 1, 0, 0), [0] * 4 + [1] * 4, ["math"] * 8, tracker)
    ema_grpo_advantages(t(1, 0, 0, 0, 0, 0, 0, 0), [2] * 8, ["math"] * 8, tracker)
    # m1 = m2 = 0.99 * 0.375 + 0.01 * 0.125 = 0.3725 -> sigma = sqrt(0.3725 - 0.3725^2)
    assert tracker.mean("math") == pytest.approx(0.3725, abs=1e-15)
    assert tracker.std("math") == pytest.approx(0.4834705265060115, abs=1e-15)


def test_ema_grpo_mixed_tasks_are_scaled_by_their_own_std():
    tracker = EMATracker()
    scores = t(1, 0, 0, 0, 0.5, 0.5, 0.5625, 0.5625, 0.25, 0.25, 0.25, 0.25)
    groups = ["m"] * 4 + ["box1"] * 4 + ["box2"] * 4
    tasks = ["math"] * 4 + ["spatial grounding"] * 8
    adv = ema_grpo_advantages(scores, groups, tasks, tracker)
    # math alone: [1,0,0,0] -> m1 = m2 = 0.25, sigma = sqrt(0.1875)
    s_math = math.sqrt(0.1875)
    # grounding: 8 values, b1 = (1 + 1.125 + 1) / 8 = 0.390625, b2 = (0.5 + 0.6328125 + 0.25) / 8
    b1, b2 = 3.125 / 8, (0.5 + 2 * 0.31640625 + 4 * 0.0625) / 8
    s_box = math.sqrt(b2 - b1 * b1)
    assert tracker.std("math") == pytest.approx(s_math, abs=1e-15)
    assert tracker.std("spatial grounding") == pytest.approx(s_box, abs=1e-15)
    expected = torch.cat(
        [
            t(0.75, -0.25, -0.25, -0.25) / (s_math + EPS),
            t(-0.03125, -0.03125, 0.03125, 0.03125) / (s_box + EPS),
            torch.zeros(4, dtype=torch.float64),  # degenerate group: exactly zero
        ]
    )
    torch.testing.assert_close(adv, expected, rtol=0, atol=1e-12)
    assert torch.equal(adv[8:], torch.zeros(4, dtype=torch.float64))
    # The same math group alone gets the same advantages: tasks do not share a scale.
    alone = ema_grpo_advantages(t(1, 0, 0, 0), ["m"] * 4, ["math"] * 4, EMATracker())
    torch.testing.assert_close(alone, expected[:4], rtol=0, atol=1e-12)


def test_ema_grpo_guard_rail_fires_only_on_the_offending_group():
    tracker = EMATracker()
    # Step 1 teaches the tracker a tight task: [0.5, 0.5, 0.5625, 0.5625] -> sigma = 0.03125.
    ema_grpo_advantages(t(0.5, 0.5, 0.5625, 0.5625), ["warm"] * 4, ["tracking"] * 4, tracker)
    assert tracker.std("tracking") == pytest.approx(0.03125, abs=1e-15)
    # Step 2: group "wild" spreads far wider than the task; group "calm" does not.
    scores = t(0.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5625, 0.5625)
    adv = ema_grpo_advantages(scores, ["wild"] * 4 + ["calm"] * 4, ["tracking"] * 8, tracker)
    # m1 = 0.99 * 0.53125 + 0.01 * 0.515625, m2 = 0.99 * 0.283203125 + 0.01 * 0.3291015625
    sigma = 0.04001922145591545
    assert tracker.std("tracking") == pytest.approx(sigma, abs=1e-14)
    # wild: c = [-0.5, 0.5, 0, 0]; 0.5 / sigma = 12.49 > 5 -> falls back to its population std sqrt(0.125)
    pop = math.sqrt(0.125)
    torch.testing.assert_close(adv[:4], t(-0.5, 0.5, 0, 0) / (pop + EPS), rtol=0, atol=1e-12)
    assert adv[1] == pytest.approx(1.4142095623844086, abs=1e-12)
    # calm: c = +-0.03125; 0.03125 / sigma = 0.78 <= 5 -> keeps the task scale
    torch.testing.assert_close(adv[4:], t(-0.03125, -0.03125, 0.03125, 0.03125) / (sigma + EPS), rtol=0, atol=1e-12)


def test_ema_grpo_guard_threshold_is_configurable():
    tracker = EMATracker()
    ema_grpo_advantages(t(0.5, 0.5, 0.5625, 0.5625), ["warm"] * 4, ["tracking"] * 4, tracker)
    adv = ema_grpo_advantages(t(0.0, 1.0, 0.5, 0.5), ["wild"] * 4, ["tracking"] * 4, tracker, guard=1e9)
    # Without the guard the advantage is c / sigma_k, far above 5.
    assert adv[1] > 5


def test_ema_grpo_degenerate_task_uses_the_min_std_floor():
    tracker = EMATracker(min_std=1e-3)
    adv = ema_grpo_advantages(t(0.3, 0.3, 0.3, 0.3), [0] * 4, ["OCR"] * 4, tracker)
    assert tracker.std("OCR") == 1e-3
    assert torch.equal(adv, torch.zeros(4, dtype=torch.float64))


def test_ema_grpo_rejects_a_group_that_mixes_tasks_without_touching_the_tracker():
    tracker = EMATracker()
    with pytest.raises(ValueError, match="group 'p' mixes task keys 'math' and 'OCR'"):
        ema_grpo_advantages(t(1, 0), ["p", "p"], ["math", "OCR"], tracker)
    assert tracker.keys() == []


def test_state_dict_round_trip_gives_identical_next_step_advantages():
    batches = [
        (t(1, 0, 0, 0, 0.6, 0.7, 0.65, 0.7), [0] * 4 + [1] * 4, ["math"] * 4 + ["temporal grounding"] * 4),
        (t(0, 0, 1, 1, 0.1, 0.9, 0.5, 0.5), [2] * 4 + [3] * 4, ["math"] * 4 + ["temporal grounding"] * 4),
    ]
    nxt = (t(1, 1, 1, 0, 0.3, 0.35, 0.3, 0.2), [4] * 4 + [5] * 4, ["math"] * 4 + ["temporal grounding"] * 4)
    original = EMATracker(decay=0.9)
    for batch in batches:
        ema_grpo_advantages(*batch, original)
    saved = json.loads(json.dumps(original.state_dict()))  # what a checkpoint stores

    resumed = EMATracker(decay=0.9)  # the same configuration as the run that saved it
    resumed.load_state_dict(saved)
    expected = ema_grpo_advantages(*nxt, original)
    got = ema_grpo_advantages(*nxt, resumed)
    assert torch.equal(got, expected)
    assert resumed.state_dict() == original.state_dict()
    # A tracker that lost its state would give different advantages.
    assert not torch.allclose(ema_grpo_advantages(*nxt, EMATracker(decay=0.9)), expected)


def test_a_resumed_tracker_keeps_its_configured_decay_and_min_std_and_says_so():
    saved = EMATracker(decay=0.9, min_std=0.01)
    saved.update(t(1, 0, 0.5, 0.2), ["math"] * 4)
    resumed = EMATracker(decay=0.5, min_std=0.01)  # algorithm.ema_decay=0.5 trainer.resume=true
    with pytest.warns(UserWarning, match=r"decay=0.9 differs from the configured decay=0.5; using the configured"):
        resumed.load_state_dict(saved.state_dict())
    assert (resumed.decay, resumed.min_std) == (0.5, 0.01)
    assert resumed.mean("math") == saved.mean("math")  # the moments themselves are restored
    m1_before = saved.mean("math")
    resumed.update(t(1, 1, 1, 1), ["math"] * 4)
    assert resumed.mean("math") == pytest.approx(0.5 * m1_before + 0.5 * 1.0)


# ----------------------------------------------------------------------------------------------- broadcast
def test_broadcast_advantages_over_the_response_mask():
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    out = broadcast_advantages(torch.tensor([2.0, -1.0]), mask)
    assert torch.equal(out, torch.tensor([[2.0, 2.0, 0.0], [-1.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="response_mask must be \\[bs, T\\] with bs=3"):
        broadcast_advantages(torch.zeros(3), mask)


# ------------------------------------------------------------------------------------ no-information control
def test_shuffle_keeps_each_groups_advantages_and_only_moves_them_within_the_group():
    values = t(1.0, -1.0, 2.0, 0.5, -2.0, -0.5, 7.0)
    gids = ["a", "b", "a", "b", "a", "b", "c"]  # interleaved groups; "c" has one rollout
    out = shuffle_within_groups(values, gids, torch.Generator().manual_seed(0))
    for g in "abc":
        where = [i for i, x in enumerate(gids) if x == g]
        assert sorted(out[where].tolist()) == sorted(values[where].tolist())
    assert out[6].item() == 7.0 and out.dtype == values.dtype


def test_shuffle_draws_every_permutation_and_is_reproducible():
    values, gids = t(1.0, 2.0, 3.0), ["g", "g", "g"]
    seen = {tuple(shuffle_within_groups(values, gids, torch.Generator().manual_seed(s)).tolist()) for s in range(200)}
    assert len(seen) == 6  # all 3! orders occur: the reward no longer decides who gets which advantage
    a = shuffle_within_groups(t(*range(12)), [i // 4 for i in range(12)], torch.Generator().manual_seed(5))
    b = shuffle_within_groups(t(*range(12)), [i // 4 for i in range(12)], torch.Generator().manual_seed(5))
    assert a.equal(b)
    with pytest.raises(ValueError, match="1-D"):
        shuffle_within_groups(torch.zeros(2, 2), ["a", "a"])
    with pytest.raises(ValueError, match="group_ids has 1 entries"):
        shuffle_within_groups(t(1.0, 2.0), ["a"])
