"""Corpus validation throughput (records per second), without decoding media.

Writes a corpus of N records in the released format (all twelve task keys, distinct random answers so no
parser cache helps; media paths point at a handful of real files) as JSONL and as a JSON list, then times
``validate_file``, each run in a fresh interpreter so no parser cache carries over, in two modes: schema and
answers only (``check_files=False``) and the default, which also checks that media and mask files exist.
Prints a table (best and median of ``--repeats`` runs).

    python benchmarks/validate_throughput.py            # 200,000 records
    python benchmarks/validate_throughput.py --n 600000 # the size of the released RL corpus
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def _box(rng: random.Random) -> list[int]:
    x1, y1 = rng.randint(0, 800), rng.randint(0, 800)
    return [x1, y1, x1 + rng.randint(10, 199), y1 + rng.randint(10, 199)]


def _record(i: int, rng: random.Random) -> dict:
    kind = i % 12
    image = {"data_type": "image", "images": [f"media/img{i % 4}.png"]}
    video = {"data_type": "video", "videos": [f"media/vid{i % 4}.mp4"]}
    points = lambda: [[rng.randint(0, 1000), rng.randint(0, 1000)] for _ in range(3)]  # noqa: E731
    if kind == 0:
        answer = "ABCD"[rng.randint(0, 3)]
        return {"problem_type": "multiple choice", "problem": f"<image>Which colour is object {i}?",
                "options": ["A. red", "B. green", "C. blue", "D. yellow"], "answer": answer, **image}
    if kind == 1:
        return {"problem_type": "numerical", "problem": f"How many cars ({i})?", "answer": str(rng.randint(0, 99)), **video}
    if kind == 2:
        return {"problem_type": "regression", "problem": f"Distance {i}?", "answer": f"{rng.uniform(0, 20):.2f}", **video}
    if kind == 3:
        return {"problem_type": "OCR", "problem": "Read the sign.", "answer": f"EXIT {i}", **image}
    if kind == 4:
        return {"problem_type": "math", "problem": "Solve for x.", "answer": f"$\\frac{{{i}}}{{7}}$", **image}
    if kind == 5:
        return {"problem_type": "open-ended", "problem": "Describe the scene.",
                "answer": f"A person walks a dog past shop number {i}.", **video}
    if kind == 6:
        start = round(rng.uniform(0, 50), 1)
        return {"problem_type": "temporal grounding", "problem": f"When does event {i} happen?",
                "answer": json.dumps({"time": [start, round(start + rng.uniform(1, 9), 1)]}), **video}
    if kind == 7:
        return {"problem_type": "spatial grounding", "problem": f"Find object {i}.",
                "answer": json.dumps({"boxes": _box(rng)}), **image}
    if kind == 8:
        start = rng.randint(0, 20)
        boxes = {str(s): _box(rng) for s in range(start + 1, start + 4)}
        return {"problem_type": "spatial-temporal grounding", "problem": f"Where and when is {i}?",
                "answer": json.dumps({"time": [start + 0.5, start + 3.5], "boxes": boxes}), **video}
    if kind == 9:
        boxes = {str(s): _box(rng) for s in range(1, 9)}
        return {"problem_type": "tracking", "problem": f"Track {i}.", "answer": json.dumps({"boxes": boxes}), **video}
    answer = {"boxes": _box(rng), "positive_points": points(), "negative_points": points()}
    if kind == 10:
        return {"problem_type": "segmentation", "problem": f"Segment {i}.", "answer": json.dumps(answer),
                "mask": f"media/mask{i % 4}.png", **image}
    answer["time"] = round(rng.uniform(0, 10), 1)
    return {"problem_type": "segmentation", "problem": f"Segment {i}.", "answer": json.dumps(answer),
            "masks": [f"media/mask{i % 4}.png"], "mask_times": [0.0], **video}


def write_corpus(folder: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    rng = random.Random(seed)
    (folder / "media").mkdir(parents=True, exist_ok=True)
    for i in range(4):
        for name in (f"img{i}.png", f"vid{i}.mp4", f"mask{i}.png"):
            (folder / "media" / name).write_bytes(b"")
    jsonl, jlist = folder / "corpus.jsonl", folder / "corpus.json"
    with open(jsonl, "w") as a, open(jlist, "w") as b:
        b.write("[\n")
        for i in range(n):
            record = _record(i, rng)
            record["problem_id"] = f"bench-{i}"
            line = json.dumps(record)
            a.write(line + "\n")
            b.write(("  " if i == 0 else ", ") + line + "\n")
        b.write("]\n")
    return jsonl, jlist


_WORKER = """
import json, sys, time
from onethinker.data.validate import validate_file
from onethinker.tasks import get_task
get_task("math")  # load the registry before timing
start = time.perf_counter()
report = validate_file(sys.argv[1], check_files=sys.argv[2] == "1")
print(json.dumps({"seconds": time.perf_counter() - start, "records": report.records, "problems": report.problems}))
"""


def time_in_fresh_process(path: Path, check_files: bool) -> dict:
    """One timed validation in a new interpreter, so no parser cache survives from an earlier run."""
    out = subprocess.run([sys.executable, "-c", _WORKER, str(path), "1" if check_files else "0"],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        jsonl, jlist = write_corpus(Path(tmp), args.n)
        rows = []
        for label, path in (("JSONL", jsonl), ("JSON list", jlist)):
            for mode, check_files in (("schema+answers", False), ("+file existence", True)):
                runs = [time_in_fresh_process(path, check_files) for _ in range(args.repeats)]
                best = min(r["seconds"] for r in runs)
                median = statistics.median(r["seconds"] for r in runs)
                records = runs[-1]["records"]
                rows.append((label, mode, records, best, median, records / best, runs[-1]["problems"]))
    print(f"{'format':<10} {'checks':<17} {'records':>9} {'best s':>7} {'median s':>8} {'records/s':>10} "
          f"{'problems':>8}")
    for label, mode, records, best, median, rate, problems in rows:
        print(f"{label:<10} {mode:<17} {records:>9} {best:>7.2f} {median:>8.2f} {rate:>10,.0f} {problems:>8}")


if __name__ == "__main__":
    main()
