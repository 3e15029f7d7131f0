"""Reading a model response: ``<think>reasoning</think><answer>answer</answer>``.

The published reward removes whitespace around every ``<``, ``>`` and ``/`` of the whole response before it
looks for tags, which also rewrites the answer itself (``"x < y"`` becomes ``"x<y"``, ``"24 / 7"`` becomes
``"24/7"``). Here only whitespace *inside* a think/answer tag is normalised (``< / answer >`` is read as
``</answer>``); the text between tags is left exactly as the model wrote it.

Format, as published: the response is one think block followed by one answer block, with only whitespace
around them. Tag names are case-sensitive (``<ANSWER>`` is not a tag). Unlike the published check, a
response with more than one answer block fails the format check.
"""

from __future__ import annotations

import re

__all__ = ["answer_count", "extract_answer", "format_ok", "format_problem", "normalize_tags", "response_answer"]

# A think/answer tag with optional whitespace anywhere inside it, e.g. "< /answer >".
_SPACED_TAG = re.compile(r"<\s*(/?)\s*(think|answer)\s*>")
_ANY_TAG = re.compile(r"<\s*/?\s*(?:think|answer)\s*>")
_CANONICAL_TAGS = frozenset({"<think>", "</think>", "<answer>", "</answer>"})
_ANSWER = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.DOTALL)


def normalize_tags(response: str) -> str:
    """Rewrite spaced think/answer tags to their canonical form; nothing else changes."""
    # Most responses have clean tags: find them (a fast literal-prefix scan) before rewriting anything.
    if all(tag in _CANONICAL_TAGS for tag in _ANY_TAG.findall(response)):
        return response
    return _SPACED_TAG.sub(r"<\1\2>", response)


def answer_count(response: str) -> int:
    """How many ``<answer>`` opening tags the (tag-normalised) response has."""
    return normalize_tags(response).count("<answer>")


def extract_answer(response: str) -> str | None:
    """The stripped text inside the first ``<answer>...</answer>``, or ``None`` when there is none.

    An empty answer block gives ``""`` (not ``None``): the caller decides what an empty answer is worth.
    """
    if not isinstance(response, str):
        return None
    match = _ANSWER.search(normalize_tags(response))
    return match.group(1).strip() if match else None


def format_ok(response: str) -> bool:
    """``<think>...</think>`` then exactly one ``<answer>...</answer>``, whitespace only around them."""
    return format_problem(response) is None


def format_problem(response: str) -> str | None:
    """``None`` when the response has the required format, else a short reason why not."""
    if not isinstance(response, str):
        return "response is not a string"
    return _format_problem_normalized(normalize_tags(response))


def _format_problem_normalized(text: str) -> str | None:
    opened, closed = text.count("<answer>"), text.count("</answer>")
    if opened == 0:
        return "no <answer> block"
    if opened > 1 or closed > 1:
        return "more than one <answer> block"
    if closed == 0:
        return "<answer> is not closed"
    if _think_then_answer(text):
        return None
    if "<think>" not in text or "</think>" not in text:
        return "no <think>...</think> block"
    return "text outside the <think> and <answer> blocks"


def _think_then_answer(text: str) -> bool:
    """``\\s*<think>.*?</think>\\s*<answer>.*?</answer>\\s*`` for a text with exactly one answer block,
    without a regex scan over the whole reasoning (this runs on every rollout)."""
    start = text.find("<answer>")
    end = text.rfind("</answer>")
    if end < start or text[end + 9 :].strip():
        return False
    before = text[:start].strip()
    return len(before) >= 15 and before.startswith("<think>") and before.endswith("</think>")


def read_response(response: str) -> tuple[str | None, str]:
    """``(format problem or None, text to score)`` in one pass over the response (the reward's hot path).

    The text to score is the first answer block (stripped), or the whole response when there is none.
    """
    text = normalize_tags(response)
    match = _ANSWER.search(text)
    answer = match.group(1).strip() if match else text.strip()
    return _format_problem_normalized(text), answer


def response_answer(response: str) -> str | None:
    """The text a reward scores: the first answer block, or, when the response has none, the whole
    response stripped (published leniency: a bare ``"A"`` is still judged). ``""`` for an empty block."""
    if not isinstance(response, str):
        return None
    text = normalize_tags(response)
    match = _ANSWER.search(text)
    if match:
        return match.group(1).strip()
    return text.strip()
