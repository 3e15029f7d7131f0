"""Verifiable rewards for every task: ``score_batch(items) -> list[dict]``.

See :mod:`onethinker.rewards.core` for the formula and docs/rewards.md for the differences from the
published OneThinker reward function.
"""

from __future__ import annotations

from onethinker.rewards.core import DEFAULT_FORMAT_WEIGHT, clear_caches, score_batch, score_item

__all__ = ["DEFAULT_FORMAT_WEIGHT", "clear_caches", "score_batch", "score_item"]
