"""The shapes world: a deterministic synthetic corpus for every task, so everything runs offline.

``synthesize(out_dir, n, seed)`` draws ``n`` small scenes of coloured circles, squares and triangles (PNG
images; H.264 MP4 videos in which shapes move, appear and disappear) and writes, for each, a record in the
released OneThinker format with its ground truth and an SFT target (a short chain of thought derived from
the scene, then the answer). Records cycle through the registered tasks that have a generator (``TaskSpec.synth``), so any
``n >= 12`` covers the twelve built-ins.

Layout of ``out_dir`` (the media root of every path in the records)::

    data.jsonl   RL / evaluation records (problem, problem_type, data_type, options, answer, images|videos,
                 problem_id, resolution, sft_response, and mask | masks + mask_times for segmentation)
    sft.jsonl    the same samples in ShareGPT form: messages (user prompt, assistant response) + images|videos
    media/       PNG images, MP4 videos and PNG ground-truth masks (0 background, 255 object)

Records cycle round-robin through the tasks; the ``j``-th record of a task depends only on ``(seed, split,
task key, j)``: not on ``n`` and not on which other tasks exist, so registering a new task leaves every
other task's records (and media bytes) as they were. Its media are ``media/<split>_<task>_<j>.*`` and its
``problem_id`` is ``synth-<split>-<seed>-<task>-<j>``. A held-out set is the same call with another
``split`` name (an independent random stream: ``split="test"``) or another seed.

Conventions: boxes and points are 0-1000 relative coordinates of the frame, times are seconds. Spatial-
temporal boxes are keyed by the integer second of the frame (``"2"`` is the frame at 2.0 s); tracking keys
count seconds from 1 (``"1"`` is the first frame, ``"k"`` the frame at ``k - 1`` s), as the problem text says.
Video segmentation masks are saved for the frames at 0, 0.5, 1.0, ... s (``mask_times``); the record's
``fps`` (2.0) is that evaluation rate.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["COLORS", "SHAPES", "Placer", "Sample", "Shape", "SynthContext", "render", "synth_tasks", "synthesize"]

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (215, 40, 40),
    "green": (40, 160, 60),
    "blue": (40, 80, 215),
    "yellow": (225, 195, 20),
    "purple": (140, 60, 180),
    "orange": (240, 130, 20),
}
SHAPES = ("circle", "square", "triangle")
BACKGROUND = (236, 236, 230)
IMAGE_SIZES = ((160, 128), (192, 160), (224, 160), (256, 192), (192, 192))
VIDEO_SIZES = ((128, 96), (160, 96), (160, 128))
VIDEO_FPS = 4
MASK_FPS = 2.0
WORDS = (
    "APPLE", "RIVER", "CLOUD", "TIGER", "PIANO", "LEMON", "ROBOT", "OCEAN", "CANDLE", "GARDEN", "PLANET",
    "BRIDGE", "WINDOW", "FOREST", "SILVER", "ORANGE", "ZEBRA", "MANGO", "CASTLE", "ROCKET",
)


# --------------------------------------------------------------------------------------------- scene
@dataclass(frozen=True)
class Shape:
    kind: str
    color: str
    cx: float  # centre, pixels
    cy: float
    size: float  # side / diameter, pixels

    @property
    def name(self) -> str:
        return f"{self.color} {self.kind}"

    def draw(self, draw, fill=None) -> None:
        half = self.size / 2
        x1, y1, x2, y2 = self.cx - half, self.cy - half, self.cx + half, self.cy + half
        fill = COLORS[self.color] if fill is None else fill
        if self.kind == "circle":
            draw.ellipse((x1, y1, x2, y2), fill=fill)
        elif self.kind == "square":
            draw.rectangle((x1, y1, x2, y2), fill=fill)
        else:
            draw.polygon(((self.cx, y1), (x2, y2), (x1, y2)), fill=fill)


def _mask(shape: Shape, width: int, height: int) -> np.ndarray:
    """Boolean [H, W] mask of one shape drawn alone."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (width, height), 0)
    shape.draw(ImageDraw.Draw(image), fill=255)
    return np.asarray(image) > 0


