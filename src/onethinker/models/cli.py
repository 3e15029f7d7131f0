"""`onethinker model ...` commands."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("tiny")
def tiny_command(
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write the model, tokenizer and processor to."),
    seed: int = typer.Option(0, help="Seed of the random weights."),
    corpus: Path = typer.Option(
        None, help="JSONL corpus (records with problem/answer/sft_response) to train the tokenizer on."
    ),
    hidden_size: int = typer.Option(64, help="Text width (the vision tower projects to it)."),
    layers: int = typer.Option(2, help="Text decoder layers."),
    vocab_size: int = typer.Option(1024, help="BPE vocabulary size (special tokens included)."),
    merge_words: bool = typer.Option(
        False, "--merge-words/--split-words",
        help="Let BPE merge across words (repeated prompt text becomes a few tokens; numbers stay whole).",
    ),
) -> None:
    """Build a random-init tiny Qwen3-VL offline (loads with AutoModelForImageTextToText / AutoProcessor)."""
    from rich.console import Console

    from onethinker.models.tiny import TinySpec, build_tiny

    console = Console()
    texts = None
    if corpus is not None:
        try:
            texts = corpus_texts(corpus)
        except (OSError, ValueError) as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
    if hidden_size < 32 or hidden_size % 32:
        console.print(f"[red]error:[/red] --hidden-size must be a multiple of 32, got {hidden_size}")
        raise typer.Exit(2)
    spec = TinySpec(hidden_size=hidden_size, num_layers=layers, vocab_size=vocab_size, merge_words=merge_words,
                    num_heads=max(2, hidden_size // 32), num_kv_heads=max(1, hidden_size // 64),
                    intermediate_size=2 * hidden_size)
    from onethinker.models.loading import quiet_transformers

    quiet_transformers()
    path = build_tiny(out, seed=seed, texts=texts, spec=spec)
    console.print(f"tiny Qwen3-VL written to [bold]{path}[/bold]")


def corpus_texts(path: Path) -> list[str]:
    """Prompt texts and responses of a corpus file, for tokenizer training."""
    from onethinker.data import read_records
    from onethinker.tasks import prompt_text

    texts = []
    for _, record in read_records(path):
        texts.append(prompt_text(record.problem, record.key, record.options))
        extra = record.model_extra or {}
        for key in ("sft_response", "response"):
            if isinstance(extra.get(key), str):
                texts.append(extra[key])
        texts.append(str(record.answer))
    return texts
