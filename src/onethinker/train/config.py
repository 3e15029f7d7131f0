"""Training configs: dataclasses, read from YAML, overridden with ``key=value``, validated with clear errors.

A config file is a YAML mapping of sections (``model``, ``data``, ``optim``, ``trainer`` and, for RL,
``rollout``, ``algorithm`` and ``judge``, the reward-model judge of open-ended answers:
:class:`onethinker.rewards.judge.JudgeConfig`); each section's fields are documented on its dataclass below. Overrides use
dotted names: ``onethinker train rl recipe.yaml rollout.n=4 optim.lr=1e-6 trainer.resume=true``. Values are
parsed as YAML (``1e-6``, ``true``, ``[0.9, 0.95]``, ``null``).

Every error names where the bad value came from: ``recipe.yaml:12: rollout.n: expected an integer, got
'eight'`` or ``override 'rollout.nn=4': unknown key 'rollout.nn' (did you mean 'rollout.n'?)``.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from onethinker.models.encode import MediaSettings
from onethinker.rewards.judge import JudgeConfig


class ConfigError(ValueError):
    """A config value that is missing, unknown or of the wrong type; the message says where it came from."""


# --------------------------------------------------------------------------------------------- sections
@dataclass
class ModelConfig:
    """The policy checkpoint.

    Attributes:
        path: folder of a Hugging Face image-text-to-text checkpoint (or our tiny model).
        dtype: ``auto`` (the checkpoint's), ``float32``, ``bfloat16`` or ``float16``.
        device: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda``, ``cuda:N``, ``mps``. Under
            ``accelerate launch`` each process uses its own GPU.
        gradient_checkpointing: recompute activations in the backward pass (memory for compute).
        freeze_vision: keep the vision encoder and projector frozen (the published SFT recipe).
        train_only: regular expressions over parameter names (e.g. ``["language_model\\.layers\\.0\\."]``);
            only the parameters one of them matches train, the rest stay as loaded. ``null`` trains all.
        lora: train LoRA adapters (peft) on the language model instead of all weights.
        lora_r, lora_alpha, lora_dropout: LoRA rank, scale numerator and dropout.
        attn_implementation: ``sdpa``, ``eager``, ``flash_attention_2``; ``null`` lets transformers pick.
    """

    path: str = ""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: str = "auto"
    gradient_checkpointing: bool = False
    freeze_vision: bool = False
    train_only: list[str] | None = None
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    attn_implementation: str | None = None


@dataclass
class DataConfig:
    """Training (and evaluation) data.

    Attributes:
        train_file: corpus file (JSON list, JSONL or parquet). RL reads corpus records; SFT reads corpus
            records with an ``sft_response`` or ShareGPT lines (``messages`` + ``images``/``videos``).
        eval_file: SFT only: held-out file of the same kind, for the evaluation loss (``eval/loss``).
            RL refuses it: score a held-out file with ``onethinker eval run`` on the trained model.
        media_root: folder media paths are relative to; ``null`` means the train file's folder.
        tasks: train only on these task keys (e.g. ``["multiple choice", "numerical"]``); ``null`` = all.
        max_samples: use only the first N records (quick experiments); ``null`` = all.
        balance_tasks: RL only: draw each step's prompts evenly across the task keys present (rounds that
            visit every task once, in a seeded order; each task's records in their own seeded permutation
            per pass), so a task with few records is seen as often as one with many. ``false`` draws
            seeded passes over all records, so tasks appear in proportion to their record counts.
        image_min_pixels, image_max_pixels: pixel budget per image.
        video_fps, video_max_frames: frame sampling of videos.
        video_min_pixels, video_max_pixels: pixel budget per video frame.
        max_length: SFT only: drop examples whose prompt + response exceed this many tokens.
        media_cache: decoded images/videos kept in memory (0 disables the cache).
    """

    train_file: str = ""
    eval_file: str | None = None
    media_root: str | None = None
    tasks: list[str] | None = None
    max_samples: int | None = None
    balance_tasks: bool = True
    # Media budgets default to the encoder's own (one source of truth for the published settings).
    image_min_pixels: int = MediaSettings.image_min_pixels
    image_max_pixels: int = MediaSettings.image_max_pixels
    video_fps: float = MediaSettings.video_fps
    video_max_frames: int = MediaSettings.video_max_frames
    video_min_pixels: int = MediaSettings.video_min_pixels
    video_max_pixels: int = MediaSettings.video_max_pixels
    max_length: int = 16384
    media_cache: int = 512


@dataclass
class OptimConfig:
    """The optimizer (AdamW, as published, or plain SGD) and its learning-rate schedule.

    Attributes:
        name: ``adamw`` (published) or ``sgd``. AdamW divides each weight's step by the running size of its
            own gradient, so every weight moves about ``lr`` per step whether its gradient carries signal or
            noise; SGD moves each weight in proportion to its gradient. On the quickstart's tiny model, where
            a few dozen RL steps start from an SFT checkpoint whose greedy answers any small on-policy move
            can flip, SGD lost less to update noise (docs/training.md).
        lr: peak learning rate.
        weight_decay: decoupled weight decay (AdamW); SGD adds it to the gradient (L2).
        betas: Adam betas.
        eps: Adam epsilon.
        momentum: SGD momentum (``0`` = plain SGD); refused with AdamW, whose momentum is ``betas``.
        scheduler: ``cosine``, ``linear`` (both decay to 0 at the last step) or ``constant``.
        warmup_ratio: fraction of the steps spent warming up linearly from 0.
        max_grad_norm: clip the global gradient norm to this (``0`` disables clipping).
        vision_lr: peak learning rate of the vision encoder and its projector/merger; ``null`` = ``lr``.
            A randomly initialised tower needs a far smaller rate than the language model it feeds (Adam
            moves every weight by about ``lr`` per step, and a tower whose gradients are small and noisy
            then drifts into a near-constant output the language model learns to ignore).
    """

    name: Literal["adamw", "sgd"] = "adamw"
    lr: float = 1e-5
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    momentum: float = 0.0
    scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    warmup_ratio: float = 0.0
    max_grad_norm: float = 1.0
    vision_lr: float | None = None


@dataclass
class TrainerConfig:
    """The run: where it writes, how long it runs, how often it logs, evaluates and saves.

    Attributes:
        output_dir: run folder: ``config.yaml``, ``metrics.jsonl``, ``tb/``, ``checkpoints/``, ``final/``.
        max_steps: optimizer steps (SFT) or RL steps; SFT: ``0`` means ``epochs`` over the data.
        epochs: SFT passes over the data when ``max_steps`` is 0.
        batch_size: SFT examples per optimizer step (per process).
        micro_batch_size: examples per forward/backward (gradient accumulation up to the batch).
        log_every: write metrics every N steps.
        eval_every: evaluate every N steps (SFT: eval loss on ``data.eval_file``); ``0`` = only at the end.
        eval_batches: SFT: at most this many evaluation batches (``0`` = the whole eval file).
        save_every: checkpoint every N steps (``0`` = only the final model).
        keep_checkpoints: keep the newest N checkpoints (``0`` keeps all).
        seed: seeds data order, sampling and initialisation.
        resume: continue from the newest checkpoint in ``output_dir`` (exactly: model, optimizer,
            scheduler, EMA statistics, data position and RNG states).
        tensorboard: also write TensorBoard event files to ``output_dir/tb``.
        threads: torch CPU threads (``0`` leaves torch's default).
    """

    output_dir: str = "runs/onethinker"
    max_steps: int = 0
    epochs: float = 1.0
    batch_size: int = 8
    micro_batch_size: int = 8
    log_every: int = 1
    eval_every: int = 0
    eval_batches: int = 0
    save_every: int = 0
    keep_checkpoints: int = 2
    seed: int = 0
    resume: bool = False
    tensorboard: bool = True
    threads: int = 0


@dataclass
class RolloutConfig:
    """Sampling of responses in RL.

    Attributes:
        prompts_per_step: prompts per RL step after filtering, over all processes (published: 128).
        n: responses per prompt (the group size; published: 8).
        temperature: sampling temperature (published: 1.0).
        top_p: nucleus sampling threshold (1.0 = off).
        max_new_tokens: response budget in tokens (published: 4096).
        generation_batch_size: prompts per ``generate`` call (``0`` = all prompts of a try at once). Each call
            samples from a generator seeded by ``(trainer.seed, uid of its first prompt)``; with ``1`` a
            prompt's rollouts do not depend on batching or on the number of processes.
        online_filtering: drop groups whose mean ``filter_key`` is <= ``filter_low`` or >= ``filter_high``
            and sample more prompts to refill the batch.
        filter_key: reward part to filter on: ``accuracy`` (published), ``overall``, ``format``.
        filter_low, filter_high: the kept open interval of group means (published: 0.01, 0.99). Both must
            lie in the range of ``filter_key``'s reward: [0, 1] for ``accuracy`` and ``format``, [0, 1.5]
            for ``overall`` (``onethinker.rewards.core.reward_range``); the config is rejected otherwise.
        max_tries: generation rounds per step to fill the batch (published: 20); the step trains on what
            it has when they run out.
        refill: where a round's fresh prompts come from. ``stream`` (published): the next prompts of the
            sampler, whatever their task. ``task``: one prompt of the same task for each group the last
            round dropped, so that filtering does not tilt the step towards the tasks whose groups are seldom
            all right or all wrong (needs ``data.balance_tasks=true``).
    """

    prompts_per_step: int = 128
    n: int = 8
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 4096
    generation_batch_size: int = 0
    online_filtering: bool = True
    filter_key: Literal["accuracy", "overall", "format"] = "accuracy"
    filter_low: float = 0.01
    filter_high: float = 0.99
    max_tries: int = 20
    refill: Literal["stream", "task"] = "stream"


@dataclass
class AlgorithmConfig:
    """Advantages, the clipped policy loss and the KL loss.

    Attributes:
        advantage: ``ema_grpo`` (group-centred, divided by the task's EMA reward std), ``grpo`` (divided
            by the group std) or ``dr_grpo`` (not divided).
        ema_decay: EMA decay of the per-task reward moments (0.99).
        ema_min_std: floor of the EMA std (1e-3).
        guard: EMA-GRPO guard rail: a group with any ``|A|`` above this falls back to its own std.
        clip_low, clip_high: PPO ratio clip range ``[1 - clip_low, 1 + clip_high]``.
        dual_clip: cap on the loss of negative-advantage tokens (``null`` disables).
        loss_agg_mode: ``token-mean``, ``seq-mean-token-mean`` or ``seq-mean-token-sum``.
        kl_coef: weight of the KL loss to the reference (initial) policy (published: 1e-2); ``0`` skips
            the reference model entirely.
        kl_kind: KL estimator: ``low_var_kl`` (published), ``kl``, ``abs``, ``mse``.
        format_weight: weight of the format reward in the overall reward (published: 0.1).
        ppo_epochs: passes over each step's rollouts.
        mini_batch_prompts: prompts (times ``n`` rollouts) per optimizer update, over all processes
            (published: 32, so a step of 128 prompts makes 4 updates).
        micro_batch_size: rollouts per forward/backward on one process (gradient accumulation).
        shuffle_advantages: the no-information control (not a training recipe): each step's advantages are
            permuted at random among the rollouts of each group before the update
            (:func:`onethinker.rl.shuffle_within_groups`), so the run makes updates of the same size and noise
            without learning from the reward. Compare a run against its shuffled twin to tell learning from
            drift.
    """

    advantage: Literal["ema_grpo", "grpo", "dr_grpo"] = "ema_grpo"
    ema_decay: float = 0.99
    ema_min_std: float = 1e-3
    guard: float = 5.0
    clip_low: float = 0.2
    clip_high: float = 0.28
    dual_clip: float | None = 3.0
    loss_agg_mode: Literal["token-mean", "seq-mean-token-mean", "seq-mean-token-sum"] = "token-mean"
    kl_coef: float = 1e-2
    kl_kind: Literal["low_var_kl", "kl", "abs", "mse"] = "low_var_kl"
    format_weight: float = 0.1
    ppo_epochs: int = 1
    mini_batch_prompts: int = 32
    micro_batch_size: int = 8
    shuffle_advantages: bool = False


@dataclass
class SFTConfig:
    """``onethinker train sft``: supervised cold start on chain-of-thought responses."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-5, warmup_ratio=0.02))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(output_dir="runs/sft"))

    def check(self) -> list[tuple[str, str]]:
        problems = _common_checks(self)
        if self.trainer.max_steps <= 0 and self.trainer.epochs <= 0:
            problems.append(("trainer.max_steps", "set max_steps > 0 or epochs > 0"))
        return problems


@dataclass
class RLConfig:
    """``onethinker train rl``: multi-task RL with verifiable rewards and EMA-GRPO."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=lambda: DataConfig(video_max_pixels=64 * 32 * 32))
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=2e-6, weight_decay=1e-2))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(output_dir="runs/rl", max_steps=100))
    # Reward-model judge for open-ended answers and captions (off until judge.url is set); fields documented
    # on JudgeConfig: url, model, endpoint, batch_size, concurrency, timeout_s, retries, normalization, ...
    judge: JudgeConfig = field(default_factory=JudgeConfig)

    def check(self) -> list[tuple[str, str]]:
        problems = _common_checks(self)
        problems += [(f"judge.{name}", what) for name, what in self.judge.problems()]
        r, a = self.rollout, self.algorithm
        if self.trainer.max_steps <= 0:
            problems.append(("trainer.max_steps", "RL needs max_steps > 0"))
        if self.data.eval_file:
            problems.append(("data.eval_file", "is SFT only; RL does not read it (score a held-out file with "
                                               "`onethinker eval run --model OUTPUT_DIR/final --bench FILE`)"))
        if r.n < 2 and a.advantage != "dr_grpo":
            problems.append(("rollout.n", f"group-relative advantages need n >= 2, got {r.n}"))
        problems += _filter_threshold_checks(r, a.format_weight)
        if r.refill == "task" and not self.data.balance_tasks:
            problems.append(("rollout.refill", ("`task` refills each dropped group with a prompt of its task, "
                                                "which needs data.balance_tasks=true")))
        for name in ("prompts_per_step", "n", "max_new_tokens", "max_tries"):
            if getattr(r, name) < 1:
                problems.append((f"rollout.{name}", f"must be >= 1, got {getattr(r, name)}"))
        for name in ("ppo_epochs", "mini_batch_prompts", "micro_batch_size"):
            if getattr(a, name) < 1:
                problems.append((f"algorithm.{name}", f"must be >= 1, got {getattr(a, name)}"))
        if not 0 <= a.clip_low < 1:
            problems.append(("algorithm.clip_low", f"must lie in [0, 1), got {a.clip_low}"))
        if a.dual_clip is not None and a.dual_clip <= 1:
            problems.append(("algorithm.dual_clip", f"must be > 1 or null, got {a.dual_clip}"))
        if not 0 <= a.format_weight <= 1:
            problems.append(("algorithm.format_weight", f"must lie in [0, 1], got {a.format_weight}"))
        if a.kl_coef < 0:
            problems.append(("algorithm.kl_coef", f"must be >= 0, got {a.kl_coef}"))
        return problems


def _filter_threshold_checks(r: RolloutConfig, format_weight: float) -> list[tuple[str, str]]:
    """Online-filter thresholds must lie in the range of the reward part they filter (a 0.99 bound is
    meaningless for the overall reward, which reaches 1.5): ``lowest <= filter_low < filter_high <= highest``."""
    from onethinker.rewards.core import reward_range

    lowest, highest = reward_range(r.filter_key, min(max(format_weight, 0.0), 1.0))
    where = f"the {r.filter_key} reward (rollout.filter_key) lies in [{lowest:g}, {highest:g}]"
    problems = []
    for name in ("filter_low", "filter_high"):
        value = getattr(r, name)
        if not lowest <= value <= highest:
            problems.append((f"rollout.{name}", f"{value:g} is outside the range it filters: {where}"))
    if not problems and not r.filter_low < r.filter_high:
        problems.append(("rollout.filter_low", f"need filter_low < filter_high, got {r.filter_low:g} >= "
                                               f"{r.filter_high:g}"))
    return problems


def _common_checks(cfg) -> list[tuple[str, str]]:
    problems = []
    if not cfg.model.path:
        problems.append(("model.path", "is required (a checkpoint folder)"))
    if not cfg.data.train_file:
        problems.append(("data.train_file", "is required"))
    if cfg.model.train_only is not None:
        if cfg.model.lora:
            problems.append(("model.train_only", "cannot be set with model.lora (both choose the weights that train)"))
        for pattern in cfg.model.train_only:
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.append(("model.train_only", f"{pattern!r} is not a regular expression ({exc})"))
    if cfg.optim.lr <= 0:
        problems.append(("optim.lr", f"must be > 0, got {cfg.optim.lr}"))
    if not 0 <= cfg.optim.warmup_ratio < 1:
        problems.append(("optim.warmup_ratio", f"must lie in [0, 1), got {cfg.optim.warmup_ratio}"))
    if len(cfg.optim.betas) != 2:
        problems.append(("optim.betas", f"needs two numbers, got {cfg.optim.betas}"))
    if not 0 <= cfg.optim.momentum < 1:
        problems.append(("optim.momentum", f"must lie in [0, 1), got {cfg.optim.momentum}"))
    elif cfg.optim.momentum and cfg.optim.name != "sgd":
        problems.append(("optim.momentum", (f"only SGD uses it (optim.name is {cfg.optim.name!r}); "
                                            "AdamW's momentum is optim.betas")))
    t = cfg.trainer
    for name in ("batch_size", "micro_batch_size", "log_every"):
        if getattr(t, name) < 1:
            problems.append((f"trainer.{name}", f"must be >= 1, got {getattr(t, name)}"))
    for name in ("save_every", "eval_every", "eval_batches", "keep_checkpoints", "max_steps", "threads"):
        if getattr(t, name) < 0:
            problems.append((f"trainer.{name}", f"must be >= 0, got {getattr(t, name)}"))
    d = cfg.data
    for name in ("image_min_pixels", "image_max_pixels", "video_max_frames", "video_min_pixels",
                 "video_max_pixels", "max_length"):
        if getattr(d, name) < 1:
            problems.append((f"data.{name}", f"must be >= 1, got {getattr(d, name)}"))
    if d.video_fps <= 0:
        problems.append(("data.video_fps", f"must be > 0, got {d.video_fps}"))
    if d.tasks is not None:
        from onethinker.tasks import UnknownTaskError, all_tasks, task_key

        for name in d.tasks:
            try:
                task_key(name)
            except UnknownTaskError:
                known = ", ".join(all_tasks())
                problems.append(("data.tasks", f"unknown task {name!r} (known: {known})"))
    return problems


# --------------------------------------------------------------------------------------------- loading
def load_config(cls: type, path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()):
    """Read ``path`` (YAML) into ``cls`` (:class:`SFTConfig` or :class:`RLConfig`), apply ``key=value``
    overrides, type-check every field and run the config's cross-field checks.

    Raises:
        ConfigError: with the file and line (or the override) and the dotted field name.
    """
    import yaml

    values: dict[str, Any] = {}
    lines: dict[str, int] = {}
    source = "<defaults>"
    if path is not None:
        path = Path(path)
        source = str(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from None
        try:
            node = yaml.compose(text)
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            raise ConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}:1: the config must be a mapping of sections, got {type(data).__name__}")
        _line_numbers(node, "", lines)
        _flatten(data, "", values)
    origins = {k: f"{source}:{lines.get(k, 1)}" for k in values}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        try:
            parsed = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            parsed = raw
        # A section given as a whole replaces its fields; a field given alone replaces just that field.
        values = {k: v for k, v in values.items() if not k.startswith(key + ".")}
        if isinstance(parsed, dict):
            _flatten(parsed, key + ".", values)
            for k in values:
                if k.startswith(key + "."):
                    origins[k] = f"override {item!r}"
        else:
            values[key] = parsed
            origins[key] = f"override {item!r}"
    cfg = _build(cls, values, origins)
    problems = cfg.check()
    if problems:
        msgs = [f"{origins.get(k, source)}: {k}: {what}" for k, what in problems]
        raise ConfigError("\n".join(msgs))
    return cfg


def _line_numbers(node, prefix: str, out: dict[str, int]) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = f"{prefix}{key_node.value}"
            out[key] = key_node.start_mark.line + 1
            if isinstance(value_node, yaml.MappingNode):
                _line_numbers(value_node, key + ".", out)


def _flatten(data: dict, prefix: str, out: dict[str, Any]) -> None:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and _is_section(name):
            _flatten(value, name + ".", out)
        else:
            out[name] = value


_SECTION_NAMES = ("model", "data", "optim", "trainer", "rollout", "algorithm", "judge")


def _is_section(name: str) -> bool:
    return name in _SECTION_NAMES


def _build(cls: type, values: dict[str, Any], origins: dict[str, str]):
    hints = typing.get_type_hints(cls)
    known: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            for sub in dataclasses.fields(hints[f.name]):
                known[f"{f.name}.{sub.name}"] = None
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            section = key.split(".", 1)[0]
            if key in _SECTION_NAMES or section not in {f.name for f in dataclasses.fields(cls)}:
                sections = ", ".join(f.name for f in dataclasses.fields(cls))
                hint = hint or f" (sections: {sections})"
            raise ConfigError(f"{origins.get(key, '<config>')}: unknown key {key!r}{hint}")
    cfg = cls()
    for f in dataclasses.fields(cls):
        section = getattr(cfg, f.name)
        sub_hints = typing.get_type_hints(type(section))
        for sub in dataclasses.fields(section):
            key = f"{f.name}.{sub.name}"
            if key in values:
                setattr(section, sub.name, _coerce(values[key], sub_hints[sub.name], key, origins.get(key, "")))
    return cfg


def _coerce(value: Any, hint: Any, key: str, origin: str) -> Any:
    def fail(expected: str) -> ConfigError:
        return ConfigError(f"{origin}: {key}: expected {expected}, got {value!r}")

    origin_type = get_origin(hint)
    if origin_type in (typing.Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], key, origin)
    if value is None:
        raise fail(_describe(hint))
    if origin_type is Literal:
        choices = get_args(hint)
        if value not in choices:
            raise ConfigError(f"{origin}: {key}: must be one of {', '.join(map(str, choices))}, got {value!r}")
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise fail("true or false")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise fail("an integer")
        return value
    if hint is float:
        if isinstance(value, bool):
            raise fail("a number")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-5" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise fail("a number")
    if hint is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise fail("a string")
    if origin_type is list:
        (item,) = get_args(hint)
        if not isinstance(value, list):
            raise fail(f"a list of {_describe(item)}")
        return [_coerce(v, item, f"{key}[{i}]", origin) for i, v in enumerate(value)]
    raise fail(_describe(hint))  # pragma: no cover - every field type is handled above


def _describe(hint: Any) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if hint in names:
        return names[hint]
    if get_origin(hint) is list:
        return f"a list of {_describe(get_args(hint)[0])}s"
    return str(hint)


def to_dict(cfg) -> dict[str, Any]:
    """The config as nested plain data (written as ``output_dir/config.yaml``)."""
    return dataclasses.asdict(cfg)


def dump_yaml(cfg, path: str | Path) -> None:
    import yaml

    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
