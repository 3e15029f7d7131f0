"""Models: load any HF image-text-to-text checkpoint, build a tiny offline Qwen3-VL, encode records, generate.

- :func:`load_model` (``onethinker.models.loading``): ``(model, processor)`` with dtype, device, gradient
  checkpointing, a frozen vision tower and optional LoRA.
- :func:`onethinker.models.tiny.build_tiny`: a random-init tiny Qwen3-VL with a locally trained tokenizer.
- :mod:`onethinker.models.encode`: corpus records -> processor inputs (images, videos, ``mm_token_type_ids``).
- :func:`onethinker.models.generate.generate_responses`: batched generation over records (our decoding loop
  for Qwen3-VL, :func:`~onethinker.models.generate.decode_ids`; Hugging Face ``generate`` for other models).

Heavy libraries are imported inside functions.
"""

from __future__ import annotations

from onethinker.models.loading import LoraSettings, load_model, quiet_transformers, suppressed_token_ids

__all__ = ["LoraSettings", "load_model", "quiet_transformers", "suppressed_token_ids"]
