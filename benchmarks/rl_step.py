"""Seconds per RL step and rollouts per second of our trainer on the tiny model, beside TRL's GRPOTrainer.

Workload = the TRL anchor's (``../shared/bench/trl_grpo_anchor.py``): the 453,312-parameter tiny Qwen3-VL
(random init, built offline), 64 synthetic 112x112 colour images asking "What colour is the square?",
2 prompts x 4 generations = 8 completions per step, 64 new tokens, lr 1e-5, fp32, CPU, no KL (beta 0),
no online filtering, one update per step. Our prompt is longer than the anchor's (it carries the published
task instruction), so the comparison is conservative for us.

A second row runs the shapes-world mix (image and video tasks, all twelve task keys) with the same sizes,
to show the per-task metrics and video rollouts cost on top.

    python benchmarks/rl_step.py                       # ours only
    python benchmarks/rl_step.py --anchor ../shared/bench/trl_grpo_anchor.py   # + TRL in the same session

Steps 1-2 are warm-up; the table reports the median of steps 3..N (like the anchor).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (30, 60, 220), "yellow": (240, 220, 30),
           "black": (10, 10, 10), "white": (245, 245, 245), "orange": (245, 140, 20), "purple": (140, 40, 170)}


def colour_corpus(root: Path, n: int = 64, seed: int = 0) -> Path:
    """The anchor's 64 images (solid or two-colour, 112x112) as open-ended records in our format."""
    from PIL import Image

    rng = random.Random(seed)
    (root / "img").mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        fg = rng.choice(list(COLOURS))
        img = Image.new("RGB", (112, 112), COLOURS[fg])
        if i % 2:
            bg = rng.choice([c for c in COLOURS if c != fg])
            img = Image.new("RGB", (112, 112), COLOURS[bg])
            s = rng.randint(40, 80)
            img.paste(Image.new("RGB", (s, s), COLOURS[fg]), (rng.randint(0, 112 - s), rng.randint(0, 112 - s)))
        img.save(root / "img" / f"{i}.png")
        lines.append(json.dumps({"problem": "<image>What colour is the square?", "problem_type": "open-ended",
                                 "data_type": "image", "answer": fg, "images": [f"img/{i}.png"],
                                 "problem_id": str(i)}))
    path = root / "colours.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_ours(model_dir: Path, train_file: Path, steps: int, threads: int, name: str) -> dict:
    import torch

    from onethinker.train.config import RLConfig, load_config
    from onethinker.train.rl import RLTrainer

    torch.set_num_threads(threads)
    cfg = load_config(RLConfig, None, [
        f"model.path={model_dir}", f"data.train_file={train_file}", "model.device=cpu", "model.dtype=float32",
        "data.image_max_pixels=65536", "data.video_max_pixels=4096", "data.video_max_frames=8",
        f"trainer.output_dir={train_file.parent / ('run-' + name)}", f"trainer.max_steps={steps}",
        "rollout.prompts_per_step=2", "rollout.n=4", "rollout.max_new_tokens=64", "rollout.online_filtering=false",
        "algorithm.kl_coef=0", "algorithm.mini_batch_prompts=2", "algorithm.micro_batch_size=8",
        "optim.lr=1e-5", "optim.scheduler=constant", "trainer.tensorboard=false", "trainer.save_every=0",
    ])
    trainer = RLTrainer(cfg)
    rows = []
    for _ in range(steps):
        t0 = time.perf_counter()
        m = trainer.train_step()
        m["wall"] = time.perf_counter() - t0
        trainer.step += 1
        rows.append(m)
    steady = rows[2:] if len(rows) > 3 else rows

    def med(key: str) -> float:
        return statistics.median(r.get(key, 0.0) for r in steady)

    sec = med("wall")
    return {
        "name": name, "sec_per_step": sec, "rollouts_per_s": 8 / sec,
        "generate": med("time/generate"), "logprobs": med("time/old_logprob") + med("time/ref_logprob"),
        "update": med("time/update"), "reward": med("time/reward"),
        "length": statistics.mean(r["response_length"] for r in rows),
        "tasks": len({k.split("/", 2)[2] for r in rows for k in r if k.startswith("reward/overall/")}),
    }


def run_anchor(script: str, steps: int, threads: int) -> dict:
    out = subprocess.run([sys.executable, script, "--steps", str(steps), "--threads", str(threads)],
                         capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    b = res.get("breakdown_median_s", {})
    return {"name": f"TRL {res['trl']} GRPOTrainer (anchor)", "sec_per_step": res["sec_per_step"],
            "rollouts_per_s": res["rollouts_per_s"], "generate": b.get("_prepare_inputs", float("nan")),
            "logprobs": float("nan"), "update": b.get("compute_loss", 0) + b.get("backward_optimizer_other", 0),
            "reward": float("nan"), "length": res.get("mean_completion_len") or float("nan"), "tasks": 1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--anchor", default=None, help="path to trl_grpo_anchor.py to run in the same session")
    ap.add_argument("--no-mix", action="store_true", help="skip the shapes-world image+video row")
    args = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from onethinker.models.tiny import build_tiny

    rows = []
    with tempfile.TemporaryDirectory(prefix="rl_step_") as tmp:
        root = Path(tmp)
        model_dir = build_tiny(root / "model", seed=0)
        rows.append(run_ours(model_dir, colour_corpus(root / "colours"), args.steps, args.threads,
                             "onethinker RL (anchor workload)"))
        if not args.no_mix:
            from onethinker.data.synth import synthesize

            mix = synthesize(root / "mix", 48, 0) / "data.jsonl"
            rows.append(run_ours(model_dir, mix, args.steps, args.threads, "onethinker RL (12 tasks, image+video)"))
        if args.anchor:
            rows.append(run_anchor(args.anchor, args.steps, args.threads))

    print(f"\nRL step on CPU ({args.threads} threads), 2 prompts x 4 rollouts, 64 new tokens, median of steps 3..N")
    head = f"| {'trainer':40} | s/step | rollouts/s | generate | log-probs | update | reward | mean len | tasks |"
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    for r in rows:
        print(f"| {r['name']:40} | {r['sec_per_step']:6.3f} | {r['rollouts_per_s']:10.1f} | {r['generate']:8.3f} | "
              f"{r['logprobs']:9.3f} | {r['update']:6.3f} | {r['reward']:6.3f} | {r['length']:8.1f} | "
              f"{r['tasks']:5d} |")
    if args.anchor:
        ours, trl = rows[0], rows[-1]
        print(f"\nthroughput ratio ours / TRL (anchor workload): {ours['rollouts_per_s'] / trl['rollouts_per_s']:.2f}x")
    print("TRL's generate column is its whole _prepare_inputs (generation + reward + processor); its update column"
          " is compute_loss + backward + optimizer.")


if __name__ == "__main__":
    main()
