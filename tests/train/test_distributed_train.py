"""`train sft` and `train rl` under `accelerate launch --multi_gpu --num_processes 2` on CPUs (gloo) stay in step and equal
one process with the same global batch.

One launch runs four jobs in a row in the same two processes (tests/train/accelerate_driver.py, the trainers
`onethinker train` runs): SFT stopped after step 3 (its checkpoint is step 2) and resumed to step 4, then RL
the same way. One process runs each job uninterrupted with the same global batch. What must hold:

* both processes end every job with bit-identical weights, data order and EMA statistics;
* SFT: an over-long example falls on one process alone, which then has nothing to train on in that step;
  nobody hangs (the launch has a timeout) and the step equals the one-process step;
* RL: online filtering drops groups and refills; every process takes the same decisions, so the logged
  rewards, kept groups, tries and EMA statistics equal the one-process run exactly;
* the weights differ from the one-process run only by float rounding: the two processes sum their halves
  of the gradient in another order (and all-reduce it), which moves each gradient by ~1e-7 relative.
  Adam divides by sqrt(v), so after 4 steps of lr 1e-3 a weight may differ by a few lr units at most
  where a gradient component is ~0; the bound used is 1e-4 (max |dw|) with a mean |dw| below 1e-6.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from onethinker.train.metrics import read_metrics

HERE = Path(__file__).parent
MEDIA = ["data.image_max_pixels=4096", "data.image_min_pixels=1024", "trainer.tensorboard=false",
         "trainer.threads=1", "model.device=cpu", "optim.lr=1e-3", "optim.scheduler=constant",
         "optim.warmup_ratio=0", "trainer.max_steps=4", "trainer.save_every=2"]
MAX_LENGTH = 160


def _images(root: Path, n: int) -> list[str]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    (root / "img").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(root / "img" / f"{i}.png")
    return [f"img/{i}.png" for i in range(n)]


def _sft_file(root: Path) -> Path:
    """Four image examples; the third one's response is far over ``MAX_LENGTH`` tokens."""
    images = _images(root, 4)
    lines = []
    for i, image in enumerate(images):
        thought = "count the red squares " * (60 if i == 2 else 2)
        lines.append({"messages": [{"role": "user", "content": f"<image>Question {i}: how many?"},
                                   {"role": "assistant", "content": f"<think>{thought}</think><answer>{i}</answer>"}],
                      "images": [image]})
    path = root / "sft.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def _rl_file(root: Path) -> Path:
    """Eight image multiple-choice records whose answer is B (one-letter rollouts: accuracy varies)."""
    images = _images(root, 8)
    lines = [{"problem": "<image>Which letter?", "problem_type": "multiple choice", "data_type": "image",
              "options": ["A. one", "B. two", "C. three", "D. four"], "answer": "B", "images": [image],
              "problem_id": i} for i, image in enumerate(images)]
    path = root / "rl.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def _sft_overrides(model, data, out, per_process):
    return [f"model.path={model}", f"data.train_file={data}", f"trainer.output_dir={out}", *MEDIA,
            f"data.max_length={MAX_LENGTH}", f"trainer.batch_size={per_process}", "trainer.micro_batch_size=1"]


def _rl_overrides(model, data, out):
    # rollout.generation_batch_size=1: a prompt's rollouts depend on its uid only, not on the process count.
    # 3 prompts per step over 2 processes: uneven shares, refills of 1 prompt leave a process without any,
    # and the second mini-batch (1 group) has nothing for one process to train on.
    return [f"model.path={model}", f"data.train_file={data}", f"trainer.output_dir={out}", *MEDIA,
            "rollout.n=2", "rollout.max_new_tokens=1", "rollout.prompts_per_step=3", "rollout.max_tries=3",
            "rollout.online_filtering=true", "rollout.filter_key=accuracy", "rollout.generation_batch_size=1",
            "rollout.temperature=1.0", "algorithm.kl_coef=0", "algorithm.mini_batch_prompts=2",
            "algorithm.micro_batch_size=1", "data.balance_tasks=false"]


