"""Verifiable rewards for every task: ``score_batch(items) -> list[dict]``.

Open-ended answers and captions can be judged by a reward model over HTTP
(:mod:`onethinker.rewards.judge`, ``score_batch(items, judge=JudgeConfig(url=...))``). See
:mod:`onethinker.rewards.core` for the formula and docs/rewards.md for the differences from the
published OneThinker reward function.
"""

from __future__ import annotations

from onethinker.rewards.core import DEFAULT_FORMAT_WEIGHT, ScoredBatch, clear_caches, score_batch, score_item
from onethinker.rewards.judge import JudgeConfig, JudgeStats, judge_from_env

__all__ = ["DEFAULT_FORMAT_WEIGHT", "JudgeConfig", "JudgeStats", "ScoredBatch", "clear_caches", "judge_from_env",
           "score_batch", "score_item"]
