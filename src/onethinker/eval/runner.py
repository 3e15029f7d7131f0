"""``eval run``: answer a benchmark with a model and append the predictions as they finish.

Two backends produce responses:

- :class:`HFBackend`: a local Hugging Face checkpoint, batched ``generate`` (``onethinker.models``).
- :class:`OpenAIBackend`: any OpenAI-compatible chat server (``vllm serve``, SGLang, ``transformers serve``,
  hosted APIs). Media are decoded and resized here, under the same budgets the HF backend uses, and go inline
  (images as lossless PNG data URLs), so the server is handed the pixels our HF backend sees. Fields only some
  servers accept (vLLM's ``mm_processor_kwargs``, ``transformers serve``'s ``chat_template_kwargs``) are sent
  only to that server kind (``server=``, detected from ``/v1/models`` when ``"auto"``). A reply whose reasoning
  was split off into ``reasoning_content`` / ``reasoning`` (vLLM's reasoning parsers, ``transformers serve``) is
  put back together as ``<think>reasoning</think>content``. Requests run with bounded concurrency, a timeout,
  and retries with exponential backoff on connection errors, timeouts, 429 and 5xx.

Each finished item is appended to the predictions file (the corpus record plus ``response`` and
``bench_line``) and flushed, so an interrupted run loses nothing: a rerun reads the file, drops a torn last
line, and skips the items already there (keyed by ``problem_id`` when every record has a distinct one, else by
line number in the benchmark file). Items that still fail after the retries are not written; the summary
counts them and a rerun tries them again. Every row carries ``eval_settings`` (backend, decoding, media
budgets), and a rerun with different settings into the same file is refused, so a file is one reproducible run.
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

__all__ = ["eval_media", "GenerationSettings", "HFBackend", "OpenAIBackend", "RunSummary", "SERVER_KINDS",
           "ServerError", "SettingsMismatch", "assemble_response", "is_url", "run_benchmark"]

SERVER_KINDS = ("auto", "vllm", "sglang", "transformers", "generic")
VIDEO_FORMATS = ("video", "images")


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding for evaluation (the published evaluation decodes greedily with up to 8192 new tokens)."""

    max_new_tokens: int = 8192
    temperature: float = 0.0
    top_p: float = 1.0


def eval_media(**overrides):
    """Media budgets for evaluation (a ``MediaSettings``): the published evaluation's unless overridden."""
    from onethinker.models.encode import MediaSettings

    # The published evaluation budgets: images up to 1024*32*32 pixels, video frames up to 256*32*32 pixels,
    # 2 fps, at most 128 frames.
    settings = dict(image_max_pixels=1024 * 32 * 32, video_fps=2.0, video_max_frames=128,
                    video_max_pixels=256 * 32 * 32)
    settings.update({k: v for k, v in overrides.items() if v is not None})
    for name, value in settings.items():
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value}")
    media = MediaSettings(**settings)
    for kind in ("image", "video"):
        low, high = getattr(media, f"{kind}_min_pixels"), getattr(media, f"{kind}_max_pixels")
        if low > high:
            raise ValueError(f"{kind}_min_pixels ({low}) is above {kind}_max_pixels ({high})")
    return media


def media_dict(media) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(media)


def is_url(model: str) -> bool:
    return str(model).startswith(("http://", "https://"))


class ServerError(RuntimeError):
    """A request the server answered with an error, or that still failed after the retries."""


class SettingsMismatch(ValueError):
    """A predictions file written with other settings than this run's (mixing them would not be one run)."""


def assemble_response(message: dict, finish_reason: str | None = None) -> str:
    """The response text the rewards read, from an OpenAI chat ``message``.

    Servers with a reasoning parser return the thinking apart from the answer (``reasoning_content`` in vLLM
    and ``transformers serve``, ``reasoning`` in newer vLLM and some hosted APIs); it goes back in front as
    ``<think>...</think>``. A ``content`` that already holds ``<think>`` is returned as it is. A reply cut by
    the token budget (``finish_reason == "length"``) with no content never closed its thinking, so the
    ``</think>`` is not made up for it (the text is then what the model generated, as the HF backend gives it).
    """
    content = message.get("content")
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    content = content if isinstance(content, str) else ""
    reasoning = next((message[k] for k in ("reasoning_content", "reasoning") if isinstance(message.get(k), str)),
                     None)
    if reasoning is None or "<think>" in content:
        return content
    if finish_reason == "length" and not content:
        return f"<think>{reasoning}"
    return f"<think>{reasoning}</think>{content}"


# ----------------------------------------------------------------------------------------------------------
# backends: responses(records, media_root) yields (position, response text | exception) as items finish
# ----------------------------------------------------------------------------------------------------------