def _render(shapes: list[Shape], width: int, height: int, background=BACKGROUND):
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    for shape in shapes:
        shape.draw(draw)
    return image


def _rel(value: float, extent: int) -> int:
    return int(round(min(max(value / extent, 0.0), 1.0) * 1000))


def _box(mask: np.ndarray) -> list[int]:
    """Tight 0-1000 box [x1, y1, x2, y2] of a mask (pixel edges, so a full-frame mask is [0, 0, 1000, 1000])."""
    ys, xs = np.nonzero(mask)
    height, width = mask.shape
    return [_rel(xs.min(), width), _rel(ys.min(), height), _rel(xs.max() + 1, width), _rel(ys.max() + 1, height)]


def _region(cx: float, cy: float, width: int, height: int) -> str:
    col = ("left", "center", "right")[min(int(3 * cx / width), 2)]
    row = ("top", "middle", "bottom")[min(int(3 * cy / height), 2)]
    if row == "middle" and col == "center":
        return "center"
    if row == "middle":
        return f"middle {col}"
    return f"{row} {col}" if col != "center" else f"{row} center"


def _points(mask: np.ndarray, rng: np.random.Generator) -> tuple[list[list[int]], list[list[int]]]:
    """Three points well inside the object and three on clear background (inside its box when possible)."""
    from scipy import ndimage

    height, width = mask.shape
    inner = ndimage.binary_erosion(mask, iterations=2)
    if not inner.any():
        inner = mask
    outer = ~ndimage.binary_dilation(mask, iterations=3)
    ys, xs = np.nonzero(mask)
    in_box = np.zeros_like(mask)
    in_box[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] = True
    candidates = outer & in_box
    if candidates.sum() < 3:  # a square fills its box: take background just around it
        grown = ndimage.binary_dilation(in_box, iterations=max(4, int(0.15 * max(width, height))))
        candidates = outer & grown
    if candidates.sum() < 3:
        candidates = outer

    def pick(area: np.ndarray) -> list[list[int]]:
        py, px = np.nonzero(area)
        chosen = rng.choice(len(py), size=3, replace=len(py) < 3)
        return [[_rel(px[i] + 0.5, width), _rel(py[i] + 0.5, height)] for i in sorted(chosen)]

    return pick(inner), pick(candidates)


class _Placer:
    """Non-overlapping random placement of shapes in a canvas."""

    def __init__(self, rng: np.random.Generator, width: int, height: int, difficulty: float) -> None:
        self.rng, self.width, self.height, self.difficulty = rng, width, height, difficulty
        self.placed: list[tuple[float, float, float]] = []

    def size(self) -> float:
        base = (0.30 - 0.16 * self.difficulty) * min(self.width, self.height)
        return max(10.0, base * self.rng.uniform(0.85, 1.2))

    def place(self, kind: str, color: str, size: float | None = None, margin: float = 2.0) -> Shape:
        size = self.size() if size is None else size
        half = size / 2
        for _ in range(200):
            cx = self.rng.uniform(half + margin, self.width - half - margin)
            cy = self.rng.uniform(half + margin, self.height - half - margin)
            if all(math.hypot(cx - x, cy - y) > (half + r) * 1.05 + 2 for x, y, r in self.placed):
                break
        self.placed.append((cx, cy, half * math.sqrt(2)))
        return Shape(kind, color, float(cx), float(cy), float(size))


def _distractor_count(rng: np.random.Generator, difficulty: float) -> int:
    """Distractor shapes in a scene: none at difficulty 0 (a still image shows only what the question is
    about), up to five at difficulty 1. The draw is made either way, so other records' streams do not move."""
    extra = int(rng.integers(0, 2))
    return 0 if difficulty <= 0 else int(round(difficulty * 4)) + extra


def _listing(shapes: list[Shape], width: int, height: int) -> str:
    parts = [f"a {s.name} at the {_region(s.cx, s.cy, width, height)}" for s in shapes]
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _box_text(box: list[int]) -> str:
    return f"[{box[0]}, {box[1]}, {box[2]}, {box[3]}]"


