"""Video loading speed: ``onethinker.data.media.load_video`` against plain PyAV and qwen-vl-utils.

Generates panning-texture H.264 clips (x264 veryfast, GOP 250, like typical downloaded video), then times,
per clip size, the seconds per clip of:

* ``ours``: ``load_video`` (packet index, only the packets sampled frames need, GOP-parallel decoding);
* ``ours, 1 thread``: the same on one decoder thread (what the skipping alone buys);
* ``pyav full decode``: PyAV decoding every frame, converting only the sampled ones to the target size;
* ``qwen-vl-utils``: ``fetch_video`` with its decord backend, when installed (``FORCE_QWENVL_VIDEO_READER``).

All paths sample the same frames (qwen-vl-utils' policy, 2 fps, at most 128 frames, 64*32*32 pixels per
frame). Each is timed in this process after one warm-up call; the best of ``--repeats`` runs is reported.
For the cross-implementation anchor with fresh processes and peak memory, run
``../shared/bench/decode_anchor.py --candidate onethinker.data.media:load_video`` (see docs/data.md).

    python benchmarks/video_decode.py              # 2 x 20 s 640x360 and 1 x 40 s 1280x720
    python benchmarks/video_decode.py --long       # 2 x 30 s 640x360 and 2 x 120 s 1280x720
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

FPS = 30


def write_clip(path: Path, width: int, height: int, seconds: float, seed: int) -> None:
    """A smooth random texture panning right, with two bouncing squares."""
    import av

    rng = np.random.default_rng(seed)
    coarse = rng.uniform(30, 220, (height // 16 + 2, (width + 2048) // 16 + 2, 3))
    texture = np.kron(coarse, np.ones((16, 16, 1)))[:height, : width + 2048].astype(np.uint8)
    squares = [(rng.uniform(0, width - 60), rng.uniform(0, height - 60), rng.uniform(-4, 4), rng.uniform(-3, 3),
                rng.integers(0, 256, 3).astype(np.uint8)) for _ in range(2)]
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {"preset": "veryfast", "crf": "23", "x264-params": "keyint=250"}
        for i in range(int(seconds * FPS)):
            offset = (2 * i) % 2048
            image = texture[:, offset : offset + width].copy()
            for x, y, vx, vy, color in squares:
                px = int(abs((x + vx * i) % (2 * (width - 60)) - (width - 60)))
                py = int(abs((y + vy * i) % (2 * (height - 60)) - (height - 60)))
                image[py : py + 60, px : px + 60] = color
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def pyav_full_decode(path, fps=2.0, max_frames=128, max_pixels=64 * 32 * 32, min_pixels=4 * 32 * 32):
    """The straightforward loader: decode every frame in order, convert the sampled ones."""
    import av

    from onethinker.data.media import sample_frame_indices, smart_resize

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO"
        total = stream.frames
        indices = sample_frame_indices(total, float(stream.average_rate), fps=fps, max_frames=max_frames)
        height, width = smart_resize(stream.codec_context.height, stream.codec_context.width,
                                     min_pixels=min_pixels, max_pixels=max_pixels)
        wanted = set(indices.tolist())
        frames = []
        for i, frame in enumerate(container.decode(stream)):
            if i in wanted:
                frames.append(frame.to_ndarray(format="rgb24", width=width, height=height,
                                               interpolation="BICUBIC"))
            if i >= indices[-1]:
                break
    return np.stack(frames)


def qwen_decord(path, fps=2.0, max_frames=128, max_pixels=64 * 32 * 32, min_pixels=4 * 32 * 32):
    from qwen_vl_utils import fetch_video

    return fetch_video({"video": str(path), "fps": fps, "max_frames": max_frames, "max_pixels": max_pixels,
                        "min_pixels": min_pixels}, image_patch_size=16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--long", action="store_true", help="the anchor's clip lengths (slower to generate)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-qwen", action="store_true", help="skip qwen-vl-utils even when installed")
    args = parser.parse_args()

    from onethinker.data.media import load_video

    os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")
    paths = {
        "ours": load_video,
        "ours, 1 thread": lambda p, **k: load_video(p, threads=1, **k),
        "pyav full decode": pyav_full_decode,
    }
    if not args.no_qwen:
        try:
            import decord  # noqa: F401
            import qwen_vl_utils  # noqa: F401

            paths["qwen-vl-utils (decord)"] = qwen_decord
        except ImportError:
            print("qwen-vl-utils or decord not installed: skipping that path")
    sizes = [("640x360", 640, 360, 30 if args.long else 20, 2), ("1280x720", 1280, 720, 120 if args.long else 40,
                                                                   2 if args.long else 1)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm.mp4"
        write_clip(warm, 160, 96, 2, seed=99)
        for name, fn in paths.items():
            fn(warm)
        for label, width, height, seconds, count in sizes:
            clips = []
            for k in range(count):
                clip = Path(tmp) / f"{label}_{k}.mp4"
                write_clip(clip, width, height, seconds, seed=k)
                clips.append(clip)
            baseline = None
            for name, fn in paths.items():
                per_clip = []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    for clip in clips:
                        out = fn(clip)
                    per_clip.append((time.perf_counter() - start) / len(clips))
                frames = out.frames if hasattr(out, "frames") else out
                best = min(per_clip)
                baseline = baseline or best
                rows.append((label, f"{seconds:.0f} s", name, len(frames), best, statistics.median(per_clip),
                             best / baseline))
    print(f"{'size':<9} {'clip':>5} {'path':<24} {'frames':>6} {'best s':>7} {'median s':>8} {'time / ours':>11}")
    for label, clip, name, frames, best, median, ratio in rows:
        print(f"{label:<9} {clip:>5} {name:<24} {frames:>6} {best:>7.3f} {median:>8.3f} {ratio:>11.2f}")


if __name__ == "__main__":
    main()
