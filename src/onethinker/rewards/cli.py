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
    judge_url: str = typer.Option(None, "--judge-url", help="Base URL of a reward-model server that judges "
                                  "open-ended answers and captions (e.g. http://127.0.0.1:8000); off when unset."),
    judge_model: str = typer.Option("internlm/POLAR-7B", "--judge-model", help="Served model name."),
    judge_endpoint: str = typer.Option("vllm_pooling", "--judge-endpoint",
                                       help="vllm_pooling (POST /pooling) or sglang_classify (POST /classify)."),
    judge_batch_size: int = typer.Option(64, "--judge-batch-size", min=1, help="Texts per judge request."),
    judge_concurrency: int = typer.Option(8, "--judge-concurrency", min=1, help="Judge requests in flight."),
    judge_timeout: float = typer.Option(30.0, "--judge-timeout", help="Seconds per judge request."),
    judge_retries: int = typer.Option(8, "--judge-retries", min=1, help="Attempts per batch."),
    judge_normalization: str = typer.Option("group", "--judge-normalization",
                                            help="group (per problem_id z-score then min-max; published) or "
                                            "sigmoid (each raw score alone)."),
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

    judge = None
    if judge_url:
        from onethinker.rewards import JudgeConfig

        judge = JudgeConfig(url=judge_url, model=judge_model, endpoint=judge_endpoint, batch_size=judge_batch_size,
                            concurrency=judge_concurrency, timeout_s=judge_timeout, retries=judge_retries,
                            normalization=judge_normalization)
        problems = judge.problems()
        if problems:
            for name, what in problems:
                say("[red]error:[/red]", f"--judge-{name.replace('_', '-')}: {what}")
            raise typer.Exit(2)
    # Group normalisation needs a problem_id group in one score_batch call: chunks end between groups.
    keep_groups = judge is not None and judge.normalization == "group"
    judge_stats = None

    scored = bad = 0
    total_overall = 0.0
    chunk: list[dict] = []

    def flush(out) -> None:
        nonlocal scored, total_overall, judge_stats
        rewards = score_batch(chunk, format_weight=format_weight, judge=judge)
        judge_stats = rewards.judge_stats + judge_stats
        for item, reward in zip(chunk, rewards):
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
                item = _read_item(line, where)
                if len(chunk) >= _CHUNK and not (keep_groups and item.get("problem_id") == chunk[-1].get("problem_id")):
                    flush(out)
                    progress.update(task, n=scored)
                chunk.append(item)
            except _BadLine as exc:
                bad += 1
                if not skip_bad:
                    progress.stop()
                    say("[red]error:[/red]", str(exc))
                    say("", "(use --skip-bad to report bad lines and go on)")
                    raise typer.Exit(1)
                say("[yellow]skipped[/yellow]", str(exc))
        if chunk:
            flush(out)
            progress.update(task, n=scored)

    mean = total_overall / scored if scored else 0.0
    skipped = f", skipped {bad} bad line(s)" if bad else ""
    say("", f"scored {scored} item(s) into {output} (mean overall {mean:.4f}){skipped}")
    if judge_stats is not None and judge_stats.enabled:
        s = judge_stats
        say("", f"judge: {s.judged} judged, {s.fallback} rouge_fallback (judged share {s.judged_share:.2%}), "
                f"{s.requests} request(s), {s.failed_batches} failed batch(es), {s.latency_s:.2f} s")
