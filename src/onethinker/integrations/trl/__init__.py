"""TRL integration: OneThinker's rewards, its corpus as a TRL dataset, and a GRPOTrainer with EMA-GRPO.

- reward functions in TRL's shape (:mod:`.rewards`; no TRL needed to import them);
- :func:`trl_dataset` / :func:`trl_rows`: an image corpus in TRL's conversational multimodal format;
- :class:`EMAGRPOTrainer` / :class:`EMAGRPOConfig` (:mod:`.trainer`, needs ``pip install onethinker[trl]``):
  TRL's ``GRPOTrainer`` whose advantages are EMA-GRPO over the globally gathered rewards, with the EMA
  tracker saved in every checkpoint and restored on resume. Images only: TRL's GRPOTrainer takes images
  (``image`` / ``images`` columns) and no video, so video rows are refused with an error.

Names are imported lazily, so the reward functions work where TRL is not installed.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "accuracy_reward": "onethinker.integrations.trl.rewards",
    "format_reward": "onethinker.integrations.trl.rewards",
    "overall_reward": "onethinker.integrations.trl.rewards",
    "structure_reward": "onethinker.integrations.trl.rewards",
    "trl_dataset": "onethinker.integrations.trl.data",
    "trl_rows": "onethinker.integrations.trl.data",
    "EMA_STATE_NAME": "onethinker.integrations.trl.trainer",
    "EMAGRPOConfig": "onethinker.integrations.trl.trainer",
    "EMAGRPOTrainer": "onethinker.integrations.trl.trainer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        value = getattr(import_module(module), name)
    except ModuleNotFoundError as exc:
        if exc.name in ("trl", "datasets"):
            raise ImportError(
                f"onethinker.integrations.trl.{name} needs TRL: pip install 'onethinker[trl]' ({exc})"
            ) from exc
        raise
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
