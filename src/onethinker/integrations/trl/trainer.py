"""TRL's ``GRPOTrainer`` with EMA-GRPO advantages (``pip install onethinker[trl]``; tested with trl 1.16.0).

TRL has no advantage hook: ``GRPOTrainer._generate_and_score_completions`` sums the weighted rewards and
normalises them inline (group or batch std). The override here is the smallest one that holds:

1. ``_calculate_rewards`` is TRL's, unchanged; we keep what it returns, the rewards of every reward
   function for the *globally gathered* batch (every process sees all of them, in process order);
2. after TRL's ``_generate_and_score_completions`` returns, ``output["advantages"]`` (this process's slice)
   is replaced by EMA-GRPO (:func:`onethinker.rl.ema_grpo_advantages`) of the weighted reward sum over the
   global batch, groups of ``num_generations`` consecutive rollouts (TRL's own grouping), task keys from
   the ``problem_type`` / ``data_type`` columns (:func:`onethinker.tasks.task_key`), sliced to this process
   exactly as TRL slices. TRL's ``scale_rewards`` is therefore not used.

Every process updates its own tracker with the same global batch, so all ranks hold identical statistics
without a collective of their own. The tracker is updated once per generation batch (every
``steps_per_generation * num_iterations`` optimizer steps), never in evaluation (eval advantages use a
copy). Its state is written to ``checkpoint-N/onethinker_ema.json`` before TRL/Transformers write the
checkpoint's ``trainer_state.json``, and restored by ``trainer.train(resume_from_checkpoint=...)``.

Images only: TRL 1.16's GRPOTrainer reads images from ``image`` / ``images`` columns and has no video
input, so a row with ``data_type`` video or a ``video`` / ``videos`` column is refused with an error.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import datasets
import torch
from accelerate.utils import gather_object
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from trl import GRPOConfig, GRPOTrainer

from onethinker.rl import EMATracker, ema_grpo_advantages
from onethinker.tasks import UnknownTaskError, task_key

__all__ = ["EMA_STATE_NAME", "EMAGRPOConfig", "EMAGRPOTrainer"]

EMA_STATE_NAME = "onethinker_ema.json"
_VIDEO_COLUMNS = ("video", "videos")


@dataclass
class EMAGRPOConfig(GRPOConfig):
    """``GRPOConfig`` plus EMA-GRPO's settings (``docs/ema_grpo.md``). ``scale_rewards`` is not used."""

    ema_decay: float = field(default=0.99, metadata={"help": "EMA decay d of each task's reward moments."})
    ema_min_std: float = field(default=1e-3, metadata={"help": "Floor of a task's EMA std."})
    ema_eps: float = field(default=1e-6, metadata={"help": "Added to the std before dividing."})
    ema_guard: float = field(
        default=5.0, metadata={"help": "A group with any |A| above this is rescaled by its own std instead."}
    )
    problem_type_column: str = field(
        default="problem_type", metadata={"help": "Dataset column holding each row's problem_type."}
    )
    data_type_column: str = field(
        default="data_type", metadata={"help": "Dataset column holding each row's data_type (image)."}
    )


def _setting(args: Any, name: str) -> Any:
    # A plain GRPOConfig works too: EMAGRPOConfig's defaults fill in.
    return getattr(args, name, EMAGRPOConfig.__dataclass_fields__[name].default)


def _video_problem(row: dict[str, Any], data_type_column: str) -> str | None:
    data_type = row.get(data_type_column)
    if isinstance(data_type, str) and data_type.strip().lower() == "video":
        return f"{data_type_column} is {data_type!r}"
    for column in _VIDEO_COLUMNS:
        if row.get(column):
            return f"column {column!r} is set"
    return None


