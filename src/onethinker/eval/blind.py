"""The blind control: does a model look at its media? Answer a benchmark again with every record's images and
videos swapped for another record's of the same task, and compare accuracy per task.

Usage::

    from onethinker.eval.blind import swap_media, blind_table, record_accuracy
    swap = swap_media(records, seed=0)          # swap.records: copies with swapped media, same order
    right = record_accuracy(predictions)        # rows with a `response`, scored by onethinker.rewards
    blind = record_accuracy(blind_predictions)
    rows = blind_table([r.key for r in records], right, blind)
    # or, from responses you generated yourself (records are the originals, not the swapped copies):
    rows = blind_control(records, right_responses, swapped_responses)
    print(blind_markdown(rows))

A model that uses its media loses accuracy when they are swapped; a blind one (answering from the question
and its priors alone) does not. The gap per task comes with a paired standard error and a 95% interval
(:func:`paired_table`, which compares any two answers to the same records: after RL against after SFT too).

Only ``images`` and ``videos`` move: the question, options, ground truth, masks and every other field stay.
Swap partners share the task key (``onethinker.tasks.task_key``), the data type and the number of images and
of videos, so every prompt stays well-formed. Within each such group the swap is a derangement (one cycle
through a seeded permutation), so no record keeps its own media, except in a group of one record or where two
records name the same files; :attr:`MediaSwap.unchanged` lists those.

CLI: ``onethinker eval run ... --blind`` and ``onethinker eval score PRED.jsonl --blind-pred BLIND.jsonl``.
"""

from __future__ import annotations

import json
import math
import zlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

__all__ = ["BlindRow", "MediaSwap", "PairedRow", "blind_control", "blind_markdown", "blind_table", "compare_predictions",
           "media_lengths", "pair_predictions", "paired_table", "pooled", "print_blind_table", "record_accuracy",
           "swap_media", "write_swapped_benchmark"]

ALL_TASKS = "mean over tasks"


def _get(record: Any, name: str, default: Any = None) -> Any:
    if isinstance(record, Mapping):
        return record.get(name, default)
    return getattr(record, name, default)


def _media_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _task_of(record: Any) -> str:
    from onethinker.tasks import task_key

    return task_key(_get(record, "problem_type"), _get(record, "data_type"))


def _with_media(record: Any, images: list[str], videos: list[str]) -> Any:
    """A copy of ``record`` carrying ``images`` and ``videos`` (a ``Record`` or a plain mapping)."""
    if isinstance(record, Mapping):
        out = dict(record)
        out["images"], out["videos"] = list(images), list(videos)
        return out
    return record.model_copy(update={"images": list(images), "videos": list(videos)})


@dataclass(frozen=True)
class MediaSwap:
    """What :func:`swap_media` returns.

    Attributes:
        records: copies of the input records, in input order, each carrying its donor's images and videos.
        donors: ``donors[i]`` is the index of the record whose media record ``i`` now carries.
        unchanged: indices of records whose media did not change: the only record of its group (task key,
            data type, media counts), a record without media, or a donor naming the same files.
        note: one line saying how many records kept their own media and why ("" when none did).
    """

    records: list
    donors: list[int]
    unchanged: list[int] = field(default_factory=list)
    note: str = ""


