#!/usr/bin/env python
"""RL with TRL's GRPOTrainer and OneThinker's EMA-GRPO, rewards and data (images only).

    pip install 'onethinker[trl]'
    # CPU smoke run: builds a tiny Qwen3-VL and a synthetic image corpus under --out
    python examples/trl/train_ema_grpo.py --tiny --out runs/trl_tiny --steps 4
    # your model and corpus (an OneThinker RL corpus: JSON, JSONL or parquet, image records)
    python examples/trl/train_ema_grpo.py --model PATH --data train.jsonl --media-root DIR --out runs/trl
    # continue from the last checkpoint (model, optimizer, RNG and the EMA-GRPO statistics)
    python examples/trl/train_ema_grpo.py ... --resume

Several processes (``accelerate launch`` or ``torchrun``): TRL gathers the rewards of all processes and every
process computes the same EMA-GRPO statistics over them (tests/integrations/test_trl.py runs the trainer in two
CPU processes under torchrun; this script itself was run in one process only).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def tiny_setup(out: Path) -> tuple[Path, list[Path]]:
    """A tiny random Qwen3-VL and two small synthetic image corpora (multiple choice and numerical)."""
    from onethinker.data.synth import synthesize
    from onethinker.models.tiny import build_tiny

    model = out / "tiny_model"
    if not (model / "config.json").exists():
        build_tiny(model, seed=0)
    corpora = [synthesize(out / f"corpus_{seed}", 2, seed) / "data.jsonl" for seed in range(4)]
    return model, corpora


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model folder or hub id (Qwen3-VL, Qwen2.5-VL)")
    ap.add_argument("--data", nargs="+", type=Path, help="RL corpus file(s), image records")
    ap.add_argument("--media-root", type=Path, help="folder the media paths are relative to (default: each file's)")
    ap.add_argument("--out", type=Path, required=True, help="output folder (checkpoints under it)")
    ap.add_argument("--tiny", action="store_true", help="build a tiny model and a synthetic corpus (CPU)")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--prompts", type=int, default=2, help="prompts per device per step")
    ap.add_argument("--num-generations", type=int, default=8, help="rollouts per prompt (the group)")
    ap.add_argument("--max-completion-length", type=int, default=4096)
    ap.add_argument("--lr", type=float, default=2e-6)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--save-steps", type=int, default=50)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--resume", action="store_true", help="continue from the last checkpoint under --out")
    args = ap.parse_args()

    import datasets
    from transformers import AutoProcessor, GenerationConfig

    from onethinker.integrations.trl import (EMAGRPOConfig, EMAGRPOTrainer, accuracy_reward, format_reward,
                                             structure_reward, trl_dataset)

    generation_kwargs = {}
    if args.tiny:
        model, corpora = tiny_setup(args.out)
        # a random model samples vision placeholders unless banned (TRL bans only the image token by default)
        generation_kwargs["suppress_tokens"] = GenerationConfig.from_pretrained(model).suppress_tokens
    elif args.model and args.data:
        model, corpora = args.model, args.data
    else:
        ap.error("give --model and --data, or --tiny")
    dataset = datasets.concatenate_datasets([trl_dataset(c, args.media_root) for c in corpora])

    config = EMAGRPOConfig(
        output_dir=str(args.out / "checkpoints"),
        max_steps=args.steps,
        per_device_train_batch_size=args.prompts * args.num_generations,
        num_generations=args.num_generations,
        max_completion_length=args.max_completion_length,
        temperature=args.temperature,
        learning_rate=args.lr,
        beta=0.0,  # the published run sets disable_kl: no reference model
        # OneThinker's overall reward = 0.9 accuracy + 0.1 format + structure; TRL logs each part.
        reward_weights=[0.9, 0.1, 1.0],
        save_steps=args.save_steps,
        logging_steps=1,
        bf16=args.bf16,
        use_cpu=args.tiny,
        report_to="none",
        generation_kwargs=generation_kwargs or None,
    )
    trainer = EMAGRPOTrainer(
        model=str(model),
        processing_class=AutoProcessor.from_pretrained(model),
        reward_funcs=[accuracy_reward, format_reward, structure_reward],
        args=config,
        train_dataset=dataset,
    )
    trainer.train(resume_from_checkpoint=True if args.resume else None)
    print(json.dumps({"step": trainer.state.global_step, "ema": trainer.ema_tracker.summary()}, indent=2))


if __name__ == "__main__":
    main()
