"""Pieces SFT and RL share: processes and devices, the policy, the optimizer and its schedule, data order."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onethinker.models.encode import MediaSettings
from onethinker.models.loading import quiet_transformers  # noqa: F401  (re-exported for the trainers)
from onethinker.train.config import DataConfig, ModelConfig, OptimConfig


@dataclass
class Runtime:
    """Where this process runs. ``accelerator`` is set under ``accelerate launch`` with several processes.

    The collectives below are the only places the trainers talk across processes; with one process they
    are plain local operations, so a one-process run takes exactly the same code path.
    """

    device: Any
    rank: int = 0
    world_size: int = 1
    accelerator: Any = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def prepare(self, model, optimizer, scheduler):
        """Model, optimizer and schedule through ``accelerator.prepare`` (DDP, FSDP or DeepSpeed wrap them)."""
        if self.accelerator is None:
            return model, optimizer, scheduler
        return self.accelerator.prepare(model, optimizer, scheduler)

    def unwrap(self, model):
        return self.accelerator.unwrap_model(model) if self.accelerator is not None else model

    def backward(self, loss) -> None:
        if self.accelerator is not None:
            self.accelerator.backward(loss)
        else:
            loss.backward()

    def no_sync(self, model, skip: bool):
        """Context for a backward that only accumulates locally (``skip``): gradients are all-reduced once,
        by the last backward before the optimizer step."""
        import contextlib

        if self.accelerator is None or not skip:
            return contextlib.nullcontext()
        return self.accelerator.no_sync(model)

    def clip_gradients(self, model, max_norm: float) -> float:
        """Clip the global gradient norm (when ``max_norm > 0``); return the norm before clipping.

        Under accelerate the norm is taken by the wrapper (FSDP and DeepSpeed hold shards of the gradients).
        """
        if self.accelerator is None:
            return clip_gradients(model, max_norm)
        norm = self.accelerator.clip_grad_norm_(model.parameters(), max_norm if max_norm > 0 else float("inf"))
        return float(norm) if norm is not None else 0.0

    def sum_across(self, values: list[float]) -> list[float]:
        """Element-wise sum over processes (float64)."""
        if self.world_size == 1:
            return list(values)
        import torch
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.tolist()

    def gather_objects(self, obj: Any) -> list[Any]:
        """Every process's ``obj``, in rank order, on every process."""
        if self.world_size == 1:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def model_state(self, model):
        """The full model state dict for saving (gathered from shards under FSDP / ZeRO-3); every process
        must call it. ``None`` with one process: ``save_pretrained`` reads the model itself."""
        if self.accelerator is None:
            return None
        return self.accelerator.get_state_dict(model)

    def wait(self) -> None:
        if self.accelerator is not None:
            self.accelerator.wait_for_everyone()


def make_runtime(model_cfg: ModelConfig, threads: int = 0) -> Runtime:
    """One process: the configured device. Several (``accelerate launch``): accelerate picks each GPU."""
    import os

    import torch

    if threads > 0:
        torch.set_num_threads(threads)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        from accelerate import Accelerator

        if threads > 0:  # where OMP_NUM_THREADS is unset, accelerate sets its own count (physical cores / processes)
            os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        # The schedule counts optimizer steps; accelerate would otherwise step it once per process.
        accelerator = Accelerator(cpu=model_cfg.device == "cpu", step_scheduler_with_optimizer=False)
        if accelerator.num_processes != world:  # e.g. no GPU visible: every process would train alone
            raise ValueError(f"WORLD_SIZE={world} but accelerate set up {accelerator.num_processes} process(es) "
                             f"on {accelerator.device} (model.device={model_cfg.device}); several CPU processes "
                             "need model.device=cpu")
        return Runtime(accelerator.device, accelerator.process_index, accelerator.num_processes, accelerator)
    device = model_cfg.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return Runtime(torch.device(device))


