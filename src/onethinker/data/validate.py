"""Corpus validation: every problem of every record, as ``FILE:LINE: field: what is wrong``.

Checks, per record:

* JSON: the line (JSONL) or list element parses and is an object;
* schema: required fields present with the right types (:class:`~onethinker.data.Record`);
* task: ``problem_type`` (and ``data_type``) name a registered task that accepts the record's modality;
* answer: the task's parser accepts the ground truth and the task's ground-truth check passes
  (coordinates within 0-1000, spans ordered and non-negative, ...);
* options: multiple choice has options and the answer letter is one of them;
* media: the modality's media list is non-empty and ``<image>``/``<video>`` placeholders have media;
  files (media, ``mask``, ``masks``) exist under the media root (``check_files``);
* with ``check_media``: each distinct media file is opened and its first frame decoded, time spans and
  keyframes must lie inside the video's duration, ``resolution`` must match the media, masks must be
  readable images of the media's size, and ``mask_times`` must match ``masks``.

Validation never stops at the first problem; a JSON list with a syntax error ends at that element, since
its remaining elements cannot be located.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from onethinker.data.messages import placeholder_problems
from onethinker.data.records import Record, RecordError, iter_raw, record_problems
from onethinker.tasks import UnknownTaskError, get_task, parse_ground_truth, task_key

__all__ = ["Problem", "ValidationReport", "check_record", "validate_file"]


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


@dataclass
class ValidationReport:
    """Totals of one validation run (problems themselves go to the ``on_problem`` callback)."""

    file: str
    records: int = 0
    bad_records: int = 0
    problems: int = 0
    per_key: Counter = field(default_factory=Counter)
    per_field: Counter = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return self.problems == 0

    def summary(self) -> str:
        if self.ok:
            return f"{self.file}: {self.records} records, all valid"
        fields = ", ".join(f"{name} {count}" for name, count in self.per_field.most_common())
        return (
            f"{self.file}: {self.records} records, {self.bad_records} with problems "
            f"({self.problems} problems: {fields})"
        )


class _MediaChecker:
    """Existence and (optionally) decoding of media files, each distinct file checked once."""

    def __init__(self, root: Path, check_files: bool, check_media: bool) -> None:
        self.root, self.check_files, self.check_media = root, check_files, check_media
        self._exists: dict[str, bool] = {}
        self._probe: dict[tuple[str, str], tuple[Any, str | None]] = {}

    def path(self, rel: str) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else self.root / p

    def exists(self, rel: str) -> bool:
        hit = self._exists.get(rel)
        if hit is None:
            hit = self._exists[rel] = os.path.isfile(self.path(rel))
        return hit

    def probe(self, rel: str, kind: str) -> tuple[Any, str | None]:
        """``(info, None)`` or ``(None, problem)``; info is (w, h) for images, a VideoInfo for videos."""
        key = (rel, kind)
        if key not in self._probe:
            from onethinker.data.media import MediaError, probe_image, probe_video

            try:
                info = probe_image(self.path(rel)) if kind == "image" else probe_video(self.path(rel))
                self._probe[key] = (info, None)
            except MediaError as err:
                self._probe[key] = (None, err.problem)
        return self._probe[key]


def _is_url(path: str) -> bool:
    return "://" in path or path.startswith("data:")


_TASK_CACHE: dict[tuple[str, str | None], tuple[str | None, Any, str | None]] = {}


def _resolve_task(problem_type: str, data_type: str | None) -> tuple[str | None, Any, str | None]:
    """``(key, spec, error)`` for a (problem_type, data_type) pair, memoised: corpora repeat a few pairs."""
    pair = (problem_type, data_type)
    hit = _TASK_CACHE.get(pair)
    if hit is None:
        try:
            key = task_key(problem_type, data_type)
            hit = (key, get_task(key), None)
        except UnknownTaskError as err:
            hit = (None, None, str(err))
        if len(_TASK_CACHE) < 4096:
            _TASK_CACHE[pair] = hit
    return hit


def _raw_field(raw: dict, name: str, kind: type, alias: str | None = None) -> Any:
    value = raw.get(name)
    if value is None and alias is not None:
        value = raw.get(alias)
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, kind) else None


def check_record(raw: Any, media: _MediaChecker | None = None) -> tuple[str | None, list[tuple[str, str]]]:
    """``(task key or None, [(field, message), ...])`` for one raw record object."""
    if not isinstance(raw, dict):
        return None, [("record", f"must be a JSON object, got {type(raw).__name__}")]
    problems: list[tuple[str, str]] = []
    try:
        record = Record.model_validate(raw)
        problem_type, data_type, answer = record.problem_type, record.data_type, record.answer
        images, videos, problem_text = record.images, record.videos, record.problem
        options, resolution = record.options, record.resolution
    except ValidationError as err:
        # keep checking whichever fields do have the right type
        problems.extend(record_problems(err))
        problem_type = _raw_field(raw, "problem_type", str)
        data_type = _raw_field(raw, "data_type", str)
        data_type = data_type.strip().lower() if data_type is not None else None
        answer = _raw_field(raw, "answer", str, alias="solution")
        images = _raw_field(raw, "images", list) or []
        videos = _raw_field(raw, "videos", list) or []
        problem_text = _raw_field(raw, "problem", str)
        options = _raw_field(raw, "options", list)
        resolution = None

    key = spec = None
    if problem_type is not None:
        key, spec, error = _resolve_task(problem_type, data_type)
        if error is not None:
            problems.append(("problem_type", error))
        elif data_type is not None and data_type not in spec.data_types:
            problems.append(("data_type", f"task {key!r} takes {' or '.join(spec.data_types)}, not {data_type!r}"))

    if data_type == "image":
        if not images:
            problems.append(("images", "an image record needs at least one entry in 'images'"))
    elif data_type == "video":
        if not videos:
            problems.append(("videos", "a video record needs at least one entry in 'videos'"))
    if problem_text is not None and "<" in problem_text:
        problems.extend(placeholder_problems(problem_text, len(images), len(videos)))

    duration: float | None = None
    if media is not None and (media.check_files or media.check_media):
        size: tuple[int, int] | None = None
        for field_name, kind, paths in (("images", "image", images), ("videos", "video", videos)):
            for index, rel in enumerate(paths):
                if not isinstance(rel, str) or _is_url(rel):
                    continue
                if not media.exists(rel):
                    problems.append((f"{field_name}[{index}]", f"{rel}: file not found under {media.root}"))
                    continue
                if media.check_media:
                    info, problem = media.probe(rel, kind)
                    if problem is not None:
                        problems.append((f"{field_name}[{index}]", f"{rel}: {problem}"))
                    elif index == 0:
                        if kind == "video":
                            duration = info.duration
                            size = (info.width, info.height)
                        else:
                            size = info
        if "mask" in raw or "masks" in raw:
            problems.extend(_mask_problems(raw, media, size))
        if media.check_media and resolution is not None and size is not None and tuple(resolution) != size:
            problems.append(("resolution", f"{list(resolution)} but the media is {size[0]}x{size[1]}"))

    if spec is not None and answer is not None:
        parsed = parse_ground_truth(key, answer)
        if not parsed.ok:
            problems.append(("answer", f"not a valid {key} answer: {parsed.reason}"))
        else:
            problems.extend(("answer", message) for message in spec.check_ground_truth(parsed.value, duration))
            if spec.uses_options:
                if not options:
                    problems.append(("options", f"{key} needs a non-empty list of options"))
                elif isinstance(parsed.value, str) and len(parsed.value) == 1:
                    position = ord(parsed.value.upper()) - ord("A")
                    if not 0 <= position < len(options):
                        problems.append(("answer", f"option {parsed.value!r} but the record has {len(options)} options"))
    return key, problems


def _mask_problems(raw: dict, media: _MediaChecker, size: tuple[int, int] | None) -> list[tuple[str, str]]:
    """Ground-truth masks: paths exist (and decode, at the media's size, with ``check_media``)."""
    out: list[tuple[str, str]] = []
    entries: list[tuple[str, Any]] = []
    if "mask" in raw and raw["mask"] is not None:
        entries.append(("mask", raw["mask"]))
    masks = raw.get("masks")
    if masks is not None:
        if not isinstance(masks, list):
            return [("masks", "must be a list of PNG paths or RLE objects")]
        entries.extend((f"masks[{i}]", m) for i, m in enumerate(masks))
        times = raw.get("mask_times")
        if times is not None and (not isinstance(times, list) or len(times) != len(masks)):
            count = len(times) if isinstance(times, list) else "not a list"
            out.append(("mask_times", f"{count} times for {len(masks)} masks"))
    for name, entry in entries:
        if isinstance(entry, dict):
            if "counts" not in entry or "size" not in entry:
                out.append((name, "an RLE mask needs 'size' and 'counts'"))
            continue
        if not isinstance(entry, str):
            out.append((name, "must be a PNG path or an RLE object"))
            continue
        if not media.exists(entry):
            out.append((name, f"{entry}: file not found under {media.root}"))
            continue
        if media.check_media:
            info, problem = media.probe(entry, "image")
            if problem is not None:
                out.append((name, f"{entry}: {problem}"))
            elif size is not None and tuple(info) != tuple(size):
                out.append((name, f"{entry}: mask is {info[0]}x{info[1]} but the media is {size[0]}x{size[1]}"))
    return out


def validate_file(
    path: str | os.PathLike[str],
    *,
    media_root: str | os.PathLike[str] | None = None,
    check_files: bool = True,
    check_media: bool = False,
    on_problem: Callable[[Problem], None] | None = None,
    on_record: Callable[[], None] | None = None,
) -> ValidationReport:
    """Validate every record of ``path``; report each problem to ``on_problem`` and return the totals.

    ``media_root`` defaults to the file's folder. ``check_files=False`` skips every filesystem access
    (schema, task and answer checks only); ``check_media=True`` also decodes media (see module docs).
    """
    path = Path(path)
    root = (Path(media_root) if media_root is not None else path.parent).resolve()
    media = _MediaChecker(root, check_files, check_media)
    report = ValidationReport(str(path))
    for line, raw in iter_raw(path):
        report.records += 1
        if isinstance(raw, RecordError):
            key, problems = None, [(raw.field, raw.problem)]
        else:
            key, problems = check_record(raw, media)
        if key is not None:
            report.per_key[key] += 1
        if problems:
            report.bad_records += 1
            for name, message in problems:
                report.problems += 1
                report.per_field[name.split("[")[0]] += 1
                if on_problem is not None:
                    on_problem(Problem(str(path), line, name, message))
        if on_record is not None:
            on_record()
    return report
