"""veRL plugin: OneThinker's reward function and EMA-GRPO estimator for multi-node RL (veRL 0.9.1).

veRL (Ray + FSDP + vLLM) is the scale path; we never re-implement its engine. What plugs into it:

* ``compute_score``: veRL's custom reward function (run by its reward loop's ``naive`` manager, one
  rollout per call). Task identity comes from ``extra_info`` (``problem_type``, ``data_type``), which
  ``onethinker data export --to verl`` writes for every row. The returned ``accuracy`` is what online
  filtering reads (``algorithm.filter_groups.metric=accuracy``).
* ``ema_grpo``: an advantage estimator in veRL's registry. veRL passes estimators only rewards, the
  response mask and the group ``index``, so :func:`install` also hooks both trainers' advantage step to
  hand the estimator each row's task key: the v1 ``PPOTrainer._compute_advantage`` (0.9.1's default,
  rows in the TransferQueue) and the legacy ``compute_advantage`` (``trainer.use_v1=false``).
* The EMA statistics are written into ``global_step_N/onethinker_ema.json`` (atomically) before veRL
  marks that checkpoint complete, and restored from the checkpoint veRL resumes from
  (``resume_mode=auto`` or ``resume_path``), on both trainers.

Use (the overrides veRL 0.9.1 reads)::

    export VERL_USE_EXTERNAL_MODULES=onethinker.integrations.verl
    python -m verl.trainer.main_ppo algorithm.adv_estimator=ema_grpo \\
        reward.custom_reward_function.path=pkg://onethinker.integrations.verl \\
        reward.custom_reward_function.name=compute_score data.train_files=train.parquet ...

``pkg://`` imports this module by name, so the reward and the estimator share one module (and one
tracker) instead of veRL loading a second copy from a file path. Importing the module never fails:
without veRL (or with a broken install) the reward function and the estimator are plain functions,
:data:`INSTALLED` is False and :data:`MISSING` says what failed to import.
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import importlib.util
import json
import os
import tempfile
import warnings
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
    """veRL custom reward function: one rollout -> ``{"score", "format", "accuracy", "structure"}``.

    ``score`` is OneThinker's ``overall``; veRL keeps the other keys per rollout as ``reward_extra_info``.
    """
    return _verl_result(score_batch([_item(solution_str, ground_truth, extra_info)])[0])


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
    """Legacy trainer path: veRL's module-level ``compute_advantage`` sees the whole batch with ``extra_info``."""
    @functools.wraps(original)
    def compute_advantage(data, adv_estimator, *args, **kwargs):
        name = getattr(adv_estimator, "value", adv_estimator)
        # The v1 trainer calls this too, without extra_info: its own hook has already set the keys.
        if name != ESTIMATOR_NAME or "extra_info" not in data.non_tensor_batch:
            return original(data, adv_estimator, *args, **kwargs)
        token = _TASK_KEYS.set(task_keys_from_extra_info(data.non_tensor_batch["extra_info"]))
        try:
            return original(data, adv_estimator, *args, **kwargs)
        finally:
            _TASK_KEYS.reset(token)

    compute_advantage.__onethinker_wrapped__ = True
    return compute_advantage


def _wrap_v1_compute_advantage(trainer_cls, tq) -> None:
    """v1 trainer path: rows live in the TransferQueue, and ``_compute_advantage`` fetches no ``extra_info``.

    We read ``extra_info`` for the same keys, in the same order, and hand the task keys to the estimator.
    Wrapping the class method (not veRL's module function, which v1 binds at import) works whatever the
    import order of this plugin and the trainer.
    """
    original = trainer_cls._compute_advantage
    if getattr(original, "__onethinker_wrapped__", False):
        return

    @functools.wraps(original)
    def _compute_advantage(self, batch, metrics):
        name = getattr(self.config.algorithm.adv_estimator, "value", self.config.algorithm.adv_estimator)
        if name != ESTIMATOR_NAME:
            return original(self, batch, metrics)
        try:
            rows = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=["extra_info"])
            infos = [getattr(info, "data", info) for info in rows["extra_info"]]
        except Exception as err:  # TransferQueue reports a missing field in its own ways
            raise ValueError(f"ema_grpo needs each rollout's extra_info (problem_type, data_type) in veRL's "
                             f"TransferQueue, but reading it failed ({type(err).__name__}: {err}); export the "
                             "data with `onethinker data export --to verl`") from err
        token = _TASK_KEYS.set(task_keys_from_extra_info(infos))
        try:
            return original(self, batch, metrics)
        finally:
            _TASK_KEYS.reset(token)

    _compute_advantage.__onethinker_wrapped__ = True
    trainer_cls._compute_advantage = _compute_advantage