def swap_media(records: Sequence, seed: int = 0, *, lengths: Sequence[float] | None = None) -> MediaSwap:
    """Copies of ``records`` with each record's media swapped for another record's of the same task.

    Pure and deterministic: the same records and ``seed`` give the same swap; each group's permutation is
    seeded by ``(seed, group)``, so adding records to one task does not change another task's swap.

    With ``lengths`` (one number per record, such as :func:`media_lengths` gives: seconds of video, pixels of
    image), partners are matched by length instead: a group's members are ordered by length (ties in the
    seeded order) and neighbours swap in pairs, the last three in a cycle when the group is odd. Each record
    then carries media of about its own length, so a model that reads only how long a video is (or how large
    an image is) loses nothing; what it still loses, it read from the content.

    Args:
        records: ``onethinker.data.Record`` objects or mappings with ``problem_type``, ``data_type``,
            ``images`` / ``videos``.
        seed: seeds the permutation.
        lengths: match partners by these numbers (``None``: any partner of the group).

    Raises:
        onethinker.tasks.UnknownTaskError: a record names a task the registry does not know.
        ValueError: ``lengths`` does not have one number per record.
    """
    import numpy as np

    records = list(records)
    if lengths is not None and len(lengths) != len(records):
        raise ValueError(f"{len(lengths)} lengths for {len(records)} records")
    groups: dict[tuple, list[int]] = defaultdict(list)
    media = []
    for i, record in enumerate(records):
        images, videos = _media_list(_get(record, "images")), _media_list(_get(record, "videos"))
        media.append((images, videos))
        if images or videos:
            key = (_task_of(record), str(_get(record, "data_type", "")), len(images), len(videos))
            groups[key].append(i)
    donors = list(range(len(records)))
    for key, members in groups.items():
        if len(members) < 2:
            continue
        rng = np.random.default_rng([seed % 2**32, zlib.crc32(json.dumps(key).encode())])
        order = [members[j] for j in rng.permutation(len(members))]
        if lengths is None:
            cycles = [order]  # one cycle through all members: nobody is their own donor
        else:  # neighbours by length swap in pairs (the closest matching on a line), an odd tail in a 3-cycle
            order.sort(key=lambda i: float(lengths[i]))
            cut = len(order) - (3 if len(order) % 2 else 0)
            cycles = [order[k:k + 2] for k in range(0, cut, 2)] + ([order[cut:]] if cut < len(order) else [])
        for cycle in cycles:
            for j, receiver in enumerate(cycle):
                donors[receiver] = cycle[(j + 1) % len(cycle)]
    out = [_with_media(record, *media[donors[i]]) for i, record in enumerate(records)]
    unchanged = [i for i in range(len(records)) if media[donors[i]] == media[i]]
    note = ""
    if unchanged:
        by_task: dict[str, int] = defaultdict(int)
        for i in unchanged:
            by_task[_task_of(records[i])] += 1
        listed = ", ".join(f"{task} ({count})" for task, count in sorted(by_task.items()))
        note = (f"{len(unchanged)} of {len(records)} records kept their own media (no other record of their "
                f"task, data type and media count, or no media): {listed}")
    return MediaSwap(out, donors, unchanged, note)


def media_lengths(records: Sequence, media_root: str | Path | None = None, *,
                  where: Sequence[str] | None = None) -> list[float]:
    """How long each record's media are, for a length-matched swap (:func:`swap_media`'s ``lengths``): the
    summed duration in seconds of its videos, else the summed pixel count of its images, else 0. Paths are
    relative to ``media_root``. Raises ``ValueError`` naming the record (``where[i]``, such as ``FILE:LINE``;
    by default ``record i``), the field and the file that cannot be read."""
    from onethinker.data.media import MediaError, probe_image, probe_video
    from onethinker.data.messages import resolve_media

    out = []
    for i, record in enumerate(records):
        images, videos = _media_list(_get(record, "images")), _media_list(_get(record, "videos"))
        total = 0.0
        for path in videos or images:
            full = resolve_media(path, media_root)
            try:
                if videos:
                    total += probe_video(full).duration
                else:
                    width, height = probe_image(full)
                    total += float(width * height)
            except (MediaError, OSError) as exc:
                label = where[i] if where is not None else f"record {i}"
                raise ValueError(f"{label}: {'videos' if videos else 'images'}: cannot read {full}: {exc}") from None
        out.append(total)
    return out


