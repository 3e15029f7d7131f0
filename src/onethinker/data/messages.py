"""Chat messages for a record, in the form Hugging Face processors take.

The user text is the exact published prompt (:func:`onethinker.tasks.prompt_text`: question, options for
multiple choice, the shared template and the task's instruction). As in the published training code, each
``<image>`` / ``<video>`` placeholder in the question becomes a media part at the place where it stands,
and the placeholder text itself is dropped. Media without a placeholder go first, before the text (the
Qwen-VL convention), so a record whose question has no placeholder still shows its media.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

__all__ = ["PLACEHOLDER", "build_messages", "placeholder_problems", "resolve_media"]

PLACEHOLDER = re.compile(r"<(image|video)>")


def resolve_media(path: str, media_root: str | os.PathLike[str] | None) -> str:
    """An absolute path for a media entry (URLs and ``data:`` URIs are returned unchanged)."""
    if "://" in path or path.startswith("data:"):
        return path
    full = Path(path).expanduser()
    if not full.is_absolute() and media_root is not None:
        full = Path(media_root).expanduser() / full
    return os.path.abspath(full)


def placeholder_problems(problem: str, n_images: int, n_videos: int) -> list[tuple[str, str]]:
    """``(field, message)`` when the question holds more placeholders than the record has media."""
    counts = {"image": 0, "video": 0}
    for match in PLACEHOLDER.finditer(problem):
        counts[match.group(1)] += 1
    out = []
    for kind, have, field in (("image", n_images, "images"), ("video", n_videos, "videos")):
        if counts[kind] > have:
            out.append((field, f"problem has {counts[kind]} <{kind}> placeholder(s) but the record lists {have}"))
    return out


def build_messages(record: Any, media_root: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """One user turn: ``[{"role": "user", "content": [parts...]}]`` with image, video and text parts.

    ``record`` is a :class:`~onethinker.data.Record` (or anything with its attributes). Media paths are made
    absolute against ``media_root``. Raises ``ValueError`` when the question names more ``<image>`` or
    ``<video>`` placeholders than the record has media.
    """
    from onethinker.tasks import prompt_text

    text = prompt_text(record.problem, record.key, record.options)
    images = [resolve_media(p, media_root) for p in record.images]
    videos = [resolve_media(p, media_root) for p in record.videos]
    problems = placeholder_problems(record.problem, len(images), len(videos))
    if problems:
        who = f"record {record.problem_id}" if getattr(record, "problem_id", None) is not None else "record"
        raise ValueError(f"{who}: {problems[0][0]}: {problems[0][1]}")

    inline: list[dict[str, Any]] = []
    used = {"image": 0, "video": 0}
    pos = 0
    for match in PLACEHOLDER.finditer(text):
        if match.start() > pos:
            inline.append({"type": "text", "text": text[pos : match.start()]})
        kind = match.group(1)
        source = images if kind == "image" else videos
        inline.append({"type": kind, kind: source[used[kind]]})
        used[kind] += 1
        pos = match.end()
    if pos < len(text):
        inline.append({"type": "text", "text": text[pos:]})
    leading = [{"type": "image", "image": p} for p in images[used["image"] :]]
    leading += [{"type": "video", "video": p} for p in videos[used["video"] :]]
    return [{"role": "user", "content": leading + inline}]
