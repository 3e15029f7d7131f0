"""The constant-answer baseline: what one fixed answer per task would score, next to what the model scores.

A model can beat chance and still learn nothing about its inputs: "A" may be the commonest letter, a box
in the middle of the frame overlaps most objects, an interval over most of a video overlaps most events.
The blind control (:mod:`onethinker.eval.blind`) asks whether the model looks at its media; this baseline
asks whether its answers beat the best answer that ignores the question and the media alike.

For each task the candidates are the benchmark's own ground-truth answers (each distinct one once, at most
``max_candidates`` of them). Each candidate is given as the answer to every record of the task and scored
with the reward's accuracy (:func:`onethinker.rewards.score_batch`, as the blind control and the quickstart
score answers). A record's baseline is the accuracy of the candidate that scores best over the *other*
records of its task (leave one out), so no record is answered with a constant chosen for its own answer;
a candidate that only this record has is not eligible for it. The candidates are observed answers, so the
baseline is a floor on what a constant can reach: a coordinate-wise median box can score a little more.

Usage::

    from onethinker.eval.constant import constant_baseline, constant_table, constant_markdown
    base = constant_baseline(records)                 # records carry problem_type, data_type, answer
    rows = constant_table(base, model_accuracy)       # model - constant per task, paired record by record
    print(constant_markdown(rows, base.answers))

CLI: ``onethinker eval score PRED.jsonl --constant`` and ``onethinker eval run ... --constant``.
"""

from __future__ import annotations

import json
import math
import zlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onethinker.eval.blind import ALL_TASKS, PairedRow, _fmt, _get, paired_table

__all__ = ["ConstantBaseline", "ConstantRow", "compare_constant", "constant_baseline", "constant_markdown",
           "constant_table", "print_constant_table", "write_constant_json"]

DEFAULT_MAX_CANDIDATES = 100


def _truth(record: Any) -> Any:
    for name in ("answer", "solution", "ground_truth"):
        value = _get(record, name)
        if value is not None:
            return value
    return None


@dataclass(frozen=True)
class ConstantBaseline:
    """What :func:`constant_baseline` returns.

    Attributes:
        tasks: the task key of each record, in input order.
        accuracy: each record's accuracy when answered with the constant chosen over the other records of its
            task; NaN where no other record of the task has an answer to choose from.
        answers: per task, the candidate that scores best over all the task's records (what a table shows).
        candidates: per task, how many distinct answers were tried.
    """

    tasks: list[str]
    accuracy: list[float]
    answers: dict[str, str]
    candidates: dict[str, int]


def constant_baseline(records: Sequence, *, max_candidates: int = DEFAULT_MAX_CANDIDATES,
                      seed: int = 0, where: Sequence[str] | None = None) -> ConstantBaseline:
    """Each record's accuracy under the best constant answer of its task, chosen without that record.

    Args:
        records: ``onethinker.data.Record`` objects or mappings with ``problem_type``, ``data_type`` and a
            ground truth in ``answer`` (or ``solution`` / ``ground_truth``; ``<answer>`` tags are stripped).
        max_candidates: at most this many distinct answers per task are tried (a seeded sample when a task
            has more); the work grows as candidates x records.
        seed: seeds that sample; with fewer distinct answers than ``max_candidates`` the result does not
            depend on it.
        where: how an error names each record (such as ``FILE:LINE``); by default ``record i``.

    Raises:
        ValueError: a record has no ground truth (the message names the record and the field), or
            ``max_candidates`` is below 1.
        onethinker.tasks.UnknownTaskError: a record names a task the registry does not know.
    """
    import numpy as np

    from onethinker.eval.score import answer_text
    from onethinker.rewards import score_batch
    from onethinker.tasks import task_key

    if max_candidates < 1:
        raise ValueError(f"max_candidates must be at least 1, got {max_candidates}")
    records = list(records)
    tasks, truths = [], []
    for i, record in enumerate(records):
        truth = _truth(record)
        if truth is None:
            label = where[i] if where is not None else f"record {i}"
            raise ValueError(f"{label}: answer: the ground-truth answer is missing")
        tasks.append(task_key(_get(record, "problem_type"), _get(record, "data_type")))
        truths.append(str(truth))
    by_task: dict[str, list[int]] = defaultdict(list)
    for i, task in enumerate(tasks):
        by_task[task].append(i)
    accuracy = [math.nan] * len(records)
    answers: dict[str, str] = {}
    tried: dict[str, int] = {}
    for task, members in by_task.items():
        texts = [answer_text(truths[i]) for i in members]
        counts: dict[str, int] = defaultdict(int)
        for text in texts:
            counts[text] += 1
        distinct = list(counts)  # first-seen order, which also breaks ties
        if len(distinct) > max_candidates:
            rng = np.random.default_rng([seed % 2**32, zlib.crc32(task.encode())])
            keep = sorted(rng.choice(len(distinct), size=max_candidates, replace=False).tolist())
            distinct = [distinct[k] for k in keep]
        tried[task] = len(distinct)
        truth_items = [{"ground_truth": truths[i], "problem_type": _get(records[i], "problem_type"),
                        "data_type": _get(records[i], "data_type")} for i in members]
        scores = np.empty((len(distinct), len(members)))
        for row, candidate in enumerate(distinct):  # one candidate at a time: memory grows with records only
            response = f"<answer>{candidate}</answer>"
            scores[row] = [float(s["accuracy"]) for s in score_batch({**item, "response": response}
                                                                     for item in truth_items)]
        total = scores.sum(axis=1)
        answers[task] = distinct[int(np.argmax(total))]
        without = total[:, None] - scores  # [candidate, record]: the candidate's score over the other records
        # an answer only this record has is not a constant chosen without it
        place = {candidate: row for row, candidate in enumerate(distinct)}
        lone = [column for column, text in enumerate(texts) if counts[text] == 1 and text in place]
        own = np.zeros_like(without, dtype=bool)
        own[[place[texts[column]] for column in lone], lone] = True
        without[own] = -np.inf
        best = np.argmax(without, axis=0)
        for column, i in enumerate(members):
            if np.isfinite(without[best[column], column]):
                accuracy[i] = float(scores[best[column], column])
    return ConstantBaseline(tasks, accuracy, answers, tried)


