"""How far does more RL go? The quickstart's RL recipe run for many more steps, every checkpoint scored.

    python benchmarks/quickstart_check.py runs/qs0            # makes the `check` split this script reads
    python benchmarks/rl_curve.py runs/qs0 [runs/qs1 ...] [--steps 180] [--every 30] [--split check]

For each quickstart folder this trains the run's own RL config (``FOLDER/configs/rl.yaml``: the same seed, data and
optimizer; only ``trainer.max_steps`` and checkpointing changed) from its SFT checkpoint for ``--steps`` steps in
two processes, as the quickstart does, with a checkpoint every ``--every`` steps in ``FOLDER/rl_curve`` (an
interrupted run resumes from its last one; a finished one is reused). With the quickstart's constant learning rate,
the checkpoint at the run's own ``trainer.max_steps`` is the quickstart's RL checkpoint itself. Then the two
workers answer the split made by ``quickstart_check.py`` (``FOLDER/check_<split>/data/<split>/data.jsonl``)
greedily with the SFT checkpoint and with every RL checkpoint, and the script prints per checkpoint the mean
accuracy over tasks, RL - SFT paired record by record (95% interval), RL - SFT averaged over the tasks the SFT
checkpoint has learned (it beats the constant-answer baseline: ``quickstart_check.by_learned``) and over the
others, the tasks worse than SFT by more than 0.02, and RL - SFT per task. For 180 steps on 2 cores: about 6
minutes of training and 1.5 of answering per run (1,200 records, seven checkpoints). With a schedule other than
``constant`` the longer run decays (or warms up) over all of its steps, so its first checkpoints are not the
quickstart's. Writes ``FOLDER/rl_curve_<split>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def curve_config(folder: Path, steps: int, every: int):
    """The run's RL config, run for ``steps`` steps with a checkpoint every ``every`` (all kept) in
    ``FOLDER/rl_curve``, resuming from the newest one there."""
    from onethinker.train.config import RLConfig, load_config

    return load_config(RLConfig, folder / "configs" / "rl.yaml", [
        f"trainer.output_dir={folder / 'rl_curve'}", f"trainer.max_steps={steps}", f"trainer.save_every={every}",
        "trainer.keep_checkpoints=0", "trainer.resume=true", "trainer.tensorboard=false"])


def checkpoints(folder: Path, steps: int, every: int) -> list[tuple[int, Path]]:
    """``(step, folder)`` of the curve's checkpoints, every ``every`` steps up to ``steps``."""
    root = folder / "rl_curve" / "checkpoints"
    return [(s, root / f"step-{s:06d}") for s in range(every, steps + 1, every)]


