"""`onethinker quickstart`: the whole method in miniature (owned by the trainer work; not yet built)."""

from __future__ import annotations


def quickstart_command() -> None:
    """Run synth data -> tiny model -> SFT -> EMA-GRPO RL -> evaluation -> report."""
    raise NotImplementedError("quickstart is being built")