@pytest.fixture(scope="module")
def runs(tiny_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    sft_data, rl_data = _sft_file(root / "sft"), _rl_file(root / "rl")
    two, one = root / "two", root / "one"
    spec = {"out": str(root), "runs": [
        {"kind": "sft", "overrides": _sft_overrides(tiny_model, sft_data, two / "sft", 1), "crash_at": 3},
        {"kind": "sft", "overrides": _sft_overrides(tiny_model, sft_data, two / "sft", 1) + ["trainer.resume=true"]},
        {"kind": "rl", "overrides": _rl_overrides(tiny_model, rl_data, two / "rl"), "crash_at": 3},
        {"kind": "rl", "overrides": _rl_overrides(tiny_model, rl_data, two / "rl") + ["trainer.resume=true"]},
    ]}
    (root / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(HERE.parents[1] / "src"), os.environ.get("PYTHONPATH", "")])}
    # `--multi_gpu` picks accelerate's torchrun launcher (`--cpu` alone starts one process unless mpirun is
    # set up); with model.device=cpu each process runs on the CPU over gloo.
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           str(HERE / "accelerate_driver.py"), str(root / "spec.json")]
    # A hang fails here; the whole process group goes, so no worker outlives the test.
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=400)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("the two processes did not finish in 400 s: out of step (a collective waits forever)")
    assert proc.returncode == 0, stderr[-4000:]

    from accelerate_driver import make_trainer, weights_digest

    single = {}
    for kind, overrides in (("sft", _sft_overrides(tiny_model, sft_data, one / "sft", 2)),
                            ("rl", _rl_overrides(tiny_model, rl_data, one / "rl"))):
        trainer = make_trainer(kind, overrides)
        trainer.train()
        single[kind] = {"sampler": trainer.sampler.state_dict(), "weights": weights_digest(trainer.model),
                        "ema": trainer.tracker.state_dict() if kind == "rl" else None, "trainer": trainer}
    ranks = [[json.loads((root / f"{i}-rank{r}.json").read_text()) for r in range(2)] for i in range(4)]
    return {"two": two, "one": one, "ranks": ranks, "single": single, "sft_data": sft_data}


def _max_weight_diff(a: Path, b: Path) -> tuple[float, float]:
    from safetensors.torch import load_file

    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    diffs = [(wa[k].double() - wb[k].double()).abs() for k in wa]
    total = sum(float(d.sum()) for d in diffs) / sum(d.numel() for d in diffs)
    return max(float(d.max()) for d in diffs), total


def assert_same_rl_steps(two: list[dict], one: list[dict]) -> None:
    """Two RL runs logged the same rollouts, rewards, filtering, EMA statistics and updates, step by step."""
    assert len(two) == len(one)
    for a, b in zip(two, one):
        for key in b:
            if key.startswith(("reward/", "filter/", "ema/", "adv_abs")) or key in ("rollouts", "actor/updates"):
                assert a[key] == b[key], (b["step"], key)


def test_both_processes_hold_identical_weights_data_order_and_statistics(runs):
    for i, (rank0, rank1) in enumerate(runs["ranks"]):
        assert rank0["world"] == rank1["world"] == 2
        assert rank0 == rank1, f"job {i}: the processes drifted apart"
    assert [job[0]["step"] for job in runs["ranks"]] == [3, 4, 3, 4]  # stopped after 3, resumed to 4


def test_sft_over_long_example_on_one_process_neither_hangs_nor_changes_the_step(runs):
    from onethinker.train.common import EpochSampler

    # The global batches (2 examples, one per process): the over-long example (index 2) shares a step with
    # a normal one, so one process has nothing it may train on while the other does.
    sampler = EpochSampler(4, seed=0)
    steps = [sampler.take(2) for _ in range(4)]
    alone = [s for s in steps if 2 in s]
    assert alone and all(len(set(s)) == 2 for s in alone)

    single = runs["single"]["sft"]["trainer"]
    assert single._length(2) > MAX_LENGTH > max(single._length(i) for i in (0, 1, 3))
    two, one = read_metrics(runs["two"] / "sft"), read_metrics(runs["one"] / "sft")
    assert [r["step"] for r in two] == [1, 2, 3, 4]  # the stopped run's step 3 was redone after resume
    for a, b in zip(two, one):
        assert a["skipped_too_long"] == b["skipped_too_long"] and a["examples"] == b["examples"]
        assert a["tokens"] == b["tokens"]
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-4)
    assert two[-1]["skipped_too_long"] == len(alone)
    assert runs["ranks"][1][0]["sampler"] == runs["single"]["sft"]["sampler"]
    worst, mean = _max_weight_diff(runs["two"] / "sft" / "final", runs["one"] / "sft" / "final")
    assert worst < 1e-4 and mean < 1e-6, (worst, mean)


