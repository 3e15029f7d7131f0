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

__all__ = ["answer_count", "extract_answer", "format_ok", "normalize_tags", "response_answer"]

# A think/answer tag with optional whitespace anywhere inside it, e.g. "< /answer >".
_SPACED_TAG = re.compile(r"<\s*(/?)\s*(think|answer)\s*>")
_ANSWER = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.DOTALL)
_THINK_THEN_ANSWER = re.compile(r"\s*<think>.*?</think>\s*<answer>.*?</answer>\s*", re.DOTALL)


def normalize_tags(response: str) -> str:
    """Rewrite spaced think/answer tags to their canonical form; nothing else changes."""
    if "<" not in response:
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
    if not isinstance(response, str):
        return False
    text = normalize_tags(response)
    if text.count("<answer>") != 1 or text.count("</answer>") != 1:
        return False
    return _THINK_THEN_ANSWER.fullmatch(text) is not None


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