def write_swapped_benchmark(bench: str | Path, out: str | Path, seed: int = 0, *,
                            match_length: bool = False, media_root: str | Path | None = None) -> MediaSwap:
    """Read a benchmark file, swap its media (:func:`swap_media`; ``match_length``: partners of about the same
    length, read by :func:`media_lengths` under ``media_root``) and write the copies as JSONL to ``out`` (same
    order, so line ``k`` of ``out`` is line ``k`` of the benchmark's records)."""
    from onethinker.data import read_records

    numbered = list(read_records(bench))
    records = [record for _, record in numbered]
    lengths = (media_lengths(records, media_root, where=[f"{bench}:{line}" for line, _ in numbered])
               if match_length else None)
    swap = swap_media(records, seed=seed, lengths=lengths)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for record in swap.records:
            fh.write(json.dumps(record.model_dump(mode="json", exclude_none=True), ensure_ascii=False) + "\n")
    tmp.replace(out)
    return swap


# --------------------------------------------------------------------------------------------- scoring
def record_accuracy(rows: Sequence[Mapping[str, Any]], *, format_weight: float | None = None) -> list[float]:
    """The reward's ``accuracy`` part (:func:`onethinker.rewards.score_batch`) of each prediction row.

    A row is a corpus record (``problem_type``, ``data_type``, ``answer``/``solution``) plus ``response``.
    """
    from onethinker.rewards import score_batch
    from onethinker.rewards.core import DEFAULT_FORMAT_WEIGHT

    items = []
    for row in rows:
        truth = next((row[k] for k in ("answer", "solution", "ground_truth") if row.get(k) is not None), None)
        items.append({"response": row.get("response"), "ground_truth": None if truth is None else str(truth),
                      "problem_type": row.get("problem_type"), "data_type": row.get("data_type")})
    weight = DEFAULT_FORMAT_WEIGHT if format_weight is None else format_weight
    return [float(s["accuracy"]) for s in score_batch(items, format_weight=weight)]


