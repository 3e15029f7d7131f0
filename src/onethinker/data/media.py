"""Image and video loading under the Qwen-VL pixel budgets.

Images are resized so both sides are multiples of the processor's patch factor (``2 * patch_size``: 32 for
Qwen3-VL) and the area lies within ``[min_pixels, max_pixels]``. Videos are decoded with PyAV and sampled
with qwen-vl-utils' policy (``n = floor2(min(max(duration * fps, 4), max_frames, total))`` frames evenly
spaced over the whole clip), so a model fine-tuned on frames from qwen-vl-utils sees the same frames here;
each returned frame carries its presentation timestamp in seconds, which temporal tasks need.

The video path is faster than decoding every frame: it indexes the packets first (no decoding), then feeds
the decoder only the packets a sampled frame depends on. H.264 frames that no other frame references
(``nal_ref_idc == 0``) are skipped unless sampled, and so is the rest of an IDR-closed GOP after its last
sampled frame; only the sampled frames are converted, straight to the target size, into a preallocated
array. Decoding is the same bit-exact process as a full decode, so the frames are identical to it.

Every failure (missing file, not a media file, no video stream, undecodable data) raises
:class:`MediaError` naming the file.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "MediaError",
    "Video",
    "VideoInfo",
    "load_image",
    "load_video",
    "probe_image",
    "probe_video",
    "sample_frame_indices",
    "smart_resize",
]

MAX_ASPECT_RATIO = 200  # qwen-vl-utils refuses more extreme shapes; so do we


class MediaError(RuntimeError):
    """An image or video that cannot be read; the message starts with the file's path."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


# --------------------------------------------------------------------------------------------- policy
def smart_resize(
    height: int, width: int, *, factor: int = 32, min_pixels: int = 4 * 32 * 32, max_pixels: int = 1024 * 32 * 32
) -> tuple[int, int]:
    """Target ``(height, width)``: sides multiples of ``factor``, area in ``[min_pixels, max_pixels]``.

    The Qwen-VL rule: round each side to the nearest multiple; if the area is too large scale both sides down
    (flooring to the factor), if too small scale them up (ceiling). The aspect ratio is kept as far as the
    factor allows.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise ValueError(f"aspect ratio {max(height, width) / min(height, width):.0f} exceeds {MAX_ASPECT_RATIO}")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return int(h_bar), int(w_bar)


def sample_frame_indices(
    total_frames: int, source_fps: float, *, fps: float = 2.0, max_frames: int = 128, min_frames: int = 4
) -> np.ndarray:
    """Indices (presentation order) of the frames to sample, qwen-vl-utils' policy.

    ``n = floor2(min(max(total / source_fps * fps, ceil2(min_frames)), floor2(max_frames), total))`` frames,
    evenly spaced from the first to the last frame (``round(linspace(0, total - 1, n))``). ``n`` is even
    because Qwen-VL merges frames in pairs; a clip of a single frame still yields that frame.
    """
    if total_frames <= 0:
        return np.zeros(0, dtype=np.int64)
    lo = math.ceil(min_frames / 2) * 2
    hi = math.floor(max_frames / 2) * 2
    wanted = total_frames / source_fps * fps if source_fps > 0 else float(total_frames)
    n = min(max(wanted, lo), hi, total_frames)
    n = max(int(math.floor(n / 2) * 2), 1)
    return np.round(np.linspace(0, total_frames - 1, n)).astype(np.int64)


# --------------------------------------------------------------------------------------------- images
def _open_image(path: str | os.PathLike[str]):
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path)
        image.load()
    except FileNotFoundError:
        raise MediaError(path, "file not found") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise MediaError(path, f"not a readable image ({err})") from None
    return image


def load_image(
    path: str | os.PathLike[str],
    *,
    min_pixels: int = 4 * 32 * 32,
    max_pixels: int = 1024 * 32 * 32,
    factor: int = 32,
):
    """An RGB ``PIL.Image`` resized (bicubic) so its sides are multiples of ``factor`` within the budget."""
    from PIL import Image

    image = _open_image(path)
    try:
        height, width = smart_resize(
            image.height, image.width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels
        )
    except ValueError as err:
        raise MediaError(path, str(err)) from None
    if image.mode != "RGB":
        image = image.convert("RGB")
    if (width, height) != image.size:
        image = image.resize((width, height), Image.Resampling.BICUBIC)
    return image


def probe_image(path: str | os.PathLike[str]) -> tuple[int, int]:
    """``(width, height)`` of an image after decoding it fully (raises :class:`MediaError` if it cannot)."""
    image = _open_image(path)
    return image.width, image.height


# --------------------------------------------------------------------------------------------- videos
@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video stream (no frames decoded beyond the first)."""

    path: str
    width: int
    height: int
    source_fps: float
    num_frames: int
    duration: float  # seconds


