"""SFT examples from either corpus format.

* Corpus records (``problem``, ``problem_type``, ``data_type``, ``answer``, ``images``/``videos``) with an
  ``sft_response``: the prompt is built by ``onethinker.data.build_messages`` (published wording), the
  target is the response.
* ShareGPT lines (the released ``onethinker_sft_*.json``): ``messages`` with ``user`` / ``assistant`` turns
  (or ``from``/``value`` with ``human``/``gpt``) and ``images`` / ``videos``; ``<image>`` / ``<video>`` in the
  user text mark where media go, in list order. The last assistant turn is the target.

Bad lines raise :class:`SFTDataError` naming ``FILE:LINE: field: what is wrong``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class SFTDataError(ValueError):
    """An SFT line that cannot be used; the message is ``FILE:LINE: field: what is wrong``."""


@dataclass
class SFTExample:
    """One supervised example: chat messages up to the assistant turn, and the target response."""

    messages: list[dict]
    response: str
    task: str | None
    source: str


_ROLE = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}
_MEDIA = re.compile(r"<(image|video)>")


def read_sft_examples(path: str | Path, media_root: str | Path | None = None) -> list[SFTExample]:
    """All examples of an SFT file (JSON list, JSONL or parquet; either format, see module doc)."""
    path = Path(path)
    root = Path(media_root) if media_root is not None else path.resolve().parent
    rows = list(_raw_rows(path))
    if rows and "messages" not in rows[0][1] and "conversations" not in rows[0][1]:
        return _from_records(path, root)
    return [_from_sharegpt(row, f"{path}:{line}", root) for line, row in rows]


def _raw_rows(path: Path) -> Iterator[tuple[int, dict]]:
    if not path.is_file():
        raise SFTDataError(f"{path}: file not found")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for i, row in enumerate(pq.read_table(path).to_pylist(), 1):
            yield i, row
        return
    text = path.read_text()
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SFTDataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
        for i, row in enumerate(data, 1):
            if not isinstance(row, dict):
                raise SFTDataError(f"{path}:{i}: item {i} is not an object")
            yield i, row
        return
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SFTDataError(f"{path}:{i}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise SFTDataError(f"{path}:{i}: a line must be a JSON object")
        yield i, row


def _from_records(path: Path, root: Path) -> list[SFTExample]:
    from onethinker.data import build_messages, read_records

    out = []
    for line, record in read_records(path):
        extra = record.model_extra or {}
        response = extra.get("sft_response")
        if not isinstance(response, str) or not response.strip():
            raise SFTDataError(f"{path}:{line}: sft_response: missing (SFT needs the chain-of-thought target)")
        out.append(SFTExample(build_messages(record, root), response, record.key, f"{path}:{line}"))
    return out


def _from_sharegpt(row: dict[str, Any], where: str, root: Path) -> SFTExample:
    turns = row.get("messages", row.get("conversations"))
    if not isinstance(turns, list) or not turns:
        raise SFTDataError(f"{where}: messages: must be a non-empty list of turns")
    media = {"image": _paths(row, "images", where), "video": _paths(row, "videos", where)}
    used = {"image": 0, "video": 0}
    messages: list[dict] = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise SFTDataError(f"{where}: messages[{i}]: must be an object")
        role = _ROLE.get(str(turn.get("role", turn.get("from", ""))).lower())
        content = turn.get("content", turn.get("value"))
        if role is None:
            raise SFTDataError(f"{where}: messages[{i}].role: must be user/assistant/system, got "
                               f"{turn.get('role', turn.get('from'))!r}")
        if not isinstance(content, str):
            raise SFTDataError(f"{where}: messages[{i}].content: must be a string")
        if role == "assistant":
            messages.append({"role": role, "content": content})
            continue
        parts: list[dict] = []
        pos = 0
        for match in _MEDIA.finditer(content):
            if match.start() > pos:
                parts.append({"type": "text", "text": content[pos : match.start()]})
            kind = match.group(1)
            if used[kind] >= len(media[kind]):
                raise SFTDataError(f"{where}: {kind}s: the text has more <{kind}> placeholders than "
                                   f"{kind}s ({len(media[kind])})")
            parts.append({"type": kind, kind: str(root / media[kind][used[kind]])})
            used[kind] += 1
            pos = match.end()
        if pos < len(content):
            parts.append({"type": "text", "text": content[pos:]})
        messages.append({"role": role, "content": parts})
    for kind in ("image", "video"):
        if used[kind] != len(media[kind]):
            raise SFTDataError(f"{where}: {kind}s: {len(media[kind])} given but {used[kind]} <{kind}> "
                               "placeholders in the text")
    if messages[-1]["role"] != "assistant":
        raise SFTDataError(f"{where}: messages: the last turn must be the assistant's response")
    task = None
    if isinstance(row.get("problem_type"), str):
        from onethinker.tasks import UnknownTaskError, task_key

        try:
            task = task_key(row["problem_type"], row.get("data_type"))
        except UnknownTaskError:
            task = None
    return SFTExample(messages[:-1], messages[-1]["content"], task, where)


def _paths(row: dict, key: str, where: str) -> list[str]:
    value = row.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SFTDataError(f"{where}: {key}: must be a list of paths")
    return value
