"""The clipped policy loss, loss aggregation and KL estimators on hand-computed numbers."""

from __future__ import annotations

import math

import pytest
import torch

from onethinker.rl import aggregate_loss, entropy_from_logits, kl_penalty, policy_loss

LOG2 = math.log(2.0)


# ----------------------------------------------------------------------------------------------- KL
def test_kl_estimators_on_one_token():
    # pi = 0.5, pi_ref = 0.25: r = log pi - log pi_ref = log 2
    lp, ref = torch.tensor([math.log(0.5)]), torch.tensor([math.log(0.25)])
    assert kl_penalty(lp, ref, "k1").item() == pytest.approx(LOG2)
    assert kl_penalty(lp, ref, "k2").item() == pytest.approx(0.5 * LOG2**2)
    # k3 = pi_ref/pi - log(pi_ref/pi) - 1 = 0.5 + log 2 - 1
    assert kl_penalty(lp, ref, "low_var_kl").item() == pytest.approx(0.5 + LOG2 - 1)
    assert kl_penalty(lp, ref).item() == kl_penalty(lp, ref, "k3").item()  # low_var_kl is the default
    assert kl_penalty(lp, lp, "low_var_kl").item() == 0.0


def test_low_var_kl_is_clamped_to_ten_both_ways():
    lp = torch.tensor([-40.0, 0.0, -1.0])
    ref = torch.tensor([0.0, -40.0, -1.0])
    # r = -40: exp(min(40, 20)) - 20 - 1 = 4.85e8 -> 10; r = +40: exp(-20) + 20 - 1 = 19.0 -> 10
    assert kl_penalty(lp, ref, "low_var_kl").tolist() == [10.0, 10.0, 0.0]


def test_unknown_kl_estimator_is_rejected():
    with pytest.raises(ValueError, match="unknown KL estimator 'k9'"):
        kl_penalty(torch.zeros(1), torch.zeros(1), "k9")


# ----------------------------------------------------------------------------------------------- aggregation
LOSS = torch.tensor([[1.0, 2.0, 3.0, float("nan")], [4.0, 0.0, 0.0, 0.0]])
MASK = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])


@pytest.mark.parametrize(
    ("mode", "kwargs", "expected"),
    [
        ("token-mean", {}, (1 + 2 + 3 + 4) / 4),  # 2.5
        ("seq-mean-token-mean", {}, (6 / 3 + 4 / 1) / 2),  # 3.0
        ("seq-mean-token-sum", {}, (6 / 4 + 4 / 4) / 2),  # constant L = padded width 4 -> 1.25
        ("seq-mean-token-sum", {"max_response_length": 10}, (6 / 10 + 4 / 10) / 2),  # 0.5
    ],
)
def test_aggregation_modes(mode, kwargs, expected):
    # The NaN sits on a padding position and must not leak.
    assert aggregate_loss(LOSS, MASK, mode, **kwargs).item() == pytest.approx(expected)


def test_unknown_aggregation_mode_is_rejected():
    with pytest.raises(ValueError, match="unknown loss_agg_mode 'seq-sum'"):
        aggregate_loss(LOSS, MASK, "seq-sum")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------- policy loss
# One sequence of four tokens, one per clipping regime:
#   A=+1 ratio 1.5 -> clipped at 1.28: max(-1.5, -1.28) = -1.28     (clipped)
#   A=+1 ratio 0.5 -> max(-0.5, -0.8) = -0.5                         (not clipped)
#   A=-1 ratio 0.5 -> max(0.5, 0.8) = 0.8                            (clipped)
#   A=-1 ratio 4.0 -> max(4.0, 1.28) = 4.0; dual clip 3 -> min(4, 3) = 3
RATIOS = torch.tensor([[1.5, 0.5, 0.5, 4.0]], dtype=torch.float64)
ADV = torch.tensor([[1.0, 1.0, -1.0, -1.0]], dtype=torch.float64)
ONES = torch.ones(1, 4)


def _log_prob() -> torch.Tensor:
    return RATIOS.log().clone().requires_grad_(True)


