"""The shapes world: coverage, determinism, SFT targets, and ground truth that matches the pixels."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from onethinker.data.media import load_video
from onethinker.data.synth import COLORS, synthesize
from onethinker.tasks import TASKS, parse_ground_truth, prompt_text, task_key

RESPONSE = re.compile(r"<think>(.+)</think><answer>(.*)</answer>", re.DOTALL)


def of_task(records, key):
    return [r for r in records if task_key(r["problem_type"], r["data_type"]) == key]


def to_pixels(value, extent):
    return int(value / 1000 * extent)


def color_fraction(pixels: np.ndarray, color: str, tolerance: int = 40) -> np.ndarray:
    """Mask of pixels within ``tolerance`` of a palette colour (video compression blurs colours a little)."""
    return (np.abs(pixels.astype(int) - np.array(COLORS[color])).max(axis=-1) <= tolerance)


def test_twelve_records_cover_all_twelve_task_keys(tmp_path):
    synthesize(tmp_path, 12, seed=3)
    records = [json.loads(line) for line in (tmp_path / "data.jsonl").read_text().splitlines()]
    keys = [task_key(r["problem_type"], r["data_type"]) for r in records]
    assert sorted(keys) == sorted(TASKS) and len(set(keys)) == 12


def test_synthesis_is_deterministic_and_record_i_does_not_depend_on_n(tmp_path, synth_dir):
    synthesize(tmp_path / "a", 12, seed=7)
    synthesize(tmp_path / "b", 12, seed=7)
    a_lines = (tmp_path / "a" / "data.jsonl").read_text().splitlines()
    assert a_lines == (tmp_path / "b" / "data.jsonl").read_text().splitlines()
    for path in sorted((tmp_path / "a" / "media").iterdir()):
        assert path.read_bytes() == (tmp_path / "b" / "media" / path.name).read_bytes(), path.name
    # the session corpus is seed 7 with n=48: its first twelve records are these
    assert (synth_dir / "data.jsonl").read_text().splitlines()[:12] == a_lines


def test_a_held_out_split_is_a_different_stream(tmp_path):
    synthesize(tmp_path / "train", 12, seed=7)
    synthesize(tmp_path / "test", 12, seed=7, split="test")
    train = [json.loads(x) for x in (tmp_path / "train" / "data.jsonl").read_text().splitlines()]
    test = [json.loads(x) for x in (tmp_path / "test" / "data.jsonl").read_text().splitlines()]
    assert {r["problem_id"] for r in train}.isdisjoint({r["problem_id"] for r in test})
    assert sum(a["answer"] != b["answer"] for a, b in zip(train, test)) >= 8


def test_difficulty_adds_distractors_and_shrinks_objects(tmp_path):
    synthesize(tmp_path / "easy", 12, seed=1, difficulty=0.0)
    synthesize(tmp_path / "hard", 12, seed=1, difficulty=1.0)
    easy, hard = ([json.loads(x) for x in (tmp_path / level / "data.jsonl").read_text().splitlines()]
                  for level in ("easy", "hard"))
    # multiple choice (record 0) lists every shape in its reasoning: at most 2 when easy, at least 5 when hard
    shapes = lambda r: len(re.findall(r"\ba (?:\w+) (?:circle|square|triangle)\b", r["sft_response"]))  # noqa: E731
    assert shapes(easy[0]) <= 2 and shapes(hard[0]) >= 5
    easy_box, hard_box = (parse_ground_truth("spatial grounding", r[7]["answer"]).value for r in (easy, hard))
    area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
    assert area(hard_box) < area(easy_box)


def test_easiest_level_shows_only_the_asked_object_and_fixes_the_option_order(tmp_path):
    synthesize(tmp_path, 12 * 8, seed=4, difficulty=0.0)
    records = [json.loads(x) for x in (tmp_path / "data.jsonl").read_text().splitlines()]
    for r in of_task(records, "spatial grounding") + of_task(records, "multiple choice"):
        pixels = np.asarray(Image.open(tmp_path / r["images"][0]).convert("RGB"))
        present = [c for c in COLORS if color_fraction(pixels, c, tolerance=10).sum() > 20]
        assert len(present) == 1, (r["problem_id"], present)  # one object, no distractor
    for r in of_task(records, "multiple choice"):
        pixels = np.asarray(Image.open(tmp_path / r["images"][0]).convert("RGB"))
        colour = next(c for c in COLORS if color_fraction(pixels, c, tolerance=10).sum() > 20)
        if r["problem"].startswith("<image>What colour"):  # every colour, in palette order: the letter says which
            assert r["options"] == [f"{'ABCDEF'[i]}. {c}" for i, c in enumerate(COLORS)]
            assert r["answer"] == "ABCDEF"[list(COLORS).index(colour)]
        else:
            assert r["options"] == ["A. circle", "B. square", "C. triangle"]
            assert f"The image shows a {colour} {r['options']['ABC'.index(r['answer'])][3:]}" in r["sft_response"]
    # a harder level keeps four shuffled options
    synthesize(tmp_path / "hard", 12, seed=4, difficulty=0.5)
    hard = json.loads((tmp_path / "hard" / "data.jsonl").read_text().splitlines()[0])
    assert len(hard["options"]) in (3, 4)


def test_sft_targets_and_sharegpt_file(synth_dir, synth_records):
    sft = [json.loads(line) for line in (synth_dir / "sft.jsonl").read_text().splitlines()]
    assert len(sft) == len(synth_records)
    for record, sample in zip(synth_records, sft):
        key = task_key(record["problem_type"], record["data_type"])
        match = RESPONSE.fullmatch(record["sft_response"])
        assert match and match.group(1).strip(), record["problem_id"]
        assert match.group(2) == record["answer"]
        assert parse_ground_truth(key, record["answer"]).ok
        user, assistant = sample["messages"]
        assert (user["role"], assistant["role"]) == ("user", "assistant")
        assert user["content"] == prompt_text(record["problem"], key, record["options"])
        assert assistant["content"] == record["sft_response"]
        media_field = "images" if record["data_type"] == "image" else "videos"
        assert sample[media_field] == record[media_field]
        assert user["content"].count(f"<{record['data_type']}>") == len(record[media_field])
        width, height = record["resolution"]
        if media_field == "images":
            assert Image.open(synth_dir / record["images"][0]).size == (width, height)


def test_spatial_boxes_surround_the_named_shape(synth_dir, synth_records):
    for record in of_task(synth_records, "spatial grounding"):
        color = record["problem"].split("Locate the ")[1].split()[0]
        image = np.asarray(Image.open(synth_dir / record["images"][0]).convert("RGB"))
        height, width = image.shape[:2]
        x1, y1, x2, y2 = parse_ground_truth("spatial grounding", record["answer"]).value
        cx, cy = to_pixels((x1 + x2) / 2, width), to_pixels((y1 + y2) / 2, height)
        assert color_fraction(image[cy - 1 : cy + 2, cx - 1 : cx + 2], color, tolerance=0).all()


def test_segmentation_masks_points_and_boxes_agree(synth_dir, synth_records):
    for record in of_task(synth_records, "segmentation/image"):
        mask = np.asarray(Image.open(synth_dir / record["mask"])) > 0
        height, width = mask.shape
        assert (width, height) == tuple(record["resolution"])
        value = parse_ground_truth("segmentation/image", record["answer"]).value
        ys, xs = np.nonzero(mask)
        assert value.box == (round(xs.min() / width * 1000), round(ys.min() / height * 1000),
                             round((xs.max() + 1) / width * 1000), round((ys.max() + 1) / height * 1000))
        for x, y in value.positive_points:
            assert mask[to_pixels(y, height), to_pixels(x, width)]
        for x, y in value.negative_points:
            assert not mask[to_pixels(y, height), to_pixels(x, width)]
    for record in of_task(synth_records, "segmentation/video"):
        assert len(record["masks"]) == len(record["mask_times"]) and record["mask_times"][1] == 0.5
        assert all((synth_dir / m).is_file() for m in record["masks"])


def test_temporal_span_is_when_the_shape_is_on_screen(synth_dir, synth_records):
    for record in of_task(synth_records, "temporal grounding"):
        color = record["problem"].split("is the ")[1].split()[0]
        start, end = parse_ground_truth("temporal grounding", record["answer"]).value
        video = load_video(synth_dir / record["videos"][0], fps=4.0, max_frames=64, max_pixels=1 << 20,
                           min_pixels=1, factor=16)
        visible = [color_fraction(f, color).sum() > 15 for f in video.frames]
        expected = [start - 1e-6 <= t <= end + 1e-6 for t in video.timestamps]
        assert visible == expected, (record["problem_id"], video.timestamps.tolist())


def test_tracking_boxes_follow_the_shape(synth_dir, synth_records):
    for record in of_task(synth_records, "tracking"):
        color = record["problem"].split("Track the ")[1].split()[0]
        boxes = parse_ground_truth("tracking", record["answer"]).value.boxes
        video = load_video(synth_dir / record["videos"][0], fps=4.0, max_frames=64, max_pixels=1 << 20,
                           min_pixels=1, factor=16)
        for second, (x1, y1, x2, y2) in boxes.items():
            frame = video.frames[int(np.argmin(np.abs(video.timestamps - (second - 1))))]
            height, width = frame.shape[:2]
            inside = color_fraction(frame[to_pixels(y1, height): to_pixels(y2, height),
                                          to_pixels(x1, width): to_pixels(x2, width)], color)
            assert inside.sum() >= 0.9 * color_fraction(frame, color).sum() > 0


def test_math_answers_evaluate_the_shown_expression(synth_records):
    for record in of_task(synth_records, "math"):
        expression = re.search(r"the expression ([0-9+\-* ]+)\.", record["sft_response"]).group(1)
        assert int(record["answer"]) == eval(expression)  # noqa: S307 - digits and + - * only


def _ink_box(path) -> tuple[int, int, int, int, int, int]:
    """Bounding box of what is not background (x0, y0, x1, y1) and the image's width and height."""
    from onethinker.data.synth import BACKGROUND

    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    ink = np.abs(pixels - np.array(BACKGROUND)).max(axis=-1) > 60
    ys, xs = np.nonzero(ink)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()), pixels.shape[1], pixels.shape[0]


