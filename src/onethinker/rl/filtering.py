"""Online filtering: drop prompt groups that carry no learning signal (all solved or all failed)."""

from __future__ import annotations

from typing import Any

import torch

from onethinker.rl._groups import as_scores, dense_index, group_moments, group_tasks

__all__ = ["filter_groups"]


def filter_groups(
    values: Any,
    group_ids: Any,
    task_keys: Any,
    low: float = 0.01,
    high: float = 0.99,
) -> tuple[torch.Tensor, dict[str, int]]:
    """Keep the groups whose mean of ``values`` lies strictly inside ``(low, high)``.

    The published run filters on the *accuracy* reward component with ``low=0.01``, ``high=0.99``, so a
    group of 8 binary rollouts is kept unless all 8 failed or all 8 succeeded. A group whose mean is
    ``<= low`` or ``>= high`` is dropped as a whole.

    Args:
        values: ``[bs]`` the chosen reward component per rollout (e.g. accuracy).
        group_ids: one hashable id per rollout; rollouts of one prompt share an id (and a task).
        task_keys: one registry task key per rollout.
        low, high: the open interval of group means that is kept.

    Returns:
        ``(keep_mask, dropped_per_task)``: a bool tensor ``[bs]`` (True = keep the rollout) and, for every
        task key present in the batch, the number of *groups* dropped (0 when none were).
    """
    if not low < high:
        raise ValueError(f"need low < high, got low={low}, high={high}")
    x = as_scores(values, "values")
    xc = x.detach().cpu()
    index, labels = dense_index(group_ids, x.numel(), "group_ids")
    task_index, task_labels = group_tasks(index, labels, task_keys, x.numel())
    _count, mean, _centred, _std = group_moments(xc, index, labels)
    keep_group = (mean > low) & (mean < high)
    dropped_per_task = {str(k): 0 for k in task_labels}
    if labels:
        # The task of each group: every rollout of a group has the same task (checked above).
        group_task = torch.zeros(len(labels), dtype=torch.long).scatter_(0, index, task_index)
        dropped = torch.bincount(group_task[~keep_group], minlength=len(task_labels))
        dropped_per_task = {str(k): int(dropped[i]) for i, k in enumerate(task_labels)}
    return keep_group[index].to(x.device), dropped_per_task