def test_policy_loss_clips_asymmetrically():
    lp = _log_prob()
    loss, metrics = policy_loss(lp, torch.zeros_like(lp), ADV, ONES)
    assert loss.item() == pytest.approx((-1.28 - 0.5 + 0.8 + 4.0) / 4)  # 0.755
    assert metrics["clip_frac"] == pytest.approx(0.5)
    assert metrics["clip_frac_lower"] == 0.0
    # approx_kl = mean(old - new) = -log(1.5 * 0.5 * 0.5 * 4) / 4
    assert metrics["approx_kl"] == pytest.approx(-math.log(1.5) / 4)
    loss.backward()
    # Only the unclipped tokens carry gradient: d(-A * ratio)/d logp = -A * ratio, / 4 tokens.
    torch.testing.assert_close(lp.grad, torch.tensor([[0.0, -0.125, 0.0, 1.0]], dtype=torch.float64))


def test_dual_clip_caps_negative_advantage_tokens():
    lp = _log_prob()
    loss, metrics = policy_loss(lp, torch.zeros_like(lp), ADV, ONES, dual_clip=3.0)
    assert loss.item() == pytest.approx((-1.28 - 0.5 + 0.8 + 3.0) / 4)  # 0.505
    assert metrics["clip_frac_lower"] == pytest.approx(0.25)
    loss.backward()
    assert lp.grad[0, 3].item() == 0.0  # the capped token no longer pushes
    with pytest.raises(ValueError, match="dual_clip must be > 1"):
        policy_loss(lp, lp.detach(), ADV, ONES, dual_clip=0.5)


def test_symmetric_clip_changes_the_high_side_only():
    lp = _log_prob()
    loss, _ = policy_loss(lp, torch.zeros_like(lp), ADV, ONES, clip_high=0.2)
    assert loss.item() == pytest.approx((-1.2 - 0.5 + 0.8 + 4.0) / 4)


def test_per_sequence_advantages_broadcast_like_token_advantages():
    lp = torch.log(torch.tensor([[0.9, 0.2, 0.3], [0.5, 0.6, 0.1]]))
    old = torch.log(torch.tensor([[0.8, 0.25, 0.3], [0.4, 0.6, 0.2]]))
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    adv = torch.tensor([0.7, -1.2])
    a, _ = policy_loss(lp, old, adv, mask, loss_agg_mode="seq-mean-token-mean")
    b, _ = policy_loss(lp, old, adv[:, None].expand(2, 3), mask, loss_agg_mode="seq-mean-token-mean")
    assert a.item() == b.item()


def test_kl_term_is_added_with_its_coefficient():
    lp = torch.log(torch.tensor([[0.5, 0.5]]))
    ref = torch.log(torch.tensor([[0.25, 0.5]]))
    adv = torch.tensor([1.0])
    mask = torch.ones(1, 2)
    loss, metrics = policy_loss(lp, lp, adv, mask, ref_log_prob=ref, kl_coef=0.1)
    # ratio 1 everywhere -> pg = -1 per token; k3 = [0.5 + log 2 - 1, 0] -> mean 0.0965736
    k3_mean = (0.5 + LOG2 - 1) / 2
    assert metrics["pg_loss"] == pytest.approx(-1.0)
    assert metrics["kl"] == pytest.approx(k3_mean)
    assert loss.item() == pytest.approx(-1.0 + 0.1 * k3_mean)
    _, k1 = policy_loss(lp, lp, adv, mask, ref_log_prob=ref, kl_coef=0.1, kl_kind="k1")
    assert k1["kl"] == pytest.approx(LOG2 / 2)
    with pytest.raises(ValueError, match="no ref_log_prob"):
        policy_loss(lp, lp, adv, mask, kl_coef=0.1)


def test_entropy_metric_from_logits():
    lp = torch.zeros(1, 3)
    logits = torch.zeros(1, 3, 4)  # uniform over 4 tokens
    logits[0, 2] = torch.tensor([100.0, 0.0, 0.0, 0.0])  # near one-hot, but masked out below
    _, metrics = policy_loss(lp, lp, torch.tensor([1.0]), torch.tensor([[1, 1, 0]]), logits=logits)
    assert metrics["entropy"] == pytest.approx(math.log(4))
    assert entropy_from_logits(torch.zeros(5)).item() == pytest.approx(math.log(5))


def test_padding_with_infinite_log_probs_gives_a_finite_loss_and_gradient():
    lp = torch.tensor([[math.log(0.5), float("-inf")]], requires_grad=True)
    old = torch.tensor([[math.log(0.5), float("-inf")]])
    loss, _ = policy_loss(lp, old, torch.tensor([1.0]), torch.tensor([[1, 0]]), ref_log_prob=old, kl_coef=0.1)
    loss.backward()
    assert loss.item() == pytest.approx(-1.0)
    assert torch.isfinite(lp.grad).all()