def test_text_is_large_and_centred_at_the_teaching_level_only(tmp_path):
    # Reading a word is a lookup the tiny model learns when the word sits in one place at one size
    # (docs/training.md); harder levels move it about and shrink it.
    synthesize(tmp_path / "easy", 12 * 6, seed=2, difficulty=0.0)
    synthesize(tmp_path / "hard", 12 * 6, seed=2, difficulty=0.5)
    offsets = {}
    for level in ("easy", "hard"):
        records = [json.loads(x) for x in (tmp_path / level / "data.jsonl").read_text().splitlines()]
        texts = of_task(records, "OCR") + of_task(records, "math")
        assert len(texts) == 12
        offsets[level] = []
        for r in texts:
            x0, y0, x1, y1, width, height = _ink_box(tmp_path / level / r["images"][0])
            offsets[level].append(max(abs((x0 + x1) / 2 - width / 2), abs((y0 + y1) / 2 - height / 2)))
            if level == "easy":
                # letters a fifth of the image tall, or as wide as half the image where a long line is shrunk to fit
                assert y1 - y0 >= 0.2 * height or x1 - x0 >= 0.5 * width, (r["problem_id"], x0, y0, x1, y1)
    assert max(offsets["easy"]) <= 4, offsets["easy"]
    assert max(offsets["hard"]) > 10, offsets["hard"]


