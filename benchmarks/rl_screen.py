"""Which RL recipe helps? Variants of the quickstart's RL, each trained from the run's own SFT checkpoint.

    python benchmarks/quickstart_check.py runs/qs0 runs/qs1 runs/qs2    # makes the `check` split read here
    python benchmarks/rl_screen.py runs/qs0 runs/qs1 runs/qs2 \\
        --variant t06 rollout.temperature=0.6 --variant seqmean algorithm.loss_agg_mode=seq-mean-token-mean

For each quickstart folder and each ``--variant NAME KEY=VALUE ...``: the run's own RL config
(``FOLDER/configs/rl.yaml``: the same seed, data, steps and optimizer) with those settings, trained from the run's
SFT checkpoint in two processes, as the quickstart trains RL, in ``FOLDER/screen_NAME`` (a finished one is
reused). A variant without settings is the quickstart's RL trained again: on the machine that ran the
quickstart its checkpoint is the quickstart's own, weight for weight, so the screen's baseline and its variants
are trained alike. Then the two workers answer the split made by ``quickstart_check.py`` greedily with the SFT
checkpoint, the quickstart's RL checkpoint and every variant (each checkpoint's per-record accuracies are kept in
``FOLDER/screen_<split>/<label>.json`` and reused while the checkpoint is unchanged), and the script prints,
per variant and run, RL - SFT paired record by record (95% interval), the tasks worse than SFT by more than
0.02, whether the run clears the issue's "RL helps" bar (``quickstart_check.helps_bar``) and RL - SFT per task;
then per variant the mean over the runs with a pooled 95% interval and how many runs clear the bar.

``--control`` also trains the no-information control of the quickstart's RL (label ``control``) and of each
variant (``NAME-control``): the same settings with ``algorithm.shuffle_advantages=true``, updates of the same
size and noise that no longer follow the reward. Each of their rows is what that noise alone does to the SFT
checkpoint, and each RL row gains "RL - its control", paired: what the reward taught, as
``quickstart_check.py --control`` reports for the quickstart's own RL.

About 3 minutes of training per variant and run (90 steps) and 1 minute of answering per three checkpoints on
2 cores. Writes ``FOLDER/rl_screen_<split>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

QUICKSTART = "rl"  # the label of the quickstart's own RL checkpoint in the tables
SHUFFLE = "algorithm.shuffle_advantages=true"  # the no-information control's one setting
CONTROL = "control"  # the label of the quickstart's RL trained with its advantages shuffled


def control_of(label: str) -> str:
    """The label of ``label``'s no-information control (``--control``)."""
    return CONTROL if label == QUICKSTART else f"{label}-control"


def with_controls(variants: dict[str, list[str]]) -> dict[str, list[str]]:
    """``variants`` with the no-information control of the quickstart's RL and of each variant beside it: the
    same settings and ``algorithm.shuffle_advantages=true``; refuses a variant that would share a control's
    name or already shuffles."""
    clash = sorted(set(variants) & {control_of(name) for name in [QUICKSTART, *variants]})
    if clash:
        raise SystemExit(f"--control: the variant {clash[0]} has a control's name")
    shuffled = [name for name, sets in variants.items() if any(s.startswith("algorithm.shuffle_advantages=")
                                                               for s in sets)]
    if shuffled:
        raise SystemExit(f"--control: the variant {shuffled[0]} sets algorithm.shuffle_advantages itself")
    out = {CONTROL: [SHUFFLE]}
    for name, sets in variants.items():
        out[name] = sets
        out[control_of(name)] = [*sets, SHUFFLE]
    return out


def variant_config(folder: Path, name: str, sets: list[str]):
    """``folder``'s RL config with ``sets``, writing to ``FOLDER/screen_<name>``."""
    from onethinker.train.config import RLConfig, load_config

    return load_config(RLConfig, folder / "configs" / "rl.yaml",
                       [*sets, f"trainer.output_dir={folder / f'screen_{name}'}", "trainer.tensorboard=false"])


def checkpoint_of(folder: Path, label: str) -> Path:
    """The final checkpoint labelled ``label`` in a quickstart folder: ``sft``, the quickstart's RL, or a variant
    (or control) trained here, in ``FOLDER/screen_<label>``."""
    if label == "sft":
        return folder / "sft" / "final"
    if label == QUICKSTART:
        return folder / "rl" / "final"
    return folder / f"screen_{label}" / "final"


def checkpoints(folder: Path, variants: dict[str, list[str]]) -> list[tuple[str, Path]]:
    """``(label, final checkpoint)``: SFT, the quickstart's RL, then each variant's."""
    return [(label, checkpoint_of(folder, label)) for label in ("sft", QUICKSTART, *variants)]


def _stamp(checkpoint: Path) -> int:
    return (checkpoint / "model.safetensors").stat().st_mtime_ns