def _answer_json(obj: dict) -> str:
    return json.dumps(obj, separators=(", ", ": "))


# --------------------------------------------------------------------------------------------- samples
@dataclass
class _Sample:
    problem: str
    answer: str
    think: str
    data_type: str
    media: str  # path relative to the media root
    resolution: tuple[int, int]
    options: list[str] | None = None
    extra: dict | None = None


@dataclass
class _Context:
    rng: np.random.Generator
    difficulty: float
    root: Path
    stem: str  # file stem for this record's media, e.g. "media/00012"

    def save_image(self, image, suffix: str = "") -> str:
        rel = f"{self.stem}{suffix}.png"
        image.save(self.root / rel, optimize=False, compress_level=6)
        return rel

    def save_mask(self, mask: np.ndarray, suffix: str) -> str:
        from PIL import Image

        rel = f"{self.stem}{suffix}.png"
        Image.fromarray((mask * 255).astype(np.uint8), mode="L").save(self.root / rel)
        return rel

    def image_size(self) -> tuple[int, int]:
        return IMAGE_SIZES[int(self.rng.integers(len(IMAGE_SIZES)))]

    def video_size(self) -> tuple[int, int]:
        return VIDEO_SIZES[int(self.rng.integers(len(VIDEO_SIZES)))]

    def colors(self, k: int) -> list[str]:
        return [str(c) for c in self.rng.choice(list(COLORS), size=k, replace=False)]

    def kind(self) -> str:
        return str(self.rng.choice(SHAPES))


# The public names a task's generator uses (a user's task writes its own generator with these).
Sample = _Sample
SynthContext = _Context
Placer = _Placer
render = _render


def _unique_target_scene(ctx: _Context, width: int, height: int) -> tuple[Shape, list[Shape], _Placer]:
    """A target shape plus distractors, none of which shares the target's colour and kind."""
    placer = _Placer(ctx.rng, width, height, ctx.difficulty)
    target = placer.place(ctx.kind(), ctx.colors(1)[0])
    others = []
    for _ in range(_distractor_count(ctx.rng, ctx.difficulty)):
        while True:
            kind, color = ctx.kind(), ctx.colors(1)[0]
            if (kind, color) != (target.kind, target.color):
                break
        others.append(placer.place(kind, color))
    return target, others, placer


def multiple_choice(ctx: _Context) -> _Sample:
    width, height = ctx.image_size()
    placer = _Placer(ctx.rng, width, height, ctx.difficulty)
    kind = ctx.kind()
    color = ctx.colors(1)[0]
    target = placer.place(kind, color)
    other_kinds = [k for k in SHAPES if k != kind]
    other_colors = [c for c in COLORS if c != color]
    # distractors differ from the target in both kind and colour, so either question has one answer
    scene = [target] + [
        placer.place(str(ctx.rng.choice(other_kinds)), str(ctx.rng.choice(other_colors)))
        for _ in range(_distractor_count(ctx.rng, ctx.difficulty))
    ]
    ctx.rng.shuffle(scene)
    if ctx.rng.random() < 0.5:
        question, right = f"What colour is the {kind}?", color
        choices = [color] + [str(c) for c in ctx.rng.choice(other_colors, size=3, replace=False)]
        subject = f"The {kind} is {color}"
        every = list(COLORS)
    else:
        question, right = f"What shape is the {color} object?", kind
        choices = [kind] + other_kinds
        subject = f"The {color} object is a {kind}"
        every = list(SHAPES)
    choices = [choices[i] for i in ctx.rng.permutation(len(choices))]
    if ctx.difficulty <= 0:  # every colour (or shape) as an option, always in the same order: pure perception
        choices = every
    letter = "ABCDEF"[choices.index(right)]
    options = [f"{'ABCDEF'[i]}. {c}" for i, c in enumerate(choices)]
    media = ctx.save_image(_render(scene, width, height))
    think = f"The image shows {_listing(scene, width, height)}. {subject}, which is option {letter}."
    return _Sample(f"<image>{question}", letter, think, "image", media, (width, height), options=options)