class HFBackend:
    """A local Hugging Face checkpoint answering in batches of up to ``batch_size`` records of one task."""

    def __init__(self, model_path: str | Path, *, device: str = "cpu", dtype: str = "auto", batch_size: int = 8,
                 settings: GenerationSettings | None = None, media=None, model=None, processor=None):
        self.model_path = str(model_path)
        self.device, self.dtype = device, dtype
        self.batch_size = max(1, int(batch_size))
        self.settings = settings or GenerationSettings()
        self.media = media or eval_media()
        self.model, self.processor = model, processor

    def describe(self) -> dict[str, Any]:
        """What a predictions row records about how it was produced."""
        return {"backend": "hf", "model": self.model_path, "dtype": self.dtype, "media": media_dict(self.media),
                "generation": _generation_dict(self.settings)}

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
            top_p=self.settings.top_p, batch_size=len(records), media=self.media,
        )
        return [texts[0] for texts in out]

    def responses(self, records: Sequence, media_root=None) -> Iterator[tuple[int, str | Exception]]:
        if not records:
            return
        self._load()
        self.media_root = media_root
        from onethinker.models.generate import positions_by_task

        for positions in positions_by_task(records):  # batched task by task (positions say which record)
            for start in range(0, len(positions), self.batch_size):
                chunk = positions[start : start + self.batch_size]
                try:
                    texts = self._generate([records[i] for i in chunk])
                except Exception:  # one bad item (unreadable media) must not sink its batch: retry them singly
                    for i in chunk:
                        try:
                            yield i, self._generate([records[i]])[0]
                        except Exception as exc:
                            yield i, exc
                    continue
                yield from zip(chunk, texts)


