"""`onethinker.Predictor` and `predict --json --viz` for every task key: typed results, JSON that parses,
overlays that decode at the media's size (image) or frame count and duration (video), answers drawn by each
task's own hooks."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from onethinker import Predictor
from onethinker.cli import app
from onethinker.predictor import Prediction, PredictionError, read_media_frames, render_overlay
from onethinker.tasks import all_tasks, get_task, parse_ground_truth, task_key

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One shapes-world record per task key (12 records, round-robin over the tasks)."""
    from onethinker.data import synthesize

    root = synthesize(tmp_path_factory.mktemp("predictor"), 12, 5, split="test")
    records = {}
    for line in (root / "data.jsonl").read_text().splitlines():
        row = json.loads(line)
        row["path"] = root / (row.get("images") or row.get("videos"))[0]
        records[task_key(row["problem_type"], row["data_type"])] = row
    return records


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from onethinker.models.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("tiny_predictor"), seed=0)


def video_facts(path: Path) -> tuple[int, float, tuple[int, int]]:
    """(decoded frame count, duration = frames / average rate, (width, height))."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        count = sum(1 for _ in container.decode(stream))
        return count, count / float(Fraction(stream.average_rate)), (stream.width, stream.height)


def test_the_world_covers_every_task_key(world):
    assert set(world) == set(all_tasks())


@pytest.mark.slow
def test_predict_json_and_overlay_for_every_task_key(world, tiny, tmp_path):
    for key, row in sorted(world.items()):
        medium = "--image" if row["data_type"] == "image" else "--video"
        out = tmp_path / (key.replace("/", "-").replace(" ", "_") + (".png" if medium == "--image" else ".mp4"))
        options = [x for o in (row.get("options") or []) for x in ("--option", o)]
        result = runner.invoke(app, ["predict", "--model", str(tiny), medium, str(row["path"]), "--task", key,
                                     "what is shown?", *options, "--viz", str(out), "--json",
                                     "--max-new-tokens", "4"])
        assert result.exit_code in (0, 1), (key, result.output)
        payload = json.loads(result.stdout)
        assert payload["task"] == key and payload["data_type"] == row["data_type"]
        # exit 1 exactly when the answer does not parse, and then the reason is given
        assert (result.exit_code == 1) == (not payload["ok"]) and (payload["ok"] or payload["reason"])
        assert payload["overlay"] == str(out)
        if medium == "--image":
            assert Image.open(out).size == Image.open(row["path"]).size, key
        else:
            count, duration, size = video_facts(out)
            source = video_facts(row["path"])
            assert count == source[0] and abs(duration - source[1]) < 1e-6 and size == source[2], key


def _ground_truth_prediction(row, key, backend=None) -> Prediction:
    value = parse_ground_truth(key, row["answer"]).value
    result = Prediction(key, row["data_type"], row["path"], "q", "", None, row["answer"], value=value)
    hook = get_task(key).hook("masks")
    if hook is not None and backend is not None:
        frames, times = read_media_frames(row["path"], row["data_type"])
        result.masks, result.mask_times = hook(value, frames, times, backend), times
    return result


@pytest.mark.parametrize("key", ["spatial grounding", "segmentation/image"])
def test_image_overlay_draws_the_answer_where_it_points(world, key, tmp_path):
    from onethinker.eval.masks import GrabCutBackend

    row = world[key]
    result = _ground_truth_prediction(row, key, GrabCutBackend())
    out = render_overlay(result, tmp_path / "o.png")
    plain = np.asarray(Image.open(row["path"]).convert("RGB"), dtype=int)
    drawn = np.asarray(Image.open(out).convert("RGB"), dtype=int)
    changed = np.abs(drawn - plain).sum(axis=2) > 60
    box = result.value if key == "spatial grounding" else result.value.box
    h, w = plain.shape[:2]
    x1, y1, x2, y2 = (int(box[0] * w / 1000), int(box[1] * h / 1000), int(box[2] * w / 1000), int(box[3] * h / 1000))
    near_box = np.zeros_like(changed)
    near_box[max(0, y1 - 3) : y2 + 4, max(0, x1 - 3) : x2 + 4] = True
    assert changed[near_box].mean() > 0.2  # the box (and the mask) are painted there
    if result.masks is not None:
        assert result.masks.shape == (1, h, w) and result.masks[0][y1:y2, x1:x2].mean() > 0.3


@pytest.mark.parametrize("key", ["temporal grounding", "spatial-temporal grounding", "tracking",
                                 "segmentation/video"])
def test_video_overlay_annotates_the_frames_the_answer_covers(world, key, tmp_path):
    from onethinker.eval.masks import GrabCutBackend

    row = world[key]
    result = _ground_truth_prediction(row, key, GrabCutBackend())
    out = render_overlay(result, tmp_path / "o.mp4")
    source_frames, times = read_media_frames(row["path"], "video")
    drawn, _ = read_media_frames(out, "video")
    assert drawn.shape == source_frames.shape
    # beyond the caption band at the top, how much of each frame the answer changed
    diff = (np.abs(drawn.astype(int) - source_frames.astype(int)).sum(axis=3) > 80)[:, 20:].mean(axis=(1, 2))
    value = result.value
    if key == "temporal grounding":
        inside = np.array([value[0] <= t <= value[1] for t in times])
        assert inside.any() and (~inside).any()
        assert diff[inside].min() > 3 * diff[~inside].max()  # the span lights up, only the span
    elif key == "segmentation/video":
        assert result.masks.shape == source_frames.shape[:3] and all(m.any() for m in result.masks)
        assert (diff > 0.002).all()  # the propagated mask is painted on every frame
    else:
        offset = 1 if key == "tracking" else 0
        has_box = np.array([int(t + 1e-6) + offset in value.boxes for t in times])
        assert has_box.any() and diff[has_box].min() > diff[~has_box].max(initial=0.0)


def test_predictor_returns_a_typed_result_or_the_reason(world, tiny):
    predictor = Predictor(tiny, max_new_tokens=4, mask_backend=None)
    result = predictor.predict(world["spatial grounding"]["path"], "spatial grounding", "the red circle")
    assert isinstance(result, Prediction) and result.task == "spatial grounding" and result.data_type == "image"
    assert result.ok == (result.value is not None) and (result.ok or result.reason)
    assert json.loads(json.dumps(result.to_json()))["answer"] == result.answer
    # segmentation resolves by the media's kind
    assert predictor.predict(world["segmentation/video"]["path"], "segmentation", "q").task == "segmentation/video"


def test_predictor_refuses_what_it_cannot_answer(world, tiny, tmp_path):
    predictor = Predictor(tiny, max_new_tokens=2, mask_backend=None)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00not a video" * 50)
    with pytest.raises(PredictionError, match="broken.mp4: cannot be decoded"):
        predictor.predict(broken, "tracking", "q")
    with pytest.raises(PredictionError, match="task 'tracking' takes video, not image"):
        predictor.predict(world["spatial grounding"]["path"], "tracking", "q")
    with pytest.raises(PredictionError, match="does not exist"):
        Predictor(tmp_path / "nowhere")


def test_an_unparseable_answer_is_drawn_raw_with_its_reason(world, tmp_path):
    row = world["tracking"]
    result = Prediction("tracking", "video", row["path"], "q", "<answer>{oops</answer>", None, "{oops",
                        reason="answer is not JSON")
    assert result.describe() == "does not parse as tracking: answer is not JSON"
    out = render_overlay(result, tmp_path / "raw.mp4")
    assert video_facts(out)[0] == video_facts(row["path"])[0]
