"""Does the quickstart's model look, and does RL help? Checked on a split the quickstart never generated.

    onethinker quickstart --out runs/qs0 --seed 0
    python benchmarks/quickstart_check.py runs/qs0 [runs/qs1 ...] [--split check] [--per-task 100] [--control]
        [--matched] [--rl-repeats K]

For each quickstart folder: synthesise ``--per-task`` records per task of a fresh shapes-world split (same seed
and difficulty as the run, another random stream), answer them greedily with the SFT and the RL checkpoints,
each with the right media and with media swapped within a task (the blind control), and print per task:
accuracy after SFT, after RL, the constant-answer baseline (the best single answer of the split, chosen without
the record it answers: ``onethinker.eval.constant``), with swapped media, and the gaps; and RL - SFT averaged
over the tasks SFT has learned (it beats the constant, paired 95% interval above 0) and over the others.
Then the issue's bars:

* it looks: RL's mean gap (right - swapped) >= 0.10, and >= 0.05 on at least 6 of the 12 tasks;
* RL helps: mean accuracy after RL >= after SFT + 0.02, and at most 3 tasks worse by more than 0.02.

``--matched`` also answers with the RL checkpoint, each record shown the media of a record of its task whose
media are about as long (video seconds, image pixels: ``swap_media(..., lengths=...)``), and reports that gap
per task: a model that reads only how long a video is loses nothing there.

``--control`` also trains the no-information control from the run's SFT checkpoint: its own RL config with
each step's advantages permuted within their groups (``algorithm.shuffle_advantages=true``; same seed, so the
first step samples the same rollouts), in ``FOLDER/control_rl`` (reused when its ``final`` exists), and adds
per task its accuracy and RL - control (paired): what RL learned from the reward, apart from what the update
noise alone does to the SFT checkpoint (control - SFT). It runs in a second process while the SFT and RL
checkpoints are answered, about 4 minutes per folder on 2 cores.

``--rl-repeats K`` also trains the run's RL ``K`` more times from its SFT checkpoint, the same config with
``trainer.seed`` = the run's seed + 1000 j (j = 1..K: other prompts, other rollouts), in ``FOLDER/rl_repeat<j>``
(reused when its ``final`` exists), and reports each repeat's RL - SFT with its paired interval and the spread
(standard deviation) of RL - SFT over the run's own RL and its repeats: how far one RL run of the recipe moves
from the next, which a seed's single RL - SFT cannot show. The repeats train one process each, half in the
helper process and half here after the checkpoints are answered, about 5 minutes per repeat on 2 cores.

With several folders (one quickstart per seed) it ends with their pooled RL - SFT (and RL - control), the mean
over runs with a 95% interval from the runs' paired standard errors, and how many runs pass each bar; with
``--rl-repeats``, also the spread pooled within folders (:func:`spread`).

Writes ``FOLDER/check_<split>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def split_file(folder: Path, split: str) -> Path:
    """Where :func:`check` writes ``folder``'s records of ``split``; the other quickstart benchmarks read them."""
    return folder / f"check_{split}" / "data" / split / "data.jsonl"


def made_split(folder: Path, split: str) -> Path:
    """:func:`split_file`, refused with the command that makes it where :func:`check` has not run."""
    path = split_file(folder, split)
    if not path.is_file():
        raise SystemExit(f"{path} does not exist: run `python benchmarks/quickstart_check.py {folder} "
                         f"--split {split}` first (it makes the split)")
    return path


def run_media(cfg) -> dict:
    """A run's media settings (from its config), in the form of ``QuickstartPlan.media``."""
    from onethinker.quickstart import QuickstartPlan

    return {name: getattr(cfg.data, name) for name in QuickstartPlan(out=Path()).media}


