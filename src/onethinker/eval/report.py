"""Reports: a markdown table per benchmark, with the paper's OneThinker-8B figures beside matching metrics."""

from __future__ import annotations

from collections.abc import Mapping

from onethinker.eval.reference import PAPER, references_for

COUNT_KEYS = ("n", "unparseable")


def markdown_report(results: Mapping[str, Mapping[str, float]], *, title: str | None = None,
                    settings: Mapping | None = None) -> str:
    """One ``###`` section per group: ``| metric | ours | paper |`` plus the record and failure counts.

    ``results`` is what :func:`onethinker.eval.score_predictions` returns. A paper figure whose metric name
    is unconfirmed is marked with a dagger and explained under its table. ``settings`` (the ``eval_settings``
    of ``eval run``: backend, decoding, media budgets) are listed first, so the report says how to reproduce it.
    """
    lines: list[str] = []
    if title:
        lines += [f"# {title}", ""]
    if settings:
        lines += ["### settings", "", "| setting | value |", "| --- | --- |"]
        lines += [f"| {name} | `{value}` |" for name, value in _flatten(settings)]
        lines.append("")
    for group, metrics in results.items():
        refs = references_for(group)
        header = ["| metric | ours |", "| --- | ---: |"]
        if refs:
            header = [f"| metric | ours | {PAPER} |", "| --- | ---: | ---: |"]
        lines += [f"### {group}", "", *header]
        notes: dict[str, list[str]] = {}  # note -> the metrics it covers
        for name, value in metrics.items():
            if name in COUNT_KEYS:
                continue
            ref = refs.get(name)
            paper = ""
            if ref is not None:
                paper = f"{ref.value:.1f}" + ("" if ref.confirmed else " †")
                if not ref.confirmed:
                    notes.setdefault(ref.note, []).append(f"{ref.benchmark} {ref.metric}")
            lines.append(f"| {name} | {value:.1f} |" + (f" {paper} |" if refs else ""))
        n = int(metrics.get("n", 0))
        bad = int(metrics.get("unparseable", 0))
        lines += ["", f"{n} records, {bad} unparseable responses (scored as failures)."]
        lines += [""] + [f"† {', '.join(names)}: {note}" for note, names in notes.items()] + ([""] if notes else [])
    return "\n".join(lines).rstrip() + "\n"


def _flatten(settings: Mapping, prefix: str = "") -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = []
    for name, value in settings.items():
        if isinstance(value, Mapping):
            rows += _flatten(value, f"{prefix}{name}.")
        else:
            rows.append((f"{prefix}{name}", value))
    return rows


def print_report(results: Mapping[str, Mapping[str, float]], console=None) -> None:
    """The same tables on the terminal (rich)."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    for group, metrics in results.items():
        refs = references_for(group)
        n, bad = int(metrics.get("n", 0)), int(metrics.get("unparseable", 0))
        table = Table(title=f"{group}  ({n} records, {bad} unparseable)", title_justify="left")
        table.add_column("metric")
        table.add_column("ours", justify="right")
        if refs:
            table.add_column("paper", justify="right")
        for name, value in metrics.items():
            if name in COUNT_KEYS:
                continue
            row = [name, f"{value:.1f}"]
            if refs:
                ref = refs.get(name)
                row.append("" if ref is None else f"{ref.value:.1f}" + ("" if ref.confirmed else " (unconfirmed)"))
            table.add_row(*row)
        console.print(table)
