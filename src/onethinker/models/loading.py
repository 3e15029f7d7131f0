"""Load any Hugging Face image-text-to-text checkpoint (Qwen3-VL, Qwen2.5-VL, our tiny model) for training.

Torch and transformers are imported inside the functions so ``onethinker --help`` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_DTYPES = ("auto", "float32", "bfloat16", "float16")
# Submodule names under which HF vision-language models keep their vision encoder (+ projector/merger).
_VISION_MODULES = ("visual", "vision_tower", "vision_model", "multi_modal_projector")


@dataclass
class LoraSettings:
    """LoRA adapters through peft on the language model's projections (the vision tower is left alone).

    Attributes:
        r: adapter rank.
        alpha: scaling numerator (``alpha / r``).
        dropout: dropout on the adapter input.
        target_modules: projection names to adapt inside the language model.
    """

    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )


def quiet_transformers() -> None:
    """No per-load progress bars or advisory warnings from transformers in our output (one place for all
    commands: train, eval, predict, model)."""
    import warnings

    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")


def resolve_dtype(dtype: str | Any):
    """``"auto" | "float32" | "bfloat16" | "float16"`` (or a torch dtype) -> what ``from_pretrained`` takes."""
    import torch

    if not isinstance(dtype, str):
        return dtype
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(_DTYPES)}, got {dtype!r}")
    return "auto" if dtype == "auto" else getattr(torch, dtype)


def vision_modules(model) -> list:
    """The vision encoder/projector submodules of a HF vision-language model (empty if it has none)."""
    found = []
    for name, module in model.named_modules():
        if name.rsplit(".", 1)[-1] in _VISION_MODULES and not any(name.startswith(f[0] + ".") for f in found):
            found.append((name, module))
    return [m for _, m in found]


def load_model(
    path: str | Path,
    *,
    dtype: str = "auto",
    device: str = "cpu",
    gradient_checkpointing: bool = False,
    freeze_vision: bool = False,
    lora: LoraSettings | dict | None = None,
    attn_implementation: str | None = None,
    trainable: bool = True,
    train_only: list[str] | None = None,
):
    """Load a model and its processor from a local folder (or a hub id, where a hub is reachable).

    Args:
        path: checkpoint folder with ``config.json``, weights and processor files.
        dtype: ``"auto"`` keeps the checkpoint's dtype; or ``"float32"``, ``"bfloat16"``, ``"float16"``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, or ``"auto"`` (CUDA when available).
        gradient_checkpointing: trade compute for activation memory in training.
        freeze_vision: no gradients into the vision encoder and its projector (the published SFT recipe).
        lora: wrap the language model's projections in LoRA adapters (needs ``peft``).
        attn_implementation: e.g. ``"sdpa"``, ``"eager"``, ``"flash_attention_2"``; ``None`` lets HF pick.
        trainable: ``False`` puts the model in eval mode with every parameter frozen (inference, reference).
        train_only: regular expressions over parameter names (``re.search``); only the parameters one of them
            matches keep their gradients (with ``freeze_vision``, vision parameters stay frozen even where a
            pattern matches). ``None`` trains every parameter.

    Returns:
        ``(model, processor)``.

    Raises:
        FileNotFoundError: a local-looking path that does not exist.
        ValueError: a bad dtype, a checkpoint that is not an image-text-to-text model, ``train_only`` with
            ``lora``, or a ``train_only`` pattern that matches no parameter.
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor

    if train_only is not None and lora is not None:
        raise ValueError("train_only and lora both choose the trained weights: set one of them")
    path = Path(path) if not isinstance(path, Path) else path
    if (str(path).startswith((".", "/", "~")) or path.exists()) and not path.expanduser().exists():
        raise FileNotFoundError(f"model folder {path} does not exist")
    path = path.expanduser()
    kwargs: dict[str, Any] = {"dtype": resolve_dtype(dtype)}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    try:
        model = AutoModelForImageTextToText.from_pretrained(str(path), **kwargs)
    except ValueError as exc:
        raise ValueError(f"{path}: not an image-text-to-text checkpoint ({exc})") from exc
    processor = AutoProcessor.from_pretrained(str(path))
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    if freeze_vision:
        for module in vision_modules(model):
            module.requires_grad_(False)
    if train_only is not None:
        restrict_training(model, train_only)
    if lora is not None:
        model = apply_lora(model, lora)
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
        if lora is not None:
            model.enable_input_require_grads()
    if not trainable:
        model.eval()
        model.requires_grad_(False)
    return model, processor


def restrict_training(model, patterns: list[str]) -> None:
    """Freeze every parameter whose name no regular expression in ``patterns`` matches (``re.search``).

    Raises:
        ValueError: a pattern that is not a regular expression, or one that matches no parameter (a typo
            would otherwise freeze the whole model silently).
    """
    import re

    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise ValueError(f"model.train_only: {pattern!r} is not a regular expression ({exc})") from exc
    names = [name for name, _ in model.named_parameters()]
    for pattern, regex in zip(patterns, compiled, strict=True):
        if not any(regex.search(name) for name in names):
            raise ValueError(f"model.train_only: {pattern!r} matches no parameter of the model "
                             f"(names look like {names[0]!r})")
    for name, param in model.named_parameters():
        if not any(regex.search(name) for regex in compiled):
            param.requires_grad_(False)


def apply_lora(model, lora: LoraSettings | dict):
    """Wrap the language model's linear projections in peft LoRA adapters; other weights are frozen."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("LoRA needs peft: pip install 'onethinker[lora]'") from exc
    if isinstance(lora, dict):
        lora = LoraSettings(**lora)
    names = "|".join(lora.target_modules)
    # Only the language model: vision blocks reuse names such as q_proj in some architectures.
    pattern = rf"^(?!.*(?:{'|'.join(_VISION_MODULES)})).*\.(?:{names})$"
    config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=pattern)
    return get_peft_model(model, config)


def suppressed_token_ids(processor, model=None) -> list[int]:
    """Tokens a policy must never generate: vision placeholders, chat start, and padding (unless it is EOS).

    A trained model never emits them, a random one does, and a rollout holding a vision placeholder breaks
    the re-forward (the model expects pixels for it).
    """
    tokenizer = getattr(processor, "tokenizer", processor)
    names = ["<|im_start|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>",
             "<|video_pad|>"]
    for attr in ("image_token", "video_token", "vision_start_token", "vision_end_token"):
        if isinstance(getattr(processor, attr, None), str):
            names.append(getattr(processor, attr))
    vocab = tokenizer.get_vocab()
    ids = {vocab[n] for n in names if n in vocab}
    eos = _eos_ids(tokenizer, model)
    if tokenizer.pad_token_id is not None and tokenizer.pad_token_id not in eos:
        ids.add(tokenizer.pad_token_id)
    return sorted(ids - eos)


def _eos_ids(tokenizer, model=None) -> set[int]:
    ids: set[int] = set()
    if model is not None and getattr(model, "generation_config", None) is not None:
        eos = model.generation_config.eos_token_id
        ids.update(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids
