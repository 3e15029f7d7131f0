"""The clipped policy-gradient loss with an optional KL-to-reference term, and its pieces.

Shapes: ``log_prob``, ``old_log_prob``, ``ref_log_prob`` and ``response_mask`` are ``[bs, T]`` (per-token
log-probabilities of the sampled tokens; mask 1 on response tokens, 0 on padding); ``advantages`` is
``[bs, T]`` or ``[bs]`` (then broadcast over the mask); ``logits`` is ``[bs, T, V]``.
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = [
    "LOSS_AGG_MODES",
    "aggregate_loss",
    "entropy_from_logits",
    "kl_penalty",
    "masked_mean",
    "policy_loss",
]

LossAggMode = Literal["token-mean", "seq-mean-token-mean", "seq-mean-token-sum"]
LOSS_AGG_MODES: tuple[str, ...] = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum")

# Names accepted for each KL estimator (veRL spells k1 "kl" and k2 "mse").
_KL_KINDS = {"k1": "k1", "kl": "k1", "k2": "k2", "mse": "k2", "k3": "k3", "low_var_kl": "k3"}


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over positions where ``mask`` is non-zero (0 when the mask is empty)."""
    mask = mask.to(values.dtype)
    return _masked(values, mask).sum() / mask.sum().clamp_min(1)


