"""Masks of one segmentation record: ground truth, given predictions, and prompting a backend at the keyframe."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from onethinker.eval.segmentation import FieldError, image_masks, video_masks
from onethinker.tasks import SegmentationAnswer


class _KeyframeOnly:
    """A fake backend: full mask on the keyframe, empty elsewhere; remembers what it was given."""

    name = "fake"

    def __init__(self):
        self.calls = []

    def segment_image(self, image, prompt):
        self.calls.append((image.shape, prompt))
        return np.ones(image.shape[:2], dtype=bool)

    def segment_video(self, frames, key_index, prompt):
        self.calls.append((frames.shape, key_index, prompt))
        masks = np.zeros(frames.shape[:3], dtype=bool)
        masks[key_index] = True
        return masks


@pytest.fixture()
def clip(tmp_path):
    """A 3-second, 4 fps, 64x48 video and three 32x24 mask PNGs for t = 0, 1, 2 s."""
    with av.open(str(tmp_path / "v.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=4)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(12):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), 10 * i, np.uint8),
                                                                   format="rgb24")))
        container.mux(stream.encode())
    for i in range(3):
        mask = np.zeros((24, 32), np.uint8)
        mask[5:10, 5:10] = 255
        cv2.imwrite(str(tmp_path / f"m{i}.png"), mask)
    return tmp_path


def _answer(time=None):
    return SegmentationAnswer(box=(100, 100, 500, 500), positive_points=((200, 200),) * 3,
                              negative_points=((900, 900),) * 3, time=time)


def _record(**extra):
    return {"videos": ["v.mp4"], "masks": ["m0.png", "m1.png", "m2.png"], "mask_times": [0, 1, 2],
            "resolution": [32, 24], **extra}


def test_a_keyframe_between_evaluated_frames_is_inserted_then_dropped(clip):
    backend = _KeyframeOnly()
    pred, gt = video_masks(_record(), _answer(time=1.4), backend, clip)
    (shape, key_index, prompt), = backend.calls
    assert shape == (4, 24, 32, 3)  # frames at 0, 1, 1.4, 2 s, resized to the record's resolution
    assert key_index == 2
    np.testing.assert_allclose(prompt.box, [3.2, 2.4, 16.0, 12.0])  # 0-1000 -> pixels of 32x24
    assert pred.shape == gt.shape == (3, 24, 32)
    assert not pred.any()  # only the inserted keyframe had a mask, and it is not scored
    assert gt[:, 5:10, 5:10].all() and gt.sum() == 3 * 25


def test_a_keyframe_on_an_evaluated_frame_is_not_duplicated(clip):
    backend = _KeyframeOnly()
    pred, _ = video_masks(_record(), _answer(time=1.0004), backend, clip)
    (shape, key_index, _), = backend.calls
    assert shape[0] == 3 and key_index == 1
    assert pred[1].all() and not pred[0].any() and not pred[2].any()


def test_given_prediction_masks_are_used_as_they_are_and_missing_frames_are_empty(clip):
    backend = _KeyframeOnly()
    pred, _ = video_masks(_record(pred_masks=["m0.png"]), _answer(time=1.0), backend, clip)
    assert backend.calls == []  # no media opened, no backend called
    assert pred[0].sum() == 25 and not pred[1:].any()


def test_mask_times_fall_back_to_the_record_fps_and_must_match_the_masks(clip):
    backend = _KeyframeOnly()
    record = _record(fps=1.0)
    del record["mask_times"]
    video_masks(record, _answer(time=0.0), backend, clip)
    assert backend.calls[0][1] == 0
    with pytest.raises(FieldError, match="one time per entry") as err:
        video_masks(_record(mask_times=[0, 1]), _answer(time=0.0), backend, clip)
    assert err.value.field == "mask_times"


def test_an_unparsed_answer_predicts_empty_masks(clip):
    pred, gt = video_masks(_record(), None, _KeyframeOnly(), clip)
    assert not pred.any() and gt.any()


def test_image_masks_scale_the_prompt_with_the_resolution(clip):
    image = np.zeros((48, 64, 3), np.uint8)
    cv2.imwrite(str(clip / "i.png"), image)
    backend = _KeyframeOnly()
    pred, gt = image_masks({"images": ["i.png"], "mask": "m0.png", "resolution": [32, 24]}, _answer(), backend,
                           clip)
    (shape, prompt), = backend.calls
    assert shape == (24, 32, 3)  # the image is resized to the record's resolution
    np.testing.assert_allclose(prompt.points[0], [6.4, 4.8])
    assert pred.shape == gt.shape == (24, 32) and pred.all()
    with pytest.raises(FieldError, match="does not exist") as err:
        image_masks({"images": ["nope.png"], "mask": "m0.png"}, _answer(), backend, clip)
    assert err.value.field == "images"
