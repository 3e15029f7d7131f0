"""Drawing typed answers on media, for ``onethinker predict --viz``: the built-in tasks' ``draw`` hooks.

A task names its hooks on its spec (``TaskSpec.draw``, ``draw_times``, ``describe``); this module holds the
built-in ones, shared by the tasks whose answers have the same shape. ``draw(ax, frame, time_s, value,
mask_backend)`` paints on one matplotlib axis showing ``frame`` (an RGB array; ``time_s`` is ``None`` for an
image) and returns the panel title, or ``None`` to keep the default. Boxes and points are 0-1000 relative
coordinates. Heavy libraries are imported inside functions.
"""

from __future__ import annotations

from typing import Any

DRAW_FRAMES = 4


def box_patch(ax, box: Any, width: int, height: int, color: str = "yellow") -> None:
    """A 0-1000 relative box drawn as a rectangle on an axis showing a ``width`` x ``height`` frame."""
    import matplotlib.pyplot as plt

    x1, y1, x2, y2 = (box[0] * width / 1000, box[1] * height / 1000, box[2] * width / 1000, box[3] * height / 1000)
    ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color, lw=2))


def even_times(duration: float, count: int = DRAW_FRAMES) -> list[float]:
    import numpy as np

    return [float(t) for t in np.linspace(0, max(duration - 1e-3, 0.0), count)]


# ------------------------------------------------------------------------------------------ boxes
def draw_box(ax, frame, time_s, value, mask_backend=None) -> str | None:
    """Spatial grounding: one box."""
    box_patch(ax, value, frame.shape[1], frame.shape[0])
    return None


# ------------------------------------------------------------------------------------------ spans
def span_times(value, duration: float) -> list[float]:
    """Temporal grounding: the span's start, middle and end."""
    return [float(value[0]), (value[0] + value[1]) / 2.0, float(value[1])]


def span_border(ax, frame, time_s, span) -> bool:
    """A green frame around a video frame inside the answer's span (the span "lights up" in an annotated
    video); returns whether ``time_s`` is inside."""
    import matplotlib.pyplot as plt

    inside = time_s is not None and span is not None and span[0] <= time_s <= span[1]
    if inside:
        height, width = frame.shape[:2]
        pad = max(2, min(height, width) // 40)
        ax.add_patch(plt.Rectangle((-0.5 + pad / 2, -0.5 + pad / 2), width - pad, height - pad, fill=False,
                                   edgecolor="lime", lw=pad))
    return inside


def draw_span(ax, frame, time_s, value, mask_backend=None) -> str | None:
    inside = span_border(ax, frame, time_s, value)
    where = "start" if time_s == value[0] else "end" if time_s == value[1] else "inside" if inside else "outside"
    return f"t = {time_s:.1f} s ({where} {value[0]:g}-{value[1]:g} s)"


# ------------------------------------------------------------------ boxes keyed by second (GroundingAnswer)
# Spatio-temporal grounding keys a box by the second it shows ("2" = the frame at 2 s); tracking counts
# seconds from 1 ("1" = the first frame, "k" = the frame at k - 1 s), as its problem text says.
SPATIOTEMPORAL_KEY_OFFSET = 0
TRACKING_KEY_OFFSET = 1


def _key_times(value, offset: int) -> list[float]:
    import numpy as np

    seconds = sorted(value.boxes)
    if not seconds:
        return []
    picks = np.linspace(0, len(seconds) - 1, min(DRAW_FRAMES, len(seconds))).round().astype(int)
    return [float(seconds[i] - offset) for i in dict.fromkeys(picks)]


def _draw_key_box(ax, frame, time_s, value, offset: int) -> str:
    # every frame shows the box of its own second (a frame at 2.4 s shows key 2, or 3 for tracking)
    second = int(time_s + 1e-6) + offset
    span_border(ax, frame, time_s, value.time)
    box = value.boxes.get(second)
    if box is not None:
        box_patch(ax, box, frame.shape[1], frame.shape[0])
    return f"second {second} (t = {time_s:.1f} s)" + ("" if box is not None else ", no box")


def second_box_times(value, duration: float) -> list[float]:
    return _key_times(value, SPATIOTEMPORAL_KEY_OFFSET)


def tracking_box_times(value, duration: float) -> list[float]:
    return _key_times(value, TRACKING_KEY_OFFSET)


def draw_second_box(ax, frame, time_s, value, mask_backend=None) -> str | None:
    return _draw_key_box(ax, frame, time_s, value, SPATIOTEMPORAL_KEY_OFFSET)


def draw_tracking_box(ax, frame, time_s, value, mask_backend=None) -> str | None:
    return _draw_key_box(ax, frame, time_s, value, TRACKING_KEY_OFFSET)


def describe_boxes(value) -> str:
    span = f"time {value.time[0]:g}-{value.time[1]:g} s, " if value.time else ""
    return f"{span}{len(value.boxes)} boxes at seconds {sorted(value.boxes)[:8]}"


# ------------------------------------------------------------------------------------ segmentation
def segmentation_times(value, duration: float) -> list[float]:
    return [float(value.time or 0.0)]


def segmentation_masks(value, frames, times, mask_backend):
    """The masks of a segmentation answer (the ``masks`` hook): an image's one mask, or a video's masks on
    every frame, segmented on the keyframe nearest ``value.time`` and propagated by the backend."""
    import numpy as np

    from onethinker.eval.masks import PixelPrompt

    height, width = frames.shape[1:3]
    prompt = PixelPrompt.from_relative(value.box, value.positive_points, value.negative_points, width, height)
    if times == [None]:
        return mask_backend.segment_image(frames[0], prompt)[None]
    key_index = int(np.abs(np.asarray(times, dtype=np.float64) - float(value.time or 0.0)).argmin())
    return mask_backend.segment_video(frames, key_index, prompt)


def draw_segmentation(ax, frame, time_s, value, mask_backend=None) -> str | None:
    """The box, the positive (green) and negative (red) points and, given a mask backend, the mask. In a
    video the box and points show on frames within half a second of the keyframe; the mask on every frame."""
    import numpy as np

    from onethinker.eval.masks import PixelPrompt

    height, width = frame.shape[:2]
    prompt = PixelPrompt.from_relative(value.box, value.positive_points, value.negative_points, width, height)
    if mask_backend is not None:
        mask = mask_backend.segment_image(frame, prompt)
        overlay = np.zeros((height, width, 4))
        overlay[mask] = (0.0, 1.0, 1.0, 0.55)  # cyan: stands out on the shapes world's colours
        ax.imshow(overlay)
    if time_s is not None and abs(time_s - float(value.time or 0.0)) > 0.5:
        return f"t = {time_s:.1f} s (mask propagated)"
    for (x, y), label in zip(prompt.points, prompt.labels):
        ax.scatter([x], [y], marker="*", s=120, c="lime" if label == 1 else "red", edgecolors="white")
    box_patch(ax, value.box, width, height)
    return None if time_s is None else f"t = {time_s:.1f} s (keyframe)"


def describe_segmentation(value) -> str:
    at = f" at {value.time:g} s" if value.time is not None else ""
    return f"box {list(value.box)}{at}, {len(value.positive_points)}+/{len(value.negative_points)}- points"
