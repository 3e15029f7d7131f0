"""`onethinker data ...` commands: synth, validate, stats, export."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(no_args_is_help=True)


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _progress():
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        redirect_stdout=False,
    )


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise _fail(f"{path}: no such file")


@app.command()
def synth(
    out: Path = typer.Option(..., "--out", help="Output folder (data.jsonl, sft.jsonl, media/)."),
    n: int = typer.Option(48, "--n", min=0, help="Number of records (round-robin over the tasks with a generator)."),
    seed: int = typer.Option(0, "--seed", help="Random seed; a task's j-th record depends only on (seed, split, task, j)."),
    difficulty: float = typer.Option(0.5, "--difficulty", min=0.0, max=1.0,
                                     help="0 easy .. 1 hard: distractors, object size, motion, text length."),
    split: str = typer.Option("train", "--split", help="Name of an independent random stream, e.g. test."),
) -> None:
    """Write a deterministic synthetic shapes-world corpus covering all twelve tasks."""
    from onethinker.data.synth import synthesize

    with _progress() as progress:
        task = progress.add_task(f"synthesizing {split}", total=n)
        synthesize(out, n, seed, difficulty=difficulty, split=split,
                   progress=lambda k: progress.advance(task, k))
    typer.echo(f"wrote {n} records to {out / 'data.jsonl'} and {out / 'sft.jsonl'} (media root: {out})")


@app.command()
def validate(
    file: Path = typer.Argument(..., help="Corpus: JSON list, JSONL or parquet."),
    media_root: Optional[Path] = typer.Option(None, "--media-root", help="Folder media paths are relative to "
                                              "(default: the file's folder)."),
    check_media: bool = typer.Option(False, "--check-media", help="Also decode every media file and check time "
                                     "spans, resolution and masks against it."),
    check_files: bool = typer.Option(True, "--check-files/--no-check-files", help="Check that media and mask "
                                     "files exist (no decoding)."),
) -> None:
    """Check every record; print each problem as FILE:LINE: field: what is wrong. Exit 0 only when clean."""
    from onethinker.data.validate import validate_file

    _require_file(file)
    write = sys.stdout.write

    def show(problem) -> None:
        write(f"{problem}\n")

    big = file.stat().st_size > 8 << 20
    if big:
        with _progress() as progress:
            task = progress.add_task(f"validating {file.name}", total=None)
            report = validate_file(file, media_root=media_root, check_media=check_media, check_files=check_files,
                                   on_problem=show, on_record=lambda: progress.advance(task))
    else:
        report = validate_file(file, media_root=media_root, check_media=check_media, check_files=check_files,
                               on_problem=show)
    sys.stdout.flush()
    typer.echo(report.summary(), err=not report.ok)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def stats(
    file: Path = typer.Argument(..., help="Corpus: JSON list, JSONL or parquet."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
    media_root: Optional[Path] = typer.Option(None, "--media-root", help="Folder media paths are relative to."),
    probe_media: bool = typer.Option(True, "--media/--no-media", help="Open each distinct video for its duration."),
) -> None:
    """Counts per task key and modality, answer and prompt lengths, media durations."""
    from onethinker.data.stats import corpus_stats

    _require_file(file)
    result = corpus_stats(file, media_root=media_root, probe_media=probe_media)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{result['file']}[/bold]: {result['records']} records, "
                  f"{result['invalid']['count']} invalid")
    table = Table("task", "records", "answer chars (mean / max)")
    for key, count in result["per_task"].items():
        chars = result["per_task_answer_chars"][key]
        table.add_row(key, str(count), f"{chars['mean']:.0f} / {chars['max']:.0f}")
    console.print(table)
    console.print("modality: " + ", ".join(f"{k} {v}" for k, v in result["per_modality"].items()))
    for name in ("problem_chars", "answer_chars", "sft_response_chars"):
        s = result[name]
        if s["count"]:
            console.print(f"{name}: mean {s['mean']:.0f}, p50 {s['p50']:.0f}, p95 {s['p95']:.0f}, max {s['max']:.0f}")
    media = result["media"]
    line = f"media: {media['distinct_images']} images, {media['distinct_videos']} videos"
    if "missing" in media:
        line += f", {media['missing']} missing, {media['unreadable_videos']} unreadable videos"
        seconds = media["video_seconds"]
        if seconds["count"]:
            line += f"; video seconds mean {seconds['mean']:.1f}, min {seconds['min']:.1f}, max {seconds['max']:.1f}"
    console.print(line)
    for error in result["invalid"]["first"]:
        console.print(f"[yellow]{error}[/yellow]")


class ExportTarget(str, Enum):
    verl = "verl"


@app.command()
def export(
    file: Path = typer.Argument(..., help="Corpus: JSON list, JSONL or parquet."),
    to: ExportTarget = typer.Option(..., "--to", help="Target format."),
    out: Path = typer.Option(..., "-o", "--out", help="Output parquet file."),
    media_root: Optional[Path] = typer.Option(None, "--media-root", help="Folder media paths are relative to "
                                              "(default: the file's folder); exported paths are absolute."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Leave out records that do not parse instead of "
                                  "stopping."),
    video_fps: float = typer.Option(2.0, "--video-fps", help="Frames per second veRL samples from videos."),
    max_frames: int = typer.Option(128, "--max-frames", help="Frame cap per video."),
    video_max_pixels: int = typer.Option(64 * 32 * 32, "--video-max-pixels", help="Pixel budget per frame."),
) -> None:
    """Write the parquet columns veRL's RLHFDataset reads (prompt, images, videos, reward_model, ...)."""
    from onethinker.data.export import export_verl
    from onethinker.data.records import RecordError

    _require_file(file)
    try:
        count = export_verl(file, out, media_root=media_root, skip_bad=skip_bad, video_fps=video_fps,
                            max_frames=max_frames, video_max_pixels=video_max_pixels)
    except RecordError as err:
        raise _fail(f"{err} (run `onethinker data validate {file}`, or pass --skip-bad)", 1) from None
    typer.echo(f"wrote {count} rows to {out} ({to.value})")
