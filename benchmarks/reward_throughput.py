"""Reward throughput and parity on the 4096-item reward batch.

    python benchmarks/reward_throughput.py [--data PATH] [--repeats 5] [--published PATH/TO/onethinker_reward.py]

Prints items/s per task and overall (one process, one thread, every cache cleared before each timed run,
the median of the repeats), whether results are identical run to run, parity with the published scores
stored in the file, and the classes of every disagreement. With ``--published`` it also runs the published
``compute_score`` on the same batch in this process (it needs ``mathruler``; ``verl`` is stubbed) and prints
the speed ratio. The published code is only loaded from the path given, never copied.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import resource
import statistics
import sys
import time
import types
from collections import Counter, defaultdict
from pathlib import Path

from onethinker.rewards import clear_caches, score_batch
from onethinker.rewards.published import difference_class
from onethinker.tasks import UnknownTaskError, task_key

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "reward_bench_4096.jsonl"


def _timed(items: list[dict], repeats: int) -> tuple[float, float, list[list[dict]]]:
    """(median wall seconds, median CPU seconds of this process, outputs) over ``repeats`` cold-cache runs."""
    wall, cpu, outputs = [], [], []
    for _ in range(repeats):
        clear_caches()
        start, start_cpu = time.perf_counter(), time.process_time()
        outputs.append(score_batch(items))
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu), outputs


def _load_published(path: Path):
    for name in ("verl", "verl.workers", "verl.workers.reward", "verl.workers.reward.model_reward"):
        if name not in sys.modules:
            module = types.ModuleType(name)
            module.__path__ = []
            sys.modules[name] = module
    sys.modules["verl.workers.reward.model_reward"].RewardModelClient = object
    spec = importlib.util.spec_from_file_location("published_onethinker_reward", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--published", type=Path, default=None, help="path to the published onethinker_reward.py")
    args = parser.parse_args()

    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    n = len(rows)

    # First call in this fresh process: includes lazy imports (sympy, math-verify) and cold caches.
    start = time.perf_counter()
    first = score_batch(rows)
    first_call = time.perf_counter() - start

    median, median_cpu, outputs = _timed(rows, args.repeats)
    identical = all(out == first for out in outputs)

    by_task: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        try:
            by_task[task_key(row["problem_type"], row.get("data_type"))].append(row)
        except UnknownTaskError:
            by_task["(unknown)"].append(row)

    print(f"reward throughput on {args.data.name}: {n} items, median of {args.repeats} runs, caches cleared each run")
    print("(wall clock, and this process's CPU time: on a shared machine the CPU column is the steadier one)")
    print(f"{'task':28s} {'items':>6s} {'wall ms':>8s} {'items/s':>10s} {'cpu ms':>8s} {'items/s':>10s}")
    for key in sorted(by_task, key=lambda k: -len(by_task[k])):
        wall, cpu, _ = _timed(by_task[key], args.repeats)
        k = len(by_task[key])
        print(f"{key:28s} {k:6d} {wall * 1000:8.1f} {k / wall:10.0f} {cpu * 1000:8.1f} {k / max(cpu, 1e-9):10.0f}")
    print(f"{'overall':28s} {n:6d} {median * 1000:8.1f} {n / median:10.0f} {median_cpu * 1000:8.1f} "
          f"{n / max(median_cpu, 1e-9):10.0f}")
    print(f"first call in a fresh process (imports + cold caches): {first_call:.2f} s ({n / first_call:.0f} items/s)")
    print(f"identical results run to run: {'yes' if identical else 'NO'}")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")

    # Parity with the published scores stored in the file.
    considered = agree = 0
    classes: Counter[str] = Counter()
    classes_in_scope: Counter[str] = Counter()
    for row, ours in zip(rows, first):
        ref = row.get("ref")
        if not ref:
            continue
        in_scope = row.get("meta", {}).get("quality") != "malformed" and row["problem_type"] != "math"
        same = abs(ours["overall"] - ref["overall"]) <= 1e-4
        if in_scope:
            considered += 1
            agree += same
        if not same:
            cls = difference_class(row) or "UNEXPLAINED"
            classes[cls] += 1
            if in_scope:
                classes_in_scope[cls] += 1
    if considered:
        print(f"parity (|overall - ref| <= 1e-4, non-malformed, non-math): {agree}/{considered} = "
              f"{100 * agree / considered:.2f}%")
        print("disagreements by documented class (all items; in parity scope in brackets):")
        for cls, count in classes.most_common():
            print(f"  {cls:26s} {count:5d}  [{classes_in_scope.get(cls, 0)}]")

    if args.published:
        try:
            published = _load_published(args.published)
        except ImportError as err:
            print(f"published function not run: {err} (pip install mathruler)")
            return
        with contextlib.redirect_stdout(io.StringIO()):  # it prints a random 1% sample of its inputs
            published.compute_score(rows[:8])
            seconds, cpu_seconds = [], []
            for _ in range(max(1, min(args.repeats, 3))):
                start, start_cpu = time.perf_counter(), time.process_time()
                published.compute_score(rows)
                seconds.append(time.perf_counter() - start)
                cpu_seconds.append(time.process_time() - start_cpu)
        pub, pub_cpu = statistics.median(seconds), statistics.median(cpu_seconds)
        print(f"published compute_score: {pub * 1000:.0f} ms wall ({n / pub:.0f} items/s), {pub_cpu * 1000:.0f} ms CPU "
              f"({n / pub_cpu:.0f} items/s); same process, main thread")
        print(f"speed-up: {pub / median:.1f}x wall, {pub_cpu / median_cpu:.1f}x CPU")


if __name__ == "__main__":
    main()
