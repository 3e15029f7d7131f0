"""Per-task exponential moving averages of the reward's first and second moments (EMA-GRPO's scale).

The tracker is the only stateful piece of the RL core. Its state is a handful of floats per task key, kept
as plain Python types so a checkpoint can store it as JSON. In a data-parallel run every rank feeds its own
local batch to :meth:`EMATracker.update`; the per-task counts, sums and sums of squares are all-reduced
first, so every rank applies the same global batch moments and ends up with identical statistics.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch

from onethinker.rl._groups import as_scores, dense_index

__all__ = ["EMATracker"]

_STATE_VERSION = 1


class EMATracker:
    """Exponential moving averages of E[s] and E[s^2] per task key.

    ``update(scores, task_keys)`` folds a batch in: for each task k present in the batch with batch
    moments ``b1 = mean(s)``, ``b2 = mean(s^2)``, ``m1 <- d*m1 + (1-d)*b1`` and ``m2 <- d*m2 + (1-d)*b2``;
    the first batch that contains k initialises ``m1, m2 = b1, b2``. Tasks absent from a batch keep their
    moments (they do not decay). ``std(k) = sqrt(max(m2 - m1^2, min_std^2))``.

    Args:
        decay: d in [0, 1]; 0.99 (the published value) gives an effective memory of about 100 updates.
        min_std: floor of the reported std, so a task whose rewards never vary cannot blow up advantages.
        distributed: whether ``update`` all-reduces its batch statistics over ``torch.distributed``.
            ``None`` (default) means: when a process group is initialised with more than one rank. Every
            rank must then call ``update`` at the same step (with its own, possibly empty, local batch);
            pass ``False`` where only one process computes advantages over the gathered batch.
        process_group: the group to reduce over (default: the world).
    """

    def __init__(
        self,
        decay: float = 0.99,
        min_std: float = 1e-3,
        *,
        distributed: bool | None = None,
        process_group: Any = None,
    ) -> None:
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"decay must lie in [0, 1], got {decay}")
        if not min_std >= 0.0:
            raise ValueError(f"min_std must be >= 0, got {min_std}")
        self.decay = float(decay)
        self.min_std = float(min_std)
        self.distributed = distributed
        self.process_group = process_group
        self._m1: dict[str, float] = {}
        self._m2: dict[str, float] = {}
        self._updates: dict[str, int] = {}

    # ----------------------------------------------------------------------------------------- reading
    def __contains__(self, key: object) -> bool:
        return key in self._m1

    def keys(self) -> list[str]:
        """Task keys seen so far, sorted."""
        return sorted(self._m1)

    def _require(self, key: str) -> None:
        if key not in self._m1:
            seen = ", ".join(repr(k) for k in self.keys()) or "none yet"
            raise KeyError(f"task {key!r} has no EMA statistics yet (tasks seen: {seen})")

    def mean(self, key: str) -> float:
        """EMA of the task's mean reward. Raises ``KeyError`` for a task never seen by ``update``."""
        self._require(key)
        return self._m1[key]

    def std(self, key: str) -> float:
        """``sqrt(max(m2 - m1^2, min_std^2))``. Raises ``KeyError`` for a task never seen by ``update``."""
        self._require(key)
        m1 = self._m1[key]
        var = self._m2[key] - m1 * m1
        return math.sqrt(max(var, self.min_std * self.min_std))

    def summary(self) -> dict[str, dict[str, float]]:
        """``{task: {"mean": ..., "std": ..., "updates": ...}}`` for logging."""
        return {k: {"mean": self.mean(k), "std": self.std(k), "updates": self._updates[k]} for k in self.keys()}

    # ----------------------------------------------------------------------------------------- updating
    def _use_distributed(self) -> bool:
        if self.distributed is False:
            return False
        available = torch.distributed.is_available() and torch.distributed.is_initialized()
        if self.distributed is True and not available:
            raise RuntimeError("EMATracker(distributed=True) needs an initialised torch.distributed process group")
        return available and torch.distributed.get_world_size(self.process_group) > 1

    @staticmethod
    def batch_sums(scores: Any, task_keys: Any) -> dict[str, tuple[float, float, float]]:
        """``{task: (count, sum, sum of squares)}`` of one (local) batch, accumulated in float64."""
        x = as_scores(scores).detach().to("cpu", torch.float64)
        index, labels = dense_index(task_keys, x.numel(), "task_keys")
        for label in labels:
            if not isinstance(label, str):
                raise TypeError(f"task_keys entries must be str registry keys, got {label!r}")
        k = len(labels)
        count = torch.zeros(k, dtype=torch.float64).index_add_(0, index, torch.ones_like(x))
        total = torch.zeros(k, dtype=torch.float64).index_add_(0, index, x)
        total_sq = torch.zeros(k, dtype=torch.float64).index_add_(0, index, x * x)
        return {
            str(label): (float(count[i]), float(total[i]), float(total_sq[i])) for i, label in enumerate(labels)
        }

    def _all_reduce(self, sums: dict[str, tuple[float, float, float]]) -> dict[str, tuple[float, float, float]]:
        dist = torch.distributed
        group = self.process_group
        # Ranks may hold different task mixes: agree on the union of keys first, in one fixed order.
        world = dist.get_world_size(group)
        gathered: list[Any] = [None] * world
        dist.all_gather_object(gathered, sorted(sums), group=group)
        keys = sorted(set().union(*gathered))
        if not keys:
            return {}
        device = torch.device("cpu")
        if dist.get_backend(group) == "nccl":
            device = torch.device("cuda", torch.cuda.current_device())
        local = torch.tensor([sums.get(k, (0.0, 0.0, 0.0)) for k in keys], dtype=torch.float64, device=device)
        dist.all_reduce(local, op=dist.ReduceOp.SUM, group=group)
        return {k: tuple(float(v) for v in row) for k, row in zip(keys, local.cpu())}  # type: ignore[misc]

    def update(self, scores: Any, task_keys: Any) -> dict[str, tuple[float, float]]:
        """Fold one batch into the moments; returns the (global) batch moments ``{task: (b1, b2)}`` used.

        ``scores`` is a 1-D tensor (or sequence) of rewards, ``task_keys`` one registry key per score.
        In distributed mode this is a collective: every rank must call it, even with an empty batch.
        """
        sums = self.batch_sums(scores, task_keys)
        if self._use_distributed():
            sums = self._all_reduce(sums)
        d = self.decay
        moments: dict[str, tuple[float, float]] = {}
        for key in sorted(sums):
            count, total, total_sq = sums[key]
            if count <= 0:
                continue
            b1, b2 = total / count, total_sq / count
            moments[key] = (b1, b2)
            if key in self._m1:
                self._m1[key] = d * self._m1[key] + (1.0 - d) * b1
                self._m2[key] = d * self._m2[key] + (1.0 - d) * b2
                self._updates[key] += 1
            else:
                self._m1[key], self._m2[key], self._updates[key] = b1, b2, 1
        return moments

    # ----------------------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable state: hyperparameters and ``{task: {m1, m2, updates}}``."""
        return {
            "version": _STATE_VERSION,
            "decay": self.decay,
            "min_std": self.min_std,
            "tasks": {
                k: {"m1": self._m1[k], "m2": self._m2[k], "updates": self._updates[k]} for k in self.keys()
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the per-task moments saved by :meth:`state_dict`.

        The tracker keeps its own (configured) ``decay`` and ``min_std``: a run resumed with
        ``algorithm.ema_decay=...`` uses the new value. When the checkpoint's values differ, a
        :class:`UserWarning` says which value is used; construct the tracker with the saved values to
        continue exactly where the run stopped.
        """
        if not isinstance(state, dict) or not isinstance(state.get("tasks"), dict):
            raise ValueError("EMATracker state must be a dict with a 'tasks' mapping (from state_dict())")
        if state.get("version", _STATE_VERSION) != _STATE_VERSION:
            raise ValueError(f"unsupported EMATracker state version {state.get('version')!r}")
        m1: dict[str, float] = {}
        m2: dict[str, float] = {}
        updates: dict[str, int] = {}
        for key, entry in state["tasks"].items():
            try:
                m1[str(key)] = float(entry["m1"])
                m2[str(key)] = float(entry["m2"])
                updates[str(key)] = int(entry.get("updates", 1))
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"EMATracker state: task {key!r}: needs numeric 'm1' and 'm2' ({exc})") from None
            if not (math.isfinite(m1[str(key)]) and math.isfinite(m2[str(key)])):
                raise ValueError(f"EMATracker state: task {key!r}: moments must be finite")
        for name in ("decay", "min_std"):
            if name in state and float(state[name]) != getattr(self, name):
                warnings.warn(f"EMATracker: the checkpoint's {name}={float(state[name])} differs from the "
                              f"configured {name}={getattr(self, name)}; using the configured value",
                              UserWarning, stacklevel=2)
        self._m1, self._m2, self._updates = m1, m2, updates

    def __repr__(self) -> str:
        return f"EMATracker(decay={self.decay}, min_std={self.min_std}, tasks={self.keys()})"
