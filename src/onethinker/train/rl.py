"""Multi-task RL with verifiable rewards and EMA-GRPO, on one machine (CPU or GPU; accelerate for several GPUs).

One step, top to bottom (:meth:`RLTrainer.train_step`):

1. **collect**: sample prompts, ``n`` rollouts each with HF ``generate``; score them with
   :func:`onethinker.rewards.score_batch`; with online filtering, drop groups whose mean ``filter_key`` is
   <= ``filter_low`` or >= ``filter_high`` and sample more prompts until the step has ``prompts_per_step``
   groups or ``max_tries`` rounds ran;
2. **advantages**: ``ema_grpo`` (group-centred, divided by the task's EMA reward std), ``grpo`` or ``dr_grpo``;
3. **old / reference log-probs** (the old ones only when a step makes more than one update; otherwise the
   sampling policy is the current one and its log-probs are the detached current ones);
4. **update**: clipped surrogate + ``kl_coef`` * KL to the reference, over mini-batches of
   ``mini_batch_prompts`` groups, micro-batches for memory, gradient clipping;
5. **log** per task (rewards and their parts, accuracy, EMA mean/std, |advantage|, response length, KL, clip
   fraction, entropy, filtered groups) and time per phase; **checkpoint** atomically every ``save_every``.

Several processes (``accelerate launch``): one global prompt stream. Every process draws the same global
list from the sampler (refills included), generates and scores its share, and the scored groups are gathered
so that every process holds the whole step: the same filtering and refill decisions, the same kept groups,
advantages and EMA statistics. The update splits each mini-batch's groups over the processes, accumulates
gradients locally and synchronises them once per optimizer step; a step therefore equals a one-process
step over the same global batch (up to float rounding), and a checkpoint written by rank 0 resumes every rank.
"""

from __future__ import annotations

import signal
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onethinker.train.config import RLConfig, dump_yaml

ProgressFn = Callable[[int, int, dict[str, Any]], None]
REWARD_PARTS = ("overall", "format", "accuracy", "structure")


@dataclass
class Group:
    """One prompt and its ``n`` scored rollouts."""

    uid: int
    record: Any
    prompt: Any  # PromptInputs
    response_ids: list[list[int]]
    texts: list[str]
    scores: list[dict]
    index: int = -1  # the record's place in the training data

    @property
    def task(self) -> str:
        return self.record.key


@dataclass
class StepData:
    """What one step collected: the groups it trains on and everything it scored (for metrics)."""

    groups: list[Group] = field(default_factory=list)
    scored: list[Group] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    tries: int = 0


