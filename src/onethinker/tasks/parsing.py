"""Turning answer text into typed values: numbers, spans, boxes, points, option letters.

Rules shared by every parser here (see docs/rewards.md for how they differ from the published reward):

* A number is a JSON int or float that is finite. Strings (``"12"``), booleans (``true``) and
  ``NaN`` / ``Infinity`` are not numbers.
* A box is exactly four numbers, a span exactly two, a point exactly two.
* Coordinates are *not* range-checked when parsing a prediction (a box past 1000 is still a box that scores
  by IoU); :func:`coordinate_problems` reports them for ground-truth validation.

Parsers never raise: they return :class:`~onethinker.tasks.base.Parsed` with a short reason on failure.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Any

from onethinker.tasks.base import Box, Parsed, Point, Span

__all__ = [
    "as_box",
    "as_number",
    "as_points",
    "as_span",
    "coordinate_problems",
    "load_json",
    "parse_decimal",
    "parse_option_letter",
]

_MISSING = object()


# Bounded: parsed tracking answers are ~10 KB of Python objects each.
@lru_cache(maxsize=8192)
def _load_json_cached(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return _MISSING


def load_json(text: str) -> tuple[Any, str | None]:
    """``(object, None)`` or ``(None, reason)``. Cached per string: rollouts repeat ground truths.

    Callers must not mutate the returned object (it is shared through the cache).
    """
    obj = _load_json_cached(text)
    if obj is _MISSING:
        return None, "answer is not valid JSON"
    return obj, None


def as_number(value: Any) -> float | None:
    """A finite float from a JSON number; ``None`` for strings, booleans, NaN, infinities and anything else."""
    if type(value) is float:
        return value if math.isfinite(value) else None
    if type(value) is int:
        try:
            number = float(value)
        except OverflowError:
            return None
        return number if math.isfinite(number) else None
    return None


def _numbers(value: Any, n: int) -> tuple[float, ...] | None:
    if type(value) is not list or len(value) != n:
        return None
    for item in value:
        kind = type(item)
        if kind is not float and kind is not int:  # bool is a subclass of int, not int itself
            return None
    try:
        out = tuple(map(float, value))
    except OverflowError:  # an int beyond float range
        return None
    return out if all(map(math.isfinite, out)) else None


def as_box(value: Any) -> Box | None:
    """``[x1, y1, x2, y2]`` (four finite numbers) -> Box, else ``None``."""
    return _numbers(value, 4)  # type: ignore[return-value]


def as_span(value: Any) -> Span | None:
    """``[start, end]`` (two finite numbers) -> Span, else ``None``. ``start > end`` is kept (scores 0)."""
    return _numbers(value, 2)  # type: ignore[return-value]


def as_points(value: Any, count: int = 3) -> tuple[Point, ...] | None:
    """Exactly ``count`` points ``[[x, y], ...]`` -> tuple of Points, else ``None``."""
    if type(value) is not list or len(value) != count:
        return None
    points = []
    for item in value:
        point = _numbers(item, 2)
        if point is None:
            return None
        points.append(point)
    return tuple(points)  # type: ignore[return-value]


def parse_decimal(text: str) -> Parsed[float]:
    """A plain number as the published reward reads one: ``float(text)`` after removing thousands commas.

    ``"78,172"`` and ``"3.0"`` parse; ``"approximately 3"``, ``"3 cm"`` and ``"twelve"`` do not. NaN and
    infinities are rejected (they could never match a finite ground truth).
    """
    try:
        number = float(text.replace(",", ""))
    except (ValueError, TypeError, AttributeError):
        return Parsed.fail(f"not a number: {_clip(text)}")
    if not math.isfinite(number):
        return Parsed.fail(f"not a finite number: {_clip(text)}")
    return Parsed(number)


# Wrappers that render to their content (the published checker renders LaTeX to text before comparing).
_LATEX_WRAPPER = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mathit|boxed|fbox)\s*\{(.*)\}", re.DOTALL)
_MATH_DELIMITERS = re.compile(r"\$|\\\(|\\\)|\\\[|\\\]")
_OPTION_NOISE = re.compile(r"\\%|%|\s")


def parse_option_letter(text: str) -> Parsed[str]:
    """A multiple-choice answer -> one upper-case option letter ``"A"``..``"Z"``.

    Strict, as published: the answer must be just the letter. Accepted decorations are the ones the published
    checker also accepts: surrounding whitespace, case (``"b"``), one or more bracket pairs (``"(B)"``,
    ``"[B]"``), LaTeX math delimiters and text wrappers (``"$B$"``, ``"\\text{B}"``, ``"\\boxed{B}"``), a short
    ``x=`` prefix (``"x=B"``) and braces. ``"B."``, ``"B. red car"``, ``"Option B"`` and ``"The answer is B"``
    are not option letters.
    """
    s = _MATH_DELIMITERS.sub("", text).strip()
    for _ in range(4):
        match = _LATEX_WRAPPER.fullmatch(s)
        if not match:
            break
        s = match.group(1).strip()
    s = _OPTION_NOISE.sub("", s)
    if s.count("=") == 1:
        lhs, rhs = s.split("=")
        if len(lhs) <= 2:
            s = rhs
    s = s.replace("{", "").replace("}", "")
    while len(s) > 2 and s[0] in "([" and s[-1] in ")]":
        s = s[1:-1]
    if len(s) == 1 and "a" <= s.lower() <= "z":
        return Parsed(s.upper())
    return Parsed.fail(f"not a single option letter: {_clip(text)}")


def coordinate_problems(name: str, values: tuple[float, ...]) -> list[str]:
    """Problems with 0-1000 relative coordinates (for ground-truth validation)."""
    if any(v < 0 or v > 1000 for v in values):
        return [f"{name} {list(values)} has coordinates outside 0-1000"]
    return []


def _clip(text: Any, limit: int = 40) -> str:
    s = repr(text)
    return s if len(s) <= limit else s[: limit - 3] + "..."