def load_policy(model_cfg: ModelConfig, runtime: Runtime, *, path: str | None = None, trainable: bool = True):
    """The model and processor of ``model_cfg`` (or another checkpoint ``path``) on this process's device."""
    from onethinker.models.loading import LoraSettings, load_model

    lora = None
    if model_cfg.lora and trainable:
        lora = LoraSettings(r=model_cfg.lora_r, alpha=model_cfg.lora_alpha, dropout=model_cfg.lora_dropout)
    return load_model(
        path or model_cfg.path,
        dtype=model_cfg.dtype,
        device=str(runtime.device),
        gradient_checkpointing=model_cfg.gradient_checkpointing and trainable,
        freeze_vision=model_cfg.freeze_vision,
        lora=lora,
        attn_implementation=model_cfg.attn_implementation,
        trainable=trainable,
        train_only=model_cfg.train_only if trainable else None,
    )


def media_settings(data: DataConfig) -> MediaSettings:
    return MediaSettings(
        image_min_pixels=data.image_min_pixels,
        image_max_pixels=data.image_max_pixels,
        video_fps=data.video_fps,
        video_max_frames=data.video_max_frames,
        video_min_pixels=data.video_min_pixels,
        video_max_pixels=data.video_max_pixels,
    )


def media_root(data: DataConfig) -> Path:
    return Path(data.media_root) if data.media_root else Path(data.train_file).resolve().parent


def build_optimizer(model, optim: OptimConfig):
    import torch

    from onethinker.models.loading import vision_modules

    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters (everything frozen?)")
    groups = [{"params": params}]
    if optim.vision_lr is not None:
        vision = {id(p) for module in vision_modules(model) for p in module.parameters()}
        groups = [{"params": [p for p in params if id(p) not in vision]},
                  {"params": [p for p in params if id(p) in vision], "lr": optim.vision_lr}]
        groups = [g for g in groups if g["params"]]
    # The scheduler scales every group's own peak rate by the same factor.
    if optim.name == "sgd":
        return torch.optim.SGD(groups, lr=optim.lr, momentum=optim.momentum, weight_decay=optim.weight_decay)
    return torch.optim.AdamW(groups, lr=optim.lr, betas=tuple(optim.betas), eps=optim.eps,
                             weight_decay=optim.weight_decay)


def build_scheduler(optimizer, optim: OptimConfig, total_steps: int):
    """Linear warm-up over ``warmup_ratio`` of the steps, then cosine or linear decay to 0, or constant."""
    import torch

    warmup = int(round(optim.warmup_ratio * total_steps))
    total = max(total_steps, 1)

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if optim.scheduler == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        if optim.scheduler == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def clip_gradients(model, max_norm: float) -> float:
    """Clip the global gradient norm (when ``max_norm > 0``); return the norm before clipping."""
    import torch

    params = [p for p in model.parameters() if p.grad is not None]
    if not params:
        return 0.0
    if max_norm > 0:
        return float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    return float(torch.linalg.vector_norm(torch.stack([p.grad.detach().norm() for p in params])))


class EpochSampler:
    """Endless shuffled passes over ``n`` items: each epoch is a fresh permutation seeded by (seed, epoch).

    Its whole state is ``(epoch, position)``, so a checkpoint restores the data order exactly.
    """

    def __init__(self, n: int, seed: int = 0, shuffle: bool = True) -> None:
        if n <= 0:
            raise ValueError("no training examples")
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self.epoch, self.position = 0, 0
        self._order = self._permutation(0)

    def _permutation(self, epoch: int) -> list[int]:
        import numpy as np

        if not self.shuffle:
            return list(range(self.n))
        return np.random.default_rng([self.seed, epoch]).permutation(self.n).tolist()

    def take(self, k: int) -> list[int]:
        out = []
        while len(out) < k:
            if self.position >= self.n:
                self.epoch += 1
                self.position = 0
                self._order = self._permutation(self.epoch)
            step = min(k - len(out), self.n - self.position)
            out.extend(self._order[self.position : self.position + step])
            self.position += step
        return out

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if "epoch" not in state:
            raise ValueError("the checkpoint's data order was drawn task by task (data.balance_tasks=true); "
                             "resume with data.balance_tasks=true")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._order = self._permutation(self.epoch)


