"""The paper's estimator ablation in miniature: SFT only, GRPO, Dr.GRPO and EMA-GRPO from one SFT checkpoint,
with the no-information control beside them.

    python benchmarks/ablation.py --out runs/ablation                  # 3 seeds, quickstart sizes
    python benchmarks/ablation.py --out runs/ablation --sft runs/quickstart/sft/final --data runs/quickstart/data

Builds (or reuses) the quickstart's data, tiny model and SFT checkpoint, then runs the quickstart's RL recipe
once per estimator and seed from that same checkpoint, answers the held-out split greedily and prints
the results. The control, ``ema_grpo_shuffled``, is EMA-GRPO with each step's advantages permuted within
their groups (``algorithm.shuffle_advantages``): updates of the same size and noise that carry no information
from the reward. What EMA-GRPO gains over it is what the reward taught; what the control loses against
SFT is what update noise alone costs the starting checkpoint. It prints

* held-out accuracy per task family (QA: answers that are not JSON; perception: JSON answers; the family
  comes from the task registry's ``structured`` flag) and per task, mean +- std over seeds;
* each task's share of the mean |advantage| per rollout over the RL run (from ``metrics.jsonl``'s
  ``adv_abs/<task>``; prompts are drawn evenly across tasks, so the share is close to the share of the
  gradient's advantage mass).

Results go to ``OUT/ablation.json``; rerunning the same command reuses every finished run. This trains 3 x 4 RL
runs (``--no-control`` leaves the control out); ``--jobs 2`` runs two at a time (one per core).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ESTIMATORS = ("grpo", "dr_grpo", "ema_grpo")
CONTROL = "ema_grpo_shuffled"
# Each arm's config overrides on top of the quickstart's RL config.
ARMS = {**{e: [f"algorithm.advantage={e}"] for e in ESTIMATORS},
        CONTROL: ["algorithm.advantage=ema_grpo", "algorithm.shuffle_advantages=true"]}


def held_out_accuracy(plan, model_dir: Path, test_file: Path) -> dict[str, float]:
    """Greedy held-out accuracy per task (right media only), answered as the quickstart answers."""
    from onethinker.data import read_records
    from onethinker.quickstart import answer, score_answers

    records = [r for _, r in read_records(test_file)]
    scores = score_answers(records, answer(plan, model_dir, test_file, "right"))
    by_task: dict[str, list[float]] = defaultdict(list)
    for rec, score in zip(records, scores):
        by_task[rec.key].append(score["accuracy"])
    return {task: sum(v) / len(v) for task, v in sorted(by_task.items())}


def advantage_share(run_dir: Path) -> dict[str, float]:
    from onethinker.train.metrics import read_metrics

    totals: dict[str, float] = defaultdict(float)
    for row in read_metrics(run_dir):
        for key, value in row.items():
            if key.startswith("adv_abs/") and value is not None:
                totals[key[len("adv_abs/"):]] += value
    mass = sum(totals.values()) or 1.0
    return {task: value / mass for task, value in sorted(totals.items())}


def families(accuracy: dict[str, float]) -> dict[str, float]:
    from onethinker.tasks import get_task

    groups: dict[str, list[float]] = defaultdict(list)
    for task, value in accuracy.items():
        groups["perception" if get_task(task).structured else "QA"].append(value)
        groups["all tasks"].append(value)
    return {name: sum(v) / len(v) for name, v in groups.items()}


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} +- {statistics.stdev(values):.3f}"


def run_one(arm: str, seed: int, out: Path, sizes: dict, sft_dir: Path, train_file: Path,
            test_file: Path) -> Path:
    """One RL run of the quickstart's recipe with ``arm``'s overrides (:data:`ARMS`) and ``seed`` from
    ``sft_dir``, then its held-out accuracy; returns its folder. A run whose accuracy file exists is reused."""
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from onethinker.quickstart import QuickstartPlan, rl_config
    from onethinker.train.common import quiet_transformers
    from onethinker.train.config import RLConfig, dump_yaml, load_config
    from onethinker.train.rl import train_rl

    quiet_transformers()
    plan = QuickstartPlan(out=out / f"{arm}-seed{seed}", seed=seed, **sizes)
    done = plan.out / "heldout_accuracy.json"
    if not done.is_file():
        plan.out.mkdir(parents=True, exist_ok=True)
        cfg_path = plan.out / "rl.yaml"
        dump_yaml(rl_config(plan, sft_dir, train_file), cfg_path)
        cfg = load_config(RLConfig, cfg_path, ARMS[arm])
        print(f"RL {arm} seed {seed} ...", file=sys.stderr, flush=True)
        final = plan.out / "rl" / "final"
        if not final.is_dir():
            final = train_rl(cfg)
        done.write_text(json.dumps(held_out_accuracy(plan, final, test_file)))
    return plan.out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sft", type=Path, help="reuse this SFT checkpoint (with --data)")
    parser.add_argument("--data", type=Path, help="quickstart data folder (train/ and the held-out split)")
    parser.add_argument("--rl-steps", type=int, default=None, help="RL steps (default: the quickstart's)")
    parser.add_argument("--eval-size", type=int, default=None, help="held-out records (default: the quickstart's)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="RL runs side by side, one process each (2 on a 2-core machine: one thread each)")
    parser.add_argument("--no-control", action="store_true",
                        help="leave out the no-information control (EMA-GRPO on advantages shuffled within groups)")
    args = parser.parse_args(argv)

    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from onethinker.quickstart import QuickstartPlan, cold_start, make_data
    from onethinker.train.common import quiet_transformers

    quiet_transformers()
    sizes = {k: v for k, v in (("rl_steps", args.rl_steps), ("eval_size", args.eval_size)) if v is not None}
    base = QuickstartPlan(out=args.out, **sizes)
    if args.sft:
        if not args.data:
            parser.error("--sft needs --data")
        sft_dir, train_file = args.sft, args.data / "train" / "data.jsonl"
        test_file = args.data / base.eval_split / "data.jsonl"
    else:
        train_file, test_file = make_data(base)
        print("perception warm-up and SFT ...", file=sys.stderr, flush=True)
        sft_dir = cold_start(base, train_file)
    args.out.mkdir(parents=True, exist_ok=True)
    sft_done = args.out / "sft_heldout_accuracy.json"
    if not sft_done.is_file():
        sft_done.write_text(json.dumps(held_out_accuracy(base, sft_dir, test_file)))
    results: dict[str, dict] = {"sft": {"accuracy": [json.loads(sft_done.read_text())]}}
    arms = [*ESTIMATORS] if args.no_control else [*ESTIMATORS, CONTROL]
    for arm in arms:
        results[arm] = {"accuracy": [], "share": []}
    # Seed-major, so an interrupted run has every arm on the same seeds; a finished run is reused.
    runs = [(arm, seed) for seed in args.seeds for arm in arms]
    common = (args.out, sizes, sft_dir, train_file, test_file)
    if args.jobs > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            folders = list(pool.map(run_one, *zip(*[(e, s, *common) for e, s in runs])))
    else:
        folders = [run_one(e, s, *common) for e, s in runs]
    for (arm, _), folder in zip(runs, folders):
        results[arm]["accuracy"].append(json.loads((folder / "heldout_accuracy.json").read_text()))
        results[arm]["share"].append(advantage_share(folder / "rl"))
    (args.out / "ablation.json").write_text(json.dumps(results, indent=1))

    tasks = sorted(results["sft"]["accuracy"][0])
    names = ["sft", *arms]
    print("\nHeld-out accuracy per task family (mean +- std over seeds)\n")
    print("| family | " + " | ".join(names) + " |")
    print("| --- |" + " ---: |" * len(names))
    for family in ("QA", "perception", "all tasks"):
        cells = [mean_std([families(a)[family] for a in results[n]["accuracy"]]) for n in names]
        print(f"| {family} | " + " | ".join(cells) + " |")
    print("\nHeld-out accuracy per task\n")
    print("| task | " + " | ".join(names) + " |")
    print("| --- |" + " ---: |" * len(names))
    for task in tasks:
        print(f"| {task} | " + " | ".join(mean_std([a[task] for a in results[n]["accuracy"]]) for n in names) + " |")
    print("\nShare of mean |advantage| per task (mean over seeds)\n")
    print("| task | " + " | ".join(ESTIMATORS) + " |")
    print("| --- |" + " ---: |" * len(ESTIMATORS))
    for task in tasks:
        cells = [f"{statistics.mean(s.get(task, 0.0) for s in results[e]['share']):.3f}" for e in ESTIMATORS]
        print(f"| {task} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