def _masked(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # where() rather than values * mask: a NaN/inf on a padding position must not leak into the sum.
    return torch.where(mask != 0, values * mask, torch.zeros_like(values))


def aggregate_loss(
    loss_mat: torch.Tensor,
    mask: torch.Tensor,
    mode: LossAggMode = "token-mean",
    *,
    max_response_length: int | None = None,
) -> torch.Tensor:
    """Reduce a ``[bs, T]`` token loss to a scalar.

    - ``token-mean``: sum over every response token of the batch / number of response tokens (DAPO).
    - ``seq-mean-token-mean``: each sequence's token mean, then the mean over the ``bs`` sequences (the
      original GRPO ``1/|o_i|`` weighting).
    - ``seq-mean-token-sum``: each sequence's token *sum* divided by a constant L, then the mean over the
      ``bs`` sequences, i.e. ``sum(all tokens) / (bs * L)``. This is Dr.GRPO's length-unbiased
      normaliser: L must not depend on the sampled lengths, so pass the generation budget
      (``max_response_length``, e.g. 4096); by default L is the padded width ``T`` of ``mask``, which is
      constant only when responses are padded to the budget. (veRL's ``seq-mean-token-sum`` is the same
      mode with L = 1; its ``seq-mean-token-sum-norm`` is ``sum / T`` without the ``1/bs``.)

    A sequence whose mask is empty contributes 0 and still counts in the ``bs`` of the seq-mean modes.
    """
    if loss_mat.shape != mask.shape or loss_mat.dim() != 2:
        raise ValueError(f"loss and mask must both be [bs, T], got {tuple(loss_mat.shape)} and {tuple(mask.shape)}")
    mask = mask.to(loss_mat.dtype)
    if mode == "token-mean":
        return masked_mean(loss_mat, mask)
    token_sum = _masked(loss_mat, mask).sum(-1)
    if mode == "seq-mean-token-mean":
        return (token_sum / mask.sum(-1).clamp_min(1)).mean()
    if mode == "seq-mean-token-sum":
        length = mask.shape[-1] if max_response_length is None else max_response_length
        if length <= 0:
            raise ValueError(f"max_response_length must be positive, got {length}")
        return (token_sum / length).mean()
    raise ValueError(f"unknown loss_agg_mode {mode!r}; expected one of {', '.join(LOSS_AGG_MODES)}")


def kl_penalty(log_prob: torch.Tensor, ref_log_prob: torch.Tensor, kind: str = "low_var_kl") -> torch.Tensor:
    """Per-token estimate of KL(pi || pi_ref) from the sampled tokens' log-probs (Schulman's k1/k2/k3).

    With ``r = log_prob - ref_log_prob``:

    - ``k1`` (alias ``kl``): ``r`` -- unbiased, high variance, can be negative;
    - ``k2`` (alias ``mse``): ``r^2 / 2``;
    - ``low_var_kl`` (alias ``k3``): ``exp(-r) + r - 1`` >= 0, unbiased and low variance. As in veRL,
      ``-r`` is clamped to [-20, 20] before ``exp`` and the result is clamped to [-10, 10], which bounds
      the penalty (and zeroes its gradient) on tokens whose log-prob moved far from the reference.
    """
    which = _KL_KINDS.get(kind)
    if which is None:
        raise ValueError(f"unknown KL estimator {kind!r}; expected one of {', '.join(sorted(_KL_KINDS))}")
    diff = log_prob.float() - ref_log_prob.float()
    if which == "k1":
        return diff
    if which == "k2":
        return 0.5 * diff.square()
    log_ratio = (-diff).clamp(-20.0, 20.0)  # log(pi_ref / pi)
    return (log_ratio.exp() - log_ratio - 1.0).clamp(-10.0, 10.0)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Per-position entropy of the categorical distribution given by ``logits`` ``[..., V]``."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def policy_loss(
    log_prob: torch.Tensor,
    old_log_prob: torch.Tensor,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.28,
    dual_clip: float | None = None,
    loss_agg_mode: LossAggMode = "token-mean",
    max_response_length: int | None = None,
    ref_log_prob: torch.Tensor | None = None,
    kl_coef: float = 0.0,
    kl_kind: str = "low_var_kl",
    logits: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """PPO/GRPO clipped surrogate (DAPO's asymmetric clip, optional dual clip) plus ``kl_coef * KL``.

    Per token, with ``ratio = exp(log_prob - old_log_prob)`` (log-ratio clamped to [-20, 20]):
    ``pg = max(-A * ratio, -A * clip(ratio, 1 - clip_low, 1 + clip_high))``; with ``dual_clip = c > 1``
    tokens with ``A < 0`` use ``min(pg, -A * c)`` (the loss of a bad token whose ratio exploded is capped).
    The loss is ``agg(pg) + kl_coef * agg(kl_penalty(log_prob, ref_log_prob, kl_kind))`` with the same
    aggregation ``loss_agg_mode`` (see :func:`aggregate_loss`; ``max_response_length`` is its Dr.GRPO
    constant).

    Returns:
        ``(loss, metrics)``; metrics are floats: ``pg_loss``, ``clip_frac`` (tokens whose clipped term
        won), ``clip_frac_lower`` (tokens capped by the dual clip), ``approx_kl`` (token mean of
        ``old_log_prob - log_prob``, the k1 estimate of KL(old || new)), ``ratio_mean``, and when a
        reference is given ``kl`` (token mean of the KL estimate) and ``kl_loss``; ``entropy`` (token mean)
        when ``logits`` are given.
    """
    if log_prob.dim() != 2:
        raise ValueError(f"log_prob must be [bs, T], got shape {tuple(log_prob.shape)}")
    for name, t in (("old_log_prob", old_log_prob), ("response_mask", response_mask)):
        if t.shape != log_prob.shape:
            raise ValueError(f"{name} must have the shape of log_prob {tuple(log_prob.shape)}, got {tuple(t.shape)}")
    if advantages.dim() == 1:
        advantages = advantages.unsqueeze(-1).expand_as(log_prob)
    if advantages.shape != log_prob.shape:
        raise ValueError(f"advantages must be [bs] or [bs, T], got shape {tuple(advantages.shape)}")
    if not (0.0 <= clip_low < 1.0 and clip_high >= 0.0):
        raise ValueError(f"need 0 <= clip_low < 1 and clip_high >= 0, got {clip_low}, {clip_high}")
    if dual_clip is not None and not dual_clip > 1.0:
        raise ValueError(f"dual_clip must be > 1 (e.g. 3.0), got {dual_clip}")

    mask = response_mask.to(log_prob.dtype)
    # Padding positions may hold -inf/NaN log-probs; zero them before any arithmetic so neither the loss
    # nor its gradient can pick up a NaN from a token the mask excludes.
    valid = mask != 0
    log_prob = torch.where(valid, log_prob, torch.zeros_like(log_prob))
    old_log_prob = torch.where(valid, old_log_prob.to(log_prob.dtype), torch.zeros_like(log_prob))
    if ref_log_prob is not None and ref_log_prob.shape == log_prob.shape:
        ref_log_prob = torch.where(valid, ref_log_prob.to(log_prob.dtype), torch.zeros_like(log_prob))
    advantages = torch.where(valid, advantages.to(log_prob.dtype).detach(), torch.zeros_like(log_prob))
    log_ratio = (log_prob - old_log_prob.detach()).clamp(-20.0, 20.0)
    ratio = log_ratio.exp()
    clipped_ratio = ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    unclipped_term = -advantages * ratio
    clipped_term = -advantages * clipped_ratio
    pg = torch.maximum(unclipped_term, clipped_term)
    clip_frac = masked_mean((clipped_term > unclipped_term).to(mask.dtype), mask)
    if dual_clip is not None:
        cap = -advantages * dual_clip
        negative = advantages < 0
        capped = negative & (pg > cap)
        pg = torch.where(negative, torch.minimum(pg, cap), pg)
        clip_frac_lower = masked_mean(capped.to(mask.dtype), mask)
    else:
        clip_frac_lower = torch.zeros((), dtype=mask.dtype)

    pg_loss = aggregate_loss(pg, mask, loss_agg_mode, max_response_length=max_response_length)
    loss = pg_loss
    metrics: dict[str, float] = {
        "pg_loss": float(pg_loss.detach()),
        "clip_frac": float(clip_frac),
        "clip_frac_lower": float(clip_frac_lower),
        "approx_kl": float(masked_mean(-log_ratio.detach(), mask)),
        "ratio_mean": float(masked_mean(ratio.detach(), mask)),
    }
    if ref_log_prob is not None:
        if ref_log_prob.shape != log_prob.shape:
            raise ValueError(f"ref_log_prob must have the shape of log_prob, got {tuple(ref_log_prob.shape)}")
        kl = kl_penalty(log_prob, ref_log_prob.detach(), kl_kind).to(log_prob.dtype)
        kl_loss = aggregate_loss(kl, mask, loss_agg_mode, max_response_length=max_response_length)
        metrics["kl"] = float(masked_mean(kl.detach(), mask))
        metrics["kl_loss"] = float(kl_loss.detach())
        if kl_coef:
            loss = loss + kl_coef * kl_loss
    elif kl_coef:
        raise ValueError("kl_coef is non-zero but no ref_log_prob was given")
    if logits is not None:
        if logits.shape[:2] != log_prob.shape:
            raise ValueError(f"logits must be [bs, T, V] matching log_prob, got {tuple(logits.shape)}")
        with torch.no_grad():
            metrics["entropy"] = float(masked_mean(entropy_from_logits(logits), mask))
    metrics["loss"] = float(loss.detach())
    return loss, metrics
