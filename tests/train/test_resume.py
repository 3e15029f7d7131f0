"""A `train rl` process killed mid-run resumes to exactly the run it would have been."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import yaml

from onethinker.train.config import RLConfig, load_config
from onethinker.train.metrics import read_metrics
from onethinker.train.rl import RLTrainer


def _recipe(tmp_path, model, corpus):
    recipe = {
        "model": {"path": str(model)},
        "data": {"train_file": str(corpus), "image_max_pixels": 4096, "image_min_pixels": 1024,
                 "video_max_pixels": 1024, "video_min_pixels": 1024, "video_max_frames": 4},
        "rollout": {"prompts_per_step": 3, "n": 2, "max_new_tokens": 10, "online_filtering": False},
        "algorithm": {"mini_batch_prompts": 3, "micro_batch_size": 6},
        "optim": {"lr": 1e-3},
        "trainer": {"max_steps": 10, "save_every": 1, "keep_checkpoints": 2, "tensorboard": False, "threads": 1},
    }
    path = tmp_path / "rl.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_killed_rl_run_resumes_with_identical_ema_statistics_and_steps(tiny_model, synth_corpus, tmp_path):
    recipe = _recipe(tmp_path, tiny_model, synth_corpus)
    full_dir, killed_dir = tmp_path / "full", tmp_path / "killed"
    RLTrainer(load_config(RLConfig, recipe, [f"trainer.output_dir={full_dir}"])).train()

    proc = subprocess.Popen([sys.executable, "-m", "onethinker.cli", "train", "rl", str(recipe),
                             f"trainer.output_dir={killed_dir}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    marker = killed_dir / "checkpoints" / "step-000002" / "state.json"
    deadline = time.monotonic() + 180
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.kill()  # SIGKILL: no chance to clean up
    proc.wait()
    stderr = proc.stderr.read().decode()[-2000:]
    assert marker.exists(), stderr
    assert not (killed_dir / "final").exists(), "the run finished before it could be killed"
    stopped_at = int((killed_dir / "checkpoints" / "latest").read_text().strip().removeprefix("step-"))
    assert 2 <= stopped_at < 10, stderr

    RLTrainer(load_config(RLConfig, recipe, [f"trainer.output_dir={killed_dir}", "trainer.resume=true"])).train()

    full_ema = json.loads((full_dir / "final" / "ema_state.json").read_text())
    resumed_ema = json.loads((killed_dir / "final" / "ema_state.json").read_text())
    assert resumed_ema == full_ema
    assert {t["updates"] for t in full_ema["tasks"].values()} and sum(
        t["updates"] for t in full_ema["tasks"].values()) >= 10  # every step updated some task
    full_rows, resumed_rows = read_metrics(full_dir), read_metrics(killed_dir)
    assert [r["step"] for r in resumed_rows] == list(range(1, 11))
    for a, b in zip(full_rows, resumed_rows):
        for key in a:
            if key.startswith(("reward/", "ema/", "response_length", "adv_abs")):
                assert a[key] == b[key], (a["step"], key)
