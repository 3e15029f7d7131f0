"""`onethinker eval ...` commands: ``score`` a predictions file, ``run`` a model on a benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True)

_BY_TASK_HELP = "Split each benchmark into one group per task ('benchmark / task')."
_BLIND_PRED_HELP = ("Predictions of the same benchmark with media swapped (eval run --blind): print accuracy "
                    "per task with right vs swapped media and write PRED.blind.json.")
_BLIND_HELP = ("Blind control: answer the benchmark again with each record's media swapped for another record's "
               "of the same task; print and write accuracy per task with right vs swapped media.")
_BLIND_MATCH_HELP = ("Swap partners for --blind: any (any record of the task) or length (a record of the task whose "
                     "media are about as long: video seconds, image pixels), so that reading only a video's "
                     "length does not count as looking.")
_CONSTANT_HELP = ("Constant-answer baseline: score, per task, the best single answer from the benchmark's own "
                  "ground truths (chosen without the record it answers) beside the model; print and write "
                  "PRED.constant.json.")
_MASK_HELP = ("Mask backend for segmentation answers: grabcut (offline), sam2 (transformers' SAM2 from --sam2-model), "
              "auto (sam2 when --sam2-model is given, else grabcut).")
_SAM2_HELP = "SAM2 model folder or hub id (default for --mask-backend sam2: facebook/sam2.1-hiera-large)."
_SERVER_HELP = ("Server kind, for the request fields only it accepts: vllm, sglang, transformers (transformers "
                "serve), generic, or auto (detected from /v1/models).")
_VIDEO_FORMAT_HELP = ("video: a video's frames as one video_url with its fps (vLLM only); images: frames as images "
                      "(any server). Default: video for vLLM, else images.")


def _score_and_print(console, path: Path, media_root: Path | None, *, by_task: bool, mask_backend: str,
                     sam2_model: str | None, device: str) -> dict:
    """Score a predictions file with the chosen mask backend and print the table; bad input exits cleanly."""
    from onethinker.data import RecordError, read_records
    from onethinker.eval.masks import MaskError, get_mask_backend
    from onethinker.eval.report import print_report
    from onethinker.eval.score import ScoreError, prepare_items, score_items

    try:
        backend = get_mask_backend(mask_backend, checkpoint=sam2_model, device=device)
        groups = prepare_items(read_records(path), source=str(path), by_task=by_task)
        results = score_items(groups, media_root, backend, source=str(path))
    except (RecordError, ScoreError, MaskError) as exc:
        _fail(console, str(exc))
    print_report(results, console)
    return results


def _blind_and_print(console, pred: Path, blind_pred: Path, out: Path, note: str = "") -> list:
    """Print the blind table of two prediction files and write it as JSON to ``out``."""
    from onethinker.eval.blind import compare_predictions, print_blind_table, write_blind_json

    if not blind_pred.is_file():
        _fail(console, f"{blind_pred} does not exist")
    try:
        rows, unpaired = compare_predictions(pred, blind_pred)
    except ValueError as exc:
        _fail(console, str(exc))
    print_blind_table(rows, console)
    if note:
        console.print(note, highlight=False)
    if unpaired:
        console.print(f"[yellow]{unpaired} predictions have no partner in the other file (left out)[/yellow]")
    write_blind_json(rows, out, unpaired=unpaired, note=note)
    console.print(f"blind control written to [bold]{out}[/bold]")
    return rows


def _constant_and_print(console, pred: Path) -> tuple:
    """Print the constant-answer table of a prediction file, write it as JSON beside it, and return the rows
    and the baseline."""
    from onethinker.eval.constant import (
        compare_constant,
        print_constant_table,
        write_constant_json,
    )

    try:
        rows, baseline = compare_constant(pred)
    except ValueError as exc:
        _fail(console, str(exc))
    print_constant_table(rows, baseline.answers, console)
    out = pred.with_name(pred.stem + ".constant.json")
    write_constant_json(rows, baseline, out)
    console.print(f"constant-answer baseline written to [bold]{out}[/bold]")
    return rows, baseline


def _fail(console, message: str, code: int = 2) -> None:
    console.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


@app.command("score")
def score_command(
    predictions: Path = typer.Argument(..., help="JSONL/JSON/parquet: corpus records plus a `response` field."),
    media_root: Path = typer.Option(None, "--media-root", help="Folder media and mask paths are relative to."),
    out: Path = typer.Option(None, "--out", "-o", help="Write the metrics JSON {group: {metric: value}} here."),
    report: Path = typer.Option(None, "--report", help="Also write a markdown report here."),
    by_task: bool = typer.Option(False, "--by-task", help=_BY_TASK_HELP),
    mask_backend: str = typer.Option("auto", "--mask-backend", help=_MASK_HELP),
    sam2_model: str = typer.Option(None, "--sam2-model", "--sam2-checkpoint", help=_SAM2_HELP),
    device: str = typer.Option("cpu", "--device", help="Device for the SAM2 mask backend."),
    blind_pred: Path = typer.Option(None, "--blind-pred", help=_BLIND_PRED_HELP),
    constant: bool = typer.Option(False, "--constant", help=_CONSTANT_HELP),
) -> None:
    """Score predictions: metrics in percent per benchmark (the `benchmark` field, else the task)."""
    from rich.console import Console

    from onethinker.eval.report import markdown_report

    console = Console()
    if not predictions.is_file():
        _fail(console, f"{predictions} does not exist")
    results = _score_and_print(console, predictions, media_root, by_task=by_task, mask_backend=mask_backend,
                               sam2_model=sam2_model, device=device)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        console.print(f"metrics written to [bold]{out}[/bold]")
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(markdown_report(results, title=predictions.name), encoding="utf-8")
        console.print(f"report written to [bold]{report}[/bold]")
    if blind_pred is not None:
        _blind_and_print(console, predictions, blind_pred, predictions.with_name(predictions.stem + ".blind.json"))
    if constant:
        _constant_and_print(console, predictions)


@app.command("run")
def run_command(
    model: str = typer.Option(..., "--model", help="Local checkpoint folder, or an OpenAI-compatible server URL."),
    bench: Path = typer.Option(..., "--bench", help="Benchmark file (corpus records with ground truth)."),
    out: Path = typer.Option(None, "--out", "-o", help="Predictions JSONL (default: BENCH.pred.jsonl); appended."),
    media_root: Path = typer.Option(None, "--media-root", help="Folder media paths are relative to."),
    max_new_tokens: int = typer.Option(8192, "--max-new-tokens", help="Response budget."),
    temperature: float = typer.Option(0.0, "--temperature", help="0 decodes greedily (the published setting)."),
    top_p: float = typer.Option(1.0, "--top-p"),
    batch_size: int = typer.Option(8, "--batch-size", help="Records per generate call (local model)."),
    device: str = typer.Option("cpu", "--device", help="Device for a local model and for SAM2."),
    dtype: str = typer.Option("auto", "--dtype", help="auto, float32, bfloat16, float16 (local model)."),
    concurrency: int = typer.Option(8, "--concurrency", help="Requests in flight (server)."),
    timeout: float = typer.Option(600.0, "--timeout", help="Seconds per request (server)."),
    retries: int = typer.Option(4, "--retries", help="Retries per request after the first attempt (server)."),
    served_model: str = typer.Option(None, "--served-model", help="Model name on the server (default: ask it)."),
    api_key: str = typer.Option(None, "--api-key", envvar="OPENAI_API_KEY", help="Bearer token for the server."),
    server: str = typer.Option("auto", "--server", help=_SERVER_HELP),
    video_format: str = typer.Option(None, "--video-format", help=_VIDEO_FORMAT_HELP),
    fps: float = typer.Option(None, "--fps", help="Video frames sampled per second (paper: 2)."),
    max_frames: int = typer.Option(None, "--max-frames", help="At most this many frames per video (paper: 128)."),
    image_max_pixels: int = typer.Option(None, "--image-max-pixels", help="Pixel budget per image (paper: 1048576)."),
    image_min_pixels: int = typer.Option(None, "--image-min-pixels", help="Smaller images are upscaled (4096)."),
    video_max_pixels: int = typer.Option(None, "--video-max-pixels", help="Pixel budget per frame (paper: 262144)."),
    video_min_pixels: int = typer.Option(None, "--video-min-pixels", help="Smaller frames are upscaled (4096)."),
    vision_factor: int = typer.Option(32, "--vision-factor",
                                      help="Server: sides rounded to multiples of this (32 Qwen3-VL, 28 Qwen2.5-VL)."),
    limit: int = typer.Option(None, "--limit", help="Only the first N records."),
    report: Path = typer.Option(None, "--report", help="Markdown report (default: OUT with .md)."),
    metrics_out: Path = typer.Option(None, "--metrics", help="Metrics JSON (default: OUT with .metrics.json)."),
    by_task: bool = typer.Option(False, "--by-task", help=_BY_TASK_HELP),
    mask_backend: str = typer.Option("auto", "--mask-backend", help=_MASK_HELP),
    sam2_model: str = typer.Option(None, "--sam2-model", "--sam2-checkpoint", help=_SAM2_HELP),
    blind: bool = typer.Option(False, "--blind", help=_BLIND_HELP),
    blind_seed: int = typer.Option(0, "--blind-seed", help="Seed of the media swap (--blind)."),
    blind_match: str = typer.Option("any", "--blind-match", help=_BLIND_MATCH_HELP),
    constant: bool = typer.Option(False, "--constant", help=_CONSTANT_HELP),
) -> None:
    """Answer a benchmark with a model (resumable), then score it and write a report beside the paper's figures."""
    from rich.console import Console

    from onethinker.data import RecordError
    from onethinker.eval.report import markdown_report
    from onethinker.eval.runner import GenerationSettings, HFBackend, OpenAIBackend, eval_media, is_url, \
        run_benchmark

    console = Console()
    if not bench.is_file():
        _fail(console, f"benchmark file {bench} does not exist")
    if blind_match not in ("any", "length"):
        _fail(console, f"--blind-match must be 'any' or 'length', got {blind_match!r}")
    out = out or bench.with_name(bench.stem + ".pred.jsonl")
    report = report or out.with_suffix(".md")
    metrics_out = metrics_out or out.with_suffix(".metrics.json")
    settings = GenerationSettings(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p)
    try:
        media = eval_media(video_fps=fps, video_max_frames=max_frames, image_max_pixels=image_max_pixels,
                           image_min_pixels=image_min_pixels, video_max_pixels=video_max_pixels,
                           video_min_pixels=video_min_pixels)
        if is_url(model):
            backend = OpenAIBackend(model, model_name=served_model, api_key=api_key, server=server,
                                    concurrency=concurrency, timeout_s=timeout, max_retries=retries,
                                    settings=settings, media=media, factor=vision_factor, video_format=video_format)
        else:
            if not Path(model).expanduser().exists():
                _fail(console, f"model folder {model} does not exist")
            from onethinker.models.loading import quiet_transformers

            quiet_transformers()
            backend = HFBackend(model, device=device, dtype=dtype, batch_size=batch_size, settings=settings,
                                media=media)
    except ValueError as exc:  # an unknown --server or --video-format, a budget out of range
        _fail(console, str(exc))
    try:
        summary = run_benchmark(bench, out, backend, media_root, limit=limit, model_label=model)
        if blind:  # the same records again, each with another record's media of its task
            from onethinker.eval.blind import blind_paths, write_swapped_benchmark

            swapped_bench, blind_out, blind_json = blind_paths(out, blind_match)
            swap = write_swapped_benchmark(bench, swapped_bench, seed=blind_seed, match_length=blind_match == "length",
                                           media_root=media_root)
            console.print(f"blind control: answering {swapped_bench.name} (media swapped within each task"
                          f"{', partners of about the same length' if blind_match == 'length' else ''})")
            blind_summary = run_benchmark(swapped_bench, blind_out, backend, media_root, limit=limit,
                                          model_label=model)
            summary.failures += blind_summary.failures
    except (RecordError, ValueError) as exc:  # a malformed benchmark; settings other than the file's; a
        _fail(console, str(exc))              # video format the detected server does not take
    finally:
        if hasattr(backend, "close"):
            backend.close()
    console.print(f"{summary.written} new predictions appended to [bold]{out}[/bold] "
                  f"({summary.skipped} already there, {len(summary.failures)} failed)")
    for line, problem in summary.failures[:10]:
        console.print(f"[yellow]{bench}:{line}:[/yellow] {problem}", highlight=False)
    if not out.exists() or out.stat().st_size == 0:
        _fail(console, "no predictions to score", code=1)
    results = _score_and_print(console, out, media_root, by_task=by_task, mask_backend=mask_backend,
                               sam2_model=sam2_model, device=device)
    metrics_out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    report.write_text(markdown_report(results, title=f"{bench.name} ({model})", settings=summary.settings),
                      encoding="utf-8")
    console.print(f"metrics: [bold]{metrics_out}[/bold]  report: [bold]{report}[/bold]")
    if blind:
        from onethinker.eval.blind import blind_markdown

        rows = _blind_and_print(console, out, blind_out, blind_json, note=swap.note)
        report.write_text(report.read_text(encoding="utf-8") + "\n" + blind_markdown(rows), encoding="utf-8")
    if constant:
        from onethinker.eval.constant import constant_markdown

        rows, baseline = _constant_and_print(console, out)
        report.write_text(report.read_text(encoding="utf-8") + "\n" + constant_markdown(rows, baseline.answers),
                          encoding="utf-8")
    if summary.failures:
        console.print(f"[yellow]{len(summary.failures)} items failed; rerun the same command to retry them[/yellow]")
        raise typer.Exit(1)
