"""`onethinker predict`: answer one question about one image or video with a model (a thin layer over
:class:`onethinker.Predictor`), optionally drawing the answer (boxes, points, masks, spans) on the media.

Example::

    onethinker predict --model ckpt/ --image cat.jpg --task "spatial grounding" "the cat on the left" --viz out.png
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def predict_command(
    question: str = typer.Argument(..., help="The question or referring expression."),
    model: Path = typer.Option(..., "--model", help="Local checkpoint folder."),
    image: Path = typer.Option(None, "--image", help="An image file."),
    video: Path = typer.Option(None, "--video", help="A video file."),
    task: str = typer.Option(..., "--task", help="Task (problem type), e.g. 'multiple choice', 'tracking'."),
    option: list[str] = typer.Option(None, "--option", help="A multiple-choice option, e.g. 'A. a cat' (repeat)."),
    viz: Path = typer.Option(None, "--viz", help="Draw the answer and save it here: a PNG for an image; an MP4 "
                             "(every frame annotated) or a PNG of a few frames for a video."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of rich text."),
    max_new_tokens: int = typer.Option(2048, "--max-new-tokens", help="Response budget."),
    temperature: float = typer.Option(0.0, "--temperature", help="0 decodes greedily."),
    device: str = typer.Option("cpu", "--device"),
    dtype: str = typer.Option("auto", "--dtype"),
    mask_backend: str = typer.Option("auto", "--mask-backend", help="grabcut, sam2 or auto (segmentation masks)."),
    sam2_checkpoint: Path = typer.Option(None, "--sam2-checkpoint", help="Local SAM2 model folder."),
) -> None:
    """Answer a question about an image or a video with a model. Exits 1 when the answer does not parse as
    the task's answer (it is printed raw with the parser's reason), 2 for a request that cannot be run."""
    import json

    from rich.console import Console

    from onethinker.predictor import PredictionError, Predictor, media_kind, render_overlay
    from onethinker.tasks import UnknownTaskError, get_task, task_key

    console = Console(stderr=as_json)

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
    if viz is not None and data_type == "video" and viz.suffix.lower() not in (".mp4", ".png"):
        fail(f"--viz {viz}: a video answer is drawn as .mp4 (annotated video) or .png (a few frames)")
    try:
        if media_kind(media) != data_type:
            fail(f"{media.name} is not {'an image' if data_type == 'image' else 'a video'}")
        with console.status("loading the model"):
            predictor = Predictor(model, device=device, dtype=dtype, max_new_tokens=max_new_tokens,
                                  temperature=temperature, mask_backend=mask_backend if viz or as_json else None,
                                  sam2_checkpoint=sam2_checkpoint)
        with console.status("thinking"):
            result = predictor.predict(media, key, question, options=list(option) if option else None,
                                       data_type=data_type)
    except PredictionError as exc:
        fail(str(exc))
    drawn = None
    if viz is not None:
        if data_type == "video" and viz.suffix.lower() == ".png":
            drawn = draw_answer(media, data_type, result.value, viz, task=key, title=f"{key}: {question}",
                                mask_backend=predictor.mask_backend)
        else:
            drawn = render_overlay(result, viz)
    if as_json:
        typer.echo(json.dumps({**result.to_json(), "overlay": str(drawn) if drawn else None}))
    else:
        if result.reasoning is not None:
            console.print("[bold]reasoning:[/bold]")
            console.print(result.reasoning, highlight=False, markup=False)
        console.print("[bold]response:[/bold]")
        console.print(result.response.strip() or repr(result.response), highlight=False, markup=False)
        if result.ok:
            console.print(f"[green]answer ({key}):[/green] {result.describe()}", highlight=False)
        else:
            console.print(f"[yellow]the answer does not parse as {key}:[/yellow] {result.reason}", highlight=False)
            console.print("raw answer:", repr(result.answer), highlight=False, markup=False)
        if drawn is not None:
            console.print(f"drawing saved to [bold]{drawn}[/bold]")
    if not result.ok:
        raise typer.Exit(1)


def describe(value: Any, task: str) -> str:
    """A short human-readable form of a typed answer of task ``task`` (its spec's ``describe`` hook)."""
    from onethinker.tasks import get_task

    fn = get_task(task).hook("describe")
    return fn(value) if fn is not None else str(value)


def draw_answer(media: Path, data_type: str, value: Any, out: Path, *, task: str, title: str = "",
                mask_backend=None) -> Path:
    """Draw a typed answer of task ``task`` over the image (or a few video frames) and save a PNG; how is
    the task's business (its spec's ``draw`` and ``draw_times`` hooks, see :mod:`onethinker.viz`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from onethinker.eval.masks import read_frames_at, read_image_rgb
    from onethinker.tasks import get_task
    from onethinker.viz import even_times

    spec = get_task(task)
    draw, draw_times = spec.hook("draw"), spec.hook("draw_times")
    if data_type == "image":
        frames, times = read_image_rgb(media)[None], [None]
    else:
        from onethinker.data.media import probe_video

        duration = float(probe_video(media).duration or 0.0)
        times = (draw_times(value, duration) if value is not None and draw_times is not None else None) \
            or even_times(duration)
        frames = read_frames_at(media, times)
    fig, axes = plt.subplots(1, len(frames), figsize=(4.5 * len(frames), 4.5), squeeze=False)
    for ax, frame, t in zip(axes[0], frames, times):
        ax.imshow(frame)
        ax.set_axis_off()
        label = describe(value, task) if value is not None else "(unparseable answer)"
        if t is not None:
            label = f"t = {t:.1f} s"
        if value is not None and draw is not None:
            label = draw(ax, frame, t, value, mask_backend) or label
        ax.set_title(label, fontsize=9)
    fig.suptitle(title[:120], fontsize=10)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return out
