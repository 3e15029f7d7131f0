"""A task of your own for OneThinker: count the shapes of one colour (the example of docs/new_task.md).

Importing this module registers the task; so does installing a package that names it in the
``onethinker.tasks`` entry-point group. Nothing under onethinker's own source changes.
"""

from __future__ import annotations

from onethinker.tasks import Parsed, TaskSpec, register

INSTRUCTION = (
    "Please provide only the count, a whole number, within the <answer>...</answer> tags.\n"
    "Example:\n<answer>3</answer>"
)


def parse(text: str) -> Parsed[int]:
    """Answer text -> a whole number (never raises)."""
    text = text.strip()
    if not text:
        return Parsed.fail("empty answer")
    try:
        value = float(text)
    except ValueError:
        return Parsed.fail("not a number")
    if not value.is_integer() or value < 0:
        return Parsed.fail("not a whole number >= 0")
    return Parsed(int(value))


def structure(answer: str, ground_truth: str) -> float:
    """0.5 for an answer that is a whole number (paid only when the response format is right)."""
    return 0.5 if parse(answer).ok else 0.0


def accuracy(pred: int, gt: int) -> float:
    """Exact match."""
    return 1.0 if pred == gt else 0.0


def check_ground_truth(value: int, duration: float | None) -> list[str]:
    return [] if isinstance(value, int) and value >= 0 else [f"not a count: {value!r}"]


def generate(ctx):
    """The shapes world: 0-4 shapes of the asked colour among shapes of other colours."""
    from onethinker.data.synth import COLORS, Placer, Sample, render

    width, height = ctx.image_size()
    placer = Placer(ctx.rng, width, height, ctx.difficulty)
    color = ctx.colors(1)[0]
    count = int(ctx.rng.integers(0, 5))
    others = [str(c) for c in ctx.rng.choice([c for c in COLORS if c != color], size=2, replace=False)]
    scene = [placer.place(ctx.kind(), color) for _ in range(count)]
    scene += [placer.place(ctx.kind(), others[int(ctx.rng.integers(2))]) for _ in range(int(ctx.rng.integers(1, 4)))]
    media = ctx.save_image(render(scene, width, height))
    think = f"I count the {color} shapes and ignore the {others[0]} and {others[1]} ones: {count}."
    return Sample(f"<image>How many {color} shapes are in the image?", str(count), think, "image", media,
                  (width, height))


def draw(ax, frame, time_s, value, mask_backend=None) -> str:
    """``predict --viz``: the count, large, in the corner of the image."""
    ax.text(0.04, 0.06, str(value), transform=ax.transAxes, fontsize=28, color="yellow",
            fontweight="bold", va="bottom")
    return f"count: {value}"


SPEC = register(TaskSpec(
    key="counting",
    problem_type="counting",
    data_types=("image",),
    instruction=INSTRUCTION,
    parse=parse,
    structure=structure,
    accuracy=accuracy,
    metric_suite="accuracy",  # the shared suite: percent of items whose `accuracy` is 1
    check_ground_truth=check_ground_truth,
    synth=generate,
    draw=draw,
    describe=lambda value: f"{value} shapes",
))