@dataclass(frozen=True)
class Video:
    """Sampled frames of one video.

    Attributes:
        frames: ``np.uint8 [T, H, W, 3]`` RGB, resized to the pixel budget.
        timestamps: ``np.float64 [T]`` presentation time of each frame in seconds (first frame at 0).
        source_fps: the stream's average frame rate.
        duration: clip length in seconds (``num_frames / source_fps`` for constant frame rate).
        width, height: original frame size.
        frame_indices: ``[T]`` index of each frame in the clip's presentation order.
        num_frames: frames in the clip.
        path: the file.
    """

    frames: np.ndarray
    timestamps: np.ndarray
    source_fps: float
    duration: float
    width: int
    height: int
    frame_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    num_frames: int = 0
    path: str = ""

    @property
    def sample_fps(self) -> float:
        """Frames per second of the sampled sequence (what Qwen-VL's processor calls the video fps)."""
        if self.num_frames <= 0 or self.source_fps <= 0:
            return float(len(self.frames))
        return len(self.frames) / self.num_frames * self.source_fps

    def metadata(self) -> dict[str, Any]:
        """Keyword fields of ``transformers.video_utils.VideoMetadata`` for these frames.

        Pass it (or ``VideoMetadata(**video.metadata())``) as ``video_metadata`` with ``do_sample_frames=False``
        so Qwen3-VL's processor prints the right timestamps into the prompt.
        """
        return {
            "total_num_frames": int(self.num_frames),
            "fps": float(self.source_fps),
            "width": int(self.width),
            "height": int(self.height),
            "duration": float(self.duration),
            "video_backend": "pyav",
            "frames_indices": [int(i) for i in self.frame_indices],
        }


def _open_container(path: str | os.PathLike[str]):
    import av

    if not Path(path).is_file():
        raise MediaError(path, "file not found")
    try:
        container = av.open(str(path))
    except av.FFmpegError as err:
        raise MediaError(path, f"not a readable video ({err})") from None
    if not container.streams.video:
        container.close()
        raise MediaError(path, "no video stream")
    return container


@dataclass
class _PacketIndex:
    """Presentation-ordered pts of every frame, plus what decoding needs to know about each packet."""

    pts: list[int]  # decode order
    reference: list[bool]  # decode order: may another frame depend on this one?
    closed_gop_start: list[bool]  # decode order: an IDR frame (nothing after it looks back past it)


_H264_SLICE_TYPES = (1, 5)


def _h264_nal_length_size(extradata: bytes | None) -> int | None:
    """NAL length prefix size of AVCC-framed H.264 (the MP4/MKV form); ``None`` for Annex B or unknown."""
    if not extradata or len(extradata) < 7 or extradata[0] != 1:
        return None
    return (extradata[4] & 3) + 1


def _h264_packet_flags(data: memoryview, length_size: int) -> tuple[bool, bool]:
    """(is a reference picture, is an IDR picture) from an AVCC packet's slice NAL headers."""
    offset, size = 0, len(data)
    reference = idr = False
    seen_slice = False
    while offset + length_size < size:
        nal_size = int.from_bytes(data[offset : offset + length_size], "big")
        header = data[offset + length_size]
        nal_type = header & 0x1F
        if nal_type in _H264_SLICE_TYPES:
            seen_slice = True
            reference |= (header >> 5) & 3 != 0
            idr |= nal_type == 5
        offset += length_size + nal_size
    if not seen_slice:  # data partitioning or something unusual: be safe, decode it
        return True, False
    return reference, idr


