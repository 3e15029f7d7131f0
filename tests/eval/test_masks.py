"""Mask storage, prompts in pixels, frame reading, GrabCut, and choosing a backend (SAM2: test_sam2.py)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from onethinker.eval import GrabCutBackend, MaskError, PixelPrompt, decode_mask, encode_rle, get_mask_backend
from onethinker.eval.masks import read_frames_at

HEIGHT, WIDTH = 120, 160


def _scene(center, radius=28, seed=0):
    """A noisy blue background with a red disk; returns (RGB image, true mask)."""
    rng = np.random.default_rng(seed)
    image = (np.array([40, 120, 200], np.uint8) + rng.integers(0, 20, (HEIGHT, WIDTH, 3), dtype=np.uint8))
    image = np.ascontiguousarray(image)
    cv2.circle(image, center, radius, (230, 60, 40), -1)
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.circle(mask, center, radius, 1, -1)
    return image, mask > 0


def _prompt_around(center, radius=28):
    """A box and points around a disk, in 0-1000 coordinates."""
    cx, cy = center
    box = [(cx - radius - 2) / WIDTH * 1000, (cy - radius - 2) / HEIGHT * 1000,
           (cx + radius + 2) / WIDTH * 1000, (cy + radius + 2) / HEIGHT * 1000]
    inside = [[cx / WIDTH * 1000, cy / HEIGHT * 1000]] * 3
    outside = [[5, 5], [995, 5], [5, 995]]
    return PixelPrompt.from_relative(box, inside, outside, WIDTH, HEIGHT)


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_rle_round_trip_and_uncompressed_counts():
    mask = np.zeros((4, 5), dtype=bool)
    mask[2:4, 1:4] = True
    rle = encode_rle(mask)
    assert isinstance(rle["counts"], str) and rle["size"] == [4, 5]
    json.dumps(rle)  # JSON-ready
    np.testing.assert_array_equal(decode_mask(rle), mask)
    # uncompressed COCO RLE, column-major runs: 6 background, 2 object, 2 background, 2, 2, 2, 4
    np.testing.assert_array_equal(decode_mask({"size": [4, 5], "counts": [6, 2, 2, 2, 2, 2, 4]}), mask)


@pytest.mark.parametrize(
    "bad, message",
    [({"size": [4, 5], "counts": [1, 2]}, "sum to 3"), ({"size": [4], "counts": "x"}, "'size'"),
     ({"size": [4, 5], "counts": 7}, "'counts'"), (3.5, "PNG path or a COCO RLE")],
)
def test_malformed_masks_raise_mask_error(bad, message):
    with pytest.raises(MaskError, match=message):
        decode_mask(bad)


def test_png_masks_resolve_under_the_media_root(tmp_path):
    mask = np.zeros((6, 7), np.uint8)
    mask[1:3, 2:5] = 255
    (tmp_path / "m").mkdir()
    cv2.imwrite(str(tmp_path / "m" / "a.png"), mask)
    np.testing.assert_array_equal(decode_mask("m/a.png", tmp_path), mask > 0)
    with pytest.raises(MaskError, match="does not exist"):
        decode_mask("m/missing.png", tmp_path)


def test_prompts_scale_from_0_1000_to_pixels_and_clip_to_the_image():
    prompt = PixelPrompt.from_relative([500, 250, 100, 1200], [[500, 500]], [[0, 1000]], 200, 100)
    np.testing.assert_allclose(prompt.box, [20, 25, 100, 99])  # corners sorted, y clipped to height - 1
    np.testing.assert_allclose(prompt.points, [[100, 50], [0, 99]])
    np.testing.assert_array_equal(prompt.labels, [1, 0])
    assert not PixelPrompt.from_relative([10, 10, 10, 50], [], [], 200, 100).has_box


def test_grabcut_segments_a_disk_from_its_box_and_points():
    image, truth = _scene((80, 60))
    mask = GrabCutBackend().segment_image(image, _prompt_around((80, 60)))
    assert mask.shape == truth.shape
    assert _iou(mask, truth) > 0.9


def test_grabcut_with_a_zero_area_box_gives_an_empty_mask():
    image, _ = _scene((80, 60))
    prompt = PixelPrompt.from_relative([500, 500, 500, 700], [[500, 500]] * 3, [[5, 5]] * 3, WIDTH, HEIGHT)
    assert not GrabCutBackend().segment_image(image, prompt).any()


def test_grabcut_video_propagates_forwards_and_backwards_from_the_keyframe():
    centers = [(40 + 10 * k, 60) for k in range(6)]
    scenes = [_scene(c, seed=k) for k, c in enumerate(centers)]
    frames = np.stack([s[0] for s in scenes])
    truth = np.stack([s[1] for s in scenes])
    masks = GrabCutBackend().segment_video(frames, 3, _prompt_around(centers[3]))
    ious = [_iou(m, t) for m, t in zip(masks, truth)]
    assert min(ious) > 0.75, ious  # frames before and after the keyframe follow the moving disk


def test_grabcut_runs_once_per_distinct_input_and_hands_out_copies(monkeypatch):
    from onethinker.eval import masks

    calls = []
    real = masks.cv2.grabCut
    monkeypatch.setattr(masks.cv2, "grabCut", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(GrabCutBackend, "_memo", type(GrabCutBackend._memo)(max_items=16))
    image, truth = _scene((80, 60), seed=7)
    first = GrabCutBackend().segment_image(image, _prompt_around((80, 60)))
    assert len(calls) == 1 and _iou(first, truth) > 0.9
    first[:] = False  # a caller's edit does not reach the remembered mask
    again = GrabCutBackend(iterations=5).segment_image(image.copy(), _prompt_around((80, 60)))
    assert len(calls) == 1 and _iou(again, truth) > 0.9
    GrabCutBackend().segment_image(image, _prompt_around((80, 60), radius=30))  # another prompt: computed
    GrabCutBackend(iterations=3).segment_image(image, _prompt_around((80, 60)))  # other settings: computed
    assert len(calls) == 3
    frames = np.stack([image, image])
    GrabCutBackend().segment_video(frames, 0, _prompt_around((80, 60)))
    calls_after_video = len(calls)
    GrabCutBackend().segment_video(frames, 0, _prompt_around((80, 60)))
    assert len(calls) == calls_after_video > 3


def test_read_frames_at_picks_the_nearest_frame(tmp_path):
    import av

    path = tmp_path / "ramp.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(10):  # frame i at i / 5 s, grey level 20 * i
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * i, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    frames = read_frames_at(path, [0.0, 0.41, 0.29, 5.0, 1.0])
    levels = frames.reshape(len(frames), -1).mean(axis=1) / 20
    np.testing.assert_allclose(levels, [0, 2, 1, 9, 5], atol=0.3)  # 0.41 -> 0.4 s; 0.29 -> 0.2 s; past the end


def test_backend_selection():
    from onethinker.eval.sam2_backend import SAM2Backend

    assert isinstance(get_mask_backend("grabcut"), GrabCutBackend)
    assert isinstance(get_mask_backend("auto"), GrabCutBackend)  # no SAM2 model named: the offline fallback
    sam2 = get_mask_backend("sam2")  # the published large model by hub id, loaded on first use
    assert isinstance(sam2, SAM2Backend) and sam2.model == "facebook/sam2.1-hiera-large"
    with pytest.raises(MaskError, match="unknown mask backend"):
        get_mask_backend("magic")