def variant_accuracy(folder: Path, plan, test_file: Path, name: str, sets: list[str], on_batch=None) -> list[float]:
    """Train (or reuse) a variant of ``folder``'s RL run in ``folder / name`` (its own RL config with ``sets``,
    from its SFT checkpoint, one process), answer ``test_file`` greedily with the right media; returns each
    record's accuracy in the file's order (``on_batch``: as :func:`answer`'s)."""
    from onethinker.data import read_records
    from onethinker.quickstart import answer, score_answers
    from onethinker.train.common import quiet_transformers
    from onethinker.train.config import RLConfig, load_config
    from onethinker.train.rl import train_rl

    quiet_transformers()
    final = folder / name / "final"
    if not (final / "config.json").is_file():
        cfg = load_config(RLConfig, folder / "configs" / "rl.yaml",
                          [f"trainer.output_dir={folder / name}", "trainer.tensorboard=false", *sets])
        final = train_rl(cfg)
    records = [r for _, r in read_records(test_file)]
    scores = score_answers(records, answer(plan, final, test_file, "right", on_batch))
    return [s["accuracy"] for s in scores]


def control_accuracy(folder: Path, plan, test_file: Path, on_batch=None) -> list[float]:
    """The no-information control of ``folder``'s RL run (advantages shuffled within groups), in
    ``folder / "control_rl"``: :func:`variant_accuracy`."""
    return variant_accuracy(folder, plan, test_file, "control_rl", ["algorithm.shuffle_advantages=true"], on_batch)


def repeat_accuracy(folder: Path, plan, test_file: Path, j: int, seed: int, on_batch=None) -> list[float]:
    """Repeat ``j`` of ``folder``'s RL run (``trainer.seed = seed + 1000 j``), in ``folder / f"rl_repeat{j}"``:
    :func:`variant_accuracy`."""
    return variant_accuracy(folder, plan, test_file, f"rl_repeat{j}", [f"trainer.seed={seed + 1000 * j}"],
                            on_batch)


