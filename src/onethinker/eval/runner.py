"""``eval run``: answer a benchmark with a model and append the predictions as they finish.

Two backends produce responses:

- :class:`HFBackend`: a local Hugging Face checkpoint, batched ``generate`` (``onethinker.models``).
- :class:`OpenAIBackend`: any OpenAI-compatible chat server (``vllm serve``, SGLang). Images and sampled video
  frames go inline as base64 data URLs; requests run with bounded concurrency, a timeout, and retries with
  exponential backoff on connection errors, timeouts, 429 and 5xx.

Each finished item is appended to the predictions file (the corpus record plus ``response`` and
``bench_line``) and flushed, so an interrupted run loses nothing: a rerun reads the file, drops a torn last
line, and skips the items already there (keyed by ``problem_id`` when every record has a distinct one, else by
line number in the benchmark file). Items that still fail after the retries are not written; the summary
counts them and a rerun tries them again.
"""

from __future__ import annotations

import base64
import io
import json
import random
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["eval_media", "GenerationSettings", "HFBackend", "OpenAIBackend", "RunSummary", "ServerError",
           "is_url", "run_benchmark"]


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding for evaluation (the published evaluation decodes greedily with up to 8192 new tokens)."""

    max_new_tokens: int = 8192
    temperature: float = 0.0
    top_p: float = 1.0


def eval_media():
    """Media budgets for evaluation (a ``MediaSettings``)."""
    from onethinker.models.encode import MediaSettings

    # The published evaluation budgets: images up to 1024*32*32 pixels, video frames up to 256*32*32 pixels,
    # 2 fps, at most 128 frames.
    return MediaSettings(image_max_pixels=1024 * 32 * 32, video_fps=2.0, video_max_frames=128,
                         video_max_pixels=256 * 32 * 32)


def is_url(model: str) -> bool:
    return str(model).startswith(("http://", "https://"))


class ServerError(RuntimeError):
    """A request the server answered with an error, or that still failed after the retries."""


# ----------------------------------------------------------------------------------------------------------
# backends: responses(records, media_root) yields (position, response text | exception) as items finish
# ----------------------------------------------------------------------------------------------------------


class HFBackend:
    """A local Hugging Face checkpoint answering in batches of ``batch_size`` records."""

    def __init__(self, model_path: str | Path, *, device: str = "cpu", dtype: str = "auto", batch_size: int = 8,
                 settings: GenerationSettings | None = None, media=None, model=None, processor=None):
        self.model_path = str(model_path)
        self.device, self.dtype = device, dtype
        self.batch_size = max(1, int(batch_size))
        self.settings = settings or GenerationSettings()
        self.media = media
        self.model, self.processor = model, processor

    def _load(self) -> None:
        if self.model is None:
            from onethinker.models import load_model

            self.model, self.processor = load_model(self.model_path, dtype=self.dtype, device=self.device,
                                                    trainable=False)

    def _generate(self, records: Sequence) -> list[str]:
        from onethinker.models.generate import generate_responses

        out = generate_responses(
            self.model, self.processor, list(records), self.media_root,
            max_new_tokens=self.settings.max_new_tokens, temperature=self.settings.temperature,
            top_p=self.settings.top_p, batch_size=len(records), media=self.media or eval_media(),
        )
        return [texts[0] for texts in out]

    def responses(self, records: Sequence, media_root=None) -> Iterator[tuple[int, str | Exception]]:
        if not records:
            return
        self._load()
        self.media_root = media_root
        for start in range(0, len(records), self.batch_size):
            chunk = records[start : start + self.batch_size]
            try:
                texts = self._generate(chunk)
            except Exception:  # one bad item (unreadable media) must not sink its batch: retry them singly
                for offset, record in enumerate(chunk):
                    try:
                        yield start + offset, self._generate([record])[0]
                    except Exception as exc:
                        yield start + offset, exc
                continue
            for offset, text in enumerate(texts):
                yield start + offset, text


def _jpeg_data_url(image) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class OpenAIBackend:
    """An OpenAI-compatible ``/v1/chat/completions`` server.

    Args:
        base_url: ``http://host:port`` or ``http://host:port/v1``.
        model_name: the served model's name; ``None`` asks ``/v1/models`` (first entry).
        concurrency: requests in flight at once.
        timeout_s: per-request timeout.
        max_retries: retries after the first attempt, for connection errors, timeouts, 408/409/425/429, 5xx.
        backoff_s: first retry delay; doubles each retry (with jitter), capped at 30 s; ``Retry-After`` wins.
        video_format: ``"video"`` sends a video's sampled frames as one ``video_url`` part
            (``data:video/jpeg;base64,<frame>,<frame>,...``, the form vLLM accepts, with the sampling fps in
            ``mm_processor_kwargs``); ``"images"`` sends them as consecutive ``image_url`` parts (any server).
    """

    def __init__(self, base_url: str, *, model_name: str | None = None, api_key: str | None = None,
                 concurrency: int = 8, timeout_s: float = 600.0, max_retries: int = 4, backoff_s: float = 1.0,
                 settings: GenerationSettings | None = None, media=None, video_format: str = "video"):
        import httpx

        base = base_url.rstrip("/")
        self.base_url = base if base.endswith("/v1") else base + "/v1"
        self.concurrency = max(1, int(concurrency))
        self.timeout_s = float(timeout_s)
        self.max_retries = max(0, int(max_retries))
        self.backoff_s = float(backoff_s)
        self.settings = settings or GenerationSettings()
        self.media = media
        if video_format not in ("video", "images"):
            raise ValueError(f"video_format must be 'video' or 'images', got {video_format!r}")
        self.video_format = video_format
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        self.client = httpx.Client(timeout=self.timeout_s, headers=headers, limits=limits)
        self._model_name = model_name
        self._lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    @property
    def model_name(self) -> str:
        with self._lock:
            if self._model_name is None:
                self._model_name = self._discover_model()
            return self._model_name

    def _discover_model(self) -> str:
        try:
            reply = self.client.get(f"{self.base_url}/models", timeout=min(self.timeout_s, 30.0))
            reply.raise_for_status()
            return str(reply.json()["data"][0]["id"])
        except Exception:
            return "default"

    # -- request body ---------------------------------------------------------------------------------------

    def messages(self, record, media_root=None) -> tuple[list[dict], dict]:
        """OpenAI chat messages for a record (media inline), and extra body fields."""
        from onethinker.data import build_messages
        from onethinker.data.media import load_image, load_video

        media = self.media or eval_media()
        extra: dict[str, Any] = {}
        out = []
        for message in build_messages(record, media_root):
            content = message["content"]
            if isinstance(content, str):
                out.append({"role": message["role"], "content": content})
                continue
            parts = []
            for part in content:
                kind = part.get("type")
                if kind == "text":
                    parts.append({"type": "text", "text": part["text"]})
                elif kind == "image":
                    image = load_image(part["image"], min_pixels=media.image_min_pixels,
                                       max_pixels=media.image_max_pixels)
                    url = "data:image/jpeg;base64," + _jpeg_data_url(image)
                    parts.append({"type": "image_url", "image_url": {"url": url}})
                elif kind == "video":
                    from PIL import Image

                    video = load_video(part["video"], fps=media.video_fps, max_frames=media.video_max_frames,
                                       min_pixels=media.video_min_pixels, max_pixels=media.video_max_pixels)
                    frames = [_jpeg_data_url(Image.fromarray(f)) for f in video.frames]
                    if self.video_format == "video":
                        url = "data:video/jpeg;base64," + ",".join(frames)
                        parts.append({"type": "video_url", "video_url": {"url": url}})
                        extra["mm_processor_kwargs"] = {"fps": float(video.sample_fps), "do_sample_frames": False}
                    else:
                        parts += [{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + f}}
                                  for f in frames]
            out.append({"role": message["role"], "content": parts})
        return out, extra

    def complete(self, record, media_root=None) -> str:
        """One chat completion with retries; raises :class:`ServerError` when it cannot get an answer."""
        import httpx

        messages, extra = self.messages(record, media_root)
        body = {"model": self.model_name, "messages": messages, "max_tokens": self.settings.max_new_tokens,
                "temperature": self.settings.temperature, "top_p": self.settings.top_p, **extra}
        problem = "no attempt made"
        for attempt in range(self.max_retries + 1):
            wait = None
            try:
                reply = self.client.post(f"{self.base_url}/chat/completions", json=body)
            except httpx.HTTPError as exc:  # timeouts, refused or reset connections
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if reply.status_code == 200:
                    try:
                        content = reply.json()["choices"][0]["message"]["content"]
                    except (ValueError, KeyError, IndexError, TypeError):
                        problem = f"malformed completion body: {reply.text[:200]!r}"
                    else:
                        return content if isinstance(content, str) else ""
                elif reply.status_code in (408, 409, 425, 429) or reply.status_code >= 500:
                    problem = f"HTTP {reply.status_code}: {reply.text[:200]}"
                    wait = _retry_after(reply)
                else:
                    raise ServerError(f"HTTP {reply.status_code}: {reply.text[:300]}")
            if attempt < self.max_retries:
                delay = wait if wait is not None else self.backoff_s * (2**attempt) * (0.5 + random.random())
                time.sleep(min(delay, 30.0))
        raise ServerError(f"no answer after {self.max_retries + 1} attempts ({problem})")

    def responses(self, records: Sequence, media_root=None) -> Iterator[tuple[int, str | Exception]]:
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="onethinker-eval") as pool:
            futures = {pool.submit(self.complete, record, media_root): i for i, record in enumerate(records)}
            for future in as_completed(futures):
                try:
                    yield futures[future], future.result()
                except Exception as exc:
                    yield futures[future], exc


def _retry_after(reply) -> float | None:
    value = reply.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


# ----------------------------------------------------------------------------------------------------------
# the run loop: resume, append, progress
# ----------------------------------------------------------------------------------------------------------


@dataclass
class RunSummary:
    total: int
    skipped: int
    written: int
    failures: list[tuple[int, str]] = field(default_factory=list)


def _record_dict(record) -> dict[str, Any]:
    if hasattr(record, "model_dump"):
        return record.model_dump(mode="json")
    return dict(record)


def _item_keys(records: Sequence[tuple[int, Any]]) -> tuple[str, list[Any]]:
    ids = [getattr(r, "problem_id", None) if not isinstance(r, dict) else r.get("problem_id") for _, r in records]
    if all(i is not None for i in ids) and len({json.dumps(i) for i in ids}) == len(ids):
        return "problem_id", [json.dumps(i) for i in ids]
    return "bench_line", [json.dumps(line) for line, _ in records]


def _done_keys(out: Path, field_name: str) -> set[str]:
    """Keys already in a predictions file; a torn last line (interrupted write) is cut off first."""
    if not out.exists():
        return set()
    data = out.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with out.open("r+b") as fh:
            fh.truncate(cut)
        data = data[:cut]
    done = set()
    for raw in data.decode("utf-8").splitlines():
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and row.get(field_name) is not None and isinstance(row.get("response"), str):
            done.add(json.dumps(row[field_name]))
    return done


def run_benchmark(bench: str | Path, out: str | Path, backend, media_root=None, *, limit: int | None = None,
                  show_progress: bool = True, model_label: str | None = None) -> RunSummary:
    """Answer every not-yet-answered record of ``bench`` with ``backend`` and append to ``out``.

    Raises ``onethinker.data.RecordError`` (file, line, field) for a malformed benchmark file.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    from onethinker.data import read_records

    bench, out = Path(bench), Path(out)
    records = list(read_records(bench))
    if limit is not None:
        records = records[:limit]
    key_field, keys = _item_keys(records)
    done = _done_keys(out, key_field)
    todo = [(line, record) for (line, record), key in zip(records, keys) if key not in done]
    summary = RunSummary(total=len(records), skipped=len(records) - len(todo), written=0)
    out.parent.mkdir(parents=True, exist_ok=True)
    columns = (TextColumn("[bold]eval[/bold] {task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with out.open("a", encoding="utf-8") as fh, Progress(*columns, disable=not show_progress) as progress:
        task = progress.add_task(bench.name, total=len(todo))
        for position, result in backend.responses([record for _, record in todo], media_root):
            line, record = todo[position]
            if isinstance(result, Exception):
                summary.failures.append((line, f"{type(result).__name__}: {result}"))
            else:
                row = _record_dict(record)
                row["response"] = result
                row["bench_line"] = line
                if model_label:
                    row["model"] = model_label
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                fh.flush()
                summary.written += 1
            progress.advance(task)
    return summary