@dataclass(frozen=True)
class PairedRow:
    """One task's paired comparison of two answers to the same records: their mean accuracies (``first``,
    ``second``), the mean difference ``first - second`` (``diff``), its standard error ``se`` and 95% interval
    ``low`` / ``high`` (Student t with n - 1 degrees of freedom; NaN with fewer than two records). The
    ``mean over tasks`` row weighs every task equally; its ``se`` is ``sqrt(sum se_k^2) / K`` and its interval
    uses the normal quantile.
    """

    task: str
    n: int
    first: float
    second: float
    diff: float
    se: float
    low: float
    high: float
    #: the names :meth:`as_dict` gives ``first``, ``second`` and ``diff``
    labels: ClassVar[tuple[str, str, str]] = ("first", "second", "diff")

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON; NaN (fewer than two records) becomes ``None``."""
        values = {"task": self.task, "n": self.n, **dict(zip(self.labels, (self.first, self.second, self.diff))),
                  "se": self.se, "low": self.low, "high": self.high}
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in values.items()}


class BlindRow(PairedRow):
    """One task's blind control: accuracy with the right media (``right``) and with swapped media
    (``swapped``), and the paired gap ``right - swapped`` (``gap``) with its uncertainty, as in
    :class:`PairedRow`."""

    labels = ("right", "swapped", "gap")

    @property
    def right(self) -> float:
        return self.first

    @property
    def swapped(self) -> float:
        return self.second

    @property
    def gap(self) -> float:
        return self.diff


def paired_table(tasks: Sequence[str], first: Sequence[float], second: Sequence[float]) -> list[PairedRow]:
    """Per-task mean of ``first``, of ``second`` and of their paired difference, with its uncertainty.

    Args:
        tasks: task key of each record.
        first, second: two accuracies of each record (same order): with right and with swapped media, or after
            RL and after SFT.

    Returns:
        One :class:`PairedRow` per task (sorted by key), then a ``mean over tasks`` row (when there are tasks)
        that weighs every task equally: its ``se`` is ``sqrt(sum se_k^2) / K`` and its interval uses the normal
        quantile; a task's interval uses Student t with n - 1 degrees of freedom (NaN with fewer than two).
    """
    import numpy as np
    from scipy import stats

    if not len(tasks) == len(first) == len(second):
        raise ValueError(f"tasks and the two accuracy lists differ in length: {len(tasks)}, {len(first)}, "
                         f"{len(second)}")
    by_task: dict[str, list[int]] = defaultdict(list)
    for i, task in enumerate(tasks):
        by_task[str(task)].append(i)
    a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    rows = []
    for task in sorted(by_task):
        idx = by_task[task]
        diff = a[idx] - b[idx]
        n = len(idx)
        se = float(diff.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
        half = float(stats.t.ppf(0.975, n - 1)) * se if n > 1 else math.nan
        mean = float(diff.mean())
        rows.append(PairedRow(task, n, float(a[idx].mean()), float(b[idx].mean()), mean, se, mean - half,
                              mean + half))
    if rows:
        k = len(rows)
        rows.append(PairedRow(ALL_TASKS, sum(r.n for r in rows), sum(r.first for r in rows) / k,
                              sum(r.second for r in rows) / k, *pooled([r.diff for r in rows], [r.se for r in rows])))
    return rows


def pooled(means: Sequence[float], ses: Sequence[float]) -> tuple[float, float, float, float]:
    """Independent estimates weighed equally: their mean, its standard error ``sqrt(sum se_k^2) / K`` and its 95%
    normal interval, as ``(mean, se, low, high)``. :func:`paired_table` pools tasks with it; the quickstart's
    check pools seeds."""
    from scipy import stats

    k = len(means)
    mean = sum(means) / k
    se = math.sqrt(sum(s**2 for s in ses)) / k
    half = float(stats.norm.ppf(0.975)) * se
    return mean, se, mean - half, mean + half


def blind_table(tasks: Sequence[str], right: Sequence[float], swapped: Sequence[float]) -> list[BlindRow]:
    """Per-task accuracy with right and swapped media, the gap and its paired uncertainty
    (:func:`paired_table` of right against swapped).

    Args:
        tasks: task key of each record.
        right: accuracy of each record's answer with its own media.
        swapped: accuracy of the same record's answer with swapped media (same order).

    Returns:
        One :class:`BlindRow` per task (sorted by key), then a ``mean over tasks`` row (when there are tasks).
    """
    return [BlindRow(r.task, r.n, r.first, r.second, r.diff, r.se, r.low, r.high)
            for r in paired_table(tasks, right, swapped)]


def blind_control(records: Sequence, right_responses: Sequence[str], swapped_responses: Sequence[str], *,
                  format_weight: float | None = None) -> list[BlindRow]:
    """The table straight from responses: ``records`` (the originals, not the swapped copies), each one's
    response with its own media and with swapped media (same order). For callers that generate themselves
    (the quickstart); :func:`compare_predictions` does the same from two prediction files."""
    if not len(records) == len(right_responses) == len(swapped_responses):
        raise ValueError(f"records, right_responses and swapped_responses differ in length: {len(records)}, "
                         f"{len(right_responses)}, {len(swapped_responses)}")

    def rows(responses):
        out = []
        for record, response in zip(records, responses):
            out.append({"problem_type": _get(record, "problem_type"), "data_type": _get(record, "data_type"),
                        "answer": _get(record, "answer", _get(record, "solution")), "response": response})
        return out

    tasks = [_task_of(record) for record in records]
    return blind_table(tasks, record_accuracy(rows(right_responses), format_weight=format_weight),
                       record_accuracy(rows(swapped_responses), format_weight=format_weight))


def pair_predictions(right_rows: Sequence[Mapping], blind_rows: Sequence[Mapping]) -> tuple[list, list, int]:
    """Match rows of two prediction files of one benchmark: by ``problem_id`` when every row of both files
    has a distinct one, else by ``bench_line`` (what ``eval run`` writes). Returns the matched rows of each
    file, in the first file's order, and the number of rows of either file left without a partner."""

    def keyed(rows, name):
        keys = [row.get(name) for row in rows]
        if any(k is None for k in keys):
            return None
        out = {json.dumps(k): row for k, row in zip(keys, rows)}
        return out if len(out) == len(rows) else None

    for name in ("problem_id", "bench_line"):
        a, b = keyed(right_rows, name), keyed(blind_rows, name)
        if a is not None and b is not None:
            common = [k for k in a if k in b]
            return [a[k] for k in common], [b[k] for k in common], len(a) + len(b) - 2 * len(common)
    raise ValueError("cannot pair the two prediction files: give every row a distinct problem_id or the "
                     "bench_line that `onethinker eval run` writes")