def _index_packets(container, stream) -> _PacketIndex | None:
    """Demux once (no decoding). ``None`` when packets lack timestamps (then we decode in order)."""
    length_size = None
    if stream.codec_context.name == "h264":
        length_size = _h264_nal_length_size(stream.codec_context.extradata)
    pts: list[int] = []
    reference: list[bool] = []
    idr: list[bool] = []
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        if packet.pts is None:
            return None
        pts.append(packet.pts)
        if length_size is None:
            reference.append(True)
            idr.append(False)
        else:
            is_ref, is_idr = _h264_packet_flags(memoryview(packet), length_size)
            reference.append(is_ref or is_idr)
            idr.append(is_idr and packet.is_keyframe)
    return _PacketIndex(pts, reference, idr)


def _packets_to_send(index: _PacketIndex, targets: set[int]) -> list[bool]:
    """Per packet (decode order): must the decoder see it so every target frame decodes exactly?

    A target itself, and any reference frame that precedes, within the same IDR-closed GOP, a target later
    in decode order. Without IDR information the whole clip counts as one GOP (then every reference frame
    before the last target is sent, which is always safe).
    """
    n = len(index.pts)
    send = [False] * n
    pending_target_later = False  # walking backwards: is there a target later in this GOP?
    for i in range(n - 1, -1, -1):
        is_target = index.pts[i] in targets
        if is_target:
            send[i] = True
        elif index.reference[i] and pending_target_later:
            send[i] = True
        pending_target_later = pending_target_later or is_target
        if index.closed_gop_start[i]:
            # frames before an IDR never serve frames after it
            pending_target_later = False
    return send


def _configure_threads(stream, threads: int | None) -> None:
    threads = _thread_budget(threads)
    if threads > 1:
        stream.codec_context.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
    else:
        stream.codec_context.thread_type = "NONE"
        stream.codec_context.thread_count = 1


def _thread_budget(threads: int | None) -> int:
    if threads is not None:
        return max(1, int(threads))
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    return min(available, 8)


_SEEK_GAP = 48  # packets: a shorter stretch of unneeded packets is demuxed through rather than seeked over


def _plan_runs(index: _PacketIndex, send: list[bool]) -> list[tuple[int, int, int]]:
    """Closed GOPs that hold needed packets, as ``(start, stop, cost)`` packet-position ranges.

    ``stop`` is one past the GOP's last needed packet; ``cost`` is how many packets it decodes. Without IDR
    information the whole clip is one range.
    """
    starts = [0] + [i for i, idr in enumerate(index.closed_gop_start) if idr and i > 0]
    bounds = starts + [len(send)]
    runs = []
    for start, end in zip(bounds[:-1], bounds[1:]):
        needed = [i for i in range(start, end) if send[i]]
        if needed:
            runs.append((start, needed[-1] + 1, len(needed)))
    return runs


def _split_runs(runs: list[tuple[int, int, int]], workers: int) -> list[list[tuple[int, int, int]]]:
    """Contiguous shares of the runs with roughly equal decoding cost, at most ``workers`` of them."""
    if workers <= 1 or len(runs) <= 1:
        return [runs]
    total = sum(cost for _, _, cost in runs)
    shares: list[list[tuple[int, int, int]]] = [[]]
    done = 0
    for run in runs:
        boundary = total * len(shares) / workers
        if shares[-1] and len(shares) < workers and done + run[2] / 2 > boundary:
            shares.append([])
        shares[-1].append(run)
        done += run[2]
    return shares