def curve(folder: Path, split: str, steps: int, every: int) -> dict:
    from quickstart_check import (
        answer_checkpoints,
        answer_plan,
        by_learned,
        helps_bar,
        made_split,
        versus_sft,
    )
    from rich.progress import MofNCompleteColumn, Progress

    from onethinker.data import read_records
    from onethinker.eval.constant import constant_baseline, constant_table
    from onethinker.quickstart import (
        Helper,
        score_answers,
        two_process_train,
    )
    from onethinker.train.rl import train_rl

    test_file = made_split(folder, split)
    cfg = curve_config(folder, steps, every)
    plan = answer_plan(folder, split, cfg)
    records = [r for _, r in read_records(test_file)]
    saved = checkpoints(folder, steps, every)
    name = folder.resolve().name
    with Helper(1, workers=2) as helper, Progress(*Progress.get_default_columns(), MofNCompleteColumn()) as bar:
        if not all((path / "config.json").is_file() for _, path in saved):
            train = bar.add_task(f"{name}: RL, {steps} steps", total=steps)
            two_process_train(helper, [(train_rl, cfg)],
                              progress=lambda _stage, step, _m: bar.update(train, completed=step))
        models = [("sft", folder / "sft" / "final"), *((f"step {s}", path) for s, path in saved)]
        texts = answer_checkpoints(helper, bar, plan, models, test_file,
                                   f"{name}: answering with {len(models)} checkpoints")
    accuracy = {label: [s["accuracy"] for s in score_answers(records, answers)] for label, answers in texts.items()}
    tasks = [r.key for r in records]
    # the tasks SFT has learned: it beats the constant-answer baseline (quickstart_check.by_learned)
    sft_vs_constant = {row.task: row.low for row in constant_table(constant_baseline(records), accuracy["sft"])}
    rows, learned = [], []
    for step, _ in saved:
        overall, per_task = versus_sft(tasks, accuracy[f"step {step}"], accuracy["sft"])
        split_by = by_learned({t: {"rl_minus_sft": d, "sft_minus_constant_low": sft_vs_constant.get(t)}
                               for t, d in per_task.items()}, list(per_task))
        learned = split_by["tasks_learned"]
        rows.append({"step": step, "sft": overall.second, "rl": overall.first, "rl_minus_sft": overall.diff,
                     "low": overall.low, "high": overall.high,
                     "tasks_worse_by_0.02": helps_bar(overall.diff, list(per_task.values()))[0],
                     "per_task": per_task,
                     "rl_minus_sft_learned": split_by["rl_minus_sft_learned"],
                     "rl_minus_sft_not_learned": split_by["rl_minus_sft_not_learned"]})
    return {"folder": str(folder), "split": split, "steps": steps, "every": every, "rows": rows,
            "tasks_learned": learned, "records": accuracy}


def print_curve(result: dict) -> None:
    rows = result["rows"]  # never empty: main() wants --every <= --steps
    tasks = list(rows[0]["per_task"])
    print(f"\n## {result['folder']} (split `{result['split']}`; SFT {rows[0]['sft']:.3f})\n")
    print(f"Tasks SFT has learned (beats the constant answer): {', '.join(result['tasks_learned']) or 'none'}.\n")
    print("| RL steps | accuracy | RL - SFT (95% CI, paired) | on learned tasks | on the others | "
          "tasks worse by > 0.02 | " + " | ".join(tasks) + " |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in tasks) + " |")
    for r in rows:
        print(f"| {r['step']} | {r['rl']:.3f} | {r['rl_minus_sft']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}] | "
              f"{_signed(r['rl_minus_sft_learned'])} | {_signed(r['rl_minus_sft_not_learned'])} | "
              f"{r['tasks_worse_by_0.02']} | " + " | ".join(f"{r['per_task'][t]:+.3f}" for t in tasks) + " |")


def _signed(value) -> str:
    return "n/a" if value is None else f"{value:+.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--split", default="check")
    parser.add_argument("--steps", type=int, default=180, help="RL steps in all")
    parser.add_argument("--every", type=int, default=30, help="a checkpoint (and a score) every this many steps")
    args = parser.parse_args(argv)
    if args.every < 1 or args.steps < args.every:
        parser.error(f"need 1 <= --every <= --steps, got --every {args.every} --steps {args.steps}")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from onethinker.train.common import quiet_transformers

    quiet_transformers()
    results = []
    for folder in args.folders:
        result = curve(folder, args.split, args.steps, args.every)
        (folder / f"rl_curve_{args.split}.json").write_text(json.dumps(result, indent=1))
        print_curve(result)
        results.append(result)
    if len(results) > 1:
        steps = [r["step"] for r in results[0]["rows"]]
        for key, label in (("rl_minus_sft", "mean over tasks"), ("rl_minus_sft_learned", "tasks SFT has learned")):
            print(f"\n## RL - SFT over the {len(results)} runs ({label})\n")
            print("| run | " + " | ".join(f"{s} steps" for s in steps) + " |")
            print("| --- | " + " | ".join("---:" for _ in steps) + " |")
            for result in results:
                print(f"| {result['folder']} | " + " | ".join(_signed(r[key]) for r in result["rows"]) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
