"""Score predictions: corpus records plus a ``response``, grouped by benchmark, metrics in percent.

``score_predictions(records, media_root)`` parses each response and ground truth with the task registry,
groups records by their ``benchmark`` field (else by task key), runs each group's metric suites and returns
``{group: {metric: value}}``. Besides the suite metrics every group carries ``n`` (records scored) and
``unparseable`` (responses whose answer could not be parsed; they score 0 / an empty mask). A group that mixes
suites (e.g. multiple choice and regression) prefixes each metric with its suite name and adds ``overall``,
the mean of the per-item primary scores.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from onethinker.eval.masks import GrabCutBackend, MaskBackend
from onethinker.eval.segmentation import FieldError
from onethinker.eval.suites import SUITES, Context, Item

__all__ = ["ScoreError", "answer_text", "prepare_items", "score_items", "score_predictions"]


class ScoreError(ValueError):
    """Bad input in a predictions file; the message reads ``SOURCE:LINE: field: what is wrong``."""


def answer_text(response: Any) -> str:
    """The text scored for a response: inside the first ``<answer>...</answer>``, else the whole response
    (as the published evaluation does, so a bare answer still counts)."""
    from onethinker.tasks.answer import extract_answer

    if not isinstance(response, str):
        return ""
    inner = extract_answer(response)
    return inner if inner is not None else response.strip()


def _as_dict(record: Any) -> dict[str, Any]:
    if isinstance(record, Mapping):
        return dict(record)
    if hasattr(record, "model_dump"):  # onethinker.data.Record: fields plus preserved extras
        data = record.model_dump()
        if data.get("answer") is None and getattr(record, "answer", None) is not None:
            data["answer"] = record.answer
        return data
    raise TypeError(f"a prediction must be a mapping or a Record, got {type(record).__name__}")


def _ground_truth_text(record: Mapping[str, Any]) -> Any:
    for name in ("answer", "solution", "ground_truth"):
        if record.get(name) is not None:
            return record[name]
    return None


def prepare_items(
    records: Iterable[tuple[int, Any]], source: str = "<predictions>", *, by_task: bool = False
) -> dict[str, dict[str, list[Item]]]:
    """Parse ``(line, record)`` pairs into items grouped as ``{group: {suite: [items]}}``.

    A group is the record's ``benchmark`` (else its task key); ``by_task`` splits benchmarks further into
    ``"benchmark / task key"`` groups.

    Raises :class:`ScoreError` naming the source, line and field for records that cannot be scored at all
    (unknown task, missing or unparseable ground truth, missing response).
    """
    from onethinker.tasks import UnknownTaskError, get_task, parse_ground_truth, task_key

    groups: dict[str, dict[str, list[Item]]] = defaultdict(lambda: defaultdict(list))
    for line, raw in records:
        record = _as_dict(raw)
        where = f"{source}:{line}"
        try:
            key = task_key(record.get("problem_type"), record.get("data_type"))
        except UnknownTaskError as exc:
            raise ScoreError(f"{where}: problem_type: {exc}") from None
        spec = get_task(key)
        truth = _ground_truth_text(record)
        if not isinstance(truth, str):
            raise ScoreError(f"{where}: answer: the ground-truth answer is missing")
        gt = parse_ground_truth(key, truth)
        if not gt.ok:
            raise ScoreError(f"{where}: answer: the ground truth does not parse as {key}: {gt.reason}")
        response = record.get("response")
        if response is None and record.get("pred_mask") is None and record.get("pred_masks") is None:
            raise ScoreError(f"{where}: response: the model response is missing")
        parsed = spec.parse(answer_text(response)) if isinstance(response, str) else None
        pred, reason = (parsed.value, None) if parsed is not None and parsed.ok else (None, _reason(parsed))
        if pred is None and response is None:
            reason = None  # given masks and no response: nothing to parse, nothing failed
        benchmark = record.get("benchmark")
        group = (f"{benchmark} / {key}" if by_task else benchmark) if benchmark else key
        groups[str(group)][spec.metric_suite].append(Item(record, spec, pred, gt.value, line, reason))
    return groups


def _suite_name(suite: Any) -> str:
    """A task's ``metric_suite`` is a name in ``SUITES`` or its own suite function."""
    return suite if isinstance(suite, str) else getattr(suite, "__name__", repr(suite))


def _reason(parsed: Any) -> str:
    return parsed.reason if parsed is not None and parsed.reason else "no response text"


def score_items(
    groups: Mapping[str, Mapping[str, list[Item]]],
    media_root: str | Path | None = None,
    mask_backend: MaskBackend | None = None,
    source: str = "<predictions>",
) -> dict[str, dict[str, float]]:
    """Run the metric suites over prepared groups (see :func:`prepare_items`)."""
    # GrabCut needs nothing to set up, so it is the default whether or not a group has segmentation
    ctx = Context(media_root=media_root, mask_backend=mask_backend or GrabCutBackend())
    results: dict[str, dict[str, float]] = {}
    for group in sorted(groups):
        by_suite = groups[group]
        metrics: dict[str, float] = {}
        primaries: list[np.ndarray] = []
        for suite_ref in sorted(by_suite, key=_suite_name):
            items, suite_name = by_suite[suite_ref], _suite_name(suite_ref)
            run = suite_ref if callable(suite_ref) else SUITES.get(suite_ref)
            if run is None:
                raise ScoreError(f"{source}: task {items[0].spec.key!r} names unknown metric suite {suite_name!r}")
            try:
                result = run(items, ctx)
            except FieldError as exc:
                raise ScoreError(f"{source}:{getattr(exc, 'line', '?')}: {exc.field}: {exc}") from None
            prefix = f"{suite_name}/" if len(by_suite) > 1 else ""
            metrics.update({f"{prefix}{name}": value for name, value in result.metrics.items()})
            primaries.append(result.scores)
        if len(by_suite) > 1:
            metrics["overall"] = float(np.concatenate(primaries).mean() * 100.0)
        all_items = [item for items in by_suite.values() for item in items]
        metrics["n"] = len(all_items)
        metrics["unparseable"] = sum(1 for item in all_items if item.reason is not None)
        results[group] = metrics
    return results


def score_predictions(
    records: Iterable[Any],
    media_root: str | Path | None = None,
    *,
    mask_backend: MaskBackend | None = None,
    source: str = "<predictions>",
    by_task: bool = False,
) -> dict[str, dict[str, float]]:
    """``{group: {metric: percent}}`` for records (mappings or ``Record``) that carry a ``response``.

    Groups are the records' ``benchmark`` field when present, else the registry task key (``by_task``:
    ``"benchmark / task key"``). Segmentation
    predictions without ``pred_mask(s)`` are turned into masks by ``mask_backend`` (GrabCut by default).
    """
    groups = prepare_items(enumerate(records, start=1), source, by_task=by_task)
    return score_items(groups, media_root, mask_backend, source)