def _data_url(image, kind: str = "png") -> str:
    """An RGB image inline: lossless PNG (the server decodes exactly our pixels), or JPEG where a server's video
    form requires it (vLLM's ``data:video/jpeg``)."""
    buffer = io.BytesIO()
    if kind == "jpeg":
        image.convert("RGB").save(buffer, format="JPEG", quality=95)
    else:
        image.convert("RGB").save(buffer, format="PNG", compress_level=1)
    return f"data:image/{kind};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class OpenAIBackend:
    """An OpenAI-compatible ``/v1/chat/completions`` server.

    Args:
        base_url: ``http://host:port`` or ``http://host:port/v1``.
        model_name: the served model's name; ``None`` asks ``/v1/models`` (first entry).
        server: which server this is, for the fields only it accepts: ``"vllm"`` (``mm_processor_kwargs``:
            no resizing, and the sampling fps of a video), ``"transformers"`` (``transformers serve``:
            ``chat_template_kwargs`` reach its processor, so no resizing), ``"sglang"`` and ``"generic"``
            (standard fields only), or ``"auto"``: detected from ``/v1/models`` (``owned_by`` ``vllm`` /
            ``sglang``; a ``status`` entry is ``transformers serve``), else generic.
        concurrency: requests in flight at once.
        timeout_s: per-request timeout.
        max_retries: retries after the first attempt, for connection errors, timeouts, 408/409/425/429, 5xx.
        backoff_s: first retry delay; doubles each retry (with jitter), capped at 30 s; ``Retry-After`` wins.
        media: pixel and frame budgets (:func:`eval_media` by default), applied here before sending.
        factor: sides are resized to multiples of this (``patch_size * merge_size``: 32 for Qwen3-VL, 28 for
            Qwen2.5-VL), as the HF backend does, so the server's processor has nothing to round.
        video_format: ``"video"`` sends a video's sampled frames as one ``video_url`` part
            (``data:video/jpeg;base64,<frame>,<frame>,...`` with the sampling fps in ``mm_processor_kwargs``: the
            form vLLM accepts, so vLLM only); ``"images"`` sends them as consecutive ``image_url`` parts (any
            server; the model then sees images, not a video). ``None``: ``"video"`` for vLLM, else ``"images"``.
    """

    def __init__(self, base_url: str, *, model_name: str | None = None, api_key: str | None = None,
                 server: str = "auto", concurrency: int = 8, timeout_s: float = 600.0, max_retries: int = 4,
                 backoff_s: float = 1.0, settings: GenerationSettings | None = None, media=None, factor: int = 32,
                 video_format: str | None = None):
        import httpx

        base = base_url.rstrip("/")
        self.base_url = base if base.endswith("/v1") else base + "/v1"
        if server not in SERVER_KINDS:
            raise ValueError(f"server must be one of {', '.join(SERVER_KINDS)}, got {server!r}")
        if video_format is not None and video_format not in VIDEO_FORMATS:
            raise ValueError(f"video_format must be 'video' or 'images', got {video_format!r}")
        self.concurrency = max(1, int(concurrency))
        self.timeout_s = float(timeout_s)
        self.max_retries = max(0, int(max_retries))
        self.backoff_s = float(backoff_s)
        self.settings = settings or GenerationSettings()
        self.media = media or eval_media()
        self.factor = int(factor)
        self._requested_server, self._video_format = server, video_format
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        self.client = httpx.Client(timeout=self.timeout_s, headers=headers, limits=limits)
        self._model_name = model_name
        self._server: str | None = None if server == "auto" else server
        self._models: list | None = None
        self._lock = threading.Lock()
        if self._server is not None:
            self._check_video_format()

    def close(self) -> None:
        self.client.close()

    # -- what the server is ---------------------------------------------------------------------------------

    def _list_models(self) -> list | None:
        """``/v1/models``'s entries, or ``None`` when the server does not answer it (asked again next time)."""
        if self._models is None:
            try:
                reply = self.client.get(f"{self.base_url}/models", timeout=min(self.timeout_s, 30.0))
                reply.raise_for_status()
                self._models = [m for m in reply.json()["data"] if isinstance(m, dict)]
            except Exception:
                return None
        return self._models

    @property
    def model_name(self) -> str:
        with self._lock:
            if self._model_name is None:
                models = self._list_models()
                if models is None:
                    return "default"  # unknown for now; a later call asks again
                self._model_name = str(models[0]["id"]) if models and "id" in models[0] else "default"
            return self._model_name

    @property
    def server(self) -> str:
        """The server kind in use (detected on first use when constructed with ``server="auto"``)."""
        with self._lock:
            if self._server is None:
                # Not answering /v1/models: standard fields only, for the whole run, so every request (and the
                # eval_settings on every row) is of one kind.
                self._server = detect_server(self._list_models() or [])
                self._check_video_format()
            return self._server

    @property
    def video_format(self) -> str:
        server = self.server
        return self._video_format or ("video" if server == "vllm" else "images")

    def _check_video_format(self) -> None:
        if self._video_format == "video" and self._server != "vllm":
            how = "detected" if self._requested_server == "auto" else "given"
            raise ValueError(
                f"--video-format video sends vLLM's JPEG-frame video_url with mm_processor_kwargs, which only vLLM "
                f"accepts, but the server is {self._server!r} ({how}); use --video-format images, or --server vllm "
                f"if this is a vLLM server")

    def describe(self) -> dict[str, Any]:
        """What a predictions row records about how it was produced."""
        return {"backend": "server", "server": self.server, "model": self.model_name,
                "video_format": self.video_format, "vision_factor": self.factor, "media": media_dict(self.media),
                "generation": _generation_dict(self.settings)}

    # -- request body ---------------------------------------------------------------------------------------

    def messages(self, record, media_root=None) -> tuple[list[dict], dict]:
        """OpenAI chat messages for a record (media inline, resized here), and the server-specific body fields."""
        from PIL import Image

        from onethinker.data import build_messages
        from onethinker.data.media import load_image, load_video

        media, server, video_format = self.media, self.server, self.video_format
        extra: dict[str, Any] = {}
        has_media = False
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
                    has_media = True
                    image = load_image(part["image"], min_pixels=media.image_min_pixels,
                                       max_pixels=media.image_max_pixels, factor=self.factor)
                    parts.append({"type": "image_url", "image_url": {"url": _data_url(image)}})
                elif kind == "video":
                    has_media = True
                    video = load_video(part["video"], fps=media.video_fps, max_frames=media.video_max_frames,
                                       min_pixels=media.video_min_pixels, max_pixels=media.video_max_pixels,
                                       factor=self.factor)
                    frames = [Image.fromarray(f) for f in video.frames]
                    if video_format == "video":
                        payload = ",".join(_data_url(f, "jpeg").split(",", 1)[1] for f in frames)
                        parts.append({"type": "video_url", "video_url": {"url": "data:video/jpeg;base64," + payload}})
                        extra.setdefault("mm_processor_kwargs", {}).update(
                            fps=float(video.sample_fps), do_sample_frames=False)
                    else:
                        parts += [{"type": "image_url", "image_url": {"url": _data_url(f)}} for f in frames]
            out.append({"role": message["role"], "content": parts})
        if has_media and server == "vllm":  # vLLM hands these to the HF processor: keep our sizes
            extra.setdefault("mm_processor_kwargs", {})["do_resize"] = False
        elif has_media and server == "transformers":  # transformers serve passes these on to its processor
            extra["chat_template_kwargs"] = {"do_resize": False}
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
                        choice = reply.json()["choices"][0]
                        message = choice["message"]
                    except (ValueError, KeyError, IndexError, TypeError):
                        problem = f"malformed completion body: {reply.text[:200]!r}"
                    else:
                        return assemble_response(message if isinstance(message, dict) else {},
                                                 choice.get("finish_reason"))
                elif reply.status_code in (408, 409, 425, 429) or reply.status_code >= 500:
                    problem = f"HTTP {reply.status_code}: {reply.text[:200]}"
                    wait = _retry_after(reply)
                else:
                    hint = ""
                    if extra and any(name in reply.text for name in extra):
                        hint = (f" (the server refused the {', '.join(sorted(extra))} sent for --server "
                                f"{self.server}; pass the right --server, or --server generic)")
                    raise ServerError(f"HTTP {reply.status_code}: {reply.text[:300]}{hint}")
            if attempt < self.max_retries:
                delay = wait if wait is not None else self.backoff_s * (2**attempt) * (0.5 + random.random())
                time.sleep(min(delay, 30.0))
        raise ServerError(f"no answer after {self.max_retries + 1} attempts ({problem})")

    def responses(self, records: Sequence, media_root=None) -> Iterator[tuple[int, str | Exception]]:
        if not records:
            return
        self.server  # detect (and check the video format) once, before the workers start
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="onethinker-eval") as pool:
            futures = {pool.submit(self.complete, record, media_root): i for i, record in enumerate(records)}
            for future in as_completed(futures):
                try:
                    yield futures[future], future.result()
                except Exception as exc:
                    yield futures[future], exc