@pytest.mark.parametrize("bad", [{"n": -1}, {"difficulty": 1.5}])
def test_bad_arguments_are_refused(tmp_path, bad):
    with pytest.raises(ValueError):
        synthesize(tmp_path, **{"n": 1, "seed": 0, **bad})


def _dots(ctx):
    """A minimal user generator: some red circles on the shapes-world background."""
    from onethinker.data.synth import Placer, Sample, Shape, render

    width, height = ctx.image_size()
    placer = Placer(ctx.rng, width, height, ctx.difficulty)
    dots: list[Shape] = [placer.place("circle", "red") for _ in range(int(ctx.rng.integers(1, 4)))]
    media = ctx.save_image(render(dots, width, height))
    return Sample("<image>How many dots?", str(len(dots)), f"{len(dots)} red circles.", "image", media,
                  (width, height))


def test_adding_a_task_leaves_every_other_tasks_records_and_media_as_they_were(tmp_path):
    from onethinker.tasks import Parsed, TaskSpec, register, unregister

    register(TaskSpec(key="dot count", problem_type="dot count", data_types=("image",), instruction="",
                      parse=lambda t: Parsed(t.strip()), structure=lambda a, g: 0.5,
                      accuracy=lambda p, g: float(p == g), metric_suite="accuracy", synth=_dots))
    try:
        synthesize(tmp_path / "with", 9, seed=4, tasks=["multiple choice", "dot count", "numerical"])
    finally:
        unregister("dot count")
    synthesize(tmp_path / "without", 6, seed=4, tasks=["multiple choice", "numerical"])
    read = lambda d: {r["problem_id"]: r for r in map(json.loads, (tmp_path / d / "data.jsonl").read_text().splitlines())}  # noqa: E731
    with_, without = read("with"), read("without")
    assert len(with_) == 9 and sum(r["problem_type"] == "dot count" for r in with_.values()) == 3
    assert set(without) < set(with_)
    for pid, record in without.items():  # the same j-th record of each task, byte for byte
        assert with_[pid] == record, pid
        media = record["images"][0]
        assert (tmp_path / "with" / media).read_bytes() == (tmp_path / "without" / media).read_bytes()