def numerical(ctx: _Context) -> _Sample:
    width, height = ctx.image_size()
    placer = _Placer(ctx.rng, width, height, ctx.difficulty)
    kind = ctx.kind()
    count = int(ctx.rng.integers(1, 3 + int(round(3 * ctx.difficulty)) + 1))
    targets = [placer.place(kind, ctx.colors(1)[0]) for _ in range(count)]
    other_kinds = [k for k in SHAPES if k != kind]
    others = [placer.place(str(ctx.rng.choice(other_kinds)), ctx.colors(1)[0])
              for _ in range(_distractor_count(ctx.rng, ctx.difficulty))]
    scene = targets + others
    ctx.rng.shuffle(scene)
    media = ctx.save_image(_render(scene, width, height))
    found = "; ".join(f"{i + 1}: {s.color} at the {_region(s.cx, s.cy, width, height)}" for i, s in enumerate(targets))
    think = f"I look for every {kind} and ignore the other shapes. {found}. That makes {count}."
    return _Sample(f"<image>How many {kind}s are in the image?", str(count), think, "image", media, (width, height))


def _image_target_scene(ctx: _Context) -> tuple[int, int, Shape, list[Shape]]:
    """An image size and a scene with one uniquely named target among distractors."""
    width, height = ctx.image_size()
    target, others, _ = _unique_target_scene(ctx, width, height)
    # The shuffle's result is unused, but it advances the RNG: dropping it would change every record
    # generated after this one, so published synthetic corpora stay byte-identical with it kept.
    ctx.rng.shuffle([target] + others)
    return width, height, target, others


def regression(ctx: _Context) -> _Sample:
    width, height, target, others = _image_target_scene(ctx)
    mask = _mask(target, width, height)
    xs = np.nonzero(mask.any(axis=0))[0]
    pixels = int(xs.max() - xs.min() + 1)
    media = ctx.save_image(_render(others + [target], width, height))
    question = f"<image>The image is {width} pixels wide. How many pixels wide is the {target.name}?"
    think = (
        f"The {target.name} spans from x = {int(xs.min())} to x = {int(xs.max())} in the {width}-pixel-wide image, "
        f"so it is about {pixels} pixels wide."
    )
    return _Sample(question, str(pixels), think, "image", media, (width, height))


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _text_image(ctx: _Context, text: str, width: int, height: int):
    from PIL import ImageDraw

    placer = _Placer(ctx.rng, width, height, ctx.difficulty)
    teaching = ctx.difficulty <= 0  # the easiest level: large text in the middle of the image
    font_size = int(height * (0.40 if teaching else 0.22 - 0.08 * ctx.difficulty))
    font = _font(font_size)
    image = _render([], width, height)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    while right - left > width - 8 and font_size > 8:
        font_size -= 2
        font = _font(font_size)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x = ctx.rng.uniform(4, max(5, width - (right - left) - 4)) - left
    y = ctx.rng.uniform(4, max(5, height - (bottom - top) - 4)) - top
    if teaching:  # the draws above are made either way, so later records' streams do not move
        x, y = (width - (right - left)) / 2 - left, (height - (bottom - top)) / 2 - top
    # distractor shapes stay clear of the text band
    placer.placed.append(((x + left + x + right) / 2, (y + top + y + bottom) / 2, (right - left) / 2 + 4))
    shapes = [placer.place(ctx.kind(), ctx.colors(1)[0], size=placer.size() * 0.6)
              for _ in range(int(round(2 * ctx.difficulty)))]
    for shape in shapes:
        shape.draw(draw)
    color = ctx.colors(1)[0]
    ink = tuple(int(c * 0.6) for c in COLORS[color])
    draw.text((x, y), text, fill=ink, font=font)
    return image, color


