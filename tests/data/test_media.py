"""Image and video loading: pixel budgets, qwen-vl-utils frame sampling, exact timestamps, clear errors."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from onethinker.data.media import (
    MediaError,
    load_image,
    load_video,
    probe_image,
    probe_video,
    sample_frame_indices,
    smart_resize,
)


def write_index_video(path, n_frames: int, fps: int, width: int = 96, height: int = 64, *, gop: int = 12,
                      bframes: int = 2) -> None:
    """An H.264 clip of flat frames: red 8 * (i % 30) + 4, green 8 * (i // 30) + 4, so a frame names its index."""
    import av

    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_count = 1
        stream.codec_context.options = {
            "preset": "veryfast", "crf": "10",
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={bframes}",
        }
        for i in range(n_frames):
            color = np.array([8 * (i % 30) + 4, 8 * (i // 30) + 4, 128], np.uint8)
            frame = av.VideoFrame.from_ndarray(np.tile(color, (height, width, 1)), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def frame_index(frame: np.ndarray) -> int:
    red, green = (int(round((float(frame[..., c].mean()) - 4) / 8)) for c in (0, 1))
    return red + 30 * green


# ----------------------------------------------------------------------------------------------- policy
def test_smart_resize_matches_qwen_on_hand_computed_sizes():
    # 640x360 under 64*32*32: 352x640 is too big; beta = sqrt(360*640/65536) = 1.875 -> floor to 192x320
    assert smart_resize(360, 640, factor=32, min_pixels=4096, max_pixels=65536) == (192, 320)
    # already within budget: sides round to the nearest multiple of 32
    assert smart_resize(100, 130, factor=32, min_pixels=4096, max_pixels=1 << 20) == (96, 128)
    # too small: 20x20 needs 4096 pixels -> beta = 3.2 -> ceil(64 / 32) * 32 = 64
    assert smart_resize(20, 20, factor=32, min_pixels=4096, max_pixels=65536) == (64, 64)
    with pytest.raises(ValueError, match="aspect ratio"):
        smart_resize(10, 2500)


def test_sample_frame_indices_follow_the_qwen_policy():
    # 30 s at 30 fps, 2 fps -> 60 frames spread over the whole clip
    idx = sample_frame_indices(900, 30.0, fps=2.0, max_frames=128)
    assert len(idx) == 60 and idx[0] == 0 and idx[-1] == 899
    # 120 s at 30 fps would want 240 frames: capped at 128
    assert len(sample_frame_indices(3600, 30.0, fps=2.0, max_frames=128)) == 128
    # 3 s at 4 fps: 6 frames of 12 -> round(linspace(0, 11, 6)) = [0, 2, 4, 7, 9, 11]
    assert sample_frame_indices(12, 4.0, fps=2.0).tolist() == [0, 2, 4, 7, 9, 11]
    # at least 4 frames even for a 1 s clip; an odd cap is floored to an even count
    assert sample_frame_indices(30, 30.0, fps=2.0).tolist() == [0, 10, 19, 29]
    assert len(sample_frame_indices(3600, 30.0, fps=2.0, max_frames=7)) == 6


# ----------------------------------------------------------------------------------------------- images
def test_load_image_resizes_into_the_budget_on_multiples_of_the_factor(tmp_path):
    path = tmp_path / "big.png"
    Image.new("L", (1000, 700), 128).save(path)
    image = load_image(path, min_pixels=4 * 32 * 32, max_pixels=64 * 32 * 32, factor=32)
    assert image.mode == "RGB"
    assert image.width % 32 == 0 and image.height % 32 == 0
    assert image.width * image.height <= 64 * 32 * 32
    assert image.size == (288, 192)  # beta = sqrt(700000 / 65536); floor(1000 / beta / 32) * 32 = 288
    assert probe_image(path) == (1000, 700)


def test_load_image_errors_name_the_file(tmp_path):
    missing = tmp_path / "nope.png"
    with pytest.raises(MediaError, match="nope.png: file not found"):
        load_image(missing)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    with pytest.raises(MediaError) as info:
        load_image(corrupt)
    assert str(corrupt) in str(info.value)


# ----------------------------------------------------------------------------------------------- videos
@pytest.fixture(scope="module")
def index_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "index.mp4"
    write_index_video(path, n_frames=90, fps=10)  # 9 s at 10 fps, GOP 12 with B-frames
    return path


def test_load_video_samples_at_the_target_fps_with_true_timestamps(index_video):
    video = load_video(index_video, fps=2.0, max_frames=128, max_pixels=64 * 32 * 32)
    # 9 s at 2 fps -> 18 frames over 90: round(linspace(0, 89, 18))
    expected = np.round(np.linspace(0, 89, 18)).astype(int)
    assert video.frame_indices.tolist() == expected.tolist()
    np.testing.assert_allclose(video.timestamps, expected / 10.0, atol=1e-9)
    assert video.frames.dtype == np.uint8 and video.frames.shape == (18, 64, 96, 3)
    # each returned frame really is the frame its timestamp names
    assert [frame_index(f) for f in video.frames] == expected.tolist()
    assert (video.width, video.height, video.num_frames) == (96, 64, 90)
    assert video.source_fps == pytest.approx(10.0)
    assert video.duration == pytest.approx(9.0)
    assert video.sample_fps == pytest.approx(2.0)
    meta = video.metadata()
    assert meta["frames_indices"] == expected.tolist() and meta["total_num_frames"] == 90


def test_load_video_frame_cap_and_pixel_budget(index_video):
    video = load_video(index_video, fps=10.0, max_frames=8, max_pixels=32 * 32 * 2, min_pixels=32 * 32)
    assert len(video.frames) == 8
    # 64x96 over 2048 pixels: beta = sqrt(6144 / 2048) = 1.73; floor(64 / 1.73 / 32) = floor(96 / 1.73 / 32) = 1
    assert video.frames.shape[1:3] == (32, 32)
    assert [frame_index(f) for f in video.frames] == video.frame_indices.tolist()


@pytest.mark.parametrize(("fps", "count"), [(3.0, 26), (0.5, 4)])  # dense; sparse (skips whole GOPs)
@pytest.mark.parametrize("threads", [1, 2])
def test_skipping_and_parallel_decoding_give_the_frames_of_a_full_decode(index_video, threads, fps, count):
    import av

    with av.open(str(index_video)) as container:
        everything = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    video = load_video(index_video, fps=fps, max_pixels=1 << 20, min_pixels=1, factor=32, threads=threads)
    assert len(video.frames) == count  # 9 s x fps, floored to even, at least 4
    for frame, index in zip(video.frames, video.frame_indices):
        assert np.abs(frame.astype(int) - everything[index].astype(int)).max() <= 2  # only rgb rounding


def test_sparse_sampling_seeks_over_unneeded_gops(tmp_path):
    import av

    path = tmp_path / "long.mp4"
    write_index_video(path, n_frames=300, fps=10, gop=10)  # 30 s; at 0.2 fps the samples are 60 frames apart
    with av.open(str(path)) as container:
        everything = [frame_index(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    assert everything == list(range(300))
    for threads in (1, 2):
        video = load_video(path, fps=0.2, threads=threads, max_pixels=1 << 20, min_pixels=1)
        assert video.frame_indices.tolist() == [0, 60, 120, 179, 239, 299]
        assert [frame_index(f) for f in video.frames] == video.frame_indices.tolist()
        np.testing.assert_allclose(video.timestamps, video.frame_indices / 10.0)


def test_probe_video_reads_the_header(index_video):
    info = probe_video(index_video)
    assert (info.width, info.height, info.num_frames) == (96, 64, 90)
    assert info.duration == pytest.approx(9.0)


def test_video_errors_name_the_file(tmp_path):
    with pytest.raises(MediaError, match="missing.mp4: file not found"):
        load_video(tmp_path / "missing.mp4")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(MediaError) as info:
        load_video(corrupt)
    assert str(corrupt) in str(info.value)
    with pytest.raises(MediaError):
        probe_video(corrupt)