def check(folder: Path, split: str, per_task: int, control: bool = False, matched: bool = False,
          rl_repeats: int = 0) -> dict:
    from onethinker.data import read_records
    from onethinker.data.synth import synthesize
    from onethinker.eval.blind import ALL_TASKS, paired_table
    from onethinker.eval.constant import constant_baseline, constant_table
    from onethinker.quickstart import Helper, QuickstartPlan, evaluate, rl_minus_sft
    from onethinker.train.config import RLConfig, load_config

    cfg = load_config(RLConfig, folder / "configs" / "rl.yaml", [])
    summary = json.loads((folder / "eval" / "summary.json").read_text())
    n_tasks = len([t for t in summary["accuracy"]["sft"] if t != ALL_TASKS])
    plan = QuickstartPlan(out=folder / f"check_{split}", seed=cfg.trainer.seed, eval_split=split,
                          eval_size=per_task * n_tasks, max_new_tokens=cfg.rollout.max_new_tokens, media=run_media(cfg),
                          threads=cfg.trainer.threads,
                          difficulty=summary.get("plan", {}).get("difficulty", QuickstartPlan.difficulty))
    test = synthesize(split_file(folder, split).parent, plan.eval_size, plan.seed, split=split,
                      difficulty=plan.difficulty)
    repeats = range(1, rl_repeats + 1)
    with Helper(plan.threads) as helper:  # a second process beside this one
        # there: the control (this process then answers with both checkpoints) or SFT's answers, then the
        # odd-numbered RL repeats
        pending = (helper.submit(control_accuracy, folder, plan, test / "data.jsonl") if control
                   else helper.submit(evaluate, plan, folder / "sft" / "final", test / "data.jsonl", "sft"))
        queued = {j: helper.submit(repeat_accuracy, folder, plan, test / "data.jsonl", j, cfg.trainer.seed)
                  for j in repeats if j % 2}
        if control:
            results = {name: evaluate(plan, folder / name / "final", test / "data.jsonl", name,
                                      matched=matched and name == "rl")
                       for name in ("rl", "sft")}
            control_acc = pending.result()
        else:
            # with ``matched``, the RL checkpoint also answers with media of about each record's own length
            results = {"rl": evaluate(plan, folder / "rl" / "final", test / "data.jsonl", "rl", matched=matched)}
            results["sft"] = pending.result()
        repeat_acc = {j: repeat_accuracy(folder, plan, test / "data.jsonl", j, cfg.trainer.seed)
                      for j in repeats if not j % 2}
        repeat_acc.update({j: job.result() for j, job in queued.items()})
    rows = {}
    # the constant-answer baseline, paired with SFT record by record: a task SFT has learned beats it
    baseline = constant_baseline([r for _, r in read_records(test / "data.jsonl")])
    constant = {row.task: row for row in constant_table(baseline, results["sft"]["record_accuracy"])}
    blind_rows = {row["task"]: row for row in results["rl"]["blind"]}
    change = {row["task"]: row for row in rl_minus_sft(results["sft"], results["rl"])}
    for task, sft in results["sft"]["accuracy"].items():
        rl = results["rl"]["accuracy"][task]
        blind = blind_rows[task]
        rows[task] = {"n": sft["n"], "sft": sft["mean"], "rl": rl["mean"], "rl_swapped": blind["swapped"],
                      "gap": blind["gap"], "rl_minus_sft": change[task]["diff"],
                      "rl_minus_sft_se": change[task]["se"], "rl_minus_sft_low": change[task]["low"],
                      "rl_minus_sft_high": change[task]["high"], "constant": getattr(constant.get(task), "second", None),
                      "sft_minus_constant_low": getattr(constant.get(task), "low", None)}
    if matched:
        matched_rows = {row["task"]: row for row in results["rl"]["blind_matched"]}
        for task, row in rows.items():
            row.update(rl_matched=matched_rows[task]["swapped"], gap_matched=matched_rows[task]["gap"])
    if control:
        tasks_of = results["rl"]["tasks"]
        vs_control = {row.task: row.as_dict()
                      for row in paired_table(tasks_of, results["rl"]["record_accuracy"], control_acc)}
        vs_sft = {row.task: row.as_dict()
                  for row in paired_table(tasks_of, control_acc, results["sft"]["record_accuracy"])}
        for task, row in rows.items():
            c = vs_control[task]
            row.update(control=c["second"], rl_minus_control=c["diff"], rl_minus_control_se=c["se"],
                       rl_minus_control_low=c["low"], rl_minus_control_high=c["high"],
                       control_minus_sft=vs_sft[task]["diff"])
    tasks = [t for t in rows if t != ALL_TASKS]
    verdict = {"mean_gap": rows[ALL_TASKS]["gap"], "rl_minus_sft": rows[ALL_TASKS]["rl_minus_sft"]}
    verdict["tasks_gap_ge_0.05"], verdict["looks"] = looks_bar(verdict["mean_gap"], [rows[t]["gap"] for t in tasks])
    verdict["tasks_worse_by_0.02"], verdict["rl_helps"] = helps_bar(verdict["rl_minus_sft"],
                                                                    [rows[t]["rl_minus_sft"] for t in tasks])
    verdict.update(by_learned(rows, tasks))
    if matched:
        verdict["mean_gap_matched"] = rows[ALL_TASKS]["gap_matched"]
        verdict["tasks_gap_matched_ge_0.05"], verdict["looks_matched"] = looks_bar(
            verdict["mean_gap_matched"], [rows[t]["gap_matched"] for t in tasks])
    if control:
        verdict["rl_minus_control"] = rows[ALL_TASKS]["rl_minus_control"]
        verdict["control_minus_sft"] = rows[ALL_TASKS]["control_minus_sft"]
    out = {"folder": str(folder), "seed": cfg.trainer.seed, "split": split, "rows": rows, "verdict": verdict}
    if rl_repeats:
        tasks_of = results["rl"]["tasks"]
        out["repeats"] = []
        for j in repeats:
            mean, diffs = versus_sft(tasks_of, repeat_acc[j], results["sft"]["record_accuracy"])
            worse, helps = helps_bar(mean.diff, [diffs[t] for t in tasks])
            out["repeats"].append({"run": f"rl_repeat{j}", "seed": cfg.trainer.seed + 1000 * j,
                                   "rl_minus_sft": mean.diff, "se": mean.se, "low": mean.low,
                                   "high": mean.high, "tasks_worse_by_0.02": worse, "rl_helps": helps})
    (folder / f"check_{split}.json").write_text(json.dumps(out, indent=1))
    return out