def ocr(ctx: _Context) -> _Sample:
    width, height = ctx.image_size()
    words = 1 + int(ctx.rng.random() < ctx.difficulty)
    text = " ".join(str(w) for w in ctx.rng.choice(WORDS, size=words, replace=False))
    image, color = _text_image(ctx, text, width, height)
    media = ctx.save_image(image)
    think = f"There is {'a word' if words == 1 else 'a line of text'} written in dark {color} letters. Reading it letter by letter gives \"{text}\"."
    return _Sample("<image>What text is written in the image?", text, think, "image", media, (width, height))


def math_expression(ctx: _Context) -> _Sample:
    width, height = ctx.image_size()
    terms = 2 + int(round(ctx.difficulty * 2 * ctx.rng.random() + ctx.difficulty))
    numbers = [int(ctx.rng.integers(1, 10)) for _ in range(terms)]
    ops = [str(ctx.rng.choice(["+", "-", "*"])) for _ in range(terms - 1)]
    expression = " ".join(str(numbers[0]) if i == 0 else f"{ops[i - 1]} {numbers[i]}" for i in range(terms))
    # evaluate with precedence, narrating the steps
    values, pending_ops, steps = [numbers[0]], [], []
    for op, number in zip(ops, numbers[1:]):
        if op == "*":
            product = values[-1] * number
            steps.append(f"{values[-1]} * {number} = {product}")
            values[-1] = product
        else:
            values.append(number)
            pending_ops.append(op)
    result = values[0]
    for op, number in zip(pending_ops, values[1:]):
        new = result + number if op == "+" else result - number
        steps.append(f"{result} {op} {number} = {new}")
        result = new
    image, _ = _text_image(ctx, f"{expression} = ?", width, height)
    media = ctx.save_image(image)
    order = "Multiplication comes first. " if "*" in ops and len(ops) > 1 else ""
    think = f"The image shows the expression {expression}. {order}" + ". ".join(steps) + f". The result is {result}."
    return _Sample(
        "<image>What is the value of the expression shown in the image?", str(result), think, "image", media,
        (width, height),
    )


def open_ended(ctx: _Context) -> _Sample:
    width, height = ctx.image_size()
    placer = _Placer(ctx.rng, width, height, ctx.difficulty)
    distractors = _distractor_count(ctx.rng, ctx.difficulty)
    count = 1 if ctx.difficulty <= 0 else 2 + distractors // 2  # the easiest level describes one object
    scene = [placer.place(ctx.kind(), c) for c in ctx.colors(count)]
    media = ctx.save_image(_render(scene, width, height))
    description = f"The image shows {_listing(scene, width, height)} on a light grey background."
    think = (f"I go through the objects one by one and note each colour, shape and position: {len(scene)} "
             f"object{'s' if len(scene) > 1 else ''} in all.")
    return _Sample("<image>Describe the image in one sentence.", description, think, "image", media, (width, height))


def spatial_grounding(ctx: _Context) -> _Sample:
    width, height, target, others = _image_target_scene(ctx)
    box = _box(_mask(target, width, height))
    media = ctx.save_image(_render(others + [target], width, height))
    think = (
        f"The {target.name} is at the {_region(target.cx, target.cy, width, height)}. Its edges are at x {box[0]} "
        f"and {box[2]}, y {box[1]} and {box[3]} in 0-1000 coordinates."
    )
    answer = _answer_json({"boxes": box})
    return _Sample(f"<image>Locate the {target.name} in the image.", answer, think, "image", media, (width, height))


def segmentation_image(ctx: _Context) -> _Sample:
    width, height, target, others = _image_target_scene(ctx)
    mask = _mask(target, width, height)
    box = _box(mask)
    positive, negative = _points(mask, ctx.rng)
    media = ctx.save_image(_render(others + [target], width, height))
    mask_path = ctx.save_mask(mask, "_mask")
    answer = _answer_json({"boxes": box, "positive_points": positive, "negative_points": negative})
    think = (
        f"The {target.name} is at the {_region(target.cx, target.cy, width, height)}, inside the box "
        f"{_box_text(box)}. I put the positive points on its body and the negative points on background "
        f"{'inside the box corners' if target.kind != 'square' else 'just outside its edges'}."
    )
    return _Sample(
        f"<image>Segment the {target.name}.", answer, think, "image", media, (width, height),
        extra={"mask": mask_path},
    )


