"""veRL plugin: OneThinker's reward function and EMA-GRPO estimator for multi-node RL.

veRL (Ray + FSDP + vLLM) is the scale path; we never re-implement its engine. Three pieces plug into it:

* ``compute_score`` / ``compute_score_batch``: veRL's custom reward function (naive and batch reward
  managers). Task identity comes from ``extra_info`` (``problem_type``, ``data_type``), which
  ``onethinker data export --to verl`` writes for every row.
* ``ema_grpo``: an advantage estimator registered in veRL's registry. veRL only passes rewards, the
  response mask and the group ``index`` to estimators, so :func:`install` also wraps veRL's
  ``compute_advantage`` to publish each batch's task keys (read from ``extra_info``) to the estimator.
* The EMA statistics are saved beside every veRL checkpoint (``global_step_N/onethinker_ema.json``,
  written atomically) and restored on resume.

Use::

    export VERL_USE_EXTERNAL_MODULES=onethinker.integrations.verl
    python -m verl.trainer.main_ppo algorithm.adv_estimator=ema_grpo \\
        custom_reward_function.path=$(python -c "import onethinker.integrations.verl as m; print(m.__file__)") \\
        custom_reward_function.name=compute_score data.train_files=train.parquet ...

Importing this module with veRL installed registers everything; without veRL it still offers the
reward functions and the estimator as plain functions.
"""

from __future__ import annotations

import contextvars
import functools
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from onethinker.rewards import score_batch
from onethinker.rl import EMATracker, broadcast_advantages, ema_grpo_advantages
from onethinker.tasks import UnknownTaskError, task_key

ESTIMATOR_NAME = "ema_grpo"
STATE_FILE = "onethinker_ema.json"

# veRL computes advantages in its single driver process over the whole gathered batch, so one
# tracker per process is the right scope; it is saved beside every checkpoint.
TRACKER = EMATracker(distributed=False)
_TASK_KEYS: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("onethinker_task_keys", default=None)


def _item(solution_str: Any, ground_truth: Any, extra_info: Mapping | None) -> dict[str, Any]:
    info = extra_info if isinstance(extra_info, Mapping) else {}
    return {
        "response": solution_str,
        "ground_truth": ground_truth,
        "problem_type": info.get("problem_type"),
        "data_type": info.get("data_type"),
    }


def _verl_result(scored: Mapping[str, Any]) -> dict[str, float]:
    # veRL stores every extra key per sample; keep them numeric and present for every item.
    return {
        "score": float(scored["overall"]),
        "format": float(scored["format"]),
        "accuracy": float(scored["accuracy"]),
        "structure": float(scored["structure"]),
    }


def compute_score(data_source: Any, solution_str: Any, ground_truth: Any, extra_info: Mapping | None = None,
                  **kwargs: Any) -> dict[str, float]:
    """veRL custom reward function (naive reward manager): one rollout -> ``{"score", parts...}``."""
    return _verl_result(score_batch([_item(solution_str, ground_truth, extra_info)])[0])


def compute_score_batch(data_sources: Sequence[Any], solution_strs: Sequence[Any], ground_truths: Sequence[Any],
                        extra_infos: Sequence[Mapping | None], **kwargs: Any) -> list[dict[str, float]]:
    """veRL custom reward function for the batch reward manager."""
    items = [_item(s, g, e) for s, g, e in zip(solution_strs, ground_truths, extra_infos, strict=True)]
    return [_verl_result(r) for r in score_batch(items)]


def task_keys_from_extra_info(extra_infos: Sequence[Any]) -> list[str]:
    """Registry task keys for a batch, from the ``extra_info`` column our export writes."""
    keys = []
    for row, info in enumerate(extra_infos):
        info = info if isinstance(info, Mapping) else {}
        try:
            keys.append(task_key(info.get("problem_type"), info.get("data_type")))
        except UnknownTaskError as err:
            raise ValueError(f"batch row {row}: extra_info: {err}; export the data with "
                             "`onethinker data export --to verl` so each row names its task") from None
    return keys


