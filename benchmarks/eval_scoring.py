"""How fast does ``score_predictions`` score a benchmark, per metric suite?

Builds N synthetic predictions per task (random spans, boxes, tracks, tubes, RLE masks given as
``pred_mask(s)``; QA answers that are right half the time), scores each task's records as one group, and
prints records per second. Mask suites use given masks here (no segmenter in the loop); the GrabCut line
times the offline mask backend on 160x120 frames.

    python benchmarks/eval_scoring.py            # N = 2000 per task (500 for masks)
    python benchmarks/eval_scoring.py --n 500
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from onethinker.eval import GrabCutBackend, PixelPrompt, encode_rle, score_predictions


def _box(rng) -> list[float]:
    x, y = rng.uniform(0, 800, 2)
    w, h = rng.uniform(20, 200, 2)
    return [round(x, 1), round(y, 1), round(x + w, 1), round(y + h, 1)]


def _wrap(answer) -> str:
    body = json.dumps(answer) if isinstance(answer, dict) else str(answer)
    return f"<think>reasoning</think><answer>{body}</answer>"


def records_for(task: str, n: int, rng) -> list[dict]:
    rows = []
    for _ in range(n):
        right = rng.random() < 0.5
        if task == "multiple choice":
            truth, pred, extra = "B", "B" if right else "C", {"options": ["A. a", "B. b", "C. c"]}
        elif task == "numerical":
            truth, pred, extra = "3.25", "3.25" if right else "4", {}
        elif task == "regression":
            truth, pred, extra = "10", str(round(rng.uniform(5, 15), 2)), {}
        elif task == "temporal grounding":
            s = rng.uniform(0, 50)
            truth, pred, extra = {"time": [s, s + 10]}, {"time": [s + rng.uniform(-5, 5), s + 10]}, {}
        elif task == "spatial grounding":
            box = _box(rng)
            truth, pred, extra = {"boxes": box}, {"boxes": [v + rng.uniform(-20, 20) for v in box]}, {}
        elif task == "spatial-temporal grounding":
            boxes = {str(t): _box(rng) for t in range(3, 13)}
            pb = {k: [c + rng.uniform(-15, 15) for c in b] for k, b in boxes.items() if int(k) > 4}
            truth, pred, extra = {"time": [3, 12], "boxes": boxes}, {"time": [5, 14], "boxes": pb}, {}
        elif task == "tracking":
            boxes = {str(t): _box(rng) for t in range(1, 33)}
            pb = {k: [c + rng.uniform(-15, 15) for c in b] for k, b in boxes.items() if rng.random() < 0.9}
            truth, pred, extra = {"boxes": boxes}, {"boxes": pb}, {}
        elif task == "segmentation/image":
            gt = np.zeros((240, 320), bool)
            gt[60:180, 80:240] = True
            pm = np.roll(gt, int(rng.integers(-20, 20)), axis=1)
            seg = {"boxes": [250, 250, 750, 750], "positive_points": [[500, 500]] * 3,
                   "negative_points": [[10, 10]] * 3}
            truth, pred, extra = seg, seg, {"mask": encode_rle(gt), "pred_mask": encode_rle(pm)}
        elif task == "segmentation/video":
            gt = np.zeros((240, 320), bool)
            gt[60:180, 80:240] = True
            seg = {"boxes": [250, 250, 750, 750], "positive_points": [[500, 500]] * 3,
                   "negative_points": [[10, 10]] * 3, "time": 0.0}
            masks = [encode_rle(gt)] * 8
            preds = [encode_rle(np.roll(gt, int(rng.integers(-20, 20)), axis=1)) for _ in range(8)]
            truth, pred, extra = seg, seg, {"masks": masks, "pred_masks": preds}
        else:
            raise ValueError(task)
        problem_type, _, data_type = task.partition("/")
        video = task in ("temporal grounding", "spatial-temporal grounding", "tracking", "segmentation/video")
        rows.append({"problem": "q", "problem_type": problem_type,
                     "data_type": data_type or ("video" if video else "image"),
                     "answer": json.dumps(truth) if isinstance(truth, dict) else truth, "response": _wrap(pred),
                     **extra})
    return rows


TASKS = ["multiple choice", "numerical", "regression", "temporal grounding", "spatial grounding",
         "spatial-temporal grounding", "tracking", "segmentation/image", "segmentation/video"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="records per task (a quarter of it for masks)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    score_predictions(records_for("multiple choice", 10, rng))  # warm-up: registry and parser imports
    print(f"{'task':<28} {'records':>8} {'seconds':>8} {'records/s':>10}  headline metric")
    for task in TASKS:
        n = args.n // 4 if task.startswith("segmentation") else args.n
        rows = records_for(task, n, rng)
        start = time.perf_counter()
        result = next(iter(score_predictions(rows).values()))
        took = time.perf_counter() - start
        name, value = next(iter(result.items()))
        print(f"{task:<28} {n:>8} {took:>8.3f} {n / took:>10.0f}  {name} = {value:.1f}")
    image = np.full((120, 160, 3), (40, 120, 200), np.uint8)
    image[30:90, 50:110] = (230, 60, 40)
    prompt = PixelPrompt.from_relative([300, 230, 700, 770], [[500, 500]] * 3, [[10, 10]] * 3, 160, 120)
    backend = GrabCutBackend()
    start = time.perf_counter()
    for _ in range(50):
        backend.segment_image(image, prompt)
    took = (time.perf_counter() - start) / 50
    print(f"{'GrabCut mask (160x120)':<28} {50:>8} {took * 50:>8.3f} {1 / took:>10.0f}  masks/s")


if __name__ == "__main__":
    main()
