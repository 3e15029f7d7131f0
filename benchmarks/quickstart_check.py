"""Does the quickstart's model look, and does RL help? Checked on a split the quickstart never generated.

    onethinker quickstart --out runs/qs0 --seed 0
    python benchmarks/quickstart_check.py runs/qs0 [runs/qs1 ...] [--split check] [--per-task 100]

For each quickstart folder: synthesise ``--per-task`` records per task of a fresh shapes-world split (same seed
and difficulty as the run, another random stream), answer them greedily with the SFT and the RL checkpoints,
each with the right media and with media swapped within a task (the blind control), and print per task:
accuracy after SFT, after RL, with swapped media, and the gaps. Then the issue's bars:

* it looks: RL's mean gap (right - swapped) >= 0.10, and >= 0.05 on at least 6 of the 12 tasks;
* RL helps: mean accuracy after RL >= after SFT + 0.02, and at most 3 tasks worse by more than 0.02.

Writes ``FOLDER/check_<split>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def check(folder: Path, split: str, per_task: int) -> dict:
    from onethinker.data.synth import synthesize
    from onethinker.eval.blind import ALL_TASKS
    from onethinker.quickstart import Helper, QuickstartPlan, evaluate, rl_minus_sft
    from onethinker.train.config import RLConfig, load_config

    cfg = load_config(RLConfig, folder / "configs" / "rl.yaml", [])
    summary = json.loads((folder / "eval" / "summary.json").read_text())
    n_tasks = len([t for t in summary["accuracy"]["sft"] if t != ALL_TASKS])
    media = {k: getattr(cfg.data, k) for k in QuickstartPlan(out=folder).media}
    plan = QuickstartPlan(out=folder / f"check_{split}", seed=cfg.trainer.seed, eval_split=split,
                          eval_size=per_task * n_tasks, max_new_tokens=cfg.rollout.max_new_tokens, media=media,
                          threads=cfg.trainer.threads,
                          difficulty=summary.get("plan", {}).get("difficulty", QuickstartPlan.difficulty))
    test = synthesize(plan.out / "data" / split, plan.eval_size, plan.seed, split=split, difficulty=plan.difficulty)
    with Helper(plan.threads) as helper:  # the SFT checkpoint in a second process, beside the RL one here
        pending = helper.submit(evaluate, plan, folder / "sft" / "final", test / "data.jsonl", "sft")
        results = {"rl": evaluate(plan, folder / "rl" / "final", test / "data.jsonl", "rl")}
        results["sft"] = pending.result()
    rows = {}
    blind_rows = {row["task"]: row for row in results["rl"]["blind"]}
    change = {row["task"]: row for row in rl_minus_sft(results["sft"], results["rl"])}
    for task, sft in results["sft"]["accuracy"].items():
        rl = results["rl"]["accuracy"][task]
        blind = blind_rows[task]
        rows[task] = {"n": sft["n"], "sft": sft["mean"], "rl": rl["mean"], "rl_swapped": blind["swapped"],
                      "gap": blind["gap"], "rl_minus_sft": change[task]["diff"],
                      "rl_minus_sft_low": change[task]["low"], "rl_minus_sft_high": change[task]["high"]}
    tasks = [t for t in rows if t != ALL_TASKS]
    verdict = {
        "mean_gap": rows[ALL_TASKS]["gap"],
        "tasks_gap_ge_0.05": sum(rows[t]["gap"] >= 0.05 for t in tasks),
        "rl_minus_sft": rows[ALL_TASKS]["rl_minus_sft"],
        "tasks_worse_by_0.02": sum(rows[t]["rl_minus_sft"] < -0.02 for t in tasks),
    }
    verdict["looks"] = verdict["mean_gap"] >= 0.10 and verdict["tasks_gap_ge_0.05"] >= 6
    verdict["rl_helps"] = verdict["rl_minus_sft"] >= 0.02 and verdict["tasks_worse_by_0.02"] <= 3
    out = {"folder": str(folder), "split": split, "rows": rows, "verdict": verdict}
    (folder / f"check_{split}.json").write_text(json.dumps(out, indent=1))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--split", default="check")
    parser.add_argument("--per-task", type=int, default=100)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from onethinker.train.common import quiet_transformers

    quiet_transformers()
    for folder in args.folders:
        result = check(folder, args.split, args.per_task)
        print(f"\n## {folder} (split `{args.split}`)\n")
        print("| task | n | SFT | RL | RL - SFT (95% CI, paired) | RL swapped media | gap (right - swapped) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for task, r in result["rows"].items():
            low, high = ("n/a" if x is None else f"{x:+.3f}" for x in (r["rl_minus_sft_low"], r["rl_minus_sft_high"]))
            print(f"| {task} | {r['n']} | {r['sft']:.3f} | {r['rl']:.3f} | {r['rl_minus_sft']:+.3f} "
                  f"[{low}, {high}] | {r['rl_swapped']:.3f} | {r['gap']:+.3f} |")
        v = result["verdict"]
        print(f"\nlooks: {v['looks']} (mean gap {v['mean_gap']:+.3f}, {v['tasks_gap_ge_0.05']} tasks >= 0.05); "
              f"RL helps: {v['rl_helps']} (RL - SFT {v['rl_minus_sft']:+.3f}, "
              f"{v['tasks_worse_by_0.02']} tasks worse by > 0.02)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