def detect_server(models: list) -> str:
    """The server kind from a ``/v1/models`` listing: vLLM and SGLang name themselves in ``owned_by``;
    ``transformers serve`` gives each model a ``status``; anything else is generic."""
    for entry in models:
        if not isinstance(entry, dict):
            continue
        owner = str(entry.get("owned_by", "")).lower()
        if owner in ("vllm", "sglang"):
            return owner
        if isinstance(entry.get("status"), dict):
            return "transformers"
    return "generic"


def _generation_dict(settings: GenerationSettings) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(settings)


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
    settings: dict[str, Any] | None = None  # the backend's eval_settings, written on every row


def _record_dict(record) -> dict[str, Any]:
    if hasattr(record, "model_dump"):
        return record.model_dump(mode="json")
    return dict(record)


def _item_keys(records: Sequence[tuple[int, Any]]) -> tuple[str, list[Any]]:
    ids = [getattr(r, "problem_id", None) if not isinstance(r, dict) else r.get("problem_id") for _, r in records]
    if all(i is not None for i in ids) and len({json.dumps(i) for i in ids}) == len(ids):
        return "problem_id", [json.dumps(i) for i in ids]
    return "bench_line", [json.dumps(line) for line, _ in records]


def _done_keys(out: Path, field_name: str, settings: dict | None = None) -> set[str]:
    """Keys already in a predictions file; a torn last line (interrupted write) is cut off first.

    With ``settings``, rows written with other ``eval_settings`` raise :class:`SettingsMismatch`.
    """
    if not out.exists():
        return set()
    data = out.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with out.open("r+b") as fh:
            fh.truncate(cut)
        data = data[:cut]
    done = set()
    for number, raw in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and row.get(field_name) is not None and isinstance(row.get("response"), str):
            theirs = row.get("eval_settings")
            if settings is not None and theirs is not None and theirs != settings:
                changed = sorted(k for k in set(settings) | set(theirs) if settings.get(k) != theirs.get(k))
                raise SettingsMismatch(
                    f"{out}:{number}: eval_settings: this file was written with other settings "
                    f"({', '.join(f'{k}: {theirs.get(k)!r} there, {settings.get(k)!r} now' for k in changed)}); "
                    f"rerun with the same settings to resume, or write to a new --out")
            done.add(json.dumps(row[field_name]))
    return done


def run_benchmark(bench: str | Path, out: str | Path, backend, media_root=None, *, limit: int | None = None,
                  show_progress: bool = True, model_label: str | None = None) -> RunSummary:
    """Answer every not-yet-answered record of ``bench`` with ``backend`` and append to ``out``.

    Raises ``onethinker.data.RecordError`` (file, line, field) for a malformed benchmark file, and
    :class:`SettingsMismatch` when ``out`` holds rows from a run with other settings.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    from onethinker.data import read_records

    bench, out = Path(bench), Path(out)
    records = list(read_records(bench))
    if limit is not None:
        records = records[:limit]
    key_field, keys = _item_keys(records)
    settings = backend.describe() if hasattr(backend, "describe") else None
    done = _done_keys(out, key_field, settings)
    todo = [(line, record) for (line, record), key in zip(records, keys) if key not in done]
    summary = RunSummary(total=len(records), skipped=len(records) - len(todo), written=0, settings=settings)
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
                if settings is not None:
                    row["eval_settings"] = settings
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                fh.flush()
                summary.written += 1
            progress.advance(task)
    return summary
