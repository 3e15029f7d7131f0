"""Where can RL move greedy accuracy? A checkpoint's sampled answers against its greedy one, per task.

    python benchmarks/quickstart_check.py runs/qs0            # makes the `check` split this script reads
    python benchmarks/rl_headroom.py runs/qs0 [runs/qs1 ...] [--split check] [--k 8] [--temperature 0.3]

GRPO pushes a prompt's better sampled answers up and its worse ones down; what the quickstart measures is the
greedy answer. For each quickstart folder this answers every record of the split (made by
``quickstart_check.py``: ``FOLDER/check_<split>/data/<split>/data.jsonl``) with the SFT and the RL checkpoints,
greedily and ``--k`` times at ``--temperature`` (the quickstart's rollout temperature by default), and prints
per task:

* greedy: the greedy answer's accuracy;
* mean@k: the samples' mean accuracy, the quantity RL's rollouts are scored on;
* maj@k: the accuracy of the answer the samples give most often (the text inside ``<answer>``; ties go to the
  answer sampled first; a sample without an answer block does not vote, and a record where none has one
  scores 0): what sharpening the distribution onto its mode would give;
* pass@k: the best sample's accuracy, an oracle no update reaches without learning.

``mean@k - greedy`` of the SFT checkpoint is where its samples already do better than its greedy answer, so
where reinforcing the better samples can change the greedy one; the script prints it beside RL - SFT.
Both workers answer half of each task's records (sampled with seeds ``--seed`` and ``--seed + 1``), about
3 minutes per checkpoint with k = 8 on 2 cores. Writes ``FOLDER/headroom_<split>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from collections import Counter
from pathlib import Path

COLUMNS = ("greedy", "mean", "maj", "pass")


def sample_summary(accuracies: list[float], answers: list[str | None]) -> dict[str, float]:
    """One record's ``k`` sampled answers (their accuracies and the texts inside ``<answer>``, ``None`` where a
    sample has none): ``mean`` (mean@k), ``maj`` (maj@k, as in the module's docstring), ``pass`` (pass@k) and
    ``distinct``, the number of different answers."""
    if not accuracies or len(accuracies) != len(answers):
        raise ValueError(f"need one answer per accuracy, got {len(answers)} answers for {len(accuracies)}")
    votes = Counter(a for a in answers if a is not None)
    # most_common keeps first-seen order among equal counts: a tie goes to the answer sampled first
    maj = accuracies[answers.index(votes.most_common(1)[0][0])] if votes else 0.0
    return {"mean": sum(accuracies) / len(accuracies), "maj": maj, "pass": max(accuracies),
            "distinct": float(len(votes))}


def answer_part(model_dir: Path, test_file: Path, media: dict, part: int, parts: int, k: int, temperature: float,
                max_new_tokens: int, seed: int, on_batch=None) -> dict[int, dict[str, float]]:
    """Answer the records at positions ``part``, ``part + parts``, ... of each task in ``test_file`` (a helper
    worker's share): greedily and ``k`` times at ``temperature``. Returns ``{record index: {"greedy": accuracy,
    **sample_summary(...)}}``."""
    from onethinker.data import read_records
    from onethinker.models import load_model
    from onethinker.models.generate import generate_responses, positions_by_task
    from onethinker.quickstart import EVAL_BATCH, score_answers
    from onethinker.tasks.answer import extract_answer
    from onethinker.train.common import media_settings
    from onethinker.train.config import DataConfig

    records = [r for _, r in read_records(test_file)]
    model, processor = load_model(model_dir, device="cpu", trainable=False)
    settings = media_settings(DataConfig(**media))
    out: dict[int, dict[str, float]] = {}
    done = 0
    for positions in positions_by_task(records):
        mine = positions[part::parts]
        shown = [records[j] for j in mine]
        greedy = generate_responses(model, processor, shown, test_file.parent, max_new_tokens=max_new_tokens,
                                    temperature=0.0, batch_size=EVAL_BATCH, media=settings)
        sampled = generate_responses(model, processor, shown, test_file.parent, max_new_tokens=max_new_tokens,
                                     temperature=temperature, num_return_sequences=k,
                                     batch_size=max(1, 256 // k), media=settings, seed=seed)
        for j, record, first, texts in zip(mine, shown, greedy, sampled):
            scores = [s["accuracy"] for s in score_answers([record] * (1 + len(texts)), [first[0], *texts])]
            out[j] = {"greedy": scores[0], **sample_summary(scores[1:], [extract_answer(t) for t in texts])}
        done += len(mine)
        if on_batch is not None:
            on_batch(done)
    return out


def task_rows(records, per_record: dict[int, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per task (in the records' order) the mean of each column over its records, and ``n``; then the mean over
    tasks under :data:`onethinker.eval.blind.ALL_TASKS`, as the quickstart reports accuracy."""
    from onethinker.eval.blind import ALL_TASKS

    by_task: dict[str, list[dict[str, float]]] = {}
    for i, record in enumerate(records):
        by_task.setdefault(record.key, []).append(per_record[i])
    rows = {task: {c: statistics.fmean(r[c] for r in rs) for c in COLUMNS} | {"n": len(rs)}
            for task, rs in by_task.items()}
    rows[ALL_TASKS] = {c: statistics.fmean(r[c] for r in rows.values()) for c in COLUMNS} | {
        "n": len(records)}
    return rows


