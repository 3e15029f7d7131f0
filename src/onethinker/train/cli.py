"""`onethinker train sft|rl CONFIG.yaml [key=value ...]`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

app = typer.Typer(no_args_is_help=True)

_CONFIG_HELP = "YAML config (see examples/ and docs/training.md)."
_OVERRIDES_HELP = "Overrides with dotted names, e.g. optim.lr=1e-6 rollout.n=4 trainer.resume=true."


@app.command("sft")
def sft_command(
    config: Path = typer.Argument(..., help=_CONFIG_HELP),
    overrides: list[str] = typer.Argument(None, help=_OVERRIDES_HELP),
) -> None:
    """Supervised cold start: cross-entropy on the chain-of-thought + answer tokens."""
    from onethinker.train.config import SFTConfig

    cfg = _load(SFTConfig, config, overrides or [])

    def run(progress):
        from onethinker.train.sft import train_sft

        return train_sft(cfg, progress=progress)

    _run("SFT", run, lambda m: f"loss {m['loss']:.3f}")


@app.command("rl")
def rl_command(
    config: Path = typer.Argument(..., help=_CONFIG_HELP),
    overrides: list[str] = typer.Argument(None, help=_OVERRIDES_HELP),
) -> None:
    """Multi-task RL with verifiable rewards and EMA-GRPO (resumable: trainer.resume=true)."""
    from onethinker.train.config import RLConfig

    cfg = _load(RLConfig, config, overrides or [])

    def run(progress):
        from onethinker.train.rl import train_rl

        return train_rl(cfg, progress=progress)

    _run("RL", run, lambda m: f"reward {m.get('reward/overall', float('nan')):.3f}")


def _load(cls, config: Path, overrides: list[str]):
    from onethinker.train.config import ConfigError, load_config

    try:
        return load_config(cls, config, overrides)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _run(label: str, run, describe) -> None:
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    import os

    # Under `accelerate launch` only the first process draws the bar and says where the model went.
    console = Console(stderr=True, quiet=int(os.environ.get("RANK", "0")) != 0)
    with Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("starting", total=None)

        def progress(step: int, total: int, metrics: dict[str, Any]) -> None:
            bar.update(task, completed=step, total=total, description=describe(metrics))

        try:
            out = run(progress)
        except _user_errors() as exc:
            bar.stop()
            Console(stderr=True).print(f"[red]error:[/red] {exc}", soft_wrap=True, markup=True,
                                       highlight=False)  # every process's error is shown
            raise typer.Exit(1) from None
    console.print(f"{label} done: model in [bold]{out}[/bold]")


def _user_errors() -> tuple[type[BaseException], ...]:
    from onethinker.data import MediaError, RecordError
    from onethinker.train.sft_data import SFTDataError

    return (RecordError, SFTDataError, MediaError, FileNotFoundError, ValueError)
