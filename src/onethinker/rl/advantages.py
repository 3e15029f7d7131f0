"""Outcome-reward advantage estimators: GRPO, Dr.GRPO and EMA-GRPO, plus token broadcasting.

Every estimator takes one scalar reward per rollout (``scores``, shape ``[bs]``) and the id of the group
(prompt) each rollout belongs to, and returns one advantage per rollout in the dtype of ``scores``.
All three centre within the group; they differ only in the scale they divide by:

- GRPO: the group's sample std (Bessel-corrected, as ``torch.std`` in veRL and the published EasyR1);
- Dr.GRPO: nothing;
- EMA-GRPO: the task's EMA std (see :class:`~onethinker.rl.ema.EMATracker`), with a per-group guard rail.

A group with a single rollout has no baseline: all estimators raise ``ValueError`` for it (veRL instead
returns the raw score for such a group; the published EMA-GRPO asserts ``n > 1``).
"""

from __future__ import annotations

from typing import Any

import torch

from onethinker.rl._groups import as_scores, dense_index, group_moments, group_tasks
from onethinker.rl.ema import EMATracker

__all__ = [
    "broadcast_advantages",
    "dr_grpo_advantages",
    "ema_grpo_advantages",
    "grpo_advantages",
    "shuffle_within_groups",
]


def dr_grpo_advantages(scores: Any, group_ids: Any) -> torch.Tensor:
    """Dr.GRPO: ``A_i = s_i - mean_{j in g(i)} s_j`` (no division).

    Args:
        scores: ``[bs]`` rewards.
        group_ids: one hashable id per rollout (str or int); rollouts of one prompt share an id.
    """
    x = as_scores(scores)
    xc = x.detach().cpu()  # group bookkeeping is tiny: do it on the CPU in float64, whatever the device
    index, labels = dense_index(group_ids, x.numel(), "group_ids")
    _count, _mean, centred, _std = group_moments(xc, index, labels, min_group_size=2)
    return centred.to(device=x.device, dtype=x.dtype)


def grpo_advantages(scores: Any, group_ids: Any, eps: float = 1e-6) -> torch.Tensor:
    """GRPO: ``A_i = (s_i - mean_g) / (std_g + eps)`` with the group's *sample* std (divisor n - 1).

    The sample std matches veRL's and the published EasyR1's ``compute_grpo_outcome_advantage``
    (``torch.std``, unbiased). A group whose rewards are all equal gets advantage 0.
    """
    x = as_scores(scores)
    xc = x.detach().cpu()  # group bookkeeping is tiny: do it on the CPU in float64, whatever the device
    index, labels = dense_index(group_ids, x.numel(), "group_ids")
    count, _mean, centred, pop_std = group_moments(xc, index, labels, min_group_size=2)
    sample_std = pop_std * (count / (count - 1)).sqrt()
    return (centred / (sample_std[index] + eps)).to(device=x.device, dtype=x.dtype)


def ema_grpo_advantages(
    scores: Any,
    group_ids: Any,
    task_keys: Any,
    tracker: EMATracker,
    *,
    eps: float = 1e-6,
    guard: float = 5.0,
) -> torch.Tensor:
    """EMA-GRPO, exactly as docs/ema_grpo.md ("EMA-GRPO, exactly") specifies.

    1. centre within the group: ``c_i = s_i - mean_{g(i)} s``;
    2. ``tracker.update(scores, task_keys)`` -- the EMA sees this batch *before* it is used (first sight
       of a task initialises it with this batch's moments); in a data-parallel run the update is a
       collective and every rank obtains the same statistics;
    3. ``sigma_k = tracker.std(k)`` (floored at ``min_std``);
    4. ``A_i = c_i / (sigma_k + eps)``; guard rail: if any ``|A|`` in a group exceeds ``guard``, that whole
       group is rescaled by its own population std instead: ``A_i = c_i / (std_g + eps)``.

    A group whose rewards are all equal has ``c = 0``: its advantages are exactly 0 and the guard cannot
    fire on it, so the fallback never divides a non-zero value by a zero std (and ``+ eps`` keeps the
    division finite regardless). After the fallback ``|A| <= sqrt(n - 1)`` for a group of n rollouts, i.e.
    below the default guard of 5 for any n <= 26.

    Args:
        scores: ``[bs]`` rewards.
        group_ids: one hashable id per rollout; rollouts of one prompt share an id (and a task).
        task_keys: one registry task key per rollout (e.g. ``"math"``, ``"segmentation/image"``).
        tracker: the run's :class:`EMATracker`; it is updated in place.
        eps: added to the std before dividing.
        guard: the guard-rail threshold on ``|A|``.

    Returns:
        ``[bs]`` advantages in ``scores.dtype``.
    """
    x = as_scores(scores)
    xc = x.detach().cpu()  # group bookkeeping is tiny: do it on the CPU in float64, whatever the device
    index, labels = dense_index(group_ids, x.numel(), "group_ids")
    task_index, task_labels = group_tasks(index, labels, task_keys, x.numel())
    _count, _mean, centred, pop_std = group_moments(xc, index, labels, min_group_size=2)

    tracker.update(xc, task_keys)
    sigma = torch.tensor([tracker.std(k) for k in task_labels], dtype=torch.float64)
    adv = centred / (sigma[task_index] + eps) if task_labels else centred

    n_groups = len(labels)
    worst = torch.zeros(n_groups, dtype=torch.float64).scatter_reduce(0, index, adv.abs(), "amax")
    fired = (worst > guard)[index]
    adv = torch.where(fired, centred / (pop_std[index] + eps), adv)
    return adv.to(device=x.device, dtype=x.dtype)


def broadcast_advantages(advantages: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """Per-sequence advantages ``[bs]`` -> token advantages ``[bs, T]``, zero where the mask is 0."""
    if advantages.dim() != 1:
        raise ValueError(f"advantages must be 1-D [bs], got shape {tuple(advantages.shape)}")
    if response_mask.dim() != 2 or response_mask.shape[0] != advantages.shape[0]:
        raise ValueError(
            f"response_mask must be [bs, T] with bs={advantages.shape[0]}, got shape {tuple(response_mask.shape)}"
        )
    return advantages.unsqueeze(-1) * response_mask.to(advantages.dtype)


def shuffle_within_groups(values: torch.Tensor, group_ids: Any, generator: torch.Generator | None = None) -> torch.Tensor:
    """The no-information control: permute ``values`` at random among the rollouts of each group.

    Every group keeps its own multiset of advantages (so their sum, sizes and spread per group are unchanged),
    but which response gets which advantage no longer depends on its reward. An RL run on shuffled advantages
    makes updates of the same size and noise as the real run; comparing the two separates what the reward
    taught from what the update noise did to the starting checkpoint.

    Args:
        values: ``[bs]`` advantages (any dtype and device).
        group_ids: one hashable id per rollout; rollouts of one prompt share an id.
        generator: CPU generator for the permutation (seed it for a reproducible run).
    """
    if values.dim() != 1:
        raise ValueError(f"values must be 1-D [bs], got shape {tuple(values.shape)}")
    index, _labels = dense_index(group_ids, values.numel(), "group_ids")
    keys = torch.rand(values.numel(), generator=generator, dtype=torch.float64)
    slots = torch.argsort(index, stable=True)  # each group's positions, in order, groups one after another
    draws = torch.argsort(index.to(torch.float64) + keys)  # the same groups in the same order, shuffled within
    out = values.clone()
    out[slots.to(values.device)] = values[draws.to(values.device)]
    return out
