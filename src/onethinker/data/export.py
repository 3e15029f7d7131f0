"""Export a corpus to the parquet layout veRL's ``RLHFDataset`` reads.

One row per record:

* ``data_source``: the record's ``benchmark`` or ``"onethinker"`` (veRL passes it to the reward function);
* ``prompt``: chat messages ``[{"role": "user", "content": TEXT}]`` where TEXT is the exact published prompt
  (:func:`onethinker.tasks.prompt_text`) with one ``<image>`` / ``<video>`` placeholder per media item
  (veRL splits the text at the placeholders; media without one are placed first, as
  :func:`~onethinker.data.build_messages` does);
* ``images``: ``[{"image": ABS_PATH}]`` or null; ``videos``: ``[{"video": ABS_PATH, "fps": ..,
  "max_frames": .., "min_pixels": .., "max_pixels": ..}]`` or null (qwen-vl-utils ``fetch_image`` /
  ``fetch_video`` arguments: the published sampling of 2 fps, at most 128 frames, 64*32*32 pixels per frame);
* ``ability``: the task key;
* ``reward_model``: ``{"style": "rule", "ground_truth": ANSWER}`` (``<answer>`` wrapper removed);
* ``extra_info``: ``{"index", "problem_id", "problem_type", "data_type", "task_key"}`` (what our veRL reward
  function needs to score the response).

Rows are written in batches, so the corpus is never held in memory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from onethinker.data.messages import PLACEHOLDER, resolve_media
from onethinker.data.records import read_records

__all__ = ["export_verl", "verl_row", "verl_schema"]


def verl_schema():
    """The pyarrow schema of the exported parquet."""
    import pyarrow as pa

    return pa.schema(
        [
            ("data_source", pa.string()),
            ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
            ("images", pa.list_(pa.struct([("image", pa.string())]))),
            (
                "videos",
                pa.list_(
                    pa.struct(
                        [
                            ("video", pa.string()),
                            ("fps", pa.float64()),
                            ("max_frames", pa.int64()),
                            ("min_pixels", pa.int64()),
                            ("max_pixels", pa.int64()),
                        ]
                    )
                ),
            ),
            ("ability", pa.string()),
            ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
            (
                "extra_info",
                pa.struct(
                    [
                        ("index", pa.int64()),
                        ("problem_id", pa.string()),
                        ("problem_type", pa.string()),
                        ("data_type", pa.string()),
                        ("task_key", pa.string()),
                    ]
                ),
            ),
        ]
    )


def verl_row(
    record,
    index: int,
    media_root: str | os.PathLike[str] | None,
    *,
    video_fps: float = 2.0,
    max_frames: int = 128,
    video_min_pixels: int = 4 * 32 * 32,
    video_max_pixels: int = 64 * 32 * 32,
) -> dict:
    """The veRL row for one :class:`~onethinker.data.Record`."""
    from onethinker.tasks import prompt_text

    key = record.key
    text = prompt_text(record.problem, key, record.options)
    placed = {"image": 0, "video": 0}
    for match in PLACEHOLDER.finditer(record.problem):
        placed[match.group(1)] += 1
    lead = "<image>" * max(0, len(record.images) - placed["image"])
    lead += "<video>" * max(0, len(record.videos) - placed["video"])
    images = [{"image": resolve_media(p, media_root)} for p in record.images] or None
    videos = [
        {
            "video": resolve_media(p, media_root),
            "fps": float(video_fps),
            "max_frames": int(max_frames),
            "min_pixels": int(video_min_pixels),
            "max_pixels": int(video_max_pixels),
        }
        for p in record.videos
    ] or None
    return {
        "data_source": record.benchmark or "onethinker",
        "prompt": [{"role": "user", "content": lead + text}],
        "images": images,
        "videos": videos,
        "ability": key,
        "reward_model": {"style": "rule", "ground_truth": record.ground_truth},
        "extra_info": {
            "index": index,
            "problem_id": None if record.problem_id is None else str(record.problem_id),
            "problem_type": record.problem_type,
            "data_type": record.data_type,
            "task_key": key,
        },
    }


def export_verl(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    media_root: str | os.PathLike[str] | None = None,
    skip_bad: bool = False,
    batch_size: int = 4096,
    on_record: Callable[[], None] | None = None,
    **media_options,
) -> int:
    """Write ``path``'s records to ``out`` (parquet) for veRL; return the number of rows.

    ``media_root`` defaults to the corpus file's folder; paths in the parquet are absolute. A bad record
    raises :class:`~onethinker.data.RecordError` unless ``skip_bad``. ``media_options``: ``video_fps``,
    ``max_frames``, ``video_min_pixels``, ``video_max_pixels`` (see :func:`verl_row`).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    root = Path(media_root) if media_root is not None else path.parent
    schema = verl_schema()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    count = 0
    tmp = out.with_name(out.name + ".partial")
    try:
        with pq.ParquetWriter(tmp, schema) as writer:
            for _, record in read_records(path, skip_bad=skip_bad):
                rows.append(verl_row(record, count, root, **media_options))
                count += 1
                if on_record is not None:
                    on_record()
                if len(rows) >= batch_size:
                    writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                    rows.clear()
            if rows:
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return count
