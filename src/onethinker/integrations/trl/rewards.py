"""OneThinker's verifiable rewards as TRL reward functions: plain ``(prompts, completions, **columns)`` callables.

TRL's ``GRPOTrainer`` passes every dataset column to reward functions as keyword lists. Our rewards need
the ground truth (column ``answer``, ``solution`` or ``ground_truth``), ``problem_type`` and ``data_type``.
Use :func:`overall_reward` alone, or the three parts separately so TRL logs each one::

    from onethinker.integrations.trl import accuracy_reward, format_reward, structure_reward
    GRPOTrainer(..., reward_funcs=[accuracy_reward, format_reward, structure_reward],
                args=GRPOConfig(reward_weights=[0.9, 0.1, 1.0], ...))

With those weights the summed reward equals OneThinker's ``overall`` (format weight 0.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from onethinker.rewards import score_batch

_GROUND_TRUTH_COLUMNS = ("answer", "solution", "ground_truth")


def _completion_text(completion: Any) -> Any:
    # Conversational datasets give each completion as a list of messages; score the last assistant text.
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        content = completion[-1].get("content")
        if isinstance(content, list):  # content parts
            return "".join(part.get("text", "") for part in content if isinstance(part, dict))
        return content
    return completion


def _score(completions: Sequence[Any], columns: dict[str, Any]) -> list[dict[str, Any]]:
    truth_column = next((name for name in _GROUND_TRUTH_COLUMNS if name in columns), None)
    if truth_column is None:
        raise KeyError(f"OneThinker rewards need a ground-truth column, one of {', '.join(_GROUND_TRUTH_COLUMNS)}; "
                       f"the dataset has {', '.join(sorted(columns)) or 'none'}")
    for needed in ("problem_type", "data_type"):
        if needed not in columns:
            raise KeyError(f"OneThinker rewards need a {needed!r} column in the dataset")
    items = [
        {"response": _completion_text(c), "ground_truth": g, "problem_type": p, "data_type": d}
        for c, g, p, d in zip(completions, columns[truth_column], columns["problem_type"], columns["data_type"],
                              strict=True)
    ]
    return score_batch(items)


def overall_reward(prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float]:
    """OneThinker's overall reward: 0.9 accuracy + 0.1 format + structure."""
    return [r["overall"] for r in _score(completions, columns)]


def accuracy_reward(prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float]:
    """The task's accuracy reward in [0, 1]."""
    return [r["accuracy"] for r in _score(completions, columns)]


def format_reward(prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float]:
    """1 when the response is ``<think>...</think><answer>...</answer>``, else 0."""
    return [r["format"] for r in _score(completions, columns)]


def structure_reward(prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float]:
    """The answer-structure bonus in [0, 0.5] (0 when the format is wrong)."""
    return [r["structure"] for r in _score(completions, columns)]