# --------------------------------------------------------------------------------------------- videos
@dataclass(frozen=True)
class _Track:
    """A shape moving linearly (bouncing off the walls) and visible on frames [first, last]."""

    shape: Shape
    vx: float  # pixels per frame
    vy: float
    first: int = 0
    last: int = 10**9

    def at(self, frame: int, width: int, height: int) -> Shape | None:
        if not self.first <= frame <= self.last:
            return None
        half = self.shape.size / 2
        return replace(
            self.shape,
            cx=_bounce(self.shape.cx + self.vx * frame, half, width - half),
            cy=_bounce(self.shape.cy + self.vy * frame, half, height - half),
        )


def _bounce(position: float, low: float, high: float) -> float:
    span = high - low
    if span <= 0:
        return low
    offset = (position - low) % (2 * span)
    return low + (2 * span - offset if offset > span else offset)


def _video_scene(ctx: _Context, target_window: tuple[int, int] | None, n_frames: int, width: int, height: int):
    """Target track (visible in ``target_window`` or always) plus moving distractors of other colours."""
    placer = _Placer(ctx.rng, width, height, ctx.difficulty)
    speed = (0.8 + 1.6 * ctx.difficulty) * min(width, height) / 96

    def track(shape: Shape, window=(0, 10**9)) -> _Track:
        angle = ctx.rng.uniform(0, 2 * math.pi)
        return _Track(shape, speed * math.cos(angle), speed * math.sin(angle), *window)

    target_shape = placer.place(ctx.kind(), ctx.colors(1)[0])
    target = track(target_shape, target_window or (0, n_frames - 1))
    # distractors never share the target's colour, so "the red circle" is also the only red thing
    palette = [c for c in COLORS if c != target_shape.color]
    others = [
        track(placer.place(ctx.kind(), str(ctx.rng.choice(palette))))
        for _ in range(max(1, _distractor_count(ctx.rng, ctx.difficulty) - 1))
    ]
    return target, others