def resumed_checkpoint_folder(trainer) -> str | None:
    """The ``global_step_N`` folder veRL's ``_load_checkpoint`` just loaded, or None when it started fresh.

    Both trainers pick it the same way: ``resume_mode=auto`` reads ``latest_checkpointed_iteration.txt`` in
    ``default_local_dir``; ``resume_mode=resume_path`` takes ``resume_from_path`` as given (it may lie
    outside ``default_local_dir``).
    """
    from verl.utils.checkpoint.checkpoint_manager import find_latest_ckpt_path

    cfg = trainer.config.trainer
    if cfg.resume_mode == "resume_path":
        folder = cfg.resume_from_path
    elif cfg.resume_mode == "auto":
        folder = find_latest_ckpt_path(os.path.abspath(cfg.default_local_dir))
    else:
        return None
    if not folder:
        return None
    folder = os.path.abspath(folder)
    if int(folder.rstrip("/").split("global_step_")[-1]) != trainer.global_steps:
        return None  # veRL did not resume from it (e.g. it raised before setting the step)
    return folder


def _wrap_trainer_checkpoints(trainer_cls) -> None:
    """Save the tracker into ``global_step_N`` before veRL writes anything for that step, so it is on disk
    before ``latest_checkpointed_iteration.txt`` marks the checkpoint complete; restore it from the folder
    veRL actually resumed from.

    veRL 0.9.1's ``trainer.checkpoint_callback_class`` runs only after that marker is written (a crash in
    between would leave a complete-looking checkpoint without EMA state) and has no load side, so we wrap
    ``_save_checkpoint`` / ``_load_checkpoint`` of both trainers instead.
    """
    save, load = trainer_cls._save_checkpoint, trainer_cls._load_checkpoint
    if getattr(save, "__onethinker_wrapped__", False):
        return

    @functools.wraps(save)
    def _save_checkpoint(self, *args, **kwargs):
        save_tracker_state(os.path.join(self.config.trainer.default_local_dir, f"global_step_{self.global_steps}"))
        return save(self, *args, **kwargs)

    @functools.wraps(load)
    def _load_checkpoint(self, *args, **kwargs):
        result = load(self, *args, **kwargs)
        folder = resumed_checkpoint_folder(self)
        if folder is not None and not load_tracker_state(folder):
            warnings.warn(f"{folder} has no {STATE_FILE}: EMA-GRPO statistics start fresh (was the checkpoint "
                          "written without onethinker.integrations.verl?)", stacklevel=2)
        return result

    _save_checkpoint.__onethinker_wrapped__ = True
    trainer_cls._save_checkpoint, trainer_cls._load_checkpoint = _save_checkpoint, _load_checkpoint


def _import_part(name: str, missing: list[str]):
    """Import one veRL module; on any failure (not only ImportError) record why and return None."""
    try:
        return importlib.import_module(name)
    except Exception as err:  # veRL's imports fail in many ways (kernels/transformers mismatches raise ValueError)
        missing.append(f"{name}: {type(err).__name__}: {err}")
        return None


def install() -> bool:
    """Register ``ema_grpo`` with veRL and hook both trainers' advantage step and checkpoints.

    Returns whether veRL's estimator registry and at least one trainer were hooked. Never raises: what
    could not be imported is listed in :data:`MISSING` (and warned about when veRL itself is present).
    Safe to call more than once.
    """
    missing = MISSING
    missing.clear()
    if importlib.util.find_spec("verl") is None:
        missing.append("verl: not installed (pip install 'onethinker[verl]', see docs/integrations.md)")
        return False
    core_algos = _import_part("verl.trainer.ppo.core_algos", missing)
    ray_trainer = _import_part("verl.trainer.ppo.ray_trainer", missing)
    v1 = _import_part("verl.trainer.ppo.v1.trainer_base", missing)
    if core_algos is not None:
        if ESTIMATOR_NAME not in core_algos.ADV_ESTIMATOR_REGISTRY:
            core_algos.register_adv_est(ESTIMATOR_NAME)(ema_grpo_estimator)
    if ray_trainer is not None:
        if not getattr(ray_trainer.compute_advantage, "__onethinker_wrapped__", False):
            ray_trainer.compute_advantage = _wrap_compute_advantage(ray_trainer.compute_advantage)
        _wrap_trainer_checkpoints(ray_trainer.RayPPOTrainer)
    if v1 is not None:
        _wrap_v1_compute_advantage(v1.PPOTrainer, v1.tq)
        _wrap_trainer_checkpoints(v1.PPOTrainer)
    if missing:
        warnings.warn("onethinker.integrations.verl: parts of veRL failed to import, so ema_grpo is not hooked "
                      "into them:\n  " + "\n  ".join(missing) + "\nInstall a working set with "
                      "`pip install 'onethinker[verl]'` then `pip install --no-deps verl==0.9.1`.", stacklevel=2)
    return core_algos is not None and (ray_trainer is not None or v1 is not None)


MISSING: list[str] = []
INSTALLED = install()
