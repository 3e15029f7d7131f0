"""Corpus records, validation, prompts, media decoding and the synthetic shapes world.

Public names (imported lazily, so ``onethinker.data.media`` stays light for decoding workers)::

    Record, RecordError, read_records      records.py   schema + streaming JSON / JSONL / parquet reader
    build_messages                          messages.py  HF chat messages with the published prompt
    validate_file                           validate.py  every problem as FILE:LINE: field: what is wrong
    corpus_stats                            stats.py     counts, lengths, media durations
    export_verl                             export.py    veRL RLHFDataset parquet
    synthesize                              synth.py     shapes-world corpus for all twelve tasks
    media.load_image, media.load_video, media.MediaError
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Record": "onethinker.data.records",
    "RecordError": "onethinker.data.records",
    "read_records": "onethinker.data.records",
    "iter_raw": "onethinker.data.records",
    "build_messages": "onethinker.data.messages",
    "validate_file": "onethinker.data.validate",
    "corpus_stats": "onethinker.data.stats",
    "export_verl": "onethinker.data.export",
    "synthesize": "onethinker.data.synth",
    "MediaError": "onethinker.data.media",
    "Video": "onethinker.data.media",
    "load_image": "onethinker.data.media",
    "load_video": "onethinker.data.media",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'onethinker.data' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
