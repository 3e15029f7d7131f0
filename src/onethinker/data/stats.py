"""Corpus statistics: counts per task key and modality, text lengths and media durations."""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np

from onethinker.data.records import RecordError, iter_raw, parse_record

__all__ = ["corpus_stats", "summarise"]


def summarise(values: list[float]) -> dict[str, float]:
    """``count, mean, min, p50, p95, max`` of a list of numbers (empty -> count 0)."""
    if not values:
        return {"count": 0}
    array = np.asarray(values, dtype=np.float64)
    return {
        "count": int(array.size),
        "mean": round(float(array.mean()), 3),
        "min": round(float(array.min()), 3),
        "p50": round(float(np.percentile(array, 50)), 3),
        "p95": round(float(np.percentile(array, 95)), 3),
        "max": round(float(array.max()), 3),
    }


def corpus_stats(
    path: str | os.PathLike[str],
    *,
    media_root: str | os.PathLike[str] | None = None,
    probe_media: bool = True,
    on_record: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Statistics of a corpus file as a JSON-ready dict.

    Keys: ``file``, ``records``, ``invalid`` (records that do not parse, with the first few errors),
    ``per_task`` (count per task key), ``per_modality``, ``per_benchmark``, ``problem_chars``,
    ``answer_chars`` and ``sft_response_chars`` (summaries), ``per_task_answer_chars``, ``media`` (distinct
    files, missing files, ``video_seconds`` summary of distinct videos when ``probe_media``).
    """
    from onethinker.data.media import MediaError, probe_video
    from onethinker.data.messages import resolve_media

    path = Path(path)
    root = Path(media_root) if media_root is not None else path.parent
    per_task: Counter = Counter()
    per_modality: Counter = Counter()
    per_benchmark: Counter = Counter()
    problem_chars: list[int] = []
    answer_chars: list[int] = []
    response_chars: list[int] = []
    answer_by_task: dict[str, list[int]] = defaultdict(list)
    videos: set[str] = set()
    images: set[str] = set()
    invalid: list[str] = []
    records = 0
    for line, raw in iter_raw(path):
        records += 1
        if on_record is not None:
            on_record()
        try:
            record = parse_record(path, line, raw)
        except RecordError as err:
            invalid.append(str(err))
            continue
        key = record.key
        per_task[key] += 1
        per_modality[record.data_type] += 1
        if record.benchmark:
            per_benchmark[record.benchmark] += 1
        problem_chars.append(len(record.problem))
        answer_chars.append(len(record.ground_truth))
        answer_by_task[key].append(len(record.ground_truth))
        response = record.extra("sft_response")
        if isinstance(response, str):
            response_chars.append(len(response))
        images.update(record.images)
        videos.update(record.videos)

    durations: list[float] = []
    missing = unreadable = 0
    if probe_media:
        for rel in sorted(images | videos):
            if "://" in rel:
                continue
            full = resolve_media(rel, root)
            if not os.path.isfile(full):
                missing += 1
        for rel in sorted(videos):
            full = resolve_media(rel, root)
            if "://" in rel or not os.path.isfile(full):
                continue
            try:
                durations.append(probe_video(full).duration)
            except MediaError:
                unreadable += 1
    media: dict[str, Any] = {"distinct_images": len(images), "distinct_videos": len(videos)}
    if probe_media:
        media.update(missing=missing, unreadable_videos=unreadable, video_seconds=summarise(durations))
    return {
        "file": str(path),
        "records": records,
        "invalid": {"count": len(invalid), "first": invalid[:5]},
        "per_task": dict(per_task.most_common()),
        "per_modality": dict(per_modality.most_common()),
        "per_benchmark": dict(per_benchmark.most_common()),
        "problem_chars": summarise(problem_chars),
        "answer_chars": summarise(answer_chars),
        "sft_response_chars": summarise(response_chars),
        "per_task_answer_chars": {k: summarise(v) for k, v in sorted(answer_by_task.items())},
        "media": media,
    }
