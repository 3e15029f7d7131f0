"""Supervised cold start: cross-entropy on the reasoning + answer tokens only.

The recipe, top to bottom (:func:`train_sft`): read the examples, load the policy, then for each step
take ``batch_size`` examples, encode ``[prompt | response]`` (images and videos through the processor),
sum the token losses over micro-batches (the prompt, media and padding carry no loss), clip, step;
every ``eval_every`` steps the held-out loss per task; every ``save_every`` steps an atomic checkpoint.
The final model goes to ``output_dir/final``.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from onethinker.train.config import SFTConfig, dump_yaml

ProgressFn = Callable[[int, int, dict[str, Any]], None]


class SFTTrainer:
    """State of one SFT run (model, optimizer, data order); :meth:`train` runs it to the end."""

    def __init__(self, cfg: SFTConfig, *, progress: ProgressFn | None = None) -> None:
        from onethinker.models.encode import MediaCache
        from onethinker.train.common import (
            EpochSampler,
            build_optimizer,
            build_scheduler,
            load_policy,
            make_runtime,
            media_root,
            media_settings,
            quiet_transformers,
            seed_everything,
        )
        from onethinker.train.sft_data import read_sft_examples

        quiet_transformers()
        self.cfg = cfg
        self.progress = progress
        self.runtime = make_runtime(cfg.model, cfg.trainer.threads)
        seed_everything(cfg.trainer.seed)
        root = media_root(cfg.data)
        self.examples = self._select(read_sft_examples(cfg.data.train_file, root))
        self.eval_examples = []
        if cfg.data.eval_file:
            eval_root = Path(cfg.data.media_root) if cfg.data.media_root else None
            self.eval_examples = self._select(read_sft_examples(cfg.data.eval_file, eval_root), limit=False)
        self.model, self.processor = load_policy(cfg.model, self.runtime)
        self.model.train()
        self.media = media_settings(cfg.data)
        self.cache = MediaCache(cfg.data.media_cache)
        tok = self.processor.tokenizer
        self.response_ids = [tok(ex.response + tok.eos_token, add_special_tokens=False)["input_ids"]
                             for ex in self.examples]
        self.eval_response_ids = [tok(ex.response + tok.eos_token, add_special_tokens=False)["input_ids"]
                                  for ex in self.eval_examples]
        t = cfg.trainer
        per_step = t.batch_size * self.runtime.world_size
        self.total_steps = t.max_steps or max(1, math.ceil(t.epochs * len(self.examples) / per_step))
        self.sampler = EpochSampler(len(self.examples), seed=t.seed)
        self.optimizer = build_optimizer(self.model, cfg.optim)
        self.scheduler = build_scheduler(self.optimizer, cfg.optim, self.total_steps)
        self.model, self.optimizer, self.scheduler = self.runtime.prepare(self.model, self.optimizer,
                                                                          self.scheduler)
        self.step = 0
        self.output_dir = Path(t.output_dir)
        self.skipped_long = 0
        self._prompt_lengths = [-1] * len(self.examples)

    def _select(self, examples, limit: bool = True):
        d = self.cfg.data
        if d.tasks is not None:
            from onethinker.tasks import task_key

            wanted = {task_key(name) for name in d.tasks}
            examples = [ex for ex in examples if ex.task in wanted]
        if limit and d.max_samples is not None:
            examples = examples[: d.max_samples]
        if not examples and limit:
            raise ValueError(f"{d.train_file}: no SFT examples left (after data.tasks / data.max_samples)")
        return examples

    # ----------------------------------------------------------------------------------------- batches
    def encode(self, examples, response_ids) -> dict:
        """``[prompt | response]`` batch with ``response_mask`` marking the tokens that carry the loss."""
        from onethinker.models.encode import append_responses, collate_prompts, prepare_messages

        prompts = [prepare_messages(self.processor, ex.messages, media=self.media, cache=self.cache)
                   for ex in examples]
        batch = collate_prompts(self.processor, prompts)
        return append_responses(batch, response_ids, self.processor.tokenizer.pad_token_id)

    def _length(self, index: int) -> int:
        """Prompt text + response tokens of a training example (vision tokens not counted)."""
        if self._prompt_lengths[index] < 0:
            text = self.processor.apply_chat_template(self.examples[index].messages, tokenize=False,
                                                      add_generation_prompt=True)
            self._prompt_lengths[index] = len(self.processor.tokenizer(text)["input_ids"])
        return self._prompt_lengths[index] + len(self.response_ids[index])

    def _fits(self, batch) -> bool:
        return batch["input_ids"].shape[1] <= self.cfg.data.max_length

    # ----------------------------------------------------------------------------------------- loop
    def train(self) -> Path:
        """Run (or resume) to ``total_steps``; returns the folder of the final model."""
        from onethinker.train.checkpoint import latest_checkpoint
        from onethinker.train.metrics import MetricsLogger

        t = self.cfg.trainer
        resume_step = None
        if t.resume:
            ckpt = latest_checkpoint(self.output_dir)
            if ckpt is not None:
                resume_step = self._restore(ckpt)
        if self.runtime.is_main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            dump_yaml(self.cfg, self.output_dir / "config.yaml")
        logger = MetricsLogger(self.output_dir, tensorboard=t.tensorboard, resume_step=resume_step,
                               enabled=self.runtime.is_main)
        try:
            while self.step < self.total_steps:
                metrics = self.train_step()
                self.step += 1
                if t.eval_every and self.step % t.eval_every == 0 and self.eval_examples:
                    metrics.update(self.evaluate())
                if self.step % t.log_every == 0 or self.step == self.total_steps:
                    logger.log(self.step, metrics)
                if t.save_every and self.step % t.save_every == 0:
                    self.save()
                if self.progress is not None:
                    self.progress(self.step, self.total_steps, metrics)
            if self.eval_examples and not (t.eval_every and self.step % t.eval_every == 0):
                logger.log(self.step, self.evaluate())
        finally:
            logger.close()
        return self.save_final()

    def _chunks(self, indices: list[int]) -> list[list[int]]:
        """One process's share of a step in micro-batches; similar lengths together waste less padding."""
        mb = self.cfg.trainer.micro_batch_size
        indices = sorted(indices, key=self._length)
        return [indices[s : s + mb] for s in range(0, len(indices), mb)]

    def train_step(self) -> dict[str, Any]:
        """One optimizer step over ``batch_size`` examples per process.

        Every process draws the same global batch and takes its share. Micro-batches longer than
        ``data.max_length`` are skipped; the rest accumulate gradients locally, and exactly one backward
        per process (its last) synchronises them. A process that skipped more than another, or everything,
        fills up with zero-weight passes, so no process ever waits for a pass that never comes. Each micro-batch's loss is weighted by its share of the global
        batch's response tokens (times the process count, which DDP's gradient average divides out), so
        the update equals a one-process step over the same global batch.
        """
        from onethinker.train.forward import sft_loss

        t0 = time.perf_counter()
        t = self.cfg.trainer
        rank, world = self.runtime.rank, self.runtime.world_size
        global_batch = self.sampler.take(t.batch_size * world)
        total_tokens = sum(len(self.response_ids[i]) for i in global_batch)
        chunks = self._chunks(global_batch[rank::world])
        batches = [self.encode([self.examples[i] for i in c], [self.response_ids[i] for i in c]) for c in chunks]
        fits = [self._fits(b) for b in batches]
        work = [(c, b, 1.0) for c, b, ok in zip(chunks, batches, fits) if ok]
        if world > 1:
            # Every process runs as many passes as the one with the most micro-batches that fit: repeats at
            # zero weight fill the gap (one of its own, or one that fits on another process when none of its
            # own does; every process knows every share of the global batch). Wrappers that communicate in
            # the forward or backward (DDP's last backward, FSDP, ZeRO-3) then never wait for a missing pass.
            all_fits = self.runtime.gather_objects(fits)
            count = max(sum(f) for f in all_fits)
            if count > len(work):
                if work:
                    filler = work[0][:2]
                else:
                    r, j = next((r, j) for r in range(world) for j, ok in enumerate(all_fits[r]) if ok)
                    c = self._chunks(global_batch[r::world])[j]
                    filler = (c, self.encode([self.examples[i] for i in c], [self.response_ids[i] for i in c]))
                work += [(*filler, 0.0)] * (count - len(work))
        loss_sum, tokens, examples = 0.0, 0, 0
        for j, (chunk, batch, weight) in enumerate(work):
            with self.runtime.no_sync(self.model, skip=j < len(work) - 1):
                loss, n = sft_loss(self.model, batch)
                self.runtime.backward(loss * (weight * n * world / max(total_tokens, 1)))
            if weight:
                loss_sum += float(loss.detach()) * n
                tokens += n
                examples += len(chunk)
        skipped = sum(len(c) for c, ok in zip(chunks, fits) if not ok)
        loss_sum, tokens, examples, skipped = self.runtime.sum_across([loss_sum, tokens, examples, skipped])
        self.skipped_long += int(skipped)
        grad_norm = self.runtime.clip_gradients(self.model, self.cfg.optim.max_grad_norm)
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return {"loss": loss_sum / max(tokens, 1), "lr": lr, "grad_norm": grad_norm, "tokens": int(tokens),
                "examples": int(examples), "skipped_too_long": self.skipped_long,
                "time/step": time.perf_counter() - t0}

    def evaluate(self) -> dict[str, float]:
        """Held-out loss: mean over response tokens, overall and per task (``eval/loss/<task>``)."""
        import torch

        from onethinker.train.forward import response_logits

        t = self.cfg.trainer
        self.model.eval()
        sums: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        n_batches = 0
        with torch.no_grad():
            for start in range(0, len(self.eval_examples), t.micro_batch_size):
                if t.eval_batches and n_batches >= t.eval_batches:
                    break
                chunk = list(range(start, min(start + t.micro_batch_size, len(self.eval_examples))))
                batch = self.encode([self.eval_examples[i] for i in chunk],
                                    [self.eval_response_ids[i] for i in chunk])
                logits = response_logits(self.model, batch)
                mask = batch["response_mask"].to(logits.device).float()
                targets = batch["input_ids"][:, -mask.shape[1]:].to(logits.device)
                ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
                per_row = (ce * mask).sum(1)
                for row, i in enumerate(chunk):
                    task = self.eval_examples[i].task or "all"
                    for key in ("all", task):
                        sums[key] += float(per_row[row])
                        counts[key] += int(mask[row].sum())
                n_batches += 1
        self.model.train()
        out = {"eval/loss": sums["all"] / max(counts["all"], 1)}
        for key in sorted(k for k in sums if k != "all"):
            out[f"eval/loss/{key}"] = sums[key] / max(counts[key], 1)
        return out

    # ----------------------------------------------------------------------------------------- state
    def save(self) -> Path | None:
        from onethinker.train.checkpoint import save_checkpoint

        self.runtime.wait()
        weights = self.runtime.model_state(self.model)  # every process: FSDP gathers the shards
        path = None
        if self.runtime.is_main:  # every process holds the same data order; rank 0 writes it
            path = save_checkpoint(
                self.output_dir, self.step, model=self.runtime.unwrap(self.model), processor=self.processor,
                optimizer=self.optimizer, scheduler=self.scheduler, model_state=weights,
                state={"sampler": self.sampler.state_dict(), "skipped_too_long": self.skipped_long},
                keep=self.cfg.trainer.keep_checkpoints,
            )
        self.runtime.wait()  # nobody resumes or moves on before the checkpoint is complete
        return path

    def _restore(self, path: Path) -> int:
        from onethinker.train.checkpoint import load_checkpoint

        state = load_checkpoint(path, model=self.runtime.unwrap(self.model), optimizer=self.optimizer,
                                scheduler=self.scheduler)
        self.step = int(state["step"])
        self.sampler.load_state_dict(state["sampler"])
        self.skipped_long = int(state.get("skipped_too_long", 0))
        return self.step

    def save_final(self) -> Path:
        from onethinker.train.common import save_final_model

        return save_final_model(self.runtime, self.model, self.processor, self.output_dir)


def train_sft(cfg: SFTConfig, *, progress: ProgressFn | None = None) -> Path:
    """Run SFT from a config; returns ``output_dir/final`` (a loadable model folder)."""
    return SFTTrainer(cfg, progress=progress).train()
