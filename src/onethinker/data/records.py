"""Corpus records and streaming readers for JSON lists, JSONL and parquet.

A record is one training or evaluation sample in the released OneThinker format::

    {"problem": "<image>What colour is the circle?", "problem_type": "multiple choice", "data_type": "image",
     "options": ["A. red", "B. blue"], "answer": "B", "images": ["media/0001.png"]}

``answer`` may be spelled ``solution`` and may be wrapped in ``<answer>...</answer>``. Any other field is kept
(``sft_response``, ``mask``, ``response``, ...). Files are read one record at a time: a JSON list is parsed
incrementally, JSONL line by line, parquet batch by batch, so a large corpus is never held in memory twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = ["Record", "RecordError", "iter_raw", "read_records", "record_problems"]

_CHUNK = 1 << 20  # JSON-list reader chunk (characters)
_MAX_OBJECT = 64 << 20  # a single JSON-list element larger than this is treated as malformed


class RecordError(ValueError):
    """A record that cannot be used; ``str()`` is ``FILE:LINE: field: what is wrong``."""

    def __init__(self, file: str | os.PathLike[str], line: int, field: str, problem: str) -> None:
        self.file, self.line, self.field, self.problem = str(file), line, field, problem
        super().__init__(f"{self.file}:{line}: {field}: {problem}")


class Record(BaseModel):
    """One corpus sample. Unknown fields are preserved (``record.model_extra``)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, coerce_numbers_to_str=True)

    problem: str
    problem_type: str
    data_type: str
    options: list[str] | None = None
    answer: str = Field(validation_alias=AliasChoices("answer", "solution"))
    images: list[str] = Field(default_factory=list)
    videos: list[str] = Field(default_factory=list)
    problem_id: str | int | None = None
    fps: float | None = None
    resolution: tuple[int, int] | None = None
    benchmark: str | None = None

    @field_validator("data_type", mode="before")
    @classmethod
    def _normalise_data_type(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("images", "videos", mode="before")
    @classmethod
    def _as_path_list(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        return value

    @property
    def key(self) -> str:
        """The task registry key (``onethinker.tasks.task_key(problem_type, data_type)``)."""
        from onethinker.tasks import task_key

        return task_key(self.problem_type, self.data_type)

    @property
    def media(self) -> list[str]:
        """The record's media paths: its images, then its videos."""
        return [*self.images, *self.videos]

    @property
    def ground_truth(self) -> str:
        """The answer without an ``<answer>...</answer>`` wrapper."""
        from onethinker.tasks import strip_answer_tags

        return strip_answer_tags(self.answer)

    def extra(self, name: str, default: Any = None) -> Any:
        """A preserved extra field (``sft_response``, ``mask``, ``masks``, ``response``, ...)."""
        return (self.model_extra or {}).get(name, default)


def _field_name(loc: tuple) -> str:
    if not loc:
        return "record"
    name = str(loc[0])
    for part in loc[1:]:
        name += f"[{part}]" if isinstance(part, int) else f".{part}"
    return name


def record_problems(error: ValidationError) -> list[tuple[str, str]]:
    """``(field, message)`` for every schema error of a record."""
    out = []
    for item in error.errors(include_url=False):
        loc = item.get("loc", ())
        if loc and loc[0] in ("answer", "solution") and item.get("type") == "missing":
            out.append(("answer", "missing (also accepted as 'solution')"))
            continue
        message = item.get("msg", "invalid")
        if item.get("type") == "missing":
            message = "missing"
        out.append((_field_name(loc), message))
    return out


# --------------------------------------------------------------------------------------------- readers
def _detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(4096)
            if not chunk:
                return "jsonl"
            stripped = chunk.lstrip(b" \t\r\n\xef\xbb\xbf")  # whitespace and a UTF-8 BOM
            if stripped:
                return "json" if stripped[:1] == b"[" else "jsonl"


def _json_error(err: json.JSONDecodeError) -> str:
    return f"not valid JSON ({err.msg} at column {err.colno})"


try:  # optional: orjson parses a line ~4x faster; json gives the error messages and handles huge ints
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - depends on the environment
    _fast_loads = None


def _iter_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    fast, loads = _fast_loads, json.loads
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            if fast is not None:
                try:
                    yield number, fast(line)
                    continue
                except ValueError:
                    pass  # let json decide, and word the error
            try:
                yield number, loads(line)
            except json.JSONDecodeError as err:
                yield number, RecordError(path, number, "json", _json_error(err))
            except UnicodeDecodeError as err:
                yield number, RecordError(path, number, "json", f"not UTF-8 text ({err.reason})")


def _iter_json_list(path: Path) -> Iterator[tuple[int, Any]]:
    """Elements of a top-level JSON array, decoded one at a time from a sliding buffer."""
    decoder = json.JSONDecoder()
    whitespace = " \t\r\n"
    with open(path, encoding="utf-8-sig") as handle:
        buffer, pos, eof = "", 0, False

        def fill() -> bool:
            nonlocal buffer, pos, eof
            chunk = handle.read(_CHUNK)
            if not chunk:
                eof = True
                return False
            buffer = buffer[pos:] + chunk
            pos = 0
            return True

        def skip_ws() -> None:
            nonlocal pos
            while True:
                while pos < len(buffer) and buffer[pos] in whitespace:
                    pos += 1
                if pos < len(buffer) or eof or not fill():
                    return

        skip_ws()
        if pos >= len(buffer) or buffer[pos] != "[":
            yield 1, RecordError(path, 1, "json", "a .json corpus must be a JSON list of records (or JSONL)")
            return
        pos += 1
        index = 0
        expect_value = True
        while True:
            skip_ws()
            if pos >= len(buffer):
                yield index + 1, RecordError(path, index + 1, "json", "file ends inside the JSON list (missing ']')")
                return
            char = buffer[pos]
            if char == "]" and (index == 0 or not expect_value):
                return
            if not expect_value:
                if char != ",":
                    yield index + 1, RecordError(path, index + 1, "json", f"expected ',' or ']' after record {index}")
                    return
                pos += 1
                expect_value = True
                continue
            while True:
                try:
                    value, end = decoder.raw_decode(buffer, pos)
                    # a number cut at the chunk boundary decodes too: only trust a value that ends inside
                    if end >= len(buffer) and not eof and fill():
                        continue
                    break
                except json.JSONDecodeError as err:
                    if eof or len(buffer) - pos > _MAX_OBJECT or not fill():
                        message = _json_error(err) + "; the rest of the list cannot be read"
                        yield index + 1, RecordError(path, index + 1, "json", message)
                        return
            index += 1
            pos = end
            expect_value = False
            yield index, value


def _iter_parquet(path: Path) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq

    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=2048):
        for row in batch.to_pylist():
            number += 1
            yield number, row


def iter_raw(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any]]:
    """``(line, object)`` for every record of a corpus file, undecoded.

    ``object`` is the parsed JSON value, or a :class:`RecordError` for a line that is not JSON (reading goes
    on with the next line; a syntax error inside a JSON list ends it). ``line`` is the 1-based line of a
    JSONL file, the element index + 1 of a JSON list, the row index + 1 of a parquet file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    kind = _detect_format(path)
    if kind == "parquet":
        return _iter_parquet(path)
    if kind == "json":
        return _iter_json_list(path)
    return _iter_jsonl(path)


def parse_record(path: str | os.PathLike[str], line: int, raw: Any) -> Record:
    """Validate one raw object as a :class:`Record` with a known task; :class:`RecordError` otherwise."""
    from onethinker.tasks import UnknownTaskError

    if isinstance(raw, RecordError):
        raise raw
    if not isinstance(raw, dict):
        raise RecordError(path, line, "record", f"must be a JSON object, got {type(raw).__name__}")
    try:
        record = Record.model_validate(raw)
    except ValidationError as err:
        field, message = record_problems(err)[0]
        raise RecordError(path, line, field, message) from None
    try:
        record.key
    except UnknownTaskError as err:
        raise RecordError(path, line, "problem_type", str(err)) from None
    return record


def read_records(path: str | os.PathLike[str], *, skip_bad: bool = False) -> Iterator[tuple[int, Record]]:
    """Stream ``(line, Record)`` from a JSON list, JSONL or parquet file.

    A record that is not JSON, misses a required field or names an unknown task raises :class:`RecordError`
    (``FILE:LINE: field: what is wrong``); with ``skip_bad=True`` it is skipped instead. For full checks of
    answers and media, use :func:`onethinker.data.validate.validate_file`.
    """
    for line, raw in iter_raw(path):
        try:
            yield line, parse_record(path, line, raw)
        except RecordError:
            if not skip_bad:
                raise
