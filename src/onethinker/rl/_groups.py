"""Shared input handling for the per-group estimators: ids to indices, validation, segment reductions.

Group ids and task keys arrive as Python sequences (strings, ints), numpy arrays or integer tensors. They
are mapped once to dense integer indices so every reduction afterwards is a vectorised ``index_add`` /
``scatter_reduce`` instead of a Python loop over groups.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import torch

__all__ = [
    "as_scores",
    "dense_index",
    "group_moments",
    "group_tasks",
]


def as_scores(scores: Any, name: str = "scores") -> torch.Tensor:
    """A 1-D floating tensor of finite values (a list or numpy array is converted to float32)."""
    if not isinstance(scores, torch.Tensor):
        scores = torch.as_tensor(scores, dtype=torch.float32)
    if scores.dim() != 1:
        raise ValueError(f"{name} must be a 1-D tensor of per-rollout values, got shape {tuple(scores.shape)}")
    if not torch.is_floating_point(scores):
        scores = scores.to(torch.float32)
    bad = ~torch.isfinite(scores)
    if bool(bad.any()):
        where = bad.nonzero().flatten()[:5].tolist()
        raise ValueError(f"{name} must be finite; non-finite values at positions {where}")
    return scores


def _as_list(values: Any, n: int, name: str) -> list[Hashable]:
    if isinstance(values, torch.Tensor):
        values = values.tolist()
    elif hasattr(values, "tolist") and not isinstance(values, (str, bytes)):  # numpy arrays
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a sequence with one entry per rollout, got {type(values).__name__}")
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries but scores has {n}")
    return list(values)


def dense_index(values: Any, n: int, name: str) -> tuple[torch.Tensor, list[Hashable]]:
    """Map ``n`` hashable labels to indices 0..K-1 in order of first appearance.

    Returns ``(index LongTensor[n], labels list[K])``.
    """
    items = _as_list(values, n, name)
    lookup: dict[Hashable, int] = {}
    index = []
    for item in items:
        try:
            index.append(lookup.setdefault(item, len(lookup)))
        except TypeError:
            raise TypeError(f"{name} entries must be hashable (str or int), got {type(item).__name__}") from None
    return torch.tensor(index, dtype=torch.long), list(lookup)


def group_tasks(
    group_index: torch.Tensor, group_labels: list[Hashable], task_keys: Any, n: int
) -> tuple[torch.Tensor, list[str]]:
    """The task of each group; a group (one prompt) whose rollouts carry different task keys is an error.

    Returns ``(task index per rollout LongTensor[n], task keys list[T])``.
    """
    task_index, task_labels = dense_index(task_keys, n, "task_keys")
    for label in task_labels:
        if not isinstance(label, str):
            raise TypeError(f"task_keys entries must be str registry keys, got {label!r}")
    n_groups = len(group_labels)
    if n:
        lo = torch.full((n_groups,), n, dtype=torch.long).scatter_reduce(0, group_index, task_index, "amin")
        hi = torch.full((n_groups,), -1, dtype=torch.long).scatter_reduce(0, group_index, task_index, "amax")
        mixed = (lo != hi).nonzero().flatten().tolist()
        if mixed:
            g = mixed[0]
            raise ValueError(
                f"group {group_labels[g]!r} mixes task keys {task_labels[int(lo[g])]!r} and "
                f"{task_labels[int(hi[g])]!r}; all rollouts of one prompt must share its task"
            )
    return task_index, task_labels  # type: ignore[return-value]


def group_moments(
    values: torch.Tensor,
    group_index: torch.Tensor,
    group_labels: list[Hashable],
    *,
    min_group_size: int = 1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-group ``(count, mean, centred values, population std)`` in float64.

    Groups whose values are all identical get centred values of exactly 0 (and std 0), so a degenerate
    group can never leak a rounding-error advantage.
    """
    n_groups = len(group_labels)
    x = values.to(torch.float64)
    count = torch.zeros(n_groups, dtype=torch.float64).index_add_(0, group_index, torch.ones_like(x))
    if min_group_size > 1 and n_groups:
        small = (count < min_group_size).nonzero().flatten().tolist()
        if small:
            raise ValueError(
                f"{len(small)} group(s) have fewer than {min_group_size} rollouts (first: group "
                f"{group_labels[small[0]]!r} with {int(count[small[0]])}); group-relative advantages need "
                f"rollout n >= {min_group_size}"
            )
    mean = torch.zeros(n_groups, dtype=torch.float64).index_add_(0, group_index, x) / count.clamp_min(1)
    centred = x - mean[group_index]
    lo = torch.full((n_groups,), float("inf"), dtype=torch.float64).scatter_reduce(0, group_index, x, "amin")
    hi = torch.full((n_groups,), float("-inf"), dtype=torch.float64).scatter_reduce(0, group_index, x, "amax")
    flat = lo == hi
    centred = torch.where(flat[group_index], torch.zeros_like(centred), centred)
    sq = torch.zeros(n_groups, dtype=torch.float64).index_add_(0, group_index, centred * centred)
    pop_std = (sq / count.clamp_min(1)).sqrt()
    return count, mean, centred, pop_std
