"""Math answer equivalence with math-verify, made deterministic and thread-safe.

* math-verify's own timeouts use ``signal.alarm``, which only works on the main thread; off it, the published
  reward silently fell back to another grader, so scores depended on the thread. Here timeouts are off
  (``parsing_timeout=None``, ``timeout_seconds=None``) and inputs are bounded instead (see
  :data:`MAX_MATH_CHARS`), so the same pair gets the same verdict in any thread or process.
* Bare LaTeX (``\\frac{\\sqrt{2}}{2}``, ``2\\sqrt{3}``) is not recognised by math-verify without math
  delimiters (it reads ``2\\sqrt{3}`` as ``2``); an answer without ``$``, ``\\(``, ``\\[`` or ``\\boxed`` is
  therefore wrapped in ``$...$`` before parsing.
* Verdicts are cached per (ground truth, answer) pair and parses per string.
"""

from __future__ import annotations

import logging
from functools import lru_cache

__all__ = ["MAX_MATH_CHARS", "math_equivalent"]

# Longer answers are not parsed (they are prose, not a final result) and cannot be equivalent.
MAX_MATH_CHARS = 400
_DELIMITERS = ("$", "\\(", "\\[", "\\boxed")


def _prepare(text: str) -> str:
    text = text.strip()
    if not any(d in text for d in _DELIMITERS):
        text = f"${text}$"
    return text


@lru_cache(maxsize=1)
def _math_verify():
    import math_verify
    import math_verify.parser as mv_parser

    # It warns once that timeouts are off; that is deliberate here.
    mv_parser.TIMEOUT_WARNING_SHOWN = True
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    return math_verify


@lru_cache(maxsize=16384)
def _parse(text: str) -> tuple:
    if not text.strip() or len(text) > MAX_MATH_CHARS:
        return ()
    mv = _math_verify()
    try:
        return tuple(mv.parse(_prepare(text), parsing_timeout=None))
    except Exception:  # math-verify raises on inputs it cannot handle; that is "not parseable"
        return ()


@lru_cache(maxsize=65536)
def math_equivalent(gt: str, pred: str) -> bool:
    """Whether ``pred`` is mathematically equivalent to ``gt`` (math-verify semantics, gold first)."""
    if not pred.strip() or not gt.strip():
        return False
    if pred.strip() == gt.strip():
        return True
    gold, target = _parse(gt), _parse(pred)
    if not gold or not target:
        return False
    mv = _math_verify()
    try:
        return bool(mv.verify(list(gold), list(target), timeout_seconds=None))
    except Exception:
        return False