class ConstantRow(PairedRow):
    """One task's model accuracy (``model``), the constant answer's (``constant``) and the paired difference
    ``model - constant`` with its uncertainty, as in :class:`~onethinker.eval.blind.PairedRow`."""

    labels = ("model", "constant", "model_minus_constant")


def constant_table(baseline: ConstantBaseline, model_accuracy: Sequence[float]) -> list[ConstantRow]:
    """Per task: the model's accuracy, the constant answer's, and model - constant paired record by record
    (:func:`~onethinker.eval.blind.paired_table`). Records without a baseline (NaN) are left out of both."""
    if len(model_accuracy) != len(baseline.accuracy):
        raise ValueError(f"{len(model_accuracy)} model accuracies for {len(baseline.accuracy)} records")
    keep = [i for i, value in enumerate(baseline.accuracy) if not math.isnan(value)]
    rows = paired_table([baseline.tasks[i] for i in keep], [float(model_accuracy[i]) for i in keep],
                        [baseline.accuracy[i] for i in keep])
    return [ConstantRow(r.task, r.n, r.first, r.second, r.diff, r.se, r.low, r.high) for r in rows]


def compare_constant(pred: str | Path, *, max_candidates: int = DEFAULT_MAX_CANDIDATES,
                     seed: int = 0) -> tuple[list[ConstantRow], ConstantBaseline]:
    """The table from a predictions file (corpus records plus ``response``). Raises ``ValueError`` naming the
    file, line and field of a row that cannot be scored."""
    from onethinker.eval.blind import _read_rows, record_accuracy

    rows = _read_rows(pred)
    baseline = constant_baseline(rows, max_candidates=max_candidates, seed=seed,
                                 where=[f"{pred}:{row['_line']}" for row in rows])
    return constant_table(baseline, record_accuracy(rows)), baseline


def _short(text: str, width: int = 32) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def constant_markdown(rows: Sequence[ConstantRow], answers: Mapping[str, str] | None = None, *,
                      title: str = "Constant-answer baseline (one answer per task, chosen without the record)") -> str:
    """A markdown table of :func:`constant_table`'s rows, with each task's constant when ``answers`` is given."""
    lines = [f"### {title}", "", "| task | n | model | constant | model - constant | 95% interval | constant answer |",
             "| --- | ---: | ---: | ---: | ---: | --- | --- |"]
    for r in rows:
        shown = "" if r.task == ALL_TASKS or not answers else f"`{_short(answers.get(r.task, ''))}`"
        lines.append(f"| {r.task} | {r.n} | {_fmt(r.first)} | {_fmt(r.second)} | {_fmt(r.diff, sign=True)} | "
                     f"[{_fmt(r.low, sign=True)}, {_fmt(r.high, sign=True)}] | {shown} |")
    return "\n".join(lines) + "\n"


def print_constant_table(rows: Sequence[ConstantRow], answers: Mapping[str, str] | None = None,
                         console=None) -> None:
    """Print the rows as a rich table."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title="constant-answer baseline: the model against one answer per task")
    for name in ("task", "n", "model", "constant", "model - constant", "95% interval", "constant answer"):
        table.add_column(name, justify="left" if name in ("task", "constant answer") else "right")
    for r in rows:
        shown = "" if r.task == ALL_TASKS or not answers else _short(answers.get(r.task, ""))
        table.add_row(r.task, str(r.n), _fmt(r.first), _fmt(r.second), _fmt(r.diff, sign=True),
                      f"[{_fmt(r.low, sign=True)}, {_fmt(r.high, sign=True)}]", shown)
    console.print(table)


def write_constant_json(rows: Sequence[ConstantRow], baseline: ConstantBaseline, path: Path) -> None:
    """The rows, each task's constant answer and how many candidates were tried, as JSON."""
    payload = {"rows": [r.as_dict() for r in rows], "answers": baseline.answers, "candidates": baseline.candidates}
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