class RLTrainer:
    """State of one RL run; :meth:`train` runs or resumes it to ``trainer.max_steps``."""

    def __init__(self, cfg: RLConfig, *, progress: ProgressFn | None = None) -> None:
        from onethinker.models.encode import MediaCache
        from onethinker.rl import EMATracker
        from onethinker.train.common import (
            EpochSampler,
            TaskBalancedSampler,
            build_optimizer,
            build_scheduler,
            load_policy,
            make_runtime,
            media_root,
            media_settings,
            quiet_transformers,
            seed_everything,
        )

        quiet_transformers()
        self.cfg = cfg
        self.progress = progress
        self.runtime = make_runtime(cfg.model, cfg.trainer.threads)
        seed_everything(cfg.trainer.seed)
        self.media_root = media_root(cfg.data)
        self.records = self._read_records()
        self.model, self.processor = load_policy(cfg.model, self.runtime)
        self.model.train()
        self.ref_model = None
        if cfg.algorithm.kl_coef > 0 and not cfg.model.lora:
            self.ref_model, _ = load_policy(cfg.model, self.runtime, trainable=False)
        self.media = media_settings(cfg.data)
        self.cache = MediaCache(cfg.data.media_cache)
        # Every process computes advantages over the gathered step, so no all-reduce inside the tracker.
        self.tracker = EMATracker(decay=cfg.algorithm.ema_decay, min_std=cfg.algorithm.ema_min_std,
                                  distributed=False)
        if cfg.data.balance_tasks:  # every task gets the same share of each step's prompts
            self.sampler = TaskBalancedSampler([r.key for r in self.records], seed=cfg.trainer.seed)
        else:
            self.sampler = EpochSampler(len(self.records), seed=cfg.trainer.seed)
        self.optimizer = build_optimizer(self.model, cfg.optim)
        self.scheduler = build_scheduler(self.optimizer, cfg.optim, cfg.trainer.max_steps)
        self.model, self.optimizer, self.scheduler = self.runtime.prepare(self.model, self.optimizer,
                                                                          self.scheduler)
        self.step = 0
        self.next_uid = 0
        self.output_dir = Path(cfg.trainer.output_dir)
        self.stop_requested = False
        self._gen_config = None
        self._judge_stats = None
        self._times: dict[str, float] = defaultdict(float)  # seconds per phase, reset by each step

    def _read_records(self) -> list:
        from onethinker.data import read_records

        d = self.cfg.data
        records = [r for _, r in read_records(d.train_file)]
        if d.tasks is not None:
            from onethinker.tasks import task_key

            wanted = {task_key(name) for name in d.tasks}
            records = [r for r in records if r.key in wanted]
        if d.max_samples is not None:
            records = records[: d.max_samples]
        if not records:
            raise ValueError(f"{d.train_file}: no training records (after data.tasks / data.max_samples)")
        return records

    # ----------------------------------------------------------------------------------------- collect
    def generation_config(self):
        from onethinker.models.generate import generation_config

        if self._gen_config is None:
            r = self.cfg.rollout
            self._gen_config = generation_config(
                self.runtime.unwrap(self.model), self.processor, max_new_tokens=r.max_new_tokens,
                temperature=r.temperature, top_p=r.top_p, num_return_sequences=r.n)
        return self._gen_config

    def rollout(self, indices: list[int], uids: list[int]) -> list[Group]:
        """Generate and score ``n`` responses for each record ``indices[j]`` (its group id ``uids[j]``).

        Each ``generate`` call samples from a generator seeded by ``(trainer.seed, uid of its first
        prompt)``: processes never share a random stream, and with ``rollout.generation_batch_size=1`` a
        prompt's rollouts do not depend on how prompts are batched or spread over processes.
        """
        import torch

        from onethinker.models.encode import collate_prompts
        from onethinker.models.generate import generate_ids
        from onethinker.rewards import score_batch

        r = self.cfg.rollout
        if not indices:  # a refill smaller than the process count leaves some processes without prompts
            return []
        model = self.runtime.unwrap(self.model)
        records = [self.records[i] for i in indices]
        prompts = [self._prompt(rec) for rec in records]
        per_call = r.generation_batch_size or len(records)
        response_ids: list[list[int]] = []
        t0 = time.perf_counter()
        model.eval()
        devices = [self.runtime.device] if self.runtime.device.type == "cuda" else []
        with torch.no_grad():
            for start in range(0, len(prompts), per_call):
                batch = collate_prompts(self.processor, prompts[start : start + per_call])
                with torch.random.fork_rng(devices=devices):
                    torch.manual_seed(self.cfg.trainer.seed * 1_000_003 + uids[start])
                    response_ids.extend(generate_ids(model, self.processor, batch, self.generation_config()))
        model.train()
        self._times["generate"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        texts = self.processor.tokenizer.batch_decode(response_ids, skip_special_tokens=True)
        items = [{"response": texts[i], "ground_truth": str(records[i // r.n].answer),
                  "problem_type": records[i // r.n].problem_type, "data_type": records[i // r.n].data_type,
                  "problem": records[i // r.n].problem, "problem_id": uids[i // r.n]}  # judge inputs
                 for i in range(len(texts))]
        scores = score_batch(items, format_weight=self.cfg.algorithm.format_weight, judge=self.cfg.judge)
        self._judge_stats = scores.judge_stats + self._judge_stats  # summed over the step's tries
        self._times["reward"] += time.perf_counter() - t0
        groups = []
        for j, rec in enumerate(records):
            sl = slice(j * r.n, (j + 1) * r.n)
            groups.append(Group(uids[j], rec, prompts[j], response_ids[sl], texts[sl],
                                [dict(x) for x in scores[sl]], indices[j]))
        return groups

    def _prompt(self, record):
        from onethinker.models.encode import prepare_prompt

        return prepare_prompt(self.processor, record, self.media_root, media=self.media, cache=self.cache)

    def _gather(self, groups: list[Group]) -> list[Group]:
        """Every process's scored groups, in global stream order, on every process.

        Only ids, texts and scores travel; a group generated elsewhere gets its prompt back from its record
        when this process trains on it (:meth:`_ensure_prompts`).
        """
        if self.runtime.world_size == 1:
            return groups
        mine = [(g.uid, g.index, g.response_ids, g.texts, g.scores) for g in groups]
        local = {g.uid: g for g in groups}
        out = []
        for uid, index, ids, texts, scores in sorted(x for part in self.runtime.gather_objects(mine) for x in part):
            out.append(local.get(uid) or Group(uid, self.records[index], None, ids, texts, scores, index))
        return out

    def _ensure_prompts(self, groups: list[Group]) -> None:
        for g in groups:
            if g.prompt is None:
                g.prompt = self._prompt(g.record)

    def collect(self) -> StepData:
        """Rollouts for one step, with online filtering and refill (see module doc).

        Every decision here is taken on the gathered global list, so all processes take the same ones.
        """
        import torch

        from onethinker.rl import filter_groups

        r = self.cfg.rollout
        rank, world = self.runtime.rank, self.runtime.world_size
        want = r.prompts_per_step
        data = StepData()
        refill: list[str] = []  # tasks of the groups the last round dropped (rollout.refill=task)
        while len(data.groups) < want and data.tries < r.max_tries:
            need = want - len(data.groups)
            # The same global list on every process (uids are places in the stream); each takes its slice.
            indices = self.sampler.take_tasks(refill) if refill else self.sampler.take(need)
            need = len(indices)
            uids = list(range(self.next_uid, self.next_uid + need))
            self.next_uid += need
            groups = self._gather(self.rollout(indices[rank::world], uids[rank::world]))
            data.scored.extend(groups)
            data.tries += 1
            if not r.online_filtering:
                data.groups.extend(groups)
                break
            values = [s[r.filter_key] for g in groups for s in g.scores]
            gids = [g.uid for g in groups for _ in g.scores]
            tasks = [g.task for g in groups for _ in g.scores]
            keep, dropped = filter_groups(torch.tensor(values, dtype=torch.float64), gids, tasks,
                                          low=r.filter_low, high=r.filter_high)
            for task, count in dropped.items():
                data.dropped[task] += count
            kept_uids = {gids[i] for i in keep.nonzero().flatten().tolist()}
            data.groups.extend(g for g in groups if g.uid in kept_uids)
            if r.refill == "task":
                refill = [g.task for g in groups if g.uid not in kept_uids]
        data.groups = data.groups[:want]
        return data

    # ----------------------------------------------------------------------------------------- batches
    def _rows(self, groups: list[Group]) -> list[tuple[int, int]]:
        """(group index, rollout index) of every rollout, group-major."""
        return [(gi, k) for gi, g in enumerate(groups) for k in range(len(g.response_ids))]

    def _batch(self, groups: list[Group], prompt_batch: dict, rows: list[tuple[int, int]]) -> dict:
        from onethinker.models.encode import append_responses, select_rows, trim_left_padding

        counts = [(len(g.prompt.images), len(g.prompt.videos)) for g in groups]
        sub = trim_left_padding(select_rows(prompt_batch, [gi for gi, _ in rows], counts))
        responses = [groups[gi].response_ids[k] for gi, k in rows]
        return append_responses(sub, responses, self.processor.tokenizer.pad_token_id)

    def _logprobs(self, model, groups, prompt_batch, rows, *, grad: bool, entropy: bool = False):
        import torch

        from onethinker.train.forward import token_logprobs

        batch = self._batch(groups, prompt_batch, rows)
        with torch.set_grad_enabled(grad):
            # The same distribution the rollouts were sampled from: suppressed tokens banned.
            logprobs, ent = token_logprobs(model, batch, temperature=self.cfg.rollout.temperature,
                                           with_entropy=entropy,
                                           suppress_tokens=self.generation_config().suppress_tokens)
        return batch, logprobs, ent

    # ----------------------------------------------------------------------------------------- step
    def train_step(self) -> dict[str, Any]:
        import torch

        from onethinker.models.encode import collate_prompts
        from onethinker.rl import (
            broadcast_advantages,
            dr_grpo_advantages,
            ema_grpo_advantages,
            grpo_advantages,
            policy_loss,
            shuffle_within_groups,
        )
        cfg, a = self.cfg, self.cfg.algorithm
        self._times = defaultdict(float)
        self._judge_stats = None
        t_step = time.perf_counter()
        data = self.collect()
        groups = data.groups
        metrics: dict[str, Any] = {}
        metrics.update(self._reward_metrics(data))
        metrics.update(self._judge_stats.metrics() if self._judge_stats else {})  # judge/latency_s, fallback, ...
        if not groups:  # every group was filtered out in every try: nothing to learn from this step
            self.tracker_summary_into(metrics)
            with warnings.catch_warnings():  # the schedule advances with the steps, updates or not
                warnings.simplefilter("ignore")
                self.scheduler.step()
            metrics.update(self._time_metrics(t_step, sum(len(g.response_ids) for g in data.scored)))
            return metrics

        rows = self._rows(groups)
        scores = torch.tensor([groups[gi].scores[k]["overall"] for gi, k in rows], dtype=torch.float64)
        gids = [groups[gi].uid for gi, _ in rows]
        tasks = [groups[gi].task for gi, _ in rows]
        if a.advantage == "ema_grpo":
            adv = ema_grpo_advantages(scores, gids, tasks, self.tracker, guard=a.guard)
        else:
            self.tracker.update(scores, tasks)  # tracked for monitoring either way
            adv = (grpo_advantages if a.advantage == "grpo" else dr_grpo_advantages)(scores, gids)
        if a.shuffle_advantages:  # the no-information control; the same permutation on every process
            rng = torch.Generator().manual_seed(cfg.trainer.seed * 1_000_003 + self.step)
            adv = shuffle_within_groups(adv, gids, rng)
        adv = adv.float()

        # Mini-batches are global (``mini_batch_prompts`` groups of the step, in order); each process trains on
        # its slice of every one. Every process runs the same number of micro-batches (zero-weight repeats
        # where its slice is shorter or empty), so wrappers that communicate in the forward (FSDP) stay in
        # step too; gradients are all-reduced once, by the last backward before each optimizer step.
        rank, world = self.runtime.rank, self.runtime.world_size
        mini, micro = a.mini_batch_prompts, a.micro_batch_size
        minibatches = [list(range(s, min(s + mini, len(groups)))) for s in range(0, len(groups), mini)]
        plans = [self._plan(groups, mb, rank, world, micro) for mb in minibatches]
        mine = sorted({gi for plan in plans for chunk, _ in plan for gi, _ in chunk})
        local = {gi: j for j, gi in enumerate(mine)}
        self._ensure_prompts([groups[gi] for gi in mine])
        prompt_batch = collate_prompts(self.processor, [groups[gi].prompt for gi in mine])
        sub_groups = [groups[gi] for gi in mine]
        n_updates = a.ppo_epochs * len(minibatches)
        row_index = {row: i for i, row in enumerate(rows)}

        def local_rows(chunk):
            return [(local[gi], k) for gi, k in chunk]

        # Old log-probs: with a single update the sampling policy is the current one (ratio 1 at the start).
        old_lp: dict[int, torch.Tensor] = {}
        ref_lp: dict[int, torch.Tensor] = {}
        if n_updates > 1:
            t0 = time.perf_counter()
            self.model.eval()
            for plan in plans:
                for chunk, _ in plan:
                    _, lp, _ = self._logprobs(self.model, sub_groups, prompt_batch, local_rows(chunk), grad=False)
                    for j, row in enumerate(chunk):
                        old_lp[row_index[row]] = lp[j]
            self.model.train()
            self._times["old_logprob"] += time.perf_counter() - t0
        if a.kl_coef > 0:
            t0 = time.perf_counter()
            for plan in plans:
                for chunk, _ in plan:
                    if self.ref_model is not None:
                        _, lp, _ = self._logprobs(self.ref_model, sub_groups, prompt_batch, local_rows(chunk),
                                                  grad=False)
                    else:  # LoRA: the reference is the base model, adapters off
                        with self.runtime.unwrap(self.model).disable_adapter():
                            _, lp, _ = self._logprobs(self.model, sub_groups, prompt_batch, local_rows(chunk),
                                                      grad=False)
                    for j, row in enumerate(chunk):
                        ref_lp[row_index[row]] = lp[j]
            self._times["ref_logprob"] += time.perf_counter() - t0

        t0 = time.perf_counter()
        per_row: dict[str, dict[int, float]] = defaultdict(dict)
        update_metrics: dict[str, list[float]] = defaultdict(list)
        for _epoch in range(a.ppo_epochs):
            for mb, plan in zip(minibatches, plans):
                # Shares of the whole mini-batch (over all processes), times the process count: the gradient
                # average over processes then gives the one-process update.
                mb_rows = [(gi, k) for gi in mb for k in range(len(groups[gi].response_ids))]
                mb_tokens = sum(len(groups[gi].response_ids[k]) for gi, k in mb_rows)
                for j, (chunk, weight) in enumerate(plan):
                    idx = [row_index[row] for row in chunk]
                    with self.runtime.no_sync(self.model, skip=j < len(plan) - 1):
                        batch, lp, ent = self._logprobs(self.model, sub_groups, prompt_batch, local_rows(chunk),
                                                        grad=True, entropy=True)
                        mask = batch["response_mask"].to(lp.device).float()
                        width = mask.shape[1]
                        old = torch.stack([_fit(old_lp[i], width) for i in idx]) if old_lp else lp.detach()
                        ref = torch.stack([_fit(ref_lp[i], width) for i in idx]) if ref_lp else None
                        token_adv = broadcast_advantages(adv[idx].to(lp.device), mask)
                        loss, m = policy_loss(lp, old.to(lp.device), token_adv, mask, clip_low=a.clip_low,
                                              clip_high=a.clip_high, dual_clip=a.dual_clip,
                                              loss_agg_mode=a.loss_agg_mode,
                                              max_response_length=cfg.rollout.max_new_tokens,
                                              ref_log_prob=None if ref is None else ref.to(lp.device),
                                              kl_coef=a.kl_coef, kl_kind=a.kl_kind)
                        # Weight micro-batches by their share of the mini-batch (tokens for token-mean).
                        share = (float(mask.sum()) / max(mb_tokens, 1)) if a.loss_agg_mode == "token-mean" \
                            else len(chunk) / len(mb_rows)
                        self.runtime.backward(loss * (share * world * weight))
                    if weight:
                        for key, value in m.items():
                            update_metrics[key].append(value)
                        self._row_stats(per_row, idx, lp.detach(), old, ref, ent.detach(), mask)
                update_metrics["grad_norm"].append(self.runtime.clip_gradients(self.model, cfg.optim.max_grad_norm))
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
        lr = self.scheduler.get_last_lr()[0]
        self.scheduler.step()
        self._times["update"] += time.perf_counter() - t0

        metrics.update({f"actor/{k}": sum(v) / len(v) for k, v in update_metrics.items() if v})
        metrics["actor/lr"] = lr
        metrics["actor/updates"] = n_updates
        metrics.update(self._trained_metrics(groups, rows, adv, per_row))
        self.tracker_summary_into(metrics)
        metrics.update(self._time_metrics(t_step, sum(len(g.response_ids) for g in data.scored)))
        return metrics

    @staticmethod
    def _plan(groups: list[Group], mb: list[int], rank: int, world: int, micro: int):
        """This process's micro-batches of mini-batch ``mb`` as ``(rows, weight)``.

        Process ``r`` trains on the groups ``mb[r::world]``; every process gets as many micro-batches as the
        busiest one, the missing ones zero-weight repeats (of its first micro-batch, or of the mini-batch's
        first group where its slice is empty).
        """
        def chunks(part):
            rows = [(gi, k) for gi in part for k in range(len(groups[gi].response_ids))]
            return [rows[s : s + micro] for s in range(0, len(rows), micro)]

        count = max(len(chunks(mb[r::world])) for r in range(world))
        own = chunks(mb[rank::world])
        filler = own[0] if own else chunks(mb[:1])[0]
        return [(c, 1.0) for c in own] + [(filler, 0.0)] * (count - len(own))

    def _row_stats(self, per_row, idx, lp, old, ref, ent, mask) -> None:
        from onethinker.rl import kl_penalty

        a = self.cfg.algorithm
        denom = mask.sum(1).clamp(min=1)
        ratio = (lp - old).clamp(-20, 20).exp()
        clipped = ((ratio < 1 - a.clip_low) | (ratio > 1 + a.clip_high)).float()
        stats = {"entropy": (ent * mask).sum(1) / denom, "clip_frac": (clipped * mask).sum(1) / denom}
        if ref is not None:
            kl = kl_penalty(lp, ref.to(lp.device), a.kl_kind)
            stats["kl"] = (kl * mask).sum(1) / denom
        for name, values in stats.items():
            for j, i in enumerate(idx):
                per_row[name][i] = float(values[j])

    # ----------------------------------------------------------------------------------------- metrics
    def _reward_metrics(self, data: StepData) -> dict[str, Any]:
        """Reward parts and response length over every rollout scored this step, overall and per task."""
        sums: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        for g in data.scored:
            for s, ids in zip(g.scores, g.response_ids):
                for task in ("all", g.task):
                    for part in REWARD_PARTS:
                        sums[f"{part}|{task}"] += float(s[part])
                    sums[f"length|{task}"] += len(ids)
                    counts[task] += 1
        out: dict[str, Any] = {}
        for key, total in sums.items():
            part, task = key.split("|")
            name = f"reward/{part}" if part != "length" else "response_length"
            out[name if task == "all" else f"{name}/{task}"] = total / counts[task]
        for task, dropped in sorted(data.dropped.items()):
            out[f"filter/dropped_groups/{task}"] = dropped
        out["filter/dropped_groups"] = sum(data.dropped.values())
        for task, kept in sorted(Counter(g.task for g in data.groups).items()):
            out[f"filter/kept_groups/{task}"] = kept  # what the step trains on, task by task
        out["filter/kept_groups"] = len(data.groups)
        out["filter/tries"] = data.tries
        return out

    def _trained_metrics(self, groups, rows, adv, per_row) -> dict[str, Any]:
        by_task: dict[str, list[int]] = defaultdict(list)
        for i, (gi, _) in enumerate(rows):
            by_task[groups[gi].task].append(i)
        out: dict[str, Any] = {"adv_abs": float(adv.abs().mean())}
        for name, values in per_row.items():
            if values:
                out[f"actor/{name}_rollout_mean"] = sum(values.values()) / len(values)
        for task, idx in sorted(by_task.items()):
            out[f"adv_abs/{task}"] = float(adv[idx].abs().mean())
            for name, values in per_row.items():
                vals = [values[i] for i in idx if i in values]
                if vals:
                    out[f"{name}/{task}"] = sum(vals) / len(vals)
        return out

    def tracker_summary_into(self, metrics: dict[str, Any]) -> None:
        for task, s in self.tracker.summary().items():
            metrics[f"ema/mean/{task}"] = s["mean"]
            metrics[f"ema/std/{task}"] = s["std"]

    def _time_metrics(self, t_step: float, n_rollouts: int) -> dict[str, Any]:
        total = time.perf_counter() - t_step
        out = {f"time/{k}": v for k, v in self._times.items()}
        out["time/step"] = total
        out["rollouts"] = n_rollouts
        out["rollouts_per_s"] = n_rollouts / total if total > 0 else 0.0
        return out

    # ----------------------------------------------------------------------------------------- loop
    def train(self) -> Path:
        """Run (or resume) to ``trainer.max_steps``; returns ``output_dir/final``.

        SIGTERM / SIGINT stop the run after the current step with a checkpoint (a kill -9 loses at most
        the steps since the last checkpoint).
        """
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
        previous = self._install_signal_handlers()
        try:
            checkpoint_seconds = None
            while self.step < t.max_steps:
                metrics = self.train_step()
                self.step += 1
                if checkpoint_seconds is not None:  # the checkpoint written after the previous step
                    metrics["time/checkpoint"], checkpoint_seconds = checkpoint_seconds, None
                # The step's metrics row goes to disk before its checkpoint: a kill between the two then
                # costs a re-run of the step (resume cuts the row), never a row missing for good.
                if self.step % t.log_every == 0 or self.step == t.max_steps:
                    logger.log(self.step, metrics)
                if t.save_every and (self.step % t.save_every == 0 or self.stop_requested):
                    t0 = time.perf_counter()
                    self.save()
                    checkpoint_seconds = time.perf_counter() - t0
                if self.progress is not None:
                    self.progress(self.step, t.max_steps, metrics)
                if self.stop_requested:
                    break
        finally:
            logger.close()
            self._restore_signal_handlers(previous)
        if self.stop_requested and self.step < t.max_steps:
            return self.output_dir
        return self.save_final()

    def _install_signal_handlers(self):
        def request_stop(signum, frame):  # noqa: ARG001
            self.stop_requested = True

        previous = {}
        try:
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, request_stop)
        except ValueError:  # not the main thread
            pass
        return previous

    @staticmethod
    def _restore_signal_handlers(previous) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def save(self) -> Path | None:
        from onethinker.train.checkpoint import save_checkpoint

        self.runtime.wait()
        weights = self.runtime.model_state(self.model)  # every process: FSDP gathers the shards
        path = None
        if self.runtime.is_main:  # the sampler, uid counter and tracker are identical on every process
            path = save_checkpoint(
                self.output_dir, self.step, model=self.runtime.unwrap(self.model), processor=self.processor,
                optimizer=self.optimizer, scheduler=self.scheduler, model_state=weights,
                state={"sampler": self.sampler.state_dict(), "ema": self.tracker.state_dict(),
                       "next_uid": self.next_uid},
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
        self.tracker.load_state_dict(state["ema"])
        self.next_uid = int(state.get("next_uid", 0))
        return self.step

    def save_final(self) -> Path:
        import json

        from onethinker.train.common import save_final_model

        out = save_final_model(self.runtime, self.model, self.processor, self.output_dir)
        if self.runtime.is_main:
            (out / "ema_state.json").write_text(json.dumps(self.tracker.state_dict(), indent=1))
        return out


def _fit(t, width: int):
    """Pad or cut a 1-D per-token tensor to ``width`` (rows were padded to different batch widths)."""
    import torch

    if t.shape[0] >= width:
        return t[:width]
    return torch.cat([t, t.new_zeros(width - t.shape[0])])


def train_rl(cfg: RLConfig, *, progress: ProgressFn | None = None) -> Path:
    """Run RL from a config; returns ``output_dir/final`` (a loadable model folder)."""
    return RLTrainer(cfg, progress=progress).train()
