"""Where our reward deliberately differs from the published OneThinker reward, as named classes.

``difference_class(item)`` says which documented difference (docs/rewards.md) applies to a reward input, or
``None`` when none does, in which case our score equals the published one (up to float rounding). The
benchmark uses it to explain every disagreement with the published scores; a user can use it to compare
runs trained with the published function.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from onethinker.tasks.answer import normalize_tags, response_answer
from onethinker.tasks.registry import UnknownTaskError, get_task, task_key

__all__ = ["DIFFERENCE_CLASSES", "difference_class", "published_answer_text"]

DIFFERENCE_CLASSES: dict[str, str] = {
    "non_string_field": "a null or non-string field scores zero with a reason",
    "unknown_problem_type": "an unknown problem type gets 0 structure (published: 0.5)",
    "multiple_answer_blocks": "more than one <answer> block fails the format check",
    "empty_answer": "an empty answer scores 0 accuracy and 0 structure (published: judged the whole response)",
    "tag_whitespace": "answer text keeps its whitespace around '<', '>' and '/' (published: removed it)",
    "math_equivalence": "math is judged correctly on bare LaTeX and identically in every thread",
    "not_a_number": "strings, booleans, NaN and infinities in answer JSON are not numbers",
    "schema_invalid": "a structured answer that breaks its schema (or has no boxes) earns no accuracy and no schema "
    "structure (published: partial credit from its valid parts)",
    "mra_float64": "regression MRA in float64 (published: float32 threshold boundaries)",
    "option_letter": "a multiple-choice answer must be the letter, not algebra or units around it",
}

_PUBLISHED_TAG_SPACE = re.compile(r"\s*(<|>|/)\s*")
_PUBLISHED_ANSWER = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.DOTALL)


def published_answer_text(response: str) -> str:
    """The text the published reward scored: whitespace around < > / removed everywhere, first answer block
    (or the whole response when the block is missing or empty)."""
    text = _PUBLISHED_TAG_SPACE.sub(r"\1", response)
    match = _PUBLISHED_ANSWER.search(text)
    return (match.group(1).strip() if match else "") or text.strip()


def _has_non_number(value: Any, in_list: bool = False) -> bool:
    if isinstance(value, bool) or (in_list and isinstance(value, str)):
        return True
    if isinstance(value, float) and not math.isfinite(value):
        return True
    if isinstance(value, list):
        return any(_has_non_number(v, True) for v in value)
    if isinstance(value, dict):
        return any(_has_non_number(v) for v in value.values())
    return False


def difference_class(item: Mapping) -> str | None:
    """The documented difference that applies to this reward input, or ``None``."""
    if not isinstance(item, Mapping):
        return "non_string_field"
    fields = [item.get(name) for name in ("response", "ground_truth", "problem_type")]
    data_type = item.get("data_type")
    if not all(isinstance(f, str) for f in fields) or not (data_type is None or isinstance(data_type, str)):
        return "non_string_field"
    response, _, problem_type = fields
    try:
        spec = get_task(task_key(problem_type, data_type))
    except UnknownTaskError:
        return "unknown_problem_type"
    normalized = normalize_tags(response)
    if normalized.count("<answer>") > 1:
        return "multiple_answer_blocks"
    ours = response_answer(response)
    if ours == "":
        return "empty_answer"
    if published_answer_text(response) != ours:
        return "tag_whitespace"
    if spec.structured:
        try:
            obj = json.loads(ours)
            if _has_non_number(obj):
                return "not_a_number"
        except (ValueError, RecursionError):
            return None
        if not spec.parse(ours).ok:
            return "schema_invalid"
        return None
    return spec.published_difference