def _write_video(ctx: _Context, tracks: list[_Track], n_frames: int, width: int, height: int) -> str:
    import av

    rel = f"{ctx.stem}.mp4"
    with av.open(str(ctx.root / rel), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=VIDEO_FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        # identical bytes on every run: one thread, and no macroblock-tree rate control (x264's mbtree
        # output varies from run to run on these tiny flat clips)
        stream.codec_context.thread_count = 1
        stream.codec_context.options = {
            "preset": "veryfast", "crf": "18", "x264-params": f"keyint={4 * VIDEO_FPS}:mbtree=0",
        }
        for index in range(n_frames):
            shapes = [s for s in (t.at(index, width, height) for t in tracks) if s is not None]
            frame = av.VideoFrame.from_ndarray(np.asarray(_render(shapes, width, height)), format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return rel


def _seconds(frame: int) -> float:
    return round(frame / VIDEO_FPS, 3)


def _video_setup(ctx: _Context, min_seconds: int = 3):
    width, height = ctx.video_size()
    duration = int(ctx.rng.integers(min_seconds, 7))  # 3-6 s
    return width, height, duration * VIDEO_FPS


def _visible_window(ctx: _Context, n_frames: int, min_frames: int) -> tuple[int, int]:
    length = int(ctx.rng.integers(min_frames, max(min_frames + 1, int(n_frames * (0.8 - 0.3 * ctx.difficulty)))))
    first = int(ctx.rng.integers(1, n_frames - length))
    return first, first + length - 1


def temporal_grounding(ctx: _Context) -> _Sample:
    width, height, n_frames = _video_setup(ctx)
    window = _visible_window(ctx, n_frames, VIDEO_FPS)
    target, others = _video_scene(ctx, window, n_frames, width, height)
    media = _write_video(ctx, [*others, target], n_frames, width, height)
    start, end = _seconds(window[0]), _seconds(window[1])
    think = (
        f"At the start only {', '.join(o.shape.name for o in others)} move around. The {target.shape.name} "
        f"appears at {start} s and is last seen at {end} s."
    )
    answer = _answer_json({"time": [start, end]})
    question = f"<video>During which time span is the {target.shape.name} visible in the video?"
    return _Sample(question, answer, think, "video", media, (width, height))


def spatiotemporal_grounding(ctx: _Context) -> _Sample:
    width, height, n_frames = _video_setup(ctx, min_seconds=4)
    # the span must contain at least one whole second
    while True:
        window = _visible_window(ctx, n_frames, 2 * VIDEO_FPS)
        seconds = [s for s in range(n_frames // VIDEO_FPS + 1) if window[0] <= s * VIDEO_FPS <= window[1]]
        if seconds:
            break
    target, others = _video_scene(ctx, window, n_frames, width, height)
    media = _write_video(ctx, [*others, target], n_frames, width, height)
    boxes = {str(s): _box(_mask(target.at(s * VIDEO_FPS, width, height), width, height)) for s in seconds}
    start, end = _seconds(window[0]), _seconds(window[1])
    # the boxes are in the answer; repeating them in the reasoning would double the longest responses
    think = (
        f"The {target.shape.name} enters at {start} s and leaves after {end} s, moving across the frame. "
        f"I give its box at each whole second from {min(seconds)} to {max(seconds)}."
    )
    answer = _answer_json({"time": [start, end], "boxes": boxes})
    question = (
        f"<video>When is the {target.shape.name} visible, and where is it at each whole second of that time?"
    )
    return _Sample(question, answer, think, "video", media, (width, height))


def tracking(ctx: _Context) -> _Sample:
    width, height, n_frames = _video_setup(ctx)
    target, others = _video_scene(ctx, None, n_frames, width, height)
    media = _write_video(ctx, [*others, target], n_frames, width, height)
    boxes = {
        str(k + 1): _box(_mask(target.at(k * VIDEO_FPS, width, height), width, height))
        for k in range(min(32, (n_frames - 1) // VIDEO_FPS + 1))
    }
    question = (
        f"<video>Track the {target.shape.name}. In the first frame (second 1) its box is {_box_text(boxes['1'])}; "
        f"second k is the frame at k - 1 seconds."
    )
    think = (
        f"The {target.shape.name} moves steadily and bounces off the edges. I follow it from second 1 to "
        f"second {len(boxes)}."
    )
    return _Sample(question, _answer_json({"boxes": boxes}), think, "video", media, (width, height))


def segmentation_video(ctx: _Context) -> _Sample:
    width, height, n_frames = _video_setup(ctx)
    target, others = _video_scene(ctx, None, n_frames, width, height)
    media = _write_video(ctx, [*others, target], n_frames, width, height)
    key_frame = int(ctx.rng.integers(0, n_frames // VIDEO_FPS)) * VIDEO_FPS
    key_mask = _mask(target.at(key_frame, width, height), width, height)
    box = _box(key_mask)
    positive, negative = _points(key_mask, ctx.rng)
    step = int(VIDEO_FPS / MASK_FPS)
    mask_frames = list(range(0, n_frames, step))
    masks = [
        ctx.save_mask(_mask(target.at(f, width, height), width, height), f"_mask_{i:03d}")
        for i, f in enumerate(mask_frames)
    ]
    answer = _answer_json(
        {"time": _seconds(key_frame), "boxes": box, "positive_points": positive, "negative_points": negative}
    )
    think = (
        f"The {target.shape.name} is visible throughout. At {_seconds(key_frame)} s it is clear of the other "
        f"shapes, inside {_box_text(box)}; I mark three points on it and three on the background."
    )
    return _Sample(
        f"<video>Segment the {target.shape.name} throughout the video.", answer, think, "video", media,
        (width, height), extra={"masks": masks, "mask_times": [_seconds(f) for f in mask_frames], "fps": MASK_FPS},
    )


def synth_tasks(keys: list[str] | None = None) -> list[str]:
    """Registry keys of the tasks that have a shapes-world generator (``TaskSpec.synth``), in registry
    order; ``keys`` (registry keys or problem types) restricts them."""
    from onethinker.tasks import all_tasks, task_key

    have = [key for key, spec in all_tasks().items() if spec.synth is not None]
    if keys is None:
        return have
    chosen = []
    for name in keys:
        key = name if name in all_tasks() else task_key(name)
        if key not in have:
            raise ValueError(f"task {key!r} has no shapes-world generator (TaskSpec.synth)")
        chosen.append(key)
    return chosen


def _split_code(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def _slug(key: str) -> str:
    """A task key as a file-name part: ``"segmentation/image"`` -> ``"segmentation-image"``."""
    return "-".join("".join(c if c.isalnum() else " " for c in key).split())


def synthesize(
    out_dir: str | Path,
    n: int,
    seed: int,
    *,
    difficulty: float = 0.5,
    split: str = "train",
    progress: Callable[[int], None] | None = None,
    tasks: list[str] | None = None,
) -> Path:
    """Write ``n`` shapes-world records (round-robin over the tasks with a generator) under ``out_dir``.

    ``difficulty`` in [0, 1]: more distractor shapes, smaller objects, faster motion, shorter visible spans,
    longer arithmetic and text. 0 is a teaching level: a still image shows no distractor (the describe task
    one object, counting only shapes of the counted kind) and multiple choice offers every colour or every
    shape in a fixed order, so each answer follows from the pixels without looking options up; text is large
    and centred; videos keep one moving distractor. ``split`` names an independent random stream (``"train"``, ``"test"``, ...).
    ``progress`` is called with 1 after each record. ``tasks`` restricts the corpus to some task keys
    (default: every registered task with a generator, built-in or a user's).
    """
    from onethinker.tasks import get_task, prompt_text

    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 0.0 <= difficulty <= 1.0:
        raise ValueError(f"difficulty must be in [0, 1], got {difficulty}")
    root = Path(out_dir)
    (root / "media").mkdir(parents=True, exist_ok=True)
    keys = synth_tasks(tasks)
    with open(root / "data.jsonl", "w", encoding="utf-8") as data, open(root / "sft.jsonl", "w", encoding="utf-8") as sft:
        for i in range(n):
            key, j = keys[i % len(keys)], i // len(keys)  # round-robin over tasks; j-th record of its task
            spec = get_task(key)
            problem_type, generate = spec.problem_type, spec.hook("synth")
            # each task draws from its own stream, so adding a task leaves every other task's records as they were
            rng = np.random.default_rng([seed, _split_code(split), _split_code(key), j])
            ctx = _Context(rng, difficulty, root, f"media/{split}_{_slug(key)}_{j:05d}")
            sample = generate(ctx)
            if sample.data_type not in spec.data_types:
                raise ValueError(f"the {key!r} generator made a {sample.data_type} sample; the task takes "
                                 f"{' or '.join(spec.data_types)}")
            media_field = "images" if sample.data_type == "image" else "videos"
            response = f"<think>{sample.think}</think><answer>{sample.answer}</answer>"
            record = {
                "problem_id": f"synth-{split}-{seed}-{_slug(key)}-{j:05d}",
                "problem": sample.problem,
                "problem_type": problem_type,
                "data_type": sample.data_type,
                "options": sample.options,
                "answer": sample.answer,
                media_field: [sample.media],
                "resolution": list(sample.resolution),
                "benchmark": "shapes-world",
                "sft_response": response,
                **(sample.extra or {}),
            }
            data.write(json.dumps(record, ensure_ascii=False) + "\n")
            messages = [
                {"role": "user", "content": prompt_text(sample.problem, key, sample.options)},
                {"role": "assistant", "content": response},
            ]
            sft.write(json.dumps({"messages": messages, media_field: [sample.media]}, ensure_ascii=False) + "\n")
            if progress is not None:
                progress(1)
    return root