def answer_plan(folder: Path, split: str, cfg):
    """The plan under which ``folder``'s checkpoints answer ``split`` greedily, one thread per process: the run's
    seed, answer budget and media (``cfg``: its RL config)."""
    from onethinker.quickstart import QuickstartPlan

    return QuickstartPlan(out=folder / f"check_{split}", seed=cfg.trainer.seed,
                          max_new_tokens=cfg.rollout.max_new_tokens, media=run_media(cfg), threads=1)


def versus_sft(tasks: list[str], accuracy: list[float], sft: list[float]):
    """A checkpoint's per-record ``accuracy`` against SFT's on the same records, paired
    (:func:`onethinker.eval.blind.paired_table`): the mean-over-tasks row and ``{task: RL - SFT}``."""
    from onethinker.eval.blind import ALL_TASKS, paired_table

    table = paired_table(tasks, accuracy, sft)
    return table[-1], {row.task: row.diff for row in table if row.task != ALL_TASKS}


def answer_checkpoints(helper, bar, plan, models: list[tuple[str, Path]], test_file: Path, title: str) -> dict:
    """Greedy answers (right media) of every ``(label, checkpoint folder)`` in ``models`` to ``test_file``,
    the checkpoints shared out between ``helper``'s workers, one rich ``bar`` task counting the records
    answered; returns ``{label: answers}``."""
    from onethinker.quickstart import answer

    n = sum(1 for line in test_file.read_text().splitlines() if line.strip())
    task = bar.add_task(title, total=len(models) * n)
    done = {label: 0 for label, _ in models}

    def advance(count: int, label: str) -> None:
        done[label] = count
        bar.update(task, completed=sum(done.values()))

    pending = {label: helper.submit(answer, plan, path, test_file, "right",
                                    on_batch=lambda count, label=label: advance(count, label))
               for label, path in models}
    return {label: future.result() for label, future in pending.items()}


def looks_bar(mean_gap: float, gaps: list[float]) -> tuple[int, bool]:
    """The issue's "it looks" bar: (tasks whose gap is >= 0.05, whether the mean gap is >= 0.10 and 6 or more
    tasks have such a gap)."""
    count = sum(g >= 0.05 for g in gaps)
    return count, mean_gap >= 0.10 and count >= 6


def helps_bar(mean_diff: float, diffs: list[float]) -> tuple[int, bool]:
    """The issue's "RL helps" bar: (tasks worse by more than 0.02, whether the mean RL - SFT is >= 0.02 and at
    most 3 tasks are that much worse)."""
    worse = sum(d < -0.02 for d in diffs)
    return worse, mean_diff >= 0.02 and worse <= 3


def by_learned(rows: dict, tasks: list[str]) -> dict:
    """RL - SFT averaged over the tasks SFT has learned and over the others. SFT has learned a task when it
    beats the constant-answer baseline: the paired 95% interval of SFT - constant (``sft_minus_constant_low``)
    lies above 0; a task without one counts as not learned. Returns ``tasks_learned``,
    ``rl_minus_sft_learned``, ``tasks_not_learned`` and ``rl_minus_sft_not_learned`` (``None`` for an empty
    group)."""
    learned = [t for t in tasks if (rows[t].get("sft_minus_constant_low") or 0.0) > 0]
    out = {}
    for name, group in (("learned", learned), ("not_learned", [t for t in tasks if t not in learned])):
        out[f"tasks_{name}"] = group
        out[f"rl_minus_sft_{name}"] = sum(rows[t]["rl_minus_sft"] for t in group) / len(group) if group else None
    return out


