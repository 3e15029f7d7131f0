"""`onethinker reward ...` commands."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True)

_CHUNK = 512  # lines scored per score_batch call: keeps memory flat on any file size


class _BadLine(Exception):
    pass


def _read_item(line: str, where: str) -> dict:
    try:
        item = json.loads(line.rstrip("\r\n"))
    except json.JSONDecodeError as err:
        raise _BadLine(f"{where}: not valid JSON: {err.msg} (column {err.colno})") from None
    if not isinstance(item, dict):
        raise _BadLine(f"{where}: expected a JSON object, got {type(item).__name__}")
    return item


@app.command("score")
def score_command(
    input_path: Path = typer.Argument(..., metavar="IN.jsonl", help="One JSON object per line with response, "
                                      "ground_truth, problem_type, data_type."),
    output: Path = typer.Option(..., "-o", "--output", metavar="OUT.jsonl",
                                help="Each input line plus reward: {overall, format, accuracy, structure[, reason]}."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Report unparseable lines and go on (they are left "
                                  "out of the output) instead of stopping at the first one."),
    format_weight: float = typer.Option(0.1, "--format-weight", min=0.0, max=1.0,
                                        help="w in overall = (1 - w) * accuracy + w * format + structure."),
) -> None:
    """Score model responses with the verifiable rewards, streaming IN.jsonl to OUT.jsonl."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    from onethinker.rewards import score_batch

    from rich.markup import escape

    err = Console(stderr=True, soft_wrap=True)

    def say(label: str, message: str) -> None:
        err.print(f"{label} {escape(message)}" if label else escape(message))
    if not input_path.is_file():
        say("[red]error:[/red]", f"{input_path}: no such file")
        raise typer.Exit(2)
    if output.resolve() == input_path.resolve():
        say("[red]error:[/red]", f"output {output} would overwrite the input")
        raise typer.Exit(2)

    scored = bad = 0
    total_overall = 0.0
    chunk: list[dict] = []

    def flush(out) -> None:
        nonlocal scored, total_overall
        for item, reward in zip(chunk, score_batch(chunk, format_weight=format_weight)):
            item["reward"] = reward
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
            total_overall += reward["overall"]
        scored += len(chunk)
        chunk.clear()

    output.parent.mkdir(parents=True, exist_ok=True)
    columns = (TextColumn("scoring"), BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[n]} items"),
               TimeRemainingColumn())
    with input_path.open("rb") as src, output.open("w", encoding="utf-8") as out, \
            Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("score", total=input_path.stat().st_size, n=0)
        for number, raw in enumerate(src, start=1):
            progress.advance(task, len(raw))
            where = f"{input_path}:{number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                line, problem = None, f"{where}: not UTF-8 ({exc.reason} at byte {exc.start})"
            if line is not None and not line.strip():
                continue
            try:
                if line is None:
                    raise _BadLine(problem)
                chunk.append(_read_item(line, where))
            except _BadLine as exc:
                bad += 1
                if not skip_bad:
                    progress.stop()
                    say("[red]error:[/red]", str(exc))
                    say("", "(use --skip-bad to report bad lines and go on)")
                    raise typer.Exit(1)
                say("[yellow]skipped[/yellow]", str(exc))
            if len(chunk) >= _CHUNK:
                flush(out)
                progress.update(task, n=scored)
        if chunk:
            flush(out)
            progress.update(task, n=scored)

    mean = total_overall / scored if scored else 0.0
    skipped = f", skipped {bad} bad line(s)" if bad else ""
    say("", f"scored {scored} item(s) into {output} (mean overall {mean:.4f}){skipped}")
