"""SAM2 through transformers (`Sam2Model` / `Sam2VideoModel`), with a tiny random-init model built offline: image
masks from the box + points prompt, video masks prompted at the keyframe and propagated both ways, and both
paths end to end through `eval score`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from onethinker.cli import app
from onethinker.eval import MaskError, PixelPrompt
from onethinker.eval.sam2_backend import SAM2Backend

runner = CliRunner()


def _prompt(width, height):
    return PixelPrompt.from_relative([250, 250, 750, 750], [[500, 500], [450, 520], [560, 480]],
                                     [[10, 10], [990, 10], [10, 990]], width, height)


def test_image_masks_and_video_masks_prompted_at_the_keyframe_and_propagated(tiny_sam2):
    backend = SAM2Backend(tiny_sam2)  # a folder saved like facebook/sam2.1-hiera-*: both models load from it
    frames = np.random.default_rng(1).integers(0, 255, (4, 96, 128, 3), dtype=np.uint8)
    prompt = _prompt(128, 96)
    image_masks = [backend.segment_image(frame, prompt) for frame in frames]
    assert all(m.shape == (96, 128) and m.dtype == bool and m.any() for m in image_masks)
    video = backend.segment_video(frames, 2, prompt)
    assert video.shape == (4, 96, 128) and video.dtype == bool
    # The prompt went on the keyframe: there the video model's mask is the image model's, pixel for pixel.
    np.testing.assert_array_equal(video[2], image_masks[2])
    # Every other frame got a mask from propagation (forwards to 3, backwards to 1 and 0), not from a prompt.
    for t in (0, 1, 3):
        assert video[t].any() and not np.array_equal(video[t], image_masks[t]), t
    # A prompt with neither box nor points gives empty masks without running the model.
    empty = PixelPrompt.from_relative(None, [], [], 128, 96)
    assert not backend.segment_video(frames, 1, empty).any()


def test_model_references_that_cannot_work_are_clear_errors(tmp_path):
    with pytest.raises(MaskError, match="checkpoint of the sam2 package.*hub id"):
        SAM2Backend(tmp_path / "sam2.1_hiera_tiny.pt")
    with pytest.raises(MaskError, match="no config.json"):
        SAM2Backend(tmp_path)
    with pytest.raises(MaskError, match="neither a folder nor a hub id"):
        SAM2Backend(tmp_path / "missing" / "model")
    backend = SAM2Backend("facebook/sam2.1-hiera-tiny")  # a hub id is accepted; loading waits for first use
    assert backend.model == "facebook/sam2.1-hiera-tiny"


class _Watch:
    """Wraps the real backend to record what `eval score` hands it and what comes back."""

    def __init__(self, inner):
        self.inner, self.name, self.calls = inner, inner.name, []

    def segment_image(self, image, prompt):
        mask = self.inner.segment_image(image, prompt)
        self.calls.append(("image", image.shape, None, mask))
        return mask

    def segment_video(self, frames, key_index, prompt):
        masks = self.inner.segment_video(frames, key_index, prompt)
        self.calls.append(("video", frames.shape, key_index, masks))
        return masks


def test_eval_score_runs_image_and_video_segmentation_through_sam2(tiny_sam2, heldout, tmp_path, monkeypatch):
    import onethinker.eval.masks as masks_module

    rows = [json.loads(x) for x in (heldout / "data.jsonl").read_text().splitlines()]
    rows = [dict(r, response=r["sft_response"]) for r in rows if r["problem_type"] == "segmentation"]
    assert sorted(r["data_type"] for r in rows) == ["image", "video"]
    path = tmp_path / "pred.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    watches = []
    real = masks_module.get_mask_backend

    def watched(*args, **kwargs):
        watches.append(_Watch(real(*args, **kwargs)))
        return watches[-1]

    monkeypatch.setattr(masks_module, "get_mask_backend", watched)
    result = runner.invoke(app, ["eval", "score", str(path), "--media-root", str(heldout), "--by-task",
                                 "--mask-backend", "sam2", "--sam2-model", str(tiny_sam2),
                                 "--out", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    (watch,) = watches
    assert isinstance(watch.inner, SAM2Backend)
    calls = {kind: (shape, key, mask) for kind, shape, key, mask in watch.calls}
    image_row = next(r for r in rows if r["data_type"] == "image")
    width, height = image_row["resolution"]
    shape, _, mask = calls["image"]
    assert shape == (height, width, 3) and mask.shape == (height, width)
    video_row = next(r for r in rows if r["data_type"] == "video")
    width, height = video_row["resolution"]
    times = video_row["mask_times"]
    keyframe_time = json.loads(video_row["sft_response"].split("<answer>")[1].split("</answer>")[0])["time"]
    shape, key, masks = calls["video"]
    assert shape == (len(times), height, width, 3)  # the evaluated frames (the keyframe time is one of them)
    assert key == times.index(keyframe_time)  # the prompt goes on the model's keyframe
    assert masks.shape == (len(times), height, width) and all(m.any() for m in masks)  # every frame covered
    metrics = json.loads((tmp_path / "m.json").read_text())
    image_metrics = metrics["shapes-world / segmentation/image"]
    video_metrics = metrics["shapes-world / segmentation/video"]
    assert image_metrics["n"] == 1 and image_metrics["unparseable"] == 0 and 0.0 <= image_metrics["gIoU"] <= 100.0
    assert video_metrics["n"] == 1 and 0.0 <= video_metrics["J&F"] <= 100.0
