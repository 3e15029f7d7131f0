"""One rank of a two-process CPU (gloo) EMAGRPOTrainer run, started by torchrun from test_trl.py.

Usage: torchrun --nproc_per_node 2 trl_two_ranks.py MODEL_DIR OUT_DIR CORPUS.jsonl [CORPUS.jsonl ...]
Each rank writes OUT_DIR/rank{R}.json: its local rows' problem ids and task columns, TRL's gathered rewards
and the advantages it trained on, per generation batch, and its tracker's final state.
"""

from __future__ import annotations

import json
import os
import sys

import torch

torch.set_num_threads(1)


def main() -> None:
    import datasets
    from transformers import AutoProcessor, GenerationConfig

    from onethinker.integrations.trl import EMAGRPOConfig, EMAGRPOTrainer, overall_reward, trl_dataset

    model_dir, out_dir, *corpora = sys.argv[1:]
    dataset = datasets.concatenate_datasets([trl_dataset(c) for c in corpora])

    def distinct_chars(completions, **_):
        return [len(set(c[0]["content"])) / 8 for c in completions]

    # 3 rollouts per rank, groups of 2: the middle prompt's group spans both ranks.
    args = EMAGRPOConfig(
        output_dir=os.path.join(out_dir, "run"), per_device_train_batch_size=3, num_generations=2,
        max_completion_length=6, learning_rate=1e-4, use_cpu=True, logging_steps=1, report_to="none", max_steps=2,
        save_strategy="no", seed=0, dataloader_num_workers=0, disable_tqdm=True, reward_weights=[1.0, 0.5],
        generation_kwargs={"suppress_tokens": GenerationConfig.from_pretrained(model_dir).suppress_tokens},
    )
    trainer = EMAGRPOTrainer(model=model_dir, processing_class=AutoProcessor.from_pretrained(model_dir),
                             reward_funcs=[overall_reward, distinct_chars], args=args, train_dataset=dataset)
    batches = []
    calculate, generate = trainer._calculate_rewards, trainer._generate_and_score_completions

    def calculate_spy(inputs, *rest):
        rewards = calculate(inputs, *rest)
        rows = [{k: row[k] for k in ("problem_id", "problem_type", "data_type")} for row in inputs]
        batches.append({"rows": rows, "rewards": rewards.tolist()})
        return rewards

    def generate_spy(inputs):
        output = generate(inputs)
        batches[-1]["advantages"] = output["advantages"].tolist()
        return output

    trainer._calculate_rewards, trainer._generate_and_score_completions = calculate_spy, generate_spy
    trainer.train()
    rank = trainer.accelerator.process_index
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w", encoding="utf-8") as f:
        json.dump({"world": trainer.accelerator.num_processes, "batches": batches,
                   "state": trainer.ema_tracker.state_dict()}, f)
    # Leave together and close the process group: a rank that exits while gloo's threads still run can abort
    # ("terminate called without an active exception") after its work is done.
    trainer.accelerator.wait_for_everyone()
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