def cached_accuracy(folder: Path, split: str, label: str, checkpoint: Path) -> list[float] | None:
    """The kept per-record accuracies of ``checkpoint`` on ``split``, or ``None`` where there are none or the
    checkpoint has been written since."""
    path = folder / f"screen_{split}" / f"{label}.json"
    if not path.is_file():
        return None
    kept = json.loads(path.read_text())
    return kept["accuracy"] if kept.get("checkpoint") == str(checkpoint) and kept.get("stamp") == _stamp(
        checkpoint) else None


def kept_or_answered(helper, bar, folder: Path, split: str, models: list[tuple[str, Path]], test_file: Path,
                     records: list) -> dict[str, list[float]]:
    """Per-record accuracies on ``test_file`` (``records``: its records) of every ``(label, checkpoint)`` in
    ``models``: the kept ones (:func:`cached_accuracy`) where the checkpoint is unchanged, the others answered
    greedily in ``helper``'s workers under the run's own answer plan and kept in ``FOLDER/screen_<split>/``."""
    from quickstart_check import answer_checkpoints, answer_plan

    from onethinker.quickstart import score_answers
    from onethinker.train.config import RLConfig, load_config

    accuracy = {label: cached_accuracy(folder, split, label, path) for label, path in models}
    todo = [(label, path) for label, path in models if accuracy[label] is None]
    if todo:
        run = load_config(RLConfig, folder / "configs" / "rl.yaml", [])  # the run's own answer budget
        texts = answer_checkpoints(helper, bar, answer_plan(folder, split, run), todo, test_file,
                                   f"{folder.name}: answering with {len(todo)} checkpoints")
        (folder / f"screen_{split}").mkdir(exist_ok=True)
        for label, path in todo:
            accuracy[label] = [s["accuracy"] for s in score_answers(records, texts[label])]
            (folder / f"screen_{split}" / f"{label}.json").write_text(json.dumps(
                {"checkpoint": str(path), "stamp": _stamp(path), "accuracy": accuracy[label]}))
    return accuracy


def screen(folders: list[Path], variants: dict[str, list[str]], split: str) -> list[dict]:
    """Train every missing variant, answer with every checkpoint not yet scored, and return one result per
    folder: per label (``sft`` excepted) its RL - SFT over tasks with interval, tasks worse by > 0.02, the bar,
    and RL - SFT per task."""
    from quickstart_check import helps_bar, made_split, versus_sft
    from rich.progress import MofNCompleteColumn, Progress

    from onethinker.data import read_records
    from onethinker.quickstart import Helper, two_process_train
    from onethinker.train.rl import train_rl

    tests = {folder: made_split(folder, split) for folder in folders}  # refuse before any training
    configs = {(folder, name): variant_config(folder, name, sets) for folder in folders
               for name, sets in variants.items()}  # and before any training, a bad setting
    accuracy: dict[Path, dict[str, list[float]]] = {}
    records_of: dict[Path, list] = {}
    with Helper(1, workers=2) as helper, Progress(*Progress.get_default_columns(), MofNCompleteColumn()) as bar:
        for (folder, name), cfg in configs.items():
            if not (folder / f"screen_{name}" / "final" / "config.json").is_file():
                task = bar.add_task(f"{folder.name}: RL variant {name}", total=cfg.trainer.max_steps)
                two_process_train(helper, [(train_rl, cfg)],
                                  progress=lambda _stage, step, _m, task=task: bar.update(task, completed=step))
        for folder in folders:
            records = records_of[folder] = [r for _, r in read_records(tests[folder])]
            accuracy[folder] = kept_or_answered(helper, bar, folder, split, checkpoints(folder, variants),
                                                tests[folder], records)
    results = []
    for folder in folders:
        tasks = [r.key for r in records_of[folder]]
        rows = {}
        for label, _ in checkpoints(folder, variants)[1:]:
            overall, per_task = versus_sft(tasks, accuracy[folder][label], accuracy[folder]["sft"])
            worse, helps = helps_bar(overall.diff, list(per_task.values()))
            rows[label] = {"sets": variants.get(label, []), "sft": overall.second, "rl": overall.first,
                           "rl_minus_sft": overall.diff, "se": overall.se, "low": overall.low,
                           "high": overall.high, "tasks_worse_by_0.02": worse, "rl_helps": helps,
                           "per_task": per_task}
            if control_of(label) in accuracy[folder]:  # what the reward taught: RL - its control, paired
                learned, _ = versus_sft(tasks, accuracy[folder][label], accuracy[folder][control_of(label)])
                rows[label]["minus_control"] = {"diff": learned.diff, "se": learned.se, "low": learned.low,
                                                "high": learned.high}
        results.append({"folder": str(folder), "split": split, "rows": rows})
    return results


