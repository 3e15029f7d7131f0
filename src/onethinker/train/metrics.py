"""Per-step metrics: one JSON line per step in ``metrics.jsonl`` and the same scalars in TensorBoard.

Names are slash-separated, per task where it matters: ``reward/overall/multiple choice``,
``ema/std/numerical``, ``time/generate``. On resume the log is cut back to the checkpoint's step, so a
resumed run's log reads exactly like an uninterrupted one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class MetricsLogger:
    """Append-only metrics for a run folder.

    Args:
        output_dir: run folder; writes ``metrics.jsonl`` and (optionally) ``tb/``.
        tensorboard: also write TensorBoard scalars.
        resume_step: drop logged steps after this one (resume from a checkpoint at this step).
        enabled: ``False`` on non-main processes.
    """

    def __init__(self, output_dir: str | Path, *, tensorboard: bool = True, resume_step: int | None = None,
                 enabled: bool = True) -> None:
        self.path = Path(output_dir) / "metrics.jsonl"
        self.enabled = enabled
        self._tb = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is None:
            self.path.write_text("")
        elif self.path.exists():
            kept = [line for line in self.path.read_text().splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= resume_step]
            self.path.write_text("".join(line + "\n" for line in kept))
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                purge = None if resume_step is None else resume_step + 1
                self._tb = SummaryWriter(str(Path(output_dir) / "tb"), purge_step=purge)
            except ImportError:  # pragma: no cover - tensorboard is a dependency
                self._tb = None

    def log(self, step: int, metrics: Mapping[str, Any]) -> None:
        if not self.enabled:
            return
        row = {"step": step, **{k: _plain(v) for k, v in metrics.items()}}
        with self.path.open("a") as fh:
            fh.write(json.dumps(row, allow_nan=False, default=str) + "\n")
        if self._tb is not None:
            for key, value in row.items():
                if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                    self._tb.add_scalar(key, value, step)
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def _plain(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """All rows of a ``metrics.jsonl`` (a run folder or the file itself)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
