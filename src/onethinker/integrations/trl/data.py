"""An OneThinker image corpus as rows in TRL's conversational multimodal format.

Each row::

    {"prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "..."}]}],
     "images": ["/abs/media/0001.png"], "answer": "B", "problem_type": "multiple choice",
     "data_type": "image", "problem_id": "..."}

The prompt is the exact published prompt (:func:`onethinker.data.build_messages`: question, options, template,
the task's instruction), with an image part where each ``<image>`` stood; TRL fills the parts from ``images``
in order. ``answer``, ``problem_type`` and ``data_type`` are what the reward functions and
:class:`~onethinker.integrations.trl.EMAGRPOTrainer` read. Video records are refused: TRL's GRPOTrainer takes
images only.
"""

from __future__ import annotations

import os
from typing import Any

from onethinker.data.messages import build_messages
from onethinker.data.records import RecordError, read_records

__all__ = ["trl_dataset", "trl_rows"]


def trl_rows(path: str | os.PathLike[str], media_root: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """The records of ``path`` (JSON, JSONL or parquet) as TRL rows; image paths are made absolute.

    ``media_root`` defaults to the corpus file's folder. Raises :class:`~onethinker.data.RecordError`
    (``FILE:LINE: field: problem``) for a bad record, a video record or an unknown task.
    """
    from onethinker.tasks import UnknownTaskError

    root = media_root if media_root is not None else os.path.dirname(os.path.abspath(path))
    rows = []
    for line, record in read_records(path):
        if record.videos or record.data_type == "video":
            raise RecordError(path, line, "videos" if record.videos else "data_type",
                              "a video record; TRL's GRPOTrainer takes images only (train video with "
                              "`onethinker train rl` or the veRL plugin)")
        try:
            record.key  # noqa: B018 - validates problem_type/data_type against the task registry
        except UnknownTaskError as exc:
            raise RecordError(path, line, "problem_type", str(exc)) from None
        try:
            messages = build_messages(record, root)
        except ValueError as exc:
            raise RecordError(path, line, "images", str(exc)) from None
        images = []
        for message in messages:
            for part in message["content"]:
                if part["type"] == "image":
                    images.append(part.pop("image"))
        rows.append({
            "prompt": messages,
            "images": images,
            "answer": record.ground_truth,
            "problem_type": record.problem_type,
            "data_type": record.data_type,
            "problem_id": None if record.problem_id is None else str(record.problem_id),
        })
    return rows


def trl_dataset(path: str | os.PathLike[str], media_root: str | os.PathLike[str] | None = None):
    """:func:`trl_rows` as a ``datasets.Dataset`` whose ``images`` decode to PIL images when a row is read."""
    import datasets

    rows = trl_rows(path, media_root)
    if not rows:
        raise ValueError(f"{path}: no records")
    dataset = datasets.Dataset.from_list(rows)
    return dataset.cast_column("images", datasets.List(datasets.Image()))
