"""Our decoding loop (``onethinker.models.generate.decode_ids``) beside Hugging Face ``generate``, on a trained
quickstart checkpoint.

    python benchmarks/decode_speed.py runs/qs0 [--batches 8] [--eval-records 24] [--threads 1]

Two workloads, each timed with both decoders on the same prompts in one process:

* **rollouts**: ``--batches`` batches like one RL process's share of a quickstart step: 6 prompts of 6 tasks
  drawn at random from the run's held-out split, 4 samples each at the run's rollout temperature, up to its
  ``max_new_tokens``. Both decoders draw from the same seeded generator, but they consume it differently, so
  their samples differ; the script prints the mean answer length of each, which should agree within noise.
* **evaluation**: greedy answers to ``--eval-records`` records of every task, one batch per task, as the
  quickstart's evaluation batches them. The script checks that both decoders give the same tokens.

A trained checkpoint matters: a random model's answers all run to the length cap, so neither of the loop's
savings (a prompt encoded once for its samples, finished rows leaving the batch) would show.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a quickstart folder (its rl/final checkpoint is used)")
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--eval-records", type=int, default=24)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    from onethinker.data import read_records
    from onethinker.models import generate as gen
    from onethinker.models import load_model
    from onethinker.models.encode import collate_prompts, prepare_prompt
    from onethinker.quickstart import QuickstartPlan
    from onethinker.train.common import media_settings, quiet_transformers
    from onethinker.train.config import DataConfig, RLConfig, load_config

    torch.set_num_threads(args.threads)
    quiet_transformers()
    model_dir = args.run / "rl" / "final"
    if not model_dir.is_dir():
        raise SystemExit(f"{model_dir}: no RL checkpoint; run `onethinker quickstart --out {args.run}` first")
    rl = load_config(RLConfig, args.run / "configs" / "rl.yaml", [])
    model, processor = load_model(model_dir, device="cpu", trainable=False)
    model.eval()
    data = args.run / "data" / QuickstartPlan(out=args.run).eval_split
    media = media_settings(DataConfig(**QuickstartPlan(out=args.run).media))
    by_task: dict[str, list] = {}
    for _, record in read_records(data / "data.jsonl"):
        by_task.setdefault(record.key, []).append(record)

    def both(batch, config, seed):
        """(seconds, ids) for generate, then for our loop, from the same seed."""
        out = []
        for ours in (False, True):
            torch.manual_seed(seed)
            t0 = time.perf_counter()
            ids = (gen.decode_ids if ours else gen.hf_generate_ids)(model, batch, config)
            out.append((time.perf_counter() - t0, ids))
        return out

    r = rl.rollout
    sample = gen.generation_config(model, processor, max_new_tokens=r.max_new_tokens, temperature=r.temperature,
                                   top_p=r.top_p, num_return_sequences=r.n)
    rng = random.Random(args.seed)
    totals = {"generate": 0.0, "ours": 0.0}
    lengths = {"generate": [], "ours": []}
    for b in range(args.batches):
        records = [rng.choice(by_task[k]) for k in rng.sample(sorted(by_task), 6)]
        batch = collate_prompts(processor, [prepare_prompt(processor, x, data, media=media) for x in records])
        for name, (seconds, ids) in zip(("generate", "ours"), both(batch, sample, args.seed + b), strict=True):
            totals[name] += seconds
            lengths[name] += [len(i) for i in ids]
    print(f"rollouts: {args.batches} batches of 6 prompts x {r.n} samples (temperature {r.temperature}, "
          f"{args.threads} thread(s))")
    for name, seconds in totals.items():
        print(f"  {name:>8}: {seconds:7.2f} s, mean answer {sum(lengths[name]) / len(lengths[name]):5.1f} tokens")
    print(f"  speed-up: {totals['generate'] / totals['ours']:.2f}x")

    greedy = gen.generation_config(model, processor, max_new_tokens=r.max_new_tokens)
    totals = {"generate": 0.0, "ours": 0.0}
    same = count = 0
    for key in sorted(by_task):
        records = by_task[key][: args.eval_records]
        batch = collate_prompts(processor, [prepare_prompt(processor, x, data, media=media) for x in records])
        (t_gen, ids_gen), (t_ours, ids_ours) = both(batch, greedy, args.seed)
        totals["generate"] += t_gen
        totals["ours"] += t_ours
        same += sum(a == b for a, b in zip(ids_gen, ids_ours, strict=True))
        count += len(records)
    print(f"evaluation: {count} records, greedy, one batch per task")
    for name, seconds in totals.items():
        print(f"  {name:>8}: {seconds:7.2f} s")
    print(f"  speed-up: {totals['generate'] / totals['ours']:.2f}x; identical answers: {same} of {count}")


if __name__ == "__main__":
    main()