def test_rl_refills_agree_and_equal_one_process(runs):
    two, one = read_metrics(runs["two"] / "rl"), read_metrics(runs["one"] / "rl")
    assert [r["step"] for r in two] == [1, 2, 3, 4]
    assert any(r["filter/tries"] > 1 for r in one)  # some steps refilled
    assert any(r["filter/dropped_groups"] > 0 for r in one) and any(r["filter/kept_groups"] > 0 for r in one)
    assert_same_rl_steps(two, one)
    rank0 = runs["ranks"][3][0]
    single = runs["single"]["rl"]
    assert rank0["sampler"] == single["sampler"] and rank0["ema"] == single["ema"]
    assert rank0["next_uid"] == single["trainer"].next_uid
    worst, mean = _max_weight_diff(runs["two"] / "rl" / "final", runs["one"] / "rl" / "final")
    assert worst < 1e-4 and mean < 1e-6, (worst, mean)


@pytest.mark.parametrize("recipe", sorted((HERE.parents[1] / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_example_recipes_are_valid_configs(recipe):
    # The one-GPU and 8B recipes cannot be run here; at least every key and value must be one the trainer reads.
    import yaml

    from onethinker.train.config import RLConfig, SFTConfig, load_config

    cls = RLConfig if "rollout" in yaml.safe_load(recipe.read_text()) else SFTConfig
    cfg = load_config(cls, recipe, [])
    assert cfg.model.path and cfg.data.train_file


def test_accelerate_fsdp_config_names_the_qwen3_vl_layers():
    # accelerate wraps by class name; a misspelt name would silently leave the model in one shard unit.
    import yaml
    from transformers.models.qwen3_vl import modeling_qwen3_vl

    cfg = yaml.safe_load((HERE.parents[1] / "examples" / "accelerate" / "fsdp_qwen3vl_8b_sft.yaml").read_text())
    assert cfg["distributed_type"] == "FSDP"
    for name in cfg["fsdp_config"]["fsdp_transformer_layer_cls_to_wrap"].split(","):
        assert hasattr(modeling_qwen3_vl, name), name


def test_cli_under_accelerate_trains_once_and_reports_once(tiny_model, tmp_path):
    """`accelerate launch ... -m onethinker.cli train sft`: one run (not two single-process runs into one
    folder), one progress bar and one 'done' line."""
    data, out = _sft_file(tmp_path / "data"), tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(HERE.parents[1] / "src"), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "-m", "onethinker.cli", "train", "sft", str(HERE.parents[1] / "examples" / "tiny_sft.yaml"),
           *_sft_overrides(tiny_model, data, out, 1), "data.eval_file=null", "trainer.max_steps=2",
           "trainer.save_every=0", "trainer.eval_every=0"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("SFT done: model in") == 1
    rows = read_metrics(out)
    assert [r["step"] for r in rows] == [1, 2]
    # Both processes trained: 2 steps x a global batch of 2 (1 per process), over-long ones counted apart.
    assert sum(r["examples"] for r in rows) + rows[-1]["skipped_too_long"] == 4
    assert (out / "final" / "model.safetensors").is_file()


@pytest.mark.parametrize(("preset", "expected"), [(None, "3"), ("1", "1")])
def test_several_cpu_processes_keep_the_configured_thread_count(monkeypatch, preset, expected):
    """Where OMP_NUM_THREADS is unset, accelerate replaces torch's thread count with its own (physical cores /
    processes): make_runtime sets it to ``trainer.threads`` before accelerate starts, and leaves a set one."""
    import accelerate
    import torch

    from onethinker.train.common import make_runtime
    from onethinker.train.config import ModelConfig

    class Started(Exception):
        pass

    seen = []

    def accelerator(**kwargs):  # records what accelerate would see, then stops before any process group
        seen.append(os.environ.get("OMP_NUM_THREADS"))
        raise Started

    threads = torch.get_num_threads()
    monkeypatch.setenv("WORLD_SIZE", "2")
    if preset is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", preset)
    monkeypatch.setattr(accelerate, "Accelerator", accelerator)
    try:
        with pytest.raises(Started):
            make_runtime(ModelConfig(path="unused", device="cpu"), threads=3)
    finally:
        torch.set_num_threads(threads)
    assert seen == [expected]
