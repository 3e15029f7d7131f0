"""`onethinker predict`: answer one question about one image or video with a model, optionally drawing the
answer (boxes, points, masks, spans) on the media.

Example::

    onethinker predict --model ckpt/ --image cat.jpg --task "spatial grounding" "the cat on the left" --viz out.png
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

_DRAW_FRAMES = 4


def predict_command(
    question: str = typer.Argument(..., help="The question or referring expression."),
    model: Path = typer.Option(..., "--model", help="Local checkpoint folder."),
    image: Path = typer.Option(None, "--image", help="An image file."),
    video: Path = typer.Option(None, "--video", help="A video file."),
    task: str = typer.Option(..., "--task", help="Task (problem type), e.g. 'multiple choice', 'tracking'."),
    option: list[str] = typer.Option(None, "--option", help="A multiple-choice option, e.g. 'A. a cat' (repeat)."),
    viz: Path = typer.Option(None, "--viz", help="Draw the answer on the media and save it here (PNG)."),
    max_new_tokens: int = typer.Option(2048, "--max-new-tokens", help="Response budget."),
    temperature: float = typer.Option(0.0, "--temperature", help="0 decodes greedily."),
    device: str = typer.Option("cpu", "--device"),
    dtype: str = typer.Option("auto", "--dtype"),
    mask_backend: str = typer.Option("auto", "--mask-backend", help="grabcut, sam2 or auto (segmentation --viz)."),
    sam2_checkpoint: Path = typer.Option(None, "--sam2-checkpoint", help="Local SAM2 checkpoint (.pt)."),
) -> None:
    """Answer a question about an image or a video with a model."""
    from rich.console import Console

    from onethinker.tasks import UnknownTaskError, get_task, task_key

    console = Console()

    def fail(message: str) -> None:
        console.print(f"[red]error:[/red] {message}", highlight=False)
        raise typer.Exit(2)

    if (image is None) == (video is None):
        fail("give exactly one of --image or --video")
    media = (image or video).expanduser().resolve()
    data_type = "image" if image is not None else "video"
    if not media.is_file():
        fail(f"{media} does not exist")
    if not model.expanduser().exists():
        fail(f"model folder {model} does not exist")
    try:
        key = task_key(task, data_type)
    except UnknownTaskError as exc:
        fail(str(exc))
    spec = get_task(key)
    if data_type not in spec.data_types:
        fail(f"task {key!r} takes {' or '.join(spec.data_types)}, not {data_type}")
    if spec.uses_options and not option:
        fail(f"task {key!r} needs its options: --option 'A. ...' --option 'B. ...'")

    from onethinker.models.loading import quiet_transformers
    from onethinker.eval.runner import eval_media
    from onethinker.eval.score import answer_text
    from onethinker.models import load_model
    from onethinker.models.generate import generate_responses

    record = {
        "problem": question,
        "problem_type": spec.problem_type,
        "data_type": data_type,
        "options": list(option) if option else None,
        "answer": "",
        "images": [str(media)] if image is not None else [],
        "videos": [str(media)] if video is not None else [],
    }
    quiet_transformers()
    with console.status("loading the model"):
        net, processor = load_model(model, dtype=dtype, device=device, trainable=False)
    with console.status("thinking"):
        response = generate_responses(net, processor, [record], None, max_new_tokens=max_new_tokens,
                                      temperature=temperature, batch_size=1, media=eval_media())[0][0]
    console.print(response, highlight=False, markup=False)
    parsed = spec.parse(answer_text(response))
    if parsed.ok:
        console.print(f"[green]answer ({key}):[/green] {describe(parsed.value)}", highlight=False)
    else:
        console.print(f"[yellow]the answer does not parse as {key}:[/yellow] {parsed.reason}", highlight=False)
    if viz is not None:
        from onethinker.eval.masks import get_mask_backend

        backend = get_mask_backend(mask_backend, checkpoint=sam2_checkpoint, device=device)
        draw_answer(media, data_type, parsed.value if parsed.ok else None, viz, title=f"{key}: {question}",
                    mask_backend=backend)
        console.print(f"drawing saved to [bold]{viz}[/bold]")


def describe(value: Any) -> str:
    """A short human-readable form of a typed answer."""
    from onethinker.tasks import GroundingAnswer, SegmentationAnswer

    if isinstance(value, GroundingAnswer):
        span = f"time {value.time[0]:g}-{value.time[1]:g} s, " if value.time else ""
        return f"{span}{len(value.boxes)} boxes at seconds {sorted(value.boxes)[:8]}"
    if isinstance(value, SegmentationAnswer):
        at = f" at {value.time:g} s" if value.time is not None else ""
        return f"box {list(value.box)}{at}, {len(value.positive_points)}+/{len(value.negative_points)}- points"
    return str(value)


def _box_time(value: Any, second: int) -> float:
    """The video time a box key stands for: tracking answers (no span) count seconds from 1 at the first frame,
    spatio-temporal answers (with a span) name the second itself."""
    return float(second - 1 if value.time is None else second)


def _frames_for(value: Any, duration: float) -> list[float]:
    """Times (seconds) worth drawing for a video answer."""
    import numpy as np

    from onethinker.tasks import GroundingAnswer, SegmentationAnswer

    if isinstance(value, GroundingAnswer) and value.boxes:
        seconds = sorted(value.boxes)
        picks = np.linspace(0, len(seconds) - 1, min(_DRAW_FRAMES, len(seconds))).round().astype(int)
        return [_box_time(value, seconds[i]) for i in dict.fromkeys(picks)]
    if isinstance(value, SegmentationAnswer):
        return [float(value.time or 0.0)]
    if isinstance(value, tuple) and len(value) == 2:  # a time span
        return [float(value[0]), (value[0] + value[1]) / 2.0, float(value[1])]
    return list(np.linspace(0, max(duration - 1e-3, 0.0), _DRAW_FRAMES))


def draw_answer(media: Path, data_type: str, value: Any, out: Path, *, title: str = "", mask_backend=None) -> Path:
    """Draw a typed answer over the image (or a few video frames) and save a PNG."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from onethinker.eval.masks import PixelPrompt, read_frames_at, read_image_rgb
    from onethinker.tasks import GroundingAnswer, SegmentationAnswer

    if data_type == "image":
        frames, times = read_image_rgb(media)[None], [None]
    else:
        from onethinker.data.media import probe_video

        duration = float(probe_video(media).duration or 0.0)
        times = _frames_for(value, duration)
        frames = read_frames_at(media, times)
    fig, axes = plt.subplots(1, len(frames), figsize=(4.5 * len(frames), 4.5), squeeze=False)
    for ax, frame, t in zip(axes[0], frames, times):
        height, width = frame.shape[:2]
        ax.imshow(frame)
        ax.set_axis_off()
        label = describe(value) if value is not None else "(unparseable answer)"
        if t is not None:
            label = f"t = {t:.1f} s"
        box = None
        if isinstance(value, GroundingAnswer) and t is not None:
            second = int(round(t)) + (1 if value.time is None else 0)
            box = value.boxes.get(second)
            label = f"second {second} (t = {t:.1f} s)"
        elif isinstance(value, SegmentationAnswer):
            box = value.box
            prompt = PixelPrompt.from_relative(value.box, value.positive_points, value.negative_points,
                                               width, height)
            if mask_backend is not None:
                mask = mask_backend.segment_image(frame, prompt)
                overlay = np.zeros((height, width, 4))
                overlay[mask] = (1.0, 0.0, 1.0, 0.45)
                ax.imshow(overlay)
            for (x, y), lab in zip(prompt.points, prompt.labels):
                ax.scatter([x], [y], marker="*", s=120, c="lime" if lab == 1 else "red", edgecolors="white")
        elif isinstance(value, tuple) and len(value) == 4:
            box = value
        elif isinstance(value, tuple) and len(value) == 2 and t is not None:
            label = f"t = {t:.1f} s ({'start' if t == value[0] else 'end' if t == value[1] else 'middle'})"
        if box is not None:
            x1, y1, x2, y2 = (box[0] * width / 1000, box[1] * height / 1000, box[2] * width / 1000,
                              box[3] * height / 1000)
            ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor="yellow", lw=2))
        ax.set_title(label, fontsize=9)
    fig.suptitle(title[:120], fontsize=10)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return out
