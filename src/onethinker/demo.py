"""`onethinker demo`: a Gradio page over :class:`onethinker.Predictor` (the ``demo`` extra).

A person uploads an image or a video, picks a task (the prompt then ends with that task's instruction, shown
on the page), asks, and sees the reasoning, the answer and the answer drawn on the media. Shapes-world
examples are preloaded. Bad uploads (too large, not decodable, wrong kind for the task) get a message on the
page, never a traceback. The server binds to 127.0.0.1 unless ``--host`` says otherwise.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import typer

DEFAULT_MAX_UPLOAD_MB = 50.0
# a question per task for the preloaded examples (the shapes world's own problems are used where they exist)
EXAMPLE_KEYS = ("spatial grounding", "tracking", "segmentation/image", "temporal grounding", "multiple choice")


@dataclass
class Reply:
    """What one question puts on the page."""

    status: str
    reasoning: str = ""
    answer: str = ""
    image: str | None = None
    video: str | None = None


def answer_upload(predictor, upload: str | None, task: str, question: str, options_text: str = "", *,
                  max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB, out_dir: str | Path | None = None) -> Reply:
    """Answer one question from the page: the work behind the Ask button, without Gradio (testable)."""
    from onethinker.predictor import PredictionError, render_overlay

    if not upload:
        return Reply("**Upload an image or a video first.**")
    path = Path(upload)
    if not path.is_file():
        return Reply(f"**The upload {path.name} is gone; upload it again.**")
    size_mb = path.stat().st_size / 2**20
    if size_mb > max_upload_mb:
        return Reply(f"**{path.name} is too large:** {size_mb:.1f} MB, the limit is {max_upload_mb:g} MB.")
    if not question.strip():
        return Reply("**Ask a question** (or a referring expression for grounding tasks).")
    options = [line.strip() for line in (options_text or "").splitlines() if line.strip()] or None
    try:
        result = predictor.predict(path, task, question, options=options)
    except PredictionError as exc:
        return Reply(f"**Cannot answer:** {exc}")
    out_dir = Path(out_dir or tempfile.mkdtemp(prefix="onethinker-demo-"))
    out = out_dir / f"{path.stem}-{result.task.replace('/', '-').replace(' ', '_')}"
    overlay = render_overlay(result, out.with_suffix(".png" if result.data_type == "image" else ".mp4"))
    if result.ok:
        status, answer = f"**Answer ({result.task}):** {result.describe()}", result.answer
    else:
        status = f"**The answer does not parse as {result.task}:** {result.reason}. The raw answer is shown."
        answer = result.answer or repr(result.response)
    return Reply(status, result.reasoning or "(no <think> block)", answer,
                 image=str(overlay) if result.data_type == "image" else None,
                 video=str(overlay) if result.data_type == "video" else None)


def example_rows(folder: Path) -> list[list[str]]:
    """Preloaded shapes-world examples: ``[media, task, question]`` rows, synthesized once into ``folder``."""
    import json

    from onethinker.data import synthesize
    from onethinker.tasks import task_key

    data = folder / "data.jsonl"
    if not data.is_file():
        synthesize(folder, 12, 0, split="test")
    rows = {}
    for line in data.read_text().splitlines():
        row = json.loads(line)
        key = task_key(row["problem_type"], row["data_type"])
        media = (row.get("images") or row.get("videos"))[0]
        rows[key] = [str(folder / media), key, row["problem"].replace("<image>", "").replace("<video>", "").strip()]
    return [rows[k] for k in EXAMPLE_KEYS if k in rows]


def build_app(predictor, *, examples_dir: str | Path, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
              model_label: str = ""):
    """The Gradio Blocks app (not launched)."""
    import gradio as gr

    from onethinker.tasks import all_tasks, get_task

    keys = sorted(all_tasks())
    examples = example_rows(Path(examples_dir))
    out_dir = Path(tempfile.mkdtemp(prefix="onethinker-demo-"))

    def instruction(task: str) -> str:
        return get_task(task).instruction if task in keys else ""

    def ask(upload, task, question, options_text):
        try:
            reply = answer_upload(predictor, upload, task, question, options_text, max_upload_mb=max_upload_mb,
                                  out_dir=out_dir)
        except Exception as exc:  # noqa: BLE001 - the page says what went wrong; the log keeps the traceback
            import logging

            logging.getLogger(__name__).exception("demo request failed")
            reply = Reply(f"**Something went wrong:** {type(exc).__name__}: {exc}")
        return (reply.status, reply.reasoning, reply.answer,
                gr.update(value=reply.image, visible=reply.image is not None),
                gr.update(value=reply.video, visible=reply.video is not None))

    with gr.Blocks(title="OneThinker demo") as app:
        gr.Markdown(f"# OneThinker\nUpload an image or a video, pick a task, ask. {model_label}")
        with gr.Row():
            with gr.Column():
                upload = gr.File(label="Image or video", file_types=["image", "video"], type="filepath",
                                 elem_id="upload")
                task = gr.Dropdown(keys, value="spatial grounding", label="Task", elem_id="task")
                prompt_tail = gr.Textbox(instruction("spatial grounding"), label="The task's instruction (ends "
                                         "the prompt)", interactive=False, lines=3)
                question = gr.Textbox(label="Question", placeholder="e.g. the red circle", elem_id="question")
                options = gr.Textbox(label="Options (multiple choice, one per line: 'A. ...')", lines=2)
                ask_button = gr.Button("Ask", variant="primary", elem_id="ask")
            with gr.Column():
                status = gr.Markdown(elem_id="status")
                reasoning = gr.Textbox(label="Reasoning", lines=4, elem_id="reasoning")
                answer = gr.Textbox(label="Answer", elem_id="answer")
                overlay_image = gr.Image(label="Overlay", type="filepath", elem_id="overlay-image",
                                         interactive=False, visible=False)
                overlay_video = gr.Video(label="Overlay", elem_id="overlay-video", interactive=False,
                                         visible=False)
        gr.Examples(examples, [upload, task, question], label="Shapes-world examples")
        task.change(instruction, task, prompt_tail)
        ask_button.click(ask, [upload, task, question, options],
                         [status, reasoning, answer, overlay_image, overlay_video])
    return app


def demo_command(
    model: Path = typer.Option(None, "--model", help="Local checkpoint folder; default: a tiny random model "
                               "built offline (shows the plumbing, not good answers)."),
    port: int = typer.Option(7860, "--port", help="Port to serve on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; 0.0.0.0 exposes the demo to the "
                             "network."),
    max_upload_mb: float = typer.Option(DEFAULT_MAX_UPLOAD_MB, "--max-upload-mb", help="Largest upload accepted."),
    max_new_tokens: int = typer.Option(1024, "--max-new-tokens", help="Response budget."),
    device: str = typer.Option("cpu", "--device"),
    mask_backend: str = typer.Option("auto", "--mask-backend", help="grabcut, sam2 or auto (segmentation masks)."),
    sam2_checkpoint: Path = typer.Option(None, "--sam2-checkpoint", help="Local SAM2 model folder."),
) -> None:
    """Serve a web page where a person asks the model about an uploaded image or video."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home
    try:
        import gradio  # noqa: F401
    except ImportError:
        typer.echo("the demo needs Gradio: pip install 'onethinker[demo]'", err=True)
        raise typer.Exit(2)
    from onethinker.predictor import PredictionError, Predictor

    work = Path(tempfile.mkdtemp(prefix="onethinker-demo-"))
    label = f"Model: `{model}`." if model else "Model: a tiny random model (its answers are noise)."
    if model is None:
        from onethinker.models.tiny import build_tiny

        model = build_tiny(work / "tiny", seed=0)
    try:
        predictor = Predictor(model, device=device, max_new_tokens=max_new_tokens, mask_backend=mask_backend,
                              sam2_checkpoint=sam2_checkpoint)
    except PredictionError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    serve(predictor, host=host, port=port, max_upload_mb=max_upload_mb, work=work, model_label=label)


def serve(predictor, *, host: str = "127.0.0.1", port: int | None = 7860,
          max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB, work: str | Path | None = None, model_label: str = "",
          block: bool = True):
    """Build and launch the app; with ``block=False`` return it running (``app.local_url``; ``app.close()``)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    work = Path(work or tempfile.mkdtemp(prefix="onethinker-demo-"))
    app = build_app(predictor, examples_dir=work / "examples", max_upload_mb=max_upload_mb, model_label=model_label)
    # max_file_size: Gradio refuses larger uploads before they reach the disk; answer_upload checks again.
    app.queue(default_concurrency_limit=1).launch(
        server_name=host, server_port=port, max_file_size=f"{max_upload_mb:g}mb", show_error=False,
        allowed_paths=[str(work)], prevent_thread_lock=not block, quiet=not block,
    )
    return app