def ema_grpo_estimator(token_level_rewards: torch.Tensor, response_mask: torch.Tensor, index: Any = None,
                       config: Any = None, task_keys: Sequence[str] | None = None,
                       **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """EMA-GRPO with veRL's estimator signature; returns (advantages, returns), both [bs, response_len]."""
    if index is None:
        raise ValueError("ema_grpo needs veRL's group index (`uid`): set actor_rollout_ref.rollout.n > 1")
    keys = list(task_keys) if task_keys is not None else _TASK_KEYS.get()
    if keys is None:
        raise RuntimeError("ema_grpo needs each rollout's task: import onethinker.integrations.verl through "
                           "VERL_USE_EXTERNAL_MODULES so its compute_advantage hook is installed")
    scores = token_level_rewards.sum(dim=-1)
    with torch.no_grad():
        adv = ema_grpo_advantages(scores, list(index), keys, TRACKER)
        token_adv = broadcast_advantages(adv, response_mask)
    return token_adv, token_adv


def save_tracker_state(folder: str | os.PathLike) -> Path:
    """Write the tracker's state into ``folder`` atomically (temp file + rename)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / STATE_FILE
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{STATE_FILE}.")
    with os.fdopen(fd, "w") as handle:
        json.dump(TRACKER.state_dict(), handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    return target


def load_tracker_state(folder: str | os.PathLike) -> bool:
    """Restore the tracker from ``folder`` if it holds our state file; returns whether it did."""
    path = Path(folder) / STATE_FILE
    if not path.is_file():
        return False
    TRACKER.load_state_dict(json.loads(path.read_text()))
    return True


def _wrap_compute_advantage(original):
    @functools.wraps(original)
    def compute_advantage(data, adv_estimator, *args, **kwargs):
        name = getattr(adv_estimator, "value", adv_estimator)
        if name != ESTIMATOR_NAME:
            return original(data, adv_estimator, *args, **kwargs)
        token = _TASK_KEYS.set(task_keys_from_extra_info(data.non_tensor_batch["extra_info"]))
        try:
            return original(data, adv_estimator, *args, **kwargs)
        finally:
            _TASK_KEYS.reset(token)

    compute_advantage.__onethinker_wrapped__ = True
    return compute_advantage


def _wrap_trainer(trainer_cls) -> None:
    save, load = trainer_cls._save_checkpoint, trainer_cls._load_checkpoint
    if getattr(save, "__onethinker_wrapped__", False):
        return

    def _step_folder(self) -> str:
        return os.path.join(self.config.trainer.default_local_dir, f"global_step_{self.global_steps}")

    @functools.wraps(save)
    def _save_checkpoint(self, *args, **kwargs):
        result = save(self, *args, **kwargs)
        save_tracker_state(_step_folder(self))
        return result

    @functools.wraps(load)
    def _load_checkpoint(self, *args, **kwargs):
        result = load(self, *args, **kwargs)
        load_tracker_state(_step_folder(self))
        return result

    _save_checkpoint.__onethinker_wrapped__ = True
    trainer_cls._save_checkpoint, trainer_cls._load_checkpoint = _save_checkpoint, _load_checkpoint


def install() -> bool:
    """Register ``ema_grpo`` with veRL and hook its advantage computation and checkpoints.

    Returns False (and changes nothing) when veRL is not installed. Safe to call more than once.
    """
    try:
        from verl.trainer.ppo import core_algos, ray_trainer
    except ImportError:
        return False
    if ESTIMATOR_NAME not in core_algos.ADV_ESTIMATOR_REGISTRY:
        core_algos.register_adv_est(ESTIMATOR_NAME)(ema_grpo_estimator)
    if not getattr(ray_trainer.compute_advantage, "__onethinker_wrapped__", False):
        ray_trainer.compute_advantage = _wrap_compute_advantage(ray_trainer.compute_advantage)
    _wrap_trainer(ray_trainer.RayPPOTrainer)
    return True


INSTALLED = install()
