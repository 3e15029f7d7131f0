"""The Python API for one question about one image or video: :class:`Predictor` answers it and returns a
typed :class:`Prediction`; :func:`render_overlay` draws the answer (PNG for an image, MP4 for a video).

``onethinker predict`` and ``onethinker demo`` are thin layers over these. How a task's answer is drawn, and
whether it has masks, is the task's business (its spec's ``draw`` / ``masks`` hooks, :mod:`onethinker.viz`).

Example::

    from onethinker import Predictor
    predictor = Predictor("ckpt/")
    result = predictor.predict("cat.jpg", "spatial grounding", "the cat on the left")
    result.value or result.reason
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Prediction", "Predictor", "PredictionError", "iter_media_frames", "media_kind", "read_media_frames",
           "render_overlay"]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})


class PredictionError(ValueError):
    """A request that cannot be answered (unknown task, wrong modality, unreadable media), said plainly."""


@dataclass
class Prediction:
    """One answer. ``value`` is the task's typed answer when it parses; otherwise ``reason`` says why not.

    ``masks`` (segmentation, given a mask backend): boolean ``[T, H, W]`` at the media's resolution, one per
    entry of ``mask_times`` (``[None]`` for an image; for a video every frame, propagated from the keyframe).
    """

    task: str
    data_type: str
    media: Path
    question: str
    response: str
    reasoning: str | None
    answer: str
    value: Any = None
    reason: str | None = None
    masks: np.ndarray | None = field(default=None, repr=False)
    mask_times: list[float | None] | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.reason is None

    def describe(self) -> str:
        """The answer in one readable line (the task's ``describe`` hook), or the parser's reason."""
        if not self.ok:
            return f"does not parse as {self.task}: {self.reason}"
        from onethinker.tasks import get_task

        fn = get_task(self.task).hook("describe")
        return fn(self.value) if fn is not None else str(self.value)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (typed values as plain lists/dicts; masks summarised by their pixel areas)."""
        return {
            "task": self.task, "data_type": self.data_type, "media": str(self.media), "question": self.question,
            "response": self.response, "reasoning": self.reasoning, "answer": self.answer, "ok": self.ok,
            "value": _plain(self.value) if self.ok else None, "reason": self.reason,
            "description": self.describe(),
            "mask_areas": None if self.masks is None else [int(m.sum()) for m in self.masks],
        }


def _plain(value: Any) -> Any:
    """Typed answer values (frozen dataclasses, tuples, dicts keyed by int) as JSON-ready data."""
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def media_kind(path: str | Path) -> str:
    """``"image"`` or ``"video"``: what the file decodes as (not what its name says). Raises
    :class:`PredictionError` naming the file when it is neither."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise PredictionError(f"{path}: no such file")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        try:
            with Image.open(path) as image:
                image.load()
            return "image"
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise PredictionError(f"{path.name}: cannot be decoded as an image ({exc})") from None
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise PredictionError(f"{path.name}: has no video stream")
            stream = container.streams.video[0]
            next(container.decode(stream))  # at least one frame decodes
        return "video"
    except (av.error.FFmpegError, OSError, StopIteration, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or type(exc).__name__  # FFmpeg's reason, without the server's path
        raise PredictionError(f"{path.name}: cannot be decoded as an image or a video ({why})") from None


class Predictor:
    """A model answering questions about single images and videos.

    Args:
        model: a checkpoint folder, or a loaded model (then give its ``processor`` too).
        processor: the model's processor when ``model`` is already loaded.
        device, dtype: where and how a checkpoint folder is loaded.
        mask_backend: ``"auto"``, ``"grabcut"``, ``"sam2"``, a :class:`~onethinker.eval.masks.MaskBackend`,
            or ``None`` for no masks (segmentation answers then carry only their box and points).
        sam2_checkpoint: a local SAM2 model folder (``mask_backend`` ``"sam2"`` / ``"auto"``).
        max_new_tokens, temperature: decoding (``0`` = greedy).
        media: pixel and frame budgets (a ``MediaSettings``); the published evaluation's by default.
    """

    def __init__(self, model: str | Path | Any, processor: Any = None, *, device: str = "cpu", dtype: str = "auto",
                 mask_backend: Any = "auto", sam2_checkpoint: str | Path | None = None, max_new_tokens: int = 2048,
                 temperature: float = 0.0, media: Any = None):
        from onethinker.eval.runner import eval_media

        self.device = device
        self.max_new_tokens = int(max_new_tokens)
        self.temperature = float(temperature)
        self.media = media or eval_media()
        if isinstance(model, (str, Path)):
            path = Path(model).expanduser()
            if not path.exists():
                raise PredictionError(f"model folder {path} does not exist")
            from onethinker.models import load_model
            from onethinker.models.loading import quiet_transformers

            quiet_transformers()
            model, processor = load_model(path, dtype=dtype, device=device, trainable=False)
        elif processor is None:
            raise PredictionError("a loaded model needs its processor: Predictor(model, processor)")
        self.model, self.processor = model, processor
        if isinstance(mask_backend, str):
            from onethinker.eval.masks import get_mask_backend

            mask_backend = get_mask_backend(mask_backend, checkpoint=sam2_checkpoint, device=device)
        self.mask_backend = mask_backend

    def predict(self, media: str | Path, task: str, question: str, *, options: list[str] | None = None,
                data_type: str | None = None) -> Prediction:
        """Answer ``question`` about the image or video at ``media`` as task ``task`` (a registry key or a
        problem type; segmentation resolves by the media's kind). Raises :class:`PredictionError` for a
        request that cannot be answered; an answer that does not parse is a result with a ``reason``."""
        from onethinker.eval.score import answer_text
        from onethinker.models.generate import generate_responses
        from onethinker.tasks import UnknownTaskError, get_task, task_key

        path = Path(media).expanduser().resolve()
        data_type = data_type or media_kind(path)
        try:
            key = task_key(task, data_type)
        except UnknownTaskError as exc:
            raise PredictionError(str(exc)) from None
        spec = get_task(key)
        if data_type not in spec.data_types:
            raise PredictionError(f"task {key!r} takes {' or '.join(spec.data_types)}, not {data_type}")
        if spec.uses_options and not options:
            raise PredictionError(f"task {key!r} needs its options, e.g. 'A. ...', 'B. ...'")
        record = {
            "problem": question, "problem_type": spec.problem_type, "data_type": data_type,
            "options": list(options) if options else None, "answer": "",
            "images": [str(path)] if data_type == "image" else [],
            "videos": [str(path)] if data_type == "video" else [],
        }
        response = generate_responses(self.model, self.processor, [record], None,
                                      max_new_tokens=self.max_new_tokens, temperature=self.temperature,
                                      batch_size=1, media=self.media)[0][0]
        answer = answer_text(response)
        parsed = spec.parse(answer)
        result = Prediction(task=key, data_type=data_type, media=path, question=question, response=response,
                            reasoning=reasoning_text(response), answer=answer,
                            value=parsed.value if parsed.ok else None, reason=parsed.reason)
        masks_hook = spec.hook("masks")
        if result.ok and masks_hook is not None and self.mask_backend is not None:
            frames, times = read_media_frames(path, data_type)
            result.masks = np.asarray(masks_hook(result.value, frames, times, self.mask_backend), dtype=bool)
            result.mask_times = list(times)
        return result


def reasoning_text(response: str) -> str | None:
    """The text inside the first ``<think>...</think>`` (an unclosed one runs to the answer or the end)."""
    import re

    from onethinker.tasks.answer import normalize_tags

    match = re.search(r"<think>(.*?)(?:</think>|<answer>|$)", normalize_tags(response), flags=re.S)
    return match.group(1).strip() if match else None


def iter_media_frames(path: Path, data_type: str):
    """``(frame, time)`` pairs at stored resolution (RGB uint8 ``[H, W, 3]``), decoded one at a time; an
    image is one frame at time ``None``."""
    from onethinker.eval.masks import read_image_rgb

    if data_type == "image":
        yield read_image_rgb(path), None
        return
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for count, frame in enumerate(container.decode(stream)):
            t = float(frame.pts * stream.time_base) if frame.pts is not None else count / 25.0
            yield frame.to_ndarray(format="rgb24"), t


def read_media_frames(path: Path, data_type: str) -> tuple[np.ndarray, list[float | None]]:
    """Every frame at stored resolution (RGB uint8 ``[T, H, W, 3]``) and its time (``[None]`` for an image)."""
    pairs = list(iter_media_frames(path, data_type))
    return np.stack([f for f, _ in pairs]), [t for _, t in pairs]


class _FrameMask:
    """The mask backend the draw hooks see while a result is rendered: it hands back the result's mask for
    the frame being drawn (masks were computed once, propagated through the video) instead of segmenting."""

    name = "precomputed"

    def __init__(self) -> None:
        self.current: np.ndarray | None = None

    def segment_image(self, image: np.ndarray, prompt: Any) -> np.ndarray:
        if self.current is None:
            return np.zeros(image.shape[:2], dtype=bool)
        return self.current

    def segment_video(self, frames: np.ndarray, key_index: int, prompt: Any) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError("masks are already propagated")


def render_overlay(result: Prediction, out: str | Path, *, fps: float | None = None) -> Path:
    """Draw ``result`` on its media: a PNG of the image at its own size, or an MP4 of every video frame
    (same size, frame count and rate) with the answer drawn per frame by the task's ``draw`` hook."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from onethinker.tasks import get_task

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    draw = get_task(result.task).hook("draw") if result.ok else None
    frames = iter_media_frames(result.media, result.data_type)  # streamed: a long video never sits in memory
    first, first_time = next(frames)
    height, width = first.shape[:2]
    mask_source = _FrameMask() if result.masks is not None else None
    mask_at = _mask_lookup(result)
    caption = result.describe()
    font = max(6, min(10, width // 45))

    fig = plt.figure(figsize=(width / 100, height / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))

    def paint(frame: np.ndarray, t: float | None) -> np.ndarray:
        ax.clear()
        ax.set_axis_off()
        ax.imshow(frame, extent=(-0.5, width - 0.5, height - 0.5, -0.5))
        label = caption if t is None else f"t = {t:.1f} s"
        if draw is not None:
            if mask_source is not None:
                mask_source.current = mask_at(t)
            label = draw(ax, frame, t, result.value, mask_source) or label
        ax.set_xlim(-0.5, width - 0.5)
        ax.set_ylim(height - 0.5, -0.5)
        ax.text(3, 3, textwrap.fill(label[:160], max(16, int(width / (font * 0.85)))), color="white",
                fontsize=font, va="top", bbox=dict(facecolor="black", alpha=0.6, pad=2, edgecolor="none"))
        fig.canvas.draw()
        rgba = np.asarray(fig.canvas.buffer_rgba())
        return _fit(rgba[..., :3], height, width)

    try:
        if result.data_type == "image":
            from PIL import Image

            Image.fromarray(paint(first, None)).save(out)
            return out
        import itertools

        _write_mp4(out, (paint(f, t) for f, t in itertools.chain([(first, first_time)], frames)), width, height,
                   fps or _video_rate(result.media))
        return out
    finally:
        plt.close(fig)


def _mask_lookup(result: Prediction):
    if result.masks is None or result.mask_times is None:
        return lambda t: None
    times = result.mask_times
    if times == [None]:
        return lambda t: result.masks[0]
    stamps = np.asarray(times, dtype=np.float64)
    return lambda t: result.masks[int(np.abs(stamps - (t or 0.0)).argmin())]


def _fit(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """The canvas at exactly the media's size (matplotlib may round the figure by a pixel)."""
    if rgb.shape[:2] == (height, width):
        return np.ascontiguousarray(rgb)
    import cv2

    return cv2.resize(np.ascontiguousarray(rgb), (width, height), interpolation=cv2.INTER_AREA)


def _video_rate(path: Path) -> float:
    import av
    from fractions import Fraction

    with av.open(str(path)) as container:
        rate = container.streams.video[0].average_rate
    return float(Fraction(rate)) if rate else 25.0


def _write_mp4(out: Path, frames, width: int, height: int, fps: float) -> None:
    """H.264 MP4 (yuv420p, which browsers play) at the source's rate; odd sizes are padded by one pixel."""
    import av
    from fractions import Fraction

    even_w, even_h = width + width % 2, height + height % 2
    with av.open(str(out), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = even_w, even_h, "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast", "movflags": "+faststart"}
        for rgb in frames:
            if (even_h, even_w) != rgb.shape[:2]:
                rgb = np.pad(rgb, ((0, even_h - height), (0, even_w - width), (0, 0)), mode="edge")
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