class EMAGRPOTrainer(GRPOTrainer):
    """``trl.GRPOTrainer`` whose advantages are EMA-GRPO, with the tracker in every checkpoint.

    Takes exactly ``GRPOTrainer``'s arguments; pass an :class:`EMAGRPOConfig` to change EMA-GRPO's settings.
    The dataset needs ``problem_type`` and ``data_type`` columns (the reward functions of this package need
    them too) and image rows only. ``trainer.ema_tracker`` is the run's :class:`~onethinker.rl.EMATracker`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.multi_objective_aggregation != "sum_then_normalize":
            raise ValueError(
                "EMAGRPOTrainer normalises the weighted reward sum; multi_objective_aggregation="
                f"{self.multi_objective_aggregation!r} normalises each reward first. Use 'sum_then_normalize'."
            )
        self.ema_tracker = EMATracker(
            decay=_setting(self.args, "ema_decay"), min_std=_setting(self.args, "ema_min_std"), distributed=False
        )
        self._problem_type_column = _setting(self.args, "problem_type_column")
        self._data_type_column = _setting(self.args, "data_type_column")
        self._gathered_rewards: torch.Tensor | None = None
        for name, dataset in (("train_dataset", self.train_dataset), ("eval_dataset", self.eval_dataset)):
            if isinstance(dataset, dict):
                for key, part in dataset.items():
                    self._check_dataset(f"{name}[{key!r}]", part)
            else:
                self._check_dataset(name, dataset)

    # ------------------------------------------------------------------------------------------------ rows
    def _check_dataset(self, name: str, dataset: Any) -> None:
        """Fail before training on a missing column, an unknown task or a video row (map-style datasets)."""
        if not isinstance(dataset, datasets.Dataset):  # an IterableDataset (or other) is checked batch by batch
            return
        columns = dataset.column_names
        for column in (self._problem_type_column, self._data_type_column):
            if column not in columns:
                raise ValueError(f"EMAGRPOTrainer: {name} has no {column!r} column (it has {', '.join(columns)})")
        problem_types = dataset[self._problem_type_column]
        data_types = dataset[self._data_type_column]
        videos = {c: dataset[c] for c in _VIDEO_COLUMNS if c in columns}
        for i, (problem_type, data_type) in enumerate(zip(problem_types, data_types, strict=True)):
            row = {self._data_type_column: data_type, **{c: v[i] for c, v in videos.items()}}
            self._row_task_key(row | {self._problem_type_column: problem_type}, f"{name} row {i}")

    def _row_task_key(self, row: dict[str, Any], where: str) -> str:
        for column in (self._problem_type_column, self._data_type_column):
            if column not in row:
                raise ValueError(f"EMAGRPOTrainer: {where} has no {column!r} column; EMA-GRPO needs each row's task")
        video = _video_problem(row, self._data_type_column)
        if video is not None:
            raise ValueError(
                f"EMAGRPOTrainer: {where} is a video row ({video}); TRL's GRPOTrainer takes images only. "
                "Train video with `onethinker train rl` or the veRL plugin."
            )
        try:
            return task_key(row[self._problem_type_column], row[self._data_type_column])
        except UnknownTaskError as exc:
            raise ValueError(f"EMAGRPOTrainer: {where}: {exc}") from None

    # ------------------------------------------------------------------------------------------------ advantages
    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._gathered_rewards = rewards_per_func  # [global batch, reward funcs], every process's rows in order
        return rewards_per_func

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        step = self.state.global_step
        local_keys = [self._row_task_key(row, f"batch row {i} (step {step})") for i, row in enumerate(inputs)]
        task_keys = gather_object(local_keys)  # global order = the order of TRL's gathered rewards
        self._gathered_rewards = None
        output = super()._generate_and_score_completions(inputs)
        rewards_per_func, self._gathered_rewards = self._gathered_rewards, None
        if rewards_per_func is None or rewards_per_func.shape[0] != len(task_keys):
            raise RuntimeError(
                "EMAGRPOTrainer: TRL's _generate_and_score_completions did not call _calculate_rewards once over the "
                "gathered batch; this TRL version is not supported (tested: trl 1.16.0)"
            )
        mode = "train" if self.model.training else "eval"
        advantages = self.ema_grpo_advantages(rewards_per_func, task_keys, mode)
        local = len(inputs)
        start = self.accelerator.process_index * local
        mine = advantages[start : start + local]
        if mine.shape != output["advantages"].shape:
            raise RuntimeError(
                f"EMAGRPOTrainer: TRL's advantages have shape {tuple(output['advantages'].shape)}, EMA-GRPO's slice "
                f"{tuple(mine.shape)}; this TRL version is not supported (tested: trl 1.16.0)"
            )
        output["advantages"] = mine
        logged = self._logs["advantages"]  # TRL logged its own global advantages last; show ours instead
        if len(logged) >= len(advantages):
            for _ in range(len(advantages)):
                logged.pop()
            logged.extend(advantages.tolist())
        return output

    def ema_grpo_advantages(self, rewards_per_func: torch.Tensor, task_keys: Sequence[str], mode: str) -> torch.Tensor:
        """EMA-GRPO over the global batch: ``rewards_per_func`` ``[N, funcs]`` -> advantages ``[N]``.

        The reward is TRL's weighted sum (``reward_weights``); groups are ``num_generations`` consecutive
        rollouts. In training the run's tracker is updated; in evaluation a copy is used.
        """
        unscorable = torch.isnan(rewards_per_func).all(dim=1)
        if unscorable.any():
            i = int(unscorable.nonzero()[0])
            raise ValueError(
                f"EMAGRPOTrainer: every reward function returned None for rollout {i} of the batch (task "
                f"{task_keys[i]!r}); EMA-GRPO needs a reward for every rollout"
            )
        weights = self.reward_weights.to(rewards_per_func.device)
        scores = (rewards_per_func * weights.unsqueeze(0)).nansum(dim=1)
        group_size = self.num_generations if mode == "train" else self.num_generations_eval
        group_ids = (torch.arange(scores.numel()) // group_size).tolist()
        tracker = self.ema_tracker if mode == "train" else copy.deepcopy(self.ema_tracker)
        advantages = ema_grpo_advantages(
            scores, group_ids, task_keys, tracker,
            eps=_setting(self.args, "ema_eps"), guard=_setting(self.args, "ema_guard"),
        )
        if mode == "train":
            for key in sorted(set(task_keys)):
                self._metrics[mode][f"ema/{key}/mean"].append(tracker.mean(key))
                self._metrics[mode][f"ema/{key}/std"].append(tracker.std(key))
        return advantages

    # ------------------------------------------------------------------------------------------------ checkpoints
    def _save_checkpoint(self, model, trial):
        # Written first, so any checkpoint that Transformers has completed (trainer_state.json) holds it.
        if self.args.should_save:
            folder = os.path.join(self._get_output_dir(trial=trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}")
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, EMA_STATE_NAME)
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                json.dump(self.ema_tracker.state_dict(), f, indent=2)
            os.replace(path + ".tmp", path)
        super()._save_checkpoint(model, trial)

    def _load_optimizer_and_scheduler(self, checkpoint):
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is None:
            return
        path = os.path.join(checkpoint, EMA_STATE_NAME)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{path}: missing; the checkpoint was not written by EMAGRPOTrainer, so EMA-GRPO's statistics "
                "cannot be restored"
            )
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
        try:
            self.ema_tracker.load_state_dict(state)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