def summary(results: list[dict]) -> dict[str, dict]:
    """Per label: each run's RL - SFT, their mean with a pooled 95% interval
    (:func:`onethinker.eval.blind.pooled`: the runs are independent) and how many runs clear the bar."""
    from onethinker.eval.blind import pooled

    out = {}
    for label in results[0]["rows"]:
        rows = [r["rows"][label] for r in results]
        mean, se, low, high = pooled([x["rl_minus_sft"] for x in rows], [x["se"] for x in rows])
        out[label] = {"values": [x["rl_minus_sft"] for x in rows], "mean": mean, "se": se, "low": low,
                      "high": high, "rl_helps": sum(bool(x["rl_helps"]) for x in rows), "runs": len(rows)}
        if all("minus_control" in x for x in rows):
            learned = [x["minus_control"] for x in rows]
            out[label]["minus_control"] = dict(zip(("mean", "se", "low", "high"), pooled(
                [x["diff"] for x in learned], [x["se"] for x in learned]), strict=True))
    return out


def print_screen(results: list[dict]) -> None:
    for result in results:
        rows = result["rows"]
        tasks = list(rows[QUICKSTART]["per_task"])
        print(f"\n## {result['folder']} (split `{result['split']}`; SFT {rows[QUICKSTART]['sft']:.3f})\n")
        print("| RL | settings | accuracy | RL - SFT (95% CI, paired) | RL - its control (95% CI, paired) | "
              "tasks worse by > 0.02 | RL helps | " + " | ".join(tasks) + " |")
        print("| --- | --- | ---: | ---: | ---: | ---: | --- | " + " | ".join("---:" for _ in tasks) + " |")
        for label, r in rows.items():
            sets = " ".join(r["sets"]) or ("the quickstart's" if label == QUICKSTART else "as the quickstart's")
            c = r.get("minus_control")
            learned = f"{c['diff']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}]" if c else ""
            print(f"| {label} | {sets} | {r['rl']:.3f} | {r['rl_minus_sft']:+.3f} [{r['low']:+.3f}, "
                  f"{r['high']:+.3f}] | {learned} | {r['tasks_worse_by_0.02']} | "
                  f"{'yes' if r['rl_helps'] else 'no'} | " + " | ".join(f"{r['per_task'][t]:+.3f}" for t in tasks)
                  + " |")
    if len(results) > 1:
        print(f"\n## RL - SFT over the {len(results)} runs\n")
        print("| RL | " + " | ".join(Path(r["folder"]).name for r in results) + " | mean (95% CI, pooled) | "
              "RL - its control, mean (95% CI, pooled) | runs that clear the bar |")
        print("| --- | " + " | ".join("---:" for _ in results) + " | ---: | ---: | ---: |")
        for label, s in summary(results).items():
            c = s.get("minus_control")
            learned = f"{c['mean']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}]" if c else ""
            print(f"| {label} | " + " | ".join(f"{v:+.3f}" for v in s["values"])
                  + f" | {s['mean']:+.3f} [{s['low']:+.3f}, {s['high']:+.3f}] | {learned} | "
                  f"{s['rl_helps']} of {s['runs']} |")


def save_results(results: list[dict], stem: str) -> None:
    """Each folder's result in ``FOLDER/<stem>_<split>.json``."""
    for result in results:
        Path(result["folder"], f"{stem}_{result['split']}.json").write_text(json.dumps(result, indent=1))


def parse_variants(items: list[list[str]] | None) -> dict[str, list[str]]:
    """``--variant NAME KEY=VALUE ...`` occurrences -> ``{name: settings}``; refuses a repeated or reserved name
    and a setting without ``=``."""
    variants: dict[str, list[str]] = {}
    for name, *sets in items or []:
        if name in variants or name in (QUICKSTART, "sft"):
            raise SystemExit(f"--variant {name}: {'repeated' if name in variants else 'a reserved name'}")
        if not name.replace("-", "").replace("_", "").isalnum():
            raise SystemExit(f"--variant {name}: a name is letters, digits, '-' and '_' (it names a folder)")
        bad = [s for s in sets if "=" not in s]
        if bad:
            raise SystemExit(f"--variant {name}: settings are KEY=VALUE, got {' '.join(bad)}")
        variants[name] = sets
    return variants


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--variant", nargs="+", action="append", metavar="NAME [KEY=VALUE ...]",
                        help="a variant of the run's RL config (repeatable)")
    parser.add_argument("--split", default="check")
    parser.add_argument("--control", action="store_true",
                        help="also train the no-information control (advantages shuffled within their groups) of "
                             "the quickstart's RL and of every variant, and report each one's RL - control")
    args = parser.parse_args(argv)
    variants = parse_variants(args.variant)
    if args.control:
        variants = with_controls(variants)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from onethinker.train.common import quiet_transformers

    quiet_transformers()
    results = screen(args.folders, variants, args.split)
    save_results(results, "rl_screen")
    print_screen(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
