"""How evenly do GRPO, Dr.GRPO and EMA-GRPO spread advantage magnitude over a mixed multi-task batch?

Simulates many RL steps of a batch that mixes sparse binary tasks (math and multiple choice at several
success rates) with dense continuous ones (IoU-like rewards whose rollouts barely differ), computes each
estimator's advantages on the same rewards, and prints per task the mean |advantage| over all its rollouts
and that task's share of the total. Every task has the same number of rollouts per step, so an even split
would give each task 1/T of the total.

    python benchmarks/advantage_balance.py                 # defaults: 300 steps, 16 prompts x 8 per task
    python benchmarks/advantage_balance.py --filter        # with the published online filtering first

Rewards are synthetic; the point is the relative scale each estimator assigns, not absolute values.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass

import torch

from onethinker.rl import EMATracker, dr_grpo_advantages, ema_grpo_advantages, filter_groups, grpo_advantages


@dataclass(frozen=True)
class SimTask:
    """A simulated task. Binary: each prompt's success rate ~ Beta(mean, concentration) then Bernoulli
    rollouts. Continuous: each prompt's quality ~ Normal(mean, prompt_spread), rollouts add
    Normal(0, rollout_spread), clipped to [0, 1]."""

    name: str
    kind: str  # "binary" | "continuous"
    mean: float
    rollout_spread: float = 0.0
    prompt_spread: float = 0.0
    concentration: float = 4.0


TASKS = (
    SimTask("math (binary, p=0.15)", "binary", 0.15),
    SimTask("MC (binary, p=0.35)", "binary", 0.35),
    SimTask("MC (binary, p=0.65)", "binary", 0.65),
    SimTask("MC (binary, p=0.90)", "binary", 0.90),
    SimTask("IoU (dense, sd 0.05)", "continuous", 0.55, rollout_spread=0.05, prompt_spread=0.15),
    SimTask("IoU (dense, sd 0.02)", "continuous", 0.70, rollout_spread=0.02, prompt_spread=0.10),
    SimTask("IoU (dense, sd 0.005)", "continuous", 0.80, rollout_spread=0.005, prompt_spread=0.05),
)


SPREAD_BINS = (0.0, 0.01, 0.05, 0.2, 1.0)  # group population-std bins for the second table


def sample_batch(
    gen: torch.Generator, prompts: int, n: int, step: int, tasks: tuple[SimTask, ...] = TASKS
) -> tuple[torch.Tensor, list, list]:
    scores, groups, keys = [], [], []
    for t, task in enumerate(tasks):
        if task.kind == "binary":
            a, b = task.mean * task.concentration, (1 - task.mean) * task.concentration
            rate = torch.distributions.Beta(a, b).sample((prompts,))
            vals = (torch.rand(prompts, n, generator=gen) < rate[:, None]).double()
        else:
            quality = task.mean + task.prompt_spread * torch.randn(prompts, 1, generator=gen, dtype=torch.float64)
            noise = task.rollout_spread * torch.randn(prompts, n, generator=gen, dtype=torch.float64)
            vals = (quality + noise).clamp(0.0, 1.0)
        scores.append(vals.flatten())
        groups += [f"{step}:{t}:{p}" for p in range(prompts) for _ in range(n)]
        keys += [task.name] * (prompts * n)
    return torch.cat(scores), groups, keys


def run(
    steps: int, prompts: int, n: int, seed: int, decay: float, use_filter: bool, prompt_spread_scale: float
) -> None:
    torch.manual_seed(seed)  # Beta sampling uses the global generator
    gen = torch.Generator().manual_seed(seed)
    tasks = tuple(
        SimTask(t.name, t.kind, t.mean, t.rollout_spread, t.prompt_spread * prompt_spread_scale, t.concentration)
        for t in TASKS
    )
    names = [task.name for task in tasks]
    estimators = ("GRPO", "Dr.GRPO", "EMA-GRPO")
    abs_sum = {e: dict.fromkeys(names, 0.0) for e in estimators}
    rollouts = dict.fromkeys(names, 0)
    informative = dict.fromkeys(names, 0)  # rollouts in groups whose rewards are not all equal
    fired = dict.fromkeys(names, 0)
    groups_seen = dict.fromkeys(names, 0)
    dropped_total = dict.fromkeys(names, 0)
    n_bins = len(SPREAD_BINS) - 1
    bin_sum = {e: [0.0] * n_bins for e in estimators}
    bin_raw = [0.0] * n_bins
    bin_count = [0] * n_bins
    tracker = EMATracker(decay=decay)

    for step in range(steps):
        scores, groups, keys = sample_batch(gen, prompts, n, step, tasks)
        if use_filter:
            keep, dropped = filter_groups(scores, groups, keys)
            for k, v in dropped.items():
                dropped_total[k] += v
            idx = keep.nonzero().flatten().tolist()
            scores, groups, keys = scores[idx], [groups[i] for i in idx], [keys[i] for i in idx]
        results = {
            "GRPO": grpo_advantages(scores, groups),
            "Dr.GRPO": dr_grpo_advantages(scores, groups),
            "EMA-GRPO": ema_grpo_advantages(scores, groups, keys, tracker),
        }
        centred = results["Dr.GRPO"]
        key_index = {name: [i for i, k in enumerate(keys) if k == name] for name in names}
        for name, idx in key_index.items():
            if not idx:
                continue
            rollouts[name] += len(idx)
            for est, adv in results.items():
                abs_sum[est][name] += float(adv[idx].abs().sum())
            c = centred[idx].view(-1, n)
            informative[name] += int((c.abs().amax(1) > 0).sum()) * n
            # Which groups tripped EMA-GRPO's guard rail (same test as the estimator, after the update).
            worst = c.abs().amax(1) / (tracker.std(name) + 1e-6)
            fired[name] += int((worst > 5.0).sum())
            groups_seen[name] += c.shape[0]
        # Per-group magnitude against the group's own reward spread (population std).
        spread = centred.view(-1, n).pow(2).mean(1).sqrt()
        which = torch.bucketize(spread, torch.tensor(SPREAD_BINS[1:-1], dtype=spread.dtype), right=True)
        for b in range(n_bins):
            sel = (which == b) & (spread > 0)
            if not bool(sel.any()):
                continue
            bin_count[b] += int(sel.sum())
            bin_raw[b] += float(centred.view(-1, n)[sel].abs().mean(1).sum())
            for est, adv in results.items():
                bin_sum[est][b] += float(adv.view(-1, n)[sel].abs().mean(1).sum())

    print(
        f"advantage balance: {steps} steps, {prompts} prompts x {n} rollouts per task per step, "
        f"EMA decay {decay}, seed {seed}, online filtering {'on (accuracy, 0.01/0.99)' if use_filter else 'off'}, "
        f"dense prompt-spread scale {prompt_spread_scale}"
    )
    print()
    header = "| task | informative | " + " | ".join(f"{e} mean abs A | {e} share" for e in estimators) + " |"
    print(header)
    print("|" + " --- |" * (2 + 2 * len(estimators)))
    means = {e: {k: abs_sum[e][k] / max(rollouts[k], 1) for k in names} for e in estimators}
    for k in names:
        cells = [k, f"{informative[k] / max(rollouts[k], 1):.0%}"]
        for e in estimators:
            total = sum(means[e].values())
            cells += [f"{means[e][k]:.3f}", f"{means[e][k] / total:.1%}"]
        print("| " + " | ".join(cells) + " |")
    print()
    print("max/min share across tasks (1.0 = perfectly even):")
    for e in estimators:
        vals = [v for v in means[e].values() if v > 0]
        print(f"  {e:9s} {max(vals) / min(vals):8.1f}")
    print()
    print("per-group mean |A| by the group's own reward std (all tasks pooled; degenerate groups excluded):")
    print()
    columns = ["group std", "groups", "mean abs centred reward"] + [f"{e} mean abs A" for e in estimators]
    print("| " + " | ".join(columns) + " |")
    print("|" + " --- |" * (3 + len(estimators)))
    for b in range(n_bins):
        if not bin_count[b]:
            continue
        lo, hi = SPREAD_BINS[b], SPREAD_BINS[b + 1]
        label = f"(0, {hi}]" if b == 0 else f"({lo}, {hi}]"
        cells = [label, str(bin_count[b]), f"{bin_raw[b] / bin_count[b]:.4f}"]
        cells += [f"{bin_sum[e][b] / bin_count[b]:.3f}" for e in estimators]
        print("| " + " | ".join(cells) + " |")
    print()
    print("EMA-GRPO end state (task std) and guard-rail fallbacks:")
    for k in names:
        extra = f", dropped groups {dropped_total[k]}" if use_filter else ""
        print(
            f"  {k:24s} std {tracker.std(k):.4f}  guard fired on {fired[k]}/{groups_seen[k]} groups "
            f"({fired[k] / max(groups_seen[k], 1):.1%}){extra}"
        )

    # Cost of one estimator call on a published-size batch (128 prompts x 8 rollouts).
    bench_scores, bench_groups, bench_keys = sample_batch(gen, max(1, math.ceil(128 / len(TASKS))), 8, -1)
    bench_tracker = EMATracker()
    ema_grpo_advantages(bench_scores, bench_groups, bench_keys, bench_tracker)
    reps = 50
    start = time.perf_counter()
    for _ in range(reps):
        ema_grpo_advantages(bench_scores, bench_groups, bench_keys, bench_tracker)
    per_call = (time.perf_counter() - start) / reps
    print()
    print(f"ema_grpo_advantages on {bench_scores.numel()} rollouts: {per_call * 1e3:.2f} ms per call (CPU)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--prompts", type=int, default=16, help="prompts per task per step")
    parser.add_argument("--n", type=int, default=8, help="rollouts per prompt")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--decay", type=float, default=0.99)
    parser.add_argument("--filter", action="store_true", help="apply online filtering (0.01, 0.99) first")
    parser.add_argument(
        "--prompt-spread-scale",
        type=float,
        default=1.0,
        help="multiply the dense tasks' prompt-to-prompt spread (0: all their variance is within-group)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    run(args.steps, args.prompts, args.n, args.seed, args.decay, args.filter, args.prompt_spread_scale)


if __name__ == "__main__":
    main()
