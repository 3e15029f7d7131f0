"""Batch reward scoring: format + accuracy + structure, as the published OneThinker reward combines them.

    overall = (1 - w) * accuracy + w * format + structure        (w = format_weight, 0.1)

* ``format`` is 1 when the response is ``<think>...</think><answer>...</answer>`` (exactly one answer block),
  else 0 (:func:`onethinker.tasks.answer.format_problem`).
* ``accuracy`` in [0, 1] comes from the task spec, on the first answer block, or on the whole response when
  it has none (published leniency). An empty answer block scores 0.
* ``structure`` in [0, 0.5] comes from the task spec and is forced to 0 when ``format`` is 0.

Items never raise: a missing or non-string field, an unknown problem type or an unparseable answer gives
zeros for the affected parts and a short ``reason``. Unknown problem types keep their format score and get
0 accuracy and 0 structure (nothing can be judged about an answer to a task we do not know).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from onethinker.tasks.answer import read_response
from onethinker.tasks.base import TaskSpec
from onethinker.tasks.registry import UnknownTaskError, get_task, strip_answer_tags, task_key
from onethinker.tasks.registry import on_change as on_task_registry_change

__all__ = ["DEFAULT_FORMAT_WEIGHT", "STRUCTURE_MAX", "clear_caches", "reward_range", "score_batch", "score_item"]

DEFAULT_FORMAT_WEIGHT = 0.1
STRUCTURE_MAX = 0.5  # the structure bonus lies in [0, STRUCTURE_MAX]
_TEXT_FIELDS = ("response", "ground_truth", "problem_type")


@lru_cache(maxsize=1024)
def _resolve(problem_type: str, data_type: str | None) -> tuple[TaskSpec | None, str | None]:
    try:
        return get_task(task_key(problem_type, data_type)), None
    except UnknownTaskError as err:
        return None, str(err)


@lru_cache(maxsize=16384)
def _ground_truth(key: str, text: str):
    return get_task(key).parse(strip_answer_tags(text))


@lru_cache(maxsize=32768)
def _accuracy(key: str, answer: str, gt_text: str) -> tuple[float, str | None]:
    """(accuracy, reason when it is 0) for one task key, answer text and raw ground-truth text."""
    spec = get_task(key)
    if not answer:
        return 0.0, "empty answer"
    gt = _ground_truth(key, gt_text)
    if not gt.ok:
        return 0.0, f"ground truth unparseable: {gt.reason}"
    pred = spec.parse(answer)
    if not pred.ok:
        return 0.0, pred.reason
    try:
        value = float(spec.accuracy(pred.value, gt.value))
    except Exception as err:  # a defect in a spec must not stop a training run; surface it in the reason
        return 0.0, f"accuracy failed: {type(err).__name__}: {err}"
    if not math.isfinite(value):
        return 0.0, "accuracy is not finite"
    value = min(1.0, max(0.0, value))
    return value, None if value > 0.0 else "answer does not match the ground truth"


@lru_cache(maxsize=32768)
def _structure(key: str, answer: str, gt_text: str) -> tuple[float, str | None]:
    """(structure, reason when it is 0), reporting a failing spec the way :func:`_accuracy` does."""
    try:
        value = float(get_task(key).structure(answer, strip_answer_tags(gt_text)))
    except Exception as err:  # a defect in a spec must not stop a training run; surface it in the reason
        return 0.0, f"structure failed: {type(err).__name__}: {err}"
    if not math.isfinite(value):
        return 0.0, "structure is not finite"
    value = min(STRUCTURE_MAX, max(0.0, value))
    return value, None if value > 0.0 else "answer does not have the task's structure"


def _clear_task_caches() -> None:
    for fn in (_resolve, _ground_truth, _accuracy, _structure):
        fn.cache_clear()


on_task_registry_change(_clear_task_caches)  # a task registered or removed later must not meet stale entries


def reward_range(part: str, format_weight: float = DEFAULT_FORMAT_WEIGHT) -> tuple[float, float]:
    """The ``(lowest, highest)`` value a reward part can take (what online-filter thresholds must lie in).

    ``format`` and ``accuracy`` lie in [0, 1], ``structure`` in [0, STRUCTURE_MAX]; ``overall`` =
    (1 - w) * accuracy + w * format + structure lies in [0, (1 - w) + w + STRUCTURE_MAX] = [0, 1.5].
    """
    parts = {"format": (0.0, 1.0), "accuracy": (0.0, 1.0), "structure": (0.0, STRUCTURE_MAX),
             "overall": (0.0, (1.0 - format_weight) * 1.0 + format_weight * 1.0 + STRUCTURE_MAX)}
    if part not in parts:
        raise ValueError(f"unknown reward part {part!r} (known: {', '.join(parts)})")
    return parts[part]


def clear_caches() -> None:
    """Drop every memoised parse and score (benchmarks call this to time a cold start)."""
    from onethinker.tasks import mathcheck, parsing, rouge, specs

    for fn in (_resolve, _ground_truth, _accuracy, _structure):
        fn.cache_clear()
    for module in (specs, parsing, rouge, mathcheck):
        for name, value in vars(module).items():
            if name != "_math_verify" and hasattr(value, "cache_clear") and hasattr(value, "cache_info"):
                value.cache_clear()
    # Caches inside the math stack, so that a "cold" timing is really cold (only if already imported).
    import sys

    if "math_verify.parser" in sys.modules:
        for name in ("parse_latex_cached", "parse_expr_cached"):
            fn = getattr(sys.modules["math_verify.parser"], name, None)
            if hasattr(fn, "cache_clear"):
                fn.cache_clear()
    if "sympy.core.cache" in sys.modules:
        sys.modules["sympy.core.cache"].clear_cache()


def _zero(reason: str) -> dict[str, Any]:
    return {"overall": 0.0, "format": 0.0, "accuracy": 0.0, "structure": 0.0, "reason": reason}


def _field_problem(item: Mapping, name: str) -> str | None:
    value = item.get(name)
    if value is None:
        return f"{name} is missing or null"
    if not isinstance(value, str):
        return f"{name} is not a string ({type(value).__name__})"
    return None


def _score(item: Mapping, format_weight: float, *, judging: bool = False) -> tuple[dict[str, Any], Any]:
    """(result, judge request or None). A request is made only when ``judging`` and the task is judged."""
    if not isinstance(item, Mapping):
        return _zero(f"item is not a mapping ({type(item).__name__})"), None
    for name in _TEXT_FIELDS:
        problem = _field_problem(item, name)
        if problem:
            return _zero(problem), None
    data_type = item.get("data_type")
    if data_type is not None and not isinstance(data_type, str):
        return _zero(f"data_type is not a string ({type(data_type).__name__})"), None

    response: str = item["response"]
    gt_text: str = item["ground_truth"]
    format_reason, answer = read_response(response)
    fmt = 0.0 if format_reason else 1.0
    reasons = {"format": format_reason}

    spec, unknown = _resolve(item["problem_type"], data_type)
    request = None
    if spec is None:
        accuracy, structure = 0.0, 0.0
        reasons["accuracy"] = unknown
    else:
        accuracy, reasons["accuracy"] = _accuracy(spec.key, answer, gt_text)
        structure = 0.0
        if fmt:
            structure, reasons["structure"] = _structure(spec.key, answer, gt_text)
        # An empty answer scores 0 for every task, judged or not (nothing to show the judge).
        if judging and spec.judged and answer:
            question = item.get("problem")
            request = (question if isinstance(question, str) else "", strip_answer_tags(gt_text), answer,
                       item.get("problem_id"), accuracy, reasons)

    overall = (1.0 - format_weight) * accuracy + format_weight * fmt + structure
    result: dict[str, Any] = {"overall": overall, "format": fmt, "accuracy": accuracy, "structure": structure}
    _set_reason(result, reasons)
    return result, request


def _set_reason(result: dict[str, Any], reasons: dict[str, str | None]) -> None:
    text = "; ".join(f"{part}: {why}" for part, why in reasons.items() if why)
    if text:
        result["reason"] = text
    else:
        result.pop("reason", None)


def score_item(item: Mapping, *, format_weight: float = DEFAULT_FORMAT_WEIGHT) -> dict[str, Any]:
    """Score one item with the rule-based rewards (see :func:`score_batch`; a judge needs a batch)."""
    return _score(item, format_weight)[0]


class ScoredBatch(list):
    """The list of per-item results, plus ``judge_stats`` (:class:`~onethinker.rewards.judge.JudgeStats`:
    judged and fallback counts, requests, latency; ``enabled`` is False when no judge was configured)."""

    judge_stats: Any = None


def score_batch(items: Iterable[Mapping], *, format_weight: float = DEFAULT_FORMAT_WEIGHT,
                judge: Any = None) -> ScoredBatch:
    """Score a batch of rollouts; one result dict per item, in order. Never raises on a bad item.

    Each item has ``response``, ``ground_truth`` (optionally ``<answer>``-wrapped), ``problem_type`` and
    ``data_type``; optionally ``problem`` (the question shown to a judge) and ``problem_id`` (the group for
    judge-score normalisation). Each result has ``overall``, ``format``, ``accuracy``, ``structure`` and,
    when any part is zero, ``reason``.

    ``judge``: a :class:`~onethinker.rewards.judge.JudgeConfig` (or a ``JudgeClient``); ``None`` or a config
    without ``url`` keeps every accuracy rule-based. With a judge, items of judged tasks (``TaskSpec.judged``:
    open-ended, captioning) with a non-empty answer get their accuracy from the reward model, normalised as
    configured, and carry ``accuracy_source`` (``judge`` or ``rouge_fallback``) and, when judged,
    ``judge_score`` (the raw model score). A batch the judge cannot score keeps the rule-based accuracy.
    """
    if not (isinstance(format_weight, (int, float)) and 0.0 <= format_weight <= 1.0):
        raise ValueError(f"format_weight must be a number in [0, 1], got {format_weight!r}")
    from onethinker.rewards.judge import JudgeClient, JudgeConfig, JudgeRequest, JudgeStats, judge_accuracies

    if isinstance(judge, JudgeConfig) and not judge.enabled:
        judge = None
    if judge is not None and not isinstance(judge, (JudgeConfig, JudgeClient)):
        raise TypeError(f"judge must be a JudgeConfig, a JudgeClient or None, got {type(judge).__name__}")
    results = ScoredBatch()
    pending: list[tuple[int, Any]] = []
    for position, item in enumerate(items):
        result, request = _score(item, format_weight, judging=judge is not None)
        results.append(result)
        if request is not None:
            pending.append((position, request))
    results.judge_stats = JudgeStats(enabled=judge is not None)
    if not pending:
        return results
    requests = [JudgeRequest(pos, q, ref, ans, group, fallback) for pos, (q, ref, ans, group, fallback, _) in pending]
    accuracies, sources, raw, stats = judge_accuracies(requests, judge)
    for (position, request), accuracy, source, score in zip(pending, accuracies, sources, raw):
        reasons = dict(request[5])
        result = results[position]
        if source == "judge":
            reasons["accuracy"] = None if accuracy > 0 else "the judge scored it lowest"
            result["judge_score"] = score
        elif accuracy > 0:
            reasons["accuracy"] = None
        result["accuracy"] = accuracy
        result["accuracy_source"] = source
        result["overall"] = (1.0 - format_weight) * accuracy + format_weight * result["format"] + result["structure"]
        _set_reason(result, reasons)
    results.judge_stats = stats
    return results