def headroom(folder: Path, split: str, k: int, temperature: float | None, seed: int) -> dict:
    from quickstart_check import made_split, run_media
    from rich.progress import MofNCompleteColumn, Progress

    from onethinker.data import read_records
    from onethinker.quickstart import Helper
    from onethinker.train.config import RLConfig, load_config

    test_file = made_split(folder, split)
    cfg = load_config(RLConfig, folder / "configs" / "rl.yaml", [])
    temperature = cfg.rollout.temperature if temperature is None else temperature
    media = run_media(cfg)
    records = [r for _, r in read_records(test_file)]
    result = {"folder": str(folder), "split": split, "k": k, "temperature": temperature, "models": {}}
    names = [n for n in ("sft", "rl") if (folder / n / "final" / "config.json").is_file()]
    with Helper(1, workers=2) as helper, Progress(*Progress.get_default_columns(), MofNCompleteColumn()) as bar:
        for name in names:
            task = bar.add_task(f"{folder.resolve().name}: {name}, greedy + {k} samples", total=len(records))
            done = [0, 0]

            def advance(count: int, part: int, task=task, done=done) -> None:
                done[part] = count
                bar.update(task, completed=sum(done))

            parts = [helper.submit(answer_part, folder / name / "final", test_file, media, part, 2, k, temperature,
                                   cfg.rollout.max_new_tokens, seed + part,
                                   on_batch=lambda count, part=part, advance=advance: advance(count, part))
                     for part in (0, 1)]
            per_record = {i: row for p in parts for i, row in p.result().items()}
            result["models"][name] = task_rows(records, per_record)
            result.setdefault("records", {})[name] = [per_record[i] for i in range(len(records))]
    if len(result["models"]) == 2:
        result["rl_minus_sft"] = rl_minus_sft(records, result["records"]["rl"], result["records"]["sft"])
    return result


def rl_minus_sft(records, rl: list[dict[str, float]], sft: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean over tasks of RL - SFT in the ``greedy`` and ``mean`` columns, paired record by record, with the
    95% interval of :func:`onethinker.eval.blind.paired_table`."""
    from onethinker.eval.blind import paired_table

    tasks = [r.key for r in records]
    out = {}
    for column in ("greedy", "mean"):
        overall = paired_table(tasks, [r[column] for r in rl], [r[column] for r in sft])[-1]
        out[column] = {"diff": overall.diff, "se": overall.se, "low": overall.low, "high": overall.high}
    return out


def _ci(d: dict[str, float]) -> str:
    return f"{d['diff']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"


def print_result(result: dict) -> None:
    from onethinker.eval.blind import ALL_TASKS

    k, models = result["k"], result["models"]
    sft, rl = models.get("sft"), models.get("rl")
    if sft is None:
        print(f"\n## {result['folder']}: no SFT checkpoint")
        return
    print(f"\n## {result['folder']} (split `{result['split']}`, k = {k}, temperature {result['temperature']})\n")
    head = f"| task | SFT greedy | mean@{k} | maj@{k} | pass@{k} | mean@{k} - greedy |"
    rule = "| --- | ---: | ---: | ---: | ---: | ---: |"
    if rl is not None:
        head += f" RL greedy | RL - SFT (greedy) | RL - SFT (mean@{k}) |"
        rule += " ---: | ---: | ---: |"
    print(head)
    print(rule)
    for task, s in sft.items():
        line = (f"| {task} | {s['greedy']:.3f} | {s['mean']:.3f} | {s['maj']:.3f} | {s['pass']:.3f} | "
                f"{s['mean'] - s['greedy']:+.3f} |")
        if rl is not None:
            r = rl[task]
            line += f" {r['greedy']:.3f} | {r['greedy'] - s['greedy']:+.3f} | {r['mean'] - s['mean']:+.3f} |"
        print(line)
    if "rl_minus_sft" in result:
        d = result["rl_minus_sft"]
        print(f"\nRL - SFT, mean over tasks (95% CI, paired): greedy {_ci(d['greedy'])}; mean@{k} {_ci(d['mean'])}")
    ahead = [t for t, s in sft.items() if t != ALL_TASKS and s["mean"] - s["greedy"] >= 0.02]
    print(f"\nSFT's samples beat its greedy answers by 0.02 or more on: {', '.join(ahead) or 'no task'}")
    if rl is not None and ahead:
        gains = ", ".join(f"{t} {rl[t]['greedy'] - sft[t]['greedy']:+.3f}" for t in ahead)
        print(f"RL - SFT (greedy) there: {gains}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--split", default="check")
    parser.add_argument("--k", type=int, default=8, help="samples per record")
    parser.add_argument("--temperature", type=float, default=None,
                        help="sampling temperature (default: the run's rollout temperature)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.k < 1:
        parser.error("--k must be at least 1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from onethinker.eval.blind import ALL_TASKS
    from onethinker.train.common import quiet_transformers

    quiet_transformers()
    results = []
    for folder in args.folders:
        result = headroom(folder, args.split, args.k, args.temperature, args.seed)
        (folder / f"headroom_{args.split}.json").write_text(json.dumps(result, indent=1))
        print_result(result)
        results.append(result)
    if len(results) > 1:
        k = args.k
        print(f"\n## Over the {len(results)} runs (mean over tasks)\n")
        print(f"| run | SFT greedy | SFT mean@{k} - greedy | SFT maj@{k} - greedy | RL - SFT (greedy, 95% CI) | "
              f"RL - SFT (mean@{k}, 95% CI) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for result in results:
            sft = result["models"].get("sft")
            if sft is None:
                continue
            s = sft[ALL_TASKS]
            d = result.get("rl_minus_sft")
            tail = "n/a | n/a" if d is None else f"{_ci(d['greedy'])} | {_ci(d['mean'])}"
            print(f"| {result['folder']} | {s['greedy']:.3f} | {s['mean'] - s['greedy']:+.3f} | "
                  f"{s['maj'] - s['greedy']:+.3f} | {tail} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