class TaskBalancedSampler:
    """Endless draws spread evenly over tasks: index lists into ``keys`` (one task key per record).

    Draws go in rounds; each round visits every task present once, in an order seeded by ``(seed, round)``,
    and takes that task's next record. Each task walks its own records in a permutation seeded by ``(seed,
    task, epoch)`` and starts a fresh one when it runs out, so after any number of draws the tasks' counts
    differ by at most one, whatever their sizes. Everything follows from the seed: every data-parallel rank
    draws the same global list. The state (round, place in the round, each task's epoch and position) is
    plain data, so a checkpoint restores the order exactly.
    """

    def __init__(self, keys: list[str], seed: int = 0) -> None:
        if not keys:
            raise ValueError("no training examples")
        self.seed = seed
        self.members: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            self.members.setdefault(str(key), []).append(i)
        self.tasks = sorted(self.members)
        self.round, self.round_position = 0, 0
        self.epochs = {task: 0 for task in self.tasks}
        self.positions = {task: 0 for task in self.tasks}
        self._round_order = self._task_order(0)
        self._orders = {task: self._permutation(task, 0) for task in self.tasks}

    def _rng(self, *parts: int):
        import numpy as np

        return np.random.default_rng([self.seed % 2**32, *parts])

    def _task_order(self, round_: int) -> list[str]:
        return [self.tasks[i] for i in self._rng(0, round_).permutation(len(self.tasks))]

    def _permutation(self, task: str, epoch: int) -> list[int]:
        import zlib

        members = self.members[task]
        order = self._rng(1, zlib.crc32(task.encode()), epoch).permutation(len(members))
        return [members[i] for i in order]

    def take(self, k: int) -> list[int]:
        out = []
        for _ in range(k):
            if self.round_position >= len(self.tasks):
                self.round += 1
                self.round_position = 0
                self._round_order = self._task_order(self.round)
            task = self._round_order[self.round_position]
            self.round_position += 1
            out.append(self._next_of(task))
        return out

    def take_tasks(self, tasks: list[str]) -> list[int]:
        """The next record of each task in ``tasks`` (repeats allowed), outside the rounds: the round order and
        place are untouched, so :meth:`take` goes on where it was."""
        unknown = sorted(set(tasks) - set(self.tasks))
        if unknown:
            raise ValueError(f"no training records of task(s) {unknown}; the data has {self.tasks}")
        return [self._next_of(task) for task in tasks]

    def _next_of(self, task: str) -> int:
        if self.positions[task] >= len(self.members[task]):
            self.epochs[task] += 1
            self.positions[task] = 0
            self._orders[task] = self._permutation(task, self.epochs[task])
        index = self._orders[task][self.positions[task]]
        self.positions[task] += 1
        return index

    def state_dict(self) -> dict[str, Any]:
        return {"round": self.round, "round_position": self.round_position,
                "tasks": {task: {"epoch": self.epochs[task], "position": self.positions[task]}
                          for task in self.tasks}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "tasks" not in state:
            raise ValueError("the checkpoint's data order was drawn over all records (data.balance_tasks=false); "
                             "resume with data.balance_tasks=false")
        if sorted(state["tasks"]) != self.tasks:
            raise ValueError(f"the checkpoint's data order covers tasks {sorted(state['tasks'])}, but this run's "
                             f"data has {self.tasks}")
        self.round, self.round_position = int(state["round"]), int(state["round_position"])
        self._round_order = self._task_order(self.round)
        for task, item in state["tasks"].items():
            self.epochs[task], self.positions[task] = int(item["epoch"]), int(item["position"])
            self._orders[task] = self._permutation(task, self.epochs[task])


def seed_everything(seed: int) -> None:
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def save_final_model(runtime: Runtime, model, processor, output_dir: Path) -> Path:
    """Write ``output_dir/final`` as a plain loadable model folder (LoRA merged) from the main process.

    Every process must call it: under FSDP / ZeRO-3 the full weights are gathered from all of them.
    """
    out = output_dir / "final"
    runtime.wait()
    plain = runtime.unwrap(model)
    if hasattr(plain, "merge_and_unload"):  # LoRA: save a plain model (replicated adapters: no gather)
        if runtime.is_main:
            plain.merge_and_unload().save_pretrained(out)
            processor.save_pretrained(out)
    else:
        state = runtime.model_state(model)
        if runtime.is_main:
            plain.save_pretrained(out, state_dict=state)
            processor.save_pretrained(out)
    runtime.wait()
    return out
