"""Where in the weights does a trained run's change lie? The SFT weights plus one part of the run's move.

    python benchmarks/quickstart_check.py runs/qs0 runs/qs2        # makes the `check` split read here
    python benchmarks/rl_screen.py runs/qs0 runs/qs2 --control     # trains the controls (label `control`)
    python benchmarks/rl_parts.py runs/qs0 runs/qs2 --of rl control

For each quickstart folder, each checkpoint label in ``--of`` (``rl``: the quickstart's own RL checkpoint; any
other label: ``FOLDER/screen_<label>/final``, an ``rl_screen.py`` variant or control) and each part of the model,
a mixed checkpoint: the SFT weights, except that the part's parameters take the trained checkpoint's values
(``FOLDER/parts/<label>@<part>/final``, made again only where the SFT or the trained weights are newer). The
two workers answer the split made by ``quickstart_check.py`` greedily with every mixed checkpoint (accuracies are
kept beside ``rl_screen.py``'s, in ``FOLDER/screen_<split>/<label>@<part>.json``), and the script prints, per
part, each mix's accuracy minus SFT's, paired record by record, with the whole checkpoint's in the first row.

The parts (``--part NAME REGEX``, repeatable, regular expressions over parameter names, ``re.search``) default
to a partition of the model: its embeddings (``embed_tokens``, ``lm_head``), each language-model layer, the
vision tower (``visual.``) and the rest (the final norm); plus everything but the embeddings. For the
partition the table adds the sum of the parts' differences: where it exceeds the whole's, the parts' moves
cost together what none costs alone. About 30 s of answering per mixed checkpoint (1,200 records) on 2 cores.
Writes ``FOLDER/rl_parts_<split>.json``.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
from pathlib import Path

WHOLE = "whole"  # the row of the trained checkpoint itself


def parameter_names(checkpoint: Path) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(checkpoint / "model.safetensors"), "pt") as f:
        return list(f.keys())


def default_parts(names: list[str]) -> tuple[dict[str, str], list[str]]:
    """``({part: regex}, the parts that partition ``names``)``: embeddings, each language-model layer, the
    vision tower and the rest, then everything but the embeddings (not in the partition)."""
    parts = {"embeddings": r"embed_tokens|lm_head"}
    layers = sorted({int(m.group(1)) for n in names if (m := re.search(r"language_model\.layers\.(\d+)\.", n))})
    parts.update({f"layer{k}": rf"language_model\.layers\.{k}\." for k in layers})
    parts["vision"] = r"visual\."
    covered = [re.compile(p) for p in parts.values()]
    rest = [n for n in names if not any(c.search(n) for c in covered)]
    if rest:
        parts["rest"] = "^(" + "|".join(re.escape(n) for n in rest) + ")$"
    partition = list(parts)
    parts["all-but-embeddings"] = r"^(?!.*(embed_tokens|lm_head))"
    return parts, partition


def mix(sft: Path, trained: Path, regex: str, out: Path, load=None) -> Path:
    """A checkpoint folder ``out/final`` with ``sft``'s weights where ``regex`` does not match a parameter's name
    and ``trained``'s where it does (the processor and config are ``sft``'s); reused while newer than both.
    ``load(path)`` reads a weights file (default: safetensors' ``load_file``; a cached one shares the reads
    between parts); its tensors are not changed."""
    from safetensors.torch import load_file, save_file

    load = load or load_file

    final = out / "final"
    weights = final / "model.safetensors"
    newest = max((p / "model.safetensors").stat().st_mtime_ns for p in (sft, trained))
    if weights.is_file() and weights.stat().st_mtime_ns > newest:
        return final
    base, moved = load(str(sft / "model.safetensors")), load(str(trained / "model.safetensors"))
    if set(base) != set(moved):
        raise SystemExit(f"{trained} and {sft} hold different parameters: not the same model")
    pattern = re.compile(regex)
    chosen = {name for name in base if pattern.search(name)}
    if not chosen:
        raise SystemExit(f"the part {regex!r} matches no parameter of {sft}")
    if final.exists():
        shutil.rmtree(final)
    shutil.copytree(sft, final)
    save_file({k: (moved[k] if k in chosen else base[k]).contiguous() for k in base}, str(weights),
              metadata={"format": "pt"})
    return final


def trained_checkpoint(folder: Path, label: str) -> Path:
    from rl_screen import checkpoint_of

    path = checkpoint_of(folder, label)
    if not (path / "config.json").is_file():
        raise SystemExit(f"{path} does not exist: train it with benchmarks/rl_screen.py first")
    return path


def parts_of(folders: list[Path], labels: list[str], split: str, custom: dict[str, str] | None = None) -> list[dict]:
    """Mix, answer (reusing kept accuracies) and pair with SFT; one result per folder:
    ``{"folder", "split", "partition", "rows": {label: {part: {"acc", "diff", "se", "low", "high"}}}}``."""
    from quickstart_check import made_split, versus_sft
    from rich.progress import MofNCompleteColumn, Progress
    from rl_screen import kept_or_answered
    from safetensors.torch import load_file

    from onethinker.data import read_records
    from onethinker.quickstart import Helper

    tests = {folder: made_split(folder, split) for folder in folders}
    trained = {(folder, label): trained_checkpoint(folder, label) for folder in folders for label in labels}
    results = []
    with Helper(1, workers=2) as helper, Progress(*Progress.get_default_columns(), MofNCompleteColumn()) as bar:
        for folder in folders:
            sft = folder / "sft" / "final"
            if custom:
                parts, partition = dict(custom), []
            else:
                parts, partition = default_parts(parameter_names(sft))
            load = functools.cache(load_file)  # each checkpoint's weights read once, not once per part
            models = [("sft", sft)]
            for label in labels:
                models.append((label, trained[folder, label]))
                models += [(f"{label}@{part}", mix(sft, trained[folder, label], regex,
                                                   folder / "parts" / f"{label}@{part}", load))
                           for part, regex in parts.items()]
            records = [r for _, r in read_records(tests[folder])]
            accuracy = kept_or_answered(helper, bar, folder, split, models, tests[folder], records)
            tasks = [r.key for r in records]
            rows = {}
            for label in labels:
                rows[label] = {}
                for part in [WHOLE, *parts]:
                    key = label if part == WHOLE else f"{label}@{part}"
                    overall, _ = versus_sft(tasks, accuracy[key], accuracy["sft"])
                    rows[label][part] = {"acc": overall.first, "diff": overall.diff, "se": overall.se,
                                         "low": overall.low, "high": overall.high}
            results.append({"folder": str(folder), "split": split, "partition": partition, "rows": rows})
    return results


def print_parts(results: list[dict]) -> None:
    columns = [(r, label) for r in results for label in r["rows"]]
    parts = list(results[0]["rows"][next(iter(results[0]["rows"]))])
    print(f"\n## Accuracy minus SFT's (split `{results[0]['split']}`, paired 95% CI): the SFT weights plus one "
          "part of a checkpoint's move\n")
    print("| part | " + " | ".join(f"{label}, {Path(r['folder']).name}" for r, label in columns) + " |")
    print("| --- | " + " | ".join("---:" for _ in columns) + " |")
    for part in parts:
        cells = [r["rows"][label][part] for r, label in columns]
        print(f"| {part} | " + " | ".join(f"{c['diff']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}]" for c in cells)
              + " |")
    if all(r["partition"] for r in results):
        sums = [sum(r["rows"][label][p]["diff"] for p in r["partition"]) for r, label in columns]
        print("| sum of the partition's parts | " + " | ".join(f"{s:+.3f}" for s in sums) + " |")


def parse_parts(items: list[list[str]] | None) -> dict[str, str] | None:
    parts: dict[str, str] = {}
    for name, regex in items or []:
        if name in parts or name == WHOLE or not name.replace("-", "").replace("_", "").isalnum():
            raise SystemExit(f"--part {name}: repeated, reserved or not letters, digits, '-' and '_'")
        try:
            re.compile(regex)
        except re.error as exc:
            raise SystemExit(f"--part {name}: {regex!r} is not a regular expression ({exc})") from exc
        parts[name] = regex
    return parts or None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--of", nargs="+", default=["rl"], metavar="LABEL",
                        help="trained checkpoints: rl (the quickstart's) or an rl_screen.py label (control, ...)")
    parser.add_argument("--part", nargs=2, action="append", metavar=("NAME", "REGEX"),
                        help="a part of the model by parameter names (repeatable; default: a partition by layer)")
    parser.add_argument("--split", default="check")
    args = parser.parse_args(argv)
    custom = parse_parts(args.part)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from onethinker.train.common import quiet_transformers

    quiet_transformers()
    results = parts_of(args.folders, args.of, args.split, custom)
    from rl_screen import save_results

    save_results(results, "rl_parts")
    print_parts(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