def pool(results: list[dict], key: str) -> dict:
    """Several runs' mean-over-tasks ``key`` (``rl_minus_sft`` or ``rl_minus_control``), pooled: the mean over
    runs, its standard error and 95% interval from :func:`onethinker.eval.blind.pooled` (the runs are
    independent: other seeds, other records' answers); ``se``, ``low`` and ``high`` are ``None`` where a run
    lacks an ``se``. Also each run's value, and how many runs pass each of the issue's bars."""
    from onethinker.eval.blind import ALL_TASKS, pooled

    values = [r["rows"][ALL_TASKS][key] for r in results]
    ses = [r["rows"][ALL_TASKS].get(f"{key}_se") for r in results]
    if any(x is None for x in ses):
        mean, se, low, high = sum(values) / len(values), None, None, None
    else:
        mean, se, low, high = pooled(values, ses)
    return {"runs": len(values), "values": values, "mean": mean, "se": se, "low": low, "high": high,
            "looks": sum(bool(r["verdict"]["looks"]) for r in results),
            "rl_helps": sum(bool(r["verdict"]["rl_helps"]) for r in results)}


def spread(results: list[dict]) -> dict:
    """How far one RL run's RL - SFT is from another's of the same recipe and SFT checkpoint. Per folder, the
    values are its own RL's (``rows``) and its repeats' (``repeats``); their standard deviation is pooled over
    folders by their degrees of freedom: ``sqrt(sum over folders of sum (v - folder mean)^2 / sum (n - 1))``
    (``None`` without a folder of two values or more). Also every run's value, how many clear the issue's
    bar (``rl_helps``) and how many runs there are."""
    from onethinker.eval.blind import ALL_TASKS

    squares, dof, runs, helps, values = 0.0, 0, 0, 0, {}
    for r in results:
        own = {"rl_minus_sft": r["rows"][ALL_TASKS]["rl_minus_sft"], "rl_helps": r["verdict"]["rl_helps"]}
        group = [own, *r.get("repeats", [])]
        vs = [g["rl_minus_sft"] for g in group]
        values[r["folder"]] = vs
        mean = sum(vs) / len(vs)
        squares += sum((v - mean) ** 2 for v in vs)
        dof += len(vs) - 1
        runs += len(vs)
        helps += sum(bool(g["rl_helps"]) for g in group)
    return {"sd": (squares / dof) ** 0.5 if dof else None, "dof": dof, "runs": runs, "rl_helps": helps,
            "values": values}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--split", default="check")
    parser.add_argument("--per-task", type=int, default=100)
    parser.add_argument("--matched", action="store_true",
                        help="also answer with the RL checkpoint shown media of about the record's own length "
                             "(video seconds, image pixels) and report that gap: what the model reads beyond length")
    parser.add_argument("--control", action="store_true",
                        help="also train and score the no-information control (advantages shuffled within groups)")
    parser.add_argument("--rl-repeats", type=int, default=0, metavar="K",
                        help="also train the run's RL K more times (trainer.seed + 1000 j) and report the spread")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from onethinker.train.common import quiet_transformers

    quiet_transformers()
    results = []
    for folder in args.folders:
        result = check(folder, args.split, args.per_task, args.control, args.matched, args.rl_repeats)
        results.append(result)
        print(f"\n## {folder} (split `{args.split}`)\n")
        print("| task | n | SFT | RL | RL - SFT (95% CI, paired) | constant | RL swapped media | gap (right - swapped) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for task, r in result["rows"].items():
            low, high = ("n/a" if x is None else f"{x:+.3f}" for x in (r["rl_minus_sft_low"], r["rl_minus_sft_high"]))
            constant = "n/a" if r.get("constant") is None else f"{r['constant']:.3f}"
            print(f"| {task} | {r['n']} | {r['sft']:.3f} | {r['rl']:.3f} | {r['rl_minus_sft']:+.3f} "
                  f"[{low}, {high}] | {constant} | {r['rl_swapped']:.3f} | {r['gap']:+.3f} |")
        v = result["verdict"]
        print()
        for name, label in (("learned", "tasks SFT has learned (beats its constant)"), ("not_learned", "others")):
            value = v[f"rl_minus_sft_{name}"]
            print(f"RL - SFT on the {len(v[f'tasks_{name}'])} {label}: {'n/a' if value is None else f'{value:+.3f}'}"
                  f" ({', '.join(v[f'tasks_{name}'])})")
        print(f"\nlooks: {v['looks']} (mean gap {v['mean_gap']:+.3f}, {v['tasks_gap_ge_0.05']} tasks >= 0.05); "
              f"RL helps: {v['rl_helps']} (RL - SFT {v['rl_minus_sft']:+.3f}, "
              f"{v['tasks_worse_by_0.02']} tasks worse by > 0.02)")
        if args.matched:
            print("\n| task | RL | RL, swapped media | gap | RL, length-matched media | gap (length-matched) |")
            print("| --- | ---: | ---: | ---: | ---: | ---: |")
            for task, r in result["rows"].items():
                print(f"| {task} | {r['rl']:.3f} | {r['rl_swapped']:.3f} | {r['gap']:+.3f} | {r['rl_matched']:.3f} | "
                      f"{r['gap_matched']:+.3f} |")
            print(f"\nlooks with length-matched media: {v['looks_matched']} (mean gap {v['mean_gap_matched']:+.3f}, "
                  f"{v['tasks_gap_matched_ge_0.05']} tasks >= 0.05)")
        if args.control:
            print("\n| task | SFT | control | RL | control - SFT | RL - control (95% CI, paired) |")
            print("| --- | ---: | ---: | ---: | ---: | ---: |")
            for task, r in result["rows"].items():
                low, high = ("n/a" if x is None else f"{x:+.3f}"
                             for x in (r["rl_minus_control_low"], r["rl_minus_control_high"]))
                print(f"| {task} | {r['sft']:.3f} | {r['control']:.3f} | {r['rl']:.3f} | "
                      f"{r['control_minus_sft']:+.3f} | {r['rl_minus_control']:+.3f} [{low}, {high}] |")
            print(f"\nRL - control {v['rl_minus_control']:+.3f} (what the reward taught); control - SFT "
                  f"{v['control_minus_sft']:+.3f} (what the update noise alone did)")
        if args.rl_repeats:
            print("\n| RL run | trainer.seed | RL - SFT (95% CI, paired) | tasks worse by > 0.02 | RL helps |")
            print("| --- | ---: | ---: | ---: | --- |")
            print(f"| the quickstart's | {result['seed']} | {v['rl_minus_sft']:+.3f} | {v['tasks_worse_by_0.02']} | "
                  f"{v['rl_helps']} |")
            for r in result["repeats"]:
                print(f"| {r['run']} | {r['seed']} | {r['rl_minus_sft']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}] | "
                      f"{r['tasks_worse_by_0.02']} | {r['rl_helps']} |")
            one = spread([result])
            print(f"\nspread of RL - SFT over these {one['runs']} RL runs (standard deviation): {one['sd']:.3f}")
    if len(results) > 1:
        print(f"\n## Pooled over the {len(results)} runs\n")
        labels = {"rl_minus_sft": "RL - SFT", **({"rl_minus_control": "RL - control"} if args.control else {})}
        pools = {key: pool(results, key) for key in labels}
        for key, p in pools.items():
            ci = "" if p["se"] is None else f" [{p['low']:+.3f}, {p['high']:+.3f}]"
            print(f"{labels[key]}: {p['mean']:+.3f}{ci} (per run: {', '.join(f'{x:+.3f}' for x in p['values'])})")
        p = pools["rl_minus_sft"]
        print(f"looks on {p['looks']} of {p['runs']} runs; RL helps on {p['rl_helps']} of {p['runs']}")
        if args.rl_repeats:
            s = spread(results)
            print(f"RL runs, repeats included: RL helps on {s['rl_helps']} of {s['runs']}; spread of one run's "
                  f"RL - SFT about its folder's mean (standard deviation, pooled, {s['dof']} degrees of freedom): "
                  f"{s['sd']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