@dataclass
class _DecodeJob:
    """Decodes the needed packets of some runs and writes the sampled frames into the shared output."""

    path: str
    index: _PacketIndex
    send: list[bool]
    slots: dict[int, list[int]]
    frames: np.ndarray
    filled: np.ndarray
    out_w: int
    out_h: int
    interpolation: str
    decoder_threads: int = 1

    def run(self, runs: list[tuple[int, int, int]]) -> None:
        from av.video.reformatter import VideoReformatter

        position_of = {pts: i for i, pts in enumerate(self.index.pts)}
        # One scaler for all frames: building a swscale context per frame costs more than the scaling.
        scaler = VideoReformatter()
        container = _open_container(self.path)
        try:
            stream = container.streams.video[0]
            _configure_threads(stream, self.decoder_threads)
            decoder = stream.codec_context
            packets = None
            pending = None
            landed = True  # set False after each seek until the first packet is checked
            next_position = -1  # decode position of the next packet the demuxer yields (-1: not started)
            for start, stop, _ in runs:
                if packets is None or next_position > start or start - next_position > _SEEK_GAP:
                    if packets is not None:
                        self._take_all(decoder.decode(None), scaler)
                    container.seek(self.index.pts[start], stream=stream, backward=True, any_frame=False)
                    packets = container.demux(stream)
                    pending = None
                    landed = False
                while True:
                    packet = pending if pending is not None else next(packets, None)
                    pending = None
                    if packet is None:
                        break
                    if packet.size == 0 or packet.pts not in position_of:
                        continue
                    position = position_of[packet.pts]
                    if not landed:
                        landed = True
                        if position > start:  # the seek overshot (bad index): read from the beginning
                            container.seek(0, stream=stream, backward=True, any_frame=False)
                            packets = container.demux(stream)
                            continue
                    if position < start:
                        continue
                    if position >= stop:
                        pending, next_position = packet, position
                        break
                    next_position = position + 1
                    if self.send[position]:
                        self._take_all(decoder.decode(packet), scaler)
            self._take_all(decoder.decode(None), scaler)
        finally:
            container.close()

    def _take_all(self, decoded, scaler) -> None:
        for frame in decoded:
            slots = self.slots.get(frame.pts)
            if slots is None:
                continue
            rgb = scaler.reformat(
                frame, width=self.out_w, height=self.out_h, format="rgb24", interpolation=self.interpolation
            ).to_ndarray()
            for slot in slots:
                self.frames[slot] = rgb
                self.filled[slot] = True


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Size, frame rate, frame count and duration from the container, checking the first frame decodes."""
    import av

    container = _open_container(path)
    try:
        stream = container.streams.video[0]
        try:
            first = next(container.decode(stream), None)
        except av.FFmpegError as err:
            raise MediaError(path, f"video does not decode ({err})") from None
        if first is None:
            raise MediaError(path, "video stream has no frames")
        fps = float(stream.average_rate or stream.guessed_rate or 0.0)
        num_frames = int(stream.frames or 0)
        duration = 0.0
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        if num_frames <= 0 and fps > 0:
            num_frames = int(round(duration * fps))
        if duration <= 0 and fps > 0:
            duration = num_frames / fps
        return VideoInfo(str(path), first.width, first.height, fps, num_frames, duration)
    finally:
        container.close()


def load_video(
    path: str | os.PathLike[str],
    *,
    fps: float = 2.0,
    max_frames: int = 128,
    min_pixels: int = 4 * 32 * 32,
    max_pixels: int = 64 * 32 * 32,
    factor: int = 32,
    min_frames: int = 4,
    interpolation: str = "BICUBIC",
    threads: int | None = None,
) -> Video:
    """Decode ``path`` at ``fps`` frames per second (at most ``max_frames``), each frame under ``max_pixels``.

    Frames are chosen with :func:`sample_frame_indices` and resized to :func:`smart_resize`'s size for the
    first frame's dimensions. ``threads`` decoder threads (default: the CPUs this process may use, at most
    8; FFmpeg's own default of one more than the cores oversubscribes small machines). Raises :class:`MediaError` naming the file when it cannot be decoded.
    """
    import av

    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    container = _open_container(path)
    try:
        stream = container.streams.video[0]
        try:
            index = _index_packets(container, stream)
        except av.FFmpegError as err:
            raise MediaError(path, f"cannot read the video's packets ({err})") from None
        if index is not None and not index.pts:
            raise MediaError(path, "video stream has no frames")
        width = stream.codec_context.width
        height = stream.codec_context.height
        source_fps = float(stream.average_rate or stream.guessed_rate or 0.0)
        time_base = float(stream.time_base) if stream.time_base is not None else 0.0
    except BaseException:
        container.close()
        raise
    container.close()

    if index is None or len(set(index.pts)) != len(index.pts):
        return _load_video_in_order(
            path, fps, max_frames, min_pixels, max_pixels, factor, min_frames, interpolation, threads
        )

    ordered = sorted(index.pts)
    total = len(ordered)
    first_pts = ordered[0]
    if source_fps <= 0:
        span = (ordered[-1] - first_pts) * time_base
        source_fps = (total - 1) / span if span > 0 else 1.0
    indices = sample_frame_indices(total, source_fps, fps=fps, max_frames=max_frames, min_frames=min_frames)
    slots: dict[int, list[int]] = {}
    for slot, frame_index in enumerate(indices.tolist()):
        slots.setdefault(ordered[frame_index], []).append(slot)
    send = _packets_to_send(index, set(slots))
    try:
        out_h, out_w = smart_resize(height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
    except ValueError as err:
        raise MediaError(path, str(err)) from None
    frames = np.empty((len(indices), out_h, out_w, 3), dtype=np.uint8)
    filled = np.zeros(len(indices), dtype=bool)
    runs = _plan_runs(index, send)
    budget = _thread_budget(threads)
    workers = max(1, min(budget, len(runs)))
    shares = _split_runs(runs, workers)
    job = _DecodeJob(str(path), index, send, slots, frames, filled, out_w, out_h, interpolation,
                     decoder_threads=max(1, budget // len(shares)))
    try:
        if len(shares) == 1:
            job.run(shares[0])
        else:
            # Independent decoders on disjoint closed GOPs: PyAV releases the GIL while decoding, and this
            # scales better than FFmpeg's frame threading (no waiting on reference rows).
            with ThreadPoolExecutor(max_workers=len(shares)) as pool:
                for done in [pool.submit(job.run, share) for share in shares]:
                    done.result()
    except av.FFmpegError as err:
        raise MediaError(path, f"video does not decode ({err})") from None
    if not filled.all():
        missing = int((~filled).sum())
        raise MediaError(path, f"{missing} of {len(indices)} sampled frames did not decode (corrupt stream?)")
    timestamps = (np.asarray([ordered[i] for i in indices.tolist()], dtype=np.float64) - first_pts) * time_base
    duration = (ordered[-1] - first_pts) * time_base + 1.0 / source_fps
    return Video(
        frames=frames,
        timestamps=timestamps,
        source_fps=source_fps,
        duration=float(duration),
        width=int(width),
        height=int(height),
        frame_indices=indices,
        num_frames=total,
        path=str(path),
    )


def _load_video_in_order(
    path, fps, max_frames, min_pixels, max_pixels, factor, min_frames, interpolation, threads
) -> Video:
    """Fallback for streams without packet timestamps: count packets, then decode in order by arrival index."""
    import av

    container = _open_container(path)
    try:
        stream = container.streams.video[0]
        source_fps = float(stream.average_rate or stream.guessed_rate or 0.0) or 25.0
        total = sum(1 for packet in container.demux(stream) if packet.size)
        container.seek(0)
        _configure_threads(stream, threads)
        indices = sample_frame_indices(total, source_fps, fps=fps, max_frames=max_frames, min_frames=min_frames)
        wanted: dict[int, list[int]] = {}
        for slot, i in enumerate(indices.tolist()):
            wanted.setdefault(i, []).append(slot)
        frames: np.ndarray | None = None
        width = height = 0
        try:
            for position, frame in enumerate(container.decode(stream)):
                if frames is None:
                    width, height = frame.width, frame.height
                    try:
                        out_h, out_w = smart_resize(
                            height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels
                        )
                    except ValueError as err:
                        raise MediaError(path, str(err)) from None
                    frames = np.zeros((len(indices), out_h, out_w, 3), dtype=np.uint8)
                if position in wanted:
                    rgb = frame.reformat(width=out_w, height=out_h, format="rgb24", interpolation=interpolation)
                    frames[wanted[position]] = rgb.to_ndarray()
                if position >= indices[-1]:
                    break
        except av.FFmpegError as err:
            raise MediaError(path, f"video does not decode ({err})") from None
        if frames is None:
            raise MediaError(path, "video stream has no frames")
    finally:
        container.close()
    return Video(
        frames=frames,
        timestamps=indices.astype(np.float64) / source_fps,
        source_fps=source_fps,
        duration=total / source_fps,
        width=int(width),
        height=int(height),
        frame_indices=indices,
        num_frames=total,
        path=str(path),
    )