def _read_rows(path: str | Path) -> list[dict]:
    from onethinker.data import iter_raw

    rows = []
    for line, raw in iter_raw(path):
        if isinstance(raw, Exception):
            raise raw
        if not isinstance(raw, dict):
            raise ValueError(f"{path}:{line}: record: must be a JSON object, got {type(raw).__name__}")
        if not isinstance(raw.get("response"), str):
            raise ValueError(f"{path}:{line}: response: missing or not a string")
        try:
            raw["_task"] = _task_of(raw)
        except (KeyError, TypeError, AttributeError) as exc:  # UnknownTaskError is a KeyError
            raise ValueError(f"{path}:{line}: problem_type: {exc}") from None
        raw["_line"] = line
        rows.append(raw)
    return rows


def compare_predictions(pred: str | Path, blind_pred: str | Path) -> tuple[list[BlindRow], int]:
    """The blind table from two prediction files (right media, swapped media) of the same benchmark.

    Returns the rows and the number of predictions left without a partner (an unfinished run).
    Raises ``ValueError`` naming file, line and field for a malformed row.
    """
    right_rows, blind_rows, unpaired = pair_predictions(_read_rows(pred), _read_rows(blind_pred))
    tasks = [row["_task"] for row in right_rows]
    return blind_table(tasks, record_accuracy(right_rows), record_accuracy(blind_rows)), unpaired


# --------------------------------------------------------------------------------------------- output
def _fmt(value: float | None, digits: int = 3, *, sign: bool = False) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def blind_markdown(rows: Sequence[BlindRow], *, title: str = "Blind control (media swapped within a task)") -> str:
    """A markdown table of :func:`blind_table`'s rows."""
    lines = [f"### {title}", "", "| task | n | right media | swapped media | gap | se | 95% interval |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        lines.append(f"| {r.task} | {r.n} | {_fmt(r.right)} | {_fmt(r.swapped)} | {_fmt(r.gap)} | {_fmt(r.se)} | "
                     f"[{_fmt(r.low)}, {_fmt(r.high)}] |")
    return "\n".join(lines) + "\n"


def print_blind_table(rows: Sequence[BlindRow], console=None, *, title: str = "blind control") -> None:
    """Print the rows as a rich table."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"{title}: accuracy with right vs swapped media")
    for name in ("task", "n", "right", "swapped", "gap", "se", "95% interval"):
        table.add_column(name, justify="left" if name == "task" else "right")
    for r in rows:
        table.add_row(r.task, str(r.n), _fmt(r.right), _fmt(r.swapped), _fmt(r.gap), _fmt(r.se),
                      f"[{_fmt(r.low)}, {_fmt(r.high)}]")
    console.print(table)


def blind_paths(out: Path, match: str = "any") -> tuple[Path, Path, Path]:
    """Where ``eval run --blind`` writes, beside the predictions ``X.jsonl``: the swapped benchmark
    ``X.blind-bench.jsonl``, its predictions ``X.blind.jsonl`` and the table ``X.blind.json``; with
    ``--blind-match length``, ``X.blind-length-bench.jsonl``, ``X.blind-length.jsonl`` and
    ``X.blind-length.json`` (another swap, so its resumable predictions live apart)."""
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    name = "blind" if match == "any" else f"blind-{match}"
    return (out.with_name(f"{stem}.{name}-bench.jsonl"), out.with_name(f"{stem}.{name}.jsonl"),
            out.with_name(f"{stem}.{name}.json"))


def write_blind_json(rows: Sequence[BlindRow], path: Path, *, unpaired: int = 0, note: str = "") -> None:
    payload = {"rows": [r.as_dict() for r in rows], "unpaired": unpaired}
    if note:
        payload["note"] = note
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
