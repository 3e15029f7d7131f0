"""`onethinker quickstart`: the whole method in miniature, on a laptop CPU, in minutes.

synthetic shapes world (train + held-out split) -> tiny Qwen3-VL (tokenizer trained on the corpus) ->
SFT cold start -> EMA-GRPO RL -> evaluation of the SFT and the RL checkpoints on the held-out split ->
``OUT/report.md`` with a per-task before/after table and plots.

Everything it runs is the package's ordinary machinery: ``synthesize``, ``build_tiny``, ``train_sft`` and
``train_rl`` from the configs it writes to ``OUT/configs/`` (rerun them with ``onethinker train ...``),
``generate_responses``, ``score_batch`` and ``score_predictions``.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Self

import typer

from onethinker.eval.blind import ALL_TASKS

REWARD_PARTS = ("overall", "format", "accuracy", "structure")
EVAL_BATCH = 128  # records per generate call in evaluation (a task's 100 held-out records in one batch)


@dataclass
class QuickstartPlan:
    """Sizes of the miniature run (defaults: under ten minutes on two CPU cores, evaluation included).

    Attributes:
        out: run folder.
        train_size: synthetic training records (all twelve tasks, round-robin).
        eval_size: held-out records (split ``eval_split``), answered after SFT and after RL, each time with the
            right media and with media swapped between records of a task (the blind control).
        eval_split: name of the held-out split (an independent random stream; ``train`` is refused).
        difficulty: shapes-world difficulty in [0, 1] (distractors, object size, motion, text length); 0 (no
            distractor in a still image, every colour or shape as a multiple-choice option in a fixed order,
            large centred text) is the easiest level (see docs/training.md).
        perception_tasks, perception_size, perception_steps: the perception warm-up before SFT:
            ``perception_steps`` steps of ``sft_batch * 2`` records of ``perception_tasks`` (``perception_size``
            of them, their own random stream; the bare question as the prompt), so the model learns to read
            colour, shape, place and written words off its visual tokens while examples are short;
            ``perception_steps=0`` skips it. Reading a word (OCR) is learned here or not at all: left to SFT's
            mixture it stays at a constant answer's level (seed 0: 0.07); in the warm-up, at the teaching
            level's large, centred text, it reaches 0.46-0.88 after 250 steps and 0.82-1.00 after 300
            (held-out, seeds 0-2; docs/training.md).
        perception_replay: the first ``perception_replay`` warm-up examples are mixed into the SFT data, so
            that SFT, busy with twelve answer formats, does not wash out what the warm-up taught.
        perception_lr: the warm-up's learning rate, held constant. Reading colour and shape means looking a
            visual token up by its content, which the tiny model learns in a sudden step; at 3e-3 on a mixture
            of questions that step comes late or not at all, and a decaying rate delays it (docs/training.md).
        sft_repeats: task key -> how many times over that task's training records go into the SFT data (the
            others once; default: each once). Tracking's question gives the object's first-frame box, and a
            constant answer that copies it scores 0.68 on the held-out check split; with each record once the
            SFT checkpoints copy it in 0-4 answers of 100 (tracking 0.07-0.34). ``{"tracking": 4}`` makes them
            copy it (0.58-0.63) and ends the quickstart 0.001-0.023 higher, but the copy needs no media, the
            other tasks get a smaller share of the steps (the blind-control gap falls from 0.155-0.165 to
            0.135-0.147) and RL's share of the gain shrinks (+0.001 to +0.014), so it is not the default
            (docs/training.md).
        sft_steps, sft_batch, sft_lr: SFT optimizer steps, examples per step, peak learning rate (cosine). 200
            steps are a cold start that leaves RL something to learn (RL - SFT +0.027 to +0.033 on three
            seeds); 270 make a better tiny model and leave RL less (docs/training.md).
        rl_steps, rl_prompts, rl_n, rl_lr: RL steps, prompts per step (drawn evenly across the tasks),
            rollouts per prompt, learning rate. With dropped groups refilled by task, RL - SFT keeps rising
            past 60 steps and levels off by about 120 (``benchmarks/rl_curve.py``, seeds 0 and 2: +0.006 and
            +0.007 at 60, +0.015 and +0.015 at 90, +0.017 and +0.018 at 120, +0.018 and +0.015 at 180); 90
            takes most of that rise for half of 120's extra time (docs/training.md).
        rl_optimizer: the RL stage's optimizer, ``sgd`` or ``adamw`` (published). AdamW moves every weight by
            about ``rl_lr`` per step, signal or noise; from the SFT checkpoint, whose greedy answers such moves
            flip, that noise alone (advantages shuffled within their groups) cost 0.012-0.032 of accuracy, as
            much as RL learned. Plain SGD moves each weight in proportion to its gradient: its shuffled control
            cost +0.004 and -0.008 on seeds 0 and 2, and RL gained more than with AdamW from every checkpoint
            tried, on a split no run generated (docs/training.md).
        rl_mini: prompts per optimizer update (``rl_prompts / rl_mini`` updates per RL step).
        rl_temperature: rollout sampling temperature (published: 1.0). At 1.0 the tiny model's samples stray far
            from its greedy answers (rollout accuracy about 0.25 against 0.44 greedy) and some run to the length
            cap, which holds up their whole batch. 0.3 keeps the samples close to the greedy answers that are
            evaluated: from the same SFT checkpoints, 40 steps at 0.3 gained +0.015, +0.020 and +0.001 of mean
            held-out accuracy on seeds 0-2, at 0.5 +0.009 on seed 0, and more steps at 0.5 did not add
            (docs/training.md).
        rl_max_tries: sampling rounds per RL step: groups that online filtering drops (every rollout right, or
            every one wrong) are replaced by fresh prompts, at most ``rl_max_tries - 1`` times. Under
            ``generate`` a round cost almost as much as the first (a batch decoded until its longest answer
            ended): on seed 0, 40 steps with at most 2 rounds sampled 3.3 s per step and kept 10.9 groups of
            12; with 3 rounds, 4.1 s and 11.7 groups, and RL gained +0.016 of held-out accuracy against +0.005
            with 2.
        rl_refill: where a sampling round's fresh prompts come from (``rollout.refill``). ``task``: each dropped
            group is replaced by a prompt of its own task. With ``stream`` (published) the replacements are the
            sampler's next prompts, and as the groups of discrete answers (counting, multiple choice, math,
            OCR) are the ones often all right or all wrong, the step fills up with the continuous-score tasks:
            on seed 0, counting trained on about 25 groups in 36 steps and multiple choice on 9, each
            continuous task on about 49. Refilled by task, counting gains +0.07 to +0.17 on the ``check``
            split (docs/training.md).
        max_new_tokens: response budget in RL and evaluation.
        eval_temperature: 0 = greedy evaluation.
        length_matched: also answer with the RL checkpoint once more, each record shown the media of a record of
            its task of about the same length (video seconds, image pixels; :func:`answer`'s ``"matched"``), and
            report that gap too: what the model reads beyond how long a video is.
        seed: seeds data, weights, sampling and the blind control's swap.
        threads: torch CPU threads (per process).
        helper: use both cores through two helper processes (:class:`Helper`): the warm-up, SFT and RL train
            data-parallel in them (:func:`two_process_train`: half of every SFT batch, half of every RL step's
            groups each), then one answers each checkpoint's swapped-media pass beside the right-media pass here
            (and the other the RL checkpoint's length-matched pass).
            The same updates (up to float summation order; RL's rollouts depend on which prompts share a
            generate batch) and answers in less time on two cores; ``False`` runs everything in one process.
        hidden_size, layers: tiny model text width and depth.
        vision_init_std, vision_pos_sincos: init scale of the tiny vision tower and amplitude of its sine-cosine
            position table (see :class:`~onethinker.models.tiny.TinySpec`).
        freeze_vision: keep the random vision tower fixed in the warm-up, SFT and RL (the published SFT recipe
            freezes a pretrained one; a random one has to learn).
    """

    out: Path
    train_size: int = 2400
    eval_size: int = 1200
    eval_split: str = "test"
    difficulty: float = 0.0
    perception_tasks: tuple[str, ...] = ("open-ended", "spatial grounding", "multiple choice", "OCR")
    perception_size: int = 2000
    perception_steps: int = 300
    perception_replay: int = 1000
    perception_lr: float = 1e-3
    sft_repeats: dict[str, int] = field(default_factory=dict)
    sft_steps: int = 200
    sft_batch: int = 16
    sft_lr: float = 1e-3
    rl_steps: int = 90
    rl_prompts: int = 12
    rl_n: int = 4
    rl_lr: float = 1e-2
    rl_optimizer: str = "sgd"
    rl_mini: int = 12
    rl_temperature: float = 0.3
    rl_max_tries: int = 3
    rl_refill: str = "task"
    max_new_tokens: int = 200
    eval_temperature: float = 0.0
    length_matched: bool = True
    seed: int = 0
    threads: int = 1
    helper: bool = True
    hidden_size: int = 128
    layers: int = 4
    vision_init_std: float = 0.1
    vision_pos_sincos: float = 8.0
    freeze_vision: bool = False
    media: dict[str, Any] = field(default_factory=lambda: {
        "image_max_pixels": 128 * 128, "image_min_pixels": 32 * 32, "video_fps": 2.0, "video_max_frames": 8,
        "video_min_pixels": 32 * 32, "video_max_pixels": 64 * 64})


# --------------------------------------------------------------------------------------------- stages
def make_data(plan: QuickstartPlan) -> tuple[Path, Path]:
    from onethinker.data.synth import synthesize

    if plan.eval_split == "train":
        raise ValueError("eval_split must differ from the training split 'train'")
    train = synthesize(plan.out / "data" / "train", plan.train_size, plan.seed, split="train",
                       difficulty=plan.difficulty)
    test = synthesize(plan.out / "data" / plan.eval_split, plan.eval_size, plan.seed, split=plan.eval_split,
                      difficulty=plan.difficulty)
    return train / "data.jsonl", test / "data.jsonl"


def make_perception_data(plan: QuickstartPlan) -> Path:
    """The warm-up corpus: records of ``plan.perception_tasks`` from their own random stream (split
    ``perception``) as ShareGPT lines whose prompt is the bare question (and its options), without the
    published template's instructions, and whose target is the record's SFT response."""
    from onethinker.data import read_records
    from onethinker.data.synth import synthesize
    from onethinker.tasks.prompts import question_with_options

    root = synthesize(plan.out / "data" / "perception", plan.perception_size, plan.seed, split="perception",
                      difficulty=plan.difficulty, tasks=list(plan.perception_tasks))
    out = root / "perception.jsonl"
    lines = []
    for _, record in read_records(root / "data.jsonl"):
        media = {"images": record.images} if record.images else {"videos": record.videos}
        question = question_with_options(record.problem, record.options)
        lines.append(json.dumps({"messages": [{"role": "user", "content": question},
                                              {"role": "assistant", "content": record.sft_response}],
                                 **media}) + "\n")
    out.write_text("".join(lines))
    return out


def make_sft_mix(plan: QuickstartPlan, train_file: Path, perception_file: Path | None) -> Path:
    """The SFT data: the training split's ShareGPT lines, each task's ``plan.sft_repeats`` times over (default
    once), and the first ``perception_replay`` warm-up lines, shuffled, in one file under ``data/`` (media
    paths rebased onto it)."""
    import random

    from onethinker.data import read_records
    from onethinker.data.synth import synth_tasks

    repeats = dict(zip(synth_tasks(list(plan.sft_repeats)), plan.sft_repeats.values(), strict=True))
    if any(not isinstance(times, int) or times < 1 for times in repeats.values()):
        raise ValueError(f"sft_repeats must map task names to whole numbers >= 1, got {plan.sft_repeats}")
    root = plan.out / "data"
    train_sft = train_file.parent / "sft.jsonl"
    train_lines = train_sft.read_text().splitlines()
    keys = [record.key for _, record in read_records(train_file)]
    if len(keys) != len(train_lines):
        raise ValueError(f"{train_sft} has {len(train_lines)} lines but {train_file} has {len(keys)} records")
    sources = [(train_sft, train_lines, [repeats.get(key, 1) for key in keys])]
    if perception_file is not None and plan.perception_replay:
        replay = perception_file.read_text().splitlines()[:plan.perception_replay]
        sources.append((perception_file, replay, [1] * len(replay)))
    lines = []
    for source, rows, times in sources:
        prefix = source.parent.relative_to(root).as_posix()
        for line, count in zip(rows, times, strict=True):
            row = json.loads(line)
            for kind in ("images", "videos"):
                if kind in row:
                    row[kind] = [f"{prefix}/{name}" for name in row[kind]]
            lines.extend([json.dumps(row)] * count)
    random.Random(plan.seed).shuffle(lines)
    out = root / "sft_mix.jsonl"
    out.write_text("".join(line + "\n" for line in lines))
    return out


def make_model(plan: QuickstartPlan, train_file: Path, extra_texts: tuple[Path, ...] = ()) -> Path:
    """The tiny model. Its tokenizer learns the corpus' prompts and responses (and those of ``extra_texts``,
    ShareGPT files) word by word, one token per digit, like Qwen's; its processor normalises pixels with the
    training images' own mean and std (see :func:`pixel_statistics`)."""
    from onethinker.models.tiny import TinySpec, build_tiny, pixel_statistics

    texts = []
    for path in (train_file.parent / "sft.jsonl", *extra_texts):
        for line in path.read_text().splitlines():
            texts.extend(m["content"] for m in json.loads(line)["messages"])
    mean, std = pixel_statistics(train_file)
    h = plan.hidden_size
    spec = TinySpec(vocab_size=4096, merge_words=False, split_digits=True, prompt_phrases=True, hidden_size=h,
                    num_layers=plan.layers, num_heads=max(2, h // 32), num_kv_heads=max(1, h // 64),
                    intermediate_size=2 * h, vision_depth=1, vision_hidden_size=64, vision_heads=2, vision_intermediate_size=128,
                    image_mean=mean, image_std=std, vision_init_std=plan.vision_init_std,
                    vision_pos_sincos=plan.vision_pos_sincos)
    return build_tiny(plan.out / "model" / "init", seed=plan.seed, texts=texts, spec=spec)


def sft_config(plan: QuickstartPlan, model: Path, train_file: Path, *, stage: str = "sft", processes: int = 1):
    """The SFT stage's config, or with ``stage="perception"`` the warm-up's (its own steps and rate, the rate
    held constant; twice the batch: its examples are short). With ``processes`` > 1 the batch is each
    process's share of the same global batch (the trainers' ``trainer.batch_size`` is per process)."""
    from onethinker.train.config import SFTConfig, load_config

    if stage == "perception":
        steps, batch, micro, lr, scheduler = (plan.perception_steps, 2 * plan.sft_batch, 2 * plan.sft_batch,
                                              plan.perception_lr, "constant")
    else:
        steps, batch, micro, lr, scheduler = (plan.sft_steps, plan.sft_batch, max(1, plan.sft_batch // 2),
                                              plan.sft_lr, "cosine")
    if processes < 1 or batch % processes:
        raise ValueError(f"a batch of {batch} does not split over {processes} processes")
    batch //= processes
    micro = min(micro, batch)
    return load_config(SFTConfig, None, [
        f"model.path={model}", "model.device=cpu", "model.dtype=float32",
        f"model.freeze_vision={str(plan.freeze_vision).lower()}",
        f"data.train_file={train_file}",
        *[f"data.{k}={v}" for k, v in plan.media.items()],
        f"trainer.output_dir={plan.out / stage}", f"trainer.max_steps={steps}",
        f"trainer.batch_size={batch}", f"trainer.micro_batch_size={micro}",
        f"trainer.seed={plan.seed}", f"trainer.threads={plan.threads}", "trainer.keep_checkpoints=1",
        f"optim.lr={lr}", "optim.warmup_ratio=0.05", f"optim.scheduler={scheduler}", "optim.weight_decay=0.0",
    ])


def rl_config(plan: QuickstartPlan, model: Path, train_file: Path):
    from onethinker.train.config import RLConfig, load_config

    return load_config(RLConfig, None, [
        f"model.path={model}", "model.device=cpu", "model.dtype=float32",
        f"model.freeze_vision={str(plan.freeze_vision).lower()}",
        f"data.train_file={train_file}", *[f"data.{k}={v}" for k, v in plan.media.items()],
        "data.balance_tasks=true",
        f"rollout.prompts_per_step={plan.rl_prompts}", f"rollout.n={plan.rl_n}",
        f"rollout.max_new_tokens={plan.max_new_tokens}", f"rollout.temperature={plan.rl_temperature}",
        f"rollout.max_tries={plan.rl_max_tries}", f"rollout.refill={plan.rl_refill}",
        # The published filter: groups whose rollouts all fail or all succeed carry no signal.
        "rollout.filter_key=accuracy", "rollout.filter_low=0.01", "rollout.filter_high=0.99",
        "algorithm.advantage=ema_grpo", f"algorithm.mini_batch_prompts={plan.rl_mini}",
        f"algorithm.micro_batch_size={plan.rl_mini * plan.rl_n}", "algorithm.kl_coef=0.0",
        f"optim.name={plan.rl_optimizer}", f"optim.lr={plan.rl_lr}", "optim.scheduler=constant",
        "optim.weight_decay=0.0",
        f"trainer.output_dir={plan.out / 'rl'}", f"trainer.max_steps={plan.rl_steps}",
        f"trainer.save_every={max(1, plan.rl_steps // 2)}", "trainer.keep_checkpoints=1",
        f"trainer.seed={plan.seed}", f"trainer.threads={plan.threads}",
    ])


def cold_start(plan: QuickstartPlan, train_file: Path, *, stage=None, update=None,
               timings: dict[str, float] | None = None, started: float | None = None,
               helper: Helper | None = None) -> Path:
    """Perception data, the tiny model, the perception warm-up and SFT (with replay); returns the SFT model.

    ``stage(name, total)`` / ``update(task, **fields)`` drive progress bars (rich's ``add_task`` / ``update``
    shapes); ``timings`` gets each stage's seconds (the first counted from ``started``). Configs go to
    ``OUT/configs``. With a ``helper`` of two workers (:class:`Helper`) the warm-up and SFT train data-parallel
    in those two processes (:func:`two_process_train`), each taking half of every batch: the same updates as one
    process (up to float summation order), on both cores.
    """
    from onethinker.train.config import dump_yaml
    from onethinker.train.sft import train_sft

    timings = {} if timings is None else timings
    t0 = time.perf_counter() if started is None else started
    perception_file = make_perception_data(plan) if plan.perception_steps else None
    model = make_model(plan, train_file, (perception_file,) if perception_file else ())
    replay = perception_file is not None and plan.perception_replay
    mixed = replay or any(times != 1 for times in plan.sft_repeats.values())
    sft_file = make_sft_mix(plan, train_file, perception_file) if mixed else train_file
    timings["data + tiny model"] = time.perf_counter() - t0
    (plan.out / "configs").mkdir(parents=True, exist_ok=True)
    processes = 2 if helper is not None and helper.workers >= 2 else 1
    stages = []  # the warm-up's checkpoint is where SFT starts
    if perception_file is not None:
        cfg = sft_config(plan, model, perception_file, stage="perception", processes=processes)
        stages.append(_Stage("perception", "perception", "perception warm-up", cfg))
        model = Path(cfg.trainer.output_dir) / "final"
    stages.append(_Stage("sft", "SFT", "SFT", sft_config(plan, model, sft_file, processes=processes)))
    for s in stages:
        dump_yaml(s.cfg, plan.out / "configs" / f"{s.config}.yaml")
    bars: dict[int, Any] = {}

    def progress(index: int, step: int, metrics: dict[str, Any]) -> None:
        if stage is None:
            return
        if index not in bars:  # a stage's bar (and its clock) starts with its first step
            bars[index] = stage(stages[index].label, stages[index].cfg.trainer.max_steps)
        update(bars[index], completed=step, description=f"loss {metrics['loss']:.3f}")

    if processes == 2:
        seconds = two_process_train(helper, [(train_sft, s.cfg) for s in stages], progress)
    else:
        seconds = []
        for index, s in enumerate(stages):
            t1 = time.perf_counter()
            train_sft(s.cfg, progress=lambda step, n, m, index=index: progress(index, step, m))
            seconds.append(time.perf_counter() - t1)
    for s, took in zip(stages, seconds):
        timings[s.timing] = took
    return Path(stages[-1].cfg.trainer.output_dir) / "final"


class _Stage(NamedTuple):
    """One SFT stage of the cold start: its config file's name, progress-bar label, timing name and config."""

    config: str
    label: str
    timing: str
    cfg: Any


def _train_rank(rank: int, world: int, port: int, stages: list[tuple[Any, Any]], on_batch=None) -> list[float]:
    """Rank ``rank`` of ``world`` processes on this machine (a gloo group at ``127.0.0.1:port``) trains the
    ``stages`` in turn, each a ``(train, config)`` pair whose ``train(config, progress=...)`` is
    :func:`~onethinker.train.sft.train_sft`, :func:`~onethinker.train.rl.train_rl` or another importable
    function of that shape (it is pickled); returns each stage's seconds. ``on_batch((stage, step, metrics))``
    after every step. The group is torn down on the way out, an error included: a rank that fails closes its
    sockets, so the other's next collective fails rather than waiting out gloo's timeout."""
    import os

    import torch.distributed as dist

    env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": str(world), "RANK": str(rank),
           "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": str(world)}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    seconds = []
    try:
        for index, (train, cfg) in enumerate(stages):
            t0 = time.perf_counter()
            train(cfg, progress=None if on_batch is None else
                  (lambda s, n, m, index=index: on_batch((index, s, m))))
            seconds.append(time.perf_counter() - t0)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
        # accelerate keeps the group's state in process-wide singletons: clear them, so that the worker's next
        # call (RL after SFT) sets up a fresh group instead of reusing the destroyed one.
        from accelerate.state import AcceleratorState, GradientState

        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return seconds


def two_process_train(helper: Helper, stages: list[tuple[Any, Any]], progress=None) -> list[float]:
    """Train ``stages`` (``(train_sft | train_rl, config)`` pairs; see :func:`_train_rank`) data-parallel in the
    helper's two workers, the way ``accelerate launch --num_processes 2`` runs ``train sft`` / ``train rl``
    (gloo on CPUs); returns each stage's seconds on rank 0. ``progress(stage, step, metrics)`` follows rank 0.

    An SFT config's ``trainer.batch_size`` is one process's share; RL's ``rollout.prompts_per_step`` is the
    step's global count, each process generating, scoring and training on its share of the groups.
    The first failure is raised at once; the caller leaving the helper's ``with`` block then stops the other
    rank."""
    import socket
    from concurrent.futures import FIRST_EXCEPTION, wait

    with socket.socket() as probe:  # a free local port for the group's rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    relay = None if progress is None else (lambda item: progress(*item))
    futures = [helper.submit(_train_rank, rank, 2, port, stages, on_batch=relay if rank == 0 else None)
               for rank in (0, 1)]
    done, _ = wait(futures, return_when=FIRST_EXCEPTION)
    for future in done:
        future.result()  # raises the first error
    futures[1].result()
    return futures[0].result()


def answer(plan: QuickstartPlan, model_dir: Path, test_file: Path, kind: str, on_batch=None,
           cache=None, loaded=None) -> list[str]:
    """Greedy answers of the checkpoint in ``model_dir`` to every held-out record, each shown its own media
    (``kind="right"``), another record's of its task (``kind="swapped"``, the blind control's pass), or
    another record's of its task and about its own length (``kind="matched"``: video seconds, image pixels;
    :func:`onethinker.eval.blind.media_lengths`).

    ``on_batch(done)`` gets the number of records answered so far; ``cache`` is a
    :class:`~onethinker.models.encode.MediaCache` kept between calls; ``loaded`` is the checkpoint's
    ``(model, processor)`` where the caller has them already.
    """
    import torch

    from onethinker.data import read_records
    from onethinker.eval.blind import media_lengths, swap_media
    from onethinker.models import load_model
    from onethinker.models.generate import generate_responses, positions_by_task
    from onethinker.train.common import media_settings
    from onethinker.train.config import DataConfig

    if kind not in ("right", "swapped", "matched"):
        raise ValueError(f"kind must be 'right', 'swapped' or 'matched', got {kind!r}")
    torch.set_num_threads(plan.threads)
    records = [r for _, r in read_records(test_file)]
    lengths = media_lengths(records, test_file.parent) if kind == "matched" else None
    shown = records if kind == "right" else swap_media(records, seed=plan.seed, lengths=lengths).records
    model, processor = loaded or load_model(model_dir, device="cpu", trainable=False)
    media = media_settings(DataConfig(**plan.media))
    texts = [""] * len(records)
    done = 0
    for indices in positions_by_task(records):  # one task's records are decoded together
        out = generate_responses(
            model, processor, [shown[j] for j in indices], test_file.parent,
            max_new_tokens=plan.max_new_tokens, temperature=plan.eval_temperature, batch_size=EVAL_BATCH,
            media=media, seed=plan.seed, cache=cache,
            on_batch=None if on_batch is None else (lambda n, done=done: on_batch(done + n)))
        for j, text in zip(indices, out):
            texts[j] = text[0]
        done += len(indices)
    return texts


def score_answers(records, texts: list[str]):
    """The reward parts (``overall``, ``format``, ``accuracy``, ``structure``) of each answer ``texts[i]`` to
    ``records[i]``, scored as RL scores a rollout (:func:`onethinker.rewards.score_batch`)."""
    from onethinker.rewards import score_batch

    return score_batch([{"response": t, "ground_truth": str(r.answer), "problem_type": r.problem_type,
                         "data_type": r.data_type} for t, r in zip(texts, records)])


def evaluate(plan: QuickstartPlan, model_dir: Path, test_file: Path, name: str, on_batch=None,
             cache=None, helper: Helper | None = None, matched: bool = False) -> dict[str, Any]:
    """Greedy answers on the held-out split, with the right media and with media swapped within each task
    (and with ``matched``, swapped with a record of about the same media length: :func:`answer`'s kinds).

    ``cache`` (a :class:`~onethinker.models.encode.MediaCache`) keeps decoded media between the passes
    and between calls. With a ``helper``, the swapped passes run in its processes while this one answers with
    the right media. ``on_batch(done)`` counts the records answered in all passes. Returns rewards per task,
    benchmark metrics per task, accuracy per task (``accuracy``) and per record with the right media
    (``record_accuracy``, in the file's order, with each record's task in ``tasks``), the blind-control table
    (:func:`onethinker.eval.blind.blind_table`; with ``matched`` also ``blind_matched``) and the seconds it took.
    """
    from onethinker.data import read_records
    from onethinker.eval.blind import blind_table
    from onethinker.models import load_model

    t0 = time.perf_counter()
    records = [r for _, r in read_records(test_file)]
    kinds = ["swapped", "matched"] if matched else ["swapped"]
    done = dict.fromkeys(["right", *kinds], 0)

    def progress(kind: str):
        if on_batch is None:
            return None

        def step(n: int) -> None:
            done[kind] = n
            on_batch(sum(done.values()))
        return step

    pending = ({kind: helper.submit(answer, plan, model_dir, test_file, kind, on_batch=progress(kind))
                for kind in kinds} if helper is not None else {})
    loaded = load_model(model_dir, device="cpu", trainable=False)
    answers = {"right": answer(plan, model_dir, test_file, "right", progress("right"), cache, loaded)}
    for kind in kinds:
        answers[kind] = (pending[kind].result() if kind in pending
                         else answer(plan, model_dir, test_file, kind, progress(kind), cache, loaded))
    texts = answers["right"]
    scores, swapped_scores = (score_answers(records, responses) for responses in (texts, answers["swapped"]))
    per_task: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    counts: dict[str, int] = defaultdict(int)
    rows = []
    for rec, text, blind_text, score in zip(records, texts, answers["swapped"], scores):
        for task in (rec.key, "all"):
            counts[task] += 1
            for part in REWARD_PARTS:
                per_task[task][part] += score[part]
        row = rec.model_dump(mode="json", by_alias=False)
        row.update(response=text, reward={p: score[p] for p in REWARD_PARTS}, benchmark=rec.key,
                   swapped_response=blind_text)
        rows.append(row)
    if matched:
        for row, text in zip(rows, answers["matched"]):
            row["matched_response"] = text
    out_file = plan.out / "eval" / f"{name}_predictions.jsonl"
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rewards = {task: {p: v / counts[task] for p, v in parts.items()} for task, parts in per_task.items()}
    metrics = _benchmark_metrics(rows, test_file.parent)
    accuracy = [s["accuracy"] for s in scores]
    tasks = [r.key for r in records]
    blind = blind_table(tasks, accuracy, [s["accuracy"] for s in swapped_scores])
    result = {"rewards": rewards, "metrics": metrics, "predictions": str(out_file),
              "blind": [row.as_dict() for row in blind], "accuracy": _accuracy_table(records, accuracy),
              "tasks": tasks, "record_accuracy": accuracy}
    if matched:
        matched_accuracy = [s["accuracy"] for s in score_answers(records, answers["matched"])]
        result["blind_matched"] = [row.as_dict() for row in blind_table(tasks, accuracy, matched_accuracy)]
    result["seconds"] = time.perf_counter() - t0
    return result


def rl_minus_sft(sft: dict[str, Any], rl: dict[str, Any]) -> list[dict[str, Any]]:
    """RL's accuracy minus SFT's on the same held-out records, per task, paired record by record, with its
    standard error and 95% interval (:func:`onethinker.eval.blind.paired_table`; ``first`` is RL, ``second``
    SFT), from two :func:`evaluate` results."""
    from onethinker.eval.blind import paired_table

    if sft["tasks"] != rl["tasks"]:
        raise ValueError("the SFT and RL evaluations answered different records; RL - SFT needs the same ones")
    return [row.as_dict() for row in paired_table(rl["tasks"], rl["record_accuracy"], sft["record_accuracy"])]


def constant_answers(test_file: Path) -> dict[str, Any]:
    """The constant-answer baseline on the held-out split (:mod:`onethinker.eval.constant`): per task, the mean
    accuracy of the best single held-out answer chosen without the record it answers (``accuracy``, as
    :func:`_accuracy_table`), and the answer chosen over all the task's records (``answers``)."""
    import math

    from onethinker.data import read_records
    from onethinker.eval.constant import constant_baseline

    records = [r for _, r in read_records(test_file)]
    base = constant_baseline(records)
    kept = [(r, a) for r, a in zip(records, base.accuracy) if not math.isnan(a)]  # NaN: a task with one record
    return {"accuracy": _accuracy_table([r for r, _ in kept], [a for _, a in kept]), "answers": base.answers}


def _accuracy_table(records, accuracy: list[float]) -> dict[str, dict[str, float]]:
    """Mean accuracy per task with its standard error (and the unweighted mean over tasks)."""
    import math

    by_task: dict[str, list[float]] = defaultdict(list)
    for rec, value in zip(records, accuracy):
        by_task[rec.key].append(value)
    out = {}
    for task, values in sorted(by_task.items()):
        n = len(values)
        mean = sum(values) / n
        var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else float("nan")
        out[task] = {"n": n, "mean": mean, "se": math.sqrt(var / n) if n > 1 else float("nan")}
    if out:
        k = len(out)
        out[ALL_TASKS] = {"n": sum(v["n"] for v in out.values()),
                                  "mean": sum(v["mean"] for v in out.values()) / k,
                                  "se": math.sqrt(sum(v["se"] ** 2 for v in out.values())) / k}
    return out


def overall_blind_row(rows: list[dict]) -> dict:
    """The ``mean over tasks`` row of a blind-control table (as stored in ``summary.json``)."""
    return next(row for row in rows if row["task"] == ALL_TASKS)


def _benchmark_metrics(rows: list[dict], media_root: Path) -> dict[str, dict[str, float]]:
    try:
        from onethinker.eval import score_predictions
    except ImportError:  # pragma: no cover - the eval package is part of onethinker
        return {}
    try:
        return score_predictions(rows, media_root)
    except Exception as exc:  # noqa: BLE001 - the report should still come out; say why metrics are missing
        return {"error": {"message": str(exc)}}  # type: ignore[dict-item]


def library_versions() -> dict[str, str]:
    """Versions of the libraries a run's numbers depend on (the report prints them)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("onethinker", "torch", "transformers", "tokenizers", "numpy", "av", "pillow", "math-verify"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


# --------------------------------------------------------------------------------------------- helper
_PROGRESS = None  # in a helper process: the queue its progress goes back on


def _helper_start(queue, threads: int) -> None:
    import torch

    from onethinker.train.common import quiet_transformers

    global _PROGRESS
    _PROGRESS = queue
    torch.set_num_threads(threads)
    quiet_transformers()


def _helper_call(tag: int, fn, args: tuple, report: bool = True):
    return fn(*args, on_batch=(lambda done: _PROGRESS.put((tag, done))) if report else None)


class Helper:
    """Helper processes (``workers`` of them), so that the quickstart keeps both of a laptop's two cores busy:
    the tiny model's operations are too small to split between threads, but two processes run side by side
    at almost full speed each. Two workers train the warm-up, SFT and RL data-parallel
    (:func:`two_process_train`); then one answers each checkpoint's swapped-media pass while this process
    answers with the right media (and the other the RL checkpoint's length-matched pass).

    ``submit(fn, *args, on_batch=...)`` runs ``fn(*args, on_batch=...)`` there and returns a
    :class:`concurrent.futures.Future`; the helper's ``on_batch`` calls come back over a queue and are made
    here, from a thread, so progress bars move. An exception in the helper is raised by ``Future.result``.
    Use it as a context manager; leaving it on an exception stops the helper's work.

    The helper is a *spawned* process: a script that starts one (``run_quickstart`` with ``plan.helper``) needs
    the usual ``if __name__ == "__main__":`` guard.
    """

    def __init__(self, threads: int = 1, workers: int = 1) -> None:
        import multiprocessing
        import threading
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("spawn")  # a forked copy of a process that ran torch can hang
        self.workers = workers
        self._queue = context.Queue()
        self._callbacks: dict[int, Any] = {}
        self._pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_helper_start,
                                         initargs=(self._queue, threads))
        self._pump = threading.Thread(target=self._relay, name="quickstart-helper-progress", daemon=True)
        self._pump.start()

    def submit(self, fn, *args, on_batch=None):
        tag = len(self._callbacks)
        self._callbacks[tag] = on_batch
        return self._pool.submit(_helper_call, tag, fn, args, on_batch is not None)

    def _relay(self) -> None:
        while (item := self._queue.get()) is not None:
            tag, done = item
            callback = self._callbacks.get(tag)
            if callback is not None:
                callback(done)

    def close(self, *, stop: bool = False) -> None:
        """Wait for the helper's work to end, or with ``stop`` end it now (the run failed here)."""
        if stop:
            terminate = getattr(self._pool, "terminate_workers", None)  # public from Python 3.14
            if terminate is not None:
                terminate()
            else:
                for process in list((self._pool._processes or {}).values()):
                    process.terminate()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._queue.put(None)
        self._pump.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(stop=exc_type is not None)


# --------------------------------------------------------------------------------------------- report
def write_report(plan: QuickstartPlan, results: dict[str, Any], timings: dict[str, float]) -> Path:
    from onethinker.train.metrics import read_metrics

    rl_rows = read_metrics(plan.out / "rl")
    sft_rows = read_metrics(plan.out / "sft")
    plots = _plots(plan.out, rl_rows, sft_rows)
    sft, rl = results["sft"], results["rl"]
    tasks = sorted(t for t in sft["rewards"] if t != "all")
    acc_sft, acc_rl = sft["accuracy"], rl["accuracy"]
    mean_sft, mean_rl = acc_sft[ALL_TASKS], acc_rl[ALL_TASKS]
    gap_sft, gap_rl = overall_blind_row(sft["blind"]), overall_blind_row(rl["blind"])
    change = {r["task"]: r for r in results["rl_minus_sft"]}
    overall = change[ALL_TASKS]
    repeated = ", ".join(f"{task} x{times}" for task, times in plan.sft_repeats.items() if times != 1)
    lines = [
        "# OneThinker quickstart report",
        "",
        f"Tiny Qwen3-VL ({plan.hidden_size} wide, {plan.layers} layers) trained on {plan.train_size} synthetic "
        f"records (difficulty {plan.difficulty:g}): SFT {plan.sft_steps} steps"
        f"{f' (records repeated: {repeated})' if repeated else ''}, then EMA-GRPO RL {plan.rl_steps} "
        f"steps ({plan.rl_prompts} prompts x {plan.rl_n} rollouts, drawn evenly across tasks, groups filtered on "
        f"accuracy{', each dropped group refilled from its task' if plan.rl_refill == 'task' else ''}). "
        f"Held-out: {plan.eval_size} records (split `{plan.eval_split}`), "
        f"{'greedy' if plan.eval_temperature <= 0 else f'temperature {plan.eval_temperature}'} decoding, "
        "each answered twice: with its own media and with media swapped between records of its task"
        f"{' (the RL checkpoint a third time, with media of about the same length)' if 'blind_matched' in rl else ''}.",
        "",
        f"**Held-out accuracy (mean over tasks): {mean_sft['mean']:.3f} +- {mean_sft['se']:.3f} after SFT -> "
        f"{mean_rl['mean']:.3f} +- {mean_rl['se']:.3f} after RL: RL - SFT {overall['diff']:+.3f}, 95% CI "
        f"[{_num(overall['low'], sign=True)}, {_num(overall['high'], sign=True)}] (paired over the same "
        f"records).** "
        f"**Blind-control gap (right media minus swapped media): {gap_sft['gap']:+.3f} after SFT, "
        f"{gap_rl['gap']:+.3f} after RL** (a model that looks at its media loses accuracy when they are swapped)"
        + (f"; with media of about the same length (video seconds, image pixels) the RL gap is "
           f"{overall_blind_row(rl['blind_matched'])['gap']:+.3f}: what the model reads beyond how long a video is."
           if "blind_matched" in rl else "."),
        "",
        "## Held-out accuracy per task (mean +- standard error)",
        "",
        "Accuracy is the accuracy part of the reward (exact match, IoU, MRA, ROUGE, ... per task; see "
        "docs/rewards.md), without format or structure. *constant*: one answer given to every record of the task, "
        "the held-out answer that scores best over the task's other records (chosen without the record it "
        "answers; `onethinker eval score --constant`, docs/eval.md); a model must beat it to have learned "
        "the task at all. *gap RL, length-matched*: the gap when each record is shown the media of a record of its "
        "task of about the same length (docs/eval.md, `--blind-match length`).",
        "",
        ("| task | n | SFT | RL | RL - SFT (95% CI) | constant | SFT swapped media | RL swapped media | gap SFT | "
         "gap RL (95% CI) | gap RL, length-matched |"),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    constant = results.get("constant", {}).get("accuracy", {})
    matched = {r["task"]: r for r in rl.get("blind_matched", [])}
    blind_sft = {r["task"]: r for r in sft["blind"]}
    blind_rl = {r["task"]: r for r in rl["blind"]}
    for task in [*sorted(t for t in acc_sft if t != ALL_TASKS), ALL_TASKS]:
        a, b = acc_sft[task], acc_rl[task]
        bs, br, c = blind_sft.get(task, {}), blind_rl.get(task, {}), change[task]
        name = f"**{task}**" if task == ALL_TASKS else task
        lines.append(
            f"| {name} | {a['n']} | {a['mean']:.3f} +- {a['se']:.3f} | {b['mean']:.3f} +- {b['se']:.3f} | "
            f"{c['diff']:+.3f} [{_num(c['low'], sign=True)}, {_num(c['high'], sign=True)}] | "
            f"{_num(constant.get(task, {}).get('mean'))} | {_num(bs.get('swapped'))} | {_num(br.get('swapped'))} | "
            f"{_num(bs.get('gap'), sign=True)} | {_num(br.get('gap'), sign=True)} "
            f"[{_num(br.get('low'), sign=True)}, {_num(br.get('high'), sign=True)}] | "
            f"{_num(matched.get(task, {}).get('gap'), sign=True)} |")
    lines += [
        "",
        "## Held-out rewards per task: after SFT -> after RL",
        "",
        "Rewards: overall = 0.9 accuracy + 0.1 format + structure (structure in [0, 0.5]), see docs/rewards.md.",
        "",
        "| task | n | overall SFT | overall RL | change | format SFT | format RL | accuracy SFT | accuracy RL "
        "| structure SFT | structure RL |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    counts = results.get("counts", {})
    for task in [*tasks, "all"]:
        a, b = sft["rewards"].get(task, {}), rl["rewards"].get(task, {})
        name = "**mean (all tasks)**" if task == "all" else task
        lines.append(
            f"| {name} | {counts.get(task, '')} | {a.get('overall', 0):.3f} | {b.get('overall', 0):.3f} | "
            f"{b.get('overall', 0) - a.get('overall', 0):+.3f} | {a.get('format', 0):.2f} | {b.get('format', 0):.2f} | "
            f"{a.get('accuracy', 0):.3f} | {b.get('accuracy', 0):.3f} | {a.get('structure', 0):.3f} | "
            f"{b.get('structure', 0):.3f} |")
    metric_lines = _metric_table(sft["metrics"], rl["metrics"])
    if metric_lines:
        lines += ["", "## Benchmark metrics per task (percent): after SFT -> after RL", "", *metric_lines]
    lines += ["", "## Training curves", ""]
    lines += [f"![{title}]({name})" for title, name in plots]
    lines += ["", "## Time per stage", ""]
    if plan.helper:
        lines += [("The warm-up, SFT and RL trained data-parallel in two processes, and each checkpoint's "
                   "swapped-media pass ran in a second process beside its right-media pass."), ""]
    lines += ["| stage | seconds |", "| --- | ---: |"]
    lines += [f"| {k} | {v:.1f} |" for k, v in timings.items()]
    lines += ["", "## Library versions", "", "| library | version |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in library_versions().items()]
    lines += ["", "## Files", "",
              f"- configs: `{plan.out / 'configs'}` (rerun: `onethinker train rl {plan.out / 'configs' / 'rl.yaml'}`)",
              f"- models: `{plan.out / 'sft' / 'final'}`, `{plan.out / 'rl' / 'final'}`",
              f"- RL metrics: `{plan.out / 'rl' / 'metrics.jsonl'}` (TensorBoard: `{plan.out / 'rl' / 'tb'}`)",
              f"- predictions: `{sft['predictions']}`, `{rl['predictions']}`", ""]
    path = plan.out / "report.md"
    path.write_text("\n".join(lines))
    return path


def _num(value, sign: bool = False) -> str:
    if value is None or value != value:  # missing or NaN
        return "n/a"
    return f"{value:+.3f}" if sign else f"{value:.3f}"


def _metric_table(before: dict, after: dict) -> list[str]:
    if not before or "error" in before or "error" in after:
        message = (before.get("error") or after.get("error") or {}).get("message") if before else None
        return [f"(benchmark metrics unavailable: {message})"] if message else []
    out = ["| task | metric | SFT | RL |", "| --- | --- | ---: | ---: |"]
    for group in sorted(before):
        for metric, value in before[group].items():
            if metric in ("n", "unparseable"):  # counts, not percents
                continue
            out.append(f"| {group} | {metric} | {value:.1f} | {after.get(group, {}).get(metric, float('nan')):.1f} |")
    return out


def _plots(out: Path, rl_rows: list[dict], sft_rows: list[dict]) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []

    def per_task(prefix: str, title: str, file: str, ylabel: str, window: int = 5) -> None:
        keys = sorted({k for r in rl_rows for k in r if k.startswith(prefix)})
        if not keys:
            return
        fig, ax = plt.subplots(figsize=(9, 5))
        colours = plt.cm.tab20.colors
        for i, key in enumerate(keys):
            pts = [(r["step"], r[key]) for r in rl_rows if r.get(key) is not None]
            steps, values = zip(*pts)
            # A task appears in a few prompts per step: a moving average shows the trend through the noise.
            smooth = [sum(values[max(0, j - window + 1) : j + 1]) / len(values[max(0, j - window + 1) : j + 1])
                      for j in range(len(values))]
            ax.plot(steps, smooth, label=key[len(prefix):], linewidth=1.4, color=colours[(2 * i) % 20 + (i >= 10)])
        ax.set(xlabel="RL step", ylabel=ylabel if window == 1 else f"{ylabel} ({window}-step moving average)",
               title=title)
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        fig.savefig(out / file, dpi=110)
        plt.close(fig)
        made.append((title, file))

    per_task("reward/overall/", "Reward per task over RL steps", "reward_per_task.png", "mean overall reward")
    per_task("ema/std/", "EMA reward std per task", "ema_std_per_task.png", "EMA std", window=1)
    per_task("response_length/", "Response length per task", "response_length.png", "tokens")
    if sft_rows:
        fig, ax = plt.subplots(figsize=(7, 4))
        pts = [(r["step"], r["loss"]) for r in sft_rows if "loss" in r]
        ax.plot(*zip(*pts))
        ax.set(xlabel="SFT step", ylabel="loss", title="SFT loss", yscale="log")
        fig.tight_layout()
        fig.savefig(out / "sft_loss.png", dpi=110)
        plt.close(fig)
        made.append(("SFT loss", "sft_loss.png"))
    return made


# --------------------------------------------------------------------------------------------- command
def run_quickstart(plan: QuickstartPlan, console=None) -> Path:
    """Run every stage with a progress bar; return the report's path."""
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from onethinker.models.encode import MediaCache
    from onethinker.train.common import quiet_transformers
    from onethinker.train.config import dump_yaml
    from onethinker.train.rl import train_rl

    console = console or Console(stderr=True)
    quiet_transformers()
    torch.set_num_threads(plan.threads)
    plan.out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    results: dict[str, Any] = {}
    columns = (TextColumn("[bold]{task.fields[stage]:<10}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.description}"), TimeElapsedColumn())
    start = time.perf_counter()
    with Progress(*columns, console=console) as bar:
        def stage(name: str, total: int | None):
            return bar.add_task("", total=total, stage=name)

        t0 = time.perf_counter()
        task = stage("data", 2)
        train_file, test_file = make_data(plan)
        bar.update(task, completed=2, description=f"{plan.train_size} train + {plan.eval_size} held-out")
        # Two helper processes: the warm-up, SFT and RL train data-parallel in them; then one answers the
        # swapped-media passes beside this process.
        with Helper(plan.threads, workers=2) if plan.helper else contextlib.nullcontext() as helper:
            sft_dir = cold_start(plan, train_file, stage=stage, update=bar.update, timings=timings, started=t0,
                                 helper=helper)
            rl_cfg = rl_config(plan, sft_dir, train_file)
            dump_yaml(rl_cfg, plan.out / "configs" / "rl.yaml")
            cache = MediaCache(max_items=4 * plan.eval_size)  # both evaluations read the same files

            def eval_bar(name: str, passes: int):
                task = stage(f"eval {name.upper()}", passes * plan.eval_size)
                return task, lambda done: bar.update(task, completed=done)

            def finish(name: str, task, result: dict[str, Any]) -> None:
                results[name] = result
                timings[f"evaluate {name.upper()}"] = result["seconds"]
                gap = overall_blind_row(result["blind"])["gap"]
                bar.update(task, description=f"accuracy {result['accuracy'][ALL_TASKS]['mean']:.3f}, "
                                             f"blind gap {gap:+.3f}")

            t0 = time.perf_counter()
            task = stage("RL", plan.rl_steps)

            def rl_progress(step: int, metrics: dict[str, Any]) -> None:
                bar.update(task, completed=step, description=f"reward {metrics.get('reward/overall', 0):.3f}")

            if helper is not None:  # RL trains data-parallel in the two workers, each generating half the groups
                two_process_train(helper, [(train_rl, rl_cfg)], lambda index, step, m: rl_progress(step, m))
            else:
                train_rl(rl_cfg, progress=lambda step, n, m: rl_progress(step, m))
            timings["RL"] = time.perf_counter() - t0
            # Each checkpoint's swapped-media pass runs in a worker while this process answers with the right media.
            # The RL checkpoint also answers with media of about each record's own length (plan.length_matched).
            for name, model_dir in (("sft", sft_dir), ("rl", plan.out / "rl" / "final")):
                matched = plan.length_matched and name == "rl"
                eval_task, on_batch = eval_bar(name, 3 if matched else 2)
                finish(name, eval_task, evaluate(plan, model_dir, test_file, name, on_batch=on_batch, cache=cache,
                                                 helper=helper, matched=matched))
    results["constant"] = constant_answers(test_file)
    timings["total"] = time.perf_counter() - start
    results["counts"] = _counts(test_file)
    results["rl_minus_sft"] = rl_minus_sft(results["sft"], results["rl"])
    (plan.out / "eval" / "summary.json").write_text(json.dumps(
        {"sft": results["sft"]["rewards"], "rl": results["rl"]["rewards"],
         "accuracy": {k: results[k]["accuracy"] for k in ("sft", "rl")},
         "blind": {k: results[k]["blind"] for k in ("sft", "rl")},
         "blind_matched": {k: results[k]["blind_matched"] for k in ("sft", "rl") if "blind_matched" in results[k]},
         "rl_minus_sft": results["rl_minus_sft"], "constant": results["constant"], "timings": timings,
         "versions": library_versions(),
         "plan": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(plan).items()}}, indent=1))
    return write_report(plan, results, timings)


def _counts(test_file: Path) -> dict[str, int]:
    from onethinker.data import read_records

    counts: dict[str, int] = defaultdict(int)
    for _, r in read_records(test_file):
        counts[r.key] += 1
        counts["all"] += 1
    return dict(counts)


_REPEAT_HELP = "Put TASK's training records N times into the SFT data (repeatable; default: each once)."


def quickstart_command(
    out: Path = typer.Option(..., "--out", "-o", help="Run folder (data, models, metrics, report.md)."),
    sft_steps: int = typer.Option(QuickstartPlan.sft_steps, "--sft-steps", help="SFT optimizer steps."),
    rl_steps: int = typer.Option(QuickstartPlan.rl_steps, "--rl-steps", help="EMA-GRPO RL steps."),
    eval_size: int = typer.Option(QuickstartPlan.eval_size, "--eval-size",
                                  help="Held-out records scored after SFT and after RL (100 per task by default)."),
    eval_split: str = typer.Option(QuickstartPlan.eval_split, "--eval-split",
                                   help="Held-out split name (an independent random stream of the shapes world)."),
    train_size: int = typer.Option(QuickstartPlan.train_size, "--train-size", help="Synthetic training records."),
    difficulty: float = typer.Option(QuickstartPlan.difficulty, help="Shapes-world difficulty in [0, 1]."),
    seed: int = typer.Option(0, help="Seed of data, weights and sampling."),
    threads: int = typer.Option(1, help="torch CPU threads (1 is fastest on a busy machine: the tiny model's "
                                "operations are too small to split)."),
    sft_repeat: list[str] = typer.Option(None, "--sft-repeat", metavar="TASK=N", help=_REPEAT_HELP),  # noqa: B008
) -> None:
    """Run synth data -> tiny model -> perception warm-up -> SFT -> EMA-GRPO RL -> evaluation -> report, on CPU in minutes."""
    import os

    # Idle OpenMP threads sleep instead of spinning: on a shared CPU spinning threads slow tiny ops ~10x.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from rich.console import Console

    console = Console(stderr=True)
    from onethinker.data.synth import synth_tasks

    for name, value, low in (("--sft-steps", sft_steps, 1), ("--rl-steps", rl_steps, 1),
                             ("--eval-size", eval_size, 1), ("--train-size", train_size, len(synth_tasks()))):
        if value < low:
            console.print(f"[red]error:[/red] {name} must be >= {low}, got {value}")
            raise typer.Exit(2)
    if eval_split == "train" or not 0.0 <= difficulty <= 1.0:
        console.print("[red]error:[/red] --eval-split must not be 'train' and --difficulty must lie in [0, 1]")
        raise typer.Exit(2)
    repeats = dict(QuickstartPlan(out=out).sft_repeats)
    for item in sft_repeat or []:
        name, _, times = item.rpartition("=")
        if name not in synth_tasks() or not times.isdigit() or int(times) < 1:
            console.print(f"[red]error:[/red] --sft-repeat wants TASK=N with TASK one of {', '.join(synth_tasks())} "
                          f"and N >= 1, got {item!r}")
            raise typer.Exit(2)
        repeats[name] = int(times)
    # The helper processes pay off only with a second core to run on.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    plan = QuickstartPlan(out=out, sft_steps=sft_steps, rl_steps=rl_steps, eval_size=eval_size,
                          eval_split=eval_split, train_size=train_size, difficulty=difficulty, seed=seed,
                          threads=threads, helper=cores >= 2, sft_repeats=repeats)
    report = run_quickstart(plan, console)
    summary = json.loads((out / "eval" / "summary.json").read_text())
    before, after = (summary["accuracy"][k][ALL_TASKS]["mean"] for k in ("sft", "rl"))
    gaps = [overall_blind_row(summary["blind"][k])["gap"] for k in ("sft", "rl")]
    console.print(f"held-out accuracy (mean over tasks): SFT {before:.3f} -> RL {after:.3f}; blind-control gap "
                  f"(right - swapped media): SFT {gaps[0]:+.3f}, RL {gaps[1]:+.3f}")
    console.print(f"report: [bold]{report}[/bold]  ({summary['timings']['total']:.0f} s)")
